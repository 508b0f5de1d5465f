/*
 * view_resources.c - the resources view (tui.h): every resource with its
 * kind, name, creation site, holders, waiters and length; Enter lists the
 * selected one's holders and waiters, and Enter on one of those opens
 * that task's detail.
 *
 * The list is resource ids by id (order.h), rebuilt every second in
 * slices between frames; a frame looks up only the visible ids (chain's
 * 100k mutexes: collecting and sorting them in every frame took 55 ms).
 */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include <curses.h>

#include "order.h"
#include "tui.h"
#include "util.h"

static const char *const kinds[] = {"?",         "channel",   "mutex",  "rwlock",
                                    "semaphore", "waitgroup", "condvar"};

typedef struct res_view {
	uint64_t res; /* 0: the list of all; else the holders and waiters of this one */
	size_t sel, top;
	uint64_t sel_id; /* selected resource (list) or task (one resource), as drawn */
	order *ord;      /* the list: every resource, by id */
	/* one resource: its holders and waiters as drawn (for a click) */
	size_t nlines;
	uint64_t line_id[256];
} res_view;

void *tui_resources_new(uint64_t res)
{
	res_view *v = xcalloc(1, sizeof(*v));
	v->res = res;
	v->ord = order_create();
	return v;
}

static void res_free(void *state)
{
	res_view *v = state;
	order_destroy(v->ord);
	free(v);
}

/* The list's key (order.h): every resource still known, by id. */
static int res_order_key(void *ctx, model *m, uint64_t id, uint64_t key[ORDER_WORDS])
{
	(void)ctx;
	(void)key;
	return model_res_get(m, id) != NULL;
}

static const order_src res_src = {model_res_ids, res_order_key, NULL, 0, 0};

/* order_tick; a new list keeps the selected resource selected (on the
 * same screen row) while it is still there. */
static int res_tick(tui *t, res_view *v, int64_t deadline, int periodic)
{
	int rc = order_tick(v->ord, tui_model(t), tui_generation(t), &res_src, deadline, periodic);
	size_t at = rc == TUI_CHANGED && !v->res && v->sel_id ? order_find(v->ord, v->sel_id)
	                                                      : SIZE_MAX;
	if (at != SIZE_MAX) {
		size_t row = v->sel >= v->top ? v->sel - v->top : 0;
		v->sel = at;
		v->top = at >= row ? at - row : 0;
	}
	return rc;
}

static int res_work(tui *t, void *state, int64_t deadline_ns)
{
	res_view *v = state;
	return v->res ? TUI_IDLE : res_tick(t, v, deadline_ns, 1);
}

static void clamp(res_view *v, size_t n, int rows)
{
	if (v->sel >= n)
		v->sel = n ? n - 1 : 0;
	if (v->sel < v->top)
		v->top = v->sel;
	if (rows > 0 && v->sel >= v->top + (size_t)rows)
		v->top = v->sel - (size_t)rows + 1;
	if (rows > 0 && v->top + (size_t)rows > n) /* no empty rows while rows above are hidden */
		v->top = n > (size_t)rows ? n - (size_t)rows : 0;
}

static void draw_list(tui *t, res_view *v, int y0, int h)
{
	model *m = tui_model(t);
	res_tick(t, v, ts_mono_ns() + ORDER_DRAW_NS, 0);
	size_t n = order_count(v->ord);
	attron(A_BOLD);
	mvprintw(y0, 0, "%8s %-9s %-16s %-26s %-14s %7s %9s", "ID", "KIND", "NAME", "CREATED AT",
	         "HELD BY", "WAITERS", "LENGTH");
	attroff(A_BOLD);
	int rows = h - 1;
	clamp(v, n, rows);
	v->sel_id = order_id(v->ord, v->sel);
	for (int i = 0; i < rows && v->top + (size_t)i < n; i++) {
		uint64_t id = order_id(v->ord, v->top + (size_t)i);
		const model_res *r = model_res_get(m, id);
		if (!r) {
			mvprintw(y0 + 1 + i, 0, "%8" PRIu64 " (gone)", id);
			continue;
		}
		char site[256] = "", full[512], fn[256], held[32] = "-", len[56] = "";
		if (r->site && tui_string(t, r->site, full, sizeof(full)) == 0)
			ts_split_site(full, site, sizeof(site), fn, sizeof(fn));
		if (r->nholds == 1)
			snprintf(held, sizeof(held), "%" PRIu64 "%s", r->holds[0].task,
			         r->holds[0].shared ? " (read)" : "");
		else if (r->nholds > 1)
			snprintf(held, sizeof(held), "%" PRIu32 " tasks", r->nholds);
		/* a history keeps no length or count at T: '-' */
		char val[24] = "-", cap[24] = "inf";
		if (!tui_replaying(t))
			snprintf(val, sizeof(val), "%" PRIu64, r->value);
		if (r->capacity != UINT64_MAX)
			snprintf(cap, sizeof(cap), "%" PRIu64, r->capacity);
		if (r->kind == TSK_RES_CHAN)
			snprintf(len, sizeof(len), "%s/%s", val, cap);
		else if (r->kind == TSK_RES_SEM || r->kind == TSK_RES_WG)
			snprintf(len, sizeof(len), "%s", val);
		if (v->top + (size_t)i == v->sel)
			attron(A_REVERSE);
		mvprintw(y0 + 1 + i, 0,
		         "%8" PRIu64 " %-9s %-16.16s %-26.26s %-14.14s %7" PRIu32 " %9s", r->id,
		         r->kind < 7 ? kinds[r->kind] : "?", r->name, site, held, r->nwq, len);
		if (v->top + (size_t)i == v->sel)
			attroff(A_REVERSE);
	}
}

