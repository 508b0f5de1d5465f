/*
 * test_sched.c - stress and behaviour tests of runtime/src/sched.c (workers,
 * run queues, stealing, parking, clean exit) and runq.c/stack.c under load.
 *
 *   - 100k joinable tasks spawned and joined through a sliding window of
 *     1000 (every result checked), and 30k alive at once: at scale 1 more
 *     than the number of stacks that get a guard page (stack.c: 28669 with
 *     the default vm.max_map_count), so the unguarded path is taken too;
 *   - 100k detached tasks counted with an atomic: tsk_run must not return
 *     before the last has run, even though the root returns right after
 *     spawning them;
 *   - fan-out trees, tasks spawning tasks: joined (each node returns the
 *     size of its subtree) and detached (counted);
 *   - work stealing: with 2 and 4 workers, CPU-bound tasks all spawned by
 *     one task run on more than one OS thread (gettid() per task), some
 *     overlap in time, and none changes thread while it runs;
 *   - yield fairness: on one worker, tasks yielding in a loop take strict
 *     turns (their counts differ by at most one); on several, each makes
 *     progress (only that: a yield requeues on the worker's own queue, so
 *     a task alone on its worker loops faster than one that shares; the
 *     spread, ~10x with 8 tasks on 4 workers, is printed);
 *   - a task blocked forever does not keep tsk_run from returning once the
 *     root has returned: it is cancelled (-ECANCELED from its blocking
 *     call), also a never-joined handle and a cycle of joins;
 *   - idle workers do not poll in a loop when the timers of a few sleepers
 *     expire close together: 3 tasks sleeping 1 ms in a loop on 2 workers
 *     sharing one CPU make fewer than 20 PARK records per sleep (read from this process's
 *     own segment with the reader library; skipped with PROBES=0 or
 *     TASKSCOPE=off).
 *
 * Task counts scale with tsk_test_scale_tasks (tsk_test.h: TSK_TEST_SCALE,
 * and a further fifth under TSan, where a spawn costs ~1 ms): 1000 tasks
 * a run there, still more than a run queue holds.  Inside tasks only
 * TSK_EXPECT*; every run ends with ct_run's checks (no thread, no task stack
 * left); the last test checks the heap (core_test.h).
 */
#include <errno.h>
#include <limits.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core_test.h"
#include "tsk_reader.h"

/* ---- many joinable tasks ------------------------------------------------ */

#define WINDOW 1000 /* joinable tasks alive at once; fewer when n is small */

typedef struct window_ctx {
	long n;      /* tasks to spawn */
	long window; /* at most WINDOW, and at most n / 3 so that it slides */
} window_ctx;

static void *square(void *arg)
{
	intptr_t i = (intptr_t)arg;

	if ((i & 15) == 0)
		tsk_yield();
	return (void *)(i * i);
}

static void *window_root(void *arg)
{
	const window_ctx *x = arg;
	long n = x->n, window = x->window;
	tsk_task *ring[WINDOW];
	long bad = 0;

	for (long i = 0; i < n + window; i++) {
		long slot = i % window;
		if (i >= window) { /* join the one spawned `window` ago */
			void *r = NULL;
			long j = i - window;
			TSK_EXPECT_EQ(tsk_join(ring[slot], &r, TSK_FOREVER), 0);
			bad += (intptr_t)r != (intptr_t)j * j;
		}
		if (i < n)
			TSK_EXPECT_EQ(tsk_spawn(&ring[slot], "sq", square, (void *)(intptr_t)i), 0);
	}
	TSK_EXPECT_EQ(bad, 0);
	return NULL;
}

static void *all_at_once_root(void *arg)
{
	long n = (long)(intptr_t)arg, bad = 0;
	tsk_task **t = calloc((size_t)n, sizeof(*t));

	TSK_EXPECT(t != NULL);
	if (t == NULL)
		return NULL;
	for (long i = 0; i < n; i++)
		TSK_EXPECT_EQ(tsk_spawn(&t[i], "sq", square, (void *)(intptr_t)i), 0);
	for (long i = 0; i < n; i++) {
		void *r = NULL;
		TSK_EXPECT_EQ(tsk_join(t[i], &r, TSK_FOREVER), 0);
		bad += (intptr_t)r != (intptr_t)i * i;
	}
	TSK_EXPECT_EQ(bad, 0);
	free(t);
	return NULL;
}

