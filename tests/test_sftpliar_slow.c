/*
 * The long sweeps of test_sftpliar.c (label slow: `ctest -L slow`): the
 * connection dropped at each request of a clean backup in turn, before or
 * after the server carried it out, the server reachable again at once or
 * only for the next run (sweep_all), over sftp:// and bundle+sftp://; a replacing
 * commit cut at each rename; a lock refresh cut with the server reachable.
 * After each drop the checks of t_liar_sweep (fixture_sftpliar.h).
 */
#include "fixture_sftpliar.h"
#include "testutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define liar (*t_liar_suite()) /* the suite's: set up by t_liar_suite_init */

/*
 * The requests of a clean backup (about 80), each dropped once: request i
 * with the kind of drop i % 4 (before or after the server carried it out,
 * the server reachable again at once or only for the next run), so the
 * four kinds are staggered over the whole run.  LV_TEST_FULL_SWEEP=1 drops
 * every request in all four ways (about three times as long: 3 minutes
 * here, so not in the default run).
 */
static void sweep_all(int kind)
{
	const char *full = getenv("LV_TEST_FULL_SWEEP");
	int made = 0;
	if (full && !strcmp(full, "1")) {
		for (int refuse = 0; refuse <= 1; refuse++) {
			const t_sweep sw = {kind, 2, refuse, 1, 0, 1, NULL, NULL};
			made += t_liar_sweep(&liar, &sw);
		}
		CU_ASSERT(made >= 160);
		return;
	}
	for (int m = 0; m < 4; m++) {
		const t_sweep sw = {kind, m & 1, m >> 1, 1 + m, 0, 4, NULL, NULL};
		made += t_liar_sweep(&liar, &sw);
	}
	CU_ASSERT(made >= 40);
}

static void t_sweep_sftp(void)
{
	T_NEED_LIAR();
	sweep_all('s');
}

static void t_sweep_bundle(void)
{
	T_NEED_LIAR();
	sweep_all('b');
}

static void t_replace_cut_all(void)
{
	T_NEED_LIAR();
	lv_context *ctx = t_liar_context(&liar, "replace", NULL);
	CU_ASSERT_PTR_NOT_NULL_FATAL(ctx);
	for (int k = 1; k <= 2; k++)
		for (int after = 0; after <= 1; after++)
			for (int refuse = 0; refuse <= 1; refuse++)
				t_liar_cut_replace(&liar, ctx, k, after, refuse);
	lv_context_free(ctx);
}

static void t_lock_refresh_cut_reachable(void)
{
	T_NEED_LIAR();
	t_liar_cut_refresh(&liar, 0);
}

LV_SUITE(sftpliar_slow, sftpliar_slow, t_liar_suite_init, t_liar_suite_clean,
         {"sftp://: the connection dropped at each request of a backup", t_sweep_sftp},
         {"bundle+sftp://: the same", t_sweep_bundle},
         {"a replacing commit cut at each of its renames", t_replace_cut_all},
         {"a lock refresh cut between its renames, the server reachable", t_lock_refresh_cut_reachable})
