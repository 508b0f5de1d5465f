/*
 * long_sleepers.c - tasks that wait a long time, but on a timer: 16 tasks
 * "sleeper-1".."sleeper-16" each sleep one hour
 * (tsk_sleep(tsk_after_ms(3600000))), again and again; the root joins
 * sleeper-1.  Nothing runs, yet everything will: a sleep always ends.
 *
 * The inspector must say: no deadlock (report exits 0).  (The root's
 * join of a sleeping task is freed by the sleeper.)
 *
 * Usage: long_sleepers [--delay MS] (see zoo.h; "ready pid <pid>" 300 ms
 * after every sleeper has gone to sleep)
 * Exit status: never exits by itself; 1 a runtime error, 2 bad usage.
 */
#define ZOO_PROG "long_sleepers"
#include "zoo.h"

#define NSLEEPERS 16
#define SLEEP_MS  3600000 /* one hour */

static atomic_int noted; /* sleepers about to sleep */

static void *sleeper(void *arg)
{
	(void)arg;
	tsk_set_state("sleeping for an hour");
	zoo_note(&noted);
	for (;;)
		ZOO_TRY(tsk_sleep(tsk_after_ms(SLEEP_MS)));
	return NULL;
}

static void *root(void *arg)
{
	tsk_task *first = NULL;

	zoo_delay(arg);
	for (int i = 0; i < NSLEEPERS; i++) {
		char name[24];
		snprintf(name, sizeof(name), "sleeper-%d", i + 1);
		ZOO_TRY(tsk_spawn(i == 0 ? &first : NULL, name, sleeper, NULL));
	}
	zoo_await(&noted, NSLEEPERS);
	zoo_ready_steady(NULL);
	tsk_set_state("joining sleeper-1");
	ZOO_NEVER(tsk_join(first, NULL, TSK_FOREVER));
}

int main(int argc, char **argv)
{
	return zoo_main(argc, argv,
	                "16 tasks sleep an hour at a time, for ever; the root joins one.  No\n"
	                "deadlock: a sleep always ends.\n",
	                root);
}
