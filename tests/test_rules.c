/*
 * Restore rules: individualization, rebinding, the distinct-machine limit,
 * the per-day limit, the registry, a replaceable license service.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <pthread.h>
#include <unistd.h>
#include <zlib.h>

#include "testutil.h"

static lv_context *ctx;
static char *dir;

static int init(void)
{
	ctx = t_context();
	dir = t_tmpdir();
	unsetenv("LICVAULT_NOW");
	return ctx && dir ? 0 : 1;
}

static int clean(void)
{
	lv_context_free(ctx);
	free(dir);
	unsetenv("LICVAULT_NOW");
	unsetenv("LICVAULT_HOST_ID");
	return 0;
}

static char *P(const char *name)
{
	static char buf[8][600];
	static int k;
	k = (k + 1) % 8;
	snprintf(buf[k], sizeof buf[k], "%s/%s", dir, name);
	return buf[k];
}

static lv_store *fresh(const char *name)
{
	lv_store *s = NULL;
	CU_ASSERT_EQUAL(lv_store_open(&s, ctx, P(name), LV_STORE_CREATE), 0);
	return s;
}

static char *machine_of(lv_store *s, const char *kid)
{
	static char m[80];
	lv_license *l = NULL;
	m[0] = '\0';
	if (lv_store_get(s, kid, &l) == 0) {
		snprintf(m, sizeof m, "%s", l->machine ? l->machine : "");
		lv_license_free(l);
	}
	return m;
}

static void test_individualize_flag(void)
{
	lv_store *src = NULL;
	CU_ASSERT_EQUAL_FATAL(t_make_store(ctx, P("ind-src.db"), 10, &src), 0);
	CU_ASSERT_EQUAL_FATAL(t_backup(ctx, src, P("ind-bk"), 0, NULL), 0);
	lv_store *d = fresh("ind-new.db");
	lv_identity id;
	lv_store_identity(d, &id);
	CU_ASSERT_FALSE(id.individualized);
	CU_ASSERT_STRING_EQUAL(id.machine_id, "");
	t_events ev;
	CU_ASSERT_EQUAL(t_restore(ctx, d, P("ind-bk"), 0, &ev), LV_E_NEEDS_INDIVIDUALIZATION);
	CU_ASSERT_EQUAL(ev.individualize, 0);
	CU_ASSERT_EQUAL(t_count(d), 0);
	lv_store_identity(d, &id);
	CU_ASSERT_STRING_EQUAL(id.machine_id, ""); /* unchanged */
	CU_ASSERT_EQUAL(t_restore(ctx, d, P("ind-bk"), LV_RESTORE_INDIVIDUALIZE, &ev), 0);
	CU_ASSERT_EQUAL(ev.individualize, 1);
	CU_ASSERT_EQUAL(t_count(d), 8);
	lv_store_identity(d, &id);
	CU_ASSERT(id.individualized);
	CU_ASSERT_EQUAL(strlen(id.machine_id), 32);  /* 128 random bits */
	/* rebound to the new machine */
	CU_ASSERT_STRING_EQUAL(machine_of(d, "kid-000001"), id.machine_id);
	lv_identity sid;
	lv_store_identity(src, &sid);
	CU_ASSERT_STRING_NOT_EQUAL(sid.machine_id, id.machine_id);
	CU_ASSERT_STRING_EQUAL(machine_of(src, "kid-000001"), sid.machine_id);
	/* the same machine restoring again: same licenses, no individualization needed */
	CU_ASSERT_EQUAL(t_restore(ctx, src, P("ind-bk"), 0, &ev), 0);
	CU_ASSERT_EQUAL(ev.individualize, 0);
	CU_ASSERT_STRING_EQUAL(machine_of(src, "kid-000001"), sid.machine_id);
	lv_store_free(d);
	lv_store_free(src);
}

