/*
 * test_reader_snap.c - tests of probes/src/reader_snap.c and
 * reader_calib.c: the seqlocked snapshot of the live tables and the TSC
 * calibration.
 *
 * Snapshots of quiet slots, hostile counters (clamped), names without a
 * NUL, a slot left odd by a writer that "died" mid-update (returned torn,
 * in bounded time); then a writer flipping slots between generations as
 * fast as it can, in a thread and in another process, while the reader
 * snapshots: every copy not flagged torn must be one whole generation,
 * never a mix.  Calibration: the two-pair rate, tsc_is_ns, the fallbacks,
 * hostile pairs, saturation, a torn calib_seq, and the /proc/cpuinfo
 * parser.  Every test ends by checking that no file descriptor leaked.
 */
#include <pthread.h>
#include <signal.h>
#include <sys/wait.h>

#include "probes/probes_test.h"

typedef pt_fixture fixture;

/* A task slot whose every field derives from g. */
static tsk_seg_task gen_task(uint64_t g)
{
	tsk_seg_task t;

	memset(&t, 0, sizeof(t));
	t.state = (uint8_t)(1 + g % 4);
	t.wait_kind = (uint8_t)(g % 14);
	t.worker = (uint16_t)g;
	t.id = g + 1;
	t.parent = g * 3;
	t.wait_obj = ~g;
	t.wait_deadline_ns = (int64_t)(g * 5);
	t.since_tsc = g * 7;
	t.spawned_tsc = g * 11;
	t.spawn_site = (uint32_t)(g * 13);
	t.wait_site = (uint32_t)(g * 17);
	t.label = (uint32_t)(g * 19);
	t.flags = (uint32_t)(g & 7);
	t.polls = g * 23;
	t.busy_tsc = g * 29;
	t.stack = (uint32_t)(g * 31);
	t.wakes = (uint32_t)(g * 37);
	snprintf(t.name, sizeof(t.name), "t%llu", (unsigned long long)g);
	t.reserved = g * 41;
	return t;
}

static int task_is_gen(const tsk_seg_task *t)
{
	tsk_seg_task m = gen_task(t->id - 1);

	return t->id != 0 &&
	       memcmp((const uint8_t *)t + 4, (const uint8_t *)&m + 4, sizeof(m) - 4) == 0;
}

static tsk_seg_res gen_res(uint64_t g)
{
	tsk_seg_res s;

	memset(&s, 0, sizeof(s));
	s.kind = (uint8_t)(1 + g % 6);
	s.id = g + 1;
	s.owner = g * 3;
	s.created_tsc = g * 5;
	s.site = (uint32_t)(g * 7);
	s.nreaders = (uint32_t)(g % 4);
	s.waiters = (uint32_t)(g * 11);
	s.value = g * 13;
	s.capacity = g * 17;
	for (int i = 0; i < 4; i++)
		s.readers[i] = g * 19 + (uint64_t)i;
	snprintf(s.name, sizeof(s.name), "r%llu", (unsigned long long)g);
	return s;
}

static int res_is_gen(const tsk_seg_res *s)
{
	tsk_seg_res m = gen_res(s->id - 1);

	return s->id != 0 &&
	       memcmp((const uint8_t *)s + 4, (const uint8_t *)&m + 4, sizeof(m) - 4) == 0;
}

/* ---- quiet snapshots ------------------------------------------------------------ */

