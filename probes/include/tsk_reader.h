/*
 * tsk_reader.h - the segment reader library: opens a taskscope shared-memory
 * segment (tsk_segment.h) of another process, validates it and reads it
 * safely: identity, strings, stacks, a seqlocked snapshot of the live task
 * and resource tables, calibration, and the event rings in flight mode
 * (read-only, racing the writer) or stream mode (attached, the writer never
 * overtakes).  Used by the inspector, the tests and the fuzzer.
 *
 * Why a library: the segment is untrusted input (a buggy, dying, hostile or
 * truncated writer), and every reader must apply the same checks.  Here they
 * are written once: every offset, count and stride is checked against the
 * file at open, every index again at use, and nothing returned points into
 * the mapping: callers only ever see copies.
 *
 * Invariants:
 *   - A reader never faults on a segment the writer keeps at its size: the
 *     file size is checked before mmap and every access is bounds-checked.
 *     (A writer that shrinks the file after open can still cause SIGBUS on a
 *     mapping; TSK_RD_COPY reads the file into private memory instead.)
 *   - Functions return 0 or a count on success and a negative code on
 *     failure: -errno for system errors, TSK_RD_E* for bad segments.
 *     tsk_reader_strerror() turns a code into a message.  No function reads
 *     or sets errno for the caller.
 *   - One tsk_reader is used by one thread at a time.
 *
 * docs/FORMAT.md describes the format and the protocols these functions
 * implement.
 */
#ifndef TSK_READER_H
#define TSK_READER_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "tsk_segment.h"

/* ---- errors --------------------------------------------------------------- */

/* Codes for bad segments, below every errno value. */
enum tsk_rd_error {
	TSK_RD_EMAGIC = -1000,   /* not a taskscope segment (bad magic) */
	TSK_RD_EVERSION = -1001, /* a version this reader does not read */
	TSK_RD_EHEADER = -1002,  /* header_size or an identity field is wrong */
	TSK_RD_ETRUNC = -1003,   /* the file is shorter than segment_size */
	TSK_RD_ESECTION = -1004, /* a section is out of the file, overflows, overlaps or
	                            has a bad stride/count/alignment */
	TSK_RD_ERING = -1005,    /* ring_records is not a power of two >= 2 */
	TSK_RD_ESTRID = -1006,   /* a string id outside the table in use, or misaligned */
	TSK_RD_ESTR = -1007,     /* a string entry too long or not NUL-terminated */
	TSK_RD_ESTACK = -1008,   /* a stack id out of range, or a corrupt stack entry */
	TSK_RD_ENOSEG = -1009,   /* no segment for that pid */
};

/* A message for code: for the last failure of that code on the calling
 * thread, the detailed message with its numbers ("segment truncated: 4096
 * of 1048576 bytes"); otherwise the generic one.  The string is static or
 * thread-local: valid until the next reader call on this thread. */
const char *tsk_reader_strerror(int code);

/* ---- open and close --------------------------------------------------------- */

enum tsk_rd_open_flags {
	TSK_RD_WRITE = 1u << 0, /* map read-write: needed for stream mode */
	TSK_RD_COPY = 1u << 1,  /* read the file into private memory (no mapping): a frozen
	                           copy, immune to a writer truncating the file; not with
	                           TSK_RD_WRITE */
};

typedef struct tsk_reader tsk_reader;

/* Identity and layout of an open segment, copied and validated at open. */
typedef struct tsk_rd_info {
	int32_t pid;                 /* the writing process */
	uint32_t version;            /* TSK_SEG_VERSION */
	uint64_t proc_start_ticks;   /* its start time, /proc/<pid>/stat field 22 */
	int64_t created_realtime_ns; /* CLOCK_REALTIME at creation */
	int64_t created_mono_ns;     /* CLOCK_MONOTONIC at creation */
	uint64_t segment_size;       /* bytes mapped */
	char program[64];            /* NUL-terminated */
	tsk_seg_section strings;     /* the validated section table */
	tsk_seg_section tasks;
	tsk_seg_section resources;
	tsk_seg_section stacks;
	tsk_seg_section rings;
	uint32_t ring_records; /* records per ring, a power of two */
	uint32_t stack_depth;  /* frames per stack entry */
} tsk_rd_info;

/* Opens the segment file at path.  flags: tsk_rd_open_flags.  On success
 * *out owns the mapping (or copy) and the file is closed again.
 * Returns 0, -EINVAL (bad arguments or flags), -errno of open/fstat/mmap
 * (-ENOENT, -EACCES...), -ENOMEM, or TSK_RD_EMAGIC, TSK_RD_EVERSION,
 * TSK_RD_EHEADER, TSK_RD_ETRUNC, TSK_RD_ESECTION, TSK_RD_ERING. */