static void test_copied_store_other_host(void)
{
	lv_store *src = NULL;
	CU_ASSERT_EQUAL_FATAL(t_make_store(ctx, P("host-src.db"), 5, &src), 0);
	CU_ASSERT_EQUAL_FATAL(t_backup(ctx, src, P("host-bk"), 0, NULL), 0);
	lv_store_free(src);
	/* the same store file seen from another host is no longer individualized there */
	setenv("LICVAULT_HOST_ID", "another-host-entirely", 1);
	lv_store *s = NULL;
	CU_ASSERT_EQUAL_FATAL(lv_store_open(&s, ctx, P("host-src.db"), 0), 0);
	lv_identity id;
	lv_store_identity(s, &id);
	CU_ASSERT_FALSE(id.individualized);
	CU_ASSERT(id.other_host);
	CU_ASSERT_EQUAL(t_restore(ctx, s, P("host-bk"), 0, NULL), LV_E_NEEDS_INDIVIDUALIZATION);
	CU_ASSERT_EQUAL(t_restore(ctx, s, P("host-bk"), LV_RESTORE_INDIVIDUALIZE, NULL), 0);
	lv_store_identity(s, &id);
	CU_ASSERT(id.individualized);
	lv_store_free(s);
	unsetenv("LICVAULT_HOST_ID");
}

static void test_machine_limit(void)
{
	lv_store *src = NULL;
	CU_ASSERT_EQUAL_FATAL(t_make_store(ctx, P("lim-src.db"), 10, &src), 0); /* 8 backed up */
	CU_ASSERT_EQUAL_FATAL(t_backup(ctx, src, P("lim-bk"), 0, NULL), 0);
	/* machine 2 restores; then machine 2 gets one extra license from another backup, so
	 * that a later run has licenses both at and under the limit */
	lv_store *m[6] = {0};
	t_events ev;
	for (int i = 2; i <= 4; i++) {
		char n[32];
		snprintf(n, sizeof n, "lim-m%d.db", i);
		m[i] = fresh(n);
		CU_ASSERT_EQUAL(t_restore(ctx, m[i], P("lim-bk"), LV_RESTORE_INDIVIDUALIZE, &ev), 0);
		CU_ASSERT_EQUAL(t_count(m[i]), 8);
		CU_ASSERT_EQUAL(ev.refused, 0);
	}
	/* the same machine again does not count */
	CU_ASSERT_EQUAL(t_restore(ctx, m[3], P("lim-bk"), 0, &ev), 0);
	CU_ASSERT_EQUAL(ev.refused, 0);
	/* the fifth machine is refused every license */
	m[5] = fresh("lim-m5.db");
	lv_restorer *r = NULL;
	lv_restorer_new(&r, ctx, m[5]);
	lv_restorer_set_string(r, LV_PROP_RESTORE_PATH, P("lim-bk"));
	CU_ASSERT_EQUAL(t_run(r, 'r', LV_RESTORE_INDIVIDUALIZE, &ev), LV_E_RESTORE_LIMIT);
	CU_ASSERT_EQUAL(ev.refused, 8);
	CU_ASSERT_PTR_NOT_NULL(strstr(lv_restorer_last_error(r), "8 of 8"));
	CU_ASSERT_EQUAL(t_count(m[5]), 0);
	lv_restorer_free(r);
	/* the machine that made the backup can still restore it */
	CU_ASSERT_EQUAL(t_restore(ctx, src, P("lim-bk"), 0, &ev), 0);
	CU_ASSERT_EQUAL(ev.refused, 0);
	/* a new backup holding one license more: the fifth machine gets only the new one */
	lv_license l;
	char kid[32];
	unsigned char pl[16];
	t_license(&l, 500, kid, sizeof kid, pl, sizeof pl);
	CU_ASSERT_EQUAL(lv_store_add(src, &l, 0), 0);
	CU_ASSERT_EQUAL(t_backup(ctx, src, P("lim-bk"), LV_BACKUP_OVERWRITE, NULL), 0);
	CU_ASSERT_EQUAL(t_restore(ctx, m[5], P("lim-bk"), 0, &ev), LV_E_RESTORE_LIMIT);
	CU_ASSERT_EQUAL(ev.refused, 8);
	CU_ASSERT_EQUAL(t_count(m[5]), 1);
	lv_license *got = NULL;
	CU_ASSERT_EQUAL(lv_store_get(m[5], "kid-000500", &got), 0);
	lv_license_free(got);
	for (int i = 2; i <= 5; i++)
		lv_store_free(m[i]);
	lv_store_free(src);
}

