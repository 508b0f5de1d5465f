/*
 * fd.c - the descriptor calls on the reactor (io.c): tsk_read,
 * tsk_write_all, tsk_accept, tsk_connect, tsk_fd_wait, tsk_close, tsk_pipe,
 * tsk_set_nonblock.
 *
 * Each call tries its system call first and parks with rt__io_wait_fd only
 * on EAGAIN (io.c states the readiness protocol that makes this lose no
 * wake-up).  Sockets are read and written with recv/send and MSG_DONTWAIT |
 * MSG_NOSIGNAL, so they never block and never raise SIGPIPE whatever their
 * flags; other descriptors are made O_NONBLOCK on first use.  What a
 * descriptor is (stream socket, other socket, pipe, other) is learned once
 * per descriptor and kept in its io_fd.
 *
 * The drained hint (tsk_read): a read of a stream that returns less than
 * asked for has emptied its buffer, so the next read waits for an edge
 * rather than first making a read that fails with EAGAIN; a keep-alive
 * server saves a system call per request.  The entry counts the input
 * events dispatched (rd_edges); the read remembers the count from before
 * its read, and the next read parks only if, under the entry's lock, the
 * count has not moved: any edge since (even one spent on another waiter)
 * sends it to read first.  Only for streams: a datagram or an inotify read can come up
 * short with more queued behind it.  And only until an event has said
 * hang-up or error: a read comes up short with the end of file (or a
 * reset) still queued behind its data, and no edge will announce that.
 * The event mask is computed when the event is collected, so an end of
 * file that came before the wake-up that led to the short read is in its
 * mask (and sets `hup`), and one that came after raises a new edge.
 *
 * Workload: the fast path (data or room already there) is one system call,
 * no lock and no allocation.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "io_int.h"

/* errno, read afresh.  GCC takes errno's address to be constant within a
 * function (__errno_location is declared const), but a task that parked
 * may resume on another thread: an errno read after a wait must not reuse
 * an address computed before it.  Every read of errno here goes through
 * this call. */
static __attribute__((noinline)) int err_now(void)
{
	return errno;
}

/* ---- descriptor kinds and flags --------------------------------------- */

int tsk_set_nonblock(int fd)
{
	int fl = fcntl(fd, F_GETFL);
	if (fl < 0)
		return -err_now();
	if (!(fl & O_NONBLOCK) && fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0)
		return -err_now();
	return 0;
}

/* Makes fd non-blocking once per entry (read/write/accept/connect would
 * otherwise block the worker).  Returns 0 or -errno. */
static int ensure_nonblock(io_fd *e, int fd)
{
	if (e && atomic_load_explicit(&e->nonblock, memory_order_relaxed))
		return 0;
	int rc = tsk_set_nonblock(fd);
	if (rc == 0 && e)
		atomic_store_explicit(&e->nonblock, true, memory_order_relaxed);
	return rc;
}

/* The kind of fd: the entry's, or found out (and remembered) with
 * getsockopt and fstat.  Returns IO_KIND_* or -errno (-EBADF). */
static int fd_kind(io_fd *e, int fd)
{
	int kind = e ? atomic_load_explicit(&e->kind, memory_order_relaxed) : IO_KIND_UNKNOWN;
	if (kind != IO_KIND_UNKNOWN)
		return kind;
	int type;
	socklen_t len = sizeof(type);
	struct stat st;
	if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len) == 0)
		kind = type == SOCK_STREAM ? IO_KIND_STREAM : IO_KIND_SOCKET;
	else if (err_now() != ENOTSOCK)
		return -err_now();
	else if (fstat(fd, &st) < 0)
		return -err_now();
	else
		kind = S_ISFIFO(st.st_mode) ? IO_KIND_PIPE : IO_KIND_OTHER;
	if (e)
		atomic_store_explicit(&e->kind, (uint8_t)kind, memory_order_relaxed);
	return kind;
}

static bool kind_is_socket(int kind)
{
	return kind == IO_KIND_STREAM || kind == IO_KIND_SOCKET;
}

/* One non-blocking read attempt: a count, or -errno (-EAGAIN: wait). */
static ssize_t read_once(io_fd *e, int fd, int kind, void *buf, size_t n)
{
	ssize_t r;
	if (kind_is_socket(kind)) {
		r = recv(fd, buf, n, MSG_DONTWAIT);
	} else {
		int rc = ensure_nonblock(e, fd);
		if (rc < 0)
			return rc;
		r = read(fd, buf, n);
	}
	return r < 0 ? -err_now() : r;
}

/* A write to a pipe whose reader is gone raised SIGPIPE at this thread,
 * where it is blocked (sched.c): take it back so that it is never
 * delivered later. */
