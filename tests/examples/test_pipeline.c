/*
 * test_pipeline.c - examples/pipeline.c end to end: the real program, its
 * output checked against a reference model written here.
 *
 * pipeline's output is deterministic: one record "SEQ WORDS BYTES HASH"
 * per input line (with --print) and the summary
 *     pipeline: L lines, W words, B bytes, checksum C
 * whatever the number of workers and threads.  The model below computes
 * both from the same input independently (the generated lines of --lines N
 * are rebuilt with a copy of pipeline.c's generator), so the test checks
 * the program's result, not merely that it agrees with itself: generated
 * input with several worker and thread counts, no input, --print, a file,
 * standard input from a pipe, lines straddling the 4 KiB chunks, a last
 * line without its newline.  Then the failures: a line over the 1 MiB
 * limit (exit 1, and every stage stops), an output pipe closed by its
 * reader (exit 1, no hang), a missing file (exit 1), --help
 * (exit 0) and bad usage (exit 2, the error first on stderr).  Every run
 * must leave no flight-recorder segment behind.
 *
 * The program is the build's own (ex_proc.h): sanitized in the sanitizer
 * stages, where a report makes its exit status non-zero.  The teardown
 * kills it if it still runs and removes the input file.
 */
#include <ctype.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ex_proc.h"
#include "tsk_test.h"

#define FNV_OFFSET 0xcbf29ce484222325ull
#define FNV_PRIME  0x100000001b3ull
#define MAX_LINE   (1 << 20) /* pipeline.c's longest line */

/* One test's program run and input file. */
struct pl {
	ex_proc prog;  /* the current run of pipeline */
	char path[64]; /* the input file, "" if none; removed by the teardown */
};

static int pl_setup(void **state)
{
	return ex_state_new(state, sizeof(struct pl));
}

static int pl_teardown(void **state)
{
	struct pl *t = *state;
	ex_proc_fini(&t->prog);
	if (t->path[0])
		unlink(t->path);
	free(t);
	return 0;
}

/* ---- the reference model -------------------------------------------------- */

/* What pipeline should print for an input. */
struct ref {
	uint64_t lines, words, bytes;
	uint64_t checksum; /* FNV-1a of the records, in order */
	char *records;     /* the records, when kept (malloc'd) */
	size_t len, cap;
};

static uint64_t fnv(uint64_t h, const void *data, size_t n)
{
	const unsigned char *s = data;
	for (size_t i = 0; i < n; i++)
		h = (h ^ s[i]) * FNV_PRIME;
	return h;
}

static void ref_init(struct ref *r)
{
	*r = (struct ref){.checksum = FNV_OFFSET};
}

/* One input line (without its newline): its record and the totals. */
static void ref_line(struct ref *r, const char *s, size_t len)
{
	uint64_t words = 0;
	bool in_word = false;
	char rec[128];

	for (size_t i = 0; i < len; i++) {
		bool space = isspace((unsigned char)s[i]);
		words += !space && !in_word;
		in_word = !space;
	}
	int n = snprintf(rec, sizeof(rec), "%" PRIu64 " %" PRIu64 " %zu %016" PRIx64 "\n", r->lines,
	                 words, len, fnv(FNV_OFFSET, s, len));
	r->checksum = fnv(r->checksum, rec, (size_t)n);
	r->lines++;
	r->words += words;
	r->bytes += len;
	if (r->len + (size_t)n + 1 > r->cap) {
		r->cap = (r->cap + (size_t)n + 1) * 2;
		r->records = realloc(r->records, r->cap);
		assert_non_null(r->records);
	}
	memcpy(r->records + r->len, rec, (size_t)n + 1);
	r->len += (size_t)n;
}

/* An input text: lines end at '\n'; a last one without it counts too. */
static void ref_text(struct ref *r, const char *text, size_t n)
{
	const char *end = text + n, *nl;
	while ((nl = memchr(text, '\n', (size_t)(end - text)))) {
		ref_line(r, text, (size_t)(nl - text));
		text = nl + 1;
	}
	if (text < end)
		ref_line(r, text, (size_t)(end - text));
}

