/*
 * pthread_bench.c - the pthreads baseline for the runtime benchmarks.
 *
 * The same shapes as tsk_bench.c and go/main.go, written the way a C
 * programmer would without a task runtime: one kernel thread per task,
 * glibc's default mutex (PTHREAD_MUTEX_NORMAL) and condition variables.
 *
 *     pthread_bench SHAPE [ITERS] [WORKERS]
 *
 * WORKERS is the number of CPUs the threads may use: the process's CPU
 * affinity is set to CPUs 0..WORKERS-1 before any thread is created, so
 * WORKERS=1 pins every thread to CPU 0 (sched_yield then really switches
 * threads) and WORKERS=2 on a 2-CPU machine leaves the threads unpinned.
 * Shapes and their output are described in bench/README.md.  Every shape
 * runs a warm-up of ITERS/10 before the timed run, except idle_mem, which
 * must see a fresh process.
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <sched.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bench_util.h"

#define BATCH     1000 /* tasks per round of spawn_batch */
#define CHAN_CAP  128  /* capacity of the bounded queue of chan_PxC */
#define MAX_PEERS 64   /* producers, consumers or mutex contenders */

static void check(int rc, const char *what)
{
	if (rc != 0)
		bench_die("%s: %s", what, strerror(rc));
}

static pthread_t spawn(void *(*fn)(void *), void *arg)
{
	pthread_t t;
	check(pthread_create(&t, NULL, fn, arg), "pthread_create");
	return t;
}

static void join(pthread_t t)
{
	check(pthread_join(t, NULL), "pthread_join");
}

/* ---- yield ------------------------------------------------------------ */

static void *yield_loop(void *arg)
{
	long n = *(long *)arg;
	for (long i = 0; i < n; i++)
		sched_yield();
	return NULL;
}

/* Two threads each calling sched_yield() n times: ns per yield call. */
static double run_yield(long n)
{
	int64_t t0 = bench_now_ns();
	pthread_t a = spawn(yield_loop, &n), b = spawn(yield_loop, &n);
	join(a);
	join(b);
	return (double)(bench_now_ns() - t0) / (2.0 * (double)n);
}

/* ---- spawn + join ------------------------------------------------------ */

static void *nop(void *arg)
{
	return arg;
}

/* pthread_create + pthread_join, one at a time: ns per thread. */
static double run_spawn_join(long n)
{
	int64_t t0 = bench_now_ns();
	for (long i = 0; i < n; i++)
		join(spawn(nop, NULL));
	return (double)(bench_now_ns() - t0) / (double)n;
}

/* Rounds of BATCH creates followed by BATCH joins: ns per thread. */
static double run_spawn_batch(long n)
{
	static pthread_t threads[BATCH];
	long rounds = n / BATCH > 0 ? n / BATCH : 1;
	int64_t t0 = bench_now_ns();
	for (long r = 0; r < rounds; r++) {
		for (int i = 0; i < BATCH; i++)
			threads[i] = spawn(nop, NULL);
		for (int i = 0; i < BATCH; i++)
			join(threads[i]);
	}
	return (double)(bench_now_ns() - t0) / (double)(rounds * BATCH);
}

/* ---- ping-pong ---------------------------------------------------------- */

/* A one-slot mailbox: the mutex+condvar equivalent of a channel when each
 * side waits for the reply before sending again (the slot is then never
 * full when a sender arrives, so it behaves as a rendezvous).  One
 * condvar suffices: the writer waits for "empty", the reader for "full",
 * and both can never wait at once. */
typedef struct mailbox {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	bool full;
	int64_t value;
} mailbox;

static void mailbox_init(mailbox *m)
{
	check(pthread_mutex_init(&m->mu, NULL), "pthread_mutex_init");
	check(pthread_cond_init(&m->cv, NULL), "pthread_cond_init");
	m->full = false;
}

static void mailbox_fini(mailbox *m)
{
	pthread_cond_destroy(&m->cv);
	pthread_mutex_destroy(&m->mu);
}

