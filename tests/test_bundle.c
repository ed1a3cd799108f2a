/*
 * The bundle driver (drivers/bundle, docs/drivers/bundle.md): round trips
 * over file:// and sftp://, gzip compatibility, BACKUP_EXISTS and overwrite,
 * an interrupted backup leaving the old bundle, side objects, the level key,
 * hostile bundles (truncated, flipped bytes, decompression bombs, names that
 * are not the set's own, trailing garbage) built here by an independent
 * writer of the documented format, flat memory, and the fuzz smoke round.
 *
 * Generations: each is a bundle file of its own, NAME.g<16 hex>.EXT, written
 * once: retention (keep 1, 3, 20, counting files), --generation restore and
 * verify, a damaged newest generation file, the newest file copied away, a
 * bundle of the previous version (tests/data/format1/lic.lvb) read and
 * pruned, no file ever replaced (its inode), a generation published by
 * another backup meanwhile (EXISTS, nothing replaced), a location that
 * acknowledges writes it does not store, and the conformance suite with its
 * history checks.
 */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "conformance.h"
#include "testutil.h"

#if defined(__has_include)
#if __has_include("fixture_sshd.h")
#include "fixture_sshd.h"
#define HAVE_SSHD 1
#endif
#endif

static lv_context *ctx;
static char *dir;
static char cfg_path[600];

#define PACK1 "licvault-g0000000000000001.pack"
#define MAN1 "licvault-g0000000000000001.manifest"
#define G1 ".g0000000000000001"
#define G2 ".g0000000000000002"
#define G3 ".g0000000000000003"

static int init(void)
{
	dir = t_tmpdir();
	if (!dir)
		return 1;
	/* many restores in one day from fresh stores: lift the license service's limits */
	snprintf(cfg_path, sizeof cfg_path, "%s/config", dir);
	FILE *f = fopen(cfg_path, "w");
	if (!f)
		return 1;
	fprintf(f, "[service]\nrestores_per_day = 100000\n");
	fclose(f);
	ctx = t_context();
	return ctx && lv_context_load_config(ctx, cfg_path) == 0 ? 0 : 1;
}

static int clean(void)
{
	lv_context_free(ctx);
	free(dir);
	return 0;
}

static char *path(const char *fmt, const char *name)
{
	static char buf[8][700];
	static int k;
	k = (k + 1) % 8;
	snprintf(buf[k], sizeof buf[k], fmt, dir, name);
	return buf[k];
}
#define P(name) path("%s/%s", name)
#define BU(name) path("bundle+file://%s/%s", name)

/* A run through the public API; msg gets the run's last error message. */
static int run(lv_context *c, lv_store *s, const char *uri, int kind, unsigned flags, char *msg, size_t cap)
{
	lv_restorer *r = NULL;
	if (lv_restorer_new(&r, c, s))
		return LV_E_NOMEM;
	lv_restorer_set_string(r, kind == 'b' ? LV_PROP_BACKUP_PATH : LV_PROP_RESTORE_PATH, uri);
	t_events ev;
	int rc = t_run(r, kind, flags, &ev);
	if (msg)
		snprintf(msg, cap, "%s", lv_restorer_last_error(r) ? lv_restorer_last_error(r) : "");
	if (rc && getenv("LV_TEST_VERBOSE"))
		fprintf(stderr, "[bundle %c %s] %s: %s\n", kind, uri, lv_error_name(rc), lv_restorer_last_error(r));
	lv_restorer_free(r);
	return rc;
}

static uLong file_crc(const char *p)
{
	size_t n = 0;
	unsigned char *b = t_read_file(p, &n);
	uLong c = b ? crc32(0L, b, (uInt)n) : 0;
	free(b);
	return c;
}

/* Entries of a directory, sorted, joined by spaces. */
static char *dir_entries(const char *d)
{
	char *out = NULL;
	t_sh(&out, "ls -A '%s' | tr '\\n' ' '", d);
	return out;
}

/* ---- an independent writer of the documented container ------------------- */

typedef struct cbuf {
	unsigned char *p;
	size_t n, cap;
} cbuf;

static void cput(cbuf *b, const void *p, size_t n)
{
	if (b->n + n > b->cap) {
		b->cap = (b->n + n) * 2;
		b->p = realloc(b->p, b->cap);
	}
	memcpy(b->p + b->n, p, n);
	b->n += n;
}

static void cu8(cbuf *b, unsigned v)
{
	unsigned char c = (unsigned char)v;
	cput(b, &c, 1);
}

static void cu32(cbuf *b, uint32_t v)
{
	unsigned char c[4] = {(unsigned char)(v >> 24), (unsigned char)(v >> 16), (unsigned char)(v >> 8), (unsigned char)v};
	cput(b, c, 4);
}

static void cu64(cbuf *b, uint64_t v)
{
	cu32(b, (uint32_t)(v >> 32));
	cu32(b, (uint32_t)v);
}

static void c_header_v(cbuf *b, uint32_t version)
{
	cput(b, "LVBUNDL\n", 8);
	cu32(b, version);
	cu32(b, 0);
}

/* Version 1: one gzip member, any order (the driver wrote the pack first). */
static void c_header(cbuf *b)
{
	c_header_v(b, 1);
}

/* An object's 'O' record: its data records follow. */
static void c_begin(cbuf *b, const char *name)
{
	cu8(b, 'O');
	cu8(b, (unsigned)strlen(name));
	cput(b, name, strlen(name));
}

/* A whole object: 'O', data in 'D' records of at most 64 KiB, 'E'. */
static void c_object(cbuf *b, const char *name, const unsigned char *p, size_t n)
{
	c_begin(b, name);
	for (size_t off = 0; off < n;) {
		size_t k = n - off < 65536 ? n - off : 65536;
		cu8(b, 'D');
		cu32(b, (uint32_t)k);
		cput(b, p + off, k);
		off += k;
	}
	cu8(b, 'E');
	cu64(b, n);
	cu32(b, (uint32_t)crc32(0L, p, (uInt)n));
}

static void c_end(cbuf *b, uint32_t objects, uint64_t bytes)
{
	cu8(b, 'Z');
	cu32(b, objects);
	cu64(b, bytes);
}

/* gzip with the header CRC, as licvault writes it; then `zeros` zero bytes more in the same stream. */
static int gz_level = 6;

