/*
 * reader.c - opening and validating a segment; strings, stacks, errors.
 *
 * A segment comes from another process and is untrusted: tsk_reader_open
 * reads the header with pread (no mapping yet), checks the magic, the
 * version, the header and segment sizes against the file, every section
 * (aligned, inside the file without overflow, count * stride within size,
 * no overlap with the header or another section) and ring_records, and only
 * then maps segment_size bytes: a file shorter than it claims is an error,
 * never a SIGBUS.  The validated section table is kept in r->info and is
 * the only one ever used afterwards (see reader_int.h).
 *
 * Strings and stacks are copied out entry by entry and checked on the copy,
 * so a writer changing bytes under us cannot make a check and a use see
 * different values.
 *
 * Errors: negative errno for system calls, TSK_RD_E* for bad segments.  The
 * failing function records a detailed message per thread (rd__fail), which
 * tsk_reader_strerror returns for that code.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "reader_int.h"

/* ---- errors ------------------------------------------------------------------ */

static const struct {
	int code;
	const char *msg;
} rd_errors[] = {
        {TSK_RD_EMAGIC, "not a taskscope segment (bad magic)"},
        {TSK_RD_EVERSION, "unsupported segment version"},
        {TSK_RD_EHEADER, "bad segment header"},
        {TSK_RD_ETRUNC, "segment truncated"},
        {TSK_RD_ESECTION, "bad segment section"},
        {TSK_RD_ERING, "bad ring size (ring_records not a power of two >= 2)"},
        {TSK_RD_ESTRID, "string id out of range"},
        {TSK_RD_ESTR, "corrupt string entry"},
        {TSK_RD_ESTACK, "stack id out of range or corrupt stack"},
        {TSK_RD_ENOSEG, "no taskscope segment for this process"},
};

static __thread int rd_last_code;
static __thread char rd_last_msg[256];
static __thread char rd_sys_msg[128];

int rd__fail(int code, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(rd_last_msg, sizeof(rd_last_msg), fmt, ap);
	va_end(ap);
	rd_last_code = code;
	return code;
}

const char *tsk_reader_strerror(int code)
{
	if (code == 0)
		return "success";
	if (code == rd_last_code && rd_last_msg[0])
		return rd_last_msg;
	for (size_t i = 0; i < sizeof(rd_errors) / sizeof(rd_errors[0]); i++)
		if (rd_errors[i].code == code)
			return rd_errors[i].msg;
	if (code < 0 && code > -4096)
		return strerror_r(-code, rd_sys_msg, sizeof(rd_sys_msg)); /* GNU: may not use buf */
	return "unknown error";
}

int64_t rd__now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

/* ---- validation ---------------------------------------------------------------- */

typedef struct {
	const char *name;
	const tsk_seg_section *s;
} rd_named;

/* One section: alignment, bounds (overflow-safe), stride and count.
 * min_stride is the item size the reader copies. */
static int check_section(const char *name, const tsk_seg_section *s, uint64_t header_size,
                         uint64_t seg_size, uint64_t min_stride)
{
	if (s->size == 0) {
		if (s->count != 0)
			return rd__fail(TSK_RD_ESECTION, "section %s: %u items in 0 bytes", name,
			                s->count);
		return 0;
	}
	if (s->off % 4096 != 0)
		return rd__fail(TSK_RD_ESECTION, "section %s: offset %#llx not 4 KiB aligned", name,
		                (unsigned long long)s->off);
	if (s->off < header_size)
		return rd__fail(TSK_RD_ESECTION, "section %s: offset %#llx inside the header", name,
		                (unsigned long long)s->off);
	if (s->off > seg_size || s->size > seg_size - s->off)
		return rd__fail(TSK_RD_ESECTION,
		                "section %s: %llu bytes at %#llx beyond the segment (%llu bytes)",
		                name, (unsigned long long)s->size, (unsigned long long)s->off,
		                (unsigned long long)seg_size);
	if (s->stride < min_stride || s->stride % 8 != 0)
		return rd__fail(TSK_RD_ESECTION,
		                "section %s: stride %u (need a multiple of 8 >= %llu)", name,
		                s->stride, (unsigned long long)min_stride);
	/* Both factors are 32-bit: the product cannot overflow 64 bits. */
	if ((uint64_t)s->count * s->stride > s->size)
		return rd__fail(TSK_RD_ESECTION,
		                "section %s: %u items of %u bytes exceed its %llu bytes", name,
		                s->count, s->stride, (unsigned long long)s->size);
	return 0;
}

