/*
 * json.h - a small streaming JSON writer for the inspector's outputs
 * (report --json, export --format chrome).
 *
 * Values are written as they come, straight to a FILE: nothing is held in
 * memory but the nesting stack, so an export of ten million events costs
 * what its longest line costs.  The writer tracks where it is (in an
 * object after a key, in an array, at the top) and so places commas,
 * colons and indentation itself; the caller only says what comes next.
 *
 * Every output is valid JSON (RFC 8259) whatever the caller's bytes:
 * strings have quotes, backslashes and every control character escaped,
 * and invalid UTF-8 replaced by U+FFFD (one per maximal invalid subpart,
 * as the Unicode standard recommends); doubles that JSON cannot say (NaN,
 * infinities) become null.  Misuse (a value in an object without its key,
 * a key in an array, a mismatched end, nesting deeper than
 * JSON_MAX_DEPTH) is not written: it sets the sticky error that json_end
 * reports, so a bug shows as a failure rather than as broken output.
 *
 * Layout: containers at depth < pretty_depth put each member on its own
 * line, indented by two spaces a level; deeper ones are written compactly.
 * pretty_depth 0 writes everything on one line; a large value indents
 * everything; 2 with a top-level object holding one big array writes one
 * array element per line (the export's layout).
 */
#ifndef TS_JSON_H
#define TS_JSON_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define JSON_MAX_DEPTH 32
#define JSON_BUF       32768 /* bytes gathered before each fwrite */

/* Caller storage; set up by json_init, no teardown (it owns nothing). */
typedef struct json_w {
	FILE *f;                          /* where the text goes (not owned) */
	int depth;                        /* containers open */
	int pretty_depth;                 /* see the header */
	int err;                          /* sticky: misuse seen */
	int want_value;                   /* a key was written: its value is due */
	int done;                         /* a complete top-level value was written */
	int write_err;                    /* sticky: an fwrite failed */
	uint8_t is_obj[JSON_MAX_DEPTH];   /* per open container: 1 object, 0 array */
	uint8_t nonempty[JSON_MAX_DEPTH]; /* per open container: a member was written */
	size_t len;                       /* bytes in buf */
	char buf[JSON_BUF];               /* output not yet handed to f */
} json_w;

/* Starts a document on f (not owned, not closed).  The text is gathered in
 * w and handed to f in large writes (stdio's per-call locking costs more
 * than the JSON): until json_end (or json_flush), nothing else may write
 * to f. */
void json_init(json_w *w, FILE *f, int pretty_depth);

void json_begin_object(json_w *w);
void json_end_object(json_w *w);
void json_begin_array(json_w *w);
void json_end_array(json_w *w);

/* The key of the next member of the current object (NUL-terminated,
 * escaped like any string). */
void json_key(json_w *w, const char *key);

/* A string: NUL-terminated (NULL writes null), or n bytes (NULs in it are
 * escaped). */
void json_string(json_w *w, const char *s);
void json_stringn(json_w *w, const char *s, size_t n);

void json_int(json_w *w, int64_t v);
void json_uint(json_w *w, uint64_t v);
/* A double in the shortest form that reads back as the same value; NaN
 * and infinities write null. */
void json_double(json_w *w, double v);
/* The exact decimal v / 10^decimals (decimals 0..18), e.g. (1234567, 3)
 * writes 1234.567: nanoseconds as microseconds without rounding. */
void json_fixed(json_w *w, int64_t v, int decimals);
void json_bool(json_w *w, int v);
void json_null(json_w *w);

/* Hands what is gathered to f and flushes f.  Returns 0, or -1 on a
 * write error (sticky). */
int json_flush(json_w *w);

/* Ends the document: checks that one complete value was written, adds a
 * newline and flushes.  Returns 0, or -1 after misuse (nothing more is
 * written once it is seen) or a write error of the FILE. */
int json_end(json_w *w);

#endif /* TS_JSON_H */
