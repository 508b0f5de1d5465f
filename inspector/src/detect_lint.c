/*
 * detect_lint.c - the lints of SPEC §6 (detect_int.h; docs/DEADLOCKS.md).
 */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "detect_int.h"
#include "report.h"

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

void det__on_note(void *ctx, const model_note *n)
{
	det *d = ctx;
	char a[64], b[96], c[96];
	switch (n->kind) {
	case MN_WAIT:
		if (n->wait_kind && det__owned_wait(n->wait_kind))
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
	if (!det__alive(t))
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

#define LINT_SLICE 16384

int det__lints(det *d, int final)
{
	if (final || d->lint_pos >= d->lint_n) {
		/* a new sweep, over the tasks there are now */
		size_t n = model_task_ids(d->m, NULL, 0);
		d->lint_ids = xrealloc(d->lint_ids, (n ? n : 1) * sizeof(*d->lint_ids));
		n = model_task_ids(d->m, d->lint_ids, n);
		d->lint_n = n;
		d->lint_pos = 0;
		d->lint_have_all = 0;
		memset(&d->lint_all, 0, sizeof(d->lint_all));
	}
	lint_ctx l = {.d = d, .all = d->lint_all, .have_all = d->lint_have_all};
	size_t end = final || d->lint_n - d->lint_pos <= LINT_SLICE ? d->lint_n
	                                                            : d->lint_pos + LINT_SLICE;
	for (; d->lint_pos < end; d->lint_pos++) {
		model_task *t = model_task_get(d->m, d->lint_ids[d->lint_pos]);
		if (t) /* ended and evicted since the sweep began: nothing to say */
			lint_task(&l, t);
	}
	d->lint_all = l.all;
	d->lint_have_all = l.have_all;
	return d->lint_pos >= d->lint_n;
}
