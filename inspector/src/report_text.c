/*
 * report_text.c - `taskscope report` for a person: a header (program,
 * source, events, losses, time span), the task counts, then the sections
 * that have something to say: deadlocks, warnings, blocked tasks (longest
 * blocked first, up to --top rows; the JSON lists them all), the tasks
 * that ran longest and those that waited longest.
 *
 * Tables are aligned on the rows shown; every cell is sanitised (control
 * bytes become '?') because names and locations come from the program.
 */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "report.h"
#include "util.h"

#define MAX_COLS 8

/* A table built row by row and printed at the end, columns aligned. */
typedef struct table {
	int ncols;
	char **cells; /* owned: ncols per row */
	size_t nrows, cap;
	size_t width[MAX_COLS];
} table;

static void table_init(table *t, int ncols, const char *const *heads)
{
	memset(t, 0, sizeof(*t));
	t->ncols = ncols;
	for (int i = 0; i < ncols; i++)
		t->width[i] = strlen(heads[i]);
}

/* Appends a row of ncols cells (NULL or "" print as "-"). */
static void table_row(table *t, const char *const *cells)
{
	if (t->nrows == t->cap) {
		t->cap = t->cap ? 2 * t->cap : 16;
		t->cells = xrealloc(t->cells, t->cap * (size_t)t->ncols * sizeof(char *));
	}
	for (int i = 0; i < t->ncols; i++) {
		const char *s = cells[i] && *cells[i] ? cells[i] : "-";
		char *c = xstrdup(s);
		for (unsigned char *p = (unsigned char *)c; *p; p++)
			if (*p < 0x20 || *p == 0x7f)
				*p = '?';
		t->cells[t->nrows * (size_t)t->ncols + (size_t)i] = c;
		size_t n = strlen(c);
		if (n > t->width[i])
			t->width[i] = n;
	}
	t->nrows++;
}

static void print_row(const table *t, FILE *f, const char *const *cells)
{
	fputs(" ", f);
	for (int i = 0; i < t->ncols; i++) {
		if (i == t->ncols - 1)
			fprintf(f, " %s\n", cells[i]);
		else
			fprintf(f, " %-*s", (int)t->width[i], cells[i]);
	}
}

/* Prints the heads and the rows, then frees the rows. */
static void table_print(table *t, FILE *f, const char *const *heads)
{
	print_row(t, f, heads);
	for (size_t r = 0; r < t->nrows; r++)
		print_row(t, f, (const char *const *)&t->cells[r * (size_t)t->ncols]);
	for (size_t i = 0; i < t->nrows * (size_t)t->ncols; i++)
		free(t->cells[i]);
	free(t->cells);
	t->cells = NULL;
	t->nrows = t->cap = 0;
}

/* "kind:name (op)", "kind:name", "kind" or "-". */
static const char *fmt_wait(const report_wait *on, char *buf, size_t cap)
{
	if (!on->kind) {
		snprintf(buf, cap, "-");
		return buf;
	}
	int n = snprintf(buf, cap, "%s", on->kind);
	if (on->name && n >= 0 && (size_t)n < cap)
		n += snprintf(buf + n, cap - (size_t)n, ":%s", on->name);
	else if (!on->name && on->id != REPORT_NONE && n >= 0 && (size_t)n < cap)
		n += snprintf(buf + n, cap - (size_t)n, ":#%" PRId64, on->id);
	if (on->op && strcmp(on->op, on->kind) != 0 && n >= 0 && (size_t)n < cap)
		snprintf(buf + n, cap - (size_t)n, " (%s)", on->op);
	return buf;
}

/* The ids of blocked_by, comma separated. */
static const char *fmt_ids(const int64_t *ids, size_t n, char *buf, size_t cap)
{
	size_t len = 0;
	buf[0] = 0;
	for (size_t i = 0; i < n && len < cap; i++) {
		int k = snprintf(buf + len, cap - len, "%s%" PRId64, i ? "," : "", ids[i]);
		if (k < 0)
			break;
		len += (size_t)k;
	}
	return buf;
}

static const char *fmt_dur(int64_t ns, char *buf, size_t cap)
{
	if (ns == REPORT_NONE)
		return "-";
	return ts_fmt_ns(ns, buf, cap);
}

