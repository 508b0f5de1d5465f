/*
 * seg_writer.c - the test-only segment writer (see seg_writer.h).
 *
 * Layout: the header page, then strings, tasks, resources, stacks and
 * rings, each section 4 KiB aligned.  Every store that a concurrent reader
 * may see is an atomic store (relaxed for fields, release where it
 * publishes), so the in-process tests are data-race-free for TSan.
 *
 * Ring protocol (the writer half of reader_ring.c's diagram):
 *   W1  fence (release)      before the fields of record i: a reader whose
 *                            copy sees them also sees head >= i (published
 *                            with record i - 1), and so rejects record i - R
 *   W2  seq = i + 1          release, after the fields
 *   W3  head = i + 1         release, after seq
 * Stream mode: the writer loads tail with acquire (pairs with the reader's
 * release store of tail) and keeps head - tail <= R - 1, so that every
 * unconsumed record also satisfies the reader's validity rule.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "seg_writer.h"

#define STORE(p, v) __atomic_store_n((p), (v), __ATOMIC_RELAXED)

static uint64_t align4k(uint64_t v)
{
	return (v + 4095) & ~(uint64_t)4095;
}

static int64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

sw_config sw_small_config(void)
{
	sw_config c = {
	        .ntasks = 32,
	        .nres = 32,
	        .nstacks = 8,
	        .nrings = 2,
	        .ring_records = 8,
	        .str_bytes = 4096,
	};
	return c;
}

static void lay(tsk_seg_section *sec, uint64_t *off, uint32_t count, uint32_t stride)
{
	sec->off = *off;
	sec->count = count;
	sec->stride = stride;
	sec->size = (uint64_t)count * stride;
	*off = align4k(*off + sec->size);
}

int sw_create(sw_seg *s, const char *path, const sw_config *cfg)
{
	tsk_seg_header h;
	uint64_t off = sizeof(tsk_seg_header);

	memset(s, 0, sizeof(*s));
	memset(&h, 0, sizeof(h));
	h.magic = TSK_SEG_MAGIC;
	h.version = TSK_SEG_VERSION;
	h.header_size = sizeof(h);
	h.pid = cfg->pid ? cfg->pid : (int32_t)getpid();
	h.proc_start_ticks = cfg->start_ticks;
	h.created_realtime_ns = 1700000000000000000LL;
	h.created_mono_ns = now_ns();
	snprintf(h.program, sizeof(h.program), "%s", cfg->program ? cfg->program : "sw-test");
	lay(&h.strings, &off, 1, cfg->str_bytes);
	lay(&h.tasks, &off, cfg->ntasks, sizeof(tsk_seg_task));
	lay(&h.resources, &off, cfg->nres, sizeof(tsk_seg_res));
	lay(&h.stacks, &off, cfg->nstacks, sizeof(tsk_seg_stack));
	lay(&h.rings, &off, cfg->nrings, (uint32_t)tsk_seg_ring_stride(cfg->ring_records));
	h.ring_records = cfg->ring_records;
	h.stack_depth = TSK_SEG_STACK_DEPTH;
	h.segment_size = off;
	h.str_used = 8; /* id 0: the empty entry (length 0, NUL, padding) */
	h.state = TSK_SEG_RUNNING;
	h.nworkers = 1;
	h.mode = TSK_MODE_FLIGHT;

	snprintf(s->path, sizeof(s->path), "%s", path);
	unlink(path);
	s->fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (s->fd < 0)
		return -errno;
	if (ftruncate(s->fd, (off_t)h.segment_size) != 0)
		goto fail;
	s->base = mmap(NULL, h.segment_size, PROT_READ | PROT_WRITE, MAP_SHARED, s->fd, 0);
	if (s->base == MAP_FAILED)
		goto fail;
	s->size = h.segment_size;
	s->h = (tsk_seg_header *)s->base;
	s->nrings = cfg->nrings;
	s->rings = calloc(cfg->nrings ? cfg->nrings : 1, sizeof(*s->rings));
	if (!s->rings)
		goto fail;
	memcpy(s->base, &h, sizeof(h));
	return 0;
fail:;
	int err = errno ? -errno : -ENOMEM;
	if (s->base && s->base != MAP_FAILED)
		munmap(s->base, h.segment_size);
	close(s->fd);
	unlink(path);
	memset(s, 0, sizeof(*s));
	return err;
}

void sw_destroy(sw_seg *s, int unlink_it)
{
	if (!s->base)
		return;
	munmap(s->base, s->size);
	close(s->fd);
	if (unlink_it)
		unlink(s->path);
	free(s->rings);
	memset(s, 0, sizeof(*s));
}

