/*
 * taskscope.h - the public API of the taskscope runtime.
 *
 * An M:N runtime: stackful tasks multiplexed over N worker threads with
 * work stealing, channels, locks, timers, an epoll reactor for I/O and a
 * pool of threads for blocking work.  Every
 * object is an opaque handle with _create/_destroy; every call returns 0
 * (or a count) on success and -errno on failure and never reads or sets
 * errno.  Every blocking call takes an absolute deadline (tsk_now()-based
 * nanoseconds, or TSK_FOREVER) and is a cancellation point: it returns
 * -ETIMEDOUT when the deadline passes and -ECANCELED once the calling task
 * has been cancelled.  A blocking call that can complete at once does so
 * even when its deadline has already passed.
 *
 * Calls that spawn, wait or create a resource are macros that add the call
 * site (file, line, function) so the inspector can say where every task was
 * born and where it waits.  Each macro has a function of the same name
 * behind it, so `(tsk_spawn)(...)` or taking its address works too (the
 * site is then unknown).
 *
 * Tasks run on worker threads and may move between them at any blocking
 * call or yield.  Two consequences: thread-local variables (errno included)
 * must not be relied on across a blocking call, and tasks share their
 * worker's floating-point environment (MXCSR, x87 control word), which the
 * context switch does not save, so a task that changes the rounding mode or
 * exception masks restores them before it blocks or yields.
 *
 * This header is self-contained: it includes what its declarations need.
 */
#ifndef TASKSCOPE_H
#define TASKSCOPE_H

#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/types.h>

