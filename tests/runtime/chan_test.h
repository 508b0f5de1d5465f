/*
 * chan_test.h - helpers shared by test_chan.c and test_select.c: waiter
 * counts of a channel, spawn/join shorthands, the leak teardown.
 */
#ifndef CHAN_TEST_H
#define CHAN_TEST_H

#include "chan_int.h"
#include "tsk_test.h"

#define MS 1000000LL /* nanoseconds per millisecond */

/* ---- helpers --------------------------------------------------------- */

/* Queued or leaving waiters of c (the channel's own count). */
static inline size_t nwait(tsk_chan *c)
{
	size_t n;

	rt__spin_lock(&c->lock);
	n = c->nwait;
	rt__spin_unlock(&c->lock);
	return n;
}

/* From a task: waits (up to 10 s) until c has exactly n waiters. */
static inline void await_nwait(tsk_chan *c, size_t n)
{
	int64_t end = tsk_after_ms(10000);

	while (nwait(c) != n && tsk_now() < end)
		tsk_sleep(tsk_after_ms(1));
	TSK_EXPECT_EQ(nwait(c), n);
}

static inline int teardown_no_leak(void **state)
{
	(void)state;
	assert_int_equal(chan__live(), 0);
	return 0;
}

/* Spawns fn(arg) as a joinable task; the caller joins it. */
static inline tsk_task *spawn(const char *name, void *(*fn)(void *), void *arg)
{
	tsk_task *t = NULL;

	TSK_EXPECT_EQ(tsk_spawn(&t, name, fn, arg), 0);
	return t;
}

static inline void join(tsk_task *t)
{
	TSK_EXPECT_EQ(tsk_join(t, NULL, TSK_FOREVER), 0);
}

#endif
