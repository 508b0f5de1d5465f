/*
 * report_collect.c - filling a report from a history DB with SQL only, so
 * that a DB file and a live process (dumped into memory) give the same
 * answers through the same code.
 *
 * Tuned for a 10M-event history (~7M interval rows, 100k tasks, 17k of
 * them blocked): 0.45 s warm, 1 s cold.  The intervals table is never
 * scanned.  Task counts and rankings come from the per-task counters of
 * `tasks` (100k rows); the blocked tasks' waits are their open intervals,
 * found through the partial index intervals_open (end_ns IS NULL); their
 * holders from one pass over `ownership` (collect_holders says why not
 * its index); the interval of a longest wait from intervals_task alone
 * (report_rank.c).  Lists of ids go to SQLite as one JSON array bound to
 * a single statement (json_each), so that a DB without indexes (a
 * recorder killed before building them) costs one pass per query, not
 * one per task: 2 s instead of 0.45, the same answers.  Everything is
 * read in one transaction: one snapshot, even while a recorder writes.
 */
#include <stdlib.h>
#include <string.h>

#include "report_int.h"
#include "tsk_segment.h"
#include "util.h"

/* A statement's column as an owned string (NULL for NULL). */
char *report__col_str(sqlite3_stmt *st, int i)
{
	const unsigned char *s = sqlite3_column_text(st, i);
	return s ? xstrdup((const char *)s) : NULL;
}

/* A statement's column as an integer (REPORT_NONE for NULL). */
int64_t report__col_int(sqlite3_stmt *st, int i)
{
	if (sqlite3_column_type(st, i) == SQLITE_NULL)
		return REPORT_NONE;
	return sqlite3_column_int64(st, i);
}

/* Prepares sql; on failure writes the message to err and returns NULL. */
sqlite3_stmt *report__prepare(sqlite3 *db, const char *sql, char *err, size_t cap)
{
	sqlite3_stmt *st = NULL;
	if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK) {
		snprintf(err, cap, "reading the history: %s", sqlite3_errmsg(db));
		sqlite3_finalize(st);
		return NULL;
	}
	return st;
}

/* Ends a step loop: 0 if it ran to SQLITE_DONE, else -1 with a message. */
int report__finish(sqlite3 *db, sqlite3_stmt *st, int rc, char *err, size_t cap)
{
	if (rc != SQLITE_DONE) {
		snprintf(err, cap, "reading the history: %s", sqlite3_errmsg(db));
		sqlite3_finalize(st);
		return -1;
	}
	sqlite3_finalize(st);
	return 0;
}

void report__idlist_add(idlist *l, int64_t a, const int64_t *b)
{
	char item[64];
	int n = b ? snprintf(item, sizeof(item), "[%lld,%lld]", (long long)a, (long long)*b)
	          : snprintf(item, sizeof(item), "%lld", (long long)a);
	if (l->len + (size_t)n + 3 > l->cap) {
		l->cap = (l->cap + (size_t)n + 3) * 2;
		l->s = xrealloc(l->s, l->cap);
	}
	l->s[l->len] = l->len == 0 ? '[' : ',';
	l->len++;
	memcpy(l->s + l->len, item, (size_t)n);
	l->len += (size_t)n;
	l->s[l->len] = 0;
}

/* The array's text (freed by the caller with free). */
char *report__idlist_close(idlist *l)
{
	if (l->len == 0)
		return xstrdup("[]");
	l->s[l->len++] = ']';
	l->s[l->len] = 0;
	return l->s;
}

static int collect_process(sqlite3 *db, report *r, char *err, size_t cap)
{
	sqlite3_stmt *st =
	        report__prepare(db,
	                        "SELECT pid, name, source, segment, recorder, complete, workers,"
	                        " events, lost, overwritten, first_ns, last_ns,"
	                        " created_realtime_ns FROM process WHERE id = 1",
	                        err, cap);
	if (!st)
		return -1;
	int rc = sqlite3_step(st);
	if (rc == SQLITE_DONE) {
		snprintf(err, cap, "damaged taskscope database: no process row");
		sqlite3_finalize(st);
		return -1;
	}
	if (rc == SQLITE_ROW) {
		r->process.pid = report__col_int(st, 0);
		r->process.name = report__col_str(st, 1);
		r->process.source = report__col_str(st, 2);
		r->process.segment = report__col_str(st, 3);
		r->process.recorder = report__col_str(st, 4);
		r->process.complete = sqlite3_column_int(st, 5) != 0;
		r->process.workers = report__col_int(st, 6);
		r->process.events = report__col_int(st, 7);
		r->process.lost = report__col_int(st, 8);
		r->process.overwritten = report__col_int(st, 9);
		r->process.first_ns = report__col_int(st, 10);
		r->process.last_ns = report__col_int(st, 11);
		r->process.created_realtime_ns = report__col_int(st, 12);
		rc = sqlite3_step(st);
	}
	return report__finish(db, st, rc, err, cap);
}

