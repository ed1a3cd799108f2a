/*
 * The test runner: every suite registers itself (LV_SUITE); `lvtest NAME`
 * runs the suites of tests/test_NAME.c, `lvtest` runs them all.
 */
#include <CUnit/Basic.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "testutil.h"

static lv_test_suite *suites;

void lv_test_register(lv_test_suite *s)
{
	/* append, to keep file order */
	lv_test_suite **p = &suites;
	while (*p)
		p = &(*p)->next;
	s->next = NULL;
	*p = s;
}

/*
 * Under the sanitizer job (.ci/sanitize sets LV_SANITIZER_LOGDIR), each run
 * of `lvtest SUITE` writes its reports, and its children's, under
 * LOGDIR/SUITE/, so that a report is traced to its suite: the runner starts
 * itself again with the sanitizers' log_path pointing there.  A suite named
 * in LV_SANITIZER_FULL_UNWIND (space-separated) also gets
 * fast_unwind_on_malloc=0 (.ci/sanitize says why).
 */
static int named_in(const char *list, const char *name)
{
	size_t n = strlen(name);
	for (const char *p = list; p && *p;) {
		p += strspn(p, " ");
		size_t w = strcspn(p, " ");
		if (w == n && !strncmp(p, name, n))
			return 1;
		p += w;
	}
	return 0;
}

static void sanitizer_logs_per_suite(int argc, char **argv)
{
	const char *dir = getenv("LV_SANITIZER_LOGDIR");
	if (!dir || !*dir || getenv("LV_SANITIZER_SUITE") || argc < 2)
		return;
	char sub[4096], opt[8192];
	snprintf(sub, sizeof sub, "%s/%s", dir, argv[1]);
	if (mkdir(sub, 0755) != 0 && errno != EEXIST)
		return;
	static const char *const vars[][2] = {{"ASAN_OPTIONS", "asan"}, {"UBSAN_OPTIONS", "ubsan"},
	                                      {"TSAN_OPTIONS", "tsan"}};
	for (size_t i = 0; i < sizeof vars / sizeof vars[0]; i++) {
		const char *v = getenv(vars[i][0]);
		if (!v)
			continue;
		/* a later log_path overrides the earlier one */
		snprintf(opt, sizeof opt, "%s:log_path=%s/%s%s", v, sub, vars[i][1],
		         !strcmp(vars[i][0], "ASAN_OPTIONS") && named_in(getenv("LV_SANITIZER_FULL_UNWIND"), argv[1])
		             ? ":fast_unwind_on_malloc=0"
		             : "");
		setenv(vars[i][0], opt, 1);
	}
	setenv("LV_SANITIZER_SUITE", argv[1], 1);
	execv("/proc/self/exe", argv);
}

int main(int argc, char **argv)
{
	sanitizer_logs_per_suite(argc, argv);
	if (CU_initialize_registry() != CUE_SUCCESS)
		return 2;
	int added = 0;
	for (lv_test_suite *s = suites; s; s = s->next) {
		if (argc > 1) {
			int want = 0;
			for (int i = 1; i < argc; i++)
				if (!strcmp(argv[i], s->file) || !strcmp(argv[i], s->name))
					want = 1;
			if (!want)
				continue;
		}
		CU_pSuite cs = CU_add_suite(s->name, s->init, s->clean);
		for (const lv_test_case *c = s->cases; c->name; c++)
			CU_add_test(cs, c->name, c->fn);
		added++;
	}
	if (!added) {
		fprintf(stderr, "lvtest: no suite named %s\n", argc > 1 ? argv[1] : "(any)");
		CU_cleanup_registry();
		return 2;
	}
	CU_basic_set_mode(getenv("LV_TEST_VERBOSE") ? CU_BRM_VERBOSE : CU_BRM_NORMAL);
	CU_basic_run_tests();
	unsigned failed = CU_get_number_of_failures() + CU_get_number_of_tests_failed();
	unsigned suite_fail = CU_get_number_of_suites_failed();
	CU_cleanup_registry();
	return failed || suite_fail ? 1 : 0;
}
