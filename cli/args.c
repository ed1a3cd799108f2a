/*
 * The command line: options anywhere (global ones before or after the
 * command), each command's own options, `--`, help, "did you mean".
 *
 * Two passes of getopt_long: the first, with every option the CLI knows,
 * finds the command words among the positional arguments; the second, with
 * the global options and the command's own, checks and collects.  The
 * optstring starts with '-' so that positional arguments come back in order
 * whatever POSIXLY_CORRECT says, and with ':' to tell a missing argument.
 */
#include <getopt.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

#define LONG_BASE 256

/* getopt tables for the options `take` accepts (NULL: all of them). */
static void build_tables(const cli_command *take, struct option *lo, char *shorts)
{
	int n = 0, s = 0;
	shorts[s++] = '-';
	shorts[s++] = ':';
	for (const cli_option *o = cli_options; o->name; o++) {
		if (take && !command_takes(take, o->id))
			continue;
		lo[n++] = (struct option){o->name, o->arg ? required_argument : no_argument, NULL, LONG_BASE + o->id};
		if (o->short_name) {
			shorts[s++] = o->short_name;
			if (o->arg)
				shorts[s++] = ':';
		}
	}
	lo[n] = (struct option){NULL, 0, NULL, 0};
	shorts[s] = '\0';
}

static int id_of_short(int ch)
{
	for (const cli_option *o = cli_options; o->name; o++)
		if (o->short_name == ch)
			return o->id;
	return -1;
}

static size_t edit_distance(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b);
	if (la > 64 || lb > 64)
		return 99;
	size_t row[65];
	for (size_t j = 0; j <= lb; j++)
		row[j] = j;
	for (size_t i = 1; i <= la; i++) {
		size_t diag = row[0];
		row[0] = i;
		for (size_t j = 1; j <= lb; j++) {
			size_t up = row[j];
			size_t best = diag + (a[i - 1] != b[j - 1]);
			if (up + 1 < best)
				best = up + 1;
			if (row[j - 1] + 1 < best)
				best = row[j - 1] + 1;
			row[j] = best;
			diag = up;
		}
	}
	return row[lb];
}

const char *nearest_word(const char *word, const char *const *words, size_t n)
{
	const char *best = NULL;
	size_t bd = 99;
	for (size_t i = 0; i < n; i++) {
		size_t d = edit_distance(word, words[i]);
		size_t limit = strlen(words[i]) / 3 + 1;
		if (d <= limit && d < bd) {
			bd = d;
			best = words[i];
		}
	}
	return best;
}

int usage_error(const cli *c, const char *fmt, ...)
{
	va_list ap;
	char msg[1024];
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	out_lock();
	if (c && c->cmd)
		fprintf(stderr, "licvault: %s: %s\n(see licvault %s --help)\n", c->cmd->name, safe(msg), c->cmd->name);
	else
		fprintf(stderr, "licvault: %s\n(see licvault --help)\n", safe(msg));
	out_unlock();
	return CLI_EXIT_USAGE;
}

#define MAX_WORDS 64

/* Add the words of table t to w (from n); the new count. */
static size_t words_of(const cli_command *t, const char **w, size_t n, size_t cap, const char *group)
{
	static char bufs[MAX_WORDS][32];
	size_t gl = group ? strlen(group) : 0;
	for (const cli_command *c = t; c->name && n < cap && n < MAX_WORDS; c++) {
		if (c->needs & CMD_HIDDEN)
			continue;
		const char *name = c->name;
		if (group) {
			if (strncmp(name, group, gl) || name[gl] != ' ')
				continue;
			name += gl + 1;
		}
		size_t l = strcspn(name, " ");
		snprintf(bufs[n], sizeof bufs[n], "%.*s", (int)l, name);
		int dup = 0;
		for (size_t i = 0; i < n; i++)
			dup |= !strcmp(w[i], bufs[n]);
		if (!dup) {
			w[n] = bufs[n];
			n++;
		}
	}
	return n;
}

