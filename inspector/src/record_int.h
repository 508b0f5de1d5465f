/*
 * record_int.h - what `record` and `dump` (cmd_record.c) share with `run`
 * (cmd_run.c): the options, the recording loop, its ending and its
 * signals.  Private to the inspector's commands.
 */
#ifndef TS_RECORD_INT_H
#define TS_RECORD_INT_H

#include <signal.h>
#include <stdint.h>
#include <sys/types.h>

#include "collector.h"
#include "detect.h"
#include "store.h"

/* Options shared by record, run and dump. */
typedef struct rec_opts {
	const char *db;
	int64_t duration_ns; /* 0: until the end */
	store_opts so;
	int progress;  /* 1 forced on, 0 when stderr is a terminal */
	det_config dc; /* the detector's thresholds */
	/* run only */
	int no_tui;              /* --no-tui: record headless */
	const char *refresh;     /* -r MS: the view's redraw interval, as given; or NULL */
	const char *prog_output; /* --prog-output FILE: PROG's stdout and stderr; or NULL */
} rec_opts;

/* Parses the options of record/run/dump (run: 1 for run, which takes its
 * own options and stops at PROG; help: the command's page for -h); exits
 * on a usage error.  Returns optind. */
int record__parse_opts(int argc, char **argv, rec_opts *o, int run, void (*help)(void),
                       int allow_duration);

/* The last SIGINT, SIGTERM or SIGHUP caught by record__catch_signals (0:
 * none since it was cleared). */
extern volatile sig_atomic_t record__stop_signal;
void record__catch_signals(void);

void record__sleep_ns(int64_t ns);

/* A verdict, on stderr (the callback of coll_detect; ctx unused). */
void record__announce(void *ctx, const det_deadlock *d);

/* Records until the process is gone (or child exits), the duration passed
 * or a stop signal.  child: the pid `run` started (reaped here, its wait
 * status in *child_status), else 0: then a SIGINT, SIGTERM or SIGHUP ends
 * the recording, while with a child a SIGTERM or SIGHUP is passed on to
 * it (a second one as SIGKILL) and the recording goes on until it exits.
 * Ends with the final pass and coll_detach.  Returns how it ended, for the
 * summary line ("ran", "recorded until it exited", ...). */
const char *record__loop(coll *c, store *st, const rec_opts *o, pid_t child, int *child_status);

/* Ends a recording or a dump: the model's final rows, the store closed
 * with its indexes (st is freed), the detector's and the summary lines on
 * stderr (bench/record.sh parses them).  t0: when the recording began
 * (ts_mono_ns); how: record__loop's answer.  Returns the exit status. */
int record__end(coll *c, store *st, const char *db, int64_t t0, const char *how);

#endif /* TS_RECORD_INT_H */
