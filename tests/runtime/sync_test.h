/*
 * sync_test.h - helpers shared by the lock-family tests (test_mutex.c,
 * test_rwlock.c, test_sem.c, test_wg.c, test_cond.c).
 *
 * ST_WAIT_UNTIL(cond): inside a task, polls cond every millisecond for up to
 * 10 s (sleeping, so other tasks run even on one worker) and fails the test
 * if it never holds.  Used with the *__nwait queries of mutex_int.h to know
 * a task has really parked before acting on it, instead of guessing with a
 * fixed sleep.
 *
 * st_spawn / st_join: spawn and join with failures counted, task results
 * passed as intptr_t.
 *
 * Leak check: every test is registered with ST_TEST, whose teardown checks
 * that no object of the lock family is left alive (the *__live counts of
 * mutex_int.h).  Memory itself is checked by the sanitizer build, where
 * LeakSanitizer fails the binary at exit (glibc's own per-thread
 * allocations make a heap-size comparison too noisy to be a test).
 */
#ifndef SYNC_TEST_H
#define SYNC_TEST_H

#include <stdint.h>

#include "mutex_int.h"
#include "taskscope.h"
#include "tsk_test.h"

#define ST_WAIT_UNTIL(cond)                                                                        \
	do {                                                                                       \
		int64_t st_end_ = tsk_after_ms(10000);                                             \
		while (!(cond) && tsk_now() < st_end_)                                             \
			tsk_sleep(tsk_after_ms(1));                                                \
		TSK_EXPECT(cond);                                                                  \
	} while (0)

/* Spawns a joinable task; a failure is counted and gives NULL. */
static inline tsk_task *st_spawn(const char *name, void *(*fn)(void *), void *arg)
{
	tsk_task *t = NULL;

	TSK_EXPECT_EQ(tsk_spawn(&t, name, fn, arg), 0);
	return t;
}

/* Joins t (waiting at most 60 s) and returns its result as an intptr_t. */
static inline intptr_t st_join(tsk_task *t)
{
	void *res = NULL;

	if (t == NULL)
		return INTPTR_MIN;
	TSK_EXPECT_EQ(tsk_join(t, &res, tsk_after_ms(60000)), 0);
	return (intptr_t)res;
}

/* Milliseconds since `start` (a tsk_now() value). */
static inline int64_t st_ms_since(int64_t start)
{
	return (tsk_now() - start) / 1000000;
}

/* cmocka teardown: fails the test if it left a lock-family object alive. */
static inline int st_no_leak(void **state)
{
	(void)state;
	assert_int_equal(mutex__live(), 0);
	assert_int_equal(rwlock__live(), 0);
	assert_int_equal(sem__live(), 0);
	assert_int_equal(wg__live(), 0);
	assert_int_equal(cond__live(), 0);
	return 0;
}

#define ST_TEST(f) cmocka_unit_test_teardown(f, st_no_leak)

#endif /* SYNC_TEST_H */
