/*
 * echo_server.c - a TCP echo server on taskscope, and the load client that
 * measures it, in one program.
 *
 * Server (the default mode): the root task accepts; each connection gets a
 * detached task that reads with tsk_read and writes back what it read with
 * tsk_write until the peer closes, an error, or 30 s without a byte.  An
 * error on one connection ends that connection only.
 *
 * Client (--client): N tasks each dial the server with tsk_dial_tcp and
 * do round trips until the time is up: send a message of B bytes, read B
 * bytes back, check they are the bytes sent (every message differs), and
 * note the round trip's time.  A message is sent in pieces of at most
 * 16 KiB with what has come back drained in between, so a message larger
 * than the socket buffers cannot deadlock the two sides.  At the end it
 * prints round trips per second and the latency median, 99th percentile
 * and maximum over all connections (from a log-linear histogram: values
 * are within 3% of the truth).
 *
 * Self-test (--self-test): the server on a free loopback port and the
 * client against it, in one runtime, for a quick demonstration.
 *
 * SIGINT and SIGTERM (read from a signalfd by a task, in every mode) stop
 * the program cleanly: the listener is closed and every socket in use is
 * shut down, so that blocked reads and writes return, the tasks end and
 * tsk_run returns.  A client prints what it measured until then.  (A
 * process killed outright would leave its flight-recorder segment in
 * /dev/shm for post-mortem reading.)
 *
 * Usage:
 *   echo_server [--host H] [--port P] [--workers N]
 *   echo_server --client [--host H] [--port P] [--conns N] [--seconds S] [--size B]
 *               [--workers N]
 *   echo_server --self-test [--conns N] [--seconds S] [--size B] [--workers N]
 * Exit status: 0 success (the server: stopped by SIGINT/SIGTERM; the
 * client: every connection did its round trips and every echo was right),
 * 1 failure (cannot listen, connect, a wrong echo, a connection error, a
 * client interrupted by a signal), 2 bad command line.
 */
#include <arpa/inet.h>
#include <getopt.h>
#include <netinet/in.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ex_common.h"
#include "taskscope.h"

#define SERVER_BUF  16384 /* bytes a server task reads at once */
#define PIECE       16384 /* largest piece of a message the client writes at once */
#define IDLE_MS     30000 /* server: a connection silent this long is closed */
#define IO_GRACE_MS 5000  /* client: how long one read or write may wait */
#define BACKLOG     1024

/* Latency histogram: values below 64 ns exactly, then 32 buckets per
 * power of two. */
#define HIST_SUB     32
#define HIST_BUCKETS (64 + 58 * HIST_SUB)

enum mode { MODE_SERVER, MODE_CLIENT, MODE_SELF_TEST };

struct options {
	enum mode mode;
	const char *host; /* NULL: every address (server), 127.0.0.1 (client) */
	int port;
	int workers; /* 0: one per CPU */
	int conns;
	int seconds;
	int size;
};

/* One client connection: its own counters, merged by the root. */
struct client {
	const struct options *opt;
	int index;
	int64_t end; /* tsk_now() at which to stop */
	uint64_t round_trips;
	uint64_t max_ns;
	int error; /* 0, or the first error (-errno; -EPROTO: wrong echo) */
	uint32_t hist[HIST_BUCKETS];
};

/* A socket a task is using, listed so that stopping can shut it down. */
struct sock {
	struct sock *prev, *next; /* app.socks, under app.lock */
	int fd;
};

/* What every task shares. */
static struct {
	_Atomic int lfd;       /* listening socket; -1 once closed (whoever swaps it closes it) */
	int sig_fd;            /* signalfd for SIGINT and SIGTERM, -1 if none */
	tsk_mutex *lock;       /* guards socks */
	struct sock socks;     /* list head of the sockets in use */
	tsk_wg *conns;         /* one count per server connection task */
	_Atomic bool stopping; /* a signal came: every task winds down */
} app;

/* ---- stopping ---------------------------------------------------------- */

/* Lists fd, which the calling task uses, in s until sock_del. */
static void sock_add(struct sock *s, int fd)
{
	s->fd = fd;
	tsk_mutex_lock(app.lock, TSK_FOREVER);
	s->next = &app.socks;
	s->prev = app.socks.prev;
	s->prev->next = s;
	app.socks.prev = s;
	tsk_mutex_unlock(app.lock);
	/* app_stop sets stopping before it walks the list under the lock:
	 * a socket listed after the walk sees the flag here */
	if (atomic_load(&app.stopping))
		shutdown(fd, SHUT_RDWR);
}

