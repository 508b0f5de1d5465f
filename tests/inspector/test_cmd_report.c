/*
 * test_cmd_report.c - tests of `taskscope report` (cmd_report.c, report_*.c)
 * against the scenario history of history_test.h, whose every answer is
 * known: the JSON keys and values (process, task counts, both blocked
 * tasks with their waits, locations, holders, deadlines, labels and
 * stacks, both rankings with the located longest wait), the same answers
 * from a DB without indexes, the text summary, --top, a history with no
 * tasks, hostile strings (control bytes, invalid UTF-8) in names, the
 * rendering of deadlocks and warnings (filled by hand, as the detector
 * will), and every refusal: truncated, foreign, newer, gutted and non-DB
 * files, a missing path, a directory (exit 1, one line on stderr, nothing
 * on stdout), bad options (exit 2).
 */
#include <sys/stat.h>

#include "inspector/history_test.h"

#include "cmd.h"
#include "report.h"

static void test_json_scenario(void **state)
{
	ht_fixture *f = *state;

	assert_int_equal(ht_run(f, cmd_report, "report", f->db, "--json", NULL), 0);
	assert_int_equal(ht_lines(f->err), 0);
	HT_JQ_EQ(f->out, "[.process | .pid, .name, .source, .complete, .events, .lost] | @csv",
	         "4242,\"demo\",\"dump\",true,100,3");
	HT_JQ_EQ(f->out, "[.process | .first_ns, .last_ns, .workers] | @csv", "0,10000000,2");
	HT_JQ_EQ(f->out, "[.tasks | .total, .running, .ready, .blocked, .done, .unknown] | @csv",
	         "4,1,0,2,1,0");
	HT_JQ_EQ(f->out, "[.deadlocks, .warnings | type, length] | @csv",
	         "\"array\",0,\"array\",0");

	/* longest blocked first: the writer on the mutex, held by main */
	HT_JQ_EQ(f->out, ".blocked | length", "2");
	HT_JQ_EQ(f->out,
	         "[.blocked[0] | .id, .name, .location, .function, .since_ns, .blocked_ns,"
	         " .deadline_ns, .label] | @csv",
	         "2,\"writer\",\"srv.c:42\",\"handle_db\",4000000,6000000,,");
	HT_JQ_EQ(f->out, "[.blocked[0].waits_on | .kind, .op, .name, .id] | @csv",
	         "\"mutex\",\"mutex\",\"db\",10");
	HT_JQ_EQ(f->out, ".blocked[0].blocked_by | @csv", "1");
	HT_JQ_EQ(f->out, ".blocked[0].stack | join(\",\")", "lock_db+0x12,handle_db+0x40");

	/* the consumer on the channel: a deadline, a label, nobody to blame */
	HT_JQ_EQ(f->out,
	         "[.blocked[1] | .id, .name, .location, .function, .since_ns, .blocked_ns,"
	         " .deadline_ns, .label] | @csv",
	         "3,\"consumer\",\"srv.c:77\",\"consume\",6000000,4000000,20000000,\"draining\"");
	HT_JQ_EQ(f->out, "[.blocked[1].waits_on | .kind, .op, .name, .id] | @csv",
	         "\"channel\",\"chan_recv\",\"jobs\",11");
	HT_JQ_EQ(f->out, "[.blocked[1] | (.blocked_by, .stack) | type, length] | @csv",
	         "\"array\",0,\"array\",0");

	/* rankings: busy time, ties by id; current waits beat main's closed join */
	HT_JQ_EQ(f->out, ".slowest.busy | map(\"\\(.id):\\(.busy_ns):\\(.state)\") | join(\" \")",
	         "1:6500000:running 2:2000000:blocked 3:2000000:blocked 4:2000000:done");
	HT_JQ_EQ(f->out,
	         ".slowest.waits | map(\"\\(.id):\\(.wait_ns):\\(.ongoing)\") | join(\" \")",
	         "2:6000000:true 3:4000000:true 1:1900000:false");
	HT_JQ_EQ(f->out,
	         "[.slowest.waits[2] | .since_ns, .location, .function, (.waits_on | .kind, .op,"
	         " .name, .id)] | @csv",
	         "3000000,\"srv.c:10\",\"main\",\"task\",\"join\",\"worker\",4");
}

