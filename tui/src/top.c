/*
 * top.c - `taskscope top PID`: the live task table of a running process.
 *
 * One loop on one thread: the collector drains the segment's rings into
 * the model (stream mode, as `record` does, without a history) and the
 * detector watches it; every refresh interval the visible rows of the
 * table are drawn from the model, never from SQLite.  The terminal is
 * restored on every way out: q, SIGINT, SIGTERM, SIGHUP, and a crash of
 * the inspector (the fatal signal is raised again after endwin).
 *
 * Work in progress (issue 7): the tasks view only; no sorting, filtering,
 * detail, resources, timeline, problems or workers views yet.
 */
#include <getopt.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <curses.h>

#include "cmd.h"
#include "collector.h"
#include "report.h"
#include "util.h"

#define DEFAULT_REFRESH_MS 100

static volatile sig_atomic_t stop_signal;
static int curses_on;

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
	sa.sa_flags = SA_RESETHAND;
	sigaction(SIGSEGV, &sa, NULL);
	sigaction(SIGBUS, &sa, NULL);
	sigaction(SIGABRT, &sa, NULL);
	sigaction(SIGFPE, &sa, NULL);
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
        "    live: state, what each waits on and for how long, polls, worker.  The\n"
        "    deadlock detector runs as for `taskscope record` and its count is shown\n"
        "    in the header.  Detaching (q) leaves the program as it was.\n"
        "\n"
        "OPTIONS\n"
        "    -r, --refresh MS   redraw every MS milliseconds (default 100)\n"
        "    -h, --help         this page\n"
        "\n"
        "KEYS\n"
        "    q quit, up/down/PgUp/PgDn/Home/End (or j/k) scroll, space pause the view\n"
        "\n"
        "EXIT STATUS\n"
        "    0 detached; 1 no such process, not instrumented, another taskscope\n"
        "    attached; 2 bad usage.\n";

enum { COL_ID, COL_NAME, COL_STATE, COL_WAITS, COL_FOR, COL_POLLS, COL_WORKER, NCOLS };

/* What the table shows: the sort column and order, the filter, finished
 * tasks or not. */
typedef struct view {
	int col;
	int reverse;
	int show_done;
	char filter[64];
} view;

typedef struct rows {
	model_task **t;
	size_t n, cap;
	model *m;
	const view *v;
} rows;

static const char *state_name(const model_task *t)
{
	static const char *const names[] = {"unknown", "ready", "running", "blocked", "done"};
	return t->cur.state < 5 ? names[t->cur.state] : "?";
}

/* "mutex:db", "join:reader", "sleep": what a blocked task waits on. */
static void wait_text(model *m, const model_task *t, char *buf, size_t cap)
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

/* Does t match the filter (its name, state or wait contains it)? */
static int matches(model *m, const model_task *t, const char *filter)
{
	char waits[64];
	if (!*filter)
		return 1;
	wait_text(m, t, waits, sizeof(waits));
	return strstr(t->name, filter) || strstr(state_name(t), filter) || strstr(waits, filter);
}

static void add_row(void *ctx, model_task *t)
{
	rows *r = ctx;
	if (t->ended_ns >= 0 && !r->v->show_done)
		return;
	if (!matches(r->m, t, r->v->filter))
		return;
	if (r->n == r->cap) {
		r->cap = r->cap ? r->cap * 2 : 256;
		r->t = xrealloc(r->t, r->cap * sizeof(*r->t));
	}
	r->t[r->n++] = t;
}

static const view *sort_view; /* for by_col (qsort has no context) */

static int cmp_u(uint64_t x, uint64_t y)
{
	return x < y ? -1 : x > y;
}

static int by_col(const void *a, const void *b)
{
	const model_task *x = *(model_task *const *)a, *y = *(model_task *const *)b;
	int c = 0;
	switch (sort_view->col) {
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
	default:
		break;
	}
	if (!c)
		c = cmp_u(x->id, y->id);
	return sort_view->reverse ? -c : c;
}

static const char *const help_lines[] = {
        "taskscope top - keys",
        "",
        "  up/down j/k     move one row        PgUp/PgDn   one page",
        "  Home/End g/G    first/last row",
        "  < > s           sort by the previous/next column (s: next)",
        "  i               reverse the order",
        "  /               filter: name, state or wait contains the text (Enter, Esc)",
        "  h               show or hide finished tasks",
        "  space           pause the view (the recording goes on)",
        "  ?               this help         q  quit (the program is left as it was)",
        "",
        "  any key closes this help",
};

