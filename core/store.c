/* The license store: the public functions, over the ops table. */
#include "store.h"

#include "license.h"
#include "store_file.h"
#include "store_sqlite.h"

#include <stdio.h>
#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <zlib.h>

static int store_error(lv_store *s, int code, const char *fmt, ...) LV_PRINTF(3, 4);
static int store_error(lv_store *s, int code, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	lv__err_vset(&s->err, code, fmt, ap);
	va_end(ap);
	return code;
}

/* A public call begins: forget the previous call's failure. */
static void enter(lv_store *s)
{
	lv__err_clear(&s->err);
}

const char *lv__store_why(lv_store *s, int rc, const char *what, char *buf, size_t cap)
{
	const char *m = s->ops.last_error ? s->ops.last_error(s->impl) : NULL;
	if (m && *m)
		return m;
	snprintf(buf, cap, "%s: %s", what, lv_strerror(rc));
	return buf;
}

/* Record the impl's message after an ops call failed. */
static int ops_rc(lv_store *s, int rc, const char *what)
{
	if (!rc)
		return 0;
	if (!lv__err_valid(rc))
		rc = LV_E_IO;
	char buf[256];
	return store_error(s, rc, "%s", lv__store_why(s, rc, what, buf, sizeof buf));
}

/* How many bytes of an application's table its version covers. */
static size_t ops_size(unsigned version)
{
	if (version >= LV_STORE_OPS_VERSION)
		return sizeof(lv_store_ops);
	return offsetof(lv_store_ops, last_error);
}

lv_store *lv__store_wrap(lv_context *ctx, const lv_store_ops *ops, void *impl)
{
	lv_store *s = calloc(1, sizeof *s);
	if (!s)
		return NULL;
	s->ctx = ctx;
	memcpy(&s->ops, ops, ops_size(ops->version));
	s->impl = impl;
	return s;
}

int lv_store_open(lv_store **out, lv_context *ctx, const char *path, unsigned flags)
{
	if (!out || !ctx || !path || !*path)
		return LV_E_INVALID_ARG;
	lv__ctx_clear();
	if (flags & ~(LV_STORE_CREATE | LV_STORE_READONLY))
		return lv__err_set(lv__ctx_err(), LV_E_INVALID_ARG, "open the store %s: flags 0x%x are not valid", path,
		                   flags & ~(LV_STORE_CREATE | LV_STORE_READONLY));
	void *impl = NULL;
	int rc = lv__sqlite_store_open(path, flags, &impl, lv__ctx_err());
	if (rc)
		return rc;
	lv_store *s = lv__store_wrap(ctx, &lv__sqlite_store_ops, impl);
	if (!s) {
		lv__sqlite_store_ops.close(impl);
		return lv__ctx_error(ctx, LV_E_NOMEM, "store %s: out of memory", path);
	}
	*out = s;
	return 0;
}

int lv_store_new_custom(lv_store **out, lv_context *ctx, const lv_store_ops *ops, void *impl)
{
	if (!out || !ctx || !ops || ops->version < 1 || !ops->count || !ops->get || !ops->put ||
	    !ops->remove || !ops->foreach || !ops->begin || !ops->commit || !ops->rollback ||
	    !ops->meta_get || !ops->meta_set)
		return LV_E_INVALID_ARG;
	lv_store *s = lv__store_wrap(ctx, ops, impl);
	if (!s)
		return LV_E_NOMEM;
	*out = s;
	return 0;
}

void lv_store_free(lv_store *s)
{
	if (!s)
		return;
	if (s->ops.close)
		s->ops.close(s->impl);
	free(s);
}

const char *lv_store_last_error(const lv_store *s)
{
	return s ? s->err.msg : "";
}

int lv__store_for_run(lv_store *s, lv_store **out, lv_err *err)
{
	if (!s->ops.open_run) {
		*out = s;
		return 0;
	}
	void *impl = NULL;
	int rc = s->ops.open_run(s->impl, &impl);
	if (rc) {
		char buf[256];
		return lv__err_set(err, lv__err_valid(rc) ? rc : LV_E_IO, "%s",
		                   lv__store_why(s, rc, "open the store for the run", buf, sizeof buf));
	}
	lv_store *r = lv__store_wrap(s->ctx, &s->ops, impl);
	if (!r) {
		if (s->ops.close)
			s->ops.close(impl);
		return lv__err_set(err, LV_E_NOMEM, "out of memory opening the store for the run");
	}
	*out = r;
	return 0;
}

void lv__store_run_release(lv_store *orig, lv_store *run)
{
	if (run && run != orig)
		lv_store_free(run);
}

int lv__store_room(lv_store *s, uint64_t needed, lv_err *err)
{
	const char *path = s->ops.path ? s->ops.path(s->impl) : NULL;
	char *target = NULL;
	lv_err ignored = {0};
	if (!path || lv__store_file_target(path, &target, &ignored))
		return 0; /* an application's own store, or one its open will refuse */
	uint64_t room = lv__store_file_free(target);
	free(target);
	needed += LV_STORE_FILE_SLACK; /* the store's -shm and journal besides the licenses */
	if (room == UINT64_MAX || room >= needed)
		return 0;
	char f[64], n[64];
	lv__store_file_bytes(f, sizeof f, room);
	lv__store_file_bytes(n, sizeof n, needed);
	return lv__err_set(err, LV_E_NO_SPACE,
	                   "no space for the restore on the filesystem of store %s: %s free, the restore needs at least %s "
	                   "(the backup's licenses and the store's journal); nothing was changed",
	                   path, f, n);
}

