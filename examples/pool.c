/*
 * pool.c - a worker pool with a slow consumer on the taskscope runtime:
 * the shape of program where the inspector shows backpressure, a queue
 * that fills up and the one task everybody waits for.
 *
 *   producer --"jobs"--> worker-1..N --"results"--> consumer
 *                          |
 *                       mutex "stats"
 *
 *   producer  sends numbered jobs on "jobs" (bounded, 64): --jobs of them,
 *             or as many as it can for --duration seconds;
 *   worker-K  (N of them) fills a 16 KiB buffer from the job's number
 *             (xorshift64), checksums it (FNV-1a) in four pieces with a
 *             tsk_yield between them, adds the result to the shared
 *             statistics under the mutex "stats", and sends it on
 *             "results" (bounded, 4);
 *   consumer  takes the results one at a time and sleeps
 *             --consumer-delay-us for each: with a delay longer than a
 *             job's computation the workers spend their time blocked on
 *             "results" (label "waiting for consumer"), "jobs" fills up
 *             and the producer blocks on it in turn.
 * A wait group "workers" tells the root when the last worker is done; the
 * root then closes "results" and the consumer stops once it is drained.
 *
 * Every task says what it is doing with tsk_set_state ("producing",
 * "waiting for a job", "computing", "waiting for consumer", "consuming").
 *
 * The last line, on standard output, is
 *     pool: J jobs, N workers, checksum C, S s
 * where C is the sum (mod 2^64) of the jobs' checksums: it depends on the
 * number of jobs only, not on the order they finish in or which worker did
 * them.  The consumer's totals are checked against the workers'
 * statistics and the producer's count; a disagreement is exit status 1.
 *
 * SIGINT and SIGTERM (read from a signalfd by a task) stop it early and
 * cleanly: the producer stops, the jobs already queued are finished
 * (without the consumer's delay) and the summary covers them.
 *
 * Usage: pool [--workers N] [--jobs N] [--duration S] [--consumer-delay-us U]
 *             [--threads N]
 * Exit status: 0 success (also when stopped by a signal), 1 a runtime
 * error or totals that disagree, 2 bad usage.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ex_common.h"
#include "taskscope.h"

#define JOB_BYTES     16384 /* the buffer a job checksums */
#define JOB_PIECES    4     /* checksummed in this many pieces, a yield between */
#define JOBS_CAP      64    /* "jobs" capacity */
#define RESULTS_CAP   4     /* "results" capacity: small, so the workers back up */
#define MAX_WORKERS   1024
#define DEFAULT_JOBS  2000
#define DEFAULT_DELAY 200 /* us the consumer sleeps per result */
#define FNV_OFFSET    0xcbf29ce484222325ull
#define FNV_PRIME     0x100000001b3ull
#define TASK_NAME_LEN 24

/* workers -> consumer */
struct result {
	uint64_t job;      /* its number, 0, 1, 2... */
	uint64_t checksum; /* FNV-1a of its buffer */
	int worker;        /* 1..N */
};

struct pool;

struct worker {
	struct pool *p;
	tsk_task *task;
	int index;                /* 1..N */
	char name[TASK_NAME_LEN]; /* "worker-K" */
};

struct pool {
	/* options */
	int nworkers;
	long njobs;      /* < 0: no limit (--duration alone) */
	double duration; /* seconds, 0: none */
	long delay_us;   /* the consumer's sleep per result */
	/* plumbing */
	int sig_fd;           /* signalfd for SIGINT and SIGTERM, -1 if none */
	atomic_bool stopping; /* a signal came */
	tsk_chan *jobs;       /* uint64_t job numbers */
	tsk_chan *results;    /* struct result */
	tsk_mutex *stats;     /* guards the statistics below */
	tsk_wg *workers_wg;   /* workers still running */
	struct worker *workers;
	/* statistics, under stats */
	uint64_t done;        /* jobs computed */
	uint64_t sum;         /* of their checksums */
	uint64_t *per_worker; /* jobs per worker, [0, nworkers) */
	/* outcome */
	uint64_t produced;     /* jobs sent by the producer */
	uint64_t consumed;     /* results taken by the consumer */
	uint64_t consumed_sum; /* of their checksums */
	uint64_t consumed_ids; /* sum of their job numbers */
	atomic_int err;        /* the first runtime error, 0 none */
	const char *_Atomic err_what;
};

