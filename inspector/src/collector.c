/*
 * collector.c - segment -> model (-> store): the pipeline of collector.h.
 *
 * Per pass: every ring is drained into its own pending queue (records in
 * ring order); the prefix of each queue older than the watermark is
 * merged (tsk_reader_merge: by tsc, a merge, never a re-sort) and applied
 * to the model in that order.  Why a watermark: rings are read one after
 * the other, so when ring B is read after ring A, B may hold records newer
 * than some A has published since.  Applied at once, a WAKE read from B
 * could precede the BLOCK still unread in A, and the task would look
 * blocked forever.  Records younger than COLL_HOLD_NS before the pass
 * began wait for the next pass; the final pass applies everything.
 *
 * The model's sink is an adapter that resolves string and stack ids with
 * the reader (the store must not touch the segment) and writes rows to the
 * store.
 */
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <inttypes.h>
#include <sqlite3.h>

#include "collector.h"
#include "idmap.h"
#include "util.h"

typedef struct pending {
	tsk_rd_rec *recs;
	size_t head, n, cap; /* [head, n) waiting */
} pending;

struct coll {
	tsk_reader *r;
	tsk_rd_info info;
	tsk_rd_calib cal;
	int mode;
	model *m;
	store *st;
	pending *pend;
	uint32_t npend;
	tsk_rd_rec *merged;
	size_t merged_cap;
	tsk_rd_batch *batches;
	idmap syms; /* frame symbol string ids written to the store */
	int seeded;
	int finishing;
	uint64_t overwritten_base, lost_base; /* ring counters at attach */
	int64_t opened_mono;                  /* CLOCK_MONOTONIC when the segment was opened */
	tsk_rd_snap snap;                     /* stream mode: live state waiting to seed */
	int64_t snap_mono;                    /* when it was copied */
	int have_snap;
	size_t seed_pos; /* slots of snap seeded so far: resources, then tasks */
	coll_stats stats;
	char path[256];
	/* the deadlock detector and what confirms its verdicts */
	det *det;
	void (*announce)(void *ctx, const det_deadlock *d);
	void *announce_ctx;
	tsk_reader *live;    /* the live state read for confirmation (c->r, or a dump's own) */
	int live_owned;      /* live is ours to close */
	idmap task_slot;     /* task id -> slot index + 1 (a cache, checked at each read) */
	idmap res_slot;      /* resource id -> slot index + 1 */
	int64_t scanned_ns;  /* when the slots were last scanned for the cache */
	int64_t seeded_mono; /* when the live state was last used as seeds */
	void (*on_interval)(void *ctx, const model_interval *iv); /* the TUI's timeline */
	void *on_interval_ctx;
};

static int take_live_state(coll *c, int seed);
static int on_batch(void *ctx, uint32_t ring, const tsk_rd_rec *recs, size_t n);
static void ring_totals(coll *c);

/* ---- the sink adapter --------------------------------------------------------- */

static int sink_resolve(void *ctx, uint32_t id, char *buf, size_t cap)
{
	coll *c = ctx;
	return tsk_reader_string(c->r, id, buf, cap) < 0 ? -1 : 0;
}

static void sink_string(void *ctx, uint32_t id)
{
	coll *c = ctx;
	char buf[TSK_SEG_STR_MAX + 1];
	if (c->st && tsk_reader_string(c->r, id, buf, sizeof(buf)) >= 0)
		store_string(c->st, id, buf);
}

static void sink_stack(void *ctx, uint32_t id)
{
	coll *c = ctx;
	tsk_seg_stack stk;
	if (!c->st || tsk_reader_stack(c->r, id, &stk) < 0)
		return;
	for (uint32_t i = 0; i < stk.nframes; i++) {
		uint32_t sym = stk.frames[i].sym;
		if (sym && !idmap_get(&c->syms, sym)) {
			idmap_put(&c->syms, sym, (void *)1);
			sink_string(c, sym);
		}
	}
	store_stack(c->st, id, &stk);
}

