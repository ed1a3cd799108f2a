/*
 * The location layer: a URI (a plain path, a named location, a stacked
 * URI) to an open driver instance, the host table with the stacking
 * services, and the public location API (licvault/sys/location.h).
 */
#include "location.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "licvault/sys/location.h"
#include "uri.h"

/* An error of resolving: the run's when there is one, else the context's. */
static int fail(lv_context *c, lv_run *run, int code, const char *fmt, ...) LV_PRINTF(4, 5);
static int fail(lv_context *c, lv_run *run, int code, const char *fmt, ...)
{
	(void)c;
	va_list ap;
	va_start(ap, fmt);
	lv__err_vset(run ? &run->err : lv__ctx_err(), code, fmt, ap);
	va_end(ap);
	return code;
}

/* ---- resolving ---------------------------------------------------------- */

const char lv__password_advice[] =
	"a URI may not hold a password (user:password@host): it would end up in shell history, process lists and "
	"logs, so it is refused and never shown. Give the driver its secret through the config instead (sftp: "
	"ssh-agent, identity_file, or password_file naming a file only you can read; s3: secret_access_key_file)";

static const char *location_uri(lv_context *c, const char *name)
{
	char sec[128];
	snprintf(sec, sizeof sec, "location %s", name);
	return lv__config_get(c->config, sec, "uri", 0);
}

static int is_location(lv_context *c, const char *name)
{
	char sec[128];
	snprintf(sec, sizeof sec, "location %s", name);
	return lv__config_has_section(c->config, sec);
}

/* Is there a ".." segment in path ('/'-separated, up to its end)? */
static int has_dotdot(const char *path)
{
	for (const char *p = path; p;) {
		if (!strncmp(p, "..", 2) && (p[2] == '/' || !p[2]))
			return 1;
		p = strchr(p, '/');
		if (p)
			p++;
	}
	return 0;
}

/*
 * Does the relative path sub of NAME:sub climb out of the location?  Checked
 * as written (a plain-path location reads it so) and as a driver reads it
 * in a URI: split and percent-decoded by the host's own parser
 * (lv__uri_parse, uriparser), so "%2e%2e", "%2E." and "..%2f" are the ".."
 * they decode to.  1: it leaves; 0: it stays; else an error, with why.
 */
static int leaves(const char *sub, char *why, size_t cap)
{
	if (has_dotdot(sub))
		return 1;
	char *probe = lv__asprintf("x:///%s", sub);
	if (!probe)
		return LV_E_NOMEM;
	lv_uri *u = NULL;
	int rc = lv__uri_parse(probe, &u, why, cap);
	free(probe);
	if (rc)
		return rc;
	rc = u->path && has_dotdot(u->path);
	lv__uri_free(u);
	return rc;
}

/* NAME: or NAME:sub/dir of [location "NAME"] to its URI. */
static int resolve_named(lv_context *c, lv_run *run, const char *uri, const char *name, char **out)
{
	const char *base = location_uri(c, name);
	if (!base) {
		char sec[128];
		snprintf(sec, sizeof sec, "location %s", name);
		return fail(c, run, LV_E_CONFIG, "%s:%d: location \"%s\" has no 'uri'", lv__config_file(c->config),
		            lv__config_section_line(c->config, sec), name);
	}
	const char *sub = uri + strlen(name) + 1;
	while (*sub == '/')
		sub++;
	size_t bl = strlen(base);
	while (bl > 0 && base[bl - 1] == '/')
		bl--;
	char why[512];
	int out_of = leaves(sub, why, sizeof why);
	if (out_of == 1)
		return fail(c, run, LV_E_BAD_URI, "'%s': '..' may not leave the location (percent-encoded or not)", uri);
	if (out_of)
		return fail(c, run, out_of, "'%s': %s", uri, why);
	*out = *sub ? lv__asprintf("%.*s/%s", (int)bl, base, sub) : strdup(base);
	return *out ? 0 : LV_E_NOMEM;
}

