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
	lv_context *ctx = t_context_with(s3t_config("ops", "part_size = 5\nparallel_parts = 3\n"));
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
	lv_context *ctx = t_context_with(s3t_config("conf", "part_size = 5\n"));
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
	lv_context *ctx = t_context_with(s3t_config("roundtrip", "part_size = 5\n"));
	const char *path = s3t_store10k();
	CU_ASSERT_PTR_NOT_NULL_FATAL(path);
	lv_store *s = NULL;
	CU_ASSERT_EQUAL_FATAL(lv_store_open(&s, ctx, path, 0), 0);
	char msg[1024], names[4096], dir[700];
	CU_ASSERT_EQUAL(t_run_uri(ctx, s, "s3://roundtrip/lic/set", 'b', 0, msg, sizeof msg), 0);
	/* the location holds the set and nothing else (the lock is gone) */
	CU_ASSERT_EQUAL(s3t_list(ctx, "s3://roundtrip/lic/set", names), 0);
	CU_ASSERT_PTR_NOT_NULL(strstr(names, ".pack;"));
	CU_ASSERT_PTR_NOT_NULL(strstr(names, ".manifest;"));
	CU_ASSERT_PTR_NULL(strstr(names, "licvault.lock"));
	/* the same store through the file driver: both restores give the same licenses */
	snprintf(dir, sizeof dir, "%s/roundtrip-file", s3t_rgw.dir);
	CU_ASSERT_EQUAL(t_backup(ctx, s, dir, 0, NULL), 0);
	unsigned long d_s3 = 0, d_file = 0;
	long n_s3 = t_restore_count(ctx, s3t_rgw.dir, "s3://roundtrip/lic/set", &d_s3);
	long n_file = t_restore_count(ctx, s3t_rgw.dir, dir, &d_file);
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
	lv_context *ctx = t_context_with(s3t_config("hist", "part_size = 5\n[service]\nrestores_per_day = 1000\n"));
	lv_store *s = t_new_store(ctx, s3t_rgw.dir, "hist", 300);
	char msg[1024], names[4096];
	const char *uri = "s3://hist/h";
	CU_ASSERT_EQUAL(t_run_uri(ctx, s, uri, 'b', 0, msg, sizeof msg), 0);
	CU_ASSERT_EQUAL(t_run_uri(ctx, s, uri, 'b', 0, msg, sizeof msg), LV_E_BACKUP_EXISTS);
	lv_license l;
	char kid[32];
	unsigned char payload[64];
	t_license(&l, 5000, kid, sizeof kid, payload, sizeof payload);
	l.rights |= LV_RIGHT_BACKUP;
	CU_ASSERT_EQUAL(lv_store_add(s, &l, 0), 0);
	CU_ASSERT_EQUAL(t_run_uri(ctx, s, uri, 'b', LV_BACKUP_OVERWRITE, msg, sizeof msg), 0);
	CU_ASSERT_EQUAL(t_restore_count(ctx, s3t_rgw.dir, uri, NULL), 241); /* 300 - 60 restricted + 1: the newest generation */
	CU_ASSERT_EQUAL(s3t_list(ctx, uri, names), 0);
	CU_ASSERT_PTR_NOT_NULL(strstr(names, "licvault-g0000000000000002.manifest"));
	CU_ASSERT_PTR_NOT_NULL(strstr(names, "licvault-g0000000000000001.manifest")); /* keep = 3: history */
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
	lv_context *ctx = t_context_with(s3t_config("wrongsecret", "secret_access_key_file = %s\n", bad));
	lv_context_set_log(ctx, LV_LOG_DEBUG, log_cb, &lb);
	lv_store *s = t_new_store(ctx, s3t_rgw.dir, "authn", 20);
	CU_ASSERT_EQUAL(t_run_uri(ctx, s, "s3://authn/x", 'b', 0, msg, sizeof msg), LV_E_AUTH);
	CU_ASSERT_PTR_NOT_NULL(strstr(msg, "SignatureDoesNotMatch"));
	CU_ASSERT_PTR_NOT_NULL(strstr(msg, "HTTP 403"));
	CU_ASSERT_PTR_NOT_NULL(strstr(msg, "s3://authn/"));
	CU_ASSERT_PTR_NOT_NULL(strstr(msg, bad));
	CU_ASSERT_PTR_NULL(strstr(msg, "Wr0ngSecret"));
	lv_context_free(ctx);
	/* an unknown key id */
	ctx = t_context_with(s3t_config("wrongid", "access_key_id = LVNOSUCHKEY\n"));
	CU_ASSERT_EQUAL(t_run_uri(ctx, s, "s3://authn/x", 'b', 0, msg, sizeof msg), LV_E_AUTH);
	CU_ASSERT_PTR_NOT_NULL(strstr(msg, "InvalidAccessKeyId"));
	lv_context_free(ctx);
	/* a missing bucket: NOT_FOUND naming it; create_bucket = yes makes it */
	ctx = t_context_with(s3t_rgw.config_path);
	lv_context_set_log(ctx, LV_LOG_DEBUG, log_cb, &lb);
	CU_ASSERT_EQUAL(t_run_uri(ctx, s, "s3://made-by-lv/x", 'b', 0, msg, sizeof msg), LV_E_NOT_FOUND);
	CU_ASSERT_PTR_NOT_NULL(strstr(msg, "made-by-lv"));
	CU_ASSERT_PTR_NOT_NULL(strstr(msg, "create_bucket"));
	CU_ASSERT_EQUAL(t_run_uri(ctx, s, "s3://made-by-lv/x", 'r', LV_RESTORE_INDIVIDUALIZE, msg, sizeof msg),
	                LV_E_NOT_FOUND);
	lv_context_free(ctx);
	ctx = t_context_with(s3t_config("create", "create_bucket = yes\n"));
	lv_context_set_log(ctx, LV_LOG_DEBUG, log_cb, &lb);
	CU_ASSERT_EQUAL(t_run_uri(ctx, s, "s3://made-by-lv/x", 'b', 0, msg, sizeof msg), 0);
	CU_ASSERT_EQUAL(t_restore_count(ctx, s3t_rgw.dir, "s3://made-by-lv/x", NULL), 16);
	lv_context_free(ctx);
	/* an endpoint nobody listens on: IO naming the address */
	ctx = t_context_with(s3t_config("unreachable", "endpoint = http://127.0.0.1:9\nretries = 1\n"));
	CU_ASSERT_EQUAL(t_run_uri(ctx, s, "s3://authn/x", 'b', 0, msg, sizeof msg), LV_E_IO);
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
	lv_context *ctx = t_context_with(s3t_config("tls-noca", "endpoint = %s\nretries = 0\n", s3t_rgw.tls_endpoint));
	lv_store *s = t_new_store(ctx, s3t_rgw.dir, "tls", 30);
	CU_ASSERT_EQUAL(t_run_uri(ctx, s, "s3://tls/x", 'b', 0, msg, sizeof msg), LV_E_HOST_KEY);
	CU_ASSERT_PTR_NOT_NULL(strstr(msg, "certificate"));
	CU_ASSERT_PTR_NOT_NULL(strstr(msg, "ca_file"));
	CU_ASSERT_PTR_NOT_NULL(strstr(msg, s3t_rgw.tls_endpoint));
	lv_context_free(ctx);
	ctx = t_context_with(s3t_config("tls-ca", "endpoint = %s\nca_file = %s\n[service]\nrestores_per_day = 1000\n",
	                         s3t_rgw.tls_endpoint, s3t_rgw.ca_file));
	CU_ASSERT_EQUAL(t_run_uri(ctx, s, "s3://tls/x", 'b', 0, msg, sizeof msg), 0);
	CU_ASSERT_EQUAL(t_restore_count(ctx, s3t_rgw.dir, "s3://tls/x", NULL), 24);
	lv_context_free(ctx);
	lv_store_free(s);
}

