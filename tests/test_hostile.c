/*
 * Hostile input (issue 8):
 *  - backup sets built byte by byte (docs/backup-format.md, core/format.c)
 *    whose every checksum is right but whose structure lies: record lengths,
 *    counts, key IDs with control characters or path separators, duplicate
 *    key IDs, entries pointing outside the pack, a pack of another
 *    generation...  Each is BACKUP_CORRUPT for restore and verify, and
 *    nothing is written to the store; unknown record tags are skipped;
 *  - malformed license files, reported with the file's name and line;
 *  - drivers that misbehave (tests/drivers/liar.c): garbage lengths and
 *    codes, invalid object names, host services called with bad arguments.
 *    Each case runs in a child process: the core must fail the run, not the
 *    process.
 */
#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <zlib.h>

#include "testutil.h"

#define pth(name) t_path(dir, (name))
#define make_target(p) t_make_target(ctx, (p), target_kids, 2)
static const char *const target_kids[] = {"own-1", "hkid-001"};
#define copy_file t_copy_file
#define empty_dir t_empty_dir

static char *dir;
static char drvdir[600];
static lv_context *ctx;
static unsigned long dig_t0;
static int verbose;

/* ---- a byte buffer ------------------------------------------------------ */

typedef struct bb {
	unsigned char *p;
	size_t n, cap;
} bb;

static void put(bb *b, const void *p, size_t n)
{
	if (b->n + n > b->cap) {
		b->cap = (b->n + n) * 2 + 64;
		b->p = realloc(b->p, b->cap);
	}
	memcpy(b->p + b->n, p, n);
	b->n += n;
}

static void put_u16(bb *b, uint16_t v)
{
	unsigned char x[2] = {(unsigned char)v, (unsigned char)(v >> 8)};
	put(b, x, 2);
}

static void put_u32(bb *b, uint32_t v)
{
	unsigned char x[4];
	for (int i = 0; i < 4; i++)
		x[i] = (unsigned char)(v >> (8 * i));
	put(b, x, 4);
}

static void put_u64(bb *b, uint64_t v)
{
	unsigned char x[8];
	for (int i = 0; i < 8; i++)
		x[i] = (unsigned char)(v >> (8 * i));
	put(b, x, 8);
}

static void field(bb *b, unsigned tag, const void *p, uint32_t n)
{
	unsigned char t = (unsigned char)tag;
	put(b, &t, 1);
	put_u32(b, n);
	put(b, p, n);
}

static void field_num(bb *b, unsigned tag, uint64_t v)
{
	unsigned char t = (unsigned char)tag;
	put(b, &t, 1);
	put_u32(b, 8);
	put_u64(b, v);
}

/* A well-formed record body for key ID kid. */
static void good_record(bb *b, const char *kid, int i)
{
	field(b, 1, kid, (uint32_t)strlen(kid));
	field(b, 2, "content", 7);
	char title[40];
	snprintf(title, sizeof title, "Hostile %d", i);
	field(b, 3, title, (uint32_t)strlen(title));
	field(b, 4, "Issuer", 6);
	field_num(b, 5, 1700000000u + (unsigned)i);
	field_num(b, 6, 0);
	field_num(b, 7, LV_RIGHT_PLAY | LV_RIGHT_BACKUP);
	field_num(b, 8, 5);
	field_num(b, 9, 5);
	unsigned char payload[64];
	for (size_t k = 0; k < sizeof payload; k++)
		payload[k] = (unsigned char)(i * 13 + k);
	field(b, 11, payload, sizeof payload);
}

/* ---- a set, with every lie the tests want -------------------------------- */

#define MAXREC 8
typedef struct spec {
	int n;                         /* records in the pack */
	bb rec[MAXREC];                /* record bodies */
	char mkid[MAXREC][300];        /* the manifest's key IDs ("" = the record's) */
	int mkidlen[MAXREC];           /* > 0: use that many bytes of mkid (control characters) */
	int64_t off_delta[MAXREC], len_delta[MAXREC];
	int pfx_delta[MAXREC];         /* the pack's u32 length prefix lies by this much */
	int bad_crc[MAXREC];
	uint64_t count;                /* 0: honest */
	int count_set;
	uint64_t pack_size;            /* 0: honest */
	uint32_t version;              /* 0: 1 */
	uint64_t gen, hdr_gen;         /* file generation; manifest's (0: the same) */
	char pack_name[300];           /* "" = licvault-<gen>.pack */
	char backup_id[300];           /* "" = honest */
	const char *pack_extra;        /* bytes after the pack */
	const char *man_extra;         /* bytes after the manifest */
	int n_entries;                 /* entries written (0: n) */
	const char *extra_pack_file;   /* also write this name with the pack's bytes */
} spec;

static void spec_init(spec *s, int n)
{
	memset(s, 0, sizeof *s);
	s->n = n;
	s->gen = 1;
	for (int i = 0; i < n; i++) {
		char kid[32];
		snprintf(kid, sizeof kid, "hkid-%03d", i);
		good_record(&s->rec[i], kid, i);
		snprintf(s->mkid[i], sizeof s->mkid[i], "%s", kid);
	}
}

static void spec_free(spec *s)
{
	for (int i = 0; i < MAXREC; i++)
		free(s->rec[i].p);
}

