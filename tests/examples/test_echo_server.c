/*
 * test_echo_server.c - examples/echo_server.c end to end, in its three
 * modes: the real program, driven over loopback.
 *
 *   --self-test      exits 0 and reports its round trips;
 *   server mode      (--host 127.0.0.1 --port 0, the port read from its
 *                    "listening on port" line) echoes what a raw client of
 *                    the test sends, byte for byte, up to a 1 MiB message
 *                    sent and read at the same time; closes a connection
 *                    whose peer closed;
 *   --client         against that server prints its figures and exits 0;
 *                    against a closed port exits 1; interrupted, exits 1
 *                    and says so;
 *   SIGTERM/SIGINT   stop the server cleanly (exit 0 within a few seconds,
 *                    also with connections open or busy, and no
 *                    flight-recorder segment left in /dev/shm);
 *   --help, bad command lines: exit 0 with the usage on stdout; exit 2
 *                    with one line on stderr.
 *
 * The programs are the build's own (ex_proc.h): sanitized in the sanitizer
 * stages, where a report makes the exit status non-zero.  The teardown
 * kills whatever still runs and closes every client socket.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "ex_net.h"
#include "ex_proc.h"
#include "tsk_test.h"

#define MAX_FDS 8

/* One test's server, client program and client sockets. */
struct es {
	ex_proc srv;      /* the server (or the program a command-line test runs) */
	ex_proc cli;      /* a --client run */
	int port;         /* where the server listens */
	int fds[MAX_FDS]; /* client sockets, closed by the teardown */
	int nfds;
};

static int es_setup(void **state)
{
	return ex_state_new(state, sizeof(struct es));
}

static int es_teardown(void **state)
{
	struct es *e = *state;
	for (int i = 0; i < e->nfds; i++)
		if (e->fds[i] >= 0)
			close(e->fds[i]);
	ex_proc_fini(&e->cli);
	ex_proc_fini(&e->srv);
	free(e);
	return 0;
}

/* Starts the server on a free loopback port. */
static void es_start(struct es *e)
{
	const char *args[] = {"--host", "127.0.0.1", "--port", "0", "--workers", "2", NULL};
	static const char banner[] = "echo_server: listening on port ";

	assert_int_equal(ex_proc_start(&e->srv, "echo_server", args), 0);
	assert_non_null(ex_proc_wait_stdout(&e->srv, "\n", ex_ms(10000)));
	const char *out = ex_proc_stdout(&e->srv);
	assert_true(strncmp(out, banner, strlen(banner)) == 0);
	e->port = atoi(out + strlen(banner));
	assert_true(e->port > 0 && e->port < 65536);
	if (ex_proc_probes_on())
		assert_true(ex_proc_has_segment(&e->srv));
}

/* Stops the server with sig and checks the clean stop. */
static void es_stop(struct es *e, int sig, const char *signame)
{
	char want[64];

	assert_int_equal(ex_proc_signal_wait(&e->srv, sig, ex_ms(5000)), 0);
	assert_true(ex_proc_exited_with(&e->srv, 0));
	snprintf(want, sizeof(want), "echo_server: %s, stopping\n", signame);
	assert_string_equal(ex_proc_stderr(&e->srv), want);
	assert_false(ex_proc_has_segment(&e->srv));
}

static int es_connect(struct es *e)
{
	assert_true(e->nfds < MAX_FDS);
	int fd = ex_net_connect(e->port, ex_ms(5000));
	if (fd < 0)
		fprintf(stderr, "connect to port %d: %s\n", e->port, strerror(-fd));
	assert_true(fd >= 0);
	e->fds[e->nfds++] = fd;
	return fd;
}

/* Sends msg[0..n) on fd while reading the echo into back[0..n), both at
 * once (a message larger than the socket buffers cannot be sent whole
 * first).  Returns 0, or -errno (-ETIMEDOUT: the echo stalled, -EPIPE:
 * the server closed early). */
