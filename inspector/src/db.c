/*
 * db.c - the schema of the history database (docs/SCHEMA.md is its
 * prose), and opening a DB for reading with identity checks.
 *
 * Tuned for ingest: tables are rowid tables appended in time order, with
 * no secondary index while recording (an index on (task, start) costs 10x
 * at insert); the indexes are built once at the end.  Times are ns since
 * the process created its segment (see process.created_mono_ns).
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "db.h"

const char db_schema_tables[] =
        /* one row: the recorded process */
        "CREATE TABLE IF NOT EXISTS process("
        " id INTEGER PRIMARY KEY CHECK (id = 1),"
        " pid INTEGER NOT NULL,"
        " name TEXT NOT NULL,"
        " start_ticks INTEGER,"         /* /proc/<pid>/stat field 22 */
        " created_realtime_ns INTEGER," /* wall clock when the segment was created */
        " created_mono_ns INTEGER,"     /* CLOCK_MONOTONIC then: time 0 of every *_ns */
        " segment TEXT,"                /* path of the segment read */
        " source TEXT NOT NULL,"        /* 'record' | 'dump' */
        " workers INTEGER,"
        " first_ns INTEGER,"                       /* oldest event in the DB */
        " last_ns INTEGER,"                        /* newest event in the DB */
        " events INTEGER NOT NULL DEFAULT 0,"      /* records read */
        " lost INTEGER NOT NULL DEFAULT 0,"        /* records the program dropped (stream mode) */
        " overwritten INTEGER NOT NULL DEFAULT 0," /* records overwritten before they were read */
        " complete INTEGER NOT NULL DEFAULT 0,"    /* 1: the recorder finished (indexes built) */
        " recorder TEXT);"                         /* taskscope version that wrote it */
        /* string table of the process: call sites, labels, symbols */
        "CREATE TABLE IF NOT EXISTS strings(id INTEGER PRIMARY KEY, text TEXT NOT NULL);"
        "CREATE TABLE IF NOT EXISTS tasks("
        " id INTEGER PRIMARY KEY,"
        " name TEXT,"
        " parent_id INTEGER,"  /* NULL: a root */
        " location TEXT,"      /* file:line of the spawn */
        " function TEXT,"      /* function that spawned it */
        " spawned_ns INTEGER," /* NULL: before the history */
        " ended_ns INTEGER,"   /* NULL while alive */
        " flags INTEGER NOT NULL DEFAULT 0,"
        " state TEXT," /* last known: ready|running|blocked|done|unknown */
        " polls INTEGER NOT NULL DEFAULT 0,"
        " busy_ns INTEGER NOT NULL DEFAULT 0,"
        " sched_ns INTEGER NOT NULL DEFAULT 0,"
        " idle_ns INTEGER NOT NULL DEFAULT 0,"
        " wakes INTEGER NOT NULL DEFAULT 0,"
        " self_wakes INTEGER NOT NULL DEFAULT 0,"
        " max_run_ns INTEGER NOT NULL DEFAULT 0,"
        " max_wait_ns INTEGER NOT NULL DEFAULT 0,"
        " max_wait_at_ns INTEGER);" /* start of that longest wait (the current one included) */
        /* state intervals, stored as spans: a span holds up to three
         * consecutive intervals of a task in their usual order - ready (or
         * unknown), running, blocked - so a poll cycle is one row, not three
         * (the view intervals below gives one row per interval) */
        "CREATE TABLE IF NOT EXISTS spans("
        " task INTEGER NOT NULL,"
        " state0 INTEGER NOT NULL,"   /* state of the first part: 0 unknown, 1 ready,
                                         2 running, 3 blocked */
        " start_ns INTEGER NOT NULL," /* start of the first part */
        " run_ns INTEGER,"            /* start of the running part, NULL: none */
        " stop_ns INTEGER,"           /* start of the blocked part, NULL: none */
        " end_ns INTEGER,"            /* end of the last part, NULL: still open */
        " worker INTEGER,"            /* running part: the worker */
        " waker INTEGER,"             /* ready part: the waker (how 1-3) or spawner (how 0) */
        " how INTEGER,"               /* ready part: 0 spawned 1 woken 2 timeout 3 cancelled
                                         4 yielded 5 unseen */
        " wait INTEGER,"              /* blocked part: wait kind (table wait_kinds) */
        " resource INTEGER,"          /* blocked part: awaited id */
        " site INTEGER,"              /* blocked part: call site (strings.id) */
        " stack INTEGER,"             /* blocked part: stack at the suspension */
        " deadline_ns INTEGER,"       /* blocked part: the wait's deadline */
        " label INTEGER);"            /* tsk_set_state label (strings.id) for the whole span */
        /* one row per state interval: they tile each task's life */
        "CREATE VIEW IF NOT EXISTS intervals AS"
        " SELECT task, state0 AS state, start_ns, coalesce(run_ns, stop_ns, end_ns) AS end_ns,"
        "  NULL AS worker, NULL AS wait, waker AS resource, NULL AS site, label,"
        "  NULL AS stack, NULL AS deadline_ns, how"
        " FROM spans WHERE state0 <= 1"
        " UNION ALL"
        " SELECT task, 2, run_ns, coalesce(stop_ns, end_ns), worker, NULL, NULL, NULL, label,"
        "  NULL, NULL, NULL"
        " FROM spans WHERE run_ns IS NOT NULL"
        " UNION ALL"
        " SELECT task, 3, stop_ns, end_ns, NULL, wait, resource, site, label, stack,"
        "  deadline_ns, NULL"
        " FROM spans WHERE stop_ns IS NOT NULL;"
        /* writing an interval writes a span of that one part (for tools
         * and tests that build a history by hand) */
        "CREATE TRIGGER IF NOT EXISTS intervals_insert INSTEAD OF INSERT ON intervals BEGIN"
        " INSERT INTO spans(task, state0, start_ns, run_ns, stop_ns, end_ns, worker, waker, how,"
        "  wait, resource, site, stack, deadline_ns, label) VALUES (NEW.task, NEW.state,"
        "  NEW.start_ns, CASE WHEN NEW.state = 2 THEN NEW.start_ns END,"
        "  CASE WHEN NEW.state = 3 THEN NEW.start_ns END, NEW.end_ns, NEW.worker,"
        "  CASE WHEN NEW.state <= 1 THEN NEW.resource END, NEW.how, NEW.wait,"
        "  CASE WHEN NEW.state = 3 THEN NEW.resource END, NEW.site, NEW.stack,"
        "  NEW.deadline_ns, NEW.label);"
        " END;"
        "CREATE TABLE IF NOT EXISTS resources("
        " id INTEGER PRIMARY KEY,"
        " kind TEXT NOT NULL," /* channel|mutex|rwlock|semaphore|waitgroup|condvar */
        " name TEXT,"
        " location TEXT," /* file:line of the creation */
        " created_ns INTEGER,"
        " freed_ns INTEGER,"
        " capacity INTEGER,"
        " sends INTEGER NOT NULL DEFAULT 0,"
        " recvs INTEGER NOT NULL DEFAULT 0,"
        " acquires INTEGER NOT NULL DEFAULT 0,"
        " max_len INTEGER NOT NULL DEFAULT 0);"
        /* who held which lock when */
        "CREATE TABLE IF NOT EXISTS ownership("
        " resource INTEGER NOT NULL,"
        " task INTEGER NOT NULL,"
        " shared INTEGER NOT NULL," /* 1: read lock */
        " start_ns INTEGER,"        /* NULL: held before the history */
        " end_ns INTEGER);"         /* NULL: still held */
        /* raw events that intervals do not carry */
        "CREATE TABLE IF NOT EXISTS events("
        " ns INTEGER NOT NULL,"
        " type TEXT NOT NULL," /* cancel|close|signal|wg_add|lost|runtime */
        " task INTEGER,"
        " obj INTEGER,"
        " arg INTEGER);"
        "CREATE TABLE IF NOT EXISTS stacks(id INTEGER PRIMARY KEY, nframes INTEGER NOT NULL);"
        "CREATE TABLE IF NOT EXISTS frames("
        " stack INTEGER NOT NULL,"
        " depth INTEGER NOT NULL," /* 0: innermost */
        " pc INTEGER NOT NULL,"
        " symbol INTEGER," /* strings.id of \"function+0xoff\" */
        " PRIMARY KEY (stack, depth)) WITHOUT ROWID;"
        "CREATE TABLE IF NOT EXISTS histograms("
        " task INTEGER NOT NULL,"
        " kind TEXT NOT NULL,"      /* run|wait */
        " bucket INTEGER NOT NULL," /* durations in [2^bucket, 2^(bucket+1)) ns */
        " count INTEGER NOT NULL,"
        " PRIMARY KEY (task, kind, bucket)) WITHOUT ROWID;"
        /* verdicts of the deadlock detector (docs/DEADLOCKS.md) */
        "CREATE TABLE IF NOT EXISTS deadlocks("
        " id INTEGER PRIMARY KEY,"
        " verdict TEXT NOT NULL,"     /* definite|likely */
        " kind TEXT NOT NULL,"        /* cycle|stall */
        " closed_ns INTEGER,"         /* when the newest wait in it began */
        " found_ns INTEGER NOT NULL," /* when the verdict was confirmed */
        " ntasks INTEGER NOT NULL,"
        " behind TEXT NOT NULL," /* JSON array of the ids of tasks blocked behind it */
        " text TEXT NOT NULL);"  /* the chain, for a human */
        "CREATE TABLE IF NOT EXISTS deadlock_tasks("
        " deadlock INTEGER NOT NULL,"
        " pos INTEGER NOT NULL," /* order in the chain */
        " task INTEGER NOT NULL,"
        " wait INTEGER NOT NULL," /* wait_kinds.id */
        " object INTEGER,"        /* resource id, or the joined task */
        " site INTEGER,"          /* strings.id of the wait's call site */
        " stack INTEGER,"         /* stacks.id at the suspension */
        " since_ns INTEGER,"
        " blocked_by TEXT NOT NULL," /* JSON array of task ids */
        " PRIMARY KEY (deadlock, pos)) WITHOUT ROWID;"
        /* lints (docs/DEADLOCKS.md) */
        "CREATE TABLE IF NOT EXISTS warnings("
        " id INTEGER PRIMARY KEY,"
        " kind TEXT NOT NULL,"
        " task INTEGER NOT NULL,"
        " resource INTEGER,"
        " first_ns INTEGER,"
        " last_ns INTEGER,"
        " count INTEGER NOT NULL,"
        " value_ns INTEGER,"
        " detail TEXT NOT NULL);"
        /* readable names for the integer codes */
        "CREATE TABLE IF NOT EXISTS states(id INTEGER PRIMARY KEY, name TEXT NOT NULL);"
        "INSERT OR IGNORE INTO states VALUES (0,'unknown'),(1,'ready'),(2,'running'),"
        " (3,'blocked');"
        "CREATE TABLE IF NOT EXISTS wait_kinds(id INTEGER PRIMARY KEY, name TEXT NOT NULL);"
        "INSERT OR IGNORE INTO wait_kinds VALUES (1,'sleep'),(2,'join'),(3,'chan_send'),"
        " (4,'chan_recv'),(5,'select'),(6,'mutex'),(7,'rwlock_rd'),(8,'rwlock_wr'),"
        " (9,'semaphore'),(10,'waitgroup'),(11,'condvar'),(12,'io'),(13,'offload');"
        /* the intervals with names instead of codes */
        "CREATE VIEW IF NOT EXISTS state_intervals AS"
        " SELECT i.task, t.name AS task_name, s.name AS state, i.start_ns, i.end_ns,"
        "  i.end_ns - i.start_ns AS dur_ns, w.name AS wait, i.resource,"
        "  r.name AS resource_name, st.text AS location, i.worker, l.text AS label"
        " FROM intervals i JOIN tasks t ON t.id = i.task JOIN states s ON s.id = i.state"
        " LEFT JOIN wait_kinds w ON w.id = i.wait"
        " LEFT JOIN resources r ON r.id = i.resource AND i.state = 3 AND i.wait BETWEEN 3 AND 11"
        " LEFT JOIN strings st ON st.id = i.site LEFT JOIN strings l ON l.id = i.label;";

