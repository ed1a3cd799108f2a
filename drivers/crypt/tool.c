/*
 * lvcrypt: the crypt driver's key management verbs from the command line,
 * until ABI 1.1 gives drivers ops->control and the CLI `licvault crypt
 * VERB URI`.  Built in the build tree only (build/crypt/lvcrypt), never
 * installed; the tests use it.
 *
 *   lvcrypt [--config FILE] [-v] VERB URI [ARG...]
 *     VERB: init, passwd, add-key, remove-key, keys, export-key (docs/drivers/crypt.md)
 *
 * It links the driver's sources and gives them a host made of the public
 * API (lv_context_config_get, lv_location_open for the inner location),
 * then calls lvc_control: the few lines `licvault crypt` will need are
 * main()'s last ones.  Exit: 0, 1 (the error, named), 2 (usage).
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crypt_int.h"
#include "licvault/licvault.h"
#include "licvault/sys/location.h"

/* The driver's descriptor: its entry function, linked in. */
const lv_driver *lv_driver_entry(void);

struct lv_host_ctx {
	lv_context *ctx;
	char section[200];         /* "location NAME" when the URI named one, else "" */
	int verbose;
	int code;
	char msg[1024];
	struct lv_location *inner; /* the last inner location opened, for its messages */
};

static void t_log(lv_host_ctx *h, int level, const char *fmt, ...)
{
	if (level > (h->verbose > 1 ? LV_LOG_DEBUG : h->verbose ? LV_LOG_INFO : LV_LOG_WARN))
		return;
	va_list ap;
	va_start(ap, fmt);
	fprintf(stderr, "lvcrypt: ");
	vfprintf(stderr, fmt, ap);
	fprintf(stderr, "\n");
	va_end(ap);
}

static const char *t_config_get(lv_host_ctx *h, const char *key, unsigned index)
{
	if (index)
		return NULL;
	const char *v = h->section[0] ? lv_context_config_get(h->ctx, h->section, key) : NULL;
	return v ? v : lv_context_config_get(h->ctx, "driver crypt", key);
}

static int t_canceled(lv_host_ctx *h) { (void)h; return 0; }
static void t_progress(lv_host_ctx *h, uint64_t bytes) { (void)h; (void)bytes; }

static int t_set_error(lv_host_ctx *h, int code, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(h->msg, sizeof h->msg, fmt, ap);
	va_end(ap);
	h->code = code;
	return code;
}

static int t_open_uri(lv_host_ctx *h, const char *uri, unsigned flags, lv_location **out)
{
	int rc = lv_location_open(out, h->ctx, uri, flags);
	if (rc)
		t_set_error(h, rc, "%s", lv_context_last_error(h->ctx));
	else
		h->inner = *out;
	return rc;
}

static const lv_driver_ops *t_location_ops(lv_location *l) { return lv_location_driver_ops(l); }
static void *t_location_instance(lv_location *l) { return lv_location_driver_instance(l); }
static void t_location_close(lv_location *l) { lv_location_close(l); }

static const lv_host tool_host = {
	.size = sizeof(lv_host),
	.abi_minor = LV_DRIVER_ABI_MINOR,
	.log = t_log,
	.config_get = t_config_get,
	.canceled = t_canceled,
	.progress = t_progress,
	.set_error = t_set_error,
	.open_uri = t_open_uri,
	.location_ops = t_location_ops,
	.location_instance = t_location_instance,
	.location_close = t_location_close,
};

static void emit_line(const char *line, void *ud)
{
	(void)ud;
	printf("%s\n", line);
	fflush(stdout);
}

static int usage(void)
{
	fprintf(stderr, "usage: lvcrypt [--config FILE] [-v] VERB URI [ARG...]\n"
	                "  VERB: init [label=TEXT] [key_file=FILE] | passwd [label=TEXT] [new_passphrase_file=FILE |\n"
	                "        new_passphrase_command=CMD] | add-key (as passwd) | remove-key ID | keys | export-key\n");
	return 2;
}

/* crypt+NAME:... names a location: its section overrides the driver's keys. */
static void location_section(lv_host_ctx *h, const char *uri)
{
	const char *in = !strncmp(uri, "crypt+", 6) ? uri + 6 : uri;
	size_t n = strspn(in, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-");
	if (n && in[n] == ':' && in[n + 1] != '/' && n < 150) {
		snprintf(h->section, sizeof h->section, "location %.*s", (int)n, in);
		if (!lv_context_config_get(h->ctx, h->section, "uri"))
			h->section[0] = '\0';
	}
}

static int run(lv_host_ctx *h, const char *verb, const char *uri, const char *const *args, size_t nargs)
{
	char *resolved = NULL;
	const char *driver = NULL;
	int rc = lv_context_resolve(h->ctx, uri, &resolved, &driver);
	if (rc) {
		t_set_error(h, rc, "%s", lv_context_last_error(h->ctx));
		return rc;
	}
	location_section(h, uri);
	int reads = !strcmp(verb, "keys") || !strcmp(verb, "export-key");
	void *inst = NULL;
	const lv_driver *d = lv_driver_entry();
	rc = d->ops->open(&tool_host, h, resolved, reads ? LV_OPEN_READ : LV_OPEN_WRITE, &inst);
	if (!rc) {
		/* what `licvault crypt` does with ABI 1.1: ops->control(inst, verb, args, nargs, emit, ud) */
		rc = lvc_control(inst, verb, args, nargs, emit_line, NULL);
		if (!rc && !reads && d->ops->sync)
			rc = d->ops->sync(inst);
		if (rc && !h->msg[0] && h->inner) /* the inner driver's own message */
			snprintf(h->msg, sizeof h->msg, "%s", lv_location_last_error(h->inner));
		d->ops->close(inst);
	}
	free(resolved);
	return rc;
}

int main(int argc, char **argv)
{
	const char *config = NULL;
	int verbose = 0, i = 1;
	for (; i < argc && argv[i][0] == '-'; i++) {
		if (!strcmp(argv[i], "--config") && i + 1 < argc)
			config = argv[++i];
		else if (!strcmp(argv[i], "-v"))
			verbose++;
		else if (!strcmp(argv[i], "-vv"))
			verbose += 2;
		else
			return usage();
	}
	if (argc - i < 2)
		return usage();
	lv_context *ctx = NULL;
	if (lv_context_new(&ctx))
		return 1;
	lv_host_ctx h = {.ctx = ctx, .verbose = verbose};
	int rc = lv_context_load_config(ctx, config);
	if (rc)
		t_set_error(&h, rc, "%s", lv_context_last_error(ctx));
	else
		rc = run(&h, argv[i], argv[i + 1], (const char *const *)argv + i + 2, (size_t)(argc - i - 2));
	if (rc) {
		const char *msg = h.msg[0] ? h.msg : "";
		fprintf(stderr, "lvcrypt: error: %s: %s\n", lv_error_name(rc), msg[0] ? msg : lv_strerror(rc));
	}
	lv_context_free(ctx);
	return rc ? 1 : 0;
}
