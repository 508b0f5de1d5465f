/*
 * rwlock.c - tsk_rwlock, a writer-preferring, starvation-free reader-writer
 * lock for tasks.
 *
 * What and why: many tasks may read shared state together while a writer
 * needs it alone; contended calls park the task with the runtime's wait
 * protocol (rt_int.h) instead of blocking the worker thread.
 *
 * Policy (neither side starves):
 *   - A waiting writer stops new readers: a reader only gets the lock at
 *     once when no writer holds it and none is queued.
 *   - When a writer unlocks and readers wait, every waiting reader is
 *     admitted as one batch before the next writer; readers that arrive
 *     during that batch queue behind the waiting writer.
 *   - When the last reader unlocks and writers wait, the first writer whose
 *     token can be claimed gets the lock directly (hand-off: the lock never
 *     becomes free in between, so nobody barges).
 *   - A writer that gives up waiting (timeout, cancel) may have been the
 *     only thing holding readers back, so it re-runs the grant logic as it
 *     leaves.
 *
 * Invariants (all under l->lock):
 *   - wlocked and readers > 0 never hold together.
 *   - writer is meaningful only while wlocked; NULL then means the write
 *     lock was taken outside any task.
 *   - Once grants have run, a live waiter is queued only while the lock is
 *     unavailable to it; a waiter already claimed by its timer or a
 *     canceller may linger until it unlinks itself and re-runs the grants.
 *   - nwait counts tasks inside a lock call that will still touch l (see
 *     mutex.c); destroy refuses while it is non-zero.
 *
 * Readers are a count, not a list: the inspector does not yet need to know
 * which tasks hold read locks.  Any task may therefore release a read lock.
 *
 * What the flight recorder sees (rt_int.h, "resources"): the live state
 * (owner: the writer task; nreaders; waiters: queued readers and writers,
 * stale ones included) is published under l->lock after every change, and
 * every successful lock and unlock emits TSK_EV_ACQUIRE / TSK_EV_RELEASE
 * with a32 0 (write) or 1 (read).  A lock handed to a waiter is recorded by
 * the waiter itself once it runs again, since events carry the calling
 * task's id; it uses a copy of l's rt_res, never l.
 *
 * Workload: read-mostly state with short critical sections.
 */
#include <errno.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>

#include "mutex_int.h"
#include "rt_int.h"
#include "tsk_segment.h"

/* a32 of TSK_EV_ACQUIRE / TSK_EV_RELEASE */
#define RWLOCK_EV_WRITE 0u
#define RWLOCK_EV_READ  1u

struct tsk_rwlock {
	rt_res res;             /* flight-recorder identity: FIRST member (rt_int.h) */
	rt_spin lock;           /* protects every field below */
	bool wlocked;           /* held by a writer */
	tsk_task *writer;       /* that writer while wlocked; NULL: outside a task */
	unsigned readers;       /* read locks held */
	rt_waitq rwait;         /* waiting readers, FIFO */
	rt_waitq wwait;         /* waiting writers, FIFO */
	unsigned nwait;         /* tasks inside a lock call that will still touch l */
	const tsk_site *site;   /* where it was created (may be NULL) */
	char name[RT_NAME_MAX]; /* user-supplied name, copied */
};

/* Objects alive (see mutex_int.h); relaxed: a statistic, ordered by nothing. */
static atomic_long rwlock_live;

/* Creates an unlocked rwlock named `name` (copied; NULL gives "rwlock"),
 * created at `site` (kept: static storage, as TSK_SITE gives; may be NULL),
 * and records it as a resource; the caller owns *out and frees it with
 * tsk_rwlock_destroy.  Returns 0, -EINVAL (out NULL), -ENOMEM. */
int tsk_rwlock_create_at(tsk_rwlock **out, const char *name, const tsk_site *site)
{
	tsk_rwlock *l;

	if (out == NULL)
		return -EINVAL;
	l = calloc(1, sizeof(*l));
	if (l == NULL)
		return -ENOMEM;
	l->lock = (rt_spin)RT_SPIN_INIT;
	l->site = site;
	rt__copy_name(l->name, sizeof(l->name), name, "rwlock");
	rt__res_init(&l->res, TSK_RES_RWLOCK, l->name, site, 0);
	atomic_fetch_add_explicit(&rwlock_live, 1, memory_order_relaxed);
	*out = l;
	return 0;
}

/* Publishes l's live state to the flight recorder; under l->lock, after
 * every change of holders or waiters.  One branch when the probes are off. */
static void rwlock_publish(const tsk_rwlock *l)
{
	rt__res_state(&l->res, l->wlocked ? l->writer : NULL,
	              (uint32_t)(l->rwait.len + l->wwait.len), 0, l->readers, 0);
}

/* Records that the calling task just took l at once (read: a read lock);
 * under l->lock. */