/* Userinfo with a ':' between "://" and the next '/', for a URI the parser refuses. */
static int text_has_password(const char *uri)
{
	const char *p = strstr(uri, "://");
	if (!p)
		return 0;
	p += 3;
	const char *end = p + strcspn(p, "/?#");
	const char *at = memchr(p, '@', (size_t)(end - p));
	return at && memchr(p, ':', (size_t)(at - p)) != NULL;
}

char *lv__uri_mask(const char *uri, const char *stars)
{
	if (!uri || !stars)
		return NULL;
	char *out = strdup(uri);
	size_t sl = strlen(stars);
	for (char *p = out; p && (p = strstr(p, "://"));) {
		p += 3;
		char *end = p + strcspn(p, "/?#");
		char *at = memchr(p, '@', (size_t)(end - p));
		char *colon = at ? memchr(p, ':', (size_t)(at - p)) : NULL;
		if (!colon)
			continue;
		size_t keep = (size_t)(colon + 1 - out);
		char *m = lv__asprintf("%.*s%s%s", (int)keep, out, stars, at);
		free(out);
		out = m;
		p = out ? out + keep + sl : NULL;
	}
	return out;
}

int lv__uri_holds_password(const char *uri)
{
	for (const char *u = uri; u && *u;) {
		size_t pl = lv__uri_stack_prefix(u);
		if (pl) {
			u += pl;
			continue;
		}
		lv_uri *p = NULL;
		char why[512];
		if (lv__uri_parse(u, &p, why, sizeof why))
			return text_has_password(u);
		int has = p->password != NULL;
		lv__uri_free(p);
		return has;
	}
	return 0;
}

/*
 * Resolve named locations (NAME: or NAME:sub/dir, also inside A+NAME:...)
 * to their URI.  *loc_name gets the location used (malloc'd) or NULL.
 */
static int resolve(lv_context *c, const char *uri, char **out, char **loc_name, lv_run *run)
{
	char scheme[128];
	*loc_name = NULL;
	/* every URI comes through here: one with a password goes no further, and is never shown */
	if (lv__uri_holds_password(uri)) {
		char *shown = lv__uri_mask(uri, "********");
		fail(c, run, LV_E_BAD_URI, "'%s': %s", shown ? shown : "(a URI)", lv__password_advice);
		free(shown);
		return LV_E_BAD_URI;
	}
	size_t pl = lv__uri_stack_prefix(uri);
	if (pl) {
		/* A+REST: resolve REST (a URI, a plain path or a named location), keep A */
		if (!uri[pl])
			return fail(c, run, LV_E_BAD_URI, "'%s': nothing after '+'", uri);
		char *inner = NULL;
		int rc = resolve(c, uri + pl, &inner, loc_name, run);
		if (rc)
			return rc;
		*out = lv__asprintf("%.*s%s", (int)pl, uri, inner);
		free(inner);
		return *out ? 0 : LV_E_NOMEM;
	}
	if (lv__uri_scheme(uri, scheme, sizeof scheme)) {
		char why[512];
		if (!lv__uri_valid(uri, why, sizeof why))
			return fail(c, run, LV_E_BAD_URI, "%s", why);
		return fail(c, run, LV_E_BAD_URI, "'%s': bad or missing URI scheme", uri);
	}
	if (scheme[0] && is_location(c, scheme)) {
		int rc = resolve_named(c, run, uri, scheme, out);
		if (!rc && lv__uri_holds_password(*out)) { /* the location's own uri */
			char *shown = lv__uri_mask(*out, "********");
			free(*out);
			*out = NULL;
			fail(c, run, LV_E_BAD_URI, "location \"%s\" ('%s'): %s", scheme, shown ? shown : "?", lv__password_advice);
			free(shown);
			return LV_E_BAD_URI;
		}
		if (!rc && !(*loc_name = strdup(scheme))) {
			free(*out);
			*out = NULL;
			rc = LV_E_NOMEM;
		}
		return rc;
	}
	*out = strdup(uri);
	return *out ? 0 : LV_E_NOMEM;
}

