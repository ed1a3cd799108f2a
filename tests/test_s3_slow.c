/*
 * The s3 driver's long cases (ctest label `slow`, run outside the sanitizer
 * passes): a 256 MiB object in parts sent in parallel, and the gateway
 * killed in the middle of an upload.  Its own gateway (fixture_rgw.c).
 */
#include "testutil.h"
#include "fixture_rgw.h"
#include "licvault/driver.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int suite_init(void)
{
	s3t_up = t_rgw_start(&s3t_rgw, s3t_why, sizeof s3t_why) == 0;
	if (s3t_up && t_rgw_make_buckets(&s3t_rgw, "big killed")) {
		snprintf(s3t_why, sizeof s3t_why, "the buckets cannot be made with boto3");
		t_rgw_stop(&s3t_rgw);
		s3t_up = 0;
	}
	if (!s3t_up)
		fprintf(stderr, "s3_slow: the RADOS Gateway cannot start, the tests are skipped: %s\n", s3t_why);
	return 0;
}

static int suite_clean(void)
{
	if (s3t_up)
		t_rgw_stop(&s3t_rgw);
	return 0;
}

#define OPS(l) lv_location_driver_ops(l)
#define INST(l) lv_location_driver_instance(l)

/* 256 MiB in parts of 8 MiB, 4 at once: the proxy sees them in parallel; read back whole. */
static void t_multipart_256(void)
{
	S3T_NEED();
	t_proxy *p = t_proxy_start(s3t_rgw.port);
	CU_ASSERT_PTR_NOT_NULL_FATAL(p);
	lv_context *ctx = t_context_with(s3t_config("big", "endpoint = http://127.0.0.1:%d\npart_size = 8\nparallel_parts = 4\n",
	                                     t_proxy_port(p)));
	struct lv_location *l = NULL;
	CU_ASSERT_EQUAL_FATAL(lv_location_open(&l, ctx, "s3://big/x", LV_OPEN_WRITE), 0);
	unsigned long crc = 0, back = 0;
	int rc = s3t_put(l, "big.obj", 256ull << 20, 0, &crc);
	if (rc)
		fprintf(stderr, "put: %s\n", lv_location_last_error(l));
	CU_ASSERT_EQUAL(rc, 0);
	CU_ASSERT(t_proxy_max_busy(p) >= 2);
	CU_ASSERT(t_proxy_up_bytes(p) >= (256ll << 20));
	CU_ASSERT(t_proxy_up_bytes(p) < (270ll << 20)); /* no part sent twice */
	if (getenv("LV_TEST_VERBOSE"))
		fprintf(stderr, "\n  %d requests sent at once at most, %lld request bytes\n", t_proxy_max_busy(p),
		        t_proxy_up_bytes(p));
	CU_ASSERT_EQUAL(s3t_get(l, "big.obj", &back), 256ll << 20);
	CU_ASSERT_EQUAL(back, crc);
	/* the ETag of a 32-part upload, as boto3 sees it */
	char *out = NULL;
	rc = t_rgw_sh(&s3t_rgw, &out,
	              "/usr/bin/python3 -c 'import boto3, os\n"
	              "s3 = boto3.client(\"s3\", endpoint_url=os.environ[\"LV_S3_ENDPOINT\"])\n"
	              "h = s3.head_object(Bucket=\"big\", Key=\"x/big.obj\")\n"
	              "print(\"etag\", h[\"ETag\"], \"size\", h[\"ContentLength\"])'");
	CU_ASSERT_EQUAL(rc, 0);
	CU_ASSERT(out && strstr(out, "-32\" size 268435456"));
	if (rc || !strstr(out ? out : "", "-32\""))
		fprintf(stderr, "boto3: %s\n", out ? out : "");
	free(out);
	CU_ASSERT_EQUAL(OPS(l)->remove(INST(l), "big.obj"), 0); /* memstore keeps it in memory */
	lv_location_close(l);
	lv_context_free(ctx);
	t_proxy_stop(p);
}

/*
 * The gateway killed in the middle of a multipart upload: a clear IO error,
 * the old generation whole, and the dead upload aborted by the next run's
 * cleanup (which the core calls once it holds the lock: here a restore).
 */
