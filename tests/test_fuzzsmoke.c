/*
 * A smoke round of the core's libFuzzer targets (tests/fuzz/core/): build
 * them and run each a few seconds from its seed corpus.  Fails when a target
 * crashes, leaks or does not build; and checks that a crash does fail the
 * round (a canary target).  Longer runs: tests/fuzz/core/run.sh SECONDS.
 * Skipped (with a note) when clang is not installed.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"

#define RUN_SH LV_TEST_SOURCE_DIR "/tests/fuzz/core/run.sh"
#define FUZZ_OUT LV_TEST_BUILD_DIR "/fuzz-core"

static int init(void) { return 0; }
static int clean(void) { return 0; }

static void test_smoke_round(void)
{
	char *out = NULL;
	const char *secs = getenv("LV_FUZZ_SMOKE_SECONDS");
	int st = t_sh(&out, "LV_FUZZ_BUILD='%s' '%s' %s", FUZZ_OUT, RUN_SH, secs && *secs ? secs : "3");
	if (st == 125) {
		fprintf(stderr, "\n  (no clang: fuzz smoke round skipped)\n");
		free(out);
		return;
	}
	if (st || getenv("LV_TEST_VERBOSE"))
		fprintf(stderr, "\n%s", out);
	CU_ASSERT_EQUAL(st, 0);
	const char *targets[] = {"manifest", "record", "license", "config", "uri"};
	for (size_t i = 0; i < sizeof targets / sizeof targets[0]; i++) {
		char want[64];
		snprintf(want, sizeof want, "fuzz_%s: clean", targets[i]);
		CU_ASSERT(strstr(out, want) != NULL);
	}
	free(out);
}

static void test_a_crash_fails_the_round(void)
{
	char *out = NULL;
	int st = t_sh(&out, "LV_FUZZ_BUILD='%s' LV_FUZZ_CANARY=1 '%s' 1 record", FUZZ_OUT, RUN_SH);
	if (st == 125) {
		free(out);
		return;
	}
	if (getenv("LV_TEST_VERBOSE"))
		fprintf(stderr, "\n%s", out);
	CU_ASSERT_NOT_EQUAL(st, 0);
	CU_ASSERT(strstr(out, "fuzz_canary: FAILED") != NULL);
	CU_ASSERT(strstr(out, "fuzz_record: clean") != NULL);
	free(out);
	/* the canary's crash input is not left to fail later rounds */
	t_sh(NULL, "rm -f '%s'/crashes/canary-*", FUZZ_OUT);
}

LV_SUITE(fuzzsmoke, fuzzsmoke, init, clean,
         {"smoke round of every core target", test_smoke_round},
         {"a crash fails the round", test_a_crash_fails_the_round})
