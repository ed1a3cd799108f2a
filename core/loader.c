/*
 * The context, the driver loader (dlopen through the versioned driver ABI)
 * and the host services given to drivers.
 */
#include "internal.h"

#include <dirent.h>
#include <dlfcn.h>
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#ifndef LV_DRIVER_INSTALL_DIR
#define LV_DRIVER_INSTALL_DIR "/usr/local/lib/licvault/drivers"
#endif

struct lv_loaded {
	void *dl;
	const lv_driver *desc;
	lv_driver_ops ops;            /* normalized: zero-filled past the driver's ops_size */
	char *path;
	char *schemes;                /* space-separated, for display */
	const char **served;          /* schemes this driver won, NULL-terminated */
};

struct lv_host_ctx {
	lv_context *ctx;
	lv_run *run;
	lv_loaded *drv;
	char *location_name;          /* config location for key overrides, or NULL */
};

const char *lv__loaded_name(const lv_loaded *d) { return d->desc->name; }

/* ---- context ---------------------------------------------------------- */

int lv_context_new(lv_context **out)
{
	if (!out)
		return LV_E_INVALID_ARG;
	lv_context *c = calloc(1, sizeof *c);
	if (!c)
		return LV_E_NOMEM;
	pthread_mutex_init(&c->lock, NULL);
	c->service = &lv__builtin_service;
	*out = c;
	return 0;
}

static void free_drivers(lv_context *c)
{
	for (size_t i = 0; i < c->n_drivers; i++) {
		lv_loaded *d = c->drivers[i];
		free(d->path);
		free(d->schemes);
		free(d->served);
		if (d->dl && !getenv("LICVAULT_NO_DLCLOSE"))
			dlclose(d->dl);
		free(d);
	}
	free(c->drivers);
	for (size_t i = 0; i < c->n_infos; i++) {
		free((char *)c->infos[i].path);
		free((char *)c->infos[i].schemes);
		free((char *)c->infos[i].reason);
		free((char *)c->infos[i].name);
		free((char *)c->infos[i].version);
	}
	free(c->infos);
	for (size_t i = 0; i < c->n_search; i++) {
		free(c->search_dirs[i]);
		free(c->search_origin[i]);
	}
	free(c->search_dirs);
	free(c->search_origin);
	c->drivers = NULL;
	c->infos = NULL;
	c->search_dirs = c->search_origin = NULL;
	c->n_drivers = c->n_infos = c->n_search = 0;
	c->drivers_loaded = 0;
}

void lv_context_free(lv_context *c)
{
	if (!c)
		return;
	if (c->service && c->service->free)
		c->service->free(c->service_ud);
	free_drivers(c);
	for (size_t i = 0; i < c->n_extra_dirs; i++)
		free(c->extra_dirs[i]);
	free(c->extra_dirs);
	lv__config_free(c->config);
	free(c->config_path);
	pthread_mutex_destroy(&c->lock);
	free(c);
}

void lv_context_set_log(lv_context *c, int max_level, lv_log_cb cb, void *ud)
{
	c->log_level = max_level;
	c->log_cb = cb;
	c->log_ud = ud;
}

void lv__vlog(lv_context *c, int level, const char *fmt, va_list ap)
{
	if (!c || !c->log_cb || level > c->log_level)
		return;
	char line[LV_ERRMSG_MAX];
	vsnprintf(line, sizeof line, fmt, ap);
	c->log_cb(level, line, c->log_ud);
}

void lv__log(lv_context *c, int level, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	lv__vlog(c, level, fmt, ap);
	va_end(ap);
}

int lv__ctx_error(lv_context *c, int code, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	lv__verrf(c->errmsg, fmt, ap);
	va_end(ap);
	return code;
}

const char *lv_context_last_error(const lv_context *c)
{
	return c ? c->errmsg : "";
}

int lv_context_set_service(lv_context *c, const lv_service *svc, void *ud)
{
	if (!c || !svc || svc->version < 1 || !svc->begin || !svc->decide || !svc->end)
		return LV_E_INVALID_ARG;
	if (c->service && c->service->free)
		c->service->free(c->service_ud);
	c->service = svc;
	c->service_ud = ud;
	return 0;
}

static int file_exists(const char *p)
{
	struct stat st;
	return p && stat(p, &st) == 0;
}

