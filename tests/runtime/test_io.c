/*
 * test_io.c - tests of runtime/src/io.c, the reactor and the I/O calls
 * (tsk_read, tsk_write, tsk_write_all, tsk_accept, tsk_connect,
 * tsk_fd_wait, tsk_close, tsk_set_nonblock, tsk_pipe, tsk_listen_tcp,
 * tsk_dial_tcp), against their contracts in taskscope.h:
 *
 *   - echo over TCP loopback with 1,000 connections open at once (scaled
 *     by TSK_TEST_SCALE, at least 50; fewer, with a note, when the hard
 *     RLIMIT_NOFILE is too low): one server task per accepted connection,
 *     clients doing round trips of distinct payloads, one of them > 64 KiB
 *     written by a second task while the client reads (a reader and a
 *     writer waiting on one socket at once); every byte checked; 1, 2 and
 *     4 workers;
 *   - deadlines: accept, read and write time out no earlier than their
 *     deadline and well within 2 s of it; a partial write reports its
 *     count, and the peer reads exactly that many bytes; a call that can
 *     complete at once does so with a deadline already past;
 *   - end of stream and reset: EOF (before and while waiting), RST from
 *     SO_LINGER {1, 0} read as -ECONNRESET (before and while waiting) and
 *     seen by a writer waiting for room; end of file right behind the last
 *     data (one edge for both): the read after the data returns 0 at once;
 *   - SIGPIPE: writes to a pipe without reader and to a reset or closed
 *     socket fail with -EPIPE / -ECONNRESET and the process lives on, also
 *     once tsk_run has given the caller its signal mask back (a child
 *     process, so that a death is a failure and not the end of the binary);
 *   - cancellation of tasks waiting in read, accept, write, connect and
 *     fd_wait: prompt -ECANCELED, the descriptor fine for the next waiter;
 *     a cancelled task's calls that would wait fail at once; cancels racing
 *     with data lose no byte;
 *   - connections that hang (a full accept queue): connect and dial time
 *     out, are cancelled, are ended by tsk_close;
 *   - tsk_close with readers, pollers and a writer waiting: all get -EBADF;
 *     the number, reused by a new socket, works; numbers closed with
 *     close(2) behind the reactor's back and handed out again by tsk_pipe,
 *     tsk_dial_tcp, tsk_accept and tsk_listen_tcp work (a clean slate);
 *     tsk_close from a plain thread wakes the waiters too;
 *   - busy workers (every one runs a task that yields) still notice a
 *     descriptor that became ready;
 *   - several tasks reading one pipe or accepting on one listener: each is
 *     served (an edge-triggered wake-up must not be lost);
 *   - connect: a refused port, "localhost", an unknown host, bad arguments;
 *   - tsk_fd_wait on pipes: readiness, deadlines, bad events, HUP and ERR;
 *   - a 10 MB pipe stream in random-sized chunks, checked and checksummed,
 *     then end of file;
 *   - descriptors handed in blocking (pipe(2)): made non-blocking, and the
 *     one worker is never blocked (a ticker task keeps going; a watchdog
 *     thread unsticks a blocked worker so that a failure is not a hang);
 *   - regular files and /dev/null (which epoll cannot watch): always ready;
 *   - one descriptor used by two runtimes in a row;
 *   - idle CPU: 2 workers whose tasks wait in tsk_read and tsk_sleep use
 *     < 10 ms of CPU in 1 s (30 ms under sanitizers); the figure is printed;
 *   - outside tasks: calls that would wait give -EPERM, the others work;
 *   - clean exit (child process): the root returns while 100 tasks read
 *     silent sockets; tsk_run returns and every read returned -ECANCELED;
 *   - every error code the I/O calls document has a name and a message.
 *
 * Every run (io_run) ends by checking that no descriptor was left open
 * (/proc/self/fd back to its count when the test began) besides what
 * ct_run checks (threads, task stacks); the last tests check the heap over
 * rounds of I/O work in a child process.  Inside tasks only TSK_EXPECT*.
 * To know that a task really waits on a descriptor before acting on it,
 * tests poll the reactor's count of parked tasks (rt_runtime.io_waiters,
 * sched_int.h) rather than guess with a fixed sleep.  Waits that a bug
 * could leave hanging have finite deadlines, so that the bug fails the
 * test instead of hanging the binary.  TSK_TEST_ONLY=pattern runs only
 * the matching tests (tsk_test.h).
 *
 * Longer than the house size: one binary per source file, and io.c has a
 * dozen calls, each with its ready, timeout, cancellation and close paths.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "core_test.h"
#include "sched_int.h" /* rt_runtime.io_waiters: tasks parked on a descriptor */

#define IO_LONG_MS  20000     /* deadline of waits that must succeed: a failure, not a hang */
#define IO_SHORT_MS 200       /* deadline of waits that must time out */
#define IO_LATE_MS  2000      /* how late a timeout or wake-up may be on a loaded machine */
#define IO_BIG      (8 << 20) /* more than any socket or pipe here can buffer */
#define IO_MAX_FILL 64        /* descriptors a test opens to fill a gap or a queue */

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define IO_IDLE_MAX_MS 30
#else
#define IO_IDLE_MAX_MS 10
#endif

/* ---- helpers ---------------------------------------------------------- */

static int io_fds_base = -1; /* descriptors open when the current test began */
static long io_fd_limit;     /* RLIMIT_NOFILE soft limit after raising it */

/* Descriptors open in this process (counting the one that lists them). */
static int io_fds(void)
{
	return ct_dir_entries("/proc/self/fd");
}

/* Runs a few runtimes whose tasks wait.  The probes' stack sampling
 * (libunwind) opens a pipe of its own at its first unwind and keeps it for
 * the life of the process: it must exist before a descriptor count is
 * taken as the baseline. */
static void io_warm(void)
{
	ct_warm_rounds(1);
}

/* Prints what each open descriptor is (after a leak). */
static void io_list_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *e;
	char path[300], target[300];

	if (d == NULL)
		return;
	print_message("  open descriptors:");
	while ((e = readdir(d)) != NULL) {
		if (e->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "/proc/self/fd/%s", e->d_name);
		ssize_t n = readlink(path, target, sizeof(target) - 1);
		target[n > 0 ? n : 0] = '\0';
		print_message(" %s=%s", e->d_name, target);
	}
	print_message("\n");
	closedir(d);
}

/* Fails the test unless exactly `expect` descriptors are open. */
static void io_check_fds(int expect)
{
	int n = io_fds();

	if (n != expect)
		io_list_fds();
	assert_int_equal(n, expect);
}

/* ct_run, then: every descriptor opened during the run is closed. */
static void *io_run(void *(*root)(void *), void *arg, int workers)
{
	void *res = ct_run(root, arg, workers, 0);

	io_check_fds(io_fds_base);
	return res;
}

/* Tasks of the calling task's runtime parked on a descriptor. */
static long io_parked(void)
{
	return atomic_load(&tsk_self()->rt->io_waiters);
}

/* Inside a task: waits (sleeping, up to 10 s) until at least n tasks of
 * this runtime are parked on descriptors. */
#define IO_WAIT_PARKED(n)                                                                          \
	do {                                                                                       \
		int64_t io_end_ = tsk_after_ms(10000);                                             \
		while (io_parked() < (n) && tsk_now() < io_end_)                                   \
			tsk_sleep(tsk_after_ms(1));                                                \
		if (io_parked() < (n))                                                             \
			fprintf(stderr, "%s:%d: %ld tasks parked on descriptors, expected %ld\n",  \
			        __FILE__, __LINE__, io_parked(), (long)(n));                       \
		TSK_EXPECT(io_parked() >= (n));                                                    \
	} while (0)

/* Checks a wait from `start` with `deadline` that timed out at `end`: not
 * early, not absurdly late. */
#define IO_EXPECT_TIMED(start, deadline, end)                                                      \
	do {                                                                                       \
		TSK_EXPECT((end) >= (deadline));                                                   \
		TSK_EXPECT((end) - (start) < IO_LATE_MS * CT_MS);                                  \
	} while (0)

/* The local port of a socket, or -1. */
static int io_port(int fd)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);

	if (getsockname(fd, (struct sockaddr *)&ss, &len) != 0)
		return -1;
	if (ss.ss_family == AF_INET)
		return ntohs(((struct sockaddr_in *)&ss)->sin_port);
	if (ss.ss_family == AF_INET6)
		return ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
	return -1;
}

/* A loopback port nobody listens on: bound, read, closed. */
static int io_free_port(void)
{
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	int s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), port = -1;

	if (s >= 0 && bind(s, (struct sockaddr *)&sa, sizeof(sa)) == 0)
		port = io_port(s);
	if (s >= 0)
		close(s);
	return port;
}

static void io_setsockopt_int(int fd, int level, int opt, int v)
{
	TSK_EXPECT_EQ(setsockopt(fd, level, opt, &v, sizeof(v)), 0);
}

/* Inside a task: a connected TCP pair over loopback, fds[0] dialled,
 * fds[1] accepted.  small: both directions buffer little (the accepted
 * side's SO_RCVBUF is set on the listener before the connection, so the
 * advertised window is small from the start; the dialled side's SO_SNDBUF
 * too), so that a writer on fds[0] soon waits for room.  Returns 0 or the
 * failing call's result; fails the test on error. */
static int io_tcp_pair(int fds[2], bool small)
{
	int l = tsk_listen_tcp("127.0.0.1", 0, 8), c, s;

	TSK_EXPECT(l >= 0);
	if (l < 0)
		return l;
	if (small)
		io_setsockopt_int(l, SOL_SOCKET, SO_RCVBUF, 4096);
	c = tsk_dial_tcp("127.0.0.1", io_port(l), tsk_after_ms(IO_LONG_MS));
	TSK_EXPECT(c >= 0);
	if (c < 0) {
		tsk_close(l);
		return c;
	}
	s = tsk_accept(l, NULL, NULL, tsk_after_ms(IO_LONG_MS));
	TSK_EXPECT(s >= 0);
	TSK_EXPECT_EQ(tsk_close(l), 0);
	if (s < 0) {
		tsk_close(c);
		return s;
	}
	if (small)
		io_setsockopt_int(c, SOL_SOCKET, SO_SNDBUF, 4096);
	fds[0] = c;
	fds[1] = s;
	return 0;
}

/* Closes a socket abortively: SO_LINGER {1, 0} makes close send an RST. */
static void io_abort(int fd)
{
	struct linger lg = {.l_onoff = 1, .l_linger = 0};

	TSK_EXPECT_EQ(setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg)), 0);
	TSK_EXPECT_EQ(tsk_close(fd), 0);
}

static bool io_nonblocking(int fd)
{
	int fl = fcntl(fd, F_GETFL);
	return fl >= 0 && (fl & O_NONBLOCK);
}

static bool io_cloexec(int fd)
{
	int fl = fcntl(fd, F_GETFD);
	return fl >= 0 && (fl & FD_CLOEXEC);
}

/* Deterministic bytes, periodic with period PATTERN_LEN: any slice of up
 * to PATTERN_PAD bytes starting at pattern + (pos % PATTERN_LEN) is the
 * stream pattern[pos...]. */
#define PATTERN_LEN (1 << 20)
#define PATTERN_PAD (256 << 10)
static unsigned char pattern[PATTERN_LEN + PATTERN_PAD];
static unsigned char big[IO_BIG]; /* the pattern, repeated */

static uint64_t io_rand(uint64_t *s)
{
	uint64_t x = *s;
	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	return *s = x;
}

static void pattern_init(void)
{
	uint64_t s = 0x9E3779B97F4A7C15ull;

	for (size_t i = 0; i < PATTERN_LEN; i++)
		pattern[i] = (unsigned char)(io_rand(&s) >> 29);
	memcpy(pattern + PATTERN_LEN, pattern, PATTERN_PAD);
	for (size_t i = 0; i < IO_BIG; i += PATTERN_LEN)
		memcpy(big + i, pattern, IO_BIG - i < PATTERN_LEN ? IO_BIG - i : PATTERN_LEN);
}

static uint64_t io_fnv(uint64_t h, const unsigned char *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		h = (h ^ p[i]) * 0x100000001b3ull;
	return h;
}

/* ---- a task waiting in one call -------------------------------------------- */

enum io_op { OP_READ, OP_WRITE, OP_ACCEPT, OP_WAIT_IN, OP_WAIT_OUT, OP_WAIT_BOTH };

/* One blocking call made by io_waiter_task; the results are read after
 * joining it. */
typedef struct io_waiter {
	int op;           /* enum io_op */
	int fd;           /* descriptor it waits on */
	int64_t deadline; /* of the call */
	size_t n;         /* bytes to read (0: sizeof(buf)) or write */
	const void *src;  /* OP_WRITE: the bytes */
	char buf[64];     /* OP_READ: what it got */
	size_t written;   /* OP_WRITE: tsk_write_all's count */
	long rc;          /* the call's result (OP_ACCEPT: the fd, closed since) */
	int64_t end;      /* tsk_now() when the call returned */
	bool self_cancel; /* cancel itself before the call */
} io_waiter;

static void *io_waiter_task(void *arg)
{
	io_waiter *w = arg;

	if (w->self_cancel)
		TSK_EXPECT_EQ(tsk_cancel(tsk_self()), 0);
	switch (w->op) {
	case OP_READ:
		w->rc = tsk_read(w->fd, w->buf, w->n ? w->n : sizeof(w->buf), w->deadline);
		break;
	case OP_WRITE:
		w->rc = tsk_write_all(w->fd, w->src, w->n, w->deadline, &w->written);
		break;
	case OP_ACCEPT:
		w->rc = tsk_accept(w->fd, NULL, NULL, w->deadline);
		if (w->rc >= 0)
			TSK_EXPECT_EQ(tsk_close((int)w->rc), 0);
		break;
	case OP_WAIT_IN:
		w->rc = tsk_fd_wait(w->fd, POLLIN, w->deadline);
		break;
	case OP_WAIT_OUT:
		w->rc = tsk_fd_wait(w->fd, POLLOUT, w->deadline);
		break;
	case OP_WAIT_BOTH:
		w->rc = tsk_fd_wait(w->fd, POLLIN | POLLOUT, w->deadline);
		break;
	}
	w->end = tsk_now();
	return NULL;
}

/* Spawns a task making w's call and waits until `parked` tasks wait on
 * descriptors (the new one among them). */
static tsk_task *io_start(io_waiter *w, long parked)
{
	tsk_task *t = NULL;

	TSK_EXPECT_EQ(tsk_spawn(&t, "io-waiter", io_waiter_task, w), 0);
	IO_WAIT_PARKED(parked);
	return t;
}

/* Joins a waiter, which must end within IO_LONG_MS. */
static void io_join(tsk_task *t)
{
	if (t != NULL)
		TSK_EXPECT_EQ(tsk_join(t, NULL, tsk_after_ms(2 * IO_LONG_MS)), 0);
}

/* Cancels the waiter t and joins it; returns ns from the cancel to the end
 * of its call.  If the cancel does not end the wait within IO_LONG_MS it
 * unsticks the task by closing w->fd (a failure, not a hang) and sets
 * *closed, so that the caller does not close it again. */
