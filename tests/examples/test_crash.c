/*
 * test_crash.c - examples/crash.c end to end: it dies the way it says,
 * and the flight recorder it leaves behind tells the story.
 *
 * crash runs a producer, three workers and a mutex, then its task
 * "crasher" takes the mutex "tally" and dies: SIGSEGV (--how segv) or
 * SIGABRT (--how abort).  For each: the right signal, its output ("pid",
 * the task lines, "crashing (HOW)"), no earlier than --after-ms, and the
 * segment left in /dev/shm, which the reader library opens post mortem:
 * every task by name, the crasher RUNNING (it was, when the process died)
 * with its label "crashing" and owning "tally", its ACQUIRE of "tally"
 * and the workers' traffic on "work" in the rings.  The test then removes
 * the segment (ex_proc_fini) and checks that it is gone.
 *
 * Sanitizers: ASan and TSan catch SIGSEGV themselves by default, print a
 * report and exit with a status of their own (ASan 1, TSan 66; GCC's
 * UBSan alone does not).  The signal tests therefore run the child with
 * handle_segv=0 added to ASAN_OPTIONS, TSAN_OPTIONS and UBSAN_OPTIONS, so
 * that every build dies by the real signal; and test_sanitizer_handler
 * runs it with the sanitizer's own options and expects, per build, the
 * sanitizer's report and status, or the plain signal in a plain build,
 * with the segment left behind in every case.  abort() is not caught by
 * any of them (handle_abort=0 is their default).
 */
#include <inttypes.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "ex_proc.h"
#include "ex_seg.h"
#include "tsk_test.h"

#if defined(__SANITIZE_ADDRESS__)
#define CR_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define CR_ASAN 1
#endif
#endif
#if defined(__SANITIZE_THREAD__)
#define CR_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define CR_TSAN 1
#endif
#endif

#define AFTER_MS 200

struct cr {
	ex_proc prog;
	ex_seg seg;
	char env[3][512]; /* the sanitizer options with handle_segv=0 */
};

static int cr_setup(void **state)
{
	return ex_state_new(state, sizeof(struct cr));
}

static int cr_teardown(void **state)
{
	struct cr *t = *state;
	ex_seg_close(&t->seg);
	ex_proc_fini(&t->prog); /* removes the segment it left */
	free(t);
	return 0;
}

/* Runs crash with args to its death; with `real_signal', the sanitizers
 * let SIGSEGV through.  Checks it lived at least AFTER_MS. */
static void cr_run(struct cr *t, const char *const *args, bool real_signal)
{
	static const char *const vars[3] = {"ASAN_OPTIONS", "TSAN_OPTIONS", "UBSAN_OPTIONS"};
	const char *env[4] = {NULL};

	for (int i = 0; i < 3 && real_signal; i++) {
		const char *old = getenv(vars[i]);
		snprintf(t->env[i], sizeof(t->env[i]), "%s=%s%shandle_segv=0", vars[i],
		         old ? old : "", old && *old ? ":" : "");
		env[i] = t->env[i];
	}
	long long start = ex_now_ms();
	assert_int_equal(ex_proc_start_env(&t->prog, "crash", args, -1, -1, env), 0);
	if (ex_proc_wait(&t->prog, ex_ms(20000)) < 0)
		ex_proc_dump(&t->prog);
	assert_true(t->prog.reaped);
	assert_true(ex_now_ms() - start >= AFTER_MS);
}

/* It printed its pid, its tasks and how it crashes. */
static void expect_output(struct cr *t, const char *how)
{
	char want[256];

	snprintf(want, sizeof(want),
	         "pid %d\ntask producer\ntask worker-1\ntask worker-2\ntask worker-3\n"
	         "task crasher\ncrashing (%s)\n",
	         (int)t->prog.pid, how);
	if (strcmp(ex_proc_stdout(&t->prog), want) != 0) {
		ex_proc_dump(&t->prog);
		fail_msg("expected stdout \"%s\"", want);
	}
}

/* Died by signal sig. */
static void expect_signal(struct cr *t, int sig)
{
	if (!WIFSIGNALED(t->prog.status) || WTERMSIG(t->prog.status) != sig) {
		ex_proc_dump(&t->prog);
		fail_msg("expected death by signal %d (%s)", sig, strsignal(sig));
	}
}

