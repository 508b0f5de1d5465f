/*
 * sched.c - workers, run queues, parking, and tsk_run.
 *
 * N workers (threads; worker 0 is the thread that called tsk_run) each run
 * a scheduler loop on their own thread stack: pick a task and switch to it.
 * A task that stops (yield, park, exit) switches straight to the next task
 * of its worker's run-next slot or local queue when there is one
 * (rt__suspend), else back to the loop; whoever runs next settles it once
 * its context is saved (finish_prev: requeue after a yield, queue after a
 * park whose wake-up already came, bury after an exit).  The file is long
 * (about 1000 lines) because the loop, the queues, parking and the switch
 * paths share invariants that are easier to check in one place.  Where the
 * next task comes from, in order:
 *
 *   1. every 61st step, the global queue (so it is never starved);
 *   2. run-next: the task most recently woken by a task of this worker, so a
 *      ping-pong stays on one CPU (a cross-CPU wake-up costs ~100 us on the
 *      reference machine; a local switch costs nanoseconds).  At most 32
 *      run-next picks in a row, then the local queue gets a turn;
 *   3. the local queue (FIFO), then the global queue (a batch);
 *   4. due timers, of every worker's heap (a busy worker may not get to its
 *      own soon; and an idle worker must not sleep on a deadline already
 *      past, see fire_all_timers);
 *   5. stealing half of another worker's queue (spinning a few rounds;
 *      a victim's run-next is taken only if the victim has not moved on for
 *      the whole spin, i.e. it is stuck in a long task);
 *   6. parking on a futex, with the nearest timer deadline as timeout.
 *
 * Wake-ups avoid thundering herds as Go does: work pushed to a queue wakes
 * one parked worker only if none is spinning already, and that worker
 * starts out spinning.  A task woken into run-next wakes nobody: its waker's
 * worker will run it next.
 *
 * Clean exit: when the root task has returned, the runtime keeps going until
 * every task has returned.  When the last worker goes idle (nothing can run
 * any more; tasks waiting on a timer count as blocked) it cancels every
 * blocked task, claiming all their waits before waking any; they return
 * -ECANCELED from their blocking call and finish.  When the live count reaches zero all workers
 * leave their loops and tsk_run joins their threads.
 */
#include <errno.h>
#include <signal.h>
#include <limits.h>
#include <linux/futex.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "io_int.h"
#include "sched_int.h"

#if defined(__SANITIZE_ADDRESS__)
#define RT_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define RT_ASAN 1
#endif
#endif
#if defined(__SANITIZE_THREAD__)
#define RT_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define RT_TSAN 1
#endif
#endif
#ifdef RT_ASAN
#include <sanitizer/common_interface_defs.h>
#endif
#ifdef RT_TSAN
#include <sanitizer/tsan_interface.h>
#endif

#define RT_SPIN_ROUNDS 8 /* steal rounds before parking */

/* A full barrier between a store and a later load (Dekker).  TSan does not
 * model atomic_thread_fence, so under TSan an RMW on one shared word stands
 * in for it: both sides of each pairing use the same word, and TSan orders
 * them through it. */
#ifdef RT_TSAN
static atomic_int tsan_fence_word;
#define RT_FULL_FENCE() atomic_fetch_add(&tsan_fence_word, 0)
#else
#define RT_FULL_FENCE() atomic_thread_fence(memory_order_seq_cst)
#endif

/* This thread's worker.  initial-exec: one %fs-relative load instead of a
 * __tls_get_addr call in the shared library. */
static __attribute__((tls_model("initial-exec"))) __thread rt_worker *rt__tls_worker;

/* Not inlined: GCC treats the thread pointer as constant within a function,
 * but a task may resume on another thread after a context switch; a fresh
 * call reads the current thread's slot. */
__attribute__((noinline)) rt_worker *rt__worker(void)
{
	rt_worker *w = rt__tls_worker;
	__asm__ __volatile__("" ::: "memory");
	return w;
}

tsk_task *rt__self(void)
{
	rt_worker *w = rt__worker();
	return w ? w->cur : NULL;
}

/* ---- futex ------------------------------------------------------------ */

static void futex_wait(atomic_uint *addr, unsigned val, int64_t deadline)
{
	struct timespec ts, *tp = NULL;
	if (deadline != INT64_MAX) {
		ts.tv_sec = deadline / 1000000000;
		ts.tv_nsec = deadline % 1000000000;
		tp = &ts;
	}
	/* FUTEX_WAIT_BITSET takes an absolute CLOCK_MONOTONIC timeout */
	syscall(SYS_futex, addr, FUTEX_WAIT_BITSET | FUTEX_PRIVATE_FLAG, val, tp, NULL,
	        FUTEX_BITSET_MATCH_ANY);
}

static void futex_wake(atomic_uint *addr, int n)
{
	syscall(SYS_futex, addr, FUTEX_WAKE | FUTEX_PRIVATE_FLAG, n, NULL, NULL, 0);
}

/* ---- probes ------------------------------------------------------------ */

_Static_assert((int)RT_WAIT_COND == (int)TSK_WAIT_COND &&
                       (int)RT_WAIT_MUTEX == (int)TSK_WAIT_MUTEX &&
                       (int)RT_WAIT_JOIN == (int)TSK_WAIT_JOIN &&
                       (int)RT_WAIT_SELECT == (int)TSK_WAIT_SELECT &&
                       (int)RT_WAIT_IO == (int)TSK_WAIT_IO &&
                       (int)RT_WAIT_OFFLOAD == (int)TSK_WAIT_OFFLOAD,
               "RT_WAIT_* and TSK_WAIT_* must agree");

