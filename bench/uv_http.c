/*
 * uv_http.c - the libuv peer of the HTTP benchmark (bench/http.sh): a
 * single-loop HTTP/1.1 keep-alive "Hello, World!" server, written the way
 * a libuv programmer would: one uv_tcp_t and one idle uv_timer_t per
 * connection, reads into a per-connection buffer, every answer of one read
 * written at once with uv_try_write (uv_write only for what the socket did
 * not take, and no reading while such a write is pending).
 *
 * It speaks exactly the HTTP subset of examples/http_hello.c and answers
 * with the same bytes: the parser and the answers below (http_parse,
 * http_respond) are that file's, copied so that each program stands alone;
 * bench/http.sh checks that the three servers answer byte for byte the same
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

#define IN_SIZE      8192  /* request head limit and read buffer */
#define OUT_SIZE     16384 /* answers of one read, flushed early when full */
#define MAX_RESPONSE 256   /* longest answer http_respond writes */
#define IDLE_MS      30000 /* a connection without a byte read this long is closed */
#define LINGER_MS    500   /* after the last answer, how long to drain before closing */
#define BACKLOG      1024

/* What one request head says (http_parse fills it). */
struct http_req {
	size_t head_len;        /* bytes from the request line through the empty line */
	uint64_t body_len;      /* Content-Length: body bytes after the head */
	int minor;              /* HTTP/1.<minor> */
	bool is_head;           /* HEAD: the answer has no body */
	bool keep_alive;        /* the connection stays open after the answer */
	const char *conn_line;  /* Connection header of the answer ("" for none) */
	const char *error_line; /* NULL, or the status of the error answer ("400 Bad Request") */
};

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

static const char BODY[] = "Hello, World!\n";
/* The answer to a head that does not fit the buffer. */
static const struct http_req too_large = {.error_line = "431 Request Header Fields Too Large"};

/* ---- HTTP: the same code as examples/http_hello.c --------------------- */

/* Whether ch may appear in a method or a header name (RFC 9110 tchar). */
static bool is_token_char(unsigned char ch)
{
	if (ch <= 32 || ch >= 127)
		return false;
	switch (ch) {
	case '"':
	case '(':
	case ')':
	case ',':
	case '/':
	case ':':
	case ';':
	case '<':
	case '=':
	case '>':
	case '?':
	case '@':
	case '[':
	case '\\':
	case ']':
	case '{':
	case '}':
		return false;
	}
	return true;
}

/* The CRLF CRLF that ends the head in buf[0..n), or NULL.  memchr for the
 * LFs: much cheaper than memmem on the short heads this server sees. */
static const char *find_head_end(const char *buf, size_t n)
{
	const char *p = buf, *end = buf + n;
	while ((p = memchr(p, '\n', (size_t)(end - p)))) {
		if (p - buf >= 3 && p[-1] == '\r' && p[-2] == '\n' && p[-3] == '\r')
			return p - 3;
		p++;
	}
	return NULL;
}

/* Whether the comma-separated list v[0..n) holds token tok (any case). */
static bool has_token(const char *v, size_t n, const char *tok)
{
	size_t tlen = strlen(tok);
	while (n > 0) {
		const char *comma = memchr(v, ',', n);
		size_t len = comma ? (size_t)(comma - v) : n;
		size_t b = 0, e = len;
		while (b < e && (v[b] == ' ' || v[b] == '\t'))
			b++;
		while (e > b && (v[e - 1] == ' ' || v[e - 1] == '\t'))
			e--;
		if (e - b == tlen && strncasecmp(v + b, tok, tlen) == 0)
			return true;
		if (!comma)
			break;
		n -= len + 1;
		v += len + 1;
	}
	return false;
}

/* The CR of the CRLF that ends the line starting at `line' (there is an
 * LF before stop), or NULL when the line ends with a bare LF.  A CR
 * elsewhere in a line is a control character, refused by the parser. */
static const char *line_end(const char *line, const char *stop)
{
	const char *lf = memchr(line, '\n', (size_t)(stop - line));
	return lf > line && lf[-1] == '\r' ? lf - 1 : NULL;
}

/* Parses the request line "METHOD SP TARGET SP HTTP/1.x" of p[0..n) (no
 * CRLF) into r.  Returns 0 or -1 (r->error_line set). */
