/*
 * licvault: the command-line tool.  Uses the public API only.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "licvault/licvault.h"

#define EXIT_RUN 1
#define EXIT_USAGE 2

static struct {
	const char *config;
	const char *store;
	int json;
	int quiet;
	int verbose;
	int tty;
} opt;

static lv_context *ctx;

static const char usage_text[] =
	"usage: licvault [--config FILE] [--store FILE] [--json] [-q] [-v] COMMAND [ARGS]\n"
	"\n"
	"Back up and restore licenses to any storage location.\n"
	"\n"
	"commands:\n"
	"  backup [--overwrite] URI       back up the store's licenses to URI\n"
	"  restore [--individualize] URI  restore the licenses backed up at URI into the store\n"
	"  verify URI                     check the backup at URI whole, changing nothing\n"
	"  store list                     list the store's licenses\n"
	"  store import FILE...           import license files (all or none)\n"
	"  store export KID DIR           write a license to DIR/KID.lic\n"
	"  store remove KID               remove a license\n"
	"  identity                       show the store's machine identity\n"
	"  drivers [-v]                   list drivers (and, with -v, the search path)\n"
	"  locations                      list candidate locations (plugged-in volumes...)\n"
	"  config check | config show     check the config file / print the effective config\n"
	"\n"
	"URIs: file:///abs/dir or a path, removable://LABEL/dir, sftp://[user@]host[:port]/dir,\n"
	"      bundle+URI (one compressed file), NAME: or NAME:sub/dir (a location from the config)\n"
	"\n"
	"global options (before the command):\n"
	"  --config FILE  config file (else $LICVAULT_CONFIG, $XDG_CONFIG_HOME/licvault/config\n"
	"                 or ~/.config/licvault/config, /etc/licvault/config)\n"
	"  --store FILE   license store (else $LICVAULT_STORE, the config's store, $XDG_DATA_HOME/licvault/store.db)\n"
	"  --json         one JSON object per line per event on standard output\n"
	"  -q, --quiet    print errors only\n"
	"  -v, --verbose  say more (config file, driver search path)\n"
	"  -h, --help     this help\n"
	"  --version      print the version\n";

static void usage_error(const char *fmt, ...) __attribute__((noreturn, format(printf, 1, 2)));
static void usage_error(const char *fmt, ...)
{
	va_list ap;
	fprintf(stderr, "licvault: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\n(see licvault --help)\n");
	lv_context_free(ctx);
	exit(EXIT_USAGE);
}

/* Print "licvault: error: NAME: message" and return the exit code for it. */
static int fail(int code, const char *msg)
{
	if (!msg || !*msg)
		msg = lv_strerror(code);
	fprintf(stderr, "licvault: error: %s: %s\n", lv_error_name(code), msg);
	return code == LV_E_CONFIG || code == LV_E_INVALID_ARG ? EXIT_USAGE : EXIT_RUN;
}

static void json_str(FILE *f, const char *s)
{
	fputc('"', f);
	for (const unsigned char *p = (const unsigned char *)(s ? s : ""); *p; p++) {
		switch (*p) {
		case '"': fputs("\\\"", f); break;
		case '\\': fputs("\\\\", f); break;
		case '\n': fputs("\\n", f); break;
		case '\r': fputs("\\r", f); break;
		case '\t': fputs("\\t", f); break;
		default:
			if (*p < 0x20)
				fprintf(f, "\\u%04x", *p);
			else
				fputc(*p, f);
		}
	}
	fputc('"', f);
}

static void log_cb(int level, const char *line, void *ud)
{
	(void)ud;
	static const char *names[] = {"error", "warning", "info", "debug"};
	fprintf(stderr, "licvault: %s: %s\n", names[level & 3], line);
}

/* ---- store ----------------------------------------------------------- */

static char *store_path(void)
{
	if (opt.store)
		return strdup(opt.store);
	const char *e = getenv("LICVAULT_STORE");
	if (e && *e)
		return strdup(e);
	const char *c = lv_context_config_get(ctx, "licvault", "store");
	if (c)
		return strdup(c);
	const char *xdg = getenv("XDG_DATA_HOME");
	const char *home = getenv("HOME");
	char buf[4096];
	if (xdg && *xdg)
		snprintf(buf, sizeof buf, "%s/licvault/store.db", xdg);
	else
		snprintf(buf, sizeof buf, "%s/.local/share/licvault/store.db", home ? home : ".");
	return strdup(buf);
}

