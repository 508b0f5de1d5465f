/*
 * record.h - reading a process into a history: the pipeline shared by
 * record, run and dump (cmd_record.c), offered to report for a PID or a
 * segment argument.
 */
#ifndef TS_RECORD_H
#define TS_RECORD_H

#include <sqlite3.h>

#include "detect.h"

/* Dumps target (a pid, or the path of a segment file) into a private
 * in-memory database: the flight recorder's events and the live state,
 * exactly as `taskscope dump` writes them to a file, with the deadlock
 * detector's verdicts (thresholds dc; NULL: defaults).  Works on a live, a
 * stopped and a dead process.  On success *out is the database (close it
 * with sqlite3_close) and 0 is returned; on failure -1 with a one-line
 * message in err. */
int record_dump_memory(const char *target, const det_config *dc, sqlite3 **out, char *err,
                       size_t cap);

#endif /* TS_RECORD_H */