/* One gzip member of data (then `zeros` zero bytes), written to p, or appended with mode "ab". */
static int gz_member(const char *p, const char *mode, const unsigned char *data, size_t n, size_t zeros, int hcrc)
{
	z_stream z;
	memset(&z, 0, sizeof z);
	if (deflateInit2(&z, gz_level, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK)
		return -1;
	gz_header h;
	memset(&h, 0, sizeof h);
	h.os = 3;
	h.hcrc = hcrc;
	deflateSetHeader(&z, &h);
	FILE *f = fopen(p, mode);
	if (!f) {
		deflateEnd(&z);
		return -1;
	}
	static unsigned char zero[1 << 16], out[1 << 16];
	size_t zleft = zeros;
	int r;
	z.next_in = (unsigned char *)data;
	z.avail_in = (uInt)n;
	do {
		if (!z.avail_in && zleft) {
			size_t k = zleft < sizeof zero ? zleft : sizeof zero;
			z.next_in = zero;
			z.avail_in = (uInt)k;
			zleft -= k;
		}
		z.next_out = out;
		z.avail_out = sizeof out;
		r = deflate(&z, z.avail_in || zleft ? Z_NO_FLUSH : Z_FINISH);
		fwrite(out, 1, sizeof out - z.avail_out, f);
	} while (r != Z_STREAM_END);
	deflateEnd(&z);
	return fclose(f) == 0 ? 0 : -1;
}

static int gz_write(const char *p, const unsigned char *data, size_t n, size_t zeros, int hcrc)
{
	return gz_member(p, "wb", data, n, zeros, hcrc);
}

/* A bundle of several gzip members, one per buffer (each freed). */
static void build_members(const char *file, cbuf *parts, int nparts)
{
	for (int i = 0; i < nparts; i++) {
		CU_ASSERT_EQUAL(gz_member(P(file), i ? "ab" : "wb", parts[i].p, parts[i].n, 0, 1), 0);
		free(parts[i].p);
		memset(&parts[i], 0, sizeof parts[i]);
	}
}

/* 1 when two gzip files decompress (zlib, as gzip -dc would) to the same bytes. */
static int same_content(const char *a, const char *b)
{
	size_t na = 0, nb = 0;
	unsigned char *pa = t_read_file(a, &na), *pb = t_read_file(b, &nb);
	int same = 0;
	if (pa && pb) {
		z_stream za, zb;
		memset(&za, 0, sizeof za);
		memset(&zb, 0, sizeof zb);
		inflateInit2(&za, 31);
		inflateInit2(&zb, 31);
		za.next_in = pa;
		za.avail_in = (uInt)na;
		zb.next_in = pb;
		zb.avail_in = (uInt)nb;
		static unsigned char oa[1 << 16], ob[1 << 16];
		same = 1;
		int ra, rb;
		do {
			za.next_out = oa;
			za.avail_out = sizeof oa;
			zb.next_out = ob;
			zb.avail_out = sizeof ob;
			ra = inflate(&za, Z_FINISH);
			rb = inflate(&zb, Z_FINISH);
			size_t ka = sizeof oa - za.avail_out, kb = sizeof ob - zb.avail_out;
			if (ka != kb || memcmp(oa, ob, ka) != 0)
				same = 0;
		} while (same && ra == Z_BUF_ERROR && rb == Z_BUF_ERROR);
		if (ra != Z_STREAM_END || rb != Z_STREAM_END)
			same = 0;
		inflateEnd(&za);
		inflateEnd(&zb);
	}
	free(pa);
	free(pb);
	return same;
}

/* The store and the real set objects the hostile bundles are made of. */
static lv_store *src_store, *dst_store;
static unsigned char *pack, *man;
static size_t pack_len, man_len;
static unsigned long dst_digest;
static uint64_t dst_count;

static int set_ready(void)
{
	if (pack)
		return 1;
	if (t_make_store(ctx, P("src.db"), 60, &src_store) || t_make_store(ctx, P("dst.db"), 7, &dst_store))
		return 0;
	if (run(ctx, src_store, path("file://%s/%s", "plainset"), 'b', 0, NULL, 0))
		return 0;
	pack = t_read_file(path("%s/plainset/%s", PACK1), &pack_len);
	man = t_read_file(path("%s/plainset/%s", MAN1), &man_len);
	dst_digest = t_store_digest(dst_store);
	dst_count = t_count(dst_store);
	return pack && man;
}

/*
 * Restore from a hostile bundle: BACKUP_CORRUPT, the message has `want` (or
 * `or_want`), the store unchanged.
 */
static void expect_corrupt_either(const char *file, const char *want, const char *or_want)
{
	char msg[1024] = "";
	int rc = run(ctx, dst_store, BU(file), 'r', LV_RESTORE_INDIVIDUALIZE, msg, sizeof msg);
	CU_ASSERT_EQUAL(rc, LV_E_BACKUP_CORRUPT);
	if (want && !strstr(msg, want) && !(or_want && strstr(msg, or_want))) {
		fprintf(stderr, "\n  %s: message '%s' lacks '%s'\n", file, msg, want);
		CU_FAIL("message does not name the offset or object");
	}
	CU_ASSERT_EQUAL(t_count(dst_store), dst_count);
	CU_ASSERT_EQUAL(t_store_digest(dst_store), dst_digest);
	rc = run(ctx, dst_store, BU(file), 'v', 0, NULL, 0);
	CU_ASSERT_EQUAL(rc, LV_E_BACKUP_CORRUPT);
}

static void expect_corrupt(const char *file, const char *want)
{
	expect_corrupt_either(file, want, NULL);
}

/* ---- round trips ----------------------------------------------------------------- */

static void test_roundtrip_file(void)
{
	lv_store *s = NULL, *r = NULL;
	CU_ASSERT_EQUAL_FATAL(t_make_store(ctx, P("rt.db"), 500, &s), 0);
	t_events ev;
	CU_ASSERT_EQUAL(t_backup(ctx, s, BU("rt/a.lvb"), 0, &ev), 0);
	CU_ASSERT_EQUAL(ev.restricted, 100);
	/* one file, nothing else: no lock left, no temporary */
	char *ls = dir_entries(P("rt"));
	CU_ASSERT_STRING_EQUAL(ls, "a" G1 ".lvb ");
	free(ls);
	CU_ASSERT_EQUAL(t_verify(ctx, s, BU("rt/a.lvb"), &ev), 0);
	CU_ASSERT_EQUAL_FATAL(t_make_store(ctx, P("rt-restored.db"), 0, &r), 0);
	CU_ASSERT_EQUAL(run(ctx, r, BU("rt/a.lvb"), 'r', LV_RESTORE_INDIVIDUALIZE, NULL, 0), 0);
	CU_ASSERT_EQUAL(t_count(r), 400);
	/* the same set as a plain file:// backup restores */
	lv_store *r2 = NULL;
	CU_ASSERT_EQUAL(t_backup(ctx, s, path("file://%s/%s", "rt-plain"), 0, NULL), 0);
	CU_ASSERT_EQUAL_FATAL(t_make_store(ctx, P("rt-restored2.db"), 0, &r2), 0);
	CU_ASSERT_EQUAL(run(ctx, r2, path("file://%s/%s", "rt-plain"), 'r', LV_RESTORE_INDIVIDUALIZE, NULL, 0), 0);
	CU_ASSERT_EQUAL(t_store_digest(r2), t_store_digest(r));
	/* the license service's registry lives beside the bundle, not in it */
	ls = dir_entries(P("rt"));
	CU_ASSERT_PTR_NOT_NULL(strstr(ls, "a.lvb.licvault-registry-"));
	CU_ASSERT_PTR_NULL(strstr(ls, "lock"));
	free(ls);
	/* bundle:///abs/file.lvb is bundle+file:// */
	CU_ASSERT_EQUAL(t_verify(ctx, s, path("bundle://%s/%s", "rt/a.lvb"), &ev), 0);
	lv_store_free(r2);
	lv_store_free(r);
	lv_store_free(s);
}

static void test_gzip_compat(void)
{
	lv_store *s = NULL;
	CU_ASSERT_EQUAL_FATAL(t_make_store(ctx, P("gz.db"), 50, &s), 0);
	CU_ASSERT_EQUAL_FATAL(t_backup(ctx, s, BU("gz/b.lvb"), 0, NULL), 0);
	char *out = NULL;
	CU_ASSERT_EQUAL(t_sh(&out, "gzip -t '%s'", P("gz/b" G1 ".lvb")), 0);
	free(out);
	/* gzip -dc shows the container: its magic, version 2, then the manifest's
	 * name (the manifest comes first, the pack after it) */
	CU_ASSERT_EQUAL(t_sh(&out, "gzip -dc '%s' | head -c 53", P("gz/b" G1 ".lvb")), 0);
	CU_ASSERT(out && !memcmp(out, "LVBUNDL\n\0\0\0\2\0\0\0\0", 16));
	CU_ASSERT(out && memmem(out, 16 + 2 + strlen(MAN1), MAN1, strlen(MAN1)) != NULL);
	free(out);
	out = NULL;
	CU_ASSERT_EQUAL(t_sh(&out, "gzip -dc '%s' | grep -a -c '%s'", P("gz/b" G1 ".lvb"), PACK1), 0);
	CU_ASSERT(out && atoi(out) >= 1);
	free(out);
	/* bundles made by this test's own writer of the documented formats restore:
	 * version 1 (one gzip member, the pack first) ... */
	CU_ASSERT_FATAL(set_ready());
	cbuf b = {0};
	c_header(&b);
	c_object(&b, PACK1, pack, pack_len);
	c_object(&b, MAN1, man, man_len);
	c_end(&b, 2, pack_len + man_len);
	CU_ASSERT_EQUAL(gz_write(P("own.lvb"), b.p, b.n, 0, 1), 0);
	CU_ASSERT_EQUAL(t_verify(ctx, dst_store, BU("own.lvb"), NULL), 0);
	free(b.p);
	/* ... and version 2 (header and manifest, the pack, the end record: three members) */
	cbuf m[3] = {{0}};
	c_header_v(&m[0], 2);
	c_object(&m[0], MAN1, man, man_len);
	c_object(&m[1], PACK1, pack, pack_len);
	c_end(&m[2], 2, pack_len + man_len);
	build_members("own2.lvb", m, 3);
	CU_ASSERT_EQUAL(t_sh(&out, "gzip -t '%s'", P("own2.lvb")), 0);
	free(out);
	lv_store *r = NULL;
	CU_ASSERT_EQUAL_FATAL(t_make_store(ctx, P("own2.db"), 0, &r), 0);
	CU_ASSERT_EQUAL(run(ctx, r, BU("own2.lvb"), 'r', LV_RESTORE_INDIVIDUALIZE, NULL, 0), 0);
	/* the same licenses as a restore of the plain set the bundle was built from */
	lv_store *r1 = NULL;
	CU_ASSERT_EQUAL_FATAL(t_make_store(ctx, P("own2-plain.db"), 0, &r1), 0);
	CU_ASSERT_EQUAL(run(ctx, r1, path("file://%s/%s", "plainset"), 'r', LV_RESTORE_INDIVIDUALIZE, NULL, 0), 0);
	CU_ASSERT(t_count(r) > 0);
	CU_ASSERT_EQUAL(t_count(r), t_count(r1));
	CU_ASSERT_EQUAL(t_store_digest(r), t_store_digest(r1));
	lv_store_free(r1);
	lv_store_free(r);
	lv_store_free(s);
}

/* Two members: the header and the first object; the second object and the end record. */
static void build_two(const char *file, uint32_t version, int pack_first)
{
	cbuf m[2] = {{0}};
	c_header_v(&m[0], version);
	c_object(&m[0], pack_first ? PACK1 : MAN1, pack_first ? pack : man, pack_first ? pack_len : man_len);
	c_object(&m[1], pack_first ? MAN1 : PACK1, pack_first ? man : pack, pack_first ? man_len : pack_len);
	c_end(&m[1], 2, pack_len + man_len);
	build_members(file, m, 2);
}

/*
 * Version 2's members: they may end only between two records; the pack
 * ends the bundle; a version 1 bundle is one member.  Each is refused by the
 * restore (store unchanged) and by verify.
 */
static void test_members(void)
{
	CU_ASSERT_FATAL(set_ready());
	const char *MAN2 = "licvault-0000000000000002.manifest";
	CU_ASSERT_FATAL(mkdir(P("mb"), 0700) == 0 || errno == EEXIST);
	cbuf m[4] = {{0}};
	/* an object after the pack */
	c_header_v(&m[0], 2);
	c_object(&m[0], MAN1, man, man_len);
	c_object(&m[1], PACK1, pack, pack_len);
	c_object(&m[2], MAN2, man, man_len);
	c_end(&m[2], 3, pack_len + 2 * man_len);
	build_members("mb/after.lvb", m, 3);
	expect_corrupt("mb/after.lvb", "object " "licvault-0000000000000002.manifest" " at container byte");
	/* a member may end between two records of an object (after the 'O' record),
	 * but not inside a record (here: inside the manifest's last data record) */
	size_t cuts[2] = {16 + 2 + strlen(MAN1), 0};
	const char *files[2] = {"mb/between.lvb", "mb/inside.lvb"};
	for (int i = 0; i < 2; i++) {
		cbuf whole = {0};
		c_header_v(&whole, 2);
		c_object(&whole, MAN1, man, man_len);
		size_t cut = cuts[i] ? cuts[i] : whole.n - 100;
		cput(&m[0], whole.p, cut);
		cput(&m[1], whole.p + cut, whole.n - cut);
		c_object(&m[1], PACK1, pack, pack_len);
		c_end(&m[1], 2, pack_len + man_len);
		free(whole.p);
		build_members(files[i], m, 2);
	}
	CU_ASSERT_EQUAL(t_verify(ctx, dst_store, BU("mb/between.lvb"), NULL), 0);
	char want[160];
	snprintf(want, sizeof want, "truncated: the gzip stream ends inside object %s", MAN1);
	expect_corrupt("mb/inside.lvb", want);
	/* the pack's member missing: the bundle ends after the manifest */
	c_header_v(&m[0], 2);
	c_object(&m[0], MAN1, man, man_len);
	build_members("mb/nopack.lvb", m, 1);
	expect_corrupt("mb/nopack.lvb", NULL);
	/* the end record missing after the pack's member */
	c_header_v(&m[0], 2);
	c_object(&m[0], MAN1, man, man_len);
	c_object(&m[1], PACK1, pack, pack_len);
	build_members("mb/noend.lvb", m, 2);
	expect_corrupt("mb/noend.lvb", "before the end record");
	/* version 1 is one member: the container ends with it */
	build_two("mb/v1.lvb", 1, 0);
	expect_corrupt("mb/v1.lvb", "before the end record");
	/* version 2 with the pack first: the pack is streamed, so no manifest is found */
	build_two("mb/packfirst.lvb", 2, 1);
	expect_corrupt("mb/packfirst.lvb", "has no manifest");
	/* a version this reader does not know */
	c_header_v(&m[0], 3);
	c_object(&m[0], MAN1, man, man_len);
	c_object(&m[0], PACK1, pack, pack_len);
	c_end(&m[0], 2, pack_len + man_len);
	build_members("mb/v3.lvb", m, 1);
	expect_corrupt("mb/v3.lvb", "container version 3, this licvault reads versions 1 to 2");
	/* a member without the header CRC */
	c_header_v(&m[0], 2);
	c_object(&m[0], MAN1, man, man_len);
	CU_ASSERT_EQUAL(gz_member(P("mb/nohcrc.lvb"), "wb", m[0].p, m[0].n, 0, 1), 0);
	free(m[0].p);
	memset(&m[0], 0, sizeof m[0]);
	c_object(&m[1], PACK1, pack, pack_len);
	c_end(&m[1], 2, pack_len + man_len);
	CU_ASSERT_EQUAL(gz_member(P("mb/nohcrc.lvb"), "ab", m[1].p, m[1].n, 0, 0), 0);
	free(m[1].p);
	memset(&m[1], 0, sizeof m[1]);
	expect_corrupt("mb/nohcrc.lvb", "has no header CRC (FHCRC)");
	/* the same bundle with the header CRC in every member restores */
	build_two("mb/good.lvb", 2, 0);
	CU_ASSERT_EQUAL(t_verify(ctx, dst_store, BU("mb/good.lvb"), NULL), 0);
}

static void test_exists_overwrite(void)
{
	lv_store *s = NULL;
	CU_ASSERT_EQUAL_FATAL(t_make_store(ctx, P("ex.db"), 40, &s), 0);
	CU_ASSERT_EQUAL_FATAL(t_backup(ctx, s, BU("ex/c.lvb"), 0, NULL), 0);
	uLong before = file_crc(P("ex/c" G1 ".lvb"));
	CU_ASSERT_EQUAL(t_backup(ctx, s, BU("ex/c.lvb"), 0, NULL), LV_E_BACKUP_EXISTS);
	CU_ASSERT_EQUAL(file_crc(P("ex/c" G1 ".lvb")), before);
	/* with overwrite: a new generation, a new file beside the first, which stays as it was */
	CU_ASSERT_EQUAL(t_backup(ctx, s, BU("ex/c.lvb"), LV_BACKUP_OVERWRITE, NULL), 0);
	CU_ASSERT_EQUAL(file_crc(P("ex/c" G1 ".lvb")), before);
	char *out = NULL;
	CU_ASSERT_EQUAL(t_sh(&out, "gzip -dc '%s' | grep -c licvault-g0000000000000002.manifest", P("ex/c" G2 ".lvb")), 0);
	free(out);
	char *ls = dir_entries(P("ex"));
	CU_ASSERT_STRING_EQUAL(ls, "c" G1 ".lvb c" G2 ".lvb ");
	free(ls);
	/* a file that is not a bundle is never written over, with or without overwrite (issue 15.5),
	 * and the message says what it is not */
	CU_ASSERT_EQUAL(t_write_bytes(P("ex/notes.lvb"), "hello\n", 6), 0);
	CU_ASSERT_EQUAL(t_backup(ctx, s, BU("ex/notes.lvb"), 0, NULL), LV_E_BACKUP_EXISTS);
	CU_ASSERT_EQUAL(t_file_size(P("ex/notes.lvb")), 6);
	t_events nev;
	CU_ASSERT_EQUAL(t_backup(ctx, s, BU("ex/notes.lvb"), LV_BACKUP_OVERWRITE, &nev), LV_E_BACKUP_EXISTS);
	CU_ASSERT_PTR_NOT_NULL(strstr(nev.end_message, "is not a whole licvault bundle"));
	CU_ASSERT_PTR_NULL(strstr(nev.end_message, "generation 0"));
	CU_ASSERT_EQUAL(t_file_size(P("ex/notes.lvb")), 6);
	lv_store_free(s);
}

typedef struct cancel_box {
	lv_restorer *r;
	int at;        /* the status at which to cancel */
	int canceled;
} cancel_box;

static void cancel_cb(int status, int result, const lv_value *v, void *ud)
{
	cancel_box *cb = ud;
	(void)result;
	(void)v;
	if (status == cb->at && !cb->canceled) {
		cb->canceled = 1;
		lv_restorer_cancel(cb->r);
	}
}

/* Run a backup ('b') or restore ('r') of uri canceled at the first event `at`: the run's result. */
static int canceled_run(lv_store *s, const char *uri, int kind, unsigned flags, int at)
{
	lv_restorer *r = NULL;
	CU_ASSERT_EQUAL_FATAL(lv_restorer_new(&r, ctx, s), 0);
	lv_restorer_set_string(r, kind == 'b' ? LV_PROP_BACKUP_PATH : LV_PROP_RESTORE_PATH, uri);
	cancel_box cb = {r, at, 0};
	int rc = kind == 'b' ? lv_restorer_backup(r, flags, cancel_cb, &cb) : lv_restorer_restore(r, flags, cancel_cb, &cb);
	CU_ASSERT_EQUAL(rc, 0);
	int result = 0;
	lv_restorer_wait(r, &result);
	lv_restorer_free(r);
	CU_ASSERT(cb.canceled);
	return result;
}

static void test_interrupted_keeps_old(void)
{
	lv_store *s = NULL;
	CU_ASSERT_EQUAL_FATAL(t_make_store(ctx, P("int.db"), 300, &s), 0);
	CU_ASSERT_EQUAL_FATAL(t_backup(ctx, s, BU("int/d.lvb"), 0, NULL), 0);
	uLong before = file_crc(P("int/d" G1 ".lvb"));
	/* canceled mid-pack (at the first restricted license): the inner object is being written */
	CU_ASSERT_EQUAL(canceled_run(s, BU("int/d.lvb"), 'b', LV_BACKUP_OVERWRITE, LV_STATUS_RESTRICTED_LICENSE), LV_E_CANCELED);
	/* the old bundle is as it was, and no temporary is left */
	CU_ASSERT_EQUAL(file_crc(P("int/d" G1 ".lvb")), before);
	char *ls = dir_entries(P("int"));
	CU_ASSERT_STRING_EQUAL(ls, "d" G1 ".lvb ");
	free(ls);
	CU_ASSERT_EQUAL(t_verify(ctx, s, BU("int/d.lvb"), NULL), 0);
	lv_store_free(s);
}

/* The pack is compressed into $TMPDIR: without a usable one the backup fails, naming it, and publishes nothing. */
static void test_no_tmpdir(void)
{
	lv_store *s = NULL;
	CU_ASSERT_EQUAL_FATAL(t_make_store(ctx, P("nt.db"), 50, &s), 0);
	CU_ASSERT_EQUAL_FATAL(t_backup(ctx, s, BU("nt/n.lvb"), 0, NULL), 0);
	uLong before = file_crc(P("nt/n" G1 ".lvb"));
	char *old = getenv("TMPDIR") ? strdup(getenv("TMPDIR")) : NULL;
	setenv("TMPDIR", P("nt-missing"), 1);
	char msg[1024] = "";
	int rc = run(ctx, s, BU("nt/n.lvb"), 'b', LV_BACKUP_OVERWRITE, msg, sizeof msg);
	if (old)
		setenv("TMPDIR", old, 1);
	else
		unsetenv("TMPDIR");
	free(old);
	CU_ASSERT_EQUAL(rc, LV_E_IO);
	CU_ASSERT_PTR_NOT_NULL(strstr(msg, "temporary file in"));
	CU_ASSERT_PTR_NOT_NULL(strstr(msg, "nt-missing"));
	CU_ASSERT_EQUAL(file_crc(P("nt/n" G1 ".lvb")), before);
	char *ls = dir_entries(P("nt"));
	CU_ASSERT_STRING_EQUAL(ls, "n" G1 ".lvb ");
	free(ls);
	lv_store_free(s);
}

/* A canceled restore stops the read-ahead thread, changes nothing, and a second restore works. */
static void test_canceled_restore(void)
{
	lv_store *s = NULL, *d = NULL;
	CU_ASSERT_EQUAL_FATAL(t_make_store(ctx, P("cr.db"), 2000, &s), 0);
	CU_ASSERT_EQUAL_FATAL(t_backup(ctx, s, BU("cr/c.lvb"), 0, NULL), 0);
	CU_ASSERT_EQUAL_FATAL(t_make_store(ctx, P("cr-dst.db"), 0, &d), 0);
	/* canceled once the service decided: the pack's reader and its thread are starting */
	CU_ASSERT_EQUAL(canceled_run(d, BU("cr/c.lvb"), 'r', LV_RESTORE_INDIVIDUALIZE, LV_STATUS_DISCONNECTING), LV_E_CANCELED);
	CU_ASSERT_EQUAL(t_count(d), 0);
	CU_ASSERT_EQUAL(run(ctx, d, BU("cr/c.lvb"), 'r', LV_RESTORE_INDIVIDUALIZE, NULL, 0), 0);
	CU_ASSERT(t_count(d) > 1000);
	lv_store_free(d);
	lv_store_free(s);
}

static void test_bad_uris(void)
{
	lv_store *s = NULL;
	CU_ASSERT_EQUAL_FATAL(t_make_store(ctx, P("uri.db"), 3, &s), 0);
	CU_ASSERT_EQUAL(t_backup(ctx, s, BU("uri/"), 0, NULL), LV_E_BAD_URI);
	CU_ASSERT_EQUAL(t_backup(ctx, s, path("bundle+bundle+file://%s/%s", "uri/x.lvb"), 0, NULL), LV_E_BAD_URI);
	CU_ASSERT_EQUAL(t_backup(ctx, s, "bundle:relative.lvb", 0, NULL), LV_E_BAD_URI);
	CU_ASSERT_EQUAL(t_backup(ctx, s, path("bundle+file://%s/%s", "uri/.hidden"), 0, NULL), LV_E_BAD_URI);
	/* an encoded '/' in the file name; bundle+ a plain path is a bundle URI */
	CU_ASSERT_EQUAL(t_backup(ctx, s, path("bundle+file://%s/%s", "uri/a%2Fb.lvb"), 0, NULL), LV_E_BAD_URI);
	CU_ASSERT_EQUAL(t_backup(ctx, s, path("bundle+%s/%s", "uri/plain.lvb"), 0, NULL), 0);
	CU_ASSERT(t_file_size(P("uri/plain" G1 ".lvb")) > 0);
	/* a stack inside: the file name is the innermost URI's; the layers stay in the parent
	 * (bundle+flawed+file:///d/x.lvb writes x.lvb through flawed+file:///d) */
	lv_context *sc = t_context();
	lv_context_add_driver_dir(sc, LV_TEST_BUILD_DIR "/testdrivers");
	CU_ASSERT_EQUAL(t_backup(sc, s, path("bundle+flawed+file://%s/%s", "uri/stacked.lvb"), 0, NULL), 0);
	CU_ASSERT(t_file_size(P("uri/stacked" G1 ".lvb")) > 0);
	CU_ASSERT_EQUAL(t_verify(sc, s, path("bundle+flawed+file://%s/%s", "uri/stacked.lvb"), NULL), 0);
	CU_ASSERT_EQUAL(t_backup(sc, s, path("bundle+flawed+bundle+file://%s/%s", "uri/x.lvb"), 0, NULL), LV_E_BAD_URI);
	lv_context_free(sc);
	/* a message names the URI, never its password */
	char msg[1024];
	CU_ASSERT_EQUAL(run(ctx, s, "bundle+sftp://user:s3cret@localhost:1/dir/", 'b', 0, msg, sizeof msg), LV_E_BAD_URI);
	CU_ASSERT_PTR_NOT_NULL(strstr(msg, "bundle+sftp://user:********@localhost:1/dir/"));
	CU_ASSERT_PTR_NULL(strstr(msg, "s3cret"));
	/* a missing bundle is NOT_FOUND for a restore, not corrupt */
	CU_ASSERT_EQUAL(t_verify(ctx, s, BU("uri/none.lvb"), NULL), LV_E_NOT_FOUND);
	/* a percent-encoded name in a URI */
	CU_ASSERT_EQUAL(t_backup(ctx, s, path("bundle+file://%s/%s", "uri/with%20space.lvb"), 0, NULL), 0);
	CU_ASSERT(t_file_size(P("uri/with space" G1 ".lvb")) > 0);
	lv_store_free(s);
}

static void test_level_key(void)
{
	lv_store *s = NULL;
	CU_ASSERT_EQUAL_FATAL(t_make_store(ctx, P("lvl.db"), 400, &s), 0);
	long size[2] = {0, 0};
	const char *levels[2] = {"0", "9"};
	for (int i = 0; i < 2; i++) {
		char cfg[700];
		snprintf(cfg, sizeof cfg, "%s/level%s.conf", dir, levels[i]);
		FILE *f = fopen(cfg, "w");
		CU_ASSERT_PTR_NOT_NULL_FATAL(f);
		fprintf(f, "[service]\nrestores_per_day = 1000\n[driver \"bundle\"]\nlevel = %s\nthreads = %s\n", levels[i],
		        i ? "no" : "yes");
		fclose(f);
		lv_context *c = t_context();
		CU_ASSERT_EQUAL_FATAL(lv_context_load_config(c, cfg), 0);
		CU_ASSERT_EQUAL(lv_context_check_config(c), 0);
		char name[64];
		snprintf(name, sizeof name, "lvl/l%s.lvb", levels[i]);
		CU_ASSERT_EQUAL(run(c, s, BU(name), 'b', 0, NULL, 0), 0);
		CU_ASSERT_EQUAL(run(c, s, BU(name), 'v', 0, NULL, 0), 0);
		snprintf(name, sizeof name, "lvl/l%s" G1 ".lvb", levels[i]);
		size[i] = t_file_size(P(name));
		lv_context_free(c);
	}
	/* level 0 stores, level 9 compresses (the test payloads are compressible) */
	CU_ASSERT(size[0] > 0 && size[1] > 0 && size[1] < size[0] / 2);
	/* out of range: a config error, at check and at backup */
	char cfg[700];
	snprintf(cfg, sizeof cfg, "%s/level12.conf", dir);
	FILE *f = fopen(cfg, "w");
	CU_ASSERT_PTR_NOT_NULL_FATAL(f);
	fprintf(f, "[driver \"bundle\"]\nlevel = 12\n");
	fclose(f);
	lv_context *c = t_context();
	CU_ASSERT_EQUAL(lv_context_load_config(c, cfg), 0);
	CU_ASSERT_EQUAL(lv_context_check_config(c), LV_E_CONFIG);
	CU_ASSERT_EQUAL(run(c, s, BU("lvl/l12.lvb"), 'b', 0, NULL, 0), LV_E_CONFIG);
	CU_ASSERT_EQUAL(t_file_size(P("lvl/l12" G1 ".lvb")), -1);
	lv_context_free(c);
	/* threads is a boolean like any other: "on" works (the bundle's own parser once refused it,
	 * after config check had accepted it); "maybe" is refused at check and at backup alike */
	const char *vals[2] = {"on", "maybe"};
	for (int i = 0; i < 2; i++) {
		snprintf(cfg, sizeof cfg, "%s/threads-%s.conf", dir, vals[i]);
		CU_ASSERT_PTR_NOT_NULL_FATAL(f = fopen(cfg, "w"));
		fprintf(f, "[driver \"bundle\"]\nthreads = %s\n", vals[i]);
		fclose(f);
		c = t_context();
		CU_ASSERT_EQUAL(lv_context_load_config(c, cfg), 0);
		CU_ASSERT_EQUAL(lv_context_check_config(c), i ? LV_E_CONFIG : 0);
		char msg[1024] = "";
		CU_ASSERT_EQUAL(run(c, s, BU(i ? "lvl/maybe.lvb" : "lvl/on.lvb"), 'b', 0, msg, sizeof msg), i ? LV_E_CONFIG : 0);
		if (i) /* the host's message: file, line, key, what was expected */
			CU_ASSERT_PTR_NOT_NULL(strstr(msg, "threads-maybe.conf:2: threads = 'maybe'"));
		lv_context_free(c);
	}
	lv_store_free(s);
}

/* ---- hostile bundles ------------------------------------------------------------------ */

static void test_truncated(void)
{
	CU_ASSERT_FATAL(set_ready());
	CU_ASSERT_EQUAL_FATAL(t_backup(ctx, src_store, BU("tr/full.lvb"), 0, NULL), 0);
	size_t n = 0;
	unsigned char *b = t_read_file(P("tr/full" G1 ".lvb"), &n);
	CU_ASSERT_PTR_NOT_NULL_FATAL(b);
	size_t cuts[] = {0, 5, 11, 40, n / 3, n / 2, n - 9, n - 4, n - 1};
	for (size_t i = 0; i < sizeof cuts / sizeof cuts[0]; i++) {
		char name[64];
		snprintf(name, sizeof name, "tr/cut%zu.lvb", i);
		CU_ASSERT_EQUAL(t_write_bytes(P(name), b, cuts[i]), 0);
		expect_corrupt(name, cuts[i] > 11 ? "byte" : NULL);
	}
	free(b);
}

static void test_flipped_bytes(void)
{
	CU_ASSERT_FATAL(set_ready());
	CU_ASSERT_EQUAL_FATAL(t_backup(ctx, src_store, BU("fl/b.lvb"), 0, NULL), 0);
	/* the generation file, copied to a name of its own: read as the URI's own file */
	CU_ASSERT_EQUAL_FATAL(t_copy_file(P("fl/b" G1 ".lvb"), P("fl/f.lvb")), 0);
	long n = t_file_size(P("fl/f.lvb"));
	CU_ASSERT_FATAL(n > 100);
	/*
	 * Every byte of the gzip header and trailer, and bytes all through the deflate data.
	 * Each flip is BACKUP_CORRUPT, unless the bundle still holds exactly the same bytes
	 * (deflate has such flips: a match's distance changed to another place holding the
	 * same bytes) -- then the backup is whole and verify says so.
	 */
	char *out = NULL;
	CU_ASSERT_EQUAL(t_sh(&out, "cp '%s' '%s'", P("fl/f.lvb"), P("fl/orig.gz")), 0);
	free(out);
	int tried = 0, caught = 0, same = 0;
	for (long off = 0; off < n; off += (off < 12 || off >= n - 12) ? 1 : 37) {
		t_flip_byte(P("fl/f.lvb"), off);
		int rc = run(ctx, dst_store, BU("fl/f.lvb"), 'v', 0, NULL, 0);
		int unchanged = same_content(P("fl/f.lvb"), P("fl/orig.gz"));
		t_flip_byte(P("fl/f.lvb"), off); /* back */
		tried++;
		if (rc == LV_E_BACKUP_CORRUPT)
			caught++;
		else if (rc == 0 && unchanged)
			same++;
		else
			fprintf(stderr, "\n  flipped byte %ld of %ld: %s\n", off, n, lv_error_name(rc));
	}
	CU_ASSERT(tried > 30);
	CU_ASSERT_EQUAL(caught + same, tried);
	CU_ASSERT(caught >= tried - 2);
	/* the padding bits of a stored block's header: no CRC covers them, the reader checks them */
	CU_ASSERT_FATAL(set_ready());
	cbuf b = {0};
	c_header(&b);
	c_object(&b, PACK1, pack, pack_len);
	c_object(&b, MAN1, man, man_len);
	c_end(&b, 2, pack_len + man_len);
	gz_level = 0; /* stored blocks: the first header is byte 12, bits 0-2; bits 3-7 pad */
	CU_ASSERT_EQUAL(gz_write(P("fl/stored.lvb"), b.p, b.n, 0, 1), 0);
	gz_level = 6;
	free(b.p);
	CU_ASSERT_EQUAL(t_verify(ctx, dst_store, BU("fl/stored.lvb"), NULL), 0);
	size_t sn = 0;
	unsigned char *sb = t_read_file(P("fl/stored.lvb"), &sn);
	CU_ASSERT_PTR_NOT_NULL_FATAL(sb);
	sb[12] ^= 0x80;
	CU_ASSERT_EQUAL(t_write_bytes(P("fl/stored.lvb"), sb, sn), 0);
	expect_corrupt("fl/stored.lvb", "padding bits of a stored block's header are not zero");
	free(sb);
	/* a restore of a flipped bundle changes nothing.  A flip in the pack's
	 * member may reach the core before the member's CRC-32 is checked: then
	 * the core's record check names it ("checksum mismatch in the record of
	 * K at offset N") */
	t_flip_byte(P("fl/f.lvb"), n / 2);
	expect_corrupt_either("fl/f.lvb", "byte", "at offset");
	t_flip_byte(P("fl/f.lvb"), n / 2);
	CU_ASSERT_EQUAL(t_verify(ctx, dst_store, BU("fl/f.lvb"), NULL), 0);
}

static void build(const char *file, cbuf *b, size_t zeros)
{
	CU_ASSERT_EQUAL(gz_write(P(file), b->p, b->n, zeros, 1), 0);
	free(b->p);
	memset(b, 0, sizeof *b);
}

static void test_bad_names(void)
{
	CU_ASSERT_FATAL(set_ready());
	const char *names[] = {"../x", "/etc/passwd", "licvault.lock", ".licvault-0000000000000001.pack", "a/b"};
	for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
		cbuf b = {0};
		c_header(&b);
		c_object(&b, names[i], pack, pack_len);
		c_object(&b, MAN1, man, man_len);
		c_end(&b, 2, pack_len + man_len);
		char file[64];
		snprintf(file, sizeof file, "name%zu.lvb", i);
		build(file, &b, 0);
		expect_corrupt(file, names[i]);
	}
	CU_ASSERT_EQUAL(t_file_size(path("%s/../%s", "x")), -1); /* nothing written outside */
	/* duplicates */
	cbuf b = {0};
	c_header(&b);
	c_object(&b, PACK1, pack, pack_len);
	c_object(&b, PACK1, pack, pack_len);
	c_object(&b, MAN1, man, man_len);
	c_end(&b, 3, 2 * pack_len + man_len);
	build("dup.lvb", &b, 0);
	expect_corrupt("dup.lvb", "appears twice");
	/* a wrong checksum in an object's end record names the object */
	c_header(&b);
	c_object(&b, PACK1, pack, pack_len);
	c_object(&b, MAN1, man, man_len);
	b.p[b.n - 1] ^= 1; /* the manifest's CRC-32 */
	c_end(&b, 2, pack_len + man_len);
	build("crc.lvb", &b, 0);
	expect_corrupt("crc.lvb", MAN1 ": checksum mismatch");
	/* a gzip stream without the header CRC licvault writes */
	c_header(&b);
	c_object(&b, PACK1, pack, pack_len);
	c_object(&b, MAN1, man, man_len);
	c_end(&b, 2, pack_len + man_len);
	CU_ASSERT_EQUAL(gz_write(P("nohcrc.lvb"), b.p, b.n, 0, 0), 0);
	free(b.p);
	expect_corrupt("nohcrc.lvb", "header CRC");
}

