/*
 * test_ring.c - tests of the event ring protocol: probes/src/reader_ring.c
 * and reader_merge.c against the test writer (seg_writer.c).
 *
 *   - a reference model: random writes and reads in one thread, every
 *     result (records, their order, overwritten counts) predicted exactly,
 *     across wraparound and across the 32-bit seq wrap;
 *   - flight mode with the producer in another thread and in another
 *     process writing as fast as it can: the reader never returns a torn or
 *     stale record (every record equals the model's record at its index)
 *     and read + overwritten == written, exactly;
 *   - stream mode likewise, with a reader slow enough to force drops:
 *     events written == events read + events counted lost, exactly, and
 *     every gap in the stream is explained by the LOST record before it;
 *   - attach / detach, a busy or dead other reader, a writer that fell back
 *     to flight mode (reader heartbeat stale) and the reader re-attaching;
 *   - corrupt rings (bad seq, head going backwards or huge);
 *   - drains in batches through a callback, and the k-way merge.
 * Every test ends by checking that no file descriptor leaked.  (Longer than
 * the usual file: it covers two sources, and the concurrent tests need
 * their producer/consumer harness.)
 */
#include <pthread.h>
#include <signal.h>
#include <sys/wait.h>

#include "probes/probes_test.h"

typedef pt_fixture fixture;

/* (Re)creates f's segment with nrings rings of R records; claims ring 0. */
static void make(fixture *f, uint32_t nrings, uint32_t R)
{
	sw_config cfg = sw_small_config();

	sw_destroy(&f->seg, 1);
	cfg.nrings = nrings;
	cfg.ring_records = R;
	assert_int_equal(sw_create(&f->seg, f->path, &cfg), 0);
	sw_ring_claim(&f->seg, 0, 1234);
}

static tsk_seg_ring *ring_hdr(fixture *f, uint32_t ring)
{
	return (tsk_seg_ring *)(f->seg.base + f->seg.h->rings.off +
	                        (uint64_t)ring * f->seg.h->rings.stride);
}

static uint64_t rng_state = 88172645463325252ULL;

static uint64_t rnd(void)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return rng_state;
}

/* ---- basics ------------------------------------------------------------------- */

static void test_ring_basic(void **state)
{
	fixture *f = *state;
	tsk_rd_rec out[16];
	tsk_rd_ring_stats st;
	tsk_reader *r;

	make(f, 2, 8);
	for (uint64_t i = 0; i < 5; i++) {
		tsk_seg_event ev = pt_model_event(i);
		assert_int_equal(sw_emit(&f->seg, 0, &ev), 1);
	}
	assert_int_equal(tsk_reader_open(f->path, 0, &r), 0);
	assert_int_equal(tsk_reader_ring_count(r), 1);
	assert_int_equal(tsk_reader_ring_read(r, 0, out, 16), 5);
	for (uint64_t i = 0; i < 5; i++) {
		assert_int_equal(out[i].index, i);
		assert_int_equal(out[i].ring, 0);
		assert_int_equal(out[i].ev.seq, i + 1);
		assert_true(pt_model_check(&out[i].ev, i));
	}
	assert_int_equal(tsk_reader_ring_read(r, 0, out, 16), 0);
	assert_int_equal(tsk_reader_ring_stats(r, 0, &st), 0);
	assert_int_equal(st.read, 5);
	assert_int_equal(st.next, 5);
	assert_int_equal(st.head, 5);
	assert_int_equal(st.overwritten + st.corrupt + st.resyncs + st.lost, 0);
	assert_int_equal(st.owner_tid, 1234);
	/* The unclaimed ring 1 reads empty; ring 2 does not exist. */
	assert_int_equal(tsk_reader_ring_read(r, 1, out, 16), 0);
	assert_int_equal(tsk_reader_ring_read(r, 2, out, 16), -ERANGE);
	assert_int_equal(tsk_reader_ring_stats(r, 2, &st), -ERANGE);
	assert_int_equal(tsk_reader_ring_read(r, 0, NULL, 1), -EINVAL);
	assert_int_equal(tsk_reader_ring_read(r, 0, NULL, 0), 0);
	assert_int_equal(tsk_reader_ring_read(NULL, 0, out, 1), -EINVAL);
	assert_int_equal(tsk_reader_ring_stats(r, 0, NULL), -EINVAL);
	assert_int_equal(tsk_reader_ring_count(NULL), 0);
	/* A hostile ring_used is clamped to the section. */
	f->seg.h->ring_used = 1000;
	assert_int_equal(tsk_reader_ring_count(r), 2);
	tsk_reader_close(r);
}

/* ---- the reference model --------------------------------------------------------- */

