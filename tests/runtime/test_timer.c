/*
 * test_timer.c - cmocka tests of runtime/src/timer.c (per-worker timer
 * heaps) through tsk_sleep and timed tsk_join.
 *
 * What must hold whatever the load: a sleep never returns before its
 * deadline.  What timer.c promises beyond that: deadlines fire in order,
 * equal deadlines first-in first-out (the heap's tie-break), and idle
 * workers fire a busy worker's expired timers.  So:
 *
 *   - 10k sleepers with distinct deadlines 100 us apart on one worker wake
 *     in deadline order, strictly (one worker runs everything, so the
 *     order in which they record their wake-up is the order they were
 *     made runnable);
 *   - the same on two workers: each wakes no earlier than its deadline,
 *     and a sleeper may only overtake one whose deadline is less than
 *     TOLERANCE_MS later (wake-ups on two threads race; a thread of a noisy
 *     VM may also be descheduled for a few ms);
 *   - sleepers with one deadline on one worker wake in the order they went
 *     to sleep: 2, 100, and 1000 (more than a local run queue holds);
 *   - sleep accuracy: elapsed >= requested and < requested + SLACK_MS, on
 *     1, 2 and 4 workers, alone and with 200 sleepers at once;
 *   - a wait that ends before its deadline (cancelled sleep, join that
 *     completes) leaves no timer behind: a later, longer sleep of the same
 *     task, or of a new task on its recycled stack (same timer struct), is
 *     not cut short when the old deadline passes;
 *   - a sleeper's deadline is honoured while another task keeps its worker
 *     busy: with 2 workers while a CPU-bound task runs without yielding
 *     (the idle worker must fire it), and with 1 worker while a task
 *     yields in a loop (yield must let the due sleeper run).
 *
 * Timing bounds are deliberately loose (SLACK_MS = 200 ms of lateness) so
 * that a noisy 2-core VM does not make them flaky: they catch timers that
 * do not fire, not jitter.  Counts scale with TSK_TEST_SCALE.
 */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core_test.h"

#define SLACK_MS     200          /* lateness a wake-up may have on a noisy machine */
#define TOLERANCE_MS 50           /* reordering allowed between workers */
#define SPACING_NS   (100 * 1000) /* between distinct deadlines */

/* ---- many sleepers ----------------------------------------------------- */

typedef struct sleeper {
	int64_t deadline; /* absolute; set before the sleeper runs */
	int64_t started;  /* tsk_now() just before tsk_sleep */
	int64_t woke;     /* tsk_now() just after */
	int rc;           /* tsk_sleep's result */
	long start_seq;   /* order of going to sleep */
	long wake_seq;    /* order of waking up */
} sleeper;

typedef struct sleepers {
	long n;
	sleeper *s;
	int64_t base;      /* first deadline */
	int64_t spacing;   /* between deadlines (0: all equal) */
	int64_t late_base; /* > 0: the root sets base to this many ns after it spawned all */
	atomic_long started, woken;
} sleepers;

typedef struct sleeper_arg {
	sleepers *all;
	long i;
} sleeper_arg;

static void *sleeper_task(void *arg)
{
	sleeper_arg *a = arg;
	sleeper *s = &a->all->s[a->i];

	/* with one worker nothing runs between taking the ticket and going to
	 * sleep, so start_seq is the order of the timer insertions */
	s->deadline = a->all->base + a->i * a->all->spacing;
	s->start_seq = atomic_fetch_add(&a->all->started, 1);
	s->started = tsk_now();
	s->rc = tsk_sleep(s->deadline);
	s->woke = tsk_now();
	s->wake_seq = atomic_fetch_add(&a->all->woken, 1);
	return NULL;
}

/* Spawns all->n sleepers and joins them. */
static void *sleepers_root(void *arg)
{
	sleepers *all = arg;
	tsk_task **t = calloc((size_t)all->n, sizeof(*t));
	sleeper_arg *a = calloc((size_t)all->n, sizeof(*a));

	TSK_EXPECT(t != NULL && a != NULL);
	if (t == NULL || a == NULL) {
		free(t);
		free(a);
		return NULL;
	}
	for (long i = 0; i < all->n; i++) {
		a[i] = (sleeper_arg){all, i};
		TSK_EXPECT_EQ(tsk_spawn(&t[i], "sleeper", sleeper_task, &a[i]), 0);
	}
	if (all->late_base > 0)
		all->base = tsk_now() + all->late_base;
	for (long i = 0; i < all->n; i++)
		TSK_EXPECT_EQ(tsk_join(t[i], NULL, TSK_FOREVER), 0);
	free(t);
	free(a);
	return NULL;
}

