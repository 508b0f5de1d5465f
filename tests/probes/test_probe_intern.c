/*
 * test_probe_intern.c - string interning in probe.c (probe_str): the
 * writer's private intern index in front of the segment's append-only
 * string table.
 *
 * What must hold, however many distinct strings a program interns (one per
 * task name: 100k tasks named "worker-N" is an ordinary program):
 *   - each intern stays O(1): the index slots examined per lookup, counted
 *     by the probe__intern_stats hook (not timed), stay a small constant
 *     on average; a fixed-size index once made them grow to tens of
 *     thousands past half full, and a program of 100k tasks took 25 s to
 *     start instead of under a second;
 *   - every string gets an id (none is refused while the table has room)
 *     and reads back, byte for byte, through the reader library;
 *   - dedup: interning a string again returns its first id, both for
 *     strings interned early (before the index first passed half full) and
 *     late, and stores no new bytes (str_used unchanged).
 * The test makes the process's segment itself (probe_runtime_start: no
 * runtime needed, so it runs in PROBES=0 builds too, whose library still
 * holds the writer) and checks nothing is left unindexed.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tsk_probe.h"
#include "tsk_reader.h"
#include "tsk_test.h"

#define NSTR       100000 /* distinct strings: past half of the old fixed index (65536) */
#define EARLY      1000   /* the first ones, interned while the index is small */
#define MAX_PROBES 4.0    /* slots examined per lookup, on average (expected 1.5-2.5) */

/* The i-th test string, into buf (32 bytes). */
static const char *str_at(char *buf, long i)
{
	snprintf(buf, 32, "intern-%ld", i);
	return buf;
}

static double per_lookup(const probe_intern_stats *a, const probe_intern_stats *b)
{
	uint64_t lookups = b->lookups - a->lookups;

	return lookups ? (double)(b->probes - a->probes) / (double)lookups : 0;
}

static void test_many_distinct(void **state)
{
	uint32_t *ids = calloc(NSTR, sizeof(*ids));
	probe_intern_stats s0, s1, s2;
	char buf[32], back[64];
	tsk_reader *r = NULL;

	(void)state;
	assert_non_null(ids);
	unsetenv("TASKSCOPE");
	assert_int_equal(probe_runtime_start(1), 0);
	assert_non_null(probe__hdr);
	uint64_t overflow0 = atomic_load(&probe__hdr->str_overflow);

	/* every string new: each one a lookup that misses, then an insert */
	probe__intern_stats(&s0);
	for (long i = 0; i < NSTR; i++) {
		ids[i] = probe_str(str_at(buf, i));
		if (ids[i] == 0)
			fail_msg("string %ld got no id", i);
	}
	probe__intern_stats(&s1);
	print_message("  %d distinct strings: %.2f slots per lookup, index %u of %u slots, "
	              "%llu doublings\n",
	              NSTR, per_lookup(&s0, &s1), s1.entries, s1.cap,
	              (unsigned long long)(s1.grows - s0.grows));
	assert_int_equal(s1.lookups - s0.lookups, NSTR);
	assert_true(per_lookup(&s0, &s1) < MAX_PROBES);
	assert_int_equal(s1.entries - s0.entries, NSTR);
	assert_true(s1.entries <= s1.cap / 2);
	assert_int_equal(s1.unindexed, 0);
	assert_int_equal(atomic_load(&probe__hdr->str_overflow), overflow0);

	/* again: the same ids, no new bytes; the early ones first */
	uint64_t used = atomic_load(&probe__hdr->str_used);
	for (long i = 0; i < NSTR; i++)
		if (probe_str(str_at(buf, i)) != ids[i])
			fail_msg("string %ld interned again got another id", i);
	probe__intern_stats(&s2);
	print_message("  interned again: %.2f slots per lookup\n", per_lookup(&s1, &s2));
	assert_true(per_lookup(&s1, &s2) < MAX_PROBES);
	assert_int_equal(atomic_load(&probe__hdr->str_used), used);
	assert_int_equal(s2.entries, s1.entries);
	for (long i = 0; i + 1 < EARLY; i++)
		assert_true(ids[i] != ids[i + 1]);

	/* what a reader sees under those ids */
	assert_int_equal(tsk_reader_open_pid(getpid(), 0, &r), 0);
	for (long i = 0; i < NSTR; i++) {
		assert_true(tsk_reader_string(r, ids[i], back, sizeof(back)) > 0);
		if (strcmp(back, str_at(buf, i)) != 0)
			fail_msg("id %u reads \"%s\", not \"%s\"", ids[i], back, buf);
	}
	tsk_reader_close(r);
	probe_runtime_stop();
	free(ids);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_many_distinct),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
