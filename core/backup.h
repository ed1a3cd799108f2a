/*
 * backup: the backup engine (the store's licenses into a new generation at
 * a location).  Above set, lock and store.
 */
#ifndef LV_CORE_BACKUP_H
#define LV_CORE_BACKUP_H

#include "run.h"
#include "store.h"

int lv__do_backup(lv_run *run, lv_store *store, const char *uri, unsigned flags);

#endif