static void test_bombs(void)
{
	CU_ASSERT_FATAL(set_ready());
	const size_t big = 64u << 20; /* 64 MiB of zeros: about 64 KiB compressed */
	/* 1: a data record declares 100 bytes; 64 MiB follow */
	cbuf b = {0};
	c_header(&b);
	c_begin(&b, PACK1);
	cu8(&b, 'D');
	cu32(&b, 100);
	cput(&b, pack, 100);
	build("bomb1.lvb", &b, big);
	CU_ASSERT(t_file_size(P("bomb1.lvb")) < (long)(1u << 20));
	expect_corrupt("bomb1.lvb", "unexpected record 0x00 at container byte 154");
	/* 2: after the end record, the gzip stream goes on for 64 MiB */
	c_header(&b);
	c_object(&b, PACK1, pack, pack_len);
	c_object(&b, MAN1, man, man_len);
	c_end(&b, 2, pack_len + man_len);
	size_t end_at = b.n;
	build("bomb2.lvb", &b, big);
	char want[128];
	snprintf(want, sizeof want, "trailing data after the container's end record at byte %zu", end_at);
	expect_corrupt("bomb2.lvb", want);
	/* 3: the manifest grows far beyond what its end record declares (64 MiB of valid records) */
	c_header(&b);
	c_object(&b, PACK1, pack, pack_len);
	c_begin(&b, MAN1);
	unsigned char *zero = calloc(1, 1u << 20);
	uLong crc = crc32(0L, Z_NULL, 0);
	for (int i = 0; i < 64; i++) {
		cu8(&b, 'D');
		cu32(&b, 1u << 20);
		cput(&b, zero, 1u << 20);
		crc = crc32(crc, zero, 1u << 20);
	}
	free(zero);
	cu8(&b, 'E');
	cu64(&b, man_len);
	cu32(&b, (uint32_t)crc);
	c_end(&b, 2, pack_len + man_len);
	build("bomb3.lvb", &b, 0);
	/* refused at its first bytes (it was inflated whole before: 2 GiB took 25 s) */
	expect_corrupt("bomb3.lvb", MAN1 " is not a licvault manifest (bad magic)");
	/* 4: a manifest's real header, then 64 MiB: refused once it outgrows what its count of licenses allows */
	c_header(&b);
	c_object(&b, PACK1, pack, pack_len);
	c_begin(&b, MAN1);
	unsigned char *first = calloc(1, 1u << 20);
	CU_ASSERT_PTR_NOT_NULL_FATAL(first);
	memcpy(first, man, 64);
	for (int i = 0; i < 64; i++) {
		cu8(&b, 'D');
		cu32(&b, 1u << 20);
		cput(&b, first, 1u << 20);
		memset(first, 0, 64);
	}
	free(first);
	build("bomb4.lvb", &b, 0);
	expect_corrupt("bomb4.lvb", MAN1 " is longer than its header's count of licenses allows");
	/* 5: an object's end record that does not declare what it holds */
	c_header(&b);
	c_object(&b, PACK1, pack, pack_len);
	c_object(&b, MAN1, man, man_len);
	memcpy(&b.p[b.n - 12], &(uint64_t){0}, 8); /* its size: 0 (big-endian or not) */
	c_end(&b, 2, pack_len + man_len);
	build("bomb5.lvb", &b, 0);
	char holds[160];
	snprintf(holds, sizeof holds, MAN1 " holds %zu bytes, its end record", man_len);
	expect_corrupt("bomb5.lvb", holds);
	/* memory stays bounded: the CLI's peak RSS on bomb 1 and 3 */
	for (int i = 0; i < 2; i++) {
		char *out = NULL;
		int st = t_sh(&out, "/usr/bin/time -f 'maxrss %%M' '%s' -q --store '%s' verify '%s' 2>&1", T_CLI, P("dst.db"),
		              BU(i ? "bomb3.lvb" : "bomb1.lvb"));
		CU_ASSERT_NOT_EQUAL(st, 0);
		char *m = out ? strstr(out, "maxrss ") : NULL;
		long kb = m ? atol(m + 7) : -1;
		CU_ASSERT(kb > 0 && kb < 48 * 1024);
		free(out);
	}
}

