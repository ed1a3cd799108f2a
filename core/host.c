/*
 * The services the host gives drivers (driver.h, lv_host).  The table
 * itself is made by the location layer, which adds the stacking services.
 */
#include "host.h"

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
