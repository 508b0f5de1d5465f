/*
 * cmd_record.c - `taskscope record` and `dump`: a process's events into a
 * SQLite history, with the collector (collector.h) feeding the store
 * (store.h); the loop and the ending `run` (cmd_run.c) shares with them
 * (record_int.h).
 *
 *   record PID: attach in stream mode (the program's writers then never
 *       overwrite what we have not read; if we fall behind they drop and
 *       count), from the oldest record still in the rings, until the
 *       process exits, --duration passes, or SIGINT/SIGTERM.  Detaching
 *       leaves the program exactly as it was.
 *   dump PID|SEGMENT: a frozen copy of the segment (live, stopped or dead
 *       process): the flight recorder's events, then the live state.
 *
 * The collector runs on the calling thread (one pass about every
 * millisecond, none skipped while records keep coming); the store writes
 * from its own thread.  Progress goes to stderr once a second when stderr
 * is a terminal (or with --progress); a summary line always ends a
 * recording.
 */
#include <getopt.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cmd.h"
#include "collector.h"
#include "db.h"
#include "record.h"
#include "record_int.h"
#include "store.h"
#include "util.h"

volatile sig_atomic_t record__stop_signal;

static void on_stop(int sig)
{
	record__stop_signal = sig;
}

void record__catch_signals(void)
{
	struct sigaction sa;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_stop;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
}

void record__sleep_ns(int64_t ns)
{
	struct timespec ts = {ns / 1000000000, ns % 1000000000};
	nanosleep(&ts, NULL);
}

/* A verdict, on stderr the moment it is confirmed. */
void record__announce(void *ctx, const det_deadlock *d)
{
	(void)ctx;
	fprintf(stderr, "taskscope %s: DEADLOCK %" PRIu32 " (%s %s, %" PRIu32 " task%s): %s\n",
	        ts_cmd, d->id, det_verdict_name(d->verdict), det_kind_name(d->kind), d->ntasks,
	        d->ntasks == 1 ? "" : "s", d->text ? d->text : "");
	fflush(stderr);
}

static void count_warning(void *ctx, const det_warning *w)
{
	(void)w;
	++*(size_t *)ctx;
}

static const char *human(double v, char *buf, size_t cap)
{
	if (v >= 1e9)
		snprintf(buf, cap, "%.2fG", v / 1e9);
	else if (v >= 1e6)
		snprintf(buf, cap, "%.2fM", v / 1e6);
	else if (v >= 1e3)
		snprintf(buf, cap, "%.1fk", v / 1e3);
	else
		snprintf(buf, cap, "%.0f", v);
	return buf;
}

static void progress_line(coll *c, store *st, double secs, uint64_t events_before, double interval)
{
	coll_stats cs;
	store_stats ss;
	char a[32], b[32], d[32];
	coll_get_stats(c, &cs);
	store_get_stats(st, &ss);
	fprintf(stderr,
	        "\rtaskscope: %6.1f s  %s events (%s/s)  lost %" PRIu64 "  rows %s  DB %sB%s   ",
	        secs, human((double)cs.applied, a, sizeof(a)),
	        human((double)(cs.applied - events_before) / interval, b, sizeof(b)),
	        cs.lost > cs.lost_writer ? cs.lost : cs.lost_writer,
	        human((double)ss.rows, d, sizeof(d)), human((double)ss.db_bytes, a, sizeof(a)),
	        ss.dropped ? "  (DB writer behind: rows dropped)" : "");
	fflush(stderr);
}

/* Records until the process is gone (or child exits), the duration passed
 * or a stop signal.  child: the pid `run` started (reaped here, its wait
 * status in *child_status), else 0. */
