/*
 * test_rwlock.c - tests of runtime/src/rwlock.c (tsk_rwlock).
 *
 * Every call's success and error paths (inside and outside tasks), the
 * writer-preferring policy (a queued writer stops new readers), the reader
 * batch admitted by a writer's unlock, the direct hand-off to a writer by
 * the last reader, readers released when the writer holding them back gives
 * up, timeouts, cancellation, destroy while busy, starvation freedom of
 * both sides and an invariant-checking stress (never a writer together with
 * readers or another writer).  Every test ends by checking that no object
 * was left alive.
 */
#include <errno.h>
#include <stdatomic.h>
#include <stdint.h>

#include "sync_test.h"

/* ---- outside any task ------------------------------------------------- */

static void test_outside_task(void **state)
{
	tsk_rwlock *l = NULL;

	(void)state;
	assert_int_equal(tsk_rwlock_create(NULL, "x"), -EINVAL);
	assert_int_equal(tsk_rwlock_destroy(NULL), 0);
	assert_int_equal(tsk_rwlock_rdlock(NULL, TSK_FOREVER), -EINVAL);
	assert_int_equal(tsk_rwlock_wrlock(NULL, TSK_FOREVER), -EINVAL);
	assert_int_equal(tsk_rwlock_tryrdlock(NULL), -EINVAL);
	assert_int_equal(tsk_rwlock_trywrlock(NULL), -EINVAL);
	assert_int_equal(tsk_rwlock_unlock(NULL), -EINVAL);

	assert_int_equal(tsk_rwlock_create(&l, NULL), 0);
	assert_int_equal(tsk_rwlock_unlock(l), -EPERM);
	/* Two readers, no writer. */
	assert_int_equal(tsk_rwlock_rdlock(l, TSK_FOREVER), 0);
	assert_int_equal(tsk_rwlock_tryrdlock(l), 0);
	assert_int_equal(tsk_rwlock_trywrlock(l), -EBUSY);
	assert_int_equal(tsk_rwlock_wrlock(l, TSK_FOREVER), -EPERM); /* would block */
	assert_int_equal(tsk_rwlock_destroy(l), -EBUSY);
	assert_int_equal(tsk_rwlock_unlock(l), 0);
	assert_int_equal(tsk_rwlock_unlock(l), 0);
	assert_int_equal(tsk_rwlock_unlock(l), -EPERM);
	/* A writer. */
	assert_int_equal(tsk_rwlock_wrlock(l, TSK_FOREVER), 0);
	assert_int_equal(tsk_rwlock_tryrdlock(l), -EBUSY);
	assert_int_equal(tsk_rwlock_trywrlock(l), -EBUSY);
	assert_int_equal(tsk_rwlock_rdlock(l, tsk_after_ms(10)), -EPERM);
	assert_int_equal(tsk_rwlock_destroy(l), -EBUSY);
	assert_int_equal(tsk_rwlock_unlock(l), 0);
	assert_int_equal(tsk_rwlock_trywrlock(l), 0);
	assert_int_equal(tsk_rwlock_unlock(l), 0);
	assert_int_equal(tsk_rwlock_destroy(l), 0);

	assert_int_equal((tsk_rwlock_create)(&l, "plain"), 0);
	assert_int_equal((tsk_rwlock_rdlock)(l, TSK_FOREVER), 0);
	assert_int_equal(tsk_rwlock_unlock(l), 0);
	assert_int_equal((tsk_rwlock_wrlock)(l, TSK_FOREVER), 0);
	assert_int_equal(tsk_rwlock_unlock(l), 0);
	assert_int_equal(tsk_rwlock_destroy(l), 0);
}

/* ---- shared helpers ------------------------------------------------------- */

typedef struct {
	tsk_rwlock *l;
	atomic_int readers_in; /* readers inside */
	atomic_int writers_in; /* writers inside */
	atomic_int log[16];    /* ids in acquisition order */
	atomic_int nlog;
	atomic_int release; /* holders wait for this before unlocking */
} rw_ctx;

typedef struct {
	rw_ctx *x;
	int id;
	bool writer;
	int64_t deadline;
} rw_arg;

/* Takes the lock, logs its id, holds it until x->release, unlocks.  Returns
 * the lock call's result. */
