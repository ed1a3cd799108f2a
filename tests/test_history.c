/*
 * History at a location (issues 15 and 18): generations and retention
 * (keep), restore and verify of a chosen generation, a damaged newest
 * generation, forget, the shrink check, out-of-range names, a location that
 * acknowledges writes it does not store, a location written by the previous
 * set format, what a dead run left, and the lock's holder, refresh, stale
 * and release rules.
 */
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "testutil.h"

static char *dir;

static char *P(const char *name)
{
	static char buf[8][900];
	static int k;
	char *b = buf[k++ & 7];
	snprintf(b, sizeof buf[0], "%s/%s", dir, name);
	return b;
}

static char *U(const char *name)
{
	static char buf[8][900];
	static int k;
	char *b = buf[k++ & 7];
	snprintf(b, sizeof buf[0], "file://%s/%s", dir, name);
	return b;
}

/* A context whose config holds `body` (after a [licvault] with driver_path). */
static lv_context *ctx_with(const char *name, const char *body)
{
	char *p = P(name);
	FILE *f = fopen(p, "w");
	if (!f)
		return NULL;
	fprintf(f, "[licvault]\ndriver_path = %s:%s/testdrivers\n%s\n[service]\nrestores_per_day = 1000000\n",
	        LV_TEST_DRIVER_DIR, LV_TEST_BUILD_DIR, body ? body : "");
	fclose(f);
	lv_context *c = NULL;
	if (lv_context_new(&c) || lv_context_load_config(c, p)) {
		lv_context_free(c);
		return NULL;
	}
	return c;
}

static int count_named(const char *d, const char *suffix)
{
	char *out = NULL;
	t_sh(&out, "ls -A '%s' 2>/dev/null | grep -c -e '%s$'", d, suffix);
	int n = out ? atoi(out) : -1;
	free(out);
	return n;
}

static int init(void)
{
	return !(dir = t_tmpdir());
}

static int clean(void)
{
	t_rmrf(dir);
	free(dir);
	return 0;
}

/* ---- retention ----------------------------------------------------------------- */

static void retention(int keep, int backups)
{
	char name[64], cfg[64], body[64];
	snprintf(name, sizeof name, "keep%d", keep);
	snprintf(cfg, sizeof cfg, "keep%d.conf", keep);
	snprintf(body, sizeof body, "keep = %d", keep);
	lv_context *c = ctx_with(cfg, body);
	CU_ASSERT_PTR_NOT_NULL_FATAL(c);
	lv_store *s = NULL;
	char db[64];
	snprintf(db, sizeof db, "ret%d.db", keep);
	CU_ASSERT_EQUAL_FATAL(t_make_store(c, P(db), 10, &s), 0);
	for (int i = 0; i < backups; i++)
		CU_ASSERT_EQUAL(t_backup(c, s, U(name), i ? LV_BACKUP_OVERWRITE : 0, NULL), 0);
	int expect = keep < backups ? keep : backups;
	CU_ASSERT_EQUAL(count_named(P(name), ".manifest"), expect);
	CU_ASSERT_EQUAL(count_named(P(name), ".pack"), expect);
	t_gens l = {0};
	CU_ASSERT_EQUAL(lv_generations_list(c, U(name), 0, t_collect_gen, &l), 0);
	CU_ASSERT_EQUAL(l.n, expect);
	/* the newest ones stay: backups - expect + 1 ... backups */
	CU_ASSERT_EQUAL(l.gen[0], backups - expect + 1);
	CU_ASSERT_EQUAL(l.gen[l.n - 1], backups);
	lv_store_free(s);
	lv_context_free(c);
}

static void test_retention(void)
{
	retention(1, 3);
	retention(3, 5);
	retention(20, 22);
}

/* ---- choosing what to restore --------------------------------------------------- */

static lv_restorer *restorer_at(lv_context *c, lv_store *s, const char *uri, const char *gen)
{
	lv_restorer *r = NULL;
	lv_restorer_new(&r, c, s);
	lv_restorer_set_string(r, LV_PROP_RESTORE_PATH, uri);
	if (gen)
		lv_restorer_set_string(r, LV_PROP_GENERATION, gen);
	return r;
}

