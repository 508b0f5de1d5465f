/*
 * demo.c - a small job-processing service on the taskscope runtime.
 *
 * Three producers feed jobs into a bounded channel; a pool of workers takes
 * them, "works" on each (a short sleep standing in for I/O, a little
 * arithmetic for CPU), records results in a mutex-protected table and sends
 * a completion to a reporter.  The reporter waits with tsk_select on the
 * completions and a shutdown channel, with a deadline that doubles as a
 * progress ticker.  A wait group tells the root when the workers are done.
 *
 * It is the program `make demo` runs, and the shape of program the
 * inspector is built to watch: tasks in every state (running, ready,
 * blocked on a channel, a mutex, a wait group, a timer), parents and
 * children, resources with owners and waiters.
 *
 * Usage: demo [JOBS] [WORKERS]   (defaults 4000 jobs, 8 worker tasks)
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "taskscope.h"

#define NPRODUCERS 3

struct job {
	int id;
	int cost_us; /* simulated I/O time */
};

struct service {
	tsk_chan *jobs;     /* producers -> workers, bounded */
	tsk_chan *done;     /* workers -> reporter: completed job ids */
	tsk_chan *shutdown; /* root -> reporter */
	tsk_mutex *stats_lock;
	tsk_wg *workers_wg;
	tsk_wg *producers_wg;
	long processed;      /* under stats_lock */
	long checksum;       /* under stats_lock */
	long per_worker[64]; /* under stats_lock */
	int njobs, nworkers;
};

struct producer_arg {
	struct service *s;
	int first, count;
};

struct worker_arg {
	struct service *s;
	int index;
};

static void die(const char *what, int rc)
{
	fprintf(stderr, "demo: %s: %s (%s)\n", what, tsk_strerror(rc), tsk_errname(rc));
	exit(1);
}

static void *producer(void *p)
{
	struct producer_arg *a = p;
	tsk_set_state("producing");
	for (int i = 0; i < a->count; i++) {
		struct job j = {a->first + i, 500 + (a->first + i) % 7 * 700};
		int rc = tsk_chan_send(a->s->jobs, &j, TSK_FOREVER);
		if (rc < 0)
			die("send job", rc);
	}
	tsk_wg_done(a->s->producers_wg);
	return NULL;
}

static void *worker(void *p)
{
	struct worker_arg *a = p;
	struct service *s = a->s;
	struct job j;
	int rc;

	while ((rc = tsk_chan_recv(s->jobs, &j, TSK_FOREVER)) == 0) {
		tsk_set_state("io");
		tsk_sleep(tsk_now() + (int64_t)j.cost_us * 1000);
		tsk_set_state("compute");
		long h = j.id;
		for (int k = 0; k < 2000; k++)
			h = h * 6364136223846793005L + 1442695040888963407L;
		tsk_set_state("commit");
		if ((rc = tsk_mutex_lock(s->stats_lock, TSK_FOREVER)) < 0)
			die("lock stats", rc);
		s->processed++;
		s->checksum += j.id;
		s->per_worker[a->index % 64]++;
		tsk_mutex_unlock(s->stats_lock);
		tsk_set_state(NULL);
		if ((rc = tsk_chan_send(s->done, &j.id, TSK_FOREVER)) < 0)
			die("send done", rc);
	}
	if (rc != -EPIPE)
		die("recv job", rc);
	tsk_wg_done(s->workers_wg);
	return NULL;
}

static void *reporter(void *p)
{
	struct service *s = p;
	int id, stop = 0;
	long seen = 0;
	int64_t start = tsk_now(), tick = tsk_after_ms(250);

	for (;;) {
		tsk_case cases[2] = {
		        {.chan = s->done, .op = TSK_RECV, .elem = &id},
		        {.chan = s->shutdown, .op = TSK_RECV, .elem = &stop},
		};
		int rc = tsk_select(cases, 2, tick);
		if (rc == 0 && cases[0].result == 0) {
			seen++;
			continue;
		}
		if (rc == -ETIMEDOUT) {
			tick += 250 * 1000000;
			printf("  %6.2f s  %5ld jobs done\n", (double)(tsk_now() - start) / 1e9,
			       seen);
			continue;
		}
		break; /* shutdown, or a channel closed */
	}
	/* drain completions still buffered */
	while (tsk_chan_try_recv(s->done, &id) == 0)
		seen++;
	printf("  reporter saw %ld completions\n", seen);
	return (void *)seen;
}

