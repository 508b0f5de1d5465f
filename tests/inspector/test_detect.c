/*
 * test_detect.c - the deadlock detector and lints (inspector/src/detect.c).
 *
 * Each test feeds a scripted event sequence to a model (as test_model.c
 * does), steps a detector watching it, and checks the verdicts it reports
 * against what the sequence means.  The live state the detector confirms
 * on is a fake (det_live) answering from tables the event helpers keep
 * consistent with what they feed (a BLOCK makes the task's slot blocked on
 * the same thing, an exclusive ACQUIRE makes the task the lock's owner);
 * a test overrides them to show a state the events do not (a task already
 * running again, a slot that changes between two reads).
 *
 * Every verdict expected is asserted exactly (verdict, kind, member set,
 * chain order); every "no verdict" case has a counterpart that does give
 * one, so that a detector that never reports fails too.  The scale test
 * (20,000 tasks) is the only slow one: a few hundred ms.
 *
 * Longer than a source file should be: one binary per source file, and
 * detect.c judges many kinds of waits, each with its own scenario.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "detect.h"
#include "model.h"
#include "tsk_test.h"

#define MAXID 65536 /* task and resource ids of the fake live state are below this */
#define STEP  1000  /* ns between two scripted events */
#define MS    1000000LL
#define SEC   1000000000LL
#define NONE  (-1)

/* string ids and their text */
enum {
	S_ROOT = 1,
	S_A,
	S_B,
	S_C,
	S_TICKER,
	S_M1,
	S_M2,
	S_M3,
	S_CH1,
	S_CH2,
	S_WG,
	S_CV,
	S_RW,
	S_SITE,
	S_COUNT
};

static const char *const names[S_COUNT] = {
        [S_ROOT] = "root",     [S_A] = "a",
        [S_B] = "b",           [S_C] = "c",
        [S_TICKER] = "ticker", [S_M1] = "m1",
        [S_M2] = "m2",         [S_M3] = "m3",
        [S_CH1] = "c1",        [S_CH2] = "c2",
        [S_WG] = "wg",         [S_CV] = "cv",
        [S_RW] = "rw",         [S_SITE] = "abba.c:40 worker",
};

/* task ids */
enum { ROOT = 1, A = 2, B = 3, C = 4, TICKER = 5, D = 6, E = 7, F = 8 };
/* resource ids */
enum { M1 = 101, M2 = 102, M3 = 103, CH1 = 111, CH2 = 112, WG = 121, CV = 131, CV2 = 132 };
enum { RW = 141 };

/* A verdict as the out callback saw it (the first members only). */
typedef struct caught {
	uint8_t verdict, kind;
	uint32_t ntasks;
	uint64_t task[8], by0[8];
} caught;

/* The harness: a model, a detector on it, the fake live state. */
typedef struct h {
	model *m;
	det *d;
	det_config cfg;
	int64_t now;       /* time of the latest event (process ns) */
	det_slot *slot;    /* [task id]: the live task slots (state 0: no slot) */
	uint64_t *owner;   /* [resource id]: the owner the live resource slot names */
	uint32_t *readers; /* [resource id]: its count of readers */
	uint64_t bump;     /* a task whose slot changes at every read (0 none) */
	uint64_t reads;    /* task slot reads */
	caught dl[8];
	size_t ndl; /* out.deadlock calls */
} h;

static int h_resolve(void *ctx, uint32_t id, char *buf, size_t cap)
{
	(void)ctx;
	if (id == 0 || id >= S_COUNT || !names[id])
		return -1;
	snprintf(buf, cap, "%s", names[id]);
	return 0;
}

static void h_deadlock(void *ctx, const det_deadlock *dl)
{
	h *x = ctx;
	if (x->ndl < 8) {
		caught *c = &x->dl[x->ndl];
		c->verdict = dl->verdict;
		c->kind = dl->kind;
		c->ntasks = dl->ntasks;
		for (uint32_t i = 0; i < dl->ntasks && i < 8; i++) {
			c->task[i] = dl->tasks[i].task;
			c->by0[i] = dl->tasks[i].by[0];
		}
	}
	x->ndl++;
}

static int h_task(void *ctx, uint64_t id, det_slot *out)
{
	h *x = ctx;
	if (id >= MAXID || x->slot[id].state == TSK_TS_FREE)
		return -1;
	x->reads++;
	if (id == x->bump)
		x->slot[id].seq += 2; /* the writer updated it since the last read */
	*out = x->slot[id];
	return 0;
}

static int h_owner(void *ctx, uint64_t res, uint64_t *owner, uint32_t *nreaders)
{
	h *x = ctx;
	if (res >= MAXID)
		return -1;
	*owner = x->owner[res];
	*nreaders = x->readers[res];
	return 0;
}

/* cfg NULL: the defaults.  frozen: det_live.frozen. */
static void h_init(h *x, int frozen, const det_config *cfg)
{
	memset(x, 0, sizeof(*x));
	x->slot = calloc(MAXID, sizeof(*x->slot));
	x->owner = calloc(MAXID, sizeof(*x->owner));
	x->readers = calloc(MAXID, sizeof(*x->readers));
	assert_non_null(x->slot);
	assert_non_null(x->owner);
	model_sink s = {.ctx = x, .resolve = h_resolve};
	x->m = model_create(&s);
	if (cfg)
		x->cfg = *cfg;
	else
		det_config_default(&x->cfg);
	/* scripted time: fixpoints paced by sweep_ns only, not by the CPU time
	 * they take (a sanitizer's) */
	x->cfg.cost_factor = 0;
	det_out out = {.ctx = x, .deadlock = h_deadlock, .resolve = h_resolve};
	x->d = det_create(x->m, &x->cfg, &out);
	det_live lv = {.ctx = x, .task = h_task, .owner = h_owner, .frozen = frozen};
	det_set_live(x->d, &lv);
	x->now = 1 * MS;
}

static void h_fini(h *x)
{
	det_destroy(x->d);
	model_destroy(x->m);
	free(x->slot);
	free(x->owner);
	free(x->readers);
}

static void later(h *x, int64_t ns)
{
	x->now += ns;
}

static void step(h *x, int final)
{
	det_step(x->d, x->now, final);
}

/* ---- events (each one STEP after the previous), the live state kept in step ---- */

static void ev(h *x, uint16_t type, uint64_t task, uint64_t obj, uint32_t a32, uint64_t arg,
               uint32_t str)
{
	tsk_seg_event e;
	memset(&e, 0, sizeof(e));
	e.type = type;
	e.task = task;
	e.obj = obj;
	e.a32 = a32;
	e.arg = arg;
	e.str = str;
	e.worker = 0;
	if (type == TSK_EV_BLOCK)
		e.site = S_SITE;
	x->now += STEP;
	model_apply(x->m, &e, x->now);
}

static void live_set(h *x, uint64_t task, uint8_t state, uint8_t kind, uint64_t obj,
                     int64_t deadline)
{
	det_slot *s = &x->slot[task];
	s->state = state;
	s->wait_kind = kind;
	s->obj = obj;
	s->deadline = deadline;
	s->seq += 2;
}

