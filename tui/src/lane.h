/*
 * lane.h - one lane of the timeline (view_timeline.c; private to tui/):
 * its intervals, its cells on a time axis, the wakes into it, and the
 * line that says what is under the cursor.
 *
 * A lane is a task's (its recent closed intervals and its open one) or a
 * worker's (its recent runs and the one going on).  Cells are one char and
 * one attribute byte a column; the view writes them to the screen.
 */
#ifndef TS_TUI_LANE_H
#define TS_TUI_LANE_H

#include <stddef.h>
#include <stdint.h>

#include "tui.h"

/* The intervals a lane holds at most: a worker's runs and the open one. */
#define LANE_SPANS (TUI_WORKER_SPANS + 1)

/* A cell's attribute byte: a colour pair of tui.c's start_curses, and
 * flags. */
enum {
	LANE_RED = 1,
	LANE_GREEN = 2,
	LANE_YELLOW = 3,
	LANE_CYAN = 4,
	LANE_PAIR = 7, /* the pair's bits */
	LANE_BOLD = 8,
	LANE_REVERSE = 16,
};

/* The time axis of a frame. */
typedef struct lane_axis {
	int64_t start, span; /* the left edge, the time across */
	int64_t now;         /* nothing is drawn after it */
	int w;               /* columns */
} lane_axis;

/* A wake to draw: its column, the wakee's lane and the waker's (rows of
 * the screen's lanes). */
typedef struct lane_wake {
	int col, to, from;
} lane_wake;

/* The middle instant of column c: what the column shows. */
int64_t lane_col_time(const lane_axis *a, int c);

/* Task k's intervals into sp (LANE_SPANS), oldest first, the open one
 * last (ending at now): their count; *open: the last is the open one. */
size_t lane_task_spans(tui *t, const model_task *k, int64_t now, tui_span *sp, int *open);
/* Worker i's runs likewise (obj: the task that ran). */
size_t lane_worker_spans(tui *t, uint32_t i, int64_t now, tui_span *sp, int *open);

/* A task lane's cells: its state at each column's middle instant ('#'
 * running, '+' ready, '.' blocked, 'z' sleeping, ' ' not known).  Returns
 * the interval under column `cursor` (NULL: none). */
const tui_span *lane_fill_task(const lane_axis *a, const tui_span *sp, size_t n, int cursor,
                               char *cell, uint8_t *attr);
/* A worker lane's cells: in each column the task that ran there last
 * (the last digit of its id), ' ' idle.  Returns that run at `cursor`. */
const tui_span *lane_fill_worker(const lane_axis *a, const tui_span *sp, size_t n, int cursor,
                                 char *cell, uint8_t *attr);

/* Adds to marks the wakes into lane `row` (intervals sp, n) whose waker's
 * lane is on the screen too (win: the screen's task ids, sorted, lanes of
 * them): the new count. */
size_t lane_wakes(const lane_axis *a, const tui_span *sp, size_t n, const uint64_t *win, int lanes,
                  int row, lane_wake *marks, size_t nmarks);
/* Draws the wakes over the cells of the screen's lanes (w a lane): '|'
 * across the lanes between, 'v' or '^' on the wakee's. */
void lane_draw_wakes(const lane_wake *marks, size_t n, char *cell, uint8_t *attr, int w);

/* The cursor's line into buf: at instant `at`, lane `name` was in s
 * (NULL: nothing known, or idle); open: s is still going on; worker: a
 * worker's lane.  "cursor 1.20 s  c: blocked on mutex:m1 at f.c:39 fn,
 * since 1.02 s (180 ms so far)". */
void lane_describe(tui *t, const char *name, const tui_span *s, int open, int64_t at, int worker,
                   char *buf, size_t cap);

#endif /* TS_TUI_LANE_H */
