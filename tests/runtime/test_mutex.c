/*
 * test_mutex.c - tests of runtime/src/mutex.c (tsk_mutex).
 *
 * Every call's success and error paths (inside and outside tasks), timeouts,
 * cancellation of a parked waiter (the lock is then not taken), destroy of
 * a busy mutex, non-recursion, the FIFO direct hand-off (no barging), the
 * uncancellable internal lock tsk_cond_wait relies on, fairness under
 * steady contention and a 10M-increment counter stress on 2 and 4 workers.
 * Every test ends by checking that no object was left alive.
 */
#include <errno.h>
#include <stdatomic.h>
#include <stdint.h>

#include "sync_test.h"

/* ---- outside any task ------------------------------------------------- */

static void test_outside_task(void **state)
{
	tsk_mutex *m = NULL;

	(void)state;
	assert_int_equal(tsk_mutex_create(NULL, "x"), -EINVAL);
	assert_int_equal(tsk_mutex_destroy(NULL), 0);
	assert_int_equal(tsk_mutex_lock(NULL, TSK_FOREVER), -EINVAL);
	assert_int_equal(tsk_mutex_trylock(NULL), -EINVAL);
	assert_int_equal(tsk_mutex_unlock(NULL), -EINVAL);

	assert_int_equal(tsk_mutex_create(&m, NULL), 0);
	assert_non_null(m);
	assert_int_equal(tsk_mutex_unlock(m), -EPERM); /* not locked */
	/* A free mutex can be taken outside a task: nothing blocks. */
	assert_int_equal(tsk_mutex_lock(m, TSK_FOREVER), 0);
	assert_int_equal(tsk_mutex_trylock(m), -EBUSY);
	/* Taking it now would block, which only a task may do. */
	assert_int_equal(tsk_mutex_lock(m, TSK_FOREVER), -EPERM);
	assert_int_equal(tsk_mutex_lock(m, tsk_after_ms(10)), -EPERM);
	assert_int_equal(tsk_mutex_destroy(m), -EBUSY);
	assert_int_equal(tsk_mutex_unlock(m), 0);
	assert_int_equal(tsk_mutex_unlock(m), -EPERM);
	assert_int_equal(tsk_mutex_trylock(m), 0);
	assert_int_equal(tsk_mutex_unlock(m), 0);
	assert_int_equal(tsk_mutex_destroy(m), 0);

	/* The function forms behind the macros. */
	assert_int_equal((tsk_mutex_create)(&m, "plain"), 0);
	assert_int_equal((tsk_mutex_lock)(m, TSK_FOREVER), 0);
	assert_int_equal(tsk_mutex_unlock(m), 0);
	assert_int_equal(tsk_mutex_destroy(m), 0);
}

/* ---- basic paths inside tasks ----------------------------------------- */

typedef struct {
	tsk_mutex *m;
	atomic_int step;
} basic_ctx;

static void *basic_other(void *arg)
{
	basic_ctx *x = arg;

	/* The root holds m. */
	TSK_EXPECT_EQ(tsk_mutex_trylock(x->m), -EBUSY);
	TSK_EXPECT_EQ(tsk_mutex_unlock(x->m), -EPERM);
	return NULL;
}

static void *basic_root(void *arg)
{
	basic_ctx x = {0};

	(void)arg;
	TSK_EXPECT_EQ(tsk_mutex_create(&x.m, "basic"), 0);
	TSK_EXPECT_EQ(tsk_mutex_lock(x.m, TSK_FOREVER), 0);
	st_join(st_spawn("other", basic_other, &x));
	TSK_EXPECT_EQ(tsk_mutex_destroy(x.m), -EBUSY);
	TSK_EXPECT_EQ(tsk_mutex_unlock(x.m), 0);
	TSK_EXPECT_EQ(tsk_mutex_unlock(x.m), -EPERM);
	TSK_EXPECT_EQ(tsk_mutex_trylock(x.m), 0);
	TSK_EXPECT_EQ(tsk_mutex_unlock(x.m), 0);
	/* A free mutex is taken even with a deadline already past. */
	TSK_EXPECT_EQ(tsk_mutex_lock(x.m, tsk_now() - 1000), 0);
	TSK_EXPECT_EQ(tsk_mutex_unlock(x.m), 0);
	TSK_EXPECT_EQ(tsk_mutex_destroy(x.m), 0);
	return NULL;
}