/* The lines of --lines n: a copy of pipeline.c's generate_line. */
static void ref_generated(struct ref *r, long n)
{
	static const char *const vocabulary[] = {
	        "alpha", "bravo",  "charlie", "delta", "echo", "foxtrot",  "golf",  "hotel",
	        "india", "juliet", "kilo",    "lima",  "mike", "november", "oscar", "papa",
	};
	char buf[128];

	for (long i = 0; i < n; i++) {
		uint64_t x = (uint64_t)i * 0x9E3779B97F4A7C15ull + 1;
		size_t len = 0;
		for (long k = 0; k < i % 13; k++) {
			x ^= x << 13;
			x ^= x >> 7;
			x ^= x << 17;
			const char *w = vocabulary[x % 16];
			if (k > 0)
				buf[len++] = ' ';
			memcpy(buf + len, w, strlen(w));
			len += strlen(w);
		}
		ref_line(r, buf, len);
	}
}

/* The summary line pipeline prints last. */
static void ref_summary(const struct ref *r, char *buf, size_t size)
{
	snprintf(buf, size,
	         "pipeline: %" PRIu64 " lines, %" PRIu64 " words, %" PRIu64
	         " bytes, checksum %016" PRIx64 "\n",
	         r->lines, r->words, r->bytes, r->checksum);
}

/* ---- running it ------------------------------------------------------------- */

/* Runs pipeline with args and stdin in_fd (< 0: /dev/null) to its exit. */
static void pl_run(struct pl *t, const char *const *args, int in_fd)
{
	ex_proc_fini(&t->prog);
	assert_int_equal(ex_proc_start_io(&t->prog, "pipeline", args, in_fd, -1), 0);
	if (ex_proc_wait(&t->prog, ex_ms(30000)) < 0)
		ex_proc_dump(&t->prog);
	assert_true(t->prog.reaped);
	assert_false(ex_proc_has_segment(&t->prog));
}

/* It exited 0 and printed exactly `want' on stdout, nothing on stderr. */
static void expect_output(struct pl *t, const char *want)
{
	assert_true(ex_proc_exited_with(&t->prog, 0));
	const char *out = ex_proc_stdout(&t->prog);
	if (strcmp(out, want) != 0) {
		size_t i = 0;
		while (out[i] && out[i] == want[i])
			i++;
		fprintf(stderr, "stdout differs at byte %zu; expected \"%.80s\"\n", i, want + i);
		ex_proc_dump(&t->prog);
		fail();
	}
	assert_string_equal(ex_proc_stderr(&t->prog), "");
}

/* Writes text[0..n) to a new temporary file, t->path. */
static void pl_input_file(struct pl *t, const char *text, size_t n)
{
	const char *dir = getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
	snprintf(t->path, sizeof(t->path), "%s/tsk-pipeline-XXXXXX", dir);
	int fd = mkstemp(t->path);
	if (fd < 0)
		t->path[0] = '\0';
	assert_true(fd >= 0);
	bool ok = write(fd, text, n) == (ssize_t)n;
	close(fd);
	assert_true(ok);
}

/* A text with what a line splitter gets wrong: empty lines, runs of
 * blanks and tabs, a carriage return, lines longer than a 4 KiB chunk,
 * and no newline at the end.  Under 64 KiB, to fit a pipe.  Owned by the
 * caller (free). */
static char *tricky_text(size_t *n)
{
	size_t cap = 32768, len = 0;
	char *s = malloc(cap);
	assert_non_null(s);
	len += (size_t)sprintf(s + len, "one\n\n  two   words \n\tand\ttabs\t\nwindows\r\n\n");
	for (int i = 0; i < 1500; i++) /* 4500 bytes: across a chunk boundary */
		len += (size_t)sprintf(s + len, "ab ");
	s[len++] = '\n';
	memset(s + len, 'z', 9000); /* one word over three chunks */
	len += 9000;
	len += (size_t)sprintf(s + len, "\nlast line, no newline");
	*n = len;
	return s;
}

