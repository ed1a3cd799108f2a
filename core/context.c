/*
 * The context: configuration, logging, the license service, and the slot
 * where the loader keeps the driver registry.
 */
#include "context.h"
#include "trust.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* ---- the per-thread error record ---------------------------------------- */

static __thread lv_err ctx_err;

lv_err *lv__ctx_err(void)
{
	return &ctx_err;
}

void lv__ctx_clear(void)
{
	lv__err_clear(&ctx_err);
}

int lv__ctx_error(lv_context *c, int code, const char *fmt, ...)
{
	(void)c;
	va_list ap;
	va_start(ap, fmt);
	lv__err_vset(&ctx_err, code, fmt, ap);
	va_end(ap);
	return code;
}

const char *lv_context_last_error(const lv_context *c)
{
	(void)c;
	return ctx_err.msg;
}

/* ---- the context -------------------------------------------------------- */

int lv_context_new(lv_context **out)
{
	if (!out)
		return LV_E_INVALID_ARG;
	lv_context *c = calloc(1, sizeof *c);
	if (!c)
		return LV_E_NOMEM;
	pthread_mutex_init(&c->lock, NULL);
	*out = c;
	return 0;
}

void lv__ctx_drop_registry(lv_context *c)
{
	if (c->registry && c->registry_free)
		c->registry_free(c->registry);
	c->registry = NULL;
}

void lv_context_free(lv_context *c)
{
	if (!c)
		return;
	if (c->service && c->service->free)
		c->service->free(c->service_ud);
	lv__ctx_drop_registry(c);
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
	if (!c)
		return;
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

void lv_context_set_secret_cb(lv_context *c, lv_secret_cb cb, void *ud)
{
	if (!c)
		return;
	c->secret_cb = cb;
	c->secret_ud = ud;
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
	lv__ctx_drop_registry(c); /* reload with the new path on next use */
	return 0;
}

/* ---- the config file ----------------------------------------------------- */

static int file_exists(const char *p)
{
	struct stat st;
	return p && stat(p, &st) == 0;
}

/* The first config file of the default search that exists (malloc'd), or NULL. */
static int find_config(lv_context *c, char **found)
{
	*found = NULL;
	/* secure_getenv: a set-user-ID process reads no file the user who started it names */
	const char *env = secure_getenv("LICVAULT_CONFIG");
	if (env && *env) {
		if (!file_exists(env))
			return lv__ctx_error(c, LV_E_CONFIG, "%s: config file named by $LICVAULT_CONFIG not found", env);
		*found = strdup(env);
		return *found ? 0 : LV_E_NOMEM;
	}
	const char *xdg = secure_getenv("XDG_CONFIG_HOME");
	const char *home = secure_getenv("HOME");
	char *user = xdg && *xdg ? lv__asprintf("%s/licvault/config", xdg)
	           : home && *home ? lv__asprintf("%s/.config/licvault/config", home) : NULL;
	if (user && file_exists(user)) {
		*found = user;
		return 0;
	}
	free(user);
	if (file_exists("/etc/licvault/config") && !(*found = strdup("/etc/licvault/config")))
		return LV_E_NOMEM;
	return 0;
}

int lv_context_load_config(lv_context *c, const char *path)
{
	if (!c)
		return LV_E_INVALID_ARG;
	lv__ctx_clear();
	char *found = NULL;
	if (path) {
		if (!file_exists(path))
			return lv__ctx_error(c, LV_E_CONFIG, "%s: config file not found: %s", path, strerror(errno));
		if (!(found = strdup(path)))
			return LV_E_NOMEM;
	} else {
		int rc = find_config(c, &found);
		if (rc)
			return rc;
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
	char err[LV_ERRMSG_MAX] = "";
	/* as OpenSSH with its config: a file others may change configures nothing */
	int rc = lv__trust_config_file(found, err, sizeof err);
	if (rc)
		return lv__ctx_error(c, rc == LV_E_NOT_FOUND ? LV_E_CONFIG : rc, "config file %s", err);
	rc = lv__config_load(&c->config, found, err);
	if (rc)
		lv__ctx_error(c, rc, "%s", err);
	return rc;
}

const char *lv_context_config_path(const lv_context *c)
{
	return c ? c->config_path : NULL;
}

const char *lv_context_config_get(const lv_context *c, const char *section, const char *key)
{
	return c ? lv__config_get(c->config, section, key, 0) : NULL;
}
