/*
 * tasklist.c - the live tasks in id order, kept in bounded steps
 * (tasklist.h).
 *
 * Tuned for 100k live tasks at 10 frames a second.  The build looks the
 * ids up from 1, BUILD_STEP a frame (ids are handed out from 1 up, so the
 * list comes out sorted and its first lanes are right at once); if the ids
 * are much sparser than the live tasks it passes over the model instead
 * and sorts (a radix sort: the ids are small integers).  Then a frame's
 * update looks at the ids just above the highest met (new tasks; MISS_RUN
 * misses end the look), again at the REPROBE ids below it (a SPAWN applied
 * after a later one's), and at no more than SWEEP_STEP listed tasks for
 * the sweep; a full pass of the sweep is followed by a second's rest.  The
 * dead entries are squeezed out at the end of a pass (a scan without a
 * look at the model: under 1 ms for 100k).
 */
#include <stdlib.h>
#include <string.h>

#include "tasklist.h"
#include "util.h"

#define DEAD       (1ull << 63) /* the entry's task ended */
#define MISS_RUN   64           /* new ids: the look ends after this many misses in a row */
#define REPROBE    256          /* ids below the highest met looked at again */
#define SWEEP_STEP 2048         /* listed tasks the sweep looks at in a frame */
#define SWEEP_REST 1000000000   /* ns between two passes of the sweep */
#define BUILD_STEP 8192         /* ids a frame of the build looks up */

void tasklist_init(tasklist *l)
{
	memset(l, 0, sizeof(*l));
}

void tasklist_fini(tasklist *l)
{
	free(l->ids);
	memset(l, 0, sizeof(*l));
}

/* Appends id (the caller keeps the order). */
static void push(tasklist *l, uint64_t id)
{
	if (l->n == l->cap) {
		l->cap = l->cap ? l->cap * 2 : 1024;
		l->ids = xrealloc(l->ids, l->cap * sizeof(*l->ids));
	}
	l->ids[l->n++] = id;
}

/* Whether k is a task that has not returned. */
static int alive(const model_task *k)
{
	return k && k->ended_ns < 0;
}

/* build_all's callback: lists k if it is live. */
static void add_task(void *ctx, model_task *k)
{
	tasklist *l = ctx;
	if (k->id > l->max_id)
		l->max_id = k->id;
	if (alive(k))
		push(l, k->id);
}

/* Sorts a (n ids) by an LSD radix sort on the bytes in which they differ;
 * tmp: n entries of scratch. */
static void radix_sort(uint64_t *a, uint64_t *tmp, size_t n)
{
	uint64_t all_or = 0, all_and = ~0ull;
	for (size_t i = 0; i < n; i++) {
		all_or |= a[i];
		all_and &= a[i];
	}
	for (int shift = 0; shift < 64; shift += 8) {
		if ((((all_or ^ all_and) >> shift) & 0xff) == 0)
			continue; /* the same byte in every id */
		size_t count[257] = {0};
		for (size_t i = 0; i < n; i++)
			count[((a[i] >> shift) & 0xff) + 1]++;
		for (int b = 0; b < 256; b++)
			count[b + 1] += count[b];
		for (size_t i = 0; i < n; i++)
			tmp[count[(a[i] >> shift) & 0xff]++] = a[i];
		memcpy(a, tmp, n * sizeof(*a));
	}
}

/* The build at one go: a pass over the model and a sort. */
static void build_all(tasklist *l, model *m)
{
	l->n = l->ndead = l->sweep = 0;
	l->max_id = 0;
	model_each_task(m, add_task, l);
	uint64_t *tmp = xmalloc((l->n + 1) * sizeof(*tmp));
	radix_sort(l->ids, tmp, l->n);
	free(tmp);
	l->building = 0;
}

/* A step of the build by ids: looks up the next BUILD_STEP ids.  Done
 * once it has listed as many live tasks as the model counts; ids sparser
 * than that (most tasks ended and forgotten) end it with build_all. */
