/*
 * licvault, the command-line tool: what its files share.
 *
 *   main.c       the context, global options, dispatch to a command
 *   table.c      the command and option table (add a command here)
 *   args.c       option parsing, help, "did you mean"
 *   exitcodes.c  the exit code of every error name
 *   output.c     safe text, the JSON writer, human lines, the status line, logging
 *   progress.c   the progress bar (terminal) and progress lines (--progress)
 *   signals.c    SIGINT/SIGTERM/closed pipe: the wake pipe a run waits on, background calls
 *   secret.c     asking for a secret on the terminal; no core dumps while a key is held;
 *                write_fully
 *   cmd_run.c    backup, restore, verify
 *   cmd_history.c list, ls, forget, unlock
 *   cmd_driver.c `licvault DRIVER VERB URI [ARGS]`: the drivers' own commands
 *   cmd_store.c  store list|import|export|remove
 *   cmd_info.c   identity, drivers, locations, config
 *   cmd_version.c version (and --version): licvault, its library, the ABI, the libraries, the drivers
 *   cmd_help.c   help (the command)
 *   help.c       the help text of a command, a group or all, from the table
 *   cmd_complete.c __complete (the completion's word lists)
 *   (gen.c is licvault-gen, a program of its own that does not use this header)
 *
 * The CLI uses the public API of liblicvault only.
 */
#ifndef LICVAULT_CLI_H
#define LICVAULT_CLI_H

#include <stdint.h>
#include <stdio.h>

#include "licvault/licvault.h"

/* ---- exit codes (exitcodes.c; the table is documented in licvault(1) and docs/cli.md) ---- */

enum {
	CLI_EXIT_OK = 0,
	CLI_EXIT_FAILED = 1,      /* any other failure */
	CLI_EXIT_USAGE = 2,       /* bad command line, bad config, bad URI */
	CLI_EXIT_EXISTS = 3,      /* a backup is already there, or a shrinking backup was refused */
	CLI_EXIT_NOT_FOUND = 4,   /* no backup at the location, no such license or volume */
	CLI_EXIT_LOCKED = 5,      /* another run holds the location or the store */
	CLI_EXIT_CORRUPT = 6,     /* the backup is corrupt or incomplete */
	CLI_EXIT_AUTH = 7,        /* authentication failed, or the host key is unknown or changed */
	CLI_EXIT_REFUSED = 8,     /* the license service refused the restore */
	CLI_EXIT_NO_SPACE = 9,    /* no space left at the location or for the store */
	CLI_EXIT_IO = 10,         /* input/output or network failure; trying again may work */
	CLI_EXIT_SIGINT = 130,    /* canceled by SIGINT (Ctrl-C) */
	CLI_EXIT_SIGPIPE = 141,   /* standard output was closed (a pipe whose reader went away) */
	CLI_EXIT_SIGTERM = 143,   /* canceled by SIGTERM */
};

/** The exit code of an lv_error (0 for 0; 1 for a code the table does not know). */
int exit_code_of(int lv_error_code);
/** The exit code of an error name ("BACKUP_EXISTS"); -1 when the table has no entry. */
int exit_code_by_name(const char *name);
/** Call cb for each exit code with its meaning, then for each error name with its code. */
void exit_codes_foreach(void (*code_cb)(int code, const char *meaning, void *ud),
                        void (*name_cb)(const char *name, int code, void *ud), void *ud);

/* ---- options and commands (table.c, args.c) ---- */

enum cli_opt_id {
	/* global: accepted before or after the command */
	OPT_CONFIG, OPT_STORE, OPT_JSON, OPT_QUIET, OPT_VERBOSE, OPT_LOG_FILE, OPT_HELP, OPT_VERSION,
	/* per command */
	OPT_PROGRESS, OPT_OVERWRITE, OPT_INDIVIDUALIZE, OPT_DRY_RUN, OPT_ALLOW_SHRINK, OPT_GENERATION, OPT_ALL,
	OPT_VERIFY, OPT_KEEP, OPT_FORCE,
	OPT__COUNT
};

