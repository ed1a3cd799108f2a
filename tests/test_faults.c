/*
 * Fault injection (issue 8): every step of a small backup and of a small
 * restore is made to fail, through the test driver "fault" (tests/drivers/
 * fault.c) stacked over file://, for several errors, before and after the
 * step is forwarded to the file driver; also short writes, premature ends
 * of reads, delays, and a store locked by another connection.
 *
 * After every injected fault:
 *  - the run ends with a clear error (non-empty lv_restorer_last_error), or
 *    succeeds when the fault hit a step whose failure the core may ignore
 *    (removing an older generation or the lock);
 *  - the location restores exactly the old set or the new set, never a mix,
 *    a subset or nothing; and the old set when the fault came before the
 *    new manifest was published;
 *  - a failed restore leaves the store unchanged (t_store_digest);
 *  - no temporaries are left (no name starting with '.'), and the licvault
 *    objects are exactly one set's two objects (more only when the fault hit
 *    the removal of an older generation, which a later backup cleans up).
 *
 * The fault driver counts the calls of each location it opens from 1 (open
 * is step 1); a clean run with `trace` tells the test how many steps there are.
 */
#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "testutil.h"

#define pth(name) t_path(dir, (name))
#define make_target(p) t_make_target(ctx, (p), target_kids, 3)
/* Make the target store: individualized, two licenses of its own and one key ID the backups also hold. */
static const char *const target_kids[] = {"own-1", "own-2", "kid-000001"};

#define copy_file t_copy_file
#define empty_dir t_empty_dir
#define copy_dir(from, to) t_copy_dir((from), (to), 0)

static char *dir;      /* everything of this suite */
static char drvdir[600];
static lv_context *ctx;
static unsigned long dig_t0, dig_old, dig_new;  /* target store as made; after restoring old / new */
static int verbose;

/* What restores from the folder d into a copy of the target store (0 when nothing does). */
static unsigned long restore_digest(const char *d, int *rc_out)
{
	char uri[800];
	snprintf(uri, sizeof uri, "file://%s", d);
	return t_restore_digest(ctx, pth("t0.db"), pth("check.db"), uri, rc_out);
}

static void sh(const char *fmt, const char *a, const char *b)
{
	char *out = NULL;
	t_sh(&out, fmt, a, b);
	free(out);
}

/* Load a config made of `body` (plus a generous per-day restore limit) into the suite's context. */
static int load_conf(const char *body)
{
	char *p = pth("fault.conf");
	FILE *f = fopen(p, "w");
	if (!f)
		return -1;
	/* keep = 1: a backup prunes the older generation, so every step of the prune is swept too */
	fprintf(f, "[licvault]\nkeep = 1\n[service]\nrestores_per_day = 1000000\n%s", body ? body : "");
	fclose(f);
	return lv_context_load_config(ctx, p);
}

static int fault_conf(const char *op, int nth, const char *mode, const char *error, const char *when,
                      const char *extra)
{
	char body[1024];
	snprintf(body, sizeof body, "[driver \"fault\"]\nop = %s\nnth = %d\nmode = %s\nerror = %s\nwhen = %s\n%s",
	         op, nth, mode, error, when, extra ? extra : "");
	return load_conf(body);
}

/* One step of a traced run. */
typedef struct step {
	char op[32];
	char name[128];
} step;

/* Run `kind` cleanly through fault+ with a trace; fill steps[1..n]; returns n. */
static int trace_steps(int kind, lv_store *s, const char *uri, step *steps, int max)
{
	char *tp = pth("trace");
	unlink(tp);
	char extra[800];
	snprintf(extra, sizeof extra, "trace = %s\n", tp);
	fault_conf("none", 1, "fail", "IO", "before", extra);
	int rc = kind == 'b' ? t_backup(ctx, s, uri, LV_BACKUP_OVERWRITE, NULL)
	                     : t_restore(ctx, s, uri, LV_RESTORE_INDIVIDUALIZE, NULL);
	CU_ASSERT_EQUAL(rc, 0);
	FILE *f = fopen(tp, "r");
	if (!f)
		return 0;
	int n = 0;
	char line[400];
	while (fgets(line, sizeof line, f)) {
		int no;
		char op[32], name[200];
		unsigned long k;
		if (sscanf(line, "%d %31s %lu %199s", &no, op, &k, name) == 4 && no == n + 1 && n + 1 < max) {
			n++;
			snprintf(steps[n].op, sizeof steps[n].op, "%s", op);
			snprintf(steps[n].name, sizeof steps[n].name, "%s", name);
		}
	}
	fclose(f);
	load_conf(NULL);
	return n;
}

