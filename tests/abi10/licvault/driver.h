/*
 * licvault driver ABI: what a storage driver (a shared object the core loads
 * with dlopen) implements and what the host gives it.
 *
 * A driver includes only this header.  It exports one symbol,
 * LV_DRIVER_ENTRY_SYMBOL, a function returning a const lv_driver.
 *
 * ABI RULES
 *
 *  - Versions.  LV_DRIVER_ABI_MAJOR changes only when an existing member
 *    changes meaning, type or place: the host refuses a driver of another
 *    major ABI (naming the file and both versions).  LV_DRIVER_ABI_MINOR
 *    grows when members are appended at the end of lv_driver, lv_driver_ops
 *    or lv_host; nothing else changes in a minor version.
 *
 *  - Tables only grow at their end.  Each table carries its own size
 *    (lv_driver.size, lv_driver.ops_size, lv_host.size).  The host copies a
 *    driver's table into a zeroed table of its own size: a smaller table from
 *    an older driver is accepted and its missing slots are NULL, which means
 *    "unsupported" (the host answers LV_E_UNSUPPORTED for them, or skips an
 *    optional step such as sync).  A larger table from a newer driver is
 *    accepted and the slots the host does not know are ignored.  A table
 *    smaller than its version-1 size (LV_DRIVER_MIN_SIZE, LV_DRIVER_OPS_MIN_SIZE)
 *    is refused as invalid.  Drivers likewise must check lv_host.size before
 *    using a host service added after minor 0 (LV_HOST_HAS(host, member)).
 *
 *  - Errors.  Every operation returns 0 or a negative lv_error code.  A
 *    driver may return: LV_E_NOT_FOUND, LV_E_EXISTS, LV_E_NO_SPACE, LV_E_IO,
 *    LV_E_AUTH, LV_E_HOST_KEY, LV_E_BAD_URI, LV_E_CONFIG, LV_E_CANCELED,
 *    LV_E_UNSUPPORTED, LV_E_INVALID_ARG, LV_E_NOMEM, LV_E_BACKUP_CORRUPT
 *    (for container formats such as bundle).  A code outside the public
 *    set (positive, or past the last) fails the run with LV_E_DRIVER_ABI.  Before returning an error the driver describes it
 *    with host->set_error (what failed, on what, why); it never prints,
 *    never exits, keeps no mutable globals, and never puts a secret
 *    (password, passphrase) in a message or a log line.
 *
 *  - Threads.  One instance (what open returns) is used by one thread at a
 *    time; the host never calls two operations of one instance at once.
 *    Two instances of one driver may be used from two threads at once (two
 *    runs in parallel), so a driver keeps all its state in its instance.
 *    Host services may be called from the thread of the operation only.
 *
 *  - Memory.  Whatever crosses this boundary is freed by whoever allocated
 *    it.  Strings the host passes (URIs, names, config values) are valid for
 *    the duration of the call, except config values which stay valid until
 *    the instance is closed.  Strings the driver returns through callbacks are
 *    valid for the duration of the callback.
 *
 *  - Objects.  An instance is a location holding named objects.  Names are
 *    plain file names, 1 to 255 bytes, without '/' or NUL, never "." or
 *    "..".  The core's own names match [A-Za-z0-9._-] and never start with
 *    '.' (valid on FAT and exFAT); a stacking driver may ask for other names
 *    (the bundle driver's file name).  Names starting with '.' are kept for
 *    the driver's temporaries, which list never shows.  Besides the backup
 *    set's objects (licvault-<16 hex>.pack|.manifest) the core keeps other
 *    objects at a location ("licvault.lock", "licvault-registry-*.reg"): a
 *    container driver keeps those beside its container, not in it.
 */
#ifndef LICVAULT_DRIVER_H
#define LICVAULT_DRIVER_H

#include "common.h"

