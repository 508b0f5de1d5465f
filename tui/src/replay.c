/*
 * replay.c - a recorded history as the TUI's source (replay.h).
 *
 * The open reads every table the views need into memory, once: a task's
 * spans in time order (the spans_task index gives them so), resources,
 * lock ownerships, closes, strings, stacks, deadlocks and warnings.  A
 * move of the time cursor builds a fresh model at T with the model's own
 * seeding (model_seed_task/res, as an attach to a running process does):
 * each task from the part of its span that covers T, its counters and
 * run/wait histograms summed over its parts before T, each lock's holders
 * from the ownerships open at T.  That costs one pass over the spans up to
 * T, about 10 ms per million.  The timeline's worker lanes read an index
 * of the running parts by worker, built at their first look.
 *
 * What a history does not keep is not invented: a channel's length and a
 * semaphore's units at T (only totals are stored), a worker's steals and
 * parks.
 */
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sqlite3.h>

#include "idmap.h"
#include "replay.h"
#include "report.h"
#include "util.h"

#define OPEN INT64_MAX /* an end not reached in the history */

/* The free element at the end of array a (n used, cap allocated), grown
 * by doubling; the caller counts it in n. */
#define GROW(a, n, cap)                                                                            \
	((n) == (cap) ? ((cap) = (cap) ? (cap)*2 : 1024,                                           \
	                 (a) = xrealloc((a), (cap) * sizeof(*(a))), &(a)[n])                       \
	              : &(a)[n])

typedef struct rp_span {
	int64_t start, run, stop, end; /* run, stop: -1 none; end: OPEN */
	uint64_t resource, waker;
	int64_t deadline; /* -1 none */
	uint32_t site, label, stack;
	uint16_t worker;
	uint8_t state0, how, wait;
} rp_span;

typedef struct rp_task {
	uint64_t id, parent;
	char name[24];
	uint32_t site; /* interned "file:line function" */
	uint32_t flags;
	int64_t spawned; /* INT64_MIN: before the history */
	int64_t ended;   /* OPEN: alive at its end */
	size_t first, n; /* its spans: spans[first, first + n) */
} rp_task;

typedef struct rp_res {
	uint64_t id;
	uint8_t kind;
	char name[24];
	uint32_t site;
	int64_t created, freed, closed; /* INT64_MIN before the history; OPEN never */
	uint64_t capacity;
} rp_res;

/* A running part on a worker (the workers' index, by worker then start). */
typedef struct rp_run {
	int64_t run;   /* its start */
	uint64_t task; /* who ran */
	size_t span;   /* index into spans */
	uint16_t worker;
} rp_run;

typedef struct rp_own {
	uint64_t res, task;
	int64_t start, end; /* INT64_MIN: before the history; OPEN: still held */
	uint8_t shared;
} rp_own;

struct replay {
	char program[64];
	int pid, workers;
	int64_t first_ns, last_ns;
	rp_task *tasks;
	size_t ntasks, captasks;
	rp_span *spans;
	size_t nspans, capspans;
	idmap task_ix; /* id -> index + 1 into tasks */
	rp_res *res;
	size_t nres, capres;
	idmap res_ix;
	rp_own *own;
	size_t nown, capown;
	int64_t *times; /* every instant a part starts or ends, sorted, unique */
	size_t ntimes;
	idmap strings; /* id -> char * */
	uint32_t next_string;
	idmap stacks; /* id -> tsk_seg_stack * */
	det_deadlock *dl;
	size_t ndl;
	det_warning *warn;
	size_t nwarn;
	rp_run *runs; /* built by the first replay_worker_history; NULL before */
	size_t nruns;
	model *m;
};

/* ---- reading ------------------------------------------------------------------ */

static int64_t col_i64(sqlite3_stmt *st, int i, int64_t null)
{
	return sqlite3_column_type(st, i) == SQLITE_NULL ? null : sqlite3_column_int64(st, i);
}

static const char *col_text(sqlite3_stmt *st, int i)
{
	const unsigned char *s = sqlite3_column_text(st, i);
	return s ? (const char *)s : "";
}

static void copy_name(char dst[24], const char *src)
{
	snprintf(dst, 24, "%s", src);
}

/* Runs sql, calling row for each result row; 0 or -1 with err. */
static int each_row(sqlite3 *db, const char *sql, void (*row)(replay *rp, sqlite3_stmt *st),
                    replay *rp, char *err, size_t cap)
{
	sqlite3_stmt *st;
	if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK) {
		snprintf(err, cap, "cannot read the history: %s", sqlite3_errmsg(db));
		return -1;
	}
	int rc;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW)
		row(rp, st);
	sqlite3_finalize(st);
	if (rc != SQLITE_DONE) {
		snprintf(err, cap, "cannot read the history: %s", sqlite3_errmsg(db));
		return -1;
	}
	return 0;
}

