/*
 * core_test.h - helpers shared by the tests of the task core (test_task.c,
 * test_sched.c, test_timer.c, test_exit.c).
 *
 * ct_run(root, arg, workers, stack_size): TSK_RUN with a whole config, then
 * the checks every run of these tests ends with: tsk_run returned 0, no
 * TSK_EXPECT failed inside, no thread of the runtime is left
 * (/proc/self/task is back to the count it had before the first run: 1,
 * or 2 under TSan, which starts a background thread of its own at the
 * first pthread_create; ct_leak_setup makes it start before counting) and
 * every task stack of the default size was unmapped (no guarded 64 KiB
 * task-stack mapping is left in /proc/self/maps).
 *
 * Leak check of the heap: ct_test_no_leaks, the last test of each binary,
 * runs in a child process (ct_leaks_child) a workload that touches every
 * path that frees something (joined, detached, never joined, and blocked
 * tasks cancelled at exit, on 1 to 4 workers) over and over, and checks
 * that the heap bytes in use (glibc mallinfo2) are exactly the same after
 * 12 rounds as after 2.  The child runs with glibc's tcache off and one
 * arena: chunks parked in a thread's tcache count as in use, and which
 * thread frees what varies from run to run (a timer heap is allocated by
 * the worker a task slept on, freed by the thread of tsk_run); each new
 * arena's header (2256 bytes) counts as in use too, and how many arenas
 * glibc creates depends on which threads happened to malloc at once.
 * With either, the figure wanders by a few hundred bytes.  Under ASan the
 * sanitizer's allocator bypasses glibc's, so the figure stays flat and
 * LeakSanitizer (at the exit of every process) checks instead.  The
 * stack-mapping count catches what neither sees: task stacks are mmap()ed,
 * not malloc()ed.
 *
 * ct_child(mode, env, timeout_ms, &status, &ns): runs this test binary
 * again as a fresh process, `argv[0] --child mode`, with `env` (NULL or
 * one NAME=value) added to the environment; each binary's main() hands the
 * mode to its own child_main, which hands "leaks" to ct_leaks_child.
 * Waits up to timeout_ms for it (then kills it) and gives its wait status
 * and wall time.  For what must be watched from outside: a hang at exit, a
 * fault on a guard page, a process with nothing else in it.
 *
 * ct_threads(): entries of /proc/self/task.  ct_stack_maps(usable): guarded
 * task stacks of `usable` bytes now mapped, recognised by their layout (see
 * stack.c): a 4 KiB PROT_NONE page directly below an anonymous read-write
 * mapping of exactly `usable` bytes.
 */
#ifndef CORE_TEST_H
#define CORE_TEST_H

#include <dirent.h>
#include <inttypes.h>
#include <malloc.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "taskscope.h"
#include "tsk_test.h"

#define CT_MS    1000000LL   /* nanoseconds per millisecond */
#define CT_STACK (64 * 1024) /* the default task stack size */

/* Entries of directory `path` (not . and ..), or -1 if it cannot be read:
 * threads in /proc/self/task, descriptors in /proc/self/fd. */
static inline int ct_dir_entries(const char *path)
{
	DIR *d = opendir(path);
	struct dirent *e;
	int n = 0;

	if (d == NULL)
		return -1;
	while ((e = readdir(d)) != NULL)
		if (e->d_name[0] != '.')
			n++;
	closedir(d);
	return n;
}

static inline int ct_threads(void)
{
	return ct_dir_entries("/proc/self/task");
}

static inline long ct_stack_maps(size_t usable)
{
	FILE *f = fopen("/proc/self/maps", "re");
	char line[512], perms[8], prev_perms[8] = "";
	unsigned long lo, hi, prev_lo = 0, prev_hi = 0, inode;
	long n = 0;

	if (f == NULL)
		return -1;
	while (fgets(line, sizeof(line), f)) {
		int path = 0;

		if (sscanf(line, "%lx-%lx %7s %*s %*s %lu %n", &lo, &hi, perms, &inode, &path) < 4)
			continue;
		/* anonymous: inode 0 and no path after it */
		int anon = inode == 0 && (path == 0 || line[path] == '\0' || line[path] == '\n');
		if (anon && strcmp(perms, "rw-p") == 0 && hi - lo == usable &&
		    strcmp(prev_perms, "---p") == 0 && prev_hi - prev_lo == 4096 && prev_hi == lo)
			n++;
		if (anon) {
			prev_lo = lo;
			prev_hi = hi;
			snprintf(prev_perms, sizeof(prev_perms), "%s", perms);
		} else {
			prev_perms[0] = '\0';
		}
	}
	fclose(f);
	return n;
}

static int ct_threads_base = 1;
static long ct_maps_base;

/* Runs root under a fresh runtime configured by cfg and checks what every
 * run must leave behind (see the header comment); returns the root's
 * result. */
static inline void *ct_run_cfg(void *(*root)(void *), void *arg, const tsk_config *cfg)
{
	void *res = NULL;

	assert_int_equal(tsk_run(root, arg, cfg, &res), 0);
	assert_int_equal(atomic_exchange(&tsk_test_failed, 0), 0);
	assert_int_equal(ct_threads(), ct_threads_base);
	assert_int_equal(ct_stack_maps(CT_STACK), ct_maps_base);
	return res;
}

/* ct_run_cfg with workers and stack_size set, the rest default. */
static inline void *ct_run(void *(*root)(void *), void *arg, int workers, size_t stack_size)
{
	tsk_config cfg = {.workers = workers, .stack_size = stack_size, .name = "ct"};
	return ct_run_cfg(root, arg, &cfg);
}

