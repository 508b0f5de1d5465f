/*
 * test_task.c - cmocka tests of runtime/src/task.c and the tsk_run entry
 * of sched.c: spawn, join, cancel, yield, sleep, self/id/name, set_state.
 *
 * Every documented success and error path of the task calls: -EPERM from
 * outside a task (the main thread between runs, and a foreign pthread
 * holding a valid handle during a run), -EINVAL for NULL or detached
 * handles and a second concurrent joiner, -EDEADLK for joining oneself,
 * join timeouts that leave the task joinable (a later join succeeds), a
 * deadline in the past completing at once when it can, cancellation of a
 * task blocked in sleep or join (-ECANCELED, and every later blocking call
 * and tsk_yield -ECANCELED too, while the task keeps running and its
 * joinee stays joinable), tsk_run's argument checks, -EBUSY when nested,
 * the root's result, two runtimes in one process at once (a task of one
 * may not cancel or join a task of the other), and stacks: a task can use
 * 48 KiB of its default 64 KiB, the configured stack_size is honoured (a
 * task uses more than the default), and an overflow faults on the guard
 * page instead of running into the stack below (watched from a child
 * process).  Most paths run with 1 and with 4 workers.
 *
 * Inside tasks only TSK_EXPECT* (see tsk_test.h); every run ends with the
 * checks of ct_run (no thread or task stack left), and the last test
 * checks the heap (core_test.h).
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "core_test.h"
#include "sched_int.h" /* tsk_task.label, to see tsk_set_state */

#define FAR_MS (3600 * 1000) /* a deadline nobody reaches: one hour */

/* ---- helpers ----------------------------------------------------------- */

/* A task that waits (polling, so it works on one worker) until *go is set
 * and returns 42.  Gives up after 10 s so a broken test cannot hang. */
static void *gate_task(void *arg)
{
	atomic_bool *go = arg;
	int64_t end = tsk_after_ms(10000);

	while (!atomic_load(go) && tsk_now() < end)
		tsk_sleep(tsk_after_ms(1));
	TSK_EXPECT(atomic_load(go));
	return (void *)42;
}

static void *ret_arg(void *arg)
{
	return arg;
}

static tsk_task *spawn(void *(*fn)(void *), void *arg)
{
	tsk_task *t = NULL;

	TSK_EXPECT_EQ(tsk_spawn(&t, "t", fn, arg), 0);
	TSK_EXPECT(t != NULL);
	return t;
}

/* Joins t (FOREVER) and returns its result; a failure is counted. */
static intptr_t join(tsk_task *t)
{
	void *r = NULL;

	TSK_EXPECT_EQ(tsk_join(t, &r, TSK_FOREVER), 0);
	return (intptr_t)r;
}

/* ---- outside any task ---------------------------------------------------- */

static void *never_root(void *arg)
{
	(void)arg;
	TSK_EXPECT(!"a root ran although tsk_run should have refused");
	return NULL;
}

static void test_outside_task(void **state)
{
	tsk_task *t = (tsk_task *)1;
	tsk_config cfg = {0};
	void *res = (void *)7;

	(void)state;
	assert_int_equal(tsk_spawn(&t, "x", ret_arg, NULL), -EPERM);
	assert_ptr_equal(t, (tsk_task *)1); /* untouched */
	assert_int_equal(tsk_spawn(NULL, "x", ret_arg, NULL), -EPERM);
	assert_int_equal((tsk_spawn)(NULL, "x", ret_arg, NULL), -EPERM);
	assert_int_equal(tsk_yield(), -EPERM);
	assert_int_equal(tsk_sleep(tsk_after_ms(1)), -EPERM);
	assert_int_equal((tsk_sleep)(0), -EPERM);
	assert_null(tsk_self());
	assert_int_equal(tsk_cancelled(), 0);
	tsk_set_state("outside"); /* no effect, no crash */

	/* clock helpers */
	assert_true(tsk_after_ms(-1) == TSK_FOREVER);
	assert_true(tsk_after_ms(-1000) == TSK_FOREVER);
	int64_t a = tsk_now(), b = tsk_after_ms(0), c = tsk_after_ms(100), d = tsk_now();
	assert_true(a > 0);
	assert_true(b >= a && b <= d);
	assert_true(c >= a + 100 * CT_MS && c <= d + 100 * CT_MS);
	assert_true(d >= a);

	/* tsk_run's argument checks: nothing starts, no thread is left */
	assert_int_equal(tsk_run(NULL, NULL, NULL, &res), -EINVAL);
	assert_ptr_equal(res, (void *)7);
	cfg.workers = 1025;
	assert_int_equal(tsk_run(never_root, NULL, &cfg, NULL), -EINVAL);
	cfg.workers = 1;
	cfg.stack_size = ((size_t)1 << 30) + 1;
	assert_int_equal(tsk_run(never_root, NULL, &cfg, NULL), -EINVAL);
	assert_int_equal(atomic_exchange(&tsk_test_failed, 0), 0);
	assert_int_equal(ct_threads(), ct_threads_base);
}

/* A pthread that is no task calls everything with valid handles while a
 * runtime runs: every call is -EPERM and changes nothing. */
