/*
 * sched_int.h - the scheduler's private types: runtime, workers, tasks.
 *
 * Shared by the files of the task core (sched.c, task.c, wait.c, timer.c,
 * stack.c, runq.c).  The synchronisation objects never include it: they see
 * tasks only through rt_int.h.
 *
 * Task memory: a task's struct lives at the top of its own stack mapping,
 * so an idle blocked task costs one page (its struct and its few frames)
 * plus nothing else.  The mapping is recycled when a detached task exits or
 * a joinable one is joined.
 */
#ifndef SCHED_INT_H
#define SCHED_INT_H

#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "ctx_int.h"
#include "rt_int.h"
#include "tsk_probe.h"

/* Probe calls compile to nothing with -DTSK_PROBES=0 and cost one branch
 * when TASKSCOPE=off. */
#if TSK_PROBES
#define RT_PROBE(...)                                                                              \
	do {                                                                                       \
		if (PROBE_ON()) {                                                                  \
			__VA_ARGS__;                                                               \
		}                                                                                  \
	} while (0)
#else
#define RT_PROBE(...)                                                                              \
	do {                                                                                       \
	} while (0)
#endif

/* Task token values (tsk_task.token); claims store values >= 0 or -errno. */
#define RT_TOKEN_IDLE             INT_MIN       /* not waiting */
#define RT_TOKEN_WAITING          (INT_MIN + 1) /* waiting, cancellable */
#define RT_TOKEN_WAITING_NOCANCEL (INT_MIN + 2) /* waiting, ignores cancel */

/* Moves t's token from a WAITING value to `value`; true when the caller won
 * the wait (and alone may ready t).  The one claim every party uses: a
 * waker (rt__claim), the timer, the task giving up by itself.
 * acq_rel: pairs with the task's acquire load of the token after it
 * resumes, and orders the winner's writes to its buffers before it. */
static inline bool rt__token_claim(tsk_task *t, int value);

/* What the scheduler does with a task that switched back to it. */
enum rt_post { RT_POST_NONE, RT_POST_YIELD, RT_POST_PARK, RT_POST_EXIT };

/* Task states as the inspector will show them. */
enum rt_state { RT_STATE_READY, RT_STATE_RUNNING, RT_STATE_BLOCKED, RT_STATE_DONE };

typedef struct rt_runtime rt_runtime;
typedef struct rt_worker rt_worker;
typedef struct rt_timers rt_timers;

/* A timer entry, embedded in the task that waits with a deadline. */
typedef struct rt_timer {
	int64_t deadline; /* absolute tsk_now() ns */
	uint64_t seq;     /* insertion order: FIFO among equal deadlines */
	int idx;          /* position in heap->h, -1 when not queued */
	rt_timers *heap;  /* heap it was added to (NULL: never added) */
	tsk_task *task;   /* the task to wake */
} rt_timer;

/* A min-heap of timers, one per worker, guarded by its own lock so that
 * a task resumed elsewhere can remove its entry and idle workers can fire
 * a busy worker's timers. */
struct rt_timers {
	rt_spin lock;         /* guards everything below but `next` reads */
	rt_timer **h;         /* heap array */
	int n, cap;           /* entries, allocated slots */
	uint64_t seq;         /* next insertion number */
	_Atomic int64_t next; /* earliest deadline, INT64_MAX when empty (lock-free peek) */
};

/* A task stack: one mapping with an optional guard page at its low end. */
typedef struct rt_stack {
	void *base;     /* start of the mapping (guard page first when guarded) */
	size_t size;    /* length of the mapping */
	bool guarded;   /* a PROT_NONE page protects its low end */
	unsigned vg_id; /* Valgrind stack registration id */
} rt_stack;