/* ---- conditional create, two runs at once ------------------------------------------------ */

static void t_conditional_create(void)
{
	S3T_NEED();
	lv_context *ctx = t_context_with(s3t_config("busy-cc", "part_size = 5\n"));
	struct lv_location *a = open_loc(ctx, "s3://busy/cc", LV_OPEN_WRITE), *b = open_loc(ctx, "s3://busy/cc", LV_OPEN_WRITE);
	static unsigned char mib[1 << 20];
	/* one PUT each: the second to commit meets If-None-Match: * (HTTP 412), the first one's bytes stay */
	lv_writer *wa = NULL, *wb = NULL;
	CU_ASSERT_EQUAL_FATAL(OPS(a)->write_begin(INST(a), "licvault.lock", 5, &wa), 0);
	CU_ASSERT_EQUAL_FATAL(OPS(b)->write_begin(INST(b), "licvault.lock", 5, &wb), 0);
	CU_ASSERT_EQUAL(OPS(a)->write(wa, "AAAAA", 5), 0);
	CU_ASSERT_EQUAL(OPS(b)->write(wb, "BBB", 3), 0);
	CU_ASSERT_EQUAL(OPS(b)->commit(wb, 0), 0);
	CU_ASSERT_EQUAL(OPS(a)->commit(wa, 0), LV_E_EXISTS);
	CU_ASSERT_PTR_NOT_NULL(strstr(lv_location_last_error(a), "412"));
	CU_ASSERT_EQUAL(s3t_get(a, "licvault.lock", NULL), 3);
	/* multipart, both under way: the later completion finds the name taken (the HEAD before completing) */
	CU_ASSERT_EQUAL_FATAL(OPS(a)->write_begin(INST(a), "big", UINT64_MAX, &wa), 0);
	CU_ASSERT_EQUAL_FATAL(OPS(b)->write_begin(INST(b), "big", UINT64_MAX, &wb), 0);
	for (int i = 0; i < 6; i++) {
		CU_ASSERT_EQUAL(OPS(a)->write(wa, mib, sizeof mib), 0);
		CU_ASSERT_EQUAL(OPS(b)->write(wb, mib, sizeof mib - 1), 0);
	}
	CU_ASSERT_EQUAL(OPS(b)->commit(wb, 0), 0);
	CU_ASSERT_EQUAL(OPS(a)->commit(wa, 0), LV_E_EXISTS);
	CU_ASSERT_EQUAL(s3t_get(a, "big", NULL), 6 * ((1 << 20) - 1));
	lv_location_close(a);
	lv_location_close(b);
	CU_ASSERT_EQUAL(s3t_uploads("busy"), 0);
	lv_context_free(ctx);
}

