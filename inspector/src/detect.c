/*
 * detect.c - deadlock detection and lints (detect.h; the rules are in
 * docs/DEADLOCKS.md).
 *
 * Reading order: the owned edges of the wait-for graph (owned_edges), the
 * incremental cycle search (find_cycles), the fixpoint (fixpoint), the
 * confirmation on the live state (confirm_*), the text of a verdict
 * (describe), the lints, det_step.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "detect.h"
#include "idmap.h"
#include "report.h"
#include "util.h"

#define LINT_EVERY_NS 1000000000 /* periodic lints: once a second */
#define MAX_WARNINGS  10000
#define TEXT_HEAD     4    /* a long chain's text: its first links ... */
#define TEXT_TAIL     2    /* ... and its last */
#define MAX_RETRY     1024 /* cycles not confirmed, searched again at the next fixpoint */

typedef struct u64vec {
	uint64_t *p;
	size_t n, cap;
} u64vec;

static void vpush(u64vec *v, uint64_t x)
{
	if (v->n == v->cap) {
		v->cap = v->cap ? v->cap * 2 : 16;
		v->p = xrealloc(v->p, v->cap * sizeof(*v->p));
	}
	v->p[v->n++] = x;
}

/* A likely stall waiting out hold_ns before it is reported. */
typedef struct pending {
	det_deadlock dl; /* members sorted by task id */
	uint32_t *seqs;  /* of the members' slots when first seen */
	int64_t first_ns;
	int seen; /* met again in the latest fixpoint */
} pending;

/* What a task was reported in. */
typedef struct reported {
	int64_t since_ns; /* the wait it was reported in */
	uint8_t verdict;
} reported;

struct det {
	model *m;
	det_config cfg;
	det_out out;
	det_live live;
	int have_live;
	u64vec dirty;     /* tasks that began an untimed owned wait since the last step */
	idmap reported;   /* task id -> reported */
	det_deadlock *dl; /* reported, in order */
	size_t ndl, capdl;
	pending *pend;
	size_t npend, cappend;
	idmap warns; /* task * 8 + kind -> det_warning */
	size_t nwarns;
	int64_t last_fix_ns; /* INT64_MIN: never */
	int64_t fix_gap_ns;  /* the least time to the next fixpoint */
	int64_t last_lint_ns;
	uint64_t waits_since_fix;
	int64_t cpu_ns;
	int64_t now_ns;
	/* find_cycles' working memory, kept between calls */
	idmap colour;  /* task id -> gen << 2 | colour (1 on the path, 2 done) */
	uintptr_t gen; /* colours of older generations count as none */
	u64vec edges;
	struct frame *stack;
	size_t capstack;
	u64vec retry; /* tasks of cycles not confirmed yet: searched again at each fixpoint */
	det_stats st;
};

/* ---- config -------------------------------------------------------------------- */

void det_config_default(det_config *c)
{
	*c = (det_config){.long_poll_ns = 10000000,
	                  .stuck_ns = 5000000000,
	                  .stuck_factor = 10,
	                  .lost_ns = 1000000000,
	                  .leak_ns = 1000000000,
	                  .storm_wakes = 1000,
	                  .hold_ns = 50000000,
	                  .sweep_ns = 20000000};
}

int det_config_set(det_config *c, const char *spec, char *err, size_t cap)
{
	static const struct {
		const char *name;
		size_t off;
	} durations[] = {
	        {"long-poll", offsetof(det_config, long_poll_ns)},
	        {"stuck", offsetof(det_config, stuck_ns)},
	        {"lost", offsetof(det_config, lost_ns)},
	        {"leak", offsetof(det_config, leak_ns)},
	        {"hold", offsetof(det_config, hold_ns)},
	};
	const char *eq = strchr(spec, '=');
	if (!eq || eq == spec || !eq[1]) {
		snprintf(err, cap, "bad threshold '%s' (expected NAME=VALUE)", spec);
		return -1;
	}
	size_t n = (size_t)(eq - spec);
	for (size_t i = 0; i < sizeof(durations) / sizeof(durations[0]); i++) {
		if (strlen(durations[i].name) != n || strncmp(spec, durations[i].name, n))
			continue;
		int64_t ns;
		if (ts_parse_duration(eq + 1, &ns) < 0 || ns <= 0) {
			snprintf(err, cap, "bad duration '%s' for %s", eq + 1, durations[i].name);
			return -1;
		}
		*(int64_t *)((char *)c + durations[i].off) = ns;
		return 0;
	}
	if (n == 5 && !strncmp(spec, "storm", 5)) {
		char *end;
		errno = 0;
		unsigned long long v = strtoull(eq + 1, &end, 10);
		if (errno || *end || v == 0 || eq[1] == '-') {
			snprintf(err, cap, "bad count '%s' for storm", eq + 1);
			return -1;
		}
		c->storm_wakes = v;
		return 0;
	}
	snprintf(err, cap, "unknown threshold '%.*s' (long-poll, stuck, lost, leak, storm, hold)",
	         (int)n, spec);
	return -1;
}

const char *det_verdict_name(int v)
{
	return v == DET_DEFINITE ? "definite" : v == DET_LIKELY ? "likely" : "?";
}

const char *det_kind_name(int k)
{
	return k == DET_CYCLE ? "cycle" : k == DET_STALL ? "stall" : "?";
}

const char *det_lint_name(int k)
{
	static const char *names[DL_COUNT] = {
	        [DL_LONG_POLL] = "long_poll",
	        [DL_STUCK] = "stuck",
	        [DL_LOST_WAKEUP] = "lost_wakeup",
	        [DL_TASK_LEAK] = "task_leak",
	        [DL_SELF_WAKE_STORM] = "self_wake_storm",
	        [DL_LOCK_ACROSS_SUSPEND] = "lock_across_suspend",
	};
	return k > 0 && k < DL_COUNT ? names[k] : "?";
}

/* ---- the wait-for graph ----------------------------------------------------------- */

static int alive(const model_task *t)
{
	return t && t->ended_ns < 0;
}

/* Is t blocked without a deadline on a wait the detector judges? */
static int untimed(const model_task *t)
{
	return alive(t) && t->cur.state == MS_BLOCKED && t->cur.deadline_ns < 0;
}

static int owned_wait(uint8_t k)
{
	return k == TSK_WAIT_MUTEX || k == TSK_WAIT_RWLOCK_RD || k == TSK_WAIT_RWLOCK_WR ||
	       k == TSK_WAIT_JOIN;
}

/* Appends to out the tasks t waits for along owned edges: the holders of
 * the lock (a reader: the writer holding it, else the writers queued
 * ahead of it), or the joined task.  A task waiting on a lock it holds
 * waits for itself only if it took the lock before this wait began (a
 * relock; a hand-off makes the waiter the holder just before it wakes). */
static void owned_edges(det *d, const model_task *t, u64vec *out)
{
	if (!untimed(t))
		return;
	uint8_t k = t->cur.wait_kind;
	if (k == TSK_WAIT_JOIN) {
		model_task *j = model_task_get(d->m, t->cur.obj);
		if (alive(j))
			vpush(out, j->id);
		return;
	}
	if (!owned_wait(k))
		return;
	model_res *r = model_res_get(d->m, t->cur.obj);
	if (!r)
		return;
	size_t n0 = out->n;
	for (uint32_t i = 0; i < r->nholds; i++) {
		const model_hold *h = &r->holds[i];
		if (k == TSK_WAIT_RWLOCK_RD && h->shared)
			continue; /* readers do not block a reader */
		if (h->task == t->id && h->start_ns != INT64_MIN && h->start_ns >= t->cur.start_ns)
			continue;
		vpush(out, h->task);
	}
	if (k == TSK_WAIT_RWLOCK_RD && out->n == n0) {
		/* writer-preferring: a queued writer goes first */
		for (uint32_t i = 0; i < r->nwq; i++) {
			model_task *w = model_task_get(d->m, r->wq[i]);
			if (w && w != t && untimed(w) && w->cur.wait_kind == TSK_WAIT_RWLOCK_WR &&
			    w->cur.obj == r->id)
				vpush(out, w->id);
		}
	}
}

