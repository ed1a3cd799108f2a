/*
 * licvault: back up and restore licenses to any storage location through
 * drivers loaded at run time.  The application API.
 *
 * Conventions (as libgit2 and SQLite):
 *  - functions return 0 or a negative lv_error; outputs come first
 *    (`int lv_x_open(lv_x **out, ...)`), the caller owns *out and frees it
 *    with the type's own _free, and _free(NULL) is a no-op;
 *  - a function that fails leaves its outputs untouched (a pointer keeps
 *    the value it had: it is not set to NULL);
 *  - when lv_restorer_backup()/lv_restorer_restore() return an error, the
 *    status callback is never called for that run (as libuv); when they
 *    return 0, the callback is called exactly once with LV_STATUS_END;
 *  - strings are UTF-8, NUL-terminated.
 *
 * Threads: an lv_context may be shared by several threads once its
 * configuration is loaded (lv_context_load_config and lv_context_set_* are
 * not thread-safe against runs).  An lv_store and an lv_restorer are each
 * used by one thread at a time, except lv_restorer_cancel(), which any
 * thread may call.  Status callbacks run on the run's worker thread.
 */
#ifndef LICVAULT_LICVAULT_H
#define LICVAULT_LICVAULT_H

#include <stdarg.h>
#include "common.h"

