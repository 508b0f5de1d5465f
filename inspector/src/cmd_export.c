/*
 * cmd_export.c - `taskscope export DB|PID|SEGMENT --format chrome -o FILE`:
 * options, the target (report_open: a DB file, or a process dumped into
 * memory), and the output file, written aside and renamed when complete
 * so that an interrupted export never leaves a truncated trace behind.
 * The trace itself is export_chrome.c's.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cmd.h"
#include "export.h"
#include "report.h"
#include "util.h"

static const char help[] =
        "NAME\n"
        "    taskscope export - a history as a trace for Perfetto or chrome://tracing\n"
        "\n"
        "SYNOPSIS\n"
        "    taskscope export DB|PID|SEGMENT [--format chrome] -o FILE.json\n"
        "\n"
        "DESCRIPTION\n"
        "    Writes the Chrome Trace Event format (JSON Object Format), which\n"
        "    https://ui.perfetto.dev and chrome://tracing open.  The argument is a\n"
        "    history DB (from `taskscope record` or `taskscope dump`), or a pid or a\n"
        "    segment, read into memory first as `taskscope dump` would.\n"
        "\n"
        "    Process \"tasks (PROGRAM PID)\" has one track per task, named \"NAME #ID\",\n"
        "    holding a slice for every state interval: \"running\", \"ready\",\n"
        "    \"blocked: WAIT NAME\" (e.g. \"blocked: mutex db\", \"blocked: io fd 7 read\")\n"
        "    and \"unknown\" (alive, before anything was recorded of it).  Slices carry\n"
        "    the wait's location, resource id, deadline and the task's label as args.\n"
        "    Flow arrows (\"wake\", \"spawn\") go from the task that woke or spawned\n"
        "    another, at that moment, to the other's ready slice.  Cancels, closes,\n"
        "    signals, losses and the other\n"
        "    raw events are instant events.  Process \"workers\" has one track per\n"
        "    worker thread showing which task ran on it when.\n"
        "\n"
        "    The output is written as it is read (any history size in constant\n"
        "    memory) to FILE.tmp.PID, renamed to FILE when complete: an interrupted\n"
        "    export leaves no truncated FILE.  Progress is shown on stderr when it is\n"
        "    a terminal.\n"
        "\n"
        "OPTIONS\n"
        "    -f, --format FMT    The output format; chrome (the default) is the only\n"
        "                        one.\n"
        "    -o, --output FILE   Where to write; - for stdout.  Required.\n"
        "    -h, --help          Show this page.\n"
        "\n"
        "EXIT STATUS\n"
        "    0  written\n"
        "    1  an error: no such file or process, not a taskscope history, a damaged\n"
        "       DB, a write error\n"
        "    2  bad options or arguments\n"
        "\n"
        "EXAMPLES\n"
        "    taskscope export crash.db -o crash.json     then open it in ui.perfetto.dev\n"
        "    taskscope export 4242 --format chrome -o - | gzip > now.json.gz\n";

/* Opens the temporary file next to path; its name goes to tmp. */
static FILE *open_tmp(const char *path, char *tmp, size_t cap)
{
	int n = snprintf(tmp, cap, "%s.tmp.%ld", path, (long)getpid());
	if (n < 0 || (size_t)n >= cap) {
		errno = ENAMETOOLONG;
		return NULL;
	}
	return fopen(tmp, "wx");
}

int cmd_export(int argc, char **argv)
{
	static const struct option opts[] = {
	        {"format", required_argument, NULL, 'f'},
	        {"output", required_argument, NULL, 'o'},
	        {"help", no_argument, NULL, 'h'},
	        {NULL, 0, NULL, 0},
	};
	const char *format = "chrome", *out = NULL;
	char err[600], tmp[4096];
	int c;

	ts_cmd = "export";
	optind = 0; /* a fresh scan (GNU: also resets its internal state) */
	opterr = 0;
	while ((c = getopt_long(argc, argv, ":hf:o:", opts, NULL)) != -1) {
		switch (c) {
		case 'h':
			fputs(help, stdout);
			return EXIT_OK;
		case 'f':
			format = optarg;
			break;
		case 'o':
			out = optarg;
			break;
		case ':':
			ts_usage_err("option '%s' needs a value", argv[optind - 1]);
		default:
			if (optopt)
				ts_usage_err("unknown option '-%c'", optopt);
			ts_usage_err("unknown option '%s'", argv[optind - 1]);
		}
	}
	if (strcmp(format, "chrome") != 0)
		ts_usage_err("unknown format '%s': this version writes chrome (the Chrome Trace "
		             "Event format that Perfetto reads)",
		             format);
	if (optind >= argc)
		ts_usage_err("which history? (DB, PID or SEGMENT)");
	if (optind + 1 < argc)
		ts_usage_err("unexpected argument '%s'", argv[optind + 1]);
	if (!out)
		ts_usage_err("where to? (-o FILE.json, or -o - for stdout)");
	const char *target = argv[optind];

	sqlite3 *db = report_open(target, NULL, err, sizeof(err));
	if (!db) {
		ts_err("%s", err);
		return EXIT_ERR;
	}
	/* "-", and an existing file that is not a regular one (/dev/null, a
	 * pipe, /dev/stdout): written in place, never renamed over */
	struct stat sb;
	int to_stdout = strcmp(out, "-") == 0;
	int in_place = !to_stdout && stat(out, &sb) == 0 && !S_ISREG(sb.st_mode);
	FILE *f = to_stdout ? stdout : in_place ? fopen(out, "w") : open_tmp(out, tmp, sizeof(tmp));
	if (!f) {
		ts_err("%s: %s", out, strerror(errno));
		sqlite3_close(db);
		return EXIT_ERR;
	}
	if (!to_stdout)
		setvbuf(f, NULL, _IOFBF, 1 << 20);
	int rc = export_chrome(db, f, err, sizeof(err));
	sqlite3_close(db);
	if (to_stdout) {
		if (rc < 0)
			ts_err("%s", err);
		return rc < 0 ? EXIT_ERR : EXIT_OK;
	}
	if (fclose(f) != 0 && rc == 0) {
		snprintf(err, sizeof(err), "writing: %s", strerror(errno));
		rc = -1;
	}
	if (in_place) {
		if (rc < 0)
			ts_err("%s", err);
		return rc < 0 ? EXIT_ERR : EXIT_OK;
	}
	if (rc == 0 && rename(tmp, out) < 0) {
		snprintf(err, sizeof(err), "%s: %s", out, strerror(errno));
		rc = -1;
	}
	if (rc < 0) {
		unlink(tmp);
		ts_err("%s", err);
		return EXIT_ERR;
	}
	return EXIT_OK;
}
