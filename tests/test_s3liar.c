/*
 * The s3 driver against a server that lies: tests/s3liar/s3liar.py
 * (fixture_s3liar.h), well-formed HTTP with hostile contents.  Listings that
 * never end or repeat themselves, keys that are no objects of the location,
 * reads that give other bytes than asked, HEADs that disagree with the GETs,
 * ETags and completions that lie, answers that are too big, entity bombs,
 * redirects, SlowDown storms and hostile bytes in messages.  Each must end
 * in a clear error (or be skipped, for a key that is no object of the
 * location), never a hang, a crash, or wrong data accepted as good.
 *
 * Every case runs under an alarm (WATCHDOG_S): a driver that loops forever
 * kills the runner, which ctest reports, instead of hanging the run.
 */
#include "fixture_s3liar.h"
#include "testutil.h"
#include "licvault/driver.h"
#include "licvault/sys/location.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <zlib.h>

#define WATCHDOG_S 30

static t_s3liar liar;
static int liar_up;
static char liar_why[1024];

static int suite_init(void)
{
	liar_up = t_s3liar_start(&liar, liar_why, sizeof liar_why) == 0;
	if (!liar_up)
		fprintf(stderr, "s3liar: the lying server cannot start, the cases are skipped: %s\n", liar_why);
	return 0;
}

static int suite_clean(void)
{
	alarm(0);
	if (liar_up)
		t_s3liar_stop(&liar);
	return 0;
}

#define NEED()                                    \
	do {                                      \
		T_NEED(liar_up, liar_why);        \
		alarm(WATCHDOG_S);                \
		t_s3liar_mode(&liar, "%s", "");   \
	} while (0)

#define OPS(l) lv_location_driver_ops(l)
#define INST(l) lv_location_driver_instance(l)
#define MIB (1u << 20)

static lv_context *liar_ctx(const char *extra)
{
	return t_context_with(t_s3liar_config(&liar, "liar", extra));
}

static struct lv_location *open_loc(lv_context *ctx, const char *uri)
{
	struct lv_location *l = NULL;
	int rc = lv_location_open(&l, ctx, uri, LV_OPEN_READ | LV_OPEN_WRITE);
	if (rc)
		fprintf(stderr, "open %s: %s: %s\n", uri, lv_error_name(rc), lv_context_last_error(ctx));
	CU_ASSERT_EQUAL_FATAL(rc, 0);
	return l;
}

/* The location's last error holds part, and no byte a terminal acts on. */
static int said(struct lv_location *l, const char *part)
{
	const char *m = lv_location_last_error(l);
	int ok = m && strstr(m, part) != NULL;
	for (const unsigned char *p = (const unsigned char *)(m ? m : ""); *p; p++)
		if (*p < 0x20 || *p == 0x7f || *p == 0xc2 || *p == 0x1b)
			ok = 0;
	if (!ok || getenv("LV_TEST_VERBOSE"))
		fprintf(stderr, "\n  message (want '%s'): %s\n", part, m ? m : "(none)");
	return ok;
}

typedef struct listed {
	char names[8192];
	int n;
	uint64_t size[64];
	int64_t mtime[64];
} listed;

static int list_cb(const lv_object_info *info, void *ud)
{
	listed *x = ud;
	size_t len = strlen(x->names);
	snprintf(x->names + len, sizeof x->names - len, "%s;", info->name);
	if (x->n < 64) {
		x->size[x->n] = info->size;
		x->mtime[x->n] = info->mtime;
	}
	x->n++;
	return 0;
}

static int list(struct lv_location *l, listed *x)
{
	memset(x, 0, sizeof *x);
	lv_location_clear_error(l);
	return OPS(l)->list(INST(l), list_cb, x);
}

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Write size bytes of a pattern as name (honestly, the liar in honest mode); their CRC. */
static unsigned long put(struct lv_location *l, const char *name, size_t size)
{
	lv_writer *w = NULL;
	CU_ASSERT_EQUAL_FATAL(OPS(l)->write_begin(INST(l), name, size, &w), 0);
	unsigned char *buf = malloc(size ? size : 1);
	for (size_t i = 0; i < size; i++)
		buf[i] = (unsigned char)(i * 131 + (i >> 13));
	unsigned long crc = crc32(crc32(0L, Z_NULL, 0), buf, (uInt)size);
	CU_ASSERT_EQUAL(OPS(l)->write(w, buf, size), 0);
	free(buf);
	CU_ASSERT_EQUAL(OPS(l)->commit(w, LV_COMMIT_REPLACE), 0);
	return crc;
}

