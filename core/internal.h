/*
 * licvault core: internal declarations shared by the core's files.
 */
#ifndef LV_CORE_INTERNAL_H
#define LV_CORE_INTERNAL_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>

#include "licvault/licvault.h"
#include "licvault/driver.h"

#define LV_ERRMSG_MAX 1024

/* ---- util.c ---- */

/* A growable byte buffer. */
typedef struct lv_buf {
	unsigned char *data;
	size_t len, cap;
} lv_buf;

int lv__buf_grow(lv_buf *b, size_t extra);
int lv__buf_put(lv_buf *b, const void *p, size_t n);
int lv__buf_printf(lv_buf *b, const char *fmt, ...) LV_PRINTF(2, 3);
void lv__buf_free(lv_buf *b);

char *lv__asprintf(const char *fmt, ...) LV_PRINTF(1, 2);
/* Write fmt into a fixed error buffer of LV_ERRMSG_MAX bytes. */
void lv__errf(char *buf, const char *fmt, ...) LV_PRINTF(2, 3);
void lv__verrf(char *buf, const char *fmt, va_list ap);
/* Write exactly n random bytes (getrandom). */
int lv__random(void *p, size_t n);
void lv__hex(char *out, const unsigned char *in, size_t n);
/* Expand ~ and ${VAR} in a path value. NULL on error (unset var: *err says which). */
char *lv__expand(const char *in, char *err, size_t errlen);
/* Make a directory and its parents (mode 0700 for new ones). */
int lv__mkdirs(const char *path, char *err, size_t errlen);
/* Little-endian encoding. */
void lv__put_u16(unsigned char *p, uint16_t v);
void lv__put_u32(unsigned char *p, uint32_t v);
void lv__put_u64(unsigned char *p, uint64_t v);
uint16_t lv__get_u16(const unsigned char *p);
uint32_t lv__get_u32(const unsigned char *p);
uint64_t lv__get_u64(const unsigned char *p);

/* ---- config.c ---- */

typedef struct lv_config lv_config;
typedef struct lv_conf_entry {
	char *section;   /* "licvault", "driver sftp", "location nas", "service" */
	char *key;
	char *value;     /* expanded */
	int line;
} lv_conf_entry;

int lv__config_load(lv_config **out, const char *path, char *err);
void lv__config_free(lv_config *c);
const char *lv__config_get(const lv_config *c, const char *section, const char *key, unsigned idx);
const lv_conf_entry *lv__config_entry(const lv_config *c, const char *section, const char *key,
                                      unsigned idx);
size_t lv__config_count(const lv_config *c);
const lv_conf_entry *lv__config_at(const lv_config *c, size_t i);
int lv__config_has_section(const lv_config *c, const char *section);
int lv__config_section_line(const lv_config *c, const char *section);
const char *lv__config_file(const lv_config *c);
/* Parse a boolean; -1 when not one. */
int lv__parse_bool(const char *v);

/* ---- uri.c ---- */

/* The scheme of a URI ("file", "bundle+file", "nas"), or "" for a plain path. */
int lv__uri_scheme(const char *uri, char *scheme, size_t cap);
/* Is it a syntactically valid URI by RFC 3986 (uriparser)? */
int lv__uri_valid(const char *uri, char *why, size_t cap);

/* ---- loader.c ---- */

typedef struct lv_loaded lv_loaded;  /* a loaded driver */

typedef struct lv_run lv_run;        /* a run: cancellation, progress, errors */

/* An open location: a driver instance bound to a run's host context. */
struct lv_location {
	lv_loaded *drv;
	const lv_driver_ops *ops;   /* normalized full table */
	void *inst;
	lv_host_ctx *hctx;
	char *uri;                  /* resolved URI */
	lv_run *own_run;            /* opened by lv_location_open: the run is the location's own */
};

int lv__drivers_load(lv_context *ctx);
/* Resolve uri (named locations, plain paths) and open it for a run. */
int lv__location_open(lv_context *ctx, lv_run *run, const char *uri, unsigned flags,
                      lv_location **out);
void lv__location_close(lv_location *loc);
const char *lv__loaded_name(const lv_loaded *d);

/* ---- the context ---- */

struct lv_context {
	pthread_mutex_t lock;
	lv_config *config;
	char *config_path;
	char errmsg[LV_ERRMSG_MAX];
	int log_level;
	lv_log_cb log_cb;
	void *log_ud;
	/* driver registry */
	int drivers_loaded;
	char **extra_dirs; size_t n_extra_dirs;
	struct lv_loaded **drivers; size_t n_drivers;      /* usable, in search order */
	lv_driver_info *infos; size_t n_infos;             /* everything considered */
	char **search_dirs; char **search_origin; size_t n_search;
	/* license service */
	const lv_service *service;
	void *service_ud;
};

