/*
 * confcheck: the config file checked and shown against the core's keys and
 * the loaded drivers' declared keys, and the core's own typed values.
 * Above location.
 */
#ifndef LV_CORE_CONFCHECK_H
#define LV_CORE_CONFCHECK_H

#include "location.h"

/*
 * The typed value of a core key (keep, verify_after_backup,
 * lock_stale_after) for a run at the named location (or NULL): [location
 * "NAME"] first, then [licvault], then its default.  LV_E_CONFIG in err.
 */
int lv__core_value(lv_context *c, const char *location, const char *key, lv_config_value *out, lv_err *err);

#endif
