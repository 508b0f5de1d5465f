/*
 * tui.c - `taskscope top PID` (tui.h): the loop, the terminal, the header
 * and the view stack; `replay`'s and `run`'s too (tui_run: run's program
 * is reaped by the loop, which then keeps its final state on screen).
 *
 * One thread: each turn drains the segment's rings into the model (the
 * collector in stream mode, without a history for top, into run's
 * recording for run --record, committed once a second by tui_live.tick;
 * the deadlock detector watches as for `record`), and every refresh
 * interval the top view draws its visible rows.  The terminal is restored on every way out: q,
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
#include <sys/wait.h>
#include <unistd.h>

#include <curses.h>
#include <term.h>

#include "cmd.h"
#include "idmap.h"
#include "replay.h"
#include "report.h"
#include "tui.h"
#include "util.h"

#define DEFAULT_REFRESH_NS 100000000 /* 10 Hz */
#define MAX_VIEWS          8
#define TIME_LIMIT         ((int64_t)1 << 62)
#define BODY_Y             2       /* a view's first line: below the header and the banner */
#define WORK_SLICE_NS      1000000 /* a view's work per turn of the loop: a key waits no longer */

typedef struct tui_view {
	const tui_view_ops *ops;
	void *state;
} tui_view;

/* --frame-stats: the time to draw each frame, and the longest steps of
 * the loop between frames, in which a key waits: a pass of the collector
 * (draining the segment, the periodic resync, the detector) and a slice
 * of a view's work. */
typedef struct frame_timer {
	int64_t *frames;
	size_t n, cap;
	int64_t longest_pass, longest_work;
} frame_timer;

typedef struct hist_ring {
	tui_span s[TUI_SPANS];
	uint32_t next, n;
} hist_ring;

typedef struct worker_ring {
	tui_span s[TUI_WORKER_SPANS];
	uint32_t next, n;
} worker_ring;

struct tui {
	coll *c;            /* live (top): the collector; NULL in a replay */
	replay *rp;         /* replay: the history; NULL live */
	model *m;           /* what the views draw */
	uint64_t gen;       /* bumped when m is replaced (a replay's cursor moved) */
	idmap hist;         /* live: task id -> hist_ring */
	uint64_t *hist_ids; /* live: the ids in hist, swept for tasks ended (hist_sweep) */
	size_t nhist_ids, caphist_ids, hist_pos;
	idmap whist;     /* live: worker index + 1 -> worker_ring */
	int64_t now_ns;  /* live: this frame's process ns; replay: the cursor */
	char prompt[64]; /* replay's "go to time" input, while prompting */
	int prompting;
	const char *target; /* live: where the recording goes (run --record), or NULL */
	tui_live *live;     /* live: the options (run: the program and how it ended) */
	uint64_t rate;      /* live: events applied since rate_ns, for events/s */
	int64_t rate_ns;
	int64_t attach_ns; /* live: process ns when the views started */
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
	/* the handler runs on its own stack: a stack overflow is a SIGSEGV too */
	static char altstack[64 * 1024];
	stack_t ss = {.ss_sp = altstack, .ss_size = sizeof(altstack)};
	sigaltstack(&ss, NULL);
	sa.sa_handler = on_fatal;
	sa.sa_flags = (int)(SA_RESETHAND | SA_ONSTACK);
	static const int fatal[] = {SIGSEGV, SIGBUS,  SIGABRT, SIGFPE,  SIGILL,
	                            SIGQUIT, SIGTRAP, SIGSYS,  SIGXCPU, SIGXFSZ};
	for (size_t i = 0; i < sizeof(fatal) / sizeof(fatal[0]); i++)
		sigaction(fatal[i], &sa, NULL);
}

/* ---- services to views ---------------------------------------------------------- */

model *tui_model(tui *t)
{
	return t->m;
}

uint64_t tui_generation(tui *t)
{
	return t->gen;
}

int64_t tui_first_ns(tui *t)
{
	return t->rp ? replay_first_ns(t->rp) : t->attach_ns;
}

int tui_replaying(tui *t)
{
	return t->rp != NULL;
}

int tui_string(tui *t, uint32_t id, char *buf, size_t cap)
{
	if (!id)
		return -1;
	return t->rp ? replay_string(t->rp, id, buf, cap) : coll_string(t->c, id, buf, cap);
}

int tui_stack(tui *t, uint32_t id, tsk_seg_stack *out)
{
	if (!id)
		return -1;
	return t->rp ? replay_stack(t->rp, id, out) : coll_stack(t->c, id, out);
}

size_t tui_ndeadlocks(tui *t)
{
	if (t->rp)
		return replay_ndeadlocks(t->rp, t->now_ns);
	det *d = coll_det(t->c);
	return d ? det_count(d) : 0;
}