static void mailbox_put(mailbox *m, int64_t v)
{
	pthread_mutex_lock(&m->mu);
	while (m->full)
		pthread_cond_wait(&m->cv, &m->mu);
	m->value = v;
	m->full = true;
	pthread_cond_signal(&m->cv);
	pthread_mutex_unlock(&m->mu);
}

static int64_t mailbox_take(mailbox *m)
{
	int64_t v;
	pthread_mutex_lock(&m->mu);
	while (!m->full)
		pthread_cond_wait(&m->cv, &m->mu);
	v = m->value;
	m->full = false;
	pthread_cond_signal(&m->cv);
	pthread_mutex_unlock(&m->mu);
	return v;
}

typedef struct pingpong {
	mailbox ping, pong;
	long n;
} pingpong;

static void *ponger(void *arg)
{
	pingpong *p = arg;
	for (long i = 0; i < p->n; i++)
		mailbox_put(&p->pong, mailbox_take(&p->ping) + 1);
	return NULL;
}

/* The main thread bounces a counter off a second thread: ns per round trip. */
static double run_pingpong(long n)
{
	pingpong p = {.n = n};
	int64_t t0, v = 0;
	pthread_t t;
	mailbox_init(&p.ping);
	mailbox_init(&p.pong);
	t0 = bench_now_ns();
	t = spawn(ponger, &p);
	for (long i = 0; i < n; i++) {
		mailbox_put(&p.ping, v);
		v = mailbox_take(&p.pong);
	}
	join(t);
	t0 = bench_now_ns() - t0;
	if (v != n)
		bench_die("pingpong: counter %lld, want %ld", (long long)v, n);
	mailbox_fini(&p.ping);
	mailbox_fini(&p.pong);
	return (double)t0 / (double)n;
}

/* ---- bounded channel throughput ----------------------------------------- */

/* The textbook bounded queue: one mutex, "not full" and "not empty"
 * condvars, a ring of CHAN_CAP elements and a closed flag. */
typedef struct bqueue {
	pthread_mutex_t mu;
	pthread_cond_t not_full, not_empty;
	int64_t buf[CHAN_CAP];
	size_t head, len;
	bool closed;
} bqueue;

static void bq_push(bqueue *q, int64_t v)
{
	pthread_mutex_lock(&q->mu);
	while (q->len == CHAN_CAP)
		pthread_cond_wait(&q->not_full, &q->mu);
	q->buf[(q->head + q->len) % CHAN_CAP] = v;
	q->len++;
	pthread_cond_signal(&q->not_empty);
	pthread_mutex_unlock(&q->mu);
}

/* Returns false once the queue is closed and drained. */
static bool bq_pop(bqueue *q, int64_t *v)
{
	pthread_mutex_lock(&q->mu);
	while (q->len == 0 && !q->closed)
		pthread_cond_wait(&q->not_empty, &q->mu);
	if (q->len == 0) {
		pthread_mutex_unlock(&q->mu);
		return false;
	}
	*v = q->buf[q->head];
	q->head = (q->head + 1) % CHAN_CAP;
	q->len--;
	pthread_cond_signal(&q->not_full);
	pthread_mutex_unlock(&q->mu);
	return true;
}

static void bq_close(bqueue *q)
{
	pthread_mutex_lock(&q->mu);
	q->closed = true;
	pthread_cond_broadcast(&q->not_empty);
	pthread_cond_broadcast(&q->not_full);
	pthread_mutex_unlock(&q->mu);
}

typedef struct peer {
	bqueue *q;
	long first, count; /* producer: values first..first+count-1 */
	int64_t sum, got;  /* consumer: what it received */
} peer;

static void *producer(void *arg)
{
	peer *p = arg;
	for (long i = 0; i < p->count; i++)
		bq_push(p->q, p->first + i);
	return NULL;
}

static void *consumer(void *arg)
{
	peer *p = arg;
	int64_t v;
	while (bq_pop(p->q, &v)) {
		p->sum += v;
		p->got++;
	}
	return NULL;
}