static int64_t io_cancel_join(tsk_task *t, io_waiter *w, bool *closed)
{
	int64_t t0 = tsk_now();

	*closed = false;
	TSK_EXPECT_EQ(tsk_cancel(t), 0);
	int rc = tsk_join(t, NULL, tsk_after_ms(IO_LONG_MS));
	TSK_EXPECT_EQ(rc, 0);
	if (rc != 0) {
		tsk_close(w->fd);
		*closed = true;
		TSK_EXPECT_EQ(tsk_join(t, NULL, TSK_FOREVER), 0);
	}
	return w->end - t0;
}

/* Reads exactly n bytes (waiting up to IO_LONG_MS for each piece). */
static bool io_read_exact(int fd, void *buf, size_t n)
{
	size_t got = 0;

	while (got < n) {
		ssize_t r = tsk_read(fd, (char *)buf + got, n - got, tsk_after_ms(IO_LONG_MS));
		if (r <= 0) {
			fprintf(stderr, "read_exact: %s after %zu of %zu bytes\n",
			        r ? tsk_errname((int)r) : "EOF", got, n);
			TSK_EXPECT(r > 0);
			return false;
		}
		got += (size_t)r;
	}
	return true;
}

/* Reads fd until end of file; returns the bytes read and whether they
 * were expect[0..n). */
static size_t io_drain(int fd, const unsigned char *expect, bool *same)
{
	unsigned char buf[4096];
	size_t got = 0;
	ssize_t n;

	*same = true;
	while ((n = tsk_read(fd, buf, sizeof(buf), tsk_after_ms(IO_LONG_MS))) > 0) {
		if (got + (size_t)n > IO_BIG || memcmp(buf, expect + got, (size_t)n) != 0)
			*same = false;
		got += (size_t)n;
	}
	TSK_EXPECT_EQ(n, 0);
	return got;
}

/* ---- echo over TCP loopback ---------------------------------------------- */

#define ECHO_ROUNDS 5
#define ECHO_BIG    3 /* the round whose payload is > 64 KiB */
#define ECHO_BUF    8192

typedef struct echo_ctx {
	int nconn;             /* connections: clients, servers */
	int port;              /* the listener's */
	int lfd;               /* the listener */
	tsk_wg *connected;     /* barrier: every client has dialled */
	tsk_wg *echoed;        /* barrier: every client has had a round trip */
	tsk_wg *servers;       /* server tasks still running */
	atomic_int accepted;   /* connections accepted */
	atomic_int live;       /* server tasks running now */
	atomic_int max_live;   /* most at once */
	atomic_int clients_ok; /* clients that got every byte back */
	atomic_long big_reads; /* tsk_read calls of the big rounds */
	atomic_long partial;   /* reads of the big rounds that got less than asked */
} echo_ctx;

static echo_ctx *ecx;

static size_t echo_len(int id, int round)
{
	static const size_t base[ECHO_ROUNDS] = {1, 100, 1500, 64 * 1024 + 1, 13};

	return base[round] + (size_t)(round == ECHO_BIG ? id % 4096 : id % 7);
}

static const unsigned char *echo_payload(int id, int round)
{
	return pattern + ((size_t)id * 7919 + (size_t)round * 104729) % PATTERN_LEN;
}

/* Echoes what it reads until end of file, then closes. */
static void *echo_server(void *arg)
{
	echo_ctx *x = ecx;
	int fd = (int)(intptr_t)arg;
	char buf[ECHO_BUF];
	ssize_t n;

	int live = atomic_fetch_add(&x->live, 1) + 1, max = atomic_load(&x->max_live);
	while (live > max && !atomic_compare_exchange_weak(&x->max_live, &max, live))
		;
	tsk_set_state("echoing");
	while ((n = tsk_read(fd, buf, sizeof(buf), tsk_after_ms(IO_LONG_MS))) > 0) {
		ssize_t w = tsk_write(fd, buf, (size_t)n, tsk_after_ms(IO_LONG_MS));
		if (w != n) {
			TSK_EXPECT_EQ(w, n);
			break;
		}
	}
	TSK_EXPECT(n <= 0);
	if (n < 0)
		fprintf(stderr, "echo server: read: %s\n", tsk_errname((int)n));
	TSK_EXPECT_EQ(n, 0);
	TSK_EXPECT_EQ(tsk_close(fd), 0);
	atomic_fetch_sub(&x->live, 1);
	tsk_wg_done(x->servers);
	return NULL;
}

static void *echo_acceptor(void *arg)
{
	echo_ctx *x = arg;

	for (int i = 0; i < x->nconn; i++) {
		struct sockaddr_storage ss;
		socklen_t len = sizeof(ss);
		int fd = tsk_accept(x->lfd, (struct sockaddr *)&ss, &len, tsk_after_ms(IO_LONG_MS));
		if (fd < 0) {
			fprintf(stderr, "accept #%d: %s\n", i, tsk_errname(fd));
			TSK_EXPECT(fd >= 0);
			break;
		}
		TSK_EXPECT_EQ(ss.ss_family, AF_INET);
		TSK_EXPECT_EQ(len, sizeof(struct sockaddr_in));
		TSK_EXPECT(io_nonblocking(fd));
		TSK_EXPECT(io_cloexec(fd));
		atomic_fetch_add(&x->accepted, 1);
		tsk_wg_add(x->servers, 1);
		int rc = tsk_spawn(NULL, "echo-server", echo_server, (void *)(intptr_t)fd);
		TSK_EXPECT_EQ(rc, 0);
		if (rc != 0) {
			tsk_close(fd);
			tsk_wg_done(x->servers);
		}
	}
	return NULL;
}

typedef struct echo_writer {
	int fd;
	const unsigned char *p;
	size_t len;
} echo_writer;

static void *echo_write_task(void *arg)
{
	echo_writer *w = arg;
	size_t written = 0;

	ssize_t rc = tsk_write_all(w->fd, w->p, w->len, tsk_after_ms(IO_LONG_MS), &written);
	TSK_EXPECT_EQ(rc, (ssize_t)w->len);
	TSK_EXPECT_EQ(written, w->len);
	return NULL;
}

/* Reads len bytes of fd and compares them with p.  The small payloads
 * are read in pieces of at most ECHO_BUF; a big one is asked for whole
 * (all that is missing, each time), so tsk_read must return the partial
 * chunks that have arrived. */
static bool echo_expect(echo_ctx *x, int fd, const unsigned char *p, size_t len, bool whole)
{
	unsigned char small[ECHO_BUF], *buf = whole ? malloc(len) : small;
	size_t got = 0;
	bool ok = buf != NULL;

	TSK_EXPECT(buf != NULL);
	while (ok && got < len) {
		size_t want = whole ? len - got : len - got < ECHO_BUF ? len - got : ECHO_BUF;
		ssize_t n = tsk_read(fd, buf, want, tsk_after_ms(IO_LONG_MS));
		if (n <= 0) {
			fprintf(stderr, "echo client: read: %s after %zu of %zu bytes\n",
			        n ? tsk_errname((int)n) : "EOF", got, len);
			TSK_EXPECT(n > 0);
			ok = false;
			break;
		}
		TSK_EXPECT((size_t)n <= want);
		if (memcmp(buf, p + got, (size_t)n) != 0) {
			fprintf(stderr, "echo client: bytes %zu..%zu of %zu differ\n", got,
			        got + (size_t)n, len);
			TSK_EXPECT(!"the echo matches");
			ok = false;
		}
		got += (size_t)n;
		if (whole) {
			atomic_fetch_add(&x->big_reads, 1);
			if ((size_t)n < want)
				atomic_fetch_add(&x->partial, 1);
		}
	}
	if (whole)
		free(buf);
	return ok;
}

/* One round trip: the big payload is written by a second task while this
 * one reads, the others by this task before it reads. */
static bool echo_round(echo_ctx *x, int fd, int id, int round)
{
	const unsigned char *p = echo_payload(id, round);
	size_t len = echo_len(id, round);

	if (round != ECHO_BIG) {
		ssize_t rc = tsk_write(fd, p, len, tsk_after_ms(IO_LONG_MS));
		TSK_EXPECT_EQ(rc, (ssize_t)len);
		return rc == (ssize_t)len && echo_expect(x, fd, p, len, false);
	}
	echo_writer w = {fd, p, len};
	tsk_task *t;
	if (tsk_spawn(&t, "echo-writer", echo_write_task, &w) != 0) {
		TSK_EXPECT(!"spawn the writer");
		return false;
	}
	bool ok = echo_expect(x, fd, p, len, true);
	TSK_EXPECT_EQ(tsk_join(t, NULL, TSK_FOREVER), 0);
	return ok;
}

static void *echo_client(void *arg)
{
	echo_ctx *x = ecx;
	int id = (int)(intptr_t)arg, one = 0;
	socklen_t olen = sizeof(one);
	bool ok;

	int fd = tsk_dial_tcp("127.0.0.1", x->port, tsk_after_ms(IO_LONG_MS));
	if (fd < 0)
		fprintf(stderr, "echo client %d: dial: %s\n", id, tsk_errname(fd));
	TSK_EXPECT(fd >= 0);
	tsk_wg_done(x->connected);
	TSK_EXPECT_EQ(tsk_wg_wait(x->connected, tsk_after_ms(3 * IO_LONG_MS)), 0);
	ok = fd >= 0;
	if (ok) {
		TSK_EXPECT(io_nonblocking(fd));
		TSK_EXPECT_EQ(getsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, &olen), 0);
		TSK_EXPECT(one != 0);
		ok = echo_round(x, fd, id, 0);
	}
	/* every connection has carried data, so every server is running */
	tsk_wg_done(x->echoed);
	TSK_EXPECT_EQ(tsk_wg_wait(x->echoed, tsk_after_ms(3 * IO_LONG_MS)), 0);
	for (int r = 1; r < ECHO_ROUNDS && ok; r++)
		ok = echo_round(x, fd, id, r);
	if (fd >= 0)
		TSK_EXPECT_EQ(tsk_close(fd), 0);
	if (ok)
		atomic_fetch_add(&x->clients_ok, 1);
	return NULL;
}

static void *echo_root(void *arg)
{
	echo_ctx *x = arg;
	tsk_task *acc, **clients = calloc((size_t)x->nconn, sizeof(*clients));

	TSK_EXPECT(clients != NULL);
	x->lfd = tsk_listen_tcp("127.0.0.1", 0, x->nconn);
	TSK_EXPECT(x->lfd >= 0);
	if (clients == NULL || x->lfd < 0)
		return NULL;
	TSK_EXPECT(io_nonblocking(x->lfd));
	x->port = io_port(x->lfd);
	TSK_EXPECT(x->port > 0);
	TSK_EXPECT_EQ(tsk_wg_create(&x->connected, "connected"), 0);
	TSK_EXPECT_EQ(tsk_wg_create(&x->echoed, "echoed"), 0);
	TSK_EXPECT_EQ(tsk_wg_create(&x->servers, "servers"), 0);
	tsk_wg_add(x->connected, x->nconn);
	tsk_wg_add(x->echoed, x->nconn);
	TSK_EXPECT_EQ(tsk_spawn(&acc, "acceptor", echo_acceptor, x), 0);
	for (int i = 0; i < x->nconn; i++)
		TSK_EXPECT_EQ(
		        tsk_spawn(&clients[i], "echo-client", echo_client, (void *)(intptr_t)i), 0);
	for (int i = 0; i < x->nconn; i++)
		TSK_EXPECT_EQ(tsk_join(clients[i], NULL, TSK_FOREVER), 0);
	TSK_EXPECT_EQ(tsk_join(acc, NULL, TSK_FOREVER), 0);
	TSK_EXPECT_EQ(tsk_wg_wait(x->servers, tsk_after_ms(IO_LONG_MS)), 0);
	TSK_EXPECT_EQ(tsk_close(x->lfd), 0);
	tsk_wg_destroy(x->connected);
	tsk_wg_destroy(x->echoed);
	tsk_wg_destroy(x->servers);
	free(clients);
	return NULL;
}

static void test_echo_tcp(void **state)
{
	static const int workers[] = {2, 1, 4};
	long n = tsk_test_scale(1000), most = (io_fd_limit - 64) / 2;

	(void)state;
	if (n < 50)
		n = 50;
	if (n > most) {
		print_message("  note: RLIMIT_NOFILE allows %ld descriptors: %ld connections, "
		              "not %ld\n",
		              io_fd_limit, most, n);
		n = most;
	}
	assert_true(n >= 10);
	for (size_t k = 0; k < sizeof(workers) / sizeof(workers[0]); k++) {
		echo_ctx x = {.nconn = (int)(k == 0 ? n : n / 4 < 50 ? 50 : n / 4)};
		if (x.nconn > n)
			x.nconn = (int)n;
		ecx = &x;
		int64_t t0 = tsk_now();
		io_run(echo_root, &x, workers[k]);
		print_message("  %d worker(s): %d connections at once, echoed in %.0f ms; the "
		              "big payloads took %ld reads, %ld partial\n",
		              workers[k], x.nconn, ct_ms(t0, tsk_now()), atomic_load(&x.big_reads),
		              atomic_load(&x.partial));
		assert_int_equal(atomic_load(&x.accepted), x.nconn);
		assert_int_equal(atomic_load(&x.clients_ok), x.nconn);
		assert_int_equal(atomic_load(&x.max_live), x.nconn);
		assert_int_equal(atomic_load(&x.live), 0);
		/* how many reads returned part of what was asked depends on
		 * the scheduling (on one worker the whole echo is usually
		 * there by the time the client runs): printed, not asserted;
		 * short reads are asserted where they are deterministic
		 * (io_expect_works, reset_root) */
		assert_true(atomic_load(&x.big_reads) >= x.nconn);
	}
}

/* ---- deadlines ----------------------------------------------------------- */