/* Timestamp for an event emitted between switches: the calling worker's
 * step time (one rdtsc per switch is the probes' whole time budget), or a
 * fresh one outside a worker. */
uint64_t rt__probe_now(void)
{
	rt_worker *w = rt__worker();
	return w && w->cur ? w->step_tsc : probe_tsc();
}

/* The calling task's id (0 outside a task) and the timestamp for its
 * event, with one thread-local read. */
uint64_t rt__probe_ctx(uint64_t *tsc)
{
	rt_worker *w = rt__worker();
	if (w && w->cur) {
		*tsc = w->step_tsc;
		return w->cur->id;
	}
	*tsc = probe_tsc();
	return 0;
}

#if TSK_PROBES
/* The id of what a wait is on, for the inspector. */
static uint64_t wait_obj_id(const rt_wait_info *wi)
{
	/* never through wi->obj: the object may be gone (rt_int.h) */
	return wi->obj_id;
}

/* t stops running (yield, park, exit): one rdtsc for the switch, shared
 * with the RUN of whatever runs next on this worker. */
static void probe_out(rt_worker *w, tsk_task *t, int post, uint64_t next_id)
{
	uint64_t tsc = probe_tsc();
	tsk_seg_task *s = probe_task_slot(t->pslot);
	bool cancelled = atomic_load_explicit(&t->cancelled, memory_order_relaxed);

	w->step_tsc = tsc;
	if (post == RT_POST_EXIT) {
		probe_emit(TSK_EV_EXIT, tsc, t->id, 0, 0, 0, 0, cancelled, 0, next_id);
		if (t->detached) {
			probe_task_slot_free(t->pslot);
			t->pslot = 0;
			return;
		}
	}
	uint64_t obj = 0;
	uint32_t site = 0;
	if (post == RT_POST_PARK) {
		obj = wait_obj_id(&t->wait);
		site = probe_site(t->wait.site);
		probe_emit(TSK_EV_BLOCK, tsc, t->id, obj, (uint64_t)t->wait_deadline, site, 0,
		           (uint32_t)t->wait.kind, t->pstack, next_id);
	} else if (post == RT_POST_YIELD) {
		probe_emit(TSK_EV_YIELD, tsc, t->id, 0, 0, 0, 0, 0, 0, next_id);
	}
	if (!s)
		return;
	probe_slot_begin(&s->seq);
	if (tsc > s->since_tsc)
		s->busy_tsc += tsc - s->since_tsc;
	s->since_tsc = tsc;
	s->flags |= cancelled ? TSK_TF_CANCELLED : 0;
	if (post == RT_POST_PARK) {
		s->state = TSK_TS_BLOCKED;
		s->wait_kind = (uint8_t)t->wait.kind;
		s->wait_obj = obj;
		s->wait_deadline_ns = t->wait_deadline;
		s->wait_site = site;
		if (t->pstack)
			s->stack = t->pstack;
	} else {
		s->state = post == RT_POST_YIELD ? TSK_TS_READY : TSK_TS_DONE;
		s->wait_kind = TSK_WAIT_NONE;
	}
	probe_slot_end(&s->seq);
}

/* t starts running on w at tsc.  A task switched to directly from another
 * gets no RUN record: the other's BLOCK, YIELD or EXIT names it (arg2). */
static void probe_in(rt_worker *w, tsk_task *t, uint64_t tsc, bool record)
{
	tsk_seg_task *s = probe_task_slot(t->pslot);
	if (record)
		probe_emit(TSK_EV_RUN, tsc, t->id, 0, 0, 0, 0, 0, 0, 0);
	if (!s)
		return;
	probe_slot_begin(&s->seq);
	s->state = TSK_TS_RUNNING;
	s->wait_kind = TSK_WAIT_NONE;
	s->worker = (uint16_t)w->id;
	s->since_tsc = tsc;
	s->polls++;
	probe_slot_end(&s->seq);
}

/* t is queued (by its owner of the moment: see tsk_probe.h). */
void rt__probe_ready(tsk_task *t)
{
	tsk_seg_task *s = probe_task_slot(t->pslot);
	if (!s)
		return;
	uint64_t tsc = rt__probe_now();
	probe_slot_begin(&s->seq);
	if (s->state == TSK_TS_BLOCKED)
		s->wakes++;
	s->state = TSK_TS_READY;
	s->wait_kind = TSK_WAIT_NONE;
	if (tsc > s->since_tsc)
		s->since_tsc = tsc;
	probe_slot_end(&s->seq);
}
#endif /* TSK_PROBES */

/* ---- context switches ------------------------------------------------- */

static void task_stack_bounds(tsk_task *t, void **lo, size_t *len)
{
	size_t guard = t->stack.guarded ? (size_t)sysconf(_SC_PAGESIZE) : 0;
	*lo = (char *)t->stack.base + guard;
	*len = (size_t)((char *)t - (char *)*lo);
}

