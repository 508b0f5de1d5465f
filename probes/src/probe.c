/*
 * probe.c - the writer side of the segment: creation, slot allocation,
 * ring claims, the slow path of probe_emit, calibration.
 *
 * One segment per process (tsk_segment.h), created by the first tsk_run and
 * kept across later ones; unlinked at a clean process exit unless
 * TASKSCOPE_KEEP=1, left behind on a crash or a kill so that `taskscope
 * dump` can read it.  A forked child stops writing to its parent's segment.
 *
 * Process-local bookkeeping (never in the segment, so a reader never has to
 * trust it): the free lists of task and resource slots, behind one
 * spinlock, touched on spawn, create and destroy, never per event.  String
 * interning is pstr.c's.
 *
 * Workload: a spawn or a resource creation costs one slot allocation and a
 * cached intern (tens of ns); an event costs a few stores.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "probe_int.h"
#include "tsk_probe.h"

atomic_int probe__on;
tsk_seg_header *probe__hdr;
tsk_seg_task *probe__tasks;
tsk_seg_res *probe__res;
__thread probe_ring *probe__ring __attribute__((tls_model("initial-exec")));

#define TASK_SLOTS         262144
#define RES_SLOTS          262144
#define STR_BYTES          (4u << 20)
#define STACK_ENTRIES      8192
#define RING_BYTES_DEFAULT (4u << 20)

/* A tiny test-and-set lock: cold paths only. */
typedef struct plock {
	atomic_flag f;
} plock;
static void plock_lock(plock *l)
{
	while (atomic_flag_test_and_set_explicit(&l->f, memory_order_acquire))
		sched_yield();
}
static void plock_unlock(plock *l)
{
	atomic_flag_clear_explicit(&l->f, memory_order_release);
}

static struct {
	plock lock;          /* guards creation, the free lists and rings */
	size_t size;         /* mapping length */
	char path[128];      /* file name, for unlink */
	uint32_t *task_free; /* free task slots (stack) */
	uint32_t ntask_free;
	uint32_t *res_free; /* free resource slots */
	uint32_t nres_free;
	probe_ring *rings; /* process-local writer state per ring */
	char *ring_base;   /* first ring block */
	uint64_t ring_stride;
	bool keep;                          /* TASKSCOPE_KEEP=1 */
	bool disabled;                      /* TASKSCOPE=off, or creation failed once */
	pid_t pid;                          /* creator, to detect a forked child */
	atomic_uint_fast64_t calib_next;    /* tsc of the next calibration */
	atomic_uint_fast64_t tsc_per_100ms; /* estimate */
} P;

/* Free task slots kept by each thread: a spawn+join pair then takes no
 * lock.  Refilled and drained in halves; given back when the thread
 * detaches (worker threads end with each tsk_run). */
#define SLOT_CACHE 64
static __thread uint32_t slot_cache[SLOT_CACHE];
static __thread int nslot_cache;

/* ---- creation ----------------------------------------------------------- */

