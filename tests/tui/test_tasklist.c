/*
 * test_tasklist.c - tui/src/tasklist.c against a reference: the live tasks
 * of a model, in id order, after the updates of a few frames.
 *
 * The model is fed SPAWN and EXIT events; the reference is a flag per id.
 * After every round of changes and a frame's update, walking the list
 * (tasklist_next, which skips ended tasks) must give exactly the reference's
 * live ids in increasing order: the build spread over frames, its fallback
 * for sparse ids, new tasks, SPAWNs applied out of order, the sweep and the
 * compaction, and a rebuild when the model is replaced.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "model.h"
#include "tasklist.h"

typedef struct ref {
	uint8_t *live; /* live[id]: 1 alive */
	uint64_t next; /* the next id to spawn */
	size_t cap;
	int64_t ns;
} ref;

static void ref_init(ref *r, size_t cap)
{
	r->live = calloc(cap, 1);
	assert_non_null(r->live);
	r->cap = cap;
	r->next = 1;
	r->ns = 1000;
}

static void apply(model *m, ref *r, uint16_t type, uint64_t id)
{
	tsk_seg_event e;
	memset(&e, 0, sizeof(e));
	e.type = type;
	e.task = id;
	e.worker = 0xffff;
	model_apply(m, &e, r->ns++);
	assert_true(id < r->cap);
	r->live[id] = type == TSK_EV_SPAWN;
}

static void spawn(model *m, ref *r)
{
	apply(m, r, TSK_EV_SPAWN, r->next++);
}

/* Ends a random live task among the first `below` ids, if it finds one. */
static void end_some(model *m, ref *r, uint64_t below)
{
	for (int tries = 0; tries < 8; tries++) {
		uint64_t id = 1 + (uint64_t)rand() % (below - 1);
		if (r->live[id]) {
			apply(m, r, TSK_EV_EXIT, id);
			return;
		}
	}
}

/* The list, walked, equals the reference. */
static void check(tasklist *l, model *m, const ref *r)
{
	size_t n = tasklist_len(l);
	uint64_t want = 1;
	for (size_t i = tasklist_next(l, m, 0, 1, SIZE_MAX); i != SIZE_MAX;
	     i = i + 1 < n ? tasklist_next(l, m, i + 1, 1, SIZE_MAX) : SIZE_MAX) {
		while (want < r->next && !r->live[want])
			want++;
		assert_int_equal(tasklist_id(l, i), want);
		want++;
	}
	while (want < r->next && !r->live[want])
		want++;
	assert_int_equal(want, r->next); /* none left out */
}

/* Frames until the build is done. */
static void build(tasklist *l, model *m, uint64_t gen)
{
	for (int f = 0; f < 1000 && (!l->built || l->building || l->gen != gen); f++)
		tasklist_update(l, m, gen);
	assert_false(l->building);
}

static void test_build_and_churn(void **state)
{
	(void)state;
	long n = 40000; /* more ids than a frame of the build looks up */
	ref r;
	ref_init(&r, (size_t)n * 3 + 16);
	model *m = model_create(NULL);
	for (long i = 0; i < n; i++)
		spawn(m, &r);
	for (long i = 0; i < n / 4; i++)
		end_some(m, &r, r.next);
	tasklist l;
	tasklist_init(&l);
	tasklist_update(&l, m, 0);
	assert_true(l.building); /* more ids than a frame looks up */
	build(&l, m, 0);
	check(&l, m, &r);
	for (int round = 0; round < 200; round++) {
		for (int k = rand() % 50; k > 0; k--)
			spawn(m, &r);
		for (int k = rand() % 50; k > 0; k--)
			end_some(m, &r, r.next);
		if (round % 10 == 0) {
			/* two SPAWNs applied out of order, a frame between them */
			uint64_t a = r.next++, b = r.next++;
			apply(m, &r, TSK_EV_SPAWN, b);
			tasklist_update(&l, m, 0);
			apply(m, &r, TSK_EV_SPAWN, a);
		}
		tasklist_update(&l, m, 0);
		check(&l, m, &r);
	}
	tasklist_fini(&l);
	model_destroy(m);
	free(r.live);
}

static void test_sweep_compacts(void **state)
{
	(void)state;
	ref r;
	ref_init(&r, 20000);
	model *m = model_create(NULL);
	for (int i = 0; i < 10000; i++)
		spawn(m, &r);
	tasklist l;
	tasklist_init(&l);
	build(&l, m, 0);
	assert_int_equal(tasklist_len(&l), 10000);
	for (uint64_t id = 1; id <= 8000; id++)
		apply(m, &r, TSK_EV_EXIT, id);
	check(&l, m, &r); /* ended, not swept yet: skipped */
	for (int f = 0; f < 10; f++)
		tasklist_update(&l, m, 0);
	assert_int_equal(tasklist_len(&l), 2000);
	check(&l, m, &r);
	tasklist_fini(&l);
	model_destroy(m);
	free(r.live);
}

static void test_sparse_ids(void **state)
{
	(void)state;
	ref r;
	ref_init(&r, 200000);
	model *m = model_create(NULL);
	model_set_max_ended(m, 10); /* the ended are forgotten: holes in the ids */
	for (int i = 0; i < 150000; i++) {
		spawn(m, &r);
		if (i % 1000)
			apply(m, &r, TSK_EV_EXIT, r.next - 1);
	}
	tasklist l;
	tasklist_init(&l);
	build(&l, m, 0);
	check(&l, m, &r);
	assert_int_equal(tasklist_len(&l), 150);
	tasklist_fini(&l);
	model_destroy(m);
	free(r.live);
}

static void test_new_model(void **state)
{
	(void)state;
	ref r, r2;
	ref_init(&r, 100);
	ref_init(&r2, 100);
	model *m = model_create(NULL), *m2 = model_create(NULL);
	for (int i = 0; i < 50; i++)
		spawn(m, &r);
	for (int i = 0; i < 20; i++)
		spawn(m2, &r2);
	apply(m2, &r2, TSK_EV_EXIT, 7);
	tasklist l;
	tasklist_init(&l);
	build(&l, m, 1);
	check(&l, m, &r);
	build(&l, m2, 2); /* a replay's cursor moved: another model */
	check(&l, m2, &r2);
	assert_int_equal(tasklist_len(&l), 19);
	tasklist_fini(&l);
	model_destroy(m);
	model_destroy(m2);
	free(r.live);
	free(r2.live);
}

int main(void)
{
	srand(7);
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_build_and_churn),
	        cmocka_unit_test(test_sweep_compacts),
	        cmocka_unit_test(test_sparse_ids),
	        cmocka_unit_test(test_new_model),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
