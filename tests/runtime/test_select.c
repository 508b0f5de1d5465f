/*
 * test_select.c - cmocka tests of runtime/src/select.c (tsk_select).
 *
 * Covers argument checks, polling outside tasks, ready cases (send, recv,
 * mixed, ignored NULL cases), blocking selects woken by a peer through a
 * receive, a send and a refill of a full buffer, the same channel in
 * several cases (never a hand-off to itself), closed channels (before and
 * while waiting), deadlines, cancellation, more than 16 cases (heap
 * waiters), the window between the two passes (a stale peer, a close),
 * fairness among ready cases, and a stress test where producers, relays
 * (send and receive on one channel in one select) and consumers select
 * with short deadlines while other selecting tasks are cancelled at random
 * moments: every message must arrive exactly once.
 *
 * Inside tasks only TSK_EXPECT* (see tsk_test.h).  Each test's teardown
 * checks that every channel was destroyed (chan__live); channel waiter
 * counts (nwait) show that a select leaves no waiter behind.
 */
#include <errno.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "chan_int.h"
#include "chan_test.h"
#include "tsk_test.h"

static tsk_chan *mkchan(const char *name, size_t cap)
{
	tsk_chan *c = NULL;

	TSK_EXPECT_EQ(tsk_chan_create(&c, name, sizeof(int), cap), 0);
	return c;
}

/* A select run by a helper task over up to 4 cases. */
typedef struct sel_arg {
	tsk_case cases[4]; /* the cases (elems point into vals) */
	int vals[4];       /* element buffers */
	size_t n;          /* number of cases */
	int64_t deadline;  /* deadline of the select */
	int rc;            /* its return */
} sel_arg;

static void *select_task(void *p)
{
	sel_arg *a = p;

	a->rc = tsk_select(a->cases, a->n, a->deadline);
	return NULL;
}

static void sel_set(sel_arg *a, size_t i, tsk_chan *c, int op, int val)
{
	a->vals[i] = val;
	a->cases[i] = (tsk_case){c, op, &a->vals[i], 12345};
	if (i + 1 > a->n)
		a->n = i + 1;
}

/* ---- arguments, outside tasks ------------------------------------------- */

static void *fail_alloc(void *old, size_t size)
{
	(void)old;
	(void)size;
	return NULL;
}

static void test_args(void **state)
{
	tsk_chan *a, *b, *u;
	tsk_case cs[2];
	tsk_case *big;
	int x = 1, y = 2;

	(void)state;
	assert_int_equal(tsk_chan_create(&a, "a", sizeof(int), 1), 0);
	assert_int_equal(tsk_chan_create(&b, "b", sizeof(int), 0), 0);
	assert_int_equal(tsk_chan_create(&u, "u", sizeof(int), TSK_UNBOUNDED), 0);

	cs[0] = (tsk_case){a, TSK_RECV, &x, 0};
	cs[1] = (tsk_case){b, TSK_SEND, &y, 0};
	assert_int_equal(tsk_select(NULL, 1, TSK_FOREVER), -EINVAL);
	assert_int_equal(tsk_select(cs, 0, TSK_FOREVER), -EINVAL);
	cs[1].op = 0;
	assert_int_equal(tsk_select(cs, 2, TSK_FOREVER), -EINVAL);
	cs[1].op = TSK_SEND | TSK_RECV;
	assert_int_equal(tsk_select(cs, 2, TSK_FOREVER), -EINVAL);
	cs[1].op = TSK_SEND;
	cs[1].elem = NULL;
	assert_int_equal(tsk_select(cs, 2, TSK_FOREVER), -EINVAL);
	cs[0].chan = cs[1].chan = NULL; /* ignored cases may hold anything */
	assert_int_equal(tsk_select(cs, 2, TSK_FOREVER), -EINVAL);

	big = calloc(1025, sizeof(*big));
	assert_non_null(big);
	big[0] = (tsk_case){a, TSK_SEND, &x, 0};
	assert_int_equal(tsk_select(big, 1025, TSK_FOREVER), -EINVAL);
	assert_int_equal(tsk_select(big, 1024, TSK_FOREVER), 0); /* a has room */
	assert_int_equal(big[0].result, 0);
	free(big);

	/* outside a task: a ready case completes, else -EPERM */
	cs[0] = (tsk_case){a, TSK_RECV, &y, 7};
	cs[1] = (tsk_case){b, TSK_SEND, &x, 7};
	y = 0;
	assert_int_equal(tsk_select(cs, 2, TSK_FOREVER), 0);
	assert_int_equal(y, 1);
	assert_int_equal(cs[0].result, 0);
	assert_int_equal(cs[1].result, 7); /* untouched */
	assert_int_equal(tsk_select(cs, 2, TSK_FOREVER), -EPERM);
	assert_int_equal(tsk_select(cs, 2, 0), -EPERM);

	/* -ENOMEM from an unbounded send case; nothing else happened */
	cs[0] = (tsk_case){u, TSK_SEND, &x, 0};
	chan__alloc_hook = fail_alloc;
	assert_int_equal(tsk_select(cs, 1, TSK_FOREVER), -ENOMEM);
	chan__alloc_hook = NULL;
	assert_int_equal(tsk_chan_len(u), 0);
	assert_int_equal((tsk_select)(cs, 1, TSK_FOREVER), 0);
	assert_int_equal(tsk_chan_len(u), 1);

	assert_int_equal(tsk_chan_destroy(a), 0);
	assert_int_equal(tsk_chan_destroy(b), 0);
	assert_int_equal(tsk_chan_destroy(u), 0);
}