int tsk_reader_open(const char *path, unsigned flags, tsk_reader **out);

/* As tsk_reader_open, on an open file descriptor (not closed, not kept). */
int tsk_reader_open_fd(int fd, unsigned flags, tsk_reader **out);

/* Opens the segment of a process: tsk_reader_find(NULL, pid, ...), then
 * tsk_reader_open.  Returns as tsk_reader_open, and TSK_RD_ENOSEG. */
int tsk_reader_open_pid(pid_t pid, unsigned flags, tsk_reader **out);

/* Detaches (if attached in stream mode) and unmaps.  NULL is a no-op. */
void tsk_reader_close(tsk_reader *r);

/* The validated identity and layout; owned by r. */
const tsk_rd_info *tsk_reader_info(const tsk_reader *r);

/* The path the reader was opened with ("" for tsk_reader_open_fd); owned by r. */
const char *tsk_reader_path(const tsk_reader *r);

/* ---- strings and stacks ------------------------------------------------------- */

/* Copies string id into buf (cap bytes, always NUL-terminated when cap > 0;
 * cut to cap - 1 bytes).  Id 0 is the empty string.  The entry is checked
 * against the table in use (str_used), its length against TSK_SEG_STR_MAX
 * and its terminating NUL in the copy.  Bytes after an embedded NUL are
 * copied too (buf then reads shorter).
 * Returns the entry's length (as snprintf: >= cap means it was cut),
 * -EINVAL (r or buf NULL with cap > 0), TSK_RD_ESTRID or TSK_RD_ESTR. */
int tsk_reader_string(tsk_reader *r, uint32_t id, char *buf, size_t cap);

/* Copies stack id (index + 1, below stack_used) into *out, frames past
 * nframes zeroed.  Returns 0, -EINVAL, or TSK_RD_ESTACK (id 0, out of
 * range, or nframes above stack_depth). */
int tsk_reader_stack(tsk_reader *r, uint32_t id, tsk_seg_stack *out);

/* ---- snapshot of the live state (reader_snap.c) -------------------------------- */

/* A task slot as copied; the copy's name is forced NUL-terminated. */
typedef struct tsk_rd_task {
	tsk_seg_task slot; /* the copy (slot.seq: the sequence it was read at) */
	uint32_t index;    /* slot index */
	uint32_t torn;     /* 1: the writer kept the slot odd or changing through every
	                      retry (it may have died mid-update): a best-effort copy */
} tsk_rd_task;

typedef struct tsk_rd_res {
	tsk_seg_res slot;
	uint32_t index;
	uint32_t torn;
} tsk_rd_res;

/* Everything live, copied at one moment (slot by slot, each consistent). */
typedef struct tsk_rd_snap {
	/* header counters, read before the slots */
	uint64_t str_used;
	uint32_t task_hwm, res_hwm, stack_used, ring_used; /* clamped to the sections */
	uint64_t task_overflow, res_overflow, str_overflow, stack_overflow;
	uint32_t nworkers;
	uint32_t state; /* enum tsk_seg_state */
	int64_t heartbeat_ns;
	int32_t reader_pid;
	uint32_t mode; /* enum tsk_seg_mode */
	int64_t reader_heartbeat_ns;
	/* slots [0, task_hwm) and [0, res_hwm), free ones (id 0) included */
	tsk_rd_task *tasks;
	size_t ntasks;
	tsk_rd_res *res;
	size_t nres;
	size_t torn; /* slots flagged torn, tasks and resources */
} tsk_rd_snap;

/* Fills *snap (which the caller then owns: tsk_reader_snap_free).  Each
 * slot is read with the seqlock protocol, retried a bounded number of
 * times, then returned flagged torn.  Returns 0, -EINVAL or -ENOMEM
 * (*snap is then empty). */
int tsk_reader_snap_take(tsk_reader *r, tsk_rd_snap *snap);

/* Fills only the header counters of *snap (no slots, nothing to free):
 * task_hwm and res_hwm bound a scan of the slots.  Returns 0 or -EINVAL. */
int tsk_reader_snap_counters(tsk_reader *r, tsk_rd_snap *snap);

/* Frees the arrays of a snapshot and empties it.  NULL is a no-op. */
void tsk_reader_snap_free(tsk_rd_snap *snap);

/* Copies task slot index (below the table size, not only task_hwm) with the
 * seqlock protocol.  Returns 0, 1 (copied but torn), -EINVAL or -ERANGE
 * (index out of the table).  tsk_reader_snap_res: likewise for resources. */
int tsk_reader_snap_task(tsk_reader *r, uint32_t index, tsk_rd_task *out);
int tsk_reader_snap_res(tsk_reader *r, uint32_t index, tsk_rd_res *out);

/* ---- calibration (reader_calib.c) ----------------------------------------------- */

