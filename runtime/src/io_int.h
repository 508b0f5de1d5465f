/*
 * io_int.h - the reactor's interface to the scheduler (sched.c) and to the
 * socket helpers (net.c).  See io.c for the design.
 */
#ifndef IO_INT_H
#define IO_INT_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/epoll.h>

#include "sched_int.h"

#define IO_DIR_RD   1  /* waits for input (read, accept) */
#define IO_DIR_WR   2  /* waits for output (write, connect) */
#define RT_IO_BATCH 64 /* events taken per epoll_wait */

/* What a descriptor is (io.c learns it once per descriptor): sockets use
 * recv/send, the others read/write; streams (stream sockets, pipes) allow
 * tsk_read's drained hint. */
enum { IO_KIND_UNKNOWN, IO_KIND_STREAM, IO_KIND_SOCKET, IO_KIND_PIPE, IO_KIND_OTHER };

/* What the runtime knows of one descriptor number (io.c's table). */
typedef struct io_fd {
	rt_spin lock;           /* guards reg, the ready flags and the queues */
	uint8_t reg;            /* IO_REG_* */
	bool rd_ready;          /* an input edge came while nobody waited */
	bool wr_ready;          /* an output edge came while nobody waited */
	_Atomic uint8_t kind;   /* IO_KIND_*, detected on first use */
	atomic_bool nonblock;   /* known to be O_NONBLOCK (non-sockets) */
	atomic_bool drained;    /* a stream read came up short: wait for an edge first */
	atomic_uint drained_at; /* rd_edges when that read began */
	atomic_uint rd_edges;   /* input events dispatched (written under lock) */
	atomic_bool hup;        /* an event said hang-up or error: no drained hint any more */
	rt_waitq rd;            /* tasks waiting to read or accept */
	rt_waitq wr;            /* tasks waiting to write or connect */
} io_fd;

/* The entry of fd in the calling worker's runtime (allocated on first
 * use), or NULL outside the runtime's threads or for a number out of
 * range: a call then works on the descriptor alone. */
io_fd *rt__io_entry(int fd);

/* Wakes fd's waiters with -EBADF and forgets it, in the calling worker's
 * runtime or, from another thread, in every running runtime. */
void rt__io_forget(int fd);

/* Creates the runtime's epoll instance, eventfd and descriptor table.
 * Returns 0 or -errno; rt__io_fini undoes a partial init too. */
int rt__io_init(rt_runtime *rt);
void rt__io_fini(rt_runtime *rt);

/* Waits for up to max events until `deadline` (absolute tsk_now() ns;
 * INT64_MAX: no limit; 0: do not block).  Returns their number (0 on a
 * timeout or a signal). */
int rt__io_wait(rt_runtime *rt, struct epoll_event *ev, int max, int64_t deadline);

/* The watcher, before it stops watching: drains the eventfd if ev[0..n)
 * holds its event, so that a break is never drained by a worker other than
 * the one it was written for. */
void rt__io_drain_break(rt_runtime *rt, const struct epoll_event *ev, int n);

/* Wakes the tasks waiting on the descriptors of ev[0..n) onto the back of
 * w's queue (or records the edges); skips the eventfd's event.  Call on
 * w's thread (outside a task, or from a task on its own stack).  Returns
 * tasks readied. */
int rt__io_dispatch(rt_worker *w, const struct epoll_event *ev, int n);

/* rt__io_wait without blocking, then rt__io_dispatch. */
int rt__io_poll(rt_worker *w);

/* Makes a worker blocked in rt__io_wait return (one write until it has
 * drained the eventfd). */
void rt__io_break(rt_runtime *rt);

/* Parks the calling task until fd may be ready for `dirs` (IO_DIR_*), the
 * deadline passes or it is cancelled.  Returns 0 (try again), -ETIMEDOUT,
 * -ECANCELED, -EBADF (tsk_close), -EPERM (not in a task), -ENOMEM, or
 * epoll_ctl's error. */
int rt__io_wait_fd(int fd, int dirs, int64_t deadline, const tsk_site *site);

/* As rt__io_wait_fd for input, but returns 0 at once (try again) unless the
 * descriptor's rd_edges still equals `since`: tsk_read's drained hint,
 * decided under the entry's lock so that no edge can slip past it. */
int rt__io_wait_fd_since(int fd, int64_t deadline, const tsk_site *site, unsigned since);

/* fd was just created by the runtime (non-blocking), of kind IO_KIND_*:
 * forget what the table knew of an earlier descriptor with that number. */
void rt__io_fresh(int fd, int kind);

#endif /* IO_INT_H */