static void consume_sigpipe(void)
{
	sigset_t set;
	sigemptyset(&set);
	sigaddset(&set, SIGPIPE);
	sigset_t pending;
	if (sigpending(&pending) == 0 && sigismember(&pending, SIGPIPE)) {
		struct timespec zero = {0, 0};
		sigtimedwait(&set, NULL, &zero);
	}
}

/* One non-blocking write attempt: a count, or -errno (-EAGAIN: wait). */
static ssize_t write_once(io_fd *e, int fd, int kind, const void *buf, size_t n)
{
	ssize_t r;
	if (kind_is_socket(kind))
		return (r = send(fd, buf, n, MSG_DONTWAIT | MSG_NOSIGNAL)) < 0 ? -err_now() : r;
	int rc = ensure_nonblock(e, fd);
	if (rc < 0)
		return rc;
	r = write(fd, buf, n);
	if (r < 0 && err_now() == EPIPE) {
		consume_sigpipe();
		return -EPIPE;
	}
	return r < 0 ? -err_now() : r;
}

/* ---- the calls -------------------------------------------------------- */

ssize_t tsk_read_at(int fd, void *buf, size_t n, int64_t deadline, const tsk_site *site)
{
	if (fd < 0)
		return -EBADF;
	if (n == 0)
		return 0;
	io_fd *e = rt__io_entry(fd);
	int kind = fd_kind(e, fd);
	if (kind < 0)
		return kind;
	bool stream = kind == IO_KIND_STREAM || kind == IO_KIND_PIPE;
	int late = 0; /* a timeout or cancel that a ready read still beats */

	/* The drained hint: the last read of this stream came up short, so
	 * its buffer was empty then; if no input edge has been dispatched
	 * since that read began, whatever came since will raise one.  Wait
	 * for it instead of a read that would fail with EAGAIN (one system
	 * call less per request for a keep-alive server).  The check is made
	 * under the entry's lock (rt__io_wait_fd_since): an edge spent on
	 * another waiter (tsk_fd_wait, a second reader) moves the count. */
	if (stream && e && atomic_load_explicit(&e->drained, memory_order_relaxed)) {
		atomic_store_explicit(&e->drained, false, memory_order_relaxed);
		unsigned at = atomic_load_explicit(&e->drained_at, memory_order_relaxed);
		int rc = rt__io_wait_fd_since(fd, deadline, site, at);
		if (rc == -ETIMEDOUT || rc == -ECANCELED)
			late = rc; /* data already there still returns */
		else if (rc < 0)
			return rc;
	}
	for (;;) {
		/* acquire: pairs with the dispatcher's release, so hup below is
		 * at least as new as this count */
		unsigned seen = e ? atomic_load_explicit(&e->rd_edges, memory_order_acquire) : 0;
		ssize_t r = read_once(e, fd, kind, buf, n);
		if (r > 0 && (size_t)r < n && stream && e &&
		    !atomic_load_explicit(&e->hup, memory_order_relaxed)) {
			atomic_store_explicit(&e->drained_at, seen, memory_order_relaxed);
			atomic_store_explicit(&e->drained, true, memory_order_relaxed);
		}
		if (r >= 0)
			return r;
		if (r == -EINTR)
			continue;
		if (r != -EAGAIN)
			return r;
		if (late)
			return late;
		int rc = rt__io_wait_fd(fd, IO_DIR_RD, deadline, site);
		if (rc < 0)
			return rc;
	}
}

ssize_t(tsk_read)(int fd, void *buf, size_t n, int64_t deadline)
{
	return tsk_read_at(fd, buf, n, deadline, NULL);
}

ssize_t tsk_write_all_at(int fd, const void *buf, size_t n, int64_t deadline, size_t *written,
                         const tsk_site *site)
{
	size_t done = 0;
	ssize_t rc = 0;

	if (fd < 0)
		rc = -EBADF;
	else if (n > SSIZE_MAX)
		rc = -EINVAL;
	io_fd *e = rc == 0 ? rt__io_entry(fd) : NULL;
	int kind = rc == 0 ? fd_kind(e, fd) : IO_KIND_UNKNOWN;
	if (kind < 0)
		rc = kind;
	while (rc == 0 && done < n) {
		ssize_t r = write_once(e, fd, kind, (const char *)buf + done, n - done);
		if (r >= 0)
			done += (size_t)r;
		else if (r == -EAGAIN)
			rc = rt__io_wait_fd(fd, IO_DIR_WR, deadline, site);
		else if (r != -EINTR)
			rc = r;
	}
	if (written)
		*written = done;
	return rc < 0 ? rc : (ssize_t)n;
}

