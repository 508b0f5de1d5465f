/*
 * tp.h - the LTTng-UST tracepoint provider of the probe-overhead benchmark
 * (bench/lttng/lttng_bench.c): one event, taskscope_bench:event, carrying
 * what a taskscope flight-recorder record carries besides its timestamp and
 * sequence number (LTTng writes its own timestamp into the event header):
 * the event type, the subject task, an object, an argument and a call site,
 * five integers, 30 bytes of payload.
 *
 * Written by hand after the LTTng 2.13 documentation ("Create a tracepoint
 * provider"; lttng-gen-tp would produce the same from a .tp template) with
 * the 2.13 LTTNG_UST_-prefixed macros.  tp.c instantiates the probes; the
 * program defines LTTNG_UST_TRACEPOINT_DEFINE before including this header.
 * Linked statically into the program (-llttng-ust -ldl), no preload.
 */
#undef LTTNG_UST_TRACEPOINT_PROVIDER
#define LTTNG_UST_TRACEPOINT_PROVIDER taskscope_bench

#undef LTTNG_UST_TRACEPOINT_INCLUDE
#define LTTNG_UST_TRACEPOINT_INCLUDE "./tp.h"

#if !defined(BENCH_LTTNG_TP_H) || defined(LTTNG_UST_TRACEPOINT_HEADER_MULTI_READ)
#define BENCH_LTTNG_TP_H

#include <stdint.h>

#include <lttng/tracepoint.h>

/* The LTTng field DSL reads best one field per line. */
/* clang-format off */
LTTNG_UST_TRACEPOINT_EVENT(
	taskscope_bench, event,
	LTTNG_UST_TP_ARGS(uint16_t, type, uint64_t, task, uint64_t, obj, uint64_t, arg,
	                  uint32_t, site),
	LTTNG_UST_TP_FIELDS(
		lttng_ust_field_integer(uint16_t, type, type)
		lttng_ust_field_integer(uint64_t, task, task)
		lttng_ust_field_integer(uint64_t, obj, obj)
		lttng_ust_field_integer(uint64_t, arg, arg)
		lttng_ust_field_integer(uint32_t, site, site)))
/* clang-format on */

#endif /* BENCH_LTTNG_TP_H */

#include <lttng/tracepoint-event.h>
