/*
 * uv_http.c - the libuv peer of the HTTP benchmark (bench/http.sh): a
 * single-loop HTTP/1.1 keep-alive "Hello, World!" server, written the way
 * a libuv programmer would: one uv_tcp_t and one idle uv_timer_t per
 * connection, reads into a per-connection buffer, every answer of one read
 * written at once with uv_try_write (uv_write only for what the socket did
 * not take, and no reading while such a write is pending).
 *
 * It speaks exactly the HTTP subset of examples/http_hello.c and answers
 * with the same bytes: the parser and the answers (http_parse,
 * http_respond) are examples/http_parse.h, shared with it; bench/http.sh
 * checks that the three servers answer byte for byte the same
 * before it measures them.  In short: heads end at CRLF CRLF (8 KiB at
 * most, else 431), Content-Length bodies are skipped, Transfer-Encoding is
 * 501, HTTP/1.1 keeps the connection unless "Connection: close", HTTP/1.0
 * only with "Connection: keep-alive", HEAD gets no body.  A connection
 * without a byte read for 30 s is closed; after an answer that closes the
 * connection, the sending side is shut and input drained for up to 0.5 s
 * before the close.  libuv runs one loop on one thread: there is no
 * worker count to set.
 *
 * Usage: uv_http [--host H] [--port P]    (defaults 127.0.0.1, 8080)
 * Prints "listening on HOST:PORT" once it accepts; serves until killed.
 * Exit status: 1 when it cannot listen or run, 2 on a bad command line.
 */
#include <errno.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <uv.h>

#include "http_parse.h"

#define IN_SIZE   8192  /* request head limit and read buffer */
#define OUT_SIZE  16384 /* answers of one read, flushed early when full */
#define IDLE_MS   30000 /* a connection without a byte read this long is closed */
#define LINGER_MS 500   /* after the last answer, how long to drain before closing */
#define BACKLOG   1024

/* One connection.  Freed when both handles are closed. */
struct conn {
	uv_tcp_t tcp;            /* tcp.data and idle.data point back here */
	uv_timer_t idle;         /* closes the connection after IDLE_MS without a read */
	uv_shutdown_t shutdown;  /* after the answer that closes the connection */
	size_t have;             /* bytes in in[] */
	size_t pos;              /* bytes of in[] taken by conn_next_request */
	size_t outlen;           /* bytes in out[] */
	uint64_t skip;           /* body bytes still to drop before answering `pending' */
	struct http_req pending; /* the request whose body is being dropped */
	int writes;              /* uv_write requests in flight */
	int handles;             /* handles not closed yet */
	bool closing;            /* conn_close or conn_end was called */
	char in[IN_SIZE];
	char out[OUT_SIZE];
};

/* A uv_write of what uv_try_write left over; the bytes live after it. */
struct wreq {
	uv_write_t req;
	char data[];
};

/* ---- connections ------------------------------------------------------ */

static void on_handle_closed(uv_handle_t *h)
{
	struct conn *c = h->data;
	if (--c->handles == 0)
		free(c);
}

/* Closes c at once (pending writes are cancelled). */
static void conn_close(struct conn *c)
{
	if (uv_is_closing((uv_handle_t *)&c->tcp))
		return;
	c->closing = true;
	uv_close((uv_handle_t *)&c->tcp, on_handle_closed);
	uv_close((uv_handle_t *)&c->idle, on_handle_closed);
}

static void on_write(uv_write_t *req, int status);
static void on_alloc(uv_handle_t *h, size_t hint, uv_buf_t *buf);
static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf);
static void on_idle(uv_timer_t *t);

/* The sending side is shut: drop what the client still sends, until it
 * closes too or LINGER_MS pass (closing with unread input sends a reset,
 * which can destroy the last answer before the client reads it). */
static void on_shutdown(uv_shutdown_t *req, int status)
{
	struct conn *c = req->data;
	c->have = c->pos = 0;
	if (status < 0 || uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read) < 0) {
		conn_close(c);
		return;
	}
	uv_timer_start(&c->idle, on_idle, LINGER_MS, 0);
}

