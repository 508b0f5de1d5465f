/*
 * ex_proc.c - run a real example program from a test (see ex_proc.h).
 *
 * The child is forked from the test's main thread; between fork and exec
 * it only makes async-signal-safe calls (the sanitizer runtimes keep
 * threads of their own in the test process), so its argv and environment
 * are built before the fork.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "ex_proc.h"
#include "tsk_reader.h"

extern char **environ;

#define MAX_ARGS 32

int ex_ms(int ms)
{
	const char *s = getenv("TSK_TEST_SCALE");
	return s && atof(s) > 0 && atof(s) < 1 ? 4 * ms : ms;
}

long long ex_now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* $(BUILD)/examples/<name> for this test binary, $(BUILD)/tests/<module>/test_x.
 * Returns 0 or -errno. */
static int example_path(const char *name, char *buf, size_t size)
{
	char self[4096];
	ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	if (n < 0)
		return -errno;
	self[n] = '\0';
	for (int up = 0; up < 3; up++) { /* test_x, <module>, tests */
		char *slash = strrchr(self, '/');
		if (!slash)
			return -ENOENT;
		*slash = '\0';
	}
	if ((size_t)snprintf(buf, size, "%s/examples/%s", self, name) >= size)
		return -ENAMETOOLONG;
	return access(buf, X_OK) == 0 ? 0 : -errno;
}

/* Whether environment entry e sets a variable that one of extra sets. */
static bool replaced(const char *e, const char *const *extra)
{
	size_t n = strcspn(e, "=");
	for (; extra && *extra; extra++)
		if (strncmp(*extra, e, n) == 0 && (*extra)[n] == '=')
			return true;
	return false;
}

/* The environment without any TASKSCOPE* variable, with the entries of
 * extra in place of those they replace, in envp[0..max). */
static void child_environment(char **envp, size_t max, const char *const *extra)
{
	size_t n = 0;
	for (char **e = environ; *e && n + 1 < max; e++)
		if (strncmp(*e, "TASKSCOPE", 9) != 0 && !replaced(*e, extra))
			envp[n++] = *e;
	for (; extra && *extra && n + 1 < max; extra++)
		envp[n++] = (char *)*extra;
	envp[n] = NULL;
}

/* The start time of process pid (what the runtime puts in its segment's
 * name), or 0. */
static unsigned long long start_ticks(pid_t pid)
{
	uint64_t ticks = 0;
	char state;
	return tsk_reader_proc_start(pid, &ticks, &state) == 0 ? ticks : 0;
}

int ex_proc_start(ex_proc *p, const char *name, const char *const *args)
{
	return ex_proc_start_io(p, name, args, -1, -1);
}

int ex_proc_start_io(ex_proc *p, const char *name, const char *const *args, int in_fd, int out_fd)
{
	return ex_proc_start_env(p, name, args, in_fd, out_fd, NULL);
}

int ex_proc_start_env(ex_proc *p, const char *name, const char *const *args, int in_fd, int out_fd,
                      const char *const *env)
{
	char path[4096];
	char *argv[MAX_ARGS + 2];
	size_t nenv = 0, nextra = 0;
	int rc, in = -1, out = -1, err = -1;

	*p = (ex_proc){0};
	if ((rc = example_path(name, path, sizeof(path))) < 0) {
		fprintf(stderr, "ex_proc: no example program %s next to this test: %s\n", name,
		        strerror(-rc));
		return rc;
	}
	argv[0] = path;
	size_t argc = 1;
	for (; args && args[argc - 1]; argc++) {
		if (argc > MAX_ARGS)
			return -E2BIG;
		argv[argc] = (char *)args[argc - 1];
	}
	argv[argc] = NULL;
	while (environ[nenv])
		nenv++;
	while (env && env[nextra])
		nextra++;
	char **envp = calloc(nenv + nextra + 1, sizeof(*envp));
	if (!envp)
		return -ENOMEM;
	child_environment(envp, nenv + nextra + 1, env);

	in = in_fd >= 0 ? fcntl(in_fd, F_DUPFD_CLOEXEC, 3)
	                : open("/dev/null", O_RDONLY | O_CLOEXEC);
	out = memfd_create("ex-stdout", MFD_CLOEXEC);
	err = memfd_create("ex-stderr", MFD_CLOEXEC);
	if (in < 0 || out < 0 || err < 0) {
		rc = -errno;
		goto fail;
	}
	pid_t parent = getpid();
	pid_t pid = fork();
	if (pid < 0) {
		rc = -errno;
		goto fail;
	}
	if (pid == 0) {
		/* own group, so that ex_proc_fini kills whatever it starts; and
		 * gone with the test process, whatever kills that */
		setpgid(0, 0);
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (getppid() != parent)
			_exit(127);
		if (dup2(in, 0) < 0 || dup2(out_fd >= 0 ? out_fd : out, 1) < 0 || dup2(err, 2) < 0)
			_exit(127);
		execve(path, argv, envp);
		_exit(127);
	}
	setpgid(pid, pid); /* either side may come first */
	p->start_ticks = start_ticks(pid);
	close(in);
	free(envp);
	p->pid = pid;
	p->started = true;
	p->out_fd = out;
	p->err_fd = err;
	snprintf(p->name, sizeof(p->name), "%s", name);
	return 0;

fail:
	if (in >= 0)
		close(in);
	if (out >= 0)
		close(out);
	if (err >= 0)
		close(err);
	free(envp);
	return rc;
}

