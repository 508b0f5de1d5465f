/*
 * cmd.h - the taskscope subcommands.  Each takes the arguments after the
 * command name (argv[0] is the command name), sets ts_cmd, parses its
 * options (--help prints its man-style page on stdout and returns 0) and
 * returns the process exit status (util.h: EXIT_OK, EXIT_ERR, EXIT_USAGE,
 * EXIT_DEADLOCK).
 */
#ifndef TS_CMD_H
#define TS_CMD_H

int cmd_ps(int argc, char **argv);     /* cmd_ps.c */
int cmd_gc(int argc, char **argv);     /* cmd_ps.c */
int cmd_record(int argc, char **argv); /* cmd_record.c */
int cmd_run(int argc, char **argv);    /* cmd_run.c */
int cmd_dump(int argc, char **argv);   /* cmd_record.c */
int cmd_report(int argc, char **argv); /* cmd_report.c */
int cmd_export(int argc, char **argv); /* cmd_export.c */
int cmd_top(int argc, char **argv);    /* tui/src/tui.c */
int cmd_replay(int argc, char **argv); /* tui/src/tui.c */

#endif /* TS_CMD_H */
