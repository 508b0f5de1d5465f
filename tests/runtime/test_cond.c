/*
 * test_cond.c - tests of runtime/src/cond.c (tsk_cond).
 *
 * Every call's success and error paths (-EPERM without owning the mutex or
 * outside a task), signal waking exactly the longest waiter and broadcast
 * waking all, timeouts and cancellation returning with the mutex owned -
 * including a cancelled waiter that must wait for the mutex uncancellably -
 * destroy while waited on, tsk_run's shutdown cancelling a waiter whose
 * mutex is held by another blocked task, a ping-pong that would hang on a
 * lost wake-up, and a bounded-buffer producer/consumer with predicate loops
 * on 2 and 4 workers.  Every test ends by checking that no object was left alive.
 */
#include <errno.h>
#include <stdatomic.h>
#include <stdint.h>

#include "sync_test.h"

/* ---- outside any task, and -EPERM -------------------------------------- */

static void test_outside_task(void **state)
{
	tsk_cond *c = NULL;
	tsk_mutex *m = NULL;

	(void)state;
	assert_int_equal(tsk_cond_create(NULL, "x"), -EINVAL);
	assert_int_equal(tsk_cond_destroy(NULL), 0);
	assert_int_equal(tsk_cond_signal(NULL), -EINVAL);
	assert_int_equal(tsk_cond_broadcast(NULL), -EINVAL);

	assert_int_equal(tsk_cond_create(&c, NULL), 0);
	assert_int_equal(tsk_mutex_create(&m, "m"), 0);
	assert_int_equal(tsk_cond_wait(NULL, m, TSK_FOREVER), -EINVAL);
	assert_int_equal(tsk_cond_wait(c, NULL, TSK_FOREVER), -EINVAL);
	assert_int_equal(tsk_cond_signal(c), 0); /* nobody waits: no-op */
	assert_int_equal(tsk_cond_broadcast(c), 0);
	assert_int_equal(tsk_cond_wait(c, m, TSK_FOREVER), -EPERM);
	assert_int_equal(tsk_mutex_lock(m, TSK_FOREVER), 0);
	assert_int_equal(tsk_cond_wait(c, m, TSK_FOREVER), -EPERM); /* not a task */
	assert_int_equal(tsk_mutex_unlock(m), 0);                   /* still held: not released */
	assert_int_equal(tsk_mutex_destroy(m), 0);
	assert_int_equal(tsk_cond_destroy(c), 0);

	assert_int_equal((tsk_cond_create)(&c, "plain"), 0);
	assert_int_equal(tsk_cond_destroy(c), 0);
}

typedef struct {
	tsk_cond *c;
	tsk_mutex *m;
	int64_t deadline;
	int flag;          /* predicate, under m */
	atomic_int woken;  /* waiters that returned 0 */
	atomic_int log[8]; /* ids in wake order */
	atomic_int nlog;
	atomic_int owned; /* waiters that owned m on return */
} cv_ctx;

typedef struct {
	cv_ctx *x;
	int id;
} cv_arg;

/* Waits once (no predicate loop: spurious wake-ups must not happen) and
 * checks it owns m afterwards.  Returns the wait's result. */
static void *cv_waiter(void *arg)
{
	cv_arg *a = arg;
	cv_ctx *x = a->x;
	int rc;

	TSK_EXPECT_EQ(tsk_mutex_lock(x->m, TSK_FOREVER), 0);
	rc = tsk_cond_wait(x->c, x->m, x->deadline);
	if (mutex__owned_by(x->m, tsk_self()))
		atomic_fetch_add(&x->owned, 1);
	if (rc == 0) {
		atomic_fetch_add(&x->woken, 1);
		atomic_store(&x->log[atomic_fetch_add(&x->nlog, 1)], a->id);
	}
	TSK_EXPECT_EQ(tsk_mutex_unlock(x->m), 0);
	return (void *)(intptr_t)rc;
}

static void *perm_other(void *arg)
{
	cv_ctx *x = arg;

	/* m is the root's, not ours. */
	TSK_EXPECT_EQ(tsk_cond_wait(x->c, x->m, TSK_FOREVER), -EPERM);
	return NULL;
}

