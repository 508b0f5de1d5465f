/*
 * test_json.c - tests of the streaming JSON writer (inspector/src/json.c).
 *
 * Exact output for every scalar (integer extremes, exact decimals,
 * shortest doubles, NaN and infinities as null), string escaping (quotes,
 * backslashes, every control byte, DEL, NUL inside a counted string), the
 * replacement of ill-formed UTF-8 (one U+FFFD per maximal subpart: stray
 * continuation bytes, C0/C1/F5+ leads, overlongs, surrogates, values past
 * U+10FFFF, sequences cut short) while well-formed text passes untouched,
 * then random byte strings checked by an independent UTF-8 decoder and by
 * jq; the layout (separators, indentation up to pretty_depth, compact
 * below, empty containers); misuse (sticky error, nothing more written);
 * a write error (/dev/full).
 */
#include <math.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <setjmp.h>
#include <cmocka.h>

#include "json.h"

typedef struct sink {
	FILE *f;
	char *buf;
	size_t len;
	json_w w;
} sink;

static void sink_open(sink *s, int pretty_depth)
{
	s->buf = NULL;
	s->len = 0;
	s->f = open_memstream(&s->buf, &s->len);
	assert_non_null(s->f);
	json_init(&s->w, s->f, pretty_depth);
}

/* Ends the document; returns json_end's result, the text in s->buf. */
static int sink_close(sink *s)
{
	int rc = json_end(&s->w);
	fclose(s->f);
	return rc;
}

/* The JSON of one string of n bytes, without the final newline (free). */
static char *string_json(const char *str, size_t n)
{
	sink s;
	sink_open(&s, 0);
	json_stringn(&s.w, str, n);
	assert_int_equal(sink_close(&s), 0);
	assert_true(s.len > 0 && s.buf[s.len - 1] == '\n');
	s.buf[s.len - 1] = 0;
	return s.buf;
}

#define EXPECT_STRING(in, want)                                                                    \
	do {                                                                                       \
		char *got_ = string_json(in, sizeof(in) - 1);                                      \
		assert_string_equal(got_, want);                                                   \
		free(got_);                                                                        \
	} while (0)

static void test_escapes(void **state)
{
	(void)state;
	EXPECT_STRING("", "\"\"");
	EXPECT_STRING("plain text 123 /", "\"plain text 123 /\"");
	EXPECT_STRING("a\"b\\c", "\"a\\\"b\\\\c\"");
	EXPECT_STRING("\b\f\n\r\t", "\"\\b\\f\\n\\r\\t\"");
	EXPECT_STRING("\x01\x1f\x7f", "\"\\u0001\\u001f\\u007f\"");
	EXPECT_STRING("a\0b", "\"a\\u0000b\"");
	/* every control byte is escaped, nothing below 0x20 is left raw */
	for (int c = 0; c < 0x20; c++) {
		char in[1] = {(char)c};
		char *got = string_json(in, 1);
		assert_int_equal(got[0], '"');
		assert_int_equal(got[1], '\\');
		for (char *p = got; *p; p++)
			assert_true((unsigned char)*p >= 0x20);
		free(got);
	}
	/* a NUL-terminated string stops at its NUL; NULL is null */
	sink s;
	sink_open(&s, 0);
	json_begin_array(&s.w);
	json_string(&s.w, "ab\0cd");
	json_string(&s.w, NULL);
	json_end_array(&s.w);
	assert_int_equal(sink_close(&s), 0);
	assert_string_equal(s.buf, "[\"ab\",null]\n");
	free(s.buf);
}

#define FFFD "\xef\xbf\xbd"