static void spawn(h *x, uint64_t task, uint64_t parent, uint32_t name, uint32_t flags)
{
	ev(x, TSK_EV_SPAWN, task, parent, flags, 0, name);
	live_set(x, task, TSK_TS_READY, 0, 0, -1);
}

static void run(h *x, uint64_t task)
{
	ev(x, TSK_EV_RUN, task, 0, 0, 0, 0);
	live_set(x, task, TSK_TS_RUNNING, 0, 0, -1);
}

/* deadline: CLOCK_MONOTONIC ns (the model's epoch is 0), NONE for none */
static void block(h *x, uint64_t task, uint8_t kind, uint64_t obj, int64_t deadline)
{
	ev(x, TSK_EV_BLOCK, task, obj, kind, (uint64_t)deadline, 0);
	live_set(x, task, TSK_TS_BLOCKED, kind, obj, deadline);
}

static void wake(h *x, uint64_t task, uint64_t waker)
{
	ev(x, TSK_EV_WAKE, task, waker, 0, 0, 0);
	live_set(x, task, TSK_TS_READY, 0, 0, -1);
}

static void exit_task(h *x, uint64_t task)
{
	ev(x, TSK_EV_EXIT, task, 0, 0, 0, 0);
	live_set(x, task, TSK_TS_DONE, 0, 0, -1);
}

static void res_new(h *x, uint64_t res, uint8_t kind, uint64_t creator, uint32_t name, uint64_t arg)
{
	ev(x, TSK_EV_RES_NEW, creator, res, kind, arg, name);
}

static void acquire(h *x, uint64_t task, uint64_t res, int shared)
{
	ev(x, TSK_EV_ACQUIRE, task, res, (uint32_t)shared, 0, 0);
	if (!shared)
		x->owner[res] = task;
	else
		x->readers[res]++;
}

static void release(h *x, uint64_t task, uint64_t res, int shared)
{
	ev(x, TSK_EV_RELEASE, task, res, (uint32_t)shared, 0, 0);
	if (!shared && x->owner[res] == task)
		x->owner[res] = 0;
	else if (shared && x->readers[res])
		x->readers[res]--;
}

/* ---- checks ---------------------------------------------------------------------- */

/* ids[0..n) is the set want[0..n). */
static void same_set(const uint64_t *ids, size_t n, const uint64_t *want, size_t nwant)
{
	assert_int_equal(n, nwant);
	for (size_t i = 0; i < nwant; i++) {
		size_t hits = 0;
		for (size_t k = 0; k < n; k++)
			hits += ids[k] == want[i];
		assert_int_equal(hits, 1);
	}
}

/* The i-th reported deadlock is a definite cycle of exactly want (a set),
 * in chain order: each member waits for the next, the last for the first,
 * and by[0] names that one. */
static const det_deadlock *check_cycle(h *x, size_t i, const uint64_t *want, size_t n)
{
	const det_deadlock *dl = det_get(x->d, i);
	assert_non_null(dl);
	assert_int_equal(dl->verdict, DET_DEFINITE);
	assert_int_equal(dl->kind, DET_CYCLE);
	assert_int_equal(dl->ntasks, n);
	uint64_t *ids = malloc(n * sizeof(*ids));
	assert_non_null(ids);
	for (size_t k = 0; k < n; k++) {
		const det_member *mem = &dl->tasks[k];
		uint64_t next = dl->tasks[(k + 1) % n].task;
		ids[k] = mem->task;
		assert_int_equal(mem->by[0], next);
		assert_int_equal(mem->by[1], 0);
		/* it waits on what the next one holds (or joins it) */
		if (mem->wait_kind == TSK_WAIT_MUTEX)
			assert_int_equal(x->owner[mem->obj], next);
		else if (mem->wait_kind == TSK_WAIT_JOIN)
			assert_int_equal(mem->obj, next);
		assert_int_equal(mem->since_ns, model_task_get(x->m, mem->task)->cur.start_ns);
	}
	same_set(ids, n, want, n);
	free(ids);
	if (i < 8) {
		assert_int_equal(x->dl[i].verdict, DET_DEFINITE);
		assert_int_equal(x->dl[i].kind, DET_CYCLE);
		assert_int_equal(x->dl[i].ntasks, n);
	}
	return dl;
}

/* The i-th reported deadlock is a stall (verdict) of exactly want, members
 * sorted by task id. */
static const det_deadlock *check_stall(h *x, size_t i, uint8_t verdict, const uint64_t *want,
                                       size_t n)
{
	const det_deadlock *dl = det_get(x->d, i);
	assert_non_null(dl);
	assert_int_equal(dl->verdict, verdict);
	assert_int_equal(dl->kind, DET_STALL);
	assert_int_equal(dl->ntasks, n);
	for (size_t k = 0; k < n; k++)
		assert_int_equal(dl->tasks[k].task, want[k]);
	assert_non_null(dl->text);
	return dl;
}

typedef struct wlist {
	det_warning w[64];
	size_t n;
} wlist;

static void w_add(void *ctx, const det_warning *w)
{
	wlist *l = ctx;
	assert_true(l->n < 64);
	l->w[l->n++] = *w;
}

/* The warnings of kind (for task, 0: any task); *first gets the first one. */
static size_t warns(h *x, uint8_t kind, uint64_t task, det_warning *first)
{
	wlist *l = calloc(1, sizeof(*l));
	assert_non_null(l);
	det_each_warning(x->d, w_add, l);
	size_t n = 0;
	for (size_t i = 0; i < l->n; i++) {
		if (l->w[i].kind != kind || (task && l->w[i].task != task))
			continue;
		if (!n && first)
			*first = l->w[i];
		n++;
	}
	free(l);
	return n;
}

/* ---- 1. AB-BA ------------------------------------------------------------------------ */

/* a holds m1, b holds m2, a waits for m2, b for m1: one definite cycle,
 * found by the step right after b's BLOCK, reported once; root, joining
 * a, is listed behind it */
