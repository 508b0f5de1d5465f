/*
 * export_chrome.c - a history as a Chrome Trace Event file (the JSON
 * Object Format) that Perfetto and chrome://tracing open.
 *
 * The trace:
 *   pid 1 "tasks (<program> <pid>)": one track per task (tid = task id,
 *         named "<name> #<id>", sorted by id) with an "X" slice for every
 *         state interval ("running", "ready", "blocked: mutex db",
 *         "unknown"), flow arrows "wake" and "spawn" from the task that
 *         woke or spawned another ("s" on its track at that moment, "f"
 *         binding to the enclosing slice: the other's ready slice, which
 *         starts then; a task waking itself draws none), and instant events
 *         for the rows of `events` (cancel, close, signal, lost, ...).
 *   pid 2 "workers": one track per worker (tid = worker index) where each
 *         running interval is drawn again, named after its task.
 * Times are microseconds (the format's unit) written as exact decimals of
 * the history's nanoseconds.  Intervals still open at the end of the
 * history end at its last event and carry "open": true.
 *
 * Tuned for 10M-event histories: intervals are streamed from one
 * statement straight to the output, never held; only the names (tasks,
 * resources, strings: bounded by the number of tasks and resources, not by
 * time) are loaded, into hash maps, since joining them in SQL costs three
 * B-tree searches per row.  Progress goes to stderr when it is a terminal.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "export.h"
#include "json.h"
#include "report.h"
#include "util.h"

/* id -> owned string, open addressing with linear probing. */
typedef struct namemap {
	int64_t *keys;
	char **vals; /* NULL: empty slot */
	size_t cap;  /* a power of two */
	size_t n;
} namemap;

static size_t slot_of(int64_t key, size_t cap)
{
	uint64_t h = (uint64_t)key * 0x9e3779b97f4a7c15ull;
	return (size_t)(h >> 32) & (cap - 1);
}

/* Inserts (or replaces) key -> val; takes ownership of val. */
static void namemap_put(namemap *m, int64_t key, char *val)
{
	if (2 * (m->n + 1) > m->cap) {
		namemap old = *m;
		m->cap = old.cap ? 2 * old.cap : 1024;
		m->keys = xcalloc(m->cap, sizeof(*m->keys));
		m->vals = xcalloc(m->cap, sizeof(*m->vals));
		m->n = 0;
		for (size_t i = 0; i < old.cap; i++)
			if (old.vals[i])
				namemap_put(m, old.keys[i], old.vals[i]);
		free(old.keys);
		free(old.vals);
	}
	size_t i = slot_of(key, m->cap);
	while (m->vals[i] && m->keys[i] != key)
		i = (i + 1) & (m->cap - 1);
	if (m->vals[i])
		free(m->vals[i]);
	else
		m->n++;
	m->keys[i] = key;
	m->vals[i] = val;
}

static const char *namemap_get(const namemap *m, int64_t key)
{
	if (!m->cap)
		return NULL;
	for (size_t i = slot_of(key, m->cap); m->vals[i]; i = (i + 1) & (m->cap - 1))
		if (m->keys[i] == key)
			return m->vals[i];
	return NULL;
}

static void namemap_fini(namemap *m)
{
	for (size_t i = 0; i < m->cap; i++)
		free(m->vals[i]);
	free(m->keys);
	free(m->vals);
	memset(m, 0, sizeof(*m));
}

/* One export in progress. */
typedef struct exporter {
	sqlite3 *db;
	json_w w;
	namemap tasks;                    /* task id -> "<name> #<id>" */
	namemap resources;                /* resource id -> name */
	namemap strings;                  /* strings.id -> text */
	int64_t last_ns;                  /* end of the history: where open intervals end */
	uint64_t flows;                   /* flow ids given */
	uint8_t workers_named[65536 / 8]; /* worker tracks given a name */
	int progress;                     /* stderr is a terminal */
	int64_t t0, tick;                 /* progress: start, last line (ts_mono_ns) */
	uint64_t rows;
	char err[512];
} exporter;

static int sql_fail(exporter *x, const char *what)
{
	snprintf(x->err, sizeof(x->err), "%s: %s", what, sqlite3_errmsg(x->db));
	return -1;
}

