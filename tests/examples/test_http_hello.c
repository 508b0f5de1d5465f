/*
 * test_http_hello.c - examples/http_hello.c end to end: the real program,
 * driven over loopback with plain blocking sockets.
 *
 * Each test starts its own server (--host 127.0.0.1 --port 0, the port
 * read from its "listening on" line), talks HTTP to it and compares every
 * answer byte for byte with what http_hello.c writes, then stops it with
 * SIGTERM or SIGINT and checks the clean stop: exit status 0 within a few
 * seconds, the exact "stopped after N connections, M requests" count, and
 * no flight-recorder segment left in /dev/shm (while it ran, there was
 * one).  Covered: GET and HEAD, keep-alive, pipelining, Connection: close,
 * HTTP/1.0, bodies skipped by Content-Length, the error answers (400, 431,
 * 501, 505) each followed by a close, requests cut into pieces, 50
 * connections at once, SIGTERM with connections idle, half-sent or busy;
 * then the command line: --help, exit status 2 and a one-line message for
 * a bad one, exit status 1 for a port in use.
 *
 * The server is the build's own (ex_proc.h): in the sanitizer stages it is
 * sanitized too, and a report makes its exit status non-zero.  The
 * teardown kills whatever still runs, then reaps the client threads and
 * closes every client socket.
 *
 * Longer than most files: one test per behaviour that http_hello.c's
 * header comment promises, with the byte-exact answers they expect.
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ex_net.h"
#include "ex_proc.h"
#include "tsk_test.h"

/* The answers, as http_respond in http_hello.c writes them. */
#define HEAD_11 "HTTP/1.1 200 OK\r\nContent-Length: 14\r\nContent-Type: text/plain\r\n\r\n"
#define OK_11   HEAD_11 "Hello, World!\n"
#define CLOSE_11                                                                                   \
	"HTTP/1.1 200 OK\r\nContent-Length: 14\r\nContent-Type: text/plain\r\n"                    \
	"Connection: close\r\n\r\nHello, World!\n"
#define OK_10                                                                                      \
	"HTTP/1.0 200 OK\r\nContent-Length: 14\r\nContent-Type: text/plain\r\n\r\n"                \
	"Hello, World!\n"
#define KEEP_10                                                                                    \
	"HTTP/1.0 200 OK\r\nContent-Length: 14\r\nContent-Type: text/plain\r\n"                    \
	"Connection: keep-alive\r\n\r\nHello, World!\n"
#define ERROR(status)                                                                              \
	"HTTP/1.1 " status "\r\nContent-Type: text/plain; charset=utf-8\r\nConnection: close\r\n"  \
	"\r\n" status

#define GET     "GET / HTTP/1.1\r\nHost: test\r\n\r\n"
#define MAX_FDS 16

struct load;

/* One test's server, client sockets and client threads. */
struct hh {
	ex_proc srv;      /* the server (or the program a command-line test runs) */
	int port;         /* where it listens */
	int fds[MAX_FDS]; /* client sockets, closed by the teardown */
	int nfds;
	struct load *load; /* client threads, reaped by the teardown */
};

static int load_join(struct hh *h, int *failed, bool print);

static int hh_setup(void **state)
{
	return ex_state_new(state, sizeof(struct hh));
}

static int hh_teardown(void **state)
{
	struct hh *h = *state;
	for (int i = 0; i < h->nfds; i++)
		if (h->fds[i] >= 0)
			close(h->fds[i]);
	ex_proc_fini(&h->srv); /* first: the client threads' reads end */
	int failed;
	load_join(h, &failed, false);
	free(h);
	return 0;
}

/* Starts http_hello with `workers' workers on a free loopback port. */
static void hh_start(struct hh *h, const char *workers)
{
	const char *args[] = {"--host", "127.0.0.1", "--port", "0", "--workers", workers, NULL};
	assert_int_equal(ex_proc_start(&h->srv, "http_hello", args), 0);
	/* one printf, one fflush: the whole line or nothing */
	const char *line = ex_proc_wait_stdout(&h->srv, "workers)\n", ex_ms(10000));
	assert_non_null(line);
	const char *at = strstr(ex_proc_stdout(&h->srv), "listening on 127.0.0.1:");
	assert_non_null(at);
	h->port = atoi(at + strlen("listening on 127.0.0.1:"));
	assert_true(h->port > 0 && h->port < 65536);
	if (ex_proc_probes_on())
		assert_true(ex_proc_has_segment(&h->srv));
}

