/*
 * pipeline.c - a text pipeline on the taskscope runtime: pipes at both
 * ends, channels in between, a pool of workers, results put back in order.
 *
 *   source --pipe--> reader --"lines"--> worker x N --"results"--> writer --pipe--> sink
 *
 *   source  writes the input into a pipe: generated lines (--lines N), or a
 *           file or standard input, copied as it is read;
 *   reader  reads the pipe with tsk_read in 4 KiB chunks, cuts it into
 *           lines (a line may straddle two chunks) and sends each one,
 *           numbered, on the channel "lines";
 *   worker  (N of them) counts the words and bytes of a line, hashes it
 *           (FNV-1a) and sends the result on the channel "results";
 *   writer  receives the results in whatever order the workers finish,
 *           puts them back in input order and writes one record per line,
 *           "SEQ WORDS BYTES HASH", with tsk_write: to a pipe read by
 *   sink    which checks that the records arrive in order and checksums
 *           them; or, with --print, to standard output.
 *
 * Backpressure comes for free: every channel and pipe is bounded, so a
 * slow stage makes the stages before it wait (in tsk_chan_send, tsk_write)
 * instead of buffering without limit.  The end of the input travels
 * downstream by closing: the source closes its end of the pipe, the reader
 * sees end of file and closes "lines", the workers drain it and stop, and
 * once the last one has stopped the root closes "results".  An error
 * travels upstream the same way: a stage that fails closes what feeds it,
 * so the stage before gets -EPIPE and stops too.  The first error is the
 * one reported.
 *
 * The output does not depend on the number of workers or threads: the
 * last line, on standard output, is
 *     pipeline: L lines, W words, B bytes, checksum C
 * where C is an FNV-1a hash of all the records in order.
 *
 * For the inspector: every task, channel and wait group has a name, and
 * each task says what it is doing with tsk_set_state.
 *
 * Usage: pipeline [--workers N] [--threads N] [--lines N] [--print] [FILE | -]
 * Exit status: 0 success, 1 an I/O or runtime error, 2 bad usage.
 *
 * Longer than most files here because it is one program meant to be read
 * from top to bottom: the stages come in the order the data flows.
 */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ex_common.h"
#include "taskscope.h"

#define CHUNK       4096      /* bytes per tsk_read, and per write of the source */
#define MAX_LINE    (1 << 20) /* longest line accepted */
#define LINES_CAP   64        /* channel capacities: small, so backpressure shows */
#define RESULTS_CAP 64
#define MAX_WORKERS 256
#define FNV_OFFSET  0xcbf29ce484222325ull
#define FNV_PRIME   0x100000001b3ull

/* reader -> workers; the receiver owns text */
struct line {
	uint64_t seq; /* 0, 1, 2... in input order */
	char *text;   /* malloc'd, without its newline */
	size_t len;   /* bytes of text */
};

/* workers -> writer */
struct result {
	uint64_t seq;   /* the line's */
	uint64_t words; /* runs of non-space characters */
	uint64_t bytes; /* its length */
	uint64_t hash;  /* FNV-1a of its bytes */
};

struct totals {
	uint64_t lines, words, bytes;
	uint64_t checksum; /* FNV-1a of the records, in order */
};

struct pipeline {
	/* options */
	int nworkers; /* worker tasks */
	long nlines;  /* lines to generate when input_fd < 0 */
	int input_fd; /* the input, or -1: generate */
	bool print;   /* records to standard output, no sink */
	/* plumbing */
	int in[2];          /* source -> reader */
	int out[2];         /* writer -> sink */
	int out_fd;         /* where the writer writes: out[1], or 1 */
	tsk_chan *lines;    /* struct line */
	tsk_chan *results;  /* struct result */
	tsk_wg *workers_wg; /* workers still running */
	/* outcome, read by main once tsk_run has returned */
	atomic_int err;               /* the first error (-errno), 0: none */
	const char *_Atomic err_what; /* what failed */
	uint64_t nread;               /* lines the reader sent */
	struct totals written;        /* by the writer */
	struct totals checked;        /* by the sink */
};

/* Records the first error; those after it are its consequences. */
static void fail(struct pipeline *p, const char *what, int rc)
{
	int none = 0;

	if (atomic_compare_exchange_strong(&p->err, &none, rc))
		atomic_store(&p->err_what, what);
}