static void test_top(void **state)
{
	ht_fixture *f = *state;

	assert_int_equal(ht_run(f, cmd_report, "report", "--top", "2", "--json", f->db, NULL), 0);
	HT_JQ_EQ(f->out, "[.slowest.busy[].id] | @csv", "1,2");
	HT_JQ_EQ(f->out, "[.slowest.waits[].id] | @csv", "2,3");
	HT_JQ_EQ(f->out, ".blocked | length", "2"); /* --json lists every blocked task */

	assert_int_equal(ht_run(f, cmd_report, "report", "--top=1", f->db, NULL), 0);
	char *out = ht_slurp(f->out);
	assert_non_null(strstr(out, "writer"));
	assert_null(strstr(out, "consumer")); /* neither in the table nor the rankings */
	assert_non_null(strstr(out, "... 1 more"));
	free(out);
}

/* The same report from a DB whose recorder died before the indexes. */
static void test_no_indexes(void **state)
{
	ht_fixture *f = *state;
	char bare[160];

	snprintf(bare, sizeof(bare), "%s/bare.db", f->dir);
	ht_scenario(bare, 0);
	assert_int_equal(ht_run(f, cmd_report, "report", "--json", f->db, NULL), 0);
	char *a = ht_slurp(f->out);
	assert_int_equal(ht_run(f, cmd_report, "report", "--json", bare, NULL), 0);
	char *b = ht_slurp(f->out);
	assert_string_equal(a, b);
	free(a);
	free(b);
}

/* A task both in the counter ranking and blocked now keeps its longer
 * wait; a longest wait with no interval of that length is unlocated. */
static void test_rank_merge(void **state)
{
	ht_fixture *f = *state;
	sqlite3 *db;

	assert_int_equal(sqlite3_open(f->db, &db), SQLITE_OK);
	ht_exec(db, "UPDATE tasks SET max_wait_ns = 3000000 WHERE id = 3");
	sqlite3_close(db);
	assert_int_equal(ht_run(f, cmd_report, "report", "--json", f->db, NULL), 0);
	HT_JQ_EQ(f->out,
	         ".slowest.waits | map(\"\\(.id):\\(.wait_ns):\\(.ongoing)\") | join(\" \")",
	         "2:6000000:true 3:4000000:true 1:1900000:false");

	assert_int_equal(sqlite3_open(f->db, &db), SQLITE_OK);
	ht_exec(db, "UPDATE tasks SET max_wait_ns = 5000000 WHERE id = 3");
	sqlite3_close(db);
	assert_int_equal(ht_run(f, cmd_report, "report", "--json", f->db, NULL), 0);
	HT_JQ_EQ(f->out,
	         ".slowest.waits | map(\"\\(.id):\\(.wait_ns):\\(.ongoing):\\(.waits_on)\")"
	         " | join(\" \")",
	         "2:6000000:true:{\"kind\":\"mutex\",\"op\":\"mutex\",\"name\":\"db\",\"id\":10}"
	         " 3:5000000:false:null 1:1900000:false:{\"kind\":\"task\",\"op\":\"join\","
	         "\"name\":\"worker\",\"id\":4}");
}

/* Read/write locks: a reader is held up by a writer only, a writer by
 * every holder; closed holdings never count. */
static void test_rwlock_holders(void **state)
{
	ht_fixture *f = *state;
	sqlite3 *db;

	assert_int_equal(sqlite3_open(f->db, &db), SQLITE_OK);
	ht_exec(db, "INSERT INTO resources(id, kind, name) VALUES (12, 'rwlock', 'cfg');"
	            "UPDATE spans SET wait = 8, resource = 12 WHERE task = 2 AND end_ns IS NULL;"
	            "UPDATE spans SET wait = 7, resource = 12 WHERE task = 3 AND end_ns IS NULL;"
	            "INSERT INTO ownership VALUES (12, 1, 1, 100, NULL), (12, 4, 0, 50, 90);");
	sqlite3_close(db);
	assert_int_equal(ht_run(f, cmd_report, "report", "--json", f->db, NULL), 0);
	HT_JQ_EQ(f->out,
	         ".blocked | map(\"\\(.id):\\(.waits_on.kind):\\(.waits_on.op):\\(.waits_on.name)"
	         ":\\(.blocked_by)\") | join(\" \")",
	         "2:rwlock:rwlock_wr:cfg:[1] 3:rwlock:rwlock_rd:cfg:[]");

	assert_int_equal(sqlite3_open(f->db, &db), SQLITE_OK);
	ht_exec(db, "INSERT INTO ownership VALUES (12, 4, 0, 95, NULL);");
	sqlite3_close(db);
	assert_int_equal(ht_run(f, cmd_report, "report", "--json", f->db, NULL), 0);
	HT_JQ_EQ(f->out, ".blocked | map(\"\\(.id):\\(.blocked_by)\") | join(\" \")",
	         "2:[1,4] 3:[4]");
}

