/*
 * Test driver "hostprobe": its commands (ABI 1.1 control, run by
 * tests/test_host.c through lv_location_control) call one host service
 * each and print what the host answered, so the services are tested as a
 * driver meets them.  The location (hostprobe://ANYTHING) holds nothing.
 *
 *   config KEY            config_value: "set=S number=N text=T where=W"
 *   uri URI               uri_parse: "scheme=.. inner=.. user=.. password=.. host=.. port=.. path=.. query=.."
 *   name NAME             name_valid: "valid" or "invalid"
 *   leave-open FILE       a writer tracked and left open; its release appends "released N" to
 *                         FILE, and close appends "closed" (so the order shows)
 *   untrack               untrack (and free) the newest writer left open: it is not released
 *   secret PROMPT [confirm]  ask_secret: "got LEN:SECRET" (a test secret, shown to be checked)
 *   log LEVEL TEXT        log a line at LEVEL (0..3)
 *   errors handled|first  error_save/error_restore around a handled failure, then a real one;
 *                         or two failures described in a row (the first wins)
 *
 * Absent strings print as "-".  For tests only.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "licvault/driver.h"

typedef struct probe {
	const lv_host *host;
	lv_host_ctx *h;
	char file[1024];     /* where leave-open's writers and close report */
	int nopen;
	struct lv_writer *newest;
} probe;

struct lv_writer {
	probe *p;
	int n;
	struct lv_writer *prev;
};

static void report(const probe *p, const char *fmt, int n)
{
	FILE *f = p->file[0] ? fopen(p->file, "a") : NULL;
	if (f) {
		fprintf(f, fmt, n);
		fclose(f);
	}
}

static int p_open(const lv_host *host, lv_host_ctx *h, const char *uri, unsigned flags, void **inst)
{
	(void)uri;
	(void)flags;
	probe *p = calloc(1, sizeof *p);
	if (!p)
		return host->set_error(h, LV_E_NOMEM, "hostprobe: out of memory");
	p->host = host;
	p->h = h;
	*inst = p;
	return 0;
}

static void p_close(void *inst)
{
	probe *p = inst;
	report(p, "closed\n", 0);
	free(p);
}

static void unlink_writer(struct lv_writer *w)
{
	for (struct lv_writer **q = &w->p->newest; *q; q = &(*q)->prev)
		if (*q == w) {
			*q = w->prev;
			return;
		}
}

/* The release the host calls for a writer still tracked at close. */
static void p_release(void *handle)
{
	struct lv_writer *w = handle;
	report(w->p, "released %d\n", w->n);
	unlink_writer(w);
	w->p->host->untrack(w->p->h, w);
	free(w);
}

static const char *s(const char *v)
{
	return v ? v : "-";
}

static int cmd_config(probe *p, const char *key, lv_emit_cb emit, void *ud)
{
	lv_config_value v;
	int rc = p->host->config_value(p->h, key, &v);
	if (rc)
		return rc;
	char line[1024];
	snprintf(line, sizeof line, "set=%d number=%lld text=%s where=%s", v.set, (long long)v.number, s(v.text), s(v.where));
	emit(line, ud);
	return 0;
}

static int cmd_uri(probe *p, const char *uri, lv_emit_cb emit, void *ud)
{
	lv_uri *u = NULL;
	int rc = p->host->uri_parse(p->h, uri, &u);
	if (rc)
		return rc;
	char line[2048];
	snprintf(line, sizeof line, "scheme=%s inner=%s user=%s password=%s host=%s port=%d path=%s query=%s", s(u->scheme),
	         s(u->inner), s(u->user), s(u->password), s(u->host), u->port, s(u->path), s(u->query));
	p->host->uri_free(u);
	emit(line, ud);
	return 0;
}

static int cmd_leave_open(probe *p, const char *file)
{
	struct lv_writer *w = calloc(1, sizeof *w);
	if (!w)
		return p->host->set_error(p->h, LV_E_NOMEM, "hostprobe: out of memory");
	snprintf(p->file, sizeof p->file, "%s", file);
	w->p = p;
	w->n = ++p->nopen;
	int rc = p->host->track(p->h, w, p_release);
	if (rc) {
		free(w);
		return rc;
	}
	w->prev = p->newest;
	p->newest = w;
	return 0;
}

static int cmd_untrack(probe *p, lv_emit_cb emit, void *ud)
{
	struct lv_writer *w = p->newest;
	if (!w)
		return p->host->set_error(p->h, LV_E_INVALID_ARG, "hostprobe: no writer left open");
	p->host->untrack(p->h, w);
	unlink_writer(w);
	char line[64];
	snprintf(line, sizeof line, "untracked %d", w->n);
	free(w);
	emit(line, ud);
	return 0;
}

static int cmd_secret(probe *p, const char *prompt, int confirm, lv_emit_cb emit, void *ud)
{
	char buf[128], line[256];
	size_t len = 0;
	int rc = p->host->ask_secret(p->h, prompt, confirm ? LV_SECRET_CONFIRM : 0, buf, sizeof buf, &len);
	if (rc == LV_E_UNSUPPORTED) /* an answer, not described: the driver says what is missing */
		return p->host->set_error(p->h, rc, "hostprobe: %s is needed, and there is no way to ask for it", prompt);
	if (rc)
		return rc;
	snprintf(line, sizeof line, "got %zu:%s", len, buf);
	memset(buf, 0, sizeof buf);
	emit(line, ud);
	return 0;
}

