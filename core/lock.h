/*
 * lock: the location's lock ("licvault.lock": host, pid, process start,
 * operation, token), taken with a no-replace commit.  A lock whose process
 * is gone (same host) is stale: it is said so in the log and taken over.
 * Another live holder is BUSY naming it.  A driver that cannot hold it
 * (read-only location) gets no lock: *held stays 0.  Above location.
 */
#ifndef LV_CORE_LOCK_H
#define LV_CORE_LOCK_H

#include "location.h"

#define LV_LOCK_NAME "licvault.lock"

int lv__lock_take(lv_run *run, lv_location *loc, const char *op, int *held);
void lv__lock_release(lv_run *run, lv_location *loc, int held);

#endif
