/*
 * test_reader.c - tests of probes/src/reader.c: opening and validating a
 * segment, strings, stacks and error messages.
 *
 * Every validation path: bad magic, version, header size, truncated files
 * (shorter than the header, shorter than segment_size), sections beyond
 * the file, overflowing offsets, misaligned or overlapping sections, bad
 * strides and counts, ring_records not a power of two, a bad pid; then
 * every string check (id out of range, misaligned, too long, running past
 * the table, unterminated, a hostile str_used) and every stack check.  Each
 * corrupt segment is made by the test writer and one poked field.  Every
 * test ends by checking that no file descriptor leaked.
 */
#include <fcntl.h>
#include <sys/stat.h>

#include "probes/probes_test.h"

typedef pt_fixture fixture;

/* Opens f's segment, expecting code; on success closes it again.  Returns
 * the message of the failure. */
static const char *open_expect(fixture *f, unsigned flags, int code)
{
	tsk_reader *r = NULL;
	int rc = tsk_reader_open(f->path, flags, &r);

	if (rc != code)
		fprintf(stderr, "open: %d (%s), expected %d\n", rc, tsk_reader_strerror(rc), code);
	assert_int_equal(rc, code);
	if (rc == 0) {
		assert_non_null(r);
		tsk_reader_close(r);
		return "";
	}
	assert_null(r);
	return tsk_reader_strerror(rc);
}

static void assert_contains(const char *msg, const char *want)
{
	if (!strstr(msg, want))
		fail_msg("message \"%s\" lacks \"%s\"", msg, want);
}

/* ---- a valid segment -------------------------------------------------------- */

static void test_open_valid(void **state)
{
	fixture *f = *state;
	const tsk_rd_info *in;
	tsk_reader *r;

	assert_int_equal(tsk_reader_open(f->path, 0, &r), 0);
	in = tsk_reader_info(r);
	assert_int_equal(in->pid, getpid());
	assert_int_equal(in->version, TSK_SEG_VERSION);
	assert_string_equal(in->program, "sw-test");
	assert_int_equal(in->segment_size, f->seg.size);
	assert_int_equal(in->tasks.count, 32);
	assert_int_equal(in->ring_records, 8);
	assert_string_equal(tsk_reader_path(r), f->path);
	tsk_reader_close(r);
	tsk_reader_close(NULL);
	assert_string_equal(tsk_reader_strerror(0), "success");

	/* Read-write and private-copy opens. */
	open_expect(f, TSK_RD_WRITE, 0);
	open_expect(f, TSK_RD_COPY, 0);
	/* By fd: the descriptor stays the caller's. */
	int fd = open(f->path, O_RDONLY);
	assert_true(fd >= 0);
	assert_int_equal(tsk_reader_open_fd(fd, 0, &r), 0);
	assert_string_equal(tsk_reader_path(r), "");
	tsk_reader_close(r);
	assert_int_equal(close(fd), 0);
}

static void test_open_bad_args(void **state)
{
	fixture *f = *state;
	tsk_reader *r = (tsk_reader *)1;

	assert_int_equal(tsk_reader_open(NULL, 0, &r), -EINVAL);
	assert_int_equal(tsk_reader_open(f->path, 0, NULL), -EINVAL);
	assert_int_equal(tsk_reader_open(f->path, TSK_RD_WRITE | TSK_RD_COPY, &r), -EINVAL);
	assert_int_equal(tsk_reader_open(f->path, 1u << 7, &r), -EINVAL);
	assert_int_equal(tsk_reader_open_fd(-1, 0, &r), -EINVAL);
	r = NULL;
	assert_int_equal(tsk_reader_open("/nonexistent/taskscope.1.1", 0, &r), -ENOENT);
	assert_contains(tsk_reader_strerror(-ENOENT), "/nonexistent/taskscope.1.1");
	assert_null(r);
	/* A directory, and a FIFO (must not block). */
	assert_int_equal(tsk_reader_open(f->dir, 0, &r), -EINVAL);
	assert_contains(tsk_reader_strerror(-EINVAL), "not a regular file");
	char fifo[160];
	snprintf(fifo, sizeof(fifo), "%s/fifo", f->dir);
	assert_int_equal(mkfifo(fifo, 0600), 0);
	assert_int_equal(tsk_reader_open(fifo, 0, &r), -EINVAL);
	/* An unknown code, a system code, a reader code with no recent failure. */
	assert_string_equal(tsk_reader_strerror(-99999), "unknown error");
	assert_non_null(strstr(tsk_reader_strerror(-EACCES), "ermission"));
	assert_string_equal(tsk_reader_strerror(TSK_RD_ENOSEG),
	                    "no taskscope segment for this process");
}

