/*
 * json.c - the streaming JSON writer (json.h).
 *
 * Tuned for the export, which writes tens of millions of numbers and
 * short strings: integers are converted by hand (snprintf costs ~10x),
 * and the text is gathered in the writer's own buffer, handed to the FILE
 * 32 KiB at a time (a putc or fwrite per token spent a third of an
 * export's time in stdio's locking).
 *
 * UTF-8 is checked against the table of well-formed byte sequences of
 * the Unicode standard (ch. 3, table 3-7): no overlong forms, no
 * surrogates, nothing above U+10FFFF.  A maximal subpart of an
 * ill-formed sequence (the longest prefix that could still have started a
 * well-formed one, or a single byte) becomes one U+FFFD.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "json.h"

/* Hands the buffer to the FILE. */
static void drain(json_w *w)
{
	if (w->len && fwrite(w->buf, 1, w->len, w->f) != w->len)
		w->write_err = 1;
	w->len = 0;
}

static void out(json_w *w, const void *p, size_t n)
{
	if (n > JSON_BUF - w->len) {
		drain(w);
		if (n > JSON_BUF) {
			if (fwrite(p, 1, n, w->f) != n)
				w->write_err = 1;
			return;
		}
	}
	memcpy(w->buf + w->len, p, n);
	w->len += n;
}

static void outc(json_w *w, char c)
{
	if (w->len == JSON_BUF)
		drain(w);
	w->buf[w->len++] = c;
}

static void outs(json_w *w, const char *s)
{
	out(w, s, strlen(s));
}

void json_init(json_w *w, FILE *f, int pretty_depth)
{
	memset(w, 0, offsetof(json_w, buf));
	w->f = f;
	w->pretty_depth = pretty_depth < 0 ? 0 : pretty_depth;
}

static void put_indent(json_w *w, int depth)
{
	static const char spaces[] =
	        "                                                                ";
	int n = 2 * depth;
	outc(w, '\n');
	while (n > 0) {
		int k = n < (int)sizeof(spaces) - 1 ? n : (int)sizeof(spaces) - 1;
		out(w, spaces, (size_t)k);
		n -= k;
	}
}

/* Before a value: checks it is allowed here and writes the separator.
 * Returns 0 to go on, -1 after misuse (w->err set). */
static int before_value(json_w *w)
{
	if (w->err)
		return -1;
	if (w->depth == 0) {
		if (w->done)
			goto misuse;
		return 0;
	}
	int top = w->depth - 1;
	if (w->is_obj[top]) {
		if (!w->want_value)
			goto misuse;
		w->want_value = 0;
		return 0;
	}
	if (w->nonempty[top])
		outc(w, ',');
	if (w->depth <= w->pretty_depth)
		put_indent(w, w->depth);
	w->nonempty[top] = 1;
	return 0;
misuse:
	w->err = 1;
	return -1;
}

/* After a scalar or a closed container. */
static void after_value(json_w *w)
{
	if (w->depth == 0)
		w->done = 1;
}

static void begin(json_w *w, int is_obj)
{
	if (before_value(w) < 0)
		return;
	if (w->depth == JSON_MAX_DEPTH) {
		w->err = 1;
		return;
	}
	outc(w, is_obj ? '{' : '[');
	w->is_obj[w->depth] = (uint8_t)is_obj;
	w->nonempty[w->depth] = 0;
	w->depth++;
}

static void end(json_w *w, int is_obj)
{
	if (w->err)
		return;
	if (w->depth == 0 || w->is_obj[w->depth - 1] != is_obj || w->want_value) {
		w->err = 1;
		return;
	}
	w->depth--;
	if (w->nonempty[w->depth] && w->depth < w->pretty_depth)
		put_indent(w, w->depth);
	outc(w, is_obj ? '}' : ']');
	after_value(w);
}

void json_begin_object(json_w *w)
{
	begin(w, 1);
}

void json_end_object(json_w *w)
{
	end(w, 1);
}

void json_begin_array(json_w *w)
{
	begin(w, 0);
}

void json_end_array(json_w *w)
{
	end(w, 0);
}

/* Length of the well-formed UTF-8 sequence at s (n bytes available), or
 * the negated length of its maximal ill-formed subpart (at least 1). */
static int utf8_seq(const unsigned char *s, size_t n)
{
	unsigned char c = s[0];
	int len;
	unsigned char lo = 0x80, hi = 0xbf; /* range of the second byte */
	if (c >= 0xc2 && c <= 0xdf)
		len = 2;
	else if (c >= 0xe0 && c <= 0xef) {
		len = 3;
		if (c == 0xe0)
			lo = 0xa0;
		else if (c == 0xed)
			hi = 0x9f; /* no surrogates */
	} else if (c >= 0xf0 && c <= 0xf4) {
		len = 4;
		if (c == 0xf0)
			lo = 0x90;
		else if (c == 0xf4)
			hi = 0x8f; /* nothing above U+10FFFF */
	} else
		return -1; /* a continuation byte, C0, C1, F5..FF */
	for (int i = 1; i < len; i++) {
		if ((size_t)i >= n)
			return -i;
		unsigned char b = s[i];
		if (i == 1 ? (b < lo || b > hi) : (b < 0x80 || b > 0xbf))
			return -i;
	}
	return len;
}