static uint32_t intern(replay *rp, const char *text)
{
	if (!*text)
		return 0;
	uint32_t id = rp->next_string++;
	idmap_put(&rp->strings, id, xstrdup(text));
	return id;
}

static void row_process(replay *rp, sqlite3_stmt *st)
{
	rp->pid = (int)col_i64(st, 0, 0);
	snprintf(rp->program, sizeof(rp->program), "%s", col_text(st, 1));
	rp->workers = (int)col_i64(st, 2, 0);
	rp->first_ns = col_i64(st, 3, 0);
	rp->last_ns = col_i64(st, 4, 0);
}

static void row_string(replay *rp, sqlite3_stmt *st)
{
	int64_t id = sqlite3_column_int64(st, 0);
	if (id <= 0 || id >= UINT32_MAX)
		return;
	char *old = idmap_del(&rp->strings, (uint64_t)id);
	free(old);
	idmap_put(&rp->strings, (uint64_t)id, xstrdup(col_text(st, 1)));
	if ((uint32_t)id >= rp->next_string)
		rp->next_string = (uint32_t)id + 1;
}

static void row_task(replay *rp, sqlite3_stmt *st)
{
	rp_task *t = GROW(rp->tasks, rp->ntasks, rp->captasks);
	memset(t, 0, sizeof(*t));
	t->id = (uint64_t)sqlite3_column_int64(st, 0);
	copy_name(t->name, col_text(st, 1));
	t->parent = (uint64_t)col_i64(st, 2, 0);
	char site[512];
	snprintf(site, sizeof(site), "%s %s", col_text(st, 3), col_text(st, 4));
	t->site = *col_text(st, 3) ? intern(rp, site) : 0;
	t->spawned = col_i64(st, 5, INT64_MIN);
	t->ended = col_i64(st, 6, OPEN);
	t->flags = (uint32_t)col_i64(st, 7, 0);
	if (!idmap_get(&rp->task_ix, t->id)) {
		idmap_put(&rp->task_ix, t->id, (void *)(uintptr_t)(rp->ntasks + 1));
		rp->ntasks++;
	}
}

static rp_task *task_of(const replay *rp, uint64_t id)
{
	uintptr_t ix = (uintptr_t)idmap_get(&rp->task_ix, id);
	return ix ? &rp->tasks[ix - 1] : NULL;
}

static void row_span(replay *rp, sqlite3_stmt *st)
{
	/* in task order: a task's spans are contiguous */
	rp_task *t = task_of(rp, (uint64_t)sqlite3_column_int64(st, 0));
	if (!t)
		return;
	if (t->n && t->first + t->n != rp->nspans)
		return; /* not contiguous: cannot happen in (task, start) order */
	if (!t->n)
		t->first = rp->nspans;
	rp_span *s = GROW(rp->spans, rp->nspans, rp->capspans);
	rp->nspans++;
	t->n++;
	s->state0 = (uint8_t)col_i64(st, 1, 0);
	s->start = col_i64(st, 2, 0);
	s->run = col_i64(st, 3, -1);
	s->stop = col_i64(st, 4, -1);
	s->end = col_i64(st, 5, OPEN);
	s->worker = (uint16_t)col_i64(st, 6, 0xffff);
	s->waker = (uint64_t)col_i64(st, 7, 0);
	s->how = (uint8_t)col_i64(st, 8, MR_UNSEEN);
	s->wait = (uint8_t)col_i64(st, 9, 0);
	s->resource = (uint64_t)col_i64(st, 10, 0);
	s->site = (uint32_t)col_i64(st, 11, 0);
	s->stack = (uint32_t)col_i64(st, 12, 0);
	s->deadline = col_i64(st, 13, -1);
	s->label = (uint32_t)col_i64(st, 14, 0);
}

static uint8_t res_kind(const char *name)
{
	static const char *const kinds[] = {"",          "channel",   "mutex",  "rwlock",
	                                    "semaphore", "waitgroup", "condvar"};
	for (uint8_t k = 1; k < sizeof(kinds) / sizeof(kinds[0]); k++)
		if (strcmp(name, kinds[k]) == 0)
			return k;
	return TSK_RES_NONE;
}