/* Records the first error; later ones are its consequences. */
static void fail(struct pool *p, const char *what, int rc)
{
	int none = 0;

	if (atomic_compare_exchange_strong(&p->err, &none, rc))
		atomic_store(&p->err_what, what);
}

/* ---- the work ------------------------------------------------------------ */

/* The buffer of job `job': xorshift64 from a seed made of the number. */
static void job_fill(uint64_t job, unsigned char *buf)
{
	uint64_t x = (job + 1) * 0x9E3779B97F4A7C15ull;

	for (size_t i = 0; i < JOB_BYTES; i += sizeof(x)) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		memcpy(buf + i, &x, sizeof(x));
	}
}

static uint64_t fnv(uint64_t h, const unsigned char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		h = (h ^ s[i]) * FNV_PRIME;
	return h;
}

/* ---- tasks ---------------------------------------------------------------- */

static void *producer(void *arg)
{
	struct pool *p = arg;
	int64_t end = p->duration > 0 ? tsk_now() + (int64_t)(p->duration * 1e9) : TSK_FOREVER;
	int rc = 0;

	tsk_set_state("producing");
	for (uint64_t job = 0; p->njobs < 0 || job < (uint64_t)p->njobs; job++) {
		if (end != TSK_FOREVER && tsk_now() >= end)
			break;
		if ((rc = tsk_chan_send(p->jobs, &job, end)) < 0)
			break;
		p->produced++;
	}
	/* -ETIMEDOUT: the duration is over; -EPIPE: a signal closed "jobs" */
	if (rc < 0 && rc != -ETIMEDOUT && rc != -EPIPE)
		fail(p, "send a job", rc);
	tsk_chan_close(p->jobs); /* the workers drain it, then stop */
	return NULL;
}

static void *worker(void *arg)
{
	struct worker *w = arg;
	struct pool *p = w->p;
	unsigned char *buf = malloc(JOB_BYTES);
	uint64_t job;
	int rc = buf ? 0 : -ENOMEM;

	while (rc == 0) {
		tsk_set_state("waiting for a job");
		if ((rc = tsk_chan_recv(p->jobs, &job, TSK_FOREVER)) < 0)
			break;
		tsk_set_state("computing");
		struct result r = {.job = job, .checksum = FNV_OFFSET, .worker = w->index};
		job_fill(job, buf);
		for (int i = 0; i < JOB_PIECES && rc == 0; i++) {
			const size_t piece = JOB_BYTES / JOB_PIECES;
			r.checksum = fnv(r.checksum, buf + i * piece, piece);
			if (i + 1 < JOB_PIECES)
				rc = tsk_yield(); /* let the others in between pieces */
		}
		if (rc == 0 && (rc = tsk_mutex_lock(p->stats, TSK_FOREVER)) == 0) {
			p->done++;
			p->sum += r.checksum;
			p->per_worker[w->index - 1]++;
			tsk_mutex_unlock(p->stats);
		}
		tsk_set_state("waiting for consumer");
		if (rc == 0)
			rc = tsk_chan_send(p->results, &r, TSK_FOREVER);
	}
	if (rc != -EPIPE) /* -EPIPE: "jobs" closed and drained, the normal end */
		fail(p, "compute a job", rc);
	free(buf);
	tsk_wg_done(p->workers_wg);
	return NULL;
}

static void *consumer(void *arg)
{
	struct pool *p = arg;
	struct result r;
	int rc;

	for (;;) {
		tsk_set_state("waiting for a result");
		if ((rc = tsk_chan_recv(p->results, &r, TSK_FOREVER)) < 0)
			break;
		tsk_set_state("consuming");
		if (p->delay_us > 0 && !atomic_load(&p->stopping) &&
		    (rc = tsk_sleep(tsk_now() + p->delay_us * 1000)) < 0)
			break;
		p->consumed++;
		p->consumed_sum += r.checksum;
		p->consumed_ids += r.job;
	}
	if (rc != -EPIPE) { /* -EPIPE: closed by the root once the workers are done */
		fail(p, "consume a result", rc);
		/* the workers' sends fail and they stop; so does the producer */
		tsk_chan_close(p->results);
		tsk_chan_close(p->jobs);
	}
	return NULL;
}

