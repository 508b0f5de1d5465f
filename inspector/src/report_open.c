/*
 * report_open.c - what a report or export argument names: a taskscope DB
 * file, or a process (a pid, or the path of its segment) read into a
 * private in-memory DB with the same schema (record_dump_memory), so that
 * everything after this point is the same SQL for both.
 *
 * A DB is told by the 16-byte SQLite header, not by the file name: a
 * segment in /dev/shm and a DB called out.db are both plain files.  The
 * identity checks (taskscope DB, schema version, damage) are db_open_read's.
 */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "db.h"
#include "record.h"
#include "report.h"
#include "util.h"

/* 1 if path starts with the SQLite header, 0 if not, -1 (errno) if it
 * cannot be read. */
static int is_sqlite_file(const char *path)
{
	static const char magic[16] = "SQLite format 3";
	char head[16];
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	ssize_t n = read(fd, head, sizeof(head));
	int saved = errno;
	close(fd);
	if (n < 0) {
		errno = saved;
		return -1;
	}
	return n == (ssize_t)sizeof(head) && memcmp(head, magic, sizeof(magic)) == 0;
}

sqlite3 *report_open(const char *target, const det_config *dc, char *err, size_t cap)
{
	struct stat sb;
	int pid;
	if (stat(target, &sb) == 0) {
		if (S_ISDIR(sb.st_mode)) {
			snprintf(err, cap, "%s: is a directory", target);
			return NULL;
		}
		if (S_ISREG(sb.st_mode)) {
			int db = is_sqlite_file(target);
			if (db < 0) {
				snprintf(err, cap, "%s: %s", target, strerror(errno));
				return NULL;
			}
			if (db)
				return db_open_read(target, err, cap);
		}
	} else if (errno != ENOENT || ts_parse_pid(target, &pid) < 0) {
		snprintf(err, cap, "%s: %s", target, strerror(errno));
		return NULL;
	}
	/* a pid, or a file that is not a DB: a segment */
	sqlite3 *db = NULL;
	if (record_dump_memory(target, dc, &db, err, cap) < 0)
		return NULL;
	return db;
}
