/*
 * chan.c - tsk_chan: typed-by-size channels between tasks (rendezvous,
 * bounded and unbounded), the building block of tsk_select.
 *
 * What and why: tasks pass fixed-size elements by copy.  A blocked sender
 * or receiver parks with the runtime's wait protocol (rt_int.h) and frees
 * its worker; whoever completes its operation does all the copying on its
 * behalf before waking it, so a woken task has nothing left to do and
 * never retries (no thundering herd, no lost element).
 *
 * Layout: one spinlock per channel guards a ring buffer and two FIFO wait
 * queues (senders, receivers).  A waiter's elem points into the waiting
 * task's memory: the element to send, or the buffer to receive into.
 *
 *   send:  receiver waiting? copy into its buffer, wake it.   (hand-off)
 *          else room in the ring (or unbounded: grow it)? buffer it.
 *          else wait on `senders` (rendezvous, or bounded and full).
 *   recv:  ring non-empty? take the head; a waiting sender's element
 *          moves into the freed slot and that sender is woken.
 *          else sender waiting (rendezvous)? copy from it, wake it.
 *          else closed? -EPIPE.  else wait on `receivers`.
 *
 * Invariants (under c->lock), for waiters whose token is still WAITING:
 *   - receivers wait only while the ring is empty;
 *   - senders wait only while the ring is full (ring_cap == len; for a
 *     rendezvous ring_cap == 0), never on an unbounded channel;
 *   - once closed, no sender waits (close wakes them, later sends fail).
 *   Stale waiters (claimed by a timer, canceller or another select case,
 *   and not yet unlinked by their task) may sit anywhere in a queue; every
 *   waker pops and skips them.  A task in tsk_select may have several
 *   waiters on one channel; operations pass it as `self` so it never
 *   hands an element to itself.
 *   - nwait: see chan_int.h; destroy refuses while it is non-zero.
 *   - FIFO: elements leave in the order senders completed, since a
 *     refilled slot is the ring's tail and hand-offs happen only when the
 *     ring is empty.
 *
 * Workload: many short critical sections (a memcpy of a small element and
 * a few pointer moves), moderate contention between a handful of producer
 * and consumer tasks.  The unbounded ring doubles when full and never
 * shrinks; a burst costs its peak memory until destroy.
 */
#include <errno.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "chan_int.h"
#include "tsk_segment.h"

#define CHAN_ELEM_MAX 65536 /* largest element accepted by create */
#define CHAN_RING_MIN 16    /* first allocation of an unbounded ring, in elements */

static atomic_long chan_live; /* created minus destroyed (relaxed: a statistic) */

void *(*chan__alloc_hook)(void *old, size_t size);

/* See chan_int.h. */
void *chan__alloc(void *old, size_t size)
{
	if (chan__alloc_hook != NULL)
		return chan__alloc_hook(old, size);
	return realloc(old, size);
}

/* Address of the i-th buffered element (0 = the oldest), or of the first
 * free slot when i == len. */
static unsigned char *chan_slot(const tsk_chan *c, size_t i)
{
	size_t s = c->head + i;

	if (s >= c->ring_cap)
		s -= c->ring_cap;
	return c->buf + s * c->elem_size;
}

/* Doubles the ring of a full unbounded channel, keeping the elements in
 * order.  Returns 0, or -ENOMEM with c unchanged. */
static int chan_grow(tsk_chan *c)
{
	size_t ncap = c->ring_cap ? c->ring_cap * 2 : CHAN_RING_MIN;
	unsigned char *nbuf;

	if (ncap < c->ring_cap || ncap > SIZE_MAX / c->elem_size)
		return -ENOMEM;
	nbuf = chan__alloc(c->buf, ncap * c->elem_size);
	if (nbuf == NULL)
		return -ENOMEM;
	/* The ring is full: [head, old cap) then [0, head).  Moving the
	 * wrapped part behind the old end makes it contiguous again (it fits:
	 * head <= old cap == ncap - old cap). */
	if (c->head > 0)
		memcpy(nbuf + c->ring_cap * c->elem_size, nbuf, c->head * c->elem_size);
	c->buf = nbuf;
	c->ring_cap = ncap;
	return 0;
}