static void *rw_holder(void *arg)
{
	rw_arg *a = arg;
	rw_ctx *x = a->x;
	int rc = a->writer ? tsk_rwlock_wrlock(x->l, a->deadline)
	                   : tsk_rwlock_rdlock(x->l, a->deadline);

	if (rc != 0)
		return (void *)(intptr_t)rc;
	if (a->writer) {
		TSK_EXPECT_EQ(atomic_fetch_add(&x->writers_in, 1), 0);
		TSK_EXPECT_EQ(atomic_load(&x->readers_in), 0);
	} else {
		atomic_fetch_add(&x->readers_in, 1);
		TSK_EXPECT_EQ(atomic_load(&x->writers_in), 0);
	}
	atomic_store(&x->log[atomic_fetch_add(&x->nlog, 1)], a->id);
	ST_WAIT_UNTIL(atomic_load(&x->release));
	if (a->writer)
		atomic_fetch_sub(&x->writers_in, 1);
	else
		atomic_fetch_sub(&x->readers_in, 1);
	TSK_EXPECT_EQ(tsk_rwlock_unlock(x->l), 0);
	return NULL;
}

/* ---- policy ---------------------------------------------------------------- */

static void *policy_root(void *arg)
{
	rw_ctx x = {0};
	rw_arg a[6];
	tsk_task *t[6];

	(void)arg;
	TSK_EXPECT_EQ(tsk_rwlock_create(&x.l, "policy"), 0);

	/* Root reads; writer 0 queues; now a new reader must queue too. */
	TSK_EXPECT_EQ(tsk_rwlock_rdlock(x.l, TSK_FOREVER), 0);
	TSK_EXPECT_EQ(tsk_rwlock_tryrdlock(x.l), 0); /* no writer waiting yet */
	TSK_EXPECT_EQ(tsk_rwlock_unlock(x.l), 0);
	a[0] = (rw_arg){&x, 0, true, TSK_FOREVER};
	t[0] = st_spawn("w0", rw_holder, &a[0]);
	ST_WAIT_UNTIL(rwlock__nwait(x.l) == 1);
	TSK_EXPECT_EQ(tsk_rwlock_tryrdlock(x.l), -EBUSY);
	TSK_EXPECT_EQ(tsk_rwlock_trywrlock(x.l), -EBUSY);
	/* Readers 1, 2 queue behind the writer, then writer 3, then reader 4. */
	for (int i = 1; i <= 4; i++) {
		a[i] = (rw_arg){&x, i, i == 3, TSK_FOREVER};
		t[i] = st_spawn("rw", rw_holder, &a[i]);
		ST_WAIT_UNTIL(rwlock__nwait(x.l) == (unsigned)i + 1);
	}
	TSK_EXPECT_EQ(atomic_load(&x.nlog), 0);
	TSK_EXPECT_EQ(tsk_rwlock_destroy(x.l), -EBUSY);

	/* The last reader's unlock hands the lock to writer 0 directly. */
	TSK_EXPECT_EQ(tsk_rwlock_unlock(x.l), 0);
	ST_WAIT_UNTIL(atomic_load(&x.nlog) == 1);
	TSK_EXPECT_EQ(tsk_rwlock_unlock(x.l), -EPERM); /* the root holds nothing */
	TSK_EXPECT_EQ(atomic_load(&x.log[0]), 0);
	/* Writer 0's unlock admits all waiting readers (1, 2 and 4, which
	 * came after writer 3) as one batch, before writer 3. */
	atomic_store(&x.release, 1);
	ST_WAIT_UNTIL(atomic_load(&x.nlog) == 5);
	for (int i = 0; i < 5; i++)
		TSK_EXPECT_EQ(st_join(t[i]), 0);
	TSK_EXPECT_EQ(atomic_load(&x.log[4]), 3);
	TSK_EXPECT_EQ(tsk_rwlock_destroy(x.l), 0);
	return NULL;
}

static void test_policy(void **state)
{
	(void)state;
	TSK_RUN(policy_root, NULL, 1);
	TSK_RUN(policy_root, NULL, 4);
}

/* The reader batch really runs concurrently, and the writer queued behind it
 * waits until the whole batch has left. */
static void *batch_root(void *arg)
{
	rw_ctx x = {0};
	rw_arg a[6];
	tsk_task *t[6];

	(void)arg;
	TSK_EXPECT_EQ(tsk_rwlock_create(&x.l, "batch"), 0);
	TSK_EXPECT_EQ(tsk_rwlock_wrlock(x.l, TSK_FOREVER), 0);
	for (int i = 0; i < 6; i++) {
		a[i] = (rw_arg){&x, i, i == 3, TSK_FOREVER};
		t[i] = st_spawn("rw", rw_holder, &a[i]);
		ST_WAIT_UNTIL(rwlock__nwait(x.l) == (unsigned)i + 1);
	}
	TSK_EXPECT_EQ(tsk_rwlock_unlock(x.l), 0);
	ST_WAIT_UNTIL(atomic_load(&x.readers_in) == 5);
	TSK_EXPECT_EQ(atomic_load(&x.writers_in), 0);
	TSK_EXPECT_EQ(rwlock__nwait(x.l), 1); /* writer 3 */
	atomic_store(&x.release, 1);
	for (int i = 0; i < 6; i++)
		TSK_EXPECT_EQ(st_join(t[i]), 0);
	TSK_EXPECT_EQ(atomic_load(&x.log[5]), 3);
	TSK_EXPECT_EQ(tsk_rwlock_destroy(x.l), 0);
	return NULL;
}

