/*
 * chain.c - long wait chains at scale, for the detector's latency
 * benchmark: --tasks N tasks in N/L chains of --length L.  In chain C,
 * task "chain-C-K" holds its mutex and waits, without a deadline, for the
 * mutex of "chain-C-<K+1>"; the last task of the chain holds its mutex and
 * sleeps 10 ms at a time, for ever.  Every chain is long and every task of
 * it waits on an owned mutex, but each ends in a sleeper: no deadlock.
 *
 * Once every chain is in place it prints "ready pid <pid>".  Then, after
 * --delay MS, it forms one more chain of L tasks "ring-0".."ring-<L-1>"
 * that closes into a cycle (ring-K holds mutex "ring-K" and waits for
 * "ring-<K+1>"; the last one waits for "ring-0") and prints "closed" once
 * its tasks have made their last call.  The root sleeps for ever, 1 s at a
 * time.
 *
 * The order: every task takes its own mutex, then waits on a wait group
 * ("links-held", "ring-held") until all of its kind have; only then does
 * it ask for the next mutex.  Nobody waits on the groups after that.
 *
 * The inspector must say: nothing before "closed" (report exits 0); after
 * it, one deadlock, definite, a cycle of exactly the L ring tasks.
 *
 * --wait join makes the chains of joins instead: chain-C-K joins
 * chain-C-<K+1> (spawned first) and holds no mutex; the ring is the same.
 *
 * Cost: with --wait mutex (the default) every task holds one mutex, so the
 * program has N + L mutexes; the chains' are all named "link".  The flight
 * recorder has room for 65536 resources and 262144 tasks
 * (probes/src/probe.c): beyond about 64000 tasks the chains' last mutexes
 * get no slot, and the inspector does not see who holds them (--wait join
 * needs no slot per link).  The ring's mutexes are made first, so the
 * cycle always has its slots.  Stacks are 16 KiB (the runtime's least); a
 * parked task costs about 4.6 KB of memory (100000 tasks: 460 MB RSS).
 *
 * Usage: chain [--tasks N] [--length L] [--wait mutex|join] [--delay MS]
 * Exit status: never exits by itself; 1 a runtime error, 2 bad usage.
 */
#define ZOO_PROG "chain"
#include "zoo.h"

#define MAX_TASKS    1000000
#define STACK_SIZE   (16 * 1024)
#define TICK_MS      10
#define ROOT_TICK_MS 1000

/* One task of a chain or of the ring. */
struct link {
	tsk_mutex *own;    /* taken first, held for ever; NULL: none (--wait join) */
	tsk_mutex *next;   /* then waited for */
	tsk_task *join;    /* or joined (--wait join); neither: the last, sleeps */
	tsk_wg *held;      /* the handshake: every task of its kind holds its own */
	atomic_int *noted; /* count of tasks at their last call */
};

struct chain {
	struct zoo_cli cli;
	int ntasks;             /* --tasks */
	int length;             /* --length */
	bool join;              /* --wait join */
	int nchains;            /* ntasks / length */
	struct link *links;     /* nchains * length chain links, then length ring links */
	tsk_mutex **mutexes;    /* likewise */
	atomic_int chain_noted; /* chain tasks at their last call */
	atomic_int ring_noted;  /* ring tasks at their last call */
};

static struct chain ch = {.ntasks = 100000, .length = 1000};

static void *link_task(void *arg)
{
	struct link *l = arg;

	if (l->own)
		ZOO_TRY(tsk_mutex_lock(l->own, TSK_FOREVER));
	ZOO_TRY(tsk_wg_done(l->held));
	ZOO_TRY(tsk_wg_wait(l->held, TSK_FOREVER));
	zoo_note(l->noted);
	if (l->next)
		ZOO_NEVER(tsk_mutex_lock(l->next, TSK_FOREVER));
	if (l->join)
		ZOO_NEVER(tsk_join(l->join, NULL, TSK_FOREVER));
	for (int64_t next = tsk_now();;) {
		next += TICK_MS * 1000000LL;
		ZOO_TRY(tsk_sleep(next));
	}
	return NULL;
}

/* Spawns the n tasks links[0..n) named "<prefix>-K", each waiting for the
 * next one's mutex (mutexes[k + 1], made already), or joining the next one
 * when mutexes is NULL; the last waits for the first's mutex when `ring',
 * else sleeps.  Spawned last to first, so that a joiner has its handle. */
static void spawn_links(struct link *links, tsk_mutex **mutexes, int n, const char *prefix,
                        bool ring, tsk_wg *held, atomic_int *noted)
{
	tsk_task *next = NULL;

	for (int k = n - 1; k >= 0; k--) {
		struct link *l = &links[k];
		char name[32];

		*l = (struct link){.held = held, .noted = noted};
		if (mutexes) {
			l->own = mutexes[k];
			l->next = k + 1 < n ? mutexes[k + 1] : ring ? mutexes[0] : NULL;
		} else {
			l->join = next;
		}
		snprintf(name, sizeof(name), "%s-%d", prefix, k);
		ZOO_TRY(tsk_spawn(mutexes ? NULL : &next, name, link_task, l));
	}
}