/* Takes the first waiter of q that is not self's and whose token this call
 * claims (with the waiter's index), unlinking it; waiters whose claim
 * fails are unlinked and skipped (their task is leaving: it keeps its
 * nwait count).  The returned waiter no longer counts in nwait; the
 * caller must complete its operation, set its result and rt__ready it.
 * Returns NULL when there is none.  Under c->lock. */
static rt_waiter *chan_take_peer(tsk_chan *c, rt_waitq *q, const tsk_task *self)
{
	rt_waiter *w, *next;

	for (w = q->head; w != NULL; w = next) {
		next = w->next;
		if (w->task == self)
			continue;
		rt__waitq_remove(q, w);
		if (rt__claim(w, w->index)) {
			c->nwait--;
			return w;
		}
	}
	return NULL;
}

/* Whether q holds a waiter that is not self's (it may be stale). */
static bool chan_has_peer(const rt_waitq *q, const tsk_task *self)
{
	const rt_waiter *w;

	for (w = q->head; w != NULL; w = w->next)
		if (w->task != self)
			return true;
	return false;
}

/* See chan_int.h.  Publishing on every send and receive would make the
 * producer and the consumer write one shared cache line per message (the
 * slot) besides the lock's: channel throughput fell 2.6x.  So the slot is
 * written when what the inspector reasons with changes (waiters, closed,
 * the length reaching or leaving empty or full) and otherwise every 64th
 * change: the length it shows may lag by up to 63 messages. */
void chan__publish(const tsk_chan *c)
{
	tsk_chan *m = (tsk_chan *)c; /* bookkeeping only; under c->lock */
	uint32_t waiters = (uint32_t)(c->senders.len + c->receivers.len);
	bool edge = (c->len == 0) != (m->pub_len == 0) ||
	            (c->cap != TSK_UNBOUNDED && (c->len == c->cap) != (m->pub_len == c->cap));
	if (waiters == m->pub_waiters && !edge && !c->closed && ++m->pub_skipped < 64)
		return;
	m->pub_waiters = waiters;
	m->pub_len = c->len;
	m->pub_skipped = 0;
	rt__res_state(&c->res, NULL, waiters, c->len, 0, c->closed ? TSK_RF_CLOSED : 0);
}

/* See chan_int.h. */
void chan__note(const rt_res *res, int op, size_t len)
{
	rt__res_event(res, op == TSK_SEND ? TSK_EV_SEND : TSK_EV_RECV, len, 0);
}

/* See chan_int.h.  A receiver is handed an element only while the ring is
 * empty; a sender of a bounded channel waits only on a full ring, whose
 * freed slot its element fills; a rendezvous keeps none. */
size_t chan__woken_len(const tsk_chan *c, int op)
{
	return op == TSK_SEND && c->cap != TSK_UNBOUNDED ? c->cap : 0;
}

/* See chan_int.h. */
int chan__send_locked(tsk_chan *c, const void *elem, const tsk_task *self)
{
	rt_waiter *w;
	int rc;

	if (c->closed)
		return -EPIPE;
	w = chan_take_peer(c, &c->receivers, self);
	if (w != NULL) {
		memcpy(w->elem, elem, c->elem_size);
		w->result = 0;
		rt__ready(w->task); /* w is dead to us from here on */
		goto done;
	}
	if (c->len == c->ring_cap) {
		if (c->cap != TSK_UNBOUNDED)
			return -EAGAIN;
		rc = chan_grow(c);
		if (rc < 0)
			return rc;
	}
	memcpy(chan_slot(c, c->len), elem, c->elem_size);
	c->len++;
done:
	chan__publish(c);
	chan__note(&c->res, TSK_SEND, c->len);
	return 0;
}

