/*
 * task.c - task lifecycle: spawn, join, cancel, yield, sleep, exit.
 *
 * A task is born by rt__task_create (its struct at the top of a pooled
 * stack, registered in its spawner's registry shard, counted live), runs
 * until its function returns, and is buried by the scheduler once it has
 * switched away for the last time (rt__task_exited): a detached task's
 * stack is recycled at once; a joinable one waits, done, for tsk_join,
 * which frees it.  The registry lets the runtime cancel every blocked task
 * when nothing else can run, and free unjoined tasks at teardown.
 */
#include <errno.h>

#include "sched_int.h"

static atomic_uint_fast64_t next_task_id = 1;

static void registry_add(rt_runtime *rt, tsk_task *t, int shard)
{
	rt_shard *s = &rt->shards[shard];
	t->shard = shard;
	rt__spin_lock(&s->lock);
	t->reg_prev = NULL;
	t->reg_next = s->head;
	if (s->head)
		s->head->reg_prev = t;
	s->head = t;
	rt__spin_unlock(&s->lock);
}

static void registry_remove(rt_runtime *rt, tsk_task *t)
{
	rt_shard *s = &rt->shards[t->shard];
	rt__spin_lock(&s->lock);
	if (t->reg_prev)
		t->reg_prev->reg_next = t->reg_next;
	else
		s->head = t->reg_next;
	if (t->reg_next)
		t->reg_next->reg_prev = t->reg_prev;
	rt__spin_unlock(&s->lock);
}

/* Creates a task (not yet queued) running fn(arg).  w is the creating
 * worker (NULL from tsk_run).  Returns 0 or -ENOMEM. */
int rt__task_create(rt_runtime *rt, rt_worker *w, tsk_task **out, const char *name,
                    void *(*fn)(void *), void *arg, const tsk_site *site, bool detached,
                    uint64_t parent_id)
{
	tsk_task *t;
	int rc = rt__stack_get(rt, w, &t);
	if (rc < 0)
		return rc;
	t->rt = rt;
	t->fn = fn;
	t->arg = arg;
	t->detached = detached;
	t->is_root = w == NULL;
	t->id = atomic_fetch_add_explicit(&next_task_id, 1, memory_order_relaxed);
	t->parent_id = parent_id;
	t->site = site;
	t->state = RT_STATE_READY;
	t->timer.idx = -1;
	t->jlock = (rt_spin)RT_SPIN_INIT;
	atomic_init(&t->token, RT_TOKEN_IDLE);
	atomic_init(&t->gate, 0);
	atomic_init(&t->cancelled, false);
	rt__copy_name(t->name, sizeof(t->name), name, "task");
	t->wait_deadline = TSK_FOREVER;
	RT_PROBE({
		uint64_t tsc = rt__probe_now();
		uint32_t site_id = probe_site(site), name_id = probe_str(t->name);
		uint32_t flags = (detached ? TSK_TF_DETACHED : 0) | (w ? 0 : TSK_TF_ROOT);
		t->pslot = probe_task_slot_new(t->id, parent_id, t->name, site_id, flags, tsc);
		probe_emit(TSK_EV_SPAWN, tsc, t->id, parent_id, 0, site_id, name_id, flags, 0, 0);
	});
	rt__task_init_ctx(t);
	atomic_fetch_add(&rt->live, 1);
	registry_add(rt, t, w ? w->id : 0);
	*out = t;
	return 0;
}

/* Frees a task that will never run again (joined, or never started). */
void rt__task_release(rt_runtime *rt, rt_worker *w, tsk_task *t)
{
	RT_PROBE({
		uint64_t tsc, me = rt__probe_ctx(&tsc);
		probe_emit(TSK_EV_JOINED, tsc, t->id, me, 0, 0, 0, 0, 0, 0);
		probe_task_slot_free(t->pslot);
	});
	t->pslot = 0;
	registry_remove(rt, t);
	rt__task_fini_ctx(t);
	rt__stack_put(rt, w, t);
}

/* Buries t after it returned and switched away for good.  Scheduler
 * context of worker w. */
void rt__task_exited(rt_worker *w, tsk_task *t)
{
	rt_runtime *rt = w->rt;
	bool root = t->is_root, detached = t->detached;

	rt__task_fini_ctx(t);
	t->state = RT_STATE_DONE;
	if (root)
		rt->root_result = t->result;
	if (detached) {
		registry_remove(rt, t);
		rt__stack_put(rt, w, t);
	} else {
		rt__spin_lock(&t->jlock);
		t->done = true;
		if (t->joiner) {
			rt_waiter *j = t->joiner;
			t->joiner = NULL;
			rt__wake(j, 0, 0);
		}
		/* the joiner frees t only after taking jlock: nothing touches
		 * t after this unlock */
		rt__spin_unlock(&t->jlock);
	}
	rt__task_gone(rt, root);
}

/* Cancels every task of the runtime.  Two phases, so that the outcome does
 * not depend on the order of the registry: first every blocked task's wait
 * is claimed with -ECANCELED (none can run yet: only we may ready them),
 * then they are all made runnable.  A task blocked in tsk_join on another
 * blocked task thus sees -ECANCELED, not the other's exit.  Returns the
 * number of tasks woken. */
long rt__cancel_all(rt_runtime *rt)
{
	tsk_task *claimed = NULL;
	long n = 0;
	for (int i = 0; i < rt->nworkers; i++) {
		rt_shard *s = &rt->shards[i];
		rt__spin_lock(&s->lock);
		for (tsk_task *t = s->head; t; t = t->reg_next) {
			if (rt__cancel_claim(t)) {
				/* blocked and claimed: not in any queue, so its
				 * queue link is free */
				t->next = claimed;
				claimed = t;
				n++;
			}
		}
		rt__spin_unlock(&s->lock);
	}
	while (claimed) {
		tsk_task *t = claimed;
		claimed = t->next;
		rt__ready(t);
	}
	return n;
}

