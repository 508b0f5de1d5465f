/*
 * cmd_ps.c - `taskscope ps` (the instrumented processes, from their
 * segments) and `taskscope gc` (remove the segments of dead processes).
 *
 * Both read only the segment files' headers and live tables, never the
 * processes: a hung or stopped program is listed like any other.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cmd.h"
#include "json.h"
#include "tsk_reader.h"
#include "util.h"

#define QUIET_NS 2000000000LL /* no heartbeat for this long: all tasks blocked, or stuck */

/* What ps shows of one segment. */
typedef struct ps_row {
	const tsk_rd_seg *seg;
	const char *status;
	uint64_t tasks, by_state[5];
	uint64_t resources;
} ps_row;

static const char *status_of(const tsk_rd_seg *s)
{
	if (s->err)
		return "unreadable";
	if (s->liveness != TSK_RD_LIVE)
		return s->state == TSK_SEG_EXITED ? "exited" : "dead";
	uint64_t start;
	char st = 0;
	if (tsk_reader_proc_start(s->pid, &start, &st) == 0 && (st == 'T' || st == 't'))
		return "stopped";
	if (s->state == TSK_SEG_IDLE)
		return "idle";
	if (s->state == TSK_SEG_RUNNING && ts_mono_ns() - s->heartbeat_ns > QUIET_NS)
		return "quiet";
	return "running";
}

static void count_tasks(ps_row *row)
{
	tsk_reader *r;
	if (row->seg->err || tsk_reader_open(row->seg->path, 0, &r) < 0)
		return;
	tsk_rd_snap snap;
	if (tsk_reader_snap_take(r, &snap) == 0) {
		for (size_t i = 0; i < snap.ntasks; i++) {
			uint8_t s = snap.tasks[i].slot.state;
			if (snap.tasks[i].slot.id && s >= 1 && s <= 4) {
				row->tasks++;
				row->by_state[s]++;
			}
		}
		for (size_t i = 0; i < snap.nres; i++)
			row->resources += snap.res[i].slot.id != 0;
		tsk_reader_snap_free(&snap);
	}
	tsk_reader_close(r);
}

/* One JSON object per line for a segment (json.c does the escaping). */
static void ps_json(const ps_row *row)
{
	const tsk_rd_seg *seg = row->seg;
	json_w w;
	json_init(&w, stdout, 0);
	json_begin_object(&w);
	json_key(&w, "pid");
	json_int(&w, seg->pid);
	json_key(&w, "status");
	json_string(&w, row->status);
	json_key(&w, "program");
	json_string(&w, seg->program);
	json_key(&w, "tasks");
	json_uint(&w, row->tasks);
	json_key(&w, "running");
	json_uint(&w, row->by_state[2]);
	json_key(&w, "ready");
	json_uint(&w, row->by_state[1]);
	json_key(&w, "blocked");
	json_uint(&w, row->by_state[3]);
	json_key(&w, "resources");
	json_uint(&w, row->resources);
	json_key(&w, "reader_pid");
	json_int(&w, seg->reader_pid);
	json_key(&w, "segment");
	json_string(&w, seg->path);
	if (seg->err) {
		json_key(&w, "error");
		json_string(&w, tsk_reader_strerror(seg->err));
	}
	json_end_object(&w);
	json_end(&w);
}

static void ps_help(void)
{
	printf("NAME\n"
	       "    taskscope ps - list instrumented processes\n"
	       "\n"
	       "SYNOPSIS\n"
	       "    taskscope ps [--json] [--dir DIR]\n"
	       "\n"
	       "DESCRIPTION\n"
	       "    Lists every taskscope segment: the processes linked with libtaskscope,\n"
	       "    running or hung, and the segments dead processes left behind (their\n"
	       "    flight recorders: 'taskscope dump' reads them).  Only the segment files\n"
	       "    are read; the processes are not disturbed.\n"
	       "\n"
	       "    STATUS is running (tasks run; the heartbeat is fresh), quiet (no\n"
	       "    heartbeat for 2 s: every task blocked, or a worker stuck), idle (between\n"
	       "    tsk_run calls), stopped (SIGSTOP), dead (no such process: it crashed or\n"
	       "    was killed), exited (a clean exit that kept its segment) or unreadable.\n"
	       "    TASKS counts live tasks: running/ready/blocked.\n"
	       "\n"
	       "OPTIONS\n"
	       "    --json      one JSON object per line instead of the table\n"
	       "    --dir DIR   look in DIR instead of %s\n"
	       "    -h, --help  this page\n"
	       "\n"
	       "EXIT STATUS\n"
	       "    0 (also when nothing is found), 1 when DIR cannot be read, 2 bad usage.\n",
	       TSK_SEG_DIR);
}

