/*
 * ordered_locks.c - heavy lock contention without a deadlock: 64 tasks
 * "worker-1".."worker-64" take random pairs of 8 mutexes "m0".."m7", for
 * ever, always the lower index first (a fixed global order), yielding
 * between the two locks and before letting go.  At any moment many tasks
 * wait on mutexes held by others, but every chain of waits ends in a task
 * that can run: no cycle, no stall.
 *
 * The root joins worker-1 (for ever).
 *
 * The inspector must say: no deadlock (report exits 0), however often it
 * looks.
 *
 * Usage: ordered_locks [--delay MS] (see zoo.h; "ready pid <pid>" after
 * 300 ms of work)
 * Exit status: never exits by itself; 1 a runtime error, 2 bad usage.
 */
#define ZOO_PROG "ordered_locks"
#include "zoo.h"

#define NTASKS   64
#define NMUTEXES 8

static tsk_mutex *mutexes[NMUTEXES];
static atomic_long rounds; /* pairs taken and released, all tasks */

static void *worker(void *arg)
{
	uint64_t rng = zoo_seed((uint64_t)(uintptr_t)arg);

	tsk_set_state("taking pairs of mutexes in order");
	for (;;) {
		uint32_t i = zoo_rand(&rng, NMUTEXES), j = zoo_rand(&rng, NMUTEXES - 1);
		if (j >= i)
			j++; /* j != i */
		if (j < i) {
			uint32_t t = i;
			i = j;
			j = t;
		}
		ZOO_TRY(tsk_mutex_lock(mutexes[i], TSK_FOREVER));
		ZOO_TRY(tsk_yield());
		ZOO_TRY(tsk_mutex_lock(mutexes[j], TSK_FOREVER));
		ZOO_TRY(tsk_yield());
		ZOO_TRY(tsk_mutex_unlock(mutexes[j]));
		ZOO_TRY(tsk_mutex_unlock(mutexes[i]));
		atomic_fetch_add_explicit(&rounds, 1, memory_order_relaxed);
	}
	return NULL;
}

static void *root(void *arg)
{
	tsk_task *first = NULL;

	for (int i = 0; i < NMUTEXES; i++) {
		char name[24];
		snprintf(name, sizeof(name), "m%d", i);
		ZOO_TRY(tsk_mutex_create(&mutexes[i], name));
	}
	zoo_delay(arg);

	for (int i = 0; i < NTASKS; i++) {
		char name[24];
		snprintf(name, sizeof(name), "worker-%d", i + 1);
		ZOO_TRY(tsk_spawn(i == 0 ? &first : NULL, name, worker, (void *)(uintptr_t)i));
	}
	zoo_ready_steady(&rounds);
	tsk_set_state("joining worker-1");
	ZOO_NEVER(tsk_join(first, NULL, TSK_FOREVER));
}

int main(int argc, char **argv)
{
	return zoo_main(argc, argv,
	                "64 tasks take random pairs of 8 mutexes for ever, always the lower index\n"
	                "first: heavy contention, no deadlock.\n",
	                root);
}