static void *timeouts_root(void *arg)
{
	int p[2], q[2], l, c, s;
	int64_t t0, dl;
	char buf[16];

	(void)arg;
	/* accept: nobody connects */
	l = tsk_listen_tcp("127.0.0.1", 0, 4);
	TSK_EXPECT(l >= 0);
	t0 = tsk_now();
	dl = t0 + IO_SHORT_MS * CT_MS;
	TSK_EXPECT_EQ(tsk_accept(l, NULL, NULL, dl), -ETIMEDOUT);
	IO_EXPECT_TIMED(t0, dl, tsk_now());
	t0 = tsk_now();
	TSK_EXPECT_EQ(tsk_accept(l, NULL, NULL, t0 - 1), -ETIMEDOUT); /* past: at once */
	TSK_EXPECT(tsk_now() - t0 < IO_LATE_MS * CT_MS);
	/* a pending connection is accepted even with the deadline past */
	c = tsk_dial_tcp("127.0.0.1", io_port(l), tsk_after_ms(IO_LONG_MS));
	TSK_EXPECT(c >= 0);
	TSK_EXPECT(tsk_fd_wait(l, POLLIN, tsk_after_ms(IO_LONG_MS)) & POLLIN);
	s = tsk_accept(l, NULL, NULL, tsk_now() - 1);
	TSK_EXPECT(s >= 0);
	TSK_EXPECT_EQ(tsk_close(l), 0);

	/* read: a silent peer */
	t0 = tsk_now();
	dl = t0 + IO_SHORT_MS * CT_MS;
	TSK_EXPECT_EQ(tsk_read(s, buf, sizeof(buf), dl), -ETIMEDOUT);
	IO_EXPECT_TIMED(t0, dl, tsk_now());
	TSK_EXPECT_EQ(tsk_read(s, buf, sizeof(buf), tsk_now() - 1), -ETIMEDOUT);
	/* data there: read even with the deadline past */
	TSK_EXPECT_EQ(tsk_write(c, "hi", 2, tsk_after_ms(IO_LONG_MS)), 2);
	TSK_EXPECT(tsk_fd_wait(s, POLLIN, tsk_after_ms(IO_LONG_MS)) & POLLIN);
	TSK_EXPECT_EQ(tsk_read(s, buf, sizeof(buf), tsk_now() - 1), 2);
	TSK_EXPECT(memcmp(buf, "hi", 2) == 0);
	TSK_EXPECT_EQ(tsk_close(c), 0);
	TSK_EXPECT_EQ(tsk_close(s), 0);

	/* write: a peer that never reads; some bytes go, then the deadline */
	size_t written = 12345;
	bool same;
	TSK_EXPECT_EQ(io_tcp_pair(p, true), 0);
	t0 = tsk_now();
	dl = t0 + IO_SHORT_MS * CT_MS;
	TSK_EXPECT_EQ(tsk_write(p[0], big, IO_BIG, dl), -ETIMEDOUT);
	IO_EXPECT_TIMED(t0, dl, tsk_now());
	TSK_EXPECT_EQ(tsk_close(p[0]), 0);
	TSK_EXPECT_EQ(tsk_close(p[1]), 0);
	TSK_EXPECT_EQ(io_tcp_pair(p, true), 0);
	t0 = tsk_now();
	dl = t0 + IO_SHORT_MS * CT_MS;
	TSK_EXPECT_EQ(tsk_write_all(p[0], big, IO_BIG, dl, &written), -ETIMEDOUT);
	IO_EXPECT_TIMED(t0, dl, tsk_now());
	TSK_EXPECT(written > 0 && written < IO_BIG);
	/* exactly `written` bytes went: the peer reads them, then the end */
	TSK_EXPECT_EQ(tsk_close(p[0]), 0);
	TSK_EXPECT_EQ(io_drain(p[1], big, &same), written);
	TSK_EXPECT(same);
	TSK_EXPECT_EQ(tsk_close(p[1]), 0);

	/* a pipe: exactly its capacity goes in */
	TSK_EXPECT_EQ(tsk_pipe(q), 0);
	t0 = tsk_now();
	dl = t0 + IO_SHORT_MS * CT_MS;
	TSK_EXPECT_EQ(tsk_write_all(q[1], big, 1 << 20, dl, &written), -ETIMEDOUT);
	IO_EXPECT_TIMED(t0, dl, tsk_now());
	TSK_EXPECT_EQ(written, fcntl(q[1], F_GETPIPE_SZ));
	TSK_EXPECT_EQ(tsk_close(q[0]), 0);
	TSK_EXPECT_EQ(tsk_close(q[1]), 0);
	return NULL;
}

static void test_timeouts(void **state)
{
	(void)state;
	io_run(timeouts_root, NULL, 2);
	io_run(timeouts_root, NULL, 1);
}

/* ---- end of file and reset --------------------------------------------------- */

static void *reset_root(void *arg)
{
	int p[2];
	char buf[8];
	io_waiter w;
	tsk_task *t;
	int64_t t0;

	(void)arg;
	/* end of file before the read: the data, then 0, again and again */
	TSK_EXPECT_EQ(io_tcp_pair(p, false), 0);
	TSK_EXPECT_EQ(tsk_write(p[1], "abc", 3, tsk_after_ms(IO_LONG_MS)), 3);
	TSK_EXPECT_EQ(tsk_close(p[1]), 0);
	TSK_EXPECT(io_read_exact(p[0], buf, 3) && memcmp(buf, "abc", 3) == 0);
	TSK_EXPECT_EQ(tsk_read(p[0], buf, sizeof(buf), tsk_after_ms(IO_LONG_MS)), 0);
	TSK_EXPECT_EQ(tsk_read(p[0], buf, sizeof(buf), tsk_after_ms(IO_LONG_MS)), 0);
	TSK_EXPECT_EQ(tsk_close(p[0]), 0);

	/* end of file while waiting */
	TSK_EXPECT_EQ(io_tcp_pair(p, false), 0);
	w = (io_waiter){.op = OP_READ, .fd = p[0], .deadline = tsk_after_ms(IO_LONG_MS)};
	t = io_start(&w, 1);
	t0 = tsk_now();
	TSK_EXPECT_EQ(tsk_close(p[1]), 0);
	io_join(t);
	TSK_EXPECT_EQ(w.rc, 0);
	TSK_EXPECT(w.end - t0 < IO_LATE_MS * CT_MS);
	TSK_EXPECT_EQ(tsk_close(p[0]), 0);

	/* reset while waiting (nothing in flight towards the reader: the read
	 * can only see the reset) */
	TSK_EXPECT_EQ(io_tcp_pair(p, false), 0);
	w = (io_waiter){.op = OP_READ, .fd = p[0], .deadline = tsk_after_ms(IO_LONG_MS)};
	t = io_start(&w, 1);
	t0 = tsk_now();
	io_abort(p[1]);
	io_join(t);
	TSK_EXPECT_EQ(w.rc, -ECONNRESET);
	TSK_EXPECT(w.end - t0 < IO_LATE_MS * CT_MS);
	TSK_EXPECT_EQ(tsk_close(p[0]), 0);

	/* reset before the read */
	TSK_EXPECT_EQ(io_tcp_pair(p, false), 0);
	io_abort(p[1]);
	TSK_EXPECT_EQ(tsk_read(p[0], buf, sizeof(buf), tsk_after_ms(IO_LONG_MS)), -ECONNRESET);
	TSK_EXPECT_EQ(tsk_close(p[0]), 0);

	/* reset while a writer waits for room (no SIGPIPE: sockets) */
	TSK_EXPECT_EQ(io_tcp_pair(p, true), 0);
	w = (io_waiter){.op = OP_WRITE,
	                .fd = p[0],
	                .deadline = tsk_after_ms(IO_LONG_MS),
	                .n = IO_BIG,
	                .src = big};
	t = io_start(&w, 1);
	t0 = tsk_now();
	io_abort(p[1]);
	io_join(t);
	TSK_EXPECT(w.rc == -ECONNRESET || w.rc == -EPIPE);
	TSK_EXPECT(w.end - t0 < IO_LATE_MS * CT_MS);
	TSK_EXPECT(w.written > 0 && w.written < IO_BIG);
	TSK_EXPECT_EQ(tsk_close(p[0]), 0);
	return NULL;
}

static void test_reset_and_eof(void **state)
{
	(void)state;
	io_run(reset_root, NULL, 2);
	io_run(reset_root, NULL, 1);
}

/* ---- end of file right behind the last data ------------------------------------------ */

typedef struct tail_ctx {
	int fd;       /* the reader's end */
	long rc1;     /* the first read: the data */
	long rc2;     /* the second read: end of file */
	int64_t end2; /* when the second read returned */
} tail_ctx;

static void *tail_reader(void *arg)
{
	tail_ctx *x = arg;
	char buf[64];

	x->rc1 = tsk_read(x->fd, buf, sizeof(buf), tsk_after_ms(IO_LONG_MS));
	x->rc2 = tsk_read(x->fd, buf, sizeof(buf), tsk_after_ms(5000));
	x->end2 = tsk_now();
	return NULL;
}

/* A reader waits; the writer sends 3 bytes and closes, both before the
 * reader runs again, so that one edge reports the data and the end of
 * file together.  The reader's first read gets the 3 bytes (fewer than it
 * asked for); its second read must return 0 at once: the end of file is
 * already there and no further edge will come.  The second read has a 5 s
 * deadline so that a reader waiting for an edge fails the test instead of
 * hanging (with TSK_FOREVER it would never return). */
static void *tail_root(void *arg)
{
	int p[2];
	tsk_task *t;
	int64_t t0;

	for (int kind = 0; kind < 2; kind++) {
		tail_ctx x = {0};
		if (kind == 0)
			TSK_EXPECT_EQ(tsk_pipe(p), 0);
		else
			TSK_EXPECT_EQ(io_tcp_pair(p, false), 0);
		x.fd = p[0];
		TSK_EXPECT_EQ(tsk_spawn(&t, "reader", tail_reader, &x), 0);
		IO_WAIT_PARKED(1);
		TSK_EXPECT_EQ(tsk_write(p[1], "abc", 3, tsk_after_ms(IO_LONG_MS)), 3);
		t0 = tsk_now();
		TSK_EXPECT_EQ(tsk_close(p[1]), 0);
		TSK_EXPECT_EQ(tsk_join(t, NULL, TSK_FOREVER), 0);
		if (x.rc2 != 0 || x.end2 - t0 >= IO_LATE_MS * CT_MS)
			fprintf(stderr,
			        "%s, %d worker(s): data then end of file: reads returned %ld, "
			        "then %ld after %.0f ms\n",
			        kind ? "TCP" : "pipe", (int)(intptr_t)arg, x.rc1, x.rc2,
			        ct_ms(t0, x.end2));
		TSK_EXPECT_EQ(x.rc1, 3);
		TSK_EXPECT_EQ(x.rc2, 0);
		TSK_EXPECT(x.end2 - t0 < IO_LATE_MS * CT_MS);
		TSK_EXPECT_EQ(tsk_close(p[0]), 0);
	}
	return NULL;
}

static void test_eof_after_short_read(void **state)
{
	(void)state;
	io_run(tail_root, (void *)2, 2);
	io_run(tail_root, (void *)1, 1); /* deterministic: one edge for both */
}

/* ---- SIGPIPE --------------------------------------------------------------- */

static void *sigpipe_root(void *arg)
{
	int p[2], s[2];
	sigset_t cur;
	size_t written = 7;
	long rc;

	/* the runtime's threads have SIGPIPE blocked */
	TSK_EXPECT_EQ(pthread_sigmask(SIG_BLOCK, NULL, &cur), 0);
	TSK_EXPECT_EQ(sigismember(&cur, SIGPIPE), 1);

	/* a pipe whose reader has gone */
	TSK_EXPECT_EQ(tsk_pipe(p), 0);
	TSK_EXPECT_EQ(tsk_close(p[0]), 0);
	TSK_EXPECT_EQ(tsk_write(p[1], "x", 1, tsk_after_ms(IO_LONG_MS)), -EPIPE);
	TSK_EXPECT_EQ(tsk_write_all(p[1], "xy", 2, tsk_after_ms(IO_LONG_MS), &written), -EPIPE);
	TSK_EXPECT_EQ(written, 0);
	TSK_EXPECT_EQ(tsk_close(p[1]), 0);

	/* a socket reset by its peer: written to before and after the reset
	 * has been read */
	TSK_EXPECT_EQ(io_tcp_pair(s, false), 0);
	io_abort(s[1]);
	TSK_EXPECT(tsk_fd_wait(s[0], POLLIN, tsk_after_ms(IO_LONG_MS)) > 0);
	rc = tsk_write(s[0], "x", 1, tsk_after_ms(IO_LONG_MS));
	TSK_EXPECT(rc == -ECONNRESET || rc == -EPIPE);
	rc = tsk_write(s[0], "x", 1, tsk_after_ms(IO_LONG_MS));
	TSK_EXPECT(rc == -ECONNRESET || rc == -EPIPE);
	TSK_EXPECT_EQ(tsk_close(s[0]), 0);

	TSK_EXPECT_EQ(io_tcp_pair(s, false), 0);
	io_abort(s[1]);
	TSK_EXPECT_EQ(tsk_read(s[0], &rc, 1, tsk_after_ms(IO_LONG_MS)), -ECONNRESET);
	rc = tsk_write(s[0], "x", 1, tsk_after_ms(IO_LONG_MS));
	TSK_EXPECT(rc == -ECONNRESET || rc == -EPIPE);
	TSK_EXPECT_EQ(tsk_close(s[0]), 0);

	/* a peer that closed normally: the first writes may still go (the peer
	 * answers them with a reset), a later one fails */
	TSK_EXPECT_EQ(io_tcp_pair(s, false), 0);
	TSK_EXPECT_EQ(tsk_close(s[1]), 0);
	rc = 1;
	for (int i = 0; i < 1000 && rc == 1; i++) {
		rc = tsk_write(s[0], "x", 1, tsk_after_ms(IO_LONG_MS));
		if (rc == 1)
			tsk_sleep(tsk_after_ms(1));
	}
	TSK_EXPECT(rc == -ECONNRESET || rc == -EPIPE);
	TSK_EXPECT_EQ(tsk_close(s[0]), 0);
	return arg;
}

/* `--child sigpipe:W`: 0 when the process lived through it with its signal
 * state intact; else 3 and a message.  Death by SIGPIPE is the failure
 * this is about: with one worker every write runs on the thread that
 * called tsk_run, and a SIGPIPE left pending there while it was blocked
 * arrives as soon as tsk_run unblocks it. */
static int child_sigpipe(int workers)
{
	tsk_config cfg = {.workers = workers};
	sigset_t mask, pending;
	struct sigaction sa;
	void *res = NULL;

	signal(SIGPIPE, SIG_DFL);
	sigemptyset(&mask);
	pthread_sigmask(SIG_SETMASK, &mask, NULL);
	if (tsk_run(sigpipe_root, (void *)7, &cfg, &res) != 0 || res != (void *)7) {
		fprintf(stderr, "child: tsk_run failed\n");
		return 3;
	}
	pthread_sigmask(SIG_SETMASK, NULL, &mask);
	sigpending(&pending);
	sigaction(SIGPIPE, NULL, &sa);
	const char *why = NULL;
	if (atomic_load(&tsk_test_failed) != 0)
		why = "an expectation failed inside a task";
	else if (sigismember(&mask, SIGPIPE))
		why = "SIGPIPE is still blocked after tsk_run";
	else if (sigismember(&pending, SIGPIPE))
		why = "SIGPIPE is pending after tsk_run";
	else if (sa.sa_handler != SIG_DFL)
		why = "SIGPIPE's disposition changed";
	fprintf(stderr, "child (%d workers): %s\n", workers, why ? why : "alive, signals intact");
	return why ? 3 : 0;
}

static void test_sigpipe(void **state)
{
	(void)state;
	for (int w = 1; w <= 2; w++) {
		char mode[32];
		int status;
		int64_t ns;

		snprintf(mode, sizeof(mode), "sigpipe:%d", w);
		int rc = ct_child(mode, NULL, 60000, &status, &ns);
		if (rc == 0 && WIFSIGNALED(status))
			print_message("  %d worker(s): the child died of signal %d (%s)\n", w,
			              WTERMSIG(status), strsignal(WTERMSIG(status)));
		assert_int_equal(rc, 0); /* -1: it hung and was killed */
		assert_true(WIFEXITED(status));
		assert_int_equal(WEXITSTATUS(status), 0);
	}
}

