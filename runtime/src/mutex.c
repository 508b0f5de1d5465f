/*
 * mutex.c - tsk_mutex, a task-owned, non-recursive, FIFO mutex.
 *
 * What and why: tasks must not block their worker thread on a pthread
 * mutex, so a contended tsk_mutex parks the task with the runtime's wait
 * protocol (rt_int.h) and lets the worker run other tasks.
 *
 * Fairness: an unlock with waiters hands ownership straight to the first
 * waiter whose token it can claim; the lock never becomes free in between,
 * so no newcomer can barge in ahead of a queued task and nobody starves.
 * The cost is one context switch per contended hand-off (a convoy under
 * heavy contention), which we accept for predictable, inspectable waits.
 *
 * Invariants (all under m->lock):
 *   - !locked implies an empty wait queue: tasks only queue while it is
 *     locked, and an unlock pops waiters until one claim succeeds, so it
 *     leaves the lock free only with the queue drained.
 *   - owner is meaningful only while locked; NULL then means the lock was
 *     taken outside any task (trylock from a plain thread).
 *   - nwait counts the tasks that will still touch m from inside a lock
 *     call: incremented when one queues, decremented by the waker that
 *     claims it or by the waiter itself once it has unlinked after a
 *     timeout or cancellation.  destroy refuses while it is non-zero, so a
 *     waiter on its way out never touches freed memory.
 *
 * Workload: short critical sections in tasks, low to moderate contention;
 * the uncontended lock/unlock is one spinlock round trip each.
 */
#include <errno.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>

#include "mutex_int.h"
#include "rt_int.h"

struct tsk_mutex {
	rt_spin lock;           /* protects every field below */
	bool locked;            /* held by someone */
	tsk_task *owner;        /* holder while locked; NULL: taken outside a task */
	rt_waitq waiters;       /* tasks waiting to own it, FIFO */
	unsigned nwait;         /* tasks inside a lock call that will still touch m */
	const tsk_site *site;   /* where it was created (may be NULL) */
	char name[RT_NAME_MAX]; /* user-supplied name, copied */
};

/* Objects alive (see mutex_int.h); relaxed: a statistic, ordered by nothing. */
static atomic_long mutex_live;

/* Creates an unlocked mutex named `name` (copied; NULL gives "mutex") and
 * stores it in *out; the caller owns it and frees it with
 * tsk_mutex_destroy.  Returns 0, -EINVAL (out NULL), -ENOMEM. */
int tsk_mutex_create_at(tsk_mutex **out, const char *name, const tsk_site *site)
{
	tsk_mutex *m;

	if (out == NULL)
		return -EINVAL;
	m = calloc(1, sizeof(*m));
	if (m == NULL)
		return -ENOMEM;
	m->lock = (rt_spin)RT_SPIN_INIT;
	m->site = site;
	rt__copy_name(m->name, sizeof(m->name), name, "mutex");
	atomic_fetch_add_explicit(&mutex_live, 1, memory_order_relaxed);
	*out = m;
	return 0;
}

/* Parks the calling task `self` on m's queue; called with m->lock held and
 * m locked by someone else, returns with m->lock released.  With nocancel
 * the wait ignores cancellation (see mutex__lock_uncancellable).  Returns
 * 0 once the unlocker has made self the owner, or -ETIMEDOUT / -ECANCELED
 * (or -ENOMEM, should the core fail to arm the deadline's timer) with m not
 * taken. */
static int mutex_wait(tsk_mutex *m, tsk_task *self, int64_t deadline, const tsk_site *site,
                      bool nocancel)
{
	rt_wait_info wi = {RT_WAIT_MUTEX, m, site};
	rt_waiter w;
	int rc;

	if (nocancel)
		rt__wait_prepare_nocancel(&w, self, 0, NULL);
	else
		rt__wait_prepare(&w, self, 0, NULL);
	rt__waitq_push(&m->waiters, &w);
	m->nwait++;
	rt__spin_unlock(&m->lock);

	rc = nocancel ? rt__wait_nocancel(deadline, &wi) : rt__wait(deadline, &wi);
	if (rc >= 0)
		return w.result; /* the unlocker made us the owner and dropped nwait */

	/* The timer or a canceller won the token, so no unlocker picked us:
	 * leave the queue (an unlocker may have popped us already). */
	rt__spin_lock(&m->lock);
	if (w.linked)
		rt__waitq_remove(&m->waiters, &w);
	m->nwait--;
	rt__spin_unlock(&m->lock);
	return rc;
}

/* Locks m for the calling task, waiting until `deadline` (absolute, or
 * TSK_FOREVER).  A free mutex is taken at once, even by a cancelled task or
 * past the deadline.  Relocking by the owner waits (it is not recursive).
 * Returns 0; -ETIMEDOUT; -ECANCELED (the lock is then not taken); -EPERM
 * (it would block and the caller is not a task); -EINVAL (m NULL). */