typedef struct foreign_ctx {
	tsk_task *t; /* a live joinable task */
} foreign_ctx;

static void *foreign_thread(void *arg)
{
	foreign_ctx *x = arg;
	tsk_task *t = NULL;

	TSK_EXPECT(tsk_self() == NULL);
	TSK_EXPECT_EQ(tsk_cancelled(), 0);
	TSK_EXPECT_EQ(tsk_spawn(&t, "x", ret_arg, NULL), -EPERM);
	TSK_EXPECT(t == NULL);
	TSK_EXPECT_EQ(tsk_spawn(NULL, "x", ret_arg, NULL), -EPERM);
	TSK_EXPECT_EQ(tsk_join(x->t, NULL, TSK_FOREVER), -EPERM);
	TSK_EXPECT_EQ(tsk_join(x->t, NULL, 0), -EPERM);
	TSK_EXPECT_EQ(tsk_cancel(x->t), -EPERM);
	TSK_EXPECT_EQ(tsk_yield(), -EPERM);
	TSK_EXPECT_EQ(tsk_sleep(tsk_after_ms(1)), -EPERM);
	tsk_set_state("foreign");
	return NULL;
}

static void *foreign_root(void *arg)
{
	atomic_bool go = false;
	foreign_ctx x = {.t = spawn(gate_task, &go)};
	pthread_t th;

	(void)arg;
	/* blocks this worker while the thread runs; fine for a test */
	TSK_EXPECT_EQ(pthread_create(&th, NULL, foreign_thread, &x), 0);
	TSK_EXPECT_EQ(pthread_join(th, NULL), 0);
	atomic_store(&go, true);
	TSK_EXPECT_EQ(join(x.t), 42); /* not cancelled, still joinable */
	return NULL;
}

static void test_foreign_thread(void **state)
{
	(void)state;
	ct_run(foreign_root, NULL, 1, 0);
	ct_run(foreign_root, NULL, 4, 0);
}

/* ---- tsk_run ------------------------------------------------------------- */

static void *nested_child(void *arg)
{
	(void)arg;
	TSK_EXPECT_EQ(tsk_run(never_root, NULL, NULL, NULL), -EBUSY);
	return NULL;
}

static void *run_root(void *arg)
{
	tsk_config cfg = {.workers = 1};
	void *res = (void *)1;

	TSK_EXPECT(tsk_self() != NULL);
	TSK_EXPECT_EQ(tsk_run(never_root, NULL, &cfg, &res), -EBUSY);
	TSK_EXPECT(res == (void *)1);
	TSK_EXPECT_EQ(tsk_run(never_root, NULL, NULL, NULL), -EBUSY);
	for (int i = 0; i < 4; i++)
		join(spawn(nested_child, NULL));
	return (char *)arg + 1;
}

static atomic_uint_fast64_t last_root_id;

static void *id_root(void *arg)
{
	atomic_store(&last_root_id, tsk_id(tsk_self()));
	return arg;
}

static void test_run(void **state)
{
	char buf[2];
	void *res = NULL;

	(void)state;
	/* the root's argument and result; nested tsk_run is -EBUSY */
	assert_ptr_equal(ct_run(run_root, buf, 1, 0), buf + 1);
	assert_ptr_equal(ct_run(run_root, buf, 4, 0), buf + 1);

	/* defaults: cfg NULL (a worker per CPU), result NULL */
	assert_int_equal(tsk_run(run_root, buf, NULL, NULL), 0);
	assert_int_equal(tsk_run(run_root, buf, NULL, &res), 0);
	assert_ptr_equal(res, buf + 1);
	/* zeroed and out-of-range-but-valid fields take defaults */
	tsk_config cfg = {.workers = -3, .stack_size = 1, .name = NULL};
	res = NULL;
	assert_int_equal(tsk_run(run_root, buf, &cfg, &res), 0);
	assert_ptr_equal(res, buf + 1);
	assert_int_equal(atomic_exchange(&tsk_test_failed, 0), 0);
	assert_int_equal(ct_threads(), ct_threads_base);

	/* runs back to back; ids keep growing across runtimes */
	uint64_t prev = 0;
	for (int i = 0; i < 5; i++) {
		assert_ptr_equal(ct_run(id_root, buf, 1 + i % 3, 0), buf);
		assert_true(atomic_load(&last_root_id) > prev);
		prev = atomic_load(&last_root_id);
	}
}

/* ---- self, id, name, state --------------------------------------------------- */

typedef struct ident {
	tsk_task *self; /* tsk_self() seen by the task */
	uint64_t id;
	char name[64];
} ident;

static void *ident_task(void *arg)
{
	ident *x = arg;
	const char *n = tsk_name(tsk_self());

	x->self = tsk_self();
	x->id = tsk_id(tsk_self());
	snprintf(x->name, sizeof(x->name), "%s", n ? n : "(null)");
	return NULL;
}

#define NIDENT 64