static tsk_seg_event random_event(void)
{
	tsk_seg_event ev;

	ev.tsc = rnd();
	ev.seq = 0;
	ev.type = (uint16_t)(rnd() % 30);
	if (ev.type == TSK_EV_LOST)
		ev.type = TSK_EV_RUN;
	ev.worker = (uint16_t)rnd();
	ev.task = rnd();
	ev.obj = rnd();
	ev.arg = rnd();
	ev.site = (uint32_t)rnd();
	ev.str = (uint32_t)rnd();
	ev.a32 = (uint32_t)rnd();
	ev.b32 = (uint32_t)rnd();
	ev.arg2 = rnd();
	return ev;
}

/* Random writes and reads, every outcome predicted.  first: the ring's
 * starting head (to cross the 32-bit seq wrap). */
static void run_model(fixture *f, uint32_t R, uint64_t first, long steps)
{
	tsk_seg_event *model = calloc((size_t)steps * 3 * R + 1, sizeof(*model));
	tsk_rd_rec *out = calloc(4 * R, sizeof(*out));
	uint64_t written = 0, next = 0, overwritten = 0, read = 0;
	tsk_rd_ring_stats st;
	tsk_reader *r;

	assert_non_null(model);
	assert_non_null(out);
	make(f, 1, R);
	atomic_store(&ring_hdr(f, 0)->head, first);
	f->seg.rings[0].head = first;
	assert_int_equal(tsk_reader_open(f->path, 0, &r), 0);
	next = 0;
	for (long s = 0; s < steps; s++) {
		/* At first, fill the ring: slots below `first` were never written. */
		uint64_t nw = s == 0 ? R + rnd() % R : rnd() % (3 * R);
		for (uint64_t j = 0; j < nw; j++) {
			model[written] = random_event();
			assert_int_equal(sw_emit(&f->seg, 0, &model[written]), 1);
			written++;
		}
		size_t cap = 1 + rnd() % (2 * R);
		uint64_t head = first + written;
		/* The prediction: oldest valid is head - (R - 1). */
		uint64_t start = next;
		if (head - start > R - 1)
			start = head - (R - 1);
		uint64_t n = head - start < cap ? head - start : cap;
		overwritten += start - next;

		ssize_t got = tsk_reader_ring_read(r, 0, out, cap);
		assert_int_equal(got, n);
		for (uint64_t j = 0; j < n; j++) {
			tsk_seg_event ev = out[j].ev;
			assert_int_equal(out[j].index, start + j);
			assert_int_equal(ev.seq, (uint32_t)(start + j + 1));
			ev.seq = 0;
			assert_memory_equal(&ev, &model[start + j - first], sizeof(ev));
		}
		next = start + n;
		read += n;
	}
	assert_int_equal(tsk_reader_ring_stats(r, 0, &st), 0);
	assert_int_equal(st.next, next);
	assert_int_equal(st.read, read);
	assert_int_equal(st.overwritten, overwritten);
	assert_int_equal(st.corrupt + st.resyncs, 0);
	assert_true(read > 0);
	tsk_reader_close(r);
	free(model);
	free(out);
}

static void test_ring_model(void **state)
{
	fixture *f = *state;
	long steps = tsk_test_scale(3000);

	run_model(f, 2, 0, steps);
	run_model(f, 8, 0, steps);
	run_model(f, 64, 0, steps);
	/* Indices across 2^32: seq wraps, the head test still holds. */
	run_model(f, 8, (1ULL << 32) - 20, steps);
	run_model(f, 16, UINT64_MAX / 2, steps);
}

/* ---- flight mode with a concurrent producer ------------------------------------------- */

typedef struct producer {
	sw_seg *seg;
	uint64_t count;   /* events to write */
	atomic_int *done; /* set when finished */
	int stream;       /* flush the pending LOST record at the end */
} producer;

static void produce(producer *p)
{
	for (uint64_t k = 0; k < p->count; k++) {
		tsk_seg_event ev = pt_model_event(k);
		sw_emit(p->seg, 0, &ev);
	}
	if (p->stream && sw_flush_lost(p->seg, 0, 20000) != 0)
		atomic_store(p->done, 2); /* the reader stopped draining */
	else
		atomic_store(p->done, 1);
}

static void *produce_thread(void *arg)
{
	produce(arg);
	return NULL;
}

/* Runs a producer in a thread or a forked child; the reader calls
 * consume(ctx) until it returns 0 after the producer is done. */
