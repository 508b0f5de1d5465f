/*
 * wait.c - the one wait protocol every blocking call uses (see rt_int.h),
 * wait queues, and the spinlock slow path.
 *
 * A wait is decided by the task's token: rt__wait_prepare sets it to
 * WAITING; exactly one party then moves it to a result with a CAS (a waker
 * through rt__claim, the timer with -ETIMEDOUT, a canceller with
 * -ECANCELED, or the task itself when it gives up before sleeping).  The
 * winner alone may call rt__ready.  The task's `gate` settles the other
 * race, between the ready and the task switching out: both decrement it
 * and whichever comes second queues the task, so a task is never queued
 * while its context is still live on a worker.
 */
#include <errno.h>
#include <sched.h>
#include <string.h>

#include "sched_int.h"

void rt__spin_lock_slow(rt_spin *s)
{
	for (unsigned spins = 0;; spins++) {
		/* test before test-and-set: spin on a shared cache line */
		while (atomic_load_explicit(&s->v, memory_order_relaxed)) {
			if (spins++ < 1000)
				rt__cpu_relax();
			else
				sched_yield();
		}
		/* acquire: pairs with the release in rt__spin_unlock */
		if (!atomic_exchange_explicit(&s->v, 1, memory_order_acquire))
			return;
	}
}

void rt__waitq_push(rt_waitq *q, rt_waiter *w)
{
	w->next = NULL;
	w->prev = q->tail;
	if (q->tail)
		q->tail->next = w;
	else
		q->head = w;
	q->tail = w;
	q->len++;
	w->linked = true;
}

void rt__waitq_remove(rt_waitq *q, rt_waiter *w)
{
	if (w->prev)
		w->prev->next = w->next;
	else
		q->head = w->next;
	if (w->next)
		w->next->prev = w->prev;
	else
		q->tail = w->prev;
	w->next = w->prev = NULL;
	w->linked = false;
	q->len--;
}

rt_waiter *rt__waitq_pop(rt_waitq *q)
{
	rt_waiter *w = q->head;
	if (w)
		rt__waitq_remove(q, w);
	return w;
}

static void prepare(rt_waiter *w, tsk_task *self, int index, void *elem, int token)
{
	memset(w, 0, sizeof(*w));
	w->task = self;
	w->index = index;
	w->elem = elem;
	atomic_store_explicit(&self->gate, 2, memory_order_relaxed);
	/* seq_cst: ordered before the cancel-flag check in rt__wait (pairs with
	 * the seq_cst flag store then token CAS in rt__cancel) */
	atomic_store(&self->token, token);
}

void rt__wait_prepare(rt_waiter *w, tsk_task *self, int index, void *elem)
{
	prepare(w, self, index, elem, RT_TOKEN_WAITING);
}

void rt__wait_prepare_nocancel(rt_waiter *w, tsk_task *self, int index, void *elem)
{
	/* rt__cancel only claims RT_TOKEN_WAITING: this wait cannot be cancelled */
	prepare(w, self, index, elem, RT_TOKEN_WAITING_NOCANCEL);
}

bool rt__claim(rt_waiter *w, int value)
{
	return rt__token_claim(w->task, value);
}

#if TSK_PROBES
/* The WAKE event: emitted by whoever claimed t's token, once per wake. */
static void probe_wake(tsk_task *t)
{
	int v = atomic_load_explicit(&t->token, memory_order_relaxed);
	uint64_t tsc, me = rt__probe_ctx(&tsc);
	probe_emit(TSK_EV_WAKE, tsc, t->id, me, 0, 0, 0,
	           v == -ETIMEDOUT   ? 1u
	           : v == -ECANCELED ? 2u
	                             : 0u,
	           0, 0);
}
#endif

void rt__ready(tsk_task *t)
{
	RT_PROBE(probe_wake(t));
	/* acq_rel: the second of (ready, switched-out) queues the task; pairs
	 * with the decrement in the scheduler after the task switched out */
	if (atomic_fetch_sub_explicit(&t->gate, 1, memory_order_acq_rel) != 1)
		return;
	rt__enqueue(t->rt, t);
}

static int wait_common(int64_t deadline, const rt_wait_info *wi, bool nocancel)
{
	tsk_task *self = rt__self();
	int rc;
	bool timed = false;

	if (nocancel) {
		/* Normally prepared with rt__wait_prepare_nocancel already; if a
		 * caller used rt__wait_prepare, switch modes, unless a canceller
		 * or waker has claimed the token already (then just collect it). */
		int exp = RT_TOKEN_WAITING;
		atomic_compare_exchange_strong(&self->token, &exp, RT_TOKEN_WAITING_NOCANCEL);
	}
	/* seq_cst load: pairs with the seq_cst store of the flag in rt__cancel */
	if (!nocancel && atomic_load(&self->cancelled)) {
		if (rt__token_claim(self, -ECANCELED))
			goto done;
	} else if (deadline != TSK_FOREVER) {
		if (deadline <= tsk_now()) {
			if (rt__token_claim(self, -ETIMEDOUT))
				goto done;
		} else {
			self->timer.deadline = deadline;
			self->timer.task = self;
			rt_worker *w = rt__worker();
			int first = rt__timer_add(&w->timers, &self->timer);
			if (first < 0) {
				if (rt__token_claim(self, -ENOMEM))
					goto done;
			} else {
				timed = true;
				if (first)
					rt__timer_added(w->rt, deadline);
			}
		}
	}
	self->wait = wi ? *wi : (rt_wait_info){0};
	self->wait_deadline = deadline;
	self->pstack = 0;
	/* self runs on self->worker: its step time, without a thread-local call */
	RT_PROBE(if (probe_stack_due(self->worker->step_tsc)) self->pstack =
	                 probe_stack_capture(1));
	self->state = RT_STATE_BLOCKED;
	/* Sleep.  If our token was claimed meanwhile, the ready already came
	 * or will come, and the gate queues us once we are switched out. */
	rt__suspend(rt__worker(), RT_POST_PARK);
done:
	/* acquire: pairs with the claimer's acq_rel CAS */
	rc = atomic_load_explicit(&self->token, memory_order_acquire);
	atomic_store_explicit(&self->token, RT_TOKEN_IDLE, memory_order_relaxed);
	if (timed)
		rt__timer_del(&self->timer);
	self->wait.kind = RT_WAIT_NONE;
	return rc;
}

int rt__wait(int64_t deadline, const rt_wait_info *wi)
{
	return wait_common(deadline, wi, false);
}

int rt__wait_nocancel(int64_t deadline, const rt_wait_info *wi)
{
	return wait_common(deadline, wi, true);
}

int rt__can_wait(int64_t deadline)
{
	tsk_task *self = rt__self();
	if (!self)
		return -EPERM;
	if (atomic_load(&self->cancelled))
		return -ECANCELED;
	if (deadline != TSK_FOREVER && deadline <= tsk_now())
		return -ETIMEDOUT;
	return 0;
}

void rt__copy_name(char *dst, size_t cap, const char *name, const char *dflt)
{
	const char *src = name ? name : dflt;
	size_t n = strnlen(src, cap - 1);
	memcpy(dst, src, n);
	dst[n] = '\0';
}