#ifdef __cplusplus
extern "C" {
#endif

#define LV_VERSION_MAJOR 0
#define LV_VERSION_MINOR 1
#define LV_VERSION_PATCH 0
#define LV_VERSION_STRING "0.1.0"

/** The library's version string at run time. */
LV_EXTERN const char *lv_version(void);

/** The driver ABI (major, minor) this library speaks, at run time. */
LV_EXTERN void lv_driver_abi(unsigned *major, unsigned *minor);

/**
 * The version of a library licvault runs with: "sqlite" or "zlib" (the
 * ones the library links).  NULL for any other name.  (A driver's own
 * libraries, such as the sftp driver's libssh2, are the driver's.)
 */
LV_EXTERN const char *lv_component_version(const char *name);

/* ======================================================================= */
/* Context                                                                  */

typedef struct lv_context lv_context;
typedef struct lv_store lv_store;
typedef struct lv_restorer lv_restorer;

/** Log callback: one line (no newline), never a secret. */
typedef void (*lv_log_cb)(int level, const char *line, void *ud);

/**
 * Create a context.  It holds the configuration (empty until
 * lv_context_load_config), the driver registry (loaded on first use) and
 * the log callback (none: logs are dropped).
 */
LV_EXTERN int lv_context_new(lv_context **out);
LV_EXTERN void lv_context_free(lv_context *ctx);

/**
 * How the application asks its user for a secret (a passphrase a driver
 * such as crypt needs and no configured source gives).  Write the secret,
 * NUL-terminated, into buf (cap bytes); flags may hold LV_SECRET_CONFIRM
 * (a new secret: ask twice, they must match).  Return 0, LV_E_CANCELED when
 * the user declined, or another error.  Called on the run's worker thread,
 * with prompt naming what is asked for and where.  Never log the secret.
 */
typedef int (*lv_secret_cb)(const char *prompt, unsigned flags, char *buf, size_t cap, void *ud);
#define LV_SECRET_CONFIRM 0x1u

/** Set (or, with NULL, remove) the context's way of asking for secrets. */
LV_EXTERN void lv_context_set_secret_cb(lv_context *ctx, lv_secret_cb cb, void *ud);

/** Receive log lines up to `max_level` (lv_log_level). */
LV_EXTERN void lv_context_set_log(lv_context *ctx, int max_level, lv_log_cb cb, void *ud);

/**
 * Load the config file.  `path` NULL uses $LICVAULT_CONFIG when it is set
 * (a file it names that does not exist is LV_E_CONFIG, as an explicit
 * path); otherwise the first that exists of
 * $XDG_CONFIG_HOME/licvault/config (or ~/.config/licvault/config) and
 * /etc/licvault/config (none is fine).  An explicit path that does not
 * exist is LV_E_CONFIG.  Errors name the
 * file and line (lv_context_last_error).  Drivers' keys are checked once
 * drivers are loaded (lv_context_check_config).
 */
LV_EXTERN int lv_context_load_config(lv_context *ctx, const char *path);

/** The config file in use, or NULL when none. */
LV_EXTERN const char *lv_context_config_path(const lv_context *ctx);

/**
 * A config value: `section` is "licvault", "service", "driver NAME" or
 * "location NAME"; values are expanded (~, ${VAR}).  NULL when unset.
 */
LV_EXTERN const char *lv_context_config_get(const lv_context *ctx, const char *section,
                                            const char *key);

/**
 * Check every section against the core's keys and the loaded drivers'
 * declared keys.  Unknown keys of drivers that declare keys, bad values,
 * unknown sections: LV_E_CONFIG naming file and line.  Keys a driver does
 * not declare are logged as warnings.
 */
LV_EXTERN int lv_context_check_config(lv_context *ctx);

/** One key of the effective configuration (lv_context_config_foreach). */
typedef struct lv_config_item {
	const char *section;     /* "licvault", "service", "driver sftp", "location nas" */
	const char *key;
	const char *value;       /* "********" when secret; the default's text when is_default */
	const char *file;        /* the config file, NULL for a default */
	int line;                /* 0 for a default */
	int is_default;          /* 1: not in the file; the declared default of a loaded driver's or the core's key */
	int is_secret;
	const char *help;        /* the key's one-line help, or NULL (undeclared key) */
	const char *choices;     /* an enum key's "a|b", else NULL */
	int type;                /* lv_key_type (driver.h), -1 for an undeclared key */
} lv_config_item;

/**
 * Call cb for each key set in the config file (in file order), then for
 * each declared key of the core and the loaded drivers that the file does
 * not set and that has a default.  Strings are valid during the callback.
 * A non-zero return from cb stops and is returned.
 */
LV_EXTERN int lv_context_config_foreach(lv_context *ctx, int (*cb)(const lv_config_item *item, void *ud),
                                        void *ud);

/**
 * Print the effective configuration, one `[section]` and `key = value`
 * per line, secrets masked, through `emit`.
 */
LV_EXTERN int lv_context_show_config(lv_context *ctx,
                                     void (*emit)(const char *line, void *ud), void *ud);

/**
 * Add a directory to the driver search path, after the config's driver_path
 * and $LICVAULT_DRIVER_PATH and before the built-in directories.
 */
LV_EXTERN int lv_context_add_driver_dir(lv_context *ctx, const char *dir);

/** The detailed message of the context's last failure ("" when none). */
LV_EXTERN const char *lv_context_last_error(const lv_context *ctx);

/* ---- drivers ---------------------------------------------------------- */

/** What the loader found: one entry per driver file considered. */
typedef struct lv_driver_info {
	const char *path;        /* the shared object (or a driver folder refused before it was searched) */
	const char *name;        /* driver name, NULL when refused */
	const char *version;     /* driver version, NULL when refused */
	unsigned abi_major, abi_minor;
	const char *schemes;     /* "file" or "sftp" ... space-separated, NULL when refused */
	int refused;             /* non-zero: not used; `reason` says why */
	const char *reason;      /* why refused, or a warning (scheme claimed twice), or NULL */
} lv_driver_info;

/**
 * Load every driver of the search path (once) and call cb for each file
 * considered, in search order.  Strings are valid during the callback.
 * (A run loads only what it needs: the drivers in search order up to the
 * one that serves its URI's scheme.)
 */
LV_EXTERN int lv_context_drivers(lv_context *ctx,
                                 int (*cb)(const lv_driver_info *info, void *ud), void *ud);

/** Call cb with each directory of the driver search path, in order. */
LV_EXTERN int lv_context_driver_path(lv_context *ctx,
                                     int (*cb)(const char *dir, const char *origin, void *ud),
                                     void *ud);

/** A candidate location a driver offers (plugged-in volumes...). */
typedef struct lv_location_info {
	const char *driver;      /* driver name */
	const char *uri;
	const char *label, *id, *fstype, *where;  /* may be NULL */
	uint64_t free_bytes, total_bytes;          /* UINT64_MAX when unknown */
} lv_location_info;

/** Ask every driver that can enumerate for candidate locations. */
LV_EXTERN int lv_context_locations(lv_context *ctx,
                                   int (*cb)(const lv_location_info *info, void *ud), void *ud);

/**
 * Resolve a URI or a named location ("nas:", "nas:sub/dir") to the URI and
 * driver that serve it, without opening it.  *uri_out is malloc'd.
 */
LV_EXTERN int lv_context_resolve(lv_context *ctx, const char *uri, char **uri_out,
                                 const char **driver_name);

/* ======================================================================= */
/* Licenses                                                                 */

/** Rights bits. */
#define LV_RIGHT_PLAY   0x01u
#define LV_RIGHT_COPY   0x02u
#define LV_RIGHT_BURN   0x04u
#define LV_RIGHT_BACKUP 0x08u  /* backup/restore right: off unless the issuer grants it */

#define LV_KID_MAX 128         /* longest key ID, bytes */
#define LV_TEXT_MAX 1024       /* longest content ID, title, issuer, machine */
#define LV_PAYLOAD_MAX (16u << 20) /* largest payload */

/**
 * A license record.  Plain data: strings and payload are owned by whoever
 * made the record (lv_license_free() frees records from lv_store_get() and
 * lv_license_parse()).
 */
typedef struct lv_license {
	const char *kid;          /* key ID: 1..LV_KID_MAX printable ASCII, no space, '/' or '\\' */
	const char *content_id;   /* may be NULL */
	const char *title;        /* may be NULL */
	const char *issuer;       /* may be NULL */
	int64_t issued;           /* seconds since the epoch, UTC */
	int64_t expires;          /* seconds since the epoch, UTC; 0 = never */
	uint32_t rights;          /* LV_RIGHT_* */
	uint32_t play_count;      /* plays granted; 0 = unlimited */
	uint32_t plays_left;      /* plays left (restore resets it to play_count) */
	const char *machine;      /* the machine identity it is bound to, NULL = unbound */
	const void *payload;      /* opaque */
	size_t payload_len;
} lv_license;

/** Deep copy (one allocation); free with lv_license_free. */
LV_EXTERN int lv_license_dup(lv_license **out, const lv_license *src);
LV_EXTERN void lv_license_free(lv_license *lic);

/** Check a record: key ID syntax, lengths.  LV_E_INVALID_ARG with a reason in *why. */
LV_EXTERN int lv_license_validate(const lv_license *lic, const char **why);

/**
 * Parse a license file (docs/license-format.md).  On failure returns
 * LV_E_CORRUPT (or LV_E_IO/LV_E_NOT_FOUND) and writes "FILE:LINE: problem"
 * into err (errlen bytes).
 */
LV_EXTERN int lv_license_parse_file(lv_license **out, const char *path, char *err, size_t errlen);

/** Write a license file to `path` (created or replaced atomically). */
LV_EXTERN int lv_license_write_file(const lv_license *lic, const char *path, char *err,
                                    size_t errlen);

/* ======================================================================= */
/* License store                                                            */

/*
 * LV_STORE_CREATE: a store that does not exist may be made.  Opening makes
 * nothing: until a write commits, the store reads as empty; the first
 * write's transaction builds it in a private file (mode 0600, where the
 * path's symbolic links end) that its commit puts in place, and that a
 * rollback or a failure removes, so a failed restore leaves no store.
 * LV_STORE_READONLY: never written; also opens a store on a read-only or
 * full filesystem (from a private copy when its write-ahead log holds
 * changes).  A symbolic link on the path (the file's own, or a folder's on
 * the way to it) that belongs to another user than root or the caller is
 * refused (LV_E_CONFIG).
 */
#define LV_STORE_CREATE 0x1u
#define LV_STORE_READONLY 0x2u

/** Flags of put (and of lv_store_add, lv_store_import_files). */
#define LV_PUT_REPLACE 0x1u   /* replace a license with the same key ID */

typedef int (*lv_license_cb)(const lv_license *lic, void *ud);

/**
 * Open the default SQLite store at path (flags: LV_STORE_CREATE,
 * LV_STORE_READONLY; any other bit is LV_E_INVALID_ARG).
 */
LV_EXTERN int lv_store_open(lv_store **out, lv_context *ctx, const char *path, unsigned flags);

LV_EXTERN void lv_store_free(lv_store *store);

/**
 * Add one license (validated); a license entering a store individualizes it
 * if needed.  Flags: LV_PUT_REPLACE, or 0 (a license with the same key ID
 * is then LV_E_EXISTS); any other bit is LV_E_INVALID_ARG.
 */
LV_EXTERN int lv_store_add(lv_store *store, const lv_license *lic, unsigned flags);
LV_EXTERN int lv_store_get(lv_store *store, const char *kid, lv_license **out);
LV_EXTERN int lv_store_remove(lv_store *store, const char *kid);
LV_EXTERN int lv_store_count(lv_store *store, uint64_t *out);
/** Every license in key ID order, from one snapshot. */
LV_EXTERN int lv_store_foreach(lv_store *store, lv_license_cb cb, void *ud);

/**
 * Run fn inside one store transaction: every lv_store_add/remove fn makes
 * is committed together when fn returns 0, and rolled back otherwise (fn's
 * error is returned).  For bulk loads (licvault-gen).
 */
LV_EXTERN int lv_store_transaction(lv_store *store, int (*fn)(lv_store *store, void *ud), void *ud);

/**
 * Import license files in one transaction: all or none.  On failure
 * lv_store_last_error names the file and line.  Flags as lv_store_add.
 */
LV_EXTERN int lv_store_import_files(lv_store *store, const char *const *paths, size_t n,
                                    unsigned flags);

/** The detailed message of the store's last failure ("" when none). */
LV_EXTERN const char *lv_store_last_error(const lv_store *store);

/* ---- machine identity ---- */

/** State of a store's machine identity. */
typedef struct lv_identity {
	char machine_id[64];     /* hex, "" when never individualized */
	char host_id[64];        /* the host it is tied to */
	int individualized;      /* 1 when it has an identity valid on this host */
	int other_host;          /* 1 when it has an identity, but of another host (copied store) */
	int64_t since;           /* when it was individualized */
} lv_identity;

LV_EXTERN int lv_store_identity(lv_store *store, lv_identity *out);

/** Give the store a new random identity tied to this host (when it has none valid here). */
LV_EXTERN int lv_store_individualize(lv_store *store, int *changed);

/* ======================================================================= */
/* Values and events                                                        */

typedef enum lv_type {
	LV_TYPE_NONE = 0,
	LV_TYPE_STRING = 1,
	LV_TYPE_INT = 2,
	LV_TYPE_BOOL = 3,
	LV_TYPE_LICENSE = 4,     /* u.license: key ID and title */
	LV_TYPE_PROGRESS = 5     /* u.progress */
} lv_type;

/** A typed value: properties and event values. */
typedef struct lv_value {
	int type;                /* lv_type */
	union {
		const char *str;
		int64_t i;
		int b;
		struct { const char *kid; const char *title; } license;
		struct { uint64_t done, total, bytes; } progress;
	} u;
} lv_value;

/** Status events of a run (the original's, plus PROGRESS and INDIVIDUALIZE). */
typedef enum lv_status {
	LV_STATUS_BEGIN = 1,              /* value: none */
	LV_STATUS_END = 2,                /* result: the run's; value: string message or none */
	LV_STATUS_RESTRICTED_LICENSE = 3, /* backup: license without the backup right; value: license */
	LV_STATUS_CONNECTING = 4,         /* restore: connecting to the license service */
	LV_STATUS_DISCONNECTING = 5,      /* restore: the service decided, disconnecting */
	LV_STATUS_PROGRESS = 6,           /* value: progress */
	LV_STATUS_INDIVIDUALIZE = 7,      /* restore: the store was given its identity; value: string id */
	LV_STATUS_REFUSED_LICENSE = 8     /* restore: the service refused this license; value: license,
	                                     result: why (LV_E_RESTORE_LIMIT...) */
} lv_status;

/** Name of an event as the CLI's JSON writes it ("restricted_license"). */
LV_EXTERN const char *lv_status_name(int status);

/**
 * The status callback.  Runs on the worker thread; value and its strings
 * are valid during the call only.  `result` is 0 except for END (the
 * run's result) and REFUSED_LICENSE.
 */
typedef void (*lv_status_cb)(int status, int result, const lv_value *value, void *ud);

/* ======================================================================= */
/* History: what a location holds (no store needed)                        */

/** Whether a generation was checked whole (lv_generation_info.whole). */
#define LV_GEN_UNCHECKED 0   /* only its manifest's header was read */
#define LV_GEN_WHOLE 1       /* every object and checksum checked */
#define LV_GEN_DAMAGED 2     /* a check failed: `problem` says which */

/** One generation (a whole backup) at a location. */
typedef struct lv_generation_info {
	int64_t generation;
	int format;              /* its set format: 2, or 1 (written before history existed) */
	int64_t created;         /* seconds since the epoch, UTC (from its manifest) */
	const char *host;        /* the host name of the writer ("" for format 1) */
	const char *machine_id;  /* the machine identity of the backed-up store, "" when it had none */
	const char *backup_id;   /* 32 hex digits, unique to this backup */
	uint64_t licenses;       /* licenses in it */
	uint64_t restricted;     /* licenses left out when it was written (no backup right) */
	uint64_t bytes;          /* its objects' size at the location; UINT64_MAX when unknown */
	int whole;               /* LV_GEN_* */
	const char *problem;     /* why it is damaged (LV_GEN_DAMAGED), else NULL */
} lv_generation_info;

#define LV_LIST_VERIFY 0x1u  /* check every generation whole (reads every pack) */

/**
 * Call cb for each generation at uri, oldest first.  Without
 * LV_LIST_VERIFY only the manifests' headers are read (not the packs); a
 * manifest that cannot be read is reported as LV_GEN_DAMAGED, except for
 * a failure that says nothing of it (LV_E_CANCELED, LV_E_NOMEM,
 * LV_E_DRIVER_ABI, LV_E_AUTH, LV_E_HOST_KEY, LV_E_CONFIG), which ends the
 * call with that error.  Strings are
 * valid during the callback; a non-zero return from cb stops and is
 * returned.  No store and no lock are needed.  A location that holds no
 * generation (for file://, also a folder that does not exist) never calls
 * cb and returns 0.  Errors (the location cannot be opened or listed):
 * lv_context_last_error.
 */
LV_EXTERN int lv_generations_list(lv_context *ctx, const char *uri, unsigned flags,
                                  int (*cb)(const lv_generation_info *g, void *ud), void *ud);

/**
 * Call cb for each license of a generation (0: the newest), in key ID
 * order, read from its manifest and pack with every checksum checked; the
 * record is valid during the callback.  A damaged generation fails with
 * LV_E_BACKUP_CORRUPT after the licenses read before the damage.
 */
LV_EXTERN int lv_generation_licenses(lv_context *ctx, const char *uri, int64_t generation,
                                     int (*cb)(const lv_license *lic, void *ud), void *ud);

#define LV_FORGET_DRY_RUN 0x1u /* say what would be removed, remove nothing */

/**
 * Prune by hand, under the location's lock, with a backup's rules: keep the
 * newest `keep` generations (keep > 0), or remove generation `generation`
 * (keep == 0).  The last generation that verifies is never removed (a
 * forget that would is refused with LV_E_INVALID_ARG saying so); each
 * generation goes manifest first, so a forget cut short leaves only whole
 * generations.  cb (may be NULL) gets each generation removed (or, with
 * LV_FORGET_DRY_RUN, that would be).  LV_E_BUSY when another run holds the
 * lock; LV_E_NOT_FOUND for a generation that is not there.
 */
LV_EXTERN int lv_generations_forget(lv_context *ctx, const char *uri, unsigned keep, int64_t generation,
                                    unsigned flags, int (*cb)(const lv_generation_info *g, void *ud),
                                    void *ud);

/** The holder of a location's lock (lv_unlock). */
typedef struct lv_lock_info {
	const char *host;        /* the holder's host name */
	const char *op;          /* "backup", "restore", "forget" */
	int64_t pid;
	int64_t since;           /* when it was taken, seconds since the epoch */
	int64_t refreshed;       /* when its holder last refreshed it */
	int here;                /* 1: the holder runs on this machine, in this PID namespace */
	int stale;               /* 1: the next run would take it over (holder gone, not refreshed for
	                            lock_stale_after, or refreshed further ahead of this clock than that) */
} lv_lock_info;

#define LV_UNLOCK_FORCE 0x1u   /* remove the lock, whoever holds it */

/**
 * Show the holder of uri's lock (cb, may be NULL) and, with
 * LV_UNLOCK_FORCE, remove the lock.  Without the flag a held lock is left
 * and the call returns LV_E_BUSY; LV_E_NOT_FOUND when there is no lock.
 * Removing a live run's lock lets a second run write beside it: only when
 * you know its holder is gone.  Any other flag bit is LV_E_INVALID_ARG.
 */
LV_EXTERN int lv_unlock(lv_context *ctx, const char *uri, unsigned flags,
                        int (*cb)(const lv_lock_info *lock, void *ud), void *ud);

/* ======================================================================= */
/* Backup-restorer (the original's WMCreateBackupRestorer)                 */

#define LV_BACKUP_OVERWRITE     0x1u  /* add a new generation where a backup is (the original's "replace") */
#define LV_RESTORE_INDIVIDUALIZE 0x2u /* allow individualizing the store */
#define LV_BACKUP_DRY_RUN       0x4u  /* change nothing: say what would be written (see lv_restorer_backup) */
#define LV_RESTORE_DRY_RUN      0x8u  /* change nothing: say what would be restored (see lv_restorer_restore) */
#define LV_BACKUP_ALLOW_SHRINK  0x10u /* back up even an empty store, or one holding fewer than half the
                                         licenses of the newest generation at the location */

#define LV_PROP_BACKUP_PATH "BackupPath"
#define LV_PROP_RESTORE_PATH "RestorePath"
/**
 * Which generation a restore or verify reads: a decimal number, "newest"
 * (also when unset), or for verify "all" (every generation, oldest first,
 * each checked whole; the run fails when any is damaged).
 */
#define LV_PROP_GENERATION "Generation"

/**
 * Create a backup-restorer on a store.  ctx and store must outlive it.
 * store may be NULL for a restorer that only verifies (backup and restore
 * then return LV_E_INVALID_ARG).
 */
LV_EXTERN int lv_restorer_new(lv_restorer **out, lv_context *ctx, lv_store *store);
/** Cancels and waits for a run in progress, then frees. */
LV_EXTERN void lv_restorer_free(lv_restorer *r);

/**
 * Properties.  Only string values are accepted (LV_E_INVALID_ARG for
 * others); names are compared case-sensitively.  While a run is in
 * progress, setting or removing is LV_E_BUSY.
 */
LV_EXTERN int lv_restorer_set_prop(lv_restorer *r, const char *name, const lv_value *value);
/** Convenience: set a string property. */
LV_EXTERN int lv_restorer_set_string(lv_restorer *r, const char *name, const char *value);
/** *value points into the object, valid until the property changes; LV_E_NOT_FOUND when unset. */
LV_EXTERN int lv_restorer_get_prop(const lv_restorer *r, const char *name, lv_value *value);
LV_EXTERN int lv_restorer_prop_count(const lv_restorer *r, size_t *count);
LV_EXTERN int lv_restorer_get_prop_at(const lv_restorer *r, size_t index, const char **name,
                                      lv_value *value);
LV_EXTERN int lv_restorer_remove_prop(lv_restorer *r, const char *name);
LV_EXTERN int lv_restorer_remove_all_props(lv_restorer *r);

/**
 * Start a backup of the store to BackupPath; returns at once.  Flags:
 * LV_BACKUP_OVERWRITE, LV_BACKUP_DRY_RUN (the location is read, never
 * written or locked; RESTRICTED_LICENSE events name the licenses that would
 * be left out; END's message says what would be written and what the
 * location holds now; it fails as the real run would with
 * LV_E_BACKUP_EXISTS or LV_E_BACKUP_SHRINK).  Returns LV_E_NO_PATH when BackupPath is unset,
 * LV_E_BUSY when a run is in progress on this object, LV_E_INVALID_ARG for
 * a NULL callback, unknown flags, or a restorer without a store; then the
 * callback is never called.
 */
LV_EXTERN int lv_restorer_backup(lv_restorer *r, unsigned flags, lv_status_cb cb, void *ud);

/**
 * Start a restore from RestorePath into the store; flags:
 * LV_RESTORE_INDIVIDUALIZE, LV_RESTORE_DRY_RUN (the backup is read whole
 * and checked, the license service decides every license (REFUSED_LICENSE
 * events) and is told the restore did not happen, so nothing is counted;
 * the store is not changed; the run ends 0 even when some licenses would be
 * refused: the events and lv_run_result.refused say which).  Errors as lv_restorer_backup (LV_E_NO_PATH
 * when RestorePath is unset), and LV_E_INVALID_ARG when the Generation
 * property is set to anything but a generation number or "newest"; then
 * too the callback is never called, and lv_restorer_last_error says
 * Generation = 'abc': expected a generation number, "newest".
 */
LV_EXTERN int lv_restorer_restore(lv_restorer *r, unsigned flags, lv_status_cb cb, void *ud);

/**
 * Start a verification of the backup at RestorePath (or BackupPath when
 * RestorePath is unset): reads everything, checks every checksum, changes
 * nothing.  Events: BEGIN, PROGRESS, END.  LV_E_INVALID_ARG at once, the
 * callback never called, when the Generation property is not a generation
 * number, "newest" or "all".
 */
LV_EXTERN int lv_restorer_verify(lv_restorer *r, lv_status_cb cb, void *ud);

/**
 * Ask the run in progress to stop; it ends with LV_E_CANCELED, and changed
 * nothing.  Any thread.  A cancel is too late once the run passed its point
 * of no return: a restore's import committed, a backup's new generation
 * published and checked (from the run's last PROGRESS event on); the run
 * then ends with its own result (0, or LV_E_RESTORE_LIMIT for a restore
 * some of whose licenses were refused, or a failure after that point).
 */
LV_EXTERN int lv_restorer_cancel(lv_restorer *r);

/**
 * Wait for the run to end; *result gets its result.  0 at once (and
 * *result 0) when no run was started, also when the last start call failed
 * (it started nothing).  Must not be called from the status callback.
 */
LV_EXTERN int lv_restorer_wait(lv_restorer *r, int *result);

/** What the last run did (lv_restorer_result), complete once it ended. */
typedef struct lv_run_result {
	int result;              /* the run's lv_error (END's result) */
	int64_t generation;      /* the generation written, restored or verified; -1 when none
	                            (a failed run, a verify of every generation) */
	uint64_t licenses;       /* licenses in the generation read (restore, verify; 0 for a
	                            verify of every generation), or in the store (backup), as
	                            far as the run got */
	uint64_t written;        /* backup: licenses written (dry run: that would be);
	                            0 when the run failed: no generation was made */
	uint64_t restored;       /* restore: licenses restored (dry run: that would be);
	                            0 when the run failed (rolled back), except
	                            LV_E_RESTORE_LIMIT: the licenses it did store */
	uint64_t refused;        /* restore: licenses the license service refused */
	uint64_t restricted;     /* backup: licenses left out (no backup right) */
	uint64_t bytes;          /* record bytes written or read */
	int64_t duration_ms;     /* from BEGIN to END */
} lv_run_result;

/**
 * The result of the last run, readable after END.  LV_E_BUSY while a run
 * is in progress; LV_E_NOT_FOUND when no run ended yet.  A start call that
 * failed does not change it (it started nothing).
 */
LV_EXTERN int lv_restorer_result(const lv_restorer *r, lv_run_result *out);

/**
 * The detailed message of the last failure: the last run's ("" when it
 * succeeded), or of a later call on this object that failed with a message
 * (a start call: LV_E_NO_PATH, LV_E_INVALID_ARG; lv_restorer_set_prop with
 * a value that is not a string).  A start that succeeds clears it.
 */
LV_EXTERN const char *lv_restorer_last_error(const lv_restorer *r);

#ifdef __cplusplus
}
#endif
#endif /* LICVAULT_LICVAULT_H */
