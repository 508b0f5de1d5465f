/*
 * report_problems.c - the deadlocks and warnings of a report: what the
 * detector stored in the history (tables deadlocks, deadlock_tasks,
 * warnings; docs/DEADLOCKS.md), read back with each task's name, wait,
 * location and stack, so that a recording, a dump and a live pid (dumped
 * into memory) report the same verdicts through the same code.
 */
#include <stdlib.h>
#include <string.h>

#include "report_int.h"
#include "util.h"

/* A JSON array of integers ("[1,2]") into an owned array. */
static int64_t *parse_ids(const char *s, size_t *n)
{
	*n = 0;
	if (!s)
		return NULL;
	size_t cap = 0;
	int64_t *ids = NULL;
	for (const char *p = s; *p;) {
		char *end;
		long long v = strtoll(p, &end, 10);
		if (end == p) {
			p++;
			continue;
		}
		if (*n == cap) {
			cap = cap ? cap * 2 : 4;
			ids = xrealloc(ids, cap * sizeof(*ids));
		}
		ids[(*n)++] = v;
		p = end;
	}
	return ids;
}

static int collect_members(sqlite3 *db, sqlite3_stmt *frames, report_deadlock *d, int64_t id,
                           char *err, size_t cap)
{
	sqlite3_stmt *st = report__prepare(
	        db,
	        "SELECT i.task, t.name, i.since_ns, i.stack, i.blocked_by, " WAIT_COLS_SQL
	        " FROM (SELECT task, since_ns, stack, blocked_by, pos, wait, object AS resource,"
	        "  site FROM deadlock_tasks WHERE deadlock = ?) i"
	        " LEFT JOIN tasks t ON t.id = i.task" WAIT_JOINS_SQL " ORDER BY i.pos",
	        err, cap);
	if (!st)
		return -1;
	sqlite3_bind_int64(st, 1, id);
	size_t capn = 0;
	int rc;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		if (d->ntasks == capn) {
			capn = capn ? 2 * capn : 4;
			d->tasks = xrealloc(d->tasks, capn * sizeof(*d->tasks));
		}
		report_task *t = &d->tasks[d->ntasks++];
		memset(t, 0, sizeof(*t));
		t->id = sqlite3_column_int64(st, 0);
		t->name = report__col_str(st, 1);
		t->since_ns = report__col_int(st, 2);
		t->stack_id = report__col_int(st, 3);
		if (t->stack_id == REPORT_NONE || t->stack_id < 0)
			t->stack_id = 0;
		t->blocked_by =
		        parse_ids((const char *)sqlite3_column_text(st, 4), &t->nblocked_by);
		t->deadline_ns = REPORT_NONE; /* verdicts are about untimed waits only */
		t->blocked_ns = REPORT_NONE;
		report__read_wait_cols(st, 5, &t->on, &t->location, &t->function);
		if (t->stack_id && report__read_stack(frames, t->stack_id, t) != SQLITE_DONE) {
			snprintf(err, cap, "reading the history: %s", sqlite3_errmsg(db));
			sqlite3_finalize(st);
			return -1;
		}
	}
	return report__finish(db, st, rc, err, cap);
}

/* 1 if the history has the table (a history of this schema always has). */
static int has_table(sqlite3 *db, const char *name)
{
	sqlite3_stmt *st;
	int yes = 0;
	if (sqlite3_prepare_v2(db, "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?",
	                       -1, &st, NULL) != SQLITE_OK)
		return 0;
	sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
	yes = sqlite3_step(st) == SQLITE_ROW;
	sqlite3_finalize(st);
	return yes;
}

static int collect_deadlocks(sqlite3 *db, report *r, char *err, size_t cap)
{
	if (!has_table(db, "deadlocks"))
		return 0;
	sqlite3_stmt *st = report__prepare(
	        db,
	        "SELECT id, verdict, kind, closed_ns, found_ns, behind, text FROM deadlocks"
	        " ORDER BY id",
	        err, cap);
	if (!st)
		return -1;
	sqlite3_stmt *frames = report__prepare(
	        db,
	        "SELECT f.pc, s.text FROM frames f LEFT JOIN strings s ON s.id = f.symbol"
	        " WHERE f.stack = ? ORDER BY f.depth",
	        err, cap);
	if (!frames) {
		sqlite3_finalize(st);
		return -1;
	}
	size_t capn = 0;
	int rc;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		if (r->ndeadlocks == capn) {
			capn = capn ? 2 * capn : 4;
			r->deadlocks = xrealloc(r->deadlocks, capn * sizeof(*r->deadlocks));
		}
		report_deadlock *d = &r->deadlocks[r->ndeadlocks++];
		memset(d, 0, sizeof(*d));
		d->id = sqlite3_column_int64(st, 0);
		const char *v = (const char *)sqlite3_column_text(st, 1);
		const char *k = (const char *)sqlite3_column_text(st, 2);
		d->verdict = v && !strcmp(v, "definite") ? "definite" : "likely";
		d->kind = k && !strcmp(k, "cycle") ? "cycle" : "stall";
		d->closed_ns = report__col_int(st, 3);
		d->found_ns = report__col_int(st, 4);
		d->behind = parse_ids((const char *)sqlite3_column_text(st, 5), &d->nbehind);
		d->text = report__col_str(st, 6);
		if (collect_members(db, frames, d, d->id, err, cap) < 0) {
			sqlite3_finalize(frames);
			sqlite3_finalize(st);
			return -1;
		}
	}
	sqlite3_finalize(frames);
	return report__finish(db, st, rc, err, cap);
}

static int collect_warnings(sqlite3 *db, report *r, char *err, size_t cap)
{
	if (!has_table(db, "warnings"))
		return 0;
	sqlite3_stmt *st = report__prepare(
	        db,
	        "SELECT w.kind, w.task, t.name, w.detail, w.resource, w.count, w.value_ns,"
	        " w.first_ns FROM warnings w LEFT JOIN tasks t ON t.id = w.task"
	        " ORDER BY w.kind, w.value_ns DESC, w.task",
	        err, cap);
	if (!st)
		return -1;
	size_t capn = 0;
	int rc;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		if (r->nwarnings == capn) {
			capn = capn ? 2 * capn : 16;
			r->warnings = xrealloc(r->warnings, capn * sizeof(*r->warnings));
		}
		report_warning *w = &r->warnings[r->nwarnings++];
		memset(w, 0, sizeof(*w));
		w->kind = report__col_str(st, 0);
		w->task = report__col_int(st, 1);
		w->name = report__col_str(st, 2);
		w->detail = report__col_str(st, 3);
		w->resource = report__col_int(st, 4);
		w->count = report__col_int(st, 5);
		w->value_ns = report__col_int(st, 6);
		w->first_ns = report__col_int(st, 7);
	}
	return report__finish(db, st, rc, err, cap);
}

int report__collect_problems(sqlite3 *db, report *r, char *err, size_t cap)
{
	if (collect_deadlocks(db, r, err, cap) < 0 || collect_warnings(db, r, err, cap) < 0)
		return -1;
	return 0;
}
