/*
 * offload.c - tsk_offload, the blocking pool: plain threads that make the
 * calls a task must not make on a worker.
 *
 * What and why: a worker blocked in getaddrinfo, a disk read or a long
 * computation holds up every task queued behind it.  tsk_offload hands
 * such a call to a pool thread and parks only the calling task, with the
 * runtime's wait protocol (rt_int.h); the pool thread readies the task when
 * the call has returned.
 *
 * Shape: one pool per runtime (rt->bpool), created by the first tsk_offload
 * (a CAS on rt->bpool decides between racing creators) and stopped by
 * rt__pool_fini once tsk_run has joined its workers.  Threads start on
 * demand, when a job is queued and no idle or starting thread is left to
 * take it, up to rt->bpool_max; a thread idle for POOL_IDLE_MS (10 s)
 * retires.  The environment variable TASKSCOPE_POOL_IDLE_MS (milliseconds,
 * > 0), read once when the pool is created, overrides the idle time: the
 * tests set it to watch threads retire.  Pool threads are created with
 * every signal blocked, so process signals go to the user's threads.
 *
 * The lock: one pthread mutex guards the whole pool (job queue, thread
 * counts, the exited-thread slot) and the state of every job.  Its critical
 * sections are a few list operations; idle threads sleep on a condvar and
 * nothing spins.  rt__ready is always called after the unlock (it may wake
 * a worker with a futex call).
 *
 * A job lives on the calling task's stack and moves, under the lock,
 *
 *     QUEUED --(a pool thread takes it)--> RUNNING --(fn returned)--> DONE
 *
 * or leaves the queue unrun when its caller withdraws it.  The races, and
 * why each ends well:
 *
 *   - The pool thread finishes: it stores the result, then under the lock
 *     marks the job DONE and claims the caller's wait token.  The claim
 *     wins only while the caller is in a wait for this job (its first wait,
 *     or the uncancellable second wait below); the winner readies the task
 *     after the unlock.  A lost claim means the caller is not waiting (its
 *     wait was already ended by the timer or a canceller, or it has not
 *     parked yet after starting a thread): it will take the lock again and
 *     find DONE.  Either way the pool thread does not touch the job after
 *     that critical section (the task pointer for rt__ready was read inside
 *     it), and the task cannot return before rt__ready or before it saw DONE
 *     under the lock, so the job outlives every access to it.
 *   - The caller's wait ends by deadline or cancel: it takes the lock.  A
 *     job still QUEUED is unlinked and the call returns -ETIMEDOUT or
 *     -ECANCELED: fn never runs.  A RUNNING job cannot be stopped, and arg
 *     and the job are on the caller's stack: the caller prepares an
 *     uncancellable wait under the same lock and waits for the pool
 *     thread's claim.  Since DONE and that prepare are both done under the
 *     lock, the claim either sees the new wait or the caller sees DONE.
 *   - A job is never claimed for a wait other than its own: between
 *     queueing the job and seeing it DONE the caller makes no other wait,
 *     and a claim of a task that is not waiting fails.
 *
 * Thread exits and joins: no thread of the runtime may outlive tsk_run, so
 * every pool thread is joined, retired ones too.  A thread that exits
 * (retiring, or stopped by rt__pool_fini) puts its own id in the pool's
 * exited slot under the lock and joins the thread whose id it replaced.
 * The joins thus form a chain, and joining the last thread to exit joins
 * them all: rt__pool_fini stops the pool, waits until no thread is left
 * and joins the one in the slot.
 *
 * At tsk_run's exit, a task waiting for a job counts as blocked: once the
 * root has returned and no task can run, the scheduler cancels it.  A
 * queued job is then withdrawn (-ECANCELED); a running one is still awaited
 * by its uncancellable wait, so tsk_run returns only after every job that
 * started has returned.
 *
 * Workload: jobs of a millisecond or more (a system call that blocks, a
 * lookup); submitting one costs a lock round trip plus a condvar signal,
 * or a thread creation when no thread is idle.
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <time.h>

#include "offload_int.h"
#include "sched_int.h"

#define POOL_IDLE_MS     10000 /* a thread idle this long retires */
#define POOL_MAX_DEFAULT 64    /* most threads when rt->bpool_max is not set */

/* Job states (rt_job.state), changed under the pool lock. */
enum { JOB_QUEUED, JOB_RUNNING, JOB_DONE };

/* One tsk_offload call, on its caller's stack. */
typedef struct rt_job rt_job;
struct rt_job {
	void *(*fn)(void *); /* the call to make */
	void *arg;           /* its argument */
	void *result;        /* its return value (written by the pool thread before DONE) */
	rt_waiter w;         /* the caller's wait (w.task is set before queueing) */
	rt_job *next, *prev; /* queue links (under the lock) */
	int state;           /* JOB_* (under the lock) */
};

