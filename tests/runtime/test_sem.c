/*
 * test_sem.c - tests of runtime/src/sem.c (tsk_sem).
 *
 * Every call's success and error paths (inside and outside tasks, overflow
 * at UINT_MAX), FIFO hand-off of released units without barging, timeouts
 * and cancellation (no unit is lost or taken), destroy while awaited, a
 * blocked acquire cancelled by tsk_run's shutdown, and a stress where 64
 * tasks share 4 permits: never more than 4 inside, and 4 reached.  Every
 * test ends by checking that no object was left alive.
 */
#include <errno.h>
#include <limits.h>
#include <stdatomic.h>
#include <stdint.h>

#include "sync_test.h"

/* ---- outside any task ------------------------------------------------- */

static void test_outside_task(void **state)
{
	tsk_sem *s = NULL;

	(void)state;
	assert_int_equal(tsk_sem_create(NULL, "x", 1), -EINVAL);
	assert_int_equal(tsk_sem_destroy(NULL), 0);
	assert_int_equal(tsk_sem_acquire(NULL, TSK_FOREVER), -EINVAL);
	assert_int_equal(tsk_sem_try_acquire(NULL), -EINVAL);
	assert_int_equal(tsk_sem_release(NULL), -EINVAL);
	assert_int_equal(tsk_sem_value(NULL), 0);

	assert_int_equal(tsk_sem_create(&s, NULL, 2), 0);
	assert_int_equal(tsk_sem_value(s), 2);
	assert_int_equal(tsk_sem_acquire(s, TSK_FOREVER), 0); /* free: no wait */
	assert_int_equal(tsk_sem_try_acquire(s), 0);
	assert_int_equal(tsk_sem_value(s), 0);
	assert_int_equal(tsk_sem_try_acquire(s), -EBUSY);
	assert_int_equal(tsk_sem_acquire(s, TSK_FOREVER), -EPERM); /* would block */
	assert_int_equal(tsk_sem_acquire(s, tsk_after_ms(10)), -EPERM);
	assert_int_equal(tsk_sem_release(s), 0);
	assert_int_equal(tsk_sem_release(s), 0);
	assert_int_equal(tsk_sem_release(s), 0); /* above the initial value: fine */
	assert_int_equal(tsk_sem_value(s), 3);
	assert_int_equal(tsk_sem_destroy(s), 0);

	/* Overflow. */
	assert_int_equal(tsk_sem_create(&s, "full", UINT_MAX - 1), 0);
	assert_int_equal(tsk_sem_release(s), 0);
	assert_int_equal(tsk_sem_value(s), UINT_MAX);
	assert_int_equal(tsk_sem_release(s), -EOVERFLOW);
	assert_int_equal(tsk_sem_value(s), UINT_MAX);
	assert_int_equal(tsk_sem_try_acquire(s), 0);
	assert_int_equal(tsk_sem_release(s), 0);
	assert_int_equal(tsk_sem_destroy(s), 0);

	assert_int_equal((tsk_sem_create)(&s, "plain", 1), 0);
	assert_int_equal((tsk_sem_acquire)(s, TSK_FOREVER), 0);
	assert_int_equal(tsk_sem_release(s), 0);
	assert_int_equal(tsk_sem_destroy(s), 0);
}

/* ---- FIFO hand-off -------------------------------------------------------- */

#define FIFO_N 6

typedef struct {
	tsk_sem *s;
	int id;
	int64_t deadline;
	atomic_int *log;
	atomic_int *nlog;
} sem_arg;

static void *acquirer(void *arg)
{
	sem_arg *a = arg;
	int rc = tsk_sem_acquire(a->s, a->deadline);

	if (rc == 0)
		atomic_store(&a->log[atomic_fetch_add(a->nlog, 1)], a->id);
	return (void *)(intptr_t)rc;
}