/* The segment it left tells the story; then the test removes it. */
static void expect_post_mortem(struct cr *t)
{
	static const char *const names[] = {"root",     "producer", "worker-1",
	                                    "worker-2", "worker-3", "crasher"};
	char path[128];

	if (!ex_proc_probes_on()) {
		assert_false(ex_proc_has_segment(&t->prog));
		return;
	}
	assert_true(ex_proc_has_segment(&t->prog));
	assert_int_equal(ex_seg_open(&t->seg, &t->prog, 0), 0);
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (!ex_seg_task(&t->seg, names[i]))
			fail_msg("no task %s in the segment", names[i]);
	const tsk_seg_task *crasher = ex_seg_task(&t->seg, "crasher");
	const tsk_seg_res *tally = ex_seg_res(&t->seg, "tally");
	const tsk_seg_res *work = ex_seg_res(&t->seg, "work");
	assert_non_null(tally);
	assert_non_null(work);
	assert_int_equal(crasher->state, TSK_TS_RUNNING);
	assert_string_equal(ex_seg_str(&t->seg, crasher->label), "crashing");
	assert_int_equal(tally->owner, crasher->id);

	/* the last events: the crasher's ACQUIRE of tally, the work before */
	tsk_rd_rec *recs;
	long n = ex_seg_events(&t->seg, &recs);
	long acquired = 0, traffic = 0;
	assert_true(n > 0);
	for (long i = 0; i < n; i++) {
		const tsk_seg_event *e = &recs[i].ev;
		acquired +=
		        e->type == TSK_EV_ACQUIRE && e->task == crasher->id && e->obj == tally->id;
		traffic += (e->type == TSK_EV_SEND || e->type == TSK_EV_RECV) && e->obj == work->id;
	}
	free(recs);
	assert_int_equal(acquired, 1);
	assert_true(traffic > 0);
	ex_seg_close(&t->seg);

	assert_int_equal(ex_proc_segment_path(&t->prog, path, sizeof(path)), 0);
	ex_proc_fini(&t->prog);
	assert_int_not_equal(access(path, F_OK), 0);
}

/* ---- tests ----------------------------------------------------------------------- */

static void test_segv(void **state)
{
	struct cr *t = *state;
	const char *args[] = {"--after-ms", "200", NULL};

	cr_run(t, args, true);
	expect_signal(t, SIGSEGV);
	expect_output(t, "segv");
	expect_post_mortem(t);
}

static void test_abort(void **state)
{
	struct cr *t = *state;
	const char *args[] = {"--how", "abort", "--after-ms", "200", "--workers", "1", NULL};

	cr_run(t, args, true);
	expect_signal(t, SIGABRT);
	expect_output(t, "abort");
	expect_post_mortem(t);
}

/* With the sanitizers' own SIGSEGV handling (see the file comment). */
static void test_sanitizer_handler(void **state)
{
	struct cr *t = *state;
	const char *args[] = {"--after-ms", "200", NULL};

	cr_run(t, args, false);
	expect_output(t, "segv");
#if defined(CR_ASAN) || defined(CR_TSAN)
#if defined(CR_ASAN)
	const int status = 1;
	const char *report = "ERROR: AddressSanitizer: SEGV on unknown address";
#else
	const int status = 66;
	const char *report = "ERROR: ThreadSanitizer: SEGV on unknown address";
#endif
	assert_true(ex_proc_exited_with(&t->prog, status));
	const char *err = ex_proc_stderr(&t->prog);
	if (!strstr(err, report) || !strstr(err, "crasher")) {
		ex_proc_dump(&t->prog);
		fail_msg("no sanitizer report naming crasher");
	}
#else
	expect_signal(t, SIGSEGV);
#endif
	expect_post_mortem(t);
}

static void test_help(void **state)
{
	struct cr *t = *state;

	assert_true(ex_proc_help_ok(&t->prog, "crash", "usage: crash "));
}

static void test_bad_usage(void **state)
{
	static const char *const cases[][3] = {
	        {"--how", "bus", NULL},   {"--after-ms", "-5", NULL}, {"--after-ms", NULL},
	        {"--workers", "0", NULL}, {"--bogus", NULL},          {"extra", NULL},
	};
	struct cr *t = *state;

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		assert_true(ex_proc_bad_usage_ok(&t->prog, "crash", cases[i]));
}

#define CR_TEST(f) cmocka_unit_test_setup_teardown(f, cr_setup, cr_teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
	        CR_TEST(test_segv), CR_TEST(test_abort),     CR_TEST(test_sanitizer_handler),
	        CR_TEST(test_help), CR_TEST(test_bad_usage),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