static void test_basic(void **state)
{
	(void)state;
	TSK_RUN(basic_root, NULL, 1);
	TSK_RUN(basic_root, NULL, 4);
}

/* ---- timeouts and non-recursion ---------------------------------------- */

static void *timeout_child(void *arg)
{
	tsk_mutex *m = arg;
	int64_t t0 = tsk_now();

	TSK_EXPECT_EQ(tsk_mutex_lock(m, tsk_after_ms(50)), -ETIMEDOUT);
	TSK_EXPECT(st_ms_since(t0) >= 50);
	/* Past deadline on a held mutex: -ETIMEDOUT at once. */
	TSK_EXPECT_EQ(tsk_mutex_lock(m, tsk_now() - 1), -ETIMEDOUT);
	TSK_EXPECT_EQ(tsk_mutex_trylock(m), -EBUSY); /* still the root's */
	return NULL;
}

static void *timeout_root(void *arg)
{
	tsk_mutex *m = NULL;
	int64_t t0;

	(void)arg;
	TSK_EXPECT_EQ(tsk_mutex_create(&m, "timeout"), 0);
	TSK_EXPECT_EQ(tsk_mutex_lock(m, TSK_FOREVER), 0);
	st_join(st_spawn("waiter", timeout_child, m));
	TSK_EXPECT_EQ(mutex__nwait(m), 0);

	/* Relocking by the owner blocks (until the deadline), no -EDEADLK. */
	t0 = tsk_now();
	TSK_EXPECT_EQ(tsk_mutex_lock(m, tsk_after_ms(30)), -ETIMEDOUT);
	TSK_EXPECT(st_ms_since(t0) >= 30);

	TSK_EXPECT_EQ(tsk_mutex_unlock(m), 0);
	TSK_EXPECT_EQ(tsk_mutex_destroy(m), 0);
	return NULL;
}

static void test_timeout(void **state)
{
	(void)state;
	TSK_RUN(timeout_root, NULL, 2);
}

/* ---- cancellation --------------------------------------------------------- */

typedef struct {
	tsk_mutex *m;
	int id;
	int *order; /* acquisition order, written under m */
	int *norder;
} q_arg;

static void *cancel_child(void *arg)
{
	q_arg *a = arg;
	int rc = tsk_mutex_lock(a->m, TSK_FOREVER);

	if (rc == 0) {
		a->order[(*a->norder)++] = a->id;
		TSK_EXPECT_EQ(tsk_mutex_unlock(a->m), 0);
	}
	return (void *)(intptr_t)rc;
}

static void *cancel_root(void *arg)
{
	tsk_mutex *m = NULL;
	tsk_task *t[3];
	q_arg a[3];
	int order[3], norder = 0;

	(void)arg;
	TSK_EXPECT_EQ(tsk_mutex_create(&m, "cancel"), 0);

	/* A lone parked waiter: cancelled, it returns -ECANCELED without the
	 * lock, and the mutex stays the root's, then becomes free. */
	TSK_EXPECT_EQ(tsk_mutex_lock(m, TSK_FOREVER), 0);
	a[0] = (q_arg){m, 0, order, &norder};
	t[0] = st_spawn("lone", cancel_child, &a[0]);
	ST_WAIT_UNTIL(mutex__nwait(m) == 1);
	TSK_EXPECT_EQ(tsk_cancel(t[0]), 0);
	TSK_EXPECT_EQ(st_join(t[0]), -ECANCELED);
	TSK_EXPECT_EQ(mutex__nwait(m), 0);
	TSK_EXPECT_EQ(tsk_mutex_unlock(m), 0);
	TSK_EXPECT_EQ(tsk_mutex_trylock(m), 0); /* free: nobody got it */
	TSK_EXPECT_EQ(norder, 0);

	/* A cancelled waiter in the middle of the queue is skipped by the
	 * hand-off; the others get the lock in arrival order. */
	for (int i = 0; i < 3; i++) {
		a[i] = (q_arg){m, i, order, &norder};
		t[i] = st_spawn("queued", cancel_child, &a[i]);
		ST_WAIT_UNTIL(mutex__nwait(m) == (unsigned)i + 1);
	}
	TSK_EXPECT_EQ(tsk_cancel(t[1]), 0);
	TSK_EXPECT_EQ(st_join(t[1]), -ECANCELED);
	TSK_EXPECT_EQ(tsk_mutex_unlock(m), 0);
	TSK_EXPECT_EQ(st_join(t[0]), 0);
	TSK_EXPECT_EQ(st_join(t[2]), 0);
	TSK_EXPECT_EQ(norder, 2);
	TSK_EXPECT_EQ(order[0], 0);
	TSK_EXPECT_EQ(order[1], 2);
	TSK_EXPECT_EQ(tsk_mutex_destroy(m), 0);
	return NULL;
}