/* A new client connection to the server, closed by the teardown. */
static int hh_connect(struct hh *h)
{
	assert_true(h->nfds < MAX_FDS);
	int fd = ex_net_connect(h->port, ex_ms(5000));
	if (fd < 0)
		fprintf(stderr, "connect to port %d: %s\n", h->port, strerror(-fd));
	assert_true(fd >= 0);
	h->fds[h->nfds++] = fd;
	return fd;
}

/* Closes a client connection early (the teardown skips it). */
static void hh_close(struct hh *h, int fd)
{
	for (int i = 0; i < h->nfds; i++)
		if (h->fds[i] == fd)
			h->fds[i] = -1;
	close(fd);
}

static void send_str(int fd, const char *s)
{
	int rc = ex_net_send_all(fd, s, strlen(s));
	if (rc < 0)
		fprintf(stderr, "send: %s\n", strerror(-rc));
	assert_int_equal(rc, 0);
}

/* Prints s[0..n) with the control characters escaped. */
static void print_escaped(const char *what, const char *s, size_t n)
{
	fprintf(stderr, "%s (%zu bytes): \"", what, n);
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c == '\r')
			fputs("\\r", stderr);
		else if (c == '\n')
			fputs("\\n", stderr);
		else if (c < 32 || c >= 127)
			fprintf(stderr, "\\x%02x", c);
		else
			fputc(c, stderr);
	}
	fputs("\"\n", stderr);
}

/* Whether the next strlen(want) bytes on fd are want; prints both when not. */
static bool got_exactly(int fd, const char *want)
{
	size_t n = strlen(want);
	char *buf = malloc(n + 1);
	if (!buf)
		return false;
	ssize_t k = ex_net_recv_exact(fd, buf, n);
	bool ok = k == (ssize_t)n && memcmp(buf, want, n) == 0;
	if (!ok) {
		if (k < 0)
			fprintf(stderr, "recv: %s\n", strerror((int)-k));
		print_escaped("expected", want, n);
		print_escaped("received", buf, k > 0 ? (size_t)k : 0);
	}
	free(buf);
	return ok;
}

#define EXPECT_RESPONSE(fd, want) assert_true(got_exactly(fd, want))

/* The server closes the connection now (a reset is not a close). */
#define EXPECT_EOF(fd) assert_int_equal(ex_net_wait_eof(fd, ex_ms(5000)), 0)

/* Nothing more comes for a while: no extra answer, no close. */
#define EXPECT_QUIET(fd) assert_true(ex_net_quiet(fd, 50))

/* Stops the server with sig and checks the clean stop; conns < 0 skips the
 * count check. */
static void hh_stop(struct hh *h, int sig, int conns, int requests)
{
	char want[128];

	assert_int_equal(ex_proc_signal_wait(&h->srv, sig, ex_ms(5000)), 0);
	assert_true(ex_proc_exited_with(&h->srv, 0));
	if (conns >= 0) {
		snprintf(want, sizeof(want),
		         "http_hello: stopped after %d connections, %d requests\n", conns,
		         requests);
		if (!strstr(ex_proc_stdout(&h->srv), want)) {
			fprintf(stderr, "expected on stdout: %s", want);
			ex_proc_dump(&h->srv);
			fail();
		}
	}
	assert_non_null(strstr(ex_proc_stderr(&h->srv), ", stopping\n"));
	assert_false(ex_proc_has_segment(&h->srv));
}

/* ---- HTTP ------------------------------------------------------------ */

static void test_get_and_head(void **state)
{
	struct hh *h = *state;
	hh_start(h, "1");
	int fd = hh_connect(h);

	send_str(fd, GET);
	EXPECT_RESPONSE(fd, OK_11);
	EXPECT_QUIET(fd);
	send_str(fd, "HEAD / HTTP/1.1\r\nHost: test\r\n\r\n");
	EXPECT_RESPONSE(fd, HEAD_11);
	EXPECT_QUIET(fd); /* no body after a HEAD answer */
	/* every method and path gets the same answer */
	send_str(fd, "DELETE /some/where?x=1 HTTP/1.1\r\nhost: test\r\nX-Extra:  v \r\n\r\n");
	EXPECT_RESPONSE(fd, OK_11);
	hh_close(h, fd);
	hh_stop(h, SIGINT, 1, 3);
}

