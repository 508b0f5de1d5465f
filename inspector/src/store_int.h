/*
 * store_int.h - the history store's private interface, shared by store.c
 * (opening, closing, the queue, the writer thread), store_rows.c (the
 * batches and the row producers), store_write.c (the SQL of a
 * transaction) and store_retain.c (retention).
 *
 * A batch is what the collector filled between two hand-offs: one array
 * per kind of row, in call order, plus an arena for the copied texts.  The
 * writer commits whole batches; a batch is never shared: the collector
 * owns it until it is queued, the writer from then on, until it comes back
 * through the free list.
 */
#ifndef TS_STORE_INT_H
#define TS_STORE_INT_H

#include <pthread.h>
#include <sqlite3.h>
#include <stddef.h>
#include <stdint.h>

#include "idmap.h"
#include "store.h"

/* Rows per batch: a full batch is handed to the writer.  16k intervals
 * (64 bytes each) is 1 MiB of memory, about 0.5 MiB on disk.  8k, 16k and
 * 32k commit at the same rate here (about 1.1M rows/s, within the noise):
 * a commit with synchronous=NORMAL is a WAL append without fsync.  At low
 * event rates the collector's periodic store_flush is the commit point. */
#define STORE_BATCH_ROWS 16384

/* Bytes the writer may fall behind before rows are dropped (stats.dropped). */
#define STORE_QUEUE_MAX ((size_t)256 << 20)

/* Batches committed in one transaction at most, when several are queued. */
#define STORE_TXN_BATCHES 8

/* Multi-row INSERTs: rows per statement, the big one and the tail one
 * (what is left below STORE_TAIL_ROWS goes one row at a time). */
#define STORE_MULTI_ROWS 128
#define STORE_TAIL_ROWS  16

#define STORE_NO_TEXT UINT32_MAX /* arena offset of a NULL text */

/* A growable array of rows of one kind. */
typedef struct store_vec {
	void *p;
	size_t n;   /* rows in use */
	size_t cap; /* rows allocated */
} store_vec;

typedef struct store_str_row {
	uint32_t id;
	uint32_t text; /* arena offset */
} store_str_row;

typedef struct store_stack_row {
	uint32_t id;
	uint32_t nframes; /* clamped to TSK_SEG_STACK_DEPTH */
	tsk_seg_frame frames[TSK_SEG_STACK_DEPTH];
} store_stack_row;

/* store_task: the row as first seen. */
typedef struct store_task_row {
	uint64_t id;
	uint64_t parent;
	int64_t spawned_ns;
	int64_t ended_ns;
	uint32_t flags;
	uint32_t name; /* arena offsets */
	uint32_t location;
	uint32_t function;
	uint8_t state;
} store_task_row;

/* store_task_final: counters and histograms. */
typedef struct store_final_row {
	uint64_t id;
	uint64_t parent;
	int64_t spawned_ns;
	int64_t ended_ns;
	uint32_t flags;
	uint8_t state;
	char name[24];
	uint64_t polls, busy_ns, sched_ns, idle_ns, wakes, self_wakes;
	uint64_t max_run_ns, max_wait_ns;
	int64_t max_wait_at_ns; /* -1 none */
	uint64_t run[MODEL_HIST_BUCKETS];
	uint64_t wait[MODEL_HIST_BUCKETS];
} store_final_row;

typedef struct store_res_row {
	uint64_t id;
	uint8_t kind;
	char name[24];
	uint32_t location; /* arena offset */
	int64_t created_ns;
	int64_t freed_ns;
	uint64_t capacity;
	uint64_t sends, recvs, acquires, max_value;
} store_res_row;

/* A span: up to three consecutive intervals of one task in their usual
 * order - ready (or unknown), running, blocked - as one row of table
 * spans (docs/SCHEMA.md): a third of the rows per-interval rows would
 * take.  Times: INT64_MIN = no such part (run_ns, stop_ns); end_ns -1 =
 * still open. */
typedef struct store_span_row {
	uint64_t task;
	int64_t start_ns;  /* start of the first part */
	int64_t run_ns;    /* start of the running part, INT64_MIN none */
	int64_t stop_ns;   /* start of the blocked part, INT64_MIN none */
	int64_t end_ns;    /* end of the last part, -1 open */
	uint64_t waker;    /* ready part: model_interval.obj */
	uint64_t resource; /* blocked part: the awaited id */
	int64_t deadline_ns;
	uint32_t site, label, stack;
	uint16_t worker;
	uint8_t state0; /* state of the first part: MS_UNKNOWN, MS_READY, MS_RUNNING, MS_BLOCKED */
	uint8_t how;    /* ready part */
	uint8_t wait;   /* blocked part: wait kind */
} store_span_row;

