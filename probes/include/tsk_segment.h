/*
 * tsk_segment.h - the shared-memory segment format: the one header that the
 * writer (libtaskscope's probes) and every reader (the probes reader
 * library, the inspector, the fuzzer) include.
 *
 * One segment per instrumented process, a file in /dev/shm named
 *     taskscope.<pid>.<start>
 * where <start> is the process start time in clock ticks since boot (field
 * 22 of /proc/<pid>/stat), so that a reader tells a live process from a
 * dead one whose pid was reused.  Mode 0600.  Layout, every section 4 KiB
 * aligned, offsets from the start of the file:
 *
 *     +-------------------------+ 0
 *     | tsk_seg_header          |  4 KiB: identity, calibration, section table
 *     +-------------------------+ strings.off
 *     | string table            |  append-only: names, sites, labels, symbols
 *     +-------------------------+ tasks.off
 *     | tsk_seg_task[count]     |  live state of every task (slot reused after exit)
 *     +-------------------------+ resources.off
 *     | tsk_seg_res[count]      |  live state of every resource
 *     +-------------------------+ stacks.off
 *     | tsk_seg_stack[count]    |  interned stacks (append-only)
 *     +-------------------------+ rings.off
 *     | ring 0: tsk_seg_ring + tsk_seg_event[ring_records]
 *     | ring 1: ...             |  one single-producer event ring per thread
 *     +-------------------------+ segment_size
 *
 * Rules for readers (docs/FORMAT.md has the whole story):
 *   - Everything here is untrusted input: check magic, version, sizes and
 *     every offset and index against segment_size before using it.
 *   - Offsets and indices only, never pointers.
 *   - Slots (tasks, resources) are seqlocked: read seq (even), copy, read
 *     seq again; equal and even means the copy is consistent.
 *   - Ring records carry seq = (uint32_t)(index + 1), written last; a record
 *     is valid when its seq matches its index and it was not overwritten
 *     while being copied (index >= head_after_copy + 1 - ring_records).
 *     In stream mode the writer keeps at most ring_records - 1 records
 *     unconsumed, so that rule never rejects an unread record; when the
 *     reader stops refreshing its heartbeat the writer falls back to
 *     flight mode (mode = FLIGHT, reader_pid = 0).  head never decreases,
 *     even when another thread takes over a ring.
 *   - All integers are little-endian, native x86-64 / aarch64 layout.
 *
 * Every struct has a fixed layout guarded by _Static_assert.
 */
#ifndef TSK_SEGMENT_H
#define TSK_SEGMENT_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#define TSK_SEG_MAGIC   0x45504f43534b5354ULL /* "TSKSCOPE" read as little-endian */
#define TSK_SEG_VERSION 1
#define TSK_SEG_DIR     "/dev/shm"
#define TSK_SEG_PREFIX  "taskscope."

/* ---- header ----------------------------------------------------------- */

/* A section of the segment: an array of `count` items of `stride` bytes at
 * `off` (the string table: count = 1, stride = size). */
typedef struct tsk_seg_section {
	uint64_t off;    /* from the start of the segment, 4 KiB aligned */
	uint64_t size;   /* bytes */
	uint32_t count;  /* items */
	uint32_t stride; /* bytes per item */
} tsk_seg_section;
_Static_assert(sizeof(tsk_seg_section) == 24, "tsk_seg_section layout");

enum tsk_seg_mode {
	TSK_MODE_FLIGHT = 0, /* no reader: rings overwrite their oldest records */
	TSK_MODE_STREAM = 1, /* a reader drains: writers never overtake it, drop and count */
};

enum tsk_seg_state {
	TSK_SEG_RUNNING = 1, /* the process is running tasks (tsk_run active) */
	TSK_SEG_IDLE = 2,    /* between tsk_run calls */
	TSK_SEG_EXITED = 3,  /* the process exited cleanly (segment kept: TASKSCOPE_KEEP=1) */
};

