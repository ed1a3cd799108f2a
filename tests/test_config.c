/*
 * The config file: lookup order, expansion, errors with their line,
 * locations and overrides, a driver seeing only its own section.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "testutil.h"

static char *dir;
static char drvdir[700];

static int init(void)
{
	dir = t_tmpdir();
	if (!dir)
		return 1;
	snprintf(drvdir, sizeof drvdir, "%s/drivers", dir);
	char *out = NULL;
	t_sh(&out, "mkdir -p '%s' && cp '%s/testdrivers/cfgecho.so' '%s/'", drvdir, LV_TEST_BUILD_DIR, drvdir);
	free(out);
	return 0;
}

static int clean(void)
{
	free(dir);
	return 0;
}

static const char *write_cfg(const char *name, const char *text)
{
	static char p[700];
	snprintf(p, sizeof p, "%s/%s", dir, name);
	FILE *f = fopen(p, "w");
	fputs(text, f);
	fclose(f);
	return p;
}

static lv_context *ctx_cfg(const char *text, int *rc)
{
	lv_context *c = NULL;
	lv_context_new(&c);
	lv_context_add_driver_dir(c, drvdir);
	lv_context_add_driver_dir(c, LV_TEST_DRIVER_DIR);
	*rc = lv_context_load_config(c, write_cfg("c.conf", text));
	if (!*rc)
		*rc = lv_context_check_config(c);
	return c;
}

/* Expect a config error whose message holds `needle`. */
static void expect_error(const char *text, const char *needle)
{
	int rc;
	lv_context *c = ctx_cfg(text, &rc);
	CU_ASSERT_EQUAL(rc, LV_E_CONFIG);
	const char *msg = lv_context_last_error(c);
	if (!strstr(msg, needle))
		fprintf(stderr, "\nexpected '%s' in '%s'\n", needle, msg);
	CU_ASSERT_PTR_NOT_NULL(strstr(msg, needle));
	CU_ASSERT_PTR_NOT_NULL(strstr(msg, "c.conf:")); /* names the file */
	lv_context_free(c);
}

static void test_errors_with_lines(void)
{
	expect_error("[licvault]\nstore = /x\n[bogus]\nk = v\n", "c.conf:3: unknown section [bogus]");
	expect_error("[licvault]\nstore = /x\nnope = 1\n", "c.conf:3: unknown key 'nope' in [licvault]");
	expect_error("[driver \"cfgecho\"]\nalpha = 1\nzeta = 2\n", "c.conf:3: unknown key 'zeta' for driver 'cfgecho'");
	expect_error("[driver \"cfgecho\"]\nbeta = 11\n", "c.conf:2: beta = '11': out of range 1 to 10");
	expect_error("[driver \"cfgecho\"]\nbeta = lots\n", "c.conf:2: beta = 'lots': expected a whole number");
	expect_error("[driver \"cfgecho\"]\n\nflag = maybe\n", "c.conf:3: flag = 'maybe': expected yes or no");
	expect_error("[driver \"cfgecho\"]\nmode = c\n", "c.conf:2: mode = 'c': expected one of a|b");
	expect_error("[location \"nas\"]\nuri = /a\n[location \"nas\"]\nuri = /b\n",
	             "c.conf:3: duplicate location \"nas\" (first defined at line 1)");
	expect_error("[location \"file\"]\nuri = /a\n", "c.conf:1: location \"file\" has the name of a URI scheme");
	expect_error("[location nas]\nuri = /a\n", "c.conf:1: section [location nas]: the name must be quoted");
	expect_error("[licvault]\nstore = ${LV_TEST_SURELY_UNSET_VAR}/x\n", "c.conf:2: store: variable ${LV_TEST_SURELY_UNSET_VAR} is not set");
	expect_error("[licvault]\nthis line has no equals sign\n", "c.conf:2: syntax error");
	expect_error("[service]\nrestores_per_day = 0\n", "c.conf:2: restores_per_day = '0': out of range");
	expect_error("store = /x\n", "c.conf:1:");
	expect_error("[location \"NAS\"]\nuri = /a\n", "c.conf:1: section [location \"NAS\"]: a location name starts with a lower-case letter");
	expect_error("[location \"my_nas\"]\nuri = /a\n", "a location name may hold a-z, 0-9");
	expect_error("[driver \"cfgecho\"]\nalpha = 1\nalpha = 2\n", "c.conf:3: 'alpha' given twice (first at line 2)");
	expect_error("[service]\nmax_machines = 100\n", "c.conf:2: max_machines = '100': out of range 1 to 64");
	/* a location's URI that is no URI: said by the check, with its line (a run said NO_DRIVER for scheme '') */
	expect_error("[location \"mm\"]\nuri = file:///tmp/a b\n", "c.conf:2: location \"mm\": uri 'file:///tmp/a b' is not a valid URI");
	/* an explicit file that does not exist */
	lv_context *c = NULL;
	lv_context_new(&c);
	CU_ASSERT_EQUAL(lv_context_load_config(c, "/nonexistent/licvault.conf"), LV_E_CONFIG);
	CU_ASSERT_PTR_NOT_NULL(strstr(lv_context_last_error(c), "/nonexistent/licvault.conf"));
	lv_context_free(c);
}

