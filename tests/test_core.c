/*
 * The core: properties, runs, events, the backup set and its commit
 * protocol, corruption, cancellation, BUSY, stores.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/wait.h>
#include <sys/stat.h>

#include "testutil.h"

static lv_context *ctx;
static char *dir;

static int init(void)
{
	ctx = t_context();
	dir = t_tmpdir();
	return ctx && dir ? 0 : 1;
}

static int clean(void)
{
	lv_context_free(ctx);
	free(dir);
	return 0;
}

static char *path(const char *fmt, const char *name)
{
	static char buf[8][600];
	static int k;
	k = (k + 1) % 8;
	snprintf(buf[k], sizeof buf[k], fmt, dir, name);
	return buf[k];
}
#define P(name) path("%s/%s", name)
#define U(name) path("file://%s/%s", name)

static void test_error_names(void)
{
	CU_ASSERT_STRING_EQUAL(lv_error_name(0), "OK");
	CU_ASSERT_STRING_EQUAL(lv_error_name(LV_E_BACKUP_EXISTS), "BACKUP_EXISTS");
	CU_ASSERT_STRING_EQUAL(lv_error_name(LV_E_NEEDS_INDIVIDUALIZATION), "NEEDS_INDIVIDUALIZATION");
	CU_ASSERT_STRING_EQUAL(lv_error_name(LV_E_NOMEM), "NOMEM");
	CU_ASSERT_STRING_EQUAL(lv_error_name(12345), "UNKNOWN");
	for (int c = 0; c > LV_E__LAST; c--) {
		CU_ASSERT_PTR_NOT_NULL(lv_strerror(c));
		CU_ASSERT(strcmp(lv_error_name(c), "UNKNOWN") != 0);
	}
	CU_ASSERT_STRING_EQUAL(lv_status_name(LV_STATUS_RESTRICTED_LICENSE), "restricted_license");
}

static void test_props(void)
{
	lv_store *s = NULL;
	CU_ASSERT_EQUAL_FATAL(t_make_store(ctx, P("props.db"), 0, &s), 0);
	lv_restorer *r = NULL;
	CU_ASSERT_EQUAL_FATAL(lv_restorer_new(&r, ctx, s), 0);
	size_t n = 99;
	lv_restorer_prop_count(r, &n);
	CU_ASSERT_EQUAL(n, 0);
	/* NO_PATH before BackupPath is set; the callback is never called */
	t_events ev;
	CU_ASSERT_EQUAL(t_run(r, 'b', 0, &ev), LV_E_NO_PATH);
	CU_ASSERT_EQUAL(ev.begin + ev.end, 0);
	CU_ASSERT_EQUAL(t_run(r, 'r', 0, &ev), LV_E_NO_PATH);
	/* non-string values are INVALID_ARG */
	lv_value v = {.type = LV_TYPE_INT};
	v.u.i = 3;
	CU_ASSERT_EQUAL(lv_restorer_set_prop(r, LV_PROP_BACKUP_PATH, &v), LV_E_INVALID_ARG);
	v.type = LV_TYPE_BOOL;
	CU_ASSERT_EQUAL(lv_restorer_set_prop(r, LV_PROP_BACKUP_PATH, &v), LV_E_INVALID_ARG);
	v.type = LV_TYPE_STRING;
	v.u.str = NULL;
	CU_ASSERT_EQUAL(lv_restorer_set_prop(r, LV_PROP_BACKUP_PATH, &v), LV_E_INVALID_ARG);
	CU_ASSERT_EQUAL(lv_restorer_set_string(r, LV_PROP_BACKUP_PATH, "file:///a"), 0);
	CU_ASSERT_EQUAL(lv_restorer_set_string(r, LV_PROP_RESTORE_PATH, "file:///b"), 0);
	CU_ASSERT_EQUAL(lv_restorer_set_string(r, LV_PROP_BACKUP_PATH, "file:///c"), 0); /* replaces */
	lv_restorer_prop_count(r, &n);
	CU_ASSERT_EQUAL(n, 2);
	lv_value got;
	CU_ASSERT_EQUAL(lv_restorer_get_prop(r, LV_PROP_BACKUP_PATH, &got), 0);
	CU_ASSERT_EQUAL(got.type, LV_TYPE_STRING);
	CU_ASSERT_STRING_EQUAL(got.u.str, "file:///c");
	const char *name;
	CU_ASSERT_EQUAL(lv_restorer_get_prop_at(r, 1, &name, &got), 0);
	CU_ASSERT_STRING_EQUAL(name, LV_PROP_RESTORE_PATH);
	CU_ASSERT_STRING_EQUAL(got.u.str, "file:///b");
	CU_ASSERT_EQUAL(lv_restorer_get_prop_at(r, 2, &name, &got), LV_E_NOT_FOUND);
	CU_ASSERT_EQUAL(lv_restorer_get_prop(r, "Nope", &got), LV_E_NOT_FOUND);
	CU_ASSERT_EQUAL(lv_restorer_remove_prop(r, LV_PROP_BACKUP_PATH), 0);
	CU_ASSERT_EQUAL(lv_restorer_remove_prop(r, LV_PROP_BACKUP_PATH), LV_E_NOT_FOUND);
	CU_ASSERT_EQUAL(lv_restorer_get_prop(r, LV_PROP_BACKUP_PATH, &got), LV_E_NOT_FOUND);
	CU_ASSERT_EQUAL(lv_restorer_remove_all_props(r), 0);
	lv_restorer_prop_count(r, &n);
	CU_ASSERT_EQUAL(n, 0);
	/* bad flags */
	lv_restorer_set_string(r, LV_PROP_BACKUP_PATH, U("props-bk"));
	CU_ASSERT_EQUAL(t_run(r, 'b', LV_RESTORE_INDIVIDUALIZE, &ev), LV_E_INVALID_ARG);
	lv_restorer_free(r);
	lv_store_free(s);
}