/* Loads `SELECT id, text` rows into m; fmt_task: store "<text> #<id>". */
static int load_names(exporter *x, namemap *m, const char *sql, int fmt_task)
{
	sqlite3_stmt *st;
	if (sqlite3_prepare_v2(x->db, sql, -1, &st, NULL) != SQLITE_OK)
		return sql_fail(x, "reading names");
	int rc;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		int64_t id = sqlite3_column_int64(st, 0);
		const char *s = (const char *)sqlite3_column_text(st, 1);
		if (fmt_task) {
			char buf[128];
			snprintf(buf, sizeof(buf), "%s #%lld", s && *s ? s : "task", (long long)id);
			namemap_put(m, id, xstrdup(buf));
		} else if (s) {
			namemap_put(m, id, xstrdup(s));
		}
	}
	sqlite3_finalize(st);
	return rc == SQLITE_DONE ? 0 : sql_fail(x, "reading names");
}

static void put_meta(exporter *x, const char *what, int pid, int64_t tid, const char *key,
                     const char *sval, int64_t ival)
{
	json_w *w = &x->w;
	json_begin_object(w);
	json_key(w, "ph");
	json_string(w, "M");
	json_key(w, "name");
	json_string(w, what);
	json_key(w, "pid");
	json_int(w, pid);
	if (tid >= 0) {
		json_key(w, "tid");
		json_int(w, tid);
	}
	json_key(w, "args");
	json_begin_object(w);
	json_key(w, key);
	if (sval)
		json_string(w, sval);
	else
		json_int(w, ival);
	json_end_object(w);
	json_end_object(w);
}

static void name_worker(exporter *x, int64_t worker)
{
	if (worker < 0 || worker >= 65536 || (x->workers_named[worker / 8] & (1u << worker % 8)))
		return;
	x->workers_named[worker / 8] |= (uint8_t)(1u << worker % 8);
	char buf[32];
	snprintf(buf, sizeof(buf), "worker %lld", (long long)worker);
	put_meta(x, "thread_name", 2, worker, "name", buf, 0);
	put_meta(x, "thread_sort_index", 2, worker, "sort_index", NULL, worker);
}

/* Process names and the process row (otherData comes at the end). */
static int put_header(exporter *x, int64_t *workers)
{
	sqlite3_stmt *st;
	if (sqlite3_prepare_v2(x->db, "SELECT pid, name, last_ns, workers FROM process", -1, &st,
	                       NULL) != SQLITE_OK)
		return sql_fail(x, "reading the process");
	if (sqlite3_step(st) != SQLITE_ROW) {
		sqlite3_finalize(st);
		snprintf(x->err, sizeof(x->err), "damaged taskscope database: no process row");
		return -1;
	}
	char buf[160];
	const char *name = (const char *)sqlite3_column_text(st, 1);
	snprintf(buf, sizeof(buf), "tasks (%s %lld)", name ? name : "?",
	         (long long)sqlite3_column_int64(st, 0));
	x->last_ns = sqlite3_column_type(st, 2) == SQLITE_NULL ? 0 : sqlite3_column_int64(st, 2);
	*workers = sqlite3_column_type(st, 3) == SQLITE_NULL ? 0 : sqlite3_column_int64(st, 3);
	sqlite3_finalize(st);
	put_meta(x, "process_name", 1, -1, "name", buf, 0);
	put_meta(x, "process_sort_index", 1, -1, "sort_index", NULL, 0);
	put_meta(x, "process_name", 2, -1, "name", "workers", 0);
	put_meta(x, "process_sort_index", 2, -1, "sort_index", NULL, 1);
	return 0;
}

/* The track of every task, in id order. */
static int put_task_tracks(exporter *x)
{
	sqlite3_stmt *st;
	if (sqlite3_prepare_v2(x->db, "SELECT id FROM tasks ORDER BY id", -1, &st, NULL) !=
	    SQLITE_OK)
		return sql_fail(x, "reading tasks");
	int rc;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		int64_t id = sqlite3_column_int64(st, 0);
		put_meta(x, "thread_name", 1, id, "name", namemap_get(&x->tasks, id), 0);
		put_meta(x, "thread_sort_index", 1, id, "sort_index", NULL, id);
	}
	sqlite3_finalize(st);
	return rc == SQLITE_DONE ? 0 : sql_fail(x, "reading tasks");
}

