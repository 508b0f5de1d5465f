/*
 * detect.h - deadlock detection and lints over the inspector's model
 * (SPEC §6; the rules in docs/DEADLOCKS.md).
 *
 * The wait-for graph is the model itself: a blocked task's open interval
 * says what it waits on (model_interval.wait_kind, obj, deadline_ns), a
 * resource says who holds it (model_res.holds), who waits on it (wq) and
 * who ever created, used or waited on it (users).  Its edges:
 *   - owned: a task waiting on a mutex, a write lock or a read lock waits
 *     for the holders (a reader behind a queued writer of the
 *     writer-preferring rwlock waits for that writer); a joiner waits for
 *     the joined task;
 *   - wakers: a task waiting on a channel, semaphore, wait group or
 *     condvar can be woken by any task that created or used the resource.
 *
 * Two searches, run from det_step after each batch of events:
 *   - cycles, incrementally: a cycle of untimed owned waits must contain
 *     the newest wait, so only the tasks that began a wait since the last
 *     step are searched from (a depth-first walk along owned edges);
 *   - stalls, by a fixpoint: every task that can progress is free (running,
 *     ready, a timed wait, a sleep, I/O, the blocking pool, a select); a
 *     resource a free task created or used (or holds) is live; a task
 *     waiting on a live resource is free; what stays is stuck.
 * A verdict is confirmed on the live state of the process before it is
 * reported (det_live): every task in it must be blocked there on the same
 * thing without a deadline, and each slot's sequence number unchanged over
 * two reads (one read for a process that cannot change any more).  A
 * "likely" stall must stay unchanged for det_config.hold_ns.
 *
 * Not thread-safe: the collector's thread calls everything.
 */
#ifndef TS_DETECT_H
#define TS_DETECT_H

#include <stddef.h>
#include <stdint.h>

#include "model.h"

typedef struct det_config {
	int64_t long_poll_ns;  /* lint long_poll: a run this long (default 10 ms) */
	int64_t stuck_ns;      /* lint stuck: a wait this long (default 5 s) ... */
	uint32_t stuck_factor; /* ... and this many times the program's p99 wait (10) */
	int64_t lost_ns;       /* lint lost_wakeup: blocked this long (default 1 s) */
	int64_t leak_ns;       /* lint task_leak: alive this long after its parent ended (1 s) */
	uint64_t storm_wakes;  /* lint self_wake_storm: this many self-wakes (1000) */
	int64_t hold_ns;       /* a likely stall must stay unchanged this long (50 ms) */
	int64_t sweep_ns;      /* the least time between two fixpoints (20 ms) ... */
	uint32_t cost_factor;  /* ... and at least this many times the last one's CPU time
	                          (40: at most 2.5% of a CPU); 0: sweep_ns alone */
} det_config;

/* Fills *c with the defaults. */
void det_config_default(det_config *c);

/* Parses one "NAME=VALUE" threshold (long-poll=20ms, stuck=10s, lost=2s,
 * leak=5s, storm=500, hold=100ms) into c.  Returns 0, or -1 with a
 * message in err. */
int det_config_set(det_config *c, const char *spec, char *err, size_t cap);

/* A task slot of the live state, as det_live reads it. */
typedef struct det_slot {
	uint8_t state;     /* enum tsk_task_state */
	uint8_t wait_kind; /* enum tsk_wait_kind */
	uint64_t obj;
	int64_t deadline; /* CLOCK_MONOTONIC, -1 none */
	uint32_t seq;     /* the slot's sequence number when read */
} det_slot;

/* Reads the live state for confirmation.  task: 0, or -1 if the task has
 * no slot now (or it could not be read consistently); owner: the owner a
 * resource slot names (0 none) and its count of readers, 0 or -1. */
typedef struct det_live {
	void *ctx;
	int (*task)(void *ctx, uint64_t id, det_slot *out);
	int (*owner)(void *ctx, uint64_t res, uint64_t *owner, uint32_t *nreaders);
	int frozen; /* 1: the state cannot change any more (a dead process): one read confirms */
} det_live;