static void test_batch(void **state)
{
	(void)state;
	TSK_RUN(batch_root, NULL, 2);
}

/* A writer that gives up lets in the readers it was holding back, even while
 * the lock stays read-held; the next writer after a writer gets a hand-off. */
static void *giveup_root(void *arg)
{
	rw_ctx x = {0};
	rw_arg a[3];
	tsk_task *t[3];

	(void)arg;
	TSK_EXPECT_EQ(tsk_rwlock_create(&x.l, "giveup"), 0);
	TSK_EXPECT_EQ(tsk_rwlock_rdlock(x.l, TSK_FOREVER), 0);
	a[0] = (rw_arg){&x, 0, true, tsk_after_ms(100)};
	t[0] = st_spawn("w", rw_holder, &a[0]);
	ST_WAIT_UNTIL(rwlock__nwait(x.l) == 1);
	a[1] = (rw_arg){&x, 1, false, TSK_FOREVER};
	t[1] = st_spawn("r", rw_holder, &a[1]);
	ST_WAIT_UNTIL(rwlock__nwait(x.l) == 2);
	TSK_EXPECT_EQ(st_join(t[0]), -ETIMEDOUT);
	/* The root still reads; reader 1 must be in now. */
	ST_WAIT_UNTIL(atomic_load(&x.readers_in) == 1);
	atomic_store(&x.release, 1);
	TSK_EXPECT_EQ(st_join(t[1]), 0);
	TSK_EXPECT_EQ(tsk_rwlock_unlock(x.l), 0);

	/* Writer to writer: a direct hand-off, nothing in between. */
	atomic_store(&x.release, 0);
	TSK_EXPECT_EQ(tsk_rwlock_wrlock(x.l, TSK_FOREVER), 0);
	a[2] = (rw_arg){&x, 2, true, TSK_FOREVER};
	t[2] = st_spawn("w2", rw_holder, &a[2]);
	ST_WAIT_UNTIL(rwlock__nwait(x.l) == 1);
	TSK_EXPECT_EQ(tsk_rwlock_unlock(x.l), 0);
	TSK_EXPECT_EQ(tsk_rwlock_trywrlock(x.l), -EBUSY);
	TSK_EXPECT_EQ(tsk_rwlock_tryrdlock(x.l), -EBUSY);
	atomic_store(&x.release, 1);
	TSK_EXPECT_EQ(st_join(t[2]), 0);
	TSK_EXPECT_EQ(tsk_rwlock_destroy(x.l), 0);
	return NULL;
}

static void test_writer_gives_up(void **state)
{
	(void)state;
	TSK_RUN(giveup_root, NULL, 1);
	TSK_RUN(giveup_root, NULL, 2);
}

/* ---- timeouts, cancellation, destroy, -EPERM ----------------------------- */

static void *timeout_child(void *arg)
{
	tsk_rwlock *l = arg;
	int64_t t0 = tsk_now();

	/* The root holds the write lock. */
	TSK_EXPECT_EQ(tsk_rwlock_rdlock(l, tsk_after_ms(40)), -ETIMEDOUT);
	TSK_EXPECT(st_ms_since(t0) >= 40);
	t0 = tsk_now();
	TSK_EXPECT_EQ(tsk_rwlock_wrlock(l, tsk_after_ms(40)), -ETIMEDOUT);
	TSK_EXPECT(st_ms_since(t0) >= 40);
	TSK_EXPECT_EQ(tsk_rwlock_rdlock(l, tsk_now() - 1), -ETIMEDOUT);
	TSK_EXPECT_EQ(tsk_rwlock_unlock(l), -EPERM); /* not the writer */
	return NULL;
}

static void *timeout_child_rd(void *arg)
{
	tsk_rwlock *l = arg;
	int64_t t0 = tsk_now();

	/* The root holds a read lock. */
	TSK_EXPECT_EQ(tsk_rwlock_wrlock(l, tsk_after_ms(40)), -ETIMEDOUT);
	TSK_EXPECT(st_ms_since(t0) >= 40);
	TSK_EXPECT_EQ(tsk_rwlock_rdlock(l, tsk_now() - 1), 0); /* free for readers */
	TSK_EXPECT_EQ(tsk_rwlock_unlock(l), 0);
	return NULL;
}