int cmd_ps(int argc, char **argv)
{
	static const struct option opts[] = {{"json", no_argument, NULL, 'j'},
	                                     {"dir", required_argument, NULL, 'd'},
	                                     {"help", no_argument, NULL, 'h'},
	                                     {NULL, 0, NULL, 0}};
	int json = 0, c;
	const char *dir = NULL;
	ts_cmd = "ps";
	optind = 1;
	while ((c = getopt_long(argc, argv, "hd:", opts, NULL)) != -1) {
		switch (c) {
		case 'j':
			json = 1;
			break;
		case 'd':
			dir = optarg;
			break;
		case 'h':
			ps_help();
			return EXIT_OK;
		default:
			ts_usage_err("bad option");
		}
	}
	if (optind < argc)
		ts_usage_err("unexpected argument '%s'", argv[optind]);
	tsk_rd_seg *list;
	size_t n;
	int rc = tsk_reader_list(dir, &list, &n);
	if (rc < 0) {
		ts_err("%s: %s", dir ? dir : TSK_SEG_DIR, tsk_reader_strerror(rc));
		return EXIT_ERR;
	}
	if (!json)
		printf("%7s  %-10s %-16s %7s %15s %6s  %s\n", "PID", "STATUS", "PROGRAM", "TASKS",
		       "RUN/READY/BLOCK", "READER", "SEGMENT");
	for (size_t i = 0; i < n; i++) {
		ps_row row = {.seg = &list[i]};
		row.status = status_of(&list[i]);
		count_tasks(&row);
		if (json) {
			ps_json(&row);
		} else {
			char rrb[32] = "-", reader[16] = "-";
			if (!list[i].err)
				snprintf(rrb, sizeof(rrb), "%" PRIu64 "/%" PRIu64 "/%" PRIu64,
				         row.by_state[2], row.by_state[1], row.by_state[3]);
			if (list[i].reader_pid)
				snprintf(reader, sizeof(reader), "%d", list[i].reader_pid);
			printf("%7d  %-10s %-16.16s %7" PRIu64 " %15s %6s  %s\n", list[i].pid,
			       row.status, list[i].err ? "?" : list[i].program, row.tasks, rrb,
			       reader, list[i].path);
		}
	}
	tsk_reader_list_free(list);
	return EXIT_OK;
}

static void gc_help(void)
{
	printf("NAME\n"
	       "    taskscope gc - remove the segments of dead processes\n"
	       "\n"
	       "SYNOPSIS\n"
	       "    taskscope gc [--dry-run] [--dir DIR]\n"
	       "\n"
	       "DESCRIPTION\n"
	       "    A process that crashes or is killed leaves its segment in %s: its\n"
	       "    flight recorder, for 'taskscope dump'.  gc removes every segment whose\n"
	       "    process no longer exists (a pid reused by another process counts as\n"
	       "    gone: segments are named by pid and start time).  Segments of live\n"
	       "    processes, stopped or hung ones included, are never touched.  Dump\n"
	       "    first what you want to keep.\n"
	       "\n"
	       "OPTIONS\n"
	       "    -n, --dry-run  say what would be removed, remove nothing\n"
	       "    --dir DIR      look in DIR instead of %s\n"
	       "    -h, --help     this page\n"
	       "\n"
	       "EXIT STATUS\n"
	       "    0 done (also when nothing was to remove); 1 some segment could not be\n"
	       "    removed or DIR cannot be read; 2 bad usage.\n",
	       TSK_SEG_DIR, TSK_SEG_DIR);
}

int cmd_gc(int argc, char **argv)
{
	static const struct option opts[] = {{"dry-run", no_argument, NULL, 'n'},
	                                     {"dir", required_argument, NULL, 'd'},
	                                     {"help", no_argument, NULL, 'h'},
	                                     {NULL, 0, NULL, 0}};
	int dry = 0, c, status = EXIT_OK;
	const char *dir = NULL;
	ts_cmd = "gc";
	optind = 1;
	while ((c = getopt_long(argc, argv, "nhd:", opts, NULL)) != -1) {
		switch (c) {
		case 'n':
			dry = 1;
			break;
		case 'd':
			dir = optarg;
			break;
		case 'h':
			gc_help();
			return EXIT_OK;
		default:
			ts_usage_err("bad option");
		}
	}
	if (optind < argc)
		ts_usage_err("unexpected argument '%s'", argv[optind]);
	tsk_rd_seg *list;
	size_t n, removed = 0;
	int rc = tsk_reader_list(dir, &list, &n);
	if (rc < 0) {
		ts_err("%s: %s", dir ? dir : TSK_SEG_DIR, tsk_reader_strerror(rc));
		return EXIT_ERR;
	}
	for (size_t i = 0; i < n; i++) {
		/* liveness is decided from the name (pid, start): a corrupt
		 * header does not keep a live process's segment from being kept */
		if (tsk_reader_liveness(list[i].pid, list[i].start_ticks) == TSK_RD_LIVE)
			continue;
		if (!dry && unlink(list[i].path) < 0 && errno != ENOENT) {
			ts_err("%s: %s", list[i].path, strerror(errno));
			status = EXIT_ERR;
			continue;
		}
		printf("%s %s (pid %d, %s)\n", dry ? "would remove" : "removed", list[i].path,
		       list[i].pid, list[i].err ? "unreadable" : list[i].program);
		removed++;
	}
	if (!removed)
		printf("no segment of a dead process\n");
	tsk_reader_list_free(list);
	return status;
}
