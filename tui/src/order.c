/*
 * order.c - a view's list of ids, built in steps of bounded time (order.h).
 *
 * A build goes through these stages, each resumable at its cursor `pos`:
 *   GATHER   each id of the snapshot looked up and keyed into a record; the
 *            AND and OR of every word tell which bytes differ somewhere
 *   COUNT    one pass counts the values of every byte that differs
 *   SCATTER  one stable pass per such byte, least significant first (the
 *            id's, then the key's words from the last): r -> tmp, swapped
 *   EMIT     not a tree: the ids in sorted order
 *   LISTED   a tree: the set of listed ids
 *   RUNS     a tree: each listed parent -> the start of its children's run
 *            (the records are sorted by parent first)
 *   WALK     a tree: depth first from each root, in sorted order; a stack
 *            of runs, so a parent of 100k children is one entry
 * Each stage looks at the clock every CHECK_EVERY items and stops by the
 * deadline; every call makes progress.  The only step not split is
 * order_start's snapshot, one sequential read of the id table.
 *
 * Tuned for 10k-1M ids, rebuilt about once a second: a record is 40
 * bytes; a sort by a number moves them 3 to 8 times (the id's bytes
 * that differ, then the key's), by a name up to 12.  With 100k tasks a
 * build is 20-50 ms of work, 80% of it GATHER's lookups (cache misses on
 * the id table and the tasks); the sort ~5 ms.
 */
#include <stdlib.h>
#include <string.h>

#include "idmap.h"
#include "order.h"
#include "tui.h"
#include "util.h"

#define CHECK_EVERY 64                      /* items between looks at the clock */
#define NPOS        (8 * (ORDER_WORDS + 1)) /* byte positions of a record */

typedef struct rec {
	uint64_t key[ORDER_WORDS];
	uint64_t tie; /* the id, complemented when reversed */
} rec;

/* A run of records left to walk, all at one depth of the tree. */
typedef struct run {
	size_t next, end;
	unsigned depth;
} run;

enum stage { ST_IDLE, ST_GATHER, ST_COUNT, ST_SCATTER, ST_EMIT, ST_LISTED, ST_RUNS, ST_WALK };

struct order {
	/* the list shown */
	uint64_t *ids;  /* in order */
	uint8_t *depth; /* each id's depth in the tree (if tree) */
	size_t n, cap;  /* its length, the arrays' room */
	int tree;       /* it is depth first through the parents */
	/* the build */
	order_src src;    /* what it orders, how */
	enum stage stage; /* ST_IDLE: no build under way */
	size_t pos;       /* the stage's cursor */
	uint64_t *snap;   /* the ids to visit */
	size_t nsnap, capsnap;
	rec *r, *tmp; /* the records, and the other half of a radix pass */
	size_t nr, capr;
	uint64_t and_[ORDER_WORDS + 1], or_[ORDER_WORDS + 1]; /* by word, the tie first */
	uint8_t bytes[NPOS]; /* the byte positions that differ, least significant first */
	int nbytes, pass;
	uint32_t count[NPOS][256]; /* count[k]: values of byte bytes[k] */
	size_t at[256];            /* SCATTER: where the next record of each value goes */
	uint64_t *next_ids;        /* the list being made, and its depths */
	uint8_t *next_depth;
	size_t nnext, capnext;
	idmap kids; /* tree: listed id -> 1, or 2 + the start of its children's run */
	run *stack; /* tree: the runs left to walk, the deepest on top */
	size_t sp, capstack;
	size_t root;        /* tree: the next record that may be a root */
	int64_t began_mono; /* when the last build began, 0 never */
	uint64_t gen;       /* the model's generation then */
};

order *order_create(void)
{
	order *o = xcalloc(1, sizeof(*o));
	idmap_init(&o->kids);
	return o;
}

void order_destroy(order *o)
{
	if (!o)
		return;
	free(o->ids);
	free(o->depth);
	free(o->snap);
	free(o->r);
	free(o->tmp);
	free(o->next_ids);
	free(o->next_depth);
	free(o->stack);
	idmap_fini(&o->kids);
	free(o);
}

/* Word w of a record, least significant first: the tie, then the key's
 * words from the last. */
static uint64_t word(const rec *x, int w)
{
	return w ? x->key[ORDER_WORDS - w] : x->tie;
}

static unsigned byte_at(const rec *x, int pos)
{
	return (unsigned)(word(x, pos / 8) >> (8 * (pos % 8))) & 0xff;
}

static uint64_t id_of(const order *o, const rec *x)
{
	return o->src.reverse ? ~x->tie : x->tie;
}

/* After item i of a stage: time to stop? */
static int late(size_t i, int64_t deadline)
{
	return i % CHECK_EVERY == 0 && ts_mono_ns() >= deadline;
}

