/*
 * test_store.c - tests of the history store (inspector/src/store*.c) and
 * of db_open_read's checks (db.c) on the files the store writes.
 *
 * Covered: every row type written and read back column by column (the
 * NULL mapping of INT64_MIN, -1, 0 parents and the columns a state does
 * not use), with a second read-only connection while the store is open
 * (WAL); 300k intervals, apart and in poll cycles (scaled by TSK_TEST_SCALE) with no drop; task
 * and resource upserts in every order; an existing file, a directory and a
 * missing directory at open; db_open_read on a good DB and on six kinds of
 * bad file; a recorder SIGKILLed mid-run; a writer held back (rows dropped
 * and counted, the caller never waits) and a writer failing (a full
 * database: the error reaches store_sync and store_close); max_size and
 * max_age retention; closing complete (indexes, complete = 1) or not; an
 * in-memory store.  Every test ends by checking that no descriptor or
 * thread leaked and removes its directory (LeakSanitizer checks memory in
 * the SANITIZE=address build).
 */
#include <dirent.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "tsk_test.h"

#include "db.h"
#include "store.h"
#include "store_int.h"

#define STR_(x) #x
#define STR(x)  STR_(x)

typedef struct fixture {
	char dir[64];
	char path[128];
	int fds;
	int threads;
} fixture;

static int dir_entries(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	int n = 0;

	assert_non_null(d);
	while ((de = readdir(d)))
		n += de->d_name[0] != '.';
	closedir(d);
	return n;
}

static void dir_remove(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	char path[512];

	if (!d)
		return;
	while ((de = readdir(d))) {
		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
		if (unlink(path) < 0)
			rmdir(path);
	}
	closedir(d);
	rmdir(dir);
}

