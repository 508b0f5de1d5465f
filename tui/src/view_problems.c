/*
 * view_problems.c - the problems view (tui.h): the deadlocks the detector
 * confirmed, each as its chain, then the lints' warnings with their
 * evidence; Enter opens the task of the selected line.
 */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include <curses.h>

#include "tui.h"
#include "util.h"

typedef struct line {
	uint64_t task; /* Enter opens it; 0 none */
	char text[256];
	int bold;
} line;

typedef struct problems_view {
	size_t sel, top;
	uint64_t sel_id;
	line *l;
	size_t n, cap;
} problems_view;

void *tui_problems_new(void)
{
	return xcalloc(1, sizeof(problems_view));
}

static void problems_free(void *state)
{
	problems_view *v = state;
	free(v->l);
	free(v);
}

static line *add_line(problems_view *v, uint64_t task, int bold)
{
	if (v->n == v->cap) {
		v->cap = v->cap ? v->cap * 2 : 64;
		v->l = xrealloc(v->l, v->cap * sizeof(*v->l));
	}
	line *l = &v->l[v->n++];
	l->task = task;
	l->bold = bold;
	l->text[0] = 0;
	return l;
}

static void add_warning(void *ctx, const det_warning *w)
{
	problems_view *v = ctx;
	line *l = add_line(v, w->task, 0);
	snprintf(l->text, sizeof(l->text), "  %-20s task %-6" PRIu64 " %s (x%" PRIu64 ")",
	         det_lint_name(w->kind), w->task, w->detail, w->count);
}

static void problems_draw(tui *t, void *state, int y0, int h)
{
	problems_view *v = state;
	model *m = tui_model(t);
	v->n = 0;
	size_t nd = tui_ndeadlocks(t);
	line *l = add_line(v, 0, 1);
	snprintf(l->text, sizeof(l->text), "Deadlocks (%zu)", nd);
	for (size_t i = 0; i < nd; i++) {
		const det_deadlock *dl = tui_deadlock(t, i);
		l = add_line(v, dl->ntasks ? dl->tasks[0].task : 0, 1);
		snprintf(l->text, sizeof(l->text),
		         "  %" PRIu32 ". %s %s, %" PRIu32 " tasks:", dl->id,
		         det_verdict_name(dl->verdict), det_kind_name(dl->kind), dl->ntasks);
		for (uint32_t k = 0; k < dl->ntasks && k < 64; k++) {
			const det_member *mem = &dl->tasks[k];
			model_task *task = model_task_get(m, mem->task);
			char waits[64] = "";
			if (task)
				tui_wait_text(m, task, waits, sizeof(waits));
			l = add_line(v, mem->task, 0);
			snprintf(l->text, sizeof(l->text),
			         "     %s task %" PRIu64 " \"%s\" waits on %s", k ? "->" : "  ",
			         mem->task, task ? task->name : "?", waits);
		}
	}
	l = add_line(v, 0, 1);
	l = add_line(v, 0, 1);
	snprintf(l->text, sizeof(l->text), "Warnings");
	tui_each_warning(t, add_warning, v);
	int rows = h;
	if (v->sel >= v->n)
		v->sel = v->n ? v->n - 1 : 0;
	if (v->sel < v->top)
		v->top = v->sel;
	if (rows > 0 && v->sel >= v->top + (size_t)rows)
		v->top = v->sel - (size_t)rows + 1;
	v->sel_id = v->sel < v->n ? v->l[v->sel].task : 0;
	for (int i = 0; i < rows && v->top + (size_t)i < v->n; i++) {
		const line *x = &v->l[v->top + (size_t)i];
		attr_t a = (x->bold ? A_BOLD : 0) | (v->top + (size_t)i == v->sel ? A_REVERSE : 0);
		attron(a);
		mvprintw(y0 + i, 0, "%.*s", COLS, x->text);
		attroff(a);
	}
}

static int problems_key(tui *t, void *state, int key)
{
	problems_view *v = state;
	switch (key) {
	case KEY_DOWN:
	case 'j':
		v->sel++;
		return 1;
	case KEY_UP:
	case 'k':
		v->sel = v->sel ? v->sel - 1 : 0;
		return 1;
	case '\n':
	case KEY_ENTER:
		if (v->sel_id)
			tui_push(t, &tui_detail_view, tui_detail_new(v->sel_id));
		return 1;
	default:
		return 0;
	}
}

const tui_view_ops tui_problems_view = {"problems", problems_draw, problems_key, problems_free,
                                        NULL};
