/*
 * store_write.c - the SQL side of the history store: the prepared
 * statements and the writing of queued batches, one transaction at a time
 * (store_int.h).  Runs on the store's writer thread only.
 *
 * Tuned for the bulk tables (intervals, ownership, events), which are
 * written with multi-row INSERTs of bound parameters: one sqlite3_step per
 * STORE_MULTI_ROWS rows instead of per row, about 2.5x the single-row rate
 * for these 5-12 small integer columns.  Everything else (tasks,
 * resources, strings, stacks, histograms) is a small fraction of the rows
 * and goes one row at a time, as upserts or INSERT OR IGNORE, so that a
 * row seen twice (a seed, then the final row) merges instead of failing.
 *
 * The mapping of the model's sentinels to NULL is here and only here:
 * INT64_MIN "unknown" and -1 "still open / none" times, 0 "none" ids, and
 * the columns a state does not use (docs/SCHEMA.md, table intervals).
 *
 * Order inside a batch: process, strings, stacks, task inserts, task
 * finals, resources, then the bulk tables.  Task inserts and finals
 * commute (an insert never overwrites what a final set, a final never
 * clears what an insert set), so grouping them by kind is safe.
 */
#include <stdio.h>
#include <string.h>

#include "model.h"
#include "store_int.h"
#include "taskscope.h"

#define STR_(x)  #x
#define STR(x)   STR_(x)
#define RECORDER "taskscope " STR(TSK_VERSION_MAJOR) "." STR(TSK_VERSION_MINOR)

/* ---- names of the codes -------------------------------------------------- */

const char *store__ev_name(unsigned type, char *buf, size_t cap)
{
	static const char *const names[] = {
	        [TSK_EV_SPAWN] = "spawn",       [TSK_EV_RUN] = "run",
	        [TSK_EV_BLOCK] = "block",       [TSK_EV_WAKE] = "wake",
	        [TSK_EV_YIELD] = "yield",       [TSK_EV_EXIT] = "exit",
	        [TSK_EV_CANCEL] = "cancel",     [TSK_EV_LABEL] = "label",
	        [TSK_EV_JOINED] = "joined",     [TSK_EV_RES_NEW] = "res_new",
	        [TSK_EV_RES_FREE] = "res_free", [TSK_EV_ACQUIRE] = "acquire",
	        [TSK_EV_RELEASE] = "release",   [TSK_EV_SEND] = "send",
	        [TSK_EV_RECV] = "recv",         [TSK_EV_CLOSE] = "close",
	        [TSK_EV_SIGNAL] = "signal",     [TSK_EV_WG_ADD] = "wg_add",
	        [TSK_EV_PARK] = "park",         [TSK_EV_UNPARK] = "unpark",
	        [TSK_EV_STEAL] = "steal",       [TSK_EV_CALIB] = "calib",
	        [TSK_EV_LOST] = "lost",         [TSK_EV_RUNTIME] = "runtime",
	};
	if (type < sizeof(names) / sizeof(names[0]) && names[type])
		return names[type];
	snprintf(buf, cap, "type%u", type);
	return buf;
}

const char *store__res_kind_name(unsigned kind, char *buf, size_t cap)
{
	static const char *const names[] = {
	        [TSK_RES_CHAN] = "channel",  [TSK_RES_MUTEX] = "mutex",
	        [TSK_RES_RWLOCK] = "rwlock", [TSK_RES_SEM] = "semaphore",
	        [TSK_RES_WG] = "waitgroup",  [TSK_RES_COND] = "condvar",
	};
	if (kind < sizeof(names) / sizeof(names[0]) && names[kind])
		return names[kind];
	snprintf(buf, cap, "kind%u", kind);
	return buf;
}

const char *store__state_name(unsigned state)
{
	static const char *const names[] = {"unknown", "ready", "running", "blocked", "done"};
	return state < 5 ? names[state] : "unknown";
}

/* ---- statements ------------------------------------------------------------ */

void store__write_fail(store_writer *w, const char *what)
{
	if (!w->err[0])
		snprintf(w->err, sizeof(w->err), "%s: %s: %s", w->path, what,
		         sqlite3_errmsg(w->db));
}

