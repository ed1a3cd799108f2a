/*
 * The crypt driver (drivers/crypt, docs/drivers/crypt.md): round trips over
 * file://, bundle+crypt+file://, removable:// (a loop-mounted volume) and
 * sftp:// (the test sshd); crypt+bundle refused with advice; the
 * conformance suite; every tampering case (a flipped byte, truncation,
 * chunks reordered or dropped, objects swapped with another generation's
 * and another location's under the same key, key slots damaged, replaced
 * or added from elsewhere) as BACKUP_CORRUPT naming the object with the
 * store unchanged; a wrong passphrase as AUTH; passwd, add-key, remove-key;
 * each passphrase source and their order; no secret in any output under
 * debug logging; the documented layout opened by the Python script in the
 * doc; the fuzz target's smoke round.
 *
 * Key management runs through the CLI, `licvault crypt VERB URI` (KEYTOOL
 * below).  Small KDF parameters (opslimit 1, memlimit 8 KiB) throughout.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "conformance.h"
#include "licvault/driver.h"
#include "fixture_sshd.h"
#include "fixture_volume.h"
#include "testutil.h"

#define KEYTOOL "'" T_CLI "' crypt"   /* the crypt driver's commands, as a shell command */
#define PASS1 "Tr0ub4dor-first crypt passphrase"
#define PASS2 "second passphrase, after passwd"
#define PASS3 "a third one for add-key"
#define UNIT (65536 + 17)
#define HDR 72
#define SLOT0 "licvault-crypt-key-0000000000000000"

static char *dir;
static char cfg[700];
static lv_context *ctx;
static unsigned long dig_t0, dig_src;   /* the target store as made; after restoring src */
static const char *const target_kids[] = {"own-1", "own-2"};

static char *pth(const char *fmt, ...)
{
	static char buf[8][800];
	static int k;
	k = (k + 1) % 8;
	char rel[600];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(rel, sizeof rel, fmt, ap);
	va_end(ap);
	snprintf(buf[k], sizeof buf[k], "%s/%s", dir, rel);
	return buf[k];
}

static char *uri_of(const char *loc)
{
	static char buf[4][900];
	static int k;
	k = (k + 1) % 4;
	snprintf(buf[k], sizeof buf[k], "crypt+file://%s/%s", dir, loc);
	return buf[k];
}

static int file_has(const char *p, const char *needle)
{
	size_t n;
	unsigned char *b = t_read_file(p, &n);
	int found = b && memmem(b, n, needle, strlen(needle)) != NULL;
	free(b);
	return found;
}

static int starts_with_magic(const char *p)
{
	size_t n;
	unsigned char *b = t_read_file(p, &n);
	int yes = b && n >= 8 && !memcmp(b, "LVCRYPT\n", 8);
	free(b);
	return yes;
}

/* A context loading the suite's config plus `extra`. */
static lv_context *context_with(const char *extra)
{
	char p[700];
	static int k;
	snprintf(p, sizeof p, "%s/cfg-%d", dir, ++k);
	char body[4096];
	snprintf(body, sizeof body, "[service]\nrestores_per_day = 1000000\n[driver \"crypt\"]\nkdf_opslimit = 1\n"
	                            "kdf_memlimit = 8192\n%s", extra ? extra : "");
	t_write_file(p, body, 0600);
	lv_context *c = t_context();
	if (c && lv_context_load_config(c, p)) {
		fprintf(stderr, "config: %s\n", lv_context_last_error(c));
		lv_context_free(c);
		return NULL;
	}
	return c;
}

/* A backup or restore through the API; msg gets the run's message. */
static int run(lv_context *c, const char *store, const char *uri, int kind, unsigned flags, char *msg, size_t cap)
{
	lv_store *s = NULL;
	int rc = lv_store_open(&s, c, store, kind == 'b' ? 0 : LV_STORE_CREATE);
	if (rc)
		return rc;
	lv_restorer *r = NULL;
	if (lv_restorer_new(&r, c, s)) {
		lv_store_free(s);
		return LV_E_NOMEM;
	}
	lv_restorer_set_string(r, kind == 'b' ? LV_PROP_BACKUP_PATH : LV_PROP_RESTORE_PATH, uri);
	t_events ev;
	rc = t_run(r, kind, flags, &ev);
	if (msg)
		snprintf(msg, cap, "%s", lv_restorer_last_error(r) ? lv_restorer_last_error(r) : "");
	if (rc && getenv("LV_TEST_VERBOSE"))
		fprintf(stderr, "\n  [crypt %c %s] %s: %s", kind, uri, lv_error_name(rc), lv_restorer_last_error(r));
	lv_restorer_free(r);
	lv_store_free(s);
	return rc;
}

/* Restore uri into a copy of the target store: the copy's digest afterwards (changed or not). */
static unsigned long restore_into_copy(lv_context *c, const char *uri, int *rc, char *msg, size_t cap)
{
	t_copy_file(pth("t0.db"), pth("t.db"));
	*rc = run(c, pth("t.db"), uri, 'r', 0, msg, cap);
	lv_store *s = NULL;
	if (lv_store_open(&s, c, pth("t.db"), 0))
		return 0;
	unsigned long d = t_store_digest(s);
	lv_store_free(s);
	return d;
}

static int keytool(char **out, const char *conf, const char *verb, const char *uri, const char *args)
{
	return t_sh(out, "%s --config '%s' %s '%s' %s", KEYTOOL, conf ? conf : cfg, verb, uri, args ? args : "");
}

