/*
 * select.c - tsk_select: wait for the first of several channel operations.
 *
 * What and why: a task often waits on "whichever comes first" (work or a
 * quit channel, several inputs, a send that must not block forever).
 * tsk_select completes exactly one case, fairly, with the wait protocol of
 * rt_int.h: one token per wait, one waiter per case, so exactly one party
 * (a peer on one of the channels, the timer or a canceller) decides the
 * outcome, and never two cases complete.
 *
 * Algorithm:
 *   pass 1  Poll the cases in a random order, each under its channel's
 *           lock; the first that completes is the answer.  The order is a
 *           uniformly random permutation (up to 16 cases), so the case
 *           chosen is uniform among the cases ready at once; a random
 *           rotation would favour a case that follows an often idle one.
 *           Beyond 16 cases a random rotation keeps the poll allocation-free.
 *   pass 2  Set the token to WAITING once (rt__wait_prepare on one waiter,
 *           the others copied from it), then for each case, under its
 *           channel's lock: if it has become ready meanwhile, claim our own
 *           token and complete it; else queue its waiter.  Losing our own
 *           claim means a peer (or a canceller) already claimed us: park,
 *           rt__wait returns at once with the winner's value.
 *   park    rt__wait; the winner already did the copy and set the result.
 *   leave   Relock each channel we queued on (except the one whose waiter
 *           a peer claimed: that peer dropped its nwait count, so that
 *           channel may be gone already) and unlink.
 *
 * Each case has a slot: its waiter, plus a copy of its channel's rt_res and
 * the length a completed wait leaves, taken before parking, so that the
 * probes never read a channel the task no longer counts on (see nwait in
 * chan_int.h).
 *
 * Only one channel lock is ever held at a time, so there is no lock order
 * and no deadlock between selects over the same channels in any order.
 *
 * Invariants: waiter i carries case index i, so a claim value names the
 * case.  A waker claims through a waiter it found queued, so the claimed
 * waiter was queued and has been unlinked by that waker.  A ready case can
 * still fail after we claimed ourselves when every waiting peer turns out
 * to be stale (claimed elsewhere): we then leave all queues and start over
 * from pass 1 (the stale peers are gone, so this ends).
 *
 * Workload: a few cases (<= 16 slots live on the task's stack, about 1.3
 * KiB; more are allocated), typically 2-4 channels with moderate traffic.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>

#include "chan_int.h"

#define SELECT_MAX_CASES   1024  /* largest n accepted */
#define SELECT_STACK_CASES 16    /* slots kept on the stack up to this n */
#define SELECT_QUEUED      0x100 /* flag in rt_waiter.op: the waiter was pushed */
#define SELECT_OP_MASK     0xff  /* rt_waiter.op bits holding TSK_SEND / TSK_RECV */

void (*select__pass2_hook)(tsk_case *cases, size_t n);

/* What a blocking select keeps per case. */
typedef struct select_slot {
	rt_waiter w;      /* the case's waiter (index = case index) */
	rt_res res;       /* copy of the channel's identity, for the probes */
	size_t woken_len; /* channel length a peer's completion leaves */
} select_slot;

/* The order in which a select visits its cases. */
typedef struct select_order {
	uint8_t perm[SELECT_STACK_CASES]; /* a random permutation when n <= 16 */
	size_t start;                     /* else: visit start, start+1, ... (mod n) */
	size_t n;                         /* number of cases */
} select_order;

/* A per-thread xorshift32; noinline so that no caller caches the address
 * of the thread-local state across a context switch (tasks migrate). */
static __attribute__((noinline)) uint32_t select_rand(void)
{
	static _Thread_local uint32_t state;
	uint32_t x = state;

	if (x == 0)
		x = (uint32_t)(uintptr_t)&state | 1u; /* distinct per thread, never 0 */
	x ^= x << 13;
	x ^= x >> 17;
	x ^= x << 5;
	state = x;
	return x;
}

/* Draws a visiting order for n cases (Fisher-Yates for a permutation). */
static void select_order_init(select_order *o, size_t n)
{
	size_t i, j;
	uint8_t t;

	o->n = n;
	o->start = 0;
	if (n > SELECT_STACK_CASES) {
		o->start = select_rand() % n;
		return;
	}
	for (i = 0; i < n; i++)
		o->perm[i] = (uint8_t)i;
	for (i = n - 1; i > 0; i--) {
		j = select_rand() % (i + 1);
		t = o->perm[i];
		o->perm[i] = o->perm[j];
		o->perm[j] = t;
	}
}