static void member_of(const model_task *t, det_member *m)
{
	memset(m, 0, sizeof(*m));
	m->task = t->id;
	m->wait_kind = t->cur.wait_kind;
	m->obj = t->cur.obj;
	m->site = t->cur.site;
	m->stack = t->cur.stack;
	m->since_ns = t->cur.start_ns;
}

/* ---- confirmation on the live state -------------------------------------------------- */

/* Reads every member's slot: each must be blocked on the same thing with
 * no deadline, and a lock it waits for that the model gives one writer
 * must name that writer as its owner.  seqs (may be NULL) gets the
 * slots' sequence numbers. */
static int confirm_read(det *d, const det_member *mem, size_t n, uint32_t *seqs)
{
	if (!d->have_live)
		return 0;
	for (size_t i = 0; i < n; i++) {
		det_slot s;
		if (d->live.task(d->live.ctx, mem[i].task, &s) < 0)
			return 0;
		if (s.state != TSK_TS_BLOCKED || s.wait_kind != mem[i].wait_kind ||
		    s.obj != mem[i].obj || s.deadline >= 0)
			return 0;
		if (seqs)
			seqs[i] = s.seq;
		/* a lock the model gives one writer must have that owner in the
		 * live state too (every verdict: a cycle refused here would
		 * otherwise come back as a stall of the same tasks) */
		uint8_t k = mem[i].wait_kind;
		if (k != TSK_WAIT_MUTEX && k != TSK_WAIT_RWLOCK_WR && k != TSK_WAIT_RWLOCK_RD)
			continue;
		model_res *r = model_res_get(d->m, mem[i].obj);
		uint64_t owner;
		uint32_t nreaders, shared = 0;
		if (!r || d->live.owner(d->live.ctx, mem[i].obj, &owner, &nreaders) < 0)
			continue;
		for (uint32_t h = 0; h < r->nholds; h++)
			shared += r->holds[h].shared;
		if (r->nholds == 1 && !r->holds[0].shared && owner != r->holds[0].task) {
			model_fix_owner(d->m, mem[i].obj, owner, d->now_ns);
			return 0;
		}
		/* the readers the model counts must be the slot's (a lost read
		 * unlock leaves a reader that is not there) */
		if (k != TSK_WAIT_MUTEX && shared != nreaders)
			return 0;
	}
	return 1;
}

/* The members' slots still have the sequence numbers seqs. */
static int confirm_same(det *d, const det_member *mem, size_t n, const uint32_t *seqs)
{
	uint32_t *now = xmalloc((n ? n : 1) * sizeof(*now));
	int ok = confirm_read(d, mem, n, now) && !memcmp(now, seqs, n * sizeof(*now));
	free(now);
	return ok;
}

/* Confirms at once: one read of a frozen process, two reads of a live one
 * with nothing changed between them (a consistent view).  Cycles also
 * check the owners the lock slots name. */
static int confirm_now(det *d, const det_member *mem, size_t n, int cycle)
{
	uint32_t *seqs = xmalloc((n ? n : 1) * sizeof(*seqs));
	int ok = confirm_read(d, mem, n, seqs);
	for (size_t i = 0; ok && cycle && i < n; i++) {
		/* the lock slot must name the next member as its owner (a
		 * writer); a read lock's readers are not in the live state, so a
		 * reader it waits for is taken from the model, with no writer */
		uint8_t k = mem[i].wait_kind;
		if (k != TSK_WAIT_MUTEX && k != TSK_WAIT_RWLOCK_WR && k != TSK_WAIT_RWLOCK_RD)
			continue;
		uint64_t owner;
		uint32_t nreaders;
		if (d->live.owner(d->live.ctx, mem[i].obj, &owner, &nreaders) < 0) {
			ok = 0;
			break;
		}
		int exclusive = k == TSK_WAIT_MUTEX;
		model_res *r = model_res_get(d->m, mem[i].obj);
		for (uint32_t h = 0; r && !exclusive && h < r->nholds; h++)
			if (r->holds[h].task == mem[i].by[0] && !r->holds[h].shared)
				exclusive = 1;
		if (exclusive ? owner != mem[i].by[0] : owner != 0) {
			/* the model kept a holder whose release was lost: the live
			 * state is right, and the model learns it */
			ok = 0;
			model_fix_owner(d->m, mem[i].obj, owner, d->now_ns);
		}
	}
	if (ok && !d->live.frozen)
		ok = confirm_same(d, mem, n, seqs);
	free(seqs);
	return ok;
}

/* ---- the text of a verdict ------------------------------------------------------------ */

typedef struct sbuf {
	char *p;
	size_t n, cap;
} sbuf;

