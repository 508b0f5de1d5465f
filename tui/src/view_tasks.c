/*
 * view_tasks.c - the tasks view (tui.h): one row per task, sorted by any
 * column, filtered by a text, finished tasks shown or not, flat or as the
 * parent tree; Enter opens the selected task's detail.
 *
 * The rows' order is a list of task ids (order.h) rebuilt every second,
 * when the sort, filter or finished tasks change, or when the model is
 * replaced; a frame looks up only the visible ids.  A rebuild is done in
 * slices between frames (the view's work) and for ORDER_DRAW_NS of a
 * frame, the old order shown until the new one is complete: with 100k
 * tasks a rebuild is 20-50 ms of work, a frame stays ~1-3 ms.  The selected
 * task stays selected when a new order comes in.
 */
#include <stdlib.h>
#include <string.h>

#include <curses.h>

#include "order.h"
#include "tui.h"
#include "util.h"

enum {
	COL_ID,
	COL_NAME,
	COL_STATE,
	COL_WAITS,
	COL_FOR,
	COL_LOCATION,
	COL_BUSY,
	COL_POLLS,
	COL_WORKER,
	COL_PARENT,
	NCOLS
};

/* Heads and widths (negative: left-aligned); columns that do not fit the
 * terminal's width are left out, from the right. */
static const char *const heads[NCOLS] = {"ID",    "NAME", "STATE", "WAITS ON", "FOR",
                                         "WHERE", "BUSY", "POLLS", "W",        "PARENT"};
static const int widths[NCOLS] = {7, -16, -18, -22, 9, -26, 5, 7, 3, 7};

typedef struct tasks_view {
	int col, reverse, show_done;
	int tree; /* rows in parent-tree order (t) */
	char filter[64];
	int editing;     /* typing the filter */
	size_t sel;      /* selected row */
	size_t top;      /* first row shown */
	uint64_t sel_id; /* the selected task (Enter opens it), as drawn or moved to */
	int follow;      /* a new order keeps sel_id selected (not after a new filter) */
	order *ord;      /* the rows' order */
} tasks_view;

void *tui_tasks_new(void)
{
	tasks_view *v = xcalloc(1, sizeof(tasks_view));
	v->ord = order_create();
	v->follow = 1;
	return v;
}

static void tasks_free(void *state)
{
	tasks_view *v = state;
	order_destroy(v->ord);
	free(v);
}

static int matches(const tasks_view *v, model *m, const model_task *t)
{
	char waits[64];
	if (!v->filter[0] || strstr(t->name, v->filter) || strstr(tui_state_name(t), v->filter))
		return 1;
	/* last: the wait's text looks up the resource (a cache miss a task) */
	tui_wait_text(m, t, waits, sizeof(waits));
	return strstr(waits, v->filter) != NULL;
}

/* The text of one cell. */
static void cell_text(tui *t, model *m, const model_task *k, int col, int64_t now, char *buf,
                      size_t cap)
{
	char full[512], fn[256];
	int64_t end = k->ended_ns >= 0 ? k->ended_ns : now;
	buf[0] = 0;
	switch (col) {
	case COL_ID:
		snprintf(buf, cap, "%llu", (unsigned long long)k->id);
		break;
	case COL_NAME:
		snprintf(buf, cap, "%s", k->name);
		break;
	case COL_STATE:
		/* the user's label (tsk_set_state) says more than the state */
		if (k->cur.label && k->ended_ns < 0 &&
		    tui_string(t, k->cur.label, full, sizeof(full)) == 0)
			snprintf(buf, cap, "%s: %.100s", tui_state_name(k), full);
		else
			snprintf(buf, cap, "%s", tui_state_name(k));
		break;
	case COL_WAITS:
		tui_wait_text(m, k, buf, cap);
		break;
	case COL_FOR:
		ts_fmt_ns(end - k->cur.start_ns, buf, cap);
		break;
	case COL_LOCATION: {
		uint32_t site =
		        k->cur.state == MS_BLOCKED && k->cur.site ? k->cur.site : k->spawn_site;
		if (site && tui_string(t, site, full, sizeof(full)) == 0)
			ts_split_site(full, buf, cap, fn, sizeof(fn));
		break;
	}
	case COL_BUSY: {
		int64_t life = k->spawned_ns != INT64_MIN ? end - k->spawned_ns : 0;
		if (life > 0)
			snprintf(buf, cap, "%.0f%%", 100.0 * (double)k->busy_ns / (double)life);
		break;
	}
	case COL_POLLS:
		snprintf(buf, cap, "%llu", (unsigned long long)k->polls);
		break;
	case COL_WORKER:
		if (k->cur.state == MS_RUNNING && k->cur.worker != 0xffff && k->ended_ns < 0)
			snprintf(buf, cap, "%u", (unsigned)k->cur.worker);
		else
			snprintf(buf, cap, "-");
		break;
	case COL_PARENT:
		if (k->parent)
			snprintf(buf, cap, "%llu", (unsigned long long)k->parent);
		else
			snprintf(buf, cap, "-");
		break;
	default:
		break;
	}
}