/* ---- cancellation ----------------------------------------------------------- */

static void *cancel_root(void *arg)
{
	int p[2], l, c;
	io_waiter w, w2;
	tsk_task *t, *t2;
	bool closed;
	int64_t late;

	(void)arg;
	/* read */
	TSK_EXPECT_EQ(io_tcp_pair(p, false), 0);
	w = (io_waiter){.op = OP_READ, .fd = p[0], .deadline = TSK_FOREVER};
	t = io_start(&w, 1);
	late = io_cancel_join(t, &w, &closed);
	TSK_EXPECT_EQ(w.rc, -ECANCELED);
	TSK_EXPECT(late < IO_LATE_MS * CT_MS);
	TSK_EXPECT_EQ(io_parked(), 0);
	/* the descriptor works for the next reader */
	if (!closed) {
		w2 = (io_waiter){.op = OP_READ, .fd = p[0], .deadline = tsk_after_ms(IO_LONG_MS)};
		t2 = io_start(&w2, 1);
		TSK_EXPECT_EQ(tsk_write(p[1], "after", 5, tsk_after_ms(IO_LONG_MS)), 5);
		io_join(t2);
		TSK_EXPECT_EQ(w2.rc, 5);
		TSK_EXPECT(memcmp(w2.buf, "after", 5) == 0);
		TSK_EXPECT_EQ(tsk_close(p[0]), 0);
	}
	TSK_EXPECT_EQ(tsk_close(p[1]), 0);

	/* accept */
	l = tsk_listen_tcp("127.0.0.1", 0, 4);
	TSK_EXPECT(l >= 0);
	w = (io_waiter){.op = OP_ACCEPT, .fd = l, .deadline = TSK_FOREVER};
	t = io_start(&w, 1);
	late = io_cancel_join(t, &w, &closed);
	TSK_EXPECT_EQ(w.rc, -ECANCELED);
	TSK_EXPECT(late < IO_LATE_MS * CT_MS);
	if (!closed) {
		w2 = (io_waiter){.op = OP_ACCEPT, .fd = l, .deadline = tsk_after_ms(IO_LONG_MS)};
		t2 = io_start(&w2, 1);
		c = tsk_dial_tcp("127.0.0.1", io_port(l), tsk_after_ms(IO_LONG_MS));
		TSK_EXPECT(c >= 0);
		io_join(t2);
		TSK_EXPECT(w2.rc >= 0);
		TSK_EXPECT_EQ(tsk_close(c), 0);
		TSK_EXPECT_EQ(tsk_close(l), 0);
	}

	/* write, into a socket that is full */
	TSK_EXPECT_EQ(io_tcp_pair(p, true), 0);
	w = (io_waiter){
	        .op = OP_WRITE, .fd = p[0], .deadline = TSK_FOREVER, .n = IO_BIG, .src = big};
	t = io_start(&w, 1);
	late = io_cancel_join(t, &w, &closed);
	TSK_EXPECT_EQ(w.rc, -ECANCELED);
	TSK_EXPECT(late < IO_LATE_MS * CT_MS);
	TSK_EXPECT(w.written > 0 && w.written < IO_BIG);
	if (!closed) {
		bool same;
		TSK_EXPECT_EQ(tsk_close(p[0]), 0);
		TSK_EXPECT_EQ(io_drain(p[1], big, &same), w.written);
		TSK_EXPECT(same);
	}
	TSK_EXPECT_EQ(tsk_close(p[1]), 0);

	/* fd_wait; then two readers of one pipe, one cancelled: the other
	 * still gets the byte */
	TSK_EXPECT_EQ(tsk_pipe(p), 0);
	w = (io_waiter){.op = OP_WAIT_IN, .fd = p[0], .deadline = TSK_FOREVER};
	t = io_start(&w, 1);
	late = io_cancel_join(t, &w, &closed);
	TSK_EXPECT_EQ(w.rc, -ECANCELED);
	TSK_EXPECT(late < IO_LATE_MS * CT_MS);
	if (!closed) {
		w = (io_waiter){.op = OP_READ, .fd = p[0], .deadline = TSK_FOREVER, .n = 1};
		w2 = (io_waiter){
		        .op = OP_READ, .fd = p[0], .deadline = tsk_after_ms(IO_LONG_MS), .n = 1};
		t = io_start(&w, 1);
		t2 = io_start(&w2, 2);
		io_cancel_join(t, &w, &closed);
		TSK_EXPECT_EQ(w.rc, -ECANCELED);
		TSK_EXPECT_EQ(tsk_write(p[1], "z", 1, tsk_after_ms(IO_LONG_MS)), 1);
		io_join(t2);
		TSK_EXPECT_EQ(w2.rc, 1);
		TSK_EXPECT_EQ(w2.buf[0], 'z');
		if (!closed)
			TSK_EXPECT_EQ(tsk_close(p[0]), 0);
	}
	TSK_EXPECT_EQ(tsk_close(p[1]), 0);

	/* a task cancelled before the call: a call that would wait fails at
	 * once (a wait would end at the deadline with -ETIMEDOUT instead) */
	TSK_EXPECT_EQ(tsk_pipe(p), 0);
	l = tsk_listen_tcp("127.0.0.1", 0, 4);
	TSK_EXPECT(l >= 0);
	int ops[] = {OP_READ, OP_WAIT_IN, OP_ACCEPT};
	for (int i = 0; i < 3; i++) {
		w = (io_waiter){.op = ops[i],
		                .fd = ops[i] == OP_ACCEPT ? l : p[0],
		                .deadline = tsk_after_ms(5000),
		                .self_cancel = true};
		int64_t t0 = tsk_now();
		TSK_EXPECT_EQ(tsk_spawn(&t, "self-cancelled", io_waiter_task, &w), 0);
		io_join(t);
		TSK_EXPECT_EQ(w.rc, -ECANCELED);
		TSK_EXPECT(w.end - t0 < IO_LATE_MS * CT_MS);
	}
	TSK_EXPECT_EQ(tsk_close(l), 0);
	TSK_EXPECT_EQ(tsk_close(p[0]), 0);
	TSK_EXPECT_EQ(tsk_close(p[1]), 0);
	return NULL;
}

static void test_cancel(void **state)
{
	(void)state;
	io_run(cancel_root, NULL, 2);
	io_run(cancel_root, NULL, 1);
}

/* ---- connections that hang -------------------------------------------------------- */

/* A listener whose accept queue is full: the kernel drops further SYNs,
 * so a connection attempt to it stays in progress (the SYN is sent again
 * after 1 s, 3 s, ... and dropped again).  Fills the queue with plain
 * connect(2)s until one does not complete within 100 ms; returns the
 * listener and the sockets in fill[0..*nfill) (to close). */
static int io_full_listener(struct sockaddr_in *sa, int *fill, int *nfill)
{
	int l = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	*nfill = 0;
	*sa = (struct sockaddr_in){.sin_family = AF_INET,
	                           .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	/* listen(2) itself: tsk_listen_tcp takes a backlog of 0 as "default" */
	TSK_EXPECT(l >= 0);
	TSK_EXPECT_EQ(bind(l, (struct sockaddr *)sa, sizeof(*sa)), 0);
	TSK_EXPECT_EQ(listen(l, 0), 0);
	sa->sin_port = htons((uint16_t)io_port(l));
	while (*nfill < IO_MAX_FILL) {
		int c = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
		TSK_EXPECT(c >= 0);
		if (c < 0)
			break;
		fill[(*nfill)++] = c;
		if (connect(c, (struct sockaddr *)sa, sizeof(*sa)) == 0)
			continue;
		TSK_EXPECT_EQ(errno, EINPROGRESS);
		if (tsk_fd_wait(c, POLLOUT, tsk_after_ms(100)) == -ETIMEDOUT)
			return l; /* this one hangs: so will the next */
	}
	TSK_EXPECT(!"an attempt hangs");
	return l;
}

typedef struct connector {
	int fd;                 /* the socket */
	struct sockaddr_in *sa; /* where to */
	int64_t deadline;
	int rc;      /* tsk_connect's result */
	int64_t end; /* when it returned */
} connector;

static void *connector_task(void *arg)
{
	connector *c = arg;

	c->rc = tsk_connect(c->fd, (struct sockaddr *)c->sa, sizeof(*c->sa), c->deadline);
	c->end = tsk_now();
	return NULL;
}

static void *hang_root(void *arg)
{
	struct sockaddr_in sa;
	int fill[IO_MAX_FILL], nfill, l, s;
	int64_t t0, dl;
	connector c;
	tsk_task *t;

	(void)arg;
	l = io_full_listener(&sa, fill, &nfill);
	/* the deadline passes */
	s = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	t0 = tsk_now();
	dl = t0 + IO_SHORT_MS * CT_MS;
	TSK_EXPECT_EQ(tsk_connect(s, (struct sockaddr *)&sa, sizeof(sa), dl), -ETIMEDOUT);
	IO_EXPECT_TIMED(t0, dl, tsk_now());
	TSK_EXPECT_EQ(tsk_close(s), 0);
	t0 = tsk_now();
	dl = t0 + IO_SHORT_MS * CT_MS;
	TSK_EXPECT_EQ(tsk_dial_tcp("127.0.0.1", ntohs(sa.sin_port), dl), -ETIMEDOUT);
	IO_EXPECT_TIMED(t0, dl, tsk_now());

	/* cancelled while connecting */
	c = (connector){.fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0),
	                .sa = &sa,
	                .deadline = TSK_FOREVER};
	TSK_EXPECT_EQ(tsk_spawn(&t, "connector", connector_task, &c), 0);
	IO_WAIT_PARKED(1);
	t0 = tsk_now();
	TSK_EXPECT_EQ(tsk_cancel(t), 0);
	TSK_EXPECT_EQ(tsk_join(t, NULL, tsk_after_ms(IO_LONG_MS)), 0);
	TSK_EXPECT_EQ(c.rc, -ECANCELED);
	TSK_EXPECT(c.end - t0 < IO_LATE_MS * CT_MS);
	TSK_EXPECT_EQ(tsk_close(c.fd), 0);

	/* closed while connecting */
	c = (connector){.fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0),
	                .sa = &sa,
	                .deadline = tsk_after_ms(IO_LONG_MS)};
	TSK_EXPECT_EQ(tsk_spawn(&t, "connector", connector_task, &c), 0);
	IO_WAIT_PARKED(1);
	t0 = tsk_now();
	TSK_EXPECT_EQ(tsk_close(c.fd), 0);
	TSK_EXPECT_EQ(tsk_join(t, NULL, tsk_after_ms(2 * IO_LONG_MS)), 0);
	TSK_EXPECT_EQ(c.rc, -EBADF);
	TSK_EXPECT(c.end - t0 < IO_LATE_MS * CT_MS);

	for (int i = 0; i < nfill; i++)
		TSK_EXPECT_EQ(tsk_close(fill[i]), 0);
	TSK_EXPECT_EQ(tsk_close(l), 0);
	return NULL;
}

static void test_connect_hangs(void **state)
{
	(void)state;
	io_run(hang_root, NULL, 2);
	io_run(hang_root, NULL, 1);
}

/* ---- cancellation racing with data -------------------------------------------------- */

typedef struct race_ctx {
	int p[2];      /* one byte per round goes through it */
	long got;      /* bytes the readers got, then the drains */
	long read_ok;  /* reads that got their byte */
	long drained;  /* bytes left by cancelled reads, read afterwards */
	long canceled; /* reads that returned -ECANCELED */
	long other;    /* reads that returned anything else */
} race_ctx;

static void *race_reader(void *arg)
{
	race_ctx *x = arg;
	char c;

	return (void *)(intptr_t)tsk_read(x->p[0], &c, 1, tsk_after_ms(IO_LONG_MS));
}

static void *race_writer(void *arg)
{
	race_ctx *x = arg;

	TSK_EXPECT_EQ(tsk_write(x->p[1], "r", 1, tsk_after_ms(IO_LONG_MS)), 1);
	return NULL;
}

/* Each round: a reader waits (or is about to), a writer sends one byte
 * and the root cancels the reader, all at once.  Whichever wins, no byte
 * may be lost: a read that returns -ECANCELED must not have consumed one. */
static void *race_root(void *arg)
{
	race_ctx *x = arg;
	long rounds = tsk_test_scale(2000);
	char buf[64];
	ssize_t n;

	TSK_EXPECT_EQ(tsk_pipe(x->p), 0);
	for (long i = 0; i < rounds; i++) {
		tsk_task *r, *w;
		void *res;
		TSK_EXPECT_EQ(tsk_spawn(&r, "reader", race_reader, x), 0);
		if (i % 2)
			tsk_yield(); /* let it park, sometimes */
		TSK_EXPECT_EQ(tsk_spawn(&w, "writer", race_writer, x), 0);
		TSK_EXPECT_EQ(tsk_cancel(r), 0);
		TSK_EXPECT_EQ(tsk_join(r, &res, TSK_FOREVER), 0);
		TSK_EXPECT_EQ(tsk_join(w, NULL, TSK_FOREVER), 0);
		if ((intptr_t)res == 1)
			x->read_ok++;
		else if ((intptr_t)res == -ECANCELED)
			x->canceled++;
		else
			x->other++;
		/* the byte of a cancelled read must still be there; take it so
		 * that the next round starts with an empty pipe */
		if ((intptr_t)res != 1) {
			n = tsk_read(x->p[0], buf, 1, tsk_after_ms(IO_LONG_MS));
			TSK_EXPECT_EQ(n, 1);
			x->drained += n > 0 ? n : 0;
		}
	}
	TSK_EXPECT_EQ(tsk_close(x->p[1]), 0);
	x->got = x->read_ok + x->drained;
	while ((n = tsk_read(x->p[0], buf, sizeof(buf), tsk_after_ms(IO_LONG_MS))) > 0)
		x->got += n;
	TSK_EXPECT_EQ(n, 0);
	TSK_EXPECT_EQ(tsk_close(x->p[0]), 0);
	TSK_EXPECT_EQ(x->got, rounds);
	TSK_EXPECT_EQ(x->other, 0);
	return NULL;
}

static void test_cancel_races_data(void **state)
{
	(void)state;
	for (int w = 1; w <= 2; w++) {
		race_ctx x = {0};
		io_run(race_root, &x, w);
		print_message("  %d worker(s): %ld reads got their byte, %ld were cancelled; no "
		              "byte lost\n",
		              w, x.read_ok, x.canceled);
	}
}

/* ---- tsk_close while tasks wait ------------------------------------------------- */

/* Opens connections to the listener l until one side gets number `want`
 * (the lowest free number is taken first, so it comes soon); returns that
 * side in *mine and its peer in *peer.  The others are closed. */
