/*
 * sem.c - tsk_sem, a FIFO counting semaphore for tasks.
 *
 * What and why: bounds how many tasks use a resource at once (connections,
 * buffers, offload slots); an acquire with no unit parks the task with the
 * runtime's wait protocol (rt_int.h) instead of blocking its worker.
 *
 * Fairness: an acquire takes a unit at once only when nobody is queued
 * (no barging), and a release hands its unit straight to the first waiter
 * whose token it can claim, so units go out in arrival order.
 *
 * Invariants (all under s->lock):
 *   - Once hand-offs have run, count > 0 only with no live waiter queued.
 *     A waiter claimed by its timer or a canceller may linger on the queue
 *     (making newcomers queue behind it) until it unlinks itself; it then
 *     hands any free units to the waiters behind it, so none is stranded.
 *   - nwait counts tasks inside an acquire that will still touch s (see
 *     mutex.c); destroy refuses while it is non-zero.
 *
 * What the flight recorder sees (rt_int.h, "resources"): the live state
 * (value: free units; waiters: queued tasks, stale ones included) is
 * published under s->lock after every change; each acquire and release
 * emits TSK_EV_ACQUIRE / TSK_EV_RELEASE with a32 1 (one shared unit) and
 * arg the free units left after it.  A unit handed to a waiter is recorded
 * by the waiter itself once it runs again (events carry the calling task's
 * id), with the count the releaser wrote into the waiter's elem, and a
 * copy of s's rt_res: s may be gone by then.
 *
 * Workload: permits held for a while by many tasks; the uncontended
 * acquire/release is one spinlock round trip each.
 */
#include <errno.h>
#include <limits.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>

#include "mutex_int.h"
#include "rt_int.h"
#include "tsk_segment.h"

#define SEM_EV_UNIT 1u /* a32 of TSK_EV_ACQUIRE / TSK_EV_RELEASE: one shared unit */

struct tsk_sem {
	rt_res res;             /* flight-recorder identity: FIRST member (rt_int.h) */
	rt_spin lock;           /* protects every field below */
	unsigned count;         /* free units */
	rt_waitq waiters;       /* tasks waiting for a unit, FIFO */
	unsigned nwait;         /* tasks inside an acquire that will still touch s */
	const tsk_site *site;   /* where it was created (may be NULL) */
	char name[RT_NAME_MAX]; /* user-supplied name, copied */
};

/* Objects alive (see mutex_int.h); relaxed: a statistic, ordered by nothing. */
static atomic_long sem_live;

/* Publishes s's live state to the flight recorder; under s->lock, after
 * every change of units or waiters.  One branch when the probes are off. */
static void sem_publish(const tsk_sem *s)
{
	rt__res_state(&s->res, NULL, (uint32_t)s->waiters.len, s->count, 0, 0);
}

/* Creates a semaphore holding `initial` units, named `name` (copied; NULL
 * gives "sem"), created at `site` (kept: static storage, as TSK_SITE gives;
 * may be NULL), and records it as a resource; the caller owns *out and
 * frees it with tsk_sem_destroy.  Returns 0, -EINVAL (out NULL), -ENOMEM. */
int tsk_sem_create_at(tsk_sem **out, const char *name, unsigned initial, const tsk_site *site)
{
	tsk_sem *s;

	if (out == NULL)
		return -EINVAL;
	s = calloc(1, sizeof(*s));
	if (s == NULL)
		return -ENOMEM;
	s->lock = (rt_spin)RT_SPIN_INIT;
	s->count = initial;
	s->site = site;
	rt__copy_name(s->name, sizeof(s->name), name, "sem");
	rt__res_init(&s->res, TSK_RES_SEM, s->name, site, initial);
	sem_publish(s); /* the initial units; no lock needed: s is not shared yet */
	atomic_fetch_add_explicit(&sem_live, 1, memory_order_relaxed);
	*out = s;
	return 0;
}

/* Gives one unit to the first waiter whose token can be claimed, dropping
 * claimed-elsewhere waiters on the way, and adds it to wk (to be readied
 * after the unlock).  `left` is the count of free units once this hand-off
 * is done, stored in the waiter's elem (a uint64_t) for its ACQUIRE event.
 * Called under s->lock.  Returns whether a waiter got the unit. */
static bool sem_handoff(tsk_sem *s, sync_wakes *wk, unsigned left)
{
	rt_waiter *w;

	while ((w = rt__waitq_pop(&s->waiters)) != NULL) {
		if (!rt__claim(w, 0))
			continue; /* timed out or cancelled: it unlinks itself */
		s->nwait--;
		*(uint64_t *)w->elem = left;
		w->result = 0;
		sync__defer(wk, w);
		return true;
	}
	return false;
}

/* Takes one unit, waiting until `deadline` when none is free or others are
 * queued ahead.  Returns 0; -ETIMEDOUT; -ECANCELED (no unit taken); -EPERM
 * (would block outside a task); -EINVAL (s NULL). */
