/*
 * evgen.c - an event-rate generator for the recorder benchmarks: task
 * pairs ping-ponging over rendezvous channels at a controlled rate, so
 * that a recorder (taskscope record, a stream-mode reader) can be measured
 * against a known load of events.
 *
 *   ping-K --"ping-K"--> pong-K      (K = 1..pairs; both channels are
 *   ping-K <--"pong-K"-- pong-K       rendezvous: capacity 0)
 *
 * Each pinger sends a counter on its "ping" channel and waits for the
 * ponger to send it back, plus one, on its "pong" channel: one round trip.
 *
 * What a round trip costs, counted with the reader library (records by
 * type from bench/probe_stream around this program): EVENTS_PER_ROUND = 6
 * task events.  A rendezvous makes every message cost the same whichever
 * side comes first: one side blocks (BLOCK), the other completes the
 * transfer (one SEND or RECV, written by whichever side completes it) and
 * wakes it (WAKE).  The woken side is mostly switched to directly, without
 * a record; about one round trip in ten it goes through the scheduler loop
 * instead, which writes a RUN.  On top come the workers' own records (PARK
 * and UNPARK when a worker runs out of tasks, STEAL, CALIB 10 times a
 * second) and, when paced, the pacer's.  So records per round trip are not
 * a constant: 6.1 unpaced, 6.2 paced at 1M records/s, 7.8 at 10k/s (the
 * pacer's share grows).  evgen therefore does not rely on a constant: it
 * counts the records its own process has written, from the heads and drop
 * counters of the event rings of its own segment (tsk_reader_ring_read
 * with no room for records reads just those), for the pacing and for the
 * summary.  Without a segment (TASKSCOPE=off, a PROBES=0 build) it counts
 * EVENTS_PER_ROUND per round trip.
 *
 * Pacing (--rate R records/s): a task "pacer" wakes every tick (1 ms, or
 * the time R takes to make 1000 records, at most 10 ms), compares the
 * records written since the start with R times the time elapsed, and turns
 * the shortfall into round trips (at the records per round trip seen so
 * far) that the pingers may take.  A pinger without a round trip to take
 * waits on the condition variable "tick" (mutex "budget") that the pacer
 * broadcasts.  The budget is cumulative, so a late tick or a dearer round
 * trip is made up for in the next ones: the average rate is the target.
 * Rates below a few thousand records/s are out of reach: the pacing costs
 * about that much itself.  --rate 0: no pacer, as fast as it goes.
 *
 * At the end it prints on stdout
 *     evgen: R round trips, ~E events in S s (X events/s)
 * with E the records counted as above (exact with a segment; "~" because a
 * recorder in stream mode may drop some: they count as written).
 *
 * SIGINT and SIGTERM (read from a signalfd by a task) end the run early:
 * the pingers stop after their current round trip and the summary covers
 * what was done.
 *
 * A little over 500 lines: one program meant to be read from top to
 * bottom, its pacing explained where it is done.
 *
 * Usage: evgen [--rate R] [--duration S] [--pairs K] [--workers N]
 * Exit status: 0 done (or stopped by a signal), 1 a runtime error or a
 * wrong echo, 2 bad usage.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <math.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ex_common.h"
#include "taskscope.h"
#include "tsk_reader.h"

#define EVENTS_PER_ROUND 6          /* task events of a round trip (see the header) */
#define TICK_MIN_NS      1000000LL  /* the pacer's period: at least 1 ms, */
#define TICK_MAX_NS      10000000LL /* at most 10 ms, */
#define TICK_RECORDS     1000.0     /* else the time R takes to write this many */
#define CHECK_EVERY      256        /* unpaced: round trips between two clock reads */
#define MAX_PAIRS        4096
#define NAME_LEN         24

struct evgen;