/* Stacks: one shared by two waits is read once and given to both; a
 * frame without a symbol shows its address. */
static void test_stacks(void **state)
{
	ht_fixture *f = *state;
	sqlite3 *db;

	assert_int_equal(sqlite3_open(f->db, &db), SQLITE_OK);
	ht_exec(db, "UPDATE spans SET stack = 1 WHERE task = 3 AND end_ns IS NULL;");
	sqlite3_close(db);
	assert_int_equal(ht_run(f, cmd_report, "report", "--json", f->db, NULL), 0);
	HT_JQ_EQ(f->out, ".blocked | map(.stack | join(\",\")) | join(\" \")",
	         "lock_db+0x12,handle_db+0x40 lock_db+0x12,handle_db+0x40");

	assert_int_equal(sqlite3_open(f->db, &db), SQLITE_OK);
	ht_exec(db, "INSERT INTO stacks VALUES (2, 2);"
	            "INSERT INTO frames VALUES (2, 0, 4096, NULL), (2, 1, 4202496, 20);"
	            "UPDATE spans SET stack = 2 WHERE task = 3 AND end_ns IS NULL;");
	sqlite3_close(db);
	assert_int_equal(ht_run(f, cmd_report, "report", "--json", f->db, NULL), 0);
	HT_JQ_EQ(f->out, ".blocked | map(.stack | join(\",\")) | join(\" \")",
	         "lock_db+0x12,handle_db+0x40 0x1000,handle_db+0x40");
}

/* The line of stdout that contains needle (copied to buf). */
static const char *line_with(const char *text, const char *needle, char *buf, size_t cap)
{
	const char *p = strstr(text, needle);
	if (!p)
		return NULL;
	while (p > text && p[-1] != '\n')
		p--;
	size_t n = strcspn(p, "\n");
	snprintf(buf, cap, "%.*s", (int)n, p);
	return buf;
}

static void test_text(void **state)
{
	ht_fixture *f = *state;
	char line[512];

	assert_int_equal(ht_run(f, cmd_report, "report", f->db, NULL), 0);
	assert_int_equal(ht_lines(f->err), 0);
	char *out = ht_slurp(f->out);
	assert_non_null(strstr(out, "demo (pid 4242): dump of /dev/shm/taskscope.4242.77\n"));
	assert_non_null(strstr(out, "100 events, 3 lost, 0 overwritten"));
	assert_non_null(strstr(out, "4 tasks: 1 running, 0 ready, 2 blocked, 1 done\n"));
	assert_non_null(strstr(out, "Blocked tasks (2, longest blocked first)"));

	assert_non_null(line_with(out, "writer", line, sizeof(line)));
	assert_non_null(strstr(line, "mutex:db"));
	assert_non_null(strstr(line, "6.00 ms"));
	assert_non_null(strstr(line, "srv.c:42"));
	assert_int_equal(line[strlen(line) - 2], ' '); /* blocked by #1, the last column */
	assert_int_equal(line[strlen(line) - 1], '1');

	assert_non_null(line_with(out, "consumer", line, sizeof(line)));
	assert_non_null(strstr(line, "channel:jobs (chan_recv)"));
	assert_non_null(strstr(line, "in 10.00 ms")); /* deadline 20 ms, history ends at 10 */

	assert_non_null(strstr(out, "Busiest tasks"));
	assert_non_null(strstr(out, "Longest waits"));
	assert_non_null(strstr(out, "task:worker (join)"));
	/* no detector verdict, so no deadlock section at all */
	assert_null(strcasestr(out, "deadlock"));
	free(out);
}

