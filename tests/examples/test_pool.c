/*
 * test_pool.c - examples/pool.c end to end, against a reference model of
 * its checksum, and against its segment for the backpressure it exists to
 * show.
 *
 * pool's summary, "pool: J jobs, N workers, checksum C, S s", has a
 * checksum that depends on J only: the sum of the FNV-1a hashes of the
 * jobs' buffers, which the model below recomputes with a copy of pool.c's
 * generator.  Checked: several worker and thread counts, the defaults, a
 * run bounded by --duration (whatever J it reaches, C must be J's), a
 * SIGTERM in the middle (exit 0, the jobs queued finished, C right for the
 * J reported, no segment left), --help and bad usage.  The slow consumer:
 * the run takes at least jobs x delay, and while it runs the segment shows
 * what the example claims: every worker blocked sending on "results" with
 * the label "waiting for consumer", "results" full, and the producer
 * blocked sending on "jobs".
 */
#include <inttypes.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ex_proc.h"
#include "ex_seg.h"
#include "tsk_test.h"

#define JOB_BYTES  16384 /* pool.c's */
#define FNV_OFFSET 0xcbf29ce484222325ull
#define FNV_PRIME  0x100000001b3ull

struct pl {
	ex_proc prog;
	ex_seg seg;
};

static int pl_setup(void **state)
{
	return ex_state_new(state, sizeof(struct pl));
}

static int pl_teardown(void **state)
{
	struct pl *t = *state;
	ex_seg_close(&t->seg);
	ex_proc_fini(&t->prog);
	free(t);
	return 0;
}

/* ---- the model --------------------------------------------------------------- */

/* The checksum of `jobs' jobs: a copy of pool.c's job_fill and fnv. */
static uint64_t model_checksum(uint64_t jobs)
{
	unsigned char *buf = malloc(JOB_BYTES);
	uint64_t sum = 0;

	assert_non_null(buf);
	for (uint64_t job = 0; job < jobs; job++) {
		uint64_t x = (job + 1) * 0x9E3779B97F4A7C15ull, h = FNV_OFFSET;
		for (size_t i = 0; i < JOB_BYTES; i += sizeof(x)) {
			x ^= x << 13;
			x ^= x >> 7;
			x ^= x << 17;
			memcpy(buf + i, &x, sizeof(x));
		}
		for (size_t i = 0; i < JOB_BYTES; i++)
			h = (h ^ buf[i]) * FNV_PRIME;
		sum += h;
	}
	free(buf);
	return sum;
}

/* ---- running it ------------------------------------------------------------- */

/* What the summary says. */
struct summary {
	uint64_t jobs, checksum;
	int workers;
	double secs;
};

static void pl_start(struct pl *t, const char *const *args)
{
	ex_proc_fini(&t->prog);
	assert_int_equal(ex_proc_start(&t->prog, "pool", args), 0);
}

/* Waits for the exit (status 0, nothing on stderr, no segment left) and
 * parses the summary, the only line of stdout. */
static struct summary pl_finish(struct pl *t, const char *want_stderr)
{
	struct summary s;
	int end = 0;

	if (ex_proc_wait(&t->prog, ex_ms(60000)) < 0)
		ex_proc_dump(&t->prog);
	assert_true(ex_proc_exited_with(&t->prog, 0));
	assert_string_equal(ex_proc_stderr(&t->prog), want_stderr);
	assert_false(ex_proc_has_segment(&t->prog));
	const char *out = ex_proc_stdout(&t->prog);
	if (sscanf(out, "pool: %" SCNu64 " jobs, %d workers, checksum %16" SCNx64 ", %lf s\n%n",
	           &s.jobs, &s.workers, &s.checksum, &s.secs, &end) != 4 ||
	    out[end] != '\0') {
		ex_proc_dump(&t->prog);
		fail_msg("bad summary");
	}
	return s;
}

/* Runs pool with args to its exit: jobs and workers as given, the model's
 * checksum. */
static struct summary expect_run(struct pl *t, const char *const *args, uint64_t jobs, int workers)
{
	pl_start(t, args);
	struct summary s = pl_finish(t, "");
	assert_int_equal(s.jobs, jobs);
	assert_int_equal(s.workers, workers);
	assert_int_equal(s.checksum, model_checksum(jobs));
	return s;
}

/* ---- tests ------------------------------------------------------------------ */

static void test_counts_and_checksum(void **state)
{
	static const char *const runs[][2] = {{"4", "2"}, {"1", "1"}, {"16", "2"}};
	struct pl *t = *state;
	long jobs = tsk_test_scale(2000);
	char njobs[32];

	if (jobs < 200)
		jobs = 200;
	snprintf(njobs, sizeof(njobs), "%ld", jobs);
	for (size_t i = 0; i < sizeof(runs) / sizeof(runs[0]); i++) {
		const char *args[] = {"--jobs",    njobs,      "--workers",           runs[i][0],
		                      "--threads", runs[i][1], "--consumer-delay-us", "0",
		                      NULL};
		expect_run(t, args, (uint64_t)jobs, atoi(runs[i][0]));
	}
}

