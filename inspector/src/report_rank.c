/*
 * report_rank.c - the report's rankings: the tasks that ran longest
 * (tasks.busy_ns) and the tasks that waited longest, with that wait.
 *
 * The longest wait of a task is the longer of its longest closed wait
 * (tasks.max_wait_ns) and its current one (the blocked list, measured to
 * the end of the history).  A closed one is then located among the task's
 * intervals (intervals_task: only that task's rows are read) to say what
 * it waited on and where; one not found (a history that lost it) is shown
 * without its wait.
 */
#include <stdlib.h>
#include <string.h>

#include "report_int.h"
#include "util.h"

int report__collect_busy(sqlite3 *db, report *r, char *err, size_t cap)
{
	sqlite3_stmt *st =
	        report__prepare(db,
	                        "SELECT id, name, location, " TASK_STATE_SQL ","
	                        " busy_ns, polls, max_run_ns FROM tasks WHERE busy_ns > 0"
	                        " ORDER BY busy_ns DESC, id LIMIT ?1",
	                        err, cap);
	if (!st)
		return -1;
	sqlite3_bind_int(st, 1, r->top);
	r->busy = xcalloc((size_t)r->top, sizeof(*r->busy));
	int rc;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) { /* LIMIT top */
		report_busy *b = &r->busy[r->nbusy++];
		b->id = sqlite3_column_int64(st, 0);
		b->name = report__col_str(st, 1);
		b->location = report__col_str(st, 2);
		b->state = report__col_str(st, 3);
		b->busy_ns = sqlite3_column_int64(st, 4);
		b->polls = sqlite3_column_int64(st, 5);
		b->max_run_ns = sqlite3_column_int64(st, 6);
	}
	return report__finish(db, st, rc, err, cap);
}

/* Orders slow waits longest first, then by task id. */
static int cmp_slow_wait(const void *a, const void *b)
{
	const report_slow_wait *x = a, *y = b;
	if (x->wait_ns != y->wait_ns)
		return x->wait_ns > y->wait_ns ? -1 : 1;
	return (x->id > y->id) - (x->id < y->id);
}

/* The candidates for the ranking by longest wait: the top N by the
 * counter of closed waits (max_wait_ns), and the top N current waits (the
 * blocked list is longest first); a task in both keeps the longer. */
static int wait_candidates(sqlite3 *db, report *r, report_slow_wait **out, size_t *nout, char *err,
                           size_t cap)
{
	size_t top = (size_t)r->top, n = 0;
	report_slow_wait *c = xcalloc(2 * top, sizeof(*c));
	sqlite3_stmt *st =
	        report__prepare(db,
	                        "SELECT id, name, max_wait_ns FROM tasks WHERE max_wait_ns > 0"
	                        " ORDER BY max_wait_ns DESC, id LIMIT ?1",
	                        err, cap);
	*out = c;
	*nout = 0;
	if (!st)
		return -1;
	sqlite3_bind_int(st, 1, r->top);
	int rc;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) { /* LIMIT top */
		c[n].id = sqlite3_column_int64(st, 0);
		c[n].name = report__col_str(st, 1);
		c[n].wait_ns = sqlite3_column_int64(st, 2);
		c[n].since_ns = REPORT_NONE;
		n++;
	}
	*nout = n;
	if (report__finish(db, st, rc, err, cap) < 0)
		return -1;
	size_t closed = n;
	for (size_t i = 0, taken = 0; i < r->nblocked && taken < top; i++) {
		const report_task *t = &r->blocked[i];
		if (t->blocked_ns == REPORT_NONE || t->blocked_ns <= 0)
			continue;
		taken++;
		report_slow_wait *w = NULL;
		for (size_t j = 0; j < closed && !w; j++)
			if (c[j].id == t->id)
				w = &c[j];
		if (w && w->wait_ns > t->blocked_ns)
			continue;
		if (!w) {
			w = &c[n++];
			w->id = t->id;
			w->name = t->name ? xstrdup(t->name) : NULL;
		}
		w->wait_ns = t->blocked_ns;
		w->ongoing = 1;
		w->found = 1;
		w->since_ns = t->since_ns;
		w->on = t->on;
		w->on.name = t->on.name ? xstrdup(t->on.name) : NULL;
		w->location = t->location ? xstrdup(t->location) : NULL;
		w->function = t->function ? xstrdup(t->function) : NULL;
	}
	*out = c;
	*nout = n;
	return 0;
}

/* Rows of intervals_task a report reads at most to locate the longest
 * waits (about a second): past it, the rest are shown unlocated. */
#define LOCATE_ROWS 4000000

/* With intervals_task: each task's intervals tile its life, so the gap
 * between the starts of consecutive intervals is the first one's length.
 * The starts come from the index alone (no row read: 0.2 us a row, 5-10x
 * cheaper than reading each row's end_ns), and only a candidate whose gap
 * is the wait's length is read, to check it is that blocked interval. */