static int open_store(lv_store **out, unsigned flags, int *exitcode)
{
	char *p = store_path();
	int rc = lv_store_open(out, ctx, p, flags);
	if (rc) {
		*exitcode = fail(rc, lv_context_last_error(ctx));
		free(p);
		return rc;
	}
	if (opt.verbose)
		fprintf(stderr, "licvault: store: %s\n", p);
	free(p);
	return 0;
}

/* ---- runs -------------------------------------------------------------- */

typedef struct run_view {
	const char *what;
	int bar_shown;
	uint64_t restricted, refused;
} run_view;

static void clear_bar(run_view *v)
{
	if (v->bar_shown) {
		fprintf(stderr, "\r\033[K");
		v->bar_shown = 0;
	}
}

static void on_status(int status, int result, const lv_value *val, void *ud)
{
	run_view *v = ud;
	if (opt.json) {
		if (status == LV_STATUS_PROGRESS && !opt.verbose && 0)
			return;
		printf("{\"event\":\"%s\"", lv_status_name(status));
		switch (status) {
		case LV_STATUS_RESTRICTED_LICENSE:
		case LV_STATUS_REFUSED_LICENSE:
			printf(",\"kid\":");
			json_str(stdout, val->u.license.kid);
			if (val->u.license.title) {
				printf(",\"title\":");
				json_str(stdout, val->u.license.title);
			}
			if (status == LV_STATUS_REFUSED_LICENSE) {
				printf(",\"reason\":");
				json_str(stdout, lv_error_name(result));
			}
			break;
		case LV_STATUS_PROGRESS:
			printf(",\"done\":%" PRIu64 ",\"total\":%" PRIu64 ",\"bytes\":%" PRIu64, val->u.progress.done,
			       val->u.progress.total, val->u.progress.bytes);
			break;
		case LV_STATUS_INDIVIDUALIZE:
			printf(",\"machine_id\":");
			json_str(stdout, val->u.str);
			break;
		case LV_STATUS_END:
			printf(",\"result\":");
			json_str(stdout, result ? lv_error_name(result) : "ok");
			if (val->type == LV_TYPE_STRING && val->u.str && *val->u.str) {
				printf(",\"message\":");
				json_str(stdout, val->u.str);
			}
			break;
		}
		printf("}\n");
		fflush(stdout);
		return;
	}
	switch (status) {
	case LV_STATUS_BEGIN:
		if (!opt.quiet)
			printf("%s: begin\n", v->what);
		break;
	case LV_STATUS_RESTRICTED_LICENSE:
		v->restricted++;
		clear_bar(v);
		if (!opt.quiet)
			printf("%s: not backed up (no backup right): %s \"%s\"\n", v->what, val->u.license.kid,
			       val->u.license.title ? val->u.license.title : "(untitled)");
		break;
	case LV_STATUS_REFUSED_LICENSE:
		v->refused++;
		clear_bar(v);
		if (!opt.quiet)
			printf("%s: refused (%s): %s\n", v->what, lv_error_name(result), val->u.license.kid);
		break;
	case LV_STATUS_CONNECTING:
		if (!opt.quiet)
			printf("%s: connecting to the license service\n", v->what);
		break;
	case LV_STATUS_DISCONNECTING:
		if (!opt.quiet)
			printf("%s: disconnecting from the license service\n", v->what);
		break;
	case LV_STATUS_INDIVIDUALIZE:
		if (!opt.quiet)
			printf("%s: store individualized: machine %s\n", v->what, val->u.str);
		break;
	case LV_STATUS_PROGRESS:
		if (opt.tty && !opt.quiet && val->u.progress.total) {
			uint64_t d = val->u.progress.done, t = val->u.progress.total;
			int pct = (int)(d * 100 / t), w = pct / 4;
			fprintf(stderr, "\r[%-25.*s] %3d%% %" PRIu64 "/%" PRIu64 " licenses, %.1f MB", w,
			        "#########################", pct, d, t, (double)val->u.progress.bytes / 1e6);
			v->bar_shown = 1;
		}
		break;
	case LV_STATUS_END:
		clear_bar(v);
		if (result == 0 && !opt.quiet) {
			printf("%s: end: ok", v->what);
			if (val->type == LV_TYPE_STRING && val->u.str && *val->u.str)
				printf(" (%s)", val->u.str);
			printf("\n");
		} else if (result && !opt.quiet)
			printf("%s: end: %s\n", v->what, lv_error_name(result));
		break;
	}
	fflush(stdout);
}

