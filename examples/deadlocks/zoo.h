/*
 * zoo.h - what the programs of the deadlock zoo share (prefix zoo_, ZOO_):
 * their command line, the "ready" line, the notes that say every task has
 * reached its last blocking call, and how a call that fails ends them.
 *
 * The zoo (every .c file of examples/deadlocks/) is the subject of the deadlock
 * detector's end-to-end tests (tests/inspector/test_deadlocks.sh,
 * test_stress.sh): one small program per pattern, each with a known
 * answer, stated in its header comment.  Nine deadlock, five only look
 * like it (no deadlock may be reported), two are for scale.
 *
 * The contract every program keeps:
 *   - `--delay MS` (default 0): the root sleeps that long before it forms
 *     the deadlock or starts the work, so that a recorder can attach
 *     first; `--help`; a bad command line exits 2 with one line on stderr
 *     (ex_common.h's messages).
 *   - Once in its final state it prints "ready pid <pid>" on stdout,
 *     flushed, and stays in that state for ever.  A deadlocking program
 *     says it when every task of the deadlock has noted (zoo_note) that
 *     it is about to make its last blocking call, plus ZOO_SETTLE_MS for
 *     those calls to be entered; a look-alike once it has worked steadily
 *     for ZOO_STEADY_MS.
 *   - Deadlocking programs handle no signal (SIGTERM and SIGKILL kill
 *     them; the test removes the segment they leave) and have no task
 *     sleeping or waiting on I/O beyond what their header lists: such a
 *     task can progress, which would turn a definite stall into a likely
 *     one.
 *   - Every ordering a deadlock needs comes from a handshake (a wait group
 *     passed before the last call, or the root waiting for a note), never
 *     from timing; after the handshake nobody blocks on its objects.
 *
 * Each program defines ZOO_PROG (its name: messages, and the runtime's
 * name in the inspector) before including this file.  Like ex_common.h it
 * is all static inline: every zoo program is one .c file.
 *
 * Calls are checked through the macros ZOO_TRY and ZOO_NEVER, not through
 * functions that make the call themselves, because the taskscope calls
 * are macros that record their call site: a spawn or a wait written here
 * would show as zoo.h in the inspector.
 */
#ifndef TSK_ZOO_H
#define TSK_ZOO_H

#ifndef ZOO_PROG
#error "define ZOO_PROG, the program's name, before including zoo.h"
#endif

#include <getopt.h>
#include <stdatomic.h>
#include <stdint.h>

#include "../ex_common.h"

#define ZOO_SETTLE_MS 20     /* after the last note, for the last calls to be entered */
#define ZOO_STEADY_MS 300    /* a look-alike works this long before it is ready */
#define ZOO_MAX_DELAY 600000 /* --delay: at most ten minutes */

/* The command line every zoo program takes. */
struct zoo_cli {
	int delay_ms; /* --delay */
};

/* ---- failures ------------------------------------------------------------ */

/* Ends the program (exit status 1) when rc, the result of `call' made at
 * `line', is negative: "PROG: line N: CALL: <error>".  Returns rc. */
static inline long zoo_try(long rc, const char *call, int line)
{
	if (rc < 0) {
		fprintf(stderr, "%s: line %d: %s: %s\n", ZOO_PROG, line, call,
		        tsk_strerror((int)rc));
		exit(1);
	}
	return rc;
}

/* The last blocking call of a deadlocked task, `call' at `line', returned
 * rc: that is a bug of the program (or of the runtime).  Prints "PROG:
 * line N: CALL returned <result>: the deadlock did not hold" and exits 1. */
static inline _Noreturn void zoo_never(long rc, const char *call, int line)
{
	fprintf(stderr, "%s: line %d: %s returned %s: the deadlock did not hold\n", ZOO_PROG, line,
	        call, rc < 0 ? tsk_errname((int)rc) : "success");
	exit(1);
}

/* CALL must succeed (return >= 0); its value. */
#define ZOO_TRY(call) zoo_try((long)(call), #call, __LINE__)
/* CALL must never return: the last blocking call of a deadlocked task. */
#define ZOO_NEVER(call) zoo_never((long)(call), #call, __LINE__)

/* ---- notes and the ready line ------------------------------------------------ */

/* Notes that the calling task is about to make its last blocking call. */
static inline void zoo_note(atomic_int *noted)
{
	/* release: pairs with the acquire in zoo_await */
	atomic_fetch_add_explicit(noted, 1, memory_order_release);
}

/* Waits, in the root, until *noted reaches n (polling each millisecond). */
static inline void zoo_await(atomic_int *noted, int n)
{
	while (atomic_load_explicit(noted, memory_order_acquire) < n)
		ZOO_TRY(tsk_sleep(tsk_after_ms(1)));
}

