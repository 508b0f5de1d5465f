/*
 * tui.c - `taskscope top PID` (tui.h): the loop, the terminal, the header
 * and the view stack.
 *
 * One thread: each turn drains the segment's rings into the model (the
 * collector in stream mode, without a history; the deadlock detector
 * watches as for `record`), and every refresh interval the top view draws
 * its visible rows.  The terminal is restored on every way out: q,
 * SIGINT, SIGTERM, SIGHUP, and a crash of the inspector (the fatal signal
 * is raised again after endwin).
 */
#include <getopt.h>
#include <inttypes.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curses.h>

#include "cmd.h"
#include "idmap.h"
#include "report.h"
#include "tui.h"
#include "util.h"

#define DEFAULT_REFRESH_NS 100000000 /* 10 Hz */
#define MAX_VIEWS          8

typedef struct tui_view {
	const tui_view_ops *ops;
	void *state;
} tui_view;

typedef struct hist_ring {
	tui_span s[TUI_SPANS];
	uint32_t next, n;
} hist_ring;

struct tui {
	coll *c;
	idmap hist; /* task id -> hist_ring */
	int64_t now_ns;
	tui_view views[MAX_VIEWS];
	int nviews;
	char status[160];
};

static volatile sig_atomic_t stop_signal;
static volatile sig_atomic_t curses_on;

static void on_stop(int sig)
{
	stop_signal = sig;
}

/* A crash inside the inspector leaves a sane terminal, then dies of the
 * same signal. */
static void on_fatal(int sig)
{
	if (curses_on)
		endwin();
	signal(sig, SIG_DFL);
	raise(sig);
}

static void catch_signals(void)
{
	struct sigaction sa = {0};
	sa.sa_handler = on_stop;
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
	sa.sa_handler = on_fatal;
	sa.sa_flags = (int)SA_RESETHAND;
	sigaction(SIGSEGV, &sa, NULL);
	sigaction(SIGBUS, &sa, NULL);
	sigaction(SIGABRT, &sa, NULL);
	sigaction(SIGFPE, &sa, NULL);
}

/* ---- services to views ---------------------------------------------------------- */

model *tui_model(tui *t)
{
	return coll_model(t->c);
}

coll *tui_coll(tui *t)
{
	return t->c;
}

int64_t tui_now_ns(tui *t)
{
	return t->now_ns;
}

/* Every closed interval, kept in its task's ring for the timeline. */
static void on_interval(void *ctx, const model_interval *iv)
{
	tui *t = ctx;
	hist_ring *r = idmap_get(&t->hist, iv->task);
	if (!r) {
		r = xcalloc(1, sizeof(*r));
		idmap_put(&t->hist, iv->task, r);
	}
	r->s[r->next] = (tui_span){iv->start_ns, iv->end_ns, iv->state, iv->wait_kind};
	r->next = (r->next + 1) % TUI_SPANS;
	if (r->n < TUI_SPANS)
		r->n++;
}

size_t tui_history(tui *t, uint64_t task, tui_span *out)
{
	hist_ring *r = idmap_get(&t->hist, task);
	if (!r)
		return 0;
	uint32_t first = (r->next + TUI_SPANS - r->n) % TUI_SPANS;
	for (uint32_t i = 0; i < r->n; i++)
		out[i] = r->s[(first + i) % TUI_SPANS];
	return r->n;
}

static void free_ring(void *ctx, uint64_t id, void *val)
{
	(void)ctx;
	(void)id;
	free(val);
}

void tui_push(tui *t, const tui_view_ops *ops, void *state)
{
	if (t->nviews == MAX_VIEWS) {
		ops->free(state);
		return;
	}
	t->views[t->nviews++] = (tui_view){ops, state};
}

void tui_pop(tui *t)
{
	if (t->nviews <= 1)
		return;
	tui_view *v = &t->views[--t->nviews];
	v->ops->free(v->state);
}

