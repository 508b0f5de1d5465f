/*
 * wg.c - tsk_wg, a wait group: wait until a set of jobs has finished.
 *
 * What and why: a parent adds n before spawning n workers, each calls
 * tsk_wg_done when finished, and the parent's tsk_wg_wait parks (with the
 * runtime's wait protocol, rt_int.h) until the counter reaches zero.
 *
 * Invariants (all under g->lock):
 *   - counter >= 0; an add that would make it negative (or overflow it)
 *     fails and changes nothing.
 *   - Once the counter reaches zero every queued waiter is woken; waiters
 *     only queue while it is non-zero.  A waiter claimed by its timer or a
 *     canceller may linger on the queue until it unlinks itself.
 *   - nwait counts tasks inside a wait that will still touch g (see
 *     mutex.c); destroy refuses while it is non-zero.
 *
 * What the flight recorder sees (rt_int.h, "resources"): the live state
 * (value: the counter; waiters: queued tasks, stale ones included) is
 * published under g->lock after every change; each successful add emits
 * TSK_EV_WG_ADD (arg: n as a signed 64-bit value), and an add that brings
 * the counter to zero then emits TSK_EV_SIGNAL (arg: waiters woken).
 *
 * Workload: one or a few waiters, up to tens of thousands of done() calls;
 * each add/done is one spinlock round trip.
 */
#include <errno.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>

#include "mutex_int.h"
#include "rt_int.h"
#include "tsk_segment.h"

struct tsk_wg {
	rt_res res;             /* flight-recorder identity: FIRST member (rt_int.h) */
	rt_spin lock;           /* protects every field below */
	int64_t counter;        /* jobs not yet done, >= 0 */
	rt_waitq waiters;       /* tasks waiting for counter == 0 */
	unsigned nwait;         /* tasks inside a wait that will still touch g */
	const tsk_site *site;   /* where it was created (may be NULL) */
	char name[RT_NAME_MAX]; /* user-supplied name, copied */
};

/* Objects alive (see mutex_int.h); relaxed: a statistic, ordered by nothing. */
static atomic_long wg_live;

/* Publishes g's live state to the flight recorder; under g->lock, after
 * every change of the counter or the waiters.  One branch when the probes
 * are off. */
static void wg_publish(const tsk_wg *g)
{
	rt__res_state(&g->res, NULL, (uint32_t)g->waiters.len, (uint64_t)g->counter, 0, 0);
}

/* Creates a wait group with a zero counter, named `name` (copied; NULL gives
 * "wg"), created at `site` (kept: static storage, as TSK_SITE gives; may be
 * NULL), and records it as a resource; the caller owns *out and frees it
 * with tsk_wg_destroy.  Returns 0, -EINVAL (out NULL), -ENOMEM. */
int tsk_wg_create_at(tsk_wg **out, const char *name, const tsk_site *site)
{
	tsk_wg *g;

	if (out == NULL)
		return -EINVAL;
	g = calloc(1, sizeof(*g));
	if (g == NULL)
		return -ENOMEM;
	g->lock = (rt_spin)RT_SPIN_INIT;
	g->site = site;
	rt__copy_name(g->name, sizeof(g->name), name, "wg");
	rt__res_init(&g->res, TSK_RES_WG, g->name, site, 0);
	atomic_fetch_add_explicit(&wg_live, 1, memory_order_relaxed);
	*out = g;
	return 0;
}

/* Adds n (may be negative) to the counter; reaching zero wakes every waiter.
 * Callable outside tasks.  Returns 0; -EINVAL (the counter would go below
 * zero, or g NULL; nothing changed); -EOVERFLOW (it would exceed
 * INT64_MAX; nothing changed). */