static void test_generation_restore_and_verify(void)
{
	lv_context *c = ctx_with("g.conf", "keep = 5");
	lv_store *s = NULL, *d = NULL;
	CU_ASSERT_EQUAL_FATAL(t_make_store(c, P("g.db"), 10, &s), 0);
	CU_ASSERT_EQUAL(t_backup(c, s, U("g"), 0, NULL), 0); /* 8 backed up */
	lv_license l;
	char kid[32];
	unsigned char pl[16];
	for (int i = 100; i < 104; i++) {
		t_license(&l, i, kid, sizeof kid, pl, sizeof pl);
		l.rights |= LV_RIGHT_BACKUP;
		CU_ASSERT_EQUAL(lv_store_add(s, &l, 0), 0);
	}
	CU_ASSERT_EQUAL(t_backup(c, s, U("g"), LV_BACKUP_OVERWRITE, NULL), 0); /* 12 */
	/* restore generation 1: the older set */
	CU_ASSERT_EQUAL_FATAL(lv_store_open(&d, c, P("g-new.db"), LV_STORE_CREATE), 0);
	lv_restorer *r = restorer_at(c, d, U("g"), "1");
	CU_ASSERT_EQUAL(t_run(r, 'r', LV_RESTORE_INDIVIDUALIZE, NULL), 0);
	lv_run_result res;
	CU_ASSERT_EQUAL(lv_restorer_result(r, &res), 0);
	CU_ASSERT_EQUAL(res.generation, 1);
	CU_ASSERT_EQUAL(res.restored, 8);
	CU_ASSERT_EQUAL(t_count(d), 8);
	/* verify generation 2, then all, then one that is not there */
	t_verify_generations(r, "2");
	/* a generation that is no number: refused before the run starts */
	lv_restorer_set_string(r, LV_PROP_GENERATION, "2x");
	CU_ASSERT_EQUAL(lv_restorer_verify(r, t_ignore_status, NULL), LV_E_INVALID_ARG);
	lv_restorer_set_string(r, LV_PROP_GENERATION, "all");
	CU_ASSERT_EQUAL(lv_restorer_restore(r, 0, t_ignore_status, NULL), LV_E_INVALID_ARG);
	lv_restorer_free(r);
	/* the licenses of a generation, without a store */
	int n = 0;
	CU_ASSERT_EQUAL(lv_generation_licenses(c, U("g"), 1, (int (*)(const lv_license *, void *))(void *)NULL, &n),
	                LV_E_INVALID_ARG);
	lv_store_free(d);
	lv_store_free(s);
	lv_context_free(c);
}

static int count_lic(const lv_license *lic, void *ud)
{
	(void)lic;
	(*(int *)ud)++;
	return 0;
}

static void test_damaged_newest_names_the_older(void)
{
	lv_context *c = ctx_with("dmg.conf", "keep = 5");
	lv_store *s = NULL, *d = NULL;
	CU_ASSERT_EQUAL_FATAL(t_make_store(c, P("dmg.db"), 20, &s), 0);
	for (int i = 0; i < 3; i++)
		CU_ASSERT_EQUAL(t_backup(c, s, U("dmg"), i ? LV_BACKUP_OVERWRITE : 0, NULL), 0);
	/* generation 3 (the newest) and 2 damaged: 1 is the newest older one that verifies */
	t_flip_byte(P("dmg/licvault-g0000000000000003.pack"), 100);
	t_truncate(P("dmg/licvault-g0000000000000002.pack"), 50);
	CU_ASSERT_EQUAL_FATAL(t_make_store(c, P("dmg-t.db"), 3, &d), 0);
	unsigned long before = t_store_digest(d);
	t_events ev;
	CU_ASSERT_EQUAL(t_restore(c, d, U("dmg"), LV_RESTORE_INDIVIDUALIZE, &ev), LV_E_BACKUP_CORRUPT);
	CU_ASSERT_PTR_NOT_NULL(strstr(ev.end_message, "licvault-g0000000000000003.pack"));
	CU_ASSERT_PTR_NOT_NULL(strstr(ev.end_message, "the newest older generation that verifies is 1"));
	CU_ASSERT_PTR_NOT_NULL(strstr(ev.end_message, "--generation 1"));
	CU_ASSERT_EQUAL(t_store_digest(d), before);
	/* verify says the same */
	CU_ASSERT_EQUAL(t_verify(c, d, U("dmg"), &ev), LV_E_BACKUP_CORRUPT);
	CU_ASSERT_PTR_NOT_NULL(strstr(ev.end_message, "licvault-g0000000000000003.pack"));
	CU_ASSERT_PTR_NOT_NULL(strstr(ev.end_message, "the newest older generation that verifies is 1"));
	/* list: headers only, all three; with --verify two are damaged */
	t_gens l = {0};
	CU_ASSERT_EQUAL(lv_generations_list(c, U("dmg"), 0, t_collect_gen, &l), 0);
	CU_ASSERT_EQUAL(l.n, 3);
	CU_ASSERT(l.whole[0] == LV_GEN_UNCHECKED && l.whole[2] == LV_GEN_UNCHECKED);
	t_gens v = {0};
	CU_ASSERT_EQUAL(lv_generations_list(c, U("dmg"), LV_LIST_VERIFY, t_collect_gen, &v), 0);
	CU_ASSERT(v.whole[0] == LV_GEN_WHOLE && v.whole[1] == LV_GEN_DAMAGED && v.whole[2] == LV_GEN_DAMAGED);
	/* ls of the damaged newest: BACKUP_CORRUPT; of generation 1: every license */
	int n = 0;
	CU_ASSERT_EQUAL(lv_generation_licenses(c, U("dmg"), 0, count_lic, &n), LV_E_BACKUP_CORRUPT);
	n = 0;
	CU_ASSERT_EQUAL(lv_generation_licenses(c, U("dmg"), 1, count_lic, &n), 0);
	CU_ASSERT_EQUAL(n, 16);
	/* forget cannot remove the last generation that verifies */
	CU_ASSERT_EQUAL(lv_generations_forget(c, U("dmg"), 0, 1, 0, NULL, NULL), LV_E_INVALID_ARG);
	CU_ASSERT_PTR_NOT_NULL(strstr(lv_context_last_error(c), "no generation that would stay"));
	CU_ASSERT_EQUAL(count_named(P("dmg"), ".manifest"), 3);
	lv_store_free(d);
	lv_store_free(s);
	lv_context_free(c);
}