static void sb_printf(sbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void sb_printf(sbuf *b, const char *fmt, ...)
{
	va_list ap;
	for (;;) {
		va_start(ap, fmt);
		int k = vsnprintf(b->p ? b->p + b->n : NULL, b->p ? b->cap - b->n : 0, fmt, ap);
		va_end(ap);
		if (k < 0)
			return;
		if (b->p && b->n + (size_t)k < b->cap) {
			b->n += (size_t)k;
			return;
		}
		b->cap = (b->cap + (size_t)k + 1) * 2;
		b->p = xrealloc(b->p, b->cap);
		if (!b->n)
			b->p[0] = 0;
	}
}

static void task_words(det *d, sbuf *b, uint64_t id)
{
	model_task *t = model_task_get(d->m, id);
	if (t && t->name[0])
		sb_printf(b, "task %" PRIu64 " \"%s\"", id, t->name);
	else
		sb_printf(b, "task %" PRIu64, id);
}

/* "waits for mutex "m2" (abba.c:40)" */
static void wait_words(det *d, sbuf *b, const det_member *mem)
{
	const char *kind = report_wait_kind(mem->wait_kind);
	if (mem->wait_kind == TSK_WAIT_JOIN) {
		sb_printf(b, "waits to join ");
		task_words(d, b, mem->obj);
	} else {
		model_res *r = model_res_get(d->m, mem->obj);
		const char *how = mem->wait_kind == TSK_WAIT_RWLOCK_RD   ? "a read lock on "
		                  : mem->wait_kind == TSK_WAIT_RWLOCK_WR ? "the write lock on "
		                  : mem->wait_kind == TSK_WAIT_CHAN_SEND ? "room in "
		                  : mem->wait_kind == TSK_WAIT_CHAN_RECV ? "a message on "
		                                                         : "";
		if (r && r->name[0])
			sb_printf(b, "waits for %s%s \"%s\"", how, kind ? kind : "resource",
			          r->name);
		else
			sb_printf(b, "waits for %s%s %" PRIu64, how, kind ? kind : "resource",
			          mem->obj);
	}
	char site[512] = "", loc[256], fn[256];
	if (mem->site && d->out.resolve &&
	    d->out.resolve(d->out.ctx, mem->site, site, sizeof(site)) == 0) {
		ts_split_site(site, loc, sizeof(loc), fn, sizeof(fn));
		if (loc[0])
			sb_printf(b, " (%s)", loc);
	}
}

static char *describe(det *d, const det_deadlock *dl)
{
	sbuf b = {0};
	if (dl->kind == DET_CYCLE) {
		for (uint32_t i = 0; i < dl->ntasks; i++) {
			const det_member *mem = &dl->tasks[i];
			if (i == TEXT_HEAD && dl->ntasks > TEXT_HEAD + TEXT_TAIL) {
				/* a long chain: its head and tail say what it is */
				sb_printf(&b, ", ... %" PRIu32 " more tasks in the same chain ...",
				          dl->ntasks - TEXT_HEAD - TEXT_TAIL);
				i = dl->ntasks - TEXT_TAIL;
				mem = &dl->tasks[i];
				sb_printf(&b, ", ");
				task_words(d, &b, mem->task);
				sb_printf(&b, " which ");
				wait_words(d, &b, mem);
				continue;
			}
			if (i)
				sb_printf(&b, mem->wait_kind == TSK_WAIT_JOIN ? ", which "
				                                              : ", held by ");
			if (!i || dl->tasks[i - 1].wait_kind != TSK_WAIT_JOIN) {
				task_words(d, &b, mem->task);
				sb_printf(&b, i ? " which " : " ");
			}
			wait_words(d, &b, mem);
		}
		const det_member *last = &dl->tasks[dl->ntasks - 1];
		sb_printf(&b, last->wait_kind == TSK_WAIT_JOIN ? ": a cycle" : ", held by ");
		if (last->wait_kind != TSK_WAIT_JOIN) {
			task_words(d, &b, dl->tasks[0].task);
			sb_printf(&b, ": a cycle");
		}
	} else {
		for (uint32_t i = 0; i < dl->ntasks; i++) {
			if (i)
				sb_printf(&b, "; ");
			task_words(d, &b, dl->tasks[i].task);
			sb_printf(&b, " ");
			wait_words(d, &b, &dl->tasks[i]);
		}
		sb_printf(&b, dl->verdict == DET_DEFINITE
		                      ? ": every task of the program is blocked without a deadline"
		                      : ": every task that created or used what they wait on is "
		                        "stuck or finished");
	}
	if (dl->nbehind)
		sb_printf(&b, " (%" PRIu32 " more task%s blocked behind it)", dl->nbehind,
		          dl->nbehind == 1 ? "" : "s");
	return b.p;
}

/* ---- reporting ---------------------------------------------------------------------- */

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

static int by_task(const void *a, const void *b)
{
	const det_member *x = a, *y = b;
	return x->task < y->task ? -1 : x->task > y->task;
}

/* Is there a member not yet reported in this wait (or only as likely, when
 * the verdict is definite)? */
static int is_news(det *d, const det_member *mem, size_t n, uint8_t verdict)
{
	for (size_t i = 0; i < n; i++) {
		reported *r = idmap_get(&d->reported, mem[i].task);
		if (!r || r->since_ns != mem[i].since_ns || r->verdict > verdict)
			return 1;
	}
	return 0;
}

typedef struct behind_ctx {
	det *d;
	idmap memo; /* task id -> 1 not behind, 2 behind (the members: 2), 3 on the path */
	u64vec out, path, by;
} behind_ctx;

/* Is t blocked, along owned edges (the first one of each task), behind a
 * member of the cycle? */
static void behind_one(void *ctx, model_task *t)
{
	behind_ctx *b = ctx;
	if (!untimed(t) || !owned_wait(t->cur.wait_kind) || idmap_get(&b->memo, t->id))
		return;
	b->path.n = 0;
	uintptr_t result = 1;
	model_task *cur = t;
	while (cur) {
		uintptr_t v = (uintptr_t)idmap_get(&b->memo, cur->id);
		if (v == 1 || v == 2) {
			result = v;
			break;
		}
		if (v == 3)
			break; /* another cycle: not this one's */
		idmap_put(&b->memo, cur->id, (void *)3);
		vpush(&b->path, cur->id);
		b->by.n = 0;
		owned_edges(b->d, cur, &b->by);
		cur = b->by.n ? model_task_get(b->d->m, b->by.p[0]) : NULL;
	}
	for (size_t i = 0; i < b->path.n; i++) {
		idmap_put(&b->memo, b->path.p[i], (void *)result);
		if (result == 2)
			vpush(&b->out, b->path.p[i]);
	}
}

/* The tasks blocked behind a cycle: their waits lead into it. */
static void collect_behind(det *d, det_deadlock *dl)
{
	behind_ctx b = {.d = d};
	idmap_init(&b.memo);
	for (uint32_t i = 0; i < dl->ntasks; i++)
		idmap_put(&b.memo, dl->tasks[i].task, (void *)2);
	model_each_task(d->m, behind_one, &b);
	dl->behind = b.out.p;
	dl->nbehind = (uint32_t)b.out.n;
	if (dl->nbehind > 1)
		qsort(dl->behind, dl->nbehind, sizeof(*dl->behind), cmp_u64);
	free(b.path.p);
	free(b.by.p);
	idmap_fini(&b.memo);
}

/* Is a member already in a reported deadlock, in this same wait? */
static int any_reported(det *d, const det_member *mem, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		reported *r = idmap_get(&d->reported, mem[i].task);
		if (r && r->since_ns == mem[i].since_ns)
			return 1;
	}
	return 0;
}

/* Takes ownership of dl's arrays. */
static void announce(det *d, det_deadlock *dl)
{
	if (dl->kind == DET_CYCLE && !dl->behind)
		collect_behind(d, dl);
	dl->id = (uint32_t)d->ndl + 1;
	dl->found_ns = d->now_ns;
	dl->closed_ns = INT64_MIN;
	for (uint32_t i = 0; i < dl->ntasks; i++) {
		if (dl->tasks[i].since_ns > dl->closed_ns)
			dl->closed_ns = dl->tasks[i].since_ns;
		reported *r = idmap_get(&d->reported, dl->tasks[i].task);
		if (!r) {
			r = xmalloc(sizeof(*r));
			idmap_put(&d->reported, dl->tasks[i].task, r);
		}
		r->since_ns = dl->tasks[i].since_ns;
		r->verdict = dl->verdict;
	}
	if (dl->found_ns < dl->closed_ns)
		dl->found_ns = dl->closed_ns;
	dl->text = describe(d, dl);
	if (d->ndl == d->capdl) {
		d->capdl = d->capdl ? d->capdl * 2 : 8;
		d->dl = xrealloc(d->dl, d->capdl * sizeof(*d->dl));
	}
	d->dl[d->ndl++] = *dl;
	if (d->out.deadlock)
		d->out.deadlock(d->out.ctx, &d->dl[d->ndl - 1]);
}

static void dl_free(det_deadlock *dl)
{
	free(dl->tasks);
	free(dl->behind);
	free(dl->text);
}

/* ---- cycles ----------------------------------------------------------------------------- */

struct frame {
	uint64_t task;
	size_t off, n, i; /* its edges: edges.p[off, off + n), the next one i */
};
typedef struct frame frame;

/* A cycle stack[from..top]: each waits for the next, the top for stack[from]. */
static void on_cycle(det *d, const frame *stack, size_t from, size_t top)
{
	size_t n = top - from + 1;
	det_member *mem = xcalloc(n, sizeof(*mem));
	for (size_t i = 0; i < n; i++) {
		member_of(model_task_get(d->m, stack[from + i].task), &mem[i]);
		mem[i].by[0] = stack[from + (i + 1) % n].task;
	}
	if (!is_news(d, mem, n, DET_DEFINITE)) {
		free(mem);
		return;
	}
	d->st.candidates++;
	if (!confirm_now(d, mem, n, 1)) {
		/* a transient (or a model behind the program): look again later */
		d->st.rejected++;
		if (d->retry.n < MAX_RETRY)
			vpush(&d->retry, mem[0].task);
		free(mem);
		return;
	}
	det_deadlock dl = {
	        .verdict = DET_DEFINITE, .kind = DET_CYCLE, .tasks = mem, .ntasks = (uint32_t)n};
	announce(d, &dl);
}

/* Depth-first search along owned edges from each start, reporting every
 * cycle met (a back edge to a task on the current path). */
static uintptr_t colour_of(det *d, uint64_t id)
{
	uintptr_t v = (uintptr_t)idmap_get(&d->colour, id);
	return v >> 2 == d->gen ? (v & 3) : 0;
}

