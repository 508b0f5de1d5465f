/*
 * probe_bench.c - the cost of one flight-recorder event, written back to
 * back: the "ns per event" rows of the probe-overhead table (bench/probes.sh).
 *
 *     probe_bench SHAPE [ITERS]
 *
 * Shapes, each ITERS iterations after a warm-up of ITERS/10:
 *   rdtsc      a bare loop of __rdtsc() (summed, so nothing is optimised
 *              away): the floor, the one thing an event must do
 *   emit       probe_emit() of a 64-byte record with a fresh probe_tsc()
 *              per event, as the runtime does where it has no timestamp
 *   emit_tsc1  probe_emit() reusing one timestamp: the record stores alone
 *              (the runtime shares one rdtsc between an OUT and an IN)
 *
 * All three run inside a task of a 1-worker runtime: probe rings are
 * attached to worker threads only, so a task is where probe_emit has a ring
 * to write.  The ring keeps its default size (TASKSCOPE_RING, 4 MiB =
 * 65536 records), so a long loop wraps it many times, as a busy program's
 * flight recorder does.  The emit shapes check that the ring's head moved
 * by exactly the number of events and that the last record holds what was
 * written; with TASKSCOPE=off (no ring) they fail rather than time a no-op.
 *
 * This program is the one bench program that includes a probes header
 * (tsk_probe.h, the writer API): it measures the writer itself.
 */
#define _GNU_SOURCE
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "bench_util.h"
#include "taskscope.h"
#include "tsk_probe.h"

#if !TSK_PROBES
#error "probe_bench measures the probes: build it against a probes build"
#endif

typedef struct job {
	const char *shape;
	long n;
} job;

/* Keeps the rdtsc sum alive. */
static volatile uint64_t sink;

/* n back-to-back rdtsc: ns per rdtsc. */
static double run_rdtsc(long n)
{
	uint64_t acc = 0;
	int64_t t0 = bench_now_ns();
	for (long i = 0; i < n; i++)
		acc += __rdtsc();
	t0 = bench_now_ns() - t0;
	sink = acc;
	return (double)t0 / (double)n;
}

/* n probe_emit calls into this worker's ring, with a fresh timestamp per
 * event (fresh_tsc) or one for all: ns per event.  The fields vary per
 * event so that every record is a real one; checked afterwards. */
static double run_emit(long n, int fresh_tsc)
{
	probe_ring *r = probe__ring;
	if (!PROBE_ON() || !r)
		bench_die("emit: probes are off (TASKSCOPE=off?) or this worker has no ring");
	uint64_t self = tsk_id(tsk_self());
	uint64_t head0 = r->head;
	uint64_t tsc = probe_tsc();
	int64_t t0 = bench_now_ns();
	if (fresh_tsc) {
		for (long i = 0; i < n; i++)
			probe_emit(TSK_EV_YIELD, probe_tsc(), self, (uint64_t)i, (uint64_t)i * 3, 7,
			           0, (uint32_t)i, 0, 0);
	} else {
		for (long i = 0; i < n; i++)
			probe_emit(TSK_EV_YIELD, tsc, self, (uint64_t)i, (uint64_t)i * 3, 7, 0,
			           (uint32_t)i, 0, 0);
	}
	t0 = bench_now_ns() - t0;

	/* every event landed, and the last one holds what was written */
	const tsk_seg_event *last = &r->rec[(r->head - 1) & r->mask];
	if (r->head - head0 != (uint64_t)n)
		bench_die("emit: ring head moved by %llu, want %ld (stream mode drops?)",
		          (unsigned long long)(r->head - head0), n);
	if (last->type != TSK_EV_YIELD || last->task != self || last->obj != (uint64_t)(n - 1) ||
	    last->seq != (uint32_t)r->head || last->tsc < tsc)
		bench_die("emit: the last record does not hold the last event");
	return (double)t0 / (double)n;
}

static long warmup(long n)
{
	return n / 10 > 0 ? n / 10 : 1;
}

/* The root task: runs the shape, prints its RESULT line; (void *)1 for an
 * unknown shape. */
static void *root(void *arg)
{
	const job *j = arg;
	if (strcmp(j->shape, "rdtsc") == 0) {
		run_rdtsc(warmup(j->n));
		bench_result(j->shape, run_rdtsc(j->n), "ns/event");
	} else if (strcmp(j->shape, "emit") == 0 || strcmp(j->shape, "emit_tsc1") == 0) {
		int fresh = strcmp(j->shape, "emit") == 0;
		run_emit(warmup(j->n), fresh);
		bench_result(j->shape, run_emit(j->n, fresh), "ns/event");
		bench_info("%s: ring of %llu records", j->shape,
		           (unsigned long long)probe__ring->mask + 1);
	} else {
		return (void *)1;
	}
	return NULL;
}

int main(int argc, char **argv)
{
	job j = {argc > 1 ? argv[1] : "", bench_arg(argc, argv, 2, 10000000)};
	tsk_config cfg = {.workers = 1, .name = "probe_bench"};
	void *bad = NULL;
	int rc = tsk_run(root, &j, &cfg, &bad);

	if (rc != 0)
		bench_die("tsk_run: %s (%d)", tsk_errname(rc), rc);
	if (bad != NULL) {
		fprintf(stderr, "usage: %s rdtsc|emit|emit_tsc1 [ITERS]\n", argv[0]);
		return 2;
	}
	return 0;
}