/* ---- tests ------------------------------------------------------------------ */

/* The same summary whatever the workers and threads. */
static void test_generated(void **state)
{
	static const char *const runs[][2] = {{"4", "2"}, {"1", "1"}, {"16", "2"}};
	struct pl *t = *state;
	long nlines = tsk_test_scale(100000);
	char lines[32], want[160];
	struct ref r;

	if (nlines < 1000)
		nlines = 1000;
	ref_init(&r);
	ref_generated(&r, nlines);
	ref_summary(&r, want, sizeof(want));
	free(r.records);
	snprintf(lines, sizeof(lines), "%ld", nlines);
	for (size_t i = 0; i < sizeof(runs) / sizeof(runs[0]); i++) {
		const char *args[] = {"--lines",   lines,      "--workers", runs[i][0],
		                      "--threads", runs[i][1], NULL};
		pl_run(t, args, -1);
		expect_output(t, want);
	}
}

static void test_no_lines(void **state)
{
	struct pl *t = *state;
	const char *args[] = {"--lines", "0", NULL};

	pl_run(t, args, -1);
	expect_output(t, "pipeline: 0 lines, 0 words, 0 bytes, checksum cbf29ce484222325\n");
}

/* --print: every record in input order, then the summary. */
static void test_print(void **state)
{
	struct pl *t = *state;
	const char *args[] = {"--print", "--lines", "300", "--workers", "3", NULL};
	char summary[160];
	struct ref r;

	ref_init(&r);
	ref_generated(&r, 300);
	ref_summary(&r, summary, sizeof(summary));
	char *want = malloc(r.len + sizeof(summary));
	assert_non_null(want);
	memcpy(want, r.records, r.len);
	strcpy(want + r.len, summary);
	free(r.records);
	pl_run(t, args, -1);
	expect_output(t, want);
	free(want);
}

static void test_file_input(void **state)
{
	struct pl *t = *state;
	char want[160];
	size_t n;
	char *text = tricky_text(&n);
	struct ref r;

	ref_init(&r);
	ref_text(&r, text, n);
	ref_summary(&r, want, sizeof(want));
	free(r.records);
	pl_input_file(t, text, n);
	free(text);
	const char *args[] = {"--workers", "2", t->path, NULL};
	pl_run(t, args, -1);
	expect_output(t, want);
}

/* Standard input from a pipe ("-"), with the records printed. */
static void test_stdin_pipe(void **state)
{
	struct pl *t = *state;
	const char *args[] = {"--print", "-", NULL};
	char summary[160];
	int fds[2];
	size_t n;
	char *text = tricky_text(&n);
	struct ref r;

	ref_init(&r);
	ref_text(&r, text, n);
	ref_summary(&r, summary, sizeof(summary));
	assert_int_equal(pipe2(fds, O_CLOEXEC), 0);
	bool ok = write(fds[1], text, n) == (ssize_t)n; /* fits the pipe */
	close(fds[1]);
	free(text);
	if (ok)
		pl_run(t, args, fds[0]);
	close(fds[0]);
	assert_true(ok);
	char *want = malloc(r.len + sizeof(summary));
	assert_non_null(want);
	memcpy(want, r.records, r.len);
	strcpy(want + r.len, summary);
	free(r.records);
	expect_output(t, want);
	free(want);
}

/* A line over the limit: the error, exit 1, and every stage stops. */
static void test_line_too_long(void **state)
{
	struct pl *t = *state;
	size_t n = MAX_LINE + 4096;
	char *text = malloc(n);

	assert_non_null(text);
	memcpy(text, "short\n", 6);
	memset(text + 6, 'x', n - 6);
	pl_input_file(t, text, n);
	free(text);
	const char *args[] = {t->path, NULL};
	pl_run(t, args, -1);
	assert_true(ex_proc_exited_with(&t->prog, 1));
	assert_string_equal(ex_proc_stderr(&t->prog),
	                    "pipeline: read a line longer than 1 MiB: Message too long\n");
	assert_string_equal(ex_proc_stdout(&t->prog), "");
}