static void test_abba(void **state)
{
	(void)state;
	h x;
	h_init(&x, 1, NULL);
	spawn(&x, ROOT, 0, S_ROOT, TSK_TF_ROOT);
	run(&x, ROOT);
	res_new(&x, M1, TSK_RES_MUTEX, ROOT, S_M1, 0);
	res_new(&x, M2, TSK_RES_MUTEX, ROOT, S_M2, 0);
	spawn(&x, A, ROOT, S_A, 0);
	spawn(&x, B, ROOT, S_B, 0);
	block(&x, ROOT, TSK_WAIT_JOIN, A, NONE);
	run(&x, A);
	acquire(&x, A, M1, 0);
	run(&x, B);
	acquire(&x, B, M2, 0);
	block(&x, A, TSK_WAIT_MUTEX, M2, NONE);
	step(&x, 0);
	assert_int_equal(det_count(x.d), 0); /* b runs: it may still unlock m2 */
	block(&x, B, TSK_WAIT_MUTEX, M1, NONE);
	int64_t closed = x.now;
	step(&x, 0);
	assert_int_equal(det_count(x.d), 1);
	assert_int_equal(x.ndl, 1);
	const uint64_t want[] = {A, B};
	const det_deadlock *dl = check_cycle(&x, 0, want, 2);
	/* the search starts from the newest wait: b, then the holder of m1 */
	assert_int_equal(dl->tasks[0].task, B);
	assert_int_equal(dl->tasks[0].obj, M1);
	assert_int_equal(dl->tasks[0].wait_kind, TSK_WAIT_MUTEX);
	assert_int_equal(dl->tasks[0].site, S_SITE);
	assert_int_equal(dl->tasks[1].task, A);
	assert_int_equal(dl->tasks[1].obj, M2);
	assert_int_equal(dl->id, 1);
	assert_int_equal(dl->closed_ns, closed);
	assert_int_equal(dl->found_ns, closed);
	assert_non_null(dl->text);
	assert_non_null(strstr(dl->text, "\"a\""));
	assert_non_null(strstr(dl->text, "\"m1\""));
	assert_non_null(strstr(dl->text, "(abba.c:40)"));
	assert_non_null(strstr(dl->text, "a cycle"));
	/* more steps: no duplicate; root (joining a) shows as behind it */
	later(&x, 100 * MS);
	step(&x, 0);
	later(&x, 100 * MS);
	step(&x, 0);
	step(&x, 1);
	assert_int_equal(det_count(x.d), 1);
	assert_int_equal(x.ndl, 1);
	dl = det_get(x.d, 0);
	assert_int_equal(dl->nbehind, 1);
	assert_int_equal(dl->behind[0], ROOT);
	h_fini(&x);
}

/* ---- 2. self-relock, hand-off ----------------------------------------------------------- */

static void test_self_relock(void **state)
{
	(void)state;
	h x;
	h_init(&x, 1, NULL);
	spawn(&x, A, 0, S_A, TSK_TF_ROOT);
	res_new(&x, M1, TSK_RES_MUTEX, A, S_M1, 0);
	run(&x, A);
	acquire(&x, A, M1, 0);
	block(&x, A, TSK_WAIT_MUTEX, M1, NONE);
	step(&x, 0);
	assert_int_equal(det_count(x.d), 1);
	const uint64_t want[] = {A};
	const det_deadlock *dl = check_cycle(&x, 0, want, 1);
	assert_int_equal(dl->tasks[0].by[0], A);
	assert_int_equal(dl->tasks[0].obj, M1);
	step(&x, 1);
	assert_int_equal(det_count(x.d), 1);
	h_fini(&x);
}

/* a waits for m held by b; b unlocks and hands m to a: a's ACQUIRE comes
 * before its WAKE, and the live slot still shows a blocked on m that a
 * owns.  Not a relock: no verdict, neither incremental nor final. */
static void test_handoff(void **state)
{
	(void)state;
	h x;
	h_init(&x, 1, NULL);
	spawn(&x, ROOT, 0, S_ROOT, TSK_TF_ROOT);
	res_new(&x, M1, TSK_RES_MUTEX, ROOT, S_M1, 0);
	spawn(&x, A, ROOT, S_A, 0);
	spawn(&x, B, ROOT, S_B, 0);
	block(&x, ROOT, TSK_WAIT_JOIN, A, NONE);
	run(&x, B);
	acquire(&x, B, M1, 0);
	run(&x, A);
	block(&x, A, TSK_WAIT_MUTEX, M1, NONE);
	release(&x, B, M1, 0);
	acquire(&x, A, M1, 0); /* handed to a, still blocked */
	block(&x, B, TSK_WAIT_SLEEP, 0, x.now + SEC);
	step(&x, 0);
	assert_int_equal(det_count(x.d), 0);
	later(&x, 100 * MS);
	step(&x, 1);
	assert_int_equal(det_count(x.d), 0);
	assert_true(x.reads == 0); /* nothing came close to a verdict */
	wake(&x, A, B);
	run(&x, A);
	assert_int_equal(det_count(x.d), 0);
	h_fini(&x);
}

/* ---- 3. three locks, joins, rwlock ------------------------------------------------------- */

static void test_three_locks(void **state)
{
	(void)state;
	h x;
	h_init(&x, 1, NULL);
	const uint64_t t[3] = {A, B, C}, mx[3] = {M1, M2, M3};
	for (int i = 0; i < 3; i++) {
		spawn(&x, t[i], 0, S_A + (uint32_t)i, 0);
		res_new(&x, mx[i], TSK_RES_MUTEX, 0, S_M1 + (uint32_t)i, 0);
	}
	for (int i = 0; i < 3; i++) {
		run(&x, t[i]);
		acquire(&x, t[i], mx[i], 0);
	}
	for (int i = 0; i < 3; i++) {
		assert_int_equal(det_count(x.d), 0);
		block(&x, t[i], TSK_WAIT_MUTEX, mx[(i + 1) % 3], NONE);
		step(&x, 0);
	}
	assert_int_equal(det_count(x.d), 1);
	const det_deadlock *dl = check_cycle(&x, 0, t, 3);
	assert_int_equal(dl->tasks[0].task, C); /* the closing wait first */
	assert_int_equal(dl->tasks[1].task, A);
	assert_int_equal(dl->tasks[2].task, B);
	step(&x, 1);
	assert_int_equal(det_count(x.d), 1);
	h_fini(&x);
}

static void test_join_cycle(void **state)
{
	(void)state;
	h x;
	h_init(&x, 1, NULL);
	spawn(&x, A, 0, S_A, 0);
	spawn(&x, B, A, S_B, 0);
	run(&x, A);
	block(&x, A, TSK_WAIT_JOIN, B, NONE);
	step(&x, 0);
	assert_int_equal(det_count(x.d), 0);
	run(&x, B);
	block(&x, B, TSK_WAIT_JOIN, A, NONE);
	step(&x, 0);
	assert_int_equal(det_count(x.d), 1);
	const uint64_t want[] = {A, B};
	const det_deadlock *dl = check_cycle(&x, 0, want, 2);
	assert_int_equal(dl->tasks[0].wait_kind, TSK_WAIT_JOIN);
	assert_int_equal(dl->tasks[1].wait_kind, TSK_WAIT_JOIN);
	assert_non_null(strstr(dl->text, "waits to join"));
	h_fini(&x);
}

/* a reader holds rw, a writer queues, the reader asks for a read lock
 * again: it queues behind the writer (writer preference), which waits
 * for the reader */
static void test_rwlock(void **state)
{
	(void)state;
	h x;
	h_init(&x, 1, NULL);
	spawn(&x, A, 0, S_A, 0); /* the reader */
	spawn(&x, B, 0, S_B, 0); /* the writer */
	res_new(&x, RW, TSK_RES_RWLOCK, 0, S_RW, 0);
	run(&x, A);
	acquire(&x, A, RW, 1);
	run(&x, B);
	block(&x, B, TSK_WAIT_RWLOCK_WR, RW, NONE);
	step(&x, 0);
	assert_int_equal(det_count(x.d), 0);
	block(&x, A, TSK_WAIT_RWLOCK_RD, RW, NONE);
	step(&x, 0);
	assert_int_equal(det_count(x.d), 1);
	const uint64_t want[] = {A, B};
	const det_deadlock *dl = check_cycle(&x, 0, want, 2);
	for (int i = 0; i < 2; i++) {
		const det_member *mem = &dl->tasks[i];
		assert_int_equal(mem->obj, RW);
		assert_int_equal(mem->wait_kind,
		                 mem->task == A ? TSK_WAIT_RWLOCK_RD : TSK_WAIT_RWLOCK_WR);
	}
	h_fini(&x);
}

