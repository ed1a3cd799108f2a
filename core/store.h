/*
 * store: the license store behind lv_store, over its table of operations
 * (licvault/sys/store.h; the default SQLite store is one implementation of
 * that table, store_sqlite.c), and the machine identity kept with it.
 * Above context and license.
 */
#ifndef LV_CORE_STORE_H
#define LV_CORE_STORE_H

#include "licvault/sys/store.h"
#include "context.h"

struct lv_store {
	lv_context *ctx;
	lv_store_ops ops;    /* the application's table, zero-filled past its version */
	void *impl;
	lv_err err;          /* the last failed call's error (cleared at each call) */
	int in_txn;          /* inside lv_store_transaction */
	char txn_machine[64];
};

/* Wrap impl with ops (copied up to its version); NULL on no memory. */
lv_store *lv__store_wrap(lv_context *ctx, const lv_store_ops *ops, void *impl);
/* The impl's own message for its last failure, or "what: generic message". */
const char *lv__store_why(lv_store *s, int rc, const char *what, char *buf, size_t cap);
/*
 * A store handle for a run on a worker thread (ops.open_run, else the store
 * itself).  Release with lv__store_run_release.  On failure the message is
 * in err.
 */
int lv__store_for_run(lv_store *s, lv_store **out, lv_err *err);
void lv__store_run_release(lv_store *orig, lv_store *run);
/*
 * Is there room for needed bytes, and LV_STORE_FILE_SLACK besides, where
 * the store's file lies (ops.path)?
 * 0 (also when unknown), or LV_E_NO_SPACE in err naming the free and the
 * needed space.
 */
int lv__store_room(lv_store *s, uint64_t needed, lv_err *err);
/* The store's size in bytes (ops.size), UINT64_MAX when unknown. */
uint64_t lv__store_size(lv_store *s);
/* Host identity: a digest of /etc/machine-id (or $LICVAULT_HOST_ID in the test build, LV_TEST_HOOKS). */
int lv__host_id(char *out, size_t cap);
/* A new random machine identity (hex). */
int lv__identity_new(char *machine_id, size_t cap);
/* Write the identity (inside the caller's transaction, if any). */
int lv__store_set_identity(lv_store *s, const char *id);

#endif
