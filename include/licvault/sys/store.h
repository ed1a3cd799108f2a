/*
 * licvault/sys/store.h: an application's own license store.
 */
#ifndef LICVAULT_SYS_STORE_H
#define LICVAULT_SYS_STORE_H

#include "../licvault.h"

#ifdef __cplusplus
extern "C" {
#endif

/**
 * An application's own store, as a table of functions (the default is one
 * SQLite file, which implements this same table).  `impl` is the
 * application's.  Slots marked "required" must be set.  `version` says
 * which slots the table has: 1 ends at close, 2 (LV_STORE_OPS_VERSION)
 * adds last_error, open_run and size; the core reads no slot past the
 * version given.  Errors are negative lv_error codes.
 */
#define LV_STORE_OPS_VERSION 2
typedef struct lv_store_ops {
	unsigned version;
	/** required: number of licenses */
	int (*count)(void *impl, uint64_t *out);
	/** required: a copy made with lv_license_dup, or LV_E_NOT_FOUND */
	int (*get)(void *impl, const char *kid, lv_license **out);
	/** required: add (LV_E_EXISTS when present unless LV_PUT_REPLACE) */
	int (*put)(void *impl, const lv_license *lic, unsigned flags);
	/** required: remove, LV_E_NOT_FOUND when absent */
	int (*remove)(void *impl, const char *kid);
	/**
	 * required: every license in ascending key ID order (byte order) from one
	 * consistent snapshot; stop and return cb's value when it is non-zero.
	 */
	int (*foreach)(void *impl, lv_license_cb cb, void *ud);
	/** required: begin/commit/rollback one write transaction (restore's all or nothing) */
	int (*begin)(void *impl);
	int (*commit)(void *impl);
	int (*rollback)(void *impl);
	/** required: small named values kept with the store (machine identity); NULL value removes */
	int (*meta_get)(void *impl, const char *key, char *buf, size_t cap);
	int (*meta_set)(void *impl, const char *key, const char *value);
	/** optional: free impl (and a handle made by open_run) */
	void (*close)(void *impl);

	/* ---- version 2 ---- */

	/**
	 * optional: the detailed message of the impl's last failure ("store X:
	 * disk I/O error"), valid until the next call on impl; NULL or "" when
	 * it has none (the core then says which operation failed).
	 */
	const char *(*last_error)(void *impl);
	/**
	 * optional: another handle on the same store for a run on a worker
	 * thread, so the application's own handle stays usable meanwhile (the
	 * SQLite store opens a second connection: a backup reads one snapshot,
	 * a restore writes one transaction).  Freed with close.  NULL: runs use
	 * impl itself, and the application must not use the store during a run.
	 */
	int (*open_run)(void *impl, void **run_impl);
	/**
	 * optional: the store's size in bytes, a bound on the size of a backup
	 * (given to the driver as a size hint for the space check).
	 */
	int (*size)(void *impl, uint64_t *bytes);
} lv_store_ops;

/** Wrap an application's store.  ops must stay valid until lv_store_free. */
LV_EXTERN int lv_store_new_custom(lv_store **out, lv_context *ctx, const lv_store_ops *ops,
                                  void *impl);


#ifdef __cplusplus
}
#endif
#endif /* LICVAULT_SYS_STORE_H */