/* Non-empty sections must not overlap (a reader in stream mode writes ring
 * tails: they must not land in another section). */
static int check_overlap(const rd_named *secs, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		for (size_t j = i + 1; j < n; j++) {
			const tsk_seg_section *a = secs[i].s, *b = secs[j].s;

			if (a->size == 0 || b->size == 0)
				continue;
			/* Both are inside the segment: no overflow here. */
			if (a->off < b->off + b->size && b->off < a->off + a->size)
				return rd__fail(TSK_RD_ESECTION, "sections %s and %s overlap",
				                secs[i].name, secs[j].name);
		}
	}
	return 0;
}

static int check_sections(const tsk_seg_header *hc)
{
	uint64_t hs = hc->header_size, ss = hc->segment_size;
	const rd_named secs[] = {
	        {"strings", &hc->strings}, {"tasks", &hc->tasks}, {"resources", &hc->resources},
	        {"stacks", &hc->stacks},   {"rings", &hc->rings},
	};
	int rc;

	if ((rc = check_section("strings", &hc->strings, hs, ss, 0)) < 0)
		return rc;
	if (hc->strings.size != 0 &&
	    (hc->strings.count != 1 || hc->strings.stride != hc->strings.size))
		return rd__fail(
		        TSK_RD_ESECTION,
		        "section strings: count %u and stride %u (need 1 and the size %llu)",
		        hc->strings.count, hc->strings.stride,
		        (unsigned long long)hc->strings.size);
	if ((rc = check_section("tasks", &hc->tasks, hs, ss, sizeof(tsk_seg_task))) < 0 ||
	    (rc = check_section("resources", &hc->resources, hs, ss, sizeof(tsk_seg_res))) < 0 ||
	    (rc = check_section("stacks", &hc->stacks, hs, ss, sizeof(tsk_seg_stack))) < 0)
		return rc;
	if (hc->stacks.count != 0 && hc->stack_depth > TSK_SEG_STACK_DEPTH)
		return rd__fail(TSK_RD_ESECTION, "section stacks: stack_depth %u above %u",
		                hc->stack_depth, TSK_SEG_STACK_DEPTH);
	if (hc->rings.count != 0) {
		uint32_t rr = hc->ring_records;

		if (rr < 2 || (rr & (rr - 1)) != 0)
			return rd__fail(TSK_RD_ERING, "ring_records %u is not a power of two >= 2",
			                rr);
		rc = check_section("rings", &hc->rings, hs, ss, tsk_seg_ring_stride(rr));
		if (rc < 0)
			return rc;
	} else if ((rc = check_section("rings", &hc->rings, hs, ss, 0)) < 0) {
		return rc;
	}
	return check_overlap(secs, sizeof(secs) / sizeof(secs[0]));
}

int rd__check_header(const tsk_seg_header *hc, uint64_t file_size)
{
	if (file_size < sizeof(hc->magic) || hc->magic != TSK_SEG_MAGIC)
		return rd__fail(TSK_RD_EMAGIC, "not a taskscope segment (bad magic)");
	if (file_size < offsetof(tsk_seg_header, header_size) + 4)
		return rd__fail(TSK_RD_ETRUNC, "segment truncated: %llu bytes, header incomplete",
		                (unsigned long long)file_size);
	if (hc->version != TSK_SEG_VERSION)
		return rd__fail(TSK_RD_EVERSION,
		                "unsupported segment version %u (this reader reads %u)",
		                hc->version, TSK_SEG_VERSION);
	if (file_size < sizeof(tsk_seg_header))
		return rd__fail(TSK_RD_ETRUNC, "segment truncated: %llu of at least %zu bytes",
		                (unsigned long long)file_size, sizeof(tsk_seg_header));
	if (hc->header_size < sizeof(tsk_seg_header) || hc->header_size % 8 != 0)
		return rd__fail(TSK_RD_EHEADER, "header_size %u (need a multiple of 8 >= %zu)",
		                hc->header_size, sizeof(tsk_seg_header));
	if (hc->segment_size < hc->header_size)
		return rd__fail(TSK_RD_EHEADER, "segment_size %llu smaller than the header (%u)",
		                (unsigned long long)hc->segment_size, hc->header_size);
	if (hc->segment_size > file_size)
		return rd__fail(TSK_RD_ETRUNC, "segment truncated: %llu of %llu bytes",
		                (unsigned long long)file_size,
		                (unsigned long long)hc->segment_size);
	if (hc->segment_size > (uint64_t)SIZE_MAX / 2)
		return rd__fail(TSK_RD_EHEADER, "segment_size %llu too large",
		                (unsigned long long)hc->segment_size);
	if (hc->pid <= 0)
		return rd__fail(TSK_RD_EHEADER, "bad pid %d in the header", hc->pid);
	return check_sections(hc);
}