static void test_undeclared_keys_warn(void)
{
	/* the file driver declares an empty key list: unknown keys are errors; a driver section
	 * for a driver that is not loaded is a warning only */
	int rc;
	lv_context *c = ctx_cfg("[driver \"notloaded\"]\nanything = 1\n", &rc);
	CU_ASSERT_EQUAL(rc, 0);
	lv_context_free(c);
	expect_error("[driver \"file\"]\nfoo = 1\n", "unknown key 'foo' for driver 'file'");
}

static void test_expansion(void)
{
	setenv("LV_TEST_BASE", "/srv/base", 1);
	int rc;
	lv_context *c = ctx_cfg("[licvault]\nstore = ~/s.db\ndriver_path = ${LV_TEST_BASE}/drv\n", &rc);
	CU_ASSERT_EQUAL(rc, 0);
	char want[700];
	snprintf(want, sizeof want, "%s/s.db", getenv("HOME"));
	CU_ASSERT_STRING_EQUAL(lv_context_config_get(c, "licvault", "store"), want);
	CU_ASSERT_STRING_EQUAL(lv_context_config_get(c, "licvault", "driver_path"), "/srv/base/drv");
	lv_context_free(c);
}

static void test_lookup_order(void)
{
	char home[700], xdg[700], env[700];
	snprintf(home, sizeof home, "%s/home", dir);
	snprintf(xdg, sizeof xdg, "%s/xdg", dir);
	char *out = NULL;
	t_sh(&out, "mkdir -p '%s/.config/licvault' '%s/licvault'", home, xdg);
	free(out);
	char p[800];
	snprintf(p, sizeof p, "%s/.config/licvault/config", home);
	FILE *f = fopen(p, "w");
	fputs("[licvault]\nstore = /from-home\n", f);
	fclose(f);
	snprintf(p, sizeof p, "%s/licvault/config", xdg);
	f = fopen(p, "w");
	fputs("[licvault]\nstore = /from-xdg\n", f);
	fclose(f);
	snprintf(env, sizeof env, "%s/env.conf", dir);
	f = fopen(env, "w");
	fputs("[licvault]\nstore = /from-env\n", f);
	fclose(f);
	char *old_home = getenv("HOME") ? strdup(getenv("HOME")) : NULL;
	char *old_cfg = getenv("LICVAULT_CONFIG") ? strdup(getenv("LICVAULT_CONFIG")) : NULL;
	setenv("HOME", home, 1);
	setenv("XDG_CONFIG_HOME", xdg, 1);
	setenv("LICVAULT_CONFIG", env, 1);
	lv_context *c = NULL;
	lv_context_new(&c);
	/* --config first */
	CU_ASSERT_EQUAL(lv_context_load_config(c, write_cfg("explicit.conf", "[licvault]\nstore = /from-flag\n")), 0);
	CU_ASSERT_STRING_EQUAL(lv_context_config_get(c, "licvault", "store"), "/from-flag");
	/* then $LICVAULT_CONFIG */
	CU_ASSERT_EQUAL(lv_context_load_config(c, NULL), 0);
	CU_ASSERT_STRING_EQUAL(lv_context_config_get(c, "licvault", "store"), "/from-env");
	CU_ASSERT_STRING_EQUAL(lv_context_config_path(c), env);
	/* then $XDG_CONFIG_HOME */
	unsetenv("LICVAULT_CONFIG");
	CU_ASSERT_EQUAL(lv_context_load_config(c, NULL), 0);
	CU_ASSERT_STRING_EQUAL(lv_context_config_get(c, "licvault", "store"), "/from-xdg");
	/* then ~/.config */
	unsetenv("XDG_CONFIG_HOME");
	CU_ASSERT_EQUAL(lv_context_load_config(c, NULL), 0);
	CU_ASSERT_STRING_EQUAL(lv_context_config_get(c, "licvault", "store"), "/from-home");
	/* $LICVAULT_CONFIG naming a missing file is an error, not a silent fallback */
	setenv("LICVAULT_CONFIG", "/nonexistent/x.conf", 1);
	CU_ASSERT_EQUAL(lv_context_load_config(c, NULL), LV_E_CONFIG);
	lv_context_free(c);
	if (old_home)
		setenv("HOME", old_home, 1);
	if (old_cfg)
		setenv("LICVAULT_CONFIG", old_cfg, 1);
	else
		unsetenv("LICVAULT_CONFIG");
	free(old_home);
	free(old_cfg);
}