/* Scheduler -> task.  Returns when the task switches back. */
static void switch_to_task(rt_worker *w, tsk_task *t)
{
#ifdef RT_ASAN
	void *fake = NULL, *lo;
	size_t len;
	task_stack_bounds(t, &lo, &len);
	__sanitizer_start_switch_fiber(&fake, lo, len);
#endif
#ifdef RT_TSAN
	__tsan_switch_to_fiber(t->tsan_fiber, 0);
#endif
	rt__ctx_switch(&w->sched_ctx, &t->ctx);
#ifdef RT_ASAN
	__sanitizer_finish_switch_fiber(fake, NULL, NULL);
#endif
}

static void finish_prev(rt_worker *w);
static tsk_task *local_next(rt_worker *w);

/* The next task this worker may switch to directly from a task, skipping
 * the scheduler loop: run-next or the local queue, unless a periodic duty
 * (timers, the global queue) is due, which the loop does. */
static tsk_task *fast_next(rt_worker *w)
{
	uint32_t tick = atomic_load_explicit(&w->tick, memory_order_relaxed) + 1;
	if ((tick & 31) == 0 || tick % 61 == 0)
		return NULL;
	atomic_store_explicit(&w->tick, tick, memory_order_relaxed);
	return local_next(w);
}

/* The running task of worker w stops running: it yields, parks or exits
 * (`post`).  Switches straight to the next local task when there is one
 * (one switch instead of two through the scheduler), else to the scheduler
 * loop.  Whoever runs next settles this task (finish_prev) once its context
 * is saved.  Returns when the task is resumed, possibly on another worker:
 * do not reuse w. */
void rt__suspend(rt_worker *w, int post)
{
	tsk_task *t = w->cur;
	tsk_task *next = fast_next(w);
	RT_PROBE(probe_out(w, t, post, next ? next->id : 0));

	w->prev = t;
	w->post = post;
	if (next) {
		w->cur = next;
		next->worker = w;
		next->state = RT_STATE_RUNNING;
		RT_PROBE(probe_in(w, next, w->step_tsc, false));
#ifdef RT_ASAN
		void *lo;
		size_t len;
		task_stack_bounds(next, &lo, &len);
		/* a task that exits passes NULL so ASan frees its fake stack */
		__sanitizer_start_switch_fiber(post == RT_POST_EXIT ? NULL : &t->asan_fake, lo,
		                               len);
#endif
#ifdef RT_TSAN
		__tsan_switch_to_fiber(next->tsan_fiber, 0);
#endif
		rt__ctx_switch(&t->ctx, &next->ctx);
	} else {
		w->cur = NULL;
#ifdef RT_ASAN
		__sanitizer_start_switch_fiber(post == RT_POST_EXIT ? NULL : &t->asan_fake,
		                               w->stack_lo, w->stack_len);
#endif
#ifdef RT_TSAN
		__tsan_switch_to_fiber(w->tsan_fiber, 0);
#endif
		rt__ctx_switch(&t->ctx, &w->sched_ctx);
	}
#ifdef RT_ASAN
	__sanitizer_finish_switch_fiber(t->asan_fake, NULL, NULL);
#endif
	finish_prev(rt__worker());
}

/* First code of every task, on its own stack (see rt__ctx_init). */
static void task_entry(void *arg)
{
	tsk_task *t = arg;
#ifdef RT_ASAN
	__sanitizer_finish_switch_fiber(NULL, NULL, NULL);
#endif
	finish_prev(rt__worker());
	t->result = t->fn(t->arg);
	rt__suspend(rt__worker(), RT_POST_EXIT);
	__builtin_unreachable();
}

/* Sets up t's first context; called by rt__task_create. */
void rt__task_init_ctx(tsk_task *t)
{
	void *lo;
	size_t len;
	task_stack_bounds(t, &lo, &len);
	rt__ctx_init(&t->ctx, lo, t, task_entry, t);
#ifdef RT_TSAN
	t->tsan_fiber = __tsan_create_fiber(0);
#endif
}

void rt__task_fini_ctx(tsk_task *t)
{
#ifdef RT_TSAN
	if (t->tsan_fiber)
		__tsan_destroy_fiber(t->tsan_fiber);
	t->tsan_fiber = NULL;
#else
	(void)t;
#endif
}

/* ---- queues and wake-ups ---------------------------------------------- */

static void global_push_list(rt_runtime *rt, tsk_task *head, tsk_task *tail, long n)
{
	tail->next = NULL;
	rt__spin_lock(&rt->gq_lock);
	if (rt->gq_tail)
		rt->gq_tail->next = head;
	else
		rt->gq_head = head;
	rt->gq_tail = tail;
	atomic_fetch_add_explicit(&rt->gq_len, n, memory_order_relaxed);
	rt__spin_unlock(&rt->gq_lock);
}

/* Takes up to max tasks from the global queue: returns the first, puts the
 * rest on w's local queue. */