/* What a location directory holds. */
typedef struct loc_state {
	int temporaries;          /* names starting with '.' */
	int lock;                 /* licvault.lock present */
	int n_set;                /* licvault-<gen>.pack/.manifest objects */
	int gens[8][2];           /* gen, kind bitmask (1 pack, 2 manifest) */
	int n_gens;
	char listing[2048];
} loc_state;

static void scan_dir(const char *d, loc_state *st)
{
	memset(st, 0, sizeof *st);
	DIR *dd = opendir(d);
	if (!dd)
		return;
	struct dirent *de;
	size_t off = 0;
	while ((de = readdir(dd))) {
		const char *n = de->d_name;
		if (!strcmp(n, ".") || !strcmp(n, ".."))
			continue;
		if (off < sizeof st->listing - 200)
			off += (size_t)snprintf(st->listing + off, sizeof st->listing - off, "%s ", n);
		if (n[0] == '.') {
			st->temporaries++;
			continue;
		}
		if (!strcmp(n, "licvault.lock")) {
			st->lock = 1;
			continue;
		}
		unsigned long long g;
		char ext[32];
		if ((sscanf(n, "licvault-g%16llx.%31s", &g, ext) == 2 || sscanf(n, "licvault-%16llx.%31s", &g, ext) == 2) &&
		    strncmp(n, "licvault-registry", 17)) {
			st->n_set++;
			int kind = !strcmp(ext, "pack") ? 1 : !strcmp(ext, "manifest") ? 2 : 4;
			int i;
			for (i = 0; i < st->n_gens; i++)
				if (st->gens[i][0] == (int)g)
					break;
			if (i == st->n_gens && st->n_gens < 8) {
				st->gens[i][0] = (int)g;
				st->gens[i][1] = 0;
				st->n_gens++;
			}
			if (i < 8)
				st->gens[i][1] |= kind;
		}
	}
	closedir(dd);
}

static int init(void)
{
	verbose = getenv("LV_TEST_VERBOSE") != NULL;
	/* tmpfs when there is one: the sweeps are about logic, and every commit fsyncs */
	dir = t_tmpdir_fast("lvfaults");
	if (!dir)
		return 1;
	snprintf(drvdir, sizeof drvdir, "%s/drv", dir);
	/* only fault.so: the test driver directory also holds openfail.so, which claims "file" */
	sh("mkdir -p '%s'%s", drvdir, "");
	sh("cp '%s' '%s'", LV_TEST_BUILD_DIR "/testdrivers/fault.so", drvdir);
	setenv("LICVAULT_CONFIG", "/nonexistent-licvault-config", 0);
	if (lv_context_new(&ctx))
		return 1;
	lv_context_add_driver_dir(ctx, drvdir);
	lv_context_add_driver_dir(ctx, LV_TEST_DRIVER_DIR);
	if (load_conf(NULL))
		return 1;
	/* the old set (6 licenses, 5 backed up) and the new one (8, 7 backed up) */
	lv_store *a = NULL, *b = NULL;
	if (t_make_store(ctx, pth("old.db"), 6, &a) || t_make_store(ctx, pth("new.db"), 8, &b))
		return 1;
	char uri[800];
	snprintf(uri, sizeof uri, "file://%s", pth("loc-old"));
	int rc = t_backup(ctx, a, uri, 0, NULL);
	snprintf(uri, sizeof uri, "file://%s", pth("loc-new"));
	rc = rc ? rc : t_backup(ctx, b, uri, 0, NULL);
	lv_store_free(a);
	lv_store_free(b);
	if (rc || make_target(pth("t0.db")))
		return 1;
	dig_t0 = t_path_digest(ctx, pth("t0.db"));   /* a target holds licenses: 0 when it cannot be opened */
	if (!dig_t0)
		return 1;
	/* the backups are gen 1; the pristine copies used by every step */
	copy_dir(pth("loc-old"), pth("pristine-old"));
	copy_dir(pth("loc-new"), pth("pristine-new"));
	dig_old = restore_digest(pth("loc-old"), NULL);
	dig_new = restore_digest(pth("loc-new"), NULL);
	sh("rm -rf '%s' '%s'", pth("loc-old"), pth("loc-new"));
	return dig_old && dig_new && dig_old != dig_new && dig_old != dig_t0 ? 0 : 1;
}

