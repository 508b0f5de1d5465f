/*
 * request_reply.c - a server that answers on a reply channel each request
 * carries, and is slow: the look-alike of a stall that only the channels
 * a message carries explain.  The task "client" creates a channel "reply"
 * for each request, sends it to the server on "requests" and waits on it;
 * the task "server" (spawned first, so not the client's child) receives
 * it, works 200 ms, and answers on it.
 *
 * While the server works, the client waits without a deadline on a
 * channel only it ever created or used: no task that can run created it,
 * used it, or descends from one that did.  But the server shares
 * "requests" with the client: the reply channel may have come to it in a
 * message, so it may wake the client, and it does.
 *
 * The inspector must say: no deadlock (report exits 0).
 *
 * Usage: request_reply [--delay MS] (see zoo.h; "ready pid <pid>" after
 * 500 ms of work)
 * Exit status: never exits by itself; 1 a runtime error, 2 bad usage.
 */
#define ZOO_PROG "request_reply"
#include "zoo.h"

#define WORK_MS 200

static tsk_chan *requests;
static atomic_long answered;

static void *server(void *arg)
{
	(void)arg;
	for (;;) {
		tsk_chan *reply;
		long v = 1;
		ZOO_TRY(tsk_chan_recv(requests, &reply, TSK_FOREVER));
		ZOO_TRY(tsk_sleep(tsk_after_ms(WORK_MS))); /* the slow work */
		ZOO_TRY(tsk_chan_send(reply, &v, TSK_FOREVER));
	}
	return NULL;
}

static void *client(void *arg)
{
	(void)arg;
	for (;;) {
		tsk_chan *reply;
		long v;
		ZOO_TRY(tsk_chan_create(&reply, "reply", sizeof(long), 1));
		ZOO_TRY(tsk_chan_send(requests, &reply, TSK_FOREVER));
		ZOO_TRY(tsk_chan_recv(reply, &v, TSK_FOREVER));
		ZOO_TRY(tsk_chan_destroy(reply));
		atomic_fetch_add(&answered, 1);
	}
	return NULL;
}

static void *root(void *arg)
{
	tsk_task *c;

	ZOO_TRY(tsk_chan_create(&requests, "requests", sizeof(tsk_chan *), 0));
	zoo_delay(arg);
	ZOO_TRY(tsk_spawn(NULL, "server", server, NULL));
	ZOO_TRY(tsk_spawn(&c, "client", client, NULL));
	ZOO_TRY(tsk_sleep(tsk_after_ms(500)));
	zoo_ready();
	ZOO_NEVER(tsk_join(c, NULL, TSK_FOREVER));
}

int main(int argc, char **argv)
{
	return zoo_main(argc, argv,
	                "A client that passes a reply channel to a slow server in each request:\n"
	                "no deadlock.\n",
	                root);
}
