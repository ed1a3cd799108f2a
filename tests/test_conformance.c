/*
 * The driver conformance suite: the shipped file driver passes it; every
 * flaw of a driver the core cannot use (tests/drivers/flawed.c) fails it in
 * the check that covers that flaw; a driver built against the ABI 1.0 SDK
 * alone (tests/abi10/) loads in this host, passes it, and backs up and
 * restores.  The tool lvconform survives a driver that reads past the
 * buffer, and tests the driver of --driver-dir, which it names.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "conformance.h"
#include "testutil.h"

#define dir t_suite_dir

static lvc_options quiet(unsigned large)
{
	lvc_options o = {large, getenv("LV_TEST_VERBOSE") != NULL, NULL};
	return o;
}

static void test_file_driver(void)
{
	char uri[700];
	snprintf(uri, sizeof uri, "file://%s/conf", dir);
	lv_context *ctx = t_context();
	lvc_options o = quiet(64);
	lvc_result res;
	CU_ASSERT_EQUAL(lvc_run(ctx, uri, &o, &res), 0);
	CU_ASSERT_EQUAL(res.ran, LVC__N);
	/* twice: a location the suite used before is its own, and it runs again */
	CU_ASSERT_EQUAL(lvc_run(ctx, uri, &o, &res), 0);
	/* a plain path too */
	snprintf(uri, sizeof uri, "%s/conf-plain", dir);
	o.large_mib = 0;
	CU_ASSERT_EQUAL(lvc_run(ctx, uri, &o, &res), 0);
	CU_ASSERT_EQUAL(res.ran, LVC__N - 1);
	lv_context_free(ctx);
}

static void test_refuses_a_backup(void)
{
	/* a location holding a real backup (objects the suite did not write) is left alone */
	char uri[700], *out = NULL;
	snprintf(uri, sizeof uri, "%s/real", dir);
	CU_ASSERT_EQUAL_FATAL(t_sh(&out, "mkdir -p '%s' && printf 'licvault-lock 1\\n' > '%s/licvault.lock'", uri, uri), 0);
	free(out);
	lv_context *ctx = t_context();
	lvc_options o = quiet(0);
	FILE *msgs = tmpfile();
	o.out = msgs;
	lvc_result res;
	CU_ASSERT_EQUAL(lvc_run(ctx, uri, &o, &res), 1);
	CU_ASSERT_EQUAL(res.failed_mask, 1u << LVC_PREFLIGHT);
	CU_ASSERT_EQUAL(res.ran, 1);
	CU_ASSERT(t_file_size(t_path(uri, "licvault.lock")) > 0);
	char line[2048] = "";
	rewind(msgs);
	CU_ASSERT_PTR_NOT_NULL(fgets(line, sizeof line, msgs));
	CU_ASSERT_PTR_NOT_NULL(strstr(line, "preflight: the location holds licvault.lock"));
	fclose(msgs);
	lv_context_free(ctx);
}

static const struct {
	const char *flaw;
	unsigned must_fail; /* the checks that must catch it (others may fail too) */
} flaws[] = {
	{"replaces", 1u << LVC_NO_REPLACE | 1u << LVC_LOCK},
	{"lists_temporaries", 1u << LVC_ABORT | 1u << LVC_LIST_REMOVE},
	{"remove_absent_ok", 1u << LVC_LIST_REMOVE | 1u << LVC_LOCK},
	{"remove_forgets", 1u << LVC_LIST_REMOVE | 1u << LVC_LOCK | 1u << LVC_HISTORY},
	{"close_publishes", 1u << LVC_CLOSE},
	{"hides_manifests", 1u << LVC_HISTORY},
	{"read_only_refuses", 1u << LVC_REGISTRY},
	{"check_then_rename", 1u << LVC_LOCK}, /* passed when the lock's two commits came one after the other */
};

/* A flaw's location name: '_' is not one of its characters. */
static const char *loc_name(const char *flaw)
{
	static char n[64];
	snprintf(n, sizeof n, "%s", flaw);
	for (char *p = n; *p; p++)
		*p = *p == '_' ? '-' : *p;
	return n;
}

