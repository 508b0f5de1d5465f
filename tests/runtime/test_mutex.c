/*
 * test_mutex.c - tests of runtime/src/mutex.c (tsk_mutex).
 *
 * Every call's success and error paths (inside and outside tasks), timeouts,
 * cancellation of a parked waiter (the lock is then not taken), destroy of
 * a busy mutex, non-recursion, the uncancellable internal lock
 * tsk_cond_wait relies on, and the two modes: barging in normal mode (with
 * at most one woken waiter at a time), starvation mode engaging against a
 * task that keeps re-locking, FIFO hand-off and no barging while starving,
 * leaving starvation mode, a woken waiter that times out or is cancelled
 * passing the wake on, a woken waiter that cannot run (its worker's task
 * keeps re-locking) still getting the lock, bounded waits under steady
 * contention, and a counter stress on 2 and 4 workers: 1000 tasks of 10k
 * increments each (both scaled by TSK_TEST_SCALE, see stress_run).
 * Every test ends by checking that no object was left alive.
 *
 * Several tests run on one worker on purpose: a woken task then cannot run
 * before the running one blocks or yields, which lets them arrange "woken
 * but not yet run" exactly.
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
	int64_t deadline; /* of the lock call; 0: TSK_FOREVER */
	bool starving;    /* out: m was in starvation mode when we got it */
	int64_t waited;   /* out: ns from the lock call to owning m */
} q_arg;

/* Locks m once, logs its id in the acquisition order, unlocks.  Returns
 * the lock call's result. */