/* Write the set into directory d (emptied first). */
static void spec_write(spec *s, const char *d)
{
	empty_dir(d);
	bb pack = {0}, man = {0};
	put(&pack, "LVPACK\r\n", 8);
	put_u32(&pack, 1);
	put_u32(&pack, 0);
	uint64_t offs[MAXREC];
	for (int i = 0; i < s->n; i++) {
		offs[i] = pack.n;
		put_u32(&pack, (uint32_t)((uint64_t)s->rec[i].n + (uint64_t)(int64_t)s->pfx_delta[i]));
		put(&pack, s->rec[i].p, s->rec[i].n);
	}
	if (s->pack_extra)
		put(&pack, s->pack_extra, strlen(s->pack_extra));
	uint32_t pcrc = (uint32_t)crc32(0L, pack.p, (uInt)pack.n);
	char pname[300];
	if (s->pack_name[0])
		snprintf(pname, sizeof pname, "%s", s->pack_name);
	else
		snprintf(pname, sizeof pname, "licvault-%016llx.pack", (unsigned long long)(s->hdr_gen ? s->hdr_gen : s->gen));
	int entries = s->n_entries ? s->n_entries : s->n;
	put(&man, "LVMANIF\n", 8);
	put_u32(&man, s->version ? s->version : 1);
	put_u64(&man, s->hdr_gen ? s->hdr_gen : s->gen);
	put_u64(&man, 1700000000);
	put_u64(&man, s->count_set ? s->count : (uint64_t)entries);
	put_u64(&man, 0);
	put_u64(&man, s->pack_size ? s->pack_size : (uint64_t)(pack.n - (s->pack_extra ? strlen(s->pack_extra) : 0)));
	put_u64(&man, 0);
	put_u32(&man, pcrc);
	const char *bid = s->backup_id[0] ? s->backup_id : "0123456789abcdef0123456789abcdef";
	put_u16(&man, (uint16_t)strlen(bid));
	put(&man, bid, strlen(bid));
	put_u16(&man, 32);
	put(&man, "fedcba9876543210fedcba9876543210", 32);
	put_u16(&man, (uint16_t)strlen(pname));
	put(&man, pname, strlen(pname));
	for (int i = 0; i < entries && i < s->n; i++) {
		size_t kl = s->mkidlen[i] > 0 ? (size_t)s->mkidlen[i] : strlen(s->mkid[i]);
		put_u16(&man, (uint16_t)kl);
		put(&man, s->mkid[i], kl);
		put_u64(&man, (uint64_t)offs[i] + (uint64_t)s->off_delta[i]); /* wraps on purpose */
		put_u32(&man, (uint32_t)((uint64_t)s->rec[i].n + (uint64_t)s->len_delta[i]));
		uint32_t c = (uint32_t)crc32(0L, s->rec[i].p, (uInt)s->rec[i].n);
		put_u32(&man, s->bad_crc[i] ? c ^ 1 : c);
	}
	put_u32(&man, (uint32_t)crc32(0L, man.p, (uInt)man.n));
	put(&man, "LVMEND\r\n", 8);
	if (s->man_extra)
		put(&man, s->man_extra, strlen(s->man_extra));
	char p[1200];
	snprintf(p, sizeof p, "%s/licvault-%016llx.pack", d, (unsigned long long)s->gen);
	t_write_bytes(p, pack.p, pack.n);
	if (s->extra_pack_file) {
		snprintf(p, sizeof p, "%s/%s", d, s->extra_pack_file);
		t_write_bytes(p, pack.p, pack.n);
	}
	snprintf(p, sizeof p, "%s/licvault-%016llx.manifest", d, (unsigned long long)s->gen);
	t_write_bytes(p, man.p, man.n);
	free(pack.p);
	free(man.p);
}

/* ---- suite --------------------------------------------------------------- */

static int init(void)
{
	verbose = getenv("LV_TEST_VERBOSE") != NULL;
	dir = t_tmpdir();
	if (!dir)
		return 1;
	if (t_driver_dir(dir, "liar", drvdir, sizeof drvdir))
		return 1;
	ctx = t_context();
	if (!ctx || make_target(pth("t0.db")))
		return 1;
	dig_t0 = t_path_digest(ctx, pth("t0.db"));   /* a target holds licenses: 0 when it cannot be opened */
	if (!dig_t0)
		return 1;
	return 0;
}

static int clean(void)
{
	lv_context_free(ctx);
	free(dir);
	return 0;
}

/* Restore and verify the crafted set at pth("set"); both must give `want`; store unchanged on error. */
static void expect_set(spec *s, int want, const char *what)
{
	spec_write(s, pth("set"));
	copy_file(pth("t0.db"), pth("t.db"));
	lv_store *st = NULL;
	CU_ASSERT_EQUAL_FATAL(lv_store_open(&st, ctx, pth("t.db"), 0), 0);
	lv_restorer *r = NULL;
	CU_ASSERT_EQUAL_FATAL(lv_restorer_new(&r, ctx, st), 0);
	char uri[800];
	snprintf(uri, sizeof uri, "file://%s", pth("set"));
	lv_restorer_set_string(r, LV_PROP_RESTORE_PATH, uri);
	int rc = t_run(r, 'r', 0, NULL);
	const char *msg = lv_restorer_last_error(r);
	if (verbose || rc != want)
		fprintf(stderr, "\n  [%s] restore: %s: %s", what, lv_error_name(rc), msg);
	CU_ASSERT_EQUAL(rc, want);
	if (rc) {
		CU_ASSERT(strstr(msg, "corrupt") != NULL || strstr(msg, "missing") != NULL);
		CU_ASSERT_EQUAL(t_store_digest(st), dig_t0);
	}
	int vrc = t_run(r, 'v', 0, NULL);
	if (vrc != want)
		fprintf(stderr, "\n  [%s] verify: %s: %s", what, lv_error_name(vrc), lv_restorer_last_error(r));
	CU_ASSERT_EQUAL(vrc, want);
	lv_restorer_free(r);
	lv_store_free(st);
}

