/*
 * The s3 driver against a real S3 server: Ceph's RADOS Gateway on loopback
 * (fixture_rgw.c), started once for the suite.  Every case skips, saying
 * why, only when the gateway cannot start.  The long cases (a 256 MiB
 * object, the gateway killed mid-upload) are in test_s3_slow.c.
 */
#include "conformance.h"
#include "testutil.h"
#include "fixture_rgw.h"
#include "licvault/driver.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <zlib.h>

/* Every bucket the suite uses, made at once (boto3 starts slowly). */
static const char buckets[] = "ops conf roundtrip authn tls busy retry cancel interop quota hist uri creds";

static int suite_init(void)
{
	s3t_up = t_rgw_start(&s3t_rgw, s3t_why, sizeof s3t_why) == 0;
	if (s3t_up && t_rgw_make_buckets(&s3t_rgw, buckets)) {
		snprintf(s3t_why, sizeof s3t_why, "the buckets cannot be made with boto3");
		t_rgw_stop(&s3t_rgw);
		s3t_up = 0;
	}
	if (!s3t_up)
		fprintf(stderr, "s3: the RADOS Gateway cannot start, the s3 tests are skipped: %s\n", s3t_why);
	return 0;
}

static int suite_clean(void)
{
	if (s3t_up)
		t_rgw_stop(&s3t_rgw);
	return 0;
}

/* ---- the driver's operations ------------------------------------------------------ */

static struct lv_location *open_loc(lv_context *ctx, const char *uri, unsigned flags)
{
	struct lv_location *l = NULL;
	int rc = lv_location_open(&l, ctx, uri, flags);
	if (rc)
		fprintf(stderr, "open %s: %s: %s\n", uri, lv_error_name(rc), lv_context_last_error(ctx));
	CU_ASSERT_EQUAL_FATAL(rc, 0);
	return l;
}

#define OPS(l) lv_location_driver_ops(l)
#define INST(l) lv_location_driver_instance(l)

static int names_cb(const lv_object_info *info, void *ud)
{
	char *buf = ud;
	size_t n = strlen(buf);
	snprintf(buf + n, 4096 - n, "%s;", info->name);
	return 0;
}

