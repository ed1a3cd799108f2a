/*
 * lock: the location's lock ("licvault.lock": host, boot ID, PID namespace,
 * pid, process start, operation, times, token), taken with a no-replace
 * commit.  A lock whose holder is gone (or, from another machine or
 * namespace, was not refreshed for lock_stale_after seconds) is stale: it is
 * said so in the log and taken over.  Another live holder is BUSY naming it.
 * A driver that cannot hold it (read-only location) gets no lock: *held
 * stays 0.  Above format (and confcheck, for lock_stale_after).
 */
#ifndef LV_CORE_LOCK_H
#define LV_CORE_LOCK_H

#include "location.h"

#define LV_LOCK_NAME "licvault.lock"

int lv__lock_take(lv_run *run, lv_location *loc, const char *op, int *held);
void lv__lock_release(lv_run *run, lv_location *loc, int held);
/*
 * Refresh the lock this run holds when it is due (every lock_stale_after/15
 * seconds, at least 4): called by whichever thread uses the location's
 * instance, between two of its operations.  BUSY (described) when another
 * run took the lock over meanwhile: the run must stop.
 */
int lv__lock_refresh(lv_run *run);

#endif