static int cmd_errors(probe *p, const char *how)
{
	if (!strcmp(how, "first")) {
		p->host->set_error(p->h, LV_E_IO, "hostprobe: the first failure");
		return p->host->set_error(p->h, LV_E_NO_SPACE, "hostprobe: a later failure (cleanup)");
	}
	/* a probe for an object that may be absent, answered here: taken back */
	int saved = p->host->error_save(p->h);
	p->host->set_error(p->h, LV_E_NOT_FOUND, "hostprobe: absent (handled)");
	p->host->error_restore(p->h, saved);
	return p->host->set_error(p->h, LV_E_IO, "hostprobe: the real failure");
}

static int p_control(void *inst, const char *verb, const char *const *args, size_t nargs, lv_emit_cb emit, void *ud)
{
	probe *p = inst;
	const char *a0 = nargs > 0 ? args[0] : NULL, *a1 = nargs > 1 ? args[1] : NULL;
	if (!strcmp(verb, "untrack"))
		return cmd_untrack(p, emit, ud);
	if (!a0)
		return p->host->set_error(p->h, LV_E_INVALID_ARG, "hostprobe %s: an argument is missing", verb);
	if (!strcmp(verb, "config"))
		return cmd_config(p, a0, emit, ud);
	if (!strcmp(verb, "uri"))
		return cmd_uri(p, a0, emit, ud);
	if (!strcmp(verb, "name")) {
		emit(p->host->name_valid(p->h, a0) ? "valid" : "invalid", ud);
		return 0;
	}
	if (!strcmp(verb, "leave-open"))
		return cmd_leave_open(p, a0);
	if (!strcmp(verb, "secret"))
		return cmd_secret(p, a0, a1 && !strcmp(a1, "confirm"), emit, ud);
	if (!strcmp(verb, "log")) {
		p->host->log(p->h, atoi(a0), "%s", s(a1));
		return 0;
	}
	if (!strcmp(verb, "errors"))
		return cmd_errors(p, a0);
	return LV_E_UNSUPPORTED;
}

/* No objects: every object operation answers "unsupported" or "not found". */
static int p_write_begin(void *i, const char *n, uint64_t s_, lv_writer **w)
{
	probe *p = i;
	(void)s_;
	(void)w;
	return p->host->set_error(p->h, LV_E_UNSUPPORTED, "hostprobe holds no objects (%s)", n);
}
static int p_write(lv_writer *w, const void *b, size_t l) { (void)w; (void)b; (void)l; return LV_E_UNSUPPORTED; }
static int p_commit(lv_writer *w, unsigned f) { (void)w; (void)f; return LV_E_UNSUPPORTED; }
static void p_abort(lv_writer *w) { (void)w; }
static int p_read_open(void *i, const char *n, lv_reader **r) { (void)i; (void)n; (void)r; return LV_E_NOT_FOUND; }
static int p_read(lv_reader *r, void *b, size_t c, size_t *n) { (void)r; (void)b; (void)c; (void)n; return LV_E_IO; }
static void p_read_close(lv_reader *r) { (void)r; }
static int p_list(void *i, lv_list_cb cb, void *ud) { (void)i; (void)cb; (void)ud; return 0; }
static int p_remove(void *i, const char *n) { (void)i; (void)n; return LV_E_NOT_FOUND; }

static const lv_driver_ops p_ops = {
	.open = p_open, .close = p_close, .write_begin = p_write_begin, .write = p_write, .commit = p_commit,
	.abort = p_abort, .read_open = p_read_open, .read = p_read, .read_close = p_read_close, .list = p_list,
	.remove = p_remove, .control = p_control,
};

static const char *const p_schemes[] = {"hostprobe", NULL};

static const lv_driver_key p_keys[] = {
	{"flag", LV_KEY_BOOL, "no", "a boolean", 0, 0, NULL, 0},
	{"count", LV_KEY_INT, "5", "a number from 1 to 10", 1, 10, NULL, 0},
	{"mode", LV_KEY_ENUM, "fast", "one of fast, Safe, paranoid", 0, 0, "fast|Safe|paranoid", 0},
	{"label", LV_KEY_STRING, NULL, "a string without a default", 0, 0, NULL, 0},
	{NULL, 0, NULL, NULL, 0, 0, NULL, 0},
};

static const lv_driver_command p_commands[] = {
	{"config", "KEY", "config_value of KEY", 0},
	{"uri", "URI", "uri_parse of URI", 0},
	{"name", "NAME", "name_valid of NAME", 0},
	{"leave-open", "FILE", "track a writer left open; releases and close report to FILE", 0},
	{"untrack", "", "untrack the newest writer left open", 0},
	{"secret", "PROMPT [confirm]", "ask_secret", 0},
	{"log", "LEVEL TEXT", "log a line", 0},
	{"errors", "handled|first", "error_save/error_restore, or the first error winning", 0},
	{NULL, NULL, NULL, 0},
};

static const lv_driver p_driver = {
	LV_DRIVER_INIT_HEADER,
	.name = "hostprobe",
	.version = "1.0.0",
	.schemes = p_schemes,
	.ops = &p_ops,
	.keys = p_keys,
	.commands = p_commands,
};

LV_DRIVER_ENTRY
{
	return &p_driver;
}
