/*
 * test_reader_list.c - tests of probes/src/reader_list.c: finding segments
 * and telling live processes from dead ones.
 *
 * /proc/<pid>/stat parsing (a command name with spaces and parentheses),
 * liveness of this process, of a live child, of a killed child before
 * (zombie) and after waitpid, and of a reused pid (start time differs);
 * listing a directory with valid, corrupt, mismatching and junk-named
 * files; choosing among several segments of one pid.  Every test ends by
 * checking that no file descriptor leaked.
 */
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>

#include "probes/probes_test.h"

typedef struct fixture {
	char dir[64];
	int fds;
} fixture;

static int setup(void **state)
{
	fixture *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	f->fds = pt_fd_count();
	pt_dir_make(f->dir);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	fixture *f = *state;

	pt_dir_remove(f->dir);
	assert_int_equal(pt_fd_count(), f->fds);
	free(f);
	return 0;
}

/* Writes a valid small segment for (pid, start) into dir under its proper
 * name, or under `name` when not NULL. */
static void make_seg(const char *dir, int32_t pid, uint64_t start, const char *program,
                     const char *name)
{
	sw_config cfg = sw_small_config();
	char path[256];
	sw_seg seg;

	cfg.pid = pid;
	cfg.start_ticks = start;
	cfg.program = program;
	if (name)
		snprintf(path, sizeof(path), "%s/%s", dir, name);
	else
		snprintf(path, sizeof(path), "%s/taskscope.%d.%llu", dir, pid,
		         (unsigned long long)start);
	assert_int_equal(sw_create(&seg, path, &cfg), 0);
	sw_destroy(&seg, 0);
}

static uint64_t start_of(pid_t pid)
{
	uint64_t st = 0;

	assert_int_equal(tsk_reader_proc_start(pid, &st, NULL), 0);
	return st;
}

static void test_proc_start(void **state)
{
	char comm[17] = {0}, st = 0;
	uint64_t a = 0, b = 0;

	(void)state;
	assert_int_equal(tsk_reader_proc_start(getpid(), &a, &st), 0);
	assert_true(a > 0);
	assert_true(st == 'R' || st == 'S');
	/* A command name that looks like the end of the field. */
	assert_int_equal(prctl(PR_GET_NAME, comm), 0);
	assert_int_equal(prctl(PR_SET_NAME, "a) b ) (c 1 2"), 0);
	assert_int_equal(tsk_reader_proc_start(getpid(), &b, &st), 0);
	assert_int_equal(prctl(PR_SET_NAME, comm), 0);
	assert_int_equal(a, b);
	assert_int_equal(tsk_reader_proc_start(0, &a, NULL), -ESRCH);
	assert_int_equal(tsk_reader_proc_start(-1, &a, NULL), -ESRCH);
	assert_int_equal(tsk_reader_proc_start(INT32_MAX, &a, NULL), -ESRCH);
	assert_int_equal(tsk_reader_proc_start(getpid(), NULL, NULL), 0);
}

static void test_liveness(void **state)
{
	uint64_t me = start_of(getpid());
	int status;
	pid_t child;

	(void)state;
	assert_int_equal(tsk_reader_liveness(getpid(), me), TSK_RD_LIVE);
	/* The same pid with another start time: a reused pid. */
	assert_int_equal(tsk_reader_liveness(getpid(), me + 1), TSK_RD_DEAD);
	assert_int_equal(tsk_reader_liveness(INT32_MAX, 1), TSK_RD_DEAD);

	child = fork();
	assert_true(child >= 0);
	if (child == 0) {
		alarm(60); /* never outlives a failed test for long */
		pause();
		_exit(0);
	}
	uint64_t cs = start_of(child);
	assert_int_equal(tsk_reader_liveness(child, cs), TSK_RD_LIVE);
	assert_int_equal(kill(child, SIGKILL), 0);
	/* Killed, not reaped yet: a zombie is dead. */
	for (int i = 0; i < 2000; i++) {
		char s = 0;
		if (tsk_reader_proc_start(child, NULL, &s) == 0 && s == 'Z')
			break;
		usleep(1000);
	}
	assert_int_equal(tsk_reader_liveness(child, cs), TSK_RD_DEAD);
	assert_int_equal(waitpid(child, &status, 0), child);
	assert_true(WIFSIGNALED(status));
	assert_int_equal(tsk_reader_liveness(child, cs), TSK_RD_DEAD);
}

