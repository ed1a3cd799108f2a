/*
 * The license service interface (lv_call_*) and the built-in service.
 */
#include "internal.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

const char *lv_call_machine_id(const lv_service_call *c) { return c ? c->machine_id : NULL; }
const char *lv_call_backup_machine_id(const lv_service_call *c) { return c ? c->backup_machine_id : NULL; }
const char *lv_call_backup_id(const lv_service_call *c) { return c ? c->backup_id : NULL; }
const char *lv_call_location(const lv_service_call *c) { return c ? c->loc->uri : NULL; }
uint64_t lv_call_license_count(const lv_service_call *c) { return c ? c->count : 0; }
unsigned lv_call_flags(const lv_service_call *c) { return c ? c->flags : 0; }
lv_context *lv_call_context(const lv_service_call *c) { return c ? c->run->ctx : NULL; }
lv_store *lv_call_store(const lv_service_call *c) { return c ? c->store : NULL; }

int lv_call_set_error(lv_service_call *c, int code, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	lv__verrf(c->run->errmsg, fmt, ap);
	va_end(ap);
	c->run->errcode = code;
	return code;
}

void lv_call_log(lv_service_call *c, int level, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	lv__vlog(c->run->ctx, level, fmt, ap);
	va_end(ap);
}

#define OBJECT_CAP (64u << 20)

int lv_call_read_object(lv_service_call *c, const char *name, char **buf, size_t *len)
{
	if (!c || !name || !buf || !len)
		return LV_E_INVALID_ARG;
	lv_location *loc = c->loc;
	lv_reader *r = NULL;
	int rc = loc->ops->read_open(loc->inst, name, &r);
	if (rc)
		return rc == LV_E_NOT_FOUND ? rc : lv__drv_rc(c->run, loc, rc, "open", name);
	lv_buf b = {0};
	for (;;) {
		if ((rc = lv__buf_grow(&b, 64 * 1024))) {
			rc = LV_E_NOMEM;
			break;
		}
		size_t n = 0;
		rc = loc->ops->read(r, b.data + b.len, b.cap - b.len, &n);
		if (rc) {
			rc = lv__drv_rc(c->run, loc, rc, "read", name);
			break;
		}
		if (n > b.cap - b.len) {
			rc = lv__run_error(c->run, LV_E_DRIVER_ABI, "driver read returned too many bytes");
			break;
		}
		if (n == 0)
			break;
		b.len += n;
		if (b.len > OBJECT_CAP) {
			rc = lv__run_error(c->run, LV_E_SERVICE_UNAVAILABLE, "%s at %s is larger than %u bytes",
			                   name, loc->uri, OBJECT_CAP);
			break;
		}
	}
	loc->ops->read_close(r);
	if (rc) {
		lv__buf_free(&b);
		return rc;
	}
	if (lv__buf_put(&b, "", 1)) {
		lv__buf_free(&b);
		return LV_E_NOMEM;
	}
	*buf = (char *)b.data;
	*len = b.len - 1;
	return 0;
}

int lv_call_write_object(lv_service_call *c, const char *name, const void *buf, size_t len)
{
	if (!c || !name || (!buf && len))
		return LV_E_INVALID_ARG;
	lv_location *loc = c->loc;
	lv_writer *w = NULL;
	int rc = loc->ops->write_begin(loc->inst, name, len, &w);
	if (rc)
		return lv__drv_rc(c->run, loc, rc, "begin writing", name);
	if (len && (rc = loc->ops->write(w, buf, len))) {
		loc->ops->abort(w);
		return lv__drv_rc(c->run, loc, rc, "write", name);
	}
	rc = loc->ops->commit(w, 0);
	return rc == LV_E_EXISTS ? rc : lv__drv_rc(c->run, loc, rc, "commit", name);
}

struct list_tramp {
	int (*cb)(const char *, void *);
	void *ud;
};

static int list_tramp_cb(const lv_object_info *info, void *ud)
{
	struct list_tramp *t = ud;
	return t->cb(info->name, t->ud);
}

int lv_call_list_objects(lv_service_call *c, int (*cb)(const char *, void *), void *ud)
{
	if (!c || !cb)
		return LV_E_INVALID_ARG;
	struct list_tramp t = {cb, ud};
	int rc = c->loc->ops->list(c->loc->inst, list_tramp_cb, &t);
	return rc > 0 ? rc : lv__drv_rc(c->run, c->loc, rc, "list", "objects");
}

int lv_call_remove_object(lv_service_call *c, const char *name)
{
	if (!c || !name)
		return LV_E_INVALID_ARG;
	if (!c->loc->ops->remove)
		return LV_E_UNSUPPORTED;
	int rc = c->loc->ops->remove(c->loc->inst, name);
	return rc == LV_E_NOT_FOUND ? rc : lv__drv_rc(c->run, c->loc, rc, "remove", name);
}

/* ---- the built-in service ------------------------------------------------ */

static int bi_begin(void *ud, lv_service_call *call, void **session)
{
	(void)ud;
	*session = call;
	return 0;
}

static int bi_decide(void *session, lv_service_call *call, const char *kid, int *decision)
{
	(void)session;
	(void)kid;
	*decision = strcmp(call->machine_id, call->backup_machine_id) == 0 ? LV_DECIDE_KEEP : LV_DECIDE_REBIND;
	return 0;
}

static int bi_end(void *session, lv_service_call *call, int commit)
{
	(void)session;
	(void)call;
	(void)commit;
	return 0;
}

const lv_service lv__builtin_service = {
	.version = LV_SERVICE_VERSION,
	.begin = bi_begin,
	.decide = bi_decide,
	.end = bi_end,
	.free = NULL,
};
