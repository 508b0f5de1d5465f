/*
 * reader_ring.c - reading the per-thread event rings, in flight mode (a
 * read-only observer racing a writer that overwrites) and in stream mode
 * (an attached consumer the writer never overtakes).
 *
 * A ring of R = ring_records records (a power of two).  The writer (one
 * thread) writes record i into slot i & (R - 1):
 *
 *     writer                                   reader (ring_copy)
 *     fence (release)          [W1]            h1 = head           (acquire) [R1]
 *     fields of record i       (relaxed)       for i in [start, h1):
 *     seq = (uint32_t)(i + 1)  (release) [W2]      s = seq          (acquire) [R2]
 *     head = i + 1             (release) [W3]      copy fields      (relaxed)
 *                                              fence (acquire)              [R3]
 *                                              h2 = head           (relaxed)
 *
 * R1 pairs with W3 (records below h1 have been written), R2 with W2 (the
 * copy sees record i's fields, or a later record's); R3 pairs with W1 of a
 * later record: if the copy saw any byte of record i + R, the writer had
 * published head = i + R before writing it, and h2 >= i + R.  Hence the
 * rule of tsk_segment.h: the copy of record i is valid iff
 *
 *     s == (uint32_t)(i + 1)  and  h2 - i <= R - 1
 *
 * (h2 - i == R means the writer may be writing record i + R right now: the
 * oldest slot is always given up).  The 32-bit seq alone would accept a
 * record 2^32 laps later; the head test excludes that.
 *
 * Flight mode: the reader starts at max(next, h1 - (R - 1)); records it
 * could not reach in time, or that failed the rule, count as overwritten.
 *
 * Stream mode (attached): the reader owns each ring's tail.  It stores tail
 * = next with release after copying [R4], which pairs with the writer's
 * acquire load of tail before it reuses a slot: the copies happen before
 * the overwrite.  The writer keeps head - tail <= R - 1 (it drops, counts,
 * and later writes one TSK_EV_LOST record with the count), so every record
 * in [tail, head) passes the rule above and no record is overwritten; the
 * rule is still applied, because a writer falls back to flight mode when
 * the reader heartbeat goes stale (2 s).  The reader refreshes
 * reader_heartbeat_ns at each read.
 *
 * Workload: the inspector drains every ring some 10-100 times a second;
 * each read copies at most R - 1 records of 64 bytes.
 */
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <unistd.h>

#include "reader_int.h"

static inline tsk_seg_ring *ring_hdr(const tsk_reader *r, uint32_t ring)
{
	return (tsk_seg_ring *)rd__item(r, &r->info.rings, ring);
}

static inline const tsk_seg_event *ring_slot(const tsk_reader *r, const tsk_seg_ring *rh,
                                             uint64_t i)
{
	const tsk_seg_event *recs = (const tsk_seg_event *)(rh + 1);
	return &recs[i & (r->info.ring_records - 1)];
}

/* Copies one record's fields with relaxed loads; seq is stored separately. */
static void copy_event(tsk_seg_event *dst, const tsk_seg_event *src)
{
	dst->tsc = __atomic_load_n(&src->tsc, __ATOMIC_RELAXED);
	dst->type = __atomic_load_n(&src->type, __ATOMIC_RELAXED);
	dst->worker = __atomic_load_n(&src->worker, __ATOMIC_RELAXED);
	dst->task = __atomic_load_n(&src->task, __ATOMIC_RELAXED);
	dst->obj = __atomic_load_n(&src->obj, __ATOMIC_RELAXED);
	dst->arg = __atomic_load_n(&src->arg, __ATOMIC_RELAXED);
	dst->site = __atomic_load_n(&src->site, __ATOMIC_RELAXED);
	dst->str = __atomic_load_n(&src->str, __ATOMIC_RELAXED);
	dst->a32 = __atomic_load_n(&src->a32, __ATOMIC_RELAXED);
	dst->b32 = __atomic_load_n(&src->b32, __ATOMIC_RELAXED);
	dst->arg2 = __atomic_load_n(&src->arg2, __ATOMIC_RELAXED);
}

static void refresh_heartbeat(tsk_reader *r)
{
	/* Relaxed: a plain timestamp; writers only compare it with their clock. */
	atomic_store_explicit(&r->h->reader_heartbeat_ns, rd__now_ns(), memory_order_relaxed);
}

/* Refreshes the heartbeat and checks that we are still the attached reader:
 * a writer that found the heartbeat stale went back to flight mode and
 * cleared reader_pid; claim it again (the tails are our positions
 * already).  If another reader holds it, continue in flight mode. */
