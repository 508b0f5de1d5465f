/*
 * view_tasks.c - the tasks view (tui.h): one row per task, sorted by any
 * column, filtered by a text, finished tasks shown or not; Enter opens
 * the selected task's detail.
 */
#include <stdlib.h>
#include <string.h>

#include <curses.h>

#include "idmap.h"
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
	char filter[64];
	int editing;     /* typing the filter */
	size_t sel;      /* selected row */
	size_t top;      /* first row shown */
	uint64_t sel_id; /* the selected task, as last drawn (the model may drop tasks between
	                    frames) */
	model_task **t;  /* a rebuild's rows (valid during it only) */
	size_t n, cap;
	model *m;
	/* the order shown: task ids, rebuilt every ORDER_EVERY_NS or when the
	 * sort, filter or finished tasks change; a frame looks up only the
	 * visible ids (100k tasks: a rebuild costs ~25 ms, a frame ~0.1 ms) */
	uint64_t *ids;
	uint8_t *depth; /* tree mode: each row's depth in the parent tree */
	size_t nids;
	int tree; /* rows in parent-tree order (t) */
	int64_t built_mono;
	uint64_t gen; /* tui_generation when built */
	int stale;
} tasks_view;

#define ORDER_EVERY_NS 1000000000

void *tui_tasks_new(void)
{
	return xcalloc(1, sizeof(tasks_view));
}

static void tasks_free(void *state)
{
	tasks_view *v = state;
	free(v->t);
	free(v->ids);
	free(v->depth);
	free(v);
}

static int matches(const tasks_view *v, const model_task *t)
{
	char waits[64];
	if (!v->filter[0])
		return 1;
	tui_wait_text(v->m, t, waits, sizeof(waits));
	return strstr(t->name, v->filter) || strstr(tui_state_name(t), v->filter) ||
	       strstr(waits, v->filter);
}

static void add_row(void *ctx, model_task *t)
{
	tasks_view *v = ctx;
	if ((t->ended_ns >= 0 && !v->show_done) || !matches(v, t))
		return;
	if (v->n == v->cap) {
		v->cap = v->cap ? v->cap * 2 : 256;
		v->t = xrealloc(v->t, v->cap * sizeof(*v->t));
	}
	v->t[v->n++] = t;
}

static const tasks_view *sort_v; /* for by_col (qsort has no context) */

static int cmp_u(uint64_t x, uint64_t y)
{
	return x < y ? -1 : x > y;
}

