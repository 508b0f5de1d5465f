/*
 * probes_test.h - helpers shared by the reader and ring tests.
 *
 * A scratch directory per test (pt_dir_*), a deterministic event model
 * (pt_model_event: every field a different function of one number, so a
 * record mixed from two writes never passes pt_model_check), and an fd
 * count so every test can end by checking it leaked no descriptor (heap
 * leaks are LeakSanitizer's job in the address stage).
 */
#ifndef TSK_PROBES_TEST_H
#define TSK_PROBES_TEST_H

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "tsk_test.h"
#include "tsk_reader.h"
#include "probes/seg_writer.h"

/* Creates a fresh directory; dir must hold 64 bytes. */
static inline void pt_dir_make(char *dir)
{
	strcpy(dir, "/tmp/tsk-probes-XXXXXX");
	assert_non_null(mkdtemp(dir));
}

/* Removes the directory and every file in it. */
static inline void pt_dir_remove(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	char path[512];

	if (!d)
		return;
	while ((de = readdir(d))) {
		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
		unlink(path);
	}
	closedir(d);
	rmdir(dir);
}

/* Open file descriptors of this process. */
static inline int pt_fd_count(void)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *de;
	int n = 0;

	assert_non_null(d);
	while ((de = readdir(d)))
		n += de->d_name[0] != '.';
	closedir(d);
	return n - 1; /* the DIR's own */
}

static inline int64_t pt_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

/* The k-th event of a model stream. */
static inline tsk_seg_event pt_model_event(uint64_t k)
{
	tsk_seg_event ev = {
	        .tsc = 1000 + 3 * k,
	        .type = (uint16_t)(1 + k % 9),
	        .worker = (uint16_t)(k % 7),
	        .task = k * 2654435761u + 1,
	        .obj = ~k,
	        .arg = k,
	        .site = (uint32_t)(k * 4),
	        .str = (uint32_t)(k ^ 0x5a5a5a5au),
	        .a32 = (uint32_t)(k >> 3),
	        .b32 = (uint32_t)(k * 7 + 1),
	        .arg2 = k * k + 11,
	};
	return ev;
}

/* Does ev carry exactly the k-th model event (seq aside)? */
static inline int pt_model_check(const tsk_seg_event *ev, uint64_t k)
{
	tsk_seg_event m = pt_model_event(k);

	return ev->tsc == m.tsc && ev->type == m.type && ev->worker == m.worker &&
	       ev->task == m.task && ev->obj == m.obj && ev->arg == m.arg && ev->site == m.site &&
	       ev->str == m.str && ev->a32 == m.a32 && ev->b32 == m.b32 && ev->arg2 == m.arg2;
}

/* The fixture most probes tests share: a scratch directory, a segment path
 * in it, the test writer's segment, and the descriptor count to check for
 * leaks at teardown.  pt_setup also creates a small segment; pt_setup_dir
 * leaves that to the test. */
typedef struct pt_fixture {
	char dir[64];
	char path[128];
	sw_seg seg;
	int fds;
} pt_fixture;

static inline int pt_setup_dir(void **state)
{
	pt_fixture *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	f->fds = pt_fd_count();
	pt_dir_make(f->dir);
	snprintf(f->path, sizeof(f->path), "%s/seg", f->dir);
	*state = f;
	return 0;
}

static inline int pt_setup(void **state)
{
	sw_config cfg = sw_small_config();

	pt_setup_dir(state);
	pt_fixture *f = *state;
	assert_int_equal(sw_create(&f->seg, f->path, &cfg), 0);
	return 0;
}

static inline int pt_teardown(void **state)
{
	pt_fixture *f = *state;

	sw_destroy(&f->seg, 1);
	pt_dir_remove(f->dir);
	assert_int_equal(pt_fd_count(), f->fds);
	free(f);
	return 0;
}

#endif
