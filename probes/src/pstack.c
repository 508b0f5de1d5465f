/*
 * pstack.c - stacks at suspension points: captured with libunwind, interned
 * in the segment's stack table, each frame symbolized once.
 *
 * A task that suspends may record where it is: the call chain from its
 * entry point down to the blocking call.  Unwinding costs microseconds, so
 * it is never on the per-event budget: TASKSCOPE_STACKS picks the policy
 *     off      never
 *     sampled  (default) at most one suspension per thread per ~1 ms of
 *              TSC time (2^21 ticks), so a hot ping-pong pays for one
 *              unwind (a few us) per millisecond, not per switch
 *     all      every suspension
 * Stacks are interned: the program counters are hashed into a
 * process-local table, and a stack seen before costs the unwind and a
 * lookup.  A new stack is written to the segment's table with a symbol
 * ("function+0xoff") per frame; symbols are interned in the string table
 * and cached per program counter, so each one is resolved once.
 *
 * Invariant: entries below hdr->stack_used are complete (published with a
 * release store after the frames are written).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define UNW_LOCAL_ONLY
#include <libunwind.h>

#include "tsk_probe.h"

#define STACK_HASH   (1u << 15)   /* interned stacks: ids by hash, open addressing */
#define PC_HASH      (1u << 16)   /* symbol ids by program counter */
#define SAMPLE_TICKS (1ull << 21) /* TSC ticks between sampled stacks of a thread */

static atomic_flag lock = ATOMIC_FLAG_INIT; /* guards the tables below */
static uint32_t *stack_ids;                 /* stack id (index + 1) by hash slot */
static struct pcsym {
	uint64_t pc;
	uint32_t sym;
} * pcsyms;
static atomic_int policy = -1; /* 0 off, 1 sampled, 2 all */

static void take(void)
{
	while (atomic_flag_test_and_set_explicit(&lock, memory_order_acquire))
		;
}

static void give(void)
{
	atomic_flag_clear_explicit(&lock, memory_order_release);
}

static int stack_policy(void)
{
	int p = atomic_load_explicit(&policy, memory_order_relaxed);
	if (p < 0) {
		const char *e = getenv("TASKSCOPE_STACKS");
		p = !e || strcmp(e, "sampled") == 0 ? 1 : strcmp(e, "all") == 0 ? 2 : 0;
		atomic_store_explicit(&policy, p, memory_order_relaxed);
	}
	return p;
}

__thread uint64_t probe__stack_next __attribute__((tls_model("initial-exec")));

bool probe__stack_due_slow(uint64_t tsc)
{
	int p = stack_policy();
	if (p == 0 || !PROBE_ON()) {
		probe__stack_next = UINT64_MAX;
		return false;
	}
	if (p == 2)
		return true; /* probe__stack_next stays 0 */
	probe__stack_next = tsc + SAMPLE_TICKS;
	return true;
}

static uint32_t hash_pcs(const uint64_t *pc, int n)
{
	uint64_t h = 1469598103934665603ull;
	for (int i = 0; i < n; i++)
		h = (h ^ pc[i]) * 1099511628211ull;
	return (uint32_t)(h ^ (h >> 32));
}

/* Symbol id for pc, resolving it through the cursor on first sight.  Lock
 * held. */
static uint32_t symbol(unw_cursor_t *cur, uint64_t pc)
{
	for (uint32_t i = 0; i < 16; i++) {
		struct pcsym *e = &pcsyms[((pc * 0x9E3779B97F4A7C15ull >> 48) + i) & (PC_HASH - 1)];
		if (e->pc == pc)
			return e->sym;
		if (e->pc == 0) {
			char name[256], buf[300];
			unw_word_t off = 0;
			uint32_t id = 0;
			if (unw_get_proc_name(cur, name, sizeof(name), &off) == 0) {
				snprintf(buf, sizeof(buf), "%s+0x%lx", name, (unsigned long)off);
				id = probe_str(buf);
			}
			e->pc = pc;
			e->sym = id;
			return id;
		}
	}
	return 0; /* table crowded: leave the frame unnamed */
}

/* Unwinds the calling thread's stack (a task's, at a suspension point) and
 * returns its stack id, or 0 when off, full or the unwind failed.  Skips
 * the runtime's own frames below the caller's caller (skip frames). */
uint32_t probe_stack_capture(int skip)
{
	unw_context_t ctx;
	unw_cursor_t cur;
	uint64_t pcs[TSK_SEG_STACK_DEPTH];
	int n = 0;

	if (!PROBE_ON())
		return 0;
	/* libunwind's caches are not safe to initialise from several threads
	 * at once: unwind under our lock (captures are sampled, so it is
	 * rarely contended) */
	take();
	if (unw_getcontext(&ctx) != 0 || unw_init_local(&cur, &ctx) != 0) {
		give();
		return 0;
	}
	for (int sk = skip; n < TSK_SEG_STACK_DEPTH && unw_step(&cur) > 0;) {
		unw_word_t ip;
		if (unw_get_reg(&cur, UNW_REG_IP, &ip) != 0 || ip == 0)
			break;
		if (sk > 0) {
			sk--;
			continue;
		}
		pcs[n++] = ip;
	}
	if (n == 0) {
		give();
		return 0;
	}
	uint32_t h = hash_pcs(pcs, n);
	tsk_seg_header *hdr = probe__hdr;
	tsk_seg_stack *table = (tsk_seg_stack *)((char *)hdr + hdr->stacks.off);

	if (!stack_ids) {
		stack_ids = calloc(STACK_HASH, sizeof(*stack_ids));
		pcsyms = calloc(PC_HASH, sizeof(*pcsyms));
		if (!stack_ids || !pcsyms) {
			free(stack_ids);
			free(pcsyms);
			stack_ids = NULL;
			pcsyms = NULL;
			give();
			return 0;
		}
	}
	uint32_t id = 0;
	for (uint32_t i = 0; i < STACK_HASH; i++) {
		uint32_t *slot = &stack_ids[(h + i) & (STACK_HASH - 1)];
		if (*slot == 0) {
			uint32_t used =
			        atomic_load_explicit(&hdr->stack_used, memory_order_relaxed);
			if (used >= hdr->stacks.count || i > STACK_HASH / 2) {
				atomic_fetch_add(&hdr->stack_overflow, 1);
				break;
			}
			tsk_seg_stack *s = &table[used];
			s->nframes = (uint32_t)n;
			s->hash = h;
			s->reserved = 0;
			/* symbolize: unwind again, this time naming each frame */
			unw_init_local(&cur, &ctx);
			int j = 0, sk = skip;
			while (j < n && unw_step(&cur) > 0) {
				unw_word_t ip;
				if (unw_get_reg(&cur, UNW_REG_IP, &ip) != 0)
					break;
				if (sk > 0) {
					sk--;
					continue;
				}
				s->frames[j].pc = pcs[j];
				s->frames[j].sym = ip == pcs[j] ? symbol(&cur, ip) : 0;
				s->frames[j].reserved = 0;
				j++;
			}
			for (; j < n; j++)
				s->frames[j] = (tsk_seg_frame){pcs[j], 0, 0};
			/* release: the entry before stack_used covers it */
			atomic_store_explicit(&hdr->stack_used, used + 1, memory_order_release);
			*slot = used + 1;
			id = used + 1;
			break;
		}
		tsk_seg_stack *s = &table[*slot - 1];
		if (s->hash == h && s->nframes == (uint32_t)n) {
			int j = 0;
			while (j < n && s->frames[j].pc == pcs[j])
				j++;
			if (j == n) {
				id = *slot;
				break;
			}
		}
	}
	give();
	return id;
}