static void row_res(replay *rp, sqlite3_stmt *st)
{
	rp_res *r = GROW(rp->res, rp->nres, rp->capres);
	memset(r, 0, sizeof(*r));
	r->id = (uint64_t)sqlite3_column_int64(st, 0);
	r->kind = res_kind(col_text(st, 1));
	copy_name(r->name, col_text(st, 2));
	r->site = intern(rp, col_text(st, 3));
	r->created = col_i64(st, 4, INT64_MIN);
	r->freed = col_i64(st, 5, OPEN);
	r->capacity = (uint64_t)col_i64(st, 6, -1);
	r->closed = OPEN;
	if (!idmap_get(&rp->res_ix, r->id)) {
		idmap_put(&rp->res_ix, r->id, (void *)(uintptr_t)(rp->nres + 1));
		rp->nres++;
	}
}

static void row_close(replay *rp, sqlite3_stmt *st)
{
	uintptr_t ix = (uintptr_t)idmap_get(&rp->res_ix, (uint64_t)sqlite3_column_int64(st, 0));
	int64_t ns = sqlite3_column_int64(st, 1);
	if (ix && ns < rp->res[ix - 1].closed)
		rp->res[ix - 1].closed = ns;
}

static void row_own(replay *rp, sqlite3_stmt *st)
{
	*GROW(rp->own, rp->nown, rp->capown) =
	        (rp_own){.res = (uint64_t)sqlite3_column_int64(st, 0),
	                 .task = (uint64_t)sqlite3_column_int64(st, 1),
	                 .shared = (uint8_t)(sqlite3_column_int64(st, 2) != 0),
	                 .start = col_i64(st, 3, INT64_MIN),
	                 .end = col_i64(st, 4, OPEN)};
	rp->nown++;
}

static void row_frame(replay *rp, sqlite3_stmt *st)
{
	uint64_t id = (uint64_t)sqlite3_column_int64(st, 0);
	int64_t depth = sqlite3_column_int64(st, 1);
	if (!id || depth < 0 || depth >= TSK_SEG_STACK_DEPTH)
		return;
	tsk_seg_stack *s = idmap_get(&rp->stacks, id);
	if (!s) {
		s = xcalloc(1, sizeof(*s));
		idmap_put(&rp->stacks, id, s);
	}
	s->frames[depth].pc = (uint64_t)sqlite3_column_int64(st, 2);
	s->frames[depth].sym = (uint32_t)col_i64(st, 3, 0);
	if ((uint32_t)depth + 1 > s->nframes)
		s->nframes = (uint32_t)depth + 1;
}

static void row_deadlock(replay *rp, sqlite3_stmt *st)
{
	rp->dl = xrealloc(rp->dl, (rp->ndl + 1) * sizeof(*rp->dl));
	det_deadlock *d = &rp->dl[rp->ndl++];
	memset(d, 0, sizeof(*d));
	d->id = (uint32_t)sqlite3_column_int64(st, 0);
	d->verdict = strcmp(col_text(st, 1), "definite") == 0 ? DET_DEFINITE : DET_LIKELY;
	d->kind = strcmp(col_text(st, 2), "cycle") == 0 ? DET_CYCLE : DET_STALL;
	d->closed_ns = col_i64(st, 3, 0);
	d->found_ns = col_i64(st, 4, 0);
	d->text = xstrdup(col_text(st, 5));
}

static void row_member(replay *rp, sqlite3_stmt *st)
{
	uint32_t id = (uint32_t)sqlite3_column_int64(st, 0);
	for (size_t i = 0; i < rp->ndl; i++) {
		det_deadlock *d = &rp->dl[i];
		if (d->id != id)
			continue;
		d->tasks = xrealloc(d->tasks, (d->ntasks + 1) * sizeof(*d->tasks));
		d->tasks[d->ntasks++] = (det_member){
		        .task = (uint64_t)sqlite3_column_int64(st, 1),
		        .wait_kind = (uint8_t)col_i64(st, 2, 0),
		        .obj = (uint64_t)col_i64(st, 3, 0),
		        .site = (uint32_t)col_i64(st, 4, 0),
		        .stack = (uint32_t)col_i64(st, 5, 0),
		        .since_ns = col_i64(st, 6, 0),
		};
		return;
	}
}

static void row_warning(replay *rp, sqlite3_stmt *st)
{
	const char *kind = col_text(st, 0);
	uint8_t k;
	for (k = 1; k < 16 && strcmp(det_lint_name(k), kind) != 0; k++)
		;
	if (k == 16)
		return;
	rp->warn = xrealloc(rp->warn, (rp->nwarn + 1) * sizeof(*rp->warn));
	det_warning *w = &rp->warn[rp->nwarn++];
	memset(w, 0, sizeof(*w));
	w->kind = k;
	w->task = (uint64_t)sqlite3_column_int64(st, 1);
	w->res = (uint64_t)col_i64(st, 2, 0);
	w->first_ns = col_i64(st, 3, 0);
	w->last_ns = col_i64(st, 4, 0);
	w->count = (uint64_t)col_i64(st, 5, 0);
	w->value_ns = col_i64(st, 6, 0);
	snprintf(w->detail, sizeof(w->detail), "%s", col_text(st, 7));
}

