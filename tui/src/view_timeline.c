/*
 * view_timeline.c - the timeline (tui.h): lanes on a time axis, one per
 * live task (in id order) or, after w, one per worker; lane.c draws a
 * lane, this file the axis, the screen and the keys.
 *
 * Task lanes: '#' running (green), '+' ready (yellow), '.' blocked (red),
 * 'z' sleeping (cyan); the glyphs say the state without colour (NO_COLOR,
 * a monochrome terminal).  Zoomed in (a column WAKE_COL_NS or less), a
 * wake whose waker's lane is on the screen too is drawn in its column from
 * the waker's lane to the wakee's.  Worker lanes: the task that ran, as
 * the last digit of its id.
 *
 * A column cursor (, . one column, < > ten, shift-left/right) picks an
 * instant; the line under the lanes says what the selected lane (j/k) did
 * then.  + and - zoom about the cursor, left and right scroll a quarter
 * screen, f follows live again.  In a replay the axis ends at the replay's
 * cursor ("cursor" instead of "live") and the first zoom shows the whole
 * history up to it.
 *
 * Cost: a frame reads the visible lanes only (tui_history, a worker's
 * runs), plus the bounded upkeep of the task list (tasklist.c); the list
 * is built in full when the view opens and when a replay's model changes.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curses.h>

#include "lane.h"
#include "tasklist.h"
#include "tui.h"
#include "util.h"

#define NAME_W   18
#define MIN_SPAN 10000LL        /* 10 us across the screen */
#define MAX_SPAN 600000000000LL /* 10 min */
/* Wakes are drawn from a millisecond a column down: a poll cycle then
 * takes a few columns at most, and the connectors, which hide a column of
 * the lanes they cross, stay few (a lane keeps TUI_SPANS intervals). */
#define WAKE_COL_NS 1000000
#define CURSOR_JUMP 10
/* Entries of the task list a walk to the next live task looks at, at most
 * (tasks that ended and are not swept yet are skipped). */
#define WALK 4096

typedef struct timeline_view {
	int64_t span_ns;         /* time across the screen */
	int64_t end_ns;          /* right edge, when not following */
	int follow;              /* the right edge is now (in a replay: its cursor) */
	int workers;             /* 1: a lane per worker */
	int colour;              /* a colour terminal, NO_COLOR unset */
	int fitted;              /* replay: the first zoom was fitted to the history */
	int back;                /* the cursor: its column, counted from the right edge */
	int w, lanes;            /* the last frame's columns and lanes (for the keys) */
	tasklist list;           /* task lanes: the live tasks, by id */
	uint64_t top_id;         /* task lanes: the first shown (or the next live one) */
	uint64_t sel_id;         /* task lanes: the selected one */
	size_t wtop, wsel;       /* worker lanes: the first shown, the selected one */
	tui_span sp[LANE_SPANS]; /* the lane being drawn */
} timeline_view;

void *tui_timeline_new(void)
{
	timeline_view *v = xcalloc(1, sizeof(*v));
	v->span_ns = 1000000000;
	v->follow = 1;
	v->w = 100;
	v->colour = has_colors() && !getenv("NO_COLOR");
	tasklist_init(&v->list);
	return v;
}

static void timeline_free(void *state)
{
	timeline_view *v = state;
	tasklist_fini(&v->list);
	free(v);
}

/* ---- which lanes ---------------------------------------------------------------------- */

/* The next live task after (dir 1) or before (dir -1) task id in the
 * list: its index, or SIZE_MAX. */
static size_t step_from(timeline_view *v, model *m, uint64_t id, int dir)
{
	tasklist *l = &v->list;
	size_t i = tasklist_find(l, dir > 0 ? id + 1 : id);
	if (dir < 0 && !i)
		return SIZE_MAX;
	return tasklist_next(l, m, dir > 0 ? i : i - 1, dir, WALK);
}

/* The task lanes on the screen: the ids of up to `lanes` live tasks from
 * top_id on, into win; how many.  sel_id becomes a live task (the next,
 * else the previous) and top_id moves so that it is on the screen. */
