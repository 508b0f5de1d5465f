/*
 * tsk_test.h - helpers shared by the cmocka tests.
 *
 * tsk_test_scale(n): stress tests size their loops with it so that the
 * sanitizer runs (which are 5-20x slower) can shrink them without a second
 * copy of each test.  TSK_TEST_SCALE=0.1 in the environment runs a tenth of
 * the work; the default is 1.  The result is never below 1.
 *
 * tsk_test_scale_tasks(n): tsk_test_scale for a number of tasks to spawn,
 * and under ThreadSanitizer (TSK_TEST_TSAN defined) a fifth of that.  There
 * each task is a TSan fiber, created with a thread state of its own that
 * TSan maps and zeroes: a spawn costs about 1 ms (GCC 12's libtsan, mostly
 * page faults) against about 1 us in the plain build, far beyond the 5-20x
 * the stage's scale is sized for.  The result is never below 1.
 *
 * TSK_TEST_ONLY=pattern (a cmocka pattern, * and ? allowed) runs only the
 * matching tests of a binary, for timing or reproducing one of them.
 *
 * TSK_RUN(root, arg, workers): runs root under a fresh runtime, asserts that
 * tsk_run returned 0 and that no TSK_EXPECT failed, and evaluates to the
 * root's result.
 *
 * TSK_EXPECT(cond) / TSK_EXPECT_EQ(a, b): checks for use INSIDE tasks.
 * cmocka's assert_* longjmp on failure, which must never cross from a task
 * stack to the test's stack, so inside tasks we only count and print
 * failures; TSK_RUN asserts the count is zero once tsk_run has returned.
 */
#ifndef TSK_TEST_H
#define TSK_TEST_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <setjmp.h>
#include <cmocka.h>

#include "taskscope.h"

static inline long tsk_test_scale(long n)
{
	const char *s = getenv("TSK_TEST_SCALE");
	double f = s ? atof(s) : 1.0;
	long r = (long)((double)n * (f > 0 ? f : 1.0));
	return r < 1 ? 1 : r;
}

#if defined(__SANITIZE_THREAD__)
#define TSK_TEST_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define TSK_TEST_TSAN 1
#endif
#endif

static inline long tsk_test_scale_tasks(long n)
{
#ifdef TSK_TEST_TSAN
	n /= 5;
#endif
	return tsk_test_scale(n);
}

/* Runs before main(), so that every binary honours TSK_TEST_ONLY without a
 * line of its own. */
__attribute__((constructor)) static void tsk_test_only(void)
{
	const char *pattern = getenv("TSK_TEST_ONLY");

	if (pattern != NULL && pattern[0] != '\0')
		cmocka_set_test_filter(pattern);
}

#include <stdatomic.h>
#include <stdio.h>

static atomic_long tsk_test_failed;

#define TSK_EXPECT(cond)                                                                           \
	do {                                                                                       \
		if (!(cond)) {                                                                     \
			atomic_fetch_add(&tsk_test_failed, 1);                                     \
			fprintf(stderr, "%s:%d: expectation failed: %s\n", __FILE__, __LINE__,     \
			        #cond);                                                            \
		}                                                                                  \
	} while (0)

#define TSK_EXPECT_EQ(a, b)                                                                        \
	do {                                                                                       \
		long long tsk_a_ = (long long)(a), tsk_b_ = (long long)(b);                        \
		if (tsk_a_ != tsk_b_) {                                                            \
			atomic_fetch_add(&tsk_test_failed, 1);                                     \
			fprintf(stderr, "%s:%d: expected %s == %s (%lld != %lld)\n", __FILE__,     \
			        __LINE__, #a, #b, tsk_a_, tsk_b_);                                 \
		}                                                                                  \
	} while (0)

static inline void *tsk_test_run(void *(*root)(void *), void *arg, int workers)
{
	tsk_config cfg = {.workers = workers};
	void *res = NULL;
	assert_int_equal(tsk_run(root, arg, &cfg, &res), 0);
	assert_int_equal(atomic_exchange(&tsk_test_failed, 0), 0);
	return res;
}
#define TSK_RUN(root, arg, workers) tsk_test_run(root, arg, workers)

#endif