/* The common head of a trace event: ph, name, cat, pid, tid, ts. */
static void put_event_head(exporter *x, const char *ph, const char *name, const char *cat, int pid,
                           int64_t tid, int64_t ns)
{
	json_w *w = &x->w;
	json_begin_object(w);
	json_key(w, "ph");
	json_string(w, ph);
	json_key(w, "name");
	json_string(w, name);
	json_key(w, "cat");
	json_string(w, cat);
	json_key(w, "pid");
	json_int(w, pid);
	json_key(w, "tid");
	json_int(w, tid);
	json_key(w, "ts");
	json_fixed(w, ns, 3);
}

static const char *const state_names[] = {"unknown", "ready", "running", "blocked"};
static const char *const how_names[] = {"spawned",   "woken",   "timeout",
                                        "cancelled", "yielded", "unseen"};

/* One interval row of the streaming statement. */
typedef struct ivrow {
	int64_t task, start, end, worker, wait, resource, site, label, deadline, how;
	int state, open;
} ivrow;

static int64_t col_or(sqlite3_stmt *st, int i, int64_t dflt)
{
	return sqlite3_column_type(st, i) == SQLITE_NULL ? dflt : sqlite3_column_int64(st, i);
}

/* The args of an interval's slice. */
static void put_interval_args(exporter *x, const ivrow *iv)
{
	json_w *w = &x->w;
	json_key(w, "args");
	json_begin_object(w);
	if (iv->state == 2 && iv->worker >= 0) {
		json_key(w, "worker");
		json_int(w, iv->worker);
	}
	if (iv->state == 1 && iv->how >= 0 && iv->how < 6) {
		json_key(w, "how");
		json_string(w, how_names[iv->how]);
		if ((iv->how == 1 || iv->how == 0) && iv->resource > 0) {
			json_key(w, iv->how == 1 ? "waker" : "spawner");
			json_int(w, iv->resource);
		}
	}
	if (iv->state == 3) {
		json_key(w, "wait");
		json_string(w, report_wait_op((int)iv->wait));
		if (iv->resource != REPORT_NONE) {
			json_key(w, "resource");
			json_int(w, iv->resource);
		}
		json_key(w, "location");
		json_string(w, namemap_get(&x->strings, iv->site));
		if (iv->deadline >= 0) {
			json_key(w, "deadline_ns");
			json_int(w, iv->deadline);
		}
	}
	const char *label = iv->label > 0 ? namemap_get(&x->strings, iv->label) : NULL;
	if (label) {
		json_key(w, "label");
		json_string(w, label);
	}
	if (iv->open) {
		json_key(w, "open");
		json_bool(w, 1);
	}
	json_end_object(w);
}

/* An interval: its slice on the task's track, its copy on the worker's
 * track (running), the flow from the task that woke or spawned it (ready). */
static void put_interval(exporter *x, const ivrow *iv)
{
	json_w *w = &x->w;
	char name[192], buf[96];
	const char *sname = iv->state >= 0 && iv->state < 4 ? state_names[iv->state] : "unknown";
	if (iv->state == 3) {
		const char *op = report_wait_op((int)iv->wait);
		const char *what = report_wait_name(
		        (int)iv->wait, iv->resource, namemap_get(&x->resources, iv->resource),
		        namemap_get(&x->tasks, iv->resource), buf, sizeof(buf));
		snprintf(name, sizeof(name), "blocked: %s%s%s", op ? op : "?", what ? " " : "",
		         what ? what : "");
	} else {
		snprintf(name, sizeof(name), "%s", sname);
	}
	put_event_head(x, "X", name, sname, 1, iv->task, iv->start);
	json_key(w, "dur");
	json_fixed(w, iv->end - iv->start, 3);
	put_interval_args(x, iv);
	json_end_object(w);

	if (iv->state == 2 && iv->worker >= 0) {
		name_worker(x, iv->worker);
		const char *tname = namemap_get(&x->tasks, iv->task);
		if (!tname) {
			snprintf(buf, sizeof(buf), "task #%lld", (long long)iv->task);
			tname = buf;
		}
		put_event_head(x, "X", tname, "running", 2, iv->worker, iv->start);
		json_key(w, "dur");
		json_fixed(w, iv->end - iv->start, 3);
		json_key(w, "args");
		json_begin_object(w);
		json_key(w, "task");
		json_int(w, iv->task);
		json_end_object(w);
		json_end_object(w);
	}
	/* woken or spawned by a task: an arrow from it, at that moment */
	if (iv->state == 1 && (iv->how == 1 || iv->how == 0) && iv->resource > 0 &&
	    iv->resource != iv->task) {
		const char *what = iv->how == 1 ? "wake" : "spawn";
		uint64_t id = ++x->flows;
		put_event_head(x, "s", what, what, 1, iv->resource, iv->start);
		json_key(w, "id");
		json_uint(w, id);
		json_end_object(w);
		put_event_head(x, "f", what, what, 1, iv->task, iv->start);
		json_key(w, "bp");
		json_string(w, "e");
		json_key(w, "id");
		json_uint(w, id);
		json_end_object(w);
	}
}

