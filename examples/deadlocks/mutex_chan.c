/*
 * mutex_chan.c - a wait on a channel while holding a mutex the sender
 * needs: task "holder" locks mutex "state", then receives from the
 * rendezvous channel "acks"; task "sender", the only one that would send
 * on "acks", first locks "state".  Neither can go on.
 *
 * Not a cycle of owned resources: a channel has no owner, so only the
 * stall rule sees it.  The root spawns the sender once the holder holds
 * "state" (it waits for the holder's note), then joins the holder.
 *
 * The inspector must say: one deadlock, definite (nothing at all can
 * progress), a stall of {holder, sender, root}: holder waits on channel
 * "acks", sender on mutex "state" (blocked by holder), the root on its
 * join of holder.  The root is the task the runtime names "root".
 *
 * Usage: mutex_chan [--delay MS] (see zoo.h; "ready pid <pid>" once
 * deadlocked)
 * Exit status: never exits by itself; 1 a runtime error, 2 bad usage.
 */
#define ZOO_PROG "mutex_chan"
#include "zoo.h"

struct mutex_chan {
	tsk_mutex *state;
	tsk_chan *acks;   /* of int, capacity 0 */
	atomic_int noted; /* tasks at their last call */
};

static struct mutex_chan mc;

static void *holder(void *arg)
{
	int ack;

	(void)arg;
	ZOO_TRY(tsk_mutex_lock(mc.state, TSK_FOREVER));
	tsk_set_state("waiting for an ack, holding state");
	zoo_note(&mc.noted);
	ZOO_NEVER(tsk_chan_recv(mc.acks, &ack, TSK_FOREVER));
}

static void *sender(void *arg)
{
	int ack = 1;

	(void)arg;
	tsk_set_state("taking state to send an ack");
	zoo_note(&mc.noted);
	ZOO_TRY(tsk_mutex_lock(mc.state, TSK_FOREVER));
	ZOO_NEVER(tsk_chan_send(mc.acks, &ack, TSK_FOREVER));
}

static void *root(void *arg)
{
	tsk_task *h, *s;

	ZOO_TRY(tsk_mutex_create(&mc.state, "state"));
	ZOO_TRY(tsk_chan_create(&mc.acks, "acks", sizeof(int), 0));
	zoo_delay(arg);

	ZOO_TRY(tsk_spawn(&h, "holder", holder, NULL));
	zoo_await(&mc.noted, 1); /* the holder holds state */
	ZOO_TRY(tsk_spawn(&s, "sender", sender, NULL));
	zoo_ready_when(&mc.noted, 2);
	tsk_set_state("joining holder and sender");
	ZOO_NEVER(tsk_join(h, NULL, TSK_FOREVER)); /* the sender's join would come next */
}

int main(int argc, char **argv)
{
	return zoo_main(
	        argc, argv,
	        "Task \"holder\" locks mutex \"state\" and receives from channel \"acks\";\n"
	        "task \"sender\", who would send the ack, first locks \"state\"; the root\n"
	        "joins them.  A definite stall {holder, sender, root}.\n",
	        root);
}