/* ---- forget ---------------------------------------------------------------------- */

static void test_forget(void)
{
	lv_context *c = ctx_with("fg.conf", "keep = 10");
	lv_store *s = NULL;
	CU_ASSERT_EQUAL_FATAL(t_make_store(c, P("fg.db"), 10, &s), 0);
	for (int i = 0; i < 5; i++)
		CU_ASSERT_EQUAL(t_backup(c, s, U("fg"), i ? LV_BACKUP_OVERWRITE : 0, NULL), 0);
	t_gens l = {0};
	CU_ASSERT_EQUAL(lv_generations_forget(c, U("fg"), 2, 0, LV_FORGET_DRY_RUN, t_collect_gen, &l), 0);
	CU_ASSERT(l.n == 3 && l.gen[0] == 1 && l.gen[2] == 3);
	CU_ASSERT_EQUAL(count_named(P("fg"), ".manifest"), 5); /* a dry run removes nothing */
	CU_ASSERT_EQUAL(lv_generations_forget(c, U("fg"), 0, 2, 0, NULL, NULL), 0);
	CU_ASSERT_EQUAL(count_named(P("fg"), ".manifest"), 4);
	CU_ASSERT_EQUAL(lv_generations_forget(c, U("fg"), 0, 2, 0, NULL, NULL), LV_E_NOT_FOUND);
	CU_ASSERT_EQUAL(lv_generations_forget(c, U("fg"), 2, 0, 0, NULL, NULL), 0);
	t_gens k = {0};
	CU_ASSERT_EQUAL(lv_generations_list(c, U("fg"), 0, t_collect_gen, &k), 0);
	CU_ASSERT(k.n == 2 && k.gen[0] == 4 && k.gen[1] == 5);
	/* with the lock held by a live run: BUSY, nothing removed */
	char lock[900];
	snprintf(lock, sizeof lock, "licvault-lock 2\nhost %s\nboot x\npidns 1\npid 1\nstart 0\nop backup\ntime %lld\nrefreshed %lld\ntoken 0123\n",
	         "another-machine", (long long)time(NULL), (long long)time(NULL));
	FILE *f = fopen(P("fg/licvault.lock"), "w");
	fputs(lock, f);
	fclose(f);
	CU_ASSERT_EQUAL(lv_generations_forget(c, U("fg"), 1, 0, 0, NULL, NULL), LV_E_BUSY);
	CU_ASSERT_PTR_NOT_NULL(strstr(lv_context_last_error(c), "another-machine"));
	CU_ASSERT_EQUAL(count_named(P("fg"), ".manifest"), 2);
	unlink(P("fg/licvault.lock"));
	/* the only generation: refused */
	CU_ASSERT_EQUAL(lv_generations_forget(c, U("fg"), 1, 0, 0, NULL, NULL), 0);
	CU_ASSERT_EQUAL(lv_generations_forget(c, U("fg"), 0, 5, 0, NULL, NULL), LV_E_INVALID_ARG);
	CU_ASSERT_EQUAL(count_named(P("fg"), ".manifest"), 1);
	lv_store_free(s);
	lv_context_free(c);
}

/* ---- shrink, strays, lies ----------------------------------------------------------- */