/* Unlists s; call it before closing s->fd (app_stop must never shut down a
 * number that may have been reused). */
static void sock_del(struct sock *s)
{
	tsk_mutex_lock(app.lock, TSK_FOREVER);
	s->prev->next = s->next;
	s->next->prev = s->prev;
	tsk_mutex_unlock(app.lock);
}

/* Closes the listener once (the root or the signal task may get here). */
static void close_listener(void)
{
	int fd = atomic_exchange(&app.lfd, -1);
	if (fd >= 0)
		tsk_close(fd);
}

/* Stops everything: no more connections, and every socket in use shut
 * down, which makes its task's blocked read or write return. */
static void app_stop(void)
{
	atomic_store(&app.stopping, true);
	close_listener();
	tsk_mutex_lock(app.lock, TSK_FOREVER);
	for (struct sock *s = app.socks.next; s != &app.socks; s = s->next)
		shutdown(s->fd, SHUT_RDWR);
	tsk_mutex_unlock(app.lock);
}

/* Waits for SIGINT or SIGTERM, then stops everything.  Cancelled by the
 * root when the program ends for another reason. */
static void *signal_task(void *arg)
{
	(void)arg;

	if (ex_signal_wait(app.sig_fd, "echo_server"))
		app_stop();
	return NULL;
}

/* ---- server ------------------------------------------------------------ */

static void *echo_conn(void *arg)
{
	int fd = (int)(intptr_t)arg;
	char buf[SERVER_BUF];
	struct sock s;
	ssize_t n;

	sock_add(&s, fd);
	while ((n = tsk_read(fd, buf, sizeof(buf), tsk_after_ms(IDLE_MS))) > 0)
		if (tsk_write(fd, buf, (size_t)n, tsk_after_ms(IDLE_MS)) < 0)
			break;
	sock_del(&s);
	tsk_close(fd);
	tsk_wg_done(app.conns);
	return NULL;
}

/* Accepts until the listener is closed (-EBADF) or the task is cancelled. */
static void accept_loop(int lfd)
{
	for (;;) {
		int fd = tsk_accept(lfd, NULL, NULL, TSK_FOREVER);
		if (fd >= 0) {
			tsk_wg_add(app.conns, 1);
			int rc = tsk_spawn(NULL, "echo", echo_conn, (void *)(intptr_t)fd);
			if (rc < 0) {
				fprintf(stderr, "echo_server: spawn: %s\n", tsk_strerror(rc));
				tsk_close(fd);
				tsk_wg_done(app.conns);
			}
		} else if (fd == -EBADF || fd == -ECANCELED || fd == -EINVAL) {
			return;
		} else if (fd == -EMFILE || fd == -ENFILE || fd == -ENOBUFS || fd == -ENOMEM) {
			fprintf(stderr, "echo_server: accept: %s; retrying in 100 ms\n",
			        strerror(-fd));
			tsk_sleep(tsk_after_ms(100));
		}
		/* other errors belong to one connection attempt */
	}
}

static void *acceptor_task(void *arg)
{
	accept_loop((int)(intptr_t)arg);
	return NULL;
}

/* The port lfd listens on, or -1. */
static int bound_port(int lfd)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);
	if (getsockname(lfd, (struct sockaddr *)&ss, &len) < 0)
		return -1;
	if (ss.ss_family == AF_INET6)
		return ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
	return ntohs(((struct sockaddr_in *)&ss)->sin_port);
}

/* ---- client ------------------------------------------------------------ */

static int hist_index(uint64_t ns)
{
	if (ns < 64)
		return (int)ns;
	int e = 63 - __builtin_clzll(ns); /* 6..63 */
	return 64 + (e - 6) * HIST_SUB + (int)((ns >> (e - 5)) & (HIST_SUB - 1));
}

/* The middle of bucket i, in ns. */
static double hist_value(int i)
{
	if (i < 64)
		return i;
	int e = (i - 64) / HIST_SUB + 6, sub = (i - 64) % HIST_SUB;
	double lo = (double)(1ULL << e) + (double)sub * (double)(1ULL << (e - 5));
	return lo + (double)(1ULL << (e - 5)) / 2;
}

/* The q-quantile (0 < q <= 1) of the n values in h, in ns. */
static double hist_quantile(const uint32_t *h, uint64_t n, double q)
{
	uint64_t rank = (uint64_t)(q * (double)n + 0.5), seen = 0;
	if (rank < 1)
		rank = 1;
	for (int i = 0; i < HIST_BUCKETS; i++) {
		seen += h[i];
		if (seen >= rank)
			return hist_value(i);
	}
	return 0;
}