static int init(void)
{
	if (!(dir = t_tmpdir()))
		return 1;
	setenv("LICVAULT_PASSPHRASE", PASS1, 1);
	unsetenv("LICVAULT_NEW_PASSPHRASE");
	snprintf(cfg, sizeof cfg, "%s/config", dir);
	t_write_file(cfg, "[service]\nrestores_per_day = 1000000\n[driver \"crypt\"]\nkdf_opslimit = 1\nkdf_memlimit = 8192\n",
	           0600);
	if (!(ctx = t_context()) || lv_context_load_config(ctx, cfg))
		return 1;
	/* a store of 300 licenses of 1-4 KB: a pack of a dozen chunks */
	char *out = NULL;
	int rc = t_sh(&out, "'%s' --store '%s' --count 300 --seed 7", T_GEN, pth("src.db"));
	free(out);
	if (rc || t_make_target(ctx, pth("t0.db"), target_kids, 2))
		return 1;
	dig_t0 = t_path_digest(ctx, pth("t0.db"));   /* a target holds licenses: 0 when it cannot be opened */
	if (!dig_t0)
		return 1;
	char uri[800];
	snprintf(uri, sizeof uri, "file://%s", pth("plain"));
	if (run(ctx, pth("src.db"), uri, 'b', 0, NULL, 0))
		return 1;
	dig_src = t_restore_digest(ctx, pth("t0.db"), pth("t.db"), uri, NULL);
	return dig_src && dig_src != dig_t0 ? 0 : 1;
}

static int clean(void)
{
	unsetenv("LICVAULT_PASSPHRASE");
	fx_volume_destroy_all();
	lv_context_free(ctx);
	free(dir);
	return 0;
}

/* ---- round trips -------------------------------------------------------------------------- */

static void test_roundtrip_file(void)
{
	char msg[1100];
	const char *uri = uri_of("rt");
	CU_ASSERT_EQUAL_FATAL(run(ctx, pth("src.db"), uri, 'b', 0, msg, sizeof msg), 0);
	/* the first backup initialized the location */
	CU_ASSERT(t_file_size(pth("rt/" SLOT0)) == 256);
	char *pack = t_find(pth("rt"), ".pack"), *man = t_find(pth("rt"), ".manifest");
	char *ppack = t_find(pth("plain"), ".pack");
	CU_ASSERT_FATAL(pack && man && ppack);
	/* the plain pack shows issuers; the encrypted one nothing but its magic */
	CU_ASSERT(file_has(ppack, "Contoso Music") && file_has(ppack, "LVPACK"));
	CU_ASSERT(!file_has(pack, "Contoso Music") && !file_has(pack, "LVPACK") && !file_has(man, "LVMANIF"));
	CU_ASSERT(starts_with_magic(pack) && starts_with_magic(man));
	int rc;
	CU_ASSERT_EQUAL(restore_into_copy(ctx, uri, &rc, msg, sizeof msg), dig_src);
	CU_ASSERT_EQUAL(rc, 0);
	lv_store *s = NULL;
	CU_ASSERT_EQUAL_FATAL(lv_store_open(&s, ctx, pth("src.db"), 0), 0);
	CU_ASSERT_EQUAL(t_verify(ctx, s, uri, NULL), 0);
	lv_store_free(s);
	/* a second generation over the first */
	CU_ASSERT_EQUAL(run(ctx, pth("src.db"), uri, 'b', LV_BACKUP_OVERWRITE, msg, sizeof msg), 0);
	CU_ASSERT(t_file_size(pth("rt/licvault-g0000000000000002.pack")) > 0);
	CU_ASSERT(t_file_size(pth("rt/licvault-g0000000000000001.pack")) > 0); /* keep = 3: the first stays */
	CU_ASSERT_EQUAL(restore_into_copy(ctx, uri, &rc, msg, sizeof msg), dig_src);
	free(pack);
	free(man);
	free(ppack);
}

static void test_roundtrip_bundle(void)
{
	char msg[1100], uri[900];
	mkdir(pth("bc"), 0700);
	snprintf(uri, sizeof uri, "bundle+crypt+file://%s/x.lvb", pth("bc"));
	CU_ASSERT_EQUAL_FATAL(run(ctx, pth("src.db"), uri, 'b', 0, msg, sizeof msg), 0);
	CU_ASSERT(starts_with_magic(pth("bc/x.g0000000000000001.lvb"))); /* generation 1: compressed, then encrypted */
	CU_ASSERT(t_file_size(pth("bc/" SLOT0)) == 256);
	int rc;
	CU_ASSERT_EQUAL(restore_into_copy(ctx, uri, &rc, msg, sizeof msg), dig_src);
	CU_ASSERT_EQUAL(rc, 0);
	/* the registry the restore wrote passes through plain, beside the bundle */
	char *reg = t_find(pth("bc"), ".reg");
	CU_ASSERT_PTR_NOT_NULL(reg);
	if (reg) {
		CU_ASSERT(strstr(reg, "x.lvb.licvault-registry-") != NULL);
		CU_ASSERT(!starts_with_magic(reg));
	}
	free(reg);
	/* crypt+bundle: refused, with the right order given */
	snprintf(uri, sizeof uri, "crypt+bundle+file://%s/y.lvb", pth("bc"));
	CU_ASSERT_EQUAL(run(ctx, pth("src.db"), uri, 'b', 0, msg, sizeof msg), LV_E_BAD_URI);
	CU_ASSERT(strstr(msg, "leaves nothing to compress") && strstr(msg, "bundle+crypt+file://"));
	CU_ASSERT(t_file_size(pth("bc/y.lvb")) < 0);
	snprintf(uri, sizeof uri, "crypt+crypt+file://%s/z", pth("bc"));
	CU_ASSERT_EQUAL(run(ctx, pth("src.db"), uri, 'b', 0, msg, sizeof msg), LV_E_BAD_URI);
}

