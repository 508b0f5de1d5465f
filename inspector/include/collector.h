/*
 * collector.h - reads one process's segment into a model (and, through
 * the model's sink, a store): the one pipeline behind record, run, dump,
 * report on a pid, and (later) the live TUI.
 *
 * Two ways to read:
 *   - COLL_STREAM: the live process's segment mapped read-write and
 *     attached in stream mode from the oldest record still in the rings
 *     (the flight recorder's history comes first), so the program's
 *     writers never overwrite what we have not read; each coll_pass drains
 *     every ring, merges the per-thread streams in time order up to a
 *     watermark (records younger than COLL_HOLD_NS wait for the next pass,
 *     so a record a slower ring has not published yet is not overtaken),
 *     and applies them.  The first pass then reconciles the model with the
 *     live state, so every existing task is known at once.
 *   - COLL_DUMP: a private copy of the segment (a live, stopped or dead
 *     process; immune to a writer that truncates the file): every record
 *     still in the rings, merged and applied, then the live state.
 *
 * Timestamps are converted with the segment's calibration to ns since
 * the process created its segment (model.h).
 *
 * One thread uses a collector at a time.
 */
#ifndef TS_COLLECTOR_H
#define TS_COLLECTOR_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "detect.h"
#include "model.h"
#include "store.h"
#include "tsk_reader.h"

#define COLL_HOLD_NS  2000000    /* 2 ms: how long a record waits for slower rings */
#define COLL_PEND_MAX (1u << 20) /* records a ring may hold back, whatever their time */

enum coll_mode {
	COLL_STREAM = 1,
	COLL_DUMP = 2,
};

typedef struct coll coll;

/* What a collector counted. */
typedef struct coll_stats {
	uint64_t records;          /* read from the rings (LOST records included) */
	uint64_t applied;          /* applied to the model */
	uint64_t lost;             /* records the program dropped, by the LOST records read */
	uint64_t lost_writer;      /* the same by the rings' own counters (the program's side) */
	uint64_t overwritten;      /* records overwritten before they were read */
	uint64_t corrupt;          /* records that failed validation */
	uint64_t pending;          /* read, waiting for the watermark */
	int64_t first_ns, last_ns; /* times of the oldest and newest record applied */
} coll_stats;

/* Resolves target: a decimal pid (its segment in TSK_SEG_DIR) or the path
 * of a segment file, into the segment's path (cap bytes) and the pid.
 * Returns 0, or -1 with a one-line message in err naming what is wrong: no
 * such process and no segment, a process that is not instrumented, a
 * segment we may not read. */
int coll_resolve(const char *target, char *path, size_t cap, pid_t *pid, char *err, size_t errcap);

/* Opens the segment at path in the given mode.  st may be NULL (no
 * history: the model only).  On success *out is the collector, which owns
 * a model (coll_model) whose sink writes to st.  Returns 0, or -1 with a
 * one-line message in err: a corrupt segment, another reader attached
 * (stream mode), permission denied. */
int coll_open(const char *path, int mode, store *st, coll **out, char *err, size_t cap);

/* Stream mode: hands the rings back to the program (flight mode) at once;
 * the collector keeps what it read.  Call it right after the last pass,
 * before slow work (the store's index build): the program's writers must
 * not wait for a reader that stopped reading.  No-op otherwise. */
void coll_detach(coll *c);

/* Detaches (stream mode: the program is left exactly as it was) and frees
 * everything but the store.  NULL is a no-op. */
void coll_close(coll *c);

/* One pass: drains every ring, applies what is older than the watermark
 * (everything when final).  Returns the records applied (>= 0). */
ssize_t coll_pass(coll *c, int final);

/* Dump mode: reads everything and reconciles with the live state (one
 * call does the whole dump).  Returns 0 or -1 with a message. */
int coll_dump(coll *c, char *err, size_t cap);

/* Ends the history at the newest record: the model's final rows and open
 * intervals go to the store; the process row is written.  Call once,
 * after the last pass. */
void coll_finish(coll *c);

/* Writes the process row with the current counters (cheap; call about
 * once a second while recording). */
void coll_update_process(coll *c);

/* Runs the deadlock detector and lints on what the collector reads, with
 * thresholds cfg (NULL: defaults): verdicts go to the store (tables
 * deadlocks, deadlock_tasks) and to announce (may be NULL) the moment they
 * are confirmed; warnings go to the store at coll_finish.  Call right after
 * coll_open.  Stream mode confirms on the live segment; a dump confirms on
 * the process if it still runs, else on its copy. */
void coll_detect(coll *c, const det_config *cfg, void (*announce)(void *ctx, const det_deadlock *d),
                 void *ctx);
det *coll_det(coll *c); /* NULL before coll_detect */

model *coll_model(coll *c);

/* Every closed state interval is also handed to fn (the live timeline). */
void coll_on_interval(coll *c, void (*fn)(void *ctx, const model_interval *iv), void *ctx);

/* The text of string id of the segment into buf (cap bytes); 0 or -1. */
int coll_string(coll *c, uint32_t id, char *buf, size_t cap);
/* The frames of a stack id of the segment: 0, or -1. */
int coll_stack(coll *c, uint32_t id, tsk_seg_stack *out);
const tsk_rd_info *coll_info(coll *c);
void coll_get_stats(coll *c, coll_stats *out);

/* TSK_RD_LIVE or TSK_RD_DEAD: is the process still there? */
int coll_liveness(coll *c);

#endif /* TS_COLLECTOR_H */