void lv__log(lv_context *ctx, int level, const char *fmt, ...) LV_PRINTF(3, 4);
void lv__vlog(lv_context *ctx, int level, const char *fmt, va_list ap);
int lv__ctx_error(lv_context *ctx, int code, const char *fmt, ...) LV_PRINTF(3, 4);

/* ---- a run ---- */

struct lv_run {
	lv_context *ctx;
	atomic_int canceled;
	char errmsg[LV_ERRMSG_MAX];
	int errcode;
	/* progress */
	lv_status_cb cb;
	void *ud;
	uint64_t done, total, bytes;
	uint64_t last_emit_bytes;
	struct timespec last_emit;
	/* the location's name for config lookup */
	const char *location_name;
	char lock_token[33];     /* the token of the location lock this run holds */
};

/* Set the run's error message (the last call wins) and return code. */
int lv__run_error(lv_run *run, int code, const char *fmt, ...) LV_PRINTF(3, 4);
int lv__run_verror(lv_run *run, int code, const char *fmt, va_list ap);
void lv__run_emit(lv_run *run, int status, int result, const lv_value *v);
void lv__run_progress(lv_run *run, int force);
int lv__run_canceled(lv_run *run);

/* ---- store.c ---- */

struct lv_store {
	lv_context *ctx;
	const lv_store_ops *ops;
	void *impl;
	char errmsg[LV_ERRMSG_MAX];
	int is_sqlite;
	int in_txn;          /* inside lv_store_transaction */
	char txn_machine[64];
};

int lv__sqlite_store_open(lv_context *ctx, const char *path, unsigned flags, void **impl,
                          char *err);
extern const lv_store_ops lv__sqlite_store_ops;
int lv__store_error(lv_store *s, int code, const char *fmt, ...) LV_PRINTF(3, 4);
const char *lv__sqlite_store_errmsg(void *impl);
/* Host identity: /etc/machine-id (or $LICVAULT_HOST_ID for tests). */
int lv__host_id(char *out, size_t cap);
const char *lv__sqlite_store_path(void *impl);
/*
 * A store handle for a run on a worker thread: for the SQLite store, a
 * connection of its own to the same file (so the application's connection
 * keeps working and the backup reads one snapshot); for a custom store, the
 * store itself.  Release with lv__store_run_release.
 */
int lv__store_for_run(lv_store *s, lv_store **out, char *err);
void lv__store_run_release(lv_store *orig, lv_store *run);
/* Identity helpers on a store. */
int lv__identity_new(lv_store *s, char *machine_id, size_t cap);

/* ---- license.c ---- */

size_t lv__license_size(const lv_license *lic);
int lv__kid_valid(const char *kid, size_t len);

/* ---- format.c: the backup set ---- */

#include "format.h"

/* ---- backup.c / restore.c: the set at a location ---- */

/* Sanitize a driver's return code; set a generic message when it gave none. */
int lv__drv_rc(lv_run *run, lv_location *loc, int rc, const char *what, const char *name);

typedef struct lv_set_scan {
	uint64_t newest_manifest;   /* generation, 0 = none */
	uint64_t newest_any;        /* highest generation of any object */
	int has_manifest;
	int n_objects;              /* licvault objects seen */
	char **old;                 /* every licvault object name, to clean up */
	size_t n_old;
} lv_set_scan;

int lv__set_scan(lv_run *run, lv_location *loc, lv_set_scan *out);

/*
 * The location's lock ("licvault.lock": host, pid, process start, operation),
 * taken with a no-replace commit.  A lock whose process is gone (same host)
 * is stale: it is said so in the log and taken over.  Another live holder
 * is BUSY naming it.  A driver that cannot hold it (read-only location)
 * gets no lock: *held stays 0.
 */
#define LV_LOCK_NAME "licvault.lock"
int lv__lock_take(lv_run *run, lv_location *loc, const char *op, int *held);
void lv__lock_release(lv_run *run, lv_location *loc, int held);
void lv__set_scan_free(lv_set_scan *s);

int lv__do_backup(lv_run *run, lv_store *store, const char *uri, unsigned flags);
int lv__do_restore(lv_run *run, lv_store *store, const char *uri, unsigned flags);
int lv__do_verify(lv_run *run, const char *uri);
int lv__store_set_identity(lv_store *s, const char *id);

/* ---- service.c ---- */

extern const lv_service lv__builtin_service;
struct lv_service_call {
	lv_run *run;
	lv_store *store;
	lv_location *loc;
	const char *machine_id;
	const char *backup_machine_id;
	const char *backup_id;
	uint64_t count;
	unsigned flags;
};

#endif
