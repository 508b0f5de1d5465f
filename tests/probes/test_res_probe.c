/*
 * test_res_probe.c - what the flight recorder shows of the runtime's
 * synchronisation objects: rwlock.c, sem.c, wg.c, cond.c and chan.c
 * writing through res.c, read back with the reader library (tsk_reader.h)
 * from inside the same process.
 *
 * Each test runs a small real program under tsk_run (which creates the
 * process's segment).  The root makes a child task block on the object
 * deterministically (it holds what the child needs first), then polls the
 * segment's snapshot from inside a task until the child's slot shows it
 * blocked, and checks
 *   - the child's task slot: BLOCKED, the right wait kind, wait_obj equal
 *     to the resource slot's id, a wait site in this file;
 *   - the resource slot: kind, name and creation site as given at create,
 *     owner (rwlock writer), readers, waiters, value (sem units, wg
 *     counter, channel length), capacity, flags;
 *   - after destroy: the slot is free (id 0).
 * Once tsk_run has returned, the test reads every ring and counts the
 * resource's events, each with the task that must have emitted it:
 * RES_NEW, ACQUIRE / RELEASE (a lock or unit handed to a waiter is
 * recorded by the waiter), SEND / RECV (a channel operation completed for
 * a blocked task is recorded by the peer only), WG_ADD, SIGNAL, CLOSE, the
 * children's BLOCK on the resource, and RES_FREE; nothing else may name
 * the resource, RES_NEW comes first and RES_FREE last.  The children's
 * WAKEs must name the task that woke them.  A blocked tsk_select (select.c)
 * names its first case's channel (the lowest-indexed case that has one),
 * in its slot and in its BLOCK record, whatever order it polled them in.
 *
 * Checks inside tasks use TSK_EXPECT (cmocka's assert_* must not longjmp
 * across task stacks).  Every test ends by checking that no object is left
 * alive and that the reader left no descriptor or mapping of the segment.
 * With the probes compiled out (PROBES=0) there is nothing to observe and
 * the binary passes without running the tests.
 *
 * Longer than most files: one scenario per kind of object, all sharing the
 * snapshot and ring helpers above them, which is the point of keeping them
 * in one binary next to res.c's single writer side.
 */
#include <dirent.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "chan_int.h"
#include "runtime/sync_test.h"
#include "tsk_reader.h"
#include "tsk_test.h"

#define RP_WORKERS    2
#define RP_EVENTS_MAX 256  /* events kept about one resource */
#define RP_READ_BATCH 1024 /* records per tsk_reader_ring_read */
#define RP_HERE       "test_res_probe.c:"

/* One test's program and what it learnt, shared by the root, its children
 * and the test function. */
typedef struct rp_ctx {
	tsk_reader *r;      /* opened by the root, closed by the teardown */
	uint64_t root;      /* root task id */
	uint64_t child[2];  /* children's task ids */
	uint64_t res;       /* the resource's id, from its slot */
	uint32_t res_index; /* its slot index */
	tsk_rwlock *l;      /* the object under test (one of these) */
	tsk_sem *s;
	tsk_wg *g;
	tsk_cond *c;
	tsk_mutex *m; /* cond's mutex */
	tsk_chan *ch;
	atomic_int held[2]; /* child i holds the object */
	atomic_int go[2];   /* child i may release it */
	atomic_int wake;    /* cond predicate */
} rp_ctx;

/* A child task's argument: the test and which child it is. */
typedef struct rp_arg {
	rp_ctx *x;
	int i;
} rp_arg;

/* What a resource slot must show; `owner` is a task id (0 none). */
typedef struct rp_want {
	int kind;
	const char *name;
	uint64_t owner;
	uint32_t nreaders;
	uint32_t waiters;
	uint64_t value;
	uint64_t capacity;
	uint32_t flags;
} rp_want;

static tsk_reader *rp_reader; /* the test's reader, closed by the teardown */

/* ---- snapshot helpers (inside tasks) ------------------------------------------- */

/* Whether string id names a site in this file. */
static bool rp_site_here(tsk_reader *r, uint32_t id)
{
	char buf[512];

	return id != 0 && tsk_reader_string(r, id, buf, sizeof(buf)) > 0 &&
	       strstr(buf, RP_HERE) != NULL;
}

/* The slot of live task id in s, or NULL. */
static const tsk_seg_task *rp_task(const tsk_rd_snap *s, uint64_t id)
{
	for (size_t i = 0; i < s->ntasks; i++)
		if (s->tasks[i].slot.id == id)
			return &s->tasks[i].slot;
	return NULL;
}

/* The live resource named name in s, or NULL. */
static const tsk_rd_res *rp_res_named(const tsk_rd_snap *s, const char *name)
{
	for (size_t i = 0; i < s->nres; i++)
		if (s->res[i].slot.id != 0 && strcmp(s->res[i].slot.name, name) == 0)
			return &s->res[i];
	return NULL;
}

/* Takes a snapshot into *snap (the caller frees it). */
static void rp_snap(rp_ctx *x, tsk_rd_snap *snap)
{
	memset(snap, 0, sizeof(*snap));
	TSK_EXPECT_EQ(tsk_reader_snap_take(x->r, snap), 0);
}

/* Takes snapshots into *snap (the caller frees it) until task id shows
 * BLOCKED with wait kind `kind`, for up to 10 s.  Returns whether it did;
 * a failure is counted. */