/* ---- header validation -------------------------------------------------------- */

static void test_bad_magic(void **state)
{
	fixture *f = *state;

	f->seg.h->magic ^= 1;
	assert_string_equal(open_expect(f, 0, TSK_RD_EMAGIC),
	                    "not a taskscope segment (bad magic)");
	/* An empty file and a 3-byte one are not segments either. */
	assert_int_equal(ftruncate(f->seg.fd, 3), 0);
	open_expect(f, 0, TSK_RD_EMAGIC);
	assert_int_equal(ftruncate(f->seg.fd, 0), 0);
	open_expect(f, 0, TSK_RD_EMAGIC);
	assert_int_equal(ftruncate(f->seg.fd, (off_t)f->seg.size), 0);
}

static void test_bad_version(void **state)
{
	fixture *f = *state;

	f->seg.h->version = 2;
	assert_string_equal(open_expect(f, 0, TSK_RD_EVERSION),
	                    "unsupported segment version 2 (this reader reads 1)");
	f->seg.h->version = 0;
	open_expect(f, 0, TSK_RD_EVERSION);
}

static void test_bad_header_fields(void **state)
{
	fixture *f = *state;
	tsk_seg_header *h = f->seg.h;

	h->header_size = 4000;
	assert_contains(open_expect(f, 0, TSK_RD_EHEADER), "header_size 4000");
	h->header_size = 4097; /* not a multiple of 8 */
	open_expect(f, 0, TSK_RD_EHEADER);
	h->header_size = 4096;
	h->pid = 0;
	assert_contains(open_expect(f, 0, TSK_RD_EHEADER), "bad pid 0");
	h->pid = -5;
	open_expect(f, 0, TSK_RD_EHEADER);
	h->pid = getpid();
	uint64_t size = h->segment_size;
	h->segment_size = 100;
	assert_contains(open_expect(f, 0, TSK_RD_EHEADER), "smaller than the header");
	h->segment_size = size;
	open_expect(f, 0, 0);
}

static void test_truncated(void **state)
{
	fixture *f = *state;
	char want[128];

	/* Shorter than segment_size: an error before any mapping, never SIGBUS. */
	assert_int_equal(ftruncate(f->seg.fd, 4096), 0);
	snprintf(want, sizeof(want), "segment truncated: 4096 of %llu bytes",
	         (unsigned long long)f->seg.size);
	assert_string_equal(open_expect(f, 0, TSK_RD_ETRUNC), want);
	open_expect(f, TSK_RD_COPY, TSK_RD_ETRUNC);
	/* Shorter than the header itself. */
	assert_int_equal(ftruncate(f->seg.fd, 100), 0);
	assert_contains(open_expect(f, 0, TSK_RD_ETRUNC), "100 of at least 4096");
	/* segment_size larger than the file. */
	assert_int_equal(ftruncate(f->seg.fd, (off_t)f->seg.size), 0);
	open_expect(f, 0, 0);
	f->seg.h->segment_size += 4096;
	open_expect(f, 0, TSK_RD_ETRUNC);
	f->seg.h->segment_size -= 4096;
	/* A longer file is fine: only segment_size bytes are mapped. */
	assert_int_equal(ftruncate(f->seg.fd, (off_t)f->seg.size + 8192), 0);
	open_expect(f, 0, 0);
}

static void test_section_bounds(void **state)
{
	fixture *f = *state;
	tsk_seg_header *h = f->seg.h;
	tsk_seg_section save = h->tasks;

	/* Beyond the file. */
	h->tasks.off = h->segment_size;
	assert_contains(open_expect(f, 0, TSK_RD_ESECTION), "section tasks");
	h->tasks = save;
	h->tasks.size = h->segment_size; /* off + size past the end */
	assert_contains(open_expect(f, 0, TSK_RD_ESECTION), "beyond the segment");
	h->tasks = save;
	/* off + size overflows 64 bits. */
	h->tasks.off = UINT64_MAX & ~(uint64_t)4095;
	open_expect(f, 0, TSK_RD_ESECTION);
	h->tasks.off = 4096 * 3;
	h->tasks.size = UINT64_MAX - 4096;
	open_expect(f, 0, TSK_RD_ESECTION);
	h->tasks = save;
	/* Misaligned, or inside the header. */
	h->tasks.off += 8;
	assert_contains(open_expect(f, 0, TSK_RD_ESECTION), "not 4 KiB aligned");
	h->tasks.off = 0;
	assert_contains(open_expect(f, 0, TSK_RD_ESECTION), "inside the header");
	h->tasks = save;
	/* count * stride beyond size, a short or odd stride. */
	h->tasks.count = h->tasks.count + 1;
	assert_contains(open_expect(f, 0, TSK_RD_ESECTION), "exceed");
	h->tasks = save;
	h->tasks.stride = 64;
	assert_contains(open_expect(f, 0, TSK_RD_ESECTION), "stride 64");
	h->tasks.stride = 132;
	open_expect(f, 0, TSK_RD_ESECTION);
	h->tasks = save;
	/* Items in a zero-size section. */
	save = h->stacks;
	h->stacks.size = 0;
	open_expect(f, 0, TSK_RD_ESECTION);
	h->stacks.count = 0;
	open_expect(f, 0, 0); /* an empty section is fine */
	h->stacks = save;
}