static void sink_task(void *ctx, const model_task *t)
{
	coll *c = ctx;
	if (!c->st)
		return;
	if (t->ended_ns >= 0 || c->finishing) {
		store_task_final(c->st, t);
		return;
	}
	char site[TSK_SEG_STR_MAX + 1] = "", loc[TSK_SEG_STR_MAX + 1], fn[256];
	if (t->spawn_site)
		tsk_reader_string(c->r, t->spawn_site, site, sizeof(site));
	ts_split_site(site, loc, sizeof(loc), fn, sizeof(fn));
	store_task(c->st, t, loc, fn);
}

static void sink_res(void *ctx, const model_res *r)
{
	coll *c = ctx;
	if (!c->st)
		return;
	char site[TSK_SEG_STR_MAX + 1] = "", loc[TSK_SEG_STR_MAX + 1], fn[256];
	if (r->site)
		tsk_reader_string(c->r, r->site, site, sizeof(site));
	ts_split_site(site, loc, sizeof(loc), fn, sizeof(fn));
	store_res(c->st, r, loc);
}

static void sink_interval(void *ctx, const model_interval *iv)
{
	coll *c = ctx;
	if (c->st)
		store_interval(c->st, iv);
	if (c->on_interval)
		c->on_interval(c->on_interval_ctx, iv);
}

static void sink_own(void *ctx, const model_own *o)
{
	coll *c = ctx;
	if (c->st)
		store_own(c->st, o);
}

static void sink_event(void *ctx, const model_event *e)
{
	coll *c = ctx;
	if (c->st)
		store_event(c->st, e);
}

/* ---- target resolution and open ----------------------------------------------------- */

static void proc_name(pid_t pid, char *buf, size_t cap)
{
	char p[64];
	snprintf(p, sizeof(p), "/proc/%d/comm", (int)pid);
	FILE *f = fopen(p, "r");
	buf[0] = 0;
	if (f) {
		if (fgets(buf, (int)cap, f))
			buf[strcspn(buf, "\n")] = 0;
		fclose(f);
	}
}

int coll_resolve(const char *target, char *path, size_t cap, pid_t *pid, char *err, size_t errcap)
{
	int ipid;
	*pid = 0;
	if (ts_parse_pid(target, &ipid) == 0) {
		*pid = ipid;
		int rc = tsk_reader_find(NULL, ipid, path, cap);
		if (rc == 0)
			return 0;
		int exists = kill(ipid, 0) == 0 || errno == EPERM;
		if (rc == TSK_RD_ENOSEG && exists) {
			char name[64];
			proc_name(ipid, name, sizeof(name));
			snprintf(err, errcap,
			         "process %d (%s) is not instrumented: no %s%d.* segment in %s "
			         "(not linked with libtaskscope, or run with TASKSCOPE=off)",
			         ipid, name[0] ? name : "?", TSK_SEG_PREFIX, ipid, TSK_SEG_DIR);
		} else if (rc == TSK_RD_ENOSEG) {
			snprintf(err, errcap, "no process %d, and no segment of it in %s", ipid,
			         TSK_SEG_DIR);
		} else {
			snprintf(err, errcap, "pid %d: %s", ipid, tsk_reader_strerror(rc));
		}
		return -1;
	}
	struct stat sb;
	if (stat(target, &sb) < 0) {
		snprintf(err, errcap, "%s: %s (expected a pid or a segment file)", target,
		         strerror(errno));
		return -1;
	}
	if (!S_ISREG(sb.st_mode)) {
		snprintf(err, errcap, "%s: not a segment file (expected a pid or a segment file)",
		         target);
		return -1;
	}
	if (strlen(target) >= cap) {
		snprintf(err, errcap, "%s: path too long", target);
		return -1;
	}
	snprintf(path, cap, "%s", target);
	return 0;
}

static void open_error(const char *path, int rc, char *err, size_t cap)
{
	if (rc == -EACCES || rc == -EPERM) {
		struct stat sb;
		if (stat(path, &sb) == 0)
			snprintf(err, cap,
			         "%s: permission denied (the segment belongs to uid %d, mode %03o; "
			         "run as that user or as root)",
			         path, (int)sb.st_uid, (unsigned)(sb.st_mode & 0777));
		else
			snprintf(err, cap, "%s: permission denied", path);
	} else if (rc == -EBUSY) {
		snprintf(err, cap, "%s: another taskscope is attached to this process", path);
	} else {
		snprintf(err, cap, "%s: %s", path, tsk_reader_strerror(rc));
	}
}