static void rwlock_took(const tsk_rwlock *l, bool read)
{
	rwlock_publish(l);
	rt__res_event(&l->res, TSK_EV_ACQUIRE, 0, read ? RWLOCK_EV_READ : RWLOCK_EV_WRITE);
}

/* Admits every waiting reader whose token can be claimed, adding them to
 * wk (to be readied after the unlock).  Called under l->lock with no writer
 * holding l.  Returns how many were admitted. */
static unsigned rwlock_admit_readers(tsk_rwlock *l, sync_wakes *wk)
{
	unsigned n = 0;
	rt_waiter *w;

	while ((w = rt__waitq_pop(&l->rwait)) != NULL) {
		if (!rt__claim(w, 0))
			continue; /* timed out or cancelled: it unlinks itself */
		l->readers++;
		l->nwait--;
		n++;
		w->result = 0;
		sync__defer(wk, w);
	}
	return n;
}

/* Hands l to the first waiting writer whose token can be claimed, adding it
 * to wk.  Called under l->lock with l free.  Returns whether one got it. */
static bool rwlock_handoff_writer(tsk_rwlock *l, sync_wakes *wk)
{
	rt_waiter *w;

	while ((w = rt__waitq_pop(&l->wwait)) != NULL) {
		if (!rt__claim(w, 0))
			continue;
		l->wlocked = true;
		l->writer = w->task;
		l->nwait--;
		w->result = 0;
		sync__defer(wk, w);
		return true;
	}
	return false;
}

/* Grants what the current state allows, writers first: after a reader
 * unlock or a waiter leaving.  Called under l->lock. */
static void rwlock_grant(tsk_rwlock *l, sync_wakes *wk)
{
	if (l->wlocked)
		return;
	if (l->readers == 0 && rwlock_handoff_writer(l, wk))
		return;
	if (rt__waitq_empty(&l->wwait))
		rwlock_admit_readers(l, wk);
}

/* Parks the calling task on q (l->rwait or l->wwait); called with l->lock
 * held, returns with it released.  Returns 0 once a waker granted the lock,
 * or -ETIMEDOUT / -ECANCELED with nothing taken. */
static int rwlock_wait(tsk_rwlock *l, rt_waitq *q, int kind, int64_t deadline, const tsk_site *site)
{
	/* l's identity, copied while l is surely alive: once a waker has
	 * granted us the lock we no longer count in nwait, so neither the
	 * core (wi) nor our ACQUIRE event may read l itself. */
	rt_res res = l->res;
	rt_wait_info wi = {kind, l, site, res.id};
	uint32_t mode = q == &l->rwait ? RWLOCK_EV_READ : RWLOCK_EV_WRITE;
	sync_wakes wk = {0};
	rt_waiter w;
	int rc;

	rt__wait_prepare(&w, rt__self(), 0, NULL);
	rt__waitq_push(q, &w);
	l->nwait++;
	rwlock_publish(l);
	rt__spin_unlock(&l->lock);

	rc = rt__wait(deadline, &wi);
	if (rc >= 0) {
		/* the waker granted it (and published it) and dropped nwait */
		if (w.result == 0)
			rt__res_event(&res, TSK_EV_ACQUIRE, 0, mode);
		return w.result;
	}

	rt__spin_lock(&l->lock);
	if (w.linked)
		rt__waitq_remove(q, &w);
	l->nwait--;
	/* A departing writer may have been holding readers back. */
	if (q == &l->wwait)
		rwlock_grant(l, &wk);
	rwlock_publish(l);
	rt__spin_unlock(&l->lock);
	sync__flush(&wk);
	return rc;
}

/* Takes a read lock, waiting until `deadline` while a writer holds l or one
 * is queued.  Returns 0; -ETIMEDOUT; -ECANCELED; -EPERM (would block
 * outside a task); -EINVAL (l NULL). */
int tsk_rwlock_rdlock_at(tsk_rwlock *l, int64_t deadline, const tsk_site *site)
{
	int rc;

	if (l == NULL)
		return -EINVAL;
	rt__spin_lock(&l->lock);
	if (!l->wlocked && rt__waitq_empty(&l->wwait)) {
		l->readers++;
		rwlock_took(l, true);
		rt__spin_unlock(&l->lock);
		return 0;
	}
	rc = rt__can_wait(deadline);
	if (rc < 0) {
		rt__spin_unlock(&l->lock);
		return rc;
	}
	return rwlock_wait(l, &l->rwait, RT_WAIT_RWLOCK_RD, deadline, site);
}

int(tsk_rwlock_rdlock)(tsk_rwlock *l, int64_t deadline)
{
	return tsk_rwlock_rdlock_at(l, deadline, NULL);
}

