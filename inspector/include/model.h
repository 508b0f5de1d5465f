/*
 * model.h - the inspector's in-memory model of one instrumented process:
 * tasks and their parent tree, resources, current waits and holdings, and
 * what each task did over time (state intervals, counters, histograms).
 *
 * The model is fed one event at a time in time order (model_apply), by the
 * collector (live rings, stream mode) or by dump (flight rings), and is
 * reconciled with the segment's live state (model_seed) so that a late
 * attach knows every existing task at once.  It never reads the segment
 * itself: the collector converts timestamps and hands it copies.
 *
 * What it produces besides its own state goes to a sink (model_sink):
 * every closed state interval, every closed ownership interval, task and
 * resource rows, and the raw events kept as such.  The store is the sink
 * that writes SQLite; a NULL sink keeps the model only (the TUI).
 *
 * Times are nanoseconds since the process created its segment
 * (CLOCK_MONOTONIC minus tsk_rd_info.created_mono_ns): small numbers that
 * SQLite stores in few bytes, and the same in every table.
 *
 * Invariants:
 *   - Any event is accepted in any state: events may be missing (a window
 *     that starts late, losses) or repeat what a seed already showed.  A
 *     task's intervals always tile [spawned_ns, ended_ns] with no gap or
 *     overlap: each transition closes the open interval at
 *     max(t, its start) and opens the next one there.
 *   - Task and resource ids are those of the segment (never reused).
 *   - Not thread-safe: the caller serialises (the collector holds its
 *     lock around each batch; readers take it too).
 */
#ifndef TS_MODEL_H
#define TS_MODEL_H

#include <stddef.h>
#include <stdint.h>

#include "tsk_segment.h"

/* States of an interval and of a task.  1-4 are enum tsk_task_state. */
enum model_state {
	MS_UNKNOWN = 0, /* alive, but before the first thing we saw of it */
	MS_READY = 1,
	MS_RUNNING = 2,
	MS_BLOCKED = 3,
	MS_DONE = 4, /* returned (the task's life ends here: no interval) */
};

#define MODEL_HIST_BUCKETS 48 /* bucket b counts durations in [2^b, 2^(b+1)) ns; b 0: < 2 ns */

typedef struct model_hist {
	uint32_t count[MODEL_HIST_BUCKETS];
	uint64_t n;
	uint64_t sum_ns;
	uint64_t max_ns;
} model_hist;

/* One closed (or, at the end, still open: end_ns = -1) state interval. */
typedef struct model_interval {
	uint64_t task;
	int64_t start_ns;
	int64_t end_ns;      /* -1: still open */
	uint8_t state;       /* enum model_state */
	uint8_t wait_kind;   /* enum tsk_wait_kind (BLOCKED), else 0 */
	uint16_t worker;     /* RUNNING: worker index; else 0xffff */
	uint32_t site;       /* BLOCKED: string id of the wait's call site; else 0 */
	uint32_t label;      /* string id of the user label (tsk_set_state) during it, 0 none */
	uint32_t stack;      /* BLOCKED: stack id at the suspension, 0 none */
	uint64_t obj;        /* BLOCKED: awaited id (resource, task, fd|bits, fn); READY: the
	                        waker task (0: timer, runtime, reactor, other thread) */
	int64_t deadline_ns; /* BLOCKED: the wait's deadline (process ns), -1 none */
	uint8_t how;         /* READY: 0 spawned, 1 woken, 2 timed out, 3 cancelled, 4 yielded,
	                        5 preempted-unknown (a RUN without a WAKE) */
} model_interval;

enum model_ready_how {
	MR_SPAWNED = 0,
	MR_WOKEN = 1,
	MR_TIMEOUT = 2,
	MR_CANCELLED = 3,
	MR_YIELDED = 4,
	MR_UNSEEN = 5, /* the event that made it ready was not seen */
};

typedef struct model_task {
	uint64_t id;
	uint64_t parent;     /* 0: a root */
	char name[24];       /* NUL-terminated; "" if never seen */
	uint32_t spawn_site; /* string id "file:line func" */
	uint32_t flags;      /* enum tsk_task_flags */
	int64_t spawned_ns;  /* INT64_MIN: unknown (spawned before anything we saw) */
	int64_t ended_ns;    /* -1 while alive */
	/* the open interval: its state and details */
	model_interval cur;
	int64_t skip_before; /* events of this task older than this were summarised by a seed */
	/* counters */
	uint64_t polls;      /* times it started running */
	uint64_t busy_ns;    /* time running */
	uint64_t sched_ns;   /* time ready, waiting for a worker */
	uint64_t idle_ns;    /* time blocked */
	uint64_t wakes;      /* times made ready by a wake */
	uint64_t self_wakes; /* wakes whose waker is the task itself */
	uint64_t nchildren;
	int64_t max_wait_at_ns; /* start of the longest wait (wait.max_ns), -1 none */
	model_hist run;         /* running intervals */
	model_hist wait;        /* blocked intervals */
	/* a WAKE met while the task still runs: its BLOCK, stamped later than
	 * the waker's step time the WAKE carries, is still to come */
	uint64_t pend_waker;
	uint8_t pend_wake;  /* 1: a WAKE waits for the task's BLOCK */
	uint8_t pend_how;   /* its a32 */
	uint8_t seen_spawn; /* its SPAWN was seen (so spawned_ns is exact) */
	uint8_t emitted;    /* its row was handed to the sink */
	uint32_t wq_pos;    /* BLOCKED on a resource: its index in that resource's wq */
	uint32_t nholds;    /* locks it holds now (mutexes, read and write locks) */
	uint64_t held[4];   /* the first four of them (0: free entry) */
	uint64_t last_used; /* the resource it last used (a cache for model_res.users) */
} model_task;

