/* Error names and messages, and the error record (error.h). */
#include "error.h"

#include <stdio.h>
#include <string.h>

#include "licvault/licvault.h"
#include "licvault/driver.h"

#include <sqlite3.h>
#include <zlib.h>

static const struct {
	const char *name;
	const char *msg;
} errors[] = {
	{"OK", "success"},
	{"BACKUP_EXISTS", "licenses are already backed up at this location"},
	{"BACKUP_CORRUPT", "one or more backed-up licenses are missing or corrupt"},
	{"BUSY", "a run is already in progress"},
	{"CANCELED", "the run was canceled"},
	{"RESTORE_LIMIT", "the license may not be restored on more machines"},
	{"DAILY_LIMIT", "the restore limit for the day is reached"},
	{"SERVICE_UNAVAILABLE", "the license service cannot be reached; try later"},
	{"NEEDS_INDIVIDUALIZATION", "the store must be individualized first"},
	{"NOT_ALL_STORED", "some licenses could not be stored"},
	{"NO_PATH", "the backup or restore path is not set"},
	{"NO_DRIVER", "no driver serves this location"},
	{"DRIVER_ABI", "the driver does not follow the driver ABI"},
	{"BAD_URI", "the location is not a valid URI"},
	{"CONFIG", "the configuration is not valid"},
	{"AUTH", "authentication failed"},
	{"HOST_KEY", "the server's host key cannot be trusted"},
	{"NOT_FOUND", "not found"},
	{"NO_SPACE", "not enough space at the location"},
	{"IO", "input/output error"},
	{"UNSUPPORTED", "not supported"},
	{"INVALID_ARG", "invalid argument"},
	{"NOMEM", "out of memory"},
	{"EXISTS", "already exists"},
	{"CORRUPT", "malformed file"},
	{"BACKUP_SHRINK", "the backup would hold far fewer licenses than the newest backup at the location"},
};

const char *lv_error_name(int code)
{
	if (!lv__err_valid(code))
		return "UNKNOWN";
	return errors[-code].name;
}

const char *lv_strerror(int code)
{
	if (!lv__err_valid(code))
		return "unknown error";
	return errors[-code].msg;
}

const char *lv_version(void)
{
	return LV_VERSION_STRING;
}

void lv_driver_abi(unsigned *major, unsigned *minor)
{
	if (major)
		*major = LV_DRIVER_ABI_MAJOR;
	if (minor)
		*minor = LV_DRIVER_ABI_MINOR;
}

const char *lv_component_version(const char *name)
{
	if (!name)
		return NULL;
	if (!strcmp(name, "sqlite"))
		return sqlite3_libversion();
	if (!strcmp(name, "zlib"))
		return zlibVersion();
	return NULL;
}

const char *lv_status_name(int status)
{
	switch (status) {
	case LV_STATUS_BEGIN: return "begin";
	case LV_STATUS_END: return "end";
	case LV_STATUS_RESTRICTED_LICENSE: return "restricted_license";
	case LV_STATUS_CONNECTING: return "connecting";
	case LV_STATUS_DISCONNECTING: return "disconnecting";
	case LV_STATUS_PROGRESS: return "progress";
	case LV_STATUS_INDIVIDUALIZE: return "individualize";
	case LV_STATUS_REFUSED_LICENSE: return "refused_license";
	default: return "unknown";
	}
}

int lv__err_valid(int code)
{
	return code <= 0 && code > LV_E__LAST;
}

int lv__err_vset(lv_err *e, int code, const char *fmt, va_list ap)
{
	if (e->code || !code)
		return code;
	e->code = code;
	if (fmt)
		vsnprintf(e->msg, sizeof e->msg, fmt, ap);
	else
		snprintf(e->msg, sizeof e->msg, "%s", lv_strerror(code));
	return code;
}

int lv__err_set(lv_err *e, int code, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	lv__err_vset(e, code, fmt, ap);
	va_end(ap);
	return code;
}

void lv__err_clear(lv_err *e)
{
	e->code = 0;
	e->msg[0] = '\0';
}

void lv__err_save(const lv_err *e, lv_err *saved)
{
	saved->code = e->code;
	memcpy(saved->msg, e->msg, strlen(e->msg) + 1);
}

void lv__err_restore(lv_err *e, const lv_err *saved)
{
	lv__err_save(saved, e);
}