static int by_col(const void *a, const void *b)
{
	const model_task *x = *(model_task *const *)a, *y = *(model_task *const *)b;
	int c = 0;
	switch (sort_v->col) {
	case COL_NAME:
		c = strcmp(x->name, y->name);
		break;
	case COL_STATE:
		c = cmp_u(x->cur.state, y->cur.state);
		break;
	case COL_WAITS:
		c = cmp_u(x->cur.wait_kind, y->cur.wait_kind);
		if (!c)
			c = cmp_u(x->cur.obj, y->cur.obj);
		break;
	case COL_FOR: /* longest in its state first */
		c = cmp_u((uint64_t)y->cur.start_ns, (uint64_t)x->cur.start_ns);
		break;
	case COL_POLLS:
		c = cmp_u(y->polls, x->polls);
		break;
	case COL_WORKER:
		c = cmp_u(x->cur.worker, y->cur.worker);
		break;
	case COL_LOCATION:
		c = cmp_u(x->cur.site ? x->cur.site : x->spawn_site,
		          y->cur.site ? y->cur.site : y->spawn_site);
		break;
	case COL_BUSY:
		c = cmp_u(y->busy_ns, x->busy_ns);
		break;
	case COL_PARENT:
		c = cmp_u(x->parent, y->parent);
		break;
	default:
		break;
	}
	if (!c)
		c = cmp_u(x->id, y->id);
	return sort_v->reverse ? -c : c;
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
static uint64_t row_key(const tasks_view *v, const model_task *k)
{
	switch (v->col) {
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
		return k->id;
	}
}

typedef struct keyed {
	uint64_t key, id;
	model_task *t;
} keyed;

static int by_key(const void *a, const void *b)
{
	const keyed *x = a, *y = b;
	int c = cmp_u(x->key, y->key);
	if (!c)
		c = cmp_u(x->id, y->id);
	return sort_v->reverse ? -c : c;
}

/* Sorts v->t by the column: by name through the tasks, else by a key read
 * once per task and sorted in one flat array (100k tasks: the comparisons
 * touch no task, which is what made a rebuild slow). */
static void sort_rows(tasks_view *v)
{
	if (v->col == COL_NAME) {
		qsort(v->t, v->n, sizeof(*v->t), by_col);
		return;
	}
	keyed *ks = xmalloc(v->n * sizeof(*ks));
	for (size_t i = 0; i < v->n; i++)
		ks[i] = (keyed){row_key(v, v->t[i]), v->t[i]->id, v->t[i]};
	qsort(ks, v->n, sizeof(*ks), by_key);
	for (size_t i = 0; i < v->n; i++)
		v->t[i] = ks[i].t;
	free(ks);
}

static int by_parent_id(const void *a, const void *b)
{
	const model_task *x = *(model_task *const *)a, *y = *(model_task *const *)b;
	int c = cmp_u(x->parent, y->parent);
	return c ? c : by_col(a, b);
}

/* v->t (sorted by parent, then the sort column) in depth-first order of
 * the parent tree into v->ids and v->depth: each task under its parent, a
 * task whose parent is not listed (ended, filtered out) as a root. */
static void tree_order(tasks_view *v)
{
	size_t n = v->n, out = 0;
	qsort(v->t, n, sizeof(*v->t), by_parent_id);
	idmap listed;
	idmap_init(&listed);
	for (size_t i = 0; i < n; i++)
		idmap_put(&listed, v->t[i]->id, (void *)1);
	/* an explicit stack of (task index, depth) */
	size_t *stack = xmalloc((n + 1) * 2 * sizeof(*stack)), sp = 0;
	for (size_t r = n; r-- > 0;)
		if (!v->t[r]->parent || !idmap_get(&listed, v->t[r]->parent)) {
			stack[sp++] = r;
			stack[sp++] = 0;
		}
	while (sp) {
		size_t d = stack[--sp], i = stack[--sp];
		v->ids[out] = v->t[i]->id;
		v->depth[out++] = (uint8_t)(d < 255 ? d : 255);
		/* its children: the run of v->t with this parent, pushed last first */
		uint64_t id = v->t[i]->id;
		size_t lo = 0, hi = n;
		while (lo < hi) {
			size_t mid = lo + (hi - lo) / 2;
			if (v->t[mid]->parent < id)
				lo = mid + 1;
			else
				hi = mid;
		}
		size_t end = lo;
		while (end < n && v->t[end]->parent == id)
			end++;
		for (size_t k = end; k-- > lo;) {
			stack[sp++] = k;
			stack[sp++] = d + 1;
		}
	}
	v->nids = out;
	free(stack);
	idmap_fini(&listed);
}

static void tasks_draw(tui *t, void *state, int y0, int h)
{
	tasks_view *v = state;
	v->m = tui_model(t);
	int64_t mono = ts_mono_ns();
	if (v->stale || !v->built_mono || v->gen != tui_generation(t) ||
	    mono - v->built_mono >= ORDER_EVERY_NS) {
		v->gen = tui_generation(t);
		v->n = 0;
		model_each_task(v->m, add_row, v);
		sort_v = v;
		if (v->n > 1)
			sort_rows(v);
		v->ids = xrealloc(v->ids, (v->n ? v->n : 1) * sizeof(*v->ids));
		v->depth = xrealloc(v->depth, (v->n ? v->n : 1) * sizeof(*v->depth));
		if (v->tree) {
			tree_order(v);
		} else {
			for (size_t i = 0; i < v->n; i++) {
				v->ids[i] = v->t[i]->id;
				v->depth[i] = 0;
			}
			v->nids = v->n;
		}
		v->built_mono = mono;
		v->stale = 0;
	}
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
	if (v->sel >= v->nids)
		v->sel = v->nids ? v->nids - 1 : 0;
	if (v->sel < v->top)
		v->top = v->sel;
	if (v->sel >= v->top + (size_t)rows)
		v->top = v->sel - (size_t)rows + 1;
	v->sel_id = v->sel < v->nids ? v->ids[v->sel] : 0;
	int64_t now = tui_now_ns(t);
	for (int i = 0; i < rows && v->top + (size_t)i < v->nids; i++) {
		const model_task *k = model_task_get(v->m, v->ids[v->top + (size_t)i]);
		if (!k) {
			mvprintw(y0 + 1 + i, 0, "%8llu (gone)",
			         (unsigned long long)v->ids[v->top + (size_t)i]);
			continue;
		}
		if (v->top + (size_t)i == v->sel)
			attron(A_REVERSE);
		move(y0 + 1 + i, 0);
		for (int col = 0; col < ncols; col++) {
			char cell[128];
			cell_text(t, v->m, k, col, now, cell, sizeof(cell));
			if (col == COL_NAME && v->tree) {
				/* indented by its depth in the tree */
				char ind[160];
				int d = v->depth[v->top + (size_t)i];
				snprintf(ind, sizeof(ind), "%*s%.100s", 2 * (d < 8 ? d : 8), "",
				         cell);
				memcpy(cell, ind, sizeof(cell) - 1);
				cell[sizeof(cell) - 1] = 0;
			}
			int cw = widths[col] < 0 ? -widths[col] : widths[col];
			printw(widths[col] < 0 ? "%-*.*s " : "%*.*s ", cw, cw, cell);
		}
		if (v->top + (size_t)i == v->sel)
			attroff(A_REVERSE);
	}
}

static int tasks_key(tui *t, void *state, int key)
{
	tasks_view *v = state;
	if (key != KEY_DOWN && key != KEY_UP && key != 'j' && key != 'k' && key != KEY_NPAGE &&
	    key != KEY_PPAGE)
		v->stale = 1; /* a new sort, filter or set of rows: rebuild the order now */
	if (v->editing) {
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
		return 1;
	}
	size_t page = LINES > 6 ? (size_t)LINES - 6 : 1;
	switch (key) {
	case KEY_DOWN:
	case 'j':
		v->sel++;
		return 1;
	case KEY_UP:
	case 'k':
		v->sel = v->sel ? v->sel - 1 : 0;
		return 1;
	case KEY_NPAGE:
		v->sel += page;
		return 1;
	case KEY_PPAGE:
		v->sel = v->sel > page ? v->sel - page : 0;
		return 1;
	case KEY_HOME:
	case 'g':
		v->sel = 0;
		return 1;
	case KEY_END:
	case 'G':
		v->sel = SIZE_MAX / 2;
		return 1;
	case '<':
		v->col = (v->col + NCOLS - 1) % NCOLS;
		return 1;
	case '>':
	case 's':
		v->col = (v->col + 1) % NCOLS;
		return 1;
	case 'i':
		v->reverse = !v->reverse;
		return 1;
	case 'h':
		v->show_done = !v->show_done;
		return 1;
	case 't':
		v->tree = !v->tree;
		return 1;
	case '/':
		v->editing = 1;
		v->filter[0] = 0;
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

const tui_view_ops tui_tasks_view = {"tasks", tasks_draw, tasks_key, tasks_free, NULL};
