/*
 * ex_proc.h - run a real example program from a test (prefix ex_proc_).
 *
 * The tests in tests/examples/ drive the built examples end to end, so that
 * the examples cannot rot.  The program is the one of the test's own build
 * directory, found next to the test binary: $(BUILD)/tests/examples/test_x
 * runs $(BUILD)/examples/<name>, so every sanitizer stage tests its own
 * sanitized build of the examples (and a sanitizer report in the example
 * shows up as a wrong exit status; its stderr is printed then).
 *
 * A child runs in its own process group with stdin from /dev/null (or a
 * descriptor of the test's) and its stdout and stderr in memfds (no
 * temporary files to remove), with every
 * TASKSCOPE* variable removed from its environment so that it creates its
 * flight-recorder segment with the defaults.  It gets SIGKILL if the test
 * process dies (PR_SET_PDEATHSIG), and ex_proc_fini kills and reaps it and
 * removes the segment it left if killed, on every path: call it from the cmocka
 * teardown, which also runs after a failed assertion.
 *
 * Not thread-safe: start, wait and finish children from the test's main
 * thread.
 */
#ifndef TSK_EX_PROC_H
#define TSK_EX_PROC_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

/* One child process; zero-initialised storage is a valid "not started". */
typedef struct ex_proc {
	pid_t pid;                      /* the child, 0 before start and once reaped */
	int status;                     /* its wait status once reaped */
	bool started;                   /* out_fd and err_fd are open (until ex_proc_fini) */
	bool reaped;                    /* status is valid */
	int out_fd;                     /* memfd with its stdout */
	int err_fd;                     /* memfd with its stderr */
	char name[32];                  /* the example's name, for messages */
	unsigned long long start_ticks; /* its start time (/proc/<pid>/stat), 0 if unknown */
	char *out;                      /* last copy of stdout read by ex_proc_stdout (owned) */
	char *err;                      /* last copy of stderr read by ex_proc_stderr (owned) */
} ex_proc;

/* ms scaled for slow runs: 4x when TSK_TEST_SCALE < 1 (the sanitizer
 * stages), else ms. */
int ex_ms(int ms);

/* Milliseconds on the monotonic clock. */
long long ex_now_ms(void);

/* Starts example `name' with the NULL-terminated args (argv[1..]).
 * Returns 0, or -errno (the binary is missing, fork failed...) with *p
 * left not started.  p is caller storage, finished with ex_proc_fini. */
int ex_proc_start(ex_proc *p, const char *name, const char *const *args);

/* As ex_proc_start, with in_fd as the child's stdin (< 0: /dev/null) and
 * out_fd as its stdout (< 0: a memfd, read with ex_proc_stdout; else
 * ex_proc_stdout stays empty).  The caller keeps and closes both. */
int ex_proc_start_io(ex_proc *p, const char *name, const char *const *args, int in_fd, int out_fd);

/* As ex_proc_start_io, with env: NULL, or a NULL-terminated list of
 * "NAME=value" entries put in the child's environment, each replacing the
 * inherited variable of that name (TASKSCOPE* ones included: the list is
 * the test's explicit choice, e.g. TASKSCOPE_KEEP=1). */
int ex_proc_start_env(ex_proc *p, const char *name, const char *const *args, int in_fd, int out_fd,
                      const char *const *env);

/* Waits up to ms for the child to exit.  Returns 0 once reaped (p->status
 * set; also when it had been reaped before), -ETIMEDOUT if it still runs. */
int ex_proc_wait(ex_proc *p, int ms);

/* Sends sig to the child (if it runs) and waits up to ms, as ex_proc_wait. */
int ex_proc_signal_wait(ex_proc *p, int sig, int ms);

/* The child's whole stdout (stderr) so far, NUL-terminated; owned by p and
 * valid until the next call of the same function or ex_proc_fini. */
const char *ex_proc_stdout(ex_proc *p);
const char *ex_proc_stderr(ex_proc *p);

/* Waits up to ms until the child's stdout contains needle.  Returns a
 * pointer into ex_proc_stdout's copy at the match, or NULL when the child
 * exited or the time is up (its output is printed then). */
const char *ex_proc_wait_stdout(ex_proc *p, const char *needle, int ms);

/* Whether the child has exited (reaped) with exit status `code'; when not,
 * prints why, with its stdout and stderr, so the failing test shows it. */
bool ex_proc_exited_with(ex_proc *p, int code);

/* Prints the child's status, stdout and stderr to the test's stderr. */
void ex_proc_dump(ex_proc *p);

/* Whether the child's flight-recorder segment exists:
 * /dev/shm/taskscope.<pid>.<start time>, not a leftover of an earlier
 * process that had the same pid. */
bool ex_proc_has_segment(const ex_proc *p);

/* Writes the path of the child's segment (whether it exists or not) to
 * buf.  Returns 0, or -ENOENT when its start time is unknown. */
int ex_proc_segment_path(const ex_proc *p, char *buf, size_t size);

/* Whether this build has the probes (and so the examples make segments). */
bool ex_proc_probes_on(void);

/* Finishes p's earlier run (if any), starts example `name' with args and
 * waits up to ms for it to exit.  Returns 0 once reaped, the -errno of
 * ex_proc_start, or -ETIMEDOUT as ex_proc_wait. */
int ex_proc_run(ex_proc *p, const char *name, const char *const *args, int ms);

/* Runs `name --help' (ex_proc_run, 10 s scaled by ex_ms).  Whether it
 * exited with status 0, its stdout beginning with usage_start, nothing on
 * stderr and no segment left; when not, prints why with its output. */
bool ex_proc_help_ok(ex_proc *p, const char *name, const char *usage_start);

/* Runs `name args' (ex_proc_run, 10 s scaled).  Whether it refused them as
 * bad usage: exit status 2, nothing on stdout, stderr beginning with
 * "<name>: " and no segment left; when not, prints why with its output. */
bool ex_proc_bad_usage_ok(ex_proc *p, const char *name, const char *const *args);

/* A cmocka setup's body: *state = a zeroed object of `size' bytes, which
 * the teardown frees.  Returns 0, or -1 when out of memory. */
int ex_state_new(void **state, size_t size);

/* Kills the child's process group if it still runs, reaps it, removes a
 * segment it left behind, closes the memfds and frees the copies.  Safe on
 * a zeroed or already finished p. */
void ex_proc_fini(ex_proc *p);

#endif