static int setup(void **state)
{
	fixture *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	f->fds = dir_entries("/proc/self/fd") - 1;
	f->threads = dir_entries("/proc/self/task");
	strcpy(f->dir, "/tmp/tsk-store-XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	snprintf(f->path, sizeof(f->path), "%s/h.db", f->dir);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	fixture *f = *state;

	dir_remove(f->dir);
	assert_int_equal(dir_entries("/proc/self/fd") - 1, f->fds);
	assert_int_equal(dir_entries("/proc/self/task"), f->threads);
	free(f);
	return 0;
}

/* ---- helpers ----------------------------------------------------------------- */

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static store *open_ok(const char *path, const store_opts *o)
{
	char err[512] = "";
	store *s = store_open(path, o, err, sizeof(err));
	if (!s)
		fail_msg("store_open: %s", err);
	return s;
}

static void sync_ok(store *s)
{
	char err[512] = "";
	if (store_sync(s, err, sizeof(err)) != 0)
		fail_msg("store_sync: %s", err);
}

static void close_ok(store *s, int complete)
{
	char err[512] = "";
	if (store_close(s, complete, err, sizeof(err)) != 0)
		fail_msg("store_close: %s", err);
}

static sqlite3 *open_ro(const char *path)
{
	sqlite3 *db = NULL;
	assert_int_equal(sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
	return db;
}

/* The one integer sql returns. */
static int64_t q_int(sqlite3 *db, const char *sql)
{
	sqlite3_stmt *st;
	int64_t v;

	if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
		fail_msg("%s: %s", sql, sqlite3_errmsg(db));
	assert_int_equal(sqlite3_step(st), SQLITE_ROW);
	v = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	return v;
}

/* The rows sql returns, columns joined by '|', rows by '\n', NULL as
 * "NULL": compared as one string, so a failure shows every field. */
static void expect_rows(sqlite3 *db, const char *sql, const char *want)
{
	sqlite3_stmt *st;
	char got[4096] = "";
	size_t n = 0;

	if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
		fail_msg("%s: %s", sql, sqlite3_errmsg(db));
	while (sqlite3_step(st) == SQLITE_ROW) {
		if (n)
			n += (size_t)snprintf(got + n, sizeof(got) - n, "\n");
		for (int i = 0; i < sqlite3_column_count(st); i++) {
			const char *v = (const char *)sqlite3_column_text(st, i);
			n += (size_t)snprintf(got + n, sizeof(got) - n, "%s%s", i ? "|" : "",
			                      v ? v : "NULL");
		}
	}
	sqlite3_finalize(st);
	if (strcmp(got, want) != 0)
		fail_msg("%s:\n got: %s\nwant: %s", sql, got, want);
}

static int64_t file_size(const char *path)
{
	struct stat sb;
	return stat(path, &sb) == 0 ? (int64_t)sb.st_size : 0;
}

static int64_t db_and_wal(const char *path)
{
	char wal[256];
	snprintf(wal, sizeof(wal), "%s-wal", path);
	return file_size(path) + file_size(wal);
}

static store_proc a_proc(void)
{
	store_proc p = {
	        .pid = 42,
	        .start_ticks = 777,
	        .created_realtime_ns = 1700000000123456789LL,
	        .created_mono_ns = 123456789,
	        .source = "record",
	        .workers = 4,
	        .first_ns = INT64_MIN,
	        .last_ns = 5000,
	        .events = 10,
	        .lost = 2,
	        .overwritten = 3,
	};
	strcpy(p.name, "prog");
	strcpy(p.segment, "/dev/shm/taskscope.42.777");
	return p;
}

/* A running interval of task from a to b. */
static model_interval run_iv(uint64_t task, int64_t a, int64_t b)
{
	model_interval iv = {.task = task,
	                     .start_ns = a,
	                     .end_ns = b,
	                     .state = MS_RUNNING,
	                     .worker = (uint16_t)(task % 4),
	                     .deadline_ns = -1};
	return iv;
}

static model_task a_task(uint64_t id, uint64_t parent, const char *name)
{
	model_task t;
	memset(&t, 0, sizeof(t));
	t.id = id;
	t.parent = parent;
	snprintf(t.name, sizeof(t.name), "%s", name);
	t.spawned_ns = 100;
	t.ended_ns = -1;
	t.cur.state = MS_READY;
	return t;
}

/* ---- round trip ------------------------------------------------------------------ */

static void write_every_kind(store *s)
{
	store_proc p = a_proc();
	model_task t = a_task(7, 0, "root");
	tsk_seg_stack stk;
	model_res r;

	store_process(s, &p);
	p.events = 11; /* a second call replaces the row */
	store_process(s, &p);
	store_string(s, 4, "a.c:10 main");
	store_string(s, 8, "label-x");
	store_string(s, 12, "work+0x10");
	store_string(s, 16, NULL); /* nothing to store */
	memset(&stk, 0, sizeof(stk));
	stk.nframes = 2;
	stk.frames[0] = (tsk_seg_frame){.pc = 0x401000, .sym = 12};
	stk.frames[1] = (tsk_seg_frame){.pc = 0x402000, .sym = 0};
	store_stack(s, 1, &stk);
	stk.nframes = 1000; /* a corrupt entry: clamped to the frames there are */
	store_stack(s, 2, &stk);

	t.spawned_ns = INT64_MIN;
	t.flags = TSK_TF_ROOT;
	t.cur.state = MS_RUNNING;
	store_task(s, &t, "a.c:10", "main");
	t = a_task(8, 7, "");
	store_task(s, &t, NULL, "");

	memset(&r, 0, sizeof(r));
	r.id = 3;
	r.kind = TSK_RES_MUTEX;
	strcpy(r.name, "lock-a");
	r.created_ns = INT64_MIN;
	r.freed_ns = -1;
	r.capacity = 5; /* meaningless for a mutex */
	r.acquires = 9;
	store_res(s, &r, "a.c:20");
	r.id = 4;
	r.kind = TSK_RES_CHAN;
	strcpy(r.name, "");
	r.created_ns = 50;
	r.freed_ns = 60;
	r.capacity = UINT64_MAX;
	r.sends = 1;
	r.recvs = 2;
	r.max_value = 3;
	store_res(s, &r, NULL);
	r.id = 5;
	r.capacity = 0;
	store_res(s, &r, NULL);
	r.id = 6;
	r.kind = TSK_RES_SEM;
	r.capacity = 3;
	store_res(s, &r, NULL);
	r.id = 9;
	r.kind = 99;
	store_res(s, &r, NULL);

	model_interval iv = run_iv(7, 100, 200);
	iv.worker = 2;
	iv.obj = 77; /* only blocked and ready intervals keep obj, site, stack */
	iv.site = 4;
	iv.stack = 1;
	iv.how = 3;
	store_interval(s, &iv);
	iv = run_iv(7, 200, 210);
	iv.worker = 0xffff;
	store_interval(s, &iv);
	iv = (model_interval){.task = 7,
	                      .start_ns = 210,
	                      .end_ns = 300,
	                      .state = MS_BLOCKED,
	                      .wait_kind = TSK_WAIT_MUTEX,
	                      .worker = 3,
	                      /* running only */ .site = 4,
	                      .label = 8,
	                      .stack = 1,
	                      .obj = 3,
	                      .deadline_ns = -1,
	                      .how = 1};
	store_interval(s, &iv);
	iv = (model_interval){.task = 8,
	                      .start_ns = 300,
	                      .end_ns = 400,
	                      .state = MS_BLOCKED,
	                      .wait_kind = TSK_WAIT_SLEEP,
	                      .worker = 0xffff,
	                      .deadline_ns = 900};
	store_interval(s, &iv);
	iv = (model_interval){.task = 7,
	                      .start_ns = 300,
	                      .end_ns = 310,
	                      .state = MS_READY,
	                      .worker = 0xffff,
	                      .obj = 8,
	                      .how = MR_WOKEN,
	                      .deadline_ns = -1};
	store_interval(s, &iv);
	iv = (model_interval){.task = 8,
	                      .start_ns = 400,
	                      .end_ns = 410,
	                      .state = MS_READY,
	                      .worker = 0xffff,
	                      .obj = 0,
	                      .how = MR_TIMEOUT,
	                      .deadline_ns = 5};
	store_interval(s, &iv);
	iv = (model_interval){.task = 8,
	                      .start_ns = 410,
	                      .end_ns = -1,
	                      .state = MS_UNKNOWN,
	                      .worker = 0xffff,
	                      .deadline_ns = -1};
	store_interval(s, &iv);
	iv.start_ns = INT64_MIN; /* no start: refused and counted */
	store_interval(s, &iv);

	model_own o = {.resource = 3, .task = 7, .start_ns = INT64_MIN, .end_ns = 150, .shared = 0};
	store_own(s, &o);
	o = (model_own){.resource = 3, .task = 8, .start_ns = 310, .end_ns = -1, .shared = 1};
	store_own(s, &o);

	model_event e = {.ns = 500, .type = TSK_EV_CANCEL, .worker = 1, .task = 8, .obj = 7};
	store_event(s, &e);
	e = (model_event){
	        .ns = 510, .type = TSK_EV_WG_ADD, .task = 7, .obj = 6, .arg = (uint64_t)-2};
	store_event(s, &e);
	e = (model_event){.ns = 520, .type = 200, .task = 0, .obj = 0, .arg = 1};
	store_event(s, &e);
	e.ns = INT64_MIN; /* refused and counted */
	store_event(s, &e);

	t = a_task(7, 0, "root");
	t.spawned_ns = INT64_MIN;
	t.flags = TSK_TF_ROOT | TSK_TF_CANCELLED;
	t.ended_ns = 600;
	t.polls = 3;
	t.busy_ns = 110;
	t.sched_ns = 10;
	t.idle_ns = 90;
	t.wakes = 1;
	t.self_wakes = 0;
	t.run.count[3] = 5;
	t.run.count[10] = 1;
	t.run.max_ns = 1500;
	t.wait.count[0] = 2;
	t.wait.max_ns = 1;
	store_task_final(s, &t);
}

static void check_every_kind(sqlite3 *db, int complete)
{
	char want[256];
	snprintf(want, sizeof(want),
	         "1|42|prog|777|1700000000123456789|123456789|/dev/shm/taskscope.42.777|record|"
	         "4|NULL|5000|11|2|3|%d|taskscope %d.%d",
	         complete, TSK_VERSION_MAJOR, TSK_VERSION_MINOR);
	expect_rows(db, "SELECT * FROM process", want);
	expect_rows(db, "SELECT * FROM strings ORDER BY id",
	            "4|a.c:10 main\n8|label-x\n12|work+0x10");
	expect_rows(db, "SELECT * FROM stacks ORDER BY id", "1|2\n2|31");
	expect_rows(db, "SELECT * FROM frames WHERE stack = 1 ORDER BY depth",
	            "1|0|4198400|12\n1|1|4202496|NULL");
	assert_int_equal(q_int(db, "SELECT count(*) FROM frames WHERE stack = 2"), 31);
	expect_rows(db, "SELECT * FROM tasks ORDER BY id",
	            "7|root|NULL|a.c:10|main|NULL|600|6|done|3|110|10|90|1|0|1500|1|0\n"
	            "8|NULL|7|NULL|NULL|100|NULL|0|ready|0|0|0|0|0|0|0|0|NULL");
	expect_rows(db, "SELECT * FROM histograms ORDER BY task, kind, bucket",
	            "7|run|3|5\n7|run|10|1\n7|wait|0|2");
	expect_rows(db, "SELECT * FROM resources ORDER BY id",
	            "3|mutex|lock-a|a.c:20|NULL|NULL|NULL|0|0|9|0\n"
	            "4|channel|NULL|NULL|50|60|NULL|1|2|9|3\n"
	            "5|channel|NULL|NULL|50|60|0|1|2|9|3\n"
	            "6|semaphore|NULL|NULL|50|60|3|1|2|9|3\n"
	            "9|kind99|NULL|NULL|50|60|NULL|1|2|9|3");
	/* intervals is a view over spans: one row per interval, in any order */
	expect_rows(db, "SELECT * FROM intervals ORDER BY task, start_ns, coalesce(end_ns, 9e18)",
	            "7|2|100|200|2|NULL|NULL|NULL|NULL|NULL|NULL|NULL\n"
	            "7|2|200|210|NULL|NULL|NULL|NULL|NULL|NULL|NULL|NULL\n"
	            "7|3|210|300|NULL|6|3|4|8|1|NULL|NULL\n"
	            "7|1|300|310|NULL|NULL|8|NULL|NULL|NULL|NULL|1\n"
	            "8|3|300|400|NULL|1|NULL|NULL|NULL|NULL|900|NULL\n"
	            "8|1|400|410|NULL|NULL|NULL|NULL|NULL|NULL|NULL|2\n"
	            "8|0|410|NULL|NULL|NULL|NULL|NULL|NULL|NULL|NULL|NULL");
	/* stored as spans: only task 8's ready and unknown parts could share a
	 * row, and they do not (unknown comes first or not at all); task 7's
	 * blocked part has another label than the running one before it */
	assert_int_equal(q_int(db, "SELECT count(*) FROM spans"), 7);
	expect_rows(db, "SELECT * FROM ownership ORDER BY rowid", "3|7|0|NULL|150\n3|8|1|310|NULL");
	expect_rows(db, "SELECT * FROM events ORDER BY rowid",
	            "500|cancel|8|7|0\n510|wg_add|7|6|-2\n520|type200|NULL|0|1");
	expect_rows(db,
	            "SELECT task_name, state, dur_ns, wait, resource_name, location, label"
	            " FROM state_intervals WHERE state = 'blocked' ORDER BY start_ns",
	            "root|blocked|90|mutex|lock-a|a.c:10 main|label-x\n"
	            "NULL|blocked|100|sleep|NULL|NULL|NULL");
}

static void test_round_trip(void **state)
{
	fixture *f = *state;
	store *s = open_ok(f->path, &(store_opts){0});
	store_stats st;

	write_every_kind(s);
	sync_ok(s);
	store_get_stats(s, &st);
	/* 1 process, 3 strings, 2 stacks, 2 tasks, 5 resources, 7 intervals,
	 * 2 ownerships, 3 events, 1 final row */
	assert_int_equal(st.rows, 26);
	assert_int_equal(st.dropped, 2);
	assert_int_equal(st.queued_bytes, 0);
	assert_true(st.batches >= 1);
	assert_true(st.db_bytes > 0);

	/* readable by another connection while the store is open (WAL) */
	sqlite3 *db = open_ro(f->path);
	assert_int_equal(q_int(db, "PRAGMA application_id"), DB_APP_ID);
	assert_int_equal(q_int(db, "PRAGMA user_version"), DB_SCHEMA_VERSION);
	expect_rows(db, "PRAGMA journal_mode", "wal");
	check_every_kind(db, 0);

	/* closed complete with that reader still attached: WAL all along */
	close_ok(s, 1);
	check_every_kind(db, 1);
	expect_rows(db, "PRAGMA journal_mode", "wal");
	assert_int_equal(q_int(db, "SELECT count(*) FROM sqlite_master WHERE type = 'index'"
	                           " AND name NOT LIKE 'sqlite_autoindex%'"),
	                 6);
	sqlite3_close(db);
}

static void test_event_names(void **state)
{
	static const char *const want[] = {
	        [1] = "spawn",    [2] = "run",      [3] = "block",     [4] = "wake",
	        [5] = "yield",    [6] = "exit",     [7] = "cancel",    [8] = "label",
	        [9] = "joined",   [16] = "res_new", [17] = "res_free", [18] = "acquire",
	        [19] = "release", [20] = "send",    [21] = "recv",     [22] = "close",
	        [23] = "signal",  [24] = "wg_add",  [32] = "park",     [33] = "unpark",
	        [34] = "steal",   [35] = "calib",   [36] = "lost",     [37] = "runtime",
	};
	char buf[16], exp[16];

	(void)state;
	for (unsigned t = 0; t < 300; t++) {
		const char *name = store__ev_name(t, buf, sizeof(buf));
		if (t < sizeof(want) / sizeof(want[0]) && want[t]) {
			assert_string_equal(name, want[t]);
		} else {
			snprintf(exp, sizeof(exp), "type%u", t);
			assert_string_equal(name, exp);
		}
	}
	assert_string_equal(store__res_kind_name(TSK_RES_WG, buf, sizeof(buf)), "waitgroup");
	assert_string_equal(store__res_kind_name(TSK_RES_COND, buf, sizeof(buf)), "condvar");
	assert_string_equal(store__res_kind_name(TSK_RES_RWLOCK, buf, sizeof(buf)), "rwlock");
	assert_string_equal(store__res_kind_name(0, buf, sizeof(buf)), "kind0");
}

/* ---- spans ------------------------------------------------------------------------- */

static model_interval part(uint64_t task, uint8_t state, int64_t a, int64_t b)
{
	model_interval iv = {.task = task,
	                     .state = state,
	                     .start_ns = a,
	                     .end_ns = b,
	                     .worker = 0xffff,
	                     .deadline_ns = -1};
	return iv;
}

/* Waits until the writer has committed what was handed off, without the
 * store_sync that would also write the growing spans. */
static void wait_committed(store *s)
{
	store_stats st;
	for (int i = 0; i < 10000; i++) {
		store_get_stats(s, &st);
		if (st.queued_bytes == 0)
			return;
		usleep(1000);
	}
	fail_msg("the writer did not commit in 10 s");
}

#define SPAN_COLS                                                                                  \
	"SELECT task, state0, start_ns, run_ns, stop_ns, end_ns, worker, waker, how, wait,"        \
	" resource, site, stack, deadline_ns, label FROM spans"

static void test_spans(void **state)
{
	fixture *f = *state;
	store *s = open_ok(f->path, &(store_opts){0});
	store_proc p = a_proc();
	model_interval iv;
	sqlite3 *db;

	store_process(s, &p);
	/* a poll cycle, ready -> running -> blocked: one row */
	iv = part(1, MS_READY, 0, 10);
	iv.how = MR_WOKEN;
	iv.obj = 5;
	store_interval(s, &iv);
	iv = part(1, MS_RUNNING, 10, 20);
	iv.worker = 3;
	store_interval(s, &iv);
	iv = part(1, MS_BLOCKED, 20, 30);
	iv.wait_kind = TSK_WAIT_MUTEX;
	iv.obj = 9;
	iv.site = 4;
	iv.stack = 1;
	iv.deadline_ns = 100;
	store_interval(s, &iv);
	/* ready (timed out) -> running, then a yield: the ready part of a new row */
	iv = part(1, MS_READY, 30, 40);
	iv.how = MR_TIMEOUT;
	store_interval(s, &iv);
	iv = part(1, MS_RUNNING, 40, 50);
	iv.worker = 0;
	store_interval(s, &iv);
	iv = part(1, MS_READY, 50, 60);
	iv.how = MR_YIELDED;
	store_interval(s, &iv);
	/* a label change starts a row; running -> blocked under one label */
	iv = part(1, MS_RUNNING, 60, 70);
	iv.worker = 1;
	iv.label = 8;
	store_interval(s, &iv);
	iv = part(1, MS_BLOCKED, 70, 80);
	iv.label = 8;
	iv.wait_kind = TSK_WAIT_SLEEP;
	iv.deadline_ns = 80;
	store_interval(s, &iv);
	/* still open at the end: completes its row */
	iv = part(1, MS_READY, 80, -1);
	iv.how = MR_WOKEN;
	iv.obj = 2;
	store_interval(s, &iv);

	/* task 2 grows a span, task 3 moves the newest time 2 s on: a flush
	 * writes task 2's span as it is (a live reader sees it), not task 4's
	 * younger one; task 5's final row writes its last span */
	iv = part(2, MS_READY, 0, 5);
	iv.how = MR_SPAWNED;
	iv.obj = 1;
	store_interval(s, &iv);
	iv = part(4, MS_READY, 1500000000, 1500000001);
	store_interval(s, &iv);
	iv = part(5, MS_READY, 1500000000, 1500000002);
	store_interval(s, &iv);
	model_task t5 = a_task(5, 0, "five");
	t5.ended_ns = 1500000002;
	store_task_final(s, &t5);
	iv = part(3, MS_RUNNING, 0, 2000000000);
	store_interval(s, &iv);
	store_flush(s);
	wait_committed(s);
	db = open_ro(f->path);
	expect_rows(
	        db, SPAN_COLS " WHERE task IN (2, 4, 5) ORDER BY task",
	        "2|1|0|NULL|NULL|5|NULL|1|0|NULL|NULL|NULL|NULL|NULL|NULL\n"
	        "5|1|1500000000|NULL|NULL|1500000002|NULL|NULL|0|NULL|NULL|NULL|NULL|NULL|NULL");
	sqlite3_close(db);
	iv = part(2, MS_RUNNING, 5, 9);
	iv.worker = 2;
	store_interval(s, &iv);
	sync_ok(s);

	db = store_db(s);
	expect_rows(db, SPAN_COLS " WHERE task = 1 ORDER BY start_ns",
	            "1|1|0|10|20|30|3|5|1|6|9|4|1|100|NULL\n"
	            "1|1|30|40|NULL|50|0|NULL|2|NULL|NULL|NULL|NULL|NULL|NULL\n"
	            "1|1|50|NULL|NULL|60|NULL|NULL|4|NULL|NULL|NULL|NULL|NULL|NULL\n"
	            "1|2|60|60|70|80|1|NULL|NULL|1|NULL|NULL|NULL|80|8\n"
	            "1|1|80|NULL|NULL|NULL|NULL|2|1|NULL|NULL|NULL|NULL|NULL|NULL");
	/* the view gives back every interval as it was handed in */
	expect_rows(db, "SELECT * FROM intervals WHERE task = 1 ORDER BY start_ns",
	            "1|1|0|10|NULL|NULL|5|NULL|NULL|NULL|NULL|1\n"
	            "1|2|10|20|3|NULL|NULL|NULL|NULL|NULL|NULL|NULL\n"
	            "1|3|20|30|NULL|6|9|4|NULL|1|100|NULL\n"
	            "1|1|30|40|NULL|NULL|NULL|NULL|NULL|NULL|NULL|2\n"
	            "1|2|40|50|0|NULL|NULL|NULL|NULL|NULL|NULL|NULL\n"
	            "1|1|50|60|NULL|NULL|NULL|NULL|NULL|NULL|NULL|4\n"
	            "1|2|60|70|1|NULL|NULL|NULL|8|NULL|NULL|NULL\n"
	            "1|3|70|80|NULL|1|NULL|NULL|8|NULL|80|NULL\n"
	            "1|1|80|NULL|NULL|NULL|2|NULL|NULL|NULL|NULL|1");
	/* a span cut by the flush still tiles */
	expect_rows(
	        db,
	        "SELECT state, start_ns, end_ns FROM intervals WHERE task = 2 ORDER BY start_ns",
	        "1|0|5\n2|5|9");
	close_ok(s, 0);
}

/* ---- volume ------------------------------------------------------------------------ */

/* n intervals of `tasks` tasks through a store at path: each task's
 * intervals separate (one row each, the worst case) or tiling poll cycles
 * ready -> running -> blocked (a span row each).  Checks every interval
 * is there and none was dropped; prints the rates. */
static void many_rows(const char *path, long n, int cycles)
{
	const long tasks = 1000;
	store *s = open_ok(path, &(store_opts){.overwrite = 1});
	store_proc p = a_proc();
	store_stats st;
	int64_t sum = 0;

	store_process(s, &p);
	for (long k = 1; k <= tasks; k++) {
		model_task t = a_task((uint64_t)k, 0, "w");
		store_task(s, &t, "a.c:1", "f");
	}
	double t0 = now_s();
	for (long i = 0; i < n; i++) {
		long k = i % tasks, round = i / tasks, d = 7 + i % 3;
		model_interval iv = run_iv((uint64_t)(1 + k), i * 10, i * 10 + d);
		if (cycles) { /* the task's intervals follow each other */
			iv.start_ns = round * 10;
			iv.end_ns = round * 10 + 10;
			iv.state = (uint8_t)(1 + round % 3);
			iv.how = MR_WOKEN;
			iv.obj = (uint64_t)(1 + (k + 1) % tasks);
			iv.wait_kind = TSK_WAIT_MUTEX;
			iv.site = 4;
			d = 10;
		}
		store_interval(s, &iv);
		sum += d;
	}
	double t1 = now_s();
	sync_ok(s);
	double t2 = now_s();
	store_get_stats(s, &st);
	assert_int_equal(st.dropped, 0);
	sqlite3 *db = open_ro(path);
	int64_t spans = q_int(db, "SELECT count(*) FROM spans");
	assert_int_equal(st.rows, (uint64_t)(spans + tasks + 1));
	assert_int_equal(q_int(db, "SELECT count(*) FROM intervals"), n);
	assert_int_equal(q_int(db, "SELECT sum(end_ns - start_ns) FROM intervals"), sum);
	assert_int_equal(q_int(db, "SELECT count(DISTINCT task) FROM intervals"),
	                 n < tasks ? n : tasks);
	if (cycles) /* a row per cycle, give or take each task's first and last */
		assert_true(spans <= n / 3 + 2 * tasks);
	else
		assert_int_equal(spans, n);
	sqlite3_close(db);
	close_ok(s, 0);
	printf("# %ld intervals, %s: %lld rows, %.0f intervals/s appended, %.0f intervals/s "
	       "committed, %.1f bytes/interval without indexes\n",
	       n, cycles ? "poll cycles" : "separate", (long long)spans, (double)n / (t1 - t0),
	       (double)n / (t2 - t0), (double)file_size(path) / (double)n);
}

static void test_many_rows(void **state)
{
	fixture *f = *state;
	long n = tsk_test_scale(300000); /* bench/record.sh measures the rate at scale */

	many_rows(f->path, n, 0);
	many_rows(f->path, n, 1);
}

/* ---- upserts ------------------------------------------------------------------------- */

static model_task final_of(uint64_t id, uint64_t parent, const char *name, uint64_t polls)
{
	model_task t = a_task(id, parent, name);
	t.ended_ns = 900;
	t.polls = polls;
	t.busy_ns = polls * 10;
	t.wakes = polls / 2;
	t.run.count[5] = polls;
	t.run.max_ns = 40;
	t.wait.count[7] = 1;
	t.wait.max_ns = 200;
	return t;
}

static void test_upserts(void **state)
{
	fixture *f = *state;
	store *s = open_ok(f->path, &(store_opts){0});
	store_proc p = a_proc();
	model_task t;

	store_process(s, &p);
	/* 1: inserted, committed, then finalised */
	t = a_task(1, 0, "first");
	t.flags = TSK_TF_DETACHED;
	store_task(s, &t, "a.c:1", "main");
	sync_ok(s);
	t = final_of(1, 0, "", 4); /* a name not known there: kept */
	t.flags = TSK_TF_CANCELLED;
	store_task_final(s, &t);
	/* 2: finalised without an insert, then seen late (fills the gaps only) */
	t = final_of(2, 1, "", 6);
	t.flags = TSK_TF_CANCELLED;
	store_task_final(s, &t);
	sync_ok(s);
	t = a_task(2, 0, "late");
	t.spawned_ns = 5;
	t.flags = TSK_TF_DETACHED; /* flags only accumulate */
	store_task(s, &t, "b.c:2", "g");
	/* 3: final before the insert in one batch: the same row as in order */
	t = final_of(3, 1, "third", 2);
	store_task_final(s, &t);
	t = a_task(3, 1, "third");
	store_task(s, &t, "c.c:3", "h");
	/* 4: finalised twice: the last counters win, histograms merge */
	t = final_of(4, 1, "fourth", 2);
	store_task_final(s, &t);
	sync_ok(s);
	t = final_of(4, 1, "fourth", 8);
	t.run.count[6] = 1;
	store_task_final(s, &t);

	/* a resource seen, then its final row without a location */
	model_res r;
	memset(&r, 0, sizeof(r));
	r.id = 10;
	r.kind = TSK_RES_CHAN;
	strcpy(r.name, "jobs");
	r.created_ns = 20;
	r.freed_ns = -1;
	r.capacity = 8;
	store_res(s, &r, "q.c:5");
	sync_ok(s);
	r.freed_ns = 700;
	r.name[0] = 0;
	r.sends = 11;
	r.recvs = 10;
	r.max_value = 4;
	store_res(s, &r, NULL);
	sync_ok(s);

	sqlite3 *db = store_db(s);
	expect_rows(db,
	            "SELECT id, name, parent_id, location, function, spawned_ns, ended_ns, flags,"
	            " state, polls, busy_ns, wakes, max_run_ns, max_wait_ns FROM tasks ORDER BY id",
	            "1|first|NULL|a.c:1|main|100|900|3|done|4|40|2|40|200\n"
	            "2|late|1|b.c:2|g|100|900|3|done|6|60|3|40|200\n"
	            "3|third|1|c.c:3|h|100|900|0|done|2|20|1|40|200\n"
	            "4|fourth|1|NULL|NULL|100|900|0|done|8|80|4|40|200");
	expect_rows(db, "SELECT * FROM histograms WHERE task = 4 ORDER BY kind, bucket",
	            "4|run|5|8\n4|run|6|1\n4|wait|7|1");
	expect_rows(db, "SELECT * FROM resources", "10|channel|jobs|q.c:5|20|700|8|11|10|0|4");
	close_ok(s, 0);
}

/* ---- opening ------------------------------------------------------------------------------ */

static void write_file(const char *path, const void *data, size_t n)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, data, n), (ssize_t)n);
	close(fd);
}