static bool rp_await_blocked(rp_ctx *x, tsk_rd_snap *snap, uint64_t id, int kind)
{
	int64_t end = tsk_after_ms(10000);
	const tsk_seg_task *t;

	for (;;) {
		rp_snap(x, snap);
		t = rp_task(snap, id);
		if (t != NULL && t->state == TSK_TS_BLOCKED && t->wait_kind == kind)
			return true;
		if (tsk_now() > end)
			break;
		tsk_reader_snap_free(snap);
		tsk_sleep(tsk_after_ms(1));
	}
	fprintf(stderr, "task %llu never blocked with wait kind %d\n", (unsigned long long)id,
	        kind);
	TSK_EXPECT(!"task blocked");
	return false;
}

/* Checks that task id of snap waits with `kind` on the resource under test,
 * at a call site in this file. */
static void rp_expect_waiting(rp_ctx *x, const tsk_rd_snap *snap, uint64_t id, int kind)
{
	const tsk_seg_task *t = rp_task(snap, id);

	TSK_EXPECT(t != NULL);
	if (t == NULL)
		return;
	TSK_EXPECT_EQ(t->state, TSK_TS_BLOCKED);
	TSK_EXPECT_EQ(t->wait_kind, kind);
	TSK_EXPECT(x->res != 0);
	TSK_EXPECT_EQ(t->wait_obj, x->res);
	TSK_EXPECT(rp_site_here(x->r, t->wait_site));
}

/* Checks the resource slot of snap named w->name against w.  The first call
 * of a test learns the resource's id and slot index; later ones check the
 * slot still has them. */
static void rp_expect_res(rp_ctx *x, const tsk_rd_snap *snap, const rp_want *w)
{
	const tsk_rd_res *rr = rp_res_named(snap, w->name);
	const tsk_seg_res *s;

	TSK_EXPECT(rr != NULL);
	if (rr == NULL)
		return;
	s = &rr->slot;
	if (x->res == 0) {
		x->res = s->id;
		x->res_index = rr->index;
	}
	TSK_EXPECT_EQ(s->id, x->res);
	TSK_EXPECT_EQ(rr->index, x->res_index);
	TSK_EXPECT_EQ(rr->torn, 0);
	TSK_EXPECT_EQ(s->kind, w->kind);
	TSK_EXPECT(rp_site_here(x->r, s->site));
	TSK_EXPECT_EQ(s->owner, w->owner);
	TSK_EXPECT_EQ(s->nreaders, w->nreaders);
	TSK_EXPECT_EQ(s->waiters, w->waiters);
	TSK_EXPECT_EQ(s->value, w->value);
	TSK_EXPECT_EQ(s->capacity, w->capacity);
	TSK_EXPECT_EQ(s->flags, w->flags);
}

/* Snapshots and checks the resource slot against w. */
static void rp_check_res(rp_ctx *x, const rp_want *w)
{
	tsk_rd_snap snap;

	rp_snap(x, &snap);
	rp_expect_res(x, &snap, w);
	tsk_reader_snap_free(&snap);
}

/* Checks that the resource's slot was freed by its destroy. */
static void rp_expect_freed(rp_ctx *x)
{
	tsk_rd_res out;

	TSK_EXPECT_EQ(tsk_reader_snap_res(x->r, x->res_index, &out), 0);
	TSK_EXPECT_EQ(out.slot.id, 0);
	TSK_EXPECT_EQ(out.slot.kind, TSK_RES_NONE);
}

/* Opens this process's segment (tsk_run created it) and learns the root's
 * id; the first thing every root does. */
static void rp_open(rp_ctx *x)
{
	TSK_EXPECT_EQ(tsk_reader_open_pid(getpid(), 0, &x->r), 0);
	rp_reader = x->r;
	x->root = tsk_id(tsk_self());
}

/* ---- events (outside tasks) ---------------------------------------------------- */

/* The events of one resource, in time order, and the WAKEs of the test's
 * children (which name their waker). */
typedef struct rp_events {
	tsk_seg_event ev[RP_EVENTS_MAX];
	size_t n;
	tsk_seg_event wake[RP_EVENTS_MAX];
	size_t nwake;
} rp_events;

/* Whether ev is about resource res: a resource event on it, or a BLOCK on
 * it (other types, and BLOCKs of joins, sleeps and I/O, use obj for tasks,
 * workers or descriptors, whose numbers overlap resource ids). */
static bool rp_is_about(const tsk_seg_event *ev, uint64_t res)
{
	bool typed = (ev->type >= TSK_EV_RES_NEW && ev->type <= TSK_EV_WG_ADD) ||
	             (ev->type == TSK_EV_BLOCK && ev->a32 >= TSK_WAIT_CHAN_SEND &&
	              ev->a32 <= TSK_WAIT_COND);

	return typed && ev->obj == res;
}

/* Whether ev is a WAKE of one of x's children. */
static bool rp_is_child_wake(const tsk_seg_event *ev, const rp_ctx *x)
{
	return ev->type == TSK_EV_WAKE && ev->task != 0 &&
	       (ev->task == x->child[0] || ev->task == x->child[1]);
}

/* Reads every ring from the start and keeps the events about x's resource
 * in *out, sorted by tsc (stable: a ring's own order is kept on ties), and
 * the WAKEs of x's children. */
static void rp_read_events(const rp_ctx *x, rp_events *out)
{
	tsk_rd_rec *recs = malloc(RP_READ_BATCH * sizeof(*recs));
	uint32_t nrings = tsk_reader_ring_count(x->r);
	const tsk_seg_event *ev;
	ssize_t got;

	assert_non_null(recs);
	assert_true(nrings > 0);
	out->n = out->nwake = 0;
	for (uint32_t ring = 0; ring < nrings; ring++) {
		while ((got = tsk_reader_ring_read(x->r, ring, recs, RP_READ_BATCH)) > 0) {
			for (ssize_t i = 0; i < got; i++) {
				ev = &recs[i].ev;
				if (rp_is_about(ev, x->res)) {
					assert_true(out->n < RP_EVENTS_MAX);
					out->ev[out->n++] = *ev;
				} else if (rp_is_child_wake(ev, x)) {
					assert_true(out->nwake < RP_EVENTS_MAX);
					out->wake[out->nwake++] = *ev;
				}
			}
		}
		assert_int_equal(got, 0);
	}
	free(recs);
	for (size_t i = 1; i < out->n; i++) {
		tsk_seg_event e = out->ev[i];
		size_t j = i;

		for (; j > 0 && out->ev[j - 1].tsc > e.tsc; j--)
			out->ev[j] = out->ev[j - 1];
		out->ev[j] = e;
	}
}