static void test_shrink(void)
{
	lv_context *c = ctx_with("sh.conf", NULL);
	lv_store *s = NULL, *e = NULL;
	CU_ASSERT_EQUAL_FATAL(t_make_store(c, P("sh.db"), 40, &s), 0); /* 32 backed up */
	CU_ASSERT_EQUAL(t_backup(c, s, U("sh"), 0, NULL), 0);
	/* an emptied store: refused before anything is written */
	CU_ASSERT_EQUAL_FATAL(lv_store_open(&e, c, P("sh-empty.db"), LV_STORE_CREATE), 0);
	t_events ev;
	CU_ASSERT_EQUAL(t_backup(c, e, U("sh"), LV_BACKUP_OVERWRITE, &ev), LV_E_BACKUP_SHRINK);
	CU_ASSERT_PTR_NOT_NULL(strstr(ev.end_message, "no license"));
	CU_ASSERT_EQUAL(count_named(P("sh"), ".pack"), 1);
	/* fewer than half: refused, naming both counts; the older set untouched */
	char kid[32];
	for (int i = 0; i < 25; i++) {
		snprintf(kid, sizeof kid, "kid-%06d", i);
		lv_store_remove(s, kid);
	}
	CU_ASSERT_EQUAL(t_backup(c, s, U("sh"), LV_BACKUP_OVERWRITE, &ev), LV_E_BACKUP_SHRINK);
	CU_ASSERT_PTR_NOT_NULL(strstr(ev.end_message, "of the 32 of generation 1"));
	CU_ASSERT_EQUAL(count_named(P("sh"), ".pack"), 1);
	/* a dry run says what the real run would: refused the same way (it said ok) */
	CU_ASSERT_EQUAL(t_backup(c, s, U("sh"), LV_BACKUP_OVERWRITE | LV_BACKUP_DRY_RUN, &ev), LV_E_BACKUP_SHRINK);
	CU_ASSERT_EQUAL(t_backup(c, e, U("sh"), LV_BACKUP_OVERWRITE | LV_BACKUP_DRY_RUN, &ev), LV_E_BACKUP_SHRINK);
	CU_ASSERT_EQUAL(t_backup(c, s, U("sh"), LV_BACKUP_OVERWRITE | LV_BACKUP_DRY_RUN | LV_BACKUP_ALLOW_SHRINK, &ev), 0);
	CU_ASSERT_EQUAL(count_named(P("sh"), ".pack"), 1);
	/* said so: the allow-shrink flag */
	int arc = t_backup(c, s, U("sh"), LV_BACKUP_OVERWRITE | LV_BACKUP_ALLOW_SHRINK, &ev);
	CU_ASSERT_EQUAL(arc, 0);
	if (arc)
		fprintf(stderr, "\n  allow-shrink: %s: %s\n", lv_error_name(arc), ev.end_message);
	CU_ASSERT_EQUAL(count_named(P("sh"), ".pack"), 2);
	lv_store_free(e);
	lv_store_free(s);
	lv_context_free(c);
}

static void test_stray_generation_number(void)
{
	lv_context *c = ctx_with("st.conf", NULL);
	lv_store *s = NULL;
	CU_ASSERT_EQUAL_FATAL(t_make_store(c, P("st.db"), 10, &s), 0);
	CU_ASSERT_EQUAL(t_backup(c, s, U("st"), 0, NULL), 0);
	FILE *f = fopen(P("st/licvault-gffffffffffffffff.manifest"), "w");
	fputs("x", f);
	fclose(f);
	t_events ev;
	CU_ASSERT_EQUAL(t_backup(c, s, U("st"), LV_BACKUP_OVERWRITE, &ev), LV_E_BACKUP_CORRUPT);
	CU_ASSERT_PTR_NOT_NULL(strstr(ev.end_message, "licvault-gffffffffffffffff.manifest"));
	CU_ASSERT_PTR_NOT_NULL(strstr(ev.end_message, "out of range"));
	t_gens l = {0};
	CU_ASSERT_EQUAL(lv_generations_list(c, U("st"), 0, t_collect_gen, &l), 0);
	CU_ASSERT(l.n == 2 && l.gen[0] == -1 && strstr(l.problem, "out of range"));
	/* the restore still reads generation 1 (numbers never wrap to 0) */
	unlink(P("st/licvault-gffffffffffffffff.manifest"));
	CU_ASSERT_EQUAL(t_backup(c, s, U("st"), LV_BACKUP_OVERWRITE, NULL), 0);
	CU_ASSERT_EQUAL(count_named(P("st"), "g0000000000000002.manifest"), 1);
	lv_store_free(s);
	lv_context_free(c);
}

static void test_location_that_lies_about_writes(void)
{
	lv_context *good = ctx_with("lie0.conf", NULL);
	lv_context *liar = ctx_with("lie.conf", "[driver \"liar\"]\nlie = drop_writes");
	lv_store *s = NULL;
	CU_ASSERT_EQUAL_FATAL(t_make_store(good, P("lie.db"), 30, &s), 0);
	CU_ASSERT_EQUAL(t_backup(good, s, U("lie"), 0, NULL), 0);
	char uri[900];
	snprintf(uri, sizeof uri, "liar+file://%s/lie", dir);
	t_events ev;
	CU_ASSERT_EQUAL(t_backup(liar, s, uri, LV_BACKUP_OVERWRITE, &ev), LV_E_IO);
	if (ev.result != LV_E_IO)
		fprintf(stderr, "\n  liar: %s: %s\n", lv_error_name(ev.result), ev.end_message);
	CU_ASSERT_PTR_NOT_NULL(strstr(ev.end_message, "licvault-g0000000000000002.pack"));
	CU_ASSERT_PTR_NOT_NULL(strstr(ev.end_message, "16 bytes"));
	CU_ASSERT_PTR_NOT_NULL(strstr(ev.end_message, "the older generations are kept"));
	/* the new generation is gone again; generation 1 is whole */
	CU_ASSERT_EQUAL(count_named(P("lie"), ".manifest"), 1);
	CU_ASSERT_EQUAL(t_verify(good, s, U("lie"), &ev), 0);
	CU_ASSERT_PTR_NOT_NULL(strstr(ev.end_message, "generation 1"));
	lv_store_free(s);
	lv_context_free(liar);
	lv_context_free(good);
}

