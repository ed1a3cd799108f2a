/*
 * context: the lv_context (configuration, logging, the driver registry's
 * slot, the license service), and the context's per-thread error record.
 * Above config and uri.
 */
#ifndef LV_CORE_CONTEXT_H
#define LV_CORE_CONTEXT_H

#include <pthread.h>

#include "licvault/licvault.h"
#include "licvault/sys/service.h"
#include "config.h"
#include "error.h"

struct lv_registry;

struct lv_context {
	pthread_mutex_t lock;          /* guards the registry's loading */
	lv_config *config;
	char *config_path;
	int log_level;
	lv_log_cb log_cb;
	void *log_ud;
	/* the driver registry: made and freed by the loader (loader.c) */
	struct lv_registry *registry;
	void (*registry_free)(struct lv_registry *reg);
	char **extra_dirs;             /* lv_context_add_driver_dir, in order */
	size_t n_extra_dirs;
	/* the license service; NULL: the built-in one */
	const lv_service *service;
	void *service_ud;
};

void lv__log(lv_context *ctx, int level, const char *fmt, ...) LV_PRINTF(3, 4);
void lv__vlog(lv_context *ctx, int level, const char *fmt, va_list ap);

/*
 * The context's error record is per thread (as libgit2's last error): the
 * failure of the last context-level call (lv_context_*, lv_store_open,
 * lv_location_open) made by this thread.  A public call clears it first.
 */
lv_err *lv__ctx_err(void);
int lv__ctx_error(lv_context *ctx, int code, const char *fmt, ...) LV_PRINTF(3, 4);
void lv__ctx_clear(void);

/* Drop the loaded drivers (the next use loads them again). */
void lv__ctx_drop_registry(lv_context *ctx);

#endif