/* Prints e (for a failing test's log). */
static void rp_dump(const rp_events *e)
{
	for (size_t i = 0; i < e->n; i++)
		fprintf(stderr, "  ev type %u task %llu obj %llu arg %llu a32 %u\n", e->ev[i].type,
		        (unsigned long long)e->ev[i].task, (unsigned long long)e->ev[i].obj,
		        (unsigned long long)e->ev[i].arg, e->ev[i].a32);
}

/* Asserts that e holds `total` events: those counted, nothing else. */
static void rp_expect_total(const rp_events *e, size_t total)
{
	if (e->n != total)
		rp_dump(e);
	assert_int_equal(e->n, total);
}

/* Asserts that exactly `want` events of e have type, task, a32 and arg, and
 * adds them to *total (which the test finally compares with e->n: no other
 * event may name the resource). */
static void rp_count(const rp_events *e, size_t *total, int type, uint64_t task, uint32_t a32,
                     uint64_t arg, int want)
{
	int n = 0;

	for (size_t i = 0; i < e->n; i++)
		n += e->ev[i].type == type && e->ev[i].task == task && e->ev[i].a32 == a32 &&
		     e->ev[i].arg == arg;
	if (n != want) {
		rp_dump(e);
		fprintf(stderr, "events of type %d by task %llu, a32 %u, arg %llu: %d, want %d\n",
		        type, (unsigned long long)task, a32, (unsigned long long)arg, n, want);
	}
	assert_int_equal(n, want);
	*total += (size_t)want;
}

/* How many times task was woken (not timed out or cancelled) by waker. */
static int rp_wakes(const rp_events *e, uint64_t task, uint64_t waker)
{
	int n = 0;

	for (size_t i = 0; i < e->nwake; i++)
		n += e->wake[i].task == task && e->wake[i].obj == waker && e->wake[i].a32 == 0;
	return n;
}

/* Checks the events every resource has: one RES_NEW by the root first (its
 * kind, name, creation site in this file, capacity) and one RES_FREE by the
 * root last. */
static void rp_check_lifecycle(const rp_ctx *x, const rp_events *e, int kind, const char *name,
                               uint64_t capacity)
{
	const tsk_seg_event *first, *last;
	char buf[512];

	if (e->n < 2 || e->ev[0].type != TSK_EV_RES_NEW || e->ev[e->n - 1].type != TSK_EV_RES_FREE)
		rp_dump(e);
	assert_true(e->n >= 2);
	first = &e->ev[0];
	last = &e->ev[e->n - 1];
	assert_int_equal(first->type, TSK_EV_RES_NEW);
	assert_int_equal(first->task, x->root);
	assert_int_equal(first->a32, kind);
	assert_int_equal(first->arg, capacity);
	assert_true(tsk_reader_string(x->r, first->str, buf, sizeof(buf)) >= 0);
	assert_string_equal(buf, name);
	assert_true(tsk_reader_string(x->r, first->site, buf, sizeof(buf)) > 0);
	assert_non_null(strstr(buf, RP_HERE));
	assert_int_equal(last->type, TSK_EV_RES_FREE);
	assert_int_equal(last->task, x->root);
	for (size_t i = 1; i + 1 < e->n; i++)
		assert_true(e->ev[i].type != TSK_EV_RES_NEW && e->ev[i].type != TSK_EV_RES_FREE);
}

/* ---- rwlock --------------------------------------------------------------------- */

/* Child i: takes the write lock (i 0) or a read lock (i 1), says so, holds
 * it until told, unlocks. */
static void *rw_child(void *arg)
{
	rp_arg *a = arg;
	rp_ctx *x = a->x;
	int i = a->i;
	int rc = i == 0 ? tsk_rwlock_wrlock(x->l, TSK_FOREVER)
	                : tsk_rwlock_rdlock(x->l, TSK_FOREVER);

	TSK_EXPECT_EQ(rc, 0);
	atomic_store(&x->held[i], 1);
	ST_WAIT_UNTIL(atomic_load(&x->go[i]));
	TSK_EXPECT_EQ(tsk_rwlock_unlock(x->l), 0);
	return NULL;
}

