/*
 * The driver loader: the search path, checking and loading driver shared
 * objects through the versioned driver ABI, and the registry of what was
 * loaded (kept in the context's registry slot).
 */
#include "loader.h"
#include "trust.h"

#include <dirent.h>
#include <dlfcn.h>
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#ifndef LV_DRIVER_INSTALL_DIR
#define LV_DRIVER_INSTALL_DIR "/usr/local/lib/licvault/drivers"
#endif

typedef struct lv_registry {
	lv_loaded **drivers;          /* usable, in search order */
	size_t n_drivers;
	lv_driver_info *infos;        /* every file considered */
	size_t n_infos;
	char **search_dirs, **search_origin;
	size_t n_search;
	/* drivers are loaded on demand, in search order: the next folder and file */
	size_t next_dir, next_file;
	char **files;                 /* the *.so names of search_dirs[next_dir - 1] */
	size_t n_files;
	int complete;                 /* every file of the search path considered */
} lv_registry;

static void registry_free(lv_registry *g)
{
	for (size_t i = 0; i < g->n_drivers; i++) {
		lv_loaded *d = g->drivers[i];
		free(d->path);
		free(d->schemes);
		free(d->served);
		/* a sanitizer aid (drivers stay mapped, so a leak report names their symbols): it changes
		 * no decision, and a set-user-ID process ignores it (secure_getenv) */
		if (d->dl && !secure_getenv("LICVAULT_NO_DLCLOSE"))
			dlclose(d->dl);
		free(d);
	}
	free(g->drivers);
	for (size_t i = 0; i < g->n_infos; i++) {
		free((char *)g->infos[i].path);
		free((char *)g->infos[i].schemes);
		free((char *)g->infos[i].reason);
		free((char *)g->infos[i].name);
		free((char *)g->infos[i].version);
	}
	free(g->infos);
	for (size_t i = 0; i < g->n_search; i++) {
		free(g->search_dirs[i]);
		free(g->search_origin[i]);
	}
	free(g->search_dirs);
	free(g->search_origin);
	for (size_t i = g->next_file; i < g->n_files; i++)
		free(g->files[i]);
	free(g->files);
	free(g);
}

/* ---- search path ------------------------------------------------------- */

static int file_exists(const char *p)
{
	struct stat st;
	return p && stat(p, &st) == 0;
}

static lv_driver_info *new_info(lv_registry *g, const char *path);
static void refuse(lv_driver_info *i, const char *fmt, ...) LV_PRINTF(2, 3);

/*
 * A folder refused before it is searched (not absolute, or others may
 * write it or a folder above it): listed with the drivers, with the reason.
 */
static void refuse_dir(lv_context *c, lv_registry *g, const char *dir, const char *origin, const char *why)
{
	lv_driver_info *i = new_info(g, dir);
	if (i)
		refuse(i, "driver folder (%s) not searched: %s", origin, why);
	lv__log(c, LV_LOG_WARN, "driver folder %s (%s) not searched: %s", dir, origin, why);
}

static void add_search(lv_context *c, lv_registry *g, const char *dir, const char *origin)
{
	if (!dir || !*dir)
		return;
	char real[PATH_MAX], why[LV_ERRMSG_MAX];
	if (dir[0] != '/') {
		refuse_dir(c, g, dir, origin, "not an absolute path (the current directory is never searched)");
		return;
	}
	/* a folder that does not exist is listed (open_next_dir checks it again when it reads it) */
	const char *key = realpath(dir, real) ? real : dir;
	for (size_t i = 0; i < g->n_search; i++)
		if (!strcmp(g->search_dirs[i], key))
			return;
	if (key == real && lv__trust_dirs(real, 0, why, sizeof why)) {
		refuse_dir(c, g, real, origin, why);
		return;
	}
	char **d = realloc(g->search_dirs, (g->n_search + 1) * sizeof *d);
	if (!d)
		return;
	g->search_dirs = d;
	char **o = realloc(g->search_origin, (g->n_search + 1) * sizeof *o);
	if (!o)
		return;
	g->search_origin = o;
	d[g->n_search] = strdup(key);
	o[g->n_search] = strdup(origin);
	if (d[g->n_search] && o[g->n_search])
		g->n_search++;
	else {
		free(d[g->n_search]);
		free(o[g->n_search]);
	}
}