typedef struct tsk_seg_header {
	uint64_t magic;              /* TSK_SEG_MAGIC */
	uint32_t version;            /* TSK_SEG_VERSION */
	uint32_t header_size;        /* sizeof(tsk_seg_header) */
	uint64_t segment_size;       /* bytes of the whole file */
	int32_t pid;                 /* the writing process */
	uint32_t flags;              /* reserved, 0 */
	uint64_t proc_start_ticks;   /* /proc/<pid>/stat field 22 */
	int64_t created_realtime_ns; /* CLOCK_REALTIME when created */
	int64_t created_mono_ns;     /* CLOCK_MONOTONIC when created */
	char program[64];            /* program name, NUL-terminated */
	/* TSC -> CLOCK_MONOTONIC: mono = mono0 + (tsc - tsc0) * (mono1 - mono0) / (tsc1 - tsc0).
	 * Pair 0 is fixed at creation; pair 1 is refreshed about every 100 ms
	 * under calib_seq (a seqlock).  tsc1 == tsc0 until the first refresh. */
	_Atomic uint32_t calib_seq; /* seqlock of the fields below */
	uint32_t tsc_is_ns;         /* 1: "tsc" fields hold CLOCK_MONOTONIC ns (no usable TSC) */
	uint64_t cal_tsc0;          /* TSC at creation */
	int64_t cal_mono0;          /* CLOCK_MONOTONIC ns at creation */
	uint64_t cal_tsc1;          /* TSC at the latest calibration */
	int64_t cal_mono1;          /* CLOCK_MONOTONIC ns then */
	/* sections */
	tsk_seg_section strings;   /* string table */
	tsk_seg_section tasks;     /* tsk_seg_task slots */
	tsk_seg_section resources; /* tsk_seg_res slots */
	tsk_seg_section stacks;    /* tsk_seg_stack entries */
	tsk_seg_section rings;     /* ring blocks: count rings of stride bytes */
	uint32_t ring_records;     /* records per ring, a power of two */
	uint32_t stack_depth;      /* frames per tsk_seg_stack */
	/* live counters (writer) */
	_Atomic uint64_t str_used; /* bytes of the string table in use (release after the bytes) */
	_Atomic uint32_t task_hwm; /* task slots ever used: readers scan [0, task_hwm) */
	_Atomic uint32_t res_hwm;  /* resource slots ever used */
	_Atomic uint32_t stack_used;     /* stack entries in use */
	_Atomic uint32_t ring_used;      /* rings ever claimed */
	_Atomic uint64_t task_overflow;  /* tasks not given a slot (table full) */
	_Atomic uint64_t res_overflow;   /* resources not given a slot */
	_Atomic uint64_t str_overflow;   /* strings not stored (table full) */
	_Atomic uint64_t stack_overflow; /* stacks not stored */
	_Atomic uint32_t nworkers;       /* workers of the current runtime */
	_Atomic uint32_t state;          /* enum tsk_seg_state */
	_Atomic int64_t heartbeat_ns; /* CLOCK_MONOTONIC, refreshed ~every 100 ms while tasks run */
	/* reader attachment (written by the reader) */
	_Atomic int32_t reader_pid;          /* attached reader, 0 none */
	_Atomic uint32_t mode;               /* enum tsk_seg_mode */
	_Atomic int64_t reader_heartbeat_ns; /* the reader's CLOCK_MONOTONIC, ~every 100 ms;
	                                        writers fall back to flight mode when it is
	                                        older than 2 s (a reader that died) */
	uint8_t reserved[4096 - 376];
} tsk_seg_header;
_Static_assert(offsetof(tsk_seg_header, calib_seq) == 120, "tsk_seg_header layout");
_Static_assert(offsetof(tsk_seg_header, strings) == 160, "tsk_seg_header layout");
_Static_assert(offsetof(tsk_seg_header, ring_records) == 280, "tsk_seg_header layout");
_Static_assert(offsetof(tsk_seg_header, str_used) == 288, "tsk_seg_header layout");
_Static_assert(offsetof(tsk_seg_header, reader_pid) == 360, "tsk_seg_header layout");
_Static_assert(sizeof(tsk_seg_header) == 4096, "tsk_seg_header is one page");

/* ---- string table ----------------------------------------------------- */

