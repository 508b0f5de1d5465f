/*
 * test_exit.c - clean exit of tsk_run (sched.c, "Clean exit" in its header
 * comment) and idle behaviour.
 *
 * tsk_run returns when the root has returned and every other task has
 * finished; tasks still blocked once nothing can run are cancelled and
 * awaited, and no thread outlives the call.  A hang here would hang the
 * program at exit, so the main case runs in a child process (this binary
 * run again, `--child exit:W`: a fresh process with nothing else in it)
 * that the test can time and kill:
 *
 *   - the root returns while 1,000 tasks (500 under TSan, where spawning
 *     costs ~1 ms a task) are blocked forever: detached and joinable tasks
 *     asleep an hour ahead, tasks joining those (never joined themselves),
 *     cycles of two tasks joining each other, and a chain of joins ending in
 *     a sleeper.  tsk_run must return soon after the root (bound 5 s, for
 *     noisy machines; a healthy exit takes a few ms, and the figures are
 *     printed) and the child exit 0 (5 s in all, 20 s under TSan); every
 *     blocking call must have returned -ECANCELED, every task must have
 *     finished before tsk_run returned, and afterwards /proc/self/task must
 *     hold one thread (two under TSan: its own) and no task stack be mapped.
 *     With 1, 2 and 4 workers.
 *   - the same in this process, once per worker count.
 *   - cancellation is no kill: a cancelled task may go on computing, spawn
 *     a new task (not cancelled, so it needs a second round of
 *     cancellation once it blocks) and return later; tsk_run waits for it.
 *   - an idle runtime does not spin: while the root sleeps 300 ms on 2
 *     workers (also: joins a sleeping task on 4 workers), the process uses
 *     well under 100 ms of CPU (getrusage; the figure is printed).
 *
 * Inside tasks only TSK_EXPECT*; ct_run (core_test.h) checks threads and
 * task stacks after every run; the last test checks the heap.
 */
#include <errno.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "core_test.h"

#define FOREVER_MS    (3600 * 1000) /* an hour: nobody waits that long */
#define EXIT_BOUND_MS 5000          /* generous; a healthy exit takes a few ms */
#ifdef TSK_TEST_TSAN
/* Spawning costs ~1 ms a task under TSan (tsk_test.h), and the six runs of
 * 1,000 took 14 s.  The exit's cancellation readies all of them at once:
 * 500 are still more than a worker's run queue holds (RT_RUNQ_SIZE, 256).
 * A multiple of 20, for the layout (blocked_root). */
#define NBLOCKED       500
#define CHILD_BOUND_MS 20000 /* the whole child: TSan makes spawning slow */
#else
#define NBLOCKED       1000
#define CHILD_BOUND_MS EXIT_BOUND_MS
#endif

/* ---- 1,000 tasks blocked forever (NBLOCKED) -------------------------------- */

/* Where each blocked task stands; rc starts at 1 (not returned yet). */
typedef struct blocked {
	atomic_int entered;  /* tasks about to block */
	atomic_int finished; /* tasks whose blocking call returned */
	atomic_int rc[NBLOCKED];
	_Atomic(tsk_task *) handle[NBLOCKED];
	int64_t root_returned;
} blocked;

static blocked *bl;

typedef struct blocked_arg {
	int i;     /* index in bl */
	int other; /* task to join, or -1: sleep */
} blocked_arg;

static blocked_arg bargs[NBLOCKED];

static void *blocked_task(void *arg)
{
	blocked_arg *a = arg;
	int rc;

	if (a->other < 0) {
		atomic_fetch_add(&bl->entered, 1);
		rc = tsk_sleep(tsk_after_ms(FOREVER_MS));
	} else {
		/* the handle of the task to join may be published after us */
		tsk_task *t;
		int64_t end = tsk_after_ms(10000);
		while ((t = atomic_load(&bl->handle[a->other])) == NULL && tsk_now() < end)
			tsk_sleep(tsk_after_ms(1));
		TSK_EXPECT(t != NULL);
		atomic_fetch_add(&bl->entered, 1);
		rc = tsk_join(t, NULL, TSK_FOREVER);
	}
	atomic_store(&bl->rc[a->i], rc);
	atomic_fetch_add(&bl->finished, 1);
	return NULL;
}

/* Layout of the 1,000 (of NBLOCKED: the bounds are tenths of it):
 *   [  0, 400)  detached, asleep
 *   [400, 600)  joinable, asleep, never joined
 *   [600, 800)  joinable, each joins one of [400, 600), never joined
 *   [800, 900)  50 pairs joining each other
 *   [900,1000)  a chain: i joins i+1, the last one sleeps */
#define TENTHS(k) ((k)*NBLOCKED / 10)
_Static_assert(NBLOCKED % 20 == 0, "the pairs start and end at even indices");