static void test_many_joined(void **state)
{
	window_ctx x = {.n = tsk_test_scale_tasks(100000)};

	(void)state;
	/* under TSan 1000 tasks through a window of 333: still more than a
	 * worker's run queue (RT_RUNQ_SIZE, 256) holds */
	x.window = x.n / 3 < WINDOW ? x.n / 3 : WINDOW;
	if (x.window < 1)
		x.window = 1;
	for (int w = 1; w <= 4; w *= 2)
		ct_run(window_root, &x, w, 0);
	ct_run(all_at_once_root, (void *)(intptr_t)tsk_test_scale_tasks(30000), 2, 0);
}

/* ---- many detached tasks -------------------------------------------------- */

static atomic_long finished;

static void *count_task(void *arg)
{
	(void)arg;
	if ((atomic_fetch_add(&finished, 1) & 7) == 0)
		tsk_yield();
	return NULL;
}

typedef struct detached_ctx {
	long n;
	long batch; /* the root yields after spawning this many */
	bool wait;  /* the root waits (polling) for the count */
} detached_ctx;

static void *detached_root(void *arg)
{
	detached_ctx *x = arg;

	for (long i = 0; i < x->n; i++) {
		TSK_EXPECT_EQ(tsk_spawn(NULL, "count", count_task, NULL), 0);
		/* now and then let them run, so that not all n are alive at
		 * once (under TSan a live task costs ~9 memory mappings, and
		 * vm.max_map_count is 65530); never after the last one, so
		 * that the last ones are still queued when the root returns */
		if (i % x->batch == x->batch - 1 && i < x->n - 1)
			tsk_yield();
	}
	if (x->wait) {
		int64_t end = tsk_after_ms(60000);
		while (atomic_load(&finished) < x->n && tsk_now() < end)
			tsk_sleep(tsk_after_ms(1));
		TSK_EXPECT_EQ(atomic_load(&finished), x->n);
	}
	return NULL;
}

static void test_many_detached(void **state)
{
	detached_ctx x = {.n = tsk_test_scale_tasks(100000)};

	(void)state;
	/* 1024, or a quarter of n (under TSan) so that the root still yields */
	x.batch = x.n / 4 < 1024 ? x.n / 4 : 1024;
	if (x.batch < 1)
		x.batch = 1;
	for (int w = 1; w <= 4; w *= 2) {
		/* on 2 workers the root waits for the count itself, else it
		 * returns at once and tsk_run must still wait */
		x.wait = w == 2;
		atomic_store(&finished, 0);
		ct_run(detached_root, &x, w, 0);
		assert_int_equal(atomic_load(&finished), x.n);
	}
}

/* ---- fan-out trees ---------------------------------------------------------- */

#define FANOUT 4

static void *tree_joined(void *arg)
{
	intptr_t depth = (intptr_t)arg;
	tsk_task *c[FANOUT];
	intptr_t size = 1;

	if (depth == 0)
		return (void *)size;
	for (int i = 0; i < FANOUT; i++)
		TSK_EXPECT_EQ(tsk_spawn(&c[i], "node", tree_joined, (void *)(depth - 1)), 0);
	for (int i = 0; i < FANOUT; i++) {
		void *r = NULL;
		TSK_EXPECT_EQ(tsk_join(c[i], &r, TSK_FOREVER), 0);
		size += (intptr_t)r;
	}
	return (void *)size;
}

static atomic_long tree_nodes;

static void *tree_detached(void *arg)
{
	intptr_t depth = (intptr_t)arg;

	atomic_fetch_add(&tree_nodes, 1);
	for (int i = 0; depth > 0 && i < FANOUT; i++)
		TSK_EXPECT_EQ(tsk_spawn(NULL, "node", tree_detached, (void *)(depth - 1)), 0);
	return NULL;
}

static void *tree_detached_root(void *arg)
{
	return tree_detached(arg);
}

static void test_fanout_tree(void **state)
{
	long want = tsk_test_scale_tasks(21845), nodes = 1, level = 1;
	intptr_t depth = 0;

	(void)state;
	/* the deepest full 4-ary tree with at most `want` nodes (depth 7:
	 * 21845 at scale 1) */
	while (nodes + level * FANOUT <= want) {
		level *= FANOUT;
		nodes += level;
		depth++;
	}
	for (int w = 1; w <= 4; w *= 4) {
		assert_int_equal((intptr_t)ct_run(tree_joined, (void *)depth, w, 0), nodes);
		atomic_store(&tree_nodes, 0);
		ct_run(tree_detached_root, (void *)depth, w, 0);
		assert_int_equal(atomic_load(&tree_nodes), nodes);
	}
}

/* ---- work stealing ------------------------------------------------------------ */

