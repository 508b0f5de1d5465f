/*
 * store_rows.c - the row producers of the history store (store.h): each
 * store_<row> call copies its row into the calling thread's current batch
 * (store_int.h), and a full batch goes to the writer (store__hand_off).
 *
 * This is the collector's hot path: no lock (but to count a refused row),
 * no SQLite, no allocation once the recycled batches have grown to their
 * working size; a row is one copy into an array, texts one copy into the
 * batch's arena.  Nothing is converted here (the sentinels become NULLs
 * in store_write.c), except what cannot be written at all: a stack
 * entry's frame count is clamped (the segment is untrusted) and a row
 * without its NOT NULL time is dropped and counted.
 */
#include <stdlib.h>
#include <string.h>

#include "store_int.h"
#include "util.h"

/* ---- batches ------------------------------------------------------------------ */

/* Room for one more row of size bytes in v (amortised doubling). */
static inline void *vec_push(store_vec *v, size_t size)
{
	if (v->n == v->cap) {
		v->cap = v->cap ? v->cap * 2 : 64;
		v->p = xrealloc(v->p, v->cap * size);
	}
	return (char *)v->p + v->n++ * size;
}

/* Copies n bytes of text into the arena; returns its offset. */
static uint32_t arena_add(store_batch *b, const char *text, size_t n)
{
	if (b->arena_used + n + 1 > b->arena_cap) {
		size_t cap = b->arena_cap ? b->arena_cap : 4096;
		while (cap < b->arena_used + n + 1)
			cap *= 2;
		b->arena = xrealloc(b->arena, cap);
		b->arena_cap = cap;
	}
	uint32_t off = (uint32_t)b->arena_used;
	memcpy(b->arena + off, text, n);
	b->arena[off + n] = 0;
	b->arena_used += n + 1;
	return off;
}

/* A text of the arena, STORE_NO_TEXT for NULL or "". */
static uint32_t arena_text(store_batch *b, const char *text, size_t max)
{
	size_t n = text ? strnlen(text, max) : 0;
	return n ? arena_add(b, text, n) : STORE_NO_TEXT;
}

void store__batch_reset(store_batch *b)
{
	b->rows = 0;
	b->bytes = 0;
	b->have_proc = 0;
	b->strings.n = b->stacks.n = b->tasks.n = b->finals.n = b->res.n = 0;
	b->iv.n = b->own.n = b->ev.n = b->sql.n = 0;
	b->arena_used = 0;
}

void store__batch_free(store_batch *b)
{
	store_vec *v[] = {&b->strings, &b->stacks, &b->tasks, &b->finals, &b->res,
	                  &b->iv,      &b->own,    &b->ev,    &b->sql};
	for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++)
		free(v[i]->p);
	free(b->arena);
	free(b);
}

size_t store__bulk_bytes(const store_batch *b)
{
	return b->iv.n * sizeof(store_span_row) + b->own.n * sizeof(model_own) +
	       b->ev.n * sizeof(model_event);
}

size_t store__batch_bytes(const store_batch *b)
{
	return sizeof(*b) + store__bulk_bytes(b) + b->strings.n * sizeof(store_str_row) +
	       b->stacks.n * sizeof(store_stack_row) + b->tasks.n * sizeof(store_task_row) +
	       b->finals.n * sizeof(store_final_row) + b->res.n * sizeof(store_res_row) +
	       b->arena_used;
}

/* ---- rows -------------------------------------------------------------------- */

/* One more row in s->cur: hands it off when full. */
static inline void row_added(store *s)
{
	if (++s->cur->rows >= STORE_BATCH_ROWS)
		store__hand_off(s);
}

void store_process(store *s, const store_proc *p)
{
	store_batch *b = s->cur;

	b->proc = *p;
	if (!b->have_proc) {
		b->have_proc = 1;
		row_added(s);
	}
}

void store_sql(store *s, const char *sql)
{
	if (!sql || !*sql)
		return;
	uint32_t *off = vec_push(&s->cur->sql, sizeof(*off));
	*off = arena_add(s->cur, sql, strlen(sql));
	row_added(s);
}

void store_string(store *s, uint32_t id, const char *text)
{
	if (!text)
		return;
	store_str_row *r = vec_push(&s->cur->strings, sizeof(*r));
	r->id = id;
	r->text = arena_add(s->cur, text, strlen(text));
	row_added(s);
}