static void test_utf8(void **state)
{
	(void)state;
	/* well-formed: untouched, boundaries of each length included */
	EXPECT_STRING("\xc3\xa9t\xc3\xa9", "\"\xc3\xa9t\xc3\xa9\"");
	EXPECT_STRING("\xc2\x80\xdf\xbf", "\"\xc2\x80\xdf\xbf\"");
	EXPECT_STRING("\xe0\xa0\x80\xef\xbf\xbf", "\"\xe0\xa0\x80\xef\xbf\xbf\"");
	EXPECT_STRING("\xed\x9f\xbf\xee\x80\x80", "\"\xed\x9f\xbf\xee\x80\x80\"");
	EXPECT_STRING("\xf0\x90\x80\x80\xf4\x8f\xbf\xbf", "\"\xf0\x90\x80\x80\xf4\x8f\xbf\xbf\"");
	EXPECT_STRING("\xf0\x9f\x98\x80", "\"\xf0\x9f\x98\x80\"");
	/* ill-formed: one U+FFFD per maximal subpart */
	EXPECT_STRING("\x80", "\"" FFFD "\"");
	EXPECT_STRING("a\xbf\x80z", "\"a" FFFD FFFD "z\"");
	EXPECT_STRING("\xc0\xaf", "\"" FFFD FFFD "\"");                   /* overlong '/' */
	EXPECT_STRING("\xc1\xbf", "\"" FFFD FFFD "\"");                   /* C1 never leads */
	EXPECT_STRING("\xe0\x80\xaf", "\"" FFFD FFFD FFFD "\"");          /* overlong, 3 bytes */
	EXPECT_STRING("\xed\xa0\x80", "\"" FFFD FFFD FFFD "\"");          /* a surrogate */
	EXPECT_STRING("\xf4\x90\x80\x80", "\"" FFFD FFFD FFFD FFFD "\""); /* > U+10FFFF */
	EXPECT_STRING("\xf5\x80", "\"" FFFD FFFD "\"");
	EXPECT_STRING("\xff\xfe", "\"" FFFD FFFD "\"");
	EXPECT_STRING("\xc3", "\"" FFFD "\"");     /* cut at the end */
	EXPECT_STRING("\xe2\x82", "\"" FFFD "\""); /* one subpart, two bytes */
	EXPECT_STRING("\xf0\x9f\x98"
	              "A",
	              "\"" FFFD "A\"");                                /* cut before ASCII */
	EXPECT_STRING("\xe2\x82\"", "\"" FFFD "\\\"\"");               /* cut before a quote */
	EXPECT_STRING("\xe2\xe2\x82\xac", "\"" FFFD "\xe2\x82\xac\""); /* then a good one */
}

/* An independent check: s (n bytes) is well-formed UTF-8 and holds no raw
 * control byte.  Decodes the code point and checks its range, rather than
 * json.c's byte table. */