#define CORRUPT(s, what) expect_set(s, LV_E_BACKUP_CORRUPT, what)

static void test_honest_set_restores(void)
{
	spec s;
	spec_init(&s, 3);
	expect_set(&s, 0, "an honest crafted set");
	lv_store *st = NULL;
	CU_ASSERT_EQUAL_FATAL(lv_store_open(&st, ctx, pth("t.db"), 0), 0);
	lv_license *l = NULL;
	CU_ASSERT_EQUAL(lv_store_get(st, "hkid-002", &l), 0);
	if (l)
		CU_ASSERT_STRING_EQUAL(l->title, "Hostile 2");
	lv_license_free(l);
	lv_store_free(st);
	spec_free(&s);
}

static void test_lying_lengths(void)
{
	spec s;
	spec_init(&s, 3);
	s.pfx_delta[1] = 5;               /* the pack's length prefix says more */
	CORRUPT(&s, "record length prefix longer than the record");
	spec_free(&s);
	spec_init(&s, 3);
	s.pfx_delta[1] = -5;
	CORRUPT(&s, "record length prefix shorter");
	spec_free(&s);
	spec_init(&s, 3);
	s.len_delta[2] = 1;               /* the manifest's length lies */
	CORRUPT(&s, "manifest length of the last record too long");
	spec_free(&s);
	spec_init(&s, 3);
	s.pfx_delta[0] = (int)0x7ffffff0; /* a huge prefix */
	CORRUPT(&s, "huge record length prefix");
	spec_free(&s);
	spec_init(&s, 3);
	s.len_delta[0] = 0xfffff000;      /* a huge manifest length */
	CORRUPT(&s, "huge manifest length");
	spec_free(&s);
	/* a field inside a record runs past it (checksums right) */
	spec_init(&s, 2);
	s.rec[1].n = 0;
	field(&s.rec[1], 1, "hkid-001", 8);
	unsigned char t = 3;
	put(&s.rec[1], &t, 1);
	put_u32(&s.rec[1], 0xffffff00u);
	put(&s.rec[1], "short", 5);
	CORRUPT(&s, "record field length runs past the record");
	spec_free(&s);
	/* a field header cut short */
	spec_init(&s, 2);
	put(&s.rec[1], "\x03\x01", 2);
	CORRUPT(&s, "record field header truncated");
	spec_free(&s);
}

static void test_huge_counts(void)
{
	spec s;
	spec_init(&s, 2);
	s.count = 1ull << 40;
	s.count_set = 1;
	CORRUPT(&s, "count 2^40");
	spec_free(&s);
	spec_init(&s, 2);
	s.count = UINT64_MAX;
	s.count_set = 1;
	CORRUPT(&s, "count UINT64_MAX");
	spec_free(&s);
	spec_init(&s, 2);
	s.count = 3;
	s.count_set = 1;
	CORRUPT(&s, "count one more than the entries");
	spec_free(&s);
	spec_init(&s, 2);
	s.count = 1;
	s.count_set = 1;
	CORRUPT(&s, "count one less than the entries");
	spec_free(&s);
	spec_init(&s, 2);
	s.count = 0;
	s.count_set = 1;
	CORRUPT(&s, "count 0 with entries");
	spec_free(&s);
	spec_init(&s, 2);
	s.pack_size = 1ull << 62;
	CORRUPT(&s, "pack size 2^62");
	spec_free(&s);
	spec_init(&s, 2);
	s.pack_size = 3;
	CORRUPT(&s, "pack size smaller than a header");
	spec_free(&s);
}

static void test_hostile_key_ids(void)
{
	const char *bad[] = {"../../../etc/passwd", "a/b", "a\\b", "ctl\x01x", "tab\tx", "sp ace", "del\x7f",
	                     "nl\nx", "\xc3\xa9t\xc3\xa9"};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		/* in the manifest (the record honest) */
		spec s;
		spec_init(&s, 2);
		snprintf(s.mkid[1], sizeof s.mkid[1], "%s", bad[i]);
		char what[100];
		snprintf(what, sizeof what, "manifest key ID #%zu", i);
		CORRUPT(&s, what);
		spec_free(&s);
		/* in both the manifest and the record */
		spec_init(&s, 2);
		s.rec[1].n = 0;
		good_record(&s.rec[1], bad[i], 1);
		snprintf(s.mkid[1], sizeof s.mkid[1], "%s", bad[i]);
		snprintf(what, sizeof what, "record and manifest key ID #%zu", i);
		CORRUPT(&s, what);
		spec_free(&s);
	}
	/* a NUL inside the manifest's key ID */
	spec s;
	spec_init(&s, 2);
	memcpy(s.mkid[1], "hkid\0-01", 8);
	s.mkidlen[1] = 8;
	CORRUPT(&s, "NUL in a manifest key ID");
	spec_free(&s);
	/* too long (129 bytes) and empty */
	spec_init(&s, 2);
	memset(s.mkid[1], 'k', 129);
	s.mkid[1][129] = '\0';
	CORRUPT(&s, "129-byte key ID");
	spec_free(&s);
	spec_init(&s, 2);
	s.mkid[1][0] = '\0';
	s.mkidlen[1] = 0;
	s.rec[1].n = 0;
	good_record(&s.rec[1], "", 1);
	CORRUPT(&s, "empty key ID");
	spec_free(&s);
	/* the record's key ID differs from the manifest's */
	spec_init(&s, 2);
	snprintf(s.mkid[1], sizeof s.mkid[1], "hkid-009");
	CORRUPT(&s, "record and manifest disagree on the key ID");
	spec_free(&s);
}

