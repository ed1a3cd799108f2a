/*
 * The services the host gives drivers (driver.h, lv_host).  The table
 * itself is made by the location layer, which adds the stacking services.
 */
#include "host.h"

#include <stdlib.h>

#include "uri.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

void lv__host_log(lv_host_ctx *h, int level, const char *fmt, ...)
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

const char *lv__host_config_get(lv_host_ctx *h, const char *key, unsigned index)
{
	if (!h || !key)
		return NULL;
	lv_config *cfg = h->ctx->config;
	char sec[128];
	if (h->location_name && strcmp(key, "uri") != 0) {
		snprintf(sec, sizeof sec, "location %s", h->location_name);
		if (lv__config_get(cfg, sec, key, 0))
			return lv__config_get(cfg, sec, key, index);
	}
	snprintf(sec, sizeof sec, "driver %s", h->drv->desc->name);
	return lv__config_get(cfg, sec, key, index);
}

int lv__host_canceled(lv_host_ctx *h)
{
	return h && h->run ? lv__run_canceled(h->run) : 0;
}

void lv__host_progress(lv_host_ctx *h, uint64_t bytes)
{
	(void)h;
	(void)bytes; /* the core counts bytes itself; kept for drivers' own transfers */
}

int lv__host_set_error(lv_host_ctx *h, int code, const char *fmt, ...)
{
	if (!lv__err_valid(code))
		code = LV_E_IO; /* a driver may only return the public codes */
	if (h && h->run && fmt) {
		va_list ap;
		va_start(ap, fmt);
		if (code)
			lv__run_verror(h->run, code, fmt, ap);
		else
			lv__run_vnote(h->run, fmt, ap); /* ABI 1.0 drivers left their note so */
		va_end(ap);
	}
	return code;
}

void lv__host_note(lv_host_ctx *h, const char *fmt, ...)
{
	if (!h || !h->run || !fmt)
		return;
	va_list ap;
	va_start(ap, fmt);
	lv__run_vnote(h->run, fmt, ap);
	va_end(ap);
}

int lv__host_error_save(lv_host_ctx *h)
{
	return h && h->run ? lv__run_failed(h->run) != 0 : 1;
}

void lv__host_error_restore(lv_host_ctx *h, int saved)
{
	if (h && h->run && !saved)
		lv__err_clear(&h->run->err);
}

/* ---- typed config values ------------------------------------------------- */

/* A string the host hands out until the instance is closed. */
static const char *keep(lv_host_ctx *h, char *str)
{
	char **n = str ? realloc(h->strs, (h->n_strs + 1) * sizeof *n) : NULL;
	if (!n) {
		free(str);
		return NULL;
	}
	h->strs = n;
	h->strs[h->n_strs++] = str;
	return str;
}

void lv__host_ctx_free_strings(lv_host_ctx *h)
{
	for (size_t i = 0; i < h->n_strs; i++)
		free(h->strs[i]);
	free(h->strs);
	h->strs = NULL;
	h->n_strs = 0;
}

/* The entry a key's value comes from: the location's override, then [driver "NAME"]. */
static const lv_conf_entry *key_entry(lv_host_ctx *h, const char *key)
{
	lv_config *cfg = h->ctx->config;
	char sec[128];
	const lv_conf_entry *e = NULL;
	if (h->location_name && strcmp(key, "uri") != 0) {
		snprintf(sec, sizeof sec, "location %s", h->location_name);
		e = lv__config_entry(cfg, sec, key, 0);
	}
	if (!e) {
		snprintf(sec, sizeof sec, "driver %s", h->drv->desc->name);
		e = lv__config_entry(cfg, sec, key, 0);
	}
	return e;
}