static int cmp_i64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
	return x < y ? -1 : x > y;
}

static int cmp_found(const void *a, const void *b)
{
	const det_deadlock *x = a, *y = b;
	return x->found_ns < y->found_ns ? -1 : x->found_ns > y->found_ns;
}

/* Every instant a part begins or ends, for the cursor's steps. */
static void collect_times(replay *rp)
{
	rp->times = xmalloc((rp->nspans * 4 + 1) * sizeof(*rp->times));
	size_t n = 0;
	for (size_t i = 0; i < rp->nspans; i++) {
		const rp_span *s = &rp->spans[i];
		rp->times[n++] = s->start;
		if (s->run >= 0)
			rp->times[n++] = s->run;
		if (s->stop >= 0)
			rp->times[n++] = s->stop;
		if (s->end != OPEN)
			rp->times[n++] = s->end;
	}
	qsort(rp->times, n, sizeof(*rp->times), cmp_i64);
	size_t u = 0;
	for (size_t i = 0; i < n; i++)
		if (!u || rp->times[u - 1] != rp->times[i])
			rp->times[u++] = rp->times[i];
	rp->ntimes = u;
}

/* 1 if every time of the history is within +-2^62 ns (or a sentinel):
 * the cursor's and the views' arithmetic on them cannot overflow. */
static int sane(int64_t ns)
{
	const int64_t lim = (int64_t)1 << 62;
	return ns == INT64_MIN || ns == OPEN || (ns >= -lim && ns <= lim);
}

static int times_sane(const replay *rp)
{
	int ok = sane(rp->first_ns) && sane(rp->last_ns);
	for (size_t i = 0; ok && i < rp->ntasks; i++)
		ok = sane(rp->tasks[i].spawned) && sane(rp->tasks[i].ended);
	for (size_t i = 0; ok && i < rp->nspans; i++) {
		const rp_span *x = &rp->spans[i];
		ok = sane(x->start) && sane(x->run) && sane(x->stop) && sane(x->end) &&
		     sane(x->deadline);
	}
	for (size_t i = 0; ok && i < rp->nres; i++)
		ok = sane(rp->res[i].created) && sane(rp->res[i].freed) && sane(rp->res[i].closed);
	for (size_t i = 0; ok && i < rp->nown; i++)
		ok = sane(rp->own[i].start) && sane(rp->own[i].end);
	for (size_t i = 0; ok && i < rp->ndl; i++)
		ok = sane(rp->dl[i].closed_ns) && sane(rp->dl[i].found_ns);
	for (size_t i = 0; ok && i < rp->nwarn; i++)
		ok = sane(rp->warn[i].first_ns) && sane(rp->warn[i].last_ns);
	return ok;
}

