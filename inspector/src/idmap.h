/*
 * idmap.h - a hash map from 64-bit ids (never 0) to pointers: open
 * addressing, linear probing, backward-shift deletion (no tombstones), so
 * a model that creates and ends millions of tasks keeps short probes.
 * Used by the model for tasks, resources and the seen-sets of string and
 * stack ids.  Aborts on allocation failure (x*alloc).
 */
#ifndef TS_IDMAP_H
#define TS_IDMAP_H

#include <stddef.h>
#include <stdint.h>

typedef struct idmap {
	uint64_t *keys; /* 0: empty */
	void **vals;
	size_t cap; /* a power of two */
	size_t n;
} idmap;

void idmap_init(idmap *m);
void idmap_fini(idmap *m);
/* The value of id, NULL if absent. */
void *idmap_get(const idmap *m, uint64_t id);
/* Sets id (!= 0) to val (inserting or replacing). */
void idmap_put(idmap *m, uint64_t id, void *val);
/* Makes room for n entries, so that puts up to n never grow the table
 * (a caller that must bound the time of each put sizes it first). */
void idmap_reserve(idmap *m, size_t n);
/* Removes id; returns its value or NULL. */
void *idmap_del(idmap *m, uint64_t id);
/* Calls fn for every entry (do not modify the map meanwhile). */
void idmap_each(const idmap *m, void (*fn)(void *ctx, uint64_t id, void *val), void *ctx);

#endif /* TS_IDMAP_H */