struct tsk_task {
	rt_ctx ctx;             /* saved context while switched out */
	rt_worker *worker;      /* worker running it, or that last ran it */
	rt_runtime *rt;         /* owning runtime */
	tsk_task *next;         /* link in the global queue or a timer batch */
	void *(*fn)(void *);    /* entry point */
	void *arg;              /* its argument */
	void *result;           /* its return value, once done */
	atomic_int token;       /* wait token (RT_TOKEN_* or a claimed value) */
	atomic_int gate;        /* 2 while parking: the park and the ready both decrement */
	atomic_bool cancelled;  /* tsk_cancel was called */
	rt_timer timer;         /* deadline of the current wait */
	rt_spin jlock;          /* guards done and joiner */
	bool done;              /* returned (under jlock) */
	bool detached;          /* frees itself on exit (constant) */
	bool is_root;           /* the task tsk_run started (constant) */
	rt_waiter *joiner;      /* task waiting in tsk_join (under jlock) */
	tsk_task *reg_prev;     /* registry links (under the shard lock) */
	tsk_task *reg_next;     /* " */
	int shard;              /* registry shard it is linked in */
	rt_stack stack;         /* the mapping this struct lives in */
	uint64_t id;            /* process-unique id */
	uint64_t parent_id;     /* id of the spawning task, 0 for a root */
	const tsk_site *site;   /* spawn site (static storage) or NULL */
	const char *label;      /* tsk_set_state label or NULL */
	int state;              /* enum rt_state */
	rt_wait_info wait;      /* current or last wait */
	int64_t wait_deadline;  /* its deadline (TSK_FOREVER: none), for the probes */
	uint32_t pslot;         /* probe task slot + 1, 0 none */
	uint32_t pstack;        /* probe stack id of the current wait, 0 none */
	void *asan_fake;        /* ASan fake stack saved across switches */
	void *tsan_fiber;       /* TSan fiber of this task */
	char name[RT_NAME_MAX]; /* copied name */
};

/* Per-worker bounded run queue (single producer: the owner; many
 * consumers: the owner and thieves), as in Go's runtime. */
#define RT_RUNQ_SIZE 256
typedef struct rt_runq {
	_Atomic uint32_t head;                  /* next to take; CAS by consumers */
	_Atomic uint32_t tail;                  /* next free slot; stored by the owner */
	_Atomic(tsk_task *) slot[RT_RUNQ_SIZE]; /* ring */
} rt_runq;

/* Registry shard: every live or unjoined task, for cancel-all and teardown. */
typedef struct rt_shard {
	rt_spin lock;   /* guards the list */
	tsk_task *head; /* doubly linked through reg_prev/reg_next */
} rt_shard;

#define RT_STACK_CACHE 64 /* stacks kept per worker */

struct rt_worker {
	rt_runtime *rt;              /* owning runtime */
	int id;                      /* 0..nworkers-1 */
	pthread_t thread;            /* its thread (worker 0: the tsk_run caller) */
	rt_ctx sched_ctx;            /* the scheduler loop's context */
	tsk_task *cur;               /* task running now, NULL in the scheduler */
	tsk_task *prev;              /* task that switched away, not yet settled */
	int post;                    /* enum rt_post: what to do with prev */
	rt_runq q;                   /* local run queue */
	_Atomic(tsk_task *) runnext; /* task to run next (woken by a local task) */
	int streak;                  /* consecutive runnext picks (fairness bound) */
	_Atomic uint32_t tick;       /* scheduling steps (owner-written; thieves read it) */
	uint64_t rng;                /* xorshift state for victim choice */
	rt_timers timers;            /* timers added by tasks running here */
	atomic_uint futex;           /* park word: 0 asleep, 1 woken */
	bool spinning;               /* counted in rt->nspinning */
	bool idle;                   /* on the idle list (under rt->idle_lock) */
	bool woken_spinning;         /* woken by wake_one, counted spinning */
	atomic_bool polling;         /* asleep in epoll_wait as the watcher: wake by eventfd */
	bool drain_futile;           /* last cancel-all woke nobody: do not repeat it */
	rt_worker *idle_next;        /* idle list link */
	uint64_t step_tsc;           /* TSC of this worker's latest switch (probe timestamps) */
	tsk_task *stack_cache;       /* free stacks (their top holds the link) */
	int nstack_cache;            /* their number */
	void *stack_lo;              /* the thread's own stack, for ASan */
	size_t stack_len;            /* " */
	void *tsan_fiber;            /* the thread's own TSan fiber */
	/* counters (owner-written) */
	uint64_t nsteal; /* tasks stolen from others */
	uint64_t npark;  /* times parked */
};

