/*
 * http_hello.c - a minimal HTTP/1.1 keep-alive "Hello, World!" server on
 * the taskscope runtime: one task per connection, plain blocking-style code.
 *
 * The root task listens and accepts; every connection gets a detached task
 * that reads requests into a buffer with tsk_read, answers each complete
 * request with "Hello, World!\n" and writes all the answers of one read
 * with a single tsk_write.  So a keep-alive client costs one read and one
 * write per request, and pipelined requests that arrive in one read cost
 * one read and one write in all.
 *
 * What it understands of HTTP/1.1 (the same rules as bench/uv_http.c, and
 * the same answers as net/http in bench/gohttp/ for these cases):
 *   - a request head ends at the first CRLF CRLF; a head that does not fit
 *     the 8 KiB buffer gets 431 and the connection is closed;
 *   - request line METHOD SP TARGET SP HTTP/1.x (other versions: 505);
 *     header lines NAME: VALUE; anything else (control characters, folded
 *     lines, a missing Host in HTTP/1.1) gets 400 and a close;
 *   - a body is sized by Content-Length and skipped (read and dropped); the
 *     answer goes out once the whole body is in; Transfer-Encoding
 *     (chunked bodies) is not supported: 501 and a close;
 *   - keep-alive: HTTP/1.1 unless "Connection: close", HTTP/1.0 only with
 *     "Connection: keep-alive"; the answer then says "Connection: close"
 *     (1.1) or "Connection: keep-alive" (1.0), like net/http;
 *   - HEAD gets the headers without the body; every other method and every
 *     path gets the same 200 answer.
 * The 200 answer is the same bytes from all three benchmark servers
 * (bench/http.sh checks this before measuring):
 *     HTTP/1.1 200 OK\r\nContent-Length: 14\r\nContent-Type: text/plain\r\n\r\nHello, World!\n
 * (no Date header: it would cost a clock read and formatting per request
 * in one server and not in another).  Error answers follow net/http's
 * format without its detail text.
 *
 * A connection idle for 30 s (no byte of a request arriving, or no room
 * to write) is closed.  After an answer that closes the connection, the
 * server shuts its sending side and drops what the client still sends for
 * up to 0.5 s before closing (net/http waits too), so that the reset a
 * close with unread input causes cannot destroy the answer.  An error on
 * one connection (reset, timeout, garbage) closes that connection only.
 *
 * SIGINT or SIGTERM (read from a signalfd by a task) stop the server like
 * net/http's Server.Close: the listener is closed, every connection is
 * shut down (a response being written at that moment may be cut short),
 * the connection tasks finish, tsk_run returns, and the program prints
 * what it served and exits 0.
 *
 * Usage: http_hello [--host H] [--port P | P] [--workers N]
 * Exit status: 0 after SIGINT/SIGTERM, 1 when it cannot listen or run,
 * 2 on a bad command line.
 */
#include <arpa/inet.h>
#include <getopt.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "ex_common.h"
#include "http_parse.h"
#include "taskscope.h"

#define IN_SIZE   8192  /* request head limit and read buffer */
#define OUT_SIZE  16384 /* answers of one read, flushed early when full */
#define IDLE_MS   30000 /* a connection waiting this long for a byte or for room is closed */
#define LINGER_MS 500   /* after the last answer, how long to drain before closing */
#define BACKLOG   1024

/* One accepted connection; owned by its task, linked in server.conns while
 * the task may still use fd. */
struct conn {
	struct server *srv;
	struct conn *prev, *next; /* server.conns, under server.lock */
	int fd;
	uint64_t requests;       /* answered on this connection */
	size_t have;             /* bytes in in[] */
	size_t pos;              /* bytes of in[] taken by conn_next_request */
	uint64_t skip;           /* body bytes still to drop before answering `pending' */
	struct http_req pending; /* the request whose body is being dropped */
	char in[IN_SIZE];
	char out[OUT_SIZE];
};

struct server {
	const char *host;  /* NULL: every address */
	int port;          /* 0: any free port */
	int workers;       /* tsk_config.workers, for the banner */
	_Atomic int lfd;   /* listening socket; -1 once closed (whoever swaps it closes it) */
	int sig_fd;        /* signalfd for SIGINT and SIGTERM, -1 if none */
	tsk_mutex *lock;   /* conns, served, requests */
	struct conn conns; /* list head of live connections */
	tsk_wg *live;      /* one count per connection task */
	_Atomic bool stopping;
	uint64_t served;   /* connections finished, under lock */
	uint64_t requests; /* answered on finished connections, under lock */
	int status;        /* exit status */
};

