/*
 * fuzz_segment.c - libFuzzer target: arbitrary bytes as a segment file.
 *
 * The input is written to a memfd and opened with the reader three ways
 * (mapped read-only, as a private copy, mapped read-write); each open that
 * succeeds is then used the way the inspector uses it: identity, every
 * string id in use (and every id that records and slots mention), every
 * stack, a snapshot, the calibration, every ring read directly and drained,
 * the per-ring batches merged, and (read-write) a stream attach, drain and
 * detach.  Whatever the bytes, nothing may crash, hang, leak or trip a
 * sanitizer: that is the whole assertion.
 *
 * Built by `make fuzz` with clang -fsanitize=fuzzer,address,undefined, and
 * by `make fuzz-check` with fuzz_main.c as a plain driver (no libFuzzer
 * needed) that replays the seeds and random mutations of them.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "tsk_reader.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FZ_RING_CAP 64   /* records kept per ring for the merge */
#define FZ_RINGS    16   /* rings kept for the merge */
#define FZ_STR_IDS  4096 /* string ids walked at most */

typedef struct fz_ctx {
	tsk_reader *r;
	tsk_rd_rec keep[FZ_RINGS][FZ_RING_CAP];
	size_t nkeep[FZ_RINGS];
	uint64_t sum; /* keeps the reads observable */
} fz_ctx;

static void touch_string(fz_ctx *c, uint32_t id)
{
	char buf[TSK_SEG_STR_MAX + 1], small[5];
	int n = tsk_reader_string(c->r, id, buf, sizeof(buf));

	if (n >= 0)
		c->sum += strlen(buf);
	else
		c->sum += strlen(tsk_reader_strerror(n));
	tsk_reader_string(c->r, id, small, sizeof(small));
	tsk_reader_string(c->r, id, NULL, 0);
}

static void touch_stack(fz_ctx *c, uint32_t id)
{
	tsk_seg_stack st;

	if (tsk_reader_stack(c->r, id, &st) < 0)
		return;
	for (uint32_t i = 0; i < st.nframes; i++) {
		c->sum += st.frames[i].pc;
		touch_string(c, st.frames[i].sym);
	}
}

static void touch_record(fz_ctx *c, const tsk_rd_rec *rec)
{
	c->sum += rec->ev.tsc + rec->ev.task + rec->ev.arg;
	touch_string(c, rec->ev.site);
	touch_string(c, rec->ev.str);
	if (rec->ev.type == TSK_EV_BLOCK)
		touch_stack(c, rec->ev.b32);
}

static int on_batch(void *arg, uint32_t ring, const tsk_rd_rec *recs, size_t n)
{
	fz_ctx *c = arg;

	for (size_t i = 0; i < n; i++) {
		touch_record(c, &recs[i]);
		if (ring < FZ_RINGS && c->nkeep[ring] < FZ_RING_CAP)
			c->keep[ring][c->nkeep[ring]++] = recs[i];
	}
	return 0;
}

static void exercise_snapshot(fz_ctx *c)
{
	tsk_rd_snap snap;

	if (tsk_reader_snap_take(c->r, &snap) < 0)
		return;
	for (size_t i = 0; i < snap.ntasks; i++) {
		const tsk_seg_task *t = &snap.tasks[i].slot;
		c->sum += t->id + strlen(t->name);
		touch_string(c, t->spawn_site);
		touch_string(c, t->wait_site);
		touch_string(c, t->label);
		touch_stack(c, t->stack);
	}
	for (size_t i = 0; i < snap.nres; i++) {
		c->sum += snap.res[i].slot.id + strlen(snap.res[i].slot.name);
		touch_string(c, snap.res[i].slot.site);
	}
	for (uint32_t id = 0; id < snap.str_used && id / 4 < FZ_STR_IDS; id += 4)
		touch_string(c, id);
	for (uint32_t id = 0; id <= snap.stack_used + 1 && id < 256; id++)
		touch_stack(c, id);
	tsk_rd_task one;
	tsk_reader_snap_task(c->r, 0, &one);
	tsk_reader_snap_task(c->r, UINT32_MAX, &one);
	tsk_rd_res oner;
	tsk_reader_snap_res(c->r, 0, &oner);
	tsk_reader_snap_free(&snap);
}