const det_deadlock *tui_deadlock(tui *t, size_t i)
{
	return t->rp ? replay_deadlock(t->rp, i) : det_get(coll_det(t->c), i);
}

void tui_each_warning(tui *t, void (*fn)(void *ctx, const det_warning *w), void *ctx)
{
	if (t->rp) {
		replay_each_warning(t->rp, t->now_ns, fn, ctx);
		return;
	}
	det *d = coll_det(t->c);
	if (d)
		det_each_warning(d, fn, ctx);
}

int64_t tui_now_ns(tui *t)
{
	return t->now_ns;
}

/* Puts x in a ring of size spans s (next: where, n: how many so far). */
static void ring_put(tui_span *s, uint32_t size, uint32_t *next, uint32_t *n, const tui_span *x)
{
	s[*next] = *x;
	*next = (*next + 1) % size;
	if (*n < size)
		(*n)++;
}

/* The newest min(n, cap) spans of a ring into out, oldest first. */
static size_t ring_get(const tui_span *s, uint32_t size, uint32_t next, uint32_t n, tui_span *out,
                       size_t cap)
{
	if (n > cap)
		n = (uint32_t)cap;
	uint32_t first = (next + size - n) % size;
	for (uint32_t i = 0; i < n; i++)
		out[i] = s[(first + i) % size];
	return n;
}

/* Every closed interval, kept in its task's ring for the timeline (and a
 * running one in its worker's too). */
static void on_interval(void *ctx, const model_interval *iv)
{
	tui *t = ctx;
	hist_ring *r = idmap_get(&t->hist, iv->task);
	if (!r) {
		r = xcalloc(1, sizeof(*r));
		idmap_put(&t->hist, iv->task, r);
		if (t->nhist_ids == t->caphist_ids) {
			t->caphist_ids = t->caphist_ids ? t->caphist_ids * 2 : 1024;
			t->hist_ids = xrealloc(t->hist_ids, t->caphist_ids * sizeof(*t->hist_ids));
		}
		t->hist_ids[t->nhist_ids++] = iv->task;
	}
	tui_span x = {.start_ns = iv->start_ns,
	              .end_ns = iv->end_ns,
	              .obj = iv->state == MS_RUNNING ? iv->task : iv->obj,
	              .site = iv->site,
	              .worker = iv->worker,
	              .state = iv->state};
	if (iv->state == MS_BLOCKED)
		x.wait_kind = iv->wait_kind;
	else
		x.how = iv->how;
	ring_put(r->s, TUI_SPANS, &r->next, &r->n, &x);
	if (iv->state != MS_RUNNING || iv->worker >= MODEL_MAX_WORKERS)
		return;
	worker_ring *w = idmap_get(&t->whist, iv->worker + 1u);
	if (!w) {
		w = xcalloc(1, sizeof(*w));
		idmap_put(&t->whist, iv->worker + 1u, w);
	}
	ring_put(w->s, TUI_WORKER_SPANS, &w->next, &w->n, &x);
}

/* The rings of tasks that ended (or the model forgot) go, HIST_SWEEP ids
 * a turn of the loop: the timeline draws live tasks only, and a program
 * that spawns millions of short tasks must not grow the view. */
#define HIST_SWEEP 256

static void hist_sweep(tui *t)
{
	model_stats ms;
	model_get_stats(t->m, &ms);
	if (t->nhist_ids <= ms.tasks - ms.by_state[MS_DONE] + HIST_SWEEP)
		return; /* about one ring a live task: nothing to sweep */
	for (int k = 0; k < HIST_SWEEP && t->nhist_ids; k++) {
		if (t->hist_pos >= t->nhist_ids)
			t->hist_pos = 0;
		uint64_t id = t->hist_ids[t->hist_pos];
		const model_task *task = model_task_get(t->m, id);
		if (task && task->ended_ns < 0) {
			t->hist_pos++;
			continue;
		}
		free(idmap_del(&t->hist, id));
		t->hist_ids[t->hist_pos] = t->hist_ids[--t->nhist_ids];
	}
}

size_t tui_history(tui *t, uint64_t task, tui_span *out)
{
	if (t->rp)
		return replay_history(t->rp, task, t->now_ns, out, TUI_SPANS);
	hist_ring *r = idmap_get(&t->hist, task);
	return r ? ring_get(r->s, TUI_SPANS, r->next, r->n, out, TUI_SPANS) : 0;
}

size_t tui_worker_history(tui *t, uint32_t worker, tui_span *out, size_t cap)
{
	if (t->rp)
		return replay_worker_history(t->rp, worker, t->now_ns, out, cap);
	worker_ring *r = idmap_get(&t->whist, (uint64_t)worker + 1);
	return r ? ring_get(r->s, TUI_WORKER_SPANS, r->next, r->n, out, cap) : 0;
}

static void free_ring(void *ctx, uint64_t id, void *val)
{
	(void)ctx;
	(void)id;
	free(val);
}