/* ---- open and close ---------------------------------------------------------------- */

static void fill_info(tsk_rd_info *in, const tsk_seg_header *hc)
{
	in->pid = hc->pid;
	in->version = hc->version;
	in->proc_start_ticks = hc->proc_start_ticks;
	in->created_realtime_ns = hc->created_realtime_ns;
	in->created_mono_ns = hc->created_mono_ns;
	in->segment_size = hc->segment_size;
	memcpy(in->program, hc->program, sizeof(in->program));
	in->program[sizeof(in->program) - 1] = '\0';
	in->strings = hc->strings;
	in->tasks = hc->tasks;
	in->resources = hc->resources;
	in->stacks = hc->stacks;
	in->rings = hc->rings;
	in->ring_records = hc->ring_records;
	in->stack_depth = hc->stack_depth;
}

/* Reads n bytes at off; a short file gives a short count, not an error. */
static ssize_t read_at(int fd, void *buf, size_t n, uint64_t off)
{
	size_t got = 0;

	while (got < n) {
		ssize_t k = pread(fd, (uint8_t *)buf + got, n - got, (off_t)(off + got));
		if (k < 0 && errno == EINTR)
			continue;
		if (k < 0)
			return -errno;
		if (k == 0)
			break;
		got += (size_t)k;
	}
	return (ssize_t)got;
}

/* Copies [off, off + len) of the file into the copy (clamped to it). */
static int copy_range(tsk_reader *r, int fd, uint64_t off, uint64_t len)
{
	if (off >= r->info.segment_size)
		return 0;
	if (len > r->info.segment_size - off)
		len = r->info.segment_size - off;
	ssize_t got = read_at(fd, (uint8_t *)r->base + off, (size_t)len, off);
	if (got < 0)
		return rd__fail((int)got, "read: %s", strerror(-(int)got));
	if ((uint64_t)got < len)
		return rd__fail(TSK_RD_ETRUNC, "segment truncated at %llu bytes",
		                (unsigned long long)(off + (uint64_t)got));
	return 0;
}

/* A section's first `used` items (clamped to its count). */
static int copy_items(tsk_reader *r, int fd, const tsk_seg_section *sec, uint64_t used)
{
	if (used > sec->count)
		used = sec->count;
	return copy_range(r, fd, sec->off, used * sec->stride);
}

/* The copy of a segment: the header, then what the header's counters say
 * is in use: the strings, the task and resource slots below their high
 * water marks, the stacks, and in every ring claimed its header and the
 * records written (all of them once it has wrapped).  The rest of the
 * copy stays zero, as it is in the file. */
static int copy_used(tsk_reader *r, int fd)
{
	int rc;
	if ((rc = copy_range(r, fd, 0, sizeof(tsk_seg_header))) < 0)
		return rc;
	tsk_seg_header *h = (tsk_seg_header *)r->base;
	const tsk_rd_info *in = &r->info;
	uint64_t str_used = atomic_load_explicit(&h->str_used, memory_order_relaxed);
	if ((rc = copy_range(r, fd, in->strings.off,
	                     str_used < in->strings.size ? (str_used + 7) & ~7ull
	                                                 : in->strings.size)) < 0 ||
	    (rc = copy_items(r, fd, &in->tasks,
	                     atomic_load_explicit(&h->task_hwm, memory_order_relaxed))) < 0 ||
	    (rc = copy_items(r, fd, &in->resources,
	                     atomic_load_explicit(&h->res_hwm, memory_order_relaxed))) < 0 ||
	    (rc = copy_items(r, fd, &in->stacks,
	                     atomic_load_explicit(&h->stack_used, memory_order_relaxed))) < 0)
		return rc;
	uint32_t rings = atomic_load_explicit(&h->ring_used, memory_order_relaxed);
	if (rings > in->rings.count)
		rings = in->rings.count;
	for (uint32_t k = 0; k < rings; k++) {
		uint64_t off = in->rings.off + (uint64_t)k * in->rings.stride;
		if ((rc = copy_range(r, fd, off, sizeof(tsk_seg_ring))) < 0)
			return rc;
		const tsk_seg_ring *ring = (const tsk_seg_ring *)((uint8_t *)r->base + off);
		uint64_t head = atomic_load_explicit(&ring->head, memory_order_relaxed);
		uint64_t nrec = head < in->ring_records ? head : in->ring_records;
		if ((rc = copy_range(r, fd, off + sizeof(tsk_seg_ring),
		                     nrec * sizeof(tsk_seg_event))) < 0)
			return rc;
	}
	return 0;
}