static void test_section_overlap(void **state)
{
	fixture *f = *state;
	tsk_seg_header *h = f->seg.h;
	tsk_seg_section save = h->resources;

	h->resources.off = h->tasks.off;
	assert_string_equal(open_expect(f, 0, TSK_RD_ESECTION),
	                    "sections tasks and resources overlap");
	h->resources = save;
	/* Strings must be count 1, stride = size. */
	h->strings.count = 2;
	assert_contains(open_expect(f, 0, TSK_RD_ESECTION), "section strings");
	h->strings.count = 1;
	h->strings.stride = 8;
	open_expect(f, 0, TSK_RD_ESECTION);
	h->strings.stride = (uint32_t)h->strings.size;
	/* A stack depth beyond the entry's frames. */
	h->stack_depth = TSK_SEG_STACK_DEPTH + 1;
	assert_contains(open_expect(f, 0, TSK_RD_ESECTION), "stack_depth 32");
	h->stack_depth = TSK_SEG_STACK_DEPTH;
	open_expect(f, 0, 0);
}

static void test_ring_records(void **state)
{
	fixture *f = *state;
	tsk_seg_header *h = f->seg.h;

	h->ring_records = 12;
	assert_string_equal(open_expect(f, 0, TSK_RD_ERING),
	                    "ring_records 12 is not a power of two >= 2");
	h->ring_records = 0;
	open_expect(f, 0, TSK_RD_ERING);
	h->ring_records = 1;
	open_expect(f, 0, TSK_RD_ERING);
	/* A power of two whose blocks do not fit the stride. */
	h->ring_records = 16;
	assert_contains(open_expect(f, 0, TSK_RD_ESECTION), "section rings");
	h->ring_records = 1u << 31;
	open_expect(f, 0, TSK_RD_ESECTION);
	h->ring_records = 4; /* smaller rings in larger blocks are fine */
	open_expect(f, 0, 0);
	/* No rings: ring_records does not matter. */
	h->rings.count = 0;
	h->ring_records = 0;
	open_expect(f, 0, 0);
}

/* The section table is taken once: rewriting it after open changes nothing. */
static void test_layout_copied_at_open(void **state)
{
	fixture *f = *state;
	uint32_t id = sw_str(&f->seg, "still here");
	tsk_reader *r;
	char buf[32];

	assert_int_equal(tsk_reader_open(f->path, 0, &r), 0);
	f->seg.h->strings.off = UINT64_MAX & ~(uint64_t)4095;
	f->seg.h->strings.size = UINT64_MAX;
	f->seg.h->tasks.count = UINT32_MAX;
	assert_int_equal(tsk_reader_string(r, id, buf, sizeof(buf)), 10);
	assert_string_equal(buf, "still here");
	assert_int_equal(tsk_reader_info(r)->tasks.count, 32);
	tsk_reader_close(r);
}

/* ---- strings ---------------------------------------------------------------------- */