static int run_cmd(const char *kind, const char *uri, unsigned flags)
{
	int ex = 0;
	lv_store *store = NULL;
	unsigned sflags = !strcmp(kind, "restore") ? LV_STORE_CREATE : 0;
	if (strcmp(kind, "verify") && open_store(&store, sflags, &ex))
		return ex;
	if (!store) {
		/* verify needs no store, but the restorer object wants one: a throwaway in memory is not
		 * possible with SQLite files, so open the default read-only when present */
		char *p = store_path();
		if (lv_store_open(&store, ctx, p, 0) != 0) {
			char tmpl[] = "/tmp/licvault-verify-XXXXXX";
			char *d = mkdtemp(tmpl);
			char sp[256];
			snprintf(sp, sizeof sp, "%s/s.db", d ? d : "/tmp");
			int rc = lv_store_open(&store, ctx, sp, LV_STORE_CREATE);
			unlink(sp);
			char w[300];
			snprintf(w, sizeof w, "%s-wal", sp);
			unlink(w);
			snprintf(w, sizeof w, "%s-shm", sp);
			unlink(w);
			if (d)
				rmdir(d);
			if (rc) {
				free(p);
				return fail(rc, lv_context_last_error(ctx));
			}
		}
		free(p);
	}
	lv_restorer *r = NULL;
	int rc = lv_restorer_new(&r, ctx, store);
	if (!rc)
		rc = lv_restorer_set_string(r, !strcmp(kind, "backup") ? LV_PROP_BACKUP_PATH : LV_PROP_RESTORE_PATH, uri);
	run_view view = {.what = kind};
	if (!rc) {
		if (!strcmp(kind, "backup"))
			rc = lv_restorer_backup(r, flags, on_status, &view);
		else if (!strcmp(kind, "restore"))
			rc = lv_restorer_restore(r, flags, on_status, &view);
		else
			rc = lv_restorer_verify(r, on_status, &view);
	}
	int result = rc;
	if (!rc)
		lv_restorer_wait(r, &result);
	if (result)
		ex = fail(result, lv_restorer_last_error(r));
	lv_restorer_free(r);
	lv_store_free(store);
	return ex;
}

/* ---- store subcommands ----------------------------------------------- */

static int list_cb(const lv_license *l, void *ud)
{
	(void)ud;
	if (opt.json) {
		printf("{\"kid\":");
		json_str(stdout, l->kid);
		printf(",\"title\":");
		json_str(stdout, l->title);
		printf(",\"content_id\":");
		json_str(stdout, l->content_id);
		printf(",\"issuer\":");
		json_str(stdout, l->issuer);
		printf(",\"backup_allowed\":%s,\"rights\":%u,\"play_count\":%u,\"plays_left\":%u,"
		       "\"issued\":%lld,\"expires\":%lld,\"machine\":",
		       (l->rights & LV_RIGHT_BACKUP) ? "true" : "false", l->rights, l->play_count, l->plays_left,
		       (long long)l->issued, (long long)l->expires);
		json_str(stdout, l->machine);
		printf(",\"payload_bytes\":%zu}\n", l->payload_len);
	} else {
		printf("%-40s %-7s %s\n", l->kid, (l->rights & LV_RIGHT_BACKUP) ? "backup" : "-",
		       l->title ? l->title : "");
	}
	return 0;
}

static int cmd_store(int argc, char **argv)
{
	if (argc < 1)
		usage_error("store: expected list, import, export or remove");
	const char *sub = argv[0];
	int ex = 0;
	lv_store *s = NULL;
	if (!strcmp(sub, "list")) {
		if (argc != 1)
			usage_error("store list takes no arguments");
		if (open_store(&s, 0, &ex))
			return ex;
		int rc = lv_store_foreach(s, list_cb, NULL);
		if (rc)
			ex = fail(rc, lv_store_last_error(s));
	} else if (!strcmp(sub, "import")) {
		if (argc < 2)
			usage_error("store import: expected license files");
		if (open_store(&s, LV_STORE_CREATE, &ex))
			return ex;
		int rc = lv_store_import_files(s, (const char *const *)argv + 1, (size_t)argc - 1, LV_PUT_REPLACE);
		if (rc)
			ex = fail(rc, lv_store_last_error(s));
		else if (!opt.quiet)
			printf("imported %d license%s\n", argc - 1, argc == 2 ? "" : "s");
	} else if (!strcmp(sub, "export")) {
		if (argc != 3)
			usage_error("store export: expected KID DIR");
		if (open_store(&s, 0, &ex))
			return ex;
		lv_license *l = NULL;
		int rc = lv_store_get(s, argv[1], &l);
		if (rc)
			ex = fail(rc, lv_store_last_error(s));
		else {
			char path[4096], err[1024];
			snprintf(path, sizeof path, "%s/%s.lic", argv[2], argv[1]);
			rc = lv_license_write_file(l, path, err, sizeof err);
			if (rc)
				ex = fail(rc, err);
			else if (!opt.quiet)
				printf("%s\n", path);
		}
		lv_license_free(l);
	} else if (!strcmp(sub, "remove")) {
		if (argc != 2)
			usage_error("store remove: expected KID");
		if (open_store(&s, 0, &ex))
			return ex;
		int rc = lv_store_remove(s, argv[1]);
		if (rc)
			ex = fail(rc, lv_store_last_error(s));
	} else
		usage_error("store: unknown subcommand '%s'", sub);
	lv_store_free(s);
	return ex;
}

