/*
 * cmd_run.c - `taskscope run -- PROG`: start PROG, attach as soon as its
 * segment appears (its first events are still in the rings), show it in
 * the live views (tui.h) and record it (with --record) until it exits;
 * exit with PROG's status.  --no-tui records headless with record's loop
 * (record_int.h).
 *
 * With the views on, the terminal is theirs: PROG's stdin is /dev/null and
 * its stdout and stderr go to a file (--prog-output, by default
 * PROG.<pid>.out in the current directory, like nohup.out), named on the
 * bottom line and again on exit.  PROG shares taskscope's process group,
 * so a terminal's Ctrl-C reaches both, as in headless run.
 *
 * q closes the views, not the program: taskscope goes on recording (or
 * only waiting) headless until PROG exits, so that the history is whole
 * and the exit status is PROG's; a line on stderr says so and how to stop
 * it.  A program that exits while the views are on leaves its final state
 * on the screen until q.  Deadlocks show in the views' banner while they
 * are on (stderr belongs to the screen then) and are said on stderr when
 * the views close.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cmd.h"
#include "collector.h"
#include "record_int.h"
#include "store.h"
#include "tui.h"
#include "util.h"

static void run_help(void)
{
	printf("NAME\n"
	       "    taskscope run - run a program in the live view, recording it from its\n"
	       "    first event\n"
	       "\n"
	       "SYNOPSIS\n"
	       "    taskscope run [--record DB] [-r MS] [--prog-output FILE] [options]\n"
	       "                  -- PROG [ARGS...]\n"
	       "    taskscope run --no-tui --record DB [options] -- PROG [ARGS...]\n"
	       "\n"
	       "DESCRIPTION\n"
	       "    Starts PROG (a program linked with libtaskscope), attaches as soon as its\n"
	       "    segment appears (its first events are still in its rings) and shows it\n"
	       "    in the views of 'taskscope top' (? lists the keys), with the deadlock\n"
	       "    detector's banner.  With --record it also records PROG into DB, like\n"
	       "    'taskscope record', from the same reading; the header shows '-> DB'.\n"
	       "\n"
	       "    The views own the terminal, so PROG's standard input is /dev/null and\n"
	       "    its standard output and error go to a file: --prog-output FILE, or by\n"
	       "    default PROG.PID.out in the current directory (PID: PROG's; like\n"
	       "    nohup.out, next to where you ran it, one file per run).  Its name is\n"
	       "    shown on the bottom line at the start and printed on exit.\n"
	       "\n"
	       "    When PROG exits the views stay on its final state, the header saying\n"
	       "    how it ended ('exited 0', 'killed by SIGSEGV'), until q (h shows the\n"
	       "    finished tasks).\n"
	       "\n"
	       "    q while PROG still runs closes the views but not PROG: taskscope goes\n"
	       "    on recording (or, without --record, waiting) headless until PROG exits,\n"
	       "    so the history is whole and the exit status is PROG's, and says so on\n"
	       "    stderr.  Stopping works as in headless run: a terminal's Ctrl-C reaches\n"
	       "    PROG itself (and closes the views); SIGTERM and SIGHUP sent to\n"
	       "    taskscope close the views and are passed on to PROG as SIGTERM, a\n"
	       "    second one as SIGKILL.  Deadlocks found while the views were on are\n"
	       "    said on stderr when they close.\n"
	       "\n"
	       "    --no-tui records headless: --record is required, PROG keeps taskscope's\n"
	       "    standard input, output and error (unless --prog-output), deadlocks are\n"
	       "    said on stderr as they are found.  Without a terminal, --no-tui is\n"
	       "    required.\n"
	       "\n"
	       "OPTIONS\n"
	       "    -o, --record DB     the history to write (required with --no-tui);\n"
	       "                        --output DB too, as for record\n"
	       "    --no-tui            record headless, without the views\n"
	       "    -r, --refresh MS    redraw the views every MS milliseconds (default 100)\n"
	       "    --prog-output FILE  PROG's standard output and error (replaced if it\n"
	       "                        exists); default PROG.PID.out with the views on\n"
	       "    --max-size N, --max-age S, -f/--force, --progress, -t/--threshold: as for\n"
	       "    record\n"
	       "    -h, --help          this page\n"
	       "\n"
	       "EXIT STATUS\n"
	       "    PROG's exit status (128 + N if a signal N ended it); 1 if PROG could not\n"
	       "    be started or its output file created, it never created a segment, or\n"
	       "    the DB could not be written; 2 bad usage, or the views without a\n"
	       "    terminal.\n"
	       "\n"
	       "EXAMPLES\n"
	       "    taskscope run --record pool.db -- build/examples/pool --jobs 500\n"
	       "    taskscope run --no-tui --record pool.db -- build/examples/pool --jobs 500\n"
	       "    taskscope report pool.db\n");
}

/* The program run started. */
typedef struct run_prog {
	pid_t pid;
	const char *name;      /* PROG's file name, for messages */
	char output[PATH_MAX]; /* where its stdout and stderr go; "" inherited */
	int default_output;    /* output is our PROG.PID.out, not --prog-output */
} run_prog;

