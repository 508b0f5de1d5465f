/*
 * io.c - the epoll reactor: the descriptor table, polling, and parking a
 * task until a descriptor is ready (the calls built on it are in fd.c).
 *
 * What and why: a task that would block on a descriptor parks with the
 * runtime's wait protocol (rt_int.h) instead of blocking its worker; one
 * edge-triggered epoll instance per runtime says when to try again.
 *
 * Descriptor table: one io_fd per descriptor number, in chunks of 1024
 * allocated on first use and never freed before the runtime ends (so an
 * entry pointer stays valid without reference counts).  An entry holds,
 * per direction, the queue of waiting tasks and a `ready` flag: an edge
 * that came while nobody waited.  epoll_data carries the descriptor number.
 *
 * The readiness protocol (all under the entry's spinlock):
 *   - A task tries its system call first.  On EAGAIN it locks the entry;
 *     if `ready` is set, an edge came since its last try: it clears the flag
 *     and tries again.  Otherwise it queues a waiter and parks.
 *   - The poller, for each event, wakes every waiter of the directions the
 *     event names (they all retry; those that lose the race wait again), or,
 *     with nobody waiting, sets `ready`.
 *   Every edge thus reaches a task that has not yet seen its data: no lost
 *   wake-up, at the price of an occasional extra EAGAIN.
 *
 * Registration: once, the first time a task must wait for the descriptor
 * (EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET).  EPOLL_CTL_ADD reports a
 * descriptor that is already ready at once, so registering late loses no
 * edge.  A descriptor epoll refuses (a regular file: EPERM) is marked
 * `never`; waits on it fall back to poll(2), which blocks the worker.
 *
 * Who polls (sched.c): the worker that parks as the timer watcher sleeps in
 * epoll_wait (rt__io_wait) with the nearest timer deadline as timeout, and
 * is woken for new work by a write to an eventfd (rt__io_break).  Busy
 * workers poll without blocking when their queues run dry and every 32
 * scheduling steps while tasks wait for descriptors and no worker sleeps in
 * epoll_wait.  Readied tasks go to the back of the polling worker's queue.
 *
 * Kinds, the drained hint and the calls themselves: fd.c.  Entries also
 * remember a descriptor's kind, whether it is non-blocking, and two flags
 * of tsk_read's drained hint (`drained`, and `hup`, set here when an event
 * says hang-up or error).
 *
 * Closing: tsk_close (rt__io_forget) wakes the descriptor's waiters with
 * -EBADF, resets the entry and closes.  A descriptor closed with close(2) leaves a stale entry;
 * descriptors made here (accept, pipe, net.c's sockets) reset it.
 *
 * Workload: many connections, each with one reader and at most one writer
 * task; a wait costs the entry's lock twice, and the poller's batch of up
 * to 64 events one epoll_wait.
 */
#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include "io_int.h"
#include "sched_int.h"

#define IO_CHUNK_BITS 10
#define IO_CHUNK      (1 << IO_CHUNK_BITS)
#define IO_MAX_FD     (1 << 22) /* descriptor numbers the table covers */
#define IO_NCHUNKS    (IO_MAX_FD >> IO_CHUNK_BITS)
#define IO_EVFD_KEY   UINT64_MAX /* epoll_data of the eventfd */

/* Registration states (io_fd.reg). */
enum { IO_REG_NONE, IO_REG_EPOLL, IO_REG_NEVER };

/* ---- the table -------------------------------------------------------- */

/* Every running runtime, so that a thread that is no worker (a signal
 * thread closing a listener, a pool thread making a pipe) can reach the
 * tables: io_rts_lock guards the list and keeps each runtime's table alive
 * while held (rt__io_fini unlinks under it before freeing). */
static pthread_mutex_t io_rts_lock = PTHREAD_MUTEX_INITIALIZER;
static rt_runtime *io_rts;
static atomic_int io_nrts; /* their number (changed under io_rts_lock) */