static void test_cancel(void **state)
{
	(void)state;
	TSK_RUN(cancel_root, NULL, 1);
	TSK_RUN(cancel_root, NULL, 4);
}

static void *precancel_child(void *arg)
{
	tsk_mutex *m = arg;

	/* Cancelled before the call: a held mutex gives -ECANCELED at once. */
	ST_WAIT_UNTIL(tsk_cancelled());
	TSK_EXPECT_EQ(tsk_mutex_lock(m, TSK_FOREVER), -ECANCELED);
	TSK_EXPECT_EQ(mutex__nwait(m), 0);
	return NULL;
}

static void *precancel_root(void *arg)
{
	tsk_mutex *m = NULL;
	tsk_task *t;

	(void)arg;
	TSK_EXPECT_EQ(tsk_mutex_create(&m, "precancel"), 0);
	TSK_EXPECT_EQ(tsk_mutex_lock(m, TSK_FOREVER), 0);
	t = st_spawn("precancel", precancel_child, m);
	TSK_EXPECT_EQ(tsk_cancel(t), 0);
	st_join(t);
	TSK_EXPECT_EQ(tsk_mutex_unlock(m), 0);
	TSK_EXPECT_EQ(tsk_mutex_destroy(m), 0);
	return NULL;
}

static void test_cancel_before(void **state)
{
	(void)state;
	TSK_RUN(precancel_root, NULL, 2);
}

/* ---- destroy while awaited ------------------------------------------------ */

static void *busy_child(void *arg)
{
	tsk_mutex *m = arg;

	TSK_EXPECT_EQ(tsk_mutex_lock(m, TSK_FOREVER), 0);
	TSK_EXPECT_EQ(tsk_mutex_unlock(m), 0);
	return NULL;
}

static void *busy_root(void *arg)
{
	tsk_mutex *m = NULL;
	tsk_task *t;

	(void)arg;
	TSK_EXPECT_EQ(tsk_mutex_create(&m, "busy"), 0);
	TSK_EXPECT_EQ(tsk_mutex_lock(m, TSK_FOREVER), 0);
	t = st_spawn("busy", busy_child, m);
	ST_WAIT_UNTIL(mutex__nwait(m) == 1);
	TSK_EXPECT_EQ(tsk_mutex_destroy(m), -EBUSY);
	TSK_EXPECT_EQ(tsk_mutex_unlock(m), 0);
	st_join(t);
	TSK_EXPECT_EQ(tsk_mutex_destroy(m), 0);
	return NULL;
}

static void test_destroy_busy(void **state)
{
	(void)state;
	TSK_RUN(busy_root, NULL, 2);
}

/* ---- FIFO hand-off, no barging ------------------------------------------ */

#define FIFO_N 8

