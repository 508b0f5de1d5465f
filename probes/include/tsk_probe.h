/*
 * tsk_probe.h - the writer side of the flight recorder, as the runtime sees
 * it.
 *
 * The runtime reports every task transition, resource change and worker
 * step through these calls; they update the live tables of the process's
 * segment (tsk_segment.h) and append fixed-size records to the calling
 * thread's ring.  The hot path (probe_emit and the slot updates) never
 * blocks, locks, allocates or makes a system call: it is a few plain stores
 * into shared memory plus, where the caller has no timestamp yet, one
 * rdtsc.  Cold paths (segment creation, slot and string allocation on
 * spawn/create, ring claims) may take a spinlock.
 *
 * Build with -DTSK_PROBES=0 to compile every probe out (the benchmarks
 * compare against such a build).  At run time TASKSCOPE=off disables them.
 *
 * Concurrency contract with the runtime:
 *   - a task slot is written only by the party that owns the task at that
 *     moment (its spawner, the worker running it, the one that queues it);
 *   - a resource slot is written only under the resource's own lock;
 *   - each thread writes only its own ring.
 */
#ifndef TSK_PROBE_H
#define TSK_PROBE_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <time.h>

#include "taskscope.h"
#include "tsk_segment.h"

#ifndef TSK_PROBES
#define TSK_PROBES 1
#endif

#if defined(__x86_64__) || defined(__i386__)
#include <x86intrin.h>
#endif

/* A release fence for the writer's seqlocks and records.  Free on x86 (a
 * compiler barrier); a real barrier on weaker machines.  TSan does not
 * model fences (and GCC warns about them under -fsanitize=thread), so
 * there it is only a compiler barrier: TSan checks the same-process
 * accesses, which go through atomics anyway. */
#if defined(__SANITIZE_THREAD__)
#define PROBE_FENCE_RELEASE() atomic_signal_fence(memory_order_release)
#else
#define PROBE_FENCE_RELEASE() atomic_thread_fence(memory_order_release)
#endif

/* ---- process-wide state ------------------------------------------------ */

/* Non-zero once a segment is mapped and probes are on (set once, before
 * any worker of the runtime that turned it on starts; relaxed loads). */
extern atomic_int probe__on;
#define PROBE_ON() atomic_load_explicit(&probe__on, memory_order_relaxed)
/* The mapped segment (valid while probe__on). */
extern tsk_seg_header *probe__hdr;
extern tsk_seg_task *probe__tasks;
extern tsk_seg_res *probe__res;

/* Per-thread writer state: this thread's ring. */
typedef struct probe_ring {
	tsk_seg_ring *hdr;     /* ring header in the segment */
	tsk_seg_event *rec;    /* its records */
	uint64_t mask;         /* ring_records - 1 */
	uint64_t head;         /* next index (our copy of hdr->head) */
	uint64_t cached_tail;  /* stream mode: last tail read from the reader */
	uint64_t pending_lost; /* dropped since the last LOST record */
	uint16_t worker;       /* worker index or 0xffff */
} probe_ring;

extern __thread probe_ring *probe__ring __attribute__((tls_model("initial-exec")));

/* Creates the process's segment on first use (idempotent) and marks a
 * runtime with `nworkers` workers as running.  Honours TASKSCOPE=off,
 * TASKSCOPE_RING=SIZE (bytes per thread ring, e.g. 4M) and TASKSCOPE_KEEP=1
 * (keep the segment after a clean exit).  Returns 0 (also when disabled) or
 * -errno when the segment could not be created (probes then stay off and
 * the program runs unobserved). */
int probe_runtime_start(int nworkers);
/* The runtime returned from tsk_run. */
void probe_runtime_stop(void);
/* Claims a ring for the calling thread (worker index, or -1). */
void probe_thread_attach(int worker);
/* Releases the calling thread's ring (its records stay for post-mortem). */
void probe_thread_detach(void);
/* Refreshes the TSC calibration and the heartbeat; call every few ms at
 * most from any worker (cheap when not due). */
void probe_tick(uint64_t tsc);

/* ---- time -------------------------------------------------------------- */

static inline uint64_t probe_tsc(void)
{
#if defined(__x86_64__) || defined(__i386__)
	return __rdtsc();
#else
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
#endif
}

/* ---- strings ------------------------------------------------------------ */

/* Interns s (cut to TSK_SEG_STR_MAX) and returns its string id, 0 when s is
 * NULL, probes are off or the table is full. */
uint32_t probe_str(const char *s);
/* Interns "file:line func" of a call site; 0 for NULL. */
uint32_t probe_site(const tsk_site *site);

/* The string intern index's counters since the segment was created (a
 * test hook: the index is the writer's private memory). */
typedef struct probe_intern_stats {
	uint64_t lookups;   /* index lookups (one per intern that missed the caches) */
	uint64_t probes;    /* index slots examined by them, in all */
	uint64_t grows;     /* times the index doubled */
	uint64_t unindexed; /* strings stored but left out of the index (not deduplicated) */
	uint32_t entries;   /* strings in the index now */
	uint32_t cap;       /* its slots now */
} probe_intern_stats;
void probe__intern_stats(probe_intern_stats *out);