static void test_snapshot(void **state)
{
	fixture *f = *state;
	tsk_rd_snap snap;
	tsk_reader *r;

	for (uint32_t i = 0; i < 5; i++) {
		tsk_seg_task t = gen_task(100 + i);
		sw_task_write(&f->seg, i, &t);
	}
	tsk_seg_res s = gen_res(7);
	sw_res_write(&f->seg, 2, &s);
	f->seg.h->task_overflow = 3;
	f->seg.h->state = TSK_SEG_IDLE;
	f->seg.h->nworkers = 4;
	assert_int_equal(tsk_reader_open(f->path, 0, &r), 0);
	assert_int_equal(tsk_reader_snap_take(r, &snap), 0);
	assert_int_equal(snap.ntasks, 5);
	assert_int_equal(snap.nres, 3);
	assert_int_equal(snap.torn, 0);
	assert_int_equal(snap.task_overflow, 3);
	assert_int_equal(snap.state, TSK_SEG_IDLE);
	assert_int_equal(snap.nworkers, 4);
	assert_int_equal(snap.str_used, 8);
	for (uint32_t i = 0; i < 5; i++) {
		assert_int_equal(snap.tasks[i].index, i);
		assert_int_equal(snap.tasks[i].torn, 0);
		assert_true(task_is_gen(&snap.tasks[i].slot));
		assert_int_equal(snap.tasks[i].slot.id, 101 + i);
		assert_int_equal(snap.tasks[i].slot.seq, 2);
	}
	assert_string_equal(snap.tasks[4].slot.name, "t104");
	assert_int_equal(snap.res[0].slot.id, 0); /* free slots are copied too */
	assert_true(res_is_gen(&snap.res[2].slot));
	tsk_reader_snap_free(&snap);
	assert_null(snap.tasks);
	tsk_reader_snap_free(&snap);
	tsk_reader_snap_free(NULL);

	/* One slot at a time; any slot of the table, not only below task_hwm. */
	tsk_rd_task one;
	tsk_rd_res oner;
	assert_int_equal(tsk_reader_snap_task(r, 3, &one), 0);
	assert_int_equal(one.slot.id, 104);
	assert_int_equal(tsk_reader_snap_task(r, 31, &one), 0);
	assert_int_equal(tsk_reader_snap_task(r, 32, &one), -ERANGE);
	assert_int_equal(tsk_reader_snap_res(r, 2, &oner), 0);
	assert_true(res_is_gen(&oner.slot));
	assert_int_equal(tsk_reader_snap_res(r, 32, &oner), -ERANGE);
	assert_int_equal(tsk_reader_snap_task(r, 0, NULL), -EINVAL);
	assert_int_equal(tsk_reader_snap_take(r, NULL), -EINVAL);
	assert_int_equal(tsk_reader_snap_take(NULL, &snap), -EINVAL);
	tsk_reader_close(r);
}

static void test_snapshot_hostile(void **state)
{
	fixture *f = *state;
	tsk_rd_snap snap;
	tsk_reader *r;

	/* A name without its NUL. */
	tsk_seg_task t = gen_task(1);
	memset(t.name, 'n', sizeof(t.name));
	sw_task_write(&f->seg, 0, &t);
	/* Counters far beyond the sections. */
	f->seg.h->task_hwm = UINT32_MAX;
	f->seg.h->res_hwm = 1000;
	f->seg.h->stack_used = UINT32_MAX;
	f->seg.h->ring_used = 77;
	f->seg.h->str_used = UINT64_MAX;
	assert_int_equal(tsk_reader_open(f->path, 0, &r), 0);
	assert_int_equal(tsk_reader_snap_take(r, &snap), 0);
	assert_int_equal(snap.ntasks, 32);
	assert_int_equal(snap.nres, 32);
	assert_int_equal(snap.stack_used, 8);
	assert_int_equal(snap.ring_used, 2);
	assert_int_equal(snap.str_used, 4096);
	assert_int_equal(strlen(snap.tasks[0].slot.name), 23);
	tsk_reader_snap_free(&snap);
	tsk_reader_close(r);
}

/* A writer killed between its two seq stores leaves the slot odd: the
 * snapshot flags it torn after bounded retries and goes on. */
