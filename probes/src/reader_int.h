/*
 * reader_int.h - private interface of the segment reader (reader*.c).
 *
 * The tsk_reader struct and the few helpers every reader file shares: error
 * recording, bounds-checked pointers into the mapping, and word-wise copies
 * with relaxed atomic loads.
 *
 * Invariants:
 *   - r->info holds the section table as validated at open.  Nothing ever
 *     reads the section table from the mapping again (the writer, or a
 *     hostile process, may rewrite it), so every pointer below derives from
 *     r->info and indices checked against it.
 *   - Live counters (str_used, task_hwm, ...) are read from the mapping each
 *     time and clamped to the validated section before use.
 *   - Copies out of the mapping use relaxed atomic loads, so a concurrent
 *     writer is a race on atomics (defined, and TSan-clean), never a data
 *     race; validity is then decided on the copy (seqlock, record seq).
 */
#ifndef TSK_READER_INT_H
#define TSK_READER_INT_H

#include <stdatomic.h>
#include <stdint.h>
#include <string.h>

#include "tsk_reader.h"

/* Seqlock attempts before a slot is returned torn: spins, then a few
 * yields.  A live writer holds a slot odd for well under a microsecond;
 * one still odd after this was preempted (the next snapshot gets it) or
 * died.  Yields are few because on a busy machine each may cost a time
 * slice. */
#define RD_SEQ_SPINS 64
#define RD_SEQ_TRIES 72

/* A stream-mode writer falls back to flight mode when the reader heartbeat
 * is older than this (tsk_segment.h); an attached reader older than this
 * may be replaced. */
#define RD_STALE_NS 2000000000LL

/* Records per batch in tsk_reader_ring_drain. */
#define RD_BATCH 256

struct tsk_reader {
	uint8_t *base;         /* the mapping (or private copy) of the whole segment */
	uint64_t size;         /* bytes at base: info.segment_size */
	unsigned flags;        /* enum tsk_rd_open_flags */
	int mapped;            /* 1: base is an mmap (munmap it), 0: malloc'd copy */
	tsk_seg_header *h;     /* == base: for the live counters only */
	tsk_rd_info info;      /* validated at open; the only source of the layout */
	char path[256];        /* as opened, "" for an fd */
	tsk_rd_ring_stats *rs; /* per ring, info.rings.count of them */
	int attached;          /* stream mode: we hold reader_pid */
	tsk_rd_rec *batch;     /* RD_BATCH records for tsk_reader_ring_drain, lazily */
};

/* Records code with a detailed message for tsk_reader_strerror on this
 * thread; returns code. */
int rd__fail(int code, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Checks a header copy read from a file of file_size bytes: magic,
 * version, header size, segment size against the file, every section and
 * ring_records.  Returns 0 or a TSK_RD_E* code (recorded with rd__fail). */
int rd__check_header(const tsk_seg_header *hc, uint64_t file_size);

/* Copies n bytes (a multiple of 8) of a seqlocked object whose sequence
 * word is *seqp, in at most max_tries attempts (reader_snap.c has the
 * protocol).  Returns 0 (consistent; *seq_out its even sequence) or 1
 * (torn: the writer kept it odd or changing; dst holds a best-effort copy). */
int rd__seq_copy(const _Atomic uint32_t *seqp, const void *src, void *dst, size_t n, int max_tries,
                 uint32_t *seq_out);

/* Seqlock attempts for r: one for a private copy (nothing can change it). */
static inline int rd__seq_tries(const tsk_reader *r)
{
	return (r->flags & TSK_RD_COPY) ? 1 : RD_SEQ_TRIES;
}

/* CLOCK_MONOTONIC in ns. */
int64_t rd__now_ns(void);

/* Copies n bytes (a multiple of 8, both 8-aligned) with relaxed 64-bit
 * atomic loads: a concurrent writer is then a race on atomics, not UB. */
static inline void rd__copy_words(void *dst, const void *src, size_t n)
{
	const uint64_t *s = src;
	uint64_t w;

	for (size_t i = 0; i < n / 8; i++) {
		w = __atomic_load_n(&s[i], __ATOMIC_RELAXED);
		memcpy((uint8_t *)dst + 8 * i, &w, 8);
	}
}

static inline uint64_t rd__load64(const void *p)
{
	return __atomic_load_n((const uint64_t *)p, __ATOMIC_RELAXED);
}

static inline uint32_t rd__load32(const void *p)
{
	return __atomic_load_n((const uint32_t *)p, __ATOMIC_RELAXED);
}

/* Slot i of a validated section (the caller checked i < count). */
static inline uint8_t *rd__item(const tsk_reader *r, const tsk_seg_section *s, uint64_t i)
{
	return r->base + s->off + i * s->stride;
}

/* A live counter clamped to a bound. */
static inline uint64_t rd__clamp(uint64_t v, uint64_t max)
{
	return v < max ? v : max;
}

#endif /* TSK_READER_INT_H */