void store_stack(store *s, uint32_t id, const tsk_seg_stack *st)
{
	if (!st)
		return;
	store_stack_row *r = vec_push(&s->cur->stacks, sizeof(*r));
	r->id = id;
	/* the segment is untrusted: at most the frames the entry has */
	r->nframes = st->nframes < TSK_SEG_STACK_DEPTH ? st->nframes : TSK_SEG_STACK_DEPTH;
	memcpy(r->frames, st->frames, r->nframes * sizeof(r->frames[0]));
	row_added(s);
}

/* The state a task row shows: done once it ended. */
static uint8_t task_state(const model_task *t)
{
	if (t->ended_ns != -1 && t->ended_ns != INT64_MIN)
		return MS_DONE;
	return t->cur.state;
}

void store_task(store *s, const model_task *t, const char *location, const char *function)
{
	store_batch *b = s->cur;
	store_task_row *r = vec_push(&b->tasks, sizeof(*r));

	r->id = t->id;
	r->parent = t->parent;
	r->spawned_ns = t->spawned_ns;
	r->ended_ns = t->ended_ns;
	r->flags = t->flags;
	r->state = task_state(t);
	r->name = arena_text(b, t->name, sizeof(t->name));
	r->location = arena_text(b, location, TSK_SEG_STR_MAX);
	r->function = arena_text(b, function, TSK_SEG_STR_MAX);
	row_added(s);
}

void store_task_final(store *s, const model_task *t)
{
	if (t->ended_ns >= 0)
		store__spans_task_done(s, t->id); /* its last span is complete */
	store_final_row *r = vec_push(&s->cur->finals, sizeof(*r));

	r->id = t->id;
	r->parent = t->parent;
	r->spawned_ns = t->spawned_ns;
	r->ended_ns = t->ended_ns;
	r->flags = t->flags;
	r->state = task_state(t);
	memcpy(r->name, t->name, sizeof(r->name));
	r->polls = t->polls;
	r->busy_ns = t->busy_ns;
	r->sched_ns = t->sched_ns;
	r->idle_ns = t->idle_ns;
	r->wakes = t->wakes;
	r->self_wakes = t->self_wakes;
	r->max_run_ns = t->run.max_ns;
	r->max_wait_ns = t->wait.max_ns;
	r->max_wait_at_ns = t->max_wait_at_ns;
	for (int b = 0; b < MODEL_HIST_BUCKETS; b++) {
		r->run[b] = t->run.count[b];
		r->wait[b] = t->wait.count[b];
	}
	row_added(s);
}

void store_res(store *s, const model_res *res, const char *location)
{
	store_batch *b = s->cur;
	store_res_row *r = vec_push(&b->res, sizeof(*r));

	r->id = res->id;
	r->kind = res->kind;
	memcpy(r->name, res->name, sizeof(r->name));
	r->location = arena_text(b, location, TSK_SEG_STR_MAX);
	r->created_ns = res->created_ns;
	r->freed_ns = res->freed_ns;
	r->capacity = res->capacity;
	r->sends = res->sends;
	r->recvs = res->recvs;
	r->acquires = res->acquires;
	r->max_value = res->max_value;
	row_added(s);
}

/* A row without its NOT NULL time cannot be written: counted as dropped
 * rather than failing the whole transaction. */
static void drop_row(store *s)
{
	pthread_mutex_lock(&s->mu);
	s->stats.dropped++;
	pthread_mutex_unlock(&s->mu);
}

/* ---- spans: intervals coalesced ------------------------------------------------- */

static void span_push(store *s, const store_span_row *sp)
{
	*(store_span_row *)vec_push(&s->cur->iv, sizeof(*sp)) = *sp;
	row_added(s);
}

static void span_start(store_span_row *sp, const model_interval *iv)
{
	memset(sp, 0, sizeof(*sp));
	sp->task = iv->task;
	sp->start_ns = iv->start_ns;
	sp->run_ns = INT64_MIN;
	sp->stop_ns = INT64_MIN;
	sp->end_ns = iv->end_ns;
	sp->deadline_ns = -1;
	sp->label = iv->label;
	sp->state0 = iv->state;
	sp->worker = 0xffff;
}

