/*
 * Nothing lost over SFTP (issue 15), against a misbehaving server: OpenSSH's
 * own sftp-server behind tests/sftpliar (fixture_sftpliar.h), which drops
 * the connection at a chosen request, acknowledges writes without storing
 * them, truncates, or lies about a file's size.  The quick cases; the sweeps
 * over every request are in test_sftpliar_slow.c (label slow).
 *
 *  - a server that acknowledges writes it does not store: the driver's size
 *    check before the rename, and the core's own check of the new set (when
 *    the server lies about fstat too); the older generation stays and restores;
 *  - the connection dropped at each rename of a backup over sftp:// and
 *    bundle+sftp://, the server unreachable until the next run;
 *  - a replacing commit (the lock's refresh: two renames on SFTP v3) cut
 *    between its renames: never lost, cleanup puts it right and counts it;
 *    and through the core, a lock refresh cut there: the next backup finds
 *    the lock set aside and puts it right.
 */
#include "fixture_sftpliar.h"
#include "testutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define liar (*t_liar_suite()) /* the suite's: set up by t_liar_suite_init */

/* ---- (a) a server that acknowledges writes without storing them ------------------- */

typedef struct lie_case {
	const char *directives;    /* for the wrapper */
	const char *object;        /* the message names the object... */
	const char *expect[2];     /* ...and both sizes (%ld: the bytes sent) */
} lie_case;

static const lie_case lies[] = {
	/* the driver's check: fstat on the temporary before its rename */
	{"match .pack.tmp-\nack-writes\n", "not publishing licvault-g0000000000000002.pack",
	 {"holds 0 bytes", "where %ld were sent"}},
	{"match .pack.tmp-\ntruncate 100\n", "not publishing licvault-g0000000000000002.pack",
	 {"holds 100 bytes", "where %ld were sent"}},
	/* the server lies about fstat too: the core's own check of the new set (stat by path) */
	{"match .pack.tmp-\nack-writes\nlie-fstat\n", "licvault-g0000000000000002.pack at sftp://",
	 {"holds 0 bytes, %ld were written", "the older generations are kept"}},
	{"match .manifest.tmp-\ntruncate 20\nlie-fstat\n", "licvault-g0000000000000002.manifest at sftp://",
	 {"holds 20 bytes", "the older generations are kept"}},
};

/* The location `pristine` (the old set) copied to a fresh one, backed up over by a lying server. */
static void one_lie(lv_context *ctx, lv_store *cur, const char *pristine, unsigned long d_old, const lie_case *lc,
                    long pack)
{
	char dir[600], uri[800], msg[1024], p2[700];
	t_liar_location(&liar, dir, sizeof dir, uri, sizeof uri, "lie");
	CU_ASSERT_EQUAL_FATAL(t_sh(NULL, "cp -a '%s' '%s'", pristine, dir), 0);
	t_liar_set(&liar, "%s", lc->directives);
	CU_ASSERT_EQUAL(t_liar_run(ctx, cur, uri, 'b', LV_BACKUP_OVERWRITE, msg, sizeof msg), LV_E_IO);
	CU_ASSERT_PTR_NOT_NULL(strstr(msg, lc->object));
	for (int i = 0; i < 2; i++) {
		char e[128];
		snprintf(e, sizeof e, lc->expect[i], pack);
		CU_ASSERT_PTR_NOT_NULL(strstr(msg, e));
		if (!strstr(msg, e))
			fprintf(stderr, "\n  expected '%s' in: %s\n", e, msg);
	}
	t_liar_set(&liar, "%s", "");
	/* the previous generation stays, whole, and restores; nothing of the new one, no temporary */
	CU_ASSERT_STRING_EQUAL(t_liar_gens(ctx, uri), "1;");
	CU_ASSERT_EQUAL(t_liar_digest(&liar, ctx, uri), d_old);
	CU_ASSERT_EQUAL(t_count_dots(dir, NULL), 0);
	snprintf(p2, sizeof p2, "%s/licvault-g0000000000000002.pack", dir);
	CU_ASSERT_EQUAL(access(p2, F_OK), -1);
}

