/*
 * reader_snap.c - a consistent copy of the live task and resource tables.
 *
 * Every slot is seqlocked by the writer (tsk_segment.h):
 *
 *     writer                                  reader (rd__seq_copy)
 *     seq = s + 1 (odd)                       s1 = seq          (acquire)
 *     fence (release)                         if s1 odd: retry
 *     fields = ...  (relaxed)                 copy = fields     (relaxed)
 *     seq = s + 2   (release)                 fence (acquire)
 *                                             s2 = seq          (relaxed)
 *                                             s1 == s2: consistent
 *
 * The reader's acquire load of s1 pairs with the writer's release store of
 * the even seq (the copy sees at least that update); its acquire fence
 * pairs with the writer's release fence after the odd store (a copy that
 * saw any byte of a later update reads a changed seq in s2).
 *
 * A writer killed mid-update leaves its slot odd for ever; a slot is
 * therefore tried RD_SEQ_TRIES times (spinning, then yielding) and then
 * returned flagged torn with a best-effort copy, so a snapshot of a dead
 * process costs at most that per torn slot and never hangs.  A private
 * copy (TSK_RD_COPY) cannot change: one try decides.
 *
 * Workload: a TUI refresh (10 Hz) or a dump copies up to task_hwm +
 * res_hwm slots of 128 bytes; the writers keep running, unaware.
 */
#include <errno.h>
#include <string.h>
#include <sched.h>
#include <stdlib.h>

#include "reader_int.h"

static inline void cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
	__builtin_ia32_pause();
#elif defined(__aarch64__)
	__asm__ __volatile__("yield" ::: "memory");
#endif
}

int rd__seq_copy(const _Atomic uint32_t *seqp, const void *src, void *dst, size_t n, int max_tries,
                 uint32_t *seq_out)
{
	uint32_t s1 = 0, s2;

	for (int tries = 0; tries < max_tries; tries++) {
		if (tries > 0) {
			if (tries < RD_SEQ_SPINS)
				cpu_relax();
			else
				sched_yield();
		}
		/* Acquire: pairs with the writer's release store of the even seq. */
		s1 = atomic_load_explicit(seqp, memory_order_acquire);
		if (s1 & 1)
			continue;
		rd__copy_words(dst, src, n);
		/* Pairs with the writer's release fence after its odd store. */
		atomic_thread_fence(memory_order_acquire);
		s2 = atomic_load_explicit(seqp, memory_order_relaxed);
		if (s1 == s2) {
			*seq_out = s1;
			return 0;
		}
	}
	rd__copy_words(dst, src, n);
	*seq_out = s1;
	return 1;
}

static int copy_task(tsk_reader *r, uint32_t i, tsk_rd_task *out)
{
	const tsk_seg_task *t = (const tsk_seg_task *)rd__item(r, &r->info.tasks, i);
	uint32_t seq;
	int torn = rd__seq_copy(&t->seq, t, &out->slot, sizeof(out->slot), rd__seq_tries(r), &seq);

	atomic_init(&out->slot.seq, seq);
	out->slot.name[sizeof(out->slot.name) - 1] = '\0';
	out->index = i;
	out->torn = (uint32_t)torn;
	return torn;
}

static int copy_res(tsk_reader *r, uint32_t i, tsk_rd_res *out)
{
	const tsk_seg_res *s = (const tsk_seg_res *)rd__item(r, &r->info.resources, i);
	uint32_t seq;
	int torn = rd__seq_copy(&s->seq, s, &out->slot, sizeof(out->slot), rd__seq_tries(r), &seq);

	atomic_init(&out->slot.seq, seq);
	out->slot.name[sizeof(out->slot.name) - 1] = '\0';
	out->index = i;
	out->torn = (uint32_t)torn;
	return torn;
}

int tsk_reader_snap_task(tsk_reader *r, uint32_t index, tsk_rd_task *out)
{
	if (!r || !out)
		return rd__fail(-EINVAL, "invalid argument");
	if (index >= r->info.tasks.count)
		return rd__fail(-ERANGE, "task slot %u out of range (%u slots)", index,
		                r->info.tasks.count);
	return copy_task(r, index, out);
}

