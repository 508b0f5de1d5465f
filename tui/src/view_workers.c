/*
 * view_workers.c - the workers view (tui.h): per worker its current task,
 * utilisation since the attach, polls, parks and steals.
 */
#include <inttypes.h>
#include <stdlib.h>

#include <curses.h>

#include "tui.h"
#include "util.h"

void *tui_workers_new(void)
{
	return xcalloc(1, 1);
}

static void workers_free(void *state)
{
	free(state);
}

static void workers_draw(tui *t, void *state, int y0, int h)
{
	(void)state;
	model *m = tui_model(t);
	model_stats ms;
	model_get_stats(m, &ms);
	int64_t now = tui_now_ns(t);
	attron(A_BOLD);
	mvprintw(y0, 0, "%6s %-24s %6s %10s %8s %8s %6s", "WORKER", "RUNNING", "BUSY", "POLLS",
	         "PARKS", "STEALS", "STATE");
	attroff(A_BOLD);
	for (uint32_t i = 0; i < ms.nworkers && (int)i < h - 1; i++) {
		model_worker *w = model_worker_get(m, i);
		if (!w)
			break;
		model_task *task = w->task ? model_task_get(m, w->task) : NULL;
		char run[40] = "-";
		if (task)
			snprintf(run, sizeof(run), "%" PRIu64 " %s", task->id, task->name);
		/* the share of the time since the attach spent running tasks */
		double busy = now > 0 ? 100.0 * (double)w->busy_ns / (double)now : 0.0;
		mvprintw(y0 + 1 + (int)i, 0,
		         "%6u %-24.24s %5.1f%% %10" PRIu64 " %8" PRIu64 " %8" PRIu64 " %6s", i, run,
		         busy > 100 ? 100.0 : busy, w->polls, w->parks, w->steals,
		         w->parked ? "parked" : "busy");
	}
}

static int workers_key(tui *t, void *state, int key)
{
	(void)t;
	(void)state;
	(void)key;
	return 0;
}

const tui_view_ops tui_workers_view = {"workers", workers_draw, workers_key, workers_free, NULL};
