/*
 * run: the state of one backup, restore or verify run (and of a location
 * opened by a tool): its status events, its cancellation, its progress,
 * its first error and its success note.  Above context.
 *
 * Threads: a run is driven by one thread (the restorer's worker); only
 * `canceled` is written by other threads.
 */
#ifndef LV_CORE_RUN_H
#define LV_CORE_RUN_H

#include <stdatomic.h>
#include <time.h>

#include "context.h"
#include "store.h"

typedef struct lv_run {
	lv_context *ctx;
	atomic_int canceled;
	int committed;            /* past its point of no return: a cancel no longer changes its result */
	lv_err err;               /* the first failure (error.h) */
	char note[LV_ERRMSG_MAX]; /* a success note for END (a driver's, or verify's) */
	/* events and progress */
	lv_status_cb cb;
	void *ud;
	uint64_t done, total, bytes;
	struct timespec last_emit;
	char lock_token[33];      /* the token of the location lock this run holds */
	struct lv_location *lock_loc; /* where it holds it (lock.c), NULL when none */
	struct timespec lock_refreshed; /* when it last refreshed it (monotonic) */
	lv_run_result result;     /* what the run did (lv_restorer_result) */
	uint64_t generation;      /* restore, verify: the generation to read (0: the newest) */
	int all_generations;      /* verify: every generation */
	/* files no driver may write over: the store's (lv_host.protected_file) */
	struct { uint64_t dev, ino; } protected[4];
	size_t n_protected;
} lv_run;

/* Protect the file at path (when it exists) for the rest of the run. */
void lv__run_protect(lv_run *run, const char *path);
/* Protect the store's files (its database, -wal and -journal). */
void lv__run_protect_store(lv_run *run, lv_store *store);

/* Start a run (zeroed) on ctx, reporting to cb. */
void lv__run_init(lv_run *run, lv_context *ctx, lv_status_cb cb, void *ud);

/* Record a failure: the first one wins (error.h); returns code. */
int lv__run_error(lv_run *run, int code, const char *fmt, ...) LV_PRINTF(3, 4);
int lv__run_verror(lv_run *run, int code, const char *fmt, va_list ap);
/* The recorded failure's code, 0 when none. */
int lv__run_failed(const lv_run *run);
/* A note for END on success ("safe to remove the volume"); the last one wins. */
void lv__run_note(lv_run *run, const char *fmt, ...) LV_PRINTF(2, 3);
void lv__run_vnote(lv_run *run, const char *fmt, va_list ap);

void lv__run_emit(lv_run *run, int status, int result, const lv_value *v);
/* A PROGRESS event, at most every 200 ms unless force. */
void lv__run_progress(lv_run *run, int force);
int lv__run_canceled(lv_run *run);

#endif
