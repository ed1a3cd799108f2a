/*
 * The command table: every option and every command, with its help.
 *
 * Adding a command: one entry in cli_commands[] (name, arguments, its options,
 * what it needs, its function, a summary and a help text), the function in a
 * cmd_*.c file, and a section in docs/man/licvault.1.scd.  Help, "did you
 * mean", the man page test and the shell completion (through `licvault
 * __complete`) all read this table.  A command of a group is named
 * "group sub" ("store list"); the group needs nothing more.
 *
 * Adding an option: an id in enum cli_opt_id (cli.h), a line in
 * cli_options[], and its id in the opts of the commands that take it.
 *
 * The drivers' own commands ("crypt init") are not in this table: they come
 * from the drivers found (cmd_driver.c, driver_commands), and the lookups
 * below fall back to them for a name the table does not have.
 */
#include <string.h>

#include "cli.h"

const cli_option cli_options[] = {
	/* global options first (cli_n_global of them) */
	{OPT_CONFIG, "config", 0, "FILE", "config file (else $LICVAULT_CONFIG, $XDG_CONFIG_HOME/licvault/config, /etc/licvault/config)", "file"},
	{OPT_STORE, "store", 0, "FILE", "license store (else $LICVAULT_STORE, the config's store, $XDG_DATA_HOME/licvault/store.db)", "file"},
	{OPT_JSON, "json", 0, NULL, "JSON lines on standard output (docs/json.md)", NULL},
	{OPT_QUIET, "quiet", 'q', NULL, "print errors only", NULL},
	{OPT_VERBOSE, "verbose", 'v', NULL, "say more: -v info (and each restricted or refused license), -vv debug", NULL},
	{OPT_LOG_FILE, "log-file", 0, "FILE", "append log lines (info, or debug with -vv) to FILE", "file"},
	{OPT_HELP, "help", 'h', NULL, "help (of the command when one is given)", NULL},
	{OPT_VERSION, "version", 0, NULL, "versions of licvault, its library, ABI, libraries and drivers", NULL},
	/* per command */
	{OPT_PROGRESS, "progress", 0, NULL, "not on a terminal: print a progress line every few seconds", NULL},
	{OPT_OVERWRITE, "overwrite", 0, NULL, "replace the backup already at the location", NULL},
	{OPT_INDIVIDUALIZE, "individualize", 0, NULL, "allow giving the store its machine identity (a new machine)", NULL},
	{OPT_DRY_RUN, "dry-run", 'n', NULL, "say what would be done, change nothing", NULL},
	{OPT_ALLOW_SHRINK, "allow-shrink", 0, NULL,
	 "back up even an empty store, or one with fewer than half the licenses of the newest backup there", NULL},
	{OPT_GENERATION, "generation", 0, "G", "the generation: a number (licvault list shows them), or newest (not for forget)", "generation"},
	{OPT_ALL, "all", 0, NULL, "every generation at the location, oldest first", NULL},
	{OPT_VERIFY, "verify", 0, NULL, "check every generation whole (reads every pack)", NULL},
	{OPT_KEEP, "keep", 0, "N", "keep the newest N generations, remove the older ones", "number"},
	{OPT_FORCE, "force", 0, NULL, "remove the lock whoever holds it (only when its holder is gone)", NULL},
	{0, NULL, 0, NULL, NULL, NULL},
};

const int cli_n_global = 8;

#define END -1