static void test_conformance(void)
{
	int ran = 0;
	CU_ASSERT_EQUAL(lv_conformance_run(ctx, uri_of("conf"), 4, getenv("LV_TEST_VERBOSE") != NULL, &ran), 0);
	CU_ASSERT(ran >= 6);
	/* and what it wrote went through the cipher: put one object and look at it */
	struct lv_location *l = NULL;
	CU_ASSERT_EQUAL_FATAL(lv_location_open(&l, ctx, uri_of("conf"), LV_OPEN_WRITE), 0);
	const lv_driver_ops *ops = lv_location_driver_ops(l);
	lv_writer *w = NULL;
	CU_ASSERT_EQUAL_FATAL(ops->write_begin(lv_location_driver_instance(l), "conf-look", 5, &w), 0);
	CU_ASSERT_EQUAL(ops->write(w, "hello", 5), 0);
	CU_ASSERT_EQUAL(ops->commit(w, 0), 0);
	/* key slots are the driver's own: not listed, not reachable */
	lv_reader *r = NULL;
	CU_ASSERT_EQUAL(ops->read_open(lv_location_driver_instance(l), SLOT0, &r), LV_E_INVALID_ARG);
	lv_object_info info;
	CU_ASSERT_EQUAL(ops->stat(lv_location_driver_instance(l), "conf-look", &info), 0);
	CU_ASSERT_EQUAL(info.size, 5);
	lv_location_close(l);
	CU_ASSERT(starts_with_magic(pth("conf/conf-look")) && !file_has(pth("conf/conf-look"), "hello"));
	CU_ASSERT_EQUAL(t_file_size(pth("conf/conf-look")), HDR + 5 + 17);
}

/* ---- tampering ------------------------------------------------------------------------------ */

/* Reset the tampering location from its pristine copy. */
static void reset(void)
{
	t_copy_dir(pth("ta-pristine"), pth("ta"), 0);
}

/* A restore of the tampered location: BACKUP_CORRUPT naming `object`, saying why; the store unchanged. */
static void expect_corrupt(const char *what, const char *object, const char *words)
{
	char msg[1100];
	int rc;
	unsigned long d = restore_into_copy(ctx, uri_of("ta"), &rc, msg, sizeof msg);
	if (rc != LV_E_BACKUP_CORRUPT || !strstr(msg, object) || !strstr(msg, "authentication failed") ||
	    (words && !strstr(msg, words)))
		fprintf(stderr, "\n  %s: %s: %s", what, lv_error_name(rc), msg);
	CU_ASSERT_EQUAL(rc, LV_E_BACKUP_CORRUPT);
	CU_ASSERT(strstr(msg, object) != NULL);
	CU_ASSERT(strstr(msg, "authentication failed") != NULL);
	if (words)
		CU_ASSERT(strstr(msg, words) != NULL);
	CU_ASSERT_EQUAL(d, dig_t0);
}

static void edit(const char *p, long cut_from, long cut_len, long swap_a, long swap_b, long len)
{
	size_t n;
	unsigned char *b = t_read_file(p, &n);
	CU_ASSERT_FATAL(b != NULL);
	if (swap_a >= 0) {
		unsigned char *t = malloc((size_t)len);
		memcpy(t, b + swap_a, (size_t)len);
		memmove(b + swap_a, b + swap_b, (size_t)len);
		memcpy(b + swap_b, t, (size_t)len);
		free(t);
	}
	if (cut_from >= 0) {
		memmove(b + cut_from, b + cut_from + cut_len, n - (size_t)(cut_from + cut_len));
		n -= (size_t)cut_len;
	}
	t_write_bytes(p, b, n);
	free(b);
}

#define PACK2 "licvault-g0000000000000002.pack"
#define MAN2 "licvault-g0000000000000002.manifest"

static void test_tampering(void)
{
	char *out = NULL;
	/* generation 1 (kept aside), then 2 */
	CU_ASSERT_EQUAL_FATAL(run(ctx, pth("src.db"), uri_of("ta"), 'b', 0, NULL, 0), 0);
	t_copy_file(pth("ta/licvault-g0000000000000001.pack"), pth("gen1.pack"));
	CU_ASSERT_EQUAL_FATAL(run(ctx, pth("src.db"), uri_of("ta"), 'b', LV_BACKUP_OVERWRITE, NULL, 0), 0);
	t_copy_dir(pth("ta"), pth("ta-pristine"), 0);
	long size = t_file_size(pth("ta/" PACK2));
	CU_ASSERT_FATAL(size > HDR + 4 * UNIT);
	long units = (size - HDR + UNIT - 1) / UNIT;

	reset();
	t_flip_byte(pth("ta/" PACK2), size / 2);
	expect_corrupt("a flipped byte in the pack", PACK2, "does not verify");
	reset();
	t_flip_byte(pth("ta/" MAN2), 100);
	expect_corrupt("a flipped byte in the manifest", MAN2, NULL);
	reset();
	t_flip_byte(pth("ta/" PACK2), 20);
	expect_corrupt("a flipped byte in the header", PACK2, NULL);
	reset();
	t_truncate(pth("ta/" PACK2), size - 100);
	expect_corrupt("truncated", PACK2, "last chunk");
	reset();
	t_truncate(pth("ta/" PACK2), HDR + (units - 1) * UNIT);
	expect_corrupt("the final chunk dropped", PACK2, "without its final chunk");
	reset();
	edit(pth("ta/" PACK2), -1, 0, HDR + 2 * UNIT, HDR + 3 * UNIT, UNIT);
	expect_corrupt("chunks reordered", PACK2, "chunk 2 at byte");
	reset();
	edit(pth("ta/" PACK2), HDR + UNIT, UNIT, -1, -1, 0);
	expect_corrupt("a chunk dropped", PACK2, "chunk 1 at byte");
	reset();
	t_copy_file(pth("gen1.pack"), pth("ta/" PACK2));
	expect_corrupt("swapped with another generation's", PACK2, "another object");

	/* another location under the same key: initialized from A's exported key */
	reset();
	CU_ASSERT_EQUAL(keytool(&out, NULL, "export-key", uri_of("ta"), NULL), 0);
	t_write_file(pth("ta.key"), out, 0600);
	free(out);
	CU_ASSERT_EQUAL(t_sh(&out, "cd '%s' && %s --config '%s' init '%s' key_file=ta.key", dir, KEYTOOL, cfg,
	                     uri_of("tb")), 0);
	CU_ASSERT(out && strstr(out, "initialized"));
	free(out);
	CU_ASSERT_EQUAL(run(ctx, pth("src.db"), uri_of("tb"), 'b', 0, NULL, 0), 0);
	CU_ASSERT_EQUAL(run(ctx, pth("src.db"), uri_of("tb"), 'b', LV_BACKUP_OVERWRITE, NULL, 0), 0);
	int rc;
	CU_ASSERT_EQUAL(restore_into_copy(ctx, uri_of("tb"), &rc, NULL, 0), dig_src);
	t_copy_file(pth("tb/" PACK2), pth("ta/" PACK2));
	expect_corrupt("swapped with another location's under the same key", PACK2, "another location");

	/* key slots: damaged; replaced by another location's first slot; one added from elsewhere */
	reset();
	t_flip_byte(pth("ta/" SLOT0), 100);
	expect_corrupt("a damaged key slot", SLOT0, "checksum");
	CU_ASSERT_EQUAL(run(ctx, pth("src.db"), uri_of("tc"), 'b', 0, NULL, 0), 0); /* its own key, same passphrase */
	reset();
	t_copy_file(pth("tc/" SLOT0), pth("ta/" SLOT0));
	expect_corrupt("a key slot replaced by another location's", MAN2, "another key");
	expect_corrupt("a key slot replaced by another location's", SLOT0, "replaced?");
	reset();
	t_copy_file(pth("tc/" SLOT0), pth("ta/licvault-crypt-key-00000000000000aa"));
	expect_corrupt("a key slot added from another location", "licvault-crypt-key-", "another location");
	/* a slot copied under another slot's name: the name is authenticated */
	reset();
	t_write_file(pth("pw3"), PASS3 "\n", 0600);
	char args[800];
	snprintf(args, sizeof args, "new_passphrase_file=%s", pth("pw3"));
	CU_ASSERT_EQUAL(keytool(&out, NULL, "add-key", uri_of("ta"), args), 0);
	free(out);
	char *other = NULL;
	t_sh(&other, "cd '%s' && ls licvault-crypt-key-* | grep -v 0000000000000000 | tr -d '\\n'", pth("ta"));
	CU_ASSERT_FATAL(other && strlen(other) == strlen(SLOT0));
	t_copy_file(pth("ta/%s", other), pth("ta/" SLOT0));
	setenv("LICVAULT_PASSPHRASE", PASS3, 1);
	expect_corrupt("a key slot copied over another", SLOT0, "wrapped key does not verify");
	setenv("LICVAULT_PASSPHRASE", PASS1, 1);
	free(other);
	/* the pristine location still restores */
	reset();
	CU_ASSERT_EQUAL(restore_into_copy(ctx, uri_of("ta"), &rc, NULL, 0), dig_src);
}