static void *timeout_root(void *arg)
{
	tsk_rwlock *l = NULL;

	(void)arg;
	TSK_EXPECT_EQ(tsk_rwlock_create(&l, "timeout"), 0);
	TSK_EXPECT_EQ(tsk_rwlock_wrlock(l, TSK_FOREVER), 0);
	st_join(st_spawn("t", timeout_child, l));
	TSK_EXPECT_EQ(tsk_rwlock_unlock(l), 0);
	TSK_EXPECT_EQ(tsk_rwlock_rdlock(l, TSK_FOREVER), 0);
	st_join(st_spawn("t", timeout_child_rd, l));
	TSK_EXPECT_EQ(rwlock__nwait(l), 0);
	TSK_EXPECT_EQ(tsk_rwlock_unlock(l), 0);
	TSK_EXPECT_EQ(tsk_rwlock_destroy(l), 0);
	return NULL;
}

static void test_timeout(void **state)
{
	(void)state;
	TSK_RUN(timeout_root, NULL, 2);
}

static void *cancel_root(void *arg)
{
	rw_ctx x = {0};
	rw_arg a[2];
	tsk_task *t[2];

	(void)arg;
	TSK_EXPECT_EQ(tsk_rwlock_create(&x.l, "cancel"), 0);
	TSK_EXPECT_EQ(tsk_rwlock_wrlock(x.l, TSK_FOREVER), 0);
	a[0] = (rw_arg){&x, 0, false, TSK_FOREVER};
	a[1] = (rw_arg){&x, 1, true, TSK_FOREVER};
	t[0] = st_spawn("r", rw_holder, &a[0]);
	ST_WAIT_UNTIL(rwlock__nwait(x.l) == 1);
	t[1] = st_spawn("w", rw_holder, &a[1]);
	ST_WAIT_UNTIL(rwlock__nwait(x.l) == 2);
	TSK_EXPECT_EQ(tsk_rwlock_destroy(x.l), -EBUSY);
	TSK_EXPECT_EQ(tsk_cancel(t[0]), 0);
	TSK_EXPECT_EQ(tsk_cancel(t[1]), 0);
	TSK_EXPECT_EQ(st_join(t[0]), -ECANCELED);
	TSK_EXPECT_EQ(st_join(t[1]), -ECANCELED);
	TSK_EXPECT_EQ(rwlock__nwait(x.l), 0);
	TSK_EXPECT_EQ(atomic_load(&x.nlog), 0);
	TSK_EXPECT_EQ(tsk_rwlock_destroy(x.l), -EBUSY); /* still written */
	TSK_EXPECT_EQ(tsk_rwlock_unlock(x.l), 0);
	/* Nobody took it on the cancelled tasks' behalf. */
	TSK_EXPECT_EQ(tsk_rwlock_trywrlock(x.l), 0);
	TSK_EXPECT_EQ(tsk_rwlock_unlock(x.l), 0);
	TSK_EXPECT_EQ(tsk_rwlock_destroy(x.l), 0);
	return NULL;
}

static void test_cancel(void **state)
{
	(void)state;
	TSK_RUN(cancel_root, NULL, 1);
	TSK_RUN(cancel_root, NULL, 4);
}

/* ---- starvation freedom ------------------------------------------------------- */

typedef struct {
	tsk_rwlock *l;
	atomic_bool stop;
	atomic_long reads, writes;
} starve_ctx;

static void *starve_reader(void *arg)
{
	starve_ctx *x = arg;

	while (!atomic_load(&x->stop)) {
		TSK_EXPECT_EQ(tsk_rwlock_rdlock(x->l, TSK_FOREVER), 0);
		atomic_fetch_add(&x->reads, 1);
		tsk_yield(); /* overlap with the other readers */
		TSK_EXPECT_EQ(tsk_rwlock_unlock(x->l), 0);
	}
	return NULL;
}

static void *starve_writer(void *arg)
{
	starve_ctx *x = arg;

	while (!atomic_load(&x->stop)) {
		TSK_EXPECT_EQ(tsk_rwlock_wrlock(x->l, TSK_FOREVER), 0);
		atomic_fetch_add(&x->writes, 1);
		tsk_yield();
		TSK_EXPECT_EQ(tsk_rwlock_unlock(x->l), 0);
	}
	return NULL;
}

typedef struct {
	starve_ctx x;
	int nr, nw;
} starve_cfg;

