/*
 * detect_graph.c - the wait-for graph's owned edges, the confirmation of a verdict on
 * the live state, and the incremental search for cycles (detect_int.h).
 */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "detect_int.h"
#include "report.h"

/* ---- the wait-for graph ----------------------------------------------------------- */

/* Appends to out the tasks t waits for along owned edges: the holders of
 * the lock (a reader: the writer holding it, else the writers queued
 * ahead of it), or the joined task.  A task waiting on a lock it holds
 * waits for itself only if it took the lock before this wait began (a
 * relock; a hand-off makes the waiter the holder just before it wakes). */
void det__owned_edges(det *d, const model_task *t, u64vec *out)
{
	if (!det__untimed(t))
		return;
	uint8_t k = t->cur.wait_kind;
	if (k == TSK_WAIT_JOIN) {
		model_task *j = model_task_get(d->m, t->cur.obj);
		if (det__alive(j))
			vpush(out, j->id);
		return;
	}
	if (!det__owned_wait(k))
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
			if (w && w != t && det__untimed(w) &&
			    w->cur.wait_kind == TSK_WAIT_RWLOCK_WR && w->cur.obj == r->id)
				vpush(out, w->id);
		}
	}
}

void det__member_of(const model_task *t, det_member *m)
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
int det__confirm_read(det *d, const det_member *mem, size_t n, uint32_t *seqs)
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
int det__confirm_same(det *d, const det_member *mem, size_t n, const uint32_t *seqs)
{
	uint32_t *now = xmalloc((n ? n : 1) * sizeof(*now));
	int ok = det__confirm_read(d, mem, n, now) && !memcmp(now, seqs, n * sizeof(*now));
	free(now);
	return ok;
}

/* Confirms at once: one read of a frozen process, two reads of a live one
 * with nothing changed between them (a consistent view).  Cycles also
 * check the owners the lock slots name. */
int det__confirm_now(det *d, const det_member *mem, size_t n, int cycle)
{
	uint32_t *seqs = xmalloc((n ? n : 1) * sizeof(*seqs));
	int ok = det__confirm_read(d, mem, n, seqs);
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
		ok = det__confirm_same(d, mem, n, seqs);
	free(seqs);
	return ok;
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
		det__member_of(model_task_get(d->m, stack[from + i].task), &mem[i]);
		mem[i].by[0] = stack[from + (i + 1) % n].task;
	}
	if (!det__is_news(d, mem, n, DET_DEFINITE)) {
		free(mem);
		return;
	}
	d->st.candidates++;
	if (!det__confirm_now(d, mem, n, 1)) {
		/* a transient (or a model behind the program): look again later */
		d->st.rejected++;
		if (d->retry.n < MAX_RETRY)
			vpush(&d->retry, mem[0].task);
		free(mem);
		return;
	}
	det_deadlock dl = {
	        .verdict = DET_DEFINITE, .kind = DET_CYCLE, .tasks = mem, .ntasks = (uint32_t)n};
	det__announce(d, &dl);
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

void det__find_cycles(det *d, const uint64_t *starts, size_t nstarts)
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
		if (!det__untimed(t0) || !det__owned_wait(t0->cur.wait_kind) ||
		    colour_of(d, starts[s]))
			continue;
		edges->n = 0;
		det__owned_edges(d, t0, edges);
		/* the common case: what it waits for is not itself in an untimed
		 * owned wait (a holder still running), so no cycle goes through it */
		size_t k;
		for (k = 0; k < edges->n; k++) {
			model_task *v = model_task_get(d->m, edges->p[k]);
			if (v == t0 || (det__untimed(v) && det__owned_wait(v->cur.wait_kind)))
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
			det__owned_edges(d, vt, edges);
			if (top == d->capstack) {
				d->capstack *= 2;
				d->stack = xrealloc(d->stack, d->capstack * sizeof(*d->stack));
				stack = d->stack;
			}
			stack[top++] = (frame){v, off, edges->n - off, 0};
		}
	}
}
