/*
 * tp.c - instantiates the tracepoint provider of tp.h (the probe functions
 * and the event description LTTng-UST registers at start-up).  Compiled
 * with -I bench/lttng so that tracepoint-event.h finds "./tp.h".
 */
#define LTTNG_UST_TRACEPOINT_CREATE_PROBES
#include "tp.h"