/* An open ownership: a task holding a mutex or a read/write lock. */
typedef struct model_hold {
	uint64_t task;
	int64_t start_ns; /* INT64_MIN: held before anything we saw */
	uint8_t shared;   /* 1: read lock */
} model_hold;

typedef struct model_res {
	uint64_t id;
	uint8_t kind; /* enum tsk_res_kind */
	uint8_t closed;
	char name[24];
	uint32_t site;
	int64_t created_ns; /* INT64_MIN: created before anything we saw */
	int64_t freed_ns;   /* -1 while it exists */
	uint64_t capacity;  /* channel capacity (UINT64_MAX unbounded); semaphore initial */
	uint64_t value;     /* channel length, semaphore units, wait group count (last seen) */
	uint64_t max_value;
	uint64_t sends, recvs, acquires, releases, signals;
	model_hold *holds; /* current holders (mutex, rwlock) */
	uint32_t nholds, caphold;
	uint8_t emitted;
	uint8_t ext_used; /* used by a thread outside the runtime (events of task 0) */
	uint64_t creator; /* the task that created it, 0 unknown */
	uint64_t *wq;     /* the tasks blocked on it now, in no order */
	uint32_t nwq, capwq;
	struct idmap *users;    /* every task that created, used or waited on it (a set;
	                           ended tasks are pruned as it grows) */
	uint32_t users_pruned;  /* its size after the last pruning */
	int64_t lost_signal_ns; /* the last condvar signal, if it woke nobody; else -1 */
	int64_t last_ev_ns;     /* time of the last event applied to it, INT64_MIN none */
} model_res;

/* A raw event kept as such (what intervals do not say). */
typedef struct model_event {
	int64_t ns;
	uint16_t type; /* enum tsk_ev_type */
	uint16_t worker;
	uint64_t task;
	uint64_t obj;
	uint64_t arg;
} model_event;

/* A closed ownership interval. */
typedef struct model_own {
	uint64_t resource;
	uint64_t task;
	int64_t start_ns; /* INT64_MIN: held before anything we saw */
	int64_t end_ns;   /* -1: still held */
	uint8_t shared;
} model_own;

/* What the model hands out.  Every callback may be NULL.  Pointers are
 * valid during the call only. */
typedef struct model_sink {
	void *ctx;
	void (*task)(void *ctx, const model_task *t); /* new task, or its final row */
	void (*res)(void *ctx, const model_res *r);   /* new resource, or its final row */
	void (*interval)(void *ctx, const model_interval *iv);
	void (*own)(void *ctx, const model_own *o);
	void (*event)(void *ctx, const model_event *e);
	void (*string)(void *ctx, uint32_t id); /* first use of a string id */
	void (*stack)(void *ctx, uint32_t id);  /* first use of a stack id */
	/* the text of string id into buf (cap bytes); returns 0 or -1 */
	int (*resolve)(void *ctx, uint32_t id, char *buf, size_t cap);
} model_sink;

/* What the model tells a watcher (the deadlock detector and lints) as
 * it applies events: facts that need no scan of the whole model. */
enum model_note_kind {
	MN_WAIT = 1,         /* task began a wait (any kind, timed or not): obj, wait_kind */
	MN_LONG_RUN = 2,     /* task ran dur_ns without suspending (>= the watch's threshold) */
	MN_HOLD_SUSPEND = 3, /* task suspended (wait_kind, obj) while holding lock res */
	MN_END = 4,          /* task returned */
};

typedef struct model_note {
	uint8_t kind;      /* enum model_note_kind */
	uint8_t wait_kind; /* MN_WAIT, MN_HOLD_SUSPEND */
	uint16_t worker;   /* MN_LONG_RUN */
	uint32_t site;     /* the wait's call site */
	uint64_t task;
	uint64_t obj; /* the awaited id */
	uint64_t res; /* MN_HOLD_SUSPEND: the lock held */
	int64_t ns;   /* when (the wait's or the run's start) */
	int64_t dur_ns;
} model_note;