int ex_proc_wait(ex_proc *p, int ms)
{
	long long deadline = ex_now_ms() + ms;
	for (;;) {
		if (!p->started || p->reaped)
			return 0;
		int st;
		pid_t r = waitpid(p->pid, &st, WNOHANG);
		if (r == p->pid) {
			p->status = st;
			p->reaped = true;
			return 0;
		}
		if (r < 0 && errno != EINTR) {
			p->status = -1; /* not ours any more: nothing to wait for */
			p->reaped = true;
			return 0;
		}
		if (ex_now_ms() >= deadline)
			return -ETIMEDOUT;
		usleep(2000);
	}
}

int ex_proc_signal_wait(ex_proc *p, int sig, int ms)
{
	if (p->started && !p->reaped)
		kill(p->pid, sig);
	return ex_proc_wait(p, ms);
}

/* Reads the whole of memfd fd into *copy (realloc'd, NUL-terminated). */
static const char *read_all(int fd, char **copy)
{
	struct stat st;
	size_t size = fstat(fd, &st) == 0 ? (size_t)st.st_size : 0;
	char *b = realloc(*copy, size + 1);
	if (!b)
		return *copy ? *copy : "";
	size_t got = 0;
	while (got < size) {
		ssize_t n = pread(fd, b + got, size - got, (off_t)got);
		if (n <= 0)
			break;
		got += (size_t)n;
	}
	b[got] = '\0';
	*copy = b;
	return b;
}

const char *ex_proc_stdout(ex_proc *p)
{
	return p->started ? read_all(p->out_fd, &p->out) : "";
}

const char *ex_proc_stderr(ex_proc *p)
{
	return p->started ? read_all(p->err_fd, &p->err) : "";
}

const char *ex_proc_wait_stdout(ex_proc *p, const char *needle, int ms)
{
	long long deadline = ex_now_ms() + ms;
	for (;;) {
		/* check after the exit too: it may have printed and exited */
		bool gone = ex_proc_wait(p, 0) == 0;
		const char *hit = strstr(ex_proc_stdout(p), needle);
		if (hit)
			return hit;
		if (gone || ex_now_ms() >= deadline)
			break;
		usleep(2000);
	}
	fprintf(stderr, "ex_proc: %s did not print \"%s\" within %d ms\n", p->name, needle, ms);
	ex_proc_dump(p);
	return NULL;
}

void ex_proc_dump(ex_proc *p)
{
	if (!p->started) {
		fprintf(stderr, "---- %s: not started\n", p->name);
		return;
	}
	ex_proc_wait(p, 0);
	if (!p->reaped)
		fprintf(stderr, "---- %s (pid %d): still running\n", p->name, (int)p->pid);
	else if (WIFEXITED(p->status))
		fprintf(stderr, "---- %s (pid %d): exit status %d\n", p->name, (int)p->pid,
		        WEXITSTATUS(p->status));
	else if (WIFSIGNALED(p->status))
		fprintf(stderr, "---- %s (pid %d): killed by signal %d (%s)\n", p->name,
		        (int)p->pid, WTERMSIG(p->status), strsignal(WTERMSIG(p->status)));
	fprintf(stderr, "---- %s stdout:\n%s\n---- %s stderr:\n%s\n---- end of %s\n", p->name,
	        ex_proc_stdout(p), p->name, ex_proc_stderr(p), p->name);
}

