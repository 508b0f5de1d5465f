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
 * Leak check: st_leak_setup (a cmocka group setup) warms the runtime up and
 * records the heap bytes in use (glibc mallinfo2: every arena, sbrk and
 * mmap chunks); st_test_no_leaks, the last test of each binary, runs the
 * same warm-up and checks the heap is back to that figure.  Under ASan the
 * sanitizer's allocator bypasses glibc's, so the figure stays flat and
 * LeakSanitizer, which runs at exit, does the checking instead.
 */
#ifndef SYNC_TEST_H
#define SYNC_TEST_H

#include <malloc.h>
#include <stdint.h>

#include "mutex_int.h"
#include "taskscope.h"
#include "tsk_test.h"

#define ST_WAIT_UNTIL(cond)                                                                     \
	do {                                                                                    \
		int64_t st_end_ = tsk_after_ms(10000);                                          \
		while (!(cond) && tsk_now() < st_end_)                                          \
			tsk_sleep(tsk_after_ms(1));                                             \
		TSK_EXPECT(cond);                                                               \
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

static inline size_t st_heap_in_use(void)
{
	struct mallinfo2 mi = mallinfo2();

	return mi.uordblks + mi.hblkhd;
}

static size_t st_heap_baseline;

static void *st_warm_child(void *arg)
{
	return arg;
}

/* Spawns and joins a few tasks on 4 workers, so that one-time allocations
 * (thread arenas, stdio buffers, runtime globals) happen before the
 * baseline is taken. */
static void *st_warm_root(void *arg)
{
	tsk_task *t[8];
	tsk_mutex *m = NULL;

	(void)arg;
	for (int i = 0; i < 8; i++)
		t[i] = st_spawn("warm", st_warm_child, NULL);
	for (int i = 0; i < 8; i++)
		st_join(t[i]);
	TSK_EXPECT_EQ(tsk_mutex_create(&m, "warm"), 0);
	TSK_EXPECT_EQ(tsk_mutex_destroy(m), 0);
	return NULL;
}

static inline int st_leak_setup(void **state)
{
	(void)state;
	for (int i = 0; i < 2; i++)
		TSK_RUN(st_warm_root, NULL, 4);
	st_heap_baseline = st_heap_in_use();
	return 0;
}

static inline void st_test_no_leaks(void **state)
{
	(void)state;
	TSK_RUN(st_warm_root, NULL, 4);
	assert_int_equal(st_heap_in_use(), st_heap_baseline);
}

#endif /* SYNC_TEST_H */