static int prepare(store_writer *w, sqlite3_stmt **st, const char *sql)
{
	if (sqlite3_prepare_v3(w->db, sql, -1, SQLITE_PREPARE_PERSISTENT, st, NULL) != SQLITE_OK) {
		store__write_fail(w, "preparing a statement");
		return -1;
	}
	return 0;
}

/* "INSERT INTO head VALUES (?,..,?),(...)" for rows rows of ncols. */
static int prepare_multi(store_writer *w, sqlite3_stmt **st, const char *head, int ncols, int rows)
{
	size_t cap = strlen(head) + (size_t)rows * ((size_t)ncols * 2 + 3) + 16;
	char *sql = sqlite3_malloc64(cap), *p;
	if (!sql) {
		snprintf(w->err, sizeof(w->err), "%s: out of memory", w->path);
		return -1;
	}
	p = sql + sprintf(sql, "%s VALUES ", head);
	for (int r = 0; r < rows; r++) {
		*p++ = r ? ',' : ' ';
		*p++ = '(';
		for (int c = 0; c < ncols; c++) {
			if (c)
				*p++ = ',';
			*p++ = '?';
		}
		*p++ = ')';
	}
	*p = 0;
	int rc = prepare(w, st, sql);
	sqlite3_free(sql);
	return rc;
}

static int prepare_table(store_writer *w, store_multi *m, const char *head, int ncols)
{
	m->ncols = ncols;
	if (prepare_multi(w, &m->big, head, ncols, STORE_MULTI_ROWS) < 0 ||
	    prepare_multi(w, &m->tail, head, ncols, STORE_TAIL_ROWS) < 0 ||
	    prepare_multi(w, &m->one, head, ncols, 1) < 0)
		return -1;
	return 0;
}

int store__write_prepare(store_writer *w)
{
	if (prepare_table(w, &w->iv,
	                  "INSERT INTO spans(task,state0,start_ns,run_ns,stop_ns,end_ns,worker,"
	                  "waker,how,wait,resource,site,stack,deadline_ns,label)",
	                  15) < 0 ||
	    prepare_table(w, &w->own, "INSERT INTO ownership(resource,task,shared,start_ns,end_ns)",
	                  5) < 0 ||
	    prepare_table(w, &w->ev, "INSERT INTO events(ns,type,task,obj,arg)", 5) < 0)
		return -1;
	if (prepare(w, &w->str, "INSERT OR IGNORE INTO strings(id,text) VALUES (?,?)") < 0 ||
	    prepare(w, &w->stack, "INSERT OR IGNORE INTO stacks(id,nframes) VALUES (?,?)") < 0 ||
	    prepare(w, &w->frame,
	            "INSERT OR IGNORE INTO frames(stack,depth,pc,symbol) VALUES (?,?,?,?)") < 0 ||
	    prepare(w, &w->hist,
	            "INSERT OR REPLACE INTO histograms(task,kind,bucket,count) VALUES (?,?,?,?)") <
	            0)
		return -1;
	/* a first sight fills what is missing, never overwrites */
	if (prepare(w, &w->task,
	            "INSERT INTO tasks(id,name,parent_id,location,function,spawned_ns,ended_ns,"
	            "flags,state) VALUES (?,?,?,?,?,?,?,?,?) ON CONFLICT(id) DO UPDATE SET"
	            " name=coalesce(name,excluded.name),"
	            " parent_id=coalesce(parent_id,excluded.parent_id),"
	            " location=coalesce(location,excluded.location),"
	            " function=coalesce(function,excluded.function),"
	            " spawned_ns=coalesce(spawned_ns,excluded.spawned_ns),"
	            " flags=flags|excluded.flags") < 0)
		return -1;
	/* the final row sets the counters and the end, keeps where it came from */
	if (prepare(w, &w->final,
	            "INSERT INTO tasks(id,name,parent_id,spawned_ns,ended_ns,flags,state,polls,"
	            "busy_ns,sched_ns,idle_ns,wakes,self_wakes,max_run_ns,max_wait_ns,"
	            "max_wait_at_ns) VALUES"
	            " (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?) ON CONFLICT(id) DO UPDATE SET"
	            " name=coalesce(excluded.name,name),"
	            " parent_id=coalesce(excluded.parent_id,parent_id),"
	            " spawned_ns=coalesce(excluded.spawned_ns,spawned_ns),"
	            " ended_ns=excluded.ended_ns, flags=flags|excluded.flags,"
	            " state=excluded.state, polls=excluded.polls, busy_ns=excluded.busy_ns,"
	            " sched_ns=excluded.sched_ns, idle_ns=excluded.idle_ns,"
	            " wakes=excluded.wakes, self_wakes=excluded.self_wakes,"
	            " max_run_ns=excluded.max_run_ns, max_wait_ns=excluded.max_wait_ns,"
	            " max_wait_at_ns=excluded.max_wait_at_ns") < 0)
		return -1;
	if (prepare(w, &w->res,
	            "INSERT INTO resources(id,kind,name,location,created_ns,freed_ns,capacity,"
	            "sends,recvs,acquires,max_len) VALUES (?,?,?,?,?,?,?,?,?,?,?)"
	            " ON CONFLICT(id) DO UPDATE SET kind=excluded.kind,"
	            " name=coalesce(excluded.name,name),"
	            " location=coalesce(excluded.location,location),"
	            " created_ns=coalesce(excluded.created_ns,created_ns),"
	            " freed_ns=coalesce(excluded.freed_ns,freed_ns),"
	            " capacity=coalesce(excluded.capacity,capacity),"
	            " sends=max(sends,excluded.sends), recvs=max(recvs,excluded.recvs),"
	            " acquires=max(acquires,excluded.acquires),"
	            " max_len=max(max_len,excluded.max_len)") < 0)
		return -1;
	if (prepare(w, &w->proc,
	            "INSERT OR REPLACE INTO process(id,pid,name,start_ticks,created_realtime_ns,"
	            "created_mono_ns,segment,source,workers,first_ns,last_ns,events,lost,"
	            "overwritten,complete,recorder) VALUES"
	            " (1,?,?,?,?,?,?,?,?,?,?,?,?,?,0,'" RECORDER "')") < 0)
		return -1;
	if (prepare(w, &w->begin, "BEGIN IMMEDIATE") < 0 || prepare(w, &w->commit, "COMMIT") < 0 ||
	    prepare(w, &w->rollback, "ROLLBACK") < 0)
		return -1;
	return 0;
}

