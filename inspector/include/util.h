/*
 * util.h - what every taskscope command shares: messages and exit codes,
 * allocation that aborts (the program's x*alloc policy, STYLE.md),
 * parsing of durations and sizes, formatting of times, and option help.
 */
#ifndef TS_UTIL_H
#define TS_UTIL_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/* Exit codes of every command. */
enum {
	EXIT_OK = 0,
	EXIT_ERR = 1,      /* bad input, a failure */
	EXIT_USAGE = 2,    /* bad flags or arguments */
	EXIT_DEADLOCK = 3, /* report: a deadlock was found */
};

/* "taskscope CMD: message\n" on stderr.  ts_cmd names the command. */
extern const char *ts_cmd;
void ts_err(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* ts_err, then "Try 'taskscope CMD --help'." and exit(EXIT_USAGE). */
void ts_usage_err(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
/* A progress line on stderr (only when stderr is a terminal or verbose). */
extern int ts_verbose;

void *xmalloc(size_t n);
void *xcalloc(size_t n, size_t size);
void *xrealloc(void *p, size_t n);
char *xstrdup(const char *s);

/* "10", "10s", "500ms", "2m", "1h", "1d" -> ns.  Returns 0 or -1. */
int ts_parse_duration(const char *s, int64_t *ns);
/* "1000", "64k", "10M", "2G" (powers of 1024) -> bytes.  Returns 0 or -1. */
int ts_parse_size(const char *s, int64_t *bytes);
/* A pid: decimal, > 0.  Returns 0 or -1. */
int ts_parse_pid(const char *s, int *pid);

/* "1.23 s", "456 ms", "12.0 us", "800 ns" into buf. */
const char *ts_fmt_ns(int64_t ns, char *buf, size_t cap);

/* Splits a "file:line func" site string: location "file:line" and
 * function (either may be empty).  loc and fn get NUL-terminated copies. */
void ts_split_site(const char *site, char *loc, size_t loccap, char *fn, size_t fncap);

/* CLOCK_MONOTONIC ns. */
int64_t ts_mono_ns(void);

#endif /* TS_UTIL_H */