static void test_keep_alive(void **state)
{
	struct hh *h = *state;
	hh_start(h, "1");
	int fd = hh_connect(h);

	for (int i = 0; i < 3; i++) {
		send_str(fd, GET);
		EXPECT_RESPONSE(fd, OK_11);
		EXPECT_QUIET(fd); /* and the connection stays open */
	}
	hh_close(h, fd);
	hh_stop(h, SIGTERM, 1, 3);
}

static void test_pipelined(void **state)
{
	struct hh *h = *state;
	hh_start(h, "1");
	int fd = hh_connect(h);

	send_str(fd, GET GET GET);
	EXPECT_RESPONSE(fd, OK_11 OK_11 OK_11);
	EXPECT_QUIET(fd);
	/* the last one closes: the answers, then the end of the stream */
	int fd2 = hh_connect(h);
	send_str(fd2, GET GET "GET / HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n");
	EXPECT_RESPONSE(fd2, OK_11 OK_11 CLOSE_11);
	EXPECT_EOF(fd2);
	hh_close(h, fd);
	hh_stop(h, SIGTERM, 2, 6);
}

static void test_connection_close(void **state)
{
	struct hh *h = *state;
	hh_start(h, "1");

	int fd = hh_connect(h);
	send_str(fd, "GET / HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n");
	EXPECT_RESPONSE(fd, CLOSE_11);
	EXPECT_EOF(fd);
	/* a token in a list, in any case */
	fd = hh_connect(h);
	send_str(fd, "GET / HTTP/1.1\r\nConnection: Upgrade, CLOSE \r\nHost: test\r\n\r\n");
	EXPECT_RESPONSE(fd, CLOSE_11);
	EXPECT_EOF(fd);
	hh_stop(h, SIGTERM, 2, 2);
}

static void test_http_1_0(void **state)
{
	struct hh *h = *state;
	hh_start(h, "1");

	/* 1.0 closes after the answer unless asked not to */
	int fd = hh_connect(h);
	send_str(fd, "GET / HTTP/1.0\r\n\r\n");
	EXPECT_RESPONSE(fd, OK_10);
	EXPECT_EOF(fd);
	fd = hh_connect(h);
	for (int i = 0; i < 2; i++) {
		send_str(fd, "GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
		EXPECT_RESPONSE(fd, KEEP_10);
		EXPECT_QUIET(fd);
	}
	send_str(fd, "GET / HTTP/1.0\r\n\r\n");
	EXPECT_RESPONSE(fd, OK_10);
	EXPECT_EOF(fd);
	hh_stop(h, SIGTERM, 2, 4);
}

static void test_body_skipped(void **state)
{
	struct hh *h = *state;
	hh_start(h, "1");
	int fd = hh_connect(h);

	/* a body and the next request in one write */
	send_str(fd,
	         "POST /form HTTP/1.1\r\nHost: test\r\nContent-Length: 11\r\n\r\nhello=world" GET);
	EXPECT_RESPONSE(fd, OK_11 OK_11);
	EXPECT_QUIET(fd);

	/* a body that looks like a request is still a body: one answer */
	char req[256];
	snprintf(req, sizeof(req), "PUT / HTTP/1.1\r\nHost: test\r\nContent-Length: %zu\r\n\r\n%s",
	         strlen(GET), GET);
	send_str(fd, req);
	EXPECT_RESPONSE(fd, OK_11);
	EXPECT_QUIET(fd);
	send_str(fd, GET);
	EXPECT_RESPONSE(fd, OK_11);

	/* a body much larger than the 8 KiB buffer, in pieces: no answer
	 * before its last byte */
	enum { BODY = 100000 };
	char *body = malloc(BODY);
	assert_non_null(body);
	memset(body, 'x', BODY);
	snprintf(req, sizeof(req), "POST / HTTP/1.1\r\nHost: test\r\nContent-Length: %d\r\n\r\n",
	         BODY);
	send_str(fd, req);
	int rc = ex_net_send_all(fd, body, BODY / 2);
	free(body);
	assert_int_equal(rc, 0);
	EXPECT_QUIET(fd);
	char rest[BODY - BODY / 2 + sizeof(GET)];
	memset(rest, 'x', BODY - BODY / 2);
	memcpy(rest + BODY - BODY / 2, GET, sizeof(GET)); /* with its NUL */
	send_str(fd, rest);
	EXPECT_RESPONSE(fd, OK_11 OK_11);
	EXPECT_QUIET(fd);
	hh_close(h, fd);
	hh_stop(h, SIGTERM, 1, 6);
}

/* Each request on a connection of its own: the answer, then the close. */
static void test_bad_requests(void **state)
{
	static const struct {
		const char *request, *answer;
	} cases[] = {
	        {"GARBAGE\r\n\r\n", ERROR("400 Bad Request")},
	        {"GET / HTTP/1.1\r\n\r\n", ERROR("400 Bad Request")}, /* no Host */
	        {"GET / HTTP/1.1\r\nHost: test\r\nno colon\r\n\r\n", ERROR("400 Bad Request")},
	        {"GET / HTTP/2.0\r\nHost: test\r\n\r\n", ERROR("505 HTTP Version Not Supported")},
	        {"POST / HTTP/1.1\r\nHost: test\r\nTransfer-Encoding: chunked\r\n\r\n",
	         ERROR("501 Not Implemented")},
	        {GET "BAD\r\n\r\n" GET, OK_11 ERROR("400 Bad Request")}, /* nothing after it */
	};
	struct hh *h = *state;
	hh_start(h, "1");

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int fd = hh_connect(h);
		send_str(fd, cases[i].request);
		EXPECT_RESPONSE(fd, cases[i].answer);
		EXPECT_EOF(fd);
		hh_close(h, fd);
	}
	/* a head that does not fit the buffer */
	char big[9000];
	memset(big, 'a', sizeof(big));
	memcpy(big, "GET /", 5);
	big[sizeof(big) - 1] = '\0';
	int fd = hh_connect(h);
	send_str(fd, big);
	EXPECT_RESPONSE(fd, ERROR("431 Request Header Fields Too Large"));
	EXPECT_EOF(fd);
	hh_stop(h, SIGTERM, 7, 8);
}