static int task_window(timeline_view *v, model *m, int lanes, uint64_t *win)
{
	tasklist *l = &v->list;
	size_t n = tasklist_len(l);
	if (!n)
		return 0;
	size_t i = tasklist_find(l, v->sel_id);
	size_t sel = tasklist_next(l, m, i, 1, WALK);
	if (sel == SIZE_MAX)
		sel = tasklist_next(l, m, i < n ? i : n - 1, -1, WALK);
	if (sel == SIZE_MAX)
		return 0;
	v->sel_id = tasklist_id(l, sel);
	size_t top = tasklist_next(l, m, tasklist_find(l, v->top_id), 1, WALK);
	if (top == SIZE_MAX || top > sel)
		top = sel;
	for (int pass = 0; pass < 2; pass++) {
		int k = 0;
		size_t last = top;
		for (size_t j = top; k < lanes && j != SIZE_MAX;
		     j = j + 1 < n ? tasklist_next(l, m, j + 1, 1, WALK) : SIZE_MAX) {
			win[k++] = tasklist_id(l, j);
			last = j;
		}
		if (sel <= last || pass) {
			v->top_id = tasklist_id(l, top);
			return k;
		}
		/* sel is below the screen: it becomes the last lane */
		top = sel;
		for (int b = 1; b < lanes; b++) {
			size_t j = top ? tasklist_next(l, m, top - 1, -1, WALK) : SIZE_MAX;
			if (j == SIZE_MAX)
				break;
			top = j;
		}
	}
	return 0;
}

/* The worker lanes on the screen: wtop moves so that wsel is on it; how
 * many. */
static int worker_window(timeline_view *v, model *m, int lanes)
{
	model_stats ms;
	model_get_stats(m, &ms);
	size_t n = ms.nworkers;
	if (v->wsel >= n)
		v->wsel = n ? n - 1 : 0;
	if (v->wsel < v->wtop)
		v->wtop = v->wsel;
	if (v->wsel >= v->wtop + (size_t)lanes)
		v->wtop = v->wsel - (size_t)lanes + 1;
	if (v->wtop >= n)
		return 0;
	return n - v->wtop < (size_t)lanes ? (int)(n - v->wtop) : lanes;
}

/* Moves the selection d lanes down (up if negative). */
static void select_by(tui *t, timeline_view *v, int d)
{
	if (v->workers) {
		v->wsel = d < 0 && (size_t)-d > v->wsel ? 0 : v->wsel + (size_t)(ptrdiff_t)d;
		return; /* clamped by the draw */
	}
	model *m = tui_model(t);
	for (; d; d += d > 0 ? -1 : 1) {
		size_t i = step_from(v, m, v->sel_id, d > 0 ? 1 : -1);
		if (i == SIZE_MAX)
			break;
		v->sel_id = tasklist_id(&v->list, i);
	}
}

/* ---- the axis ------------------------------------------------------------------------- */

/* Moves the right edge by dt; at now or later it follows again. */
static void scroll_by(tui *t, timeline_view *v, int64_t dt)
{
	int64_t now = tui_now_ns(t);
	if (v->follow)
		v->end_ns = now;
	v->end_ns += dt;
	v->follow = v->end_ns >= now;
	if (v->follow)
		v->end_ns = now;
}

/* Halves (in) or doubles the span, keeping the cursor's instant where it
 * is on the screen. */
static void zoom(tui *t, timeline_view *v, int in)
{
	int64_t span = in ? v->span_ns / 2 : v->span_ns * 2;
	if (span < MIN_SPAN || span > MAX_SPAN)
		return;
	int64_t now = tui_now_ns(t);
	int64_t end = v->follow ? now : v->end_ns;
	/* the share of the screen right of the cursor's middle */
	double right = ((double)v->back + 0.5) / v->w;
	int64_t at = end - (int64_t)(right * (double)v->span_ns);
	v->span_ns = span;
	if (v->follow && !v->back)
		return;
	v->end_ns = at + (int64_t)(right * (double)span);
	v->follow = v->end_ns >= now;
	if (v->follow)
		v->end_ns = now;
}

/* Moves the cursor d columns right (left if negative); past an edge the
 * axis scrolls. */
static void move_cursor(tui *t, timeline_view *v, int d)
{
	int back = v->back - d;
	if (back < 0) {
		scroll_by(t, v, (int64_t)((double)-back * (double)v->span_ns / v->w));
		back = 0;
	} else if (back > v->w - 1) {
		scroll_by(t, v, -(int64_t)((double)(back - v->w + 1) * (double)v->span_ns / v->w));
		back = v->w - 1;
	}
	v->back = back;
}

/* ---- drawing ---------------------------------------------------------------------------- */

/* The curses attributes of a cell's attribute byte (no colour when the
 * terminal has none or NO_COLOR is set). */
static attr_t curses_attr(const timeline_view *v, uint8_t a)
{
	attr_t r = A_NORMAL;
	if (v->colour && (a & LANE_PAIR))
		r |= COLOR_PAIR(a & LANE_PAIR);
	if (a & LANE_BOLD)
		r |= A_BOLD;
	if (a & LANE_REVERSE)
		r |= A_REVERSE;
	return r;
}

/* Writes w cells at row y from column x, in runs of one attribute. */
static void put_cells(const timeline_view *v, int y, int x, const char *cell, const uint8_t *attr,
                      int w)
{
	for (int c = 0; c < w;) {
		int e = c + 1;
		while (e < w && attr[e] == attr[c])
			e++;
		attrset(curses_attr(v, attr[c]));
		mvaddnstr(y, x + c, cell + c, e - c);
		c = e;
	}
	attrset(A_NORMAL);
}