static int exchange(int fd, const char *msg, char *back, size_t n)
{
	size_t sent = 0, got = 0;
	int flags = fcntl(fd, F_GETFL), rc = 0;

	fcntl(fd, F_SETFL, flags | O_NONBLOCK);
	while (got < n) {
		struct pollfd pfd = {.fd = fd, .events = POLLIN | (sent < n ? POLLOUT : 0)};
		int r = poll(&pfd, 1, ex_ms(10000));
		if (r == 0) {
			rc = -ETIMEDOUT;
			break;
		}
		if (r < 0 && errno != EINTR) {
			rc = -errno;
			break;
		}
		if (sent < n && (pfd.revents & POLLOUT)) {
			ssize_t k = send(fd, msg + sent, n - sent, MSG_NOSIGNAL);
			if (k < 0 && errno != EAGAIN && errno != EINTR) {
				rc = -errno;
				break;
			}
			sent += k > 0 ? (size_t)k : 0;
		}
		if (pfd.revents & (POLLIN | POLLHUP | POLLERR)) {
			ssize_t k = recv(fd, back + got, n - got, 0);
			if (k == 0) {
				rc = -EPIPE;
				break;
			}
			if (k < 0 && errno != EAGAIN && errno != EINTR) {
				rc = -errno;
				break;
			}
			got += k > 0 ? (size_t)k : 0;
		}
	}
	fcntl(fd, F_SETFL, flags);
	return rc;
}

/* Sends n pseudo-random bytes (seeded) and checks the echo is the same. */
static void expect_echo(int fd, size_t n, unsigned seed)
{
	char *msg = malloc(n), *back = malloc(n);
	assert_non_null(msg);
	assert_non_null(back);
	for (size_t i = 0; i < n; i++) {
		seed = seed * 1103515245u + 12345u;
		msg[i] = (char)(seed >> 16);
	}
	int rc = exchange(fd, msg, back, n);
	if (rc < 0)
		fprintf(stderr, "echo of %zu bytes: %s\n", n, strerror(-rc));
	size_t first_diff = 0;
	while (rc == 0 && first_diff < n && msg[first_diff] == back[first_diff])
		first_diff++;
	free(msg);
	free(back);
	assert_int_equal(rc, 0);
	if (first_diff != n)
		fprintf(stderr, "echo of %zu bytes differs at byte %zu\n", n, first_diff);
	assert_int_equal(first_diff, n);
}

/* Runs `echo_server --client' against the server with args after the
 * port, and waits for its exit. */
static void run_client(struct es *e, const char *const *more)
{
	char port[16];
	const char *args[16] = {"--client", "--port", port};
	size_t n = 3;

	snprintf(port, sizeof(port), "%d", e->port);
	while (*more && n < 15)
		args[n++] = *more++;
	args[n] = NULL;
	ex_proc_fini(&e->cli);
	assert_int_equal(ex_proc_start(&e->cli, "echo_server", args), 0);
	assert_int_equal(ex_proc_wait(&e->cli, ex_ms(10000)), 0);
}

/* ---- modes ------------------------------------------------------------- */

static void test_self_test(void **state)
{
	struct es *e = *state;
	const char *args[] = {"--self-test", "--conns",   "2", "--size",
	                      "100",         "--workers", "2", NULL};

	assert_int_equal(ex_proc_start(&e->srv, "echo_server", args), 0);
	assert_int_equal(ex_proc_wait(&e->srv, ex_ms(10000)), 0); /* --seconds 1 */
	assert_true(ex_proc_exited_with(&e->srv, 0));
	const char *out = ex_proc_stdout(&e->srv);
	assert_true(strncmp(out, "echo_server: self-test on 127.0.0.1:", 36) == 0);
	const char *res = strstr(out, "echo_server: 2 connections, 100-byte messages, ");
	assert_non_null(res);
	const char *rt = strstr(res, " s: ");
	assert_non_null(rt);
	assert_true(atol(rt + 4) > 0); /* round trips */
	assert_non_null(strstr(out, "echo_server: latency p50 "));
	assert_null(strstr(out, "failed"));
	assert_string_equal(ex_proc_stderr(&e->srv), "");
	assert_false(ex_proc_has_segment(&e->srv));
}

static void test_echo_payloads(void **state)
{
	static const size_t sizes[] = {1, 5, 1000, 16384, 16385, 100000, 1 << 20};
	struct es *e = *state;
	es_start(e);
	int a = es_connect(e), b = es_connect(e);

	/* two connections at once, taking turns */
	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		expect_echo(a, sizes[i], (unsigned)i);
		expect_echo(b, sizes[i], (unsigned)i + 100);
	}
	assert_true(ex_net_quiet(a, 50)); /* nothing more than the echo */
	/* the server closes a connection whose peer closed */
	shutdown(a, SHUT_WR);
	assert_int_equal(ex_net_wait_eof(a, ex_ms(5000)), 0);
	expect_echo(b, 3, 7); /* the other one goes on */
	es_stop(e, SIGTERM, "Terminated");
}

