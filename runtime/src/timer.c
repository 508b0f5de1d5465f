/*
 * timer.c - per-worker timer heaps for absolute deadlines.
 *
 * Each worker owns a binary min-heap of the deadlines of waits begun by
 * tasks running on it.  A heap has its own spinlock because three parties
 * touch it: the owner adding entries and firing them, a task resumed on
 * another worker removing its entry, and idle workers firing a busy
 * worker's expired timers.  Ties are broken by insertion order, so equal
 * deadlines fire first-in first-out.
 *
 * Firing claims the waiting task's token with -ETIMEDOUT.  If a waker or a
 * canceller claimed it first, the entry is simply dropped: the task removes
 * nothing later because idx is already -1.  The task only returns from its
 * wait after rt__timer_del has taken the heap lock, which orders every
 * access of the firing path to the task before the task can exit.
 *
 * Workload: one add and usually one delete per timed wait; a few thousand
 * entries.  O(log n) each.
 */
#include <errno.h>
#include <stdlib.h>

#include "sched_int.h"

void rt__timers_init(rt_timers *tm)
{
	tm->lock = (rt_spin)RT_SPIN_INIT;
	tm->h = NULL;
	tm->n = tm->cap = 0;
	tm->seq = 0;
	atomic_store_explicit(&tm->next, INT64_MAX, memory_order_relaxed);
}

void rt__timers_fini(rt_timers *tm)
{
	free(tm->h);
	tm->h = NULL;
	tm->n = tm->cap = 0;
}

static bool before(const rt_timer *a, const rt_timer *b)
{
	return a->deadline < b->deadline || (a->deadline == b->deadline && a->seq < b->seq);
}

static void place(rt_timers *tm, int i, rt_timer *t)
{
	tm->h[i] = t;
	t->idx = i;
}

static void sift_up(rt_timers *tm, int i)
{
	rt_timer *t = tm->h[i];
	while (i > 0) {
		int p = (i - 1) / 2;
		if (!before(t, tm->h[p]))
			break;
		place(tm, i, tm->h[p]);
		i = p;
	}
	place(tm, i, t);
}

static void sift_down(rt_timers *tm, int i)
{
	rt_timer *t = tm->h[i];
	for (;;) {
		int c = 2 * i + 1;
		if (c >= tm->n)
			break;
		if (c + 1 < tm->n && before(tm->h[c + 1], tm->h[c]))
			c++;
		if (!before(tm->h[c], t))
			break;
		place(tm, i, tm->h[c]);
		i = c;
	}
	place(tm, i, t);
}

/* Removes the entry at i.  Lock held. */
static void remove_at(rt_timers *tm, int i)
{
	rt_timer *t = tm->h[i];
	t->idx = -1;
	tm->n--;
	if (i != tm->n) {
		place(tm, i, tm->h[tm->n]);
		sift_down(tm, i);
		sift_up(tm, tm->h[i]->idx);
	}
}

static void publish_next(rt_timers *tm)
{
	/* seq_cst: pairs with the timer watcher's loads of every heap's next
	 * and its store of watch_until (see park and rt__timer_added) */
	atomic_store(&tm->next, tm->n ? tm->h[0]->deadline : INT64_MAX);
}

/* Adds t (deadline and task set by the caller) to tm.  Returns 1 when t is
 * now tm's earliest timer, 0 when not, -ENOMEM (t is then not queued). */
int rt__timer_add(rt_timers *tm, rt_timer *t)
{
	rt__spin_lock(&tm->lock);
	if (tm->n == tm->cap) {
		int cap = tm->cap ? tm->cap * 2 : 64;
		rt_timer **h = realloc(tm->h, (size_t)cap * sizeof(*h));
		if (!h) {
			rt__spin_unlock(&tm->lock);
			return -ENOMEM;
		}
		tm->h = h;
		tm->cap = cap;
	}
	t->heap = tm;
	t->seq = tm->seq++;
	place(tm, tm->n++, t);
	sift_up(tm, t->idx);
	publish_next(tm);
	int first = t->idx == 0;
	rt__spin_unlock(&tm->lock);
	return first;
}

/* Removes t from its heap if it is still queued; waits out a concurrent
 * firing.  Call from the task that owns t. */
void rt__timer_del(rt_timer *t)
{
	rt_timers *tm = t->heap;
	if (!tm)
		return;
	rt__spin_lock(&tm->lock);
	if (t->idx >= 0) {
		remove_at(tm, t->idx);
		publish_next(tm);
	}
	rt__spin_unlock(&tm->lock);
	t->heap = NULL;
}

/* Fires the timers of tm due at `now`, at most `max` of them, earliest
 * first: claims each task's token with -ETIMEDOUT and queues it at the back
 * of the caller's run queue.  The limit is the room left in that queue, so
 * a burst of expiries never spills out of order to the global queue: the
 * rest stay in the heap, which is the FIFO, until the queue drains.
 * `wait`: take the heap's lock even while another thread holds it, so that
 * no timer due at `now` is left behind (a worker about to go idle, which
 * would otherwise sleep on a deadline already past); else give up at once
 * (a busy worker's periodic duty, a spinning thief: someone else is on it).
 * Returns the number of tasks woken.  Call from a worker. */
int rt__timers_fire(rt_timers *tm, int64_t now, int max, bool wait)
{
	tsk_task *batch = NULL, **link = &batch;
	int woken = 0;

	if (atomic_load_explicit(&tm->next, memory_order_relaxed) > now)
		return 0;
	if (wait)
		rt__spin_lock(&tm->lock);
	else if (!rt__spin_trylock(&tm->lock))
		return 0;
	while (tm->n > 0 && tm->h[0]->deadline <= now && woken < max) {
		rt_timer *t = tm->h[0];
		tsk_task *task = t->task;
		remove_at(tm, 0);
		if (rt__token_claim(task, -ETIMEDOUT)) {
			/* the task cannot resume before we ready it, so it is
			 * safe to link it and ready it after unlocking */
			task->next = NULL;
			*link = task;
			link = &task->next;
			woken++;
		}
	}
	publish_next(tm);
	rt__spin_unlock(&tm->lock);
	/* in deadline order, to the back of the queue: they run in the order
	 * their deadlines passed */
	while (batch) {
		tsk_task *t = batch;
		batch = t->next;
		rt__ready_tail(t, 1); /* WAKE a32 1: timed out */
	}
	return woken;
}
