/*
 * licvault: the command-line tool.  Uses the public API of liblicvault only.
 * main: parse the command line, make the context (logging, config), run the
 * command from the table (table.c), exit with its code (exitcodes.c).
 */
#include <stdlib.h>
#include <unistd.h>

#include "cli.h"

/* The context a command needs: logging set up, the config loaded and checked. */
int context_open(cli *c)
{
	if (lv_context_new(&c->ctx))
		return out_error(LV_E_NOMEM, "cannot make a context");
	int ex = log_setup(c);
	if (ex)
		return ex;
	secret_setup(c);
	int rc = lv_context_load_config(c->ctx, c->val[OPT_CONFIG]);
	if (!rc)
		rc = lv_context_check_config(c->ctx);
	if (!rc)
		return 0;
	if (c->cmd->needs & CMD_CONFIG)
		return out_error(rc, lv_context_last_error(c->ctx));
	cli_log(LV_LOG_WARN, "%s: %s (going on without it)", lv_error_name(rc), lv_context_last_error(c->ctx));
	return 0;
}

int main(int argc, char **argv)
{
	signals_ignore_sigpipe();
	cli c = {0};
	c.prog = "licvault";
	int ex = args_parse(&c, argc, argv);
	if (ex >= 0) {
		free(c.args);
		driver_commands_free();
		return ex;
	}
	if (c.cmd->needs & CMD_HIDDEN)
		c.quiet = 1;   /* the completion asks: never a word on the terminal */
	c.tty = isatty(STDERR_FILENO) && !c.json;
	if (c.cmd->needs & (CMD_CONFIG | CMD_CONFIG_OPTIONAL))
		ex = context_open(&c);
	if (ex <= 0)
		ex = c.cmd->run(&c);
	int fin = out_finish();
	if (fin && (!ex || fin == CLI_EXIT_SIGPIPE))
		ex = fin;
	lv_context_free(c.ctx);
	driver_commands_free();
	log_close();
	free(c.args);
	return ex;
}