uint32_t sw_str(sw_seg *s, const char *str)
{
	uint64_t used = atomic_load_explicit(&s->h->str_used, memory_order_relaxed);
	size_t n = strnlen(str, TSK_SEG_STR_MAX);
	uint64_t need = (4 + n + 1 + 3) & ~(uint64_t)3;
	uint8_t *p = s->base + s->h->strings.off + used;
	uint32_t len = (uint32_t)n;

	if (used + need > s->h->strings.size)
		return 0;
	memcpy(p, &len, 4);
	memcpy(p + 4, str, n);
	memset(p + 4 + n, 0, need - 4 - n);
	/* Release: the entry's bytes before str_used (the reader's acquire). */
	atomic_store_explicit(&s->h->str_used, used + need, memory_order_release);
	return (uint32_t)used;
}

uint32_t sw_stack(sw_seg *s, const uint64_t *pcs, const uint32_t *syms, uint32_t n)
{
	uint32_t used = atomic_load_explicit(&s->h->stack_used, memory_order_relaxed);
	tsk_seg_stack *st;

	if (used >= s->h->stacks.count)
		return 0;
	st = (tsk_seg_stack *)(s->base + s->h->stacks.off + (uint64_t)used * s->h->stacks.stride);
	memset(st, 0, sizeof(*st));
	st->nframes = n;
	for (uint32_t i = 0; i < n && i < TSK_SEG_STACK_DEPTH; i++) {
		st->frames[i].pc = pcs[i];
		st->frames[i].sym = syms ? syms[i] : 0;
	}
	/* Release: the entry before stack_used. */
	atomic_store_explicit(&s->h->stack_used, used + 1, memory_order_release);
	return used + 1;
}

/* Seqlocked copy of a 128-byte slot: odd, fence, words, even. */
static void slot_write(void *slot, const void *src)
{
	_Atomic uint32_t *seq = slot;
	uint32_t v = atomic_load_explicit(seq, memory_order_relaxed);
	const uint8_t *from = src;
	uint64_t w;

	if (v & 1) /* left odd by sw_task_begin */
		v++;
	atomic_store_explicit(seq, v + 1, memory_order_relaxed);
	/* Pairs with the reader's acquire fence before its second seq load. */
	atomic_thread_fence(memory_order_release);
	/* Word 0 holds seq: keep it, write the other half. */
	STORE((uint32_t *)slot + 1, *(const uint32_t *)(from + 4));
	for (size_t i = 1; i < 128 / 8; i++) {
		memcpy(&w, from + 8 * i, 8);
		STORE((uint64_t *)slot + i, w);
	}
	/* Release: the fields before the even seq (the reader's acquire load). */
	atomic_store_explicit(seq, v + 2, memory_order_release);
}

static void raise_hwm(_Atomic uint32_t *hwm, uint32_t index)
{
	uint32_t cur = atomic_load_explicit(hwm, memory_order_relaxed);

	while (index + 1 > cur &&
	       !atomic_compare_exchange_weak_explicit(hwm, &cur, index + 1, memory_order_release,
	                                              memory_order_relaxed))
		;
}

void sw_task_write(sw_seg *s, uint32_t index, const tsk_seg_task *t)
{
	slot_write(s->base + s->h->tasks.off + (uint64_t)index * s->h->tasks.stride, t);
	raise_hwm(&s->h->task_hwm, index);
}

void sw_res_write(sw_seg *s, uint32_t index, const tsk_seg_res *res)
{
	slot_write(s->base + s->h->resources.off + (uint64_t)index * s->h->resources.stride, res);
	raise_hwm(&s->h->res_hwm, index);
}

void sw_task_begin(sw_seg *s, uint32_t index)
{
	tsk_seg_task *t =
	        (tsk_seg_task *)(s->base + s->h->tasks.off + (uint64_t)index * s->h->tasks.stride);
	uint32_t v = atomic_load_explicit(&t->seq, memory_order_relaxed);

	atomic_store_explicit(&t->seq, v | 1, memory_order_relaxed);
	atomic_thread_fence(memory_order_release);
	STORE(&t->id, 0xdeadULL);
	raise_hwm(&s->h->task_hwm, index);
}

void sw_calib(sw_seg *s, uint64_t tsc0, int64_t mono0, uint64_t tsc1, int64_t mono1,
              uint32_t tsc_is_ns)
{
	tsk_seg_header *h = s->h;
	uint32_t v = atomic_load_explicit(&h->calib_seq, memory_order_relaxed);

	atomic_store_explicit(&h->calib_seq, v + 1, memory_order_relaxed);
	atomic_thread_fence(memory_order_release);
	STORE(&h->tsc_is_ns, tsc_is_ns);
	STORE(&h->cal_tsc0, tsc0);
	STORE(&h->cal_mono0, mono0);
	STORE(&h->cal_tsc1, tsc1);
	STORE(&h->cal_mono1, mono1);
	atomic_store_explicit(&h->calib_seq, v + 2, memory_order_release);
}