static void noop_cb(int status, int result, const lv_value *v, void *ud)
{
	(void)status;
	(void)result;
	(void)v;
	(void)ud;
}

/* A start call that fails starts nothing: wait says 0, and lv_restorer_result keeps the last run that ended. */
static void test_failed_starts(void)
{
	lv_store *s = NULL;
	CU_ASSERT_EQUAL_FATAL(t_make_store(ctx, P("fstart.db"), 10, &s), 0);
	CU_ASSERT_EQUAL_FATAL(t_backup(ctx, s, U("fstart-bk"), 0, NULL), 0);
	lv_restorer *r = NULL;
	CU_ASSERT_EQUAL_FATAL(lv_restorer_new(&r, ctx, s), 0);
	lv_restorer_set_string(r, LV_PROP_BACKUP_PATH, U("fstart-bk"));
	t_events ev;
	CU_ASSERT_EQUAL(t_run(r, 'b', 0, &ev), LV_E_BACKUP_EXISTS); /* a run that ended, failed */
	int result = -1;
	/* bad flags: refused, and wait no longer reports the run before */
	CU_ASSERT_EQUAL(lv_restorer_backup(r, 0x100, noop_cb, NULL), LV_E_INVALID_ARG);
	CU_ASSERT_EQUAL(lv_restorer_wait(r, &result), 0);
	CU_ASSERT_EQUAL(result, 0);
	lv_run_result res;
	CU_ASSERT_EQUAL(lv_restorer_result(r, &res), 0);
	CU_ASSERT_EQUAL(res.result, LV_E_BACKUP_EXISTS);
	/* no path: the same */
	lv_restorer_remove_prop(r, LV_PROP_BACKUP_PATH);
	CU_ASSERT_EQUAL(t_run(r, 'b', 0, &ev), LV_E_NO_PATH);
	CU_ASSERT_EQUAL(lv_restorer_wait(r, &result), 0);
	CU_ASSERT_EQUAL(result, 0);
	CU_ASSERT_EQUAL(lv_restorer_result(r, &res), 0);
	CU_ASSERT_EQUAL(res.result, LV_E_BACKUP_EXISTS);
	/* a Generation is digits only: no sign, no space */
	lv_restorer_set_string(r, LV_PROP_RESTORE_PATH, U("fstart-bk"));
	const char *bad[] = {" 1", "+1", "\t1", "1 ", "-1", "0", "", "1x"};
	for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
		lv_restorer_set_string(r, LV_PROP_GENERATION, bad[i]);
		CU_ASSERT_EQUAL(t_run(r, 'v', 0, &ev), LV_E_INVALID_ARG);
		CU_ASSERT_EQUAL(ev.begin + ev.end, 0);
		CU_ASSERT_PTR_NOT_NULL(strstr(lv_restorer_last_error(r), "expected a generation number"));
	}
	lv_restorer_set_string(r, LV_PROP_GENERATION, "1");
	CU_ASSERT_EQUAL(t_run(r, 'v', 0, &ev), 0);
	lv_restorer_free(r);
	lv_store_free(s);
}

static void test_round_trip_events(void)
{
	lv_store *s = NULL, *d = NULL;
	CU_ASSERT_EQUAL_FATAL(t_make_store(ctx, P("rt.db"), 50, &s), 0);
	t_events ev;
	CU_ASSERT_EQUAL_FATAL(t_backup(ctx, s, U("rt-bk"), 0, &ev), 0);
	CU_ASSERT_EQUAL(ev.begin, 1);
	CU_ASSERT_EQUAL(ev.end, 1);
	CU_ASSERT_EQUAL(ev.order[0], LV_STATUS_BEGIN);
	CU_ASSERT_EQUAL(ev.order[ev.norder - 1], LV_STATUS_END);
	CU_ASSERT_EQUAL(ev.restricted, 10);          /* every 5th license has no backup right */
	CU_ASSERT_STRING_EQUAL(ev.last_restricted, "kid-000049|Title 49");
	CU_ASSERT(ev.progress >= 1);
	CU_ASSERT_EQUAL(ev.connecting, 0);
	/* the set: two objects, never one per license */
	char *out = NULL;
	t_sh(&out, "ls '%s' | wc -l", P("rt-bk"));
	CU_ASSERT_EQUAL(atoi(out), 2);
	free(out);

	CU_ASSERT_EQUAL_FATAL(lv_store_open(&d, ctx, P("rt-new.db"), LV_STORE_CREATE), 0);
	CU_ASSERT_EQUAL(t_restore(ctx, d, U("rt-bk"), LV_RESTORE_INDIVIDUALIZE, &ev), 0);
	int want[] = {LV_STATUS_BEGIN, LV_STATUS_CONNECTING, LV_STATUS_INDIVIDUALIZE, LV_STATUS_DISCONNECTING,
	              LV_STATUS_END};
	CU_ASSERT_EQUAL(ev.norder, 5);
	for (int i = 0; i < 5 && i < ev.norder; i++)
		CU_ASSERT_EQUAL(ev.order[i], want[i]);
	CU_ASSERT_EQUAL(t_count(d), 40);
	lv_license *a = NULL, *b = NULL;
	CU_ASSERT_EQUAL_FATAL(lv_store_get(s, "kid-000007", &a), 0);
	CU_ASSERT_EQUAL_FATAL(lv_store_get(d, "kid-000007", &b), 0);
	CU_ASSERT_STRING_EQUAL(a->title, b->title);
	CU_ASSERT_EQUAL(a->payload_len, b->payload_len);
	CU_ASSERT(memcmp(a->payload, b->payload, a->payload_len) == 0);
	CU_ASSERT_EQUAL(a->issued, b->issued);
	CU_ASSERT_EQUAL(a->rights, b->rights);
	CU_ASSERT_PTR_NOT_NULL(b->machine);
	lv_license_free(a);
	lv_license_free(b);
	CU_ASSERT_EQUAL(lv_store_get(d, "kid-000004", &b), LV_E_NOT_FOUND); /* restricted: not backed up */
	lv_store_free(s);
	lv_store_free(d);
}

