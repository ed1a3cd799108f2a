/* License files: parse, write, errors with file and line, import all or none. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "testutil.h"

#define dir t_suite_dir

static const char *file(const char *name, const char *text)
{
	static char p[8][700];
	static int k;
	k = (k + 1) % 8;
	snprintf(p[k], sizeof p[k], "%s/%s", dir, name);
	FILE *f = fopen(p[k], "w");
	fputs(text, f);
	fclose(f);
	return p[k];
}

#define GOOD "licvault-license: 1\nkid: abc-123\ntitle: A Song\nissuer: Me\nissued: 2024-01-02T03:04:05Z\n" \
             "expires: never\nrights: play, backup\nplay-count: 5\npayload: aGVsbG8=\n"

static void test_parse_good(void)
{
	lv_license *l = NULL;
	char err[512];
	CU_ASSERT_EQUAL_FATAL(lv_license_parse_file(&l, file("good.lic", "# a comment\n\n" GOOD), err, sizeof err), 0);
	CU_ASSERT_STRING_EQUAL(l->kid, "abc-123");
	CU_ASSERT_STRING_EQUAL(l->title, "A Song");
	CU_ASSERT_EQUAL(l->issued, 1704164645);
	CU_ASSERT_EQUAL(l->expires, 0);
	CU_ASSERT_EQUAL(l->rights, LV_RIGHT_PLAY | LV_RIGHT_BACKUP);
	CU_ASSERT_EQUAL(l->play_count, 5);
	CU_ASSERT_EQUAL(l->plays_left, 5);
	CU_ASSERT_EQUAL(l->payload_len, 5);
	CU_ASSERT(memcmp(l->payload, "hello", 5) == 0);
	CU_ASSERT_PTR_NULL(l->content_id);
	/* write and read back */
	char p[700];
	snprintf(p, sizeof p, "%s/rt.lic", dir);
	CU_ASSERT_EQUAL(lv_license_write_file(l, p, err, sizeof err), 0);
	lv_license *m = NULL;
	CU_ASSERT_EQUAL_FATAL(lv_license_parse_file(&m, p, err, sizeof err), 0);
	CU_ASSERT_STRING_EQUAL(m->kid, l->kid);
	CU_ASSERT_STRING_EQUAL(m->title, l->title);
	CU_ASSERT_EQUAL(m->issued, l->issued);
	CU_ASSERT_EQUAL(m->rights, l->rights);
	CU_ASSERT_EQUAL(m->payload_len, l->payload_len);
	CU_ASSERT(memcmp(m->payload, l->payload, l->payload_len) == 0);
	lv_license_free(l);
	lv_license_free(m);
	/* every shipped example parses */
	char *out = NULL;
	CU_ASSERT_EQUAL(t_sh(&out, "ls '%s'/examples/licenses/*.lic | wc -l", LV_TEST_SOURCE_DIR), 0);
	CU_ASSERT(atoi(out) >= 12);
	free(out);
}

static void expect(const char *name, const char *text, const char *needle, int code)
{
	lv_license *l = NULL;
	char err[512] = "";
	int rc = lv_license_parse_file(&l, file(name, text), err, sizeof err);
	CU_ASSERT_EQUAL(rc, code);
	CU_ASSERT_PTR_NULL(l);
	if (!strstr(err, needle))
		fprintf(stderr, "\nexpected '%s' in '%s'\n", needle, err);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, needle));
	CU_ASSERT_PTR_NOT_NULL(strstr(err, name));
}