static uint64_t fnv(uint64_t h, const void *data, size_t n)
{
	const unsigned char *s = data;

	for (size_t i = 0; i < n; i++)
		h = (h ^ s[i]) * FNV_PRIME;
	return h;
}

/* ---- cutting a byte stream into lines ----------------------------------- */

/* The piece of a line that a chunk boundary cut off, kept until the rest
 * comes.  Used by the reader (input lines) and the sink (records). */
struct splitter {
	char *buf;       /* malloc'd */
	size_t len, cap; /* bytes held, allocated */
};

typedef int (*line_fn)(void *ctx, const char *line, size_t len);

static int splitter_keep(struct splitter *sp, const char *s, size_t n)
{
	if (n == 0)
		return 0;
	if (sp->len + n > MAX_LINE)
		return -EMSGSIZE;
	if (sp->len + n > sp->cap) {
		size_t cap = sp->cap ? sp->cap : 256;
		while (cap < sp->len + n)
			cap *= 2;
		char *b = realloc(sp->buf, cap);
		if (!b)
			return -ENOMEM;
		sp->buf = b;
		sp->cap = cap;
	}
	memcpy(sp->buf + sp->len, s, n);
	sp->len += n;
	return 0;
}

/* Calls fn for every line that the n bytes at s complete; keeps the rest.
 * Returns 0, fn's first error, -EMSGSIZE or -ENOMEM. */
static int splitter_feed(struct splitter *sp, const char *s, size_t n, line_fn fn, void *ctx)
{
	const char *end = s + n, *nl;
	int rc;

	while ((nl = memchr(s, '\n', (size_t)(end - s))) != NULL) {
		if (sp->len == 0) {
			rc = fn(ctx, s, (size_t)(nl - s)); /* whole in this chunk: no copy */
		} else {
			if ((rc = splitter_keep(sp, s, (size_t)(nl - s))) == 0)
				rc = fn(ctx, sp->buf, sp->len);
			sp->len = 0;
		}
		if (rc < 0)
			return rc;
		s = nl + 1;
	}
	return splitter_keep(sp, s, (size_t)(end - s));
}

/* At end of input: a last line without a newline is a line too. */
static int splitter_end(struct splitter *sp, line_fn fn, void *ctx)
{
	int rc = sp->len ? fn(ctx, sp->buf, sp->len) : 0;

	free(sp->buf);
	*sp = (struct splitter){0};
	return rc;
}

/* ---- source ------------------------------------------------------------- */

static const char *const vocabulary[] = {
        "alpha", "bravo",  "charlie", "delta", "echo", "foxtrot",  "golf",  "hotel",
        "india", "juliet", "kilo",    "lima",  "mike", "november", "oscar", "papa",
};
#define NVOCABULARY (sizeof(vocabulary) / sizeof(vocabulary[0]))

/* Line i of the generated input, newline included, into buf (128 bytes
 * are enough); returns its length.  0 to 12 words: some lines are empty. */
static size_t generate_line(char *buf, long i)
{
	uint64_t x = (uint64_t)i * 0x9E3779B97F4A7C15ull + 1;
	size_t n = 0;

	for (long k = 0; k < i % 13; k++) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		const char *w = vocabulary[x % NVOCABULARY];
		if (k > 0)
			buf[n++] = ' ';
		memcpy(buf + n, w, strlen(w));
		n += strlen(w);
	}
	buf[n++] = '\n';
	return n;
}

/* Writes the input into the pipe, then closes its end: the reader sees
 * end of file.  A file or standard input is copied as it is read (a
 * regular file is always ready: its reads block this worker briefly, as
 * read(2) would; tsk_offload is the tool when that matters). */
static void *source(void *arg)
{
	struct pipeline *p = arg;
	char buf[CHUNK];
	size_t n = 0;
	ssize_t rc = 0;

	if (p->input_fd < 0) {
		tsk_set_state("generating");
		for (long i = 0; i < p->nlines && rc >= 0; i++) {
			n += generate_line(buf + n, i);
			if (n > CHUNK - 128 || i == p->nlines - 1) {
				rc = tsk_write(p->in[1], buf, n, TSK_FOREVER);
				n = 0;
			}
		}
		if (rc < 0)
			fail(p, "write to the input pipe", (int)rc);
	} else {
		tsk_set_state("copying the input");
		while ((rc = tsk_read(p->input_fd, buf, sizeof(buf), TSK_FOREVER)) > 0) {
			rc = tsk_write(p->in[1], buf, (size_t)rc, TSK_FOREVER);
			if (rc < 0) {
				fail(p, "write to the input pipe", (int)rc);
				break;
			}
		}
		if (rc < 0)
			fail(p, "read the input", (int)rc);
	}
	tsk_close(p->in[1]);
	return NULL;
}