int lv_context_load_config(lv_context *c, const char *path)
{
	if (!c)
		return LV_E_INVALID_ARG;
	char *found = NULL;
	if (path) {
		if (!file_exists(path))
			return lv__ctx_error(c, LV_E_CONFIG, "%s: config file not found: %s", path, strerror(errno));
		found = strdup(path);
	} else {
		const char *env = getenv("LICVAULT_CONFIG");
		const char *xdg = getenv("XDG_CONFIG_HOME");
		const char *home = getenv("HOME");
		char *cands[3] = {0};
		if (env && *env)
			cands[0] = strdup(env);
		if (xdg && *xdg)
			cands[1] = lv__asprintf("%s/licvault/config", xdg);
		else if (home && *home)
			cands[1] = lv__asprintf("%s/.config/licvault/config", home);
		cands[2] = strdup("/etc/licvault/config");
		if (env && *env && !file_exists(env)) {
			for (int i = 0; i < 3; i++)
				free(cands[i]);
			return lv__ctx_error(c, LV_E_CONFIG, "%s: config file named by $LICVAULT_CONFIG not found", env);
		}
		for (int i = 0; i < 3; i++) {
			if (!found && file_exists(cands[i]))
				found = cands[i];
			else
				free(cands[i]);
		}
	}
	lv__config_free(c->config);
	c->config = NULL;
	free(c->config_path);
	c->config_path = found;
	if (!found) {
		lv__log(c, LV_LOG_INFO, "no config file found; using defaults");
		return 0;
	}
	lv__log(c, LV_LOG_INFO, "config file: %s", found);
	int rc = lv__config_load(&c->config, found, c->errmsg);
	if (rc)
		return rc;
	/* named locations must not shadow a scheme; drivers are checked at load */
	return 0;
}

const char *lv_context_config_path(const lv_context *c)
{
	return c ? c->config_path : NULL;
}

const char *lv_context_config_get(const lv_context *c, const char *section, const char *key)
{
	return c ? lv__config_get(c->config, section, key, 0) : NULL;
}

int lv_context_add_driver_dir(lv_context *c, const char *dir)
{
	if (!c || !dir)
		return LV_E_INVALID_ARG;
	char **n = realloc(c->extra_dirs, (c->n_extra_dirs + 1) * sizeof *n);
	if (!n)
		return LV_E_NOMEM;
	c->extra_dirs = n;
	if (!(n[c->n_extra_dirs] = strdup(dir)))
		return LV_E_NOMEM;
	c->n_extra_dirs++;
	if (c->drivers_loaded)
		free_drivers(c); /* reload with the new path on next use */
	return 0;
}

/* ---- search path ------------------------------------------------------- */

static void add_search(lv_context *c, const char *dir, const char *origin)
{
	if (!dir || !*dir)
		return;
	char real[PATH_MAX];
	const char *key = realpath(dir, real) ? real : dir;
	for (size_t i = 0; i < c->n_search; i++)
		if (!strcmp(c->search_dirs[i], key))
			return;
	char **d = realloc(c->search_dirs, (c->n_search + 1) * sizeof *d);
	if (!d)
		return;
	c->search_dirs = d;
	char **o = realloc(c->search_origin, (c->n_search + 1) * sizeof *o);
	if (!o)
		return;
	c->search_origin = o;
	d[c->n_search] = strdup(key);
	o[c->n_search] = strdup(origin);
	if (d[c->n_search] && o[c->n_search])
		c->n_search++;
}

static void add_search_list(lv_context *c, const char *list, const char *origin)
{
	char *copy = strdup(list), *save = NULL;
	if (!copy)
		return;
	for (char *p = strtok_r(copy, ":", &save); p; p = strtok_r(NULL, ":", &save))
		add_search(c, p, origin);
	free(copy);
}

static void build_search_path(lv_context *c)
{
	const char *v;
	for (unsigned i = 0; (v = lv__config_get(c->config, "licvault", "driver_path", i)); i++)
		add_search_list(c, v, "config driver_path");
	if ((v = getenv("LICVAULT_DRIVER_PATH")) && *v)
		add_search_list(c, v, "$LICVAULT_DRIVER_PATH");
	for (size_t i = 0; i < c->n_extra_dirs; i++)
		add_search(c, c->extra_dirs[i], "application");
	/* next to the library: installed (<libdir>/licvault/drivers) or build tree (../drivers) */
	Dl_info info;
	if (dladdr((void *)&lv_context_new, &info) && info.dli_fname) {
		char real[PATH_MAX];
		if (realpath(info.dli_fname, real)) {
			char *slash = strrchr(real, '/');
			if (slash) {
				*slash = '\0';
				char *a = lv__asprintf("%s/licvault/drivers", real);
				char *b = lv__asprintf("%s/../drivers", real);
				if (a && file_exists(a))
					add_search(c, a, "installed");
				if (b && file_exists(b))
					add_search(c, b, "build tree");
				free(a);
				free(b);
			}
		}
	}
	add_search(c, LV_DRIVER_INSTALL_DIR, "installed");
}

/* ---- loading ----------------------------------------------------------- */

static lv_driver_info *new_info(lv_context *c, const char *path)
{
	lv_driver_info *n = realloc(c->infos, (c->n_infos + 1) * sizeof *n);
	if (!n)
		return NULL;
	c->infos = n;
	lv_driver_info *i = &n[c->n_infos];
	memset(i, 0, sizeof *i);
	if (!(i->path = strdup(path)))
		return NULL;
	c->n_infos++;
	return i;
}

static void refuse(lv_driver_info *i, const char *fmt, ...) LV_PRINTF(2, 3);
static void refuse(lv_driver_info *i, const char *fmt, ...)
{
	va_list ap;
	char *msg = NULL;
	va_start(ap, fmt);
	if (vasprintf(&msg, fmt, ap) < 0)
		msg = NULL;
	va_end(ap);
	i->refused = 1;
	free((char *)i->reason);
	i->reason = msg;
}