static int cmd_identity(void)
{
	int ex = 0;
	lv_store *s = NULL;
	if (open_store(&s, 0, &ex))
		return ex;
	lv_identity id;
	int rc = lv_store_identity(s, &id);
	if (rc)
		ex = fail(rc, lv_store_last_error(s));
	else if (opt.json) {
		printf("{\"machine_id\":");
		json_str(stdout, id.machine_id);
		printf(",\"individualized\":%s,\"other_host\":%s,\"since\":%lld}\n", id.individualized ? "true" : "false",
		       id.other_host ? "true" : "false", (long long)id.since);
	} else if (!id.machine_id[0])
		printf("machine: none (not individualized; a restore needs --individualize)\n");
	else
		printf("machine: %s\nstate: %s\n", id.machine_id,
		       id.individualized ? "individualized on this host"
		                         : "individualized on another host (copied store); a restore needs --individualize");
	lv_store_free(s);
	return ex;
}

static int drivers_cb(const lv_driver_info *i, void *ud)
{
	(void)ud;
	if (opt.json) {
		printf("{\"path\":");
		json_str(stdout, i->path);
		if (!i->refused) {
			printf(",\"name\":");
			json_str(stdout, i->name);
			printf(",\"version\":");
			json_str(stdout, i->version);
			printf(",\"abi\":\"%u.%u\",\"schemes\":", i->abi_major, i->abi_minor);
			json_str(stdout, i->schemes);
		}
		printf(",\"refused\":%s", i->refused ? "true" : "false");
		if (i->reason) {
			printf(",\"reason\":");
			json_str(stdout, i->reason);
		}
		printf("}\n");
	} else if (i->refused)
		printf("refused  %s: %s\n", i->path, i->reason ? i->reason : "?");
	else {
		printf("%-10s %-8s ABI %u.%u  schemes: %-18s %s\n", i->name, i->version, i->abi_major, i->abi_minor,
		       i->schemes, i->path);
		if (i->reason)
			printf("  warning: %s\n", i->reason);
	}
	return 0;
}

static int path_cb(const char *dir, const char *origin, void *ud)
{
	int *n = ud;
	printf("  %d. %s (%s)\n", ++*n, dir, origin);
	return 0;
}

static int cmd_drivers(int argc, char **argv)
{
	int verbose = opt.verbose;
	for (int i = 0; i < argc; i++) {
		if (!strcmp(argv[i], "-v") || !strcmp(argv[i], "--verbose"))
			verbose = 1;
		else
			usage_error("drivers: unknown argument '%s'", argv[i]);
	}
	if (verbose && !opt.json) {
		int n = 0;
		printf("driver search path, in order:\n");
		lv_context_driver_path(ctx, path_cb, &n);
	}
	lv_context_drivers(ctx, drivers_cb, NULL);
	return 0;
}

static int loc_cb(const lv_location_info *l, void *ud)
{
	(void)ud;
	if (opt.json) {
		printf("{\"driver\":");
		json_str(stdout, l->driver);
		printf(",\"uri\":");
		json_str(stdout, l->uri);
		printf(",\"label\":");
		json_str(stdout, l->label);
		printf(",\"id\":");
		json_str(stdout, l->id);
		printf(",\"fstype\":");
		json_str(stdout, l->fstype);
		printf(",\"where\":");
		json_str(stdout, l->where);
		printf(",\"free_bytes\":%" PRIu64 "}\n", l->free_bytes);
	} else
		printf("%-30s %-10s %-36s %-8s %8.1f MB free  %s\n", l->uri, l->label ? l->label : "-",
		       l->id ? l->id : "-", l->fstype ? l->fstype : "-",
		       l->free_bytes == UINT64_MAX ? 0.0 : (double)l->free_bytes / 1e6, l->where ? l->where : "");
	return 0;
}

