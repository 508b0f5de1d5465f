/*
 * test_evgen.c - examples/evgen.c end to end: the rate it is asked for,
 * and a count of events that a recorder confirms.
 *
 * evgen prints "evgen: R round trips, ~E events in S s (X events/s)",
 * where E is the records its process wrote to its segment during the run
 * (counted from the rings' heads).  The paced tests run it at a rate every
 * build reaches, and at a higher one but under TSan (whose whole capacity
 * is about 130k records/s here), with a stream-mode reader attached the way
 * a recorder would (the reader library, draining every ring until the
 * child exits): X must be within 15% of the target, and E must agree with
 * what the reader received (plus what it was told was dropped), up to the
 * few records written before and after the run (runtime start and stop).
 * Round trips cost at least 6 records each (evgen.c's EVENTS_PER_ROUND).
 * The unpaced run reports its rate (printed by the test, not asserted: it
 * is a measurement of the machine).  SIGTERM ends a long run early and
 * cleanly.  Then --help and bad usage.
 */
#include <inttypes.h>
#include <math.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ex_proc.h"
#include "tsk_reader.h"
#include "tsk_test.h"

#if defined(__SANITIZE_THREAD__)
#define TSK_EG_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define TSK_EG_TSAN 1
#endif
#endif

#define EVENTS_PER_ROUND 6      /* evgen.c's: task events of a round trip */
#define RATE_LOW         20000  /* paced: records/s, within reach of a TSan build */
#define RATE_HIGH        500000 /* for the other builds (TSan: about 130k/s at most) */
#define SLACK_RECORDS    500    /* records outside evgen's window (start, stop) */

struct eg {
	ex_proc prog;
	tsk_reader *r; /* the stream-mode reader, NULL if none */
};

static int eg_setup(void **state)
{
	return ex_state_new(state, sizeof(struct eg));
}

static int eg_teardown(void **state)
{
	struct eg *t = *state;
	tsk_reader_close(t->r);
	ex_proc_fini(&t->prog);
	free(t);
	return 0;
}

/* What the summary says. */
struct summary {
	uint64_t rounds, events;
	double secs, rate;
};

static struct summary parse_summary(struct eg *t)
{
	struct summary s;
	int end = 0;
	const char *out = ex_proc_stdout(&t->prog);

	if (sscanf(out,
	           "evgen: %" SCNu64 " round trips, ~%" SCNu64
	           " events in %lf s (%lf events/s)\n%n",
	           &s.rounds, &s.events, &s.secs, &s.rate, &end) != 4 ||
	    out[end] != '\0') {
		ex_proc_dump(&t->prog);
		fail_msg("bad summary");
	}
	return s;
}

/* Runs evgen with args to its exit (status 0, nothing on stderr). */
static struct summary eg_run(struct eg *t, const char *const *args)
{
	assert_int_equal(ex_proc_start(&t->prog, "evgen", args), 0);
	if (ex_proc_wait(&t->prog, ex_ms(60000)) < 0)
		ex_proc_dump(&t->prog);
	assert_true(ex_proc_exited_with(&t->prog, 0));
	assert_string_equal(ex_proc_stderr(&t->prog), "");
	assert_false(ex_proc_has_segment(&t->prog));
	return parse_summary(t);
}

static int count_batch(void *ctx, uint32_t ring, const tsk_rd_rec *recs, size_t n)
{
	(void)ring;
	(void)recs;
	*(uint64_t *)ctx += n;
	return 0;
}

/* Attaches a stream-mode reader to the child's segment from its oldest
 * record, drains it until the child exits and once more, and returns
 * every record it got plus those it was told were dropped. */
static uint64_t record_child(struct eg *t)
{
	char path[128];
	long long deadline = ex_now_ms() + ex_ms(10000);
	uint64_t got = 0, lost = 0;
	int rc;

	assert_int_equal(ex_proc_segment_path(&t->prog, path, sizeof(path)), 0);
	while ((rc = tsk_reader_open(path, TSK_RD_WRITE, &t->r)) < 0) {
		assert_true(ex_now_ms() < deadline);
		assert_int_equal(ex_proc_wait(&t->prog, 0), -ETIMEDOUT);
		usleep(1000);
	}
	assert_int_equal(tsk_reader_ring_attach(t->r, TSK_RD_FROM_OLDEST), 0);
	do {
		assert_true(tsk_reader_ring_drain(t->r, count_batch, &got) >= 0);
		usleep(2000);
	} while (ex_proc_wait(&t->prog, 0) == -ETIMEDOUT);
	assert_true(tsk_reader_ring_drain(t->r, count_batch, &got) >= 0);
	for (uint32_t i = 0; i < tsk_reader_ring_count(t->r); i++) {
		tsk_rd_ring_stats st;
		assert_int_equal(tsk_reader_ring_stats(t->r, i, &st), 0);
		assert_int_equal(st.overwritten, 0); /* attached before a ring wrapped */
		lost += st.lost_total;
	}
	tsk_reader_close(t->r);
	t->r = NULL;
	return got + lost;
}