static void *fifo_root(void *arg)
{
	tsk_mutex *m = NULL;
	tsk_task *t[FIFO_N];
	q_arg a[FIFO_N];
	int order[FIFO_N], norder = 0;

	(void)arg;
	TSK_EXPECT_EQ(tsk_mutex_create(&m, "fifo"), 0);
	TSK_EXPECT_EQ(tsk_mutex_lock(m, TSK_FOREVER), 0);
	for (int i = 0; i < FIFO_N; i++) {
		a[i] = (q_arg){m, i, order, &norder};
		t[i] = st_spawn("fifo", cancel_child, &a[i]);
		ST_WAIT_UNTIL(mutex__nwait(m) == (unsigned)i + 1);
	}
	/* The unlock hands m to the first waiter at once: the lock never
	 * becomes free, so the unlocker cannot barge back in. */
	TSK_EXPECT_EQ(tsk_mutex_unlock(m), 0);
	TSK_EXPECT_EQ(tsk_mutex_trylock(m), -EBUSY);
	TSK_EXPECT_EQ(tsk_mutex_unlock(m), -EPERM);
	for (int i = 0; i < FIFO_N; i++)
		TSK_EXPECT_EQ(st_join(t[i]), 0);
	TSK_EXPECT_EQ(norder, FIFO_N);
	for (int i = 0; i < FIFO_N; i++)
		TSK_EXPECT_EQ(order[i], i);
	TSK_EXPECT_EQ(tsk_mutex_destroy(m), 0);
	return NULL;
}

static void test_fifo(void **state)
{
	(void)state;
	TSK_RUN(fifo_root, NULL, 1);
	TSK_RUN(fifo_root, NULL, 4);
}

/* ---- the uncancellable lock used by tsk_cond_wait --------------------------- */

static void *nocancel_child(void *arg)
{
	tsk_mutex *m = arg;

	ST_WAIT_UNTIL(tsk_cancelled());
	/* Cancelled, and the mutex is held: it still waits and gets it. */
	TSK_EXPECT_EQ(mutex__lock_uncancellable(m, NULL), 0);
	TSK_EXPECT(mutex__owned_by(m, tsk_self()));
	TSK_EXPECT_EQ(tsk_mutex_unlock(m), 0);
	return NULL;
}

static void *nocancel_root(void *arg)
{
	tsk_mutex *m = NULL;
	tsk_task *t;

	(void)arg;
	TSK_EXPECT_EQ(tsk_mutex_create(&m, "nocancel"), 0);
	TSK_EXPECT_EQ(mutex__lock_uncancellable(m, NULL), 0); /* free: at once */
	TSK_EXPECT(mutex__owned_by(m, tsk_self()));
	t = st_spawn("nocancel", nocancel_child, m);
	TSK_EXPECT_EQ(tsk_cancel(t), 0);
	ST_WAIT_UNTIL(mutex__nwait(m) == 1);
	/* A second cancel while it waits changes nothing either. */
	TSK_EXPECT_EQ(tsk_cancel(t), 0);
	TSK_EXPECT_EQ(tsk_sleep(tsk_after_ms(20)), 0);
	TSK_EXPECT_EQ(mutex__nwait(m), 1);
	TSK_EXPECT_EQ(tsk_mutex_unlock(m), 0);
	st_join(t);
	TSK_EXPECT_EQ(tsk_mutex_destroy(m), 0);
	return NULL;
}

static void test_uncancellable(void **state)
{
	(void)state;
	assert_int_equal(mutex__lock_uncancellable(NULL, NULL), -EPERM); /* no task */
	TSK_RUN(nocancel_root, NULL, 1);
	TSK_RUN(nocancel_root, NULL, 2);
}

/* ---- fairness under steady contention ---------------------------------------- */

#define FAIR_N 8

typedef struct {
	tsk_mutex *m;
	int64_t end;          /* stop time */
	long count[FAIR_N];   /* acquisitions per task, written under m */
	int last;             /* previous holder, under m */
	long max_gap[FAIR_N]; /* most acquisitions by others between two of ours */
	long seen_at[FAIR_N]; /* total acquisitions at our last one */
	long total;           /* under m */
	bool one_worker;      /* run on one worker: the FIFO gap bound is exact */
} fair_ctx;

typedef struct {
	fair_ctx *x;
	int id;
} fair_arg;