int coll_open(const char *path, int mode, store *st, coll **out, char *err, size_t cap)
{
	unsigned flags = mode == COLL_STREAM ? TSK_RD_WRITE : TSK_RD_COPY;
	tsk_reader *r = NULL;
	int rc = tsk_reader_open(path, flags, &r);
	if (rc < 0) {
		open_error(path, rc, err, cap);
		return -1;
	}
	coll *c = xcalloc(1, sizeof(*c));
	c->opened_mono = ts_mono_ns();
	c->r = r;
	c->info = *tsk_reader_info(r);
	c->mode = mode;
	c->st = st;
	snprintf(c->path, sizeof(c->path), "%s", path);
	idmap_init(&c->syms);
	idmap_init(&c->task_slot);
	idmap_init(&c->res_slot);
	c->scanned_ns = INT64_MIN;
	c->stats.first_ns = INT64_MIN;
	c->stats.last_ns = INT64_MIN;
	tsk_reader_calib_load(r, &c->cal);
	model_sink sink = {.ctx = c,
	                   .task = sink_task,
	                   .res = sink_res,
	                   .interval = sink_interval,
	                   .own = sink_own,
	                   .event = sink_event,
	                   .string = sink_string,
	                   .stack = sink_stack,
	                   .resolve = sink_resolve};
	c->m = model_create(&sink);
	model_set_epoch(c->m, c->info.created_mono_ns);
	if (mode == COLL_STREAM) {
		/* the flight recorder's history first, read as a flight reader,
		 * then attach where that reading stopped: the rings are almost
		 * empty when the writers start waiting for us, so a backlog of
		 * history costs the program no drops */
		take_live_state(c, 0);
		tsk_reader_ring_drain(r, on_batch, c);
		/* what was overwritten or dropped before we came is not ours; what
		 * the attach skips (overwritten since that reading) is */
		ring_totals(c);
		c->overwritten_base = c->stats.overwritten;
		c->lost_base = c->stats.lost_writer;
		c->stats.overwritten = c->stats.lost_writer = 0;
		rc = tsk_reader_ring_attach(r, TSK_RD_FROM_POSITION);
		if (rc < 0) {
			open_error(path, rc, err, cap);
			coll_close(c);
			return -1;
		}
	}
	*out = c;
	return 0;
}

void coll_detach(coll *c)
{
	if (c && c->mode == COLL_STREAM && tsk_reader_ring_mode(c->r) == TSK_MODE_STREAM)
		tsk_reader_ring_detach(c->r);
}

void coll_close(coll *c)
{
	if (!c)
		return;
	det_destroy(c->det);
	if (c->live_owned)
		tsk_reader_close(c->live);
	idmap_fini(&c->task_slot);
	idmap_fini(&c->res_slot);
	if (c->mode == COLL_STREAM && tsk_reader_ring_mode(c->r) == TSK_MODE_STREAM)
		tsk_reader_ring_detach(c->r);
	if (c->have_snap)
		tsk_reader_snap_free(&c->snap);
	tsk_reader_close(c->r);
	model_destroy(c->m);
	for (uint32_t i = 0; i < c->npend; i++)
		free(c->pend[i].recs);
	free(c->pend);
	free(c->merged);
	free(c->batches);
	idmap_fini(&c->syms);
	free(c);
}

/* ---- time --------------------------------------------------------------------- */

/* Process ns of a tsc, computed wide and kept within +-2^62: a corrupt
 * calibration or timestamp cannot overflow the model's arithmetic or land
 * on its sentinels (INT64_MIN unknown, -1 open). */
#define COLL_NS_LIMIT ((int64_t)1 << 62)

static int64_t to_ns(const coll *c, uint64_t tsc)
{
	__int128 ns = (__int128)tsk_reader_calib_ns(&c->cal, tsc) - c->info.created_mono_ns;
	if (ns > COLL_NS_LIMIT)
		return COLL_NS_LIMIT;
	if (ns < -COLL_NS_LIMIT)
		return -COLL_NS_LIMIT;
	return (int64_t)ns;
}