/* ---- ready cases ----------------------------------------------------------- */

static void *ready_root(void *p)
{
	tsk_chan *a = mkchan("a", 1), *b = mkchan("b", 1);
	tsk_case cs[3];
	int x = 0, y = 0, v;

	(void)p;
	/* recv from whichever has data */
	v = 5;
	TSK_EXPECT_EQ(tsk_chan_try_send(b, &v), 0);
	cs[0] = (tsk_case){a, TSK_RECV, &x, 1};
	cs[1] = (tsk_case){NULL, 99, NULL, 1}; /* ignored */
	cs[2] = (tsk_case){b, TSK_RECV, &y, 1};
	TSK_EXPECT_EQ(tsk_select(cs, 3, TSK_FOREVER), 2);
	TSK_EXPECT_EQ(cs[2].result, 0);
	TSK_EXPECT_EQ(y, 5);
	TSK_EXPECT_EQ(tsk_chan_len(b), 0);

	/* send and recv mixed: only the send can go (a empty, b has room) */
	x = 6;
	cs[0] = (tsk_case){a, TSK_RECV, &y, 1};
	cs[1] = (tsk_case){b, TSK_SEND, &x, 1};
	TSK_EXPECT_EQ(tsk_select(cs, 2, TSK_FOREVER), 1);
	TSK_EXPECT_EQ(tsk_chan_len(b), 1);
	/* now b is full and a has data: only the recv can go */
	v = 7;
	TSK_EXPECT_EQ(tsk_chan_try_send(a, &v), 0);
	TSK_EXPECT_EQ(tsk_select(cs, 2, TSK_FOREVER), 0);
	TSK_EXPECT_EQ(y, 7);
	/* past deadline still completes a ready case */
	TSK_EXPECT_EQ(tsk_chan_try_recv(b, &v), 0);
	TSK_EXPECT_EQ(v, 6);
	TSK_EXPECT_EQ(tsk_select(cs, 2, 0), 1);
	TSK_EXPECT_EQ(tsk_chan_try_recv(b, &v), 0);
	TSK_EXPECT_EQ(nwait(a), 0);
	TSK_EXPECT_EQ(nwait(b), 0);
	TSK_EXPECT_EQ(tsk_chan_destroy(a), 0);
	TSK_EXPECT_EQ(tsk_chan_destroy(b), 0);
	return NULL;
}

static void test_ready(void **state)
{
	(void)state;
	TSK_RUN(ready_root, NULL, 2);
}

/* ---- blocking selects woken by peers ---------------------------------------------- */

static void *wake_root(void *p)
{
	tsk_chan *a = mkchan("a", 0), *b = mkchan("b", 0), *f = mkchan("full", 1);
	sel_arg s;
	tsk_task *t;
	int v;

	(void)p;
	/* woken by a sender on the second channel */
	memset(&s, 0, sizeof(s));
	sel_set(&s, 0, a, TSK_RECV, 0);
	sel_set(&s, 1, b, TSK_RECV, 0);
	s.deadline = TSK_FOREVER;
	t = spawn("select", select_task, &s);
	await_nwait(a, 1);
	await_nwait(b, 1);
	v = 21;
	TSK_EXPECT_EQ(tsk_chan_send(b, &v, TSK_FOREVER), 0);
	join(t);
	TSK_EXPECT_EQ(s.rc, 1);
	TSK_EXPECT_EQ(s.cases[1].result, 0);
	TSK_EXPECT_EQ(s.vals[1], 21);
	TSK_EXPECT_EQ(s.cases[0].result, 12345); /* untouched */
	TSK_EXPECT_EQ(nwait(a), 0);
	TSK_EXPECT_EQ(nwait(b), 0);

	/* a send case woken by a receiver */
	memset(&s, 0, sizeof(s));
	sel_set(&s, 0, a, TSK_SEND, 33);
	sel_set(&s, 1, b, TSK_RECV, 0);
	s.deadline = tsk_after_ms(60000);
	t = spawn("select", select_task, &s);
	await_nwait(a, 1);
	TSK_EXPECT_EQ(tsk_chan_recv(a, &v, TSK_FOREVER), 0);
	TSK_EXPECT_EQ(v, 33);
	join(t);
	TSK_EXPECT_EQ(s.rc, 0);
	TSK_EXPECT_EQ(s.cases[0].result, 0);
	TSK_EXPECT_EQ(nwait(b), 0);

	/* a send case on a full buffer, woken when a receive refills it */
	v = 1;
	TSK_EXPECT_EQ(tsk_chan_try_send(f, &v), 0);
	memset(&s, 0, sizeof(s));
	sel_set(&s, 0, a, TSK_RECV, 0);
	sel_set(&s, 1, f, TSK_SEND, 44);
	s.deadline = TSK_FOREVER;
	t = spawn("select", select_task, &s);
	await_nwait(f, 1);
	TSK_EXPECT_EQ(tsk_chan_recv(f, &v, TSK_FOREVER), 0);
	TSK_EXPECT_EQ(v, 1);
	join(t);
	TSK_EXPECT_EQ(s.rc, 1);
	TSK_EXPECT_EQ(tsk_chan_len(f), 1);
	TSK_EXPECT_EQ(tsk_chan_try_recv(f, &v), 0);
	TSK_EXPECT_EQ(v, 44);
	TSK_EXPECT_EQ(nwait(a), 0);

	/* two receive cases on one channel: one wake, both waiters gone */
	memset(&s, 0, sizeof(s));
	sel_set(&s, 0, b, TSK_RECV, 0);
	sel_set(&s, 1, b, TSK_RECV, 0);
	s.deadline = TSK_FOREVER;
	t = spawn("select", select_task, &s);
	await_nwait(b, 2);
	v = 9;
	TSK_EXPECT_EQ(tsk_chan_send(b, &v, TSK_FOREVER), 0);
	join(t);
	TSK_EXPECT(s.rc == 0 || s.rc == 1);
	TSK_EXPECT_EQ(s.vals[s.rc & 1], 9);
	TSK_EXPECT_EQ(nwait(b), 0);

	TSK_EXPECT_EQ(tsk_chan_destroy(a), 0);
	TSK_EXPECT_EQ(tsk_chan_destroy(b), 0);
	TSK_EXPECT_EQ(tsk_chan_destroy(f), 0);
	return NULL;
}