static void test_trailing_garbage(void)
{
	CU_ASSERT_FATAL(set_ready());
	CU_ASSERT_EQUAL_FATAL(t_backup(ctx, src_store, BU("tg/g.lvb"), 0, NULL), 0);
	size_t n = 0;
	unsigned char *b = t_read_file(P("tg/g" G1 ".lvb"), &n);
	CU_ASSERT_PTR_NOT_NULL_FATAL(b);
	unsigned char *g = malloc(n + 64);
	memcpy(g, b, n);
	memcpy(g + n, "GARBAGE", 7);
	CU_ASSERT_EQUAL(t_write_bytes(P("tg/garbage.lvb"), g, n + 7), 0);
	char want[128];
	snprintf(want, sizeof want, "trailing data after the gzip stream at compressed byte %zu", n);
	expect_corrupt("tg/garbage.lvb", want);
	/* a second gzip member (gzip -t accepts it; a bundle is one member) */
	memcpy(g + n, b, 64 < n ? 64 : n);
	CU_ASSERT_EQUAL(t_write_bytes(P("tg/member.lvb"), g, n + (64 < n ? 64 : n)), 0);
	expect_corrupt("tg/member.lvb", "trailing data after the gzip stream");
	free(g);
	free(b);
}

/* ---- flat memory --------------------------------------------------------------------- */

