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

/* One generation at a location, seen from its objects' names (and sizes). */
typedef struct lv_gen {
	uint64_t gen;
	int format;                 /* of its names: 2 (licvault-g<16 hex>.*) or 1 (licvault-<16 hex>.*) */
	int has_manifest, has_pack;
	uint64_t manifest_size;     /* as listed; UINT64_MAX when unknown */
	uint64_t pack_size;
	char **others;              /* other objects of this generation (licvault-g<G>.<other>) */
	size_t n_others;
} lv_gen;

/* What a location holds: its generations, ascending. */
typedef struct lv_set_scan {
	lv_gen *gens;
	size_t n_gens;
	uint64_t newest_any;        /* highest generation of any set object, 0 = none */
	int n_objects;              /* set objects seen */
	char **strays;              /* names of set objects whose generation is out of range */
	size_t n_strays;
} lv_set_scan;

int lv__set_scan(lv_run *run, lv_location *loc, lv_set_scan *out);
void lv__set_scan_free(lv_set_scan *s);
/* The newest generation with a manifest, or NULL. */
const lv_gen *lv__scan_newest(const lv_set_scan *s);
/* Generation g (with a manifest or not), or NULL. */
const lv_gen *lv__scan_find(const lv_set_scan *s, uint64_t g);
/* How many generations have a manifest. */
size_t lv__scan_count(const lv_set_scan *s);
/*
 * Called once the run holds the location's lock: put right what a dead run
 * left.  The driver's cleanup (its temporaries and set-aside objects), and
 * the pack of a generation above the newest manifest (a backup that never
 * published), are removed; it says so in one log line.  Failures are
 * logged, never fatal.  scan is updated.
 */
void lv__set_tidy(lv_run *run, lv_location *loc, lv_set_scan *scan);
/*
 * Remove generation g: its manifest first (from then on it is no
 * generation), then its pack.  0, or the driver's error (described).
 */
int lv__set_remove_gen(lv_run *run, lv_location *loc, const lv_gen *g);

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

/* One set at a location, opened for reading. */
typedef struct lv_set {
	lv_run *run;
	lv_location *loc;
	uint64_t want;        /* the generation to open; 0: the newest */
	int tidy;             /* the run holds the lock: put right what a dead run left (lv__set_tidy) */
	int format;           /* of its names */
	char man_name[64];
	uint64_t man_size;
	lv_manifest_hdr hdr;
	FILE *spool;          /* a local copy of the manifest, read once from the location */
} lv_set;

/* BACKUP_CORRUPT "backup at URI is corrupt: OBJ: why". */
int lv__set_corrupt(lv_run *run, lv_location *loc, const char *obj, const char *why);
/*
 * Find the set (set->want, or the newest), read its manifest whole once
 * (checked) into a local copy.  A generation that has no manifest is
 * NOT_FOUND naming the generations there are.
 */
int lv__set_open(lv_set *set);
/* Read just the header of generation g's manifest (for listings); BACKUP_CORRUPT described. */
int lv__set_read_header(lv_run *run, lv_location *loc, const lv_gen *g, lv_manifest_hdr *out);
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