static void test_wake(void **state)
{
	(void)state;
	TSK_RUN(wake_root, NULL, 2);
}

/* ---- the same channel for send and recv ------------------------------------------------ */

static void *same_root(void *p)
{
	tsk_chan *r = mkchan("rv", 0), *b = mkchan("b1", 1);
	sel_arg s;
	tsk_task *t;
	int64_t t0;
	int v;

	(void)p;
	/* alone on a rendezvous: it must not hand off to itself */
	memset(&s, 0, sizeof(s));
	sel_set(&s, 0, r, TSK_SEND, 1);
	sel_set(&s, 1, r, TSK_RECV, 0);
	t0 = tsk_now();
	TSK_EXPECT_EQ(tsk_select(s.cases, 2, tsk_after_ms(30)), -ETIMEDOUT);
	TSK_EXPECT(tsk_now() - t0 >= 30 * MS);
	TSK_EXPECT_EQ(nwait(r), 0);

	/* a receiver takes its send */
	s.deadline = TSK_FOREVER;
	t = spawn("select", select_task, &s);
	await_nwait(r, 2);
	TSK_EXPECT_EQ(tsk_chan_recv(r, &v, TSK_FOREVER), 0);
	TSK_EXPECT_EQ(v, 1);
	join(t);
	TSK_EXPECT_EQ(s.rc, 0);
	TSK_EXPECT_EQ(nwait(r), 0);

	/* a sender feeds its recv */
	t = spawn("select", select_task, &s);
	await_nwait(r, 2);
	v = 2;
	TSK_EXPECT_EQ(tsk_chan_send(r, &v, TSK_FOREVER), 0);
	join(t);
	TSK_EXPECT_EQ(s.rc, 1);
	TSK_EXPECT_EQ(s.vals[1], 2);
	TSK_EXPECT_EQ(nwait(r), 0);

	/* bounded, capacity 1: empty -> only the send can go; full -> the recv */
	memset(&s, 0, sizeof(s));
	sel_set(&s, 0, b, TSK_SEND, 3);
	sel_set(&s, 1, b, TSK_RECV, 0);
	TSK_EXPECT_EQ(tsk_select(s.cases, 2, TSK_FOREVER), 0);
	TSK_EXPECT_EQ(tsk_select(s.cases, 2, TSK_FOREVER), 1);
	TSK_EXPECT_EQ(s.vals[1], 3);

	TSK_EXPECT_EQ(tsk_chan_destroy(r), 0);
	TSK_EXPECT_EQ(tsk_chan_destroy(b), 0);
	return NULL;
}

static void test_same_channel(void **state)
{
	(void)state;
	TSK_RUN(same_root, NULL, 2);
}

/* ---- closed channels ------------------------------------------------------------------ */

static void *closed_root(void *p)
{
	tsk_chan *a = mkchan("a", 2), *b = mkchan("b", 0), *c = mkchan("c", 0);
	sel_arg s;
	tsk_case cs[2];
	tsk_task *t;
	int v = 4, x = 0;

	(void)p;
	/* closed with data: data first, then -EPIPE */
	TSK_EXPECT_EQ(tsk_chan_try_send(a, &v), 0);
	TSK_EXPECT_EQ(tsk_chan_close(a), 0);
	cs[0] = (tsk_case){a, TSK_RECV, &x, 1};
	cs[1] = (tsk_case){b, TSK_RECV, &x, 1};
	TSK_EXPECT_EQ(tsk_select(cs, 2, TSK_FOREVER), 0);
	TSK_EXPECT_EQ(cs[0].result, 0);
	TSK_EXPECT_EQ(x, 4);
	TSK_EXPECT_EQ(tsk_select(cs, 2, TSK_FOREVER), 0);
	TSK_EXPECT_EQ(cs[0].result, -EPIPE);
	/* a send case on a closed channel completes with -EPIPE */
	cs[0] = (tsk_case){a, TSK_SEND, &v, 1};
	TSK_EXPECT_EQ(tsk_select(cs, 2, TSK_FOREVER), 0);
	TSK_EXPECT_EQ(cs[0].result, -EPIPE);

	/* closed while a select waits: receive case, then send case */
	memset(&s, 0, sizeof(s));
	sel_set(&s, 0, b, TSK_RECV, 0);
	sel_set(&s, 1, c, TSK_RECV, 0);
	s.deadline = TSK_FOREVER;
	t = spawn("select", select_task, &s);
	await_nwait(c, 1);
	TSK_EXPECT_EQ(tsk_chan_close(c), 0);
	join(t);
	TSK_EXPECT_EQ(s.rc, 1);
	TSK_EXPECT_EQ(s.cases[1].result, -EPIPE);
	TSK_EXPECT_EQ(nwait(b), 0);

	memset(&s, 0, sizeof(s));
	sel_set(&s, 0, b, TSK_SEND, 5);
	s.deadline = TSK_FOREVER;
	t = spawn("select", select_task, &s);
	await_nwait(b, 1);
	TSK_EXPECT_EQ(tsk_chan_close(b), 0);
	join(t);
	TSK_EXPECT_EQ(s.rc, 0);
	TSK_EXPECT_EQ(s.cases[0].result, -EPIPE);

	TSK_EXPECT_EQ(tsk_chan_destroy(a), 0);
	TSK_EXPECT_EQ(tsk_chan_destroy(b), 0);
	TSK_EXPECT_EQ(tsk_chan_destroy(c), 0);
	return NULL;
}