static int valid_json_text(const unsigned char *s, size_t n)
{
	for (size_t i = 0; i < n;) {
		unsigned c = s[i];
		if (c < 0x80) {
			if (c < 0x20 && c != '\n')
				return 0;
			i++;
			continue;
		}
		int len = c >= 0xf0 ? 4 : c >= 0xe0 ? 3 : c >= 0xc0 ? 2 : 0;
		if (!len || c > 0xf7 || i + (size_t)len > n)
			return 0;
		uint32_t cp = c & (0x7f >> len);
		for (int k = 1; k < len; k++) {
			if ((s[i + k] & 0xc0) != 0x80)
				return 0;
			cp = cp << 6 | (s[i + k] & 0x3f);
		}
		static const uint32_t min[] = {0, 0, 0x80, 0x800, 0x10000};
		if (cp < min[len] || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
			return 0;
		i += (size_t)len;
	}
	return 1;
}

static void test_utf8_random(void **state)
{
	char path[] = "/tmp/tsk-json-XXXXXX";
	int fd = mkstemp(path);
	FILE *f = fdopen(fd, "w");
	json_w w;
	unsigned seed = 12345;
	const int nstrings = 2000;

	(void)state;
	assert_non_null(f);
	json_init(&w, f, 1);
	json_begin_array(&w);
	for (int i = 0; i < nstrings; i++) {
		unsigned char in[24];
		size_t n = (size_t)(rand_r(&seed) % (int)sizeof(in));
		for (size_t k = 0; k < n; k++) {
			/* biased to the interesting bytes: leads, continuations, specials */
			static const unsigned char pick[] = {0x80, 0xbf, 0xc2, 0xdf, 0xe0, 0xed,
			                                     0xef, 0xf0, 0xf4, 0xf5, 0xff, '"',
			                                     '\\', 0x00, 0x1f, 0x7f};
			in[k] = rand_r(&seed) % 2 ? pick[rand_r(&seed) % (int)sizeof(pick)]
			                          : (unsigned char)rand_r(&seed);
		}
		char *one = string_json((const char *)in, n);
		assert_true(valid_json_text((unsigned char *)one, strlen(one)));
		free(one);
		json_stringn(&w, (const char *)in, n);
	}
	json_end_array(&w);
	assert_int_equal(json_end(&w), 0);
	fclose(f);

	/* jq parses the whole array and counts every string */
	char cmd[128], out[64] = "";
	snprintf(cmd, sizeof(cmd), "jq 'length' %s", path);
	FILE *p = popen(cmd, "r");
	assert_non_null(p);
	assert_non_null(fgets(out, sizeof(out), p));
	assert_int_equal(pclose(p), 0);
	assert_int_equal(atoi(out), nstrings);
	unlink(path);
}

static void test_numbers(void **state)
{
	sink s;

	(void)state;
	sink_open(&s, 0);
	json_begin_array(&s.w);
	json_int(&s.w, 0);
	json_int(&s.w, -1);
	json_int(&s.w, INT64_MAX);
	json_int(&s.w, INT64_MIN);
	json_uint(&s.w, UINT64_MAX);
	json_fixed(&s.w, 1234567, 3);
	json_fixed(&s.w, -5, 3);
	json_fixed(&s.w, 0, 3);
	json_fixed(&s.w, 7, 0);
	json_fixed(&s.w, INT64_MIN, 9);
	json_double(&s.w, 0.1);
	json_double(&s.w, 1e300);
	json_double(&s.w, -2.5);
	json_double(&s.w, 1.0 / 3.0);
	json_double(&s.w, NAN);
	json_double(&s.w, INFINITY);
	json_double(&s.w, -INFINITY);
	json_bool(&s.w, 1);
	json_bool(&s.w, 0);
	json_null(&s.w);
	json_end_array(&s.w);
	assert_int_equal(sink_close(&s), 0);
	assert_string_equal(s.buf, "[0,-1,9223372036854775807,-9223372036854775808,"
	                           "18446744073709551615,1234.567,-0.005,0.000,7,"
	                           "-9223372036.854775808,0.1,1e+300,-2.5,0.3333333333333333,"
	                           "null,null,null,true,false,null]\n");
	free(s.buf);

	/* a bad decimals count is misuse */
	sink_open(&s, 0);
	json_fixed(&s.w, 1, 19);
	assert_int_equal(sink_close(&s), -1);
	free(s.buf);
}

static void build_doc(json_w *w)
{
	json_begin_object(w);
	json_key(w, "a");
	json_int(w, 1);
	json_key(w, "list");
	json_begin_array(w);
	json_begin_object(w);
	json_key(w, "x");
	json_begin_array(w);
	json_int(w, 1);
	json_int(w, 2);
	json_end_array(w);
	json_end_object(w);
	json_begin_array(w);
	json_end_array(w);
	json_end_array(w);
	json_key(w, "e");
	json_begin_object(w);
	json_end_object(w);
	json_end_object(w);
}

static void test_layout(void **state)
{
	static const char *const want[] = {
	        /* pretty_depth 0 */
	        "{\"a\":1,\"list\":[{\"x\":[1,2]},[]],\"e\":{}}\n",
	        /* 1: the top object's members on their lines */
	        "{\n  \"a\": 1,\n  \"list\": [{\"x\":[1,2]},[]],\n  \"e\": {}\n}\n",
	        /* 2: and the list's elements */
	        "{\n  \"a\": 1,\n  \"list\": [\n    {\"x\":[1,2]},\n    []\n  ],\n  \"e\": {}\n}\n",
	        /* 9: everything */
	        "{\n  \"a\": 1,\n  \"list\": [\n    {\n      \"x\": [\n        1,\n        2\n"
	        "      ]\n    },\n    []\n  ],\n  \"e\": {}\n}\n",
	};
	static const int depth[] = {0, 1, 2, 9};

	(void)state;
	for (int i = 0; i < 4; i++) {
		sink s;
		sink_open(&s, depth[i]);
		build_doc(&s.w);
		assert_int_equal(sink_close(&s), 0);
		assert_string_equal(s.buf, want[i]);
		free(s.buf);
	}
}

static void misuse_value_without_key(json_w *w)
{
	json_begin_object(w);
	json_int(w, 1);
	json_end_object(w);
}

static void misuse_key_in_array(json_w *w)
{
	json_begin_array(w);
	json_key(w, "k");
	json_end_array(w);
}

static void misuse_key_without_value(json_w *w)
{
	json_begin_object(w);
	json_key(w, "k");
	json_end_object(w);
}

static void misuse_mismatched_end(json_w *w)
{
	json_begin_object(w);
	json_end_array(w);
}

static void misuse_unclosed(json_w *w)
{
	json_begin_array(w);
	json_int(w, 1);
}

static void misuse_two_documents(json_w *w)
{
	json_int(w, 1);
	json_int(w, 2);
}

static void misuse_too_deep(json_w *w)
{
	for (int i = 0; i <= JSON_MAX_DEPTH; i++)
		json_begin_array(w);
	for (int i = 0; i <= JSON_MAX_DEPTH; i++)
		json_end_array(w);
}

static void misuse_nothing(json_w *w)
{
	(void)w;
}

static void test_misuse(void **state)
{
	static void (*const cases[])(json_w *) = {
	        misuse_value_without_key, misuse_key_in_array, misuse_key_without_value,
	        misuse_mismatched_end,    misuse_unclosed,     misuse_two_documents,
	        misuse_too_deep,          misuse_nothing,
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		sink s;
		sink_open(&s, 0);
		cases[i](&s.w);
		if (s.w.err) { /* after an error, nothing more is written */
			size_t before = s.w.len;
			json_null(&s.w);
			json_end_array(&s.w);
			json_key(&s.w, "k");
			assert_int_equal(s.w.len, before);
		}
		assert_int_equal(sink_close(&s), -1);
		free(s.buf);
	}
	/* the deepest allowed nesting is fine */
	sink s;
	sink_open(&s, 0);
	for (int i = 0; i < JSON_MAX_DEPTH; i++)
		json_begin_array(&s.w);
	for (int i = 0; i < JSON_MAX_DEPTH; i++)
		json_end_array(&s.w);
	assert_int_equal(sink_close(&s), 0);
	free(s.buf);
}

static void test_write_error(void **state)
{
	FILE *f = fopen("/dev/full", "w");
	json_w w;

	(void)state;
	assert_non_null(f);
	json_init(&w, f, 0);
	json_begin_array(&w);
	for (int i = 0; i < 100000; i++) /* past any stdio buffer */
		json_string(&w, "some text that fills the buffer");
	json_end_array(&w);
	assert_int_equal(json_end(&w), -1);
	fclose(f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_escapes),     cmocka_unit_test(test_utf8),
	        cmocka_unit_test(test_utf8_random), cmocka_unit_test(test_numbers),
	        cmocka_unit_test(test_layout),      cmocka_unit_test(test_misuse),
	        cmocka_unit_test(test_write_error),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