/* np producers send n values in all to nc consumers: messages per second. */
static double run_chan(long n, int np, int nc)
{
	static bqueue q;
	peer prod[MAX_PEERS], cons[MAX_PEERS];
	pthread_t pt[MAX_PEERS], ct[MAX_PEERS];
	int64_t t0, sum = 0, got = 0;
	memset(&q, 0, sizeof q);
	check(pthread_mutex_init(&q.mu, NULL), "pthread_mutex_init");
	check(pthread_cond_init(&q.not_full, NULL), "pthread_cond_init");
	check(pthread_cond_init(&q.not_empty, NULL), "pthread_cond_init");
	t0 = bench_now_ns();
	for (int i = 0; i < nc; i++) {
		cons[i] = (peer){.q = &q};
		ct[i] = spawn(consumer, &cons[i]);
	}
	for (int i = 0; i < np; i++) {
		prod[i] = (peer){.q = &q, .first = n / np * i, .count = n / np};
		if (i == np - 1)
			prod[i].count = n - prod[i].first;
		pt[i] = spawn(producer, &prod[i]);
	}
	for (int i = 0; i < np; i++)
		join(pt[i]);
	bq_close(&q);
	for (int i = 0; i < nc; i++) {
		join(ct[i]);
		sum += cons[i].sum;
		got += cons[i].got;
	}
	t0 = bench_now_ns() - t0;
	if (got != n || sum != (int64_t)n * (n - 1) / 2)
		bench_die("chan: got %lld messages summing to %lld", (long long)got,
		          (long long)sum);
	pthread_cond_destroy(&q.not_empty);
	pthread_cond_destroy(&q.not_full);
	pthread_mutex_destroy(&q.mu);
	return (double)n * 1e9 / (double)t0;
}

/* ---- mutex contention -------------------------------------------------- */

typedef struct contended {
	pthread_mutex_t mu;
	long counter, per_thread;
} contended;

static void *locker(void *arg)
{
	contended *c = arg;
	for (long i = 0; i < c->per_thread; i++) {
		pthread_mutex_lock(&c->mu);
		c->counter++;
		pthread_mutex_unlock(&c->mu);
	}
	return NULL;
}

/* k threads share n lock/increment/unlock rounds: ns per lock+unlock. */
static double run_mutex(long n, int k)
{
	contended c = {.per_thread = n / k};
	pthread_t t[MAX_PEERS];
	int64_t t0;
	check(pthread_mutex_init(&c.mu, NULL), "pthread_mutex_init");
	t0 = bench_now_ns();
	for (int i = 0; i < k; i++)
		t[i] = spawn(locker, &c);
	for (int i = 0; i < k; i++)
		join(t[i]);
	t0 = bench_now_ns() - t0;
	if (c.counter != c.per_thread * k)
		bench_die("mutex: counter %ld, want %ld", c.counter, c.per_thread * k);
	pthread_mutex_destroy(&c.mu);
	return (double)t0 / (double)(c.per_thread * k);
}

/* ---- memory per idle blocked thread ------------------------------------ */

static struct {
	pthread_mutex_t mu;
	pthread_cond_t ready_cv, go_cv;
	long ready;
	bool go;
} idle = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, PTHREAD_COND_INITIALIZER, 0, false};

static void *idler(void *arg)
{
	long n = *(long *)arg;
	pthread_mutex_lock(&idle.mu);
	if (++idle.ready == n)
		pthread_cond_signal(&idle.ready_cv);
	while (!idle.go)
		pthread_cond_wait(&idle.go_cv, &idle.mu);
	pthread_mutex_unlock(&idle.mu);
	return NULL;
}

/* n threads with the default stack block on one condvar: resident bytes
 * per thread.  Kernel memory (the 16 KiB kernel stack and task_struct of
 * every thread) is not part of RSS; it is reported as INFO from
 * /proc/meminfo's KernelStack, which is system-wide. */