replay *replay_open(const char *target, char *err, size_t cap)
{
	det_config dc;
	det_config_default(&dc);
	sqlite3 *db = report_open(target, &dc, err, cap);
	if (!db)
		return NULL;
	replay *rp = xcalloc(1, sizeof(*rp));
	idmap_init(&rp->task_ix);
	idmap_init(&rp->res_ix);
	idmap_init(&rp->strings);
	idmap_init(&rp->stacks);
	rp->next_string = 1;
	static const struct {
		const char *sql;
		void (*row)(replay *, sqlite3_stmt *);
	} reads[] = {
	        {"SELECT pid, name, workers, first_ns, last_ns FROM process", row_process},
	        {"SELECT id, text FROM strings", row_string},
	        {"SELECT id, name, parent_id, location, function, spawned_ns, ended_ns, flags "
	         "FROM tasks ORDER BY id",
	         row_task},
	        {"SELECT task, state0, start_ns, run_ns, stop_ns, end_ns, worker, waker, how, "
	         "wait, resource, site, stack, deadline_ns, label FROM spans "
	         "ORDER BY task, start_ns",
	         row_span},
	        {"SELECT id, kind, name, location, created_ns, freed_ns, capacity FROM resources "
	         "ORDER BY id",
	         row_res},
	        {"SELECT obj, ns FROM events WHERE type = 'close'", row_close},
	        {"SELECT resource, task, shared, start_ns, end_ns FROM ownership", row_own},
	        {"SELECT stack, depth, pc, symbol FROM frames", row_frame},
	        {"SELECT id, verdict, kind, closed_ns, found_ns, text FROM deadlocks ORDER BY id",
	         row_deadlock},
	        {"SELECT deadlock, task, wait, object, site, stack, since_ns FROM deadlock_tasks "
	         "ORDER BY deadlock, pos",
	         row_member},
	        {"SELECT kind, task, resource, first_ns, last_ns, count, value_ns, detail "
	         "FROM warnings ORDER BY first_ns, id",
	         row_warning},
	};
	for (size_t i = 0; i < sizeof(reads) / sizeof(reads[0]); i++) {
		if (each_row(db, reads[i].sql, reads[i].row, rp, err, cap) < 0) {
			sqlite3_close(db);
			replay_close(rp);
			return NULL;
		}
	}
	sqlite3_close(db);
	if (!rp->program[0]) {
		snprintf(err, cap, "%s: the history has no process row (an empty recording)",
		         target);
		replay_close(rp);
		return NULL;
	}
	if (!times_sane(rp)) {
		snprintf(err, cap,
		         "%s: damaged history: a time out of range (beyond +-2^62 ns of the "
		         "process's start)",
		         target);
		replay_close(rp);
		return NULL;
	}
	if (rp->ndl > 1)
		qsort(rp->dl, rp->ndl, sizeof(*rp->dl), cmp_found);
	collect_times(rp);
	if (rp->ntimes) {
		if (rp->times[0] < rp->first_ns)
			rp->first_ns = rp->times[0];
		if (rp->times[rp->ntimes - 1] > rp->last_ns)
			rp->last_ns = rp->times[rp->ntimes - 1];
	}
	/* a dump's detector confirms a deadlock after the dump's last event:
	 * the cursor reaches it (it is found by the end) */
	if (rp->ndl && rp->dl[rp->ndl - 1].found_ns > rp->last_ns)
		rp->last_ns = rp->dl[rp->ndl - 1].found_ns;
	return rp;
}

static void free_val(void *ctx, uint64_t id, void *val)
{
	(void)ctx;
	(void)id;
	free(val);
}

void replay_close(replay *rp)
{
	if (!rp)
		return;
	if (rp->m)
		model_destroy(rp->m);
	idmap_each(&rp->strings, free_val, NULL);
	idmap_each(&rp->stacks, free_val, NULL);
	idmap_fini(&rp->strings);
	idmap_fini(&rp->stacks);
	idmap_fini(&rp->task_ix);
	idmap_fini(&rp->res_ix);
	for (size_t i = 0; i < rp->ndl; i++) {
		free(rp->dl[i].tasks);
		free(rp->dl[i].text);
	}
	free(rp->dl);
	free(rp->warn);
	free(rp->tasks);
	free(rp->spans);
	free(rp->res);
	free(rp->own);
	free(rp->times);
	free(rp->runs);
	free(rp);
}

const char *replay_program(const replay *rp)
{
	return rp->program;
}

int replay_pid(const replay *rp)
{
	return rp->pid;
}

int replay_workers(const replay *rp)
{
	return rp->workers;
}

int64_t replay_first_ns(const replay *rp)
{
	return rp->first_ns;
}

int64_t replay_last_ns(const replay *rp)
{
	return rp->last_ns;
}

uint64_t replay_nspans(const replay *rp)
{
	return rp->nspans;
}

/* ---- the model at T ---------------------------------------------------------- */

/* The index of t's last span starting at or before T, or -1. */
static ssize_t span_at(const replay *rp, const rp_task *t, int64_t T)
{
	size_t lo = 0, hi = t->n;
	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		if (rp->spans[t->first + mid].start <= T)
			lo = mid + 1;
		else
			hi = mid;
	}
	return (ssize_t)lo - 1;
}

static int64_t min64(int64_t a, int64_t b)
{
	return a < b ? a : b;
}

/* The end of a span's first (ready or unknown) part and of its running
 * part: the next part's start.  Which part follows is told by the
 * columns, not by the times: a part may last 0 ns (the model clamps a
 * transition stamped before its interval's start), and the next one
 * starts at the same instant. */
static int64_t first_part_end(const rp_span *s)
{
	return s->run >= 0 ? s->run : s->stop >= 0 ? s->stop : s->end;
}

static int64_t run_part_end(const rp_span *s)
{
	return s->stop >= 0 ? s->stop : s->end;
}

/* Whether span i of task rt goes on with the last part of span i - 1: a
 * label change (tsk_set_state) splits the interval it falls in, and the
 * second half opens a span of its own in the same state, with the same
 * ready details.  It is no new run or wake (the model counts a poll at a
 * RUN, a wake at a WAKE). */
