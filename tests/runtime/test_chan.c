/*
 * test_chan.c - cmocka tests of runtime/src/chan.c (tsk_chan_*).
 *
 * Covers every call's success and error paths: argument checks, calls from
 * outside a task, rendezvous and bounded hand-offs (both directions, FIFO),
 * unbounded growth (1M elements, wrapped rings, allocation failure), close
 * waking blocked senders and receivers, draining after close, deadlines,
 * cancellation, destroy while waited on, and two stress tests where every
 * message must arrive exactly once (blocking, and racing short deadlines).
 *
 * Inside tasks only TSK_EXPECT* (see tsk_test.h).  Each test's teardown
 * checks that every channel it created was destroyed (chan__live), and the
 * waiter counts (nwait) show that no wait left a waiter behind.
 */
#include <errno.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "chan_int.h"
#include "chan_test.h"
#include "tsk_segment.h"
#include "tsk_test.h"

/* One blocking operation run by a helper task. */
typedef struct op_arg {
	tsk_chan *c;      /* channel */
	int val;          /* element sent, or received */
	int64_t deadline; /* deadline of the call */
	int rc;           /* its return code */
	atomic_bool done; /* the call returned */
} op_arg;

static void *send_task(void *p)
{
	op_arg *a = p;

	a->rc = tsk_chan_send(a->c, &a->val, a->deadline);
	atomic_store(&a->done, true);
	return NULL;
}

static void *recv_task(void *p)
{
	op_arg *a = p;

	a->rc = tsk_chan_recv(a->c, &a->val, a->deadline);
	atomic_store(&a->done, true);
	return NULL;
}

/* ---- arguments and calls outside tasks ------------------------------- */

static void *fail_alloc(void *old, size_t size)
{
	(void)old;
	(void)size;
	return NULL;
}

static int allocs_left; /* allocations count_alloc lets through */

static void *count_alloc(void *old, size_t size)
{
	if (allocs_left-- <= 0)
		return NULL;
	return realloc(old, size);
}

static void test_create_args(void **state)
{
	tsk_chan *c = NULL;
	char long_name[200];
	int line;

	(void)state;
	assert_int_equal(tsk_chan_create(NULL, "x", 4, 1), -EINVAL);
	assert_int_equal(tsk_chan_create(&c, "x", 0, 1), -EINVAL);
	assert_int_equal(tsk_chan_create(&c, "x", 65537, 1), -EINVAL);
	assert_int_equal(tsk_chan_create(&c, "x", 16, SIZE_MAX / 2), -ENOMEM);
	assert_null(c);

	assert_int_equal(tsk_chan_create(&c, "big", 65536, 2), 0);
	assert_int_equal(tsk_chan_cap(c), 2);
	assert_int_equal(tsk_chan_destroy(c), 0);

	line = __LINE__ + 1;
	assert_int_equal(tsk_chan_create(&c, NULL, 4, 0), 0);
	assert_string_equal(c->name, "chan");
	assert_non_null(c->site);
	assert_int_equal(c->site->line, line);
	assert_string_equal(c->site->func, "test_create_args");
	assert_int_equal(tsk_chan_cap(c), 0);
	assert_int_equal(tsk_chan_len(c), 0);
	assert_true(c->res.id != 0); /* registered with the flight recorder */
	assert_int_equal(c->res.kind, TSK_RES_CHAN);
	assert_int_equal(tsk_chan_destroy(c), 0);

	memset(long_name, 'n', sizeof(long_name) - 1);
	long_name[sizeof(long_name) - 1] = '\0';
	assert_int_equal((tsk_chan_create)(&c, long_name, 4, TSK_UNBOUNDED), 0);
	assert_null(c->site);
	assert_int_equal(strlen(c->name), RT_NAME_MAX - 1);
	assert_int_equal(tsk_chan_cap(c), TSK_UNBOUNDED);
	assert_int_equal(tsk_chan_destroy(c), 0);

	assert_int_equal(tsk_chan_destroy(NULL), 0);
	assert_int_equal(tsk_chan_len(NULL), 0);
	assert_int_equal(tsk_chan_cap(NULL), 0);

	/* allocation failure: the struct, then the bounded ring */
	chan__alloc_hook = fail_alloc;
	assert_int_equal(tsk_chan_create(&c, "x", 4, 8), -ENOMEM);
	chan__alloc_hook = count_alloc;
	allocs_left = 1;
	assert_int_equal(tsk_chan_create(&c, "x", 4, 8), -ENOMEM);
	allocs_left = 2;
	assert_int_equal(tsk_chan_create(&c, "x", 4, 8), 0);
	chan__alloc_hook = NULL;
	assert_int_equal(tsk_chan_destroy(c), 0);
}