typedef struct rt_pool {
	pthread_mutex_t lock; /* guards everything below and every job's state */
	pthread_cond_t work;  /* idle threads wait here for a job or stop */
	pthread_cond_t gone;  /* rt__pool_fini waits here for nthreads == 0 */
	rt_job *head, *tail;  /* queued jobs, FIFO */
	int nqueued;          /* jobs on the queue */
	int nthreads;         /* threads alive or starting (not yet exited) */
	int nidle;            /* threads waiting on `work` */
	int nstarting;        /* threads created that have not taken the lock yet */
	int max;              /* most threads */
	int64_t idle_ns;      /* idle time after which a thread retires */
	bool stop;            /* rt__pool_fini: threads must exit */
	bool has_exited;      /* `exited` holds a thread to join */
	pthread_t exited;     /* the last thread to exit, not joined yet */
} rt_pool;

/* ---- queue (under the lock) ------------------------------------------ */

static void queue_push(rt_pool *p, rt_job *j)
{
	j->next = NULL;
	j->prev = p->tail;
	if (p->tail)
		p->tail->next = j;
	else
		p->head = j;
	p->tail = j;
	p->nqueued++;
}

static void queue_remove(rt_pool *p, rt_job *j)
{
	if (j->prev)
		j->prev->next = j->next;
	else
		p->head = j->next;
	if (j->next)
		j->next->prev = j->prev;
	else
		p->tail = j->prev;
	j->next = j->prev = NULL;
	p->nqueued--;
}

/* ---- pool threads ------------------------------------------------------ */

/* Waits for a job (the lock held) and takes it: RUNNING, off the queue.
 * Returns NULL when the thread must exit: the pool stops, or it has been
 * idle for p->idle_ns with nothing queued. */
static rt_job *pool_take(rt_pool *p)
{
	int64_t idle_end = 0;
	bool idle = false;
	rt_job *j;

	while (p->head == NULL) {
		if (p->stop)
			return NULL;
		/* idle since the first look, however often woken for nothing */
		int64_t now = tsk_now();
		if (!idle) {
			idle = true;
			idle_end = now + p->idle_ns;
		} else if (now >= idle_end) {
			return NULL;
		}
		struct timespec ts = {idle_end / 1000000000, idle_end % 1000000000};
		p->nidle++;
		/* `work` uses CLOCK_MONOTONIC, tsk_now's clock (pool_create) */
		pthread_cond_timedwait(&p->work, &p->lock, &ts);
		p->nidle--;
	}
	j = p->head;
	queue_remove(p, j);
	j->state = JOB_RUNNING;
	return j;
}

/* Marks j DONE and wakes its caller if it is waiting for it; called with
 * the lock held, returns with it held (dropped around rt__ready).  j must
 * not be touched after the first unlock (see the header comment). */
static void job_finish(rt_pool *p, rt_job *j)
{
	tsk_task *t = j->w.task;
	bool won;

	j->state = JOB_DONE;
	/* the claim's acq_rel CAS also orders the result store before the
	 * caller's acquire load of its token (rt__wait) */
	won = rt__claim(&j->w, 0);
	if (won)
		j->w.result = 0;
	pthread_mutex_unlock(&p->lock);
	if (won)
		rt__ready(t);
	pthread_mutex_lock(&p->lock);
}

/* Leaves the pool (lock held; returns with it released): takes the exited
 * slot and joins the thread that held it (see the header comment). */
static void pool_thread_exit(rt_pool *p)
{
	pthread_t prev = p->exited;
	bool join = p->has_exited;

	p->exited = pthread_self();
	p->has_exited = true;
	if (--p->nthreads == 0)
		pthread_cond_broadcast(&p->gone);
	pthread_mutex_unlock(&p->lock);
	/* p may be freed from here on: only `prev` is used */
	if (join)
		pthread_join(prev, NULL);
}

/* A pool thread: runs queued jobs until it retires or the pool stops. */
static void *pool_thread(void *arg)
{
	rt_pool *p = arg;
	rt_job *j;

	pthread_mutex_lock(&p->lock);
	p->nstarting--;
	while ((j = pool_take(p)) != NULL) {
		pthread_mutex_unlock(&p->lock);
		j->result = j->fn(j->arg);
		pthread_mutex_lock(&p->lock);
		job_finish(p, j);
	}
	pool_thread_exit(p);
	return NULL;
}

/* Creates one pool thread with every signal blocked (a new thread inherits
 * its creator's mask, so no signal can reach it before it could block them
 * itself).  The caller has counted it in nthreads and nstarting.  Returns 0
 * or -ENOMEM (pthread_create failed: no memory or thread limit). */
