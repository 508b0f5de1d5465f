/*
 * stack.c - pooled, guard-paged, lazily committed task stacks.
 *
 * A stack is one anonymous private mapping: a PROT_NONE guard page at its
 * low end (so an overflow faults instead of corrupting a neighbour), the
 * usable stack, and the task's own struct at the very top.  The kernel
 * commits pages only when touched, so a 64 KiB stack whose task blocks
 * after a few calls costs one page of RSS.
 *
 * Mappings are recycled: each worker keeps up to RT_STACK_CACHE free stacks
 * (no lock), the runtime a shared pool behind a spinlock; beyond that they
 * are unmapped.  Recycled stacks keep the pages their last task touched:
 * that is the price of not making a system call per spawn.
 *
 * A guard page splits a mapping into two kernel VMAs, and Linux limits a
 * process to vm.max_map_count of them (65530 by default).  So guards are
 * given to the first (max_map_count - 8192) / 2 live stacks; beyond that,
 * stacks are mapped without a guard (documented in ARCHITECTURE.md), which
 * lets a program hold hundreds of thousands of blocked tasks.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "sched_int.h"

#if defined(__has_include)
#if __has_include(<valgrind/valgrind.h>)
#include <valgrind/valgrind.h>
#define RT_HAVE_VALGRIND 1
#endif
#endif

#if defined(__SANITIZE_ADDRESS__)
#define RT_ASAN_STACKS 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define RT_ASAN_STACKS 1
#endif
#endif
#ifdef RT_ASAN_STACKS
#include <sanitizer/asan_interface.h>
/* A task that exits never returns from its last frames, so ASan's redzones
 * around their locals stay poisoned in shadow memory; clear them before a
 * stack (or a new mapping at a recycled address) is used again. */
#define RT_UNPOISON(p, n) __asan_unpoison_memory_region((p), (n))
#else
#define RT_UNPOISON(p, n) ((void)(p), (void)(n))
#endif

#define RT_POOL_MAX 1024 /* free stacks kept by the runtime beyond the caches */

static atomic_long guarded_live;  /* guarded stacks mapped, process-wide */
static atomic_long guarded_limit; /* 0 until read from /proc */

static size_t page_size(void)
{
	static size_t ps;
	if (!ps)
		ps = (size_t)sysconf(_SC_PAGESIZE);
	return ps;
}

static long guard_budget(void)
{
	long lim = atomic_load_explicit(&guarded_limit, memory_order_relaxed);
	if (lim)
		return lim;
	long max = 65530;
	FILE *f = fopen("/proc/sys/vm/max_map_count", "re");
	if (f) {
		if (fscanf(f, "%ld", &max) != 1)
			max = 65530;
		fclose(f);
	}
	lim = (max - 8192) / 2;
	if (lim < 1)
		lim = 1;
	atomic_store_explicit(&guarded_limit, lim, memory_order_relaxed);
	return lim;
}

/* The task struct sits at the top of the mapping, cache-line aligned. */
static tsk_task *task_of(void *base, size_t size)
{
	uintptr_t top = (uintptr_t)base + size;
	return (tsk_task *)((top - sizeof(tsk_task)) & ~(uintptr_t)63);
}

