/*
 * test_wg.c - tests of runtime/src/wg.c (tsk_wg).
 *
 * Every call's success and error paths (a negative counter is -EINVAL and
 * changes nothing; waiting outside a task only when it would block is
 * -EPERM), wait returning at once at zero, every waiter woken by the last
 * done, timeouts, cancellation, destroy while waited on, and 10k tasks
 * finishing through one wait group.  Every test ends by checking that no
 * object was left alive.
 *
 * Not tested: -EOVERFLOW of tsk_wg_add, which needs the counter past
 * INT64_MAX, i.e. ~2^32 calls of add(INT_MAX).
 */
#include <errno.h>
#include <limits.h>
#include <stdatomic.h>
#include <stdint.h>

#include "sync_test.h"

/* ---- outside any task ------------------------------------------------- */

static void test_outside_task(void **state)
{
	tsk_wg *g = NULL;

	(void)state;
	assert_int_equal(tsk_wg_create(NULL, "x"), -EINVAL);
	assert_int_equal(tsk_wg_destroy(NULL), 0);
	assert_int_equal(tsk_wg_add(NULL, 1), -EINVAL);
	assert_int_equal(tsk_wg_done(NULL), -EINVAL);
	assert_int_equal(tsk_wg_wait(NULL, TSK_FOREVER), -EINVAL);

	assert_int_equal(tsk_wg_create(&g, NULL), 0);
	assert_int_equal(tsk_wg_wait(g, TSK_FOREVER), 0); /* zero: no wait */
	assert_int_equal(tsk_wg_done(g), -EINVAL);
	assert_int_equal(tsk_wg_add(g, -1), -EINVAL);
	assert_int_equal(tsk_wg_add(g, INT_MIN), -EINVAL);
	assert_int_equal(tsk_wg_add(g, 0), 0);
	assert_int_equal(tsk_wg_add(g, 3), 0);
	assert_int_equal(tsk_wg_wait(g, TSK_FOREVER), -EPERM); /* would block */
	assert_int_equal(tsk_wg_wait(g, tsk_after_ms(10)), -EPERM);
	assert_int_equal(tsk_wg_add(g, -4), -EINVAL); /* nothing changes: 3 left */
	assert_int_equal(tsk_wg_done(g), 0);
	assert_int_equal(tsk_wg_add(g, -2), 0);
	assert_int_equal(tsk_wg_wait(g, TSK_FOREVER), 0);
	assert_int_equal(tsk_wg_done(g), -EINVAL);
	assert_int_equal(tsk_wg_add(g, INT_MAX), 0);
	assert_int_equal(tsk_wg_add(g, INT_MAX), 0); /* the counter is 64-bit */
	assert_int_equal(tsk_wg_add(g, INT_MIN), 0);
	assert_int_equal(tsk_wg_add(g, INT_MIN + 2), 0);
	assert_int_equal(tsk_wg_wait(g, TSK_FOREVER), 0); /* back to zero */
	/* A non-zero counter alone does not make it busy. */
	assert_int_equal(tsk_wg_add(g, 1), 0);
	assert_int_equal(tsk_wg_destroy(g), 0);

	assert_int_equal((tsk_wg_create)(&g, "plain"), 0);
	assert_int_equal((tsk_wg_wait)(g, TSK_FOREVER), 0);
	assert_int_equal(tsk_wg_destroy(g), 0);
}

/* ---- waking ---------------------------------------------------------------- */

#define WAITERS 5

typedef struct {
	tsk_wg *g;
	int64_t deadline;
	atomic_int woken;
} wake_ctx;

static void *waiter(void *arg)
{
	wake_ctx *x = arg;
	int rc = tsk_wg_wait(x->g, x->deadline);

	if (rc == 0)
		atomic_fetch_add(&x->woken, 1);
	return (void *)(intptr_t)rc;
}

static void *wake_root(void *arg)
{
	wake_ctx x = {.deadline = TSK_FOREVER};
	tsk_task *t[WAITERS];

	(void)arg;
	TSK_EXPECT_EQ(tsk_wg_create(&x.g, "wake"), 0);
	TSK_EXPECT_EQ(tsk_wg_wait(x.g, TSK_FOREVER), 0); /* zero: at once */
	TSK_EXPECT_EQ(tsk_wg_add(x.g, 2), 0);
	for (int i = 0; i < WAITERS; i++)
		t[i] = st_spawn("waiter", waiter, &x);
	ST_WAIT_UNTIL(wg__nwait(x.g) == WAITERS);
	TSK_EXPECT_EQ(tsk_wg_destroy(x.g), -EBUSY);
	TSK_EXPECT_EQ(tsk_wg_done(x.g), 0);
	TSK_EXPECT_EQ(tsk_sleep(tsk_after_ms(10)), 0);
	TSK_EXPECT_EQ(atomic_load(&x.woken), 0); /* still one to go */
	TSK_EXPECT_EQ(tsk_wg_add(x.g, -2), -EINVAL);
	TSK_EXPECT_EQ(tsk_wg_done(x.g), 0);
	for (int i = 0; i < WAITERS; i++)
		TSK_EXPECT_EQ(st_join(t[i]), 0);
	TSK_EXPECT_EQ(atomic_load(&x.woken), WAITERS);
	TSK_EXPECT_EQ(wg__nwait(x.g), 0);
	TSK_EXPECT_EQ(tsk_wg_destroy(x.g), 0);
	return NULL;
}