static lv_loaded *find_scheme(lv_context *c, const char *scheme)
{
	for (size_t i = 0; i < c->n_drivers; i++)
		for (const char **s = c->drivers[i]->served; s && *s; s++)
			if (!strcmp(*s, scheme))
				return c->drivers[i];
	return NULL;
}

static int valid_name(const char *s, size_t max)
{
	if (!s || !*s || strlen(s) > max)
		return 0;
	for (; *s; s++)
		if (!((*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9') || *s == '_' || *s == '-' ||
		      *s == '.'))
			return 0;
	return 1;
}

static void load_one(lv_context *c, const char *path)
{
	lv_driver_info *info = new_info(c, path);
	if (!info)
		return;
	void *dl = dlopen(path, RTLD_NOW | RTLD_LOCAL);
	if (!dl) {
		const char *e = dlerror();
		refuse(info, "not a loadable shared object: %s", e ? e : "dlopen failed");
		lv__log(c, LV_LOG_WARN, "driver %s refused: %s", path, info->reason);
		return;
	}
	lv_driver_entry_fn entry;
	*(void **)&entry = dlsym(dl, LV_DRIVER_ENTRY_SYMBOL);
	const lv_driver *d = NULL;
	if (!entry) {
		refuse(info, "no entry symbol '%s' (not a licvault driver)", LV_DRIVER_ENTRY_SYMBOL);
		goto refused;
	}
	d = entry();
	if (!d) {
		refuse(info, "entry symbol '%s' returned NULL", LV_DRIVER_ENTRY_SYMBOL);
		goto refused;
	}
	info->abi_major = d->abi_major;
	if (d->abi_major != LV_DRIVER_ABI_MAJOR) {
		refuse(info, "built for driver ABI %u, this licvault speaks ABI %u.%u", d->abi_major,
		       LV_DRIVER_ABI_MAJOR, LV_DRIVER_ABI_MINOR);
		goto refused;
	}
	info->abi_minor = d->abi_minor;
	if (d->size < LV_DRIVER_MIN_SIZE) {
		refuse(info, "descriptor size %u is smaller than the ABI 1.0 minimum %zu (corrupt or not a driver)",
		       d->size, (size_t)LV_DRIVER_MIN_SIZE);
		goto refused;
	}
	if (!valid_name(d->name, 32)) {
		refuse(info, "driver name missing or invalid (use [a-z0-9_.-], at most 32 characters)");
		goto refused;
	}
	if (!d->ops || d->ops_size < LV_DRIVER_OPS_MIN_SIZE) {
		refuse(info, "driver '%s': operations table missing or smaller (%u bytes) than the ABI 1.0 minimum %zu",
		       d->name, d->ops ? d->ops_size : 0, (size_t)LV_DRIVER_OPS_MIN_SIZE);
		goto refused;
	}
	if (!d->schemes || !d->schemes[0]) {
		refuse(info, "driver '%s' serves no URI scheme", d->name);
		goto refused;
	}
	lv_loaded *l = calloc(1, sizeof *l);
	if (!l)
		goto refused;
	size_t n = d->ops_size < sizeof l->ops ? d->ops_size : sizeof l->ops;
	memcpy(&l->ops, d->ops, n);
	const char *missing = !l->ops.open ? "open" : !l->ops.close ? "close"
	                    : !l->ops.write_begin ? "write_begin" : !l->ops.write ? "write"
	                    : !l->ops.commit ? "commit" : !l->ops.abort ? "abort"
	                    : !l->ops.read_open ? "read_open" : !l->ops.read ? "read"
	                    : !l->ops.read_close ? "read_close" : !l->ops.list ? "list" : NULL;
	if (missing) {
		refuse(info, "driver '%s' lacks the required operation '%s'", d->name, missing);
		free(l);
		goto refused;
	}
	info->name = strdup(d->name);
	info->version = strdup(d->version ? d->version : "?");
	if (!info->name || !info->version) {
		refuse(info, "out of memory");
		free(l);
		goto refused;
	}
	lv_buf sch = {0}, taken = {0};
	size_t ns = 0;
	for (const char *const *s = d->schemes; *s; s++)
		ns++;
	l->served = calloc(ns + 1, sizeof *l->served);
	size_t k = 0;
	for (const char *const *s = d->schemes; *s; s++) {
		if (!valid_name(*s, 32)) {
			lv__buf_printf(&taken, "%sscheme '%s' is invalid", taken.len ? "; " : "", *s);
			continue;
		}
		lv__buf_printf(&sch, "%s%s", sch.len ? " " : "", *s);
		lv_loaded *owner = find_scheme(c, *s);
		if (owner) {
			lv__buf_printf(&taken, "%sscheme '%s' is already served by driver '%s' (%s), found first",
			               taken.len ? "; " : "", *s, owner->desc->name, owner->path);
			continue;
		}
		if (l->served)
			l->served[k++] = *s;
	}
	lv__buf_put(&sch, "", 1);
	lv__buf_put(&taken, "", 1);
	info->schemes = (char *)sch.data;
	if (taken.len > 1) {
		info->reason = strdup((char *)taken.data);
		lv__log(c, LV_LOG_WARN, "driver %s: %s", path, info->reason);
	}
	lv__buf_free(&taken);
	if (k == 0) {
		info->refused = 1;
		free(l->served);
		free(l);
		goto refused_quiet;
	}
	l->dl = dl;
	l->desc = d;
	l->path = strdup(path);
	if (!l->path) {
		free(l->served);
		free(l);
		free((char *)info->schemes);
		info->schemes = NULL;
		refuse(info, "out of memory");
		goto refused_quiet;
	}
	l->schemes = sch.data ? strdup((char *)sch.data) : NULL;
	lv_loaded **nd = realloc(c->drivers, (c->n_drivers + 1) * sizeof *nd);
	if (!nd) {
		free(l->path);
		free(l->schemes);
		free(l->served);
		free(l);
		goto refused_quiet;
	}
	c->drivers = nd;
	c->drivers[c->n_drivers++] = l;
	lv__log(c, LV_LOG_DEBUG, "driver '%s' %s (ABI %u.%u) from %s: %s", d->name,
	        d->version ? d->version : "?", d->abi_major, d->abi_minor, path, l->schemes);
	return;
refused:
	lv__log(c, LV_LOG_WARN, "driver %s refused: %s", path, info->reason);
refused_quiet:
	dlclose(dl);
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

int lv__drivers_load(lv_context *c)
{
	pthread_mutex_lock(&c->lock);
	if (c->drivers_loaded) {
		pthread_mutex_unlock(&c->lock);
		return 0;
	}
	build_search_path(c);
	for (size_t i = 0; i < c->n_search; i++) {
		DIR *d = opendir(c->search_dirs[i]);
		if (!d) {
			lv__log(c, LV_LOG_DEBUG, "driver directory %s: %s", c->search_dirs[i], strerror(errno));
			continue;
		}
		char **names = NULL;
		size_t n = 0;
		struct dirent *de;
		while ((de = readdir(d))) {
			size_t l = strlen(de->d_name);
			if (l < 4 || strcmp(de->d_name + l - 3, ".so") != 0 || de->d_name[0] == '.')
				continue;
			char **nn = realloc(names, (n + 1) * sizeof *nn);
			if (!nn)
				break;
			names = nn;
			if ((names[n] = strdup(de->d_name)))
				n++;
		}
		closedir(d);
		if (n)
			qsort(names, n, sizeof *names, cmp_str);
		for (size_t k = 0; k < n; k++) {
			char *p = lv__asprintf("%s/%s", c->search_dirs[i], names[k]);
			if (p)
				load_one(c, p);
			free(p);
			free(names[k]);
		}
		free(names);
	}
	c->drivers_loaded = 1;
	pthread_mutex_unlock(&c->lock);
	return 0;
}

int lv_context_drivers(lv_context *c, int (*cb)(const lv_driver_info *, void *), void *ud)
{
	if (!c || !cb)
		return LV_E_INVALID_ARG;
	lv__drivers_load(c);
	for (size_t i = 0; i < c->n_infos; i++) {
		int rc = cb(&c->infos[i], ud);
		if (rc)
			return rc;
	}
	return 0;
}

int lv_context_driver_path(lv_context *c, int (*cb)(const char *, const char *, void *), void *ud)
{
	if (!c || !cb)
		return LV_E_INVALID_ARG;
	lv__drivers_load(c);
	for (size_t i = 0; i < c->n_search; i++) {
		int rc = cb(c->search_dirs[i], c->search_origin[i], ud);
		if (rc)
			return rc;
	}
	return 0;
}

/* ---- host services ----------------------------------------------------- */

static void host_log(lv_host_ctx *h, int level, const char *fmt, ...)
{
	if (!h || !fmt)
		return;
	if (level < LV_LOG_ERROR || level > LV_LOG_DEBUG)
		level = LV_LOG_ERROR;
	char line[LV_ERRMSG_MAX];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(line, sizeof line, fmt, ap);
	va_end(ap);
	lv__log(h->ctx, level, "%s: %s", h->drv->desc->name, line);
}

static const char *host_config_get(lv_host_ctx *h, const char *key, unsigned index)
{
	if (!h || !key)
		return NULL;
	lv_config *cfg = h->ctx->config;
	if (h->location_name && strcmp(key, "uri") != 0) {
		char sec[128];
		snprintf(sec, sizeof sec, "location %s", h->location_name);
		if (lv__config_get(cfg, sec, key, 0))
			return lv__config_get(cfg, sec, key, index);
	}
	char sec[128];
	snprintf(sec, sizeof sec, "driver %s", h->drv->desc->name);
	return lv__config_get(cfg, sec, key, index);
}

static int host_canceled(lv_host_ctx *h)
{
	return h && h->run ? lv__run_canceled(h->run) : 0;
}

static void host_progress(lv_host_ctx *h, uint64_t bytes)
{
	(void)h;
	(void)bytes; /* the core counts bytes itself; kept for drivers' own transfers */
}

static int host_set_error(lv_host_ctx *h, int code, const char *fmt, ...)
{
	if (code > 0 || code <= LV_E__LAST)
		code = LV_E_IO; /* a driver may only return the public codes */
	if (h && h->run && fmt) {
		va_list ap;
		va_start(ap, fmt);
		lv__run_verror(h->run, code, fmt, ap);
		va_end(ap);
	}
	return code;
}

static int host_open_uri(lv_host_ctx *h, const char *uri, unsigned flags, lv_location **out)
{
	if (!h || !uri || !out)
		return LV_E_INVALID_ARG;
	return lv__location_open(h->ctx, h->run, uri, flags, out);
}

static const lv_driver_ops *host_location_ops(lv_location *l) { return l ? l->ops : NULL; }
static void *host_location_instance(lv_location *l) { return l ? l->inst : NULL; }
static void host_location_close(lv_location *l) { lv__location_close(l); }

static const lv_host host_table = {
	.size = sizeof(lv_host),
	.abi_minor = LV_DRIVER_ABI_MINOR,
	.log = host_log,
	.config_get = host_config_get,
	.canceled = host_canceled,
	.progress = host_progress,
	.set_error = host_set_error,
	.open_uri = host_open_uri,
	.location_ops = host_location_ops,
	.location_instance = host_location_instance,
	.location_close = host_location_close,
};

/* ---- resolving and opening locations ---------------------------------- */

static int is_location(lv_context *c, const char *name)
{
	char sec[128];
	snprintf(sec, sizeof sec, "location %s", name);
	return lv__config_has_section(c->config, sec);
}

/*
 * Resolve named locations (NAME: or NAME:sub/dir, also inside A+NAME:...)
 * to their URI.  *loc_name gets the location used (malloc'd) or NULL.
 */
/*
 * A stacking prefix "A+" (bundle+, fault+): a scheme-like word followed by
 * '+', whatever follows (a URI or a plain path: "bundle+/abs/x.lvb").
 * Returns its length including the '+', or 0.
 */
static size_t stack_prefix(const char *uri)
{
	if (!((uri[0] >= 'a' && uri[0] <= 'z') || (uri[0] >= 'A' && uri[0] <= 'Z')))
		return 0;
	for (size_t i = 1; uri[i] && i < 64; i++) {
		char ch = uri[i];
		if (ch == '+')
			return i + 1;
		if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') || ch == '-' ||
		      ch == '.'))
			return 0;
	}
	return 0;
}