static void set_colour(det *d, uint64_t id, uintptr_t c)
{
	idmap_put(&d->colour, id, (void *)(d->gen << 2 | c));
}

static void find_cycles(det *d, const uint64_t *starts, size_t nstarts)
{
	/* a new generation instead of clearing the map; it is rebuilt when it
	 * holds far more tasks than there are */
	model_stats ms;
	model_get_stats(d->m, &ms);
	if (d->colour.n > 4 * (ms.tasks + 1024)) {
		idmap_fini(&d->colour);
		idmap_init(&d->colour);
	}
	d->gen++;
	u64vec *edges = &d->edges;
	if (!d->capstack) {
		d->capstack = 64;
		d->stack = xmalloc(d->capstack * sizeof(*d->stack));
	}
	for (size_t s = 0; s < nstarts; s++) {
		model_task *t0 = model_task_get(d->m, starts[s]);
		if (!untimed(t0) || !owned_wait(t0->cur.wait_kind) || colour_of(d, starts[s]))
			continue;
		edges->n = 0;
		owned_edges(d, t0, edges);
		/* the common case: what it waits for is not itself in an untimed
		 * owned wait (a holder still running), so no cycle goes through it */
		size_t k;
		for (k = 0; k < edges->n; k++) {
			model_task *v = model_task_get(d->m, edges->p[k]);
			if (v == t0 || (untimed(v) && owned_wait(v->cur.wait_kind)))
				break;
		}
		if (k == edges->n)
			continue;
		set_colour(d, starts[s], 1);
		frame *stack = d->stack;
		stack[0] = (frame){starts[s], 0, edges->n, 0};
		size_t top = 1;
		while (top) {
			frame *f = &stack[top - 1];
			if (f->i == f->n) {
				set_colour(d, f->task, 2);
				edges->n = f->off;
				top--;
				continue;
			}
			uint64_t v = edges->p[f->off + f->i++];
			uintptr_t c = colour_of(d, v);
			if (c == 1) {
				size_t from = top - 1;
				while (stack[from].task != v)
					from--;
				on_cycle(d, stack, from, top - 1);
				continue;
			}
			if (c == 2)
				continue;
			model_task *vt = model_task_get(d->m, v);
			set_colour(d, v, 1);
			size_t off = edges->n;
			owned_edges(d, vt, edges);
			if (top == d->capstack) {
				d->capstack *= 2;
				d->stack = xrealloc(d->stack, d->capstack * sizeof(*d->stack));
				stack = d->stack;
			}
			stack[top++] = (frame){v, off, edges->n - off, 0};
		}
	}
}

/* ---- stalls: the fixpoint ------------------------------------------------------------------ */

/* Node numbering: alive tasks 0..nt-1, then the resources waited on. */
typedef struct fix {
	det *d;
	model_task **tasks; /* alive */
	size_t nt, capt;
	idmap index;     /* task id -> node + 1 */
	idmap resnode;   /* (resource id << 1 | role) -> node + 1 */
	uint64_t *resid; /* per resource node (minus nt): the resource */
	size_t nr, capr;
	uint8_t *cand;     /* per task: blocked untimed on something judged */
	uint8_t *free_;    /* per node: free task / live resource */
	u64vec esrc, edst; /* edges: src wakes dst */
	size_t nfree;
	/* the spawn tree of the alive tasks, built on first need: kids[i] are
	 * the nodes sorted by parent id */
	size_t *kids;
	size_t visits;   /* nodes visited looking for handles (bounded: SUBTREE_BUDGET) */
	uint64_t *chans; /* (task, channel) pairs sorted by task: build_chans */
	size_t nchans;
	int have_chans;
} fix;

#define SUBTREE_BUDGET 4000000
#define TRANSIENT      UINTPTR_MAX /* resnode value: the wait ends by itself */

static void collect_task(void *ctx, model_task *t)
{
	fix *f = ctx;
	if (!alive(t))
		return;
	if (f->nt == f->capt) {
		f->capt = f->capt ? f->capt * 2 : 256;
		f->tasks = xrealloc(f->tasks, f->capt * sizeof(*f->tasks));
	}
	f->tasks[f->nt++] = t;
}

static size_t node_of_task(fix *f, uint64_t id)
{
	uintptr_t v = (uintptr_t)idmap_get(&f->index, id);
	return v ? v - 1 : SIZE_MAX;
}

static void edge(fix *f, size_t src, size_t dst)
{
	vpush(&f->esrc, src);
	vpush(&f->edst, dst);
}

static const fix *sort_fix; /* for by_parent (qsort has no context) */

static int by_parent(const void *a, const void *b)
{
	uint64_t x = sort_fix->tasks[*(const size_t *)a]->parent;
	uint64_t y = sort_fix->tasks[*(const size_t *)b]->parent;
	return x < y ? -1 : x > y;
}

/* The range [*lo, *hi) of f->kids whose parent is id. */
static void children_of(fix *f, uint64_t id, size_t *lo, size_t *hi)
{
	size_t a = 0, b = f->nt;
	while (a < b) {
		size_t mid = a + (b - a) / 2;
		if (f->tasks[f->kids[mid]]->parent < id)
			a = mid + 1;
		else
			b = mid;
	}
	*lo = a;
	b = f->nt;
	while (a < b) {
		size_t mid = a + (b - a) / 2;
		if (f->tasks[f->kids[mid]]->parent <= id)
			a = mid + 1;
		else
			b = mid;
	}
	*hi = a;
}

typedef struct sub_ctx {
	u64vec *todo;
	idmap *seen;
} sub_ctx;

static void sub_push(sub_ctx *s, uint64_t id)
{
	if (!id || idmap_get(s->seen, id))
		return;
	idmap_put(s->seen, id, (void *)1);
	vpush(s->todo, id);
}

static void sub_user(void *ctx, uint64_t task)
{
	sub_push(ctx, task);
}

static int by_user_chan(const void *a, const void *b)
{
	const uint64_t *x = a, *y = b;
	return x[0] < y[0] ? -1 : x[0] > y[0] ? 1 : (x[1] > y[1]) - (x[1] < y[1]);
}

typedef struct chan_ctx {
	u64vec pairs; /* (user, channel) */
} chan_ctx;

static void chan_pairs_user(void *ctx, uint64_t task)
{
	void **a = ctx;
	chan_ctx *c = a[0];
	vpush(&c->pairs, task);
	vpush(&c->pairs, *(uint64_t *)a[1]);
}

static void chan_pairs(void *ctx, model_res *r)
{
	if (r->kind != TSK_RES_CHAN)
		return;
	void *a[2] = {ctx, &r->id};
	model_res_each_user(r, chan_pairs_user, a);
	if (r->creator)
		chan_pairs_user(a, r->creator);
}

/* The channels each task created or used: (task, channel) pairs sorted by
 * task, built once a fixpoint on first need. */
static void build_chans(fix *f)
{
	chan_ctx c = {{0}};
	model_each_res(f->d->m, chan_pairs, &c);
	f->chans = c.pairs.p;
	f->nchans = c.pairs.n / 2;
	if (f->nchans)
		qsort(f->chans, f->nchans, 2 * sizeof(uint64_t), by_user_chan);
	f->have_chans = 1;
}

/* Who may hold r and so wake its waiters: the tasks that created or used
 * it; then, over and over, a task spawned (after r was made) by one of
 * them, and a task that shared a channel with one of them (r may have
 * been sent in a message: a reply channel in a request).  An edge from
 * each that is alive.  Returns 0, or -1 past the budget. */
