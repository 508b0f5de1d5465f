/*
 * http_parse.h - the HTTP/1.1 request-head parser and the answers shared by
 * examples/http_hello.c (on taskscope) and bench/uv_http.c (its libuv twin
 * in the HTTP benchmark), so that both servers follow the same rules byte
 * for byte: the benchmark compares runtimes, not parsers.  The rules are
 * listed in http_hello.c's header comment.
 *
 * Header-only (static functions): each program includes it once.
 */
#ifndef HTTP_PARSE_H
#define HTTP_PARSE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <strings.h>

#define MAX_RESPONSE 256 /* longest answer http_respond writes */

/* What one request head says (http_parse fills it). */
struct http_req {
	size_t head_len;        /* bytes from the request line through the empty line */
	uint64_t body_len;      /* Content-Length: body bytes after the head */
	int minor;              /* HTTP/1.<minor> */
	bool is_head;           /* HEAD: the answer has no body */
	bool keep_alive;        /* the connection stays open after the answer */
	const char *conn_line;  /* Connection header of the answer ("" for none) */
	const char *error_line; /* NULL, or the status of the error answer ("400 Bad Request") */
};

static const char BODY[] = "Hello, World!\n";
/* The answer to a head that does not fit the buffer. */
static const struct http_req too_large = {.error_line = "431 Request Header Fields Too Large"};

/* Whether ch may appear in a method or a header name (RFC 9110 tchar). */
static bool is_token_char(unsigned char ch)
{
	if (ch <= 32 || ch >= 127)
		return false;
	switch (ch) {
	case '"':
	case '(':
	case ')':
	case ',':
	case '/':
	case ':':
	case ';':
	case '<':
	case '=':
	case '>':
	case '?':
	case '@':
	case '[':
	case '\\':
	case ']':
	case '{':
	case '}':
		return false;
	}
	return true;
}

/* The CRLF CRLF that ends the head in buf[0..n), or NULL.  memchr for the
 * LFs: much cheaper than memmem on the short heads this server sees. */
static const char *find_head_end(const char *buf, size_t n)
{
	const char *p = buf, *end = buf + n;
	while ((p = memchr(p, '\n', (size_t)(end - p)))) {
		if (p - buf >= 3 && p[-1] == '\r' && p[-2] == '\n' && p[-3] == '\r')
			return p - 3;
		p++;
	}
	return NULL;
}

/* Whether the comma-separated list v[0..n) holds token tok (any case). */
static bool has_token(const char *v, size_t n, const char *tok)
{
	size_t tlen = strlen(tok);
	while (n > 0) {
		const char *comma = memchr(v, ',', n);
		size_t len = comma ? (size_t)(comma - v) : n;
		size_t b = 0, e = len;
		while (b < e && (v[b] == ' ' || v[b] == '\t'))
			b++;
		while (e > b && (v[e - 1] == ' ' || v[e - 1] == '\t'))
			e--;
		if (e - b == tlen && strncasecmp(v + b, tok, tlen) == 0)
			return true;
		if (!comma)
			break;
		n -= len + 1;
		v += len + 1;
	}
	return false;
}

/* The CR of the CRLF that ends the line starting at `line' (there is an
 * LF before stop), or NULL when the line ends with a bare LF.  A CR
 * elsewhere in a line is a control character, refused by the parser. */
static const char *line_end(const char *line, const char *stop)
{
	const char *lf = memchr(line, '\n', (size_t)(stop - line));
	return lf > line && lf[-1] == '\r' ? lf - 1 : NULL;
}

/* Parses the request line "METHOD SP TARGET SP HTTP/1.x" of p[0..n) (no
 * CRLF) into r.  Returns 0 or -1 (r->error_line set). */
static int parse_request_line(const char *p, size_t n, struct http_req *r)
{
	const char *sp1 = memchr(p, ' ', n);
	const char *sp2 = sp1 ? memchr(sp1 + 1, ' ', n - (size_t)(sp1 + 1 - p)) : NULL;
	if (!sp1 || sp1 == p || !sp2 || sp2 == sp1 + 1)
		goto bad;
	for (const char *c = p; c < sp1; c++)
		if (!is_token_char((unsigned char)*c))
			goto bad;
	for (const char *c = sp1 + 1; c < sp2; c++)
		if ((unsigned char)*c <= 32 || *c == 127)
			goto bad;
	const char *v = sp2 + 1;
	size_t vlen = n - (size_t)(v - p);
	if (vlen != 8 || memcmp(v, "HTTP/", 5) != 0 || v[6] != '.' || v[5] < '0' || v[5] > '9' ||
	    v[7] < '0' || v[7] > '9')
		goto bad;
	if (v[5] != '1') {
		r->error_line = "505 HTTP Version Not Supported";
		return -1;
	}
	r->minor = v[7] - '0';
	r->is_head = sp1 - p == 4 && memcmp(p, "HEAD", 4) == 0;
	return 0;
bad:
	r->error_line = "400 Bad Request";
	return -1;
}

