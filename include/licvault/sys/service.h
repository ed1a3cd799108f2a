/*
 * licvault/sys/service.h: an application's own license service (restore rules).
 */
#ifndef LICVAULT_SYS_SERVICE_H
#define LICVAULT_SYS_SERVICE_H

#include "../licvault.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ======================================================================= */
/* License service (restore)                                               */

/** Decision for one license. */
typedef enum lv_decision {
	LV_DECIDE_KEEP = 0,      /* restore as backed up (same machine) */
	LV_DECIDE_REBIND = 1,    /* restore bound to this machine */
	LV_DECIDE_REFUSE = 2     /* do not restore (over the limit) */
} lv_decision;

typedef struct lv_service_call lv_service_call;

/**
 * A license service: decides a restore.  The core sends CONNECTING, calls
 * begin, calls decide for each license of the backup in key ID order, sends
 * DISCONNECTING, imports the licenses into an open store transaction while
 * checking every record, and then calls end(commit = 1): the service records
 * its decision (a restore that failed is never counted), and anything it
 * writes to the store joins the import's transaction.  The store transaction
 * commits after end returns 0.  On any failure before that, end(commit = 0)
 * is called instead (also after a failed begin, when it set *session).  Any
 * error from begin, decide or end ends the run with that error and the store
 * unchanged.  version = LV_SERVICE_VERSION.
 */
#define LV_SERVICE_VERSION 1
typedef struct lv_service {
	unsigned version;
	int (*begin)(void *ud, lv_service_call *call, void **session);
	int (*decide)(void *session, lv_service_call *call, const char *kid, int *decision);
	/** commit = 1: record the restore; 0: the run failed, undo what begin/decide prepared */
	int (*end)(void *session, lv_service_call *call, int commit);
	void (*free)(void *ud);
} lv_service;

/** What a service may read about the restore it decides. */
LV_EXTERN const char *lv_call_machine_id(const lv_service_call *call);      /* this store's */
LV_EXTERN const char *lv_call_backup_machine_id(const lv_service_call *call); /* who backed it up */
LV_EXTERN const char *lv_call_backup_id(const lv_service_call *call);       /* the backup set's id */
LV_EXTERN const char *lv_call_location(const lv_service_call *call);        /* URI, for messages */
LV_EXTERN uint64_t lv_call_license_count(const lv_service_call *call);
LV_EXTERN unsigned lv_call_flags(const lv_service_call *call);
LV_EXTERN lv_context *lv_call_context(const lv_service_call *call);
LV_EXTERN lv_store *lv_call_store(const lv_service_call *call);
/** Set the run's detailed message; returns code. */
LV_EXTERN int lv_call_set_error(lv_service_call *call, int code, const char *fmt, ...) LV_PRINTF(3, 4);
/** Log through the context. */
LV_EXTERN void lv_call_log(lv_service_call *call, int level, const char *fmt, ...) LV_PRINTF(3, 4);
/**
 * The restore location, to keep a registry there: read a whole small
 * object (*buf malloc'd, LV_E_NOT_FOUND when absent) or write one
 * atomically under a new name (never replacing: LV_E_EXISTS when the name
 * is taken, so write generations and remove the older one).  Objects are
 * capped at 64 MiB.
 */
LV_EXTERN int lv_call_read_object(lv_service_call *call, const char *name, char **buf,
                                  size_t *len);
LV_EXTERN int lv_call_write_object(lv_service_call *call, const char *name, const void *buf,
                                   size_t len);
/** List object names at the restore location. */
LV_EXTERN int lv_call_list_objects(lv_service_call *call,
                                   int (*cb)(const char *name, void *ud), void *ud);
LV_EXTERN int lv_call_remove_object(lv_service_call *call, const char *name);

/**
 * Replace the context's license service (the default allows by the
 * built-in rules, docs/restore-rules.md).  svc must stay valid; its free is
 * called with ud when replaced or when the context is freed.
 */
LV_EXTERN int lv_context_set_service(lv_context *ctx, const lv_service *svc, void *ud);


#ifdef __cplusplus
}
#endif
#endif /* LICVAULT_SYS_SERVICE_H */