static void *blocked_root(void *arg)
{
	(void)arg;
	for (int i = 0; i < NBLOCKED; i++) {
		blocked_arg *a = &bargs[i];
		a->i = i;
		a->other = -1;
		if (i >= TENTHS(6) && i < TENTHS(8))
			a->other = i - TENTHS(2);
		else if (i >= TENTHS(8) && i < TENTHS(9))
			a->other = i ^ 1;
		else if (i >= TENTHS(9) && i < NBLOCKED - 1)
			a->other = i + 1;
		atomic_store(&bl->rc[i], 1);
	}
	for (int i = 0; i < NBLOCKED; i++) {
		tsk_task *t = NULL;
		TSK_EXPECT_EQ(
		        tsk_spawn(i < TENTHS(4) ? NULL : &t, "blocked", blocked_task, &bargs[i]),
		        0);
		atomic_store(&bl->handle[i], t);
	}
	/* let them block (if some only block after we returned, the runtime
	 * must cope with that too) */
	int64_t end = tsk_after_ms(10000);
	while (atomic_load(&bl->entered) < NBLOCKED && tsk_now() < end)
		tsk_sleep(tsk_after_ms(1));
	TSK_EXPECT_EQ(atomic_load(&bl->entered), NBLOCKED);
	tsk_sleep(tsk_after_ms(20));
	TSK_EXPECT_EQ(atomic_load(&bl->finished), 0);
	bl->root_returned = tsk_now();
	return (void *)42;
}

/* Checks what a run of blocked_root left; returns a message or NULL. */
static const char *blocked_verdict(void)
{
	if (atomic_load(&bl->finished) != NBLOCKED)
		return "not every blocked task finished before tsk_run returned";
	static char msg[160];
	int bad = 0, first = -1;
	for (int i = 0; i < NBLOCKED; i++) {
		if (atomic_load(&bl->rc[i]) != -ECANCELED) {
			bad++;
			if (first < 0)
				first = i;
		}
	}
	if (bad == 0)
		return NULL;
	snprintf(msg, sizeof(msg),
	         "%d blocking calls did not return -ECANCELED; the first: task %d (%s), %d", bad,
	         first, bargs[first].other < 0 ? "sleep" : "join", atomic_load(&bl->rc[first]));
	return msg;
}

/* `--child exit:W`: exit 0 when everything held, else 3 and a message. */
static int child_exit(int workers)
{
	static blocked b;
	tsk_config cfg = {.workers = workers};
	void *res = NULL;

	bl = &b;
	ct_leak_setup(NULL); /* the baselines of threads and stack mappings */
	if (tsk_run(blocked_root, NULL, &cfg, &res) != 0 || res != (void *)42) {
		fprintf(stderr, "child: tsk_run failed\n");
		return 3;
	}
	int64_t ns = tsk_now() - b.root_returned;
	const char *why = blocked_verdict();
	if (why == NULL && atomic_load(&tsk_test_failed) != 0)
		why = "an expectation failed inside a task";
	if (why == NULL && ct_threads() != ct_threads_base)
		why = "a thread outlived tsk_run";
	if (why == NULL && ns >= EXIT_BOUND_MS * CT_MS)
		why = "tsk_run took too long after the root returned";
	if (why == NULL && ct_stack_maps(CT_STACK) != ct_maps_base)
		why = "a task stack is still mapped";
	fprintf(stderr, "child (%d workers): tsk_run returned %.2f ms after the root%s%s\n",
	        workers, (double)ns / 1e6, why ? ": " : "", why ? why : "");
	return why ? 3 : 0;
}

static void test_exit_child(void **state)
{
	(void)state;
	for (int w = 1; w <= 4; w *= 2) {
		char mode[32];
		int status;
		int64_t ns;

		snprintf(mode, sizeof(mode), "exit:%d", w);
		int rc = ct_child(mode, NULL, 30000, &status, &ns);
		print_message("  %d worker(s): the child exited after %.1f ms in all\n", w,
		              ct_ms(0, ns));
		assert_int_equal(rc, 0); /* -1: it hung and was killed */
		assert_true(WIFEXITED(status));
		assert_int_equal(WEXITSTATUS(status), 0);
		assert_true(ns < CHILD_BOUND_MS * CT_MS);
	}
}

static void test_exit_in_process(void **state)
{
	(void)state;
	for (int w = 1; w <= 4; w *= 2) {
		static blocked b;

		memset(&b, 0, sizeof(b));
		bl = &b;
		assert_ptr_equal(ct_run(blocked_root, NULL, w, 0), (void *)42);
		int64_t ns = tsk_now() - b.root_returned;
		print_message("  %d worker(s): tsk_run returned %.2f ms after the root\n", w,
		              ct_ms(0, ns));
		const char *why = blocked_verdict();
		if (why)
			print_message("  %s\n", why);
		assert_null(why);
		assert_true(ns < EXIT_BOUND_MS * CT_MS);
	}
}

