/*
 * The driver conformance suite: checks any driver, through the location API
 * (licvault/sys/location.h), against the contract in licvault/driver.h and
 * against what the core does with a location: single objects, the lock
 * object (core/lock.c), the history of backup generations (core/backup.c,
 * docs/backup-format.md), the registry a restore writes through a location
 * opened for reading, writers left open at close, cancellation.  Built into
 * the test runner and into the installed tool lvconform.
 */
#ifndef LVC_CONFORMANCE_H
#define LVC_CONFORMANCE_H

#include <stdio.h>

#include "licvault/licvault.h"

/* The checks, in the order they run. */
enum {
	LVC_PREFLIGHT = 0,  /* the location holds nothing of a real backup the suite could destroy */
	LVC_WRITE_READ,     /* write, commit, read back; visible from a new instance */
	LVC_ABORT,          /* not visible before commit; abort leaves nothing */
	LVC_NO_REPLACE,     /* commit never replaces unless asked; replace keeps one name */
	LVC_LIST_REMOVE,    /* list, remove, NOT_FOUND for an absent object; names never temporaries */
	LVC_CLOSE,          /* close with a writer and a reader open publishes nothing */
	LVC_LOCK,           /* two runs race for the lock on two threads (one wins); read, refresh, remove */
	LVC_HISTORY,        /* generations written, listed, read back, older ones removed */
	LVC_REGISTRY,       /* a restore's registry, written through an instance opened for reading */
	LVC_CANCEL,         /* a canceled write publishes nothing */
	LVC_LARGE,          /* a large object, read back with its CRC */
	LVC__N
};

typedef struct lvc_options {
	unsigned large_mib; /* size of the large-object check; 0 skips it */
	int verbose;        /* a line per check, not only per failure */
	FILE *out;          /* where the lines go; NULL: stderr */
} lvc_options;

typedef struct lvc_result {
	int ran, failed;
	unsigned failed_mask; /* bit (1u << LVC_x) for each check that failed */
} lvc_result;

/*
 * Run every check against `uri`, a location of its own (the suite writes
 * and removes objects there: conf-*, licvault.lock, licvault-<16 hex>.*,
 * licvault-registry-*; it refuses to run where a licvault object it did not
 * write is found).  Prints one line per failure (and per check with
 * verbose), naming the check and what failed.  Returns the number of checks
 * that failed; *res (may be NULL) gets the details.
 */
int lvc_run(lv_context *ctx, const char *uri, const lvc_options *opt, lvc_result *res);

/* A check's short name ("lock") and its title ("the lock object as the core uses it"). */
const char *lvc_check_name(int check);
const char *lvc_check_title(int check);

/* The former entry point, for callers not moved to lvc_run yet (tests/test_sftp.c). */
static inline int lv_conformance_run(lv_context *ctx, const char *uri, unsigned large_mib, int verbose, int *ran)
{
	lvc_options o = {large_mib, verbose, NULL};
	lvc_result r = {0, 0, 0};
	int failed = lvc_run(ctx, uri, &o, &r);
	if (ran)
		*ran = r.ran;
	return failed;
}

#endif
