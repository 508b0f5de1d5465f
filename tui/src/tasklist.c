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
	free(l->snap);
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

/* A step of the build.  The first takes a snapshot of the model's task
 * ids (one sequential read of its table, 0.4 ms for 100k tasks) and sorts
 * it; each lists the live tasks among the next BUILD_STEP of its ids, a
 * cache miss each.  (Looking ids up one by one from 1 instead cannot tell
 * where sparse ids end: it then had to list everything in one frame, 10
 * to 15 ms for chain's 100k tasks.) */
static void build_step(tasklist *l, model *m)
{
	int step = BUILD_STEP;
	if (!l->snap) {
		step = BUILD_STEP / 8; /* the snapshot and its sort are most of this step */
		size_t n = model_task_ids(m, NULL, 0);
		l->snap = xmalloc((n + 1) * sizeof(*l->snap));
		l->nsnap = model_task_ids(m, l->snap, n);
		uint64_t *tmp = xmalloc((l->nsnap + 1) * sizeof(*tmp));
		radix_sort(l->snap, tmp, l->nsnap);
		free(tmp);
		l->snap_pos = 0; /* and on: a small model is listed in one step */
	}
	for (int k = 0; k < step && l->snap_pos < l->nsnap; k++) {
		uint64_t id = l->snap[l->snap_pos++];
		l->max_id = id; /* the snapshot is sorted */
		if (alive(model_task_get(m, id)))
			push(l, id);
	}
	if (l->snap_pos < l->nsnap)
		return;
	free(l->snap);
	l->snap = NULL;
	l->building = 0; /* add_new lists the tasks spawned meanwhile */
}

/* Empties l and starts the build by ids for model generation gen. */
static void reset(tasklist *l, uint64_t gen)
{
	l->n = l->ndead = l->sweep = 0;
	l->max_id = 0;
	free(l->snap);
	l->snap = NULL;
	l->building = 1;
	l->built = 1;
	l->gen = gen;
	l->swept_mono = ts_mono_ns();
}

int tasklist_ready(const tasklist *l, uint64_t gen)
{
	return l->built && l->gen == gen && !l->building;
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