typedef struct gate {
	pthread_mutex_t m;
	pthread_cond_t cv;
	int reached, release;
} gate;

/* Holds the first run at its first progress report: it holds the location's lock then. */
static void gate_cb(int status, int result, const lv_value *v, void *ud)
{
	(void)result;
	(void)v;
	gate *g = ud;
	if (status != LV_STATUS_PROGRESS)
		return;
	pthread_mutex_lock(&g->m);
	if (!g->reached) {
		g->reached = 1;
		pthread_cond_broadcast(&g->cv);
		while (!g->release)
			pthread_cond_wait(&g->cv, &g->m);
	}
	pthread_mutex_unlock(&g->m);
}

static void t_two_runs(void)
{
	S3T_NEED();
	lv_context *ctx = t_context_with(s3t_rgw.config_path);
	lv_store *s = t_new_store(ctx, s3t_rgw.dir, "busy", 200);
	gate g = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0, 0};
	lv_restorer *r = NULL;
	CU_ASSERT_EQUAL_FATAL(lv_restorer_new(&r, ctx, s), 0);
	lv_restorer_set_string(r, LV_PROP_BACKUP_PATH, "s3://busy/two");
	CU_ASSERT_EQUAL_FATAL(lv_restorer_backup(r, 0, gate_cb, &g), 0);
	pthread_mutex_lock(&g.m);
	while (!g.reached)
		pthread_cond_wait(&g.cv, &g.m);
	pthread_mutex_unlock(&g.m);
	/* the first run holds the lock: a second one is BUSY, and says who holds it */
	char msg[1024];
	lv_store *s2 = t_new_store(ctx, s3t_rgw.dir, "busy2", 50);
	CU_ASSERT_EQUAL(t_run_uri(ctx, s2, "s3://busy/two", 'b', 0, msg, sizeof msg), LV_E_BUSY);
	CU_ASSERT_PTR_NOT_NULL(strstr(msg, "busy"));
	pthread_mutex_lock(&g.m);
	g.release = 1;
	pthread_cond_broadcast(&g.cv);
	pthread_mutex_unlock(&g.m);
	int result = -1;
	lv_restorer_wait(r, &result);
	CU_ASSERT_EQUAL(result, 0);
	lv_restorer_free(r);
	/* the first run's set, whole; the lock released */
	char names[4096];
	CU_ASSERT_EQUAL(s3t_list(ctx, "s3://busy/two", names), 0);
	CU_ASSERT_PTR_NULL(strstr(names, "licvault.lock"));
	CU_ASSERT_EQUAL(t_restore_count(ctx, s3t_rgw.dir, "s3://busy/two", NULL), 160);
	lv_store_free(s2);
	lv_store_free(s);
	lv_context_free(ctx);
}

/* ---- retries, cancel ---------------------------------------------------------------------- */