/* Shuts the sending side once the pending writes are out (an answer said
 * "close"), then lingers (on_shutdown). */
static void conn_end(struct conn *c)
{
	c->closing = true;
	uv_read_stop((uv_stream_t *)&c->tcp);
	c->shutdown.data = c;
	if (uv_shutdown(&c->shutdown, (uv_stream_t *)&c->tcp, on_shutdown) < 0)
		conn_close(c);
}

/* Sends out[0..outlen) and empties it: uv_try_write, then a uv_write of
 * the rest (after any write still pending, to keep the order).  Returns 0,
 * or -1 when the connection failed (it is then closed). */
static int conn_flush(struct conn *c)
{
	uv_buf_t b = uv_buf_init(c->out, (unsigned)c->outlen);
	int n = 0;

	if (c->outlen == 0)
		return 0;
	if (c->writes == 0) {
		n = uv_try_write((uv_stream_t *)&c->tcp, &b, 1);
		if (n == UV_EAGAIN)
			n = 0;
		if (n < 0) {
			conn_close(c);
			return -1;
		}
	}
	if ((size_t)n < c->outlen) {
		size_t rest = c->outlen - (size_t)n;
		struct wreq *w = malloc(sizeof(*w) + rest);
		if (!w) {
			conn_close(c);
			return -1;
		}
		memcpy(w->data, c->out + n, rest);
		w->req.data = c;
		b = uv_buf_init(w->data, (unsigned)rest);
		if (uv_write(&w->req, (uv_stream_t *)&c->tcp, &b, 1, on_write) < 0) {
			free(w);
			conn_close(c);
			return -1;
		}
		c->writes++;
	}
	c->outlen = 0;
	return 0;
}

static void on_write(uv_write_t *req, int status)
{
	struct conn *c = req->data;
	free(req);
	c->writes--;
	if (c->closing)
		return;
	if (status < 0)
		conn_close(c);
	else if (c->writes == 0)
		uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read); /* backlog drained */
}

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

/* Answers every request completed by the last read, in one write. */
static void conn_process(struct conn *c)
{
	bool done = false; /* answered a request that closes the connection */
	struct http_req r;

	while (!done && conn_next_request(c, &r)) {
		if (c->outlen + MAX_RESPONSE > OUT_SIZE && conn_flush(c) < 0)
			return;
		c->outlen += http_respond(c->out + c->outlen, &r);
		done = r.error_line || !r.keep_alive;
	}
	if (conn_flush(c) < 0)
		return;
	if (done) {
		conn_end(c);
		return;
	}
	memmove(c->in, c->in + c->pos, c->have - c->pos);
	c->have -= c->pos;
	c->pos = 0;
	if (c->writes > 0)
		uv_read_stop((uv_stream_t *)&c->tcp); /* until the socket takes our answers */
}

static void on_alloc(uv_handle_t *h, size_t hint, uv_buf_t *buf)
{
	struct conn *c = h->data;
	(void)hint;
	*buf = uv_buf_init(c->in + c->have, (unsigned)(IN_SIZE - c->have));
}

static void on_idle(uv_timer_t *t)
{
	conn_close(t->data);
}

static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
	struct conn *c = s->data;
	(void)buf;
	if (nread < 0) {
		conn_close(c); /* UV_EOF, reset, ... */
		return;
	}
	if (nread == 0 || c->closing)
		return; /* closing: lingering, the bytes are dropped */
	c->have += (size_t)nread;
	uv_timer_start(&c->idle, on_idle, IDLE_MS, 0);
	conn_process(c);
}