static int resolve(lv_context *c, const char *uri, char **out, char **loc_name, lv_run *run)
{
	char scheme[128];
	*loc_name = NULL;
	size_t pl = stack_prefix(uri);
	if (pl) {
		/* A+REST: resolve REST (a URI, a plain path or a named location), keep A */
		if (!uri[pl])
			return run ? lv__run_error(run, LV_E_BAD_URI, "'%s': nothing after '+'", uri)
			           : lv__ctx_error(c, LV_E_BAD_URI, "'%s': nothing after '+'", uri);
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
			return run ? lv__run_error(run, LV_E_BAD_URI, "%s", why)
			           : lv__ctx_error(c, LV_E_BAD_URI, "%s", why);
		return run ? lv__run_error(run, LV_E_BAD_URI, "'%s': bad or missing URI scheme", uri)
		           : lv__ctx_error(c, LV_E_BAD_URI, "'%s': bad or missing URI scheme", uri);
	}
	if (scheme[0] && is_location(c, scheme)) {
		char sec[128];
		snprintf(sec, sizeof sec, "location %s", scheme);
		const char *base = lv__config_get(c->config, sec, "uri", 0);
		if (!base) {
			const lv_conf_entry *e = NULL;
			int line = lv__config_section_line(c->config, sec);
			(void)e;
			return run ? lv__run_error(run, LV_E_CONFIG, "%s:%d: location \"%s\" has no 'uri'",
			                           lv__config_file(c->config), line, scheme)
			           : lv__ctx_error(c, LV_E_CONFIG, "%s:%d: location \"%s\" has no 'uri'",
			                           lv__config_file(c->config), line, scheme);
		}
		const char *sub = uri + strlen(scheme) + 1;
		while (*sub == '/')
			sub++;
		size_t bl = strlen(base);
		while (bl > 0 && base[bl - 1] == '/')
			bl--;
		if (strstr(sub, "..")) {
			const char *p = sub;
			for (;;) {
				if (!strncmp(p, "..", 2) && (p[2] == '/' || !p[2]))
					return run ? lv__run_error(run, LV_E_BAD_URI, "'%s': '..' may not leave the location", uri)
					           : lv__ctx_error(c, LV_E_BAD_URI, "'%s': '..' may not leave the location", uri);
				p = strchr(p, '/');
				if (!p)
					break;
				p++;
			}
		}
		*out = *sub ? lv__asprintf("%.*s/%s", (int)bl, base, sub) : strdup(base);
		*loc_name = strdup(scheme);
		return *out ? 0 : LV_E_NOMEM;
	}
	*out = strdup(uri);
	return *out ? 0 : LV_E_NOMEM;
}

