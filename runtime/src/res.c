/*
 * res.c - resources as the flight recorder sees them: ids, live-state
 * slots, lifecycle and ownership events (rt_int.h, rt_res).
 *
 * The synchronisation objects call these at creation, destruction, under
 * their own lock after a state change, and on each acquire, release, send,
 * receive, close or signal.  With the probes off (TASKSCOPE=off, or a
 * TSK_PROBES=0 build) each call is one branch.
 */
#include "sched_int.h"

static atomic_uint_fast64_t next_res_id = 1;

void rt__res_init(rt_res *r, int kind, const char *name, const tsk_site *site, uint64_t capacity)
{
	r->id = atomic_fetch_add_explicit(&next_res_id, 1, memory_order_relaxed);
	r->kind = (uint32_t)kind;
	r->pslot = 0;
	RT_PROBE({
		uint64_t tsc, me = rt__probe_ctx(&tsc);
		uint32_t site_id = probe_site(site), name_id = probe_str(name);
		r->pslot = probe_res_slot_new(r->id, kind, name, site_id, capacity, tsc);
		probe_emit(TSK_EV_RES_NEW, tsc, me, r->id, capacity, site_id, name_id,
		           (uint32_t)kind, 0, 0);
	});
#if !TSK_PROBES
	(void)name, (void)site, (void)capacity;
#endif
}

void rt__res_fini(rt_res *r)
{
	RT_PROBE({
		uint64_t tsc, me = rt__probe_ctx(&tsc);
		probe_emit(TSK_EV_RES_FREE, tsc, me, r->id, 0, 0, 0, r->kind, 0, 0);
		probe_res_slot_free(r->pslot);
	});
	r->pslot = 0;
}

void rt__res_state(const rt_res *r, const tsk_task *owner, uint32_t waiters, uint64_t value,
                   uint32_t nreaders, uint32_t flags)
{
	RT_PROBE({
		tsk_seg_res *s = probe_res_slot(r->pslot);
		if (s) {
			probe_slot_begin(&s->seq);
			s->owner = owner ? owner->id : 0;
			s->waiters = waiters;
			s->value = value;
			s->nreaders = nreaders;
			s->flags = (uint8_t)flags;
			probe_slot_end(&s->seq);
		}
	});
#if !TSK_PROBES
	(void)r, (void)owner, (void)waiters, (void)value, (void)nreaders, (void)flags;
#endif
}

void rt__res_event(const rt_res *r, int type, uint64_t arg, uint32_t a32)
{
	RT_PROBE({
		uint64_t tsc, me = rt__probe_ctx(&tsc);
		probe_emit((uint16_t)type, tsc, me, r->id, arg, 0, 0, a32, 0, 0);
	});
#if !TSK_PROBES
	(void)r, (void)type, (void)arg, (void)a32;
#endif
}