static void test_empty_history(void **state)
{
	ht_fixture *f = *state;
	char path[160];

	snprintf(path, sizeof(path), "%s/empty.db", f->dir);
	sqlite3 *db = ht_create(path, 1);
	ht_exec(db, "INSERT INTO process(id, pid, name, source) VALUES (1, 7, 'idle', 'record')");
	sqlite3_close(db);
	assert_int_equal(ht_run(f, cmd_report, "report", "--json", path, NULL), 0);
	HT_JQ_EQ(f->out, "[.process | .pid, .first_ns, .last_ns, .complete] | @csv", "7,,,false");
	HT_JQ_EQ(f->out,
	         "[.tasks.total, (.blocked, .slowest.busy, .slowest.waits | length)] | @csv",
	         "0,0,0,0");
	assert_int_equal(ht_run(f, cmd_report, "report", path, NULL), 0);
	char *out = ht_slurp(f->out);
	assert_non_null(strstr(out, "idle (pid 7): record (incomplete"));
	assert_null(strstr(out, "Blocked"));
	free(out);
}

/* Names from a hostile program: valid JSON, and no control byte reaches
 * the terminal. */
static void test_hostile_strings(void **state)
{
	ht_fixture *f = *state;
	sqlite3 *db;

	assert_int_equal(sqlite3_open(f->db, &db), SQLITE_OK);
	ht_exec(db, "UPDATE tasks SET name = 'a\"b\\c' || char(27) || '[2J' || char(10) ||"
	            " CAST(x'ff41c0af' AS TEXT) WHERE id = 2;"
	            "UPDATE resources SET name = char(7) || 'db' WHERE id = 10;");
	sqlite3_close(db);
	assert_int_equal(ht_run(f, cmd_report, "report", "--json", f->db, NULL), 0);
	HT_JQ_EQ(f->out, ".blocked[0].name | explode | map(tostring) | join(\",\")",
	         "97,34,98,92,99,27,91,50,74,10,65533,65,65533,65533");
	HT_JQ_EQ(f->out, ".blocked[0].waits_on.name | explode | map(tostring) | join(\",\")",
	         "7,100,98");
	assert_int_equal(ht_run(f, cmd_report, "report", f->db, NULL), 0);
	char *out = ht_slurp(f->out);
	for (const char *p = out; *p; p++)
		if (*p != '\n')
			assert_false((unsigned char)*p < 0x20 || *p == 0x7f);
	assert_non_null(strstr(out, "mutex:?db"));
	free(out);
}