/* Adds the part iv to sp (whose parts end where iv starts). */
static void span_add(store_span_row *sp, const model_interval *iv)
{
	switch (iv->state) {
	case MS_UNKNOWN:
	case MS_READY:
		sp->waker = iv->obj;
		sp->how = iv->how;
		break;
	case MS_RUNNING:
		sp->run_ns = iv->start_ns;
		sp->worker = iv->worker;
		break;
	case MS_BLOCKED:
		sp->stop_ns = iv->start_ns;
		sp->wait = iv->wait_kind;
		sp->resource = iv->obj;
		sp->site = iv->site;
		sp->stack = iv->stack;
		sp->deadline_ns = iv->deadline_ns;
		break;
	}
	sp->end_ns = iv->end_ns;
}

/* Whether iv continues sp: it starts where sp ends, with the same label,
 * and its state comes later in the order ready, running, blocked than
 * every part sp has. */
static int span_takes(const store_span_row *sp, const model_interval *iv)
{
	if (sp->end_ns < 0 || iv->start_ns != sp->end_ns || iv->label != sp->label)
		return 0;
	if (iv->state == MS_RUNNING)
		return sp->run_ns == INT64_MIN && sp->stop_ns == INT64_MIN &&
		       sp->state0 <= MS_READY;
	if (iv->state == MS_BLOCKED)
		return sp->stop_ns == INT64_MIN;
	return 0;
}

void store_interval(store *s, const model_interval *iv)
{
	if (iv->start_ns == INT64_MIN) {
		drop_row(s);
		return;
	}
	if (iv->end_ns > s->newest_iv_ns)
		s->newest_iv_ns = iv->end_ns;
	if (!iv->task) {
		/* no task id (a corrupt record): a row of its own, nothing to join */
		store_span_row one;
		span_start(&one, iv);
		span_add(&one, iv);
		span_push(s, &one);
		return;
	}
	store_span_row *sp = idmap_get(&s->spans, iv->task);
	if (sp && span_takes(sp, iv)) {
		span_add(sp, iv);
	} else {
		if (sp)
			span_push(s, sp);
		else
			idmap_put(&s->spans, iv->task, sp = xmalloc(sizeof(*sp)));
		span_start(sp, iv);
		span_add(sp, iv);
	}
	/* a blocked part or an open interval completes the span: nothing
	 * comes after either in the same row */
	if (iv->state == MS_BLOCKED || iv->end_ns < 0) {
		span_push(s, sp);
		free(idmap_del(&s->spans, iv->task));
	}
}

typedef struct span_flush_ctx {
	store *s;
	int64_t before; /* flush the spans that started before this; INT64_MAX: all */
	uint64_t *ids;
	size_t n, cap;
} span_flush_ctx;

static void span_collect(void *ctx, uint64_t id, void *val)
{
	span_flush_ctx *f = ctx;
	const store_span_row *sp = val;
	if (sp->start_ns >= f->before)
		return;
	if (f->n == f->cap) {
		f->cap = f->cap ? f->cap * 2 : 256;
		f->ids = xrealloc(f->ids, f->cap * sizeof(*f->ids));
	}
	f->ids[f->n++] = id;
}

void store__spans_flush(store *s, int64_t before)
{
	span_flush_ctx f = {s, before, NULL, 0, 0};
	idmap_each(&s->spans, span_collect, &f);
	for (size_t i = 0; i < f.n; i++) {
		store_span_row *sp = idmap_del(&s->spans, f.ids[i]);
		span_push(s, sp);
		free(sp);
	}
	free(f.ids);
}

void store__spans_task_done(store *s, uint64_t task)
{
	store_span_row *sp = idmap_del(&s->spans, task);
	if (sp) {
		span_push(s, sp);
		free(sp);
	}
}

void store_own(store *s, const model_own *o)
{
	*(model_own *)vec_push(&s->cur->own, sizeof(*o)) = *o;
	row_added(s);
}

void store_event(store *s, const model_event *e)
{
	if (e->ns == INT64_MIN) {
		drop_row(s);
		return;
	}
	*(model_event *)vec_push(&s->cur->ev, sizeof(*e)) = *e;
	row_added(s);
}