static void test_open_existing(void **state)
{
	fixture *f = *state;
	char err[512] = "", path[256], wal[256];
	store_opts o = {0};
	store *s;

	/* an existing file is refused and left alone */
	write_file(f->path, "precious", 8);
	assert_null(store_open(f->path, &o, err, sizeof(err)));
	snprintf(path, sizeof(path), "%s: File exists (use --force to replace it)", f->path);
	assert_string_equal(err, path);
	assert_int_equal(file_size(f->path), 8);

	/* overwrite replaces it, and a stale WAL next to it goes too (it
	 * would be replayed into the new database) */
	snprintf(wal, sizeof(wal), "%s-wal", f->path);
	write_file(wal, "stale wal", 9);
	o.overwrite = 1;
	s = open_ok(f->path, &o);
	store_proc p = a_proc();
	store_process(s, &p);
	close_ok(s, 1);
	sqlite3 *db = db_open_read(f->path, err, sizeof(err));
	assert_non_null(db);
	assert_int_equal(q_int(db, "SELECT pid FROM process"), 42);
	sqlite3_close(db);

	/* a missing directory, a directory, a directory we cannot write; none
	 * of the failures leaves a file behind */
	int entries = dir_entries(f->dir);
	snprintf(path, sizeof(path), "%s/no/such/dir/h.db", f->dir);
	assert_null(store_open(path, &o, err, sizeof(err)));
	assert_non_null(strstr(err, "No such file or directory"));
	assert_non_null(strstr(err, path));
	snprintf(path, sizeof(path), "%s/sub", f->dir);
	assert_int_equal(mkdir(path, 0755), 0);
	assert_null(store_open(path, &o, err, sizeof(err)));
	assert_non_null(strstr(err, "Is a directory"));
	o.overwrite = 0;
	assert_null(store_open(path, &o, err, sizeof(err)));
	assert_non_null(strstr(err, "Is a directory"));
	rmdir(path);
	if (geteuid() != 0) {
		assert_int_equal(mkdir(path, 0555), 0);
		snprintf(path + strlen(path), sizeof(path) - strlen(path), "/h.db");
		assert_null(store_open(path, &o, err, sizeof(err)));
		assert_non_null(strstr(err, "Permission denied"));
	}
	assert_int_equal(dir_entries(f->dir), entries + (geteuid() != 0));
}