static const char *fmt_int(int64_t v, char *buf, size_t cap)
{
	if (v == REPORT_NONE)
		return "-";
	snprintf(buf, cap, "%" PRId64, v);
	return buf;
}

/* A deadline relative to the end of the history: "in 2.00 s", "1.00 s ago". */
static const char *fmt_deadline(int64_t deadline, int64_t last, char *buf, size_t cap)
{
	char d[32];
	if (deadline == REPORT_NONE)
		return "-";
	if (last == REPORT_NONE)
		return ts_fmt_ns(deadline, buf, cap);
	if (deadline >= last)
		snprintf(buf, cap, "in %s", ts_fmt_ns(deadline - last, d, sizeof(d)));
	else
		snprintf(buf, cap, "%s ago", ts_fmt_ns(last - deadline, d, sizeof(d)));
	return buf;
}

/* A string from the history for the terminal: control bytes become '?';
 * NULL is "-". */
static const char *safe(const char *s, char *buf, size_t cap)
{
	if (!s)
		return "-";
	snprintf(buf, cap, "%s", s);
	for (unsigned char *p = (unsigned char *)buf; *p; p++)
		if (*p < 0x20 || *p == 0x7f)
			*p = '?';
	return buf;
}

static void print_header(const report *r, FILE *f)
{
	char a[32], b[32], c[32], pid[24], s1[256], s2[64], s3[512];
	fprintf(f, "%s (pid %s): %s", safe(r->process.name, s1, sizeof(s1)),
	        fmt_int(r->process.pid, pid, sizeof(pid)),
	        r->process.source ? safe(r->process.source, s2, sizeof(s2)) : "history");
	if (r->process.segment)
		fprintf(f, " of %s", safe(r->process.segment, s3, sizeof(s3)));
	fputs(r->process.complete ? "\n" : " (incomplete: the recording did not finish)\n", f);
	fprintf(f, "  %" PRId64 " events, %" PRId64 " lost, %" PRId64 " overwritten",
	        r->process.events, r->process.lost, r->process.overwritten);
	if (r->process.first_ns != REPORT_NONE && r->process.last_ns != REPORT_NONE)
		fprintf(f, "; history from %s to %s (%s)", ts_fmt_ns(r->process.first_ns, a, 32),
		        ts_fmt_ns(r->process.last_ns, b, 32),
		        ts_fmt_ns(r->process.last_ns - r->process.first_ns, c, 32));
	fputc('\n', f);
	fprintf(f,
	        "  %" PRId64 " tasks: %" PRId64 " running, %" PRId64 " ready, %" PRId64
	        " blocked, %" PRId64 " done",
	        r->tasks.total, r->tasks.running, r->tasks.ready, r->tasks.blocked, r->tasks.done);
	if (r->tasks.unknown)
		fprintf(f, ", %" PRId64 " unknown", r->tasks.unknown);
	fputc('\n', f);
}

/* One line per task of a deadlock: who waits on what, held by whom. */
static void print_problems(const report *r, FILE *f)
{
	char wait[160], ids[256], s1[160], s2[512], s3[160], s4[160], s5[1024];
	for (size_t i = 0; i < r->ndeadlocks; i++) {
		const report_deadlock *d = &r->deadlocks[i];
		fprintf(f, "\nDEADLOCK %" PRId64 " (%s %s): %zu task%s\n", d->id, d->verdict,
		        d->kind, d->ntasks, d->ntasks == 1 ? "" : "s");
		if (d->text)
			fprintf(f, "  %s\n", safe(d->text, s5, sizeof(s5)));
		for (size_t j = 0; j < d->ntasks; j++) {
			const report_task *t = &d->tasks[j];
			fprintf(f, "  task %" PRId64 " %s at %s waits on %s", t->id,
			        safe(t->name, s1, sizeof(s1)), safe(t->location, s2, sizeof(s2)),
			        safe(fmt_wait(&t->on, wait, sizeof(wait)), s3, sizeof(s3)));
			if (t->nblocked_by)
				fprintf(f, ", blocked by %s",
				        fmt_ids(t->blocked_by, t->nblocked_by, ids, sizeof(ids)));
			fputc('\n', f);
			for (size_t k = 0; k < t->nstack; k++)
				fprintf(f, "      %s\n", safe(t->stack[k], s2, sizeof(s2)));
		}
	}
	if (r->nwarnings)
		fprintf(f, "\nWarnings (%zu)\n", r->nwarnings);
	for (size_t i = 0; i < r->nwarnings; i++) {
		const report_warning *x = &r->warnings[i];
		char id[24];
		fprintf(f, "  %s: task %s %s: %s\n", safe(x->kind, s1, sizeof(s1)),
		        fmt_int(x->task, id, sizeof(id)), safe(x->name, s4, sizeof(s4)),
		        safe(x->detail, s5, sizeof(s5)));
	}
}

