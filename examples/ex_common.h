/*
 * ex_common.h - what the example programs share (prefix ex_): strict
 * number parsing for their options, the messages for a bad command line,
 * and SIGINT/SIGTERM read from a signalfd by a task.
 *
 * Why a header of static inline functions: examples/examples.mk builds
 * every .c file of examples/ as a program of its own, linked against
 * libtaskscope alone, so there is no object file for shared code to live
 * in; a header is no program.  Each example includes it once and the
 * compiler drops what it does not use.
 *
 * The signal pattern: main calls ex_signals_open before tsk_run, which
 * blocks SIGINT and SIGTERM (every runtime thread inherits the mask, so
 * they queue on the signalfd instead of killing the process) and returns
 * the signalfd; the root spawns a task with ex_signals_spawn whose body
 * calls ex_signal_wait and then stops the program its own way; the root
 * ends that task with ex_task_stop when the program ends by itself; main
 * closes the signalfd with tsk_close once tsk_run has returned.
 *
 * Every message starts with the program's name (`prog'), as the tests of
 * tests/examples/ expect of each example.
 */
#ifndef TSK_EX_COMMON_H
#define TSK_EX_COMMON_H

#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include "taskscope.h"

/* ---- numbers on the command line ----------------------------------------- */

/* Parses s, a decimal integer in [lo, hi] and nothing else, into *out.
 * Returns false (leaving *out alone) when s is empty, has anything after
 * the number, overflows or is out of range. */
static inline bool ex_parse_long(const char *s, long lo, long hi, long *out)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (!*s || *end || errno || v < lo || v > hi)
		return false;
	*out = v;
	return true;
}

/* As ex_parse_long, into an int (lo and hi within int's range). */
static inline bool ex_parse_int(const char *s, long lo, long hi, int *out)
{
	long v;

	if (!ex_parse_long(s, lo, hi, &v))
		return false;
	*out = (int)v;
	return true;
}

/* As ex_parse_long for a finite decimal number (strtod's syntax) in
 * [lo, hi]. */
static inline bool ex_parse_double(const char *s, double lo, double hi, double *out)
{
	char *end;
	double v;

	errno = 0;
	v = strtod(s, &end);
	if (!*s || *end || errno || !isfinite(v) || v < lo || v > hi)
		return false;
	*out = v;
	return true;
}

/* ---- a bad command line ---------------------------------------------------- */

/* The getopt_long loop met an option it does not know, argv[optind - 1]:
 * prints "PROG: bad option 'OPT' (try --help)".  Returns 2, the exit
 * status for bad usage. */
static inline int ex_bad_option(const char *prog, char **argv)
{
	fprintf(stderr, "%s: bad option '%s' (try --help)\n", prog, argv[optind - 1]);
	return 2;
}

/* The value optarg of option argv[optind - 1] does not parse: prints
 * "PROG: bad value 'VAL' for OPT (try --help)".  Returns 2. */
static inline int ex_bad_value(const char *prog, char **argv)
{
	/* the option is the previous argument ("--workers 0"), or the part
	 * of this one before its value ("--workers=0", "-w0") */
	const char *opt = argv[optind - 1];
	size_t n = strlen(opt);
	if (opt == optarg && optind >= 2) {
		opt = argv[optind - 2];
		n = strlen(opt);
	} else if (optarg > opt && optarg <= opt + n) {
		n = (size_t)(optarg - opt) - (optarg[-1] == '=');
	}
	fprintf(stderr, "%s: bad value '%s' for %.*s (try --help)\n", prog, optarg, (int)n, opt);
	return 2;
}

/* The getopt_long loop is over and arg is left over: prints "PROG:
 * unexpected argument 'ARG' (try --help)".  Returns 2. */
static inline int ex_unexpected_arg(const char *prog, const char *arg)
{
	fprintf(stderr, "%s: unexpected argument '%s' (try --help)\n", prog, arg);
	return 2;
}

/* ---- SIGINT and SIGTERM ------------------------------------------------------ */

/* Blocks SIGINT and SIGTERM in the calling thread, before tsk_run, and
 * opens a non-blocking signalfd for them.  Returns the descriptor (the
 * caller closes it with tsk_close after tsk_run), or -1 when signalfd
 * fails: then it prints "PROG: signalfd (signals will kill the VICTIM):
 * <error>" and unblocks them again, so that they keep their default. */
static inline int ex_signals_open(const char *prog, const char *victim)
{
	sigset_t sigs;
	int fd;

	/* Blocked here, the signals stay blocked in every runtime thread
	 * (they inherit the mask) and queue on the signalfd instead. */
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGINT);
	sigaddset(&sigs, SIGTERM);
	sigprocmask(SIG_BLOCK, &sigs, NULL);
	fd = signalfd(-1, &sigs, SFD_NONBLOCK | SFD_CLOEXEC);
	if (fd < 0) {
		fprintf(stderr, "%s: signalfd (signals will kill the %s): %s\n", prog, victim,
		        strerror(errno));
		sigprocmask(SIG_UNBLOCK, &sigs, NULL);
	}
	return fd;
}

/* Spawns the task "signals" running fn(arg), when sig_fd is open (>= 0).
 * *task is the task, or NULL when sig_fd is -1 or the spawn failed; a
 * failure is printed as "PROG: spawn: <error> (signals will kill the
 * VICTIM)" and the program goes on without it. */
static inline void ex_signals_spawn(tsk_task **task, int sig_fd, void *(*fn)(void *), void *arg,
                                    const char *prog, const char *victim)
{
	int rc;

	*task = NULL;
	if (sig_fd >= 0 && (rc = tsk_spawn(task, "signals", fn, arg)) < 0) {
		*task = NULL;
		fprintf(stderr, "%s: spawn: %s (signals will kill the %s)\n", prog,
		        tsk_strerror(rc), victim);
	}
}

/* Waits, in a task, for SIGINT or SIGTERM on sig_fd.  Returns true when one
 * came, after printing "PROG: <signal name>, stopping"; false when the read
 * failed or was cancelled (the program ends by itself). */
static inline bool ex_signal_wait(int sig_fd, const char *prog)
{
	struct signalfd_siginfo si;

	if (tsk_read(sig_fd, &si, sizeof(si), TSK_FOREVER) != (ssize_t)sizeof(si))
		return false;
	fprintf(stderr, "%s: %s, stopping\n", prog, strsignal((int)si.ssi_signo));
	return true;
}

/* Cancels task (NULL: none) and joins it; for a task blocked for good,
 * such as the one in ex_signal_wait when no signal came. */
static inline void ex_task_stop(tsk_task *task)
{
	if (task) {
		tsk_cancel(task);
		tsk_join(task, NULL, TSK_FOREVER);
	}
}

#endif