static void test_client_mode(void **state)
{
	static const char *const more[] = {"--conns", "3",         "--seconds", "1", "--size",
	                                   "300",     "--workers", "1",         NULL};
	struct es *e = *state;
	es_start(e);

	run_client(e, more);
	assert_true(ex_proc_exited_with(&e->cli, 0));
	const char *out = ex_proc_stdout(&e->cli);
	const char *res = strstr(out, "echo_server: 3 connections, 300-byte messages, ");
	if (!res || !strstr(out, "echo_server: latency p50 ") || strstr(out, "failed"))
		ex_proc_dump(&e->cli);
	assert_non_null(res);
	const char *rt = strstr(res, " s: ");
	assert_non_null(rt);
	assert_true(atol(rt + 4) > 0);
	assert_non_null(strstr(out, "echo_server: latency p50 "));
	assert_null(strstr(out, "failed"));
	assert_false(ex_proc_has_segment(&e->cli));
	es_stop(e, SIGINT, "Interrupt");
}

/* A client interrupted by SIGTERM prints what it measured and exits 1. */
static void test_client_interrupted(void **state)
{
	char port[16];
	struct es *e = *state;
	es_start(e);

	snprintf(port, sizeof(port), "%d", e->port);
	const char *args[] = {"--client", "--port", port, "--conns", "2", "--seconds", "60", NULL};
	assert_int_equal(ex_proc_start(&e->cli, "echo_server", args), 0);
	/* its segment appears in tsk_run, after it blocked the signals (a
	 * signal before would kill it) */
	long long deadline = ex_now_ms() + ex_ms(5000);
	while (ex_proc_probes_on() && !ex_proc_has_segment(&e->cli) && ex_now_ms() < deadline)
		usleep(2000);
	usleep(200 * 1000); /* some round trips */
	assert_int_equal(ex_proc_signal_wait(&e->cli, SIGTERM, ex_ms(5000)), 0);
	assert_true(ex_proc_exited_with(&e->cli, 1));
	const char *out = ex_proc_stdout(&e->cli);
	assert_non_null(strstr(out, "echo_server: 2 connections, 64-byte messages, "));
	assert_non_null(strstr(out, "echo_server: interrupted after "));
	assert_null(strstr(out, "failed")); /* a stop is no connection failure */
	assert_false(ex_proc_has_segment(&e->cli));
	es_stop(e, SIGTERM, "Terminated");
}

/* Nobody listening: every connection fails, exit status 1. */
static void test_client_refused(void **state)
{
	static const char *const more[] = {"--conns", "2", "--seconds", "1", NULL};
	struct es *e = *state;

	e->port = ex_net_free_port();
	assert_true(e->port > 0);
	run_client(e, more);
	assert_true(ex_proc_exited_with(&e->cli, 1));
	assert_non_null(strstr(ex_proc_stderr(&e->cli), "connection 0: Connection refused"));
	assert_non_null(strstr(ex_proc_stdout(&e->cli), "2 of 2 connections failed"));
}

/* SIGTERM with connections open (idle, and one in the middle of an echo
 * the client does not read): every task ends, exit 0. */
static void test_stop_with_open_connections(void **state)
{
	struct es *e = *state;
	es_start(e);
	int fds[3];

	for (int i = 0; i < 3; i++) {
		fds[i] = es_connect(e);
		expect_echo(fds[i], 10, (unsigned)i);
	}
	/* fill both directions: the server's write blocks */
	size_t big = 64 << 20, sent = 0;
	char *junk = calloc(1, big);
	assert_non_null(junk);
	int flags = fcntl(fds[2], F_GETFL);
	fcntl(fds[2], F_SETFL, flags | O_NONBLOCK);
	long long last_progress = ex_now_ms();
	while (sent < big && ex_now_ms() - last_progress < 200) {
		ssize_t k = send(fds[2], junk + sent, big - sent, MSG_NOSIGNAL);
		if (k > 0) {
			sent += (size_t)k;
			last_progress = ex_now_ms();
		} else {
			usleep(5000);
		}
	}
	free(junk);
	assert_true(sent < big); /* the server stopped reading: its write waits */
	es_stop(e, SIGTERM, "Terminated");
	for (int i = 0; i < 2; i++)
		assert_int_equal(ex_net_wait_eof(fds[i], ex_ms(5000)), 0);
}