ssize_t(tsk_write_all)(int fd, const void *buf, size_t n, int64_t deadline, size_t *written)
{
	return tsk_write_all_at(fd, buf, n, deadline, written, NULL);
}

ssize_t(tsk_write)(int fd, const void *buf, size_t n, int64_t deadline)
{
	return tsk_write_all_at(fd, buf, n, deadline, NULL, NULL);
}

int tsk_accept_at(int fd, struct sockaddr *addr, socklen_t *len, int64_t deadline,
                  const tsk_site *site)
{
	if (fd < 0)
		return -EBADF;
	io_fd *e = rt__io_entry(fd);
	int rc = ensure_nonblock(e, fd);
	int kind = fd_kind(e, fd); /* a connection is of its listener's type */
	if (rc < 0 || kind < 0)
		return rc < 0 ? rc : kind;
	for (;;) {
		int c = accept4(fd, addr, len, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (c >= 0) {
			rt__io_fresh(c, kind);
			return c;
		}
		int err = err_now();
		/* a connection reset before we took it: take the next one */
		if (err == EINTR || err == ECONNABORTED)
			continue;
		if (err != EAGAIN && err != EWOULDBLOCK)
			return -err;
		if ((rc = rt__io_wait_fd(fd, IO_DIR_RD, deadline, site)) < 0)
			return rc;
	}
}

int(tsk_accept)(int fd, struct sockaddr *addr, socklen_t *len, int64_t deadline)
{
	return tsk_accept_at(fd, addr, len, deadline, NULL);
}

/* The outcome of a connection attempt in progress: 0 connected, -EAGAIN
 * still in progress, or its error. */
static int connect_status(int fd)
{
	int err = 0;
	socklen_t len = sizeof(err);
	if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0)
		return -err_now();
	if (err)
		return -err;
	struct sockaddr_storage peer;
	len = sizeof(peer);
	if (getpeername(fd, (struct sockaddr *)&peer, &len) == 0)
		return 0;
	/* a stale output edge woke us before the handshake ended */
	return err_now() == ENOTCONN ? -EAGAIN : -err_now();
}

int tsk_connect_at(int fd, const struct sockaddr *addr, socklen_t len, int64_t deadline,
                   const tsk_site *site)
{
	if (fd < 0)
		return -EBADF;
	io_fd *e = rt__io_entry(fd);
	int rc = ensure_nonblock(e, fd);
	if (rc < 0)
		return rc;
	if (connect(fd, addr, len) == 0)
		return 0;
	/* EINTR: the attempt goes on in the background, as EINPROGRESS */
	if (err_now() != EINPROGRESS && err_now() != EINTR)
		return err_now() == EISCONN ? 0 : -err_now();
	for (;;) {
		if ((rc = rt__io_wait_fd(fd, IO_DIR_WR, deadline, site)) < 0)
			return rc;
		if ((rc = connect_status(fd)) != -EAGAIN)
			return rc;
	}
}

int(tsk_connect)(int fd, const struct sockaddr *addr, socklen_t len, int64_t deadline)
{
	return tsk_connect_at(fd, addr, len, deadline, NULL);
}

int tsk_fd_wait_at(int fd, int events, int64_t deadline, const tsk_site *site)
{
	if (fd < 0)
		return -EBADF;
	if (!events || (events & ~(POLLIN | POLLOUT)))
		return -EINVAL;
	int dirs = (events & POLLIN ? IO_DIR_RD : 0) | (events & POLLOUT ? IO_DIR_WR : 0);
	for (;;) {
		struct pollfd p = {.fd = fd, .events = (short)events};
		int r = poll(&p, 1, 0);
		if (r < 0 && err_now() != EINTR)
			return -err_now();
		if (r > 0)
			return p.revents & POLLNVAL ? -EBADF : p.revents;
		int rc = rt__io_wait_fd(fd, dirs, deadline, site);
		if (rc < 0)
			return rc;
	}
}

int(tsk_fd_wait)(int fd, int events, int64_t deadline)
{
	return tsk_fd_wait_at(fd, events, deadline, NULL);
}

int tsk_close(int fd)
{
	if (fd < 0)
		return -EBADF;
	rt__io_forget(fd);
	/* no retry on EINTR: Linux closes the descriptor anyway */
	return close(fd) < 0 && err_now() != EINTR ? -err_now() : 0;
}

int tsk_pipe(int fds[2])
{
	if (!fds)
		return -EINVAL;
	if (pipe2(fds, O_NONBLOCK | O_CLOEXEC) < 0)
		return -err_now();
	rt__io_fresh(fds[0], IO_KIND_PIPE);
	rt__io_fresh(fds[1], IO_KIND_PIPE);
	return 0;
}