static void build_step(tasklist *l, model *m)
{
	model_stats ms;
	model_get_stats(m, &ms);
	uint64_t alive_n = ms.by_state[MS_UNKNOWN] + ms.by_state[MS_READY] +
	                   ms.by_state[MS_RUNNING] + ms.by_state[MS_BLOCKED];
	for (int k = 0; k < BUILD_STEP && l->found < alive_n; k++, l->probe++) {
		model_task *t = model_task_get(m, l->probe);
		if (!t)
			continue;
		l->max_id = l->probe;
		if (alive(t)) {
			push(l, l->probe);
			l->found++;
		}
	}
	if (l->found >= alive_n)
		l->building = 0; /* add_new finds any left above max_id */
	else if (l->probe > 2 * alive_n + 65536)
		build_all(l, m);
}

/* Empties l and starts the build by ids for model generation gen. */
static void reset(tasklist *l, uint64_t gen)
{
	l->n = l->ndead = l->sweep = 0;
	l->max_id = l->found = 0;
	l->probe = 1;
	l->building = 1;
	l->built = 1;
	l->gen = gen;
	l->swept_mono = ts_mono_ns();
}

size_t tasklist_len(const tasklist *l)
{
	return l->n;
}

uint64_t tasklist_id(const tasklist *l, size_t i)
{
	return l->ids[i] & ~DEAD;
}

size_t tasklist_find(const tasklist *l, uint64_t id)
{
	size_t lo = 0, hi = l->n;
	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		if ((l->ids[mid] & ~DEAD) < id)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

/* Lists live task id (not listed, not above max_id) in its place. */
static void insert(tasklist *l, uint64_t id)
{
	size_t i = tasklist_find(l, id);
	if (i < l->n && tasklist_id(l, i) == id)
		return;
	push(l, 0);
	memmove(&l->ids[i + 1], &l->ids[i], (l->n - 1 - i) * sizeof(*l->ids));
	l->ids[i] = id;
	if (l->sweep > i)
		l->sweep++;
}

/* The tasks met since the last frame. */
static void add_new(tasklist *l, model *m)
{
	uint64_t from = l->max_id > REPROBE ? l->max_id - REPROBE : 1;
	for (uint64_t id = from; id < l->max_id; id++) {
		model_task *k = model_task_get(m, id);
		if (alive(k))
			insert(l, id);
	}
	int misses = 0;
	for (uint64_t id = l->max_id + 1; misses < MISS_RUN; id++) {
		model_task *k = model_task_get(m, id);
		if (!k) {
			misses++;
			continue;
		}
		misses = 0;
		l->max_id = id;
		if (alive(k))
			push(l, id);
	}
}

/* Squeezes the dead entries out. */
static void compact(tasklist *l)
{
	size_t w = 0;
	for (size_t i = 0; i < l->n; i++) {
		if (i == l->sweep)
			l->sweep = w;
		if (!(l->ids[i] & DEAD))
			l->ids[w++] = l->ids[i];
	}
	if (l->sweep >= l->n)
		l->sweep = w;
	l->n = w;
	l->ndead = 0;
}

/* A step of the sweep: marks the ended tasks among the next SWEEP_STEP. */
static void sweep(tasklist *l, model *m)
{
	int64_t mono = ts_mono_ns();
	if (l->sweep >= l->n && mono - l->swept_mono < SWEEP_REST)
		return;
	if (l->sweep >= l->n)
		l->sweep = 0;
	for (size_t k = 0; k < SWEEP_STEP && l->sweep < l->n; k++, l->sweep++) {
		uint64_t *e = &l->ids[l->sweep];
		if (!(*e & DEAD) && !alive(model_task_get(m, *e))) {
			*e |= DEAD;
			l->ndead++;
		}
	}
	/* squeezed at the end of a pass, or sooner when half is dead (the
	 * walks then skip more than they find) */
	if (l->sweep >= l->n)
		l->swept_mono = mono;
	if (l->ndead && (l->sweep >= l->n || (l->ndead > 1024 && l->ndead > l->n / 2)))
		compact(l);
}

void tasklist_update(tasklist *l, model *m, uint64_t gen)
{
	if (!l->built || gen != l->gen)
		reset(l, gen);
	if (l->building) {
		build_step(l, m);
		return;
	}
	add_new(l, m);
	sweep(l, m);
}

size_t tasklist_next(const tasklist *l, model *m, size_t i, int dir, size_t budget)
{
	for (; i < l->n && budget; i += (size_t)(ptrdiff_t)dir, budget--)
		if (!(l->ids[i] & DEAD) && alive(model_task_get(m, l->ids[i])))
			return i;
	return SIZE_MAX;
}