static bool io_pair_with_number(int l, int want, int *mine, int *peer)
{
	int extra[32], nextra = 0;
	bool found = false;

	while (!found && nextra + 2 <= 32) {
		int c = tsk_dial_tcp("127.0.0.1", io_port(l), tsk_after_ms(IO_LONG_MS));
		int s = c >= 0 ? tsk_accept(l, NULL, NULL, tsk_after_ms(IO_LONG_MS)) : -1;
		TSK_EXPECT(c >= 0 && s >= 0);
		if (c < 0 || s < 0) {
			if (c >= 0)
				tsk_close(c);
			break;
		}
		if (c == want || s == want) {
			*mine = want;
			*peer = c == want ? s : c;
			found = true;
		} else {
			extra[nextra++] = c;
			extra[nextra++] = s;
		}
	}
	for (int i = 0; i < nextra; i++)
		TSK_EXPECT_EQ(tsk_close(extra[i]), 0);
	TSK_EXPECT(found);
	return found;
}

static void *close_root(void *arg)
{
	int p[2], l, old, mine, peer;
	io_waiter w[5], r;
	tsk_task *t[5], *rt;

	(void)arg;
	l = tsk_listen_tcp("127.0.0.1", 0, 64);
	TSK_EXPECT(l >= 0);

	/* two readers, two pollers and a writer wait on one socket */
	TSK_EXPECT_EQ(io_tcp_pair(p, true), 0);
	old = p[0];
	w[0] = (io_waiter){.op = OP_READ, .fd = old, .deadline = TSK_FOREVER};
	w[1] = (io_waiter){.op = OP_READ, .fd = old, .deadline = TSK_FOREVER};
	w[2] = (io_waiter){.op = OP_WAIT_IN, .fd = old, .deadline = TSK_FOREVER};
	w[3] = (io_waiter){
	        .op = OP_WRITE, .fd = old, .deadline = TSK_FOREVER, .n = IO_BIG, .src = big};
	w[4] = (io_waiter){.op = OP_WAIT_BOTH, .fd = old, .deadline = TSK_FOREVER};
	for (int i = 0; i < 5; i++)
		t[i] = io_start(&w[i], i + 1);
	int64_t t0 = tsk_now();
	TSK_EXPECT_EQ(tsk_close(old), 0);
	for (int i = 0; i < 5; i++) {
		io_join(t[i]);
		TSK_EXPECT_EQ(w[i].rc, -EBADF);
		TSK_EXPECT(w[i].end - t0 < IO_LATE_MS * CT_MS);
	}
	TSK_EXPECT(w[3].written > 0 && w[3].written < IO_BIG);
	TSK_EXPECT_EQ(io_parked(), 0);
	TSK_EXPECT_EQ(tsk_close(old), -EBADF); /* closed already */
	TSK_EXPECT_EQ(tsk_close(p[1]), 0);

	/* the number comes back as a new socket, which works normally */
	if (io_pair_with_number(l, old, &mine, &peer)) {
		r = (io_waiter){.op = OP_READ, .fd = mine, .deadline = tsk_after_ms(IO_LONG_MS)};
		rt = io_start(&r, 1);
		TSK_EXPECT_EQ(tsk_write(peer, "new", 3, tsk_after_ms(IO_LONG_MS)), 3);
		io_join(rt);
		TSK_EXPECT_EQ(r.rc, 3);
		TSK_EXPECT(memcmp(r.buf, "new", 3) == 0);
		TSK_EXPECT_EQ(tsk_write(mine, "back", 4, tsk_after_ms(IO_LONG_MS)), 4);
		char buf[4];
		TSK_EXPECT(io_read_exact(peer, buf, 4) && memcmp(buf, "back", 4) == 0);
		TSK_EXPECT_EQ(tsk_close(mine), 0);
		TSK_EXPECT_EQ(tsk_close(peer), 0);
	}

	TSK_EXPECT_EQ(tsk_close(-1), -EBADF);
	TSK_EXPECT_EQ(tsk_close(l), 0);
	return NULL;
}

static void test_close_while_waiting(void **state)
{
	(void)state;
	io_run(close_root, NULL, 2);
	io_run(close_root, NULL, 1);
}

/* ---- a clean slate for new descriptors ------------------------------------------ */

/* A pipe's read end the reactor knows (a wait on it timed out, so it is
 * registered with epoll); the write end is closed.  Returns the number. */
static int io_known_fd(void)
{
	int q[2];

	TSK_EXPECT_EQ(tsk_pipe(q), 0);
	TSK_EXPECT_EQ(tsk_fd_wait(q[0], POLLIN, tsk_after_ms(5)), -ETIMEDOUT);
	TSK_EXPECT_EQ(tsk_close(q[1]), 0);
	return q[0];
}

/* Closes fd with close(2), behind the reactor's back, after filling every
 * free number below it with /dev/null (fill[0..*nfill)): the next
 * descriptor created is numbered fd. */
static void io_hole_at(int fd, int *fill, int *nfill)
{
	*nfill = 0;
	for (;;) {
		int d = open("/dev/null", O_RDONLY | O_CLOEXEC);
		if (d < 0 || d > fd || *nfill == IO_MAX_FILL) {
			if (d >= 0)
				close(d);
			break;
		}
		fill[(*nfill)++] = d;
	}
	close(fd);
}

static void io_unfill(const int *fill, int nfill)
{
	for (int i = 0; i < nfill; i++)
		close(fill[i]);
}

/* A reader waits on `fd`; `peer` writes: the read must see it. */
static void io_expect_works(int fd, int peer)
{
	io_waiter r = {.op = OP_READ, .fd = fd, .deadline = tsk_after_ms(IO_LONG_MS)};
	tsk_task *t = io_start(&r, 1);

	TSK_EXPECT_EQ(tsk_write(peer, "slate", 5, tsk_after_ms(IO_LONG_MS)), 5);
	io_join(t);
	TSK_EXPECT_EQ(r.rc, 5);
	TSK_EXPECT(memcmp(r.buf, "slate", 5) == 0);
}

/* Each maker of descriptors (tsk_pipe, tsk_dial_tcp, tsk_accept,
 * tsk_listen_tcp) hands out a number whose earlier descriptor the reactor
 * knew and that was closed with close(2): the new one must work. */
static void *slate_root(void *arg)
{
	int fill[IO_MAX_FILL], nfill, old, q[2], l, c, a, l2;
	io_waiter w;
	tsk_task *t;

	(void)arg;
	l = tsk_listen_tcp("127.0.0.1", 0, 16);
	TSK_EXPECT(l >= 0);

	old = io_known_fd();
	io_hole_at(old, fill, &nfill);
	TSK_EXPECT_EQ(tsk_pipe(q), 0);
	io_unfill(fill, nfill);
	TSK_EXPECT_EQ(q[0], old);
	io_expect_works(q[0], q[1]);
	TSK_EXPECT_EQ(tsk_close(q[0]), 0);
	TSK_EXPECT_EQ(tsk_close(q[1]), 0);

	old = io_known_fd();
	io_hole_at(old, fill, &nfill);
	c = tsk_dial_tcp("127.0.0.1", io_port(l), tsk_after_ms(IO_LONG_MS));
	io_unfill(fill, nfill);
	TSK_EXPECT_EQ(c, old);
	a = tsk_accept(l, NULL, NULL, tsk_after_ms(IO_LONG_MS));
	TSK_EXPECT(a >= 0);
	io_expect_works(c, a);
	TSK_EXPECT_EQ(tsk_close(c), 0);
	TSK_EXPECT_EQ(tsk_close(a), 0);

	c = tsk_dial_tcp("127.0.0.1", io_port(l), tsk_after_ms(IO_LONG_MS));
	TSK_EXPECT(c >= 0);
	old = io_known_fd();
	io_hole_at(old, fill, &nfill);
	a = tsk_accept(l, NULL, NULL, tsk_after_ms(IO_LONG_MS));
	io_unfill(fill, nfill);
	TSK_EXPECT_EQ(a, old);
	io_expect_works(a, c);
	TSK_EXPECT_EQ(tsk_close(c), 0);
	TSK_EXPECT_EQ(tsk_close(a), 0);

	old = io_known_fd();
	io_hole_at(old, fill, &nfill);
	l2 = tsk_listen_tcp("127.0.0.1", 0, 4);
	io_unfill(fill, nfill);
	TSK_EXPECT_EQ(l2, old);
	w = (io_waiter){.op = OP_ACCEPT, .fd = l2, .deadline = tsk_after_ms(IO_LONG_MS)};
	t = io_start(&w, 1);
	c = tsk_dial_tcp("127.0.0.1", io_port(l2), tsk_after_ms(IO_LONG_MS));
	TSK_EXPECT(c >= 0);
	io_join(t);
	TSK_EXPECT(w.rc >= 0);
	TSK_EXPECT_EQ(tsk_close(c), 0);
	TSK_EXPECT_EQ(tsk_close(l2), 0);
	TSK_EXPECT_EQ(tsk_close(l), 0);
	return NULL;
}

static void test_clean_slate(void **state)
{
	(void)state;
	io_run(slate_root, NULL, 2);
	io_run(slate_root, NULL, 1);
}

/* ---- tsk_close from a plain thread ------------------------------------------------ */

typedef struct closer {
	int fd; /* to close */
	int rc; /* tsk_close's result */
} closer;

static void *closer_thread(void *arg)
{
	closer *c = arg;

	c->rc = tsk_close(c->fd);
	return NULL;
}

/* Closes fd from a new plain thread while a task waits on it in `op`;
 * the waiter must end with -EBADF at once. */
static void io_close_from_thread(int op, int fd)
{
	io_waiter w = {.op = op, .fd = fd, .deadline = tsk_after_ms(5000)};
	tsk_task *t = io_start(&w, 1);
	closer c = {.fd = fd};
	pthread_t th;
	int64_t t0 = tsk_now();

	TSK_EXPECT_EQ(pthread_create(&th, NULL, closer_thread, &c), 0);
	TSK_EXPECT_EQ(pthread_join(th, NULL), 0);
	TSK_EXPECT_EQ(c.rc, 0);
	io_join(t);
	if (w.rc != -EBADF)
		fprintf(stderr, "%s after tsk_close from a plain thread: %s after %.0f ms\n",
		        op == OP_ACCEPT ? "accept" : "read",
		        w.rc < 0 ? tsk_errname((int)w.rc) : "success", ct_ms(t0, w.end));
	TSK_EXPECT_EQ(w.rc, -EBADF);
	TSK_EXPECT(w.end - t0 < IO_LATE_MS * CT_MS);
}

/* A thread that is no worker of the runtime (a signal-handling thread,
 * say, stopping a server by closing its listener) closes a descriptor a
 * task waits on.  tsk_close "works outside tasks too" and "wakes the tasks
 * waiting on fd with -EBADF".  The waits have a 5 s deadline so that a
 * waiter nobody wakes fails the test with -ETIMEDOUT instead of hanging. */
static void *foreign_close_root(void *arg)
{
	int p[2], l = tsk_listen_tcp("127.0.0.1", 0, 4);

	(void)arg;
	TSK_EXPECT(l >= 0);
	io_close_from_thread(OP_ACCEPT, l);
	TSK_EXPECT_EQ(tsk_pipe(p), 0);
	io_close_from_thread(OP_READ, p[0]);
	TSK_EXPECT_EQ(tsk_close(p[1]), 0);
	return NULL;
}

static void test_close_from_thread(void **state)
{
	(void)state;
	io_run(foreign_close_root, NULL, 2);
}

/* ---- busy workers notice readiness ------------------------------------------------ */

typedef struct busy_ctx {
	int p[2];        /* the reader waits on p[0]; a plain thread writes p[1] */
	atomic_bool got; /* the reader returned */
	long rc;         /* its tsk_read */
	int64_t written; /* when the thread wrote */
	int64_t woke;    /* when the read returned */
} busy_ctx;

static void *busy_yielder(void *arg)
{
	busy_ctx *x = arg;
	int64_t end = tsk_after_ms(5000);

	while (!atomic_load(&x->got) && tsk_now() < end)
		tsk_yield();
	return NULL;
}

static void *busy_reader(void *arg)
{
	busy_ctx *x = arg;
	char c;

	x->rc = tsk_read(x->p[0], &c, 1, tsk_after_ms(IO_LONG_MS));
	x->woke = tsk_now();
	atomic_store(&x->got, true);
	return NULL;
}

static void *busy_writer_thread(void *arg)
{
	busy_ctx *x = arg;

	usleep(50000);
	x->written = tsk_now();
	if (write(x->p[1], "b", 1) != 1)
		perror("busy writer");
	return NULL;
}

/* Every worker runs a task that yields and never runs dry: nobody sleeps
 * in epoll_wait, so the busy workers themselves must poll for the byte a
 * plain thread writes. */
static void *busy_root(void *arg)
{
	busy_ctx *x = arg;
	int nworkers = tsk_self()->rt->nworkers;
	tsk_task *r, *y[4];
	pthread_t th;

	TSK_EXPECT(nworkers <= 4);
	TSK_EXPECT_EQ(tsk_pipe(x->p), 0);
	TSK_EXPECT_EQ(tsk_spawn(&r, "reader", busy_reader, x), 0);
	IO_WAIT_PARKED(1);
	for (int i = 0; i < nworkers; i++)
		TSK_EXPECT_EQ(tsk_spawn(&y[i], "yielder", busy_yielder, x), 0);
	TSK_EXPECT_EQ(pthread_create(&th, NULL, busy_writer_thread, x), 0);
	TSK_EXPECT_EQ(tsk_join(r, NULL, TSK_FOREVER), 0);
	for (int i = 0; i < nworkers; i++)
		TSK_EXPECT_EQ(tsk_join(y[i], NULL, TSK_FOREVER), 0);
	TSK_EXPECT_EQ(pthread_join(th, NULL), 0);
	TSK_EXPECT_EQ(tsk_close(x->p[0]), 0);
	TSK_EXPECT_EQ(tsk_close(x->p[1]), 0);
	return NULL;
}

static void test_busy_workers_poll(void **state)
{
	busy_ctx x[2];

	(void)state;
	memset(x, 0, sizeof(x));
	for (int w = 1; w <= 2; w++) {
		io_run(busy_root, &x[w - 1], w);
		print_message("  %d worker(s), all busy yielding: the read returned %.2f ms after "
		              "the write\n",
		              w, ct_ms(x[w - 1].written, x[w - 1].woke));
	}
	for (int w = 1; w <= 2; w++) {
		assert_int_equal(x[w - 1].rc, 1);
		assert_true(x[w - 1].woke - x[w - 1].written < IO_LATE_MS * CT_MS);
	}
}

/* ---- several waiters on one descriptor ---------------------------------------- */

#define CROWD 4