static void test_closed(void **state)
{
	(void)state;
	TSK_RUN(closed_root, NULL, 2);
}

/* ---- deadlines, cancellation, destroy ----------------------------------------------------- */

static void *timeout_root(void *p)
{
	tsk_chan *a = mkchan("a", 1), *b = mkchan("b", 0);
	tsk_case cs[2];
	int64_t t0, el;
	int x = 0;

	(void)p;
	cs[0] = (tsk_case){a, TSK_RECV, &x, 1};
	cs[1] = (tsk_case){b, TSK_SEND, &x, 1};
	t0 = tsk_now();
	TSK_EXPECT_EQ(tsk_select(cs, 2, tsk_after_ms(50)), -ETIMEDOUT);
	el = tsk_now() - t0;
	TSK_EXPECT(el >= 50 * MS);
	TSK_EXPECT(el < 1050 * MS);
	TSK_EXPECT_EQ(cs[0].result, 1);
	TSK_EXPECT_EQ(nwait(a), 0);
	TSK_EXPECT_EQ(nwait(b), 0);
	/* a deadline already past polls */
	t0 = tsk_now();
	TSK_EXPECT_EQ(tsk_select(cs, 2, t0 - 1), -ETIMEDOUT);
	TSK_EXPECT(tsk_now() - t0 < 100 * MS);
	TSK_EXPECT_EQ(tsk_chan_destroy(a), 0);
	TSK_EXPECT_EQ(tsk_chan_destroy(b), 0);
	return NULL;
}

static void test_timeout(void **state)
{
	(void)state;
	TSK_RUN(timeout_root, NULL, 2);
}

static void *cancel_root(void *p)
{
	tsk_chan *a = mkchan("a", 0), *b = mkchan("b", 4);
	sel_arg s;
	tsk_task *t;

	(void)p;
	memset(&s, 0, sizeof(s));
	sel_set(&s, 0, a, TSK_SEND, 1);
	sel_set(&s, 1, b, TSK_RECV, 0);
	s.deadline = TSK_FOREVER;
	t = spawn("select", select_task, &s);
	await_nwait(a, 1);
	await_nwait(b, 1);
	TSK_EXPECT_EQ(tsk_chan_destroy(b), -EBUSY);
	TSK_EXPECT_EQ(tsk_cancel(t), 0);
	join(t);
	TSK_EXPECT_EQ(s.rc, -ECANCELED);
	TSK_EXPECT_EQ(nwait(a), 0);
	TSK_EXPECT_EQ(nwait(b), 0);
	TSK_EXPECT_EQ(tsk_chan_len(b), 0);
	TSK_EXPECT_EQ(tsk_chan_destroy(a), 0);
	TSK_EXPECT_EQ(tsk_chan_destroy(b), 0);
	return NULL;
}

static void test_cancel(void **state)
{
	(void)state;
	TSK_RUN(cancel_root, NULL, 2);
}

/* ---- many cases (waiters on the heap) ---------------------------------------------------- */

#define MANY 100

typedef struct many {
	tsk_chan *chans[MANY]; /* one rendezvous channel per case */
	tsk_case cases[MANY];  /* receive cases */
	int vals[MANY];        /* their buffers */
	int rc;                /* the select's return */
} many;

static void *many_select(void *p)
{
	many *m = p;

	m->rc = tsk_select(m->cases, MANY, TSK_FOREVER);
	return NULL;
}

static void *many_root(void *p)
{
	many *m = p;
	tsk_task *t;
	int i, v = 77;

	for (i = 0; i < MANY; i++) {
		m->chans[i] = mkchan("many", 0);
		/* every 10th case is ignored: no waiter may appear there */
		m->cases[i] =
		        (tsk_case){i % 10 == 3 ? NULL : m->chans[i], TSK_RECV, &m->vals[i], 1};
	}
	t = spawn("select", many_select, m);
	for (i = 0; i < MANY; i++)
		await_nwait(m->chans[i], i % 10 == 3 ? 0 : 1);
	TSK_EXPECT_EQ(tsk_chan_send(m->chans[77], &v, TSK_FOREVER), 0);
	join(t);
	TSK_EXPECT_EQ(m->rc, 77);
	TSK_EXPECT_EQ(m->vals[77], 77);
	TSK_EXPECT_EQ(m->cases[77].result, 0);
	for (i = 0; i < MANY; i++) {
		TSK_EXPECT_EQ(nwait(m->chans[i]), 0);
		TSK_EXPECT_EQ(tsk_chan_destroy(m->chans[i]), 0);
	}
	return NULL;
}

static void test_many_cases(void **state)
{
	many *m = calloc(1, sizeof(*m));

	(void)state;
	assert_non_null(m);
	TSK_RUN(many_root, m, 2);
	free(m);
}

/* ---- the window between the two passes (select__pass2_hook) ------------------------------ */

/* A plain receive run by a helper task. */
typedef struct op_arg {
	tsk_chan *c; /* channel */
	int val;     /* received value */
	int rc;      /* return of the receive */
} op_arg;