static void test_backup_exists_and_overwrite(void)
{
	lv_store *s = NULL;
	CU_ASSERT_EQUAL_FATAL(t_make_store(ctx, P("ex.db"), 20, &s), 0);
	t_events ev;
	CU_ASSERT_EQUAL_FATAL(t_backup(ctx, s, U("ex-bk"), 0, &ev), 0);
	char *m1 = t_find(P("ex-bk"), ".manifest");
	CU_ASSERT_PTR_NOT_NULL_FATAL(m1);
	CU_ASSERT_EQUAL(t_backup(ctx, s, U("ex-bk"), 0, &ev), LV_E_BACKUP_EXISTS);
	CU_ASSERT_EQUAL(ev.result, LV_E_BACKUP_EXISTS);
	CU_ASSERT_EQUAL(ev.end, 1);
	CU_ASSERT(access(m1, F_OK) == 0); /* untouched */
	/* more licenses, then overwrite: a new generation on top; the old one stays (keep = 3) */
	lv_license l;
	char kid[32];
	unsigned char pl[10];
	t_license(&l, 1000, kid, sizeof kid, pl, sizeof pl);
	CU_ASSERT_EQUAL(lv_store_add(s, &l, 0), 0);
	CU_ASSERT_EQUAL(t_backup(ctx, s, U("ex-bk"), LV_BACKUP_OVERWRITE, &ev), 0);
	CU_ASSERT(access(m1, F_OK) == 0);
	char *out = NULL;
	t_sh(&out, "ls -A '%s' | wc -l", P("ex-bk"));
	CU_ASSERT_EQUAL(atoi(out), 4);  /* two generations, no temporaries */
	free(out);
	lv_store *d = NULL;
	lv_store_open(&d, ctx, P("ex-new.db"), LV_STORE_CREATE);
	CU_ASSERT_EQUAL(t_restore(ctx, d, U("ex-bk"), LV_RESTORE_INDIVIDUALIZE, &ev), 0);
	CU_ASSERT_EQUAL(t_count(d), 17); /* 16 of 20 + the new one */
	free(m1);
	lv_store_free(d);
	lv_store_free(s);
}

/* A damaged backup: restore fails with BACKUP_CORRUPT and the store is unchanged. */
static void corrupt_case(const char *tag, const char *suffix, long offset, long truncate_to, int remove_it,
                         int expect)
{
	char name[64], db[64];
	snprintf(name, sizeof name, "cor-%s", tag);
	snprintf(db, sizeof db, "cor-%s.db", tag);
	lv_store *s = NULL, *d = NULL;
	CU_ASSERT_EQUAL_FATAL(t_make_store(ctx, P(db), 30, &s), 0);
	CU_ASSERT_EQUAL_FATAL(t_backup(ctx, s, U(name), 0, NULL), 0);
	char *f = t_find(P(name), suffix);
	CU_ASSERT_PTR_NOT_NULL_FATAL(f);
	long size = t_file_size(f);
	if (remove_it)
		unlink(f);
	else if (truncate_to >= 0)
		t_truncate(f, truncate_to);
	else if (offset == -2) {
		FILE *x = fopen(f, "ab");
		fputs("garbage", x);
		fclose(x);
	} else
		t_flip_byte(f, offset >= 0 ? offset : size / 2);
	/* the target store already holds licenses: it must stay exactly as it was */
	char db2[64];
	snprintf(db2, sizeof db2, "cor-%s-target.db", tag);
	CU_ASSERT_EQUAL_FATAL(t_make_store(ctx, P(db2), 3, &d), 0);
	unsigned long before = t_store_digest(d);
	t_events ev;
	lv_restorer *r = NULL;
	lv_restorer_new(&r, ctx, d);
	lv_restorer_set_string(r, LV_PROP_RESTORE_PATH, U(name));
	int rc = t_run(r, 'r', LV_RESTORE_INDIVIDUALIZE, &ev);
	CU_ASSERT_EQUAL(rc, expect);
	if (rc != expect)
		fprintf(stderr, "\n%s: got %s: %s\n", tag, lv_error_name(rc), lv_restorer_last_error(r));
	CU_ASSERT(strlen(lv_restorer_last_error(r)) > 10);
	CU_ASSERT_EQUAL(ev.end, 1);
	CU_ASSERT_EQUAL(ev.result, expect);
	CU_ASSERT_EQUAL(t_store_digest(d), before);
	CU_ASSERT_EQUAL(t_count(d), 3);
	/* verify says the same */
	CU_ASSERT_EQUAL(t_verify(ctx, d, U(name), NULL), expect);
	lv_restorer_free(r);
	free(f);
	lv_store_free(s);
	lv_store_free(d);
}

static void test_corrupt_pack_byte(void) { corrupt_case("packbyte", ".pack", -1, -1, 0, LV_E_BACKUP_CORRUPT); }
static void test_corrupt_pack_header(void) { corrupt_case("packhdr", ".pack", 3, -1, 0, LV_E_BACKUP_CORRUPT); }
static void test_corrupt_manifest_byte(void) { corrupt_case("manbyte", ".manifest", -1, -1, 0, LV_E_BACKUP_CORRUPT); }
static void test_truncated_pack(void) { corrupt_case("packtrunc", ".pack", 0, 1000, 0, LV_E_BACKUP_CORRUPT); }
static void test_truncated_manifest(void) { corrupt_case("mantrunc", ".manifest", 0, 200, 0, LV_E_BACKUP_CORRUPT); }
static void test_trailing_garbage(void) { corrupt_case("trail", ".pack", -2, -1, 0, LV_E_BACKUP_CORRUPT); }
static void test_missing_manifest(void) { corrupt_case("noman", ".manifest", 0, -1, 1, LV_E_BACKUP_CORRUPT); }
static void test_missing_pack(void) { corrupt_case("nopack", ".pack", 0, -1, 1, LV_E_BACKUP_CORRUPT); }