static void test_duplicate_key_ids(void)
{
	spec s;
	spec_init(&s, 3);
	snprintf(s.mkid[2], sizeof s.mkid[2], "hkid-001");
	s.rec[2].n = 0;
	good_record(&s.rec[2], "hkid-001", 2);
	CORRUPT(&s, "duplicate key ID in manifest and pack");
	spec_free(&s);
	/* out of order */
	spec_init(&s, 3);
	snprintf(s.mkid[0], sizeof s.mkid[0], "hkid-005");
	s.rec[0].n = 0;
	good_record(&s.rec[0], "hkid-005", 0);
	CORRUPT(&s, "key IDs out of order");
	spec_free(&s);
}

static void test_outside_the_pack(void)
{
	spec s;
	spec_init(&s, 3);
	s.off_delta[2] = 100000;
	CORRUPT(&s, "offset past the pack");
	spec_free(&s);
	spec_init(&s, 3);
	s.off_delta[0] = -16;            /* into the pack header */
	CORRUPT(&s, "offset into the header");
	spec_free(&s);
	spec_init(&s, 3);
	s.off_delta[1] = INT64_MAX;      /* wraps */
	CORRUPT(&s, "offset that overflows");
	spec_free(&s);
	spec_init(&s, 3);
	s.off_delta[1] = 4;              /* overlapping records */
	CORRUPT(&s, "overlapping entries");
	spec_free(&s);
	spec_init(&s, 3);
	s.bad_crc[1] = 1;
	CORRUPT(&s, "record checksum mismatch");
	spec_free(&s);
	spec_init(&s, 2);
	s.pack_extra = "trailing";
	CORRUPT(&s, "data after the last record");
	spec_free(&s);
	spec_init(&s, 2);
	s.man_extra = "x";
	CORRUPT(&s, "data after the manifest");
	spec_free(&s);
}

static void test_pack_of_another_generation(void)
{
	spec s;
	spec_init(&s, 2);
	/* the named pack exists and is whole: only the generation check can refuse it */
	snprintf(s.pack_name, sizeof s.pack_name, "licvault-0000000000000009.pack");
	s.extra_pack_file = "licvault-0000000000000009.pack";
	CORRUPT(&s, "pack name of another generation");
	spec_free(&s);
	spec_init(&s, 2);
	snprintf(s.pack_name, sizeof s.pack_name, "../licvault-0000000000000001.pack");
	CORRUPT(&s, "pack name with a path");
	spec_free(&s);
	spec_init(&s, 2);
	snprintf(s.pack_name, sizeof s.pack_name, "licvault.lock");
	CORRUPT(&s, "pack name of the lock");
	spec_free(&s);
	spec_init(&s, 2);
	s.hdr_gen = 7;                   /* the manifest says gen 7, its name gen 1 */
	s.extra_pack_file = "licvault-0000000000000007.pack";
	CORRUPT(&s, "manifest generation not its name's");
	spec_free(&s);
	spec_init(&s, 2);
	s.version = 2;
	CORRUPT(&s, "format version 2");
	spec_free(&s);
	spec_init(&s, 2);
	memset(s.backup_id, 'a', 200);
	CORRUPT(&s, "backup id too long");
	spec_free(&s);
	spec_init(&s, 2);
	snprintf(s.backup_id, sizeof s.backup_id, "bad id");
	CORRUPT(&s, "backup id with a space");
	spec_free(&s);
}

static void test_bad_records(void)
{
	spec s;
	/* no key ID */
	spec_init(&s, 2);
	s.rec[1].n = 0;
	field(&s.rec[1], 3, "title only", 10);
	CORRUPT(&s, "record without key ID");
	spec_free(&s);
	/* a field given twice */
	spec_init(&s, 2);
	field(&s.rec[1], 3, "again", 5);
	CORRUPT(&s, "record field repeated");
	spec_free(&s);
	/* a number field of 4 bytes */
	spec_init(&s, 2);
	s.rec[1].n = 0;
	field(&s.rec[1], 1, "hkid-001", 8);
	field(&s.rec[1], 5, "\1\2\3\4", 4);
	CORRUPT(&s, "number field of the wrong size");
	spec_free(&s);
	/* a NUL and a control character in a title */
	spec_init(&s, 2);
	s.rec[1].n = 0;
	field(&s.rec[1], 1, "hkid-001", 8);
	field(&s.rec[1], 3, "ti\0tle", 6);
	CORRUPT(&s, "NUL in a title");
	spec_free(&s);
	spec_init(&s, 2);
	s.rec[1].n = 0;
	field(&s.rec[1], 1, "hkid-001", 8);
	field(&s.rec[1], 3, "ti\033[2Jtle", 10);
	CORRUPT(&s, "escape sequence in a title");
	spec_free(&s);
	/* an empty pack record */
	spec_init(&s, 2);
	s.rec[1].n = 0;
	CORRUPT(&s, "empty record");
	spec_free(&s);
}