static void t_retries(void)
{
	S3T_NEED();
	t_proxy *p = t_proxy_start(s3t_rgw.port);
	CU_ASSERT_PTR_NOT_NULL_FATAL(p);
	char msg[1024], ep[64];
	snprintf(ep, sizeof ep, "http://127.0.0.1:%d", t_proxy_port(p));
	lv_context *ctx = t_context_with(s3t_config("retry", "endpoint = %s\ntimeout = 2\nretries = 4\npart_size = 5\n"
	                                              "[service]\nrestores_per_day = 1000\n", ep));
	lv_store *s = t_new_store(ctx, s3t_rgw.dir, "retry", 200);
	/* a stalled connection (no answer: the timeout), then two reset ones: retried, the backup is whole */
	t_proxy_faults(p, 1, 2, 0);
	CU_ASSERT_EQUAL(t_run_uri(ctx, s, "s3://retry/a", 'b', 0, msg, sizeof msg), 0);
	CU_ASSERT_EQUAL(t_proxy_stalled(p), 1);
	CU_ASSERT_EQUAL(t_proxy_reset(p), 2);
	CU_ASSERT_EQUAL(t_restore_count(ctx, s3t_rgw.dir, "s3://retry/a", NULL), 160);
	/* a connection reset in the middle of a part of a multipart upload: that part again */
	t_proxy_faults(p, 0, 1, 3 << 20);
	struct lv_location *l = open_loc(ctx, "s3://retry/b", LV_OPEN_WRITE);
	unsigned long crc = 0, back = 0;
	CU_ASSERT_EQUAL(s3t_put(l, "parts", 16 << 20, 0, &crc), 0);
	CU_ASSERT_EQUAL(t_proxy_reset(p), 3);
	CU_ASSERT_EQUAL(s3t_get(l, "parts", &back), 16 << 20);
	CU_ASSERT_EQUAL(back, crc);
	lv_location_close(l);
	lv_context_free(ctx);
	/* no retries: the stall is an IO error naming the endpoint */
	ctx = t_context_with(s3t_config("noretry", "endpoint = %s\ntimeout = 1\nretries = 0\n", ep));
	t_proxy_faults(p, 1, 0, 0);
	CU_ASSERT_EQUAL(t_run_uri(ctx, s, "s3://retry/c", 'b', 0, msg, sizeof msg), LV_E_IO);
	CU_ASSERT_PTR_NOT_NULL(strstr(msg, ep));
	if (getenv("LV_TEST_VERBOSE"))
		fprintf(stderr, "\n  stalled, no retries: %s\n", msg);
	lv_context_free(ctx);
	lv_store_free(s);
	t_proxy_stop(p);
}

typedef struct canceler {
	t_proxy *p;
	lv_restorer *r;
	long long at;             /* cancel once this many request bytes went through */
	atomic_int fired, stop;
} canceler;

static void *cancel_main(void *arg)
{
	canceler *k = arg;
	while (!atomic_load(&k->stop)) {
		if (t_proxy_up_bytes(k->p) >= k->at) {
			lv_restorer_cancel(k->r);
			atomic_store(&k->fired, 1);
			return NULL;
		}
		t_sleep_ms(2);
	}
	return NULL;
}

static void t_cancel(void)
{
	S3T_NEED();
	t_proxy *p = t_proxy_start(s3t_rgw.port);
	CU_ASSERT_PTR_NOT_NULL_FATAL(p);
	char ep[64], names[4096];
	snprintf(ep, sizeof ep, "http://127.0.0.1:%d", t_proxy_port(p));
	lv_context *ctx = t_context_with(s3t_config("cancel", "endpoint = %s\npart_size = 5\nparallel_parts = 2\n", ep));
	const char *path = s3t_store10k();
	lv_store *s = NULL;
	CU_ASSERT_FATAL(path && lv_store_open(&s, ctx, path, 0) == 0);
	long long pack = 25 << 20; /* the pack of these 10,000 licenses: 25.5 MB */
	t_proxy_rate(p, 4 << 20);  /* bytes/s per connection: the upload takes seconds */
	lv_restorer *r = NULL;
	CU_ASSERT_EQUAL_FATAL(lv_restorer_new(&r, ctx, s), 0);
	lv_restorer_set_string(r, LV_PROP_BACKUP_PATH, "s3://cancel/c");
	canceler k = {p, r, pack / 10, 0, 0};
	pthread_t th;
	CU_ASSERT_EQUAL_FATAL(pthread_create(&th, NULL, cancel_main, &k), 0);
	CU_ASSERT_EQUAL_FATAL(lv_restorer_backup(r, 0, t_ignore_status, NULL), 0);
	int result = 0;
	lv_restorer_wait(r, &result);
	atomic_store(&k.stop, 1);
	pthread_join(th, NULL);
	CU_ASSERT(atomic_load(&k.fired));
	CU_ASSERT_EQUAL(result, LV_E_CANCELED);
	/* far fewer bytes sent than the object; nothing published, no upload left */
	long long sent = t_proxy_up_bytes(p);
	CU_ASSERT(sent < pack / 2);
	if (getenv("LV_TEST_VERBOSE"))
		fprintf(stderr, "\n  canceled after %lld request bytes of a %lld-byte pack\n", sent, pack);
	t_proxy_rate(p, 0);
	CU_ASSERT_EQUAL(s3t_list(ctx, "s3://cancel/c", names), 0);
	CU_ASSERT_STRING_EQUAL(names, "");
	CU_ASSERT_EQUAL(s3t_uploads("cancel"), 0);
	lv_restorer_free(r);
	lv_store_free(s);
	lv_context_free(ctx);
	t_proxy_stop(p);
}