static void test_daily_limit(void)
{
	lv_store *src = NULL;
	CU_ASSERT_EQUAL_FATAL(t_make_store(ctx, P("day-src.db"), 3, &src), 0);
	CU_ASSERT_EQUAL_FATAL(t_backup(ctx, src, P("day-bk"), 0, NULL), 0);
	setenv("LICVAULT_NOW", "1900000000", 1); /* 2030-03-17 17:46 UTC */
	for (int i = 0; i < 4; i++)
		CU_ASSERT_EQUAL(t_restore(ctx, src, P("day-bk"), 0, NULL), 0);
	lv_restorer *r = NULL;
	lv_restorer_new(&r, ctx, src);
	lv_restorer_set_string(r, LV_PROP_RESTORE_PATH, P("day-bk"));
	unsigned long before = t_store_digest(src);
	CU_ASSERT_EQUAL(t_run(r, 'r', 0, NULL), LV_E_DAILY_LIMIT);
	CU_ASSERT_PTR_NOT_NULL(strstr(lv_restorer_last_error(r), "2030-03-18 00:00 UTC"));
	CU_ASSERT_EQUAL(t_store_digest(src), before);
	/* the next day, it works again */
	setenv("LICVAULT_NOW", "1900050000", 1);
	CU_ASSERT_EQUAL(t_run(r, 'r', 0, NULL), 0);
	lv_restorer_free(r);
	unsetenv("LICVAULT_NOW");
	lv_store_free(src);
}

static void test_registry_corrupt(void)
{
	lv_store *src = NULL;
	CU_ASSERT_EQUAL_FATAL(t_make_store(ctx, P("reg-src.db"), 6, &src), 0);
	CU_ASSERT_EQUAL_FATAL(t_backup(ctx, src, P("reg-bk"), 0, NULL), 0);
	lv_store *m2 = fresh("reg-m2.db");
	CU_ASSERT_EQUAL(t_restore(ctx, m2, P("reg-bk"), LV_RESTORE_INDIVIDUALIZE, NULL), 0);
	char *reg = t_find(P("reg-bk"), ".reg");
	CU_ASSERT_PTR_NOT_NULL_FATAL(reg);
	/* tamper: drop a machine from the count */
	char *out = NULL;
	t_sh(&out, "sed -i '2s/ [0-9a-f]*$//' '%s'", reg);
	free(out);
	lv_store *m3 = fresh("reg-m3.db");
	lv_restorer *r = NULL;
	lv_restorer_new(&r, ctx, m3);
	lv_restorer_set_string(r, LV_PROP_RESTORE_PATH, P("reg-bk"));
	t_events ev;
	CU_ASSERT_EQUAL(t_run(r, 'r', LV_RESTORE_INDIVIDUALIZE, &ev), LV_E_SERVICE_UNAVAILABLE);
	CU_ASSERT_PTR_NOT_NULL(strstr(lv_restorer_last_error(r), "registry"));
	CU_ASSERT_PTR_NOT_NULL(strstr(lv_restorer_last_error(r), "reg-bk"));
	CU_ASSERT_EQUAL(ev.connecting, 1);
	CU_ASSERT_EQUAL(ev.disconnecting, 1);
	CU_ASSERT_EQUAL(t_count(m3), 0);
	lv_identity id;
	lv_store_identity(m3, &id);
	CU_ASSERT_STRING_EQUAL(id.machine_id, ""); /* nothing changed, not even the identity */
	/* garbage instead of a registry: refused too, never reset to empty */
	FILE *f = fopen(reg, "w");
	fputs("nonsense\n", f);
	fclose(f);
	CU_ASSERT_EQUAL(t_run(r, 'r', LV_RESTORE_INDIVIDUALIZE, &ev), LV_E_SERVICE_UNAVAILABLE);
	CU_ASSERT_EQUAL(t_count(m3), 0);
	lv_restorer_free(r);
	free(reg);
	lv_store_free(m2);
	lv_store_free(m3);
	lv_store_free(src);
}

/* Rewrite a registry's lines and its checksum line (so only the format can refuse it). */
static void write_registry(const char *path, const char *body)
{
	char text[4096];
	snprintf(text, sizeof text, "licvault-registry 1\n%s", body);
	uLong crc = crc32(0L, (const Bytef *)text, (uInt)strlen(text));
	FILE *f = fopen(path, "w");
	fprintf(f, "%scrc %08lx\n", text, crc & 0xffffffffUL);
	fclose(f);
}

