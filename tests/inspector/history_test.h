/*
 * history_test.h - helpers shared by the tests of the commands that read a
 * history DB (test_cmd_report.c, test_cmd_export.c).
 *
 * ht_scenario writes, row by row, the history of a known small program
 * into a fresh DB (the schema of db.c, the identity pragmas), so the
 * expected output of every command is known exactly:
 *
 *   time (ms)  0    1    2    3    4    5    6    ...  10 (last event)
 *   main   #1  rdy  run w0---- join #4----rdy run w0 -------> (running, holds "db")
 *   worker #4       rdy------- run w0--- ended at 5; wakes #1 at 4.9
 *   (#2, #3 and #4 are spawned by #1 at 1)
 *   writer #2       rdy  run w1--- blocked on mutex "db" (held by #1) ->
 *   consumer#3      rdy------------ run w1-- blocked on chan_recv "jobs" ->
 *
 * ht_run runs a command in a child with stdout and stderr sent to files
 * (commands exit(2) on a usage error, so they cannot run in the test
 * process); ht_jq asks jq (scripts/deps.sh installs it) for a value of a
 * JSON file.  Every test ends by checking it leaked no descriptor.
 */
#ifndef TS_HISTORY_TEST_H
#define TS_HISTORY_TEST_H

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <sqlite3.h>

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "db.h"

/* The scenario's counts the tests check. */
#define HT_INTERVALS 13 /* state intervals of the four tasks */
#define HT_RUNNING   5  /* of which running (each drawn again on a worker track) */

typedef struct ht_fixture {
	char dir[64];
	char db[128];  /* the scenario DB */
	char out[128]; /* stdout of the last ht_run */
	char err[128]; /* stderr of the last ht_run */
	int fds;
} ht_fixture;

static inline int ht_fd_count(void)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *de;
	int n = 0;

	assert_non_null(d);
	while ((de = readdir(d)))
		n += de->d_name[0] != '.';
	closedir(d);
	return n - 1; /* the DIR's own */
}

static inline void ht_exec(sqlite3 *db, const char *sql)
{
	char *msg = NULL;
	if (sqlite3_exec(db, sql, NULL, NULL, &msg) != SQLITE_OK) {
		fprintf(stderr, "SQL failed: %s\n  %s\n", msg, sql);
		sqlite3_free(msg);
		fail();
	}
}

/* Creates path as an empty taskscope DB (schema, no indexes when
 * !indexes) and returns it open. */
static inline sqlite3 *ht_create(const char *path, int indexes)
{
	sqlite3 *db = NULL;
	char sql[128];

	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	ht_exec(db, db_schema_tables);
	if (indexes)
		ht_exec(db, db_schema_indexes);
	snprintf(sql, sizeof(sql), "PRAGMA application_id = %d; PRAGMA user_version = %d;",
	         DB_APP_ID, DB_SCHEMA_VERSION);
	ht_exec(db, sql);
	return db;
}

/* Writes the scenario of the header to path, with or without the indexes
 * (a recorder killed before building them). */