/* the same without a writer queued: a reader behind readers is no cycle */
static void test_rwlock_readers(void **state)
{
	(void)state;
	h x;
	h_init(&x, 1, NULL);
	spawn(&x, A, 0, S_A, 0);
	spawn(&x, B, 0, S_B, 0);
	res_new(&x, RW, TSK_RES_RWLOCK, 0, S_RW, 0);
	run(&x, A);
	acquire(&x, A, RW, 1);
	run(&x, B);
	acquire(&x, B, RW, 1);
	block(&x, A, TSK_WAIT_RWLOCK_RD, RW, NONE);
	block(&x, B, TSK_WAIT_RWLOCK_RD, RW, NONE);
	step(&x, 0);
	assert_int_equal(det_count(x.d), 0);
	h_fini(&x);
}

/* ---- 4. timed waits, trylocks ----------------------------------------------------------- */

/* AB-BA; deadline: b's wait on m1 has one (NONE: the control, a cycle) */
static void abba(h *x, int64_t deadline)
{
	spawn(x, A, 0, S_A, 0);
	spawn(x, B, 0, S_B, 0);
	res_new(x, M1, TSK_RES_MUTEX, 0, S_M1, 0);
	res_new(x, M2, TSK_RES_MUTEX, 0, S_M2, 0);
	run(x, A);
	acquire(x, A, M1, 0);
	run(x, B);
	acquire(x, B, M2, 0);
	block(x, A, TSK_WAIT_MUTEX, M2, NONE);
	block(x, B, TSK_WAIT_MUTEX, M1, deadline);
}

static void test_timed_abba(void **state)
{
	(void)state;
	h x;
	h_init(&x, 1, NULL);
	abba(&x, x.now + 10 * SEC);
	step(&x, 0);
	later(&x, 100 * MS);
	step(&x, 0);
	step(&x, 1);
	assert_int_equal(det_count(x.d), 0);
	assert_int_equal(x.ndl, 0);
	assert_true(x.reads == 0); /* not even a candidate to confirm */
	h_fini(&x);
	/* the control */
	h_init(&x, 1, NULL);
	abba(&x, NONE);
	step(&x, 0);
	assert_int_equal(det_count(x.d), 1);
	h_fini(&x);
}

/* a takes m1 with a trylock, b takes m2; b waits for m1; a's trylock on
 * m2 fails (no event) and it sleeps to retry: no cycle, no stall */
static void test_trylock(void **state)
{
	(void)state;
	h x;
	h_init(&x, 1, NULL);
	spawn(&x, A, 0, S_A, 0);
	spawn(&x, B, 0, S_B, 0);
	res_new(&x, M1, TSK_RES_MUTEX, 0, S_M1, 0);
	res_new(&x, M2, TSK_RES_MUTEX, 0, S_M2, 0);
	run(&x, A);
	acquire(&x, A, M1, 0); /* trylock: no BLOCK before it */
	run(&x, B);
	acquire(&x, B, M2, 0);
	block(&x, B, TSK_WAIT_MUTEX, M1, NONE);
	step(&x, 0);
	block(&x, A, TSK_WAIT_SLEEP, 0, x.now + 5 * MS);
	step(&x, 0);
	later(&x, 100 * MS);
	step(&x, 1);
	assert_int_equal(det_count(x.d), 0);
	/* the trylocking task is in no edge: b waits for a, a for nothing */
	model_task *ta = model_task_get(x.m, A);
	assert_int_equal(ta->cur.wait_kind, TSK_WAIT_SLEEP);
	h_fini(&x);
}

/* ---- 5. confirmation on the live state ------------------------------------------------- */

/* the live state says b runs again (the events lag; its slot keeps the
 * old wait's fields): no verdict until it shows b blocked */
static void test_confirm_running(void **state)
{
	(void)state;
	h x;
	h_init(&x, 1, NULL);
	abba(&x, NONE);
	x.slot[B].state = TSK_TS_RUNNING;
	x.slot[B].seq += 2;
	step(&x, 0);
	later(&x, 100 * MS);
	step(&x, 0);
	step(&x, 1);
	assert_int_equal(det_count(x.d), 0);
	assert_int_equal(x.ndl, 0);
	assert_true(x.reads > 0); /* it was asked */
	x.slot[B].state = TSK_TS_BLOCKED;
	step(&x, 1);
	assert_int_equal(det_count(x.d), 1);
	const uint64_t want[] = {A, B};
	check_cycle(&x, 0, want, 2);
	h_fini(&x);
}

/* the live slot of m1 names no owner while the events say a holds it (the
 * events lag, or some were lost): the view is not consistent, no verdict
 * of any kind, neither the cycle nor a stall of the same tasks (at once
 * in a dead process; after hold_ns in a live one where root still runs);
 * once it names a, the cycle */
static void test_confirm_owner(void **state)
{
	(void)state;
	det_config cfg;
	det_config_default(&cfg);
	cfg.hold_ns = 10 * MS;
	cfg.sweep_ns = 1 * MS;
	for (int frozen = 1; frozen >= 0; frozen--) {
		h x;
		h_init(&x, frozen, &cfg);
		if (!frozen) {
			spawn(&x, ROOT, 0, S_ROOT, TSK_TF_ROOT);
			run(&x, ROOT);
		}
		abba(&x, NONE);
		x.owner[M1] = 0;
		for (int i = 0; i < 4; i++) {
			step(&x, 0);
			later(&x, cfg.hold_ns);
		}
		step(&x, 1);
		assert_int_equal(det_count(x.d), 0);
		assert_int_equal(x.ndl, 0);
		/* the model learnt the owner the live state names: A's hold of
		 * M1 (a RELEASE that was lost) is over */
		model_res *r = model_res_get(x.m, M1);
		assert_non_null(r);
		assert_int_equal(r->nholds, 0);
		/* A takes M1 again: the event comes, and the live state agrees */
		x.owner[M1] = A;
		acquire(&x, A, M1, 0);
		step(&x, 1);
		assert_int_equal(det_count(x.d), 1);
		const uint64_t want[] = {A, B};
		check_cycle(&x, 0, want, 2);
		h_fini(&x);
	}
}

/* a live process: two reads must agree; a's slot changes between them */
static void test_confirm_seq(void **state)
{
	(void)state;
	det_config cfg;
	det_config_default(&cfg);
	cfg.hold_ns = 1 * MS;
	h x;
	h_init(&x, 0, &cfg);
	abba(&x, NONE);
	x.bump = A;
	step(&x, 0);
	later(&x, 100 * MS);
	step(&x, 0);
	step(&x, 1);
	assert_int_equal(det_count(x.d), 0);
	assert_true(x.reads >= 2);
	/* the control: a stable slot confirms over two reads */
	x.bump = 0;
	uint64_t r0 = x.reads;
	step(&x, 1);
	assert_int_equal(det_count(x.d), 1);
	const uint64_t want[] = {A, B};
	check_cycle(&x, 0, want, 2);
	assert_true(x.reads - r0 >= 4); /* two reads of each member */
	h_fini(&x);
}