/* Run a backup to uri and return the (echoing) driver's error message. */
static char *echo_for(lv_context *c, const char *uri)
{
	static char msg[1100];
	lv_store *s = NULL;
	static int k;
	char db[700];
	snprintf(db, sizeof db, "%s/echo%d.db", dir, k++);
	if (t_make_store(c, db, 1, &s))
		return strcpy(msg, "store failed");
	lv_restorer *r = NULL;
	lv_restorer_new(&r, c, s);
	lv_restorer_set_string(r, LV_PROP_BACKUP_PATH, uri);
	int rc = t_run(r, 'b', 0, NULL);
	snprintf(msg, sizeof msg, "%s: %s", lv_error_name(rc), lv_restorer_last_error(r));
	lv_restorer_free(r);
	lv_store_free(s);
	return msg;
}

static void test_locations_and_overrides(void)
{
	int rc;
	lv_context *c = ctx_cfg("[driver \"cfgecho\"]\nalpha = from-driver\nbeta = 3\nlist = one\nlist = two\n"
	                        "[driver \"other\"]\ngamma = not-mine\n"
	                        "[licvault]\nstore = /never-seen\n"
	                        "[location \"nas\"]\nuri = cfgecho://host/base\nalpha = from-location\n",
	                        &rc);
	CU_ASSERT_EQUAL_FATAL(rc, 0);
	/* through the location: its uri, its override, the driver's other keys */
	char *m = echo_for(c, "nas:sub/dir");
	CU_ASSERT_PTR_NOT_NULL(strstr(m, "uri=cfgecho://host/base/sub/dir "));
	CU_ASSERT_PTR_NOT_NULL(strstr(m, "alpha=from-location"));
	CU_ASSERT_PTR_NOT_NULL(strstr(m, "beta=3"));
	CU_ASSERT_PTR_NOT_NULL(strstr(m, "list=one list=two"));
	/* only its own section: not another driver's, not the core's */
	CU_ASSERT_PTR_NULL(strstr(m, "not-mine"));
	CU_ASSERT_PTR_NULL(strstr(m, "never-seen"));
	/* NAME: alone is the location's root */
	m = echo_for(c, "nas:");
	CU_ASSERT_PTR_NOT_NULL(strstr(m, "uri=cfgecho://host/base "));
	/* directly, without the location: the driver section only */
	m = echo_for(c, "cfgecho://direct/x");
	CU_ASSERT_PTR_NOT_NULL(strstr(m, "alpha=from-driver"));
	/* leaving the location with .. is refused */
	m = echo_for(c, "nas:../../etc");
	CU_ASSERT_PTR_NOT_NULL(strstr(m, "BAD_URI"));
	/* a location used inside a stacked URI keeps its overrides (resolution only here) */
	char *uri = NULL;
	const char *drv = NULL;
	CU_ASSERT_EQUAL(lv_context_resolve(c, "nas:x", &uri, &drv), 0);
	CU_ASSERT_STRING_EQUAL(uri, "cfgecho://host/base/x");
	CU_ASSERT_STRING_EQUAL(drv, "cfgecho");
	free(uri);
	lv_context_free(c);
}

static int show_cb_count;
static char show_buf[4096];
static void show_cb(const char *line, void *ud)
{
	(void)ud;
	show_cb_count++;
	strncat(show_buf, line, sizeof show_buf - strlen(show_buf) - 2);
	strcat(show_buf, "\n");
}

static void test_show_masks_secrets(void)
{
	int rc;
	lv_context *c = ctx_cfg("[driver \"cfgecho\"]\ntoken = hunter2\nalpha = visible\n", &rc);
	CU_ASSERT_EQUAL_FATAL(rc, 0);
	show_buf[0] = '\0';
	CU_ASSERT_EQUAL(lv_context_show_config(c, show_cb, NULL), 0);
	CU_ASSERT_PTR_NULL(strstr(show_buf, "hunter2"));
	CU_ASSERT_PTR_NOT_NULL(strstr(show_buf, "token = ********"));
	CU_ASSERT_PTR_NOT_NULL(strstr(show_buf, "alpha = visible"));
	CU_ASSERT_PTR_NOT_NULL(strstr(show_buf, "[driver \"cfgecho\"]"));
	CU_ASSERT_PTR_NOT_NULL(strstr(show_buf, "# beta = 5")); /* a default */
	lv_context_free(c);
}

LV_SUITE(config, config, init, clean,
         {"errors name file and line", test_errors_with_lines},
         {"undeclared keys", test_undeclared_keys_warn},
         {"~ and ${VAR} expansion", test_expansion},
         {"lookup order", test_lookup_order},
         {"locations, overrides, own section only", test_locations_and_overrides},
         {"config show masks secrets", test_show_masks_secrets})
