/*
 * test_offload.c - tests of runtime/src/offload.c (tsk_offload, the
 * blocking pool).
 *
 *   - stress: 100 tasks offload 10 jobs each (every job sleeps 2 ms in
 *     usleep) to a pool of 16 threads while a ticker task sleeps 1 ms in a
 *     loop: every result is right, the ticker keeps ticking (at least 20
 *     ticks while the jobs run; ~125 ms of jobs give ~100 on an idle
 *     machine), more jobs run at once than there are workers but never
 *     more than 16, and the process never has more than 16 pool threads.
 *     On 1 and 2 workers.  Not scaled by TSK_TEST_SCALE: the jobs sleep,
 *     they cost no CPU.
 *   - withdrawal: with one pool thread busy for 200 ms, a second job gets
 *     -ETIMEDOUT at its 20 ms deadline, or -ECANCELED when its task is
 *     cancelled, while the first is still running; its fn never runs, and
 *     the pool serves later jobs.
 *   - a started job is waited for: cancelled (or past its 10 ms deadline)
 *     while its 100 ms job runs, the call returns 0 with the job's result
 *     and only once the job has returned.
 *   - errors: -EINVAL (fn NULL), -EPERM (outside a task), -ETIMEDOUT for a
 *     deadline already past and -ECANCELED for a cancelled task (fn not
 *     run, no thread started), -EINVAL from tsk_run for pool_threads > 4096;
 *     and pool threads run with the process signals blocked.
 *   - idle threads: with TASKSCOPE_POOL_IDLE_MS=50 the threads of a burst
 *     retire (the process is back to its workers' threads) and a second
 *     burst starts new ones; with the default 10 s they stay for 200 ms.
 *   - exit: the root returns while detached tasks wait for two running
 *     jobs and one queued one: tsk_run returns after the running jobs have
 *     returned (their callers get 0 and the results), the queued job is
 *     withdrawn with -ECANCELED and never runs.
 *
 * Every run ends with ot_run's checks: no TSK_EXPECT failed, no thread of
 * the runtime is left (pool threads included) and no task stack is mapped.
 * The last test checks the heap in a child process (core_test.h), with an
 * offload workload, and with glibc's cache of thread stacks off besides
 * core_test.h's tunables: each cached stack keeps its TLS vector (a few
 * hundred bytes of heap), and how many stacks the cache holds depends on
 * how many pool threads happened to exist at once.  Inside tasks and pool
 * threads only TSK_EXPECT*.
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core_test.h"
#include "offload_int.h"
#include "sync_test.h"

/* Runs root with `workers` workers and a pool of at most pool_threads
 * threads, then checks what every run must leave behind (see above). */
static void *ot_run(void *(*root)(void *), void *arg, int workers, int pool_threads)
{
	tsk_config cfg = {.workers = workers, .name = "ot", .pool_threads = pool_threads};
	return ct_run_cfg(root, arg, &cfg);
}

/* Raises *max to v if v is larger. */
static void raise_max(atomic_int *max, int v)
{
	int m = atomic_load(max);

	while (v > m && !atomic_compare_exchange_weak(max, &m, v))
		;
}

/* ---- jobs --------------------------------------------------------------- */

/* A job that sleeps ms milliseconds; flags say where it stands. */
typedef struct block_job {
	int64_t ms;          /* how long it sleeps */
	atomic_int started;  /* fn has begun */
	atomic_int finished; /* fn is about to return */
	atomic_int *running; /* NULL, or jobs running now (counted) */
	atomic_int *max_run; /* NULL, or the most seen running at once */
	atomic_int *max_thr; /* NULL, or the most threads of the process seen */
} block_job;

#define BLOCK_RESULT(b) ((void *)(intptr_t)((b)->ms + 7))

static void *block_fn(void *arg)
{
	block_job *b = arg;

	atomic_store(&b->started, 1);
	if (b->running)
		raise_max(b->max_run, atomic_fetch_add(b->running, 1) + 1);
	if (b->max_thr)
		raise_max(b->max_thr, ct_threads());
	usleep((useconds_t)(b->ms * 1000));
	if (b->running)
		atomic_fetch_sub(b->running, 1);
	atomic_store(&b->finished, 1);
	return BLOCK_RESULT(b);
}

/* Counts its runs in *(atomic_int *)arg and returns arg. */
static void *count_fn(void *arg)
{
	atomic_fetch_add((atomic_int *)arg, 1);
	return arg;
}