/* ---- 6. stalls ------------------------------------------------------------------------ */

/* root waits on a wait group of 2 whose two workers returned without
 * calling done; done: they did (the control) */
static void wg_scenario(h *x, int done)
{
	spawn(x, ROOT, 0, S_ROOT, TSK_TF_ROOT);
	run(x, ROOT);
	res_new(x, WG, TSK_RES_WG, ROOT, S_WG, 0);
	ev(x, TSK_EV_WG_ADD, ROOT, WG, 0, 2, 0);
	spawn(x, A, ROOT, S_A, 0);
	spawn(x, B, ROOT, S_B, 0);
	run(x, A);
	if (done)
		ev(x, TSK_EV_WG_ADD, A, WG, 0, (uint64_t)-1, 0);
	exit_task(x, A);
	run(x, B);
	if (done)
		ev(x, TSK_EV_WG_ADD, B, WG, 0, (uint64_t)-1, 0);
	exit_task(x, B);
	block(x, ROOT, TSK_WAIT_WG, WG, NONE);
}

static void test_wg_stall(void **state)
{
	(void)state;
	h x;
	h_init(&x, 1, NULL);
	wg_scenario(&x, 0);
	step(&x, 0);
	assert_int_equal(det_count(x.d), 1);
	const uint64_t want[] = {ROOT};
	const det_deadlock *dl = check_stall(&x, 0, DET_DEFINITE, want, 1);
	assert_int_equal(dl->tasks[0].wait_kind, TSK_WAIT_WG);
	assert_int_equal(dl->tasks[0].obj, WG);
	assert_non_null(strstr(dl->text, "\"wg\""));
	step(&x, 1);
	assert_int_equal(det_count(x.d), 1);
	h_fini(&x);
	/* counter at zero: the wait ends by itself */
	h_init(&x, 1, NULL);
	wg_scenario(&x, 1);
	step(&x, 0);
	step(&x, 1);
	assert_int_equal(det_count(x.d), 0);
	h_fini(&x);
}

/* a makes c1 and c2, spawns b; a waits on c1, b on c2; the ticker (a
 * child of ticker_parent) runs (or sleeps: ticker_sleeps); root joins
 * the ticker */
static void chan_scenario(h *x, uint64_t ticker_parent, int ticker_sleeps)
{
	spawn(x, ROOT, 0, S_ROOT, TSK_TF_ROOT);
	run(x, ROOT);
	spawn(x, A, ROOT, S_A, 0);
	if (ticker_parent == ROOT)
		spawn(x, TICKER, ROOT, S_TICKER, 0);
	run(x, A);
	res_new(x, CH1, TSK_RES_CHAN, A, S_CH1, 0);
	res_new(x, CH2, TSK_RES_CHAN, A, S_CH2, 0);
	spawn(x, B, A, S_B, 0);
	if (ticker_parent == A)
		spawn(x, TICKER, A, S_TICKER, 0);
	block(x, A, TSK_WAIT_CHAN_RECV, CH1, NONE);
	run(x, B);
	block(x, B, TSK_WAIT_CHAN_RECV, CH2, NONE);
	run(x, TICKER);
	if (ticker_sleeps)
		block(x, TICKER, TSK_WAIT_SLEEP, 0, x->now + 10 * MS);
	block(x, ROOT, TSK_WAIT_JOIN, TICKER, NONE);
}

/* a live process: the likely stall {a, b} is reported only once it held
 * for hold_ns over two fixpoints */
static void test_chan_stall_hold(void **state)
{
	(void)state;
	det_config cfg;
	det_config_default(&cfg);
	cfg.hold_ns = 10 * MS;
	cfg.sweep_ns = 1 * MS;
	h x;
	h_init(&x, 0, &cfg);
	chan_scenario(&x, ROOT, 0);
	int64_t t = x.now;
	step(&x, 0);
	assert_int_equal(det_count(x.d), 0);
	later(&x, cfg.hold_ns / 2);
	step(&x, 0);
	assert_int_equal(det_count(x.d), 0);
	later(&x, cfg.hold_ns / 2);
	step(&x, 0);
	assert_int_equal(det_count(x.d), 1);
	assert_int_equal(x.ndl, 1);
	const uint64_t want[] = {A, B};
	const det_deadlock *dl = check_stall(&x, 0, DET_LIKELY, want, 2);
	assert_int_equal(dl->found_ns, t + cfg.hold_ns);
	assert_int_equal(dl->tasks[0].obj, CH1);
	assert_int_equal(dl->tasks[1].obj, CH2);
	assert_int_equal(dl->tasks[1].by[0], A); /* c2's creator */
	assert_non_null(strstr(dl->text, "stuck or finished"));
	later(&x, 100 * MS);
	step(&x, 0);
	step(&x, 1);
	assert_int_equal(det_count(x.d), 1);
	h_fini(&x);
}

/* the same, but b is woken before hold_ns passed: never reported */
static void test_chan_stall_dissolves(void **state)
{
	(void)state;
	det_config cfg;
	det_config_default(&cfg);
	cfg.hold_ns = 10 * MS;
	cfg.sweep_ns = 1 * MS;
	h x;
	h_init(&x, 0, &cfg);
	chan_scenario(&x, ROOT, 0);
	step(&x, 0);
	later(&x, cfg.hold_ns / 2);
	wake(&x, B, 0);
	run(&x, B);
	step(&x, 0);
	later(&x, cfg.hold_ns);
	step(&x, 0);
	later(&x, cfg.hold_ns);
	step(&x, 0);
	assert_int_equal(det_count(x.d), 0);
	h_fini(&x);
}

/* a dead process: one read confirms, no hold; the ticker a descendant of
 * c1's creator may hold the channels: no verdict */
static void test_chan_stall_frozen(void **state)
{
	(void)state;
	h x;
	h_init(&x, 1, NULL);
	chan_scenario(&x, ROOT, 1);
	step(&x, 0);
	assert_int_equal(det_count(x.d), 1);
	const uint64_t want[] = {A, B};
	check_stall(&x, 0, DET_LIKELY, want, 2);
	h_fini(&x);
	for (int sleeps = 0; sleeps < 2; sleeps++) {
		h_init(&x, 1, NULL);
		chan_scenario(&x, A, sleeps);
		step(&x, 0);
		later(&x, 100 * MS);
		step(&x, 1);
		assert_int_equal(det_count(x.d), 0);
		h_fini(&x);
	}
}

/* request/reply: the server (root's child, not the client's) shares the
 * channel "requests" (CH1) with the client, which waits on a reply
 * channel (CH2) only it created: it may have reached the server in a
 * message, so the running server can wake the client; control: the same
 * without the shared channel is a likely stall */
