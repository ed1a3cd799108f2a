/*
 * licvault: definitions shared by the application API (licvault.h) and the
 * driver API (driver.h): the export macro, the error codes and values.
 *
 * Copyright (c) licvault authors.  MIT licensed.
 */
#ifndef LICVAULT_COMMON_H
#define LICVAULT_COMMON_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(LV_BUILDING_LIBRARY) && defined(__GNUC__)
#  define LV_EXTERN __attribute__((visibility("default")))
#else
#  define LV_EXTERN
#endif

#if defined(__GNUC__)
#  define LV_PRINTF(f, a) __attribute__((format(printf, f, a)))
#else
#  define LV_PRINTF(f, a)
#endif

/**
 * Error codes.  0 is success; every error is negative.  The numeric values
 * are part of the ABI: new codes are only ever added at the end.
 *
 * lv_error_name() gives the short name (the CLI prints it, JSON carries it);
 * lv_strerror() a one-line generic message.  The detailed message of a failed
 * run (what failed, on what, and why) is kept by the object that ran it.
 */
typedef enum lv_error {
	LV_OK = 0,
	LV_E_BACKUP_EXISTS = -1,        /* a backup is already at the location */
	LV_E_BACKUP_CORRUPT = -2,       /* backup missing parts, corrupt or truncated */
	LV_E_BUSY = -3,                 /* a run is already in progress on this object */
	LV_E_CANCELED = -4,             /* the run was canceled */
	LV_E_RESTORE_LIMIT = -5,        /* a license may not be restored here (too many machines) */
	LV_E_DAILY_LIMIT = -6,          /* the restore limit for the day is reached */
	LV_E_SERVICE_UNAVAILABLE = -7,  /* the license service cannot be reached or read */
	LV_E_NEEDS_INDIVIDUALIZATION = -8, /* the store needs individualizing first */
	LV_E_NOT_ALL_STORED = -9,       /* some licenses could not be stored */
	LV_E_NO_PATH = -10,             /* the BackupPath/RestorePath property is not set */
	LV_E_NO_DRIVER = -11,           /* no driver serves the URI's scheme */
	LV_E_DRIVER_ABI = -12,          /* a driver was built for another ABI or misbehaved */
	LV_E_BAD_URI = -13,             /* the URI cannot be parsed or is not allowed */
	LV_E_CONFIG = -14,              /* the config file or a config value is wrong */
	LV_E_AUTH = -15,                /* authentication failed */
	LV_E_HOST_KEY = -16,            /* the server's host key is unknown or changed */
	LV_E_NOT_FOUND = -17,           /* no such object, license, volume or backup */
	LV_E_NO_SPACE = -18,            /* not enough space at the location */
	LV_E_IO = -19,                  /* an input/output or network error */
	LV_E_UNSUPPORTED = -20,         /* the driver or store cannot do this */
	LV_E_INVALID_ARG = -21,         /* a bad argument (wrong type, NULL, bad value) */
	LV_E_NOMEM = -22,               /* out of memory */
	LV_E_EXISTS = -23,              /* an object of that name already exists (drivers) */
	LV_E_CORRUPT = -24,             /* a file (license file, store) is malformed */
	LV_E__LAST = -25
} lv_error;

/** Short name of an error ("BACKUP_EXISTS"); "OK" for 0, "UNKNOWN" otherwise. */
LV_EXTERN const char *lv_error_name(int code);

/** Generic one-line message of an error. Never NULL. */
LV_EXTERN const char *lv_strerror(int code);

/** Log levels, for the context's log callback and the drivers' log service. */
typedef enum lv_log_level {
	LV_LOG_ERROR = 0,
	LV_LOG_WARN = 1,
	LV_LOG_INFO = 2,
	LV_LOG_DEBUG = 3
} lv_log_level;

#ifdef __cplusplus
}
#endif
#endif /* LICVAULT_COMMON_H */
