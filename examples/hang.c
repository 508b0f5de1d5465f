/*
 * hang.c - a program that hangs by design, with a known set of blocked
 * tasks: the subject for `taskscope top`, `dump`, `report` and their
 * tests.  Every blocked task waits without a deadline on a different kind
 * of thing, and each wait is attributable to one line of this file:
 *
 *   reader     chan_recv  "requests"        a rendezvous channel nobody sends to
 *   holder     waitgroup  "shutdown"        holding mutex "db"; the group's
 *                                           counter is 1 and nobody calls done
 *   locker     mutex      "db"              held by holder
 *   joiner     join       reader            which never returns
 *   publisher  chan_send  "events"          capacity 1, full, nobody receives
 *   waiter     condvar    "config-changed"  (mutex "config"): nobody signals
 *   writer     rwlock_wr  "cache"           the root holds a read lock
 *   idle-K     select     "requests"        (--tasks N of them) a select on
 *                                           "requests" and "control" (the
 *                                           runtime records the first channel
 *                                           it polled: either may show)
 *   root       semaphore  "permits"         0 units, nobody releases one
 *
 * (the kinds are named as in the inspector's history, table wait_kinds).
 * One task stays healthy: "ticker" sleeps 10 ms at a time, forever, so the
 * program as a whole is not stalled: the blocked tasks are a partial hang
 * (holder and locker, the "likely" kind of deadlock), the kind a live
 * program shows.
 *
 * Once every task is in place it prints, on stdout, one line per blocked
 * task
 *     blocked <task> <wait kind> <resource> <file>:<line>
 * (the line of the blocking call: the source location the inspector shows
 * for the wait), then
 *     hung pid <pid>
 * and waits forever.  A task notes its line just before its blocking call
 * and the root prints once every task has noted it, plus 20 ms for the
 * calls to be entered.
 *
 * Stopping: SIGINT and SIGTERM (read from a signalfd by a task "signals",
 * which waits on I/O) stop it cleanly, which is also a demonstration of
 * the way out of a hang: cancellation.  The signal task releases the
 * root's semaphore; the root cancels every other task (each blocking call
 * returns -ECANCELED), they release what they hold and return, the root
 * joins them all and tsk_run returns: exit status 0, and the flight
 * recorder's segment is removed.  Killed with SIGKILL (or any signal it
 * does not handle) it leaves the segment in /dev/shm for `taskscope
 * dump`; TASKSCOPE_KEEP=1 keeps it after a clean stop too.
 *
 * A little over 500 lines: one blocked task per kind of wait, each short,
 * and the clean stop that undoes them all.
 *
 * Usage: hang [--tasks N]
 * Exit status: 0 stopped by SIGINT/SIGTERM, 1 a runtime error (or a
 * blocked call that returned for another reason than its cancellation),
 * 2 bad usage.
 */
#include <errno.h>
#include <getopt.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ex_common.h"
#include "taskscope.h"

#define MAX_EXTRA     100000
#define TICK_MS       10
#define SETTLE_MS     20 /* after the last note, for the calls to be entered */
#define TASK_NAME_LEN 24

struct hang;

/* One blocked task: where it waits, and its handle. */
struct blocked {
	struct hang *h;
	tsk_task *task;           /* joined by the root */
	char name[TASK_NAME_LEN]; /* task name */
	const char *kind;         /* wait kind, as the inspector names it */
	const char *res;          /* what it waits on: a resource's or a task's name */
	int line;                 /* of the blocking call in this file */
	atomic_bool noted;        /* kind, res and line are set (release) */
	int err;                  /* how the wait ended: -ECANCELED expected */
};

enum { B_READER, B_HOLDER, B_LOCKER, B_JOINER, B_PUBLISHER, B_WAITER, B_WRITER, B_FIXED };

struct hang {
	int nextra; /* idle-K tasks */
	int sig_fd; /* signalfd for SIGINT and SIGTERM, -1 if none */
	tsk_chan *requests, *events, *control;
	tsk_mutex *db, *config;
	tsk_wg *shutdown;
	tsk_cond *config_changed;
	tsk_rwlock *cache;
	tsk_sem *permits;
	struct blocked *b; /* B_FIXED fixed ones, then the idle-K ones */
	struct blocked root;
	bool read_locked;     /* the root holds its read lock on "cache" */
	atomic_bool stopping; /* the ticker's cue (and the root's, after the release) */
};

/* Records where b is about to block; the root prints it. */
static void note(struct blocked *b, const char *kind, const char *res, int line)
{
	b->kind = kind;
	b->res = res;
	b->line = line;
	atomic_store_explicit(&b->noted, true, memory_order_release);
}

