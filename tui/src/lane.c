/*
 * lane.c - one lane of the timeline (lane.h): intervals, cells, wakes
 * and the cursor's line.
 *
 * A task lane samples each column at its middle instant: the glyph is the
 * task's state then, so an interval shorter than a column may not show
 * (the cursor's line says what the column's instant holds, the same
 * thing).  A worker lane shows any run during the column instead: runs
 * are short and idle time dominates, so an instant would miss most.
 * Everything here is per visible lane: at most LANE_SPANS intervals and a
 * screen's width of columns.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lane.h"
#include "util.h"

int64_t lane_col_time(const lane_axis *a, int c)
{
	return a->start + (int64_t)(((double)c + 0.5) * (double)a->span / a->w);
}

/* The column holding instant ns, clamped to the screen. */
static int col_of(const lane_axis *a, int64_t ns)
{
	double x = (double)(ns - a->start) * a->w / (double)a->span;
	return x < 0 ? 0 : x >= a->w ? a->w - 1 : (int)x;
}

/* The first column whose middle instant is ns or later - where a change
 * at ns first shows in a task lane - or the last column for a change in
 * its second half; -1 off the screen. */
static int change_col(const lane_axis *a, int64_t ns)
{
	if (ns < a->start || ns >= a->start + a->span)
		return -1;
	double x = (double)(ns - a->start) * a->w / (double)a->span - 0.5;
	int c = (int)x;
	if ((double)c < x)
		c++;
	return c < a->w ? c : a->w - 1;
}

/* ---- intervals ---------------------------------------------------------------------- */

size_t lane_task_spans(tui *t, const model_task *k, int64_t now, tui_span *sp, int *open)
{
	size_t n = tui_history(t, k->id, sp);
	*open = 0;
	if (k->ended_ns >= 0 || k->cur.start_ns > now)
		return n;
	const model_interval *c = &k->cur;
	tui_span *x = &sp[n++];
	*x = (tui_span){.start_ns = c->start_ns,
	                .end_ns = now,
	                .obj = c->state == MS_RUNNING ? k->id : c->obj,
	                .site = c->site,
	                .worker = c->worker,
	                .state = c->state};
	if (c->state == MS_BLOCKED)
		x->wait_kind = c->wait_kind;
	else
		x->how = c->how;
	*open = 1;
	return n;
}

size_t lane_worker_spans(tui *t, uint32_t i, int64_t now, tui_span *sp, int *open)
{
	model *m = tui_model(t);
	size_t n = tui_worker_history(t, i, sp, TUI_WORKER_SPANS);
	*open = 0;
	/* the task on it now, if the model says it still runs there */
	model_worker *w = model_worker_get(m, i);
	model_task *k = w && w->task ? model_task_get(m, w->task) : NULL;
	if (!k || k->ended_ns >= 0 || k->cur.state != MS_RUNNING || k->cur.worker != i ||
	    k->cur.start_ns > now)
		return n;
	sp[n++] = (tui_span){.start_ns = k->cur.start_ns,
	                     .end_ns = now,
	                     .obj = k->id,
	                     .worker = (uint16_t)i,
	                     .state = MS_RUNNING};
	*open = 1;
	return n;
}

/* ---- cells ---------------------------------------------------------------------------- */

/* The glyph of interval s in a task lane; its colour into *attr. */
static char state_glyph(const tui_span *s, uint8_t *attr)
{
	switch (s->state) {
	case MS_RUNNING:
		*attr = LANE_GREEN;
		return '#';
	case MS_READY:
		*attr = LANE_YELLOW;
		return '+';
	case MS_BLOCKED:
		*attr = s->wait_kind == TSK_WAIT_SLEEP ? LANE_CYAN : LANE_RED;
		return s->wait_kind == TSK_WAIT_SLEEP ? 'z' : '.';
	default:
		*attr = 0;
		return ' ';
	}
}

const tui_span *lane_fill_task(const lane_axis *a, const tui_span *sp, size_t n, int cursor,
                               char *cell, uint8_t *attr)
{
	const tui_span *under = NULL;
	size_t j = 0;
	for (int c = 0; c < a->w; c++) {
		int64_t tc = lane_col_time(a, c);
		cell[c] = ' ';
		attr[c] = 0;
		if (tc > a->now)
			continue;
		while (j < n && sp[j].end_ns < tc)
			j++;
		if (j < n && sp[j].start_ns <= tc) {
			cell[c] = state_glyph(&sp[j], &attr[c]);
			if (c == cursor)
				under = &sp[j];
		}
	}
	return under;
}

const tui_span *lane_fill_worker(const lane_axis *a, const tui_span *sp, size_t n, int cursor,
                                 char *cell, uint8_t *attr)
{
	const tui_span *under = NULL;
	int64_t end = a->start + a->span;
	memset(cell, ' ', (size_t)a->w);
	memset(attr, 0, (size_t)a->w);
	for (size_t j = 0; j < n; j++) {
		if (sp[j].end_ns < a->start || sp[j].start_ns >= end)
			continue;
		int c0 = col_of(a, sp[j].start_ns), c1 = col_of(a, sp[j].end_ns);
		for (int c = c0; c <= c1; c++) {
			cell[c] = (char)('0' + sp[j].obj % 10);
			attr[c] = (uint8_t)(1 + sp[j].obj % 4);
		}
		if (cursor >= c0 && cursor <= c1)
			under = &sp[j];
	}
	return under;
}