/* A row's sort key as one number (all columns but the name), smaller
 * first; ties go by id. */
static uint64_t row_key(int col, const model_task *k)
{
	switch (col) {
	case COL_STATE:
		return k->cur.state;
	case COL_WAITS:
		return (uint64_t)k->cur.wait_kind << 56 | (k->cur.obj & ((1ull << 56) - 1));
	case COL_FOR:
		return UINT64_MAX - (uint64_t)k->cur.start_ns; /* longest first */
	case COL_POLLS:
		return UINT64_MAX - k->polls;
	case COL_WORKER:
		return k->cur.worker;
	case COL_LOCATION:
		return k->cur.site ? k->cur.site : k->spawn_site;
	case COL_BUSY:
		return UINT64_MAX - k->busy_ns;
	case COL_PARENT:
		return k->parent;
	default:
		return 0; /* the id: the tie itself */
	}
}

/* A name as three words that compare as strcmp compares the names. */
static void name_key(const char name[24], uint64_t out[3])
{
	unsigned char b[24] = {0};
	memcpy(b, name, strnlen(name, sizeof(b)));
	for (int w = 0; w < 3; w++) {
		out[w] = 0;
		for (int i = 0; i < 8; i++)
			out[w] = out[w] << 8 | b[8 * w + i];
	}
}

/* The order's key of task id (order.h): listed if alive (or finished
 * tasks shown) and matching the filter; in a tree, key[0] its parent. */
static int task_order_key(void *ctx, model *m, uint64_t id, uint64_t key[ORDER_WORDS])
{
	const tasks_view *v = ctx;
	const model_task *k = model_task_get(m, id);
	if (!k || (k->ended_ns >= 0 && !v->show_done) || !matches(v, m, k))
		return 0;
	if (v->tree)
		key[0] = k->parent;
	if (v->col == COL_NAME)
		name_key(k->name, &key[1]);
	else
		key[1] = row_key(v->col, k);
	if (v->reverse)
		for (int w = 1; w < ORDER_WORDS; w++)
			key[w] = ~key[w];
	return 1;
}

/* A new order came in: the selected task keeps its row on screen. */
static void keep_selection(tasks_view *v)
{
	size_t at = v->follow && v->sel_id ? order_find(v->ord, v->sel_id) : SIZE_MAX;
	v->follow = 1;
	if (at == SIZE_MAX)
		return;
	size_t row = v->sel >= v->top ? v->sel - v->top : 0;
	v->sel = at;
	v->top = at >= row ? at - row : 0;
}

static order_src task_src(tasks_view *v)
{
	return (order_src){model_task_ids, task_order_key, v, v->reverse, v->tree};
}

/* Starts a rebuild of the order with the view's settings (a snapshot of
 * the ids: 0.4 ms for 100k tasks). */
static void rebuild(tui *t, tasks_view *v)
{
	order_src src = task_src(v);
	order_start(v->ord, tui_model(t), tui_generation(t), &src);
}

/* order_tick with the view's settings; a new order keeps the selection. */
static int tasks_tick(tui *t, tasks_view *v, int64_t deadline, int periodic)
{
	order_src src = task_src(v);
	int rc = order_tick(v->ord, tui_model(t), tui_generation(t), &src, deadline, periodic);
	if (rc == TUI_CHANGED)
		keep_selection(v);
	return rc;
}

static int tasks_work(tui *t, void *state, int64_t deadline_ns)
{
	return tasks_tick(t, state, deadline_ns, 1);
}

/* Moves the selection to row sel (clamped to the rows): the task there
 * is the one a new order keeps selected. */
static void select_row(tasks_view *v, size_t sel)
{
	size_t n = order_count(v->ord);
	v->sel = sel < n ? sel : n ? n - 1 : 0;
	v->sel_id = order_id(v->ord, v->sel);
	v->follow = 1;
}