static void *ident_root(void *arg)
{
	static ident x[NIDENT];
	tsk_task *t[NIDENT];
	char name[32];
	char longname[200];
	uint64_t root_id = tsk_id(tsk_self());

	(void)arg;
	TSK_EXPECT(tsk_self() != NULL);
	TSK_EXPECT(root_id >= 1);
	TSK_EXPECT(tsk_name(tsk_self()) != NULL);
	TSK_EXPECT_EQ(tsk_cancelled(), 0);

	/* the name is copied at spawn: changing the buffer later changes
	 * nothing */
	for (int i = 0; i < NIDENT; i++) {
		snprintf(name, sizeof(name), "worker-%d", i);
		TSK_EXPECT_EQ(tsk_spawn(&t[i], name, ident_task, &x[i]), 0);
		memset(name, 'X', sizeof(name) - 1);
		TSK_EXPECT(strcmp(tsk_name(t[i]), name) != 0);
	}
	for (int i = 0; i < NIDENT; i++) {
		snprintf(name, sizeof(name), "worker-%d", i);
		TSK_EXPECT_EQ(strcmp(tsk_name(t[i]), name), 0); /* before join */
		uint64_t id = tsk_id(t[i]);
		TSK_EXPECT(id > root_id);
		join(t[i]);                    /* t[i] is gone after this */
		TSK_EXPECT(x[i].self == t[i]); /* tsk_self is the spawn handle */
		TSK_EXPECT_EQ(x[i].id, id);
		TSK_EXPECT_EQ(strcmp(x[i].name, name), 0);
	}
	/* ids are unique */
	for (int i = 0; i < NIDENT; i++)
		for (int j = i + 1; j < NIDENT; j++)
			TSK_EXPECT(x[i].id != x[j].id);

	/* NULL name gives "task"; a long one is kept as a prefix */
	ident y;
	join(spawn(ident_task, &y)); /* spawn() names it "t" */
	TSK_EXPECT_EQ(strcmp(y.name, "t"), 0);
	tsk_task *u;
	TSK_EXPECT_EQ(tsk_spawn(&u, NULL, ident_task, &y), 0);
	join(u);
	TSK_EXPECT_EQ(strcmp(y.name, "task"), 0);
	memset(longname, 'n', sizeof(longname) - 1);
	longname[sizeof(longname) - 1] = '\0';
	TSK_EXPECT_EQ(tsk_spawn(&u, longname, ident_task, &y), 0);
	join(u);
	TSK_EXPECT(strlen(y.name) > 0);
	TSK_EXPECT_EQ(strncmp(y.name, longname, strlen(y.name)), 0);

	/* the function forms (no call site) */
	TSK_EXPECT_EQ((tsk_spawn)(&u, "plain", ident_task, &y), 0);
	TSK_EXPECT_EQ((tsk_join)(u, NULL, TSK_FOREVER), 0);
	TSK_EXPECT_EQ(strcmp(y.name, "plain"), 0);
	TSK_EXPECT_EQ(tsk_spawn_at(&u, "site", ident_task, &y, TSK_SITE), 0);
	TSK_EXPECT_EQ(tsk_join_at(u, NULL, TSK_FOREVER, TSK_SITE), 0);
	TSK_EXPECT_EQ(strcmp(y.name, "site"), 0);

	/* tsk_set_state: the label is the caller's, NULL clears it */
	static const char working[] = "working";
	tsk_set_state(working);
	TSK_EXPECT(tsk_self()->label == working);
	tsk_yield();
	TSK_EXPECT(tsk_self()->label == working);
	tsk_set_state(NULL);
	TSK_EXPECT(tsk_self()->label == NULL);
	return NULL;
}

static void test_self_id_name(void **state)
{
	(void)state;
	ct_run(ident_root, NULL, 1, 0);
	ct_run(ident_root, NULL, 4, 0);
}

/* ---- spawn ---------------------------------------------------------------- */

static atomic_int detached_ran;

static void *detached_task(void *arg)
{
	atomic_fetch_add(&detached_ran, 1);
	return arg;
}

static void *spawn_root(void *arg)
{
	tsk_task *t = (tsk_task *)1;

	(void)arg;
	TSK_EXPECT_EQ(tsk_spawn(&t, "x", NULL, NULL), -EINVAL);
	TSK_EXPECT_EQ(tsk_spawn(NULL, "x", NULL, NULL), -EINVAL);
	for (int i = 0; i < 100; i++)
		TSK_EXPECT_EQ(tsk_spawn(NULL, "detached", detached_task, NULL), 0);
	/* argument and result pass through */
	for (intptr_t i = 0; i < 100; i++)
		TSK_EXPECT_EQ(join(spawn(ret_arg, (void *)i)), i);
	return NULL;
}

static void test_spawn(void **state)
{
	(void)state;
	for (int w = 1; w <= 4; w *= 4) {
		atomic_store(&detached_ran, 0);
		ct_run(spawn_root, NULL, w, 0);
		/* tsk_run waited for every detached task */
		assert_int_equal(atomic_load(&detached_ran), 100);
	}
}

/* ---- join ------------------------------------------------------------------ */

typedef struct joiner_ctx {
	tsk_task *target;
	int rc;
	intptr_t result;
	atomic_bool joining; /* about to call tsk_join */
} joiner_ctx;