static void test_registry_format(void)
{
	lv_store *src = NULL;
	CU_ASSERT_EQUAL_FATAL(t_make_store(ctx, P("rf-src.db"), 8, &src), 0);
	CU_ASSERT_EQUAL_FATAL(t_backup(ctx, src, P("rf-bk"), 0, NULL), 0);
	for (int i = 0; i < 3; i++) {
		char name[32];
		snprintf(name, sizeof name, "rf-m%d.db", i);
		lv_store *m = fresh(name);
		CU_ASSERT_EQUAL(t_restore(ctx, m, P("rf-bk"), LV_RESTORE_INDIVIDUALIZE, NULL), 0);
		lv_store_free(m);
	}
	/* what licvault wrote follows the documented format, line by line */
	char *reg = t_find(P("rf-bk"), ".reg");
	CU_ASSERT_PTR_NOT_NULL_FATAL(reg);
	char *out = NULL;
	CU_ASSERT_EQUAL(t_sh(&out, "grep -v -E -c '^(licvault-registry 1|kid [!-~]{1,128}( [0-9a-f]{1,64}){1,64}|crc [0-9a-f]{8})$' '%s'",
	                     reg), 1); /* grep -c finds no other line: exit 1, count 0 */
	CU_ASSERT(out && atoi(out) == 0);
	free(out);
	/* a registry that does not follow it (a double space, upper-case hex), though its checksum holds:
	 * refused, never copied on or rewritten */
	const char *bad[] = {"kid kid-000001 ab  cd\n", "kid kid-000001 ABCD\n"};
	for (int i = 0; i < 2; i++) {
		write_registry(reg, bad[i]);
		unsigned long size = (unsigned long)t_file_size(reg);
		lv_store *m = fresh(i ? "rf-x1.db" : "rf-x0.db");
		t_events ev;
		CU_ASSERT_EQUAL(t_restore(ctx, m, P("rf-bk"), LV_RESTORE_INDIVIDUALIZE, &ev), LV_E_SERVICE_UNAVAILABLE);
		CU_ASSERT_PTR_NOT_NULL(strstr(ev.end_message, "does not follow the registry's format"));
		CU_ASSERT_EQUAL((unsigned long)t_file_size(reg), size);
		CU_ASSERT_EQUAL(t_count(m), 0);
		lv_store_free(m);
	}
	free(reg);
	lv_store_free(src);
}

typedef struct day_run {
	lv_context *c;
	lv_store *s;
	const char *uri;
	int rc;
} day_run;

static void *day_restore(void *p)
{
	day_run *d = p;
	d->rc = t_restore(d->c, d->s, d->uri, 0, NULL);
	return NULL;
}

static void test_daily_limit_two_at_once(void)
{
	/* restores_per_day = 1: two restores of one store at once, one of them only */
	char cfg[600];
	snprintf(cfg, sizeof cfg, "%s/day1.conf", dir);
	FILE *f = fopen(cfg, "w");
	fprintf(f, "[service]\nrestores_per_day = 1\nmax_machines = 64\n");
	fclose(f);
	lv_context *c = NULL;
	CU_ASSERT_EQUAL_FATAL(lv_context_new(&c), 0);
	CU_ASSERT_EQUAL_FATAL(lv_context_load_config(c, cfg), 0);
	lv_store *src = NULL;
	CU_ASSERT_EQUAL_FATAL(t_make_store(c, P("d2-src.db"), 400, &src), 0);
	/* two backups: two locations, so the location lock does not order the restores; the store does */
	CU_ASSERT_EQUAL_FATAL(t_backup(c, src, P("d2-bkA"), 0, NULL), 0);
	CU_ASSERT_EQUAL_FATAL(t_backup(c, src, P("d2-bkB"), 0, NULL), 0);
	for (int round = 0; round < 3; round++) {
		char name[32];
		snprintf(name, sizeof name, "d2-t%d.db", round);
		lv_store *t = NULL;
		CU_ASSERT_EQUAL_FATAL(t_make_store(c, P(name), 1, &t), 0);
		day_run a = {c, t, P("d2-bkA"), -99}, b = {c, t, P("d2-bkB"), -99};
		pthread_t ta, tb;
		pthread_create(&ta, NULL, day_restore, &a);
		pthread_create(&tb, NULL, day_restore, &b);
		pthread_join(ta, NULL);
		pthread_join(tb, NULL);
		int ok = (a.rc == 0) + (b.rc == 0);
		CU_ASSERT_EQUAL(ok, 1);
		int other = a.rc ? a.rc : b.rc;
		CU_ASSERT(other == LV_E_DAILY_LIMIT || other == LV_E_BUSY);
		if (other != LV_E_DAILY_LIMIT && other != LV_E_BUSY)
			fprintf(stderr, "\n  the other restore: %s\n", lv_error_name(other));
		lv_store_free(t);
	}
	lv_store_free(src);
	lv_context_free(c);
}