int tui_list_key(int key, size_t *sel)
{
	size_t page = LINES > 6 ? (size_t)LINES - 6 : 1;
	switch (key) {
	case KEY_DOWN:
	case 'j':
		(*sel)++;
		return 1;
	case KEY_UP:
	case 'k':
		*sel = *sel ? *sel - 1 : 0;
		return 1;
	case KEY_NPAGE:
		*sel += page;
		return 1;
	case KEY_PPAGE:
		*sel = *sel > page ? *sel - page : 0;
		return 1;
	case KEY_HOME:
	case 'g':
		*sel = 0;
		return 1;
	case KEY_END:
	case 'G':
		*sel = SIZE_MAX / 2; /* the view clamps it to its last row */
		return 1;
	default:
		return 0;
	}
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

/* replay's cursor keys; a blank line live */
static const char help_replay_keys[] =
        "  [ ] { } g       replay: step to the previous/next change, jump 1/20, go to a time";
/* the q line: run's q differs */
static const char help_quit[] =
        "  ?               this help         q  quit (the program is left as it was)";
static const char *const help_lines[] = {
        "taskscope top - keys",
        "",
        "  up/down j/k     move one row        PgUp/PgDn   one page",
        "  Home/End g/G    first/last row      Enter       the task's detail",
        "  < > s           sort by the previous/next column (s: next)",
        "  i               reverse the order",
        "  /               filter: name, state or wait contains the text (Enter, Esc)",
        "  h               show or hide finished tasks",
        "  Esc, Backspace  back from a detail (j/k PgUp/PgDn scroll a detail)",
        "  mouse           wheel scrolls, click selects, double click opens",
        "  t r p w l       views: tasks, resources, problems, workers, timeline",
        "  + - left right  timeline: zoom on the cursor, scroll; f follow live",
        "  , . < >         timeline: move the cursor (shift-left/right too); w lanes",
        "                  per worker or per task; j/k the lane the cursor describes",
        "  space           pause the view (the recording goes on)",
        help_replay_keys,
        help_quit,
        "",
        "  any key closes this help",
};

static void draw_help(const tui *t)
{
	size_t n = sizeof(help_lines) / sizeof(help_lines[0]);
	int w = 80, h = (int)n + 2;
	int y0 = LINES > h ? (LINES - h) / 2 : 0, x0 = COLS > w ? (COLS - w) / 2 : 0;
	int run = t->live && t->live->child;
	for (int y = 0; y < h && y0 + y < LINES; y++)
		mvhline(y0 + y, x0, ' ', w);
	for (size_t i = 0; i < n; i++) {
		const char *line = help_lines[i];
		if (run && i == 0)
			line = "taskscope run - keys";
		else if (t->rp && i == 0)
			line = "taskscope replay - keys";
		else if (!t->rp && line == help_replay_keys)
			line = "";
		else if (run && line == help_quit)
			line = "  ?               this help         q  close the view (see run "
			       "--help)";
		mvprintw(y0 + 1 + (int)i, x0 + 2, "%.*s", w - 4, line);
	}
	refresh();
}

/* ", exited 3", ", killed by SIGTERM": how run's program ended. */
static const char *exit_text(int status, char *buf, size_t cap)
{
	if (WIFEXITED(status)) {
		snprintf(buf, cap, ", exited %d", WEXITSTATUS(status));
	} else if (WIFSIGNALED(status)) {
		const char *name = sigabbrev_np(WTERMSIG(status));
		if (name)
			snprintf(buf, cap, ", killed by SIG%s", name);
		else
			snprintf(buf, cap, ", killed by signal %d", WTERMSIG(status));
	} else {
		snprintf(buf, cap, ", ended");
	}
	return buf;
}

static void draw_banner(tui *t)
{
	size_t n = tui_ndeadlocks(t);
	if (!n)
		return;
	const det_deadlock *dl = tui_deadlock(t, n - 1);
	if (has_colors())
		attron(COLOR_PAIR(1));
	attron(A_BOLD | A_REVERSE);
	mvprintw(1, 0, " DEADLOCK (%zu): %.*s ", n, COLS > 24 ? COLS - 20 : 4,
	         dl->text ? dl->text : "");
	attroff(A_BOLD | A_REVERSE);
	if (has_colors())
		attroff(COLOR_PAIR(1));
}

/* 950, 12.3k, 4.5M */
static const char *fmt_rate(double r, char *buf, size_t cap)
{
	if (r < 1000)
		snprintf(buf, cap, "%.0f", r);
	else if (r < 1e6)
		snprintf(buf, cap, "%.1fk", r / 1e3);
	else
		snprintf(buf, cap, "%.1fM", r / 1e6);
	return buf;
}

static void draw(tui *t, int paused)
{
	model_stats ms;
	model_get_stats(t->m, &ms);
	char up[32], a[32], b[32];
	erase();
	if (t->rp) {
		mvprintw(0, 0,
		         "replay %s (pid %d)  at %s of %s  %" PRIu64 " running, %" PRIu64
		         " ready, %" PRIu64 " blocked, %" PRIu64 " done",
		         replay_program(t->rp), replay_pid(t->rp),
		         ts_fmt_ns(t->now_ns, up, sizeof(up)),
		         ts_fmt_ns(replay_last_ns(t->rp), a, sizeof(a)), ms.by_state[MS_RUNNING],
		         ms.by_state[MS_READY], ms.by_state[MS_BLOCKED], ms.by_state[MS_DONE]);
	} else {
		coll_stats cs;
		coll_get_stats(t->c, &cs);
		const tsk_rd_info *info = coll_info(t->c);
		double secs = (double)(t->now_ns - t->rate_ns) / 1e9;
		int exited = t->live && t->live->child_exited;
		char how[48] = "";
		if (exited)
			exit_text(t->live->child_status, how, sizeof(how));
		mvprintw(0, 0,
		         "%s (pid %d%s)  %s %s  %" PRIu64 " running, %" PRIu64 " ready, %" PRIu64
		         " blocked, %" PRIu64 " done  %s ev/s  lost %" PRIu64 "%s%s%s",
		         info->program, info->pid, how, exited ? "ran" : "up",
		         ts_fmt_ns(t->now_ns, up, sizeof(up)), ms.by_state[MS_RUNNING],
		         ms.by_state[MS_READY], ms.by_state[MS_BLOCKED], ms.by_state[MS_DONE],
		         fmt_rate(secs > 0 ? (double)t->rate / secs : 0, b, sizeof(b)),
		         cs.lost > cs.lost_writer ? cs.lost : cs.lost_writer,
		         t->target ? "  -> " : "", t->target ? t->target : "",
		         paused ? "  [paused]" : "");
	}
	draw_banner(t);
	tui_view *v = &t->views[t->nviews - 1];
	v->ops->draw(t, v->state, BODY_Y, LINES - 1 - BODY_Y);
	if (t->prompting)
		mvprintw(LINES - 1, 0, "go to time (s, or +/-duration): %s_", t->prompt);
	else if (t->status[0])
		mvprintw(LINES - 1, 0, "%.*s", COLS, t->status);
	else if (t->rp)
		mvprintw(LINES - 1, 0,
		         "%s   [ ] step  { } jump  g time  t r p w l views  ? help  q quit",
		         v->ops->name);
	else
		mvprintw(LINES - 1, 0,
		         "%s   t tasks  r resources  p problems  %s  l timeline  ? help  q quit",
		         v->ops->name,
		         v->ops == &tui_timeline_view ? "w worker lanes" : "w workers");
	refresh();
}

/* ---- the loop --------------------------------------------------------------------------- */

static int cmp_i64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
	return x < y ? -1 : x > y;
}