static void test_null_args(void **state)
{
	tsk_chan *c;
	int v = 0;

	(void)state;
	assert_int_equal(tsk_chan_create(&c, "c", sizeof(int), 1), 0);
	assert_int_equal(tsk_chan_send(NULL, &v, TSK_FOREVER), -EINVAL);
	assert_int_equal(tsk_chan_send(c, NULL, TSK_FOREVER), -EINVAL);
	assert_int_equal(tsk_chan_recv(NULL, &v, TSK_FOREVER), -EINVAL);
	assert_int_equal(tsk_chan_recv(c, NULL, TSK_FOREVER), -EINVAL);
	assert_int_equal(tsk_chan_try_send(NULL, &v), -EINVAL);
	assert_int_equal(tsk_chan_try_send(c, NULL), -EINVAL);
	assert_int_equal(tsk_chan_try_recv(NULL, &v), -EINVAL);
	assert_int_equal(tsk_chan_try_recv(c, NULL), -EINVAL);
	assert_int_equal(tsk_chan_close(NULL), -EINVAL);
	assert_int_equal(tsk_chan_len(c), 0);
	assert_int_equal(tsk_chan_destroy(c), 0);
}

/* Outside any task: what completes at once works, what would block is
 * -EPERM, close and drain work. */
static void test_outside_task(void **state)
{
	tsk_chan *b, *r;
	int v;

	(void)state;
	assert_int_equal(tsk_chan_create(&b, "bounded", sizeof(int), 2), 0);
	v = 1;
	assert_int_equal((tsk_chan_send)(b, &v, TSK_FOREVER), 0); /* the function, no site */
	v = 2;
	assert_int_equal(tsk_chan_try_send(b, &v), 0);
	assert_int_equal(tsk_chan_len(b), 2);
	v = 3;
	assert_int_equal(tsk_chan_try_send(b, &v), -EAGAIN);
	assert_int_equal(tsk_chan_send(b, &v, TSK_FOREVER), -EPERM);
	assert_int_equal(tsk_chan_send(b, &v, tsk_after_ms(10)), -EPERM);
	assert_int_equal(tsk_chan_len(b), 2);
	assert_int_equal((tsk_chan_recv)(b, &v, TSK_FOREVER), 0);
	assert_int_equal(v, 1);
	assert_int_equal(tsk_chan_try_recv(b, &v), 0);
	assert_int_equal(v, 2);
	assert_int_equal(tsk_chan_try_recv(b, &v), -EAGAIN);
	assert_int_equal(tsk_chan_recv(b, &v, TSK_FOREVER), -EPERM);

	/* close with one element buffered: it drains, then -EPIPE */
	v = 9;
	assert_int_equal(tsk_chan_send(b, &v, 0), 0); /* past deadline, completes */
	assert_int_equal(tsk_chan_close(b), 0);
	assert_int_equal(tsk_chan_close(b), -EPIPE);
	assert_int_equal(tsk_chan_send(b, &v, TSK_FOREVER), -EPIPE);
	assert_int_equal(tsk_chan_try_send(b, &v), -EPIPE);
	v = 0;
	assert_int_equal(tsk_chan_recv(b, &v, TSK_FOREVER), 0);
	assert_int_equal(v, 9);
	assert_int_equal(tsk_chan_recv(b, &v, TSK_FOREVER), -EPIPE);
	assert_int_equal(tsk_chan_try_recv(b, &v), -EPIPE);
	assert_int_equal(tsk_chan_destroy(b), 0);

	assert_int_equal(tsk_chan_create(&r, "rendezvous", sizeof(int), 0), 0);
	assert_int_equal(tsk_chan_try_send(r, &v), -EAGAIN);
	assert_int_equal(tsk_chan_try_recv(r, &v), -EAGAIN);
	assert_int_equal(tsk_chan_send(r, &v, TSK_FOREVER), -EPERM);
	assert_int_equal(tsk_chan_recv(r, &v, TSK_FOREVER), -EPERM);
	assert_int_equal(tsk_chan_close(r), 0);
	assert_int_equal(tsk_chan_send(r, &v, TSK_FOREVER), -EPIPE);
	assert_int_equal(tsk_chan_recv(r, &v, TSK_FOREVER), -EPIPE);
	assert_int_equal(tsk_chan_destroy(r), 0);
}

/* ---- rendezvous ------------------------------------------------------- */

#define RV_N 2000