/* ---- connections ------------------------------------------------------ */

/* Takes the next complete request off c->in[c->pos..c->have) into *r,
 * dropping its body.  Returns 1 with *r set (a 431 error when the head
 * cannot fit the buffer), or 0 when more bytes are needed. */
static int conn_next_request(struct conn *c, struct http_req *r)
{
	for (;;) {
		if (c->skip > 0) {
			size_t avail = c->have - c->pos;
			uint64_t d = avail < c->skip ? avail : c->skip;
			c->pos += (size_t)d;
			c->skip -= d;
			if (c->skip > 0)
				return 0;
			*r = c->pending;
			return 1;
		}
		if (!http_parse(c->in + c->pos, c->have - c->pos, r)) {
			if (c->pos > 0 || c->have < IN_SIZE)
				return 0;
			*r = too_large;
			return 1;
		}
		c->pos += r->head_len;
		if (r->error_line || r->body_len == 0)
			return 1;
		c->pending = *r; /* answered once its body is in */
		c->skip = r->body_len;
	}
}

/* Sends c->out[0..*outlen) and empties it.  Returns 0 or a negative error. */
static int conn_flush(struct conn *c, size_t *outlen)
{
	ssize_t rc = tsk_write(c->fd, c->out, *outlen, tsk_after_ms(IDLE_MS));
	*outlen = 0;
	return rc < 0 ? (int)rc : 0;
}

/* Serves requests on c until the peer closes, an error, a timeout, a
 * request that closes the connection, or the server stopping.  One read,
 * then the answers to every request it completed in one write.  Returns
 * true when it answered a request that closes the connection. */
static bool conn_serve(struct conn *c)
{
	struct server *s = c->srv;
	struct http_req r;

	while (!atomic_load_explicit(&s->stopping, memory_order_relaxed)) {
		ssize_t n =
		        tsk_read(c->fd, c->in + c->have, IN_SIZE - c->have, tsk_after_ms(IDLE_MS));
		if (n <= 0)
			return false; /* end of file, reset, idle timeout, shutdown */
		c->have += (size_t)n;
		size_t outlen = 0;
		bool done = false; /* answered a request that closes the connection */
		while (!done && conn_next_request(c, &r)) {
			if (outlen + MAX_RESPONSE > OUT_SIZE && conn_flush(c, &outlen) < 0)
				return false;
			outlen += http_respond(c->out + outlen, &r);
			c->requests++;
			done = r.error_line || !r.keep_alive;
		}
		if (outlen > 0 && conn_flush(c, &outlen) < 0)
			return false;
		if (done)
			return true;
		memmove(c->in, c->in + c->pos, c->have - c->pos);
		c->have -= c->pos;
		c->pos = 0;
	}
	return false;
}

/* Closes the sending side and drops what the client still sends, until it
 * closes too or LINGER_MS pass: closing a socket with unread input sends a
 * reset, which can destroy the last answer before the client reads it. */
static void conn_linger(struct conn *c)
{
	int64_t deadline = tsk_after_ms(LINGER_MS);

	shutdown(c->fd, SHUT_WR);
	while (tsk_read(c->fd, c->in, IN_SIZE, deadline) > 0)
		;
}

/* The task of one connection: serves it, unlinks it, closes it. */
static void *conn_task(void *arg)
{
	struct conn *c = arg;
	struct server *s = c->srv;

	if (conn_serve(c))
		conn_linger(c);
	/* Unlink before closing: the server shuts down only linked
	 * descriptors, so it never touches a number reused by now. */
	tsk_mutex_lock(s->lock, TSK_FOREVER);
	c->prev->next = c->next;
	c->next->prev = c->prev;
	s->served++;
	s->requests += c->requests;
	tsk_mutex_unlock(s->lock);
	tsk_close(c->fd);
	free(c);
	tsk_wg_done(s->live);
	return NULL;
}