static int collect_counts(sqlite3 *db, report *r, char *err, size_t cap)
{
	sqlite3_stmt *st = report__prepare(
	        db, "SELECT " TASK_STATE_SQL " AS s, count(*) FROM tasks GROUP BY s", err, cap);
	if (!st)
		return -1;
	int rc;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		const char *s = (const char *)sqlite3_column_text(st, 0);
		int64_t n = sqlite3_column_int64(st, 1);
		r->tasks.total += n;
		if (strcmp(s, "running") == 0)
			r->tasks.running = n;
		else if (strcmp(s, "ready") == 0)
			r->tasks.ready = n;
		else if (strcmp(s, "blocked") == 0)
			r->tasks.blocked = n;
		else if (strcmp(s, "done") == 0)
			r->tasks.done = n;
		else
			r->tasks.unknown = n;
	}
	return report__finish(db, st, rc, err, cap);
}

/* Fills w from a wait's code, object and the names joined to it. */
static void set_wait(report_wait *w, int code, int64_t obj, const char *res_name,
                     const char *task_name)
{
	char buf[64];
	w->code = code;
	w->kind = report_wait_kind(code);
	w->op = report_wait_op(code);
	const char *name = report_wait_name(code, obj, res_name, task_name, buf, sizeof(buf));
	w->name = name ? xstrdup(name) : NULL;
	if (code == TSK_WAIT_SLEEP)
		w->id = REPORT_NONE;
	else if (code == TSK_WAIT_IO && obj != REPORT_NONE)
		w->id = (int64_t)(uint32_t)obj; /* the fd */
	else
		w->id = obj;
}

/* Splits a site "file:line func" into owned location and function. */
static void set_site(const char *site, char **location, char **function)
{
	if (!site || !*site)
		return;
	size_t n = strlen(site) + 1;
	char *loc = xmalloc(n), *fn = xmalloc(n);
	ts_split_site(site, loc, n, fn, n);
	*location = *loc ? loc : (free(loc), NULL);
	*function = *fn ? fn : (free(fn), NULL);
}

void report__read_wait_cols(sqlite3_stmt *st, int c, report_wait *w, char **location,
                            char **function)
{
	int code = sqlite3_column_type(st, c) == SQLITE_NULL ? 0 : sqlite3_column_int(st, c);
	set_wait(w, code, report__col_int(st, c + 1), (const char *)sqlite3_column_text(st, c + 3),
	         (const char *)sqlite3_column_text(st, c + 4));
	set_site((const char *)sqlite3_column_text(st, c + 2), location, function);
}

/* Every blocked task (tasks.state, the last known state, as the counts),
 * with its open blocked interval: the wait, its site, label, deadline and
 * stack id.  Longest blocked first; one whose interval is missing (a
 * history that lost it) last, with an unknown wait. */
static int collect_blocked(sqlite3 *db, report *r, char *err, size_t cap)
{
	sqlite3_stmt *st = report__prepare(
	        db,
	        /* spans, not the view intervals: a join would materialise the view
	         * (spans_open finds the open span of each task) */
	        "SELECT t.id, t.name, i.stop_ns, i.deadline_ns, i.stack, l.text, " WAIT_COLS_SQL
	        " FROM tasks t"
	        " LEFT JOIN spans i ON i.task = t.id AND i.end_ns IS NULL AND i.stop_ns IS NOT NULL"
	        " LEFT JOIN strings l ON l.id = i.label" WAIT_JOINS_SQL
	        " WHERE t.state = 'blocked' AND t.ended_ns IS NULL"
	        " ORDER BY i.stop_ns IS NULL, i.stop_ns, t.id",
	        err, cap);
	if (!st)
		return -1;
	size_t capn = 0;
	int rc;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		if (r->nblocked == capn) {
			capn = capn ? 2 * capn : 64;
			r->blocked = xrealloc(r->blocked, capn * sizeof(*r->blocked));
		}
		report_task *t = &r->blocked[r->nblocked++];
		memset(t, 0, sizeof(*t));
		t->id = sqlite3_column_int64(st, 0);
		t->name = report__col_str(st, 1);
		t->since_ns = report__col_int(st, 2);
		t->deadline_ns = report__col_int(st, 3);
		if (t->deadline_ns != REPORT_NONE && t->deadline_ns < 0)
			t->deadline_ns = REPORT_NONE; /* -1: none */
		t->stack_id = report__col_int(st, 4);
		if (t->stack_id == REPORT_NONE || t->stack_id < 0)
			t->stack_id = 0;
		t->label = report__col_str(st, 5);
		report__read_wait_cols(st, 6, &t->on, &t->location, &t->function);
		if (t->since_ns != REPORT_NONE && r->process.last_ns != REPORT_NONE)
			t->blocked_ns = r->process.last_ns > t->since_ns
			                        ? r->process.last_ns - t->since_ns
			                        : 0;
		else
			t->blocked_ns = REPORT_NONE;
	}
	return report__finish(db, st, rc, err, cap);
}