/* Deadlocks and warnings as the detector will hand them over. */
static void test_render_problems(void **state)
{
	ht_fixture *f = *state;
	report r;
	char err[256];

	sqlite3 *db = db_open_read(f->db, err, sizeof(err));
	assert_non_null(db);
	assert_int_equal(report_collect(db, 10, &r, err, sizeof(err)), 0);
	sqlite3_close(db);
	r.deadlocks = calloc(1, sizeof(*r.deadlocks));
	r.ndeadlocks = 1;
	r.deadlocks[0].id = 1;
	r.deadlocks[0].text = strdup("task 2 \"writer\" waits for mutex \"db\" (srv.c:42), held by "
	                             "task 1 \"reader\"");
	r.deadlocks[0].closed_ns = REPORT_NONE;
	r.deadlocks[0].found_ns = REPORT_NONE;
	r.deadlocks[0].verdict = "definite";
	r.deadlocks[0].kind = "cycle";
	r.deadlocks[0].tasks = r.blocked; /* moved: report_fini frees it there */
	r.deadlocks[0].ntasks = r.nblocked;
	r.blocked = NULL;
	r.nblocked = 0;
	r.warnings = calloc(1, sizeof(*r.warnings));
	r.nwarnings = 1;
	r.warnings[0] =
	        (report_warning){.kind = strdup("stuck"),
	                         .task = 3,
	                         .name = strdup("consumer"),
	                         .detail = strdup("blocked 4 ms, far longer than its peers"),
	                         .resource = REPORT_NONE,
	                         .count = 1,
	                         .value_ns = 4000000,
	                         .first_ns = REPORT_NONE};

	FILE *fp = fopen(f->out, "w");
	assert_non_null(fp);
	assert_int_equal(report_write_json(&r, fp), 0);
	fclose(fp);
	HT_JQ_EQ(f->out, "[.deadlocks[0] | .verdict, .kind, (.tasks | length)] | @csv",
	         "\"definite\",\"cycle\",2");
	HT_JQ_EQ(f->out, "[.deadlocks[0] | .id, .text, .closed_ns, (.behind | length)] | @csv",
	         "1,\"task 2 \"\"writer\"\" waits for mutex \"\"db\"\" (srv.c:42), held by task 1 "
	         "\"\"reader\"\"\",,0");
	HT_JQ_EQ(f->out,
	         "[.deadlocks[0].tasks[0] | .id, .name, .location, .waits_on.kind,"
	         " .waits_on.name, .waits_on.id, .blocked_by[0]] | @csv",
	         "2,\"writer\",\"srv.c:42\",\"mutex\",\"db\",10,1");
	HT_JQ_EQ(f->out, "[.warnings[0] | .kind, .task, .name, .detail] | @csv",
	         "\"stuck\",3,\"consumer\",\"blocked 4 ms, far longer than its peers\"");
	fp = fopen(f->out, "w");
	assert_non_null(fp);
	assert_int_equal(report_write_text(&r, fp), 0);
	fclose(fp);
	char *out = ht_slurp(f->out);
	assert_non_null(strstr(out,
	                       "DEADLOCK 1 (definite cycle): 2 tasks\n"
	                       "  task 2 \"writer\" waits for mutex \"db\" (srv.c:42), held by "
	                       "task 1 \"reader\"\n"
	                       "  task 2 writer at srv.c:42 waits on mutex:db, blocked by 1\n"));
	assert_non_null(strstr(out, "stuck: task 3 consumer: blocked 4 ms"));
	free(out);
	report_fini(&r);
}

/* Exit 1, nothing on stdout, exactly one line on stderr. */
static void expect_refused(ht_fixture *f, const char *path, const char *why)
{
	int rc = ht_run(f, cmd_report, "report", path, NULL);
	char err[1024];
	char *text = ht_slurp(f->err); /* copied: a failure must not leak it */
	snprintf(err, sizeof(err), "%s", text);
	free(text);
	if (rc != 1 || ht_lines(f->err) != 1 || ht_lines(f->out) != 0 ||
	    strncmp(err, "taskscope report: ", 18) != 0)
		fail_msg("%s: rc %d, stderr '%s'", why, rc, err);
	if (why[0] == '=' && !strstr(err, why + 1))
		fail_msg("stderr '%s' lacks '%s'", err, why + 1);
}

static void copy_prefix(const char *from, const char *to, long n)
{
	FILE *in = fopen(from, "rb"), *out = fopen(to, "wb");
	assert_non_null(in);
	assert_non_null(out);
	for (long i = 0; i < n; i++) {
		int c = getc(in);
		if (c == EOF)
			break;
		putc(c, out);
	}
	fclose(in);
	fclose(out);
}

