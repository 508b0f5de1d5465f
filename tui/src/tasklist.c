/*
 * tasklist.c - the live tasks in id order, kept in bounded steps
 * (tasklist.h).
 *
 * Tuned for 100k live tasks at 10 frames a second.  The build is an
 * order (order.h: a snapshot of the ids, each looked up, sorted) of the
 * live tasks by id, in slices of BUILD_SLICE_NS.  Then a frame's
 * update looks at the ids just above the highest met (new tasks; MISS_RUN
 * misses end the look), again at the REPROBE ids below it (a SPAWN applied
 * after a later one's), and at no more than SWEEP_STEP listed tasks for
 * the sweep; a full pass of the sweep is followed by a second's rest.  The
 * dead entries are squeezed out at the end of a pass (a scan without a
 * look at the model: under 1 ms for 100k).
 */
#include <stdlib.h>
#include <string.h>

#include "order.h"
#include "tasklist.h"
#include "tui.h"
#include "util.h"

#define DEAD           (1ull << 63) /* the entry's task ended */
#define MISS_RUN       64           /* new ids: the look ends after this many misses in a row */
#define REPROBE        256          /* ids below the highest met looked at again */
#define SWEEP_STEP     2048         /* listed tasks the sweep looks at in a frame */
#define SWEEP_REST     1000000000   /* ns between two passes of the sweep */
#define BUILD_SLICE_NS 1000000      /* a step of the build */

void tasklist_init(tasklist *l)
{
	memset(l, 0, sizeof(*l));
}

void tasklist_fini(tasklist *l)
{
	free(l->ids);
	order_destroy(l->build);
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

/* The build's key (order.h): every live task, by id alone. */
static int live_key(void *ctx, model *m, uint64_t id, uint64_t key[ORDER_WORDS])
{
	(void)ctx;
	(void)key;
	return alive(model_task_get(m, id));
}

static const order_src live_src = {model_task_ids, live_key, NULL, 0, 0};

/* A step of the build; once complete, its ids are the list. */
static void build_step(tasklist *l, model *m)
{
	if (!l->build)
		l->build = order_create();
	if (order_tick(l->build, m, l->gen, &live_src, ts_mono_ns() + BUILD_SLICE_NS, 0) !=
	    TUI_CHANGED)
		return;
	size_t n = order_count(l->build);
	for (size_t i = 0; i < n; i++)
		push(l, order_id(l->build, i));
	l->max_id = n ? order_id(l->build, n - 1) : 0;
	l->building = 0; /* add_new lists the tasks spawned meanwhile */
}

/* Empties l and starts the build by ids for model generation gen. */
static void reset(tasklist *l, uint64_t gen)
{
	l->n = l->ndead = l->sweep = 0;
	l->max_id = 0;
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