/* ---- credentials, URIs, quota --------------------------------------------------------------- */

static const char *const aws_env[] = {"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE",
                                      "AWS_SHARED_CREDENTIALS_FILE", "AWS_CONFIG_FILE", "AWS_REGION",
                                      "AWS_DEFAULT_REGION"};
#define N_AWS_ENV (sizeof aws_env / sizeof aws_env[0])

/* Open s3://creds/x with a config and the environment as they are: the code, the message in msg. */
static int open_with(const char *config, char *msg, size_t cap)
{
	lv_context *ctx = t_context_with(config);
	struct lv_location *l = NULL;
	int rc = lv_location_open(&l, ctx, "s3://creds/x", LV_OPEN_WRITE);
	snprintf(msg, cap, "%s", rc ? lv_context_last_error(ctx) : "");
	lv_location_close(l);
	lv_context_free(ctx);
	return rc;
}

/* A credentials or config file, private as the AWS tools want it. */
static void write_text(const char *path, const char *text)
{
	CU_ASSERT_EQUAL_FATAL(t_write_file(path, text, 0600), 0);
}

static void t_credentials_order(void)
{
	S3T_NEED();
	char *saved[N_AWS_ENV];
	for (size_t i = 0; i < N_AWS_ENV; i++) {
		const char *v = getenv(aws_env[i]);
		saved[i] = v ? strdup(v) : NULL;
		unsetenv(aws_env[i]);
	}
	char nokeys[700], creds[700], cfg[700], text[2048], msg[1024];
	const char *k = s3t_rgw.access_key, *sk = s3t_rgw.secret_key;
	snprintf(nokeys, sizeof nokeys, "%s/nokeys.conf", s3t_rgw.dir);
	snprintf(text, sizeof text, "[driver \"s3\"]\nendpoint = %s\nretries = 0\n", s3t_rgw.endpoint);
	write_text(nokeys, text);
	snprintf(creds, sizeof creds, "%s/aws-credentials", s3t_rgw.dir);
	snprintf(text, sizeof text,
	         "[default]\naws_access_key_id = NOTTHISONE\naws_secret_access_key = wrong\n\n"
	         "[lvp]\naws_access_key_id = %s\naws_secret_access_key = %s\n\n"
	         "[lvsso]\nsso_start_url = https://example.invalid/start\n",
	         k, sk);
	write_text(creds, text);
	snprintf(cfg, sizeof cfg, "%s/aws-config", s3t_rgw.dir);
	snprintf(text, sizeof text, "[profile lvc]\nregion = us-east-1\naws_access_key_id = %s\naws_secret_access_key = %s\n"
	                            "[profile lvproc]\ncredential_process = /bin/false\n", k, sk);
	write_text(cfg, text);
	setenv("AWS_SHARED_CREDENTIALS_FILE", creds, 1);
	setenv("AWS_CONFIG_FILE", cfg, 1);
	/* 1. the config's keys win over the environment's */
	setenv("AWS_ACCESS_KEY_ID", "LVENVWRONG", 1);
	setenv("AWS_SECRET_ACCESS_KEY", "EnvSecretWrong", 1);
	CU_ASSERT_EQUAL(open_with(s3t_rgw.config_path, msg, sizeof msg), 0);
	/* 2. then the environment's, over the default profile */
	CU_ASSERT_EQUAL(open_with(nokeys, msg, sizeof msg), LV_E_AUTH);
	CU_ASSERT_PTR_NOT_NULL(strstr(msg, "the environment (AWS_ACCESS_KEY_ID LVENVWRONG"));
	CU_ASSERT_PTR_NULL(strstr(msg, "EnvSecretWrong"));
	setenv("AWS_ACCESS_KEY_ID", k, 1);
	setenv("AWS_SECRET_ACCESS_KEY", sk, 1);
	CU_ASSERT_EQUAL(open_with(nokeys, msg, sizeof msg), 0);
	/* 3. profile = NAME: that profile only, over the environment */
	setenv("AWS_SECRET_ACCESS_KEY", "EnvSecretWrong", 1);
	char *pc = s3t_config("profile-lvp", "profile = lvp\n");
	snprintf(text, sizeof text, "[driver \"s3\"]\nendpoint = %s\nprofile = lvp\n", s3t_rgw.endpoint);
	write_text(pc, text);
	CU_ASSERT_EQUAL(open_with(pc, msg, sizeof msg), 0);
	snprintf(text, sizeof text, "[driver \"s3\"]\nendpoint = %s\nprofile = lvc\n", s3t_rgw.endpoint);
	write_text(pc, text); /* a profile of the config file */
	CU_ASSERT_EQUAL(open_with(pc, msg, sizeof msg), 0);
	snprintf(text, sizeof text, "[driver \"s3\"]\nendpoint = %s\nprofile = lvsso\n", s3t_rgw.endpoint);
	write_text(pc, text);
	CU_ASSERT_EQUAL(open_with(pc, msg, sizeof msg), LV_E_CONFIG);
	CU_ASSERT_PTR_NOT_NULL(strstr(msg, "sso_start_url"));
	/* 4. without keys in the environment: AWS_PROFILE, else default */
	unsetenv("AWS_ACCESS_KEY_ID");
	unsetenv("AWS_SECRET_ACCESS_KEY");
	setenv("AWS_PROFILE", "lvp", 1);
	CU_ASSERT_EQUAL(open_with(nokeys, msg, sizeof msg), 0);
	setenv("AWS_PROFILE", "lvproc", 1);
	CU_ASSERT_EQUAL(open_with(nokeys, msg, sizeof msg), LV_E_CONFIG);
	CU_ASSERT_PTR_NOT_NULL(strstr(msg, "credential_process"));
	unsetenv("AWS_PROFILE");
	CU_ASSERT_EQUAL(open_with(nokeys, msg, sizeof msg), LV_E_AUTH);
	CU_ASSERT_PTR_NOT_NULL(strstr(msg, "NOTTHISONE")); /* the default profile's key id, named */
	/* 5. nothing anywhere: AUTH, saying what was tried */
	snprintf(text, sizeof text, "%s/none", s3t_rgw.dir);
	setenv("AWS_SHARED_CREDENTIALS_FILE", text, 1);
	setenv("AWS_CONFIG_FILE", text, 1);
	CU_ASSERT_EQUAL(open_with(nokeys, msg, sizeof msg), LV_E_AUTH);
	CU_ASSERT_PTR_NOT_NULL(strstr(msg, "no credentials"));
	CU_ASSERT_PTR_NOT_NULL(strstr(msg, "AWS_ACCESS_KEY_ID"));
	for (size_t i = 0; i < N_AWS_ENV; i++) {
		if (saved[i])
			setenv(aws_env[i], saved[i], 1);
		else
			unsetenv(aws_env[i]);
		free(saved[i]);
	}
}