static void test_previous_format(void)
{
	lv_context *c = ctx_with("f1.conf", NULL);
	t_copy_dir(LV_TEST_SOURCE_DIR "/tests/data/format1/set", P("f1"), 0);
	lv_store *s = NULL, *d = NULL;
	CU_ASSERT_EQUAL_FATAL(lv_store_open(&d, c, P("f1-new.db"), LV_STORE_CREATE), 0);
	/* a set written by licvault before history (set format 1) restores */
	CU_ASSERT_EQUAL(t_restore(c, d, U("f1"), LV_RESTORE_INDIVIDUALIZE, NULL), 0);
	CU_ASSERT_EQUAL(t_count(d), 8);
	t_gens l = {0};
	CU_ASSERT_EQUAL(lv_generations_list(c, U("f1"), LV_LIST_VERIFY, t_collect_gen, &l), 0);
	CU_ASSERT(l.n == 1 && l.gen[0] == 1 && l.whole[0] == LV_GEN_WHOLE);
	/* a backup on top numbers above it; with keep = 1 the old set is pruned like any generation */
	CU_ASSERT_EQUAL_FATAL(t_make_store(c, P("f1.db"), 10, &s), 0);
	lv_context *k1 = ctx_with("f1k.conf", "keep = 1");
	CU_ASSERT_EQUAL(t_backup(k1, s, U("f1"), LV_BACKUP_OVERWRITE, NULL), 0);
	CU_ASSERT_EQUAL(count_named(P("f1"), "licvault-g0000000000000002.manifest"), 1);
	CU_ASSERT_EQUAL(count_named(P("f1"), "licvault-0000000000000001.manifest"), 0);
	lv_context_free(k1);
	lv_store_free(s);
	lv_store_free(d);
	lv_context_free(c);
}

/* ---- what a dead run left -------------------------------------------------------------- */

static void test_leftovers_put_right(void)
{
	lv_context *c = ctx_with("lo.conf", NULL);
	lv_store *s = NULL;
	CU_ASSERT_EQUAL_FATAL(t_make_store(c, P("lo.db"), 10, &s), 0);
	CU_ASSERT_EQUAL(t_backup(c, s, U("lo"), 0, NULL), 0);
	/* a backup that died after its pack: pack 2, no manifest; and a temporary of the driver */
	t_copy_file(P("lo/licvault-g0000000000000001.pack"), P("lo/licvault-g0000000000000002.pack"));
	t_copy_file(P("lo/licvault-g0000000000000001.pack"), P("lo/.licvault-g0000000000000002.pack.tmp-1-2"));
	/* two temporaries of the lock, just made: one whose writer lives (it holds its flock, as
	 * another run trying for the lock does) is left; the other, a dead run's, goes */
	t_copy_file(P("lo/licvault-g0000000000000001.pack"), P("lo/.licvault.lock.tmp-000000000001"));
	t_copy_file(P("lo/licvault-g0000000000000001.pack"), P("lo/.licvault.lock.tmp-000000000002"));
	int live = open(P("lo/.licvault.lock.tmp-000000000001"), O_WRONLY | O_CLOEXEC);
	CU_ASSERT_EQUAL(flock(live, LOCK_EX | LOCK_NB), 0);
	CU_ASSERT_EQUAL(t_backup(c, s, U("lo"), LV_BACKUP_OVERWRITE, NULL), 0);
	CU_ASSERT_EQUAL(access(P("lo/.licvault.lock.tmp-000000000001"), F_OK), 0);
	CU_ASSERT_EQUAL(access(P("lo/.licvault.lock.tmp-000000000002"), F_OK), -1);
	close(live);
	unlink(P("lo/.licvault.lock.tmp-000000000001"));
	CU_ASSERT_EQUAL(access(P("lo/licvault-g0000000000000002.pack"), F_OK), -1);
	CU_ASSERT_EQUAL(count_named(P("lo"), "g0000000000000003.manifest"), 1); /* numbers never repeat */
	char *out = NULL;
	t_sh(&out, "ls -A '%s' | grep -c '^\\.'", P("lo"));
	CU_ASSERT_EQUAL(atoi(out), 0);
	free(out);
	lv_store_free(s);
	lv_context_free(c);
}

/* ---- the lock ---------------------------------------------------------------------------- */

static void write_lock(const char *loc, const char *host, const char *boot, unsigned long long pidns, long pid,
                       long long refreshed, const char *token)
{
	char p[900];
	snprintf(p, sizeof p, "%s/licvault.lock", loc);
	FILE *f = fopen(p, "w");
	fprintf(f, "licvault-lock 2\nhost %s\nboot %s\npidns %llu\npid %ld\nstart 0\nop backup\ntime %lld\nrefreshed %lld\ntoken %s\n",
	        host, boot, pidns, pid, refreshed, refreshed, token);
	fclose(f);
}

