/*
 * reader_list.c - finding segments and telling live processes from dead ones.
 *
 * A segment is /dev/shm/taskscope.<pid>.<start>, <start> being the
 * process's start time in clock ticks since boot (field 22 of
 * /proc/<pid>/stat).  The pair identifies a process across pid reuse: the
 * process is live when /proc/<pid>/stat exists, is not a zombie, and shows
 * the same start time; otherwise the segment is a dead process's flight
 * recording.
 *
 * /dev/shm is world-writable: names are parsed strictly (decimal, no sign,
 * no overflow), files are opened with O_NOFOLLOW | O_NONBLOCK and must be
 * regular, and only their first page is read (pread, no mapping) for the
 * listing; the header is validated as tsk_reader_open does.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "reader_int.h"

/* Parses a decimal uint64 ending at *end == stop; 0 on success. */
static int parse_u64(const char *s, char stop, uint64_t *v, const char **end)
{
	uint64_t x = 0;
	const char *p = s;

	if (*p < '0' || *p > '9')
		return -1;
	for (; *p >= '0' && *p <= '9'; p++) {
		if (x > (UINT64_MAX - 9) / 10)
			return -1;
		x = x * 10 + (uint64_t)(*p - '0');
	}
	if (*p != stop)
		return -1;
	*v = x;
	*end = p;
	return 0;
}

/* "taskscope.<pid>.<start>" -> pid, start; 0 on success. */
static int parse_name(const char *name, int32_t *pid, uint64_t *start)
{
	const size_t plen = sizeof(TSK_SEG_PREFIX) - 1;
	const char *p;
	uint64_t v;

	if (strncmp(name, TSK_SEG_PREFIX, plen) != 0)
		return -1;
	if (parse_u64(name + plen, '.', &v, &p) < 0 || v == 0 || v > INT32_MAX)
		return -1;
	*pid = (int32_t)v;
	return parse_u64(p + 1, '\0', start, &p);
}

int tsk_reader_proc_start(pid_t pid, uint64_t *start_ticks, char *state)
{
	char path[64], buf[1024];
	const char *p;
	uint64_t v;
	ssize_t n;
	int fd;

	if (pid <= 0)
		return -ESRCH;
	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -ESRCH;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return n == 0 ? -EIO : -ESRCH; /* ESRCH: the process went away */
	buf[n] = '\0';
	/* The command name may hold spaces and ')': fields start after the
	 * last ')'.  Then " S" (field 3), then fields 4..21, then 22. */
	p = strrchr(buf, ')');
	if (!p || p[1] != ' ' || !p[2])
		return -EIO;
	if (state)
		*state = p[2];
	p += 3;
	for (int field = 4; field <= 21; field++) {
		if (*p != ' ')
			return -EIO;
		p++;
		while (*p && *p != ' ')
			p++;
	}
	if (*p != ' ')
		return -EIO;
	p++;
	v = 0;
	if (*p < '0' || *p > '9')
		return -EIO;
	for (; *p >= '0' && *p <= '9'; p++)
		v = v * 10 + (uint64_t)(*p - '0');
	if (start_ticks)
		*start_ticks = v;
	return 0;
}

int tsk_reader_liveness(pid_t pid, uint64_t start_ticks)
{
	uint64_t st;
	char state = '?';

	if (tsk_reader_proc_start(pid, &st, &state) < 0)
		return TSK_RD_DEAD;
	if (state == 'Z' || state == 'X' || st != start_ticks)
		return TSK_RD_DEAD;
	return TSK_RD_LIVE;
}