static inline size_t ct_heap_in_use(void)
{
	struct mallinfo2 mi = mallinfo2();

	return mi.uordblks + mi.hblkhd;
}

static void *ct_warm_child(void *arg)
{
	return arg;
}

static void *ct_warm_blocked(void *arg)
{
	TSK_EXPECT_EQ(tsk_sleep(tsk_after_ms(3600 * 1000)), -ECANCELED);
	return arg;
}

/* Spawns and joins a few tasks, detached ones too, sleeps, and leaves two
 * tasks blocked (one never joined) for tsk_run to cancel at exit. */
static void *ct_warm_root(void *arg)
{
	tsk_task *t[8], *unjoined;

	(void)arg;
	for (int i = 0; i < 8; i++)
		TSK_EXPECT_EQ(tsk_spawn(&t[i], "warm", ct_warm_child, NULL), 0);
	for (int i = 0; i < 8; i++)
		TSK_EXPECT_EQ(tsk_spawn(NULL, "warm", ct_warm_child, NULL), 0);
	TSK_EXPECT_EQ(tsk_spawn(NULL, "blocked", ct_warm_blocked, NULL), 0);
	TSK_EXPECT_EQ(tsk_spawn(&unjoined, "unjoined", ct_warm_blocked, NULL), 0);
	TSK_EXPECT_EQ(tsk_sleep(tsk_after_ms(1)), 0);
	for (int i = 0; i < 8; i++)
		TSK_EXPECT_EQ(tsk_join(t[i], NULL, TSK_FOREVER), 0);
	return NULL;
}

/* Group setup: the process must still be single-threaded (no runtime has
 * run yet); takes the baselines of ct_run. */
static void *ct_nop_thread(void *arg)
{
	return arg;
}

static inline int ct_leak_setup(void **state)
{
	(void)state;
	assert_int_equal(ct_threads(), 1);
#if defined(__SANITIZE_THREAD__)
	pthread_t th;
	assert_int_equal(pthread_create(&th, NULL, ct_nop_thread, NULL), 0);
	assert_int_equal(pthread_join(th, NULL), 0);
	ct_threads_base = ct_threads();
	assert_in_range(ct_threads_base, 1, 2);
#else
	(void)ct_nop_thread;
	ct_threads_base = ct_threads();
#endif
	ct_maps_base = ct_stack_maps(CT_STACK);
	assert_true(ct_maps_base >= 0);
	return 0;
}

static inline void ct_warm_rounds(int rounds)
{
	for (int i = 0; i < rounds; i++)
		for (int w = 1; w <= 4; w++)
			ct_run(ct_warm_root, NULL, w, 0);
}

/* `--child leaks`: exit 0 when the heap is back, 1 when it grew. */
static inline int ct_leaks_child(void)
{
	ct_leak_setup(NULL);
	ct_warm_rounds(2);
	size_t before = ct_heap_in_use();
	ct_warm_rounds(10);
	size_t after = ct_heap_in_use();
	if (after != before) {
		fprintf(stderr, "heap in use: %zu bytes after 2 rounds, %zu after 12\n", before,
		        after);
		return 1;
	}
	return 0;
}

static inline int ct_child(const char *mode, const char *env, int timeout_ms, int *status,
                           int64_t *ns);

static inline void ct_test_no_leaks(void **state)
{
	int status;
	int64_t ns;

	(void)state;
	assert_int_equal(
	        ct_child("leaks",
	                 "GLIBC_TUNABLES=glibc.malloc.tcache_count=0:glibc.malloc.arena_max=1",
	                 120000, &status, &ns),
	        0);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
	/* and this process: one more round, nothing left */
	ct_warm_rounds(1);
	assert_int_equal(ct_threads(), ct_threads_base);
	assert_int_equal(ct_stack_maps(CT_STACK), ct_maps_base);
}

extern char **environ;

/* Returns 0 when the child ended within timeout_ms (*status is its wait
 * status), -1 when it had to be killed, -2 when it could not be started. */
static inline int ct_child(const char *mode, const char *env, int timeout_ms, int *status,
                           int64_t *ns)
{
	char self[] = "/proc/self/exe", opt[] = "--child";
	char *argv[] = {self, opt, (char *)mode, NULL};
	int64_t t0 = tsk_now(), end = t0 + (int64_t)timeout_ms * CT_MS;
	size_t n = 0;
	pid_t pid;
	int rc = -1, err;

	*ns = 0;
	*status = 0;
	while (environ[n])
		n++;
	char **envp = calloc(n + 2, sizeof(*envp));
	if (envp == NULL)
		return -2;
	memcpy(envp, environ, n * sizeof(*envp));
	envp[n] = (char *)env; /* NULL: nothing added */
	err = posix_spawn(&pid, self, NULL, NULL, argv, envp);
	free(envp);
	if (err != 0)
		return -2;
	for (;;) {
		pid_t r = waitpid(pid, status, WNOHANG);
		if (r == pid) {
			rc = 0;
			break;
		}
		if (tsk_now() > end) {
			kill(pid, SIGKILL);
			waitpid(pid, status, 0);
			break;
		}
		usleep(1000);
	}
	*ns = tsk_now() - t0;
	return rc;
}

/* Milliseconds between two tsk_now() values, as a double for messages. */
static inline double ct_ms(int64_t from, int64_t to)
{
	return (double)(to - from) / 1e6;
}

#endif /* CORE_TEST_H */
