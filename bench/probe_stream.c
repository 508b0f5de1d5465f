/*
 * probe_stream.c - runs a benchmark program with a stream-mode reader
 * draining its probe segment: the "stream" column of the probe-overhead
 * table (bench/probes.sh).
 *
 *     probe_stream PROGRAM [ARGS...]      e.g. probe_stream build/bench/tsk_bench pingpong
 *
 * Forks and execs PROGRAM with BENCH_START_GATE=<a file that does not exist
 * yet> in its environment (tsk_bench waits for that file before its
 * warm-up), finds the child's segment (tsk_reader_open_pid), attaches in
 * stream mode, creates the gate file, then drains every ring until the
 * child exits, and once more after.  So the warm-up and the timed run both
 * write to rings that a reader consumes, and a writer that finds its ring
 * full drops records and counts them (tsk_seg_ring.lost).
 *
 * The child's stdout passes through (its RESULT line); this program adds
 *
 *     RESULT stream_lost <records dropped by the writers> records
 *
 * and INFO lines on stderr (records read, overwritten, corrupt, the
 * reader's CPU time).  Exits with the child's status, or 1 when the reader
 * could not attach or read nothing (a stream column must not be a flight
 * column in disguise).
 *
 * Reader pacing: it drains in a loop and sleeps PROBE_STREAM_POLL_US
 * (default 200 us) only when a pass found less than an eighth of a ring,
 * so a fast writer gets a reader that keeps up as best it can (it competes
 * for the CPUs, as a real recorder would) and an idle one costs little.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "bench_util.h"
#include "tsk_reader.h"

#define ATTACH_TIMEOUT_NS (10 * 1000000000LL) /* for the child's segment to appear */

#define NTYPES 64 /* event types counted one by one (tsk_ev_type values are below) */

typedef struct tally {
	uint64_t records;         /* delivered by the drains */
	uint64_t by_type[NTYPES]; /* records per event type; the last slot: any larger type */
} tally;

static int count_batch(void *ctx, uint32_t ring, const tsk_rd_rec *recs, size_t n)
{
	tally *t = ctx;
	(void)ring;
	t->records += n;
	for (size_t i = 0; i < n; i++)
		t->by_type[recs[i].ev.type < NTYPES ? recs[i].ev.type : NTYPES - 1]++;
	return 0;
}

/* "type=count ..." of the types seen, for the log (what a shape emits). */
static void print_types(const tally *t)
{
	fputs("INFO probe_stream: records by event type:", stderr);
	for (int i = 0; i < NTYPES; i++)
		if (t->by_type[i])
			fprintf(stderr, " %d=%llu", i, (unsigned long long)t->by_type[i]);
	fputc('\n', stderr);
}

static void sleep_us(long us)
{
	struct timespec ts = {us / 1000000, us % 1000000 * 1000};
	nanosleep(&ts, NULL);
}

/* Opens pid's segment once it exists and is complete; NULL when the child
 * exited first or the time ran out. */
static tsk_reader *open_child(pid_t pid, int *status, int *exited)
{
	int64_t until = bench_now_ns() + ATTACH_TIMEOUT_NS;
	tsk_reader *r = NULL;
	int rc = 0;
	while (bench_now_ns() < until) {
		rc = tsk_reader_open_pid(pid, TSK_RD_WRITE, &r);
		if (rc == 0)
			return r;
		if (waitpid(pid, status, WNOHANG) == pid) {
			*exited = 1;
			return NULL;
		}
		sleep_us(500);
	}
	bench_info("probe_stream: no segment for pid %d: %s", (int)pid, tsk_reader_strerror(rc));
	return NULL;
}

int main(int argc, char **argv)
{
	char gate[128];
	int status = 0, exited = 0;
	long poll_us = getenv("PROBE_STREAM_POLL_US") ? atol(getenv("PROBE_STREAM_POLL_US")) : 200;
	tally t = {0};

	if (argc < 2) {
		fprintf(stderr, "usage: %s PROGRAM [ARGS...]\n", argv[0]);
		return 2;
	}
	snprintf(gate, sizeof(gate), "/tmp/probe_stream.%d.gate", (int)getpid());
	unlink(gate);
	fflush(stdout);
	pid_t pid = fork();
	if (pid < 0)
		bench_die("fork: %s", strerror(errno));
	if (pid == 0) {
		/* dies with us: a timeout that kills the reader kills the program */
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		setenv("BENCH_START_GATE", gate, 1);
		execvp(argv[1], argv + 1);
		fprintf(stderr, "probe_stream: exec %s: %s\n", argv[1], strerror(errno));
		_exit(127);
	}

	tsk_reader *r = open_child(pid, &status, &exited);
	int rc = r ? tsk_reader_ring_attach(r, 0) : -1;
	if (rc != 0) {
		if (r)
			bench_info("probe_stream: attach: %s", tsk_reader_strerror(rc));
		if (!exited)
			kill(pid, SIGKILL), waitpid(pid, &status, 0);
		tsk_reader_close(r);
		bench_die("probe_stream: could not attach in stream mode");
	}
	int fd = open(gate, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0)
		bench_die("probe_stream: create %s: %s", gate, strerror(errno));
	close(fd);

	uint64_t big = tsk_reader_info(r)->ring_records / 8;
	while (waitpid(pid, &status, WNOHANG) != pid) {
		ssize_t n = tsk_reader_ring_drain(r, count_batch, &t);
		if (n < 0)
			bench_die("probe_stream: drain: %s", tsk_reader_strerror((int)n));
		if ((uint64_t)n < big)
			sleep_us(poll_us);
	}
	tsk_reader_ring_drain(r, count_batch, &t); /* what the last moments wrote */
	unlink(gate);

	uint64_t lost = 0, overwritten = 0, corrupt = 0;
	uint32_t nrings = tsk_reader_ring_count(r);
	for (uint32_t i = 0; i < nrings; i++) {
		tsk_rd_ring_stats st;
		if (tsk_reader_ring_stats(r, i, &st) == 0) {
			lost += st.lost_total;
			overwritten += st.overwritten;
			corrupt += st.corrupt;
		}
	}
	struct rusage ru;
	getrusage(RUSAGE_SELF, &ru);
	bench_info("probe_stream: %llu records read from %u rings, %llu lost (%llu LOST records), "
	           "%llu overwritten, %llu corrupt; reader CPU %.3f s user + %.3f s sys",
	           (unsigned long long)t.records, nrings, (unsigned long long)lost,
	           (unsigned long long)t.by_type[TSK_EV_LOST], (unsigned long long)overwritten,
	           (unsigned long long)corrupt,
	           (double)ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6,
	           (double)ru.ru_stime.tv_sec + ru.ru_stime.tv_usec / 1e6);
	print_types(&t);
	tsk_reader_close(r);
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
		bench_info("probe_stream: %s exited with status %d", argv[1],
		           WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status));
		return WIFEXITED(status) ? WEXITSTATUS(status) : 1;
	}
	if (t.records == 0)
		bench_die("probe_stream: read no records: the writer never streamed");
	printf("RESULT stream_lost %llu records\n", (unsigned long long)lost);
	return 0;
}