static void test_reply_channel(void **state)
{
	(void)state;
	for (int shared = 1; shared >= 0; shared--) {
		h x;
		h_init(&x, 1, NULL);
		spawn(&x, ROOT, 0, S_ROOT, TSK_TF_ROOT);
		run(&x, ROOT);
		res_new(&x, CH1, TSK_RES_CHAN, ROOT, S_CH1, 0);
		spawn(&x, B, ROOT, S_B, 0); /* the server */
		spawn(&x, A, ROOT, S_A, 0); /* the client */
		block(&x, ROOT, TSK_WAIT_JOIN, A, NONE);
		run(&x, A);
		res_new(&x, CH2, TSK_RES_CHAN, A, S_CH2, 1);
		if (shared) {
			ev(&x, TSK_EV_SEND, A, CH1, 0, 1, 0);
			run(&x, B);
			ev(&x, TSK_EV_RECV, B, CH1, 0, 0, 0);
		}
		block(&x, A, TSK_WAIT_CHAN_RECV, CH2, NONE);
		run(&x, B); /* the server works */
		step(&x, 1);
		assert_int_equal(det_count(x.d), shared ? 0 : 1);
		h_fini(&x);
	}
}

/* tasks that block later behind a reported stall do not make new
 * verdicts: one report, whatever joins it */
static void test_stall_grows(void **state)
{
	(void)state;
	det_config cfg;
	det_config_default(&cfg);
	cfg.sweep_ns = 1 * MS;
	h x;
	h_init(&x, 1, &cfg);
	spawn(&x, ROOT, 0, S_ROOT, TSK_TF_ROOT);
	run(&x, ROOT);
	res_new(&x, M1, TSK_RES_MUTEX, ROOT, S_M1, 0);
	spawn(&x, TICKER, ROOT, S_TICKER, 0);
	spawn(&x, A, ROOT, S_A, 0);
	block(&x, ROOT, TSK_WAIT_JOIN, TICKER, NONE);
	run(&x, A);
	res_new(&x, CH1, TSK_RES_CHAN, A, S_CH1, 0);
	acquire(&x, A, M1, 0);
	block(&x, A, TSK_WAIT_CHAN_RECV, CH1, NONE); /* nobody will send */
	run(&x, TICKER);
	block(&x, TICKER, TSK_WAIT_SLEEP, 0, x.now + 10 * MS);
	step(&x, 0);
	assert_int_equal(det_count(x.d), 1);
	const uint64_t task_ids[] = {B, C, D, E, F};
	for (size_t i = 0; i < sizeof(task_ids) / sizeof(task_ids[0]); i++) {
		later(&x, 2 * MS);
		spawn(&x, task_ids[i], ROOT, S_B, 0);
		run(&x, task_ids[i]);
		block(&x, task_ids[i], TSK_WAIT_MUTEX, M1, NONE);
		step(&x, 0);
	}
	step(&x, 1);
	assert_int_equal(det_count(x.d), 1);
	assert_int_equal(det_get(x.d, 0)->ntasks, 1);
	h_fini(&x);
}

/* the last task able to wake the waiter returns: the stall is found at
 * the next step, not only at the end */
static void test_stall_by_exit(void **state)
{
	(void)state;
	det_config cfg;
	det_config_default(&cfg);
	cfg.sweep_ns = 1 * MS;
	h x;
	h_init(&x, 1, &cfg);
	spawn(&x, ROOT, 0, S_ROOT, TSK_TF_ROOT);
	run(&x, ROOT);
	res_new(&x, CH1, TSK_RES_CHAN, ROOT, S_CH1, 0);
	spawn(&x, A, ROOT, S_A, 0);
	spawn(&x, B, ROOT, S_B, 0); /* the producer */
	block(&x, ROOT, TSK_WAIT_JOIN, A, NONE);
	run(&x, A);
	block(&x, A, TSK_WAIT_CHAN_RECV, CH1, NONE);
	run(&x, B);
	step(&x, 0);
	assert_int_equal(det_count(x.d), 0);
	later(&x, 100 * MS);
	exit_task(&x, B); /* without sending */
	later(&x, 2 * MS);
	step(&x, 0);
	assert_int_equal(det_count(x.d), 1);
	assert_int_equal(det_get(x.d, 0)->verdict, DET_DEFINITE);
	h_fini(&x);
}

/* ---- 7. transient channel states -------------------------------------------------------- */

/* root makes c1, spawns a, which waits to receive; root joins a.  how: 0
 * nothing else (the control: a stall), 1 root sent one element (c1 holds
 * 4), 2 b waits to send on c1, 3 a waits to send on c1 (holding one of 4)
 * instead, 4 a thread outside the runtime uses c1 */
static void transient_scenario(h *x, int how)
{
	spawn(x, ROOT, 0, S_ROOT, TSK_TF_ROOT);
	run(x, ROOT);
	res_new(x, CH1, TSK_RES_CHAN, ROOT, S_CH1, how == 1 || how == 3 ? 4 : 0);
	spawn(x, A, ROOT, S_A, 0);
	if (how == 2)
		spawn(x, B, ROOT, S_B, 0);
	if (how == 1 || how == 3)
		ev(x, TSK_EV_SEND, ROOT, CH1, 0, 1, 0);
	if (how == 4)
		ev(x, TSK_EV_SEND, 0, CH1, 0, 0, 0); /* handed to a receiver at once */
	run(x, A);
	block(x, A, how == 3 ? TSK_WAIT_CHAN_SEND : TSK_WAIT_CHAN_RECV, CH1, NONE);
	if (how == 2) {
		run(x, B);
		block(x, B, TSK_WAIT_CHAN_SEND, CH1, NONE);
	}
	block(x, ROOT, TSK_WAIT_JOIN, A, NONE);
}

static void test_chan_transient(void **state)
{
	(void)state;
	h x;
	h_init(&x, 1, NULL);
	transient_scenario(&x, 0);
	step(&x, 1);
	assert_int_equal(det_count(x.d), 1);
	const uint64_t want[] = {ROOT, A};
	check_stall(&x, 0, DET_DEFINITE, want, 2);
	h_fini(&x);
	for (int how = 1; how <= 4; how++) {
		h_init(&x, 1, NULL);
		transient_scenario(&x, how);
		step(&x, 0);
		step(&x, 1);
		assert_int_equal(det_count(x.d), 0);
		h_fini(&x);
	}
}

/* ---- 8. waits never judged ---------------------------------------------------------------- */