const char *record__loop(coll *c, store *st, const rec_opts *o, pid_t child, int *child_status)
{
	int64_t t0 = ts_mono_ns(), last_tick = t0;
	uint64_t events_tick = 0;
	int show = o->progress || isatty(2);
	const char *how = "recorded";
	int forwarded = 0;
	for (;;) {
		ssize_t n = coll_pass(c, 0);
		int64_t now = ts_mono_ns();
		if (record__stop_signal) {
			if (child) {
				/* run: the program decides when it ends.  A terminal's
				 * SIGINT reached it already (same process group); a
				 * SIGTERM or SIGHUP is passed on, a second one as
				 * SIGKILL. */
				if (record__stop_signal != SIGINT)
					kill(child, forwarded++ ? SIGKILL : SIGTERM);
				record__stop_signal = 0;
			} else {
				how = "stopped by a signal";
				break;
			}
		}
		if (child) {
			pid_t w = waitpid(child, child_status, WNOHANG);
			if (w == child) {
				how = "ran";
				break;
			}
		}
		if (o->duration_ns && now - t0 >= o->duration_ns) {
			how = "recorded for --duration";
			break;
		}
		if (now - last_tick >= 1000000000) {
			coll_update_process(c);
			store_flush(st);
			if (show) {
				coll_stats cs;
				coll_get_stats(c, &cs);
				progress_line(c, st, (double)(now - t0) / 1e9, events_tick,
				              (double)(now - last_tick) / 1e9);
				events_tick = cs.applied;
			}
			last_tick = now;
			if (!child && coll_liveness(c) != TSK_RD_LIVE) {
				how = "recorded until it exited";
				break;
			}
		}
		/* a busy program keeps us passing back to back; an idle one
		 * costs a wake-up a millisecond */
		if (n < 1024)
			record__sleep_ns(1000000);
	}
	coll_pass(c, 1);
	/* the program gets its rings back now, not after the index build */
	coll_detach(c);
	if (show)
		fputc('\n', stderr);
	return how;
}

static int64_t file_bytes(const char *path)
{
	struct stat sb;
	int64_t n = 0;
	char wal[600];
	if (stat(path, &sb) == 0)
		n += sb.st_size;
	snprintf(wal, sizeof(wal), "%s-wal", path);
	if (stat(wal, &sb) == 0)
		n += sb.st_size;
	return n;
}

/* Ends a recording or a dump: the model's final rows, the store closed
 * with its indexes, and the summary line on stderr (bench/record.sh
 * parses it).  Returns the exit status. */