int tsk_sem_acquire_at(tsk_sem *s, int64_t deadline, const tsk_site *site)
{
	rt_wait_info wi = {RT_WAIT_SEM, s, site, 0};
	sync_wakes wk = {0};
	uint64_t left = 0; /* free units after our hand-off (the releaser writes it) */
	rt_res res;
	rt_waiter w;
	int rc;

	if (s == NULL)
		return -EINVAL;
	rt__spin_lock(&s->lock);
	if (s->count > 0 && rt__waitq_empty(&s->waiters)) {
		s->count--;
		sem_publish(s);
		rt__res_event(&s->res, TSK_EV_ACQUIRE, s->count, SEM_EV_UNIT);
		rt__spin_unlock(&s->lock);
		return 0;
	}
	rc = rt__can_wait(deadline);
	if (rc < 0)
		goto out_unlock;
	/* s's identity, copied while s is surely alive: once the releaser has
	 * handed us a unit we no longer count in nwait and s may be destroyed. */
	res = s->res;
	wi.obj_id = res.id;
	rt__wait_prepare(&w, rt__self(), 0, &left);
	rt__waitq_push(&s->waiters, &w);
	s->nwait++;
	sem_publish(s);
	rt__spin_unlock(&s->lock);

	rc = rt__wait(deadline, &wi);
	if (rc >= 0) {
		/* the releaser gave us its unit, published, dropped nwait */
		if (w.result == 0)
			rt__res_event(&res, TSK_EV_ACQUIRE, left, SEM_EV_UNIT);
		return w.result;
	}

	rt__spin_lock(&s->lock);
	if (w.linked)
		rt__waitq_remove(&s->waiters, &w);
	s->nwait--;
	/* Newcomers may have queued behind us while units were free. */
	while (s->count > 0 && sem_handoff(s, &wk, s->count - 1))
		s->count--;
	sem_publish(s);
out_unlock:
	rt__spin_unlock(&s->lock);
	sync__flush(&wk);
	return rc;
}

int(tsk_sem_acquire)(tsk_sem *s, int64_t deadline)
{
	return tsk_sem_acquire_at(s, deadline, NULL);
}

/* Takes one unit if that needs no wait.  Returns 0, -EBUSY (no free unit,
 * or tasks are queued for one), -EINVAL (s NULL). */
int tsk_sem_try_acquire(tsk_sem *s)
{
	int rc = -EBUSY;

	if (s == NULL)
		return -EINVAL;
	rt__spin_lock(&s->lock);
	if (s->count > 0 && rt__waitq_empty(&s->waiters)) {
		s->count--;
		sem_publish(s);
		rt__res_event(&s->res, TSK_EV_ACQUIRE, s->count, SEM_EV_UNIT);
		rc = 0;
	}
	rt__spin_unlock(&s->lock);
	return rc;
}

/* Returns one unit: to the first waiter if any, else to the count.  Callable
 * outside tasks.  Returns 0, -EOVERFLOW (count already UINT_MAX, nothing
 * changed), -EINVAL (s NULL). */
int tsk_sem_release(tsk_sem *s)
{
	sync_wakes wk = {0};
	int rc = 0;

	if (s == NULL)
		return -EINVAL;
	rt__spin_lock(&s->lock);
	if (!sem_handoff(s, &wk, s->count)) {
		if (s->count == UINT_MAX)
			rc = -EOVERFLOW;
		else
			s->count++;
	}
	if (rc == 0) {
		sem_publish(s);
		rt__res_event(&s->res, TSK_EV_RELEASE, s->count, SEM_EV_UNIT);
	}
	rt__spin_unlock(&s->lock);
	sync__flush(&wk);
	return rc;
}

/* The number of free units right now (0 for NULL); a snapshot that may be
 * stale by the time the caller looks at it. */
unsigned tsk_sem_value(const tsk_sem *s)
{
	/* s points into a malloc'd, non-const object, so dropping the const
	 * to take the lock is defined; locking keeps the read race-free. */
	tsk_sem *ms = (tsk_sem *)s;
	unsigned v;

	if (s == NULL)
		return 0;
	rt__spin_lock(&ms->lock);
	v = ms->count;
	rt__spin_unlock(&ms->lock);
	return v;
}

/* Frees s (NULL is a no-op).  Returns 0, or -EBUSY when a task is inside an
 * acquire on it (s is then left untouched). */
int tsk_sem_destroy(tsk_sem *s)
{
	bool busy;

	if (s == NULL)
		return 0;
	rt__spin_lock(&s->lock);
	busy = s->nwait > 0;
	rt__spin_unlock(&s->lock);
	if (busy)
		return -EBUSY;
	rt__res_fini(&s->res);
	free(s);
	atomic_fetch_sub_explicit(&sem_live, 1, memory_order_relaxed);
	return 0;
}

int(tsk_sem_create)(tsk_sem **out, const char *name, unsigned initial)
{
	return tsk_sem_create_at(out, name, initial, NULL);
}

/* See mutex_int.h. */
unsigned sem__nwait(tsk_sem *s)
{
	unsigned n;

	rt__spin_lock(&s->lock);
	n = s->nwait;
	rt__spin_unlock(&s->lock);
	return n;
}

/* See mutex_int.h. */
long sem__live(void)
{
	return atomic_load_explicit(&sem_live, memory_order_relaxed);
}
