/*
 * tui.h - the live views of `taskscope top`: one loop (tui.c) drives the
 * collector and draws the view on top of a small stack; each view is one
 * file behind this vtable (view_tasks.c, view_detail.c).  Views draw the
 * inspector's model, never SQLite, and only the rows that are visible.
 *
 * The same views draw a history: `taskscope replay` (replay.c) builds the
 * model at a time cursor and serves it through the same calls.  `taskscope
 * run` (inspector/src/cmd_run.c) shows the program it started with
 * tui_run, recording as it goes.
 */
#ifndef TS_TUI_H
#define TS_TUI_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "collector.h"
#include "detect.h"

typedef struct tui tui;

typedef struct tui_view_ops {
	const char *name;
	/* draws the body: screen rows [y0, y0 + h) */
	void (*draw)(tui *t, void *state, int y0, int h);
	/* a key: 1 handled, 0 not (the loop's keys then) */
	int (*key)(tui *t, void *state, int key);
	void (*free)(void *state);
	/* optional: a mouse click on body line `line` (0: the first line the
	 * view drew, at y0) selects what is drawn there; 1 if it did.  A
	 * double click then sends Enter. */
	int (*click)(tui *t, void *state, int line);
	/* work between frames (NULL: none), such as a slice of a rebuilt
	 * order, until ts_mono_ns() reaches deadline_ns: the loop checks the
	 * keys between slices.  Returns a tui_work. */
	int (*work)(tui *t, void *state, int64_t deadline_ns);
	/* optional: 1 while the view takes text (a filter being typed): its
	 * keys are then the view's, not a replay's cursor keys */
	int (*editing)(void *state);
} tui_view_ops;

enum tui_work {
	TUI_IDLE = 0,    /* nothing to do */
	TUI_BUSY = 1,    /* work remains: the loop comes back after a look at the keys */
	TUI_CHANGED = 2, /* the view changed: it is drawn at once */
};

/* The loop's services to views: the same for a live process (top, run)
 * and a history (replay), so a view never asks which it draws. */
model *tui_model(tui *t);
/* Bumped each time tui_model's model is replaced (a replay's cursor
 * moved): a view that caches task ids rebuilds. */
uint64_t tui_generation(tui *t);
int tui_replaying(tui *t);
/* Where counters start: the attach (live), the history's first event
 * (replay); process ns. */
int64_t tui_first_ns(tui *t);
/* Process ns of this frame; in a replay, the cursor. */
int64_t tui_now_ns(tui *t);
/* The text of a string id, the frames of a stack id: 0, or -1. */
int tui_string(tui *t, uint32_t id, char *buf, size_t cap);
int tui_stack(tui *t, uint32_t id, tsk_seg_stack *out);
/* The deadlocks found so far (in a replay: by the cursor), in the order
 * found; the warnings. */
size_t tui_ndeadlocks(tui *t);
const det_deadlock *tui_deadlock(tui *t, size_t i);
void tui_each_warning(tui *t, void (*fn)(void *ctx, const det_warning *w), void *ctx);
/* Pushes a view (it owns state); the loop draws the top one. */
void tui_push(tui *t, const tui_view_ops *ops, void *state);
/* The keys that move a list's selection (arrows, j/k, PgUp/PgDn,
 * Home/End, g/G): 1 if key was one; *sel may pass the end (the view's
 * draw clamps it). */
int tui_list_key(int key, size_t *sel);
/* Pops the top view (never the last one). */
void tui_pop(tui *t);
/* A message on the bottom line until the next key. */
void tui_status(tui *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* The recent history of a task for the timeline: its last TUI_SPANS
 * closed intervals, oldest first (n of them).  32 bytes: the fields of a
 * model_interval the timeline shows, those of one state sharing a byte. */
#define TUI_SPANS 16
typedef struct tui_span {
	int64_t start_ns, end_ns;
	uint64_t obj;    /* BLOCKED: the awaited id; READY: the waker or spawner (0 none);
	                    RUNNING: the task that ran */
	uint32_t site;   /* BLOCKED: string id of the wait's call site, 0 none */
	uint16_t worker; /* RUNNING: the worker's index; else 0xffff */
	uint8_t state;   /* enum model_state */
	union {
		uint8_t wait_kind; /* BLOCKED: enum tsk_wait_kind */
		uint8_t how;       /* READY: enum model_ready_how */
	};
} tui_span;
size_t tui_history(tui *t, uint64_t task, tui_span *out);
/* The recent history of a worker: the last (at most cap, up to
 * TUI_WORKER_SPANS live) closed running intervals on it, oldest first;
 * obj names the task. */
#define TUI_WORKER_SPANS 256
size_t tui_worker_history(tui *t, uint32_t worker, tui_span *out, size_t cap);

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

/* Replaces every view by this one (the top-level views: t, r, p, w, l). */
void tui_switch(tui *t, const tui_view_ops *ops, void *state);

/* Runs the views on a collector already open (top): returns when q is
 * pressed (0), the process is gone (0), or on a stop signal (its number).
 * target: the recording's DB for the header, or NULL.  The caller still
 * owns c.  tui_run with only these set. */
int tui_run_live(coll *c, const char *target, int64_t refresh_ns, int frame_stats);

/* How tui_run shows a live process. */
typedef struct tui_live {
	const char *target; /* the recording's DB, in the header as "-> DB"; or NULL */
	int64_t refresh_ns; /* redraw interval (0: 100 ms) */
	int frame_stats;    /* 1: the frame timer on stderr at the end */
	const char *note;   /* the bottom line's first message (until a key), or NULL */
	/* run: the program taskscope started, 0 for top.  The loop reaps it
	 * (waitpid) instead of polling the process's liveness; once it has
	 * exited the last records are applied, reading stops and the view
	 * keeps the final state, the header saying how it ended, until q. */
	pid_t child;
	int child_exited;           /* out: 1 once the loop reaped child */
	int child_status;           /* out: child's wait status then */
	int64_t child_exit_mono_ns; /* out: when it was reaped (ts_mono_ns) */
	/* Called about once a second while the process runs, between passes
	 * (on the collector's thread): run --record commits the recording. */
	void (*tick)(void *ctx);
	void *tick_ctx;
} tui_live;

/* tui_run_live with every option: returns as tui_run_live (with a child:
 * never because the process is gone; only q or a stop signal).  The
 * caller owns c and l; l's out fields are set on return. */
int tui_run(coll *c, tui_live *l);

/* Can the views run here?  stdin and stdout are terminals and TERM names a
 * terminal with cursor addressing.  Returns 0, or -1 with a one-line
 * reason in err.  Writes nothing to the terminal. */
int tui_terminal_ok(char *err, size_t cap);

/* -r MS of top and run: the interval in ns; exits with a usage error if
 * MS is not 10 to 60000. */
int64_t tui_parse_refresh(const char *arg);

#endif /* TS_TUI_H */