typedef struct store_batch {
	struct store_batch *next; /* queue or free list link */
	size_t rows;              /* rows in it, every kind */
	size_t bytes;             /* memory it holds (set when queued) */
	int have_proc;            /* proc is set */
	store_proc proc;          /* the latest store_process */
	store_vec strings;        /* store_str_row */
	store_vec stacks;         /* store_stack_row */
	store_vec tasks;          /* store_task_row */
	store_vec finals;         /* store_final_row */
	store_vec res;            /* store_res_row */
	store_vec iv;             /* store_span_row */
	store_vec own;            /* model_own */
	store_vec ev;             /* model_event */
	store_vec sql;            /* uint32_t: arena offsets of SQL statements (rare rows) */
	char *arena;              /* texts, NUL-terminated */
	size_t arena_used, arena_cap;
} store_batch;

/* Prepared statements of one multi-row table: STORE_MULTI_ROWS,
 * STORE_TAIL_ROWS and 1 row. */
typedef struct store_multi {
	sqlite3_stmt *big, *tail, *one;
	int ncols;
} store_multi;

/* The writer's side: the connection and what only the writer thread
 * touches while it runs (the calling thread only after joining it, or
 * while it is idle). */
typedef struct store_writer {
	sqlite3 *db;
	const char *path;     /* for messages; ":memory:" in memory */
	const char *wal_path; /* path + "-wal" */
	int in_memory;
	store_multi iv, own, ev;
	sqlite3_stmt *str, *stack, *frame, *task, *final, *hist, *res, *proc;
	sqlite3_stmt *begin, *commit, *rollback;
	/* retention */
	int64_t max_size;
	int64_t max_age;
	int txn_batches;   /* batches per transaction at most */
	int64_t newest_ns; /* newest end time committed (INT64_MIN: none) */
	uint64_t deleted;  /* rows deleted by retention, in total */
	char err[256];     /* the first error, "" none */
} store_writer;

/* The store (store.h).  Invariants: see store.c. */
struct store {
	store_writer w;
	char *path, *wal_path, *shm_path; /* NULL in memory */
	pthread_t thread;
	int thread_started;
	pthread_mutex_t mu;
	pthread_cond_t work;      /* writer: a batch was queued, or stop */
	pthread_cond_t idle;      /* store_sync: the writer finished what it took */
	store_batch *head, *tail; /* the queue, oldest first */
	store_batch *free;        /* recycled batches */
	int nfree;
	int busy;   /* the writer holds batches taken off the queue */
	int stop;   /* store_close: the writer ends once the queue is empty */
	int failed; /* the writer failed: w.err says why */
	size_t queued_bytes;
	size_t queue_max;
	store_stats stats; /* rows, batches, dropped, deleted, db_bytes */
	store_batch *cur;  /* calling thread: the batch being filled */
	/* calling thread: each task's span still growing (store_span_row) */
	idmap spans;
	int64_t newest_iv_ns; /* the latest interval end seen */
};

/* store.c */

/* Queues s->cur for the writer and starts a new batch; never waits.  (A
 * batch the queue has no room for loses rows: stats.dropped.) */
void store__hand_off(store *s);

/* store_rows.c */

/* Empties a batch, keeping its memory (and its next link). */
void store__batch_reset(store_batch *b);
void store__batch_free(store_batch *b);
/* Bytes of the rows of b: all of them, the bulk ones (intervals,
 * ownership, events). */
size_t store__batch_bytes(const store_batch *b);
size_t store__bulk_bytes(const store_batch *b);
/* Writes the growing spans that started before `before` (INT64_MAX: all)
 * as they are: store_flush (those older than a second: a live reader sees
 * them soon), store_sync and store_close (all). */
void store__spans_flush(store *s, int64_t before);
/* Writes task's growing span: the task ended. */
void store__spans_task_done(store *s, uint64_t task);

/* store_write.c */

/* Prepares every statement.  Returns 0, or -1 with a message in w->err. */
int store__write_prepare(store_writer *w);
void store__write_finalize(store_writer *w);
/* Writes the batches of the list (linked by next, at most max of them) in
 * one transaction.  Returns 0, or -1 with a message in w->err (the
 * transaction rolled back). */
int store__write_txn(store_writer *w, store_batch *list, int max);
/* A one-line message "path: what: sqlite's message" into w->err. */
void store__write_fail(store_writer *w, const char *what);
/* Names of the codes, as stored (static strings; unknown codes as
 * "type<N>" / "kind<N>" in buf). */
const char *store__ev_name(unsigned type, char *buf, size_t cap);
const char *store__res_kind_name(unsigned kind, char *buf, size_t cap);
const char *store__state_name(unsigned state);

/* store_retain.c */

/* Applies max_size and max_age after a commit.  Returns 0, or -1 with a
 * message in w->err. */
int store__retain(store_writer *w);
/* Makes room for the indexes under max_size (store_close).  0 or -1. */
int store__retain_for_indexes(store_writer *w);
/* Bytes of the database: the file and its WAL (page count when in
 * memory). */
int64_t store__db_bytes(store_writer *w);

/* Test hook: the queue bound (STORE_QUEUE_MAX by default), so that a test
 * makes the writer fall behind without filling 256 MiB. */
void store__set_queue_max(store *s, size_t bytes);

#endif /* TS_STORE_INT_H */
