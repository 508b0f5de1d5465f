/*
 * probe_int.h - what the writer's files (probe.c, pstr.c) share and
 * nothing else may use.
 */
#ifndef TSK_PROBE_INT_H
#define TSK_PROBE_INT_H

#include <stdint.h>

/* pstr.c: a new segment's string table is `table`, `size` bytes (its first
 * entries already reserved through str_used); forgets what was interned
 * before.  Call before the probes are turned on. */
void probe__str_start(char *table, uint64_t size);

#endif