/* Common checks: every sleep returned 0, woke no earlier than its deadline
 * and no later than slack_ms after it. */
static void check_sleepers(sleepers *all, int64_t slack_ms)
{
	int64_t worst = 0;

	for (long i = 0; i < all->n; i++) {
		sleeper *s = &all->s[i];
		assert_int_equal(s->rc, 0);
		assert_true(s->woke >= s->deadline);
		if (s->woke - s->deadline > worst)
			worst = s->woke - s->deadline;
	}
	print_message("  %ld sleepers: latest wake-up %.2f ms after its deadline\n", all->n,
	              (double)worst / 1e6);
	assert_true(worst < slack_ms * CT_MS);
}

/* Sleepers in the order they woke. */
static sleeper **by_wake(sleepers *all)
{
	sleeper **w = calloc((size_t)all->n, sizeof(*w));

	assert_non_null(w);
	for (long i = 0; i < all->n; i++) {
		assert_in_range(all->s[i].wake_seq, 0, all->n - 1);
		w[all->s[i].wake_seq] = &all->s[i];
	}
	for (long i = 0; i < all->n; i++)
		assert_non_null(w[i]);
	return w;
}

/* Runs n sleepers on `workers` workers, deadlines `spacing` apart from
 * margin_ms after the start: after the root has spawned them all on one
 * worker, where none of them runs before the root blocks (so the margin
 * does not have to cover the spawning: under TSan, where creating a task
 * costs about a millisecond, 1000 spawns outlasted 600 ms of it), else
 * before the root starts.  A sleeper that only went to sleep after its
 * deadline (the set-up took longer than the margin, say on a loaded
 * machine) makes the run say nothing about order: then it is run again
 * with twice the margin, up to four times in all. */
static void run_sleepers(sleepers *all, int workers, long n, int64_t spacing, int margin_ms)
{
	for (int attempt = 0;; attempt++, margin_ms *= 2) {
		long late = 0;

		free(attempt ? all->s : NULL);
		memset(all, 0, sizeof(*all));
		all->n = n;
		all->spacing = spacing;
		all->s = calloc((size_t)n, sizeof(*all->s));
		assert_non_null(all->s);
		all->base = tsk_now() + margin_ms * CT_MS;
		if (workers == 1)
			all->late_base = margin_ms * CT_MS;
		ct_run(sleepers_root, all, workers, 0);
		assert_int_equal(atomic_load(&all->woken), n);
		for (long i = 0; i < n; i++)
			late += all->s[i].started >= all->s[i].deadline;
		if (late == 0)
			return;
		print_message("  %ld sleepers went to sleep after their deadline (margin %d ms)\n",
		              late, margin_ms);
		assert_true(attempt < 3);
	}
}

static void test_order_one_worker(void **state)
{
	sleepers all;
	long n = tsk_test_scale(10000), inversions = 0, first_bad = -1;

	(void)state;
	/* the root spawns all before it blocks, so the sleepers start after
	 * that; 300 ms is ample for them all to reach their sleep */
	run_sleepers(&all, 1, n, SPACING_NS, 300);
	check_sleepers(&all, SLACK_MS);
	sleeper **w = by_wake(&all);
	for (long k = 1; k < n; k++) {
		if (w[k]->deadline < w[k - 1]->deadline) {
			inversions++;
			if (first_bad < 0)
				first_bad = k;
		}
	}
	if (inversions)
		print_message("  %ld wake-ups out of deadline order; first: wake-up #%ld has "
		              "deadline #%ld, after deadline #%ld\n",
		              inversions, first_bad, (long)(w[first_bad] - all.s),
		              (long)(w[first_bad - 1] - all.s));
	free(w);
	free(all.s);
	assert_int_equal(inversions, 0);
}

static void test_order_two_workers(void **state)
{
	sleepers all;
	long n = tsk_test_scale(10000);
	int64_t max_overtake = 0, max_deadline;

	(void)state;
	/* the sleepers run while the root still spawns (other worker): the
	 * base is set before, 1 s ahead */
	run_sleepers(&all, 2, n, SPACING_NS, 1000);
	check_sleepers(&all, SLACK_MS);
	sleeper **w = by_wake(&all);
	/* how far below the latest deadline woken so far each wake-up is */
	max_deadline = w[0]->deadline;
	for (long k = 0; k < n; k++) {
		if (max_deadline - w[k]->deadline > max_overtake)
			max_overtake = max_deadline - w[k]->deadline;
		if (w[k]->deadline > max_deadline)
			max_deadline = w[k]->deadline;
	}
	print_message("  worst overtaking: %.2f ms of deadline\n", (double)max_overtake / 1e6);
	free(w);
	free(all.s);
	assert_true(max_overtake < TOLERANCE_MS * CT_MS);
}

