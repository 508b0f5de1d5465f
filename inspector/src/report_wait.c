/*
 * report_wait.c - naming a wait: the wait kind codes of the segment
 * (enum tsk_wait_kind, the DB's table wait_kinds), what kind of thing each
 * waits on, and the name of that thing as report and export show it.
 */
#include <inttypes.h>
#include <stdio.h>

#include "report.h"
#include "tsk_segment.h"

static const struct {
	const char *op;   /* wait_kinds.name */
	const char *kind; /* what is waited on */
} waits[] = {
        [TSK_WAIT_SLEEP] = {"sleep", "sleep"},
        [TSK_WAIT_JOIN] = {"join", "task"},
        [TSK_WAIT_CHAN_SEND] = {"chan_send", "channel"},
        [TSK_WAIT_CHAN_RECV] = {"chan_recv", "channel"},
        [TSK_WAIT_SELECT] = {"select", "channel"},
        [TSK_WAIT_MUTEX] = {"mutex", "mutex"},
        [TSK_WAIT_RWLOCK_RD] = {"rwlock_rd", "rwlock"},
        [TSK_WAIT_RWLOCK_WR] = {"rwlock_wr", "rwlock"},
        [TSK_WAIT_SEM] = {"semaphore", "semaphore"},
        [TSK_WAIT_WG] = {"waitgroup", "waitgroup"},
        [TSK_WAIT_COND] = {"condvar", "condvar"},
        [TSK_WAIT_IO] = {"io", "io"},
        [TSK_WAIT_OFFLOAD] = {"offload", "offload"},
};

#define NWAITS ((int)(sizeof(waits) / sizeof(waits[0])))

const char *report_wait_op(int code)
{
	return code > 0 && code < NWAITS ? waits[code].op : NULL;
}

const char *report_wait_kind(int code)
{
	return code > 0 && code < NWAITS ? waits[code].kind : NULL;
}

const char *report_wait_name(int code, int64_t obj, const char *res_name, const char *task_name,
                             char *buf, size_t cap)
{
	const char *name = NULL;
	switch (code) {
	case TSK_WAIT_JOIN:
		name = task_name;
		break;
	case TSK_WAIT_CHAN_SEND:
	case TSK_WAIT_CHAN_RECV:
	case TSK_WAIT_SELECT:
	case TSK_WAIT_MUTEX:
	case TSK_WAIT_RWLOCK_RD:
	case TSK_WAIT_RWLOCK_WR:
	case TSK_WAIT_SEM:
	case TSK_WAIT_WG:
	case TSK_WAIT_COND:
		name = res_name;
		break;
	case TSK_WAIT_IO: {
		if (obj == REPORT_NONE)
			return NULL;
		uint64_t o = (uint64_t)obj;
		int rd = !!(o & TSK_IO_RD), wr = !!(o & TSK_IO_WR);
		snprintf(buf, cap, "fd %" PRIu32 "%s", (uint32_t)o,
		         rd && wr ? " read+write"
		         : rd     ? " read"
		         : wr     ? " write"
		                  : "");
		return buf;
	}
	case TSK_WAIT_OFFLOAD:
		if (obj == REPORT_NONE || obj == 0)
			return NULL;
		snprintf(buf, cap, "job %#" PRIx64, (uint64_t)obj);
		return buf;
	default:
		return NULL;
	}
	if (!name || !*name)
		return NULL;
	snprintf(buf, cap, "%s", name);
	return buf;
}