int tsk_spawn_at(tsk_task **out, const char *name, void *(*fn)(void *), void *arg,
                 const tsk_site *site)
{
	rt_worker *w = rt__worker();
	tsk_task *self = w ? w->cur : NULL, *t;

	if (!fn)
		return -EINVAL;
	if (!self)
		return -EPERM;
	int rc = rt__task_create(w->rt, w, &t, name, fn, arg, site, out == NULL, self->id);
	if (rc < 0)
		return rc;
	if (out)
		*out = t;
	rt__enqueue(w->rt, t);
	return 0;
}

int(tsk_spawn)(tsk_task **out, const char *name, void *(*fn)(void *), void *arg)
{
	return tsk_spawn_at(out, name, fn, arg, NULL);
}

int tsk_join_at(tsk_task *t, void **result, int64_t deadline, const tsk_site *site)
{
	rt_worker *w = rt__worker();
	tsk_task *self = w ? w->cur : NULL;
	int rc;

	if (!self)
		return -EPERM;
	if (!t || t->rt != self->rt)
		return -EINVAL;
	if (t == self)
		return -EDEADLK;
	rt__spin_lock(&t->jlock);
	if (t->detached || t->joiner) {
		rt__spin_unlock(&t->jlock);
		return -EINVAL;
	}
	if (!t->done) {
		rt_waiter wt;
		rc = rt__can_wait(deadline);
		if (rc < 0) {
			rt__spin_unlock(&t->jlock);
			return rc;
		}
		rt__wait_prepare(&wt, self, 0, NULL);
		wt.linked = true;
		t->joiner = &wt;
		rt__spin_unlock(&t->jlock);
		rt_wait_info wi = {RT_WAIT_JOIN, t, site, t->id};
		rc = rt__wait(deadline, &wi);
		rt__spin_lock(&t->jlock);
		if (rc < 0 && t->joiner == &wt)
			t->joiner = NULL;
		rt__spin_unlock(&t->jlock);
		if (rc < 0)
			return rc;
	} else {
		rt__spin_unlock(&t->jlock);
	}
	if (result)
		*result = t->result;
	rt__task_release(self->rt, rt__worker(), t);
	return 0;
}

int(tsk_join)(tsk_task *t, void **result, int64_t deadline)
{
	return tsk_join_at(t, result, deadline, NULL);
}

int tsk_cancel(tsk_task *t)
{
	tsk_task *self = rt__self();
	if (!t)
		return -EINVAL;
	if (!self || self->rt != t->rt)
		return -EPERM;
	rt__cancel(t);
	return 0;
}

int tsk_yield(void)
{
	rt_worker *w = rt__worker();
	if (!w || !w->cur)
		return -EPERM;
	if (atomic_load_explicit(&w->cur->cancelled, memory_order_relaxed))
		return -ECANCELED;
	/* Nothing else to run here: switching away would only come back.  But
	 * every 32nd time, do the worker's periodic duties first: a task that
	 * yields in a loop must not keep sleepers of its worker or tasks
	 * waiting for descriptors from waking. */
	if (rt__runq_len(&w->q) == 0 && !atomic_load_explicit(&w->runnext, memory_order_relaxed) &&
	    atomic_load_explicit(&w->rt->gq_len, memory_order_relaxed) == 0) {
		uint32_t tick = atomic_load_explicit(&w->tick, memory_order_relaxed) + 1;
		atomic_store_explicit(&w->tick, tick, memory_order_relaxed);
		if ((tick & 31) != 0 || rt__duties(w) == 0)
			return 0;
	}
	rt__suspend(w, RT_POST_YIELD);
	return 0;
}

int tsk_sleep_at(int64_t deadline, const tsk_site *site)
{
	tsk_task *self = rt__self();
	rt_waiter wt;

	if (!self)
		return -EPERM;
	if (deadline == TSK_FOREVER)
		return -EINVAL;
	if (atomic_load(&self->cancelled))
		return -ECANCELED;
	if (deadline <= tsk_now())
		return 0;
	rt__wait_prepare(&wt, self, 0, NULL);
	rt_wait_info wi = {RT_WAIT_SLEEP, NULL, site, 0};
	int rc = rt__wait(deadline, &wi);
	return rc == -ETIMEDOUT ? 0 : rc;
}

int(tsk_sleep)(int64_t deadline)
{
	return tsk_sleep_at(deadline, NULL);
}

void tsk_set_state(const char *label)
{
	tsk_task *self = rt__self();
	if (!self)
		return;
	self->label = label;
	RT_PROBE({
		uint32_t id = probe_str(label);
		tsk_seg_task *s = probe_task_slot(self->pslot);
		if (s) {
			probe_slot_begin(&s->seq);
			s->label = id;
			probe_slot_end(&s->seq);
		}
		probe_emit(TSK_EV_LABEL, rt__probe_now(), self->id, 0, 0, 0, id, 0, 0, 0);
	});
}

tsk_task *tsk_self(void)
{
	return rt__self();
}

uint64_t tsk_id(const tsk_task *t)
{
	return t ? t->id : 0;
}

const char *tsk_name(const tsk_task *t)
{
	return t ? t->name : NULL;
}

int tsk_cancelled(void)
{
	tsk_task *self = rt__self();
	return self && atomic_load(&self->cancelled);
}

bool rt__cancelled(const tsk_task *t)
{
	return atomic_load(&((tsk_task *)t)->cancelled);
}