static int handle_edges(fix *f, const model_res *r, size_t node)
{
	if (!f->kids) {
		f->kids = xmalloc((f->nt ? f->nt : 1) * sizeof(*f->kids));
		for (size_t i = 0; i < f->nt; i++)
			f->kids[i] = i;
		sort_fix = f;
		qsort(f->kids, f->nt, sizeof(*f->kids), by_parent);
	}
	if (!f->have_chans)
		build_chans(f);
	u64vec todo = {0};
	idmap seen;
	idmap_init(&seen);
	sub_ctx s = {&todo, &seen};
	sub_push(&s, r->creator);
	model_res_each_user((model_res *)r, sub_user, &s);
	int rc = 0;
	while (todo.n) {
		uint64_t id = todo.p[--todo.n];
		if (++f->visits > SUBTREE_BUDGET) {
			rc = -1;
			break;
		}
		size_t self = node_of_task(f, id);
		if (self != SIZE_MAX)
			edge(f, self, node);
		/* its children born after r */
		size_t lo, hi;
		children_of(f, id, &lo, &hi);
		for (size_t k = lo; k < hi; k++) {
			model_task *c = f->tasks[f->kids[k]];
			if (c->spawned_ns != INT64_MIN && r->created_ns != INT64_MIN &&
			    c->spawned_ns < r->created_ns)
				continue; /* born before r: not handed it at its spawn */
			sub_push(&s, c->id);
		}
		/* the tasks it shared a channel with */
		size_t a = 0, b = f->nchans;
		while (a < b) {
			size_t mid = a + (b - a) / 2;
			if (f->chans[2 * mid] < id)
				a = mid + 1;
			else
				b = mid;
		}
		for (; a < f->nchans && f->chans[2 * a] == id; a++) {
			model_res *ch = model_res_get(f->d->m, f->chans[2 * a + 1]);
			if (!ch || ch == r)
				continue;
			f->visits += ch->users ? ch->users->n : 0;
			model_res_each_user(ch, sub_user, &s);
		}
	}
	idmap_fini(&seen);
	free(todo.p);
	return rc;
}

/* Is a wait on r, by a task of wait kind k, one that ends by itself (data
 * buffered, room, a unit, a counter at zero, no holder, a partner
 * waiting)? */
static int transient(det *d, const model_res *r, uint8_t k)
{
	int send_waits = 0, recv_waits = 0;
	if (k == TSK_WAIT_CHAN_SEND || k == TSK_WAIT_CHAN_RECV) {
		for (uint32_t i = 0; i < r->nwq; i++) {
			model_task *w = model_task_get(d->m, r->wq[i]);
			if (!w)
				continue;
			send_waits += w->cur.wait_kind == TSK_WAIT_CHAN_SEND;
			recv_waits += w->cur.wait_kind == TSK_WAIT_CHAN_RECV;
		}
	}
	switch (k) {
	case TSK_WAIT_CHAN_RECV:
		return r->closed || r->value > 0 || send_waits > 0;
	case TSK_WAIT_CHAN_SEND:
		return r->closed || (r->capacity && r->value < r->capacity) || recv_waits > 0;
	case TSK_WAIT_SEM:
		return r->value > 0;
	case TSK_WAIT_WG:
		return r->value == 0;
	case TSK_WAIT_MUTEX:
	case TSK_WAIT_RWLOCK_WR:
		return r->nholds == 0;
	default:
		return 0;
	}
}

/* The node of the resource t waits on, made with its incoming edges on
 * first use; SIZE_MAX: the wait is not judged (t is free). */
static size_t res_node(fix *f, model_task *t)
{
	det *d = f->d;
	uint8_t k = t->cur.wait_kind;
	model_res *r = model_res_get(d->m, t->cur.obj);
	if (!r)
		return SIZE_MAX;
	/* one node per resource and role (what ends the wait differs) */
	uint64_t role = k == TSK_WAIT_RWLOCK_RD   ? 1
	                : k == TSK_WAIT_CHAN_SEND ? 2
	                : k == TSK_WAIT_CHAN_RECV ? 3
	                                          : 0;
	uint64_t key = r->id << 2 | role;
	uintptr_t v = (uintptr_t)idmap_get(&f->resnode, key);
	if (v)
		return v == TRANSIENT ? SIZE_MAX : v - 1;
	if (transient(d, r, k)) {
		idmap_put(&f->resnode, key, (void *)TRANSIENT);
		return SIZE_MAX;
	}
	size_t node = f->nt + f->nr;
	if (f->nr == f->capr) {
		f->capr = f->capr ? f->capr * 2 : 64;
		f->resid = xrealloc(f->resid, f->capr * sizeof(*f->resid));
	}
	f->resid[f->nr++] = r->id;
	idmap_put(&f->resnode, key, (void *)(uintptr_t)(node + 1));
	int live = 0;
	if (k == TSK_WAIT_MUTEX || k == TSK_WAIT_RWLOCK_WR || k == TSK_WAIT_RWLOCK_RD) {
		u64vec by = {0};
		owned_edges(d, t, &by);
		/* the holders or queued writers; one we do not know frees it */
		for (size_t i = 0; i < by.n; i++) {
			size_t s = node_of_task(f, by.p[i]);
			if (s == SIZE_MAX)
				live = 1;
			else
				edge(f, s, node);
		}
		if (!by.n)
			live = 1;
		free(by.p);
	} else {
		if (r->ext_used)
			live = 1;
		if (handle_edges(f, r, node) < 0)
			live = 1; /* too big to follow: assume it can be woken */
	}
	/* the node's free_ flag is set once arrays are sized (fixpoint) */
	if (live)
		vpush(&f->esrc, SIZE_MAX), vpush(&f->edst, node);
	return node;
}

/* Which tasks are judged (candidates) and the graph's edges. */
static void build(fix *f)
{
	det *d = f->d;
	model_each_task(d->m, collect_task, f);
	for (size_t i = 0; i < f->nt; i++)
		idmap_put(&f->index, f->tasks[i]->id, (void *)(uintptr_t)(i + 1));
	f->cand = xcalloc(f->nt ? f->nt : 1, 1);
	for (size_t i = 0; i < f->nt; i++) {
		model_task *t = f->tasks[i];
		if (!untimed(t))
			continue;
		uint8_t k = t->cur.wait_kind;
		if (k == TSK_WAIT_JOIN) {
			size_t j = node_of_task(f, t->cur.obj);
			if (j == SIZE_MAX)
				continue; /* joins a task that ended: it returns */
			f->cand[i] = 1;
			edge(f, j, i);
			continue;
		}
		if (k < TSK_WAIT_CHAN_SEND || k > TSK_WAIT_COND || k == TSK_WAIT_SELECT)
			continue; /* sleep, I/O, blocking pool, select: not judged */
		size_t r = res_node(f, t);
		if (r == SIZE_MAX)
			continue;
		f->cand[i] = 1;
		edge(f, r, i);
	}
}

/* Propagates from the free tasks and live resources (breadth first over
 * the edges grouped by source). */
static void propagate(fix *f)
{
	size_t nn = f->nt + f->nr, ne = f->esrc.n;
	f->free_ = xcalloc(nn ? nn : 1, 1);
	size_t *start = xcalloc(nn + 1, sizeof(*start));
	size_t *dst = xmalloc((ne ? ne : 1) * sizeof(*dst));
	size_t *queue = xmalloc((nn ? nn : 1) * sizeof(*queue));
	size_t qh = 0, qt = 0;
	for (size_t e = 0; e < ne; e++) {
		if (f->esrc.p[e] == SIZE_MAX) {
			size_t v = f->edst.p[e];
			if (!f->free_[v]) {
				f->free_[v] = 1;
				queue[qt++] = v;
			}
		} else {
			start[f->esrc.p[e] + 1]++;
		}
	}
	for (size_t v = 0; v < nn; v++)
		start[v + 1] += start[v];
	size_t *fill = xmalloc((nn ? nn : 1) * sizeof(*fill));
	memcpy(fill, start, nn * sizeof(*fill));
	for (size_t e = 0; e < ne; e++)
		if (f->esrc.p[e] != SIZE_MAX)
			dst[fill[f->esrc.p[e]]++] = f->edst.p[e];
	free(fill);
	for (size_t i = 0; i < f->nt; i++) {
		if (!f->cand[i] && !f->free_[i]) {
			f->free_[i] = 1;
			queue[qt++] = i;
		}
	}
	while (qh < qt) {
		size_t v = queue[qh++];
		for (size_t e = start[v]; e < start[v + 1]; e++) {
			size_t w = dst[e];
			if (!f->free_[w]) {
				f->free_[w] = 1;
				queue[qt++] = w;
			}
		}
	}
	f->nfree = 0;
	for (size_t i = 0; i < f->nt; i++)
		f->nfree += f->free_[i];
	free(start);
	free(dst);
	free(queue);
}

