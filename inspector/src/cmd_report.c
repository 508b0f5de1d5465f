/*
 * cmd_report.c - `taskscope report PID|SEGMENT|DB [--json] [--top N]`:
 * the command around the report module (report.h): options, the target,
 * the output, the exit status.
 *
 * The whole report is computed before anything is printed, so an error
 * (a damaged DB) leaves stdout empty and says one line on stderr.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmd.h"
#include "report.h"
#include "util.h"

#define DEFAULT_TOP 10
#define MAX_TOP     1000000

static const char help[] =
        "NAME\n"
        "    taskscope report - what a program's tasks are doing, from a live process or a "
        "history\n"
        "\n"
        "SYNOPSIS\n"
        "    taskscope report PID|SEGMENT|DB [--json] [--top N]\n"
        "\n"
        "DESCRIPTION\n"
        "    Summarises one instrumented process: how much history there is, how many tasks\n"
        "    are running, ready, blocked and done, every blocked task with what it waits on\n"
        "    (the resource, its kind and name), for how long, where in the source, which\n"
        "    tasks hold what it waits for and its stack at the suspension, the tasks that\n"
        "    ran longest and those that waited longest, deadlocks and warnings.\n"
        "\n"
        "    Deadlocks (docs/DEADLOCKS.md): a \"definite\" cycle of waits without a\n"
        "    deadline on mutexes, rwlocks and joins, or a \"definite\" stall where every\n"
        "    task of the program is blocked without a deadline; a \"likely\" stall where\n"
        "    the tasks blocked on channels, semaphores, wait groups or condvars can be\n"
        "    woken only by tasks that are stuck or finished while others still run.\n"
        "    Waits with a deadline, trylocks, sleeps and I/O are never a verdict.  Each\n"
        "    verdict is confirmed on the live state of the process (twice, with nothing\n"
        "    changed between the reads) before it is reported.  Warnings are the lints:\n"
        "    long_poll, stuck, lost_wakeup, task_leak, self_wake_storm,\n"
        "    lock_across_suspend.  A history reports what its recorder found.\n"
        "\n"
        "    The argument is a history DB written by `taskscope record` or `taskscope dump`\n"
        "    (recognised by its SQLite header), or else a pid or the path of a segment in\n"
        "    /dev/shm: the process (live, stopped, hung or dead) is then read into a\n"
        "    private in-memory history first, exactly as `taskscope dump` would write it,\n"
        "    and the same report is computed from it.  The program is not disturbed.\n"
        "\n"
        "    Times are nanoseconds since the process created its segment.  A blocked\n"
        "    task's time is measured to the last event of the history.  A task blocked on\n"
        "    a mutex or a write lock is blocked by every holder; one blocked on a read lock\n"
        "    by the writer holding it; one joining a task by that task.\n"
        "\n"
        "    The text output lists the longest-blocked tasks first, up to N; --json lists\n"
        "    every blocked task.  Sections with nothing to say are left out.\n"
        "\n"
        "OPTIONS\n"
        "    --json      Write one JSON object instead of text.  Keys: process (pid, name,\n"
        "                source, segment, recorder, complete, workers, events, lost,\n"
        "                overwritten, first_ns, last_ns, created_realtime_ns); tasks (total,\n"
        "                running, ready, blocked, done, unknown); blocked (per task: id,\n"
        "                name, location, function, label, waits_on {kind, op, name, id},\n"
        "                since_ns, blocked_ns, deadline_ns, blocked_by, stack); deadlocks\n"
        "                (id, verdict, kind, text, closed_ns, found_ns, behind, tasks: as\n"
        "                blocked, in chain order); warnings (kind, task, name, detail,\n"
        "                resource, count, value_ns, first_ns); slowest (busy, waits).\n"
        "                Unknown values are null.\n"
        "    --top N     Rank N tasks by time running and by longest wait, and show up to N\n"
        "                blocked tasks in the text output (default 10).\n"
        "    -t, --threshold NAME=VALUE\n"
        "                A lint threshold, for a PID or SEGMENT (a history keeps those of\n"
        "                its recorder): long-poll=10ms, stuck=5s, lost=1s, leak=1s,\n"
        "                storm=1000, hold=50ms (the defaults; repeatable).\n"
        "    -h, --help  Show this page.\n"
        "\n"
        "EXIT STATUS\n"
        "    0  no deadlock found\n"
        "    3  a deadlock was found\n"
        "    1  an error: no such file or process, not a taskscope history, a damaged DB\n"
        "    2  bad options or arguments\n"
        "\n"
        "EXAMPLES\n"
        "    taskscope report 4242                  a running (or hung) process\n"
        "    taskscope report crash.db --top 20     a history from taskscope dump or record\n"
        "    taskscope report crash.db --json | jq '.blocked[] | select(.waits_on.kind == "
        "\"mutex\")'\n"
        "    taskscope report /dev/shm/taskscope.4242.123456   the segment of a dead process\n";

int cmd_report(int argc, char **argv)
{
	static const struct option opts[] = {
	        {"json", no_argument, NULL, 'j'},
	        {"top", required_argument, NULL, 'n'},
	        {"threshold", required_argument, NULL, 't'},
	        {"help", no_argument, NULL, 'h'},
	        {NULL, 0, NULL, 0},
	};
	int json = 0, top = DEFAULT_TOP, c;
	char err[512];
	det_config dc;
	det_config_default(&dc);

	ts_cmd = "report";
	optind = 0; /* a fresh scan (GNU: also resets its internal state) */
	opterr = 0;
	while ((c = getopt_long(argc, argv, ":hjn:t:", opts, NULL)) != -1) {
		switch (c) {
		case 't':
			if (det_config_set(&dc, optarg, err, sizeof(err)) < 0)
				ts_usage_err("%s", err);
			break;
		case 'h':
			fputs(help, stdout);
			return EXIT_OK;
		case 'j':
			json = 1;
			break;
		case 'n': {
			char *end;
			errno = 0;
			long v = strtol(optarg, &end, 10);
			if (errno || end == optarg || *end || v < 0 || v > MAX_TOP)
				ts_usage_err("--top wants a number from 0 to %d, not '%s'", MAX_TOP,
				             optarg);
			top = (int)v;
			break;
		}
		case ':':
			ts_usage_err("option '%s' needs a value", argv[optind - 1]);
		default:
			if (optopt)
				ts_usage_err("unknown option '-%c'", optopt);
			ts_usage_err("unknown option '%s'", argv[optind - 1]);
		}
	}
	if (optind >= argc)
		ts_usage_err("which process or history? (PID, SEGMENT or DB)");
	if (optind + 1 < argc)
		ts_usage_err("unexpected argument '%s'", argv[optind + 1]);
	const char *target = argv[optind];

	sqlite3 *db = report_open(target, &dc, err, sizeof(err));
	if (!db) {
		ts_err("%s", err);
		return EXIT_ERR;
	}
	report r;
	int rc = report_collect(db, top, &r, err, sizeof(err));
	sqlite3_close(db);
	if (rc < 0) {
		ts_err("%s: %s", target, err);
		report_fini(&r);
		return EXIT_ERR;
	}
	rc = json ? report_write_json(&r, stdout) : report_write_text(&r, stdout);
	int status = r.ndeadlocks ? EXIT_DEADLOCK : EXIT_OK;
	report_fini(&r);
	if (rc < 0) {
		ts_err("writing the report: %s", strerror(errno));
		return EXIT_ERR;
	}
	return status;
}
