/*
 * lvconform: run the driver conformance suite (conformance.c) against a
 * location.  Installed with licvault, for driver authors.
 *   lvconform [--config FILE] [--driver-dir DIR] [--large MIB] [-v] URI
 * Exit 0 when every check passes, 1 when one fails (a URI it cannot open
 * fails preflight), 2 for a usage or config error.
 *
 * --driver-dir DIR is searched first: the library adds an application's
 * folders (lv_context_add_driver_dir) after the config's driver_path and
 * $LICVAULT_DRIVER_PATH, so DIR goes at the head of $LICVAULT_DRIVER_PATH
 * instead, and a driver in the config's driver_path that would serve the
 * URI in place of DIR's is refused (usage_driver).  The driver tested is
 * named on the first line.
 */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "conformance.h"

#define USAGE "usage: lvconform [--config FILE] [--driver-dir DIR] [--large MIB] [-v] URI\n"
#define DIRS_MAX 16

static void help(void)
{
	printf(USAGE "\n"
	       "Check the driver serving URI's scheme against licvault's driver contract\n"
	       "(docs/writing-a-driver.md), the way the core uses a location.  URI must be a\n"
	       "location of its own: the suite writes and removes objects there (conf-*,\n"
	       "licvault.lock, licvault-g<16 hex>.pack|.manifest, licvault-registry-*), and\n"
	       "refuses a location holding licvault objects it did not write.\n\n"
	       "  --config FILE      the licvault config file (driver sections, named locations);\n"
	       "                     it is checked first\n"
	       "  --driver-dir DIR   search DIR for drivers first (a driver being built); may be\n"
	       "                     repeated\n"
	       "  --large MIB        size of the large-object check (default 32; 0 skips it)\n"
	       "  -v, --verbose      a line for every check, not only for failures\n"
	       "  -h, --help         this text\n\n"
	       "The checks, in order:\n");
	for (int i = 0; i < LVC__N; i++)
		printf("  %-12s %s\n", lvc_check_name(i), lvc_check_title(i));
	printf("\nIt cannot check durability (a commit not flushed to stable storage passes),\n"
	       "atomicity across a crash or a power cut, or two processes at once: it runs in\n"
	       "one process.  For the first two, licvault's source tree has a power-cut test\n"
	       "(tests/powercut/, docs/reliability.md).\n"
	       "\nExit status: 0 when every check passes; 1 when one fails, a URI it cannot open\n"
	       "included (it fails preflight, with NO_DRIVER for a scheme no driver serves);\n"
	       "2 for a usage or config error.\n");
}

/* A whole number from 0 to 65536, or -1. */
static long mib_arg(const char *s)
{
	char *end;
	long v = strtol(s, &end, 10);
	return *s && !*end && v >= 0 && v <= 65536 ? v : -1;
}

typedef struct args {
	const char *config, *uri;
	char *dirs[DIRS_MAX]; /* --driver-dir, made absolute, in order */
	int n_dirs;
	lvc_options opt;
} args;

/* Take --driver-dir `dir`: made absolute (realpath); 0, or 2 after saying why. */
static int add_dir(args *a, const char *dir)
{
	char real[PATH_MAX];
	struct stat st;
	const char *why = NULL;
	if (a->n_dirs == DIRS_MAX)
		why = "too many --driver-dir";
	else if (!realpath(dir, real) || stat(real, &st) != 0)
		why = strerror(errno);
	else if (!S_ISDIR(st.st_mode))
		why = "not a directory";
	else if (!(a->dirs[a->n_dirs] = strdup(real)))
		why = "out of memory";
	if (why) {
		fprintf(stderr, "lvconform: --driver-dir %s: %s\n", dir, why);
		return 2;
	}
	a->n_dirs++;
	return 0;
}

/* The command line into *a: -1 to go on, else the exit status. */
static int parse_args(args *a, int argc, char **argv)
{
	static const struct option lo[] = {{"config", 1, NULL, 'c'}, {"driver-dir", 1, NULL, 'd'}, {"large", 1, NULL, 'l'},
	                                   {"verbose", 0, NULL, 'v'}, {"help", 0, NULL, 'h'},     {NULL, 0, NULL, 0}};
	int c, status = -1;
	while (status < 0 && (c = getopt_long(argc, argv, "vh", lo, NULL)) != -1) {
		switch (c) {
		case 'c': a->config = optarg; break;
		case 'd':
			if (add_dir(a, optarg))
				status = 2;
			break;
		case 'l':
			if (mib_arg(optarg) < 0) {
				fprintf(stderr, "lvconform: --large %s: expected a size in MiB from 0 to 65536\n", optarg);
				status = 2;
			}
			a->opt.large_mib = (unsigned)mib_arg(optarg);
			break;
		case 'v': a->opt.verbose = 1; break;
		case 'h': help(); status = 0; break;
		default: fputs(USAGE, stderr); status = 2;
		}
	}
	if (status < 0 && optind != argc - 1) {
		fputs(USAGE "lvconform --help says more\n", stderr);
		status = 2;
	}
	if (status < 0)
		a->uri = argv[optind];
	return status;
}

/*
 * The --driver-dir folders at the head of $LICVAULT_DRIVER_PATH, which the
 * library searches right after the config's driver_path: 0, or 2.
 */
