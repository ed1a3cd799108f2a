/*
 * The help command: the text of a command or of all (help.c), the exit
 * codes, and "did you mean" for a word that names no command.
 */
#include <stdlib.h>
#include <string.h>

#include "cli.h"

static void code_line(int code, const char *meaning, void *ud)
{
	(void)ud;
	out_human("  %3d  %s\n", code, meaning);
}

static void name_line(const char *name, int code, void *ud)
{
	(void)ud;
	out_human("  %-24s %d\n", name, code);
}

int cmd_help(cli *c)
{
	if (c->nargs == 0) {
		help_print(stdout, NULL);
		return 0;
	}
	if (!strcmp(c->args[0], "exit-codes")) {
		out_human("exit codes:\n");
		exit_codes_foreach(code_line, NULL, NULL);
		out_human("\nexit code of each error name:\n");
		exit_codes_foreach(NULL, name_line, NULL);
		return 0;
	}
	char name[128];
	snprintf(name, sizeof name, "%s%s%s", c->args[0], c->nargs > 1 ? " " : "", c->nargs > 1 ? c->args[1] : "");
	if (command_by_name(name) || command_is_group(name)) {
		help_print(stdout, name);
		return 0;
	}
	c->cmd = NULL;
	const char *w[64];
	size_t n = command_words(w, 63, NULL);
	w[n++] = "exit-codes";
	const char *near = nearest_word(c->args[0], w, n);
	if (near)
		return usage_error(c, "help: no command '%s' (did you mean '%s'?)", name, near);
	return usage_error(c, "help: no command '%s'", name);
}