static void t_driver_ops(void)
{
	S3T_NEED();
	lv_context *ctx = s3t_ctx(s3t_config("ops", "part_size = 5\nparallel_parts = 3\n"));
	struct lv_location *l = open_loc(ctx, "s3://ops/loc", LV_OPEN_WRITE);
	char names[4096];
	unsigned long crc = 0, back = 0;
	lv_object_info info;
	/* one PUT: published at commit, never replaced unless asked */
	CU_ASSERT_EQUAL(s3t_put(l, "a.obj", 1000, 0, &crc), 0);
	CU_ASSERT_EQUAL(OPS(l)->stat(INST(l), "a.obj", &info), 0);
	CU_ASSERT_EQUAL(info.size, 1000);
	CU_ASSERT(info.mtime > 1700000000);
	CU_ASSERT_EQUAL(s3t_put(l, "a.obj", 7, 0, NULL), LV_E_EXISTS);
	CU_ASSERT_PTR_NOT_NULL(strstr(lv_location_last_error(l), "already exists"));
	CU_ASSERT_EQUAL(s3t_get(l, "a.obj", &back), 1000);
	CU_ASSERT_EQUAL(back, crc);
	CU_ASSERT_EQUAL(s3t_put(l, "a.obj", 7, LV_COMMIT_REPLACE, &crc), 0);
	CU_ASSERT_EQUAL(s3t_get(l, "a.obj", &back), 7);
	CU_ASSERT_EQUAL(back, crc);

	/* a multipart upload (12 MiB in parts of 5): invisible until commit */
	lv_writer *w = NULL;
	CU_ASSERT_EQUAL_FATAL(OPS(l)->write_begin(INST(l), "big.obj", UINT64_MAX, &w), 0);
	static unsigned char mib[1 << 20];
	unsigned long wcrc = crc32(0L, Z_NULL, 0);
	for (int i = 0; i < 12; i++) {
		memset(mib, 'a' + i, sizeof mib);
		wcrc = crc32(wcrc, mib, sizeof mib);
		CU_ASSERT_EQUAL(OPS(l)->write(w, mib, sizeof mib), 0);
	}
	CU_ASSERT_EQUAL(OPS(l)->list(INST(l), names_cb, (names[0] = '\0', names)), 0);
	CU_ASSERT_PTR_NULL(strstr(names, "big.obj"));
	CU_ASSERT_EQUAL(OPS(l)->commit(w, 0), 0);
	CU_ASSERT_EQUAL(s3t_get(l, "big.obj", &back), 12 << 20);
	CU_ASSERT_EQUAL(back, wcrc);
	/* again without REPLACE: the HEAD before the completion refuses it, the old one stays */
	CU_ASSERT_EQUAL(s3t_put(l, "big.obj", 11 << 20, 0, NULL), LV_E_EXISTS);
	CU_ASSERT_EQUAL(OPS(l)->stat(INST(l), "big.obj", &info), 0);
	CU_ASSERT_EQUAL(info.size, 12 << 20);
	/* abort mid-way, and a writer left open at close: nothing published */
	CU_ASSERT_EQUAL_FATAL(OPS(l)->write_begin(INST(l), "aborted.obj", UINT64_MAX, &w), 0);
	for (int i = 0; i < 7; i++)
		CU_ASSERT_EQUAL(OPS(l)->write(w, mib, sizeof mib), 0);
	OPS(l)->abort(w);
	CU_ASSERT_EQUAL(OPS(l)->stat(INST(l), "aborted.obj", &info), LV_E_NOT_FOUND);

	/* missing objects */
	lv_reader *r = NULL;
	CU_ASSERT_EQUAL(OPS(l)->read_open(INST(l), "nope", &r), LV_E_NOT_FOUND);
	CU_ASSERT_EQUAL(OPS(l)->remove(INST(l), "nope"), LV_E_NOT_FOUND);
	CU_ASSERT_EQUAL(OPS(l)->stat(INST(l), "nope", &info), LV_E_NOT_FOUND);
	CU_ASSERT_EQUAL(OPS(l)->remove(INST(l), "a.obj"), 0);
	CU_ASSERT_EQUAL(OPS(l)->stat(INST(l), "a.obj", &info), LV_E_NOT_FOUND);
	CU_ASSERT_EQUAL_FATAL(OPS(l)->write_begin(INST(l), "left-open.obj", UINT64_MAX, &w), 0);
	for (int i = 0; i < 6; i++)
		CU_ASSERT_EQUAL(OPS(l)->write(w, mib, sizeof mib), 0);
	lv_location_close(l);

	/* keys that are no objects of the location: a dot name, a deeper key */
	l = open_loc(ctx, "s3://ops", LV_OPEN_WRITE);
	CU_ASSERT_EQUAL(s3t_put(l, "loc-sibling", 3, 0, NULL), 0);
	lv_location_close(l);
	l = open_loc(ctx, "s3://ops/loc/sub", LV_OPEN_WRITE);
	CU_ASSERT_EQUAL(s3t_put(l, "deeper", 3, 0, NULL), 0);
	lv_location_close(l);
	l = open_loc(ctx, "s3://ops/loc", LV_OPEN_WRITE);
	CU_ASSERT_EQUAL(s3t_put(l, ".tmp-like", 3, 0, NULL), 0);
	lv_location_close(l);
	CU_ASSERT_EQUAL(s3t_list(ctx, "s3://ops/loc", names), 0);
	CU_ASSERT_STRING_EQUAL(names, "big.obj;");
	/* no multipart upload is left behind by any of this */
	CU_ASSERT_EQUAL(s3t_uploads("ops"), 0);
	lv_context_free(ctx);
}

