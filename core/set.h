/*
 * set: the backup set at a location (docs/backup-format.md).  Scanning a
 * location's objects for generations, and reading one set: its manifest
 * (checked whole, kept in a local copy) and its pack in step with it,
 * checking every record.  Above location and format.
 */
#ifndef LV_CORE_SET_H
#define LV_CORE_SET_H

#include <stdio.h>

#include "format.h"
#include "location.h"

typedef struct lv_set_scan {
	uint64_t newest_manifest;   /* generation, 0 = none */
	uint64_t newest_any;        /* highest generation of any object */
	int has_manifest;
	int n_objects;              /* licvault objects seen */
	char **old;                 /* every licvault object name, to clean up */
	size_t n_old;
} lv_set_scan;

int lv__set_scan(lv_run *run, lv_location *loc, lv_set_scan *out);
void lv__set_scan_free(lv_set_scan *s);

/* A driver object read through an lv_read_fn. */
typedef struct lv_obj_src {
	lv_run *run;
	lv_location *loc;
	lv_reader *r;
	const char *name;
} lv_obj_src;

/* Open object name (missing: BACKUP_CORRUPT naming it) / read it / close it. */
int lv__obj_open(lv_run *run, lv_location *loc, const char *name, lv_obj_src *s);
int lv__obj_read(void *src, void *buf, size_t cap, size_t *n);
void lv__obj_close(lv_obj_src *s);

/* The newest set at a location, opened for reading. */
typedef struct lv_set {
	lv_run *run;
	lv_location *loc;
	char man_name[64];
	uint64_t man_size;
	lv_manifest_hdr hdr;
	FILE *spool;          /* a local copy of the manifest, read once from the location */
} lv_set;

/* BACKUP_CORRUPT "backup at URI is corrupt: OBJ: why". */
int lv__set_corrupt(lv_run *run, lv_location *loc, const char *obj, const char *why);
/* Find the newest manifest, read it whole once (checked) into a local copy. */
int lv__set_open(lv_set *set);
void lv__set_close(lv_set *set);
/* Read the manifest again from the local copy. */
int lv__set_manifest_open(lv_set *set, lv_manifest_reader *m);
/* Describe a failed manifest read (a driver's failure is described already). */
int lv__set_manifest_fail(lv_set *set, lv_manifest_reader *m, int rc);

/*
 * Read the pack in step with the manifest: every record's length, checksum
 * and key ID, then the whole pack's size and checksum.  cb gets each
 * decoded license and its index in the manifest.
 */
typedef int (*lv_record_cb)(const lv_license *lic, uint64_t index, void *ud);
int lv__set_walk(lv_set *set, lv_record_cb cb, void *ud);

#endif