/* --print into a pipe whose reader goes away: the writer's error, exit 1,
 * and the stages before it stop too (no hang). */
static void test_output_closed(void **state)
{
	struct pl *t = *state;
	const char *args[] = {"--print", "--lines", "100000000", NULL};
	char first[64];
	int fds[2];

	assert_int_equal(pipe2(fds, O_CLOEXEC), 0);
	int rc = ex_proc_start_io(&t->prog, "pipeline", args, -1, fds[1]);
	close(fds[1]);
	ssize_t n = rc == 0 ? read(fds[0], first, sizeof(first)) : -1;
	close(fds[0]); /* its next write gets EPIPE */
	assert_int_equal(rc, 0);
	static const char rec0[] = "0 0 0 cbf29ce484222325\n"; /* the first record */
	assert_true(n > 0);
	assert_memory_equal(first, rec0, (size_t)n < strlen(rec0) ? (size_t)n : strlen(rec0));
	assert_int_equal(ex_proc_wait(&t->prog, ex_ms(10000)), 0);
	assert_true(ex_proc_exited_with(&t->prog, 1));
	assert_string_equal(ex_proc_stderr(&t->prog), "pipeline: write the records: Broken pipe\n");
	assert_false(ex_proc_has_segment(&t->prog));
}

static void test_missing_input(void **state)
{
	struct pl *t = *state;
	const char *args[] = {"/nonexistent/tsk-input", NULL};

	pl_run(t, args, -1);
	assert_true(ex_proc_exited_with(&t->prog, 1));
	assert_string_equal(ex_proc_stderr(&t->prog),
	                    "pipeline: /nonexistent/tsk-input: No such file or directory\n");
	assert_string_equal(ex_proc_stdout(&t->prog), "");
}

static void test_help(void **state)
{
	static const char *const flags[] = {"--help", "-h"};
	struct pl *t = *state;

	for (size_t i = 0; i < 2; i++) {
		const char *args[] = {flags[i], NULL};
		pl_run(t, args, -1);
		assert_true(ex_proc_exited_with(&t->prog, 0));
		const char *out = ex_proc_stdout(&t->prog);
		assert_true(strncmp(out, "usage: pipeline [--workers N] [--threads N]", 43) == 0);
		assert_non_null(strstr(out, "Exit status:"));
		assert_string_equal(ex_proc_stderr(&t->prog), "");
	}
}

/* Exit status 2, nothing on stdout; stderr says what is wrong first, then
 * how to use it. */
static void test_bad_usage(void **state)
{
	static const char *const cases[][4] = {
	        {"--bogus", NULL},        {"--workers", "0", NULL},    {"--workers", "257", NULL},
	        {"--threads", "x", NULL}, {"--lines", "-1", NULL},     {"--lines", NULL},
	        {"a", "b", NULL},         {"--lines", "5", "-", NULL},
	};
	struct pl *t = *state;

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		pl_run(t, cases[i], -1);
		assert_true(ex_proc_exited_with(&t->prog, 2));
		assert_string_equal(ex_proc_stdout(&t->prog), "");
		const char *err = ex_proc_stderr(&t->prog);
		const char *nl = strchr(err, '\n');
		if (strncmp(err, "pipeline: ", 10) != 0 || !nl ||
		    strncmp(nl + 1, "usage: pipeline ", 16) != 0) {
			fprintf(stderr, "case %zu (%s): \"%s\"\n", i, cases[i][0], err);
			fail();
		}
		if (i == 0)
			assert_true(strncmp(err, "pipeline: unknown option '--bogus'\n", 35) == 0);
	}
}

#define PL_TEST(f) cmocka_unit_test_setup_teardown(f, pl_setup, pl_teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
	        PL_TEST(test_generated),     PL_TEST(test_no_lines),
	        PL_TEST(test_print),         PL_TEST(test_file_input),
	        PL_TEST(test_stdin_pipe),    PL_TEST(test_line_too_long),
	        PL_TEST(test_output_closed), PL_TEST(test_missing_input),
	        PL_TEST(test_help),          PL_TEST(test_bad_usage),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