static void *joiner_task(void *arg)
{
	joiner_ctx *j = arg;
	void *r = NULL;

	atomic_store(&j->joining, true);
	j->rc = tsk_join(j->target, &r, TSK_FOREVER);
	j->result = (intptr_t)r;
	if (j->rc == -ECANCELED) /* and again: still cancelled */
		TSK_EXPECT_EQ(tsk_join(j->target, &r, TSK_FOREVER), -ECANCELED);
	return NULL;
}

/* A detached task that publishes its handle, then waits for *go. */
typedef struct det_ctx {
	_Atomic(tsk_task *) self;
	atomic_bool go;
} det_ctx;

static void *det_publish(void *arg)
{
	det_ctx *d = arg;

	atomic_store(&d->self, tsk_self());
	gate_task(&d->go);
	return NULL;
}

static void *join_root(void *arg)
{
	atomic_bool go = false;
	tsk_task *t;
	void *r = (void *)5;
	int64_t t0, el;

	(void)arg;
	TSK_EXPECT_EQ(tsk_join(NULL, NULL, TSK_FOREVER), -EINVAL);
	TSK_EXPECT_EQ(tsk_join(NULL, &r, 0), -EINVAL);
	TSK_EXPECT(r == (void *)5);
	TSK_EXPECT_EQ(tsk_join(tsk_self(), NULL, TSK_FOREVER), -EDEADLK);
	TSK_EXPECT_EQ(tsk_join(tsk_self(), NULL, tsk_after_ms(10)), -EDEADLK);

	/* timeout: -ETIMEDOUT no earlier than the deadline, and the task stays
	 * joinable; twice; then a join succeeds with the result */
	t = spawn(gate_task, &go);
	t0 = tsk_now();
	TSK_EXPECT_EQ(tsk_join(t, &r, t0 + 30 * CT_MS), -ETIMEDOUT);
	el = tsk_now() - t0;
	TSK_EXPECT(el >= 30 * CT_MS);
	TSK_EXPECT(r == (void *)5);
	TSK_EXPECT_EQ(tsk_join(t, &r, tsk_after_ms(5)), -ETIMEDOUT);
	/* a deadline already past, target not done: -ETIMEDOUT at once */
	t0 = tsk_now();
	TSK_EXPECT_EQ(tsk_join(t, &r, 0), -ETIMEDOUT);
	TSK_EXPECT_EQ(tsk_join(t, &r, tsk_now() - 1), -ETIMEDOUT);
	TSK_EXPECT(tsk_now() - t0 < 1000 * CT_MS);
	atomic_store(&go, true);
	TSK_EXPECT_EQ(tsk_join(t, &r, TSK_FOREVER), 0);
	TSK_EXPECT(r == (void *)42);

	/* a deadline already past, target done: completes at once */
	t = spawn(ret_arg, (void *)9);
	int rc;
	int64_t end = tsk_after_ms(10000);
	while ((rc = tsk_join(t, &r, 0)) == -ETIMEDOUT && tsk_now() < end)
		tsk_sleep(tsk_after_ms(1));
	TSK_EXPECT_EQ(rc, 0);
	TSK_EXPECT(r == (void *)9);

	/* result NULL is allowed */
	TSK_EXPECT_EQ(tsk_join(spawn(ret_arg, NULL), NULL, TSK_FOREVER), 0);

	/* a second joiner while the first waits: -EINVAL; the first one
	 * gets the result */
	atomic_store(&go, false);
	joiner_ctx j = {.target = spawn(gate_task, &go)};
	tsk_task *jt = spawn(joiner_task, &j);
	end = tsk_after_ms(10000);
	while ((rc = tsk_join(j.target, NULL, 0)) == -ETIMEDOUT && tsk_now() < end)
		tsk_sleep(tsk_after_ms(1));
	TSK_EXPECT_EQ(rc, -EINVAL);
	TSK_EXPECT_EQ(tsk_join(j.target, NULL, tsk_after_ms(5)), -EINVAL);
	atomic_store(&go, true);
	join(jt);
	TSK_EXPECT_EQ(j.rc, 0);
	TSK_EXPECT_EQ(j.result, 42);

	/* a detached task is not joinable.  d is static: the detached task
	 * still reads it after this root has returned (tsk_run waits for it) */
	static det_ctx d;
	atomic_store(&d.self, NULL);
	atomic_store(&d.go, false);
	TSK_EXPECT_EQ(tsk_spawn(NULL, "det", det_publish, &d), 0);
	end = tsk_after_ms(10000);
	while (!atomic_load(&d.self) && tsk_now() < end)
		tsk_sleep(tsk_after_ms(1));
	TSK_EXPECT(atomic_load(&d.self) != NULL);
	if (atomic_load(&d.self)) {
		TSK_EXPECT_EQ(tsk_join(atomic_load(&d.self), NULL, TSK_FOREVER), -EINVAL);
		TSK_EXPECT_EQ(tsk_join(atomic_load(&d.self), NULL, 0), -EINVAL);
	}
	atomic_store(&d.go, true); /* tsk_run waits for it */
	return NULL;
}

static void test_join(void **state)
{
	(void)state;
	ct_run(join_root, NULL, 1, 0);
	ct_run(join_root, NULL, 4, 0);
}

/* ---- cancel ----------------------------------------------------------------- */

