/* The driver conformance suite against the shipped drivers available here. */
#include <stdio.h>
#include <stdlib.h>

#include "conformance.h"
#include "testutil.h"

static void test_file_driver(void)
{
	char *dir = t_tmpdir();
	char uri[700];
	snprintf(uri, sizeof uri, "file://%s/conf", dir);
	lv_context *ctx = t_context();
	int ran = 0;
	CU_ASSERT_EQUAL(lv_conformance_run(ctx, uri, 64, getenv("LV_TEST_VERBOSE") != NULL, &ran), 0);
	CU_ASSERT(ran >= 6);
	/* a plain path too */
	snprintf(uri, sizeof uri, "%s/conf-plain", dir);
	CU_ASSERT_EQUAL(lv_conformance_run(ctx, uri, 0, 0, &ran), 0);
	lv_context_free(ctx);
	free(dir);
}

LV_SUITE(conformance, conformance, NULL, NULL, {"file driver", test_file_driver})
