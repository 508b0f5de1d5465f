/*
 * tui.h - the live views of `taskscope top`: one loop (tui.c) drives the
 * collector and draws the view on top of a small stack; each view is one
 * file behind this vtable (view_tasks.c, view_detail.c).  Views draw the
 * inspector's model, never SQLite, and only the rows that are visible.
 *
 * Work in progress (issue 7): tasks, task detail, resources, problems and
 * workers so far; no timeline, tree or replay yet.
 */
#ifndef TS_TUI_H
#define TS_TUI_H

#include <stddef.h>
#include <stdint.h>

#include "collector.h"

typedef struct tui tui;

typedef struct tui_view_ops {
	const char *name;
	/* draws the body: screen rows [y0, y0 + h) */
	void (*draw)(tui *t, void *state, int y0, int h);
	/* a key: 1 handled, 0 not (the loop's keys then) */
	int (*key)(tui *t, void *state, int key);
	void (*free)(void *state);
} tui_view_ops;

/* The loop's services to views. */
model *tui_model(tui *t);
coll *tui_coll(tui *t);
int64_t tui_now_ns(tui *t); /* process ns of this frame */
/* Pushes a view (it owns state); the loop draws the top one. */
void tui_push(tui *t, const tui_view_ops *ops, void *state);
/* Pops the top view (never the last one). */
void tui_pop(tui *t);
/* A message on the bottom line until the next key. */
void tui_status(tui *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* The recent history of a task for the timeline: its last TUI_SPANS
 * closed intervals, oldest first (n of them). */
#define TUI_SPANS 16
typedef struct tui_span {
	int64_t start_ns, end_ns;
	uint8_t state; /* enum model_state */
	uint8_t wait_kind;
} tui_span;
size_t tui_history(tui *t, uint64_t task, tui_span *out);

/* Shared formatting: "mutex:db", "join:reader", "sleep" of a blocked task;
 * "" otherwise. */
void tui_wait_text(model *m, const model_task *t, char *buf, size_t cap);
const char *tui_state_name(const model_task *t);

/* The views. */
extern const tui_view_ops tui_tasks_view;
void *tui_tasks_new(void);
extern const tui_view_ops tui_detail_view;
void *tui_detail_new(uint64_t task);
extern const tui_view_ops tui_resources_view;
void *tui_resources_new(uint64_t res); /* 0: all; else one resource's holders and waiters */
extern const tui_view_ops tui_problems_view;
void *tui_problems_new(void);
extern const tui_view_ops tui_workers_view;
void *tui_workers_new(void);
extern const tui_view_ops tui_timeline_view;
void *tui_timeline_new(void);

/* Replaces every view by this one (the top-level views: t, r, p, k). */
void tui_switch(tui *t, const tui_view_ops *ops, void *state);

#endif /* TS_TUI_H */