/* One round trip of msg[0..size) on fd, echo into back[].  Returns 0,
 * -EPROTO (the echo differs), or an I/O error. */
static int round_trip(int fd, const char *msg, char *back, size_t size)
{
	size_t sent = 0, got = 0;
	int64_t deadline = tsk_after_ms(IO_GRACE_MS);
	ssize_t n;

	while (got < size) {
		if (sent < size) {
			size_t piece = size - sent < PIECE ? size - sent : PIECE;
			if ((n = tsk_write(fd, msg + sent, piece, deadline)) < 0)
				return (int)n;
			sent += piece;
			/* take what has come back, without waiting (a past
			 * deadline reads only what is there) */
			while (got < sent && (n = tsk_read(fd, back + got, size - got, 0)) > 0)
				got += (size_t)n;
			if (n == 0)
				return -ECONNRESET; /* the server closed */
			continue;
		}
		if ((n = tsk_read(fd, back + got, size - got, deadline)) <= 0)
			return n == 0 ? -ECONNRESET : (int)n;
		got += (size_t)n;
	}
	return memcmp(msg, back, size) == 0 ? 0 : -EPROTO;
}

static void *client_task(void *arg)
{
	struct client *c = arg;
	size_t size = (size_t)c->opt->size;
	char *msg = malloc(size), *back = malloc(size);
	struct sock s;
	int fd = -1;

	if (!msg || !back) {
		c->error = -ENOMEM;
		goto out;
	}
	fd = tsk_dial_tcp(c->opt->host, c->opt->port, tsk_after_ms(IO_GRACE_MS));
	if (fd < 0) {
		if (!atomic_load(&app.stopping))
			c->error = fd;
		goto out;
	}
	sock_add(&s, fd);
	for (uint64_t k = 0; tsk_now() < c->end && !atomic_load(&app.stopping); k++) {
		for (size_t i = 0; i < size; i++) /* every message differs */
			msg[i] = (char)(k * 131 + i * 7 + (uint64_t)c->index * 31);
		int64_t t0 = tsk_now();
		int rc = round_trip(fd, msg, back, size);
		if (rc < 0) {
			if (!atomic_load(&app.stopping)) /* else: shut down by app_stop */
				c->error = rc;
			break;
		}
		uint64_t ns = (uint64_t)(tsk_now() - t0);
		c->hist[hist_index(ns)]++;
		if (ns > c->max_ns)
			c->max_ns = ns;
		c->round_trips++;
	}
	sock_del(&s);
out:
	if (fd >= 0)
		tsk_close(fd);
	free(msg);
	free(back);
	return NULL;
}

/* Runs opt->conns client tasks for opt->seconds and prints the results.
 * Returns 0 when every connection worked, 1 otherwise. */
static int run_client(const struct options *opt)
{
	struct client *cs = calloc((size_t)opt->conns, sizeof(*cs));
	tsk_task **ts = calloc((size_t)opt->conns, sizeof(*ts));
	uint32_t *hist = calloc(HIST_BUCKETS, sizeof(*hist));
	uint64_t total = 0, max_ns = 0;
	int failed = 0, rc;

	if (!cs || !ts || !hist) {
		fprintf(stderr, "echo_server: out of memory\n");
		failed = opt->conns;
		goto out;
	}
	int64_t start = tsk_now(), end = start + (int64_t)opt->seconds * 1000000000;
	for (int i = 0; i < opt->conns; i++) {
		cs[i] = (struct client){.opt = opt, .index = i, .end = end};
		if ((rc = tsk_spawn(&ts[i], "client", client_task, &cs[i])) < 0) {
			fprintf(stderr, "echo_server: spawn: %s\n", tsk_strerror(rc));
			cs[i].error = rc;
			ts[i] = NULL;
		}
	}
	for (int i = 0; i < opt->conns; i++)
		if (ts[i])
			tsk_join(ts[i], NULL, TSK_FOREVER);
	double secs = (double)(tsk_now() - start) / 1e9;
	for (int i = 0; i < opt->conns; i++) {
		struct client *c = &cs[i];
		if (c->error) {
			fprintf(stderr, "echo_server: connection %d: %s\n", i,
			        c->error == -EPROTO   ? "the echo differs from what was sent"
			        : c->error == -ENOENT ? "unknown host"
			                              : strerror(-c->error));
			failed++;
		}
		total += c->round_trips;
		if (c->max_ns > max_ns)
			max_ns = c->max_ns;
		for (int b = 0; b < HIST_BUCKETS; b++)
			hist[b] += c->hist[b];
	}
	printf("echo_server: %d connections, %d-byte messages, %.2f s: %llu round trips, "
	       "%.0f round trips/s\n",
	       opt->conns, opt->size, secs, (unsigned long long)total, (double)total / secs);
	if (total > 0)
		printf("echo_server: latency p50 %.1f us, p99 %.1f us, max %.1f us\n",
		       hist_quantile(hist, total, 0.50) / 1e3,
		       hist_quantile(hist, total, 0.99) / 1e3, (double)max_ns / 1e3);
	if (failed)
		printf("echo_server: %d of %d connections failed\n", failed, opt->conns);
	if (atomic_load(&app.stopping))
		printf("echo_server: interrupted after %.2f s of %d\n", secs, opt->seconds);
out:
	free(cs);
	free(ts);
	free(hist);
	return failed || total == 0 || atomic_load(&app.stopping) ? 1 : 0;
}