static void run_producer(producer *p, int in_process, int (*consume)(void *), void *ctx)
{
	pthread_t th;
	pid_t pid = 0;
	int status;

	atomic_store(p->done, 0);
	if (in_process) {
		pid = fork();
		assert_true(pid >= 0);
		if (pid == 0) {
			alarm(120);
			produce(p);
			_exit(0);
		}
	} else {
		assert_int_equal(pthread_create(&th, NULL, produce_thread, p), 0);
	}
	int64_t deadline = pt_now_ns() + 120000000000LL;
	for (;;) {
		int finished = atomic_load(p->done) != 0;
		int more = consume(ctx);
		if (finished && !more)
			break;
		if (pt_now_ns() > deadline) {
			if (in_process)
				kill(pid, SIGKILL);
			fail_msg("the producer did not finish");
		}
	}
	if (in_process) {
		assert_int_equal(waitpid(pid, &status, 0), pid);
		assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	} else {
		assert_int_equal(pthread_join(th, NULL), 0);
	}
	assert_int_equal(atomic_load(p->done), 1);
}

typedef struct flight_ctx {
	tsk_reader *r;
	tsk_rd_rec out[32];
	uint64_t last; /* last index returned + 1 */
	uint64_t got;
} flight_ctx;

static int flight_consume(void *arg)
{
	flight_ctx *c = arg;
	/* A small, varying batch: more chances to race the writer. */
	ssize_t n = tsk_reader_ring_read(c->r, 0, c->out, 1 + rnd() % 32);

	assert_true(n >= 0);
	for (ssize_t j = 0; j < n; j++) {
		const tsk_rd_rec *rec = &c->out[j];
		if (rec->index < c->last)
			fail_msg("index %llu after %llu", (unsigned long long)rec->index,
			         (unsigned long long)c->last);
		if (!pt_model_check(&rec->ev, rec->index) ||
		    rec->ev.seq != (uint32_t)(rec->index + 1))
			fail_msg("record %llu is not the model's (torn or stale)",
			         (unsigned long long)rec->index);
		c->last = rec->index + 1;
	}
	c->got += (uint64_t)n;
	return n > 0;
}

static void flight_concurrent(fixture *f, int in_process)
{
	/* Producer state shared with a child: the done flag in the header's
	 * reserved bytes. */
	uint64_t count = (uint64_t)tsk_test_scale(3000000);
	producer p = {&f->seg, count, NULL, 0};
	flight_ctx c;
	tsk_rd_ring_stats st;

	make(f, 1, 16);
	p.seg = &f->seg;
	p.done = (atomic_int *)&f->seg.h->reserved[0];
	memset(&c, 0, sizeof(c));
	assert_int_equal(tsk_reader_open(f->path, 0, &c.r), 0);
	run_producer(&p, in_process, flight_consume, &c);
	assert_int_equal(tsk_reader_ring_stats(c.r, 0, &st), 0);
	assert_int_equal(st.head, count);
	assert_int_equal(st.next, count);
	assert_int_equal(st.read, c.got);
	assert_int_equal(st.read + st.overwritten, count);
	assert_int_equal(st.corrupt + st.resyncs + st.lost, 0);
	assert_true(st.read > 0);
	fprintf(stderr, "flight (%s): %llu read, %llu overwritten\n",
	        in_process ? "process" : "thread", (unsigned long long)st.read,
	        (unsigned long long)st.overwritten);
	tsk_reader_close(c.r);
}

static void test_flight_thread(void **state)
{
	flight_concurrent(*state, 0);
}

static void test_flight_process(void **state)
{
	flight_concurrent(*state, 1);
}

/* ---- stream mode with a concurrent producer: exact loss accounting --------------------- */

typedef struct stream_ctx {
	tsk_reader *r;
	uint64_t next_k; /* the model number the next user event must carry */
	uint64_t gap;    /* LOST records' args since the last user event */
	uint64_t users;  /* user events read */
	uint64_t lost;   /* sum of LOST args */
	uint64_t lost_recs;
	uint64_t drains;
	tsk_seg_ring *rh; /* the ring, to see the writer's first drop */
	int primed;       /* the writer has dropped at least once */
} stream_ctx;

static int stream_batch(void *arg, uint32_t ring, const tsk_rd_rec *recs, size_t n)
{
	stream_ctx *c = arg;

	assert_int_equal(ring, 0);
	for (size_t j = 0; j < n; j++) {
		const tsk_seg_event *ev = &recs[j].ev;
		if (ev->type == TSK_EV_LOST) {
			assert_true(ev->arg > 0);
			c->gap += ev->arg;
			c->lost += ev->arg;
			c->lost_recs++;
			continue;
		}
		/* Every gap in the model numbers is exactly the loss reported
		 * just before it. */
		if (ev->arg != c->next_k + c->gap)
			fail_msg("event %llu after %llu with %llu reported lost",
			         (unsigned long long)ev->arg, (unsigned long long)c->next_k,
			         (unsigned long long)c->gap);
		if (!pt_model_check(ev, ev->arg))
			fail_msg("event %llu is not the model's", (unsigned long long)ev->arg);
		c->next_k = ev->arg + 1;
		c->gap = 0;
		c->users++;
	}
	return 0;
}