static double run_idle_mem(long n)
{
	pthread_t *t = malloc(sizeof *t * (size_t)n);
	bench_rss r0, r1;
	int64_t ks0, ks1, t0, t_parked, t_release;
	if (t == NULL)
		bench_die("idle_mem: out of memory");
	r0 = bench_rss_now();
	ks0 = bench_proc_field("/proc/meminfo", "KernelStack:");
	t0 = bench_now_ns();
	for (long i = 0; i < n; i++)
		t[i] = spawn(idler, &n);
	pthread_mutex_lock(&idle.mu);
	while (idle.ready < n)
		pthread_cond_wait(&idle.ready_cv, &idle.mu);
	pthread_mutex_unlock(&idle.mu);
	t_parked = bench_now_ns() - t0;
	usleep(20000); /* let the last waiter reach its futex wait */
	r1 = bench_rss_now();
	ks1 = bench_proc_field("/proc/meminfo", "KernelStack:");
	bench_info("idle_mem: %ld threads: rss %+lld B (anon %+lld, shmem %+lld), "
	           "system KernelStack %+lld B",
	           n, (long long)(r1.total - r0.total), (long long)(r1.anon - r0.anon),
	           (long long)(r1.shmem - r0.shmem), (long long)(ks1 - ks0));
	t_release = bench_now_ns();
	pthread_mutex_lock(&idle.mu);
	idle.go = true;
	pthread_cond_broadcast(&idle.go_cv);
	pthread_mutex_unlock(&idle.mu);
	for (long i = 0; i < n; i++)
		join(t[i]);
	t_release = bench_now_ns() - t_release;
	bench_info("idle_mem: spawn until all started %.0f ns/thread, release until all joined "
	           "%.0f ns/thread",
	           (double)t_parked / (double)n, (double)t_release / (double)n);
	free(t);
	return (double)(r1.total - r0.total) / (double)n;
}

/* ---- driver ------------------------------------------------------------ */

/* Restricts this process (and the threads it will create) to CPUs
 * 0..workers-1. */
static void limit_cpus(long workers)
{
	cpu_set_t set;
	CPU_ZERO(&set);
	for (long i = 0; i < workers && i < CPU_SETSIZE; i++)
		CPU_SET(i, &set);
	if (sched_setaffinity(0, sizeof set, &set) != 0)
		bench_die("sched_setaffinity to %ld CPUs failed", workers);
}

/* Runs one timed shape, after a warm-up of a tenth of its size. */
static double timed(double (*fn)(long), long n)
{
	fn(n / 10 > 0 ? n / 10 : 1);
	return fn(n);
}

int main(int argc, char **argv)
{
	const char *shape = argc > 1 ? argv[1] : "";
	long n = bench_arg(argc, argv, 2, 1000000);
	long workers = bench_arg(argc, argv, 3, 2);
	int a, b;
	char tail;

	limit_cpus(workers);
	if (strcmp(shape, "yield") == 0) {
		bench_result(shape, timed(run_yield, n), "ns/yield");
	} else if (strcmp(shape, "spawn_join") == 0) {
		bench_result(shape, timed(run_spawn_join, n), "ns/task");
	} else if (strcmp(shape, "spawn_batch") == 0) {
		bench_result(shape, timed(run_spawn_batch, n), "ns/task");
	} else if (strcmp(shape, "pingpong") == 0) {
		bench_result(shape, timed(run_pingpong, n), "ns/roundtrip");
	} else if (sscanf(shape, "chan_%dx%d%c", &a, &b, &tail) == 2 && a > 0 && b > 0 &&
	           a <= MAX_PEERS && b <= MAX_PEERS) {
		run_chan(n / 10 > 0 ? n / 10 : 1, a, b);
		bench_result(shape, run_chan(n, a, b), "msgs/s");
	} else if (sscanf(shape, "mutex_%d%c", &a, &tail) == 1 && a > 0 && a <= MAX_PEERS) {
		run_mutex(n / 10 > 0 ? n / 10 : 1, a);
		bench_result(shape, run_mutex(n, a), "ns/op");
	} else if (strcmp(shape, "idle_mem") == 0) {
		bench_result(shape, run_idle_mem(n), "B/task");
	} else {
		fprintf(stderr,
		        "usage: %s SHAPE [ITERS] [WORKERS]\n"
		        "shapes: yield spawn_join spawn_batch pingpong chan_PxC mutex_K idle_mem\n",
		        argv[0]);
		return 2;
	}
	return 0;
}
