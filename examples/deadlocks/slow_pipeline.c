/*
 * slow_pipeline.c - a pipeline that is mostly waiting, and never stuck: a
 * task "producer" sends an item every 50 ms into three stages "stage-1",
 * "stage-2", "stage-3" and a task "consumer", all connected by rendezvous
 * channels ("to-stage-1", "to-stage-2", "to-stage-3", "to-consumer").
 * Each stage sleeps 1..5 ms per item, then passes it on.
 *
 * At almost any moment every task but one waits without a deadline on a
 * channel; but each of those channels is used by a task that can progress
 * (the sleeping producer or stage upstream), so nothing is stuck.  The
 * root joins the consumer (for ever).
 *
 * The inspector must say: no deadlock (report exits 0).
 *
 * Usage: slow_pipeline [--delay MS] (see zoo.h; "ready pid <pid>" after
 * 300 ms of work)
 * Exit status: never exits by itself; 1 a runtime error, 2 bad usage.
 */
#define ZOO_PROG "slow_pipeline"
#include "zoo.h"

#define NSTAGES      3
#define PERIOD_MS    50
#define STAGE_MIN_MS 1
#define STAGE_MAX_MS 5

/* chans[0] goes to stage-1, chans[NSTAGES] to the consumer */
static tsk_chan *chans[NSTAGES + 1];
static atomic_long consumed; /* items that reached the consumer */

static void *producer(void *arg)
{
	int64_t next = tsk_now();
	long item = 0;

	(void)arg;
	tsk_set_state("producing");
	for (;;) {
		ZOO_TRY(tsk_chan_send(chans[0], &item, TSK_FOREVER));
		item++;
		next += PERIOD_MS * 1000000LL;
		ZOO_TRY(tsk_sleep(next));
	}
	return NULL;
}

/* Stage i (0-based): from chans[i] to chans[i + 1]. */
static void *stage(void *arg)
{
	int i = (int)(uintptr_t)arg;
	uint64_t rng = zoo_seed((uint64_t)i);
	long item;

	tsk_set_state("working on an item");
	for (;;) {
		ZOO_TRY(tsk_chan_recv(chans[i], &item, TSK_FOREVER));
		int64_t ms = STAGE_MIN_MS + zoo_rand(&rng, STAGE_MAX_MS - STAGE_MIN_MS + 1);
		ZOO_TRY(tsk_sleep(tsk_after_ms(ms)));
		ZOO_TRY(tsk_chan_send(chans[i + 1], &item, TSK_FOREVER));
	}
	return NULL;
}

static void *consumer(void *arg)
{
	long item;

	(void)arg;
	tsk_set_state("consuming");
	for (;;) {
		ZOO_TRY(tsk_chan_recv(chans[NSTAGES], &item, TSK_FOREVER));
		atomic_fetch_add_explicit(&consumed, 1, memory_order_relaxed);
	}
	return NULL;
}

static void *root(void *arg)
{
	tsk_task *cons;

	for (int i = 0; i <= NSTAGES; i++) {
		char name[24];
		if (i < NSTAGES)
			snprintf(name, sizeof(name), "to-stage-%d", i + 1);
		else
			snprintf(name, sizeof(name), "to-consumer");
		ZOO_TRY(tsk_chan_create(&chans[i], name, sizeof(long), 0));
	}
	zoo_delay(arg);

	ZOO_TRY(tsk_spawn(&cons, "consumer", consumer, NULL));
	for (int i = NSTAGES - 1; i >= 0; i--) {
		char name[24];
		snprintf(name, sizeof(name), "stage-%d", i + 1);
		ZOO_TRY(tsk_spawn(NULL, name, stage, (void *)(uintptr_t)i));
	}
	ZOO_TRY(tsk_spawn(NULL, "producer", producer, NULL));
	zoo_ready_steady(&consumed);
	tsk_set_state("joining the consumer");
	ZOO_NEVER(tsk_join(cons, NULL, TSK_FOREVER));
}

int main(int argc, char **argv)
{
	return zoo_main(argc, argv,
	                "A producer sends an item every 50 ms through three stages (each sleeps\n"
	                "1..5 ms per item) to a consumer, over rendezvous channels: mostly\n"
	                "waiting, never stuck.  No deadlock.\n",
	                root);
}
