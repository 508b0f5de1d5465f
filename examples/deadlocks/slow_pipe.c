/*
 * slow_pipe.c - tasks blocked on I/O for long stretches: four tasks
 * "reader-1".."reader-4" read one byte at a time from the same pipe
 * (tsk_read, no deadline), and a task "writer" writes one byte to it every
 * 200 ms (tsk_write), for ever.  Each byte goes to whichever reader the
 * runtime wakes first; the bytes count 0, 1, 2... (mod 256).
 *
 * The root joins the writer (for ever).
 *
 * The inspector must say: no deadlock (report exits 0): an I/O wait can
 * always end from outside the runtime.
 *
 * Usage: slow_pipe [--delay MS] (see zoo.h; "ready pid <pid>" after 300 ms
 * of work)
 * Exit status: never exits by itself; 1 a runtime error, 2 bad usage.
 */
#define ZOO_PROG "slow_pipe"
#include "zoo.h"

#define NREADERS  4
#define PERIOD_MS 200

static int fds[2];        /* the pipe: fds[0] reads, fds[1] writes */
static atomic_long nread; /* bytes read, all readers */

static void *reader(void *arg)
{
	unsigned char byte;

	(void)arg;
	tsk_set_state("reading a byte");
	for (;;) {
		if (ZOO_TRY(tsk_read(fds[0], &byte, 1, TSK_FOREVER)) == 0) {
			fprintf(stderr, "%s: end of file on the pipe\n", ZOO_PROG);
			exit(1);
		}
		atomic_fetch_add_explicit(&nread, 1, memory_order_relaxed);
	}
	return NULL;
}

static void *writer(void *arg)
{
	int64_t next = tsk_now();
	unsigned char byte = 0;

	(void)arg;
	tsk_set_state("writing a byte now and then");
	for (;;) {
		ZOO_TRY(tsk_write(fds[1], &byte, 1, TSK_FOREVER));
		byte++;
		next += PERIOD_MS * 1000000LL;
		ZOO_TRY(tsk_sleep(next));
	}
	return NULL;
}

static void *root(void *arg)
{
	tsk_task *w;

	ZOO_TRY(tsk_pipe(fds));
	zoo_delay(arg);

	for (int i = 0; i < NREADERS; i++) {
		char name[24];
		snprintf(name, sizeof(name), "reader-%d", i + 1);
		ZOO_TRY(tsk_spawn(NULL, name, reader, NULL));
	}
	ZOO_TRY(tsk_spawn(&w, "writer", writer, NULL));
	zoo_ready_steady(&nread);
	tsk_set_state("joining the writer");
	ZOO_NEVER(tsk_join(w, NULL, TSK_FOREVER));
}

int main(int argc, char **argv)
{
	return zoo_main(argc, argv,
	                "Four tasks read one byte at a time from a pipe that a task \"writer\"\n"
	                "writes one byte to every 200 ms.  No deadlock.\n",
	                root);
}