#ifdef __cplusplus
extern "C" {
#endif

#define TSK_VERSION_MAJOR 0
#define TSK_VERSION_MINOR 1

/* ---- call sites ------------------------------------------------------ */

/* Where a call was made.  A site and its strings must have static storage
 * duration: the runtime keeps the pointers, not copies.  TSK_SITE makes one
 * static site per call site with GCC and Clang; other compilers get a
 * compound literal that lives only as long as the enclosing block, which is
 * still long enough for every call that takes a site. */
typedef struct tsk_site {
	const char *file;
	int line;
	const char *func;
} tsk_site;

#if defined(__GNUC__)
#define TSK_SITE                                                                                   \
	(__extension__({                                                                           \
		static const tsk_site tsk_site_ = {__FILE__, __LINE__, __func__};                  \
		&tsk_site_;                                                                        \
	}))
#else
#define TSK_SITE (&(const tsk_site){__FILE__, __LINE__, __func__})
#endif

/* ---- runtime ---------------------------------------------------------- */

/* Zeroed fields take defaults: one worker per online CPU, 64 KiB stacks,
 * the program's name, a blocking pool of at most 64 threads. */
typedef struct tsk_config {
	int workers;       /* worker threads; <= 0: one per online CPU */
	size_t stack_size; /* bytes of virtual stack per task; 0: 64 KiB */
	const char *name;  /* runtime name shown by the inspector; NULL: argv[0] */
	int pool_threads;  /* most threads of the blocking pool (tsk_offload); <= 0: 64 */
} tsk_config;

/* Runs root(arg) as the root task on a fresh runtime and returns when the
 * root has returned and every other task has finished.  Tasks still
 * blocked once no task can run any more are cancelled (their blocking call
 * returns -ECANCELED) and awaited.  No thread of the runtime outlives the
 * call; tsk_run may be called again afterwards.  *result (if non-NULL)
 * gets the root's return value.
 * Returns 0, -EINVAL (root NULL, bad config), -EBUSY (called from a task),
 * -ENOMEM, or -EAGAIN (threads could not be created). */
int tsk_run(void *(*root)(void *), void *arg, const tsk_config *cfg, void **result);

#define TSK_FOREVER ((int64_t)-1)

/* Monotonic clock in nanoseconds (CLOCK_MONOTONIC). */
int64_t tsk_now(void);
/* tsk_now() + ms milliseconds, as a deadline; ms < 0 gives TSK_FOREVER. */
int64_t tsk_after_ms(int64_t ms);

/* ---- tasks ------------------------------------------------------------ */

typedef struct tsk_task tsk_task;

/* Spawns fn(arg) as a new task named `name` (copied; NULL gives "task").
 * With out non-NULL the task is joinable and *out must be passed to
 * tsk_join exactly once (it stays valid until then); with out NULL the task
 * is detached and frees itself when it returns.
 * Returns 0, -EINVAL (fn NULL), -EPERM (not called from a task), -ENOMEM. */
int tsk_spawn_at(tsk_task **out, const char *name, void *(*fn)(void *), void *arg,
                 const tsk_site *site);
int(tsk_spawn)(tsk_task **out, const char *name, void *(*fn)(void *), void *arg);
#define tsk_spawn(out, name, fn, arg) tsk_spawn_at(out, name, fn, arg, TSK_SITE)

/* Waits for t to return, stores its return value in *result (if non-NULL)
 * and releases t.  Returns 0; -ETIMEDOUT or -ECANCELED (t stays joinable);
 * -EINVAL (t NULL, detached, or already being joined); -EDEADLK (t is the
 * caller); -EPERM (not called from a task). */
int tsk_join_at(tsk_task *t, void **result, int64_t deadline, const tsk_site *site);
int(tsk_join)(tsk_task *t, void **result, int64_t deadline);
#define tsk_join(t, result, deadline) tsk_join_at(t, result, deadline, TSK_SITE)

/* Requests cancellation of t: its current blocking call (if any) and every
 * later one return -ECANCELED.  The task keeps running until it returns;
 * cancellation never unwinds it by force.  Returns 0, -EINVAL (t NULL),
 * -EPERM (not called from a task of t's runtime). */
int tsk_cancel(tsk_task *t);

/* Lets other ready tasks run.  Returns 0, -ECANCELED, -EPERM (not a task). */
int tsk_yield(void);

/* Sleeps until deadline.  Returns 0 when it passed, -ECANCELED, -EINVAL
 * (TSK_FOREVER), -EPERM (not called from a task). */
int tsk_sleep_at(int64_t deadline, const tsk_site *site);
int(tsk_sleep)(int64_t deadline);
#define tsk_sleep(deadline) tsk_sleep_at(deadline, TSK_SITE)

/* Sets the calling task's user state label shown by the inspector (a string
 * with static storage duration; NULL clears it).  No effect outside a task. */
void tsk_set_state(const char *label);

/* The calling task, or NULL outside a task. */
tsk_task *tsk_self(void);
/* A task's id (unique within the process, 1 = the first root task) and name. */
uint64_t tsk_id(const tsk_task *t);
const char *tsk_name(const tsk_task *t);

/* Whether the calling task has been cancelled (1) or not (0). */
int tsk_cancelled(void);

/* ---- channels --------------------------------------------------------- */

typedef struct tsk_chan tsk_chan;

#define TSK_UNBOUNDED ((size_t)-1)
#define TSK_SEND      1
#define TSK_RECV      2

/* Creates a channel of elements of elem_size bytes (1..65536).  capacity 0
 * is a rendezvous (a send completes when a receiver takes the element),
 * TSK_UNBOUNDED never blocks senders.  name is copied.
 * Returns 0, -EINVAL, -ENOMEM. */
int tsk_chan_create_at(tsk_chan **out, const char *name, size_t elem_size, size_t capacity,
                       const tsk_site *site);
int(tsk_chan_create)(tsk_chan **out, const char *name, size_t elem_size, size_t capacity);
#define tsk_chan_create(out, name, elem_size, capacity)                                            \
	tsk_chan_create_at(out, name, elem_size, capacity, TSK_SITE)

/* Sends a copy of *elem.  Returns 0; -EPIPE (closed, before or while
 * waiting); -ETIMEDOUT; -ECANCELED; -ENOMEM (unbounded growth failed);
 * -EPERM (would block outside a task). */
int tsk_chan_send_at(tsk_chan *c, const void *elem, int64_t deadline, const tsk_site *site);
int(tsk_chan_send)(tsk_chan *c, const void *elem, int64_t deadline);
#define tsk_chan_send(c, elem, deadline) tsk_chan_send_at(c, elem, deadline, TSK_SITE)

/* Receives into *elem.  Returns 0; -EPIPE (closed and drained);
 * -ETIMEDOUT; -ECANCELED; -EPERM (would block outside a task). */
int tsk_chan_recv_at(tsk_chan *c, void *elem, int64_t deadline, const tsk_site *site);
int(tsk_chan_recv)(tsk_chan *c, void *elem, int64_t deadline);
#define tsk_chan_recv(c, elem, deadline) tsk_chan_recv_at(c, elem, deadline, TSK_SITE)

/* Never block.  Return 0, -EAGAIN (would block), -EPIPE (closed; for recv:
 * closed and drained), -ENOMEM. */
int tsk_chan_try_send(tsk_chan *c, const void *elem);
int tsk_chan_try_recv(tsk_chan *c, void *elem);

/* Closes c: waiting and later senders get -EPIPE; receivers drain what is
 * buffered, then get -EPIPE.  Returns 0, -EPIPE (already closed). */
int tsk_chan_close(tsk_chan *c);

/* Frees c (NULL is a no-op).  Returns 0 or -EBUSY (tasks wait on it). */
int tsk_chan_destroy(tsk_chan *c);

/* Number of buffered elements and capacity (TSK_UNBOUNDED for unbounded). */
size_t tsk_chan_len(const tsk_chan *c);
size_t tsk_chan_cap(const tsk_chan *c);

typedef struct tsk_case {
	tsk_chan *chan; /* NULL: the case is ignored */
	int op;         /* TSK_SEND or TSK_RECV */
	void *elem;     /* element to send, or buffer to receive into */
	int result;     /* out: 0, or -EPIPE when the channel was closed */
} tsk_case;

/* Waits until one case can complete, completes it and returns its index
 * (its .result says 0 or -EPIPE: a closed channel completes a case).  Among
 * cases ready at once, one is chosen fairly.  Returns an index; -ETIMEDOUT;
 * -ECANCELED; -EINVAL (bad op, no usable case, n > 1024); -ENOMEM;
 * -EPERM (would block outside a task).  A deadline already past polls. */
int tsk_select_at(tsk_case *cases, size_t n, int64_t deadline, const tsk_site *site);
int(tsk_select)(tsk_case *cases, size_t n, int64_t deadline);
#define tsk_select(cases, n, deadline) tsk_select_at(cases, n, deadline, TSK_SITE)

/* ---- locks and friends ------------------------------------------------ */

typedef struct tsk_mutex tsk_mutex;
typedef struct tsk_rwlock tsk_rwlock;
typedef struct tsk_sem tsk_sem;
typedef struct tsk_wg tsk_wg;
typedef struct tsk_cond tsk_cond;

/* Mutex: owned by a task.  Like Go's sync.Mutex: normally a running task
 * may take a free mutex ahead of woken waiters (barging keeps throughput
 * high under contention); once a waiter has waited more than 1 ms the mutex
 * switches to starvation mode and hands ownership to waiters in FIFO order,
 * so no waiter starves.  Not recursive: relocking by the owner blocks (the
 * inspector reports it as a deadlock).  create: 0, -ENOMEM.  lock: 0,
 * -ETIMEDOUT, -ECANCELED, -EPERM (would block outside a task).  trylock: 0,
 * -EBUSY.  unlock: 0, -EPERM (the caller does not own it).  destroy: 0,
 * -EBUSY (locked or awaited). */
int tsk_mutex_create_at(tsk_mutex **out, const char *name, const tsk_site *site);
int(tsk_mutex_create)(tsk_mutex **out, const char *name);
#define tsk_mutex_create(out, name) tsk_mutex_create_at(out, name, TSK_SITE)
int tsk_mutex_lock_at(tsk_mutex *m, int64_t deadline, const tsk_site *site);
int(tsk_mutex_lock)(tsk_mutex *m, int64_t deadline);
#define tsk_mutex_lock(m, deadline) tsk_mutex_lock_at(m, deadline, TSK_SITE)
int tsk_mutex_trylock(tsk_mutex *m);
int tsk_mutex_unlock(tsk_mutex *m);
int tsk_mutex_destroy(tsk_mutex *m);

/* Reader-writer lock, writer-preferring: a waiting writer stops new readers;
 * when a writer unlocks, waiting readers go first, so neither side starves.
 * unlock releases whichever side the caller holds: 0, -EPERM. */
int tsk_rwlock_create_at(tsk_rwlock **out, const char *name, const tsk_site *site);
int(tsk_rwlock_create)(tsk_rwlock **out, const char *name);
#define tsk_rwlock_create(out, name) tsk_rwlock_create_at(out, name, TSK_SITE)
int tsk_rwlock_rdlock_at(tsk_rwlock *l, int64_t deadline, const tsk_site *site);
int(tsk_rwlock_rdlock)(tsk_rwlock *l, int64_t deadline);
#define tsk_rwlock_rdlock(l, deadline) tsk_rwlock_rdlock_at(l, deadline, TSK_SITE)
int tsk_rwlock_wrlock_at(tsk_rwlock *l, int64_t deadline, const tsk_site *site);
int(tsk_rwlock_wrlock)(tsk_rwlock *l, int64_t deadline);
#define tsk_rwlock_wrlock(l, deadline) tsk_rwlock_wrlock_at(l, deadline, TSK_SITE)
int tsk_rwlock_tryrdlock(tsk_rwlock *l);
int tsk_rwlock_trywrlock(tsk_rwlock *l);
int tsk_rwlock_unlock(tsk_rwlock *l);
int tsk_rwlock_destroy(tsk_rwlock *l);

/* Counting semaphore, FIFO.  release: 0, -EOVERFLOW. */
int tsk_sem_create_at(tsk_sem **out, const char *name, unsigned initial, const tsk_site *site);
int(tsk_sem_create)(tsk_sem **out, const char *name, unsigned initial);
#define tsk_sem_create(out, name, initial) tsk_sem_create_at(out, name, initial, TSK_SITE)
int tsk_sem_acquire_at(tsk_sem *s, int64_t deadline, const tsk_site *site);
int(tsk_sem_acquire)(tsk_sem *s, int64_t deadline);
#define tsk_sem_acquire(s, deadline) tsk_sem_acquire_at(s, deadline, TSK_SITE)
int tsk_sem_try_acquire(tsk_sem *s);
int tsk_sem_release(tsk_sem *s);
unsigned tsk_sem_value(const tsk_sem *s);
int tsk_sem_destroy(tsk_sem *s);

/* Wait group: add(n) (n may be negative; the counter going below zero is
 * -EINVAL and changes nothing), done() = add(-1), wait() returns when the
 * counter is zero. */
int tsk_wg_create_at(tsk_wg **out, const char *name, const tsk_site *site);
int(tsk_wg_create)(tsk_wg **out, const char *name);
#define tsk_wg_create(out, name) tsk_wg_create_at(out, name, TSK_SITE)
int tsk_wg_add(tsk_wg *g, int n);
int tsk_wg_done(tsk_wg *g);
int tsk_wg_wait_at(tsk_wg *g, int64_t deadline, const tsk_site *site);
int(tsk_wg_wait)(tsk_wg *g, int64_t deadline);
#define tsk_wg_wait(g, deadline) tsk_wg_wait_at(g, deadline, TSK_SITE)
int tsk_wg_destroy(tsk_wg *g);

/* Condition variable.  wait: the caller must own m (else -EPERM); m is
 * released while waiting and owned again on every return, including
 * -ETIMEDOUT and -ECANCELED.  Spurious wakeups do not happen, but use a
 * predicate loop anyway. */
int tsk_cond_create_at(tsk_cond **out, const char *name, const tsk_site *site);
int(tsk_cond_create)(tsk_cond **out, const char *name);
#define tsk_cond_create(out, name) tsk_cond_create_at(out, name, TSK_SITE)
int tsk_cond_wait_at(tsk_cond *c, tsk_mutex *m, int64_t deadline, const tsk_site *site);
int(tsk_cond_wait)(tsk_cond *c, tsk_mutex *m, int64_t deadline);
#define tsk_cond_wait(c, m, deadline) tsk_cond_wait_at(c, m, deadline, TSK_SITE)
int tsk_cond_signal(tsk_cond *c);
int tsk_cond_broadcast(tsk_cond *c);
int tsk_cond_destroy(tsk_cond *c);

/* ---- I/O -------------------------------------------------------------- */

/* Descriptors and the reactor.  The runtime waits for descriptors with one
 * edge-triggered epoll instance; a descriptor is registered the first time
 * a task has to wait for it and stays registered until tsk_close.  The
 * calls never block their worker, whatever the descriptor's flags: sockets
 * are read and written with MSG_DONTWAIT, and other descriptors are made
 * non-blocking (O_NONBLOCK) on first use; that flag belongs to the open
 * file, so a descriptor shared with another process changes there too.
 * Descriptors that epoll cannot watch (regular files) are always ready: a
 * call on one blocks its worker like read(2) would.
 *
 * Close a descriptor that tasks may wait on with tsk_close, not close(2):
 * tsk_close wakes its waiters with -EBADF before the number can be reused.
 * Descriptors made by tsk_accept, tsk_pipe, tsk_listen_tcp and tsk_dial_tcp
 * start with a clean slate even if an earlier descriptor with the same
 * number was closed with close(2).
 *
 * SIGPIPE is blocked on the runtime's threads while tsk_run runs: writing
 * to a pipe or socket whose reader has gone returns -EPIPE instead of
 * killing the process. */

/* Reads up to n bytes like read(2): returns as soon as at least one byte
 * is there (a count >= 1), 0 at end of file (or n == 0); -ETIMEDOUT,
 * -ECANCELED, -EBADF (closed by tsk_close while waiting), -EPERM (would
 * block outside a task), or read(2)'s error (-ECONNRESET, ...). */
ssize_t tsk_read_at(int fd, void *buf, size_t n, int64_t deadline, const tsk_site *site);
ssize_t(tsk_read)(int fd, void *buf, size_t n, int64_t deadline);
#define tsk_read(fd, buf, n, deadline) tsk_read_at(fd, buf, n, deadline, TSK_SITE)

/* Writes all n bytes, waiting for room as often as needed; returns n, or
 * an error as tsk_read (-EPIPE when the reader has gone).  On an error some
 * bytes may have been written already: tsk_write_all reports how many in
 * *written (always set when non-NULL, also on success). */
ssize_t tsk_write_all_at(int fd, const void *buf, size_t n, int64_t deadline, size_t *written,
                         const tsk_site *site);
ssize_t(tsk_write_all)(int fd, const void *buf, size_t n, int64_t deadline, size_t *written);
#define tsk_write_all(fd, buf, n, deadline, written)                                               \
	tsk_write_all_at(fd, buf, n, deadline, written, TSK_SITE)
ssize_t(tsk_write)(int fd, const void *buf, size_t n, int64_t deadline);
#define tsk_write(fd, buf, n, deadline) tsk_write_all_at(fd, buf, n, deadline, NULL, TSK_SITE)

/* Accepts a connection on listening socket fd; returns the new descriptor
 * (non-blocking, close-on-exec) and fills addr/len as accept(2) does (both
 * may be NULL).  Errors as tsk_read, or accept(2)'s (-EMFILE, ...). */
int tsk_accept_at(int fd, struct sockaddr *addr, socklen_t *len, int64_t deadline,
                  const tsk_site *site);
int(tsk_accept)(int fd, struct sockaddr *addr, socklen_t *len, int64_t deadline);
#define tsk_accept(fd, addr, len, deadline) tsk_accept_at(fd, addr, len, deadline, TSK_SITE)

/* Connects socket fd to addr.  Returns 0, -ETIMEDOUT, -ECANCELED, or the
 * connection's error (-ECONNREFUSED, -ENETUNREACH, ...).  After a timeout
 * or cancellation the socket is in an unspecified state: close it. */
int tsk_connect_at(int fd, const struct sockaddr *addr, socklen_t len, int64_t deadline,
                   const tsk_site *site);
int(tsk_connect)(int fd, const struct sockaddr *addr, socklen_t len, int64_t deadline);
#define tsk_connect(fd, addr, len, deadline) tsk_connect_at(fd, addr, len, deadline, TSK_SITE)

/* Waits until fd is ready for `events` (POLLIN, POLLOUT or both).  Returns
 * the ready events as poll(2) reports them (> 0; POLLERR or POLLHUP may be
 * among them), or an error as tsk_read; -EINVAL for other event bits. */
int tsk_fd_wait_at(int fd, int events, int64_t deadline, const tsk_site *site);
int(tsk_fd_wait)(int fd, int events, int64_t deadline);
#define tsk_fd_wait(fd, events, deadline) tsk_fd_wait_at(fd, events, deadline, TSK_SITE)

/* Wakes the tasks waiting on fd with -EBADF, forgets it and closes it.
 * Returns close(2)'s result: 0 or -errno.  Works from any thread, tasks
 * or not. */
int tsk_close(int fd);

/* Makes fd non-blocking.  Returns 0 or -errno. */
int tsk_set_nonblock(int fd);

/* pipe2(2) with O_NONBLOCK | O_CLOEXEC: fds[0] reads, fds[1] writes. */
int tsk_pipe(int fds[2]);

/* A TCP socket listening on host:port (host NULL or "": every address,
 * IPv6 and IPv4; port 0: an ephemeral port, see getsockname(2)), with
 * SO_REUSEADDR, non-blocking.  Returns the descriptor, -EINVAL (bad host or
 * port), -EPERM (outside a task, for a host that needs a DNS lookup), or
 * getaddrinfo/socket/bind/listen's error as -errno (an unknown host is
 * -ENOENT). */
int tsk_listen_tcp(const char *host, int port, int backlog);

/* Connects to host:port over TCP, trying each address the name resolves
 * to until one answers or the deadline passes.  The lookup runs on the
 * blocking pool.  Returns a non-blocking descriptor with TCP_NODELAY set,
 * or -ENOENT (unknown host), -EINVAL, -ETIMEDOUT, -ECANCELED, or the last
 * address's connection error.  Only from a task. */
int tsk_dial_tcp_at(const char *host, int port, int64_t deadline, const tsk_site *site);
int(tsk_dial_tcp)(const char *host, int port, int64_t deadline);
#define tsk_dial_tcp(host, port, deadline) tsk_dial_tcp_at(host, port, deadline, TSK_SITE)

/* ---- the blocking pool ------------------------------------------------ */

/* Runs fn(arg) on a thread of the runtime's blocking pool and suspends only
 * the calling task until it returns; *result (if non-NULL) gets its return
 * value.  Use it for calls that block (getaddrinfo, disk I/O, a library
 * with its own waits) or for long computations that would hold a worker.
 * The pool starts threads on demand up to tsk_config.pool_threads; threads
 * idle for 10 s retire.  fn runs on a plain thread: it must not call
 * blocking tsk_* functions.
 * A job that has not started when the deadline passes or the task is
 * cancelled is withdrawn (-ETIMEDOUT, -ECANCELED).  A job that has started
 * cannot be stopped: the call then waits for it and returns 0 with its
 * result, so arg may safely live on the caller's stack.
 * Returns 0, -ETIMEDOUT, -ECANCELED, -EINVAL (fn NULL), -EPERM (not called
 * from a task), -ENOMEM. */
int tsk_offload_at(void *(*fn)(void *), void *arg, void **result, int64_t deadline,
                   const tsk_site *site);
int(tsk_offload)(void *(*fn)(void *), void *arg, void **result, int64_t deadline);
#define tsk_offload(fn, arg, result, deadline) tsk_offload_at(fn, arg, result, deadline, TSK_SITE)

/* ---- errors ----------------------------------------------------------- */

/* Short name ("ETIMEDOUT") and message for a negative return code (any
 * errno value; "E?" and "unknown error" for other numbers). */
const char *tsk_strerror(int err);
const char *tsk_errname(int err);

#ifdef __cplusplus
}
#endif
#endif /* TASKSCOPE_H */
