/*
 * test_cmd_export.c - tests of `taskscope export --format chrome`
 * (cmd_export.c, export_chrome.c) against the scenario history of
 * history_test.h: a valid Chrome Trace Event document (jq parses it), one
 * named and sorted track per task and per worker, one "X" slice per
 * interval plus one per running interval on its worker, their names, times
 * (exact microseconds) and args, open intervals ending at the history's
 * end, wake flows paired s/f with one id, the raw events as instants; the
 * same bytes on stdout with -o -; a generated history of thousands of
 * intervals (counts and flow pairing at scale); refusals: other formats,
 * missing -o, hostile targets (exit 1, one line, no file left behind), an
 * unwritable destination, a full disk.
 */
#include <glob.h>
#include <sys/stat.h>

#include "inspector/history_test.h"

#include "cmd.h"

static char *export_to(ht_fixture *f, char *path, size_t cap)
{
	snprintf(path, cap, "%s/trace.json", f->dir);
	assert_int_equal(
	        ht_run(f, cmd_export, "export", f->db, "--format", "chrome", "-o", path, NULL), 0);
	assert_int_equal(ht_lines(f->err), 0); /* stderr is not a terminal: no progress */
	assert_int_equal(ht_lines(f->out), 0);
	return path;
}

static void test_tracks(void **state)
{
	ht_fixture *f = *state;
	char t[160];

	export_to(f, t, sizeof(t));
	HT_JQ_EQ(t, "[.displayTimeUnit, .otherData.pid, .otherData.name] | @csv",
	         "\"ns\",4242,\"demo\"");
	HT_JQ_EQ(t,
	         "[.traceEvents[] | select(.ph == \"M\" and .name == \"process_name\")"
	         " | \"\\(.pid)=\\(.args.name)\"] | join(\",\")",
	         "1=tasks (demo 4242),2=workers");
	/* one named track per task, sorted by id */
	HT_JQ_EQ(t,
	         "[.traceEvents[] | select(.ph == \"M\" and .name == \"thread_name\" and .pid == 1)"
	         " | \"\\(.tid)=\\(.args.name)\"] | join(\",\")",
	         "1=main #1,2=writer #2,3=consumer #3,4=worker #4");
	HT_JQ_EQ(t,
	         "[.traceEvents[] | select(.ph == \"M\" and .name == \"thread_sort_index\" and"
	         " .pid == 1) | .args.sort_index == .tid] | all",
	         "true");
	HT_JQ_EQ(t,
	         "[.traceEvents[] | select(.ph == \"M\" and .name == \"thread_name\" and .pid == 2)"
	         " | .args.name] | join(\",\")",
	         "worker 0,worker 1");
	/* every event but metadata has a time and a track */
	HT_JQ_EQ(t,
	         "[.traceEvents[] | select(.ph != \"M\") | has(\"ts\") and has(\"pid\") and"
	         " has(\"tid\")] | all",
	         "true");
}

static void test_slices(void **state)
{
	ht_fixture *f = *state;
	char t[160], want[32];

	export_to(f, t, sizeof(t));
	snprintf(want, sizeof(want), "%d", HT_INTERVALS);
	HT_JQ_EQ(t, "[.traceEvents[] | select(.ph == \"X\" and .pid == 1)] | length", want);
	snprintf(want, sizeof(want), "%d", HT_RUNNING);
	HT_JQ_EQ(t, "[.traceEvents[] | select(.ph == \"X\" and .pid == 2)] | length", want);
	/* each task's slices tile its life, in the interval's names */
	HT_JQ_EQ(t,
	         "[.traceEvents[] | select(.ph == \"X\" and .pid == 1 and .tid == 1) | .name]"
	         " | join(\",\")",
	         "ready,running,blocked: join worker #4,ready,running");
	HT_JQ_EQ(t,
	         "[.traceEvents[] | select(.ph == \"X\" and .pid == 1 and .tid == 2) |"
	         " \"\\(.name)@\\(.ts)+\\(.dur)\"] | join(\",\")",
	         "ready@1000+1000,running@2000+2000,blocked: mutex db@4000+6000");
	HT_JQ_EQ(t,
	         "[.traceEvents[] | select(.ph == \"X\" and .tid == 3 and .cat == \"blocked\") |"
	         " .name, .args.wait, .args.resource, .args.location, .args.deadline_ns,"
	         " .args.label, .args.open] | @csv",
	         "\"blocked: chan_recv jobs\",\"chan_recv\",11,\"srv.c:77 consume\",20000000,"
	         "\"draining\",true");
	/* the worker tracks: who ran where */
	HT_JQ_EQ(t,
	         "[.traceEvents[] | select(.ph == \"X\" and .pid == 2) | \"\\(.tid):\\(.name)\"]"
	         " | join(\",\")",
	         "0:main #1,0:main #1,0:worker #4,1:writer #2,1:consumer #3");
	/* exact microseconds, as written */
	char *raw = ht_slurp(t);
	assert_non_null(strstr(raw, "\"ts\":4900.000,\"dur\":600.000"));
	free(raw);
}