static void test_flawed_drivers(void)
{
	char cfg[700];
	snprintf(cfg, sizeof cfg, "%s/flawed.conf", dir);
	FILE *f = fopen(cfg, "w");
	CU_ASSERT_PTR_NOT_NULL_FATAL(f);
	fprintf(f, "[location \"f-none\"]\nuri = flawed+file://%s/flawed-none\n", dir);
	for (size_t i = 0; i < sizeof flaws / sizeof *flaws; i++)
		fprintf(f, "[location \"f-%s\"]\nuri = flawed+file://%s/flawed-%s\nflaw = %s\n", loc_name(flaws[i].flaw),
		        dir, flaws[i].flaw, flaws[i].flaw);
	fclose(f);
	lv_context *ctx = t_context();
	lv_context_add_driver_dir(ctx, LV_TEST_BUILD_DIR "/testdrivers");
	int rc = lv_context_load_config(ctx, cfg);
	if (rc)
		fprintf(stderr, "\n  %s\n", lv_context_last_error(ctx));
	CU_ASSERT_EQUAL_FATAL(rc, 0);
	lvc_options o = quiet(1);
	o.verbose = 0;
	FILE *msgs = tmpfile(); /* the failures expected here are not news */
	o.out = getenv("LV_TEST_VERBOSE") ? stderr : msgs;
	lvc_result res;
	/* without a flaw the wrapper is faithful: the suite passes */
	CU_ASSERT_EQUAL(lvc_run(ctx, "f-none:", &o, &res), 0);
	CU_ASSERT_EQUAL(res.ran, LVC__N);
	for (size_t i = 0; i < sizeof flaws / sizeof *flaws; i++) {
		char loc[64];
		snprintf(loc, sizeof loc, "f-%s:", loc_name(flaws[i].flaw));
		int failed = lvc_run(ctx, loc, &o, &res);
		if ((res.failed_mask & flaws[i].must_fail) != flaws[i].must_fail)
			fprintf(stderr, "\n  flaw %s: failed checks 0x%x, expected at least 0x%x\n", flaws[i].flaw, res.failed_mask,
			        flaws[i].must_fail);
		CU_ASSERT(failed > 0);
		CU_ASSERT_EQUAL(res.failed_mask & flaws[i].must_fail, flaws[i].must_fail);
		CU_ASSERT_EQUAL(res.failed_mask & (1u << LVC_PREFLIGHT), 0);
	}
	fclose(msgs);
	lv_context_free(ctx);
}

/* Build tests/abi10/dirdrv.c against the ABI 1.0 headers alone into dir/abi10/. */
static int build_abi10(void)
{
	char *out = NULL;
	int rc = t_sh(&out,
	              "mkdir -p '%s/abi10' && cc -std=c11 -D_GNU_SOURCE -Wall -Wextra -Werror -shared -fPIC "
	              "-fvisibility=hidden -Wl,--no-undefined -I'%s/tests/abi10' '%s/tests/abi10/dirdrv.c' "
	              "-o '%s/abi10/lv_abi10dir.so' 2>&1",
	              dir, LV_TEST_SOURCE_DIR, LV_TEST_SOURCE_DIR, dir);
	if (rc)
		fprintf(stderr, "\n%s\n", out);
	free(out);
	return rc;
}

typedef struct found {
	int seen, refused;
	unsigned major, minor;
} found;

static int find_abi10(const lv_driver_info *info, void *ud)
{
	found *f = ud;
	if (info->name && !strcmp(info->name, "abi10dir"))
		*f = (found){1, info->refused, info->abi_major, info->abi_minor};
	return 0;
}