int tsk_mutex_lock_at(tsk_mutex *m, int64_t deadline, const tsk_site *site)
{
	tsk_task *self = rt__self();
	int rc;

	if (m == NULL)
		return -EINVAL;
	rt__spin_lock(&m->lock);
	if (!m->locked) {
		m->locked = true;
		m->owner = self;
		rt__spin_unlock(&m->lock);
		return 0;
	}
	rc = rt__can_wait(deadline);
	if (rc < 0) {
		rt__spin_unlock(&m->lock);
		return rc;
	}
	return mutex_wait(m, self, deadline, site, false);
}

int(tsk_mutex_lock)(tsk_mutex *m, int64_t deadline)
{
	return tsk_mutex_lock_at(m, deadline, NULL);
}

/* See mutex_int.h. */
int mutex__lock_uncancellable(tsk_mutex *m, const tsk_site *site)
{
	tsk_task *self = rt__self();
	int rc;

	if (self == NULL)
		return -EPERM;
	for (;;) {
		rt__spin_lock(&m->lock);
		if (!m->locked) {
			m->locked = true;
			m->owner = self;
			rt__spin_unlock(&m->lock);
			return 0;
		}
		/* A nocancel wait without deadline ends only with ownership;
		 * loop anyway (e.g. on a core -ENOMEM): cond_wait must own m. */
		rc = mutex_wait(m, self, TSK_FOREVER, site, true);
		if (rc >= 0)
			return 0;
	}
}

/* Locks m if it is free, never waits; works outside tasks too (the lock
 * then belongs to no task and any non-task thread may unlock it).
 * Returns 0, -EBUSY (locked), -EINVAL (m NULL). */
int tsk_mutex_trylock(tsk_mutex *m)
{
	int rc = -EBUSY;

	if (m == NULL)
		return -EINVAL;
	rt__spin_lock(&m->lock);
	if (!m->locked) {
		m->locked = true;
		m->owner = rt__self();
		rc = 0;
	}
	rt__spin_unlock(&m->lock);
	return rc;
}

/* Unlocks m, handing it to the first waiter whose token can be claimed (the
 * mutex stays locked, now owned by that task); waiters already claimed by
 * their timer or a canceller are dropped from the queue on the way.
 * Returns 0, -EPERM (the caller does not own m), -EINVAL (m NULL). */
int tsk_mutex_unlock(tsk_mutex *m)
{
	tsk_task *self = rt__self();
	rt_waiter *w;

	if (m == NULL)
		return -EINVAL;
	rt__spin_lock(&m->lock);
	if (!m->locked || m->owner != self) {
		rt__spin_unlock(&m->lock);
		return -EPERM;
	}
	while ((w = rt__waitq_pop(&m->waiters)) != NULL) {
		if (!rt__claim(w, 0))
			continue; /* timed out or cancelled: it unlinks itself */
		m->owner = w->task;
		m->nwait--;
		w->result = 0;
		rt__spin_unlock(&m->lock);
		/* Outside the lock (see sync_wakes): w stays valid until then. */
		rt__ready(w->task);
		return 0;
	}
	m->locked = false;
	m->owner = NULL;
	rt__spin_unlock(&m->lock);
	return 0;
}

/* See mutex_int.h. */
bool mutex__owned_by(tsk_mutex *m, const tsk_task *self)
{
	bool owned;

	rt__spin_lock(&m->lock);
	owned = m->locked && self != NULL && m->owner == self;
	rt__spin_unlock(&m->lock);
	return owned;
}

/* Frees m (NULL is a no-op).  Returns 0, or -EBUSY when m is locked or a
 * task is inside a lock call on it (m is then left untouched). */
int tsk_mutex_destroy(tsk_mutex *m)
{
	bool busy;

	if (m == NULL)
		return 0;
	rt__spin_lock(&m->lock);
	busy = m->locked || m->nwait > 0;
	rt__spin_unlock(&m->lock);
	if (busy)
		return -EBUSY;
	free(m);
	atomic_fetch_sub_explicit(&mutex_live, 1, memory_order_relaxed);
	return 0;
}

int(tsk_mutex_create)(tsk_mutex **out, const char *name)
{
	return tsk_mutex_create_at(out, name, NULL);
}

/* See mutex_int.h. */
unsigned mutex__nwait(tsk_mutex *m)
{
	unsigned n;

	rt__spin_lock(&m->lock);
	n = m->nwait;
	rt__spin_unlock(&m->lock);
	return n;
}

/* See mutex_int.h. */
long mutex__live(void)
{
	return atomic_load_explicit(&mutex_live, memory_order_relaxed);
}