/*
 * The first words of the commands (groups once), then the drivers that have
 * commands, for "did you mean" and completion.  A word of the table is never
 * a driver's too (words_of keeps the first), and a group of the table never
 * takes a driver's verbs.
 */
size_t command_words(const char **w, size_t cap, const char *group)
{
	size_t n = words_of(cli_commands, w, 0, cap, group);
	if (group && (n || command_by_name(group)))
		return n;   /* a group or a command of the table: the drivers are not asked (nor loaded) */
	return words_of(driver_commands(), w, n, cap, group);
}

static int unknown_command(const char *word, const char *group)
{
	const char *w[64];
	size_t n = command_words(w, 64, group);
	const char *near = nearest_word(word, w, n);
	char where[64] = "";
	if (group)
		snprintf(where, sizeof where, "%s ", group);
	out_lock();
	fprintf(stderr, "licvault: unknown command '%s%s'", where, safe(word));
	if (near)
		fprintf(stderr, " (did you mean '%s%s'?)", where, near);
	fprintf(stderr, "\n(see licvault %s--help)\n", where);
	out_unlock();
	return CLI_EXIT_USAGE;
}

static int unknown_option(const cli *c, const char *arg)
{
	char name[128];
	snprintf(name, sizeof name, "%s", arg + strspn(arg, "-"));
	name[strcspn(name, "=")] = '\0';
	const char *w[OPT__COUNT] = {0};
	size_t n = 0;
	for (const cli_option *o = cli_options; o->name; o++)
		if (command_takes(c->cmd, o->id))
			w[n++] = o->name;
	/* another command's option first: '--keep' for backup is no typing error of '--help' */
	for (const cli_option *o = cli_options; o->name; o++) {
		if (strcmp(o->name, name))
			continue;
		for (const cli_command *k = cli_commands; k->name; k++)
			if (command_takes(k, o->id) && !(k->needs & CMD_HIDDEN))
				return usage_error(c, "'--%s' is an option of '%s', not of this command", name, k->name);
	}
	const char *near = nearest_word(name, w, n);
	if (near)
		return usage_error(c, "unknown option '%s' (did you mean '--%s'?)", arg, near);
	return usage_error(c, "unknown or ambiguous option '%s'", arg);
}

/* Pass 1: the positional arguments, with every known option skipped. */
static int positionals(int argc, char **argv, char **pos, int *help, int *version, const char **missing)
{
	struct option lo[OPT__COUNT + 1];
	char shorts[2 * OPT__COUNT + 4];
	build_tables(NULL, lo, shorts);
	int n = 0, ch;
	opterr = 0;
	optind = 0;
	while ((ch = getopt_long(argc, argv, shorts, lo, NULL)) != -1) {
		if (ch == 1)
			pos[n++] = optarg;
		else if (ch == LONG_BASE + OPT_HELP || ch == 'h')
			*help = 1;
		else if (ch == LONG_BASE + OPT_VERSION)
			*version = 1;
		else if (ch == LONG_BASE + OPT_CONFIG)
			driver_commands_config(optarg);   /* where the drivers' commands are looked up */
		else if (ch == ':' && !*missing)
			*missing = argv[optind - 1];
	}
	while (optind < argc)
		pos[n++] = argv[optind++];
	return n;
}

/* The command named by the first positional words; *used gets how many words. */
static int find_command(cli *c, char **pos, int n, int help, int *used)
{
	if (command_is_group(pos[0])) {
		if (n < 2) {
			if (help) {
				help_print(stdout, pos[0]);
				return 0;
			}
			usage_error(NULL, "'%s' needs a subcommand:", pos[0]);
			help_print(stderr, pos[0]);
			return CLI_EXIT_USAGE;
		}
		char name[128];
		snprintf(name, sizeof name, "%s %s", pos[0], pos[1]);
		if (!(c->cmd = command_by_name(name)))
			return unknown_command(pos[1], pos[0]);
		*used = 2;
		return -1;
	}
	if (!(c->cmd = command_by_name(pos[0])))
		return unknown_command(pos[0], NULL);
	*used = 1;
	return -1;
}