/* Read name whole: the driver's code, its length and CRC. */
static int get(struct lv_location *l, const char *name, size_t *len, unsigned long *crc)
{
	lv_reader *r = NULL;
	*len = 0;
	*crc = crc32(0L, Z_NULL, 0);
	lv_location_clear_error(l);
	int rc = OPS(l)->read_open(INST(l), name, &r);
	if (rc)
		return rc;
	static unsigned char buf[1 << 20];
	size_t n = 0;
	while (!(rc = OPS(l)->read(r, buf, sizeof buf, &n)) && n) {
		*crc = crc32(*crc, buf, (uInt)n);
		*len += n;
	}
	OPS(l)->read_close(r);
	return rc;
}

/* ---- listings ------------------------------------------------------------------------ */

static void t_list_endless(void)
{
	NEED();
	lv_context *ctx = liar_ctx(NULL);
	struct lv_location *l = open_loc(ctx, "s3://liar/endless");
	listed x;
	/* the same continuation token again and again: the old loop never ended */
	t_s3liar_mode(&liar, "list same-token\n");
	CU_ASSERT_EQUAL(list(l, &x), LV_E_IO);
	CU_ASSERT(said(l, "continuation token again"));
	CU_ASSERT(t_s3liar_count(&liar, "list-type") <= 2);
	lv_location_close(l);

	/* a new key and token each time: bounded by the pages a listing may take (S3_LIST_PAGES_MAX, 1000) */
	l = open_loc(ctx, "s3://liar/endless");
	t_s3liar_mode(&liar, "list new-keys\n");
	double t0 = now_s();
	CU_ASSERT_EQUAL(list(l, &x), LV_E_IO);
	CU_ASSERT(said(l, "1000 pages"));
	CU_ASSERT_EQUAL(x.n, 1000);
	CU_ASSERT_EQUAL(t_s3liar_count(&liar, "list-type"), 1000);
	if (getenv("LV_TEST_VERBOSE"))
		fprintf(stderr, "  1000 pages in %.1f s\n", now_s() - t0);
	lv_location_close(l);

	/* page 2 repeats page 1's keys */
	l = open_loc(ctx, "s3://liar/endless");
	t_s3liar_mode(&liar, "list repeat\n");
	CU_ASSERT_EQUAL(list(l, &x), LV_E_IO);
	CU_ASSERT(said(l, "endless/a"));
	CU_ASSERT_EQUAL(x.n, 2); /* a and b once, from page 1 */
	lv_location_close(l);

	/* "truncated" without a token: the rest of the listing (later generations) would be left out, unsaid */
	l = open_loc(ctx, "s3://liar/endless");
	const char *doc = "<ListBucketResult><Contents><Key>endless/a</Key><Size>1</Size></Contents>"
	                  "<IsTruncated>true</IsTruncated></ListBucketResult>";
	t_s3liar_mode(&liar, "list raw %s\n", t_s3liar_file(&liar, "notoken.xml", doc, strlen(doc)));
	CU_ASSERT_EQUAL(list(l, &x), LV_E_IO);
	CU_ASSERT(said(l, "gives no continuation token"));
	CU_ASSERT_EQUAL(x.n, 0); /* a page's entries go out only once it checked out */
	lv_location_close(l);
	lv_context_free(ctx);
}