lv_loaded *lv__driver_for_uri(lv_context *c, const char *uri, char *scheme, size_t cap)
{
	size_t pl = lv__uri_stack_prefix(uri);
	if (pl && pl < cap) {
		/* the driver claiming A serves A+anything */
		for (size_t i = 0; i + 1 < pl; i++)
			scheme[i] = (char)(uri[i] >= 'A' && uri[i] <= 'Z' ? uri[i] + 32 : uri[i]);
		scheme[pl - 1] = '\0';
		lv_loaded *d = lv__driver_for_scheme(c, scheme);
		snprintf(scheme, cap, "%.*s", (int)pl, uri);
		return d;
	}
	if (lv__uri_scheme(uri, scheme, cap))
		return NULL;
	if (!scheme[0])
		snprintf(scheme, cap, "file");
	return lv__driver_for_scheme(c, scheme);
}

static int no_driver(lv_context *c, lv_run *run, const char *uri, const char *scheme)
{
	if (!scheme[0]) /* lv__uri_scheme found no scheme: not a URI (a named location's, say) */
		return fail(c, run, LV_E_BAD_URI, "'%s': not a valid URI (RFC 3986: a space or another character that must be percent-encoded?)", uri);
	lv_buf known = {0};
	lv__drivers_load(c);
	for (size_t i = 0; i < lv__driver_count(c); i++)
		for (const char **s = lv__driver_at(c, i)->served; s && *s; s++)
			lv__buf_printf(&known, "%s%s", known.len ? ", " : "", *s);
	lv__buf_put(&known, "", 1);
	size_t sl = strlen(scheme);
	if (sl && scheme[sl - 1] == '+')
		sl--; /* the layer A of A+INNER */
	/* "nas:" or "nas:sub" (no "//"): meant as a named location, most likely */
	int named = !strncmp(uri, scheme, sl) && uri[sl] == ':' && strncmp(uri + sl + 1, "//", 2) != 0;
	int rc = fail(c, run, LV_E_NO_DRIVER,
	              "no driver serves the scheme '%.*s' of '%s'%s%.*s%s (schemes served: %s; see `licvault drivers`)",
	              (int)sl, scheme, uri, named ? ", and no [location \"" : "", named ? (int)sl : 0, scheme,
	              named ? "\"] is configured" : "", known.len > 1 ? (char *)known.data : "none");
	lv__buf_free(&known);
	return rc;
}

int lv_context_resolve(lv_context *c, const char *uri, char **uri_out, const char **driver_name)
{
	if (!c || !uri || !uri_out)
		return LV_E_INVALID_ARG;
	lv__ctx_clear();
	char *r = NULL, *loc = NULL;
	int rc = resolve(c, uri, &r, &loc, NULL);
	free(loc);
	if (rc)
		return rc;
	char scheme[128];
	lv_loaded *d = lv__driver_for_uri(c, r, scheme, sizeof scheme);
	if (!d) {
		rc = no_driver(c, NULL, r, scheme);
		free(r);
		return rc;
	}
	*uri_out = r;
	if (driver_name)
		*driver_name = d->desc->name;
	return 0;
}

/* ---- opening ------------------------------------------------------------ */

static void location_free(lv_location *l)
{
	if (!l)
		return;
	if (l->hctx) {
		free(l->hctx->location_name);
		lv__host_ctx_free_strings(l->hctx);
	}
	free(l->hctx);
	free(l->uri);
	free(l->own_run);
	free(l);
}

/*
 * The config location an instance takes key overrides from: its own named
 * location, or (an inner URI a stacking driver opens for bundle+NAME:) the
 * parent's, when the URI lies under that location's URI.
 */
static int inherit_location(lv_context *c, lv_host_ctx *parent, const char *uri, char **loc_name)
{
	if (*loc_name || !parent || !parent->location_name || !uri)
		return 0;
	const char *base = location_uri(c, parent->location_name);
	if (base && !strncmp(uri, base, strlen(base)) && !(*loc_name = strdup(parent->location_name)))
		return LV_E_NOMEM;
	return 0;
}