/* ---- reader ------------------------------------------------------------- */

struct reader_state {
	struct pipeline *p;
	uint64_t seq; /* the next line's number */
};

/* A line_fn: sends a copy of the line on "lines". */
static int send_line(void *ctx, const char *s, size_t len)
{
	struct reader_state *r = ctx;
	struct line l = {.seq = r->seq, .text = malloc(len + 1), .len = len};

	if (!l.text)
		return -ENOMEM;
	memcpy(l.text, s, len);
	l.text[len] = '\0';
	tsk_set_state("sending a line");
	int rc = tsk_chan_send(r->p->lines, &l, TSK_FOREVER);
	if (rc < 0) {
		free(l.text);
		return rc;
	}
	r->seq++;
	return 0;
}

static void *reader(void *arg)
{
	struct pipeline *p = arg;
	struct reader_state r = {.p = p};
	struct splitter sp = {0};
	char chunk[CHUNK];
	ssize_t n;
	int rc = 0;

	for (;;) {
		tsk_set_state("reading the pipe");
		n = tsk_read(p->in[0], chunk, sizeof(chunk), TSK_FOREVER);
		if (n <= 0)
			break;
		if ((rc = splitter_feed(&sp, chunk, (size_t)n, send_line, &r)) < 0)
			break;
	}
	if (n < 0)
		fail(p, "read the input pipe", (int)n);
	if (n == 0)
		rc = splitter_end(&sp, send_line, &r);
	free(sp.buf);
	/* -EPIPE: a later stage failed and closed "lines"; its error counts */
	if (rc == -EMSGSIZE)
		fail(p, "read a line longer than 1 MiB", rc);
	else if (rc < 0 && rc != -EPIPE)
		fail(p, "send a line", rc);
	p->nread = r.seq;
	tsk_chan_close(p->lines); /* the workers drain what is left, then stop */
	tsk_close(p->in[0]);      /* a source still writing gets -EPIPE */
	return NULL;
}

/* ---- workers ------------------------------------------------------------ */

static uint64_t count_words(const char *s, size_t n)
{
	uint64_t words = 0;
	bool in_word = false;

	for (size_t i = 0; i < n; i++) {
		bool space = isspace((unsigned char)s[i]);
		words += !space && !in_word;
		in_word = !space;
	}
	return words;
}

static void *worker(void *arg)
{
	struct pipeline *p = arg;
	struct line l;

	tsk_set_state("waiting for a line");
	while (tsk_chan_recv(p->lines, &l, TSK_FOREVER) == 0) {
		tsk_set_state("hashing");
		struct result r = {
		        .seq = l.seq,
		        .words = count_words(l.text, l.len),
		        .bytes = l.len,
		        .hash = fnv(FNV_OFFSET, l.text, l.len),
		};
		free(l.text);
		tsk_set_state("sending a result");
		if (tsk_chan_send(p->results, &r, TSK_FOREVER) < 0) {
			/* the writer has stopped: stop the reader too */
			tsk_chan_close(p->lines);
			break;
		}
		tsk_set_state("waiting for a line");
	}
	tsk_wg_done(p->workers_wg);
	return NULL;
}

/* ---- writer ------------------------------------------------------------- */

/* Results that arrived before their turn, in slot seq % cap.  How far
 * ahead a result can run is bounded in practice by the channels'
 * capacities and the number of workers, but a slow worker lets the others
 * run on, so the window grows when it must. */
struct reorder {
	struct result *slot;
	bool *full;
	size_t cap;    /* a power of two */
	uint64_t next; /* the seq to write next */
};