static void t_list_hostile_keys(void)
{
	NEED();
	lv_context *ctx = liar_ctx(NULL);
	struct lv_location *l = open_loc(ctx, "s3://liar/p");
	char doc[16384], longname[400];
	memset(longname, 'n', 300);
	longname[300] = '\0';
	/* in byte order, as S3 lists them */
	snprintf(doc, sizeof doc,
	         "<?xml version=\"1.0\"?><ListBucketResult><Name>liar</Name><Prefix>p/</Prefix>"
	         "<Contents><Key>other/x</Key><Size>1</Size></Contents>"
	         "<Contents><Key>p/</Key><Size>1</Size></Contents>"
	         "<Contents><Key>p/.</Key><Size>1</Size></Contents>"
	         "<Contents><Key>p/..</Key><Size>1</Size></Contents>"
	         "<Contents><Key>p/.hidden</Key><Size>1</Size></Contents>"
	         "<Contents><Key>p/badtime</Key><Size>3</Size><LastModified>yesterday</LastModified></Contents>"
	         "<Contents><Key>p/garbsize</Key><Size>12abc</Size></Contents>"
	         "<Contents><Key>p/good</Key><Size>10</Size><LastModified>2026-01-02T03:04:05.000Z</LastModified>"
	         "</Contents>"
	         "<Contents><Key>p/hugesize</Key><Size>99999999999999999999999</Size></Contents>"
	         "<Contents><Key>p/negsize</Key><Size>-5</Size></Contents>"
	         "<Contents><Key>p/%s</Key><Size>1</Size></Contents>"
	         "<Contents><Key>p/sub/deeper</Key><Size>1</Size></Contents>"
	         "<Contents><Key>p/trail</Key><Size>7</Size><LastModified>2026-01-02T03:04:05Zjunk</LastModified>"
	         "</Contents>"
	         "<CommonPrefixes><Prefix>p/sub/</Prefix></CommonPrefixes>"
	         "<IsTruncated>false</IsTruncated></ListBucketResult>",
	         longname);
	t_s3liar_mode(&liar, "list raw %s\n", t_s3liar_file(&liar, "hostile.xml", doc, strlen(doc)));
	listed x;
	CU_ASSERT_EQUAL(list(l, &x), 0);
	CU_ASSERT_STRING_EQUAL(x.names, "badtime;garbsize;good;hugesize;negsize;trail;");
	if (x.n == 6) {
		CU_ASSERT_EQUAL(x.size[0], 3);
		CU_ASSERT_EQUAL(x.mtime[0], 0);           /* LastModified garbage: unknown */
		CU_ASSERT_EQUAL(x.size[1], UINT64_MAX);   /* Size garbage: unknown, not 12 */
		CU_ASSERT_EQUAL(x.size[2], 10);
		CU_ASSERT_EQUAL(x.mtime[2], 1767323045);
		CU_ASSERT_EQUAL(x.size[3], UINT64_MAX);   /* Size past 2^64: unknown */
		CU_ASSERT_EQUAL(x.size[4], UINT64_MAX);   /* Size negative: unknown, not 2^64 - 5 */
		CU_ASSERT_EQUAL(x.mtime[5], 0);           /* LastModified with junk after it: unknown */
	}
	/* a key listed twice in one page */
	snprintf(doc, sizeof doc,
	         "<ListBucketResult><Contents><Key>p/a</Key><Size>1</Size></Contents>"
	         "<Contents><Key>p/a</Key><Size>1</Size></Contents><IsTruncated>false</IsTruncated></ListBucketResult>");
	t_s3liar_mode(&liar, "list raw %s\n", t_s3liar_file(&liar, "twice.xml", doc, strlen(doc)));
	CU_ASSERT_EQUAL(list(l, &x), LV_E_IO);
	CU_ASSERT(said(l, "p/a"));
	/* malformed XML, an entity bomb, an answer past S3_XML_MAX (8 MiB) */
	snprintf(doc, sizeof doc, "<ListBucketResult><Contents><Key>p/a</Key></Contents>");
	t_s3liar_mode(&liar, "list raw %s\n", t_s3liar_file(&liar, "cut.xml", doc, strlen(doc)));
	CU_ASSERT_EQUAL(list(l, &x), LV_E_IO);
	CU_ASSERT(said(l, "not valid XML"));
	snprintf(doc, sizeof doc,
	         "<?xml version=\"1.0\"?><!DOCTYPE lolz [<!ENTITY lol \"lol\"><!ENTITY lol2 \"&lol;&lol;&lol;&lol;\">"
	         "<!ENTITY lol3 \"&lol2;&lol2;&lol2;&lol2;\">]><ListBucketResult><Contents><Key>p/&lol3;</Key>"
	         "</Contents><IsTruncated>false</IsTruncated></ListBucketResult>");
	t_s3liar_mode(&liar, "list raw %s\n", t_s3liar_file(&liar, "bomb.xml", doc, strlen(doc)));
	CU_ASSERT_EQUAL(list(l, &x), LV_E_IO);
	CU_ASSERT_EQUAL(x.n, 0);
	size_t big = 9 * MIB;
	char *huge = malloc(big);
	CU_ASSERT_PTR_NOT_NULL_FATAL(huge);
	memset(huge, ' ', big);
	memcpy(huge, "<ListBucketResult>", 18);
	t_s3liar_mode(&liar, "list raw %s\n", t_s3liar_file(&liar, "huge.xml", huge, big));
	free(huge);
	CU_ASSERT_EQUAL(list(l, &x), LV_E_IO);
	CU_ASSERT(said(l, "larger than"));
	lv_location_close(l);
	lv_context_free(ctx);
}