static void *rv_consumer(void *p)
{
	tsk_chan *c = p;
	int i, v;

	/* arrive late: the first send must wait for us */
	tsk_sleep(tsk_after_ms(30));
	for (i = 0; i < RV_N; i++) {
		v = -1;
		TSK_EXPECT_EQ(tsk_chan_recv(c, &v, TSK_FOREVER), 0);
		TSK_EXPECT_EQ(v, i);
	}
	return NULL;
}

static void *rv_root(void *p)
{
	tsk_chan *c;
	op_arg a = {0};
	int64_t t0 = tsk_now();
	tsk_task *t;
	int i;

	(void)p;
	TSK_EXPECT_EQ(tsk_chan_create(&c, "rv", sizeof(int), 0), 0);
	t = spawn("consumer", rv_consumer, c);
	for (i = 0; i < RV_N; i++) {
		TSK_EXPECT_EQ(tsk_chan_send(c, &i, TSK_FOREVER), 0);
		if (i == 0)
			TSK_EXPECT(tsk_now() - t0 >= 30 * MS); /* waited for the receiver */
		TSK_EXPECT_EQ(tsk_chan_len(c), 0);
	}
	join(t);

	/* receiver first: the sender copies straight into its buffer */
	a.c = c;
	a.deadline = TSK_FOREVER;
	t = spawn("receiver", recv_task, &a);
	await_nwait(c, 1);
	i = 4242;
	TSK_EXPECT_EQ(tsk_chan_try_send(c, &i), 0);
	join(t);
	TSK_EXPECT_EQ(a.rc, 0);
	TSK_EXPECT_EQ(a.val, 4242);

	/* sender first, try_recv takes from it */
	a.val = 77;
	t = spawn("sender", send_task, &a);
	await_nwait(c, 1);
	TSK_EXPECT_EQ(tsk_chan_try_recv(c, &i), 0);
	TSK_EXPECT_EQ(i, 77);
	join(t);
	TSK_EXPECT_EQ(a.rc, 0);
	TSK_EXPECT_EQ(nwait(c), 0);
	TSK_EXPECT_EQ(tsk_chan_destroy(c), 0);
	return NULL;
}

static void test_rendezvous(void **state)
{
	(void)state;
	TSK_RUN(rv_root, NULL, 2);
}

/* ---- bounded ----------------------------------------------------------- */

static void *bounded_root(void *p)
{
	tsk_chan *c;
	op_arg s[3], r = {0};
	tsk_task *ts[3], *t;
	int i, v;

	(void)p;
	TSK_EXPECT_EQ(tsk_chan_create(&c, "bounded", sizeof(int), 4), 0);
	for (i = 0; i < 4; i++)
		TSK_EXPECT_EQ(tsk_chan_try_send(c, &i), 0);
	TSK_EXPECT_EQ(tsk_chan_try_send(c, &i), -EAGAIN);
	TSK_EXPECT_EQ(tsk_chan_len(c), 4);
	TSK_EXPECT_EQ(tsk_chan_cap(c), 4);

	/* three senders block on the full channel, in a known order */
	for (i = 0; i < 3; i++) {
		memset(&s[i], 0, sizeof(s[i]));
		s[i].c = c;
		s[i].val = 100 + i;
		s[i].deadline = TSK_FOREVER;
		ts[i] = spawn("sender", send_task, &s[i]);
		await_nwait(c, (size_t)i + 1);
	}
	TSK_EXPECT(!atomic_load(&s[0].done));
	/* each receive frees a slot that the first waiting sender fills */
	for (i = 0; i < 4; i++) {
		TSK_EXPECT_EQ(tsk_chan_recv(c, &v, TSK_FOREVER), 0);
		TSK_EXPECT_EQ(v, i);
		TSK_EXPECT_EQ(tsk_chan_len(c), 4 - (i >= 3));
	}
	for (i = 0; i < 3; i++) {
		join(ts[i]);
		TSK_EXPECT_EQ(s[i].rc, 0);
	}
	for (i = 0; i < 3; i++) {
		TSK_EXPECT_EQ(tsk_chan_recv(c, &v, TSK_FOREVER), 0);
		TSK_EXPECT_EQ(v, 100 + i);
	}
	TSK_EXPECT_EQ(tsk_chan_len(c), 0);
	TSK_EXPECT_EQ(tsk_chan_try_recv(c, &v), -EAGAIN);

	/* a receiver blocks on the empty channel; a send hands off directly */
	r.c = c;
	r.deadline = TSK_FOREVER;
	t = spawn("receiver", recv_task, &r);
	await_nwait(c, 1);
	TSK_EXPECT(!atomic_load(&r.done));
	v = 55;
	TSK_EXPECT_EQ(tsk_chan_send(c, &v, TSK_FOREVER), 0);
	join(t);
	TSK_EXPECT_EQ(r.rc, 0);
	TSK_EXPECT_EQ(r.val, 55);
	TSK_EXPECT_EQ(tsk_chan_len(c), 0);
	TSK_EXPECT_EQ(tsk_chan_destroy(c), 0);
	return NULL;
}

