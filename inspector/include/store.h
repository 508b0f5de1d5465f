/*
 * store.h - the SQLite writer: takes the model's output (tasks, resources,
 * state intervals, ownership intervals, raw events, strings, stacks) and
 * writes it to a history database (db.h, docs/SCHEMA.md) from its own
 * thread, in large transactions with prepared multi-row inserts.
 *
 * The calling thread (the collector) only appends rows to an in-memory
 * batch; a full batch (or store_flush) is queued to the writer thread,
 * which commits it as one transaction.  So the collector never waits for
 * the disk; if the writer falls more than STORE_QUEUE_MAX bytes behind,
 * rows are dropped and counted (store_stats.dropped) rather than stalling
 * the collector, whose rings would then overflow in the program.
 *
 * The database is WAL, synchronous=NORMAL: readable by the stock sqlite3
 * while recording, and a recorder killed at any point leaves a database
 * that opens and holds every committed batch.  Indexes are built by
 * store_close (complete = 1).
 *
 * Retention (store_opts): max_size bounds the file (oldest intervals,
 * ownership intervals and events are deleted, freed pages reused); max_age
 * drops rows that ended longer ago than that.  Tasks, resources, strings
 * and stacks are kept (they are small and every row refers to them).
 *
 * One thread calls the store_* functions (besides the internal writer).
 */
#ifndef TS_STORE_H
#define TS_STORE_H

#include <stddef.h>
#include <stdint.h>

#include "model.h"
#include "tsk_segment.h"

typedef struct store store;

typedef struct store_opts {
	int64_t max_size_bytes; /* 0: no limit */
	int64_t max_age_ns;     /* 0: no limit */
	int overwrite;          /* 1: replace an existing file; 0: refuse it (-EEXIST) */
	int in_memory;          /* 1: a private in-memory DB (path ignored): report on a pid */
} store_opts;

/* The process row (table process). */
typedef struct store_proc {
	int32_t pid;
	char name[64];
	uint64_t start_ticks;
	int64_t created_realtime_ns;
	int64_t created_mono_ns;
	char segment[256];
	const char *source; /* "record" | "dump" (static string) */
	uint32_t workers;
	int64_t first_ns, last_ns; /* INT64_MIN: none yet */
	uint64_t events, lost, overwritten;
} store_proc;

typedef struct store_stats {
	uint64_t rows;         /* rows committed */
	uint64_t batches;      /* transactions committed */
	uint64_t dropped;      /* rows dropped because the writer fell behind */
	uint64_t queued_bytes; /* waiting for the writer now */
	uint64_t deleted;      /* rows deleted by retention */
	int64_t db_bytes;      /* size of the file (+ WAL) at the last commit */
} store_stats;

/* Creates the database at path (or in memory), sets WAL, creates the
 * tables and starts the writer thread.  On failure returns NULL with a
 * one-line message in err: an existing file without overwrite, a
 * directory that does not exist, a file SQLite cannot open. */
store *store_open(const char *path, const store_opts *opts, char *err, size_t cap);

/* Row producers (calling thread).  Texts are copied. */
void store_process(store *s, const store_proc *p); /* insert or replace the one row */
void store_string(store *s, uint32_t id, const char *text);
void store_stack(store *s, uint32_t id, const tsk_seg_stack *st); /* + its frames */
void store_task(store *s, const model_task *t, const char *location, const char *function);
void store_task_final(store *s, const model_task *t); /* counters, state, ended, histograms */
void store_res(store *s, const model_res *r, const char *location);
void store_interval(store *s, const model_interval *iv);
void store_own(store *s, const model_own *o);
void store_event(store *s, const model_event *e);
/* One SQL statement (INSERT) run in the batch's transaction: for rare rows
 * (deadlocks, warnings) that need no prepared statement of their own. */
void store_sql(store *s, const char *sql);

/* Hands the current batch to the writer now (a commit point). */
void store_flush(store *s);

/* Waits until every queued batch is committed.  Returns 0, or -1 with the
 * writer's error in err (a full disk, a file removed under us). */
int store_sync(store *s, char *err, size_t cap);

void store_get_stats(store *s, store_stats *out);

/* The SQLite handle, for reading (report on a pid uses the in-memory DB):
 * only after store_sync, and only from the calling thread while the writer
 * is idle. */
struct sqlite3 *store_db(store *s);

/* Flushes, waits, builds the indexes if complete, marks the process row
 * complete, checkpoints the WAL and closes.  Returns 0 or -1 with a
 * message in err.  NULL is a no-op returning 0. */
int store_close(store *s, int complete, char *err, size_t cap);

/* As store_close(s, 1, ...) but keeps the database open and hands it to
 * the caller in *out (close it with sqlite3_close): report on a pid reads
 * the in-memory DB of its dump this way.  The store is freed either way.
 * Returns 0, or -1 with a message in err (*out then NULL). */
int store_close_keep(store *s, struct sqlite3 **out, char *err, size_t cap);

#endif /* TS_STORE_H */
