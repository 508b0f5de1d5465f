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

/* Locates the interval of each closed longest wait: tasks.max_wait_at_ns
 * says when it began, and the span holding it is the task's last one
 * starting at or before that (spans_task: one index seek per wait; without
 * the index, a recorder killed before building it, a scan of the task's
 * spans).  A DB without max_wait_at_ns for a task leaves that wait
 * unlocated. */
static int locate_waits(sqlite3 *db, report *r, char *err, size_t cap)
{
	sqlite3_stmt *at =
	        report__prepare(db, "SELECT max_wait_at_ns FROM tasks WHERE id = ?1", err, cap);
	sqlite3_stmt *get =
	        report__prepare(db,
	                        "SELECT i.stop_ns, " WAIT_COLS_SQL " FROM spans i" WAIT_JOINS_SQL
	                        " WHERE i.task = ?1 AND i.start_ns <= ?2"
	                        " ORDER BY i.start_ns DESC LIMIT 1",
	                        err, cap);
	int rc = 0;
	for (size_t i = 0; i < r->nwaits && at && get && rc == 0; i++) {
		report_slow_wait *w = &r->waits[i];
		if (w->ongoing)
			continue;
		sqlite3_reset(at);
		sqlite3_bind_int64(at, 1, w->id);
		int src = sqlite3_step(at);
		if (src != SQLITE_ROW) {
			rc = src == SQLITE_DONE ? 0 : -1;
			continue;
		}
		if (sqlite3_column_type(at, 0) == SQLITE_NULL)
			continue;
		int64_t since = sqlite3_column_int64(at, 0);
		sqlite3_reset(get);
		sqlite3_bind_int64(get, 1, w->id);
		sqlite3_bind_int64(get, 2, since);
		int grc = sqlite3_step(get);
		if (grc == SQLITE_ROW && sqlite3_column_type(get, 0) != SQLITE_NULL &&
		    sqlite3_column_int64(get, 0) == since) {
			w->found = 1;
			w->since_ns = since;
			report__read_wait_cols(get, 1, &w->on, &w->location, &w->function);
		} else if (grc != SQLITE_ROW && grc != SQLITE_DONE) {
			rc = -1;
		}
	}
	if (!at || !get) {
		sqlite3_finalize(at);
		sqlite3_finalize(get);
		return -1;
	}
	if (rc < 0)
		snprintf(err, cap, "reading the history: %s", sqlite3_errmsg(db));
	sqlite3_finalize(at);
	sqlite3_finalize(get);
	return rc;
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
	if (n)
		qsort(c, n, sizeof(*c), cmp_slow_wait);
	for (size_t i = (size_t)r->top; i < n; i++)
		report__slow_wait_fini(&c[i]);
	r->waits = c;
	r->nwaits = n < (size_t)r->top ? n : (size_t)r->top;
	return locate_waits(db, r, err, cap);
}