static void test_strings(void **state)
{
	fixture *f = *state;
	uint32_t a = sw_str(&f->seg, "main.c:12 main");
	uint32_t b = sw_str(&f->seg, "");
	uint32_t c = sw_str(&f->seg, "x");
	tsk_reader *r;
	char buf[64], small[4];

	assert_int_equal(a, 8);
	assert_int_equal(tsk_reader_open(f->path, 0, &r), 0);
	assert_int_equal(tsk_reader_string(r, a, buf, sizeof(buf)), 14);
	assert_string_equal(buf, "main.c:12 main");
	assert_int_equal(tsk_reader_string(r, b, buf, sizeof(buf)), 0);
	assert_string_equal(buf, "");
	assert_int_equal(tsk_reader_string(r, c, buf, sizeof(buf)), 1);
	assert_string_equal(buf, "x");
	assert_int_equal(tsk_reader_string(r, 0, buf, sizeof(buf)), 0);
	assert_string_equal(buf, "");
	/* Cut to the buffer, the full length returned; cap 0 writes nothing. */
	assert_int_equal(tsk_reader_string(r, a, small, sizeof(small)), 14);
	assert_string_equal(small, "mai");
	assert_int_equal(tsk_reader_string(r, a, NULL, 0), 14);
	assert_int_equal(tsk_reader_string(r, a, NULL, 5), -EINVAL);
	assert_int_equal(tsk_reader_string(NULL, a, buf, sizeof(buf)), -EINVAL);
	/* A string appended after open is visible. */
	uint32_t d = sw_str(&f->seg, "later");
	assert_int_equal(tsk_reader_string(r, d, buf, sizeof(buf)), 5);
	/* A long string is stored cut to TSK_SEG_STR_MAX. */
	char *lng = malloc(2000);
	assert_non_null(lng);
	memset(lng, 'a', 1999);
	lng[1999] = '\0';
	uint32_t e = sw_str(&f->seg, lng);
	assert_int_equal(tsk_reader_string(r, e, lng, 2000), TSK_SEG_STR_MAX);
	assert_int_equal(strlen(lng), TSK_SEG_STR_MAX);
	free(lng);
	tsk_reader_close(r);
}

static void test_string_errors(void **state)
{
	fixture *f = *state;
	uint32_t a = sw_str(&f->seg, "abc");
	uint32_t b = sw_str(&f->seg, "defgh");
	uint8_t *tab = f->seg.base + f->seg.h->strings.off;
	uint64_t used = f->seg.h->str_used;
	tsk_reader *r;
	char buf[64];
	uint32_t len;

	assert_int_equal(tsk_reader_open(f->path, 0, &r), 0);
	/* Out of the table in use, out of the table, misaligned. */
	assert_int_equal(tsk_reader_string(r, (uint32_t)used, buf, sizeof(buf)), TSK_RD_ESTRID);
	assert_contains(tsk_reader_strerror(TSK_RD_ESTRID), "out of range");
	assert_string_equal(buf, "");
	assert_int_equal(tsk_reader_string(r, 1u << 30, buf, sizeof(buf)), TSK_RD_ESTRID);
	assert_int_equal(tsk_reader_string(r, UINT32_MAX - 3, buf, sizeof(buf)), TSK_RD_ESTRID);
	assert_int_equal(tsk_reader_string(r, a + 1, buf, sizeof(buf)), TSK_RD_ESTRID);
	/* A length above TSK_SEG_STR_MAX. */
	len = TSK_SEG_STR_MAX + 1;
	memcpy(tab + a, &len, 4);
	assert_int_equal(tsk_reader_string(r, a, buf, sizeof(buf)), TSK_RD_ESTR);
	assert_contains(tsk_reader_strerror(TSK_RD_ESTR), "above 1024");
	/* A length running past str_used. */
	len = 64;
	memcpy(tab + b, &len, 4);
	assert_int_equal(tsk_reader_string(r, b, buf, sizeof(buf)), TSK_RD_ESTR);
	assert_contains(tsk_reader_strerror(TSK_RD_ESTR), "past the table");
	/* Unterminated: the NUL replaced. */
	len = 3;
	memcpy(tab + a, &len, 4);
	assert_int_equal(tsk_reader_string(r, a, buf, sizeof(buf)), 3);
	tab[a + 4 + 3] = 'X';
	assert_int_equal(tsk_reader_string(r, a, buf, sizeof(buf)), TSK_RD_ESTR);
	assert_contains(tsk_reader_strerror(TSK_RD_ESTR), "not NUL-terminated");
	/* An embedded NUL is copied, the caller's string reads shorter. */
	tab[a + 4 + 3] = '\0';
	tab[a + 4 + 1] = '\0';
	assert_int_equal(tsk_reader_string(r, a, buf, sizeof(buf)), 3);
	assert_string_equal(buf, "a");
	/* A hostile str_used beyond the table is clamped to the table: an
	 * entry whose length runs off the table's end is refused. */
	uint64_t tsize = f->seg.h->strings.size;
	f->seg.h->str_used = UINT64_MAX;
	uint32_t last = (uint32_t)tsize - 8;
	len = 100;
	memcpy(tab + last, &len, 4);
	assert_int_equal(tsk_reader_string(r, last, buf, sizeof(buf)), TSK_RD_ESTR);
	assert_int_equal(tsk_reader_string(r, (uint32_t)tsize, buf, sizeof(buf)), TSK_RD_ESTRID);
	f->seg.h->str_used = used;
	tsk_reader_close(r);
}