static void test_registry_unreachable(void)
{
	lv_store *src = NULL;
	CU_ASSERT_EQUAL_FATAL(t_make_store(ctx, P("unr-src.db"), 4, &src), 0);
	CU_ASSERT_EQUAL_FATAL(t_backup(ctx, src, P("unr-bk"), 0, NULL), 0);
	/* a config naming a service location that cannot be opened */
	char *cfg = P("unr.conf");
	FILE *f = fopen(cfg, "w");
	fprintf(f, "[service]\nlocation = nosuch://registry/host\n");
	fclose(f);
	lv_context *c2 = t_context();
	CU_ASSERT_EQUAL_FATAL(lv_context_load_config(c2, cfg), 0);
	lv_store *m2 = NULL;
	CU_ASSERT_EQUAL(lv_store_open(&m2, c2, P("unr-m2.db"), LV_STORE_CREATE), 0);
	lv_restorer *r = NULL;
	lv_restorer_new(&r, c2, m2);
	lv_restorer_set_string(r, LV_PROP_RESTORE_PATH, P("unr-bk"));
	CU_ASSERT_EQUAL(t_run(r, 'r', LV_RESTORE_INDIVIDUALIZE, NULL), LV_E_SERVICE_UNAVAILABLE);
	CU_ASSERT_PTR_NOT_NULL(strstr(lv_restorer_last_error(r), "nosuch://registry/host"));
	CU_ASSERT_EQUAL(t_count(m2), 0);
	lv_restorer_free(r);
	/* a service location that is full: NO_SPACE (what to do about it), not "unavailable" */
	f = fopen(cfg, "w");
	fprintf(f, "[licvault]\ndriver_path = %s:%s/testdrivers\n", LV_TEST_DRIVER_DIR, LV_TEST_BUILD_DIR);
	fprintf(f, "[service]\nlocation = fault+file://%s\n[driver \"fault\"]\nop = write\nmatch = licvault-registry\n"
	        "count = 0\nerror = NO_SPACE\n", P("unr-full"));
	fclose(f);
	lv_context *c3 = t_context(); /* a new context: the drivers of c2 are loaded already */
	CU_ASSERT_EQUAL_FATAL(lv_context_load_config(c3, cfg), 0);
	lv_store *m3 = NULL;
	CU_ASSERT_EQUAL(lv_store_open(&m3, c3, P("unr-m2.db"), LV_STORE_CREATE), 0);
	lv_restorer_new(&r, c3, m3);
	lv_restorer_set_string(r, LV_PROP_RESTORE_PATH, P("unr-bk"));
	int full_rc = t_run(r, 'r', LV_RESTORE_INDIVIDUALIZE, NULL);
	if (full_rc != LV_E_NO_SPACE)
		fprintf(stderr, "\n  full registry: %s: %s\n", lv_error_name(full_rc), lv_restorer_last_error(r));
	CU_ASSERT_EQUAL(full_rc, LV_E_NO_SPACE);
	CU_ASSERT_PTR_NOT_NULL(strstr(lv_restorer_last_error(r), "license service registry at fault+file://"));
	CU_ASSERT_EQUAL(t_count(m3), 0);
	lv_restorer_free(r);
	lv_store_free(m3);
	lv_context_free(c3);
	/* a service location that works: the registry goes there, not to the backup */
	f = fopen(cfg, "w");
	fprintf(f, "[service]\nlocation = %s\n", P("unr-registry"));
	fclose(f);
	CU_ASSERT_EQUAL(lv_context_load_config(c2, cfg), 0);
	CU_ASSERT_EQUAL(t_restore(c2, m2, P("unr-bk"), LV_RESTORE_INDIVIDUALIZE, NULL), 0);
	char *reg = t_find(P("unr-registry"), ".reg");
	CU_ASSERT_PTR_NOT_NULL(reg);
	free(reg);
	CU_ASSERT_PTR_NULL(t_find(P("unr-bk"), ".reg"));
	lv_store_free(m2);
	lv_context_free(c2);
	lv_store_free(src);
}

/* ---- an application's own service ---------------------------------------- */

typedef struct my_svc {
	int begins, decides, ends, commits, freed;
	char refuse[32];
} my_svc;