/* See chan_int.h. */
int chan__recv_locked(tsk_chan *c, void *elem, const tsk_task *self)
{
	rt_waiter *w;

	if (c->len > 0) {
		memcpy(elem, chan_slot(c, 0), c->elem_size);
		c->head = c->head + 1 == c->ring_cap ? 0 : c->head + 1;
		c->len--;
		/* A sender waits only on a full ring: its element takes the
		 * slot just freed, at the tail, so order is kept. */
		w = chan_take_peer(c, &c->senders, self);
		if (w != NULL) {
			memcpy(chan_slot(c, c->len), w->elem, c->elem_size);
			c->len++;
			w->result = 0;
			rt__ready(w->task);
		}
		goto done;
	}
	w = chan_take_peer(c, &c->senders, self);
	if (w == NULL)
		return c->closed ? -EPIPE : -EAGAIN;
	memcpy(elem, w->elem, c->elem_size);
	w->result = 0;
	rt__ready(w->task);
done:
	chan__publish(c);
	chan__note(&c->res, TSK_RECV, c->len);
	return 0;
}

/* See chan_int.h. */
bool chan__ready_locked(const tsk_chan *c, int op, const tsk_task *self)
{
	if (op == TSK_SEND)
		return c->closed || c->len < c->ring_cap || c->cap == TSK_UNBOUNDED ||
		       chan_has_peer(&c->receivers, self);
	return c->len > 0 || c->closed || chan_has_peer(&c->senders, self);
}

/* Creates a channel of elem_size-byte elements (1..65536) holding up to
 * `capacity` of them (0: rendezvous, TSK_UNBOUNDED: no limit), named
 * `name` (copied; NULL gives "chan"), created at `site` (copied; may be
 * NULL).  A bounded ring is allocated whole here; an unbounded one grows
 * on demand.  On success *out is the caller's, freed by tsk_chan_destroy.
 * Returns 0, -EINVAL (out NULL, bad elem_size), -ENOMEM (including a
 * capacity * elem_size that does not fit in memory). */
int tsk_chan_create_at(tsk_chan **out, const char *name, size_t elem_size, size_t capacity,
                       const tsk_site *site)
{
	tsk_chan *c;

	if (out == NULL || elem_size == 0 || elem_size > CHAN_ELEM_MAX)
		return -EINVAL;
	if (capacity != TSK_UNBOUNDED && capacity > SIZE_MAX / elem_size)
		return -ENOMEM;
	c = chan__alloc(NULL, sizeof(*c));
	if (c == NULL)
		goto fail_chan;
	memset(c, 0, sizeof(*c));
	c->lock = (rt_spin)RT_SPIN_INIT;
	c->elem_size = elem_size;
	c->cap = capacity;
	if (site != NULL) {
		/* TSK_SITE is a compound literal with automatic storage in the
		 * caller's block: keep a copy (its strings are literals). */
		c->site_copy = *site;
		c->site = &c->site_copy;
	}
	rt__copy_name(c->name, sizeof(c->name), name, "chan");
	if (capacity != TSK_UNBOUNDED && capacity > 0) {
		c->buf = chan__alloc(NULL, capacity * elem_size);
		if (c->buf == NULL)
			goto fail_buf;
		c->ring_cap = capacity;
	}
	rt__res_init(&c->res, TSK_RES_CHAN, c->name, site, capacity);
	atomic_fetch_add_explicit(&chan_live, 1, memory_order_relaxed);
	*out = c;
	return 0;

fail_buf:
	free(c);
fail_chan:
	return -ENOMEM;
}

int(tsk_chan_create)(tsk_chan **out, const char *name, size_t elem_size, size_t capacity)
{
	return tsk_chan_create_at(out, name, elem_size, capacity, NULL);
}

/* Parks the calling task on q (c->senders for op TSK_SEND, c->receivers for
 * TSK_RECV) until a peer completes its operation, the deadline passes or
 * it is cancelled.  elem stays the caller's; a peer copies from or into it
 * before waking the task.  Called with c->lock held after the operation
 * found it would block; returns with it released.
 * Returns 0 (done), -EPIPE (closed while waiting), -EPERM (not a task),
 * -ETIMEDOUT, -ECANCELED (nothing was transferred), -ENOMEM (no timer). */