static void test_bounded(void **state)
{
	(void)state;
	TSK_RUN(bounded_root, NULL, 2);
}

/* ---- unbounded ------------------------------------------------------------ */

static void *unbounded_root(void *p)
{
	long n = tsk_test_scale(1000000), i, next = 0, sent = 0;
	tsk_chan *c;
	op_arg r = {0};
	tsk_task *t;
	long v;

	(void)p;
	TSK_EXPECT_EQ(tsk_chan_create(&c, "unbounded", sizeof(long), TSK_UNBOUNDED), 0);
	/* wrapped rings grow: keep the head moving while the ring fills */
	for (i = 0; i < 1000; i++) {
		TSK_EXPECT_EQ(tsk_chan_try_send(c, &sent), 0);
		sent++;
		if (i % 3 == 2) {
			TSK_EXPECT_EQ(tsk_chan_try_recv(c, &v), 0);
			TSK_EXPECT_EQ(v, next);
			next++;
		}
	}
	TSK_EXPECT_EQ(tsk_chan_len(c), (size_t)(sent - next));
	/* a million more without ever blocking */
	for (i = 0; i < n; i++) {
		TSK_EXPECT_EQ(tsk_chan_send(c, &sent, TSK_FOREVER), 0);
		sent++;
	}
	TSK_EXPECT_EQ(tsk_chan_len(c), (size_t)(sent - next));
	while (next < sent) {
		TSK_EXPECT_EQ(tsk_chan_recv(c, &v, TSK_FOREVER), 0);
		if (v != next) {
			TSK_EXPECT_EQ(v, next);
			break;
		}
		next++;
	}
	TSK_EXPECT_EQ(tsk_chan_len(c), 0);
	TSK_EXPECT_EQ(tsk_chan_try_recv(c, &v), -EAGAIN);

	/* a blocked receiver gets the element directly */
	r.c = c;
	r.deadline = TSK_FOREVER;
	t = spawn("receiver", recv_task, &r);
	await_nwait(c, 1);
	v = 31337;
	TSK_EXPECT_EQ(tsk_chan_try_send(c, &v), 0);
	join(t);
	TSK_EXPECT_EQ(r.rc, 0);
	TSK_EXPECT_EQ(r.val, 31337);
	TSK_EXPECT_EQ(tsk_chan_len(c), 0);
	TSK_EXPECT_EQ(tsk_chan_destroy(c), 0);
	return NULL;
}

static void test_unbounded(void **state)
{
	(void)state;
	TSK_RUN(unbounded_root, NULL, 2);
}

/* Growth failure leaves the channel as it was; one worker and one task, so
 * the hook affects nobody else. */
static void *enomem_root(void *p)
{
	tsk_chan *c;
	int i, v;

	(void)p;
	TSK_EXPECT_EQ(tsk_chan_create(&c, "unbounded", sizeof(int), TSK_UNBOUNDED), 0);
	chan__alloc_hook = fail_alloc;
	v = 1;
	TSK_EXPECT_EQ(tsk_chan_send(c, &v, TSK_FOREVER), -ENOMEM); /* first ring */
	TSK_EXPECT_EQ(tsk_chan_len(c), 0);
	chan__alloc_hook = NULL;
	for (i = 0; i < 16; i++) /* fills the first ring (16 slots) exactly */
		TSK_EXPECT_EQ(tsk_chan_send(c, &i, TSK_FOREVER), 0);
	TSK_EXPECT_EQ(tsk_chan_try_recv(c, &v), 0); /* move the head: a wrapped ring */
	TSK_EXPECT_EQ(v, 0);
	v = 16;
	TSK_EXPECT_EQ(tsk_chan_try_send(c, &v), 0);
	chan__alloc_hook = fail_alloc;
	v = 17;
	TSK_EXPECT_EQ(tsk_chan_try_send(c, &v), -ENOMEM);
	TSK_EXPECT_EQ(tsk_chan_send(c, &v, TSK_FOREVER), -ENOMEM);
	TSK_EXPECT_EQ(tsk_chan_len(c), 16);
	chan__alloc_hook = NULL;
	TSK_EXPECT_EQ(tsk_chan_send(c, &v, TSK_FOREVER), 0); /* grows now */
	for (i = 1; i <= 17; i++) {
		TSK_EXPECT_EQ(tsk_chan_try_recv(c, &v), 0);
		TSK_EXPECT_EQ(v, i);
	}
	TSK_EXPECT_EQ(tsk_chan_try_recv(c, &v), -EAGAIN);
	TSK_EXPECT_EQ(tsk_chan_destroy(c), 0);
	return NULL;
}

