/*
 * mkcorpus.c - writes the seed corpus of fuzz_segment: small segments made
 * with the test writer (tests/probes/seg_writer.c), so that the fuzzer
 * starts from inputs that pass validation and reach the deep code (slots,
 * strings, stacks, rings that wrapped, stream-mode state, torn slots), plus
 * a few hand-made corruptions of them.
 *
 *     mkcorpus DIR      creates DIR/seed-*.seg (DIR must exist)
 *
 * Exit status 0, or 1 with a message.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "probes/seg_writer.h"

static const char *dir;
static int nseeds;

static int fail(const char *what, int rc)
{
	fprintf(stderr, "mkcorpus: %s: %s\n", what, strerror(-rc));
	exit(1);
}

static void seed_path(char *buf, size_t cap, const char *name)
{
	snprintf(buf, cap, "%s/seed-%02d-%s.seg", dir, nseeds++, name);
}

/* A populated segment: strings, stacks, slots, events in both rings. */
static void populate(sw_seg *s, uint64_t nevents)
{
	uint64_t pcs[4] = {0x401000, 0x401234, 0x402000, 0x7f0000001000};
	uint32_t syms[4] = {sw_str(s, "main+0x10"), sw_str(s, "worker_loop+0x44"),
	                    sw_str(s, "tsk_mutex_lock+0x9"), 0};
	uint32_t site = sw_str(s, "server.c:42 handle_client");
	uint32_t name = sw_str(s, "acceptor");
	uint32_t stack = sw_stack(s, pcs, syms, 4);

	for (uint32_t i = 0; i < 6; i++) {
		tsk_seg_task t;
		memset(&t, 0, sizeof(t));
		t.state = (uint8_t)(1 + i % 4);
		t.wait_kind = TSK_WAIT_MUTEX;
		t.id = 100 + i;
		t.parent = i ? 100 : 0;
		t.wait_obj = 7;
		t.wait_deadline_ns = -1;
		t.spawn_site = site;
		t.wait_site = site;
		t.label = i % 2 ? name : 0;
		t.stack = stack;
		snprintf(t.name, sizeof(t.name), "task-%u", i);
		sw_task_write(s, i, &t);
	}
	for (uint32_t i = 0; i < 3; i++) {
		tsk_seg_res r;
		memset(&r, 0, sizeof(r));
		r.kind = (uint8_t)(TSK_RES_CHAN + i);
		r.id = 7 + i;
		r.owner = 101;
		r.site = site;
		r.waiters = 2;
		r.capacity = 16;
		snprintf(r.name, sizeof(r.name), "res-%u", i);
		sw_res_write(s, i, &r);
	}
	sw_calib(s, 1000000, 5000000000LL, 1000000 + 3000000000ULL, 6000000000LL, 0);
	sw_ring_claim(s, 0, 4242);
	if (s->nrings > 1)
		sw_ring_claim(s, 1, 4243);
	for (uint64_t k = 0; k < nevents; k++) {
		tsk_seg_event ev = {.tsc = 1000000 + 100 * k,
		                    .type = (uint16_t)(k % 3 ? TSK_EV_RUN : TSK_EV_BLOCK),
		                    .worker = 0,
		                    .task = 100 + k % 6,
		                    .obj = 7,
		                    .arg = k,
		                    .site = site,
		                    .str = name,
		                    .a32 = TSK_WAIT_MUTEX,
		                    .b32 = stack};
		sw_emit(s, (uint32_t)(k % s->nrings), &ev);
	}
}

static void make_seed(const char *name, sw_config cfg, uint64_t nevents, void (*tweak)(sw_seg *s))
{
	char path[4096];
	sw_seg s;
	int rc;

	seed_path(path, sizeof(path), name);
	if ((rc = sw_create(&s, path, &cfg)) < 0)
		fail(path, rc);
	populate(&s, nevents);
	if (tweak)
		tweak(&s);
	sw_destroy(&s, 0);
}

static void tw_stream(sw_seg *s)
{
	tsk_seg_ring *rh = (tsk_seg_ring *)(s->base + s->h->rings.off);

	s->h->mode = TSK_MODE_STREAM;
	s->h->reader_pid = 1;
	atomic_store(&rh->tail, atomic_load(&rh->head) - 2);
	atomic_store(&rh->lost, 5);
}

static void tw_torn(sw_seg *s)
{
	sw_task_begin(s, 1);
	s->h->calib_seq |= 1;
}

static void tw_no_calib(sw_seg *s)
{
	sw_calib(s, 5000, 100, 5000, 100, 0);
}

static void tw_counters(sw_seg *s)
{
	s->h->task_hwm = UINT32_MAX;
	s->h->res_hwm = UINT32_MAX;
	s->h->stack_used = UINT32_MAX;
	s->h->ring_used = UINT32_MAX;
	s->h->str_used = UINT64_MAX;
}

static void tw_bad_strings(sw_seg *s)
{
	uint8_t *tab = s->base + s->h->strings.off;
	uint32_t len = 5000;

	memcpy(tab + 8, &len, 4); /* the first real entry: too long */
	tab[s->h->str_used - 1] = 'x';
}

static void tw_head_back(sw_seg *s)
{
	tsk_seg_ring *rh = (tsk_seg_ring *)(s->base + s->h->rings.off);

	atomic_store(&rh->head, UINT64_MAX - 3);
}

int main(int argc, char **argv)
{
	sw_config small = sw_small_config();
	sw_config one = small, wide = small;

	if (argc != 2) {
		fprintf(stderr, "usage: %s DIR\n", argv[0]);
		return 1;
	}
	dir = argv[1];
	one.nrings = 1;
	one.ring_records = 2;
	wide.nrings = 4;
	wide.ring_records = 16;
	wide.nstacks = 0;
	make_seed("empty", small, 0, NULL);
	make_seed("populated", small, 5, NULL);
	make_seed("wrapped", small, 100, NULL);
	make_seed("one-ring", one, 7, NULL);
	make_seed("wide", wide, 50, NULL);
	make_seed("stream", small, 30, tw_stream);
	make_seed("torn", small, 10, tw_torn);
	make_seed("no-calib", small, 3, tw_no_calib);
	make_seed("counters", small, 12, tw_counters);
	make_seed("bad-strings", small, 4, tw_bad_strings);
	make_seed("head-back", small, 20, tw_head_back);
	printf("mkcorpus: %d seeds in %s\n", nseeds, dir);
	return 0;
}