/* licvault's driver conformance suite, on s3:// and bundle+s3:// */
static void t_conformance(void)
{
	S3T_NEED();
	lv_context *ctx = s3t_ctx(s3t_config("conf", "part_size = 5\n"));
	int ran = 0;
	CU_ASSERT_EQUAL(lv_conformance_run(ctx, "s3://conf/plain", 12, getenv("LV_TEST_VERBOSE") != NULL, &ran), 0);
	CU_ASSERT(ran >= 6);
	CU_ASSERT_EQUAL(lv_conformance_run(ctx, "bundle+s3://conf/b/lic.lvb", 6, getenv("LV_TEST_VERBOSE") != NULL, &ran),
	                0);
	CU_ASSERT(ran >= 6);
	lv_context_free(ctx);
}

/* ---- round trip, history ------------------------------------------------------------ */

static void t_roundtrip_10k(void)
{
	S3T_NEED();
	lv_context *ctx = s3t_ctx(s3t_config("roundtrip", "part_size = 5\n"));
	const char *path = s3t_store10k();
	CU_ASSERT_PTR_NOT_NULL_FATAL(path);
	lv_store *s = NULL;
	CU_ASSERT_EQUAL_FATAL(lv_store_open(&s, ctx, path, 0), 0);
	char msg[1024], names[4096], dir[700];
	CU_ASSERT_EQUAL(s3t_run(ctx, s, "s3://roundtrip/lic/set", 'b', 0, msg, sizeof msg), 0);
	/* the location holds the set and nothing else (the lock is gone) */
	CU_ASSERT_EQUAL(s3t_list(ctx, "s3://roundtrip/lic/set", names), 0);
	CU_ASSERT_PTR_NOT_NULL(strstr(names, ".pack;"));
	CU_ASSERT_PTR_NOT_NULL(strstr(names, ".manifest;"));
	CU_ASSERT_PTR_NULL(strstr(names, "licvault.lock"));
	/* the same store through the file driver: both restores give the same licenses */
	snprintf(dir, sizeof dir, "%s/roundtrip-file", s3t_rgw.dir);
	CU_ASSERT_EQUAL(t_backup(ctx, s, dir, 0, NULL), 0);
	unsigned long d_s3 = 0, d_file = 0;
	long n_s3 = s3t_restore_count(ctx, "s3://roundtrip/lic/set", &d_s3);
	long n_file = s3t_restore_count(ctx, dir, &d_file);
	CU_ASSERT(n_s3 > 7000);
	CU_ASSERT_EQUAL(n_s3, n_file);
	CU_ASSERT_EQUAL(d_s3, d_file);
	t_events ev;
	CU_ASSERT_EQUAL(t_verify(ctx, s, "s3://roundtrip/lic/set", &ev), 0);
	/* the pack as another tool reads it: the bytes the file driver wrote */
	char *pack = t_find(dir, ".pack"), *out = NULL;
	CU_ASSERT_PTR_NOT_NULL_FATAL(pack);
	const char *base = strrchr(pack, '/') + 1;
	int rc = t_rgw_sh(&s3t_rgw, &out,
	                  "/usr/bin/aws --endpoint-url \"$LV_S3_ENDPOINT\" s3 cp --only-show-errors s3://roundtrip/lic/set/%s "
	                  "'%s/roundtrip.pack' && cmp '%s' '%s/roundtrip.pack'",
	                  base, s3t_rgw.dir, pack, s3t_rgw.dir);
	if (rc)
		fprintf(stderr, "aws s3 cp: %s\n", out ? out : "");
	CU_ASSERT_EQUAL(rc, 0);
	free(out);
	free(pack);
	lv_store_free(s);
	lv_context_free(ctx);
}