static void *perm_root(void *arg)
{
	cv_ctx x = {0};

	(void)arg;
	TSK_EXPECT_EQ(tsk_cond_create(&x.c, "perm"), 0);
	TSK_EXPECT_EQ(tsk_mutex_create(&x.m, "perm"), 0);
	TSK_EXPECT_EQ(tsk_cond_wait(x.c, x.m, TSK_FOREVER), -EPERM); /* unlocked */
	TSK_EXPECT_EQ(tsk_mutex_lock(x.m, TSK_FOREVER), 0);
	st_join(st_spawn("other", perm_other, &x));
	TSK_EXPECT(mutex__owned_by(x.m, tsk_self()));
	TSK_EXPECT_EQ(tsk_mutex_unlock(x.m), 0);
	TSK_EXPECT_EQ(tsk_mutex_destroy(x.m), 0);
	TSK_EXPECT_EQ(tsk_cond_destroy(x.c), 0);
	return NULL;
}

static void test_perm(void **state)
{
	(void)state;
	TSK_RUN(perm_root, NULL, 2);
}

/* ---- signal and broadcast ---------------------------------------------------- */

#define SIG_N 4

static void *signal_root(void *arg)
{
	cv_ctx x = {.deadline = TSK_FOREVER};
	cv_arg a[SIG_N];
	tsk_task *t[SIG_N];

	(void)arg;
	TSK_EXPECT_EQ(tsk_cond_create(&x.c, "signal"), 0);
	TSK_EXPECT_EQ(tsk_mutex_create(&x.m, "signal"), 0);
	for (int i = 0; i < SIG_N; i++) {
		a[i] = (cv_arg){&x, i};
		t[i] = st_spawn("waiter", cv_waiter, &a[i]);
		ST_WAIT_UNTIL(cond__nwait(x.c) == (unsigned)i + 1);
	}
	/* Every waiter released m on the way in. */
	TSK_EXPECT_EQ(tsk_mutex_trylock(x.m), 0);
	TSK_EXPECT_EQ(tsk_mutex_unlock(x.m), 0);
	TSK_EXPECT_EQ(tsk_cond_destroy(x.c), -EBUSY);

	/* signal wakes exactly one, the longest waiting. */
	TSK_EXPECT_EQ(tsk_cond_signal(x.c), 0);
	ST_WAIT_UNTIL(atomic_load(&x.woken) == 1);
	TSK_EXPECT_EQ(st_join(t[0]), 0);
	TSK_EXPECT_EQ(atomic_load(&x.log[0]), 0);
	TSK_EXPECT_EQ(tsk_sleep(tsk_after_ms(10)), 0);
	TSK_EXPECT_EQ(atomic_load(&x.woken), 1);
	TSK_EXPECT_EQ(cond__nwait(x.c), SIG_N - 1);

	/* Woken, a waiter still needs m: hold it and see it wait there. */
	TSK_EXPECT_EQ(tsk_mutex_lock(x.m, TSK_FOREVER), 0);
	TSK_EXPECT_EQ(tsk_cond_signal(x.c), 0);
	ST_WAIT_UNTIL(mutex__nwait(x.m) == 1);
	TSK_EXPECT_EQ(atomic_load(&x.woken), 1);
	TSK_EXPECT_EQ(tsk_mutex_unlock(x.m), 0);
	TSK_EXPECT_EQ(st_join(t[1]), 0);

	/* broadcast wakes the rest. */
	TSK_EXPECT_EQ(tsk_cond_broadcast(x.c), 0);
	for (int i = 2; i < SIG_N; i++)
		TSK_EXPECT_EQ(st_join(t[i]), 0);
	TSK_EXPECT_EQ(atomic_load(&x.woken), SIG_N);
	TSK_EXPECT_EQ(atomic_load(&x.owned), SIG_N);
	TSK_EXPECT_EQ(cond__nwait(x.c), 0);
	TSK_EXPECT_EQ(tsk_cond_signal(x.c), 0); /* nobody left: no-op */
	TSK_EXPECT_EQ(tsk_mutex_destroy(x.m), 0);
	TSK_EXPECT_EQ(tsk_cond_destroy(x.c), 0);
	return NULL;
}