static void t_writes_not_stored(void)
{
	T_NEED_LIAR();
	lv_context *ctx = t_liar_context(&liar, "lie", "[licvault]\nverify_after_backup = no\n[service]\nrestores_per_day = 1000000\n");
	CU_ASSERT_PTR_NOT_NULL_FATAL(ctx);
	lv_store *old = t_liar_store(&liar, ctx, "lie-old", 20), *cur = t_liar_store(&liar, ctx, "lie-new", 30);
	char dir[600], uri[800], msg[1024], ref_dir[600], ref[800];
	/* the size of the new set's pack, from a clean backup */
	t_liar_location(&liar, ref_dir, sizeof ref_dir, ref, sizeof ref, "lie-ref");
	CU_ASSERT_EQUAL_FATAL(t_liar_run(ctx, cur, ref, 'b', 0, msg, sizeof msg), 0);
	char *p = t_find(ref_dir, ".pack");
	long pack = p ? t_file_size(p) : -1;
	free(p);
	CU_ASSERT_FATAL(pack > 100);
	/* the old set, kept aside */
	t_liar_location(&liar, dir, sizeof dir, uri, sizeof uri, "lie-old");
	CU_ASSERT_EQUAL_FATAL(t_liar_run(ctx, old, uri, 'b', 0, msg, sizeof msg), 0);
	unsigned long d_old = t_liar_digest(&liar, ctx, uri);
	CU_ASSERT_FATAL(d_old != 0);
	for (size_t i = 0; i < sizeof lies / sizeof *lies; i++)
		one_lie(ctx, cur, dir, d_old, &lies[i], pack);
	lv_store_free(old);
	lv_store_free(cur);
	lv_context_free(ctx);
}

/* ---- (b), (c) the connection dropped during a backup -------------------------------- */

static void t_drop_at_renames(void)
{
	T_NEED_LIAR();
	/* each rename of a backup over sftp:// (the lock's, the pack's, the manifest's), before and after
	 * the server carried it out, the server then unreachable: the dead run cannot clean up */
	const t_sweep sw = {'s', 2, 1, 1, 0, 1, "rename", NULL};
	CU_ASSERT(t_liar_sweep(&liar, &sw) >= 6);
}

static void t_drop_at_renames_bundle(void)
{
	T_NEED_LIAR();
	/* bundle+sftp://, whichever way the bundle is published (a replace, or a file of its own): after each
	 * rename (the riskier side: the server did it, the client never heard) */
	const t_sweep sw = {'b', 1, 1, 1, 0, 1, "rename", NULL};
	CU_ASSERT(t_liar_sweep(&liar, &sw) >= 2);
}

/* ---- (d) a replacing commit cut between its renames ---------------------------------- */

static void t_replace_cut(void)
{
	T_NEED_LIAR();
	lv_context *ctx = t_liar_context(&liar, "replace", NULL);
	CU_ASSERT_PTR_NOT_NULL_FATAL(ctx);
	/* at the second rename (the first one: test_sftpliar_slow.c) */
	for (int after = 0; after <= 1; after++)
		for (int refuse = 0; refuse <= 1; refuse++)
			t_liar_cut_replace(&liar, ctx, 2, after, refuse);
	lv_context_free(ctx);
}

static void t_lock_refresh_cut(void)
{
	T_NEED_LIAR();
	t_liar_cut_refresh(&liar, 1);
}

LV_SUITE(sftpliar, sftpliar, t_liar_suite_init, t_liar_suite_clean,
         {"a server that acknowledges writes it does not store", t_writes_not_stored},
         {"the connection dropped at each rename of a backup", t_drop_at_renames},
         {"the same through bundle+sftp", t_drop_at_renames_bundle},
         {"a replacing commit cut at its second rename", t_replace_cut},
         {"a lock refresh cut between its renames, the server gone until the next run", t_lock_refresh_cut})