/* Starts a task for accepted descriptor fd; closes fd when it cannot. */
static void conn_start(struct server *s, int fd)
{
	static const int one = 1;
	struct conn *c = malloc(sizeof(*c));
	int rc;

	if (!c) {
		fprintf(stderr, "http_hello: out of memory for a connection\n");
		tsk_close(fd);
		return;
	}
	/* Answers are written whole: no reason to wait for an ACK. */
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	c->srv = s;
	c->fd = fd;
	c->requests = 0;
	c->have = c->pos = 0;
	c->skip = 0;
	tsk_wg_add(s->live, 1);
	tsk_mutex_lock(s->lock, TSK_FOREVER);
	c->next = &s->conns;
	c->prev = s->conns.prev;
	c->prev->next = c;
	s->conns.prev = c;
	tsk_mutex_unlock(s->lock);
	if ((rc = tsk_spawn(NULL, "conn", conn_task, c)) < 0) {
		fprintf(stderr, "http_hello: spawn: %s\n", tsk_strerror(rc));
		tsk_mutex_lock(s->lock, TSK_FOREVER);
		c->prev->next = c->next;
		c->next->prev = c->prev;
		tsk_mutex_unlock(s->lock);
		tsk_close(fd);
		free(c);
		tsk_wg_done(s->live);
	}
}

/* ---- the server ------------------------------------------------------- */

/* Closes the listener once (from the signal task or the root). */
static void server_close_listener(struct server *s)
{
	int fd = atomic_exchange(&s->lfd, -1);
	if (fd >= 0)
		tsk_close(fd);
}

/* Waits for SIGINT or SIGTERM, then closes the listener, which ends the
 * root's accept loop.  Cancelled by the root when it stops for another
 * reason. */
static void *signal_task(void *arg)
{
	struct server *s = arg;

	if (ex_signal_wait(s->sig_fd, "http_hello"))
		server_close_listener(s);
	return NULL;
}

/* Prints "listening on ADDR:PORT" for the listening socket fd. */
static void print_address(int fd, int workers)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);
	char ip[INET6_ADDRSTRLEN] = "?";
	int port = 0;

	if (getsockname(fd, (struct sockaddr *)&ss, &len) == 0) {
		if (ss.ss_family == AF_INET6) {
			struct sockaddr_in6 *a = (struct sockaddr_in6 *)&ss;
			inet_ntop(AF_INET6, &a->sin6_addr, ip, sizeof(ip));
			port = ntohs(a->sin6_port);
		} else {
			struct sockaddr_in *a = (struct sockaddr_in *)&ss;
			inet_ntop(AF_INET, &a->sin_addr, ip, sizeof(ip));
			port = ntohs(a->sin_port);
		}
	}
	printf(ss.ss_family == AF_INET6 ? "listening on [%s]:%d" : "listening on %s:%d", ip, port);
	if (workers > 0)
		printf(" (%d workers)\n", workers);
	else
		printf(" (one worker per CPU)\n");
	fflush(stdout);
}

/* Accepts connections until the listener is closed. */
static void server_accept_loop(struct server *s, int lfd)
{
	for (;;) {
		int fd = tsk_accept(lfd, NULL, NULL, TSK_FOREVER);
		if (fd >= 0) {
			conn_start(s, fd);
		} else if (fd == -EBADF || fd == -ECANCELED || fd == -EINVAL) {
			return; /* closed by the signal task (or cancelled) */
		} else if (fd == -EMFILE || fd == -ENFILE || fd == -ENOBUFS || fd == -ENOMEM) {
			/* Out of descriptors or memory: connections that end free
			 * some; retrying at once would spin. */
			fprintf(stderr, "http_hello: accept: %s; retrying in 100 ms\n",
			        strerror(-fd));
			tsk_sleep(tsk_after_ms(100));
		}
		/* Other errors (ECONNABORTED, network errors passed on by
		 * accept(2)) belong to one connection attempt: go on. */
	}
}

