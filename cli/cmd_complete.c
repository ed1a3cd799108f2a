/*
 * __complete WHAT: the word lists of the shell completion
 * (cli/completion/licvault.bash), one word a line, from the command table,
 * the config and the drivers:
 *   commands                 first words of the commands (and groups)
 *   subcommands GROUP        the subcommands of a group
 *   options [CMD...]         the options a command takes (global ones included)
 *   options-with-arg         the options that take an argument (of any command)
 *   arg-kind CMD...          what each argument is: uri, file, dir, kid, command
 *   arg-kind -- --OPTION     what the option's argument is: file, number,
 *                            generation (after "--": the parser would take
 *                            --OPTION for an option of __complete)
 *   locations                NAME: of each location of the config
 *   schemes                  SCHEME:// of each URI scheme the drivers serve,
 *                            SCHEME+ for a stacking one (stacking_driver)
 *   kids                     the key IDs of the store
 * Only the last three load the config (and drivers): completion stays quick.
 */
#include <stdlib.h>
#include <string.h>

#include "cli.h"

static const cli_command *command_of(cli *c, int from)
{
	char name[128];
	if (c->nargs > from + 1) {
		snprintf(name, sizeof name, "%s %s", c->args[from], c->args[from + 1]);
		if (command_by_name(name))
			return command_by_name(name);
	}
	return c->nargs > from ? command_by_name(c->args[from]) : NULL;
}

static void options_of(const cli_command *cmd, int with_arg_only)
{
	for (const cli_option *o = cli_options; o->name; o++) {
		if (cmd ? !command_takes(cmd, o->id) : o->id >= cli_n_global && !with_arg_only)
			continue;
		if (with_arg_only && !o->arg)
			continue;
		out_human("--%s\n", o->name);
		if (o->short_name)
			out_human("-%c\n", o->short_name);
	}
}

static int location_name(const cfg_item *it, void *ud)
{
	(void)ud;
	if (it->section && !it->key && !strncmp(it->section, "location ", 9))
		out_human("%s:\n", safe(it->section + 9));
	return 0;
}

/*
 * Does the driver only make sense stacked on another location (A+INNER)?
 * The driver ABI cannot say: a driver learns that it is stacked when open
 * gets a URI with an inner one, and nothing it declares (name, schemes,
 * keys, commands) tells a stacking driver from another.  So the drivers
 * shipped with licvault that stack are known here by name: crypt (a bare
 * crypt://... is always BAD_URI) and bundle (whose bundle:///abs/x.lvb is
 * bundle+file:///abs/x.lvb, so the prefix says it all).  Any other
 * driver's schemes complete as SCHEME:// (docs/cli.md, "Shell completion").
 */
static int stacking_driver(const char *name)
{
	return !strcmp(name, "crypt") || !strcmp(name, "bundle");
}

static int scheme_words(const lv_driver_info *i, void *ud)
{
	(void)ud;
	if (i->refused || !i->schemes)
		return 0;
	const char *tail = i->name && stacking_driver(i->name) ? "+" : "://";
	char *copy = strdup(i->schemes), *save = NULL;
	for (char *t = copy ? strtok_r(copy, " ", &save) : NULL; t; t = strtok_r(NULL, " ", &save))
		out_human("%s%s\n", safe(t), tail);
	free(copy);
	return 0;
}

/* Is word "--NAME" or "-X" of option o? (options-with-arg lists both forms) */
static int names_option(const char *word, const cli_option *o)
{
	if (word[0] != '-')
		return 0;
	if (word[1] == '-')
		return !strcmp(word + 2, o->name);
	return o->short_name && word[1] == o->short_name && !word[2];
}

/* arg-kind -- --OPTION: what the option's argument is; nothing for an option without one */
static void option_arg_kind(const char *word)
{
	for (const cli_option *o = cli_options; o->name; o++)
		if (names_option(word, o) && o->arg_kind)
			out_human("%s\n", o->arg_kind);
}

static int kid_word(const lv_license *l, void *ud)
{
	(void)ud;
	out_human("%s\n", safe(l->kid));
	return 0;
}

static void kids(cli *c)
{
	lv_store *s = NULL;
	if (store_open(c, &s, LV_STORE_READONLY) == 0)
		lv_store_foreach(s, kid_word, NULL);
	lv_store_free(s);
}

int cmd_complete(cli *c)
{
	const char *what = c->args[0];
	const char *w[64];
	if (!strcmp(what, "commands") || !strcmp(what, "subcommands")) {
		size_t n = command_words(w, 64, c->nargs > 1 ? c->args[1] : NULL);
		for (size_t i = 0; i < n; i++)
			out_human("%s\n", w[i]);
	} else if (!strcmp(what, "options"))
		options_of(command_of(c, 1), 0);
	else if (!strcmp(what, "options-with-arg"))
		options_of(NULL, 1);
	else if (!strcmp(what, "arg-kind") && c->nargs > 1 && c->args[1][0] == '-')
		option_arg_kind(c->args[1]);
	else if (!strcmp(what, "arg-kind")) {
		const cli_command *cmd = command_of(c, 1);
		if (cmd && cmd->arg_kind)
			out_human("%s\n", cmd->arg_kind);
	} else if (!strcmp(what, "locations")) {
		if (!context_open(c))
			config_walk(c, location_name, NULL);
	} else if (!strcmp(what, "schemes")) {
		if (!context_open(c))
			lv_context_drivers(c->ctx, scheme_words, NULL);
	} else if (!strcmp(what, "kids")) {
		if (!context_open(c))
			kids(c);
	} else
		return usage_error(c, "unknown list '%s'", what);
	return 0;
}