static int clean(void)
{
	lv_context_free(ctx);
	free(dir);
	return 0;
}

static void reset_loc(const char *pristine)
{
	copy_dir(pristine, pth("loc"));
}

/* IO is swept before and after every step; the others before it. */
static const char *const errors[] = {"IO", "NO_SPACE", "EXISTS", "NOT_FOUND", "CANCELED", "NOMEM"};
#define N_ERRORS (sizeof errors / sizeof errors[0])

static int failures;

#define CHECK(cond, what) T_CHECK(failures, label, cond, what)

/* The step a case faults: the nth call of `op` ("any": the nth step; publish counts as commit). */
static int resolve_step(const step *steps, int n_steps, const char *op, int n)
{
	if (!strcmp(op, "any"))
		return n <= n_steps ? n : 0;
	const char *cop = !strcmp(op, "publish") || !strcmp(op, "rename") ? "commit" : op;
	for (int i = 1, k = 0; i <= n_steps; i++)
		if (!strcmp(steps[i].op, cop) && ++k == n)
			return i;
	return 0;
}

static step bsteps[64], rsteps[64];
static int n_bsteps, n_rsteps, man_commit;

/* Is step gi the sync that makes the lock's removal durable (after the remove of the lock)? */
static int after_lock_release(const step *steps, int n, int gi)
{
	if (gi <= 0 || strcmp(steps[gi].op, "sync"))
		return 0;
	for (int i = gi - 1; i > 0 && i < n; i--)
		if (!strcmp(steps[i].op, "remove") && !strcmp(steps[i].name, "licvault.lock"))
			return 1;
	return 0;
}

/* One run of store s ('b' or 'r') at the faulted location; the run's message into msg. */
static int faulted_run(lv_store *s, int kind, unsigned flags, char *msg, size_t cap)
{
	lv_restorer *r = NULL;
	CU_ASSERT_EQUAL_FATAL(lv_restorer_new(&r, ctx, s), 0);
	char uri[800];
	snprintf(uri, sizeof uri, "fault+file://%s", pth("loc"));
	lv_restorer_set_string(r, kind == 'b' ? LV_PROP_BACKUP_PATH : LV_PROP_RESTORE_PATH, uri);
	int rc = t_run(r, kind, flags, NULL);
	snprintf(msg, cap, "%s", lv_restorer_last_error(r));
	lv_restorer_free(r);
	return rc;
}

/* The location after a faulted run (into *st): no temporaries, and a lock only where a fault may leave one. */
static void check_leftovers(const char *label, loc_state *st, const char *sop, int lock_step, int after)
{
	scan_dir(pth("loc"), st);
	CHECK(st->temporaries == 0, "no temporaries left");
	if (st->lock)
		/* a lock is left only when removing it failed, or when its commit failed after
		 * publishing; it names no live run, so the next run takes it over (checked below:
		 * the restore runs with the lock in place) */
		/* ... or when reading it back at release failed (the run cannot tell it is still its own) */
		CHECK(lock_step && (!strcmp(sop, "remove") || (!strcmp(sop, "commit") && after) || !strcmp(sop, "read") ||
		                    !strcmp(sop, "read_open")),
		      "the lock is left only when removing, publishing or reading it back failed");
}

/*
 * One faulty backup of the new set over the old set; check the location.
 */
