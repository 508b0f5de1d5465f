/*
 * report_int.h - what the files of the report share privately: the SQL
 * fragments every query uses and the helpers that read statements into a
 * report (report_collect.c), and the rankings (report_rank.c).
 */
#ifndef TS_REPORT_INT_H
#define TS_REPORT_INT_H

#include "report.h"

/* The state of a task as counted: ended tasks are done whatever the last
 * state row says; anything unexpected is unknown. */
#define TASK_STATE_SQL                                                                             \
	"CASE WHEN ended_ns IS NOT NULL OR state = 'done' THEN 'done'"                             \
	" WHEN state IN ('running', 'ready', 'blocked') THEN state ELSE 'unknown' END"

/* The wait columns every query below selects, after its own: wait code,
 * object, site text, resource name (resource waits), joined task's name. */
#define WAIT_COLS_SQL "i.wait, i.resource, st.text, r.name, jt.name"
#define WAIT_JOINS_SQL                                                                             \
	" LEFT JOIN strings st ON st.id = i.site"                                                  \
	" LEFT JOIN resources r ON r.id = i.resource AND i.wait BETWEEN 3 AND 11"                  \
	" LEFT JOIN tasks jt ON jt.id = i.resource AND i.wait = 2"

/* A statement's column as an owned string (NULL for NULL). */
char *report__col_str(sqlite3_stmt *st, int i);
/* A statement's column as an integer (REPORT_NONE for NULL). */
int64_t report__col_int(sqlite3_stmt *st, int i);
/* Prepares sql; on failure writes the message to err and returns NULL. */
sqlite3_stmt *report__prepare(sqlite3 *db, const char *sql, char *err, size_t cap);
/* Finalizes st after a step loop that ended with rc: 0 if it was
 * SQLITE_DONE, else -1 with the message in err. */
int report__finish(sqlite3 *db, sqlite3_stmt *st, int rc, char *err, size_t cap);
/* Reads the WAIT_COLS_SQL columns starting at column c into w and the
 * site's owned location and function. */
void report__read_wait_cols(sqlite3_stmt *st, int c, report_wait *w, char **location,
                            char **function);

/* A JSON array built as text, to bind a list of ids to one statement
 * (json_each): zero-initialised, grown by idlist_add (the number a, or the
 * pair [a, *b] when b is not NULL), ended by idlist_close which hands back
 * the owned text. */
typedef struct idlist {
	char *s;
	size_t len, cap;
} idlist;
void report__idlist_add(idlist *l, int64_t a, const int64_t *b);
char *report__idlist_close(idlist *l);

/* The rankings (report_rank.c): r->busy and r->waits, after the blocked
 * tasks are known.  0, or -1 with a message in err. */
int report__collect_busy(sqlite3 *db, report *r, char *err, size_t cap);
int report__collect_waits(sqlite3 *db, report *r, char *err, size_t cap);
void report__slow_wait_fini(report_slow_wait *w);

/* The symbols of stack id into t->stack (st: SELECT pc, symbol ... WHERE
 * stack = ?); returns the last sqlite3_step code (SQLITE_DONE). */
int report__read_stack(sqlite3_stmt *st, int64_t id, report_task *t);

/* r->deadlocks and r->warnings from the detector's tables
 * (report_problems.c). */
int report__collect_problems(sqlite3 *db, report *r, char *err, size_t cap);

#endif /* TS_REPORT_INT_H */