static void test_split_request(void **state)
{
	static const char *const pieces[] = {"GE",           "T / HT", "TP/1.1\r\nHo",
	                                     "st: test\r\n", "\r",     "\n"};
	struct hh *h = *state;
	hh_start(h, "1");
	int fd = hh_connect(h);

	/* pieces with pauses: nothing is answered before the last one */
	for (size_t i = 0; i < sizeof(pieces) / sizeof(pieces[0]); i++) {
		if (i > 0)
			EXPECT_QUIET(fd);
		send_str(fd, pieces[i]);
	}
	EXPECT_RESPONSE(fd, OK_11);
	/* byte by byte, as fast as they go */
	for (const char *c = GET; *c; c++) {
		char one[2] = {*c, '\0'};
		send_str(fd, one);
	}
	EXPECT_RESPONSE(fd, OK_11);
	/* cut inside the empty line, with the next request after the cut */
	send_str(fd, "GET / HTTP/1.1\r\nHost: test\r\n\r");
	EXPECT_QUIET(fd);
	send_str(fd, "\n" GET);
	EXPECT_RESPONSE(fd, OK_11 OK_11);
	hh_close(h, fd);
	hh_stop(h, SIGTERM, 1, 4);
}

/* ---- many connections at once ------------------------------------------ */

/* One client thread: connects, waits for the others, then does its
 * requests one after the other on its connection. */
struct client {
	pthread_t thread;
	struct load *load;
	int answered;   /* right answers */
	char error[96]; /* the first thing that went wrong, "" if nothing */
};

/* Client threads doing requests at once; owned by the test's state so
 * that the teardown can reap them after a failed assertion (it kills the
 * server first: their reads end). */
struct load {
	int port, requests; /* requests per connection */
	pthread_mutex_t lock;
	pthread_cond_t cond;
	int connected; /* clients past their connect, under lock */
	bool go;       /* every client may start, under lock */
	int started;   /* threads running */
	struct client clients[];
};

static void *client_thread(void *arg)
{
	struct client *c = arg;
	struct load *l = c->load;
	char buf[sizeof(OK_11)];
	int fd = ex_net_connect(l->port, ex_ms(5000));

	if (fd < 0)
		snprintf(c->error, sizeof(c->error), "connect: %s", strerror(-fd));
	/* every connection is open before the first request */
	pthread_mutex_lock(&l->lock);
	l->connected++;
	pthread_cond_broadcast(&l->cond);
	while (!l->go)
		pthread_cond_wait(&l->cond, &l->lock);
	pthread_mutex_unlock(&l->lock);
	for (int i = 0; fd >= 0 && i < l->requests; i++) {
		int rc = ex_net_send_all(fd, GET, strlen(GET));
		ssize_t n = rc < 0 ? rc : ex_net_recv_exact(fd, buf, strlen(OK_11));
		if (n != (ssize_t)strlen(OK_11) || memcmp(buf, OK_11, strlen(OK_11)) != 0) {
			snprintf(c->error, sizeof(c->error), "request %d: %s", i,
			         n < 0 ? strerror((int)-n) : "short answer or end of stream");
			break;
		}
		__atomic_add_fetch(&c->answered, 1, __ATOMIC_RELAXED); /* also read by the test */
	}
	if (fd >= 0)
		close(fd);
	return NULL;
}

