/*
 * pstr.c - string interning: names, call sites, labels and symbols stored
 * once each in the segment's string table (docs/FORMAT.md section 4).
 *
 * The table in the segment is append-only: an entry, once published by
 * str_used, never changes and its id (its offset) never moves.  In front
 * of it the writer keeps a private intern index, open addressing with
 * linear probing on an FNV-1a hash of the bytes, mapping (hash, bytes) to
 * ids; since ids are stable the index can be rebuilt at will.  It doubles
 * whenever it would pass half full (up to the size a full table needs),
 * which keeps the expected probe length near 1.5-2.5, and a lookup or an
 * insert examines at most INTERN_PROBE_MAX slots whatever happens.  A
 * string that cannot be indexed (no memory to grow, or a cluster longer
 * than the bound) is still stored and gets a valid id; it is only not
 * deduplicated later.
 *
 * Per-thread caches in front of the index make a repeated name (a spawn
 * loop) or call site a pointer compare.  One lock guards the index and the
 * table's tail; it is taken on a cache miss only, never per event.
 *
 * Workload: a few hundred distinct strings in most programs; one per task
 * name in some (100k tasks named "worker-N"), each interned in well under
 * a microsecond.
 */
#include <errno.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "probe_int.h"
#include "tsk_probe.h"

#define STR_MIN_ENTRY    8          /* bytes of the smallest entry: length, NUL, padding */
#define INTERN_CAP0      (1u << 12) /* initial slots of the index (a power of two) */
#define INTERN_CAP_MAX   (1u << 30) /* a bound on its size whatever the table's */
#define INTERN_PROBE_MAX 64         /* slots a lookup or an insert examines at most */
#define SITE_CACHE       64         /* per-thread direct-mapped site cache */

/* A slot of the intern index. */
typedef struct intern_slot {
	uint32_t id;   /* string id, 0: empty */
	uint32_t hash; /* fnv1a of its bytes: compared first, and rehashing needs no bytes */
} intern_slot;

static struct {
	atomic_flag lock;         /* guards everything below and the table's tail */
	char *strings;            /* the segment's string table */
	uint64_t size;            /* its bytes */
	intern_slot *index;       /* the intern index, NULL until the first intern */
	uint32_t cap;             /* its slots, a power of two */
	uint32_t n;               /* its entries */
	probe_intern_stats stats; /* counters for the tests */
} S = {.lock = ATOMIC_FLAG_INIT};

static void lock(void)
{
	while (atomic_flag_test_and_set_explicit(&S.lock, memory_order_acquire))
		sched_yield();
}

static void unlock(void)
{
	atomic_flag_clear_explicit(&S.lock, memory_order_release);
}

void probe__str_start(char *table, uint64_t size)
{
	lock();
	S.strings = table;
	S.size = size;
	free(S.index);
	S.index = NULL;
	S.cap = S.n = 0;
	unlock();
}

static uint64_t align4(uint64_t v)
{
	return (v + 3) & ~(uint64_t)3;
}

static uint32_t fnv1a(const char *s, size_t n)
{
	uint32_t h = 2166136261u;
	for (size_t i = 0; i < n; i++)
		h = (h ^ (uint8_t)s[i]) * 16777619u;
	return h;
}

/* Looks n bytes of hash h up in the index, examining at most
 * INTERN_PROBE_MAX slots.  Returns the string's id, or 0 when it is not
 * indexed; then *empty is the first empty slot on its probe path, or NULL
 * when there is none within the bound.  Lock held. */
static uint32_t intern_find(uint32_t h, const char *s, size_t n, intern_slot **empty)
{
	uint32_t mask = S.cap - 1;

	*empty = NULL;
	S.stats.lookups++;
	for (uint32_t i = 0; i < INTERN_PROBE_MAX && i < S.cap; i++) {
		intern_slot *slot = &S.index[(h + i) & mask];
		S.stats.probes++;
		if (slot->id == 0) {
			*empty = slot;
			return 0;
		}
		if (slot->hash != h)
			continue;
		uint32_t len;
		memcpy(&len, S.strings + slot->id, 4);
		if (len == n && memcmp(S.strings + slot->id + 4, s, n) == 0)
			return slot->id;
	}
	return 0;
}

/* The first empty slot within the bound on the probe path of hash h in
 * index (cap slots), or NULL. */
static intern_slot *intern_empty(intern_slot *index, uint32_t cap, uint32_t h)
{
	for (uint32_t i = 0; i < INTERN_PROBE_MAX && i < cap; i++) {
		intern_slot *slot = &index[(h + i) & (cap - 1)];
		if (slot->id == 0)
			return slot;
	}
	return NULL;
}

/* Doubles the index (makes the first one).  An entry that finds no room
 * within the bound in the new one (a pathological cluster) is left out:
 * its string keeps its id and is only no longer deduplicated.  Returns 0,
 * -ENOSPC (the index is as large as a full table needs) or -ENOMEM (the
 * old index is kept).  Lock held. */