static void test_no_backup(void)
{
	lv_store *d = NULL;
	t_make_store(ctx, P("none.db"), 0, &d);
	t_events ev;
	CU_ASSERT_EQUAL(t_restore(ctx, d, U("does-not-exist"), LV_RESTORE_INDIVIDUALIZE, &ev), LV_E_NOT_FOUND);
	CU_ASSERT_EQUAL(t_verify(ctx, d, U("does-not-exist"), &ev), LV_E_NOT_FOUND);
	lv_store_free(d);
}

/* ---- cancel and busy ----------------------------------------------------- */

typedef struct {
	lv_restorer *r;
	pthread_mutex_t m;
	pthread_cond_t c;
	int at_begin, release;
	int result, ended;
	int cancel_on_progress;
	int cancel_at_progress; /* at the first PROGRESS event */
} hold_t;

static void hold_cb(int status, int result, const lv_value *v, void *ud)
{
	hold_t *h = ud;
	(void)v;
	if (status == LV_STATUS_BEGIN) {
		pthread_mutex_lock(&h->m);
		h->at_begin = 1;
		pthread_cond_broadcast(&h->c);
		while (!h->release)
			pthread_cond_wait(&h->c, &h->m);
		pthread_mutex_unlock(&h->m);
	}
	if ((status == LV_STATUS_RESTRICTED_LICENSE && h->cancel_on_progress) ||
	    (status == LV_STATUS_PROGRESS && h->cancel_at_progress))
		lv_restorer_cancel(h->r);
	if (status == LV_STATUS_END) {
		h->result = result;
		h->ended++;
	}
}

static void test_busy(void)
{
	lv_store *s = NULL;
	CU_ASSERT_EQUAL_FATAL(t_make_store(ctx, P("busy.db"), 10, &s), 0);
	lv_restorer *r = NULL;
	lv_restorer_new(&r, ctx, s);
	lv_restorer_set_string(r, LV_PROP_BACKUP_PATH, U("busy-bk"));
	lv_restorer_set_string(r, LV_PROP_RESTORE_PATH, U("busy-bk"));
	hold_t h = {.r = r, .m = PTHREAD_MUTEX_INITIALIZER, .c = PTHREAD_COND_INITIALIZER};
	CU_ASSERT_EQUAL_FATAL(lv_restorer_backup(r, 0, hold_cb, &h), 0);
	pthread_mutex_lock(&h.m);
	while (!h.at_begin)
		pthread_cond_wait(&h.c, &h.m);
	pthread_mutex_unlock(&h.m);
	/* the run is in progress: a second run and property changes are BUSY */
	CU_ASSERT_EQUAL(lv_restorer_backup(r, 0, hold_cb, &h), LV_E_BUSY);
	CU_ASSERT_EQUAL(lv_restorer_restore(r, 0, hold_cb, &h), LV_E_BUSY);
	CU_ASSERT_EQUAL(lv_restorer_set_string(r, LV_PROP_BACKUP_PATH, "file:///elsewhere"), LV_E_BUSY);
	CU_ASSERT_EQUAL(lv_restorer_remove_all_props(r), LV_E_BUSY);
	/* BUSY comes first: a bad flag or value is not looked at while the run writes its message */
	CU_ASSERT_EQUAL(lv_restorer_backup(r, 0x100, hold_cb, &h), LV_E_BUSY);
	lv_value iv = {.type = LV_TYPE_INT};
	CU_ASSERT_EQUAL(lv_restorer_set_prop(r, LV_PROP_BACKUP_PATH, &iv), LV_E_BUSY);
	pthread_mutex_lock(&h.m);
	h.release = 1;
	pthread_cond_broadcast(&h.c);
	pthread_mutex_unlock(&h.m);
	int result = -1;
	lv_restorer_wait(r, &result);
	CU_ASSERT_EQUAL(result, 0);
	CU_ASSERT_EQUAL(h.ended, 1); /* one END for the run, none for the refused calls */
	/* after the run: free again */
	CU_ASSERT_EQUAL(lv_restorer_set_string(r, LV_PROP_BACKUP_PATH, U("busy-bk2")), 0);
	lv_restorer_free(r);
	lv_store_free(s);
}