/* ---- cancellation is no kill ------------------------------------------------- */

typedef struct stubborn_ctx {
	atomic_int first_rc;  /* the cancelled sleep */
	atomic_int late_rc;   /* the late child's sleep */
	atomic_bool computed; /* the cancelled task finished its work */
	atomic_int join_rc;   /* its join of the late child */
} stubborn_ctx;

static stubborn_ctx *sx;

static void *late_child(void *arg)
{
	(void)arg;
	/* not cancelled when it starts: it sleeps, so the runtime must cancel
	 * it in a second round */
	TSK_EXPECT_EQ(tsk_cancelled(), 0);
	atomic_store(&sx->late_rc, tsk_sleep(tsk_after_ms(FOREVER_MS)));
	return NULL;
}

static void *stubborn(void *arg)
{
	tsk_task *c;

	(void)arg;
	atomic_store(&sx->first_rc, tsk_sleep(tsk_after_ms(FOREVER_MS)));
	/* cancelled; carry on regardless: 50 ms of work, then a new task */
	int64_t end = tsk_after_ms(50);
	while (tsk_now() < end)
		;
	atomic_store(&sx->computed, true);
	TSK_EXPECT_EQ(tsk_spawn(&c, "late", late_child, NULL), 0);
	/* a blocking call of ours fails at once, theirs does not */
	atomic_store(&sx->join_rc, tsk_join(c, NULL, TSK_FOREVER));
	return NULL;
}

static void *stubborn_root(void *arg)
{
	(void)arg;
	TSK_EXPECT_EQ(tsk_spawn(NULL, "stubborn", stubborn, NULL), 0);
	return NULL;
}

static void test_cancel_is_no_kill(void **state)
{
	(void)state;
	for (int w = 1; w <= 2; w++) {
		stubborn_ctx x = {0};
		sx = &x;
		ct_run(stubborn_root, NULL, w, 0);
		assert_int_equal(atomic_load(&x.first_rc), -ECANCELED);
		assert_true(atomic_load(&x.computed));
		assert_int_equal(atomic_load(&x.join_rc), -ECANCELED);
		assert_int_equal(atomic_load(&x.late_rc), -ECANCELED);
	}
}

/* ---- idle runtimes do not spin ------------------------------------------------- */

static int64_t cpu_ns(void)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	return ((int64_t)ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1000000000 +
	       ((int64_t)ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) * 1000;
}

typedef struct idle_ctx {
	bool join;   /* the root joins a sleeping task instead of sleeping */
	int64_t cpu; /* CPU time used while idle */
	int64_t wall;
} idle_ctx;

static void *idle_sleeper(void *arg)
{
	return (void *)(intptr_t)tsk_sleep(tsk_after_ms((intptr_t)arg));
}

static void *idle_root(void *arg)
{
	idle_ctx *x = arg;
	tsk_task *t;
	void *r = (void *)1;

	/* let the workers start up and park first */
	tsk_sleep(tsk_after_ms(20));
	int64_t c0 = cpu_ns(), t0 = tsk_now();
	if (x->join) {
		TSK_EXPECT_EQ(tsk_spawn(&t, "sleeper", idle_sleeper, (void *)300), 0);
		TSK_EXPECT_EQ(tsk_join(t, &r, TSK_FOREVER), 0);
		TSK_EXPECT(r == NULL);
	} else {
		TSK_EXPECT_EQ(tsk_sleep(tsk_after_ms(300)), 0);
	}
	x->cpu = cpu_ns() - c0;
	x->wall = tsk_now() - t0;
	return NULL;
}

static void test_idle_cpu(void **state)
{
	(void)state;
	for (int k = 0; k < 2; k++) {
		idle_ctx x = {.join = k == 1};
		int w = k == 1 ? 4 : 2;

		ct_run(idle_root, &x, w, 0);
		print_message("  %d workers, root %s: %.1f ms of CPU in %.1f ms\n", w,
		              x.join ? "joining a sleeper" : "asleep", ct_ms(0, x.cpu),
		              ct_ms(0, x.wall));
		assert_true(x.wall >= 300 * CT_MS);
		assert_true(x.cpu < 100 * CT_MS);
	}
}

static int child_main(const char *mode)
{
	if (strcmp(mode, "leaks") == 0)
		return ct_leaks_child();
	if (strncmp(mode, "exit:", 5) == 0)
		return child_exit(atoi(mode + 5));
	return 2;
}

int main(int argc, char **argv)
{
	if (argc == 3 && strcmp(argv[1], "--child") == 0)
		return child_main(argv[2]);

	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_exit_child),        cmocka_unit_test(test_exit_in_process),
	        cmocka_unit_test(test_cancel_is_no_kill), cmocka_unit_test(test_idle_cpu),
	        cmocka_unit_test(ct_test_no_leaks),
	};

	return cmocka_run_group_tests(tests, ct_leak_setup, NULL);
}