static void progress(exporter *x, int last)
{
	int64_t now = ts_mono_ns();
	if (!x->progress || (!last && now - x->tick < 1000000000))
		return;
	x->tick = now;
	double secs = (double)(now - x->t0) / 1e9;
	fprintf(stderr, "\r  %llu rows, %.0f rows/s%s", (unsigned long long)x->rows,
	        secs > 0 ? (double)x->rows / secs : 0.0, last ? "\n" : "");
}

/* One part of a span as an interval: end the next part's start, or the
 * span's end (NULL: still open, drawn up to the history's end). */
static void put_part(exporter *x, ivrow *iv, sqlite3_stmt *st, int64_t start, int end_col)
{
	iv->start = start;
	iv->open = sqlite3_column_type(st, end_col) == SQLITE_NULL;
	iv->end = iv->open ? (x->last_ns > iv->start ? x->last_ns : iv->start)
	                   : sqlite3_column_int64(st, end_col);
	if (iv->end < iv->start)
		iv->end = iv->start;
	put_interval(x, iv);
}

/* The intervals, read from the spans (docs/SCHEMA.md) in the order they
 * were written: each span's parts in time order, no sort of the history. */
static int put_intervals(exporter *x)
{
	sqlite3_stmt *st;
	if (sqlite3_prepare_v2(
	            x->db,
	            "SELECT task, state0, start_ns, run_ns, stop_ns, end_ns, worker, waker,"
	            " how, wait, resource, site, label, deadline_ns,"
	            " coalesce(run_ns, stop_ns, end_ns), coalesce(stop_ns, end_ns)"
	            " FROM spans",
	            -1, &st, NULL) != SQLITE_OK)
		return sql_fail(x, "reading intervals");
	int rc;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		ivrow iv;
		int state0 = sqlite3_column_int(st, 1);
		iv.task = sqlite3_column_int64(st, 0);
		iv.label = col_or(st, 12, 0);
		if (state0 <= 1) {
			iv.state = state0;
			iv.worker = -1;
			iv.wait = 0;
			iv.resource = col_or(st, 7, REPORT_NONE);
			iv.site = 0;
			iv.deadline = -1;
			iv.how = col_or(st, 8, -1);
			put_part(x, &iv, st, sqlite3_column_int64(st, 2), 14);
		}
		if (sqlite3_column_type(st, 3) != SQLITE_NULL) {
			iv.state = 2;
			iv.worker = col_or(st, 6, -1);
			iv.wait = 0;
			iv.resource = REPORT_NONE;
			iv.site = 0;
			iv.deadline = -1;
			iv.how = -1;
			put_part(x, &iv, st, sqlite3_column_int64(st, 3), 15);
		}
		if (sqlite3_column_type(st, 4) != SQLITE_NULL) {
			iv.state = 3;
			iv.worker = -1;
			iv.wait = col_or(st, 9, 0);
			iv.resource = col_or(st, 10, REPORT_NONE);
			iv.site = col_or(st, 11, 0);
			iv.deadline = col_or(st, 13, -1);
			iv.how = -1;
			put_part(x, &iv, st, sqlite3_column_int64(st, 4), 5);
		}
		if (++x->rows % 65536 == 0) {
			if (x->w.write_err) {
				sqlite3_finalize(st);
				snprintf(x->err, sizeof(x->err), "writing: %s", strerror(errno));
				return -1;
			}
			progress(x, 0);
		}
	}
	sqlite3_finalize(st);
	return rc == SQLITE_DONE ? 0 : sql_fail(x, "reading intervals");
}

