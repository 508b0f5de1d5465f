/*
 * cond.c - tsk_cond, a condition variable paired with a tsk_mutex.
 *
 * What and why: lets a task holding a mutex sleep until another task
 * changes the guarded state, parking with the runtime's wait protocol
 * (rt_int.h) rather than blocking its worker.
 *
 * No lost wake-up: tsk_cond_wait queues itself on the condvar *before* it
 * releases the mutex, so a signaller (which changes the predicate under
 * the mutex, then signals) either runs before the waiter queued - and then
 * the waiter saw the new state under the mutex - or finds it queued.
 * No spurious wake-up: a waiter returns 0 only when a signal or broadcast
 * claimed its token.
 *
 * The mutex is owned again on every return: after the wait ends (woken,
 * timed out or cancelled) the waiter relocks it with
 * mutex__lock_uncancellable, a mutex wait that ignores cancellation.
 *
 * Invariants (all under c->lock):
 *   - A waiter claimed by its timer or a canceller may linger on the queue
 *     until it unlinks itself; signal skips it (its claim fails) and wakes
 *     the next, so a signal is never wasted on a departing waiter.
 *   - nwait counts tasks inside a wait that will still touch c (see
 *     mutex.c); destroy refuses while it is non-zero.
 *
 * What the flight recorder sees (rt_int.h, "resources"): the live state
 * (waiters: queued tasks, stale ones included) is published under c->lock
 * after every change, and each signal or broadcast emits TSK_EV_SIGNAL
 * (arg: tasks woken, possibly 0).  The mutex is recorded by mutex.c.
 *
 * Workload: producer/consumer hand-offs with predicate loops.
 */
#include <errno.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>

#include "mutex_int.h"
#include "rt_int.h"
#include "tsk_segment.h"

struct tsk_cond {
	rt_res res;             /* flight-recorder identity: FIRST member (rt_int.h) */
	rt_spin lock;           /* protects every field below */
	rt_waitq waiters;       /* tasks waiting for a signal, FIFO */
	unsigned nwait;         /* tasks inside a wait that will still touch c */
	const tsk_site *site;   /* where it was created (may be NULL) */
	char name[RT_NAME_MAX]; /* user-supplied name, copied */
};

/* Objects alive (see mutex_int.h); relaxed: a statistic, ordered by nothing. */
static atomic_long cond_live;

/* Publishes c's live state to the flight recorder; under c->lock, after
 * every change of the waiters.  One branch when the probes are off. */
static void cond_publish(const tsk_cond *c)
{
	rt__res_state(&c->res, NULL, (uint32_t)c->waiters.len, 0, 0, 0);
}

/* Creates a condition variable named `name` (copied; NULL gives "cond"),
 * created at `site` (kept: static storage, as TSK_SITE gives; may be
 * NULL), and records it as a resource; the caller owns *out and frees it
 * with tsk_cond_destroy.  Returns 0, -EINVAL (out NULL), -ENOMEM. */
int tsk_cond_create_at(tsk_cond **out, const char *name, const tsk_site *site)
{
	tsk_cond *c;

	if (out == NULL)
		return -EINVAL;
	c = calloc(1, sizeof(*c));
	if (c == NULL)
		return -ENOMEM;
	c->lock = (rt_spin)RT_SPIN_INIT;
	c->site = site;
	rt__copy_name(c->name, sizeof(c->name), name, "cond");
	rt__res_init(&c->res, TSK_RES_COND, c->name, site, 0);
	atomic_fetch_add_explicit(&cond_live, 1, memory_order_relaxed);
	*out = c;
	return 0;
}

/* Releases m, which the calling task owns, waits for a signal or broadcast
 * on c until `deadline`, and relocks m before returning - whatever the
 * outcome, so the caller owns m on every return except -EPERM and -EINVAL.
 * A deadline already past or a pending cancellation returns at once
 * without releasing m.  Returns 0 (signalled); -ETIMEDOUT; -ECANCELED;
 * -EPERM (not a task, or the caller does not own m); -EINVAL (c or m
 * NULL). */
