/*
 * test_order.c - a view's list built in bounded steps (tui/src/order.c),
 * against a reference: random ids and keys (names, numbers, parents),
 * sorted by qsort on (key, id), and a recursive walk of the parent tree.
 * Each build is driven with deadlines already past, so it runs a few
 * dozen items per call and resumes every stage in the middle; one test
 * drops ids while the build runs, as the model does between steps.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "order.h"
#include "tui.h"
#include "util.h"

#define MAXN 5000

typedef struct ent {
	uint64_t id;
	uint64_t key[ORDER_WORDS];
	int listed; /* the key function lists it */
} ent;

/* The "model" the source reads: a table the test fills. */
static ent ents[MAXN];
static size_t nents;
static size_t drop_after; /* the key function lists nothing past this many calls */
static size_t ncalls;

static size_t ids_fn(const model *m, uint64_t *out, size_t cap)
{
	(void)m;
	for (size_t i = 0; i < nents && i < cap; i++)
		out[i] = ents[i].id;
	return nents;
}

static const ent *find(uint64_t id)
{
	for (size_t i = 0; i < nents; i++)
		if (ents[i].id == id)
			return &ents[i];
	return NULL;
}

static int key_fn(void *ctx, model *m, uint64_t id, uint64_t key[ORDER_WORDS])
{
	(void)ctx;
	(void)m;
	const ent *e = find(id);
	if (!e || !e->listed || ncalls++ >= drop_after)
		return 0;
	memcpy(key, e->key, sizeof(e->key));
	return 1;
}

static int reverse_ties;

static int by_key(const void *a, const void *b)
{
	const ent *x = *(const ent *const *)a, *y = *(const ent *const *)b;
	for (int w = 0; w < ORDER_WORDS; w++)
		if (x->key[w] != y->key[w])
			return x->key[w] < y->key[w] ? -1 : 1;
	if (x->id == y->id)
		return 0;
	return (x->id < y->id) != reverse_ties ? -1 : 1;
}

/* Runs a build to its end with deadlines already past; returns the steps. */
static size_t build(order *o, const order_src *src)
{
	size_t steps = 0;
	ncalls = 0;
	order_start(o, NULL, 0, src);
	assert_true(order_building(o));
	while (!order_step(o, NULL, 0))
		assert_true(++steps < 10 * MAXN);
	assert_false(order_building(o));
	assert_int_equal(order_step(o, NULL, 0), 0);
	return steps;
}

static uint64_t rnd(void)
{
	return (uint64_t)random() << 31 ^ (uint64_t)random();
}

/* Random entries: unique ids (some far apart), keys of few values in
 * some words (ties), names in 3 words; a tree of parents among them. */
static void fill(size_t n, int tree)
{
	nents = n;
	for (size_t i = 0; i < n; i++) {
		ent *e = &ents[i];
		memset(e, 0, sizeof(*e));
		e->id = i % 7 ? i + 1 : (i + 1) * 1000003;
		e->listed = random() % 10 != 0;
		e->key[1] = rnd() % 5;
		e->key[2] = random() % 2 ? rnd() : 0x636861696e2d3132ULL; /* "chain-12" */
		e->key[3] = rnd() % 3;
		if (tree && i)
			e->key[0] = random() % 4 ? ents[random() % i].id : 0;
	}
	/* shuffle: the table's order is not the ids' */
	for (size_t i = n; i-- > 1;) {
		size_t j = (size_t)random() % (i + 1);
		ent t = ents[i];
		ents[i] = ents[j];
		ents[j] = t;
	}
}

static void check_flat(int reverse)
{
	order *o = order_create();
	order_src src = {ids_fn, key_fn, NULL, reverse, 0};
	srandom(7 + (unsigned)reverse);
	for (size_t n = 0; n <= MAXN; n = n ? n * 3 : 1) {
		fill(n, 0);
		drop_after = SIZE_MAX;
		build(o, &src);
		const ent *ref[MAXN];
		size_t nref = 0;
		for (size_t i = 0; i < n; i++)
			if (ents[i].listed)
				ref[nref++] = &ents[i];
		reverse_ties = reverse;
		qsort(ref, nref, sizeof(ref[0]), by_key);
		assert_int_equal(order_count(o), nref);
		for (size_t i = 0; i < nref; i++) {
			assert_int_equal(order_id(o, i), ref[i]->id);
			assert_int_equal(order_depth(o, i), 0);
		}
		if (nref)
			assert_int_equal(order_find(o, ref[nref / 2]->id), nref / 2);
		assert_int_equal(order_find(o, 0xdeadbeefULL << 20), SIZE_MAX);
	}
	order_destroy(o);
}

static void test_flat(void **state)
{
	(void)state;
	check_flat(0);
}

static void test_flat_reverse(void **state)
{
	(void)state;
	check_flat(1);
}

/* The reference walk: the listed children of parent in key order. */
static size_t ref_walk(const ent **sorted, size_t n, uint64_t parent, unsigned depth, uint64_t *ids,
                       unsigned *depths, size_t out)
{
	for (size_t i = 0; i < n; i++) {
		if (sorted[i]->key[0] != parent)
			continue;
		ids[out] = sorted[i]->id;
		depths[out++] = depth;
		out = ref_walk(sorted, n, sorted[i]->id, depth + 1, ids, depths, out);
	}
	return out;
}