static void test_abi10_driver(void)
{
	CU_ASSERT_EQUAL_FATAL(build_abi10(), 0);
	lv_context *ctx = t_context();
	char d[700], uri[800];
	snprintf(d, sizeof d, "%s/abi10", dir);
	CU_ASSERT_EQUAL_FATAL(lv_context_add_driver_dir(ctx, d), 0);
	/* loaded, as ABI 1.0 */
	found f = {0, 0, 0, 0};
	lv_context_drivers(ctx, find_abi10, &f);
	CU_ASSERT_FATAL(f.seen);
	CU_ASSERT_FALSE(f.refused);
	CU_ASSERT_EQUAL(f.major, 1);
	CU_ASSERT_EQUAL(f.minor, 0);
	/* conformance */
	snprintf(uri, sizeof uri, "abi10://%s/conf", dir);
	lvc_options o = quiet(8);
	lvc_result res;
	CU_ASSERT_EQUAL(lvc_run(ctx, uri, &o, &res), 0);
	CU_ASSERT_EQUAL(res.ran, LVC__N);
	/* and a backup and a restore through it */
	lv_store *s = NULL, *r = NULL;
	CU_ASSERT_EQUAL_FATAL(t_make_store(ctx, t_path(dir, "abi10.db"), 50, &s), 0);
	snprintf(uri, sizeof uri, "abi10://%s/bk", dir);
	CU_ASSERT_EQUAL(t_backup(ctx, s, uri, 0, NULL), 0);
	for (int i = 0; i < 3; i++) /* the lock each time; past `keep` (3) the oldest generation is removed */
		CU_ASSERT_EQUAL(t_backup(ctx, s, uri, LV_BACKUP_OVERWRITE, NULL), 0);
	CU_ASSERT_EQUAL_FATAL(t_make_store(ctx, t_path(dir, "abi10-r.db"), 0, &r), 0);
	CU_ASSERT_EQUAL(t_restore(ctx, r, uri, LV_RESTORE_INDIVIDUALIZE, NULL), 0);
	CU_ASSERT_EQUAL(t_count(r), t_count(s) * 4 / 5); /* every 5th has no backup right */
	char *out = NULL;
	CU_ASSERT_EQUAL(t_sh(&out, "cd '%s/bk' && ls | grep -c '^licvault-g.*\\.\\(pack\\|manifest\\)$'", dir), 0);
	CU_ASSERT_EQUAL(atoi(out), 6);
	free(out);
	CU_ASSERT_EQUAL(t_sh(&out, "ls '%s/bk/licvault-g0000000000000001.manifest' 2>&1", dir), 2); /* the oldest went */
	free(out);
	lv_store_free(r);
	lv_store_free(s);
	lv_context_free(ctx);
}

/* dir/NAME/flawed.so, a copy of the flawed test driver (a folder of its own: testdrivers/ serves more). */
static void flawed_copy(const char *name)
{
	char d[700], from[800], to[800];
	snprintf(d, sizeof d, "%s/%s", dir, name);
	mkdir(d, 0700);
	snprintf(from, sizeof from, "%s/testdrivers/flawed.so", LV_TEST_BUILD_DIR);
	snprintf(to, sizeof to, "%s/flawed.so", d);
	CU_ASSERT_EQUAL_FATAL(t_copy_file(from, to), 0);
}

/* dir/NAME.conf: the flawed driver's flaw, and more. */
static void flawed_conf(const char *name, const char *flaw, const char *more)
{
	char p[700], text[1000];
	snprintf(p, sizeof p, "%s/%s.conf", dir, name);
	snprintf(text, sizeof text, "%s[driver \"flawed\"]\nflaw = %s\n", more, flaw);
	CU_ASSERT_EQUAL_FATAL(t_write_file(p, text, 0600), 0);
}

#define LVCONFORM LV_TEST_BUILD_DIR "/cli/lvconform"

