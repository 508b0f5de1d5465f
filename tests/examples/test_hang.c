/*
 * test_hang.c - examples/hang.c end to end: it hangs the way it says, and
 * its flight recorder says so too.
 *
 * hang prints one line per blocked task, "blocked TASK KIND RESOURCE
 * FILE:LINE", then "hung pid PID".  The test holds it to that against a
 * table of what it must print (the example's contract: the inspector's
 * tests rely on it), and then against its segment, read live with the
 * reader library: every task printed is BLOCKED there, on the wait kind
 * printed, with no deadline, on the resource of that name (or the task,
 * for a join), at the call site FILE:LINE; the mutex "db" is owned by the
 * holder; the ticker keeps running.  The program must stay alive (500 ms),
 * keep its segment while alive, die by SIGKILL leaving the segment with the
 * same story in it (the test removes it), and stop cleanly on SIGTERM
 * (cancellation: exit 0, no segment left).  Then --help and bad usage.
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

#define NIDLE     3
#define MAX_LINES 64

/* What hang must print, and what each kind is in the segment. */
struct expect {
	const char *task, *kind, *res;
};

static const struct expect expected[] = {
        {"reader", "chan_recv", "requests"},
        {"holder", "waitgroup", "shutdown"},
        {"locker", "mutex", "db"},
        {"joiner", "join", "reader"},
        {"publisher", "chan_send", "events"},
        {"waiter", "condvar", "config-changed"},
        {"writer", "rwlock_wr", "cache"},
        {"idle-1", "select", "requests"},
        {"idle-2", "select", "requests"},
        {"idle-3", "select", "requests"},
        {"root", "semaphore", "permits"},
};
#define NEXPECTED (sizeof(expected) / sizeof(expected[0]))

static const struct {
	const char *name;
	int wait_kind; /* enum tsk_wait_kind */
	int res_kind;  /* enum tsk_res_kind, NONE for a join */
} kinds[] = {
        {"join", TSK_WAIT_JOIN, TSK_RES_NONE},
        {"chan_send", TSK_WAIT_CHAN_SEND, TSK_RES_CHAN},
        {"chan_recv", TSK_WAIT_CHAN_RECV, TSK_RES_CHAN},
        {"select", TSK_WAIT_SELECT, TSK_RES_CHAN},
        {"mutex", TSK_WAIT_MUTEX, TSK_RES_MUTEX},
        {"rwlock_wr", TSK_WAIT_RWLOCK_WR, TSK_RES_RWLOCK},
        {"semaphore", TSK_WAIT_SEM, TSK_RES_SEM},
        {"waitgroup", TSK_WAIT_WG, TSK_RES_WG},
        {"condvar", TSK_WAIT_COND, TSK_RES_COND},
};

/* One "blocked" line as printed. */
struct line {
	char task[32], kind[32], res[32], file[128];
	int line;
};

struct hg {
	ex_proc prog;
	ex_seg seg;
	struct line lines[MAX_LINES];
	size_t nlines;
};

static int hg_setup(void **state)
{
	return ex_state_new(state, sizeof(struct hg));
}

static int hg_teardown(void **state)
{
	struct hg *t = *state;
	ex_seg_close(&t->seg);
	ex_proc_fini(&t->prog); /* kills it and removes its segment */
	free(t);
	return 0;
}

/* ---- what it prints ---------------------------------------------------------- */

/* Starts hang with args and waits for "hung pid"; parses the lines. */
static void hg_start(struct hg *t, const char *const *args)
{
	assert_int_equal(ex_proc_start(&t->prog, "hang", args), 0);
	assert_non_null(ex_proc_wait_stdout(&t->prog, "hung pid", ex_ms(10000)));
	/* the pid line is the last: wait for its newline */
	const char *out;
	long long deadline = ex_now_ms() + ex_ms(5000);
	while (!strchr(strstr(out = ex_proc_stdout(&t->prog), "hung pid"), '\n')) {
		assert_true(ex_now_ms() < deadline);
		usleep(2000);
	}

	t->nlines = 0;
	for (const char *s = out; *s;) {
		const char *nl = strchr(s, '\n');
		char buf[256];
		size_t n = nl ? (size_t)(nl - s) : strlen(s);
		assert_true(n < sizeof(buf));
		memcpy(buf, s, n);
		buf[n] = '\0';
		s += n + (nl != NULL);
		int pid;
		if (sscanf(buf, "hung pid %d", &pid) == 1) {
			assert_int_equal(pid, t->prog.pid);
			assert_true(*s == '\0'); /* the last line */
			return;
		}
		assert_true(t->nlines < MAX_LINES);
		struct line *l = &t->lines[t->nlines++];
		char where[128];
		if (sscanf(buf, "blocked %31s %31s %31s %127s", l->task, l->kind, l->res, where) !=
		            4 ||
		    !strrchr(where, ':')) {
			fprintf(stderr, "bad line: \"%s\"\n", buf);
			fail();
		}
		*strrchr(where, ':') = '\0';
		snprintf(l->file, sizeof(l->file), "%s", where);
		l->line = atoi(where + strlen(where) + 1);
	}
	fail_msg("no \"hung pid\" line");
}