static void test_wrong_passphrase(void)
{
	char msg[1100];
	int rc;
	CU_ASSERT_EQUAL_FATAL(run(ctx, pth("src.db"), uri_of("wp"), 'b', 0, NULL, 0), 0);
	setenv("LICVAULT_PASSPHRASE", "not the passphrase", 1);
	unsigned long d = restore_into_copy(ctx, uri_of("wp"), &rc, msg, sizeof msg);
	setenv("LICVAULT_PASSPHRASE", PASS1, 1);
	CU_ASSERT_EQUAL(rc, LV_E_AUTH);
	CU_ASSERT(strstr(msg, "the passphrase does not open the key at") && strstr(msg, uri_of("wp")));
	CU_ASSERT_EQUAL(d, dig_t0);
	/* and a backup with it writes nothing */
	setenv("LICVAULT_PASSPHRASE", "not the passphrase", 1);
	CU_ASSERT_EQUAL(run(ctx, pth("src.db"), uri_of("wp"), 'b', LV_BACKUP_OVERWRITE, NULL, 0), LV_E_AUTH);
	setenv("LICVAULT_PASSPHRASE", PASS1, 1);
	CU_ASSERT(t_file_size(pth("wp/licvault-g0000000000000002.pack")) < 0);
	CU_ASSERT_EQUAL(restore_into_copy(ctx, uri_of("wp"), &rc, NULL, 0), dig_src);
}

/* ---- key management --------------------------------------------------------------------------- */

static int count_lines(const char *s)
{
	int n = 0;
	for (; s && *s; s++)
		n += *s == '\n';
	return n;
}

static void test_passwd_and_keys(void)
{
	char *out = NULL, args[900];
	int rc;
	const char *uri = uri_of("pw");
	CU_ASSERT_EQUAL_FATAL(run(ctx, pth("src.db"), uri, 'b', 0, NULL, 0), 0);
	t_write_file(pth("pw2"), PASS2 "\n", 0600);
	t_write_file(pth("pw3"), PASS3 "\n", 0600);
	snprintf(args, sizeof args, "new_passphrase_file=%s label=after-passwd", pth("pw2"));
	CU_ASSERT_EQUAL(keytool(&out, NULL, "passwd", uri, args), 0);
	CU_ASSERT(out && strstr(out, "replaces " SLOT0));
	free(out);
	CU_ASSERT(t_file_size(pth("pw/" SLOT0)) < 0); /* the old slot is gone */
	/* the new passphrase restores, the old one is refused */
	setenv("LICVAULT_PASSPHRASE", PASS2, 1);
	CU_ASSERT_EQUAL(restore_into_copy(ctx, uri, &rc, NULL, 0), dig_src);
	setenv("LICVAULT_PASSPHRASE", PASS1, 1);
	char msg[1100];
	CU_ASSERT_EQUAL(restore_into_copy(ctx, uri, &rc, msg, sizeof msg), dig_t0);
	CU_ASSERT_EQUAL(rc, LV_E_AUTH);
	/* add-key, keys, remove-key */
	setenv("LICVAULT_PASSPHRASE", PASS2, 1);
	snprintf(args, sizeof args, "new_passphrase_file=%s label=laptop", pth("pw3"));
	CU_ASSERT_EQUAL(keytool(&out, NULL, "add-key", uri, args), 0);
	free(out);
	CU_ASSERT_EQUAL(keytool(&out, NULL, "keys", uri, NULL), 0);
	CU_ASSERT_EQUAL(count_lines(out), 2);
	CU_ASSERT(out && strstr(out, "label 'laptop'") && strstr(out, "label 'after-passwd'") &&
	          strstr(out, "opslimit 1 memlimit 8192"));
	char id3[17] = "";
	const char *p = out ? strstr(out, "label 'laptop'") : NULL;
	while (p && p > out && p[-1] != '\n')
		p--;
	if (p)
		snprintf(id3, sizeof id3, "%.16s", p);
	free(out);
	setenv("LICVAULT_PASSPHRASE", PASS3, 1);
	CU_ASSERT_EQUAL(restore_into_copy(ctx, uri, &rc, NULL, 0), dig_src);
	/* not the slot this passphrase opens; then, with the other one, yes */
	CU_ASSERT_EQUAL(keytool(&out, NULL, "remove-key", uri, id3), 2);   /* INVALID_ARG */
	CU_ASSERT(out && strstr(out, "is the one this passphrase opens"));
	free(out);
	setenv("LICVAULT_PASSPHRASE", PASS2, 1);
	CU_ASSERT_EQUAL(keytool(&out, NULL, "remove-key", uri, id3), 0);
	free(out);
	CU_ASSERT_EQUAL(keytool(&out, NULL, "keys", uri, NULL), 0);
	CU_ASSERT_EQUAL(count_lines(out), 1);
	free(out);
	setenv("LICVAULT_PASSPHRASE", PASS3, 1);
	CU_ASSERT_EQUAL(restore_into_copy(ctx, uri, &rc, NULL, 0), dig_t0);
	CU_ASSERT_EQUAL(rc, LV_E_AUTH);
	/* never the last slot; init of an initialized location refused */
	setenv("LICVAULT_PASSPHRASE", PASS2, 1);
	CU_ASSERT_EQUAL(keytool(&out, NULL, "keys", uri, NULL), 0);
	char last[17] = "";
	snprintf(last, sizeof last, "%.16s", out ? out : "");
	free(out);
	CU_ASSERT_EQUAL(keytool(&out, NULL, "remove-key", uri, last), 2);
	CU_ASSERT(out && (strstr(out, "the last one") != NULL || strstr(out, "is the one this passphrase opens") != NULL));
	free(out);
	CU_ASSERT_EQUAL(keytool(&out, NULL, "init", uri, NULL), 1);   /* EXISTS */
	CU_ASSERT(out && strstr(out, "licvault: error: EXISTS: ") && strstr(out, "initialized already"));
	free(out);
	setenv("LICVAULT_PASSPHRASE", PASS1, 1);
}