int tsk_wg_add(tsk_wg *g, int n)
{
	sync_wakes wk = {0};
	uint64_t woken = 0;
	rt_waiter *w;

	if (g == NULL)
		return -EINVAL;
	rt__spin_lock(&g->lock);
	if (n < 0 && g->counter < -(int64_t)n) {
		rt__spin_unlock(&g->lock);
		return -EINVAL;
	}
	if (n > 0 && g->counter > INT64_MAX - n) {
		rt__spin_unlock(&g->lock);
		return -EOVERFLOW;
	}
	g->counter += n;
	if (g->counter == 0) {
		while ((w = rt__waitq_pop(&g->waiters)) != NULL) {
			if (!rt__claim(w, 0))
				continue; /* timed out or cancelled: it unlinks itself */
			g->nwait--;
			w->result = 0;
			sync__defer(&wk, w);
			woken++;
		}
	}
	wg_publish(g);
	/* before unlocking: once it is dropped, a woken waiter may destroy g */
	rt__res_event(&g->res, TSK_EV_WG_ADD, (uint64_t)(int64_t)n, 0);
	if (g->counter == 0 && n != 0)
		rt__res_event(&g->res, TSK_EV_SIGNAL, woken, 0);
	rt__spin_unlock(&g->lock);
	sync__flush(&wk);
	return 0;
}

/* add(-1).  Returns 0, -EINVAL (the counter is already zero, or g NULL). */
int tsk_wg_done(tsk_wg *g)
{
	return tsk_wg_add(g, -1);
}

/* Waits until the counter is zero or `deadline` passes; returns at once
 * when it already is.  Returns 0; -ETIMEDOUT; -ECANCELED; -EPERM (would
 * block outside a task); -EINVAL (g NULL). */
int tsk_wg_wait_at(tsk_wg *g, int64_t deadline, const tsk_site *site)
{
	rt_wait_info wi = {RT_WAIT_WG, g, site, 0};
	rt_waiter w;
	int rc;

	if (g == NULL)
		return -EINVAL;
	wi.obj_id = g->res.id; /* constant since create */
	rt__spin_lock(&g->lock);
	if (g->counter == 0) {
		rt__spin_unlock(&g->lock);
		return 0;
	}
	rc = rt__can_wait(deadline);
	if (rc < 0) {
		rt__spin_unlock(&g->lock);
		return rc;
	}
	rt__wait_prepare(&w, rt__self(), 0, NULL);
	rt__waitq_push(&g->waiters, &w);
	g->nwait++;
	wg_publish(g);
	rt__spin_unlock(&g->lock);

	rc = rt__wait(deadline, &wi);
	if (rc >= 0)
		return w.result; /* the last done() woke us and dropped nwait */

	rt__spin_lock(&g->lock);
	if (w.linked)
		rt__waitq_remove(&g->waiters, &w);
	g->nwait--;
	wg_publish(g);
	rt__spin_unlock(&g->lock);
	return rc;
}

int(tsk_wg_wait)(tsk_wg *g, int64_t deadline)
{
	return tsk_wg_wait_at(g, deadline, NULL);
}

/* Frees g (NULL is a no-op), whatever its counter.  Returns 0, or -EBUSY
 * when a task is inside a wait on it (g is then left untouched). */
int tsk_wg_destroy(tsk_wg *g)
{
	bool busy;

	if (g == NULL)
		return 0;
	rt__spin_lock(&g->lock);
	busy = g->nwait > 0;
	rt__spin_unlock(&g->lock);
	if (busy)
		return -EBUSY;
	rt__res_fini(&g->res);
	free(g);
	atomic_fetch_sub_explicit(&wg_live, 1, memory_order_relaxed);
	return 0;
}

int(tsk_wg_create)(tsk_wg **out, const char *name)
{
	return tsk_wg_create_at(out, name, NULL);
}

/* See mutex_int.h. */
unsigned wg__nwait(tsk_wg *g)
{
	unsigned n;

	rt__spin_lock(&g->lock);
	n = g->nwait;
	rt__spin_unlock(&g->lock);
	return n;
}

/* See mutex_int.h. */
long wg__live(void)
{
	return atomic_load_explicit(&wg_live, memory_order_relaxed);
}
