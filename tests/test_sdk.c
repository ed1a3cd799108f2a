/*
 * The SDK as a third-party author meets it: install licvault to a
 * temporary prefix, build the skeleton it installs (share/doc/licvault/examples) against it with
 * find_package(licvault) (and with pkg-config), configure it, and back up
 * and restore through it with the installed CLI and a named location.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "testutil.h"

#define dir t_suite_dir

static void test_skeleton_out_of_tree(void)
{
	char *out = NULL;
	int rc = t_sh(&out, "cmake --install '%s' --prefix '%s/prefix'", LV_TEST_BUILD_DIR, dir);
	CU_ASSERT_EQUAL_FATAL(rc, 0);
	free(out);
	/* the guide and the skeleton are installed with the SDK: built from there, as a driver author has them */
	char guide[700];
	snprintf(guide, sizeof guide, "%s/prefix/share/doc/licvault/writing-a-driver.md", dir);
	CU_ASSERT_EQUAL(access(guide, R_OK), 0);
	rc = t_sh(&out,
	          "cmake -S '%s/prefix/share/doc/licvault/examples/driver-skeleton' -B '%s/skb' -DCMAKE_PREFIX_PATH='%s/prefix' "
	          ">/dev/null && cmake --build '%s/skb'",
	          dir, dir, dir, dir);
	if (rc)
		fprintf(stderr, "\n%s\n", out);
	CU_ASSERT_EQUAL_FATAL(rc, 0);
	free(out);
	/* the pkg-config line of the guide and the skeleton's README works too (-Werror, --no-undefined) */
	rc = t_sh(&out,
	          "export PKG_CONFIG_PATH='%s/prefix/lib/pkgconfig' && cc -shared -fPIC -fvisibility=hidden -Wl,--no-undefined "
	          "-Wall -Werror $(pkg-config --cflags licvault-driver) "
	          "'%s/prefix/share/doc/licvault/examples/driver-skeleton/skeleton.c' "
	          "-o '%s/pc_skeleton.so' $(pkg-config --libs licvault-driver) 2>&1",
	          dir, dir, dir);
	if (rc)
		fprintf(stderr, "\n%s\n", out);
	CU_ASSERT_EQUAL(rc, 0);
	free(out);
	/* the driver exports its entry symbol and nothing else */
	rc = t_sh(&out, "nm -D --defined-only '%s/skb/lv_skeleton.so' | awk '$2 ~ /[TDB]/ {print $3}'", dir);
	CU_ASSERT_STRING_EQUAL(out, "lv_driver_entry\n");
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

/* pkg-config: the driver SDK's line carries no -llicvault; driverdir is the installed directory, clean */
static void test_pkg_config(void)
{
	char *out = NULL, want[800];
	snprintf(want, sizeof want, "%s/prefix/lib/licvault/drivers\n", dir);
	const char *pcs[] = {"licvault-driver", "licvault"};
	for (int i = 0; i < 2; i++) {
		CU_ASSERT_EQUAL(t_sh(&out, "PKG_CONFIG_PATH='%s/prefix/lib/pkgconfig' pkg-config --variable=driverdir %s", dir, pcs[i]), 0);
		CU_ASSERT_STRING_EQUAL(out, want);
		CU_ASSERT_PTR_NULL(strstr(out, "//"));
		free(out);
	}
	CU_ASSERT_EQUAL(t_sh(&out, "PKG_CONFIG_PATH='%s/prefix/lib/pkgconfig/' pkg-config --cflags --libs licvault-driver", dir), 0);
	CU_ASSERT_PTR_NULL(strstr(out, "-llicvault"));
	CU_ASSERT_PTR_NOT_NULL(strstr(out, "-I"));
	free(out);
	/* an application's line does link the library */
	CU_ASSERT_EQUAL(t_sh(&out, "PKG_CONFIG_PATH='%s/prefix/lib/pkgconfig' pkg-config --libs licvault", dir), 0);
	CU_ASSERT_PTR_NOT_NULL(strstr(out, "-llicvault"));
	free(out);
	/* the files name their directories under ${prefix}: an installed tree that was moved is found */
	CU_ASSERT_EQUAL(t_sh(&out, "rm -rf '%s/moved' && cp -a '%s/prefix' '%s/moved' && PKG_CONFIG_PATH='%s/moved/lib/pkgconfig' "
	                           "pkg-config --define-prefix --variable=driverdir licvault-driver", dir, dir, dir, dir), 0);
	snprintf(want, sizeof want, "%s/moved/lib/licvault/drivers\n", dir);
	CU_ASSERT_STRING_EQUAL(out, want);
	free(out);
}

