/*
 * runq.c - per-worker bounded run queues with stealing.
 *
 * The design is Go's runq: a ring of RT_RUNQ_SIZE task pointers with a
 * `tail` that only the owning worker stores and a `head` that every consumer
 * (the owner popping, thieves stealing) advances with a CAS.  The owner
 * pushes without any read-modify-write; a full queue is the caller's signal
 * to spill half to the global queue.  Thieves take half of what they see,
 * which keeps the load balanced in O(log n) steals.
 *
 * Invariants: 0 <= tail - head <= RT_RUNQ_SIZE (unsigned wrap-around);
 * slots in [head, tail) hold tasks; only the owner writes slots.
 */
#include "sched_int.h"

/* Owner only.  Returns false when the queue is full (t is not queued). */
bool rt__runq_push(rt_runq *q, tsk_task *t)
{
	/* acquire: pairs with the release CAS of consumers, so the slot we
	 * overwrite has been read */
	uint32_t h = atomic_load_explicit(&q->head, memory_order_acquire);
	uint32_t tl = atomic_load_explicit(&q->tail, memory_order_relaxed);

	if (tl - h >= RT_RUNQ_SIZE)
		return false;
	atomic_store_explicit(&q->slot[tl % RT_RUNQ_SIZE], t, memory_order_relaxed);
	/* release: publishes the slot (and the task's state) to consumers;
	 * pairs with their acquire load of tail */
	atomic_store_explicit(&q->tail, tl + 1, memory_order_release);
	return true;
}

/* Owner only.  Returns the oldest task, or NULL when empty. */
tsk_task *rt__runq_pop(rt_runq *q)
{
	for (;;) {
		uint32_t h = atomic_load_explicit(&q->head, memory_order_acquire);
		uint32_t tl = atomic_load_explicit(&q->tail, memory_order_relaxed);
		if (h == tl)
			return NULL;
		tsk_task *t =
		        atomic_load_explicit(&q->slot[h % RT_RUNQ_SIZE], memory_order_relaxed);
		/* release: pairs with the acquire load of head in push */
		if (atomic_compare_exchange_weak_explicit(&q->head, &h, h + 1, memory_order_release,
		                                          memory_order_relaxed))
			return t;
	}
}

/* Any thread; a racy estimate. */
uint32_t rt__runq_len(rt_runq *q)
{
	uint32_t h = atomic_load_explicit(&q->head, memory_order_acquire);
	uint32_t tl = atomic_load_explicit(&q->tail, memory_order_acquire);
	return tl - h;
}

/* Steals half of `from` (rounded up) into `into`, which must belong to the
 * caller and be empty.  Returns one stolen task to run at once (the rest
 * are left in `into`), or NULL when there was nothing to steal. */
tsk_task *rt__runq_steal(rt_runq *into, rt_runq *from)
{
	uint32_t itl = atomic_load_explicit(&into->tail, memory_order_relaxed);
	for (;;) {
		/* acquire: pairs with the owner's release store of tail */
		uint32_t h = atomic_load_explicit(&from->head, memory_order_acquire);
		uint32_t tl = atomic_load_explicit(&from->tail, memory_order_acquire);
		uint32_t n = tl - h;
		n = n - n / 2;
		if (n == 0)
			return NULL;
		if (n > RT_RUNQ_SIZE / 2)
			continue; /* inconsistent read of head and tail: retry */
		for (uint32_t i = 0; i < n; i++) {
			tsk_task *t = atomic_load_explicit(&from->slot[(h + i) % RT_RUNQ_SIZE],
			                                   memory_order_relaxed);
			atomic_store_explicit(&into->slot[(itl + i) % RT_RUNQ_SIZE], t,
			                      memory_order_relaxed);
		}
		/* release: the slots we read must not be overwritten before this
		 * CAS (pairs with the owner's acquire load of head in push) */
		if (!atomic_compare_exchange_weak_explicit(
		            &from->head, &h, h + n, memory_order_acq_rel, memory_order_relaxed))
			continue;
		n--;
		tsk_task *t = atomic_load_explicit(&into->slot[(itl + n) % RT_RUNQ_SIZE],
		                                   memory_order_relaxed);
		if (n > 0)
			atomic_store_explicit(&into->tail, itl + n, memory_order_release);
		return t;
	}
}
