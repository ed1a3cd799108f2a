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

LV_SUITE(s3, s3, suite_init, suite_clean,
         {"driver operations", t_driver_ops},
         {"conformance on s3:// and bundle+s3://", t_conformance})