/* An entry: uint32_t length (bytes, without the NUL), the bytes, a NUL,
 * padding to a multiple of 4.  A string id is the entry's byte offset in
 * the table; id 0 is "no string" (the first 4 bytes are reserved). */
#define TSK_SEG_STR_MAX 1024 /* longest string stored (longer ones are cut) */

/* ---- task slots ------------------------------------------------------- */

enum tsk_task_state {
	TSK_TS_FREE = 0,    /* slot unused (id == 0) */
	TSK_TS_READY = 1,   /* runnable, in a queue */
	TSK_TS_RUNNING = 2, /* on a worker */
	TSK_TS_BLOCKED = 3, /* waiting (wait_kind says on what) */
	TSK_TS_DONE = 4,    /* returned, not yet joined (a joinable task) */
};

/* What a blocked task waits for (tsk_seg_task.wait_kind, events' a32). */
enum tsk_wait_kind {
	TSK_WAIT_NONE = 0,
	TSK_WAIT_SLEEP = 1,     /* tsk_sleep: a deadline, no object */
	TSK_WAIT_JOIN = 2,      /* wait_obj: the joined task's id */
	TSK_WAIT_CHAN_SEND = 3, /* wait_obj: the channel */
	TSK_WAIT_CHAN_RECV = 4,
	TSK_WAIT_SELECT = 5, /* wait_obj: the channel of the select's first case that has one */
	TSK_WAIT_MUTEX = 6,
	TSK_WAIT_RWLOCK_RD = 7,
	TSK_WAIT_RWLOCK_WR = 8,
	TSK_WAIT_SEM = 9,
	TSK_WAIT_WG = 10,
	TSK_WAIT_COND = 11,
	TSK_WAIT_IO = 12,      /* wait_obj: the fd in bits 0-31, plus TSK_IO_RD / TSK_IO_WR */
	TSK_WAIT_OFFLOAD = 13, /* wait_obj: address of the job's function */
};

/* Direction bits of a TSK_WAIT_IO wait_obj (the fd is its low 32 bits). */
#define TSK_IO_RD (1ull << 32) /* waits to read (or accept) */
#define TSK_IO_WR (1ull << 33) /* waits to write (or connect) */

enum tsk_task_flags {
	TSK_TF_DETACHED = 1u << 0,
	TSK_TF_CANCELLED = 1u << 1,
	TSK_TF_ROOT = 1u << 2,
};

typedef struct tsk_seg_task {
	_Atomic uint32_t seq;     /* seqlock: odd while the writer updates the slot */
	uint8_t state;            /* enum tsk_task_state */
	uint8_t wait_kind;        /* enum tsk_wait_kind while BLOCKED */
	uint16_t worker;          /* worker running it, or that last ran it */
	uint64_t id;              /* task id, 0 for a free slot */
	uint64_t parent;          /* parent task id, 0 for a root */
	uint64_t wait_obj;        /* resource id, task id (join) or fd (I/O) */
	int64_t wait_deadline_ns; /* CLOCK_MONOTONIC deadline of the wait, -1 none */
	uint64_t since_tsc;       /* when it entered `state` */
	uint64_t spawned_tsc;     /* when it was spawned */
	uint32_t spawn_site;      /* string id: "file:line func" of the spawn */
	uint32_t wait_site;       /* string id: call site of the current wait */
	uint32_t label;           /* string id of the tsk_set_state label, 0 none */
	uint32_t flags;           /* enum tsk_task_flags */
	uint64_t polls;           /* times it was run */
	uint64_t busy_tsc;        /* total running time, in TSC ticks */
	uint32_t stack;           /* stack id (index + 1) at the last suspension, 0 none */
	uint32_t wakes;           /* times it was woken */
	char name[24];            /* NUL-terminated, cut to 23 bytes */
	uint64_t reserved;
} tsk_seg_task;
_Static_assert(offsetof(tsk_seg_task, id) == 8, "tsk_seg_task layout");
_Static_assert(offsetof(tsk_seg_task, spawn_site) == 56, "tsk_seg_task layout");
_Static_assert(offsetof(tsk_seg_task, name) == 96, "tsk_seg_task layout");
_Static_assert(sizeof(tsk_seg_task) == 128, "tsk_seg_task layout");

