/*
 * idmap.c - 64-bit id -> pointer hash map (idmap.h).  Load factor at most
 * 1/2; the hash is a multiplicative mix (ids are dense counters, which a
 * plain mask would cluster).
 */
#include <stdlib.h>

#include "idmap.h"
#include "util.h"

static size_t slot_of(const idmap *m, uint64_t id)
{
	uint64_t h = id * 0x9e3779b97f4a7c15ULL;
	h ^= h >> 29;
	return (size_t)h & (m->cap - 1);
}

void idmap_init(idmap *m)
{
	m->cap = 64;
	m->n = 0;
	m->keys = xcalloc(m->cap, sizeof(*m->keys));
	m->vals = xcalloc(m->cap, sizeof(*m->vals));
}

void idmap_fini(idmap *m)
{
	free(m->keys);
	free(m->vals);
	m->keys = NULL;
	m->vals = NULL;
	m->cap = m->n = 0;
}

void *idmap_get(const idmap *m, uint64_t id)
{
	if (!id || !m->cap)
		return NULL;
	for (size_t i = slot_of(m, id);; i = (i + 1) & (m->cap - 1)) {
		if (m->keys[i] == id)
			return m->vals[i];
		if (!m->keys[i])
			return NULL;
	}
}

static void grow(idmap *m)
{
	idmap old = *m;
	m->cap = old.cap * 2;
	m->n = 0;
	m->keys = xcalloc(m->cap, sizeof(*m->keys));
	m->vals = xcalloc(m->cap, sizeof(*m->vals));
	for (size_t i = 0; i < old.cap; i++)
		if (old.keys[i])
			idmap_put(m, old.keys[i], old.vals[i]);
	free(old.keys);
	free(old.vals);
}

void idmap_put(idmap *m, uint64_t id, void *val)
{
	if (!id)
		return;
	if (!m->cap)
		idmap_init(m);
	if ((m->n + 1) * 2 > m->cap)
		grow(m);
	size_t i = slot_of(m, id);
	while (m->keys[i] && m->keys[i] != id)
		i = (i + 1) & (m->cap - 1);
	if (!m->keys[i])
		m->n++;
	m->keys[i] = id;
	m->vals[i] = val;
}

void idmap_reserve(idmap *m, size_t n)
{
	if (!m->cap)
		idmap_init(m);
	if (!m->n && n * 2 > m->cap) {
		/* empty: the final size at once, not every size on the way */
		size_t cap = m->cap;
		while (n * 2 > cap)
			cap *= 2;
		idmap_fini(m);
		m->cap = cap;
		m->keys = xcalloc(cap, sizeof(*m->keys));
		m->vals = xcalloc(cap, sizeof(*m->vals));
	}
	while (n * 2 > m->cap)
		grow(m);
}

void *idmap_del(idmap *m, uint64_t id)
{
	if (!id || !m->cap)
		return NULL;
	size_t mask = m->cap - 1, i = slot_of(m, id);
	while (m->keys[i] != id) {
		if (!m->keys[i])
			return NULL;
		i = (i + 1) & mask;
	}
	void *val = m->vals[i];
	/* backward shift: move later entries of the cluster into the hole when
	 * their home slot is not between the hole and them */
	size_t j = i;
	for (;;) {
		j = (j + 1) & mask;
		if (!m->keys[j])
			break;
		size_t home = slot_of(m, m->keys[j]);
		if (((j - home) & mask) >= ((j - i) & mask)) {
			m->keys[i] = m->keys[j];
			m->vals[i] = m->vals[j];
			i = j;
		}
	}
	m->keys[i] = 0;
	m->vals[i] = NULL;
	m->n--;
	return val;
}

void idmap_each(const idmap *m, void (*fn)(void *ctx, uint64_t id, void *val), void *ctx)
{
	for (size_t i = 0; i < m->cap; i++)
		if (m->keys[i])
			fn(ctx, m->keys[i], m->vals[i]);
}