void store__write_finalize(store_writer *w)
{
	sqlite3_stmt **all[] = {
	        &w->iv.big,  &w->iv.tail, &w->iv.one,  &w->own.big, &w->own.tail,
	        &w->own.one, &w->ev.big,  &w->ev.tail, &w->ev.one,  &w->str,
	        &w->stack,   &w->frame,   &w->task,    &w->final,   &w->hist,
	        &w->res,     &w->proc,    &w->begin,   &w->commit,  &w->rollback,
	};
	for (size_t i = 0; i < sizeof(all) / sizeof(all[0]); i++) {
		sqlite3_finalize(*all[i]);
		*all[i] = NULL;
	}
}

/* ---- binding ------------------------------------------------------------------ */

/* Bind errors can only be SQLITE_RANGE or SQLITE_MISUSE (a bug here, which
 * the step reports anyway), so their codes are not checked one by one. */

static void bind_int(sqlite3_stmt *st, int i, int64_t v)
{
	sqlite3_bind_int64(st, i, v);
}

/* v, or NULL when !present. */
static void bind_opt(sqlite3_stmt *st, int i, int present, int64_t v)
{
	if (present)
		sqlite3_bind_int64(st, i, v);
	else
		sqlite3_bind_null(st, i);
}

/* A time: INT64_MIN (unknown) and -1 (open, none) are NULL. */
static void bind_time(sqlite3_stmt *st, int i, int64_t ns)
{
	bind_opt(st, i, ns != INT64_MIN && ns != -1, ns);
}

/* A text of the arena, NULL for STORE_NO_TEXT. */
static void bind_arena(sqlite3_stmt *st, int i, const store_batch *b, uint32_t off)
{
	if (off == STORE_NO_TEXT)
		sqlite3_bind_null(st, i);
	else
		sqlite3_bind_text(st, i, b->arena + off, -1, SQLITE_STATIC);
}

/* A fixed-size name: NULL when empty. */
static void bind_name(sqlite3_stmt *st, int i, const char *name, size_t cap)
{
	size_t n = strnlen(name, cap);
	if (n)
		sqlite3_bind_text(st, i, name, (int)n, SQLITE_TRANSIENT);
	else
		sqlite3_bind_null(st, i);
}

