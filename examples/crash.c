/*
 * crash.c - a program that crashes mid-work, for post-mortem reading of
 * its flight recorder: the segment a crashed process leaves in /dev/shm
 * (taskscope.<pid>.<start>) holds the last events and the live state at
 * the moment of the crash, which `taskscope dump` turns into a history.
 *
 *   producer --"work"--> worker-1..3 --> mutex "tally"
 *   crasher: after --after-ms, takes "tally" and crashes holding it
 *
 * The producer sends numbers on the channel "work" (capacity 16) as fast
 * as the workers take them; each worker adds its number to a tally under
 * the mutex "tally" and yields.  After --after-ms milliseconds the task
 * "crasher" takes "tally" (so the workers pile up on it), sets its state
 * label to "crashing", prints "crashing (HOW)" and then
 *   --how segv   writes through a pointer into a page mapped without any
 *                access (PROT_NONE): a certain SIGSEGV, unlike a NULL
 *                dereference, which the compiler may turn into anything;
 *   --how abort  calls abort(): SIGABRT.
 * A crash runs no exit handlers, so the probes' segment stays behind for
 * `taskscope dump`; `taskscope gc` removes it afterwards.  What it should
 * show: the crasher running (it was, when the process died), owning
 * "tally", the workers blocked on it or on "work", and the events before.
 *
 * Under the sanitizers the crash is theirs to report first: ASan, UBSan and
 * TSan catch SIGSEGV by default (handle_segv=1), print a report and exit
 * with a status of their own (the segment stays all the same: they exit
 * without the exit handlers).  ASAN_OPTIONS=handle_segv=0 (TSAN_OPTIONS,
 * UBSAN_OPTIONS likewise) lets the signal through.  abort() is not caught
 * by default (handle_abort=0).
 *
 * It prints "pid <pid>" and one line "task <name>" per task at the start.
 *
 * Usage: crash [--after-ms N] [--how segv|abort] [--workers N]
 * Exit status: it does not exit: it dies by SIGSEGV or SIGABRT; 1 when it
 * could not even start, 2 bad usage.
 */
#include <errno.h>
#include <getopt.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "ex_common.h"
#include "taskscope.h"

#define NWORKERS 3
#define WORK_CAP 16

struct crash {
	/* options */
	long after_ms;
	bool segv; /* else abort */
	/* the run */
	tsk_chan *work; /* uint64_t numbers: producer -> workers */
	tsk_mutex *tally_lock;
	uint64_t tally;    /* under tally_lock */
	volatile int *bad; /* a page mapped PROT_NONE */
};

static void die(const char *what, int rc)
{
	fprintf(stderr, "crash: %s: %s\n", what, tsk_strerror(rc));
	exit(1);
}

static void *producer(void *arg)
{
	struct crash *c = arg;

	tsk_set_state("producing");
	for (uint64_t n = 0;; n++)
		if (tsk_chan_send(c->work, &n, TSK_FOREVER) < 0)
			break;
	return NULL;
}

static void *worker(void *arg)
{
	struct crash *c = arg;
	uint64_t n;

	for (;;) {
		tsk_set_state("waiting for work");
		if (tsk_chan_recv(c->work, &n, TSK_FOREVER) < 0)
			break;
		tsk_set_state("tallying");
		if (tsk_mutex_lock(c->tally_lock, TSK_FOREVER) < 0)
			break;
		c->tally += n;
		tsk_mutex_unlock(c->tally_lock);
		tsk_yield();
	}
	return NULL;
}

static void *crasher(void *arg)
{
	struct crash *c = arg;
	int rc;

	tsk_set_state("waiting to crash");
	if ((rc = tsk_sleep(tsk_after_ms(c->after_ms))) < 0)
		die("sleep", rc);
	if ((rc = tsk_mutex_lock(c->tally_lock, TSK_FOREVER)) < 0)
		die("lock tally", rc);
	tsk_set_state("crashing");
	printf("crashing (%s)\n", c->segv ? "segv" : "abort");
	fflush(stdout); /* neither crash flushes stdio */
	if (c->segv)
		*c->bad = 1;
	abort();
}