/* Maps (or copies) the validated segment into r. */
static int map_segment(tsk_reader *r, int fd)
{
	size_t n = (size_t)r->info.segment_size;

	if (r->flags & TSK_RD_COPY) {
		/* zeroed pages cost nothing until touched: only what is in use
		 * is read (a segment is mostly free slots and empty rings) */
		r->base = calloc(1, n);
		if (!r->base)
			return rd__fail(-ENOMEM, "no memory for a %zu-byte copy of the segment", n);
		struct stat st;
		if (fstat(fd, &st) < 0)
			return rd__fail(-errno, "fstat: %s", strerror(errno));
		if ((uint64_t)st.st_size < n) /* shrunk since the first look */
			return rd__fail(TSK_RD_ETRUNC, "segment truncated: %llu of %zu bytes",
			                (unsigned long long)st.st_size, n);
		return copy_used(r, fd);
	}
	int prot = PROT_READ | ((r->flags & TSK_RD_WRITE) ? PROT_WRITE : 0);
	void *p = mmap(NULL, n, prot, MAP_SHARED, fd, 0);
	if (p == MAP_FAILED)
		return rd__fail(-errno, "mmap %zu bytes: %s", n, strerror(errno));
	r->base = p;
	r->mapped = 1;
	/* Shrunk between the first fstat and mmap?  Touching the mapping past
	 * the end would raise SIGBUS: check again now that it is mapped. */
	struct stat st;
	if (fstat(fd, &st) < 0)
		return rd__fail(-errno, "fstat: %s", strerror(errno));
	if ((uint64_t)st.st_size < r->info.segment_size)
		return rd__fail(TSK_RD_ETRUNC, "segment truncated: %llu of %llu bytes",
		                (unsigned long long)st.st_size,
		                (unsigned long long)r->info.segment_size);
	return 0;
}

int tsk_reader_open_fd(int fd, unsigned flags, tsk_reader **out)
{
	tsk_seg_header hc;
	struct stat st;
	tsk_reader *r;
	ssize_t got;
	int rc;

	if (!out || fd < 0 || (flags & ~(unsigned)(TSK_RD_WRITE | TSK_RD_COPY)) ||
	    (flags & TSK_RD_WRITE && flags & TSK_RD_COPY))
		return rd__fail(-EINVAL, "invalid argument");
	*out = NULL;
	if (fstat(fd, &st) < 0)
		return rd__fail(-errno, "fstat: %s", strerror(errno));
	if (!S_ISREG(st.st_mode))
		return rd__fail(-EINVAL, "not a regular file");
	memset(&hc, 0, sizeof(hc));
	got = read_at(fd, &hc, sizeof(hc), 0);
	if (got < 0)
		return rd__fail((int)got, "read: %s", strerror(-(int)got));
	/* A short read is the file's real size (it may have changed since fstat). */
	uint64_t fsize = (size_t)got < sizeof(hc) ? (uint64_t)got : (uint64_t)st.st_size;
	if ((rc = rd__check_header(&hc, fsize)) < 0)
		return rc;

	r = calloc(1, sizeof(*r));
	if (!r)
		return rd__fail(-ENOMEM, "out of memory");
	r->flags = flags;
	fill_info(&r->info, &hc);
	r->size = r->info.segment_size;
	r->rs = calloc(r->info.rings.count ? r->info.rings.count : 1, sizeof(*r->rs));
	if (!r->rs) {
		rc = rd__fail(-ENOMEM, "out of memory");
		goto fail_rs;
	}
	if ((rc = map_segment(r, fd)) < 0)
		goto fail_map;
	r->h = (tsk_seg_header *)r->base;
	*out = r;
	return 0;

fail_map:
	if (r->mapped)
		munmap(r->base, (size_t)r->size);
	else
		free(r->base);
	free(r->rs);
fail_rs:
	free(r);
	return rc;
}

