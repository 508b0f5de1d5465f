/*
 * mutex_int.h - the private interface of the lock family (mutex.c,
 * rwlock.c, sem.c, wg.c, cond.c): what cond.c needs of mutex.c, the
 * deferred wake-ups they all use, and the waiter and object counts (and the
 * mutex's mode) the unit tests and later the inspector read.
 *
 * tsk_cond_wait must give its mutex back before it parks and own it again on
 * every return, even after a timeout or a cancellation; the calls below are
 * the two halves of that, kept out of the public API because a user-visible
 * uncancellable lock would break the "every blocking call is a cancellation
 * point" rule of SPEC.md §3.
 */
#ifndef MUTEX_INT_H
#define MUTEX_INT_H

#include <stdbool.h>

#include "rt_int.h"
#include "taskscope.h"

/* ---- deferred wake-ups ------------------------------------------------- */

/* Waiters a waker has claimed (and completed: result set, ownership moved)
 * under the object's spinlock, to be made runnable once it has dropped the
 * lock.  Safe because a claimed waiter stays where it is until rt__ready:
 * its task cannot return from rt__wait before, so the waiter on its stack
 * and the task stay valid while the object itself may already be gone.
 * Worth it because rt__ready may wake an idle worker with a futex call,
 * which must not lengthen a spinlock's critical section. */
typedef struct sync_wakes {
	rt_waiter *head; /* first claimed waiter, linked through ->next */
	rt_waiter *tail; /* last one, for FIFO order */
} sync_wakes;

/* Adds a claimed waiter, already popped off its queue; under the lock. */
static inline void sync__defer(sync_wakes *wk, rt_waiter *w)
{
	w->next = NULL;
	if (wk->tail)
		wk->tail->next = w;
	else
		wk->head = w;
	wk->tail = w;
}

/* Readies every deferred waiter's task, in claim order; after the unlock. */
static inline void sync__flush(sync_wakes *wk)
{
	rt_waiter *w = wk->head, *next;

	while (w != NULL) {
		next = w->next; /* w is gone once its task runs */
		rt__ready(w->task);
		w = next;
	}
	wk->head = wk->tail = NULL;
}

/* ---- for tsk_cond_wait --------------------------------------------------- */

/* Whether m is locked by the task `self` (which must be non-NULL: a lock
 * taken outside any task belongs to no task).  Takes m's spinlock, so the
 * answer is exact when self is the calling task: only the owner can change
 * it from true to false, and only self can make it true. */
bool mutex__owned_by(tsk_mutex *m, const tsk_task *self);

/* Locks m for the calling task, waiting as long as it takes and ignoring the
 * task's cancellation, both before and while it waits; `site` (may be NULL)
 * is shown by the inspector while the task waits.  Must be called from a
 * task, with no spinlock held.  Returns 0, or -EPERM outside a task. */
int mutex__lock_uncancellable(tsk_mutex *m, const tsk_site *site);

/* ---- queries ----------------------------------------------------------- */

/* The number of tasks inside a blocking call on the object: queued, or
 * woken by a timeout or cancellation and not yet gone, or (mutex) woken to
 * retry and not yet back (the count destroy checks).  Each takes the
 * object's spinlock; the answer is a snapshot.  Tests use them to know that
 * a task has really parked before they act. */
unsigned mutex__nwait(tsk_mutex *m);
unsigned rwlock__nwait(tsk_rwlock *l);
unsigned sem__nwait(tsk_sem *s);
unsigned wg__nwait(tsk_wg *g);
unsigned cond__nwait(tsk_cond *c);

/* Whether m is in starvation mode (unlock hands it straight to the first
 * waiter, lockers queue instead of barging; see mutex.c).  Takes m's
 * spinlock; a snapshot, for the tests and later the inspector. */
bool mutex__starving(tsk_mutex *m);

/* The number of objects of the kind alive now (created, not yet destroyed),
 * process-wide: the tests' leak check; later the inspector's resource count.
 * Relaxed atomic counters, exact once the creating/destroying calls have
 * returned. */
long mutex__live(void);
long rwlock__live(void);
long sem__live(void);
long wg__live(void);
long cond__live(void);

#endif /* MUTEX_INT_H */