static void backup_case(const char *op, int n, const char *mode, const char *error, const char *when)
{
	int gi = resolve_step(bsteps, n_bsteps, op, n);
	const char *sop = gi ? bsteps[gi].op : "", *sname = gi ? bsteps[gi].name : "";
	int after = !strcmp(when, "after") || !strcmp(op, "publish");
	int lock_step = !strcmp(sname, "licvault.lock") || after_lock_release(bsteps, n_bsteps, gi);
	int man_step = strstr(sname, ".manifest") != NULL;
	char label[300];
	snprintf(label, sizeof label, "backup op=%s n=%d mode=%s error=%s when=%s (step %d: %s %s)", op, n, mode,
	         error, when, gi, sop, sname);
	reset_loc(pth("pristine-old"));
	fault_conf(op, n, mode, error, when, NULL);
	lv_store *s = NULL;
	CU_ASSERT_EQUAL_FATAL(lv_store_open(&s, ctx, pth("new.db"), 0), 0);
	char msg[1100];
	int rc = faulted_run(s, 'b', LV_BACKUP_OVERWRITE, msg, sizeof msg);
	lv_store_free(s);
	load_conf(NULL);
	if (verbose)
		fprintf(stderr, "\n  %s -> %s: %s", label, lv_error_name(rc), msg);

	if (rc)
		CHECK(msg[0] != '\0', "a failed run names what failed");
	else
		/* faults the core may ride over: removing older objects or the lock (a warning), and
		 * the lock itself (a location that cannot hold one is used without it) */
		CHECK(!strcmp(mode, "delay") || !strcmp(sop, "remove") || lock_step || !strcmp(sop, "abort") ||
		      (!strcmp(sop, "list") && !strcmp(error, "NOT_FOUND")),
		      "the run fails when a step it needs fails");

	loc_state st;
	check_leftovers(label, &st, sop, lock_step, after);
	int whole_old = st.n_gens == 1 && st.gens[0][0] == 1 && st.gens[0][1] == 3;
	int whole_new = st.n_gens == 1 && st.gens[0][0] == 2 && st.gens[0][1] == 3;
	int newest_whole = 0;
	for (int i = 0; i < st.n_gens; i++)
		if (st.gens[i][0] == 2 && st.gens[i][1] == 3)
			newest_whole = 1;
	int ok_objects = whole_old || whole_new ||
	                 (rc == 0 && !strcmp(sop, "remove") && !lock_step && newest_whole && st.n_set <= 4);
	/* a commit that failed after publishing (op=publish, when=after) is taken back by the core:
	 * the manifest removed (or, when that fails, kept with its pack), the pack removed */
	CHECK(ok_objects, "exactly one set's two objects at the location");
	if (!ok_objects)
		fprintf(stderr, "  [%s] listing: %s\n", label, st.listing);

	int rrc = 0;
	unsigned long d = restore_digest(pth("loc"), &rrc);
	int restores_whole = d == dig_old || d == dig_new;
	CHECK(restores_whole, "the location restores the old set or the new set, whole");
	if (!restores_whole)
		fprintf(stderr, "  [%s] restore after the fault: %s; listing: %s\n", label, lv_error_name(rrc), st.listing);
	/* a manifest commit reported failed is taken back: the old set */
	if (rc && !strcmp(sop, "commit") && man_step && rc != LV_E_BUSY)
		CHECK(d == dig_old, "a backup whose manifest commit failed leaves the old set");
	if (rc && gi && gi < man_commit)
		CHECK(d == dig_old, "a backup that failed before its manifest was published leaves the old set");
	if (rc == 0)
		CHECK(d == dig_new, "a successful backup restores the new set");
}

static void restore_case(const char *op, int n, const char *mode, const char *error, const char *when)
{
	int gi = resolve_step(rsteps, n_rsteps, op, n);
	const char *sop = gi ? rsteps[gi].op : "", *sname = gi ? rsteps[gi].name : "";
	int after = !strcmp(when, "after") || !strcmp(op, "publish");
	int lock_step = !strcmp(sname, "licvault.lock");
	char label[300];
	snprintf(label, sizeof label, "restore op=%s n=%d mode=%s error=%s when=%s (step %d: %s %s)", op, n, mode,
	         error, when, gi, sop, sname);
	reset_loc(pth("pristine-new"));
	copy_file(pth("t0.db"), pth("t.db"));
	fault_conf(op, n, mode, error, when, NULL);
	lv_store *s = NULL;
	CU_ASSERT_EQUAL_FATAL(lv_store_open(&s, ctx, pth("t.db"), 0), 0);
	char msg[1100];
	int rc = faulted_run(s, 'r', 0, msg, sizeof msg);
	unsigned long d = t_store_digest(s);
	lv_store_free(s);
	load_conf(NULL);
	if (verbose)
		fprintf(stderr, "\n  %s -> %s: %s", label, lv_error_name(rc), msg);

	if (rc) {
		CHECK(msg[0] != '\0', "a failed run names what failed");
		CHECK(d == dig_t0, "a failed restore leaves the store unchanged");
	} else {
		CHECK(d == dig_new, "a successful restore holds the whole set");
		/* faults a restore may ride over: the lock, removals, the registry's sync, stat (a size
		 * hint), and a premature end that hit the read which was the end anyway */
		CHECK(!strcmp(mode, "delay") || (!strcmp(mode, "short") && !strcmp(sop, "read")) || lock_step || !strcmp(sop, "remove") || !strcmp(sop, "sync") ||
		      !strcmp(sop, "stat") || !strcmp(sop, "abort") || (!strcmp(sop, "list") && !strcmp(error, "NOT_FOUND")),
		      "the run fails when a step it needs fails");
	}
	loc_state st;
	check_leftovers(label, &st, sop, lock_step, after);
	CHECK(st.n_gens == 1 && st.gens[0][0] == 1 && st.gens[0][1] == 3, "a restore leaves the backup set as it was");
	if (st.temporaries || st.n_gens != 1)
		fprintf(stderr, "  [%s] listing: %s\n", label, st.listing);
	/* and the backup still restores whole */
	CHECK(restore_digest(pth("loc"), NULL) == dig_new, "the backup still restores whole after a failed restore");
}