static int chan_block(tsk_chan *c, void *elem, int op, int64_t deadline, const tsk_site *site)
{
	/* A copy of c's identity for the probes: c may be destroyed by the peer
	 * that completes our operation while we are still on our way to
	 * sleep or just woke, so neither the core (wi.obj) nor our event may
	 * read c itself then. */
	rt_res res = c->res;
	rt_wait_info wi = {op == TSK_SEND ? RT_WAIT_CHAN_SEND : RT_WAIT_CHAN_RECV, &res, site,
	                   res.id};
	rt_waitq *q = chan__queue(c, op);
	size_t woken_len = chan__woken_len(c, op);
	rt_waiter w;
	int rc;

	rc = rt__can_wait(deadline);
	if (rc < 0) {
		rt__spin_unlock(&c->lock);
		return rc;
	}
	rt__wait_prepare(&w, rt__self(), 0, elem);
	w.op = op;
	rt__waitq_push(q, &w);
	c->nwait++;
	chan__publish(c);
	rt__spin_unlock(&c->lock);

	rc = rt__wait(deadline, &wi);
	if (rc >= 0) {
		/* The peer finished our operation and dropped nwait.  No record
		 * of ours: our BLOCK on c and our WAKE by the peer (who records
		 * its own SEND or RECV) already tell it, two records fewer per
		 * hand-off (docs/FORMAT.md). */
		(void)woken_len;
		return w.result;
	}

	/* The timer or a canceller won the token, so no peer touched elem;
	 * leave the queue (a waker may have popped us already). */
	rt__spin_lock(&c->lock);
	if (w.linked)
		rt__waitq_remove(q, &w);
	c->nwait--;
	chan__publish(c);
	rt__spin_unlock(&c->lock);
	return rc;
}

/* Sends a copy of *elem (the caller keeps elem), waiting until `deadline`
 * (absolute tsk_now() ns or TSK_FOREVER) while the channel is full or, for
 * a rendezvous, until a receiver takes it.  Completes at once when it can,
 * even when cancelled or past the deadline.
 * Returns 0; -EPIPE (closed before or while waiting); -ETIMEDOUT;
 * -ECANCELED; -ENOMEM (unbounded growth failed, or no timer); -EPERM (it
 * would block and the caller is not a task); -EINVAL (c or elem NULL). */
int tsk_chan_send_at(tsk_chan *c, const void *elem, int64_t deadline, const tsk_site *site)
{
	int rc;

	if (c == NULL || elem == NULL)
		return -EINVAL;
	rt__spin_lock(&c->lock);
	rc = chan__send_locked(c, elem, NULL);
	if (rc != -EAGAIN) {
		rt__spin_unlock(&c->lock);
		return rc;
	}
	return chan_block(c, (void *)elem, TSK_SEND, deadline, site);
}

int(tsk_chan_send)(tsk_chan *c, const void *elem, int64_t deadline)
{
	return tsk_chan_send_at(c, elem, deadline, NULL);
}

/* Receives the oldest element into *elem (elem_size bytes, the caller's),
 * waiting until `deadline` while the channel is empty.  Buffered elements
 * are still delivered after close.
 * Returns 0; -EPIPE (closed and drained, before or while waiting);
 * -ETIMEDOUT; -ECANCELED; -ENOMEM (no timer); -EPERM (it would block and
 * the caller is not a task); -EINVAL (c or elem NULL). */
int tsk_chan_recv_at(tsk_chan *c, void *elem, int64_t deadline, const tsk_site *site)
{
	int rc;

	if (c == NULL || elem == NULL)
		return -EINVAL;
	rt__spin_lock(&c->lock);
	rc = chan__recv_locked(c, elem, NULL);
	if (rc != -EAGAIN) {
		rt__spin_unlock(&c->lock);
		return rc;
	}
	return chan_block(c, elem, TSK_RECV, deadline, site);
}