/* Returns 1 when the signals a process may receive are blocked on the
 * calling thread, else 0. */
static void *mask_fn(void *arg)
{
	static const int sigs[] = {SIGINT, SIGTERM, SIGHUP, SIGUSR1, SIGCHLD, SIGPIPE, SIGALRM};
	sigset_t cur;

	(void)arg;
	if (pthread_sigmask(SIG_BLOCK, NULL, &cur) != 0)
		return (void *)0;
	for (size_t i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++)
		if (!sigismember(&cur, sigs[i]))
			return (void *)0;
	return (void *)1;
}

/* A task that offloads its block_job and returns the rc; checks the result
 * and that the job had finished by the time the call returned. */
static void *block_task(void *arg)
{
	block_job *b = arg;
	void *res = NULL;
	int rc = tsk_offload(block_fn, b, &res, TSK_FOREVER);

	if (rc == 0) {
		TSK_EXPECT(res == BLOCK_RESULT(b));
		TSK_EXPECT_EQ(atomic_load(&b->finished), 1);
	}
	return (void *)(intptr_t)rc;
}

/* A task that offloads count_fn on its atomic_int, with no deadline. */
static void *count_task(void *arg)
{
	void *res = NULL;
	int rc = tsk_offload(count_fn, arg, &res, TSK_FOREVER);

	if (rc == 0)
		TSK_EXPECT(res == arg);
	return (void *)(intptr_t)rc;
}

/* ---- stress ------------------------------------------------------------- */

#define STRESS_TASKS 100
#define STRESS_JOBS  10
#define STRESS_POOL  16
#define STRESS_TICKS 20 /* the ticker's floor while the jobs run */

typedef struct stress_ctx {
	int workers;            /* of this run */
	atomic_int running;     /* jobs in fn now */
	atomic_int max_running; /* the most at once */
	atomic_int ran;         /* jobs run */
	atomic_int max_threads; /* the most threads of the process the ticker saw */
	atomic_bool over;       /* every offloading task has returned */
	atomic_long ticks;      /* ticker rounds until then */
} stress_ctx;

typedef struct stress_job {
	stress_ctx *x;
	long v;
} stress_job;

static void *stress_fn(void *arg)
{
	stress_job *a = arg;
	stress_ctx *x = a->x;

	raise_max(&x->max_running, atomic_fetch_add(&x->running, 1) + 1);
	usleep(2000);
	atomic_fetch_sub(&x->running, 1);
	atomic_fetch_add(&x->ran, 1);
	return (void *)(intptr_t)(a->v * 2 + 1);
}

typedef struct stress_arg {
	stress_ctx *x;
	int id;
} stress_arg;

static void *stress_task(void *arg)
{
	stress_arg *sa = arg;

	for (int k = 0; k < STRESS_JOBS; k++) {
		stress_job a = {sa->x, (long)sa->id * STRESS_JOBS + k};
		void *res = NULL;

		TSK_EXPECT_EQ(tsk_offload(stress_fn, &a, &res, TSK_FOREVER), 0);
		TSK_EXPECT_EQ((intptr_t)res, a.v * 2 + 1);
	}
	return NULL;
}

static void *ticker_task(void *arg)
{
	stress_ctx *x = arg;

	while (!atomic_load(&x->over)) {
		TSK_EXPECT_EQ(tsk_sleep(tsk_after_ms(1)), 0);
		if (atomic_fetch_add(&x->ticks, 1) % 8 == 0)
			raise_max(&x->max_threads, ct_threads());
	}
	return NULL;
}

static void *stress_root(void *arg)
{
	stress_ctx *x = arg;
	stress_arg a[STRESS_TASKS];
	tsk_task *t[STRESS_TASKS], *ticker;

	ticker = st_spawn("ticker", ticker_task, x);
	for (int i = 0; i < STRESS_TASKS; i++) {
		a[i] = (stress_arg){x, i};
		t[i] = st_spawn("offloader", stress_task, &a[i]);
	}
	for (int i = 0; i < STRESS_TASKS; i++)
		st_join(t[i]);
	atomic_store(&x->over, true);
	st_join(ticker);
	return NULL;
}