void tui_switch(tui *t, const tui_view_ops *ops, void *state)
{
	while (t->nviews > 0) {
		tui_view *v = &t->views[--t->nviews];
		v->ops->free(v->state);
	}
	t->views[t->nviews++] = (tui_view){ops, state};
}

void tui_status(tui *t, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(t->status, sizeof(t->status), fmt, ap);
	va_end(ap);
}

const char *tui_state_name(const model_task *t)
{
	static const char *const names[] = {"unknown", "ready", "running", "blocked", "done"};
	if (t->ended_ns >= 0)
		return "done";
	return t->cur.state < 5 ? names[t->cur.state] : "?";
}

void tui_wait_text(model *m, const model_task *t, char *buf, size_t cap)
{
	buf[0] = 0;
	if (t->cur.state != MS_BLOCKED || t->ended_ns >= 0)
		return;
	const char *op = report_wait_op(t->cur.wait_kind);
	const char *name = "";
	if (t->cur.wait_kind == TSK_WAIT_JOIN) {
		model_task *j = model_task_get(m, t->cur.obj);
		name = j ? j->name : "";
	} else if (t->cur.wait_kind >= TSK_WAIT_CHAN_SEND && t->cur.wait_kind <= TSK_WAIT_COND) {
		model_res *res = model_res_get(m, t->cur.obj);
		name = res ? res->name : "";
	}
	snprintf(buf, cap, "%s%s%s", op ? op : "?", *name ? ":" : "", name);
}

/* ---- drawing -------------------------------------------------------------------------- */

static const char *const help_lines[] = {
        "taskscope top - keys",
        "",
        "  up/down j/k     move one row        PgUp/PgDn   one page",
        "  Home/End g/G    first/last row      Enter       the task's detail",
        "  < > s           sort by the previous/next column (s: next)",
        "  i               reverse the order",
        "  /               filter: name, state or wait contains the text (Enter, Esc)",
        "  h               show or hide finished tasks",
        "  Esc, Backspace  back from a detail",
        "  t r p w l       views: tasks, resources, problems, workers, timeline",
        "  + - left right  timeline: zoom, scroll in time; f follow live",
        "  space           pause the view (the recording goes on)",
        "  ?               this help         q  quit (the program is left as it was)",
        "",
        "  any key closes this help",
};

static void draw_help(void)
{
	size_t n = sizeof(help_lines) / sizeof(help_lines[0]);
	int w = 80, h = (int)n + 2;
	int y0 = LINES > h ? (LINES - h) / 2 : 0, x0 = COLS > w ? (COLS - w) / 2 : 0;
	for (int y = 0; y < h && y0 + y < LINES; y++)
		mvhline(y0 + y, x0, ' ', w);
	for (size_t i = 0; i < n; i++)
		mvprintw(y0 + 1 + (int)i, x0 + 2, "%.*s", w - 4, help_lines[i]);
	refresh();
}

static void draw(tui *t, int paused)
{
	model *m = tui_model(t);
	model_stats ms;
	model_get_stats(m, &ms);
	coll_stats cs;
	coll_get_stats(t->c, &cs);
	const tsk_rd_info *info = coll_info(t->c);
	det *d = coll_det(t->c);
	char up[32];
	erase();
	mvprintw(0, 0,
	         "%s (pid %d)  up %s  %" PRIu64 " running, %" PRIu64 " ready, %" PRIu64
	         " blocked, %" PRIu64 " done  events %" PRIu64 "  lost %" PRIu64 "%s",
	         info->program, info->pid, ts_fmt_ns(t->now_ns, up, sizeof(up)),
	         ms.by_state[MS_RUNNING], ms.by_state[MS_READY], ms.by_state[MS_BLOCKED],
	         ms.by_state[MS_DONE], ms.events,
	         cs.lost > cs.lost_writer ? cs.lost : cs.lost_writer, paused ? "  [paused]" : "");
	if (d && det_count(d)) {
		const det_deadlock *dl = det_get(d, det_count(d) - 1);
		if (has_colors())
			attron(COLOR_PAIR(1));
		attron(A_BOLD | A_REVERSE);
		mvprintw(1, 0, " DEADLOCK (%zu): %.*s ", det_count(d), COLS > 24 ? COLS - 20 : 4,
		         dl->text ? dl->text : "");
		attroff(A_BOLD | A_REVERSE);
		if (has_colors())
			attroff(COLOR_PAIR(1));
	}
	tui_view *v = &t->views[t->nviews - 1];
	v->ops->draw(t, v->state, 2, LINES - 3);
	if (t->status[0])
		mvprintw(LINES - 1, 0, "%.*s", COLS, t->status);
	else
		mvprintw(LINES - 1, 0,
		         "%s   t tasks  r resources  p problems  w workers  l timeline  ? help  q "
		         "quit",
		         v->ops->name);
	refresh();
}