static tsk_task *global_get(rt_worker *w, long max)
{
	rt_runtime *rt = w->rt;
	if (atomic_load_explicit(&rt->gq_len, memory_order_relaxed) == 0)
		return NULL;
	rt__spin_lock(&rt->gq_lock);
	long len = atomic_load_explicit(&rt->gq_len, memory_order_relaxed);
	long n = len / rt->nworkers + 1;
	if (n > len)
		n = len;
	if (n > max)
		n = max;
	if (n > RT_RUNQ_SIZE / 2)
		n = RT_RUNQ_SIZE / 2;
	tsk_task *first = rt->gq_head;
	if (!first) {
		rt__spin_unlock(&rt->gq_lock);
		return NULL;
	}
	tsk_task *t = first->next;
	for (long i = 1; i < n; i++) {
		tsk_task *nx = t->next;
		rt__runq_push(&w->q, t); /* cannot overflow: n <= half */
		t = nx;
	}
	rt->gq_head = t;
	if (!t)
		rt->gq_tail = NULL;
	atomic_fetch_sub_explicit(&rt->gq_len, n, memory_order_relaxed);
	rt__spin_unlock(&rt->gq_lock);
	return first;
}

/* Pushes t on w's local queue, spilling half of it to the global queue when
 * full. */
static void push_local(rt_worker *w, tsk_task *t)
{
	if (rt__runq_push(&w->q, t))
		return;
	tsk_task *head = t, *tail = t;
	long n = 1;
	for (int i = 0; i < RT_RUNQ_SIZE / 2; i++) {
		tsk_task *o = rt__runq_pop(&w->q);
		if (!o)
			break;
		tail->next = o;
		tail = o;
		n++;
	}
	global_push_list(w->rt, head, tail, n);
}

/* Wakes parked worker v: through its futex, or through the eventfd when it
 * sleeps in epoll_wait as the watcher. */
static void wake_worker(rt_worker *v)
{
	/* seq_cst store then load: pairs with the watcher's store of polling
	 * then load of futex in park, so either we see it polling or it sees
	 * the word set and does not sleep */
	atomic_store(&v->futex, 1);
	if (atomic_load(&v->polling))
		rt__io_break(v->rt);
	else
		futex_wake(&v->futex, 1);
}

/* Wakes one parked worker, which starts out spinning; the caller has
 * already counted it in nspinning. */
static void wake_one_spinning(rt_runtime *rt)
{
	rt__spin_lock(&rt->idle_lock);
	rt_worker *w = rt->idle_head;
	if (w) {
		rt->idle_head = w->idle_next;
		w->idle = false;
		w->woken_spinning = true;
		atomic_fetch_sub(&rt->nidle, 1);
	}
	rt__spin_unlock(&rt->idle_lock);
	if (!w) {
		atomic_fetch_sub(&rt->nspinning, 1);
		return;
	}
	wake_worker(w);
}

/* New work is queued: make sure some worker will look for it. */
static void wake_if_idle(rt_runtime *rt)
{
	/* seq_cst: our queue store is ordered before this load of nidle; pairs
	 * with the fence in park between publishing idleness and rechecking
	 * the queues, so either we see the idler or it sees our work */
	RT_FULL_FENCE();
	if (atomic_load_explicit(&rt->nidle, memory_order_relaxed) == 0)
		return;
	if (atomic_load_explicit(&rt->nspinning, memory_order_relaxed) != 0)
		return;
	int zero = 0;
	if (!atomic_compare_exchange_strong(&rt->nspinning, &zero, 1))
		return;
	wake_one_spinning(rt);
}

void rt__enqueue(rt_runtime *rt, tsk_task *t)
{
	rt_worker *w = rt__worker();
	t->state = RT_STATE_READY;
	RT_PROBE(rt__probe_ready(t));
	if (w && w->rt == rt) {
		/* woken by a task running here, or by this worker's scheduler:
		 * run it next, on this CPU, and wake nobody, because this worker
		 * is about to pick work anyway; a displaced task is real extra
		 * work for the other workers */
		tsk_task *old = atomic_exchange_explicit(&w->runnext, t, memory_order_acq_rel);
		if (!old)
			return;
		push_local(w, old);
	} else {
		t->next = t;
		global_push_list(rt, t, t, 1);
	}
	wake_if_idle(rt);
}

/* As rt__ready, but a task queued here goes to the back of the local queue
 * (timers wake in deadline order).  why: the WAKE record's a32 (1: timed
 * out, 0: woken). */
void rt__ready_tail(tsk_task *t, uint32_t why)
{
	RT_PROBE(probe_emit(TSK_EV_WAKE, rt__probe_now(), t->id, 0, 0, 0, 0, why, 0, 0));
#if !TSK_PROBES
	(void)why;
#endif
	/* acq_rel: as in rt__ready */
	if (atomic_fetch_sub_explicit(&t->gate, 1, memory_order_acq_rel) != 1)
		return;
	rt_worker *w = rt__worker();
	if (!w || w->rt != t->rt) {
		rt__enqueue(t->rt, t);
		return;
	}
	t->state = RT_STATE_READY;
	RT_PROBE(rt__probe_ready(t));
	push_local(w, t);
	wake_if_idle(w->rt);
}

/* A timer was added that is the earliest of its heap: if the worker that
 * watches every heap while parked would sleep past it, wake it so that it
 * sleeps until the new deadline instead (Go's wakeNetPoller). */
void rt__timer_added(rt_runtime *rt, int64_t deadline)
{
	/* seq_cst: pairs with the watcher's store of watch_until then reload
	 * of the heaps' next in park */
	if (deadline >= atomic_load(&rt->watch_until))
		return;
	int id = atomic_load(&rt->watcher);
	if (id < 0)
		return;
	wake_worker(&rt->workers[id]);
}

/* ---- finding work ----------------------------------------------------- */