static void draw_one(tui *t, res_view *v, int y0, int h)
{
	model *m = tui_model(t);
	model_res *r = model_res_get(m, v->res);
	if (!r) {
		mvprintw(y0, 0, "resource %" PRIu64 " is gone (freed)   Esc: back", v->res);
		v->sel_id = 0;
		return;
	}
	attron(A_BOLD);
	mvprintw(y0, 0,
	         "%s \"%s\" (resource %" PRIu64 "): %" PRIu32 " holders, %" PRIu32
	         " waiters; Enter opens a task",
	         r->kind < 7 ? kinds[r->kind] : "?", r->name, r->id, r->nholds, r->nwq);
	attroff(A_BOLD);
	size_t n = r->nholds + r->nwq;
	int rows = h - 1;
	clamp(v, n, rows);
	v->sel_id = 0;
	v->nlines = n;
	for (int i = 0; i < rows && v->top + (size_t)i < n; i++) {
		size_t k = v->top + (size_t)i;
		uint64_t id = k < r->nholds ? r->holds[k].task : r->wq[k - r->nholds];
		if ((size_t)i < sizeof(v->line_id) / sizeof(v->line_id[0]))
			v->line_id[i] = id;
		model_task *task = model_task_get(m, id);
		char waits[64] = "";
		if (task)
			tui_wait_text(m, task, waits, sizeof(waits));
		if (k == v->sel) {
			v->sel_id = id;
			attron(A_REVERSE);
		}
		mvprintw(y0 + 1 + i, 0, "  %-7s task %-8" PRIu64 " %-16.16s %-8s %s",
		         k < r->nholds ? (r->holds[k].shared ? "reads" : "holds") : "waits", id,
		         task ? task->name : "?", task ? tui_state_name(task) : "?", waits);
		if (k == v->sel)
			attroff(A_REVERSE);
	}
}

static void res_draw(tui *t, void *state, int y0, int h)
{
	res_view *v = state;
	if (v->res)
		draw_one(t, v, y0, h);
	else
		draw_list(t, v, y0, h);
}

static int res_key(tui *t, void *state, int key)
{
	res_view *v = state;
	if (tui_list_key(key, &v->sel))
		return 1;
	switch (key) {
	case '\n':
	case KEY_ENTER:
		if (!v->sel_id)
			return 1;
		if (v->res)
			tui_push(t, &tui_detail_view, tui_detail_new(v->sel_id));
		else
			tui_push(t, &tui_resources_view, tui_resources_new(v->sel_id));
		return 1;
	case 27:
	case KEY_BACKSPACE:
	case 127:
		if (v->res) {
			tui_pop(t);
			return 1;
		}
		return 0;
	default:
		return 0;
	}
}

/* Line 0 is the column heads (list) or the resource's title (one). */
static int res_click(tui *t, void *state, int row)
{
	(void)t;
	res_view *v = state;
	size_t n = v->res ? v->nlines : order_count(v->ord);
	if (row < 1 || row > (int)(sizeof(v->line_id) / sizeof(v->line_id[0])) ||
	    v->top + (size_t)row - 1 >= n)
		return 0;
	v->sel = v->top + (size_t)row - 1;
	v->sel_id = v->res ? v->line_id[row - 1] : order_id(v->ord, v->sel);
	return 1;
}

const tui_view_ops tui_resources_view = {.name = "resources",
                                         .draw = res_draw,
                                         .key = res_key,
                                         .free = res_free,
                                         .click = res_click,
                                         .work = res_work};