/* ---- the blocked tasks ------------------------------------------------------ */

static void *reader(void *arg)
{
	struct blocked *b = arg;
	int v;

	tsk_set_state("waiting for a request");
	note(b, "chan_recv", "requests", __LINE__ + 1);
	b->err = tsk_chan_recv(b->h->requests, &v, TSK_FOREVER);
	return NULL;
}

static void *holder(void *arg)
{
	struct blocked *b = arg;
	struct hang *h = b->h;

	if ((b->err = tsk_mutex_lock(h->db, TSK_FOREVER)) < 0)
		return NULL;
	tsk_set_state("holding db until shutdown");
	note(b, "waitgroup", "shutdown", __LINE__ + 1);
	b->err = tsk_wg_wait(h->shutdown, TSK_FOREVER);
	tsk_mutex_unlock(h->db);
	return NULL;
}

static void *locker(void *arg)
{
	struct blocked *b = arg;

	tsk_set_state("waiting for db");
	note(b, "mutex", "db", __LINE__ + 1);
	b->err = tsk_mutex_lock(b->h->db, TSK_FOREVER);
	if (b->err == 0) /* the holder let go before our cancellation came */
		tsk_mutex_unlock(b->h->db);
	return NULL;
}

/* Returns (void *)1 when it did join the reader. */
static void *joiner(void *arg)
{
	struct blocked *b = arg;

	tsk_set_state("waiting for the reader");
	note(b, "join", "reader", __LINE__ + 1);
	b->err = tsk_join(b->h->b[B_READER].task, NULL, TSK_FOREVER);
	return (void *)(intptr_t)(b->err == 0);
}

static void *publisher(void *arg)
{
	struct blocked *b = arg;
	int v = 2;

	tsk_set_state("publishing an event");
	note(b, "chan_send", "events", __LINE__ + 1);
	b->err = tsk_chan_send(b->h->events, &v, TSK_FOREVER);
	return NULL;
}

static void *waiter(void *arg)
{
	struct blocked *b = arg;
	struct hang *h = b->h;

	if ((b->err = tsk_mutex_lock(h->config, TSK_FOREVER)) < 0)
		return NULL;
	tsk_set_state("waiting for a new config");
	note(b, "condvar", "config-changed", __LINE__ + 1);
	b->err = tsk_cond_wait(h->config_changed, h->config, TSK_FOREVER);
	tsk_mutex_unlock(h->config); /* owned again on every return */
	return NULL;
}

static void *writer(void *arg)
{
	struct blocked *b = arg;

	tsk_set_state("updating the cache");
	note(b, "rwlock_wr", "cache", __LINE__ + 1);
	b->err = tsk_rwlock_wrlock(b->h->cache, TSK_FOREVER);
	if (b->err == 0) /* the root's read lock went before our cancellation */
		tsk_rwlock_unlock(b->h->cache);
	return NULL;
}

static void *idle(void *arg)
{
	struct blocked *b = arg;
	int v;
	tsk_case cases[2] = {
	        {.chan = b->h->requests, .op = TSK_RECV, .elem = &v},
	        {.chan = b->h->control, .op = TSK_RECV, .elem = &v},
	};

	tsk_set_state("idle");
	note(b, "select", "requests", __LINE__ + 1);
	b->err = tsk_select(cases, 2, TSK_FOREVER);
	return NULL;
}

/* ---- the healthy ones --------------------------------------------------------- */

static void *ticker(void *arg)
{
	struct hang *h = arg;
	int64_t next = tsk_now();

	tsk_set_state("ticking");
	while (!atomic_load(&h->stopping)) {
		next += TICK_MS * 1000000LL;
		if (tsk_sleep(next) < 0)
			break;
	}
	return NULL;
}

/* Waits for SIGINT or SIGTERM, then lets the root go: it stops the rest. */
static void *signal_task(void *arg)
{
	struct hang *h = arg;

	if (ex_signal_wait(h->sig_fd, "hang")) {
		atomic_store(&h->stopping, true);
		tsk_sem_release(h->permits);
	}
	return NULL;
}

/* ---- root ------------------------------------------------------------------------ */