/* Prints "ready pid <pid>" on stdout, flushed. */
static inline void zoo_ready(void)
{
	printf("ready pid %d\n", (int)getpid());
	fflush(stdout);
}

/* The root of a deadlocking program: waits until n tasks have noted their
 * last call, gives them ZOO_SETTLE_MS to enter it, then says it is ready. */
static inline void zoo_ready_when(atomic_int *noted, int n)
{
	zoo_await(noted, n);
	ZOO_TRY(tsk_sleep(tsk_after_ms(ZOO_SETTLE_MS)));
	zoo_ready();
}

/* The root of a look-alike: lets the work run for ZOO_STEADY_MS, then
 * says it is ready.  When progress is not NULL it must have grown
 * meanwhile (a count of rounds): if not, the look-alike is stuck, which is
 * a bug: "PROG: no progress in N ms", exit status 1. */
static inline void zoo_ready_steady(atomic_long *progress)
{
	long before = progress ? atomic_load_explicit(progress, memory_order_relaxed) : 0;

	ZOO_TRY(tsk_sleep(tsk_after_ms(ZOO_STEADY_MS)));
	if (progress && atomic_load_explicit(progress, memory_order_relaxed) == before) {
		fprintf(stderr, "%s: no progress in %d ms\n", ZOO_PROG, ZOO_STEADY_MS);
		exit(1);
	}
	zoo_ready();
}

/* Sleeps cli->delay_ms (--delay) in the calling task, if any. */
static inline void zoo_delay(const struct zoo_cli *cli)
{
	if (cli->delay_ms > 0)
		ZOO_TRY(tsk_sleep(tsk_after_ms(cli->delay_ms)));
}

/* ---- random numbers ------------------------------------------------------------- */

/* A seed for a task's own generator, different for each i. */
static inline uint64_t zoo_seed(uint64_t i)
{
	return ((uint64_t)tsk_now() ^ (i + 1) * 0x9e3779b97f4a7c15ull) | 1;
}

/* xorshift64*: a number in [0, n) (n > 0) from the state *s (non-zero). */
static inline uint32_t zoo_rand(uint64_t *s, uint32_t n)
{
	*s ^= *s >> 12;
	*s ^= *s << 25;
	*s ^= *s >> 27;
	return (uint32_t)(((*s * 0x2545f4914f6cdd1dull) >> 32) % n);
}

/* ---- the command line -------------------------------------------------------------- */

/* Prints the usage of a program with no options but --delay and --help;
 * `what' is its description (lines of at most 78 columns, ending in a
 * newline). */
static inline void zoo_usage(const char *what)
{
	printf("usage: %s [--delay MS]\n"
	       "\n"
	       "%s"
	       "\n"
	       "Prints \"ready pid <pid>\" once in its final state, and stays in it for ever.\n"
	       "\n"
	       "  --delay MS  sleep MS milliseconds first, 0..%d (default 0)\n"
	       "  --help      this text\n"
	       "\n"
	       "Exit status: none (it never ends: kill it), 1 a runtime error, 2 bad usage.\n",
	       ZOO_PROG, what, ZOO_MAX_DELAY);
}

/* Runs root(cli) as the root task of a runtime named ZOO_PROG with stacks
 * of stack_size bytes (0: the default).  Returns the exit status: 1 when
 * tsk_run fails or the root returns non-NULL, else 0. */
static inline int zoo_run(void *(*root)(void *), struct zoo_cli *cli, size_t stack_size)
{
	tsk_config cfg = {.name = ZOO_PROG, .stack_size = stack_size};
	void *status = NULL;
	int rc;

	rc = tsk_run(root, cli, &cfg, &status);
	if (rc < 0) {
		fprintf(stderr, "%s: tsk_run: %s\n", ZOO_PROG, tsk_strerror(rc));
		return 1;
	}
	return status != NULL;
}

/* main() of a program with no options but --delay and --help: parses
 * them, then runs root(cli) as zoo_run does.  Returns the exit status: 0
 * after --help, 2 on a bad command line, else zoo_run's. */
static inline int zoo_main(int argc, char **argv, const char *what, void *(*root)(void *))
{
	static const struct option opts[] = {
	        {"delay", required_argument, NULL, 'd'},
	        {"help", no_argument, NULL, 'h'},
	        {NULL, 0, NULL, 0},
	};
	static struct zoo_cli cli;
	int o;

	opterr = 0;
	while ((o = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (o) {
		case 'd':
			if (!ex_parse_int(optarg, 0, ZOO_MAX_DELAY, &cli.delay_ms))
				return ex_bad_value(ZOO_PROG, argv);
			break;
		case 'h':
			zoo_usage(what);
			return 0;
		default:
			return ex_bad_option(ZOO_PROG, argv);
		}
	}
	if (optind < argc)
		return ex_unexpected_arg(ZOO_PROG, argv[optind]);
	return zoo_run(root, &cli, 0);
}

#endif