static int pool_spawn(rt_pool *p)
{
	sigset_t all, old;
	pthread_t th;
	int err;

	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	err = pthread_create(&th, NULL, pool_thread, p);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	return err == 0 ? 0 : -ENOMEM;
}

/* Whether the job just queued needs a new thread: more jobs are queued than
 * idle or starting threads will take, and the pool has room.  If so, counts
 * the thread as starting (the caller creates it after the unlock).  Under
 * the lock. */
static bool pool_need_thread(rt_pool *p)
{
	if (p->nqueued <= p->nidle + p->nstarting || p->nthreads >= p->max)
		return false;
	p->nthreads++;
	p->nstarting++;
	return true;
}

/* ---- the pool ---------------------------------------------------------- */

/* The idle time: TASKSCOPE_POOL_IDLE_MS if set to a positive number of
 * milliseconds (at most a day), else POOL_IDLE_MS. */
static int64_t pool_idle_ns(void)
{
	const char *s = getenv("TASKSCOPE_POOL_IDLE_MS");
	char *end;
	long long ms;

	if (s != NULL && *s != '\0') {
		ms = strtoll(s, &end, 10);
		if (*end == '\0' && ms > 0 && ms <= 86400000LL)
			return ms * 1000000;
	}
	return (int64_t)POOL_IDLE_MS * 1000000;
}

/* Frees a pool with no thread left (or never started). */
static void pool_destroy(rt_pool *p)
{
	pthread_cond_destroy(&p->gone);
	pthread_cond_destroy(&p->work);
	pthread_mutex_destroy(&p->lock);
	free(p);
}

/* Allocates an empty pool of at most max threads (<= 0: the default); the
 * caller owns it.  Returns NULL when out of memory. */
static rt_pool *pool_create(int max)
{
	pthread_condattr_t ca;
	rt_pool *p = calloc(1, sizeof(*p));

	if (p == NULL)
		return NULL;
	if (pthread_condattr_init(&ca) != 0)
		goto fail_free;
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	if (pthread_mutex_init(&p->lock, NULL) != 0)
		goto fail_attr;
	if (pthread_cond_init(&p->work, &ca) != 0)
		goto fail_lock;
	if (pthread_cond_init(&p->gone, NULL) != 0)
		goto fail_work;
	pthread_condattr_destroy(&ca);
	p->max = max > 0 ? max : POOL_MAX_DEFAULT;
	p->idle_ns = pool_idle_ns();
	return p;

fail_work:
	pthread_cond_destroy(&p->work);
fail_lock:
	pthread_mutex_destroy(&p->lock);
fail_attr:
	pthread_condattr_destroy(&ca);
fail_free:
	free(p);
	return NULL;
}

/* rt's pool, created if it has none yet; owned by rt.  NULL: no memory. */
static rt_pool *pool_get(rt_runtime *rt)
{
	/* acquire: pairs with the release of the winning CAS below, so the
	 * pool's initialisation is visible */
	rt_pool *p = atomic_load_explicit(&rt->bpool, memory_order_acquire);
	rt_pool *cur = NULL;

	if (p != NULL)
		return p;
	p = pool_create(rt->bpool_max);
	if (p == NULL)
		return NULL;
	/* acq_rel: publishes our pool, or (failure, acquire) sees the winner's */
	if (!atomic_compare_exchange_strong_explicit(&rt->bpool, &cur, p, memory_order_acq_rel,
	                                             memory_order_acquire)) {
		pool_destroy(p);
		p = cur;
	}
	return p;
}

/* Stops rt's pool, joins all its threads and frees it; a no-op when rt has
 * none.  Called by runtime_free after the workers are joined: no task is
 * left, so no job is queued or running. */
void rt__pool_fini(rt_runtime *rt)
{
	rt_pool *p = atomic_exchange_explicit(&rt->bpool, NULL, memory_order_acquire);
	pthread_t last;
	bool join;

	if (p == NULL)
		return;
	pthread_mutex_lock(&p->lock);
	p->stop = true;
	pthread_cond_broadcast(&p->work);
	while (p->nthreads > 0)
		pthread_cond_wait(&p->gone, &p->lock);
	join = p->has_exited;
	last = p->exited;
	pthread_mutex_unlock(&p->lock);
	if (join)
		pthread_join(last, NULL);
	pool_destroy(p);
}

/* ---- tsk_offload ------------------------------------------------------- */

/* Queues j and makes sure a thread will take it; prepares the caller's
 * wait unless j is already DONE.  Returns 1 (wait prepared: call rt__wait),
 * 0 (j is DONE: no wait) or -ENOMEM (no thread could be started and none
 * exists; j was withdrawn). */