static void test_parse_errors(void)
{
	expect("e1.lic", "kid: x\n", "e1.lic:1: not a license file", LV_E_CORRUPT);
	expect("e2.lic", "licvault-license: 2\n", "e2.lic:1: license file version 2", LV_E_CORRUPT);
	expect("e3.lic", "licvault-license: 1\nkid: a\nissued: 2024-01-01\ncolour: red\n", "e3.lic:4: unknown key 'colour'",
	       LV_E_CORRUPT);
	expect("e4.lic", "licvault-license: 1\nkid: a\nissued: yesterday\n", "e4.lic:3: bad date 'yesterday'", LV_E_CORRUPT);
	expect("e5.lic", "licvault-license: 1\ntitle: no kid\nissued: 2024-01-01\n", "e5.lic:3: no 'kid'", LV_E_CORRUPT);
	expect("e6.lic", "licvault-license: 1\nkid: a\nkid: b\n", "e6.lic:3: 'kid' given twice", LV_E_CORRUPT);
	expect("e7.lic", "licvault-license: 1\nkid: a\nissued: 2024-01-01\nrights: play fly\n", "e7.lic:4: unknown right 'fly'",
	       LV_E_CORRUPT);
	expect("e8.lic", "licvault-license: 1\nkid: a\nissued: 2024-01-01\nplay-count: -3\n", "e8.lic:4: 'play-count' must be",
	       LV_E_CORRUPT);
	expect("e9.lic", "licvault-license: 1\nkid: a\nissued: 2024-01-01\npayload: %%%%\n", "e9.lic:4: payload is not valid base64",
	       LV_E_CORRUPT);
	expect("e10.lic", "licvault-license: 1\nkid: has space\nissued: 2024-01-01\n", "e10.lic:2: key ID must be", LV_E_CORRUPT);
	expect("e11.lic", "licvault-license: 1\nkid: ../../x\nissued: 2024-01-01\n", "e11.lic:2: key ID must be", LV_E_CORRUPT);
	expect("e14.lic", "licvault-license: 1\nkid: a\nissued: 2024-02-30\n", "e14.lic:3: bad date '2024-02-30'", LV_E_CORRUPT);
	/* a date is exactly YYYY-MM-DD or YYYY-MM-DDTHH:MM:SSZ: strptime alone took these */
	expect("d1.lic", "licvault-license: 1\nkid: a\nissued: 24-1-5\n", "d1.lic:3: bad date '24-1-5'", LV_E_CORRUPT);
	expect("d2.lic", "licvault-license: 1\nkid: a\nissued: 2024-1-5\n", "d2.lic:3: bad date", LV_E_CORRUPT);
	expect("d3.lic", "licvault-license: 1\nkid: a\nissued: 2024- 01-01\n", "d3.lic:3: bad date", LV_E_CORRUPT);
	expect("d4.lic", "licvault-license: 1\nkid: a\nissued: 2024-01-01T1:2:3Z\n", "d4.lic:3: bad date", LV_E_CORRUPT);
	expect("d5.lic", "licvault-license: 1\nkid: a\nissued: 2024-01-01T01:02:03\n", "d5.lic:3: bad date", LV_E_CORRUPT);
	expect("e15.lic", "licvault-license: 1\nkid: a\nissued: 2024-01-01\nrights: play\nrights: backup\n",
	       "e15.lic:5: 'rights' given twice", LV_E_CORRUPT);
	expect("e16.lic", "licvault-license: 1\nkid: a\nissued: 2024-01-01\nplay-count: 3\nplays-left: 9\n",
	       "e16.lic:5: plays-left 9 is more than play-count 3", LV_E_CORRUPT);
	expect("e12.lic", "", "e12.lic:0: empty file", LV_E_CORRUPT);
	expect("e13.lic", "licvault-license: 1\njust words\n", "e13.lic:2: expected 'key: value'", LV_E_CORRUPT);
	/* text a person reads: valid UTF-8 (any script) ... */
	lv_license *ok = NULL;
	char e0[512];
	CU_ASSERT_EQUAL(lv_license_parse_file(&ok, file("u0.lic", "licvault-license: 1\nkid: a\ntitle: Caf\xc3\xa9 \xe2\x98\x85 \xf0\x9f\x8e\xb5\nissued: 2024-01-01\n"), e0, sizeof e0), 0);
	CU_ASSERT(ok && !strcmp(ok->title, "Caf\xc3\xa9 \xe2\x98\x85 \xf0\x9f\x8e\xb5"));
	lv_license_free(ok);
	/* ... but no invalid bytes and no C0 or C1 controls (terminal injection) */
	expect("u1.lic", "licvault-license: 1\nkid: a\ntitle: caf\xe9\nissued: 2024-01-01\n",
	       "u1.lic:3: 'title' is longer than 1024 bytes, is not valid UTF-8", LV_E_CORRUPT);
	expect("u2.lic", "licvault-license: 1\nkid: a\nissuer: x\xc2\x9b""31mred\nissued: 2024-01-01\n",
	       "u2.lic:3: 'issuer'", LV_E_CORRUPT);
	expect("u3.lic", "licvault-license: 1\nkid: a\ntitle: \x1b]0;pwned\x07\nissued: 2024-01-01\n", "u3.lic:3: 'title'",
	       LV_E_CORRUPT);
	expect("u4.lic", "licvault-license: 1\nkid: a\ncontent-id: \xed\xa0\x80\nissued: 2024-01-01\n",
	       "u4.lic:3: 'content-id'", LV_E_CORRUPT); /* a UTF-16 surrogate */
	expect("u5.lic", "licvault-license: 1\nkid: a\ntitle: \xc0\xaf\nissued: 2024-01-01\n", "u5.lic:3: 'title'",
	       LV_E_CORRUPT); /* an overlong '/' */
	/* binary content with a NUL byte */
	char p[700];
	snprintf(p, sizeof p, "%s/bin.lic", dir);
	FILE *f = fopen(p, "w");
	fwrite("licvault-license: 1\nk\0d: x\n", 1, 27, f);
	fclose(f);
	lv_license *l = NULL;
	char err[512];
	CU_ASSERT_EQUAL(lv_license_parse_file(&l, p, err, sizeof err), LV_E_CORRUPT);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "bin.lic:2: NUL byte"));
	/* missing and unreadable files */
	CU_ASSERT_EQUAL(lv_license_parse_file(&l, "/nonexistent/x.lic", err, sizeof err), LV_E_NOT_FOUND);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "/nonexistent/x.lic"));
	snprintf(p, sizeof p, "%s", dir);
	CU_ASSERT_NOT_EQUAL(lv_license_parse_file(&l, p, err, sizeof err), 0); /* a directory */
	CU_ASSERT_PTR_NULL(l);
}