/* A key command runs under the location's lock: BUSY, naming the holder, while another run
 * holds it (the lock sealed like every object, written through the crypt layer). */
static void test_command_under_the_lock(void)
{
	const char *uri = uri_of("cl");
	CU_ASSERT_EQUAL_FATAL(run(ctx, pth("src.db"), uri, 'b', 0, NULL, 0), 0);
	lv_location *l = NULL;
	CU_ASSERT_EQUAL_FATAL(lv_location_open(&l, ctx, uri, LV_OPEN_WRITE), 0);
	const lv_driver_ops *ops = lv_location_driver_ops(l);
	void *inst = lv_location_driver_instance(l);
	char lock[600];
	int n = snprintf(lock, sizeof lock,
	                 "licvault-lock 2\nhost far-away\nboot other-boot\npidns 4\npid 4242\nstart 0\nop backup\n"
	                 "time %lld\nrefreshed %lld\ntoken abcd\n",
	                 (long long)time(NULL), (long long)time(NULL));
	lv_writer *w = NULL;
	CU_ASSERT_EQUAL_FATAL(ops->write_begin(inst, "licvault.lock", (uint64_t)n, &w), 0);
	CU_ASSERT_EQUAL(ops->write(w, lock, (size_t)n), 0);
	CU_ASSERT_EQUAL(ops->commit(w, 0), 0);
	lv_location_close(l);
	char *out = NULL, args[900];
	t_write_file(pth("pwl"), PASS2 "\n", 0600);
	snprintf(args, sizeof args, "new_passphrase_file=%s", pth("pwl"));
	CU_ASSERT_EQUAL(keytool(&out, NULL, "add-key", uri, args), 5); /* BUSY */
	CU_ASSERT(out && strstr(out, "far-away") && strstr(out, "4242"));
	free(out);
	CU_ASSERT_EQUAL(keytool(&out, NULL, "keys", uri, NULL), 0); /* reading takes no lock */
	CU_ASSERT_EQUAL(count_lines(out), 1);
	free(out);
}

/* ---- passphrase sources ------------------------------------------------------------------------ */

