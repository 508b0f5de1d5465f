/*
 * tasklist.h - the live tasks of a model in id order, kept up to date in
 * bounded steps (the timeline's lanes; private to tui/).
 *
 * A frame must not look at every task: with 100k tasks a pass over the
 * model costs 10 to 30 ms (a cache miss a task) and a sort more.  The list
 * is built over the first frames (and again when a replay replaces the
 * model) as an order (order.h) of the live tasks by id, in slices; afterwards each frame adds
 * the tasks spawned since (ids are handed out in increasing order, so they come after the last id
 * listed) and marks a bounded number of listed tasks that ended as dead.  Readers skip dead
 * entries, and a task that ended but is not marked yet (tasklist_next
 * looks).  Dead entries are squeezed out at the end of each pass of the
 * sweep, or sooner once they are half of the list.
 */
#ifndef TS_TUI_TASKLIST_H
#define TS_TUI_TASKLIST_H

#include <stddef.h>
#include <stdint.h>

#include "model.h"

typedef struct tasklist {
	uint64_t *ids; /* increasing (without the DEAD bit); DEAD marks an ended task */
	size_t n, cap;
	size_t ndead;        /* entries marked DEAD */
	size_t sweep;        /* the next entry the sweep looks at */
	int64_t swept_mono;  /* when the last pass of the sweep ended */
	uint64_t max_id;     /* the highest task id met (listed or ended) */
	uint64_t gen;        /* the model generation it was built for */
	int built;           /* it was reset for gen */
	int building;        /* the build by ids goes on */
	struct order *build; /* the build: the live tasks by id (order.h) */
} tasklist;

void tasklist_init(tasklist *l);
void tasklist_fini(tasklist *l);

/* Brings l up to date with m (generation gen, tui_generation): a step of
 * the build (started again when gen changed), else the new tasks and a
 * step of the sweep. */
void tasklist_update(tasklist *l, model *m, uint64_t gen);

/* 1 if l is built for generation gen: tasklist_update then only keeps
 * it up (bounded); 0 while the build goes on (a step costs up to a few
 * ms: the TUI does it between frames). */
int tasklist_ready(const tasklist *l, uint64_t gen);

/* Entries (dead ones included) and the id of entry i. */
size_t tasklist_len(const tasklist *l);
uint64_t tasklist_id(const tasklist *l, size_t i);
/* The first entry whose id is >= id (tasklist_len: none). */
size_t tasklist_find(const tasklist *l, uint64_t id);
/* The first entry from i on, going up (dir 1) or down (dir -1), that is
 * a live task, looking at no more than budget entries: its index, or
 * SIZE_MAX. */
size_t tasklist_next(const tasklist *l, model *m, size_t i, int dir, size_t budget);

#endif /* TS_TUI_TASKLIST_H */