static void bind_span(sqlite3_stmt *st, int i, const void *row)
{
	const store_span_row *sp = row;
	int ready = sp->state0 <= MS_READY, blocked = sp->stop_ns != INT64_MIN;

	bind_int(st, i, (int64_t)sp->task);
	bind_int(st, i + 1, sp->state0);
	bind_int(st, i + 2, sp->start_ns);
	bind_opt(st, i + 3, sp->run_ns != INT64_MIN, sp->run_ns);
	bind_opt(st, i + 4, blocked, sp->stop_ns);
	bind_time(st, i + 5, sp->end_ns);
	bind_opt(st, i + 6, sp->run_ns != INT64_MIN && sp->worker != 0xffff, sp->worker);
	bind_opt(st, i + 7, ready && sp->waker, (int64_t)sp->waker);
	bind_opt(st, i + 8, ready && sp->state0 == MS_READY, sp->how);
	bind_opt(st, i + 9, blocked && sp->wait, sp->wait);
	bind_opt(st, i + 10, blocked && sp->resource, (int64_t)sp->resource);
	bind_opt(st, i + 11, blocked && sp->site, sp->site);
	bind_opt(st, i + 12, blocked && sp->stack, sp->stack);
	bind_opt(st, i + 13, blocked && sp->deadline_ns != -1 && sp->deadline_ns != INT64_MIN,
	         sp->deadline_ns);
	bind_opt(st, i + 14, sp->label != 0, sp->label);
}

static void bind_own(sqlite3_stmt *st, int i, const void *row)
{
	const model_own *o = row;

	bind_int(st, i, (int64_t)o->resource);
	bind_int(st, i + 1, (int64_t)o->task);
	bind_int(st, i + 2, o->shared != 0);
	bind_time(st, i + 3, o->start_ns);
	bind_time(st, i + 4, o->end_ns);
}

static void bind_ev(sqlite3_stmt *st, int i, const void *row)
{
	const model_event *e = row;
	char buf[16];
	const char *name = store__ev_name(e->type, buf, sizeof(buf));

	bind_int(st, i, e->ns);
	sqlite3_bind_text(st, i + 1, name, -1, name == buf ? SQLITE_TRANSIENT : SQLITE_STATIC);
	bind_opt(st, i + 2, e->task != 0, (int64_t)e->task);
	bind_int(st, i + 3, (int64_t)e->obj);
	bind_int(st, i + 4, (int64_t)e->arg);
}

/* ---- writing -------------------------------------------------------------------- */

/* Runs a bound statement to completion and resets it.  Returns 0 or -1
 * with the message in w->err. */
static int step(store_writer *w, sqlite3_stmt *st, const char *what)
{
	int rc = sqlite3_step(st);
	if (rc != SQLITE_DONE)
		store__write_fail(w, what);
	sqlite3_reset(st);
	return rc == SQLITE_DONE ? 0 : -1;
}

static int write_multi(store_writer *w, const store_multi *m, const store_vec *v, size_t size,
                       void (*bind)(sqlite3_stmt *, int, const void *), const char *what)
{
	const char *rows = v->p;
	size_t i = 0;

	while (i < v->n) {
		sqlite3_stmt *st = m->one;
		size_t k = 1;
		if (v->n - i >= STORE_MULTI_ROWS) {
			st = m->big;
			k = STORE_MULTI_ROWS;
		} else if (v->n - i >= STORE_TAIL_ROWS) {
			st = m->tail;
			k = STORE_TAIL_ROWS;
		}
		for (size_t j = 0; j < k; j++)
			bind(st, (int)j * m->ncols + 1, rows + (i + j) * size);
		if (step(w, st, what) < 0)
			return -1;
		i += k;
	}
	return 0;
}