static void test_snapshot_dead_writer(void **state)
{
	fixture *f = *state;
	tsk_rd_snap snap;
	tsk_reader *r;

	for (uint32_t i = 0; i < 4; i++) {
		tsk_seg_task t = gen_task(i);
		sw_task_write(&f->seg, i, &t);
	}
	sw_task_begin(&f->seg, 2);
	assert_int_equal(tsk_reader_open(f->path, 0, &r), 0);
	int64_t t0 = pt_now_ns();
	assert_int_equal(tsk_reader_snap_take(r, &snap), 0);
	int64_t took = pt_now_ns() - t0;
	assert_true(took < 2000000000LL);
	assert_int_equal(snap.torn, 1);
	assert_int_equal(snap.tasks[2].torn, 1);
	assert_int_equal(snap.tasks[2].slot.id, 0xdead); /* the best-effort copy */
	assert_int_equal(snap.tasks[1].torn, 0);
	assert_int_equal(snap.tasks[3].torn, 0);
	assert_true(task_is_gen(&snap.tasks[3].slot));
	tsk_rd_task one;
	assert_int_equal(tsk_reader_snap_task(r, 2, &one), 1);
	tsk_reader_snap_free(&snap);
	tsk_reader_close(r);
}

/* ---- a concurrent writer ----------------------------------------------------------- */

#define FLIP_SLOTS 4

/* Shared by the writer and the reader; in the segment's reserved header
 * bytes so that a forked writer sees it too. */
typedef struct flip_ctl {
	atomic_int stop;    /* the reader is done */
	atomic_long rounds; /* generations written */
} flip_ctl;

typedef struct flipper {
	sw_seg *seg;
	flip_ctl *ctl;
} flipper;

static flip_ctl *ctl_of(fixture *f)
{
	flip_ctl *c = (flip_ctl *)&f->seg.h->reserved[0];

	atomic_store(&c->stop, 0);
	atomic_store(&c->rounds, 0);
	return c;
}

/* Rewrites FLIP_SLOTS task and resource slots with ever new generations,
 * until told to stop or 60 s (a failed test never leaves a writer behind). */
static void flip(sw_seg *seg, flip_ctl *ctl)
{
	int64_t deadline = pt_now_ns() + 60000000000LL;

	for (uint64_t g = 1; !atomic_load(&ctl->stop); g++) {
		if ((g & 1023) == 0 && pt_now_ns() > deadline)
			break;
		for (uint32_t i = 0; i < FLIP_SLOTS; i++) {
			tsk_seg_task t = gen_task(g * FLIP_SLOTS + i);
			tsk_seg_res s = gen_res(g * FLIP_SLOTS + i);
			sw_task_write(seg, i, &t);
			sw_res_write(seg, i, &s);
		}
		atomic_fetch_add(&ctl->rounds, 1);
	}
}

static void *flip_thread(void *arg)
{
	flipper *fl = arg;

	flip(fl->seg, fl->ctl);
	return NULL;
}

/* Snapshots at least `snaps` times and until the writer has written
 * min_rounds generations meanwhile (it may start late on a busy machine);
 * returns the consistent copies seen. */
static long check_snapshots(const char *path, flip_ctl *ctl, long snaps, long min_rounds)
{
	int64_t deadline = pt_now_ns() + 30000000000LL;
	long good = 0, first = -1;
	tsk_rd_snap snap;
	tsk_reader *r;

	assert_int_equal(tsk_reader_open(path, 0, &r), 0);
	for (long n = 0; n < snaps || first < 0 || atomic_load(&ctl->rounds) - first < min_rounds;
	     n++) {
		if (first < 0 && atomic_load(&ctl->rounds) > 0)
			first = atomic_load(&ctl->rounds);
		assert_true(pt_now_ns() < deadline);
		assert_int_equal(tsk_reader_snap_take(r, &snap), 0);
		for (size_t i = 0; i < snap.ntasks && i < FLIP_SLOTS; i++) {
			if (snap.tasks[i].torn || snap.tasks[i].slot.id == 0)
				continue;
			if (!task_is_gen(&snap.tasks[i].slot))
				fail_msg("mixed task copy in slot %zu (id %llu)", i,
				         (unsigned long long)snap.tasks[i].slot.id);
			good++;
		}
		for (size_t i = 0; i < snap.nres && i < FLIP_SLOTS; i++) {
			if (snap.res[i].torn || snap.res[i].slot.id == 0)
				continue;
			if (!res_is_gen(&snap.res[i].slot))
				fail_msg("mixed resource copy in slot %zu", i);
			good++;
		}
		tsk_reader_snap_free(&snap);
	}
	atomic_store(&ctl->stop, 1);
	tsk_reader_close(r);
	return good;
}

