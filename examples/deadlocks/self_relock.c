/*
 * self_relock.c - a task that locks a mutex it already holds: task
 * "relocker" locks mutex "m", then locks it again.  tsk_mutex is not
 * recursive and does not refuse: the second call waits for the owner, the
 * caller itself, for ever.
 *
 * The root joins the relocker, so it waits behind the cycle, not in it.
 *
 * The inspector must say: one deadlock, definite, a cycle of {relocker}:
 * it waits on mutex "m", blocked by itself.
 *
 * Usage: self_relock [--delay MS] (see zoo.h; "ready pid <pid>" once
 * deadlocked)
 * Exit status: never exits by itself; 1 a runtime error, 2 bad usage.
 */
#define ZOO_PROG "self_relock"
#include "zoo.h"

static atomic_int noted;

static void *relocker(void *arg)
{
	tsk_mutex *m = arg;

	ZOO_TRY(tsk_mutex_lock(m, TSK_FOREVER));
	tsk_set_state("locking m again");
	zoo_note(&noted);
	ZOO_NEVER(tsk_mutex_lock(m, TSK_FOREVER));
}

static void *root(void *arg)
{
	tsk_mutex *m;
	tsk_task *t;

	ZOO_TRY(tsk_mutex_create(&m, "m"));
	zoo_delay(arg);
	ZOO_TRY(tsk_spawn(&t, "relocker", relocker, m));
	zoo_ready_when(&noted, 1);
	tsk_set_state("joining the relocker");
	ZOO_NEVER(tsk_join(t, NULL, TSK_FOREVER));
}

int main(int argc, char **argv)
{
	return zoo_main(
	        argc, argv,
	        "A task \"relocker\" locks mutex \"m\" twice; the root joins it.  A definite\n"
	        "cycle {relocker}.\n",
	        root);
}