static void test_signal_broadcast(void **state)
{
	(void)state;
	TSK_RUN(signal_root, NULL, 1);
	TSK_RUN(signal_root, NULL, 4);
}

/* ---- timeouts ------------------------------------------------------------------ */

static void *timeout_root(void *arg)
{
	cv_ctx x = {0};
	int64_t t0;

	(void)arg;
	TSK_EXPECT_EQ(tsk_cond_create(&x.c, "timeout"), 0);
	TSK_EXPECT_EQ(tsk_mutex_create(&x.m, "timeout"), 0);
	TSK_EXPECT_EQ(tsk_mutex_lock(x.m, TSK_FOREVER), 0);
	t0 = tsk_now();
	TSK_EXPECT_EQ(tsk_cond_wait(x.c, x.m, tsk_after_ms(50)), -ETIMEDOUT);
	TSK_EXPECT(st_ms_since(t0) >= 50);
	TSK_EXPECT(mutex__owned_by(x.m, tsk_self()));
	/* A deadline already past: at once, m never released. */
	TSK_EXPECT_EQ(tsk_cond_wait(x.c, x.m, tsk_now() - 1), -ETIMEDOUT);
	TSK_EXPECT(mutex__owned_by(x.m, tsk_self()));
	TSK_EXPECT_EQ(cond__nwait(x.c), 0);
	TSK_EXPECT_EQ(tsk_mutex_unlock(x.m), 0);

	/* Timed out while someone else holds m: returns only once it is ours. */
	x.deadline = tsk_after_ms(30);
	cv_arg a = {&x, 0};
	tsk_task *t = st_spawn("waiter", cv_waiter, &a);
	ST_WAIT_UNTIL(cond__nwait(x.c) == 1);
	TSK_EXPECT_EQ(tsk_mutex_lock(x.m, TSK_FOREVER), 0);
	ST_WAIT_UNTIL(mutex__nwait(x.m) == 1); /* timed out, now after m */
	TSK_EXPECT_EQ(tsk_join(t, NULL, tsk_after_ms(20)), -ETIMEDOUT);
	TSK_EXPECT_EQ(tsk_mutex_unlock(x.m), 0);
	TSK_EXPECT_EQ(st_join(t), -ETIMEDOUT);
	TSK_EXPECT_EQ(atomic_load(&x.owned), 1);

	TSK_EXPECT_EQ(tsk_mutex_destroy(x.m), 0);
	TSK_EXPECT_EQ(tsk_cond_destroy(x.c), 0);
	return NULL;
}

static void test_timeout(void **state)
{
	(void)state;
	TSK_RUN(timeout_root, NULL, 2);
}

/* ---- cancellation ---------------------------------------------------------------- */