static int my_begin(void *ud, lv_service_call *call, void **session)
{
	my_svc *s = ud;
	s->begins++;
	CU_ASSERT_EQUAL(lv_call_license_count(call), 8);
	CU_ASSERT(strlen(lv_call_backup_id(call)) == 32);
	*session = s;
	return 0;
}
static int my_decide(void *session, lv_service_call *call, const char *kid, int *decision)
{
	my_svc *s = session;
	(void)call;
	s->decides++;
	*decision = strcmp(kid, s->refuse) == 0 ? LV_DECIDE_REFUSE : LV_DECIDE_REBIND;
	return 0;
}
static int my_end(void *session, lv_service_call *call, int commit)
{
	my_svc *s = session;
	(void)call;
	s->ends++;
	s->commits += commit;
	return 0;
}
static void my_free(void *ud) { ((my_svc *)ud)->freed++; }
static const lv_service my_service = {LV_SERVICE_VERSION, my_begin, my_decide, my_end, my_free};

/*
 * A store of 10 licenses backed up to P(TAG-bk) (*src), and a context whose
 * service is s, refusing kid-000002: what a restore of that backup meets.
 */
static lv_context *refusing_context(const char *tag, lv_store **src, my_svc *s)
{
	char name[64];
	snprintf(name, sizeof name, "%s-src.db", tag);
	CU_ASSERT_EQUAL_FATAL(t_make_store(ctx, P(name), 10, src), 0);
	snprintf(name, sizeof name, "%s-bk", tag);
	CU_ASSERT_EQUAL_FATAL(t_backup(ctx, *src, P(name), 0, NULL), 0);
	lv_context *c2 = t_context();
	*s = (my_svc){0};
	snprintf(s->refuse, sizeof s->refuse, "kid-000002");
	CU_ASSERT_EQUAL(lv_context_set_service(c2, NULL, NULL), LV_E_INVALID_ARG);
	CU_ASSERT_EQUAL_FATAL(lv_context_set_service(c2, &my_service, s), 0);
	return c2;
}

static void test_custom_service(void)
{
	lv_store *src = NULL;
	my_svc s;
	lv_context *c2 = refusing_context("svc", &src, &s);
	lv_store *d = NULL;
	lv_store_open(&d, c2, P("svc-new.db"), LV_STORE_CREATE);
	t_events ev;
	CU_ASSERT_EQUAL(t_restore(c2, d, P("svc-bk"), LV_RESTORE_INDIVIDUALIZE, &ev), LV_E_RESTORE_LIMIT);
	CU_ASSERT_EQUAL(s.begins, 1);
	CU_ASSERT_EQUAL(s.decides, 8);
	CU_ASSERT_EQUAL(s.ends, 1);
	CU_ASSERT_EQUAL(s.commits, 1);
	CU_ASSERT_EQUAL(ev.refused, 1);
	CU_ASSERT_EQUAL(t_count(d), 7);
	/* the events around the service are the original's */
	int want[] = {LV_STATUS_BEGIN, LV_STATUS_CONNECTING, LV_STATUS_INDIVIDUALIZE, LV_STATUS_REFUSED_LICENSE,
	              LV_STATUS_DISCONNECTING, LV_STATUS_END};
	CU_ASSERT_EQUAL(ev.norder, 6);
	for (int i = 0; i < 6 && i < ev.norder; i++)
		CU_ASSERT_EQUAL(ev.order[i], want[i]);
	/* the built-in service wrote no registry: the application's service decided */
	CU_ASSERT_PTR_NULL(t_find(P("svc-bk"), ".reg"));
	lv_store_free(d);
	lv_context_free(c2);
	CU_ASSERT_EQUAL(s.freed, 1);
	lv_store_free(src);
}

/*
 * Cancels its run at a PROGRESS with every license done, once what the run
 * makes can be seen from outside (it committed): the file `manifest`
 * exists, or the store at `store` holds `want` licenses (its own
 * connection, which sees only what was committed).
 */
typedef struct late_cancel {
	lv_restorer *r;
	lv_context *ctx;
	const char *manifest, *store;
	size_t want;
	int canceled, end_result, ends;
} late_cancel;

static int committed_yet(late_cancel *lc)
{
	if (lc->manifest)
		return access(lc->manifest, F_OK) == 0;
	lv_store *s = NULL;
	if (lv_store_open(&s, lc->ctx, lc->store, 0))
		return 0;
	int yes = t_count(s) == lc->want;
	lv_store_free(s);
	return yes;
}