static int parse_request_line(const char *p, size_t n, struct http_req *r)
{
	const char *sp1 = memchr(p, ' ', n);
	const char *sp2 = sp1 ? memchr(sp1 + 1, ' ', n - (size_t)(sp1 + 1 - p)) : NULL;
	if (!sp1 || sp1 == p || !sp2 || sp2 == sp1 + 1)
		goto bad;
	for (const char *c = p; c < sp1; c++)
		if (!is_token_char((unsigned char)*c))
			goto bad;
	for (const char *c = sp1 + 1; c < sp2; c++)
		if ((unsigned char)*c <= 32 || *c == 127)
			goto bad;
	const char *v = sp2 + 1;
	size_t vlen = n - (size_t)(v - p);
	if (vlen != 8 || memcmp(v, "HTTP/", 5) != 0 || v[6] != '.' || v[5] < '0' || v[5] > '9' ||
	    v[7] < '0' || v[7] > '9')
		goto bad;
	if (v[5] != '1') {
		r->error_line = "505 HTTP Version Not Supported";
		return -1;
	}
	r->minor = v[7] - '0';
	r->is_head = sp1 - p == 4 && memcmp(p, "HEAD", 4) == 0;
	return 0;
bad:
	r->error_line = "400 Bad Request";
	return -1;
}

/* Parses the request head at the start of buf[0..n).  Returns 1 with *r
 * filled (r->error_line non-NULL for a request to refuse: answer it and
 * close), or 0 when the head is not complete yet. */
static int http_parse(const char *buf, size_t n, struct http_req *r)
{
	const char *end = find_head_end(buf, n);
	if (!end)
		return 0;
	*r = (struct http_req){.head_len = (size_t)(end - buf) + 4, .conn_line = ""};
	const char *line = buf, *stop = end + 2; /* every line ends with CRLF before stop */
	const char *eol = line_end(line, stop);
	if (!eol)
		goto bad;
	if (parse_request_line(line, (size_t)(eol - line), r) < 0)
		return 1;
	bool host = false, close = false, keep = false, have_len = false;
	for (line = eol + 2; line < stop; line = eol + 2) {
		if (!(eol = line_end(line, stop)))
			goto bad;
		const char *colon = memchr(line, ':', (size_t)(eol - line));
		if (!colon || colon == line)
			goto bad;
		for (const char *c = line; c < colon; c++)
			if (!is_token_char((unsigned char)*c))
				goto bad;
		const char *v = colon + 1, *ve = eol;
		for (const char *c = v; c < ve; c++)
			if (((unsigned char)*c < 32 && *c != '\t') || *c == 127)
				goto bad;
		while (v < ve && (*v == ' ' || *v == '\t'))
			v++;
		while (ve > v && (ve[-1] == ' ' || ve[-1] == '\t'))
			ve--;
		size_t name_len = (size_t)(colon - line), vlen = (size_t)(ve - v);
		if (name_len == 14 && strncasecmp(line, "Content-Length", 14) == 0) {
			uint64_t len = 0;
			if (vlen == 0 || vlen > 18)
				goto bad;
			for (size_t i = 0; i < vlen; i++) {
				if (v[i] < '0' || v[i] > '9')
					goto bad;
				len = len * 10 + (uint64_t)(v[i] - '0');
			}
			if (have_len && len != r->body_len)
				goto bad;
			r->body_len = len;
			have_len = true;
		} else if (name_len == 10 && strncasecmp(line, "Connection", 10) == 0) {
			close |= has_token(v, vlen, "close");
			keep |= has_token(v, vlen, "keep-alive");
		} else if (name_len == 4 && strncasecmp(line, "Host", 4) == 0) {
			host = true;
		} else if (name_len == 17 && strncasecmp(line, "Transfer-Encoding", 17) == 0) {
			r->error_line = "501 Not Implemented";
			return 1;
		}
	}
	if (r->minor >= 1 && !host)
		goto bad;
	if (r->minor >= 1) {
		r->keep_alive = !close;
		r->conn_line = close ? "Connection: close\r\n" : "";
	} else {
		r->keep_alive = keep && !close;
		r->conn_line = r->keep_alive ? "Connection: keep-alive\r\n" : "";
	}
	return 1;
bad:
	r->error_line = "400 Bad Request";
	return 1;
}

static char *put(char *p, const char *s, size_t n)
{
	memcpy(p, s, n);
	return p + n;
}
#define PUT(p, lit) put(p, lit, sizeof(lit) - 1)

/* Writes the answer to r at out (room for MAX_RESPONSE bytes); returns its
 * length. */
static size_t http_respond(char *out, const struct http_req *r)
{
	char *p = out;
	if (r->error_line) {
		size_t n = strlen(r->error_line);
		p = PUT(p, "HTTP/1.1 ");
		p = put(p, r->error_line, n);
		p = PUT(p,
		        "\r\nContent-Type: text/plain; charset=utf-8\r\nConnection: close\r\n\r\n");
		return (size_t)(put(p, r->error_line, n) - out);
	}
	p = r->minor == 0 ? PUT(p, "HTTP/1.0 200 OK\r\n") : PUT(p, "HTTP/1.1 200 OK\r\n");
	p = PUT(p, "Content-Length: 14\r\nContent-Type: text/plain\r\n");
	p = put(p, r->conn_line, strlen(r->conn_line));
	p = PUT(p, "\r\n");
	if (!r->is_head)
		p = PUT(p, BODY);
	return (size_t)(p - out);
}

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