static void test_in_memory(void **state)
{
	fixture *f = *state;
	store *s = open_ok(NULL, &(store_opts){.in_memory = 1});
	store_proc p = a_proc();

	store_process(s, &p);
	for (int i = 0; i < 40000; i++) {
		model_interval iv = run_iv(1, i, i + 1);
		store_interval(s, &iv);
	}
	sync_ok(s);
	sqlite3 *db = store_db(s);
	assert_int_equal(q_int(db, "SELECT count(*) FROM intervals"), 40000);
	assert_int_equal(q_int(db, "PRAGMA application_id"), DB_APP_ID);
	store_stats st;
	store_get_stats(s, &st);
	assert_true(st.db_bytes > 40000 * 10);
	close_ok(s, 1);
	assert_int_equal(dir_entries(f->dir), 0); /* nothing on disk */
}

/* A recording of n intervals in path, closed complete or not. */
static void make_db(const char *path, long n, int complete)
{
	store *s = open_ok(path, &(store_opts){.overwrite = 1});
	store_proc p = a_proc();
	store_process(s, &p);
	for (long i = 0; i < n; i++) {
		model_interval iv = run_iv((uint64_t)(1 + i % 50), i, i + 1);
		store_interval(s, &iv);
	}
	close_ok(s, complete);
}

