/*
 * order.h - a list of ids (tasks, resources) in a view's order, built in
 * steps of bounded time while the previous list stays on screen.
 *
 * Why: with 100k tasks, reading every task's sort key and sorting took
 * ~60 ms, so the frame that rebuilt a view's order once a second broke
 * the 5 ms a frame.  A build here is a state machine whose steps each
 * stop by a deadline: the views run it a slice at a time between frames
 * (tui_view_ops.work) and for a moment at the start of a frame, so a small
 * model is still ordered within the frame that asked for it.
 *
 * A build: one sequential snapshot of the ids (model_task_ids), then each
 * id looked up and keyed by the view's function (the model changes
 * between steps: an id gone by then is left out, a newer one waits for the
 * next build), an LSD radix sort of the (key, id) records that skips the
 * bytes every record shares, then the list in sorted order or, for a tree,
 * depth first through the parents.  The new list replaces the shown one
 * at once when complete.
 */
#ifndef TS_TUI_ORDER_H
#define TS_TUI_ORDER_H

#include <stddef.h>
#include <stdint.h>

#include "model.h"

#define ORDER_WORDS    4          /* words of a sort key: a name takes 3, a number 1 */
#define ORDER_EVERY_NS 1000000000 /* a view's list is rebuilt every second */
#define ORDER_DRAW_NS  500000     /* a frame's share of a build: a small model's is done in it */

typedef struct order order;

typedef struct order_src {
	/* the ids to order: model_task_ids or model_res_ids (model.h) */
	size_t (*ids)(const model *m, uint64_t *out, size_t cap);
	/* fills key (zeroed before) with id's sort key, compared as unsigned
	 * words from key[0]; returns 1 to list id, 0 to leave it out.  In a
	 * tree, key[0] is the parent's id.  m is the model at the time. */
	int (*key)(void *ctx, model *m, uint64_t id, uint64_t key[ORDER_WORDS]);
	void *ctx;
	int reverse; /* ties by id descending (key's words are the caller's) */
	int tree;    /* depth-first through the parents: key[0]; each parent's
	                children in key order; a task whose parent is not
	                listed is a root */
} order_src;

/* An empty list; the caller owns it (order_destroy; NULL is a no-op).
 * Aborts on allocation failure (the inspector's x*alloc policy). */
order *order_create(void);
void order_destroy(order *o);

/* Starts a build of the model's ids as they are now, dropping one under
 * way; src is copied (its ctx must outlive the build); gen is the model's
 * tui_generation.  One pass over the id table (0.4 ms for 100k tasks). */
void order_start(order *o, model *m, uint64_t gen, const order_src *src);
/* Works on the build until ts_mono_ns() reaches deadline_ns (it looks at
 * the clock every 64 items: tens of microseconds past it, more if the key
 * function is slow); m is the model now.  Returns 1 when the build
 * completed and its list replaced the shown one, 0 if there is still work
 * or no build. */
int order_step(order *o, model *m, int64_t deadline_ns);
int order_building(const order *o);
/* A view's list kept fresh: starts a build with src if there is no list
 * for this model (never built, or gen changed), then order_step; or, if
 * periodic, only starts one when the last began ORDER_EVERY_NS ago (the
 * snapshot is enough for one slice).  Returns a tui_work: TUI_CHANGED
 * when a new list replaced the shown one. */
int order_tick(order *o, model *m, uint64_t gen, const order_src *src, int64_t deadline_ns,
               int periodic);

/* The list shown: its length, the id at position i (0 past the end), its
 * depth in the tree (0 when not a tree), the position of id (SIZE_MAX if
 * absent; a scan, ~50 us for 100k ids). */
size_t order_count(const order *o);
uint64_t order_id(const order *o, size_t i);
unsigned order_depth(const order *o, size_t i);
size_t order_find(const order *o, uint64_t id);

#endif /* TS_TUI_ORDER_H */