int lv__host_config_value(lv_host_ctx *h, const char *key, lv_config_value *out)
{
	if (!h || !key || !out)
		return LV_E_INVALID_ARG;
	memset(out, 0, sizeof *out);
	const lv_driver_key *k = lv__driver_key(h->drv->desc, key);
	if (!k)
		return lv__host_set_error(h, LV_E_INVALID_ARG, "driver '%s' asked for key '%s', which it does not declare",
		                          h->drv->desc->name, key);
	const lv_conf_entry *e = key_entry(h, key);
	out->set = e != NULL;
	const char *text = e ? e->value : k->def;
	out->where = e ? keep(h, lv__asprintf("%s:%d", lv__config_file(h->ctx->config), e->line)) : "default";
	if (!text)
		return 0;
	size_t cl;
	const char *canon;
	char why[256];
	if (lv__config_parse(k, text, &out->number, &cl, &canon, why, sizeof why))
		return lv__host_set_error(h, LV_E_CONFIG, "%s: %s = '%s': %s", out->where ? out->where : "?", key, text, why);
	out->text = cl == strlen(canon) ? canon : keep(h, lv__asprintf("%.*s", (int)cl, canon));
	return out->text ? 0 : lv__host_set_error(h, LV_E_NOMEM, "out of memory reading key '%s'", key);
}

/* ---- URIs and names -------------------------------------------------------- */

int lv__host_uri_parse(lv_host_ctx *h, const char *uri, lv_uri **out)
{
	if (!out)
		return LV_E_INVALID_ARG;
	char why[LV_ERRMSG_MAX];
	int rc = lv__uri_parse(uri, out, why, sizeof why);
	return rc ? lv__host_set_error(h, rc, "%s", why) : 0;
}

void lv__host_uri_free(lv_uri *u)
{
	lv__uri_free(u);
}

int lv__object_name_valid(const char *n)
{
	size_t l = n ? strnlen(n, 256) : 0;
	return l > 0 && l < 256 && !strchr(n, '/') && strcmp(n, ".") && strcmp(n, "..");
}

int lv__host_name_valid(lv_host_ctx *h, const char *name)
{
	(void)h;
	return lv__object_name_valid(name);
}

/* ---- tracked writers and readers ----------------------------------------- */

int lv__host_track(lv_host_ctx *h, void *handle, void (*release)(void *handle))
{
	if (!h || !handle || !release)
		return LV_E_INVALID_ARG;
	if (h->n_tracked == h->cap_tracked) {
		size_t cap = h->cap_tracked ? h->cap_tracked * 2 : 8;
		lv_tracked *n = realloc(h->tracked, cap * sizeof *n);
		if (!n)
			return lv__host_set_error(h, LV_E_NOMEM, "out of memory tracking an open object");
		h->tracked = n;
		h->cap_tracked = cap;
	}
	h->tracked[h->n_tracked++] = (lv_tracked){handle, release};
	return 0;
}

void lv__host_untrack(lv_host_ctx *h, void *handle)
{
	for (size_t i = h ? h->n_tracked : 0; i-- > 0;)
		if (h->tracked[i].handle == handle) {
			memmove(&h->tracked[i], &h->tracked[i + 1], (h->n_tracked - i - 1) * sizeof *h->tracked);
			h->n_tracked--;
			return;
		}
}

void lv__host_release_tracked(lv_host_ctx *h)
{
	while (h->n_tracked) {
		lv_tracked t = h->tracked[--h->n_tracked]; /* newest first; release may untrack */
		t.release(t.handle);
	}
	free(h->tracked);
	h->tracked = NULL;
	h->cap_tracked = 0;
}

/* ---- secrets and protected files ----------------------------------------- */

int lv__host_ask_secret(lv_host_ctx *h, const char *prompt, unsigned flags, char *buf, size_t cap, size_t *len)
{
	if (!h || !prompt || !buf || cap < 2 || !len)
		return LV_E_INVALID_ARG;
	lv_context *c = h->ctx;
	if (!c->secret_cb)
		return LV_E_UNSUPPORTED; /* an answer, not described: the driver says what is missing */
	buf[0] = '\0';
	int rc = c->secret_cb(prompt, flags, buf, cap, c->secret_ud);
	buf[cap - 1] = '\0';
	*len = strlen(buf);
	if (rc == LV_E_CANCELED)
		return lv__host_set_error(h, rc, "%s: not given", prompt);
	if (rc)
		return lv__host_set_error(h, lv__err_valid(rc) ? rc : LV_E_IO, "%s: could not be asked for", prompt);
	return 0;
}

int lv__host_protected_file(lv_host_ctx *h, uint64_t dev, uint64_t ino)
{
	if (!h || !h->run)
		return 0;
	for (size_t i = 0; i < h->run->n_protected; i++)
		if (h->run->protected[i].dev == dev && h->run->protected[i].ino == ino)
			return 1;
	return 0;
}