typedef struct cli_option {
	int id;                   /* enum cli_opt_id */
	const char *name;         /* long name, without "--" */
	char short_name;          /* or 0 */
	const char *arg;          /* the argument's name ("FILE"), NULL when it takes none */
	const char *help;         /* one line */
	const char *arg_kind;     /* what the argument is, for the completion: "file" (file names),
	                             "number", "generation" (nothing offered: a file name is never
	                             one); NULL when it takes none */
} cli_option;

struct cli;

/* what a command needs before it runs */
#define CMD_CONFIG 0x1u          /* the config file loaded and checked (exit 2 when bad) */
#define CMD_CONFIG_OPTIONAL 0x2u /* loaded when it can be; a bad one is a warning (version) */
#define CMD_HIDDEN 0x4u          /* not listed in help (__complete) */
#define CMD_DRIVER 0x8u          /* a driver's own command (cmd_driver.c), not of the table */

#define CMD_MAX_OPTS 8

typedef struct cli_command {
	const char *name;         /* "backup", or "store list" for a command of a group */
	const char *args;         /* positional arguments for usage: "URI", "FILE..." */
	int min_args, max_args;   /* max -1: any number */
	int opts[CMD_MAX_OPTS];   /* its own options (enum cli_opt_id), ended by -1 or the array's end */
	unsigned needs;           /* CMD_* */
	int (*run)(struct cli *c);
	const char *summary;      /* one line, for `licvault help` */
	const char *help;         /* paragraphs for `licvault help CMD` */
	const char *arg_kind;     /* what completes the arguments: "uri", "file", "dir", "kid", "command", NULL */
} cli_command;

extern const cli_option cli_options[];   /* ended by name NULL */
extern const cli_command cli_commands[]; /* ended by name NULL */
/** The first `n_global` entries of cli_options are global options. */
extern const int cli_n_global;

const cli_option *option_by_id(int id);
/** Does the command take option id? (global options: always) */
int command_takes(const cli_command *cmd, int id);
/** A command by its full name ("store list", or a driver's "crypt init"); NULL when none. */
const cli_command *command_by_name(const char *name);
/** Is `word` the first word of a group ("store", "config", or a driver with commands: "crypt")? */
int command_is_group(const char *word);

/*
 * The drivers' own commands (cmd_driver.c), as entries shaped like the
 * table's, named "DRIVER VERB": built once, on first use, from the drivers
 * found (lv_context_driver_commands); the table's names win over a driver's.
 * Ended by name NULL; never NULL.
 */
const cli_command *driver_commands(void);
/** The config file the command line names (--config), for finding drivers before the context exists. */
void driver_commands_config(const char *path);
/** Free what driver_commands built. */
void driver_commands_free(void);

/* ---- the run of the program ---- */

typedef struct cli {
	const cli_command *cmd;
	char **args;              /* positional arguments after the command words */
	int nargs;
	uint64_t seen;            /* bit (1 << id) for each option given */
	const char *val[OPT__COUNT];
	int verbose;              /* -v count */
	int json, quiet;
	int tty;                  /* standard error is a terminal: the progress bar may be drawn */
	lv_context *ctx;
	const char *prog;         /* "licvault" */
} cli;

static inline int opt_has(const cli *c, int id) { return (c->seen >> id) & 1u; }

/**
 * Parse argv into c.  Returns -1 when the program should go on, or an exit code
 * (0 after --help or help, 2 after a usage error, already reported).
 */