static void test_seqlock_thread(void **state)
{
	fixture *f = *state;
	flipper fl = {&f->seg, ctl_of(f)};
	pthread_t th;

	assert_int_equal(pthread_create(&th, NULL, flip_thread, &fl), 0);
	long good = check_snapshots(f->path, fl.ctl, tsk_test_scale(20000), tsk_test_scale(20000));
	assert_int_equal(pthread_join(th, NULL), 0);
	assert_true(good > 0);
}

static void test_seqlock_process(void **state)
{
	fixture *f = *state;
	flip_ctl *ctl = ctl_of(f);
	int status;
	pid_t pid;

	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		flip(&f->seg, ctl);
		_exit(0);
	}
	long good = check_snapshots(f->path, ctl, tsk_test_scale(20000), tsk_test_scale(20000));
	atomic_store(&ctl->stop, 1); /* also when an assertion failed above */
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	assert_true(good > 0);
}

/* ---- calibration ------------------------------------------------------------------- */

static void test_calib_pairs(void **state)
{
	fixture *f = *state;
	tsk_rd_calib cal;
	tsk_reader *r;

	/* 3 GHz: 3e9 ticks per 1e9 ns. */
	sw_calib(&f->seg, 1000000, 5000000000LL, 1000000 + 3000000000ULL, 6000000000LL, 0);
	assert_int_equal(tsk_reader_open(f->path, 0, &r), 0);
	assert_int_equal(tsk_reader_calib_load(r, &cal), 0);
	assert_int_equal(cal.source, TSK_CAL_PAIRS);
	assert_int_equal(cal.torn, 0);
	assert_int_equal(tsk_reader_calib_ns(&cal, 1000000), 5000000000LL);
	assert_int_equal(tsk_reader_calib_ns(&cal, 1000000 + 3000), 5000001000LL);
	assert_int_equal(tsk_reader_calib_ns(&cal, 1000000 + 3000000000ULL), 6000000000LL);
	/* Before tsc0 (another CPU's counter slightly behind). */
	assert_int_equal(tsk_reader_calib_ns(&cal, 1000000 - 300), 5000000000LL - 100);
	/* Hours later: no 64-bit overflow. */
	uint64_t hours10 = 1000000 + 3000000000ULL * 36000;
	assert_int_equal(tsk_reader_calib_ns(&cal, hours10), 5000000000LL + 36000000000000LL);
	/* Far beyond the int64 range: saturated. */
	cal.num = INT64_MAX;
	cal.den = 1;
	assert_int_equal(tsk_reader_calib_ns(&cal, UINT64_MAX), INT64_MAX);
	assert_int_equal(tsk_reader_calib_ns(&cal, 0), INT64_MIN);
	cal.den = 0; /* treated as 1, not a division by zero */
	assert_int_equal(tsk_reader_calib_ns(&cal, cal.tsc0), cal.mono0);
	assert_int_equal(tsk_reader_calib_ns(NULL, 5), 0);

	/* tsc_is_ns: the "ticks" are nanoseconds. */
	sw_calib(&f->seg, 7000, 7000, 7000, 7000, 1);
	assert_int_equal(tsk_reader_calib_load(r, &cal), 0);
	assert_int_equal(cal.source, TSK_CAL_NS);
	assert_int_equal(tsk_reader_calib_ns(&cal, 123456789), 123456789);
	assert_int_equal(tsk_reader_calib_load(r, NULL), -EINVAL);
	tsk_reader_close(r);
}

