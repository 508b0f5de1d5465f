/*
 * store_retain.c - retention of the history store: max_size and max_age
 * (store_opts), applied by the writer thread after a commit.
 *
 * Only the bulk tables shrink: intervals, ownership and events.  They are
 * rowid tables appended roughly in time order (an interval or an ownership
 * is written when it closes, an event when it is read), so rowid order is
 * end-time order up to the small disorder of the collector's merge: "the
 * rows older than T" is a rowid prefix, found by a binary search over
 * rowid (O(log^2 n) row lookups, no scan, no index) and deleted as a range.
 * Rows still open (end_ns NULL) count as newest and are never deleted.
 *
 * max_age: rows whose end is more than max_age before the newest end
 * committed are deleted, checked after every commit (one lookup per table
 * when there is nothing to do).
 *
 * max_size: when the pages in use pass RETAIN_HIGH of max_size, the oldest
 * rows go, down to about RETAIN_LOW: the cut time is taken at that
 * fraction of the rowids of the largest table and applied to all three, so
 * the history keeps one start time.  Freed pages go to SQLite's free list
 * and are reused by the next inserts, so the file stops growing instead of
 * shrinking (no VACUUM: it would rewrite the whole file while recording).
 * secure_delete is off (store.c) so a delete writes only the b-tree pages
 * it changes, not zeroes over every freed page.
 *
 * store_close makes room for the indexes it builds: the rows are first cut
 * to RETAIN_INDEXED of max_size, so that the finished file fits too.
 *
 * The tables that are never deleted (tasks, resources, strings, stacks,
 * histograms) are small next to the bulk ones; if they alone pass the
 * bound, the bound cannot be kept (the bulk tables end up empty).
 */
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "store_int.h"

#define RETAIN_HIGH 0.80 /* delete when the pages in use pass this share of max_size */
#define RETAIN_LOW  0.60 /* ... down to about this share */
/* Before the indexes are built (store_close): they add about 55% to the
 * bulk tables (docs/SCHEMA.md), so the rows are cut to 60% of max_size. */
#define RETAIN_INDEXED 0.60

typedef struct bulk_table {
	const char *name;
	const char *time; /* column ordering the rows: end of the interval, time of the event */
} bulk_table;

static const bulk_table bulk[] = {
        {"spans", "end_ns"},
        {"ownership", "end_ns"},
        {"events", "ns"},
};
#define NBULK (sizeof(bulk) / sizeof(bulk[0]))

/* One row of up to two integers from sql with an optional integer
 * parameter; NULLs read as INT64_MAX (an open row counts as newest).
 * Returns 1 (a row), 0 (none) or -1 (error, in w->err). */
static int query2(store_writer *w, const char *sql, int64_t param, int64_t *a, int64_t *b)
{
	sqlite3_stmt *st;
	int rc, found = 0;

	if (sqlite3_prepare_v2(w->db, sql, -1, &st, NULL) != SQLITE_OK) {
		store__write_fail(w, "retention");
		return -1;
	}
	if (sqlite3_bind_parameter_count(st) > 0)
		sqlite3_bind_int64(st, 1, param);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		int n = sqlite3_column_count(st);
		for (int i = 0; i < n && i < 2; i++) {
			int64_t v = sqlite3_column_type(st, i) == SQLITE_NULL
			                    ? INT64_MAX
			                    : sqlite3_column_int64(st, i);
			*(i ? b : a) = v;
		}
		found = 1;
	} else if (rc != SQLITE_DONE) {
		store__write_fail(w, "retention");
		found = -1;
	}
	sqlite3_finalize(st);
	return found;
}

/* The first row at or after rowid: its rowid and time.  1, 0 or -1. */
static int row_at(store_writer *w, const bulk_table *t, int64_t rowid, int64_t *rid, int64_t *time)
{
	char sql[160];
	snprintf(sql, sizeof(sql),
	         "SELECT rowid, %s FROM %s WHERE rowid >= ? ORDER BY rowid LIMIT 1", t->time,
	         t->name);
	return query2(w, sql, rowid, rid, time);
}

static int rowid_range(store_writer *w, const bulk_table *t, int64_t *lo, int64_t *hi)
{
	char sql[96];
	snprintf(sql, sizeof(sql), "SELECT min(rowid), max(rowid) FROM %s", t->name);
	int rc = query2(w, sql, 0, lo, hi);
	if (rc > 0 && *lo == INT64_MAX) /* empty: min() is NULL */
		return 0;
	return rc;
}

/* The boundary X of table t for time cut: rows below rowid X end before
 * cut, rows from X on do not (under the near time order of the rowids).
 * X = the first rowid when nothing is older.  Returns 0 or -1. */
static int boundary(store_writer *w, const bulk_table *t, int64_t cut, int64_t *x)
{
	int64_t lo, hi, rid, time;
	int rc = rowid_range(w, t, &lo, &hi);

	*x = INT64_MIN;
	if (rc <= 0)
		return rc;
	/* invariant: every row up to lo ends before cut, no row from hi on
	 * does (lo starts below the first row, so one odd row there does not
	 * stop the search) */
	lo--;
	hi++;
	while (hi - lo > 1) {
		int64_t mid = lo + (hi - lo) / 2;
		rc = row_at(w, t, mid, &rid, &time);
		if (rc < 0)
			return -1;
		if (rc == 0 || rid >= hi || time >= cut)
			hi = mid; /* no row in [mid, rid) */
		else
			lo = rid;
	}
	*x = hi;
	return 0;
}