static void expect_refused(const char *path, const char *words)
{
	char err[512] = "";
	sqlite3 *db = db_open_read(path, err, sizeof(err));
	if (db) {
		sqlite3_close(db);
		fail_msg("db_open_read accepted %s", path);
	}
	if (!strstr(err, words) || !strstr(err, path) || strchr(err, '\n'))
		fail_msg("db_open_read(%s): \"%s\" does not say \"%s\"", path, err, words);
	printf("# refused: %s\n", err);
}

static void test_open_read(void **state)
{
	fixture *f = *state;
	char err[512] = "", path[256];
	sqlite3 *db;

	/* a good DB, complete: indexes, complete = 1, no WAL left */
	make_db(f->path, 100000, 1);
	snprintf(path, sizeof(path), "%s-wal", f->path);
	assert_int_equal(access(path, F_OK), -1);
	db = db_open_read(f->path, err, sizeof(err));
	if (!db)
		fail_msg("%s", err);
	assert_int_equal(q_int(db, "SELECT complete FROM process"), 1);
	assert_int_equal(q_int(db, "SELECT count(*) FROM sqlite_master WHERE type = 'index'"
	                           " AND name NOT LIKE 'sqlite_autoindex%'"),
	                 6);
	assert_int_equal(q_int(db, "SELECT count(*) FROM intervals"), 100000);
	expect_rows(db, "PRAGMA journal_mode", "wal"); /* back from the index build */
	sqlite3_close(db);

	/* not complete: no indexes, still a good DB */
	snprintf(path, sizeof(path), "%s/partial.db", f->dir);
	make_db(path, 1000, 0);
	db = db_open_read(path, err, sizeof(err));
	if (!db)
		fail_msg("%s", err);
	assert_int_equal(q_int(db, "SELECT complete FROM process"), 0);
	assert_int_equal(q_int(db, "SELECT count(*) FROM sqlite_master WHERE type = 'index'"
	                           " AND name NOT LIKE 'sqlite_autoindex%'"),
	                 0);
	sqlite3_close(db);

	/* a few bytes of something else */
	snprintf(path, sizeof(path), "%s/short.db", f->dir);
	write_file(path, "SQLite", 6);
	expect_refused(path, "not a SQLite file");

	/* truncated to half */
	assert_int_equal(truncate(f->path, file_size(f->path) / 2), 0);
	expect_refused(f->path, "damaged");

	/* a SQLite database of another program */
	snprintf(path, sizeof(path), "%s/other.db", f->dir);
	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	assert_int_equal(
	        sqlite3_exec(db, "CREATE TABLE t(x); INSERT INTO t VALUES (1)", NULL, NULL, NULL),
	        SQLITE_OK);
	sqlite3_close(db);
	expect_refused(path, "not a taskscope history");

	/* a file that is not a database, an empty file, none, a directory */
	snprintf(path, sizeof(path), "%s/text.db", f->dir);
	char junk[8192];
	memset(junk, 'x', sizeof(junk));
	write_file(path, junk, sizeof(junk));
	expect_refused(path, "not a SQLite file");
	snprintf(path, sizeof(path), "%s/empty.db", f->dir);
	write_file(path, "", 0);
	expect_refused(path, "empty file");
	snprintf(path, sizeof(path), "%s/missing.db", f->dir);
	expect_refused(path, "No such file or directory");
	expect_refused(f->dir, "not a regular file");
}

