/*
 * join_cycle.c - two tasks that join each other: "a" joins "b" and "b"
 * joins "a".  Each waits for the other to return, which it never does.
 *
 * The handles: the root spawns both, stores their handles in a struct,
 * then passes the wait group "handles" that both wait on before they
 * join (nobody waits on the group after that).
 *
 * The root cannot join a: the runtime allows one joiner per task, and b
 * is a's.  So a holds the mutex "a-alive" for all its life (taken before
 * the handshake), and the root waits for a's end by locking it: blocked
 * by a, behind the cycle, not in it.
 *
 * The inspector must say: one deadlock, definite, a cycle of {a, b}: a
 * waits on (a join of) b, blocked by b; b waits on a, blocked by a.
 *
 * Usage: join_cycle [--delay MS] (see zoo.h; "ready pid <pid>" once
 * deadlocked)
 * Exit status: never exits by itself; 1 a runtime error, 2 bad usage.
 */
#define ZOO_PROG "join_cycle"
#include "zoo.h"

struct join_cycle {
	tsk_task *a, *b;    /* set by the root before it passes `handles' */
	tsk_wg *handles;    /* the handshake: a and b are set */
	tsk_mutex *a_alive; /* held by a from its start */
	atomic_int noted;   /* tasks at their last call */
};

static struct join_cycle jc;

static void *task_a(void *arg)
{
	(void)arg;
	ZOO_TRY(tsk_mutex_lock(jc.a_alive, TSK_FOREVER));
	ZOO_TRY(tsk_wg_wait(jc.handles, TSK_FOREVER));
	tsk_set_state("joining b");
	zoo_note(&jc.noted);
	ZOO_NEVER(tsk_join(jc.b, NULL, TSK_FOREVER));
}

static void *task_b(void *arg)
{
	(void)arg;
	ZOO_TRY(tsk_wg_wait(jc.handles, TSK_FOREVER));
	tsk_set_state("joining a");
	zoo_note(&jc.noted);
	ZOO_NEVER(tsk_join(jc.a, NULL, TSK_FOREVER));
}

static void *root(void *arg)
{
	ZOO_TRY(tsk_mutex_create(&jc.a_alive, "a-alive"));
	ZOO_TRY(tsk_wg_create(&jc.handles, "handles"));
	ZOO_TRY(tsk_wg_add(jc.handles, 1));
	zoo_delay(arg);

	ZOO_TRY(tsk_spawn(&jc.a, "a", task_a, NULL));
	ZOO_TRY(tsk_spawn(&jc.b, "b", task_b, NULL));
	ZOO_TRY(tsk_wg_done(jc.handles));
	zoo_ready_when(&jc.noted, 2);
	tsk_set_state("waiting for a to end");
	ZOO_NEVER(tsk_mutex_lock(jc.a_alive, TSK_FOREVER));
}

int main(int argc, char **argv)
{
	return zoo_main(
	        argc, argv,
	        "Two tasks that join each other: \"a\" joins \"b\", \"b\" joins \"a\"; the root\n"
	        "waits for a through a mutex a holds.  A definite cycle {a, b}.\n",
	        root);
}