static int map_stack(rt_runtime *rt, tsk_task **out)
{
	size_t ps = page_size();
	size_t usable = rt->stack_size;
	bool guard =
	        atomic_fetch_add_explicit(&guarded_live, 1, memory_order_relaxed) < guard_budget();
	if (!guard)
		atomic_fetch_sub_explicit(&guarded_live, 1, memory_order_relaxed);
	size_t size = usable + (guard ? ps : 0);

	void *base = mmap(NULL, size, PROT_READ | PROT_WRITE,
	                  MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_STACK, -1, 0);
	if (base == MAP_FAILED)
		goto fail_map;
	if (guard && mprotect(base, ps, PROT_NONE) != 0)
		goto fail_guard;
	RT_UNPOISON((char *)base + (guard ? ps : 0), size - (guard ? ps : 0));

	tsk_task *t = task_of(base, size);
	memset(t, 0, sizeof(*t));
	t->stack.base = base;
	t->stack.size = size;
	t->stack.guarded = guard;
#ifdef RT_HAVE_VALGRIND
	t->stack.vg_id = VALGRIND_STACK_REGISTER((char *)base + (guard ? ps : 0), (char *)t);
#endif
	*out = t;
	return 0;

fail_guard:
	munmap(base, size);
fail_map:
	if (guard)
		atomic_fetch_sub_explicit(&guarded_live, 1, memory_order_relaxed);
	return -ENOMEM;
}

static void unmap_stack(tsk_task *t)
{
	rt_stack s = t->stack;
#ifdef RT_HAVE_VALGRIND
	VALGRIND_STACK_DEREGISTER(s.vg_id);
#endif
	if (s.guarded)
		atomic_fetch_sub_explicit(&guarded_live, 1, memory_order_relaxed);
	/* a later mapping at this address must not inherit our poison */
	size_t guard = s.guarded ? page_size() : 0;
	RT_UNPOISON((char *)s.base + guard, s.size - guard);
	munmap(s.base, s.size);
}

/* Clears a recycled task struct but keeps its stack description. */
static tsk_task *reuse(tsk_task *t)
{
	rt_stack s = t->stack;
	size_t guard = s.guarded ? page_size() : 0;
	RT_UNPOISON((char *)s.base + guard, s.size - guard);
	memset(t, 0, sizeof(*t));
	t->stack = s;
	return t;
}

/* Gets a stack with a zeroed tsk_task at its top, from w's cache (w may be
 * NULL), the runtime pool, or a new mapping.  Returns 0 or -ENOMEM. */
int rt__stack_get(rt_runtime *rt, rt_worker *w, tsk_task **out)
{
	if (w && w->stack_cache) {
		tsk_task *t = w->stack_cache;
		w->stack_cache = t->next;
		w->nstack_cache--;
		*out = reuse(t);
		return 0;
	}
	if (rt->npool > 0) { /* racy peek; rechecked under the lock */
		rt__spin_lock(&rt->pool_lock);
		tsk_task *t = rt->pool;
		if (t) {
			rt->pool = t->next;
			rt->npool--;
		}
		rt__spin_unlock(&rt->pool_lock);
		if (t) {
			*out = reuse(t);
			return 0;
		}
	}
	return map_stack(rt, out);
}

/* Returns t's stack (and with it t) to w's cache, the pool, or the kernel.
 * t must not be running and nothing may reference it any more. */
void rt__stack_put(rt_runtime *rt, rt_worker *w, tsk_task *t)
{
	if (w && w->nstack_cache < RT_STACK_CACHE) {
		t->next = w->stack_cache;
		w->stack_cache = t;
		w->nstack_cache++;
		return;
	}
	rt__spin_lock(&rt->pool_lock);
	if (rt->npool < RT_POOL_MAX) {
		t->next = rt->pool;
		rt->pool = t;
		rt->npool++;
		t = NULL;
	}
	rt__spin_unlock(&rt->pool_lock);
	if (t)
		unmap_stack(t);
}

/* Unmaps every cached and pooled stack.  At teardown, single-threaded. */
void rt__stack_drain(rt_runtime *rt)
{
	for (int i = 0; i < rt->nworkers; i++) {
		rt_worker *w = &rt->workers[i];
		while (w->stack_cache) {
			tsk_task *t = w->stack_cache;
			w->stack_cache = t->next;
			unmap_stack(t);
		}
		w->nstack_cache = 0;
	}
	while (rt->pool) {
		tsk_task *t = rt->pool;
		rt->pool = t->next;
		unmap_stack(t);
	}
	rt->npool = 0;
}