int tsk_reader_open(const char *path, unsigned flags, tsk_reader **out)
{
	int fd, rc;

	if (!path || !out)
		return rd__fail(-EINVAL, "invalid argument");
	/* O_NONBLOCK: a FIFO planted under a segment name must not hang us. */
	fd = open(path, ((flags & TSK_RD_WRITE) ? O_RDWR : O_RDONLY) | O_CLOEXEC | O_NONBLOCK);
	if (fd < 0)
		return rd__fail(-errno, "open %s: %s", path, strerror(errno));
	rc = tsk_reader_open_fd(fd, flags, out);
	close(fd);
	if (rc == 0)
		snprintf((*out)->path, sizeof((*out)->path), "%s", path);
	return rc;
}

int tsk_reader_open_pid(pid_t pid, unsigned flags, tsk_reader **out)
{
	char path[256];
	int rc;

	if (!out)
		return rd__fail(-EINVAL, "invalid argument");
	if ((rc = tsk_reader_find(NULL, pid, path, sizeof(path))) < 0)
		return rc;
	return tsk_reader_open(path, flags, out);
}

void tsk_reader_close(tsk_reader *r)
{
	if (!r)
		return;
	if (r->attached)
		tsk_reader_ring_detach(r);
	if (r->mapped)
		munmap(r->base, (size_t)r->size);
	else
		free(r->base);
	free(r->rs);
	free(r->batch);
	free(r);
}

const tsk_rd_info *tsk_reader_info(const tsk_reader *r)
{
	return r ? &r->info : NULL;
}

const char *tsk_reader_path(const tsk_reader *r)
{
	return r ? r->path : "";
}

/* ---- strings and stacks --------------------------------------------------------- */

int tsk_reader_string(tsk_reader *r, uint32_t id, char *buf, size_t cap)
{
	char tmp[TSK_SEG_STR_MAX + 1];
	uint64_t used;
	uint32_t len;

	if (!r || (!buf && cap > 0))
		return rd__fail(-EINVAL, "invalid argument");
	if (cap > 0)
		buf[0] = '\0';
	if (id == 0)
		return 0;
	/* Acquire: pairs with the writer's release store of str_used after the
	 * entry's bytes; entries below it are complete and never change. */
	used = atomic_load_explicit(&r->h->str_used, memory_order_acquire);
	used = rd__clamp(used, r->info.strings.size);
	if (id % 4 != 0 || (uint64_t)id + 5 > used)
		return rd__fail(TSK_RD_ESTRID, "string id %u out of range (%llu bytes in use)", id,
		                (unsigned long long)used);
	len = rd__load32(r->base + r->info.strings.off + id);
	if (len > TSK_SEG_STR_MAX)
		return rd__fail(TSK_RD_ESTR, "string %u: length %u above %u", id, len,
		                TSK_SEG_STR_MAX);
	if ((uint64_t)id + 4 + len + 1 > used)
		return rd__fail(TSK_RD_ESTR, "string %u: %u bytes run past the table in use", id,
		                len);
	/* Check the copy, not the mapping: the bytes could change under us. */
	memcpy(tmp, r->base + r->info.strings.off + id + 4, (size_t)len + 1);
	if (tmp[len] != '\0')
		return rd__fail(TSK_RD_ESTR, "string %u: not NUL-terminated", id);
	if (cap > 0) {
		size_t n = len < cap - 1 ? len : cap - 1;
		memcpy(buf, tmp, n);
		buf[n] = '\0';
	}
	return (int)len;
}

int tsk_reader_stack(tsk_reader *r, uint32_t id, tsk_seg_stack *out)
{
	tsk_seg_stack st;
	uint64_t used;

	if (!r || !out)
		return rd__fail(-EINVAL, "invalid argument");
	/* Acquire: pairs with the writer's release store of stack_used after
	 * the entry is written. */
	used = atomic_load_explicit(&r->h->stack_used, memory_order_acquire);
	used = rd__clamp(used, r->info.stacks.count);
	if (id == 0 || id > used)
		return rd__fail(TSK_RD_ESTACK, "stack id %u out of range (%llu in use)", id,
		                (unsigned long long)used);
	rd__copy_words(&st, rd__item(r, &r->info.stacks, id - 1), sizeof(st));
	if (st.nframes > r->info.stack_depth || st.nframes > TSK_SEG_STACK_DEPTH)
		return rd__fail(TSK_RD_ESTACK, "stack %u: %u frames, more than %u", id, st.nframes,
		                r->info.stack_depth);
	memset(&st.frames[st.nframes], 0,
	       (TSK_SEG_STACK_DEPTH - st.nframes) * sizeof(st.frames[0]));
	*out = st;
	return 0;
}
