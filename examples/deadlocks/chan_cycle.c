/*
 * chan_cycle.c - two tasks each waiting for the other to send: "a"
 * receives on the rendezvous channel "c1" and would then send on "c2",
 * "b" receives on "c2" and would then send on "c1".  Meanwhile a task
 * "ticker" sleeps 10 ms at a time for ever (it never touches c1 or c2),
 * and the root joins the ticker: the program as a whole still runs.
 *
 * Task a creates both channels (the root never touches them: a free task
 * that had used them could wake a or b, as far as the detector knows);
 * the root spawns b once a has noted, which is after a created them.
 *
 * The inspector must say: one deadlock, likely (other tasks still run),
 * a stall of {a, b}: a waits on channel "c1", b on "c2", and every task
 * that created or used them is among the stuck.
 *
 * Usage: chan_cycle [--delay MS] (see zoo.h; "ready pid <pid>" once
 * deadlocked)
 * Exit status: never exits by itself; 1 a runtime error, 2 bad usage.
 */
#define ZOO_PROG "chan_cycle"
#include "zoo.h"

#define TICK_MS 10

struct chan_cycle {
	tsk_chan *c1, *c2; /* of int, capacity 0; made by a before its note */
	atomic_int noted;  /* tasks at their last call */
};

static struct chan_cycle cc;

static void *task_a(void *arg)
{
	int v;

	(void)arg;
	ZOO_TRY(tsk_chan_create(&cc.c1, "c1", sizeof(int), 0));
	ZOO_TRY(tsk_chan_create(&cc.c2, "c2", sizeof(int), 0));
	tsk_set_state("waiting for b on c1");
	zoo_note(&cc.noted); /* publishes c1 and c2 to the root, then b */
	ZOO_TRY(tsk_chan_recv(cc.c1, &v, TSK_FOREVER));
	ZOO_NEVER(tsk_chan_send(cc.c2, &v, TSK_FOREVER));
}

static void *task_b(void *arg)
{
	int v;

	(void)arg;
	tsk_set_state("waiting for a on c2");
	zoo_note(&cc.noted);
	ZOO_TRY(tsk_chan_recv(cc.c2, &v, TSK_FOREVER));
	ZOO_NEVER(tsk_chan_send(cc.c1, &v, TSK_FOREVER));
}

static void *ticker(void *arg)
{
	int64_t next = tsk_now();

	(void)arg;
	tsk_set_state("ticking");
	for (;;) {
		next += TICK_MS * 1000000LL;
		ZOO_TRY(tsk_sleep(next));
	}
	return NULL;
}

static void *root(void *arg)
{
	tsk_task *a, *b, *tick;

	zoo_delay(arg);
	ZOO_TRY(tsk_spawn(&a, "a", task_a, NULL));
	zoo_await(&cc.noted, 1); /* c1 and c2 exist */
	ZOO_TRY(tsk_spawn(&b, "b", task_b, NULL));
	ZOO_TRY(tsk_spawn(&tick, "ticker", ticker, NULL));
	zoo_ready_when(&cc.noted, 2);
	tsk_set_state("joining the ticker");
	ZOO_NEVER(tsk_join(tick, NULL, TSK_FOREVER));
}

int main(int argc, char **argv)
{
	return zoo_main(argc, argv,
	                "Task \"a\" receives on channel \"c1\" then sends on \"c2\", task \"b\"\n"
	                "receives on \"c2\" then sends on \"c1\", while a task \"ticker\" keeps\n"
	                "sleeping 10 ms at a time and the root joins it.  A likely stall {a, b}.\n",
	                root);
}