static int write_proc(store_writer *w, const store_proc *p)
{
	sqlite3_stmt *st = w->proc;

	bind_int(st, 1, p->pid);
	sqlite3_bind_text(st, 2, p->name, (int)strnlen(p->name, sizeof(p->name)), SQLITE_TRANSIENT);
	bind_int(st, 3, (int64_t)p->start_ticks);
	bind_int(st, 4, p->created_realtime_ns);
	bind_int(st, 5, p->created_mono_ns);
	bind_name(st, 6, p->segment, sizeof(p->segment));
	sqlite3_bind_text(st, 7, p->source ? p->source : "unknown", -1, SQLITE_STATIC);
	bind_int(st, 8, p->workers);
	bind_opt(st, 9, p->first_ns != INT64_MIN, p->first_ns);
	bind_opt(st, 10, p->last_ns != INT64_MIN, p->last_ns);
	bind_int(st, 11, (int64_t)p->events);
	bind_int(st, 12, (int64_t)p->lost);
	bind_int(st, 13, (int64_t)p->overwritten);
	return step(w, st, "writing the process row");
}

static int write_stack(store_writer *w, const store_stack_row *r)
{
	bind_int(w->stack, 1, r->id);
	bind_int(w->stack, 2, r->nframes);
	if (step(w, w->stack, "writing a stack") < 0)
		return -1;
	for (uint32_t d = 0; d < r->nframes; d++) {
		bind_int(w->frame, 1, r->id);
		bind_int(w->frame, 2, d);
		bind_int(w->frame, 3, (int64_t)r->frames[d].pc);
		bind_opt(w->frame, 4, r->frames[d].sym != 0, r->frames[d].sym);
		if (step(w, w->frame, "writing a frame") < 0)
			return -1;
	}
	return 0;
}

static int write_task(store_writer *w, const store_batch *b, const store_task_row *r)
{
	sqlite3_stmt *st = w->task;

	bind_int(st, 1, (int64_t)r->id);
	bind_arena(st, 2, b, r->name);
	bind_opt(st, 3, r->parent != 0, (int64_t)r->parent);
	bind_arena(st, 4, b, r->location);
	bind_arena(st, 5, b, r->function);
	bind_time(st, 6, r->spawned_ns);
	bind_time(st, 7, r->ended_ns);
	bind_int(st, 8, r->flags);
	sqlite3_bind_text(st, 9, store__state_name(r->state), -1, SQLITE_STATIC);
	return step(w, st, "writing a task");
}

static int write_hist(store_writer *w, uint64_t task, const char *kind, const uint64_t *count)
{
	for (int b = 0; b < MODEL_HIST_BUCKETS; b++) {
		if (!count[b])
			continue;
		bind_int(w->hist, 1, (int64_t)task);
		sqlite3_bind_text(w->hist, 2, kind, -1, SQLITE_STATIC);
		bind_int(w->hist, 3, b);
		bind_int(w->hist, 4, (int64_t)count[b]);
		if (step(w, w->hist, "writing a histogram") < 0)
			return -1;
	}
	return 0;
}

static int write_final(store_writer *w, const store_final_row *r)
{
	sqlite3_stmt *st = w->final;
	const uint64_t counters[] = {r->polls, r->busy_ns,    r->sched_ns,   r->idle_ns,
	                             r->wakes, r->self_wakes, r->max_run_ns, r->max_wait_ns};

	bind_int(st, 1, (int64_t)r->id);
	bind_name(st, 2, r->name, sizeof(r->name));
	bind_opt(st, 3, r->parent != 0, (int64_t)r->parent);
	bind_time(st, 4, r->spawned_ns);
	bind_time(st, 5, r->ended_ns);
	bind_int(st, 6, r->flags);
	sqlite3_bind_text(st, 7, store__state_name(r->state), -1, SQLITE_STATIC);
	for (int i = 0; i < 8; i++)
		bind_int(st, 8 + i, (int64_t)counters[i]);
	bind_opt(st, 16, r->max_wait_at_ns >= 0 && r->max_wait_ns > 0, r->max_wait_at_ns);
	if (step(w, st, "writing a task's final row") < 0)
		return -1;
	if (write_hist(w, r->id, "run", r->run) < 0 || write_hist(w, r->id, "wait", r->wait) < 0)
		return -1;
	return 0;
}