/* Dates are written in the long form with four-digit years, and read back; a year the form cannot hold is refused. */
static void test_dates_round_trip(void)
{
	const int64_t when[] = {INT64_C(-62135596800) /* 0001-01-01 */, INT64_C(-30610224000) /* 1000-01-01 */,
	                        INT64_C(-31536000) /* 1969 */, 86400, INT64_C(253402300799) /* 9999-12-31T23:59:59 */};
	const char *text[] = {"0001-01-01T00:00:00Z", "1000-01-01T00:00:00Z", "1969-01-01T00:00:00Z",
	                      "1970-01-02T00:00:00Z", "9999-12-31T23:59:59Z"};
	char path[700], err[512];
	snprintf(path, sizeof path, "%s/dates.lic", dir);
	for (size_t i = 0; i < sizeof when / sizeof *when; i++) {
		lv_license l = {.kid = "d", .issued = when[i], .expires = when[i], .rights = LV_RIGHT_PLAY};
		CU_ASSERT_EQUAL_FATAL(lv_license_write_file(&l, path, err, sizeof err), 0);
		char *out = NULL;
		t_sh(&out, "grep '^issued: ' '%s'", path);
		CU_ASSERT(out && strstr(out, text[i]));
		free(out);
		lv_license *back = NULL;
		CU_ASSERT_EQUAL(lv_license_parse_file(&back, path, err, sizeof err), 0);
		CU_ASSERT(back && back->issued == when[i] && back->expires == when[i]);
		lv_license_free(back);
	}
	lv_license far = {.kid = "d", .issued = INT64_C(253402300800), .rights = LV_RIGHT_PLAY}; /* 10000-01-01 */
	CU_ASSERT_EQUAL(lv_license_write_file(&far, path, err, sizeof err), LV_E_INVALID_ARG);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "years 0000 to 9999"));
}

static void test_import_all_or_none(void)
{
	lv_context *ctx = t_context();
	lv_store *s = NULL;
	char db[700];
	snprintf(db, sizeof db, "%s/imp.db", dir);
	CU_ASSERT_EQUAL_FATAL(lv_store_open(&s, ctx, db, LV_STORE_CREATE), 0);
	const char *a = file("i1.lic", "licvault-license: 1\nkid: one\nissued: 2024-01-01\n");
	const char *b = file("i2.lic", "licvault-license: 1\nkid: two\nissued: 2024-01-01\n");
	const char *c = file("i3.lic", "licvault-license: 1\nkid: three\nissued: 2024-13-45\n");
	const char *paths[] = {a, b, c};
	CU_ASSERT_EQUAL(lv_store_import_files(s, paths, 3, 0), LV_E_CORRUPT);
	CU_ASSERT_PTR_NOT_NULL(strstr(lv_store_last_error(s), "i3.lic:3: bad date"));
	CU_ASSERT_EQUAL(t_count(s), 0);   /* none */
	CU_ASSERT_EQUAL(lv_store_import_files(s, paths, 2, 0), 0);
	CU_ASSERT_EQUAL(t_count(s), 2);   /* all */
	/* the CLI says the same and exits 1 */
	char *out = NULL;
	int rc = t_sh(&out, "LICVAULT_CONFIG=/dev/null '%s' --store '%s' store import '%s'", T_CLI, db, c);
	CU_ASSERT_EQUAL(rc, 1);
	CU_ASSERT_PTR_NOT_NULL(strstr(out, "licvault: error: CORRUPT: "));
	CU_ASSERT_PTR_NOT_NULL(strstr(out, "i3.lic:3: bad date"));
	free(out);
	lv_store_free(s);
	lv_context_free(ctx);
}

LV_SUITE(license, license, t_suite_dir_init, t_suite_dir_clean,
         {"parse and write", test_parse_good},
         {"errors name file and line", test_parse_errors},
         {"dates: the long form, four-digit years", test_dates_round_trip},
         {"import: all or none", test_import_all_or_none})
