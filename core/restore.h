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

#endif