static void test_sources(void)
{
	char msg[1100], extra[3000];
	int rc;
	CU_ASSERT_EQUAL_FATAL(run(ctx, pth("src.db"), uri_of("ps"), 'b', 0, NULL, 0), 0);
	t_write_file(pth("pw1"), PASS1 "\n", 0600);
	t_write_file(pth("pw1-open"), PASS1 "\n", 0644);
	t_write_file(pth("pwbad"), "wrong one\n", 0600);
	snprintf(extra, sizeof extra,
	         "[location \"pfile\"]\nuri = %s\npassphrase_file = %s\n"
	         "[location \"popen\"]\nuri = %s\npassphrase_file = %s\n"
	         "[location \"pcmd\"]\nuri = %s\npassphrase_command = cat '%s'\n"
	         "[location \"pfail\"]\nuri = %s\npassphrase_command = sh -c 'exit 4'\n"
	         "[location \"porder1\"]\nuri = %s\npassphrase_file = %s\npassphrase_command = cat '%s'\n"
	         "[location \"porder2\"]\nuri = %s\npassphrase_command = cat '%s'\n",
	         uri_of("ps"), pth("pw1"), uri_of("ps"), pth("pw1-open"), uri_of("ps"), pth("pw1"), uri_of("ps"),
	         uri_of("ps"), pth("pw1"), pth("pwbad"), uri_of("ps"), pth("pw1"));
	lv_context *c = context_with(extra);
	CU_ASSERT_FATAL(c != NULL);
	unsetenv("LICVAULT_PASSPHRASE");
	CU_ASSERT_EQUAL(restore_into_copy(c, "pfile:", &rc, msg, sizeof msg), dig_src);
	CU_ASSERT_EQUAL(restore_into_copy(c, "pcmd:", &rc, msg, sizeof msg), dig_src);
	CU_ASSERT_EQUAL(restore_into_copy(c, "popen:", &rc, msg, sizeof msg), dig_t0);
	CU_ASSERT_EQUAL(rc, LV_E_CONFIG);
	CU_ASSERT(strstr(msg, pth("pw1-open")) && strstr(msg, "0644"));
	CU_ASSERT_EQUAL(restore_into_copy(c, "pfail:", &rc, msg, sizeof msg), dig_t0);
	CU_ASSERT(rc == LV_E_CONFIG && strstr(msg, "exited with status 4"));
	/* none set: a clear refusal */
	CU_ASSERT_EQUAL(restore_into_copy(c, uri_of("ps"), &rc, msg, sizeof msg), dig_t0);
	CU_ASSERT(rc == LV_E_CONFIG && strstr(msg, "no source for the passphrase"));
	/* the order: file, then command, then the environment */
	setenv("LICVAULT_PASSPHRASE", "wrong from the environment", 1);
	CU_ASSERT_EQUAL(restore_into_copy(c, "porder1:", &rc, msg, sizeof msg), dig_src);
	CU_ASSERT_EQUAL(restore_into_copy(c, "porder2:", &rc, msg, sizeof msg), dig_src);
	CU_ASSERT_EQUAL(restore_into_copy(c, uri_of("ps"), &rc, msg, sizeof msg), dig_t0);
	CU_ASSERT_EQUAL(rc, LV_E_AUTH);
	setenv("LICVAULT_PASSPHRASE", PASS1, 1);
	CU_ASSERT_EQUAL(restore_into_copy(c, uri_of("ps"), &rc, msg, sizeof msg), dig_src);
	/* a first backup without any source: refused, nothing written */
	unsetenv("LICVAULT_PASSPHRASE");
	CU_ASSERT_EQUAL(run(c, pth("src.db"), uri_of("nosrc"), 'b', 0, msg, sizeof msg), LV_E_CONFIG);
	CU_ASSERT(strstr(msg, "no source for the passphrase") != NULL);
	char *out = NULL;
	t_sh(&out, "ls -A '%s' 2>/dev/null | tr '\\n' ' '", pth("nosrc"));
	CU_ASSERT(out && !strstr(out, "licvault-"));
	free(out);
	/* nor over objects whose key slots were lost: no new key is made over them */
	setenv("LICVAULT_PASSPHRASE", PASS1, 1);
	t_copy_dir(pth("ps"), pth("lost"), 0);
	unlink(pth("lost/" SLOT0));
	CU_ASSERT_EQUAL(run(c, pth("src.db"), uri_of("lost"), 'b', LV_BACKUP_OVERWRITE, msg, sizeof msg),
	                LV_E_BACKUP_CORRUPT);
	CU_ASSERT(strstr(msg, "no key slot") && strstr(msg, "makes no new key"));
	CU_ASSERT(t_file_size(pth("lost/" SLOT0)) < 0);
	CU_ASSERT_EQUAL(restore_into_copy(c, uri_of("lost"), &rc, msg, sizeof msg), dig_t0);
	CU_ASSERT(rc == LV_E_BACKUP_CORRUPT && strstr(msg, "has no key slot"));
	setenv("LICVAULT_PASSPHRASE", PASS1, 1);
	lv_context_free(c);
}

/* ---- no secret in any output ---------------------------------------------------------------------- */

typedef struct logbuf {
	char *p;
	size_t n;
} logbuf;

static void log_cb(int level, const char *line, void *ud)
{
	logbuf *b = ud;
	size_t l = strlen(line);
	b->p = realloc(b->p, b->n + l + 2);
	memcpy(b->p + b->n, line, l);
	b->p[b->n + l] = '\n';
	b->n += l + 1;
	b->p[b->n] = 0;
	(void)level;
}

static int leaks(const char *text, const char *key_hex)
{
	if (!text)
		return 0;
	int bad = strstr(text, PASS1) || strstr(text, PASS2) || strstr(text, "wrong horse") ||
	          (key_hex && key_hex[0] && strstr(text, key_hex));
	if (bad)
		fprintf(stderr, "\n  a secret in: %s", text);
	return bad;
}

/* The driver's keys through the host's one typed getter: its spellings, its ranges, its messages. */
static void test_config_keys(void)
{
	char msg[1100], extra[2000];
	int rc;
	CU_ASSERT_EQUAL_FATAL(run(ctx, pth("src.db"), uri_of("ck"), 'b', 0, NULL, 0), 0);
	snprintf(extra, sizeof extra, "[location \"up\"]\nuri = %s\nthreads = OFF\n[location \"on\"]\nuri = %s\nthreads = On\n",
	         uri_of("ck"), uri_of("ck"));
	lv_context *c = context_with(extra);
	CU_ASSERT_FATAL(c != NULL);
	CU_ASSERT_EQUAL(restore_into_copy(c, "up:", &rc, msg, sizeof msg), dig_src);
	CU_ASSERT_EQUAL(restore_into_copy(c, "on:", &rc, msg, sizeof msg), dig_src);
	lv_context_free(c);
	static const char *const bad[][2] = {
		{"threads = maybe", "threads = 'maybe': expected yes or no"},
		{"kdf_memlimit = 64M", "kdf_memlimit = '64M': expected a whole number"},
		{"kdf_opslimit = 0", "kdf_opslimit = '0'"},
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		snprintf(extra, sizeof extra, "[location \"bad\"]\nuri = %s\n%s\n", uri_of("ck"), bad[i][0]);
		c = context_with(extra);
		if (!c) /* refused when the file is read: fine too */
			continue;
		CU_ASSERT_EQUAL(restore_into_copy(c, "bad:", &rc, msg, sizeof msg), dig_t0);
		CU_ASSERT_EQUAL(rc, LV_E_CONFIG);
		if (!strstr(msg, bad[i][1]) || !strstr(msg, "cfg-"))
			fprintf(stderr, "\n  %s: %s", bad[i][0], msg);
		CU_ASSERT(strstr(msg, bad[i][1]) && strstr(msg, "cfg-")); /* the file named */
		lv_context_free(c);
	}
}