static void put_escaped(json_w *w, const char *str, size_t n)
{
	static const char hex[] = "0123456789abcdef";
	const unsigned char *s = (const unsigned char *)str;
	size_t run = 0; /* start of the bytes not yet written */
	outc(w, '"');
	for (size_t i = 0; i < n;) {
		unsigned char c = s[i];
		if (c >= 0x20 && c != '"' && c != '\\' && c < 0x7f) {
			i++;
			continue;
		}
		if (c >= 0x80) {
			int len = utf8_seq(s + i, n - i);
			if (len > 0) {
				i += (size_t)len;
				continue;
			}
			out(w, s + run, i - run);
			outs(w, "\xef\xbf\xbd"); /* U+FFFD */
			i += (size_t)-len;
			run = i;
			continue;
		}
		out(w, s + run, i - run);
		char esc[7] = {'\\', 0};
		switch (c) {
		case '"':
		case '\\':
			esc[1] = (char)c;
			break;
		case '\b':
			esc[1] = 'b';
			break;
		case '\f':
			esc[1] = 'f';
			break;
		case '\n':
			esc[1] = 'n';
			break;
		case '\r':
			esc[1] = 'r';
			break;
		case '\t':
			esc[1] = 't';
			break;
		default: /* other controls and DEL */
			memcpy(esc + 1, "u00", 3);
			esc[4] = hex[c >> 4];
			esc[5] = hex[c & 15];
			break;
		}
		outs(w, esc);
		i++;
		run = i;
	}
	out(w, s + run, n - run);
	outc(w, '"');
}

void json_key(json_w *w, const char *key)
{
	if (w->err)
		return;
	if (w->depth == 0 || !w->is_obj[w->depth - 1] || w->want_value || !key) {
		w->err = 1;
		return;
	}
	int top = w->depth - 1;
	if (w->nonempty[top])
		outc(w, ',');
	if (w->depth <= w->pretty_depth)
		put_indent(w, w->depth);
	w->nonempty[top] = 1;
	put_escaped(w, key, strlen(key));
	if (w->depth <= w->pretty_depth)
		outs(w, ": ");
	else
		outc(w, ':');
	w->want_value = 1;
}

void json_stringn(json_w *w, const char *s, size_t n)
{
	if (before_value(w) < 0)
		return;
	put_escaped(w, s ? s : "", s ? n : 0);
	after_value(w);
}

void json_string(json_w *w, const char *s)
{
	if (!s)
		json_null(w);
	else
		json_stringn(w, s, strlen(s));
}

/* Decimal digits of v into the end of buf; returns the first digit. */
static char *utoa_end(uint64_t v, char *end)
{
	char *p = end;
	do {
		*--p = (char)('0' + v % 10);
		v /= 10;
	} while (v);
	return p;
}

void json_uint(json_w *w, uint64_t v)
{
	char buf[24];
	if (before_value(w) < 0)
		return;
	char *p = utoa_end(v, buf + sizeof(buf));
	out(w, p, (size_t)(buf + sizeof(buf) - p));
	after_value(w);
}

void json_int(json_w *w, int64_t v)
{
	json_fixed(w, v, 0);
}

void json_fixed(json_w *w, int64_t v, int decimals)
{
	char buf[48];
	if (decimals < 0 || decimals > 18) {
		w->err = 1;
		return;
	}
	if (before_value(w) < 0)
		return;
	uint64_t mag = v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v;
	uint64_t scale = 1;
	for (int i = 0; i < decimals; i++)
		scale *= 10;
	char *end = buf + sizeof(buf);
	char *p = end;
	if (decimals > 0) {
		uint64_t frac = mag % scale;
		for (int i = 0; i < decimals; i++) {
			*--p = (char)('0' + frac % 10);
			frac /= 10;
		}
		*--p = '.';
	}
	p = utoa_end(mag / scale, p);
	if (v < 0)
		*--p = '-';
	out(w, p, (size_t)(end - p));
	after_value(w);
}

void json_double(json_w *w, double v)
{
	char buf[40];
	if (!isfinite(v)) {
		json_null(w);
		return;
	}
	if (before_value(w) < 0)
		return;
	/* the shortest of %.15g..%.17g that reads back exactly */
	for (int prec = 15; prec <= 17; prec++) {
		snprintf(buf, sizeof(buf), "%.*g", prec, v);
		if (strtod(buf, NULL) == v)
			break;
	}
	/* a locale's decimal comma is not JSON */
	for (char *p = buf; *p; p++)
		if (!(*p >= '0' && *p <= '9') && !strchr("-+eE", *p))
			*p = '.';
	outs(w, buf);
	after_value(w);
}

void json_bool(json_w *w, int v)
{
	if (before_value(w) < 0)
		return;
	outs(w, v ? "true" : "false");
	after_value(w);
}

void json_null(json_w *w)
{
	if (before_value(w) < 0)
		return;
	outs(w, "null");
	after_value(w);
}

int json_flush(json_w *w)
{
	drain(w);
	if (fflush(w->f) != 0 || ferror(w->f))
		w->write_err = 1;
	return w->write_err ? -1 : 0;
}

int json_end(json_w *w)
{
	if (w->err || w->depth != 0 || !w->done)
		return -1;
	outc(w, '\n');
	return json_flush(w);
}
