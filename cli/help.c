/*
 * The help text, from the command table, so that it cannot drift from the
 * commands the CLI accepts (__complete, the completion's word lists from
 * the same table, is cmd_complete.c): `licvault --help`, `COMMAND --help`
 * and the help command (cmd_help.c) print it.
 */
#include <stdlib.h>
#include <string.h>

#include "cli.h"

static void wrap(FILE *f, const char *text, int indent, int width)
{
	int col = 0;
	const char *p = text;
	while (*p) {
		size_t w = strcspn(p, " ");
		if (col && col + 1 + (int)w > width) {
			fputc('\n', f);
			col = 0;
		}
		if (!col)
			col = fprintf(f, "%*s", indent, "");
		else
			col += fprintf(f, " ");
		col += fprintf(f, "%.*s", (int)w, p);
		p += w;
		p += strspn(p, " ");
	}
	if (col)
		fputc('\n', f);
}

static void option_line(FILE *f, const cli_option *o)
{
	char head[64];
	snprintf(head, sizeof head, "%s%c%s--%s%s%s", o->short_name ? "-" : "", o->short_name ? o->short_name : ' ',
	         o->short_name ? ", " : "  ", o->name, o->arg ? " " : "", o->arg ? o->arg : "");
	fprintf(f, "  %-22s %s\n", o->short_name ? head : head + 1, o->help);
}

/* "  NAME ARGS   summary" for each visible command of t whose name starts with prefix ("" for all) */
static void command_lines(FILE *f, const cli_command *t, const char *prefix)
{
	size_t pl = strlen(prefix);
	for (const cli_command *c = t; c->name; c++) {
		if ((c->needs & CMD_HIDDEN) || strncmp(c->name, prefix, pl) || (pl && c->name[pl] != ' '))
			continue;
		if (t != cli_commands && command_by_name(c->name) != c)
			continue;   /* shadowed by the table */
		char head[160];
		snprintf(head, sizeof head, "%s %s", c->name, c->args);
		if (strlen(head) > 26)
			fprintf(f, "  %s\n  %-26s %s\n", head, "", c->summary);
		else
			fprintf(f, "  %-26s %s\n", head, c->summary);
	}
}

static void help_all(FILE *f)
{
	fprintf(f, "usage: licvault [OPTIONS] COMMAND [ARGS]\n\n"
	           "Back up and restore licenses to any storage location.\n\ncommands:\n");
	command_lines(f, cli_commands, "");
	if (driver_commands()->name) {
		fprintf(f, "\ndriver commands (licvault DRIVER VERB URI [ARGS], from the drivers found):\n");
		command_lines(f, driver_commands(), "");
	}
	fprintf(f, "\nglobal options (before or after the command):\n");
	for (int i = 0; i < cli_n_global; i++)
		option_line(f, &cli_options[i]);
	fprintf(f, "\nURIs: file:///abs/dir or a path, removable://LABEL/dir, sftp://[user@]host[:port]/dir,\n"
	           "      s3://BUCKET/prefix, bundle+URI (one compressed file), crypt+URI (encrypted),\n"
	           "      NAME: or NAME:sub/dir (a location of the config)\n"
	           "\n'licvault help COMMAND' (or 'licvault COMMAND --help') shows a command's options;\n"
	           "'licvault help exit-codes' the exit codes; man licvault tells all.\n");
}

static void help_group(FILE *f, const char *group)
{
	fprintf(f, "usage: licvault %s SUBCOMMAND [ARGS]\n\nsubcommands:\n", group);
	command_lines(f, cli_commands, group);
	command_lines(f, driver_commands(), group);
}

static void help_command(FILE *f, const cli_command *c)
{
	fprintf(f, "usage: licvault %s", c->name);
	for (int i = 0; i < CMD_MAX_OPTS && c->opts[i] >= 0; i++) {
		const cli_option *o = option_by_id(c->opts[i]);
		fprintf(f, " [--%s%s%s]", o->name, o->arg ? " " : "", o->arg ? o->arg : "");
	}
	fprintf(f, "%s%s\n\n", c->args[0] ? " " : "", c->args);
	wrap(f, c->help, 2, 78);
	if (c->opts[0] >= 0) {
		fprintf(f, "\noptions:\n");
		for (int i = 0; i < CMD_MAX_OPTS && c->opts[i] >= 0; i++)
			option_line(f, option_by_id(c->opts[i]));
	}
	fprintf(f, "\nglobal options:\n");
	for (int i = 0; i < cli_n_global; i++)
		option_line(f, &cli_options[i]);
}

void help_print(FILE *f, const char *name)
{
	const cli_command *c = name ? command_by_name(name) : NULL;
	if (!name)
		help_all(f);
	else if (c)
		help_command(f, c);
	else if (command_is_group(name))
		help_group(f, name);
}