static long cli_maxrss(const char *fmt, const char *store, const char *uri)
{
	char *out = NULL;
	char cmd[2048];
	snprintf(cmd, sizeof cmd, fmt, store, uri);
	int st = t_sh(&out, "/usr/bin/time -f 'maxrss %%M' '%s' -q --config '%s' %s 2>&1", T_CLI, cfg_path, cmd);
	char *m = out ? strstr(out, "maxrss ") : NULL;
	long kb = st == 0 && m ? atol(m + 7) : -1;
	if (kb < 0)
		fprintf(stderr, "\n  %s: %s\n", cmd, out ? out : "");
	free(out);
	return kb;
}

static void test_flat_memory(void)
{
	/* peak RSS of backup and restore for 2,000 and 10,000 licenses of 1-4 KB */
	T_SKIP_IF(T_ASAN, "AddressSanitizer's quarantine keeps freed memory resident");
	long rss[2][2];
	int counts[2] = {2000, 10000};
	for (int i = 0; i < 2; i++) {
		char store[64], uri[64], out_store[64];
		snprintf(store, sizeof store, "mem%d.db", counts[i]);
		snprintf(uri, sizeof uri, "mem/m%d.lvb", counts[i]);
		snprintf(out_store, sizeof out_store, "mem%d-r.db", counts[i]);
		char *o = NULL;
		CU_ASSERT_EQUAL_FATAL(t_sh(&o, "'%s' --store '%s' --count %d", T_GEN, P(store), counts[i]), 0);
		free(o);
		rss[i][0] = cli_maxrss("--store '%s' backup '%s'", P(store), BU(uri));
		rss[i][1] = cli_maxrss("--store '%s' restore --individualize '%s'", P(out_store), BU(uri));
		CU_ASSERT(rss[i][0] > 0 && rss[i][1] > 0);
	}
	/* five times the licenses (about 5 MB -> 26 MB of pack): at most 8 MB more */
	CU_ASSERT(rss[1][0] < rss[0][0] + 8 * 1024);
	CU_ASSERT(rss[1][1] < rss[0][1] + 8 * 1024);
	if (getenv("LV_TEST_VERBOSE"))
		fprintf(stderr, "\n  peak RSS KB: backup %ld -> %ld, restore %ld -> %ld\n", rss[0][0], rss[1][0], rss[0][1],
		        rss[1][1]);
}

/* ---- generations: a bundle file each ------------------------------------------------- */