static void draw_help(void)
{
	size_t n = sizeof(help_lines) / sizeof(help_lines[0]);
	int w = 78, h = (int)n + 2;
	int y0 = LINES > h ? (LINES - h) / 2 : 0, x0 = COLS > w ? (COLS - w) / 2 : 0;
	for (int y = 0; y < h && y0 + y < LINES; y++)
		mvhline(y0 + y, x0, ' ', w);
	for (size_t i = 0; i < n; i++)
		mvprintw(y0 + 1 + (int)i, x0 + 2, "%.*s", w - 4, help_lines[i]);
	refresh();
}

static void draw(coll *c, rows *r, size_t *top, int64_t now_ns)
{
	model *m = coll_model(c);
	model_stats ms;
	model_get_stats(m, &ms);
	const tsk_rd_info *info = coll_info(c);
	det *d = coll_det(c);
	r->n = 0;
	r->m = m;
	model_each_task(m, add_row, r);
	sort_view = r->v;
	if (r->n > 1)
		qsort(r->t, r->n, sizeof(*r->t), by_col);
	erase();
	char up[32];
	mvprintw(0, 0,
	         "%s (pid %d)  up %s  tasks %" PRIu64 ": %" PRIu64 " running, %" PRIu64
	         " ready, %" PRIu64 " blocked  events %" PRIu64 "  lost %" PRIu64,
	         info->program, info->pid, ts_fmt_ns(now_ns, up, sizeof(up)), (uint64_t)r->n,
	         ms.by_state[MS_RUNNING], ms.by_state[MS_READY], ms.by_state[MS_BLOCKED], ms.events,
	         ms.lost);
	if (d && det_count(d)) {
		attron(A_REVERSE | A_BOLD);
		mvprintw(1, 0, " DEADLOCK: %zu found - %.*s ", det_count(d),
		         COLS > 40 ? COLS - 30 : 10,
		         det_get(d, det_count(d) - 1)->text ? det_get(d, det_count(d) - 1)->text
		                                            : "");
		attroff(A_REVERSE | A_BOLD);
	}
	static const char *const heads[NCOLS] = {"ID",  "NAME",  "STATE", "WAITS ON",
	                                         "FOR", "POLLS", "WORKER"};
	static const int widths[NCOLS] = {8, -16, -8, -28, 10, 8, 6};
	move(2, 0);
	for (int k = 0; k < NCOLS; k++) {
		attr_t a = A_BOLD | (k == r->v->col ? A_REVERSE : 0);
		attron(a);
		printw("%*s", widths[k], heads[k]);
		attroff(a);
		addch(' ');
	}
	if (r->v->filter[0])
		printw(" filter: %s", r->v->filter);
	int rows_shown = LINES - 3 > 0 ? LINES - 3 : 0;
	if (*top + (size_t)rows_shown > r->n)
		*top = r->n > (size_t)rows_shown ? r->n - (size_t)rows_shown : 0;
	for (int i = 0; i < rows_shown && *top + (size_t)i < r->n; i++) {
		const model_task *t = r->t[*top + (size_t)i];
		char waits[64], dur[32], wk[8] = "-";
		wait_text(m, t, waits, sizeof(waits));
		if (t->cur.state == MS_RUNNING && t->cur.worker != 0xffff)
			snprintf(wk, sizeof(wk), "%u", (unsigned)t->cur.worker);
		int64_t end = t->ended_ns >= 0 ? t->ended_ns : now_ns;
		mvprintw(3 + i, 0, "%8" PRIu64 " %-16.16s %-8s %-28.28s %10s %8" PRIu64 " %6s",
		         t->id, t->name, t->ended_ns >= 0 ? "done" : state_name(t), waits,
		         ts_fmt_ns(end - t->cur.start_ns, dur, sizeof(dur)), t->polls, wk);
	}
	refresh();
}