/* ---- stacks ------------------------------------------------------------------------ */

static void test_stacks(void **state)
{
	fixture *f = *state;
	uint64_t pcs[3] = {0x401000, 0x401100, 0x401200};
	uint32_t syms[3] = {sw_str(&f->seg, "f+0x10"), sw_str(&f->seg, "g+0x2"), 0};
	uint32_t id = sw_stack(&f->seg, pcs, syms, 3);
	tsk_seg_stack st;
	tsk_reader *r;
	char buf[32];

	assert_int_equal(id, 1);
	assert_int_equal(tsk_reader_open(f->path, 0, &r), 0);
	memset(&st, 0xff, sizeof(st));
	assert_int_equal(tsk_reader_stack(r, id, &st), 0);
	assert_int_equal(st.nframes, 3);
	assert_int_equal(st.frames[1].pc, 0x401100);
	assert_int_equal(st.frames[3].pc, 0); /* zeroed past nframes */
	assert_int_equal(tsk_reader_string(r, st.frames[0].sym, buf, sizeof(buf)), 6);
	assert_string_equal(buf, "f+0x10");
	assert_int_equal(tsk_reader_stack(r, 0, &st), TSK_RD_ESTACK);
	assert_int_equal(tsk_reader_stack(r, 2, &st), TSK_RD_ESTACK);
	assert_contains(tsk_reader_strerror(TSK_RD_ESTACK), "stack id 2 out of range (1 in use)");
	assert_int_equal(tsk_reader_stack(r, 1, NULL), -EINVAL);
	/* A hostile stack_used is clamped to the section. */
	f->seg.h->stack_used = UINT32_MAX;
	assert_int_equal(tsk_reader_stack(r, 8, &st), 0);
	assert_int_equal(tsk_reader_stack(r, 9, &st), TSK_RD_ESTACK);
	/* More frames than the depth. */
	tsk_seg_stack *raw = (tsk_seg_stack *)(f->seg.base + f->seg.h->stacks.off);
	raw->nframes = TSK_SEG_STACK_DEPTH + 1;
	assert_int_equal(tsk_reader_stack(r, 1, &st), TSK_RD_ESTACK);
	assert_contains(tsk_reader_strerror(TSK_RD_ESTACK), "32 frames");
	raw->nframes = UINT32_MAX;
	assert_int_equal(tsk_reader_stack(r, 1, &st), TSK_RD_ESTACK);
	tsk_reader_close(r);
}

/* Error messages are per thread and per code. */
static void test_strerror_detail(void **state)
{
	fixture *f = *state;

	f->seg.h->version = 9;
	open_expect(f, 0, TSK_RD_EVERSION);
	f->seg.h->magic = 0;
	open_expect(f, 0, TSK_RD_EMAGIC);
	/* The detailed message belongs to the last failure; an earlier code
	 * falls back to its generic message. */
	assert_string_equal(tsk_reader_strerror(TSK_RD_EVERSION), "unsupported segment version");
	assert_string_equal(tsk_reader_strerror(TSK_RD_EMAGIC),
	                    "not a taskscope segment (bad magic)");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test_setup_teardown(test_open_valid, pt_setup, pt_teardown),
	        cmocka_unit_test_setup_teardown(test_open_bad_args, pt_setup, pt_teardown),
	        cmocka_unit_test_setup_teardown(test_bad_magic, pt_setup, pt_teardown),
	        cmocka_unit_test_setup_teardown(test_bad_version, pt_setup, pt_teardown),
	        cmocka_unit_test_setup_teardown(test_bad_header_fields, pt_setup, pt_teardown),
	        cmocka_unit_test_setup_teardown(test_truncated, pt_setup, pt_teardown),
	        cmocka_unit_test_setup_teardown(test_section_bounds, pt_setup, pt_teardown),
	        cmocka_unit_test_setup_teardown(test_section_overlap, pt_setup, pt_teardown),
	        cmocka_unit_test_setup_teardown(test_ring_records, pt_setup, pt_teardown),
	        cmocka_unit_test_setup_teardown(test_layout_copied_at_open, pt_setup, pt_teardown),
	        cmocka_unit_test_setup_teardown(test_strings, pt_setup, pt_teardown),
	        cmocka_unit_test_setup_teardown(test_string_errors, pt_setup, pt_teardown),
	        cmocka_unit_test_setup_teardown(test_stacks, pt_setup, pt_teardown),
	        cmocka_unit_test_setup_teardown(test_strerror_detail, pt_setup, pt_teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