static void *rw_root(void *arg)
{
	rp_ctx *x = arg;
	rp_want w = {.kind = TSK_RES_RWLOCK, .name = "rp.rw"};
	rp_arg a[2] = {{x, 0}, {x, 1}};
	tsk_rd_snap snap;
	tsk_task *t[2];

	rp_open(x);
	TSK_EXPECT_EQ(tsk_rwlock_create(&x->l, "rp.rw"), 0);
	rp_check_res(x, &w);
	TSK_EXPECT_EQ(tsk_rwlock_wrlock(x->l, TSK_FOREVER), 0);
	w.owner = x->root;
	rp_check_res(x, &w);

	/* A writer, then a reader, queue behind the root's write lock. */
	t[0] = st_spawn("rp.writer", rw_child, &a[0]);
	x->child[0] = tsk_id(t[0]);
	if (rp_await_blocked(x, &snap, x->child[0], TSK_WAIT_RWLOCK_WR)) {
		rp_expect_waiting(x, &snap, x->child[0], TSK_WAIT_RWLOCK_WR);
		w.waiters = 1;
		rp_expect_res(x, &snap, &w);
	}
	tsk_reader_snap_free(&snap);
	t[1] = st_spawn("rp.reader", rw_child, &a[1]);
	x->child[1] = tsk_id(t[1]);
	if (rp_await_blocked(x, &snap, x->child[1], TSK_WAIT_RWLOCK_RD)) {
		rp_expect_waiting(x, &snap, x->child[0], TSK_WAIT_RWLOCK_WR);
		rp_expect_waiting(x, &snap, x->child[1], TSK_WAIT_RWLOCK_RD);
		w.waiters = 2;
		rp_expect_res(x, &snap, &w);
	}
	tsk_reader_snap_free(&snap);

	/* The writer's unlock admits the reader; the writer still waits. */
	TSK_EXPECT_EQ(tsk_rwlock_unlock(x->l), 0);
	ST_WAIT_UNTIL(atomic_load(&x->held[1]));
	rp_snap(x, &snap);
	rp_expect_waiting(x, &snap, x->child[0], TSK_WAIT_RWLOCK_WR);
	w = (rp_want){.kind = TSK_RES_RWLOCK, .name = "rp.rw", .nreaders = 1, .waiters = 1};
	rp_expect_res(x, &snap, &w);
	tsk_reader_snap_free(&snap);

	/* The last reader's unlock hands the lock to the writer. */
	atomic_store(&x->go[1], 1);
	ST_WAIT_UNTIL(atomic_load(&x->held[0]));
	w = (rp_want){.kind = TSK_RES_RWLOCK, .name = "rp.rw", .owner = x->child[0]};
	rp_check_res(x, &w);
	atomic_store(&x->go[0], 1);
	st_join(t[0]);
	st_join(t[1]);
	w.owner = 0;
	rp_check_res(x, &w);

	/* The try variants record their acquisitions too. */
	TSK_EXPECT_EQ(tsk_rwlock_trywrlock(x->l), 0);
	TSK_EXPECT_EQ(tsk_rwlock_unlock(x->l), 0);
	TSK_EXPECT_EQ(tsk_rwlock_tryrdlock(x->l), 0);
	w.nreaders = 1;
	rp_check_res(x, &w);
	TSK_EXPECT_EQ(tsk_rwlock_unlock(x->l), 0);
	TSK_EXPECT_EQ(tsk_rwlock_destroy(x->l), 0);
	rp_expect_freed(x);
	return NULL;
}

static void test_rwlock(void **state)
{
	rp_ctx x = {0};
	rp_events *e = calloc(1, sizeof(*e));
	size_t total = 2; /* RES_NEW, RES_FREE */
	uint64_t wr, rd;

	(void)state;
	assert_non_null(e);
	TSK_RUN(rw_root, &x, RP_WORKERS);
	assert_non_null(x.r);
	wr = x.child[0];
	rd = x.child[1];
	rp_read_events(&x, e);
	rp_check_lifecycle(&x, e, TSK_RES_RWLOCK, "rp.rw", 0);
	/* a32: 0 write, 1 read; every hand-off is recorded by its taker */
	rp_count(e, &total, TSK_EV_ACQUIRE, x.root, 0, 0, 2); /* wrlock, trywrlock */
	rp_count(e, &total, TSK_EV_RELEASE, x.root, 0, 0, 2);
	rp_count(e, &total, TSK_EV_ACQUIRE, x.root, 1, 0, 1); /* tryrdlock */
	rp_count(e, &total, TSK_EV_RELEASE, x.root, 1, 0, 1);
	rp_count(e, &total, TSK_EV_ACQUIRE, rd, 1, 0, 1);
	rp_count(e, &total, TSK_EV_RELEASE, rd, 1, 0, 1);
	rp_count(e, &total, TSK_EV_ACQUIRE, wr, 0, 0, 1);
	rp_count(e, &total, TSK_EV_RELEASE, wr, 0, 0, 1);
	rp_count(e, &total, TSK_EV_BLOCK, wr, TSK_WAIT_RWLOCK_WR, UINT64_MAX, 1);
	rp_count(e, &total, TSK_EV_BLOCK, rd, TSK_WAIT_RWLOCK_RD, UINT64_MAX, 1);
	rp_expect_total(e, total);
	/* the root's unlock admitted the reader, whose unlock handed over */
	assert_int_equal(rp_wakes(e, rd, x.root), 1);
	assert_int_equal(rp_wakes(e, wr, rd), 1);
	free(e);
}

/* ---- semaphore ------------------------------------------------------------------- */

/* Child 0: takes a unit (queueing), says so, holds it until told, returns it. */
static void *sem_child(void *arg)
{
	rp_ctx *x = arg;

	TSK_EXPECT_EQ(tsk_sem_acquire(x->s, TSK_FOREVER), 0);
	atomic_store(&x->held[0], 1);
	ST_WAIT_UNTIL(atomic_load(&x->go[0]));
	TSK_EXPECT_EQ(tsk_sem_release(x->s), 0);
	return NULL;
}