enum tsk_rd_calib_source {
	TSK_CAL_PAIRS = 1,   /* the header's two (tsc, mono) pairs */
	TSK_CAL_NS = 2,      /* tsc_is_ns: the "tsc" fields are CLOCK_MONOTONIC ns */
	TSK_CAL_CPUINFO = 3, /* one pair and a frequency estimated from /proc/cpuinfo */
	TSK_CAL_GUESS = 4,   /* one pair and 1 tick = 1 ns: no better information */
};

/* TSC -> CLOCK_MONOTONIC ns: mono = mono0 + (tsc - tsc0) * num / den. */
typedef struct tsk_rd_calib {
	uint64_t tsc0;
	int64_t mono0;
	int64_t num;     /* ns over the interval */
	int64_t den;     /* ticks over the interval, > 0 */
	uint32_t source; /* enum tsk_rd_calib_source */
	uint32_t torn;   /* 1: calib_seq stayed odd or changing: a best-effort copy */
} tsk_rd_calib;

/* Reads the calibration under calib_seq.  Returns 0, 1 (torn, best-effort)
 * or -EINVAL. */
int tsk_reader_calib_load(tsk_reader *r, tsk_rd_calib *cal);

/* Converts a timestamp; saturates at the int64 range. */
int64_t tsk_reader_calib_ns(const tsk_rd_calib *cal, uint64_t tsc);

/* The TSC frequency in Hz read from a /proc/cpuinfo text ("model name ...
 * @ 2.40GHz", else "cpu MHz"), 0 if none.  Exposed for tests. */
uint64_t tsk_reader_calib_cpuinfo_hz(const char *text);

/* ---- event rings (reader_ring.c) ------------------------------------------------ */

/* A record as delivered: a validated copy with where it came from. */
typedef struct tsk_rd_rec {
	tsk_seg_event ev;
	uint64_t index; /* its index in the ring */
	uint32_t ring;  /* ring number */
	uint32_t reserved;
} tsk_rd_rec;

/* What the reader counted on one ring since open. */
typedef struct tsk_rd_ring_stats {
	uint64_t next;        /* index of the next record to read */
	uint64_t head;        /* the ring's head at the last read */
	uint64_t read;        /* records delivered (TSK_EV_LOST ones included) */
	uint64_t overwritten; /* records the writer overwrote before they were read */
	uint64_t lost;        /* sum of the TSK_EV_LOST records' arg (stream mode drops) */
	uint64_t lost_total;  /* the ring's own `lost` counter at the last read */
	uint64_t corrupt;     /* records with a wrong seq inside the published range */
	uint64_t resyncs;     /* times head went backwards (ring reset) */
	int32_t owner_tid;    /* thread writing the ring at the last read, 0 free */
	uint16_t worker;      /* its worker index, 0xffff for other threads */
	uint16_t reserved;
} tsk_rd_ring_stats;

/* Rings to read: min(ring_used, rings.count), read now. */
uint32_t tsk_reader_ring_count(tsk_reader *r);

/* Reads up to cap new records of ring `ring` into out, oldest first, and
 * moves the reader's position past them.  Flight mode: records the writer
 * overwrote are skipped and counted; stream mode: consumed records are
 * handed back to the writer (tail) and the reader heartbeat refreshed.
 * Returns the number of records stored (0: nothing new), -EINVAL or
 * -ERANGE (ring out of range). */
ssize_t tsk_reader_ring_read(tsk_reader *r, uint32_t ring, tsk_rd_rec *out, size_t cap);

/* Receives a batch of one ring's records (valid during the call only).
 * Returns 0 to go on, anything else to stop the drain (which returns it). */
typedef int (*tsk_rd_batch_fn)(void *ctx, uint32_t ring, const tsk_rd_rec *recs, size_t n);

/* Reads every ring in turn, at most the records present when its turn
 * came, and hands them to fn in batches.  Refreshes the reader heartbeat in
 * stream mode (call it at least every second there).  Returns the number of
 * records delivered, fn's non-zero return value, or -EINVAL. */
ssize_t tsk_reader_ring_drain(tsk_reader *r, tsk_rd_batch_fn fn, void *ctx);

/* Copies ring `ring`'s statistics.  Returns 0, -EINVAL or -ERANGE. */
int tsk_reader_ring_stats(tsk_reader *r, uint32_t ring, tsk_rd_ring_stats *out);

enum tsk_rd_attach_flags {
	TSK_RD_FROM_OLDEST = 1u << 0,   /* start at the oldest record still valid, not at head */
	TSK_RD_FROM_POSITION = 1u << 1, /* start where this reader stopped reading in flight
	                                   mode (the oldest valid record if that was overwritten):
	                                   read the history first, then attach with an almost
	                                   empty ring and no gap */
};