/* Returns how many of n sleepers with one deadline woke out of FIFO
 * order. */
static long equal_deadlines(long n)
{
	sleepers all;
	long bad = 0;

	/* all sleep until the same instant */
	run_sleepers(&all, 1, n, 0, 300);
	/* they all become due at once and run one after the other: the last
	 * is late by the time the others took (a lot under sanitizers) */
	check_sleepers(&all, SLACK_MS + n);
	for (long i = 0; i < n; i++)
		bad += all.s[i].wake_seq != all.s[i].start_seq;
	if (bad) {
		sleeper **w = by_wake(&all);
		print_message("  %ld equal deadlines: %ld woke out of FIFO order; wake order by "
		              "sleep order:",
		              n, bad);
		for (long k = 0; k < n && k < 12; k++)
			print_message(" %ld", w[k]->start_seq);
		print_message("%s\n", n > 12 ? " ..." : "");
		free(w);
	}
	free(all.s);
	return bad;
}

static void test_equal_deadlines_fifo(void **state)
{
	(void)state;
	long bad2 = equal_deadlines(2);
	long bad100 = equal_deadlines(100);
	/* more than a local run queue holds (RT_RUNQ_SIZE, 256): the batch
	 * overflows into the global queue and must keep its order there */
	long bad1000 = equal_deadlines(1000);
	assert_int_equal(bad2, 0);
	assert_int_equal(bad100, 0);
	assert_int_equal(bad1000, 0);
}

/* ---- accuracy ----------------------------------------------------------- */

static const int accuracy_ms[] = {1, 5, 20, 50, 100};

static void *accuracy_sleeper(void *arg)
{
	int ms = (int)(intptr_t)arg;
	int64_t t0 = tsk_now(), dl = t0 + ms * CT_MS;

	TSK_EXPECT_EQ(tsk_sleep(dl), 0);
	int64_t now = tsk_now();
	TSK_EXPECT(now >= dl);
	TSK_EXPECT(now - dl < SLACK_MS * CT_MS);
	return (void *)(intptr_t)((now - dl) / 1000); /* lateness in us */
}

#define ACCURACY_CROWD 200

static void *accuracy_root(void *arg)
{
	int64_t *worst = arg;
	tsk_task *t[ACCURACY_CROWD];
	void *late;

	/* one at a time */
	for (size_t i = 0; i < sizeof(accuracy_ms) / sizeof(accuracy_ms[0]); i++) {
		late = accuracy_sleeper((void *)(intptr_t)accuracy_ms[i]);
		if ((intptr_t)late > *worst)
			*worst = (intptr_t)late;
	}
	/* a crowd with mixed durations */
	for (int i = 0; i < ACCURACY_CROWD; i++)
		TSK_EXPECT_EQ(tsk_spawn(&t[i], "acc", accuracy_sleeper,
		                        (void *)(intptr_t)accuracy_ms[i % 5]),
		              0);
	for (int i = 0; i < ACCURACY_CROWD; i++) {
		TSK_EXPECT_EQ(tsk_join(t[i], &late, TSK_FOREVER), 0);
		if ((intptr_t)late > *worst)
			*worst = (intptr_t)late;
	}
	return NULL;
}

static void test_accuracy(void **state)
{
	(void)state;
	for (int w = 1; w <= 4; w *= 2) {
		int64_t worst = 0;
		ct_run(accuracy_root, &worst, w, 0);
		print_message("  %d worker(s): latest wake-up %.2f ms after its deadline\n", w,
		              (double)worst / 1e3);
	}
}

/* ---- waits that end early leave no timer --------------------------------- */

#define NSTALE 64

typedef struct stale_ctx {
	int64_t d1[NSTALE];   /* first wave: each its own start + 500 ms */
	int64_t d2;           /* second wave: after every d1 */
	atomic_int entered;   /* first-wave tasks about to sleep */
	atomic_int short_cut; /* sleeps of the second wave that ended early */
} stale_ctx;

typedef struct stale_arg {
	stale_ctx *x;
	int i;
} stale_arg;

static void *stale_first(void *arg)
{
	stale_arg *a = arg;

	a->x->d1[a->i] = tsk_after_ms(500);
	atomic_fetch_add(&a->x->entered, 1);
	TSK_EXPECT_EQ(tsk_sleep(a->x->d1[a->i]), -ECANCELED);
	return NULL;
}