/* No options: 2000 jobs, 4 workers, 200 us per result (0.4 s at least). */
static void test_defaults(void **state)
{
	struct pl *t = *state;
	const char *args[] = {NULL};

	struct summary s = expect_run(t, args, 2000, 4);
	assert_true(s.secs >= 0.4);
}

/* Whether the snapshot shows the pool backed up: every worker blocked
 * sending on a full "results", labelled "waiting for consumer", and the
 * producer blocked sending on "jobs". */
static bool backed_up(ex_seg *s, int nworkers)
{
	const tsk_seg_res *results = ex_seg_res(s, "results");
	const tsk_seg_res *jobs = ex_seg_res(s, "jobs");
	const tsk_seg_task *producer = ex_seg_task(s, "producer");

	if (!results || !jobs || !producer || results->value != results->capacity ||
	    producer->state != TSK_TS_BLOCKED || producer->wait_kind != TSK_WAIT_CHAN_SEND ||
	    producer->wait_obj != jobs->id)
		return false;
	for (int i = 1; i <= nworkers; i++) {
		char name[32];
		snprintf(name, sizeof(name), "worker-%d", i);
		const tsk_seg_task *w = ex_seg_task(s, name);
		if (!w || w->state != TSK_TS_BLOCKED || w->wait_kind != TSK_WAIT_CHAN_SEND ||
		    w->wait_obj != results->id ||
		    strcmp(ex_seg_str(s, w->label), "waiting for consumer") != 0)
			return false;
	}
	return true;
}

/* A slow consumer: the workers back up, and it takes jobs x delay. */
static void test_slow_consumer(void **state)
{
	struct pl *t = *state;
	const char *args[] = {"--jobs", "150", "--workers", "4", "--consumer-delay-us",
	                      "5000",   NULL};
	bool seen = false;

	long long start = ex_now_ms();
	pl_start(t, args);
	if (ex_proc_probes_on()) {
		/* the producer stays blocked until 150 - 64 - 4 - 4 results are
		 * consumed: about 400 ms */
		assert_int_equal(ex_seg_open(&t->seg, &t->prog, ex_ms(5000)), 0);
		while (!seen && ex_proc_wait(&t->prog, 0) == -ETIMEDOUT) {
			assert_int_equal(ex_seg_snap(&t->seg), 0);
			seen = backed_up(&t->seg, 4);
			usleep(2000);
		}
		ex_seg_close(&t->seg);
		assert_true(seen);
	}
	struct summary s = pl_finish(t, "");
	assert_true(ex_now_ms() - start >= 750);
	assert_true(s.secs >= 0.75);
	assert_int_equal(s.jobs, 150);
	assert_int_equal(s.checksum, model_checksum(150));
}

/* --duration: whatever number of jobs it reaches, the checksum is theirs. */
static void test_duration(void **state)
{
	struct pl *t = *state;
	const char *args[] = {"--duration", "0.3", "--consumer-delay-us", "100", NULL};

	long long start = ex_now_ms();
	pl_start(t, args);
	struct summary s = pl_finish(t, "");
	assert_true(ex_now_ms() - start >= 300);
	assert_true(s.jobs > 0);
	assert_int_equal(s.checksum, model_checksum(s.jobs));
}

/* SIGTERM: the jobs queued are finished, the summary is right for them. */
static void test_sigterm(void **state)
{
	struct pl *t = *state;
	const char *args[] = {"--jobs", "100000", "--consumer-delay-us", "5000", NULL};

	pl_start(t, args);
	if (ex_proc_probes_on()) { /* running, its signal task included */
		assert_int_equal(ex_seg_open(&t->seg, &t->prog, ex_ms(5000)), 0);
		ex_seg_close(&t->seg);
	}
	assert_int_equal(ex_proc_wait(&t->prog, 300), -ETIMEDOUT);
	kill(t->prog.pid, SIGTERM);
	struct summary s = pl_finish(t, "pool: Terminated, stopping\n");
	assert_true(s.jobs > 0 && s.jobs < 100000);
	assert_int_equal(s.checksum, model_checksum(s.jobs));
}

static void test_help(void **state)
{
	struct pl *t = *state;

	assert_true(ex_proc_help_ok(&t->prog, "pool", "usage: pool [--workers N]"));
}

static void test_bad_usage(void **state)
{
	static const char *const cases[][3] = {
	        {"--workers", "0", NULL}, {"--workers", "1025", NULL},
	        {"--jobs", "-1", NULL},   {"--duration", "0", NULL},
	        {"--threads", "x", NULL}, {"--consumer-delay-us", "-1", NULL},
	        {"--jobs", NULL},         {"--bogus", NULL},
	        {"extra", NULL},
	};
	struct pl *t = *state;

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		assert_true(ex_proc_bad_usage_ok(&t->prog, "pool", cases[i]));
}

#define PL_TEST(f) cmocka_unit_test_setup_teardown(f, pl_setup, pl_teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
	        PL_TEST(test_counts_and_checksum),
	        PL_TEST(test_defaults),
	        PL_TEST(test_slow_consumer),
	        PL_TEST(test_duration),
	        PL_TEST(test_sigterm),
	        PL_TEST(test_help),
	        PL_TEST(test_bad_usage),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
