/*
 * The driver loader: every refusal is named with its file and reason, and
 * the loader goes on with the other drivers.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "testutil.h"

#define TDIR LV_TEST_BUILD_DIR "/testdrivers"

#define dir t_suite_dir

typedef struct seen {
	int n;
	char lines[32][700];
} seen;

static int collect(const lv_driver_info *i, void *ud)
{
	seen *s = ud;
	if (s->n < 32)
		snprintf(s->lines[s->n++], sizeof s->lines[0], "%s|%s|%d|%s|%s", strrchr(i->path, '/') + 1,
		         i->name ? i->name : "-", i->refused, i->schemes ? i->schemes : "-", i->reason ? i->reason : "-");
	return 0;
}

static const char *find(seen *s, const char *file)
{
	for (int i = 0; i < s->n; i++)
		if (!strncmp(s->lines[i], file, strlen(file)) && s->lines[i][strlen(file)] == '|')
			return s->lines[i];
	return NULL;
}

/* A context whose search path is exactly: a temp dir holding the given test drivers, then the build tree. */
static lv_context *ctx_with(const char *sub, const char *const *files)
{
	char d[700];
	snprintf(d, sizeof d, "%s/%s", dir, sub);
	char *out = NULL;
	t_sh(&out, "mkdir -p '%s'", d);
	free(out);
	for (const char *const *f = files; *f; f++) {
		t_sh(&out, "cp '%s/%s' '%s/'", TDIR, *f, d);
		free(out);
	}
	lv_context *c = NULL;
	lv_context_new(&c);
	lv_context_add_driver_dir(c, d);
	lv_context_add_driver_dir(c, LV_TEST_DRIVER_DIR);
	return c;
}

static void test_refusals(void)
{
	const char *files[] = {"noentry.so", "nullentry.so", "abi2.so", "tiny.so", "newer.so", NULL};
	lv_context *c = ctx_with("refuse", files);
	/* not an ELF file at all */
	char p[700];
	snprintf(p, sizeof p, "%s/refuse/notelf.so", dir);
	FILE *f = fopen(p, "w");
	fputs("#!/bin/sh\necho I am not a shared object\n", f);
	fclose(f);
	seen s = {0};
	CU_ASSERT_EQUAL(lv_context_drivers(c, collect, &s), 0);
	const char *l;
	CU_ASSERT_PTR_NOT_NULL_FATAL(l = find(&s, "notelf.so"));
	CU_ASSERT_PTR_NOT_NULL(strstr(l, "|1|"));
	CU_ASSERT_PTR_NOT_NULL(strstr(l, "not a loadable shared object"));
	CU_ASSERT_PTR_NOT_NULL_FATAL(l = find(&s, "noentry.so"));
	CU_ASSERT_PTR_NOT_NULL(strstr(l, "no entry symbol 'lv_driver_entry'"));
	CU_ASSERT_PTR_NOT_NULL_FATAL(l = find(&s, "nullentry.so"));
	CU_ASSERT_PTR_NOT_NULL(strstr(l, "returned NULL"));
	CU_ASSERT_PTR_NOT_NULL_FATAL(l = find(&s, "abi2.so"));
	CU_ASSERT_PTR_NOT_NULL(strstr(l, "built for driver ABI 2, this licvault speaks ABI 1.1"));
	CU_ASSERT_PTR_NOT_NULL_FATAL(l = find(&s, "tiny.so"));
	CU_ASSERT_PTR_NOT_NULL(strstr(l, "descriptor size 12 is smaller"));
	/* a newer minor ABI with bigger tables is accepted */
	CU_ASSERT_PTR_NOT_NULL_FATAL(l = find(&s, "newer.so"));
	CU_ASSERT_PTR_NOT_NULL(strstr(l, "|newer|0|newer|"));
	/* and the loader went on: the real file driver is there */
	CU_ASSERT_PTR_NOT_NULL_FATAL(l = find(&s, "lv_file.so"));
	CU_ASSERT_PTR_NOT_NULL(strstr(l, "|file|0|file|"));
	/* a refused driver's scheme is not served */
	char *uri = NULL;
	CU_ASSERT_EQUAL(lv_context_resolve(c, "abitwo://x", &uri, NULL), LV_E_NO_DRIVER);
	const char *dn = NULL;
	CU_ASSERT_EQUAL(lv_context_resolve(c, "newer://x", &uri, &dn), 0);
	CU_ASSERT_STRING_EQUAL(dn, "newer");
	free(uri);
	lv_context_free(c);
}

static void test_duplicate_scheme_and_open_failure(void)
{
	const char *files[] = {"openfail.so", NULL};
	lv_context *c = ctx_with("dup", files);
	seen s = {0};
	lv_context_drivers(c, collect, &s);
	const char *l;
	/* openfail comes first in the search path: it wins "file"; the real file driver is named in a warning */
	CU_ASSERT_PTR_NOT_NULL_FATAL(l = find(&s, "openfail.so"));
	CU_ASSERT_PTR_NOT_NULL(strstr(l, "|openfail|0|failing file|"));
	CU_ASSERT_PTR_NOT_NULL_FATAL(l = find(&s, "lv_file.so"));
	CU_ASSERT_PTR_NOT_NULL(strstr(l, "scheme 'file' is already served by driver 'openfail'"));
	CU_ASSERT_PTR_NOT_NULL(strstr(l, "|1|")); /* nothing left for it to serve */
	/* a driver whose open fails: the run fails with the driver's own message */
	lv_store *st = NULL;
	char db[700];
	snprintf(db, sizeof db, "%s/dup.db", dir);
	CU_ASSERT_EQUAL_FATAL(t_make_store(c, db, 2, &st), 0);
	lv_restorer *r = NULL;
	lv_restorer_new(&r, c, st);
	lv_restorer_set_string(r, LV_PROP_BACKUP_PATH, "failing://server/x");
	t_events ev;
	CU_ASSERT_EQUAL(t_run(r, 'b', 0, &ev), LV_E_IO);
	CU_ASSERT_PTR_NOT_NULL(strstr(lv_restorer_last_error(r), "openfail driver: cannot reach failing://server/x"));
	CU_ASSERT_EQUAL(ev.end, 1);
	lv_restorer_free(r);
	lv_store_free(st);
	lv_context_free(c);
}

