/*
 * wg_never.c - a wait group counted wrong: the root adds 3 to "done",
 * spawns two tasks "worker-1" and "worker-2" that each call done once and
 * return, joins them, then waits on the group, whose counter stays at 1.
 *
 * The inspector must say: one deadlock, definite (nothing at all can
 * progress), a stall of {root}: it waits on waitgroup "done"; the workers,
 * the only other tasks that used it, have finished.  The root is the task
 * the runtime names "root".
 *
 * Usage: wg_never [--delay MS] (see zoo.h; "ready pid <pid>" once
 * deadlocked)
 * Exit status: never exits by itself; 1 a runtime error, 2 bad usage.
 */
#define ZOO_PROG "wg_never"
#include "zoo.h"

#define NWORKERS 2

static void *worker(void *arg)
{
	ZOO_TRY(tsk_wg_done(arg));
	return NULL;
}

static void *root(void *arg)
{
	tsk_task *t[NWORKERS];
	tsk_wg *done;

	ZOO_TRY(tsk_wg_create(&done, "done"));
	ZOO_TRY(tsk_wg_add(done, NWORKERS + 1)); /* the bug: one too many */
	zoo_delay(arg);

	for (int i = 0; i < NWORKERS; i++) {
		char name[24];
		snprintf(name, sizeof(name), "worker-%d", i + 1);
		ZOO_TRY(tsk_spawn(&t[i], name, worker, done));
	}
	for (int i = 0; i < NWORKERS; i++)
		ZOO_TRY(tsk_join(t[i], NULL, TSK_FOREVER));
	tsk_set_state("waiting for the workers to be done");
	zoo_ready();
	ZOO_NEVER(tsk_wg_wait(done, TSK_FOREVER));
}

int main(int argc, char **argv)
{
	return zoo_main(
	        argc, argv,
	        "The root adds 3 to wait group \"done\", spawns two workers that call done\n"
	        "and return, and waits on the group.  A definite stall {root}.\n",
	        root);
}