/* The tsc of CLOCK_MONOTONIC time mono (the inverse calibration). */
static uint64_t to_tsc(const coll *c, int64_t mono)
{
	__int128 d = (__int128)mono - c->cal.mono0;
	if (c->cal.num > 0 && c->cal.den > 0)
		d = d * c->cal.den / c->cal.num;
	__int128 t = (__int128)c->cal.tsc0 + d;
	return t < 0 ? 0 : t > (__int128)UINT64_MAX ? UINT64_MAX : (uint64_t)t;
}

/* ---- live state ---------------------------------------------------------------- */

/* Hints (seed 0: before events) or seeds (after) from slots [from, to)
 * of a snapshot taken at CLOCK_MONOTONIC snap_mono, counting its
 * resources first, then its tasks. */
static void use_snap_range(coll *c, const tsk_rd_snap *snap, int seed, int64_t snap_mono,
                           size_t from, size_t to)
{
	int64_t snap_ns = snap_mono - c->info.created_mono_ns;
	for (size_t i = from; i < snap->nres && i < to; i++) {
		const tsk_seg_res *s = &snap->res[i].slot;
		if (!s->id || snap->res[i].torn)
			continue;
		int64_t created = to_ns(c, s->created_tsc);
		if (seed)
			model_seed_res(c->m, s, created, snap_ns);
		else
			model_hint_res(c->m, s, created);
	}
	for (size_t i = from > snap->nres ? from - snap->nres : 0;
	     i < snap->ntasks && snap->nres + i < to; i++) {
		const tsk_seg_task *s = &snap->tasks[i].slot;
		if (!s->id || snap->tasks[i].torn)
			continue;
		int64_t spawned = to_ns(c, s->spawned_tsc);
		if (seed)
			model_seed_task(c->m, s, to_ns(c, s->since_tsc), spawned);
		else
			model_hint_task(c->m, s, spawned);
	}
}

static void use_snap(coll *c, const tsk_rd_snap *snap, int seed, int64_t snap_mono)
{
	use_snap_range(c, snap, seed, snap_mono, 0, snap->nres + snap->ntasks);
}

static int take_live_state(coll *c, int seed)
{
	tsk_rd_snap snap;
	if (tsk_reader_snap_take(c->r, &snap) < 0)
		return -1;
	use_snap(c, &snap, seed, c->mode == COLL_DUMP ? c->opened_mono : ts_mono_ns());
	tsk_reader_snap_free(&snap);
	return 0;
}

/* Stream mode: the live state is copied at one pass (snap_mono) and used
 * as seeds only once the watermark has passed that moment, so that every
 * event it already reflects has been applied first: seeding earlier would
 * create a task from its slot while its SPAWN still waited behind the
 * watermark.  SEED_SLICE slots a pass: seeding 100k tasks at once took
 * 90-140 ms, a pass that `top`'s keys waited for.  A slot seeded a few
 * passes after the copy is no worse: the model ignores a seed older than
 * what its events said (model_seed_task, model_seed_res). */
#define SEED_SLICE 8192

static void stream_seed(coll *c, int64_t cutoff_mono, int final)
{
	if (c->seeded)
		return;
	if (!c->have_snap) {
		if (tsk_reader_snap_take(c->r, &c->snap) < 0)
			return;
		c->snap_mono = ts_mono_ns();
		c->have_snap = 1;
		c->seed_pos = 0;
		if (!final)
			return;
	}
	if (!final && cutoff_mono <= c->snap_mono)
		return;
	size_t total = c->snap.nres + c->snap.ntasks;
	size_t to = final || total - c->seed_pos <= SEED_SLICE ? total : c->seed_pos + SEED_SLICE;
	use_snap_range(c, &c->snap, 1, c->snap_mono, c->seed_pos, to);
	c->seed_pos = to;
	if (to < total)
		return;
	tsk_reader_snap_free(&c->snap);
	c->have_snap = 0;
	c->seeded = 1;
	c->seeded_mono = ts_mono_ns();
}