/* Deletes the rows of every bulk table that end before cut, in one
 * transaction.  Returns the rows deleted, or -1. */
static int64_t delete_before(store_writer *w, int64_t cut)
{
	int64_t x[NBULK], n = 0;
	char sql[96];

	if (sqlite3_exec(w->db, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK) {
		store__write_fail(w, "retention");
		return -1;
	}
	for (size_t i = 0; i < NBULK; i++) {
		if (boundary(w, &bulk[i], cut, &x[i]) < 0)
			goto fail;
		if (x[i] == INT64_MIN)
			continue; /* empty */
		snprintf(sql, sizeof(sql), "DELETE FROM %s WHERE rowid < %lld", bulk[i].name,
		         (long long)x[i]);
		if (sqlite3_exec(w->db, sql, NULL, NULL, NULL) != SQLITE_OK) {
			store__write_fail(w, "retention: deleting old rows");
			goto fail;
		}
		n += sqlite3_changes(w->db);
	}
	if (sqlite3_exec(w->db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK) {
		store__write_fail(w, "retention: committing");
		goto fail;
	}
	w->deleted += (uint64_t)n;
	return n;
fail:
	if (!sqlite3_get_autocommit(w->db))
		sqlite3_exec(w->db, "ROLLBACK", NULL, NULL, NULL);
	return -1;
}

static int retain_age(store_writer *w)
{
	int64_t cut, rid, time;

	if (w->newest_ns == INT64_MIN || w->newest_ns < INT64_MIN + w->max_age)
		return 0;
	cut = w->newest_ns - w->max_age;
	/* the common case: nothing old yet, one lookup per table */
	for (size_t i = 0; i < NBULK; i++) {
		int rc = row_at(w, &bulk[i], INT64_MIN, &rid, &time);
		if (rc < 0)
			return -1;
		if (rc > 0 && time < cut)
			return delete_before(w, cut) < 0 ? -1 : 0;
	}
	return 0;
}

static int pragma(store_writer *w, const char *sql, int64_t *v)
{
	int64_t unused;
	int rc = query2(w, sql, 0, v, &unused);
	return rc > 0 ? 0 : -1;
}

/* Deletes the oldest rows when the pages in use pass high * max_size, down
 * to about low * max_size. */
static int retain_size(store_writer *w, double high, double low)
{
	int64_t psize, pages, freep, lo, hi, big_lo = 0, big_hi = -1, rid, time;
	const bulk_table *big = NULL;

	if (pragma(w, "PRAGMA page_size", &psize) < 0 ||
	    pragma(w, "PRAGMA page_count", &pages) < 0 ||
	    pragma(w, "PRAGMA freelist_count", &freep) < 0)
		return -1;
	double used = (double)(pages - freep) * (double)psize;
	if (used <= high * (double)w->max_size)
		return 0;
	double frac = (used - low * (double)w->max_size) / used;
	/* the cut time: at frac of the rowids of the largest bulk table */
	for (size_t i = 0; i < NBULK; i++) {
		int rc = rowid_range(w, &bulk[i], &lo, &hi);
		if (rc < 0)
			return -1;
		if (rc > 0 && hi - lo > big_hi - big_lo) {
			big_lo = lo;
			big_hi = hi;
			big = &bulk[i];
		}
	}
	if (!big)
		return 0; /* nothing we may delete */
	int64_t at = big_lo + (int64_t)(frac * (double)(big_hi - big_lo + 1));
	int rc = row_at(w, big, at < big_hi ? at : big_hi, &rid, &time);
	if (rc <= 0)
		return rc;
	if (time == INT64_MAX) /* open rows from there on: cut just before them */
		time = INT64_MAX - 1;
	return delete_before(w, time) < 0 ? -1 : 0;
}

int store__retain(store_writer *w)
{
	if (w->max_age > 0 && retain_age(w) < 0)
		return -1;
	if (w->max_size > 0 && retain_size(w, RETAIN_HIGH, RETAIN_LOW) < 0)
		return -1;
	return 0;
}

int store__retain_for_indexes(store_writer *w)
{
	if (w->max_size > 0 && retain_size(w, RETAIN_INDEXED, RETAIN_INDEXED) < 0)
		return -1;
	return 0;
}

int64_t store__db_bytes(store_writer *w)
{
	struct stat sb;
	int64_t n = 0;

	if (w->in_memory) {
		int64_t psize = 0, pages = 0;
		if (pragma(w, "PRAGMA page_size", &psize) < 0 ||
		    pragma(w, "PRAGMA page_count", &pages) < 0)
			return -1;
		return psize * pages;
	}
	if (stat(w->path, &sb) == 0)
		n += sb.st_size;
	if (stat(w->wal_path, &sb) == 0)
		n += sb.st_size;
	return n;
}