/* A waiter that looks queued but whose task's token is not WAITING: what a
 * peer sees when the waiter's own timer, a canceller or another case of
 * its select has claimed it and its task has not unlinked it yet. */
static struct {
	tsk_chan *c;           /* channel to put it on */
	tsk_task *owner;       /* a task that is not waiting (token idle) */
	rt_waiter w;           /* the stale waiter */
	int buf;               /* its element buffer: must stay untouched */
	bool armed;            /* push it at the next hook call */
	op_arg *behind;        /* non-NULL: then start this receiver behind it */
	tsk_task *behind_task; /* that receiver */
	bool close;            /* instead: close c in the window */
} win;

static void *idle_task(void *p)
{
	(void)p;
	return NULL;
}

static void *recv_task(void *p)
{
	op_arg *a = p;

	a->rc = tsk_chan_recv(a->c, &a->val, TSK_FOREVER);
	return NULL;
}

static void window_hook(tsk_case *cases, size_t n)
{
	(void)cases;
	(void)n;
	if (win.close) {
		win.close = false;
		TSK_EXPECT_EQ(tsk_chan_close(win.c), 0);
	}
	if (!win.armed)
		return;
	win.armed = false;
	rt__spin_lock(&win.c->lock);
	memset(&win.w, 0, sizeof(win.w));
	win.w.task = win.owner;
	win.w.elem = &win.buf;
	win.w.op = TSK_RECV;
	rt__waitq_push(&win.c->receivers, &win.w);
	win.c->nwait++; /* as its task would have */
	rt__spin_unlock(&win.c->lock);
	if (win.behind != NULL) {
		win.behind_task = spawn("receiver", recv_task, win.behind);
		await_nwait(win.c, 2);
	}
}

/* The stale waiter's task "leaves": unlinks if needed, drops its count. */
static void stale_leave(void)
{
	rt__spin_lock(&win.c->lock);
	if (win.w.linked)
		rt__waitq_remove(&win.c->receivers, &win.w);
	win.c->nwait--;
	rt__spin_unlock(&win.c->lock);
}

static void *window_root(void *p)
{
	tsk_chan *r = mkchan("rv", 0);
	tsk_task *owner = spawn("idle", idle_task, NULL);
	op_arg behind = {0};
	tsk_case cs[21];
	int v = 61, i, rc;
	int64_t t0;

	(void)p;
	select__pass2_hook = window_hook;
	memset(&win, 0, sizeof(win));
	win.c = r;
	win.owner = owner;

	/* only a stale receiver appears: the send case is "ready", select
	 * claims itself, finds nobody, starts over and finally times out */
	win.armed = true;
	cs[0] = (tsk_case){r, TSK_SEND, &v, 1};
	t0 = tsk_now();
	TSK_EXPECT_EQ(tsk_select(cs, 1, tsk_after_ms(40)), -ETIMEDOUT);
	TSK_EXPECT(tsk_now() - t0 >= 40 * MS);
	TSK_EXPECT(!win.w.linked); /* popped and skipped by the send */
	TSK_EXPECT_EQ(win.buf, 0);
	TSK_EXPECT_EQ(nwait(r), 1); /* still counted until its task leaves */
	TSK_EXPECT_EQ(tsk_chan_destroy(r), -EBUSY);
	stale_leave();
	TSK_EXPECT_EQ(nwait(r), 0);

	/* a stale receiver with a real one behind it: the real one gets it */
	win.armed = true;
	behind.c = r;
	win.behind = &behind;
	TSK_EXPECT_EQ(tsk_select(cs, 1, TSK_FOREVER), 0);
	TSK_EXPECT_EQ(cs[0].result, 0);
	join(win.behind_task);
	TSK_EXPECT_EQ(behind.rc, 0);
	TSK_EXPECT_EQ(behind.val, 61);
	TSK_EXPECT_EQ(win.buf, 0);
	stale_leave();
	win.behind = NULL;

	/* closed in the window: the blocking pass completes the case */
	win.close = true;
	cs[0] = (tsk_case){r, TSK_RECV, &v, 1};
	TSK_EXPECT_EQ(tsk_select(cs, 1, TSK_FOREVER), 0);
	TSK_EXPECT_EQ(cs[0].result, -EPIPE);
	select__pass2_hook = NULL;
	join(owner);
	TSK_EXPECT_EQ(nwait(r), 0);
	TSK_EXPECT_EQ(tsk_chan_destroy(r), 0);

	/* more than 16 cases: their waiters are allocated, and may fail */
	r = mkchan("rv", 0);
	for (i = 0; i < 21; i++)
		cs[i] = (tsk_case){i % 2 ? r : NULL, TSK_RECV, &v, 1};
	chan__alloc_hook = fail_alloc;
	rc = tsk_select(cs, 21, TSK_FOREVER);
	chan__alloc_hook = NULL;
	TSK_EXPECT_EQ(rc, -ENOMEM);
	TSK_EXPECT_EQ(nwait(r), 0);
	TSK_EXPECT_EQ(tsk_select(cs, 21, tsk_after_ms(5)), -ETIMEDOUT);
	TSK_EXPECT_EQ(tsk_chan_destroy(r), 0);
	return NULL;
}

/* One worker: the hook and the selects run in one task at a time. */
static void test_window(void **state)
{
	(void)state;
	TSK_RUN(window_root, NULL, 1);
}

/* ---- fairness ----------------------------------------------------------------------- */

#define FAIR_CHANS 4

