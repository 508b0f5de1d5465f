/*
 * rt_int.h - the runtime's private interface between the scheduler and the
 * synchronisation objects built on it.
 *
 * Every blocking primitive (channels, select, mutex, rwlock, semaphore, wait
 * group, condvar, join, sleep) uses the one wait protocol below, so that
 * deadlines, cancellation and wake-ups race correctly in exactly one place.
 *
 * The wait protocol
 * -----------------
 * A task that must wait for resource R does, holding R's spinlock:
 *
 *     rt_waiter w;
 *     rt__wait_prepare(&w, self, index, elem);   token := WAITING
 *     rt__waitq_push(&R->waiters, &w);          publish
 *     rt__spin_unlock(&R->lock);
 *     rc = rt__wait(deadline, &wi);              park until claimed
 *     if (rc < 0) {                              timed out or cancelled:
 *         rt__spin_lock(&R->lock);               unlink if still queued
 *         if (w.linked) rt__waitq_remove(&R->waiters, &w);
 *         rt__spin_unlock(&R->lock);
 *     }
 *
 * A waker, holding R's spinlock, takes waiters in FIFO order and calls
 * rt__claim(w, value): it atomically moves the task's token from WAITING to
 * `value`.  Only one party ever wins the token of a given wait: a waker of
 * R, a waker of another resource in the same select, the timer or a
 * canceller.  The winner finishes the operation on the waiter's behalf
 * (copies the element, transfers ownership), stores w->result, then calls
 * rt__ready(w->task) and touches the waiter no more.  A waker whose claim
 * fails unlinks the waiter and moves on: it was already claimed elsewhere.
 *
 * rt__wait returns the winning value: >= 0 (the waiter's index, set by a
 * waker) or -ETIMEDOUT / -ECANCELED.  Before it sleeps it checks the task's
 * cancel flag after the token is WAITING (pairs with the seq_cst store of
 * the flag in rt__cancel), so a cancel is never lost.
 *
 * Lifetime: waiters live on the waiting task's stack.  Every access to a
 * queued waiter happens under the spinlock of the queue it is linked on,
 * and the waiting task relocks that spinlock to unlink itself before it
 * returns, so no waker can touch a dead waiter.
 */
#ifndef RT_INT_H
#define RT_INT_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "taskscope.h"
#include "tsk_segment.h" /* resource kinds and event types for rt_res */

/* ---- spinlock --------------------------------------------------------- */

/* Test-and-test-and-set lock for short critical sections (a few dozen
 * instructions; never held across a context switch).  Backs off with
 * `pause`, then sched_yield so a preempted holder can finish. */
/* A hint to the CPU that we are spinning. */
static inline void rt__cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
	__builtin_ia32_pause();
#elif defined(__aarch64__)
	__asm__ __volatile__("yield" ::: "memory");
#endif
}

typedef struct rt_spin {
	atomic_int v;
} rt_spin;
#define RT_SPIN_INIT                                                                               \
	{                                                                                          \
		0                                                                                  \
	}
void rt__spin_lock_slow(rt_spin *s);
static inline void rt__spin_lock(rt_spin *s)
{
	/* acquire: pairs with the release in rt__spin_unlock */
	if (!atomic_exchange_explicit(&s->v, 1, memory_order_acquire))
		return;
	rt__spin_lock_slow(s);
}
static inline bool rt__spin_trylock(rt_spin *s)
{
	return atomic_load_explicit(&s->v, memory_order_relaxed) == 0 &&
	       !atomic_exchange_explicit(&s->v, 1, memory_order_acquire);
}
static inline void rt__spin_unlock(rt_spin *s)
{
	atomic_store_explicit(&s->v, 0, memory_order_release);
}

/* ---- waiters and wait queues ------------------------------------------ */

typedef struct rt_waiter rt_waiter;
struct rt_waiter {
	rt_waiter *next, *prev; /* links in one wait queue (under its lock) */
	tsk_task *task;         /* the waiting task */
	void *elem;             /* channel element buffer (send: source, recv: destination) */
	int index;              /* value rt__claim stores on a normal wake (select case index) */
	int op;                 /* TSK_SEND / TSK_RECV, or a primitive-specific tag */
	int result;             /* set by the winner before rt__ready: 0 or -EPIPE etc. */
	bool linked;            /* on a queue; changed under that queue's lock */
};

/* FIFO of waiters; all operations need the owning object's spinlock. */
typedef struct rt_waitq {
	rt_waiter *head, *tail;
	size_t len;
} rt_waitq;

static inline bool rt__waitq_empty(const rt_waitq *q)
{
	return q->head == NULL;
}
void rt__waitq_push(rt_waitq *q, rt_waiter *w);
rt_waiter *rt__waitq_pop(rt_waitq *q); /* NULL when empty; clears linked */
void rt__waitq_remove(rt_waitq *q, rt_waiter *w);

/* Prepares w for `self` and sets the task's token to WAITING.  Call under
 * the resource's lock, before publishing w. */
void rt__wait_prepare(rt_waiter *w, tsk_task *self, int index, void *elem);

/* As rt__wait_prepare, for a wait that cancellation must not end (then use
 * rt__wait_nocancel). */
void rt__wait_prepare_nocancel(rt_waiter *w, tsk_task *self, int index, void *elem);