static void test_refusals(void **state)
{
	ht_fixture *f = *state;
	char path[160];
	sqlite3 *db;

	/* truncated: the header only, one page, half the file */
	struct stat sb;
	assert_int_equal(stat(f->db, &sb), 0);
	long cuts[] = {20, 100, 4096, sb.st_size / 2};
	for (size_t i = 0; i < sizeof(cuts) / sizeof(cuts[0]); i++) {
		snprintf(path, sizeof(path), "%s/cut%zu.db", f->dir, i);
		copy_prefix(f->db, path, cuts[i]);
		expect_refused(f, path, "truncated");
	}
	/* another program's SQLite DB */
	snprintf(path, sizeof(path), "%s/foreign.db", f->dir);
	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	ht_exec(db, "CREATE TABLE t(x); INSERT INTO t VALUES (1);");
	sqlite3_close(db);
	expect_refused(f, path, "=not a taskscope history");
	/* a newer schema */
	snprintf(path, sizeof(path), "%s/newer.db", f->dir);
	ht_scenario(path, 1);
	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	ht_exec(db, "PRAGMA user_version = 99;");
	sqlite3_close(db);
	expect_refused(f, path, "=schema version 99");
	/* our identity, a process row, but the tables gone */
	snprintf(path, sizeof(path), "%s/gutted.db", f->dir);
	ht_scenario(path, 1);
	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	ht_exec(db, "DROP VIEW state_intervals; DROP VIEW intervals; DROP TABLE spans;");
	sqlite3_close(db);
	expect_refused(f, path, "=no such table: spans");
	/* not a DB (so taken for a segment), empty, missing, a directory */
	snprintf(path, sizeof(path), "%s/notes.txt", f->dir);
	FILE *fp = fopen(path, "w");
	assert_non_null(fp);
	fputs("SQLite format 2 or so\n", fp);
	fclose(fp);
	expect_refused(f, path, "text file");
	snprintf(path, sizeof(path), "%s/empty", f->dir);
	fclose(fopen(path, "w"));
	expect_refused(f, path, "empty file");
	snprintf(path, sizeof(path), "%s/missing.db", f->dir);
	expect_refused(f, path, "=No such file");
	expect_refused(f, f->dir, "=is a directory");
}

static void test_usage(void **state)
{
	ht_fixture *f = *state;

	assert_int_equal(ht_run(f, cmd_report, "report", "--bogus", f->db, NULL), 2);
	char *err = ht_slurp(f->err);
	assert_non_null(strstr(err, "unknown option '--bogus'"));
	assert_non_null(strstr(err, "Try 'taskscope report --help'."));
	free(err);
	assert_int_equal(ht_run(f, cmd_report, "report", "-x", f->db, NULL), 2);
	assert_int_equal(ht_run(f, cmd_report, "report", NULL), 2);
	assert_int_equal(ht_run(f, cmd_report, "report", f->db, f->db, NULL), 2);
	assert_int_equal(ht_run(f, cmd_report, "report", f->db, "--top", "ten", NULL), 2);
	assert_int_equal(ht_run(f, cmd_report, "report", f->db, "--top", "-1", NULL), 2);
	assert_int_equal(ht_run(f, cmd_report, "report", f->db, "--top", NULL), 2);
	assert_int_equal(ht_lines(f->out), 0);

	assert_int_equal(ht_run(f, cmd_report, "report", "--help", NULL), 0);
	char *out = ht_slurp(f->out);
	const char *sections[] = {"NAME\n",    "SYNOPSIS\n",    "DESCRIPTION\n",
	                          "OPTIONS\n", "EXIT STATUS\n", "EXAMPLES\n"};
	for (size_t i = 0; i < sizeof(sections) / sizeof(sections[0]); i++)
		assert_non_null(strstr(out, sections[i]));
	assert_non_null(strstr(out, "    3  a deadlock was found"));
	free(out);
	assert_int_equal(ht_run(f, cmd_report, "report", "-h", NULL), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test_setup_teardown(test_json_scenario, ht_setup, ht_teardown),
	        cmocka_unit_test_setup_teardown(test_top, ht_setup, ht_teardown),
	        cmocka_unit_test_setup_teardown(test_no_indexes, ht_setup, ht_teardown),
	        cmocka_unit_test_setup_teardown(test_rank_merge, ht_setup, ht_teardown),
	        cmocka_unit_test_setup_teardown(test_rwlock_holders, ht_setup, ht_teardown),
	        cmocka_unit_test_setup_teardown(test_stacks, ht_setup, ht_teardown),
	        cmocka_unit_test_setup_teardown(test_text, ht_setup, ht_teardown),
	        cmocka_unit_test_setup_teardown(test_empty_history, ht_setup, ht_teardown),
	        cmocka_unit_test_setup_teardown(test_hostile_strings, ht_setup, ht_teardown),
	        cmocka_unit_test_setup_teardown(test_render_problems, ht_setup, ht_teardown),
	        cmocka_unit_test_setup_teardown(test_refusals, ht_setup, ht_teardown),
	        cmocka_unit_test_setup_teardown(test_usage, ht_setup, ht_teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
