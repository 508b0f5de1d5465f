/*
 * three_locks.c - a lock-order cycle through three tasks: "a" locks "m1"
 * then "m2", "b" locks "m2" then "m3", "c" locks "m3" then "m1".  No two
 * of them conflict on their own; the three together do.
 *
 * Made certain by a handshake: each task takes its first mutex, says so on
 * the wait group "first-taken" and waits there for the other two; only
 * then does it ask for its second mutex.  The root joins a, behind the
 * cycle.
 *
 * The inspector must say: one deadlock, definite, a cycle of {a, b, c}:
 * a waits on m2 (blocked by b), b on m3 (by c), c on m1 (by a).
 *
 * Usage: three_locks [--delay MS] (see zoo.h; "ready pid <pid>" once
 * deadlocked)
 * Exit status: never exits by itself; 1 a runtime error, 2 bad usage.
 */
#define ZOO_PROG "three_locks"
#include "zoo.h"

#define NLOCKS 3

/* One task of the cycle: the mutex it takes first, and the one after. */
struct link {
	tsk_mutex *first, *second;
	tsk_wg *first_taken; /* the handshake: all hold their first mutex */
	atomic_int *noted;   /* the root's count of tasks at their last call */
};

static void *locker(void *arg)
{
	struct link *l = arg;

	ZOO_TRY(tsk_mutex_lock(l->first, TSK_FOREVER));
	ZOO_TRY(tsk_wg_done(l->first_taken));
	ZOO_TRY(tsk_wg_wait(l->first_taken, TSK_FOREVER));
	tsk_set_state("taking its second mutex");
	zoo_note(l->noted);
	ZOO_NEVER(tsk_mutex_lock(l->second, TSK_FOREVER));
}

static void *root(void *arg)
{
	static const char *const mutex_names[NLOCKS] = {"m1", "m2", "m3"};
	static const char *const task_names[NLOCKS] = {"a", "b", "c"};
	static atomic_int noted;
	static struct link links[NLOCKS];
	tsk_mutex *m[NLOCKS];
	tsk_task *t[NLOCKS];
	tsk_wg *first_taken;

	for (int i = 0; i < NLOCKS; i++)
		ZOO_TRY(tsk_mutex_create(&m[i], mutex_names[i]));
	ZOO_TRY(tsk_wg_create(&first_taken, "first-taken"));
	ZOO_TRY(tsk_wg_add(first_taken, NLOCKS));
	for (int i = 0; i < NLOCKS; i++)
		links[i] = (struct link){m[i], m[(i + 1) % NLOCKS], first_taken, &noted};
	zoo_delay(arg);

	for (int i = 0; i < NLOCKS; i++)
		ZOO_TRY(tsk_spawn(&t[i], task_names[i], locker, &links[i]));
	zoo_ready_when(&noted, NLOCKS);
	tsk_set_state("joining a, b and c");
	ZOO_NEVER(tsk_join(t[0], NULL, TSK_FOREVER));
}

int main(int argc, char **argv)
{
	return zoo_main(
	        argc, argv,
	        "A lock-order cycle of three tasks: \"a\" locks \"m1\" then \"m2\", \"b\" \"m2\"\n"
	        "then \"m3\", \"c\" \"m3\" then \"m1\"; the root joins them.  A definite cycle\n"
	        "{a, b, c}.\n",
	        root);
}