static void *stale_second(void *arg)
{
	stale_ctx *x = ((stale_arg *)arg)->x;

	TSK_EXPECT_EQ(tsk_sleep(x->d2), 0);
	if (tsk_now() < x->d2)
		atomic_fetch_add(&x->short_cut, 1);
	return NULL;
}

static void *quick(void *arg)
{
	tsk_sleep(tsk_after_ms(5));
	return arg;
}

static void *stale_root(void *arg)
{
	stale_ctx *x = arg;
	stale_arg a[NSTALE];
	tsk_task *t[NSTALE];

	/* first wave: asleep for 500 ms each, cancelled as soon as all are */
	for (int i = 0; i < NSTALE; i++) {
		a[i] = (stale_arg){x, i};
		TSK_EXPECT_EQ(tsk_spawn(&t[i], "first", stale_first, &a[i]), 0);
	}
	int64_t end = tsk_after_ms(10000);
	while (atomic_load(&x->entered) < NSTALE && tsk_now() < end)
		tsk_sleep(tsk_after_ms(1));
	for (int i = 0; i < NSTALE; i++)
		TSK_EXPECT_EQ(tsk_cancel(t[i]), 0);
	x->d2 = 0;
	for (int i = 0; i < NSTALE; i++) {
		TSK_EXPECT_EQ(tsk_join(t[i], NULL, TSK_FOREVER), 0);
		if (x->d1[i] > x->d2)
			x->d2 = x->d1[i];
	}
	x->d2 += 200 * CT_MS;
	/* second wave on the recycled stacks (the same timer structs): must
	 * sleep through every d1 until d2 */
	for (int i = 0; i < NSTALE; i++)
		TSK_EXPECT_EQ(tsk_spawn(&t[i], "second", stale_second, &a[i]), 0);

	/* the root itself: a join that completes long before its deadline,
	 * then a sleep past that deadline */
	tsk_task *q;
	int64_t jd = tsk_after_ms(150);
	TSK_EXPECT_EQ(tsk_spawn(&q, "quick", quick, NULL), 0);
	TSK_EXPECT_EQ(tsk_join(q, NULL, jd), 0);
	int64_t sd = jd + 150 * CT_MS;
	TSK_EXPECT_EQ(tsk_sleep(sd), 0);
	TSK_EXPECT(tsk_now() >= sd);

	for (int i = 0; i < NSTALE; i++)
		TSK_EXPECT_EQ(tsk_join(t[i], NULL, TSK_FOREVER), 0);
	TSK_EXPECT_EQ(atomic_load(&x->short_cut), 0);
	return NULL;
}

static void test_no_stale_timers(void **state)
{
	(void)state;
	for (int w = 1; w <= 2; w++) {
		static stale_ctx x;
		memset(&x, 0, sizeof(x));
		ct_run(stale_root, &x, w, 0);
	}
}

/* ---- a busy worker's timers --------------------------------------------------- */

#define BUSY_MS  1000 /* how long the neighbour keeps its worker */
#define SLEEP_MS 20

typedef struct busy_ctx {
	int64_t late;     /* how late the sleeper woke */
	atomic_bool done; /* the sleeper woke */
	bool yielding;    /* the neighbour yields in its loop */
} busy_ctx;

/* Keeps its worker busy for BUSY_MS or until the sleeper woke: without
 * yielding (an idle worker must fire the sleeper's timer), or yielding
 * (the yield must let the due sleeper run). */
static void *neighbour(void *arg)
{
	busy_ctx *x = arg;
	int64_t end = tsk_after_ms(BUSY_MS);
	volatile unsigned long spin = 0;

	while (!atomic_load(&x->done) && tsk_now() < end) {
		if (x->yielding)
			tsk_yield();
		else
			spin++;
	}
	return NULL;
}

static void *busy_sleeper(void *arg)
{
	busy_ctx *x = arg;
	tsk_task *n;

	/* the neighbour goes to this worker's run-next slot and runs here as
	 * soon as we sleep; the timer is on this worker's heap */
	TSK_EXPECT_EQ(tsk_spawn(&n, "neighbour", neighbour, x), 0);
	int64_t dl = tsk_after_ms(SLEEP_MS);
	TSK_EXPECT_EQ(tsk_sleep(dl), 0);
	x->late = tsk_now() - dl;
	atomic_store(&x->done, true);
	TSK_EXPECT_EQ(tsk_join(n, NULL, TSK_FOREVER), 0);
	return NULL;
}