/* Instant events for the rows of `events`: on the task's track, or global. */
static int put_events(exporter *x)
{
	sqlite3_stmt *st;
	json_w *w = &x->w;
	if (sqlite3_prepare_v2(x->db, "SELECT ns, type, task, obj, arg FROM events", -1, &st,
	                       NULL) != SQLITE_OK)
		return sql_fail(x, "reading events");
	int rc;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		int64_t task = col_or(st, 2, 0);
		const char *type = (const char *)sqlite3_column_text(st, 1);
		put_event_head(x, "i", type ? type : "?", "event", 1, task,
		               sqlite3_column_int64(st, 0));
		json_key(w, "s");
		json_string(w, task > 0 ? "t" : "g");
		json_key(w, "args");
		json_begin_object(w);
		for (int c = 3; c <= 4; c++) {
			if (sqlite3_column_type(st, c) == SQLITE_NULL)
				continue;
			json_key(w, c == 3 ? "obj" : "arg");
			json_int(w, sqlite3_column_int64(st, c));
		}
		json_end_object(w);
		json_end_object(w);
		x->rows++;
	}
	sqlite3_finalize(st);
	return rc == SQLITE_DONE ? 0 : sql_fail(x, "reading events");
}

static void put_other_data(exporter *x)
{
	static const char *const cols[] = {"pid",
	                                   "name",
	                                   "source",
	                                   "segment",
	                                   "events",
	                                   "lost",
	                                   "overwritten",
	                                   "first_ns",
	                                   "last_ns",
	                                   "workers",
	                                   "created_realtime_ns"};
	json_w *w = &x->w;
	sqlite3_stmt *st = NULL;
	json_key(w, "otherData");
	json_begin_object(w);
	json_key(w, "exporter");
	json_string(w, "taskscope export");
	if (sqlite3_prepare_v2(x->db,
	                       "SELECT pid, name, source, segment, events, lost, overwritten,"
	                       " first_ns, last_ns, workers, created_realtime_ns FROM process",
	                       -1, &st, NULL) == SQLITE_OK &&
	    sqlite3_step(st) == SQLITE_ROW) {
		for (int c = 0; c < (int)(sizeof(cols) / sizeof(cols[0])); c++) {
			json_key(w, cols[c]);
			switch (sqlite3_column_type(st, c)) {
			case SQLITE_NULL:
				json_null(w);
				break;
			case SQLITE_INTEGER:
				json_int(w, sqlite3_column_int64(st, c));
				break;
			default:
				json_string(w, (const char *)sqlite3_column_text(st, c));
				break;
			}
		}
	}
	sqlite3_finalize(st);
	json_key(w, "rows");
	json_uint(w, x->rows);
	json_key(w, "flows");
	json_uint(w, x->flows);
	json_end_object(w);
}

int export_chrome(sqlite3 *db, FILE *f, char *err, size_t cap)
{
	exporter *x = xcalloc(1, sizeof(*x));
	int64_t workers = 0;
	int rc = -1;
	x->db = db;
	x->progress = isatty(STDERR_FILENO);
	x->t0 = x->tick = ts_mono_ns();
	json_init(&x->w, f, 2); /* one trace event per line */
	/* one snapshot, even while a recorder writes (WAL) */
	if (sqlite3_exec(db, "BEGIN", NULL, NULL, NULL) != SQLITE_OK) {
		sql_fail(x, "reading the history");
		goto out;
	}
	if (load_names(x, &x->tasks, "SELECT id, name FROM tasks", 1) < 0 ||
	    load_names(x, &x->resources, "SELECT id, name FROM resources", 0) < 0 ||
	    load_names(x, &x->strings, "SELECT id, text FROM strings", 0) < 0)
		goto out;
	json_begin_object(&x->w);
	json_key(&x->w, "traceEvents");
	json_begin_array(&x->w);
	if (put_header(x, &workers) < 0)
		goto out;
	for (int64_t i = 0; i < workers && i < 65536; i++)
		name_worker(x, i);
	if (put_task_tracks(x) < 0 || put_intervals(x) < 0 || put_events(x) < 0)
		goto out;
	json_end_array(&x->w);
	json_key(&x->w, "displayTimeUnit");
	json_string(&x->w, "ns");
	put_other_data(x);
	json_end_object(&x->w);
	if (json_end(&x->w) < 0) {
		snprintf(x->err, sizeof(x->err), "writing: %s",
		         x->w.err ? "bad JSON nesting (a bug)" : strerror(errno));
		goto out;
	}
	progress(x, 1);
	rc = 0;
out:
	if (rc < 0)
		snprintf(err, cap, "%s", x->err);
	sqlite3_exec(db, "COMMIT", NULL, NULL, NULL);
	namemap_fini(&x->tasks);
	namemap_fini(&x->resources);
	namemap_fini(&x->strings);
	free(x);
	return rc;
}