/* One ping-pong pair. */
struct pair {
	struct evgen *g;
	tsk_chan *ping;           /* pinger -> ponger, rendezvous */
	tsk_chan *pong;           /* ponger -> pinger, rendezvous */
	tsk_task *pinger;         /* joined by the root */
	tsk_task *ponger;         /* joined by the root */
	_Atomic uint64_t rounds;  /* round trips done (the pinger writes, the pacer reads) */
	int err;                  /* the pinger's error, 0 none */
	char ping_name[NAME_LEN]; /* "ping-K": the pinger and its channel */
	char pong_name[NAME_LEN]; /* "pong-K" */
};

struct evgen {
	/* options */
	double rate;     /* records/s, 0: unpaced */
	double duration; /* seconds */
	int npairs;
	/* the run */
	int sig_fd;           /* signalfd for SIGINT and SIGTERM, -1 if none */
	atomic_bool stopping; /* a signal came */
	struct pair *pairs;   /* npairs */
	tsk_reader *seg;      /* our own segment, NULL: none (estimate instead) */
	uint64_t base;        /* records written before the run */
	int64_t start_ns;     /* when the pingers were started */
	int64_t end_ns;       /* start + duration */
	int64_t stop_ns;      /* when the last pinger stopped */
	uint64_t events;      /* records of the run */
	/* pacing: the pacer raises limit, the pingers take round trips
	 * below it by raising taken (relaxed: these are budgets, not
	 * guards of other data) */
	_Atomic uint64_t limit;    /* round trips the pingers may start, in all */
	_Atomic uint64_t taken;    /* round trips started */
	tsk_mutex *lock;           /* "budget": orders a raise of limit and the waits for one */
	tsk_cond *tick;            /* "tick": broadcast by the pacer after a raise */
	_Atomic int64_t last_stop; /* the latest stop of a pinger */
};

/* ---- counting records ------------------------------------------------------ */

static uint64_t rounds_done(struct evgen *g)
{
	uint64_t n = 0;

	for (int i = 0; i < g->npairs; i++)
		n += atomic_load_explicit(&g->pairs[i].rounds, memory_order_relaxed);
	return n;
}

/* Records written by this process so far: from the segment's ring heads
 * (and the drops of a stream-mode reader), else the estimate.  Only one
 * task at a time may call it (the reader is not shared): the pacer while
 * the pingers run, the root before and after. */
static uint64_t events_written(struct evgen *g)
{
	uint64_t n = 0;

	if (!g->seg)
		return rounds_done(g) * EVENTS_PER_ROUND;
	uint32_t rings = tsk_reader_ring_count(g->seg);
	for (uint32_t i = 0; i < rings; i++) {
		tsk_rd_ring_stats st;
		/* no room for records: reads the head and the drop counter only */
		if (tsk_reader_ring_read(g->seg, i, NULL, 0) >= 0 &&
		    tsk_reader_ring_stats(g->seg, i, &st) == 0)
			n += st.head + st.lost_total;
	}
	return n;
}

/* ---- the pairs ------------------------------------------------------------ */

static void *ponger(void *arg)
{
	struct pair *p = arg;
	uint64_t v;

	tsk_set_state("ponging");
	while (tsk_chan_recv(p->ping, &v, TSK_FOREVER) == 0) {
		v++;
		if (tsk_chan_send(p->pong, &v, TSK_FOREVER) < 0)
			break;
	}
	return NULL;
}

/* One round trip: send n, expect n + 1 back.  Returns 0 or -errno
 * (-EPROTO: a wrong echo). */
static int round_trip(struct pair *p, uint64_t n)
{
	uint64_t back;
	int rc = tsk_chan_send(p->ping, &n, TSK_FOREVER);

	if (rc == 0)
		rc = tsk_chan_recv(p->pong, &back, TSK_FOREVER);
	if (rc == 0 && back != n + 1)
		rc = -EPROTO;
	if (rc == 0)
		atomic_store_explicit(&p->rounds, n + 1, memory_order_relaxed);
	return rc;
}

static bool time_is_up(struct evgen *g)
{
	return tsk_now() >= g->end_ns || atomic_load_explicit(&g->stopping, memory_order_relaxed);
}

