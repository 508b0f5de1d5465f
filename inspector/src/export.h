/*
 * export.h - writing a history in another tool's format.  One function
 * per format; cmd_export.c chooses.
 */
#ifndef TS_EXPORT_H
#define TS_EXPORT_H

#include <stddef.h>
#include <stdio.h>

#include <sqlite3.h>

/* Writes the history db as a Chrome Trace Event JSON document to f
 * (export_chrome.c), streaming: memory grows with the number of tasks,
 * resources and strings, not with the number of intervals.  Returns 0, or
 * -1 with a one-line message in err (f then holds a partial document). */
int export_chrome(sqlite3 *db, FILE *f, char *err, size_t cap);

#endif /* TS_EXPORT_H */