static void test_no_secret_in_output(void)
{
	char *out = NULL, args[900], key_hex[20] = "";
	const char *uri = uri_of("ns");
	t_write_file(pth("pw2"), PASS2 "\n", 0600);
	/* the CLI with -v: first backup (init), restore, a wrong passphrase */
	CU_ASSERT_EQUAL(t_sh(&out, "'%s' -v --config '%s' --store '%s' backup '%s'", T_CLI, cfg, pth("src.db"), uri), 0);
	CU_ASSERT(!leaks(out, NULL));
	free(out);
	CU_ASSERT_EQUAL(t_sh(&out, "'%s' -v --config '%s' --store '%s' restore --individualize '%s'", T_CLI, cfg,
	                     pth("ns.db"), uri), 0);
	CU_ASSERT(!leaks(out, NULL));
	free(out);
	CU_ASSERT_NOT_EQUAL(t_sh(&out, "LICVAULT_PASSPHRASE='wrong horse' '%s' -v --config '%s' --store '%s' restore '%s'",
	                         T_CLI, cfg, pth("ns2.db"), uri), 0);
	CU_ASSERT(out && strstr(out, "AUTH") && !leaks(out, NULL));
	free(out);
	/* the key tool at its most verbose: every verb but export-key prints no key */
	CU_ASSERT_EQUAL(keytool(&out, NULL, "-vv export-key", uri, NULL), 0);
	const char *k = out ? strstr(out, "key: ") : NULL;
	if (k)
		snprintf(key_hex, sizeof key_hex, "%.8s", k + 5);
	CU_ASSERT(strlen(key_hex) == 8 && !leaks(out, NULL));
	free(out);
	snprintf(args, sizeof args, "new_passphrase_file=%s", pth("pw2"));
	const char *verbs[] = {"-vv keys", "-vv add-key", "-vv passwd"};
	for (size_t i = 0; i < 3; i++) {
		CU_ASSERT_EQUAL(keytool(&out, NULL, verbs[i], uri, i ? args : NULL), 0);
		CU_ASSERT(!leaks(out, key_hex));
		free(out);
	}
	/* the library's log at debug level, and the run's messages */
	logbuf lb = {0};
	lv_context_set_log(ctx, LV_LOG_DEBUG, log_cb, &lb);
	char msg[1100];
	int rc;
	restore_into_copy(ctx, uri, &rc, msg, sizeof msg); /* PASS1's slot was replaced by passwd: AUTH */
	CU_ASSERT_EQUAL(rc, LV_E_AUTH);
	CU_ASSERT(!leaks(msg, key_hex));
	setenv("LICVAULT_PASSPHRASE", PASS2, 1);
	CU_ASSERT_EQUAL(restore_into_copy(ctx, uri, &rc, msg, sizeof msg), dig_src);
	CU_ASSERT_EQUAL(run(ctx, pth("src.db"), uri, 'b', LV_BACKUP_OVERWRITE, msg, sizeof msg), 0);
	setenv("LICVAULT_PASSPHRASE", PASS1, 1);
	lv_context_set_log(ctx, LV_LOG_WARN, NULL, NULL);
	CU_ASSERT(lb.p && strstr(lb.p, "from $LICVAULT_PASSPHRASE")); /* debug logging did run */
	CU_ASSERT(!leaks(lb.p, key_hex));
	free(lb.p);
	/* nor at the location */
	t_sh(&out, "cat '%s'/* | grep -c -e '%s' -e '%s'", pth("ns"), PASS1, PASS2);
	CU_ASSERT(out && atoi(out) == 0);
	free(out);
}

/* ---- over a removable volume and over sftp --------------------------------------------------------- */

static void test_removable(void)
{
	const char *why = fx_namespace();
	if (!why)
		why = fx_volume_unavailable("ext4");
	if (why) {
		fprintf(stderr, "\n  SKIP crypt over removable: %s", why);
		return;
	}
	static fx_volume v;
	CU_ASSERT_EQUAL_FATAL(fx_volume_make(&v, dir, "ext4", "LVCRYPTT", 16, NULL), 0);
	lv_context *c = context_with("[driver \"removable\"]\nallow_fixed = yes\n");
	CU_ASSERT_FATAL(c != NULL);
	char msg[1100];
	int rc;
	CU_ASSERT_EQUAL(run(c, pth("src.db"), "crypt+removable://LVCRYPTT/lic", 'b', 0, msg, sizeof msg), 0);
	CU_ASSERT_EQUAL(restore_into_copy(c, "crypt+removable://LVCRYPTT/lic", &rc, msg, sizeof msg), dig_src);
	char p[700];
	snprintf(p, sizeof p, "%s/lic/licvault-g0000000000000001.pack", v.mnt);
	CU_ASSERT(starts_with_magic(p));
	lv_context_free(c);
	fx_volume_destroy(&v);
}

static void test_sftp(void)
{
	t_sshd s;
	char why[512];
	if (t_sshd_start(&s, why, sizeof why)) {
		fprintf(stderr, "\n  SKIP crypt over sftp: %s", why);
		return;
	}
	char conf[700], uri[900], msg[1100], extra[1200];
	snprintf(conf, sizeof conf, "%s/sftp.conf", dir);
	snprintf(extra, sizeof extra, "use_agent = no\nidentity_file = %s\n[driver \"crypt\"]\nkdf_opslimit = 1\n"
	                              "kdf_memlimit = 8192\n[service]\nrestores_per_day = 1000000\n", s.client_key);
	t_sshd_write_config(&s, conf, extra);
	lv_context *c = t_context();
	CU_ASSERT_FATAL(c && lv_context_load_config(c, conf) == 0);
	snprintf(uri, sizeof uri, "crypt+sftp://127.0.0.1:%d%s/lic", s.port, s.data);
	CU_ASSERT_EQUAL(run(c, pth("src.db"), uri, 'b', 0, msg, sizeof msg), 0);
	int rc;
	CU_ASSERT_EQUAL(restore_into_copy(c, uri, &rc, msg, sizeof msg), dig_src);
	char p[700];
	snprintf(p, sizeof p, "%s/lic/licvault-g0000000000000001.pack", s.data);
	CU_ASSERT(starts_with_magic(p));
	snprintf(p, sizeof p, "%s/lic/" SLOT0, s.data);
	CU_ASSERT_EQUAL(t_file_size(p), 256);
	/* the key tool over sftp too */
	char *out = NULL;
	CU_ASSERT_EQUAL(keytool(&out, conf, "keys", uri, NULL), 0);
	CU_ASSERT_EQUAL(count_lines(out), 1);
	free(out);
	lv_context_free(c);
	t_sshd_stop(&s);
}