/* ---- reads ------------------------------------------------------------------------------ */

static void t_read_lies(void)
{
	NEED();
	lv_context *ctx = liar_ctx("part_size = 5\nparallel_parts = 2\n");
	struct lv_location *l = open_loc(ctx, "s3://liar/read");
	size_t size = 10 * MIB, len = 0;
	unsigned long crc = put(l, "ten", size), back = 0;
	CU_ASSERT_EQUAL(get(l, "ten", &len, &back), 0);
	CU_ASSERT_EQUAL(len, size);
	CU_ASSERT_EQUAL(back, crc);

	/* the second range answered with the bytes one further back (and a Content-Range that says so) */
	t_s3liar_mode(&liar, "get shifted\n");
	CU_ASSERT_EQUAL(get(l, "ten", &len, &back), LV_E_IO);
	CU_ASSERT(said(l, "Content-Range"));
	/* a 206 without Content-Range */
	t_s3liar_mode(&liar, "get norange\n");
	CU_ASSERT_EQUAL(get(l, "ten", &len, &back), LV_E_IO);
	CU_ASSERT(said(l, "Content-Range"));
	/* HEAD says 5 MiB: the ranges' Content-Range tells the object is 10 */
	t_s3liar_mode(&liar, "head size %u\n", 5 * MIB);
	CU_ASSERT_EQUAL(get(l, "ten", &len, &back), LV_E_IO);
	CU_ASSERT(said(l, "10485760"));
	/* HEAD says 12 MiB: the third range does not exist */
	t_s3liar_mode(&liar, "head size %u\n", 12 * MIB);
	CU_ASSERT_EQUAL(get(l, "ten", &len, &back), LV_E_IO);
	CU_ASSERT(said(l, "s3://liar/read/ten"));
	/* HEAD with a Content-Length that is no number */
	t_s3liar_mode(&liar, "head size -1\n");
	CU_ASSERT_EQUAL(get(l, "ten", &len, &back), LV_E_IO);
	CU_ASSERT(said(l, "Content-Length"));
	/* 200 and the whole object to a range request */
	t_s3liar_mode(&liar, "get whole\n");
	CU_ASSERT_EQUAL(get(l, "ten", &len, &back), LV_E_IO);
	CU_ASSERT(said(l, "more than"));
	/* 16 bytes more than the range asked */
	t_s3liar_mode(&liar, "get long\n");
	CU_ASSERT_EQUAL(get(l, "ten", &len, &back), LV_E_IO);
	CU_ASSERT(said(l, "more than"));
	/* fewer bytes than Content-Length, the connection closed: retried, then IO */
	t_s3liar_mode(&liar, "get short\n");
	CU_ASSERT_EQUAL(get(l, "ten", &len, &back), LV_E_IO);
	CU_ASSERT(said(l, "s3://liar/read/ten"));
	CU_ASSERT(t_s3liar_count(&liar, "GET") >= 3);
	/* a HEAD that sends a body: the next request on that connection must not read it as its answer */
	t_s3liar_mode(&liar, "head body\n");
	int rc = get(l, "ten", &len, &back);
	CU_ASSERT(rc == 0 || rc == LV_E_IO);
	if (!rc) {
		CU_ASSERT_EQUAL(len, size);
		CU_ASSERT_EQUAL(back, crc);
	}
	/* honest again: the object reads back whole */
	t_s3liar_mode(&liar, "%s", "");
	CU_ASSERT_EQUAL(get(l, "ten", &len, &back), 0);
	CU_ASSERT_EQUAL(back, crc);
	lv_location_close(l);
	lv_context_free(ctx);
}