static void my_identity(char *host, size_t hc, char *boot, size_t bc, unsigned long long *pidns)
{
	gethostname(host, hc);
	FILE *f = fopen("/proc/sys/kernel/random/boot_id", "r");
	boot[0] = '\0';
	if (f && fgets(boot, (int)bc, f))
		boot[strcspn(boot, "\n")] = '\0';
	if (f)
		fclose(f);
	struct stat st;
	*pidns = stat("/proc/self/ns/pid", &st) == 0 ? (unsigned long long)st.st_ino : 0;
}

static void test_lock_holders(void)
{
	lv_context *c = ctx_with("lk.conf", "lock_stale_after = 600");
	lv_store *s = NULL;
	CU_ASSERT_EQUAL_FATAL(t_make_store(c, P("lk.db"), 10, &s), 0);
	CU_ASSERT_EQUAL(t_backup(c, s, U("lk"), 0, NULL), 0);
	char host[256], boot[64];
	unsigned long long pidns;
	my_identity(host, sizeof host, boot, sizeof boot, &pidns);
	long long now = (long long)time(NULL);
	t_events ev;
	/* same host name, another PID namespace (a container), refreshed just now: live,
	 * although its pid is no process here */
	write_lock(P("lk"), host, boot, pidns + 1, 999999, now, "aaaa");
	CU_ASSERT_EQUAL(t_backup(c, s, U("lk"), LV_BACKUP_OVERWRITE, &ev), LV_E_BUSY);
	CU_ASSERT_PTR_NOT_NULL(strstr(ev.end_message, "pid 999999"));
	/* the same, not refreshed for longer than lock_stale_after: stale, taken over */
	write_lock(P("lk"), host, boot, pidns + 1, 999999, now - 700, "aaaa");
	CU_ASSERT_EQUAL(t_backup(c, s, U("lk"), LV_BACKUP_OVERWRITE, &ev), 0);
	CU_ASSERT_EQUAL(access(P("lk/licvault.lock"), F_OK), -1);
	/* refreshed "in the future" by less than lock_stale_after (a clock a little ahead): live */
	write_lock(P("lk"), "far-away", "other-boot", 4, 42, now + 500, "ffff");
	CU_ASSERT_EQUAL(t_backup(c, s, U("lk"), LV_BACKUP_OVERWRITE, &ev), LV_E_BUSY);
	/* further ahead than lock_stale_after: no clock that agrees with ours wrote it; stale */
	write_lock(P("lk"), "far-away", "other-boot", 4, 42, now + 700, "ffff");
	CU_ASSERT_EQUAL(t_backup(c, s, U("lk"), LV_BACKUP_OVERWRITE, &ev), 0);
	CU_ASSERT_EQUAL(access(P("lk/licvault.lock"), F_OK), -1);
	/* here (same host, boot, namespace) and its process gone: stale at once */
	write_lock(P("lk"), host, boot, pidns, 999999, now, "bbbb");
	CU_ASSERT_EQUAL(t_backup(c, s, U("lk"), LV_BACKUP_OVERWRITE, NULL), 0);
	/* another machine, refreshed: live; lv_unlock shows it and removes it only when forced */
	write_lock(P("lk"), "far-away", "other-boot", 4, 42, now, "cccc");
	lv_lock_info seen;
	memset(&seen, 0, sizeof seen);
	int (*keep_info)(const lv_lock_info *, void *) = NULL;
	(void)keep_info;
	CU_ASSERT_EQUAL(lv_unlock(c, U("lk"), 0, NULL, NULL), LV_E_BUSY);
	CU_ASSERT_PTR_NOT_NULL(strstr(lv_context_last_error(c), "far-away"));
	CU_ASSERT_EQUAL(access(P("lk/licvault.lock"), F_OK), 0);
	CU_ASSERT_EQUAL(lv_unlock(c, U("lk"), LV_UNLOCK_FORCE, NULL, NULL), 0);
	CU_ASSERT_EQUAL(access(P("lk/licvault.lock"), F_OK), -1);
	CU_ASSERT_EQUAL(lv_unlock(c, U("lk"), 0, NULL, NULL), LV_E_NOT_FOUND);
	/* a version-1 lock of this host whose process is gone: taken over as before */
	FILE *f = fopen(P("lk/licvault.lock"), "w");
	fprintf(f, "licvault-lock 1\nhost %s\npid 999999\nstart 1\ntime %lld\nop backup\ntoken dddd\n", host, now);
	fclose(f);
	CU_ASSERT_EQUAL(t_backup(c, s, U("lk"), LV_BACKUP_OVERWRITE, NULL), 0);
	lv_store_free(s);
	lv_context_free(c);
}

/* A backup slowed by the fault driver, for the lock checks below. */
typedef struct slow_run {
	lv_context *c;
	lv_store *s;
	const char *uri;
	int rc;
	char msg[1100];
} slow_run;

static void *slow_backup(void *p)
{
	slow_run *sr = p;
	t_events ev;
	sr->rc = t_backup(sr->c, sr->s, sr->uri, LV_BACKUP_OVERWRITE, &ev);
	snprintf(sr->msg, sizeof sr->msg, "%s", ev.end_message);
	return NULL;
}

