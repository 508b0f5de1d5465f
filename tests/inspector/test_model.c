/*
 * test_model.c - the inspector's model (inspector/src/model.c): events in,
 * intervals, ownerships, counters and rows out.
 *
 * A capturing sink records everything the model hands out; each test
 * feeds a scripted event sequence and checks the result against what the
 * sequence means.  The property every test ends with: a task's intervals
 * tile its life (sorted by start, each starts where the previous ended,
 * none negative, the last ends at its end or is open).  A randomised test
 * checks that property for event sequences with gaps, repeats and
 * reorderings, as a late attach or losses produce.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "model.h"
#include "tsk_test.h"

typedef struct cap {
	model_interval iv[4096];
	size_t niv;
	model_own own[256];
	size_t nown;
	uint64_t task_rows, task_final_rows, res_rows, events, strings, stacks;
} cap;

static void c_interval(void *ctx, const model_interval *iv)
{
	cap *c = ctx;
	assert_true(c->niv < 4096);
	c->iv[c->niv++] = *iv;
}

static void c_own(void *ctx, const model_own *o)
{
	cap *c = ctx;
	assert_true(c->nown < 256);
	c->own[c->nown++] = *o;
}

static void c_task(void *ctx, const model_task *t)
{
	cap *c = ctx;
	if (t->ended_ns >= 0)
		c->task_final_rows++;
	else
		c->task_rows++;
}

static void c_res(void *ctx, const model_res *r)
{
	(void)r;
	((cap *)ctx)->res_rows++;
}

static void c_event(void *ctx, const model_event *e)
{
	(void)e;
	((cap *)ctx)->events++;
}

static void c_string(void *ctx, uint32_t id)
{
	(void)id;
	((cap *)ctx)->strings++;
}

static void c_stack(void *ctx, uint32_t id)
{
	(void)id;
	((cap *)ctx)->stacks++;
}

static int c_resolve(void *ctx, uint32_t id, char *buf, size_t n)
{
	(void)ctx;
	snprintf(buf, n, "name%u", id);
	return 0;
}

static model *new_model(cap *c)
{
	memset(c, 0, sizeof(*c));
	model_sink s = {c, c_task, c_res, c_interval, c_own, c_event, c_string, c_stack, c_resolve};
	return model_create(&s);
}

static tsk_seg_event ev(uint16_t type, uint64_t task, uint64_t obj)
{
	tsk_seg_event e;
	memset(&e, 0, sizeof(e));
	e.type = type;
	e.task = task;
	e.obj = obj;
	e.worker = 0;
	return e;
}

static void apply(model *m, uint16_t type, uint64_t task, uint64_t obj, int64_t ns)
{
	tsk_seg_event e = ev(type, task, obj);
	if (type == TSK_EV_SPAWN)
		e.str = 5;
	if (type == TSK_EV_BLOCK) {
		e.a32 = TSK_WAIT_MUTEX;
		e.arg = (uint64_t)-1;
		e.site = 40;
	}
	model_apply(m, &e, ns);
}

static int by_task_start(const void *a, const void *b)
{
	const model_interval *x = a, *y = b;
	if (x->task != y->task)
		return x->task < y->task ? -1 : 1;
	return x->start_ns < y->start_ns ? -1 : x->start_ns > y->start_ns;
}

/* The intervals of task id tile [from, to] (to -1: the last one is open).
 * Returns how many there are. */
static size_t check_tiling(cap *c, uint64_t id, int64_t from, int64_t to)
{
	model_interval tmp[4096];
	size_t n = 0;
	for (size_t i = 0; i < c->niv; i++)
		if (c->iv[i].task == id)
			tmp[n++] = c->iv[i];
	qsort(tmp, n, sizeof(*tmp), by_task_start);
	assert_true(n > 0);
	assert_int_equal(tmp[0].start_ns, from);
	for (size_t i = 0; i < n; i++) {
		if (i + 1 < n) {
			assert_int_equal(tmp[i].end_ns, tmp[i + 1].start_ns);
		}
		if (tmp[i].end_ns >= 0)
			assert_true(tmp[i].end_ns >= tmp[i].start_ns);
	}
	assert_int_equal(tmp[n - 1].end_ns, to);
	return n;
}