static void test_tree(void **state)
{
	(void)state;
	order *o = order_create();
	order_src src = {ids_fn, key_fn, NULL, 0, 1};
	srandom(11);
	fill(2000, 1);
	drop_after = SIZE_MAX;
	build(o, &src);
	const ent *sorted[MAXN];
	size_t n = 0;
	for (size_t i = 0; i < nents; i++)
		if (ents[i].listed)
			sorted[n++] = &ents[i];
	reverse_ties = 0;
	qsort(sorted, n, sizeof(sorted[0]), by_key);
	static uint64_t ids[MAXN];
	static unsigned depths[MAXN];
	size_t out = 0;
	/* roots: no parent, or a parent not listed, in key order */
	for (size_t i = 0; i < n; i++) {
		const ent *p = sorted[i]->key[0] ? find(sorted[i]->key[0]) : NULL;
		if (p && p->listed)
			continue;
		ids[out] = sorted[i]->id;
		depths[out++] = 0;
		out = ref_walk(sorted, n, sorted[i]->id, 1, ids, depths, out);
	}
	assert_int_equal(out, n);
	assert_int_equal(order_count(o), n);
	for (size_t i = 0; i < n; i++) {
		assert_int_equal(order_id(o, i), ids[i]);
		assert_int_equal(order_depth(o, i), depths[i] < 255 ? depths[i] : 255);
	}
	order_destroy(o);
}

/* One parent of every other task, and a chain deeper than 255: one stack
 * entry for all the children, depths capped */
static void test_tree_shapes(void **state)
{
	(void)state;
	order *o = order_create();
	order_src src = {ids_fn, key_fn, NULL, 0, 1};
	nents = 3000;
	for (size_t i = 0; i < nents; i++) {
		memset(&ents[i], 0, sizeof(ents[i]));
		ents[i].id = i + 1;
		ents[i].listed = 1;
		ents[i].key[0] = i < 1000 ? (i ? i : 0) : 1; /* 1..1000 a chain; the rest under 1 */
	}
	drop_after = SIZE_MAX;
	build(o, &src);
	assert_int_equal(order_count(o), nents);
	assert_int_equal(order_id(o, 0), 1);
	assert_int_equal(order_depth(o, 0), 0);
	assert_int_equal(order_id(o, 1), 2); /* the chain first: id 2 < 1001 */
	assert_int_equal(order_depth(o, 1), 1);
	assert_int_equal(order_id(o, 999), 1000);
	assert_int_equal(order_depth(o, 999), 255);
	assert_int_equal(order_id(o, 1000), 1001);
	assert_int_equal(order_depth(o, 1000), 1);
	assert_int_equal(order_id(o, 2999), 3000);
	order_destroy(o);
}

/* Ids that vanish while the build runs are left out; a new build replaces
 * one under way; the list shown stays until a build completes */
static void test_changes(void **state)
{
	(void)state;
	order *o = order_create();
	order_src src = {ids_fn, key_fn, NULL, 0, 0};
	srandom(3);
	fill(1000, 0);
	for (size_t i = 0; i < nents; i++)
		ents[i].listed = 1;
	drop_after = 600;
	build(o, &src);
	assert_int_equal(order_count(o), 600);
	drop_after = SIZE_MAX;
	order_start(o, NULL, 0, &src);
	assert_int_equal(order_step(o, NULL, 0), 0);
	assert_int_equal(order_count(o), 600); /* the old list until the new one is done */
	build(o, &src);
	assert_int_equal(order_count(o), 1000);
	nents = 0;
	build(o, &src);
	assert_int_equal(order_count(o), 0);
	assert_int_equal(order_id(o, 0), 0);
	order_destroy(o);
}

/* With a deadline ahead, a small build completes in one call */
static void test_one_call(void **state)
{
	(void)state;
	order *o = order_create();
	order_src src = {ids_fn, key_fn, NULL, 0, 0};
	srandom(5);
	fill(50, 0);
	drop_after = SIZE_MAX;
	ncalls = 0;
	order_start(o, NULL, 0, &src);
	assert_int_equal(order_step(o, NULL, ts_mono_ns() + 1000000000), 1);
	order_destroy(o);
}

/* A tick builds the first list, then only when the model is replaced (a
 * new generation) or, if periodic, once the list is ORDER_EVERY_NS old */
static void test_tick(void **state)
{
	(void)state;
	order *o = order_create();
	order_src src = {ids_fn, key_fn, NULL, 0, 0};
	int64_t later = ts_mono_ns() + 1000000000;
	srandom(9);
	fill(100, 0);
	drop_after = SIZE_MAX;
	ncalls = 0;
	assert_int_equal(order_tick(o, NULL, 1, &src, later, 1), TUI_CHANGED);
	size_t n = order_count(o);
	assert_int_equal(order_tick(o, NULL, 1, &src, later, 1), TUI_IDLE);
	drop_after = 50;
	ncalls = 0;
	assert_int_equal(order_tick(o, NULL, 1, &src, later, 0), TUI_IDLE);
	assert_int_equal(order_count(o), n);
	assert_int_equal(order_tick(o, NULL, 2, &src, 0, 0), TUI_BUSY); /* 64 a call */
	assert_int_equal(order_tick(o, NULL, 2, &src, later, 0), TUI_CHANGED);
	assert_int_equal(order_count(o), 50);
	order_destroy(o);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_flat),    cmocka_unit_test(test_flat_reverse),
	        cmocka_unit_test(test_tree),    cmocka_unit_test(test_tree_shapes),
	        cmocka_unit_test(test_changes), cmocka_unit_test(test_one_call),
	        cmocka_unit_test(test_tick),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