#define NBUSY   32
#define BUSY_NS (5 * CT_MS)

typedef struct busy_rec {
	pid_t tid_start, tid_end;
	int64_t start, end;
} busy_rec;

static void *busy_task(void *arg)
{
	busy_rec *r = arg;

	r->tid_start = gettid();
	r->start = tsk_now();
	while (tsk_now() - r->start < BUSY_NS)
		; /* CPU-bound, no switch point */
	r->end = tsk_now();
	r->tid_end = gettid();
	return NULL;
}

static void *steal_root(void *arg)
{
	busy_rec *r = arg;
	tsk_task *t[NBUSY];

	/* all land on this worker's queues; only thieves can move them */
	for (int i = 0; i < NBUSY; i++)
		TSK_EXPECT_EQ(tsk_spawn(&t[i], "busy", busy_task, &r[i]), 0);
	for (int i = 0; i < NBUSY; i++)
		TSK_EXPECT_EQ(tsk_join(t[i], NULL, TSK_FOREVER), 0);
	return NULL;
}

static void test_work_stealing(void **state)
{
	(void)state;
	for (int w = 2; w <= 4; w *= 2) {
		busy_rec r[NBUSY];
		pid_t tids[NBUSY];
		int ntids = 0, overlaps = 0;

		memset(r, 0, sizeof(r));
		ct_run(steal_root, r, w, 0);
		for (int i = 0; i < NBUSY; i++) {
			/* no task moves to another thread while it runs */
			assert_int_equal(r[i].tid_start, r[i].tid_end);
			int k = 0;
			while (k < ntids && tids[k] != r[i].tid_start)
				k++;
			if (k == ntids)
				tids[ntids++] = r[i].tid_start;
			for (int j = 0; j < i; j++)
				overlaps += r[i].start < r[j].end && r[j].start < r[i].end &&
				            r[i].tid_start != r[j].tid_start;
		}
		print_message("  %d workers: %d busy tasks ran on %d threads; %d overlapping pairs "
		              "on different threads\n",
		              w, NBUSY, ntids, overlaps);
		/* all were queued on the spawner's worker: a second thread means
		 * some were stolen */
		assert_true(ntids >= 2);
		assert_true(ntids <= w);
		assert_true(overlaps >= 1);
	}
}

/* ---- yield fairness ------------------------------------------------------------- */

#define NYIELD 8

typedef struct fair_ctx {
	atomic_bool stop;
	atomic_long count[NYIELD];
} fair_ctx;

typedef struct fair_arg {
	fair_ctx *x;
	int i;
} fair_arg;

static void *fair_task(void *arg)
{
	fair_arg *a = arg;

	while (!atomic_load(&a->x->stop)) {
		atomic_fetch_add(&a->x->count[a->i], 1);
		TSK_EXPECT_EQ(tsk_yield(), 0);
	}
	return NULL;
}

static void *fair_root(void *arg)
{
	fair_ctx *x = arg;
	fair_arg a[NYIELD];
	tsk_task *t[NYIELD];

	for (int i = 0; i < NYIELD; i++) {
		a[i] = (fair_arg){x, i};
		TSK_EXPECT_EQ(tsk_spawn(&t[i], "fair", fair_task, &a[i]), 0);
	}
	TSK_EXPECT_EQ(tsk_sleep(tsk_after_ms(200)), 0);
	atomic_store(&x->stop, true);
	for (int i = 0; i < NYIELD; i++)
		TSK_EXPECT_EQ(tsk_join(t[i], NULL, TSK_FOREVER), 0);
	return NULL;
}

static void test_yield_fairness(void **state)
{
	(void)state;
	for (int w = 1; w <= 4; w *= 2) {
		fair_ctx x = {0};
		long lo = LONG_MAX, hi = 0;

		ct_run(fair_root, &x, w, 0);
		for (int i = 0; i < NYIELD; i++) {
			long c = atomic_load(&x.count[i]);
			lo = c < lo ? c : lo;
			hi = c > hi ? c : hi;
		}
		print_message("  %d worker(s): %d yielders made %ld..%ld turns in 200 ms\n", w,
		              NYIELD, lo, hi);
		assert_true(lo >= 5); /* nobody starved */
		if (w == 1)
			assert_true(hi - lo <= 1); /* strict turns */
	}
}

/* ---- blocked forever ---------------------------------------------------------------- */

typedef struct blocked_ctx {
	atomic_int sleep_rc, join_rc, cycle_rc[2], done;
	atomic_int entered; /* tasks about to block */
	_Atomic(tsk_task *) cycle[2];
} blocked_ctx;