static void on_connection(uv_stream_t *server, int status)
{
	struct conn *c;

	if (status < 0) {
		fprintf(stderr, "uv_http: accept: %s\n", uv_strerror(status));
		return;
	}
	if (!(c = calloc(1, sizeof(*c)))) {
		fprintf(stderr, "uv_http: out of memory for a connection\n");
		return; /* the connection waits in the backlog */
	}
	uv_tcp_init(server->loop, &c->tcp);
	uv_timer_init(server->loop, &c->idle);
	c->tcp.data = c->idle.data = c;
	c->handles = 2;
	if (uv_accept(server, (uv_stream_t *)&c->tcp) < 0) {
		conn_close(c);
		return;
	}
	uv_tcp_nodelay(&c->tcp, 1); /* answers are written whole */
	uv_timer_start(&c->idle, on_idle, IDLE_MS, 0);
	if (uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read) < 0)
		conn_close(c);
}

/* ---- main ------------------------------------------------------------- */

static void usage(FILE *f)
{
	fprintf(f, "usage: uv_http [--host H] [--port P]\n"
	           "A single-loop libuv HTTP/1.1 keep-alive server answering \"Hello, World!\";\n"
	           "the libuv peer of bench/http.sh.  Defaults: 127.0.0.1, port 8080 (0 picks a\n"
	           "free one).  Prints \"listening on HOST:PORT\"; serves until killed.\n"
	           "Exit status: 1 when it cannot listen or run, 2 on a bad command line.\n");
}

int main(int argc, char **argv)
{
	static uv_tcp_t server;
	const char *host = "127.0.0.1";
	long port = 8080;
	struct sockaddr_storage addr;
	int len = sizeof(addr), rc;
	char ip[64];

	for (int i = 1; i < argc; i++) {
		char *end;
		if (strcmp(argv[i], "--help") == 0) {
			usage(stdout);
			return 0;
		} else if (strcmp(argv[i], "--host") == 0 && i + 1 < argc) {
			host = argv[++i];
		} else if (strcmp(argv[i], "--port") == 0 && i + 1 < argc) {
			port = strtol(argv[++i], &end, 10);
			if (!*argv[i] || *end || port < 0 || port > 65535) {
				fprintf(stderr, "uv_http: bad port '%s' (0..65535)\n", argv[i]);
				return 2;
			}
		} else {
			fprintf(stderr, "uv_http: bad argument '%s' (try --help)\n", argv[i]);
			return 2;
		}
	}
	signal(SIGPIPE, SIG_IGN); /* a peer gone while we write: EPIPE, not death */

	uv_loop_t *loop = uv_default_loop();
	uv_tcp_init(loop, &server);
	if ((rc = uv_ip4_addr(host, (int)port, (struct sockaddr_in *)&addr)) < 0 &&
	    (rc = uv_ip6_addr(host, (int)port, (struct sockaddr_in6 *)&addr)) < 0) {
		fprintf(stderr, "uv_http: bad address '%s': %s\n", host, uv_strerror(rc));
		return 1;
	}
	if ((rc = uv_tcp_bind(&server, (struct sockaddr *)&addr, 0)) < 0 ||
	    (rc = uv_listen((uv_stream_t *)&server, BACKLOG, on_connection)) < 0 ||
	    (rc = uv_tcp_getsockname(&server, (struct sockaddr *)&addr, &len)) < 0) {
		fprintf(stderr, "uv_http: listen on %s:%ld: %s\n", host, port, uv_strerror(rc));
		return 1;
	}
	if (addr.ss_family == AF_INET6) {
		struct sockaddr_in6 *a = (struct sockaddr_in6 *)&addr;
		uv_ip6_name(a, ip, sizeof(ip));
		printf("listening on [%s]:%d (libuv %s)\n", ip, ntohs(a->sin6_port),
		       uv_version_string());
	} else {
		struct sockaddr_in *a = (struct sockaddr_in *)&addr;
		uv_ip4_name(a, ip, sizeof(ip));
		printf("listening on %s:%d (libuv %s)\n", ip, ntohs(a->sin_port),
		       uv_version_string());
	}
	fflush(stdout);
	rc = uv_run(loop, UV_RUN_DEFAULT);
	fprintf(stderr, "uv_http: loop ended (%d)\n", rc);
	return 1;
}