/* What the child reports through the pipe before it dies. */
enum { START_OUTPUT = 1, START_EXEC = 2 };

/* "dir/base.": the default output's name up to the pid, into buf. */
static void output_prefix(const char *prog, char *buf, size_t cap)
{
	const char *base = strrchr(prog, '/');
	char cwd[PATH_MAX];
	base = base ? base + 1 : prog;
	int n = -1;
	if (getcwd(cwd, sizeof(cwd)))
		n = snprintf(buf, cap, "%s/%s.", strcmp(cwd, "/") ? cwd : "", base);
	if (n < 0 || (size_t)n >= cap)
		snprintf(buf, cap, "%s.", base); /* relative then */
}

/* prefix + pid + ".out" into buf, with nothing but stores: the child of a
 * threaded process (the store's writer) may only make async-signal-safe
 * calls before exec. */
static void output_name(char *buf, size_t cap, const char *prefix, pid_t pid)
{
	static const char suffix[] = ".out";
	char digits[16];
	size_t n = 0, d = 0;
	unsigned long v = (unsigned long)pid;
	do
		digits[d++] = (char)('0' + v % 10);
	while ((v /= 10) && d < sizeof(digits));
	for (; *prefix && n + 1 < cap; prefix++)
		buf[n++] = *prefix;
	while (d && n + 1 < cap)
		buf[n++] = digits[--d];
	for (const char *s = suffix; *s && n + 1 < cap; s++)
		buf[n++] = *s;
	buf[n] = 0;
}

/* In the child: stdout and stderr to p->output (or the default name with
 * our pid), stdin from /dev/null (views), then PROG.  Reports a failure
 * through fd as {stage, errno}; never returns. */
static void __attribute__((noreturn))
child_exec(char **argv, run_prog *p, const char *prefix, int views, int fd)
{
	int report[2] = {START_OUTPUT, 0};
	if (p->default_output)
		output_name(p->output, sizeof(p->output), prefix, getpid());
	/* no O_CLOEXEC: a descriptor that is already 0, 1 or 2 (ours were
	 * closed) must survive the exec, and dup2 onto itself keeps the flag */
	if (p->output[0]) {
		int out = open(p->output, O_WRONLY | O_CREAT | O_TRUNC, 0666);
		if (out < 0 || dup2(out, STDOUT_FILENO) < 0 || dup2(out, STDERR_FILENO) < 0)
			goto fail;
		if (out > STDERR_FILENO)
			close(out);
	}
	if (views) {
		int in = open("/dev/null", O_RDONLY);
		if (in > STDIN_FILENO) {
			dup2(in, STDIN_FILENO);
			close(in);
		}
	}
	execvp(argv[0], argv);
	report[0] = START_EXEC;
fail:
	report[1] = errno;
	if (write(fd, report, sizeof(report)) < 0)
		_exit(127);
	_exit(127);
}

/* Starts argv (PROG and its arguments) with its output redirected as p
 * says (p->output set, or p->default_output).  Returns 0 with p->pid (and
 * p->output named), or -1 with a message in err: no fork, PROG not found
 * or not executable, its output file not creatable. */
static int run_start(char **argv, run_prog *p, int views, char *err, size_t cap)
{
	char prefix[PATH_MAX] = "";
	int pipefd[2] = {-1, -1};
	if (p->default_output)
		output_prefix(argv[0], prefix, sizeof(prefix));
	p->name = strrchr(argv[0], '/') ? strrchr(argv[0], '/') + 1 : argv[0];
	p->pid = -1;
	if (pipe2(pipefd, O_CLOEXEC) < 0 || (p->pid = fork()) < 0) {
		snprintf(err, cap, "%s: %s", pipefd[0] >= 0 ? "fork" : "pipe", strerror(errno));
		if (pipefd[0] >= 0) {
			close(pipefd[0]);
			close(pipefd[1]);
		}
		return -1;
	}
	if (p->pid == 0) {
		close(pipefd[0]);
		child_exec(argv, p, prefix, views, pipefd[1]);
	}
	close(pipefd[1]);
	if (p->default_output)
		output_name(p->output, sizeof(p->output), prefix, p->pid);
	int report[2];
	ssize_t got = read(pipefd[0], report, sizeof(report));
	close(pipefd[0]);
	if (got != (ssize_t)sizeof(report))
		return 0; /* exec closed the pipe: PROG runs */
	waitpid(p->pid, NULL, 0);
	if (report[0] == START_OUTPUT) {
		snprintf(err, cap, "cannot create %.300s for %s's output: %s%s", p->output, p->name,
		         strerror(report[1]),
		         p->default_output ? " (choose another with --prog-output FILE)" : "");
	} else {
		snprintf(err, cap, "%s: %s", argv[0], strerror(report[1]));
		if (p->default_output)
			unlink(p->output); /* empty: PROG never ran */
	}
	return -1;
}

