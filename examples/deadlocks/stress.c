/*
 * stress.c - lock contention at scale, for the detector's false-positive
 * and load tests: --tasks N tasks "worker-1".."worker-N" take random pairs
 * i < j of --mutexes M mutexes "m0".."m<M-1>", in order (lock i, yield,
 * lock j, unlock j, unlock i), over and over, for --duration seconds; then
 * the root stops and joins them and prints "done rounds R" (pairs taken,
 * all tasks).  Without --invert the inspector must find no deadlock,
 * however often it looks.
 *
 * --invert adds one task "inverter" that takes mutex 1 then mutex 0 (lock
 * 1, yield, lock 0), over and over, while every worker takes the pair
 * (0, 1) every 16th round: a worker soon holds 0 while the inverter holds
 * 1, and each waits for the other.  Then every other task ends up blocked
 * behind them and the program never ends (the root's joins wait for
 * ever).  The inspector must then find one deadlock, definite, a cycle of
 * two tasks: the inverter and one worker.
 *
 * It prints "ready pid <pid>" once every task is spawned (after --delay),
 * then "done rounds R" when it ends.
 *
 * Usage: stress [--tasks N] [--mutexes M] [--duration S] [--invert]
 *               [--delay MS]
 * Exit status: 0 done; 1 a runtime error, or --invert and no deadlock
 * formed within the duration; 2 bad usage.  With --invert it normally
 * never ends: kill it.
 */
#define ZOO_PROG "stress"
#include "zoo.h"

#define MAX_TASKS    1000000
#define MAX_MUTEXES  65536
#define MAX_DURATION 86400.0
#define PAIR01_EVERY 16 /* with --invert, a worker's rounds that take (0, 1) */

struct stress {
	struct zoo_cli cli;
	int ntasks;          /* --tasks */
	int nmutexes;        /* --mutexes */
	double duration;     /* --duration, seconds */
	bool invert;         /* --invert */
	tsk_mutex **mutexes; /* nmutexes of them */
	tsk_task **workers;  /* ntasks of them */
	atomic_bool stop;    /* the root's cue to every task */
	atomic_long rounds;  /* pairs taken and released, all tasks */
};

static struct stress st = {.ntasks = 10000, .nmutexes = 100, .duration = 10};

/* Takes mutex i, yields, takes mutex j, then lets both go. */
static void take_pair(uint32_t i, uint32_t j)
{
	ZOO_TRY(tsk_mutex_lock(st.mutexes[i], TSK_FOREVER));
	ZOO_TRY(tsk_yield());
	ZOO_TRY(tsk_mutex_lock(st.mutexes[j], TSK_FOREVER));
	ZOO_TRY(tsk_mutex_unlock(st.mutexes[j]));
	ZOO_TRY(tsk_mutex_unlock(st.mutexes[i]));
	atomic_fetch_add_explicit(&st.rounds, 1, memory_order_relaxed);
}

static void *worker(void *arg)
{
	uint64_t rng = zoo_seed((uint64_t)(uintptr_t)arg);
	uint32_t m = (uint32_t)st.nmutexes;

	tsk_set_state("taking pairs of mutexes in order");
	for (long round = 0; !atomic_load_explicit(&st.stop, memory_order_relaxed); round++) {
		if (st.invert && round % PAIR01_EVERY == 0) {
			take_pair(0, 1);
			continue;
		}
		uint32_t i = zoo_rand(&rng, m), j = zoo_rand(&rng, m - 1);
		if (j >= i)
			j++; /* j != i */
		if (j < i)
			take_pair(j, i);
		else
			take_pair(i, j);
	}
	return NULL;
}

static void *inverter(void *arg)
{
	(void)arg;
	tsk_set_state("taking mutex 1 then mutex 0");
	while (!atomic_load_explicit(&st.stop, memory_order_relaxed))
		take_pair(1, 0);
	return NULL;
}

