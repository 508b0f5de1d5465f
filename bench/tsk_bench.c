/*
 * tsk_bench.c - the taskscope side of the runtime benchmarks.
 *
 * The same shapes as pthread_bench.c and go/main.go, written against the
 * public API only (taskscope.h):
 *
 *     tsk_bench SHAPE [ITERS] [WORKERS]
 *
 * WORKERS goes to tsk_config.workers; stacks keep the default size.  The
 * whole benchmark runs inside one tsk_run: the root task does the warm-up
 * (ITERS/10) and then the timed run, except for idle_mem, which measures
 * a fresh runtime.  Every tsk_ call is checked: a benchmark that hits an
 * error exits with status 1 rather than print a number.  Shapes and units
 * are described in bench/README.md.
 *
 * BENCH_START_GATE=path makes the root wait (up to 10 s) until path exists
 * before it starts: probe_stream.c sets it and creates the file once its
 * stream-mode reader is attached to this process's probe segment.
 */
#define _GNU_SOURCE
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bench_util.h"
#include "taskscope.h"

#define BATCH     1000 /* tasks per round of spawn_batch */
#define CHAN_CAP  128  /* capacity of the channel of chan_PxC */
#define MAX_PEERS 64   /* producers, consumers or mutex contenders */

/* Dies unless rc (a tsk_ return code) is 0. */
static void ok(int rc, const char *what)
{
	if (rc != 0)
		bench_die("%s: %s (%d)", what, tsk_errname(rc), rc);
}

static tsk_task *spawn(const char *name, void *(*fn)(void *), void *arg)
{
	tsk_task *t;
	ok(tsk_spawn(&t, name, fn, arg), "tsk_spawn");
	return t;
}

static void join(tsk_task *t)
{
	ok(tsk_join(t, NULL, TSK_FOREVER), "tsk_join");
}

/* ---- yield ------------------------------------------------------------ */

static void *yield_loop(void *arg)
{
	long n = *(long *)arg;
	for (long i = 0; i < n; i++)
		ok(tsk_yield(), "tsk_yield");
	return NULL;
}

/* Two tasks each calling tsk_yield() n times: ns per yield call. */
static double run_yield(long n)
{
	int64_t t0 = tsk_now();
	tsk_task *a = spawn("yield_a", yield_loop, &n), *b = spawn("yield_b", yield_loop, &n);
	join(a);
	join(b);
	return (double)(tsk_now() - t0) / (2.0 * (double)n);
}

/* ---- spawn + join ------------------------------------------------------ */

static void *nop(void *arg)
{
	return arg;
}

/* Spawn a task that returns at once and join it, n times: ns per task. */
static double run_spawn_join(long n)
{
	int64_t t0 = tsk_now();
	for (long i = 0; i < n; i++)
		join(spawn("nop", nop, NULL));
	return (double)(tsk_now() - t0) / (double)n;
}

/* Rounds of BATCH spawns followed by BATCH joins: ns per task. */
static double run_spawn_batch(long n)
{
	static tsk_task *tasks[BATCH];
	long rounds = n / BATCH > 0 ? n / BATCH : 1;
	int64_t t0 = tsk_now();
	for (long r = 0; r < rounds; r++) {
		for (int i = 0; i < BATCH; i++)
			tasks[i] = spawn("nop", nop, NULL);
		for (int i = 0; i < BATCH; i++)
			join(tasks[i]);
	}
	return (double)(tsk_now() - t0) / (double)(rounds * BATCH);
}

/* ---- ping-pong ---------------------------------------------------------- */

typedef struct pingpong {
	tsk_chan *ping, *pong; /* rendezvous channels of int64_t */
	long n;
} pingpong;

static void *ponger(void *arg)
{
	pingpong *p = arg;
	int64_t v;
	for (long i = 0; i < p->n; i++) {
		ok(tsk_chan_recv(p->ping, &v, TSK_FOREVER), "tsk_chan_recv");
		v++;
		ok(tsk_chan_send(p->pong, &v, TSK_FOREVER), "tsk_chan_send");
	}
	return NULL;
}

/* The root bounces a counter off another task over two capacity-0
 * channels: ns per round trip. */
static double run_pingpong(long n)
{
	pingpong p = {.n = n};
	int64_t t0, v = 0;
	tsk_task *t;
	ok(tsk_chan_create(&p.ping, "ping", sizeof(int64_t), 0), "tsk_chan_create");
	ok(tsk_chan_create(&p.pong, "pong", sizeof(int64_t), 0), "tsk_chan_create");
	t0 = tsk_now();
	t = spawn("ponger", ponger, &p);
	for (long i = 0; i < n; i++) {
		ok(tsk_chan_send(p.ping, &v, TSK_FOREVER), "tsk_chan_send");
		ok(tsk_chan_recv(p.pong, &v, TSK_FOREVER), "tsk_chan_recv");
	}
	join(t);
	t0 = tsk_now() - t0;
	if (v != n)
		bench_die("pingpong: counter %lld, want %ld", (long long)v, n);
	ok(tsk_chan_destroy(p.ping), "tsk_chan_destroy");
	ok(tsk_chan_destroy(p.pong), "tsk_chan_destroy");
	return (double)t0 / (double)n;
}