static void add_search_list(lv_context *c, lv_registry *g, const char *list, const char *origin)
{
	char *copy = strdup(list), *save = NULL;
	if (!copy)
		return;
	for (char *p = strtok_r(copy, ":", &save); p; p = strtok_r(NULL, ":", &save))
		add_search(c, g, p, origin);
	free(copy);
}

/* Next to the library: installed (<libdir>/licvault/drivers) or build tree (../drivers). */
static void add_library_dirs(lv_context *c, lv_registry *g)
{
	Dl_info info;
	char real[PATH_MAX];
	if (!dladdr((void *)&lv__drivers_load, &info) || !info.dli_fname || !realpath(info.dli_fname, real))
		return;
	char *slash = strrchr(real, '/');
	if (!slash)
		return;
	*slash = '\0';
	char *a = lv__asprintf("%s/licvault/drivers", real);
	char *b = lv__asprintf("%s/../drivers", real);
	if (a && file_exists(a))
		add_search(c, g, a, "installed");
	if (b && file_exists(b))
		add_search(c, g, b, "build tree");
	free(a);
	free(b);
}

static void build_search_path(lv_context *c, lv_registry *g)
{
	const char *v;
	for (unsigned i = 0; (v = lv__config_get(c->config, "licvault", "driver_path", i)); i++)
		add_search_list(c, g, v, "config driver_path");
	/* a set-user-ID process ignores it: the user who started it chooses no code it runs */
	if ((v = secure_getenv("LICVAULT_DRIVER_PATH")) && *v)
		add_search_list(c, g, v, "$LICVAULT_DRIVER_PATH");
	for (size_t i = 0; i < c->n_extra_dirs; i++)
		add_search(c, g, c->extra_dirs[i], "application");
	add_library_dirs(c, g);
	add_search(c, g, LV_DRIVER_INSTALL_DIR, "installed");
}

/* ---- checking one driver ------------------------------------------------ */