int record__end(coll *c, store *st, const char *db, int64_t t0, const char *how)
{
	char err[512];
	coll_finish(c);
	double secs = (double)(ts_mono_ns() - t0) / 1e9;
	store_stats ss;
	int rc = store_sync(st, err, sizeof(err));
	store_get_stats(st, &ss);
	det *d = coll_det(c);
	if (d) {
		/* the detector's share of our CPU (bench/deadlock.sh reads it) */
		struct rusage ru;
		getrusage(RUSAGE_SELF, &ru);
		double ours = (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
		              (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
		det_stats ds;
		det_get_stats(d, &ds);
		double det_s = (double)ds.cpu_ns / 1e9;
		size_t nwarn = 0;
		det_each_warning(d, count_warning, &nwarn);
		fprintf(stderr,
		        "taskscope %s: detector: %zu deadlock%s, %zu warning%s, %" PRIu64
		        " candidates (%" PRIu64 " not confirmed), %" PRIu64
		        " fixpoints, CPU %.3f s of taskscope's %.3f s (%.2f%%; cycles %.3f s, "
		        "stalls "
		        "%.3f s, lints %.3f s)\n",
		        ts_cmd, det_count(d), det_count(d) == 1 ? "" : "s", nwarn,
		        nwarn == 1 ? "" : "s", ds.candidates, ds.rejected, ds.fixpoints, det_s,
		        ours, ours > 0 ? 100.0 * det_s / ours : 0.0, (double)ds.cycles_ns / 1e9,
		        (double)ds.stalls_ns / 1e9, (double)ds.lints_ns / 1e9);
	}
	if (store_close(st, 1, err, sizeof(err)) < 0 || rc < 0) {
		ts_err("%s", err);
		return EXIT_ERR;
	}
	coll_stats cs;
	model_stats ms;
	coll_get_stats(c, &cs);
	model_get_stats(coll_model(c), &ms);
	const tsk_rd_info *info = coll_info(c);
	int64_t bytes = file_bytes(db);
	fprintf(stderr,
	        "taskscope %s: pid %d (%s) %s: %" PRIu64 " events in %.2f s (%.0f events/s), "
	        "lost %" PRIu64 " (program side %" PRIu64 "), overwritten %" PRIu64 ", %" PRIu64
	        " tasks, %" PRIu64 " rows, DB %" PRId64 " bytes (%.1f B/event)%s\n",
	        ts_cmd, info->pid, info->program, how, cs.applied, secs,
	        secs > 0 ? (double)cs.applied / secs : 0.0, cs.lost, cs.lost_writer, cs.overwritten,
	        ms.tasks, ss.rows, bytes, cs.applied ? (double)bytes / (double)cs.applied : 0.0,
	        ss.dropped ? " - the DB writer fell behind and dropped rows" : "");
	return EXIT_OK;
}

/* ---- record --------------------------------------------------------------------- */

static void record_help(void)
{
	printf("NAME\n"
	       "    taskscope record - record a running process into a SQLite history\n"
	       "\n"
	       "SYNOPSIS\n"
	       "    taskscope record PID -o DB [--duration S] [--max-size N] [--max-age S]\n"
	       "                     [--force] [--progress]\n"
	       "\n"
	       "DESCRIPTION\n"
	       "    Attaches to process PID (linked with libtaskscope) and records every task\n"
	       "    state transition, resource ownership and wake-up into DB, starting with\n"
	       "    what its flight recorder still holds, until the process exits, S seconds\n"
	       "    pass, or SIGINT/SIGTERM.  The program is not stopped or slowed: its\n"
	       "    probes never wait for the recorder; if the recorder falls behind they\n"
	       "    drop records and count them, and the count is reported.  Detaching\n"
	       "    leaves the program as it was.\n"
	       "\n"
	       "    DB is SQLite in WAL mode (docs/SCHEMA.md), committed about every second\n"
	       "    and readable with sqlite3 while recording; indexes are built at the end.\n"
	       "    A recorder killed at any moment leaves a DB holding every committed\n"
	       "    second.\n"
	       "\n"
	       "    The deadlock detector watches as events arrive (docs/DEADLOCKS.md): a\n"
	       "    deadlock is said on stderr the moment it is confirmed on the live\n"
	       "    process and stored in the table deadlocks; the lints' warnings are\n"
	       "    stored in the table warnings at the end.\n"
	       "\n"
	       "OPTIONS\n"
	       "    -o, --output DB     the history to write (required)\n"
	       "    -d, --duration S    stop after S (10, 1.5s, 500ms, 2m, 1h)\n"
	       "    -t, --threshold NAME=VALUE\n"
	       "                        a lint threshold: long-poll=10ms, stuck=5s, lost=1s,\n"
	       "                        leak=1s, storm=1000, hold=50ms (the defaults)\n"
	       "    --max-size N        keep DB under N bytes (64M, 2G): oldest intervals,\n"
	       "                        ownerships and events are deleted first\n"
	       "    --max-age S         delete rows older than S (e.g. 1h)\n"
	       "    -f, --force         replace DB if it exists (else refused)\n"
	       "    --progress          progress on stderr even when it is not a terminal\n"
	       "    -h, --help          this page\n"
	       "\n"
	       "OUTPUT\n"
	       "    Progress once a second on stderr (events, events/s, losses, DB size) and\n"
	       "    a summary line at the end:\n"
	       "      taskscope record: DEADLOCK N (definite cycle, 2 tasks): task 3 \"a\" ...\n"
	       "      taskscope record: detector: D deadlocks, W warnings, ..., CPU ...\n"
	       "      taskscope record: pid P (prog) ...: N events in S s (R events/s), lost L\n"
	       "      (program side L2), ..., DB B bytes (X B/event)\n"
	       "\n"
	       "EXIT STATUS\n"
	       "    0 recorded; 1 no such process, not instrumented, no permission, another\n"
	       "    taskscope attached, DB not writable; 2 bad usage.\n"
	       "\n"
	       "EXAMPLES\n"
	       "    taskscope record 4242 -o hist.db --duration 30s\n"
	       "    sqlite3 hist.db 'SELECT name, busy_ns FROM tasks ORDER BY busy_ns DESC LIMIT "
	       "5'\n");
}

/* (record_int.h) */
int record__parse_opts(int argc, char **argv, rec_opts *o, int run, void (*help)(void),
                       int allow_duration)
{
	static const struct option opts[] = {{"output", required_argument, NULL, 'o'},
	                                     {"record", required_argument, NULL, 'o'},
	                                     {"duration", required_argument, NULL, 'd'},
	                                     {"max-size", required_argument, NULL, 'S'},
	                                     {"max-age", required_argument, NULL, 'A'},
	                                     {"force", no_argument, NULL, 'f'},
	                                     {"progress", no_argument, NULL, 'P'},
	                                     {"no-tui", no_argument, NULL, 'N'},
	                                     {"refresh", required_argument, NULL, 'r'},
	                                     {"prog-output", required_argument, NULL, 'O'},
	                                     {"threshold", required_argument, NULL, 't'},
	                                     {"help", no_argument, NULL, 'h'},
	                                     {NULL, 0, NULL, 0}};
	int c;
	char err[256];
	optind = 1;
	det_config_default(&o->dc);
	/* run: '+' stops at the first non-option (PROG and its arguments are
	 * PROG's); record and dump take options before and after the target */
	while ((c = getopt_long(argc, argv, run ? "+o:d:ft:r:h" : "o:d:ft:h", opts, NULL)) != -1) {
		switch (c) {
		case 't':
			if (det_config_set(&o->dc, optarg, err, sizeof(err)) < 0)
				ts_usage_err("%s", err);
			break;
		case 'o':
			o->db = optarg;
			break;
		case 'd':
			if (!allow_duration)
				ts_usage_err("--duration does not apply here");
			if (ts_parse_duration(optarg, &o->duration_ns) < 0 || o->duration_ns <= 0)
				ts_usage_err("bad duration '%s' (e.g. 10, 1.5s, 500ms, 2m)",
				             optarg);
			break;
		case 'S':
			if (ts_parse_size(optarg, &o->so.max_size_bytes) < 0 ||
			    o->so.max_size_bytes < (1 << 20))
				ts_usage_err("bad --max-size '%s' (e.g. 64M, 2G; at least 1M)",
				             optarg);
			break;
		case 'A':
			if (ts_parse_duration(optarg, &o->so.max_age_ns) < 0 ||
			    o->so.max_age_ns <= 0)
				ts_usage_err("bad --max-age '%s' (e.g. 30s, 1h, 7d)", optarg);
			break;
		case 'f':
			o->so.overwrite = 1;
			break;
		case 'P':
			o->progress = 1;
			break;
		case 'N':
		case 'r':
		case 'O':
			if (!run)
				ts_usage_err("--%s applies to run only", c == 'N' ? "no-tui"
				                                         : c == 'r'
				                                                 ? "refresh"
				                                                 : "prog-output");
			if (c == 'N')
				o->no_tui = 1;
			else if (c == 'r')
				o->refresh = optarg;
			else
				o->prog_output = optarg;
			break;
		case 'h':
			help();
			exit(EXIT_OK);
		default:
			ts_usage_err("bad option");
		}
	}
	return optind;
}

int cmd_record(int argc, char **argv)
{
	rec_opts o = {0};
	char err[512], path[256];
	ts_cmd = "record";
	int i = record__parse_opts(argc, argv, &o, 0, record_help, 1);
	if (i >= argc)
		ts_usage_err("missing PID");
	if (i + 1 < argc)
		ts_usage_err("unexpected argument '%s'", argv[i + 1]);
	if (!o.db)
		ts_usage_err("missing -o DB");
	int pid;
	if (ts_parse_pid(argv[i], &pid) < 0)
		ts_usage_err("'%s' is not a pid", argv[i]);
	pid_t p;
	if (coll_resolve(argv[i], path, sizeof(path), &p, err, sizeof(err)) < 0) {
		ts_err("%s", err);
		return EXIT_ERR;
	}
	uint64_t start;
	char state;
	tsk_reader *probe;
	if (tsk_reader_open(path, 0, &probe) == 0) {
		const tsk_rd_info *info = tsk_reader_info(probe);
		int live = tsk_reader_liveness(info->pid, info->proc_start_ticks) == TSK_RD_LIVE;
		tsk_reader_close(probe);
		if (!live || tsk_reader_proc_start(pid, &start, &state) < 0) {
			ts_err("process %d is gone (its segment %s remains: use 'taskscope dump')",
			       pid, path);
			return EXIT_ERR;
		}
	}
	store *st = store_open(o.db, &o.so, err, sizeof(err));
	if (!st) {
		ts_err("%s", err);
		return EXIT_ERR;
	}
	coll *c;
	if (coll_open(path, COLL_STREAM, st, &c, err, sizeof(err)) < 0) {
		ts_err("%s", err);
		store_close(st, 0, err, sizeof(err));
		unlink(o.db);
		return EXIT_ERR;
	}
	coll_detect(c, &o.dc, record__announce, NULL);
	record__catch_signals();
	int64_t t0 = ts_mono_ns();
	const char *how = record__loop(c, st, &o, 0, NULL);
	int rc = record__end(c, st, o.db, t0, how);
	coll_close(c);
	return rc;
}

/* ---- dump ------------------------------------------------------------------------- */

static void dump_help(void)
{
	printf("NAME\n"
	       "    taskscope dump - a process's flight recorder and live state into a DB\n"
	       "\n"
	       "SYNOPSIS\n"
	       "    taskscope dump PID|SEGMENT -o DB [--force]\n"
	       "\n"
	       "DESCRIPTION\n"
	       "    Copies the segment of process PID (or the segment file SEGMENT, e.g. one a\n"
	       "    crashed or killed process left in %s) and writes what it holds to DB:\n"
	       "    the last events of every thread (the flight recorder: by default the\n"
	       "    last 64k records per thread) as state intervals, then the live state -\n"
	       "    every task with its state, wait and location, every resource with its\n"
	       "    owner - so that tasks blocked since long before the recorded window are\n"
	       "    there too.  Works on running, hung, stopped (SIGSTOP) and dead processes;\n"
	       "    the process is not disturbed.  The deadlock detector and the lints run on\n"
	       "    what was read (docs/DEADLOCKS.md); a verdict about a process still running\n"
	       "    is confirmed on the process itself, and said on stderr.\n"
	       "\n"
	       "OPTIONS\n"
	       "    -o, --output DB   the history to write (required)\n"
	       "    -f, --force       replace DB if it exists\n"
	       "    -t, --threshold NAME=VALUE   a lint threshold, as for record\n"
	       "    -h, --help        this page\n"
	       "\n"
	       "EXIT STATUS\n"
	       "    0 written; 1 no such process or segment, not instrumented, a corrupt\n"
	       "    segment, no permission, DB not writable; 2 bad usage.\n"
	       "\n"
	       "EXAMPLES\n"
	       "    taskscope dump 4242 -o hang.db && taskscope report hang.db\n"
	       "    taskscope dump %s/%s4242.123456 -o crash.db\n",
	       TSK_SEG_DIR, TSK_SEG_DIR, TSK_SEG_PREFIX);
}

/* The dump pipeline: target -> store st.  Returns 0 or -1 (err). */
static int dump_into(const char *target, store *st, const det_config *dc, int loud, coll **out,
                     char *err, size_t cap)
{
	char path[256];
	pid_t pid;
	if (coll_resolve(target, path, sizeof(path), &pid, err, cap) < 0)
		return -1;
	coll *c;
	if (coll_open(path, COLL_DUMP, st, &c, err, cap) < 0)
		return -1;
	coll_detect(c, dc, loud ? record__announce : NULL, NULL);
	if (coll_dump(c, err, cap) < 0) {
		coll_close(c);
		return -1;
	}
	*out = c;
	return 0;
}

int cmd_dump(int argc, char **argv)
{
	rec_opts o = {0};
	char err[512];
	ts_cmd = "dump";
	int i = record__parse_opts(argc, argv, &o, 0, dump_help, 0);
	if (i >= argc)
		ts_usage_err("missing PID or SEGMENT");
	if (i + 1 < argc)
		ts_usage_err("unexpected argument '%s'", argv[i + 1]);
	if (!o.db)
		ts_usage_err("missing -o DB");
	char path[256];
	pid_t pid;
	/* resolve before creating the DB: a bad target leaves no file behind */
	if (coll_resolve(argv[i], path, sizeof(path), &pid, err, sizeof(err)) < 0) {
		ts_err("%s", err);
		return EXIT_ERR;
	}
	store *st = store_open(o.db, &o.so, err, sizeof(err));
	if (!st) {
		ts_err("%s", err);
		return EXIT_ERR;
	}
	int64_t t0 = ts_mono_ns();
	coll *c;
	if (dump_into(path, st, &o.dc, 1, &c, err, sizeof(err)) < 0) {
		char e2[512];
		ts_err("%s", err);
		store_close(st, 0, e2, sizeof(e2));
		unlink(o.db);
		return EXIT_ERR;
	}
	int rc = record__end(c, st, o.db, t0, "dumped");
	coll_close(c);
	return rc;
}

int record_dump_memory(const char *target, const det_config *dc, sqlite3 **out, char *err,
                       size_t cap)
{
	store_opts so = {.in_memory = 1};
	store *st = store_open(NULL, &so, err, cap);
	if (!st)
		return -1;
	coll *c;
	if (dump_into(target, st, dc, 0, &c, err, cap) < 0) {
		char e2[512];
		store_close(st, 0, e2, sizeof(e2));
		return -1;
	}
	coll_finish(c);
	coll_close(c);
	return store_close_keep(st, out, err, cap);
}