static int continues_prev(const replay *rp, const rp_task *rt, ssize_t i)
{
	if (i <= 0)
		return 0;
	const rp_span *p = &rp->spans[rt->first + (size_t)i - 1];
	const rp_span *s = &rp->spans[rt->first + (size_t)i];
	if (p->end != s->start || p->label == s->label)
		return 0;
	uint8_t last = p->stop >= 0 ? MS_BLOCKED : p->run >= 0 ? MS_RUNNING : p->state0;
	return last == s->state0;
}

/* Counters and histograms of task k from its spans up to T. */
static void sum_spans(replay *rp, model *m, const rp_task *rt, model_task *k, ssize_t last,
                      int64_t T)
{
	k->polls = k->busy_ns = k->sched_ns = k->idle_ns = k->wakes = k->self_wakes = 0;
	memset(&k->run, 0, sizeof(k->run));
	memset(&k->wait, 0, sizeof(k->wait));
	k->max_wait_at_ns = -1;
	for (ssize_t i = 0; i <= last; i++) {
		const rp_span *s = &rp->spans[rt->first + (size_t)i];
		int cont = continues_prev(rp, rt, i);
		if (s->state0 == MS_READY) /* an unknown part is not time ready */
			k->sched_ns += (uint64_t)(min64(first_part_end(s), T) - s->start);
		if (s->state0 == MS_READY && s->how >= MR_WOKEN && s->how <= MR_CANCELLED &&
		    !cont) {
			k->wakes++;
			k->self_wakes += s->waker == k->id;
		}
		if (s->run >= 0 && s->run <= T) {
			int64_t e = run_part_end(s);
			int poll = !(cont && s->state0 == MS_RUNNING);
			k->polls += (uint64_t)poll;
			k->busy_ns += (uint64_t)(min64(e, T) - s->run);
			if (e <= T)
				model_hist_add(&k->run, (uint64_t)(e - s->run));
			model_worker *w = model_worker_get(m, s->worker);
			if (w) {
				w->busy_ns += min64(e, T) - s->run;
				w->polls += (uint64_t)poll;
			}
		}
		if (s->stop >= 0 && s->stop <= T) {
			k->idle_ns += (uint64_t)(min64(s->end, T) - s->stop);
			if (s->end <= T) {
				uint64_t d = (uint64_t)(s->end - s->stop);
				if (d > k->wait.max_ns)
					k->max_wait_at_ns = s->stop;
				model_hist_add(&k->wait, d);
			}
		}
	}
}

static void seed_task(replay *rp, model *m, const rp_task *rt, int64_t T)
{
	if (rt->spawned != INT64_MIN && rt->spawned > T)
		return;
	ssize_t i = span_at(rp, rt, T);
	if (i < 0 && rt->spawned == INT64_MIN)
		return; /* not met yet at T */
	tsk_seg_task slot = {.id = rt->id,
	                     .parent = rt->parent,
	                     .spawn_site = rt->site,
	                     .flags = rt->flags,
	                     .worker = 0xffff,
	                     .wait_deadline_ns = -1};
	copy_name(slot.name, rt->name);
	int64_t since = rt->spawned;
	const rp_span *s = i >= 0 ? &rp->spans[rt->first + (size_t)i] : NULL;
	uint8_t how = MR_UNSEEN;
	uint64_t waker = 0;
	if (rt->ended <= T) {
		slot.state = TSK_TS_DONE;
		since = rt->ended;
	} else if (!s || s->end <= T) {
		slot.state = TSK_TS_READY; /* between the spans we have */
		since = s ? s->end : rt->spawned;
	} else if (s->stop >= 0 && s->stop <= T) {
		slot.state = TSK_TS_BLOCKED;
		since = s->stop;
		slot.wait_kind = s->wait;
		slot.wait_obj = s->resource;
		slot.wait_site = s->site;
		slot.stack = s->stack;
		slot.wait_deadline_ns = s->deadline;
	} else if (s->run >= 0 && s->run <= T) {
		slot.state = TSK_TS_RUNNING;
		since = s->run;
		slot.worker = s->worker;
	} else {
		slot.state = TSK_TS_READY;
		since = s->start;
		how = s->how;
		waker = s->waker;
	}
	if (s)
		slot.label = s->label;
	model_seed_task(m, &slot, since, rt->spawned);
	model_task *k = model_task_get(m, rt->id);
	if (!k)
		return;
	if (slot.state == TSK_TS_READY) {
		k->cur.how = how;
		k->cur.obj = waker;
	}
	sum_spans(rp, m, rt, k, i, T);
}

/* The slot of resource r as it stood at T (without holders): 0 if it did
 * not exist then. */
