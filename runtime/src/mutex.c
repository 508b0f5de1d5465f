/*
 * mutex.c - tsk_mutex, a task-owned, non-recursive mutex with Go's two
 * modes: barging in normal mode, FIFO hand-off in starvation mode.
 *
 * What and why: tasks must not block their worker thread on a pthread
 * mutex, so a contended tsk_mutex parks the task with the runtime's wait
 * protocol (rt_int.h) and lets the worker run other tasks.
 *
 * Normal mode (as Go's sync.Mutex): an unlock with waiters releases the
 * lock and wakes the first waiter to *retry* (claim value MUTEX_RETRY); any
 * running task may take the free lock meanwhile (barging), so a hot lock
 * passes between running tasks without a context switch per unlock - a
 * strict hand-off makes every contended unlock a switch (a lock convoy).
 * At most one retrier is pending at a time (`woken`, Go's mutexWoken): an
 * unlock while one is on its way wakes nobody.  A retrier that loses again
 * goes back to the *front* of the queue: it keeps its seniority.
 *
 * Starvation mode: a retrier that loses after more than MUTEX_STARVE_NS
 * since its first attempt puts the mutex in this mode.  Then an unlock hands
 * ownership straight to the first waiter (claim value MUTEX_OWNED; the
 * lock never becomes free) and lockers, trylock included, never barge:
 * they queue at the back.  The mutex returns to normal mode when the
 * waiter it hands off to was the last one queued or had waited less than
 * MUTEX_STARVE_NS (Go's rule: such a waiter shows contention has eased).
 * One addition to Go: without preemption, a retrier readied onto a worker
 * whose task keeps re-locking m never runs to notice that it starves, so
 * an unlock that finds it pending that long makes it the owner instead
 * (see mutex_release).
 *
 * Invariants (all under m->lock):
 *   - starving implies locked: starving is set only while m is locked,
 *     and a starving unlock either hands m off (it stays locked) or,
 *     finding no waiter to claim, leaves starvation mode as it frees m.
 *   - retrier_owns implies woken, locked and owner = the retrier's task;
 *     woken without retrier_owns implies !starving (only the retrier or an
 *     unlock that makes it the owner sets starving while one is pending).
 *   - No waiter is stranded: while a waiter is queued and unclaimed, m is
 *     locked (its unlock wakes or hands off) or woken is set (the retrier
 *     will take m, or find it locked).  A retrier gives up (timeout,
 *     cancellation) only after finding m locked and clearing woken, so
 *     the owner's unlock passes the wake on to the next waiter.
 *   - retrier points into the pending retrier's stack frame, which lives
 *     until that task has retaken m->lock and cleared woken.
 *   - owner is meaningful only while locked; NULL then means the lock was
 *     taken outside any task (trylock from a plain thread).
 *   - nwait counts the tasks that will still touch m from inside a lock
 *     call: incremented when one first queues, decremented when it returns
 *     (by itself after it retried, timed out or was cancelled, or by the
 *     unlocker that hands m off to it).  A retrier stays counted while it
 *     is off the queue.  destroy refuses while nwait is non-zero, so a
 *     waiter on its way out never touches freed memory.
 *
 * Workload: short critical sections in tasks, low to heavy contention.  The
 * uncontended lock/unlock is one spinlock round trip each; a contended
 * unlock in normal mode costs a claim and a ready but no switch, and the
 * unlocker may take the lock again before the woken task runs.
 */
#include <errno.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>

#include "mutex_int.h"
#include "rt_int.h"

/* A waiter that lost its retry after waiting this long (ns, since its
 * first attempt) puts the mutex in starvation mode (Go's 1 ms). */
#define MUTEX_STARVE_NS 1000000

/* Unlocks that find a retrier still on its way check whether it has
 * starved only at the MUTEX_PENDING_CHECK-th such unlock and every power of
 * two after it: a check costs a clock read, and this path is the hot one
 * under contention (a running task may unlock thousands of times before the
 * retrier runs), while doubling the interval at most doubles how late the
 * check comes. */