static void test_stress(void **state)
{
	(void)state;
	for (int workers = 1; workers <= 2; workers++) {
		stress_ctx x = {.workers = workers};

		ot_run(stress_root, &x, workers, STRESS_POOL);
		assert_int_equal(atomic_load(&x.ran), STRESS_TASKS * STRESS_JOBS);
		assert_in_range(atomic_load(&x.max_running), workers + 1, STRESS_POOL);
		assert_true(atomic_load(&x.ticks) >= STRESS_TICKS);
		/* the workers other than tsk_run's thread, plus the pool */
		assert_in_range(atomic_load(&x.max_threads), ct_threads_base + workers - 1,
		                ct_threads_base + workers - 1 + STRESS_POOL);
		print_message("workers %d: %ld ticks, %d jobs at once, %d threads\n", workers,
		              atomic_load(&x.ticks), atomic_load(&x.max_running),
		              atomic_load(&x.max_threads));
	}
}

/* ---- withdrawal of a queued job ----------------------------------------- */

#define WD_BLOCK_MS 200 /* the job holding the only pool thread */

/* One pool thread, busy with job a for 200 ms: a job with a 20 ms deadline
 * is withdrawn at its deadline, long before a is done. */
static void *deadline_root(void *arg)
{
	block_job a = {.ms = WD_BLOCK_MS};
	atomic_int b_ran = 0;
	void *res = NULL;
	tsk_task *ta;
	int64_t t0;

	(void)arg;
	ta = st_spawn("a", block_task, &a);
	ST_WAIT_UNTIL(atomic_load(&a.started));
	t0 = tsk_now();
	TSK_EXPECT_EQ(tsk_offload(count_fn, &b_ran, &res, tsk_after_ms(20)), -ETIMEDOUT);
	TSK_EXPECT(st_ms_since(t0) >= 20);
	TSK_EXPECT_EQ(atomic_load(&a.finished), 0); /* withdrawn while a runs */
	TSK_EXPECT(res == NULL);
	TSK_EXPECT_EQ(offload__queued(), 0);
	TSK_EXPECT_EQ(st_join(ta), 0);
	TSK_EXPECT_EQ(atomic_load(&b_ran), 0);
	/* the pool goes on serving */
	TSK_EXPECT_EQ(tsk_offload(count_fn, &b_ran, &res, tsk_after_ms(60000)), 0);
	TSK_EXPECT(res == &b_ran);
	TSK_EXPECT_EQ(atomic_load(&b_ran), 1);
	TSK_EXPECT_EQ(offload__threads(), 1);
	return NULL;
}

static void test_withdraw_deadline(void **state)
{
	(void)state;
	ot_run(deadline_root, NULL, 2, 1);
}

/* The same, with the task waiting for the queued job cancelled. */
static void *cancel_root(void *arg)
{
	block_job a = {.ms = WD_BLOCK_MS};
	atomic_int b_ran = 0;
	tsk_task *ta, *tb;

	(void)arg;
	ta = st_spawn("a", block_task, &a);
	ST_WAIT_UNTIL(atomic_load(&a.started));
	tb = st_spawn("b", count_task, &b_ran);
	ST_WAIT_UNTIL(offload__queued() == 1);
	TSK_EXPECT_EQ(tsk_cancel(tb), 0);
	TSK_EXPECT_EQ(st_join(tb), -ECANCELED);
	TSK_EXPECT_EQ(atomic_load(&a.finished), 0); /* withdrawn while a runs */
	TSK_EXPECT_EQ(offload__queued(), 0);
	TSK_EXPECT_EQ(st_join(ta), 0);
	TSK_EXPECT_EQ(atomic_load(&b_ran), 0);
	tb = st_spawn("c", count_task, &b_ran);
	TSK_EXPECT_EQ(st_join(tb), 0);
	TSK_EXPECT_EQ(atomic_load(&b_ran), 1);
	return NULL;
}

static void test_withdraw_cancel(void **state)
{
	(void)state;
	ot_run(cancel_root, NULL, 1, 1);
	ot_run(cancel_root, NULL, 2, 1);
}

/* ---- a started job is waited for ------------------------------------------ */

#define STARTED_MS 100 /* the job's length */

/* Offloads its job with a deadline 10 ms ahead; returns the rc. */
static void *deadline_task(void *arg)
{
	block_job *b = arg;
	void *res = NULL;
	int rc = tsk_offload(block_fn, b, &res, tsk_after_ms(10));

	if (rc == 0) {
		TSK_EXPECT(res == BLOCK_RESULT(b));
		TSK_EXPECT_EQ(atomic_load(&b->finished), 1);
	} else {
		TSK_EXPECT_EQ(rc, -ETIMEDOUT);
	}
	return (void *)(intptr_t)rc;
}