/* Stream mode: the model is reconciled with the live state again every
 * RESYNC_NS, the same way as at the attach (a snapshot used once the
 * watermark has passed it).  Events the program dropped (stream mode
 * drops the newest when we fall behind) would otherwise leave the model
 * wrong for good: a task shown ready that is blocked, a lock held by a
 * task that released it. */
#define RESYNC_NS 1000000000

static void stream_resync(coll *c)
{
	if (c->seeded && ts_mono_ns() - c->seeded_mono >= RESYNC_NS)
		c->seeded = 0;
}

/* ---- the detector's view of the live state ----------------------------------------- */

/* Fills the slot caches from every slot of the live state in use (at
 * most every SCAN_EVERY_NS: a busy program that keeps making candidate
 * verdicts of new tasks must not make us copy its whole task table each
 * time). */
#define SCAN_EVERY_NS 50000000
static void scan_slots(coll *c)
{
	int64_t now = ts_mono_ns();
	if (c->scanned_ns != INT64_MIN && now - c->scanned_ns < SCAN_EVERY_NS)
		return; /* the detector retries what it could not confirm */
	c->scanned_ns = now;
	tsk_rd_snap hw;
	if (tsk_reader_snap_counters(c->live, &hw) < 0)
		return;
	/* rebuilt, not grown: ended tasks and freed resources leave it */
	idmap_fini(&c->task_slot);
	idmap_fini(&c->res_slot);
	idmap_init(&c->task_slot);
	idmap_init(&c->res_slot);
	for (uint32_t i = 0; i < hw.task_hwm; i++) {
		tsk_rd_task t;
		if (tsk_reader_snap_task(c->live, i, &t) < 0)
			break;
		if (t.slot.id && !t.torn)
			idmap_put(&c->task_slot, t.slot.id, (void *)(uintptr_t)(i + 1));
	}
	for (uint32_t i = 0; i < hw.res_hwm; i++) {
		tsk_rd_res r;
		if (tsk_reader_snap_res(c->live, i, &r) < 0)
			break;
		if (r.slot.id && !r.torn)
			idmap_put(&c->res_slot, r.slot.id, (void *)(uintptr_t)(i + 1));
	}
}

static int read_task_slot(coll *c, uint64_t id, tsk_rd_task *t)
{
	for (int pass = 0; pass < 2; pass++) {
		uintptr_t v = (uintptr_t)idmap_get(&c->task_slot, id);
		if (v && tsk_reader_snap_task(c->live, (uint32_t)(v - 1), t) == 0 &&
		    t->slot.id == id)
			return 0;
		if (!pass)
			scan_slots(c);
	}
	return -1;
}

static int live_task(void *ctx, uint64_t id, det_slot *out)
{
	coll *c = ctx;
	tsk_rd_task t;
	if (read_task_slot(c, id, &t) < 0)
		return -1;
	*out = (det_slot){.state = t.slot.state,
	                  .wait_kind = t.slot.wait_kind,
	                  .obj = t.slot.wait_obj,
	                  .deadline = t.slot.wait_deadline_ns,
	                  .seq = t.slot.seq};
	return 0;
}

static int live_owner(void *ctx, uint64_t res, uint64_t *owner, uint32_t *nreaders)
{
	coll *c = ctx;
	for (int pass = 0; pass < 2; pass++) {
		uintptr_t v = (uintptr_t)idmap_get(&c->res_slot, res);
		tsk_rd_res r;
		if (v && tsk_reader_snap_res(c->live, (uint32_t)(v - 1), &r) == 0 &&
		    r.slot.id == res) {
			*owner = r.slot.owner;
			*nreaders = r.slot.nreaders;
			return 0;
		}
		if (!pass)
			scan_slots(c);
	}
	return -1;
}

/* A dump of a running process confirms on the process's own segment (the
 * file given may be a copy, frozen at a moment that may be transient):
 * found by pid and checked to be the same process. */