/* Waits for the segment of child (started now).  Returns 0 with its path,
 * 1 if the child exited first (its wait status in *status), -1 on timeout
 * (10 s). */
static int wait_segment(pid_t child, char *path, size_t cap, int *status)
{
	uint64_t start;
	char state;
	int64_t deadline = ts_mono_ns() + 10 * 1000000000LL;
	while (ts_mono_ns() < deadline) {
		if (waitpid(child, status, WNOHANG) == child)
			return 1;
		if (tsk_reader_proc_start(child, &start, &state) == 0 &&
		    tsk_reader_find(NULL, child, path, cap) == 0) {
			/* a dead process's older segment with this pid does not count */
			char want[64];
			snprintf(want, sizeof(want), "%s%d.%" PRIu64, TSK_SEG_PREFIX, (int)child,
			         start);
			const char *base = strrchr(path, '/');
			if (base && strcmp(base + 1, want) == 0) {
				tsk_reader *r;
				/* the header may still be being written */
				if (tsk_reader_open(path, 0, &r) == 0) {
					tsk_reader_close(r);
					return 0;
				}
			}
		}
		record__sleep_ns(200000);
	}
	return -1;
}

static int exit_status_of(int status)
{
	if (WIFEXITED(status))
		return WEXITSTATUS(status);
	if (WIFSIGNALED(status))
		return 128 + WTERMSIG(status);
	return EXIT_ERR;
}

/* The last line of a run whose program's output went to a file. */
static void say_output(const run_prog *p)
{
	if (p->output[0])
		fprintf(stderr, "taskscope run: %s's standard output and error are in %s\n",
		        p->name, p->output);
}

/* A failed start: the DB (if any) is removed, st freed. */
static void abandon(store *st, const char *db)
{
	char err[512];
	if (!st)
		return;
	store_close(st, 0, err, sizeof(err));
	unlink(db);
}

/* The views are closed without a recording: waits until child exits (its
 * wait status in *status), with headless run's signals (record__loop):
 * SIGTERM or SIGHUP passed on as SIGTERM, a second one as SIGKILL; SIGINT
 * came from the terminal, which sent it to child too. */
static void wait_child(pid_t child, int *status)
{
	int forwarded = 0;
	while (waitpid(child, status, WNOHANG) != child) {
		if (record__stop_signal) {
			if (record__stop_signal != SIGINT)
				kill(child, forwarded++ ? SIGKILL : SIGTERM);
			record__stop_signal = 0;
		}
		record__sleep_ns(10000000);
	}
}

/* The views' shared state with the collector's callbacks. */
typedef struct run_view {
	coll *c;
	store *st;
	int quiet; /* 1 while the views own the terminal: no verdicts on stderr */
} run_view;

static void announce(void *ctx, const det_deadlock *d)
{
	const run_view *v = ctx;
	if (!v->quiet)
		record__announce(NULL, d);
}

/* Once a second while the views read (tui_live.tick): what record's loop
 * does once a second, a commit of the recording. */
static void commit(void *ctx)
{
	run_view *v = ctx;
	coll_update_process(v->c);
	store_flush(v->st);
}

/* The views on c (reading p's segment, recording into st if not NULL),
 * then headless until p exits.  Frees st and c.  Returns the exit status. */