static void *root(void *p)
{
	struct service *s = p;
	struct producer_arg pa[NPRODUCERS];
	struct worker_arg wa[64];
	tsk_task *rep;
	int rc;

	if ((rc = tsk_chan_create(&s->jobs, "jobs", sizeof(struct job), 32)) < 0 ||
	    (rc = tsk_chan_create(&s->done, "done", sizeof(int), TSK_UNBOUNDED)) < 0 ||
	    (rc = tsk_chan_create(&s->shutdown, "shutdown", sizeof(int), 1)) < 0 ||
	    (rc = tsk_mutex_create(&s->stats_lock, "stats")) < 0 ||
	    (rc = tsk_wg_create(&s->workers_wg, "workers")) < 0 ||
	    (rc = tsk_wg_create(&s->producers_wg, "producers")) < 0)
		die("create", rc);

	if ((rc = tsk_spawn(&rep, "reporter", reporter, s)) < 0)
		die("spawn reporter", rc);
	tsk_wg_add(s->workers_wg, s->nworkers);
	for (int i = 0; i < s->nworkers; i++) {
		wa[i] = (struct worker_arg){s, i};
		if ((rc = tsk_spawn(NULL, "worker", worker, &wa[i])) < 0)
			die("spawn worker", rc);
	}
	tsk_wg_add(s->producers_wg, NPRODUCERS);
	for (int i = 0; i < NPRODUCERS; i++) {
		int per = s->njobs / NPRODUCERS;
		pa[i] = (struct producer_arg){s, i * per,
		                              i == NPRODUCERS - 1 ? s->njobs - i * per : per};
		if ((rc = tsk_spawn(NULL, "producer", producer, &pa[i])) < 0)
			die("spawn producer", rc);
	}

	tsk_set_state("waiting for producers");
	tsk_wg_wait(s->producers_wg, TSK_FOREVER);
	tsk_chan_close(s->jobs); /* workers drain the queue, then see -EPIPE */
	tsk_set_state("waiting for workers");
	tsk_wg_wait(s->workers_wg, TSK_FOREVER);
	int one = 1;
	tsk_chan_send(s->shutdown, &one, TSK_FOREVER);
	void *seen;
	tsk_join(rep, &seen, TSK_FOREVER);

	tsk_chan_destroy(s->jobs);
	tsk_chan_destroy(s->done);
	tsk_chan_destroy(s->shutdown);
	tsk_mutex_destroy(s->stats_lock);
	tsk_wg_destroy(s->workers_wg);
	tsk_wg_destroy(s->producers_wg);
	return seen;
}

int main(int argc, char **argv)
{
	struct service s;
	memset(&s, 0, sizeof(s));
	s.njobs = argc > 1 ? atoi(argv[1]) : 4000;
	s.nworkers = argc > 2 ? atoi(argv[2]) : 8;
	if (s.njobs < 1 || s.nworkers < 1 || s.nworkers > 64) {
		fprintf(stderr, "usage: demo [JOBS>=1] [WORKERS 1..64]\n");
		return 2;
	}
	printf("demo: %d jobs, %d worker tasks, %d producers\n", s.njobs, s.nworkers, NPRODUCERS);
	void *seen;
	int64_t t0 = tsk_now();
	int rc = tsk_run(root, &s, NULL, &seen);
	if (rc < 0)
		die("tsk_run", rc);
	long expect = (long)s.njobs * (s.njobs - 1) / 2;
	printf("demo: processed %ld jobs in %.2f s, checksum %s, reporter saw %ld\n", s.processed,
	       (double)(tsk_now() - t0) / 1e9, s.checksum == expect ? "ok" : "WRONG", (long)seen);
	printf("demo: jobs per worker task:");
	for (int i = 0; i < s.nworkers; i++)
		printf(" %ld", s.per_worker[i]);
	printf("\n");
	return s.processed == s.njobs && s.checksum == expect && (long)seen == s.njobs ? 0 : 1;
}