/* What a cancelled task saw. */
typedef struct cancel_ctx {
	tsk_task *other;     /* a task that is not done, to join */
	bool check_early;    /* cancelled before it first ran (one worker) */
	atomic_bool blocked; /* about to block */
	int early, sleep_rc, sleep2_rc, yield_rc, join_rc, cancelled;
	int64_t slept_ns;
} cancel_ctx;

static void *cancel_sleeper(void *arg)
{
	cancel_ctx *c = arg;
	int64_t t0 = tsk_now();

	c->early = tsk_cancelled();
	atomic_store(&c->blocked, true);
	c->sleep_rc = tsk_sleep(tsk_after_ms(FAR_MS));
	c->slept_ns = tsk_now() - t0;
	/* every later blocking call is cancelled too */
	c->sleep2_rc = tsk_sleep(tsk_after_ms(10));
	c->yield_rc = tsk_yield();
	c->join_rc = tsk_join(c->other, NULL, TSK_FOREVER);
	c->cancelled = tsk_cancelled();
	/* cancellation does not unwind: the task goes on and returns */
	return (void *)7;
}

static void *self_cancel_child(void *arg)
{
	atomic_int *rc = arg;

	atomic_store(rc, tsk_sleep(tsk_after_ms(1)) + 1000);
	return NULL;
}

static void *self_canceller(void *arg)
{
	atomic_int *child_rc = arg;

	TSK_EXPECT_EQ(tsk_cancelled(), 0);
	TSK_EXPECT_EQ(tsk_cancel(tsk_self()), 0);
	TSK_EXPECT_EQ(tsk_cancelled(), 1);
	TSK_EXPECT_EQ(tsk_yield(), -ECANCELED);
	TSK_EXPECT_EQ(tsk_sleep(tsk_after_ms(1)), -ECANCELED);
	TSK_EXPECT_EQ(tsk_sleep(0), -ECANCELED);
	TSK_EXPECT_EQ(tsk_cancel(tsk_self()), 0); /* again */
	/* spawning is no cancellation point, and a child is not cancelled */
	TSK_EXPECT_EQ(tsk_spawn(NULL, "child", self_cancel_child, child_rc), 0);
	return (void *)8;
}

/* Yields until cancelled (running, never blocked), then returns 9. */
static void *busy_yielder(void *arg)
{
	int64_t end = tsk_after_ms(10000);
	int rc = 0;

	(void)arg;
	while (rc == 0 && tsk_now() < end)
		rc = tsk_yield();
	TSK_EXPECT_EQ(rc, -ECANCELED);
	TSK_EXPECT_EQ(tsk_cancelled(), 1);
	return (void *)9;
}

static void *cancel_root(void *arg)
{
	int workers = (int)(intptr_t)arg;
	atomic_bool go = false;
	cancel_ctx c = {0};
	tsk_task *t;

	TSK_EXPECT_EQ(tsk_cancel(NULL), -EINVAL);

	/* a task blocked in a sleep */
	c.other = spawn(gate_task, &go);
	t = spawn(cancel_sleeper, &c);
	int64_t end = tsk_after_ms(10000);
	while (!atomic_load(&c.blocked) && tsk_now() < end)
		tsk_sleep(tsk_after_ms(1));
	tsk_sleep(tsk_after_ms(5)); /* most likely asleep by now; either way */
	TSK_EXPECT_EQ(tsk_cancel(t), 0);
	TSK_EXPECT_EQ(tsk_cancel(t), 0); /* twice is fine */
	TSK_EXPECT_EQ(join(t), 7);
	TSK_EXPECT_EQ(c.early, 0);
	TSK_EXPECT_EQ(c.sleep_rc, -ECANCELED);
	TSK_EXPECT(c.slept_ns < 5000 * CT_MS);
	TSK_EXPECT_EQ(c.sleep2_rc, -ECANCELED);
	TSK_EXPECT_EQ(c.yield_rc, -ECANCELED);
	TSK_EXPECT_EQ(c.join_rc, -ECANCELED);
	TSK_EXPECT_EQ(c.cancelled, 1);
	/* the task it tried to join is untouched */
	TSK_EXPECT_EQ(tsk_join(c.other, NULL, 0), -ETIMEDOUT);
	atomic_store(&go, true);
	TSK_EXPECT_EQ(join(c.other), 42);
	TSK_EXPECT_EQ(tsk_cancelled(), 0); /* the canceller is not cancelled */

	/* cancelled before it ever ran: with one worker the new task cannot
	 * run before the root blocks */
	atomic_store(&go, false);
	cancel_ctx e = {.other = spawn(gate_task, &go), .check_early = true};
	t = spawn(cancel_sleeper, &e);
	TSK_EXPECT_EQ(tsk_cancel(t), 0);
	TSK_EXPECT_EQ(join(t), 7);
	if (workers == 1)
		TSK_EXPECT_EQ(e.early, 1);
	TSK_EXPECT_EQ(e.sleep_rc, -ECANCELED);
	TSK_EXPECT_EQ(e.join_rc, -ECANCELED);
	atomic_store(&go, true);
	TSK_EXPECT_EQ(join(e.other), 42);

	/* a task blocked in join: -ECANCELED, and its joinee stays joinable */
	atomic_store(&go, false);
	joiner_ctx j = {.target = spawn(gate_task, &go)};
	tsk_task *jt = spawn(joiner_task, &j);
	end = tsk_after_ms(10000);
	while (!atomic_load(&j.joining) && tsk_now() < end)
		tsk_sleep(tsk_after_ms(1));
	tsk_sleep(tsk_after_ms(5));
	TSK_EXPECT_EQ(tsk_cancel(jt), 0);
	join(jt);
	TSK_EXPECT_EQ(j.rc, -ECANCELED);
	TSK_EXPECT_EQ(tsk_join(j.target, NULL, 0), -ETIMEDOUT); /* not -EINVAL */
	atomic_store(&go, true);
	TSK_EXPECT_EQ(join(j.target), 42);

	/* a task cancelling itself */
	atomic_int child_rc = 0;
	TSK_EXPECT_EQ(join(spawn(self_canceller, &child_rc)), 8);

	/* a running task: it sees the cancel at its next yield and goes on
	 * (the root yields, so that on one worker the yielder runs first) */
	t = spawn(busy_yielder, NULL);
	tsk_yield();
	TSK_EXPECT_EQ(tsk_cancel(t), 0);
	TSK_EXPECT_EQ(join(t), 9);

	/* a task that has returned but is not joined yet */
	atomic_store(&go, true);
	t = spawn(gate_task, &go);
	tsk_sleep(tsk_after_ms(5));
	TSK_EXPECT_EQ(tsk_cancel(t), 0);
	TSK_EXPECT_EQ(join(t), 42);

	/* the detached child of the self-cancelled task slept normally */
	end = tsk_after_ms(10000);
	while (atomic_load(&child_rc) == 0 && tsk_now() < end)
		tsk_sleep(tsk_after_ms(1));
	TSK_EXPECT_EQ(atomic_load(&child_rc), 1000);
	return NULL;
}