static void test_cancel(void)
{
	lv_store *s = NULL;
	CU_ASSERT_EQUAL_FATAL(t_make_store(ctx, P("cancel.db"), 400, &s), 0);
	/* a first, good backup */
	CU_ASSERT_EQUAL_FATAL(t_backup(ctx, s, U("cancel-bk"), 0, NULL), 0);
	char *m1 = t_find(P("cancel-bk"), ".manifest");
	/* cancel the overwrite in the middle (at the first restricted license) */
	lv_restorer *r = NULL;
	lv_restorer_new(&r, ctx, s);
	lv_restorer_set_string(r, LV_PROP_BACKUP_PATH, U("cancel-bk"));
	hold_t h = {.r = r, .m = PTHREAD_MUTEX_INITIALIZER, .c = PTHREAD_COND_INITIALIZER, .release = 1,
	            .cancel_on_progress = 1};
	CU_ASSERT_EQUAL_FATAL(lv_restorer_backup(r, LV_BACKUP_OVERWRITE, hold_cb, &h), 0);
	int result = 0;
	lv_restorer_wait(r, &result);
	CU_ASSERT_EQUAL(result, LV_E_CANCELED);
	CU_ASSERT_EQUAL(h.result, LV_E_CANCELED);
	CU_ASSERT_PTR_NOT_NULL(strstr(lv_restorer_last_error(r), "canceled"));
	/* its result: no generation, nothing written (some licenses had been, to a temporary) */
	lv_run_result res;
	CU_ASSERT_EQUAL(lv_restorer_result(r, &res), 0);
	CU_ASSERT_EQUAL(res.result, LV_E_CANCELED);
	CU_ASSERT_EQUAL(res.generation, -1);
	CU_ASSERT_EQUAL(res.written, 0);
	/* the old backup is still the one there, whole, and no temporary is left */
	char *m2 = t_find(P("cancel-bk"), ".manifest");
	CU_ASSERT_STRING_EQUAL(m1, m2);
	char *out = NULL;
	t_sh(&out, "ls -A '%s' | wc -l", P("cancel-bk"));
	CU_ASSERT_EQUAL(atoi(out), 2);
	free(out);
	CU_ASSERT_EQUAL(t_verify(ctx, s, U("cancel-bk"), NULL), 0);
	/* cancel a restore: the store is unchanged */
	lv_store *d = NULL;
	t_make_store(ctx, P("cancel-target.db"), 2, &d);
	unsigned long before = t_store_digest(d);
	lv_restorer *r2 = NULL;
	lv_restorer_new(&r2, ctx, d);
	lv_restorer_set_string(r2, LV_PROP_RESTORE_PATH, U("cancel-bk"));
	hold_t h2 = {.r = r2, .m = PTHREAD_MUTEX_INITIALIZER, .c = PTHREAD_COND_INITIALIZER};
	CU_ASSERT_EQUAL_FATAL(lv_restorer_restore(r2, LV_RESTORE_INDIVIDUALIZE, hold_cb, &h2), 0);
	pthread_mutex_lock(&h2.m);
	while (!h2.at_begin)
		pthread_cond_wait(&h2.c, &h2.m);
	lv_restorer_cancel(r2);
	h2.release = 1;
	pthread_cond_broadcast(&h2.c);
	pthread_mutex_unlock(&h2.m);
	lv_restorer_wait(r2, &result);
	CU_ASSERT_EQUAL(result, LV_E_CANCELED);
	CU_ASSERT_EQUAL(t_store_digest(d), before);
	lv_restorer_free(r2);
	/* canceled in the middle of the import (at its first progress): rolled back, and the result says
	 * that nothing was restored */
	lv_store *big = NULL, *e = NULL;
	CU_ASSERT_EQUAL_FATAL(t_make_store(ctx, P("cancel-big.db"), 3000, &big), 0);
	CU_ASSERT_EQUAL_FATAL(t_backup(ctx, big, U("cancel-big-bk"), 0, NULL), 0);
	CU_ASSERT_EQUAL_FATAL(t_make_store(ctx, P("cancel-into.db"), 2, &e), 0);
	before = t_store_digest(e);
	lv_restorer *r3 = NULL;
	lv_restorer_new(&r3, ctx, e);
	lv_restorer_set_string(r3, LV_PROP_RESTORE_PATH, U("cancel-big-bk"));
	hold_t h3 = {.r = r3, .m = PTHREAD_MUTEX_INITIALIZER, .c = PTHREAD_COND_INITIALIZER, .release = 1,
	             .cancel_at_progress = 1};
	CU_ASSERT_EQUAL_FATAL(lv_restorer_restore(r3, LV_RESTORE_INDIVIDUALIZE, hold_cb, &h3), 0);
	lv_restorer_wait(r3, &result);
	CU_ASSERT_EQUAL(result, LV_E_CANCELED);
	CU_ASSERT_EQUAL(t_store_digest(e), before);
	CU_ASSERT_EQUAL(lv_restorer_result(r3, &res), 0);
	CU_ASSERT_EQUAL(res.restored, 0);
	CU_ASSERT_EQUAL(res.generation, -1);
	lv_restorer_free(r3);
	lv_store_free(big);
	lv_store_free(e);
	lv_restorer_free(r);
	free(m1);
	free(m2);
	lv_store_free(s);
	lv_store_free(d);
}

static void test_bad_locations(void)
{
	lv_store *s = NULL;
	t_make_store(ctx, P("bad.db"), 3, &s);
	lv_restorer *r = NULL;
	lv_restorer_new(&r, ctx, s);
	t_events ev;
	lv_restorer_set_string(r, LV_PROP_BACKUP_PATH, "nosuchscheme://x/y");
	CU_ASSERT_EQUAL(t_run(r, 'b', 0, &ev), LV_E_NO_DRIVER);
	CU_ASSERT_PTR_NOT_NULL(strstr(lv_restorer_last_error(r), "nosuchscheme"));
	CU_ASSERT_EQUAL(ev.end, 1);
	lv_restorer_set_string(r, LV_PROP_BACKUP_PATH, "file://remotehost/x");
	CU_ASSERT_EQUAL(t_run(r, 'b', 0, &ev), LV_E_BAD_URI);
	lv_restorer_set_string(r, LV_PROP_BACKUP_PATH, "file:///tmp/a%00b");
	CU_ASSERT_EQUAL(t_run(r, 'b', 0, &ev), LV_E_BAD_URI);
	lv_restorer_set_string(r, LV_PROP_BACKUP_PATH, "bad scheme:/x");
	CU_ASSERT_NOT_EQUAL(t_run(r, 'b', 0, &ev), 0);
	/* a file where the directory should be */
	FILE *f = fopen(P("plainfile"), "w");
	fclose(f);
	lv_restorer_set_string(r, LV_PROP_BACKUP_PATH, U("plainfile"));
	int rc = t_run(r, 'b', 0, &ev);
	CU_ASSERT(rc == LV_E_BAD_URI || rc == LV_E_IO);
	CU_ASSERT_PTR_NOT_NULL(strstr(lv_restorer_last_error(r), "plainfile"));
	/* plain paths work */
	lv_restorer_set_string(r, LV_PROP_BACKUP_PATH, P("plain-path-bk"));
	CU_ASSERT_EQUAL(t_run(r, 'b', 0, &ev), 0);
	lv_restorer_free(r);
	lv_store_free(s);
}