static void learn_steps(void)
{
	if (n_bsteps)
		return;
	reset_loc(pth("pristine-old"));
	lv_store *s = NULL;
	lv_store_open(&s, ctx, pth("new.db"), 0);
	char uri[800];
	snprintf(uri, sizeof uri, "fault+file://%s", pth("loc"));
	n_bsteps = trace_steps('b', s, uri, bsteps, 64);
	lv_store_free(s);
	for (int i = 1; i <= n_bsteps; i++)
		if (!strcmp(bsteps[i].op, "commit") && strstr(bsteps[i].name, ".manifest"))
			man_commit = i;
	reset_loc(pth("pristine-new"));
	copy_file(pth("t0.db"), pth("t.db"));
	lv_store_open(&s, ctx, pth("t.db"), 0);
	n_rsteps = trace_steps('r', s, uri, rsteps, 64);
	lv_store_free(s);
	if (verbose) {
		fprintf(stderr, "\n  backup steps:");
		for (int i = 1; i <= n_bsteps; i++)
			fprintf(stderr, " %d:%s(%s)", i, bsteps[i].op, bsteps[i].name);
		fprintf(stderr, "\n  restore steps:");
		for (int i = 1; i <= n_rsteps; i++)
			fprintf(stderr, " %d:%s(%s)", i, rsteps[i].op, rsteps[i].name);
		fprintf(stderr, "\n");
	}
}

static void test_steps_traced(void)
{
	learn_steps();
	/* a backup opens, locks, lists, writes pack and manifest, syncs, unlocks: at least 10 steps */
	CU_ASSERT(n_bsteps >= 10);
	CU_ASSERT(man_commit > 0);
	CU_ASSERT(n_rsteps >= 10);
}

static void test_backup_every_step(void)
{
	learn_steps();
	const char *whens[] = {"before", "after"};
	for (size_t e = 0; e < N_ERRORS; e++)
		for (int w = 0; w < (e == 0 ? 2 : 1); w++)
			for (int n = 1; n <= n_bsteps; n++)
				if (t_sweep_step(n, 1, n_bsteps, (unsigned)(e * 2 + w)))
					backup_case("any", n, "fail", errors[e], whens[w]);
}

static void test_restore_every_step(void)
{
	learn_steps();
	const char *whens[] = {"before", "after"};
	for (size_t e = 0; e < N_ERRORS; e++)
		for (int w = 0; w < (e == 0 ? 2 : 1); w++)
			for (int n = 1; n <= n_rsteps; n++)
				if (t_sweep_step(n, 1, n_rsteps, (unsigned)(e * 2 + w)))
					restore_case("any", n, "fail", errors[e], whens[w]);
}

/* Count the steps of one operation in a traced run. */
static int count_op(const step *steps, int n, const char *op)
{
	int k = 0;
	for (int i = 1; i <= n; i++)
		k += !strcmp(steps[i].op, op);
	return k;
}

static void test_short_writes(void)
{
	learn_steps();
	int nw = count_op(bsteps, n_bsteps, "write");
	CU_ASSERT(nw >= 2);
	for (int n = 1; n <= nw; n++)
		backup_case("write", n, "short", "IO", "before");
	for (int n = 1; n <= nw; n++)
		backup_case("write", n, "short", "NO_SPACE", "before");
	int rw = count_op(rsteps, n_rsteps, "write");
	for (int n = 1; n <= rw; n++)
		restore_case("write", n, "short", "IO", "before");
}