enum det_verdict { DET_DEFINITE = 1, DET_LIKELY = 2 };
enum det_kind { DET_CYCLE = 1, DET_STALL = 2 };

typedef struct det_member {
	uint64_t task;
	uint8_t wait_kind; /* enum tsk_wait_kind */
	uint64_t obj;      /* resource id, or the joined task */
	uint32_t site;     /* string id of the wait's call site */
	uint32_t stack;    /* stack id at the suspension, 0 none */
	int64_t since_ns;
	uint64_t by[4]; /* the members it waits for (cycle: the next one), 0-terminated */
} det_member;

typedef struct det_deadlock {
	uint32_t id; /* 1, 2, ... in the order found */
	uint8_t verdict, kind;
	int64_t closed_ns; /* when the newest wait in it began (process ns) */
	int64_t found_ns;  /* when the verdict was confirmed (process ns) */
	det_member *tasks;
	uint32_t ntasks;
	uint64_t *behind; /* tasks blocked behind it, not part of it */
	uint32_t nbehind;
	char *text; /* the chain, for a human */
} det_deadlock;

enum det_lint {
	DL_LONG_POLL = 1,
	DL_STUCK = 2,
	DL_LOST_WAKEUP = 3,
	DL_TASK_LEAK = 4,
	DL_SELF_WAKE_STORM = 5,
	DL_LOCK_ACROSS_SUSPEND = 6,
};
#define DL_COUNT 7

typedef struct det_warning {
	uint8_t kind; /* enum det_lint */
	uint64_t task;
	uint64_t res;     /* the resource it is about, 0 none */
	int64_t first_ns; /* first seen */
	int64_t last_ns;  /* last seen */
	uint64_t count;   /* times seen */
	int64_t value_ns; /* the largest duration seen (long poll, wait), 0 none */
	char detail[200];
} det_warning;

/* Where verdicts go (each called once per deadlock, when confirmed). */
typedef struct det_out {
	void *ctx;
	void (*deadlock)(void *ctx, const det_deadlock *d);
	/* the text of a string id; 0 or -1 */
	int (*resolve)(void *ctx, uint32_t id, char *buf, size_t cap);
} det_out;

typedef struct det det;

/* Creates a detector watching m (it installs itself as m's watcher). */
det *det_create(model *m, const det_config *cfg, const det_out *out);
void det_destroy(det *d);

/* Sets how verdicts are confirmed; without it nothing is ever reported. */
void det_set_live(det *d, const det_live *live);

/* One step at process time now_ns, after a batch of events: searches
 * cycles from the new waits; every sweep_ns (always when final) runs the
 * fixpoint and the lints.  final: the last step (a dump, the end of a
 * recording): every wait is searched, and a likely stall waits hold_ns
 * right here (sleeping) for its confirmation. */
void det_step(det *d, int64_t now_ns, int final);

/* The deadlocks reported so far (in order) and the warnings. */
size_t det_count(const det *d);
const det_deadlock *det_get(const det *d, size_t i);
void det_each_warning(det *d, void (*fn)(void *ctx, const det_warning *w), void *ctx);

typedef struct det_stats {
	uint64_t fixpoints;  /* stall searches run */
	uint64_t candidates; /* verdicts the model showed, before confirmation */
	uint64_t rejected;   /* of those, the ones the live state did not confirm */
	int64_t cpu_ns;      /* all of det_step, of which: */
	int64_t cycles_ns, stalls_ns, lints_ns;
} det_stats;
void det_get_stats(const det *d, det_stats *out);

/* Names: "definite"/"likely", "cycle"/"stall", "long_poll", ... */
const char *det_verdict_name(int v);
const char *det_kind_name(int k);
const char *det_lint_name(int k);

#endif /* TS_DETECT_H */
