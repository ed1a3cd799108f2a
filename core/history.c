/*
 * History: what a location holds, without a store (licvault list, ls,
 * forget).  Listing reads the manifests' headers only; forget prunes under
 * the lock with a backup's rules.
 */
#include "history.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lock.h"
#include "restore.h"
#include "set.h"

/* A context-level call runs as a run of its own, without events; its failure goes to the context. */
static int finish(lv_run *run, lv_location *loc, int rc)
{
	if (rc && rc != LV_E_CANCELED && !run->err.code)
		lv__run_error(run, rc, "%s", lv_strerror(rc));
	if (rc)
		lv__err_set(lv__ctx_err(), run->err.code ? run->err.code : rc, "%s", run->err.msg);
	lv__location_close(loc);
	return rc;
}

static void fill_info(lv_generation_info *gi, const lv_gen *g, const lv_manifest_hdr *h)
{
	memset(gi, 0, sizeof *gi);
	gi->generation = (int64_t)g->gen;
	gi->format = g->format;
	gi->created = h->created;
	gi->host = h->host;
	gi->machine_id = h->machine_id;
	gi->backup_id = h->backup_id;
	gi->licenses = h->count;
	gi->restricted = h->restricted;
	gi->bytes = g->manifest_size != UINT64_MAX && g->pack_size != UINT64_MAX && g->has_pack
	                ? g->manifest_size + g->pack_size : UINT64_MAX;
}

/*
 * A failure that says nothing of the generation read: the run could not look
 * (canceled, no memory, a broken driver, a wrong passphrase or key, a host
 * key or a config to put right).  It fails the listing or the forget with
 * its own code; anything else marks the generation damaged.
 */
static int not_the_generations(int rc)
{
	return rc == LV_E_CANCELED || rc == LV_E_NOMEM || rc == LV_E_DRIVER_ABI || rc == LV_E_AUTH ||
	       rc == LV_E_HOST_KEY || rc == LV_E_CONFIG;
}

/* One generation's entry: its header, and with verify, every object checked. */
static int list_one(lv_run *run, lv_location *loc, const lv_gen *g, unsigned flags,
                    int (*cb)(const lv_generation_info *, void *), void *ud)
{
	lv_manifest_hdr h = {0};
	lv_generation_info gi;
	lv_err saved;
	lv__err_save(&run->err, &saved);
	int rc = lv__set_read_header(run, loc, g, &h);
	if (!rc && (flags & LV_LIST_VERIFY))
		rc = lv__verify_generation(run, loc, g->gen, NULL);
	fill_info(&gi, g, &h);
	char problem[LV_ERRMSG_MAX];
	snprintf(problem, sizeof problem, "%s", run->err.msg);
	lv__err_restore(&run->err, &saved);
	if (not_the_generations(rc))
		return lv__run_error(run, rc, "%s", problem); /* not the generation's fault: the listing fails */
	gi.whole = rc ? LV_GEN_DAMAGED : (flags & LV_LIST_VERIFY) ? LV_GEN_WHOLE : LV_GEN_UNCHECKED;
	gi.problem = rc ? problem : NULL;
	return cb(&gi, ud);
}

int lv_generations_list(lv_context *ctx, const char *uri, unsigned flags,
                        int (*cb)(const lv_generation_info *, void *), void *ud)
{
	if (!ctx || !uri || !cb || (flags & ~LV_LIST_VERIFY))
		return LV_E_INVALID_ARG;
	lv__ctx_clear();
	lv_run run;
	lv__run_init(&run, ctx, NULL, NULL);
	lv_location *loc = NULL;
	lv_set_scan scan = {0};
	int rc = lv__location_open(ctx, &run, NULL, uri, LV_OPEN_READ, &loc);
	if (!rc)
		rc = lv__set_scan(&run, loc, &scan);
	for (size_t i = 0; !rc && i < scan.n_strays; i++) {
		char why[600];
		snprintf(why, sizeof why, "%s looks like a backup object but its generation number is out of range",
		         scan.strays[i]);
		lv_generation_info gi = {.generation = -1, .bytes = UINT64_MAX, .whole = LV_GEN_DAMAGED, .problem = why,
		                         .host = "", .machine_id = "", .backup_id = ""};
		rc = cb(&gi, ud);
	}
	for (size_t i = 0; !rc && i < scan.n_gens; i++)
		if (scan.gens[i].has_manifest)
			rc = list_one(&run, loc, &scan.gens[i], flags, cb, ud);
	lv__set_scan_free(&scan);
	return finish(&run, loc, rc);
}

/* ---- the licenses of a generation ---------------------------------------- */

typedef struct ls_state {
	int (*cb)(const lv_license *, void *);
	void *ud;
} ls_state;

static int ls_cb(const lv_license *lic, uint64_t index, void *p)
{
	ls_state *st = p;
	(void)index;
	return st->cb(lic, st->ud);
}

int lv_generation_licenses(lv_context *ctx, const char *uri, int64_t generation,
                           int (*cb)(const lv_license *, void *), void *ud)
{
	if (!ctx || !uri || !cb || generation < 0 || (uint64_t)generation > LV_GEN_MAX)
		return LV_E_INVALID_ARG;
	lv__ctx_clear();
	lv_run run;
	lv__run_init(&run, ctx, NULL, NULL);
	lv_location *loc = NULL;
	int rc = lv__location_open(ctx, &run, NULL, uri, LV_OPEN_READ, &loc);
	lv_set set = {.run = &run, .loc = loc, .want = (uint64_t)generation};
	ls_state st = {cb, ud};
	if (!rc && !(rc = lv__set_open(&set)))
		rc = lv__set_walk(&set, ls_cb, &st);
	lv__set_close(&set);
	return finish(&run, loc, rc);
}