static void *sem_root(void *arg)
{
	rp_ctx *x = arg;
	rp_want w = {.kind = TSK_RES_SEM, .name = "rp.sem", .value = 2, .capacity = 2};
	tsk_rd_snap snap;
	tsk_task *t;

	rp_open(x);
	TSK_EXPECT_EQ(tsk_sem_create(&x->s, "rp.sem", 2), 0);
	rp_check_res(x, &w);
	TSK_EXPECT_EQ(tsk_sem_acquire(x->s, TSK_FOREVER), 0);
	TSK_EXPECT_EQ(tsk_sem_acquire(x->s, TSK_FOREVER), 0);
	TSK_EXPECT_EQ(tsk_sem_try_acquire(x->s), -EBUSY);
	w.value = 0;
	rp_check_res(x, &w);

	t = st_spawn("rp.taker", sem_child, x);
	x->child[0] = tsk_id(t);
	if (rp_await_blocked(x, &snap, x->child[0], TSK_WAIT_SEM)) {
		rp_expect_waiting(x, &snap, x->child[0], TSK_WAIT_SEM);
		w.waiters = 1;
		rp_expect_res(x, &snap, &w);
	}
	tsk_reader_snap_free(&snap);

	/* The release hands its unit to the child. */
	TSK_EXPECT_EQ(tsk_sem_release(x->s), 0);
	ST_WAIT_UNTIL(atomic_load(&x->held[0]));
	w.waiters = 0;
	rp_check_res(x, &w);
	atomic_store(&x->go[0], 1);
	st_join(t);
	w.value = 1;
	rp_check_res(x, &w);
	TSK_EXPECT_EQ(tsk_sem_release(x->s), 0);
	TSK_EXPECT_EQ(tsk_sem_try_acquire(x->s), 0);
	w.value = 1;
	rp_check_res(x, &w);
	TSK_EXPECT_EQ(tsk_sem_release(x->s), 0);
	w.value = 2;
	rp_check_res(x, &w);
	TSK_EXPECT_EQ(tsk_sem_destroy(x->s), 0);
	rp_expect_freed(x);
	return NULL;
}

static void test_sem(void **state)
{
	rp_ctx x = {0};
	rp_events *e = calloc(1, sizeof(*e));
	size_t total = 2; /* RES_NEW, RES_FREE */
	uint64_t c;

	(void)state;
	assert_non_null(e);
	TSK_RUN(sem_root, &x, RP_WORKERS);
	assert_non_null(x.r);
	c = x.child[0];
	rp_read_events(&x, e);
	rp_check_lifecycle(&x, e, TSK_RES_SEM, "rp.sem", 2);
	/* a32 1 (one shared unit), arg: free units after */
	rp_count(e, &total, TSK_EV_ACQUIRE, x.root, 1, 1, 2); /* acquire, try */
	rp_count(e, &total, TSK_EV_ACQUIRE, x.root, 1, 0, 1);
	rp_count(e, &total, TSK_EV_RELEASE, x.root, 1, 0, 1); /* the hand-off */
	rp_count(e, &total, TSK_EV_RELEASE, x.root, 1, 2, 2);
	rp_count(e, &total, TSK_EV_ACQUIRE, c, 1, 0, 1); /* handed to it */
	rp_count(e, &total, TSK_EV_RELEASE, c, 1, 1, 1);
	rp_count(e, &total, TSK_EV_BLOCK, c, TSK_WAIT_SEM, UINT64_MAX, 1);
	rp_expect_total(e, total);
	assert_int_equal(rp_wakes(e, c, x.root), 1);
	free(e);
}

/* ---- wait group ------------------------------------------------------------------ */

static void *wg_child(void *arg)
{
	rp_ctx *x = arg;

	TSK_EXPECT_EQ(tsk_wg_wait(x->g, TSK_FOREVER), 0);
	return NULL;
}

static void *wg_root(void *arg)
{
	rp_ctx *x = arg;
	rp_want w = {.kind = TSK_RES_WG, .name = "rp.wg"};
	tsk_rd_snap snap;
	tsk_task *t;

	rp_open(x);
	TSK_EXPECT_EQ(tsk_wg_create(&x->g, "rp.wg"), 0);
	rp_check_res(x, &w);
	TSK_EXPECT_EQ(tsk_wg_add(x->g, 2), 0);
	w.value = 2;
	rp_check_res(x, &w);

	t = st_spawn("rp.waiter", wg_child, x);
	x->child[0] = tsk_id(t);
	if (rp_await_blocked(x, &snap, x->child[0], TSK_WAIT_WG)) {
		rp_expect_waiting(x, &snap, x->child[0], TSK_WAIT_WG);
		w.waiters = 1;
		rp_expect_res(x, &snap, &w);
	}
	tsk_reader_snap_free(&snap);
	TSK_EXPECT_EQ(tsk_wg_done(x->g), 0);
	rp_snap(x, &snap);
	rp_expect_waiting(x, &snap, x->child[0], TSK_WAIT_WG);
	w.value = 1;
	rp_expect_res(x, &snap, &w);
	tsk_reader_snap_free(&snap);

	TSK_EXPECT_EQ(tsk_wg_done(x->g), 0); /* wakes the child */
	st_join(t);
	TSK_EXPECT_EQ(tsk_wg_add(x->g, -1), -EINVAL); /* no event */
	w.value = 0;
	w.waiters = 0;
	rp_check_res(x, &w);
	TSK_EXPECT_EQ(tsk_wg_destroy(x->g), 0);
	rp_expect_freed(x);
	return NULL;
}

static void test_wg(void **state)
{
	rp_ctx x = {0};
	rp_events *e = calloc(1, sizeof(*e));
	size_t total = 2; /* RES_NEW, RES_FREE */

	(void)state;
	assert_non_null(e);
	TSK_RUN(wg_root, &x, RP_WORKERS);
	assert_non_null(x.r);
	rp_read_events(&x, e);
	rp_check_lifecycle(&x, e, TSK_RES_WG, "rp.wg", 0);
	/* arg: the signed delta; SIGNAL's arg: waiters woken */
	rp_count(e, &total, TSK_EV_WG_ADD, x.root, 0, 2, 1);
	rp_count(e, &total, TSK_EV_WG_ADD, x.root, 0, (uint64_t)(int64_t)-1, 2);
	rp_count(e, &total, TSK_EV_SIGNAL, x.root, 0, 1, 1);
	rp_count(e, &total, TSK_EV_BLOCK, x.child[0], TSK_WAIT_WG, UINT64_MAX, 1);
	rp_expect_total(e, total);
	assert_int_equal(rp_wakes(e, x.child[0], x.root), 1);
	free(e);
}