static void *crowd_root(void *arg)
{
	int p[2], l, c[CROWD];
	io_waiter w[CROWD];
	tsk_task *t[CROWD];
	char seen[CROWD + 1] = {0};

	(void)arg;
	/* readers of one byte each; one write of CROWD bytes makes one edge */
	TSK_EXPECT_EQ(tsk_pipe(p), 0);
	for (int i = 0; i < CROWD; i++) {
		w[i] = (io_waiter){
		        .op = OP_READ, .fd = p[0], .deadline = tsk_after_ms(IO_LONG_MS), .n = 1};
		t[i] = io_start(&w[i], i + 1);
	}
	TSK_EXPECT_EQ(tsk_write(p[1], "abcd", CROWD, tsk_after_ms(IO_LONG_MS)), CROWD);
	for (int i = 0; i < CROWD; i++) {
		io_join(t[i]);
		TSK_EXPECT_EQ(w[i].rc, 1);
		if (w[i].rc == 1 && w[i].buf[0] >= 'a' && w[i].buf[0] < 'a' + CROWD)
			seen[w[i].buf[0] - 'a'] = w[i].buf[0];
	}
	TSK_EXPECT(strcmp(seen, "abcd") == 0);
	TSK_EXPECT_EQ(tsk_close(p[0]), 0);
	TSK_EXPECT_EQ(tsk_close(p[1]), 0);

	/* acceptors on one listener; the connections arrive at once (plain
	 * connect(2) calls without a wait in between: on one worker nobody
	 * collects events meanwhile, so they make one edge) */
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	l = tsk_listen_tcp("127.0.0.1", 0, 16);
	TSK_EXPECT(l >= 0);
	sa.sin_port = htons((uint16_t)io_port(l));
	for (int i = 0; i < CROWD; i++) {
		w[i] = (io_waiter){.op = OP_ACCEPT, .fd = l, .deadline = tsk_after_ms(IO_LONG_MS)};
		t[i] = io_start(&w[i], i + 1);
	}
	for (int i = 0; i < CROWD; i++) {
		c[i] = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
		TSK_EXPECT(c[i] >= 0);
		int rc = connect(c[i], (struct sockaddr *)&sa, sizeof(sa));
		TSK_EXPECT(rc == 0 || errno == EINPROGRESS);
	}
	for (int i = 0; i < CROWD; i++) {
		io_join(t[i]);
		TSK_EXPECT(w[i].rc >= 0);
	}
	for (int i = 0; i < CROWD; i++)
		if (c[i] >= 0)
			TSK_EXPECT_EQ(tsk_close(c[i]), 0);
	TSK_EXPECT_EQ(tsk_close(l), 0);
	return NULL;
}

static void test_crowd(void **state)
{
	(void)state;
	io_run(crowd_root, NULL, 2);
	io_run(crowd_root, NULL, 1);
}

/* ---- connect and dial ------------------------------------------------------------- */

static void exchange(int a, int b)
{
	char buf[4];

	TSK_EXPECT_EQ(tsk_write(a, "ping", 4, tsk_after_ms(IO_LONG_MS)), 4);
	TSK_EXPECT(io_read_exact(b, buf, 4) && memcmp(buf, "ping", 4) == 0);
	TSK_EXPECT_EQ(tsk_write(b, "pong", 4, tsk_after_ms(IO_LONG_MS)), 4);
	TSK_EXPECT(io_read_exact(a, buf, 4) && memcmp(buf, "pong", 4) == 0);
}

static void *connect_root(void *arg)
{
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	int port = io_free_port(), l, s, a;

	(void)arg;
	TSK_EXPECT(port > 0);
	/* nobody listens there */
	sa.sin_port = htons((uint16_t)port);
	s = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	TSK_EXPECT_EQ(tsk_connect(s, (struct sockaddr *)&sa, sizeof(sa), tsk_after_ms(IO_LONG_MS)),
	              -ECONNREFUSED);
	TSK_EXPECT_EQ(tsk_close(s), 0);
	s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0); /* blocking */
	TSK_EXPECT_EQ(tsk_connect(s, (struct sockaddr *)&sa, sizeof(sa), tsk_after_ms(IO_LONG_MS)),
	              -ECONNREFUSED);
	TSK_EXPECT_EQ(tsk_close(s), 0);
	TSK_EXPECT_EQ(tsk_dial_tcp("127.0.0.1", port, tsk_after_ms(IO_LONG_MS)), -ECONNREFUSED);

	/* tsk_connect that succeeds, on a socket handed in blocking */
	l = tsk_listen_tcp("127.0.0.1", 0, 8);
	TSK_EXPECT(l >= 0);
	sa.sin_port = htons((uint16_t)io_port(l));
	s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	TSK_EXPECT_EQ(tsk_connect(s, (struct sockaddr *)&sa, sizeof(sa), tsk_after_ms(IO_LONG_MS)),
	              0);
	TSK_EXPECT(io_nonblocking(s));
	a = tsk_accept(l, NULL, NULL, tsk_after_ms(IO_LONG_MS));
	TSK_EXPECT(a >= 0);
	exchange(s, a);
	TSK_EXPECT_EQ(tsk_close(s), 0);
	TSK_EXPECT_EQ(tsk_close(a), 0);

	/* a name, looked up on the blocking pool */
	s = tsk_dial_tcp("localhost", io_port(l), tsk_after_ms(IO_LONG_MS));
	if (s < 0)
		fprintf(stderr, "dial localhost: %s\n", tsk_errname(s));
	TSK_EXPECT(s >= 0);
	a = tsk_accept(l, NULL, NULL, tsk_after_ms(IO_LONG_MS));
	TSK_EXPECT(a >= 0);
	exchange(s, a);
	TSK_EXPECT_EQ(tsk_close(s), 0);
	TSK_EXPECT_EQ(tsk_close(a), 0);
	TSK_EXPECT_EQ(tsk_close(l), 0);

	/* every address (NULL and ""): IPv4 loopback reaches it */
	for (int k = 0; k < 2; k++) {
		l = tsk_listen_tcp(k ? "" : NULL, 0, 8);
		TSK_EXPECT(l >= 0);
		s = tsk_dial_tcp("127.0.0.1", io_port(l), tsk_after_ms(IO_LONG_MS));
		TSK_EXPECT(s >= 0);
		a = tsk_accept(l, NULL, NULL, tsk_after_ms(IO_LONG_MS));
		TSK_EXPECT(a >= 0);
		exchange(s, a);
		TSK_EXPECT_EQ(tsk_close(s), 0);
		TSK_EXPECT_EQ(tsk_close(a), 0);
		TSK_EXPECT_EQ(tsk_close(l), 0);
	}

	/* unknown names, bad arguments */
	TSK_EXPECT_EQ(tsk_dial_tcp("no-such-host.invalid", 80, tsk_after_ms(IO_LONG_MS)), -ENOENT);
	TSK_EXPECT_EQ(tsk_listen_tcp("no-such-host.invalid", 0, 8), -ENOENT);
	TSK_EXPECT_EQ(tsk_dial_tcp(NULL, 80, tsk_after_ms(IO_LONG_MS)), -EINVAL);
	TSK_EXPECT_EQ(tsk_dial_tcp("127.0.0.1", -1, tsk_after_ms(IO_LONG_MS)), -EINVAL);
	TSK_EXPECT_EQ(tsk_dial_tcp("127.0.0.1", 65536, tsk_after_ms(IO_LONG_MS)), -EINVAL);
	TSK_EXPECT_EQ(tsk_listen_tcp("127.0.0.1", -1, 8), -EINVAL);
	TSK_EXPECT_EQ(tsk_listen_tcp("127.0.0.1", 65536, 8), -EINVAL);
	TSK_EXPECT_EQ(tsk_connect(-1, (struct sockaddr *)&sa, sizeof(sa), tsk_after_ms(100)),
	              -EBADF);
	return NULL;
}

static void test_connect(void **state)
{
	(void)state;
	io_run(connect_root, NULL, 2);
}

/* ---- tsk_fd_wait ------------------------------------------------------------------ */

static void *fdwait_root(void *arg)
{
	int p[2], rc;
	int64_t t0, dl;
	io_waiter w;
	tsk_task *t;
	size_t written;
	char buf[256];

	(void)arg;
	TSK_EXPECT_EQ(tsk_pipe(p), 0);
	for (int i = 0; i < 2; i++)
		TSK_EXPECT(io_nonblocking(p[i]) && io_cloexec(p[i]));

	/* nothing to read: the deadline, not earlier */
	t0 = tsk_now();
	dl = t0 + IO_SHORT_MS * CT_MS;
	TSK_EXPECT_EQ(tsk_fd_wait(p[0], POLLIN, dl), -ETIMEDOUT);
	IO_EXPECT_TIMED(t0, dl, tsk_now());
	/* an empty pipe has room: at once, even with the deadline past */
	rc = tsk_fd_wait(p[1], POLLOUT, tsk_now() - 1);
	TSK_EXPECT(rc > 0 && (rc & POLLOUT) && !(rc & POLLIN));
	rc = tsk_fd_wait(p[1], POLLIN | POLLOUT, tsk_after_ms(IO_LONG_MS));
	TSK_EXPECT(rc > 0 && (rc & POLLOUT));

	/* bad events, bad descriptors */
	TSK_EXPECT_EQ(tsk_fd_wait(p[0], 0, tsk_after_ms(IO_LONG_MS)), -EINVAL);
	TSK_EXPECT_EQ(tsk_fd_wait(p[0], POLLPRI, tsk_after_ms(IO_LONG_MS)), -EINVAL);
	TSK_EXPECT_EQ(tsk_fd_wait(p[0], POLLIN | POLLPRI, tsk_after_ms(IO_LONG_MS)), -EINVAL);
	TSK_EXPECT_EQ(tsk_fd_wait(p[0], POLLIN | POLLHUP, tsk_after_ms(IO_LONG_MS)), -EINVAL);
	TSK_EXPECT_EQ(tsk_fd_wait(p[0], -1, tsk_after_ms(IO_LONG_MS)), -EINVAL);
	TSK_EXPECT_EQ(tsk_fd_wait(-1, POLLIN, tsk_after_ms(IO_LONG_MS)), -EBADF);

	/* data arrives while waiting */
	w = (io_waiter){.op = OP_WAIT_IN, .fd = p[0], .deadline = tsk_after_ms(IO_LONG_MS)};
	t = io_start(&w, 1);
	t0 = tsk_now();
	TSK_EXPECT_EQ(tsk_write(p[1], "x", 1, tsk_after_ms(IO_LONG_MS)), 1);
	io_join(t);
	TSK_EXPECT(w.rc > 0 && (w.rc & POLLIN));
	TSK_EXPECT(w.end - t0 < IO_LATE_MS * CT_MS);
	/* still there: ready at once; read: not ready any more */
	TSK_EXPECT(tsk_fd_wait(p[0], POLLIN, tsk_now() - 1) & POLLIN);
	TSK_EXPECT_EQ(tsk_read(p[0], buf, sizeof(buf), tsk_after_ms(IO_LONG_MS)), 1);
	TSK_EXPECT_EQ(tsk_fd_wait(p[0], POLLIN, tsk_after_ms(20)), -ETIMEDOUT);
	/* n == 0: nothing to do, even on an empty pipe */
	TSK_EXPECT_EQ(tsk_read(p[0], buf, 0, tsk_after_ms(IO_LONG_MS)), 0);
	written = 5;
	TSK_EXPECT_EQ(tsk_write_all(p[1], buf, 0, tsk_after_ms(IO_LONG_MS), &written), 0);
	TSK_EXPECT_EQ(written, 0);

	/* full: no room until the reader drains it */
	TSK_EXPECT_EQ(tsk_write_all(p[1], big, 1 << 20, tsk_after_ms(50), &written), -ETIMEDOUT);
	TSK_EXPECT(written > 0);
	TSK_EXPECT_EQ(tsk_fd_wait(p[1], POLLOUT, tsk_after_ms(50)), -ETIMEDOUT);
	w = (io_waiter){.op = OP_WAIT_OUT, .fd = p[1], .deadline = tsk_after_ms(IO_LONG_MS)};
	t = io_start(&w, 1);
	for (size_t got = 0; got < written;) {
		ssize_t n = tsk_read(p[0], buf, sizeof(buf), tsk_after_ms(IO_LONG_MS));
		TSK_EXPECT(n > 0);
		if (n <= 0)
			break;
		got += (size_t)n;
	}
	io_join(t);
	TSK_EXPECT(w.rc > 0 && (w.rc & POLLOUT));

	/* the writer goes while the reader waits: POLLHUP, then end of file */
	w = (io_waiter){.op = OP_WAIT_IN, .fd = p[0], .deadline = tsk_after_ms(IO_LONG_MS)};
	t = io_start(&w, 1);
	TSK_EXPECT_EQ(tsk_close(p[1]), 0);
	io_join(t);
	TSK_EXPECT(w.rc > 0 && (w.rc & POLLHUP));
	TSK_EXPECT_EQ(tsk_read(p[0], buf, sizeof(buf), tsk_after_ms(IO_LONG_MS)), 0);
	TSK_EXPECT_EQ(tsk_close(p[0]), 0);

	/* the reader has gone: POLLERR for the writer */
	TSK_EXPECT_EQ(tsk_pipe(p), 0);
	TSK_EXPECT_EQ(tsk_close(p[0]), 0);
	rc = tsk_fd_wait(p[1], POLLOUT, tsk_after_ms(IO_LONG_MS));
	TSK_EXPECT(rc > 0 && (rc & POLLERR));
	TSK_EXPECT_EQ(tsk_close(p[1]), 0);
	return NULL;
}

static void test_fd_wait(void **state)
{
	(void)state;
	io_run(fdwait_root, NULL, 2);
	io_run(fdwait_root, NULL, 1);
}

/* ---- a pipe stream ----------------------------------------------------------------- */

typedef struct stream_ctx {
	int fds[2];     /* the pipe */
	size_t total;   /* bytes to send */
	uint64_t sum_w; /* FNV-1a of what was written */
	uint64_t sum_r; /* and of what was read */
	size_t nw, nr;  /* bytes written, read */
	long writes;    /* tsk_write calls */
	long reads;     /* tsk_read calls that returned data */
	long bad;       /* bytes read that differ from those sent */
	long eof_again; /* a read after end of file: 0 expected */
	int64_t closed; /* when the producer closed its end */
	int64_t eof;    /* when the consumer's read returned 0 */
} stream_ctx;

static void *stream_producer(void *arg)
{
	stream_ctx *x = arg;
	uint64_t rng = 0x1234567, h = 0xcbf29ce484222325ull;
	size_t pos = 0;

	tsk_set_state("producing");
	while (pos < x->total) {
		size_t n = 1 + (size_t)(io_rand(&rng) % (128 << 10));
		if (n > x->total - pos)
			n = x->total - pos;
		const unsigned char *p = pattern + pos % PATTERN_LEN;
		ssize_t rc = tsk_write(x->fds[1], p, n, tsk_after_ms(IO_LONG_MS));
		TSK_EXPECT_EQ(rc, (ssize_t)n);
		if (rc != (ssize_t)n)
			break;
		h = io_fnv(h, p, n);
		pos += n;
		x->writes++;
	}
	x->sum_w = h;
	x->nw = pos;
	x->closed = tsk_now();
	TSK_EXPECT_EQ(tsk_close(x->fds[1]), 0);
	return NULL;
}