/* The lines are the expected ones, in order, each in examples/hang.c. */
static void expect_lines(const struct hg *t)
{
	assert_int_equal(t->nlines, NEXPECTED);
	for (size_t i = 0; i < NEXPECTED; i++) {
		const struct line *l = &t->lines[i];
		assert_string_equal(l->task, expected[i].task);
		assert_string_equal(l->kind, expected[i].kind);
		assert_string_equal(l->res, expected[i].res);
		assert_string_equal(l->file, "examples/hang.c");
		assert_true(l->line > 0);
	}
	/* each blocking call is a different line, but the idle tasks share one */
	for (size_t i = 0; i < NEXPECTED; i++)
		for (size_t j = i + 1; j < NEXPECTED; j++)
			if (strcmp(t->lines[i].kind, "select") ||
			    strcmp(t->lines[j].kind, "select"))
				assert_int_not_equal(t->lines[i].line, t->lines[j].line);
}

/* ---- what its segment says ------------------------------------------------------ */

/* Whether line l holds in the snapshot; says why not when `report'. */
static bool line_holds(ex_seg *s, const struct line *l, bool report)
{
	const tsk_seg_task *task = ex_seg_task(s, l->task);
	size_t k = 0;
	char site[160];

	while (k < sizeof(kinds) / sizeof(kinds[0]) && strcmp(kinds[k].name, l->kind))
		k++;
	if (k == sizeof(kinds) / sizeof(kinds[0])) {
		fprintf(stderr, "%s: unknown wait kind %s\n", l->task, l->kind);
		return false;
	}
	if (!task || task->state != TSK_TS_BLOCKED || task->wait_kind != kinds[k].wait_kind ||
	    task->wait_deadline_ns != -1) {
		if (report)
			fprintf(stderr,
			        "%s: %s, state %d, wait kind %d (want %d), deadline %" PRId64 "\n",
			        l->task, task ? "found" : "not found", task ? task->state : -1,
			        task ? task->wait_kind : -1, kinds[k].wait_kind,
			        task ? task->wait_deadline_ns : 0);
		return false;
	}
	uint64_t want_obj;
	if (kinds[k].res_kind == TSK_RES_NONE) {
		const tsk_seg_task *joined = ex_seg_task(s, l->res);
		want_obj = joined ? joined->id : 0;
	} else {
		const tsk_seg_res *res = ex_seg_res(s, l->res);
		want_obj = res && res->kind == kinds[k].res_kind ? res->id : 0;
	}
	/* A select's wait_obj is the first channel the runtime polled, in a
	 * random order (select.c), although tsk_segment.h says "the first
	 * channel of the select": the idle tasks' other channel is "control". */
	const tsk_seg_res *other = ex_seg_res(s, "control");
	if (kinds[k].wait_kind == TSK_WAIT_SELECT && other && task->wait_obj == other->id)
		want_obj = other->id;
	if (!want_obj || task->wait_obj != want_obj) {
		if (report)
			fprintf(stderr,
			        "%s: waits on object %" PRIu64 ", not %s (id %" PRIu64 ")\n",
			        l->task, task->wait_obj, l->res, want_obj);
		return false;
	}
	/* the call site: "file:line function" */
	snprintf(site, sizeof(site), "%s:%d ", l->file, l->line);
	const char *got = ex_seg_str(s, task->wait_site);
	if (strncmp(got, site, strlen(site)) != 0) {
		if (report)
			fprintf(stderr, "%s: wait site \"%s\", printed %s:%d\n", l->task, got,
			        l->file, l->line);
		return false;
	}
	return true;
}

/* Every printed line holds in the segment (waiting up to ms for the last
 * tasks to get there), and the holder owns "db". */