static void test_short_reads(void)
{
	learn_steps();
	/* a premature end of an object (0 bytes, no error) must read as a truncated backup */
	int nr = count_op(rsteps, n_rsteps, "read");
	CU_ASSERT(nr >= 2);
	for (int n = 1; n <= nr; n++)
		restore_case("read", n, "short", "IO", "before");
}

static void test_every_op_kind(void)
{
	/* the Nth call of each kind, counted per kind: the same faults reached by name */
	learn_steps();
	const char *ops[] = {"open", "list", "stat", "write_begin", "write", "commit", "publish",
	                     "read_open", "read", "remove", "sync"};
	for (size_t i = 0; i < sizeof ops / sizeof ops[0]; i++) {
		const char *cop = !strcmp(ops[i], "publish") ? "commit" : ops[i];
		int nb = count_op(bsteps, n_bsteps, cop), nr = count_op(rsteps, n_rsteps, cop);
		for (int n = 1; n <= nb; n++)
			backup_case(ops[i], n, "fail", "IO", "before");
		for (int n = 1; n <= nr; n++)
			restore_case(ops[i], n, "fail", "IO", "before");
	}
}

static void test_delays(void)
{
	/* every call delayed: slower, same result */
	learn_steps();
	char extra[64];
	snprintf(extra, sizeof extra, "count = 0\ndelay_ms = 2\n");
	reset_loc(pth("pristine-old"));
	char body[400];
	snprintf(body, sizeof body, "[driver \"fault\"]\nop = any\nnth = 1\nmode = delay\n%s", extra);
	load_conf(body);
	lv_store *s = NULL;
	CU_ASSERT_EQUAL_FATAL(lv_store_open(&s, ctx, pth("new.db"), 0), 0);
	char uri[800];
	snprintf(uri, sizeof uri, "fault+file://%s", pth("loc"));
	CU_ASSERT_EQUAL(t_backup(ctx, s, uri, LV_BACKUP_OVERWRITE, NULL), 0);
	lv_store_free(s);
	load_conf(NULL);
	CU_ASSERT_EQUAL(restore_digest(pth("loc"), NULL), dig_new);
}

static void test_persistent_fault_then_recovery(void)
{
	/* every write fails: the run fails; once the fault is gone the next backup works and cleans up */
	learn_steps();
	reset_loc(pth("pristine-old"));
	load_conf("[driver \"fault\"]\nop = write\nnth = 1\ncount = 0\nerror = NO_SPACE\n");
	lv_store *s = NULL;
	CU_ASSERT_EQUAL_FATAL(lv_store_open(&s, ctx, pth("new.db"), 0), 0);
	char uri[800];
	snprintf(uri, sizeof uri, "fault+file://%s", pth("loc"));
	t_events ev;
	int rc = t_backup(ctx, s, uri, LV_BACKUP_OVERWRITE, &ev);
	CU_ASSERT_EQUAL(rc, LV_E_NO_SPACE);
	CU_ASSERT(strstr(ev.end_message, "fault driver") != NULL);
	CU_ASSERT_EQUAL(restore_digest(pth("loc"), NULL), dig_old);
	load_conf(NULL);
	CU_ASSERT_EQUAL(t_backup(ctx, s, uri, LV_BACKUP_OVERWRITE, NULL), 0);
	lv_store_free(s);
	loc_state st;
	scan_dir(pth("loc"), &st);
	CU_ASSERT_EQUAL(st.n_set, 2);
	CU_ASSERT_EQUAL(st.temporaries, 0);
	CU_ASSERT_EQUAL(restore_digest(pth("loc"), NULL), dig_new);
}