int(tsk_chan_recv)(tsk_chan *c, void *elem, int64_t deadline)
{
	return tsk_chan_recv_at(c, elem, deadline, NULL);
}

/* Sends a copy of *elem if that needs no waiting; works outside tasks.
 * Returns 0, -EAGAIN (full, or a rendezvous with no receiver waiting),
 * -EPIPE (closed), -ENOMEM (unbounded growth failed), -EINVAL (NULL). */
int tsk_chan_try_send(tsk_chan *c, const void *elem)
{
	int rc;

	if (c == NULL || elem == NULL)
		return -EINVAL;
	rt__spin_lock(&c->lock);
	rc = chan__send_locked(c, elem, NULL);
	rt__spin_unlock(&c->lock);
	return rc;
}

/* Receives into *elem if that needs no waiting; works outside tasks.
 * Returns 0, -EAGAIN (empty and no sender waiting), -EPIPE (closed and
 * drained), -EINVAL (NULL). */
int tsk_chan_try_recv(tsk_chan *c, void *elem)
{
	int rc;

	if (c == NULL || elem == NULL)
		return -EINVAL;
	rt__spin_lock(&c->lock);
	rc = chan__recv_locked(c, elem, NULL);
	rt__spin_unlock(&c->lock);
	return rc;
}

/* Wakes every waiter of q whose token can be claimed with -EPIPE; the
 * others are leaving on their own.  Under c->lock. */
static void chan_fail_all(tsk_chan *c, rt_waitq *q)
{
	rt_waiter *w;

	while ((w = rt__waitq_pop(q)) != NULL)
		if (rt__wake(w, w->index, -EPIPE))
			c->nwait--;
}

/* Closes c: waiting senders and receivers return -EPIPE (a waiting select
 * returns that case with result -EPIPE), later sends fail with -EPIPE,
 * receives drain the buffered elements and then fail with -EPIPE.
 * Returns 0, -EPIPE (already closed), -EINVAL (c NULL). */
int tsk_chan_close(tsk_chan *c)
{
	if (c == NULL)
		return -EINVAL;
	rt__spin_lock(&c->lock);
	if (c->closed) {
		rt__spin_unlock(&c->lock);
		return -EPIPE;
	}
	c->closed = true;
	/* Non-stale receivers only wait on an empty ring, so none of them
	 * misses a buffered element by being failed here. */
	chan_fail_all(c, &c->receivers);
	chan_fail_all(c, &c->senders);
	chan__publish(c);
	/* before unlocking: a woken task may destroy c right after */
	rt__res_event(&c->res, TSK_EV_CLOSE, 0, 0);
	rt__spin_unlock(&c->lock);
	return 0;
}

/* Frees c and any elements still buffered (NULL is a no-op).  Returns 0,
 * or -EBUSY (c untouched) while a task waits on c or is still leaving a
 * wait on it, e.g. a select that was just completed through another case
 * and has not unlinked from c yet. */
int tsk_chan_destroy(tsk_chan *c)
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
	free(c->buf);
	free(c);
	atomic_fetch_sub_explicit(&chan_live, 1, memory_order_relaxed);
	return 0;
}

/* Number of buffered elements (always 0 for a rendezvous); 0 for NULL. */
size_t tsk_chan_len(const tsk_chan *c)
{
	tsk_chan *m = (tsk_chan *)c; /* the lock is not part of the value */
	size_t len;

	if (c == NULL)
		return 0;
	rt__spin_lock(&m->lock);
	len = m->len;
	rt__spin_unlock(&m->lock);
	return len;
}

/* Capacity given at create (TSK_UNBOUNDED for unbounded); 0 for NULL. */
size_t tsk_chan_cap(const tsk_chan *c)
{
	return c == NULL ? 0 : c->cap;
}

/* See chan_int.h. */
long chan__live(void)
{
	return atomic_load_explicit(&chan_live, memory_order_relaxed);
}