/* ---- the command ------------------------------------------------------------------------ */

static int cmp_i64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
	return x < y ? -1 : x > y;
}

static const char help[] =
        "NAME\n"
        "    taskscope top - live view of a running process's tasks\n"
        "\n"
        "SYNOPSIS\n"
        "    taskscope top PID [-r MS]\n"
        "\n"
        "DESCRIPTION\n"
        "    Attaches to process PID (linked with libtaskscope) and shows its tasks\n"
        "    live: state, what each waits on and for how long, polls, worker; Enter\n"
        "    shows a task's detail with its wait-for chain.  The deadlock detector\n"
        "    runs as for `taskscope record`: a deadlock shows as a banner.  Detaching\n"
        "    (q) leaves the program as it was.  NO_COLOR turns colours off.\n"
        "\n"
        "OPTIONS\n"
        "    -r, --refresh MS   redraw every MS milliseconds (default 100)\n"
        "    --frame-stats      on exit, the frame timer on stderr: frames drawn,\n"
        "                       median, 99th percentile and longest time to draw one\n"
        "    -h, --help         this page\n"
        "\n"
        "KEYS\n"
        "    q quit; up/down/PgUp/PgDn/Home/End (j/k/g/G) move; < > s sort column; i\n"
        "    reverse; / filter (name, state, wait); h finished tasks; Enter detail;\n"
        "    Esc back; t r p w the tasks, resources, problems and workers views;\n"
        "    space pause the view; ? help\n"
        "\n"
        "EXIT STATUS\n"
        "    0 detached; 1 no such process, not instrumented, another taskscope\n"
        "    attached; 2 bad usage.\n";