int rt__io_init(rt_runtime *rt)
{
	rt->epfd = rt->evfd = -1;
	rt->io_chunks = calloc(IO_NCHUNKS, sizeof(*rt->io_chunks));
	if (!rt->io_chunks)
		return -ENOMEM;
	rt->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (rt->epfd < 0)
		return -errno;
	rt->evfd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (rt->evfd < 0)
		return -errno;
	/* level-triggered: a break written while nobody polls is seen by the
	 * next epoll_wait */
	struct epoll_event ev = {.events = EPOLLIN, .data.u64 = IO_EVFD_KEY};
	if (epoll_ctl(rt->epfd, EPOLL_CTL_ADD, rt->evfd, &ev) < 0)
		return -errno;
	pthread_mutex_lock(&io_rts_lock);
	rt->io_next = io_rts;
	io_rts = rt;
	rt->io_linked = true;
	atomic_fetch_add(&io_nrts, 1);
	pthread_mutex_unlock(&io_rts_lock);
	return 0;
}

void rt__io_fini(rt_runtime *rt)
{
	if (rt->io_linked) {
		pthread_mutex_lock(&io_rts_lock);
		rt_runtime **p = &io_rts;
		while (*p != rt)
			p = &(*p)->io_next;
		*p = rt->io_next;
		rt->io_linked = false;
		atomic_fetch_sub(&io_nrts, 1);
		pthread_mutex_unlock(&io_rts_lock);
	}
	if (rt->io_chunks) {
		for (int i = 0; i < IO_NCHUNKS; i++)
			free(atomic_load_explicit(&rt->io_chunks[i], memory_order_relaxed));
		free(rt->io_chunks);
		rt->io_chunks = NULL;
	}
	if (rt->evfd >= 0)
		close(rt->evfd);
	if (rt->epfd >= 0)
		close(rt->epfd);
	rt->epfd = rt->evfd = -1;
}

/* The entry of fd, allocating its chunk if `create`; NULL when fd is out
 * of range or (create) memory is short. */
static io_fd *io_entry(rt_runtime *rt, int fd, bool create)
{
	if (fd < 0 || fd >= IO_MAX_FD)
		return NULL;
	_Atomic(io_fd *) *slot = &rt->io_chunks[fd >> IO_CHUNK_BITS];
	/* acquire: pairs with the release CAS that published the chunk */
	io_fd *c = atomic_load_explicit(slot, memory_order_acquire);
	if (!c && create) {
		io_fd *fresh = calloc(IO_CHUNK, sizeof(io_fd));
		if (!fresh)
			return NULL;
		if (atomic_compare_exchange_strong_explicit(slot, &c, fresh, memory_order_acq_rel,
		                                            memory_order_acquire))
			c = fresh;
		else
			free(fresh); /* another thread won: c is its chunk */
	}
	return c ? &c[fd & (IO_CHUNK - 1)] : NULL;
}

/* The calling worker's runtime, or NULL outside the runtime's threads. */
static rt_runtime *io_rt(void)
{
	rt_worker *w = rt__worker();
	return w ? w->rt : NULL;
}

/* Wakes every waiter of q with `result` (under the entry's lock); appends
 * the tasks it claimed to *batch for readying after the unlock. */
static void wake_queue(rt_waitq *q, int result, tsk_task ***batch)
{
	rt_waiter *w;
	while ((w = rt__waitq_pop(q))) {
		if (!rt__claim(w, w->index))
			continue; /* timed out or cancelled: it unlinks nothing now */
		w->result = result;
		/* the task cannot resume before we ready it: linking is safe */
		w->task->next = NULL;
		**batch = w->task;
		*batch = &w->task->next;
	}
}

static void ready_batch(tsk_task *t)
{
	while (t) {
		tsk_task *next = t->next;
		rt__ready_tail(t, 0);
		t = next;
	}
}

/* Forgets what rt knew of fd (it is new, or `closing`) and wakes its
 * waiters with -EBADF.  kind: what the new descriptor is; nonblock: it is
 * known to be non-blocking. */