/* Replay: moves the cursor to T (clamped to the history) and rebuilds the
 * model there. */
static void seek(tui *t, int64_t T)
{
	if (T < replay_first_ns(t->rp))
		T = replay_first_ns(t->rp);
	if (T > replay_last_ns(t->rp))
		T = replay_last_ns(t->rp);
	t->now_ns = T;
	t->m = replay_model_at(t->rp, T);
	t->gen++;
}

/* "1.5" (seconds), "250ms", "+10ms", "-1s": the time the prompt names. */
static int parse_time(const tui *t, const char *s, int64_t *out)
{
	int sign = 0;
	if (*s == '+' || *s == '-')
		sign = *s++ == '+' ? 1 : -1;
	int64_t ns;
	char *end;
	double secs = strtod(s, &end);
	if (end != s && !*end && secs >= 0 && secs < 1e9)
		ns = (int64_t)(secs * 1e9);
	else if (ts_parse_duration(s, &ns) < 0)
		return -1;
	if (ns > TIME_LIMIT)
		ns = TIME_LIMIT; /* histories' times are within +-2^62 (replay_open) */
	*out = sign ? t->now_ns + sign * ns : ns;
	return 0;
}

/* The replay's cursor keys (before the view's: g is the view's "first
 * row" elsewhere).  1 if handled. */
