/*
 * view_workers.c - the workers view (tui.h): per worker its current task,
 * its utilisation over the last second and since the attach (or, in a
 * replay, since the history began), polls, parks and steals.
 *
 * A worker's run queue length is not shown: the runtime does not record
 * which worker's queue a ready task sits in, only how many tasks are ready
 * (the header's count).  A history keeps neither parks nor steals.
 */
#include <inttypes.h>
#include <stdlib.h>

#include <curses.h>

#include "tui.h"
#include "util.h"

#define MAX_SHOWN 256 /* workers sampled for the last second's utilisation */
#define WINDOW_NS 1000000000

typedef struct workers_view {
	/* two samples of each worker's busy time: the window is [then, now] */
	int64_t then_ns, mid_ns;
	int64_t then_busy[MAX_SHOWN], mid_busy[MAX_SHOWN];
	int64_t from_ns; /* when the counters started */
	uint64_t gen;
} workers_view;

void *tui_workers_new(void)
{
	workers_view *v = xcalloc(1, sizeof(*v));
	v->from_ns = -1;
	return v;
}

static void workers_free(void *state)
{
	free(state);
}

/* Busy time of w up to now, the running task's open run included. */
static int64_t busy_now(const model_worker *w, int64_t now)
{
	return w->busy_ns + (w->task && now > w->last_change ? now - w->last_change : 0);
}

static double share(int64_t busy, int64_t span)
{
	double p = span > 0 ? 100.0 * (double)busy / (double)span : 0.0;
	return p > 100 ? 100.0 : p < 0 ? 0.0 : p;
}

static void workers_draw(tui *t, void *state, int y0, int h)
{
	workers_view *v = state;
	model *m = tui_model(t);
	model_stats ms;
	model_get_stats(m, &ms);
	int64_t now = tui_now_ns(t);
	int replay = tui_replaying(t);
	if (v->from_ns < 0 || v->gen != tui_generation(t)) {
		/* counters start at the attach (live) or the history's beginning
		 * (a replay, whose model is rebuilt at each move: the last second
		 * is not sampled there) */
		v->from_ns = tui_first_ns(t);
		v->then_ns = v->mid_ns = -1;
		v->gen = tui_generation(t);
	}
	if (!replay && (v->mid_ns < 0 || now - v->mid_ns >= WINDOW_NS / 2)) {
		v->then_ns = v->mid_ns;
		v->mid_ns = now;
		for (uint32_t i = 0; i < ms.nworkers && i < MAX_SHOWN; i++) {
			model_worker *w = model_worker_get(m, i);
			v->then_busy[i] = v->mid_busy[i];
			v->mid_busy[i] = w ? busy_now(w, now) : 0;
		}
	}
	attron(A_BOLD);
	mvprintw(y0, 0, "%6s %-24s %7s %7s %10s %8s %8s %6s", "WORKER", "RUNNING", "BUSY 1s",
	         replay ? "BUSY" : "BUSY ALL", "POLLS", "PARKS", "STEALS", "STATE");
	attroff(A_BOLD);
	for (uint32_t i = 0; i < ms.nworkers && (int)i < h - 1; i++) {
		model_worker *w = model_worker_get(m, i);
		if (!w)
			break;
		model_task *task = w->task ? model_task_get(m, w->task) : NULL;
		char run[40] = "-", recent[16] = "-";
		if (task)
			snprintf(run, sizeof(run), "%" PRIu64 " %s", task->id, task->name);
		int64_t busy = busy_now(w, now);
		if (!replay && v->then_ns >= 0 && i < MAX_SHOWN)
			snprintf(recent, sizeof(recent), "%5.1f%%",
			         share(busy - v->then_busy[i], now - v->then_ns));
		char parks[24] = "-", steals[24] = "-";
		if (!replay) {
			snprintf(parks, sizeof(parks), "%" PRIu64, w->parks);
			snprintf(steals, sizeof(steals), "%" PRIu64, w->steals);
		}
		mvprintw(y0 + 1 + (int)i, 0, "%6u %-24.24s %7s %7.1f%% %10" PRIu64 " %8s %8s %6s",
		         i, run, recent, share(busy, now - v->from_ns), w->polls, parks, steals,
		         task                   ? "busy"
		         : !replay && w->parked ? "parked"
		                                : "idle");
	}
}

static int workers_key(tui *t, void *state, int key)
{
	(void)t;
	(void)state;
	(void)key;
	return 0;
}

const tui_view_ops tui_workers_view = {
        .name = "workers", .draw = workers_draw, .key = workers_key, .free = workers_free};