/* Parses the request head at the start of buf[0..n).  Returns 1 with *r
 * filled (r->error_line non-NULL for a request to refuse: answer it and
 * close), or 0 when the head is not complete yet. */
static int http_parse(const char *buf, size_t n, struct http_req *r)
{
	const char *end = find_head_end(buf, n);
	if (!end)
		return 0;
	*r = (struct http_req){.head_len = (size_t)(end - buf) + 4, .conn_line = ""};
	const char *line = buf, *stop = end + 2; /* every line ends with CRLF before stop */
	const char *eol = line_end(line, stop);
	if (!eol)
		goto bad;
	if (parse_request_line(line, (size_t)(eol - line), r) < 0)
		return 1;
	bool host = false, close = false, keep = false, have_len = false;
	for (line = eol + 2; line < stop; line = eol + 2) {
		if (!(eol = line_end(line, stop)))
			goto bad;
		const char *colon = memchr(line, ':', (size_t)(eol - line));
		if (!colon || colon == line)
			goto bad;
		for (const char *c = line; c < colon; c++)
			if (!is_token_char((unsigned char)*c))
				goto bad;
		const char *v = colon + 1, *ve = eol;
		for (const char *c = v; c < ve; c++)
			if (((unsigned char)*c < 32 && *c != '\t') || *c == 127)
				goto bad;
		while (v < ve && (*v == ' ' || *v == '\t'))
			v++;
		while (ve > v && (ve[-1] == ' ' || ve[-1] == '\t'))
			ve--;
		size_t name_len = (size_t)(colon - line), vlen = (size_t)(ve - v);
		if (name_len == 14 && strncasecmp(line, "Content-Length", 14) == 0) {
			uint64_t len = 0;
			if (vlen == 0 || vlen > 18)
				goto bad;
			for (size_t i = 0; i < vlen; i++) {
				if (v[i] < '0' || v[i] > '9')
					goto bad;
				len = len * 10 + (uint64_t)(v[i] - '0');
			}
			if (have_len && len != r->body_len)
				goto bad;
			r->body_len = len;
			have_len = true;
		} else if (name_len == 10 && strncasecmp(line, "Connection", 10) == 0) {
			close |= has_token(v, vlen, "close");
			keep |= has_token(v, vlen, "keep-alive");
		} else if (name_len == 4 && strncasecmp(line, "Host", 4) == 0) {
			host = true;
		} else if (name_len == 17 && strncasecmp(line, "Transfer-Encoding", 17) == 0) {
			r->error_line = "501 Not Implemented";
			return 1;
		}
	}
	if (r->minor >= 1 && !host)
		goto bad;
	if (r->minor >= 1) {
		r->keep_alive = !close;
		r->conn_line = close ? "Connection: close\r\n" : "";
	} else {
		r->keep_alive = keep && !close;
		r->conn_line = r->keep_alive ? "Connection: keep-alive\r\n" : "";
	}
	return 1;
bad:
	r->error_line = "400 Bad Request";
	return 1;
}

static char *put(char *p, const char *s, size_t n)
{
	memcpy(p, s, n);
	return p + n;
}
#define PUT(p, lit) put(p, lit, sizeof(lit) - 1)

/* Writes the answer to r at out (room for MAX_RESPONSE bytes); returns its
 * length. */
static size_t http_respond(char *out, const struct http_req *r)
{
	char *p = out;
	if (r->error_line) {
		size_t n = strlen(r->error_line);
		p = PUT(p, "HTTP/1.1 ");
		p = put(p, r->error_line, n);
		p = PUT(p,
		        "\r\nContent-Type: text/plain; charset=utf-8\r\nConnection: close\r\n\r\n");
		return (size_t)(put(p, r->error_line, n) - out);
	}
	p = r->minor == 0 ? PUT(p, "HTTP/1.0 200 OK\r\n") : PUT(p, "HTTP/1.1 200 OK\r\n");
	p = PUT(p, "Content-Length: 14\r\nContent-Type: text/plain\r\n");
	p = put(p, r->conn_line, strlen(r->conn_line));
	p = PUT(p, "\r\n");
	if (!r->is_head)
		p = PUT(p, BODY);
	return (size_t)(p - out);
}

#endif /* HTTP_PARSE_H */