static void test_restore_replaces_and_resets_plays(void)
{
	lv_store *s = NULL;
	CU_ASSERT_EQUAL_FATAL(t_make_store(ctx, P("plays.db"), 6, &s), 0);
	/* kid-000001 has 10 plays; use 7 of them, back up */
	lv_license *l = NULL;
	lv_store_get(s, "kid-000001", &l);
	CU_ASSERT_EQUAL_FATAL(l->play_count, 10);
	l->plays_left = 3;
	CU_ASSERT_EQUAL(lv_store_add(s, l, LV_PUT_REPLACE), 0);
	lv_license_free(l);
	CU_ASSERT_EQUAL_FATAL(t_backup(ctx, s, U("plays-bk"), 0, NULL), 0);
	lv_store_get(s, "kid-000001", &l);
	l->plays_left = 1;
	lv_store_add(s, l, LV_PUT_REPLACE);
	lv_license_free(l);
	/* restoring onto the same store puts the license back with its plays reset */
	CU_ASSERT_EQUAL(t_restore(ctx, s, U("plays-bk"), 0, NULL), 0);
	lv_store_get(s, "kid-000001", &l);
	CU_ASSERT_EQUAL(l->plays_left, 10);
	lv_license_free(l);
	CU_ASSERT_EQUAL(t_count(s), 6);
	lv_store_free(s);
}

/* A backup reads one snapshot while the application keeps writing. */
typedef struct {
	lv_store *app;
	int done;
} snap_t;

static void snap_cb(int status, int result, const lv_value *v, void *ud)
{
	snap_t *st = ud;
	(void)result;
	(void)v;
	if (status == LV_STATUS_RESTRICTED_LICENSE && !st->done) {
		st->done = 1;
		lv_license l;
		char kid[32];
		unsigned char pl[8];
		t_license(&l, 9999, kid, sizeof kid, pl, sizeof pl);
		l.rights |= LV_RIGHT_BACKUP;
		CU_ASSERT_EQUAL(lv_store_add(st->app, &l, 0), 0);      /* the app writes meanwhile */
		CU_ASSERT_EQUAL(lv_store_remove(st->app, "kid-000098"), 0);
	}
}

static void test_snapshot(void)
{
	lv_store *s = NULL;
	CU_ASSERT_EQUAL_FATAL(t_make_store(ctx, P("snap.db"), 100, &s), 0);
	snap_t st = {s, 0};
	lv_restorer *r = NULL;
	lv_restorer_new(&r, ctx, s);
	lv_restorer_set_string(r, LV_PROP_BACKUP_PATH, U("snap-bk"));
	CU_ASSERT_EQUAL_FATAL(lv_restorer_backup(r, 0, snap_cb, &st), 0);
	int result = -1;
	lv_restorer_wait(r, &result);
	CU_ASSERT_EQUAL(result, 0);
	CU_ASSERT_EQUAL(st.done, 1);
	lv_restorer_free(r);
	CU_ASSERT_EQUAL(t_count(s), 100); /* +1 -1 */
	lv_store *d = NULL;
	lv_store_open(&d, ctx, P("snap-new.db"), LV_STORE_CREATE);
	CU_ASSERT_EQUAL(t_restore(ctx, d, U("snap-bk"), LV_RESTORE_INDIVIDUALIZE, NULL), 0);
	lv_license *l = NULL;
	CU_ASSERT_EQUAL(lv_store_get(d, "kid-009999", &l), LV_E_NOT_FOUND);  /* added after the snapshot */
	CU_ASSERT_EQUAL(lv_store_get(d, "kid-000098", &l), 0);               /* removed after it */
	lv_license_free(l);
	CU_ASSERT_EQUAL(t_count(d), 80);
	lv_store_free(d);
	lv_store_free(s);
}

/* ---- an application's own store ------------------------------------------ */

typedef struct mem_store {
	lv_license *l[64];
	int n;
	int snapshot_n;
	char meta_k[8][32], meta_v[8][80];
	int nmeta;
	lv_license *undo[64];
	int in_txn;
	int saved_n;
} mem_store;

static int ms_count(void *i, uint64_t *o) { *o = (uint64_t)((mem_store *)i)->n; return 0; }
static int ms_find(mem_store *m, const char *kid)
{
	for (int i = 0; i < m->n; i++)
		if (!strcmp(m->l[i]->kid, kid))
			return i;
	return -1;
}
static int ms_get(void *i, const char *kid, lv_license **o)
{
	mem_store *m = i;
	int k = ms_find(m, kid);
	return k < 0 ? LV_E_NOT_FOUND : lv_license_dup(o, m->l[k]);
}
static int ms_put(void *i, const lv_license *l, unsigned flags)
{
	mem_store *m = i;
	int k = ms_find(m, l->kid);
	if (k >= 0 && !(flags & LV_PUT_REPLACE))
		return LV_E_EXISTS;
	lv_license *c = NULL;
	if (lv_license_dup(&c, l))
		return LV_E_NOMEM;
	if (k >= 0) {
		lv_license_free(m->l[k]);
		m->l[k] = c;
		return 0;
	}
	if (m->n == 64)
		return LV_E_NO_SPACE;
	/* keep key order */
	int at = m->n;
	while (at > 0 && strcmp(m->l[at - 1]->kid, l->kid) > 0) {
		m->l[at] = m->l[at - 1];
		at--;
	}
	m->l[at] = c;
	m->n++;
	return 0;
}
static int ms_remove(void *i, const char *kid)
{
	mem_store *m = i;
	int k = ms_find(m, kid);
	if (k < 0)
		return LV_E_NOT_FOUND;
	lv_license_free(m->l[k]);
	memmove(&m->l[k], &m->l[k + 1], (size_t)(m->n - k - 1) * sizeof m->l[0]);
	m->n--;
	return 0;
}
static int ms_foreach(void *i, lv_license_cb cb, void *ud)
{
	mem_store *m = i;
	for (int k = 0; k < m->n; k++) {
		int rc = cb(m->l[k], ud);
		if (rc)
			return rc;
	}
	return 0;
}
static int ms_begin(void *i) { mem_store *m = i; m->in_txn = 1; m->saved_n = m->n; return 0; }
static int ms_commit(void *i) { ((mem_store *)i)->in_txn = 0; return 0; }
static int ms_rollback(void *i)
{
	mem_store *m = i;
	m->in_txn = 0;
	(void)m; /* the test checks rollback is called on failure only */
	return 0;
}
static int ms_meta_get(void *i, const char *k, char *buf, size_t cap)
{
	mem_store *m = i;
	for (int j = 0; j < m->nmeta; j++)
		if (!strcmp(m->meta_k[j], k)) {
			snprintf(buf, cap, "%s", m->meta_v[j]);
			return 0;
		}
	return LV_E_NOT_FOUND;
}
static int ms_meta_set(void *i, const char *k, const char *v)
{
	mem_store *m = i;
	for (int j = 0; j < m->nmeta; j++)
		if (!strcmp(m->meta_k[j], k)) {
			snprintf(m->meta_v[j], sizeof m->meta_v[j], "%s", v ? v : "");
			return 0;
		}
	snprintf(m->meta_k[m->nmeta], 32, "%s", k);
	snprintf(m->meta_v[m->nmeta++], 80, "%s", v ? v : "");
	return 0;
}
static void ms_close(void *i)
{
	mem_store *m = i;
	for (int k = 0; k < m->n; k++)
		lv_license_free(m->l[k]);
	free(m);
}
/* a version-1 table: the core reads no slot past close */
static const lv_store_ops mem_ops = {1, ms_count, ms_get, ms_put, ms_remove, ms_foreach,
                                     ms_begin, ms_commit, ms_rollback, ms_meta_get, ms_meta_set, ms_close,
                                     NULL, NULL, NULL, NULL};