static void test_unknown_tags_skipped(void)
{
	spec s;
	spec_init(&s, 3);
	/* tags a later minor version may add: skipped, the license restored */
	field(&s.rec[1], 42, "from the future", 15);
	field(&s.rec[1], 0, "", 0);
	field(&s.rec[1], 255, "\0\0\0\0\0\0\0\0\0", 9);
	expect_set(&s, 0, "unknown record tags");
	lv_store *st = NULL;
	CU_ASSERT_EQUAL_FATAL(lv_store_open(&st, ctx, pth("t.db"), 0), 0);
	lv_license *l = NULL;
	CU_ASSERT_EQUAL(lv_store_get(st, "hkid-001", &l), 0);
	if (l) {
		CU_ASSERT_STRING_EQUAL(l->title, "Hostile 1");
		CU_ASSERT_EQUAL(l->payload_len, 64);
	}
	lv_license_free(l);
	lv_store_free(st);
	spec_free(&s);
}

static void test_garbage_objects(void)
{
	/* an empty manifest, a manifest of random bytes, a pack of zeros */
	spec s;
	spec_init(&s, 2);
	spec_write(&s, pth("set"));
	t_write_bytes(pth("set/licvault-0000000000000001.manifest"), "", 0);
	copy_file(pth("t0.db"), pth("t.db"));
	lv_store *st = NULL;
	CU_ASSERT_EQUAL_FATAL(lv_store_open(&st, ctx, pth("t.db"), 0), 0);
	char uri[800];
	snprintf(uri, sizeof uri, "file://%s", pth("set"));
	CU_ASSERT_EQUAL(t_restore(ctx, st, uri, 0, NULL), LV_E_BACKUP_CORRUPT);
	unsigned char junk[4096];
	unsigned v = 12345;
	for (size_t i = 0; i < sizeof junk; i++)
		junk[i] = (unsigned char)((v = v * 1103515245u + 12345u) >> 16);
	t_write_bytes(pth("set/licvault-0000000000000001.manifest"), junk, sizeof junk);
	CU_ASSERT_EQUAL(t_restore(ctx, st, uri, 0, NULL), LV_E_BACKUP_CORRUPT);
	memcpy(junk, "LVMANIF\n\1\0\0\0", 12);
	t_write_bytes(pth("set/licvault-0000000000000001.manifest"), junk, sizeof junk);
	CU_ASSERT_EQUAL(t_restore(ctx, st, uri, 0, NULL), LV_E_BACKUP_CORRUPT);
	spec_write(&s, pth("set"));
	memset(junk, 0, sizeof junk);
	t_write_bytes(pth("set/licvault-0000000000000001.pack"), junk, sizeof junk);
	CU_ASSERT_EQUAL(t_restore(ctx, st, uri, 0, NULL), LV_E_BACKUP_CORRUPT);
	CU_ASSERT_EQUAL(t_store_digest(st), dig_t0);
	lv_store_free(st);
	spec_free(&s);
}

/* ---- license files ------------------------------------------------------- */

static const char *lic_head = "licvault-license: 1\nkid: lic-1\nissued: 2024-01-02T03:04:05Z\n";

/* Parse `text` (n bytes) as a license file; expect failure naming the file and `line` (the offending one). */
static void bad_license(const char *name, const void *text, size_t n, int line)
{
	char *p = pth(name);
	t_write_bytes(p, text, n);
	lv_license *l = NULL;
	char err[1200] = "";
	int rc = lv_license_parse_file(&l, p, err, sizeof err);
	if (verbose)
		fprintf(stderr, "\n  [%s] %s: %s", name, lv_error_name(rc), err);
	CU_ASSERT_EQUAL(rc, LV_E_CORRUPT);
	CU_ASSERT_PTR_NULL(l);
	lv_license_free(l);
	char want[800];
	snprintf(want, sizeof want, "%s:%d: ", p, line);
	if (!strstr(err, want))
		fprintf(stderr, "\n  [%s] expected '%s' in '%s'\n", name, want, err);
	CU_ASSERT(strstr(err, want) != NULL);
}