static void *root(void *arg)
{
	tsk_task *inv = NULL;

	(void)arg;
	for (int i = 0; i < st.nmutexes; i++) {
		char name[24];
		snprintf(name, sizeof(name), "m%d", i);
		ZOO_TRY(tsk_mutex_create(&st.mutexes[i], name));
	}
	zoo_delay(&st.cli);

	for (int i = 0; i < st.ntasks; i++) {
		char name[24];
		snprintf(name, sizeof(name), "worker-%d", i + 1);
		ZOO_TRY(tsk_spawn(&st.workers[i], name, worker, (void *)(uintptr_t)i));
	}
	if (st.invert)
		ZOO_TRY(tsk_spawn(&inv, "inverter", inverter, NULL));
	zoo_ready();

	tsk_set_state("letting them work");
	ZOO_TRY(tsk_sleep(tsk_now() + (int64_t)(st.duration * 1e9)));
	atomic_store_explicit(&st.stop, true, memory_order_relaxed);
	tsk_set_state("stopping them");
	for (int i = 0; i < st.ntasks; i++)
		ZOO_TRY(tsk_join(st.workers[i], NULL, TSK_FOREVER));
	if (inv)
		ZOO_TRY(tsk_join(inv, NULL, TSK_FOREVER));
	for (int i = 0; i < st.nmutexes; i++)
		ZOO_TRY(tsk_mutex_destroy(st.mutexes[i]));

	printf("done rounds %ld\n", atomic_load(&st.rounds));
	fflush(stdout);
	if (st.invert) {
		fprintf(stderr, "%s: --invert: no deadlock formed in %g s\n", ZOO_PROG,
		        st.duration);
		return (void *)1;
	}
	return NULL;
}

static void usage(void)
{
	printf("usage: %s [--tasks N] [--mutexes M] [--duration S] [--invert] [--delay MS]\n"
	       "\n"
	       "N tasks take random pairs of M mutexes, always the lower index first, for\n"
	       "S seconds: heavy contention, no deadlock.  Prints \"ready pid <pid>\" once\n"
	       "they are spawned, and \"done rounds R\" at the end.\n"
	       "\n"
	       "  --tasks N      tasks, 1..%d (default 10000)\n"
	       "  --mutexes M    mutexes, 2..%d (default 100)\n"
	       "  --duration S   seconds of work, 0..%g (default 10)\n"
	       "  --invert       one more task takes mutex 1 before mutex 0: a deadlock of\n"
	       "                 two tasks forms within a second or two, and it never ends\n"
	       "  --delay MS     sleep MS milliseconds first, 0..%d (default 0)\n"
	       "  --help         this text\n"
	       "\n"
	       "Exit status: 0 done, 1 a runtime error (or --invert and no deadlock\n"
	       "formed), 2 bad usage.\n",
	       ZOO_PROG, MAX_TASKS, MAX_MUTEXES, MAX_DURATION, ZOO_MAX_DELAY);
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
	        {"tasks", required_argument, NULL, 't'},
	        {"mutexes", required_argument, NULL, 'm'},
	        {"duration", required_argument, NULL, 's'},
	        {"invert", no_argument, NULL, 'i'},
	        {"delay", required_argument, NULL, 'd'},
	        {"help", no_argument, NULL, 'h'},
	        {NULL, 0, NULL, 0},
	};
	int o, status;
	bool ok = true;

	opterr = 0;
	while ((o = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (o) {
		case 't':
			ok = ex_parse_int(optarg, 1, MAX_TASKS, &st.ntasks);
			break;
		case 'm':
			ok = ex_parse_int(optarg, 2, MAX_MUTEXES, &st.nmutexes);
			break;
		case 's':
			ok = ex_parse_double(optarg, 0, MAX_DURATION, &st.duration);
			break;
		case 'i':
			st.invert = true;
			break;
		case 'd':
			ok = ex_parse_int(optarg, 0, ZOO_MAX_DELAY, &st.cli.delay_ms);
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

	st.mutexes = calloc((size_t)st.nmutexes, sizeof(*st.mutexes));
	st.workers = calloc((size_t)st.ntasks, sizeof(*st.workers));
	if (!st.mutexes || !st.workers) {
		fprintf(stderr, "%s: out of memory\n", ZOO_PROG);
		return 1;
	}
	status = zoo_run(root, &st.cli, 0);
	free(st.mutexes);
	free(st.workers);
	return status;
}