/* ---- the worked example of the doc ------------------------------------------------------------------ */

static void test_doc_decryptor(void)
{
	char *out = NULL;
	if (t_sh(&out, "command -v python3") != 0) {
		free(out);
		fprintf(stderr, "\n  SKIP: no python3 for the doc's decryptor");
		return;
	}
	free(out);
	/* the script, as docs/drivers/crypt.md shows it */
	CU_ASSERT_EQUAL_FATAL(t_sh(&out, "sed -n '/^```python decrypt.py/,/^```$/p' '%s/docs/drivers/crypt.md' | sed '1d;$d' > '%s'",
	                           LV_TEST_SOURCE_DIR, pth("decrypt.py")), 0);
	free(out);
	CU_ASSERT_FATAL(t_file_size(pth("decrypt.py")) > 500);
	/* an object of three chunks and a bit, through the driver */
	size_t n = 3 * 65536 + 1234;
	unsigned char *b = malloc(n);
	for (size_t i = 0; i < n; i++)
		b[i] = (unsigned char)(i * 7 + (i >> 8));
	struct lv_location *l = NULL;
	CU_ASSERT_EQUAL_FATAL(lv_location_open(&l, ctx, uri_of("doc"), LV_OPEN_WRITE), 0);
	const lv_driver_ops *ops = lv_location_driver_ops(l);
	lv_writer *w = NULL;
	CU_ASSERT_EQUAL_FATAL(ops->write_begin(lv_location_driver_instance(l), "doc-object", n, &w), 0);
	CU_ASSERT_EQUAL(ops->write(w, b, n), 0);
	CU_ASSERT_EQUAL(ops->commit(w, 0), 0);
	lv_location_close(l);
	t_write_bytes(pth("doc-plain"), b, n);
	free(b);
	int st = t_sh(&out, "python3 '%s' '%s' doc-object > '%s' && cmp '%s' '%s'", pth("decrypt.py"), pth("doc"),
	              pth("doc-out"), pth("doc-out"), pth("doc-plain"));
	if (st)
		fprintf(stderr, "\n  decrypt.py: %s", out ? out : "");
	CU_ASSERT_EQUAL(st, 0);
	free(out);
	/* and it refuses a changed byte */
	t_flip_byte(pth("doc/doc-object"), 70000);
	CU_ASSERT_NOT_EQUAL(t_sh(&out, "python3 '%s' '%s' doc-object > /dev/null", pth("decrypt.py"), pth("doc")), 0);
	free(out);
}

/* ---- the fuzz target's smoke round -------------------------------------------------------------------- */

static void test_fuzz_smoke(void)
{
	T_SKIP_IF(T_SANITIZED, "the fuzz target is built with ASan and UBSan in every build");
	char bin[700], *out = NULL;
	snprintf(bin, sizeof bin, "%s/fuzz/fuzz_crypt", LV_TEST_BUILD_DIR);
	if (access(bin, X_OK) != 0) {
		snprintf(bin, sizeof bin, "%s/fuzz_crypt", dir);
		int st = t_sh(&out, "clang -g -O1 -fsanitize=fuzzer,address,undefined -D_GNU_SOURCE -DFUZZING_BUILD_MODE_UNSAFE_FOR_PRODUCTION -I'%s/include' "
		                    "-I'%s/drivers/crypt' '%s/tests/fuzz/fuzz_crypt.c' '%s/drivers/crypt/stream.c' -lsodium -o '%s'",
		              LV_TEST_SOURCE_DIR, LV_TEST_SOURCE_DIR, LV_TEST_SOURCE_DIR, LV_TEST_SOURCE_DIR, bin);
		free(out);
		out = NULL;
		if (st) {
			fprintf(stderr, "\n  SKIP fuzz smoke: clang cannot build libFuzzer targets here");
			return;
		}
	}
	char corpus[700];
	snprintf(corpus, sizeof corpus, "%s/fuzz-corpus", dir);
	t_sh(NULL, "mkdir -p '%s' && cp '%s'/tests/fuzz/corpus/crypt/* '%s'/", corpus, LV_TEST_SOURCE_DIR, corpus);
	int st = t_sh(&out, "'%s' -runs=20000 -max_total_time=5 -max_len=8192 -rss_limit_mb=512 -timeout=10 "
	                    "-artifact_prefix='%s/' '%s'", bin, dir, corpus);
	if (st)
		fprintf(stderr, "\n%s\n", out ? out : "");
	CU_ASSERT_EQUAL(st, 0);
	CU_ASSERT(out && strstr(out, "Done") != NULL);
	free(out);
}

LV_SUITE(crypt, crypt, init, clean,
         {"round trip over file://, first backup initializes", test_roundtrip_file},
         {"bundle+crypt+file://; crypt+bundle refused", test_roundtrip_bundle},
         {"conformance on crypt+file://", test_conformance},
         {"tampering: BACKUP_CORRUPT naming the object, store unchanged", test_tampering},
         {"wrong passphrase: AUTH, store unchanged", test_wrong_passphrase},
         {"passwd, add-key, keys, remove-key", test_passwd_and_keys},
         {"a key command runs under the location's lock", test_command_under_the_lock},
         {"passphrase sources and their order", test_sources},
         {"keys through the host's typed getter", test_config_keys},
         {"no secret in any output", test_no_secret_in_output},
         {"over a removable volume", test_removable},
         {"over sftp", test_sftp},
         {"the doc's decryptor", test_doc_decryptor},
         {"fuzz smoke round", test_fuzz_smoke})