const char db_schema_indexes[] =
        "CREATE INDEX IF NOT EXISTS spans_task ON spans(task, start_ns);"
        "CREATE INDEX IF NOT EXISTS spans_resource ON spans(resource)"
        " WHERE resource IS NOT NULL;"
        "CREATE INDEX IF NOT EXISTS spans_open ON spans(task) WHERE end_ns IS NULL;"
        "CREATE INDEX IF NOT EXISTS ownership_resource ON ownership(resource, start_ns);"
        "CREATE INDEX IF NOT EXISTS ownership_task ON ownership(task);"
        "CREATE INDEX IF NOT EXISTS tasks_parent ON tasks(parent_id);";

/* One integer from a pragma or query; -1 on error. */
static long long query_int(sqlite3 *db, const char *sql)
{
	sqlite3_stmt *st;
	long long v = -1;
	if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
		return -1;
	if (sqlite3_step(st) == SQLITE_ROW)
		v = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	return v;
}

/* The application_id in the header of the file at path (big-endian at
 * offset 68); -2 if the file does not start like a SQLite database, -1 if
 * it cannot be read. */
static long long header_app_id(const char *path)
{
	unsigned char h[100];
	FILE *f = fopen(path, "rb");
	size_t n;

	if (!f)
		return -1;
	n = fread(h, 1, sizeof(h), f);
	fclose(f);
	if (n < sizeof(h) || memcmp(h, "SQLite format 3", 16) != 0)
		return -2;
	return (long long)((uint32_t)h[68] << 24 | (uint32_t)h[69] << 16 | (uint32_t)h[70] << 8 |
	                   h[71]);
}