static bool work_available(rt_runtime *rt)
{
	if (atomic_load_explicit(&rt->gq_len, memory_order_relaxed) > 0)
		return true;
	for (int i = 0; i < rt->nworkers; i++) {
		rt_worker *v = &rt->workers[i];
		if (rt__runq_len(&v->q) > 0 ||
		    atomic_load_explicit(&v->runnext, memory_order_relaxed))
			return true;
	}
	return false;
}

static tsk_task *local_next(rt_worker *w)
{
	tsk_task *t;
	if (atomic_load_explicit(&w->runnext, memory_order_relaxed) &&
	    (w->streak < 32 || rt__runq_len(&w->q) == 0)) {
		t = atomic_exchange_explicit(&w->runnext, NULL, memory_order_acq_rel);
		if (t) {
			w->streak++;
			return t;
		}
	}
	w->streak = 0;
	return rt__runq_pop(&w->q);
}

static uint64_t xorshift(uint64_t *s)
{
	uint64_t x = *s;
	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	return *s = x;
}

/* Fires the due timers of heap tm onto w's queue, as many as it has room
 * for; returns tasks woken.  wait: as for rt__timers_fire. */
static int fire_heap(rt_worker *w, rt_timers *tm, bool wait)
{
	if (atomic_load_explicit(&tm->next, memory_order_relaxed) == INT64_MAX)
		return 0;
	int room = RT_RUNQ_SIZE - 1 - (int)rt__runq_len(&w->q);
	return room > 0 ? rt__timers_fire(tm, tsk_now(), room, wait) : 0;
}

/* Fires the due timers of heap tm, unless another thread is at it. */
int rt__fire_timers(rt_worker *w, rt_timers *tm)
{
	return fire_heap(w, tm, false);
}

/* Fires due timers on every worker's heap; returns tasks woken.  With
 * `wait`, no heap is skipped because its lock is busy: a worker that runs
 * dry does this before it parks, so that the earliest deadline it may sleep
 * on (park) is never one already past.  The watcher would otherwise wake at
 * once, find the same unfired timer, and loop: steal_work, the only other
 * place where an idle worker fires another worker's timers, returns at once
 * when enough workers count as spinning, and a worker woken to spin may not
 * get a CPU for a while. */
static int fire_all_timers(rt_worker *w, bool wait)
{
	int n = 0;
	for (int i = 0; i < w->rt->nworkers; i++)
		n += fire_heap(w, &w->rt->workers[i].timers, wait);
	return n;
}

static tsk_task *steal_work(rt_worker *w)
{
	rt_runtime *rt = w->rt;
	int nw = rt->nworkers;
	uint32_t ticks[64];
	tsk_task *t = NULL;

	if (nw == 1)
		return NULL;
	if (!w->spinning) {
		/* at most half of the busy workers spin (Go's rule) */
		int busy = nw - atomic_load(&rt->nidle);
		if (2 * atomic_load(&rt->nspinning) >= busy)
			return NULL;
		w->spinning = true;
		atomic_fetch_add(&rt->nspinning, 1);
	}
	for (int i = 0; i < nw && i < 64; i++)
		ticks[i] = atomic_load_explicit(&rt->workers[i].tick, memory_order_relaxed);
	int victim = -1;
	for (int round = 0; round < RT_SPIN_ROUNDS && !t; round++) {
		bool last = round == RT_SPIN_ROUNDS - 1;
		int start = (int)(xorshift(&w->rng) % (uint64_t)nw);
		for (int k = 0; k < nw && !t; k++) {
			rt_worker *v = &rt->workers[(start + k) % nw];
			if (v == w)
				continue;
			victim = v->id;
			t = rt__runq_steal(&w->q, &v->q);
			if (!t && last &&
			    (v->id >= 64 ||
			     atomic_load_explicit(&v->tick, memory_order_relaxed) == ticks[v->id]))
				t = atomic_exchange_explicit(&v->runnext, NULL,
				                             memory_order_acq_rel);
		}
		if (!t && (t = global_get(w, RT_RUNQ_SIZE / 2)))
			victim = -1;
		if (!t && fire_all_timers(w, false) > 0 && (t = local_next(w)))
			victim = -1;
		for (int i = 0; !t && i < 64; i++)
			rt__cpu_relax();
	}
	if (t) {
		w->nsteal++;
		if (victim >= 0)
			RT_PROBE(probe_emit(TSK_EV_STEAL, probe_tsc(), t->id, (uint64_t)victim,
			                    1 + rt__runq_len(&w->q), 0, 0, 0, 0, 0));
		w->spinning = false;
		/* the last spinner to find work wakes a replacement, in case
		 * there is more (Go's resetspinning) */
		if (atomic_fetch_sub(&rt->nspinning, 1) == 1)
			wake_if_idle(rt);
	}
	return t;
}

static int64_t earliest_timer(rt_runtime *rt)
{
	int64_t d = INT64_MAX;
	for (int i = 0; i < rt->nworkers; i++) {
		int64_t n = atomic_load(&rt->workers[i].timers.next);
		if (n < d)
			d = n;
	}
	return d;
}