/* A context with [licvault] keep = keep, the test drivers, no daily limit. */
static lv_context *ctx_keep(int keep, const char *more)
{
	char cfg[700];
	snprintf(cfg, sizeof cfg, "%s/keep%d-%s.conf", dir, keep, more ? "x" : "plain");
	FILE *f = fopen(cfg, "w");
	if (!f)
		return NULL;
	fprintf(f, "[licvault]\nkeep = %d\n[service]\nrestores_per_day = 100000\n%s", keep, more ? more : "");
	fclose(f);
	lv_context *c = t_context();
	if (c)
		lv_context_add_driver_dir(c, LV_TEST_BUILD_DIR "/testdrivers");
	if (c && lv_context_load_config(c, cfg)) {
		lv_context_free(c);
		return NULL;
	}
	return c;
}

/* dir/base.g<16 hex of g>.lvb */
static char *gen_path(const char *d, const char *base, uint64_t g)
{
	static char buf[4][800];
	static int k;
	k = (k + 1) % 4;
	snprintf(buf[k], sizeof buf[k], "%s/%s/%s.g%016llx.lvb", dir, d, base, (unsigned long long)g);
	return buf[k];
}

/* A new store restored from uri (generation gen, or the newest for NULL): its digest, 0 on failure. */
static unsigned long restored_digest(lv_context *c, const char *uri, const char *gen, const char *db, uint64_t *count)
{
	lv_store *d = NULL;
	unlink(P(db));
	if (lv_store_open(&d, c, P(db), LV_STORE_CREATE))
		return 0;
	lv_restorer *r = NULL;
	lv_restorer_new(&r, c, d);
	lv_restorer_set_string(r, LV_PROP_RESTORE_PATH, uri);
	if (gen)
		lv_restorer_set_string(r, LV_PROP_GENERATION, gen);
	int rc = t_run(r, 'r', LV_RESTORE_INDIVIDUALIZE, NULL);
	if (rc)
		fprintf(stderr, "\n  restore of %s (generation %s): %s: %s\n", uri, gen ? gen : "newest", lv_error_name(rc),
		        lv_restorer_last_error(r));
	lv_restorer_free(r);
	unsigned long dg = rc ? 0 : t_store_digest(d);
	if (count)
		*count = t_count(d);
	lv_store_free(d);
	return dg;
}

static void retention(int keep, int backups)
{
	lv_context *c = ctx_keep(keep, NULL);
	CU_ASSERT_PTR_NOT_NULL_FATAL(c);
	lv_store *s = NULL;
	char db[64], d[64], uri[64];
	snprintf(db, sizeof db, "ret%d.db", keep);
	snprintf(d, sizeof d, "ret%d", keep);
	snprintf(uri, sizeof uri, "ret%d/lic.lvb", keep);
	CU_ASSERT_EQUAL_FATAL(t_make_store(c, P(db), 10, &s), 0);
	for (int i = 0; i < backups; i++)
		CU_ASSERT_EQUAL(t_backup(c, s, BU(uri), i ? LV_BACKUP_OVERWRITE : 0, NULL), 0);
	/* exactly the newest `keep` generation files are left, nothing else */
	int expect = keep < backups ? keep : backups;
	char want[4096] = "";
	for (int g = backups - expect + 1; g <= backups; g++)
		snprintf(want + strlen(want), sizeof want - strlen(want), "lic.g%016x.lvb ", g);
	char *ls = dir_entries(P(d));
	CU_ASSERT_STRING_EQUAL(ls, want);
	free(ls);
	t_gens l = {0};
	CU_ASSERT_EQUAL(lv_generations_list(c, BU(uri), 0, t_collect_gen, &l), 0);
	CU_ASSERT_EQUAL(l.n, expect);
	CU_ASSERT_EQUAL(l.gen[0], backups - expect + 1);
	CU_ASSERT_EQUAL(l.gen[l.n - 1], backups);
	CU_ASSERT(l.whole[0] == LV_GEN_UNCHECKED && l.licenses[l.n - 1] > 0);
	lv_store_free(s);
	lv_context_free(c);
}

static void test_retention(void)
{
	retention(1, 3);
	retention(3, 5);
	retention(20, 22);
}

static void test_choose_generation(void)
{
	lv_context *c = ctx_keep(5, NULL);
	CU_ASSERT_PTR_NOT_NULL_FATAL(c);
	lv_store *s = NULL;
	CU_ASSERT_EQUAL_FATAL(t_make_store(c, P("ch.db"), 10, &s), 0);
	CU_ASSERT_EQUAL(t_backup(c, s, BU("ch/lic.lvb"), 0, NULL), 0);
	lv_license l;
	char kid[32];
	unsigned char pl[16];
	for (int i = 100; i < 104; i++) {
		t_license(&l, i, kid, sizeof kid, pl, sizeof pl);
		l.rights |= LV_RIGHT_BACKUP;
		CU_ASSERT_EQUAL(lv_store_add(s, &l, 0), 0);
	}
	CU_ASSERT_EQUAL(t_backup(c, s, BU("ch/lic.lvb"), LV_BACKUP_OVERWRITE, NULL), 0);
	/* restore generation 1 (the older file), then the newest */
	uint64_t n1 = 0, n2 = 0;
	CU_ASSERT(restored_digest(c, BU("ch/lic.lvb"), "1", "ch-1.db", &n1) != 0);
	CU_ASSERT(restored_digest(c, BU("ch/lic.lvb"), NULL, "ch-2.db", &n2) != 0);
	CU_ASSERT(n1 > 0 && n2 == n1 + 4);
	/* verify generation 1, all, and one that is not there */
	lv_restorer *r = NULL;
	CU_ASSERT_EQUAL_FATAL(lv_restorer_new(&r, c, s), 0);
	lv_restorer_set_string(r, LV_PROP_RESTORE_PATH, BU("ch/lic.lvb"));
	t_verify_generations(r, "1");
	lv_restorer_free(r);
	/* forget: a dry run removes nothing; --keep 1 removes generation 1's file, whole */
	t_gens f = {0};
	CU_ASSERT_EQUAL(lv_generations_forget(c, BU("ch/lic.lvb"), 1, 0, LV_FORGET_DRY_RUN, t_collect_gen, &f), 0);
	CU_ASSERT(f.n == 1 && f.gen[0] == 1);
	char *ls = dir_entries(P("ch"));
	CU_ASSERT_PTR_NOT_NULL(strstr(ls, "lic" G1 ".lvb lic" G2 ".lvb"));
	free(ls);
	CU_ASSERT_EQUAL(lv_generations_forget(c, BU("ch/lic.lvb"), 1, 0, 0, NULL, NULL), 0);
	ls = dir_entries(P("ch"));
	CU_ASSERT_PTR_NULL(strstr(ls, "lic" G1 ".lvb"));
	CU_ASSERT_PTR_NOT_NULL(strstr(ls, "lic" G2 ".lvb"));
	free(ls);
	lv_store_free(s);
	lv_context_free(c);
}

static void test_damaged_newest(void)
{
	lv_context *c = ctx_keep(5, NULL);
	CU_ASSERT_PTR_NOT_NULL_FATAL(c);
	lv_store *s = NULL, *d = NULL;
	CU_ASSERT_EQUAL_FATAL(t_make_store(c, P("dm.db"), 400, &s), 0);
	for (int i = 0; i < 3; i++)
		CU_ASSERT_EQUAL(t_backup(c, s, BU("dm/lic.lvb"), i ? LV_BACKUP_OVERWRITE : 0, NULL), 0);
	/* generation 3 (the newest) flipped in its pack, generation 2 cut short in its pack:
	 * generation 1 is the newest older one that verifies */
	t_flip_byte(gen_path("dm", "lic", 3), t_file_size(gen_path("dm", "lic", 3)) / 2);
	t_truncate(gen_path("dm", "lic", 2), t_file_size(gen_path("dm", "lic", 2)) / 2);
	CU_ASSERT_EQUAL_FATAL(t_make_store(c, P("dm-t.db"), 3, &d), 0);
	unsigned long before = t_store_digest(d);
	t_events ev;
	CU_ASSERT_EQUAL(t_restore(c, d, BU("dm/lic.lvb"), LV_RESTORE_INDIVIDUALIZE, &ev), LV_E_BACKUP_CORRUPT);
	CU_ASSERT_PTR_NOT_NULL(strstr(ev.end_message, "the newest older generation that verifies is 1"));
	CU_ASSERT_PTR_NOT_NULL(strstr(ev.end_message, "--generation 1"));
	CU_ASSERT_EQUAL(t_store_digest(d), before);
	/* the listing reads the manifests only (they are whole): three, unchecked; checked, two are damaged */
	t_gens l = {0}, v = {0};
	CU_ASSERT_EQUAL(lv_generations_list(c, BU("dm/lic.lvb"), 0, t_collect_gen, &l), 0);
	CU_ASSERT(l.n == 3 && l.whole[0] == LV_GEN_UNCHECKED && l.whole[1] == LV_GEN_UNCHECKED && l.whole[2] == LV_GEN_UNCHECKED);
	CU_ASSERT_EQUAL(lv_generations_list(c, BU("dm/lic.lvb"), LV_LIST_VERIFY, t_collect_gen, &v), 0);
	CU_ASSERT(v.n == 3 && v.whole[0] == LV_GEN_WHOLE && v.whole[1] == LV_GEN_DAMAGED && v.whole[2] == LV_GEN_DAMAGED);
	/* the cut file is named in the message that says so */
	lv_restorer *r = NULL;
	CU_ASSERT_EQUAL_FATAL(lv_restorer_new(&r, c, d), 0);
	lv_restorer_set_string(r, LV_PROP_RESTORE_PATH, BU("dm/lic.lvb"));
	lv_restorer_set_string(r, LV_PROP_GENERATION, "2");
	CU_ASSERT_EQUAL(t_run(r, 'v', 0, &ev), LV_E_BACKUP_CORRUPT);
	CU_ASSERT_PTR_NOT_NULL(strstr(ev.end_message, "lic" G2 ".lvb"));
	/* the one named restores */
	lv_restorer_set_string(r, LV_PROP_GENERATION, "1");
	CU_ASSERT_EQUAL(t_run(r, 'r', LV_RESTORE_INDIVIDUALIZE, &ev), 0);
	CU_ASSERT(t_count(d) > 300);
	lv_restorer_free(r);
	lv_store_free(d);
	lv_store_free(s);
	lv_context_free(c);
}