/* spawn, run, block on a mutex, woken, run, exit: five intervals */
static void test_life(void **state)
{
	(void)state;
	cap c;
	model *m = new_model(&c);
	apply(m, TSK_EV_SPAWN, 2, 1, 100);
	apply(m, TSK_EV_RUN, 2, 0, 150);
	apply(m, TSK_EV_BLOCK, 2, 77, 400);
	apply(m, TSK_EV_WAKE, 2, 3, 1400);
	apply(m, TSK_EV_RUN, 2, 0, 1500);
	apply(m, TSK_EV_EXIT, 2, 0, 1700);
	assert_int_equal(check_tiling(&c, 2, 100, 1700), 5);
	model_task *t = model_task_get(m, 2);
	assert_non_null(t);
	assert_int_equal(t->polls, 2);
	assert_int_equal(t->busy_ns, 250 + 200);
	assert_int_equal(t->sched_ns, 50 + 100);
	assert_int_equal(t->idle_ns, 1000);
	assert_int_equal(t->wakes, 1);
	assert_int_equal(t->wait.n, 1);
	assert_int_equal(t->wait.max_ns, 1000);
	assert_int_equal(t->spawned_ns, 100);
	assert_int_equal(t->ended_ns, 1700);
	assert_int_equal(t->parent, 1);
	assert_string_equal(t->name, "name5"); /* the name string, resolved by the sink */
	/* the blocked interval carries the wait; the ready one its waker */
	int seen_blocked = 0, seen_woken = 0;
	for (size_t i = 0; i < c.niv; i++) {
		if (c.iv[i].state == MS_BLOCKED) {
			assert_int_equal(c.iv[i].wait_kind, TSK_WAIT_MUTEX);
			assert_int_equal(c.iv[i].obj, 77);
			assert_int_equal(c.iv[i].site, 40);
			assert_int_equal(c.iv[i].deadline_ns, -1);
			seen_blocked++;
		}
		if (c.iv[i].state == MS_READY && c.iv[i].how == MR_WOKEN) {
			assert_int_equal(c.iv[i].obj, 3);
			seen_woken++;
		}
	}
	assert_int_equal(seen_blocked, 1);
	assert_int_equal(seen_woken, 1);
	model_stats st;
	model_get_stats(m, &st);
	assert_int_equal(st.by_state[MS_DONE], 1);
	assert_int_equal(st.by_state[MS_RUNNING] + st.by_state[MS_READY] + st.by_state[MS_BLOCKED],
	                 0);
	assert_int_equal(c.task_rows, 1);
	assert_int_equal(c.task_final_rows, 1);
	model_destroy(m);
}

/* BLOCK with arg2: the other task runs from the same instant, no RUN */
static void test_direct_switch(void **state)
{
	(void)state;
	cap c;
	model *m = new_model(&c);
	apply(m, TSK_EV_SPAWN, 1, 0, 0);
	apply(m, TSK_EV_SPAWN, 2, 1, 10);
	apply(m, TSK_EV_RUN, 1, 0, 20);
	tsk_seg_event e = ev(TSK_EV_BLOCK, 1, 5);
	e.a32 = TSK_WAIT_CHAN_RECV;
	e.arg = (uint64_t)-1;
	e.arg2 = 2;
	e.worker = 1;
	model_apply(m, &e, 50);
	model_task *t2 = model_task_get(m, 2);
	assert_int_equal(t2->cur.state, MS_RUNNING);
	assert_int_equal(t2->cur.start_ns, 50);
	assert_int_equal(t2->cur.worker, 1);
	assert_int_equal(t2->polls, 1);
	model_worker *w = model_worker_get(m, 1);
	assert_non_null(w);
	assert_int_equal(w->task, 2);
	model_finish(m, 80);
	check_tiling(&c, 1, 0, -1);
	check_tiling(&c, 2, 10, -1);
	model_destroy(m);
}

