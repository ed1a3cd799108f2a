/*
 * The licvault CLI as the CLI suites (test_cli*.c) run it: in t_suite_dir,
 * captured through a shell, in the background with pipes, or on a
 * pseudo-terminal.
 */
#ifndef LV_CLIUTIL_H
#define LV_CLIUTIL_H

#include <stddef.h>
#include <string.h>
#include <sys/types.h>

#include "testutil.h"

#define HAS(out, s) CU_ASSERT_PTR_NOT_NULL(strstr(out, s))
#define HASNT(out, s) CU_ASSERT_PTR_NULL(strstr(out, s))

/*
 * Run `cd t_suite_dir && ENV 'CLI' ARGS` through the shell, ARGS formatted
 * from fmt; env holds what goes before the CLI (its LICVAULT_CONFIG, a
 * wrapper such as setsid).  *out gets stdout+stderr; the exit status.
 */
int t_cli(char **out, const char *env, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* How many times needle occurs in s. */
int t_count_str(const char *s, const char *needle);

/*
 * A suite's init: t_suite_dir, the config file `conf` holding `text` (printf
 * escapes) and s.db with the example licenses.  0, or 1 on failure.
 */
int t_cli_suite_init(const char *conf, const char *text);

/* big.db in t_suite_dir (1500 licenses, 50 restricted, from licvault-gen) unless it is there: 0, or the gen's status. */
int t_cli_big_store(void);

/* A CLI run in the background: the read ends of its stdout and stderr (-1 when closed). */
typedef struct t_child {
	pid_t pid;
	int out, err;
} t_child;

/*
 * Start `exec 'CLI' ARGS` (shell words) in t_suite_dir with
 * LICVAULT_CONFIG=conf.  Its stdout's pipe holds 4 KiB, so a run blocks
 * writing its events until they are read; close_stdout: nobody reads them
 * at all (the CLI's first write is EPIPE).  0, or -1.
 */
int t_cli_spawn(t_child *ch, const char *conf, const char *args, int close_stdout);
/* Read the rest of stdout and stderr into malloc'd strings (err may be NULL: dropped); wait; the exit status (-signal when killed). */
int t_cli_finish(t_child *ch, char **out, char **err);
/* Read fd into buf (from *len) until `needle` was read (1) or end of file (0); a full buffer starts again at 0. */
int t_read_until(int fd, char *buf, size_t cap, size_t *len, const char *needle);

/*
 * Fork a child whose stdin, stdout and stderr are a new pseudo-terminal,
 * its controlling terminal, in t_suite_dir.  The parent gets the child's
 * pid (-1 on failure), *master the terminal's other end and, when slave is
 * not NULL, a handle on the terminal (to read its settings); the child 0.
 */
pid_t t_pty_fork(int *master, int *slave);
/* In a child: exec `exec 'CLI' ARGS` through the shell with LICVAULT_CONFIG=conf; never returns. */
void t_cli_exec(const char *conf, const char *args) __attribute__((noreturn));

#endif