static void *cancel_root(void *arg)
{
	cv_ctx x = {.deadline = TSK_FOREVER};
	cv_arg a[2] = {{&x, 0}, {&x, 1}};
	tsk_task *t[2];

	(void)arg;
	TSK_EXPECT_EQ(tsk_cond_create(&x.c, "cancel"), 0);
	TSK_EXPECT_EQ(tsk_mutex_create(&x.m, "cancel"), 0);

	/* A cancelled waiter returns -ECANCELED owning m. */
	t[0] = st_spawn("waiter", cv_waiter, &a[0]);
	ST_WAIT_UNTIL(cond__nwait(x.c) == 1);
	TSK_EXPECT_EQ(tsk_cancel(t[0]), 0);
	TSK_EXPECT_EQ(st_join(t[0]), -ECANCELED);
	TSK_EXPECT_EQ(atomic_load(&x.owned), 1);
	TSK_EXPECT_EQ(cond__nwait(x.c), 0);

	/* Cancelled while m is held elsewhere: it must wait for m even though
	 * it is cancelled, and only then return. */
	t[1] = st_spawn("waiter", cv_waiter, &a[1]);
	ST_WAIT_UNTIL(cond__nwait(x.c) == 1);
	TSK_EXPECT_EQ(tsk_mutex_lock(x.m, TSK_FOREVER), 0);
	TSK_EXPECT_EQ(tsk_cancel(t[1]), 0);
	ST_WAIT_UNTIL(mutex__nwait(x.m) == 1);
	TSK_EXPECT_EQ(tsk_join(t[1], NULL, tsk_after_ms(20)), -ETIMEDOUT);
	TSK_EXPECT_EQ(tsk_mutex_unlock(x.m), 0);
	TSK_EXPECT_EQ(st_join(t[1]), -ECANCELED);
	TSK_EXPECT_EQ(atomic_load(&x.owned), 2);
	TSK_EXPECT_EQ(atomic_load(&x.woken), 0);

	TSK_EXPECT_EQ(tsk_mutex_destroy(x.m), 0);
	TSK_EXPECT_EQ(tsk_cond_destroy(x.c), 0);
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
	cv_ctx *x = arg;

	ST_WAIT_UNTIL(tsk_cancelled());
	TSK_EXPECT_EQ(tsk_mutex_lock(x->m, tsk_now() - 1), 0); /* free: taken */
	TSK_EXPECT_EQ(tsk_cond_wait(x->c, x->m, TSK_FOREVER), -ECANCELED);
	TSK_EXPECT(mutex__owned_by(x->m, tsk_self()));
	TSK_EXPECT_EQ(tsk_mutex_unlock(x->m), 0);
	return NULL;
}

static void *precancel_root(void *arg)
{
	cv_ctx x = {0};
	tsk_task *t;

	(void)arg;
	TSK_EXPECT_EQ(tsk_cond_create(&x.c, "pre"), 0);
	TSK_EXPECT_EQ(tsk_mutex_create(&x.m, "pre"), 0);
	t = st_spawn("pre", precancel_child, &x);
	TSK_EXPECT_EQ(tsk_cancel(t), 0);
	st_join(t);
	TSK_EXPECT_EQ(tsk_mutex_destroy(x.m), 0);
	TSK_EXPECT_EQ(tsk_cond_destroy(x.c), 0);
	return NULL;
}

static void test_cancel_before(void **state)
{
	(void)state;
	TSK_RUN(precancel_root, NULL, 2);
}

/* ---- tsk_run's shutdown cancels what still waits --------------------------------- */

typedef struct {
	tsk_cond *c;
	tsk_mutex *m;
	tsk_wg *g;          /* never reaches zero: the holder waits on it forever */
	atomic_int cond_rc; /* the condvar waiter's result */
	atomic_int owned;   /* it owned m on return */
	atomic_int hold_rc; /* the holder's wg wait result */
	atomic_int parked;  /* tasks about to block */
} sd_ctx;

static void *sd_waiter(void *arg)
{
	sd_ctx *x = arg;

	TSK_EXPECT_EQ(tsk_mutex_lock(x->m, TSK_FOREVER), 0);
	atomic_fetch_add(&x->parked, 1);
	atomic_store(&x->cond_rc, tsk_cond_wait(x->c, x->m, TSK_FOREVER));
	atomic_store(&x->owned, mutex__owned_by(x->m, tsk_self()));
	TSK_EXPECT_EQ(tsk_mutex_unlock(x->m), 0);
	return NULL;
}

static void *sd_holder(void *arg)
{
	sd_ctx *x = arg;

	/* Takes m once the waiter sleeps on c, then blocks holding it. */
	ST_WAIT_UNTIL(cond__nwait(x->c) == 1);
	TSK_EXPECT_EQ(tsk_mutex_lock(x->m, TSK_FOREVER), 0);
	atomic_fetch_add(&x->parked, 1);
	atomic_store(&x->hold_rc, tsk_wg_wait(x->g, TSK_FOREVER));
	TSK_EXPECT_EQ(tsk_mutex_unlock(x->m), 0);
	return NULL;
}

static void *sd_root(void *arg)
{
	sd_ctx *x = arg;

	TSK_EXPECT_EQ(tsk_spawn(NULL, "waiter", sd_waiter, x), 0);
	TSK_EXPECT_EQ(tsk_spawn(NULL, "holder", sd_holder, x), 0);
	ST_WAIT_UNTIL(atomic_load(&x->parked) == 2);
	return NULL; /* leaves both blocked: tsk_run must cancel them */
}