int args_parse(cli *c, int argc, char **argv);
/** Report a usage error ("licvault: backup: ...") with a hint; returns CLI_EXIT_USAGE. */
int usage_error(const cli *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/** Print the help of everything (cmd NULL), of a group ("store") or of a command (help.c). */
void help_print(FILE *f, const char *name);
/** The first words of the visible commands (each group once), or a group's subcommands. */
size_t command_words(const char **w, size_t cap, const char *group);
/** The nearest of `words` to `word` (edit distance), or NULL when none is near. */
const char *nearest_word(const char *word, const char *const *words, size_t n);

/* ---- output (output.c) ---- */

/**
 * Text made safe for a terminal: valid UTF-8 passes, except controls; C0, DEL,
 * C1 and bidirectional controls become \xNN / \uNNNN, invalid bytes \xNN, a
 * backslash \\.  The result lives in one of 8 thread-local buffers (long text is
 * cut with "..."): use it in the same statement.  NULL gives `absent`.
 */
const char *safe(const char *s);
const char *safe_or(const char *s, const char *absent);
/** "\"text\"" made safe, or "-" when s is NULL: absent and empty told apart. */
const char *quoted(const char *s);
/** A URI with any password in it masked ("sftp://u:********@h/x"). */
const char *uri_for_display(const char *uri);

/** Standard output: human lines (printf-like; every %s argument through safe()). */
void out_human(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/** Standard error: "licvault: " + message, clearing and redrawing the bar around it. */
void out_note(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/** "licvault: error: NAME: message" on standard error; returns exit_code_of(code). */
int out_error(int code, const char *message);
/** Flush standard output after each line (the default: run events) or let stdio buffer (listings). */
void out_flush_each_line(int on);
/** Flush standard output at the end: 0, CLI_EXIT_SIGPIPE when it was closed, CLI_EXIT_IO on another error. */
int out_finish(void);
/** Has standard output been closed under us (EPIPE)? */
int out_stdout_closed(void);
/** Called once when standard output is found closed (the run's cancel hook). */
void out_on_stdout_closed(void (*fn)(void));
/** The terminal lock: standard error, the progress bar and the log file (never standard output). */
void out_lock(void);
void out_unlock(void);
/** The status line at the bottom of standard error (the progress bar), drawn in place and kept
 * there under other lines; NULL takes it away. */
void out_status(const char *line);
/** Keep the status line off the screen (1: a question on the terminal) or put it back (0). */
void out_status_pause(int on);

/* A JSON object on one line of standard output. */
typedef struct jw {
	char *buf;
	size_t len;
	FILE *f;
	int n;                    /* members written */
	int depth;
	int ok;                   /* the memory stream is there */
} jw;
void jw_begin(jw *j, const char *kind_key, const char *kind);  /* {"event":"begin" */
void jw_str(jw *j, const char *key, const char *val);           /* NULL: null */
void jw_u64(jw *j, const char *key, uint64_t v);
void jw_i64(jw *j, const char *key, int64_t v);
void jw_num(jw *j, const char *key, double v);
void jw_bool(jw *j, const char *key, int v);
void jw_null(jw *j, const char *key);
void jw_array_begin(jw *j, const char *key);
void jw_array_str(jw *j, const char *val);
void jw_object_begin(jw *j, const char *key);                   /* key NULL inside an array */
void jw_close(jw *j);                                           /* ] or } */
void jw_end(jw *j);                                             /* } and the line out */
/** The JSON string for s (quotes included) into f. */
void json_string(FILE *f, const char *s);

/** Logging: -v info, -vv debug, --log-file FILE. Returns 0, or an exit code. */
int log_setup(cli *c);
void log_close(void);
void cli_log(int level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* ---- progress (progress.c) ---- */

typedef struct progress progress;
/** mode: 'b' bar on a terminal, 'l' a line every few seconds, 0 none. */
progress *progress_new(int mode, const char *what);
void progress_update(progress *p, uint64_t done, uint64_t total, uint64_t bytes);
void progress_free(progress *p);
/** "1.2 MiB" */
void format_bytes(char *buf, size_t cap, uint64_t n);

/* ---- signals (signals.c) ---- */

/** Catch SIGINT and SIGTERM into the wake pipe; SIGPIPE is ignored for the whole program. */
int signals_begin(void);
void signals_end(void);
/** Wake the waiting thread with a reason: 'E' end of the run, 'P' stdout closed. */
void wake(char why);
/** Wait for the next reason: 'E', 'P', 'I' (SIGINT), 'T' (SIGTERM). */
char wake_wait(void);
void signals_ignore_sigpipe(void);
/**
 * Between signals_begin and signals_end: wait for 'E', calling cancel(ud)
 * once, after saying `note` ("canceling..."), on the first SIGINT, SIGTERM
 * or closed standard output; a second SIGINT exits at once (130), the
 * terminal put back first.  Returns the exit code of the interruption
 * (130, 143, 141) or 0.
 */
int wait_end(void (*cancel)(void *ud), void *ud, const char *note);
/**
 * Run fn(ud) on a thread of its own while the main thread waits as
 * wait_end does (signals installed for the call).  *rc gets fn's result;
 * returns the exit code of the interruption or 0.
 */
int run_in_background(int (*fn)(void *ud), void (*cancel)(void *ud), void *ud, const char *note, int *rc);

/* ---- secrets and keys (secret.c) ---- */

/** Ask for secrets on the terminal (lv_context_set_secret_cb) for c->ctx. */
void secret_setup(cli *c);
/** Cancel a question on the terminal in progress (any thread). */
void secret_cancel(void);
/** Put the terminal back as it was, if a question left echo off (before _exit; async-signal-safe). */
void secret_restore_tty(void);
/** write(2) until all of s is written or it fails (async-signal-safe). */
void write_fully(int fd, const char *s, size_t n);
/** Did licvault decline to ask (no terminal, answers that never matched)? The exit code then (2), else 0. */
int secret_declined(void);
/**
 * When the location `uri` (as given or resolved) holds a key (a crypt+
 * layer), or always when `always`: no core dump from here on (prctl(PR_SET_DUMPABLE, 0),
 * RLIMIT_CORE 0), process-wide, until licvault exits.  Logs it at debug.
 */
void keys_guard(cli *c, const char *uri, int always);

/* ---- the effective configuration, with the file and section headers (cmd_info.c) ---- */

typedef struct cfg_item {
	const char *section;      /* "licvault", "driver sftp", "location nas"; NULL for the file line */
	const char *key, *value;  /* NULL for a section header */
	int is_default;           /* a declared default the file does not set */
	const char *file;         /* for the file line: the config file, NULL when none */
	const char *help;         /* the key's help line, or NULL */
	const char *choices;      /* an enum key's "a|b", or NULL */
} cfg_item;
int config_walk(cli *c, int (*cb)(const cfg_item *it, void *ud), void *ud);

/* ---- shared by the commands ---- */

/** Make c->ctx: logging, the config loaded and checked (a bad config: exit code, or a warning). */
int context_open(cli *c);

/** The store path: --store, $LICVAULT_STORE, [licvault] store, the XDG default (malloc'd). */
char *store_path(cli *c);
/** Open the store: 0 or an lv_error (lv_context_last_error says why); logs the path at info. */
int store_open(cli *c, lv_store **out, unsigned flags);

int cmd_backup(cli *c);
int cmd_restore(cli *c);
int cmd_verify(cli *c);
int cmd_store_list(cli *c);
int cmd_store_import(cli *c);
int cmd_store_export(cli *c);
int cmd_store_remove(cli *c);
int cmd_identity(cli *c);
int cmd_drivers(cli *c);
int cmd_locations(cli *c);
int cmd_config_check(cli *c);
int cmd_config_show(cli *c);
int cmd_version(cli *c);
int cmd_help(cli *c);
int cmd_complete(cli *c);
int cmd_list(cli *c);
int cmd_ls(cli *c);
int cmd_forget(cli *c);
int cmd_unlock(cli *c);
int cmd_driver(cli *c);

/** The `license` record of a license (store list, ls). */
void json_license(const lv_license *l);
/** "2026-11-30T14:02:11Z" for seconds since the epoch (UTC), "-" for 0. */
void format_time(char *buf, size_t cap, int64_t t);
/** Parse a generation argument: a number >= 1, or "newest" (0) when newest_ok; -1 when neither. */
int64_t parse_generation(const char *s, int newest_ok);

/** The JSON contract's version (docs/json.md); `begin` and `version` carry it. */
#define CLI_JSON_SCHEMA 1

#endif
