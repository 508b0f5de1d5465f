/*
 * bench_util.h - helpers shared by the C benchmark programs (taskscope and
 * the pthreads baseline): clock, resident-memory probe, argument parsing
 * and the one output format run.sh reads.
 *
 * Every program prints exactly one line per measurement on stdout:
 *
 *     RESULT <shape> <value> <unit>
 *
 * and may print diagnostics ("INFO ...") on stderr, which run.sh keeps in
 * build/bench/logs/ but never parses.  Header-only (static functions) so
 * each bench program stays one translation unit.
 */
#ifndef BENCH_UTIL_H
#define BENCH_UTIL_H

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* Monotonic nanoseconds. */
static inline int64_t bench_now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* Prints the RESULT line run.sh parses. */
static inline void bench_result(const char *shape, double value, const char *unit)
{
	printf("RESULT %s %.2f %s\n", shape, value, unit);
	fflush(stdout);
}

/* Diagnostics on stderr, never parsed. */
__attribute__((format(printf, 1, 2))) static inline void bench_info(const char *fmt, ...)
{
	va_list ap;
	fputs("INFO ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

/* Prints a message and exits with status 1: a benchmark that went wrong
 * must not print a plausible number. */
__attribute__((format(printf, 1, 2), noreturn)) static inline void bench_die(const char *fmt, ...)
{
	va_list ap;
	fputs("bench: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(1);
}

/* Resident memory of this process, in bytes, split like the kernel does. */
typedef struct bench_rss {
	int64_t total; /* Rss: every resident page mapped by the process */
	int64_t anon;  /* Rss of anonymous memory (heaps, stacks) */
	int64_t shmem; /* Rss of shared memory (e.g. a /dev/shm segment) */
} bench_rss;

/* Reads one "Key:   N kB" line of a /proc file into bytes. */
static inline int64_t bench_proc_kb(const char *line, const char *key)
{
	size_t n = strlen(key);
	if (strncmp(line, key, n) != 0)
		return -1;
	return strtoll(line + n, NULL, 10) * 1024;
}

/* Scans one /proc file for "key: N kB" and returns N in bytes, or -1. */
static inline int64_t bench_proc_field(const char *path, const char *key)
{
	char line[256];
	int64_t v = -1;
	FILE *f = fopen(path, "r");
	if (f == NULL)
		return -1;
	while (v < 0 && fgets(line, sizeof line, f) != NULL)
		v = bench_proc_kb(line, key);
	fclose(f);
	return v;
}

/* Samples resident memory.  The total and anonymous parts come from
 * /proc/self/smaps_rollup, which walks the page tables and is exact; the
 * VmRSS of /proc/self/status comes from counters that may lag a little and
 * is only the fallback.  The shmem part always comes from status. */
static inline bench_rss bench_rss_now(void)
{
	bench_rss r;
	r.total = bench_proc_field("/proc/self/smaps_rollup", "Rss:");
	r.anon = bench_proc_field("/proc/self/smaps_rollup", "Anonymous:");
	if (r.total < 0) {
		r.total = bench_proc_field("/proc/self/status", "VmRSS:");
		r.anon = bench_proc_field("/proc/self/status", "RssAnon:");
	}
	r.shmem = bench_proc_field("/proc/self/status", "RssShmem:");
	if (r.total < 0)
		bench_die("cannot read resident memory from /proc/self");
	return r;
}

/* Parses a positive count argument, with a default when absent. */
static inline long bench_arg(int argc, char **argv, int i, long dflt)
{
	char *end;
	long v;
	if (argc <= i)
		return dflt;
	v = strtol(argv[i], &end, 10);
	if (*end != '\0' || v <= 0)
		bench_die("bad number '%s'", argv[i]);
	return v;
}

#endif /* BENCH_UTIL_H */
