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
 *    or lv_host.  Minor 1 also made remove required: an ABI 1.0 driver
 *    loads only if it has remove (see "Required operations" below).
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
 *    and LV_E_BACKUP_EXISTS (for container formats such as bundle: a file
 *    that is not one of theirs stands where they would write).  A code
 *    outside the public set (positive, or past the last) returned by an
 *    operation fails the run with LV_E_DRIVER_ABI; returned by open, or
 *    passed to set_error, it counts as LV_E_IO.
 *    Before returning an error the driver describes it with
 *    host->set_error (what failed, on what, why); it never prints, never
 *    exits, keeps no mutable globals, and never puts a secret (password,
 *    passphrase) in a message or a log line.  The first error wins, as in
 *    curl: once a failure is described, what cleanup describes after it
 *    (closing a handle on a dead connection, removing a temporary) does not
 *    replace it, so cleanup code needs no guard.  A failure the driver
 *    handles itself is taken back with host->error_save/error_restore
 *    (ABI 1.1).
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
 *    set's objects (licvault-g<16 hex>.pack|.manifest, set format 2; the
 *    licvault-<16 hex>.pack|.manifest of format 1 are still read, never
 *    written) the core keeps other objects at a location ("licvault.lock",
 *    "licvault-registry-*.reg"): a container driver keeps those beside its
 *    container, not in it.
 *
 *  - URIs.  open receives the URI after the host resolved it: a named
 *    location "NAME:" becomes the `uri` of [location "NAME"], and
 *    "NAME:sub/dir" that URI with "/sub/dir" appended (trailing slashes of
 *    the base dropped; "sub/dir" may not climb out with "..", checked after
 *    percent-decoding); a plain path ("/abs", "~/x", "rel/x") is passed as
 *    written to the driver serving "file".  A stacking URI "A+INNER" goes
 *    to the driver serving scheme A whole; INNER (everything after the
 *    first '+', itself a URI, a plain path or a named location) is what
 *    the driver opens with host->open_uri (a driver that does not stack
 *    refuses a URI whose uri_parse gives an `inner` with LV_E_BAD_URI,
 *    described).  The scheme is matched without
 *    regard to case.  Nothing else is changed: percent-escapes, "localhost",
 *    ports and trailing slashes arrive as written.  host->uri_parse splits
 *    and decodes (RFC 3986 by uriparser): drivers do not parse URIs by hand.
 *
 *  - Required operations: open, close, write_begin, write, commit, abort,
 *    read_open, read, read_close, list and remove (the core deletes its
 *    lock and older generations with it; since ABI 1.1 the loader refuses
 *    a driver without it, naming the file and the operation).  The others
 *    may be NULL.
 */
#ifndef LICVAULT_DRIVER_H
#define LICVAULT_DRIVER_H

#include "common.h"

