/*
 * timed_retry.c - a lock-order inversion that never deadlocks, because
 * every wait has a deadline: as in abba.c, task "a" locks "m1" then "m2"
 * and task "b" "m2" then "m1", but each lock waits 2..10 ms at most
 * (tsk_after_ms).  A task whose wait times out releases what it holds,
 * sleeps a random 0..3 ms and tries again; for ever.  They yield between
 * their two locks, so the inversion does happen, and is undone each time.
 *
 * The root joins a (for ever).
 *
 * The inspector must say: no deadlock (report exits 0): a wait with a
 * deadline is never part of one (it may show as a warning).
 *
 * Usage: timed_retry [--delay MS] (see zoo.h; "ready pid <pid>" after
 * 300 ms of work)
 * Exit status: never exits by itself; 1 a runtime error, 2 bad usage.
 */
#define ZOO_PROG "timed_retry"
#include "zoo.h"

#define WAIT_MIN_MS 2
#define WAIT_MAX_MS 10
#define BACKOFF_MS  3 /* at most */

/* One of the two tasks: the mutex it takes first, and the one after. */
struct side {
	tsk_mutex *first, *second;
	uint64_t seed;
};

static atomic_long rounds;   /* both mutexes taken and released */
static atomic_long timeouts; /* waits that timed out */

/* Locks m, waiting WAIT_MIN_MS..WAIT_MAX_MS.  Returns whether it did. */
static bool lock_timed(tsk_mutex *m, uint64_t *rng)
{
	int64_t ms = WAIT_MIN_MS + zoo_rand(rng, WAIT_MAX_MS - WAIT_MIN_MS + 1);
	int rc = tsk_mutex_lock(m, tsk_after_ms(ms));

	if (rc == -ETIMEDOUT) {
		atomic_fetch_add_explicit(&timeouts, 1, memory_order_relaxed);
		return false;
	}
	ZOO_TRY(rc);
	return true;
}

static void *locker(void *arg)
{
	struct side *s = arg;
	uint64_t rng = s->seed;

	tsk_set_state("taking both mutexes, with deadlines");
	for (;;) {
		if (lock_timed(s->first, &rng)) {
			ZOO_TRY(tsk_yield());
			if (lock_timed(s->second, &rng)) {
				ZOO_TRY(tsk_mutex_unlock(s->second));
				ZOO_TRY(tsk_mutex_unlock(s->first));
				atomic_fetch_add_explicit(&rounds, 1, memory_order_relaxed);
				continue;
			}
			ZOO_TRY(tsk_mutex_unlock(s->first));
		}
		ZOO_TRY(tsk_sleep(tsk_after_ms(zoo_rand(&rng, BACKOFF_MS + 1))));
	}
	return NULL;
}

static void *root(void *arg)
{
	static struct side a, b;
	tsk_mutex *m1, *m2;
	tsk_task *ta;

	ZOO_TRY(tsk_mutex_create(&m1, "m1"));
	ZOO_TRY(tsk_mutex_create(&m2, "m2"));
	a = (struct side){m1, m2, zoo_seed(1)};
	b = (struct side){m2, m1, zoo_seed(2)};
	zoo_delay(arg);

	ZOO_TRY(tsk_spawn(&ta, "a", locker, &a));
	ZOO_TRY(tsk_spawn(NULL, "b", locker, &b));
	zoo_ready_steady(&rounds);
	tsk_set_state("joining a");
	ZOO_NEVER(tsk_join(ta, NULL, TSK_FOREVER));
}

int main(int argc, char **argv)
{
	return zoo_main(
	        argc, argv,
	        "Task \"a\" locks \"m1\" then \"m2\", task \"b\" \"m2\" then \"m1\", for ever,\n"
	        "each wait with a deadline of 2..10 ms; a task that times out lets go,\n"
	        "sleeps 0..3 ms and tries again.  No deadlock.\n",
	        root);
}