sqlite3 *db_open_read(const char *path, char *err, size_t cap)
{
	sqlite3 *db = NULL;
	struct stat sb;
	if (stat(path, &sb) < 0) {
		snprintf(err, cap, "%s: %s", path, strerror(errno));
		return NULL;
	}
	if (!S_ISREG(sb.st_mode)) {
		snprintf(err, cap, "%s: not a regular file", path);
		return NULL;
	}
	/* SQLite reads an empty file as an empty database, and says "file is
	 * not a database" of a truncated one: tell them apart by the header */
	if (sb.st_size == 0) {
		snprintf(err, cap, "%s: empty file, not a taskscope database", path);
		return NULL;
	}
	long long hdr_app = header_app_id(path);
	if (hdr_app == -2) {
		snprintf(err, cap, "%s: not a taskscope database (not a SQLite file)", path);
		return NULL;
	}
	int rc = sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL);
	if (rc != SQLITE_OK) {
		snprintf(err, cap, "%s: cannot open: %s", path,
		         db ? sqlite3_errmsg(db) : sqlite3_errstr(rc));
		goto fail;
	}
	sqlite3_busy_timeout(db, 2000);
	/* the first read of the header tells a non-database or a truncated file */
	long long app = query_int(db, "PRAGMA application_id");
	if (app < 0) {
		if (hdr_app == DB_APP_ID)
			snprintf(err, cap, "%s: damaged taskscope database: %s", path,
			         sqlite3_errmsg(db));
		else
			snprintf(err, cap, "%s: damaged SQLite database, not readable: %s", path,
			         sqlite3_errmsg(db));
		goto fail;
	}
	if (app != DB_APP_ID) {
		snprintf(
		        err, cap,
		        "%s: a SQLite database, but not a taskscope history (application_id %#llx)",
		        path, app);
		goto fail;
	}
	long long ver = query_int(db, "PRAGMA user_version");
	if (ver != DB_SCHEMA_VERSION) {
		snprintf(err, cap, "%s: schema version %lld, this taskscope reads version %d", path,
		         ver, DB_SCHEMA_VERSION);
		goto fail;
	}
	long long n = query_int(db, "SELECT count(*) FROM process");
	if (n < 0) {
		snprintf(err, cap, "%s: damaged taskscope database: %s", path, sqlite3_errmsg(db));
		goto fail;
	}
	if (n != 1) {
		snprintf(err, cap, "%s: damaged taskscope database: no process row", path);
		goto fail;
	}
	return db;
fail:
	sqlite3_close(db);
	return NULL;
}

int db_build_indexes(sqlite3 *db, char *err, size_t cap)
{
	char *msg = NULL;
	if (sqlite3_exec(db, db_schema_indexes, NULL, NULL, &msg) != SQLITE_OK) {
		snprintf(err, cap, "building indexes: %s", msg ? msg : sqlite3_errmsg(db));
		sqlite3_free(msg);
		return -1;
	}
	return 0;
}