static int stream_consume(void *arg)
{
	stream_ctx *c = arg;
	ssize_t n;

	/* Hold back until the writer has had to drop: losses are then certain
	 * to be exercised, however the two are scheduled. */
	if (!c->primed) {
		c->primed = atomic_load(&c->rh->lost) > 0;
		if (!c->primed) {
			tsk_reader_ring_heartbeat(c->r);
			usleep(100);
			return 1;
		}
	}
	n = tsk_reader_ring_drain(c->r, stream_batch, c);

	assert_true(n >= 0);
	/* A slow reader: the producer must drop. */
	if (++c->drains % 4 == 0)
		usleep(200);
	return n > 0;
}

static void stream_concurrent(fixture *f, int in_process)
{
	uint64_t count = (uint64_t)tsk_test_scale(2000000);
	producer p;
	stream_ctx c;
	tsk_rd_ring_stats st;

	make(f, 1, 64);
	memset(&p, 0, sizeof(p));
	p.seg = &f->seg;
	p.count = count;
	p.done = (atomic_int *)&f->seg.h->reserved[0];
	p.stream = 1;
	memset(&c, 0, sizeof(c));
	c.rh = ring_hdr(f, 0);
	assert_int_equal(tsk_reader_open(f->path, TSK_RD_WRITE, &c.r), 0);
	assert_int_equal(tsk_reader_ring_attach(c.r, 0), 0);
	run_producer(&p, in_process, stream_consume, &c);
	assert_int_equal(tsk_reader_ring_stats(c.r, 0, &st), 0);
	/* Exactly: written = read + counted lost; nothing unaccounted. */
	assert_int_equal(c.users + c.lost, count);
	assert_int_equal(c.next_k + c.gap, count);
	assert_int_equal(st.lost, c.lost);
	assert_int_equal(st.lost_total, c.lost);
	assert_int_equal(st.read, c.users + c.lost_recs);
	assert_int_equal(st.overwritten + st.corrupt + st.resyncs, 0);
	assert_int_equal(tsk_reader_ring_mode(c.r), TSK_MODE_STREAM);
	/* Both paths were exercised. */
	assert_true(c.users > 0);
	assert_true(c.lost > 0);
	fprintf(stderr, "stream (%s): %llu read, %llu lost in %llu LOST records\n",
	        in_process ? "process" : "thread", (unsigned long long)c.users,
	        (unsigned long long)c.lost, (unsigned long long)c.lost_recs);
	tsk_reader_close(c.r);
	assert_int_equal(f->seg.h->mode, TSK_MODE_FLIGHT);
	assert_int_equal(f->seg.h->reader_pid, 0);
}

static void test_stream_thread(void **state)
{
	stream_concurrent(*state, 0);
}

static void test_stream_process(void **state)
{
	stream_concurrent(*state, 1);
}

/* ---- attach and detach ------------------------------------------------------------------ */

static pid_t paused_child(void)
{
	pid_t pid = fork();

	assert_true(pid >= 0);
	if (pid == 0) {
		alarm(60);
		pause();
		_exit(0);
	}
	return pid;
}

static void reap(pid_t pid)
{
	int status;

	kill(pid, SIGKILL);
	assert_int_equal(waitpid(pid, &status, 0), pid);
}

