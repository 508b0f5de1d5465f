/*
 * reader_merge.c - one time-ordered stream from per-ring batches.
 *
 * A k-way merge with a binary min-heap of the batches' current records,
 * keyed by (tsc, ring, index).  It is a merge, not a sort: each batch is
 * consumed strictly in its own order, so a ring's records never swap even
 * where their tsc goes backwards (a thread that migrated to a CPU whose TSC
 * is slightly behind); the inspector relies on per-ring order for state
 * transitions.  O(total * log k).
 */
#include <errno.h>
#include <stdlib.h>

#include "reader_int.h"

typedef struct {
	const tsk_rd_rec *cur; /* current record of the batch */
	const tsk_rd_rec *end;
} merge_src;

/* (tsc, ring, index) order. */
static int rec_less(const tsk_rd_rec *a, const tsk_rd_rec *b)
{
	if (a->ev.tsc != b->ev.tsc)
		return a->ev.tsc < b->ev.tsc;
	if (a->ring != b->ring)
		return a->ring < b->ring;
	return a->index < b->index;
}

static void sift_down(merge_src *heap, size_t n, size_t i)
{
	for (;;) {
		size_t l = 2 * i + 1, m = i;

		if (l < n && rec_less(heap[l].cur, heap[m].cur))
			m = l;
		if (l + 1 < n && rec_less(heap[l + 1].cur, heap[m].cur))
			m = l + 1;
		if (m == i)
			return;
		merge_src t = heap[i];
		heap[i] = heap[m];
		heap[m] = t;
		i = m;
	}
}

ssize_t tsk_reader_merge(const tsk_rd_batch *batches, size_t k, tsk_rd_rec *out, size_t cap)
{
	merge_src local[64], *heap = local;
	size_t n = 0, done = 0;

	if ((!batches && k > 0) || (!out && cap > 0))
		return rd__fail(-EINVAL, "invalid argument");
	if (k > sizeof(local) / sizeof(local[0]) && !(heap = malloc(k * sizeof(*heap))))
		return rd__fail(-ENOMEM, "out of memory");
	for (size_t i = 0; i < k; i++) {
		if (batches[i].n == 0)
			continue;
		if (!batches[i].recs) {
			if (heap != local)
				free(heap);
			return rd__fail(-EINVAL, "batch %zu: NULL records", i);
		}
		heap[n].cur = batches[i].recs;
		heap[n].end = batches[i].recs + batches[i].n;
		n++;
	}
	for (size_t i = n / 2; i-- > 0;)
		sift_down(heap, n, i);
	while (n > 0 && done < cap) {
		out[done++] = *heap[0].cur;
		if (++heap[0].cur == heap[0].end)
			heap[0] = heap[--n];
		sift_down(heap, n, 0);
	}
	if (heap != local)
		free(heap);
	return (ssize_t)done;
}