int cmd_top(int argc, char **argv)
{
	static const struct option opts[] = {{"refresh", required_argument, NULL, 'r'},
	                                     {"help", no_argument, NULL, 'h'},
	                                     {NULL, 0, NULL, 0}};
	int64_t refresh_ns = DEFAULT_REFRESH_MS * 1000000LL;
	char err[512], path[256];
	int ch;
	ts_cmd = "top";
	optind = 1;
	while ((ch = getopt_long(argc, argv, "r:h", opts, NULL)) != -1) {
		switch (ch) {
		case 'r': {
			int64_t ns;
			if (ts_parse_duration(optarg, &ns) < 0 || ns <= 0)
				ts_usage_err("bad --refresh '%s'", optarg);
			/* a bare number is milliseconds here */
			refresh_ns =
			        strspn(optarg, "0123456789") == strlen(optarg) ? ns / 1000 : ns;
			break;
		}
		case 'h':
			fputs(help, stdout);
			return EXIT_OK;
		default:
			ts_usage_err("bad option");
		}
	}
	if (optind >= argc)
		ts_usage_err("missing PID");
	pid_t pid;
	if (coll_resolve(argv[optind], path, sizeof(path), &pid, err, sizeof(err)) < 0) {
		ts_err("%s", err);
		return EXIT_ERR;
	}
	coll *c;
	if (coll_open(path, COLL_STREAM, NULL, &c, err, sizeof(err)) < 0) {
		ts_err("%s", err);
		return EXIT_ERR;
	}
	coll_detect(c, NULL, NULL, NULL);
	catch_signals();
	initscr();
	curses_on = 1;
	cbreak();
	noecho();
	keypad(stdscr, TRUE);
	curs_set(0);
	timeout(1);
	view v = {.col = COL_ID};
	rows r = {.v = &v};
	size_t top = 0;
	int help_on = 0, editing = 0;
	int paused = 0;
	int64_t last_draw = 0, last_live = ts_mono_ns();
	while (!stop_signal) {
		coll_pass(c, 0);
		int64_t now = ts_mono_ns();
		if (!paused && !help_on && now - last_draw >= refresh_ns) {
			draw(c, &r, &top, now - coll_info(c)->created_mono_ns);
			last_draw = now;
		}
		int key = getch();
		if (key != ERR && help_on) {
			help_on = 0;
			last_draw = 0;
			continue;
		}
		if (editing && key != ERR) {
			size_t n = strlen(v.filter);
			if (key == '\n' || key == KEY_ENTER) {
				editing = 0;
			} else if (key == 27) {
				v.filter[0] = 0;
				editing = 0;
			} else if ((key == KEY_BACKSPACE || key == 127 || key == 8) && n) {
				v.filter[n - 1] = 0;
			} else if (key >= 32 && key < 127 && n + 1 < sizeof(v.filter)) {
				v.filter[n] = (char)key;
				v.filter[n + 1] = 0;
			}
			top = 0;
			last_draw = 0;
			continue;
		}
		if (key == 'q' || key == 'Q')
			break;
		size_t page = LINES > 4 ? (size_t)LINES - 4 : 1;
		switch (key) {
		case KEY_DOWN:
		case 'j':
			top++;
			break;
		case KEY_UP:
		case 'k':
			top = top ? top - 1 : 0;
			break;
		case KEY_NPAGE:
			top += page;
			break;
		case KEY_PPAGE:
			top = top > page ? top - page : 0;
			break;
		case KEY_HOME:
		case 'g':
			top = 0;
			break;
		case KEY_END:
		case 'G':
			top = SIZE_MAX / 2;
			break;
		case ' ':
			paused = !paused;
			break;
		case '<':
			v.col = (v.col + NCOLS - 1) % NCOLS;
			break;
		case '>':
		case 's':
			v.col = (v.col + 1) % NCOLS;
			break;
		case 'i':
			v.reverse = !v.reverse;
			break;
		case 'h':
			v.show_done = !v.show_done;
			break;
		case '/':
			editing = 1;
			v.filter[0] = 0;
			break;
		case '?':
			help_on = 1;
			draw_help();
			break;
		case KEY_RESIZE:
			last_draw = 0;
			break;
		default:
			break;
		}
		if (key != ERR)
			last_draw = paused ? last_draw : 0;
		if (now - last_live >= 1000000000) {
			last_live = now;
			if (coll_liveness(c) != TSK_RD_LIVE)
				break; /* the process is gone */
		}
	}
	endwin();
	curses_on = 0;
	coll_pass(c, 1);
	coll_detach(c);
	coll_close(c);
	free(r.t);
	return EXIT_OK;
}