static void t_history(void)
{
	S3T_NEED();
	lv_context *ctx = s3t_ctx(s3t_config("hist", "part_size = 5\n[service]\nrestores_per_day = 1000\n"));
	lv_store *s = s3t_store(ctx, "hist", 300);
	char msg[1024], names[4096];
	const char *uri = "s3://hist/h";
	CU_ASSERT_EQUAL(s3t_run(ctx, s, uri, 'b', 0, msg, sizeof msg), 0);
	CU_ASSERT_EQUAL(s3t_run(ctx, s, uri, 'b', 0, msg, sizeof msg), LV_E_BACKUP_EXISTS);
	lv_license l;
	char kid[32];
	unsigned char payload[64];
	t_license(&l, 5000, kid, sizeof kid, payload, sizeof payload);
	l.rights |= LV_RIGHT_BACKUP;
	CU_ASSERT_EQUAL(lv_store_add(s, &l, 0), 0);
	CU_ASSERT_EQUAL(s3t_run(ctx, s, uri, 'b', LV_BACKUP_OVERWRITE, msg, sizeof msg), 0);
	CU_ASSERT_EQUAL(s3t_restore_count(ctx, uri, NULL), 241); /* 300 - 60 restricted + 1: the newest generation */
	CU_ASSERT_EQUAL(s3t_list(ctx, uri, names), 0);
	CU_ASSERT_PTR_NOT_NULL(strstr(names, "licvault-0000000000000002.manifest"));
	lv_store_free(s);
	lv_context_free(ctx);
}

/* ---- authentication, buckets, secrets --------------------------------------------------- */

typedef struct logbuf {
	char *text;
	size_t len;
	pthread_mutex_t m;
} logbuf;

static void log_cb(int level, const char *line, void *ud)
{
	(void)level;
	logbuf *b = ud;
	pthread_mutex_lock(&b->m);
	size_t n = strlen(line);
	char *p = realloc(b->text, b->len + n + 2);
	if (p) {
		memcpy(p + b->len, line, n);
		p[b->len + n] = '\n';
		p[b->len + n + 1] = '\0';
		b->text = p;
		b->len += n + 1;
	}
	pthread_mutex_unlock(&b->m);
}

static void t_auth_bucket_secrets(void)
{
	S3T_NEED();
	char bad[700], msg[1024];
	snprintf(bad, sizeof bad, "%s/wrong-secret", s3t_rgw.dir);
	FILE *f = fopen(bad, "w");
	CU_ASSERT_PTR_NOT_NULL_FATAL(f);
	fputs("Wr0ngSecretWr0ngSecretWr0ngSecret4711\n", f);
	fclose(f);
	chmod(bad, 0600);
	logbuf lb = {NULL, 0, PTHREAD_MUTEX_INITIALIZER};
	/* a wrong secret: AUTH, with the S3 code, the bucket and where the keys came from */
	lv_context *ctx = s3t_ctx(s3t_config("wrongsecret", "secret_access_key_file = %s\n", bad));
	lv_context_set_log(ctx, LV_LOG_DEBUG, log_cb, &lb);
	lv_store *s = s3t_store(ctx, "authn", 20);
	CU_ASSERT_EQUAL(s3t_run(ctx, s, "s3://authn/x", 'b', 0, msg, sizeof msg), LV_E_AUTH);
	CU_ASSERT_PTR_NOT_NULL(strstr(msg, "SignatureDoesNotMatch"));
	CU_ASSERT_PTR_NOT_NULL(strstr(msg, "HTTP 403"));
	CU_ASSERT_PTR_NOT_NULL(strstr(msg, "s3://authn/"));
	CU_ASSERT_PTR_NOT_NULL(strstr(msg, bad));
	CU_ASSERT_PTR_NULL(strstr(msg, "Wr0ngSecret"));
	lv_context_free(ctx);
	/* an unknown key id */
	ctx = s3t_ctx(s3t_config("wrongid", "access_key_id = LVNOSUCHKEY\n"));
	CU_ASSERT_EQUAL(s3t_run(ctx, s, "s3://authn/x", 'b', 0, msg, sizeof msg), LV_E_AUTH);
	CU_ASSERT_PTR_NOT_NULL(strstr(msg, "InvalidAccessKeyId"));
	lv_context_free(ctx);
	/* a missing bucket: NOT_FOUND naming it; create_bucket = yes makes it */
	ctx = s3t_ctx(s3t_rgw.config_path);
	lv_context_set_log(ctx, LV_LOG_DEBUG, log_cb, &lb);
	CU_ASSERT_EQUAL(s3t_run(ctx, s, "s3://made-by-lv/x", 'b', 0, msg, sizeof msg), LV_E_NOT_FOUND);
	CU_ASSERT_PTR_NOT_NULL(strstr(msg, "made-by-lv"));
	CU_ASSERT_PTR_NOT_NULL(strstr(msg, "create_bucket"));
	CU_ASSERT_EQUAL(s3t_run(ctx, s, "s3://made-by-lv/x", 'r', LV_RESTORE_INDIVIDUALIZE, msg, sizeof msg),
	                LV_E_NOT_FOUND);
	lv_context_free(ctx);
	ctx = s3t_ctx(s3t_config("create", "create_bucket = yes\n"));
	lv_context_set_log(ctx, LV_LOG_DEBUG, log_cb, &lb);
	CU_ASSERT_EQUAL(s3t_run(ctx, s, "s3://made-by-lv/x", 'b', 0, msg, sizeof msg), 0);
	CU_ASSERT_EQUAL(s3t_restore_count(ctx, "s3://made-by-lv/x", NULL), 16);
	lv_context_free(ctx);
	/* an endpoint nobody listens on: IO naming the address */
	ctx = s3t_ctx(s3t_config("unreachable", "endpoint = http://127.0.0.1:9\nretries = 1\n"));
	CU_ASSERT_EQUAL(s3t_run(ctx, s, "s3://authn/x", 'b', 0, msg, sizeof msg), LV_E_IO);
	CU_ASSERT_PTR_NOT_NULL(strstr(msg, "http://127.0.0.1:9"));
	lv_context_free(ctx);
	/* under debug logging no secret appeared in any line, though requests were logged */
	CU_ASSERT_PTR_NOT_NULL_FATAL(lb.text);
	CU_ASSERT_PTR_NOT_NULL(strstr(lb.text, "s3: PUT s3://made-by-lv/x/licvault-"));
	CU_ASSERT_PTR_NULL(strstr(lb.text, s3t_rgw.secret_key));
	CU_ASSERT_PTR_NULL(strstr(lb.text, "Wr0ngSecret"));
	free(lb.text);
	lv_store_free(s);
}