static void unpark_self(rt_worker *w)
{
	rt_runtime *rt = w->rt;
	rt__spin_lock(&rt->idle_lock);
	if (w->idle) {
		rt_worker **p = &rt->idle_head;
		while (*p != w)
			p = &(*p)->idle_next;
		*p = w->idle_next;
		w->idle = false;
		atomic_fetch_sub(&rt->nidle, 1);
	} else if (w->woken_spinning) {
		w->spinning = true; /* counted by the waker */
	}
	w->woken_spinning = false;
	rt__spin_unlock(&rt->idle_lock);
}

static void stop_all(rt_runtime *rt)
{
	atomic_store(&rt->stop, true);
	for (int i = 0; i < rt->nworkers; i++)
		wake_worker(&rt->workers[i]);
}

static void park(rt_worker *w)
{
	rt_runtime *rt = w->rt;

	if (w->spinning) {
		w->spinning = false;
		atomic_fetch_sub(&rt->nspinning, 1);
	}
	rt__spin_lock(&rt->idle_lock);
	atomic_store_explicit(&w->futex, 0, memory_order_relaxed);
	w->idle = true;
	w->woken_spinning = false;
	w->idle_next = rt->idle_head;
	rt->idle_head = w;
	int nidle = atomic_fetch_add(&rt->nidle, 1) + 1;
	rt__spin_unlock(&rt->idle_lock);

	/* seq_cst: pairs with the fence in wake_if_idle */
	RT_FULL_FENCE();
	if (work_available(rt) || atomic_load(&rt->stop)) {
		unpark_self(w);
		return;
	}
	if (nidle == rt->nworkers && atomic_load(&rt->root_done) && !w->drain_futile) {
		/* Nothing can run any more and the root has returned: cancel
		 * whatever is still blocked so that it can finish. */
		unpark_self(w);
		if (rt__cancel_all(rt) == 0)
			w->drain_futile = true;
		return;
	}
	w->npark++;
	RT_PROBE(probe_emit(TSK_EV_PARK, probe_tsc(), 0, 0, 0, 0, 0, 0, 0, 0));
	int64_t deadline = atomic_load(&w->timers.next);
	int none = -1;
	/* one watcher at a time: the only worker that blocks in epoll_wait */
	bool watching = atomic_compare_exchange_strong(&rt->watcher, &none, w->id);
	if (watching) {
		/* Sleep no later than the earliest timer of any heap: a busy
		 * worker may be stuck in a long task and not fire its own.
		 * Publish the deadline, then look again, so that a timer
		 * added meanwhile is either seen here or sees watch_until
		 * (rt__timer_added). */
		for (;;) {
			int64_t d = earliest_timer(rt);
			atomic_store(&rt->watch_until, d);
			if (earliest_timer(rt) >= d) {
				deadline = d;
				break;
			}
		}
	}
	if (!watching) {
		/* acquire: pairs with the seq_cst store in wake_worker */
		if (atomic_load_explicit(&w->futex, memory_order_acquire) == 0)
			futex_wait(&w->futex, 0, deadline);
		RT_PROBE(probe_emit(TSK_EV_UNPARK, probe_tsc(), 0, 0, 0, 0, 0, 0, 0, 0));
		unpark_self(w);
		return;
	}
	/* The watcher sleeps in epoll_wait: descriptors, timers (the
	 * timeout) and new work (the eventfd, wake_worker) all end it. */
	struct epoll_event ev[RT_IO_BATCH];
	int n = 0;
	/* seq_cst store then load: pairs with wake_worker */
	atomic_store(&w->polling, true);
	if (atomic_load(&w->futex) == 0)
		n = rt__io_wait(rt, ev, RT_IO_BATCH, deadline);
	/* drain a break while still the watcher: drained later, it could
	 * swallow the break written for the next watcher */
	rt__io_drain_break(rt, ev, n);
	atomic_store(&w->polling, false);
	atomic_store(&rt->watch_until, INT64_MAX);
	atomic_store(&rt->watcher, -1);
	RT_PROBE(probe_emit(TSK_EV_UNPARK, probe_tsc(), 0, 0, 0, 0, 0, 0, 0, 0));
	unpark_self(w);
	/* off the idle list first: the tasks readied are ours to run */
	if (n > 0)
		rt__io_dispatch(w, ev, n);
}

/* A worker woken to spin (counted in nspinning by its waker) that found work
 * other than by stealing stops spinning before it runs it; if it was the
 * last spinner it wakes a replacement (Go's resetspinning).  Without this,
 * nspinning stays up while it runs, and every later wake_if_idle believes
 * someone is already looking for work. */
static tsk_task *stop_spinning(rt_worker *w, tsk_task *t)
{
	if (w->spinning) {
		w->spinning = false;
		if (atomic_fetch_sub(&w->rt->nspinning, 1) == 1)
			wake_if_idle(w->rt);
	}
	return t;
}

/* A busy worker looks at the descriptors without blocking, when tasks wait
 * for some and no worker sleeps in epoll_wait to see them (Go's findrunnable
 * netpoll(0)).  Returns tasks readied. */
static int poll_io(rt_worker *w)
{
	rt_runtime *rt = w->rt;
	if (atomic_load_explicit(&rt->io_waiters, memory_order_relaxed) == 0 ||
	    atomic_load_explicit(&rt->watcher, memory_order_relaxed) >= 0)
		return 0;
	return rt__io_poll(w);
}

int rt__duties(rt_worker *w)
{
	return rt__fire_timers(w, &w->timers) + poll_io(w);
}