static void *fifo_root(void *arg)
{
	tsk_sem *s = NULL;
	sem_arg a[FIFO_N];
	tsk_task *t[FIFO_N];
	atomic_int log[FIFO_N], nlog = 0;

	(void)arg;
	TSK_EXPECT_EQ(tsk_sem_create(&s, "fifo", 0), 0);
	for (int i = 0; i < FIFO_N; i++) {
		a[i] = (sem_arg){s, i, TSK_FOREVER, log, &nlog};
		t[i] = st_spawn("acq", acquirer, &a[i]);
		ST_WAIT_UNTIL(sem__nwait(s) == (unsigned)i + 1);
	}
	/* A released unit goes straight to the first waiter: the count stays 0
	 * and a try_acquire cannot take it first. */
	TSK_EXPECT_EQ(tsk_sem_release(s), 0);
	TSK_EXPECT_EQ(tsk_sem_value(s), 0);
	TSK_EXPECT_EQ(tsk_sem_try_acquire(s), -EBUSY);
	ST_WAIT_UNTIL(atomic_load(&nlog) == 1);
	/* One at a time: woken tasks may run in any order on several workers,
	 * so only this shows the order of the hand-offs themselves. */
	for (int i = 1; i < FIFO_N; i++) {
		TSK_EXPECT_EQ(tsk_sem_release(s), 0);
		ST_WAIT_UNTIL(atomic_load(&nlog) == i + 1);
	}
	for (int i = 0; i < FIFO_N; i++)
		TSK_EXPECT_EQ(st_join(t[i]), 0);
	for (int i = 0; i < FIFO_N; i++)
		TSK_EXPECT_EQ(atomic_load(&log[i]), i);
	TSK_EXPECT_EQ(tsk_sem_value(s), 0);
	TSK_EXPECT_EQ(tsk_sem_destroy(s), 0);
	return NULL;
}

static void test_fifo(void **state)
{
	(void)state;
	TSK_RUN(fifo_root, NULL, 1);
	TSK_RUN(fifo_root, NULL, 4);
}

/* ---- timeouts, cancellation, destroy ---------------------------------------- */

static void *timeout_root(void *arg)
{
	tsk_sem *s = NULL;
	int64_t t0;

	(void)arg;
	TSK_EXPECT_EQ(tsk_sem_create(&s, "timeout", 0), 0);
	t0 = tsk_now();
	TSK_EXPECT_EQ(tsk_sem_acquire(s, tsk_after_ms(50)), -ETIMEDOUT);
	TSK_EXPECT(st_ms_since(t0) >= 50);
	TSK_EXPECT_EQ(tsk_sem_acquire(s, tsk_now() - 1), -ETIMEDOUT);
	TSK_EXPECT_EQ(sem__nwait(s), 0);
	TSK_EXPECT_EQ(tsk_sem_release(s), 0);
	TSK_EXPECT_EQ(tsk_sem_value(s), 1); /* the timed-out wait took nothing */
	/* A free unit is taken even past the deadline. */
	TSK_EXPECT_EQ(tsk_sem_acquire(s, tsk_now() - 1), 0);
	TSK_EXPECT_EQ(tsk_sem_destroy(s), 0);
	return NULL;
}

static void test_timeout(void **state)
{
	(void)state;
	TSK_RUN(timeout_root, NULL, 2);
}

static void *cancel_root(void *arg)
{
	tsk_sem *s = NULL;
	sem_arg a[3];
	tsk_task *t[3];
	atomic_int log[3], nlog = 0;

	(void)arg;
	TSK_EXPECT_EQ(tsk_sem_create(&s, "cancel", 0), 0);
	for (int i = 0; i < 3; i++) {
		a[i] = (sem_arg){s, i, TSK_FOREVER, log, &nlog};
		t[i] = st_spawn("acq", acquirer, &a[i]);
		ST_WAIT_UNTIL(sem__nwait(s) == (unsigned)i + 1);
	}
	TSK_EXPECT_EQ(tsk_sem_destroy(s), -EBUSY);
	/* Cancel the first in line: the next release skips it. */
	TSK_EXPECT_EQ(tsk_cancel(t[0]), 0);
	TSK_EXPECT_EQ(st_join(t[0]), -ECANCELED);
	TSK_EXPECT_EQ(tsk_sem_release(s), 0);
	TSK_EXPECT_EQ(st_join(t[1]), 0);
	TSK_EXPECT_EQ(tsk_cancel(t[2]), 0);
	TSK_EXPECT_EQ(st_join(t[2]), -ECANCELED);
	TSK_EXPECT_EQ(atomic_load(&nlog), 1);
	TSK_EXPECT_EQ(atomic_load(&log[0]), 1);
	TSK_EXPECT_EQ(sem__nwait(s), 0);
	/* No unit went to a cancelled task. */
	TSK_EXPECT_EQ(tsk_sem_release(s), 0);
	TSK_EXPECT_EQ(tsk_sem_value(s), 1);
	TSK_EXPECT_EQ(tsk_sem_destroy(s), 0);
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
	tsk_sem *s = arg;

	ST_WAIT_UNTIL(tsk_cancelled());
	TSK_EXPECT_EQ(tsk_sem_acquire(s, TSK_FOREVER), -ECANCELED);
	return NULL;
}