static int replay_key(tui *t, int key)
{
	if (t->prompting) {
		size_t n = strlen(t->prompt);
		if (key == '\n' || key == KEY_ENTER) {
			int64_t T;
			t->prompting = 0;
			if (parse_time(t, t->prompt, &T) < 0)
				tui_status(
				        t,
				        "not a time: '%s' (seconds, or a duration such as 250ms)",
				        t->prompt);
			else
				seek(t, T);
		} else if (key == 27) {
			t->prompting = 0;
		} else if (key == KEY_BACKSPACE || key == 127 || key == 8) {
			if (n)
				t->prompt[n - 1] = 0;
		} else if (key >= 32 && key < 127 && n + 1 < sizeof(t->prompt)) {
			t->prompt[n] = (char)key;
			t->prompt[n + 1] = 0;
		}
		return 1;
	}
	int64_t span = replay_last_ns(t->rp) - replay_first_ns(t->rp);
	switch (key) {
	case ']':
		seek(t, replay_step(t->rp, t->now_ns, 1));
		return 1;
	case '[':
		seek(t, replay_step(t->rp, t->now_ns, -1));
		return 1;
	case '}':
		seek(t, t->now_ns + (span / 20 > 0 ? span / 20 : 1));
		return 1;
	case '{':
		seek(t, t->now_ns - (span / 20 > 0 ? span / 20 : 1));
		return 1;
	case 'g':
		t->prompting = 1;
		t->prompt[0] = 0;
		return 1;
	default:
		return 0;
	}
}

/* The wheel scrolls (as arrow keys), a click selects the line under it,
 * a double click opens it (as Enter). */
static void mouse(tui *t)
{
	MEVENT ev;
	if (getmouse(&ev) != OK)
		return;
	tui_view *v = &t->views[t->nviews - 1];
	if (ev.bstate & (BUTTON4_PRESSED | BUTTON5_PRESSED)) {
		for (int i = 0; i < 3; i++)
			v->ops->key(t, v->state, ev.bstate & BUTTON4_PRESSED ? KEY_UP : KEY_DOWN);
		return;
	}
	if (!v->ops->click || ev.y < BODY_Y || ev.y >= LINES - 1)
		return;
	if (v->ops->click(t, v->state, ev.y - BODY_Y) && (ev.bstate & BUTTON1_DOUBLE_CLICKED))
		v->ops->key(t, v->state, '\n');
}

static void start_curses(void)
{
	catch_signals();
	initscr();
	curses_on = 1;
	cbreak();
	noecho();
	keypad(stdscr, TRUE);
	set_escdelay(25);
	curs_set(0);
	timeout(1);
	mousemask(BUTTON1_CLICKED | BUTTON1_DOUBLE_CLICKED | BUTTON4_PRESSED | BUTTON5_PRESSED,
	          NULL);
	if (has_colors() && !getenv("NO_COLOR")) {
		start_color();
		use_default_colors();
		init_pair(1, COLOR_RED, -1);
		init_pair(2, COLOR_GREEN, -1);
		init_pair(3, COLOR_YELLOW, -1);
		init_pair(4, COLOR_CYAN, -1);
	}
}

/* run: reaps the program if it has exited; then applies its last records
 * and freezes the clock of the view at its end.  1 if it has exited (now
 * or before). */
static int reap(tui *t, int64_t now)
{
	tui_live *l = t->live;
	int status;
	if (!l || !l->child)
		return 0;
	if (l->child_exited)
		return 1;
	if (waitpid(l->child, &status, WNOHANG) != l->child)
		return 0;
	l->child_exited = 1;
	l->child_status = status;
	l->child_exit_mono_ns = now;
	ssize_t n = coll_pass(t->c, 1); /* nothing can come after these */
	if (n > 0)
		t->rate += (uint64_t)n;
	t->now_ns = now - coll_info(t->c)->created_mono_ns;
	char how[48];
	tui_status(t, "%s%s: the views keep its final state (h: finished tasks too); q quits",
	           coll_info(t->c)->program, exit_text(status, how, sizeof(how)) + 1);
	return 1;
}

static void add_frame(frame_timer *fs, int64_t ns)
{
	if (fs->n == fs->cap) {
		fs->cap = fs->cap ? fs->cap * 2 : 1024;
		fs->frames = xrealloc(fs->frames, fs->cap * sizeof(*fs->frames));
	}
	fs->frames[fs->n++] = ns;
}

/* The top view's work for one slice: a tui_work. */
static int view_work(tui *t)
{
	tui_view *v = &t->views[t->nviews - 1];
	return v->ops->work ? v->ops->work(t, v->state, ts_mono_ns() + WORK_SLICE_NS) : TUI_IDLE;
}

/* The loop of top, run and replay: drain the segment (live), draw every
 * refresh interval, give the top view a slice of work, hand keys to the
 * top view, then to the loop.  idle_ms: how long to wait for a key when
 * the view has no work.  fs: NULL, or the frame timer to fill.  Once
 * run's program has exited, nothing is read any more. */