static void test_unbounded_enomem(void **state)
{
	(void)state;
	TSK_RUN(enomem_root, NULL, 1);
}

/* ---- close ----------------------------------------------------------------- */

static void *close_root(void *p)
{
	tsk_chan *rv, *b;
	op_arg a[6];
	tsk_task *t[6];
	int i, v;

	(void)p;
	TSK_EXPECT_EQ(tsk_chan_create(&rv, "rv", sizeof(int), 0), 0);
	TSK_EXPECT_EQ(tsk_chan_create(&b, "bounded", sizeof(int), 2), 0);
	/* three receivers wait on the rendezvous, three senders on full b */
	for (i = 0; i < 2; i++)
		TSK_EXPECT_EQ(tsk_chan_try_send(b, &i), 0);
	for (i = 0; i < 6; i++) {
		memset(&a[i], 0, sizeof(a[i]));
		a[i].c = i < 3 ? rv : b;
		a[i].val = 10 + i;
		a[i].deadline = TSK_FOREVER;
		t[i] = spawn("waiter", i < 3 ? recv_task : send_task, &a[i]);
	}
	await_nwait(rv, 3);
	await_nwait(b, 3);
	TSK_EXPECT_EQ(tsk_chan_close(rv), 0);
	TSK_EXPECT_EQ(tsk_chan_close(b), 0);
	TSK_EXPECT_EQ(tsk_chan_close(b), -EPIPE);
	for (i = 0; i < 6; i++) {
		join(t[i]);
		TSK_EXPECT_EQ(a[i].rc, -EPIPE);
	}
	TSK_EXPECT_EQ(nwait(rv), 0);
	TSK_EXPECT_EQ(nwait(b), 0);
	/* the buffered elements survive close and drain in order */
	TSK_EXPECT_EQ(tsk_chan_len(b), 2);
	v = 5;
	TSK_EXPECT_EQ(tsk_chan_send(b, &v, TSK_FOREVER), -EPIPE);
	for (i = 0; i < 2; i++) {
		TSK_EXPECT_EQ(tsk_chan_recv(b, &v, TSK_FOREVER), 0);
		TSK_EXPECT_EQ(v, i);
	}
	TSK_EXPECT_EQ(tsk_chan_recv(b, &v, TSK_FOREVER), -EPIPE);
	TSK_EXPECT_EQ(tsk_chan_recv(rv, &v, TSK_FOREVER), -EPIPE);
	TSK_EXPECT_EQ(tsk_chan_send(rv, &v, TSK_FOREVER), -EPIPE);
	TSK_EXPECT_EQ(tsk_chan_destroy(rv), 0);
	TSK_EXPECT_EQ(tsk_chan_destroy(b), 0);
	return NULL;
}

static void test_close(void **state)
{
	(void)state;
	TSK_RUN(close_root, NULL, 2);
}

/* ---- deadlines --------------------------------------------------------------- */

/* Runs one call that must time out after `ms` and checks the elapsed time. */
#define EXPECT_TIMEOUT(call, ms)                                                                   \
	do {                                                                                       \
		int64_t t0_ = tsk_now(), el_;                                                      \
		TSK_EXPECT_EQ((call), -ETIMEDOUT);                                                 \
		el_ = tsk_now() - t0_;                                                             \
		TSK_EXPECT(el_ >= (ms)*MS);                                                        \
		TSK_EXPECT(el_ < ((ms) + 1000) * MS);                                              \
	} while (0)