static void *starve_root(void *arg)
{
	starve_cfg *c = arg;
	tsk_task *t[16];
	int n = 0;

	TSK_EXPECT_EQ(tsk_rwlock_create(&c->x.l, "starve"), 0);
	for (int i = 0; i < c->nr; i++)
		t[n++] = st_spawn("reader", starve_reader, &c->x);
	for (int i = 0; i < c->nw; i++)
		t[n++] = st_spawn("writer", starve_writer, &c->x);
	tsk_sleep(tsk_after_ms(200));
	atomic_store(&c->x.stop, true);
	for (int i = 0; i < n; i++)
		st_join(t[i]);
	TSK_EXPECT(atomic_load(&c->x.reads) > 0);
	TSK_EXPECT(atomic_load(&c->x.writes) > 0);
	TSK_EXPECT_EQ(tsk_rwlock_destroy(c->x.l), 0);
	return NULL;
}

/* nr readers and nw writers hammer the lock for 200 ms; both sides must
 * make progress. */
static void starve_run(int nr, int nw, int workers)
{
	starve_cfg c = {.nr = nr, .nw = nw};

	TSK_RUN(starve_root, &c, workers);
}

static void test_no_starvation(void **state)
{
	(void)state;
	starve_run(8, 1, 2); /* a lone writer among many readers */
	starve_run(1, 8, 2); /* a lone reader among many writers */
	starve_run(6, 6, 4);
}

/* ---- stress: the invariant -------------------------------------------------- */

typedef struct {
	tsk_rwlock *l;
	long iters;
	atomic_int readers_in, writers_in;
	long value; /* written by writers only, under the write lock */
	atomic_long max_readers;
} inv_ctx;

static void *inv_reader(void *arg)
{
	inv_ctx *x = arg;

	for (long i = 0; i < x->iters; i++) {
		TSK_EXPECT_EQ(tsk_rwlock_rdlock(x->l, TSK_FOREVER), 0);
		long in = atomic_fetch_add(&x->readers_in, 1) + 1;
		long m = atomic_load(&x->max_readers);
		while (in > m && !atomic_compare_exchange_weak(&x->max_readers, &m, in))
			;
		TSK_EXPECT_EQ(atomic_load(&x->writers_in), 0);
		long v = x->value;
		if ((i & 7) == 0)
			tsk_yield();
		TSK_EXPECT_EQ(x->value, v); /* no writer changed it under us */
		atomic_fetch_sub(&x->readers_in, 1);
		TSK_EXPECT_EQ(tsk_rwlock_unlock(x->l), 0);
	}
	return NULL;
}

static void *inv_writer(void *arg)
{
	inv_ctx *x = arg;

	for (long i = 0; i < x->iters; i++) {
		TSK_EXPECT_EQ(tsk_rwlock_wrlock(x->l, TSK_FOREVER), 0);
		TSK_EXPECT_EQ(atomic_fetch_add(&x->writers_in, 1), 0);
		TSK_EXPECT_EQ(atomic_load(&x->readers_in), 0);
		x->value++;
		if ((i & 7) == 0)
			tsk_yield();
		atomic_fetch_sub(&x->writers_in, 1);
		TSK_EXPECT_EQ(tsk_rwlock_unlock(x->l), 0);
	}
	return NULL;
}

#define INV_READERS 24
#define INV_WRITERS 8

static void *inv_root(void *arg)
{
	inv_ctx *x = arg;
	tsk_task *t[INV_READERS + INV_WRITERS];

	TSK_EXPECT_EQ(tsk_rwlock_create(&x->l, "inv"), 0);
	for (int i = 0; i < INV_READERS + INV_WRITERS; i++)
		t[i] = st_spawn("inv", i % 4 == 3 ? inv_writer : inv_reader, x);
	for (int i = 0; i < INV_READERS + INV_WRITERS; i++)
		st_join(t[i]);
	TSK_EXPECT_EQ(tsk_rwlock_destroy(x->l), 0);
	return NULL;
}

static void test_stress(void **state)
{
	(void)state;
	for (int workers = 2; workers <= 4; workers += 2) {
		inv_ctx x = {.iters = tsk_test_scale(20000)};

		TSK_RUN(inv_root, &x, workers);
		assert_int_equal(x.value, x.iters * INV_WRITERS);
		assert_true(atomic_load(&x.max_readers) > 1); /* readers did overlap */
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        ST_TEST(test_outside_task),    ST_TEST(test_policy),  ST_TEST(test_batch),
	        ST_TEST(test_writer_gives_up), ST_TEST(test_timeout), ST_TEST(test_cancel),
	        ST_TEST(test_no_starvation),   ST_TEST(test_stress),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
