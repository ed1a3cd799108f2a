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
 */
#include <string.h>

#include "cli.h"

const cli_option cli_options[] = {
	/* global options first (cli_n_global of them) */
	{OPT_CONFIG, "config", 0, "FILE", "config file (else $LICVAULT_CONFIG, $XDG_CONFIG_HOME/licvault/config, /etc/licvault/config)"},
	{OPT_STORE, "store", 0, "FILE", "license store (else $LICVAULT_STORE, the config's store, $XDG_DATA_HOME/licvault/store.db)"},
	{OPT_JSON, "json", 0, NULL, "JSON lines on standard output (docs/json.md)"},
	{OPT_QUIET, "quiet", 'q', NULL, "print errors only"},
	{OPT_VERBOSE, "verbose", 'v', NULL, "say more: -v info (and each restricted or refused license), -vv debug"},
	{OPT_LOG_FILE, "log-file", 0, "FILE", "append log lines (info, or debug with -vv) to FILE"},
	{OPT_HELP, "help", 'h', NULL, "help (of the command when one is given)"},
	{OPT_VERSION, "version", 0, NULL, "versions of licvault, its library, ABI, libraries and drivers"},
	/* per command */
	{OPT_PROGRESS, "progress", 0, NULL, "not on a terminal: print a progress line every few seconds"},
	{OPT_OVERWRITE, "overwrite", 0, NULL, "replace the backup already at the location"},
	{OPT_INDIVIDUALIZE, "individualize", 0, NULL, "allow giving the store its machine identity (a new machine)"},
	{OPT_DRY_RUN, "dry-run", 'n', NULL, "say what would be done, change nothing (needs library support)"},
	{0, NULL, 0, NULL, NULL},
};

const int cli_n_global = 8;

#define END -1

const cli_command cli_commands[] = {
	{"backup", "URI", 1, 1, {OPT_OVERWRITE, OPT_DRY_RUN, OPT_PROGRESS, END}, CMD_CONFIG, cmd_backup,
	 "back up the store's licenses to URI",
	 "Backs up every license of the store that grants the backup right to the location URI. "
	 "Licenses without it are not backed up (restricted): the summary counts them, -v lists them. "
	 "Without --overwrite, a location that already holds a backup is an error (exit 3).",
	 "uri"},
	{"restore", "URI", 1, 1, {OPT_INDIVIDUALIZE, OPT_DRY_RUN, OPT_PROGRESS, END}, CMD_CONFIG, cmd_restore,
	 "restore the licenses backed up at URI into the store",
	 "Restores the newest backup at URI into the store (created when missing), all or nothing, after the "
	 "license service has decided (docs/restore-rules.md). A store that needs a machine identity (a new "
	 "machine, a copied store) needs --individualize.",
	 "uri"},
	{"verify", "URI", 1, 1, {OPT_PROGRESS, END}, CMD_CONFIG, cmd_verify,
	 "check the backup at URI whole, changing nothing",
	 "Reads the newest backup at URI and checks every checksum; changes nothing, neither there nor in the store.",
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
	 "commands | options CMD | arg-kind CMD | locations | schemes | global-options-with-arg", NULL},
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

const cli_command *command_by_name(const char *name)
{
	for (const cli_command *c = cli_commands; c->name; c++)
		if (!strcmp(c->name, name))
			return c;
	return NULL;
}

int command_is_group(const char *word)
{
	size_t n = strlen(word);
	for (const cli_command *c = cli_commands; c->name; c++)
		if (!strncmp(c->name, word, n) && c->name[n] == ' ')
			return 1;
	return 0;
}
