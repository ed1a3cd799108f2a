/*
 * `licvault DRIVER VERB URI [ARGS...]`: a driver's own commands (the crypt
 * driver's init, passwd, keys...), run on the layer of URI's stack that the
 * driver serves (lv_location_control).
 *
 * The commands come from the drivers found (lv_context_driver_commands), so
 * a driver with commands gets them in help, "did you mean", completion and
 * the man page test without a change here.  driver_commands() builds entries
 * shaped like the command table's ("crypt init"), once, from a context of
 * its own (the config named by --config or the environment, no logging): the
 * command line is parsed before the run's context exists.
 *
 * The command runs on a thread of its own while the main thread waits for
 * signals (run_in_background): the first SIGINT makes the driver's
 * canceled() answer yes, a second exits.  A verb flagged LV_COMMAND_WRITE
 * opens the location for writing and is synced before it is closed.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "licvault/sys/location.h"

/* ---- the commands, as table entries ---------------------------------------------------------- */

static const char *config_path;
static lv_context *lookup_ctx;
static cli_command *table;
static size_t n_table;
static const cli_command no_commands[1];

void driver_commands_config(const char *path)
{
	config_path = path;
}

typedef struct names {
	char **v;
	size_t n;
} names;

static int driver_name(const lv_driver_info *i, void *ud)
{
	names *ns = ud;
	char **v = i->refused || !i->name ? NULL : realloc(ns->v, (ns->n + 1) * sizeof *v);
	if (v && (v[ns->n] = strdup(i->name)) != NULL)
		ns->n++;
	if (v)
		ns->v = v;
	return 0;
}

/* One entry for DRIVER VERB; 0 or -1 (out of memory). */
static int add_entry(const char *driver, const lv_driver_command *dc)
{
	cli_command *t = realloc(table, (n_table + 2) * sizeof *t);
	if (!t)
		return -1;
	table = t;
	cli_command *e = &t[n_table];
	memset(e, 0, 2 * sizeof *e);
	char *name = NULL, *args = NULL, *help = NULL;
	int ok = asprintf(&name, "%s %s", driver, dc->verb) >= 0 &&
	         asprintf(&args, "URI%s%s", dc->args && *dc->args ? " " : "", dc->args ? dc->args : "") >= 0 &&
	         asprintf(&help, "%s. A command of the %s driver: it runs on the layer of URI that the %s driver "
	                  "serves (the URI itself, or that layer of a stack such as bundle+%s+...) and %s.",
	                  dc->help ? dc->help : dc->verb, driver, driver, driver,
	                  (dc->flags & LV_COMMAND_WRITE) ? "writes to the location" : "only reads the location") >= 0;
	if (!ok) {
		free(name);
		free(args);
		return -1;
	}
	e->name = name;
	e->args = args;
	e->min_args = 1;
	e->max_args = -1;
	e->opts[0] = -1;
	e->needs = CMD_CONFIG | CMD_DRIVER;
	e->run = cmd_driver;
	e->summary = dc->help ? dc->help : "";
	e->help = help;
	e->arg_kind = "uri";
	n_table++;
	return 0;
}

const cli_command *driver_commands(void)
{
	if (table || lookup_ctx)
		return table ? table : no_commands;
	if (lv_context_new(&lookup_ctx))
		return no_commands;
	lv_context_load_config(lookup_ctx, config_path);   /* a bad config: the built-in drivers still count */
	names ns = {NULL, 0};
	lv_context_drivers(lookup_ctx, driver_name, &ns);
	for (size_t i = 0; i < ns.n; i++) {
		const lv_driver_command *dc = lv_context_driver_commands(lookup_ctx, ns.v[i]);
		for (; dc && dc->verb; dc++)
			add_entry(ns.v[i], dc);
		free(ns.v[i]);
	}
	free(ns.v);
	return table ? table : no_commands;
}

void driver_commands_free(void)
{
	for (size_t i = 0; i < n_table; i++) {
		free((char *)table[i].name);
		free((char *)table[i].args);
		free((char *)table[i].help);
	}
	free(table);
	table = NULL;
	n_table = 0;
	lv_context_free(lookup_ctx);
	lookup_ctx = NULL;
}