static long long lock_field(const char *path, const char *key)
{
	FILE *f = fopen(path, "r");
	char line[300];
	long long v = -1;
	while (f && fgets(line, sizeof line, f))
		if (!strncmp(line, key, strlen(key)))
			v = atoll(line + strlen(key));
	if (f)
		fclose(f);
	return v;
}

static void test_lock_refreshed_and_lost(void)
{
	/* lock_stale_after = 60: the holder refreshes every 4 s, at a write; the fault driver delays
	 * each write of the pack (not the lock's), so the backup refreshes its lock at its second write
	 * and finds it taken over at a later one */
	lv_context *c = ctx_with("lr.conf", "lock_stale_after = 60\n[driver \"fault\"]\nop = write\nmatch = .pack\ncount = 0\nmode = delay\ndelay_ms = 4500\n");
	lv_store *s = NULL;
	CU_ASSERT_EQUAL_FATAL(t_make_store(c, P("lr.db"), 6000, &s), 0);
	char uri[900];
	snprintf(uri, sizeof uri, "fault+file://%s/lr", dir);
	slow_run sr = {c, s, uri, 0, ""};
	pthread_t th;
	CU_ASSERT_EQUAL_FATAL(pthread_create(&th, NULL, slow_backup, &sr), 0);
	long long taken = -1, refreshed = -1;
	for (int i = 0; i < 200 && refreshed <= taken; i++) {
		usleep(100 * 1000);
		taken = lock_field(P("lr/licvault.lock"), "time ");
		refreshed = lock_field(P("lr/licvault.lock"), "refreshed ");
	}
	/* another run takes the lock over under the holder's feet: the holder stops at its next refresh */
	if (refreshed > taken)
		write_lock(P("lr"), "thief", "x", 1, 1, (long long)time(NULL), "ffff");
	pthread_join(th, NULL);
	CU_ASSERT(refreshed > taken);
	CU_ASSERT_EQUAL(sr.rc, LV_E_BUSY);
	CU_ASSERT_PTR_NOT_NULL(strstr(sr.msg, "was taken over by"));
	/* the thief's lock is not removed by the run that lost it */
	CU_ASSERT_EQUAL(lock_field(P("lr/licvault.lock"), "pid "), 1);
	lv_store_free(s);
	lv_context_free(c);
}

/* ---- the store is never a target (15.5) --------------------------------------------------- */

static void test_store_never_a_target(void)
{
	lv_context *c = ctx_with("tg.conf", "keep = 1");
	CU_ASSERT_PTR_NOT_NULL_FATAL(c);
	/* a store kept where a generation's pack would be: the run's own store, never removed */
	CU_ASSERT_EQUAL_FATAL(mkdir(P("tg"), 0700), 0);
	lv_store *s = NULL;
	CU_ASSERT_EQUAL_FATAL(t_make_store(c, P("tg/licvault-g0000000000000001.pack"), 10, &s), 0);
	unsigned long before = t_store_digest(s);
	t_events ev;
	/* the backup is made; pruning leaves that "pack" and says why */
	CU_ASSERT_EQUAL(t_backup(c, s, U("tg"), LV_BACKUP_OVERWRITE, &ev), 0);
	CU_ASSERT_PTR_NOT_NULL(strstr(ev.end_message, "is the license store this run uses"));
	CU_ASSERT_EQUAL(access(P("tg/licvault-g0000000000000001.pack"), F_OK), 0);
	CU_ASSERT_EQUAL(t_store_digest(s), before);
	CU_ASSERT_EQUAL(t_count(s), 10);
	/* the store named as a bundle, with overwrite: refused before anything is written */
	char bu[900];
	snprintf(bu, sizeof bu, "bundle+file://%s", P("tg/licvault-g0000000000000001.pack"));
	long size = t_file_size(P("tg/licvault-g0000000000000001.pack"));
	CU_ASSERT_EQUAL(t_backup(c, s, bu, LV_BACKUP_OVERWRITE, &ev), LV_E_BACKUP_EXISTS);
	CU_ASSERT_EQUAL(t_file_size(P("tg/licvault-g0000000000000001.pack")), size);
	CU_ASSERT_EQUAL(t_store_digest(s), before);
	lv_store_free(s);
	lv_context_free(c);
}

/* ---- verify while a backup replaces the generation it reads (15.7) ----------------------- */

typedef struct slow_verify {
	lv_context *c;
	lv_store *s;
	const char *uri;
	int rc;
	t_events ev;
} slow_verify;

static void *verify_thread(void *p)
{
	slow_verify *sv = p;
	sv->rc = t_verify(sv->c, sv->s, sv->uri, &sv->ev);
	return NULL;
}

static int file_has(const char *path, const char *text)
{
	char *out = NULL;
	int rc = t_sh(&out, "grep -q -e '%s' '%s' 2>/dev/null", text, path);
	free(out);
	return rc == 0;
}