void order_start(order *o, model *m, uint64_t gen, const order_src *src)
{
	o->src = *src;
	o->gen = gen;
	o->began_mono = ts_mono_ns();
	size_t n = src->ids(m, NULL, 0);
	if (n > o->capsnap) {
		o->capsnap = n;
		o->snap = xrealloc(o->snap, n * sizeof(*o->snap));
	}
	size_t got = src->ids(m, o->snap, n);
	o->nsnap = got < n ? got : n;
	if (o->nsnap > o->capr) {
		o->capr = o->nsnap;
		o->r = xrealloc(o->r, o->capr * sizeof(*o->r));
		o->tmp = xrealloc(o->tmp, o->capr * sizeof(*o->tmp));
	}
	o->nr = o->pos = 0;
	for (int w = 0; w <= ORDER_WORDS; w++) {
		o->and_[w] = UINT64_MAX;
		o->or_[w] = 0;
	}
	o->stage = ST_GATHER;
}

int order_building(const order *o)
{
	return o->stage != ST_IDLE;
}

int order_tick(order *o, model *m, uint64_t gen, const order_src *src, int64_t deadline_ns,
               int periodic)
{
	if (!o->began_mono || o->gen != gen) {
		order_start(o, m, gen, src);
	} else if (periodic && !order_building(o) &&
	           ts_mono_ns() - o->began_mono >= ORDER_EVERY_NS) {
		order_start(o, m, gen, src);
		return TUI_BUSY; /* the snapshot was this slice's work */
	}
	if (!order_building(o))
		return TUI_IDLE;
	return order_step(o, m, deadline_ns) ? TUI_CHANGED : TUI_BUSY;
}

static void next_stage(order *o, enum stage s)
{
	o->stage = s;
	o->pos = 0;
}

static int gather(order *o, model *m, int64_t deadline)
{
	while (o->pos < o->nsnap) {
		uint64_t id = o->snap[o->pos++];
		rec *x = &o->r[o->nr];
		memset(x->key, 0, sizeof(x->key));
		if (o->src.key(o->src.ctx, m, id, x->key)) {
			x->tie = o->src.reverse ? ~id : id;
			for (int w = 0; w <= ORDER_WORDS; w++) {
				o->and_[w] &= word(x, w);
				o->or_[w] |= word(x, w);
			}
			o->nr++;
		}
		if (late(o->pos, deadline))
			return 0;
	}
	o->nbytes = 0;
	for (int p = 0; p < NPOS; p++)
		if ((o->and_[p / 8] ^ o->or_[p / 8]) >> (8 * (p % 8)) & 0xff)
			o->bytes[o->nbytes++] = (uint8_t)p;
	memset(o->count, 0, (size_t)o->nbytes * sizeof(o->count[0]));
	next_stage(o, ST_COUNT);
	return 1;
}

static int count(order *o, int64_t deadline)
{
	while (o->pos < o->nr) {
		const rec *x = &o->r[o->pos++];
		for (int k = 0; k < o->nbytes; k++)
			o->count[k][byte_at(x, o->bytes[k])]++;
		if (late(o->pos, deadline))
			return 0;
	}
	o->pass = 0;
	next_stage(o, ST_SCATTER);
	return 1;
}

/* The list being made has room for every record; a tree's walk starts. */
static void make_room(order *o)
{
	if (o->nr > o->capnext || !o->next_ids) {
		o->capnext = o->nr ? o->nr : 1;
		o->next_ids = xrealloc(o->next_ids, o->capnext * sizeof(*o->next_ids));
		o->next_depth = xrealloc(o->next_depth, o->capnext * sizeof(*o->next_depth));
	}
	o->nnext = 0;
	if (o->src.tree) {
		if (o->nr + 1 > o->capstack) {
			o->capstack = o->nr + 1;
			o->stack = xrealloc(o->stack, o->capstack * sizeof(*o->stack));
		}
		idmap_fini(&o->kids);
		idmap_init(&o->kids);
		idmap_reserve(&o->kids, o->nr);
		o->sp = o->root = 0;
	}
}

static int scatter(order *o, int64_t deadline)
{
	while (o->pass < o->nbytes) {
		int p = o->bytes[o->pass];
		if (o->pos == 0) {
			size_t sum = 0;
			for (int b = 0; b < 256; b++) {
				o->at[b] = sum;
				sum += o->count[o->pass][b];
			}
		}
		while (o->pos < o->nr) {
			const rec *x = &o->r[o->pos++];
			o->tmp[o->at[byte_at(x, p)]++] = *x;
			if (late(o->pos, deadline))
				return 0;
		}
		rec *t = o->r;
		o->r = o->tmp;
		o->tmp = t;
		o->pass++;
		o->pos = 0;
	}
	make_room(o);
	next_stage(o, o->src.tree ? ST_LISTED : ST_EMIT);
	return 1;
}