static size_t uf_find(size_t *p, size_t x)
{
	while (p[x] != x) {
		p[x] = p[p[x]];
		x = p[x];
	}
	return x;
}

/* Is stuck task i behind a reported cycle (its owned edges lead there)? */
static int behind_cycle(fix *f, size_t i, uint8_t *memo)
{
	det *d = f->d;
	u64vec path = {0}, by = {0};
	int result = 0;
	size_t cur = i;
	for (;;) {
		if (memo[cur]) {
			result = memo[cur] == 2;
			break;
		}
		model_task *t = f->tasks[cur];
		reported *r = idmap_get(&d->reported, t->id);
		if (r && r->since_ns == t->cur.start_ns && r->verdict == DET_DEFINITE) {
			result = 1;
			break;
		}
		memo[cur] = 3; /* on the path */
		vpush(&path, cur);
		by.n = 0;
		owned_edges(d, t, &by);
		size_t next = by.n ? node_of_task(f, by.p[0]) : SIZE_MAX;
		if (next == SIZE_MAX || memo[next] == 3)
			break;
		cur = next;
	}
	for (size_t k = 0; k < path.n; k++)
		memo[path.p[k]] = result ? 2 : 1;
	free(path.p);
	free(by.p);
	return result;
}

typedef struct by_ctx {
	fix *f;
	const uint8_t *in;
	det_member *mem;
	size_t nb;
} by_ctx;

static void by_add(by_ctx *b, uint64_t task)
{
	size_t i = node_of_task(b->f, task);
	if (i == SIZE_MAX || !b->in[i] || task == b->mem->task || b->nb >= 4)
		return;
	for (size_t k = 0; k < b->nb; k++)
		if (b->mem->by[k] == task)
			return;
	b->mem->by[b->nb++] = task;
}

/* The members of the group (in) that mem waits for: the holders or the
 * joined task, else the stuck tasks that created or used the resource. */
static void blocked_by(fix *f, const uint8_t *in, det_member *mem)
{
	by_ctx b = {f, in, mem, 0};
	model_task *t = model_task_get(f->d->m, mem->task);
	if (owned_wait(mem->wait_kind)) {
		u64vec by = {0};
		owned_edges(f->d, t, &by);
		for (size_t i = 0; i < by.n; i++)
			by_add(&b, by.p[i]);
		free(by.p);
		return;
	}
	model_res *r = model_res_get(f->d->m, mem->obj);
	if (!r)
		return;
	if (r->creator)
		by_add(&b, r->creator);
	for (size_t i = 0; r->users && i < r->users->cap && b.nb < 4; i++)
		if (r->users->keys[i])
			by_add(&b, r->users->keys[i]);
}

/* Reports (or holds as pending) each connected group of stuck tasks. */
static void stalls(fix *f, int final)
{
	det *d = f->d;
	size_t nn = f->nt + f->nr;
	uint8_t *memo = xcalloc(f->nt ? f->nt : 1, 1);
	uint8_t *in = xcalloc(f->nt ? f->nt : 1, 1); /* stuck, not behind a cycle */
	size_t nin = 0;
	for (size_t i = 0; i < f->nt; i++) {
		if (!f->cand[i] || f->free_[i])
			continue;
		if (behind_cycle(f, i, memo))
			continue; /* listed with its cycle when that was reported */
		in[i] = 1;
		nin++;
	}
	free(memo);
	if (!nin) {
		free(in);
		return;
	}
	size_t *parent = xmalloc(nn * sizeof(*parent));
	for (size_t v = 0; v < nn; v++)
		parent[v] = v;
	for (size_t e = 0; e < f->esrc.n; e++) {
		size_t s = f->esrc.p[e], t = f->edst.p[e];
		if (s == SIZE_MAX)
			continue;
		int s_in = s < f->nt ? in[s] : !f->free_[s];
		int t_in = t < f->nt ? in[t] : !f->free_[t];
		if (s_in && t_in)
			parent[uf_find(parent, s)] = uf_find(parent, t);
	}
	/* group members by root */
	size_t *order = xmalloc(nin * sizeof(*order));
	size_t k = 0;
	for (size_t i = 0; i < f->nt; i++)
		if (in[i])
			order[k++] = i;
	uint8_t verdict = f->nfree == 0 ? DET_DEFINITE : DET_LIKELY;
	/* the groups: the stuck tasks sorted by their root, then by id */
	uint64_t *byroot = xmalloc(2 * nin * sizeof(*byroot));
	for (size_t a = 0; a < nin; a++) {
		byroot[2 * a] = uf_find(parent, order[a]);
		byroot[2 * a + 1] = order[a];
	}
	qsort(byroot, nin, 2 * sizeof(uint64_t), by_user_chan);
	for (size_t a = 0, next; a < nin; a = next) {
		for (next = a + 1; next < nin && byroot[2 * next] == byroot[2 * a]; next++)
			;
		size_t n = next - a;
		det_member *mem = xcalloc(n, sizeof(*mem));
		for (size_t x = 0; x < n; x++)
			member_of(f->tasks[byroot[2 * (a + x) + 1]], &mem[x]);
		qsort(mem, n, sizeof(*mem), by_task);
		/* who each waits for, among the group */
		for (size_t x = 0; x < n; x++)
			blocked_by(f, in, &mem[x]);
		det_deadlock dl = {
		        .verdict = verdict, .kind = DET_STALL, .tasks = mem, .ntasks = (uint32_t)n};
		if (any_reported(d, mem, n)) {
			/* it grew (or changed) around a deadlock already reported:
			 * that one stands, it is not reported again */
			free(mem);
			continue;
		}
		d->st.candidates++;
		if (verdict == DET_DEFINITE || d->live.frozen) {
			if (confirm_now(d, mem, n, 0)) {
				announce(d, &dl);
			} else {
				d->st.rejected++;
				free(mem);
			}
			continue;
		}
		/* likely: it must stay so for hold_ns */
		size_t p;
		for (p = 0; p < d->npend; p++) {
			pending *pe = &d->pend[p];
			if (pe->dl.ntasks != n)
				continue;
			size_t x;
			for (x = 0; x < n; x++)
				if (pe->dl.tasks[x].task != mem[x].task ||
				    pe->dl.tasks[x].since_ns != mem[x].since_ns)
					break;
			if (x == n)
				break;
		}
		if (p < d->npend) {
			d->pend[p].seen = 1;
			free(mem);
			continue;
		}
		uint32_t *seqs = xmalloc(n * sizeof(*seqs));
		if (!confirm_read(d, mem, n, seqs)) {
			free(seqs);
			free(mem);
			continue;
		}
		if (d->npend == d->cappend) {
			d->cappend = d->cappend ? d->cappend * 2 : 4;
			d->pend = xrealloc(d->pend, d->cappend * sizeof(*d->pend));
		}
		d->pend[d->npend++] = (pending){dl, seqs, d->now_ns, 1};
	}
	(void) final;
	free(byroot);
	free(order);
	free(parent);
	free(in);
}

/* Reports the pending likely stalls that held for hold_ns (all of them,
 * now, when force), drops those the last fixpoint did not see again. */