static int take_option(cli *c, int ch, const char *arg)
{
	int id = ch >= LONG_BASE ? ch - LONG_BASE : id_of_short(ch);
	if (id < 0)
		return unknown_option(c, arg);
	if (!command_takes(c->cmd, id)) {
		/* named as matched (arg may be the option's value, or an abbreviation of it) */
		for (const cli_option *o = cli_options; o->name; o++)
			if (o->id == id) {
				char name[64];
				snprintf(name, sizeof name, "--%s", o->name);
				return unknown_option(c, name);
			}
		return unknown_option(c, arg);
	}
	c->seen |= 1ull << id;
	c->val[id] = optarg;
	if (id == OPT_VERBOSE)
		c->verbose++;
	return -1;
}

/*
 * Pass 2: the command's options and arguments.  getopt_long sees every
 * command's options, so that an abbreviation is resolved among all of them
 * ('--all' for backup is verify's --all, refused as such, never an
 * abbreviation of backup's --allow-shrink), and take_option refuses what
 * this command does not take.
 */
static int collect(cli *c, int argc, char **argv, int skip)
{
	struct option lo[OPT__COUNT + 1];
	char shorts[2 * OPT__COUNT + 4];
	build_tables(NULL, lo, shorts);
	c->args = calloc((size_t)argc + 1, sizeof *c->args);
	if (!c->args)
		return out_error(LV_E_NOMEM, "out of memory");
	int ch, seen_pos = 0, rc;
	opterr = 0;
	optind = 0;
	while ((ch = getopt_long(argc, argv, shorts, lo, NULL)) != -1) {
		const char *arg = argv[optind - 1];
		if (ch == 1) {
			if (seen_pos++ >= skip)
				c->args[c->nargs++] = optarg;
		} else if (ch == ':') {
			return usage_error(c, "option '%s' needs an argument", arg);
		} else if (ch == '?') {
			if (optopt) {
				char s[3] = {'-', (char)optopt, 0};
				return unknown_option(c, s);
			}
			return unknown_option(c, arg);
		} else if ((rc = take_option(c, ch, arg)) >= 0)
			return rc;
	}
	for (; optind < argc; optind++)
		if (seen_pos++ >= skip)
			c->args[c->nargs++] = argv[optind];
	return -1;
}

int args_parse(cli *c, int argc, char **argv)
{
	char **pos = calloc((size_t)argc + 1, sizeof *pos);
	if (!pos)
		return out_error(LV_E_NOMEM, "out of memory");
	int help = 0, version = 0, used = 0, rc = -1;
	const char *missing = NULL;
	int n = positionals(argc, argv, pos, &help, &version, &missing);
	if (missing) {
		free(pos);
		return usage_error(NULL, "option '%s' needs an argument", missing);
	}
	if (version && !help) {
		used = n; /* --version anywhere prints the versions and runs nothing else: */
		n = 0;    /* the words around it are not its arguments */
	}
	if (n == 0) {
		if (help)
			help_print(stdout, NULL);
		else if (!version) {
			help_print(stderr, NULL);
			rc = CLI_EXIT_USAGE;
		}
		rc = help ? 0 : rc;
		c->cmd = version && !help ? command_by_name("version") : NULL;
	} else
		rc = find_command(c, pos, n, help, &used);
	free(pos);
	if (rc >= 0 || !c->cmd)
		return rc;
	if ((rc = collect(c, argc, argv, used)) >= 0)
		return rc;
	if (opt_has(c, OPT_HELP)) {
		help_print(stdout, c->cmd->name);
		return 0;
	}
	if (c->nargs < c->cmd->min_args)
		return usage_error(c, "expected %s", c->cmd->args);
	if (c->cmd->max_args >= 0 && c->nargs > c->cmd->max_args)
		return usage_error(c, "too many arguments (expected %s)", c->cmd->args[0] ? c->cmd->args : "none");
	c->json = opt_has(c, OPT_JSON);
	c->quiet = opt_has(c, OPT_QUIET);
	return -1;
}