/* ---- tests ------------------------------------------------------------------ */

/* At `rate' records/s for 1 s, recorded: the rate within 15%, and the
 * count evgen prints is what the recorder saw. */
static void expect_paced(struct eg *t, int rate)
{
	char arg[32];
	snprintf(arg, sizeof(arg), "%d", rate);
	const char *args[] = {"--rate", arg, "--duration", "1", "--pairs", "2", NULL};

	assert_int_equal(ex_proc_start(&t->prog, "evgen", args), 0);
	uint64_t recorded = ex_proc_probes_on() ? record_child(t) : 0;
	assert_int_equal(ex_proc_wait(&t->prog, ex_ms(30000)), 0);
	assert_true(ex_proc_exited_with(&t->prog, 0));
	assert_string_equal(ex_proc_stderr(&t->prog), "");
	struct summary s = parse_summary(t);
	fprintf(stderr, "paced at %d/s: %s", rate, ex_proc_stdout(&t->prog));
	if (recorded)
		fprintf(stderr, "recorded %" PRIu64 " records\n", recorded);

	assert_true(s.secs >= 0.99 && s.secs < 1.5);
	if (fabs(s.rate - rate) > 0.15 * rate)
		fail_msg("rate %.0f/s, asked for %d/s", s.rate, rate);
	assert_true(s.rounds > 0);
	if (!ex_proc_probes_on()) { /* no segment: the estimate */
		assert_int_equal(s.events, s.rounds * EVENTS_PER_ROUND);
		return;
	}
	assert_true(s.events >= s.rounds * EVENTS_PER_ROUND);
	/* evgen's window is inside the recorder's: a few records more */
	if (recorded < s.events || recorded > s.events + SLACK_RECORDS)
		fail_msg("evgen counted %" PRIu64 " records, the recorder %" PRIu64, s.events,
		         recorded);
}

static void test_paced_low(void **state)
{
	expect_paced(*state, RATE_LOW);
}

static void test_paced_high(void **state)
{
#if defined(TSK_EG_TSAN)
	(void)state;
	fprintf(stderr, "paced at %d/s: not under TSan\n", RATE_HIGH);
#else
	expect_paced(*state, RATE_HIGH);
#endif
}

/* As fast as it goes: the rate is printed, not asserted. */
static void test_unpaced(void **state)
{
	struct eg *t = *state;
	const char *args[] = {"--duration", "0.5", NULL};

	struct summary s = eg_run(t, args);
	fprintf(stderr, "unpaced: %s", ex_proc_stdout(&t->prog));
	assert_true(s.secs >= 0.49);
	assert_true(s.rounds > 0);
	assert_true(s.events >= s.rounds * EVENTS_PER_ROUND);
	assert_true(fabs(s.rate - (double)s.events / s.secs) <= 0.01 * s.rate + 1);
}

/* SIGTERM ends a long run early, with the summary. */
static void test_sigterm(void **state)
{
	struct eg *t = *state;
	const char *args[] = {"--duration", "100", "--rate", "100000", NULL};

	assert_int_equal(ex_proc_start(&t->prog, "evgen", args), 0);
	assert_int_equal(ex_proc_wait(&t->prog, 300), -ETIMEDOUT);
	assert_int_equal(ex_proc_signal_wait(&t->prog, SIGTERM, ex_ms(10000)), 0);
	assert_true(ex_proc_exited_with(&t->prog, 0));
	assert_string_equal(ex_proc_stderr(&t->prog), "evgen: Terminated, stopping\n");
	assert_false(ex_proc_has_segment(&t->prog));
	struct summary s = parse_summary(t);
	assert_true(s.secs > 0.1 && s.secs < 50);
	assert_true(s.rounds > 0);
}

static void test_help(void **state)
{
	struct eg *t = *state;

	assert_true(ex_proc_help_ok(&t->prog, "evgen", "usage: evgen [--rate R]"));
}

static void test_bad_usage(void **state)
{
	static const char *const cases[][3] = {
	        {"--rate", "-1", NULL}, {"--rate", "fast", NULL},  {"--duration", "0", NULL},
	        {"--pairs", "0", NULL}, {"--pairs", "4097", NULL}, {"--workers", "0", NULL},
	        {"--duration", NULL},   {"--bogus", NULL},         {"extra", NULL},
	};
	struct eg *t = *state;

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		assert_true(ex_proc_bad_usage_ok(&t->prog, "evgen", cases[i]));
}

#define EG_TEST(f) cmocka_unit_test_setup_teardown(f, eg_setup, eg_teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
	        EG_TEST(test_paced_low), EG_TEST(test_paced_high), EG_TEST(test_unpaced),
	        EG_TEST(test_sigterm),   EG_TEST(test_help),       EG_TEST(test_bad_usage),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