/* ---- writes --------------------------------------------------------------------------- */

static int put_rc(struct lv_location *l, const char *name, size_t size)
{
	lv_writer *w = NULL;
	lv_location_clear_error(l);
	int rc = OPS(l)->write_begin(INST(l), name, size, &w);
	if (rc)
		return rc;
	unsigned char *buf = calloc(1, size ? size : 1);
	for (size_t i = 0; i < size; i += 4096)
		buf[i] = (unsigned char)i;
	rc = OPS(l)->write(w, buf, size);
	free(buf);
	if (rc) {
		OPS(l)->abort(w);
		return rc;
	}
	return OPS(l)->commit(w, LV_COMMIT_REPLACE);
}

static void t_write_lies(void)
{
	NEED();
	lv_context *ctx = liar_ctx("part_size = 5\n");
	struct lv_location *l = open_loc(ctx, "s3://liar/write");
	/* PUT answered with another ETag, with bytes a terminal acts on */
	t_s3liar_mode(&liar, "put etag 0123\x1b[31mred\n");
	CU_ASSERT_EQUAL(put_rc(l, "small", 1000), LV_E_IO);
	CU_ASSERT(said(l, "ETag"));
	/* UploadPart answered with another ETag */
	t_s3liar_mode(&liar, "put etag 00000000000000000000000000000000\n");
	CU_ASSERT_EQUAL(put_rc(l, "parts", 6 * MIB), LV_E_IO);
	CU_ASSERT(said(l, "upload part"));
	/* a completion that says 200 but stores nothing, or not every part */
	t_s3liar_mode(&liar, "complete missing\n");
	CU_ASSERT_EQUAL(put_rc(l, "missing", 6 * MIB), LV_E_IO);
	CU_ASSERT(said(l, "not there"));
	t_s3liar_mode(&liar, "complete short\n");
	CU_ASSERT_EQUAL(put_rc(l, "short", 6 * MIB), LV_E_IO);
	CU_ASSERT(said(l, "5242880 bytes"));
	/* 200 with an <Error> (S3 does this to CompleteMultipartUpload), its code with a C1 control */
	const char *err = "<?xml version=\"1.0\"?><Error><Code>Internal\xc2\x9b" "31mError</Code>"
	                  "<Message>We encountered an internal error.</Message></Error>";
	t_s3liar_mode(&liar, "complete raw %s\n", t_s3liar_file(&liar, "err200.xml", err, strlen(err)));
	CU_ASSERT_EQUAL(put_rc(l, "err200", 6 * MIB), LV_E_IO);
	CU_ASSERT(said(l, "Internal"));
	/* a malformed or entity-bomb answer to a completion that did store the object: the HEAD decides */
	const char *bomb = "<?xml version=\"1.0\"?><!DOCTYPE x [<!ENTITY a \"aaaaaaaa\"><!ENTITY b \"&a;&a;&a;&a;\">]>"
	                   "<Error><Code>&b;</Code></Error>";
	t_s3liar_mode(&liar, "complete raw %s\n", t_s3liar_file(&liar, "bomb.xml", bomb, strlen(bomb)));
	CU_ASSERT_EQUAL(put_rc(l, "bomb", 6 * MIB), 0);
	/* CreateMultipartUpload answered with an entity bomb, or 9 MiB */
	t_s3liar_mode(&liar, "create raw %s\n", t_s3liar_file(&liar, "bomb.xml", bomb, strlen(bomb)));
	CU_ASSERT_EQUAL(put_rc(l, "create-bomb", 6 * MIB), LV_E_IO);
	CU_ASSERT(said(l, "UploadId"));
	size_t big = 9 * MIB;
	char *huge = malloc(big);
	CU_ASSERT_PTR_NOT_NULL_FATAL(huge);
	memset(huge, ' ', big);
	memcpy(huge, "<InitiateMultipartUploadResult>", 31);
	t_s3liar_mode(&liar, "create raw %s\n", t_s3liar_file(&liar, "huge.xml", huge, big));
	free(huge);
	CU_ASSERT_EQUAL(put_rc(l, "create-huge", 6 * MIB), LV_E_IO);
	CU_ASSERT(said(l, "larger than"));
	lv_location_close(l);
	lv_context_free(ctx);
}