static int res_slot(const rp_res *r, int64_t T, tsk_seg_res *slot)
{
	if ((r->created != INT64_MIN && r->created > T) || r->freed <= T)
		return 0;
	*slot = (tsk_seg_res){.id = r->id,
	                      .kind = r->kind,
	                      .flags = r->closed <= T ? TSK_RF_CLOSED : 0,
	                      .site = r->site,
	                      .capacity = r->capacity};
	copy_name(slot->name, r->name);
	return 1;
}

model *replay_model_at(replay *rp, int64_t T)
{
	if (rp->m)
		model_destroy(rp->m);
	model *m = rp->m = model_create(NULL);
	model_set_max_ended(m, UINT32_MAX);
	model_set_epoch(m, 0); /* deadlines are process ns already */
	/* resources first as hints: a blocked task's wait finds its resource */
	for (size_t i = 0; i < rp->nres; i++) {
		tsk_seg_res slot;
		if (res_slot(&rp->res[i], T, &slot))
			model_hint_res(m, &slot, rp->res[i].created);
	}
	for (int w = 0; w < rp->workers && w < MODEL_MAX_WORKERS; w++) {
		/* the workers exist from the start (an UNPARK makes one known) */
		tsk_seg_event ev = {.type = TSK_EV_UNPARK, .worker = (uint16_t)w};
		model_apply(m, &ev, rp->first_ns);
	}
	for (size_t i = 0; i < rp->ntasks; i++)
		seed_task(rp, m, &rp->tasks[i], T);
	/* a worker's busy time already counts its open run up to T
	 * (sum_spans): its run so far starts at T */
	for (uint32_t w = 0;; w++) {
		model_worker *wk = model_worker_get(m, w);
		if (!wk)
			break;
		if (wk->task)
			wk->last_change = T;
	}
	/* then the resources with their writers, and the readers */
	struct {
		uint64_t owner;
		uint32_t nreaders;
	} *held = xcalloc(rp->nres + 1, sizeof(*held));
	for (size_t o = 0; o < rp->nown; o++) {
		const rp_own *h = &rp->own[o];
		uintptr_t ix = (uintptr_t)idmap_get(&rp->res_ix, h->res);
		if (!ix || h->start > T || h->end <= T)
			continue;
		if (h->shared)
			held[ix - 1].nreaders++;
		else
			held[ix - 1].owner = h->task;
	}
	for (size_t i = 0; i < rp->nres; i++) {
		const rp_res *r = &rp->res[i];
		tsk_seg_res slot;
		if (!res_slot(r, T, &slot))
			continue;
		slot.owner = held[i].owner;
		slot.nreaders = held[i].nreaders;
		model_seed_res(m, &slot, r->created, T);
	}
	free(held);
	for (size_t o = 0; o < rp->nown; o++) {
		const rp_own *h = &rp->own[o];
		if (!h->shared || h->start > T || h->end <= T)
			continue;
		tsk_seg_event ev = {
		        .type = TSK_EV_ACQUIRE, .task = h->task, .obj = h->res, .a32 = 1};
		model_apply(m, &ev, h->start == INT64_MIN ? rp->first_ns : h->start);
	}
	return m;
}

int64_t replay_step(const replay *rp, int64_t T, int dir)
{
	size_t lo = 0, hi = rp->ntimes; /* the first time > T */
	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		if (rp->times[mid] <= T)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (dir > 0)
		return lo < rp->ntimes ? rp->times[lo] : T;
	/* the last time < T */
	size_t i = lo;
	while (i > 0 && rp->times[i - 1] >= T)
		i--;
	return i > 0 ? rp->times[i - 1] : T;
}

size_t replay_history(const replay *rp, uint64_t task, int64_t T, tui_span *out, size_t cap)
{
	const rp_task *rt = task_of(rp, task);
	if (!rt || !cap)
		return 0;
	/* the parts ending by T, newest first, then reversed */
	size_t n = 0;
	for (ssize_t i = span_at(rp, rt, T); i >= 0 && n < cap; i--) {
		const rp_span *s = &rp->spans[rt->first + (size_t)i];
		int64_t from[3];
		uint8_t state[3];
		int np = 0;
		if (s->state0 != MS_RUNNING && s->state0 != MS_BLOCKED) {
			from[np] = s->start;
			state[np++] = s->state0;
		}
		if (s->run >= 0) {
			from[np] = s->run;
			state[np++] = MS_RUNNING;
		}
		if (s->stop >= 0) {
			from[np] = s->stop;
			state[np++] = MS_BLOCKED;
		}
		for (int p = np - 1; p >= 0 && n < cap; p--) {
			int64_t end = p + 1 < np ? from[p + 1] : s->end;
			if (end > T)
				continue; /* the open part: the model's */
			tui_span *x = &out[n++];
			*x = (tui_span){.start_ns = from[p], .end_ns = end, .state = state[p]};
			if (state[p] == MS_BLOCKED) {
				x->obj = s->resource;
				x->site = s->site;
				x->wait_kind = s->wait;
				x->worker = 0xffff;
			} else if (state[p] == MS_RUNNING) {
				x->obj = task;
				x->worker = s->worker;
			} else {
				x->obj = s->waker;
				x->how = s->how;
				x->worker = 0xffff;
			}
		}
	}
	for (size_t i = 0; i < n / 2; i++) {
		tui_span x = out[i];
		out[i] = out[n - 1 - i];
		out[n - 1 - i] = x;
	}
	return n;
}