/* Waits for SIGINT or SIGTERM, then stops the producer by closing "jobs".
 * Cancelled by the root when the pool ends by itself. */
static void *signal_task(void *arg)
{
	struct pool *p = arg;

	if (ex_signal_wait(p->sig_fd, "pool")) {
		atomic_store(&p->stopping, true);
		tsk_chan_close(p->jobs);
	}
	return NULL;
}

/* ---- root ------------------------------------------------------------------ */

static void *root(void *arg)
{
	struct pool *p = arg;
	tsk_task *sigtask = NULL, *prod = NULL, *cons = NULL;
	int rc, nstarted = 0;

	if ((rc = tsk_chan_create(&p->jobs, "jobs", sizeof(uint64_t), JOBS_CAP)) < 0 ||
	    (rc = tsk_chan_create(&p->results, "results", sizeof(struct result), RESULTS_CAP)) <
	            0 ||
	    (rc = tsk_mutex_create(&p->stats, "stats")) < 0 ||
	    (rc = tsk_wg_create(&p->workers_wg, "workers")) < 0) {
		fail(p, "create the channels", rc);
		goto fail_create;
	}
	ex_signals_spawn(&sigtask, p->sig_fd, signal_task, p, "pool", "program");
	if ((rc = tsk_spawn(&cons, "consumer", consumer, p)) < 0)
		goto fail_spawn;
	tsk_wg_add(p->workers_wg, p->nworkers);
	for (; nstarted < p->nworkers; nstarted++) {
		struct worker *w = &p->workers[nstarted];
		*w = (struct worker){.p = p, .index = nstarted + 1};
		snprintf(w->name, sizeof(w->name), "worker-%d", w->index);
		if ((rc = tsk_spawn(&w->task, w->name, worker, w)) < 0) {
			tsk_wg_add(p->workers_wg, -(p->nworkers - nstarted));
			goto fail_spawn;
		}
	}
	if ((rc = tsk_spawn(&prod, "producer", producer, p)) < 0)
		goto fail_spawn;

	tsk_set_state("waiting for the workers");
	tsk_wg_wait(p->workers_wg, TSK_FOREVER);
	tsk_chan_close(p->results); /* the consumer drains it and stops */
	goto join;

fail_spawn:
	fail(p, "spawn a task", rc);
	tsk_chan_close(p->jobs); /* whatever was started stops */
	tsk_wg_wait(p->workers_wg, TSK_FOREVER);
	tsk_chan_close(p->results);
join:
	tsk_set_state("joining");
	if (prod)
		tsk_join(prod, NULL, TSK_FOREVER);
	for (int i = 0; i < nstarted; i++)
		tsk_join(p->workers[i].task, NULL, TSK_FOREVER);
	if (cons)
		tsk_join(cons, NULL, TSK_FOREVER);
	ex_task_stop(sigtask);
fail_create:
	tsk_chan_destroy(p->jobs);
	tsk_chan_destroy(p->results);
	tsk_mutex_destroy(p->stats);
	tsk_wg_destroy(p->workers_wg);
	return NULL;
}

/* ---- command line ------------------------------------------------------------- */

static void usage(void)
{
	printf("usage: pool [--workers N] [--jobs N] [--duration S] [--consumer-delay-us U]\n"
	       "            [--threads N]\n"
	       "\n"
	       "A pool of worker tasks checksumming jobs for one slow consumer: the workers\n"
	       "back up on the small \"results\" channel, the \"jobs\" channel fills up.\n"
	       "\n"
	       "  --workers N            worker tasks, 1..%d (default 4)\n"
	       "  --jobs N               jobs to do (default %d, or no limit with --duration)\n"
	       "  --duration S           produce jobs for S seconds (decimals allowed)\n"
	       "  --consumer-delay-us U  the consumer's sleep per result (default %d)\n"
	       "  --threads N            worker threads of the runtime (default: one per CPU)\n"
	       "  --help                 this text\n"
	       "\n"
	       "Prints \"pool: J jobs, N workers, checksum C, S s\" at the end.  SIGINT or\n"
	       "SIGTERM stop it early: the jobs queued are finished, then the summary.\n"
	       "Exit status: 0 success, 1 a runtime error or totals that disagree, 2 bad usage.\n",
	       MAX_WORKERS, DEFAULT_JOBS, DEFAULT_DELAY);
}