static void t_tls(void)
{
	S3T_NEED();
	if (!s3t_rgw.tls) {
		fprintf(stderr, "  skipped %s: the gateway serves no TLS port (openssl could not make a certificate)\n",
		        __func__);
		return;
	}
	char msg[1024];
	lv_context *ctx = s3t_ctx(s3t_config("tls-noca", "endpoint = %s\nretries = 0\n", s3t_rgw.tls_endpoint));
	lv_store *s = s3t_store(ctx, "tls", 30);
	CU_ASSERT_EQUAL(s3t_run(ctx, s, "s3://tls/x", 'b', 0, msg, sizeof msg), LV_E_HOST_KEY);
	CU_ASSERT_PTR_NOT_NULL(strstr(msg, "certificate"));
	CU_ASSERT_PTR_NOT_NULL(strstr(msg, "ca_file"));
	CU_ASSERT_PTR_NOT_NULL(strstr(msg, s3t_rgw.tls_endpoint));
	lv_context_free(ctx);
	ctx = s3t_ctx(s3t_config("tls-ca", "endpoint = %s\nca_file = %s\n[service]\nrestores_per_day = 1000\n",
	                         s3t_rgw.tls_endpoint, s3t_rgw.ca_file));
	CU_ASSERT_EQUAL(s3t_run(ctx, s, "s3://tls/x", 'b', 0, msg, sizeof msg), 0);
	CU_ASSERT_EQUAL(s3t_restore_count(ctx, "s3://tls/x", NULL), 24);
	lv_context_free(ctx);
	lv_store_free(s);
}

LV_SUITE(s3, s3, suite_init, suite_clean,
         {"driver operations", t_driver_ops},
         {"conformance on s3:// and bundle+s3://", t_conformance},
         {"round trip of 10,000 licenses", t_roundtrip_10k},
         {"generations", t_history},
         {"wrong secret, missing bucket, no secret logged", t_auth_bucket_secrets},
         {"TLS with a self-signed certificate", t_tls})