bool ex_proc_exited_with(ex_proc *p, int code)
{
	ex_proc_wait(p, 0);
	if (p->started && p->reaped && WIFEXITED(p->status) && WEXITSTATUS(p->status) == code)
		return true;
	fprintf(stderr, "ex_proc: expected %s to exit with status %d\n", p->name, code);
	ex_proc_dump(p);
	return false;
}

/* The child's segment, /dev/shm/taskscope.<pid>.<start>: the start time
 * tells it from a leftover of an earlier process with the same pid. */
static void segment_path(const ex_proc *p, char *buf, size_t size)
{
	snprintf(buf, size, TSK_SEG_DIR "/" TSK_SEG_PREFIX "%d.%llu", (int)p->pid, p->start_ticks);
}

int ex_proc_segment_path(const ex_proc *p, char *buf, size_t size)
{
	if (!p->start_ticks)
		return -ENOENT;
	segment_path(p, buf, size);
	return 0;
}

bool ex_proc_has_segment(const ex_proc *p)
{
	char path[96];
	segment_path(p, path, sizeof(path));
	return p->start_ticks && access(path, F_OK) == 0;
}

bool ex_proc_probes_on(void)
{
#if defined(TSK_PROBES) && !TSK_PROBES
	return false;
#else
	return true;
#endif
}

void ex_proc_fini(ex_proc *p)
{
	if (!p->started)
		return;
	if (!p->reaped) {
		int st = -1;
		kill(-p->pid, SIGKILL);
		kill(p->pid, SIGKILL);
		while (waitpid(p->pid, &st, 0) < 0 && errno == EINTR)
			;
		p->reaped = true;
		p->status = st;
	}
	if (p->start_ticks) {
		char path[96];
		segment_path(p, path, sizeof(path));
		unlink(path); /* what a killed child left behind */
	}
	close(p->out_fd);
	close(p->err_fd);
	free(p->out);
	free(p->err);
	p->out = p->err = NULL;
	p->started = false;
}

int ex_proc_run(ex_proc *p, const char *name, const char *const *args, int ms)
{
	int rc;

	ex_proc_fini(p);
	if ((rc = ex_proc_start(p, name, args)) < 0)
		return rc;
	return ex_proc_wait(p, ms);
}

/* Whether the run that ex_proc_run made exited with `code', printed what
 * stdout_start and stderr_start begin with (stdout_start "": nothing at all
 * on stdout; likewise stderr) and left no segment; when not, prints why. */
static bool exited_cleanly(ex_proc *p, int rc, int code, const char *stdout_start,
                           const char *stderr_start)
{
	const char *out, *err, *why = NULL;

	if (rc < 0) {
		fprintf(stderr, "ex_proc: run %s: %s\n", p->name, strerror(-rc));
		ex_proc_dump(p);
		return false;
	}
	if (!ex_proc_exited_with(p, code))
		return false; /* it printed why */
	out = ex_proc_stdout(p);
	err = ex_proc_stderr(p);
	if (*stdout_start ? strncmp(out, stdout_start, strlen(stdout_start)) != 0 : *out != '\0')
		why = "stdout";
	else if (*stderr_start ? strncmp(err, stderr_start, strlen(stderr_start)) != 0
	                       : *err != '\0')
		why = "stderr";
	else if (ex_proc_has_segment(p))
		why = "a segment left behind";
	if (!why)
		return true;
	fprintf(stderr, "ex_proc: %s: unexpected %s\n", p->name, why);
	ex_proc_dump(p);
	return false;
}

bool ex_proc_help_ok(ex_proc *p, const char *name, const char *usage_start)
{
	const char *const args[] = {"--help", NULL};
	int rc = ex_proc_run(p, name, args, ex_ms(10000));

	return exited_cleanly(p, rc, 0, usage_start, "");
}

bool ex_proc_bad_usage_ok(ex_proc *p, const char *name, const char *const *args)
{
	char prefix[64];
	int rc = ex_proc_run(p, name, args, ex_ms(10000));

	snprintf(prefix, sizeof(prefix), "%s: ", name);
	return exited_cleanly(p, rc, 2, "", prefix);
}

int ex_state_new(void **state, size_t size)
{
	void *t = calloc(1, size);

	if (!t)
		return -1;
	*state = t;
	return 0;
}