static int make_resources(struct hang *h)
{
	int full = 1, rc;

	if ((rc = tsk_chan_create(&h->requests, "requests", sizeof(int), 0)) < 0 ||
	    (rc = tsk_chan_create(&h->events, "events", sizeof(int), 1)) < 0 ||
	    (rc = tsk_chan_create(&h->control, "control", sizeof(int), 0)) < 0 ||
	    (rc = tsk_mutex_create(&h->db, "db")) < 0 ||
	    (rc = tsk_mutex_create(&h->config, "config")) < 0 ||
	    (rc = tsk_wg_create(&h->shutdown, "shutdown")) < 0 ||
	    (rc = tsk_cond_create(&h->config_changed, "config-changed")) < 0 ||
	    (rc = tsk_rwlock_create(&h->cache, "cache")) < 0 ||
	    (rc = tsk_sem_create(&h->permits, "permits", 0)) < 0 ||
	    (rc = tsk_wg_add(h->shutdown, 1)) < 0 || (rc = tsk_chan_try_send(h->events, &full)) < 0)
		return rc;
	return 0;
}

static void free_resources(struct hang *h)
{
	int v;

	while (tsk_chan_try_recv(h->events, &v) == 0)
		;
	tsk_chan_destroy(h->requests);
	tsk_chan_destroy(h->events);
	tsk_chan_destroy(h->control);
	tsk_mutex_destroy(h->db);
	tsk_mutex_destroy(h->config);
	tsk_wg_add(h->shutdown, -1);
	tsk_wg_destroy(h->shutdown);
	tsk_cond_destroy(h->config_changed);
	tsk_rwlock_destroy(h->cache);
	tsk_sem_destroy(h->permits);
}

/* Spawns blocked task i; waits until it has noted its wait when `settle'. */
static int start(struct hang *h, int i, const char *name, void *(*fn)(void *), bool settle)
{
	struct blocked *b = &h->b[i];
	int rc;

	b->h = h;
	snprintf(b->name, sizeof(b->name), "%s", name);
	if ((rc = tsk_spawn(&b->task, b->name, fn, b)) < 0)
		return rc;
	while (settle && !atomic_load_explicit(&b->noted, memory_order_acquire))
		tsk_sleep(tsk_after_ms(1));
	return 0;
}

/* Spawns every blocked task, in an order that makes each wait the one
 * described: the holder has db before the locker comes, the root has its
 * read lock on "cache" before the writer.  Returns 0 or -errno. */
static int start_all(struct hang *h)
{
	int rc;

	if ((rc = start(h, B_HOLDER, "holder", holder, true)) < 0 ||
	    (rc = tsk_rwlock_rdlock(h->cache, TSK_FOREVER)) < 0)
		return rc;
	h->read_locked = true;
	if ((rc = start(h, B_READER, "reader", reader, false)) < 0 ||
	    (rc = start(h, B_LOCKER, "locker", locker, false)) < 0 ||
	    (rc = start(h, B_JOINER, "joiner", joiner, false)) < 0 ||
	    (rc = start(h, B_PUBLISHER, "publisher", publisher, false)) < 0 ||
	    (rc = start(h, B_WAITER, "waiter", waiter, false)) < 0 ||
	    (rc = start(h, B_WRITER, "writer", writer, false)) < 0)
		return rc;
	for (int i = 0; i < h->nextra; i++) {
		char name[TASK_NAME_LEN];
		snprintf(name, sizeof(name), "idle-%d", i + 1);
		if ((rc = start(h, B_FIXED + i, name, idle, false)) < 0)
			return rc;
	}
	for (int i = 0; i < B_FIXED + h->nextra; i++)
		while (!atomic_load_explicit(&h->b[i].noted, memory_order_acquire))
			tsk_sleep(tsk_after_ms(1));
	tsk_sleep(tsk_after_ms(SETTLE_MS));
	return 0;
}

static void print_blocked(const struct blocked *b)
{
	printf("blocked %s %s %s %s:%d\n", b->name, b->kind, b->res, __FILE__, b->line);
}

/* Prints every blocked task, the root last, then "hung pid". */
static void announce(struct hang *h)
{
	for (int i = 0; i < B_FIXED + h->nextra; i++)
		print_blocked(&h->b[i]);
	print_blocked(&h->root);
	printf("hung pid %d\n", (int)getpid());
	fflush(stdout);
}

/* Cancels and joins every blocked task that was started; returns 0, or 1
 * when a wait ended otherwise than by its cancellation. */
static int stop_all(struct hang *h)
{
	int n = B_FIXED + h->nextra, status = 0;
	void *joined = NULL;

	/* the waiters before what they wait for: the joiner before the
	 * reader, the locker before the holder */
	for (int i = n - 1; i >= 0; i--)
		if (h->b[i].task)
			tsk_cancel(h->b[i].task);
	if (h->read_locked)
		tsk_rwlock_unlock(h->cache);
	/* the joiner first: it may have joined the reader itself */
	if (h->b[B_JOINER].task)
		tsk_join(h->b[B_JOINER].task, &joined, TSK_FOREVER);
	for (int i = 0; i < n; i++) {
		struct blocked *b = &h->b[i];
		if (!b->task || i == B_JOINER || (i == B_READER && joined))
			continue;
		tsk_join(b->task, NULL, TSK_FOREVER);
	}
	for (int i = 0; i < n; i++) {
		struct blocked *b = &h->b[i];
		/* 0 for those whose resource went away first (see above) */
		bool late = b->err == 0 && (i == B_LOCKER || i == B_JOINER || i == B_WRITER);
		if (b->task && b->err != -ECANCELED && !late) {
			fprintf(stderr, "hang: %s: its wait ended with %s, not ECANCELED\n",
			        b->name, b->err ? tsk_errname(b->err) : "success");
			status = 1;
		}
	}
	return status;
}