static blocked_ctx *bx;

static void *sleep_forever(void *arg)
{
	(void)arg;
	atomic_fetch_add(&bx->entered, 1);
	atomic_store(&bx->sleep_rc, tsk_sleep(tsk_after_ms(3600 * 1000)) + 1000);
	atomic_fetch_add(&bx->done, 1);
	return NULL;
}

static void *join_blocked(void *arg)
{
	atomic_fetch_add(&bx->entered, 1);
	atomic_store(&bx->join_rc, tsk_join(arg, NULL, TSK_FOREVER) + 1000);
	atomic_fetch_add(&bx->done, 1);
	return NULL;
}

/* Two tasks joining each other. */
static void *cycle_task(void *arg)
{
	int me = (int)(intptr_t)arg;
	tsk_task *other;
	int64_t end = tsk_after_ms(10000);

	while ((other = atomic_load(&bx->cycle[1 - me])) == NULL && tsk_now() < end)
		tsk_sleep(tsk_after_ms(1));
	atomic_fetch_add(&bx->entered, 1);
	atomic_store(&bx->cycle_rc[me], tsk_join(other, NULL, TSK_FOREVER) + 1000);
	atomic_fetch_add(&bx->done, 1);
	return NULL;
}

static void *blocked_root(void *arg)
{
	tsk_task *s, *j, *c;

	(void)arg;
	/* detached, blocked in a sleep */
	TSK_EXPECT_EQ(tsk_spawn(NULL, "sleeper", sleep_forever, NULL), 0);
	/* joinable, never joined, blocked in a join of a sleeper */
	TSK_EXPECT_EQ(tsk_spawn(&s, "sleeper", sleep_forever, NULL), 0);
	TSK_EXPECT_EQ(tsk_spawn(&j, "joiner", join_blocked, s), 0);
	/* a cycle of joins */
	for (intptr_t i = 0; i < 2; i++) {
		TSK_EXPECT_EQ(tsk_spawn(&c, "cycle", cycle_task, (void *)i), 0);
		atomic_store(&bx->cycle[i], c);
	}
	/* return only once all are in their blocking calls (the cycle tasks
	 * poll for each other's handle first) */
	int64_t end = tsk_after_ms(10000);
	while (atomic_load(&bx->entered) < 5 && tsk_now() < end)
		tsk_sleep(tsk_after_ms(1));
	TSK_EXPECT_EQ(atomic_load(&bx->entered), 5);
	tsk_sleep(tsk_after_ms(10));
	return (void *)1;
}

static void test_blocked_forever(void **state)
{
	(void)state;
	for (int w = 1; w <= 4; w *= 4) {
		blocked_ctx x = {0};
		bx = &x;
		int64_t t0 = tsk_now();
		assert_ptr_equal(ct_run(blocked_root, NULL, w, 0), (void *)1);
		int64_t el = tsk_now() - t0;
		print_message("  %d worker(s): tsk_run returned after %.1f ms\n", w, ct_ms(0, el));
		assert_true(el < 5000 * CT_MS);
		assert_int_equal(atomic_load(&x.done), 5);
		assert_int_equal(atomic_load(&x.sleep_rc), 1000 - ECANCELED);
		assert_int_equal(atomic_load(&x.join_rc), 1000 - ECANCELED);
		assert_int_equal(atomic_load(&x.cycle_rc[0]), 1000 - ECANCELED);
		assert_int_equal(atomic_load(&x.cycle_rc[1]), 1000 - ECANCELED);
	}
}

/* ---- idle workers and timers that expire close together ------------------------ */

#define NNAP       3  /* tasks sleeping 1 ms in a loop */
#define PARK_RATIO 20 /* parks allowed per sleep */

typedef struct nap_ctx {
	long rounds;      /* sleeps per task */
	atomic_long naps; /* sleeps done */
	long parks;       /* PARK records of the workers meanwhile */
	long overwritten; /* records lost to the flight recorder's wrap-around */
} nap_ctx;

static void *nap_task(void *arg)
{
	nap_ctx *x = arg;

	for (long i = 0; i < x->rounds; i++) {
		TSK_EXPECT_EQ(tsk_sleep(tsk_after_ms(1)), 0);
		atomic_fetch_add(&x->naps, 1);
	}
	return NULL;
}

static int skip_batch(void *ctx, uint32_t ring, const tsk_rd_rec *recs, size_t n)
{
	(void)ctx, (void)ring, (void)recs, (void)n;
	return 0;
}

