/*
 * restore: the restore and verify engines.  Above set, lock, service and
 * store.
 */
#ifndef LV_CORE_RESTORE_H
#define LV_CORE_RESTORE_H

#include "run.h"
#include "store.h"

int lv__do_restore(lv_run *run, lv_store *store, const char *uri, unsigned flags);
int lv__do_verify(lv_run *run, const char *uri);
/* Check generation want (0: the newest) whole at an open location; *hdr (may be NULL) its header. */
struct lv_location;
struct lv_manifest_hdr;
int lv__verify_generation(lv_run *run, struct lv_location *loc, uint64_t want, struct lv_manifest_hdr *hdr);

#endif