static int offload_submit(rt_pool *p, rt_job *j, tsk_task *self)
{
	int rc = 1;

	pthread_mutex_lock(&p->lock);
	queue_push(p, j);
	if (p->nidle > 0)
		pthread_cond_signal(&p->work);
	if (pool_need_thread(p)) {
		/* thread creation is a system call or two: not under the lock */
		pthread_mutex_unlock(&p->lock);
		int err = pool_spawn(p);
		pthread_mutex_lock(&p->lock);
		if (err < 0) {
			p->nthreads--;
			p->nstarting--;
			if (p->nthreads == 0 && j->state == JOB_QUEUED) {
				queue_remove(p, j);
				rc = err;
				goto out;
			}
		}
		if (j->state == JOB_DONE) {
			rc = 0;
			goto out;
		}
	}
	rt__wait_prepare(&j->w, self, 0, NULL);
out:
	pthread_mutex_unlock(&p->lock);
	return rc;
}

/* After the caller's wait ended by deadline or cancel (rc): withdraws j if
 * no thread has taken it yet (returns rc), else waits, uncancellably, until
 * it is DONE (returns 0). */
static int offload_give_up(rt_pool *p, rt_job *j, tsk_task *self, int rc, const rt_wait_info *wi)
{
	pthread_mutex_lock(&p->lock);
	if (j->state == JOB_QUEUED) {
		queue_remove(p, j);
		pthread_mutex_unlock(&p->lock);
		return rc;
	}
	if (j->state == JOB_DONE) {
		pthread_mutex_unlock(&p->lock);
		return 0;
	}
	/* RUNNING: job_finish claims this wait under the lock we hold now */
	rt__wait_prepare_nocancel(&j->w, self, 0, NULL);
	pthread_mutex_unlock(&p->lock);
	rt__wait_nocancel(TSK_FOREVER, wi);
	return 0;
}

/* Runs fn(arg) on a pool thread of the calling task's runtime and parks the
 * task until it has returned; arg stays the caller's.  *result (if non-NULL)
 * gets fn's return value.  A job not started by the deadline or a cancel is
 * withdrawn; a started one is waited for.  Returns 0, -ETIMEDOUT and
 * -ECANCELED (withdrawn: fn did not run and will not), -EINVAL (fn NULL),
 * -EPERM (not called from a task), -ENOMEM (no memory for the pool, or no
 * pool thread could be started and none exists). */
int tsk_offload_at(void *(*fn)(void *), void *arg, void **result, int64_t deadline,
                   const tsk_site *site)
{
	rt_wait_info wi = {RT_WAIT_OFFLOAD, (const void *)(uintptr_t)fn, site,
	                   (uint64_t)(uintptr_t)fn};
	rt_job j = {.fn = fn, .arg = arg, .state = JOB_QUEUED};
	tsk_task *self;
	rt_pool *p;
	int rc;

	if (fn == NULL)
		return -EINVAL;
	rc = rt__can_wait(deadline); /* nothing can complete at once here */
	if (rc < 0)
		return rc;
	self = rt__self();
	p = pool_get(self->rt);
	if (p == NULL)
		return -ENOMEM;
	j.w.task = self; /* job_finish may claim before the wait is prepared */
	rc = offload_submit(p, &j, self);
	if (rc < 0)
		return rc;
	if (rc > 0) {
		rc = rt__wait(deadline, &wi);
		/* >= 0: job_finish claimed the wait, j is DONE */
		if (rc < 0 && (rc = offload_give_up(p, &j, self, rc, &wi)) < 0)
			return rc;
	}
	if (result != NULL)
		*result = j.result;
	return 0;
}

int(tsk_offload)(void *(*fn)(void *), void *arg, void **result, int64_t deadline)
{
	return tsk_offload_at(fn, arg, result, deadline, NULL);
}

/* ---- for the tests (offload_int.h) ------------------------------------- */

/* The calling task's pool, or NULL. */
static rt_pool *self_pool(void)
{
	tsk_task *self = rt__self();

	return self ? atomic_load_explicit(&self->rt->bpool, memory_order_acquire) : NULL;
}

int offload__queued(void)
{
	rt_pool *p = self_pool();
	int n = 0;

	if (p != NULL) {
		pthread_mutex_lock(&p->lock);
		n = p->nqueued;
		pthread_mutex_unlock(&p->lock);
	}
	return n;
}

int offload__threads(void)
{
	rt_pool *p = self_pool();
	int n = 0;

	if (p != NULL) {
		pthread_mutex_lock(&p->lock);
		n = p->nthreads;
		pthread_mutex_unlock(&p->lock);
	}
	return n;
}