static void *busy_root(void *arg)
{
	tsk_task *s;

	TSK_EXPECT_EQ(tsk_spawn(&s, "sleeper", busy_sleeper, arg), 0);
	TSK_EXPECT_EQ(tsk_join(s, NULL, TSK_FOREVER), 0);
	return NULL;
}

static void test_busy_neighbour(void **state)
{
	busy_ctx x = {0};

	(void)state;
	ct_run(busy_root, &x, 2, 0);
	print_message("  2 workers, CPU-bound neighbour: the %d ms sleep woke %.1f ms late\n",
	              SLEEP_MS, (double)x.late / 1e6);
	assert_true(x.late < SLACK_MS * CT_MS);
}

static void test_yielding_neighbour(void **state)
{
	busy_ctx x = {.yielding = true};

	(void)state;
	ct_run(busy_root, &x, 1, 0);
	print_message("  1 worker, yielding neighbour: the %d ms sleep woke %.1f ms late\n",
	              SLEEP_MS, (double)x.late / 1e6);
	assert_true(x.late < SLACK_MS * CT_MS);
}

/* ---- a worker woken from outside keeps the others awake ---------------- */

/* A plain pthread releases a semaphore twice; each release wakes a parked
 * worker to run a task that then computes for LONG_MS without yielding.
 * A worker woken that way once kept counting itself as "spinning" while it
 * ran the task, so nobody woke the third worker (or let it steal the
 * busy workers' timers) and a 100 ms sleeper woke only when a long task
 * ended.  Found in review; this is the reviewer's reproducer. */
#define LONG_MS 400

typedef struct foreign_ctx {
	tsk_sem *sem;
	int64_t late; /* the sleeper's lateness */
} foreign_ctx;

static void *foreign_thread(void *arg)
{
	foreign_ctx *x = arg;
	usleep(20000);
	tsk_sem_release(x->sem);
	usleep(20000);
	tsk_sem_release(x->sem);
	return NULL;
}

static void *long_task(void *arg)
{
	foreign_ctx *x = arg;
	TSK_EXPECT_EQ(tsk_sem_acquire(x->sem, TSK_FOREVER), 0);
	int64_t s = tsk_now();
	while (tsk_now() - s < LONG_MS * CT_MS)
		;
	return NULL;
}

static void *foreign_sleeper(void *arg)
{
	foreign_ctx *x = arg;
	int64_t deadline = tsk_now() + 100 * CT_MS;
	TSK_EXPECT_EQ(tsk_sleep(deadline), 0);
	x->late = tsk_now() - deadline;
	return NULL;
}

static void *foreign_root(void *arg)
{
	foreign_ctx *x = arg;
	tsk_task *s, *l1, *l2;
	pthread_t th;
	TSK_EXPECT_EQ(tsk_sem_create(&x->sem, "foreign", 0), 0);
	TSK_EXPECT_EQ(tsk_spawn(&s, "sleeper", foreign_sleeper, x), 0);
	TSK_EXPECT_EQ(tsk_spawn(&l1, "long", long_task, x), 0);
	TSK_EXPECT_EQ(tsk_spawn(&l2, "long", long_task, x), 0);
	TSK_EXPECT_EQ(pthread_create(&th, NULL, foreign_thread, x), 0);
	tsk_join(s, NULL, TSK_FOREVER);
	tsk_join(l1, NULL, TSK_FOREVER);
	tsk_join(l2, NULL, TSK_FOREVER);
	pthread_join(th, NULL);
	tsk_sem_destroy(x->sem);
	return NULL;
}

static void test_foreign_wake(void **state)
{
	(void)state;
	for (int i = 0; i < 5; i++) {
		foreign_ctx x = {0};
		ct_run(foreign_root, &x, 3, 0);
		print_message("  3 workers, long tasks released from a pthread: the 100 ms sleep "
		              "woke %.1f ms late\n",
		              (double)x.late / 1e6);
		assert_true(x.late < SLACK_MS * CT_MS);
	}
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
	        cmocka_unit_test(test_order_one_worker),
	        cmocka_unit_test(test_order_two_workers),
	        cmocka_unit_test(test_equal_deadlines_fifo),
	        cmocka_unit_test(test_accuracy),
	        cmocka_unit_test(test_no_stale_timers),
	        cmocka_unit_test(test_busy_neighbour),
	        cmocka_unit_test(test_yielding_neighbour),
	        cmocka_unit_test(test_foreign_wake),
	        cmocka_unit_test(ct_test_no_leaks),
	};

	return cmocka_run_group_tests(tests, ct_leak_setup, NULL);
}