struct rt_runtime {
	int nworkers;           /* number of workers */
	rt_worker *workers;     /* array of nworkers */
	size_t stack_size;      /* usable stack bytes per task (page multiple) */
	char name[RT_NAME_MAX]; /* runtime name */
	/* global injection queue */
	rt_spin gq_lock;             /* guards gq_head/gq_tail */
	tsk_task *gq_head, *gq_tail; /* FIFO through tsk_task.next */
	_Atomic long gq_len;         /* its length (lock-free peek) */
	/* idle workers */
	rt_spin idle_lock;           /* guards idle_head and worker idle fields */
	rt_worker *idle_head;        /* stack of parked workers */
	atomic_int nidle;            /* workers on the idle list */
	atomic_int nspinning;        /* workers looking for work */
	atomic_int watcher;          /* id of the parked worker watching every timer heap, -1 */
	_Atomic int64_t watch_until; /* the watcher's wake-up deadline (INT64_MAX: none) */
	/* lifetime */
	_Atomic long live;     /* tasks not yet returned */
	atomic_bool root_done; /* the root task returned */
	atomic_bool stop;      /* workers must leave their loops */
	void *root_result;     /* the root's return value */
	rt_shard *shards;      /* registry, one shard per worker */
	/* reactor (io.c) */
	int epfd;                    /* the epoll instance */
	int evfd;                    /* eventfd that wakes the worker blocked in epoll_wait */
	atomic_int io_break_pending; /* evfd written and not yet drained */
	_Atomic long io_waiters;     /* tasks parked on a descriptor */
	_Atomic(struct io_fd *) *io_chunks; /* descriptor table (io.c) */
	rt_runtime *io_next;                /* list of running runtimes (io.c) */
	bool io_linked;                     /* on that list */
	/* blocking pool (offload.c), created by the first tsk_offload */
	struct rt_pool *_Atomic bpool; /* NULL until then */
	int bpool_max;                 /* most threads (tsk_config.pool_threads) */
	/* stack pool */
	rt_spin pool_lock;  /* guards pool/npool */
	tsk_task *pool;     /* free stacks beyond the worker caches */
	_Atomic long npool; /* their number (lock-free peek) */
};

static inline bool rt__token_claim(tsk_task *t, int value)
{
	int cur = atomic_load_explicit(&t->token, memory_order_acquire);
	while (cur == RT_TOKEN_WAITING || cur == RT_TOKEN_WAITING_NOCANCEL) {
		if (atomic_compare_exchange_weak_explicit(
		            &t->token, &cur, value, memory_order_acq_rel, memory_order_acquire))
			return true;
	}
	return false;
}

/* sched.c */
rt_worker *rt__worker(void); /* this thread's worker or NULL */
void rt__suspend(rt_worker *w, int post);
void rt__enqueue(rt_runtime *rt, tsk_task *t);
void rt__ready_tail(tsk_task *t, uint32_t why);
void rt__timer_added(rt_runtime *rt, int64_t deadline);
int rt__fire_timers(rt_worker *w, rt_timers *tm);
/* The periodic duties of a busy worker (every 32 steps): fire its due
 * timers, poll the reactor if nobody else does.  Returns tasks readied. */
int rt__duties(rt_worker *w);
bool rt__cancel(tsk_task *t);
bool rt__cancel_claim(tsk_task *t);
void rt__task_init_ctx(tsk_task *t);
void rt__task_fini_ctx(tsk_task *t);
void rt__task_gone(rt_runtime *rt, bool root);

/* probes of the task core (sched.c) */
uint64_t rt__probe_now(void);
uint64_t rt__probe_ctx(uint64_t *tsc);
void rt__probe_ready(tsk_task *t);

/* task.c */
int rt__task_create(rt_runtime *rt, rt_worker *w, tsk_task **out, const char *name,
                    void *(*fn)(void *), void *arg, const tsk_site *site, bool detached,
                    uint64_t parent_id);
void rt__task_exited(rt_worker *w, tsk_task *t);
void rt__task_release(rt_runtime *rt, rt_worker *w, tsk_task *t);
long rt__cancel_all(rt_runtime *rt);

/* stack.c: a stack with room for a tsk_task at its top */
int rt__stack_get(rt_runtime *rt, rt_worker *w, tsk_task **out);
void rt__stack_put(rt_runtime *rt, rt_worker *w, tsk_task *t);
void rt__stack_drain(rt_runtime *rt);

/* timer.c */
void rt__timers_init(rt_timers *tm);
void rt__timers_fini(rt_timers *tm);
int rt__timer_add(rt_timers *tm, rt_timer *t); /* 1: t is the new earliest */
void rt__timer_del(rt_timer *t);
int rt__timers_fire(rt_timers *tm, int64_t now, int max, bool wait);

/* offload.c: the blocking pool */
/* Stops and joins the pool's threads (none runs a job by then). */
void rt__pool_fini(rt_runtime *rt);

/* runq.c */
bool rt__runq_push(rt_runq *q, tsk_task *t);
tsk_task *rt__runq_pop(rt_runq *q);
uint32_t rt__runq_len(rt_runq *q);
tsk_task *rt__runq_steal(rt_runq *into, rt_runq *from);

#endif