uint64_t lv__store_size(lv_store *s)
{
	uint64_t n;
	return s->ops.size && s->ops.size(s->impl, &n) == 0 ? n : UINT64_MAX;
}

/* ---- identity ---------------------------------------------------------- */

int lv__host_id(char *out, size_t cap)
{
	char raw[256] = "";
#ifdef LV_TEST_HOOKS
	/* the test build only (liblicvault-testhooks, never installed): tests play another host */
	const char *env = secure_getenv("LICVAULT_HOST_ID");
	if (env && *env)
		snprintf(raw, sizeof raw, "%s", env);
#endif
	if (!raw[0]) {
		FILE *f = fopen("/etc/machine-id", "re");
		if (f) {
			if (!fgets(raw, sizeof raw, f))
				raw[0] = '\0';
			fclose(f);
		}
		raw[strcspn(raw, "\r\n")] = '\0';
		if (!raw[0] && gethostname(raw, sizeof raw) != 0)
			snprintf(raw, sizeof raw, "unknown-host");
	}
	/* never store the machine-id itself: a keyed digest of it */
	uLong a = crc32(0L, (const Bytef *)"licvault-host", 13);
	a = crc32(a, (const Bytef *)raw, (uInt)strlen(raw));
	uLong b = adler32(1L, (const Bytef *)raw, (uInt)strlen(raw));
	snprintf(out, cap, "%08lx%08lx", a & 0xffffffffUL, b & 0xffffffffUL);
	return 0;
}

int lv_store_identity(lv_store *s, lv_identity *out)
{
	if (!s || !out)
		return LV_E_INVALID_ARG;
	enter(s);
	memset(out, 0, sizeof *out);
	char host[64], since[32] = "";
	lv__host_id(host, sizeof host);
	int rc = s->ops.meta_get(s->impl, "machine_id", out->machine_id, sizeof out->machine_id);
	if (rc == LV_E_NOT_FOUND) {
		out->machine_id[0] = '\0';
		snprintf(out->host_id, sizeof out->host_id, "%s", host);
		return 0;
	}
	if (rc)
		return ops_rc(s, rc, "read the machine identity");
	rc = s->ops.meta_get(s->impl, "host_id", out->host_id, sizeof out->host_id);
	if (rc && rc != LV_E_NOT_FOUND)
		return ops_rc(s, rc, "read the machine identity");
	if (s->ops.meta_get(s->impl, "individualized_at", since, sizeof since) == 0)
		out->since = strtoll(since, NULL, 10);
	out->individualized = !strcmp(out->host_id, host);
	out->other_host = !out->individualized;
	return 0;
}

int lv__identity_new(char *machine_id, size_t cap)
{
	unsigned char r[16];
	if (lv__random(r, sizeof r))
		return LV_E_IO;
	if (cap < 33)
		return LV_E_INVALID_ARG;
	lv__hex(machine_id, r, sizeof r);
	return 0;
}

/* Write a new identity (inside the caller's transaction, if any). */
static int write_identity(lv_store *s, const char *id)
{
	char host[64], now[32];
	lv__host_id(host, sizeof host);
	snprintf(now, sizeof now, "%lld", (long long)time(NULL));
	int rc = s->ops.meta_set(s->impl, "machine_id", id);
	if (!rc)
		rc = s->ops.meta_set(s->impl, "host_id", host);
	if (!rc)
		rc = s->ops.meta_set(s->impl, "individualized_at", now);
	return ops_rc(s, rc, "write the machine identity");
}

int lv__store_set_identity(lv_store *s, const char *id)
{
	return write_identity(s, id);
}

int lv_store_individualize(lv_store *s, int *changed)
{
	if (!s)
		return LV_E_INVALID_ARG;
	enter(s);
	lv_identity id;
	int rc = lv_store_identity(s, &id);
	if (rc)
		return rc;
	if (changed)
		*changed = 0;
	if (id.individualized)
		return 0;
	char mid[64];
	if ((rc = lv__identity_new(mid, sizeof mid)))
		return store_error(s, rc, "cannot make a machine identity: no random bytes");
	if ((rc = ops_rc(s, s->ops.begin(s->impl), "begin")))
		return rc;
	rc = write_identity(s, mid);
	if (!rc)
		rc = ops_rc(s, s->ops.commit(s->impl), "commit");
	else
		s->ops.rollback(s->impl);
	if (!rc && changed)
		*changed = 1;
	return rc;
}

/* ---- licenses ---------------------------------------------------------- */