typedef struct model_watch {
	void *ctx;
	void (*note)(void *ctx, const model_note *n);
	int64_t long_run_ns; /* MN_LONG_RUN from this long (0: never) */
} model_watch;

typedef struct model_worker {
	uint64_t task;       /* running now, 0 none */
	int64_t busy_ns;     /* time running tasks */
	int64_t last_change; /* when `task` last changed */
	uint64_t polls, parks, steals;
	uint8_t parked;
} model_worker;

#define MODEL_MAX_WORKERS 4096

typedef struct model model;

/* Creates an empty model; sink may be NULL (copied).  Aborts on allocation
 * failure (the inspector's x*alloc policy). */
model *model_create(const model_sink *sink);
void model_destroy(model *m);

/* Sets time 0 of the process (its segment's created_mono_ns), used to
 * convert the CLOCK_MONOTONIC deadlines of waits. */
void model_set_epoch(model *m, int64_t mono0);

/* Sets (or with NULL clears) the watcher. */
void model_set_watch(model *m, const model_watch *w);

/* Calls fn for every task in r's users set. */
void model_res_each_user(model_res *r, void (*fn)(void *ctx, uint64_t task), void *ctx);

/* How many ended tasks stay in the model after their final row went to
 * the sink (oldest evicted first); default 100000. */
void model_set_max_ended(model *m, uint32_t n);

/* Registers what the live state says of a task (and resource) before
 * events are applied: a task first met in an event other than SPAWN takes
 * its name, parent, spawn site and spawn time from here. */
void model_hint_task(model *m, const tsk_seg_task *slot, int64_t spawned_ns);
void model_hint_res(model *m, const tsk_seg_res *slot, int64_t created_ns);

/* Applies one event whose time is ns (process ns).  Unknown types are
 * ignored. */
void model_apply(model *m, const tsk_seg_event *ev, int64_t ns);

/* Reconciles a task slot of the live state, copied at time ns: a task not
 * known is created in the slot's state since slot time `since_ns`; a known
 * task whose state changed later than the model knows moves to it.  Events
 * of the task older than since_ns are ignored afterwards.  spawned_ns is
 * the slot's spawn time. */
void model_seed_task(model *m, const tsk_seg_task *slot, int64_t since_ns, int64_t spawned_ns);

/* Likewise for a resource slot copied at snap_ns: created if unknown; its
 * owner becomes a holder, and holds the slot does not account for end
 * (other writers; readers when it counts none) - unless the model has
 * applied an event of the resource after snap_ns (it knows better). */
void model_seed_res(model *m, const tsk_seg_res *slot, int64_t created_ns, int64_t snap_ns);

/* Ends the model at time ns: hands every task and resource's final row and
 * every still-open interval and ownership (end -1) to the sink. */
void model_finish(model *m, int64_t ns);

/* The live state says lock id is owned by `owner` (a writer; 0: no
 * writer) at ns: exclusive holds of other tasks end there (events that
 * would have ended them were lost), and owner becomes a holder if it was
 * not one.  Read locks are left as they are (the live state does not name
 * readers). */
void model_fix_owner(model *m, uint64_t id, uint64_t owner, int64_t ns);

/* Lookups (NULL if unknown); valid until the next apply. */
model_task *model_task_get(model *m, uint64_t id);
model_res *model_res_get(model *m, uint64_t id);

/* Iteration in id order is not guaranteed: fn is called for every entry. */
void model_each_task(model *m, void (*fn)(void *ctx, model_task *t), void *ctx);
void model_each_res(model *m, void (*fn)(void *ctx, model_res *r), void *ctx);

/* Writes the ids of the tasks (ended ones kept included), or of the
 * resources, to out, at most cap of them, in no order; returns how many
 * there are (call with cap 0 to size out).  One sequential read of the
 * table, touching no task: a snapshot a caller can then visit by id in
 * slices while the model changes (the TUI's orders). */
size_t model_task_ids(const model *m, uint64_t *out, size_t cap);
size_t model_res_ids(const model *m, uint64_t *out, size_t cap);

/* Aggregate counts. */
typedef struct model_stats {
	uint64_t events;      /* applied */
	uint64_t lost;        /* sum of LOST records */
	uint64_t tasks;       /* known, ended included */
	uint64_t by_state[5]; /* alive tasks by enum model_state; [MS_DONE]: ended */
	uint64_t resources;
	uint32_t nworkers;
	int64_t last_ns; /* time of the newest event applied */
} model_stats;

void model_get_stats(const model *m, model_stats *out);
model_worker *model_worker_get(model *m, uint32_t index); /* NULL if out of range */

/* Histogram helpers. */
void model_hist_add(model_hist *h, uint64_t ns);
/* The q-quantile (0..1) upper bucket bound in ns; 0 if empty. */
uint64_t model_hist_quantile(const model_hist *h, double q);

#endif /* TS_MODEL_H */