/* ---- modes ------------------------------------------------------------- */

static int listen_or_complain(const char *host, int port)
{
	int lfd = tsk_listen_tcp(host, port, BACKLOG);
	if (lfd < 0)
		fprintf(stderr, "echo_server: listen on %s:%d: %s\n", host ? host : "*", port,
		        strerror(-lfd));
	return lfd;
}

/* Runs the mode; returns the exit status. */
static int run_mode(struct options *opt)
{
	tsk_task *acceptor;
	int lfd, rc;

	switch (opt->mode) {
	case MODE_SERVER:
		if ((lfd = listen_or_complain(opt->host, opt->port)) < 0)
			return 1;
		atomic_store(&app.lfd, lfd);
		printf("echo_server: listening on port %d\n", bound_port(lfd));
		fflush(stdout);
		accept_loop(lfd); /* until a signal closes the listener */
		app_stop();
		return 0;
	case MODE_CLIENT:
		return run_client(opt);
	case MODE_SELF_TEST:
		if ((lfd = listen_or_complain("127.0.0.1", 0)) < 0)
			return 1;
		atomic_store(&app.lfd, lfd);
		opt->host = "127.0.0.1";
		opt->port = bound_port(lfd);
		printf("echo_server: self-test on 127.0.0.1:%d\n", opt->port);
		if ((rc = tsk_spawn(&acceptor, "acceptor", acceptor_task, (void *)(intptr_t)lfd)) <
		    0) {
			fprintf(stderr, "echo_server: spawn: %s\n", tsk_strerror(rc));
			close_listener();
			return 1;
		}
		rc = run_client(opt);
		/* the acceptor sees -EBADF; the server's connection tasks see
		 * the clients' end of file and end */
		close_listener();
		tsk_join(acceptor, NULL, TSK_FOREVER);
		return rc;
	}
	return 1;
}

static void *root(void *arg)
{
	tsk_task *sigtask = NULL;
	int rc, status = 1;

	app.socks.next = app.socks.prev = &app.socks;
	if ((rc = tsk_mutex_create(&app.lock, "sockets")) < 0 ||
	    (rc = tsk_wg_create(&app.conns, "connections")) < 0) {
		fprintf(stderr, "echo_server: %s\n", tsk_strerror(rc));
		tsk_mutex_destroy(app.lock);
		return (void *)1;
	}
	ex_signals_spawn(&sigtask, app.sig_fd, signal_task, NULL, "echo_server", "program");
	status = run_mode(arg);
	/* the server's connection tasks use app.lock until they end */
	tsk_wg_wait(app.conns, TSK_FOREVER);
	ex_task_stop(sigtask);
	tsk_wg_destroy(app.conns);
	tsk_mutex_destroy(app.lock);
	return (void *)(intptr_t)status;
}

/* ---- command line ------------------------------------------------------ */