static int search_dirs_first(const args *a)
{
	const char *old = getenv("LICVAULT_DRIVER_PATH");
	size_t len = old ? strlen(old) + 1 : 1;
	for (int i = 0; i < a->n_dirs; i++)
		len += strlen(a->dirs[i]) + 1;
	char *path = malloc(len);
	if (!path) {
		fprintf(stderr, "lvconform: out of memory\n");
		return 2;
	}
	path[0] = '\0';
	for (int i = 0; i < a->n_dirs; i++)
		strcat(strcat(path, a->dirs[i]), ":");
	strcat(path, old ? old : "");
	if (path[strlen(path) - 1] == ':')
		path[strlen(path) - 1] = '\0';
	int rc = setenv("LICVAULT_DRIVER_PATH", path, 1);
	free(path);
	if (rc) {
		fprintf(stderr, "lvconform: cannot set LICVAULT_DRIVER_PATH: %s\n", strerror(errno));
		return 2;
	}
	return 0;
}

/* What the driver listing says about the URI's scheme and the --driver-dir folders. */
typedef struct survey {
	const args *a;
	const char *name;  /* the driver serving the URI, NULL when none does */
	char scheme[64];   /* the URI's scheme */
	char line[PATH_MAX + 200], served_path[PATH_MAX];
	char refused[PATH_MAX + 600]; /* why a --driver-dir folder is not searched */
	char shadowed[PATH_MAX * 2 + 600]; /* a --driver-dir driver for the scheme that lost it */
} survey;

/* The URI's scheme: A of A+INNER://..., A of A://..., "file" for a plain path. */
static void uri_scheme(const char *uri, char *out, size_t cap)
{
	size_t n = strspn(uri, "abcdefghijklmnopqrstuvwxyz0123456789.-_+");
	if (n == 0 || uri[n] != ':')
		snprintf(out, cap, "file");
	else
		snprintf(out, cap, "%.*s", (int)strcspn(uri, "+:"), uri);
}

/* The --driver-dir folder holding path (a file, or the folder itself), else NULL. */
static const char *in_dirs(const args *a, const char *path)
{
	for (int i = 0; i < a->n_dirs; i++) {
		size_t n = strlen(a->dirs[i]);
		if (!strncmp(path, a->dirs[i], n) && (path[n] == '/' || path[n] == '\0'))
			return a->dirs[i];
	}
	return NULL;
}

static int serves(const lv_driver_info *info, const char *scheme)
{
	size_t n = strlen(scheme);
	for (const char *s = info->schemes; s && *s; s += strcspn(s, " "), s += strspn(s, " "))
		if (!strncmp(s, scheme, n) && (s[n] == ' ' || s[n] == '\0'))
			return 1;
	return 0;
}

static int survey_cb(const lv_driver_info *info, void *ud)
{
	survey *s = ud;
	const char *dir = in_dirs(s->a, info->path);
	if (s->name && !info->refused && info->name && !strcmp(info->name, s->name) && !s->line[0]) {
		snprintf(s->line, sizeof s->line, "driver '%s' %s (ABI %u.%u) from %s", info->name, info->version,
		         info->abi_major, info->abi_minor, info->path);
		snprintf(s->served_path, sizeof s->served_path, "%s", info->path);
	} else if (dir && !strcmp(info->path, dir) && info->refused && !s->refused[0])
		snprintf(s->refused, sizeof s->refused, "--driver-dir %s: %s", dir, info->reason ? info->reason : "refused");
	else if (s->name && dir && serves(info, s->scheme) && !s->shadowed[0])
		snprintf(s->shadowed, sizeof s->shadowed, "--driver-dir %s: %s serves '%s', but %s", dir, info->path,
		         s->scheme, info->reason ? info->reason : "another driver serves it, found first");
	return 0;
}

/*
 * Print the line naming the driver that serves a->uri (none when no driver
 * does: preflight says so).  2 when a --driver-dir folder is not searched
 * (licvault's trust rules), or holds a driver for the URI's scheme that a
 * driver found before it (in the config's driver_path) would replace in
 * the test; else 0.
 */
static int name_driver(lv_context *ctx, const args *a)
{
	survey s = {.a = a};
	char *resolved = NULL;
	if (lv_context_resolve(ctx, a->uri, &resolved, &s.name) == 0)
		uri_scheme(resolved, s.scheme, sizeof s.scheme);
	else
		s.name = NULL;
	free(resolved);
	lv_context_drivers(ctx, survey_cb, &s);
	if (s.refused[0]) {
		fprintf(stderr, "lvconform: %s\n", s.refused);
		return 2;
	}
	if (s.shadowed[0] && !in_dirs(a, s.served_path)) {
		fprintf(stderr, "lvconform: %s; it would not be the driver tested (see licvault drivers -v): take that "
		                "folder out of driver_path, or use a config without it\n", s.shadowed);
		return 2;
	}
	if (s.line[0]) {
		printf("%s\n", s.line);
		fflush(stdout);
	}
	return 0;
}

/* Load and check the config, name the driver, run the suite: the exit status. */
static int run(lv_context *ctx, const args *a)
{
	if (lv_context_load_config(ctx, a->config) || lv_context_check_config(ctx)) {
		fprintf(stderr, "lvconform: %s\n", lv_context_last_error(ctx));
		return 2;
	}
	if (name_driver(ctx, a))
		return 2;
	lvc_result res;
	lvc_run(ctx, a->uri, &a->opt, &res);
	printf("%d passed, %d failed\n", res.ran - res.failed, res.failed);
	return res.failed ? 1 : 0;
}

int main(int argc, char **argv)
{
	args a = {.opt = {32, 0, stderr}};
	lv_context *ctx = NULL;
	int status = parse_args(&a, argc, argv);
	if (status < 0 && a.n_dirs)
		status = search_dirs_first(&a) ? 2 : -1;
	if (status < 0 && lv_context_new(&ctx)) {
		fprintf(stderr, "lvconform: out of memory\n");
		status = 2;
	}
	if (status < 0)
		status = run(ctx, &a);
	lv_context_free(ctx);
	for (int i = 0; i < a.n_dirs; i++)
		free(a.dirs[i]);
	return status;
}
