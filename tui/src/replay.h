/*
 * replay.h - a recorded history as the TUI's source (`taskscope replay`):
 * the state of every task, resource and lock at any instant of it.
 *
 * replay_open reads the history once (tasks, their spans, resources,
 * ownership, strings, stacks, deadlocks, warnings) into memory;
 * replay_model_at then builds the inspector's model as it stood at time T
 * (tasks seeded with the span that covers T, counters and histograms
 * summed from the spans before T, lock holders from the ownership rows),
 * so the live views draw a history unchanged.  SQLite is read at the open
 * only, never per frame or per move of the cursor.
 */
#ifndef TS_TUI_REPLAY_H
#define TS_TUI_REPLAY_H

#include <stddef.h>
#include <stdint.h>

#include "detect.h"
#include "model.h"
#include "tsk_segment.h"
#include "tui.h"

typedef struct replay replay;

/* Opens a history: a taskscope DB, or a process (pid or segment path)
 * dumped first, as `report` does.  NULL with a one-line message in err. */
replay *replay_open(const char *target, char *err, size_t cap);
void replay_close(replay *rp);

const char *replay_program(const replay *rp);
int replay_pid(const replay *rp);
int replay_workers(const replay *rp);
int64_t replay_first_ns(const replay *rp); /* the history's span */
int64_t replay_last_ns(const replay *rp);
uint64_t replay_nspans(const replay *rp);

/* The model at time T (process ns), built afresh; the previous one is
 * destroyed.  Owned by rp. */
model *replay_model_at(replay *rp, int64_t T);

/* The nearest instant after (dir > 0) or before (dir < 0) T at which some
 * task changed state; T itself if there is none. */
int64_t replay_step(const replay *rp, int64_t T, int dir);

/* A task's parts (ready, running, blocked) that ended by T, newest last,
 * at most cap of them. */
size_t replay_history(const replay *rp, uint64_t task, int64_t T, tui_span *out, size_t cap);

/* A worker's running parts that ended by T, newest last, at most cap of
 * them (obj: the task).  The first call indexes the history's runs by
 * worker (once). */
size_t replay_worker_history(replay *rp, uint32_t worker, int64_t T, tui_span *out, size_t cap);

int replay_string(const replay *rp, uint32_t id, char *buf, size_t cap); /* 0 or -1 */
int replay_stack(const replay *rp, uint32_t id, tsk_seg_stack *out);     /* 0 or -1 */

/* Deadlocks found by T, in the order found; warnings first seen by T. */
size_t replay_ndeadlocks(const replay *rp, int64_t T);
const det_deadlock *replay_deadlock(const replay *rp, size_t i);
void replay_each_warning(const replay *rp, int64_t T, void (*fn)(void *ctx, const det_warning *w),
                         void *ctx);

#endif /* TS_TUI_REPLAY_H */