int lv__location_open(lv_context *c, lv_run *run, lv_host_ctx *parent, const char *uri, unsigned flags,
                      lv_location **out)
{
	char *loc_name = NULL, scheme[128];
	lv_location *l = calloc(1, sizeof *l);
	if (!l || !(l->hctx = calloc(1, sizeof *l->hctx))) {
		free(l);
		return fail(c, run, LV_E_NOMEM, "out of memory opening %s", uri);
	}
	int rc = resolve(c, uri, &l->uri, &loc_name, run);
	if (!rc)
		rc = inherit_location(c, parent, l->uri, &loc_name);
	l->hctx->location_name = loc_name;
	if (rc || !l->uri) {
		location_free(l);
		return rc ? rc : fail(c, run, LV_E_NOMEM, "out of memory opening %s", uri);
	}
	lv_loaded *d = lv__driver_for_uri(c, l->uri, scheme, sizeof scheme);
	if (!d) {
		rc = no_driver(c, run, l->uri, scheme);
		location_free(l);
		return rc;
	}
	l->hctx->ctx = c;
	l->hctx->run = run;
	l->hctx->drv = d;
	l->hctx->loc = l;
	l->drv = d;
	l->ops = &d->ops;
	rc = d->ops.open(&lv__host_table, l->hctx, l->uri, flags, &l->inst);
	if (!lv__err_valid(rc))
		rc = LV_E_IO;
	if (rc) {
		fail(c, run, rc, "driver '%s' cannot open %s: %s", d->desc->name, l->uri, lv_strerror(rc));
		location_free(l);
		return rc;
	}
	*out = l;
	return 0;
}

void lv__location_close(lv_location *l)
{
	if (!l)
		return;
	if (l->inst) {
		/* what a driver says while closing never replaces the run's message */
		lv_run *run = l->hctx->run;
		lv_err saved;
		if (run)
			lv__err_save(&run->err, &saved);
		lv__host_release_tracked(l->hctx);
		l->ops->close(l->inst);
		if (run)
			lv__err_restore(&run->err, &saved);
	}
	if (l->outer && l->outer->inner == l)
		l->outer->inner = NULL;
	if (l->inner)
		l->inner->outer = NULL; /* a driver that did not close its inner location (a leak) */
	location_free(l);
}

const char *lv__location_driver(const lv_location *l)
{
	return l->drv->desc->name;
}

int lv__drv_rc(lv_run *run, lv_location *loc, int rc, const char *what, const char *name)
{
	if (!rc)
		return 0;
	if (!lv__err_valid(rc))
		return lv__run_error(run, LV_E_DRIVER_ABI, "driver '%s' returned an invalid code %d from %s",
		                     lv__location_driver(loc), rc, what);
	/* the driver described it (the first error wins), or a generic message */
	lv__run_error(run, rc, "%s %s at %s: %s", what, name ? name : "", loc->uri, lv_strerror(rc));
	return rc;
}

/* ---- the host table ----------------------------------------------------- */

static int host_open_uri(lv_host_ctx *h, const char *uri, unsigned flags, lv_location **out)
{
	if (!h || !uri || !out)
		return LV_E_INVALID_ARG;
	int rc = lv__location_open(h->ctx, h->run, h, uri, flags, out);
	if (!rc && h->loc) {
		(*out)->outer = h->loc;
		if (!h->loc->inner)
			h->loc->inner = *out;
	}
	return rc;
}

static const lv_driver_ops *host_location_ops(lv_location *l) { return l ? l->ops : NULL; }
static void *host_location_instance(lv_location *l) { return l ? l->inst : NULL; }
static void host_location_close(lv_location *l) { lv__location_close(l); }