static inline void ht_scenario(const char *path, int indexes)
{
	sqlite3 *db = ht_create(path, indexes);

	ht_exec(db,
	        "BEGIN;"
	        "INSERT INTO process(id, pid, name, start_ticks, created_realtime_ns,"
	        " created_mono_ns, segment, source, workers, first_ns, last_ns, events, lost,"
	        " overwritten, complete, recorder) VALUES (1, 4242, 'demo', 77, "
	        "1700000000000000000,"
	        " 5000, '/dev/shm/taskscope.4242.77', 'dump', 2, 0, 10000000, 100, 3, 0, 1, '0.1');"
	        "INSERT INTO strings VALUES (4, 'srv.c:10 main'), (8, 'srv.c:42 handle_db'),"
	        " (12, 'srv.c:77 consume'), (16, 'lock_db+0x12'), (20, 'handle_db+0x40'),"
	        " (24, 'draining'), (28, 'srv.c:5 setup');"
	        /* id, name, parent, location, function, spawned, ended, flags, state, polls,
	           busy, sched, idle, wakes, self_wakes, max_run, max_wait, max_wait_at */
	        "INSERT INTO tasks VALUES"
	        " (1, 'main', NULL, 'srv.c:100', 'start', 0, NULL, 4, 'running', 2, 6500000,"
	        "  1600000, 1900000, 1, 0, 4500000, 1900000, 3000000),"
	        " (2, 'writer', 1, 'srv.c:10', 'main', 1000000, NULL, 0, 'blocked', 1, 2000000,"
	        "  1000000, 0, 0, 0, 2000000, 0, NULL),"
	        " (3, 'consumer', 1, 'srv.c:11', 'main', 1000000, NULL, 0, 'blocked', 1, 2000000,"
	        "  3000000, 0, 0, 0, 2000000, 0, NULL),"
	        " (4, 'worker', 1, 'srv.c:12', 'main', 1000000, 5000000, 0, 'done', 1, 2000000,"
	        "  2000000, 0, 0, 0, 2000000, 0, NULL);"
	        /* task, state, start, end, worker, wait, resource, site, label, stack,
	           deadline, how */
	        "INSERT INTO intervals VALUES"
	        " (1, 1, 0, 1000000, NULL, NULL, NULL, NULL, NULL, NULL, NULL, 0),"
	        " (1, 2, 1000000, 3000000, 0, NULL, NULL, NULL, NULL, NULL, NULL, NULL),"
	        " (1, 3, 3000000, 4900000, NULL, 2, 4, 4, NULL, NULL, NULL, NULL),"
	        " (1, 1, 4900000, 5500000, NULL, NULL, 4, NULL, NULL, NULL, NULL, 1),"
	        " (1, 2, 5500000, NULL, 0, NULL, NULL, NULL, NULL, NULL, NULL, NULL),"
	        " (4, 1, 1000000, 3000000, NULL, NULL, 1, NULL, NULL, NULL, NULL, 0),"
	        " (4, 2, 3000000, 5000000, 0, NULL, NULL, NULL, NULL, NULL, NULL, NULL),"
	        " (2, 1, 1000000, 2000000, NULL, NULL, 1, NULL, NULL, NULL, NULL, 0),"
	        " (2, 2, 2000000, 4000000, 1, NULL, NULL, NULL, NULL, NULL, NULL, NULL),"
	        " (2, 3, 4000000, NULL, NULL, 6, 10, 8, NULL, 1, -1, NULL),"
	        " (3, 1, 1000000, 4000000, NULL, NULL, 1, NULL, NULL, NULL, NULL, 0),"
	        " (3, 2, 4000000, 6000000, 1, NULL, NULL, NULL, NULL, NULL, NULL, NULL),"
	        " (3, 3, 6000000, NULL, NULL, 4, 11, 12, 24, NULL, 20000000, NULL);"
	        "INSERT INTO resources VALUES (10, 'mutex', 'db', 'srv.c:5', 0, NULL, NULL, 0, 0,"
	        " 2, 0), (11, 'channel', 'jobs', 'srv.c:6', 0, NULL, 16, 5, 5, 0, 3);"
	        /* #4 held db before; #1 holds it now */
	        "INSERT INTO ownership VALUES (10, 4, 0, 3200000, 3800000),"
	        " (10, 1, 0, 5600000, NULL);"
	        "INSERT INTO events VALUES (7000000, 'close', 1, 11, NULL),"
	        " (8000000, 'lost', NULL, NULL, 3);"
	        "INSERT INTO stacks VALUES (1, 2);"
	        "INSERT INTO frames VALUES (1, 0, 4198400, 16), (1, 1, 4202496, 20);"
	        "COMMIT;");
	assert_int_equal(sqlite3_close(db), SQLITE_OK);
}