static int reorder_put(struct reorder *o, const struct result *r)
{
	while (r->seq - o->next >= o->cap) {
		size_t cap = o->cap ? o->cap * 2 : 256;
		struct result *slot = calloc(cap, sizeof(*slot));
		bool *full = calloc(cap, sizeof(*full));
		if (!slot || !full) {
			free(slot);
			free(full);
			return -ENOMEM;
		}
		for (size_t i = 0; i < o->cap; i++)
			if (o->full[i]) {
				slot[o->slot[i].seq & (cap - 1)] = o->slot[i];
				full[o->slot[i].seq & (cap - 1)] = true;
			}
		free(o->slot);
		free(o->full);
		o->slot = slot;
		o->full = full;
		o->cap = cap;
	}
	o->slot[r->seq & (o->cap - 1)] = *r;
	o->full[r->seq & (o->cap - 1)] = true;
	return 0;
}

/* Takes the result whose turn it is, if it has arrived. */
static bool reorder_take(struct reorder *o, struct result *r)
{
	size_t i = o->cap ? o->next & (o->cap - 1) : 0;

	if (!o->cap || !o->full[i])
		return false;
	*r = o->slot[i];
	o->full[i] = false;
	o->next++;
	return true;
}

static void *writer(void *arg)
{
	struct pipeline *p = arg;
	struct reorder o = {0};
	struct totals *t = &p->written;
	struct result r;
	size_t size = 16 * 1024, n = 0;
	char *out = malloc(size);
	int rc = out ? 0 : -ENOMEM;

	t->checksum = FNV_OFFSET;
	while (rc == 0) {
		tsk_set_state("waiting for a result");
		if (tsk_chan_recv(p->results, &r, TSK_FOREVER) < 0)
			break; /* closed and drained: every line is done */
		tsk_set_state("reordering");
		if ((rc = reorder_put(&o, &r)) < 0)
			break;
		while (rc == 0 && reorder_take(&o, &r)) {
			char *rec = out + n;
			int len = snprintf(rec, size - n,
			                   "%" PRIu64 " %" PRIu64 " %" PRIu64 " %016" PRIx64 "\n",
			                   r.seq, r.words, r.bytes, r.hash);
			t->lines++;
			t->words += r.words;
			t->bytes += r.bytes;
			t->checksum = fnv(t->checksum, rec, (size_t)len);
			n += (size_t)len;
			if (n > size - 128) { /* a record is < 80 bytes */
				tsk_set_state("writing");
				rc = (int)tsk_write(p->out_fd, out, n, TSK_FOREVER);
				rc = rc < 0 ? rc : 0;
				n = 0;
			}
		}
	}
	if (rc == 0 && n > 0) {
		tsk_set_state("writing");
		rc = (int)tsk_write(p->out_fd, out, n, TSK_FOREVER);
		rc = rc < 0 ? rc : 0;
	}
	if (rc < 0) {
		fail(p, rc == -ENOMEM ? "keep results in order" : "write the records", rc);
		tsk_chan_close(p->results); /* the workers' sends fail: they stop */
	}
	if (!p->print)
		tsk_close(p->out[1]); /* the sink sees end of file */
	free(o.slot);
	free(o.full);
	free(out);
	return NULL;
}

/* ---- sink --------------------------------------------------------------- */

/* A line_fn: checks one record and adds it to the sink's totals. */
static int check_record(void *ctx, const char *s, size_t len)
{
	struct pipeline *p = ctx;
	struct totals *t = &p->checked;
	uint64_t seq, words, bytes, hash;
	char rec[128];

	if (len >= sizeof(rec))
		return -EPROTO;
	memcpy(rec, s, len);
	rec[len] = '\0';
	if (sscanf(rec, "%" SCNu64 " %" SCNu64 " %" SCNu64 " %" SCNx64, &seq, &words, &bytes,
	           &hash) != 4 ||
	    seq != t->lines)
		return -EPROTO;
	rec[len] = '\n';
	t->lines++;
	t->words += words;
	t->bytes += bytes;
	t->checksum = fnv(t->checksum, rec, len + 1);
	return 0;
}