static void expect_segment(struct hg *t, int ms)
{
	long long deadline = ex_now_ms() + ms;
	bool ok = false;

	while (!ok) {
		assert_int_equal(ex_seg_snap(&t->seg), 0);
		ok = true;
		for (size_t i = 0; i < t->nlines && ok; i++)
			ok = line_holds(&t->seg, &t->lines[i], false);
		if (ok || ex_now_ms() >= deadline)
			break;
		usleep(5000);
	}
	for (size_t i = 0; i < t->nlines; i++)
		assert_true(line_holds(&t->seg, &t->lines[i], true));
	const tsk_seg_task *holder = ex_seg_task(&t->seg, "holder");
	const tsk_seg_res *db = ex_seg_res(&t->seg, "db");
	assert_non_null(holder);
	assert_non_null(db);
	assert_int_equal(db->owner, holder->id);
	assert_int_equal(db->waiters, 1);
}

/* ---- tests --------------------------------------------------------------------- */

static void test_hangs_as_printed(void **state)
{
	struct hg *t = *state;
	const char *args[] = {"--tasks", "3", NULL};

	hg_start(t, args);
	expect_lines(t);
	/* it stays hung */
	assert_int_equal(ex_proc_wait(&t->prog, 500), -ETIMEDOUT);
	if (!ex_proc_probes_on()) {
		assert_false(ex_proc_has_segment(&t->prog));
		return;
	}
	assert_true(ex_proc_has_segment(&t->prog));
	assert_int_equal(ex_seg_open(&t->seg, &t->prog, ex_ms(5000)), 0);
	expect_segment(t, ex_ms(5000));

	/* the ticker is not stuck: it keeps being run */
	const tsk_seg_task *tick = ex_seg_task(&t->seg, "ticker");
	assert_non_null(tick);
	uint64_t polls = tick->polls;
	usleep(100 * 1000);
	assert_int_equal(ex_seg_snap(&t->seg), 0);
	assert_non_null(tick = ex_seg_task(&t->seg, "ticker"));
	assert_true(tick->polls > polls);
	ex_seg_close(&t->seg);

	/* SIGKILL: dead, the segment left with the same story */
	assert_int_equal(ex_proc_signal_wait(&t->prog, SIGKILL, ex_ms(5000)), 0);
	assert_true(WIFSIGNALED(t->prog.status) && WTERMSIG(t->prog.status) == SIGKILL);
	assert_true(ex_proc_has_segment(&t->prog));
	assert_int_equal(ex_seg_open(&t->seg, &t->prog, 0), 0);
	expect_segment(t, 0);
	ex_seg_close(&t->seg);
	/* which the test removes */
	char path[128];
	assert_int_equal(ex_proc_segment_path(&t->prog, path, sizeof(path)), 0);
	ex_proc_fini(&t->prog);
	assert_int_not_equal(access(path, F_OK), 0);
}

/* SIGTERM cancels every task: a clean stop, exit 0, no segment left. */
static void test_sigterm(void **state)
{
	struct hg *t = *state;
	const char *args[] = {"--tasks", "50", NULL};

	hg_start(t, args);
	assert_int_equal(t->nlines, NEXPECTED - NIDLE + 50);
	assert_int_equal(ex_proc_signal_wait(&t->prog, SIGTERM, ex_ms(10000)), 0);
	assert_true(ex_proc_exited_with(&t->prog, 0));
	assert_string_equal(ex_proc_stderr(&t->prog), "hang: Terminated, stopping\n");
	assert_false(ex_proc_has_segment(&t->prog));
}

static void test_help(void **state)
{
	struct hg *t = *state;

	assert_true(ex_proc_help_ok(&t->prog, "hang", "usage: hang [--tasks N]\n"));
}

static void test_bad_usage(void **state)
{
	static const char *const cases[][3] = {
	        {"--tasks", "-1", NULL}, {"--tasks", "100001", NULL}, {"--tasks", "x", NULL},
	        {"--tasks", NULL},       {"--bogus", NULL},           {"extra", NULL},
	};
	struct hg *t = *state;

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		assert_true(ex_proc_bad_usage_ok(&t->prog, "hang", cases[i]));
}

#define HG_TEST(f) cmocka_unit_test_setup_teardown(f, hg_setup, hg_teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
	        HG_TEST(test_hangs_as_printed),
	        HG_TEST(test_sigterm),
	        HG_TEST(test_help),
	        HG_TEST(test_bad_usage),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