/* ---- crash safety ------------------------------------------------------------------------------
 */

#define CRASH_ROWS 5000 /* intervals per synced batch */

/* The child: N synced batches (one byte to the pipe after each), then
 * unsynced writing until it is killed. */
static void crash_child(const char *path, int fd, int nsync)
{
	char err[512];
	store *s = store_open(path, &(store_opts){0}, err, sizeof(err));
	store_proc p = a_proc();

	if (!s)
		_exit(2);
	store_process(s, &p);
	for (int64_t b = 0;; b++) {
		for (int i = 0; i < CRASH_ROWS; i++) {
			model_interval iv =
			        run_iv((uint64_t)b, b * CRASH_ROWS + i, b * CRASH_ROWS + i + 1);
			store_interval(s, &iv);
		}
		if (b < nsync) {
			if (store_sync(s, err, sizeof(err)) < 0 || write(fd, "s", 1) != 1)
				_exit(3);
		} else {
			store_flush(s);
		}
	}
}

static void test_crash(void **state)
{
	fixture *f = *state;
	int fds[2], nsync = 20;
	char c, err[512] = "";

	assert_int_equal(pipe(fds), 0);
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		close(fds[0]);
		crash_child(f->path, fds[1], nsync);
	}
	close(fds[1]);
	for (int i = 0; i < nsync; i++)
		assert_int_equal(read(fds[0], &c, 1), 1);
	usleep(30000); /* let it write unsynced batches */
	assert_int_equal(kill(pid, SIGKILL), 0);
	int status;
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
	close(fds[0]);

	sqlite3 *db = db_open_read(f->path, err, sizeof(err));
	if (!db)
		fail_msg("after SIGKILL: %s", err);
	expect_rows(db, "PRAGMA integrity_check", "ok");
	assert_int_equal(q_int(db, "SELECT complete FROM process"), 0);
	/* every synced batch is there, whole; later ones whole or absent */
	assert_int_equal(q_int(db, "SELECT count(DISTINCT task) FROM intervals WHERE task < 20"),
	                 nsync);
	assert_int_equal(q_int(db,
	                       "SELECT count(*) FROM (SELECT task, count(*) AS n FROM intervals"
	                       " WHERE task < 20 GROUP BY task HAVING n <> " STR(CRASH_ROWS) ")"),
	                 0);
	printf("# killed with %lld rows committed (%d batches synced)\n",
	       (long long)q_int(db, "SELECT count(*) FROM intervals"), nsync);
	sqlite3_close(db);
}