/* ---- condition variable ----------------------------------------------------------- */

static void *cond_child(void *arg)
{
	rp_ctx *x = arg;

	TSK_EXPECT_EQ(tsk_mutex_lock(x->m, TSK_FOREVER), 0);
	while (!atomic_load(&x->wake))
		TSK_EXPECT_EQ(tsk_cond_wait(x->c, x->m, TSK_FOREVER), 0);
	TSK_EXPECT_EQ(tsk_mutex_unlock(x->m), 0);
	return NULL;
}

static void *cond_root(void *arg)
{
	rp_ctx *x = arg;
	rp_want w = {.kind = TSK_RES_COND, .name = "rp.cond"};
	tsk_rd_snap snap;
	tsk_task *t[2];

	rp_open(x);
	TSK_EXPECT_EQ(tsk_mutex_create(&x->m, "rp.mutex"), 0);
	TSK_EXPECT_EQ(tsk_cond_create(&x->c, "rp.cond"), 0);
	rp_check_res(x, &w);
	TSK_EXPECT_EQ(tsk_cond_signal(x->c), 0); /* nobody to wake: SIGNAL 0 */

	for (int i = 0; i < 2; i++) {
		t[i] = st_spawn("rp.cwait", cond_child, x);
		x->child[i] = tsk_id(t[i]);
		if (rp_await_blocked(x, &snap, x->child[i], TSK_WAIT_COND)) {
			rp_expect_waiting(x, &snap, x->child[i], TSK_WAIT_COND);
			w.waiters = (uint32_t)i + 1;
			rp_expect_res(x, &snap, &w);
		}
		tsk_reader_snap_free(&snap);
	}
	TSK_EXPECT_EQ(tsk_mutex_lock(x->m, TSK_FOREVER), 0);
	atomic_store(&x->wake, 1);
	TSK_EXPECT_EQ(tsk_cond_broadcast(x->c), 0);
	w.waiters = 0;
	rp_check_res(x, &w);
	TSK_EXPECT_EQ(tsk_mutex_unlock(x->m), 0);
	st_join(t[0]);
	st_join(t[1]);
	TSK_EXPECT_EQ(tsk_cond_destroy(x->c), 0);
	rp_expect_freed(x);
	TSK_EXPECT_EQ(tsk_mutex_destroy(x->m), 0);
	return NULL;
}

static void test_cond(void **state)
{
	rp_ctx x = {0};
	rp_events *e = calloc(1, sizeof(*e));
	size_t total = 2; /* RES_NEW, RES_FREE */

	(void)state;
	assert_non_null(e);
	TSK_RUN(cond_root, &x, RP_WORKERS);
	assert_non_null(x.r);
	rp_read_events(&x, e);
	rp_check_lifecycle(&x, e, TSK_RES_COND, "rp.cond", 0);
	rp_count(e, &total, TSK_EV_SIGNAL, x.root, 0, 0, 1);
	rp_count(e, &total, TSK_EV_SIGNAL, x.root, 0, 2, 1);
	rp_count(e, &total, TSK_EV_BLOCK, x.child[0], TSK_WAIT_COND, UINT64_MAX, 1);
	rp_count(e, &total, TSK_EV_BLOCK, x.child[1], TSK_WAIT_COND, UINT64_MAX, 1);
	rp_expect_total(e, total);
	/* the broadcast (and maybe the mutex's unlock after it) */
	assert_true(rp_wakes(e, x.child[0], x.root) >= 1);
	assert_true(rp_wakes(e, x.child[1], x.root) >= 1);
	free(e);
}

/* ---- channel --------------------------------------------------------------------- */

/* Child 0 sends 3 (the channel is full: it waits); child 1 receives 4 (the
 * channel is empty: it waits). */
static void *chan_child(void *arg)
{
	rp_arg *a = arg;
	rp_ctx *x = a->x;
	int v = 3;

	if (a->i == 0) {
		TSK_EXPECT_EQ(tsk_chan_send(x->ch, &v, TSK_FOREVER), 0);
		return NULL;
	}
	TSK_EXPECT_EQ(tsk_chan_recv(x->ch, &v, TSK_FOREVER), 0);
	TSK_EXPECT_EQ(v, 4);
	return NULL;
}