static void test_copied_away(void)
{
	lv_context *c = ctx_keep(3, NULL);
	CU_ASSERT_PTR_NOT_NULL_FATAL(c);
	lv_store *s = NULL;
	CU_ASSERT_EQUAL_FATAL(t_make_store(c, P("cp.db"), 30, &s), 0);
	for (int i = 0; i < 3; i++) {
		if (i == 2) { /* the newest generation holds more */
			lv_license l;
			char kid[32];
			unsigned char pl[16];
			t_license(&l, 500, kid, sizeof kid, pl, sizeof pl);
			l.rights |= LV_RIGHT_BACKUP;
			CU_ASSERT_EQUAL(lv_store_add(s, &l, 0), 0);
		}
		CU_ASSERT_EQUAL(t_backup(c, s, BU("cp/lic.lvb"), i ? LV_BACKUP_OVERWRITE : 0, NULL), 0);
	}
	unsigned long newest = restored_digest(c, BU("cp/lic.lvb"), NULL, "cp-0.db", NULL);
	CU_ASSERT(newest != 0 && newest != restored_digest(c, BU("cp/lic.lvb"), "2", "cp-2.db", NULL));
	/* the newest file (the highest number), copied anywhere under any name, restores the newest */
	CU_ASSERT_FATAL(mkdir(P("cp-away"), 0700) == 0 && mkdir(P("cp-away2"), 0700) == 0);
	CU_ASSERT_EQUAL(t_copy_file(gen_path("cp", "lic", 3), gen_path("cp-away", "lic", 3)), 0);
	CU_ASSERT_EQUAL(t_copy_file(gen_path("cp", "lic", 3), P("cp-away2/mine.lvb")), 0);
	CU_ASSERT_EQUAL(restored_digest(c, BU("cp-away/lic" G3 ".lvb"), NULL, "cp-a.db", NULL), newest);
	CU_ASSERT_EQUAL(restored_digest(c, BU("cp-away2/mine.lvb"), NULL, "cp-b.db", NULL), newest);
	t_gens l = {0};
	CU_ASSERT_EQUAL(lv_generations_list(c, BU("cp-away2/mine.lvb"), 0, t_collect_gen, &l), 0);
	CU_ASSERT(l.n == 1 && l.gen[0] == 3);
	/* a URI naming a generation file is read only: a backup there is refused, naming the bundle */
	t_events ev;
	CU_ASSERT_EQUAL(t_backup(c, s, BU("cp-away/lic" G3 ".lvb"), LV_BACKUP_OVERWRITE, &ev), LV_E_BAD_URI);
	CU_ASSERT_PTR_NOT_NULL(strstr(ev.end_message, "names a generation file of the bundle 'lic.lvb'"));
	/* beside a lic.lvb URI the copied file is its generation 3: the next backup there is 4 */
	CU_ASSERT_EQUAL(t_backup(c, s, BU("cp-away/lic.lvb"), LV_BACKUP_OVERWRITE, NULL), 0);
	CU_ASSERT(t_file_size(gen_path("cp-away", "lic", 4)) > 0);
	lv_store_free(s);
	lv_context_free(c);
}

static void test_previous_version(void)
{
	/* a bundle written by licvault before generation files (set format 1, one file) */
	CU_ASSERT_FATAL(mkdir(P("pv"), 0700) == 0);
	CU_ASSERT_EQUAL_FATAL(t_copy_file(LV_TEST_SOURCE_DIR "/tests/data/format1/lic.lvb", P("pv/lic.lvb")), 0);
	struct stat legacy;
	CU_ASSERT_EQUAL_FATAL(stat(P("pv/lic.lvb"), &legacy), 0);
	lv_context *c3 = ctx_keep(3, NULL), *c1 = ctx_keep(1, NULL);
	CU_ASSERT_FATAL(c3 && c1);
	uint64_t n = 0;
	CU_ASSERT(restored_digest(c3, BU("pv/lic.lvb"), NULL, "pv-1.db", &n) != 0);
	CU_ASSERT_EQUAL(n, 8);
	t_gens l = {0};
	CU_ASSERT_EQUAL(lv_generations_list(c3, BU("pv/lic.lvb"), LV_LIST_VERIFY, t_collect_gen, &l), 0);
	CU_ASSERT(l.n == 1 && l.gen[0] == 1 && l.format[0] == 1 && l.whole[0] == LV_GEN_WHOLE);
	/* a backup on top: refused without overwrite; with it, generation 2 in a file of its own,
	 * the old file untouched (keep 3) */
	lv_store *s = NULL;
	CU_ASSERT_EQUAL_FATAL(t_make_store(c3, P("pv.db"), 10, &s), 0);
	t_events ev;
	CU_ASSERT_EQUAL(t_backup(c3, s, BU("pv/lic.lvb"), 0, &ev), LV_E_BACKUP_EXISTS);
	CU_ASSERT_PTR_NOT_NULL(strstr(ev.end_message, "(generation 1)"));
	CU_ASSERT_EQUAL(t_backup(c3, s, BU("pv/lic.lvb"), LV_BACKUP_OVERWRITE, NULL), 0);
	struct stat after;
	CU_ASSERT_EQUAL(stat(P("pv/lic.lvb"), &after), 0);
	CU_ASSERT(after.st_ino == legacy.st_ino && after.st_size == legacy.st_size);
	t_gens m = {0};
	CU_ASSERT_EQUAL(lv_generations_list(c3, BU("pv/lic.lvb"), 0, t_collect_gen, &m), 0);
	CU_ASSERT(m.n == 2 && m.gen[0] == 1 && m.format[0] == 1 && m.gen[1] == 2 && m.format[1] == 2);
	CU_ASSERT(restored_digest(c3, BU("pv/lic.lvb"), "1", "pv-2.db", &n) != 0);
	CU_ASSERT_EQUAL(n, 8);
	/* keep 1: pruned like any generation, the old file with it */
	CU_ASSERT_EQUAL(t_backup(c1, s, BU("pv/lic.lvb"), LV_BACKUP_OVERWRITE, NULL), 0);
	char *ls = dir_entries(P("pv"));
	CU_ASSERT_PTR_NOT_NULL(strstr(ls, "lic" G3 ".lvb "));
	CU_ASSERT_PTR_NULL(strstr(ls, "lic.lvb "));
	CU_ASSERT_PTR_NULL(strstr(ls, "lic" G2 ".lvb"));
	free(ls);
	lv_store_free(s);
	lv_context_free(c1);
	lv_context_free(c3);
}

static void test_never_replaced(void)
{
	lv_context *c = ctx_keep(5, NULL);
	CU_ASSERT_PTR_NOT_NULL_FATAL(c);
	lv_store *s = NULL;
	CU_ASSERT_EQUAL_FATAL(t_make_store(c, P("nr.db"), 40, &s), 0);
	struct stat st[5];
	uLong crc[5];
	for (int i = 0; i < 5; i++) {
		CU_ASSERT_EQUAL(t_backup(c, s, BU("nr/lic.lvb"), i ? LV_BACKUP_OVERWRITE : 0, NULL), 0);
		CU_ASSERT_EQUAL(stat(gen_path("nr", "lic", (uint64_t)i + 1), &st[i]), 0);
		crc[i] = file_crc(gen_path("nr", "lic", (uint64_t)i + 1));
	}
	/* every file is the one its backup published: same inode, time and bytes */
	for (int i = 0; i < 5; i++) {
		struct stat now;
		CU_ASSERT_EQUAL(stat(gen_path("nr", "lic", (uint64_t)i + 1), &now), 0);
		CU_ASSERT(now.st_ino == st[i].st_ino && now.st_mtim.tv_sec == st[i].st_mtim.tv_sec &&
		          now.st_mtim.tv_nsec == st[i].st_mtim.tv_nsec);
		CU_ASSERT_EQUAL(file_crc(gen_path("nr", "lic", (uint64_t)i + 1)), crc[i]);
	}
	lv_store_free(s);
	lv_context_free(c);
}

/* Another backup publishes generation 2 while this one writes it: planted at the first restricted license. */
typedef struct plant {
	int done;
} plant;

static void plant_cb(int status, int result, const lv_value *v, void *ud)
{
	plant *p = ud;
	(void)result;
	(void)v;
	if (status == LV_STATUS_RESTRICTED_LICENSE && !p->done) {
		p->done = 1;
		t_copy_file(gen_path("rc", "lic", 1), gen_path("rc", "lic", 2));
	}
}

static void test_published_meanwhile(void)
{
	lv_store *s = NULL;
	CU_ASSERT_EQUAL_FATAL(t_make_store(ctx, P("rc.db"), 50, &s), 0);
	CU_ASSERT_EQUAL_FATAL(t_backup(ctx, s, BU("rc/lic.lvb"), 0, NULL), 0);
	uLong first = file_crc(gen_path("rc", "lic", 1));
	lv_restorer *r = NULL;
	CU_ASSERT_EQUAL_FATAL(lv_restorer_new(&r, ctx, s), 0);
	lv_restorer_set_string(r, LV_PROP_BACKUP_PATH, BU("rc/lic.lvb"));
	plant p = {0};
	CU_ASSERT_EQUAL(lv_restorer_backup(r, LV_BACKUP_OVERWRITE, plant_cb, &p), 0);
	int result = 0;
	lv_restorer_wait(r, &result);
	CU_ASSERT(p.done);
	CU_ASSERT_EQUAL(result, LV_E_EXISTS);
	const char *msg = lv_restorer_last_error(r);
	CU_ASSERT(msg && strstr(msg, "lic" G2 ".lvb appeared while this backup was written"));
	lv_restorer_free(r);
	/* nothing replaced, nothing left: the other backup's file and the first are as they were */
	CU_ASSERT_EQUAL(file_crc(gen_path("rc", "lic", 2)), first);
	CU_ASSERT_EQUAL(file_crc(gen_path("rc", "lic", 1)), first);
	char *ls = dir_entries(P("rc"));
	CU_ASSERT_STRING_EQUAL(ls, "lic" G1 ".lvb lic" G2 ".lvb ");
	free(ls);
	/* the next backup numbers above both */
	CU_ASSERT_EQUAL(t_backup(ctx, s, BU("rc/lic.lvb"), LV_BACKUP_OVERWRITE, NULL), 0);
	CU_ASSERT(t_file_size(gen_path("rc", "lic", 3)) > 0);
	lv_store_free(s);
}