static void test_attach_detach(void **state)
{
	fixture *f = *state;
	tsk_seg_header *h;
	tsk_reader *ro, *rw;

	make(f, 2, 8);
	h = f->seg.h;
	for (uint64_t i = 0; i < 5; i++) {
		tsk_seg_event ev = pt_model_event(i);
		sw_emit(&f->seg, 0, &ev);
	}
	assert_int_equal(tsk_reader_open(f->path, 0, &ro), 0);
	assert_int_equal(tsk_reader_ring_attach(ro, 0), -EROFS);
	assert_int_equal(tsk_reader_ring_mode(ro), TSK_MODE_FLIGHT);
	assert_int_equal(tsk_reader_ring_detach(ro), -EINVAL);
	assert_int_equal(tsk_reader_ring_heartbeat(ro), -EINVAL);
	tsk_reader_close(ro);
	assert_int_equal(tsk_reader_open(f->path, TSK_RD_COPY, &ro), 0);
	assert_int_equal(tsk_reader_ring_attach(ro, 0), -EROFS);
	tsk_reader_close(ro);

	assert_int_equal(tsk_reader_open(f->path, TSK_RD_WRITE, &rw), 0);
	assert_int_equal(tsk_reader_ring_attach(rw, 1u << 5), -EINVAL);
	int64_t before = pt_now_ns();
	assert_int_equal(tsk_reader_ring_attach(rw, 0), 0);
	assert_int_equal(h->mode, TSK_MODE_STREAM);
	assert_int_equal(h->reader_pid, getpid());
	assert_true(h->reader_heartbeat_ns >= before);
	assert_int_equal(ring_hdr(f, 0)->tail, 5); /* starts at head */
	assert_int_equal(ring_hdr(f, 1)->tail, 0);
	assert_int_equal(tsk_reader_ring_mode(rw), TSK_MODE_STREAM);
	assert_int_equal(tsk_reader_ring_attach(rw, 0), 0); /* again: no-op */
	/* A second reader, even in this process, is refused. */
	tsk_reader *rw2;
	assert_int_equal(tsk_reader_open(f->path, TSK_RD_WRITE, &rw2), 0);
	assert_int_equal(tsk_reader_ring_attach(rw2, 0), -EBUSY);
	tsk_reader_close(rw2);
	assert_int_equal(h->reader_pid, getpid());
	assert_int_equal(tsk_reader_ring_heartbeat(rw), 0);
	tsk_rd_rec out[8];
	assert_int_equal(tsk_reader_ring_read(rw, 0, out, 8), 0); /* older records skipped */
	assert_int_equal(tsk_reader_ring_detach(rw), 0);
	assert_int_equal(h->mode, TSK_MODE_FLIGHT);
	assert_int_equal(h->reader_pid, 0);
	assert_int_equal(tsk_reader_ring_detach(rw), -EINVAL);

	/* Another live reader with a fresh heartbeat: busy. */
	pid_t other = paused_child();
	h->reader_pid = other;
	h->reader_heartbeat_ns = pt_now_ns();
	assert_int_equal(tsk_reader_ring_attach(rw, 0), -EBUSY);
	assert_non_null(strstr(tsk_reader_strerror(-EBUSY), "is attached"));
	/* ... whose heartbeat went stale: replaced. */
	h->reader_heartbeat_ns = pt_now_ns() - 3000000000LL;
	assert_int_equal(tsk_reader_ring_attach(rw, 0), 0);
	assert_int_equal(h->reader_pid, getpid());
	assert_int_equal(tsk_reader_ring_detach(rw), 0);
	/* ... that died: replaced even with a fresh heartbeat. */
	reap(other);
	h->reader_pid = other;
	h->reader_heartbeat_ns = pt_now_ns();
	assert_int_equal(tsk_reader_ring_attach(rw, 0), 0);
	assert_int_equal(h->reader_pid, getpid());
	/* Closing an attached reader detaches it. */
	tsk_reader_close(rw);
	assert_int_equal(h->mode, TSK_MODE_FLIGHT);
	assert_int_equal(h->reader_pid, 0);
}

static void test_attach_from_oldest(void **state)
{
	fixture *f = *state;
	tsk_rd_rec out[16];
	tsk_reader *r;

	make(f, 1, 8);
	for (uint64_t i = 0; i < 20; i++) {
		tsk_seg_event ev = pt_model_event(i);
		sw_emit(&f->seg, 0, &ev);
	}
	assert_int_equal(tsk_reader_open(f->path, TSK_RD_WRITE, &r), 0);
	assert_int_equal(tsk_reader_ring_attach(r, TSK_RD_FROM_OLDEST), 0);
	assert_int_equal(ring_hdr(f, 0)->tail, 13);
	/* The ring is full for the writer now: it drops. */
	tsk_seg_event ev = pt_model_event(20);
	assert_int_equal(sw_emit(&f->seg, 0, &ev), 0);
	assert_int_equal(tsk_reader_ring_read(r, 0, out, 16), 7);
	for (int j = 0; j < 7; j++)
		assert_true(pt_model_check(&out[j].ev, 13 + (uint64_t)j));
	assert_int_equal(ring_hdr(f, 0)->tail, 20);
	/* Room again: LOST(1), then the event. */
	ev = pt_model_event(21);
	assert_int_equal(sw_emit(&f->seg, 0, &ev), 1);
	assert_int_equal(tsk_reader_ring_read(r, 0, out, 16), 2);
	assert_int_equal(out[0].ev.type, TSK_EV_LOST);
	assert_int_equal(out[0].ev.arg, 1);
	assert_true(pt_model_check(&out[1].ev, 21));
	tsk_rd_ring_stats st;
	assert_int_equal(tsk_reader_ring_stats(r, 0, &st), 0);
	assert_int_equal(st.lost, 1);
	assert_int_equal(st.lost_total, 1);
	tsk_reader_close(r);
}

/* Read the history in flight mode, then attach where the reading stopped:
 * nothing read twice, nothing skipped, and the writer has room at once. */