/* The task is cancelled while its job runs. */
static void *started_cancel_root(void *arg)
{
	block_job b = {.ms = STARTED_MS};
	tsk_task *t;

	(void)arg;
	t = st_spawn("cancelled", block_task, &b);
	ST_WAIT_UNTIL(atomic_load(&b.started));
	TSK_EXPECT_EQ(tsk_cancel(t), 0);
	TSK_EXPECT_EQ(st_join(t), 0); /* block_task checked result and finished */
	return NULL;
}

/* The deadline passes while the job runs.  Whether the job starts within
 * 10 ms is up to the machine's load: a job not started in time is rightly
 * withdrawn (and must then never run), so try a few times; one attempt
 * must see its started job waited for. */
static void *started_deadline_root(void *arg)
{
	atomic_int warm = 0;
	bool waited = false;

	(void)arg;
	/* a pool thread is then idle and takes the job at once */
	TSK_EXPECT_EQ(tsk_offload(count_fn, &warm, NULL, TSK_FOREVER), 0);
	for (int i = 0; i < 5 && !waited; i++) {
		block_job b = {.ms = STARTED_MS};
		tsk_task *t = st_spawn("deadline", deadline_task, &b);
		intptr_t rc = st_join(t);

		if (rc == 0) {
			waited = true;
		} else {
			tsk_sleep(tsk_after_ms(STARTED_MS + 50));
			TSK_EXPECT_EQ(atomic_load(&b.started), 0);
		}
	}
	TSK_EXPECT(waited);
	return NULL;
}

static void test_started_waited(void **state)
{
	(void)state;
	ot_run(started_cancel_root, NULL, 2, 4);
	ot_run(started_deadline_root, NULL, 2, 4);
}

/* ---- errors ------------------------------------------------------------------ */

static void *errors_root(void *arg)
{
	atomic_int n = 0;
	void *res = NULL;

	(void)arg;
	TSK_EXPECT_EQ(tsk_offload(NULL, &n, &res, TSK_FOREVER), -EINVAL);
	TSK_EXPECT_EQ(tsk_offload(count_fn, &n, &res, tsk_now() - 1), -ETIMEDOUT);
	TSK_EXPECT_EQ(tsk_offload(count_fn, &n, &res, tsk_now()), -ETIMEDOUT);
	TSK_EXPECT_EQ(offload__threads(), 0); /* nothing was queued */
	TSK_EXPECT_EQ(tsk_cancel(tsk_self()), 0);
	TSK_EXPECT_EQ(tsk_offload(count_fn, &n, &res, TSK_FOREVER), -ECANCELED);
	TSK_EXPECT_EQ(atomic_load(&n), 0);
	TSK_EXPECT(res == NULL);
	TSK_EXPECT_EQ(offload__threads(), 0);
	return NULL;
}

/* Without a deadline, the plain function and a NULL result. */
static void *plain_root(void *arg)
{
	atomic_int n = 0;
	void *res = NULL;

	(void)arg;
	TSK_EXPECT_EQ((tsk_offload)(count_fn, &n, &res, TSK_FOREVER), 0);
	TSK_EXPECT(res == &n);
	TSK_EXPECT_EQ(tsk_offload(count_fn, &n, NULL, tsk_after_ms(60000)), 0);
	TSK_EXPECT_EQ(atomic_load(&n), 2);
	TSK_EXPECT_EQ(offload__threads(), 1); /* one thread served both, in turn */
	/* pool threads leave process signals to the user's threads */
	TSK_EXPECT_EQ(tsk_offload(mask_fn, NULL, &res, TSK_FOREVER), 0);
	TSK_EXPECT(res == (void *)1);
	return NULL;
}

static void test_errors(void **state)
{
	tsk_config cfg = {.pool_threads = 4097};
	atomic_int n = 0;
	void *res = NULL;

	(void)state;
	assert_int_equal(tsk_offload(NULL, &n, &res, TSK_FOREVER), -EINVAL);
	assert_int_equal(tsk_offload(count_fn, &n, &res, TSK_FOREVER), -EPERM);
	assert_int_equal((tsk_offload)(count_fn, &n, NULL, tsk_after_ms(10)), -EPERM);
	assert_int_equal(atomic_load(&n), 0);
	assert_null(res);
	assert_int_equal(offload__threads(), 0);
	assert_int_equal(tsk_run(errors_root, NULL, &cfg, NULL), -EINVAL);
	ot_run(errors_root, NULL, 2, 4096);
	ot_run(plain_root, NULL, 1, 0);
}