#define MUTEX_PENDING_CHECK 8

/* Values an unlocker stores in a waiter's token (rt__claim). */
enum {
	MUTEX_OWNED = 0, /* starvation hand-off: the waiter now owns m */
	MUTEX_RETRY = 1, /* normal mode: m was released, run and try again */
};

/* A waiter of the mutex queue; the queue links its rt_waiter. */
typedef struct mutex_waiter {
	rt_waiter w;   /* first member: queue entries convert back to us */
	int64_t since; /* tsk_now() at the first attempt of this lock call */
} mutex_waiter;

struct tsk_mutex {
	rt_res res;               /* identity for the inspector (first: see rt_int.h) */
	rt_spin lock;             /* protects every field below */
	bool locked;              /* held by someone */
	bool starving;            /* starvation mode: hand-off, no barging */
	bool woken;               /* a waiter claimed with MUTEX_RETRY has not yet retried */
	bool retrier_owns;        /* ... and was made the owner while on its way */
	mutex_waiter *retrier;    /* that waiter while woken (its frame outlives woken) */
	unsigned pending_unlocks; /* unlocks that found it on its way */
	tsk_task *owner;          /* holder while locked; NULL: taken outside a task */
	rt_waitq waiters;         /* parked tasks, oldest first (retriers return to the front) */
	unsigned nwait;           /* tasks inside a lock call that will still touch m */
	const tsk_site *site;     /* where it was created (may be NULL) */
	char name[RT_NAME_MAX];   /* user-supplied name, copied */
};

/* Objects alive (see mutex_int.h); relaxed: a statistic, ordered by nothing. */
static atomic_long mutex_live;

/* Publishes m's live state for the inspector, then drops m->lock.  Every
 * path that changed the owner or the queue unlocks through here. */
static void mutex_unlock_publish(tsk_mutex *m)
{
	rt__res_state(&m->res, m->locked ? m->owner : NULL, (uint32_t)m->waiters.len, 0, 0,
	              m->starving ? TSK_RF_STARVING : 0);
	rt__spin_unlock(&m->lock);
}

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
	rt__res_init(&m->res, TSK_RES_MUTEX, m->name, site, 0);
	atomic_fetch_add_explicit(&mutex_live, 1, memory_order_relaxed);
	*out = m;
	return 0;
}

/* Links w at the head of q (rt_int.h only pushes at the tail): a retrier
 * that lost keeps its place ahead of later arrivals.  Under q's lock. */
static void mutex_push_front(rt_waitq *q, rt_waiter *w)
{
	w->prev = NULL;
	w->next = q->head;
	if (q->head)
		q->head->prev = w;
	else
		q->tail = w;
	q->head = w;
	q->len++;
	w->linked = true;
}

/* Parks the calling task `self` on m's queue until it owns m; called with
 * m->lock held and m locked, returns with m->lock released.  Each wake-up
 * in normal mode is a retry: a free m is taken, even by a cancelled task
 * or past the deadline (as in tsk_mutex_lock), as is one an unlock gave us
 * while we were on our way; otherwise the task checks its deadline and
 * cancellation, may switch m to starvation mode, and parks again at the
 * front.  With nocancel the wait ignores cancellation
 * (see mutex__lock_uncancellable).  Returns 0 with m owned, or -ETIMEDOUT /
 * -ECANCELED (or -ENOMEM, should the core fail to arm the deadline's
 * timer) with m not taken. */
