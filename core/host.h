/*
 * host: the services the host gives drivers (driver.h, lv_host): logging,
 * config lookup, cancellation, progress, error description.  The table
 * itself is made by the location layer (location.c), which adds the
 * stacking services.  Above run and loader.
 */
#ifndef LV_CORE_HOST_H
#define LV_CORE_HOST_H

#include "loader.h"
#include "run.h"

/* What the host knows of one driver instance: its run and location. */
struct lv_host_ctx {
	lv_context *ctx;
	lv_run *run;                  /* NULL while enumerating */
	lv_loaded *drv;
	char *location_name;          /* the config location for key overrides, or NULL */
};

void lv__host_log(lv_host_ctx *h, int level, const char *fmt, ...) LV_PRINTF(3, 4);
const char *lv__host_config_get(lv_host_ctx *h, const char *key, unsigned index);
int lv__host_canceled(lv_host_ctx *h);
void lv__host_progress(lv_host_ctx *h, uint64_t bytes);
int lv__host_set_error(lv_host_ctx *h, int code, const char *fmt, ...) LV_PRINTF(3, 4);
void lv__host_note(lv_host_ctx *h, const char *fmt, ...) LV_PRINTF(2, 3);
int lv__host_error_save(lv_host_ctx *h);
void lv__host_error_restore(lv_host_ctx *h, int saved);

#endif