/* Starts nconns client threads of `requests' requests each against the
 * server, and returns once every one is connected and has been let go. */
static void load_start(struct hh *h, int nconns, int requests)
{
	struct load *l = calloc(1, sizeof(*l) + (size_t)nconns * sizeof(struct client));
	assert_non_null(l);
	l->port = h->port;
	l->requests = requests;
	pthread_mutex_init(&l->lock, NULL);
	pthread_cond_init(&l->cond, NULL);
	h->load = l;
	for (int i = 0; i < nconns; i++) {
		l->clients[i].load = l;
		if (pthread_create(&l->clients[i].thread, NULL, client_thread, &l->clients[i]) != 0)
			break;
		l->started++;
	}
	pthread_mutex_lock(&l->lock);
	while (l->connected < l->started)
		pthread_cond_wait(&l->cond, &l->lock);
	l->go = true;
	pthread_cond_broadcast(&l->cond);
	pthread_mutex_unlock(&l->lock);
	assert_int_equal(l->started, nconns);
}

/* Joins the client threads and frees h->load (if any); returns the right
 * answers in all and the connections that ended with an error, printing
 * the first few of those when `print'. */
static int load_join(struct hh *h, int *failed, bool print)
{
	struct load *l = h->load;
	int answered = 0;

	*failed = 0;
	if (!l)
		return 0;
	for (int i = 0; i < l->started; i++) {
		pthread_join(l->clients[i].thread, NULL);
		answered += l->clients[i].answered;
		if (l->clients[i].error[0] && (*failed)++ < 5 && print)
			fprintf(stderr, "connection %d: %s\n", i, l->clients[i].error);
	}
	pthread_mutex_destroy(&l->lock);
	pthread_cond_destroy(&l->cond);
	free(l);
	h->load = NULL;
	return answered;
}

static void test_concurrent_connections(void **state)
{
	struct hh *h = *state;
	/* the 50 connections at once are the point: only their requests
	 * shrink in the sanitizer stages */
	int nconns = 50, nreq = (int)tsk_test_scale(20), failed;
	if (nreq < 5)
		nreq = 5;

	hh_start(h, "2");
	load_start(h, nconns, nreq);
	int answered = load_join(h, &failed, true);
	assert_int_equal(failed, 0);
	assert_int_equal(answered, nconns * nreq);
	hh_stop(h, SIGTERM, nconns, nconns * nreq);
}

/* ---- stopping ------------------------------------------------------------ */

/* SIGTERM shuts down connections that are open: idle ones and one in the
 * middle of a request; every client sees the end of the stream. */
static void test_stop_with_open_connections(void **state)
{
	struct hh *h = *state;
	int fds[4];
	hh_start(h, "2");

	for (int i = 0; i < 4; i++) {
		fds[i] = hh_connect(h);
		send_str(fds[i], GET);
		EXPECT_RESPONSE(fds[i], OK_11);
	}
	send_str(fds[3], "GET / HT");
	EXPECT_QUIET(fds[3]); /* (and the server has read it, most likely) */
	hh_stop(h, SIGTERM, 4, 4);
	for (int i = 0; i < 3; i++)
		EXPECT_EOF(fds[i]);
	/* a close with unread input is a reset: allowed here only, should
	 * the server not have read the piece before the signal */
	int rc = ex_net_wait_eof(fds[3], ex_ms(5000));
	assert_true(rc == 0 || rc == -ECONNRESET);
}

/* SIGTERM while 50 clients send requests as fast as they can: a clean
 * stop all the same, and the server counts at least every answer the
 * clients got. */