/* ---- cleanup -------------------------------------------------------------------------------- */

static void t_cleanup_lies(void)
{
	NEED();
	lv_context *ctx = liar_ctx(NULL);
	struct lv_location *l = open_loc(ctx, "s3://liar/c");
	CU_ASSERT_PTR_NOT_NULL_FATAL(OPS(l)->cleanup);
	/* ListMultipartUploads truncated forever with the same markers */
	t_s3liar_mode(&liar, "uploads same-marker\n");
	lv_location_clear_error(l);
	CU_ASSERT_EQUAL(OPS(l)->cleanup(INST(l)), LV_E_IO);
	CU_ASSERT(said(l, "marker"));
	CU_ASSERT(t_s3liar_count(&liar, "uploads") <= 3);
	lv_location_close(l);
	/* truncated without a NextKeyMarker: the uploads after the page would be left, unsaid */
	l = open_loc(ctx, "s3://liar/c");
	const char *nomark = "<ListMultipartUploadsResult><Upload><Key>c/x</Key><UploadId>u9</UploadId></Upload>"
	                     "<IsTruncated>true</IsTruncated></ListMultipartUploadsResult>";
	t_s3liar_mode(&liar, "uploads raw %s\n", t_s3liar_file(&liar, "nomark.xml", nomark, strlen(nomark)));
	lv_location_clear_error(l);
	CU_ASSERT_EQUAL(OPS(l)->cleanup(INST(l)), LV_E_IO);
	CU_ASSERT(said(l, "gives no NextKeyMarker"));
	lv_location_close(l);
	/* uploads of keys that are no objects of the location: only c/ok is aborted */
	l = open_loc(ctx, "s3://liar/c");
	const char *doc = "<ListMultipartUploadsResult>"
	                  "<Upload><Key>c/..</Key><UploadId>u1</UploadId></Upload>"
	                  "<Upload><Key>c/.</Key><UploadId>u2</UploadId></Upload>"
	                  "<Upload><Key>c/</Key><UploadId>u3</UploadId></Upload>"
	                  "<Upload><Key>c/ok</Key><UploadId>u4</UploadId></Upload>"
	                  "<Upload><Key>c/sub/x</Key><UploadId>u5</UploadId></Upload>"
	                  "<Upload><Key>other</Key><UploadId>u6</UploadId></Upload>"
	                  "<IsTruncated>false</IsTruncated></ListMultipartUploadsResult>";
	t_s3liar_mode(&liar, "uploads raw %s\n", t_s3liar_file(&liar, "uploads.xml", doc, strlen(doc)));
	CU_ASSERT_EQUAL(OPS(l)->cleanup(INST(l)), 0);
	CU_ASSERT_EQUAL(t_s3liar_count(&liar, "DELETE"), 1);
	CU_ASSERT_EQUAL(t_s3liar_count(&liar, "DELETE /liar/c/ok?uploadId=u4"), 1);
	lv_location_close(l);
	lv_context_free(ctx);
}