/* What the inspector will show while the task waits.  obj is never
 * dereferenced by the runtime after the object's lock is dropped (a peer may
 * complete the operation and destroy the object before the waiter has even
 * switched out): what the recorder needs is copied here beforehand. */
typedef struct rt_wait_info {
	int kind;             /* RT_WAIT_* */
	const void *obj;      /* the awaited object (tsk_mutex *, ...), for identity only */
	const tsk_site *site; /* call site of the blocking call (may be NULL) */
	uint64_t obj_id;      /* its rt_res id (0: unknown); for RT_WAIT_JOIN the task id */
} rt_wait_info;

/* Same values as enum tsk_wait_kind in tsk_segment.h (checked in sched.c). */
enum {
	RT_WAIT_NONE,
	RT_WAIT_SLEEP,
	RT_WAIT_JOIN,
	RT_WAIT_CHAN_SEND,
	RT_WAIT_CHAN_RECV,
	RT_WAIT_SELECT,
	RT_WAIT_MUTEX,
	RT_WAIT_RWLOCK_RD,
	RT_WAIT_RWLOCK_WR,
	RT_WAIT_SEM,
	RT_WAIT_WG,
	RT_WAIT_COND,
	RT_WAIT_IO,      /* obj_id: fd | TSK_IO_RD / TSK_IO_WR (tsk_segment.h) */
	RT_WAIT_OFFLOAD, /* obj_id: the job's function address */
};

/* Parks the calling task (after rt__wait_prepare and publishing) until its
 * token is claimed, the deadline passes or it is cancelled.  Returns the
 * claimed value (>= 0), -ETIMEDOUT or -ECANCELED.  A deadline already past
 * returns -ETIMEDOUT at once (claiming the token itself).  Must be called
 * from a task with no spinlock held. */
int rt__wait(int64_t deadline, const rt_wait_info *wi);

/* As rt__wait, but cancellation neither prevents nor ends the wait (for
 * reacquiring a mutex in tsk_cond_wait, which must own it on return).
 * Prepare the waiter with rt__wait_prepare_nocancel: with rt__wait_prepare
 * a cancel that lands before this call still ends the wait. */
int rt__wait_nocancel(int64_t deadline, const rt_wait_info *wi);

/* Claims w's task token with `value` (>= 0).  Returns true when the caller
 * won and must now complete the operation and call rt__ready(w->task).
 * Call under the lock of the queue w is (or was) linked on. */
bool rt__claim(rt_waiter *w, int value);

/* Makes a task whose token the caller claimed runnable.  After this call
 * the caller must not touch the task or its waiter again. */
void rt__ready(tsk_task *t);

/* Claims and readies in one step: rt__claim + set result + rt__ready. */
static inline bool rt__wake(rt_waiter *w, int value, int result)
{
	if (!rt__claim(w, value))
		return false;
	w->result = result;
	rt__ready(w->task);
	return true;
}

/* ---- resources as the inspector sees them ----------------------------- */

/* Every synchronisation object (channel, mutex, rwlock, semaphore, wait
 * group, condvar) has an rt_res as its FIRST member: its identity in the
 * flight recorder.  rt_wait_info.obj of a wait on it points at the object,
 * and so at its rt_res.  Kinds are enum tsk_res_kind (tsk_segment.h). */
typedef struct rt_res {
	uint64_t id;    /* process-unique resource id (never 0) */
	uint32_t pslot; /* probe slot + 1, 0 when not recorded */
	uint32_t kind;  /* enum tsk_res_kind */
} rt_res;

/* Gives r an id and a live-state slot and records its creation.  capacity:
 * a channel's capacity (TSK_UNBOUNDED allowed), a semaphore's initial
 * value, else 0. */
void rt__res_init(rt_res *r, int kind, const char *name, const tsk_site *site, uint64_t capacity);
/* Records r's destruction and frees its slot. */
void rt__res_fini(rt_res *r);
/* Publishes r's live state; call under the object's lock, after each
 * change of owner, holders, waiters or length.  owner: the task holding it
 * exclusively (mutex, rwlock writer) or NULL; value: channel length,
 * semaphore units or wait-group counter; nreaders: read holders. */
void rt__res_state(const rt_res *r, const tsk_task *owner, uint32_t waiters, uint64_t value,
                   uint32_t nreaders, uint32_t flags);
/* Records an event on r by the calling task: TSK_EV_ACQUIRE, RELEASE,
 * SEND, RECV, CLOSE, SIGNAL or WG_ADD; arg and a32 as tsk_segment.h says. */
void rt__res_event(const rt_res *r, int type, uint64_t arg, uint32_t a32);

/* ---- tasks ------------------------------------------------------------ */

/* The running task, or NULL outside a task. */
tsk_task *rt__self(void);
/* Whether t has been cancelled. */
bool rt__cancelled(const tsk_task *t);
/* Copies a user-supplied object name into dst (always NUL-terminated). */
void rt__copy_name(char *dst, size_t cap, const char *name, const char *dflt);

#define RT_NAME_MAX 48

/* Returns the -EPERM / -ECANCELED / -ETIMEDOUT a blocking call must return
 * when it cannot complete at once: -EPERM outside a task, -ECANCELED when
 * the task is cancelled, -ETIMEDOUT when the deadline has passed, or 0
 * when the caller may wait.  Call before rt__wait_prepare. */
int rt__can_wait(int64_t deadline);

#endif /* RT_INT_H */