/* root joins a, a waits (kind, obj, deadline) on what nobody will do */
static void test_not_judged(void **state)
{
	(void)state;
	static const struct {
		uint8_t kind;
		uint64_t obj;
		int timed;
	} waits[] = {
	        {TSK_WAIT_SELECT, CH1, 0},       {TSK_WAIT_SLEEP, 0, 1},
	        {TSK_WAIT_IO, 7 | TSK_IO_RD, 0}, {TSK_WAIT_OFFLOAD, 0x401000, 0},
	        {TSK_WAIT_CHAN_RECV, CH1, 0}, /* the control: judged, a stall */
	};
	for (size_t i = 0; i < sizeof(waits) / sizeof(waits[0]); i++) {
		h x;
		h_init(&x, 1, NULL);
		spawn(&x, ROOT, 0, S_ROOT, TSK_TF_ROOT);
		run(&x, ROOT);
		res_new(&x, CH1, TSK_RES_CHAN, ROOT, S_CH1, 0);
		spawn(&x, A, ROOT, S_A, 0);
		run(&x, A);
		block(&x, A, waits[i].kind, waits[i].obj, waits[i].timed ? x.now + SEC : NONE);
		block(&x, ROOT, TSK_WAIT_JOIN, A, NONE);
		step(&x, 0);
		later(&x, 100 * MS);
		step(&x, 1);
		if (waits[i].kind != TSK_WAIT_CHAN_RECV) {
			assert_int_equal(det_count(x.d), 0);
		} else {
			assert_int_equal(det_count(x.d), 1);
			const uint64_t want[] = {ROOT, A};
			check_stall(&x, 0, DET_DEFINITE, want, 2);
		}
		h_fini(&x);
	}
}

/* ---- 9. lints ------------------------------------------------------------------------------ */

static void test_lint_long_poll(void **state)
{
	(void)state;
	h x;
	h_init(&x, 1, NULL); /* long poll from 10 ms */
	spawn(&x, A, 0, S_A, 0);
	spawn(&x, B, 0, S_B, 0);
	run(&x, A);
	int64_t t0 = x.now;
	later(&x, 30 * MS);
	block(&x, A, TSK_WAIT_SLEEP, 0, x.now + 100 * MS);
	int64_t t1 = x.now;
	run(&x, B);
	later(&x, 5 * MS);
	block(&x, B, TSK_WAIT_SLEEP, 0, x.now + 100 * MS);
	step(&x, 0);
	det_warning w;
	assert_int_equal(warns(&x, DL_LONG_POLL, 0, &w), 1);
	assert_int_equal(w.task, A);
	assert_int_equal(w.value_ns, t1 - t0);
	assert_int_equal(w.first_ns, t0);
	assert_int_equal(w.count, 1);
	assert_non_null(strstr(w.detail, "without suspending"));
	assert_int_equal(warns(&x, DL_LONG_POLL, B, NULL), 0);
	h_fini(&x);
}

static void test_lint_lock_across_suspend(void **state)
{
	(void)state;
	h x;
	h_init(&x, 1, NULL);
	spawn(&x, A, 0, S_A, 0);
	spawn(&x, B, 0, S_B, 0);
	spawn(&x, C, 0, S_C, 0);
	res_new(&x, M1, TSK_RES_MUTEX, 0, S_M1, 0);
	res_new(&x, M2, TSK_RES_MUTEX, 0, S_M2, 0);
	res_new(&x, M3, TSK_RES_MUTEX, 0, S_M3, 0);
	res_new(&x, CH1, TSK_RES_CHAN, 0, S_CH1, 0);
	/* a holds m1 across a channel receive */
	run(&x, A);
	acquire(&x, A, M1, 0);
	block(&x, A, TSK_WAIT_CHAN_RECV, CH1, NONE);
	/* b unlocks m2 before it waits */
	run(&x, B);
	acquire(&x, B, M2, 0);
	release(&x, B, M2, 0);
	block(&x, B, TSK_WAIT_CHAN_RECV, CH1, NONE);
	/* c holds m3 and waits for m1: nested locks, not a suspension */
	run(&x, C);
	acquire(&x, C, M3, 0);
	block(&x, C, TSK_WAIT_MUTEX, M1, NONE);
	step(&x, 0);
	det_warning w;
	assert_int_equal(warns(&x, DL_LOCK_ACROSS_SUSPEND, 0, &w), 1);
	assert_int_equal(w.task, A);
	assert_int_equal(w.res, M1);
	assert_non_null(strstr(w.detail, "mutex \"m1\""));
	assert_non_null(strstr(w.detail, "channel \"c1\""));
	h_fini(&x);
}

static void test_lint_lost_wakeup(void **state)
{
	(void)state;
	h x;
	h_init(&x, 1, NULL); /* lost from 1 s */
	spawn(&x, ROOT, 0, S_ROOT, TSK_TF_ROOT);
	spawn(&x, A, ROOT, S_A, 0);
	spawn(&x, B, ROOT, S_B, 0);
	spawn(&x, C, ROOT, S_C, 0);
	res_new(&x, CV, TSK_RES_COND, ROOT, S_CV, 0);
	res_new(&x, CV2, TSK_RES_COND, ROOT, 0, 0);
	run(&x, ROOT);
	ev(&x, TSK_EV_SIGNAL, ROOT, CV, 0, 0, 0);  /* woke nobody */
	ev(&x, TSK_EV_SIGNAL, ROOT, CV2, 0, 1, 0); /* woke one */
	block(&x, ROOT, TSK_WAIT_SLEEP, 0, x.now + 10 * SEC);
	run(&x, A);
	block(&x, A, TSK_WAIT_COND, CV, NONE); /* after the lost signal, for ever */
	int64_t ta = x.now;
	run(&x, B);
	block(&x, B, TSK_WAIT_COND, CV2, NONE); /* its signal woke someone */
	later(&x, 1500 * MS);
	run(&x, C);
	block(&x, C, TSK_WAIT_COND, CV, NONE); /* not long enough yet */
	later(&x, 500 * MS);
	step(&x, 0);
	det_warning w;
	assert_int_equal(warns(&x, DL_LOST_WAKEUP, 0, &w), 1);
	assert_int_equal(w.task, A);
	assert_int_equal(w.res, CV);
	assert_int_equal(w.value_ns, x.now - ta);
	assert_non_null(strstr(w.detail, "condvar \"cv\""));
	h_fini(&x);
}

static void test_lint_task_leak(void **state)
{
	(void)state;
	h x;
	h_init(&x, 1, NULL); /* leak from 1 s */
	spawn(&x, ROOT, 0, S_ROOT, TSK_TF_ROOT);
	run(&x, ROOT);
	spawn(&x, A, ROOT, S_A, 0);               /* joinable: leaks */
	spawn(&x, B, ROOT, S_B, TSK_TF_DETACHED); /* detached: fine */
	spawn(&x, C, 0, S_C, 0);
	spawn(&x, D, C, 0, 0); /* its parent lives */
	exit_task(&x, ROOT);
	int64_t te = x.now;
	spawn(&x, E, 0, 0, 0);
	spawn(&x, F, E, 0, 0);
	later(&x, 1500 * MS);
	exit_task(&x, E); /* f's parent ended 0.5 s before the step */
	later(&x, 500 * MS);
	step(&x, 0);
	det_warning w;
	assert_int_equal(warns(&x, DL_TASK_LEAK, 0, &w), 1);
	assert_int_equal(w.task, A);
	assert_int_equal(w.value_ns, x.now - te);
	assert_int_equal(w.first_ns, te);
	assert_non_null(strstr(w.detail, "\"root\""));
	h_fini(&x);
}

/* ---- 10. thresholds ---------------------------------------------------------------------- */