static void t_uri_forms(void)
{
	S3T_NEED();
	lv_context *ctx = t_context_with(s3t_config("uri", "[service]\nrestores_per_day = 1000\n"));
	lv_store *s = t_new_store(ctx, s3t_rgw.dir, "uri", 10);
	char msg[1024];
	CU_ASSERT_EQUAL(t_run_uri(ctx, s, "s3://LVKEY:S3cretInUri@uri/x", 'b', 0, msg, sizeof msg), LV_E_BAD_URI);
	CU_ASSERT_PTR_NULL(strstr(msg, "S3cretInUri"));
	CU_ASSERT_PTR_NOT_NULL(strstr(msg, "secret_access_key_file"));
	CU_ASSERT_EQUAL(t_run_uri(ctx, s, "s3://uri:9000/x", 'b', 0, msg, sizeof msg), LV_E_BAD_URI);
	CU_ASSERT_PTR_NOT_NULL(strstr(msg, "endpoint"));
	CU_ASSERT_EQUAL(t_run_uri(ctx, s, "s3://ab/x", 'b', 0, msg, sizeof msg), LV_E_BAD_URI);
	CU_ASSERT_EQUAL(t_run_uri(ctx, s, "s3://uri/x?versionId=1", 'b', 0, msg, sizeof msg), LV_E_BAD_URI);
	CU_ASSERT_EQUAL(t_run_uri(ctx, s, "s3://uri/a/../b", 'b', 0, msg, sizeof msg), LV_E_BAD_URI);
	/* percent-decoding: the key holds a space (the interop case reads it with boto3) */
	CU_ASSERT_EQUAL(t_run_uri(ctx, s, "s3://uri/with%20space/d", 'b', 0, msg, sizeof msg), 0);
	CU_ASSERT_EQUAL(t_restore_count(ctx, s3t_rgw.dir, "s3://uri/with%20space/d/", NULL), 8);
	/* a named location, whose section overrides the driver's keys */
	char bad[700];
	snprintf(bad, sizeof bad, "%s/named-wrong-secret", s3t_rgw.dir);
	write_text(bad, "NotTheSecretNotTheSecretNotTheSecret00\n");
	char *nc = s3t_config("named", NULL), text[2048];
	snprintf(text, sizeof text,
	         "[driver \"s3\"]\nendpoint = %s\naccess_key_id = %s\nsecret_access_key_file = %s\nretries = 0\n"
	         "[location \"office\"]\nuri = s3://uri/named\npart_size = 6\n"
	         "[location \"wrong\"]\nuri = s3://uri/named\nsecret_access_key_file = %s\n",
	         s3t_rgw.endpoint, s3t_rgw.access_key, s3t_rgw.secret_file, bad);
	write_text(nc, text);
	lv_context *named = t_context_with(nc);
	CU_ASSERT_EQUAL(t_run_uri(named, s, "office:", 'b', 0, msg, sizeof msg), 0);
	CU_ASSERT_EQUAL(t_run_uri(named, s, "office:sub", 'b', 0, msg, sizeof msg), 0);
	CU_ASSERT_EQUAL(t_run_uri(named, s, "wrong:", 'b', LV_BACKUP_OVERWRITE, msg, sizeof msg), LV_E_AUTH);
	CU_ASSERT_PTR_NOT_NULL(strstr(msg, bad));
	lv_context_free(named);
	CU_ASSERT_EQUAL(t_restore_count(ctx, s3t_rgw.dir, "s3://uri/named/sub", NULL), 8);
	/* the bucket alone is a location too */
	CU_ASSERT_EQUAL(t_run_uri(ctx, s, "s3://uri", 'b', 0, msg, sizeof msg), 0);
	CU_ASSERT_EQUAL(t_restore_count(ctx, s3t_rgw.dir, "s3://uri/", NULL), 8);
	lv_store_free(s);
	lv_context_free(ctx);
}

