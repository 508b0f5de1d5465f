/*
 * test_probe_stream.c - the real writer (probe_emit) against the reader
 * library, across processes, in both modes.
 *
 * test_ring.c checks the ring protocol with a test-only writer; this test
 * checks that the writer the runtime uses keeps the same promises:
 *   - stream mode: a child process emits N numbered records as fast as it
 *     can while the parent drains; every record read is intact and in
 *     order, and records written = records read + records counted lost,
 *     exactly (the ring's `lost` counter; LOST records explain each gap);
 *   - flight mode: with no reader, the newest records survive the writer's
 *     death and are exactly the last ones written.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "tsk_probe.h"
#include "tsk_reader.h"
#include "tsk_test.h"

#define TEST_TYPE TSK_EV_LABEL /* any type: the child writes nothing else */

/* Child: makes a segment with small rings, tells the parent, waits for its
 * go, emits n numbered records, exits without unlinking. */
static void child(int ready_fd, int go_fd, uint64_t n)
{
	char c = 0;
	setenv("TASKSCOPE_RING", "64K", 1);
	setenv("TASKSCOPE_KEEP", "1", 1);
	unsetenv("TASKSCOPE");
	if (probe_runtime_start(1) != 0)
		_exit(2);
	probe_thread_attach(0);
	if (write(ready_fd, &c, 1) != 1 || read(go_fd, &c, 1) != 1)
		_exit(3);
	for (uint64_t i = 1; i <= n; i++)
		probe_emit(TEST_TYPE, i, 7, 0, i, 0, 0, 0, 0, 0);
	_exit(0);
}

struct tally {
	uint64_t read;        /* TEST_TYPE records */
	uint64_t lost;        /* sum of LOST records */
	uint64_t last;        /* last number seen */
	uint64_t gaps;        /* numbers skipped */
	uint64_t disorder;    /* a number not above the previous one */
	uint64_t unexplained; /* a gap not preceded by a LOST record of its size */
	uint64_t pending_lost;
};

static int tally_batch(void *ctx, uint32_t ring, const tsk_rd_rec *recs, size_t n)
{
	struct tally *t = ctx;
	(void)ring;
	for (size_t i = 0; i < n; i++) {
		const tsk_seg_event *ev = &recs[i].ev;
		if (ev->type == TSK_EV_LOST) {
			t->lost += ev->arg;
			t->pending_lost += ev->arg;
			continue;
		}
		if (ev->type != TEST_TYPE)
			continue;
		if (ev->arg <= t->last)
			t->disorder++;
		uint64_t gap = ev->arg - t->last - 1;
		t->gaps += gap;
		if (gap != t->pending_lost)
			t->unexplained++;
		t->pending_lost = 0;
		t->last = ev->arg;
		t->read++;
	}
	return 0;
}

static pid_t start_child(uint64_t n, int *go_fd)
{
	int ready[2], go[2];
	char c;
	assert_int_equal(pipe(ready), 0);
	assert_int_equal(pipe(go), 0);
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		close(ready[0]);
		close(go[1]);
		child(ready[1], go[0], n);
	}
	close(ready[1]);
	close(go[0]);
	assert_int_equal(read(ready[0], &c, 1), 1);
	close(ready[0]);
	*go_fd = go[1];
	return pid;
}

static void test_stream_exact_accounting(void **state)
{
	const uint64_t n = (uint64_t)tsk_test_scale(3000000);
	int go, status;
	tsk_reader *r;
	struct tally t = {0};
	(void)state;

	pid_t pid = start_child(n, &go);
	assert_int_equal(tsk_reader_open_pid(pid, TSK_RD_WRITE, &r), 0);
	char path[256];
	snprintf(path, sizeof(path), "%s", tsk_reader_path(r));
	assert_int_equal(tsk_reader_ring_attach(r, 0), 0);
	assert_int_equal(write(go, "g", 1), 1);
	close(go);
	/* drain while the child writes, then once more after it exited */
	while (waitpid(pid, &status, WNOHANG) == 0)
		assert_true(tsk_reader_ring_drain(r, tally_batch, &t) >= 0);
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	assert_true(tsk_reader_ring_drain(r, tally_batch, &t) >= 0);

	tsk_rd_ring_stats st;
	assert_int_equal(tsk_reader_ring_stats(r, 0, &st), 0);
	print_message("  stream: %llu written, %llu read, %llu lost (%llu in LOST records)\n",
	              (unsigned long long)n, (unsigned long long)t.read,
	              (unsigned long long)st.lost_total, (unsigned long long)t.lost);
	assert_int_equal(t.disorder, 0);
	assert_int_equal(t.read + st.lost_total, n);
	/* every gap is announced by a LOST record, except drops at the very
	 * end, after the last record that made it */
	assert_int_equal(t.unexplained, 0);
	assert_int_equal(t.gaps, t.lost);
	assert_int_equal(t.gaps + (n - t.last), st.lost_total);
	assert_int_equal(st.overwritten, 0);
	assert_int_equal(st.corrupt, 0);
	tsk_reader_ring_detach(r);
	tsk_reader_close(r);
	unlink(path);
}

static void test_flight_keeps_newest(void **state)
{
	const uint64_t n = 1000000;
	int go, status;
	tsk_reader *r;
	struct tally t = {0};
	(void)state;

	pid_t pid = start_child(n, &go);
	assert_int_equal(write(go, "g", 1), 1);
	close(go);
	waitpid(pid, &status, 0);
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);

	assert_int_equal(tsk_reader_open_pid(pid, 0, &r), 0);
	char path[256];
	snprintf(path, sizeof(path), "%s", tsk_reader_path(r));
	t.last = n - tsk_reader_info(r)->ring_records + 1; /* first survivor - 1 */
	t.pending_lost = 0;
	assert_true(tsk_reader_ring_drain(r, tally_batch, &t) > 0);
	print_message("  flight: %llu written, the newest %llu survive\n", (unsigned long long)n,
	              (unsigned long long)t.read);
	assert_int_equal(t.read, tsk_reader_info(r)->ring_records - 1);
	assert_int_equal(t.last, n);
	assert_int_equal(t.disorder, 0);
	assert_int_equal(t.unexplained, 0);
	tsk_reader_close(r);
	unlink(path);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_stream_exact_accounting),
	        cmocka_unit_test(test_flight_keeps_newest),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