static void test_config_set(void **state)
{
	(void)state;
	det_config c, before;
	char err[200];
	det_config_default(&c);
	assert_int_equal(c.long_poll_ns, 10 * MS);
	assert_int_equal(c.hold_ns, 50 * MS);
	assert_int_equal(det_config_set(&c, "long-poll=20ms", err, sizeof(err)), 0);
	assert_int_equal(c.long_poll_ns, 20 * MS);
	assert_int_equal(det_config_set(&c, "stuck=10s", err, sizeof(err)), 0);
	assert_int_equal(c.stuck_ns, 10 * SEC);
	assert_int_equal(det_config_set(&c, "lost=1.5s", err, sizeof(err)), 0);
	assert_int_equal(c.lost_ns, 1500 * MS);
	assert_int_equal(det_config_set(&c, "leak=5s", err, sizeof(err)), 0);
	assert_int_equal(c.leak_ns, 5 * SEC);
	assert_int_equal(det_config_set(&c, "hold=100ms", err, sizeof(err)), 0);
	assert_int_equal(c.hold_ns, 100 * MS);
	assert_int_equal(det_config_set(&c, "storm=500", err, sizeof(err)), 0);
	assert_int_equal(c.storm_wakes, 500);
	static const struct {
		const char *spec, *says;
	} bad[] = {
	        {"bogus=1s", "unknown threshold 'bogus'"},
	        {"long-poll=abc", "bad duration 'abc' for long-poll"},
	        {"stuck=10 parsecs", "bad duration"},
	        {"hold=0", "bad duration '0' for hold"},
	        {"leak=-1s", "bad duration"},
	        {"storm=0", "bad count '0' for storm"},
	        {"storm=-3", "bad count"},
	        {"storm=12x", "bad count"},
	        {"storm=", "expected NAME=VALUE"},
	        {"=5s", "expected NAME=VALUE"},
	        {"lost", "expected NAME=VALUE"},
	        {"long-pol=1s", "unknown threshold"},
	        {"long-poll-x=1s", "unknown threshold"},
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		before = c;
		err[0] = 0;
		assert_int_equal(det_config_set(&c, bad[i].spec, err, sizeof(err)), -1);
		assert_memory_equal(&c, &before, sizeof(c));
		if (!strstr(err, bad[i].says))
			fail_msg("%s: '%s' does not say '%s'", bad[i].spec, err, bad[i].says);
	}
	assert_string_equal(det_verdict_name(DET_LIKELY), "likely");
	assert_string_equal(det_kind_name(DET_STALL), "stall");
	assert_string_equal(det_lint_name(DL_LOST_WAKEUP), "lost_wakeup");
	assert_string_equal(det_lint_name(DL_COUNT), "?");
}

/* ---- 11. scale ------------------------------------------------------------------------------ */

#define CHAINS 20
#define CHAIN  1000

static uint64_t chain_task(int j, int i)
{
	return 1 + (uint64_t)j * CHAIN + (uint64_t)i;
}

static uint64_t chain_mutex(int j, int i)
{
	return 30000 + (uint64_t)j * CHAIN + (uint64_t)i;
}

static double secs_since(const struct timespec *t0)
{
	struct timespec t1;
	clock_gettime(CLOCK_MONOTONIC, &t1);
	return (double)(t1.tv_sec - t0->tv_sec) + (double)(t1.tv_nsec - t0->tv_nsec) / 1e9;
}

/* 20 chains of 1,000 tasks, task k holds mutex k and waits for mutex
 * k+1, the last one runs: no verdict.  Then one chain's last task waits
 * for the chain's first mutex: one cycle of 1,000. */
static void test_scale(void **state)
{
	(void)state;
	h x;
	h_init(&x, 1, NULL);
	for (int j = 0; j < CHAINS; j++) {
		for (int i = 0; i < CHAIN; i++) {
			spawn(&x, chain_task(j, i), 0, 0, 0);
			res_new(&x, chain_mutex(j, i), TSK_RES_MUTEX, 0, 0, 0);
		}
		for (int i = 0; i < CHAIN; i++) {
			run(&x, chain_task(j, i));
			acquire(&x, chain_task(j, i), chain_mutex(j, i), 0);
		}
		for (int i = 0; i + 1 < CHAIN; i++)
			block(&x, chain_task(j, i), TSK_WAIT_MUTEX, chain_mutex(j, i + 1), NONE);
	}
	struct timespec t0;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	step(&x, 0);
	double open_s = secs_since(&t0);
	assert_int_equal(det_count(x.d), 0);
	later(&x, 100 * MS);
	block(&x, chain_task(7, CHAIN - 1), TSK_WAIT_MUTEX, chain_mutex(7, 0), NONE);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	step(&x, 0);
	double close_s = secs_since(&t0);
	assert_int_equal(det_count(x.d), 1);
	uint64_t *want = malloc(CHAIN * sizeof(*want));
	assert_non_null(want);
	for (int i = 0; i < CHAIN; i++)
		want[i] = chain_task(7, i);
	const det_deadlock *dl = check_cycle(&x, 0, want, CHAIN);
	assert_int_equal(dl->tasks[0].task, chain_task(7, CHAIN - 1));
	for (int i = 1; i < CHAIN; i++)
		assert_int_equal(dl->tasks[i].task, chain_task(7, i - 1));
	free(want);
	later(&x, 100 * MS);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	step(&x, 1);
	double final_s = secs_since(&t0);
	assert_int_equal(det_count(x.d), 1);
	assert_int_equal(x.ndl, 1);
	print_message("scale: %d tasks: step %.3f s, closing step %.3f s, final step %.3f s\n",
	              CHAINS * CHAIN, open_s, close_s, final_s);
	h_fini(&x);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_abba),
	        cmocka_unit_test(test_self_relock),
	        cmocka_unit_test(test_handoff),
	        cmocka_unit_test(test_three_locks),
	        cmocka_unit_test(test_join_cycle),
	        cmocka_unit_test(test_rwlock),
	        cmocka_unit_test(test_rwlock_readers),
	        cmocka_unit_test(test_timed_abba),
	        cmocka_unit_test(test_trylock),
	        cmocka_unit_test(test_confirm_running),
	        cmocka_unit_test(test_confirm_owner),
	        cmocka_unit_test(test_confirm_seq),
	        cmocka_unit_test(test_wg_stall),
	        cmocka_unit_test(test_chan_stall_hold),
	        cmocka_unit_test(test_chan_stall_dissolves),
	        cmocka_unit_test(test_chan_stall_frozen),
	        cmocka_unit_test(test_chan_transient),
	        cmocka_unit_test(test_not_judged),
	        cmocka_unit_test(test_lint_long_poll),
	        cmocka_unit_test(test_lint_lock_across_suspend),
	        cmocka_unit_test(test_lint_lost_wakeup),
	        cmocka_unit_test(test_lint_task_leak),
	        cmocka_unit_test(test_reply_channel),
	        cmocka_unit_test(test_stall_grows),
	        cmocka_unit_test(test_stall_by_exit),
	        cmocka_unit_test(test_config_set),
	        cmocka_unit_test(test_scale),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