static void test_malformed_license_files(void)
{
	char buf[600];
	/* binary: NUL bytes */
	bad_license("nul.lic", "licvault-license: 1\nkid: a\0b\n", 27, 2);
	unsigned char bin[512];
	for (size_t i = 0; i < sizeof bin; i++)
		bin[i] = (unsigned char)(i * 7);
	bad_license("binary.lic", bin, sizeof bin, 1);
	/* missing fields */
	bad_license("nokid.lic", "licvault-license: 1\nissued: 2024-01-01\n", 38, 2);
	bad_license("noissued.lic", "licvault-license: 1\nkid: x\n", 27, 2);
	bad_license("empty.lic", "", 0, 0);
	bad_license("noheader.lic", "kid: x\n", 7, 1);
	bad_license("version9.lic", "licvault-license: 9\n", 20, 1);
	/* bad values, each on line 4 */
	const char *bad_lines[] = {"rights: play fly", "play-count: -1", "play-count: 99999999999",
	                           "play-count: 12abc", "payload: ***", "payload: QUJD=", "expires: tomorrow",
	                           "colour: blue", "no colon here", "kid: twice", "title: \x01"};
	for (size_t i = 0; i < sizeof bad_lines / sizeof bad_lines[0]; i++) {
		int n = snprintf(buf, sizeof buf, "%s%s\n", lic_head, bad_lines[i]);
		char name[40];
		snprintf(name, sizeof name, "badvalue-%zu.lic", i);
		bad_license(name, buf, (size_t)n, 4);
	}
	/* key IDs that break the rules: reported at the key ID's line */
	const char *bad_kids[] = {"a/b", "../x", "sp ace", "k\x02"};
	for (size_t i = 0; i < sizeof bad_kids / sizeof bad_kids[0]; i++) {
		int n = snprintf(buf, sizeof buf, "licvault-license: 1\nkid: %s\nissued: 2024-01-01\n", bad_kids[i]);
		char name[40];
		snprintf(name, sizeof name, "badkid-%zu.lic", i);
		bad_license(name, buf, (size_t)n, 2);
	}
	/* a huge line (over the longest payload line): refused without reading it into the store */
	size_t huge = (size_t)LV_PAYLOAD_MAX / 3 * 4 + 4096;
	char *big = malloc(huge + 200);
	CU_ASSERT_PTR_NOT_NULL_FATAL(big);
	size_t hl = strlen(lic_head);
	memcpy(big, lic_head, hl);
	memcpy(big + hl, "payload: ", 9);
	memset(big + hl + 9, 'A', huge);
	big[hl + 9 + huge] = '\n';
	bad_license("hugeline.lic", big, hl + 10 + huge, 4);
	free(big);
	unlink(pth("hugeline.lic"));
}

static void test_import_all_or_none(void)
{
	char good1[700], good2[700], bad[700];
	snprintf(good1, sizeof good1, "%s", pth("good1.lic"));
	snprintf(good2, sizeof good2, "%s", pth("good2.lic"));
	snprintf(bad, sizeof bad, "%s", pth("bad.lic"));
	t_write_bytes(good1, "licvault-license: 1\nkid: imp-1\nissued: 2024-01-01\n", 50);
	t_write_bytes(good2, "licvault-license: 1\nkid: imp-2\nissued: 2024-01-01\n", 50);
	t_write_bytes(bad, "licvault-license: 1\nkid: imp-3\nissued: 2024-13-45\n", 50);
	copy_file(pth("t0.db"), pth("t.db"));
	lv_store *st = NULL;
	CU_ASSERT_EQUAL_FATAL(lv_store_open(&st, ctx, pth("t.db"), 0), 0);
	const char *files[] = {good1, bad, good2};
	CU_ASSERT_EQUAL(lv_store_import_files(st, files, 3, 0), LV_E_CORRUPT);
	const char *msg = lv_store_last_error(st);
	char want[800];
	snprintf(want, sizeof want, "%s:3:", bad);
	CU_ASSERT(strstr(msg, want) != NULL);
	CU_ASSERT_EQUAL(t_store_digest(st), dig_t0);
	lv_store_free(st);
}

/* ---- misbehaving drivers --------------------------------------------------- */

typedef struct liar_result {
	int signaled;      /* the process died of a signal */
	int sig;
	int rc;            /* the run's result */
	char msg[1100];
} liar_result;

static int count_gen(const lv_generation_info *g, void *ud)
{
	(void)g;
	++*(int *)ud;
	return 0;
}

/* Run a backup ('b'), restore ('r') or listing ('l') through liar+file:// with `lie`, in a child process. */
static void liar_run(const char *lie, int kind, liar_result *res)
{
	memset(res, 0, sizeof *res);
	char conf[700];
	snprintf(conf, sizeof conf, "%s/liar.conf", dir);
	FILE *f = fopen(conf, "w");
	if (!f)
		return;
	fprintf(f, "[service]\nrestores_per_day = 1000000\n[driver \"liar\"]\nlie = %s\n", lie);
	fclose(f);
	char out[700];
	snprintf(out, sizeof out, "%s/liar.out", dir);
	unlink(out);
	fflush(NULL);
	pid_t pid = fork();
	if (pid == 0) {
		lv_context *c = NULL;
		lv_context_new(&c);
		lv_context_add_driver_dir(c, drvdir);
		lv_context_add_driver_dir(c, LV_TEST_DRIVER_DIR);
		if (lv_context_load_config(c, conf))
			_exit(100);
		lv_store *s = NULL;
		copy_file(pth("t0.db"), pth("lt.db"));
		if (lv_store_open(&s, c, kind == 'b' ? pth("src.db") : pth("lt.db"), 0))
			_exit(101);
		lv_restorer *r = NULL;
		lv_restorer_new(&r, c, s);
		char uri[800];
		snprintf(uri, sizeof uri, "liar+file://%s", kind == 'b' ? pth("liar-bk") : pth("liar-good"));
		lv_restorer_set_string(r, kind == 'b' ? LV_PROP_BACKUP_PATH : LV_PROP_RESTORE_PATH, uri);
		int n = 0;
		int rc = kind == 'l' ? lv_generations_list(c, uri, 0, count_gen, &n)
		                     : t_run(r, kind, kind == 'b' ? LV_BACKUP_OVERWRITE : 0, NULL);
		FILE *o = fopen(out, "w");
		if (o) {
			fprintf(o, "%d\n%s\n", rc, kind == 'l' ? lv_context_last_error(c) : lv_restorer_last_error(r));
			fclose(o);
		}
		lv_restorer_free(r);
		lv_store_free(s);
		lv_context_free(c);
		_exit(0);
	}
	int st = 0;
	waitpid(pid, &st, 0);
	if (WIFSIGNALED(st) || (WIFEXITED(st) && WEXITSTATUS(st) != 0)) {
		/* killed, or a sanitizer's report (it exits non-zero) */
		res->signaled = 1;
		res->sig = WIFSIGNALED(st) ? WTERMSIG(st) : 0;
		return;
	}
	f = fopen(out, "r");
	if (f) {
		if (fscanf(f, "%d\n", &res->rc) != 1)
			res->rc = 1;
		if (!fgets(res->msg, sizeof res->msg, f))
			res->msg[0] = '\0';
		fclose(f);
	}
}

