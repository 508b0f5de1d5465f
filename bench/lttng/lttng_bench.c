/*
 * lttng_bench.c - the LTTng-UST side of the "ns per event" rows of the
 * probe-overhead table: the same back-to-back loop as probe_bench.c's
 * emit, through an LTTng-UST tracepoint (tp.h) recording five integers.
 *
 *     lttng_bench on|off [ITERS]
 *
 * on:  a recording session must have taskscope_bench:* enabled before this
 *      program starts (bench/probes.sh creates it: discard mode streaming to
 *      disk, or an overwrite-mode snapshot session).  The program waits up
 *      to 5 s for the tracepoint to be enabled and fails if it never is:
 *      a disabled tracepoint must not pass for a recorded one.
 * off: no session: the tracepoint must stay disabled; what a compiled-in,
 *      unused tracepoint costs (one load and a branch).
 *
 * Prints "RESULT on|off <ns> ns/event" after a warm-up of ITERS/10.  How
 * many events LTTng recorded or discarded is the session's business:
 * probes.sh reads it from `lttng list` and prints it under the table.
 */
#define _GNU_SOURCE
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "bench_util.h"

#define LTTNG_UST_TRACEPOINT_DEFINE
#include "tp.h"

/* n events back to back: ns per event. */
static double run_loop(long n)
{
	int64_t t0 = bench_now_ns();
	for (long i = 0; i < n; i++)
		lttng_ust_tracepoint(taskscope_bench, event, 5, 1, (uint64_t)i, (uint64_t)i * 3, 7);
	return (double)(bench_now_ns() - t0) / (double)n;
}

int main(int argc, char **argv)
{
	const char *mode = argc > 1 ? argv[1] : "";
	long n = bench_arg(argc, argv, 2, 2000000);
	int want_on;

	if (strcmp(mode, "on") == 0)
		want_on = 1;
	else if (strcmp(mode, "off") == 0)
		want_on = 0;
	else {
		fprintf(stderr, "usage: %s on|off [ITERS]\n", argv[0]);
		return 2;
	}
	/* liblttng-ust registers with the session daemon in a constructor and
	 * normally has the session's events enabled before main; allow for a
	 * slow daemon */
	for (int i = 0; want_on && i < 500; i++) {
		if (lttng_ust_tracepoint_enabled(taskscope_bench, event))
			break;
		usleep(10000);
	}
	if (!!lttng_ust_tracepoint_enabled(taskscope_bench, event) != want_on)
		bench_die("lttng: tracepoint taskscope_bench:event is %s, want %s",
		          want_on ? "disabled (no session daemon or session?)" : "enabled",
		          want_on ? "enabled" : "disabled");
	run_loop(n / 10 > 0 ? n / 10 : 1);
	bench_result(mode, run_loop(n), "ns/event");
	return 0;
}