static int open_live(coll *c)
{
	char real[256];
	tsk_reader *r;
	if (tsk_reader_find(NULL, c->info.pid, real, sizeof(real)) < 0 ||
	    tsk_reader_open(real, 0, &r) < 0)
		return -1;
	const tsk_rd_info *ri = tsk_reader_info(r);
	if (ri->proc_start_ticks != c->info.proc_start_ticks ||
	    ri->created_mono_ns != c->info.created_mono_ns) {
		tsk_reader_close(r);
		return -1;
	}
	c->live = r;
	return 0;
}

/* A JSON array of the first n ids (stopping at a 0), owned by the caller. */
static char *ids_json(const uint64_t *ids, size_t n)
{
	char *buf = xmalloc(24 * n + 3);
	size_t k = 0;
	buf[k++] = '[';
	for (size_t i = 0; i < n && ids[i]; i++)
		k += (size_t)sprintf(buf + k, "%s%" PRIu64, i ? "," : "", ids[i]);
	buf[k++] = ']';
	buf[k] = 0;
	return buf;
}

static void store_deadlock(coll *c, const det_deadlock *d)
{
	char *behind = ids_json(d->behind, d->nbehind);
	char *sql = sqlite3_mprintf("INSERT OR REPLACE INTO deadlocks VALUES (%u, %Q, %Q, %lld, "
	                            "%lld, %u, %Q, %Q);",
	                            d->id, det_verdict_name(d->verdict), det_kind_name(d->kind),
	                            (long long)d->closed_ns, (long long)d->found_ns, d->ntasks,
	                            behind, d->text ? d->text : "");
	free(behind);
	if (!sql)
		abort();
	store_sql(c->st, sql);
	sqlite3_free(sql);
	for (uint32_t i = 0; i < d->ntasks; i++) {
		const det_member *m = &d->tasks[i];
		char *by = ids_json(m->by, 4);
		sql = sqlite3_mprintf("INSERT OR REPLACE INTO deadlock_tasks VALUES (%u, %u, %llu, "
		                      "%u, %llu, %u, %u, %lld, %Q);",
		                      d->id, i, (unsigned long long)m->task, m->wait_kind,
		                      (unsigned long long)m->obj, m->site, m->stack,
		                      (long long)m->since_ns, by);
		free(by);
		if (!sql)
			abort();
		store_sql(c->st, sql);
		sqlite3_free(sql);
	}
	store_flush(c->st);
}

static void store_warning(void *ctx, const det_warning *w)
{
	coll *c = ctx;
	char res[24] = "NULL";
	if (w->res)
		snprintf(res, sizeof(res), "%" PRIu64, w->res);
	char *sql =
	        sqlite3_mprintf("INSERT INTO warnings(kind, task, resource, first_ns, "
	                        "last_ns, count, value_ns, detail) VALUES (%Q, %llu, %s, "
	                        "%lld, %lld, %llu, %lld, %Q);",
	                        det_lint_name(w->kind), (unsigned long long)w->task, res,
	                        (long long)w->first_ns, (long long)w->last_ns,
	                        (unsigned long long)w->count, (long long)w->value_ns, w->detail);
	if (!sql)
		abort();
	store_sql(c->st, sql);
	sqlite3_free(sql);
}

static void on_deadlock(void *ctx, const det_deadlock *d)
{
	coll *c = ctx;
	if (c->st)
		store_deadlock(c, d);
	if (c->announce)
		c->announce(c->announce_ctx, d);
}

void coll_detect(coll *c, const det_config *cfg, void (*announce)(void *ctx, const det_deadlock *d),
                 void *ctx)
{
	det_destroy(c->det);
	c->announce = announce;
	c->announce_ctx = ctx;
	c->det = det_create(c->m, cfg,
	                    &(det_out){.ctx = c, .deadlock = on_deadlock, .resolve = sink_resolve});
	if (c->mode == COLL_STREAM) {
		c->live = c->r;
		det_set_live(c->det, &(det_live){.ctx = c, .task = live_task, .owner = live_owner});
	}
}

det *coll_det(coll *c)
{
	return c->det;
}

/* ---- passes ---------------------------------------------------------------------- */