/* A CMake project of two drivers calling zlib: lv_zforgot does not link it, lv_zlinked does. */
static int configure_zdrivers(char **out)
{
	char src[700];
	snprintf(src, sizeof src, "%s/zdrv", dir);
	t_sh(out, "mkdir -p '%s'", src);
	free(*out);
	FILE *f = fopen(t_path(src, "zdrv.c"), "w");
	fputs("#include <zlib.h>\n#include <licvault/driver.h>\n"
	      "static int z_open(const lv_host *host, lv_host_ctx *h, const char *uri, unsigned flags, void **inst)\n"
	      "{ (void)uri; (void)flags; (void)inst; return host->set_error(h, LV_E_IO, \"zlib %s\", zlibVersion()); }\n"
	      "static const lv_driver_ops ops = {.open = z_open};\n"
	      "static const char *const schemes[] = {\"zdrv\", NULL};\n"
	      "static const lv_driver d = {LV_DRIVER_INIT_HEADER, .name = \"zdrv\", .version = \"1\", .schemes = schemes, .ops = &ops};\n"
	      "LV_DRIVER_ENTRY { return &d; }\n", f);
	fclose(f);
	f = fopen(t_path(src, "CMakeLists.txt"), "w");
	fputs("cmake_minimum_required(VERSION 3.18)\nproject(zdrv C)\nfind_package(licvault REQUIRED)\n"
	      "find_package(PkgConfig REQUIRED)\npkg_check_modules(ZLIB REQUIRED IMPORTED_TARGET zlib)\n"
	      "licvault_add_driver(lv_zforgot zdrv.c)\n"
	      "licvault_add_driver(lv_zlinked zdrv.c)\ntarget_link_libraries(lv_zlinked PRIVATE PkgConfig::ZLIB)\n", f);
	fclose(f);
	return t_sh(out, "cmake -S '%s' -B '%s/zb' -DCMAKE_PREFIX_PATH='%s/prefix' 2>&1", src, dir, dir);
}

/* A driver that forgets to link one of its libraries fails to build, not to load. */
static void test_forgotten_library(void)
{
	char *out = NULL;
	CU_ASSERT_EQUAL_FATAL(configure_zdrivers(&out), 0);
	free(out);
	CU_ASSERT_NOT_EQUAL(t_sh(&out, "cmake --build '%s/zb' --target lv_zforgot 2>&1", dir), 0);
	CU_ASSERT_PTR_NOT_NULL(strstr(out, "undefined reference to `zlibVersion'"));
	free(out);
	CU_ASSERT_EQUAL(t_sh(&out, "cmake --build '%s/zb' --target lv_zlinked 2>&1", dir), 0);
	free(out);
	/* the same with the pkg-config line */
	const char *cmd = "export PKG_CONFIG_PATH='%s/prefix/lib/pkgconfig' && cc -shared -fPIC -fvisibility=hidden "
	                  "-Wl,--no-undefined $(pkg-config --cflags licvault-driver) '%s/zdrv/zdrv.c' -o '%s/zdrv/pc.so' "
	                  "$(pkg-config --libs licvault-driver %s) 2>&1";
	CU_ASSERT_NOT_EQUAL(t_sh(&out, cmd, dir, dir, dir, ""), 0);
	CU_ASSERT_PTR_NOT_NULL(strstr(out, "zlibVersion"));
	free(out);
	CU_ASSERT_EQUAL(t_sh(&out, cmd, dir, dir, dir, "zlib"), 0);
	free(out);
}

/* The installed lvconform: --help, and what it prints names checks, never "(null)" or a source file. */
static void test_lvconform_tool(void)
{
	char *out = NULL;
	CU_ASSERT_EQUAL(t_sh(&out, "'%s/prefix/bin/lvconform' --help", dir), 0);
	CU_ASSERT_PTR_NOT_NULL(strstr(out, "usage: lvconform"));
	CU_ASSERT_PTR_NOT_NULL(strstr(out, "lock "));
	CU_ASSERT_PTR_NOT_NULL(strstr(out, "history "));
	free(out);
	CU_ASSERT_EQUAL(t_sh(&out, "'%s/prefix/bin/lvconform' --large x /tmp 2>&1", dir), 2);
	free(out);
	CU_ASSERT_EQUAL(t_sh(&out, "'%s/prefix/bin/lvconform' 2>&1", dir), 2);
	CU_ASSERT_PTR_NOT_NULL(strstr(out, "usage:"));
	free(out);
	/* a failing run (a location holding a lock the suite did not write), and a passing one */
	CU_ASSERT_EQUAL(t_sh(&out, "mkdir -p '%s/lvc-real' && echo 'licvault-lock 1' > '%s/lvc-real/licvault.lock' && "
	                           "'%s/prefix/bin/lvconform' -v '%s/lvc-real' 2>&1", dir, dir, dir, dir), 1);
	CU_ASSERT_PTR_NOT_NULL(strstr(out, "preflight: the location holds licvault.lock"));
	CU_ASSERT_PTR_NOT_NULL(strstr(out, "0 passed, 1 failed"));
	CU_ASSERT_PTR_NULL(strstr(out, "(null)"));
	CU_ASSERT_PTR_NULL(strstr(out, ".c:"));
	CU_ASSERT_PTR_NULL(strstr(out, LV_TEST_SOURCE_DIR));
	free(out);
	CU_ASSERT_EQUAL(t_sh(&out, "'%s/prefix/bin/lvconform' -v --large 1 'file://%s/lvc-ok' 2>&1", dir, dir), 0);
	CU_ASSERT_PTR_NOT_NULL(strstr(out, "history (backup generations written, listed, read back, older ones removed): ok"));
	CU_ASSERT_PTR_NULL(strstr(out, "(null)"));
	free(out);
}

LV_SUITE(sdk, sdk, t_suite_dir_init, t_suite_dir_clean,
         {"skeleton driver built out of tree", test_skeleton_out_of_tree},
         {"pkg-config files", test_pkg_config},
         {"a driver that forgets a library fails to build", test_forgotten_library},
         {"lvconform installed", test_lvconform_tool})