static tsk_seg_ring *ring_hdr(sw_seg *s, uint32_t ring)
{
	return (tsk_seg_ring *)(s->base + s->h->rings.off + (uint64_t)ring * s->h->rings.stride);
}

void sw_ring_claim(sw_seg *s, uint32_t ring, int32_t tid)
{
	tsk_seg_ring *rh = ring_hdr(s, ring);

	atomic_store_explicit(&rh->owner_tid, tid, memory_order_relaxed);
	s->rings[ring].head = atomic_load_explicit(&rh->head, memory_order_relaxed);
	/* Release: the ring's state before it is counted. */
	raise_hwm(&s->h->ring_used, ring);
}

/* W1..W3 for one record at the ring's head. */
static void put(sw_seg *s, uint32_t ring, const tsk_seg_event *ev)
{
	tsk_seg_ring *rh = ring_hdr(s, ring);
	sw_ring *w = &s->rings[ring];
	uint64_t i = w->head;
	tsk_seg_event *e = (tsk_seg_event *)(rh + 1) + (i & (s->h->ring_records - 1));

	atomic_thread_fence(memory_order_release); /* W1 */
	STORE(&e->tsc, ev->tsc);
	STORE(&e->type, ev->type);
	STORE(&e->worker, ev->worker);
	STORE(&e->task, ev->task);
	STORE(&e->obj, ev->obj);
	STORE(&e->arg, ev->arg);
	STORE(&e->site, ev->site);
	STORE(&e->str, ev->str);
	STORE(&e->a32, ev->a32);
	STORE(&e->b32, ev->b32);
	STORE(&e->arg2, ev->arg2);
	__atomic_store_n(&e->seq, (uint32_t)(i + 1), __ATOMIC_RELEASE); /* W2 */
	atomic_store_explicit(&rh->head, i + 1, memory_order_release);  /* W3 */
	w->head = i + 1;
}

/* Room left in stream mode: R - 1 records may be unconsumed. */
static uint64_t room(sw_seg *s, uint32_t ring)
{
	tsk_seg_ring *rh = ring_hdr(s, ring);
	/* Acquire: pairs with the reader's release store of tail. */
	uint64_t tail = atomic_load_explicit(&rh->tail, memory_order_acquire);
	uint64_t used = s->rings[ring].head - tail;
	uint64_t cap = (uint64_t)s->h->ring_records - 1;

	return used >= cap ? 0 : cap - used;
}

int sw_emit(sw_seg *s, uint32_t ring, const tsk_seg_event *ev)
{
	sw_ring *w = &s->rings[ring];
	/* Acquire: pairs with the reader's release store of mode at attach. */
	uint32_t mode = atomic_load_explicit(&s->h->mode, memory_order_acquire);

	if (mode == TSK_MODE_STREAM) {
		uint64_t left = room(s, ring);

		if (w->pending_lost && left > 0) {
			tsk_seg_event lost = {.tsc = ev->tsc,
			                      .type = TSK_EV_LOST,
			                      .worker = ev->worker,
			                      .arg = w->pending_lost};
			put(s, ring, &lost);
			w->pending_lost = 0;
			left--;
		}
		if (left == 0) {
			int64_t hb = atomic_load_explicit(&s->h->reader_heartbeat_ns,
			                                  memory_order_relaxed);
			if (now_ns() - hb <= 2000000000LL) {
				w->pending_lost++;
				atomic_fetch_add_explicit(&ring_hdr(s, ring)->lost, 1,
				                          memory_order_relaxed);
				return 0;
			}
			/* The reader stopped refreshing: flight mode again. */
			atomic_store_explicit(&s->h->mode, TSK_MODE_FLIGHT, memory_order_relaxed);
			atomic_store_explicit(&s->h->reader_pid, 0, memory_order_relaxed);
		}
	} else if (w->pending_lost) { /* the reader detached: report what it missed */
		tsk_seg_event lost = {.tsc = ev->tsc,
		                      .type = TSK_EV_LOST,
		                      .worker = ev->worker,
		                      .arg = w->pending_lost};
		put(s, ring, &lost);
		w->pending_lost = 0;
	}
	put(s, ring, ev);
	return 1;
}

int sw_flush_lost(sw_seg *s, uint32_t ring, int timeout_ms)
{
	sw_ring *w = &s->rings[ring];
	int64_t deadline = now_ns() + (int64_t)timeout_ms * 1000000LL;

	while (w->pending_lost) {
		if (room(s, ring) > 0) {
			tsk_seg_event lost = {
			        .type = TSK_EV_LOST, .worker = 0xffff, .arg = w->pending_lost};
			put(s, ring, &lost);
			w->pending_lost = 0;
			break;
		}
		if (now_ns() > deadline)
			return -ETIMEDOUT;
		struct timespec ts = {0, 100000};
		nanosleep(&ts, NULL);
	}
	return 0;
}