const lv_host lv__host_table = {
	.size = sizeof(lv_host),
	.abi_minor = LV_DRIVER_ABI_MINOR,
	.log = lv__host_log,
	.config_get = lv__host_config_get,
	.canceled = lv__host_canceled,
	.progress = lv__host_progress,
	.set_error = lv__host_set_error,
	.open_uri = host_open_uri,
	.location_ops = host_location_ops,
	.location_instance = host_location_instance,
	.location_close = host_location_close,
	.note = lv__host_note,
	.error_save = lv__host_error_save,
	.error_restore = lv__host_error_restore,
	.config_value = lv__host_config_value,
	.uri_parse = lv__host_uri_parse,
	.uri_free = lv__host_uri_free,
	.name_valid = lv__host_name_valid,
	.track = lv__host_track,
	.untrack = lv__host_untrack,
	.ask_secret = lv__host_ask_secret,
	.protected_file = lv__host_protected_file,
};

/* ---- the public location API -------------------------------------------- */

int lv_location_open(lv_location **out, lv_context *c, const char *uri, unsigned flags)
{
	if (!out || !c || !uri)
		return LV_E_INVALID_ARG;
	lv__ctx_clear();
	lv_run *run = calloc(1, sizeof *run);
	if (!run)
		return LV_E_NOMEM;
	lv__run_init(run, c, NULL, NULL);
	int rc = lv__location_open(c, run, NULL, uri, flags, out);
	if (rc) {
		lv__err_set(lv__ctx_err(), rc, "%s", run->err.msg);
		free(run);
		return rc;
	}
	(*out)->own_run = run;
	return 0;
}

const lv_driver_ops *lv_location_driver_ops(lv_location *l) { return l ? l->ops : NULL; }
void *lv_location_driver_instance(lv_location *l) { return l ? l->inst : NULL; }
const char *lv_location_uri(const lv_location *l) { return l ? l->uri : NULL; }

const char *lv_location_last_error(const lv_location *l)
{
	return l && l->hctx->run ? l->hctx->run->err.msg : "";
}

void lv_location_clear_error(lv_location *l)
{
	if (l && l->hctx->run) {
		lv__err_clear(&l->hctx->run->err);
		l->hctx->run->note[0] = '\0';
	}
}

void lv_location_set_canceled(lv_location *l, int canceled)
{
	if (l && l->hctx->run)
		atomic_store(&l->hctx->run->canceled, canceled ? 1 : 0);
}

void lv_location_close(lv_location *l)
{
	lv__location_close(l);
}

/* ---- enumerate ---------------------------------------------------------- */

struct enum_state {
	int (*cb)(const lv_location_info *, void *);
	void *ud;
	const char *name;
};

static int enum_tramp(const lv_candidate *cand, void *p)
{
	struct enum_state *st = p;
	lv_location_info li = {.driver = st->name, .uri = cand->uri, .label = cand->label,
	                       .id = cand->id, .fstype = cand->fstype, .where = cand->where,
	                       .free_bytes = cand->free_bytes, .total_bytes = cand->total_bytes};
	return st->cb(&li, st->ud);
}

int lv_context_locations(lv_context *c, int (*cb)(const lv_location_info *, void *), void *ud)
{
	if (!c || !cb)
		return LV_E_INVALID_ARG;
	lv__drivers_load(c);
	for (size_t i = 0; i < lv__driver_count(c); i++) {
		lv_loaded *d = lv__driver_at(c, i);
		if (!d->ops.enumerate)
			continue;
		lv_host_ctx h = {.ctx = c, .drv = d};
		struct enum_state st = {cb, ud, d->desc->name};
		int rc = d->ops.enumerate(&lv__host_table, &h, enum_tramp, &st);
		lv__host_ctx_free_strings(&h); /* what config_value handed out */
		if (rc && rc != LV_E_UNSUPPORTED)
			lv__log(c, LV_LOG_WARN, "driver '%s': enumerate failed: %s", d->desc->name, lv_error_name(rc));
	}
	return 0;
}

/* ---- driver commands ------------------------------------------------------ */

const lv_driver_command *lv_context_driver_commands(lv_context *c, const char *driver)
{
	if (!c || !driver)
		return NULL;
	lv_loaded *d = lv__driver_named(c, driver);
	return d ? lv__driver_commands(d) : NULL;
}