/* ---- running one ------------------------------------------------------------------------------ */

typedef struct job {
	cli *c;
	char driver[64];
	const char *verb, *uri;
	int write;
	pthread_mutex_t lock;
	lv_location *loc;         /* while open, for cancel */
	int canceled;
	char msg[2048];           /* the failure's description */
} job;

static void emit(const char *line, void *ud)
{
	job *j = ud;
	if (j->c->json) {
		jw w;
		jw_begin(&w, "type", "driver_output");
		jw_str(&w, "driver", j->driver);
		jw_str(&w, "verb", j->verb);
		jw_str(&w, "line", line);
		jw_end(&w);
	} else if (!(j->write && j->c->quiet))
		out_human("%s\n", safe(line));
}

static void publish(job *j, lv_location *loc)
{
	pthread_mutex_lock(&j->lock);
	j->loc = loc;
	if (loc && j->canceled)
		lv_location_set_canceled(loc, 1);
	pthread_mutex_unlock(&j->lock);
}

static void cancel_job(void *ud)
{
	job *j = ud;
	pthread_mutex_lock(&j->lock);
	j->canceled = 1;
	if (j->loc)
		lv_location_set_canceled(j->loc, 1);
	pthread_mutex_unlock(&j->lock);
}

/* On the job's thread: open, run the verb, sync what it wrote, close. */
static int run_job(void *ud)
{
	job *j = ud;
	lv_location *loc = NULL;
	int rc = lv_location_open(&loc, j->c->ctx, j->uri, j->write ? LV_OPEN_WRITE : LV_OPEN_READ);
	if (rc) {
		snprintf(j->msg, sizeof j->msg, "%s", lv_context_last_error(j->c->ctx));   /* this thread's */
		return rc;
	}
	publish(j, loc);
	rc = lv_location_control(loc, j->driver, j->verb, (const char *const *)j->c->args + 1, (size_t)j->c->nargs - 1,
	                         emit, j);
	const lv_driver_ops *ops = lv_location_driver_ops(loc);
	if (!rc && j->write && ops && ops->sync)
		rc = ops->sync(lv_location_driver_instance(loc));
	if (rc)
		snprintf(j->msg, sizeof j->msg, "%s", lv_location_last_error(loc));
	publish(j, NULL);
	lv_location_close(loc);
	return rc;
}

/* The verb's entry of the driver's commands, as the run's context has them; NULL when none. */
static const lv_driver_command *find_verb(cli *c, const char *driver, const char *verb)
{
	for (const lv_driver_command *dc = lv_context_driver_commands(c->ctx, driver); dc && dc->verb; dc++)
		if (!strcmp(dc->verb, verb))
			return dc;
	return NULL;
}

int cmd_driver(cli *c)
{
	job j = {.c = c, .uri = c->args[0], .lock = PTHREAD_MUTEX_INITIALIZER};
	const char *sp = strchr(c->cmd->name, ' ');
	snprintf(j.driver, sizeof j.driver, "%.*s", (int)(sp - c->cmd->name), c->cmd->name);
	j.verb = sp + 1;
	const lv_driver_command *dc = find_verb(c, j.driver, j.verb);
	if (!dc)
		return out_error(LV_E_NO_DRIVER, "the driver serving this command is not loaded with this config");
	j.write = (dc->flags & LV_COMMAND_WRITE) != 0;
	keys_guard(c, NULL, 1);   /* a driver's command may hold a key (crypt's do) */
	cli_log(LV_LOG_DEBUG, "%s %s on %s (%s)", j.driver, j.verb, uri_for_display(j.uri),
	        j.write ? "writing" : "reading");
	int rc = 0;
	int override = run_in_background(run_job, cancel_job, &j, "canceling...", &rc);
	pthread_mutex_destroy(&j.lock);
	if (override) {
		if (rc && rc != LV_E_CANCELED)
			out_error(rc, j.msg);
		return override;
	}
	if (!rc)
		return out_stdout_closed() ? CLI_EXIT_SIGPIPE : 0;
	int ex = out_error(rc, j.msg);
	return rc == LV_E_CANCELED && secret_declined() ? secret_declined() : ex;
}