static void *root(void *arg)
{
	struct crash *c = arg;
	static const char *const names[NWORKERS] = {"worker-1", "worker-2", "worker-3"};
	int rc;

	if ((rc = tsk_chan_create(&c->work, "work", sizeof(uint64_t), WORK_CAP)) < 0 ||
	    (rc = tsk_mutex_create(&c->tally_lock, "tally")) < 0)
		die("create", rc);
	printf("pid %d\n", (int)getpid());
	if ((rc = tsk_spawn(NULL, "producer", producer, c)) < 0)
		die("spawn", rc);
	printf("task producer\n");
	for (int i = 0; i < NWORKERS; i++) {
		if ((rc = tsk_spawn(NULL, names[i], worker, c)) < 0)
			die("spawn", rc);
		printf("task %s\n", names[i]);
	}
	tsk_task *t;
	if ((rc = tsk_spawn(&t, "crasher", crasher, c)) < 0)
		die("spawn", rc);
	printf("task crasher\n");
	fflush(stdout);
	tsk_set_state("waiting for the crash");
	tsk_join(t, NULL, TSK_FOREVER); /* it never returns */
	return NULL;
}

static void usage(void)
{
	printf("usage: crash [--after-ms N] [--how segv|abort] [--workers N]\n"
	       "\n"
	       "Runs a producer, three workers and a mutex for a while, then crashes in the\n"
	       "task \"crasher\" while it holds the mutex \"tally\".  The flight recorder's\n"
	       "segment stays in /dev/shm for `taskscope dump`.\n"
	       "\n"
	       "  --after-ms N    crash after N milliseconds (default 300)\n"
	       "  --how segv      write through a pointer to an inaccessible page (default)\n"
	       "  --how abort     call abort()\n"
	       "  --workers N     worker threads (default: one per CPU)\n"
	       "  --help          this text\n"
	       "\n"
	       "Prints \"pid <pid>\", one line \"task <name>\" per task, and \"crashing (HOW)\".\n"
	       "It dies by SIGSEGV or SIGABRT (a sanitizer build reports a SIGSEGV itself\n"
	       "and exits unless ASAN_OPTIONS etc. say handle_segv=0); exit status 1 when it\n"
	       "cannot start, 2 on bad usage.\n");
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
	        {"after-ms", required_argument, NULL, 'a'},
	        {"how", required_argument, NULL, 'c'},
	        {"workers", required_argument, NULL, 'w'},
	        {"help", no_argument, NULL, 'h'},
	        {NULL, 0, NULL, 0},
	};
	static struct crash c = {.after_ms = 300, .segv = true};
	tsk_config cfg = {.name = "crash"};
	long v;
	int o;

	opterr = 0;
	while ((o = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		bool ok = true;
		switch (o) {
		case 'a':
			ok = ex_parse_long(optarg, 0, 86400000, &c.after_ms);
			break;
		case 'c':
			ok = strcmp(optarg, "segv") == 0 || strcmp(optarg, "abort") == 0;
			c.segv = strcmp(optarg, "segv") == 0;
			break;
		case 'w':
			ok = ex_parse_long(optarg, 1, 1024, &v);
			cfg.workers = (int)v;
			break;
		case 'h':
			usage();
			return 0;
		default:
			return ex_bad_option("crash", argv);
		}
		if (!ok)
			return ex_bad_value("crash", argv);
	}
	if (optind < argc)
		return ex_unexpected_arg("crash", argv[optind]);
	void *page = mmap(NULL, (size_t)sysconf(_SC_PAGESIZE), PROT_NONE,
	                  MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (page == MAP_FAILED) {
		perror("crash: mmap");
		return 1;
	}
	c.bad = page;
	int rc = tsk_run(root, &c, &cfg, NULL);
	fprintf(stderr, "crash: tsk_run returned %s: it should have crashed\n",
	        rc < 0 ? tsk_strerror(rc) : "0");
	return 1;
}
