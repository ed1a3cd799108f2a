/*
 * Out of memory: the CLI run with an allocator that fails its Nth
 * allocation (tests/oom/failmalloc.c, preloaded), for N over a whole backup
 * and a whole restore.  Each run ends with a clear error or succeeds; none
 * dies of a signal; the location still verifies (the old set or the new
 * one) and a failed restore leaves the store as it was.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"

#define dir t_suite_dir
#define SHIM LV_TEST_BUILD_DIR "/testlib/failmalloc.so"

static int allocations(const char *args)
{
	char *out = NULL;
	t_sh(&out, "cd '%s' && LICVAULT_CONFIG=/dev/null LV_FAIL_ALLOC_COUNT=1 LD_PRELOAD='%s' '%s' %s", dir, SHIM, T_CLI,
	     args);
	const char *p = out ? strstr(out, "allocations: ") : NULL;
	int n = p ? atoi(p + 13) : 0;
	free(out);
	return n;
}

/* One run failing allocation n: the exit status (>= 128: a signal) and its output. */
static int run_failing(int n, const char *args, char **out)
{
	return t_sh(out, "cd '%s' && LICVAULT_CONFIG=/dev/null LV_FAIL_ALLOC=%d LD_PRELOAD='%s' '%s' %s; echo \"[rc=$?]\"",
	            dir, n, SHIM, T_CLI, args) ? -1 : 0;
}

static int status_of(const char *out)
{
	const char *p = out ? strstr(out, "[rc=") : NULL;
	return p ? atoi(p + 4) : -1;
}

static int cli(const char *args)
{
	char *out = NULL;
	int rc = t_sh(&out, "cd '%s' && LICVAULT_CONFIG=/dev/null '%s' %s", dir, T_CLI, args);
	free(out);
	return rc;
}

static int count_licenses(const char *store)
{
	char *out = NULL;
	char args[600];
	snprintf(args, sizeof args, "cd '%s' && LICVAULT_CONFIG=/dev/null '%s' --store %s --json store list | wc -l", dir,
	         T_CLI, store);
	t_sh(&out, "%s", args);
	int n = out ? atoi(out) : -1;
	free(out);
	return n;
}

static void sweep(const char *what, const char *args, int (*check)(void))
{
	int total = allocations(args);
	CU_ASSERT_FATAL(total > 100);
	int step = total / 150 + 1, died = 0, unclear = 0, bad_after = 0, runs = 0;
	for (int n = 1; n <= total; n += step) {
		char *out = NULL;
		run_failing(n, args, &out);
		int st = status_of(out);
		runs++;
		if (st >= 128 || st < 0) {
			died++;
			fprintf(stderr, "\n  %s: allocation %d of %d: the process died (status %d)\n", what, n, total, st);
		} else if (st != 0 && !strstr(out, "licvault: error: ") && !strstr(out, "licvault: ")) {
			unclear++;
			fprintf(stderr, "\n  %s: allocation %d: exit %d without a message: %s\n", what, n, st, out);
		}
		free(out);
		if (check && !check()) {
			bad_after++;
			fprintf(stderr, "\n  %s: allocation %d: the state afterwards is wrong\n", what, n);
		}
	}
	CU_ASSERT(runs > 50);
	CU_ASSERT_EQUAL(died, 0);
	CU_ASSERT_EQUAL(unclear, 0);
	CU_ASSERT_EQUAL(bad_after, 0);
}

static int backup_still_whole(void)
{
	/* the old set or the new one, whole; and the next run works */
	return cli("verify oom-bk") == 0;
}

static int store_all_or_nothing(void)
{
	int n = count_licenses("oom-target.db");
	int ok = n == 0 || n == 8;
	/* back to the empty store for the next round, and a fresh registry */
	char *out = NULL;
	t_sh(&out, "cd '%s' && rm -f oom-target.db oom-target.db-wal oom-target.db-shm oom-bk/licvault-registry-* oom-bk/licvault.lock",
	     dir);
	free(out);
	return ok;
}

static void test_backup_and_restore(void)
{
	T_SKIP_IF(T_SANITIZED, "the sweep preloads its own allocator, which cannot run beside a sanitizer's");
	char args[1024];
	snprintf(args, sizeof args, "-q --store oom.db store import '%s'/examples/licenses/*.lic", LV_TEST_SOURCE_DIR);
	CU_ASSERT_EQUAL_FATAL(cli(args), 0);
	CU_ASSERT_EQUAL_FATAL(cli("-q --store oom.db backup oom-bk"), 0);
	sweep("backup", "-q --store oom.db backup --overwrite oom-bk", backup_still_whole);
	sweep("restore", "-q --store oom-target.db restore --individualize oom-bk", store_all_or_nothing);
}

LV_SUITE(oom, oom, t_suite_dir_init, t_suite_dir_clean, {"allocation failures in backup and restore", test_backup_and_restore})