/* ---- idle threads -------------------------------------------------------------- */

#define BURST_JOBS 6
#define BURST_MS   30

typedef struct burst_ctx {
	atomic_int running;     /* jobs in fn now */
	atomic_int max_running; /* the most at once */
	atomic_int max_threads; /* the most threads of the process the jobs saw */
} burst_ctx;

/* Offloads BURST_JOBS jobs of BURST_MS at once from as many tasks. */
static void burst(burst_ctx *x)
{
	block_job b[BURST_JOBS];
	tsk_task *t[BURST_JOBS];

	for (int i = 0; i < BURST_JOBS; i++) {
		b[i] = (block_job){.ms = BURST_MS,
		                   .running = &x->running,
		                   .max_run = &x->max_running,
		                   .max_thr = &x->max_threads};
		t[i] = st_spawn("burst", block_task, &b[i]);
	}
	for (int i = 0; i < BURST_JOBS; i++)
		TSK_EXPECT_EQ(st_join(t[i]), 0);
}

#define IDLE_WORKERS 2

/* With TASKSCOPE_POOL_IDLE_MS=50: twice, a burst starts several threads,
 * which all retire once idle. */
static void *retire_root(void *arg)
{
	int workers_only = ct_threads_base + IDLE_WORKERS - 1;

	(void)arg;
	for (int round = 0; round < 2; round++) {
		burst_ctx x = {0};

		burst(&x);
		TSK_EXPECT(atomic_load(&x.max_running) >= 2);
		TSK_EXPECT(atomic_load(&x.max_threads) >= workers_only + 2);
		/* 50 ms idle: gone well within 5 s, whatever the load */
		ST_WAIT_UNTIL(offload__threads() == 0 && ct_threads() == workers_only);
	}
	return NULL;
}

/* With the default idle time (10 s), the threads of a burst are still
 * there 200 ms later; tsk_run stops and joins them. */
static void *stay_root(void *arg)
{
	burst_ctx x = {0};

	(void)arg;
	burst(&x);
	TSK_EXPECT(atomic_load(&x.max_running) >= 2);
	int n = offload__threads();
	TSK_EXPECT(n >= 2);
	TSK_EXPECT_EQ(tsk_sleep(tsk_after_ms(200)), 0);
	TSK_EXPECT_EQ(offload__threads(), n);
	TSK_EXPECT_EQ(ct_threads(), ct_threads_base + IDLE_WORKERS - 1 + n);
	return NULL;
}

static void test_idle(void **state)
{
	(void)state;
	assert_int_equal(setenv("TASKSCOPE_POOL_IDLE_MS", "50", 1), 0);
	ot_run(retire_root, NULL, IDLE_WORKERS, 8);
	assert_int_equal(unsetenv("TASKSCOPE_POOL_IDLE_MS"), 0);
	ot_run(stay_root, NULL, IDLE_WORKERS, 8);
}

/* ---- exit ------------------------------------------------------------------------ */

#define EXIT_MS 300 /* running jobs outlast the root by this much */

typedef struct exit_ctx {
	block_job run[2];   /* the running jobs */
	atomic_int ok[2];   /* their callers got 0 and the result */
	atomic_int c_ran;   /* runs of the queued job */
	atomic_int c_rc;    /* its caller's rc (1: not returned) */
	atomic_int done[3]; /* the three callers returned */
} exit_ctx;

typedef struct exit_arg {
	exit_ctx *x;
	int i;
} exit_arg;

static void *exit_run_task(void *arg)
{
	exit_arg *a = arg;
	exit_ctx *x = a->x;

	if ((intptr_t)block_task(&x->run[a->i]) == 0)
		atomic_store(&x->ok[a->i], 1);
	atomic_store(&x->done[a->i], 1);
	return NULL;
}

static void *exit_queued_task(void *arg)
{
	exit_ctx *x = arg;

	atomic_store(&x->c_rc, (int)(intptr_t)count_task(&x->c_ran));
	atomic_store(&x->done[2], 1);
	return NULL;
}

/* Leaves two detached tasks waiting for running jobs and one for a queued
 * job (pool of 2), and returns. */