static void exercise_rings(fz_ctx *c)
{
	tsk_rd_rec out[32];
	tsk_rd_batch batches[FZ_RINGS];
	tsk_rd_rec *merged;
	tsk_rd_ring_stats st;
	uint32_t n = tsk_reader_ring_count(c->r);
	size_t total = 0;

	for (uint32_t ring = 0; ring < n && ring < FZ_RINGS; ring++) {
		ssize_t got = tsk_reader_ring_read(c->r, ring, out, 1 + ring % 32);
		for (ssize_t i = 0; i < got; i++)
			on_batch(c, ring, &out[i], 1);
		tsk_reader_ring_stats(c->r, ring, &st);
		c->sum += st.overwritten + st.corrupt + st.lost;
	}
	tsk_reader_ring_read(c->r, n, out, 32);
	tsk_reader_ring_drain(c->r, on_batch, c);
	for (uint32_t i = 0; i < FZ_RINGS; i++) {
		batches[i].recs = c->keep[i];
		batches[i].n = c->nkeep[i];
		total += c->nkeep[i];
	}
	merged = malloc((total + 1) * sizeof(*merged));
	if (merged) {
		ssize_t m = tsk_reader_merge(batches, FZ_RINGS, merged, total);
		if (m > 0)
			c->sum += merged[m - 1].ev.tsc;
		free(merged);
	}
}

static void exercise(tsk_reader *r, unsigned flags)
{
	fz_ctx *c = calloc(1, sizeof(*c));
	const tsk_rd_info *in = tsk_reader_info(r);
	tsk_rd_calib cal;

	if (!c)
		return;
	c->r = r;
	c->sum += (uint64_t)in->pid + strlen(in->program) + strlen(tsk_reader_path(r));
	exercise_snapshot(c);
	if (tsk_reader_calib_load(r, &cal) >= 0) {
		c->sum += (uint64_t)tsk_reader_calib_ns(&cal, 0);
		c->sum += (uint64_t)tsk_reader_calib_ns(&cal, UINT64_MAX);
		c->sum += (uint64_t)tsk_reader_calib_ns(&cal, cal.tsc0 + 1000);
	}
	exercise_rings(c);
	if (flags & TSK_RD_WRITE && tsk_reader_ring_attach(r, TSK_RD_FROM_OLDEST) == 0) {
		memset(c->nkeep, 0, sizeof(c->nkeep));
		tsk_reader_ring_drain(r, on_batch, c);
		tsk_reader_ring_heartbeat(r);
		tsk_reader_ring_drain(r, on_batch, c);
		tsk_reader_ring_detach(r);
	}
	/* Keep the sum alive without printing it. */
	__asm__ __volatile__("" : : "r"(c->sum));
	free(c);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static int fd = -1;
	static const unsigned modes[] = {0, TSK_RD_COPY, TSK_RD_WRITE};

	if (fd < 0 && (fd = memfd_create("tsk-fuzz", MFD_CLOEXEC)) < 0)
		abort();
	if (ftruncate(fd, 0) != 0)
		abort();
	for (size_t off = 0; off < size;) {
		ssize_t n = pwrite(fd, data + off, size - off, (off_t)off);
		if (n <= 0)
			abort();
		off += (size_t)n;
	}
	for (size_t m = 0; m < sizeof(modes) / sizeof(modes[0]); m++) {
		tsk_reader *r = NULL;
		int rc = tsk_reader_open_fd(fd, modes[m], &r);

		if (rc < 0) {
			if (r || !tsk_reader_strerror(rc)[0])
				abort(); /* a failed open returns nothing, and says why */
			continue;
		}
		exercise(r, modes[m]);
		tsk_reader_close(r);
	}
	return 0;
}