/* Returns the next task to run, or NULL when the runtime stops. */
static tsk_task *find_runnable(rt_worker *w)
{
	rt_runtime *rt = w->rt;
	tsk_task *t;

	for (;;) {
		if (atomic_load_explicit(&rt->stop, memory_order_relaxed))
			return NULL;
		uint32_t tick = atomic_load_explicit(&w->tick, memory_order_relaxed) + 1;
		atomic_store_explicit(&w->tick, tick, memory_order_relaxed);
		if ((tick & 31) == 0) {
			rt__duties(w);
			RT_PROBE(probe_tick(probe_tsc()));
		}
		if (tick % 61 == 0 && (t = global_get(w, 1)))
			return stop_spinning(w, t);
		if ((t = local_next(w)) || (t = global_get(w, RT_RUNQ_SIZE / 2)))
			return stop_spinning(w, t);
		if (fire_all_timers(w, true) > 0 || poll_io(w) > 0)
			continue;
		if ((t = steal_work(w)))
			return t;
		park(w);
	}
}

/* Settles the task that switched away so that the current context could
 * run, now that its context is saved: requeue it after a yield, queue it if
 * its wake-up already came while it parked, or bury it. */
static void finish_prev(rt_worker *w)
{
	tsk_task *t = w->prev;
	if (!t)
		return;
	w->prev = NULL;
	switch (w->post) {
	case RT_POST_YIELD:
		t->state = RT_STATE_READY;
		push_local(w, t);
		if (rt__runq_len(&w->q) > 1)
			wake_if_idle(w->rt);
		break;
	case RT_POST_PARK:
		/* acq_rel: pairs with rt__ready; the second one queues t */
		if (atomic_fetch_sub_explicit(&t->gate, 1, memory_order_acq_rel) == 1)
			rt__enqueue(w->rt, t);
		break;
	case RT_POST_EXIT:
		rt__task_exited(w, t);
		break;
	}
	w->post = RT_POST_NONE;
}

static void run_task(rt_worker *w, tsk_task *t)
{
	w->cur = t;
	t->worker = w;
	t->state = RT_STATE_RUNNING;
	w->drain_futile = false;
	RT_PROBE(w->step_tsc = probe_tsc(); probe_in(w, t, w->step_tsc, true));
	switch_to_task(w, t);
	/* some task (not necessarily t) switched back to the loop */
	finish_prev(w);
}

static void worker_loop(rt_worker *w)
{
	tsk_task *t;
	sigset_t pipe_set, old_set;
	/* a write to a broken pipe returns EPIPE instead of killing the
	 * process (io.c takes back the signal it raised) */
	sigemptyset(&pipe_set);
	sigaddset(&pipe_set, SIGPIPE);
	pthread_sigmask(SIG_BLOCK, &pipe_set, &old_set);
	rt__tls_worker = w;
#ifdef RT_TSAN
	w->tsan_fiber = __tsan_get_current_fiber();
#endif
#ifdef RT_ASAN
	pthread_attr_t attr;
	if (pthread_getattr_np(pthread_self(), &attr) == 0) {
		pthread_attr_getstack(&attr, &w->stack_lo, &w->stack_len);
		pthread_attr_destroy(&attr);
	}
#endif
	RT_PROBE(probe_thread_attach(w->id));
	while ((t = find_runnable(w)))
		run_task(w, t);
	RT_PROBE(if (w->id == 0) probe_emit(TSK_EV_RUNTIME, probe_tsc(), 0, 0,
	                                    (uint64_t)w->rt->nworkers, 0, 0, 0, 0, 0);
	         probe_thread_detach());
	rt__tls_worker = NULL;
	/* a plain write(2) of a task may have raised one: discard it rather
	 * than deliver it late */
	struct timespec zero = {0, 0};
	while (sigtimedwait(&pipe_set, NULL, &zero) == SIGPIPE)
		;
	pthread_sigmask(SIG_SETMASK, &old_set, NULL);
}

static void *worker_thread(void *arg)
{
	worker_loop(arg);
	return NULL;
}

/* ---- cancellation and exit -------------------------------------------- */

/* Sets t's cancel flag and claims its wait, if it is in a cancellable one;
 * returns whether it claimed (the caller must then rt__ready(t)). */
bool rt__cancel_claim(tsk_task *t)
{
	/* seq_cst: the flag store is ordered before the token CAS; pairs with
	 * the waiter's token store then flag load (rt__wait_prepare/rt__wait) */
	atomic_store(&t->cancelled, true);
	RT_PROBE({
		uint64_t tsc, me = rt__probe_ctx(&tsc);
		probe_emit(TSK_EV_CANCEL, tsc, t->id, me, 0, 0, 0, 0, 0, 0);
	});
	int exp = RT_TOKEN_WAITING;
	return atomic_compare_exchange_strong(&t->token, &exp, -ECANCELED);
}

/* Cancels t; returns whether this woke it from a wait. */
bool rt__cancel(tsk_task *t)
{
	if (!rt__cancel_claim(t))
		return false;
	rt__ready(t);
	return true;
}

/* A task returned (called by rt__task_exited once it is buried). */
void rt__task_gone(rt_runtime *rt, bool root)
{
	if (root)
		atomic_store(&rt->root_done, true);
	/* seq_cst: root_done is set before the root's decrement, so whoever
	 * takes live to zero sees it */
	if (atomic_fetch_sub(&rt->live, 1) == 1 && atomic_load(&rt->root_done))
		stop_all(rt);
}