static void *root(void *arg)
{
	struct server *s = arg;
	tsk_task *sigtask = NULL;
	int rc, lfd;

	s->conns.next = s->conns.prev = &s->conns;
	if ((rc = tsk_mutex_create(&s->lock, "conns")) < 0 ||
	    (rc = tsk_wg_create(&s->live, "connections")) < 0) {
		fprintf(stderr, "http_hello: %s\n", tsk_strerror(rc));
		goto fail_create;
	}
	if ((lfd = tsk_listen_tcp(s->host, s->port, BACKLOG)) < 0) {
		fprintf(stderr, "http_hello: listen on %s:%d: %s\n", s->host ? s->host : "*",
		        s->port, strerror(-lfd));
		goto fail_create;
	}
	atomic_store(&s->lfd, lfd);
	print_address(lfd, s->workers);
	ex_signals_spawn(&sigtask, s->sig_fd, signal_task, s, "http_hello", "server");

	server_accept_loop(s, lfd);

	server_close_listener(s);
	ex_task_stop(sigtask);
	/* Shut every connection down: blocked reads see the end of the
	 * stream, writes fail, and each task unlinks and closes its own. */
	atomic_store_explicit(&s->stopping, true, memory_order_relaxed);
	tsk_mutex_lock(s->lock, TSK_FOREVER);
	for (struct conn *c = s->conns.next; c != &s->conns; c = c->next)
		shutdown(c->fd, SHUT_RDWR);
	tsk_mutex_unlock(s->lock);
	tsk_wg_wait(s->live, TSK_FOREVER);
	printf("http_hello: stopped after %llu connections, %llu requests\n",
	       (unsigned long long)s->served, (unsigned long long)s->requests);
	s->status = 0;
fail_create:
	tsk_wg_destroy(s->live);
	tsk_mutex_destroy(s->lock);
	return NULL;
}

/* ---- command line ----------------------------------------------------- */

static void usage(FILE *f)
{
	fprintf(f, "usage: http_hello [--host H] [--port P | P] [--workers N]\n"
	           "\n"
	           "A keep-alive HTTP/1.1 server answering \"Hello, World!\" to every request,\n"
	           "one taskscope task per connection.\n"
	           "\n"
	           "  --host H      address to listen on (default: every address, IPv6 and IPv4)\n"
	           "  --port P, P   TCP port (default 8080; 0 picks a free one, printed)\n"
	           "  --workers N   worker threads (default: one per CPU)\n"
	           "  --help        this text\n"
	           "\n"
	           "Prints \"listening on ADDR:PORT\" once it accepts.  SIGINT or SIGTERM close\n"
	           "the listener and every connection; it then prints what it served.\n"
	           "Exit status: 0 after SIGINT/SIGTERM, 1 when it cannot listen or run,\n"
	           "2 on a bad command line.\n");
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
	        {"host", required_argument, NULL, 'h'},
	        {"port", required_argument, NULL, 'p'},
	        {"workers", required_argument, NULL, 'w'},
	        {"help", no_argument, NULL, 'H'},
	        {NULL, 0, NULL, 0},
	};
	static struct server s; /* tasks use it until tsk_run returns */
	tsk_config cfg = {.name = "http_hello"};
	int opt, rc;

	s.port = 8080;
	s.status = 1;
	opterr = 0;
	while ((opt = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (opt) {
		case 'h':
			s.host = optarg;
			break;
		case 'p':
			if (!ex_parse_int(optarg, 0, 65535, &s.port)) {
				fprintf(stderr, "http_hello: bad port '%s' (0..65535)\n", optarg);
				return 2;
			}
			break;
		case 'w':
			if (!ex_parse_int(optarg, 1, 1024, &cfg.workers)) {
				fprintf(stderr, "http_hello: bad worker count '%s' (1..1024)\n",
				        optarg);
				return 2;
			}
			break;
		case 'H':
			usage(stdout);
			return 0;
		default:
			return ex_bad_option("http_hello", argv);
		}
	}
	if (optind < argc && !ex_parse_int(argv[optind++], 0, 65535, &s.port)) {
		fprintf(stderr, "http_hello: bad port '%s' (0..65535)\n", argv[optind - 1]);
		return 2;
	}
	if (optind < argc)
		return ex_unexpected_arg("http_hello", argv[optind]);

	s.sig_fd = ex_signals_open("http_hello", "server");
	atomic_init(&s.lfd, -1);
	s.workers = cfg.workers;
	rc = tsk_run(root, &s, &cfg, NULL);
	if (s.sig_fd >= 0)
		tsk_close(s.sig_fd);
	if (rc < 0) {
		fprintf(stderr, "http_hello: tsk_run: %s\n", tsk_strerror(rc));
		return 1;
	}
	return s.status;
}