/* The first row: the lanes' kind, the axis's ends and scale, and whether
 * it follows (live, or a replay's cursor). */
static void draw_header(tui *t, const timeline_view *v, const lane_axis *a, int y)
{
	char buf[256], s[32], e[32], span[32], col[32];
	int replay = tui_replaying(t);
	snprintf(buf, sizeof(buf), "%-*s%s ... %s  (%s across, %s a column; %s)", NAME_W,
	         v->workers ? "WORKER" : "TASK", ts_fmt_ns(a->start, s, sizeof(s)),
	         ts_fmt_ns(a->start + a->span, e, sizeof(e)),
	         ts_fmt_ns(a->span, span, sizeof(span)),
	         ts_fmt_ns(a->span / a->w, col, sizeof(col)),
	         v->follow ? (replay ? "cursor" : "live")
	                   : (replay ? "f: back to the cursor" : "f: follow live"));
	attron(A_BOLD);
	mvaddnstr(y, 0, buf, COLS);
	attroff(A_BOLD);
}

/* The legend: the glyphs in their colours, then the keys. */
static void draw_legend(const timeline_view *v, int y)
{
	static const struct {
		char glyph;
		uint8_t attr;
		const char *what;
	} keys[] = {{'#', LANE_GREEN, "running"},
	            {'+', LANE_YELLOW, "ready"},
	            {'.', LANE_RED, "blocked"},
	            {'z', LANE_CYAN, "sleeping"},
	            {'v', LANE_BOLD, "wake"}};
	static const char tasks_keys[] =
	        "  , . < > cursor  j/k lane  w workers  + - zoom  f follow";
	static const char workers_keys[] =
	        "  , . < > cursor  j/k lane  w tasks  + - zoom  f follow";
	int x = 0;
	if (v->workers) {
		mvaddnstr(y, 0, "0-9 the running task (its id's last digit), blank idle", COLS);
		x = 54;
	} else {
		for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]) && x + 12 < COLS; i++) {
			attrset(curses_attr(v, keys[i].attr));
			mvaddch(y, x, (chtype)(unsigned char)keys[i].glyph);
			attrset(A_NORMAL);
			mvaddnstr(y, x + 2, keys[i].what, -1);
			x += 3 + (int)strlen(keys[i].what);
		}
	}
	if (x < COLS)
		mvaddnstr(y, x, v->workers ? workers_keys : tasks_keys, COLS - x);
}

/* Lane i of the screen (task win[i], or worker wtop + i): its name, its
 * cells, its wakes (into marks, whose new count it returns), and the
 * cursor's line if it is the selected lane. */
static size_t draw_lane(tui *t, timeline_view *v, const lane_axis *a, int y, int cursor,
                        const uint64_t *win, int lanes, int i, char *cell, uint8_t *attr,
                        lane_wake *marks, size_t nmarks, char *line, size_t cap)
{
	char name[32];
	int open = 0, sel;
	size_t n;
	const tui_span *under;
	if (v->workers) {
		size_t w = v->wtop + (size_t)i;
		snprintf(name, sizeof(name), "worker %zu", w);
		n = lane_worker_spans(t, (uint32_t)w, a->now, v->sp, &open);
		under = lane_fill_worker(a, v->sp, n, cursor, cell, attr);
		sel = w == v->wsel;
	} else {
		model_task *k = model_task_get(tui_model(t), win[i]);
		snprintf(name, sizeof(name), "%s", k ? k->name : "?");
		n = k ? lane_task_spans(t, k, a->now, v->sp, &open) : 0;
		under = lane_fill_task(a, v->sp, n, cursor, cell, attr);
		if (a->span / a->w <= WAKE_COL_NS)
			nmarks = lane_wakes(a, v->sp, n, win, lanes, i, marks, nmarks);
		sel = win[i] == v->sel_id;
	}
	if (sel)
		lane_describe(t, name, under, open && n && under == &v->sp[n - 1],
		              lane_col_time(a, cursor), v->workers, line, cap);
	attrset(sel ? A_REVERSE : A_NORMAL);
	mvprintw(y, 0, "%-*.*s", NAME_W - 1, NAME_W - 1, name);
	attrset(A_NORMAL);
	return nmarks;
}