static lv_loaded *driver_for(lv_context *c, const char *uri, char *scheme, size_t cap)
{
	size_t pl = stack_prefix(uri);
	if (pl && pl < cap) {
		/* the driver claiming A serves A+anything */
		for (size_t i = 0; i + 1 < pl; i++)
			scheme[i] = (char)(uri[i] >= 'A' && uri[i] <= 'Z' ? uri[i] + 32 : uri[i]);
		scheme[pl - 1] = '\0';
		lv_loaded *d = find_scheme(c, scheme);
		snprintf(scheme, cap, "%.*s", (int)pl, uri);
		return d;
	}
	if (lv__uri_scheme(uri, scheme, cap))
		return NULL;
	if (!scheme[0])
		snprintf(scheme, cap, "file");
	return find_scheme(c, scheme);
}

static int no_driver(lv_context *c, lv_run *run, const char *uri, const char *scheme)
{
	lv_buf known = {0};
	for (size_t i = 0; i < c->n_drivers; i++)
		for (const char **s = c->drivers[i]->served; s && *s; s++)
			lv__buf_printf(&known, "%s%s", known.len ? ", " : "", *s);
	lv__buf_put(&known, "", 1);
	int rc = run ? lv__run_error(run, LV_E_NO_DRIVER,
	                             "no driver serves the scheme '%s' of '%s' (schemes served: %s; see `licvault drivers`)",
	                             scheme, uri, known.len > 1 ? (char *)known.data : "none")
	             : lv__ctx_error(c, LV_E_NO_DRIVER,
	                             "no driver serves the scheme '%s' of '%s' (schemes served: %s; see `licvault drivers`)",
	                             scheme, uri, known.len > 1 ? (char *)known.data : "none");
	lv__buf_free(&known);
	return rc;
}