static void *timeout_root(void *p)
{
	tsk_chan *b, *rv, *u;
	int v = 1;
	int64_t t0;

	(void)p;
	TSK_EXPECT_EQ(tsk_chan_create(&b, "bounded", sizeof(int), 1), 0);
	TSK_EXPECT_EQ(tsk_chan_create(&rv, "rv", sizeof(int), 0), 0);
	TSK_EXPECT_EQ(tsk_chan_create(&u, "unbounded", sizeof(int), TSK_UNBOUNDED), 0);

	EXPECT_TIMEOUT(tsk_chan_recv(b, &v, tsk_after_ms(50)), 50);
	EXPECT_TIMEOUT(tsk_chan_recv(u, &v, tsk_after_ms(30)), 30);
	EXPECT_TIMEOUT(tsk_chan_recv(rv, &v, tsk_after_ms(30)), 30);
	EXPECT_TIMEOUT(tsk_chan_send(rv, &v, tsk_after_ms(30)), 30);
	TSK_EXPECT_EQ(tsk_chan_send(b, &v, tsk_after_ms(30)), 0);
	EXPECT_TIMEOUT(tsk_chan_send(b, &v, tsk_after_ms(50)), 50);
	TSK_EXPECT_EQ(nwait(b), 0);
	TSK_EXPECT_EQ(nwait(rv), 0);
	TSK_EXPECT_EQ(nwait(u), 0);
	TSK_EXPECT_EQ(tsk_chan_len(b), 1);

	/* a deadline already past: immediate -ETIMEDOUT, unless it completes */
	t0 = tsk_now();
	TSK_EXPECT_EQ(tsk_chan_send(b, &v, t0 - 1), -ETIMEDOUT);
	TSK_EXPECT_EQ(tsk_chan_recv(rv, &v, 0), -ETIMEDOUT);
	TSK_EXPECT(tsk_now() - t0 < 100 * MS);
	TSK_EXPECT_EQ(tsk_chan_recv(b, &v, 0), 0);
	TSK_EXPECT_EQ(tsk_chan_send(u, &v, 0), 0);

	TSK_EXPECT_EQ(tsk_chan_destroy(b), 0);
	TSK_EXPECT_EQ(tsk_chan_destroy(rv), 0);
	TSK_EXPECT_EQ(tsk_chan_destroy(u), 0);
	return NULL;
}

static void test_timeouts(void **state)
{
	(void)state;
	TSK_RUN(timeout_root, NULL, 2);
}

/* ---- cancellation and destroy -------------------------------------------------- */

static void *cancel_root(void *p)
{
	tsk_chan *b;
	op_arg s = {0}, r = {0};
	tsk_task *t;
	int v = 0;

	(void)p;
	TSK_EXPECT_EQ(tsk_chan_create(&b, "bounded", sizeof(int), 1), 0);
	/* a receiver blocked on the empty channel */
	r.c = b;
	r.deadline = TSK_FOREVER;
	t = spawn("receiver", recv_task, &r);
	await_nwait(b, 1);
	TSK_EXPECT_EQ(tsk_cancel(t), 0);
	join(t);
	TSK_EXPECT_EQ(r.rc, -ECANCELED);
	TSK_EXPECT_EQ(nwait(b), 0);

	/* a sender blocked on the full channel, with a deadline too */
	TSK_EXPECT_EQ(tsk_chan_try_send(b, &v), 0);
	s.c = b;
	s.val = 8;
	s.deadline = tsk_after_ms(60000);
	t = spawn("sender", send_task, &s);
	await_nwait(b, 1);
	TSK_EXPECT_EQ(tsk_cancel(t), 0);
	join(t);
	TSK_EXPECT_EQ(s.rc, -ECANCELED);
	TSK_EXPECT_EQ(nwait(b), 0);
	TSK_EXPECT_EQ(tsk_chan_len(b), 1);
	TSK_EXPECT_EQ(tsk_chan_try_recv(b, &v), 0);
	TSK_EXPECT_EQ(v, 0); /* the cancelled sender's 8 never went in */
	TSK_EXPECT_EQ(tsk_chan_destroy(b), 0);
	return NULL;
}

static void test_cancel(void **state)
{
	(void)state;
	TSK_RUN(cancel_root, NULL, 2);
}

/* A cancelled task: what completes at once still does, waits fail. */
static void *cancelled_self(void *p)
{
	tsk_chan *b = p;
	int v = 3;

	while (!tsk_cancelled())
		tsk_sleep(tsk_after_ms(1));
	TSK_EXPECT_EQ(tsk_chan_send(b, &v, TSK_FOREVER), 0);
	TSK_EXPECT_EQ(tsk_chan_send(b, &v, TSK_FOREVER), -ECANCELED);
	TSK_EXPECT_EQ(tsk_chan_recv(b, &v, TSK_FOREVER), 0);
	TSK_EXPECT_EQ(tsk_chan_recv(b, &v, TSK_FOREVER), -ECANCELED);
	return NULL;
}

