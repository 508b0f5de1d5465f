/*
 * main.c - the `taskscope` command: dispatches to the subcommands
 * (cmd.h) and prints the overview page.
 */
#include <stdio.h>
#include <string.h>

#include "cmd.h"
#include "taskscope.h"
#include "tsk_segment.h"
#include "util.h"

static const struct {
	const char *name;
	int (*fn)(int argc, char **argv);
	const char *summary;
} commands[] = {
        {"ps", cmd_ps, "list instrumented processes (live, hung, dead with a segment)"},
        {"record", cmd_record, "record a running process into a SQLite history"},
        {"run", cmd_run, "run a program and record it from its first event"},
        {"dump", cmd_dump, "flight recorder + live state of a process or segment -> DB"},
        {"report", cmd_report, "deadlocks, warnings, blocked and slowest tasks of a pid or DB"},
        {"export", cmd_export, "a history as Chrome trace JSON (Perfetto, chrome://tracing)"},
        {"top", cmd_top, "live view of a running process: its tasks, what they wait on"},
        {"replay", cmd_replay, "the views of top over a recorded history, with a time cursor"},
        {"gc", cmd_gc, "remove the segments of dead processes"},
};

#define NCOMMANDS (sizeof(commands) / sizeof(commands[0]))

static void usage(FILE *out)
{
	fprintf(out,
	        "NAME\n"
	        "    taskscope - see what the tasks of a taskscope program are doing\n"
	        "\n"
	        "SYNOPSIS\n"
	        "    taskscope COMMAND [OPTIONS] [ARGS]\n"
	        "    taskscope --help | --version\n"
	        "\n"
	        "DESCRIPTION\n"
	        "    Programs linked with libtaskscope publish their tasks, resources and\n"
	        "    every task state transition in a shared-memory segment\n"
	        "    (%s/%s<pid>.<start>).  taskscope reads it without stopping or slowing\n"
	        "    the program, keeps histories in SQLite, and reports on them.\n"
	        "\n"
	        "COMMANDS\n",
	        TSK_SEG_DIR, TSK_SEG_PREFIX);
	for (size_t i = 0; i < NCOMMANDS; i++)
		fprintf(out, "    %-8s %s\n", commands[i].name, commands[i].summary);
	fprintf(out,
	        "\n"
	        "    'taskscope COMMAND --help' describes each command.\n"
	        "\n"
	        "EXIT STATUS\n"
	        "    0 success; 1 an error (bad input, no such process, a damaged file);\n"
	        "    2 bad usage; 3 report found a deadlock.\n"
	        "\n"
	        "FILES\n"
	        "    %s/%s<pid>.<start>   a process's segment (mode 0600)\n"
	        "\n"
	        "SEE ALSO\n"
	        "    docs/SCHEMA.md (the history database), docs/FORMAT.md (the segment)\n",
	        TSK_SEG_DIR, TSK_SEG_PREFIX);
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		usage(stderr);
		return EXIT_USAGE;
	}
	const char *cmd = argv[1];
	if (strcmp(cmd, "--help") == 0 || strcmp(cmd, "-h") == 0 || strcmp(cmd, "help") == 0) {
		if (argc > 2 && strcmp(cmd, "help") == 0) {
			char *args[] = {argv[2], (char *)"--help", NULL};
			for (size_t i = 0; i < NCOMMANDS; i++)
				if (strcmp(argv[2], commands[i].name) == 0)
					return commands[i].fn(2, args);
		}
		usage(stdout);
		return EXIT_OK;
	}
	if (strcmp(cmd, "--version") == 0 || strcmp(cmd, "-V") == 0) {
		printf("taskscope %d.%d\n", TSK_VERSION_MAJOR, TSK_VERSION_MINOR);
		return EXIT_OK;
	}
	for (size_t i = 0; i < NCOMMANDS; i++)
		if (strcmp(cmd, commands[i].name) == 0)
			return commands[i].fn(argc - 1, argv + 1);
	ts_usage_err("unknown command '%s'", cmd);
}