static int write_res(store_writer *w, const store_batch *b, const store_res_row *r)
{
	sqlite3_stmt *st = w->res;
	char buf[16];
	const char *kind = store__res_kind_name(r->kind, buf, sizeof(buf));
	/* a capacity means something for channels (UINT64_MAX: unbounded) and
	 * semaphores (the initial units) only */
	int has_cap =
	        (r->kind == TSK_RES_CHAN && r->capacity != UINT64_MAX) || r->kind == TSK_RES_SEM;

	bind_int(st, 1, (int64_t)r->id);
	sqlite3_bind_text(st, 2, kind, -1, SQLITE_TRANSIENT);
	bind_name(st, 3, r->name, sizeof(r->name));
	bind_arena(st, 4, b, r->location);
	bind_time(st, 5, r->created_ns);
	bind_time(st, 6, r->freed_ns);
	bind_opt(st, 7, has_cap, (int64_t)r->capacity);
	bind_int(st, 8, (int64_t)r->sends);
	bind_int(st, 9, (int64_t)r->recvs);
	bind_int(st, 10, (int64_t)r->acquires);
	bind_int(st, 11, (int64_t)r->max_value);
	return step(w, st, "writing a resource");
}

/* The newest end time of the batch's bulk rows, for max_age. */
static int64_t newest_of(const store_batch *b, int64_t newest)
{
	const store_span_row *iv = b->iv.p;
	const model_own *o = b->own.p;
	const model_event *e = b->ev.p;

	for (size_t i = 0; i < b->iv.n; i++)
		if (iv[i].end_ns > newest)
			newest = iv[i].end_ns;
	for (size_t i = 0; i < b->own.n; i++)
		if (o[i].end_ns > newest)
			newest = o[i].end_ns;
	for (size_t i = 0; i < b->ev.n; i++)
		if (e[i].ns > newest)
			newest = e[i].ns;
	return newest;
}

static int write_batch(store_writer *w, const store_batch *b)
{
	const store_str_row *str = b->strings.p;
	const store_stack_row *stk = b->stacks.p;
	const store_task_row *task = b->tasks.p;
	const store_final_row *fin = b->finals.p;
	const store_res_row *res = b->res.p;

	if (b->have_proc && write_proc(w, &b->proc) < 0)
		return -1;
	for (size_t i = 0; i < b->strings.n; i++) {
		bind_int(w->str, 1, str[i].id);
		sqlite3_bind_text(w->str, 2, b->arena + str[i].text, -1, SQLITE_STATIC);
		if (step(w, w->str, "writing a string") < 0)
			return -1;
	}
	for (size_t i = 0; i < b->stacks.n; i++)
		if (write_stack(w, &stk[i]) < 0)
			return -1;
	for (size_t i = 0; i < b->tasks.n; i++)
		if (write_task(w, b, &task[i]) < 0)
			return -1;
	for (size_t i = 0; i < b->finals.n; i++)
		if (write_final(w, &fin[i]) < 0)
			return -1;
	for (size_t i = 0; i < b->res.n; i++)
		if (write_res(w, b, &res[i]) < 0)
			return -1;
	if (write_multi(w, &w->iv, &b->iv, sizeof(store_span_row), bind_span, "writing spans") <
	            0 ||
	    write_multi(w, &w->own, &b->own, sizeof(model_own), bind_own, "writing ownership") <
	            0 ||
	    write_multi(w, &w->ev, &b->ev, sizeof(model_event), bind_ev, "writing events") < 0)
		return -1;
	const uint32_t *sql = b->sql.p;
	for (size_t i = 0; i < b->sql.n; i++) {
		if (sqlite3_exec(w->db, b->arena + sql[i], NULL, NULL, NULL) != SQLITE_OK) {
			store__write_fail(w, "writing a verdict or a warning");
			return -1;
		}
	}
	return 0;
}

int store__write_txn(store_writer *w, store_batch *list, int max)
{
	int64_t newest = w->newest_ns;
	store_batch *b = list;

	if (step(w, w->begin, "starting a transaction") < 0)
		return -1;
	for (int i = 0; b && i < max; b = b->next, i++) {
		if (write_batch(w, b) < 0)
			goto fail;
		newest = newest_of(b, newest);
	}
	if (step(w, w->commit, "committing") < 0)
		goto fail;
	w->newest_ns = newest;
	return 0;
fail:
	/* an I/O or full-disk error may have rolled back already */
	if (!sqlite3_get_autocommit(w->db)) {
		sqlite3_step(w->rollback);
		sqlite3_reset(w->rollback);
	}
	return -1;
}
