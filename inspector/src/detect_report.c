/*
 * detect_report.c - a verdict in words, and reporting it once (detect_int.h).
 */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "detect_int.h"
#include "report.h"

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

int det__cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

int det__by_task(const void *a, const void *b)
{
	const det_member *x = a, *y = b;
	return x->task < y->task ? -1 : x->task > y->task;
}

/* Is there a member not yet reported in this wait (or only as likely, when
 * the verdict is definite)? */
int det__is_news(det *d, const det_member *mem, size_t n, uint8_t verdict)
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
	if (!det__untimed(t) || !det__owned_wait(t->cur.wait_kind) || idmap_get(&b->memo, t->id))
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
		det__owned_edges(b->d, cur, &b->by);
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
		qsort(dl->behind, dl->nbehind, sizeof(*dl->behind), det__cmp_u64);
	free(b.path.p);
	free(b.by.p);
	idmap_fini(&b.memo);
}

/* Is a member already in a reported deadlock, in this same wait? */
int det__any_reported(det *d, const det_member *mem, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		reported *r = idmap_get(&d->reported, mem[i].task);
		if (r && r->since_ns == mem[i].since_ns)
			return 1;
	}
	return 0;
}

/* Takes ownership of dl's arrays. */
void det__announce(det *d, det_deadlock *dl)
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

void det__dl_free(det_deadlock *dl)
{
	free(dl->tasks);
	free(dl->behind);
	free(dl->text);
}