/* ---- resource slots --------------------------------------------------- */

enum tsk_res_kind {
	TSK_RES_NONE = 0,
	TSK_RES_CHAN = 1,
	TSK_RES_MUTEX = 2,
	TSK_RES_RWLOCK = 3,
	TSK_RES_SEM = 4,
	TSK_RES_WG = 5,
	TSK_RES_COND = 6,
};

enum tsk_res_flags {
	TSK_RF_CLOSED = 1u << 0,   /* channel closed */
	TSK_RF_STARVING = 1u << 1, /* mutex in starvation mode (hand-off, no barging) */
};

typedef struct tsk_seg_res {
	_Atomic uint32_t seq; /* seqlock: odd while the writer updates the slot */
	uint8_t kind;         /* enum tsk_res_kind */
	uint8_t flags;        /* enum tsk_res_flags */
	uint16_t reserved0;
	uint64_t id;          /* resource id, 0 for a free slot */
	uint64_t owner;       /* owning task id (mutex, rwlock writer), 0 none */
	uint64_t created_tsc; /* creation time */
	uint32_t site;        /* string id of the creation site */
	uint32_t nreaders;    /* rwlock: readers holding it */
	uint32_t waiters;     /* tasks blocked on it */
	uint32_t reserved1;
	uint64_t value;      /* channel: buffered elements; sem: units; wg: counter */
	uint64_t capacity;   /* channel capacity (UINT64_MAX: unbounded); sem: initial */
	uint64_t readers[4]; /* reserved for rwlock reader holders: 0 in this version */
	char name[24];       /* NUL-terminated, cut to 23 bytes */
	uint64_t reserved2;
} tsk_seg_res;
_Static_assert(offsetof(tsk_seg_res, site) == 32, "tsk_seg_res layout");
_Static_assert(offsetof(tsk_seg_res, readers) == 64, "tsk_seg_res layout");
_Static_assert(sizeof(tsk_seg_res) == 128, "tsk_seg_res layout");

/* ---- stacks ----------------------------------------------------------- */

#define TSK_SEG_STACK_DEPTH 31

typedef struct tsk_seg_frame {
	uint64_t pc;  /* return address */
	uint32_t sym; /* string id of "function+0xoff" (0: unknown) */
	uint32_t reserved;
} tsk_seg_frame;
_Static_assert(sizeof(tsk_seg_frame) == 16, "tsk_seg_frame layout");

/* An interned stack; stack id = index + 1.  Written once, then published by
 * stack_used (release): entries below stack_used are complete. */
typedef struct tsk_seg_stack {
	uint32_t nframes; /* valid frames, innermost first */
	uint32_t hash;    /* of the pcs, for interning */
	uint64_t reserved;
	tsk_seg_frame frames[TSK_SEG_STACK_DEPTH];
} tsk_seg_stack;
_Static_assert(sizeof(tsk_seg_stack) == 512, "tsk_seg_stack layout");

/* ---- event rings ------------------------------------------------------ */

/* Ring header: one cache line written by the producer, one by the reader. */
typedef struct tsk_seg_ring {
	_Atomic uint64_t head;     /* index of the next record to write (released after it) */
	_Atomic uint64_t lost;     /* records dropped in stream mode, in total */
	_Atomic int32_t owner_tid; /* thread writing this ring, 0 when free */
	uint16_t worker;           /* its worker index, 0xffff for other threads */
	uint16_t reserved0;
	uint8_t pad0[40];
	_Atomic uint64_t tail; /* stream mode: records the reader has consumed */
	uint8_t pad1[56];
} tsk_seg_ring;
_Static_assert(offsetof(tsk_seg_ring, tail) == 64, "tsk_seg_ring layout");
_Static_assert(sizeof(tsk_seg_ring) == 128, "tsk_seg_ring layout");