static void *stream_consumer(void *arg)
{
	stream_ctx *x = arg;
	uint64_t rng = 0x7654321, h = 0xcbf29ce484222325ull;
	unsigned char *buf = malloc(64 << 10);
	size_t pos = 0;
	ssize_t n;

	TSK_EXPECT(buf != NULL);
	if (buf == NULL)
		return NULL;
	tsk_set_state("consuming");
	for (;;) {
		size_t want = 1 + (size_t)(io_rand(&rng) % (64 << 10));
		n = tsk_read(x->fds[0], buf, want, tsk_after_ms(IO_LONG_MS));
		if (n <= 0)
			break;
		TSK_EXPECT((size_t)n <= want);
		if (memcmp(buf, pattern + pos % PATTERN_LEN, (size_t)n) != 0) {
			if (x->bad == 0)
				fprintf(stderr, "stream: bytes differ in %zu..%zu\n", pos,
				        pos + (size_t)n);
			x->bad += n;
		}
		h = io_fnv(h, buf, (size_t)n);
		pos += (size_t)n;
		x->reads++;
	}
	x->eof = tsk_now();
	if (n < 0)
		fprintf(stderr, "stream: read: %s after %zu bytes\n", tsk_errname((int)n), pos);
	TSK_EXPECT_EQ(n, 0);
	x->eof_again = tsk_read(x->fds[0], buf, 1, tsk_after_ms(IO_LONG_MS));
	x->sum_r = h;
	x->nr = pos;
	TSK_EXPECT_EQ(tsk_close(x->fds[0]), 0);
	free(buf);
	return NULL;
}

static void *stream_root(void *arg)
{
	stream_ctx *x = arg;
	tsk_task *p, *c;

	TSK_EXPECT_EQ(tsk_pipe(x->fds), 0);
	TSK_EXPECT_EQ(tsk_spawn(&c, "consumer", stream_consumer, x), 0);
	TSK_EXPECT_EQ(tsk_spawn(&p, "producer", stream_producer, x), 0);
	TSK_EXPECT_EQ(tsk_join(p, NULL, TSK_FOREVER), 0);
	TSK_EXPECT_EQ(tsk_join(c, NULL, TSK_FOREVER), 0);
	return NULL;
}

static void test_pipe_stream(void **state)
{
	(void)state;
	size_t total = (size_t)tsk_test_scale(10 << 20);
	if (total < (1 << 20))
		total = 1 << 20;
	for (int w = 1; w <= 2; w++) {
		stream_ctx x = {.total = total};
		int64_t t0 = tsk_now();
		io_run(stream_root, &x, w);
		print_message("  %d worker(s): %zu bytes in %ld writes and %ld reads, %.0f ms; end "
		              "of file read %.2f ms after the close\n",
		              w, x.nr, x.writes, x.reads, ct_ms(t0, tsk_now()),
		              ct_ms(x.closed, x.eof));
		assert_int_equal(x.nw, total);
		assert_int_equal(x.nr, total);
		assert_int_equal(x.bad, 0);
		assert_true(x.sum_w == x.sum_r);
		assert_int_equal(x.eof_again, 0);
		assert_true(x.eof - x.closed < IO_LATE_MS * CT_MS);
	}
}

/* ---- descriptors handed in blocking ----------------------------------------------- */

#define BLK_TICKS 20
#define BLK_BYTES (256 << 10)

typedef struct blk_ctx {
	int p[2];            /* pipe(2), blocking: the reader waits on it */
	int q[2];            /* pipe(2), blocking: the writer fills it */
	atomic_int ticks;    /* the ticker's progress */
	int ticks_at_read;   /* ticks when the reader got its byte */
	long read_rc;        /* the reader's tsk_read */
	char got;            /* and its byte */
	long write_rc;       /* the writer's tsk_write */
	size_t drained;      /* bytes the drainer read */
	atomic_int done;     /* reader and drainer finished */
	atomic_bool rescued; /* the watchdog had to step in */
} blk_ctx;

static void *blk_reader(void *arg)
{
	blk_ctx *x = arg;

	x->read_rc = tsk_read(x->p[0], &x->got, 1, tsk_after_ms(IO_LONG_MS));
	x->ticks_at_read = atomic_load(&x->ticks);
	atomic_fetch_add(&x->done, 1);
	return NULL;
}

static void *blk_ticker(void *arg)
{
	blk_ctx *x = arg;

	for (int i = 0; i < BLK_TICKS; i++) {
		tsk_sleep(tsk_after_ms(2));
		atomic_fetch_add(&x->ticks, 1);
	}
	TSK_EXPECT_EQ(tsk_write(x->p[1], "t", 1, tsk_after_ms(IO_LONG_MS)), 1);
	return NULL;
}

static void *blk_writer(void *arg)
{
	blk_ctx *x = arg;

	x->write_rc = tsk_write(x->q[1], pattern, BLK_BYTES, tsk_after_ms(IO_LONG_MS));
	return NULL;
}

static void *blk_drainer(void *arg)
{
	blk_ctx *x = arg;
	char buf[4096];

	while (x->drained < BLK_BYTES) {
		ssize_t n = tsk_read(x->q[0], buf, sizeof(buf), tsk_after_ms(IO_LONG_MS));
		if (n <= 0)
			break;
		TSK_EXPECT(memcmp(buf, pattern + x->drained, (size_t)n) == 0);
		x->drained += (size_t)n;
	}
	atomic_fetch_add(&x->done, 1);
	return NULL;
}

/* A plain thread: if the tasks are not done after 5 s the one worker is
 * stuck in a blocking call; feed the reader and drain the writer's pipe
 * so that the test fails instead of hanging. */
static void *blk_watchdog(void *arg)
{
	blk_ctx *x = arg;
	int64_t end = tsk_now() + 5000 * CT_MS;
	char buf[4096];

	while (atomic_load(&x->done) < 2 && tsk_now() < end)
		usleep(1000);
	if (atomic_load(&x->done) == 2)
		return NULL;
	atomic_store(&x->rescued, true);
	if (write(x->p[1], "w", 1) != 1)
		perror("watchdog: write");
	fcntl(x->q[0], F_SETFL, O_NONBLOCK);
	end = tsk_now() + 10000 * CT_MS;
	while (atomic_load(&x->done) < 2 && tsk_now() < end)
		if (read(x->q[0], buf, sizeof(buf)) <= 0)
			usleep(1000);
	return NULL;
}

static void *blk_root(void *arg)
{
	blk_ctx *x = arg;
	tsk_task *t[4];
	pthread_t dog;

	TSK_EXPECT_EQ(pthread_create(&dog, NULL, blk_watchdog, x), 0);
	TSK_EXPECT_EQ(tsk_spawn(&t[0], "reader", blk_reader, x), 0);
	TSK_EXPECT_EQ(tsk_spawn(&t[1], "ticker", blk_ticker, x), 0);
	TSK_EXPECT_EQ(tsk_spawn(&t[2], "writer", blk_writer, x), 0);
	TSK_EXPECT_EQ(tsk_spawn(&t[3], "drainer", blk_drainer, x), 0);
	for (int i = 0; i < 4; i++)
		TSK_EXPECT_EQ(tsk_join(t[i], NULL, TSK_FOREVER), 0);
	TSK_EXPECT_EQ(pthread_join(dog, NULL), 0);
	return NULL;
}

static void test_blocking_fds(void **state)
{
	(void)state;
	for (int w = 1; w <= 2; w++) {
		blk_ctx x;
		memset(&x, 0, sizeof(x));
		assert_int_equal(pipe(x.p), 0);
		assert_int_equal(pipe(x.q), 0);
		assert_false(io_nonblocking(x.p[0]) || io_nonblocking(x.p[1]));
		assert_false(io_nonblocking(x.q[0]) || io_nonblocking(x.q[1]));
		ct_run(blk_root, &x, w, 0);
		print_message("  %d worker(s): the reader got '%c' after %d of %d ticks%s\n", w,
		              x.got ? x.got : '?', x.ticks_at_read, BLK_TICKS,
		              atomic_load(&x.rescued) ? "; the watchdog had to step in" : "");
		assert_false(atomic_load(&x.rescued));
		assert_int_equal(x.read_rc, 1);
		assert_int_equal(x.got, 't');
		assert_int_equal(x.ticks_at_read, BLK_TICKS);
		assert_int_equal(x.write_rc, BLK_BYTES);
		assert_int_equal(x.drained, BLK_BYTES);
		/* the runtime made them non-blocking */
		assert_true(io_nonblocking(x.p[0]) && io_nonblocking(x.p[1]));
		assert_true(io_nonblocking(x.q[0]) && io_nonblocking(x.q[1]));
		for (int i = 0; i < 2; i++) {
			assert_int_equal(tsk_close(x.p[i]), 0);
			assert_int_equal(tsk_close(x.q[i]), 0);
		}
		io_check_fds(io_fds_base);
	}
}

/* ---- descriptors epoll cannot watch ------------------------------------------------ */

static void *files_root(void *arg)
{
	char path[] = "/tmp/tsk_test_io_XXXXXX", buf[16];
	int fd = mkstemp(path), nul;

	(void)arg;
	TSK_EXPECT(fd >= 0);
	if (fd < 0)
		return NULL;
	unlink(path);
	TSK_EXPECT_EQ(tsk_write(fd, "hello", 5, tsk_after_ms(IO_LONG_MS)), 5);
	TSK_EXPECT_EQ(lseek(fd, 0, SEEK_SET), 0);
	TSK_EXPECT(tsk_fd_wait(fd, POLLIN, tsk_after_ms(IO_LONG_MS)) & POLLIN);
	TSK_EXPECT(tsk_fd_wait(fd, POLLOUT, tsk_after_ms(IO_LONG_MS)) & POLLOUT);
	TSK_EXPECT_EQ(tsk_read(fd, buf, sizeof(buf), tsk_after_ms(IO_LONG_MS)), 5);
	TSK_EXPECT(memcmp(buf, "hello", 5) == 0);
	TSK_EXPECT_EQ(tsk_read(fd, buf, sizeof(buf), tsk_after_ms(IO_LONG_MS)), 0);
	TSK_EXPECT(tsk_fd_wait(fd, POLLIN, tsk_after_ms(IO_LONG_MS)) & POLLIN);
	TSK_EXPECT_EQ(tsk_close(fd), 0);

	nul = open("/dev/null", O_RDWR | O_CLOEXEC);
	TSK_EXPECT(nul >= 0);
	TSK_EXPECT_EQ(tsk_write(nul, "x", 1, tsk_after_ms(IO_LONG_MS)), 1);
	TSK_EXPECT_EQ(tsk_read(nul, buf, sizeof(buf), tsk_after_ms(IO_LONG_MS)), 0);
	TSK_EXPECT(tsk_fd_wait(nul, POLLIN, tsk_after_ms(IO_LONG_MS)) & POLLIN);
	TSK_EXPECT_EQ(tsk_close(nul), 0);
	return NULL;
}

static void test_regular_files(void **state)
{
	(void)state;
	io_run(files_root, NULL, 2);
}

/* ---- one descriptor, two runtimes ------------------------------------------------ */

static int reuse_pipe[2];

static void *reuse_root(void *arg)
{
	io_waiter w = {.op = OP_READ, .fd = reuse_pipe[0], .n = 1};
	tsk_task *t;

	(void)arg;
	/* a wait that times out leaves the descriptor registered */
	TSK_EXPECT_EQ(tsk_fd_wait(reuse_pipe[0], POLLIN, tsk_after_ms(10)), -ETIMEDOUT);
	w.deadline = tsk_after_ms(IO_LONG_MS);
	t = io_start(&w, 1);
	TSK_EXPECT_EQ(tsk_write(reuse_pipe[1], "r", 1, tsk_after_ms(IO_LONG_MS)), 1);
	io_join(t);
	TSK_EXPECT_EQ(w.rc, 1);
	TSK_EXPECT_EQ(w.buf[0], 'r');
	return NULL;
}

static void test_fd_outlives_runtime(void **state)
{
	(void)state;
	assert_int_equal(tsk_pipe(reuse_pipe), 0);
	ct_run(reuse_root, NULL, 2, 0);
	ct_run(reuse_root, NULL, 1, 0);
	ct_run(reuse_root, NULL, 2, 0);
	io_check_fds(io_fds_base + 2);
	/* closed outside any task, after the runtimes that knew it */
	assert_int_equal(tsk_close(reuse_pipe[0]), 0);
	assert_int_equal(tsk_close(reuse_pipe[1]), 0);
	io_check_fds(io_fds_base);
}

/* ---- an idle runtime --------------------------------------------------------------- */

typedef struct idle_ctx {
	int64_t cpu;  /* process CPU time over the idle second */
	int64_t wall; /* its length */
} idle_ctx;

static int64_t io_cpu_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void *idle_sleeper(void *arg)
{
	TSK_EXPECT_EQ(tsk_sleep(*(int64_t *)arg), 0);
	return NULL;
}

static void *idle_root(void *arg)
{
	idle_ctx *x = arg;
	int p[2];
	io_waiter w;
	tsk_task *r, *s;
	int64_t wake = tsk_after_ms(1300);

	TSK_EXPECT_EQ(tsk_pipe(p), 0);
	w = (io_waiter){.op = OP_READ, .fd = p[0], .deadline = TSK_FOREVER};
	r = io_start(&w, 1);
	TSK_EXPECT_EQ(tsk_spawn(&s, "sleeper", idle_sleeper, &wake), 0);
	tsk_sleep(tsk_after_ms(50)); /* let the workers park */
	int64_t c0 = io_cpu_ns(), t0 = tsk_now();
	TSK_EXPECT_EQ(tsk_sleep(tsk_after_ms(1000)), 0);
	x->cpu = io_cpu_ns() - c0;
	x->wall = tsk_now() - t0;
	TSK_EXPECT_EQ(tsk_close(p[1]), 0);
	io_join(r);
	TSK_EXPECT_EQ(w.rc, 0);
	TSK_EXPECT_EQ(tsk_join(s, NULL, TSK_FOREVER), 0);
	TSK_EXPECT_EQ(tsk_close(p[0]), 0);
	return NULL;
}

static void test_idle_cpu(void **state)
{
	idle_ctx x = {0};

	(void)state;
	io_run(idle_root, &x, 2);
	print_message("  2 workers, tasks waiting in tsk_read and tsk_sleep: %.2f ms of CPU in "
	              "%.0f ms (bound %d ms)\n",
	              ct_ms(0, x.cpu), ct_ms(0, x.wall), IO_IDLE_MAX_MS);
	fprintf(stderr, "idle CPU: %.2f ms in %.0f ms\n", ct_ms(0, x.cpu), ct_ms(0, x.wall));
	assert_true(x.wall >= 1000 * CT_MS);
	assert_true(x.cpu < IO_IDLE_MAX_MS * CT_MS);
}

/* ---- outside any task --------------------------------------------------------------- */