/* The k-th case to visit, 0 <= k < n. */
static size_t select_order_at(const select_order *o, size_t k)
{
	size_t i;

	if (o->n <= SELECT_STACK_CASES)
		return o->perm[k];
	i = o->start + k;
	return i >= o->n ? i - o->n : i;
}

/* Checks the cases.  Returns 0, or -EINVAL (cases NULL, n 0 or > 1024, a
 * case with a channel and a bad op or a NULL elem, no case with a channel). */
static int select_validate(const tsk_case *cases, size_t n)
{
	size_t i, usable = 0;

	if (cases == NULL || n == 0 || n > SELECT_MAX_CASES)
		return -EINVAL;
	for (i = 0; i < n; i++) {
		if (cases[i].chan == NULL)
			continue;
		if ((cases[i].op != TSK_SEND && cases[i].op != TSK_RECV) || cases[i].elem == NULL)
			return -EINVAL;
		usable++;
	}
	return usable > 0 ? 0 : -EINVAL;
}

/* Runs case cs on its channel without waiting; under its lock.  Returns as
 * chan__send_locked / chan__recv_locked. */
static int select_do(const tsk_case *cs, const tsk_task *self)
{
	if (cs->op == TSK_SEND)
		return chan__send_locked(cs->chan, cs->elem, self);
	return chan__recv_locked(cs->chan, cs->elem, self);
}

/* Pass 1: tries each case once, in order o.  Returns the index of the
 * case done (its result set), -EAGAIN (none ready), -ENOMEM. */
static int select_poll(tsk_case *cases, size_t n, const select_order *o)
{
	size_t k, i;
	int rc;

	for (k = 0; k < n; k++) {
		i = select_order_at(o, k);
		if (cases[i].chan == NULL)
			continue;
		rt__spin_lock(&cases[i].chan->lock);
		rc = select_do(&cases[i], NULL);
		rt__spin_unlock(&cases[i].chan->lock);
		if (rc == -EAGAIN)
			continue;
		if (rc == -ENOMEM)
			return rc;
		cases[i].result = rc;
		return (int)i;
	}
	return -EAGAIN;
}

/* Makes sl[first].w the wait's prepared waiter (token := WAITING) and every
 * other sl[i].w an identical, unqueued waiter for case i, without touching
 * the token again; fills in the probe copies.  Cases without a channel get
 * op 0 and are never queued.  Under the lock of case first's channel; the
 * other channels' rt_res and capacity are constant. */
static void select_prepare(const tsk_case *cases, size_t n, select_slot *sl, tsk_task *self,
                           size_t first)
{
	size_t i;

	rt__wait_prepare(&sl[first].w, self, (int)first, cases[first].elem);
	for (i = 0; i < n; i++) {
		if (i != first)
			sl[i].w = sl[first].w; /* whatever rt__wait_prepare set, same task */
		sl[i].w.index = (int)i;
		sl[i].w.elem = cases[i].elem;
		sl[i].w.op = 0;
		if (cases[i].chan == NULL)
			continue;
		sl[i].w.op = cases[i].op;
		sl[i].res = cases[i].chan->res;
		sl[i].woken_len = chan__woken_len(cases[i].chan, cases[i].op);
	}
}

/* Unlinks every queued waiter but sl[claimed].w (claimed < 0: none was
 * claimed by a peer) and drops its nwait count, one channel lock at a
 * time.  After this no channel refers to sl. */
static void select_leave(tsk_case *cases, size_t n, select_slot *sl, int claimed)
{
	rt_waiter *w;
	size_t i;
	tsk_chan *c;

	for (i = 0; i < n; i++) {
		w = &sl[i].w;
		if (!(w->op & SELECT_QUEUED) || (int)i == claimed)
			continue;
		c = cases[i].chan;
		rt__spin_lock(&c->lock);
		if (w->linked)
			rt__waitq_remove(chan__queue(c, w->op & SELECT_OP_MASK), w);
		c->nwait--;
		chan__publish(c);
		rt__spin_unlock(&c->lock);
		w->op &= ~SELECT_QUEUED;
	}
}

/* Pass 2, park and leave (see the file comment).  sl holds n slots, the
 * caller's memory.  Must be called from a task that may wait.
 * Returns the index of the case done (its result set); -ETIMEDOUT;
 * -ECANCELED; -ENOMEM (unbounded growth or timer); -EAGAIN: we claimed
 * ourselves for a case whose peers were all stale, start over. */