static void test_attach_from_position(void **state)
{
	fixture *f = *state;
	tsk_rd_rec out[16];
	tsk_reader *r;

	make(f, 1, 8);
	for (uint64_t i = 0; i < 20; i++) {
		tsk_seg_event ev = pt_model_event(i);
		sw_emit(&f->seg, 0, &ev);
	}
	assert_int_equal(tsk_reader_open(f->path, TSK_RD_WRITE, &r), 0);
	/* flight mode: the 7 valid records, 13..19 */
	assert_int_equal(tsk_reader_ring_read(r, 0, out, 16), 7);
	assert_true(pt_model_check(&out[0].ev, 13));
	/* two more before we attach: not lost, read after the attach */
	for (uint64_t i = 20; i < 22; i++) {
		tsk_seg_event ev = pt_model_event(i);
		sw_emit(&f->seg, 0, &ev);
	}
	assert_int_equal(tsk_reader_ring_attach(r, TSK_RD_FROM_POSITION), 0);
	assert_int_equal(ring_hdr(f, 0)->tail, 20);
	for (uint64_t i = 22; i < 26; i++) {
		tsk_seg_event ev = pt_model_event(i);
		assert_int_equal(sw_emit(&f->seg, 0, &ev), 1); /* room: not dropped */
	}
	assert_int_equal(tsk_reader_ring_read(r, 0, out, 16), 6);
	for (int j = 0; j < 6; j++)
		assert_true(pt_model_check(&out[j].ev, 20 + (uint64_t)j));
	tsk_reader_close(r);
	/* a fresh reader: from the oldest, like TSK_RD_FROM_OLDEST */
	assert_int_equal(tsk_reader_open(f->path, TSK_RD_WRITE, &r), 0);
	assert_int_equal(tsk_reader_ring_attach(r, TSK_RD_FROM_POSITION), 0);
	assert_int_equal(ring_hdr(f, 0)->tail, 26 - 7);
	tsk_reader_close(r);
}

/* A reader that stalled: the writer went back to flight mode and
 * overwrote; the reader's next drain counts that and re-attaches. */
static void test_stream_fallback(void **state)
{
	fixture *f = *state;
	tsk_rd_ring_stats st;
	tsk_rd_rec out[16];
	tsk_reader *r;
	ssize_t n;

	make(f, 1, 8);
	assert_int_equal(tsk_reader_open(f->path, TSK_RD_WRITE, &r), 0);
	assert_int_equal(tsk_reader_ring_attach(r, 0), 0);
	f->seg.h->reader_heartbeat_ns = pt_now_ns() - 3000000000LL;
	for (uint64_t i = 0; i < 30; i++) {
		tsk_seg_event ev = pt_model_event(i);
		assert_int_equal(sw_emit(&f->seg, 0, &ev), 1); /* never dropped */
	}
	assert_int_equal(f->seg.h->mode, TSK_MODE_FLIGHT);
	assert_int_equal(f->seg.h->reader_pid, 0);
	n = tsk_reader_ring_read(r, 0, out, 16);
	assert_int_equal(n, 7);
	for (ssize_t j = 0; j < n; j++)
		assert_true(pt_model_check(&out[j].ev, 23 + (uint64_t)j));
	assert_int_equal(tsk_reader_ring_stats(r, 0, &st), 0);
	assert_int_equal(st.overwritten, 23);
	/* Re-attached: stream mode again, drops counted. */
	assert_int_equal(f->seg.h->mode, TSK_MODE_STREAM);
	assert_int_equal(f->seg.h->reader_pid, getpid());
	assert_int_equal(tsk_reader_ring_mode(r), TSK_MODE_STREAM);
	uint64_t accepted = 0;
	for (uint64_t i = 30; i < 50; i++) {
		tsk_seg_event ev = pt_model_event(i);
		accepted += (uint64_t)sw_emit(&f->seg, 0, &ev);
	}
	assert_int_equal(accepted, 7);
	assert_int_equal(tsk_reader_ring_read(r, 0, out, 16), 7);
	assert_int_equal(sw_flush_lost(&f->seg, 0, 1000), 0);
	assert_int_equal(tsk_reader_ring_read(r, 0, out, 16), 1);
	assert_int_equal(out[0].ev.type, TSK_EV_LOST);
	assert_int_equal(out[0].ev.arg, 13);

	/* Another reader took over meanwhile: this one goes on in flight
	 * mode and no longer moves the tail. */
	pid_t other = paused_child();
	f->seg.h->reader_pid = other;
	uint64_t tail = ring_hdr(f, 0)->tail;
	tsk_seg_event ev = pt_model_event(99);
	f->seg.h->mode = TSK_MODE_FLIGHT;
	sw_emit(&f->seg, 0, &ev);
	assert_int_equal(tsk_reader_ring_read(r, 0, out, 16), 1);
	assert_int_equal(tsk_reader_ring_mode(r), TSK_MODE_FLIGHT);
	assert_int_equal(ring_hdr(f, 0)->tail, tail);
	assert_int_equal(f->seg.h->reader_pid, other);
	tsk_reader_close(r);
	assert_int_equal(f->seg.h->reader_pid, other); /* not ours to clear */
	reap(other);
}

/* ---- corrupt rings ------------------------------------------------------------------------ */

