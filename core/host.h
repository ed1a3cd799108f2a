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

/* A writer or reader a driver tracks (lv_host.track). */
typedef struct lv_tracked {
	void *handle;
	void (*release)(void *handle);
} lv_tracked;

/* What the host knows of one driver instance: its run and location. */
struct lv_host_ctx {
	lv_context *ctx;
	lv_run *run;                  /* NULL while enumerating */
	lv_loaded *drv;
	struct lv_location *loc;      /* the location this instance serves */
	char *location_name;          /* the config location for key overrides, or NULL */
	lv_tracked *tracked;          /* open writers and readers (lv_host.track) */
	size_t n_tracked, cap_tracked;
	char **strs;                  /* strings config_value handed out, freed at close */
	size_t n_strs;
};

/* Release what the driver still tracks (before its close), and free the context's strings. */
void lv__host_release_tracked(lv_host_ctx *h);
void lv__host_ctx_free_strings(lv_host_ctx *h);

void lv__host_log(lv_host_ctx *h, int level, const char *fmt, ...) LV_PRINTF(3, 4);
const char *lv__host_config_get(lv_host_ctx *h, const char *key, unsigned index);
int lv__host_canceled(lv_host_ctx *h);
void lv__host_progress(lv_host_ctx *h, uint64_t bytes);
int lv__host_set_error(lv_host_ctx *h, int code, const char *fmt, ...) LV_PRINTF(3, 4);
void lv__host_note(lv_host_ctx *h, const char *fmt, ...) LV_PRINTF(2, 3);
int lv__host_error_save(lv_host_ctx *h);
void lv__host_error_restore(lv_host_ctx *h, int saved);
int lv__host_config_value(lv_host_ctx *h, const char *key, lv_config_value *out);
int lv__host_uri_parse(lv_host_ctx *h, const char *uri, lv_uri **out);
void lv__host_uri_free(lv_uri *u);
int lv__host_name_valid(lv_host_ctx *h, const char *name);
int lv__host_track(lv_host_ctx *h, void *handle, void (*release)(void *handle));
void lv__host_untrack(lv_host_ctx *h, void *handle);
int lv__host_ask_secret(lv_host_ctx *h, const char *prompt, unsigned flags, char *buf, size_t cap, size_t *len);
int lv__host_protected_file(lv_host_ctx *h, uint64_t dev, uint64_t ino);
/* Is name a valid object name (driver.h OBJECTS)? */
int lv__object_name_valid(const char *name);

#endif
