/*
 * cmd_run.c - `taskscope run -- PROG`: fork and exec PROG, attach as soon
 * as its segment appears (its first events are still in the rings), record
 * until it exits; exits with PROG's status.  The loop and the ending are
 * record's (record_int.h).
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
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
#include "util.h"

static void run_help(void)
{
	printf("NAME\n"
	       "    taskscope run - run a program and record it from its first event\n"
	       "\n"
	       "SYNOPSIS\n"
	       "    taskscope run --no-tui --record DB [--max-size N] [--max-age S] [--force]\n"
	       "                  [--progress] -- PROG [ARGS...]\n"
	       "\n"
	       "DESCRIPTION\n"
	       "    Starts PROG (a program linked with libtaskscope), attaches as soon as its\n"
	       "    segment appears (its first events are still in its rings) and records it\n"
	       "    into DB until it exits, like 'taskscope record'.  Recording goes on until\n"
	       "    PROG has exited: a terminal's Ctrl-C reaches PROG itself; SIGTERM and\n"
	       "    SIGHUP sent to taskscope are passed on to PROG as SIGTERM, a second one\n"
	       "    as SIGKILL.\n"
	       "\n"
	       "    The live TUI is not built yet: --no-tui is required, and --record with\n"
	       "    it.\n"
	       "\n"
	       "OPTIONS\n"
	       "    -o, --record DB   the history to write\n"
	       "    --no-tui          record headless\n"
	       "    --max-size N, --max-age S, -f/--force, --progress, -t/--threshold: as for\n"
	       "    record (deadlocks are said on stderr as they are found)\n"
	       "    -h, --help        this page\n"
	       "\n"
	       "EXIT STATUS\n"
	       "    PROG's exit status (128 + N if a signal N ended it); 1 if PROG could not\n"
	       "    be started, never created a segment, or the DB could not be written;\n"
	       "    2 bad usage.\n"
	       "\n"
	       "EXAMPLES\n"
	       "    taskscope run --no-tui --record pool.db -- build/examples/pool --jobs 500\n"
	       "    taskscope report pool.db\n");
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

int cmd_run(int argc, char **argv)
{
	rec_opts o = {0};
	int no_tui = 0, status = 0;
	char err[512], path[256];
	ts_cmd = "run";
	int i = record__parse_opts(argc, argv, &o, &no_tui, run_help, 0);
	if (i < argc && strcmp(argv[i], "--") == 0)
		i++;
	if (i >= argc)
		ts_usage_err("missing PROG (taskscope run --no-tui --record DB -- PROG ARGS...)");
	if (!no_tui)
		ts_usage_err("the live TUI is not built yet: use --no-tui --record DB");
	if (!o.db)
		ts_usage_err("missing --record DB");
	store *st = store_open(o.db, &o.so, err, sizeof(err));
	if (!st) {
		ts_err("%s", err);
		return EXIT_ERR;
	}
	int pipefd[2] = {-1, -1};
	pid_t child = -1;
	if (pipe2(pipefd, O_CLOEXEC) < 0 || (child = fork()) < 0) {
		ts_err("%s: %s", pipefd[0] >= 0 ? "fork" : "pipe", strerror(errno));
		if (pipefd[0] >= 0) {
			close(pipefd[0]);
			close(pipefd[1]);
		}
		store_close(st, 0, err, sizeof(err));
		unlink(o.db);
		return EXIT_ERR;
	}
	if (child == 0) {
		close(pipefd[0]);
		execvp(argv[i], argv + i);
		int e = errno;
		if (write(pipefd[1], &e, sizeof(e)) < 0)
			_exit(127);
		_exit(127);
	}
	close(pipefd[1]);
	int e = 0;
	ssize_t got = read(pipefd[0], &e, sizeof(e));
	close(pipefd[0]);
	if (got == (ssize_t)sizeof(e)) {
		waitpid(child, NULL, 0);
		ts_err("%s: %s", argv[i], strerror(e));
		store_close(st, 0, err, sizeof(err));
		unlink(o.db);
		return EXIT_ERR;
	}
	record__catch_signals();
	int64_t t0 = ts_mono_ns();
	int w = wait_segment(child, path, sizeof(path), &status);
	if (w != 0) {
		if (w < 0) {
			kill(child, SIGTERM);
			waitpid(child, &status, 0);
		}
		ts_err("%s %s without creating a taskscope segment (is it linked with "
		       "libtaskscope? TASKSCOPE=off?)",
		       argv[i], w > 0 ? "exited" : "ran 10 s");
		store_close(st, 0, err, sizeof(err));
		unlink(o.db);
		return EXIT_ERR;
	}
	coll *c;
	if (coll_open(path, COLL_STREAM, st, &c, err, sizeof(err)) < 0) {
		ts_err("%s", err);
		kill(child, SIGTERM);
		waitpid(child, &status, 0);
		store_close(st, 0, err, sizeof(err));
		unlink(o.db);
		return EXIT_ERR;
	}
	coll_detect(c, &o.dc, record__announce, NULL);
	const char *how = record__loop(c, st, &o, child, &status);
	int rc = record__end(c, st, o.db, t0, how);
	coll_close(c);
	return rc != EXIT_OK ? rc : exit_status_of(status);
}