static int select_block(tsk_case *cases, size_t n, const select_order *o, select_slot *sl,
                        int64_t deadline, const tsk_site *site)
{
	rt_wait_info wi = {RT_WAIT_SELECT, NULL, site, 0};
	tsk_task *self = rt__self();
	size_t k, i, shown = 0;
	tsk_chan *c;
	int rc;

	/* The inspector shows the first case's channel (tsk_segment.h): the
	 * lowest-indexed case that has one (select_validate found one). */
	while (cases[shown].chan == NULL)
		shown++;
	for (k = 0; k < n; k++) {
		i = select_order_at(o, k);
		c = cases[i].chan;
		if (c == NULL)
			continue;
		rt__spin_lock(&c->lock);
		if (wi.obj == NULL) {
			/* fills in every slot's copy of its channel's rt_res */
			select_prepare(cases, n, sl, self, i);
			wi.obj = &sl[shown].res;
			wi.obj_id = sl[shown].res.id;
		}
		if (chan__ready_locked(c, cases[i].op, self)) {
			if (!rt__claim(&sl[i].w, (int)i)) {
				/* A peer or a canceller won: it will ready us. */
				rt__spin_unlock(&c->lock);
				break;
			}
			rc = select_do(&cases[i], self);
			rt__spin_unlock(&c->lock);
			select_leave(cases, n, sl, -1);
			if (rc == 0 || rc == -EPIPE) {
				cases[i].result = rc;
				return (int)i;
			}
			return rc; /* -EAGAIN (retry) or -ENOMEM */
		}
		sl[i].w.op |= SELECT_QUEUED;
		rt__waitq_push(chan__queue(c, cases[i].op), &sl[i].w);
		c->nwait++;
		chan__publish(c);
		rt__spin_unlock(&c->lock);
	}

	rc = rt__wait(deadline, &wi);
	/* rc >= 0: the peer that claimed sl[rc].w unlinked it and dropped its
	 * count (the channel may be gone now); its writes (element, result)
	 * happen before our wake-up through its rt__ready. */
	select_leave(cases, n, sl, rc);
	if (rc < 0)
		return rc;
	cases[rc].result = sl[rc].w.result;
	if (cases[rc].result == 0)
		chan__note(&sl[rc].res, cases[rc].op, sl[rc].woken_len);
	return rc;
}

/* Completes one of cases[0..n) (cases with chan NULL are ignored), waiting
 * until `deadline` (absolute, or TSK_FOREVER) when none is ready.  A send
 * case copies from .elem, a receive case into it; both stay the caller's.
 * A closed channel completes a send case, and a receive case once drained,
 * with .result -EPIPE; other cases' .result are left untouched.  Among
 * cases ready at once one is chosen uniformly at random (n <= 16; beyond,
 * by a random rotation).  A deadline already past (or a cancelled task)
 * still completes a ready case.
 * Returns the index of the case done; -ETIMEDOUT; -ECANCELED; -EINVAL (see
 * select_validate); -ENOMEM (n > 16 slots, unbounded growth, timer);
 * -EPERM (nothing ready and the caller is not a task). */
int tsk_select_at(tsk_case *cases, size_t n, int64_t deadline, const tsk_site *site)
{
	select_slot stack_sl[SELECT_STACK_CASES];
	select_slot *sl = stack_sl;
	select_order order;
	int rc;

	rc = select_validate(cases, n);
	if (rc < 0)
		return rc;
	select_order_init(&order, n);
	for (;;) {
		rc = select_poll(cases, n, &order);
		if (rc != -EAGAIN)
			break;
		rc = rt__can_wait(deadline);
		if (rc < 0)
			break;
		if (select__pass2_hook != NULL)
			select__pass2_hook(cases, n);
		if (n > SELECT_STACK_CASES && sl == stack_sl) {
			sl = chan__alloc(NULL, n * sizeof(*sl));
			if (sl == NULL) {
				sl = stack_sl;
				rc = -ENOMEM;
				break;
			}
		}
		rc = select_block(cases, n, &order, sl, deadline, site);
		if (rc != -EAGAIN)
			break;
	}
	if (sl != stack_sl)
		free(sl);
	return rc;
}

int(tsk_select)(tsk_case *cases, size_t n, int64_t deadline)
{
	return tsk_select_at(cases, n, deadline, NULL);
}