static void emit_line(const char *line, void *ud)
{
	(void)ud;
	printf("%s\n", line);
}

static int cmd_config(int argc, char **argv)
{
	if (argc != 1)
		usage_error("config: expected check or show");
	if (!strcmp(argv[0], "check")) {
		/* already checked at start-up */
		if (!opt.quiet)
			printf("config %s: ok\n", lv_context_config_path(ctx) ? lv_context_config_path(ctx) : "(none)");
		return 0;
	}
	if (!strcmp(argv[0], "show"))
		return lv_context_show_config(ctx, emit_line, NULL) ? EXIT_RUN : 0;
	usage_error("config: unknown subcommand '%s'", argv[0]);
}

/* ---- main ----------------------------------------------------------------- */

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{"config", required_argument, NULL, 'c'},
		{"store", required_argument, NULL, 's'},
		{"json", no_argument, NULL, 'j'},
		{"quiet", no_argument, NULL, 'q'},
		{"verbose", no_argument, NULL, 'v'},
		{"help", no_argument, NULL, 'h'},
		{"version", no_argument, NULL, 'V'},
		{NULL, 0, NULL, 0},
	};
	int c;
	/* "+": stop at the command, so its own options are not taken as global ones */
	while ((c = getopt_long(argc, argv, "+qvh", longopts, NULL)) != -1) {
		switch (c) {
		case 'c': opt.config = optarg; break;
		case 's': opt.store = optarg; break;
		case 'j': opt.json = 1; break;
		case 'q': opt.quiet = 1; break;
		case 'v': opt.verbose = 1; break;
		case 'h': fputs(usage_text, stdout); return 0;
		case 'V': printf("licvault %s\n", lv_version()); return 0;
		default: fprintf(stderr, "(see licvault --help)\n"); return EXIT_USAGE;
		}
	}
	if (optind >= argc) {
		fputs(usage_text, stderr);
		return EXIT_USAGE;
	}
	opt.tty = isatty(STDERR_FILENO) && !opt.json;
	if (lv_context_new(&ctx))
		return fail(LV_E_NOMEM, NULL);
	lv_context_set_log(ctx, opt.verbose ? LV_LOG_INFO : opt.quiet ? LV_LOG_ERROR : LV_LOG_WARN, log_cb, NULL);
	int rc = lv_context_load_config(ctx, opt.config);
	if (!rc)
		rc = lv_context_check_config(ctx);
	if (rc) {
		int ex = fail(rc, lv_context_last_error(ctx));
		lv_context_free(ctx);
		return rc == LV_E_CONFIG ? EXIT_USAGE : ex;
	}
	const char *cmd = argv[optind];
	int nargs = argc - optind - 1;
	char **args = argv + optind + 1;
	int ex;
	if (!strcmp(cmd, "backup") || !strcmp(cmd, "restore") || !strcmp(cmd, "verify")) {
		unsigned flags = 0;
		const char *uri = NULL;
		for (int i = 0; i < nargs; i++) {
			if (!strcmp(cmd, "backup") && !strcmp(args[i], "--overwrite"))
				flags |= LV_BACKUP_OVERWRITE;
			else if (!strcmp(cmd, "restore") && !strcmp(args[i], "--individualize"))
				flags |= LV_RESTORE_INDIVIDUALIZE;
			else if (args[i][0] == '-' && args[i][1])
				usage_error("%s: unknown option '%s'", cmd, args[i]);
			else if (uri)
				usage_error("%s: one URI only", cmd);
			else
				uri = args[i];
		}
		if (!uri)
			usage_error("%s: expected a URI", cmd);
		ex = run_cmd(cmd, uri, flags);
	} else if (!strcmp(cmd, "store"))
		ex = cmd_store(nargs, args);
	else if (!strcmp(cmd, "identity"))
		ex = cmd_identity();
	else if (!strcmp(cmd, "drivers"))
		ex = cmd_drivers(nargs, args);
	else if (!strcmp(cmd, "locations"))
		ex = lv_context_locations(ctx, loc_cb, NULL) ? EXIT_RUN : 0;
	else if (!strcmp(cmd, "config"))
		ex = cmd_config(nargs, args);
	else if (!strcmp(cmd, "help")) {
		fputs(usage_text, stdout);
		ex = 0;
	} else
		usage_error("unknown command '%s'", cmd);
	lv_context_free(ctx);
	return ex;
}