static void test_outside_task(void **state)
{
	int p[2], b[2], l;
	char buf[8];
	size_t written = 0;

	(void)state;
	assert_int_equal(tsk_pipe(p), 0);
	/* would wait: -EPERM */
	assert_int_equal(tsk_read(p[0], buf, sizeof(buf), TSK_FOREVER), -EPERM);
	assert_int_equal(tsk_read(p[0], buf, sizeof(buf), tsk_after_ms(10)), -EPERM);
	assert_int_equal(tsk_fd_wait(p[0], POLLIN, TSK_FOREVER), -EPERM);
	/* can complete at once: works */
	assert_true(tsk_fd_wait(p[1], POLLOUT, TSK_FOREVER) & POLLOUT);
	assert_int_equal(tsk_read(p[0], buf, 0, TSK_FOREVER), 0);
	assert_int_equal(tsk_write(p[1], "ab", 2, TSK_FOREVER), 2);
	assert_true(tsk_fd_wait(p[0], POLLIN, TSK_FOREVER) & POLLIN);
	assert_int_equal(tsk_read(p[0], buf, sizeof(buf), TSK_FOREVER), 2);
	assert_memory_equal(buf, "ab", 2);
	/* fills the pipe, then would wait */
	assert_int_equal(tsk_write_all(p[1], big, 1 << 20, TSK_FOREVER, &written), -EPERM);
	assert_int_equal(written, fcntl(p[1], F_GETPIPE_SZ));
	assert_int_equal(tsk_close(p[0]), 0);
	assert_int_equal(tsk_close(p[1]), 0);
	assert_int_equal(tsk_close(p[0]), -EBADF);
	assert_int_equal(tsk_close(-1), -EBADF);

	/* a numeric host needs no lookup; a name does, and needs a task */
	l = tsk_listen_tcp("127.0.0.1", 0, 4);
	assert_true(l >= 0);
	assert_int_equal(tsk_accept(l, NULL, NULL, TSK_FOREVER), -EPERM);
	assert_int_equal(tsk_dial_tcp("127.0.0.1", io_port(l), TSK_FOREVER), -EPERM);
	assert_int_equal(tsk_listen_tcp("localhost", 0, 4), -EPERM);
	assert_int_equal(tsk_listen_tcp("no-such-host.invalid", 0, 4), -EPERM);
	assert_int_equal(tsk_close(l), 0);

	/* tsk_set_nonblock */
	assert_int_equal(pipe(b), 0);
	assert_false(io_nonblocking(b[0]));
	assert_int_equal(tsk_set_nonblock(b[0]), 0);
	assert_true(io_nonblocking(b[0]));
	assert_int_equal(tsk_set_nonblock(b[0]), 0);
	assert_true(io_nonblocking(b[0]));
	assert_int_equal(tsk_close(b[0]), 0);
	assert_int_equal(tsk_close(b[1]), 0);
	assert_int_equal(tsk_set_nonblock(-1), -EBADF);
	io_check_fds(io_fds_base);
}

/* ---- names of the codes the I/O calls return ---------------------------------------- */

/* Every code the I/O section of taskscope.h says its calls return has a
 * name and a message (tsk_errname, tsk_strerror: "the short name and
 * message for a negative return code"). */
static void test_error_names(void **state)
{
	static const int codes[] = {ETIMEDOUT, ECANCELED,    EBADF,       EPERM,  ECONNRESET,
	                            EPIPE,     ECONNREFUSED, ENETUNREACH, EMFILE, ENOENT,
	                            EINVAL,    EAGAIN,       ENOMEM};
	int missing = 0;

	(void)state;
	for (size_t i = 0; i < sizeof(codes) / sizeof(codes[0]); i++) {
		const char *name = tsk_errname(-codes[i]), *msg = tsk_strerror(-codes[i]);
		if (strcmp(name, "E?") == 0 || strcmp(msg, "unknown error") == 0) {
			print_message("  -%d (%s): tsk_errname \"%s\", tsk_strerror \"%s\"\n",
			              codes[i], strerror(codes[i]), name, msg);
			missing++;
		}
	}
	assert_int_equal(missing, 0);
}

/* ---- clean exit ------------------------------------------------------------------- */

#define NEXIT         100
#define EXIT_BOUND_MS 5000

typedef struct exit_ctx {
	int peer[NEXIT];       /* dialled sides, silent, closed after tsk_run */
	int fd[NEXIT];         /* accepted sides, read by the tasks */
	atomic_long rc[NEXIT]; /* each read's result (1: not returned) */
	atomic_int finished;   /* reads that returned */
	int64_t root_returned;
} exit_ctx;

static exit_ctx *ex;

static void *exit_reader(void *arg)
{
	int i = (int)(intptr_t)arg;
	char c;

	atomic_store(&ex->rc[i], tsk_read(ex->fd[i], &c, 1, TSK_FOREVER));
	atomic_fetch_add(&ex->finished, 1);
	TSK_EXPECT_EQ(tsk_close(ex->fd[i]), 0);
	return NULL;
}

static void *exit_root(void *arg)
{
	int l = tsk_listen_tcp("127.0.0.1", 0, NEXIT);

	(void)arg;
	TSK_EXPECT(l >= 0);
	for (int i = 0; i < NEXIT; i++) {
		ex->peer[i] = tsk_dial_tcp("127.0.0.1", io_port(l), tsk_after_ms(IO_LONG_MS));
		ex->fd[i] = tsk_accept(l, NULL, NULL, tsk_after_ms(IO_LONG_MS));
		TSK_EXPECT(ex->peer[i] >= 0 && ex->fd[i] >= 0);
		atomic_store(&ex->rc[i], 1);
	}
	TSK_EXPECT_EQ(tsk_close(l), 0);
	/* half detached, half joinable and never joined */
	for (int i = 0; i < NEXIT; i++) {
		tsk_task *t;
		TSK_EXPECT_EQ(tsk_spawn(i % 2 ? &t : NULL, "exit-reader", exit_reader,
		                        (void *)(intptr_t)i),
		              0);
	}
	IO_WAIT_PARKED(NEXIT);
	TSK_EXPECT_EQ(atomic_load(&ex->finished), 0);
	ex->root_returned = tsk_now();
	return (void *)42;
}

/* `--child exit:W`: 0 when tsk_run returned soon after the root, every
 * read returned -ECANCELED and nothing was left; else 3 and a message. */
static int child_exit(int workers)
{
	static exit_ctx x;
	tsk_config cfg = {.workers = workers};
	void *res = NULL;
	const char *why = NULL;
	int bad = 0;

	ex = &x;
	ct_leak_setup(NULL);
	io_warm();
	int fds = io_fds();
	if (tsk_run(exit_root, NULL, &cfg, &res) != 0 || res != (void *)42) {
		fprintf(stderr, "child: tsk_run failed\n");
		return 3;
	}
	int64_t ns = tsk_now() - x.root_returned;
	for (int i = 0; i < NEXIT; i++) {
		bad += atomic_load(&x.rc[i]) != -ECANCELED;
		if (x.peer[i] >= 0 && tsk_close(x.peer[i]) != 0)
			why = "closing a peer outside the runtime failed";
	}
	if (atomic_load(&x.finished) != NEXIT)
		why = "not every read returned before tsk_run did";
	else if (bad)
		why = "some reads did not return -ECANCELED";
	else if (atomic_load(&tsk_test_failed) != 0)
		why = "an expectation failed inside a task";
	else if (ns >= EXIT_BOUND_MS * CT_MS)
		why = "tsk_run took too long after the root returned";
	else if (ct_threads() != ct_threads_base)
		why = "a thread outlived tsk_run";
	else if (io_fds() != fds)
		why = "a descriptor was left open";
	fprintf(stderr,
	        "child (%d workers): tsk_run returned %.2f ms after the root; %d of %d "
	        "reads not -ECANCELED%s%s\n",
	        workers, (double)ns / 1e6, bad, NEXIT, why ? ": " : "", why ? why : "");
	return why ? 3 : 0;
}

static void test_exit_while_reading(void **state)
{
	(void)state;
	for (int w = 1; w <= 2; w++) {
		char mode[32];
		int status;
		int64_t ns;

		snprintf(mode, sizeof(mode), "exit:%d", w);
		int rc = ct_child(mode, NULL, 60000, &status, &ns);
		print_message("  %d worker(s): the child exited after %.1f ms in all\n", w,
		              ct_ms(0, ns));
		assert_int_equal(rc, 0); /* -1: it hung and was killed */
		assert_true(WIFEXITED(status));
		assert_int_equal(WEXITSTATUS(status), 0);
	}
}

/* ---- the heap over rounds of I/O --------------------------------------------------- */

static int leak_pipe[2];

/* A bit of everything that allocates or frees in the reactor: pairs (and
 * a name lookup), waits woken by data, timed out, cancelled, ended by
 * tsk_close, and one read left for tsk_run to cancel at exit. */
static void *leak_root(void *arg)
{
	int p[2], q[2], l, s, a;
	io_waiter w[3], *last = arg;
	tsk_task *t[3];
	bool closed;
	char buf[8];

	TSK_EXPECT_EQ(io_tcp_pair(p, false), 0);
	TSK_EXPECT_EQ(tsk_pipe(q), 0);
	w[0] = (io_waiter){.op = OP_READ, .fd = p[0], .deadline = TSK_FOREVER};
	w[1] = (io_waiter){.op = OP_READ, .fd = q[0], .deadline = TSK_FOREVER};
	w[2] = (io_waiter){.op = OP_WAIT_IN, .fd = q[0], .deadline = TSK_FOREVER};
	for (int i = 0; i < 3; i++)
		t[i] = io_start(&w[i], i + 1);
	TSK_EXPECT_EQ(tsk_write(p[1], "data", 4, tsk_after_ms(IO_LONG_MS)), 4);
	io_join(t[0]);
	TSK_EXPECT_EQ(w[0].rc, 4);
	io_cancel_join(t[1], &w[1], &closed);
	TSK_EXPECT_EQ(tsk_read(p[0], buf, sizeof(buf), tsk_after_ms(5)), -ETIMEDOUT);
	TSK_EXPECT_EQ(tsk_close(q[0]), 0);
	io_join(t[2]);
	TSK_EXPECT_EQ(w[2].rc, -EBADF);
	TSK_EXPECT_EQ(tsk_close(q[1]), 0);
	TSK_EXPECT_EQ(tsk_close(p[0]), 0);
	TSK_EXPECT_EQ(tsk_close(p[1]), 0);

	l = tsk_listen_tcp("127.0.0.1", 0, 4);
	TSK_EXPECT(l >= 0);
	s = tsk_dial_tcp("localhost", io_port(l), tsk_after_ms(IO_LONG_MS));
	a = tsk_accept(l, NULL, NULL, tsk_after_ms(IO_LONG_MS));
	TSK_EXPECT(s >= 0 && a >= 0);
	tsk_close(s);
	tsk_close(a);
	tsk_close(l);

	*last = (io_waiter){.op = OP_READ, .fd = leak_pipe[0], .deadline = TSK_FOREVER};
	TSK_EXPECT_EQ(tsk_spawn(NULL, "left-reading", io_waiter_task, last), 0);
	IO_WAIT_PARKED(1);
	return NULL;
}

static void leak_rounds(int rounds)
{
	for (int i = 0; i < rounds; i++) {
		for (int w = 1; w <= 2; w++) {
			io_waiter last;
			assert_int_equal(tsk_pipe(leak_pipe), 0);
			ct_run(leak_root, &last, w, 0);
			assert_int_equal(last.rc, -ECANCELED);
			assert_int_equal(tsk_close(leak_pipe[0]), 0);
			assert_int_equal(tsk_close(leak_pipe[1]), 0);
		}
	}
}

/* `--child ioleaks`: exit 0 when the heap and the descriptors are back
 * after 10 more rounds, 1 when they grew. */
static int child_io_leaks(void)
{
	ct_leak_setup(NULL);
	leak_rounds(2);
	size_t before = ct_heap_in_use();
	int fds = io_fds();
	leak_rounds(10);
	size_t after = ct_heap_in_use();
	if (after != before || io_fds() != fds) {
		fprintf(stderr,
		        "heap in use: %zu bytes after 2 rounds, %zu after 12; %d "
		        "descriptors, then %d\n",
		        before, after, fds, io_fds());
		return 1;
	}
	return 0;
}

static void test_io_no_leaks(void **state)
{
	int status;
	int64_t ns;

	(void)state;
	assert_int_equal(
	        ct_child("ioleaks",
	                 "GLIBC_TUNABLES=glibc.malloc.tcache_count=0:glibc.malloc.arena_max=1",
	                 120000, &status, &ns),
	        0);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
	/* and this process: one more round, nothing left */
	leak_rounds(1);
	io_check_fds(io_fds_base);
}

/* ---- main ------------------------------------------------------------------------ */

static int child_main(const char *mode)
{
	pattern_init();
	if (strcmp(mode, "leaks") == 0)
		return ct_leaks_child();
	if (strcmp(mode, "ioleaks") == 0)
		return child_io_leaks();
	if (strncmp(mode, "exit:", 5) == 0)
		return child_exit(atoi(mode + 5));
	if (strncmp(mode, "sigpipe:", 8) == 0)
		return child_sigpipe(atoi(mode + 8));
	return 2;
}

/* Group setup: the baselines of ct_run and io_run, a soft RLIMIT_NOFILE
 * raised to the hard one (the echo test needs 2 descriptors a
 * connection), the test pattern. */
static int io_setup(void **state)
{
	struct rlimit rl;

	ct_leak_setup(state);
	assert_int_equal(getrlimit(RLIMIT_NOFILE, &rl), 0);
	if (rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		assert_int_equal(setrlimit(RLIMIT_NOFILE, &rl), 0);
	}
	io_fd_limit = rl.rlim_cur == RLIM_INFINITY ? 1L << 20 : (long)rl.rlim_cur;
	io_warm();
	io_fds_base = io_fds();
	assert_true(io_fds_base > 0);
	pattern_init();
	return 0;
}

/* Each test's setup: the descriptors open now are the baseline io_run
 * checks against (a test that leaks fails alone, not every later one). */
static int io_test_setup(void **state)
{
	(void)state;
	io_fds_base = io_fds();
	return 0;
}

int main(int argc, char **argv)
{
	if (argc == 3 && strcmp(argv[1], "--child") == 0)
		return child_main(argv[2]);

#define IO_TEST(f) cmocka_unit_test_setup(f, io_test_setup)
	const struct CMUnitTest tests[] = {
	        IO_TEST(test_outside_task),
	        IO_TEST(test_timeouts),
	        IO_TEST(test_reset_and_eof),
	        IO_TEST(test_eof_after_short_read),
	        IO_TEST(test_sigpipe),
	        IO_TEST(test_cancel),
	        IO_TEST(test_cancel_races_data),
	        IO_TEST(test_connect_hangs),
	        IO_TEST(test_close_while_waiting),
	        IO_TEST(test_clean_slate),
	        IO_TEST(test_close_from_thread),
	        IO_TEST(test_busy_workers_poll),
	        IO_TEST(test_crowd),
	        IO_TEST(test_connect),
	        IO_TEST(test_fd_wait),
	        IO_TEST(test_pipe_stream),
	        IO_TEST(test_blocking_fds),
	        IO_TEST(test_regular_files),
	        IO_TEST(test_fd_outlives_runtime),
	        IO_TEST(test_idle_cpu),
	        IO_TEST(test_echo_tcp),
	        IO_TEST(test_exit_while_reading),
	        IO_TEST(test_error_names),
	        IO_TEST(test_io_no_leaks),
	        cmocka_unit_test(ct_test_no_leaks),
	};

	return cmocka_run_group_tests(tests, io_setup, NULL);
}