static void test_cancel(void **state)
{
	(void)state;
	ct_run(cancel_root, (void *)1, 1, 0);
	ct_run(cancel_root, (void *)4, 4, 0);
}

/* ---- yield ------------------------------------------------------------------- */

#define YIELDS 10

typedef struct yield_log {
	atomic_int n;
	char who[4 * YIELDS];
} yield_log;

typedef struct yielder {
	yield_log *log;
	char me;
} yielder;

static void *logging_yielder(void *arg)
{
	yielder *y = arg;

	for (int i = 0; i < YIELDS; i++) {
		int k = atomic_fetch_add(&y->log->n, 1);
		if (k < (int)sizeof(y->log->who))
			y->log->who[k] = y->me;
		TSK_EXPECT_EQ(tsk_yield(), 0);
	}
	return NULL;
}

static void *flag_setter(void *arg)
{
	atomic_store((atomic_bool *)arg, true);
	return NULL;
}

static void *yield_root(void *arg)
{
	int workers = (int)(intptr_t)arg;
	yield_log log = {0};
	yielder a = {&log, 'a'}, b = {&log, 'b'};

	/* alone: returns at once */
	TSK_EXPECT_EQ(tsk_yield(), 0);
	TSK_EXPECT_EQ((tsk_yield)(), 0);

	/* a spinning yielder lets the task that releases it run, even on one
	 * worker */
	atomic_bool flag = false;
	tsk_task *t = spawn(flag_setter, &flag);
	long spins = 0;
	while (!atomic_load(&flag) && spins < 10 * 1000 * 1000) {
		TSK_EXPECT_EQ(tsk_yield(), 0);
		spins++;
	}
	TSK_EXPECT(atomic_load(&flag));
	join(t);

	/* two yielders on one worker take turns */
	tsk_task *ta = spawn(logging_yielder, &a);
	tsk_task *tb = spawn(logging_yielder, &b);
	join(ta);
	join(tb);
	TSK_EXPECT_EQ(atomic_load(&log.n), 2 * YIELDS);
	if (workers == 1) {
		for (int i = 1; i < 2 * YIELDS; i++)
			TSK_EXPECT(log.who[i] != log.who[i - 1]);
	}
	return NULL;
}

static void test_yield(void **state)
{
	(void)state;
	ct_run(yield_root, (void *)1, 1, 0);
	ct_run(yield_root, (void *)4, 4, 0);
}

/* ---- sleep ------------------------------------------------------------------- */

static void *sleep_root(void *arg)
{
	int64_t t0;

	(void)arg;
	TSK_EXPECT_EQ(tsk_sleep(TSK_FOREVER), -EINVAL);
	TSK_EXPECT_EQ(tsk_sleep(tsk_after_ms(-5)), -EINVAL); /* that is FOREVER */

	/* a deadline in the past (or now) returns at once */
	t0 = tsk_now();
	TSK_EXPECT_EQ(tsk_sleep(0), 0);
	TSK_EXPECT_EQ(tsk_sleep(1), 0);
	TSK_EXPECT_EQ(tsk_sleep(t0 - 1000 * CT_MS), 0);
	TSK_EXPECT_EQ(tsk_sleep(tsk_now()), 0);
	TSK_EXPECT_EQ(tsk_sleep(tsk_after_ms(0)), 0);
	TSK_EXPECT(tsk_now() - t0 < 1000 * CT_MS);

	/* a real sleep: no earlier than the deadline, not absurdly late
	 * (test_timer.c measures more) */
	for (int ms = 1; ms <= 40; ms *= 2) {
		t0 = tsk_now();
		int64_t dl = t0 + ms * CT_MS;
		TSK_EXPECT_EQ(tsk_sleep(dl), 0);
		int64_t now = tsk_now();
		TSK_EXPECT(now >= dl);
		TSK_EXPECT(now - dl < 200 * CT_MS);
	}
	TSK_EXPECT_EQ((tsk_sleep)(tsk_after_ms(1)), 0);
	TSK_EXPECT_EQ(tsk_sleep_at(tsk_after_ms(1), TSK_SITE), 0);
	return NULL;
}