/* The list made replaces the one shown. */
static void finish(order *o)
{
	uint64_t *ids = o->ids;
	uint8_t *depth = o->depth;
	size_t cap = o->cap;
	o->ids = o->next_ids;
	o->depth = o->next_depth;
	o->cap = o->capnext;
	o->next_ids = ids;
	o->next_depth = depth;
	o->capnext = cap;
	o->n = o->nnext;
	o->tree = o->src.tree;
	o->stage = ST_IDLE;
}

static int emit(order *o, int64_t deadline)
{
	while (o->pos < o->nr) {
		o->next_ids[o->pos] = id_of(o, &o->r[o->pos]);
		o->next_depth[o->pos] = 0;
		if (late(++o->pos, deadline))
			return 0;
	}
	o->nnext = o->nr;
	finish(o);
	return 1;
}

static int listed(order *o, int64_t deadline)
{
	while (o->pos < o->nr) {
		idmap_put(&o->kids, id_of(o, &o->r[o->pos++]), (void *)1);
		if (late(o->pos, deadline))
			return 0;
	}
	next_stage(o, ST_RUNS);
	return 1;
}

static int runs(order *o, int64_t deadline)
{
	while (o->pos < o->nr) {
		size_t i = o->pos++;
		uint64_t parent = o->r[i].key[0];
		if (parent && (i == 0 || o->r[i - 1].key[0] != parent) &&
		    idmap_get(&o->kids, parent))
			idmap_put(&o->kids, parent, (void *)(uintptr_t)(i + 2));
		if (late(o->pos, deadline))
			return 0;
	}
	next_stage(o, ST_WALK);
	return 1;
}

/* The end of the run of records whose parent is that of record lo. */
static size_t run_end(const order *o, size_t lo)
{
	uint64_t parent = o->r[lo].key[0];
	size_t hi = o->nr;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (o->r[mid].key[0] <= parent)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

/* One record of the walk: the next of the run on top of the stack, listed
 * with its depth; its children's run goes on top. */
static void walk_one(order *o)
{
	run *top = &o->stack[o->sp - 1];
	size_t i = top->next++;
	unsigned depth = top->depth;
	if (top->next == top->end)
		o->sp--;
	uint64_t id = id_of(o, &o->r[i]);
	o->next_ids[o->nnext] = id;
	o->next_depth[o->nnext++] = (uint8_t)(depth < 255 ? depth : 255);
	uintptr_t kids = (uintptr_t)idmap_get(&o->kids, id);
	if (kids >= 2)
		o->stack[o->sp++] = (run){kids - 2, run_end(o, kids - 2), depth + 1};
}

static int walk(order *o, int64_t deadline)
{
	for (;;) {
		if (o->sp) {
			walk_one(o);
		} else if (o->root < o->nr) {
			/* a root: no parent, or one not listed */
			uint64_t parent = o->r[o->root].key[0];
			if (!parent || !idmap_get(&o->kids, parent))
				o->stack[o->sp++] = (run){o->root, o->root + 1, 0};
			o->root++;
		} else {
			break;
		}
		if (late(++o->pos, deadline))
			return 0;
	}
	finish(o);
	return 1;
}

int order_step(order *o, model *m, int64_t deadline_ns)
{
	for (;;) {
		int done;
		switch (o->stage) {
		case ST_GATHER:
			done = gather(o, m, deadline_ns);
			break;
		case ST_COUNT:
			done = count(o, deadline_ns);
			break;
		case ST_SCATTER:
			done = scatter(o, deadline_ns);
			break;
		case ST_EMIT:
			done = emit(o, deadline_ns);
			break;
		case ST_LISTED:
			done = listed(o, deadline_ns);
			break;
		case ST_RUNS:
			done = runs(o, deadline_ns);
			break;
		case ST_WALK:
			done = walk(o, deadline_ns);
			break;
		default:
			return 0;
		}
		if (!done)
			return 0;
		if (o->stage == ST_IDLE)
			return 1;
	}
}

size_t order_count(const order *o)
{
	return o->n;
}

uint64_t order_id(const order *o, size_t i)
{
	return i < o->n ? o->ids[i] : 0;
}

unsigned order_depth(const order *o, size_t i)
{
	return o->tree && i < o->n ? o->depth[i] : 0;
}

size_t order_find(const order *o, uint64_t id)
{
	for (size_t i = 0; i < o->n; i++)
		if (o->ids[i] == id)
			return i;
	return SIZE_MAX;
}