static void *sink(void *arg)
{
	struct pipeline *p = arg;
	struct splitter sp = {0};
	char chunk[CHUNK];
	ssize_t n;
	int rc = 0;

	p->checked.checksum = FNV_OFFSET;
	for (;;) {
		tsk_set_state("reading the records");
		n = tsk_read(p->out[0], chunk, sizeof(chunk), TSK_FOREVER);
		if (n <= 0)
			break;
		tsk_set_state("checking");
		if (rc == 0) /* after a bad record, only drain */
			rc = splitter_feed(&sp, chunk, (size_t)n, check_record, p);
	}
	if (n < 0)
		fail(p, "read the records", (int)n);
	if (rc == 0 && n == 0)
		rc = splitter_end(&sp, check_record, p);
	free(sp.buf);
	if (rc < 0)
		fail(p,
		     rc == -EPROTO ? "check the records (out of order or garbled)"
		                   : "check the records",
		     rc);
	tsk_close(p->out[0]);
	return NULL;
}

/* ---- root --------------------------------------------------------------- */

/* The runtime's calls return -errno; these are I/O errors, so libc's
 * words for them fit better than tsk_strerror's, which are written for
 * the runtime's own meanings (-EPIPE: "channel closed"). */
static const char *error_text(int rc)
{
	return strerror(-rc);
}

static void setup_failed(const char *what, int rc)
{
	fprintf(stderr, "pipeline: %s: %s\n", what, error_text(rc));
	exit(1);
}

static tsk_task *start(const char *name, void *(*fn)(void *), struct pipeline *p)
{
	tsk_task *t;
	int rc = tsk_spawn(&t, name, fn, p);

	if (rc < 0)
		setup_failed("spawn a task", rc);
	return t;
}

static void *root(void *arg)
{
	struct pipeline *p = arg;
	tsk_task *stage[4], *workers[MAX_WORKERS];
	struct line l;
	int rc, nstages = 0;

	if ((rc = tsk_pipe(p->in)) < 0 || (!p->print && (rc = tsk_pipe(p->out)) < 0))
		setup_failed("create a pipe", rc);
	if ((rc = tsk_chan_create(&p->lines, "lines", sizeof(struct line), LINES_CAP)) < 0 ||
	    (rc = tsk_chan_create(&p->results, "results", sizeof(struct result), RESULTS_CAP)) <
	            0 ||
	    (rc = tsk_wg_create(&p->workers_wg, "workers")) < 0)
		setup_failed("create a channel", rc);
	p->out_fd = p->print ? STDOUT_FILENO : p->out[1];

	stage[nstages++] = start("source", source, p);
	stage[nstages++] = start("reader", reader, p);
	tsk_wg_add(p->workers_wg, p->nworkers);
	for (int i = 0; i < p->nworkers; i++)
		workers[i] = start("worker", worker, p);
	stage[nstages++] = start("writer", writer, p);
	if (!p->print)
		stage[nstages++] = start("sink", sink, p);

	/* the end of "results" is the end of the workers, which only the
	 * root sees */
	tsk_set_state("waiting for the workers");
	tsk_wg_wait(p->workers_wg, TSK_FOREVER);
	tsk_chan_close(p->results);
	tsk_set_state("waiting for the stages");
	for (int i = 0; i < p->nworkers; i++)
		tsk_join(workers[i], NULL, TSK_FOREVER);
	for (int i = 0; i < nstages; i++)
		tsk_join(stage[i], NULL, TSK_FOREVER);

	/* after an error, lines nobody took are still in the channel */
	while (tsk_chan_try_recv(p->lines, &l) == 0)
		free(l.text);
	tsk_chan_destroy(p->lines);
	tsk_chan_destroy(p->results);
	tsk_wg_destroy(p->workers_wg);
	return NULL;
}

/* ---- main --------------------------------------------------------------- */

static void usage(void)
{
	printf("usage: pipeline [--workers N] [--threads N] [--lines N] [--print] [FILE | -]\n"
	       "\n"
	       "Hashes every line of its input through a pipeline of tasks (source, reader,\n"
	       "N workers, writer, sink) and prints a summary whose checksum does not depend\n"
	       "on the number of workers.\n"
	       "\n"
	       "  FILE, -       read FILE or standard input instead of generated lines\n"
	       "  --lines N     generate N lines (default 100000)\n"
	       "  --workers N   worker tasks, 1..%d (default 4)\n"
	       "  --threads N   worker threads of the runtime (default: one per CPU)\n"
	       "  --print       write the records (SEQ WORDS BYTES HASH) to standard output\n"
	       "  --help        this text\n"
	       "\n"
	       "Exit status: 0 success, 1 an I/O or runtime error, 2 bad usage.\n",
	       MAX_WORKERS);
}

