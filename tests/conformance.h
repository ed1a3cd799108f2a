/*
 * The driver conformance suite: checks any driver, through the public
 * location API, against the contract in licvault/driver.h.
 */
#ifndef LV_CONFORMANCE_H
#define LV_CONFORMANCE_H
#include "licvault/licvault.h"

/*
 * Run every check against `uri` (an empty or scratch location the driver
 * may write to).  Prints one line per failure to stderr (and per check
 * with verbose).  Returns the number of failed checks; *ran gets the number run.
 * large_mib: size of the large-object check (0 skips it).
 */
int lv_conformance_run(lv_context *ctx, const char *uri, unsigned large_mib, int verbose, int *ran);

#endif
