/*
 * abba.c - the classic lock-order inversion: task "a" locks mutex "m1"
 * then "m2", task "b" locks "m2" then "m1".
 *
 * Made certain by a handshake: each task takes its first mutex, says so on
 * the wait group "first-taken" and waits there for the other one; only
 * then does it ask for its second mutex.  Once both have passed the group
 * nobody waits on it again.  The root joins a (b's join would come
 * next), so it waits behind the cycle, not in it.
 *
 * The inspector must say: one deadlock, definite, a cycle of {a, b}: a
 * waits on mutex "m2", blocked by b; b waits on mutex "m1", blocked by a.
 *
 * Usage: abba [--delay MS] (see zoo.h; "ready pid <pid>" once deadlocked)
 * Exit status: never exits by itself; 1 a runtime error, 2 bad usage.
 */
#define ZOO_PROG "abba"
#include "zoo.h"

/* One of the two tasks: the mutex it takes first, and the one after. */
struct side {
	tsk_mutex *first, *second;
	tsk_wg *first_taken; /* the handshake: both hold their first mutex */
	atomic_int *noted;   /* the root's count of tasks at their last call */
};

static void *locker(void *arg)
{
	struct side *s = arg;

	ZOO_TRY(tsk_mutex_lock(s->first, TSK_FOREVER));
	ZOO_TRY(tsk_wg_done(s->first_taken));
	ZOO_TRY(tsk_wg_wait(s->first_taken, TSK_FOREVER));
	tsk_set_state("taking its second mutex");
	zoo_note(s->noted);
	ZOO_NEVER(tsk_mutex_lock(s->second, TSK_FOREVER));
}

static void *root(void *arg)
{
	static atomic_int noted;
	struct side a, b;
	tsk_mutex *m1, *m2;
	tsk_wg *first_taken;
	tsk_task *ta, *tb;

	ZOO_TRY(tsk_mutex_create(&m1, "m1"));
	ZOO_TRY(tsk_mutex_create(&m2, "m2"));
	ZOO_TRY(tsk_wg_create(&first_taken, "first-taken"));
	ZOO_TRY(tsk_wg_add(first_taken, 2));
	a = (struct side){m1, m2, first_taken, &noted};
	b = (struct side){m2, m1, first_taken, &noted};
	zoo_delay(arg);

	ZOO_TRY(tsk_spawn(&ta, "a", locker, &a));
	ZOO_TRY(tsk_spawn(&tb, "b", locker, &b));
	zoo_ready_when(&noted, 2);
	tsk_set_state("joining a and b");
	ZOO_NEVER(tsk_join(ta, NULL, TSK_FOREVER)); /* b's join would come next */
}

int main(int argc, char **argv)
{
	return zoo_main(argc, argv,
	                "A lock-order inversion: task \"a\" locks \"m1\" then \"m2\", task \"b\"\n"
	                "\"m2\" then \"m1\"; the root joins them.  A definite cycle {a, b}.\n",
	                root);
}