static void test_sleep(void **state)
{
	(void)state;
	ct_run(sleep_root, NULL, 1, 0);
	ct_run(sleep_root, NULL, 4, 0);
}

/* ---- stacks --------------------------------------------------------------------- */

/* Fills `kib` KiB of this task's stack with its own pattern, yields so
 * that other tasks do the same, and checks the pattern survived. */
static __attribute__((noinline)) int use_stack(size_t kib, unsigned char pat)
{
	size_t n = kib * 1024;
	volatile unsigned char *buf = __builtin_alloca(n);
	int bad = 0;

	for (size_t i = 0; i < n; i++)
		buf[i] = (unsigned char)(pat + i);
	for (int k = 0; k < 3; k++)
		tsk_yield();
	for (size_t i = 0; i < n; i++)
		bad += buf[i] != (unsigned char)(pat + i);
	return bad;
}

static void *stack_task(void *arg)
{
	uintptr_t kib = (uintptr_t)arg;

	TSK_EXPECT_EQ(use_stack(kib, (unsigned char)tsk_id(tsk_self())), 0);
	return NULL;
}

#define NSTACK 16

static void *stack_root(void *arg)
{
	tsk_task *t[NSTACK];

	for (int i = 0; i < NSTACK; i++)
		t[i] = spawn(stack_task, arg);
	for (int i = 0; i < NSTACK; i++)
		join(t[i]);
	/* and the root itself */
	TSK_EXPECT_EQ(use_stack((uintptr_t)arg, 0x5a), 0);
	return NULL;
}

typedef struct maps_ctx {
	size_t usable; /* the configured stack size, page-rounded */
	long seen;     /* guarded stacks of that size seen while running */
} maps_ctx;

static void *maps_root(void *arg)
{
	maps_ctx *m = arg;

	stack_root((void *)(uintptr_t)(m->usable / 1024 * 3 / 4));
	m->seen = ct_stack_maps(m->usable);
	return NULL;
}

static void test_stacks(void **state)
{
	(void)state;
	/* 48 KiB of the default 64 KiB, 16 tasks at once */
	ct_run(stack_root, (void *)(uintptr_t)48, 1, 0);
	ct_run(stack_root, (void *)(uintptr_t)48, 4, 0);

	/* the configured size is honoured: a task uses more than the default
	 * allows (a size that is no page multiple rounds up) */
	ct_run(stack_root, (void *)(uintptr_t)80, 2, 100000);

	/* big stacks: 3/4 of 1 MiB, and the mappings really are that size
	 * with a guard page, and gone afterwards */
	maps_ctx m = {.usable = 1024 * 1024};
	long before = ct_stack_maps(m.usable);
	ct_run(maps_root, &m, 4, m.usable);
	assert_true(m.seen >= before + 1);
	assert_int_equal(ct_stack_maps(m.usable), before);

	/* a tiny size is raised to something usable */
	ct_run(stack_root, (void *)(uintptr_t)2, 2, 1);
}

/* Recurses `depth` frames of about 1 KiB, touching each. */
static __attribute__((noinline)) long dig(int depth)
{
	volatile char buf[1024];

	for (size_t i = 0; i < sizeof(buf); i++)
		buf[i] = (char)depth;
	if (depth == 0)
		return buf[0];
	return dig(depth - 1) + buf[depth % sizeof(buf)];
}

static void *blocked_forever(void *arg)
{
	(void)arg;
	tsk_sleep(tsk_after_ms(FAR_MS));
	return NULL;
}

static void *overflow_task(void *arg)
{
	(void)arg;
	/* ~100 KiB on a 64 KiB stack: without a guard page this runs on into
	 * the stack mapped just below (the blocked task's) and returns; then
	 * leave at once, before anything resumes the trampled task */
	long r = dig(100);
	_exit(r == 12345 ? 13 : 10);
}

static void *overflow_root(void *arg)
{
	tsk_task *a, *b;

	(void)arg;
	/* a is mapped first, b right below it */
	TSK_EXPECT_EQ(tsk_spawn(&a, "overflow", overflow_task, NULL), 0);
	TSK_EXPECT_EQ(tsk_spawn(&b, "below", blocked_forever, NULL), 0);
	tsk_join(a, NULL, TSK_FOREVER);
	return NULL;
}

static void *first_root(void *arg)
{
	(void)arg;
	return (void *)(uintptr_t)tsk_id(tsk_self());
}