static void liar_case(const char *lie, int kind, int want, int may_succeed, const char *bug)
{
	liar_result res;
	liar_run(lie, kind, &res);
	if (verbose || res.signaled)
		fprintf(stderr, "\n  [liar %s %c] %s%s: %s", lie, kind,
		        res.signaled ? "PROCESS DIED " : lv_error_name(res.rc),
		        res.signaled && res.sig ? strsignal(res.sig) : "", res.msg);
	if (bug && res.signaled) {
		/* LV_BUG: see the caller's note */
		fprintf(stderr, "\n  LV_BUG [liar %s]: %s\n", lie, bug);
		return;
	}
	CU_ASSERT_FALSE(res.signaled);
	if (res.signaled)
		return;
	if (may_succeed && res.rc == 0)
		return;
	CU_ASSERT(res.rc < 0 && res.rc > LV_E__LAST);
	CU_ASSERT(res.msg[0] != '\0' && strcmp(res.msg, "\n") != 0);
	if (want)
		CU_ASSERT_EQUAL(res.rc, want);
}

static int liar_setup_done;

static void liar_setup(void)
{
	if (liar_setup_done)
		return;
	liar_setup_done = 1;
	lv_store *s = NULL;
	CU_ASSERT_EQUAL_FATAL(t_make_store(ctx, pth("src.db"), 6, &s), 0);
	char uri[800];
	snprintf(uri, sizeof uri, "file://%s", pth("liar-good"));
	CU_ASSERT_EQUAL_FATAL(t_backup(ctx, s, uri, 0, NULL), 0);
	lv_store_free(s);
}

static void test_liar_garbage_lengths(void)
{
	liar_setup();
	/* more than asked: refused before anything uses the bytes (ASan checks no byte past cap is read) */
	liar_case("read_too_much", 'r', LV_E_DRIVER_ABI, 0, NULL);
	liar_case("read_huge", 'r', LV_E_DRIVER_ABI, 0, NULL);
	liar_case("read_endless", 'r', 0, 0, NULL);
	/* the size a listing gives is used first; a stat that lies is then never asked */
	liar_case("stat_tiny", 'r', 0, 1, NULL);
	liar_case("stat_positive", 'r', LV_E_DRIVER_ABI, 0, NULL); /* was ignored: stat's size is a hint */
	/* a broken driver is not a damaged backup: the listing fails with DRIVER_ABI, not BACKUP_CORRUPT */
	liar_case("read_too_much", 'l', LV_E_DRIVER_ABI, 0, NULL);
}

static void test_liar_bad_codes(void)
{
	liar_setup();
	liar_case("read_positive", 'r', LV_E_DRIVER_ABI, 0, NULL);
	liar_case("read_out_of_range", 'r', LV_E_DRIVER_ABI, 0, NULL);
	liar_case("list_positive", 'r', LV_E_DRIVER_ABI, 0, NULL);
	liar_case("list_positive", 'b', LV_E_DRIVER_ABI, 0, NULL);
	liar_case("list_out_of_range", 'b', LV_E_DRIVER_ABI, 0, NULL);
	liar_case("write_positive", 'b', LV_E_DRIVER_ABI, 0, NULL);
	liar_case("commit_out_of_range", 'b', LV_E_DRIVER_ABI, 0, NULL);
	liar_case("open_positive", 'b', 0, 0, NULL);
	liar_case("open_out_of_range", 'r', 0, 0, NULL);
	liar_case("set_error_positive", 'b', 0, 0, NULL);
}

static void test_liar_bad_names(void)
{
	liar_setup();
	liar_case("list_bad_names", 'b', LV_E_DRIVER_ABI, 0, NULL);
	liar_case("list_bad_names", 'r', LV_E_DRIVER_ABI, 0, NULL);
	liar_case("list_null_name", 'b', LV_E_DRIVER_ABI, 0, NULL);
	liar_case("list_null_info", 'r', LV_E_DRIVER_ABI, 0, NULL);
}