/* Round trips as fast as they go until the end or a signal. */
static int run_unpaced(struct pair *p)
{
	uint64_t n = 0;
	int rc = 0;

	while (rc == 0 && !time_is_up(p->g))
		for (int i = 0; i < CHECK_EVERY && rc == 0; i++)
			if ((rc = round_trip(p, n)) == 0)
				n++;
	return rc;
}

/* Takes one round trip of the pacer's budget; false when there is none. */
static bool take_round(struct evgen *g)
{
	uint64_t t = atomic_load_explicit(&g->taken, memory_order_relaxed);

	while (t < atomic_load_explicit(&g->limit, memory_order_relaxed))
		if (atomic_compare_exchange_weak_explicit(
		            &g->taken, &t, t + 1, memory_order_relaxed, memory_order_relaxed))
			return true;
	return false;
}

/* Waits until the budget has a round trip for the caller (true) or the
 * run is over (false).  The pacer raises the limit under g->lock before
 * it broadcasts, so checking under the lock loses no tick.  (A condition
 * variable rather than a sleep: the pacer's timer is then the only one, and
 * timers expiring on several workers at once make idle workers spin.) */
static bool await_round(struct evgen *g)
{
	bool got;

	if (take_round(g))
		return true;
	if (tsk_mutex_lock(g->lock, TSK_FOREVER) < 0)
		return false;
	while (!(got = take_round(g)) && !time_is_up(g))
		if (tsk_cond_wait(g->tick, g->lock, g->end_ns) < 0)
			break;
	tsk_mutex_unlock(g->lock);
	return got;
}

/* Round trips as the pacer allows them. */
static int run_paced(struct pair *p)
{
	uint64_t n = 0;
	int rc = 0;

	while (rc == 0 && await_round(p->g))
		if ((rc = round_trip(p, n)) == 0)
			n++;
	return rc;
}

static void *pinger(void *arg)
{
	struct pair *p = arg;
	struct evgen *g = p->g;

	tsk_set_state("pinging");
	p->err = g->rate > 0 ? run_paced(p) : run_unpaced(p);
	int64_t now = tsk_now(), seen = atomic_load(&g->last_stop);
	while (now > seen && !atomic_compare_exchange_weak(&g->last_stop, &seen, now))
		;
	tsk_chan_close(p->ping); /* the ponger sees -EPIPE and ends */
	return NULL;
}

/* ---- the pacer ------------------------------------------------------------ */

/* Every tick: the records the budget still allows, as round trips. */
static void *pacer(void *arg)
{
	struct evgen *g = arg;
	int64_t tick = g->start_ns;
	int64_t period = (int64_t)(TICK_RECORDS / g->rate * 1e9);

	if (period < TICK_MIN_NS)
		period = TICK_MIN_NS;
	if (period > TICK_MAX_NS)
		period = TICK_MAX_NS;
	tsk_set_state("pacing");
	while (!time_is_up(g)) {
		tick += period;
		if (tsk_sleep(tick < g->end_ns ? tick : g->end_ns) < 0)
			break;
		int64_t now = tsk_now();
		double budget = g->rate * (double)(now - g->start_ns) / 1e9;
		double written = (double)(events_written(g) - g->base);
		uint64_t done = rounds_done(g);
		/* the records a round trip has cost so far, overheads included */
		double per_round = done >= 100 ? written / (double)done : EVENTS_PER_ROUND;
		if (budget <= written || per_round <= 0)
			continue;
		/* rounds taken but not done yet have not written their records:
		 * count from the rounds done */
		uint64_t want = done + (uint64_t)((budget - written) / per_round);
		tsk_mutex_lock(g->lock, TSK_FOREVER);
		if (want > atomic_load_explicit(&g->limit, memory_order_relaxed))
			atomic_store_explicit(&g->limit, want, memory_order_relaxed);
		tsk_cond_broadcast(g->tick);
		tsk_mutex_unlock(g->lock);
	}
	/* the time is up: the waiting pingers look again and stop */
	tsk_mutex_lock(g->lock, TSK_FOREVER);
	tsk_cond_broadcast(g->tick);
	tsk_mutex_unlock(g->lock);
	return NULL;
}

