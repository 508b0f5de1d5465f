/*
 * chan_int.h - what select.c shares with chan.c: the channel layout and the
 * operations that run under a channel's spinlock.
 *
 * tsk_select polls and completes cases on several channels, one channel
 * lock at a time, with the very same code as tsk_chan_send/recv; keeping
 * that code in one place (chan.c) keeps the hand-off rules in one place.
 *
 * Counting waiters (nwait): every waiter pushed on a channel queue counts
 * one until either a waker claims it (the waker subtracts it: the claimed
 * task never touches the channel again) or its own task has relocked the
 * channel and unlinked it (the task subtracts it).  A waiter popped by a
 * waker whose claim failed is no longer queued but still counted, because
 * its task will relock the channel to look at `linked`.  tsk_chan_destroy
 * refuses while nwait > 0, so nobody ever locks a freed channel.
 */
#ifndef CHAN_INT_H
#define CHAN_INT_H

#include <stdbool.h>
#include <stddef.h>

#include "rt_int.h"

struct tsk_chan {
	rt_res res;             /* flight-recorder identity: FIRST member (rt_int.h) */
	rt_spin lock;           /* guards every field down to nwait */
	bool closed;            /* tsk_chan_close was called */
	unsigned char *buf;     /* ring of ring_cap elements; NULL while ring_cap is 0 */
	size_t head;            /* ring slot of the oldest buffered element */
	size_t len;             /* buffered elements */
	size_t ring_cap;        /* slots in buf: cap when bounded, grows when unbounded */
	rt_waitq senders;       /* tasks waiting to send: rendezvous or buffer full */
	rt_waitq receivers;     /* tasks waiting to receive: buffer empty */
	size_t nwait;           /* queued or leaving waiters (see above) */
	size_t pub_len;         /* length last published to the recorder */
	uint32_t pub_waiters;   /* waiters last published */
	uint32_t pub_skipped;   /* changes not published since (see chan__publish) */
	size_t elem_size;       /* bytes per element, 1..65536 (constant) */
	size_t cap;             /* 0, a bound, or TSK_UNBOUNDED (constant) */
	const tsk_site *site;   /* creation site: &site_copy, or NULL when unknown (constant) */
	tsk_site site_copy;     /* the caller's site, copied: TSK_SITE is block-scoped */
	char name[RT_NAME_MAX]; /* copied user name (constant) */
};

/* The queue a waiter for `op` (TSK_SEND or TSK_RECV) waits on. */
static inline rt_waitq *chan__queue(tsk_chan *c, int op)
{
	return op == TSK_SEND ? &c->senders : &c->receivers;
}

/* Under c->lock: sends a copy of *elem (elem_size bytes; the caller keeps
 * ownership of elem) without waiting: hands it to the first waiting
 * receiver whose token it can claim (never one of self's own waiters), or
 * buffers it.  self is the calling task when it may have waiters queued on
 * c (select), else NULL.
 * Returns 0, -EPIPE (closed), -EAGAIN (would block), -ENOMEM (unbounded
 * growth failed; c unchanged). */
int chan__send_locked(tsk_chan *c, const void *elem, const tsk_task *self);

/* Under c->lock: receives into *elem without waiting: the oldest buffered
 * element (refilling the freed slot from the first waiting sender), else
 * straight from a waiting sender (rendezvous).  self as for send.
 * Returns 0, -EPIPE (closed and drained), -EAGAIN (would block). */
int chan__recv_locked(tsk_chan *c, void *elem, const tsk_task *self);

/* Under c->lock: whether an `op` on c would complete now (0 or -EPIPE),
 * counting waiting peers other than self's.  A waiting peer may turn out
 * to be stale (claimed elsewhere), so a true answer can still be followed
 * by -EAGAIN from the operation itself. */
bool chan__ready_locked(const tsk_chan *c, int op, const tsk_task *self);

/* Under c->lock: publishes c's live state (waiters, length, closed) to the
 * flight recorder after a change; one branch when the probes are off. */
void chan__publish(const tsk_chan *c);

/* Records that the calling task completed `op` (TSK_SEND or TSK_RECV) on
 * the channel whose rt_res is `res`, leaving `len` elements buffered.  A
 * woken waiter passes a copy of res taken before it parked: once a peer
 * has completed its operation, the channel may already be destroyed. */
void chan__note(const rt_res *res, int op, size_t len);

/* The length a waiter for `op` on c leaves behind when a peer completes
 * it, known before it parks (c's capacity is constant). */
size_t chan__woken_len(const tsk_chan *c, int op);

/* Channels created and not yet destroyed, process-wide (leak checks). */
long chan__live(void);

/* realloc(old, size), or chan__alloc_hook's answer when one is set: every
 * allocation of chan.c and select.c goes through it.  Free with free(). */
void *chan__alloc(void *old, size_t size);

/* Test seams (NULL in production; set them only while no other task uses
 * channels or selects):
 * chan__alloc_hook replaces realloc in chan__alloc (return NULL to
 * simulate -ENOMEM);
 * select__pass2_hook is called by a select that found no case ready, with
 * no lock held, just before its blocking pass, so a test can change the
 * channels in the window between the two passes (a window that real
 * races hit only rarely). */
extern void *(*chan__alloc_hook)(void *old, size_t size);
extern void (*select__pass2_hook)(tsk_case *cases, size_t n);

#endif /* CHAN_INT_H */