/* A location that acknowledges writes it does not store (the liar drops what follows a .pack's first 16 bytes). */
static void test_lying_location(void)
{
	lv_context *liar = ctx_keep(3, "[driver \"liar\"]\nlie = drop_writes\n");
	CU_ASSERT_PTR_NOT_NULL_FATAL(liar);
	lv_store *s = NULL;
	CU_ASSERT_EQUAL_FATAL(t_make_store(ctx, P("lie.db"), 30, &s), 0);
	CU_ASSERT_EQUAL_FATAL(t_backup(ctx, s, BU("lie/x.pack"), 0, NULL), 0);
	char uri[800];
	snprintf(uri, sizeof uri, "bundle+liar+file://%s/lie/x.pack", dir);
	t_events ev;
	CU_ASSERT_EQUAL(t_backup(liar, s, uri, LV_BACKUP_OVERWRITE, &ev), LV_E_IO);
	CU_ASSERT_PTR_NOT_NULL(strstr(ev.end_message, "x.g0000000000000002.pack holds 16 bytes"));
	CU_ASSERT_PTR_NOT_NULL(strstr(ev.end_message, "did not store what it acknowledged"));
	/* the new file went again; generation 1 is whole */
	char *ls = dir_entries(P("lie"));
	CU_ASSERT_STRING_EQUAL(ls, "x.g0000000000000001.pack ");
	free(ls);
	CU_ASSERT_EQUAL(t_verify(ctx, s, BU("lie/x.pack"), &ev), 0);
	CU_ASSERT_PTR_NOT_NULL(strstr(ev.end_message, "generation 1"));
	lv_store_free(s);
	lv_context_free(liar);
}

/* ---- other locations --------------------------------------------------------------------- */

static void test_conformance(void)
{
	/* the conformance suite: its single objects, the lock and the registry pass through to the
	 * inner location beside the bundle files (as the file driver's); its backup generations
	 * become bundle files, one per generation, and its history check (three backups keeping
	 * two, each read back from a new instance) passes */
	lvc_options o = {4, getenv("LV_TEST_VERBOSE") != NULL, NULL};
	lvc_result res;
	CU_ASSERT_EQUAL(lvc_run(ctx, BU("conf/c.lvb"), &o, &res), 0);
	CU_ASSERT_EQUAL(res.ran, LVC__N);
	CU_ASSERT_EQUAL(res.failed_mask & (1u << LVC_HISTORY), 0);
	/* the suite removed what it wrote, generation files included, through the driver */
	char *ls = dir_entries(P("conf"));
	CU_ASSERT_STRING_EQUAL(ls, "");
	free(ls);
	/* again, and after bundle+ a plain path */
	CU_ASSERT_EQUAL(lvc_run(ctx, BU("conf/c.lvb"), &o, &res), 0);
	o.large_mib = 0;
	CU_ASSERT_EQUAL(lvc_run(ctx, path("bundle+%s/%s", "conf/plain.lvb"), &o, &res), 0);
	CU_ASSERT_EQUAL(res.failed, 0);
	/* the suite refuses a location holding a real backup: it must not destroy one */
	lv_store *s = NULL;
	CU_ASSERT_EQUAL_FATAL(t_make_store(ctx, P("conf.db"), 5, &s), 0);
	CU_ASSERT_EQUAL_FATAL(t_backup(ctx, s, BU("conf/real.lvb"), 0, NULL), 0);
	lv_store_free(s);
	FILE *quiet = fopen("/dev/null", "w");
	o.out = quiet; /* what it says is expected here */
	CU_ASSERT_NOT_EQUAL(lvc_run(ctx, BU("conf/real.lvb"), &o, &res), 0);
	if (quiet)
		fclose(quiet);
	CU_ASSERT(res.failed_mask & (1u << LVC_PREFLIGHT));
	CU_ASSERT(t_file_size(P("conf/real" G1 ".lvb")) > 0);
}

static void test_over_sftp(void)
{
#ifdef HAVE_SSHD
	t_sshd s;
	char why[512];
	if (t_sshd_start(&s, why, sizeof why)) {
		fprintf(stderr, "\n  bundle+sftp skipped: %s\n", why);
		CU_PASS("no test sshd here");
		return;
	}
	char cfg[700];
	snprintf(cfg, sizeof cfg, "%s/sftp.conf", dir);
	char extra[1200];
	snprintf(extra, sizeof extra, "identity_file = %s\n[service]\nrestores_per_day = 1000\n", s.client_key);
	CU_ASSERT_EQUAL_FATAL(t_sshd_write_config(&s, cfg, extra), 0);
	lv_context *c = t_context();
	CU_ASSERT_EQUAL_FATAL(lv_context_load_config(c, cfg), 0);
	lv_store *st = NULL, *r = NULL;
	CU_ASSERT_EQUAL_FATAL(t_make_store(c, P("sftp.db"), 300, &st), 0);
	char uri[900];
	snprintf(uri, sizeof uri, "bundle+sftp://127.0.0.1:%d%s/bsub/s.lvb", s.port, s.data);
	char msg[1024];
	CU_ASSERT_EQUAL(run(c, st, uri, 'b', 0, msg, sizeof msg), 0);
	char local[700], local2[700];
	snprintf(local, sizeof local, "%s/bsub/s" G1 ".lvb", s.data);
	snprintf(local2, sizeof local2, "%s/bsub/s" G2 ".lvb", s.data);
	char *out = NULL;
	CU_ASSERT_EQUAL(t_sh(&out, "gzip -t '%s'", local), 0);
	free(out);
	CU_ASSERT_EQUAL(run(c, st, uri, 'b', 0, NULL, 0), LV_E_BACKUP_EXISTS);
	/* a second generation: a second file, published without replacing anything (SFTP v3
	 * has no atomic replace) */
	uLong first = file_crc(local);
	CU_ASSERT_EQUAL(run(c, st, uri, 'b', LV_BACKUP_OVERWRITE, NULL, 0), 0);
	CU_ASSERT(t_file_size(local2) > 0);
	CU_ASSERT_EQUAL(file_crc(local), first);
	CU_ASSERT_EQUAL_FATAL(t_make_store(c, P("sftp-r.db"), 0, &r), 0);
	CU_ASSERT_EQUAL(run(c, r, uri, 'r', LV_RESTORE_INDIVIDUALIZE, msg, sizeof msg), 0);
	CU_ASSERT_EQUAL(t_count(r), 240);
	/* a flipped byte in the newest file over sftp: corrupt, naming the file and generation 1,
	 * which verifies; the store unchanged */
	unsigned long d = t_store_digest(r);
	t_flip_byte(local2, t_file_size(local2) / 2);
	CU_ASSERT_EQUAL(run(c, r, uri, 'r', LV_RESTORE_INDIVIDUALIZE, msg, sizeof msg), LV_E_BACKUP_CORRUPT);
	CU_ASSERT_PTR_NOT_NULL(strstr(msg, "corrupt"));
	CU_ASSERT_PTR_NOT_NULL(strstr(msg, "the newest older generation that verifies is 1"));
	CU_ASSERT_EQUAL(t_store_digest(r), d);
	lv_store_free(r);
	lv_store_free(st);
	lv_context_free(c);
	t_sshd_stop(&s);
#else
	fprintf(stderr, "\n  bundle+sftp skipped: tests/fixture_sshd.h is not in this tree\n");
	CU_PASS("no sshd fixture");
#endif
}

/* ---- the fuzz target's smoke round ---------------------------------------------------------- */

static void test_fuzz_smoke(void)
{
	T_SKIP_IF(T_SANITIZED, "the fuzz target is built with ASan and UBSan in every build");
	char bin[700];
	snprintf(bin, sizeof bin, "%s/fuzz/fuzz_bundle", LV_TEST_BUILD_DIR);
	char *out = NULL;
	if (access(bin, X_OK) != 0) {
		/* not built by CMake (no clang with libFuzzer at configure time): try here */
		snprintf(bin, sizeof bin, "%s/fuzz_bundle", dir);
		int st = t_sh(&out,
		              "clang -g -O1 -fsanitize=fuzzer,address,undefined -D_GNU_SOURCE -I'%s/include' -I'%s/drivers/bundle' "
		              "'%s/tests/fuzz/fuzz_bundle.c' '%s/drivers/bundle/container.c' -lz -lpthread -o '%s' 2>&1",
		              LV_TEST_SOURCE_DIR, LV_TEST_SOURCE_DIR, LV_TEST_SOURCE_DIR, LV_TEST_SOURCE_DIR, bin);
		free(out);
		out = NULL;
		if (st != 0) {
			fprintf(stderr, "\n  fuzz smoke skipped: clang cannot build libFuzzer targets here\n");
			CU_PASS("no libFuzzer");
			return;
		}
	}
	/* a copy of the seed corpus, so the round's finds stay out of the source tree */
	char corpus[700];
	snprintf(corpus, sizeof corpus, "%s/fuzz-corpus", dir);
	t_sh(&out, "mkdir -p '%s' && cp '%s'/tests/fuzz/corpus/* '%s'/", corpus, LV_TEST_SOURCE_DIR, corpus);
	free(out);
	out = NULL;
	int st = t_sh(&out, "'%s' -runs=20000 -max_total_time=10 -max_len=16384 -rss_limit_mb=512 -timeout=10 "
	                    "-artifact_prefix='%s/' '%s' 2>&1",
	              bin, dir, corpus);
	if (st != 0)
		fprintf(stderr, "\n%s\n", out ? out : "");
	CU_ASSERT_EQUAL(st, 0);
	CU_ASSERT(out && strstr(out, "Done") != NULL);
	free(out);
}

LV_SUITE(bundle, bundle, init, clean,
         {"round trip over file://", test_roundtrip_file},
         {"gzip -t and gzip -dc", test_gzip_compat},
         {"BACKUP_EXISTS and overwrite", test_exists_overwrite},
         {"an interrupted backup keeps the old bundle", test_interrupted_keeps_old},
         {"a canceled restore changes nothing", test_canceled_restore},
         {"no usable TMPDIR", test_no_tmpdir},
         {"URIs", test_bad_uris},
         {"level and threads keys", test_level_key},
         {"truncated bundles", test_truncated},
         {"flipped bytes", test_flipped_bytes},
         {"names not the set's own, checksums", test_bad_names},
         {"decompression bombs", test_bombs},
         {"trailing garbage", test_trailing_garbage},
         {"version 2 gzip members", test_members},
         {"flat memory", test_flat_memory},
         {"retention: keep 1, 3 and 20, a file each", test_retention},
         {"restore and verify a chosen generation, forget", test_choose_generation},
         {"a damaged newest generation file names the older one that verifies", test_damaged_newest},
         {"the newest file copied away restores", test_copied_away},
         {"a bundle of the previous version is read and pruned", test_previous_version},
         {"no file is ever replaced", test_never_replaced},
         {"a generation published by another backup meanwhile", test_published_meanwhile},
         {"a location that acknowledges writes it does not store", test_lying_location},
         {"the conformance suite", test_conformance},
         {"over sftp", test_over_sftp},
         {"fuzz smoke round", test_fuzz_smoke})
