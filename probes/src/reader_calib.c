/*
 * reader_calib.c - converting ring timestamps (TSC ticks) to CLOCK_MONOTONIC.
 *
 * The header holds two (tsc, mono) pairs under the calib_seq seqlock: pair
 * 0 taken at creation, pair 1 refreshed about every 100 ms.  The rate over
 * the whole interval is the most precise one available, so
 *
 *     mono(tsc) = mono0 + (tsc - tsc0) * (mono1 - mono0) / (tsc1 - tsc0)
 *
 * computed in 128 bits (an hour at 4 GHz is 1.4e13 ticks; times 3.6e12 ns
 * that is far beyond 64 bits) and saturated to int64.  Fallbacks, in order:
 * tsc_is_ns (the writer stored CLOCK_MONOTONIC ns: rate 1), a frequency
 * read from /proc/cpuinfo (pair 1 not refreshed yet: the process died in
 * its first ~100 ms), then 1 tick = 1 ns.  Every value is untrusted: a pair
 * whose deltas are not both positive is ignored.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>

#include "reader_int.h"

/* The header bytes under calib_seq: [calib_seq, cal_mono1]. */
#define CAL_OFF offsetof(tsk_seg_header, calib_seq)
#define CAL_END (offsetof(tsk_seg_header, cal_mono1) + sizeof(int64_t))
_Static_assert(CAL_OFF % 8 == 0 && (CAL_END - CAL_OFF) % 8 == 0, "calibration block alignment");

/* Parses a decimal number with an optional fraction ("2400.000"); returns
 * its value times mult, 0 if none. */
static uint64_t parse_scaled(const char *p, uint64_t mult)
{
	uint64_t whole = 0, frac = 0, div = 1;
	int digits = 0;

	while (*p == ' ' || *p == '\t')
		p++;
	for (; *p >= '0' && *p <= '9' && whole < 1000000000ULL; p++, digits++)
		whole = whole * 10 + (uint64_t)(*p - '0');
	if (*p == '.')
		for (p++; *p >= '0' && *p <= '9' && div < 1000000ULL; p++, digits++) {
			frac = frac * 10 + (uint64_t)(*p - '0');
			div *= 10;
		}
	if (digits == 0)
		return 0;
	return whole * mult + frac * mult / div;
}

uint64_t tsk_reader_calib_cpuinfo_hz(const char *text)
{
	uint64_t mhz_line = 0;
	const char *line = text;

	if (!text)
		return 0;
	while (*line) {
		const char *eol = strchr(line, '\n');
		size_t len = eol ? (size_t)(eol - line) : strlen(line);
		char buf[256];

		if (len >= sizeof(buf))
			len = sizeof(buf) - 1;
		memcpy(buf, line, len);
		buf[len] = '\0';
		/* "model name : Intel(R) Xeon(R) CPU E5-2680 v4 @ 2.40GHz": the
		 * nominal frequency, which is the TSC's on Intel parts. */
		if (strncmp(buf, "model name", 10) == 0) {
			const char *at = strrchr(buf, '@');
			if (at) {
				uint64_t ghz = parse_scaled(at + 1, 1000000000ULL);
				const char *unit = at + 1;
				while (*unit == ' ' || (*unit >= '0' && *unit <= '9') ||
				       *unit == '.')
					unit++;
				if (strncmp(unit, "GHz", 3) == 0 && ghz)
					return ghz;
				if (strncmp(unit, "MHz", 3) == 0 && ghz)
					return ghz / 1000;
			}
		}
		/* "cpu MHz : 2400.000": the current clock, a rougher estimate. */
		if (!mhz_line && strncmp(buf, "cpu MHz", 7) == 0) {
			const char *colon = strchr(buf, ':');
			if (colon)
				mhz_line = parse_scaled(colon + 1, 1000000ULL);
		}
		if (!eol)
			break;
		line = eol + 1;
	}
	return mhz_line;
}

static uint64_t cpuinfo_hz;
static pthread_once_t cpuinfo_once = PTHREAD_ONCE_INIT;

static void read_cpuinfo(void)
{
	FILE *f = fopen("/proc/cpuinfo", "re");
	char *text;
	size_t n;

	if (!f)
		return;
	text = malloc(65536);
	if (text) {
		n = fread(text, 1, 65535, f);
		text[n] = '\0';
		cpuinfo_hz = tsk_reader_calib_cpuinfo_hz(text);
		free(text);
	}
	fclose(f);
}

int tsk_reader_calib_load(tsk_reader *r, tsk_rd_calib *cal)
{
	uint8_t blk[CAL_END - CAL_OFF];
	uint64_t tsc0, tsc1;
	int64_t mono0, mono1;
	uint32_t is_ns, seq;
	int torn;

	if (!r || !cal)
		return rd__fail(-EINVAL, "invalid argument");
	torn = rd__seq_copy(&r->h->calib_seq, r->base + CAL_OFF, blk, sizeof(blk), rd__seq_tries(r),
	                    &seq);
#define CAL_FIELD(dst, f) memcpy(&(dst), blk + (offsetof(tsk_seg_header, f) - CAL_OFF), sizeof(dst))
	CAL_FIELD(is_ns, tsc_is_ns);
	CAL_FIELD(tsc0, cal_tsc0);
	CAL_FIELD(mono0, cal_mono0);
	CAL_FIELD(tsc1, cal_tsc1);
	CAL_FIELD(mono1, cal_mono1);
#undef CAL_FIELD
	memset(cal, 0, sizeof(*cal));
	cal->tsc0 = tsc0;
	cal->mono0 = mono0;
	cal->torn = (uint32_t)torn;
	if (is_ns) {
		cal->num = cal->den = 1;
		cal->source = TSK_CAL_NS;
	} else if (tsc1 > tsc0 && tsc1 - tsc0 <= (uint64_t)INT64_MAX && mono1 > mono0 &&
	           !__builtin_sub_overflow(mono1, mono0, &cal->num)) {
		cal->den = (int64_t)(tsc1 - tsc0);
		cal->source = TSK_CAL_PAIRS;
	} else {
		pthread_once(&cpuinfo_once, read_cpuinfo);
		if (cpuinfo_hz) {
			cal->num = 1000000000;
			cal->den = (int64_t)cpuinfo_hz;
			cal->source = TSK_CAL_CPUINFO;
		} else {
			cal->num = cal->den = 1;
			cal->source = TSK_CAL_GUESS;
		}
	}
	return torn;
}

int64_t tsk_reader_calib_ns(const tsk_rd_calib *cal, uint64_t tsc)
{
	__int128 d, v;
	int64_t den;

	if (!cal)
		return 0;
	den = cal->den > 0 ? cal->den : 1;
	d = (__int128)tsc - (__int128)cal->tsc0;
	/* |d| < 2^64 and |num| < 2^63: the product fits in 127 bits. */
	v = (__int128)cal->mono0 + d * cal->num / den;
	if (v > INT64_MAX)
		return INT64_MAX;
	if (v < INT64_MIN)
		return INT64_MIN;
	return (int64_t)v;
}