static void settle_pending(det *d, int force)
{
	size_t keep = 0;
	for (size_t p = 0; p < d->npend; p++) {
		pending *pe = &d->pend[p];
		int ripe = force || d->now_ns - pe->first_ns >= d->cfg.hold_ns;
		if (!pe->seen) {
			d->st.rejected++; /* it did not hold */
			dl_free(&pe->dl);
			free(pe->seqs);
			continue;
		}
		if (!ripe) {
			d->pend[keep++] = *pe;
			continue;
		}
		if (is_news(d, pe->dl.tasks, pe->dl.ntasks, pe->dl.verdict) &&
		    confirm_same(d, pe->dl.tasks, pe->dl.ntasks, pe->seqs)) {
			announce(d, &pe->dl);
		} else {
			d->st.rejected++;
			dl_free(&pe->dl);
		}
		free(pe->seqs);
	}
	d->npend = keep;
}

static void count_wakeable(void *ctx, model_task *t)
{
	uint8_t k = t->cur.wait_kind;
	if (untimed(t) && k >= TSK_WAIT_CHAN_SEND && k <= TSK_WAIT_COND && k != TSK_WAIT_SELECT &&
	    !owned_wait(k))
		++*(size_t *)ctx;
}

static void fixpoint(det *d, int final)
{
	/* A stuck set with no wait on a channel, semaphore, wait group or
	 * condvar is made of lock and join waits only: following holders and
	 * joined tasks from any of them ends in a free task (then they are all
	 * free) or goes round a cycle, which the cycle search reports (the
	 * others are behind it).  Nothing to do then. */
	size_t wakeable = 0;
	model_each_task(d->m, count_wakeable, &wakeable);
	if (!wakeable) {
		for (size_t p = 0; p < d->npend; p++)
			d->pend[p].seen = 0;
		return;
	}
	d->st.fixpoints++;
	fix f = {.d = d};
	idmap_init(&f.index);
	idmap_init(&f.resnode);
	build(&f);
	propagate(&f);
	for (size_t p = 0; p < d->npend; p++)
		d->pend[p].seen = 0;
	stalls(&f, final);
	free(f.tasks);
	free(f.kids);
	free(f.chans);
	free(f.resid);
	free(f.cand);
	free(f.free_);
	free(f.esrc.p);
	free(f.edst.p);
	idmap_fini(&f.index);
	idmap_fini(&f.resnode);
}

/* ---- lints ---------------------------------------------------------------------------------- */

static void warn(det *d, uint8_t kind, uint64_t task, uint64_t res, int64_t ns, int64_t value,
                 const char *fmt, ...) __attribute__((format(printf, 7, 8)));
static void warn(det *d, uint8_t kind, uint64_t task, uint64_t res, int64_t ns, int64_t value,
                 const char *fmt, ...)
{
	uint64_t key = task * 8 + kind;
	det_warning *w = idmap_get(&d->warns, key);
	if (!w) {
		if (d->nwarns >= MAX_WARNINGS)
			return;
		w = xcalloc(1, sizeof(*w));
		w->kind = kind;
		w->task = task;
		w->first_ns = ns;
		idmap_put(&d->warns, key, w);
		d->nwarns++;
	} else if (w->last_ns == ns && w->res == res) {
		return; /* the same fact seen again */
	}
	w->res = res;
	w->last_ns = ns;
	w->count++;
	if (value >= w->value_ns) {
		w->value_ns = value;
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(w->detail, sizeof(w->detail), fmt, ap);
		va_end(ap);
	}
}

static const char *res_words(det *d, uint64_t id, char *buf, size_t cap)
{
	model_res *r = model_res_get(d->m, id);
	const char *kinds[] = {"resource",  "channel",   "mutex",  "rwlock",
	                       "semaphore", "waitgroup", "condvar"};
	const char *kind = r && r->kind < 7 ? kinds[r->kind] : "resource";
	if (r && r->name[0])
		snprintf(buf, cap, "%s \"%s\"", kind, r->name);
	else
		snprintf(buf, cap, "%s %" PRIu64, kind, id);
	return buf;
}

static void on_note(void *ctx, const model_note *n)
{
	det *d = ctx;
	char a[64], b[96], c[96];
	switch (n->kind) {
	case MN_WAIT:
		if (n->wait_kind && owned_wait(n->wait_kind))
			vpush(&d->dirty, n->task);
		d->waits_since_fix++;
		break;
	case MN_END:
		d->waits_since_fix++; /* the last one able to wake others may be gone */
		break;
	case MN_LONG_RUN:
		warn(d, DL_LONG_POLL, n->task, 0, n->ns, n->dur_ns,
		     "ran %s without suspending (worker %u): it blocks the worker",
		     ts_fmt_ns(n->dur_ns, a, sizeof(a)), (unsigned)n->worker);
		break;
	case MN_HOLD_SUSPEND: {
		const char *op = report_wait_op(n->wait_kind);
		if (n->wait_kind == TSK_WAIT_JOIN)
			snprintf(c, sizeof(c), "join of task %" PRIu64, n->obj);
		else if (n->wait_kind >= TSK_WAIT_CHAN_SEND && n->wait_kind <= TSK_WAIT_COND)
			res_words(d, n->obj, c, sizeof(c));
		else
			snprintf(c, sizeof(c), "%s", op ? op : "a wait");
		warn(d, DL_LOCK_ACROSS_SUSPEND, n->task, n->res, n->ns, 0,
		     "held %s while it waited (%s) for %s", res_words(d, n->res, b, sizeof(b)),
		     op ? op : "?", c);
		break;
	}
	default:
		break;
	}
}

typedef struct lint_ctx {
	det *d;
	model_hist all; /* every task's waits (summed on first need) */
	int have_all;
} lint_ctx;

static void sum_waits(void *ctx, model_task *t)
{
	lint_ctx *l = ctx;
	for (int b = 0; b < MODEL_HIST_BUCKETS; b++)
		l->all.count[b] += t->wait.count[b];
	l->all.n += t->wait.n;
	if (t->wait.max_ns > l->all.max_ns)
		l->all.max_ns = t->wait.max_ns;
}