/* Attaches in stream mode: claims reader_pid (free, or held by a dead or
 * silent reader: one attached reader per segment, a second tsk_reader of
 * the same process included), sets every ring's tail to where the reader starts
 * (head, the oldest valid record with TSK_RD_FROM_OLDEST, or the reader's own
 * position with TSK_RD_FROM_POSITION), refreshes the
 * heartbeat and sets mode = TSK_MODE_STREAM.  Needs TSK_RD_WRITE.
 * Returns 0, -EINVAL, -EROFS (opened read-only or TSK_RD_COPY) or -EBUSY
 * (another live reader is attached). */
int tsk_reader_ring_attach(tsk_reader *r, unsigned flags);

/* Refreshes reader_heartbeat_ns (stream mode); reads and drains do it too.
 * If a writer meanwhile fell back to flight mode (the heartbeat had gone
 * stale) and released reader_pid, the reader claims it again and restores
 * stream mode; if another reader took it, this one continues in flight
 * mode.  Returns 0 or -EINVAL (not attached). */
int tsk_reader_ring_heartbeat(tsk_reader *r);

/* TSK_MODE_STREAM while attached, else TSK_MODE_FLIGHT. */
int tsk_reader_ring_mode(const tsk_reader *r);

/* Detaches: mode = TSK_MODE_FLIGHT, reader_pid = 0 (if still ours).  The
 * reader keeps reading in flight mode.  Returns 0 or -EINVAL (not attached). */
int tsk_reader_ring_detach(tsk_reader *r);

/* ---- merging rings (reader_merge.c) ---------------------------------------------- */

typedef struct tsk_rd_batch {
	const tsk_rd_rec *recs; /* one ring's records, in index order */
	size_t n;
} tsk_rd_batch;

/* Merges k batches into one stream in out (cap records): ordered by tsc,
 * ties by ring then index; each batch's own order is kept even where its
 * tsc goes backwards (a thread that moved between CPUs), so the result is
 * a merge, never a re-sort.  Returns the number of records stored (the
 * total, or cap if smaller: the earliest ones), or -EINVAL or -ENOMEM. */
ssize_t tsk_reader_merge(const tsk_rd_batch *batches, size_t k, tsk_rd_rec *out, size_t cap);

/* ---- discovery and liveness (reader_list.c) ------------------------------------ */

enum tsk_rd_liveness {
	TSK_RD_DEAD = 0, /* no such process, a zombie, or a pid reused by a later process */
	TSK_RD_LIVE = 1, /* the process exists and its start time matches */
};

/* One segment file found in a directory. */
typedef struct tsk_rd_seg {
	char path[256];       /* dir/taskscope.<pid>.<start> */
	int32_t pid;          /* from the file name */
	uint64_t start_ticks; /* from the file name */
	int liveness;         /* enum tsk_rd_liveness */
	int err;              /* 0, or why the header could not be read or disagrees
	                         with the name (the fields below are then zero) */
	char program[64];     /* from the header, NUL-terminated */
	uint32_t state;       /* enum tsk_seg_state */
	int64_t heartbeat_ns; /* CLOCK_MONOTONIC of the writer's last heartbeat */
	int64_t created_realtime_ns;
	int32_t reader_pid; /* attached reader, 0 none */
	uint64_t segment_size;
} tsk_rd_seg;

/* Lists every taskscope.<pid>.<start> file in dir (NULL: TSK_SEG_DIR),
 * sorted by pid then start.  *out (free with tsk_reader_list_free) and *n
 * are set on success.  Unreadable or corrupt files are listed with err set.
 * Returns the count, -EINVAL, -ENOMEM or -errno of opendir. */
int tsk_reader_list(const char *dir, tsk_rd_seg **out, size_t *n);

void tsk_reader_list_free(tsk_rd_seg *list);

/* Writes the path of pid's segment in dir (NULL: TSK_SEG_DIR) to path (cap
 * bytes): the one whose <start> is the process's start time, else the
 * newest (largest <start>).  Returns 0, -EINVAL, -ENAMETOOLONG,
 * TSK_RD_ENOSEG or -errno of opendir. */
int tsk_reader_find(const char *dir, pid_t pid, char *path, size_t cap);

/* TSK_RD_LIVE if process pid exists, is not a zombie, and started at
 * start_ticks; TSK_RD_DEAD otherwise. */
int tsk_reader_liveness(pid_t pid, uint64_t start_ticks);

/* The start time (field 22 of /proc/<pid>/stat) and the state letter
 * (field 3) of a process.  Returns 0, -ESRCH (no such process) or -EIO
 * (unparsable). */
int tsk_reader_proc_start(pid_t pid, uint64_t *start_ticks, char *state);

#endif /* TSK_READER_H */