static void usage(FILE *f)
{
	fprintf(f, "usage: echo_server [--host H] [--port P] [--workers N]\n"
	           "       echo_server --client [--host H] [--port P] [--conns N] [--seconds S]\n"
	           "                   [--size B] [--workers N]\n"
	           "       echo_server --self-test [--conns N] [--seconds S] [--size B] [--workers "
	           "N]\n"
	           "\n"
	           "A TCP echo server, one taskscope task per connection; --client measures one\n"
	           "(round trips/s, latency p50/p99/max); --self-test runs both in one process.\n"
	           "\n"
	           "  --host H      server: address to listen on (default: every address);\n"
	           "                client: server to connect to (default 127.0.0.1)\n"
	           "  --port P      TCP port (default 9000; server: 0 picks a free one)\n"
	           "  --workers N   worker threads (default: one per CPU)\n"
	           "  --conns N     client connections (default 16)\n"
	           "  --seconds S   client run time (default 5; self-test 1)\n"
	           "  --size B      bytes per message (default 64; at most 16777216)\n"
	           "  --help        this text\n"
	           "\n"
	           "SIGINT or SIGTERM stop any mode cleanly (a client prints what it measured).\n"
	           "Exit status: 0 success (the server: stopped by a signal; the client: every\n"
	           "echo right, no connection failed), 1 failure or an interrupted client,\n"
	           "2 bad command line.\n");
}

/* Parses the command line into *opt.  Returns -1 to go on, or an exit
 * status (0 after --help, 2 on an error, which it has printed). */
static int parse_args(int argc, char **argv, struct options *opt)
{
	static const struct option opts[] = {
	        {"client", no_argument, NULL, 'c'},        {"self-test", no_argument, NULL, 't'},
	        {"host", required_argument, NULL, 'h'},    {"port", required_argument, NULL, 'p'},
	        {"workers", required_argument, NULL, 'w'}, {"conns", required_argument, NULL, 'n'},
	        {"seconds", required_argument, NULL, 's'}, {"size", required_argument, NULL, 'b'},
	        {"help", no_argument, NULL, 'H'},          {NULL, 0, NULL, 0},
	};
	bool seconds_set = false, client_opts = false;
	int o;

	opterr = 0;
	while ((o = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		bool ok = true;
		switch (o) {
		case 'c':
		case 't':
			if (opt->mode != MODE_SERVER) {
				fprintf(stderr, "echo_server: --client and --self-test exclude "
				                "each other\n");
				return 2;
			}
			opt->mode = o == 'c' ? MODE_CLIENT : MODE_SELF_TEST;
			break;
		case 'h':
			opt->host = optarg;
			break;
		case 'p':
			ok = ex_parse_int(optarg, 0, 65535, &opt->port);
			break;
		case 'w':
			ok = ex_parse_int(optarg, 1, 1024, &opt->workers);
			break;
		case 'n':
			ok = ex_parse_int(optarg, 1, 100000, &opt->conns);
			client_opts = true;
			break;
		case 's':
			ok = ex_parse_int(optarg, 1, 86400, &opt->seconds);
			seconds_set = client_opts = true;
			break;
		case 'b':
			ok = ex_parse_int(optarg, 1, 16 << 20, &opt->size);
			client_opts = true;
			break;
		case 'H':
			usage(stdout);
			return 0;
		default:
			return ex_bad_option("echo_server", argv);
		}
		if (!ok)
			return ex_bad_value("echo_server", argv);
	}
	if (optind < argc)
		return ex_unexpected_arg("echo_server", argv[optind]);
	if (opt->mode == MODE_SERVER && client_opts) {
		fprintf(stderr, "echo_server: --conns, --seconds and --size need --client or "
		                "--self-test\n");
		return 2;
	}
	if (opt->mode == MODE_CLIENT && opt->port == 0) {
		fprintf(stderr, "echo_server: --client needs a port other than 0\n");
		return 2;
	}
	if (opt->mode == MODE_SELF_TEST && opt->host) {
		fprintf(stderr, "echo_server: --self-test always uses 127.0.0.1 (no --host)\n");
		return 2;
	}
	if (opt->mode == MODE_CLIENT && !opt->host)
		opt->host = "127.0.0.1";
	if (opt->mode == MODE_SELF_TEST && !seconds_set)
		opt->seconds = 1;
	return -1;
}

int main(int argc, char **argv)
{
	struct options opt = {
	        .mode = MODE_SERVER, .port = 9000, .conns = 16, .seconds = 5, .size = 64};
	void *result = (void *)1;
	int rc = parse_args(argc, argv, &opt);

	if (rc >= 0)
		return rc;

	app.sig_fd = ex_signals_open("echo_server", "program");
	atomic_init(&app.lfd, -1);

	tsk_config cfg = {.workers = opt.workers, .name = "echo_server"};
	rc = tsk_run(root, &opt, &cfg, &result);
	if (app.sig_fd >= 0)
		tsk_close(app.sig_fd);
	if (rc < 0) {
		fprintf(stderr, "echo_server: tsk_run: %s\n", tsk_strerror(rc));
		return 1;
	}
	return (int)(intptr_t)result;
}