static void lint_task(void *ctx, model_task *t)
{
	lint_ctx *l = ctx;
	det *d = l->d;
	char a[64], b[96];
	if (!alive(t))
		return;
	int64_t now = d->now_ns;
	const model_interval *iv = &t->cur;
	int64_t in_state = now - iv->start_ns;
	model_worker *wk = iv->state == MS_RUNNING ? model_worker_get(d->m, iv->worker) : NULL;
	/* running now, on a worker the model agrees it runs on (after losses
	 * a task may look as if it never stopped) */
	if (wk && wk->task == t->id && in_state >= d->cfg.long_poll_ns)
		warn(d, DL_LONG_POLL, t->id, 0, iv->start_ns, in_state,
		     "has been running %s without suspending (worker %u): it blocks the worker",
		     ts_fmt_ns(in_state, a, sizeof(a)), (unsigned)iv->worker);
	reported *rep = idmap_get(&d->reported, t->id);
	int in_deadlock = rep && rep->since_ns == iv->start_ns;
	if (iv->state == MS_BLOCKED && iv->wait_kind != TSK_WAIT_SLEEP &&
	    iv->wait_kind != TSK_WAIT_IO && in_state >= d->cfg.stuck_ns && !in_deadlock) {
		if (!l->have_all) {
			model_each_task(d->m, sum_waits, l);
			l->have_all = 1;
		}
		uint64_t p99 = model_hist_quantile(&l->all, 0.99);
		if ((uint64_t)in_state >= (uint64_t)d->cfg.stuck_factor * p99) {
			const char *op = report_wait_op(iv->wait_kind);
			warn(d, DL_STUCK, t->id, iv->obj, iv->start_ns, in_state,
			     "blocked %s in %s%s, %" PRIu32
			     "x the 99th percentile of the program's "
			     "waits (%s)",
			     ts_fmt_ns(in_state, a, sizeof(a)), op ? op : "a wait",
			     iv->deadline_ns >= 0 ? " (with a deadline)" : "",
			     p99 ? (uint32_t)((uint64_t)in_state / p99) : 0,
			     ts_fmt_ns((int64_t)p99, b, sizeof(b)));
		}
	}
	if (iv->state == MS_BLOCKED && iv->wait_kind >= TSK_WAIT_CHAN_SEND &&
	    iv->wait_kind <= TSK_WAIT_COND && iv->wait_kind != TSK_WAIT_SELECT &&
	    in_state >= d->cfg.lost_ns) {
		model_res *r = model_res_get(d->m, iv->obj);
		if (r && r->kind == TSK_RES_COND && r->lost_signal_ns >= 0 &&
		    r->lost_signal_ns <= iv->start_ns) {
			warn(d, DL_LOST_WAKEUP, t->id, r->id, iv->start_ns, in_state,
			     "waits on %s for %s; its last signal (%s before the wait) woke nobody",
			     res_words(d, r->id, b, sizeof(b)), ts_fmt_ns(in_state, a, sizeof(a)),
			     ts_fmt_ns(iv->start_ns - r->lost_signal_ns, (char[64]){0}, 64));
		}
	}
	if (t->parent && !(t->flags & (TSK_TF_DETACHED | TSK_TF_ROOT))) {
		model_task *p = model_task_get(d->m, t->parent);
		if (p && p->ended_ns >= 0 && now - p->ended_ns >= d->cfg.leak_ns)
			warn(d, DL_TASK_LEAK, t->id, 0, p->ended_ns, now - p->ended_ns,
			     "still alive %s after its parent task %" PRIu64 " \"%s\" returned "
			     "without joining it",
			     ts_fmt_ns(now - p->ended_ns, a, sizeof(a)), p->id, p->name);
	}
	if (t->self_wakes >= d->cfg.storm_wakes && t->self_wakes * 10 >= t->wakes * 9)
		warn(d, DL_SELF_WAKE_STORM, t->id, 0,
		     t->spawned_ns == INT64_MIN ? 0 : t->spawned_ns, (int64_t)t->self_wakes,
		     "woke itself %" PRIu64 " times (%" PRIu64 " of its %" PRIu64
		     " wakes): it spins "
		     "through the scheduler",
		     t->self_wakes, t->self_wakes, t->wakes);
}

static void lints(det *d)
{
	lint_ctx l = {.d = d};
	model_each_task(d->m, lint_task, &l);
}

/* ---- det ---------------------------------------------------------------------------------- */

static int64_t cpu_now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

det *det_create(model *m, const det_config *cfg, const det_out *out)
{
	det *d = xcalloc(1, sizeof(*d));
	d->m = m;
	if (cfg)
		d->cfg = *cfg;
	else
		det_config_default(&d->cfg);
	if (out)
		d->out = *out;
	idmap_init(&d->reported);
	idmap_init(&d->warns);
	idmap_init(&d->colour);
	d->last_fix_ns = INT64_MIN;
	d->last_lint_ns = INT64_MIN;
	model_set_watch(
	        m, &(model_watch){.ctx = d, .note = on_note, .long_run_ns = d->cfg.long_poll_ns});
	return d;
}

static void free_val(void *ctx, uint64_t id, void *val)
{
	(void)ctx;
	(void)id;
	free(val);
}

void det_destroy(det *d)
{
	if (!d)
		return;
	model_set_watch(d->m, NULL);
	for (size_t i = 0; i < d->ndl; i++)
		dl_free(&d->dl[i]);
	for (size_t p = 0; p < d->npend; p++) {
		dl_free(&d->pend[p].dl);
		free(d->pend[p].seqs);
	}
	idmap_each(&d->reported, free_val, NULL);
	idmap_each(&d->warns, free_val, NULL);
	idmap_fini(&d->reported);
	idmap_fini(&d->warns);
	idmap_fini(&d->colour);
	free(d->edges.p);
	free(d->stack);
	free(d->retry.p);
	free(d->dirty.p);
	free(d->dl);
	free(d->pend);
	free(d);
}

void det_set_live(det *d, const det_live *live)
{
	d->have_live = live != NULL;
	if (live)
		d->live = *live;
}

void det_step(det *d, int64_t now_ns, int final)
{
	int due = d->last_fix_ns == INT64_MIN || now_ns - d->last_fix_ns >= d->fix_gap_ns;
	int fix_now = final || (due && (d->waits_since_fix || d->npend || d->retry.n));
	int lint_now =
	        final || d->last_lint_ns == INT64_MIN || now_ns - d->last_lint_ns >= LINT_EVERY_NS;
	if (!d->dirty.n && !fix_now && !lint_now)
		return; /* the common case: nothing new, and no clock read */
	int64_t c0 = cpu_now();
	d->now_ns = now_ns;
	if (d->dirty.n) {
		find_cycles(d, d->dirty.p, d->dirty.n);
		d->dirty.n = 0;
		d->st.cycles_ns += cpu_now() - c0;
	}
	if (fix_now) {
		int64_t f0 = cpu_now();
		if (d->retry.n) {
			u64vec again = d->retry;
			d->retry = (u64vec){0};
			find_cycles(d, again.p, again.n);
			free(again.p);
		}
		if (final) {
			/* every wait, not only the new ones (a dump starts here) */
			u64vec all = {0};
			fix f = {.d = d};
			model_each_task(d->m, collect_task, &f);
			for (size_t i = 0; i < f.nt; i++)
				if (untimed(f.tasks[i]) && owned_wait(f.tasks[i]->cur.wait_kind))
					vpush(&all, f.tasks[i]->id);
			free(f.tasks);
			find_cycles(d, all.p, all.n);
			free(all.p);
		}
		fixpoint(d, final);
		settle_pending(d, 0);
		if (final && d->npend && d->have_live && !d->live.frozen) {
			struct timespec ts = {d->cfg.hold_ns / 1000000000,
			                      d->cfg.hold_ns % 1000000000};
			nanosleep(&ts, NULL);
			settle_pending(d, 1);
		} else if (final) {
			settle_pending(d, 1);
		}
		/* at most 1/40 of the time in fixpoints (2.5% of a CPU) */
		int64_t cost = cpu_now() - f0;
		d->fix_gap_ns = cost * 40 > d->cfg.sweep_ns ? cost * 40 : d->cfg.sweep_ns;
		d->last_fix_ns = now_ns;
		d->waits_since_fix = 0;
		d->st.stalls_ns += cost;
	}
	if (lint_now) {
		int64_t l0 = cpu_now();
		lints(d);
		d->st.lints_ns += cpu_now() - l0;
		d->last_lint_ns = now_ns;
	}
	d->cpu_ns += cpu_now() - c0;
}

size_t det_count(const det *d)
{
	return d->ndl;
}

const det_deadlock *det_get(const det *d, size_t i)
{
	return i < d->ndl ? &d->dl[i] : NULL;
}

typedef struct each_warn {
	void (*fn)(void *ctx, const det_warning *w);
	void *ctx;
} each_warn;

static void warn_thunk(void *ctx, uint64_t id, void *val)
{
	each_warn *e = ctx;
	(void)id;
	e->fn(e->ctx, val);
}

void det_each_warning(det *d, void (*fn)(void *ctx, const det_warning *w), void *ctx)
{
	each_warn e = {fn, ctx};
	idmap_each(&d->warns, warn_thunk, &e);
}

int64_t det_cpu_ns(const det *d)
{
	return d->cpu_ns;
}

void det_get_stats(const det *d, det_stats *out)
{
	*out = d->st;
	out->cpu_ns = d->cpu_ns;
}
