/*
 * The license service interface (lv_call_*) and the built-in service.
 */
#include "service.h"

#include "format.h"
#include "license.h"

#include <stdio.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <zlib.h>

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
	lv__run_verror(c->run, code, fmt, ap);
	va_end(ap);
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
	lv_err saved;
	lv__err_save(&c->run->err, &saved);
	int rc = loc->ops->read_open(loc->inst, name, &r);
	if (rc == LV_E_NOT_FOUND)
		lv__err_restore(&c->run->err, &saved); /* an answer, not a failure of the run */
	if (rc)
		return rc == LV_E_NOT_FOUND ? rc : lv__drv_rc(c->run, loc, rc, "open", name);
	lv_buf b = {0};
	for (;;) {
		if (lv__buf_grow(&b, (size_t)64 * 1024)) {
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
	lv_err saved;
	lv__err_save(&c->run->err, &saved);
	int rc = c->loc->ops->remove(c->loc->inst, name);
	if (rc == LV_E_NOT_FOUND)
		lv__err_restore(&c->run->err, &saved); /* an answer, not a failure of the run */
	return rc == LV_E_NOT_FOUND ? rc : lv__drv_rc(c->run, c->loc, rc, "remove", name);
}

/* ---- the built-in service ------------------------------------------------ */
/*
 * The rules (docs/restore-rules.md):
 *  - a license lives on at most `max_machines` distinct machines (default 4:
 *    the one that backed it up and 3 others); a machine that already had it
 *    does not count again;
 *  - at most `restores_per_day` restores per machine per UTC day (default 4);
 * The registry that counts machines is kept at the backup location as
 * write-once generations "licvault-registry-<16 hex>.reg" (or at
 * [service] location), merged in key ID order with the manifest, so memory
 * stays flat.  A registry that cannot be read or does not verify is
 * SERVICE_UNAVAILABLE: never silently reset.
 */

#define REG_PREFIX "licvault-registry-"
#define REG_MAGIC "licvault-registry 1"
#define REG_LINE_MAX 8192
#define MAX_MACHINES_CAP 64

typedef struct reg_session {
	lv_service_call *call;
	lv_location *loc;          /* where the registry lives */
	lv_location *own_loc;      /* opened here when [service] location is set */
	unsigned max_machines;
	/* the current registry, read in step */
	lv_reader *rd;
	lv_in in;
	int have_in;
	int in_done;
	char line[REG_LINE_MAX];   /* the pending registry line (kid machines...) */
	int have_line;
	char prev_kid[LV_KID_MAX + 1];
	uint64_t gen;              /* current generation, 0 = none */
	char cur_name[64];
	/* the next registry */
	lv_writer *w;
	lv_buf out;
	uint32_t out_crc;
	char new_name[64];
	uint64_t added;            /* machines added by this restore */
} reg_session;

static int64_t now_utc(void)
{
#ifdef LV_TEST_HOOKS
	/* the test build only (liblicvault-testhooks, never installed): tests move the clock */
	const char *t = secure_getenv("LICVAULT_NOW");
	if (t && *t)
		return strtoll(t, NULL, 10);
#endif
	return (int64_t)time(NULL);
}

/* Today's date in UTC, YYYY-MM-DD: the per-day count's key. */
static void utc_day(char *out, size_t cap, int64_t now)
{
	time_t tt = (time_t)now;
	struct tm tm;
	gmtime_r(&tt, &tm);
	strftime(out, cap, "%Y-%m-%d", &tm);
}

static unsigned cfg_uint(lv_context *ctx, const char *key, unsigned def, unsigned max)
{
	const char *v = lv_context_config_get(ctx, "service", key);
	if (!v)
		return def;
	char *end;
	unsigned long n = strtoul(v, &end, 10);
	return (*end || n == 0 || n > max) ? def : (unsigned)n;
}

/*
 * Fail the run with code and a message that may quote what a driver
 * recorded (drv_msg): the service's failure replaces the driver's, whose
 * text it carries.
 */
static int wrap_fail(lv_service_call *call, int code, const char *fmt, ...) LV_PRINTF(3, 4);
static int wrap_fail(lv_service_call *call, int code, const char *fmt, ...)
{
	char msg[LV_ERRMSG_MAX];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	lv__err_clear(&call->run->err);
	return lv_call_set_error(call, code, "%s", msg);
}

/* What a driver recorded, to quote ("" when nothing). */
static const char *drv_msg(reg_session *rs)
{
	return rs->call->run->err.msg;
}

static int svc_vfail(reg_session *rs, int code, const char *fmt, va_list ap) LV_PRINTF(3, 0);
static int svc_vfail(reg_session *rs, int code, const char *fmt, va_list ap)
{
	char msg[LV_ERRMSG_MAX];
	vsnprintf(msg, sizeof msg, fmt, ap);
	return wrap_fail(rs->call, code, "license service registry at %s: %s", rs->loc->uri, msg);
}

static int svc_fail(reg_session *rs, const char *fmt, ...) LV_PRINTF(2, 3);
static int svc_fail(reg_session *rs, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int rc = svc_vfail(rs, LV_E_SERVICE_UNAVAILABLE, fmt, ap);
	va_end(ap);
	return rc;
}

/*
 * A driver's failure to write the registry: SERVICE_UNAVAILABLE, but for a
 * full location (NO_SPACE) or a cancel, which say what to do better.
 */
static int svc_fail_write(reg_session *rs, int drc, const char *fmt, ...) LV_PRINTF(3, 4);
static int svc_fail_write(reg_session *rs, int drc, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int rc = svc_vfail(rs, drc == LV_E_NO_SPACE || drc == LV_E_CANCELED ? drc : LV_E_SERVICE_UNAVAILABLE, fmt, ap);
	va_end(ap);
	return rc;
}

/* Read one line of the current registry into rs->line (without newline); 0 at end. */
static int reg_getline(reg_session *rs, char *buf, size_t cap)
{
	size_t n = 0;
	for (;;) {
		int at = lv__in_at_end(&rs->in);
		if (at < 0)
			return svc_fail(rs, "cannot read %s: %s", rs->cur_name, drv_msg(rs));
		if (at == 1) {
			if (n)
				return svc_fail(rs, "%s is truncated", rs->cur_name);
			return 0;
		}
		char c;
		int rc = lv__in_read(&rs->in, &c, 1);
		if (rc)
			return svc_fail(rs, "cannot read %s", rs->cur_name);
		if (c == '\n')
			break;
		if (n + 1 >= cap)
			return svc_fail(rs, "%s has a line longer than %zu bytes", rs->cur_name, cap);
		buf[n++] = c;
	}
	buf[n] = '\0';
	return 1;
}

static int reg_put(reg_session *rs, const char *line)
{
	size_t n = strlen(line);
	int rc = lv__buf_put(&rs->out, line, n);
	if (!rc)
		rc = lv__buf_put(&rs->out, "\n", 1);
	if (rc)
		return lv_call_set_error(rs->call, LV_E_NOMEM, "out of memory");
	if (rs->out.len >= (size_t)256 * 1024) {
		rs->out_crc = (uint32_t)crc32(rs->out_crc, rs->out.data, (uInt)rs->out.len);
		rc = rs->loc->ops->write(rs->w, rs->out.data, rs->out.len);
		rs->out.len = 0;
		if (rc)
			return svc_fail_write(rs, rc, "cannot write %s: %s", rs->new_name, drv_msg(rs));
	}
	return 0;
}

/* Advance to the next "kid" line of the current registry, validating it. */
/* A machine ID as the registry keeps it: 1 to 64 lower-case hex digits. */
static int machine_ok(const char *m, size_t n)
{
	if (n == 0 || n > 64)
		return 0;
	for (size_t i = 0; i < n; i++)
		if (!((m[i] >= '0' && m[i] <= '9') || (m[i] >= 'a' && m[i] <= 'f')))
			return 0;
	return 1;
}

/* "M1 M2 ...": 1 to MAX_MACHINES_CAP machine IDs separated by single spaces. */
static int machines_ok(const char *list)
{
	unsigned n = 0;
	for (const char *p = list;;) {
		size_t l = strcspn(p, " ");
		if (!machine_ok(p, l) || ++n > MAX_MACHINES_CAP)
			return 0;
		if (!p[l])
			return 1;
		p += l + 1;
	}
}

static int reg_next(reg_session *rs)
{
	rs->have_line = 0;
	if (!rs->have_in || rs->in_done)
		return 0;
	uint32_t crc_before = rs->in.crc;
	int rc = reg_getline(rs, rs->line, sizeof rs->line);
	if (rc < 0)
		return rc;
	if (rc == 0)
		return svc_fail(rs, "%s ends without its checksum line", rs->cur_name);
	if (!strncmp(rs->line, "crc ", 4)) {
		unsigned long want = strtoul(rs->line + 4, NULL, 16);
		if ((uint32_t)want != crc_before)
			return svc_fail(rs, "%s does not verify (checksum mismatch): refusing to restore rather than reset the count",
			                rs->cur_name);
		if (lv__in_at_end(&rs->in) != 1)
			return svc_fail(rs, "%s has data after its checksum", rs->cur_name);
		rs->in_done = 1;
		return 0;
	}
	if (strncmp(rs->line, "kid ", 4) != 0)
		return svc_fail(rs, "%s: unexpected line '%.40s'", rs->cur_name, rs->line);
	char *kid = rs->line + 4;
	char *sp = strchr(kid, ' ');
	size_t kl = sp ? (size_t)(sp - kid) : strlen(kid);
	if (!lv__kid_valid(kid, kl) || !sp || !machines_ok(sp + 1))
		return svc_fail(rs, "%s: the entry of %.*s does not follow the registry's format (1 to %d machine IDs of 1 to 64 lower-case hex digits, single spaces)",
		                rs->cur_name, (int)(kl < 130 ? kl : 130), kid, MAX_MACHINES_CAP);
	char k[LV_KID_MAX + 1];
	memcpy(k, kid, kl);
	k[kl] = '\0';
	if (rs->prev_kid[0] && strcmp(rs->prev_kid, k) >= 0)
		return svc_fail(rs, "%s is not in key ID order at %s", rs->cur_name, k);
	memcpy(rs->prev_kid, k, kl + 1);
	rs->have_line = 1;
	return 1;
}

static int reg_scan_cb(const lv_object_info *info, void *ud)
{
	reg_session *rs = ud;
	const char *n = info->name;
	size_t pl = strlen(REG_PREFIX);
	if (strncmp(n, REG_PREFIX, pl) != 0 || strlen(n) != pl + 16 + 4 || strcmp(n + pl + 16, ".reg") != 0)
		return 0;
	unsigned long long g = 0;
	for (size_t i = 0; i < 16; i++) {
		char c = n[pl + i];
		int d = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
		if (d < 0)
			return 0;
		g = g << 4 | (unsigned)d;
	}
	if (g > rs->gen) {
		rs->gen = g;
		snprintf(rs->cur_name, sizeof rs->cur_name, "%s", n);
	}
	return 0;
}

static int reg_src_read(void *p, void *buf, size_t cap, size_t *n)
{
	reg_session *rs = p;
	*n = 0;
	int rc = rs->loc->ops->read(rs->rd, buf, cap, n);
	if (!rc && *n > cap)
		return LV_E_DRIVER_ABI;
	return rc ? (rc < 0 && rc > LV_E__LAST ? rc : LV_E_IO) : 0;
}

/*
 * Today's restores of this store, and DAILY_LIMIT when they reach
 * restores_per_day.  Inside the import's write transaction (bi_end) no other
 * restore of the store can count between this check and the increment.
 */
static int daily_check(lv_service_call *call, unsigned long *n)
{
	lv_store *st = call->store;
	unsigned per_day = cfg_uint(call->run->ctx, "restores_per_day", 4, 1000000);
	char day[32] = "", cnt[32] = "", today[16];
	int64_t now = now_utc();
	utc_day(today, sizeof today, now);
	*n = 0;
	if (st->ops.meta_get(st->impl, "restore_day", day, sizeof day) == 0 && !strcmp(day, today) &&
	    st->ops.meta_get(st->impl, "restore_count", cnt, sizeof cnt) == 0)
		*n = strtoul(cnt, NULL, 10);
	if (*n < per_day)
		return 0;
	char when[64];
	time_t next = (time_t)(now - (now % 86400) + 86400);
	struct tm nt;
	gmtime_r(&next, &nt);
	strftime(when, sizeof when, "%Y-%m-%d %H:%M UTC", &nt);
	return lv_call_set_error(call, LV_E_DAILY_LIMIT,
	                         "this machine has made its %u restores for today; it may try again after %s", per_day,
	                         when);
}

static int bi_begin(void *ud, lv_service_call *call, void **session)
{
	(void)ud;
	lv_context *ctx = call->run->ctx;
	reg_session *rs = calloc(1, sizeof *rs);
	if (!rs)
		return LV_E_NOMEM;
	rs->call = call;
	rs->loc = call->loc;
	rs->max_machines = cfg_uint(ctx, "max_machines", 4, MAX_MACHINES_CAP);
	*session = rs;

	/* the per-day limit, kept with the store (a machine = a store): checked early here, and
	 * again, authoritatively, inside the import's write transaction (bi_end) */
	unsigned long today_n;
	int rc0 = daily_check(call, &today_n);
	if (rc0)
		return rc0;

	/* the registry: at [service] location, else at the backup location */
	const char *sloc = lv_context_config_get(ctx, "service", "location");
	if (sloc) {
		int rc = lv__location_open(ctx, call->run, NULL, sloc, LV_OPEN_READ | LV_OPEN_WRITE, &rs->own_loc);
		if (rc)
			return wrap_fail(call, LV_E_SERVICE_UNAVAILABLE,
			                         "license service location %s cannot be opened: %s", sloc, drv_msg(rs));
		rs->loc = rs->own_loc;
	}
	lv_err saved;
	lv__err_save(&call->run->err, &saved);
	int rc = rs->loc->ops->list(rs->loc->inst, reg_scan_cb, rs);
	if (rc == LV_E_NOT_FOUND) {
		lv__err_restore(&call->run->err, &saved); /* no location yet: no registry */
		rc = 0;
	}
	if (rc)
		return svc_fail(rs, "cannot list the location: %s", drv_msg(rs));
	if (rs->gen) {
		rc = rs->loc->ops->read_open(rs->loc->inst, rs->cur_name, &rs->rd);
		if (rc)
			return svc_fail(rs, "cannot open %s: %s", rs->cur_name, drv_msg(rs));
		if (lv__in_init(&rs->in, reg_src_read, rs, (size_t)64 * 1024))
			return LV_E_NOMEM;
		rs->have_in = 1;
		char head[128];
		rc = reg_getline(rs, head, sizeof head);
		if (rc < 0)
			return rc;
		if (rc == 0 || strcmp(head, REG_MAGIC) != 0)
			return svc_fail(rs, "%s is not a licvault registry of version 1", rs->cur_name);
		if ((rc = reg_next(rs)) < 0)
			return rc;
	}
	snprintf(rs->new_name, sizeof rs->new_name, REG_PREFIX "%016llx.reg", (unsigned long long)rs->gen + 1);
	rc = rs->loc->ops->write_begin(rs->loc->inst, rs->new_name, UINT64_MAX, &rs->w);
	if (rc) {
		rs->w = NULL;
		return svc_fail_write(rs, rc, "cannot write %s: %s (the registry that counts machines must be writable: "
		                "set [service] location to a place every restoring machine can write)",
		                rs->new_name, drv_msg(rs));
	}
	rs->out_crc = (uint32_t)crc32(0L, Z_NULL, 0);
	return reg_put(rs, REG_MAGIC);
}

static int bi_decide(void *session, lv_service_call *call, const char *kid, int *decision)
{
	reg_session *rs = session;
	int rc;
	/* copy the entries before this key ID as they are */
	while (rs->have_line) {
		char *k = rs->line + 4;
		size_t kl = strcspn(k, " ");
		int cmp = strncmp(k, kid, kl) ? strncmp(k, kid, kl) : (kid[kl] ? -1 : 0);
		if (cmp >= 0)
			break;
		if ((rc = reg_put(rs, rs->line)) || (rc = reg_next(rs)) < 0)
			return rc;
	}
	/* the machines this license lives on */
	char machines[MAX_MACHINES_CAP][65];
	unsigned nm = 0;
	if (rs->have_line && !strncmp(rs->line + 4, kid, strlen(kid)) && rs->line[4 + strlen(kid)] == ' ') {
		char *save = NULL;
		for (char *m = strtok_r(rs->line + 4 + strlen(kid) + 1, " ", &save); m; m = strtok_r(NULL, " ", &save)) {
			if (nm == MAX_MACHINES_CAP || strlen(m) > 64)
				return svc_fail(rs, "%s: entry of %s is malformed", rs->cur_name, kid);
			snprintf(machines[nm++], sizeof machines[0], "%s", m);
		}
		if (nm == 0)
			return svc_fail(rs, "%s: entry of %s names no machine", rs->cur_name, kid);
		if ((rc = reg_next(rs)) < 0)
			return rc;
	} else if (machine_ok(call->backup_machine_id, strlen(call->backup_machine_id)))
		/* the backup's writer (a manifest's machine ID that is no registry machine ID is left out) */
		snprintf(machines[nm++], sizeof machines[0], "%s", call->backup_machine_id);
	int known = 0;
	for (unsigned i = 0; i < nm; i++)
		if (!strcmp(machines[i], call->machine_id))
			known = 1;
	if (known)
		*decision = strcmp(call->machine_id, call->backup_machine_id) ? LV_DECIDE_REBIND : LV_DECIDE_KEEP;
	else if (nm < rs->max_machines) {
		snprintf(machines[nm++], sizeof machines[0], "%s", call->machine_id);
		*decision = LV_DECIDE_REBIND;
		rs->added++;
	} else
		*decision = LV_DECIDE_REFUSE;
	char line[REG_LINE_MAX];
	size_t n = (size_t)snprintf(line, sizeof line, "kid %s", kid);
	for (unsigned i = 0; i < nm && n < sizeof line; i++)
		n += (size_t)snprintf(line + n, sizeof line - n, " %s", machines[i]);
	return reg_put(rs, line);
}

static void reg_free(reg_session *rs)
{
	if (rs->w)
		rs->loc->ops->abort(rs->w);
	if (rs->rd)
		rs->loc->ops->read_close(rs->rd);
	if (rs->have_in)
		lv__in_free(&rs->in);
	lv__buf_free(&rs->out);
	lv__location_close(rs->own_loc);
	free(rs);
}

static int bi_end(void *session, lv_service_call *call, int commit)
{
	reg_session *rs = session;
	if (!rs)
		return 0;
	int rc = 0;
	unsigned long today_n = 0;
	if (!commit || !rs->w)
		goto out;
	/* in the import's write transaction: the authoritative count of today's restores */
	if ((rc = daily_check(call, &today_n)))
		goto out;
	/* the rest of the current registry, then its checksum checked and ours written */
	while (rs->have_line) {
		if ((rc = reg_put(rs, rs->line)) || (rc = reg_next(rs)) < 0)
			goto out;
	}
	if (rs->have_in && !rs->in_done) {
		rc = svc_fail(rs, "%s ended early", rs->cur_name);
		goto out;
	}
	rs->out_crc = (uint32_t)crc32(rs->out_crc, rs->out.data, (uInt)rs->out.len);
	char tail[32];
	snprintf(tail, sizeof tail, "crc %08x\n", rs->out_crc);
	if (lv__buf_put(&rs->out, tail, strlen(tail))) {
		rc = LV_E_NOMEM;
		goto out;
	}
	if ((rc = rs->loc->ops->write(rs->w, rs->out.data, rs->out.len))) {
		rc = svc_fail_write(rs, rc, "cannot write %s: %s", rs->new_name, drv_msg(rs));
		goto out;
	}
	lv_writer *w = rs->w;
	rs->w = NULL;
	rc = rs->loc->ops->commit(w, 0);
	if (rc == LV_E_EXISTS) {
		rc = wrap_fail(call, LV_E_BUSY, "another restore from %s updated the registry at the same time; run again",
		                       rs->loc->uri);
		goto out;
	}
	if (rc) {
		rc = svc_fail_write(rs, rc, "cannot publish %s: %s", rs->new_name, drv_msg(rs));
		goto out;
	}
	if (rs->gen && rs->loc->ops->remove) {
		lv_err saved;
		lv__err_save(&call->run->err, &saved);
		rs->loc->ops->remove(rs->loc->inst, rs->cur_name); /* an older registry left behind is harmless */
		lv__err_restore(&call->run->err, &saved);
	}
	if (rs->loc->ops->sync)
		rs->loc->ops->sync(rs->loc->inst);
	/* count the restore for today, in the same transaction */
	{
		lv_store *st = call->store;
		char cnt[32], today[16];
		utc_day(today, sizeof today, now_utc());
		snprintf(cnt, sizeof cnt, "%lu", today_n + 1);
		if (st->ops.meta_set(st->impl, "restore_day", today) || st->ops.meta_set(st->impl, "restore_count", cnt)) {
			rc = lv_call_set_error(call, LV_E_NOT_ALL_STORED, "cannot count today's restore in the store: %s",
			                       lv_store_last_error(st));
			goto out;
		}
	}
	rc = 0;
out:
	reg_free(rs);
	return rc;
}

const lv_service lv__builtin_service = {
	.version = LV_SERVICE_VERSION,
	.begin = bi_begin,
	.decide = bi_decide,
	.end = bi_end,
	.free = NULL,
};