static int on_batch(void *ctx, uint32_t ring, const tsk_rd_rec *recs, size_t n)
{
	coll *c = ctx;
	if (ring >= c->npend) {
		uint32_t nn = ring + 1;
		c->pend = xrealloc(c->pend, nn * sizeof(*c->pend));
		memset(c->pend + c->npend, 0, (nn - c->npend) * sizeof(*c->pend));
		c->batches = xrealloc(c->batches, nn * sizeof(*c->batches));
		c->npend = nn;
	}
	pending *p = &c->pend[ring];
	if (p->head && p->head == p->n) {
		p->head = p->n = 0;
	} else if (p->head > p->cap / 2) {
		memmove(p->recs, p->recs + p->head, (p->n - p->head) * sizeof(*p->recs));
		p->n -= p->head;
		p->head = 0;
	}
	if (p->n + n > p->cap) {
		size_t cap = p->cap ? p->cap : 4096;
		while (cap < p->n + n)
			cap *= 2;
		p->recs = xrealloc(p->recs, cap * sizeof(*p->recs));
		p->cap = cap;
	}
	memcpy(p->recs + p->n, recs, n * sizeof(*recs));
	p->n += n;
	c->stats.records += n;
	return 0;
}

static void apply(coll *c, const tsk_rd_rec *rec)
{
	int64_t ns = to_ns(c, rec->ev.tsc);
	model_apply(c->m, &rec->ev, ns);
	c->stats.applied++;
	if (rec->ev.type == TSK_EV_LOST)
		c->stats.lost += rec->ev.arg;
	if (c->stats.first_ns == INT64_MIN || ns < c->stats.first_ns)
		c->stats.first_ns = ns;
	if (ns > c->stats.last_ns)
		c->stats.last_ns = ns;
}

ssize_t coll_pass(coll *c, int final)
{
	int64_t began = ts_mono_ns();
	tsk_rd_calib cal;
	if (tsk_reader_calib_load(c->r, &cal) >= 0)
		c->cal = cal;
	if (tsk_reader_ring_drain(c->r, on_batch, c) < 0)
		return 0;
	uint64_t cutoff = final ? UINT64_MAX : to_tsc(c, began - COLL_HOLD_NS);
	size_t total = 0;
	for (uint32_t i = 0; i < c->npend; i++) {
		pending *p = &c->pend[i];
		size_t k = p->head;
		/* a record stamped far in the future (a corrupt segment, a TSC
		 * jump) must not hold its ring back for ever: past COLL_PEND_MAX
		 * records waiting, the oldest go regardless of the watermark */
		while (k < p->n && (p->recs[k].ev.tsc <= cutoff || p->n - k > COLL_PEND_MAX))
			k++;
		c->batches[i] = (tsk_rd_batch){p->recs + p->head, k - p->head};
		total += k - p->head;
	}
	if (total) {
		if (total > c->merged_cap) {
			free(c->merged);
			c->merged_cap = total + total / 2;
			c->merged = xmalloc(c->merged_cap * sizeof(*c->merged));
		}
		ssize_t n = tsk_reader_merge(c->batches, c->npend, c->merged, total);
		for (ssize_t i = 0; i < n; i++)
			apply(c, &c->merged[i]);
		for (uint32_t i = 0; i < c->npend; i++)
			c->pend[i].head += c->batches[i].n;
	}
	if (c->mode == COLL_STREAM) {
		stream_resync(c);
		stream_seed(c, began - COLL_HOLD_NS, final);
		if (c->det && !final)
			det_step(c->det, ts_mono_ns() - c->info.created_mono_ns, 0);
	}
	return (ssize_t)total;
}

int coll_dump(coll *c, char *err, size_t cap)
{
	if (take_live_state(c, 0) < 0) {
		snprintf(err, cap, "%s: cannot read the live state: %s", c->path,
		         tsk_reader_strerror(-ENOMEM));
		return -1;
	}
	while (coll_pass(c, 1) > 0)
		;
	take_live_state(c, 1);
	c->seeded = 1;
	if (c->det) {
		/* verdicts are confirmed on the process itself while it lives
		 * (the copy is one moment, maybe a transient one); a dead one's
		 * copy is final */
		det_live lv = {.ctx = c, .task = live_task, .owner = live_owner, .frozen = 1};
		c->live = c->r;
		if (coll_liveness(c) != TSK_RD_LIVE) {
			det_set_live(c->det, &lv); /* dead: its copy is the truth */
		} else if (open_live(c) == 0) {
			c->live_owned = 1;
			lv.frozen = 0;
			det_set_live(c->det, &lv);
		} /* else a running process we cannot read again: no verdict */
		det_step(c->det, ts_mono_ns() - c->info.created_mono_ns, 1);
	}
	return 0;
}