static void t_quota(void)
{
	S3T_NEED();
	char *out = NULL, secret[64] = "", file[700], msg[1024];
	int rc = t_rgw_admin(&s3t_rgw, &out,
	                     "user create --uid=small --display-name=small --access-key=LVSMALLQUOTA --gen-secret 2>/dev/null");
	const char *p = out ? strstr(out, "\"secret_key\": \"") : NULL;
	CU_ASSERT_FATAL(rc == 0 && p && sscanf(p + 15, "%40[A-Za-z0-9]", secret) == 1);
	free(out);
	out = NULL;
	rc = t_rgw_admin(&s3t_rgw, &out, "quota set --quota-scope=user --uid=small --max-size=2097152");
	free(out);
	out = NULL;
	rc |= t_rgw_admin(&s3t_rgw, &out, "quota enable --quota-scope=user --uid=small");
	free(out);
	CU_ASSERT_EQUAL(rc, 0);
	snprintf(file, sizeof file, "%s/small-secret", s3t_rgw.dir);
	snprintf(msg, sizeof msg, "%s\n", secret);
	write_text(file, msg);
	lv_context *ctx = t_context_with(s3t_config("quota", "access_key_id = LVSMALLQUOTA\nsecret_access_key_file = %s\n"
	                                              "create_bucket = yes\npart_size = 5\n", file));
	const char *path = s3t_store10k();
	lv_store *s = NULL;
	CU_ASSERT_FATAL(path && lv_store_open(&s, ctx, path, 0) == 0);
	CU_ASSERT_EQUAL(t_run_uri(ctx, s, "s3://quota-small/q", 'b', 0, msg, sizeof msg), LV_E_NO_SPACE);
	CU_ASSERT_PTR_NOT_NULL(strstr(msg, "QuotaExceeded"));
	if (getenv("LV_TEST_VERBOSE"))
		fprintf(stderr, "\n  %s\n", msg);
	lv_store_free(s);
	lv_context_free(ctx);
}

