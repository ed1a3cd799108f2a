/* The CLI as a person or a script uses it: output, JSON events, exit codes. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "testutil.h"

#define dir t_suite_dir

/* Run the CLI with no config file; *out gets stdout+stderr. */
static int cli(char **out, const char *args)
{
	return t_sh(out, "cd '%s' && LICVAULT_CONFIG=/dev/null '%s' %s", dir, T_CLI, args);
}

static int count_lines(const char *s, const char *needle)
{
	int n = 0;
	for (const char *p = s; (p = strstr(p, needle)); p += strlen(needle))
		n++;
	return n;
}

static void test_main_job(void)
{
	char *out = NULL;
	char args[2048];
	snprintf(args, sizeof args, "--store a.db store import '%s'/examples/licenses/*.lic", LV_TEST_SOURCE_DIR);
	CU_ASSERT_EQUAL(cli(&out, args), 0);
	CU_ASSERT_PTR_NOT_NULL(strstr(out, "imported 12 licenses"));
	free(out);
	CU_ASSERT_EQUAL(cli(&out, "--store a.db --json store list"), 0);
	CU_ASSERT_EQUAL(count_lines(out, "{\"kid\":"), 12);
	CU_ASSERT_EQUAL(count_lines(out, "\"backup_allowed\":false"), 4);
	CU_ASSERT_PTR_NOT_NULL(strstr(out, "\"title\":\"Neon Skyline\""));
	free(out);
	/* human output: restricted licenses named with key ID and title */
	CU_ASSERT_EQUAL(cli(&out, "--store a.db backup bk"), 0);
	CU_ASSERT_PTR_NOT_NULL(strstr(out, "backup: begin"));
	CU_ASSERT_PTR_NOT_NULL(strstr(out, "not backed up (no backup right): 3bbbe9ea-0316-47c2-ad4c-2eae96d0cc5f \"Neon Skyline\""));
	CU_ASSERT_EQUAL(count_lines(out, "not backed up"), 4);
	CU_ASSERT_PTR_NOT_NULL(strstr(out, "backup: end: ok"));
	free(out);
	/* again: BACKUP_EXISTS, exit 1, the error line */
	CU_ASSERT_EQUAL(cli(&out, "--store a.db backup bk"), 1);
	CU_ASSERT_PTR_NOT_NULL(strstr(out, "licvault: error: BACKUP_EXISTS: "));
	free(out);
	/* JSON events */
	CU_ASSERT_EQUAL(cli(&out, "--store a.db --json backup --overwrite bk"), 0);
	CU_ASSERT_EQUAL(strncmp(out, "{\"event\":\"begin\"}\n", 18), 0);
	CU_ASSERT_EQUAL(count_lines(out, "{\"event\":\"restricted_license\",\"kid\":\""), 4);
	CU_ASSERT_PTR_NOT_NULL(strstr(out, "{\"event\":\"restricted_license\",\"kid\":\"3bbbe9ea-0316-47c2-ad4c-2eae96d0cc5f\",\"title\":\"Neon Skyline\"}"));
	CU_ASSERT_PTR_NOT_NULL(strstr(out, "{\"event\":\"end\",\"result\":\"ok\"}"));
	free(out);
	CU_ASSERT_EQUAL(cli(&out, "--json verify bk"), 0);
	CU_ASSERT_PTR_NOT_NULL(strstr(out, "\"result\":\"ok\""));
	free(out);
	/* restore into an empty store: refused without --individualize, then every allowed license */
	CU_ASSERT_EQUAL(cli(&out, "--store b.db --json restore bk"), 1);
	CU_ASSERT_PTR_NOT_NULL(strstr(out, "{\"event\":\"connecting\"}"));
	CU_ASSERT_PTR_NOT_NULL(strstr(out, "{\"event\":\"disconnecting\"}"));
	CU_ASSERT_PTR_NOT_NULL(strstr(out, "\"result\":\"NEEDS_INDIVIDUALIZATION\""));
	CU_ASSERT_PTR_NOT_NULL(strstr(out, "licvault: error: NEEDS_INDIVIDUALIZATION: "));
	free(out);
	CU_ASSERT_EQUAL(cli(&out, "--store b.db --json restore --individualize bk"), 0);
	CU_ASSERT_PTR_NOT_NULL(strstr(out, "{\"event\":\"individualize\",\"machine_id\":\""));
	free(out);
	CU_ASSERT_EQUAL(cli(&out, "--store b.db --json store list"), 0);
	CU_ASSERT_EQUAL(count_lines(out, "{\"kid\":"), 8);
	CU_ASSERT_EQUAL(count_lines(out, "\"backup_allowed\":false"), 0);
	free(out);
	CU_ASSERT_EQUAL(cli(&out, "--store b.db identity"), 0);
	CU_ASSERT_PTR_NOT_NULL(strstr(out, "individualized on this host"));
	free(out);
}