const cli_command cli_commands[] = {
	{"backup", "URI", 1, 1, {OPT_OVERWRITE, OPT_ALLOW_SHRINK, OPT_DRY_RUN, OPT_PROGRESS, END}, CMD_CONFIG, cmd_backup,
	 "back up the store's licenses to URI",
	 "Backs up every license of the store that grants the backup right to the location URI, as a new "
	 "generation. Licenses without it are not backed up (restricted): the summary counts them, -v lists them. "
	 "Without --overwrite, a location that already holds a backup is an error (exit 3); with it, the new "
	 "generation is added and the oldest beyond the config's keep are removed once it is whole. A backup of "
	 "an empty store, or of fewer than half the licenses of the newest generation there, is refused (exit 3) "
	 "unless --allow-shrink is given. --dry-run says what would be written and what the location holds.",
	 "uri"},
	{"restore", "URI", 1, 1, {OPT_GENERATION, OPT_INDIVIDUALIZE, OPT_DRY_RUN, OPT_PROGRESS, END}, CMD_CONFIG,
	 cmd_restore,
	 "restore the licenses backed up at URI into the store",
	 "Restores the newest generation at URI (or --generation G) into the store (created when missing), all "
	 "or nothing, after the license service has decided (docs/restore-rules.md). A damaged newest generation "
	 "is an error (exit 6) whose message names the newest older one that verifies. A store that needs a "
	 "machine identity (a new machine, a copied store) needs --individualize. --dry-run reads and checks "
	 "the backup and asks the service, and changes nothing.",
	 "uri"},
	{"verify", "URI", 1, 1, {OPT_GENERATION, OPT_ALL, OPT_PROGRESS, END}, CMD_CONFIG, cmd_verify,
	 "check the backup at URI whole, changing nothing",
	 "Reads the newest generation at URI (or --generation G, or --all of them) and checks every checksum; "
	 "changes nothing, neither there nor in the store. No store is needed.",
	 "uri"},
	{"list", "URI", 1, 1, {OPT_VERIFY, END}, CMD_CONFIG, cmd_list,
	 "list the generations (backups) at URI",
	 "One line per generation at URI, oldest first: its number, when it was written (UTC), the host and "
	 "machine that wrote it, its license count and size; with --verify, whether it is whole (every object "
	 "and checksum read). Reads only the manifests' headers otherwise. Exit 6 when a generation is damaged.",
	 "uri"},
	{"ls", "URI", 1, 1, {OPT_GENERATION, END}, CMD_CONFIG, cmd_ls,
	 "list the licenses of a generation at URI",
	 "One line per license of the newest generation at URI (or --generation G), from its manifest and pack "
	 "with every checksum checked: key ID, rights, title (quoted; - when it has none). No store is needed.",
	 "uri"},
	{"forget", "URI", 1, 1, {OPT_KEEP, OPT_GENERATION, OPT_DRY_RUN, END}, CMD_CONFIG, cmd_forget,
	 "remove old generations at URI (--keep N or --generation G)",
	 "Removes generations by hand, under the location's lock, with a backup's rules: --keep N keeps the "
	 "newest N, --generation G removes that one. The last generation that verifies is never removed (exit 2). "
	 "Each generation goes manifest first: a forget cut short leaves only whole generations. --dry-run says "
	 "what would be removed. Another run holding the lock: exit 5.",
	 "uri"},
	{"unlock", "URI", 1, 1, {OPT_FORCE, END}, CMD_CONFIG, cmd_unlock,
	 "show who holds the lock at URI; remove it with --force",
	 "Shows the holder of the location's lock: host, operation, process, since when, when it was last "
	 "refreshed, and whether it is stale (the next run takes a stale lock over by itself). Without --force "
	 "the lock stays (exit 5); with it, the lock is removed: only when its holder is gone. No lock: exit 4.",
	 "uri"},
	{"store list", "", 0, 0, {END}, CMD_CONFIG, cmd_store_list,
	 "list the store's licenses",
	 "One line per license: key ID, backup right, title (quoted; - when it has none).", NULL},
	{"store import", "FILE...", 1, -1, {END}, CMD_CONFIG, cmd_store_import,
	 "import license files (all or none)",
	 "Imports license files (docs/license-format.md) in one transaction: all of them or, on the first "
	 "error (named with its file and line), none.", "file"},
	{"store export", "KID DIR", 2, 2, {END}, CMD_CONFIG, cmd_store_export,
	 "write a license to DIR/KID.lic",
	 "Writes the license KID as a license file DIR/KID.lic.", "kid dir"},
	{"store remove", "KID", 1, 1, {END}, CMD_CONFIG, cmd_store_remove,
	 "remove a license from the store", "Removes the license KID from the store.", "kid"},
	{"identity", "", 0, 0, {END}, CMD_CONFIG, cmd_identity,
	 "show the store's machine identity",
	 "Shows the store's machine identity: none yet, valid on this host, or of another host (a copied store).",
	 NULL},
	{"drivers", "", 0, 0, {END}, CMD_CONFIG, cmd_drivers,
	 "list drivers (with -v, the search path too)",
	 "Lists every driver file found, in search order: name, version, ABI, URI schemes, file; and the "
	 "files refused, with why. With -v, the search path first.", NULL},
	{"locations", "", 0, 0, {END}, CMD_CONFIG, cmd_locations,
	 "list candidate locations (plugged-in volumes...)",
	 "Asks every driver that can for candidate locations, such as plugged-in removable volumes.", NULL},
	{"config check", "", 0, 0, {END}, CMD_CONFIG, cmd_config_check,
	 "check the config file",
	 "Loads and checks the config file (every command does); says which file and exits 0, or 2 naming "
	 "the file and line of the first problem.", NULL},
	{"config show", "", 0, 0, {END}, CMD_CONFIG, cmd_config_show,
	 "print the effective configuration, secrets masked",
	 "Prints the effective configuration: each section and key with values expanded, then the defaults "
	 "of the drivers' keys the file does not set. Secrets are shown as ********.", NULL},
	{"version", "", 0, 0, {END}, CMD_CONFIG_OPTIONAL, cmd_version,
	 "versions of licvault, its library, ABI, libraries and drivers",
	 "Prints licvault's version, the library's version and driver ABI, the versions of SQLite, zlib and "
	 "libssh2 it runs with (libssh2 once the sftp driver is loaded), and the drivers found. "
	 "Same as --version.", NULL},
	{"help", "[COMMAND]", 0, 2, {END}, 0, cmd_help,
	 "help on licvault, a command, or exit-codes",
	 "Without a command, lists the commands and global options; with one, its usage and options. "
	 "`licvault help exit-codes` prints the exit code table.", "command"},
	{"__complete", "WHAT [WORD...]", 1, -1, {END}, CMD_HIDDEN, cmd_complete,
	 "word lists for shell completion",
	 /* the lists cmd_complete serves, and only them (tests/test_cli_doc.c asks for each one named) */
	 "commands | subcommands GROUP | options [CMD...] | options-with-arg | arg-kind CMD... | "
	 "arg-kind -- --OPTION | locations | schemes | kids", NULL},
	{NULL, NULL, 0, 0, {END}, 0, NULL, NULL, NULL, NULL},
};