/* ---- interop: tools no one here wrote ------------------------------------------------------------ */

static void t_interop(void)
{
	S3T_NEED();
	lv_context *ctx = t_context_with(s3t_config("interop", "[service]\nrestores_per_day = 1000\n"));
	const char *path = s3t_store10k();
	lv_store *s = NULL;
	CU_ASSERT_FATAL(path && lv_store_open(&s, ctx, path, 0) == 0);
	char dir[700], *out = NULL;
	snprintf(dir, sizeof dir, "%s/interop-set", s3t_rgw.dir);
	CU_ASSERT_EQUAL_FATAL(t_backup(ctx, s, dir, 0, NULL), 0);
	/* a set the AWS CLI uploads (its own multipart uploads, parts of 8 MiB) restores */
	int rc = t_rgw_sh(&s3t_rgw, &out,
	                  "/usr/bin/aws --endpoint-url \"$LV_S3_ENDPOINT\" s3 cp --only-show-errors --recursive '%s' "
	                  "s3://interop/up/",
	                  dir);
	if (rc)
		fprintf(stderr, "aws s3 cp: %s\n", out ? out : "");
	CU_ASSERT_EQUAL(rc, 0);
	free(out);
	unsigned long d_s3 = 0, d_file = 0;
	long n_s3 = t_restore_count(ctx, s3t_rgw.dir, "s3://interop/up", &d_s3);
	long n_file = t_restore_count(ctx, s3t_rgw.dir, dir, &d_file);
	CU_ASSERT(n_s3 > 7000);
	CU_ASSERT_EQUAL(n_s3, n_file);
	CU_ASSERT_EQUAL(d_s3, d_file);
	/* boto3 reads what licvault wrote: the key with a space, and no upload is left in any bucket */
	out = NULL;
	rc = t_rgw_sh(&s3t_rgw, &out,
	              "/usr/bin/python3 -c 'import boto3, os\n"
	              "s3 = boto3.client(\"s3\", endpoint_url=os.environ[\"LV_S3_ENDPOINT\"])\n"
	              "keys = [o[\"Key\"] for o in s3.list_objects_v2(Bucket=\"uri\", Prefix=\"with space/\")[\"Contents\"]]\n"
	              "print(\"keys\", sorted(keys))\n"
	              "body = s3.get_object(Bucket=\"uri\", Key=[k for k in keys if k.endswith(\".pack\")][0])[\"Body\"].read()\n"
	              "print(\"pack magic\", body[:8])\n"
	              "left = sum(len(s3.list_multipart_uploads(Bucket=b[\"Name\"]).get(\"Uploads\", []))\n"
	              "           for b in s3.list_buckets()[\"Buckets\"])\n"
	              "print(\"uploads left\", left)'");
	if (rc || getenv("LV_TEST_VERBOSE"))
		fprintf(stderr, "\n  boto3: %s\n", out ? out : "");
	CU_ASSERT_EQUAL(rc, 0);
	CU_ASSERT(out && strstr(out, "'with space/d/licvault-g0000000000000001.manifest'"));
	CU_ASSERT(out && strstr(out, "'with space/d/licvault-g0000000000000001.pack'"));
	CU_ASSERT(out && strstr(out, "pack magic b'LVPACK"));
	CU_ASSERT(out && strstr(out, "uploads left 0"));
	free(out);
	lv_store_free(s);
	lv_context_free(ctx);
}

LV_SUITE(s3, s3, suite_init, suite_clean,
         {"driver operations", t_driver_ops},
         {"conformance on s3:// and bundle+s3://", t_conformance},
         {"round trip of 10,000 licenses", t_roundtrip_10k},
         {"generations", t_history},
         {"wrong secret, missing bucket, no secret logged", t_auth_bucket_secrets},
         {"TLS with a self-signed certificate", t_tls},
         {"conditional create refused", t_conditional_create},
         {"two runs at once: one is BUSY", t_two_runs},
         {"retries on stalled and reset connections", t_retries},
         {"cancel mid-transfer", t_cancel},
         {"credentials, in their order", t_credentials_order},
         {"URI forms", t_uri_forms},
         {"a full quota is NO_SPACE", t_quota},
         {"interop with the AWS CLI and boto3", t_interop})