/* ---- stacks ------------------------------------------------------------- */

/* Whether this suspension, at `tsc`, should record its stack
 * (TASKSCOPE_STACKS).  probe__stack_next is the thread's next due time in
 * sampled mode (0 in "all" mode, UINT64_MAX when off): the inline test
 * keeps the call off the common path. */
extern __thread uint64_t probe__stack_next __attribute__((tls_model("initial-exec")));
bool probe__stack_due_slow(uint64_t tsc);
static inline bool probe_stack_due(uint64_t tsc)
{
	return tsc >= probe__stack_next && probe__stack_due_slow(tsc);
}
/* Captures the calling thread's stack, skipping `skip` innermost frames
 * besides its own; returns the stack id (index + 1) or 0. */
uint32_t probe_stack_capture(int skip);

/* ---- events ------------------------------------------------------------- */

void probe__emit_slow(probe_ring *r, const tsk_seg_event *ev);

/* Appends one record to the calling thread's ring.  Never blocks: in
 * stream mode a full ring drops the record and counts it. */
static inline void probe_emit(uint16_t type, uint64_t tsc, uint64_t task, uint64_t obj,
                              uint64_t arg, uint32_t site, uint32_t str, uint32_t a32, uint32_t b32,
                              uint64_t arg2)
{
	probe_ring *r = probe__ring;
	if (!r)
		return;
	uint64_t h = r->head;
	/* relaxed: a stale mode only delays the switch by a record or two.
	 * Stream mode keeps at most ring_records - 1 records unconsumed: with
	 * a full ring a reader could not tell the oldest record from one
	 * being overwritten (docs/FORMAT.md). */
	if (atomic_load_explicit(&probe__hdr->mode, memory_order_relaxed) != TSK_MODE_FLIGHT &&
	    (h - r->cached_tail >= r->mask || r->pending_lost)) {
		tsk_seg_event ev = {tsc, 0,    type, r->worker, task, obj,
		                    arg, site, str,  a32,       b32,  arg2};
		probe__emit_slow(r, &ev);
		return;
	}
	tsk_seg_event *e = &r->rec[h & r->mask];
	/* release: head (published for the previous record) is ordered before
	 * the overwrite of this slot's old contents; pairs with the reader's
	 * acquire re-read of head after copying (the overwrite check) */
	PROBE_FENCE_RELEASE();
	e->tsc = tsc;
	e->type = type;
	e->worker = r->worker;
	e->task = task;
	e->obj = obj;
	e->arg = arg;
	e->site = site;
	e->str = str;
	e->a32 = a32;
	e->b32 = b32;
	e->arg2 = arg2;
	/* release: the record's fields before its seq (pairs with the reader's
	 * acquire load of seq) */
	__atomic_store_n(&e->seq, (uint32_t)(h + 1), __ATOMIC_RELEASE);
	r->head = h + 1;
	/* release: the record before head (pairs with the reader's acquire
	 * load of head) */
	atomic_store_explicit(&r->hdr->head, h + 1, memory_order_release);
}

/* ---- live slots --------------------------------------------------------- */

/* Seqlock writes: begin makes seq odd, end even again.  One writer at a
 * time per slot (see the concurrency contract above). */
static inline void probe_slot_begin(_Atomic uint32_t *seq)
{
	uint32_t s = atomic_load_explicit(seq, memory_order_relaxed);
	atomic_store_explicit(seq, s + 1, memory_order_relaxed);
	/* release fence: the odd seq is visible before the field stores
	 * (pairs with the reader's acquire fence between copy and recheck) */
	PROBE_FENCE_RELEASE();
}

static inline void probe_slot_end(_Atomic uint32_t *seq)
{
	uint32_t s = atomic_load_explicit(seq, memory_order_relaxed);
	/* release: the field stores before the even seq */
	atomic_store_explicit(seq, s + 1, memory_order_release);
}

/* Allocates a task slot and fills it (state READY); returns slot + 1, or 0
 * when the table is full (counted in task_overflow). */
uint32_t probe_task_slot_new(uint64_t id, uint64_t parent, const char *name, uint32_t site,
                             uint32_t flags, uint64_t tsc);
/* Frees a task slot (the task is gone for good). */
void probe_task_slot_free(uint32_t slot);
/* Allocates a resource slot; returns slot + 1 or 0. */
uint32_t probe_res_slot_new(uint64_t id, int kind, const char *name, uint32_t site,
                            uint64_t capacity, uint64_t tsc);
void probe_res_slot_free(uint32_t slot);

static inline tsk_seg_task *probe_task_slot(uint32_t slot)
{
	return slot ? &probe__tasks[slot - 1] : NULL;
}

static inline tsk_seg_res *probe_res_slot(uint32_t slot)
{
	return slot ? &probe__res[slot - 1] : NULL;
}

#endif /* TSK_PROBE_H */