static void tasks_draw(tui *t, void *state, int y0, int h)
{
	tasks_view *v = state;
	model *m = tui_model(t);
	tasks_tick(t, v, ts_mono_ns() + ORDER_DRAW_NS, 0);
	move(y0, 0);
	int ncols = 0;
	for (int k = 0, x = 0; k < NCOLS; k++) {
		int cw = widths[k] < 0 ? -widths[k] : widths[k];
		if (x + cw > COLS)
			break;
		x += cw + 1;
		ncols = k + 1;
	}
	for (int k = 0; k < ncols; k++) {
		attr_t a = A_BOLD | (k == v->col ? A_UNDERLINE : 0);
		attron(a);
		printw("%*s", widths[k], heads[k]);
		attroff(a);
		addch(' ');
	}
	if (v->filter[0] || v->editing)
		printw(" /%s%s", v->filter, v->editing ? "_" : "");
	int rows = h - 1;
	if (rows < 1)
		return;
	size_t n = order_count(v->ord);
	if (v->sel >= n)
		v->sel = n ? n - 1 : 0;
	if (v->sel < v->top)
		v->top = v->sel;
	if (v->sel >= v->top + (size_t)rows)
		v->top = v->sel - (size_t)rows + 1;
	/* no empty rows below while rows above are hidden (a new order keeps
	 * the selected task's screen row, which can scroll past the end) */
	if (v->top + (size_t)rows > n)
		v->top = n > (size_t)rows ? n - (size_t)rows : 0;
	v->sel_id = order_id(v->ord, v->sel);
	int64_t now = tui_now_ns(t);
	for (int i = 0; i < rows && v->top + (size_t)i < n; i++) {
		size_t row = v->top + (size_t)i;
		const model_task *k = model_task_get(m, order_id(v->ord, row));
		if (!k) {
			mvprintw(y0 + 1 + i, 0, "%8llu (gone)",
			         (unsigned long long)order_id(v->ord, row));
			continue;
		}
		if (row == v->sel)
			attron(A_REVERSE);
		move(y0 + 1 + i, 0);
		for (int col = 0; col < ncols; col++) {
			char cell[128];
			cell_text(t, m, k, col, now, cell, sizeof(cell));
			if (col == COL_NAME && v->tree) {
				/* indented by its depth in the tree */
				char ind[160];
				unsigned d = order_depth(v->ord, row);
				snprintf(ind, sizeof(ind), "%*s%.100s", 2 * (int)(d < 8 ? d : 8),
				         "", cell);
				memcpy(cell, ind, sizeof(cell) - 1);
				cell[sizeof(cell) - 1] = 0;
			}
			int cw = widths[col] < 0 ? -widths[col] : widths[col];
			size_t len = strlen(cell);
			if (col == COL_LOCATION && len > (size_t)cw && cw > 2) {
				/* a path's end (file:line) says more than its start */
				memmove(cell + 2, cell + len - (size_t)(cw - 2), (size_t)cw - 1);
				cell[0] = cell[1] = '.';
			}
			printw(widths[col] < 0 ? "%-*.*s " : "%*.*s ", cw, cw, cell);
		}
		if (row == v->sel)
			attroff(A_REVERSE);
	}
}

/* The filter's keys, while typing it: a new filter selects the first row
 * of the new order. */
static void filter_key(tui *t, tasks_view *v, int key)
{
	size_t n = strlen(v->filter);
	if (key == '\n' || key == KEY_ENTER)
		v->editing = 0;
	else if (key == 27) {
		v->filter[0] = 0;
		v->editing = 0;
	} else if ((key == KEY_BACKSPACE || key == 127 || key == 8) && n)
		v->filter[n - 1] = 0;
	else if (key >= 32 && key < 127 && n + 1 < sizeof(v->filter)) {
		v->filter[n] = (char)key;
		v->filter[n + 1] = 0;
	}
	v->sel = v->top = 0;
	v->follow = 0;
	rebuild(t, v);
}

static int tasks_key(tui *t, void *state, int key)
{
	tasks_view *v = state;
	if (v->editing) {
		filter_key(t, v, key);
		return 1;
	}
	size_t page = LINES > 6 ? (size_t)LINES - 6 : 1;
	switch (key) {
	case KEY_DOWN:
	case 'j':
		select_row(v, v->sel + 1);
		return 1;
	case KEY_UP:
	case 'k':
		select_row(v, v->sel ? v->sel - 1 : 0);
		return 1;
	case KEY_NPAGE:
		select_row(v, v->sel + page);
		return 1;
	case KEY_PPAGE:
		select_row(v, v->sel > page ? v->sel - page : 0);
		return 1;
	case KEY_HOME:
	case 'g':
		select_row(v, 0);
		return 1;
	case KEY_END:
	case 'G':
		select_row(v, SIZE_MAX / 2);
		return 1;
	case '<':
		v->col = (v->col + NCOLS - 1) % NCOLS;
		break;
	case '>':
	case 's':
		v->col = (v->col + 1) % NCOLS;
		break;
	case 'i':
		v->reverse = !v->reverse;
		break;
	case 'h':
		v->show_done = !v->show_done;
		break;
	case 't':
		v->tree = !v->tree;
		break;
	case '/':
		v->editing = 1;
		v->filter[0] = 0;
		filter_key(t, v, 0);
		return 1;
	case '\n':
	case KEY_ENTER:
		if (v->sel_id)
			tui_push(t, &tui_detail_view, tui_detail_new(v->sel_id));
		return 1;
	default:
		return 0;
	}
	rebuild(t, v); /* a new sort or set of rows (the keys are outside the frames) */
	return 1;
}

static int tasks_editing(void *state)
{
	return ((const tasks_view *)state)->editing;
}

/* Line 0 is the column heads; a row below selects its task. */
static int tasks_click(tui *t, void *state, int row)
{
	(void)t;
	tasks_view *v = state;
	if (row < 1 || v->top + (size_t)row - 1 >= order_count(v->ord))
		return 0;
	select_row(v, v->top + (size_t)row - 1);
	return 1;
}

const tui_view_ops tui_tasks_view = {.name = "tasks",
                                     .draw = tasks_draw,
                                     .key = tasks_key,
                                     .free = tasks_free,
                                     .click = tasks_click,
                                     .work = tasks_work,
                                     .editing = tasks_editing};