static void test_four_machines(void)
{
	/* issue 3's walk-through: one store backs up, fresh stores restore it */
	char *out = NULL;
	char args[2048];
	snprintf(args, sizeof args, "--store m1.db -q store import '%s'/examples/licenses/*.lic", LV_TEST_SOURCE_DIR);
	CU_ASSERT_EQUAL(cli(&out, args), 0);
	free(out);
	CU_ASSERT_EQUAL(cli(&out, "--store m1.db -q backup four"), 0);
	free(out);
	CU_ASSERT_EQUAL(cli(&out, "--store m2.db restore four"), 1);
	CU_ASSERT_PTR_NOT_NULL(strstr(out, "NEEDS_INDIVIDUALIZATION"));
	free(out);
	CU_ASSERT_EQUAL(cli(&out, "--store m2.db --json store list | wc -l"), 0);
	CU_ASSERT_EQUAL(atoi(out), 0);
	free(out);
	for (int m = 2; m <= 4; m++) {
		snprintf(args, sizeof args, "--store m%d.db -q restore --individualize four", m);
		CU_ASSERT_EQUAL(cli(&out, args), 0);
		free(out);
	}
	CU_ASSERT_EQUAL(cli(&out, "--store m5.db restore --individualize four"), 1);
	CU_ASSERT_PTR_NOT_NULL(strstr(out, "licvault: error: RESTORE_LIMIT: 8 of 8 licenses were refused"));
	CU_ASSERT_EQUAL(count_lines(out, "refused (RESTORE_LIMIT): "), 8);
	CU_ASSERT_PTR_NOT_NULL(strstr(out, "refused (RESTORE_LIMIT): 1e398f10-830e-46b0-a2a3-5790c1d3fcff"));
	free(out);
	CU_ASSERT_EQUAL(cli(&out, "--store m1.db -q restore four"), 0);
	free(out);
}

static void test_usage_and_codes(void)
{
	char *out = NULL;
	CU_ASSERT_EQUAL(cli(&out, "--version"), 0);
	CU_ASSERT_PTR_NOT_NULL(strstr(out, "licvault 0."));
	free(out);
	CU_ASSERT_EQUAL(cli(&out, "--help"), 0);
	CU_ASSERT_PTR_NOT_NULL(strstr(out, "usage: licvault"));
	free(out);
	CU_ASSERT_EQUAL(cli(&out, ""), 2);
	free(out);
	CU_ASSERT_EQUAL(cli(&out, "frobnicate"), 2);
	CU_ASSERT_PTR_NOT_NULL(strstr(out, "unknown command 'frobnicate'"));
	free(out);
	CU_ASSERT_EQUAL(cli(&out, "backup"), 2);
	free(out);
	CU_ASSERT_EQUAL(cli(&out, "backup --bogus x"), 2);
	free(out);
	CU_ASSERT_EQUAL(cli(&out, "--store a.db backup nosuch://place"), 1);
	CU_ASSERT_PTR_NOT_NULL(strstr(out, "licvault: error: NO_DRIVER: "));
	free(out);
	CU_ASSERT_EQUAL(t_sh(&out, "cd '%s' && printf '[bogus]\\n' > bad.conf && '%s' --config bad.conf drivers", dir, T_CLI), 2);
	CU_ASSERT_PTR_NOT_NULL(strstr(out, "licvault: error: CONFIG: bad.conf:1: unknown section [bogus]"));
	free(out);
	CU_ASSERT_EQUAL(cli(&out, "drivers"), 0);
	CU_ASSERT_PTR_NOT_NULL(strstr(out, "file "));
	CU_ASSERT_PTR_NOT_NULL(strstr(out, "ABI 1.1"));
	free(out);
	CU_ASSERT_EQUAL(cli(&out, "drivers -v"), 0);
	CU_ASSERT_PTR_NOT_NULL(strstr(out, "driver search path, in order:"));
	free(out);
	CU_ASSERT_EQUAL(cli(&out, "-v config check"), 0);
	free(out);
}

/* EACCES: a location the user may not write (run as nobody; root may write anywhere) */
static void test_permission_denied(void)
{
	if (geteuid() != 0) {
		fprintf(stderr, "\n  skipped: needs root to run the CLI as another user ");
		return;
	}
	char *out = NULL;
	char args[2048];
	snprintf(args, sizeof args, "cd '%s' && mkdir -p acc/home acc/locked && chmod 755 acc acc/locked && chmod 777 acc/home "
	         "&& LICVAULT_CONFIG=/dev/null '%s' -q --store acc/home/s.db store import '%s'/examples/licenses/0*.lic "
	         "&& chown -R nobody acc/home && chmod 755 '%s'",
	         dir, T_CLI, LV_TEST_SOURCE_DIR, dir);
	CU_ASSERT_EQUAL_FATAL(t_sh(&out, "%s", args), 0);
	free(out);
	int rc = t_sh(&out, "cd '%s' && HOME=/tmp LICVAULT_CONFIG=/dev/null setpriv --reuid=nobody --regid=nogroup --clear-groups "
	                    "'%s' --store acc/home/s.db backup acc/locked/bk",
	              dir, T_CLI);
	CU_ASSERT_EQUAL(rc, 1);
	CU_ASSERT_PTR_NOT_NULL(strstr(out, "licvault: error: IO: "));
	CU_ASSERT_PTR_NOT_NULL(strstr(out, "acc/locked"));
	CU_ASSERT_PTR_NOT_NULL(strstr(out, "Permission denied"));
	free(out);
	CU_ASSERT_EQUAL(t_sh(&out, "test -e '%s/acc/locked/bk'", dir), 1); /* nothing written */
	free(out);
	/* the same user, a place it may write: works */
	rc = t_sh(&out, "cd '%s' && HOME=/tmp LICVAULT_CONFIG=/dev/null setpriv --reuid=nobody --regid=nogroup --clear-groups "
	                "'%s' -q --store acc/home/s.db backup acc/home/bk",
	          dir, T_CLI);
	CU_ASSERT_EQUAL(rc, 0);
	free(out);
}

LV_SUITE(cli, cli, t_suite_dir_init, t_suite_dir_clean,
         {"main job: import, backup, restore", test_main_job},
         {"four machines", test_four_machines},
         {"usage and exit codes", test_usage_and_codes},
         {"permission denied (EACCES)", test_permission_denied})