static void loop(tui *t, int64_t refresh_ns, int idle_ms, frame_timer *fs)
{
	int paused = 0, help_on = 0, ended = 0;
	int64_t last_draw = 0, last_live = ts_mono_ns(), last_tick = last_live;
	while (!stop_signal) {
		int64_t turn = ts_mono_ns();
		if (t->c && !ended) {
			hist_sweep(t);
			ssize_t n = coll_pass(t->c, 0);
			if (n > 0)
				t->rate += (uint64_t)n;
		}
		int64_t now = ts_mono_ns();
		/* between frames: the attach's first drain is not */
		if (fs && fs->n && now - turn > fs->longest_pass)
			fs->longest_pass = now - turn;
		if (t->c && !ended && reap(t, now)) {
			ended = 1;
			last_draw = 0;
		}
		if (t->c && !ended && t->live && t->live->tick && now - last_tick >= 1000000000) {
			t->live->tick(t->live->tick_ctx);
			last_tick = now;
		}
		/* paused: drawn again only after a key (or a resize), the clock
		 * stopped */
		if (!help_on && (paused ? !last_draw : now - last_draw >= refresh_ns)) {
			if (t->c && !ended && !paused) {
				t->now_ns = now - coll_info(t->c)->created_mono_ns;
				if (t->now_ns - t->rate_ns >= 2000000000) {
					/* events/s over the last one to two seconds */
					t->rate_ns = t->now_ns - 1000000000;
					t->rate /= 2;
				}
			}
			draw(t, paused);
			last_draw = now;
			if (fs)
				add_frame(fs, ts_mono_ns() - now);
		}
		int work = TUI_IDLE;
		if (!paused && !help_on) {
			int64_t w0 = ts_mono_ns();
			work = view_work(t);
			if (work == TUI_CHANGED)
				last_draw = 0;
			if (fs && ts_mono_ns() - w0 > fs->longest_work)
				fs->longest_work = ts_mono_ns() - w0;
		}
		timeout(work == TUI_IDLE ? idle_ms : 0); /* busy: back to the work at once */
		int key = getch();
		if (key == ERR) {
			/* run reaps its program instead: a zombie is not live */
			if (t->c && !(t->live && t->live->child) && now - last_live >= 1000000000) {
				last_live = now;
				if (coll_liveness(t->c) != TSK_RD_LIVE)
					break; /* the process is gone */
			}
			continue;
		}
		t->status[0] = 0;
		last_draw = 0; /* a key redraws at once */
		if (help_on) {
			help_on = 0;
			continue;
		}
		tui_view *top = &t->views[t->nviews - 1];
		int typing = top->ops->editing && top->ops->editing(top->state);
		if (t->rp && !typing && replay_key(t, key))
			continue;
		if (key == KEY_MOUSE) {
			mouse(t);
			continue;
		}
		tui_view *v = &t->views[t->nviews - 1];
		if (v->ops->key(t, v->state, key))
			continue;
		if (key == 'q' || key == 'Q')
			break;
		if (key == ' ') {
			paused = !paused;
		} else if (key == '?') {
			help_on = 1;
			draw_help(t);
		} else if (key == 't') {
			tui_switch(t, &tui_tasks_view, tui_tasks_new());
		} else if (key == 'r') {
			tui_switch(t, &tui_resources_view, tui_resources_new(0));
		} else if (key == 'p') {
			tui_switch(t, &tui_problems_view, tui_problems_new());
		} else if (key == 'w') {
			tui_switch(t, &tui_workers_view, tui_workers_new());
		} else if (key == 'l') {
			tui_switch(t, &tui_timeline_view, tui_timeline_new());
		}
	}
	curses_on = 0;
	endwin();
}

static void free_views(tui *t)
{
	while (t->nviews > 1)
		tui_pop(t);
	if (t->nviews)
		t->views[0].ops->free(t->views[0].state);
	t->nviews = 0;
}

static void print_frames(frame_timer *fs, const model *m)
{
	if (!fs->n)
		return;
	/* the frame timer bench/tui.sh reads: the time to draw a frame, and
	 * how long a key may have waited for the loop */
	model_stats ms;
	model_get_stats(m, &ms);
	qsort(fs->frames, fs->n, sizeof(*fs->frames), cmp_i64);
	fprintf(stderr,
	        "taskscope %s: %zu frames, median %.3f ms, p99 %.3f ms, max %.3f ms, %" PRIu64
	        " tasks alive; between frames, longest view work %.3f ms, longest collector pass "
	        "%.3f ms\n",
	        ts_cmd, fs->n, (double)fs->frames[fs->n / 2] / 1e6,
	        (double)fs->frames[fs->n * 99 / 100] / 1e6, (double)fs->frames[fs->n - 1] / 1e6,
	        ms.tasks - ms.by_state[MS_DONE], (double)fs->longest_work / 1e6,
	        (double)fs->longest_pass / 1e6);
}

int tui_run_live(coll *c, const char *target, int64_t refresh_ns, int frame_stats)
{
	tui_live l = {.target = target, .refresh_ns = refresh_ns, .frame_stats = frame_stats};
	return tui_run(c, &l);
}