/* ---- end, counters ------------------------------------------------------------------- */

static void ring_totals(coll *c)
{
	uint64_t lost_writer = 0, over = 0, corrupt = 0, pend = 0;
	uint32_t n = tsk_reader_ring_count(c->r);
	for (uint32_t i = 0; i < n; i++) {
		tsk_rd_ring_stats rs;
		if (tsk_reader_ring_stats(c->r, i, &rs) == 0) {
			lost_writer += rs.lost_total;
			over += rs.overwritten;
			corrupt += rs.corrupt;
		}
	}
	for (uint32_t i = 0; i < c->npend; i++)
		pend += c->pend[i].n - c->pend[i].head;
	c->stats.lost_writer = lost_writer - c->lost_base;
	c->stats.overwritten = over - c->overwritten_base;
	c->stats.corrupt = corrupt;
	c->stats.pending = pend;
}

void coll_update_process(coll *c)
{
	ring_totals(c);
	if (!c->st)
		return;
	store_proc p = {0};
	p.pid = c->info.pid;
	snprintf(p.name, sizeof(p.name), "%s", c->info.program);
	p.start_ticks = c->info.proc_start_ticks;
	p.created_realtime_ns = c->info.created_realtime_ns;
	p.created_mono_ns = c->info.created_mono_ns;
	snprintf(p.segment, sizeof(p.segment), "%s", c->path);
	p.source = c->mode == COLL_STREAM ? "record" : "dump";
	model_stats ms;
	model_get_stats(c->m, &ms);
	p.workers = ms.nworkers;
	p.first_ns = c->stats.first_ns;
	p.last_ns = c->stats.last_ns;
	p.events = c->stats.applied;
	p.lost = c->stats.lost > c->stats.lost_writer ? c->stats.lost : c->stats.lost_writer;
	p.overwritten = c->stats.overwritten;
	store_process(c->st, &p);
}

void coll_finish(coll *c)
{
	c->finishing = 1;
	/* the history ends now for a process still there (a hung task is
	 * still blocked now), at its newest record for a dead one */
	int64_t end = c->stats.last_ns == INT64_MIN ? 0 : c->stats.last_ns;
	if (coll_liveness(c) == TSK_RD_LIVE) {
		/* a dump's view is its copy's: taken when it was opened */
		int64_t now = (c->mode == COLL_DUMP ? c->opened_mono : ts_mono_ns()) -
		              c->info.created_mono_ns;
		if (now > end)
			end = now;
	}
	c->stats.last_ns = end;
	if (c->det && c->mode == COLL_STREAM)
		det_step(c->det, ts_mono_ns() - c->info.created_mono_ns, 1);
	if (c->det && c->st)
		det_each_warning(c->det, store_warning, c);
	model_finish(c->m, end);
	coll_update_process(c);
}

void coll_on_interval(coll *c, void (*fn)(void *ctx, const model_interval *iv), void *ctx)
{
	c->on_interval = fn;
	c->on_interval_ctx = ctx;
}

int coll_string(coll *c, uint32_t id, char *buf, size_t cap)
{
	return sink_resolve(c, id, buf, cap);
}

int coll_stack(coll *c, uint32_t id, tsk_seg_stack *out)
{
	return tsk_reader_stack(c->r, id, out) < 0 ? -1 : 0;
}

model *coll_model(coll *c)
{
	return c->m;
}

const tsk_rd_info *coll_info(coll *c)
{
	return &c->info;
}

void coll_get_stats(coll *c, coll_stats *out)
{
	ring_totals(c);
	*out = c->stats;
}

int coll_liveness(coll *c)
{
	return tsk_reader_liveness(c->info.pid, c->info.proc_start_ticks);
}