/* ---- forget ------------------------------------------------------------------ */

/* Which generations go: marks[i] for scan->gens[i]. */
static int forget_targets(lv_run *run, lv_location *loc, const lv_set_scan *scan, unsigned keep, uint64_t gen,
                          char *marks, size_t *n)
{
	size_t have = lv__scan_count(scan);
	*n = 0;
	if (!keep) {
		const lv_gen *g = lv__scan_find(scan, gen);
		if (!g || !g->has_manifest)
			return lv__run_error(run, LV_E_NOT_FOUND, "%s holds no generation %llu", loc->uri, (unsigned long long)gen);
		marks[g - scan->gens] = 1;
		*n = 1;
		return 0;
	}
	for (size_t i = 0; i < scan->n_gens && have > keep; i++)
		if (scan->gens[i].has_manifest) {
			marks[i] = 1;
			(*n)++;
			have--;
		}
	return 0;
}

/* The last generation that verifies is never removed: one that stays must verify. */
static int one_stays_whole(lv_run *run, lv_location *loc, const lv_set_scan *scan, const char *marks)
{
	size_t left = 0;
	for (size_t i = scan->n_gens; i-- > 0;) {
		if (!scan->gens[i].has_manifest || marks[i])
			continue;
		left++;
		lv_err saved;
		lv__err_save(&run->err, &saved);
		int rc = lv__verify_generation(run, loc, scan->gens[i].gen, NULL);
		char why[LV_ERRMSG_MAX];
		snprintf(why, sizeof why, "%s", run->err.msg);
		lv__err_restore(&run->err, &saved);
		if (!rc)
			return 0;
		if (not_the_generations(rc))
			return lv__run_error(run, rc, "%s", why);
	}
	return lv__run_error(run, LV_E_INVALID_ARG,
	                     left ? "no generation that would stay at %s verifies: forgetting would leave no whole backup; nothing was removed"
	                          : "forgetting would leave no generation at %s; nothing was removed",
	                     loc->uri);
}

static int forget_remove(lv_run *run, lv_location *loc, const lv_set_scan *scan, const char *marks, unsigned flags,
                         int (*cb)(const lv_generation_info *, void *), void *ud)
{
	for (size_t i = 0; i < scan->n_gens; i++) {
		if (!marks[i])
			continue;
		const lv_gen *g = &scan->gens[i];
		lv_manifest_hdr h = {0};
		lv_err saved;
		lv__err_save(&run->err, &saved);
		lv__set_read_header(run, loc, g, &h); /* for the report only */
		lv__err_restore(&run->err, &saved);
		lv_generation_info gi;
		fill_info(&gi, g, &h);
		if (!(flags & LV_FORGET_DRY_RUN)) {
			int rc = lv__set_remove_gen(run, loc, g);
			if (rc)
				return rc;
		}
		if (cb && cb(&gi, ud))
			break;
	}
	return 0;
}

/* Mark the generations that go, check that a whole one stays, remove the marked ones. */
static int forget_marked(lv_run *run, lv_location *loc, const lv_set_scan *scan, unsigned keep, uint64_t gen,
                         unsigned flags, int (*cb)(const lv_generation_info *, void *), void *ud)
{
	char *marks = calloc(scan->n_gens + 1, 1);
	if (!marks)
		return lv__run_error(run, LV_E_NOMEM, "out of memory");
	size_t n = 0;
	int rc = forget_targets(run, loc, scan, keep, gen, marks, &n);
	if (!rc && n)
		rc = one_stays_whole(run, loc, scan, marks);
	if (!rc && n)
		rc = forget_remove(run, loc, scan, marks, flags, cb, ud);
	free(marks);
	if (!rc && n && !(flags & LV_FORGET_DRY_RUN) && loc->ops->sync && (rc = loc->ops->sync(loc->inst)))
		rc = lv__drv_rc(run, loc, rc, "sync", "");
	return rc;
}

int lv_generations_forget(lv_context *ctx, const char *uri, unsigned keep, int64_t generation, unsigned flags,
                          int (*cb)(const lv_generation_info *, void *), void *ud)
{
	if (!ctx || !uri || (flags & ~LV_FORGET_DRY_RUN) || (!keep && generation <= 0) || (keep && generation))
		return LV_E_INVALID_ARG;
	lv__ctx_clear();
	lv_run run;
	lv__run_init(&run, ctx, NULL, NULL);
	lv_location *loc = NULL;
	lv_set_scan scan = {0};
	int locked = 0;
	int dry = (flags & LV_FORGET_DRY_RUN) != 0;
	int rc = lv__location_open(ctx, &run, NULL, uri, dry ? LV_OPEN_READ : LV_OPEN_WRITE, &loc);
	if (!rc && !dry)
		rc = lv__lock_take(&run, loc, "forget", &locked);
	if (!rc)
		rc = lv__set_scan(&run, loc, &scan);
	if (!rc && locked)
		lv__set_tidy(&run, loc, &scan);
	if (!rc)
		rc = forget_marked(&run, loc, &scan, keep, (uint64_t)generation, flags, cb, ud);
	lv__set_scan_free(&scan);
	if (loc)
		lv__lock_release(&run, loc, locked);
	return finish(&run, loc, rc);
}