const cli_option *option_by_id(int id)
{
	for (const cli_option *o = cli_options; o->name; o++)
		if (o->id == id)
			return o;
	return NULL;
}

int command_takes(const cli_command *cmd, int id)
{
	if (id < cli_n_global)
		return 1;
	for (int i = 0; cmd && i < CMD_MAX_OPTS && cmd->opts[i] != END; i++)
		if (cmd->opts[i] == id)
			return 1;
	return 0;
}

static const cli_command *find_in(const cli_command *t, const char *name)
{
	for (const cli_command *c = t; c->name; c++)
		if (!strcmp(c->name, name))
			return c;
	return NULL;
}

static int group_in(const cli_command *t, const char *word)
{
	size_t n = strlen(word);
	for (const cli_command *c = t; c->name; c++)
		if (!strncmp(c->name, word, n) && c->name[n] == ' ')
			return 1;
	return 0;
}

/* The table first; the drivers' commands (loading the drivers) only for a name it does not have. */
const cli_command *command_by_name(const char *name)
{
	const cli_command *c = find_in(cli_commands, name);
	if (c || !strchr(name, ' '))
		return c;   /* a driver's command is always "DRIVER VERB" */
	char first[64];
	snprintf(first, sizeof first, "%.*s", (int)strcspn(name, " "), name);
	if (find_in(cli_commands, first) || group_in(cli_commands, first))
		return NULL;
	return find_in(driver_commands(), name);
}

int command_is_group(const char *word)
{
	if (group_in(cli_commands, word))
		return 1;
	return !find_in(cli_commands, word) && group_in(driver_commands(), word);
}