/* ---- errors, redirects, storms -------------------------------------------------------------- */

static void t_error_answers(void)
{
	NEED();
	lv_context *ctx = liar_ctx(NULL);
	struct lv_location *l = open_loc(ctx, "s3://liar/e");
	listed x;
	/* hostile bytes in the Code and the Message: never raw in a message */
	const char *doc = "<?xml version=\"1.0\"?><Error><Code>Access\xc2\x9b" "Denied</Code><Message>line&#13;&#10;"
	                  "\xc2\x9b" "31mred\xe2\x80\xae" "evil&#9;tab</Message></Error>";
	t_s3liar_mode(&liar, "all status 400 %s\n", t_s3liar_file(&liar, "err.xml", doc, strlen(doc)));
	CU_ASSERT_EQUAL(list(l, &x), LV_E_IO);
	CU_ASSERT(said(l, "HTTP 400"));
	/* the CLI too: nothing a terminal acts on reaches it */
	char *out = NULL;
	t_sh(&out, "'%s' --config '%s' --store '%s/store.db' list s3://liar/e", T_CLI,
	     t_s3liar_config(&liar, "liar", NULL), liar.dir);
	CU_ASSERT_PTR_NOT_NULL(out);
	CU_ASSERT(out && strstr(out, "HTTP 400"));
	CU_ASSERT(out && !strchr(out, '\x1b') && !strstr(out, "\xc2\x9b") && !strstr(out, "\xe2\x80\xae"));
	if (getenv("LV_TEST_VERBOSE"))
		fprintf(stderr, "\n  cli: %s\n", out ? out : "");
	free(out);
	/* an error answer past 8 MiB */
	size_t big = 9 * MIB;
	char *huge = malloc(big);
	CU_ASSERT_PTR_NOT_NULL_FATAL(huge);
	memset(huge, ' ', big);
	memcpy(huge, "<Error>", 7);
	t_s3liar_mode(&liar, "all status 400 %s\n", t_s3liar_file(&liar, "huge.xml", huge, big));
	free(huge);
	CU_ASSERT_EQUAL(list(l, &x), LV_E_IO);
	CU_ASSERT(said(l, "larger than"));

	/* redirects, to another host or to this one: never followed (the Authorization would go along) */
	char to[200];
	snprintf(to, sizeof to, "http://127.0.0.2:%d/elsewhere/", liar.port);
	t_s3liar_mode(&liar, "all redirect %s\n", to);
	CU_ASSERT_EQUAL(list(l, &x), LV_E_CONFIG);
	CU_ASSERT(said(l, "127.0.0.2"));
	CU_ASSERT_EQUAL(t_s3liar_count(&liar, "elsewhere"), 0);
	snprintf(to, sizeof to, "%s/elsewhere/\x1b[31m", liar.endpoint);
	t_s3liar_mode(&liar, "all redirect %s\n", to);
	CU_ASSERT_EQUAL(list(l, &x), LV_E_CONFIG);
	CU_ASSERT(said(l, "redirect"));
	CU_ASSERT_EQUAL(t_s3liar_count(&liar, "elsewhere"), 0);

	/* a SlowDown storm: `retries` retries (2), backing off, then IO */
	t_s3liar_mode(&liar, "all slowdown\n");
	double t0 = now_s();
	CU_ASSERT_EQUAL(list(l, &x), LV_E_IO);
	CU_ASSERT(now_s() - t0 < 3);
	CU_ASSERT(said(l, "SlowDown"));
	CU_ASSERT_EQUAL(t_s3liar_count(&liar, NULL), 3);
	lv_location_close(l);
	lv_context_free(ctx);
}

LV_SUITE(s3liar, s3liar, suite_init, suite_clean,
         {"listings that never end or repeat", t_list_endless},
         {"listed keys, sizes and times that lie", t_list_hostile_keys},
         {"reads that give other bytes", t_read_lies},
         {"writes and completions that lie", t_write_lies},
         {"cleanup over a lying upload listing", t_cleanup_lies},
         {"errors, redirects, SlowDown", t_error_answers})