static void test_failed_removal_cleaned_up_later(void)
{
	/* a removal of the older generation that fails leaves it; the next backup removes it */
	learn_steps();
	reset_loc(pth("pristine-old"));
	load_conf("[driver \"fault\"]\nop = remove\nnth = 1\ncount = 0\nmatch = licvault-g0\n");
	lv_store *s = NULL;
	CU_ASSERT_EQUAL_FATAL(lv_store_open(&s, ctx, pth("new.db"), 0), 0);
	char uri[800];
	snprintf(uri, sizeof uri, "fault+file://%s", pth("loc"));
	CU_ASSERT_EQUAL(t_backup(ctx, s, uri, LV_BACKUP_OVERWRITE, NULL), 0);
	loc_state st;
	scan_dir(pth("loc"), &st);
	CU_ASSERT_EQUAL(st.n_set, 4);
	CU_ASSERT_EQUAL(restore_digest(pth("loc"), NULL), dig_new);
	load_conf(NULL);
	CU_ASSERT_EQUAL(t_backup(ctx, s, uri, LV_BACKUP_OVERWRITE, NULL), 0);
	lv_store_free(s);
	scan_dir(pth("loc"), &st);
	CU_ASSERT_EQUAL(st.n_set, 2);
	CU_ASSERT_EQUAL(restore_digest(pth("loc"), NULL), dig_new);
}

/* lv_store_transaction callback: run a restore while this connection holds the write lock. */
typedef struct locked_run {
	const char *uri;
	int rc;
	char msg[1100];
	unsigned long long elapsed;
} locked_run;

static int restore_while_locked(lv_store *holder, void *ud)
{
	locked_run *lr = ud;
	/* the write lock: a write inside the transaction */
	lv_license l;
	char kid[32];
	unsigned char payload[8];
	t_license(&l, 999, kid, sizeof kid, payload, sizeof payload);
	l.kid = "holder-lock";
	if (lv_store_add(holder, &l, LV_PUT_REPLACE))
		return LV_E_IO;
	lv_store *s = NULL;
	if (lv_store_open(&s, ctx, pth("t.db"), 0))
		return LV_E_IO;
	lv_restorer *r = NULL;
	lv_restorer_new(&r, ctx, s);
	lv_restorer_set_string(r, LV_PROP_RESTORE_PATH, lr->uri);
	lr->rc = t_run(r, 'r', 0, NULL);
	snprintf(lr->msg, sizeof lr->msg, "%s", lv_restorer_last_error(r));
	lv_restorer_free(r);
	lv_store_free(s);
	return LV_E_CANCELED; /* roll the holder's write back */
}

static void test_store_locked_by_another_connection(void)
{
	/* the store is write-locked by another connection for longer than the busy timeout (5 s) */
	reset_loc(pth("pristine-new"));
	copy_file(pth("t0.db"), pth("t.db"));
	lv_store *holder = NULL;
	CU_ASSERT_EQUAL_FATAL(lv_store_open(&holder, ctx, pth("t.db"), 0), 0);
	char uri[800];
	snprintf(uri, sizeof uri, "file://%s", pth("loc"));
	locked_run lr = {uri, 0, "", 0};
	CU_ASSERT_EQUAL(lv_store_transaction(holder, restore_while_locked, &lr), LV_E_CANCELED);
	if (verbose)
		fprintf(stderr, "\n  restore into a locked store: %s: %s\n", lv_error_name(lr.rc), lr.msg);
	CU_ASSERT_EQUAL(lr.rc, LV_E_BUSY);
	CU_ASSERT(lr.msg[0] != '\0');
	CU_ASSERT_EQUAL(t_store_digest(holder), dig_t0);
	lv_store_free(holder);
	/* and once the lock is gone, it restores */
	lv_store *s = NULL;
	CU_ASSERT_EQUAL_FATAL(lv_store_open(&s, ctx, pth("t.db"), 0), 0);
	CU_ASSERT_EQUAL(t_restore(ctx, s, uri, 0, NULL), 0);
	CU_ASSERT_EQUAL(t_store_digest(s), dig_new);
	lv_store_free(s);
}

static void test_no_failures_summary(void)
{
	t_sweep_summary("faults", failures);
}

LV_SUITE(faults, faults, init, clean,
         {"steps traced", test_steps_traced},
         {"backup: every step, every error, before and after", test_backup_every_step},
         {"restore: every step, every error, before and after", test_restore_every_step},
         {"short writes", test_short_writes},
         {"short reads (premature end)", test_short_reads},
         {"every operation kind by name", test_every_op_kind},
         {"delays", test_delays},
         {"persistent fault, then recovery", test_persistent_fault_then_recovery},
         {"failed removal cleaned up by the next backup", test_failed_removal_cleaned_up_later},
         {"store locked by another connection", test_store_locked_by_another_connection},
         {"summary", test_no_failures_summary})