static void stream_keepalive(tsk_reader *r)
{
	tsk_seg_header *h = r->h;
	int32_t me = (int32_t)getpid(), cur;

	refresh_heartbeat(r);
	cur = atomic_load_explicit(&h->reader_pid, memory_order_relaxed);
	if (cur == me && atomic_load_explicit(&h->mode, memory_order_relaxed) == TSK_MODE_STREAM)
		return;
	if (cur != me && (cur != 0 || !atomic_compare_exchange_strong_explicit(
	                                      &h->reader_pid, &cur, me, memory_order_relaxed,
	                                      memory_order_relaxed))) {
		r->attached = 0;
		return;
	}
	/* Release: pairs with the writer's acquire load of mode (tails first). */
	atomic_store_explicit(&h->mode, TSK_MODE_STREAM, memory_order_release);
}

/* Reads up to cap records of ring `ring` (validated index) into out. */
static size_t ring_copy(tsk_reader *r, uint32_t ring, tsk_rd_rec *out, size_t cap)
{
	tsk_seg_ring *rh = ring_hdr(r, ring);
	tsk_rd_ring_stats *st = &r->rs[ring];
	const uint64_t keep = (uint64_t)r->info.ring_records - 1; /* valid records at most */
	uint64_t h1, h2, start, n, kept = 0;

	h1 = atomic_load_explicit(&rh->head, memory_order_acquire); /* R1: pairs with W3 */
	if (h1 < st->next) {
		/* The ring went backwards: reset (reclaimed) or corrupt.  Start over
		 * from where it is now. */
		st->resyncs++;
		st->next = h1;
	}
	start = st->next;
	if (h1 - start > keep) {
		start = h1 - keep;
		st->overwritten += start - st->next;
	}
	n = h1 - start < cap ? h1 - start : cap;
	for (uint64_t j = 0; j < n; j++) {
		const tsk_seg_event *e = ring_slot(r, rh, start + j);
		uint32_t s = atomic_load_explicit((const _Atomic uint32_t *)&e->seq,
		                                  memory_order_acquire); /* R2: pairs with W2 */
		copy_event(&out[j].ev, e);
		out[j].ev.seq = s;
		out[j].index = start + j;
		out[j].ring = ring;
		out[j].reserved = 0;
	}
	atomic_thread_fence(memory_order_acquire); /* R3: pairs with W1 */
	h2 = atomic_load_explicit(&rh->head, memory_order_relaxed);

	for (uint64_t j = 0; j < n; j++) {
		uint64_t i = start + j;

		if (h2 <= i) { /* head went backwards during the copy */
			st->corrupt++;
			continue;
		}
		if (h2 - i > keep) {
			st->overwritten++;
			continue;
		}
		if (out[j].ev.seq != (uint32_t)(i + 1)) {
			st->corrupt++;
			continue;
		}
		if (out[j].ev.type == TSK_EV_LOST)
			st->lost += out[j].ev.arg;
		if (kept != j)
			out[kept] = out[j];
		kept++;
	}
	st->next = start + n;
	st->head = h2;
	st->read += kept;
	st->lost_total = atomic_load_explicit(&rh->lost, memory_order_relaxed);
	st->owner_tid = atomic_load_explicit(&rh->owner_tid, memory_order_relaxed);
	st->worker = __atomic_load_n(&rh->worker, __ATOMIC_RELAXED);
	if (r->attached) /* R4: pairs with the writer's acquire load of tail */
		atomic_store_explicit(&rh->tail, st->next, memory_order_release);
	return (size_t)kept;
}

uint32_t tsk_reader_ring_count(tsk_reader *r)
{
	if (!r)
		return 0;
	/* Acquire: pairs with the writer's release after it set up the ring. */
	return (uint32_t)rd__clamp(atomic_load_explicit(&r->h->ring_used, memory_order_acquire),
	                           r->info.rings.count);
}

ssize_t tsk_reader_ring_read(tsk_reader *r, uint32_t ring, tsk_rd_rec *out, size_t cap)
{
	if (!r || (!out && cap > 0))
		return rd__fail(-EINVAL, "invalid argument");
	if (ring >= r->info.rings.count)
		return rd__fail(-ERANGE, "ring %u out of range (%u rings)", ring,
		                r->info.rings.count);
	if (r->attached)
		stream_keepalive(r);
	return (ssize_t)ring_copy(r, ring, out, cap);
}

ssize_t tsk_reader_ring_drain(tsk_reader *r, tsk_rd_batch_fn fn, void *ctx)
{
	ssize_t total = 0;
	uint32_t nrings;

	if (!r || !fn)
		return rd__fail(-EINVAL, "invalid argument");
	if (!r->batch && !(r->batch = malloc(RD_BATCH * sizeof(*r->batch))))
		return rd__fail(-ENOMEM, "out of memory");
	if (r->attached)
		stream_keepalive(r);
	nrings = tsk_reader_ring_count(r);
	for (uint32_t ring = 0; ring < nrings; ring++) {
		tsk_rd_ring_stats *st = &r->rs[ring];
		/* Only what is there now: a fast writer must not keep us on one ring. */
		uint64_t target =
		        atomic_load_explicit(&ring_hdr(r, ring)->head, memory_order_acquire);

		/* At least one read per ring: it also notices a ring that went
		 * backwards (target below next) and refreshes the statistics. */
		for (;;) {
			uint64_t before = st->next;
			size_t got = ring_copy(r, ring, r->batch, RD_BATCH);

			if (got > 0) {
				int rc = fn(ctx, ring, r->batch, got);
				total += (ssize_t)got;
				if (rc != 0)
					return rc;
			}
			if (st->next >= target || st->next <= before)
				break;
		}
	}
	return total;
}