/* A task first met mid-life: its hint names it, an unknown interval
 * covers what we did not see; without a hint it starts at the first event */
static void test_late_first_sight(void **state)
{
	(void)state;
	cap c;
	model *m = new_model(&c);
	tsk_seg_task slot;
	memset(&slot, 0, sizeof(slot));
	slot.id = 9;
	slot.parent = 1;
	slot.state = TSK_TS_READY;
	strcpy(slot.name, "late");
	model_hint_task(m, &slot, 5);
	apply(m, TSK_EV_RUN, 9, 0, 100);
	apply(m, TSK_EV_RUN, 10, 0, 120); /* no hint */
	model_task *t = model_task_get(m, 9);
	assert_string_equal(t->name, "late");
	assert_int_equal(t->parent, 1);
	assert_int_equal(t->spawned_ns, 5);
	model_task *u = model_task_get(m, 10);
	assert_int_equal(u->spawned_ns, INT64_MIN);
	model_finish(m, 200);
	size_t n = check_tiling(&c, 9, 5, -1);
	assert_int_equal(n, 2); /* unknown [5,100), running [100, open) */
	assert_int_equal(c.iv[0].state, MS_UNKNOWN);
	check_tiling(&c, 10, 100, -1); /* the first event of all: time of the history's start */
	model_destroy(m);
}

/* The live state seeds what events did not show, and wins over older events */
static void test_seed(void **state)
{
	(void)state;
	cap c;
	model *m = new_model(&c);
	model_set_epoch(m, 1000);
	apply(m, TSK_EV_SPAWN, 3, 1, 10);
	apply(m, TSK_EV_RUN, 3, 0, 20);
	tsk_seg_task slot;
	memset(&slot, 0, sizeof(slot));
	slot.id = 3;
	slot.state = TSK_TS_BLOCKED;
	slot.wait_kind = TSK_WAIT_WG;
	slot.wait_obj = 44;
	slot.wait_site = 12;
	slot.wait_deadline_ns = 1000 + 5000;
	model_seed_task(m, &slot, 300, 10);
	model_task *t = model_task_get(m, 3);
	assert_int_equal(t->cur.state, MS_BLOCKED);
	assert_int_equal(t->cur.start_ns, 300);
	assert_int_equal(t->cur.obj, 44);
	assert_int_equal(t->cur.deadline_ns, 5000); /* CLOCK_MONOTONIC -> process ns */
	/* an event older than the seed changes nothing */
	apply(m, TSK_EV_WAKE, 3, 0, 250);
	assert_int_equal(t->cur.state, MS_BLOCKED);
	/* a newer one does */
	apply(m, TSK_EV_WAKE, 3, 0, 400);
	assert_int_equal(t->cur.state, MS_READY);
	/* a task only the live state knows */
	slot.id = 4;
	slot.state = TSK_TS_BLOCKED;
	strcpy(slot.name, "old");
	model_seed_task(m, &slot, 50, 2);
	t = model_task_get(m, 4);
	assert_non_null(t);
	assert_string_equal(t->name, "old");
	assert_int_equal(t->cur.state, MS_BLOCKED);
	/* a seed no newer than the model's state is ignored */
	slot.id = 3;
	slot.state = TSK_TS_RUNNING;
	model_seed_task(m, &slot, 350, 10);
	assert_int_equal(model_task_get(m, 3)->cur.state, MS_READY);
	model_finish(m, 500);
	check_tiling(&c, 3, 10, -1);
	check_tiling(&c, 4, 2, -1);
	model_destroy(m);
}

/* Mutex ownership: acquire/release intervals; a seeded owner is held
 * "since before the history" */
