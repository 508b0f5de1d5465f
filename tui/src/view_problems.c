/*
 * view_problems.c - the problems view (tui.h): the deadlocks the detector
 * confirmed, each as its chain, then the lints' warnings with their
 * evidence; Enter opens the task of the selected line.
 */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

#include <curses.h>

#include "tui.h"
#include "util.h"

typedef struct problems_view {
	size_t sel, top;
	uint64_t sel_id;     /* the selected line's task (Enter opens it), 0 none */
	size_t n;            /* lines, as last drawn */
	uint64_t shown[256]; /* the task of each line on screen (for a click) */
} problems_view;

void *tui_problems_new(void)
{
	return xcalloc(1, sizeof(problems_view));
}

static void problems_free(void *state)
{
	free(state);
}

/* The lines of one frame, in order: each is counted, and formatted only
 * when on screen (10000 warnings at most: formatting them all took
 * longer than a frame). */
typedef struct lines {
	tui *t;
	problems_view *v;
	size_t i; /* the next line's index */
	int y0, rows;
} lines;

/* The next line, about task (0 none): 1 if it is on screen (show() then
 * draws it). */
static int next_line(lines *ls, uint64_t task)
{
	size_t i = ls->i++;
	problems_view *v = ls->v;
	if (i == v->sel)
		v->sel_id = task;
	if (i < v->top || i >= v->top + (size_t)ls->rows)
		return 0;
	if (i - v->top < sizeof(v->shown) / sizeof(v->shown[0]))
		v->shown[i - v->top] = task;
	return 1;
}

/* Draws the line next_line just found on screen. */
static void show(lines *ls, int bold, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void show(lines *ls, int bold, const char *fmt, ...)
{
	size_t i = ls->i - 1;
	char text[256];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	attr_t a = (bold ? A_BOLD : 0) | (i == ls->v->sel ? A_REVERSE : 0);
	attron(a);
	mvprintw(ls->y0 + (int)(i - ls->v->top), 0, "%.*s", COLS, text);
	attroff(a);
}

static void deadlock_lines(lines *ls, const det_deadlock *dl)
{
	model *m = tui_model(ls->t);
	if (next_line(ls, dl->ntasks ? dl->tasks[0].task : 0))
		show(ls, 1, "  %" PRIu32 ". %s %s, %" PRIu32 " tasks:", dl->id,
		     det_verdict_name(dl->verdict), det_kind_name(dl->kind), dl->ntasks);
	for (uint32_t k = 0; k < dl->ntasks && k < 64; k++) {
		const det_member *mem = &dl->tasks[k];
		if (!next_line(ls, mem->task))
			continue;
		model_task *task = model_task_get(m, mem->task);
		char waits[64] = "";
		if (task)
			tui_wait_text(m, task, waits, sizeof(waits));
		show(ls, 0, "     %s task %" PRIu64 " \"%s\" waits on %s", k ? "->" : "  ",
		     mem->task, task ? task->name : "?", waits);
	}
}

static void warning_line(void *ctx, const det_warning *w)
{
	lines *ls = ctx;
	if (next_line(ls, w->task))
		show(ls, 0, "  %-20s task %-6" PRIu64 " %s (x%" PRIu64 ")", det_lint_name(w->kind),
		     w->task, w->detail, w->count);
}

static void count_warning(void *ctx, const det_warning *w)
{
	(void)w;
	(*(size_t *)ctx)++;
}

/* How many lines there are: the deadlocks' head, each deadlock and its
 * members (64 at most), a blank, the warnings' head, the warnings. */
static size_t count_lines(tui *t)
{
	size_t n = 1, nd = tui_ndeadlocks(t);
	for (size_t i = 0; i < nd; i++) {
		const det_deadlock *dl = tui_deadlock(t, i);
		n += 1 + (dl->ntasks < 64 ? dl->ntasks : 64);
	}
	n += 2;
	tui_each_warning(t, count_warning, &n);
	return n;
}

static void problems_draw(tui *t, void *state, int y0, int h)
{
	problems_view *v = state;
	size_t n = count_lines(t), nd = tui_ndeadlocks(t);
	int rows = h;
	v->n = n;
	if (v->sel >= n)
		v->sel = n ? n - 1 : 0;
	if (v->sel < v->top)
		v->top = v->sel;
	if (rows > 0 && v->sel >= v->top + (size_t)rows)
		v->top = v->sel - (size_t)rows + 1;
	v->sel_id = 0;
	lines ls = {t, v, 0, y0, rows};
	if (next_line(&ls, 0))
		show(&ls, 1, "Deadlocks (%zu)", nd);
	for (size_t i = 0; i < nd; i++)
		deadlock_lines(&ls, tui_deadlock(t, i));
	next_line(&ls, 0); /* a blank line */
	if (next_line(&ls, 0))
		show(&ls, 1, "Warnings");
	tui_each_warning(t, warning_line, &ls);
}

static int problems_key(tui *t, void *state, int key)
{
	problems_view *v = state;
	if (tui_list_key(key, &v->sel))
		return 1;
	switch (key) {
	case '\n':
	case KEY_ENTER:
		if (v->sel_id)
			tui_push(t, &tui_detail_view, tui_detail_new(v->sel_id));
		return 1;
	default:
		return 0;
	}
}

static int problems_click(tui *t, void *state, int row)
{
	(void)t;
	problems_view *v = state;
	if (row < 0 || (size_t)row >= sizeof(v->shown) / sizeof(v->shown[0]) ||
	    v->top + (size_t)row >= v->n)
		return 0;
	v->sel = v->top + (size_t)row;
	v->sel_id = v->shown[row];
	return 1;
}

const tui_view_ops tui_problems_view = {.name = "problems",
                                        .draw = problems_draw,
                                        .key = problems_key,
                                        .free = problems_free,
                                        .click = problems_click};