static void *cancelled_root(void *p)
{
	tsk_chan *b;
	tsk_task *t;

	(void)p;
	TSK_EXPECT_EQ(tsk_chan_create(&b, "bounded", sizeof(int), 1), 0);
	t = spawn("victim", cancelled_self, b);
	TSK_EXPECT_EQ(tsk_cancel(t), 0);
	join(t);
	TSK_EXPECT_EQ(nwait(b), 0);
	TSK_EXPECT_EQ(tsk_chan_destroy(b), 0);
	return NULL;
}

static void test_cancelled_task(void **state)
{
	(void)state;
	TSK_RUN(cancelled_root, NULL, 2);
}

static void *destroy_busy_root(void *p)
{
	tsk_chan *c;
	op_arg r = {0};
	tsk_task *t;
	int v = 12;

	(void)p;
	TSK_EXPECT_EQ(tsk_chan_create(&c, "rv", sizeof(int), 0), 0);
	r.c = c;
	r.deadline = TSK_FOREVER;
	t = spawn("receiver", recv_task, &r);
	await_nwait(c, 1);
	TSK_EXPECT_EQ(tsk_chan_destroy(c), -EBUSY);
	TSK_EXPECT_EQ(tsk_chan_send(c, &v, TSK_FOREVER), 0); /* still usable */
	join(t);
	TSK_EXPECT_EQ(r.rc, 0);
	TSK_EXPECT_EQ(r.val, 12);
	TSK_EXPECT_EQ(tsk_chan_destroy(c), 0);
	return NULL;
}

static void test_destroy_busy(void **state)
{
	(void)state;
	TSK_RUN(destroy_busy_root, NULL, 2);
}

/* ---- stress: exactly-once delivery --------------------------------------------- */

#define ST_PRODUCERS 8
#define ST_CONSUMERS 8
#define ST_CHANS     2

typedef struct stress {
	tsk_chan *chans[ST_CHANS]; /* producer p sends to p % ST_CHANS */
	atomic_int open[ST_CHANS]; /* producers still sending to each channel */
	long per;                  /* messages per producer */
	atomic_uchar *seen;        /* times each id was received */
	atomic_long received;      /* total received */
	bool timed;                /* use short deadlines and retry */
	size_t cap;                /* capacity of the channels */
} stress;

typedef struct stress_arg {
	stress *s; /* shared state */
	int id;    /* producer or consumer number */
} stress_arg;

/* A deadline of 0..2 ms from now: racing wake-ups against timers. */
static int64_t short_deadline(unsigned *seed)
{
	*seed = *seed * 1103515245u + 12345u;
	return tsk_now() + (int64_t)((*seed >> 8) % 2000) * 1000;
}

static void *stress_producer(void *p)
{
	stress_arg *a = p;
	stress *s = a->s;
	tsk_chan *c = s->chans[a->id % ST_CHANS];
	unsigned seed = (unsigned)a->id;
	long j, v;
	int rc;

	for (j = 0; j < s->per; j++) {
		v = (long)a->id * s->per + j;
		do
			rc = tsk_chan_send(c, &v, s->timed ? short_deadline(&seed) : TSK_FOREVER);
		while (rc == -ETIMEDOUT && s->timed);
		if (rc != 0) {
			TSK_EXPECT_EQ(rc, 0);
			break;
		}
	}
	if (atomic_fetch_sub(&s->open[a->id % ST_CHANS], 1) == 1)
		TSK_EXPECT_EQ(tsk_chan_close(c), 0);
	return NULL;
}

static void *stress_consumer(void *p)
{
	stress_arg *a = p;
	stress *s = a->s;
	tsk_chan *c = s->chans[a->id % ST_CHANS];
	long last[ST_PRODUCERS], v, n = 0;
	unsigned seed = (unsigned)a->id + 100;
	int rc, i;

	for (i = 0; i < ST_PRODUCERS; i++)
		last[i] = -1;
	for (;;) {
		rc = tsk_chan_recv(c, &v, s->timed ? short_deadline(&seed) : TSK_FOREVER);
		if (rc == -ETIMEDOUT && s->timed)
			continue;
		if (rc != 0)
			break;
		if (v < 0 || v >= s->per * ST_PRODUCERS) {
			TSK_EXPECT(v >= 0 && v < s->per * ST_PRODUCERS);
			continue;
		}
		atomic_fetch_add_explicit(&s->seen[v], 1, memory_order_relaxed);
		/* FIFO: one producer's ids reach any one consumer in order */
		i = (int)(v / s->per);
		TSK_EXPECT(v > last[i]);
		last[i] = v;
		n++;
	}
	TSK_EXPECT_EQ(rc, -EPIPE);
	atomic_fetch_add(&s->received, n);
	return NULL;
}