/* ---- bounded channel throughput ----------------------------------------- */

typedef struct peer {
	tsk_chan *c;
	long first, count; /* producer: values first..first+count-1 */
	int64_t sum, got;  /* consumer: what it received */
} peer;

static void *producer(void *arg)
{
	peer *p = arg;
	for (long i = 0; i < p->count; i++) {
		int64_t v = p->first + i;
		ok(tsk_chan_send(p->c, &v, TSK_FOREVER), "tsk_chan_send");
	}
	return NULL;
}

static void *consumer(void *arg)
{
	peer *p = arg;
	int64_t v;
	int rc;
	while ((rc = tsk_chan_recv(p->c, &v, TSK_FOREVER)) == 0) {
		p->sum += v;
		p->got++;
	}
	if (rc != -EPIPE)
		ok(rc, "tsk_chan_recv");
	return NULL;
}

/* np producers send n values in all through a channel of capacity CHAN_CAP
 * to nc consumers: messages per second. */
static double run_chan(long n, int np, int nc)
{
	peer prod[MAX_PEERS], cons[MAX_PEERS];
	tsk_task *pt[MAX_PEERS], *ct[MAX_PEERS];
	tsk_chan *c;
	int64_t t0, sum = 0, got = 0;
	ok(tsk_chan_create(&c, "queue", sizeof(int64_t), CHAN_CAP), "tsk_chan_create");
	t0 = tsk_now();
	for (int i = 0; i < nc; i++) {
		cons[i] = (peer){.c = c};
		ct[i] = spawn("consumer", consumer, &cons[i]);
	}
	for (int i = 0; i < np; i++) {
		prod[i] = (peer){.c = c, .first = n / np * i, .count = n / np};
		if (i == np - 1)
			prod[i].count = n - prod[i].first;
		pt[i] = spawn("producer", producer, &prod[i]);
	}
	for (int i = 0; i < np; i++)
		join(pt[i]);
	ok(tsk_chan_close(c), "tsk_chan_close");
	for (int i = 0; i < nc; i++) {
		join(ct[i]);
		sum += cons[i].sum;
		got += cons[i].got;
	}
	t0 = tsk_now() - t0;
	if (got != n || sum != (int64_t)n * (n - 1) / 2)
		bench_die("chan: got %lld messages summing to %lld", (long long)got,
		          (long long)sum);
	ok(tsk_chan_destroy(c), "tsk_chan_destroy");
	return (double)n * 1e9 / (double)t0;
}

/* ---- mutex contention -------------------------------------------------- */

typedef struct contended {
	tsk_mutex *mu;
	long counter, per_task;
} contended;

static void *locker(void *arg)
{
	contended *c = arg;
	for (long i = 0; i < c->per_task; i++) {
		ok(tsk_mutex_lock(c->mu, TSK_FOREVER), "tsk_mutex_lock");
		c->counter++;
		ok(tsk_mutex_unlock(c->mu), "tsk_mutex_unlock");
	}
	return NULL;
}

/* k tasks share n lock/increment/unlock rounds: ns per lock+unlock. */
static double run_mutex(long n, int k)
{
	contended c = {.per_task = n / k};
	tsk_task *t[MAX_PEERS];
	int64_t t0;
	ok(tsk_mutex_create(&c.mu, "counter"), "tsk_mutex_create");
	t0 = tsk_now();
	for (int i = 0; i < k; i++)
		t[i] = spawn("locker", locker, &c);
	for (int i = 0; i < k; i++)
		join(t[i]);
	t0 = tsk_now() - t0;
	if (c.counter != c.per_task * k)
		bench_die("mutex: counter %ld, want %ld", c.counter, c.per_task * k);
	ok(tsk_mutex_destroy(c.mu), "tsk_mutex_destroy");
	return (double)t0 / (double)(c.per_task * k);
}

/* ---- memory per idle blocked task -------------------------------------- */

typedef struct idle {
	tsk_chan *c;       /* nobody sends; closed to release the tasks */
	tsk_wg *done;      /* counts tasks that have not yet returned */
	atomic_long ready; /* tasks that reached their receive */
} idle;

static void *idler(void *arg)
{
	idle *s = arg;
	int64_t v;
	int rc;
	atomic_fetch_add_explicit(&s->ready, 1, memory_order_relaxed);
	rc = tsk_chan_recv(s->c, &v, TSK_FOREVER);
	if (rc != -EPIPE)
		bench_die("idle_mem: recv returned %s, want EPIPE", tsk_errname(rc));
	ok(tsk_wg_done(s->done), "tsk_wg_done");
	return NULL;
}

/* n detached tasks block on one channel receive: resident bytes per task.
 * The baseline is taken inside the root, so the runtime's own start-up
 * memory (workers, the probe segment header) is not counted, but
 * everything a task adds is: its stack pages, its control block and its
 * slot in the probe segment. */