static void entry_reset(rt_runtime *rt, io_fd *e, int fd, int kind, bool nonblock, bool closing)
{
	tsk_task *batch = NULL, **link = &batch;
	rt__spin_lock(&e->lock);
	/* a duplicate may keep a closing file open, and registered, after
	 * close(2): take it out of the set ourselves, under the lock, so that
	 * a waiter that registers again meanwhile is not undone */
	if (closing && e->reg == IO_REG_EPOLL)
		epoll_ctl(rt->epfd, EPOLL_CTL_DEL, fd, NULL);
	e->reg = IO_REG_NONE;
	e->rd_ready = e->wr_ready = false;
	atomic_store_explicit(&e->kind, (uint8_t)kind, memory_order_relaxed);
	atomic_store_explicit(&e->nonblock, nonblock, memory_order_relaxed);
	atomic_store_explicit(&e->drained, false, memory_order_relaxed);
	atomic_store_explicit(&e->hup, false, memory_order_relaxed);
	wake_queue(&e->rd, -EBADF, &link);
	wake_queue(&e->wr, -EBADF, &link);
	rt__spin_unlock(&e->lock);
	ready_batch(batch);
}

/* Calls fn(rt, fd, arg) for the calling worker's runtime, or for every
 * running runtime from a thread that is no worker. */
static void each_runtime(int fd, int arg, void (*fn)(rt_runtime *, int, int))
{
	rt_runtime *rt = io_rt();
	/* the usual case, a worker of the only runtime: no global lock */
	if (rt && atomic_load_explicit(&io_nrts, memory_order_relaxed) == 1) {
		fn(rt, fd, arg);
		return;
	}
	pthread_mutex_lock(&io_rts_lock);
	for (rt = io_rts; rt; rt = rt->io_next)
		fn(rt, fd, arg);
	pthread_mutex_unlock(&io_rts_lock);
}

static void fresh_in(rt_runtime *rt, int fd, int kind)
{
	io_fd *e = io_entry(rt, fd, false);
	if (e)
		entry_reset(rt, e, fd, kind, true, false);
}

void rt__io_fresh(int fd, int kind)
{
	each_runtime(fd, kind, fresh_in);
}

/* ---- polling ---------------------------------------------------------- */

int rt__io_wait(rt_runtime *rt, struct epoll_event *ev, int max, int64_t deadline)
{
	struct timespec ts, *tp = NULL;
	if (deadline != INT64_MAX) {
		int64_t rel = deadline == 0 ? 0 : deadline - tsk_now();
		if (rel < 0)
			rel = 0;
		ts.tv_sec = rel / 1000000000;
		ts.tv_nsec = rel % 1000000000;
		tp = &ts;
	}
	static atomic_bool no_pwait2;
	int n;
	if (!atomic_load_explicit(&no_pwait2, memory_order_relaxed)) {
		n = epoll_pwait2(rt->epfd, ev, max, tp, NULL);
		if (n >= 0 || errno == EINTR)
			return n < 0 ? 0 : n; /* EINTR: nothing happened */
		/* ENOSYS before Linux 5.11; EPERM from seccomp filters that
		 * do not know it: use epoll_wait from now on */
		atomic_store_explicit(&no_pwait2, true, memory_order_relaxed);
	}
	/* millisecond timeouts, rounded up */
	int ms = -1;
	if (tp) {
		int64_t rel_ms = (ts.tv_sec * 1000000000 + ts.tv_nsec + 999999) / 1000000;
		ms = rel_ms > INT_MAX ? INT_MAX : (int)rel_ms;
	}
	n = epoll_wait(rt->epfd, ev, max, ms);
	return n < 0 ? 0 : n;
}

void rt__io_drain_break(rt_runtime *rt, const struct epoll_event *ev, int n)
{
	for (int i = 0; i < n; i++) {
		if (ev[i].data.u64 != IO_EVFD_KEY)
			continue;
		uint64_t v;
		ssize_t r = read(rt->evfd, &v, sizeof(v));
		(void)r; /* EAGAIN: drained already */
		/* after the read: a break written between the two is either
		 * seen by a failed CAS (and we are awake anyway) or written
		 * after this store, for the next watcher */
		atomic_store(&rt->io_break_pending, 0);
		return;
	}
}