static void test_flows_and_instants(void **state)
{
	ht_fixture *f = *state;
	char t[160];

	export_to(f, t, sizeof(t));
	HT_JQ_EQ(t,
	         "[.traceEvents[] | select(.ph == \"s\" or .ph == \"f\") |"
	         " \"\\(.name):\\(.ph):\\(.tid)@\\(.ts)#\\(.id)\\(.bp // \"\")\"] | join(\",\")",
	         "wake:s:4@4900#1,wake:f:1@4900#1e,spawn:s:1@1000#2,spawn:f:4@1000#2e,"
	         "spawn:s:1@1000#3,spawn:f:2@1000#3e,spawn:s:1@1000#4,spawn:f:3@1000#4e");
	HT_JQ_EQ(t,
	         "[.traceEvents[] | select(.ph == \"i\") | \"\\(.name):\\(.s):\\(.tid)@\\(.ts)\"]"
	         " | join(\",\")",
	         "close:t:1@7000,lost:g:0@8000");
}

static void test_stdout(void **state)
{
	ht_fixture *f = *state;
	char t[160];

	export_to(f, t, sizeof(t));
	assert_int_equal(ht_run(f, cmd_export, "export", f->db, "-o", "-", NULL), 0);
	char *a = ht_slurp(t), *b = ht_slurp(f->out);
	assert_string_equal(a, b);
	free(a);
	free(b);
}

/* A generated history: n tasks each with k rounds of ready (woken by the
 * previous task, or yielded: no flow) / running (on a worker) / blocked
 * (a channel). */
static void big_history(const char *path, int n, int k)
{
	sqlite3 *db = ht_create(path, 0);
	sqlite3_stmt *st;

	ht_exec(db, "BEGIN; INSERT INTO process(id, pid, name, source, workers, last_ns)"
	            " VALUES (1, 9, 'big', 'record', 4, 1000000000);"
	            "INSERT INTO resources(id, kind, name) VALUES (1, 'channel', 'c');");
	assert_int_equal(
	        sqlite3_prepare_v2(db,
	                           "INSERT INTO intervals(task, state, start_ns, end_ns,"
	                           " worker, wait, resource, how) VALUES (?,?,?,?,?,?,?,?)",
	                           -1, &st, NULL),
	        SQLITE_OK);
	for (int task = 1; task <= n; task++) {
		char sql[96];
		snprintf(sql, sizeof(sql), "INSERT INTO tasks(id, name) VALUES (%d, 't%d')", task,
		         task);
		ht_exec(db, sql);
		int64_t t0 = 0;
		for (int r = 0; r < k; r++) {
			int64_t v[3][8] = {
			        /* even rounds: woken by the previous task; odd: yielded */
			        {task, 1, t0, t0 + 10, -1, -1,
			         r % 2      ? task
			         : task > 1 ? task - 1
			                    : -1,
			         r % 2 ? 4 : 1},
			        {task, 2, t0 + 10, t0 + 30, (task + r) % 4, -1, -1, -1},
			        {task, 3, t0 + 30, t0 + 100, -1, 4, 1, -1},
			};
			for (int i = 0; i < 3; i++) {
				sqlite3_reset(st);
				for (int c = 0; c < 8; c++)
					if (v[i][c] < 0)
						sqlite3_bind_null(st, c + 1);
					else
						sqlite3_bind_int64(st, c + 1, v[i][c]);
				assert_int_equal(sqlite3_step(st), SQLITE_DONE);
			}
			t0 += 100;
		}
	}
	sqlite3_finalize(st);
	ht_exec(db, "COMMIT;");
	sqlite3_close(db);
}

static void test_scale(void **state)
{
	ht_fixture *f = *state;
	char db[160], t[160], want[64];
	const int n = 50, k = 100;

	snprintf(db, sizeof(db), "%s/big.db", f->dir);
	snprintf(t, sizeof(t), "%s/big.json", f->dir);
	big_history(db, n, k);
	assert_int_equal(ht_run(f, cmd_export, "export", db, "-o", t, NULL), 0);
	snprintf(want, sizeof(want), "%d,%d,%d", 3 * n * k, n * k, (n - 1) * k / 2);
	HT_JQ_EQ(t,
	         "[([.traceEvents[] | select(.ph == \"X\" and .pid == 1)] | length),"
	         " ([.traceEvents[] | select(.ph == \"X\" and .pid == 2)] | length),"
	         " ([.traceEvents[] | select(.ph == \"s\")] | length)] | @csv",
	         want);
	/* flows: ids unique, each s has its f at the same time, waker -> wakee */
	HT_JQ_EQ(t,
	         "[.traceEvents[] | select(.ph == \"s\" or .ph == \"f\")] | group_by(.id) |"
	         " map(length == 2 and .[0].ph == \"s\" and .[1].ph == \"f\" and"
	         " .[0].ts == .[1].ts and .[0].tid == .[1].tid - 1) | all",
	         "true");
	HT_JQ_EQ(t, "[.traceEvents[] | select(.ph == \"M\" and .name == \"thread_name\")] | length",
	         "54");
}

