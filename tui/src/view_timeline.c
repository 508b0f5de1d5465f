/*
 * view_timeline.c - the timeline (tui.h): one lane per task on a time
 * axis, each column the task's state at that instant: '#' running, '+'
 * ready, '.' blocked, 'z' sleeping, ' ' not alive or not known.  + and -
 * zoom, left and right scroll in time, f follows live again; up and down
 * scroll the lanes.  The lanes come from the tasks' recent intervals
 * (tui_history) and their open one.
 *
 * The lanes are the live tasks by id (order.h), rebuilt every second in
 * slices between frames; a frame looks up only the visible ones.
 */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include <curses.h>

#include "order.h"
#include "tui.h"
#include "util.h"

#define NAME_W   18
#define MIN_SPAN 1000000LL      /* 1 ms across the screen */
#define MAX_SPAN 600000000000LL /* 10 min */

typedef struct timeline_view {
	int64_t span_ns; /* time across the screen */
	int64_t end_ns;  /* right edge, when not following */
	int follow;
	size_t top; /* first lane */
	order *ord; /* the lanes: live tasks by id */
} timeline_view;

void *tui_timeline_new(void)
{
	timeline_view *v = xcalloc(1, sizeof(*v));
	v->span_ns = 1000000000;
	v->follow = 1;
	v->ord = order_create();
	return v;
}

static void timeline_free(void *state)
{
	timeline_view *v = state;
	order_destroy(v->ord);
	free(v);
}

/* The lanes' key (order.h): live tasks, by id. */
static int lane_key(void *ctx, model *m, uint64_t id, uint64_t key[ORDER_WORDS])
{
	(void)ctx;
	(void)key;
	const model_task *k = model_task_get(m, id);
	return k && k->ended_ns < 0;
}

static const order_src lane_src = {model_task_ids, lane_key, NULL, 0, 0};

static int timeline_work(tui *t, void *state, int64_t deadline_ns)
{
	timeline_view *v = state;
	return order_tick(v->ord, tui_model(t), tui_generation(t), &lane_src, deadline_ns, 1);
}

static char glyph(uint8_t state, uint8_t wait_kind)
{
	switch (state) {
	case MS_RUNNING:
		return '#';
	case MS_READY:
		return '+';
	case MS_BLOCKED:
		return wait_kind == TSK_WAIT_SLEEP ? 'z' : '.';
	default:
		return ' ';
	}
}

static void timeline_draw(tui *t, void *state, int y0, int h)
{
	timeline_view *v = state;
	model *m = tui_model(t);
	order_tick(v->ord, m, tui_generation(t), &lane_src, ts_mono_ns() + ORDER_DRAW_NS, 0);
	size_t n = order_count(v->ord);
	int64_t now = tui_now_ns(t);
	if (v->follow)
		v->end_ns = now;
	int w = COLS - NAME_W;
	if (w < 10 || h < 2)
		return;
	int64_t start = v->end_ns - v->span_ns;
	char a[32], b[32];
	attron(A_BOLD);
	mvprintw(y0, 0, "%-*s%s ... %s  (%s across; %s)", NAME_W, "TASK",
	         ts_fmt_ns(start, a, sizeof(a)), ts_fmt_ns(v->end_ns, b, sizeof(b)),
	         ts_fmt_ns(v->span_ns, (char[32]){0}, 32), v->follow ? "live" : "f: follow live");
	attroff(A_BOLD);
	int lanes = h - 1;
	if (v->top + (size_t)lanes > n)
		v->top = n > (size_t)lanes ? n - (size_t)lanes : 0;
	char *row = xmalloc((size_t)w + 1);
	for (int i = 0; i < lanes && v->top + (size_t)i < n; i++) {
		model_task *k = model_task_get(m, order_id(v->ord, v->top + (size_t)i));
		if (!k)
			continue;
		tui_span sp[TUI_SPANS];
		size_t ns = tui_history(t, k->id, sp);
		size_t j = 0;
		for (int c = 0; c < w; c++) {
			int64_t tc = start + (int64_t)(((double)c + 0.5) * (double)v->span_ns / w);
			char g = ' ';
			if (k->ended_ns < 0 && tc >= k->cur.start_ns && tc <= now) {
				g = glyph(k->cur.state, k->cur.wait_kind);
			} else {
				while (j < ns && sp[j].end_ns < tc)
					j++;
				if (j < ns && sp[j].start_ns <= tc)
					g = glyph(sp[j].state, sp[j].wait_kind);
			}
			row[c] = g;
		}
		row[w] = 0;
		mvprintw(y0 + 1 + i, 0, "%-*.*s%s", NAME_W, NAME_W - 1, k->name, row);
	}
	free(row);
}

static int timeline_key(tui *t, void *state, int key)
{
	(void)t;
	timeline_view *v = state;
	switch (key) {
	case '+':
	case '=':
		if (v->span_ns / 2 >= MIN_SPAN)
			v->span_ns /= 2;
		return 1;
	case '-':
		if (v->span_ns * 2 <= MAX_SPAN)
			v->span_ns *= 2;
		return 1;
	case KEY_LEFT:
		v->follow = 0;
		v->end_ns -= v->span_ns / 4;
		return 1;
	case KEY_RIGHT:
		v->end_ns += v->span_ns / 4;
		if (v->end_ns >= tui_now_ns(t))
			v->follow = 1;
		return 1;
	case 'f':
		v->follow = 1;
		return 1;
	case KEY_DOWN:
	case 'j':
		v->top++;
		return 1;
	case KEY_UP:
	case 'k':
		v->top = v->top ? v->top - 1 : 0;
		return 1;
	default:
		return 0;
	}
}

const tui_view_ops tui_timeline_view = {"timeline", timeline_draw, timeline_key, timeline_free,
                                        timeline_work};