#ifdef __cplusplus
extern "C" {
#endif

#define LV_DRIVER_ABI_MAJOR 1
#define LV_DRIVER_ABI_MINOR 1

/** The entry symbol every driver exports. */
#define LV_DRIVER_ENTRY_SYMBOL "lv_driver_entry"

/* ---------------------------------------------------------------------- */
/* The host side                                                           */

/** Opaque per-instance host context: identifies the run and the location. */
typedef struct lv_host_ctx lv_host_ctx;

/** A location opened through the host (for stacking drivers). */
typedef struct lv_location lv_location;

struct lv_driver_ops;

/**
 * A config value, typed by the key's declaration in lv_driver.keys
 * (lv_host.config_value, ABI 1.1).
 */
typedef struct lv_config_value {
	int set;               /* 1: set in the config file ([location] override or [driver]
	                          section); 0: the declared default, or nothing */
	const char *text;      /* the value: as written (LV_KEY_PATH: ~ and ${VAR} expanded;
	                          LV_KEY_ENUM: the declared spelling of the choice); the
	                          default's text when unset; NULL when neither */
	int64_t number;        /* LV_KEY_BOOL: 0 or 1; LV_KEY_INT: the number; LV_KEY_ENUM:
	                          the index of the choice in `choices`; 0 otherwise */
	const char *where;     /* "FILE:LINE" of the value, or "default", for messages */
} lv_config_value;

/**
 * A URI split by RFC 3986 (uriparser) and percent-decoded
 * (lv_host.uri_parse, ABI 1.1).  Strings are NUL-terminated and owned by
 * the lv_uri (lv_host.uri_free).  See "URIS" in the opening comment.
 */
typedef struct lv_uri {
	const char *scheme;    /* lower case ("sftp", "bundle"); "" for a plain path */
	const char *inner;     /* for a stacking URI "A+INNER": INNER as given (a URI or a path); else NULL */
	const char *user;      /* decoded; NULL when absent */
	const char *password;  /* decoded; NULL when absent.  Never print or log it. */
	const char *host;      /* decoded, as written (not lower-cased: a volume label keeps its case);
	                          an IPv6 literal without brackets; NULL when absent */
	int port;              /* 1..65535; 0 when absent */
	const char *path;      /* decoded; "" when absent, never NULL; a plain path as given */
	const char *query;     /* as written (not decoded); NULL when absent */
} lv_uri;

/** Flags of lv_host.ask_secret. */
#ifndef LV_SECRET_CONFIRM
#define LV_SECRET_CONFIRM 0x1u   /* a new secret: ask twice, they must match */
#endif

/** Lines a driver command prints (lv_driver_ops.control). */
typedef void (*lv_emit_cb)(const char *line, void *ud);

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

	/* ---- valid since ABI 1.1: check with LV_HOST_HAS(host, member) ---- */

	/**
	 * Leave a note for the run's END on success ("everything is flushed:
	 * safe to remove the volume").  The last note wins; it is not an error.
	 * (ABI 1.0 drivers passed code 0 to set_error for this; still accepted.)
	 */
	void (*note)(lv_host_ctx *h, const char *fmt, ...) LV_PRINTF(2, 3);

	/**
	 * The first error wins (see ERRORS above): a failure a driver handles
	 * itself, after it or an inner location described it (a probe for an
	 * object that may be absent, an inner location's NOT_FOUND a stacking
	 * driver answers for), must be taken back, or it would stand as the
	 * run's error:
	 *
	 *     int saved = host->error_save(h);
	 *     rc = iops->read_open(iinst, name, &r);
	 *     if (rc == LV_E_NOT_FOUND)
	 *         host->error_restore(h, saved);   // handled: forget it
	 *
	 * error_restore forgets what was described since error_save; a failure
	 * described before error_save stays.
	 */
	int (*error_save)(lv_host_ctx *h);
	void (*error_restore)(lv_host_ctx *h, int saved);

	/**
	 * The typed value of `key`, which the driver declared in lv_driver.keys:
	 * the location's override first, then [driver "NAME"], then the declared
	 * default (out->set tells which).  One parser for every driver: booleans
	 * are yes/no, true/false, on/off, 1/0; integers are decimal within
	 * min..max; enum values are one of `choices` (both matched without regard
	 * to ASCII case).  Returns 0; LV_E_CONFIG (described: file, line, key,
	 * what was expected) when the value does not parse; LV_E_INVALID_ARG
	 * when the driver declared no such key.  Strings stay valid until close.
	 */
	int (*config_value)(lv_host_ctx *h, const char *key, lv_config_value *out);

	/**
	 * Split and percent-decode a URI (see URIS above).  LV_E_BAD_URI,
	 * described, when it is not one, when a decoded part holds a NUL byte,
	 * or when it has a fragment ('#...': no location has one).  Free *out
	 * with uri_free (NULL is a no-op).
	 */
	int (*uri_parse)(lv_host_ctx *h, const char *uri, lv_uri **out);
	void (*uri_free)(lv_uri *u);

	/** 1 when name is a valid object name (see OBJECTS above), else 0. */
	int (*name_valid)(lv_host_ctx *h, const char *name);

	/**
	 * Track an open writer or reader: when the instance is closed with
	 * handles still tracked, the host calls release(handle) for each (newest
	 * first) before the driver's close, so a driver's close never leaks a
	 * temporary.  release is the driver's own abort or read_close; those
	 * call untrack, which is a no-op for a handle not tracked.  track
	 * returns 0, LV_E_INVALID_ARG (a NULL handle or release) or LV_E_NOMEM
	 * (described); on an error the handle is not tracked: free it yourself
	 * and return the code (as the skeleton's sk_write_begin does).
	 */
	int (*track)(lv_host_ctx *h, void *handle, void (*release)(void *handle));
	void (*untrack)(lv_host_ctx *h, void *handle);

	/**
	 * Ask the application's user for a secret (a passphrase), through the
	 * function the application gave (lv_context_set_secret_cb; the CLI
	 * prompts on its terminal with echo off).  prompt names what is asked
	 * for and where ("passphrase for crypt+sftp://nas/lic").  The secret is
	 * written to buf (cap bytes, NUL-terminated; the driver's own memory, so
	 * it can be locked and wiped) and *len gets its length.  flags:
	 * LV_SECRET_CONFIRM.  LV_E_UNSUPPORTED, not described (the driver says
	 * which source is missing), when the application gave no way to ask;
	 * LV_E_CANCELED when the user declined.  Never log the secret.
	 */
	int (*ask_secret)(lv_host_ctx *h, const char *prompt, unsigned flags, char *buf, size_t cap,
	                  size_t *len);

	/**
	 * 1 when writing over (or removing) the file (st_dev, st_ino) would
	 * destroy what the run reads or writes: the license store itself and
	 * its -wal and -journal files.  Drivers that write local files check
	 * the file a commit would replace, and refuse with LV_E_INVALID_ARG.
	 */
	int (*protected_file)(lv_host_ctx *h, uint64_t dev, uint64_t ino);
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
 * read_open/read/read_close, list and remove.
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
	/**
	 * Release the instance; abort writers and close readers left open.
	 * (Since ABI 1.1 the host first releases the handles the driver tracks
	 * with host->track, then calls close.)
	 */
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
	 * Put right what killed runs left: remove the driver's temporaries,
	 * restore or remove objects it set aside, abort unfinished uploads.
	 * Since ABI 1.1 the core calls it only while it holds the location's
	 * lock (right after taking it), so whatever such a run left is dead
	 * (ABI 1.0 drivers removed only temporaries old enough), except a
	 * temporary of "licvault.lock" another run is writing at that moment
	 * to try for the lock (removed, that run tries again; the local
	 * drivers hold an flock on each temporary they write and leave a
	 * locked one).  Returns how
	 * many objects it put right (>= 0; 0 from an ABI 1.0 driver), or a
	 * negative error (logged by the core, never fatal).  May be NULL.
	 */
	int (*cleanup)(void *inst);
	/**
	 * List candidate locations this driver could serve now (no instance).
	 * May be NULL.
	 */
	int (*enumerate)(const lv_host *host, lv_host_ctx *h, lv_candidate_cb cb, void *ud);

	/* ---- valid since ABI 1.1 ---- */

	/**
	 * A command of the driver's own (as SQLite's xFileControl): `licvault
	 * DRIVER VERB URI [ARGS...]` runs it on the layer of the location's
	 * stack that this driver serves (lv_location_control).  verb is one of
	 * lv_driver.commands; args are the command's arguments.  Output lines
	 * go through emit (never a secret unless the command exists to show one,
	 * as a key export).  LV_E_UNSUPPORTED for an unknown verb.  May be NULL.
	 */
	int (*control)(void *inst, const char *verb, const char *const *args, size_t nargs,
	               lv_emit_cb emit, void *ud);
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

/** A driver command (lv_driver_ops.control), for `licvault DRIVER VERB`, help and completion. */
typedef struct lv_driver_command {
	const char *verb;        /* "init", "add-key": [a-z0-9-] */
	const char *args;        /* the arguments after the URI, for usage lines ("[NAME]"), or "" */
	const char *help;        /* one line */
	unsigned flags;          /* LV_COMMAND_* */
} lv_driver_command;

#define LV_COMMAND_WRITE 0x1u  /* opens the location with LV_OPEN_WRITE (and takes its lock) */

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

	/* ---- valid since ABI 1.1 ---- */
	const struct lv_driver_command *commands; /* the verbs of control, ended by {NULL}; or NULL */
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
