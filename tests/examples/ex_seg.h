/*
 * ex_seg.h - what an example's flight-recorder segment says, for the
 * example tests (prefix ex_seg_).
 *
 * The examples that exist to be inspected (hang, crash, pool) claim things
 * about their tasks: who is blocked on what, where, who holds a mutex.
 * These helpers read the child's segment with the reader library (the
 * same checks the inspector relies on) so that a test can hold the
 * example to its claims: live, while the child runs, or post mortem, from
 * the file a killed or crashed child left in /dev/shm.  Lookups are by
 * name, as the examples print them (names are cut to 23 bytes in the
 * segment).
 *
 * Not thread-safe: one ex_seg per test, used from the test's main thread.
 */
#ifndef TSK_EX_SEG_H
#define TSK_EX_SEG_H

#include <stddef.h>
#include <stdint.h>

#include "ex_proc.h"
#include "tsk_reader.h"

/* An open segment and the last snapshot of its live state.  Zeroed
 * storage is a valid "not open". */
typedef struct ex_seg {
	tsk_reader *r;    /* NULL until open */
	tsk_rd_snap snap; /* the last ex_seg_snap */
	char str[1025];   /* the last ex_seg_str */
} ex_seg;

/* Opens child p's segment, waiting up to ms for it to appear (the runtime
 * creates it when tsk_run starts), and takes a first snapshot.  Returns 0
 * or a negative code (tsk_reader_strerror; -ENOENT: no segment in time).
 * Works on a dead child's segment too (the snapshot is then final). */
int ex_seg_open(ex_seg *s, const ex_proc *p, int ms);

/* Takes a new snapshot (the previous one is freed).  Returns 0 or < 0. */
int ex_seg_snap(ex_seg *s);

/* The live task named name in the snapshot (the first, by slot; a task
 * whose slot was freed is not found), or NULL. */
const tsk_seg_task *ex_seg_task(const ex_seg *s, const char *name);

/* The task with id id, or NULL. */
const tsk_seg_task *ex_seg_task_id(const ex_seg *s, uint64_t id);

/* The live resource named name, or NULL. */
const tsk_seg_res *ex_seg_res(const ex_seg *s, const char *name);

/* String id of the segment, copied into s->str ("" for 0 or a bad id);
 * valid until the next call. */
const char *ex_seg_str(ex_seg *s, uint32_t id);

/* Reads the event records of every ring that are newer than the last
 * read (the first call: every record still in the rings), oldest first
 * within a ring, into *out (malloc'd: the caller frees it; NULL when
 * none).  Returns their number or a negative code. */
long ex_seg_events(ex_seg *s, tsk_rd_rec **out);

/* Closes the reader and frees the snapshot.  Safe on a zeroed s. */
void ex_seg_close(ex_seg *s);

#endif