static int mutex_wait(tsk_mutex *m, tsk_task *self, int64_t deadline, const tsk_site *site,
                      bool nocancel)
{
	rt_wait_info wi = {RT_WAIT_MUTEX, m, site, m->res.id};
	mutex_waiter mw;
	bool front = false;
	int rc;

	mw.since = tsk_now();
	m->nwait++;
	for (;;) {
		if (nocancel)
			rt__wait_prepare_nocancel(&mw.w, self, 0, NULL);
		else
			rt__wait_prepare(&mw.w, self, 0, NULL);
		if (front)
			mutex_push_front(&m->waiters, &mw.w);
		else
			rt__waitq_push(&m->waiters, &mw.w);
		mutex_unlock_publish(m);

		rc = nocancel ? rt__wait_nocancel(deadline, &wi) : rt__wait(deadline, &wi);
		if (rc == MUTEX_OWNED)
			return 0; /* handed off: we own m and the unlocker dropped nwait */

		rt__spin_lock(&m->lock);
		if (rc != MUTEX_RETRY) {
			/* The timer or a canceller won the token, so no unlocker
			 * picked us: leave the queue (an unlocker may have popped
			 * us already). */
			if (mw.w.linked)
				rt__waitq_remove(&m->waiters, &mw.w);
			m->nwait--;
			mutex_unlock_publish(m);
			return rc;
		}
		/* Woken to retry: from now on an unlock may wake another. */
		m->woken = false;
		m->retrier = NULL;
		if (m->retrier_owns) {
			/* An unlock made us the owner while we were on our way
			 * (see mutex_release). */
			m->retrier_owns = false;
			m->nwait--;
			mutex_unlock_publish(m);
			return 0;
		}
		if (!m->locked) {
			m->locked = true;
			m->owner = self;
			m->nwait--;
			mutex_unlock_publish(m);
			return 0;
		}
		/* Barged.  Giving up here strands nobody: m is locked and
		 * woken is clear, so its unlock wakes the next waiter. */
		rc = nocancel ? 0 : rt__can_wait(deadline);
		if (rc < 0) {
			m->nwait--;
			mutex_unlock_publish(m);
			return rc;
		}
		if (tsk_now() - mw.since > MUTEX_STARVE_NS)
			m->starving = true;
		front = true;
	}
}

/* Locks m for the calling task, waiting until `deadline` (absolute, or
 * TSK_FOREVER).  A free mutex is taken at once, even by a cancelled task or
 * past the deadline; in starvation mode m is never free while tasks wait,
 * so the caller queues behind them.  Relocking by the owner waits (it is
 * not recursive).  Returns 0; -ETIMEDOUT; -ECANCELED (the lock is then not
 * taken); -EPERM (it would block and the caller is not a task); -EINVAL (m
 * NULL). */
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
		mutex_unlock_publish(m);
		rt__res_event(&m->res, TSK_EV_ACQUIRE, 0, 0);
		return 0;
	}
	rc = rt__can_wait(deadline);
	if (rc < 0) {
		rt__spin_unlock(&m->lock);
		return rc;
	}
	rc = mutex_wait(m, self, deadline, site, false);
	if (rc == 0)
		rt__res_event(&m->res, TSK_EV_ACQUIRE, 0, 0);
	return rc;
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
			mutex_unlock_publish(m);
			rt__res_event(&m->res, TSK_EV_ACQUIRE, 0, 0);
			return 0;
		}
		/* A nocancel wait without deadline ends only with ownership;
		 * loop anyway (e.g. on a core -ENOMEM): cond_wait must own m. */
		rc = mutex_wait(m, self, TSK_FOREVER, site, true);
		if (rc >= 0) {
			rt__res_event(&m->res, TSK_EV_ACQUIRE, 0, 0);
			return 0;
		}
	}
}