int cmd_top(int argc, char **argv)
{
	static const struct option opts[] = {{"refresh", required_argument, NULL, 'r'},
	                                     {"frame-stats", no_argument, NULL, 'F'},
	                                     {"help", no_argument, NULL, 'h'},
	                                     {NULL, 0, NULL, 0}};
	int64_t refresh_ns = DEFAULT_REFRESH_NS;
	int frame_stats = 0;
	int64_t *frames = NULL;
	size_t nframes = 0, capframes = 0;
	char err[512], path[256];
	int ch;
	ts_cmd = "top";
	optind = 1;
	while ((ch = getopt_long(argc, argv, "r:h", opts, NULL)) != -1) {
		switch (ch) {
		case 'r': {
			char *end;
			long ms = strtol(optarg, &end, 10);
			if (*end || ms < 10 || ms > 60000)
				ts_usage_err("bad --refresh '%s' (milliseconds, 10 to 60000)",
				             optarg);
			refresh_ns = ms * 1000000LL;
			break;
		}
		case 'F':
			frame_stats = 1;
			break;
		case 'h':
			fputs(help, stdout);
			return EXIT_OK;
		default:
			ts_usage_err("bad option");
		}
	}
	if (optind >= argc)
		ts_usage_err("missing PID");
	if (optind + 1 < argc)
		ts_usage_err("unexpected argument '%s'", argv[optind + 1]);
	pid_t pid;
	if (coll_resolve(argv[optind], path, sizeof(path), &pid, err, sizeof(err)) < 0) {
		ts_err("%s", err);
		return EXIT_ERR;
	}
	tui t = {0};
	if (coll_open(path, COLL_STREAM, NULL, &t.c, err, sizeof(err)) < 0) {
		ts_err("%s", err);
		return EXIT_ERR;
	}
	coll_detect(t.c, NULL, NULL, NULL);
	idmap_init(&t.hist);
	coll_on_interval(t.c, on_interval, &t);
	tui_push(&t, &tui_tasks_view, tui_tasks_new());
	catch_signals();
	initscr();
	curses_on = 1;
	cbreak();
	noecho();
	keypad(stdscr, TRUE);
	set_escdelay(25);
	curs_set(0);
	timeout(1);
	if (has_colors() && !getenv("NO_COLOR")) {
		start_color();
		use_default_colors();
		init_pair(1, COLOR_RED, -1);
	}
	int paused = 0, help_on = 0;
	int64_t last_draw = 0, last_live = ts_mono_ns();
	while (!stop_signal) {
		coll_pass(t.c, 0);
		int64_t now = ts_mono_ns();
		if (!paused && !help_on && now - last_draw >= refresh_ns) {
			t.now_ns = now - coll_info(t.c)->created_mono_ns;
			draw(&t, paused);
			last_draw = now;
			if (frame_stats) {
				if (nframes == capframes) {
					capframes = capframes ? capframes * 2 : 1024;
					frames = xrealloc(frames, capframes * sizeof(*frames));
				}
				frames[nframes++] = ts_mono_ns() - now;
			}
		}
		int key = getch();
		if (key == ERR) {
			if (now - last_live >= 1000000000) {
				last_live = now;
				if (coll_liveness(t.c) != TSK_RD_LIVE)
					break; /* the process is gone */
			}
			continue;
		}
		t.status[0] = 0;
		last_draw = 0; /* a key redraws at once */
		if (help_on) {
			help_on = 0;
			continue;
		}
		tui_view *v = &t.views[t.nviews - 1];
		if (v->ops->key(&t, v->state, key))
			continue;
		if (key == 'q' || key == 'Q')
			break;
		if (key == ' ') {
			paused = !paused;
			if (paused) {
				draw(&t, 1);
			}
		} else if (key == '?') {
			help_on = 1;
			draw_help();
		} else if (key == 't') {
			tui_switch(&t, &tui_tasks_view, tui_tasks_new());
		} else if (key == 'r') {
			tui_switch(&t, &tui_resources_view, tui_resources_new(0));
		} else if (key == 'p') {
			tui_switch(&t, &tui_problems_view, tui_problems_new());
		} else if (key == 'w') {
			tui_switch(&t, &tui_workers_view, tui_workers_new());
		} else if (key == 'l') {
			tui_switch(&t, &tui_timeline_view, tui_timeline_new());
		}
	}
	curses_on = 0;
	endwin();
	coll_pass(t.c, 1);
	coll_detach(t.c);
	while (t.nviews > 1)
		tui_pop(&t);
	t.views[0].ops->free(t.views[0].state);
	if (frame_stats && nframes) {
		/* the frame timer bench/tui.sh reads: the time to draw a frame */
		model_stats ms;
		model_get_stats(coll_model(t.c), &ms);
		qsort(frames, nframes, sizeof(*frames), cmp_i64);
		fprintf(stderr,
		        "taskscope top: %zu frames, median %.3f ms, p99 %.3f ms, max %.3f ms, "
		        "%" PRIu64 " tasks alive\n",
		        nframes, (double)frames[nframes / 2] / 1e6,
		        (double)frames[nframes * 99 / 100] / 1e6, (double)frames[nframes - 1] / 1e6,
		        ms.tasks - ms.by_state[MS_DONE]);
	}
	free(frames);
	coll_close(t.c);
	idmap_each(&t.hist, free_ring, NULL);
	idmap_fini(&t.hist);
	return EXIT_OK;
}
