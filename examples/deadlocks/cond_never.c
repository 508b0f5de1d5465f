/*
 * cond_never.c - a lost wake-up: task "waiter" locks mutex "m" and waits
 * on the condition variable "ready" until a flag is set; task "setter"
 * sets the flag under "m" but never signals.
 *
 * The order: the root spawns the setter only once the waiter has checked
 * the flag under "m" (its note), so the setter's lock of "m" returns only
 * once the waiter is inside tsk_cond_wait (which released "m"): the flag
 * is set after the waiter began to wait, and nothing wakes it.  The setter
 * returns; the root joins it, then joins the waiter.
 *
 * The inspector must say: one deadlock, definite (nothing at all can
 * progress), a stall of {waiter, root}: waiter waits on condvar "ready",
 * the root on its join of waiter; the setter, who used "m", has finished.
 * The root is the task the runtime names "root".
 *
 * Usage: cond_never [--delay MS] (see zoo.h; "ready pid <pid>" once
 * deadlocked)
 * Exit status: never exits by itself; 1 a runtime error, 2 bad usage.
 */
#define ZOO_PROG "cond_never"
#include "zoo.h"

struct cond_never {
	tsk_mutex *m;
	tsk_cond *ready;
	bool flag;        /* under m */
	atomic_int noted; /* the waiter checked the flag, holding m */
};

static struct cond_never cn;

static void *waiter(void *arg)
{
	(void)arg;
	ZOO_TRY(tsk_mutex_lock(cn.m, TSK_FOREVER));
	tsk_set_state("waiting for the flag");
	while (!cn.flag) {
		zoo_note(&cn.noted);
		ZOO_TRY(tsk_cond_wait(cn.ready, cn.m, TSK_FOREVER));
	}
	ZOO_NEVER(tsk_mutex_unlock(cn.m));
}

static void *setter(void *arg)
{
	(void)arg;
	ZOO_TRY(tsk_mutex_lock(cn.m, TSK_FOREVER));
	cn.flag = true; /* the bug: no tsk_cond_signal(cn.ready) */
	ZOO_TRY(tsk_mutex_unlock(cn.m));
	return NULL;
}

static void *root(void *arg)
{
	tsk_task *w, *s;

	ZOO_TRY(tsk_mutex_create(&cn.m, "m"));
	ZOO_TRY(tsk_cond_create(&cn.ready, "ready"));
	zoo_delay(arg);

	ZOO_TRY(tsk_spawn(&w, "waiter", waiter, NULL));
	zoo_await(&cn.noted, 1);
	ZOO_TRY(tsk_spawn(&s, "setter", setter, NULL));
	ZOO_TRY(tsk_join(s, NULL, TSK_FOREVER));
	zoo_ready_when(&cn.noted, 1);
	tsk_set_state("joining the waiter");
	ZOO_NEVER(tsk_join(w, NULL, TSK_FOREVER));
}

int main(int argc, char **argv)
{
	return zoo_main(
	        argc, argv,
	        "Task \"waiter\" waits on condition variable \"ready\" (mutex \"m\") for a\n"
	        "flag that task \"setter\" sets without signalling; the root joins the\n"
	        "waiter.  A definite stall {waiter, root}.\n",
	        root);
}