/*
 * Drivers are loaded when first needed, in search order: a lookup loads files
 * until one serves the scheme, and no further (ctor.so's constructor leaves a
 * mark when it is loaded); the first driver found keeps a scheme, as in a
 * full load; a listing loads the rest.
 */
static void test_loaded_on_demand(void)
{
	char m[700];
	snprintf(m, sizeof m, "%s/ctor-marks", dir);
	unlink(m);
	setenv("LV_TEST_CTOR_MARKER", m, 1);
	const char *files[] = {"ctor.so", "openfail.so", "newer.so", NULL};
	lv_context *c = ctx_with("lazy", files); /* ctor.so, newer.so, openfail.so, then the build tree */
	char *uri = NULL, *ran = NULL;
	const char *dn = NULL;
	/* ctor.so comes first in name order: a lookup of its own scheme loads it and nothing else */
	CU_ASSERT_EQUAL(lv_context_resolve(c, "ctor://x", &uri, &dn), 0);
	CU_ASSERT_STRING_EQUAL(dn, "ctor");
	free(uri);
	ran = t_marker(m);
	CU_ASSERT_PTR_NOT_NULL(strstr(ran, "/lazy/ctor.so"));
	free(ran);
	/* openfail (in the first folder) keeps "file" over the build tree's lv_file.so, loaded on demand too */
	CU_ASSERT_EQUAL(lv_context_resolve(c, "file:///x", &uri, &dn), 0);
	CU_ASSERT_STRING_EQUAL(dn, "openfail");
	free(uri);
	seen s = {0};
	lv_context_drivers(c, collect, &s);
	const char *l;
	CU_ASSERT_PTR_NOT_NULL_FATAL(l = find(&s, "lv_file.so"));
	CU_ASSERT_PTR_NOT_NULL(strstr(l, "scheme 'file' is already served by driver 'openfail'"));
	CU_ASSERT_PTR_NOT_NULL(find(&s, "lv_bundle.so"));
	lv_context_free(c);
	/* a run of newer:// never loads ctor.so when newer.so comes first */
	unlink(m);
	const char *files2[] = {"newer.so", NULL};
	c = ctx_with("lazy2", files2);
	t_sh(NULL, "cp '%s/ctor.so' '%s/lazy2/zz-ctor.so'", TDIR, dir);
	CU_ASSERT_EQUAL(lv_context_resolve(c, "newer://x", &uri, &dn), 0);
	CU_ASSERT_STRING_EQUAL(dn, "newer");
	free(uri);
	ran = t_marker(m);
	CU_ASSERT_STRING_EQUAL(ran, "");
	free(ran);
	/* a scheme no driver serves loads every file to be sure, and says what is served */
	CU_ASSERT_EQUAL(lv_context_resolve(c, "nosuch://x", &uri, NULL), LV_E_NO_DRIVER);
	CU_ASSERT_PTR_NOT_NULL(strstr(lv_context_last_error(c), "ctor"));
	ran = t_marker(m);
	CU_ASSERT_PTR_NOT_NULL(strstr(ran, "/lazy2/zz-ctor.so"));
	free(ran);
	lv_context_free(c);
	unsetenv("LV_TEST_CTOR_MARKER");
}

static int path_cb(const char *d, const char *origin, void *ud)
{
	char *buf = ud;
	strcat(buf, origin);
	strcat(buf, ":");
	(void)d;
	return 0;
}

static void test_search_path_order(void)
{
	char cfg[700], d1[700], d2[700];
	snprintf(d1, sizeof d1, "%s/sp-config", dir);
	snprintf(d2, sizeof d2, "%s/sp-env", dir);
	char *out = NULL;
	t_sh(&out, "mkdir -p '%s' '%s'", d1, d2);
	free(out);
	snprintf(cfg, sizeof cfg, "%s/sp.conf", dir);
	FILE *f = fopen(cfg, "w");
	fprintf(f, "[licvault]\ndriver_path = %s\n", d1);
	fclose(f);
	setenv("LICVAULT_DRIVER_PATH", d2, 1);
	lv_context *c = NULL;
	lv_context_new(&c);
	CU_ASSERT_EQUAL(lv_context_load_config(c, cfg), 0);
	char order[400] = "";
	lv_context_driver_path(c, path_cb, order);
	CU_ASSERT_EQUAL(strncmp(order, "config driver_path:$LICVAULT_DRIVER_PATH:", 41), 0);
	CU_ASSERT_PTR_NOT_NULL(strstr(order, "build tree"));
	unsetenv("LICVAULT_DRIVER_PATH");
	lv_context_free(c);
}

LV_SUITE(loader, loader, t_suite_dir_init, t_suite_dir_clean,
         {"refused files are named with the reason", test_refusals},
         {"duplicate scheme, driver whose open fails", test_duplicate_scheme_and_open_failure},
         {"search path order", test_search_path_order},
         {"drivers are loaded when first needed, in search order", test_loaded_on_demand})