static void test_calib_fallbacks(void **state)
{
	fixture *f = *state;
	tsk_rd_calib cal;
	tsk_reader *r;

	assert_int_equal(tsk_reader_open(f->path, 0, &r), 0);
	/* Pair 1 not refreshed yet, hostile pairs: one pair and an estimate. */
	const uint64_t tsc1[] = {1000, 500, UINT64_MAX, 2000};
	const int64_t mono1[] = {100, 200, 300, 100};
	for (int i = 0; i < 4; i++) {
		sw_calib(&f->seg, 1000, 100, tsc1[i], mono1[i], 0);
		assert_int_equal(tsk_reader_calib_load(r, &cal), 0);
		assert_true(cal.source == TSK_CAL_CPUINFO || cal.source == TSK_CAL_GUESS);
		assert_true(cal.den > 0 && cal.num > 0);
		assert_int_equal(tsk_reader_calib_ns(&cal, 1000), 100);
		assert_true(tsk_reader_calib_ns(&cal, 1000 + 1000000000ULL) > 100);
	}
	/* mono1 - mono0 overflowing int64. */
	sw_calib(&f->seg, 1000, INT64_MIN, 2000, INT64_MAX, 0);
	assert_int_equal(tsk_reader_calib_load(r, &cal), 0);
	assert_int_not_equal(cal.source, TSK_CAL_PAIRS);

	/* calib_seq left odd: a torn, best-effort copy. */
	sw_calib(&f->seg, 10, 20, 30, 40, 0);
	f->seg.h->calib_seq |= 1;
	assert_int_equal(tsk_reader_calib_load(r, &cal), 1);
	assert_int_equal(cal.torn, 1);
	assert_int_equal(cal.source, TSK_CAL_PAIRS);
	assert_int_equal(tsk_reader_calib_ns(&cal, 50), 60);
	tsk_reader_close(r);
}

static void test_cpuinfo(void **state)
{
	(void)state;
	assert_int_equal(tsk_reader_calib_cpuinfo_hz(
	                         "processor\t: 0\n"
	                         "model name\t: Intel(R) Xeon(R) CPU E5-2680 v4 @ 2.40GHz\n"
	                         "cpu MHz\t\t: 1200.000\n"),
	                 2400000000ULL);
	assert_int_equal(tsk_reader_calib_cpuinfo_hz("model name\t: AMD EPYC 7B13\n"
	                                             "cpu MHz\t\t: 2449.998\n"),
	                 2449998000ULL);
	assert_int_equal(tsk_reader_calib_cpuinfo_hz("model name : Old CPU @ 800MHz\n"),
	                 800000000ULL);
	assert_int_equal(tsk_reader_calib_cpuinfo_hz("cpu MHz : 3000"), 3000000000ULL);
	assert_int_equal(tsk_reader_calib_cpuinfo_hz("model name : x @ \ncpu MHz : abc\n"), 0);
	assert_int_equal(tsk_reader_calib_cpuinfo_hz(""), 0);
	assert_int_equal(tsk_reader_calib_cpuinfo_hz(NULL), 0);
	/* A huge number does not overflow. */
	assert_true(tsk_reader_calib_cpuinfo_hz("cpu MHz : 99999999999999999999999") > 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test_setup_teardown(test_snapshot, pt_setup, pt_teardown),
	        cmocka_unit_test_setup_teardown(test_snapshot_hostile, pt_setup, pt_teardown),
	        cmocka_unit_test_setup_teardown(test_snapshot_dead_writer, pt_setup, pt_teardown),
	        cmocka_unit_test_setup_teardown(test_seqlock_thread, pt_setup, pt_teardown),
	        cmocka_unit_test_setup_teardown(test_seqlock_process, pt_setup, pt_teardown),
	        cmocka_unit_test_setup_teardown(test_calib_pairs, pt_setup, pt_teardown),
	        cmocka_unit_test_setup_teardown(test_calib_fallbacks, pt_setup, pt_teardown),
	        cmocka_unit_test_setup_teardown(test_cpuinfo, pt_setup, pt_teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
