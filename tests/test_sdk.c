/*
 * The SDK as a third-party author meets it: install licvault to a
 * temporary prefix, build examples/driver-skeleton against it with
 * find_package(licvault) (and with pkg-config), configure it, and back up
 * and restore through it with the installed CLI and a named location.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"

#define dir t_suite_dir

static void test_skeleton_out_of_tree(void)
{
	char *out = NULL;
	int rc = t_sh(&out, "cmake --install '%s' --prefix '%s/prefix'", LV_TEST_BUILD_DIR, dir);
	CU_ASSERT_EQUAL_FATAL(rc, 0);
	free(out);
	rc = t_sh(&out,
	          "cmake -S '%s/examples/driver-skeleton' -B '%s/skb' -DCMAKE_PREFIX_PATH='%s/prefix' >/dev/null "
	          "&& cmake --build '%s/skb'",
	          LV_TEST_SOURCE_DIR, dir, dir, dir);
	if (rc)
		fprintf(stderr, "\n%s\n", out);
	CU_ASSERT_EQUAL_FATAL(rc, 0);
	free(out);
	/* the pkg-config line of the skeleton's README works too */
	rc = t_sh(&out,
	          "PKG_CONFIG_PATH='%s/prefix/lib/pkgconfig' cc -shared -fPIC -fvisibility=hidden -Wall -Werror "
	          "$(PKG_CONFIG_PATH='%s/prefix/lib/pkgconfig' pkg-config --cflags licvault) "
	          "'%s/examples/driver-skeleton/skeleton.c' -o '%s/pc_skeleton.so'",
	          dir, dir, LV_TEST_SOURCE_DIR, dir);
	CU_ASSERT_EQUAL(rc, 0);
	free(out);

	char cfg[700];
	snprintf(cfg, sizeof cfg, "%s/config", dir);
	FILE *f = fopen(cfg, "w");
	fprintf(f,
	        "[licvault]\ndriver_path = %s/skb\n\n[driver \"skeleton\"]\nbase = %s/base\n\n"
	        "[location \"office\"]\nuri = skel://office/\n",
	        dir, dir);
	fclose(f);
	t_sh(&out, "mkdir -p '%s/base'", dir);
	free(out);
	/* the installed CLI lists it, with no environment variable */
	rc = t_sh(&out, "env -u LICVAULT_DRIVER_PATH '%s/prefix/bin/licvault' --config '%s' drivers", dir, cfg);
	CU_ASSERT_EQUAL(rc, 0);
	CU_ASSERT_PTR_NOT_NULL(strstr(out, "skeleton"));
	CU_ASSERT_PTR_NOT_NULL(strstr(out, "schemes: skel"));
	CU_ASSERT_PTR_NOT_NULL(strstr(out, "lv_file.so")); /* and the installed drivers */
	free(out);
	/* a store, a backup through the named location, a restore into a new store */
	rc = t_sh(&out, "'%s/prefix/bin/licvault' --config '%s' --store '%s/a.db' store import '%s'/examples/licenses/*.lic",
	          dir, cfg, dir, LV_TEST_SOURCE_DIR);
	CU_ASSERT_EQUAL(rc, 0);
	free(out);
	rc = t_sh(&out, "'%s/prefix/bin/licvault' --config '%s' --store '%s/a.db' backup office:", dir, cfg, dir);
	CU_ASSERT_EQUAL(rc, 0);
	CU_ASSERT_PTR_NOT_NULL(strstr(out, "backup: ok"));
	free(out);
	rc = t_sh(&out, "ls '%s/base/office' | grep -c licvault-", dir);
	CU_ASSERT_EQUAL(atoi(out), 2);
	free(out);
	rc = t_sh(&out, "'%s/prefix/bin/licvault' --config '%s' --store '%s/b.db' restore --individualize office:", dir,
	          cfg, dir);
	CU_ASSERT_EQUAL(rc, 0);
	free(out);
	rc = t_sh(&out, "'%s/prefix/bin/licvault' --config '%s' --store '%s/b.db' --json store list | wc -l", dir, cfg,
	          dir);
	CU_ASSERT_EQUAL(atoi(out), 8);
	free(out);
	/* the conformance suite passes against it */
	rc = t_sh(&out, "'%s/prefix/bin/lvconform' --config '%s' --large 8 skel://conformance/", dir, cfg);
	if (rc)
		fprintf(stderr, "\n%s\n", out);
	CU_ASSERT_EQUAL(rc, 0);
	CU_ASSERT_PTR_NOT_NULL(strstr(out, "0 failed"));
	free(out);
}

LV_SUITE(sdk, sdk, t_suite_dir_init, t_suite_dir_clean, {"skeleton driver built out of tree", test_skeleton_out_of_tree})