static void *root(void *arg)
{
	int nlinks = ch.nchains * ch.length, L = ch.length;
	tsk_mutex **ring_mutexes = ch.mutexes + nlinks;
	tsk_wg *links_held, *ring_held;

	(void)arg;
	/* the ring's first: they must get the recorder's slots */
	for (int k = 0; k < L; k++) {
		char name[32];
		snprintf(name, sizeof(name), "ring-%d", k);
		ZOO_TRY(tsk_mutex_create(&ring_mutexes[k], name));
	}
	for (int i = 0; !ch.join && i < nlinks; i++)
		ZOO_TRY(tsk_mutex_create(&ch.mutexes[i], "link"));
	ZOO_TRY(tsk_wg_create(&links_held, "links-held"));
	ZOO_TRY(tsk_wg_create(&ring_held, "ring-held"));
	ZOO_TRY(tsk_wg_add(links_held, nlinks));
	ZOO_TRY(tsk_wg_add(ring_held, L));

	tsk_set_state("building the chains");
	for (int c = 0; c < ch.nchains; c++) {
		char prefix[24];
		snprintf(prefix, sizeof(prefix), "chain-%d", c);
		spawn_links(ch.links + c * L, ch.join ? NULL : ch.mutexes + c * L, L, prefix, false,
		            links_held, &ch.chain_noted);
	}
	zoo_ready_when(&ch.chain_noted, nlinks);

	zoo_delay(&ch.cli);
	tsk_set_state("closing the ring");
	spawn_links(ch.links + nlinks, ring_mutexes, L, "ring", true, ring_held, &ch.ring_noted);
	zoo_await(&ch.ring_noted, L);
	ZOO_TRY(tsk_sleep(tsk_after_ms(ZOO_SETTLE_MS)));
	printf("closed\n");
	fflush(stdout);

	tsk_set_state("sleeping");
	for (;;)
		ZOO_TRY(tsk_sleep(tsk_after_ms(ROOT_TICK_MS)));
	return NULL;
}

static void usage(void)
{
	printf("usage: %s [--tasks N] [--length L] [--wait mutex|join] [--delay MS]\n"
	       "\n"
	       "N tasks in chains of L: each task holds a mutex and waits for the next\n"
	       "one's (or joins it); the last of each chain sleeps.  Prints \"ready pid\n"
	       "<pid>\" once they are in place, then after MS milliseconds closes one more\n"
	       "chain of L tasks \"ring-0\"..\"ring-<L-1>\" into a cycle and prints\n"
	       "\"closed\".\n"
	       "\n"
	       "  --tasks N    tasks in the chains, 0..%d (default 100000)\n"
	       "  --length L   tasks per chain and in the ring, 2..%d (default 1000)\n"
	       "  --wait KIND  the chains' waits: mutex (default) or join\n"
	       "  --delay MS   wait before closing the ring, 0..%d (default 0)\n"
	       "  --help       this text\n"
	       "\n"
	       "Exit status: none (it never ends: kill it), 1 a runtime error, 2 bad usage.\n",
	       ZOO_PROG, MAX_TASKS, MAX_TASKS, ZOO_MAX_DELAY);
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
	        {"tasks", required_argument, NULL, 't'}, {"length", required_argument, NULL, 'l'},
	        {"wait", required_argument, NULL, 'w'},  {"delay", required_argument, NULL, 'd'},
	        {"help", no_argument, NULL, 'h'},        {NULL, 0, NULL, 0},
	};
	size_t n;
	int o, status;
	bool ok = true;

	opterr = 0;
	while ((o = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (o) {
		case 't':
			ok = ex_parse_int(optarg, 0, MAX_TASKS, &ch.ntasks);
			break;
		case 'l':
			ok = ex_parse_int(optarg, 2, MAX_TASKS, &ch.length);
			break;
		case 'w':
			ok = !strcmp(optarg, "mutex") || !strcmp(optarg, "join");
			ch.join = !strcmp(optarg, "join");
			break;
		case 'd':
			ok = ex_parse_int(optarg, 0, ZOO_MAX_DELAY, &ch.cli.delay_ms);
			break;
		case 'h':
			usage();
			return 0;
		default:
			return ex_bad_option(ZOO_PROG, argv);
		}
		if (!ok)
			return ex_bad_value(ZOO_PROG, argv);
	}
	if (optind < argc)
		return ex_unexpected_arg(ZOO_PROG, argv[optind]);

	ch.nchains = ch.ntasks / ch.length;
	n = (size_t)(ch.nchains + 1) * (size_t)ch.length;
	ch.links = calloc(n, sizeof(*ch.links));
	ch.mutexes = calloc(n, sizeof(*ch.mutexes));
	if (!ch.links || !ch.mutexes) {
		fprintf(stderr, "%s: out of memory\n", ZOO_PROG);
		return 1;
	}
	status = zoo_run(root, &ch.cli, STACK_SIZE);
	free(ch.links);
	free(ch.mutexes);
	return status;
}