static void *precancel_root(void *arg)
{
	tsk_sem *s = NULL;
	tsk_task *t;

	(void)arg;
	TSK_EXPECT_EQ(tsk_sem_create(&s, "precancel", 0), 0);
	t = st_spawn("pre", precancel_child, s);
	TSK_EXPECT_EQ(tsk_cancel(t), 0);
	st_join(t);
	TSK_EXPECT_EQ(tsk_sem_destroy(s), 0);
	return NULL;
}

static void test_cancel_before(void **state)
{
	(void)state;
	TSK_RUN(precancel_root, NULL, 2);
}

/* ---- tsk_run's shutdown cancels a blocked acquire --------------------------- */

typedef struct {
	tsk_sem *s;
	atomic_int rc;
} sd_ctx;

static void *sd_child(void *arg)
{
	sd_ctx *x = arg;

	atomic_store(&x->rc, tsk_sem_acquire(x->s, TSK_FOREVER));
	return NULL;
}

static void *sd_root(void *arg)
{
	sd_ctx *x = arg;

	TSK_EXPECT_EQ(tsk_spawn(NULL, "stuck", sd_child, x), 0);
	ST_WAIT_UNTIL(sem__nwait(x->s) == 1);
	return NULL; /* tsk_run must cancel the stuck acquire, not hang */
}

static void test_shutdown(void **state)
{
	sd_ctx x = {.rc = 1};

	(void)state;
	assert_int_equal(tsk_sem_create(&x.s, "sd", 0), 0);
	TSK_RUN(sd_root, &x, 2);
	assert_int_equal(atomic_load(&x.rc), -ECANCELED);
	assert_int_equal(sem__nwait(x.s), 0);
	assert_int_equal(tsk_sem_value(x.s), 0);
	assert_int_equal(tsk_sem_destroy(x.s), 0);
}

/* ---- bounded concurrency ------------------------------------------------------ */

#define BOUND_TASKS   64
#define BOUND_PERMITS 4

typedef struct {
	tsk_sem *s;
	long iters;
	atomic_int inside;
	atomic_int max_inside;
	atomic_long done;
} bound_ctx;

static void *bound_task(void *arg)
{
	bound_ctx *x = arg;

	for (long i = 0; i < x->iters; i++) {
		TSK_EXPECT_EQ(tsk_sem_acquire(x->s, TSK_FOREVER), 0);
		int in = atomic_fetch_add(&x->inside, 1) + 1;
		int m = atomic_load(&x->max_inside);
		while (in > m && !atomic_compare_exchange_weak(&x->max_inside, &m, in))
			;
		TSK_EXPECT(in <= BOUND_PERMITS);
		/* The first rounds sleep while holding, so that the permits
		 * surely fill up whatever the scheduling; later ones only yield. */
		if (i < 2)
			tsk_sleep(tsk_after_ms(1));
		else
			tsk_yield();
		atomic_fetch_sub(&x->inside, 1);
		atomic_fetch_add(&x->done, 1);
		TSK_EXPECT_EQ(tsk_sem_release(x->s), 0);
	}
	return NULL;
}

static void *bound_root(void *arg)
{
	bound_ctx *x = arg;
	tsk_task *t[BOUND_TASKS];

	TSK_EXPECT_EQ(tsk_sem_create(&x->s, "bound", BOUND_PERMITS), 0);
	for (int i = 0; i < BOUND_TASKS; i++)
		t[i] = st_spawn("bound", bound_task, x);
	for (int i = 0; i < BOUND_TASKS; i++)
		st_join(t[i]);
	TSK_EXPECT_EQ(tsk_sem_value(x->s), BOUND_PERMITS);
	TSK_EXPECT_EQ(tsk_sem_destroy(x->s), 0);
	return NULL;
}

static void test_bounded(void **state)
{
	(void)state;
	for (int workers = 1; workers <= 4; workers *= 2) {
		bound_ctx x = {.iters = tsk_test_scale(2000)};

		TSK_RUN(bound_root, &x, workers);
		assert_int_equal(atomic_load(&x.done), x.iters * BOUND_TASKS);
		assert_int_equal(atomic_load(&x.max_inside), BOUND_PERMITS);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        ST_TEST(test_outside_task), ST_TEST(test_fifo),          ST_TEST(test_timeout),
	        ST_TEST(test_cancel),       ST_TEST(test_cancel_before), ST_TEST(test_shutdown),
	        ST_TEST(test_bounded),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