static inline int ht_setup(void **state)
{
	ht_fixture *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	f->fds = ht_fd_count();
	strcpy(f->dir, "/tmp/tsk-history-XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	snprintf(f->db, sizeof(f->db), "%s/scenario.db", f->dir);
	snprintf(f->out, sizeof(f->out), "%s/stdout", f->dir);
	snprintf(f->err, sizeof(f->err), "%s/stderr", f->dir);
	ht_scenario(f->db, 1);
	*state = f;
	return 0;
}

static inline int ht_teardown(void **state)
{
	ht_fixture *f = *state;
	DIR *d = opendir(f->dir);
	struct dirent *de;
	char path[512];

	while (d && (de = readdir(d))) {
		if (de->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "%s/%s", f->dir, de->d_name);
		unlink(path);
	}
	if (d)
		closedir(d);
	rmdir(f->dir);
	assert_int_equal(ht_fd_count(), f->fds);
	free(f);
	return 0;
}

/* Runs cmd(argc, argv) in a child, its stdout to f->out and stderr to
 * f->err; returns its exit status (-1 if it died of a signal).  The
 * argument list ends with NULL. */
static inline int ht_run(ht_fixture *f, int (*cmd)(int, char **), ...)
{
	char *argv[32];
	int argc = 0, status;
	va_list ap;

	va_start(ap, cmd);
	while (argc < 31 && (argv[argc] = va_arg(ap, char *)))
		argc++;
	va_end(ap);
	argv[argc] = NULL;
	fflush(stdout);
	fflush(stderr);
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		if (!freopen(f->out, "w", stdout) || !freopen(f->err, "w", stderr))
			_exit(99);
		int rc = cmd(argc, argv);
		fflush(stdout);
		fflush(stderr);
		_exit(rc);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

/* Runs `jq -r FILTER file` (FILTER without single quotes); the output,
 * trailing newline cut, goes to buf.  Returns jq's exit status. */
static inline int ht_jq(const char *file, const char *filter, char *buf, size_t cap)
{
	char cmd[2048];
	size_t n = 0;

	assert_null(strchr(filter, '\''));
	snprintf(cmd, sizeof(cmd), "jq -r '%s' '%s' 2>&1", filter, file);
	FILE *p = popen(cmd, "r");
	assert_non_null(p);
	buf[0] = 0;
	if (cap > 1)
		n = fread(buf, 1, cap - 1, p);
	buf[n] = 0;
	while (n > 0 && buf[n - 1] == '\n')
		buf[--n] = 0;
	int st = pclose(p);
	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

/* Asserts that jq's FILTER over file prints expect. */
#define HT_JQ_EQ(file, filter, expect)                                                             \
	do {                                                                                       \
		char ht_buf_[8192];                                                                \
		int ht_rc_ = ht_jq(file, filter, ht_buf_, sizeof(ht_buf_));                        \
		if (ht_rc_ != 0 || strcmp(ht_buf_, expect) != 0)                                   \
			fail_msg("jq '%s': got '%s' (rc %d), want '%s'", filter, ht_buf_, ht_rc_,  \
			         expect);                                                          \
	} while (0)

/* The whole file as a string (free it). */
static inline char *ht_slurp(const char *path)
{
	FILE *fp = fopen(path, "r");
	assert_non_null(fp);
	char *buf = NULL;
	size_t len = 0, cap = 0, n;
	do {
		if (len + 4096 + 1 > cap) {
			cap = (len + 4096 + 1) * 2;
			buf = realloc(buf, cap);
			assert_non_null(buf);
		}
		n = fread(buf + len, 1, 4096, fp);
		len += n;
	} while (n > 0);
	fclose(fp);
	buf[len] = 0;
	return buf;
}

/* Number of lines of a file (a last line without newline counts). */
static inline int ht_lines(const char *path)
{
	char *s = ht_slurp(path);
	int n = 0;
	for (char *p = s; *p; p++)
		n += *p == '\n' || (!p[1] && *p != '\n');
	free(s);
	return n;
}

#endif /* TS_HISTORY_TEST_H */