/* Reads and checks the header of a listed file into e. */
static int read_header(tsk_rd_seg *e)
{
	tsk_seg_header hc;
	struct stat st;
	ssize_t got;
	int fd, rc = 0;

	fd = open(e->path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
	if (fd < 0)
		return rd__fail(-errno, "open %s: %s", e->path, strerror(errno));
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		rc = rd__fail(-EINVAL, "%s: not a regular file", e->path);
		goto out;
	}
	memset(&hc, 0, sizeof(hc));
	got = pread(fd, &hc, sizeof(hc), 0);
	if (got < 0) {
		rc = rd__fail(-errno, "read %s: %s", e->path, strerror(errno));
		goto out;
	}
	rc = rd__check_header(&hc, (size_t)got < sizeof(hc) ? (uint64_t)got : (uint64_t)st.st_size);
	if (rc < 0)
		goto out;
	if (hc.pid != e->pid || hc.proc_start_ticks != e->start_ticks) {
		rc = rd__fail(TSK_RD_EHEADER, "%s: header says pid %d start %llu", e->path, hc.pid,
		              (unsigned long long)hc.proc_start_ticks);
		goto out;
	}
	memcpy(e->program, hc.program, sizeof(e->program));
	e->program[sizeof(e->program) - 1] = '\0';
	e->state = hc.state;
	e->heartbeat_ns = hc.heartbeat_ns;
	e->created_realtime_ns = hc.created_realtime_ns;
	e->reader_pid = hc.reader_pid;
	e->segment_size = hc.segment_size;
out:
	close(fd);
	return rc;
}

static int seg_cmp(const void *a, const void *b)
{
	const tsk_rd_seg *x = a, *y = b;

	if (x->pid != y->pid)
		return x->pid < y->pid ? -1 : 1;
	return x->start_ticks < y->start_ticks ? -1 : x->start_ticks > y->start_ticks;
}

int tsk_reader_list(const char *dir, tsk_rd_seg **out, size_t *n)
{
	tsk_rd_seg *list = NULL, *grown;
	size_t count = 0, cap = 0;
	struct dirent *de;
	DIR *d;

	if (!out || !n)
		return rd__fail(-EINVAL, "invalid argument");
	*out = NULL;
	*n = 0;
	dir = dir ? dir : TSK_SEG_DIR;
	if (!(d = opendir(dir)))
		return rd__fail(-errno, "opendir %s: %s", dir, strerror(errno));
	while ((de = readdir(d))) {
		tsk_rd_seg e;

		memset(&e, 0, sizeof(e));
		if (parse_name(de->d_name, &e.pid, &e.start_ticks) < 0)
			continue;
		if ((size_t)snprintf(e.path, sizeof(e.path), "%s/%s", dir, de->d_name) >=
		    sizeof(e.path))
			continue;
		e.err = read_header(&e);
		e.liveness = tsk_reader_liveness(e.pid, e.start_ticks);
		if (count == cap) {
			cap = cap ? 2 * cap : 16;
			if (!(grown = realloc(list, cap * sizeof(*list)))) {
				free(list);
				closedir(d);
				return rd__fail(-ENOMEM, "out of memory");
			}
			list = grown;
		}
		list[count++] = e;
	}
	closedir(d);
	if (count > 1)
		qsort(list, count, sizeof(*list), seg_cmp);
	*out = list;
	*n = count;
	return (int)(count < INT32_MAX ? count : INT32_MAX);
}

void tsk_reader_list_free(tsk_rd_seg *list)
{
	free(list);
}

int tsk_reader_find(const char *dir, pid_t pid, char *path, size_t cap)
{
	uint64_t want = 0, start, best = 0;
	int have_want, found = 0, exact = 0;
	char best_name[256];
	struct dirent *de;
	int32_t p;
	DIR *d;

	if (!path || cap == 0 || pid <= 0)
		return rd__fail(-EINVAL, "invalid argument");
	dir = dir ? dir : TSK_SEG_DIR;
	have_want = tsk_reader_proc_start(pid, &want, NULL) == 0;
	if (!(d = opendir(dir)))
		return rd__fail(-errno, "opendir %s: %s", dir, strerror(errno));
	while ((de = readdir(d))) {
		if (parse_name(de->d_name, &p, &start) < 0 || p != (int32_t)pid)
			continue;
		if (strlen(de->d_name) >= sizeof(best_name))
			continue;
		int is_exact = have_want && start == want;
		/* The live process's own segment wins; else the newest. */
		if (!found || (is_exact && !exact) || (!exact && start > best)) {
			best = start;
			exact = is_exact;
			found = 1;
			strcpy(best_name, de->d_name);
		}
	}
	closedir(d);
	if (!found)
		return rd__fail(TSK_RD_ENOSEG, "no segment for pid %d in %s", (int)pid, dir);
	if ((size_t)snprintf(path, cap, "%s/%s", dir, best_name) >= cap)
		return rd__fail(-ENAMETOOLONG, "path of the segment of pid %d too long", (int)pid);
	return 0;
}