static void *cancel_child(void *arg)
{
	q_arg *a = arg;
	int64_t t0 = tsk_now();
	int rc = tsk_mutex_lock(a->m, a->deadline ? a->deadline : TSK_FOREVER);

	if (rc == 0) {
		a->waited = tsk_now() - t0;
		a->starving = mutex__starving(a->m);
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
	a[0] = (q_arg){.m = m, .id = 0, .order = order, .norder = &norder};
	t[0] = st_spawn("lone", cancel_child, &a[0]);
	ST_WAIT_UNTIL(mutex__nwait(m) == 1);
	TSK_EXPECT_EQ(tsk_cancel(t[0]), 0);
	TSK_EXPECT_EQ(st_join(t[0]), -ECANCELED);
	TSK_EXPECT_EQ(mutex__nwait(m), 0);
	TSK_EXPECT_EQ(tsk_mutex_unlock(m), 0);
	TSK_EXPECT_EQ(tsk_mutex_trylock(m), 0); /* free: nobody got it */
	TSK_EXPECT_EQ(norder, 0);

	/* A cancelled waiter in the middle of the queue is skipped by the
	 * wake-up; the others get the lock in arrival order. */
	for (int i = 0; i < 3; i++) {
		a[i] = (q_arg){.m = m, .id = i, .order = order, .norder = &norder};
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

/* ---- normal mode: barging, one woken waiter at a time ------------------- */

/* Spawns a cancel_child on a and waits until m has nwait waiters. */
static tsk_task *queue_one(tsk_mutex *m, q_arg *a, unsigned nwait)
{
	tsk_task *t = st_spawn("queued", cancel_child, a);

	ST_WAIT_UNTIL(mutex__nwait(m) == nwait);
	return t;
}

static void *barge_root(void *arg)
{
	tsk_mutex *m = NULL;
	tsk_task *t[2];
	q_arg a[2];
	int order[2], norder = 0;

	(void)arg;
	TSK_EXPECT_EQ(tsk_mutex_create(&m, "barge"), 0);
	TSK_EXPECT_EQ(tsk_mutex_lock(m, TSK_FOREVER), 0);
	for (int i = 0; i < 2; i++) {
		a[i] = (q_arg){.m = m, .id = i, .order = order, .norder = &norder};
		t[i] = queue_one(m, &a[i], (unsigned)i + 1);
	}
	/* The unlock frees m and wakes t[0] to retry; on one worker it cannot
	 * run yet, so we take m back ahead of both queued tasks. */
	TSK_EXPECT_EQ(tsk_mutex_unlock(m), 0);
	TSK_EXPECT(!mutex__starving(m));
	TSK_EXPECT_EQ(tsk_mutex_trylock(m), 0);
	TSK_EXPECT_EQ(mutex__nwait(m), 2); /* the woken one is still in its lock call */
	/* t[0] is still on its way: this unlock must wake nobody else.  Had
	 * it woken t[1], t[1] would have become this worker's next task,
	 * ahead of t[0], and taken the free m first. */
	TSK_EXPECT_EQ(tsk_mutex_unlock(m), 0);
	for (int i = 0; i < 2; i++)
		TSK_EXPECT_EQ(st_join(t[i]), 0);
	TSK_EXPECT_EQ(norder, 2);
	TSK_EXPECT_EQ(order[0], 0);
	TSK_EXPECT_EQ(order[1], 1);
	TSK_EXPECT_EQ(tsk_mutex_destroy(m), 0);
	return NULL;
}

static void test_barging(void **state)
{
	(void)state;
	TSK_RUN(barge_root, NULL, 1);
}

/* ---- starvation mode engages against a task that keeps re-locking ------- */

typedef struct {
	tsk_mutex *m;
	int64_t end;       /* the barger gives up by then */
	atomic_long iters; /* the barger's acquisitions */
	atomic_bool got;   /* the waiter owns or owned m */
	int rc;            /* the waiter's lock result */
	int64_t waited;    /* ns the waiter's lock call took */
} starve_ctx;

/* Re-locks m in a loop, holding it across a yield so that a woken waiter
 * always finds it taken again when it runs.  On a mutex that only ever
 * barges, the waiter would never get it before the barger gives up. */
static void *starve_barger(void *arg)
{
	starve_ctx *x = arg;

	while (!atomic_load(&x->got) && tsk_now() < x->end) {
		TSK_EXPECT_EQ(tsk_mutex_lock(x->m, TSK_FOREVER), 0);
		atomic_fetch_add(&x->iters, 1);
		tsk_yield();
		TSK_EXPECT_EQ(tsk_mutex_unlock(x->m), 0);
	}
	return NULL;
}

static void *starve_waiter(void *arg)
{
	starve_ctx *x = arg;
	int64_t t0 = tsk_now();

	/* The deadline comes well before the barger gives up. */
	x->rc = tsk_mutex_lock(x->m, x->end - 500 * 1000000LL);
	x->waited = tsk_now() - t0;
	if (x->rc == 0) {
		atomic_store(&x->got, true);
		TSK_EXPECT_EQ(tsk_mutex_unlock(x->m), 0);
	}
	return NULL;
}

static void *starve_root(void *arg)
{
	starve_ctx x = {.iters = 0};
	tsk_task *b, *w;
	int workers = (int)(intptr_t)arg;

	TSK_EXPECT_EQ(tsk_mutex_create(&x.m, "starve"), 0);
	x.end = tsk_after_ms(2000);
	b = st_spawn("barger", starve_barger, &x);
	ST_WAIT_UNTIL(atomic_load(&x.iters) > 0);
	w = st_spawn("waiter", starve_waiter, &x);
	st_join(w);
	st_join(b);
	fprintf(stderr,
	        "starvation (%d workers): waiter got m after %.3f ms, barger %ld acquisitions\n",
	        workers, (double)x.waited / 1e6, atomic_load(&x.iters));
	/* Got it in time, so before the barger gave up: normally after about
	 * a millisecond; the generous deadline only absorbs a stalled
	 * machine. */
	TSK_EXPECT_EQ(x.rc, 0);
	TSK_EXPECT(!mutex__starving(x.m)); /* the last waiter left the mode */
	TSK_EXPECT_EQ(tsk_mutex_destroy(x.m), 0);
	return NULL;
}

/* On one worker the waiter can get m only by a starvation-mode hand-off: it
 * runs only while the barger holds m (across its yield). */
static void test_starvation_engages(void **state)
{
	(void)state;
	TSK_RUN(starve_root, (void *)(intptr_t)1, 1);
	TSK_RUN(starve_root, (void *)(intptr_t)2, 2);
}

/* ---- starvation mode: FIFO hand-off, no barging, leaving it ------------- */

/* Called by the root holding m with waiters queued: makes the first one
 * lose a retry after more than 1 ms, which puts m in starvation mode.  On
 * one worker only: the woken waiter must not run before we barge back. */
static void force_starvation(tsk_mutex *m)
{
	TSK_EXPECT_EQ(tsk_sleep(tsk_after_ms(2)), 0);
	TSK_EXPECT_EQ(tsk_mutex_unlock(m), 0);  /* wakes it to retry */
	TSK_EXPECT_EQ(tsk_mutex_trylock(m), 0); /* barge back in first */
	TSK_EXPECT(!mutex__starving(m));
	ST_WAIT_UNTIL(mutex__starving(m)); /* it ran, lost, and starved */
}

#define SFIFO_N 4

static void *sfifo_root(void *arg)
{
	tsk_mutex *m = NULL;
	tsk_task *t[SFIFO_N], *quitter;
	q_arg a[SFIFO_N], qa;
	int order[SFIFO_N + 2], norder = 0;

	(void)arg;
	TSK_EXPECT_EQ(tsk_mutex_create(&m, "sfifo"), 0);
	TSK_EXPECT_EQ(tsk_mutex_lock(m, TSK_FOREVER), 0);
	/* t[0] loses its retry and starves with t[1] queued behind it: it
	 * must go back to the front, ahead of t[1]. */
	for (int i = 0; i < 2; i++) {
		a[i] = (q_arg){.m = m, .id = i, .order = order, .norder = &norder};
		t[i] = queue_one(m, &a[i], (unsigned)i + 1);
	}
	force_starvation(m);

	/* Later lockers queue at the back; one of them is cancelled and must
	 * be skipped. */
	qa = (q_arg){.m = m, .id = 99, .order = order, .norder = &norder};
	quitter = queue_one(m, &qa, 3);
	for (int i = 2; i < SFIFO_N; i++) {
		a[i] = (q_arg){.m = m, .id = i, .order = order, .norder = &norder};
		t[i] = queue_one(m, &a[i], (unsigned)i + 2);
	}
	TSK_EXPECT_EQ(tsk_cancel(quitter), 0);
	TSK_EXPECT_EQ(st_join(quitter), -ECANCELED);
	TSK_EXPECT_EQ(mutex__nwait(m), SFIFO_N);
	/* Let every waiter wait over 1 ms, so each hand-off keeps the mode
	 * until the queue runs dry. */
	TSK_EXPECT_EQ(tsk_sleep(tsk_after_ms(2)), 0);
	TSK_EXPECT(mutex__starving(m));

	/* The unlock hands m to t[0] at once: we cannot barge back in. */
	TSK_EXPECT_EQ(tsk_mutex_unlock(m), 0);
	TSK_EXPECT_EQ(tsk_mutex_trylock(m), -EBUSY);
	TSK_EXPECT_EQ(tsk_mutex_unlock(m), -EPERM);
	/* A new locker queues at the back and is served last; the hand-off
	 * to it, the last one queued, ends starvation mode. */
	TSK_EXPECT_EQ(tsk_mutex_lock(m, TSK_FOREVER), 0);
	order[norder++] = SFIFO_N;
	TSK_EXPECT(!mutex__starving(m));
	TSK_EXPECT_EQ(tsk_mutex_unlock(m), 0);

	for (int i = 0; i < SFIFO_N; i++) {
		TSK_EXPECT_EQ(st_join(t[i]), 0);
		TSK_EXPECT(a[i].starving);
	}
	TSK_EXPECT_EQ(norder, SFIFO_N + 1);
	for (int i = 0; i <= SFIFO_N; i++)
		TSK_EXPECT_EQ(order[i], i);
	/* Normal mode again: a free m is simply taken. */
	TSK_EXPECT_EQ(tsk_mutex_trylock(m), 0);
	TSK_EXPECT_EQ(tsk_mutex_unlock(m), 0);
	TSK_EXPECT_EQ(tsk_mutex_destroy(m), 0);
	return NULL;
}

static void test_starvation_fifo(void **state)
{
	(void)state;
	TSK_RUN(sfifo_root, NULL, 1);
}

static void *sexit_root(void *arg)
{
	tsk_mutex *m = NULL;
	tsk_task *t[3];
	q_arg a[3];
	int order[3], norder = 0;

	(void)arg;
	TSK_EXPECT_EQ(tsk_mutex_create(&m, "sexit"), 0);
	TSK_EXPECT_EQ(tsk_mutex_lock(m, TSK_FOREVER), 0);
	a[0] = (q_arg){.m = m, .id = 0, .order = order, .norder = &norder};
	t[0] = queue_one(m, &a[0], 1);
	force_starvation(m);
	/* Two newcomers queue, in this order; yield (not sleep) so that they
	 * wait only microseconds. */
	for (int i = 1; i < 3; i++) {
		a[i] = (q_arg){.m = m, .id = i, .order = order, .norder = &norder};
		t[i] = st_spawn("new", cancel_child, &a[i]);
		for (int k = 0; k < 1000 && mutex__nwait(m) < (unsigned)i + 1; k++)
			tsk_yield();
	}
	TSK_EXPECT_EQ(mutex__nwait(m), 3);
	TSK_EXPECT_EQ(tsk_mutex_unlock(m), 0);
	for (int i = 0; i < 3; i++)
		TSK_EXPECT_EQ(st_join(t[i]), 0);
	TSK_EXPECT_EQ(norder, 3);
	for (int i = 0; i < 3; i++)
		TSK_EXPECT_EQ(order[i], i);
	/* t[0] waited over 1 ms with others queued: starvation mode holds.
	 * t[1] waited less (unless this machine stalled us for a
	 * millisecond): the hand-off to it ends the mode, t[2] gets m in
	 * normal mode. */
	TSK_EXPECT(a[0].starving);
	if (a[1].waited < 1000000) {
		TSK_EXPECT(!a[1].starving);
		TSK_EXPECT(!a[2].starving);
	} else {
		fprintf(stderr, "starvation exit: t[1] waited %.3f ms, mode check skipped\n",
		        (double)a[1].waited / 1e6);
	}
	TSK_EXPECT(!mutex__starving(m));
	TSK_EXPECT_EQ(tsk_mutex_destroy(m), 0);
	return NULL;
}

static void test_starvation_exit(void **state)
{
	(void)state;
	TSK_RUN(sexit_root, NULL, 1);
}

/* ---- a woken waiter that gives up passes the wake on -------------------- */

/* t[0] is woken to retry, then - before it runs - cancelled (arg NULL) or
 * made to miss its deadline (arg non-NULL), and m is taken back.  When it
 * runs it finds m held and leaves.  The unlock that follows must wake t[1];
 * were the pending wake lost with t[0], no unlock would ever wake t[1]
 * again. */
static void *passon_root(void *arg)
{
	bool timed = arg != NULL;
	tsk_mutex *m = NULL;
	tsk_task *t[2];
	q_arg a[2];
	int order[2], norder = 0;
	void *res = NULL;
	int rc;

	TSK_EXPECT_EQ(tsk_mutex_create(&m, "passon"), 0);
	TSK_EXPECT_EQ(tsk_mutex_lock(m, TSK_FOREVER), 0);
	for (int i = 0; i < 2; i++) {
		a[i] = (q_arg){.m = m, .id = i, .order = order, .norder = &norder};
		if (i == 0 && timed)
			a[i].deadline = tsk_after_ms(200);
		t[i] = queue_one(m, &a[i], (unsigned)i + 1);
	}
	TSK_EXPECT_EQ(tsk_mutex_unlock(m), 0); /* wakes t[0]; one worker: it waits to run */
	if (timed) {
		while (tsk_now() <= a[0].deadline)
			; /* no yield: t[0] must not run before its deadline */
	} else {
		TSK_EXPECT_EQ(tsk_cancel(t[0]), 0);
	}
	TSK_EXPECT_EQ(tsk_mutex_trylock(m), 0);
	TSK_EXPECT_EQ(st_join(t[0]), timed ? -ETIMEDOUT : -ECANCELED);
	TSK_EXPECT_EQ(mutex__nwait(m), 1);
	TSK_EXPECT_EQ(tsk_mutex_unlock(m), 0);
	rc = tsk_join(t[1], &res, tsk_after_ms(2000));
	TSK_EXPECT_EQ(rc, 0);
	if (rc == 0) {
		TSK_EXPECT_EQ((intptr_t)res, 0);
	} else { /* never woken: end it so the test can finish */
		TSK_EXPECT_EQ(tsk_cancel(t[1]), 0);
		st_join(t[1]);
	}
	TSK_EXPECT_EQ(norder, 1);
	TSK_EXPECT_EQ(order[0], 1);
	TSK_EXPECT_EQ(tsk_mutex_destroy(m), 0);
	return NULL;
}

static void test_woken_gives_up(void **state)
{
	(void)state;
	TSK_RUN(passon_root, NULL, 1);
	TSK_RUN(passon_root, (void *)1, 1);
}

/* ---- a woken waiter that cannot run still gets the lock ------------------- */

typedef struct {
	tsk_mutex *m;
	atomic_bool got; /* the waiter owns or owned m */
	int rc;          /* its lock result */
} pend_ctx;

static void *pend_waiter(void *arg)
{
	pend_ctx *x = arg;

	x->rc = tsk_mutex_lock(x->m, TSK_FOREVER);
	if (x->rc == 0) {
		atomic_store(&x->got, true);
		TSK_EXPECT_EQ(tsk_mutex_unlock(x->m), 0);
	}
	return NULL;
}

static void *pend_root(void *arg)
{
	pend_ctx x = {.rc = 1};
	tsk_task *t;
	int64_t end;
	long rounds = 0;

	(void)arg;
	TSK_EXPECT_EQ(tsk_mutex_create(&x.m, "pending"), 0);
	TSK_EXPECT_EQ(tsk_mutex_lock(x.m, TSK_FOREVER), 0);
	t = st_spawn("waiter", pend_waiter, &x);
	ST_WAIT_UNTIL(mutex__nwait(x.m) == 1);
	/* Release and retake m in a loop that never blocks or yields: on one
	 * worker the woken waiter cannot run to retry, so only an unlock that
	 * gives it m (once it has waited over 1 ms) makes our lock park and
	 * lets it run.  A mutex that only barges would spin here until the
	 * end. */
	end = tsk_after_ms(2000);
	while (!atomic_load(&x.got) && tsk_now() < end) {
		TSK_EXPECT_EQ(tsk_mutex_unlock(x.m), 0);
		TSK_EXPECT_EQ(tsk_mutex_lock(x.m, TSK_FOREVER), 0);
		rounds++;
	}
	TSK_EXPECT(atomic_load(&x.got));
	TSK_EXPECT(rounds > 0);
	TSK_EXPECT_EQ(tsk_mutex_unlock(x.m), 0);
	st_join(t);
	TSK_EXPECT_EQ(x.rc, 0);
	TSK_EXPECT(!mutex__starving(x.m));
	TSK_EXPECT_EQ(tsk_mutex_destroy(x.m), 0);
	return NULL;
}

static void test_woken_cannot_run(void **state)
{
	(void)state;
	TSK_RUN(pend_root, NULL, 1);
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

/* ---- no starvation under steady contention ------------------------------------ */

#define FAIR_N 8

typedef struct {
	tsk_mutex *m;
	int64_t end;              /* stop time */
	bool hold_yield;          /* hold m across a yield, so that the others pile up */
	int workers;              /* for the report */
	long count[FAIR_N];       /* acquisitions per task (own slot) */
	int64_t max_wait[FAIR_N]; /* longest single lock call, ns (own slot) */
	int64_t last_acquired;    /* tsk_now() of the latest acquisition by anyone, under m */
	int64_t max_stall;        /* longest time without any acquisition, ns, under m */
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
		int64_t t0 = tsk_now(), now, waited;

		TSK_EXPECT_EQ(tsk_mutex_lock(x->m, TSK_FOREVER), 0);
		now = tsk_now();
		waited = now - t0;
		if (waited > x->max_wait[a->id])
			x->max_wait[a->id] = waited;
		if (x->last_acquired != 0 && now - x->last_acquired > x->max_stall)
			x->max_stall = now - x->last_acquired;
		x->last_acquired = now;
		x->count[a->id]++;
		if (x->hold_yield)
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
	long min = -1, max = 0;
	int64_t max_wait = 0;

	TSK_EXPECT_EQ(tsk_mutex_create(&x->m, "fair"), 0);
	x->end = tsk_after_ms(200);
	for (int i = 0; i < FAIR_N; i++) {
		a[i] = (fair_arg){x, i};
		t[i] = st_spawn("fair", fair_task, &a[i]);
	}
	for (int i = 0; i < FAIR_N; i++)
		st_join(t[i]);
	for (int i = 0; i < FAIR_N; i++) {
		if (min < 0 || x->count[i] < min)
			min = x->count[i];
		if (x->count[i] > max)
			max = x->count[i];
		if (x->max_wait[i] > max_wait)
			max_wait = x->max_wait[i];
	}
	fprintf(stderr,
	        "no starvation (%s, %d workers): acquisitions per task %ld..%ld, longest wait "
	        "%.3f ms, longest stall %.3f ms\n",
	        x->hold_yield ? "held across a yield" : "tight loop", x->workers, min, max,
	        (double)max_wait / 1e6, (double)x->max_stall / 1e6);
	/* Everyone got the lock, and starvation mode bounds every wait to
	 * about a millisecond plus one round of the queue; 100 ms is
	 * generous.  A stall - nobody acquiring at all, because the OS or a
	 * sanitizer's stop-the-world pause held the workers - delays every
	 * waiter alike and is no starvation, so it does not count against
	 * the bound. */
	TSK_EXPECT(min > 0);
	TSK_EXPECT(max_wait < 100 * 1000000LL + x->max_stall);
	TSK_EXPECT_EQ(tsk_mutex_destroy(x->m), 0);
	return NULL;
}

static void test_no_starvation(void **state)
{
	(void)state;
	for (int workers = 1; workers <= 4; workers *= 2) {
		fair_ctx x = {.hold_yield = true, .workers = workers};

		TSK_RUN(fair_root, &x, workers);
	}
	/* A tight loop never yields: on one worker the first task would run
	 * alone until the end, so only with several. */
	for (int workers = 2; workers <= 4; workers *= 2) {
		fair_ctx x = {.hold_yield = false, .workers = workers};

		TSK_RUN(fair_root, &x, workers);
	}
}

/* ---- stress: a mutex-protected counter --------------------------------------- */

#define STRESS_TASKS    1000  /* at scale 1 */
#define STRESS_PER_TASK 10000 /* increments per task, at scale 1 */

typedef struct {
	tsk_mutex *m;
	long tasks;    /* how many increment */
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
	tsk_task **t = calloc((size_t)x->tasks, sizeof(*t));

	TSK_EXPECT(t != NULL);
	if (t == NULL)
		return NULL;
	TSK_EXPECT_EQ(tsk_mutex_create(&x->m, "stress"), 0);
	for (long i = 0; i < x->tasks; i++)
		t[i] = st_spawn("stress", stress_task, x);
	for (long i = 0; i < x->tasks; i++)
		st_join(t[i]);
	TSK_EXPECT_EQ(tsk_mutex_destroy(x->m), 0);
	free(t);
	return NULL;
}

/* 10M increments at scale 1.  The scale shrinks both the task count and
 * each task's share: under TSan every task is a fiber with a slot in the
 * vector clocks that each acquire and release walks, so an increment costs
 * in proportion to the tasks alive (100 us with 1000, once the lock turns
 * into a hand-off convoy), and scaling the increments alone left this test
 * at 95 s of the thread stage.  With 50 tasks of 500 (TSan's 0.05) the lock
 * still has waiters at most unlocks and enters starvation mode, on 2 and 4
 * workers alike. */
static void stress_run(int workers)
{
	stress_ctx x = {.tasks = tsk_test_scale(STRESS_TASKS),
	                .per_task = tsk_test_scale(STRESS_PER_TASK)};

	TSK_RUN(stress_root, &x, workers);
	assert_int_equal(x.counter, x.per_task * x.tasks);
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
	        ST_TEST(test_outside_task),    ST_TEST(test_basic),
	        ST_TEST(test_timeout),         ST_TEST(test_cancel),
	        ST_TEST(test_cancel_before),   ST_TEST(test_destroy_busy),
	        ST_TEST(test_barging),         ST_TEST(test_starvation_engages),
	        ST_TEST(test_starvation_fifo), ST_TEST(test_starvation_exit),
	        ST_TEST(test_woken_gives_up),  ST_TEST(test_woken_cannot_run),
	        ST_TEST(test_uncancellable),   ST_TEST(test_no_starvation),
	        ST_TEST(test_stress_2),        ST_TEST(test_stress_4),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