static void test_list(void **state)
{
	fixture *f = *state;
	tsk_rd_seg *list = NULL;
	size_t n = 0;
	int status;
	pid_t live, dead;

	live = fork();
	assert_true(live >= 0);
	if (live == 0) {
		alarm(60); /* never outlives a failed test for long */
		pause();
		_exit(0);
	}
	dead = fork();
	assert_true(dead >= 0);
	if (dead == 0) {
		alarm(60); /* never outlives a failed test for long */
		pause();
		_exit(0);
	}
	uint64_t live_start = start_of(live), dead_start = start_of(dead);
	assert_int_equal(kill(dead, SIGKILL), 0);
	assert_int_equal(waitpid(dead, &status, 0), dead);

	make_seg(f->dir, live, live_start, "liveprog", NULL);
	make_seg(f->dir, dead, dead_start, "deadprog", NULL);
	/* Our own pid with another start: an earlier process with our pid. */
	make_seg(f->dir, getpid(), 1, "oldprog", NULL);
	/* A name the header disagrees with. */
	make_seg(f->dir, 4242, 7, "liar", "taskscope.4243.7");
	/* Not segments at all, or junk names. */
	char path[256];
	snprintf(path, sizeof(path), "%s/taskscope.4244.9", f->dir);
	FILE *fp = fopen(path, "w");
	assert_non_null(fp);
	fputs("hello", fp);
	fclose(fp);
	const char *junk[] = {"taskscope.abc.1",
	                      "taskscope.12",
	                      "taskscope.-1.5",
	                      "taskscope.1.2.3",
	                      "taskscope.0.5",
	                      "taskscope.99999999999.1",
	                      "taskscope.5.99999999999999999999999",
	                      "other.1.2",
	                      "taskscope.5.",
	                      "taskscope..5"};
	for (size_t i = 0; i < sizeof(junk) / sizeof(junk[0]); i++)
		make_seg(f->dir, 5, 5, "junk", junk[i]);

	assert_int_equal(tsk_reader_list(f->dir, &list, &n), 5);
	assert_int_equal(n, 5);
	/* Sorted by pid, then start. */
	for (size_t i = 1; i < n; i++)
		assert_true(list[i - 1].pid < list[i].pid ||
		            (list[i - 1].pid == list[i].pid &&
		             list[i - 1].start_ticks <= list[i].start_ticks));
	int seen = 0;
	for (size_t i = 0; i < n; i++) {
		tsk_rd_seg *e = &list[i];
		if (e->pid == live) {
			assert_int_equal(e->err, 0);
			assert_int_equal(e->liveness, TSK_RD_LIVE);
			assert_string_equal(e->program, "liveprog");
			assert_int_equal(e->state, TSK_SEG_RUNNING);
			assert_true(e->segment_size > 4096);
			seen |= 1;
		} else if (e->pid == dead) {
			assert_int_equal(e->err, 0);
			assert_int_equal(e->liveness, TSK_RD_DEAD);
			assert_string_equal(e->program, "deadprog");
			seen |= 2;
		} else if (e->pid == getpid()) {
			assert_int_equal(e->err, 0);
			assert_int_equal(e->liveness, TSK_RD_DEAD);
			seen |= 4;
		} else if (e->pid == 4243) {
			assert_int_equal(e->err, TSK_RD_EHEADER);
			assert_string_equal(e->program, "");
			seen |= 8;
		} else if (e->pid == 4244) {
			assert_int_equal(e->err, TSK_RD_EMAGIC);
			seen |= 16;
		} else {
			fail_msg("junk name listed: %s", e->path);
		}
	}
	assert_int_equal(seen, 31);
	tsk_reader_list_free(list);

	assert_int_equal(kill(live, SIGKILL), 0);
	assert_int_equal(waitpid(live, &status, 0), live);
	assert_int_equal(tsk_reader_list(NULL, NULL, &n), -EINVAL);
	assert_int_equal(tsk_reader_list("/nonexistent-dir", &list, &n), -ENOENT);
	tsk_reader_list_free(NULL);
}

static void test_find(void **state)
{
	fixture *f = *state;
	uint64_t me = start_of(getpid());
	char path[256], want[256];
	tsk_reader *r;

	/* No segment at all. */
	assert_int_equal(tsk_reader_find(f->dir, getpid(), path, sizeof(path)), TSK_RD_ENOSEG);
	assert_non_null(strstr(tsk_reader_strerror(TSK_RD_ENOSEG), "no segment for pid"));
	/* Only older processes' segments: the newest. */
	make_seg(f->dir, getpid(), 3, "a", NULL);
	make_seg(f->dir, getpid(), 900000000000ULL, "b", NULL);
	make_seg(f->dir, getpid(), 5, "c", NULL);
	assert_int_equal(tsk_reader_find(f->dir, getpid(), path, sizeof(path)), 0);
	snprintf(want, sizeof(want), "%s/taskscope.%d.900000000000", f->dir, getpid());
	assert_string_equal(path, want);
	/* Ours wins over a newer-looking one. */
	make_seg(f->dir, getpid(), me, "mine", NULL);
	assert_int_equal(tsk_reader_find(f->dir, getpid(), path, sizeof(path)), 0);
	snprintf(want, sizeof(want), "%s/taskscope.%d.%llu", f->dir, getpid(),
	         (unsigned long long)me);
	assert_string_equal(path, want);
	assert_int_equal(tsk_reader_open(path, 0, &r), 0);
	assert_string_equal(tsk_reader_info(r)->program, "mine");
	tsk_reader_close(r);
	/* Too small a buffer, bad arguments. */
	assert_int_equal(tsk_reader_find(f->dir, getpid(), path, 8), -ENAMETOOLONG);
	assert_int_equal(tsk_reader_find(f->dir, 0, path, sizeof(path)), -EINVAL);
	assert_int_equal(tsk_reader_find(f->dir, getpid(), NULL, 8), -EINVAL);
	assert_int_equal(tsk_reader_find("/nonexistent-dir", getpid(), path, sizeof(path)),
	                 -ENOENT);
	/* By pid in /dev/shm: a pid that has no segment there. */
	assert_int_equal(tsk_reader_open_pid(INT32_MAX, 0, &r), TSK_RD_ENOSEG);
	assert_int_equal(tsk_reader_open_pid(getpid(), 0, NULL), -EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test_setup_teardown(test_proc_start, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_liveness, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_list, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_find, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