int lv_context_resolve(lv_context *c, const char *uri, char **uri_out, const char **driver_name)
{
	if (!c || !uri || !uri_out)
		return LV_E_INVALID_ARG;
	lv__drivers_load(c);
	char *r = NULL, *loc = NULL;
	int rc = resolve(c, uri, &r, &loc, NULL);
	free(loc);
	if (rc)
		return rc;
	char scheme[128];
	lv_loaded *d = driver_for(c, r, scheme, sizeof scheme);
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

/* Remember which location a resolved URI came from, for inner opens (bundle+NAME:). */
static __thread const char *tls_location_name;

int lv__location_open(lv_context *c, lv_run *run, const char *uri, unsigned flags, lv_location **out)
{
	lv__drivers_load(c);
	char *r = NULL, *loc_name = NULL;
	int rc = resolve(c, uri, &r, &loc_name, run);
	if (rc)
		return rc;
	if (!loc_name && tls_location_name) {
		/* an inner URI of a stacked driver opened from a named location */
		char sec[128];
		snprintf(sec, sizeof sec, "location %s", tls_location_name);
		const char *base = lv__config_get(c->config, sec, "uri", 0);
		if (base && !strncmp(r, base, strlen(base)))
			loc_name = strdup(tls_location_name);
	}
	char scheme[128];
	lv_loaded *d = driver_for(c, r, scheme, sizeof scheme);
	if (!d) {
		rc = no_driver(c, run, r, scheme);
		free(r);
		free(loc_name);
		return rc;
	}
	lv_location *l = calloc(1, sizeof *l);
	lv_host_ctx *h = calloc(1, sizeof *h);
	if (!l || !h) {
		free(l);
		free(h);
		free(r);
		free(loc_name);
		return LV_E_NOMEM;
	}
	h->ctx = c;
	h->run = run;
	h->drv = d;
	h->location_name = loc_name;
	l->drv = d;
	l->ops = &d->ops;
	l->hctx = h;
	l->uri = r;
	const char *saved = tls_location_name;
	tls_location_name = loc_name ? loc_name : saved;
	if (run)
		run->errcode = 0;
	rc = d->ops.open(&host_table, h, r, flags, &l->inst);
	tls_location_name = saved;
	if (rc > 0 || rc <= LV_E__LAST)
		rc = LV_E_IO;
	if (rc) {
		if (run && run->errcode != rc)
			lv__run_error(run, rc, "driver '%s' cannot open %s: %s", d->desc->name, r, lv_strerror(rc));
		free(r);
		free(loc_name);
		free(h);
		free(l);
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
		char saved[LV_ERRMSG_MAX];
		int code = run ? run->errcode : 0;
		if (run)
			snprintf(saved, sizeof saved, "%s", run->errmsg);
		l->ops->close(l->inst);
		if (run) {
			snprintf(run->errmsg, sizeof run->errmsg, "%s", saved);
			run->errcode = code;
		}
	}
	free(l->hctx->location_name);
	free(l->hctx);
	free(l->uri);
	free(l->own_run);
	free(l);
}

/* ---- the public location API ------------------------------------------- */

int lv_location_open(lv_location **out, lv_context *c, const char *uri, unsigned flags)
{
	if (!out || !c || !uri)
		return LV_E_INVALID_ARG;
	lv_run *run = calloc(1, sizeof *run);
	if (!run)
		return LV_E_NOMEM;
	run->ctx = c;
	int rc = lv__location_open(c, run, uri, flags, out);
	if (rc) {
		lv__errf(c->errmsg, "%s", run->errmsg);
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
	return l && l->hctx->run ? l->hctx->run->errmsg : "";
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
	for (size_t i = 0; i < c->n_drivers; i++) {
		lv_loaded *d = c->drivers[i];
		if (!d->ops.enumerate)
			continue;
		lv_host_ctx h = {.ctx = c, .drv = d};
		struct enum_state st = {cb, ud, d->desc->name};
		int rc = d->ops.enumerate(&host_table, &h, enum_tramp, &st);
		if (rc && rc != LV_E_UNSUPPORTED)
			lv__log(c, LV_LOG_WARN, "driver '%s': enumerate failed: %s", d->desc->name, lv_error_name(rc));
	}
	return 0;
}

/* ---- config check and show ----------------------------------------------- */

static const char *core_keys_licvault[] = {"store", "driver_path", NULL};
static const char *core_keys_service[] = {"restores_per_day", "max_machines", "location", NULL};

static lv_loaded *driver_named(lv_context *c, const char *name)
{
	for (size_t i = 0; i < c->n_drivers; i++)
		if (!strcmp(c->drivers[i]->desc->name, name))
			return c->drivers[i];
	return NULL;
}

static const lv_driver_key *find_key(const lv_driver *d, const char *key)
{
	if (!d->keys)
		return NULL;
	for (const lv_driver_key *k = d->keys; k->name; k++)
		if (!strcmp(k->name, key))
			return k;
	return NULL;
}

static int check_value(lv_context *c, const lv_conf_entry *e, const lv_driver_key *k)
{
	const char *file = lv__config_file(c->config);
	switch (k->type) {
	case LV_KEY_BOOL:
		if (lv__parse_bool(e->value) < 0)
			return lv__ctx_error(c, LV_E_CONFIG, "%s:%d: %s = '%s': expected yes/no/true/false/1/0",
			                     file, e->line, e->key, e->value);
		break;
	case LV_KEY_INT: {
		char *end;
		errno = 0;
		long long v = strtoll(e->value, &end, 10);
		if (!*e->value || *end || errno)
			return lv__ctx_error(c, LV_E_CONFIG, "%s:%d: %s = '%s': expected a whole number",
			                     file, e->line, e->key, e->value);
		if ((k->min || k->max) && (v < k->min || v > k->max))
			return lv__ctx_error(c, LV_E_CONFIG, "%s:%d: %s = %lld: out of range %lld to %lld",
			                     file, e->line, e->key, v, (long long)k->min, (long long)k->max);
		break;
	}
	case LV_KEY_ENUM: {
		int ok = 0;
		if (k->choices) {
			char *copy = strdup(k->choices), *save = NULL;
			for (char *w = copy ? strtok_r(copy, "|", &save) : NULL; w; w = strtok_r(NULL, "|", &save))
				if (!strcmp(w, e->value))
					ok = 1;
			free(copy);
		}
		if (!ok)
			return lv__ctx_error(c, LV_E_CONFIG, "%s:%d: %s = '%s': expected one of %s",
			                     file, e->line, e->key, e->value, k->choices ? k->choices : "?");
		break;
	}
	default:
		break;
	}
	return 0;
}

int lv_context_check_config(lv_context *c)
{
	if (!c)
		return LV_E_INVALID_ARG;
	lv__drivers_load(c);
	lv_config *cfg = c->config;
	if (!cfg)
		return 0;
	const char *file = lv__config_file(cfg);
	for (size_t i = 0; i < lv__config_count(cfg); i++) {
		const lv_conf_entry *e = lv__config_at(cfg, i);
		const char **core = !strcmp(e->section, "licvault") ? core_keys_licvault
		                  : !strcmp(e->section, "service") ? core_keys_service : NULL;
		if (core) {
			int ok = 0;
			for (const char **k = core; *k; k++)
				if (!strcmp(*k, e->key))
					ok = 1;
			if (!ok)
				return lv__ctx_error(c, LV_E_CONFIG, "%s:%d: unknown key '%s' in [%s]", file, e->line,
				                     e->key, e->section);
			if (!strcmp(e->section, "service") &&
			    (!strcmp(e->key, "restores_per_day") || !strcmp(e->key, "max_machines"))) {
				lv_driver_key k = {e->key, LV_KEY_INT, NULL, NULL, 1,
				                   !strcmp(e->key, "max_machines") ? 64 : 1000000, NULL, 0};
				int rc = check_value(c, e, &k);
				if (rc)
					return rc;
			}
			continue;
		}
		const char *dname = NULL;
		if (!strncmp(e->section, "driver ", 7)) {
			dname = e->section + 7;
			if (!driver_named(c, dname)) {
				lv__log(c, LV_LOG_WARN, "%s:%d: [driver \"%s\"]: no such driver is loaded", file,
				        lv__config_section_line(cfg, e->section), dname);
				continue;
			}
		} else if (!strncmp(e->section, "location ", 9)) {
			const char *lname = e->section + 9;
			if (find_scheme(c, lname))
				return lv__ctx_error(c, LV_E_CONFIG,
				                     "%s:%d: location \"%s\" has the name of a URI scheme served by a driver; rename it",
				                     file, lv__config_section_line(cfg, e->section), lname);
			if (!strcmp(e->key, "uri"))
				continue;
			char sec[128];
			snprintf(sec, sizeof sec, "location %s", lname);
			const char *uri = lv__config_get(cfg, sec, "uri", 0);
			char scheme[128];
			lv_loaded *d = uri ? driver_for(c, uri, scheme, sizeof scheme) : NULL;
			if (!d)
				continue;
			/* a key of a stacked location may belong to the outer or the inner driver */
			if (find_key(d->desc, e->key)) {
				int rc = check_value(c, e, find_key(d->desc, e->key));
				if (rc)
					return rc;
				continue;
			}
			dname = d->desc->name;
			char *plus = strchr(scheme, '+');
			if (plus) {
				lv_loaded *inner = driver_for(c, uri + (plus - scheme) + 1, scheme, sizeof scheme);
				if (inner && find_key(inner->desc, e->key)) {
					int rc = check_value(c, e, find_key(inner->desc, e->key));
					if (rc)
						return rc;
					continue;
				}
			}
		} else
			continue;
		lv_loaded *d = driver_named(c, dname);
		if (!d)
			continue;
		const lv_driver_key *k = find_key(d->desc, e->key);
		if (!k) {
			if (d->desc->keys)
				return lv__ctx_error(c, LV_E_CONFIG, "%s:%d: unknown key '%s' for driver '%s'", file,
				                     e->line, e->key, dname);
			lv__log(c, LV_LOG_WARN, "%s:%d: key '%s': driver '%s' declares no keys", file, e->line,
			        e->key, dname);
			continue;
		}
		if (k->type != LV_KEY_LIST) {
			const lv_conf_entry *first = lv__config_entry(cfg, e->section, e->key, 0);
			if (first && first != e)
				return lv__ctx_error(c, LV_E_CONFIG, "%s:%d: '%s' given twice (first at line %d); only '%s' keys of type list may repeat",
				                     file, e->line, e->key, first->line, e->key);
		}
		int rc = check_value(c, e, k);
		if (rc)
			return rc;
	}
	return 0;
}

int lv_context_show_config(lv_context *c, void (*emit)(const char *, void *), void *ud)
{
	if (!c || !emit)
		return LV_E_INVALID_ARG;
	lv__drivers_load(c);
	lv_config *cfg = c->config;
	char line[LV_ERRMSG_MAX];
	snprintf(line, sizeof line, "# config file: %s", cfg ? lv__config_file(cfg) : "(none)");
	emit(line, ud);
	const char *last = "";
	for (size_t i = 0; i < lv__config_count(cfg); i++) {
		const lv_conf_entry *e = lv__config_at(cfg, i);
		if (strcmp(last, e->section)) {
			const char *sp = strchr(e->section, ' ');
			if (sp)
				snprintf(line, sizeof line, "[%.*s \"%s\"]", (int)(sp - e->section), e->section, sp + 1);
			else
				snprintf(line, sizeof line, "[%s]", e->section);
			emit(line, ud);
			last = e->section;
		}
		int secret = 0;
		if (!strncmp(e->section, "driver ", 7)) {
			lv_loaded *d = driver_named(c, e->section + 7);
			const lv_driver_key *k = d ? find_key(d->desc, e->key) : NULL;
			secret = k && (k->flags & LV_KEY_SECRET);
		} else if (!strncmp(e->section, "location ", 9)) {
			/* an override: secret when any driver declares the key secret */
			for (size_t k = 0; k < c->n_drivers; k++) {
				const lv_driver_key *dk = find_key(c->drivers[k]->desc, e->key);
				if (dk && (dk->flags & LV_KEY_SECRET))
					secret = 1;
			}
		}
		if (strstr(e->key, "password") && !strstr(e->key, "_file"))
			secret = 1;
		snprintf(line, sizeof line, "%s = %s", e->key, secret ? "********" : e->value);
		emit(line, ud);
	}
	/* defaults of each loaded driver's declared keys not set in the file */
	for (size_t i = 0; i < c->n_drivers; i++) {
		const lv_driver *d = c->drivers[i]->desc;
		if (!d->keys)
			continue;
		char sec[128];
		snprintf(sec, sizeof sec, "driver %s", d->name);
		int header = 0;
		for (const lv_driver_key *k = d->keys; k->name; k++) {
			if (!k->def || lv__config_get(cfg, sec, k->name, 0))
				continue;
			if (!header) {
				snprintf(line, sizeof line, "# defaults of driver \"%s\"", d->name);
				emit(line, ud);
				header = 1;
			}
			snprintf(line, sizeof line, "# %s = %s", k->name, (k->flags & LV_KEY_SECRET) ? "********" : k->def);
			emit(line, ud);
		}
	}
	return 0;
}