int tsk_cond_wait_at(tsk_cond *c, tsk_mutex *m, int64_t deadline, const tsk_site *site)
{
	rt_wait_info wi = {RT_WAIT_COND, c, site, 0};
	tsk_task *self = rt__self();
	rt_waiter w;
	int rc, rc2;

	if (c == NULL || m == NULL)
		return -EINVAL;
	wi.obj_id = c->res.id; /* constant since create */
	if (self == NULL || !mutex__owned_by(m, self))
		return -EPERM;
	rc = rt__can_wait(deadline);
	if (rc < 0)
		return rc;

	rt__spin_lock(&c->lock);
	rt__wait_prepare(&w, self, 0, NULL);
	rt__waitq_push(&c->waiters, &w);
	c->nwait++;
	cond_publish(c);
	rt__spin_unlock(&c->lock);
	/* Queued first, released second: see "No lost wake-up" above.  We own
	 * m, so this cannot fail. */
	rc2 = tsk_mutex_unlock(m);
	(void)rc2;

	rc = rt__wait(deadline, &wi);
	if (rc >= 0) {
		rc = w.result; /* the signaller dropped nwait */
	} else {
		rt__spin_lock(&c->lock);
		if (w.linked)
			rt__waitq_remove(&c->waiters, &w);
		c->nwait--;
		cond_publish(c);
		rt__spin_unlock(&c->lock);
	}
	rc2 = mutex__lock_uncancellable(m, site);
	(void)rc2; /* cannot fail: self is a task */
	return rc;
}

int(tsk_cond_wait)(tsk_cond *c, tsk_mutex *m, int64_t deadline)
{
	return tsk_cond_wait_at(c, m, deadline, NULL);
}

/* Wakes the first waiter whose token can be claimed; with all set, every
 * waiter.  Called under nothing; takes c->lock.  Returns how many woke. */
static unsigned cond_wake(tsk_cond *c, bool all)
{
	sync_wakes wk = {0};
	unsigned n = 0;
	rt_waiter *w;

	rt__spin_lock(&c->lock);
	while ((w = rt__waitq_pop(&c->waiters)) != NULL) {
		if (!rt__claim(w, 0))
			continue; /* timed out or cancelled: it unlinks itself */
		c->nwait--;
		w->result = 0;
		sync__defer(&wk, w);
		n++;
		if (!all)
			break;
	}
	cond_publish(c);
	/* before unlocking: once it is dropped, a woken waiter may destroy c */
	rt__res_event(&c->res, TSK_EV_SIGNAL, n, 0);
	rt__spin_unlock(&c->lock);
	sync__flush(&wk);
	return n;
}

/* Wakes one waiter (the longest waiting), if any.  Callable outside tasks.
 * Returns 0, -EINVAL (c NULL). */
int tsk_cond_signal(tsk_cond *c)
{
	if (c == NULL)
		return -EINVAL;
	cond_wake(c, false);
	return 0;
}

/* Wakes every waiter.  Callable outside tasks.  Returns 0, -EINVAL. */
int tsk_cond_broadcast(tsk_cond *c)
{
	if (c == NULL)
		return -EINVAL;
	cond_wake(c, true);
	return 0;
}

/* Frees c (NULL is a no-op).  Returns 0, or -EBUSY when a task is inside a
 * wait on it (c is then left untouched). */
int tsk_cond_destroy(tsk_cond *c)
{
	bool busy;

	if (c == NULL)
		return 0;
	rt__spin_lock(&c->lock);
	busy = c->nwait > 0;
	rt__spin_unlock(&c->lock);
	if (busy)
		return -EBUSY;
	rt__res_fini(&c->res);
	free(c);
	atomic_fetch_sub_explicit(&cond_live, 1, memory_order_relaxed);
	return 0;
}

int(tsk_cond_create)(tsk_cond **out, const char *name)
{
	return tsk_cond_create_at(out, name, NULL);
}

/* See mutex_int.h. */
unsigned cond__nwait(tsk_cond *c)
{
	unsigned n;

	rt__spin_lock(&c->lock);
	n = c->nwait;
	rt__spin_unlock(&c->lock);
	return n;
}

/* See mutex_int.h. */
long cond__live(void)
{
	return atomic_load_explicit(&cond_live, memory_order_relaxed);
}