static void print_blocked(const report *r, FILE *f)
{
	static const char *const heads[] = {"ID",       "NAME",     "WAITS ON",  "FOR",
	                                    "DEADLINE", "LOCATION", "BLOCKED BY"};
	char id[24], wait[160], dur[32], dl[32], ids[256];
	size_t shown = r->nblocked < (size_t)r->top ? r->nblocked : (size_t)r->top;
	table t;
	if (!r->nblocked)
		return;
	fprintf(f, "\nBlocked tasks (%zu, longest blocked first)\n", r->nblocked);
	table_init(&t, 7, heads);
	for (size_t i = 0; i < shown; i++) {
		const report_task *b = &r->blocked[i];
		const char *cells[] = {fmt_int(b->id, id, sizeof(id)),
		                       b->name,
		                       fmt_wait(&b->on, wait, sizeof(wait)),
		                       fmt_dur(b->blocked_ns, dur, sizeof(dur)),
		                       fmt_int(b->deadline_ns, dl, sizeof(dl)),
		                       b->location,
		                       fmt_ids(b->blocked_by, b->nblocked_by, ids, sizeof(ids))};
		cells[4] = fmt_deadline(b->deadline_ns, r->process.last_ns, dl, sizeof(dl));
		table_row(&t, cells);
	}
	table_print(&t, f, heads);
	if (shown < r->nblocked)
		fprintf(f, "  ... %zu more (--top N shows more; --json lists all)\n",
		        r->nblocked - shown);
}

static void print_slowest(const report *r, FILE *f)
{
	static const char *const busy_heads[] = {"ID",          "NAME",  "BUSY",      "POLLS",
	                                         "LONGEST RUN", "STATE", "SPAWNED AT"};
	static const char *const wait_heads[] = {"ID", "NAME", "LONGEST WAIT", "ON", "LOCATION"};
	char id[24], a[32], b[32], c[32], wait[192];
	table t;
	if (r->nbusy) {
		fprintf(f, "\nBusiest tasks (time running)\n");
		table_init(&t, 7, busy_heads);
		for (size_t i = 0; i < r->nbusy; i++) {
			const report_busy *x = &r->busy[i];
			const char *cells[] = {fmt_int(x->id, id, sizeof(id)),
			                       x->name,
			                       ts_fmt_ns(x->busy_ns, a, sizeof(a)),
			                       fmt_int(x->polls, b, sizeof(b)),
			                       ts_fmt_ns(x->max_run_ns, c, sizeof(c)),
			                       x->state,
			                       x->location};
			table_row(&t, cells);
		}
		table_print(&t, f, busy_heads);
	}
	if (r->nwaits) {
		fprintf(f, "\nLongest waits\n");
		table_init(&t, 5, wait_heads);
		for (size_t i = 0; i < r->nwaits; i++) {
			const report_slow_wait *x = &r->waits[i];
			char dur[48];
			snprintf(dur, sizeof(dur), "%s%s", ts_fmt_ns(x->wait_ns, a, sizeof(a)),
			         x->ongoing ? " (now)" : "");
			const char *cells[] = {
			        fmt_int(x->id, id, sizeof(id)), x->name, dur,
			        x->found ? fmt_wait(&x->on, wait, sizeof(wait)) : "?", x->location};
			table_row(&t, cells);
		}
		table_print(&t, f, wait_heads);
	}
}

int report_write_text(const report *r, FILE *f)
{
	print_header(r, f);
	print_problems(r, f);
	print_blocked(r, f);
	print_slowest(r, f);
	if (fflush(f) != 0 || ferror(f))
		return -1;
	return 0;
}