static double run_idle_mem(long n)
{
	idle s = {.ready = 0};
	bench_rss r0, r1;
	int64_t t0, t_parked, t_release;
	ok(tsk_chan_create(&s.c, "idle", sizeof(int64_t), 0), "tsk_chan_create");
	ok(tsk_wg_create(&s.done, "idle"), "tsk_wg_create");
	ok(tsk_wg_add(s.done, (int)n), "tsk_wg_add");
	r0 = bench_rss_now();
	t0 = tsk_now();
	for (long i = 0; i < n; i++)
		ok(tsk_spawn(NULL, "idle", idler, &s), "tsk_spawn");
	while (atomic_load_explicit(&s.ready, memory_order_relaxed) < n)
		ok(tsk_sleep(tsk_after_ms(1)), "tsk_sleep");
	t_parked = tsk_now() - t0;
	ok(tsk_sleep(tsk_after_ms(20)), "tsk_sleep"); /* let the last ones park */
	r1 = bench_rss_now();
	bench_info("idle_mem: %ld tasks: rss %+lld B (anon %+lld, shmem %+lld)", n,
	           (long long)(r1.total - r0.total), (long long)(r1.anon - r0.anon),
	           (long long)(r1.shmem - r0.shmem));
	t_release = tsk_now();
	ok(tsk_chan_close(s.c), "tsk_chan_close");
	ok(tsk_wg_wait(s.done, TSK_FOREVER), "tsk_wg_wait");
	t_release = tsk_now() - t_release;
	bench_info("idle_mem: spawn until all started %.0f ns/task, close until all returned "
	           "%.0f ns/task",
	           (double)t_parked / (double)n, (double)t_release / (double)n);
	ok(tsk_wg_destroy(s.done), "tsk_wg_destroy");
	ok(tsk_chan_destroy(s.c), "tsk_chan_destroy");
	return (double)(r1.total - r0.total) / (double)n;
}

/* ---- driver ------------------------------------------------------------ */

typedef struct job {
	const char *shape;
	long n;
} job;

static long warmup(long n)
{
	return n / 10 > 0 ? n / 10 : 1;
}

/* Waits for the file named by BENCH_START_GATE, if set (see the top). */
static void wait_start_gate(void)
{
	const char *gate = getenv("BENCH_START_GATE");
	for (int ms = 0; gate && access(gate, F_OK) != 0; ms++) {
		if (ms == 10000)
			bench_die("start gate %s not opened after 10 s", gate);
		ok(tsk_sleep(tsk_after_ms(1)), "tsk_sleep");
	}
}

/* The root task: runs the shape named in the job, prints its RESULT line
 * and returns NULL, or (void *)1 for an unknown shape. */
static void *root(void *arg)
{
	const job *j = arg;
	const char *shape = j->shape;
	long n = j->n;
	int a, b;
	char tail;

	wait_start_gate();
	if (strcmp(shape, "yield") == 0) {
		run_yield(warmup(n));
		bench_result(shape, run_yield(n), "ns/yield");
	} else if (strcmp(shape, "spawn_join") == 0) {
		run_spawn_join(warmup(n));
		bench_result(shape, run_spawn_join(n), "ns/task");
	} else if (strcmp(shape, "spawn_batch") == 0) {
		run_spawn_batch(warmup(n));
		bench_result(shape, run_spawn_batch(n), "ns/task");
	} else if (strcmp(shape, "pingpong") == 0) {
		run_pingpong(warmup(n));
		bench_result(shape, run_pingpong(n), "ns/roundtrip");
	} else if (sscanf(shape, "chan_%dx%d%c", &a, &b, &tail) == 2 && a > 0 && b > 0 &&
	           a <= MAX_PEERS && b <= MAX_PEERS) {
		run_chan(warmup(n), a, b);
		bench_result(shape, run_chan(n, a, b), "msgs/s");
	} else if (sscanf(shape, "mutex_%d%c", &a, &tail) == 1 && a > 0 && a <= MAX_PEERS) {
		run_mutex(warmup(n), a);
		bench_result(shape, run_mutex(n, a), "ns/op");
	} else if (strcmp(shape, "idle_mem") == 0 && n <= INT32_MAX) {
		bench_result(shape, run_idle_mem(n), "B/task");
	} else {
		return (void *)1;
	}
	return NULL;
}

int main(int argc, char **argv)
{
	job j = {argc > 1 ? argv[1] : "", bench_arg(argc, argv, 2, 1000000)};
	tsk_config cfg = {.workers = (int)bench_arg(argc, argv, 3, 2), .name = "tsk_bench"};
	void *bad = NULL;
	int rc = tsk_run(root, &j, &cfg, &bad);

	if (rc != 0)
		bench_die("tsk_run: %s (%d)", tsk_errname(rc), rc);
	if (bad != NULL) {
		fprintf(stderr,
		        "usage: %s SHAPE [ITERS] [WORKERS]\n"
		        "shapes: yield spawn_join spawn_batch pingpong chan_PxC mutex_K idle_mem\n",
		        argv[0]);
		return 2;
	}
	return 0;
}