/* Parses the command line.  Returns -1 to go on, or an exit status (0
 * after --help, 2 after an error, which it has printed). */
static int parse_args(int argc, char **argv, struct pool *p, tsk_config *cfg)
{
	static const struct option opts[] = {
	        {"workers", required_argument, NULL, 'w'},
	        {"jobs", required_argument, NULL, 'j'},
	        {"duration", required_argument, NULL, 'd'},
	        {"consumer-delay-us", required_argument, NULL, 'c'},
	        {"threads", required_argument, NULL, 't'},
	        {"help", no_argument, NULL, 'h'},
	        {NULL, 0, NULL, 0},
	};
	bool jobs_set = false;
	long v;
	int o;

	opterr = 0;
	while ((o = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		bool ok = true;
		switch (o) {
		case 'w':
			ok = ex_parse_long(optarg, 1, MAX_WORKERS, &v);
			p->nworkers = (int)v;
			break;
		case 'j':
			ok = ex_parse_long(optarg, 0, 1000000000000L, &p->njobs);
			jobs_set = true;
			break;
		case 'd':
			ok = ex_parse_double(optarg, 0.001, 86400, &p->duration);
			break;
		case 'c':
			ok = ex_parse_long(optarg, 0, 60000000, &p->delay_us);
			break;
		case 't':
			ok = ex_parse_long(optarg, 1, 1024, &v);
			cfg->workers = (int)v;
			break;
		case 'h':
			usage();
			return 0;
		default:
			return ex_bad_option("pool", argv);
		}
		if (!ok)
			return ex_bad_value("pool", argv);
	}
	if (optind < argc)
		return ex_unexpected_arg("pool", argv[optind]);
	if (!jobs_set)
		p->njobs = p->duration > 0 ? -1 : DEFAULT_JOBS;
	return -1;
}

/* The totals of the workers, the consumer and the producer agree. */
static bool totals_agree(const struct pool *p)
{
	uint64_t n = p->produced, per = 0;

	for (int i = 0; i < p->nworkers; i++)
		per += p->per_worker[i];
	return p->done == n && per == n && p->consumed == n && p->consumed_sum == p->sum &&
	       p->consumed_ids == (n ? n * (n - 1) / 2 : 0);
}

int main(int argc, char **argv)
{
	static struct pool p = {.nworkers = 4, .delay_us = DEFAULT_DELAY, .sig_fd = -1};
	tsk_config cfg = {.name = "pool"};
	int rc = parse_args(argc, argv, &p, &cfg);

	if (rc >= 0)
		return rc;
	p.workers = calloc((size_t)p.nworkers, sizeof(*p.workers));
	p.per_worker = calloc((size_t)p.nworkers, sizeof(*p.per_worker));
	if (!p.workers || !p.per_worker) {
		fprintf(stderr, "pool: out of memory\n");
		return 1;
	}

	p.sig_fd = ex_signals_open("pool", "program");

	int64_t t0 = tsk_now();
	rc = tsk_run(root, &p, &cfg, NULL);
	double secs = (double)(tsk_now() - t0) / 1e9;
	if (p.sig_fd >= 0)
		tsk_close(p.sig_fd);
	int status = 0;
	if (rc < 0) {
		fprintf(stderr, "pool: tsk_run: %s\n", tsk_strerror(rc));
		status = 1;
	} else if (atomic_load(&p.err)) {
		fprintf(stderr, "pool: %s: %s\n", atomic_load(&p.err_what),
		        tsk_strerror(atomic_load(&p.err)));
		status = 1;
	} else if (!totals_agree(&p)) {
		fprintf(stderr,
		        "pool: the totals disagree: %" PRIu64 " jobs produced, %" PRIu64
		        " computed, %" PRIu64 " consumed\n",
		        p.produced, p.done, p.consumed);
		status = 1;
	} else {
		printf("pool: %" PRIu64 " jobs, %d workers, checksum %016" PRIx64 ", %.3f s\n",
		       p.done, p.nworkers, p.sum, secs);
	}
	free(p.workers);
	free(p.per_worker);
	return status;
}