static void t_gateway_killed(void)
{
	S3T_NEED();
	t_proxy *p = t_proxy_start(s3t_rgw.port);
	CU_ASSERT_PTR_NOT_NULL_FATAL(p);
	char ep[64], msg[1024], why[1024];
	snprintf(ep, sizeof ep, "http://127.0.0.1:%d", t_proxy_port(p));
	lv_context *ctx = t_context_with(s3t_config("killed", "endpoint = %s\npart_size = 5\nparallel_parts = 2\nretries = 2\n"
	                                               "[service]\nrestores_per_day = 1000\n", ep));
	lv_store *small = t_new_store(ctx, s3t_rgw.dir, "killed-old", 100);
	CU_ASSERT_EQUAL_FATAL(t_run_uri(ctx, small, "s3://killed/k", 'b', 0, msg, sizeof msg), 0);
	const char *path = s3t_store10k();
	lv_store *big = NULL;
	CU_ASSERT_FATAL(path && lv_store_open(&big, ctx, path, 0) == 0);
	t_proxy_rate(p, 4 << 20);
	lv_restorer *r = NULL;
	CU_ASSERT_EQUAL_FATAL(lv_restorer_new(&r, ctx, big), 0);
	lv_restorer_set_string(r, LV_PROP_BACKUP_PATH, "s3://killed/k");
	long long start = t_proxy_up_bytes(p);
	CU_ASSERT_EQUAL_FATAL(lv_restorer_backup(r, LV_BACKUP_OVERWRITE, t_ignore_status, NULL), 0);
	for (int i = 0; i < 6000 && t_proxy_up_bytes(p) - start < (8 << 20); i++)
		t_sleep_ms(5);
	CU_ASSERT(t_proxy_up_bytes(p) - start >= (8 << 20)); /* a part or more went: the upload exists */
	t_rgw_kill_gateway(&s3t_rgw);
	int result = 0;
	lv_restorer_wait(r, &result);
	snprintf(msg, sizeof msg, "%s", lv_restorer_last_error(r) ? lv_restorer_last_error(r) : "");
	lv_restorer_free(r);
	CU_ASSERT_EQUAL(result, LV_E_IO);
	CU_ASSERT_PTR_NOT_NULL(strstr(msg, ep));
	CU_ASSERT_PTR_NOT_NULL(strstr(msg, "s3://killed/k/"));
	if (getenv("LV_TEST_VERBOSE"))
		fprintf(stderr, "\n  gateway killed: %s\n", msg);
	t_proxy_rate(p, 0);
	int up = t_rgw_restart_gateway(&s3t_rgw, why, sizeof why);
	if (up)
		fprintf(stderr, "restart: %s\n", why);
	CU_ASSERT_EQUAL_FATAL(up, 0);
	/* the dead upload is still there */
	CU_ASSERT(s3t_uploads("killed") >= 1);
	/* the old generation is whole, and the restore, the next run to hold the lock,
	 * cleaned up: the dead upload is aborted */
	CU_ASSERT_EQUAL(t_restore_count(ctx, s3t_rgw.dir, "s3://killed/k", NULL), 80);
	CU_ASSERT_EQUAL(s3t_uploads("killed"), 0);
	/* a cleanup with nothing left to put right succeeds */
	struct lv_location *l = NULL;
	CU_ASSERT_EQUAL_FATAL(lv_location_open(&l, ctx, "s3://killed/k", LV_OPEN_WRITE), 0);
	CU_ASSERT_EQUAL(OPS(l)->cleanup(INST(l)), 0);
	lv_location_close(l);
	/* and a backup over it works (the lock the killed run left is stale) */
	CU_ASSERT_EQUAL(t_run_uri(ctx, big, "s3://killed/k", 'b', LV_BACKUP_OVERWRITE, msg, sizeof msg), 0);
	CU_ASSERT(t_restore_count(ctx, s3t_rgw.dir, "s3://killed/k", NULL) > 7000);
	lv_store_free(small);
	lv_store_free(big);
	lv_context_free(ctx);
	t_proxy_stop(p);
}

LV_SUITE(s3_slow, s3_slow, suite_init, suite_clean,
         {"256 MiB in parts sent in parallel", t_multipart_256},
         {"gateway killed mid-upload", t_gateway_killed})