int rt__io_dispatch(rt_worker *wk, const struct epoll_event *ev, int n)
{
	rt_runtime *rt = wk->rt;
	tsk_task *batch = NULL, **link = &batch;
	int woken = 0;

	for (int i = 0; i < n; i++) {
		/* the watcher drained it before it stopped watching; a busy
		 * poller must not (the watcher would sleep on) */
		if (ev[i].data.u64 == IO_EVFD_KEY)
			continue;
		io_fd *e = io_entry(rt, (int)ev[i].data.u64, false);
		if (!e)
			continue;
		uint32_t m = ev[i].events;
		bool in = m & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR);
		bool out = m & (EPOLLOUT | EPOLLHUP | EPOLLERR);
		if (m & (EPOLLRDHUP | EPOLLHUP | EPOLLERR))
			atomic_store_explicit(&e->hup, true, memory_order_relaxed);
		rt__spin_lock(&e->lock);
		if (in) {
			/* release: a reader that sees the count sees hup */
			atomic_fetch_add_explicit(&e->rd_edges, 1, memory_order_release);
			if (rt__waitq_empty(&e->rd))
				e->rd_ready = true;
			else
				wake_queue(&e->rd, 0, &link);
		}
		if (out) {
			if (rt__waitq_empty(&e->wr))
				e->wr_ready = true;
			else
				wake_queue(&e->wr, 0, &link);
		}
		rt__spin_unlock(&e->lock);
	}
	for (tsk_task *t = batch; t; t = t->next)
		woken++;
	ready_batch(batch);
	return woken;
}

int rt__io_poll(rt_worker *w)
{
	struct epoll_event ev[RT_IO_BATCH];
	int n = rt__io_wait(w->rt, ev, RT_IO_BATCH, 0);
	return n > 0 ? rt__io_dispatch(w, ev, n) : 0;
}

void rt__io_break(rt_runtime *rt)
{
	int zero = 0;
	/* one write until the poller drains it (rt__io_dispatch) */
	if (!atomic_compare_exchange_strong(&rt->io_break_pending, &zero, 1))
		return;
	uint64_t one = 1;
	ssize_t r = write(rt->evfd, &one, sizeof(one));
	(void)r; /* EAGAIN only at a counter of 2^64-2: it is readable then */
}

/* ---- waiting for a descriptor ------------------------------------------ */

/* Registers fd with epoll (under e->lock).  Returns 0, or -errno. */
static int io_register(rt_runtime *rt, int fd, io_fd *e)
{
	struct epoll_event ev = {
	        .events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET,
	        .data.u64 = (uint64_t)fd,
	};
	if (epoll_ctl(rt->epfd, EPOLL_CTL_ADD, fd, &ev) == 0) {
		e->reg = IO_REG_EPOLL;
		return 0;
	}
	int err = errno;
	/* still registered through a file this entry forgot (closed with
	 * close(2) while a duplicate kept it open): re-arm it */
	if (err == EEXIST && epoll_ctl(rt->epfd, EPOLL_CTL_MOD, fd, &ev) == 0) {
		e->reg = IO_REG_EPOLL;
		return 0;
	}
	if (err == EPERM) {
		e->reg = IO_REG_NEVER; /* regular files and the like */
		return 0;
	}
	return -err;
}

/* Blocks the worker in poll(2) for a descriptor epoll cannot watch. */
static int wait_blocking(int fd, int dirs, int64_t deadline)
{
	struct pollfd p = {.fd = fd,
	                   .events = (short)((dirs & IO_DIR_RD ? POLLIN : 0) |
	                                     (dirs & IO_DIR_WR ? POLLOUT : 0))};
	int ms = -1;
	if (deadline != TSK_FOREVER) {
		int64_t rel = deadline - tsk_now();
		int64_t rel_ms = rel <= 0 ? 0 : (rel + 999999) / 1000000;
		ms = rel_ms > INT_MAX ? INT_MAX : (int)rel_ms;
	}
	int r = poll(&p, 1, ms);
	if (r < 0)
		return errno == EINTR ? 0 : -errno;
	if (r == 0)
		return -ETIMEDOUT;
	return p.revents & POLLNVAL ? -EBADF : 0;
}

