/*
 * location: from a URI to an open driver instance.  Resolves named
 * locations and plain paths, splits stacking prefixes (bundle+INNER), opens
 * and closes instances, gives stacking drivers the host's open_uri, and
 * holds the public location API (licvault/sys/location.h).  Above host.
 */
#ifndef LV_CORE_LOCATION_H
#define LV_CORE_LOCATION_H

#include "host.h"

/* An open location: a driver instance bound to a run's host context. */
struct lv_location {
	lv_loaded *drv;
	const lv_driver_ops *ops;   /* normalized full table */
	void *inst;
	lv_host_ctx *hctx;
	char *uri;                  /* resolved URI */
	lv_run *own_run;            /* opened by lv_location_open: the run is the location's own */
	struct lv_location *inner;  /* the first location this one's driver opened (stacking), or NULL */
	struct lv_location *outer;  /* the location whose driver opened this one, or NULL */
};

extern const lv_host lv__host_table;

/*
 * Resolve uri (named locations, plain paths) and open it for run.  parent:
 * the host context of the stacking driver opening it, or NULL.
 */
int lv__location_open(lv_context *ctx, lv_run *run, lv_host_ctx *parent, const char *uri,
                      unsigned flags, lv_location **out);
void lv__location_close(lv_location *loc);
/* The driver's name, for messages. */
const char *lv__location_driver(const lv_location *loc);
/*
 * Check a driver's return code: one outside the public set fails the run
 * with DRIVER_ABI; a code the driver did not describe gets a generic
 * message naming what failed on which object.
 */
int lv__drv_rc(lv_run *run, lv_location *loc, int rc, const char *what, const char *name);
/*
 * Does any layer of uri (bundle+crypt+sftp://user:pw@host/x) hold a password?
 * Every URI a run or a tool opens is refused when it does, with
 * lv__password_advice (which never quotes it); config check says the same.
 */
int lv__uri_holds_password(const char *uri);
/* uri with the password of every layer replaced by stars ("sftp://u:********@h/x"), for messages; malloc'd. */
char *lv__uri_mask(const char *uri, const char *stars);
extern const char lv__password_advice[];
/* The driver serving uri (stacked: the outer one); scheme gets its scheme. */
lv_loaded *lv__driver_for_uri(lv_context *ctx, const char *uri, char *scheme, size_t cap);

#endif