int tsk_reader_snap_res(tsk_reader *r, uint32_t index, tsk_rd_res *out)
{
	if (!r || !out)
		return rd__fail(-EINVAL, "invalid argument");
	if (index >= r->info.resources.count)
		return rd__fail(-ERANGE, "resource slot %u out of range (%u slots)", index,
		                r->info.resources.count);
	return copy_res(r, index, out);
}

/* The header's live counters, each clamped to what the layout allows. */
static void read_counters(tsk_reader *r, tsk_rd_snap *s)
{
	tsk_seg_header *h = r->h;

	/* Acquire: pairs with the writer's release of each counter after the
	 * item it publishes. */
	s->str_used = rd__clamp(atomic_load_explicit(&h->str_used, memory_order_acquire),
	                        r->info.strings.size);
	s->task_hwm = (uint32_t)rd__clamp(atomic_load_explicit(&h->task_hwm, memory_order_acquire),
	                                  r->info.tasks.count);
	s->res_hwm = (uint32_t)rd__clamp(atomic_load_explicit(&h->res_hwm, memory_order_acquire),
	                                 r->info.resources.count);
	s->stack_used = (uint32_t)rd__clamp(
	        atomic_load_explicit(&h->stack_used, memory_order_acquire), r->info.stacks.count);
	s->ring_used = (uint32_t)rd__clamp(
	        atomic_load_explicit(&h->ring_used, memory_order_acquire), r->info.rings.count);
	s->task_overflow = atomic_load_explicit(&h->task_overflow, memory_order_relaxed);
	s->res_overflow = atomic_load_explicit(&h->res_overflow, memory_order_relaxed);
	s->str_overflow = atomic_load_explicit(&h->str_overflow, memory_order_relaxed);
	s->stack_overflow = atomic_load_explicit(&h->stack_overflow, memory_order_relaxed);
	s->nworkers = atomic_load_explicit(&h->nworkers, memory_order_relaxed);
	s->state = atomic_load_explicit(&h->state, memory_order_relaxed);
	s->heartbeat_ns = atomic_load_explicit(&h->heartbeat_ns, memory_order_relaxed);
	s->reader_pid = atomic_load_explicit(&h->reader_pid, memory_order_relaxed);
	s->mode = atomic_load_explicit(&h->mode, memory_order_relaxed);
	s->reader_heartbeat_ns =
	        atomic_load_explicit(&h->reader_heartbeat_ns, memory_order_relaxed);
}

int tsk_reader_snap_counters(tsk_reader *r, tsk_rd_snap *snap)
{
	if (!r || !snap)
		return -EINVAL;
	memset(snap, 0, sizeof(*snap));
	read_counters(r, snap);
	return 0;
}

int tsk_reader_snap_take(tsk_reader *r, tsk_rd_snap *snap)
{
	if (!r || !snap)
		return rd__fail(-EINVAL, "invalid argument");
	memset(snap, 0, sizeof(*snap));
	read_counters(r, snap);
	/* calloc(0) may return NULL: allocate at least one. */
	snap->tasks = calloc(snap->task_hwm ? snap->task_hwm : 1, sizeof(*snap->tasks));
	snap->res = calloc(snap->res_hwm ? snap->res_hwm : 1, sizeof(*snap->res));
	if (!snap->tasks || !snap->res) {
		int rc = rd__fail(-ENOMEM,
		                  "out of memory for a snapshot of %u tasks and %u resources",
		                  snap->task_hwm, snap->res_hwm);
		tsk_reader_snap_free(snap);
		return rc;
	}
	for (uint32_t i = 0; i < snap->task_hwm; i++)
		snap->torn += (size_t)copy_task(r, i, &snap->tasks[i]);
	snap->ntasks = snap->task_hwm;
	for (uint32_t i = 0; i < snap->res_hwm; i++)
		snap->torn += (size_t)copy_res(r, i, &snap->res[i]);
	snap->nres = snap->res_hwm;
	return 0;
}

void tsk_reader_snap_free(tsk_rd_snap *snap)
{
	if (!snap)
		return;
	free(snap->tasks);
	free(snap->res);
	memset(snap, 0, sizeof(*snap));
}