int tui_run(coll *c, tui_live *l)
{
	tui t = {0};
	frame_timer fs = {0};
	t.c = c;
	t.m = coll_model(c);
	t.target = l->target;
	t.live = l;
	l->child_exited = 0;
	l->child_status = 0;
	t.attach_ns = t.rate_ns = ts_mono_ns() - coll_info(c)->created_mono_ns;
	idmap_init(&t.hist);
	idmap_init(&t.whist);
	coll_on_interval(c, on_interval, &t);
	tui_push(&t, &tui_tasks_view, tui_tasks_new());
	if (l->note)
		tui_status(&t, "%s", l->note);
	start_curses();
	loop(&t, l->refresh_ns > 0 ? l->refresh_ns : DEFAULT_REFRESH_NS, 1,
	     l->frame_stats ? &fs : NULL);
	coll_on_interval(c, NULL, NULL);
	free_views(&t);
	if (l->frame_stats)
		print_frames(&fs, t.m);
	free(fs.frames);
	idmap_each(&t.hist, free_ring, NULL);
	idmap_fini(&t.hist);
	free(t.hist_ids);
	idmap_each(&t.whist, free_ring, NULL);
	idmap_fini(&t.whist);
	return stop_signal;
}

/* ---- the commands ---------------------------------------------------------------------- */

int tui_terminal_ok(char *err, size_t cap)
{
	int e = 0;
	const char *term = getenv("TERM");
	if (!isatty(STDIN_FILENO) || !isatty(STDOUT_FILENO)) {
		snprintf(err, cap, "the live view needs a terminal (standard %s is not one)",
		         isatty(STDIN_FILENO) ? "output" : "input");
		return -1;
	}
	if (!term || !*term) {
		snprintf(err, cap, "the live view needs TERM (it is not set)");
		return -1;
	}
	/* initscr would exit on a terminal it cannot drive: ask terminfo
	 * first (setupterm writes nothing) */
	if (setupterm(NULL, STDOUT_FILENO, &e) != OK) {
		snprintf(err, cap, "the live view cannot drive TERM=%s (%s)", term,
		         e == 1   ? "a hardcopy terminal"
		         : e == 0 ? "unknown to terminfo"
		                  : "no terminfo database");
		return -1;
	}
	char *cup = tigetstr("cup");
	int ok = cup && cup != (char *)-1;
	del_curterm(cur_term);
	if (!ok) {
		snprintf(err, cap, "the live view cannot drive TERM=%s (no cursor addressing)",
		         term);
		return -1;
	}
	return 0;
}

int64_t tui_parse_refresh(const char *arg)
{
	char *end;
	long ms = strtol(arg, &end, 10);
	if (*end || end == arg || ms < 10 || ms > 60000)
		ts_usage_err("bad --refresh '%s' (milliseconds, 10 to 60000)", arg);
	return ms * 1000000LL;
}

static const char help_top[] =
        "NAME\n"
        "    taskscope top - live view of a running process's tasks\n"
        "\n"
        "SYNOPSIS\n"
        "    taskscope top PID [-r MS] [--frame-stats]\n"
        "\n"
        "DESCRIPTION\n"
        "    Attaches to process PID (linked with libtaskscope) and shows its tasks\n"
        "    live: state, what each waits on and for how long, polls, worker; Enter\n"
        "    shows a task's detail with its wait-for chain.  Views: tasks, resources,\n"
        "    problems (deadlocks and warnings), workers, timeline.  The deadlock\n"
        "    detector runs as for `taskscope record`: a deadlock shows as a red\n"
        "    banner.  Detaching (q) leaves the program as it was.  NO_COLOR turns\n"
        "    colours off.\n"
        "\n"
        "OPTIONS\n"
        "    -r, --refresh MS   redraw every MS milliseconds (default 100)\n"
        "    --frame-stats      on exit, the frame timer on stderr: frames drawn,\n"
        "                       median, 99th percentile and longest time to draw one;\n"
        "                       between frames, the longest slice of a view's work\n"
        "                       and the longest pass of the collector (a key waits\n"
        "                       for them)\n"
        "    -h, --help         this page\n"
        "\n"
        "KEYS\n"
        "    ? in the program lists every key.  q quit; arrows, j/k, PgUp/PgDn,\n"
        "    Home/End move; Enter detail; Esc back; t r p w l views; space pause.\n"
        "    In the timeline: + - zoom, left/right scroll, f follow live, , . < >\n"
        "    move the cursor (the line below the lanes says what is under it), w\n"
        "    lanes per worker instead of per task.\n"
        "\n"
        "EXIT STATUS\n"
        "    0 detached; 1 no such process, not instrumented, another taskscope\n"
        "    attached; 2 bad usage, or no terminal to draw on; 128+N stopped by\n"
        "    signal N (the terminal restored, the program left as it was).\n";