static void timeline_draw(tui *t, void *state, int y0, int h)
{
	timeline_view *v = state;
	model *m = tui_model(t);
	int64_t now = tui_now_ns(t);
	int w = COLS - NAME_W;
	int lanes = h - 3; /* the header, the cursor's line, the legend */
	if (w < 10 || lanes < 1)
		return;
	if (tui_replaying(t) && !v->fitted) {
		/* the history up to the replay's cursor */
		int64_t span = now - tui_first_ns(t);
		v->span_ns = span < MIN_SPAN ? MIN_SPAN : span > MAX_SPAN ? MAX_SPAN : span;
		v->fitted = 1;
	}
	if (v->follow)
		v->end_ns = now;
	v->w = w;
	v->lanes = lanes;
	if (v->back > w - 1)
		v->back = w - 1;
	lane_axis a = {v->end_ns - v->span_ns, v->span_ns, now, w};
	draw_header(t, v, &a, y0);

	uint64_t *win = xmalloc((size_t)lanes * sizeof(*win));
	int shown;
	if (v->workers) {
		shown = worker_window(v, m, lanes);
	} else {
		/* the build itself is timeline_work's, between frames */
		if (tasklist_ready(&v->list, tui_generation(t)))
			tasklist_update(&v->list, m, tui_generation(t));
		shown = task_window(v, m, lanes, win);
	}
	int cursor = w - 1 - v->back;
	size_t cells = (size_t)lanes * (size_t)w;
	char *cell = xmalloc(cells);
	uint8_t *attr = xmalloc(cells);
	lane_wake *marks = xmalloc((size_t)lanes * (TUI_SPANS + 1) * sizeof(*marks));
	size_t nmarks = 0;
	char line[512] = "";
	for (int i = 0; i < shown; i++)
		nmarks = draw_lane(t, v, &a, y0 + 1 + i, cursor, win, shown, i,
		                   cell + (size_t)i * (size_t)w, attr + (size_t)i * (size_t)w,
		                   marks, nmarks, line, sizeof(line));
	lane_draw_wakes(marks, nmarks, cell, attr, w);
	for (int i = 0; i < shown; i++) {
		attr[(size_t)i * (size_t)w + (size_t)cursor] |= LANE_REVERSE;
		put_cells(v, y0 + 1 + i, NAME_W, cell + (size_t)i * (size_t)w,
		          attr + (size_t)i * (size_t)w, w);
	}
	mvaddnstr(y0 + h - 2, 0, line[0] ? line : "no lanes", COLS);
	draw_legend(v, y0 + h - 1);
	free(win);
	free(cell);
	free(attr);
	free(marks);
}

/* ---- keys ------------------------------------------------------------------------------- */

static int timeline_key(tui *t, void *state, int key)
{
	timeline_view *v = state;
	int page = v->lanes > 1 ? v->lanes : 1;
	switch (key) {
	case '+':
	case '=':
		zoom(t, v, 1);
		return 1;
	case '-':
		zoom(t, v, 0);
		return 1;
	case KEY_LEFT:
		scroll_by(t, v, -v->span_ns / 4);
		return 1;
	case KEY_RIGHT:
		scroll_by(t, v, v->span_ns / 4);
		return 1;
	case ',':
	case KEY_SLEFT:
		move_cursor(t, v, -1);
		return 1;
	case '.':
	case KEY_SRIGHT:
		move_cursor(t, v, 1);
		return 1;
	case '<':
		move_cursor(t, v, -CURSOR_JUMP);
		return 1;
	case '>':
		move_cursor(t, v, CURSOR_JUMP);
		return 1;
	case 'f':
		v->follow = 1;
		return 1;
	case 'w':
		v->workers = !v->workers;
		return 1;
	case KEY_DOWN:
	case 'j':
		select_by(t, v, 1);
		return 1;
	case KEY_UP:
	case 'k':
		select_by(t, v, -1);
		return 1;
	case KEY_NPAGE:
		select_by(t, v, page);
		return 1;
	case KEY_PPAGE:
		select_by(t, v, -page);
		return 1;
	case KEY_HOME:
		v->sel_id = v->top_id = 0;
		v->wsel = 0;
		return 1;
	case KEY_END:
		v->sel_id = UINT64_MAX >> 1; /* the draw takes the last live task */
		v->wsel = SIZE_MAX;
		return 1;
	case '\n':
	case KEY_ENTER:
		if (!v->workers && v->sel_id)
			tui_push(t, &tui_detail_view, tui_detail_new(v->sel_id));
		return 1;
	default:
		return 0;
	}
}

/* The task lanes' list, built a step at a time between frames. */
static int timeline_work(tui *t, void *state, int64_t deadline_ns)
{
	timeline_view *v = state;
	(void)deadline_ns; /* a step is bounded by itself */
	if (tasklist_ready(&v->list, tui_generation(t)))
		return TUI_IDLE;
	tasklist_update(&v->list, tui_model(t), tui_generation(t));
	return tasklist_ready(&v->list, tui_generation(t)) ? TUI_CHANGED : TUI_BUSY;
}

const tui_view_ops tui_timeline_view = {.name = "timeline",
                                        .draw = timeline_draw,
                                        .key = timeline_key,
                                        .free = timeline_free,
                                        .work = timeline_work};