static void test_ownership(void **state)
{
	(void)state;
	cap c;
	model *m = new_model(&c);
	tsk_seg_event e = ev(TSK_EV_RES_NEW, 0, 70);
	e.a32 = TSK_RES_MUTEX;
	model_apply(m, &e, 1);
	apply(m, TSK_EV_ACQUIRE, 2, 70, 10);
	apply(m, TSK_EV_RELEASE, 2, 70, 30);
	apply(m, TSK_EV_ACQUIRE, 3, 70, 40);
	assert_int_equal(c.nown, 1);
	assert_int_equal(c.own[0].task, 2);
	assert_int_equal(c.own[0].start_ns, 10);
	assert_int_equal(c.own[0].end_ns, 30);
	model_res *r = model_res_get(m, 70);
	assert_int_equal(r->nholds, 1);
	assert_int_equal(r->holds[0].task, 3);
	/* a mutex only the live state knows, owned by task 5 */
	tsk_seg_res rs;
	memset(&rs, 0, sizeof(rs));
	rs.id = 71;
	rs.kind = TSK_RES_MUTEX;
	rs.owner = 5;
	strcpy(rs.name, "db");
	model_seed_res(m, &rs, 0, INT64_MAX);
	r = model_res_get(m, 71);
	assert_string_equal(r->name, "db");
	assert_int_equal(r->holds[0].task, 5);
	assert_int_equal(r->holds[0].start_ns, INT64_MIN);
	model_finish(m, 100);
	assert_int_equal(c.nown, 3); /* + two still held */
	int open = 0;
	for (size_t i = 0; i < c.nown; i++)
		open += c.own[i].end_ns == -1;
	assert_int_equal(open, 2);
	model_destroy(m);
}

/* A waker stamps its WAKE with the time its own run began, which may
 * precede the wakee's BLOCK on another worker: the WAKE waits for the
 * BLOCK */
static void test_wake_before_block(void **state)
{
	(void)state;
	cap c;
	model *m = new_model(&c);
	apply(m, TSK_EV_SPAWN, 2, 1, 0);
	apply(m, TSK_EV_RUN, 2, 0, 10);
	apply(m, TSK_EV_WAKE, 2, 3, 15);
	model_task *t = model_task_get(m, 2);
	assert_int_equal(t->cur.state, MS_RUNNING);
	assert_int_equal(t->wakes, 0);
	apply(m, TSK_EV_BLOCK, 2, 77, 20);
	assert_int_equal(t->cur.state, MS_READY);
	assert_int_equal(t->cur.start_ns, 20);
	assert_int_equal(t->cur.obj, 3);
	assert_int_equal(t->cur.how, MR_WOKEN);
	assert_int_equal(t->wakes, 1);
	assert_int_equal(t->wait.n, 1); /* a zero-length wait */
	/* a WAKE met while it is ready waits too, across its RUN (a direct
	 * switch to it can come after the waker's older time) */
	apply(m, TSK_EV_WAKE, 2, 4, 25);
	assert_int_equal(t->cur.state, MS_READY);
	assert_int_equal(t->wakes, 1);
	apply(m, TSK_EV_RUN, 2, 0, 30);
	apply(m, TSK_EV_BLOCK, 2, 77, 50);
	assert_int_equal(t->cur.state, MS_READY);
	assert_int_equal(t->cur.obj, 4);
	assert_int_equal(t->wakes, 2);
	/* and an EXIT drops it */
	apply(m, TSK_EV_RUN, 2, 0, 60);
	apply(m, TSK_EV_WAKE, 2, 3, 55);
	apply(m, TSK_EV_EXIT, 2, 0, 70);
	assert_int_equal(t->wakes, 2);
	model_finish(m, 80);
	check_tiling(&c, 2, 0, 70);
	model_destroy(m);
}

/* Late events of a task that has returned change nothing of it (a late
 * BLOCK would leave its resource with a waiter for ever), but a direct
 * switch they name still happened */