static int count_parks(void *ctx, uint32_t ring, const tsk_rd_rec *recs, size_t n)
{
	nap_ctx *x = ctx;

	(void)ring;
	for (size_t i = 0; i < n; i++)
		x->parks += recs[i].ev.type == TSK_EV_PARK;
	return 0;
}

/* Records the reader found overwritten so far, on every ring. */
static long ring_overwritten(tsk_reader *r)
{
	long n = 0;

	for (uint32_t i = 0; i < tsk_reader_ring_count(r); i++) {
		tsk_rd_ring_stats st;
		TSK_EXPECT_EQ(tsk_reader_ring_stats(r, i, &st), 0);
		n += (long)st.overwritten;
	}
	return n;
}

static void *nap_root(void *arg)
{
	nap_ctx *x = arg;
	tsk_reader *r = NULL;
	tsk_task *t[NNAP];

	/* this process's own segment, read from where earlier runs left it */
	TSK_EXPECT_EQ(tsk_reader_open_pid(getpid(), 0, &r), 0);
	if (!r)
		return NULL;
	TSK_EXPECT(tsk_reader_ring_drain(r, skip_batch, NULL) >= 0);
	x->overwritten = -ring_overwritten(r);
	for (int i = 0; i < NNAP; i++)
		TSK_EXPECT_EQ(tsk_spawn(&t[i], "nap", nap_task, x), 0);
	for (int i = 0; i < NNAP; i++)
		TSK_EXPECT_EQ(tsk_join(t[i], NULL, TSK_FOREVER), 0);
	TSK_EXPECT(tsk_reader_ring_drain(r, count_parks, x) >= 0);
	x->overwritten += ring_overwritten(r);
	tsk_reader_close(r);
	return NULL;
}

/* Several sleepers whose timers expire close together on 2 workers: an idle
 * worker must fire an expired timer (or leave it to one that does) and
 * sleep until the next deadline, not poll in a loop.  Counted, not timed:
 * the workers' PARK records per sleep (about 1 when right; 40 to 70 with
 * a watcher that polls while another worker's timer stays expired). */
static void test_close_timers_no_spin(void **state)
{
	nap_ctx x = {.rounds = tsk_test_scale(300)};

	(void)state;
	/* counted through the probes: nothing to count without them */
#if defined(TSK_PROBES) && TSK_PROBES == 0
	skip();
#endif
	if (getenv("TASKSCOPE") && strcmp(getenv("TASKSCOPE"), "off") == 0)
		skip();
	/* Both workers on one CPU, as on a loaded machine: a worker woken to
	 * spin then waits for the CPU while the other one runs, which is when
	 * a watcher that leaves an expired timer to it polls in a loop (with
	 * two CPUs it happens in some runs only). */
	cpu_set_t old, one;
	assert_int_equal(sched_getaffinity(0, sizeof(old), &old), 0);
	int cpu = 0;
	while (!CPU_ISSET(cpu, &old))
		cpu++;
	CPU_ZERO(&one);
	CPU_SET(cpu, &one);
	assert_int_equal(sched_setaffinity(0, sizeof(one), &one), 0);
	ct_run(nap_root, &x, 2, 0);
	assert_int_equal(sched_setaffinity(0, sizeof(old), &old), 0);
	long naps = atomic_load(&x.naps);
	print_message("  %d tasks sleeping 1 ms on 2 workers: %ld sleeps, %ld parks (%.1f per "
	              "sleep), %ld records overwritten\n",
	              NNAP, naps, x.parks, (double)x.parks / (double)naps, x.overwritten);
	assert_int_equal(naps, NNAP * x.rounds);
	/* an overwritten record may have been a PARK */
	assert_true(x.parks + x.overwritten < PARK_RATIO * naps);
}

static int child_main(const char *mode)
{
	if (strcmp(mode, "leaks") == 0)
		return ct_leaks_child();
	return 2;
}

int main(int argc, char **argv)
{
	if (argc == 3 && strcmp(argv[1], "--child") == 0)
		return child_main(argv[2]);

	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_many_joined),          cmocka_unit_test(test_many_detached),
	        cmocka_unit_test(test_fanout_tree),          cmocka_unit_test(test_work_stealing),
	        cmocka_unit_test(test_yield_fairness),       cmocka_unit_test(test_blocked_forever),
	        cmocka_unit_test(test_close_timers_no_spin), cmocka_unit_test(ct_test_no_leaks),
	};

	return cmocka_run_group_tests(tests, ct_leak_setup, NULL);
}
