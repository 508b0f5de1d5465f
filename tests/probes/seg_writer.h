/*
 * seg_writer.h - a small, test-only segment writer (prefix sw_).
 *
 * It lays out a segment exactly as tsk_segment.h and docs/FORMAT.md say and
 * follows the writer side of every protocol (seqlocked slots, calibration,
 * rings in flight and stream mode with loss records), so that the reader
 * can be tested against a known writer, independently of libtaskscope's
 * own probes, and so that tests can corrupt any field on purpose.
 *
 * Not thread-safe except where stated: one thread per ring (sw_emit),
 * one writer per slot.  Usable from a forked child (the mapping is shared).
 */
#ifndef TSK_SEG_WRITER_H
#define TSK_SEG_WRITER_H

#include <stdint.h>
#include <sys/types.h>

#include "tsk_segment.h"

typedef struct sw_config {
	uint32_t ntasks;       /* task slots */
	uint32_t nres;         /* resource slots */
	uint32_t nstacks;      /* stack entries */
	uint32_t nrings;       /* rings */
	uint32_t ring_records; /* records per ring, a power of two */
	uint32_t str_bytes;    /* string table size */
	int32_t pid;           /* 0: getpid() */
	uint64_t start_ticks;  /* /proc/<pid>/stat field 22 */
	const char *program;   /* NULL: "sw-test" */
} sw_config;

/* Per-ring writer state (the producer's own memory, never in the segment). */
typedef struct sw_ring {
	uint64_t head;         /* next index */
	uint64_t pending_lost; /* dropped since the last LOST record */
} sw_ring;

typedef struct sw_seg {
	int fd;
	uint8_t *base;
	uint64_t size;
	tsk_seg_header *h;
	char path[256];
	sw_ring *rings; /* cfg.nrings */
	uint32_t nrings;
} sw_seg;

/* A config small enough for unit tests and the fuzzer's seeds. */
sw_config sw_small_config(void);

/* Creates the segment file at path (mode 0600, replaced if it exists) and
 * maps it.  Returns 0 or -errno. */
int sw_create(sw_seg *s, const char *path, const sw_config *cfg);

/* Unmaps; unlinks the file when unlink_it. */
void sw_destroy(sw_seg *s, int unlink_it);

/* Appends a string (cut to TSK_SEG_STR_MAX); returns its id, 0 if full. */
uint32_t sw_str(sw_seg *s, const char *str);

/* Appends a stack of n frames; returns its id (index + 1), 0 if full. */
uint32_t sw_stack(sw_seg *s, const uint64_t *pcs, const uint32_t *syms, uint32_t n);

/* Writes a whole slot under its seqlock (seq odd, fields, seq even).  The
 * slot's seq field in *t / *res is ignored.  Raises task_hwm / res_hwm. */
void sw_task_write(sw_seg *s, uint32_t index, const tsk_seg_task *t);
void sw_res_write(sw_seg *s, uint32_t index, const tsk_seg_res *res);

/* The first half of a slot update: seq odd, as a writer that dies here
 * leaves it. */
void sw_task_begin(sw_seg *s, uint32_t index);

/* Writes the calibration pairs under calib_seq. */
void sw_calib(sw_seg *s, uint64_t tsc0, int64_t mono0, uint64_t tsc1, int64_t mono1,
              uint32_t tsc_is_ns);

/* Claims ring `ring` for thread tid (ring_used raised). */
void sw_ring_claim(sw_seg *s, uint32_t ring, int32_t tid);

/* Appends ev (its seq ignored) to ring `ring`.  In stream mode a ring with
 * no room drops it (counted in the ring's lost and in the next LOST
 * record), unless the reader heartbeat is older than 2 s (flight mode
 * again).  Returns 1 written, 0 dropped. */
int sw_emit(sw_seg *s, uint32_t ring, const tsk_seg_event *ev);

/* Waits (up to timeout_ms) until the ring has room for the pending LOST
 * record and writes it.  Returns 0 (nothing pending, or written) or
 * -ETIMEDOUT. */
int sw_flush_lost(sw_seg *s, uint32_t ring, int timeout_ms);

#endif