static void *chan_root(void *arg)
{
	rp_ctx *x = arg;
	rp_want w = {.kind = TSK_RES_CHAN, .name = "rp.chan", .capacity = 2};
	rp_arg a[2] = {{x, 0}, {x, 1}};
	tsk_rd_snap snap;
	tsk_task *t;
	int v;

	rp_open(x);
	TSK_EXPECT_EQ(tsk_chan_create(&x->ch, "rp.chan", sizeof(int), 2), 0);
	rp_check_res(x, &w);
	for (v = 1; v <= 2; v++)
		TSK_EXPECT_EQ(tsk_chan_send(x->ch, &v, TSK_FOREVER), 0);
	w.value = 2;
	rp_check_res(x, &w);

	/* A sender waits on the full channel; our receive takes its element
	 * into the freed slot. */
	t = st_spawn("rp.sender", chan_child, &a[0]);
	x->child[0] = tsk_id(t);
	if (rp_await_blocked(x, &snap, x->child[0], TSK_WAIT_CHAN_SEND)) {
		rp_expect_waiting(x, &snap, x->child[0], TSK_WAIT_CHAN_SEND);
		w.waiters = 1;
		rp_expect_res(x, &snap, &w);
	}
	tsk_reader_snap_free(&snap);
	TSK_EXPECT_EQ(tsk_chan_recv(x->ch, &v, TSK_FOREVER), 0);
	TSK_EXPECT_EQ(v, 1);
	w.waiters = 0;
	rp_check_res(x, &w);
	st_join(t);
	for (int want = 2; want <= 3; want++) {
		TSK_EXPECT_EQ(tsk_chan_recv(x->ch, &v, TSK_FOREVER), 0);
		TSK_EXPECT_EQ(v, want);
	}

	/* A receiver waits on the empty channel; our send hands it over. */
	t = st_spawn("rp.receiver", chan_child, &a[1]);
	x->child[1] = tsk_id(t);
	if (rp_await_blocked(x, &snap, x->child[1], TSK_WAIT_CHAN_RECV)) {
		rp_expect_waiting(x, &snap, x->child[1], TSK_WAIT_CHAN_RECV);
		w.value = 0;
		w.waiters = 1;
		rp_expect_res(x, &snap, &w);
	}
	tsk_reader_snap_free(&snap);
	v = 4;
	TSK_EXPECT_EQ(tsk_chan_send(x->ch, &v, TSK_FOREVER), 0);
	st_join(t);
	TSK_EXPECT_EQ(tsk_chan_close(x->ch), 0);
	w = (rp_want){
	        .kind = TSK_RES_CHAN, .name = "rp.chan", .capacity = 2, .flags = TSK_RF_CLOSED};
	rp_check_res(x, &w);
	TSK_EXPECT_EQ(tsk_chan_destroy(x->ch), 0);
	rp_expect_freed(x);
	return NULL;
}

static void test_chan(void **state)
{
	rp_ctx x = {0};
	rp_events *e = calloc(1, sizeof(*e));
	size_t total = 2; /* RES_NEW, RES_FREE */
	uint64_t snd, rcv;

	(void)state;
	assert_non_null(e);
	TSK_RUN(chan_root, &x, RP_WORKERS);
	assert_non_null(x.r);
	snd = x.child[0];
	rcv = x.child[1];
	rp_read_events(&x, e);
	rp_check_lifecycle(&x, e, TSK_RES_CHAN, "rp.chan", 2);
	/* arg: the length after the operation.  An operation the root
	 * completed for a blocked child is the root's SEND/RECV and the
	 * child's WAKE by the root: the child records no SEND/RECV of its
	 * own (chan.c), as the total checks. */
	rp_count(e, &total, TSK_EV_SEND, x.root, 0, 1, 1);
	rp_count(e, &total, TSK_EV_SEND, x.root, 0, 2, 1);
	rp_count(e, &total, TSK_EV_SEND, x.root, 0, 0, 1); /* hand-off to rcv */
	rp_count(e, &total, TSK_EV_RECV, x.root, 0, 2, 1); /* snd's element refills */
	rp_count(e, &total, TSK_EV_RECV, x.root, 0, 1, 1);
	rp_count(e, &total, TSK_EV_RECV, x.root, 0, 0, 1);
	rp_count(e, &total, TSK_EV_CLOSE, x.root, 0, 0, 1);
	rp_count(e, &total, TSK_EV_BLOCK, snd, TSK_WAIT_CHAN_SEND, UINT64_MAX, 1);
	rp_count(e, &total, TSK_EV_BLOCK, rcv, TSK_WAIT_CHAN_RECV, UINT64_MAX, 1);
	rp_expect_total(e, total);
	assert_int_equal(rp_wakes(e, snd, x.root), 1);
	assert_int_equal(rp_wakes(e, rcv, x.root), 1);
	free(e);
}

/* ---- select ---------------------------------------------------------------------- */

#define RP_SEL_CHANS  3  /* channels of the select */
#define RP_SEL_ROUNDS 12 /* selects, each blocked then woken */

/* The select test's program: a root and one selecting child per round. */
typedef struct sel_ctx {
	rp_ctx x;                      /* the reader and the root */
	tsk_chan *ch[RP_SEL_CHANS];    /* the channels, "rp.sel0".. */
	uint64_t id[RP_SEL_CHANS];     /* their resource ids */
	uint64_t child[RP_SEL_ROUNDS]; /* round r's selecting task */
	uint64_t want[RP_SEL_ROUNDS];  /* the resource its wait must name */
} sel_ctx;

typedef struct sel_arg {
	sel_ctx *s;
	int round;
} sel_arg;

/* Round r's child: receives on every channel, except that in odd rounds
 * case 0 has no channel (ignored), so the first channel is case 1's. */
static void *sel_child(void *arg)
{
	sel_arg *a = arg;
	tsk_case cs[RP_SEL_CHANS];
	int v = 0, rc;

	for (int i = 0; i < RP_SEL_CHANS; i++)
		cs[i] = (tsk_case){.chan = a->s->ch[i], .op = TSK_RECV, .elem = &v};
	if (a->round & 1)
		cs[0].chan = NULL;
	rc = tsk_select(cs, RP_SEL_CHANS, TSK_FOREVER);
	TSK_EXPECT(rc >= 0);
	if (rc >= 0)
		TSK_EXPECT_EQ(cs[rc].result, 0);
	TSK_EXPECT_EQ(v, a->round + 1);
	return NULL;
}