/* An open ownership row: who holds which lock now. */
typedef struct holder {
	int64_t resource, task;
	int shared;
} holder;

static int holds_blocking(const report_wait *w, const holder *h)
{
	/* a reader is held up by a writer only; a writer or a mutex by anyone */
	return w->code != TSK_WAIT_RWLOCK_RD || !h->shared;
}

static int cmp_holder(const void *a, const void *b)
{
	const holder *x = a, *y = b;
	if (x->resource != y->resource)
		return x->resource < y->resource ? -1 : 1;
	return (x->task > y->task) - (x->task < y->task);
}

/* blocked_by of every blocked task: the open ownership rows of the lock it
 * waits on (mutex, rwlock), or the task it joins.
 *
 * The open rows are found by one pass over `ownership` (`+resource` keeps
 * SQLite off ownership_resource): that index leads to every acquisition
 * of a lock in the whole history, one random row read each, and a hot
 * lock has hundreds of thousands (2 s for 5k locks on a 10M-event DB,
 * against 80 ms for the pass). */
static int collect_holders(sqlite3 *db, report *r, char *err, size_t cap)
{
	idlist ids = {0};
	for (size_t i = 0; i < r->nblocked; i++) {
		report_task *t = &r->blocked[i];
		int c = t->on.code;
		if ((c == TSK_WAIT_MUTEX || c == TSK_WAIT_RWLOCK_RD || c == TSK_WAIT_RWLOCK_WR) &&
		    t->on.id != REPORT_NONE)
			report__idlist_add(&ids, t->on.id, NULL);
		if (c == TSK_WAIT_JOIN && t->on.id != REPORT_NONE) {
			t->blocked_by = xmalloc(sizeof(int64_t));
			t->blocked_by[0] = t->on.id;
			t->nblocked_by = 1;
		}
	}
	if (ids.len == 0)
		return 0;
	char *list = report__idlist_close(&ids);
	sqlite3_stmt *st = report__prepare(db,
	                                   "SELECT resource, task, shared FROM ownership"
	                                   " WHERE end_ns IS NULL AND +resource IN"
	                                   " (SELECT value FROM json_each(?1))",
	                                   err, cap);
	if (!st) {
		free(list);
		return -1;
	}
	sqlite3_bind_text(st, 1, list, -1, SQLITE_TRANSIENT);
	free(list);
	holder *hs = NULL;
	size_t n = 0, capn = 0;
	int rc;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		if (n == capn) {
			capn = capn ? 2 * capn : 16;
			hs = xrealloc(hs, capn * sizeof(*hs));
		}
		hs[n++] = (holder){sqlite3_column_int64(st, 0), sqlite3_column_int64(st, 1),
		                   sqlite3_column_int(st, 2)};
	}
	if (report__finish(db, st, rc, err, cap) < 0) {
		free(hs);
		return -1;
	}
	if (n) /* hs is NULL without any open holding */
		qsort(hs, n, sizeof(*hs), cmp_holder);
	for (size_t i = 0; i < r->nblocked; i++) {
		report_task *t = &r->blocked[i];
		if (t->on.code < TSK_WAIT_MUTEX || t->on.code > TSK_WAIT_RWLOCK_WR)
			continue;
		/* hs is sorted by resource: the first row of ours, then its run */
		size_t lo = 0, hi = n;
		while (lo < hi) {
			size_t mid = (lo + hi) / 2;
			if (hs[mid].resource < t->on.id)
				lo = mid + 1;
			else
				hi = mid;
		}
		for (size_t j = lo; j < n && hs[j].resource == t->on.id; j++) {
			if (!holds_blocking(&t->on, &hs[j]))
				continue;
			t->blocked_by = xrealloc(t->blocked_by,
			                         (t->nblocked_by + 1) * sizeof(*t->blocked_by));
			t->blocked_by[t->nblocked_by++] = hs[j].task;
		}
	}
	free(hs);
	return 0;
}

/* Reads the symbols of stack `id` into t (statement st prepared). */
int report__read_stack(sqlite3_stmt *st, int64_t id, report_task *t)
{
	size_t capn = 0;
	int rc;
	sqlite3_reset(st);
	sqlite3_bind_int64(st, 1, id);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		if (t->nstack == capn) {
			capn = capn ? 2 * capn : 16;
			t->stack = xrealloc(t->stack, capn * sizeof(*t->stack));
		}
		char pc[32];
		const char *sym = (const char *)sqlite3_column_text(st, 1);
		if (!sym) {
			snprintf(pc, sizeof(pc), "%#llx",
			         (unsigned long long)sqlite3_column_int64(st, 0));
			sym = pc;
		}
		t->stack[t->nstack++] = xstrdup(sym);
	}
	return rc;
}