/* Add inside a transaction: bind an unbound license to the store's identity. */
static int add_one(lv_store *s, const lv_license *lic, unsigned flags, const char *machine)
{
	const char *why;
	if (lv_license_validate(lic, &why))
		return store_error(s, LV_E_INVALID_ARG, "license %s: %s", lic && lic->kid ? lic->kid : "?", why);
	lv_license l = *lic;
	if (!l.machine || !*l.machine)
		l.machine = machine;
	return ops_rc(s, s->ops.put(s->impl, &l, flags), "add a license");
}

/*
 * Inside the open transaction: a store that never had an identity gets one
 * when licenses first enter it; *mid gets the identity licenses are bound
 * to.  A store individualized on another host keeps its identity: only a
 * restore with the individualize flag gives it a new one.
 */
static int ensure_identity(lv_store *s, char *mid, size_t cap)
{
	lv_identity id;
	int rc = lv_store_identity(s, &id);
	if (rc)
		return rc;
	if (id.machine_id[0]) {
		snprintf(mid, cap, "%s", id.machine_id);
		return 0;
	}
	if ((rc = lv__identity_new(mid, cap)))
		return store_error(s, rc, "cannot make a machine identity: no random bytes");
	return write_identity(s, mid);
}

int lv_store_transaction(lv_store *s, int (*fn)(lv_store *, void *), void *ud)
{
	if (!s || !fn || s->in_txn)
		return LV_E_INVALID_ARG;
	enter(s);
	int rc = ops_rc(s, s->ops.begin(s->impl), "begin");
	if (rc)
		return rc;
	rc = ensure_identity(s, s->txn_machine, sizeof s->txn_machine);
	s->in_txn = 1;
	if (!rc)
		rc = fn(s, ud);
	s->in_txn = 0;
	if (!rc)
		rc = ops_rc(s, s->ops.commit(s->impl), "commit");
	else
		s->ops.rollback(s->impl);
	return rc;
}

int lv_store_add(lv_store *s, const lv_license *lic, unsigned flags)
{
	if (!s || !lic)
		return LV_E_INVALID_ARG;
	enter(s);
	if (flags & ~LV_PUT_REPLACE)
		return store_error(s, LV_E_INVALID_ARG, "add a license: flags 0x%x are not valid", flags & ~LV_PUT_REPLACE);
	if (s->in_txn)
		return add_one(s, lic, flags, s->txn_machine);
	int rc = ops_rc(s, s->ops.begin(s->impl), "begin");
	if (rc)
		return rc;
	char mid[64];
	rc = ensure_identity(s, mid, sizeof mid);
	if (!rc)
		rc = add_one(s, lic, flags, mid);
	if (!rc)
		rc = ops_rc(s, s->ops.commit(s->impl), "commit");
	else
		s->ops.rollback(s->impl);
	return rc;
}

int lv_store_get(lv_store *s, const char *kid, lv_license **out)
{
	if (!s || !kid || !out)
		return LV_E_INVALID_ARG;
	enter(s);
	return ops_rc(s, s->ops.get(s->impl, kid, out), "read a license");
}

int lv_store_remove(lv_store *s, const char *kid)
{
	if (!s || !kid)
		return LV_E_INVALID_ARG;
	enter(s);
	return ops_rc(s, s->ops.remove(s->impl, kid), "remove a license");
}

int lv_store_count(lv_store *s, uint64_t *out)
{
	if (!s || !out)
		return LV_E_INVALID_ARG;
	enter(s);
	return ops_rc(s, s->ops.count(s->impl, out), "count licenses");
}

int lv_store_foreach(lv_store *s, lv_license_cb cb, void *ud)
{
	if (!s || !cb)
		return LV_E_INVALID_ARG;
	enter(s);
	int rc = s->ops.foreach(s->impl, cb, ud);
	if (rc > 0)
		return rc; /* the callback's own value */
	return ops_rc(s, rc, "list licenses");
}

int lv_store_import_files(lv_store *s, const char *const *paths, size_t n, unsigned flags)
{
	if (!s || (!paths && n))
		return LV_E_INVALID_ARG;
	enter(s);
	if (flags & ~LV_PUT_REPLACE)
		return store_error(s, LV_E_INVALID_ARG, "import license files: flags 0x%x are not valid",
		                   flags & ~LV_PUT_REPLACE);
	int rc = ops_rc(s, s->ops.begin(s->impl), "begin");
	if (rc)
		return rc;
	char mid[64];
	rc = ensure_identity(s, mid, sizeof mid);
	for (size_t i = 0; !rc && i < n; i++) {
		lv_license *lic = NULL;
		char err[LV_ERRMSG_MAX];
		rc = lv_license_parse_file(&lic, paths[i], err, sizeof err);
		if (rc) {
			store_error(s, rc, "%s", err);
			break;
		}
		rc = add_one(s, lic, flags, mid);
		if (rc) {
			lv_err prev;
			lv__err_save(&s->err, &prev);
			lv__err_clear(&s->err);
			store_error(s, rc, "%s: %s", paths[i], prev.msg);
		}
		lv_license_free(lic);
	}
	if (!rc)
		rc = ops_rc(s, s->ops.commit(s->impl), "commit");
	else
		s->ops.rollback(s->impl);
	return rc;
}