static int64_t clock_ns(clockid_t c)
{
	struct timespec ts;
	clock_gettime(c, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static uint64_t proc_start_ticks(void)
{
	char buf[1024];
	unsigned long long v = 0;
	int fd = open("/proc/self/stat", O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return 0;
	ssize_t n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return 0;
	buf[n] = '\0';
	/* the command name may contain spaces and parentheses: skip past the
	 * last ')' then count fields (starttime is field 22) */
	char *p = strrchr(buf, ')');
	if (!p)
		return 0;
	p++;
	for (int field = 3; field < 22 && p; field++)
		p = strchr(p + 1, ' ');
	if (p)
		sscanf(p + 1, "%llu", &v);
	return v;
}

static uint64_t parse_size(const char *s, uint64_t dflt)
{
	char *end;
	if (!s || !*s)
		return dflt;
	unsigned long long v = strtoull(s, &end, 10);
	if (*end == 'k' || *end == 'K')
		v <<= 10;
	else if (*end == 'm' || *end == 'M')
		v <<= 20;
	else if (*end == 'g' || *end == 'G')
		v <<= 30;
	return v ? v : dflt;
}

static uint64_t align_up(uint64_t v, uint64_t a)
{
	return (v + a - 1) / a * a;
}

static void at_exit(void)
{
	if (!PROBE_ON() || getpid() != P.pid)
		return;
	atomic_store(&probe__hdr->state, TSK_SEG_EXITED);
	if (!P.keep)
		unlink(P.path);
}

static void at_fork_child(void)
{
	/* the child must not write into its parent's segment */
	atomic_store(&probe__on, 0);
	probe__ring = NULL;
}

static void section(tsk_seg_section *s, uint64_t *off, uint32_t count, uint32_t stride)
{
	s->off = *off;
	s->count = count;
	s->stride = stride;
	s->size = (uint64_t)count * stride;
	*off = align_up(*off + s->size, 4096);
}

static int create_segment(int nworkers)
{
	tsk_seg_header h;
	uint64_t ring_bytes = parse_size(getenv("TASKSCOPE_RING"), RING_BYTES_DEFAULT);
	uint32_t records = 64;
	while ((uint64_t)records * 2 * sizeof(tsk_seg_event) <= ring_bytes && records < (1u << 26))
		records *= 2;
	long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
	uint32_t nrings = (uint32_t)(2 * (ncpu > 0 ? ncpu : 1) + 8);
	if ((uint32_t)nworkers + 8 > nrings)
		nrings = (uint32_t)nworkers + 8;
	if (nrings > 1024)
		nrings = 1024;

	memset(&h, 0, sizeof(h));
	h.magic = TSK_SEG_MAGIC;
	h.version = TSK_SEG_VERSION;
	h.header_size = sizeof(h);
	h.pid = getpid();
	h.proc_start_ticks = proc_start_ticks();
	h.created_realtime_ns = clock_ns(CLOCK_REALTIME);
	h.created_mono_ns = clock_ns(CLOCK_MONOTONIC);
	snprintf(h.program, sizeof(h.program), "%s", program_invocation_short_name);
#if defined(__x86_64__) || defined(__i386__)
	h.tsc_is_ns = 0;
#else
	h.tsc_is_ns = 1;
#endif
	h.cal_tsc0 = h.cal_tsc1 = probe_tsc();
	h.cal_mono0 = h.cal_mono1 = clock_ns(CLOCK_MONOTONIC);
	uint64_t off = 4096;
	section(&h.strings, &off, 1, STR_BYTES);
	section(&h.tasks, &off, TASK_SLOTS, sizeof(tsk_seg_task));
	section(&h.resources, &off, RES_SLOTS, sizeof(tsk_seg_res));
	section(&h.stacks, &off, STACK_ENTRIES, sizeof(tsk_seg_stack));
	section(&h.rings, &off, nrings, (uint32_t)tsk_seg_ring_stride(records));
	h.ring_records = records;
	h.stack_depth = TSK_SEG_STACK_DEPTH;
	h.segment_size = off;
	h.str_used = 4; /* id 0: the empty entry */
	h.state = TSK_SEG_RUNNING;
	h.nworkers = (uint32_t)nworkers;

	snprintf(P.path, sizeof(P.path), "%s/%s%d.%llu", TSK_SEG_DIR, TSK_SEG_PREFIX, h.pid,
	         (unsigned long long)h.proc_start_ticks);
	unlink(P.path); /* a leftover of a process with our pid and start time */
	int fd = open(P.path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0)
		return -errno;
	if (ftruncate(fd, (off_t)h.segment_size) != 0)
		goto fail_fd;
	void *m = mmap(NULL, h.segment_size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (m == MAP_FAILED)
		goto fail_fd;
	close(fd);

	P.task_free = malloc(TASK_SLOTS * sizeof(uint32_t));
	P.res_free = malloc(RES_SLOTS * sizeof(uint32_t));
	P.rings = calloc(nrings, sizeof(probe_ring));
	if (!P.task_free || !P.res_free || !P.rings) {
		munmap(m, h.segment_size);
		unlink(P.path);
		return -ENOMEM;
	}
	/* slots are handed out lowest first so task_hwm stays small */
	for (uint32_t i = 0; i < TASK_SLOTS; i++)
		P.task_free[i] = TASK_SLOTS - 1 - i;
	P.ntask_free = TASK_SLOTS;
	for (uint32_t i = 0; i < RES_SLOTS; i++)
		P.res_free[i] = RES_SLOTS - 1 - i;
	P.nres_free = RES_SLOTS;

	/* the header last: a reader that sees the magic sees a whole header */
	memcpy((char *)m + sizeof(h.magic), (char *)&h + sizeof(h.magic),
	       sizeof(h) - sizeof(h.magic));
	__atomic_store_n((uint64_t *)m, h.magic, __ATOMIC_RELEASE);

	P.size = h.segment_size;
	probe__str_start((char *)m + h.strings.off, h.strings.size);
	P.ring_base = (char *)m + h.rings.off;
	P.ring_stride = h.rings.stride;
	P.pid = h.pid;
	P.keep = getenv("TASKSCOPE_KEEP") && strcmp(getenv("TASKSCOPE_KEEP"), "1") == 0;
	probe__hdr = m;
	probe__tasks = (tsk_seg_task *)((char *)m + h.tasks.off);
	probe__res = (tsk_seg_res *)((char *)m + h.resources.off);
	atexit(at_exit);
	pthread_atfork(NULL, NULL, at_fork_child);
	return 0;

fail_fd:;
	int err = -errno;
	close(fd);
	unlink(P.path);
	return err;
}

int probe_runtime_start(int nworkers)
{
	int rc = 0;
	plock_lock(&P.lock);
	if (!probe__hdr && !P.disabled) {
		const char *e = getenv("TASKSCOPE");
		if (e && strcmp(e, "off") == 0) {
			P.disabled = true;
		} else if ((rc = create_segment(nworkers)) < 0) {
			P.disabled = true;
		}
	}
	if (probe__hdr && getpid() == P.pid) {
		atomic_store(&probe__hdr->nworkers, (uint32_t)nworkers);
		atomic_store(&probe__hdr->state, TSK_SEG_RUNNING);
		atomic_store(&probe__on, 1);
	}
	plock_unlock(&P.lock);
	return rc;
}

void probe_runtime_stop(void)
{
	if (PROBE_ON())
		atomic_store(&probe__hdr->state, TSK_SEG_IDLE);
}

/* ---- rings -------------------------------------------------------------- */

void probe_thread_attach(int worker)
{
	if (!PROBE_ON() || probe__ring)
		return;
	int32_t tid = (int32_t)syscall(SYS_gettid);
	uint32_t n = probe__hdr->rings.count;
	plock_lock(&P.lock);
	for (uint32_t i = 0; i < n; i++) {
		tsk_seg_ring *rh = (tsk_seg_ring *)(P.ring_base + i * P.ring_stride);
		int32_t zero = 0;
		if (!atomic_compare_exchange_strong(&rh->owner_tid, &zero, tid))
			continue;
		probe_ring *r = &P.rings[i];
		r->hdr = rh;
		r->rec = (tsk_seg_event *)(rh + 1);
		r->mask = probe__hdr->ring_records - 1;
		r->head = atomic_load(&rh->head);
		r->cached_tail = atomic_load(&rh->tail);
		r->pending_lost = 0;
		r->worker = worker >= 0 ? (uint16_t)worker : 0xffff;
		rh->worker = r->worker;
		if (i + 1 > atomic_load(&probe__hdr->ring_used))
			atomic_store(&probe__hdr->ring_used, i + 1);
		probe__ring = r;
		break;
	}
	plock_unlock(&P.lock);
}

void probe_thread_detach(void)
{
	if (nslot_cache) {
		plock_lock(&P.lock);
		while (nslot_cache)
			P.task_free[P.ntask_free++] = slot_cache[--nslot_cache];
		plock_unlock(&P.lock);
	}
	probe_ring *r = probe__ring;
	if (!r)
		return;
	probe__ring = NULL;
	atomic_store(&r->hdr->owner_tid, 0);
}

/* Stream mode with a full ring, or a loss to report.  Drops ev when the
 * reader has not made room; falls back to flight mode when the reader
 * stopped refreshing its heartbeat (it died without detaching). */
void probe__emit_slow(probe_ring *r, const tsk_seg_event *ev)
{
	/* acquire: pairs with the reader's release store of tail after it
	 * copied the records */
	r->cached_tail = atomic_load_explicit(&r->hdr->tail, memory_order_acquire);
	uint64_t need = r->pending_lost ? 2 : 1;
	/* at most ring_records - 1 unconsumed (see probe_emit) */
	if (r->head + need - r->cached_tail > r->mask) {
		r->pending_lost++;
		atomic_fetch_add_explicit(&r->hdr->lost, 1, memory_order_relaxed);
		if ((r->pending_lost & 1023) == 1) {
			int64_t hb = atomic_load(&probe__hdr->reader_heartbeat_ns);
			if (clock_ns(CLOCK_MONOTONIC) - hb > 2000000000LL) {
				atomic_store(&probe__hdr->mode, TSK_MODE_FLIGHT);
				atomic_store(&probe__hdr->reader_pid, 0);
			}
		}
		return;
	}
	if (r->pending_lost) {
		uint64_t lost = r->pending_lost;
		r->pending_lost = 0;
		tsk_seg_event *e = &r->rec[r->head & r->mask];
		PROBE_FENCE_RELEASE();
		*e = (tsk_seg_event){ev->tsc, 0, TSK_EV_LOST, r->worker, 0, 0, lost, 0, 0, 0, 0, 0};
		__atomic_store_n(&e->seq, (uint32_t)(r->head + 1), __ATOMIC_RELEASE);
		r->head++;
		atomic_store_explicit(&r->hdr->head, r->head, memory_order_release);
	}
	tsk_seg_event *e = &r->rec[r->head & r->mask];
	PROBE_FENCE_RELEASE();
	*e = *ev;
	e->seq = 0;
	__atomic_store_n(&e->seq, (uint32_t)(r->head + 1), __ATOMIC_RELEASE);
	r->head++;
	atomic_store_explicit(&r->hdr->head, r->head, memory_order_release);
}

/* ---- calibration --------------------------------------------------------- */

void probe_tick(uint64_t tsc)
{
	if (!PROBE_ON())
		return;
	uint64_t next = atomic_load_explicit(&P.calib_next, memory_order_relaxed);
	if (tsc < next)
		return;
	/* one thread refreshes: whoever moves calib_next (and takes the seqlock) */
	uint64_t period = atomic_load_explicit(&P.tsc_per_100ms, memory_order_relaxed);
	if (!period)
		period = 100000000;
	if (!atomic_compare_exchange_strong(&P.calib_next, &next, tsc + period))
		return;
	tsk_seg_header *h = probe__hdr;
	/* A second thread passes the CAS above too when the first one stalls
	 * for a whole period between it and here: the seqlock itself must
	 * exclude writers.  Taking it is moving its count from even to odd;
	 * acquire: pairs with the release that ended the previous write. */
	uint32_t s = atomic_load_explicit(&h->calib_seq, memory_order_relaxed);
	if ((s & 1) ||
	    !atomic_compare_exchange_strong_explicit(&h->calib_seq, &s, s + 1, memory_order_acquire,
	                                             memory_order_relaxed))
		return;
	int64_t mono = clock_ns(CLOCK_MONOTONIC);
	PROBE_FENCE_RELEASE();
	h->cal_tsc1 = tsc;
	h->cal_mono1 = mono;
	atomic_store_explicit(&h->calib_seq, s + 2, memory_order_release);
	if (mono > h->cal_mono0 && tsc > h->cal_tsc0)
		atomic_store_explicit(&P.tsc_per_100ms,
		                      (uint64_t)((double)(tsc - h->cal_tsc0) /
		                                 (double)(mono - h->cal_mono0) * 1e8),
		                      memory_order_relaxed);
	atomic_store_explicit(&h->heartbeat_ns, mono, memory_order_relaxed);
	probe_emit(TSK_EV_CALIB, tsc, 0, 0, (uint64_t)mono, 0, 0, 0, 0, 0);
}

/* ---- slots ---------------------------------------------------------------- */

static void copy_name(char *dst, size_t cap, const char *name)
{
	size_t n = name ? strnlen(name, cap - 1) : 0;
	memcpy(dst, name ? name : "", n);
	memset(dst + n, 0, cap - n);
}

uint32_t probe_task_slot_new(uint64_t id, uint64_t parent, const char *name, uint32_t site,
                             uint32_t flags, uint64_t tsc)
{
	if (!PROBE_ON())
		return 0;
	uint32_t i = UINT32_MAX;
	if (nslot_cache == 0) {
		plock_lock(&P.lock);
		while (nslot_cache < SLOT_CACHE / 2 && P.ntask_free)
			slot_cache[nslot_cache++] = P.task_free[--P.ntask_free];
		plock_unlock(&P.lock);
	}
	if (nslot_cache)
		i = slot_cache[--nslot_cache];
	if (i == UINT32_MAX) {
		atomic_fetch_add_explicit(&probe__hdr->task_overflow, 1, memory_order_relaxed);
		return 0;
	}
	tsk_seg_task *s = &probe__tasks[i];
	probe_slot_begin(&s->seq);
	s->state = TSK_TS_READY;
	s->wait_kind = TSK_WAIT_NONE;
	s->worker = 0xffff;
	s->id = id;
	s->parent = parent;
	s->wait_obj = 0;
	s->wait_deadline_ns = -1;
	s->since_tsc = tsc;
	s->spawned_tsc = tsc;
	s->spawn_site = site;
	s->wait_site = 0;
	s->label = 0;
	s->flags = flags;
	s->polls = 0;
	s->busy_tsc = 0;
	s->stack = 0;
	s->wakes = 0;
	copy_name(s->name, sizeof(s->name), name);
	probe_slot_end(&s->seq);
	/* relaxed max: readers scan [0, task_hwm) and skip free slots */
	uint32_t hwm = atomic_load_explicit(&probe__hdr->task_hwm, memory_order_relaxed);
	while (i + 1 > hwm && !atomic_compare_exchange_weak(&probe__hdr->task_hwm, &hwm, i + 1))
		;
	return i + 1;
}

void probe_task_slot_free(uint32_t slot)
{
	if (!slot || !PROBE_ON())
		return;
	tsk_seg_task *s = &probe__tasks[slot - 1];
	probe_slot_begin(&s->seq);
	s->id = 0;
	s->state = TSK_TS_FREE;
	probe_slot_end(&s->seq);
	if (!probe__ring) {
		/* a thread without a ring (it detached, e.g. tsk_run freeing
		 * unjoined tasks at its end) may never come back: no cache */
		plock_lock(&P.lock);
		P.task_free[P.ntask_free++] = slot - 1;
		plock_unlock(&P.lock);
		return;
	}
	if (nslot_cache == SLOT_CACHE) {
		plock_lock(&P.lock);
		while (nslot_cache > SLOT_CACHE / 2)
			P.task_free[P.ntask_free++] = slot_cache[--nslot_cache];
		plock_unlock(&P.lock);
	}
	slot_cache[nslot_cache++] = slot - 1;
}

uint32_t probe_res_slot_new(uint64_t id, int kind, const char *name, uint32_t site,
                            uint64_t capacity, uint64_t tsc)
{
	if (!PROBE_ON())
		return 0;
	plock_lock(&P.lock);
	uint32_t i = P.nres_free ? P.res_free[--P.nres_free] : UINT32_MAX;
	plock_unlock(&P.lock);
	if (i == UINT32_MAX) {
		atomic_fetch_add_explicit(&probe__hdr->res_overflow, 1, memory_order_relaxed);
		return 0;
	}
	tsk_seg_res *s = &probe__res[i];
	probe_slot_begin(&s->seq);
	s->kind = (uint8_t)kind;
	s->flags = 0;
	s->id = id;
	s->owner = 0;
	s->created_tsc = tsc;
	s->site = site;
	s->nreaders = 0;
	s->waiters = 0;
	s->value = 0;
	s->capacity = capacity;
	memset(s->readers, 0, sizeof(s->readers));
	copy_name(s->name, sizeof(s->name), name);
	probe_slot_end(&s->seq);
	uint32_t hwm = atomic_load_explicit(&probe__hdr->res_hwm, memory_order_relaxed);
	while (i + 1 > hwm && !atomic_compare_exchange_weak(&probe__hdr->res_hwm, &hwm, i + 1))
		;
	return i + 1;
}

void probe_res_slot_free(uint32_t slot)
{
	if (!slot || !PROBE_ON())
		return;
	tsk_seg_res *s = &probe__res[slot - 1];
	probe_slot_begin(&s->seq);
	s->id = 0;
	s->kind = TSK_RES_NONE;
	probe_slot_end(&s->seq);
	plock_lock(&P.lock);
	P.res_free[P.nres_free++] = slot - 1;
	plock_unlock(&P.lock);
}