/* ---- a writer that falls behind, a writer that fails ------------------------------------------
 */

static void test_writer_behind(void **state)
{
	fixture *f = *state;
	store *s = open_ok(f->path, &(store_opts){0});
	store_proc p = a_proc();
	sqlite3 *other;
	store_stats st;
	long n = 200000, tasks = 500;
	const size_t qmax = (size_t)4 << 20; /* 4 batches of intervals */

	store_process(s, &p);
	sync_ok(s);
	store__set_queue_max(s, qmax);
	/* another connection holds the write lock: the writer waits on it */
	assert_int_equal(sqlite3_open(f->path, &other), SQLITE_OK);
	assert_int_equal(sqlite3_exec(other, "BEGIN IMMEDIATE", NULL, NULL, NULL), SQLITE_OK);
	double t0 = now_s();
	for (long i = 0; i < n; i++) {
		model_interval iv = run_iv(1, i, i + 1);
		store_interval(s, &iv);
		if (i % (n / tasks) == 0) {
			model_task t = a_task((uint64_t)(1000 + i / (n / tasks)), 0, "t");
			store_task(s, &t, "a.c:1", "f");
		}
	}
	store_flush(s);
	double dt = now_s() - t0;
	store_get_stats(s, &st);
	/* the caller did not wait: everything is queued or dropped */
	assert_true(st.dropped > 0);
	assert_true(st.queued_bytes <= qmax + qmax / 4);
	assert_int_equal(sqlite3_exec(other, "ROLLBACK", NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(other);
	sync_ok(s);
	store_get_stats(s, &st);
	assert_int_equal(st.rows + st.dropped, (uint64_t)(n + tasks + 1));
	sqlite3 *db = store_db(s);
	/* the bulk rows were dropped, the tasks were kept */
	assert_int_equal(q_int(db, "SELECT count(*) FROM tasks"), tasks);
	assert_int_equal(q_int(db, "SELECT count(*) FROM intervals"), n - (int64_t)st.dropped);
	assert_true(q_int(db, "SELECT count(*) FROM intervals") >= 2 * STORE_BATCH_ROWS);
	printf("# writer held back: %ld rows appended in %.3f s, %" PRIu64 " dropped\n", n, dt,
	       st.dropped);
	close_ok(s, 0);
}

static void test_writer_error(void **state)
{
	fixture *f = *state;
	store *s = open_ok(f->path, &(store_opts){0});
	store_proc p = a_proc();
	char err[512] = "", sql[64];
	store_stats st;

	store_process(s, &p);
	sync_ok(s);
	/* a full disk, as far as SQLite can tell (the writer is idle) */
	sqlite3 *db = store_db(s);
	snprintf(sql, sizeof(sql), "PRAGMA max_page_count = %lld",
	         (long long)q_int(db, "PRAGMA page_count") + 20);
	assert_int_equal(sqlite3_exec(db, sql, NULL, NULL, NULL), SQLITE_OK);
	for (int i = 0; i < 100000; i++) {
		model_interval iv = run_iv(1, i, i + 1);
		store_interval(s, &iv);
	}
	assert_int_equal(store_sync(s, err, sizeof(err)), -1);
	assert_non_null(strstr(err, f->path));
	assert_non_null(strstr(err, "full"));
	/* sticky: later rows are dropped and counted, the error stays */
	model_interval iv = run_iv(1, 0, 1);
	store_interval(s, &iv);
	err[0] = 0;
	assert_int_equal(store_sync(s, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "full"));
	store_get_stats(s, &st);
	assert_int_equal(st.rows + st.dropped, 100002);
	assert_true(st.dropped > 0);
	err[0] = 0;
	assert_int_equal(store_close(s, 1, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "full"));
	/* what was committed before is intact */
	db = db_open_read(f->path, err, sizeof(err));
	if (!db)
		fail_msg("%s", err);
	expect_rows(db, "PRAGMA integrity_check", "ok");
	assert_int_equal(q_int(db, "SELECT count(*) FROM intervals"),
	                 (int64_t)st.rows - 1); /* minus the process row */
	sqlite3_close(db);
}

/* ---- retention --------------------------------------------------------------------------------
 */

static void test_retain_size(void **state)
{
	fixture *f = *state;
	const int64_t max = 4 << 20;
	store *s = open_ok(f->path, &(store_opts){.max_size_bytes = max});
	store_proc p = a_proc();
	store_stats st;
	long n = tsk_test_scale(800000), chunk = 50000;
	int64_t peak = 0;

	if (n < 600000) /* at least 4x the bound, or the test proves nothing */
		n = 600000;
	store_process(s, &p);
	for (long i = 0; i < n; i++) {
		model_interval iv = run_iv((uint64_t)(1 + i % 100), i * 10, i * 10 + 5);
		store_interval(s, &iv);
		if (i % 7 == 0) {
			model_event e = {
			        .ns = i * 10 + 5, .type = TSK_EV_SIGNAL, .task = 1, .arg = i};
			store_event(s, &e);
		}
		if ((i + 1) % chunk == 0) {
			sync_ok(s);
			int64_t sz = db_and_wal(f->path);
			peak = sz > peak ? sz : peak;
		}
	}
	sync_ok(s);
	store_get_stats(s, &st);
	assert_int_equal(st.dropped, 0);
	assert_true(st.deleted > 0);
	/* the bound, plus the WAL (a quarter of it, see store.c) */
	printf("# max_size %lld: peak file + WAL %lld, rows deleted %" PRIu64 " of %" PRIu64 "\n",
	       (long long)max, (long long)peak, st.deleted, st.rows);
	assert_true(peak <= max + max / 4 + (1 << 20));
	assert_true(file_size(f->path) <= max);

	sqlite3 *db = store_db(s);
	/* the newest rows are all there, the oldest are gone, in both tables */
	int64_t first = q_int(db, "SELECT min(start_ns) FROM intervals");
	assert_true(first > 0);
	assert_int_equal(q_int(db, "SELECT max(start_ns) FROM intervals"), (n - 1) * 10);
	assert_int_equal(q_int(db, "SELECT count(*) FROM intervals"), n - first / 10);
	int64_t first_ev = q_int(db, "SELECT min(ns) FROM events");
	assert_true(first_ev > 5);
	/* one start time for the whole history, give or take a row */
	assert_true(first_ev >= first - 80 && first_ev <= first + 80);
	expect_rows(db, "PRAGMA integrity_check", "ok");
	/* the indexes built at close fit in the bound too */
	close_ok(s, 1);
	printf("# after close with indexes: %lld bytes\n", (long long)file_size(f->path));
	assert_true(file_size(f->path) <= max);
	db = open_ro(f->path);
	assert_true(q_int(db, "SELECT count(*) FROM intervals") > 0);
	assert_int_equal(q_int(db, "SELECT max(start_ns) FROM intervals"), (n - 1) * 10);
	sqlite3_close(db);
}

static void test_retain_age(void **state)
{
	fixture *f = *state;
	const int64_t age = 1000000; /* 1 ms of a history of 3 ms */
	store *s = open_ok(f->path, &(store_opts){.max_age_ns = age});
	store_proc p = a_proc();
	store_stats st;
	long n = 300000;

	store_process(s, &p);
	for (long i = 0; i < n; i++) {
		/* end times 10 ns apart, in order */
		model_interval iv = run_iv((uint64_t)(1 + i % 10), i * 10 - 5, i * 10);
		store_interval(s, &iv);
		if (i % 10 == 0) {
			model_own o = {
			        .resource = 1, .task = 2, .start_ns = INT64_MIN, .end_ns = i * 10};
			store_own(s, &o);
			model_event e = {.ns = i * 10, .type = TSK_EV_SIGNAL, .task = 1};
			store_event(s, &e);
		}
	}
	/* still open at the end: never deleted */
	model_interval open = run_iv(1, n * 10, -1);
	store_interval(s, &open);
	sync_ok(s);
	store_get_stats(s, &st);
	assert_true(st.deleted > 0);
	int64_t newest = (n - 1) * 10, cut = newest - age;
	sqlite3 *db = store_db(s);
	char sql[160];
	/* exactly the rows that ended at cut or later are left */
	assert_int_equal(q_int(db, "SELECT min(end_ns) FROM intervals"), cut);
	assert_int_equal(q_int(db, "SELECT count(*) FROM intervals"), age / 10 + 1 + 1);
	assert_int_equal(q_int(db, "SELECT count(*) FROM intervals WHERE end_ns IS NULL"), 1);
	snprintf(sql, sizeof(sql), "SELECT min(end_ns) >= %lld FROM ownership", (long long)cut);
	assert_int_equal(q_int(db, sql), 1);
	snprintf(sql, sizeof(sql), "SELECT min(ns) >= %lld FROM events", (long long)cut);
	assert_int_equal(q_int(db, sql), 1);
	/* every 10th i from the first i * 10 >= cut */
	assert_int_equal(q_int(db, "SELECT count(*) FROM ownership"), age / 100);
	assert_int_equal(q_int(db, "SELECT count(*) FROM events"), age / 100);
	assert_int_equal(st.deleted, (uint64_t)(n + 2 * (n / 10) + 1) -
	                                     (uint64_t)(age / 10 + 2 + 2 * (age / 100)));
	close_ok(s, 0);
}

static void *nop_thread(void *arg)
{
	return arg;
}

/* TSan starts a thread of its own at the first pthread_create: let it,
 * before any test counts threads. */
static int group_setup(void **state)
{
	pthread_t th;

	(void)state;
	assert_int_equal(pthread_create(&th, NULL, nop_thread, NULL), 0);
	assert_int_equal(pthread_join(th, NULL), 0);
	return 0;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test_setup_teardown(test_round_trip, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_event_names, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_spans, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_many_rows, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_upserts, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_open_existing, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_in_memory, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_open_read, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_crash, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_writer_behind, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_writer_error, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_retain_size, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_retain_age, setup, teardown),
	};
	return cmocka_run_group_tests(tests, group_setup, NULL);
}