static void test_custom_store(void)
{
	lv_store *s = NULL, *d = NULL;
	CU_ASSERT_EQUAL(lv_store_new_custom(&s, ctx, NULL, NULL), LV_E_INVALID_ARG);
	CU_ASSERT_EQUAL_FATAL(lv_store_new_custom(&s, ctx, &mem_ops, calloc(1, sizeof(mem_store))), 0);
	for (int i = 0; i < 20; i++) {
		lv_license l;
		char kid[32];
		unsigned char pl[40];
		t_license(&l, i, kid, sizeof kid, pl, sizeof pl);
		CU_ASSERT_EQUAL(lv_store_add(s, &l, 0), 0);
	}
	CU_ASSERT_EQUAL(t_count(s), 20);
	t_events ev;
	CU_ASSERT_EQUAL(t_backup(ctx, s, U("custom-bk"), 0, &ev), 0);
	CU_ASSERT_EQUAL(ev.restricted, 4);
	CU_ASSERT_EQUAL_FATAL(lv_store_new_custom(&d, ctx, &mem_ops, calloc(1, sizeof(mem_store))), 0);
	CU_ASSERT_EQUAL(t_restore(ctx, d, U("custom-bk"), 0, &ev), LV_E_NEEDS_INDIVIDUALIZATION);
	CU_ASSERT_EQUAL(t_count(d), 0);
	CU_ASSERT_EQUAL(t_restore(ctx, d, U("custom-bk"), LV_RESTORE_INDIVIDUALIZE, &ev), 0);
	CU_ASSERT_EQUAL(t_count(d), 16);
	lv_identity id;
	CU_ASSERT_EQUAL(lv_store_identity(d, &id), 0);
	CU_ASSERT(id.individualized);
	CU_ASSERT_EQUAL(strlen(id.machine_id), 32);
	lv_store_free(s);
	lv_store_free(d);
}

static void test_store_api(void)
{
	lv_store *s = NULL;
	CU_ASSERT_EQUAL(lv_store_open(&s, ctx, P("nope/never.db"), 0), LV_E_NOT_FOUND);
	CU_ASSERT_PTR_NULL(s);
	/* not a store */
	FILE *f = fopen(P("junk.db"), "w");
	fputs("this is not a database at all, just some text that is long enough to fill a header.", f);
	fclose(f);
	CU_ASSERT_EQUAL(lv_store_open(&s, ctx, P("junk.db"), 0), LV_E_CORRUPT);
	CU_ASSERT_PTR_NOT_NULL(strstr(lv_context_last_error(ctx), "junk.db"));
	CU_ASSERT_EQUAL_FATAL(t_make_store(ctx, P("api.db"), 5, &s), 0);
	struct stat sb;
	CU_ASSERT_EQUAL(stat(P("api.db"), &sb), 0);
	CU_ASSERT_EQUAL(sb.st_mode & 0777, 0600); /* licenses are private */
	lv_license l;
	char kid[32];
	unsigned char pl[8];
	t_license(&l, 2, kid, sizeof kid, pl, sizeof pl);
	CU_ASSERT_EQUAL(lv_store_add(s, &l, 0), LV_E_EXISTS);
	/* unknown flags are refused, as the restorer's are, before anything is done */
	lv_store *other = s;
	CU_ASSERT_EQUAL(lv_store_open(&other, ctx, P("api.db"), 0x80), LV_E_INVALID_ARG);
	CU_ASSERT_PTR_EQUAL(other, s);
	CU_ASSERT_PTR_NOT_NULL(strstr(lv_context_last_error(ctx), "0x80"));
	CU_ASSERT_EQUAL(lv_store_add(s, &l, 0x80), LV_E_INVALID_ARG);
	CU_ASSERT_PTR_NOT_NULL(strstr(lv_store_last_error(s), "0x80"));
	CU_ASSERT_EQUAL(lv_store_import_files(s, NULL, 0, 0x80), LV_E_INVALID_ARG);
	CU_ASSERT_EQUAL(lv_unlock(ctx, U("api-nolock"), 0x80, NULL, NULL), LV_E_INVALID_ARG);
	lv_context_set_log(NULL, LV_LOG_DEBUG, NULL, NULL); /* a no-op, as the other setters */
	lv_license *parsed = NULL;
	char perr[128] = "";
	CU_ASSERT_EQUAL(lv_license_parse_file(&parsed, NULL, perr, sizeof perr), LV_E_INVALID_ARG);
	CU_ASSERT_PTR_NULL(parsed);
	CU_ASSERT_EQUAL(lv_license_write_file(&l, NULL, perr, sizeof perr), LV_E_INVALID_ARG);
	CU_ASSERT_EQUAL(lv_store_add(s, &l, LV_PUT_REPLACE), 0);
	l.kid = "bad kid with spaces";
	CU_ASSERT_EQUAL(lv_store_add(s, &l, 0), LV_E_INVALID_ARG);
	l.kid = "../../etc/passwd";
	CU_ASSERT_EQUAL(lv_store_add(s, &l, 0), LV_E_INVALID_ARG);
	CU_ASSERT_EQUAL(lv_store_remove(s, "kid-000003"), 0);
	CU_ASSERT_EQUAL(lv_store_remove(s, "kid-000003"), LV_E_NOT_FOUND);
	CU_ASSERT_EQUAL(t_count(s), 4);
	lv_identity id;
	CU_ASSERT_EQUAL(lv_store_identity(s, &id), 0);
	CU_ASSERT(id.individualized); /* licenses entering a store individualize it */
	lv_store_free(s);
	lv_store_free(NULL);
	lv_restorer_free(NULL);
	lv_context_free(NULL);
}