static lv_driver_info *new_info(lv_registry *g, const char *path)
{
	lv_driver_info *n = realloc(g->infos, (g->n_infos + 1) * sizeof *n);
	if (!n)
		return NULL;
	g->infos = n;
	lv_driver_info *i = &n[g->n_infos];
	memset(i, 0, sizeof *i);
	if (!(i->path = strdup(path)))
		return NULL;
	g->n_infos++;
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

/* The descriptor of an opened shared object, checked; NULL when refused (info says why). */
static const lv_driver *check_descriptor(void *dl, lv_driver_info *info)
{
	lv_driver_entry_fn entry;
	*(void **)&entry = dlsym(dl, LV_DRIVER_ENTRY_SYMBOL);
	if (!entry) {
		refuse(info, "no entry symbol '%s' (not a licvault driver)", LV_DRIVER_ENTRY_SYMBOL);
		return NULL;
	}
	const lv_driver *d = entry();
	if (!d) {
		refuse(info, "entry symbol '%s' returned NULL", LV_DRIVER_ENTRY_SYMBOL);
		return NULL;
	}
	info->abi_major = d->abi_major;
	if (d->abi_major != LV_DRIVER_ABI_MAJOR) {
		refuse(info, "built for driver ABI %u, this licvault speaks ABI %u.%u", d->abi_major,
		       LV_DRIVER_ABI_MAJOR, LV_DRIVER_ABI_MINOR);
		return NULL;
	}
	info->abi_minor = d->abi_minor;
	if (d->size < LV_DRIVER_MIN_SIZE) {
		refuse(info, "descriptor size %u is smaller than the ABI 1.0 minimum %zu (corrupt or not a driver)",
		       d->size, (size_t)LV_DRIVER_MIN_SIZE);
		return NULL;
	}
	if (!valid_name(d->name, 32)) {
		refuse(info, "driver name missing or invalid (use [a-z0-9_.-], at most 32 characters)");
		return NULL;
	}
	if (!d->ops || d->ops_size < LV_DRIVER_OPS_MIN_SIZE) {
		refuse(info, "driver '%s': operations table missing or smaller (%u bytes) than the ABI 1.0 minimum %zu",
		       d->name, d->ops ? d->ops_size : 0, (size_t)LV_DRIVER_OPS_MIN_SIZE);
		return NULL;
	}
	if (!d->schemes || !d->schemes[0]) {
		refuse(info, "driver '%s' serves no URI scheme", d->name);
		return NULL;
	}
	return d;
}

/* The first required operation the normalized table lacks, or NULL. */
static const char *missing_op(const lv_driver_ops *o)
{
	return !o->open ? "open" : !o->close ? "close"
	     : !o->write_begin ? "write_begin" : !o->write ? "write"
	     : !o->commit ? "commit" : !o->abort ? "abort"
	     : !o->read_open ? "read_open" : !o->read ? "read"
	     : !o->read_close ? "read_close" : !o->list ? "list" : !o->remove ? "remove" : NULL;
}

static lv_registry *reg(lv_context *c);
static lv_loaded *find_scheme(lv_registry *g, const char *scheme);

/*
 * Claim the driver's schemes (the first driver found keeps a scheme), fill
 * info's scheme list and warnings.  Returns how many schemes it won.
 */
static size_t claim_schemes(lv_context *c, lv_loaded *l, const lv_driver *d, lv_driver_info *info)
{
	lv_buf sch = {0}, taken = {0};
	size_t ns = 0, k = 0;
	for (const char *const *s = d->schemes; *s; s++)
		ns++;
	l->served = calloc(ns + 1, sizeof *l->served);
	for (const char *const *s = d->schemes; *s; s++) {
		if (!valid_name(*s, 32)) {
			lv__buf_printf(&taken, "%sscheme '%s' is invalid", taken.len ? "; " : "", *s);
			continue;
		}
		lv__buf_printf(&sch, "%s%s", sch.len ? " " : "", *s);
		lv_loaded *owner = find_scheme(reg(c), *s);
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
	l->schemes = sch.data ? strdup((char *)sch.data) : NULL;
	if (taken.len > 1) {
		info->reason = strdup((char *)taken.data);
		lv__log(c, LV_LOG_WARN, "driver %s: %s", info->path, info->reason);
	}
	lv__buf_free(&taken);
	return k;
}

static void loaded_free(lv_loaded *l)
{
	if (!l)
		return;
	free(l->path);
	free(l->schemes);
	free(l->served);
	free(l);
}

/* Make the loaded driver of a checked descriptor and add it; 0 when it won no scheme. */
static int register_driver(lv_context *c, lv_registry *g, void *dl, const lv_driver *d, lv_driver_info *info)
{
	lv_loaded *l = calloc(1, sizeof *l);
	if (!l) {
		refuse(info, "out of memory");
		return 0;
	}
	memcpy(&l->ops, d->ops, d->ops_size < sizeof l->ops ? d->ops_size : sizeof l->ops);
	const char *missing = missing_op(&l->ops);
	if (missing) {
		refuse(info, "driver '%s' lacks the required operation '%s'", d->name, missing);
		loaded_free(l);
		return 0;
	}
	info->name = strdup(d->name);
	info->version = strdup(d->version ? d->version : "?");
	l->path = strdup(info->path);
	/* an array of pointers: sizeof *nd is meant */
	lv_loaded **nd = realloc(g->drivers, (g->n_drivers + 1) * sizeof *nd); // NOLINT(bugprone-sizeof-expression)
	if (nd)
		g->drivers = nd;
	if (!info->name || !info->version || !l->path || !nd) {
		refuse(info, "out of memory");
		loaded_free(l);
		return 0;
	}
	if (claim_schemes(c, l, d, info) == 0) {
		info->refused = 1;
		loaded_free(l);
		return -1; /* said why already (every scheme taken) */
	}
	l->dl = dl;
	l->desc = d;
	g->drivers[g->n_drivers++] = l;
	lv__log(c, LV_LOG_DEBUG, "driver '%s' %s (ABI %u.%u) from %s: %s", d->name,
	        d->version ? d->version : "?", d->abi_major, d->abi_minor, info->path, l->schemes);
	return 1;
}

static void load_one(lv_context *c, lv_registry *g, const char *path)
{
	lv_driver_info *info = new_info(g, path);
	if (!info)
		return;
	/* checked before dlopen: a refused file's constructors never run */
	char why[LV_ERRMSG_MAX];
	if (lv__trust_driver_file(path, why, sizeof why)) {
		size_t pl = strlen(path);
		refuse(info, "%s", !strncmp(why, path, pl) && why[pl] == ':' ? why + pl + 2 : why);
		lv__log(c, LV_LOG_WARN, "driver %s refused: %s", path, info->reason);
		return;
	}
	void *dl = dlopen(path, RTLD_NOW | RTLD_LOCAL);
	if (!dl) {
		const char *e = dlerror();
		refuse(info, "not a loadable shared object: %s", e ? e : "dlopen failed");
		lv__log(c, LV_LOG_WARN, "driver %s refused: %s", path, info->reason);
		return;
	}
	const lv_driver *d = check_descriptor(dl, info);
	int ok = d ? register_driver(c, g, dl, d, info) : 0;
	if (ok == 1)
		return;
	if (ok == 0)
		lv__log(c, LV_LOG_WARN, "driver %s refused: %s", path, info->reason);
	dlclose(dl);
}

/* ---- the registry ------------------------------------------------------- */

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The *.so names of dir, sorted; *n of them. */
static char **driver_files(lv_context *c, const char *dir, size_t *n)
{
	*n = 0;
	DIR *d = opendir(dir);
	if (!d) {
		lv__log(c, LV_LOG_DEBUG, "driver directory %s: %s", dir, strerror(errno));
		return NULL;
	}
	char **names = NULL;
	struct dirent *de;
	while ((de = readdir(d))) {
		size_t l = strlen(de->d_name);
		if (l < 4 || strcmp(de->d_name + l - 3, ".so") != 0 || de->d_name[0] == '.')
			continue;
		char **nn = realloc(names, (*n + 1) * sizeof *nn);
		if (!nn)
			break;
		names = nn;
		if ((names[*n] = strdup(de->d_name)))
			(*n)++;
	}
	closedir(d);
	if (*n)
		qsort(names, *n, sizeof *names, cmp_str);
	return names;
}

/*
 * Open the next folder of the search path for loading: its *.so names, or
 * none when it is missing or no longer trusted.  0 when no folder is left.
 */
static int open_next_dir(lv_context *c, lv_registry *g)
{
	if (g->next_dir >= g->n_search)
		return 0;
	const char *dir = g->search_dirs[g->next_dir], *origin = g->search_origin[g->next_dir];
	g->next_dir++;
	free(g->files);
	g->files = NULL;
	g->n_files = g->next_file = 0;
	char why[LV_ERRMSG_MAX];
	int rc = lv__trust_dirs(dir, 0, why, sizeof why);
	if (rc == LV_E_NOT_FOUND)
		lv__log(c, LV_LOG_DEBUG, "driver folder %s (%s): %s", dir, origin, why);
	if (rc) {
		if (rc != LV_E_NOT_FOUND) /* it changed since the search path was made */
			refuse_dir(c, g, dir, origin, why);
		return 1;
	}
	g->files = driver_files(c, dir, &g->n_files);
	return 1;
}

/* Consider the next driver file of the search path; 0 when every one was. */
static int load_next(lv_context *c, lv_registry *g)
{
	while (g->next_file >= g->n_files)
		if (!open_next_dir(c, g)) {
			g->complete = 1;
			return 0;
		}
	char *name = g->files[g->next_file++];
	char *p = lv__asprintf("%s/%s", g->search_dirs[g->next_dir - 1], name);
	if (p)
		load_one(c, g, p);
	free(p);
	free(name);
	return 1;
}

/* The registry of c, made with its search path on first use (the caller holds c->lock). */
static lv_registry *registry_locked(lv_context *c)
{
	if (c->registry)
		return c->registry;
	lv_registry *g = calloc(1, sizeof *g);
	if (!g)
		return NULL;
	/* visible to find_scheme while loading */
	c->registry = g;
	c->registry_free = registry_free;
	build_search_path(c, g);
	return g;
}

int lv__drivers_load(lv_context *c)
{
	pthread_mutex_lock(&c->lock);
	lv_registry *g = registry_locked(c);
	while (g && !g->complete)
		load_next(c, g);
	pthread_mutex_unlock(&c->lock);
	return g ? 0 : LV_E_NOMEM;
}

static lv_registry *reg(lv_context *c)
{
	static lv_registry empty;
	return c->registry ? c->registry : &empty;
}

static lv_loaded *find_scheme(lv_registry *g, const char *scheme)
{
	for (size_t i = 0; i < g->n_drivers; i++)
		for (const char **s = g->drivers[i]->served; s && *s; s++)
			if (!strcmp(*s, scheme))
				return g->drivers[i];
	return NULL;
}

static lv_loaded *find_named(lv_registry *g, const char *name)
{
	for (size_t i = 0; i < g->n_drivers; i++)
		if (!strcmp(g->drivers[i]->desc->name, name))
			return g->drivers[i];
	return NULL;
}

/*
 * The driver that `find` finds, loading driver files in search order until
 * one is found or none is left: a command that uses file:// never loads the
 * s3 driver and its libraries, and the first driver found for a scheme keeps
 * it, as when every driver is loaded.
 */
static lv_loaded *find_loading(lv_context *c, lv_loaded *(*find)(lv_registry *, const char *), const char *what)
{
	pthread_mutex_lock(&c->lock);
	lv_registry *g = registry_locked(c);
	lv_loaded *d = NULL;
	while (g && !(d = find(g, what)) && load_next(c, g))
		;
	pthread_mutex_unlock(&c->lock);
	return d;
}

lv_loaded *lv__driver_for_scheme(lv_context *c, const char *scheme)
{
	return find_loading(c, find_scheme, scheme);
}

lv_loaded *lv__driver_named(lv_context *c, const char *name)
{
	return find_loading(c, find_named, name);
}

size_t lv__driver_count(lv_context *c)
{
	return reg(c)->n_drivers;
}

lv_loaded *lv__driver_at(lv_context *c, size_t i)
{
	return i < reg(c)->n_drivers ? reg(c)->drivers[i] : NULL;
}

const lv_driver_command *lv__driver_commands(const lv_loaded *d)
{
	if (d->desc->size < offsetof(lv_driver, commands) + sizeof(void *))
		return NULL;
	return d->desc->commands;
}

const lv_driver_key *lv__driver_key(const lv_driver *d, const char *key)
{
	if (!d->keys)
		return NULL;
	for (const lv_driver_key *k = d->keys; k->name; k++)
		if (!strcmp(k->name, key))
			return k;
	return NULL;
}

int lv_context_drivers(lv_context *c, int (*cb)(const lv_driver_info *, void *), void *ud)
{
	if (!c || !cb)
		return LV_E_INVALID_ARG;
	lv__drivers_load(c);
	lv_registry *g = reg(c);
	for (size_t i = 0; i < g->n_infos; i++) {
		int rc = cb(&g->infos[i], ud);
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
	lv_registry *g = reg(c);
	for (size_t i = 0; i < g->n_search; i++) {
		int rc = cb(g->search_dirs[i], g->search_origin[i], ud);
		if (rc)
			return rc;
	}
	return 0;
}