/* Locks m if it is free, never waits; works outside tasks too (the lock
 * then belongs to no task and any non-task thread may unlock it).  In
 * normal mode it may take m ahead of queued waiters (barging); in
 * starvation mode m is never free while they wait, so it fails.
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
	mutex_unlock_publish(m);
	if (rc == 0)
		rt__res_event(&m->res, TSK_EV_ACQUIRE, 0, 0);
	return rc;
}

/* Normal-mode unlock, under m->lock: frees m and, unless a retrier is
 * already on its way, claims the first waiter it can with MUTEX_RETRY
 * (dropping those already claimed by their timer or a canceller: they
 * unlink themselves).  Returns that waiter, for the caller to ready once it
 * has dropped m->lock, or NULL.
 *
 * A retrier on its way may not get to run for long: it was readied onto
 * the unlocker's worker, whose task may keep re-locking m without ever
 * blocking (no preemption here, unlike Go).  So an unlock that finds it
 * still pending after it has waited MUTEX_STARVE_NS since its first attempt
 * makes it the owner instead (its waker readies it anyway) and enters
 * starvation mode if others wait: the unlocker's next lock then parks and
 * lets it run. */
static rt_waiter *mutex_release(tsk_mutex *m)
{
	rt_waiter *w;

	if (m->woken) {
		unsigned n = ++m->pending_unlocks;

		if (n >= MUTEX_PENDING_CHECK && (n & (n - 1)) == 0 &&
		    tsk_now() - m->retrier->since > MUTEX_STARVE_NS) {
			m->owner = m->retrier->w.task;
			m->retrier_owns = true;
			m->starving = !rt__waitq_empty(&m->waiters);
			return NULL;
		}
		m->locked = false;
		m->owner = NULL;
		return NULL;
	}
	m->locked = false;
	m->owner = NULL;
	/* Tested inline first: the uncontended unlock ends here, without a
	 * call into wait.c. */
	while (!rt__waitq_empty(&m->waiters)) {
		w = rt__waitq_pop(&m->waiters);
		if (rt__claim(w, MUTEX_RETRY)) {
			m->woken = true;
			m->retrier = (mutex_waiter *)w;
			m->pending_unlocks = 0;
			return w; /* still counted in nwait: it comes back to retry */
		}
	}
	return NULL;
}

/* Starvation-mode unlock, under m->lock: hands m to the first waiter it
 * can claim with MUTEX_OWNED (m stays locked), leaving starvation mode when
 * that waiter was the last queued or waited less than MUTEX_STARVE_NS.
 * With nobody to claim, frees m and leaves starvation mode.  Returns the
 * new owner's waiter, for the caller to ready once it has dropped
 * m->lock, or NULL. */
static rt_waiter *mutex_handoff(tsk_mutex *m)
{
	rt_waiter *w;

	while ((w = rt__waitq_pop(&m->waiters)) != NULL) {
		if (!rt__claim(w, MUTEX_OWNED))
			continue; /* timed out or cancelled: it unlinks itself */
		m->owner = w->task;
		m->nwait--;
		w->result = 0;
		if (rt__waitq_empty(&m->waiters) ||
		    tsk_now() - ((mutex_waiter *)w)->since < MUTEX_STARVE_NS)
			m->starving = false;
		return w;
	}
	m->starving = false;
	m->locked = false;
	m->owner = NULL;
	return NULL;
}

/* Unlocks m.  Normal mode: m becomes free and the first waiter is woken to
 * retry (unless one already is); starvation mode: m passes directly to the
 * first waiter.  Returns 0, -EPERM (the caller does not own m), -EINVAL (m
 * NULL). */
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
	w = m->starving ? mutex_handoff(m) : mutex_release(m);
	mutex_unlock_publish(m);
	rt__res_event(&m->res, TSK_EV_RELEASE, 0, 0);
	/* Outside the lock (see sync_wakes in mutex_int.h): a claimed waiter
	 * stays valid until its task is readied. */
	if (w != NULL)
		rt__ready(w->task);
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
	rt__res_fini(&m->res);
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
bool mutex__starving(tsk_mutex *m)
{
	bool starving;

	rt__spin_lock(&m->lock);
	starving = m->starving;
	rt__spin_unlock(&m->lock);
	return starving;
}

/* See mutex_int.h. */
long mutex__live(void)
{
	return atomic_load_explicit(&mutex_live, memory_order_relaxed);
}