/* The waiter's cancelled wait must still reacquire m, which the holder only
 * gives back once its own wait is cancelled: tsk_run ends neither early nor
 * never. */
static void test_shutdown(void **state)
{
	sd_ctx x = {.cond_rc = 1, .hold_rc = 1};

	(void)state;
	assert_int_equal(tsk_cond_create(&x.c, "sd"), 0);
	assert_int_equal(tsk_mutex_create(&x.m, "sd"), 0);
	assert_int_equal(tsk_wg_create(&x.g, "sd"), 0);
	assert_int_equal(tsk_wg_add(x.g, 1), 0);
	TSK_RUN(sd_root, &x, 2);
	assert_int_equal(atomic_load(&x.cond_rc), -ECANCELED);
	assert_int_equal(atomic_load(&x.owned), 1);
	assert_int_equal(atomic_load(&x.hold_rc), -ECANCELED);
	assert_int_equal(tsk_wg_destroy(x.g), 0);
	assert_int_equal(tsk_mutex_destroy(x.m), 0);
	assert_int_equal(tsk_cond_destroy(x.c), 0);
}

/* ---- ping-pong: a lost wake-up hangs it ------------------------------------------ */

typedef struct {
	tsk_cond *c;
	tsk_mutex *m;
	long rounds;
	long turn; /* under m: even = ping's move, odd = pong's */
} pp_ctx;

typedef struct {
	pp_ctx *x;
	long parity;
} pp_arg;

static void *pp_task(void *arg)
{
	pp_arg *a = arg;
	pp_ctx *x = a->x;

	TSK_EXPECT_EQ(tsk_mutex_lock(x->m, TSK_FOREVER), 0);
	while (x->turn < 2 * x->rounds) {
		while ((x->turn & 1) != a->parity && x->turn < 2 * x->rounds) {
			/* Generous deadline: reaching it means a lost wake-up. */
			int rc = tsk_cond_wait(x->c, x->m, tsk_after_ms(10000));
			TSK_EXPECT_EQ(rc, 0);
			if (rc != 0)
				goto out;
		}
		if (x->turn < 2 * x->rounds) {
			x->turn++;
			TSK_EXPECT_EQ(tsk_cond_signal(x->c), 0);
		}
	}
out:
	TSK_EXPECT_EQ(tsk_mutex_unlock(x->m), 0);
	return NULL;
}

static void *pp_root(void *arg)
{
	pp_ctx *x = arg;
	pp_arg a[2] = {{x, 0}, {x, 1}};
	tsk_task *t[2];

	TSK_EXPECT_EQ(tsk_cond_create(&x->c, "pp"), 0);
	TSK_EXPECT_EQ(tsk_mutex_create(&x->m, "pp"), 0);
	t[0] = st_spawn("ping", pp_task, &a[0]);
	t[1] = st_spawn("pong", pp_task, &a[1]);
	st_join(t[0]);
	st_join(t[1]);
	TSK_EXPECT_EQ(tsk_mutex_destroy(x->m), 0);
	TSK_EXPECT_EQ(tsk_cond_destroy(x->c), 0);
	return NULL;
}

static void test_ping_pong(void **state)
{
	(void)state;
	for (int workers = 1; workers <= 4; workers *= 2) {
		pp_ctx x = {.rounds = tsk_test_scale(20000)};

		TSK_RUN(pp_root, &x, workers);
		assert_int_equal(x.turn, 2 * x.rounds);
	}
}

/* ---- bounded-buffer producer/consumer ------------------------------------------------ */

#define PC_CAP       8
#define PC_PRODUCERS 4
#define PC_CONSUMERS 4

typedef struct {
	tsk_mutex *m;
	tsk_cond *not_full, *not_empty;
	long buf[PC_CAP]; /* ring, under m */
	int head, len;    /* under m */
	int producing;    /* producers still running, under m */
	long per_producer;
	atomic_long consumed, sum;
} pc_ctx;