static const char help_replay[] =
        "NAME\n"
        "    taskscope replay - the views of top over a recorded history\n"
        "\n"
        "SYNOPSIS\n"
        "    taskscope replay DB|PID|SEGMENT [--at TIME]\n"
        "\n"
        "DESCRIPTION\n"
        "    Shows a history written by `taskscope record`, `run --record` or `dump`\n"
        "    (or a process's flight recorder, dumped first) in the views of top, at\n"
        "    a time cursor: every task's state, wait and counters at that instant,\n"
        "    each lock's holders, the deadlocks found by then.  The history is read\n"
        "    once into memory; moving the cursor rebuilds the state from it.\n"
        "\n"
        "OPTIONS\n"
        "    --at TIME          start at TIME: seconds (1.5) or a duration (250ms)\n"
        "                       since the process created its segment; default the\n"
        "                       end of the history\n"
        "    -h, --help         this page\n"
        "\n"
        "KEYS\n"
        "    [ ] step to the previous/next state change of any task; { } jump a\n"
        "    twentieth of the history; g go to a time (1.5, 250ms, +10ms, -1s).\n"
        "    The keys of top move, sort, filter and switch views (? lists them).\n"
        "\n"
        "EXIT STATUS\n"
        "    0 done; 1 unreadable, damaged or foreign history; 2 bad usage, or no\n"
        "    terminal to draw on; 128+N stopped by signal N.\n";

int cmd_top(int argc, char **argv)
{
	static const struct option opts[] = {{"refresh", required_argument, NULL, 'r'},
	                                     {"frame-stats", no_argument, NULL, 'F'},
	                                     {"help", no_argument, NULL, 'h'},
	                                     {NULL, 0, NULL, 0}};
	int64_t refresh_ns = DEFAULT_REFRESH_NS;
	int frame_stats = 0;
	char err[512], path[256];
	int ch;
	ts_cmd = "top";
	optind = 1;
	while ((ch = getopt_long(argc, argv, "r:h", opts, NULL)) != -1) {
		switch (ch) {
		case 'r':
			refresh_ns = tui_parse_refresh(optarg);
			break;
		case 'F':
			frame_stats = 1;
			break;
		case 'h':
			fputs(help_top, stdout);
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
	if (tui_terminal_ok(err, sizeof(err)) < 0)
		ts_usage_err("%s", err);
	coll *c;
	if (coll_open(path, COLL_STREAM, NULL, &c, err, sizeof(err)) < 0) {
		ts_err("%s", err);
		return EXIT_ERR;
	}
	coll_detect(c, NULL, NULL, NULL);
	int sig = tui_run_live(c, NULL, refresh_ns, frame_stats);
	if (!sig && coll_liveness(c) != TSK_RD_LIVE)
		fprintf(stderr, "taskscope top: %s (pid %d) has exited\n", coll_info(c)->program,
		        coll_info(c)->pid);
	coll_pass(c, 1);
	coll_detach(c);
	coll_close(c);
	return sig ? 128 + sig : EXIT_OK;
}

int cmd_replay(int argc, char **argv)
{
	static const struct option opts[] = {{"at", required_argument, NULL, 'a'},
	                                     {"frame-stats", no_argument, NULL, 'F'},
	                                     {"help", no_argument, NULL, 'h'},
	                                     {NULL, 0, NULL, 0}};
	const char *at = NULL;
	int frame_stats = 0, ch;
	char err[512];
	ts_cmd = "replay";
	optind = 1;
	while ((ch = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (ch) {
		case 'a':
			at = optarg;
			break;
		case 'F':
			frame_stats = 1;
			break;
		case 'h':
			fputs(help_replay, stdout);
			return EXIT_OK;
		default:
			ts_usage_err("bad option");
		}
	}
	if (optind >= argc)
		ts_usage_err("missing DB (or PID)");
	if (optind + 1 < argc)
		ts_usage_err("unexpected argument '%s'", argv[optind + 1]);
	tui t = {0};
	int64_t T = 0;
	if (at && parse_time(&t, at, &T) < 0)
		ts_usage_err("bad --at '%s' (seconds, or a duration such as 250ms)", at);
	t.rp = replay_open(argv[optind], err, sizeof(err));
	if (!t.rp) {
		ts_err("%s", err);
		return EXIT_ERR;
	}
	if (tui_terminal_ok(err, sizeof(err)) < 0) {
		replay_close(t.rp);
		ts_usage_err("%s", err);
	}
	seek(&t, at ? T : replay_last_ns(t.rp));
	tui_push(&t, &tui_tasks_view, tui_tasks_new());
	frame_timer fs = {0};
	start_curses();
	/* a replay changes only on a key (or as a view works) */
	loop(&t, DEFAULT_REFRESH_NS, 50, frame_stats ? &fs : NULL);
	free_views(&t);
	if (frame_stats)
		print_frames(&fs, t.m);
	free(fs.frames);
	replay_close(t.rp);
	return stop_signal ? 128 + stop_signal : EXIT_OK;
}