/* Cases 0, 2 and 3 always ready, case 1 never: each ready case must be
 * picked about 1/3 of the time (a random rotation would give case 2 half:
 * the start falls on 1 or 2), case 1 never.  Then 20 cases (a rotation
 * beyond 16): none starves. */
static void *fair_ready_root(void *p)
{
	long n = tsk_test_scale(30000), i, count[FAIR_CHANS] = {0}, big_count[20] = {0};
	tsk_chan *c[FAIR_CHANS], *big[20];
	tsk_case cs[FAIR_CHANS], bcs[20];
	int v = 0, rc;

	(void)p;
	for (i = 0; i < FAIR_CHANS; i++) {
		c[i] = mkchan("fair", TSK_UNBOUNDED);
		cs[i] = (tsk_case){c[i], TSK_RECV, &v, 0};
	}
	for (i = 0; i < n * FAIR_CHANS; i++)
		if (i % FAIR_CHANS != 1)
			TSK_EXPECT_EQ(tsk_chan_try_send(c[i % FAIR_CHANS], &v), 0);
	for (i = 0; i < n; i++) {
		rc = tsk_select(cs, FAIR_CHANS, TSK_FOREVER);
		if (rc < 0 || rc >= FAIR_CHANS) {
			TSK_EXPECT(rc >= 0 && rc < FAIR_CHANS);
			break;
		}
		count[rc]++;
	}
	if (getenv("TSK_TEST_VERBOSE"))
		fprintf(stderr, "fair_ready: %ld %ld %ld %ld\n", count[0], count[1], count[2],
		        count[3]);
	TSK_EXPECT_EQ(count[1], 0);
	for (i = 0; i < FAIR_CHANS; i++) {
		/* expected n/3 each; a binomial stays well within +-15% */
		if (i != 1) {
			TSK_EXPECT(count[i] > n / 3 * 85 / 100);
			TSK_EXPECT(count[i] < n / 3 * 115 / 100);
		}
		TSK_EXPECT_EQ(tsk_chan_destroy(c[i]), 0);
	}

	for (i = 0; i < 20; i++) {
		big[i] = mkchan("fair20", TSK_UNBOUNDED);
		bcs[i] = (tsk_case){big[i], TSK_RECV, &v, 0};
		for (rc = 0; rc < 400; rc++)
			TSK_EXPECT_EQ(tsk_chan_try_send(big[i], &v), 0);
	}
	for (i = 0; i < 2000; i++) {
		rc = tsk_select(bcs, 20, TSK_FOREVER);
		if (rc < 0 || rc >= 20) {
			TSK_EXPECT(rc >= 0 && rc < 20);
			break;
		}
		big_count[rc]++;
	}
	for (i = 0; i < 20; i++) {
		TSK_EXPECT(big_count[i] > 2000 / 20 / 3);
		TSK_EXPECT_EQ(tsk_chan_destroy(big[i]), 0);
	}
	return NULL;
}

static void test_fair_ready(void **state)
{
	(void)state;
	TSK_RUN(fair_ready_root, NULL, 1);
}

typedef struct feeder {
	tsk_chan *c;       /* rendezvous channel it feeds */
	atomic_bool *stop; /* set when the consumer is done */
} feeder;

static void *feed_task(void *p)
{
	feeder *f = p;
	int v = 1;

	while (!atomic_load(f->stop))
		if (tsk_chan_send(f->c, &v, tsk_after_ms(5)) == -EPIPE)
			break;
	return NULL;
}

/* Busy producers on every channel (rendezvous and buffered): no case
 * starves. */
static void *fair_busy_root(void *p)
{
	long n = tsk_test_scale(2400), i, count[FAIR_CHANS] = {0};
	feeder f[FAIR_CHANS];
	tsk_task *t[FAIR_CHANS];
	tsk_case cs[FAIR_CHANS];
	atomic_bool stop = false;
	int v, rc;

	(void)p;
	for (i = 0; i < FAIR_CHANS; i++) {
		f[i] = (feeder){mkchan("busy", i % 2 ? 2 : 0), &stop};
		cs[i] = (tsk_case){f[i].c, TSK_RECV, &v, 0};
		t[i] = spawn("feeder", feed_task, &f[i]);
	}
	for (i = 0; i < n; i++) {
		rc = tsk_select(cs, FAIR_CHANS, tsk_after_ms(10000));
		if (rc < 0 || rc >= FAIR_CHANS) {
			TSK_EXPECT(rc >= 0 && rc < FAIR_CHANS);
			break;
		}
		count[rc]++;
		/* Let every feeder catch up now and then: this measures select,
		 * not how soon the scheduler runs a feeder this select woke (a
		 * consumer that only yields leaves that to the scheduler; see the
		 * report on runnext placement). */
		if (i % 8 == 7)
			TSK_EXPECT_EQ(tsk_sleep(tsk_after_ms(1)), 0);
	}
	atomic_store(&stop, true);
	if (getenv("TSK_TEST_VERBOSE"))
		fprintf(stderr, "fair_busy: %ld %ld %ld %ld\n", count[0], count[1], count[2],
		        count[3]);
	for (i = 0; i < FAIR_CHANS; i++)
		TSK_EXPECT_EQ(tsk_chan_close(f[i].c), 0);
	for (i = 0; i < FAIR_CHANS; i++) {
		join(t[i]);
		/* per catch-up a rendezvous feeder offers 1, a buffered one 3:
		 * n/8 and 3n/8 expected; below n/16 a case starved */
		TSK_EXPECT(count[i] > n / FAIR_CHANS / 4);
		TSK_EXPECT_EQ(tsk_chan_destroy(f[i].c), 0);
	}
	return NULL;
}

