/*
 * offload_int.h - what the unit tests (and later the inspector) may read of
 * the blocking pool (offload.c) beyond the public tsk_offload.
 *
 * Both calls look at the pool of the calling task's runtime and return 0
 * outside a task or before the runtime's first tsk_offload.  The figures
 * are snapshots taken under the pool's lock; they may be stale by the time
 * the caller looks at them.
 */
#ifndef OFFLOAD_INT_H
#define OFFLOAD_INT_H

/* Jobs queued and not yet taken by a pool thread. */
int offload__queued(void);

/* Pool threads alive (running a job, idle or starting), not counting
 * retired ones that have not been joined yet. */
int offload__threads(void);

#endif /* OFFLOAD_INT_H */