static void test_after_exit(void **state)
{
	(void)state;
	cap c;
	model *m = new_model(&c);
	tsk_seg_event e = ev(TSK_EV_RES_NEW, 0, 77);
	e.a32 = TSK_RES_MUTEX;
	model_apply(m, &e, 1);
	apply(m, TSK_EV_SPAWN, 2, 1, 0);
	apply(m, TSK_EV_SPAWN, 3, 1, 0);
	apply(m, TSK_EV_RUN, 2, 0, 10);
	apply(m, TSK_EV_EXIT, 2, 0, 20);
	e = ev(TSK_EV_BLOCK, 2, 77);
	e.a32 = TSK_WAIT_MUTEX;
	e.arg = (uint64_t)-1;
	e.arg2 = 3;
	model_apply(m, &e, 30);
	apply(m, TSK_EV_WAKE, 2, 3, 40);
	model_task *t = model_task_get(m, 2);
	assert_int_equal(t->ended_ns, 20);
	assert_int_equal(t->wakes, 0);
	assert_int_equal(model_res_get(m, 77)->nwq, 0);
	assert_int_equal(model_task_get(m, 3)->cur.state, MS_RUNNING);
	model_finish(m, 50);
	check_tiling(&c, 2, 0, 20);
	check_tiling(&c, 3, 0, -1);
	model_destroy(m);
}

/* A label splits the interval and is carried by the next ones */
static void test_label(void **state)
{
	(void)state;
	cap c;
	model *m = new_model(&c);
	apply(m, TSK_EV_SPAWN, 2, 1, 0);
	apply(m, TSK_EV_RUN, 2, 0, 10);
	tsk_seg_event e = ev(TSK_EV_LABEL, 2, 0);
	e.str = 88;
	model_apply(m, &e, 20);
	apply(m, TSK_EV_BLOCK, 2, 9, 30);
	model_task *t = model_task_get(m, 2);
	assert_int_equal(t->cur.label, 88);
	assert_int_equal(t->cur.state, MS_BLOCKED);
	model_finish(m, 40);
	assert_int_equal(check_tiling(&c, 2, 0, -1), 4); /* ready, running, running(88), blocked */
	assert_int_equal(t->polls, 1);
	model_destroy(m);
}

/* Ended tasks leave the model past max_ended, oldest first */
static void test_eviction(void **state)
{
	(void)state;
	cap c;
	model *m = new_model(&c);
	model_set_max_ended(m, 2);
	for (uint64_t id = 1; id <= 5; id++) {
		apply(m, TSK_EV_SPAWN, id, 0, (int64_t)id * 10);
		apply(m, TSK_EV_EXIT, id, 0, (int64_t)id * 10 + 5);
	}
	assert_null(model_task_get(m, 1));
	assert_null(model_task_get(m, 3));
	assert_non_null(model_task_get(m, 4));
	assert_non_null(model_task_get(m, 5));
	model_stats st;
	model_get_stats(m, &st);
	assert_int_equal(st.tasks, 5);
	assert_int_equal(st.by_state[MS_DONE], 5);
	model_destroy(m);
}