static void *root(void *arg)
{
	struct hang *h = arg;
	tsk_task *sigtask = NULL, *tick = NULL;
	int rc, status = 1;

	if ((rc = make_resources(h)) < 0) {
		fprintf(stderr, "hang: create the resources: %s\n", tsk_strerror(rc));
		goto fail_resources;
	}
	ex_signals_spawn(&sigtask, h->sig_fd, signal_task, h, "hang", "program");
	if ((rc = tsk_spawn(&tick, "ticker", ticker, h)) < 0 || (rc = start_all(h)) < 0) {
		fprintf(stderr, "hang: start the tasks: %s\n", tsk_strerror(rc));
		goto fail_start;
	}

	snprintf(h->root.name, sizeof(h->root.name), "root");
	tsk_set_state("waiting for a permit");
	note(&h->root, "semaphore", "permits", __LINE__ + 2);
	announce(h);
	rc = tsk_sem_acquire(h->permits, TSK_FOREVER); /* until SIGINT or SIGTERM */
	if (rc < 0)
		fprintf(stderr, "hang: wait for a permit: %s\n", tsk_strerror(rc));

	tsk_set_state("stopping");
	status = stop_all(h) || rc < 0;
	goto join_healthy;
fail_start:
	/* what started is blocked for good: cancel it */
	stop_all(h);
join_healthy:
	atomic_store(&h->stopping, true);
	ex_task_stop(tick);
	ex_task_stop(sigtask);
fail_resources:
	free_resources(h);
	return (void *)(intptr_t)status;
}

/* ---- command line ------------------------------------------------------------------ */

static void usage(void)
{
	printf("usage: hang [--tasks N]\n"
	       "\n"
	       "Hangs by design: tasks blocked for good on a channel (receive and send), a\n"
	       "mutex, a wait group, a join, a condition variable, a write lock, a select\n"
	       "and a semaphore, while a task \"ticker\" keeps running.  Prints one line per\n"
	       "blocked task,\n"
	       "    blocked <task> <wait kind> <resource> <file>:<line>\n"
	       "then \"hung pid <pid>\", and waits for SIGINT or SIGTERM, which cancel every\n"
	       "task and stop it cleanly.  SIGKILL leaves its flight recorder in /dev/shm.\n"
	       "\n"
	       "  --tasks N   N more tasks blocked in a select, 0..%d (default 0)\n"
	       "  --help      this text\n"
	       "\n"
	       "Exit status: 0 stopped by a signal, 1 a runtime error, 2 bad usage.\n",
	       MAX_EXTRA);
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
	        {"tasks", required_argument, NULL, 't'},
	        {"help", no_argument, NULL, 'h'},
	        {NULL, 0, NULL, 0},
	};
	static struct hang h = {.sig_fd = -1};
	tsk_config cfg = {.name = "hang"};
	void *status = (void *)1;
	int o, rc;

	opterr = 0;
	while ((o = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (o) {
		case 't':
			if (!ex_parse_int(optarg, 0, MAX_EXTRA, &h.nextra)) {
				fprintf(stderr, "hang: bad value '%s' for --tasks (try --help)\n",
				        optarg);
				return 2;
			}
			break;
		case 'h':
			usage();
			return 0;
		default:
			return ex_bad_option("hang", argv);
		}
	}
	if (optind < argc)
		return ex_unexpected_arg("hang", argv[optind]);
	if (!(h.b = calloc((size_t)(B_FIXED + h.nextra), sizeof(*h.b)))) {
		fprintf(stderr, "hang: out of memory\n");
		return 1;
	}

	h.sig_fd = ex_signals_open("hang", "program");

	rc = tsk_run(root, &h, &cfg, &status);
	if (h.sig_fd >= 0)
		tsk_close(h.sig_fd);
	free(h.b);
	if (rc < 0) {
		fprintf(stderr, "hang: tsk_run: %s\n", tsk_strerror(rc));
		return 1;
	}
	return (int)(intptr_t)status;
}