static void *producer(void *arg)
{
	pc_ctx *x = arg;

	for (long i = 1; i <= x->per_producer; i++) {
		TSK_EXPECT_EQ(tsk_mutex_lock(x->m, TSK_FOREVER), 0);
		while (x->len == PC_CAP)
			TSK_EXPECT_EQ(tsk_cond_wait(x->not_full, x->m, TSK_FOREVER), 0);
		x->buf[(x->head + x->len++) % PC_CAP] = i;
		TSK_EXPECT_EQ(tsk_cond_signal(x->not_empty), 0);
		TSK_EXPECT_EQ(tsk_mutex_unlock(x->m), 0);
	}
	TSK_EXPECT_EQ(tsk_mutex_lock(x->m, TSK_FOREVER), 0);
	if (--x->producing == 0)
		TSK_EXPECT_EQ(tsk_cond_broadcast(x->not_empty), 0);
	TSK_EXPECT_EQ(tsk_mutex_unlock(x->m), 0);
	return NULL;
}

static void *consumer(void *arg)
{
	pc_ctx *x = arg;

	TSK_EXPECT_EQ(tsk_mutex_lock(x->m, TSK_FOREVER), 0);
	for (;;) {
		while (x->len == 0 && x->producing > 0)
			TSK_EXPECT_EQ(tsk_cond_wait(x->not_empty, x->m, TSK_FOREVER), 0);
		if (x->len == 0)
			break; /* drained and no producer left */
		long v = x->buf[x->head];
		x->head = (x->head + 1) % PC_CAP;
		x->len--;
		TSK_EXPECT_EQ(tsk_cond_signal(x->not_full), 0);
		TSK_EXPECT_EQ(tsk_mutex_unlock(x->m), 0);
		atomic_fetch_add(&x->consumed, 1);
		atomic_fetch_add(&x->sum, v);
		TSK_EXPECT_EQ(tsk_mutex_lock(x->m, TSK_FOREVER), 0);
	}
	TSK_EXPECT_EQ(tsk_mutex_unlock(x->m), 0);
	return NULL;
}

static void *pc_root(void *arg)
{
	pc_ctx *x = arg;
	tsk_task *t[PC_PRODUCERS + PC_CONSUMERS];

	TSK_EXPECT_EQ(tsk_mutex_create(&x->m, "pc"), 0);
	TSK_EXPECT_EQ(tsk_cond_create(&x->not_full, "not_full"), 0);
	TSK_EXPECT_EQ(tsk_cond_create(&x->not_empty, "not_empty"), 0);
	x->producing = PC_PRODUCERS;
	for (int i = 0; i < PC_CONSUMERS; i++)
		t[i] = st_spawn("consumer", consumer, x);
	for (int i = 0; i < PC_PRODUCERS; i++)
		t[PC_CONSUMERS + i] = st_spawn("producer", producer, x);
	for (int i = 0; i < PC_PRODUCERS + PC_CONSUMERS; i++)
		st_join(t[i]);
	TSK_EXPECT_EQ(tsk_cond_destroy(x->not_empty), 0);
	TSK_EXPECT_EQ(tsk_cond_destroy(x->not_full), 0);
	TSK_EXPECT_EQ(tsk_mutex_destroy(x->m), 0);
	return NULL;
}

static void test_producer_consumer(void **state)
{
	(void)state;
	for (int workers = 2; workers <= 4; workers += 2) {
		pc_ctx x = {.per_producer = tsk_test_scale(50000)};
		long n = x.per_producer;

		TSK_RUN(pc_root, &x, workers);
		assert_int_equal(atomic_load(&x.consumed), n * PC_PRODUCERS);
		assert_int_equal(atomic_load(&x.sum), PC_PRODUCERS * n * (n + 1) / 2);
		assert_int_equal(x.len, 0);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        ST_TEST(test_outside_task),
	        ST_TEST(test_perm),
	        ST_TEST(test_signal_broadcast),
	        ST_TEST(test_timeout),
	        ST_TEST(test_cancel),
	        ST_TEST(test_cancel_before),
	        ST_TEST(test_shutdown),
	        ST_TEST(test_ping_pong),
	        ST_TEST(test_producer_consumer),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