/* Event types.  Field use per type: see docs/FORMAT.md. */
enum tsk_ev_type {
	TSK_EV_NONE = 0,
	/* tasks */
	TSK_EV_SPAWN = 1,  /* task: child, obj: parent, site: spawn site, str: name, a32: flags */
	TSK_EV_RUN = 2,    /* task starts running on `worker`, picked by the scheduler loop */
	TSK_EV_BLOCK = 3,  /* task suspends: obj: awaited id, a32: wait kind, site, arg: deadline ns
	                      (-1), b32: stack id,  arg2: the task this worker switches to directly
	                      (its RUN, no record of its own), 0 none */
	TSK_EV_WAKE = 4,   /* task made runnable: obj: waker task (0: timer, runtime, other thread),
	                      a32: 0 woken, 1 timed out, 2 cancelled */
	TSK_EV_YIELD = 5,  /* task yields: arg2 as for BLOCK */
	TSK_EV_EXIT = 6,   /* task returned: a32: 1 if it had been cancelled; arg2 as for BLOCK */
	TSK_EV_CANCEL = 7, /* task: target, obj: canceller */
	TSK_EV_LABEL = 8,  /* task: str: user state label (0: cleared) */
	TSK_EV_JOINED = 9, /* task: joined task, obj: joiner (the slot is freed) */
	/* resources */
	TSK_EV_RES_NEW =
	        16, /* obj: resource, a32: kind, str: name, site, arg: capacity/initial value */
	TSK_EV_RES_FREE = 17, /* obj: resource */
	TSK_EV_ACQUIRE = 18,  /* task got obj: a32: 0 exclusive, 1 shared (reader, sem unit); sem:
	                         arg: units left */
	TSK_EV_RELEASE = 19, /* task released obj: a32 as for ACQUIRE; sem: arg: units free after */
	TSK_EV_SEND = 20,    /* task sent on channel obj: arg: length after */
	TSK_EV_RECV = 21,    /* task received from channel obj: arg: length after */
	TSK_EV_CLOSE = 22,   /* task closed channel obj */
	TSK_EV_SIGNAL = 23, /* task signalled obj (cond signal/broadcast, wg reaching 0): arg: tasks
	                       woken */
	TSK_EV_WG_ADD = 24, /* task added arg (signed) to wait group obj */
	/* workers */
	TSK_EV_PARK = 32,    /* worker parks (idle) */
	TSK_EV_UNPARK = 33,  /* worker wakes */
	TSK_EV_STEAL = 34,   /* worker stole arg tasks from worker obj */
	TSK_EV_CALIB = 35,   /* arg: CLOCK_MONOTONIC ns at tsc */
	TSK_EV_LOST = 36,    /* arg: records dropped just before this one (stream mode) */
	TSK_EV_RUNTIME = 37, /* a runtime starts (a32: 1) or stops (a32: 0); arg: workers */
};

/* One event: 64 bytes, one cache line. */
typedef struct tsk_seg_event {
	uint64_t tsc;    /* timestamp (see the header's calibration) */
	uint32_t seq;    /* (uint32_t)(index + 1): written last, validates the record */
	uint16_t type;   /* enum tsk_ev_type */
	uint16_t worker; /* worker index of the writing thread, 0xffff for none */
	uint64_t task;   /* subject task id (0: none) */
	uint64_t obj;    /* object: resource id, other task id, worker */
	uint64_t arg;    /* type-specific */
	uint32_t site;   /* string id of a call site */
	uint32_t str;    /* string id (name, label) */
	uint32_t a32;    /* type-specific */
	uint32_t b32;    /* type-specific */
	uint64_t arg2;   /* type-specific */
} tsk_seg_event;
_Static_assert(offsetof(tsk_seg_event, task) == 16, "tsk_seg_event layout");
_Static_assert(offsetof(tsk_seg_event, site) == 40, "tsk_seg_event layout");
_Static_assert(sizeof(tsk_seg_event) == 64, "tsk_seg_event layout");

/* Bytes of one ring block (header + records). */
static inline uint64_t tsk_seg_ring_stride(uint32_t ring_records)
{
	return sizeof(tsk_seg_ring) + (uint64_t)ring_records * sizeof(tsk_seg_event);
}

#endif /* TSK_SEGMENT_H */