int tsk_reader_ring_stats(tsk_reader *r, uint32_t ring, tsk_rd_ring_stats *out)
{
	if (!r || !out)
		return rd__fail(-EINVAL, "invalid argument");
	if (ring >= r->info.rings.count)
		return rd__fail(-ERANGE, "ring %u out of range (%u rings)", ring,
		                r->info.rings.count);
	*out = r->rs[ring];
	return 0;
}

/* May we take reader_pid from its holder `cur`? */
static int holder_gone(tsk_reader *r, int32_t cur)
{
	int64_t hb = atomic_load_explicit(&r->h->reader_heartbeat_ns, memory_order_relaxed);

	if (cur <= 0) /* never signal a group or every process below */
		return 1;
	if (kill((pid_t)cur, 0) < 0 && errno == ESRCH)
		return 1;
	/* hb is untrusted: compare without subtracting it (no overflow). */
	return hb < rd__now_ns() - RD_STALE_NS;
}

int tsk_reader_ring_attach(tsk_reader *r, unsigned flags)
{
	tsk_seg_header *h;
	int32_t me, cur;
	const uint64_t keep = (uint64_t)(r ? r->info.ring_records : 1) - 1;

	if (!r || (flags & ~(unsigned)(TSK_RD_FROM_OLDEST | TSK_RD_FROM_POSITION)))
		return rd__fail(-EINVAL, "invalid argument");
	if (!(r->flags & TSK_RD_WRITE))
		return rd__fail(-EROFS, "stream mode needs a reader opened with TSK_RD_WRITE");
	if (r->attached)
		return 0;
	h = r->h;
	me = (int32_t)getpid();
	cur = atomic_load_explicit(&h->reader_pid, memory_order_relaxed);
	for (;;) {
		/* cur == me: another tsk_reader of this process is attached. */
		if (cur != 0 && !holder_gone(r, cur))
			return rd__fail(-EBUSY, "reader %d is attached to this segment", cur);
		/* Relaxed: the claim orders nothing; mode (below) publishes. */
		if (atomic_compare_exchange_weak_explicit(
		            &h->reader_pid, &cur, me, memory_order_relaxed, memory_order_relaxed))
			break;
	}
	refresh_heartbeat(r);
	for (uint32_t ring = 0; ring < r->info.rings.count; ring++) {
		tsk_seg_ring *rh = ring_hdr(r, ring);
		uint64_t head = atomic_load_explicit(&rh->head, memory_order_acquire);
		uint64_t start = head;

		if (flags & (TSK_RD_FROM_OLDEST | TSK_RD_FROM_POSITION))
			start = head > keep ? head - keep : 0;
		/* where this reader stopped reading in flight mode, unless the
		 * writer has overwritten it since (or it is past head: a reset) */
		if ((flags & TSK_RD_FROM_POSITION) && r->rs[ring].next > start &&
		    r->rs[ring].next <= head)
			start = r->rs[ring].next;
		else if ((flags & TSK_RD_FROM_POSITION) && r->rs[ring].next < start)
			r->rs[ring].overwritten +=
			        start - r->rs[ring].next; /* skipped: lost to us */
		r->rs[ring].next = start;
		atomic_store_explicit(&rh->tail, start, memory_order_relaxed);
	}
	r->attached = 1;
	/* Release: pairs with the writer's acquire load of mode; a writer that
	 * sees STREAM sees the tails above. */
	atomic_store_explicit(&h->mode, TSK_MODE_STREAM, memory_order_release);
	return 0;
}

int tsk_reader_ring_heartbeat(tsk_reader *r)
{
	if (!r || !r->attached)
		return rd__fail(-EINVAL, "not attached in stream mode");
	stream_keepalive(r);
	return 0;
}

int tsk_reader_ring_mode(const tsk_reader *r)
{
	return r && r->attached ? TSK_MODE_STREAM : TSK_MODE_FLIGHT;
}

int tsk_reader_ring_detach(tsk_reader *r)
{
	int32_t me;

	if (!r || !r->attached)
		return rd__fail(-EINVAL, "not attached in stream mode");
	me = (int32_t)getpid();
	/* Release: the writer that sees FLIGHT may overwrite; our copies (and
	 * tail stores) are done. */
	atomic_store_explicit(&r->h->mode, TSK_MODE_FLIGHT, memory_order_release);
	atomic_compare_exchange_strong_explicit(&r->h->reader_pid, &me, 0, memory_order_relaxed,
	                                        memory_order_relaxed);
	r->attached = 0;
	return 0;
}