/* The modes of `test_task --child MODE`. */
static int child_main(const char *mode)
{
	tsk_config cfg = {.workers = 1};
	void *res = NULL;

	if (strcmp(mode, "leaks") == 0)
		return ct_leaks_child();
	if (strcmp(mode, "first-id") == 0) {
		/* the first root task of a process has id 1 */
		if (tsk_run(first_root, NULL, &cfg, &res) != 0)
			return 11;
		return (uintptr_t)res == 1 ? 0 : 12;
	}
	if (strcmp(mode, "overflow") == 0) {
		struct rlimit no_core = {0, 0};
		setrlimit(RLIMIT_CORE, &no_core);
		/* a crash leaves its recorder segment in /dev/shm by design;
		 * this one would only litter */
		setenv("TASKSCOPE", "off", 1);
		if (tsk_run(overflow_root, NULL, &cfg, NULL) != 0)
			return 11;
		return 10; /* survived the overflow: no guard page */
	}
	return 2;
}

static void test_guard_page(void **state)
{
	int status = 0;
	int64_t ns;

	(void)state;
	assert_int_equal(ct_child("overflow", NULL, 30000, &status, &ns), 0);
	print_message("overflow child: %s %d after %.1f ms\n",
	              WIFSIGNALED(status) ? "signal" : "exit",
	              WIFSIGNALED(status) ? WTERMSIG(status) : WEXITSTATUS(status), ct_ms(0, ns));
	assert_false(WIFEXITED(status) && WEXITSTATUS(status) == 10);
	assert_false(WIFEXITED(status) && WEXITSTATUS(status) == 11);
	assert_false(WIFEXITED(status) && WEXITSTATUS(status) == 0);
#if !defined(__SANITIZE_ADDRESS__) && !defined(__SANITIZE_THREAD__)
	/* the sanitizers report the fault and exit non-zero instead */
	assert_true(WIFSIGNALED(status));
	assert_true(WTERMSIG(status) == SIGSEGV || WTERMSIG(status) == SIGBUS);
#endif

	assert_int_equal(ct_child("first-id", NULL, 30000, &status, &ns), 0);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
}

/* ---- two runtimes at once --------------------------------------------------------- */

typedef struct two_ctx {
	_Atomic(tsk_task *) a_task; /* a live task of runtime A */
	atomic_bool b_done;         /* runtime B has tried its calls */
	int b_run_rc;
} two_ctx;

static void *two_a_task(void *arg)
{
	two_ctx *x = arg;

	atomic_store(&x->a_task, tsk_self());
	gate_task(&x->b_done);
	return (void *)42;
}

static void *two_root_a(void *arg)
{
	return (void *)join(spawn(two_a_task, arg));
}

static void *two_root_b(void *arg)
{
	two_ctx *x = arg;
	int64_t end = tsk_after_ms(10000);

	while (!atomic_load(&x->a_task) && tsk_now() < end)
		tsk_sleep(tsk_after_ms(1));
	tsk_task *t = atomic_load(&x->a_task);
	TSK_EXPECT(t != NULL);
	if (t) {
		TSK_EXPECT_EQ(tsk_cancel(t), -EPERM);
		TSK_EXPECT_EQ(tsk_join(t, NULL, TSK_FOREVER), -EINVAL);
		TSK_EXPECT_EQ(tsk_join(t, NULL, 0), -EINVAL);
	}
	atomic_store(&x->b_done, true);
	return NULL;
}

static void *two_thread_b(void *arg)
{
	two_ctx *x = arg;
	tsk_config cfg = {.workers = 2};

	x->b_run_rc = tsk_run(two_root_b, x, &cfg, NULL);
	return NULL;
}

static void test_two_runtimes(void **state)
{
	two_ctx x = {0};
	tsk_config cfg = {.workers = 2};
	void *res = NULL;
	pthread_t th;

	(void)state;
	assert_int_equal(pthread_create(&th, NULL, two_thread_b, &x), 0);
	assert_int_equal(tsk_run(two_root_a, &x, &cfg, &res), 0);
	assert_int_equal(pthread_join(th, NULL), 0);
	assert_int_equal(x.b_run_rc, 0);
	assert_ptr_equal(res, (void *)42); /* A's task was not cancelled */
	assert_int_equal(atomic_exchange(&tsk_test_failed, 0), 0);
	assert_int_equal(ct_threads(), ct_threads_base);
	assert_int_equal(ct_stack_maps(CT_STACK), ct_maps_base);
}

int main(int argc, char **argv)
{
	if (argc == 3 && strcmp(argv[1], "--child") == 0)
		return child_main(argv[2]);

	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_outside_task), cmocka_unit_test(test_foreign_thread),
	        cmocka_unit_test(test_run),          cmocka_unit_test(test_self_id_name),
	        cmocka_unit_test(test_spawn),        cmocka_unit_test(test_join),
	        cmocka_unit_test(test_cancel),       cmocka_unit_test(test_yield),
	        cmocka_unit_test(test_sleep),        cmocka_unit_test(test_stacks),
	        cmocka_unit_test(test_guard_page),   cmocka_unit_test(test_two_runtimes),
	        cmocka_unit_test(ct_test_no_leaks),
	};

	return cmocka_run_group_tests(tests, ct_leak_setup, NULL);
}