static int intern_grow(void)
{
	/* half full with as many entries as the table holds at most */
	if ((uint64_t)S.cap >= 2 * (S.size / STR_MIN_ENTRY) || S.cap >= INTERN_CAP_MAX)
		return -ENOSPC;
	uint32_t cap = S.cap ? S.cap * 2 : INTERN_CAP0, n = 0;
	intern_slot *index = calloc(cap, sizeof(*index));
	if (!index)
		return -ENOMEM;
	for (uint32_t i = 0; i < S.cap; i++) {
		if (S.index[i].id == 0)
			continue;
		intern_slot *slot = intern_empty(index, cap, S.index[i].hash);
		if (!slot) {
			S.stats.unindexed++;
			continue;
		}
		*slot = S.index[i];
		n++;
	}
	free(S.index);
	S.index = index;
	S.cap = cap;
	S.n = n;
	S.stats.grows++;
	return 0;
}

/* Appends n bytes to the string table; returns their id, or 0 when the
 * table is full (counted in str_overflow).  Lock held. */
static uint32_t str_append(const char *s, size_t n)
{
	uint64_t used = atomic_load_explicit(&probe__hdr->str_used, memory_order_relaxed);
	uint64_t need = align4(4 + n + 1);
	if (used + need > S.size) {
		atomic_fetch_add(&probe__hdr->str_overflow, 1);
		return 0;
	}
	uint32_t len = (uint32_t)n;
	memcpy(S.strings + used, &len, 4);
	memcpy(S.strings + used + 4, s, n);
	memset(S.strings + used + 4 + n, 0, need - 4 - n);
	/* release (W-str): the bytes before str_used covers them */
	atomic_store_explicit(&probe__hdr->str_used, used + need, memory_order_release);
	return (uint32_t)used;
}

/* Interns n bytes: the id of an equal string interned before, else a new
 * entry's.  Returns 0 when the table is full.  Lock held. */
static uint32_t intern_locked(const char *s, size_t n)
{
	uint32_t h = fnv1a(s, n);
	intern_slot *slot;
	uint32_t id = intern_find(h, s, n, &slot);
	if (id)
		return id;
	id = str_append(s, n);
	if (!id)
		return 0;
	/* grow before passing half full, or when the probe path is full; a
	 * failed growth leaves the old index and slot as they were */
	if ((S.n + 1 > S.cap / 2 || !slot) && intern_grow() == 0)
		slot = intern_empty(S.index, S.cap, h);
	if (!slot) {
		S.stats.unindexed++;
		return id;
	}
	slot->id = id;
	slot->hash = h;
	S.n++;
	return id;
}

void probe__intern_stats(probe_intern_stats *out)
{
	lock();
	*out = S.stats;
	out->entries = S.n;
	out->cap = S.cap;
	unlock();
}

uint32_t probe_str(const char *s)
{
	if (!s || !PROBE_ON())
		return 0;
	size_t n = strnlen(s, TSK_SEG_STR_MAX);
	/* a per-thread one-entry cache: names repeat (spawn loops) */
	static __thread const char *last_ptr;
	static __thread uint32_t last_id;
	static __thread char last_copy[32];
	if (s == last_ptr && n < sizeof(last_copy) && strcmp(s, last_copy) == 0)
		return last_id;
	lock();
	uint32_t id = intern_locked(s, n);
	unlock();
	if (n < sizeof(last_copy)) {
		last_ptr = s;
		memcpy(last_copy, s, n + 1);
		last_id = id;
	}
	return id;
}

/* Per-thread direct-mapped cache of site ids.  With GCC and Clang a
 * tsk_site is one static object per call site (TSK_SITE), so its address
 * identifies it; the file, line and function are compared as well for the
 * compound literals other compilers make. */
static __thread struct site_cache {
	const tsk_site *site;
	const char *file, *func;
	int line;
	uint32_t id;
} site_cache[SITE_CACHE];

static __attribute__((noinline)) uint32_t site_slow(const tsk_site *site, struct site_cache *c)
{
	char buf[512];
	int n = snprintf(buf, sizeof(buf), "%s:%d %s", site->file ? site->file : "?", site->line,
	                 site->func ? site->func : "?");
	if (n < 0)
		return 0;
	if ((size_t)n >= sizeof(buf))
		n = sizeof(buf) - 1;
	lock();
	uint32_t id = intern_locked(buf, (size_t)n);
	unlock();
	c->site = site;
	c->file = site->file;
	c->func = site->func;
	c->line = site->line;
	c->id = id;
	return id;
}

uint32_t probe_site(const tsk_site *site)
{
	if (!site || !PROBE_ON())
		return 0;
	struct site_cache *c = &site_cache[((uintptr_t)site >> 3) % SITE_CACHE];
	if (c->site == site && c->file == site->file && c->line == site->line &&
	    c->func == site->func && c->id)
		return c->id;
	return site_slow(site, c);
}