/* A driver whose read says it gave 64 times the bytes asked: every read fails, saying so; no crash. */
static void test_read_overrun(void)
{
	flawed_copy("drv");
	flawed_conf("overrun", "read_overrun", "");
	char *out = NULL;
	int rc = t_sh(&out, "env -u LICVAULT_DRIVER_PATH '%s' --config '%s/overrun.conf' --driver-dir '%s/drv' --large 1 "
	                    "'flawed+file://%s/overrun'", LVCONFORM, dir, dir, dir);
	if (rc != 1 || getenv("LV_TEST_VERBOSE"))
		fprintf(stderr, "\n%s\n", out);
	CU_ASSERT_EQUAL(rc, 1); /* not killed by SIGSEGV (139) */
	CU_ASSERT_PTR_NOT_NULL(strstr(out, "large: conf-large.obj cannot be read back: DRIVER_ABI: driver 'flawed' "
	                                   "returned 67108864 bytes for a 1048576-byte read of conf-large.obj\n"));
	CU_ASSERT_PTR_NOT_NULL(strstr(out, "write-read: conf-a.obj cannot be read back: DRIVER_ABI: driver 'flawed' returned "));
	CU_ASSERT_PTR_NOT_NULL(strstr(out, "no-replace: conf-r.obj cannot be read back after a refused commit"));
	CU_ASSERT_PTR_NOT_NULL(strstr(out, "history: licvault-g0000000000000001.manifest cannot be read back: DRIVER_ABI: "
	                                   "driver 'flawed' returned "));
	CU_ASSERT_PTR_NULL(strstr(out, "-12 bytes"));
	CU_ASSERT_PTR_NULL(strstr(out, "DRIVER_ABI: \n"));
	CU_ASSERT_PTR_NULL(strstr(out, "changed the object"));
	free(out);
}

/* --driver-dir is searched first (before $LICVAULT_DRIVER_PATH), made absolute, and the driver tested is named. */
static void test_driver_dir_first(void)
{
	flawed_copy("drv");
	flawed_copy("shadow");
	flawed_conf("plain", "none", "");
	char more[800], *out = NULL, want[900];
	snprintf(more, sizeof more, "[licvault]\ndriver_path = %s/shadow\n", dir);
	flawed_conf("shadowing", "none", more);
	snprintf(want, sizeof want, "driver 'flawed' 1.0.0 (ABI 1.1) from %s/drv/flawed.so\n", dir);
	/* another copy in $LICVAULT_DRIVER_PATH: --driver-dir's is tested, and named */
	int rc = t_sh(&out, "LICVAULT_DRIVER_PATH='%s/shadow' '%s' --config '%s/plain.conf' --driver-dir '%s/drv' --large 0 "
	                    "'flawed+file://%s/first'", dir, LVCONFORM, dir, dir, dir);
	CU_ASSERT_EQUAL(rc, 0);
	CU_ASSERT_PTR_NOT_NULL(strstr(out, want));
	free(out);
	/* a relative --driver-dir is made absolute (the library never searches a relative folder) */
	rc = t_sh(&out, "cd '%s' && env -u LICVAULT_DRIVER_PATH '%s' --config plain.conf --driver-dir drv --large 0 "
	                "'flawed+file://%s/relative'", dir, LVCONFORM, dir);
	CU_ASSERT_EQUAL(rc, 0);
	CU_ASSERT_PTR_NOT_NULL(strstr(out, want));
	free(out);
	/* another copy in the config's driver_path, which the library searches first: refused, not tested silently */
	rc = t_sh(&out, "env -u LICVAULT_DRIVER_PATH '%s' --config '%s/shadowing.conf' --driver-dir '%s/drv' --large 0 "
	                "'flawed+file://%s/shadowed'", LVCONFORM, dir, dir, dir);
	CU_ASSERT_EQUAL(rc, 2);
	snprintf(want, sizeof want, "(%s/shadow/flawed.so), found first; it would not be the driver tested", dir);
	CU_ASSERT_PTR_NOT_NULL(strstr(out, want));
	CU_ASSERT_PTR_NULL(strstr(out, "passed"));
	free(out);
}

LV_SUITE(conformance, conformance, t_suite_dir_init, t_suite_dir_clean,
         {"file driver", test_file_driver},
         {"a location holding a backup is refused", test_refuses_a_backup},
         {"flawed drivers fail it", test_flawed_drivers},
         {"an ABI 1.0 driver loads and passes", test_abi10_driver},
         {"lvconform: a read past the buffer fails, named", test_read_overrun},
         {"lvconform: --driver-dir first, the driver named", test_driver_dir_first})