/* ---- signals ------------------------------------------------------------ */

/* Waits for SIGINT or SIGTERM and tells the pingers to stop.  Cancelled by
 * the root when the run ends by itself. */
static void *signal_task(void *arg)
{
	struct evgen *g = arg;

	if (ex_signal_wait(g->sig_fd, "evgen"))
		atomic_store(&g->stopping, true);
	return NULL;
}

/* ---- root --------------------------------------------------------------- */

/* Creates pair i's channels and tasks.  Returns 0 or -errno (what was
 * made is left for pairs_fini). */
static int pair_start(struct evgen *g, int i)
{
	struct pair *p = &g->pairs[i];
	int rc;

	p->g = g;
	snprintf(p->ping_name, NAME_LEN, "ping-%d", i + 1);
	snprintf(p->pong_name, NAME_LEN, "pong-%d", i + 1);
	if ((rc = tsk_chan_create(&p->ping, p->ping_name, sizeof(uint64_t), 0)) < 0 ||
	    (rc = tsk_chan_create(&p->pong, p->pong_name, sizeof(uint64_t), 0)) < 0 ||
	    (rc = tsk_spawn(&p->ponger, p->pong_name, ponger, p)) < 0)
		return rc;
	return tsk_spawn(&p->pinger, p->ping_name, pinger, p);
}

/* Joins the tasks of every pair and destroys the channels.  A pair whose
 * pinger did not start gets its ping channel closed, so its ponger ends. */
static void pairs_fini(struct evgen *g)
{
	for (int i = 0; i < g->npairs; i++) {
		struct pair *p = &g->pairs[i];
		if (!p->pinger && p->ping)
			tsk_chan_close(p->ping);
		if (p->pinger)
			tsk_join(p->pinger, NULL, TSK_FOREVER);
		if (p->ponger)
			tsk_join(p->ponger, NULL, TSK_FOREVER);
		tsk_chan_destroy(p->ping);
		tsk_chan_destroy(p->pong);
	}
}

static void *root(void *arg)
{
	struct evgen *g = arg;
	tsk_task *sigtask = NULL, *pace = NULL;
	int rc = 0;

	ex_signals_spawn(&sigtask, g->sig_fd, signal_task, g, "evgen", "program");
	if (tsk_reader_open_pid(getpid(), 0, &g->seg) < 0)
		g->seg = NULL; /* no segment: estimate */
	g->base = events_written(g);
	g->start_ns = tsk_now();
	g->end_ns = g->start_ns + (int64_t)(g->duration * 1e9);
	atomic_store(&g->last_stop, g->start_ns);
	if (g->rate > 0 && ((rc = tsk_mutex_create(&g->lock, "budget")) < 0 ||
	                    (rc = tsk_cond_create(&g->tick, "tick")) < 0 ||
	                    (rc = tsk_spawn(&pace, "pacer", pacer, g)) < 0)) {
		fprintf(stderr, "evgen: start the pacer: %s\n", tsk_strerror(rc));
		atomic_store(&g->stopping, true);
	}
	for (int i = 0; i < g->npairs && rc == 0; i++)
		if ((rc = pair_start(g, i)) < 0) {
			fprintf(stderr, "evgen: start pair %d: %s\n", i + 1, tsk_strerror(rc));
			atomic_store(&g->stopping, true);
		}
	tsk_set_state("waiting for the pairs");
	pairs_fini(g);
	if (pace)
		tsk_join(pace, NULL, TSK_FOREVER);
	tsk_cond_destroy(g->tick);
	tsk_mutex_destroy(g->lock);
	g->stop_ns = atomic_load(&g->last_stop);
	g->events = events_written(g) - g->base;
	tsk_reader_close(g->seg);
	ex_task_stop(sigtask);
	return (void *)(intptr_t)(rc < 0);
}

/* ---- command line ------------------------------------------------------- */

