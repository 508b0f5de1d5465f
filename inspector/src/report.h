/*
 * report.h - `taskscope report`: what a history says about a process, as
 * one structure filled by SQL over the schema (db.h) and written as text
 * or JSON.  The same code serves a DB file and a pid or segment (dumped
 * into an in-memory DB first, record.h), and export shares the target
 * resolution and the naming of waits.
 *
 *   report_open      argument -> sqlite3 (DB file, pid, segment)
 *   report_collect   sqlite3  -> report (report_collect.c)
 *   report_write_*   report   -> text or JSON (report_text.c, report_json.c)
 *
 * Deadlocks and warnings are the detector's (detect.h), read back from the
 * history's tables deadlocks, deadlock_tasks and warnings.
 */
#ifndef TS_REPORT_H
#define TS_REPORT_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <sqlite3.h>

#include "detect.h"

/* An integer the history does not know (SQL NULL). */
#define REPORT_NONE INT64_MIN

/* What a blocked task waits on. */
typedef struct report_wait {
	int code;         /* wait kind (enum tsk_wait_kind, table wait_kinds); 0 unknown */
	const char *kind; /* static: "mutex", "channel", "task", "io", ...; NULL unknown */
	const char *op;   /* static: the wait kind's name, e.g. "chan_recv"; NULL unknown */
	char *name;       /* owned: resource name, joined task's name, "fd 7 read"; NULL none */
	int64_t id;       /* resource id, task id, fd, function address; REPORT_NONE */
} report_wait;

/* A blocked task (in report.blocked and in a deadlock's tasks). */
typedef struct report_task {
	int64_t id;
	char *name;          /* owned; NULL if never named */
	char *location;      /* owned: "file:line" of the wait site; NULL unknown */
	char *function;      /* owned: function of the wait site; NULL unknown */
	char *label;         /* owned: tsk_set_state label during the wait; NULL none */
	report_wait on;      /* what it waits on */
	int64_t since_ns;    /* start of the wait; REPORT_NONE unknown */
	int64_t blocked_ns;  /* process last_ns - since_ns; REPORT_NONE unknown */
	int64_t deadline_ns; /* the wait's deadline; REPORT_NONE: untimed */
	int64_t *blocked_by; /* owned: tasks holding what it waits on (see report_collect) */
	size_t nblocked_by;
	int64_t stack_id; /* stacks.id at the suspension; 0 none */
	char **stack;     /* owned: symbols at the suspension, innermost first */
	size_t nstack;
} report_task;

/* A deadlock verdict (SPEC §6). */
typedef struct report_deadlock {
	int64_t id;          /* deadlocks.id: 1, 2, ... in the order found */
	const char *verdict; /* static: "definite" | "likely" */
	const char *kind;    /* static: "cycle" | "stall" */
	report_task *tasks;  /* owned: the chain (a cycle: each waits for the next) */
	size_t ntasks;
	int64_t *behind; /* owned: tasks blocked behind it, not part of it */
	size_t nbehind;
	char *text;        /* owned: the chain in words */
	int64_t closed_ns; /* when its newest wait began; REPORT_NONE */
	int64_t found_ns;  /* when the detector confirmed it; REPORT_NONE */
} report_deadlock;

/* A lint's finding (SPEC §6). */
typedef struct report_warning {
	char *kind;       /* owned: "long_poll", "stuck", ... */
	int64_t task;     /* REPORT_NONE: not about one task */
	char *name;       /* owned: the task's name; NULL */
	char *detail;     /* owned: one sentence */
	int64_t resource; /* what it is about; REPORT_NONE */
	int64_t count;    /* times seen */
	int64_t value_ns; /* the largest duration seen (or count, for self_wake_storm) */
	int64_t first_ns; /* first seen */
} report_warning;

/* A task in the ranking by time running. */
typedef struct report_busy {
	int64_t id;
	char *name;     /* owned */
	char *location; /* owned: spawn site "file:line" */
	char *state;    /* owned: last known state ("done" once ended) */
	int64_t busy_ns, polls, max_run_ns;
} report_busy;

/* A task in the ranking by longest wait, with that wait. */
typedef struct report_slow_wait {
	int64_t id;
	char *name;       /* owned */
	int64_t wait_ns;  /* the longest wait */
	int ongoing;      /* 1: it is the task's current wait (still blocked) */
	int found;        /* 0: the interval was not located (see report_collect) */
	report_wait on;   /* valid when found */
	char *location;   /* owned: wait site "file:line"; NULL */
	char *function;   /* owned */
	int64_t since_ns; /* start of that wait; REPORT_NONE */
} report_slow_wait;

typedef struct report {
	struct {
		int64_t pid;
		char *name;     /* owned: program name */
		char *source;   /* owned: "record" | "dump" */
		char *segment;  /* owned: the segment read; NULL */
		char *recorder; /* owned: taskscope version that wrote it; NULL */
		int complete;   /* the recorder finished */
		int64_t workers, events, lost, overwritten;
		int64_t first_ns, last_ns, created_realtime_ns; /* REPORT_NONE if unknown */
	} process;
	struct {
		int64_t total, running, ready, blocked, done, unknown;
	} tasks;
	report_task *blocked; /* owned: blocked tasks, longest blocked first */
	size_t nblocked;
	report_deadlock *deadlocks; /* owned (the detector's) */
	size_t ndeadlocks;
	report_warning *warnings; /* owned (the lints') */
	size_t nwarnings;
	report_busy *busy; /* owned: top N by busy_ns */
	size_t nbusy;
	report_slow_wait *waits; /* owned: top N by longest wait */
	size_t nwaits;
	int top; /* N */
} report;

/* Opens what a command argument names: a taskscope DB file (read-only,
 * identity checked), or else a pid or a segment file, dumped into a
 * private in-memory DB.  Returns the handle (sqlite3_close it) or NULL
 * with a one-line message in err. */
sqlite3 *report_open(const char *target, const det_config *dc, char *err, size_t cap);

/* Fills r (zeroed first) from db: the process, task counts, every blocked
 * task with its wait, holders and stack, and the top `top` tasks by time
 * running and by longest wait.  Returns 0, or -1 with a one-line message
 * in err (r is then empty).  Release r with report_fini either way. */
int report_collect(sqlite3 *db, int top, report *r, char *err, size_t cap);
void report_fini(report *r);

/* Writes r; returns 0 or -1 on a write error. */
int report_write_json(const report *r, FILE *f);
int report_write_text(const report *r, FILE *f);

/* Wait kinds (enum tsk_wait_kind): the name (table wait_kinds) and the
 * kind of thing waited on ("channel" for chan_send, chan_recv and select,
 * "rwlock" for both lock modes, "task" for join, ...).  NULL for a code
 * this version does not know. */
const char *report_wait_op(int code);
const char *report_wait_kind(int code);

/* The name of what a wait waits on, into buf: the resource's name for a
 * resource wait (res_name, may be NULL), the joined task's name (task_name)
 * for a join, "fd 7 read" for I/O, the function's address for an offload.
 * Returns buf, or NULL when there is no name (a sleep, an unnamed
 * resource). */
const char *report_wait_name(int code, int64_t obj, const char *res_name, const char *task_name,
                             char *buf, size_t cap);

#endif /* TS_REPORT_H */