static void *fair_task(void *arg)
{
	fair_arg *a = arg;
	fair_ctx *x = a->x;

	while (tsk_now() < x->end) {
		TSK_EXPECT_EQ(tsk_mutex_lock(x->m, TSK_FOREVER), 0);
		if (x->count[a->id] > 0) {
			long gap = x->total - x->seen_at[a->id] - 1;
			if (gap > x->max_gap[a->id])
				x->max_gap[a->id] = gap;
		}
		x->count[a->id]++;
		x->seen_at[a->id] = x->total++;
		/* Hold it across a yield so that the others pile up behind. */
		tsk_yield();
		TSK_EXPECT_EQ(tsk_mutex_unlock(x->m), 0);
	}
	return NULL;
}

static void *fair_root(void *arg)
{
	fair_ctx *x = arg;
	fair_arg a[FAIR_N];
	tsk_task *t[FAIR_N];
	long min = -1;

	TSK_EXPECT_EQ(tsk_mutex_create(&x->m, "fair"), 0);
	x->end = tsk_after_ms(300);
	for (int i = 0; i < FAIR_N; i++) {
		a[i] = (fair_arg){x, i};
		t[i] = st_spawn("fair", fair_task, &a[i]);
	}
	for (int i = 0; i < FAIR_N; i++)
		st_join(t[i]);
	for (int i = 0; i < FAIR_N; i++) {
		if (min < 0 || x->count[i] < min)
			min = x->count[i];
		/* FIFO hand-off: between two acquisitions of one task, each of
		 * the other FAIR_N - 1 tasks gets the lock at most once (it
		 * queues behind us after its turn).  Exact on one worker only:
		 * on several, the OS may preempt a worker between our unlock
		 * and our next lock call while the others go round again. */
		if (x->one_worker)
			TSK_EXPECT(x->max_gap[i] <= FAIR_N - 1);
	}
	TSK_EXPECT(min > 0);
	TSK_EXPECT_EQ(tsk_mutex_destroy(x->m), 0);
	return NULL;
}

static void test_fairness(void **state)
{
	fair_ctx x1 = {.one_worker = true}, x4 = {0};

	(void)state;
	TSK_RUN(fair_root, &x1, 1);
	TSK_RUN(fair_root, &x4, 4);
}

/* ---- stress: a mutex-protected counter --------------------------------------- */

#define STRESS_TASKS 1000

typedef struct {
	tsk_mutex *m;
	long per_task; /* increments each task does */
	long counter;  /* plain long: only the mutex protects it */
} stress_ctx;

static void *stress_task(void *arg)
{
	stress_ctx *x = arg;

	for (long i = 0; i < x->per_task; i++) {
		if (tsk_mutex_lock(x->m, TSK_FOREVER) != 0) {
			TSK_EXPECT(0);
			break;
		}
		x->counter++;
		tsk_mutex_unlock(x->m);
	}
	return NULL;
}

static void *stress_root(void *arg)
{
	stress_ctx *x = arg;
	tsk_task **t = calloc(STRESS_TASKS, sizeof(*t));

	TSK_EXPECT(t != NULL);
	if (t == NULL)
		return NULL;
	TSK_EXPECT_EQ(tsk_mutex_create(&x->m, "stress"), 0);
	for (int i = 0; i < STRESS_TASKS; i++)
		t[i] = st_spawn("stress", stress_task, x);
	for (int i = 0; i < STRESS_TASKS; i++)
		st_join(t[i]);
	TSK_EXPECT_EQ(tsk_mutex_destroy(x->m), 0);
	free(t);
	return NULL;
}

static void stress_run(int workers)
{
	long total = tsk_test_scale(10000000);
	stress_ctx x = {0};

	x.per_task = total / STRESS_TASKS > 0 ? total / STRESS_TASKS : 1;
	TSK_RUN(stress_root, &x, workers);
	assert_int_equal(x.counter, x.per_task * STRESS_TASKS);
}

static void test_stress_2(void **state)
{
	(void)state;
	stress_run(2);
}

static void test_stress_4(void **state)
{
	(void)state;
	stress_run(4);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        ST_TEST(test_outside_task), ST_TEST(test_basic),         ST_TEST(test_timeout),
	        ST_TEST(test_cancel),       ST_TEST(test_cancel_before), ST_TEST(test_destroy_busy),
	        ST_TEST(test_fifo),         ST_TEST(test_uncancellable), ST_TEST(test_fairness),
	        ST_TEST(test_stress_2),     ST_TEST(test_stress_4),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