/* SIGTERM to the server while a --client keeps 20 connections busy: the
 * server stops cleanly all the same; the client reports the cut
 * connections and exits 1. */
static void test_stop_under_load(void **state)
{
	struct es *e = *state;
	char port[16];
	es_start(e);

	snprintf(port, sizeof(port), "%d", e->port);
	const char *args[] = {"--client", "--port", port, "--conns", "20", "--seconds", "60", NULL};
	assert_int_equal(ex_proc_start(&e->cli, "echo_server", args), 0);
	long long deadline = ex_now_ms() + ex_ms(5000);
	while (ex_proc_probes_on() && !ex_proc_has_segment(&e->cli) && ex_now_ms() < deadline)
		usleep(2000);
	usleep(200 * 1000); /* round trips under way */
	es_stop(e, SIGTERM, "Terminated");
	assert_int_equal(ex_proc_wait(&e->cli, ex_ms(10000)), 0);
	assert_true(ex_proc_exited_with(&e->cli, 1));
	assert_non_null(
	        strstr(ex_proc_stdout(&e->cli), "echo_server: 20 of 20 connections failed\n"));
	assert_false(ex_proc_has_segment(&e->cli));
}

/* ---- command line ---------------------------------------------------------- */

static void run_to_exit(struct es *e, const char *const *args)
{
	assert_int_equal(ex_proc_run(&e->srv, "echo_server", args, ex_ms(5000)), 0);
}

static void test_help(void **state)
{
	struct es *e = *state;
	const char *args[] = {"--help", NULL};

	run_to_exit(e, args);
	assert_true(ex_proc_exited_with(&e->srv, 0));
	const char *out = ex_proc_stdout(&e->srv);
	assert_true(strncmp(out, "usage: echo_server [--host H] [--port P] [--workers N]\n", 55) ==
	            0);
	assert_non_null(strstr(out, "echo_server --client"));
	assert_non_null(strstr(out, "echo_server --self-test"));
	assert_non_null(strstr(out, "Exit status:"));
	assert_string_equal(ex_proc_stderr(&e->srv), "");
}

/* Exit status 2, nothing on stdout, exactly one line on stderr. */
static void test_bad_command_lines(void **state)
{
	static const char *const cases[][4] = {
	        {"--bogus", NULL},
	        {"--client", "--self-test", NULL},
	        {"--conns", "3", NULL}, /* a client option for the server */
	        {"--client", "--port", "0", NULL},
	        {"--self-test", "--host", "localhost", NULL},
	        {"--self-test", "--size", "0", NULL},
	        {"--port", "65536", NULL},
	        {"--workers", "many", NULL},
	        {"extra", NULL},
	};
	struct es *e = *state;

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		run_to_exit(e, cases[i]);
		assert_true(ex_proc_exited_with(&e->srv, 2));
		assert_string_equal(ex_proc_stdout(&e->srv), "");
		const char *err = ex_proc_stderr(&e->srv);
		const char *nl = strchr(err, '\n');
		if (strncmp(err, "echo_server: ", 13) != 0 || !nl || nl[1] != '\0') {
			fprintf(stderr, "case %zu (%s): not one line: \"%s\"\n", i, cases[i][0],
			        err);
			fail();
		}
		if (i == 0)
			assert_string_equal(err,
			                    "echo_server: bad option '--bogus' (try --help)\n");
	}
}

#define ES_TEST(f) cmocka_unit_test_setup_teardown(f, es_setup, es_teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
	        ES_TEST(test_self_test),         ES_TEST(test_echo_payloads),
	        ES_TEST(test_client_mode),       ES_TEST(test_client_interrupted),
	        ES_TEST(test_client_refused),    ES_TEST(test_stop_with_open_connections),
	        ES_TEST(test_stop_under_load),   ES_TEST(test_help),
	        ES_TEST(test_bad_command_lines),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
