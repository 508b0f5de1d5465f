/*
 * ex_seg.c - what an example's flight-recorder segment says (see ex_seg.h).
 *
 * A thin layer over the reader library: open the child's segment by the
 * path ex_proc knows (its pid and start time, so never a leftover of an
 * earlier process), snapshot it, look tasks and resources up by name.
 * The segment is opened with TSK_RD_COPY once the child is dead (a frozen
 * private copy) and mapped while it runs.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ex_seg.h"

#define EVENT_BATCH 4096

int ex_seg_open(ex_seg *s, const ex_proc *p, int ms)
{
	char path[128];
	long long deadline = ex_now_ms() + ms;
	int rc;

	*s = (ex_seg){0};
	if ((rc = ex_proc_segment_path(p, path, sizeof(path))) < 0)
		return rc;
	for (;;) {
		/* a complete header: the magic is written last (probe.c) */
		rc = tsk_reader_open(path, p->reaped ? TSK_RD_COPY : 0, &s->r);
		if (rc == 0)
			break;
		if ((rc != -ENOENT && rc != TSK_RD_EMAGIC && rc != TSK_RD_ETRUNC) ||
		    ex_now_ms() >= deadline)
			return rc;
		usleep(2000);
	}
	if ((rc = ex_seg_snap(s)) < 0) {
		ex_seg_close(s);
		return rc;
	}
	return 0;
}

int ex_seg_snap(ex_seg *s)
{
	tsk_reader_snap_free(&s->snap);
	return tsk_reader_snap_take(s->r, &s->snap);
}

const tsk_seg_task *ex_seg_task(const ex_seg *s, const char *name)
{
	for (size_t i = 0; i < s->snap.ntasks; i++) {
		const tsk_seg_task *t = &s->snap.tasks[i].slot;
		if (t->id && strncmp(t->name, name, sizeof(t->name) - 1) == 0)
			return t;
	}
	return NULL;
}

const tsk_seg_task *ex_seg_task_id(const ex_seg *s, uint64_t id)
{
	for (size_t i = 0; i < s->snap.ntasks; i++)
		if (id && s->snap.tasks[i].slot.id == id)
			return &s->snap.tasks[i].slot;
	return NULL;
}

const tsk_seg_res *ex_seg_res(const ex_seg *s, const char *name)
{
	for (size_t i = 0; i < s->snap.nres; i++) {
		const tsk_seg_res *r = &s->snap.res[i].slot;
		if (r->id && strncmp(r->name, name, sizeof(r->name) - 1) == 0)
			return r;
	}
	return NULL;
}

const char *ex_seg_str(ex_seg *s, uint32_t id)
{
	if (tsk_reader_string(s->r, id, s->str, sizeof(s->str)) < 0)
		s->str[0] = '\0';
	return s->str;
}

long ex_seg_events(ex_seg *s, tsk_rd_rec **out)
{
	uint32_t nrings = tsk_reader_ring_count(s->r);
	tsk_rd_rec *recs = NULL;
	size_t n = 0, cap = 0;

	*out = NULL;
	for (uint32_t ring = 0; ring < nrings; ring++) {
		for (;;) {
			if (cap - n < EVENT_BATCH) {
				tsk_rd_rec *more =
				        realloc(recs, (cap + EVENT_BATCH * 4) * sizeof(*recs));
				if (!more) {
					free(recs);
					return -ENOMEM;
				}
				recs = more;
				cap += EVENT_BATCH * 4;
			}
			ssize_t got = tsk_reader_ring_read(s->r, ring, recs + n, EVENT_BATCH);
			if (got < 0) {
				free(recs);
				return (long)got;
			}
			if (got == 0)
				break;
			n += (size_t)got;
		}
	}
	if (n == 0)
		free(recs);
	else
		*out = recs;
	return (long)n;
}

void ex_seg_close(ex_seg *s)
{
	tsk_reader_snap_free(&s->snap);
	tsk_reader_close(s->r);
	s->r = NULL;
}