static void test_fair_busy(void **state)
{
	(void)state;
	TSK_RUN(fair_busy_root, NULL, 2);
}

/* ---- stress: selects racing timeouts and cancels ------------------------------------------ */

#define SS_CHANS     3
#define SS_PRODUCERS 4
#define SS_CONSUMERS 3

typedef struct sstress {
	tsk_chan *chans[SS_CHANS]; /* rendezvous, capacity 4, capacity 1 */
	long per;                  /* ids per producer */
	atomic_uchar *seen;        /* times each id was received */
	atomic_long received;      /* total received */
	atomic_int producing;      /* producers still running */
	atomic_long victims;       /* victim tasks spawned */
	atomic_long victim_got;    /* ids received by victims */
	atomic_bool flush;         /* relays: stop taking, hand on what you hold */
	atomic_long relayed;       /* ids passed on by relays */
} sstress;

typedef struct ss_arg {
	sstress *s; /* shared state */
	int id;     /* task number */
} ss_arg;

static int64_t short_deadline(unsigned *seed)
{
	*seed = *seed * 1103515245u + 12345u;
	return tsk_now() + (int64_t)((*seed >> 8) % 2000) * 1000;
}

/* Records one received id; false when it is out of range. */
static bool ss_record(sstress *s, long v)
{
	if (v < 0 || v >= s->per * SS_PRODUCERS) {
		TSK_EXPECT(v >= 0 && v < s->per * SS_PRODUCERS);
		return false;
	}
	atomic_fetch_add_explicit(&s->seen[v], 1, memory_order_relaxed);
	atomic_fetch_add(&s->received, 1);
	return true;
}

/* Producers 0..2 select over every channel; producer 3 uses plain sends,
 * so select waiters also meet tsk_chan_send/recv peers. */
static void *ss_producer(void *p)
{
	ss_arg *a = p;
	sstress *s = a->s;
	unsigned seed = (unsigned)a->id * 7919u + 1;
	tsk_case cs[SS_CHANS];
	long j, v;
	int i, rc;

	for (i = 0; i < SS_CHANS; i++)
		cs[i] = (tsk_case){s->chans[i], TSK_SEND, &v, 0};
	for (j = 0; j < s->per; j++) {
		v = (long)a->id * s->per + j;
		do {
			if (a->id == SS_PRODUCERS - 1)
				rc = tsk_chan_send(s->chans[j % SS_CHANS], &v,
				                   short_deadline(&seed));
			else
				rc = tsk_select(cs, SS_CHANS, short_deadline(&seed));
		} while (rc == -ETIMEDOUT);
		if (rc < 0 || (a->id != SS_PRODUCERS - 1 && cs[rc].result != 0)) {
			TSK_EXPECT(rc >= 0 && (a->id == SS_PRODUCERS - 1 || cs[rc].result == 0));
			break;
		}
	}
	atomic_fetch_sub(&s->producing, 1);
	return NULL;
}

/* Consumers select-receive with short deadlines until every channel is
 * closed and drained; -EPIPE retires a case. */
static void *ss_consumer(void *p)
{
	ss_arg *a = p;
	sstress *s = a->s;
	unsigned seed = (unsigned)a->id * 104729u + 3;
	tsk_case cs[SS_CHANS];
	int i, rc, open = SS_CHANS;
	long v;

	for (i = 0; i < SS_CHANS; i++)
		cs[i] = (tsk_case){s->chans[i], TSK_RECV, &v, 0};
	while (open > 0) {
		rc = tsk_select(cs, SS_CHANS, short_deadline(&seed));
		if (rc == -ETIMEDOUT)
			continue;
		if (rc < 0) {
			TSK_EXPECT_EQ(rc, 0);
			break;
		}
		if (cs[rc].result == -EPIPE) {
			cs[rc].chan = NULL;
			open--;
			continue;
		}
		TSK_EXPECT_EQ(cs[rc].result, 0);
		ss_record(s, v);
	}
	return NULL;
}

/* Victims select forever until cancelled; whatever they got counts. */
static void *ss_victim(void *p)
{
	sstress *s = p;
	tsk_case cs[SS_CHANS];
	int i, rc, open = SS_CHANS;
	long v;

	for (i = 0; i < SS_CHANS; i++)
		cs[i] = (tsk_case){s->chans[i], TSK_RECV, &v, 0};
	while (open > 0) {
		rc = tsk_select(cs, SS_CHANS, TSK_FOREVER);
		if (rc == -ECANCELED)
			break;
		if (rc < 0) {
			TSK_EXPECT_EQ(rc, -ECANCELED);
			break;
		}
		if (cs[rc].result == -EPIPE) {
			cs[rc].chan = NULL;
			open--;
			continue;
		}
		if (ss_record(s, v))
			atomic_fetch_add(&s->victim_got, 1);
	}
	return NULL;
}

#define SS_RELAYS     2
#define SS_RELAY_HOLD 4 /* ids a relay holds at most */

/* Relays take ids from a channel and put them back on the same channel,
 * in one select with a receive and a send case on that channel (the
 * rendezvous or the capacity-1 one), so a select's own waiters sit in
 * both queues of a channel while peers race them; they never see their
 * own send.  Consumers count the ids, relays only move them. */