static int wait_fd(int fd, int dirs, int64_t deadline, const tsk_site *site, const unsigned *since)
{
	int rc = rt__can_wait(deadline);
	if (rc < 0)
		return rc;
	tsk_task *self = rt__self();
	rt_runtime *rt = rt__worker()->rt;
	io_fd *e = io_entry(rt, fd, true);
	if (!e)
		return fd < 0 ? -EBADF : -ENOMEM;

	rt_waiter wr, ww;
	rt__spin_lock(&e->lock);
	if (e->reg == IO_REG_NONE && (rc = io_register(rt, fd, e)) < 0) {
		rt__spin_unlock(&e->lock);
		return rc;
	}
	if (e->reg == IO_REG_NEVER) {
		rt__spin_unlock(&e->lock);
		return wait_blocking(fd, dirs, deadline);
	}
	if (since) {
		/* an input edge since the short read began: read first */
		if (*since != atomic_load_explicit(&e->rd_edges, memory_order_relaxed)) {
			rt__spin_unlock(&e->lock);
			return 0;
		}
		/* a ready flag now was set by an edge counted before that
		 * read began, whose data it consumed: stale */
		e->rd_ready = false;
	}
	/* an edge since the caller's last try: try again */
	if ((dirs & IO_DIR_RD) && e->rd_ready) {
		e->rd_ready = false;
		rt__spin_unlock(&e->lock);
		return 0;
	}
	if ((dirs & IO_DIR_WR) && e->wr_ready) {
		e->wr_ready = false;
		rt__spin_unlock(&e->lock);
		return 0;
	}
	/* one token, one or two waiters: either direction's wake ends it */
	rt__wait_prepare(&wr, self, 0, NULL);
	ww = wr;
	if (dirs & IO_DIR_RD)
		rt__waitq_push(&e->rd, &wr);
	if (dirs & IO_DIR_WR)
		rt__waitq_push(&e->wr, &ww);
	rt__spin_unlock(&e->lock);

	rt_wait_info wi = {
	        .kind = RT_WAIT_IO,
	        .obj = e,
	        .site = site,
	        .obj_id = (uint64_t)(unsigned)fd | (dirs & IO_DIR_RD ? TSK_IO_RD : 0) |
	                  (dirs & IO_DIR_WR ? TSK_IO_WR : 0),
	};
	/* relaxed: a hint for busy workers (sched.c), ordered by nothing */
	atomic_fetch_add_explicit(&rt->io_waiters, 1, memory_order_relaxed);
	rc = rt__wait(deadline, &wi);
	atomic_fetch_sub_explicit(&rt->io_waiters, 1, memory_order_relaxed);

	/* unlink what no waker popped (the other direction, or all of it
	 * after a timeout or cancel); the waker's result is in the popped one */
	rt__spin_lock(&e->lock);
	if (wr.linked)
		rt__waitq_remove(&e->rd, &wr);
	if (ww.linked)
		rt__waitq_remove(&e->wr, &ww);
	rt__spin_unlock(&e->lock);
	if (rc < 0)
		return rc;
	/* the winner set the result of the waiter it popped; the other one
	 * still holds prepare's 0 */
	return wr.result < 0 ? wr.result : ww.result;
}

int rt__io_wait_fd(int fd, int dirs, int64_t deadline, const tsk_site *site)
{
	return wait_fd(fd, dirs, deadline, site, NULL);
}

int rt__io_wait_fd_since(int fd, int64_t deadline, const tsk_site *site, unsigned since)
{
	return wait_fd(fd, IO_DIR_RD, deadline, site, &since);
}

/* ---- forgetting a descriptor ------------------------------------------ */

static void forget_in(rt_runtime *rt, int fd, int unused)
{
	(void)unused;
	io_fd *e = io_entry(rt, fd, false);
	if (e)
		entry_reset(rt, e, fd, IO_KIND_UNKNOWN, false, true);
}

void rt__io_forget(int fd)
{
	each_runtime(fd, 0, forget_in);
}

io_fd *rt__io_entry(int fd)
{
	rt_runtime *rt = io_rt();
	return rt ? io_entry(rt, fd, true) : NULL;
}
