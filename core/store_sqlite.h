/*
 * store_sqlite: the default license store, one SQLite file in WAL mode,
 * as an implementation of lv_store_ops.  Above context.
 */
#ifndef LV_CORE_STORE_SQLITE_H
#define LV_CORE_STORE_SQLITE_H

#include "licvault/sys/store.h"
#include "error.h"

extern const lv_store_ops lv__sqlite_store_ops;
/* Open (LV_STORE_CREATE: create) the store file; on failure the message is in err. */
int lv__sqlite_store_open(const char *path, unsigned flags, void **impl, lv_err *err);

#endif