/* Exit status rc, one line on stderr, and no trace file left at out. */
static void expect_export_refused(ht_fixture *f, int rc, const char *target, const char *out,
                                  const char *needle)
{
	int got = ht_run(f, cmd_export, "export", target, "-o", out, NULL);
	char err[1024], pattern[256];
	char *text = ht_slurp(f->err); /* copied: a failure must not leak it */
	glob_t g;

	snprintf(err, sizeof(err), "%s", text);
	free(text);
	if (got != rc || (rc == 1 && ht_lines(f->err) != 1) || !strstr(err, needle))
		fail_msg("%s: rc %d, stderr '%s'", target, got, err);
	assert_int_equal(access(out, F_OK), -1);
	snprintf(pattern, sizeof(pattern), "%s.tmp.*", out);
	assert_int_equal(glob(pattern, 0, NULL, &g), GLOB_NOMATCH);
	globfree(&g);
}

static void test_refusals(void **state)
{
	ht_fixture *f = *state;
	char out[160], path[160];

	snprintf(out, sizeof(out), "%s/never.json", f->dir);
	snprintf(path, sizeof(path), "%s/missing.db", f->dir);
	expect_export_refused(f, 1, path, out, "No such file");
	snprintf(path, sizeof(path), "%s/gutted.db", f->dir);
	ht_scenario(path, 1);
	sqlite3 *db;
	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	ht_exec(db, "DROP VIEW state_intervals; DROP VIEW intervals; DROP TABLE spans;");
	sqlite3_close(db);
	/* fails mid-way, after the header was written: the file is removed */
	expect_export_refused(f, 1, path, out, "no such table: spans");
	expect_export_refused(f, 1, f->db, "/nonexistent-dir/x.json", "/nonexistent-dir");

	/* a full disk on stdout */
	char saved[128];
	memcpy(saved, f->out, sizeof(saved));
	snprintf(f->out, sizeof(f->out), "/dev/full");
	assert_int_equal(ht_run(f, cmd_export, "export", f->db, "-o", "-", NULL), 1);
	memcpy(f->out, saved, sizeof(saved));
	assert_int_equal(ht_lines(f->err), 1);

	/* usage */
	assert_int_equal(ht_run(f, cmd_export, "export", f->db, "--format", "svg", "-o", out, NULL),
	                 2);
	char *err = ht_slurp(f->err);
	assert_non_null(strstr(err, "unknown format 'svg'"));
	assert_non_null(strstr(err, "chrome"));
	free(err);
	assert_int_equal(ht_run(f, cmd_export, "export", f->db, NULL), 2);
	assert_int_equal(ht_run(f, cmd_export, "export", "-o", out, NULL), 2);
	assert_int_equal(ht_run(f, cmd_export, "export", f->db, "-o", out, "--zip", NULL), 2);
	assert_int_equal(ht_run(f, cmd_export, "export", f->db, f->db, "-o", out, NULL), 2);
	assert_int_equal(access(out, F_OK), -1);

	assert_int_equal(ht_run(f, cmd_export, "export", "--help", NULL), 0);
	char *help = ht_slurp(f->out);
	const char *sections[] = {"NAME\n",    "SYNOPSIS\n",    "DESCRIPTION\n",
	                          "OPTIONS\n", "EXIT STATUS\n", "EXAMPLES\n"};
	for (size_t i = 0; i < sizeof(sections) / sizeof(sections[0]); i++)
		assert_non_null(strstr(help, sections[i]));
	free(help);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test_setup_teardown(test_tracks, ht_setup, ht_teardown),
	        cmocka_unit_test_setup_teardown(test_slices, ht_setup, ht_teardown),
	        cmocka_unit_test_setup_teardown(test_flows_and_instants, ht_setup, ht_teardown),
	        cmocka_unit_test_setup_teardown(test_stdout, ht_setup, ht_teardown),
	        cmocka_unit_test_setup_teardown(test_scale, ht_setup, ht_teardown),
	        cmocka_unit_test_setup_teardown(test_refusals, ht_setup, ht_teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