/* Takes the write lock, waiting until `deadline` while anyone holds l or
 * another writer is queued ahead.  Returns 0; -ETIMEDOUT; -ECANCELED;
 * -EPERM (would block outside a task); -EINVAL (l NULL). */
int tsk_rwlock_wrlock_at(tsk_rwlock *l, int64_t deadline, const tsk_site *site)
{
	int rc;

	if (l == NULL)
		return -EINVAL;
	rt__spin_lock(&l->lock);
	if (!l->wlocked && l->readers == 0 && rt__waitq_empty(&l->wwait)) {
		l->wlocked = true;
		l->writer = rt__self();
		rwlock_took(l, false);
		rt__spin_unlock(&l->lock);
		return 0;
	}
	rc = rt__can_wait(deadline);
	if (rc < 0) {
		rt__spin_unlock(&l->lock);
		return rc;
	}
	return rwlock_wait(l, &l->wwait, RT_WAIT_RWLOCK_WR, deadline, site);
}

int(tsk_rwlock_wrlock)(tsk_rwlock *l, int64_t deadline)
{
	return tsk_rwlock_wrlock_at(l, deadline, NULL);
}

/* Takes a read lock if that needs no wait (same rule as rdlock).
 * Returns 0, -EBUSY, -EINVAL (l NULL). */
int tsk_rwlock_tryrdlock(tsk_rwlock *l)
{
	int rc = -EBUSY;

	if (l == NULL)
		return -EINVAL;
	rt__spin_lock(&l->lock);
	if (!l->wlocked && rt__waitq_empty(&l->wwait)) {
		l->readers++;
		rwlock_took(l, true);
		rc = 0;
	}
	rt__spin_unlock(&l->lock);
	return rc;
}

/* Takes the write lock if that needs no wait.  Returns 0, -EBUSY, -EINVAL. */
int tsk_rwlock_trywrlock(tsk_rwlock *l)
{
	int rc = -EBUSY;

	if (l == NULL)
		return -EINVAL;
	rt__spin_lock(&l->lock);
	if (!l->wlocked && l->readers == 0 && rt__waitq_empty(&l->wwait)) {
		l->wlocked = true;
		l->writer = rt__self();
		rwlock_took(l, false);
		rc = 0;
	}
	rt__spin_unlock(&l->lock);
	return rc;
}

/* Releases the write lock when the caller is the writer, else one read lock
 * when any is held.  A writer's unlock admits all waiting readers, or failing
 * that hands l to the next writer; the last reader's unlock hands l to the
 * next writer, or failing that admits the readers.
 * Returns 0, -EPERM (the caller holds neither side), -EINVAL (l NULL). */
int tsk_rwlock_unlock(tsk_rwlock *l)
{
	tsk_task *self = rt__self();
	sync_wakes wk = {0};
	int rc = 0;

	if (l == NULL)
		return -EINVAL;
	rt__spin_lock(&l->lock);
	if (l->wlocked && l->writer == self) {
		l->wlocked = false;
		l->writer = NULL;
		rt__res_event(&l->res, TSK_EV_RELEASE, 0, RWLOCK_EV_WRITE);
		if (rwlock_admit_readers(l, &wk) == 0)
			rwlock_handoff_writer(l, &wk);
		rwlock_publish(l);
	} else if (l->readers > 0) {
		l->readers--;
		rt__res_event(&l->res, TSK_EV_RELEASE, 0, RWLOCK_EV_READ);
		if (l->readers == 0)
			rwlock_grant(l, &wk);
		rwlock_publish(l);
	} else {
		rc = -EPERM;
	}
	rt__spin_unlock(&l->lock);
	sync__flush(&wk);
	return rc;
}

/* Frees l (NULL is a no-op).  Returns 0, or -EBUSY when l is held or a task
 * is inside a lock call on it (l is then left untouched). */
int tsk_rwlock_destroy(tsk_rwlock *l)
{
	bool busy;

	if (l == NULL)
		return 0;
	rt__spin_lock(&l->lock);
	busy = l->wlocked || l->readers > 0 || l->nwait > 0;
	rt__spin_unlock(&l->lock);
	if (busy)
		return -EBUSY;
	rt__res_fini(&l->res);
	free(l);
	atomic_fetch_sub_explicit(&rwlock_live, 1, memory_order_relaxed);
	return 0;
}

int(tsk_rwlock_create)(tsk_rwlock **out, const char *name)
{
	return tsk_rwlock_create_at(out, name, NULL);
}

/* See mutex_int.h. */
unsigned rwlock__nwait(tsk_rwlock *l)
{
	unsigned n;

	rt__spin_lock(&l->lock);
	n = l->nwait;
	rt__spin_unlock(&l->lock);
	return n;
}

/* See mutex_int.h. */
long rwlock__live(void)
{
	return atomic_load_explicit(&rwlock_live, memory_order_relaxed);
}