static int cmp_run(const void *a, const void *b)
{
	const rp_run *x = a, *y = b;
	if (x->worker != y->worker)
		return x->worker < y->worker ? -1 : 1;
	return x->run < y->run ? -1 : x->run > y->run;
}

/* The workers' index: every running part with its worker, by (worker,
 * start).  Built once, at the first look at a worker (a pass over the
 * spans and a sort: about 100 ms per million). */
static void index_runs(replay *rp)
{
	size_t n = 0;
	for (size_t i = 0; i < rp->nspans; i++)
		if (rp->spans[i].run >= 0 && rp->spans[i].worker != 0xffff)
			n++;
	rp->runs = xmalloc((n + 1) * sizeof(*rp->runs));
	for (size_t k = 0; k < rp->ntasks; k++) {
		const rp_task *t = &rp->tasks[k];
		for (size_t i = t->first; i < t->first + t->n; i++) {
			const rp_span *s = &rp->spans[i];
			if (s->run >= 0 && s->worker != 0xffff)
				rp->runs[rp->nruns++] = (rp_run){s->run, t->id, i, s->worker};
		}
	}
	qsort(rp->runs, rp->nruns, sizeof(*rp->runs), cmp_run);
}

size_t replay_worker_history(replay *rp, uint32_t worker, int64_t T, tui_span *out, size_t cap)
{
	if (!rp->runs)
		index_runs(rp);
	if (!cap || worker >= 0xffff)
		return 0;
	/* hi: the first run of this worker that starts after T (or of a
	 * later worker); lo: its first run */
	size_t lo = 0, hi = rp->nruns;
	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		const rp_run *r = &rp->runs[mid];
		if (r->worker < worker || (r->worker == worker && r->run <= T))
			lo = mid + 1;
		else
			hi = mid;
	}
	size_t end = lo;
	lo = 0;
	hi = end;
	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		if (rp->runs[mid].worker < worker)
			lo = mid + 1;
		else
			hi = mid;
	}
	size_t n = 0;
	for (size_t i = end; i > lo && n < cap; i--) {
		const rp_run *r = &rp->runs[i - 1];
		const rp_span *s = &rp->spans[r->span];
		int64_t stop = s->stop >= 0 ? s->stop : s->end;
		if (stop > T)
			continue; /* still running at T: the model's */
		out[n++] = (tui_span){.start_ns = r->run,
		                      .end_ns = stop,
		                      .obj = r->task,
		                      .worker = r->worker,
		                      .state = MS_RUNNING};
	}
	for (size_t i = 0; i < n / 2; i++) {
		tui_span x = out[i];
		out[i] = out[n - 1 - i];
		out[n - 1 - i] = x;
	}
	return n;
}

int replay_string(const replay *rp, uint32_t id, char *buf, size_t cap)
{
	const char *s = id ? idmap_get(&rp->strings, id) : NULL;
	if (!s)
		return -1;
	snprintf(buf, cap, "%s", s);
	return 0;
}

int replay_stack(const replay *rp, uint32_t id, tsk_seg_stack *out)
{
	const tsk_seg_stack *s = id ? idmap_get(&rp->stacks, id) : NULL;
	if (!s)
		return -1;
	*out = *s;
	return 0;
}

size_t replay_ndeadlocks(const replay *rp, int64_t T)
{
	size_t n = 0;
	while (n < rp->ndl && rp->dl[n].found_ns <= T)
		n++;
	return n;
}

const det_deadlock *replay_deadlock(const replay *rp, size_t i)
{
	return i < rp->ndl ? &rp->dl[i] : NULL;
}

void replay_each_warning(const replay *rp, int64_t T, void (*fn)(void *ctx, const det_warning *w),
                         void *ctx)
{
	for (size_t i = 0; i < rp->nwarn; i++)
		if (rp->warn[i].first_ns <= T)
			fn(ctx, &rp->warn[i]);
}