static void test_ring_corrupt(void **state)
{
	fixture *f = *state;
	tsk_rd_ring_stats st;
	tsk_rd_rec out[16];
	tsk_seg_event *recs;
	tsk_reader *r;

	make(f, 1, 8);
	recs = (tsk_seg_event *)(ring_hdr(f, 0) + 1);
	for (uint64_t i = 0; i < 6; i++) {
		tsk_seg_event ev = pt_model_event(i);
		sw_emit(&f->seg, 0, &ev);
	}
	recs[2].seq = 77; /* a record with the wrong seq */
	assert_int_equal(tsk_reader_open(f->path, 0, &r), 0);
	assert_int_equal(tsk_reader_ring_read(r, 0, out, 16), 5);
	assert_int_equal(out[2].index, 3);
	assert_int_equal(tsk_reader_ring_stats(r, 0, &st), 0);
	assert_int_equal(st.corrupt, 1);
	/* Head going backwards: a resync, reading goes on from there. */
	atomic_store(&ring_hdr(f, 0)->head, 2);
	f->seg.rings[0].head = 2;
	assert_int_equal(tsk_reader_ring_read(r, 0, out, 16), 0);
	assert_int_equal(tsk_reader_ring_stats(r, 0, &st), 0);
	assert_int_equal(st.resyncs, 1);
	assert_int_equal(st.next, 2);
	tsk_seg_event ev = pt_model_event(2);
	sw_emit(&f->seg, 0, &ev);
	assert_int_equal(tsk_reader_ring_read(r, 0, out, 16), 1);
	assert_true(pt_model_check(&out[0].ev, 2));
	/* A huge head: the last R - 1 slots are tried, their seqs do not
	 * match, nothing is returned, nothing breaks. */
	atomic_store(&ring_hdr(f, 0)->head, UINT64_MAX);
	assert_int_equal(tsk_reader_ring_read(r, 0, out, 16), 0);
	assert_int_equal(tsk_reader_ring_stats(r, 0, &st), 0);
	assert_int_equal(st.corrupt, 1 + 7);
	assert_int_equal(st.next, UINT64_MAX);
	tsk_reader_close(r);
}

/* ---- drains ------------------------------------------------------------------------------- */

typedef struct collect {
	tsk_rd_rec recs[64];
	size_t n;
	size_t batches;
	int stop_after;
} collect;

static int collect_batch(void *arg, uint32_t ring, const tsk_rd_rec *recs, size_t n)
{
	collect *c = arg;

	for (size_t j = 0; j < n; j++) {
		assert_int_equal(recs[j].ring, ring);
		if (c->n < 64)
			c->recs[c->n++] = recs[j];
	}
	c->batches++;
	return c->stop_after && (int)c->batches >= c->stop_after ? -42 : 0;
}

static void test_drain(void **state)
{
	fixture *f = *state;
	collect c;
	tsk_reader *r;

	make(f, 3, 16);
	sw_ring_claim(&f->seg, 2, 99);
	for (uint64_t i = 0; i < 10; i++) {
		tsk_seg_event ev = pt_model_event(i);
		sw_emit(&f->seg, i % 2 ? 2 : 0, &ev);
	}
	assert_int_equal(tsk_reader_open(f->path, 0, &r), 0);
	assert_int_equal(tsk_reader_ring_count(r), 3);
	memset(&c, 0, sizeof(c));
	assert_int_equal(tsk_reader_ring_drain(r, collect_batch, &c), 10);
	assert_int_equal(c.n, 10);
	assert_int_equal(c.batches, 2); /* ring 1 is empty: no call */
	for (size_t j = 0; j < 5; j++) {
		assert_int_equal(c.recs[j].ring, 0);
		assert_true(pt_model_check(&c.recs[j].ev, 2 * j));
		assert_int_equal(c.recs[5 + j].ring, 2);
		assert_true(pt_model_check(&c.recs[5 + j].ev, 2 * j + 1));
	}
	assert_int_equal(tsk_reader_ring_drain(r, collect_batch, &c), 0);
	/* A callback that stops: its value comes back, the rest stays. */
	for (uint64_t i = 10; i < 14; i++) {
		tsk_seg_event ev = pt_model_event(i);
		sw_emit(&f->seg, i % 2 ? 2 : 0, &ev);
	}
	memset(&c, 0, sizeof(c));
	c.stop_after = 1;
	assert_int_equal(tsk_reader_ring_drain(r, collect_batch, &c), -42);
	assert_int_equal(c.n, 2);
	c.stop_after = 0;
	assert_int_equal(tsk_reader_ring_drain(r, collect_batch, &c), 2);
	assert_int_equal(tsk_reader_ring_drain(r, NULL, &c), -EINVAL);
	assert_int_equal(tsk_reader_ring_drain(NULL, collect_batch, &c), -EINVAL);
	tsk_reader_close(r);
}