static void test_wake_all(void **state)
{
	(void)state;
	TSK_RUN(wake_root, NULL, 1);
	TSK_RUN(wake_root, NULL, 4);
}

/* ---- timeouts and cancellation ------------------------------------------------ */

static void *timeout_root(void *arg)
{
	tsk_wg *g = NULL;
	int64_t t0;

	(void)arg;
	TSK_EXPECT_EQ(tsk_wg_create(&g, "timeout"), 0);
	TSK_EXPECT_EQ(tsk_wg_add(g, 1), 0);
	t0 = tsk_now();
	TSK_EXPECT_EQ(tsk_wg_wait(g, tsk_after_ms(50)), -ETIMEDOUT);
	TSK_EXPECT(st_ms_since(t0) >= 50);
	TSK_EXPECT_EQ(tsk_wg_wait(g, tsk_now() - 1), -ETIMEDOUT);
	TSK_EXPECT_EQ(wg__nwait(g), 0);
	TSK_EXPECT_EQ(tsk_wg_done(g), 0);
	TSK_EXPECT_EQ(tsk_wg_wait(g, tsk_now() - 1), 0); /* zero beats the deadline */
	TSK_EXPECT_EQ(tsk_wg_destroy(g), 0);
	return NULL;
}

static void test_timeout(void **state)
{
	(void)state;
	TSK_RUN(timeout_root, NULL, 2);
}

static void *cancel_root(void *arg)
{
	wake_ctx x = {.deadline = TSK_FOREVER};
	tsk_task *t[2];

	(void)arg;
	TSK_EXPECT_EQ(tsk_wg_create(&x.g, "cancel"), 0);
	TSK_EXPECT_EQ(tsk_wg_add(x.g, 1), 0);
	t[0] = st_spawn("waiter", waiter, &x);
	t[1] = st_spawn("waiter", waiter, &x);
	ST_WAIT_UNTIL(wg__nwait(x.g) == 2);
	TSK_EXPECT_EQ(tsk_cancel(t[0]), 0);
	TSK_EXPECT_EQ(st_join(t[0]), -ECANCELED);
	TSK_EXPECT_EQ(wg__nwait(x.g), 1);
	TSK_EXPECT_EQ(tsk_wg_destroy(x.g), -EBUSY);
	TSK_EXPECT_EQ(tsk_wg_done(x.g), 0);
	TSK_EXPECT_EQ(st_join(t[1]), 0);
	TSK_EXPECT_EQ(atomic_load(&x.woken), 1);
	TSK_EXPECT_EQ(tsk_wg_destroy(x.g), 0);
	return NULL;
}

static void test_cancel(void **state)
{
	(void)state;
	TSK_RUN(cancel_root, NULL, 1);
	TSK_RUN(cancel_root, NULL, 4);
}

/* ---- 10k tasks --------------------------------------------------------------- */

typedef struct {
	tsk_wg *g;
	atomic_long sum;
} many_ctx;

typedef struct {
	many_ctx *x;
	long id;
} many_arg;

static void *many_task(void *arg)
{
	many_arg *a = arg;

	if ((a->id & 3) == 0)
		tsk_yield();
	atomic_fetch_add(&a->x->sum, a->id);
	TSK_EXPECT_EQ(tsk_wg_done(a->x->g), 0);
	return NULL;
}

static void *many_root(void *arg)
{
	long n = tsk_test_scale(10000);
	many_ctx *x = arg;
	many_arg *a = calloc((size_t)n, sizeof(*a));

	TSK_EXPECT(a != NULL);
	if (a == NULL)
		return NULL;
	TSK_EXPECT_EQ(tsk_wg_create(&x->g, "many"), 0);
	TSK_EXPECT_EQ(tsk_wg_add(x->g, (int)n), 0);
	for (long i = 0; i < n; i++) {
		a[i] = (many_arg){x, i + 1};
		TSK_EXPECT_EQ(tsk_spawn(NULL, "many", many_task, &a[i]), 0); /* detached */
	}
	TSK_EXPECT_EQ(tsk_wg_wait(x->g, tsk_after_ms(60000)), 0);
	TSK_EXPECT_EQ(atomic_load(&x->sum), n * (n + 1) / 2);
	TSK_EXPECT_EQ(tsk_wg_done(x->g), -EINVAL);
	/* The detached tasks may still be finishing (after their done); their
	 * a[] entries are no longer read, and tsk_run waits for them. */
	TSK_EXPECT_EQ(tsk_wg_destroy(x->g), 0);
	free(a);
	return NULL;
}

static void test_many(void **state)
{
	(void)state;
	for (int workers = 1; workers <= 4; workers *= 2) {
		many_ctx x = {0};

		TSK_RUN(many_root, &x, workers);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        ST_TEST(test_outside_task), ST_TEST(test_wake_all), ST_TEST(test_timeout),
	        ST_TEST(test_cancel),       ST_TEST(test_many),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