static void test_liar_bad_host_calls(void)
{
	liar_setup();
	liar_case("set_error_null_fmt", 'b', LV_E_IO, 0, NULL);
	/* bad arguments to services that have nothing to fail: the run goes on */
	liar_case("config_get_null", 'r', 0, 1, NULL);
	liar_case("open_uri_bad_args", 'r', 0, 1, NULL);
	liar_case("log_bad_level", 'r', 0, 1, NULL);
	liar_case("log_null_fmt", 'r', 0, 1, NULL);
}

static int log_lines;
static void count_log(int level, const char *line, void *ud)
{
	(void)level;
	(void)ud;
	if (line)
		log_lines++;
}

static void test_liar_log_null_fmt_with_callback(void)
{
	/* the same with a log callback set, which makes the host format the line */
	liar_setup();
	char conf[700];
	snprintf(conf, sizeof conf, "%s/liar.conf", dir);
	FILE *f = fopen(conf, "w");
	CU_ASSERT_PTR_NOT_NULL_FATAL(f);
	fprintf(f, "[service]\nrestores_per_day = 1000000\n[driver \"liar\"]\nlie = log_null_fmt\n");
	fclose(f);
	fflush(NULL);
	pid_t pid = fork();
	if (pid == 0) {
		lv_context *c = NULL;
		lv_context_new(&c);
		lv_context_set_log(c, LV_LOG_DEBUG, count_log, NULL);
		lv_context_add_driver_dir(c, drvdir);
		lv_context_add_driver_dir(c, LV_TEST_DRIVER_DIR);
		lv_context_load_config(c, conf);
		lv_store *s = NULL;
		copy_file(pth("t0.db"), pth("lt.db"));
		lv_store_open(&s, c, pth("lt.db"), 0);
		char uri[800];
		snprintf(uri, sizeof uri, "liar+file://%s", pth("liar-good"));
		t_verify(c, s, uri, NULL);
		lv_store_free(s);
		lv_context_free(c);
		_exit(0);
	}
	int st = 0;
	waitpid(pid, &st, 0);
	/* killed, or a sanitizer report (non-zero exit): host_log must ignore a NULL fmt */
		CU_ASSERT(WIFEXITED(st) && WEXITSTATUS(st) == 0);
}

/* ---- no secrets in messages or logs -------------------------------------------- */

static char secret_seen[200];
static void secret_log(int level, const char *line, void *ud)
{
	(void)level;
	(void)ud;
	if (strstr(line, "S3cr3tPw"))
		snprintf(secret_seen, sizeof secret_seen, "%s", line);
}

static void test_no_secrets_in_logs(void)
{
	/* a password in an sftp URI (loopback, refused before any connection) reaches no message */
	if (access(LV_TEST_DRIVER_DIR "/lv_sftp.so", F_OK) != 0)
		return;
	lv_context *c = t_context();
	lv_context_set_log(c, LV_LOG_DEBUG, secret_log, NULL);
	lv_store *s = NULL;
	copy_file(pth("t0.db"), pth("sec.db"));
	CU_ASSERT_EQUAL_FATAL(lv_store_open(&s, c, pth("sec.db"), 0), 0);
	const char *uri = "sftp://user:S3cr3tPw@127.0.0.1:1/backup";
	lv_restorer *r = NULL;
	lv_restorer_new(&r, c, s);
	lv_restorer_set_string(r, LV_PROP_BACKUP_PATH, uri);
	lv_restorer_set_string(r, LV_PROP_RESTORE_PATH, uri);
	secret_seen[0] = '\0';
	for (int k = 0; k < 3; k++) {
		int rc = t_run(r, "brv"[k], 0, NULL);
		CU_ASSERT_NOT_EQUAL(rc, 0);
		CU_ASSERT(strstr(lv_restorer_last_error(r), "S3cr3tPw") == NULL);
	}
	CU_ASSERT_STRING_EQUAL(secret_seen, "");
	lv_restorer_free(r);
	lv_store_free(s);
	lv_context_free(c);
	/* nor the CLI's output */
	char *out = NULL;
	t_sh(&out, "LICVAULT_CONFIG=/dev/null '%s' --store '%s' -v backup '%s'", T_CLI, pth("sec.db"), uri);
	CU_ASSERT(strstr(out, "S3cr3tPw") == NULL);
	free(out);
}

LV_SUITE(hostile, hostile, init, clean,
         {"an honest crafted set restores", test_honest_set_restores},
         {"lying lengths", test_lying_lengths},
         {"huge and wrong counts", test_huge_counts},
         {"hostile key IDs", test_hostile_key_ids},
         {"duplicate and unordered key IDs", test_duplicate_key_ids},
         {"entries outside the pack", test_outside_the_pack},
         {"pack of another generation, bad names", test_pack_of_another_generation},
         {"bad records", test_bad_records},
         {"unknown record tags are skipped", test_unknown_tags_skipped},
         {"garbage objects", test_garbage_objects},
         {"malformed license files", test_malformed_license_files},
         {"import all or none", test_import_all_or_none},
         {"liar: garbage lengths", test_liar_garbage_lengths},
         {"liar: bad codes", test_liar_bad_codes},
         {"liar: bad object names", test_liar_bad_names},
         {"liar: bad host calls", test_liar_bad_host_calls},
         {"liar: log NULL fmt with a log callback", test_liar_log_null_fmt_with_callback},
         {"no secrets in messages or logs", test_no_secrets_in_logs})