/* ---- merge --------------------------------------------------------------------------------- */

static int merged_before(const tsk_rd_rec *a, const tsk_rd_rec *b)
{
	if (a->ev.tsc != b->ev.tsc)
		return a->ev.tsc < b->ev.tsc;
	if (a->ring != b->ring)
		return a->ring < b->ring;
	return a->index < b->index;
}

/* Merges k random batches; sorted says whether each batch's tsc rises. */
static void merge_case(size_t k, size_t maxn, int sorted, size_t cap_cut)
{
	tsk_rd_rec **recs = calloc(k, sizeof(*recs));
	tsk_rd_batch *b = calloc(k, sizeof(*b));
	size_t total = 0;

	assert_non_null(recs);
	assert_non_null(b);
	for (size_t i = 0; i < k; i++) {
		size_t n = (size_t)(rnd() % (maxn + 1));
		uint64_t tsc = rnd() % 100;
		recs[i] = calloc(n + 1, sizeof(tsk_rd_rec));
		assert_non_null(recs[i]);
		for (size_t j = 0; j < n; j++) {
			tsc = sorted ? tsc + rnd() % 5 : rnd() % 400; /* ties are frequent */
			recs[i][j].ev.tsc = tsc;
			recs[i][j].ring = (uint32_t)i;
			recs[i][j].index = 1000 + j;
		}
		b[i].recs = recs[i];
		b[i].n = n;
		total += n;
	}
	size_t cap = total > cap_cut ? total - cap_cut : 0;
	tsk_rd_rec *out = calloc(total + 1, sizeof(*out));
	size_t *pos = calloc(k, sizeof(*pos));
	assert_non_null(out);
	assert_non_null(pos);
	assert_int_equal(tsk_reader_merge(b, k, out, cap), cap);
	for (size_t m = 0; m < cap; m++) {
		uint32_t ring = out[m].ring;
		/* Each batch's own order is kept, record for record. */
		assert_true(ring < k);
		assert_int_equal(out[m].index, 1000 + pos[ring]);
		pos[ring]++;
		if (sorted && m > 0)
			assert_true(merged_before(&out[m - 1], &out[m]));
	}
	for (size_t i = 0; i < k; i++)
		free(recs[i]);
	free(recs);
	free(b);
	free(out);
	free(pos);
}

static void test_merge(void **state)
{
	(void)state;
	for (int rep = 0; rep < 50; rep++) {
		merge_case(1 + rnd() % 8, 40, 1, 0);
		merge_case(1 + rnd() % 8, 40, 0, 0);
	}
	merge_case(100, 30, 1, 0); /* more batches than the stack heap */
	merge_case(100, 30, 0, 0);
	merge_case(5, 40, 1, 17); /* a cap below the total: the earliest ones */
	assert_int_equal(tsk_reader_merge(NULL, 0, NULL, 0), 0);
	tsk_rd_batch bad = {NULL, 3};
	tsk_rd_rec out[4];
	assert_int_equal(tsk_reader_merge(&bad, 1, out, 4), -EINVAL);
	assert_int_equal(tsk_reader_merge(NULL, 2, out, 4), -EINVAL);
	assert_int_equal(tsk_reader_merge(&bad, 1, NULL, 4), -EINVAL);
	tsk_rd_batch empty = {NULL, 0};
	assert_int_equal(tsk_reader_merge(&empty, 1, out, 4), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test_setup_teardown(test_ring_basic, pt_setup_dir, pt_teardown),
	        cmocka_unit_test_setup_teardown(test_ring_model, pt_setup_dir, pt_teardown),
	        cmocka_unit_test_setup_teardown(test_flight_thread, pt_setup_dir, pt_teardown),
	        cmocka_unit_test_setup_teardown(test_flight_process, pt_setup_dir, pt_teardown),
	        cmocka_unit_test_setup_teardown(test_stream_thread, pt_setup_dir, pt_teardown),
	        cmocka_unit_test_setup_teardown(test_stream_process, pt_setup_dir, pt_teardown),
	        cmocka_unit_test_setup_teardown(test_attach_detach, pt_setup_dir, pt_teardown),
	        cmocka_unit_test_setup_teardown(test_attach_from_oldest, pt_setup_dir, pt_teardown),
	        cmocka_unit_test_setup_teardown(test_attach_from_position, pt_setup_dir,
	                                        pt_teardown),
	        cmocka_unit_test_setup_teardown(test_stream_fallback, pt_setup_dir, pt_teardown),
	        cmocka_unit_test_setup_teardown(test_ring_corrupt, pt_setup_dir, pt_teardown),
	        cmocka_unit_test_setup_teardown(test_drain, pt_setup_dir, pt_teardown),
	        cmocka_unit_test_setup_teardown(test_merge, pt_setup_dir, pt_teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
