/*
 * loader: the driver registry.  Builds the search path, checks and loads
 * driver shared objects (dlopen, the versioned driver ABI), and finds the
 * driver serving a scheme or bearing a name.  Above context.
 */
#ifndef LV_CORE_LOADER_H
#define LV_CORE_LOADER_H

#include "licvault/driver.h"
#include "context.h"

/* A loaded driver. */
typedef struct lv_loaded {
	void *dl;
	const lv_driver *desc;
	lv_driver_ops ops;            /* normalized: zero-filled past the driver's ops_size */
	char *path;
	char *schemes;                /* space-separated, for display */
	const char **served;          /* schemes this driver won, NULL-terminated */
} lv_loaded;

/*
 * Drivers are loaded on demand, in search order.  lv__drivers_load loads every
 * driver of the search path (later calls return at once); call it before
 * lv__driver_count/lv__driver_at and anything that lists them.
 */
int lv__drivers_load(lv_context *ctx);
/* The driver serving scheme, or NULL: loads drivers in search order until one serves it. */
lv_loaded *lv__driver_for_scheme(lv_context *ctx, const char *scheme);
/* The driver named name, or NULL: loads drivers in search order until one has that name. */
lv_loaded *lv__driver_named(lv_context *ctx, const char *name);
/* Loaded drivers in search order: n and the i-th (after lv__drivers_load: all of them). */
size_t lv__driver_count(lv_context *ctx);
lv_loaded *lv__driver_at(lv_context *ctx, size_t i);
/* The driver's commands (ABI 1.1), or NULL. */
const lv_driver_command *lv__driver_commands(const lv_loaded *d);
/* A declared key of a driver, or NULL. */
const lv_driver_key *lv__driver_key(const lv_driver *d, const char *key);

#endif