static void *sel_root(void *arg)
{
	sel_ctx *s = arg;
	rp_ctx *x = &s->x;
	char name[24]; /* "rp.sel" and any int: no truncation warning at -O1 */
	tsk_rd_snap snap;

	rp_open(x);
	for (int i = 0; i < RP_SEL_CHANS; i++) {
		snprintf(name, sizeof(name), "rp.sel%d", i);
		TSK_EXPECT_EQ(tsk_chan_create(&s->ch[i], name, sizeof(int), 0), 0);
	}
	rp_snap(x, &snap);
	for (int i = 0; i < RP_SEL_CHANS; i++) {
		snprintf(name, sizeof(name), "rp.sel%d", i);
		const tsk_rd_res *rr = rp_res_named(&snap, name);
		TSK_EXPECT(rr != NULL);
		s->id[i] = rr ? rr->slot.id : 0;
	}
	tsk_reader_snap_free(&snap);

	/* The select polls and queues its cases in a random order each time;
	 * what it waits on must still be the first case's channel. */
	for (int r = 0; r < RP_SEL_ROUNDS; r++) {
		sel_arg a = {s, r};
		tsk_task *t = st_spawn("rp.select", sel_child, &a);
		int v = r + 1;

		s->child[r] = tsk_id(t);
		s->want[r] = s->id[r & 1];
		if (rp_await_blocked(x, &snap, s->child[r], TSK_WAIT_SELECT)) {
			x->res = s->want[r];
			rp_expect_waiting(x, &snap, s->child[r], TSK_WAIT_SELECT);
		}
		tsk_reader_snap_free(&snap);
		/* wake it through any of its channels */
		TSK_EXPECT_EQ(tsk_chan_send(s->ch[1 + r % (RP_SEL_CHANS - 1)], &v, TSK_FOREVER), 0);
		st_join(t);
	}
	for (int i = 0; i < RP_SEL_CHANS; i++)
		TSK_EXPECT_EQ(tsk_chan_destroy(s->ch[i]), 0);
	return NULL;
}

/* Whether ev is the BLOCK of a select. */
static bool rp_is_select_block(const tsk_seg_event *ev)
{
	return ev->type == TSK_EV_BLOCK && ev->a32 == TSK_WAIT_SELECT;
}

/* A blocked select names, in its task slot (wait_obj) and its BLOCK record
 * (obj), the channel of its first case that has one (tsk_segment.h), not
 * the one it happened to poll first. */
static void test_select(void **state)
{
	sel_ctx *s = calloc(1, sizeof(*s));
	tsk_rd_rec *recs = malloc(RP_READ_BATCH * sizeof(*recs));
	int blocks[RP_SEL_ROUNDS] = {0};
	ssize_t got;

	(void)state;
	assert_non_null(s);
	assert_non_null(recs);
	TSK_RUN(sel_root, s, RP_WORKERS);
	assert_non_null(s->x.r);
	for (uint32_t ring = 0; ring < tsk_reader_ring_count(s->x.r); ring++) {
		while ((got = tsk_reader_ring_read(s->x.r, ring, recs, RP_READ_BATCH)) > 0) {
			for (ssize_t i = 0; i < got; i++) {
				const tsk_seg_event *ev = &recs[i].ev;

				for (int r = 0; r < RP_SEL_ROUNDS; r++) {
					if (!rp_is_select_block(ev) || ev->task != s->child[r])
						continue;
					assert_int_equal(ev->obj, s->want[r]);
					blocks[r]++;
				}
			}
		}
		assert_int_equal(got, 0);
	}
	for (int r = 0; r < RP_SEL_ROUNDS; r++)
		assert_int_equal(blocks[r], 1);
	free(recs);
	free(s);
}

/* ---- main ------------------------------------------------------------------------ */

#define RP_SEG_PATH TSK_SEG_DIR "/" TSK_SEG_PREFIX

/* Open descriptors of this process on a segment file. */
static int rp_segment_fds(void)
{
	char path[300], target[512];
	DIR *d = opendir("/proc/self/fd");
	struct dirent *de;
	ssize_t len;
	int n = 0;

	assert_non_null(d);
	while ((de = readdir(d)) != NULL) {
		snprintf(path, sizeof(path), "/proc/self/fd/%s", de->d_name);
		len = readlink(path, target, sizeof(target) - 1);
		if (len <= 0)
			continue;
		target[len] = '\0';
		n += strncmp(target, RP_SEG_PATH, strlen(RP_SEG_PATH)) == 0;
	}
	closedir(d);
	return n;
}

/* Mappings of a segment file in this process. */
static int rp_segment_maps(void)
{
	char line[1024];
	FILE *f = fopen("/proc/self/maps", "r");
	int n = 0;

	assert_non_null(f);
	while (fgets(line, sizeof(line), f) != NULL)
		n += strstr(line, RP_SEG_PATH) != NULL;
	fclose(f);
	return n;
}

/* Nothing left alive; the reader closed its descriptor and its mapping
 * (the runtime keeps one mapping of the segment until exit).  Other
 * descriptors are not counted: libunwind keeps a pipe open from its first
 * stack capture on. */
static int rp_teardown(void **state)
{
	tsk_reader_close(rp_reader);
	rp_reader = NULL;
	st_no_leak(state);
	assert_int_equal(chan__live(), 0);
	assert_int_equal(rp_segment_fds(), 0);
	assert_true(rp_segment_maps() <= 1);
	return 0;
}

#define RP_TEST(f) cmocka_unit_test_teardown(f, rp_teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
	        RP_TEST(test_rwlock), RP_TEST(test_sem),  RP_TEST(test_wg),
	        RP_TEST(test_cond),   RP_TEST(test_chan), RP_TEST(test_select),
	};

#if defined(TSK_PROBES) && TSK_PROBES == 0
	puts("test_res_probe: probes compiled out (PROBES=0): nothing to observe");
	(void)tests;
	return 0;
#else
	/* The segment is what we test: it must not be turned off. */
	unsetenv("TASKSCOPE");
	return cmocka_run_group_tests(tests, NULL, NULL);
#endif
}