static void write_lock_file(const char *d, long pid, const char *host)
{
	char p[700];
	snprintf(p, sizeof p, "%s/licvault.lock", d);
	FILE *f = fopen(p, "w");
	/* a version-1 lock written just now (its time counts as its refresh) */
	fprintf(f, "licvault-lock 1\nhost %s\npid %ld\nstart 0\ntime %lld\nop backup\n", host, pid, (long long)time(NULL));
	fclose(f);
}

static void test_lock(void)
{
	lv_store *s = NULL;
	CU_ASSERT_EQUAL_FATAL(t_make_store(ctx, P("lock.db"), 5, &s), 0);
	CU_ASSERT_EQUAL_FATAL(t_backup(ctx, s, U("lock-bk"), 0, NULL), 0);
	CU_ASSERT_EQUAL(access(path("%s/%s/licvault.lock", "lock-bk"), F_OK), -1); /* released */
	char host[256];
	gethostname(host, sizeof host);
	/* a live holder (our parent process): BUSY, naming it */
	write_lock_file(P("lock-bk"), (long)getppid(), host);
	lv_restorer *r = NULL;
	lv_restorer_new(&r, ctx, s);
	lv_restorer_set_string(r, LV_PROP_BACKUP_PATH, U("lock-bk"));
	lv_restorer_set_string(r, LV_PROP_RESTORE_PATH, U("lock-bk"));
	CU_ASSERT_EQUAL(t_run(r, 'b', LV_BACKUP_OVERWRITE, NULL), LV_E_BUSY);
	char want[64];
	snprintf(want, sizeof want, "pid %ld on host %s", (long)getppid(), host);
	CU_ASSERT_PTR_NOT_NULL(strstr(lv_restorer_last_error(r), want));
	CU_ASSERT_EQUAL(t_run(r, 'r', 0, NULL), LV_E_BUSY);
	/* a holder on another host, refreshed lately, is not taken over (test_history: when it is stale) */
	write_lock_file(P("lock-bk"), 1, "some-other-host");
	CU_ASSERT_EQUAL(t_run(r, 'b', LV_BACKUP_OVERWRITE, NULL), LV_E_BUSY);
	CU_ASSERT_PTR_NOT_NULL(strstr(lv_restorer_last_error(r), "some-other-host"));
	/* a dead holder on this host: stale, taken over */
	pid_t child = fork();
	if (child == 0)
		_exit(0);
	int st;
	waitpid(child, &st, 0);
	write_lock_file(P("lock-bk"), (long)child, host);
	CU_ASSERT_EQUAL(t_run(r, 'b', LV_BACKUP_OVERWRITE, NULL), 0);
	CU_ASSERT_EQUAL(access(path("%s/%s/licvault.lock", "lock-bk"), F_OK), -1);
	CU_ASSERT_EQUAL(t_verify(ctx, s, U("lock-bk"), NULL), 0);
	/* a lock of this very process that no live run holds (a run that could not remove it):
	 * stale too, so a long-lived process is not locked out by its own past run */
	write_lock_file(P("lock-bk"), (long)getpid(), host);
	CU_ASSERT_EQUAL(t_run(r, 'b', LV_BACKUP_OVERWRITE, NULL), 0);
	CU_ASSERT_EQUAL(access(path("%s/%s/licvault.lock", "lock-bk"), F_OK), -1);
	lv_restorer_free(r);
	lv_store_free(s);
}

LV_SUITE(core, core, init, clean,
         {"location lock: busy, other host, stale", test_lock},
         {"error names", test_error_names},
         {"properties", test_props},
         {"failed start calls", test_failed_starts},
         {"round trip and events", test_round_trip_events},
         {"backup exists, overwrite", test_backup_exists_and_overwrite},
         {"corrupt byte in pack", test_corrupt_pack_byte},
         {"corrupt pack header", test_corrupt_pack_header},
         {"corrupt byte in manifest", test_corrupt_manifest_byte},
         {"truncated pack", test_truncated_pack},
         {"truncated manifest", test_truncated_manifest},
         {"trailing garbage", test_trailing_garbage},
         {"missing manifest", test_missing_manifest},
         {"missing pack", test_missing_pack},
         {"no backup", test_no_backup},
         {"busy", test_busy},
         {"cancel", test_cancel},
         {"bad locations", test_bad_locations},
         {"restore resets plays", test_restore_replaces_and_resets_plays},
         {"snapshot while the app writes", test_snapshot},
         {"custom store", test_custom_store},
         {"store api", test_store_api})