static void test_verify_during_a_backup(void)
{
	/* verify opens the pack of generation 1, held there (the fault driver's delay) while a
	 * backup with keep = 1 publishes generation 2 and prunes generation 1 */
	lv_context *c = ctx_with("vp.conf", "keep = 1");
	char body[1200];
	snprintf(body, sizeof body,
	         "[driver \"fault\"]\nop = read_open\nmatch = .pack\nmode = delay\ndelay_ms = 4000\ntrace = %s\n",
	         P("vp.trace"));
	lv_context *slow = ctx_with("vps.conf", body);
	CU_ASSERT_PTR_NOT_NULL_FATAL(c);
	CU_ASSERT_PTR_NOT_NULL_FATAL(slow);
	lv_store *s = NULL;
	CU_ASSERT_EQUAL_FATAL(t_make_store(c, P("vp.db"), 20, &s), 0);
	CU_ASSERT_EQUAL_FATAL(t_backup(c, s, U("vp"), 0, NULL), 0);
	char uri[900];
	snprintf(uri, sizeof uri, "fault+file://%s/vp", dir);
	slow_verify sv = {slow, s, uri, -1, {0}};
	pthread_t th;
	CU_ASSERT_EQUAL_FATAL(pthread_create(&th, NULL, verify_thread, &sv), 0);
	for (int i = 0; i < 600 && !file_has(P("vp.trace"), "read_open"); i++)
		usleep(50 * 1000);
	CU_ASSERT(file_has(P("vp.trace"), "read_open .*g0000000000000001.pack"));
	CU_ASSERT_EQUAL(t_backup(c, s, U("vp"), LV_BACKUP_OVERWRITE, NULL), 0);
	CU_ASSERT_EQUAL(access(P("vp/licvault-g0000000000000001.pack"), F_OK), -1);
	pthread_join(th, NULL);
	/* never "corrupt": the newest generation was read again, and is named */
	CU_ASSERT_EQUAL(sv.rc, 0);
	CU_ASSERT_PTR_NOT_NULL(strstr(sv.ev.end_message, "generation 2"));
	lv_store_free(s);
	lv_context_free(slow);
	lv_context_free(c);
}

/*
 * A restore whose lock temporary went under it (another run putting the
 * location right removed it: NOT_FOUND) writes the lock again and holds it,
 * as a backup does; it went on without a lock before.
 */
static void test_restore_lock_written_again(void)
{
	char trace[600], body[1200], uri[700];
	snprintf(trace, sizeof trace, "%s", P("rl.trace"));
	snprintf(body, sizeof body,
	         "[driver \"fault\"]\nop = commit\nmatch = licvault.lock\nerror = NOT_FOUND\ntrace = %s\n", trace);
	lv_context *c = ctx_with("rl.conf", body);
	CU_ASSERT_PTR_NOT_NULL_FATAL(c);
	lv_store *s = NULL, *d = NULL;
	CU_ASSERT_EQUAL_FATAL(t_make_store(c, P("rl-src.db"), 10, &s), 0);
	snprintf(uri, sizeof uri, "file://%s", P("rl"));
	CU_ASSERT_EQUAL_FATAL(t_backup(c, s, uri, 0, NULL), 0);
	CU_ASSERT_EQUAL_FATAL(lv_store_open(&d, c, P("rl-new.db"), LV_STORE_CREATE), 0);
	snprintf(uri, sizeof uri, "fault+file://%s", P("rl"));
	unlink(trace);
	CU_ASSERT_EQUAL(t_restore(c, d, uri, LV_RESTORE_INDIVIDUALIZE, NULL), 0);
	char *out = NULL;
	/* the first commit of the lock failed, the second took it, and the run removed it at its end */
	t_sh(&out, "grep -c ' commit .*licvault.lock' '%s'; grep -c ' remove .*licvault.lock' '%s'", trace, trace);
	CU_ASSERT_STRING_EQUAL(out, "2\n1\n");
	free(out);
	lv_store_free(d);
	lv_store_free(s);
	lv_context_free(c);
}

LV_SUITE(history, history, init, clean,
         {"retention: keep 1, 3 and 20", test_retention},
         {"restore and verify a chosen generation", test_generation_restore_and_verify},
         {"a damaged newest generation names the older one that verifies", test_damaged_newest_names_the_older},
         {"forget", test_forget},
         {"BACKUP_SHRINK", test_shrink},
         {"a stray generation number out of range", test_stray_generation_number},
         {"a location that acknowledges writes it does not store", test_location_that_lies_about_writes},
         {"a location of the previous set format", test_previous_format},
         {"what a dead run left is put right", test_leftovers_put_right},
         {"the lock: holders, stale, unlock", test_lock_holders},
         {"the lock: refreshed, and lost", test_lock_refreshed_and_lost},
         {"the store is never a target", test_store_never_a_target},
         {"verify while a backup replaces the generation it reads", test_verify_during_a_backup},
         {"a restore writes its lock again when its temporary went", test_restore_lock_written_again})
