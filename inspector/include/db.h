/*
 * db.h - the taskscope history database: schema, identity checks and
 * opening for reading.  docs/SCHEMA.md documents every table and column;
 * the DDL is in db.c and nowhere else.
 *
 * A taskscope DB is recognised by PRAGMA application_id = DB_APP_ID and
 * PRAGMA user_version = DB_SCHEMA_VERSION: a SQLite file of another program
 * (or a newer schema) is refused with a clear message, never misread.
 */
#ifndef TS_DB_H
#define TS_DB_H

#include <sqlite3.h>

#define DB_APP_ID         0x54534b31 /* "TSK1" */
#define DB_SCHEMA_VERSION 2

/* The schema, as SQL: tables (created before ingest) and indexes (built
 * at the end of a recording, or by db_build_indexes on demand). */
extern const char db_schema_tables[];
extern const char db_schema_indexes[];

/* Opens path read-only and checks it is a taskscope DB this version
 * reads: the file exists and is a SQLite database, application_id and
 * user_version match, the tables are there.  On failure returns NULL and
 * writes a one-line message (no newline) to err (cap bytes). */
sqlite3 *db_open_read(const char *path, char *err, size_t cap);

/* Creates the indexes if missing (idempotent).  Returns 0 or -1 with a
 * message in err. */
int db_build_indexes(sqlite3 *db, char *err, size_t cap);

#endif /* TS_DB_H */