static int cmp_id(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

/* The id snapshots list every task and resource once, and only as many
 * as cap allows */
static void test_ids(void **state)
{
	(void)state;
	cap c;
	model *m = new_model(&c);
	assert_int_equal(model_task_ids(m, NULL, 0), 0);
	for (uint64_t id = 1; id <= 300; id++)
		apply(m, TSK_EV_SPAWN, id * 7, 0, (int64_t)id);
	apply(m, TSK_EV_EXIT, 7, 0, 400);
	uint64_t ids[301] = {0};
	assert_int_equal(model_task_ids(m, NULL, 0), 300);
	assert_int_equal(model_task_ids(m, ids, 301), 300);
	qsort(ids, 300, sizeof(ids[0]), cmp_id);
	for (uint64_t i = 0; i < 300; i++)
		assert_int_equal(ids[i], (i + 1) * 7);
	assert_int_equal(ids[300], 0);
	uint64_t few[3] = {0};
	assert_int_equal(model_task_ids(m, few, 2), 300);
	assert_int_equal(few[2], 0);
	assert_int_equal(model_res_ids(m, NULL, 0), 0);
	tsk_seg_event e = ev(TSK_EV_RES_NEW, 0, 70);
	e.a32 = TSK_RES_MUTEX;
	model_apply(m, &e, 500);
	assert_int_equal(model_res_ids(m, ids, 301), 1);
	assert_int_equal(ids[0], 70);
	model_destroy(m);
}

/* Random sequences with gaps and stale events still tile every life */
static void test_random_tiling(void **state)
{
	(void)state;
	static const uint16_t types[] = {TSK_EV_RUN, TSK_EV_BLOCK, TSK_EV_WAKE, TSK_EV_YIELD,
	                                 TSK_EV_LABEL};
	unsigned seed = 12345;
	int rounds = (int)tsk_test_scale(200) + 10;
	for (int r = 0; r < rounds; r++) {
		cap *c = malloc(sizeof(*c));
		model *m = new_model(c);
		int64_t ns = 0;
		int64_t first[4] = {0, 0, INT64_MAX, INT64_MAX}; /* first sight of tasks 2, 3 */
		apply(m, TSK_EV_SPAWN, 1, 0, 0);
		for (int i = 0; i < 60; i++) {
			/* time mostly forward, sometimes backwards (another CPU's counter) */
			ns += (int64_t)(rand_r(&seed) % 100) - 10;
			uint64_t task = 1 + (uint64_t)(rand_r(&seed) % 3);
			tsk_seg_event e = ev(types[rand_r(&seed) % 5], task, 7);
			e.str = (uint32_t)(rand_r(&seed) % 3);
			if (rand_r(&seed) % 4 == 0 && e.type != TSK_EV_RUN &&
			    e.type != TSK_EV_WAKE && e.type != TSK_EV_LABEL)
				e.arg2 = 1 + (uint64_t)(rand_r(&seed) % 3);
			if (first[task] == INT64_MAX)
				first[task] = ns;
			if (e.arg2 && first[e.arg2] == INT64_MAX)
				first[e.arg2] = ns;
			model_apply(m, &e, ns);
		}
		model_finish(m, ns + 100);
		for (uint64_t id = 1; id <= 3; id++) {
			model_task *t = model_task_get(m, id);
			if (!t)
				continue;
			/* tasks 2 and 3, never spawned, start at the history's first
			 * event (0), or at their first sight if time stepped back */
			int64_t from = id == 1 ? 0 : first[id] < 0 ? first[id] : 0;
			check_tiling(c, id, from, -1);
		}
		model_destroy(m);
		free(c);
	}
}

static void test_hist(void **state)
{
	(void)state;
	model_hist h;
	memset(&h, 0, sizeof(h));
	for (int i = 0; i < 90; i++)
		model_hist_add(&h, 1000); /* bucket 9: [512, 1024) */
	for (int i = 0; i < 10; i++)
		model_hist_add(&h, 1000000);
	assert_int_equal(h.n, 100);
	assert_int_equal(h.max_ns, 1000000);
	assert_true(model_hist_quantile(&h, 0.5) <= 1024);
	assert_true(model_hist_quantile(&h, 0.5) >= 512);
	assert_true(model_hist_quantile(&h, 0.99) >= 524288);
	assert_int_equal(model_hist_quantile(&h, 1.0), 1000000);
	model_hist e;
	memset(&e, 0, sizeof(e));
	assert_int_equal(model_hist_quantile(&e, 0.5), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_life),
	        cmocka_unit_test(test_direct_switch),
	        cmocka_unit_test(test_late_first_sight),
	        cmocka_unit_test(test_seed),
	        cmocka_unit_test(test_ownership),
	        cmocka_unit_test(test_label),
	        cmocka_unit_test(test_wake_before_block),
	        cmocka_unit_test(test_after_exit),
	        cmocka_unit_test(test_eviction),
	        cmocka_unit_test(test_ids),
	        cmocka_unit_test(test_random_tiling),
	        cmocka_unit_test(test_hist),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