static void *exit_root(void *arg)
{
	exit_ctx *x = arg;
	static exit_arg a[2];

	for (int i = 0; i < 2; i++) {
		a[i] = (exit_arg){x, i};
		TSK_EXPECT_EQ(tsk_spawn(NULL, "running", exit_run_task, &a[i]), 0);
	}
	ST_WAIT_UNTIL(atomic_load(&x->run[0].started) && atomic_load(&x->run[1].started));
	TSK_EXPECT_EQ(tsk_spawn(NULL, "queued", exit_queued_task, x), 0);
	ST_WAIT_UNTIL(offload__queued() == 1);
	return NULL;
}

static void test_exit(void **state)
{
	(void)state;
	for (int workers = 1; workers <= 2; workers++) {
		exit_ctx x = {.run = {{.ms = EXIT_MS}, {.ms = EXIT_MS}}, .c_rc = 1};
		int64_t t0 = tsk_now();

		ot_run(exit_root, &x, workers, 2);
		for (int i = 0; i < 2; i++) {
			assert_int_equal(atomic_load(&x.run[i].finished), 1);
			assert_int_equal(atomic_load(&x.ok[i]), 1);
		}
		for (int i = 0; i < 3; i++)
			assert_int_equal(atomic_load(&x.done[i]), 1);
		assert_int_equal(atomic_load(&x.c_rc), -ECANCELED);
		assert_int_equal(atomic_load(&x.c_ran), 0);
		assert_true(tsk_now() - t0 >= EXIT_MS * CT_MS);
	}
}

/* ---- heap ---------------------------------------------------------------------------- */

/* One round of everything that allocates or frees in offload.c: a pool
 * created and freed, threads started, retired (idle 1 ms) and joined, jobs
 * run, withdrawn and awaited at exit. */
static void *leak_root(void *arg)
{
	static block_job b[4];
	atomic_int n = 0;

	(void)arg;
	for (int i = 0; i < 3; i++) {
		b[i] = (block_job){.ms = 5};
		TSK_EXPECT_EQ(tsk_spawn(NULL, "leak", block_task, &b[i]), 0);
	}
	ST_WAIT_UNTIL(atomic_load(&b[0].finished) && atomic_load(&b[1].finished) &&
	              atomic_load(&b[2].finished));
	tsk_sleep(tsk_after_ms(10)); /* threads retire */
	TSK_EXPECT_EQ(tsk_offload(count_fn, &n, NULL, TSK_FOREVER), 0);
	TSK_EXPECT_EQ(tsk_offload(count_fn, &n, NULL, tsk_now()), -ETIMEDOUT);
	b[3] = (block_job){.ms = 5};
	TSK_EXPECT_EQ(tsk_spawn(NULL, "exit", block_task, &b[3]), 0);
	return NULL;
}

static int leaks_child(void)
{
	size_t before = 0;

	setenv("TASKSCOPE_POOL_IDLE_MS", "1", 1);
	ct_leak_setup(NULL);
	for (int round = 0; round < 12; round++) {
		if (round == 2)
			before = ct_heap_in_use();
		for (int w = 1; w <= 2; w++)
			ot_run(leak_root, NULL, w, 2);
	}
	size_t after = ct_heap_in_use();
	if (after != before) {
		fprintf(stderr, "heap in use: %zu bytes after 2 rounds, %zu after 12\n", before,
		        after);
		return 1;
	}
	return 0;
}

static void test_no_leaks(void **state)
{
	int status;
	int64_t ns;

	(void)state;
	assert_int_equal(
	        ct_child("leaks",
	                 "GLIBC_TUNABLES=glibc.malloc.tcache_count=0:glibc.malloc.arena_max=1:"
	                 "glibc.pthread.stack_cache_size=0",
	                 120000, &status, &ns),
	        0);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
}

int main(int argc, char **argv)
{
	if (argc == 3 && strcmp(argv[1], "--child") == 0)
		return strcmp(argv[2], "leaks") == 0 ? leaks_child() : 2;

	const struct CMUnitTest tests[] = {
	        ST_TEST(test_stress),
	        ST_TEST(test_withdraw_deadline),
	        ST_TEST(test_withdraw_cancel),
	        ST_TEST(test_started_waited),
	        ST_TEST(test_errors),
	        ST_TEST(test_idle),
	        ST_TEST(test_exit),
	        ST_TEST(test_no_leaks),
	};

	return cmocka_run_group_tests(tests, ct_leak_setup, NULL);
}