static const report_task *sort_tasks; /* for cmp_stack_id (qsort has no context) */

static int cmp_stack_id(const void *a, const void *b)
{
	int64_t x = sort_tasks[*(const size_t *)a].stack_id;
	int64_t y = sort_tasks[*(const size_t *)b].stack_id;
	return (x > y) - (x < y);
}

/* The symbols of each blocked task's stack.  Many tasks wait at the same
 * place with the same stack: each distinct stack is read once, in id
 * order, and copied to the others. */
static int collect_stacks(sqlite3 *db, report *r, char *err, size_t cap)
{
	sqlite3_stmt *st = report__prepare(db,
	                                   "SELECT f.pc, s.text FROM frames f"
	                                   " LEFT JOIN strings s ON s.id = f.symbol"
	                                   " WHERE f.stack = ?1 ORDER BY f.depth",
	                                   err, cap);
	if (!st)
		return -1;
	size_t *order = xmalloc((r->nblocked + 1) * sizeof(*order));
	for (size_t i = 0; i < r->nblocked; i++)
		order[i] = i;
	sort_tasks = r->blocked;
	qsort(order, r->nblocked, sizeof(*order), cmp_stack_id);
	const report_task *prev = NULL;
	int rc = SQLITE_DONE;
	for (size_t k = 0; k < r->nblocked && rc == SQLITE_DONE; k++) {
		report_task *t = &r->blocked[order[k]];
		if (t->stack_id == 0)
			continue;
		if (prev && prev->stack_id == t->stack_id) {
			t->stack = xmalloc((prev->nstack + 1) * sizeof(*t->stack));
			for (size_t j = 0; j < prev->nstack; j++)
				t->stack[j] = xstrdup(prev->stack[j]);
			t->nstack = prev->nstack;
			continue;
		}
		rc = report__read_stack(st, t->stack_id, t);
		prev = t;
	}
	free(order);
	return report__finish(db, st, rc, err, cap);
}

static void task_fini(report_task *t)
{
	free(t->name);
	free(t->location);
	free(t->function);
	free(t->label);
	free(t->on.name);
	free(t->blocked_by);
	for (size_t i = 0; i < t->nstack; i++)
		free(t->stack[i]);
	free(t->stack);
}

void report_fini(report *r)
{
	free(r->process.name);
	free(r->process.source);
	free(r->process.segment);
	free(r->process.recorder);
	for (size_t i = 0; i < r->nblocked; i++)
		task_fini(&r->blocked[i]);
	free(r->blocked);
	for (size_t i = 0; i < r->ndeadlocks; i++) {
		for (size_t j = 0; j < r->deadlocks[i].ntasks; j++)
			task_fini(&r->deadlocks[i].tasks[j]);
		free(r->deadlocks[i].tasks);
		free(r->deadlocks[i].behind);
		free(r->deadlocks[i].text);
	}
	free(r->deadlocks);
	for (size_t i = 0; i < r->nwarnings; i++) {
		free(r->warnings[i].kind);
		free(r->warnings[i].name);
		free(r->warnings[i].detail);
	}
	free(r->warnings);
	for (size_t i = 0; i < r->nbusy; i++) {
		free(r->busy[i].name);
		free(r->busy[i].location);
		free(r->busy[i].state);
	}
	free(r->busy);
	for (size_t i = 0; i < r->nwaits; i++)
		report__slow_wait_fini(&r->waits[i]);
	free(r->waits);
	memset(r, 0, sizeof(*r));
}

int report_collect(sqlite3 *db, int top, report *r, char *err, size_t cap)
{
	memset(r, 0, sizeof(*r));
	r->top = top;
	/* one read transaction: a consistent snapshot while a recorder writes
	 * (WAL), and one lock for all the statements instead of one each */
	if (sqlite3_exec(db, "BEGIN", NULL, NULL, NULL) != SQLITE_OK) {
		snprintf(err, cap, "reading the history: %s", sqlite3_errmsg(db));
		return -1;
	}
	if (collect_process(db, r, err, cap) < 0 || collect_counts(db, r, err, cap) < 0 ||
	    collect_blocked(db, r, err, cap) < 0 || collect_holders(db, r, err, cap) < 0 ||
	    collect_stacks(db, r, err, cap) < 0 || report__collect_busy(db, r, err, cap) < 0 ||
	    report__collect_waits(db, r, err, cap) < 0 ||
	    report__collect_problems(db, r, err, cap) < 0) {
		sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
		report_fini(r);
		r->top = top;
		return -1;
	}
	sqlite3_exec(db, "COMMIT", NULL, NULL, NULL);
	return 0;
}