static void test_stop_under_load(void **state)
{
	struct hh *h = *state;
	int failed;

	hh_start(h, "2");
	load_start(h, 50, 1 << 30); /* until the server stops */
	/* every client answered once: the server has accepted all 50 (a
	 * fixed pause was too short under TSan: 31 accepted after 100 ms) */
	for (int i = 0, all = 0; !all && i < 1000; i++) {
		all = 1;
		for (int k = 0; k < 50; k++)
			if (!__atomic_load_n(&h->load->clients[k].answered, __ATOMIC_RELAXED))
				all = 0;
		if (!all)
			usleep(10 * 1000);
	}
	usleep(50 * 1000);
	hh_stop(h, SIGTERM, -1, 0);
	int answered = load_join(h, &failed, false);
	assert_int_equal(failed, 50); /* every connection was cut */
	assert_true(answered > 0);
	const char *line =
	        strstr(ex_proc_stdout(&h->srv), "http_hello: stopped after 50 connections, ");
	if (!line)
		ex_proc_dump(&h->srv);
	assert_non_null(line);
	long served = atol(line + strlen("http_hello: stopped after 50 connections, "));
	if (served < answered)
		fprintf(stderr, "the server counts %ld requests, the clients got %d answers\n",
		        served, answered);
	assert_true(served >= answered);
}

/* ---- command line ---------------------------------------------------------- */

/* Runs http_hello with args and waits for its exit. */
static void run_to_exit(struct hh *h, const char *const *args)
{
	assert_int_equal(ex_proc_run(&h->srv, "http_hello", args, ex_ms(5000)), 0);
}

static void test_help(void **state)
{
	struct hh *h = *state;
	const char *args[] = {"--help", NULL};

	run_to_exit(h, args);
	assert_true(ex_proc_exited_with(&h->srv, 0));
	const char *out = ex_proc_stdout(&h->srv);
	assert_true(strncmp(out, "usage: http_hello [--host H] [--port P | P] [--workers N]\n",
	                    58) == 0);
	assert_non_null(strstr(out, "--workers N"));
	assert_non_null(strstr(out, "Exit status:"));
	assert_string_equal(ex_proc_stderr(&h->srv), "");
}

/* Exit status 2, nothing on stdout, exactly one line on stderr. */
static void test_bad_command_lines(void **state)
{
	static const char *const cases[][4] = {
	        {"--bogus", NULL},         {"-x", NULL},
	        {"--port", "70000", NULL}, {"--port", "x", NULL},
	        {"--workers", "0", NULL},  {"--workers", NULL},
	        {"8080", "9090", NULL},    {"-1", NULL},
	};
	struct hh *h = *state;

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		run_to_exit(h, cases[i]);
		assert_true(ex_proc_exited_with(&h->srv, 2));
		assert_string_equal(ex_proc_stdout(&h->srv), "");
		const char *err = ex_proc_stderr(&h->srv);
		const char *nl = strchr(err, '\n');
		if (strncmp(err, "http_hello: ", 12) != 0 || !nl || nl[1] != '\0') {
			fprintf(stderr, "case %zu (%s): not one line: \"%s\"\n", i, cases[i][0],
			        err);
			fail();
		}
		if (i == 0)
			assert_string_equal(err, "http_hello: bad option '--bogus' (try --help)\n");
	}
}

/* A port in use: exit status 1 and why, no segment left. */
static void test_port_in_use(void **state)
{
	struct hh *h = *state;
	int port, lfd = ex_net_listen(&port);
	char sport[16], want[64];

	assert_true(lfd >= 0);
	h->fds[h->nfds++] = lfd;
	snprintf(sport, sizeof(sport), "%d", port);
	const char *args[] = {"--host", "127.0.0.1", "--port", sport, "--workers", "1", NULL};
	run_to_exit(h, args);
	assert_true(ex_proc_exited_with(&h->srv, 1));
	snprintf(want, sizeof(want), "listen on 127.0.0.1:%d: ", port);
	assert_non_null(strstr(ex_proc_stderr(&h->srv), want));
	assert_false(ex_proc_has_segment(&h->srv));
}

#define HH_TEST(f) cmocka_unit_test_setup_teardown(f, hh_setup, hh_teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
	        HH_TEST(test_get_and_head),
	        HH_TEST(test_keep_alive),
	        HH_TEST(test_pipelined),
	        HH_TEST(test_connection_close),
	        HH_TEST(test_http_1_0),
	        HH_TEST(test_body_skipped),
	        HH_TEST(test_bad_requests),
	        HH_TEST(test_split_request),
	        HH_TEST(test_concurrent_connections),
	        HH_TEST(test_stop_with_open_connections),
	        HH_TEST(test_stop_under_load),
	        HH_TEST(test_help),
	        HH_TEST(test_bad_command_lines),
	        HH_TEST(test_port_in_use),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