static void *stress_root(void *p)
{
	stress *s = p;
	stress_arg pa[ST_PRODUCERS], ca[ST_CONSUMERS];
	tsk_task *pt[ST_PRODUCERS], *ct[ST_CONSUMERS];
	long i, total = s->per * ST_PRODUCERS, bad = 0;

	for (i = 0; i < ST_CHANS; i++) {
		TSK_EXPECT_EQ(tsk_chan_create(&s->chans[i], "stress", sizeof(long), s->cap), 0);
		atomic_init(&s->open[i], ST_PRODUCERS / ST_CHANS);
	}
	for (i = 0; i < ST_CONSUMERS; i++) {
		ca[i] = (stress_arg){s, (int)i};
		ct[i] = spawn("consumer", stress_consumer, &ca[i]);
	}
	for (i = 0; i < ST_PRODUCERS; i++) {
		pa[i] = (stress_arg){s, (int)i};
		pt[i] = spawn("producer", stress_producer, &pa[i]);
	}
	for (i = 0; i < ST_PRODUCERS; i++)
		join(pt[i]);
	for (i = 0; i < ST_CONSUMERS; i++)
		join(ct[i]);
	TSK_EXPECT_EQ(atomic_load(&s->received), total);
	for (i = 0; i < total; i++)
		if (atomic_load_explicit(&s->seen[i], memory_order_relaxed) != 1)
			bad++;
	TSK_EXPECT_EQ(bad, 0);
	for (i = 0; i < ST_CHANS; i++) {
		TSK_EXPECT_EQ(nwait(s->chans[i]), 0);
		TSK_EXPECT_EQ(tsk_chan_destroy(s->chans[i]), 0);
	}
	return NULL;
}

static void run_stress(long messages, int workers, size_t cap, bool timed)
{
	stress *s = calloc(1, sizeof(*s));
	int64_t t0;

	assert_non_null(s);
	s->per = messages / ST_PRODUCERS;
	if (s->per < 1)
		s->per = 1;
	s->timed = timed;
	s->cap = cap;
	s->seen = calloc((size_t)(s->per * ST_PRODUCERS), sizeof(*s->seen));
	assert_non_null(s->seen);
	t0 = tsk_now();
	TSK_RUN(stress_root, s, workers);
	print_message("chan stress (%d workers, capacity %zu%s): %ld messages in %.2f s\n", workers,
	              cap, timed ? ", short deadlines" : "", atomic_load(&s->received),
	              (double)(tsk_now() - t0) / 1e9);
	free(s->seen);
	free(s);
}

static void test_stress_2_workers(void **state)
{
	(void)state;
	run_stress(tsk_test_scale(10000000), 2, 64, false);
}

static void test_stress_4_workers(void **state)
{
	(void)state;
	run_stress(tsk_test_scale(10000000), 4, 64, false);
}

/* Rendezvous channels and short deadlines on both sides: every operation
 * waits and timeouts race hand-offs, yet no message is lost or duplicated
 * (a timed-out send sent nothing, a timed-out receive took nothing). */
static void test_stress_timeouts(void **state)
{
	(void)state;
	run_stress(tsk_test_scale(400000), 2, 0, true);
	run_stress(tsk_test_scale(400000), 4, 1, true);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test_teardown(test_create_args, teardown_no_leak),
	        cmocka_unit_test_teardown(test_null_args, teardown_no_leak),
	        cmocka_unit_test_teardown(test_outside_task, teardown_no_leak),
	        cmocka_unit_test_teardown(test_rendezvous, teardown_no_leak),
	        cmocka_unit_test_teardown(test_bounded, teardown_no_leak),
	        cmocka_unit_test_teardown(test_unbounded, teardown_no_leak),
	        cmocka_unit_test_teardown(test_unbounded_enomem, teardown_no_leak),
	        cmocka_unit_test_teardown(test_close, teardown_no_leak),
	        cmocka_unit_test_teardown(test_timeouts, teardown_no_leak),
	        cmocka_unit_test_teardown(test_cancel, teardown_no_leak),
	        cmocka_unit_test_teardown(test_cancelled_task, teardown_no_leak),
	        cmocka_unit_test_teardown(test_destroy_busy, teardown_no_leak),
	        cmocka_unit_test_teardown(test_stress_2_workers, teardown_no_leak),
	        cmocka_unit_test_teardown(test_stress_4_workers, teardown_no_leak),
	        cmocka_unit_test_teardown(test_stress_timeouts, teardown_no_leak),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
