/*
 * detect.c - deadlock detection and lints (detect.h; the rules are in
 * docs/DEADLOCKS.md): thresholds and names, the detector and its step.
 * The parts are listed in detect_int.h, in reading order after this one.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "detect_int.h"
#include "report.h"
#include <errno.h>

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
	                  .sweep_ns = 20000000,
	                  .cost_factor = 40};
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

/* ---- det ---------------------------------------------------------------------------------- */

/* Collects the tasks in an untimed owned wait. */
static void owned_waiter(void *ctx, model_task *t)
{
	if (det__untimed(t) && det__owned_wait(t->cur.wait_kind))
		vpush(ctx, t->id);
}

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
	        m,
	        &(model_watch){.ctx = d, .note = det__on_note, .long_run_ns = d->cfg.long_poll_ns});
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
		det__dl_free(&d->dl[i]);
	for (size_t p = 0; p < d->npend; p++) {
		det__dl_free(&d->pend[p].dl);
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
	free(d->lint_ids);
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
	int lint_now = final || d->last_lint_ns == INT64_MIN ||
	               now_ns - d->last_lint_ns >= LINT_EVERY_NS || d->lint_pos < d->lint_n;
	if (!d->dirty.n && !fix_now && !lint_now)
		return; /* the common case: nothing new, and no clock read */
	int64_t c0 = cpu_now();
	d->now_ns = now_ns;
	if (d->dirty.n) {
		det__find_cycles(d, d->dirty.p, d->dirty.n);
		d->dirty.n = 0;
		d->st.cycles_ns += cpu_now() - c0;
	}
	if (fix_now) {
		int64_t f0 = cpu_now();
		if (d->retry.n) {
			u64vec again = d->retry;
			d->retry = (u64vec){0};
			det__find_cycles(d, again.p, again.n);
			free(again.p);
		}
		if (final) {
			/* every wait, not only the new ones (a dump starts here) */
			u64vec all = {0};
			model_each_task(d->m, owned_waiter, &all);
			det__find_cycles(d, all.p, all.n);
			free(all.p);
		}
		det__fixpoint(d);
		det__settle_pending(d, 0);
		if (final && d->npend && d->have_live && !d->live.frozen) {
			struct timespec ts = {d->cfg.hold_ns / 1000000000,
			                      d->cfg.hold_ns % 1000000000};
			nanosleep(&ts, NULL);
			det__settle_pending(d, 1);
		} else if (final) {
			det__settle_pending(d, 1);
		}
		/* at most 1/cost_factor of the time in fixpoints (40: 2.5% of a CPU) */
		int64_t cost = cpu_now() - f0;
		int64_t paced = cost * (int64_t)d->cfg.cost_factor;
		d->fix_gap_ns = paced > d->cfg.sweep_ns ? paced : d->cfg.sweep_ns;
		d->last_fix_ns = now_ns;
		d->waits_since_fix = 0;
		d->st.stalls_ns += cost;
	}
	if (lint_now) {
		int64_t l0 = cpu_now();
		if (det__lints(d, final))
			d->last_lint_ns = now_ns;
		d->st.lints_ns += cpu_now() - l0;
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

void det_get_stats(const det *d, det_stats *out)
{
	*out = d->st;
	out->cpu_ns = d->cpu_ns;
}