/* ---- wakes ---------------------------------------------------------------------------- */

/* For bsearch over the screen's task ids. */
static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

size_t lane_wakes(const lane_axis *a, const tui_span *sp, size_t n, const uint64_t *win, int lanes,
                  int row, lane_wake *marks, size_t nmarks)
{
	for (size_t j = 0; j < n; j++) {
		const tui_span *s = &sp[j];
		if (s->state != MS_READY || s->how != MR_WOKEN || !s->obj || s->obj == win[row])
			continue;
		int c = change_col(a, s->start_ns);
		const uint64_t *from = bsearch(&s->obj, win, (size_t)lanes, sizeof(*win), cmp_u64);
		if (c >= 0 && from)
			marks[nmarks++] = (lane_wake){c, row, (int)(from - win)};
	}
	return nmarks;
}

void lane_draw_wakes(const lane_wake *marks, size_t n, char *cell, uint8_t *attr, int w)
{
	for (size_t i = 0; i < n; i++) {
		const lane_wake *k = &marks[i];
		int dir = k->from < k->to ? 1 : -1;
		for (int r = k->from + dir; r != k->to; r += dir) {
			cell[r * w + k->col] = '|';
			attr[r * w + k->col] = LANE_BOLD;
		}
		cell[k->to * w + k->col] = dir > 0 ? 'v' : '^';
		attr[k->to * w + k->col] = LANE_BOLD;
	}
}

/* ---- the cursor's line ------------------------------------------------------------- */

/* What made a task ready (s READY), into buf. */
static void ready_text(tui *t, const tui_span *s, char *buf, size_t cap)
{
	char who[48] = "";
	if (s->obj) {
		model_task *k = model_task_get(tui_model(t), s->obj);
		snprintf(who, sizeof(who), " by task %" PRIu64 "%s%s", s->obj,
		         k && k->name[0] ? " " : "", k ? k->name : "");
	}
	switch (s->how) {
	case MR_SPAWNED:
		snprintf(buf, cap, "ready: spawned%s", who);
		break;
	case MR_WOKEN:
		snprintf(buf, cap, "ready: woken%s", s->obj ? who : " (timer, reactor or thread)");
		break;
	case MR_TIMEOUT:
		snprintf(buf, cap, "ready: its wait timed out");
		break;
	case MR_CANCELLED:
		snprintf(buf, cap, "ready: its wait was cancelled%s", who);
		break;
	case MR_YIELDED:
		snprintf(buf, cap, "ready: it yielded");
		break;
	default:
		snprintf(buf, cap, "ready (what made it ready was not seen)");
	}
}

/* What a task waited on (s BLOCKED) and where, into buf. */
static void blocked_text(tui *t, const tui_span *s, char *buf, size_t cap)
{
	/* tui_wait_text reads a task's open interval: one made of s */
	model_task k = {.ended_ns = -1,
	                .cur = {.state = MS_BLOCKED, .wait_kind = s->wait_kind, .obj = s->obj}};
	char wait[64], site[256];
	tui_wait_text(tui_model(t), &k, wait, sizeof(wait));
	if (tui_string(t, s->site, site, sizeof(site)) < 0)
		site[0] = 0;
	if (s->wait_kind == TSK_WAIT_SLEEP)
		snprintf(buf, cap, "sleeping%s%.200s", site[0] ? " at " : "", site);
	else
		snprintf(buf, cap, "blocked on %s%s%.200s", wait, site[0] ? " at " : "", site);
}

void lane_describe(tui *t, const char *name, const tui_span *s, int open, int64_t at, int worker,
                   char *buf, size_t cap)
{
	char what[320], a[32], b[32], c[32];
	if (!s) {
		snprintf(what, sizeof(what), "%s", worker ? "idle" : "nothing known");
	} else if (worker) {
		model_task *k = model_task_get(tui_model(t), s->obj);
		snprintf(what, sizeof(what), "task %" PRIu64 " %s running", s->obj,
		         k ? k->name : "");
	} else if (s->state == MS_RUNNING) {
		if (s->worker != 0xffff)
			snprintf(what, sizeof(what), "running on worker %u", s->worker);
		else
			snprintf(what, sizeof(what), "running");
	} else if (s->state == MS_READY) {
		ready_text(t, s, what, sizeof(what));
	} else if (s->state == MS_BLOCKED) {
		blocked_text(t, s, what, sizeof(what));
	} else {
		snprintf(what, sizeof(what), "state not known");
	}
	int n = snprintf(buf, cap, "cursor %s  %s: %s", ts_fmt_ns(at, a, sizeof(a)), name, what);
	if (!s || n < 0 || (size_t)n >= cap)
		return;
	ts_fmt_ns(s->start_ns, b, sizeof(b));
	ts_fmt_ns(s->end_ns - s->start_ns, c, sizeof(c));
	if (s->start_ns == INT64_MIN)
		snprintf(buf + n, cap - (size_t)n, ", since before the first event seen");
	else if (open)
		snprintf(buf + n, cap - (size_t)n, ", since %s (%s so far)", b, c);
	else
		snprintf(buf + n, cap - (size_t)n, ", from %s for %s", b, c);
}
