/*
 * report_json.c - `taskscope report --json`: the report as one JSON
 * object, in the shape SPEC §5 fixes (process, tasks, deadlocks,
 * warnings) plus the blocked tasks and the rankings.  The --help page
 * lists every key; scripts rely on them, so a key is never renamed, only
 * added.
 *
 * Integers the history does not know are null, never 0 or -1: a consumer
 * can tell "no deadline" from "deadline at 0".
 */
#include "json.h"
#include "report.h"

static void put_int(json_w *w, const char *key, int64_t v)
{
	json_key(w, key);
	if (v == REPORT_NONE)
		json_null(w);
	else
		json_int(w, v);
}

static void put_str(json_w *w, const char *key, const char *s)
{
	json_key(w, key);
	json_string(w, s);
}

static void put_wait(json_w *w, const char *key, const report_wait *on)
{
	json_key(w, key);
	json_begin_object(w);
	put_str(w, "kind", on->kind);
	put_str(w, "op", on->op);
	put_str(w, "name", on->name);
	put_int(w, "id", on->id);
	json_end_object(w);
}

static void put_task(json_w *w, const report_task *t)
{
	json_begin_object(w);
	put_int(w, "id", t->id);
	put_str(w, "name", t->name);
	put_str(w, "location", t->location);
	put_str(w, "function", t->function);
	put_str(w, "label", t->label);
	put_wait(w, "waits_on", &t->on);
	put_int(w, "since_ns", t->since_ns);
	put_int(w, "blocked_ns", t->blocked_ns);
	put_int(w, "deadline_ns", t->deadline_ns);
	json_key(w, "blocked_by");
	json_begin_array(w);
	for (size_t i = 0; i < t->nblocked_by; i++)
		json_int(w, t->blocked_by[i]);
	json_end_array(w);
	json_key(w, "stack");
	json_begin_array(w);
	for (size_t i = 0; i < t->nstack; i++)
		json_string(w, t->stack[i]);
	json_end_array(w);
	json_end_object(w);
}

static void put_process(json_w *w, const report *r)
{
	json_key(w, "process");
	json_begin_object(w);
	put_int(w, "pid", r->process.pid);
	put_str(w, "name", r->process.name);
	put_str(w, "source", r->process.source);
	put_str(w, "segment", r->process.segment);
	put_str(w, "recorder", r->process.recorder);
	json_key(w, "complete");
	json_bool(w, r->process.complete);
	put_int(w, "workers", r->process.workers);
	put_int(w, "events", r->process.events);
	put_int(w, "lost", r->process.lost);
	put_int(w, "overwritten", r->process.overwritten);
	put_int(w, "first_ns", r->process.first_ns);
	put_int(w, "last_ns", r->process.last_ns);
	put_int(w, "created_realtime_ns", r->process.created_realtime_ns);
	json_end_object(w);

	json_key(w, "tasks");
	json_begin_object(w);
	put_int(w, "total", r->tasks.total);
	put_int(w, "running", r->tasks.running);
	put_int(w, "ready", r->tasks.ready);
	put_int(w, "blocked", r->tasks.blocked);
	put_int(w, "done", r->tasks.done);
	put_int(w, "unknown", r->tasks.unknown);
	json_end_object(w);
}

static void put_problems(json_w *w, const report *r)
{
	json_key(w, "deadlocks");
	json_begin_array(w);
	for (size_t i = 0; i < r->ndeadlocks; i++) {
		const report_deadlock *d = &r->deadlocks[i];
		json_begin_object(w);
		put_int(w, "id", d->id);
		put_str(w, "verdict", d->verdict);
		put_str(w, "kind", d->kind);
		put_str(w, "text", d->text);
		put_int(w, "closed_ns", d->closed_ns);
		put_int(w, "found_ns", d->found_ns);
		json_key(w, "behind");
		json_begin_array(w);
		for (size_t j = 0; j < d->nbehind; j++)
			json_int(w, d->behind[j]);
		json_end_array(w);
		json_key(w, "tasks");
		json_begin_array(w);
		for (size_t j = 0; j < d->ntasks; j++)
			put_task(w, &d->tasks[j]);
		json_end_array(w);
		json_end_object(w);
	}
	json_end_array(w);

	json_key(w, "warnings");
	json_begin_array(w);
	for (size_t i = 0; i < r->nwarnings; i++) {
		const report_warning *x = &r->warnings[i];
		json_begin_object(w);
		put_str(w, "kind", x->kind);
		put_int(w, "task", x->task);
		put_str(w, "name", x->name);
		put_str(w, "detail", x->detail);
		put_int(w, "resource", x->resource);
		put_int(w, "count", x->count);
		put_int(w, "value_ns", x->value_ns);
		put_int(w, "first_ns", x->first_ns);
		json_end_object(w);
	}
	json_end_array(w);
}

static void put_slowest(json_w *w, const report *r)
{
	json_key(w, "slowest");
	json_begin_object(w);
	json_key(w, "busy");
	json_begin_array(w);
	for (size_t i = 0; i < r->nbusy; i++) {
		const report_busy *b = &r->busy[i];
		json_begin_object(w);
		put_int(w, "id", b->id);
		put_str(w, "name", b->name);
		put_str(w, "location", b->location);
		put_str(w, "state", b->state);
		put_int(w, "busy_ns", b->busy_ns);
		put_int(w, "polls", b->polls);
		put_int(w, "max_run_ns", b->max_run_ns);
		json_end_object(w);
	}
	json_end_array(w);
	json_key(w, "waits");
	json_begin_array(w);
	for (size_t i = 0; i < r->nwaits; i++) {
		const report_slow_wait *s = &r->waits[i];
		json_begin_object(w);
		put_int(w, "id", s->id);
		put_str(w, "name", s->name);
		put_int(w, "wait_ns", s->wait_ns);
		json_key(w, "ongoing");
		json_bool(w, s->ongoing);
		put_int(w, "since_ns", s->since_ns);
		if (s->found) {
			put_wait(w, "waits_on", &s->on);
		} else {
			json_key(w, "waits_on");
			json_null(w);
		}
		put_str(w, "location", s->location);
		put_str(w, "function", s->function);
		json_end_object(w);
	}
	json_end_array(w);
	json_end_object(w);
}

int report_write_json(const report *r, FILE *f)
{
	json_w w;
	/* one line per field of a task; its waits_on and arrays compact */
	json_init(&w, f, 3);
	json_begin_object(&w);
	put_process(&w, r);
	json_key(&w, "blocked");
	json_begin_array(&w);
	for (size_t i = 0; i < r->nblocked; i++)
		put_task(&w, &r->blocked[i]);
	json_end_array(&w);
	put_problems(&w, r);
	put_slowest(&w, r);
	json_end_object(&w);
	return json_end(&w);
}