/* Says what is wrong with the command line (`what`, then the argument
 * quoted) and how to use it; returns the exit status for bad usage. */
static int bad_usage(const char *what, const char *arg)
{
	fprintf(stderr,
	        "pipeline: %s '%s'\n"
	        "usage: pipeline [--workers N] [--threads N] [--lines N] [--print] [FILE | -]\n"
	        "       pipeline --help for more\n",
	        what, arg ? arg : "");
	return 2;
}

int main(int argc, char **argv)
{
	struct pipeline p = {.nworkers = 4, .nlines = 100000, .input_fd = -1};
	const char *input = NULL;
	bool lines_given = false;
	long v, threads = 0;

	for (int i = 1; i < argc; i++) {
		const char *a = argv[i], *val = i + 1 < argc ? argv[i + 1] : NULL;
		if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
			usage();
			return 0;
		} else if (strcmp(a, "--print") == 0) {
			p.print = true;
		} else if (strcmp(a, "--workers") == 0) {
			if (!val || !ex_parse_long(val, 1, MAX_WORKERS, &v))
				return bad_usage("--workers wants a number from 1 to 256, not",
				                 val);
			p.nworkers = (int)v;
			i++;
		} else if (strcmp(a, "--threads") == 0) {
			if (!val || !ex_parse_long(val, 1, 1024, &threads))
				return bad_usage("--threads wants a number from 1 to 1024, not",
				                 val);
			i++;
		} else if (strcmp(a, "--lines") == 0) {
			if (!val || !ex_parse_long(val, 0, 1000000000, &p.nlines))
				return bad_usage("--lines wants a number from 0 to 10^9, not", val);
			lines_given = true;
			i++;
		} else if (a[0] == '-' && a[1] != '\0') {
			return bad_usage("unknown option", a);
		} else if (input) {
			return bad_usage("one input at most, and a second one:", a);
		} else {
			input = a;
		}
	}
	if (input && lines_given)
		return bad_usage("--lines is for generated input, not with the input", input);
	if (input && strcmp(input, "-") == 0) {
		p.input_fd = STDIN_FILENO;
	} else if (input && (p.input_fd = open(input, O_RDONLY | O_CLOEXEC)) < 0) {
		fprintf(stderr, "pipeline: %s: %s\n", input, strerror(errno));
		return 1;
	}

	/* The I/O calls make the descriptors they wait on non-blocking, and
	 * that flag belongs to the open file, which standard input and output
	 * share with the shell: put it back as it was when done. */
	int in_flags = fcntl(STDIN_FILENO, F_GETFL), out_flags = fcntl(STDOUT_FILENO, F_GETFL);
	fflush(stdout);
	tsk_config cfg = {.workers = (int)threads, .name = "pipeline"};
	int rc = tsk_run(root, &p, &cfg, NULL);
	if (in_flags >= 0 && p.input_fd == STDIN_FILENO)
		fcntl(STDIN_FILENO, F_SETFL, in_flags);
	if (out_flags >= 0 && p.print)
		fcntl(STDOUT_FILENO, F_SETFL, out_flags);
	if (p.input_fd > STDIN_FILENO)
		close(p.input_fd);

	if (rc < 0) {
		fprintf(stderr, "pipeline: tsk_run: %s\n", error_text(rc));
		return 1;
	}
	if (atomic_load(&p.err)) {
		fprintf(stderr, "pipeline: %s: %s\n", atomic_load(&p.err_what),
		        error_text(atomic_load(&p.err)));
		return 1;
	}
	struct totals *w = &p.written, *c = &p.checked;
	if (w->lines != p.nread ||
	    (!p.print && (c->lines != w->lines || c->words != w->words || c->bytes != w->bytes ||
	                  c->checksum != w->checksum))) {
		fprintf(stderr,
		        "pipeline: the stages disagree: %" PRIu64 " lines read, %" PRIu64
		        " written, %" PRIu64 " checked\n",
		        p.nread, w->lines, c->lines);
		return 1;
	}
	printf("pipeline: %" PRIu64 " lines, %" PRIu64 " words, %" PRIu64
	       " bytes, checksum %016" PRIx64 "\n",
	       w->lines, w->words, w->bytes, w->checksum);
	return 0;
}