#ifdef __cplusplus
extern "C" {
#endif

#define LV_DRIVER_ABI_MAJOR 1
#define LV_DRIVER_ABI_MINOR 0

/** The entry symbol every driver exports. */
#define LV_DRIVER_ENTRY_SYMBOL "lv_driver_entry"

/* ---------------------------------------------------------------------- */
/* The host side                                                           */

/** Opaque per-instance host context: identifies the run and the location. */
typedef struct lv_host_ctx lv_host_ctx;

/** A location opened through the host (for stacking drivers). */
typedef struct lv_location lv_location;

struct lv_driver_ops;

/** One entry of lv_host.list and lv_driver_ops.list callbacks. */
typedef struct lv_object_info {
	const char *name;      /* object name */
	uint64_t size;         /* size in bytes, UINT64_MAX when unknown */
	int64_t mtime;         /* seconds since the epoch, 0 when unknown */
} lv_object_info;

/** Callback of list: return 0 to go on, non-zero to stop (returned by list). */
typedef int (*lv_list_cb)(const lv_object_info *info, void *ud);

/** Flags of open. */
#define LV_OPEN_READ   0x1u   /* the run will read (restore, verify) */
#define LV_OPEN_WRITE  0x2u   /* the run will write (backup); create the location */

/** Flags of commit. */
#define LV_COMMIT_REPLACE 0x1u /* replace an existing object of that name; the old
                                  one must stay readable until the new one is in
                                  place.  Without it an existing name is LV_E_EXISTS. */

/**
 * Services the host gives a driver.  const, valid until the instance is
 * closed.  Every function takes the lv_host_ctx given to open.
 */
typedef struct lv_host {
	uint32_t size;          /* sizeof(lv_host) of the host: check before using newer slots */
	uint32_t abi_minor;     /* LV_DRIVER_ABI_MINOR of the host */

	/** Log a line (never a secret).  level is an lv_log_level. */
	void (*log)(lv_host_ctx *h, int level, const char *fmt, ...) LV_PRINTF(3, 4);

	/**
	 * The value of a key of this driver's config section, the location's
	 * override first ([location "NAME"] key), then [driver "NAME"], then NULL.
	 * A key given several times has several values: index 0, 1, ...
	 * Values are expanded (~, ${VAR}); they stay valid until close.
	 */
	const char *(*config_get)(lv_host_ctx *h, const char *key, unsigned index);

	/** Non-zero when the run was canceled: stop and return LV_E_CANCELED. */
	int (*canceled)(lv_host_ctx *h);

	/** Report bytes moved (for progress); may be called often. */
	void (*progress)(lv_host_ctx *h, uint64_t bytes);

	/**
	 * Describe the error about to be returned; returns code, so a driver
	 * writes `return host->set_error(h, LV_E_IO, "open %s: %s", p, strerror(e));`.
	 * The message says what failed, on what, and why.
	 */
	int (*set_error)(lv_host_ctx *h, int code, const char *fmt, ...) LV_PRINTF(3, 4);

	/**
	 * Open another URI through the registry (any driver, a named location,
	 * another stacked URI) with LV_OPEN_* flags.  *out gets a location whose
	 * operations are called through the functions below.  Errors of the
	 * inner driver are already described (set_error) when this returns.
	 */
	int (*open_uri)(lv_host_ctx *h, const char *uri, unsigned flags, lv_location **out);
	/** The inner location's operations table (host-normalized: all slots exist, NULL = unsupported). */
	const struct lv_driver_ops *(*location_ops)(lv_location *loc);
	/** The inner location's instance, to pass to its operations. */
	void *(*location_instance)(lv_location *loc);
	/** Close a location from open_uri. NULL is a no-op. */
	void (*location_close)(lv_location *loc);
} lv_host;

/** True when the host table has the member (added in a later minor). */
#define LV_HOST_HAS(host, member) \
	((host)->size >= offsetof(lv_host, member) + sizeof((host)->member) && (host)->member)

/* ---------------------------------------------------------------------- */
/* The driver side                                                         */

/** A candidate location (lv_driver_ops.enumerate), e.g. a plugged-in stick. */
typedef struct lv_candidate {
	const char *uri;        /* a URI that would open it ("removable://STICK/") */
	const char *label;      /* human name (volume label), or NULL */
	const char *id;         /* stable id (volume UUID), or NULL */
	const char *fstype;     /* filesystem type, or NULL */
	const char *where;      /* where it is now (mount point), or NULL */
	uint64_t free_bytes;    /* free space, UINT64_MAX when unknown */
	uint64_t total_bytes;   /* size, UINT64_MAX when unknown */
} lv_candidate;

typedef int (*lv_candidate_cb)(const lv_candidate *c, void *ud);

/** Per-object writer and reader handles are the driver's own. */
typedef struct lv_writer lv_writer;
typedef struct lv_reader lv_reader;

/**
 * The operations.  `inst` is what open returned.  Every slot may be NULL
 * (unsupported) except open, close, write_begin/write/commit/abort,
 * read_open/read/read_close and list.
 */
typedef struct lv_driver_ops {
	/* ---- valid since ABI 1.0 ---- */

	/**
	 * Open the location `uri` (the whole URI, scheme included) for a run.
	 * Do not write anything yet, but with LV_OPEN_WRITE check that writing
	 * is possible (read-only, not mounted...).  Connect, authenticate and
	 * check host keys here.  *inst gets the driver's instance.
	 */
	int (*open)(const lv_host *host, lv_host_ctx *h, const char *uri,
	            unsigned flags, void **inst);
	/** Release the instance; abort writers and close readers left open. */
	void (*close)(void *inst);

	/**
	 * Begin writing object `name`.  Nothing is visible under `name` until
	 * commit: write to a temporary.  Several writers may be open at once.
	 */
	int (*write_begin)(void *inst, const char *name, uint64_t size_hint, lv_writer **w);
	/** Append len bytes.  All or error: a short write is an error. */
	int (*write)(lv_writer *w, const void *buf, size_t len);
	/**
	 * Make the object durable and publish it under its name, atomically:
	 * after a crash the name holds nothing or the whole object.  Without
	 * LV_COMMIT_REPLACE an existing name is LV_E_EXISTS (and the temporary
	 * is removed).  Frees w, whatever the result.
	 */
	int (*commit)(lv_writer *w, unsigned flags);
	/** Drop the object: remove the temporary, publish nothing.  Frees w. */
	void (*abort)(lv_writer *w);

	/** Open object `name` for reading; LV_E_NOT_FOUND when absent. */
	int (*read_open)(void *inst, const char *name, lv_reader **r);
	/** Read up to cap bytes into buf; *n = 0 at the end. */
	int (*read)(lv_reader *r, void *buf, size_t cap, size_t *n);
	/** Close a reader.  Frees r. */
	void (*read_close)(lv_reader *r);

	/** Call cb for each published object (never temporaries), any order. */
	int (*list)(void *inst, lv_list_cb cb, void *ud);
	/** Remove a published object; LV_E_NOT_FOUND when absent. */
	int (*remove)(void *inst, const char *name);
	/** Size of an object; LV_E_NOT_FOUND when absent.  May be NULL. */
	int (*stat)(void *inst, const char *name, lv_object_info *info);
	/**
	 * Make everything committed so far durable (directory fsync, syncfs,
	 * fsync@openssh.com).  Called once at the end of a successful backup;
	 * a driver that publishes in one piece (bundle) publishes here.  May be NULL.
	 */
	int (*sync)(void *inst);
	/** Free and total bytes at the location; may be NULL. */
	int (*space)(void *inst, uint64_t *free_bytes, uint64_t *total_bytes);
	/**
	 * Remove temporaries left by killed runs (older than a run could be or
	 * proven dead).  May be NULL.
	 */
	int (*cleanup)(void *inst);
	/**
	 * List candidate locations this driver could serve now (no instance).
	 * May be NULL.
	 */
	int (*enumerate)(const lv_host *host, lv_host_ctx *h, lv_candidate_cb cb, void *ud);
} lv_driver_ops;

/** Types of declared config keys. */
typedef enum lv_key_type {
	LV_KEY_STRING = 0,
	LV_KEY_PATH = 1,     /* ~ and ${VAR} expanded */
	LV_KEY_BOOL = 2,     /* yes/no/true/false/on/off/1/0 */
	LV_KEY_INT = 3,      /* range-checked against min/max */
	LV_KEY_ENUM = 4,     /* one of the '|'-separated words in `choices` */
	LV_KEY_LIST = 5      /* may be given several times */
} lv_key_type;

#define LV_KEY_SECRET 0x1u  /* masked in `config show` (a path to a secret is not one) */

/** A config key a driver declares, so the host can check its section. */
typedef struct lv_driver_key {
	const char *name;
	int type;                /* lv_key_type */
	const char *def;         /* default, as text, or NULL */
	const char *help;        /* one line */
	int64_t min, max;        /* LV_KEY_INT range */
	const char *choices;     /* LV_KEY_ENUM: "yes|accept-new" */
	unsigned flags;          /* LV_KEY_* */
} lv_driver_key;

/**
 * The descriptor the entry symbol returns.  const, static, valid while the
 * shared object is loaded.
 */
typedef struct lv_driver {
	uint32_t abi_major;              /* LV_DRIVER_ABI_MAJOR */
	uint32_t abi_minor;              /* LV_DRIVER_ABI_MINOR */
	uint32_t size;                   /* sizeof(lv_driver) */
	uint32_t ops_size;               /* sizeof(lv_driver_ops) */
	const char *name;                /* "file"; [a-z0-9_.-], names its config section */
	const char *version;             /* the driver's own version, "1.0.0" */
	const char *const *schemes;      /* NULL-terminated: {"file", NULL}; "bundle"
	                                    also serves "bundle+INNER" URIs */
	const lv_driver_ops *ops;
	const lv_driver_key *keys;       /* declared keys, ended by {NULL}; NULL = none declared */
} lv_driver;

/** Sizes of the first (1.0) versions: anything smaller is invalid. */
#define LV_DRIVER_MIN_SIZE (offsetof(lv_driver, keys) + sizeof(const lv_driver_key *))
#define LV_DRIVER_OPS_MIN_SIZE (offsetof(lv_driver_ops, enumerate) + sizeof(void *))

/** Initializer for the version fields. */
#define LV_DRIVER_INIT_HEADER \
	LV_DRIVER_ABI_MAJOR, LV_DRIVER_ABI_MINOR, sizeof(lv_driver), sizeof(lv_driver_ops)

typedef const lv_driver *(*lv_driver_entry_fn)(void);

/** Declare the entry function: `LV_DRIVER_ENTRY { return &my_driver; }`. */
#if defined(__GNUC__)
#  define LV_DRIVER_ENTRY \
	__attribute__((visibility("default"))) const lv_driver *lv_driver_entry(void); \
	__attribute__((visibility("default"))) const lv_driver *lv_driver_entry(void)
#else
#  define LV_DRIVER_ENTRY const lv_driver *lv_driver_entry(void)
#endif

#ifdef __cplusplus
}
#endif
#endif /* LICVAULT_DRIVER_H */