static int run_views(coll *c, store *st, const rec_opts *o, const run_prog *p, int64_t refresh_ns,
                     int64_t t0)
{
	run_view v = {c, st, 1};
	char note[PATH_MAX + 64];
	coll_detect(c, &o->dc, announce, &v);
	snprintf(note, sizeof(note), "%s's output: %s", p->name, p->output);
	tui_live l = {.target = o->db,
	              .refresh_ns = refresh_ns,
	              .note = note,
	              .child = p->pid,
	              .tick = st ? commit : NULL,
	              .tick_ctx = &v};
	int sig = 0;
	/* a stop signal while PROG was starting: no views, straight to the end */
	if (!record__stop_signal)
		sig = tui_run(c, &l);
	record__catch_signals(); /* the views had theirs */
	v.quiet = 0;
	det *d = coll_det(c);
	for (size_t i = 0; d && i < det_count(d); i++)
		record__announce(NULL, det_get(d, i));
	int status = l.child_status;
	const char *how = "ran";
	if (!l.child_exited) {
		if (sig)
			record__stop_signal = sig; /* handled as if it came now */
		char why[64] = "";
		if (sig && sig != SIGINT)
			snprintf(why, sizeof(why), " (SIG%s: passed on as SIGTERM)",
			         sigabbrev_np(sig));
		fprintf(stderr,
		        "taskscope run: the view is closed%s; %s %s (pid %d)%s%s until it exits "
		        "(Ctrl-C reaches it; SIGTERM or SIGHUP to taskscope are passed on to it, "
		        "a second one as SIGKILL)\n",
		        why, st ? "recording" : "waiting for", p->name, (int)p->pid,
		        st ? " into " : "", st ? o->db : "");
		if (st) {
			how = record__loop(c, st, o, p->pid, &status);
		} else {
			coll_detach(c);
			wait_child(p->pid, &status);
		}
	} else {
		coll_detach(c); /* the views applied the last records */
		/* the recording ended then, not when q was pressed */
		t0 += ts_mono_ns() - l.child_exit_mono_ns;
	}
	int rc = st ? record__end(c, st, o->db, t0, how) : EXIT_OK;
	coll_close(c);
	say_output(p);
	return rc != EXIT_OK ? rc : exit_status_of(status);
}

int cmd_run(int argc, char **argv)
{
	rec_opts o = {0};
	int status = 0;
	int64_t refresh_ns = 0;
	char err[512], path[256];
	ts_cmd = "run";
	int i = record__parse_opts(argc, argv, &o, 1, run_help, 0);
	if (i < argc && strcmp(argv[i], "--") == 0)
		i++;
	if (i >= argc)
		ts_usage_err("missing PROG (taskscope run [--record DB] -- PROG ARGS...)");
	if (o.no_tui && !o.db)
		ts_usage_err("missing --record DB");
	if (o.no_tui && o.refresh)
		ts_usage_err("--refresh is for the view: not with --no-tui");
	if (o.refresh)
		refresh_ns = tui_parse_refresh(o.refresh);
	if (!o.no_tui && tui_terminal_ok(err, sizeof(err)) < 0)
		ts_usage_err("%s; to record without it: taskscope run --no-tui --record DB -- "
		             "PROG",
		             err);
	store *st = NULL;
	if (o.db && !(st = store_open(o.db, &o.so, err, sizeof(err)))) {
		ts_err("%s", err);
		return EXIT_ERR;
	}
	run_prog p = {0};
	if (o.prog_output)
		snprintf(p.output, sizeof(p.output), "%s", o.prog_output);
	else if (!o.no_tui)
		p.default_output = 1;
	if (run_start(argv + i, &p, !o.no_tui, err, sizeof(err)) < 0) {
		ts_err("%s", err);
		abandon(st, o.db);
		return EXIT_ERR;
	}
	record__catch_signals();
	int64_t t0 = ts_mono_ns();
	int w = wait_segment(p.pid, path, sizeof(path), &status);
	if (w != 0) {
		if (w < 0) {
			kill(p.pid, SIGTERM);
			waitpid(p.pid, &status, 0);
		}
		ts_err("%s %s without creating a taskscope segment (is it linked with "
		       "libtaskscope? TASKSCOPE=off?)",
		       argv[i], w > 0 ? "exited" : "ran 10 s");
		abandon(st, o.db);
		say_output(&p);
		return EXIT_ERR;
	}
	coll *c;
	if (coll_open(path, COLL_STREAM, st, &c, err, sizeof(err)) < 0) {
		ts_err("%s", err);
		kill(p.pid, SIGTERM);
		waitpid(p.pid, &status, 0);
		abandon(st, o.db);
		say_output(&p);
		return EXIT_ERR;
	}
	if (!o.no_tui)
		return run_views(c, st, &o, &p, refresh_ns, t0);
	coll_detect(c, &o.dc, record__announce, NULL);
	const char *how = record__loop(c, st, &o, p.pid, &status);
	int rc = record__end(c, st, o.db, t0, how);
	coll_close(c);
	say_output(&p);
	return rc != EXIT_OK ? rc : exit_status_of(status);
}