static void usage(FILE *f)
{
	fprintf(f, "usage: evgen [--rate R] [--duration S] [--pairs K] [--workers N]\n"
	           "\n"
	           "Generates task events at a controlled rate for the recorder benchmarks:\n"
	           "K pairs of tasks ping-ponging over rendezvous channels.  The rate is that\n"
	           "of all the records the process writes to its flight-recorder segment,\n"
	           "counted there.\n"
	           "\n"
	           "  --rate R       records per second (default 0: as fast as possible)\n"
	           "  --duration S   seconds to run, decimals allowed (default 1)\n"
	           "  --pairs K      task pairs, 1..4096 (default 2)\n"
	           "  --workers N    worker threads (default: one per CPU)\n"
	           "  --help         this text\n"
	           "\n"
	           "Prints \"evgen: R round trips, ~E events in S s (X events/s)\" at the end.\n"
	           "SIGINT or SIGTERM end the run early (the summary covers what was done).\n"
	           "Exit status: 0 done, 1 a runtime error or a wrong echo, 2 bad usage.\n");
}

/* Parses the command line.  Returns -1 to go on, or an exit status (0
 * after --help, 2 after an error, which it has printed). */
static int parse_args(int argc, char **argv, struct evgen *g, tsk_config *cfg)
{
	static const struct option opts[] = {
	        {"rate", required_argument, NULL, 'r'},  {"duration", required_argument, NULL, 'd'},
	        {"pairs", required_argument, NULL, 'p'}, {"workers", required_argument, NULL, 'w'},
	        {"help", no_argument, NULL, 'h'},        {NULL, 0, NULL, 0},
	};
	int o;

	opterr = 0;
	while ((o = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		bool ok;
		switch (o) {
		case 'r':
			ok = ex_parse_double(optarg, 0, 1e10, &g->rate);
			break;
		case 'd':
			ok = ex_parse_double(optarg, 0.001, 86400, &g->duration);
			break;
		case 'p':
			ok = ex_parse_int(optarg, 1, MAX_PAIRS, &g->npairs);
			break;
		case 'w':
			ok = ex_parse_int(optarg, 1, 1024, &cfg->workers);
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			return ex_bad_option("evgen", argv);
		}
		if (!ok)
			return ex_bad_value("evgen", argv);
	}
	if (optind < argc)
		return ex_unexpected_arg("evgen", argv[optind]);
	return -1;
}

int main(int argc, char **argv)
{
	static struct evgen g = {.duration = 1, .npairs = 2, .sig_fd = -1};
	tsk_config cfg = {.name = "evgen"};
	void *failed = (void *)1;
	int rc = parse_args(argc, argv, &g, &cfg);

	if (rc >= 0)
		return rc;
	if (!(g.pairs = calloc((size_t)g.npairs, sizeof(*g.pairs)))) {
		fprintf(stderr, "evgen: out of memory\n");
		return 1;
	}

	g.sig_fd = ex_signals_open("evgen", "program");

	rc = tsk_run(root, &g, &cfg, &failed);
	if (g.sig_fd >= 0)
		tsk_close(g.sig_fd);
	if (rc < 0) {
		fprintf(stderr, "evgen: tsk_run: %s\n", tsk_strerror(rc));
		free(g.pairs);
		return 1;
	}

	uint64_t rounds = 0;
	int status = failed ? 1 : 0;
	for (int i = 0; i < g.npairs; i++) {
		struct pair *p = &g.pairs[i];
		rounds += atomic_load(&p->rounds);
		if (p->err < 0) {
			fprintf(stderr, "evgen: pair %d: %s\n", i + 1,
			        p->err == -EPROTO ? "wrong echo" : tsk_strerror(p->err));
			status = 1;
		}
	}
	free(g.pairs);
	double secs = (double)(g.stop_ns - g.start_ns) / 1e9;
	printf("evgen: %" PRIu64 " round trips, ~%" PRIu64 " events in %.3f s (%.0f events/s)\n",
	       rounds, g.events, secs, secs > 0 ? (double)g.events / secs : 0.0);
	return status;
}
