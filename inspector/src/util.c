/*
 * util.c - messages, aborting allocation, parsing of durations, sizes and
 * pids, and time formatting for every taskscope command (util.h).
 */
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "util.h"

const char *ts_cmd = "taskscope";
int ts_verbose;

static void vmsg(const char *fmt, va_list ap)
{
	char buf[1024];
	vsnprintf(buf, sizeof(buf), fmt, ap);
	if (strcmp(ts_cmd, "taskscope") == 0)
		fprintf(stderr, "taskscope: %s\n", buf);
	else
		fprintf(stderr, "taskscope %s: %s\n", ts_cmd, buf);
}

void ts_err(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vmsg(fmt, ap);
	va_end(ap);
}

void ts_usage_err(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vmsg(fmt, ap);
	va_end(ap);
	if (strcmp(ts_cmd, "taskscope") == 0)
		fprintf(stderr, "Try 'taskscope --help'.\n");
	else
		fprintf(stderr, "Try 'taskscope %s --help'.\n", ts_cmd);
	exit(EXIT_USAGE);
}

static void oom(size_t n)
{
	fprintf(stderr, "taskscope: out of memory (%zu bytes)\n", n);
	abort();
}

void *xmalloc(size_t n)
{
	void *p = malloc(n ? n : 1);
	if (!p)
		oom(n);
	return p;
}

void *xcalloc(size_t n, size_t size)
{
	void *p = calloc(n ? n : 1, size ? size : 1);
	if (!p)
		oom(n * size);
	return p;
}

void *xrealloc(void *p, size_t n)
{
	void *q = realloc(p, n ? n : 1);
	if (!q)
		oom(n);
	return q;
}

char *xstrdup(const char *s)
{
	size_t n = strlen(s) + 1;
	return memcpy(xmalloc(n), s, n);
}

/* A decimal number (with an optional fraction) and its unit suffix. */
static int parse_num_unit(const char *s, double *val, const char **unit)
{
	if (!s || !*s || isspace((unsigned char)*s) || *s == '-' || *s == '+')
		return -1;
	char *end;
	errno = 0;
	double v = strtod(s, &end);
	if (errno || end == s || v < 0 || v != v)
		return -1;
	*val = v;
	*unit = end;
	return 0;
}

int ts_parse_duration(const char *s, int64_t *ns)
{
	static const struct {
		const char *unit;
		double mult;
	} units[] = {{"", 1e9},   {"s", 1e9},    {"ms", 1e6},   {"us", 1e3},  {"ns", 1},
	             {"m", 60e9}, {"min", 60e9}, {"h", 3600e9}, {"d", 864e11}};
	double v;
	const char *unit;
	if (parse_num_unit(s, &v, &unit) < 0)
		return -1;
	for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
		if (strcmp(unit, units[i].unit) == 0) {
			double r = v * units[i].mult;
			if (r >= 9.2e18)
				return -1;
			*ns = (int64_t)r;
			return 0;
		}
	}
	return -1;
}

int ts_parse_size(const char *s, int64_t *bytes)
{
	double v;
	const char *unit;
	if (parse_num_unit(s, &v, &unit) < 0)
		return -1;
	double mult;
	if (!*unit || strcmp(unit, "B") == 0)
		mult = 1;
	else if (strchr("kK", *unit) &&
	         (!unit[1] || strcmp(unit + 1, "B") == 0 || strcmp(unit + 1, "iB") == 0))
		mult = 1024.0;
	else if (*unit == 'M' &&
	         (!unit[1] || strcmp(unit + 1, "B") == 0 || strcmp(unit + 1, "iB") == 0))
		mult = 1024.0 * 1024;
	else if (*unit == 'G' &&
	         (!unit[1] || strcmp(unit + 1, "B") == 0 || strcmp(unit + 1, "iB") == 0))
		mult = 1024.0 * 1024 * 1024;
	else if (*unit == 'T' &&
	         (!unit[1] || strcmp(unit + 1, "B") == 0 || strcmp(unit + 1, "iB") == 0))
		mult = 1024.0 * 1024 * 1024 * 1024;
	else
		return -1;
	double r = v * mult;
	if (r >= 9.2e18)
		return -1;
	*bytes = (int64_t)r;
	return 0;
}

int ts_parse_pid(const char *s, int *pid)
{
	if (!s || !*s)
		return -1;
	for (const char *p = s; *p; p++)
		if (!isdigit((unsigned char)*p))
			return -1;
	errno = 0;
	long v = strtol(s, NULL, 10);
	if (errno || v <= 0 || v > INT_MAX)
		return -1;
	*pid = (int)v;
	return 0;
}

const char *ts_fmt_ns(int64_t ns, char *buf, size_t cap)
{
	double v = (double)ns;
	double a = v < 0 ? -v : v;
	if (a >= 1e9)
		snprintf(buf, cap, "%.2f s", v / 1e9);
	else if (a >= 1e6)
		snprintf(buf, cap, "%.2f ms", v / 1e6);
	else if (a >= 1e3)
		snprintf(buf, cap, "%.1f us", v / 1e3);
	else
		snprintf(buf, cap, "%" PRId64 " ns", ns);
	return buf;
}

void ts_split_site(const char *site, char *loc, size_t loccap, char *fn, size_t fncap)
{
	const char *sp = site ? strchr(site, ' ') : NULL;
	size_t n = site ? (sp ? (size_t)(sp - site) : strlen(site)) : 0;
	if (loccap) {
		size_t k = n < loccap - 1 ? n : loccap - 1;
		memcpy(loc, site ? site : "", k);
		loc[k] = 0;
	}
	if (fncap)
		snprintf(fn, fncap, "%s", sp ? sp + 1 : "");
}

int64_t ts_mono_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}