/* ---- tsk_run ---------------------------------------------------------- */

static int nworkers_default(void)
{
	long n = sysconf(_SC_NPROCESSORS_ONLN);
	return n < 1 ? 1 : n > 1024 ? 1024 : (int)n;
}

static void runtime_free(rt_runtime *rt)
{
	rt__pool_fini(rt);
	if (rt->shards) {
		for (int i = 0; i < rt->nworkers; i++) {
			/* tasks never joined (their handles leaked) */
			while (rt->shards[i].head) {
				tsk_task *t = rt->shards[i].head;
				rt->shards[i].head = t->reg_next;
				RT_PROBE(probe_task_slot_free(t->pslot));
				rt__task_fini_ctx(t);
				rt__stack_put(rt, NULL, t);
			}
		}
	}
	rt__io_fini(rt);
	if (rt->workers) {
		rt__stack_drain(rt);
		for (int i = 0; i < rt->nworkers; i++)
			rt__timers_fini(&rt->workers[i].timers);
	}
	free(rt->shards);
	free(rt->workers);
	free(rt);
}

static rt_runtime *runtime_new(const tsk_config *cfg)
{
	size_t ps = (size_t)sysconf(_SC_PAGESIZE);
	rt_runtime *rt = calloc(1, sizeof(*rt));
	if (!rt)
		return NULL;
	rt->epfd = rt->evfd = -1;
	rt->nworkers = cfg && cfg->workers > 0 ? cfg->workers : nworkers_default();
	size_t ss = cfg && cfg->stack_size ? cfg->stack_size : 64 * 1024;
	if (ss < 4 * ps)
		ss = 4 * ps;
	rt->stack_size = (ss + ps - 1) / ps * ps;
	rt->bpool_max = cfg && cfg->pool_threads > 0 ? cfg->pool_threads : 64;
	rt__copy_name(rt->name, sizeof(rt->name), cfg ? cfg->name : NULL,
	              program_invocation_short_name);
	rt->workers = calloc((size_t)rt->nworkers, sizeof(rt_worker));
	rt->shards = calloc((size_t)rt->nworkers, sizeof(rt_shard));
	if (!rt->workers || !rt->shards) {
		runtime_free(rt);
		return NULL;
	}
	atomic_init(&rt->watcher, -1);
	atomic_init(&rt->watch_until, INT64_MAX);
	if (rt__io_init(rt) < 0) {
		runtime_free(rt);
		return NULL;
	}
	uint64_t seed = (uint64_t)tsk_now() | 1;
	for (int i = 0; i < rt->nworkers; i++) {
		rt_worker *w = &rt->workers[i];
		w->rt = rt;
		w->id = i;
		w->rng = seed * (uint64_t)(2 * i + 1) | 1;
		rt__timers_init(&w->timers);
	}
	return rt;
}

int tsk_run(void *(*root)(void *), void *arg, const tsk_config *cfg, void **result)
{
	int rc, started;
	tsk_task *t;

	if (!root || (cfg && (cfg->workers > 1024 || cfg->stack_size > ((size_t)1 << 30) ||
	                      cfg->pool_threads > 4096)))
		return -EINVAL;
	if (rt__worker())
		return -EBUSY;
	rt_runtime *rt = runtime_new(cfg);
	if (!rt)
		return -ENOMEM;
#if TSK_PROBES
	/* a segment that cannot be created leaves the program unobserved,
	 * not failed */
	(void)probe_runtime_start(rt->nworkers);
	/* this thread is worker 0: its ring records the root's spawn too */
	RT_PROBE(probe_thread_attach(0); probe_emit(TSK_EV_RUNTIME, probe_tsc(), 0, 0,
	                                            (uint64_t)rt->nworkers, 0, 0, 1, 0, 0));
#endif
	rc = rt__task_create(rt, NULL, &t, "root", root, arg, NULL, true, 0);
	if (rc < 0)
		goto fail;
	/* Start the other workers first: with no work they park.  Should a
	 * thread fail to start, nothing has run yet and we can back out. */
	for (started = 1; started < rt->nworkers; started++) {
		rt_worker *w = &rt->workers[started];
		if (pthread_create(&w->thread, NULL, worker_thread, w) != 0) {
			rc = -EAGAIN;
			goto fail_threads;
		}
	}
	/* this thread owns worker 0 and its queue: a plain push is safe */
	rt__runq_push(&rt->workers[0].q, t);
	rt->workers[0].thread = pthread_self();
	worker_loop(&rt->workers[0]);
	for (int i = 1; i < rt->nworkers; i++)
		pthread_join(rt->workers[i].thread, NULL);
	if (result)
		*result = rt->root_result;
	runtime_free(rt);
	RT_PROBE(probe_runtime_stop());
	return 0;

fail_threads:
	RT_PROBE(probe_thread_detach());
	stop_all(rt);
	for (int i = 1; i < started; i++)
		pthread_join(rt->workers[i].thread, NULL);
	rt__task_release(rt, NULL, t);
fail:
	runtime_free(rt);
	return rc;
}

int64_t tsk_now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

int64_t tsk_after_ms(int64_t ms)
{
	if (ms < 0)
		return TSK_FOREVER;
	return tsk_now() + ms * 1000000;
}