static int locate_by_gaps(sqlite3 *db, report *r, char *err, size_t cap)
{
	sqlite3_stmt *scan = report__prepare(db,
	                                     "SELECT rowid, start_ns FROM intervals"
	                                     " WHERE task = ?1 ORDER BY start_ns, rowid",
	                                     err, cap);
	sqlite3_stmt *get = report__prepare(db,
	                                    "SELECT i.start_ns, " WAIT_COLS_SQL
	                                    " FROM intervals i" WAIT_JOINS_SQL
	                                    " WHERE i.rowid = ?1 AND i.state = 3"
	                                    " AND i.end_ns - i.start_ns = ?2",
	                                    err, cap);
	long budget = LOCATE_ROWS;
	int rc = SQLITE_DONE;
	for (size_t i = 0; i < r->nwaits && scan && get && budget > 0; i++) {
		report_slow_wait *w = &r->waits[i];
		if (w->ongoing)
			continue;
		int64_t prev_rid = -1, prev_start = 0;
		sqlite3_reset(scan);
		sqlite3_bind_int64(scan, 1, w->id);
		while (!w->found && budget-- > 0 && (rc = sqlite3_step(scan)) == SQLITE_ROW) {
			int64_t rid = sqlite3_column_int64(scan, 0);
			int64_t start = sqlite3_column_int64(scan, 1);
			if (prev_rid >= 0 && start - prev_start == w->wait_ns) {
				sqlite3_reset(get);
				sqlite3_bind_int64(get, 1, prev_rid);
				sqlite3_bind_int64(get, 2, w->wait_ns);
				int grc = sqlite3_step(get);
				if (grc == SQLITE_ROW) {
					w->found = 1;
					w->since_ns = sqlite3_column_int64(get, 0);
					report__read_wait_cols(get, 1, &w->on, &w->location,
					                       &w->function);
				} else if (grc != SQLITE_DONE) {
					rc = grc;
					break;
				}
			}
			prev_rid = rid;
			prev_start = start;
		}
		if (rc != SQLITE_ROW && rc != SQLITE_DONE)
			break;
		rc = SQLITE_DONE;
	}
	if (!scan || !get) {
		sqlite3_finalize(scan);
		sqlite3_finalize(get);
		return -1;
	}
	if (rc != SQLITE_DONE) {
		snprintf(err, cap, "reading the history: %s", sqlite3_errmsg(db));
		rc = -1;
	} else {
		rc = 0;
	}
	sqlite3_finalize(scan);
	sqlite3_finalize(get);
	return rc;
}

/* Without the index (a recorder killed before building it): one pass over
 * intervals for all the tasks at once, checking each row's length. */
static int locate_by_scan(sqlite3 *db, report *r, char *err, size_t cap)
{
	idlist want = {0};
	for (size_t i = 0; i < r->nwaits; i++)
		if (!r->waits[i].ongoing)
			report__idlist_add(&want, r->waits[i].id, &r->waits[i].wait_ns);
	if (want.len == 0)
		return 0;
	char *list = report__idlist_close(&want);
	sqlite3_stmt *st =
	        report__prepare(db,
	                        "WITH want(task, dur) AS MATERIALIZED"
	                        " (SELECT value ->> 0, value ->> 1 FROM json_each(?1))"
	                        " SELECT i.task, i.start_ns, " WAIT_COLS_SQL " FROM intervals i"
	                        /* CROSS: intervals outside, else SQLite scans it once per task */
	                        " CROSS JOIN want w ON w.task = i.task AND w.dur = i.end_ns - "
	                        "i.start_ns" WAIT_JOINS_SQL
	                        " WHERE i.state = 3 AND i.task IN (SELECT task FROM want)"
	                        " ORDER BY i.task, i.start_ns",
	                        err, cap);
	if (!st) {
		free(list);
		return -1;
	}
	sqlite3_bind_text(st, 1, list, -1, SQLITE_TRANSIENT);
	free(list);
	int rc;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		int64_t task = sqlite3_column_int64(st, 0);
		for (size_t i = 0; i < r->nwaits; i++) {
			report_slow_wait *w = &r->waits[i];
			if (w->id != task || w->ongoing || w->found)
				continue;
			w->found = 1;
			w->since_ns = sqlite3_column_int64(st, 1);
			report__read_wait_cols(st, 2, &w->on, &w->location, &w->function);
		}
	}
	return report__finish(db, st, rc, err, cap);
}

/* Locates the interval of each closed longest wait: a blocked interval of
 * the task whose length is its max_wait_ns (the earliest if several). */
static int locate_waits(sqlite3 *db, report *r, char *err, size_t cap)
{
	sqlite3_stmt *st = report__prepare(db,
	                                   "SELECT 1 FROM sqlite_master WHERE type = 'index'"
	                                   " AND name = 'intervals_task'",
	                                   err, cap);
	if (!st)
		return -1;
	int rc = sqlite3_step(st);
	sqlite3_finalize(st);
	if (rc == SQLITE_ROW)
		return locate_by_gaps(db, r, err, cap);
	if (rc != SQLITE_DONE) {
		snprintf(err, cap, "reading the history: %s", sqlite3_errmsg(db));
		return -1;
	}
	return locate_by_scan(db, r, err, cap);
}

void report__slow_wait_fini(report_slow_wait *w)
{
	free(w->name);
	free(w->on.name);
	free(w->location);
	free(w->function);
}

int report__collect_waits(sqlite3 *db, report *r, char *err, size_t cap)
{
	report_slow_wait *c = NULL;
	size_t n = 0;
	if (wait_candidates(db, r, &c, &n, err, cap) < 0) {
		for (size_t i = 0; i < n; i++)
			report__slow_wait_fini(&c[i]);
		free(c);
		return -1;
	}
	qsort(c, n, sizeof(*c), cmp_slow_wait);
	for (size_t i = (size_t)r->top; i < n; i++)
		report__slow_wait_fini(&c[i]);
	r->waits = c;
	r->nwaits = n < (size_t)r->top ? n : (size_t)r->top;
	return locate_waits(db, r, err, cap);
}