static void late_cancel_cb(int status, int result, const lv_value *v, void *ud)
{
	late_cancel *lc = ud;
	if (status == LV_STATUS_PROGRESS && !lc->canceled && v->u.progress.done == v->u.progress.total &&
	    committed_yet(lc)) {
		lv_restorer_cancel(lc->r);
		lc->canceled = 1;
	}
	if (status == LV_STATUS_END) {
		lc->end_result = result;
		lc->ends++;
	}
}

/* A cancel that comes once the import committed is too late: the run keeps its own result. */
static void test_cancel_after_commit(void)
{
	lv_store *src = NULL;
	my_svc s;
	lv_context *c2 = refusing_context("late", &src, &s);
	lv_store *d = NULL;
	CU_ASSERT_EQUAL_FATAL(lv_store_open(&d, c2, P("late-new.db"), LV_STORE_CREATE), 0);
	lv_restorer *r = NULL;
	CU_ASSERT_EQUAL_FATAL(lv_restorer_new(&r, c2, d), 0);
	lv_restorer_set_string(r, LV_PROP_RESTORE_PATH, P("late-bk"));
	late_cancel lc = {.r = r, .ctx = c2, .store = P("late-new.db"), .want = 7};
	CU_ASSERT_EQUAL_FATAL(lv_restorer_restore(r, LV_RESTORE_INDIVIDUALIZE, late_cancel_cb, &lc), 0);
	int result = 0;
	lv_restorer_wait(r, &result);
	/* 7 of 8 stored and committed: RESTORE_LIMIT, not "canceled; nothing was changed" */
	CU_ASSERT_EQUAL(result, LV_E_RESTORE_LIMIT);
	CU_ASSERT_EQUAL(lc.end_result, LV_E_RESTORE_LIMIT);
	CU_ASSERT_EQUAL(lc.ends, 1);
	CU_ASSERT_EQUAL(lc.canceled, 1);
	CU_ASSERT_PTR_NULL(strstr(lv_restorer_last_error(r), "canceled"));
	lv_run_result res;
	CU_ASSERT_EQUAL(lv_restorer_result(r, &res), 0);
	CU_ASSERT_EQUAL(res.restored, 7);
	CU_ASSERT_EQUAL(t_count(d), 7);
	CU_ASSERT_EQUAL(s.commits, 1);
	/* a backup canceled at its last progress (its generation published and checked) succeeds */
	lv_restorer *b = NULL;
	CU_ASSERT_EQUAL_FATAL(lv_restorer_new(&b, c2, src), 0);
	lv_restorer_set_string(b, LV_PROP_BACKUP_PATH, P("late-bk"));
	char man[600];
	snprintf(man, sizeof man, "%s/licvault-g0000000000000002.manifest", P("late-bk"));
	late_cancel lb = {.r = b, .manifest = man};
	CU_ASSERT_EQUAL_FATAL(lv_restorer_backup(b, LV_BACKUP_OVERWRITE, late_cancel_cb, &lb), 0);
	lv_restorer_wait(b, &result);
	CU_ASSERT_EQUAL(result, 0);
	if (result)
		fprintf(stderr, "  backup: %s\n", lv_restorer_last_error(b));
	CU_ASSERT_EQUAL(lb.canceled, 1);
	CU_ASSERT_EQUAL(lv_restorer_result(b, &res), 0);
	CU_ASSERT_EQUAL(res.generation, 2);
	lv_restorer_free(b);
	lv_restorer_free(r);
	lv_store_free(d);
	lv_context_free(c2);
	lv_store_free(src);
}

LV_SUITE(rules, rules, init, clean,
         {"individualize flag required and honoured", test_individualize_flag},
         {"a store copied to another host", test_copied_store_other_host},
         {"four distinct machines per license", test_machine_limit},
         {"per-day limit and its reset", test_daily_limit},
         {"corrupt registry is SERVICE_UNAVAILABLE", test_registry_corrupt},
         {"the registry written follows its documented format", test_registry_format},
         {"restores_per_day = 1: two restores at once, one of them", test_daily_limit_two_at_once},
         {"unreachable registry is SERVICE_UNAVAILABLE", test_registry_unreachable},
         {"an application's own service", test_custom_service},
         {"a cancel after the commit is too late", test_cancel_after_commit})
