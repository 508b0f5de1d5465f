/*
 * detect_stall.c - the stall fixpoint: who can still progress, who may hold
 * what a task waits on, what stays stuck (detect_int.h).
 */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "detect_int.h"
#include "report.h"

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
	if (!det__alive(t))
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
		det__owned_edges(d, t, &by);
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
		if (!det__untimed(t))
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
		det__owned_edges(d, t, &by);
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
	if (det__owned_wait(mem->wait_kind)) {
		u64vec by = {0};
		det__owned_edges(f->d, t, &by);
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
static void stalls(fix *f)
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
			det__member_of(f->tasks[byroot[2 * (a + x) + 1]], &mem[x]);
		qsort(mem, n, sizeof(*mem), det__by_task);
		/* who each waits for, among the group */
		for (size_t x = 0; x < n; x++)
			blocked_by(f, in, &mem[x]);
		det_deadlock dl = {
		        .verdict = verdict, .kind = DET_STALL, .tasks = mem, .ntasks = (uint32_t)n};
		if (det__any_reported(d, mem, n)) {
			/* it grew (or changed) around a deadlock already reported:
			 * that one stands, it is not reported again */
			free(mem);
			continue;
		}
		d->st.candidates++;
		if (verdict == DET_DEFINITE || d->live.frozen) {
			if (det__confirm_now(d, mem, n, 0)) {
				det__announce(d, &dl);
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
		if (!det__confirm_read(d, mem, n, seqs)) {
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
	free(byroot);
	free(order);
	free(parent);
	free(in);
}

/* Reports the pending likely stalls that held for hold_ns (all of them,
 * now, when force), drops those the last fixpoint did not see again. */
void det__settle_pending(det *d, int force)
{
	size_t keep = 0;
	for (size_t p = 0; p < d->npend; p++) {
		pending *pe = &d->pend[p];
		int ripe = force || d->now_ns - pe->first_ns >= d->cfg.hold_ns;
		if (!pe->seen) {
			d->st.rejected++; /* it did not hold */
			det__dl_free(&pe->dl);
			free(pe->seqs);
			continue;
		}
		if (!ripe) {
			d->pend[keep++] = *pe;
			continue;
		}
		if (det__is_news(d, pe->dl.tasks, pe->dl.ntasks, pe->dl.verdict) &&
		    det__confirm_same(d, pe->dl.tasks, pe->dl.ntasks, pe->seqs)) {
			det__announce(d, &pe->dl);
		} else {
			d->st.rejected++;
			det__dl_free(&pe->dl);
		}
		free(pe->seqs);
	}
	d->npend = keep;
}

static void count_wakeable(void *ctx, model_task *t)
{
	uint8_t k = t->cur.wait_kind;
	if (det__untimed(t) && k >= TSK_WAIT_CHAN_SEND && k <= TSK_WAIT_COND &&
	    k != TSK_WAIT_SELECT && !det__owned_wait(k))
		++*(size_t *)ctx;
}

void det__fixpoint(det *d)
{
	for (size_t p = 0; p < d->npend; p++)
		d->pend[p].seen = 0; /* settle_pending drops those not seen again */
	/* A stuck set with no wait on a channel, semaphore, wait group or
	 * condvar is made of lock and join waits only: following holders and
	 * joined tasks from any of them ends in a free task (then they are all
	 * free) or goes round a cycle, which the cycle search reports (the
	 * others are behind it).  Nothing to do then. */
	size_t wakeable = 0;
	model_each_task(d->m, count_wakeable, &wakeable);
	if (!wakeable)
		return;
	d->st.fixpoints++;
	fix f = {.d = d};
	idmap_init(&f.index);
	idmap_init(&f.resnode);
	build(&f);
	propagate(&f);
	stalls(&f);
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