static void *ss_relay(void *p)
{
	ss_arg *a = p;
	sstress *s = a->s;
	unsigned seed = (unsigned)a->id * 31u + 5;
	long held[SS_RELAY_HOLD], in, n = 0;
	tsk_case cs[2];
	tsk_chan *c;
	int rc;

	for (long k = 0;; k++) {
		bool flush = atomic_load(&s->flush);

		if (flush && n == 0)
			break;
		c = s->chans[k % 2 ? 2 : 0];
		cs[0] = (tsk_case){!flush && n < SS_RELAY_HOLD ? c : NULL, TSK_RECV, &in, 0};
		cs[1] = (tsk_case){n > 0 ? c : NULL, TSK_SEND, n > 0 ? &held[n - 1] : NULL, 0};
		rc = tsk_select(cs, 2, short_deadline(&seed));
		if (rc == -ETIMEDOUT)
			continue;
		if (rc < 0 || cs[rc].result != 0) {
			TSK_EXPECT(rc >= 0 && cs[rc].result == 0);
			break;
		}
		if (rc == 0) {
			held[n++] = in;
		} else {
			n--;
			atomic_fetch_add(&s->relayed, 1);
		}
	}
	TSK_EXPECT_EQ(n, 0);
	return NULL;
}

static void *ss_root(void *p)
{
	sstress *s = p;
	ss_arg pa[SS_PRODUCERS], ca[SS_CONSUMERS];
	tsk_task *pt[SS_PRODUCERS], *ct[SS_CONSUMERS], *rt[SS_RELAYS], *vt;
	ss_arg ra[SS_RELAYS];
	long i, total = s->per * SS_PRODUCERS, bad = 0;
	unsigned seed = 42;
	const size_t caps[SS_CHANS] = {0, 4, 1};

	for (i = 0; i < SS_CHANS; i++) {
		TSK_EXPECT_EQ(tsk_chan_create(&s->chans[i], "sstress", sizeof(long), caps[i]), 0);
	}
	atomic_init(&s->producing, SS_PRODUCERS);
	for (i = 0; i < SS_CONSUMERS; i++) {
		ca[i] = (ss_arg){s, (int)i};
		ct[i] = spawn("consumer", ss_consumer, &ca[i]);
	}
	for (i = 0; i < SS_RELAYS; i++) {
		ra[i] = (ss_arg){s, (int)i};
		rt[i] = spawn("relay", ss_relay, &ra[i]);
	}
	for (i = 0; i < SS_PRODUCERS; i++) {
		pa[i] = (ss_arg){s, (int)i};
		pt[i] = spawn("producer", ss_producer, &pa[i]);
	}
	/* cancel victims at random points of their selects */
	while (atomic_load(&s->producing) > 0) {
		vt = spawn("victim", ss_victim, s);
		atomic_fetch_add(&s->victims, 1);
		tsk_sleep(short_deadline(&seed));
		TSK_EXPECT_EQ(tsk_cancel(vt), 0);
		join(vt);
	}
	for (i = 0; i < SS_PRODUCERS; i++)
		join(pt[i]);
	atomic_store(&s->flush, true);
	for (i = 0; i < SS_RELAYS; i++)
		join(rt[i]);
	for (i = 0; i < SS_CHANS; i++)
		TSK_EXPECT_EQ(tsk_chan_close(s->chans[i]), 0);
	for (i = 0; i < SS_CONSUMERS; i++)
		join(ct[i]);
	TSK_EXPECT_EQ(atomic_load(&s->received), total);
	for (i = 0; i < total; i++)
		if (atomic_load_explicit(&s->seen[i], memory_order_relaxed) != 1)
			bad++;
	TSK_EXPECT_EQ(bad, 0);
	TSK_EXPECT(atomic_load(&s->victims) > 0);
	for (i = 0; i < SS_CHANS; i++) {
		TSK_EXPECT_EQ(nwait(s->chans[i]), 0);
		TSK_EXPECT_EQ(tsk_chan_destroy(s->chans[i]), 0);
	}
	return NULL;
}

static void run_sstress(int workers)
{
	sstress *s = calloc(1, sizeof(*s));

	assert_non_null(s);
	s->per = tsk_test_scale(100000);
	s->seen = calloc((size_t)(s->per * SS_PRODUCERS), sizeof(*s->seen));
	assert_non_null(s->seen);
	TSK_RUN(ss_root, s, workers);
	print_message(
	        "select stress (%d workers): %ld messages, %ld relayed, %ld victims got %ld\n",
	        workers, s->per * SS_PRODUCERS, atomic_load(&s->relayed), atomic_load(&s->victims),
	        atomic_load(&s->victim_got));
	free(s->seen);
	free(s);
}

static void test_stress_2_workers(void **state)
{
	(void)state;
	run_sstress(2);
}

static void test_stress_4_workers(void **state)
{
	(void)state;
	run_sstress(4);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test_teardown(test_args, teardown_no_leak),
	        cmocka_unit_test_teardown(test_ready, teardown_no_leak),
	        cmocka_unit_test_teardown(test_wake, teardown_no_leak),
	        cmocka_unit_test_teardown(test_same_channel, teardown_no_leak),
	        cmocka_unit_test_teardown(test_closed, teardown_no_leak),
	        cmocka_unit_test_teardown(test_timeout, teardown_no_leak),
	        cmocka_unit_test_teardown(test_cancel, teardown_no_leak),
	        cmocka_unit_test_teardown(test_many_cases, teardown_no_leak),
	        cmocka_unit_test_teardown(test_window, teardown_no_leak),
	        cmocka_unit_test_teardown(test_fair_ready, teardown_no_leak),
	        cmocka_unit_test_teardown(test_fair_busy, teardown_no_leak),
	        cmocka_unit_test_teardown(test_stress_2_workers, teardown_no_leak),
	        cmocka_unit_test_teardown(test_stress_4_workers, teardown_no_leak),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
