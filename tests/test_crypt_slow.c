/*
 * The crypt driver's long sweeps (ctest crypt_slow, label "slow"):
 *
 * Out of memory (as tests/test_oom.c): the CLI under tests/oom/failmalloc.so
 * failing its Nth allocation, over a first backup (which initializes the
 * location), a backup over an existing set and a restore, all to
 * crypt+file://.  No run dies of a signal, a failed one says why, and
 * afterwards the location still verifies (the old set or the new), its
 * key slot still opens, and a failed restore left the store as it was.
 *
 * Faults (as tests/test_faults.c): the test driver "fault" stacked UNDER
 * crypt (crypt+fault+file://), so every call crypt makes to its inner
 * location (key slots read at unlock, the sealed objects' writes and reads,
 * the pass-through lock and registry) fails in turn, for several errors,
 * before and after the call is forwarded; also short writes and premature
 * ends of reads.  After each: a failed run says why, no temporaries are
 * left, the key slot is untouched, the location restores exactly the old
 * set or the new one (the old when the fault came before the manifest was
 * published), a failed restore left the store unchanged, and a premature
 * end of a sealed object is never taken for its end.  Also with threads = no,
 * and a listing that wrongly shows no key slot never initializes a second key.
 *
 * LV_CRYPT_SKIP_OOM=1 runs the fault sweeps alone (seconds instead of minutes).
 */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "testutil.h"

#define SHIM LV_TEST_BUILD_DIR "/testlib/failmalloc.so"
#define PASS "sweeping passphrase"
#define SLOT0 "licvault-crypt-key-0000000000000000"

static char *dir;
static char conf[700];

#define pth(name) t_path(dir, (name))

static unsigned char slot_pristine[256];

static int slot_same(const char *locdir)
{
	char p[800];
	snprintf(p, sizeof p, "%s/%s", locdir, SLOT0);
	FILE *f = fopen(p, "rb");
	unsigned char b[257];
	size_t n = f ? fread(b, 1, sizeof b, f) : 0;
	if (f)
		fclose(f);
	return n == 256 && !memcmp(b, slot_pristine, 256);
}

static int load_slot(const char *locdir)
{
	char p[800];
	snprintf(p, sizeof p, "%s/%s", locdir, SLOT0);
	FILE *f = fopen(p, "rb");
	size_t n = f ? fread(slot_pristine, 1, sizeof slot_pristine, f) : 0;
	if (f)
		fclose(f);
	return n == 256 ? 0 : -1;
}

/* ==== out of memory ========================================================================== */

static int cli(const char *args)
{
	char *out = NULL;
	int rc = t_sh(&out, "cd '%s' && LICVAULT_CONFIG='%s' '%s' %s", dir, conf, T_CLI, args);
	if (rc && getenv("LV_TEST_VERBOSE"))
		fprintf(stderr, "\n  [%s] %s", args, out);
	free(out);
	return rc;
}

static int allocations(const char *args)
{
	char *out = NULL;
	t_sh(&out, "cd '%s' && LICVAULT_CONFIG='%s' LV_FAIL_ALLOC_COUNT=1 LD_PRELOAD='%s' '%s' %s", dir, conf, SHIM, T_CLI,
	     args);
	const char *p = out ? strstr(out, "allocations: ") : NULL;
	int n = p ? atoi(p + 13) : 0;
	free(out);
	return n;
}

static int count_licenses(const char *store)
{
	char *out = NULL;
	t_sh(&out, "cd '%s' && LICVAULT_CONFIG='%s' '%s' --store %s --json store list | wc -l", dir, conf, T_CLI, store);
	int n = out ? atoi(out) : -1;
	free(out);
	return n;
}

static void sweep(const char *what, const char *args, int (*check)(void), void (*reset)(void))
{
	int total = allocations(args);
	CU_ASSERT_FATAL(total > 100);
	int step = total / 100 + 1, died = 0, unclear = 0, bad_after = 0, runs = 0;
	for (int n = 1; n <= total; n += step) {
		if (reset)
			reset();
		char *out = NULL;
		t_sh(&out, "cd '%s' && LICVAULT_CONFIG='%s' LV_FAIL_ALLOC=%d LD_PRELOAD='%s' '%s' %s; echo \"[rc=$?]\"", dir,
		     conf, n, SHIM, T_CLI, args);
		const char *p = out ? strstr(out, "[rc=") : NULL;
		int st = p ? atoi(p + 4) : -1;
		runs++;
		if (st >= 128 || st < 0) {
			died++;
			fprintf(stderr, "\n  %s: allocation %d of %d: the process died (status %d)", what, n, total, st);
		} else if (st != 0 && !strstr(out, "licvault: ")) {
			unclear++;
			fprintf(stderr, "\n  %s: allocation %d: exit %d without a message: %s", what, n, st, out);
		} else if (out && strstr(out, PASS)) {
			unclear++;
			fprintf(stderr, "\n  %s: allocation %d: the passphrase in the output", what, n);
		}
		free(out);
		if (check && !check()) {
			bad_after++;
			fprintf(stderr, "\n  %s: allocation %d: the state afterwards is wrong", what, n);
		}
	}
	CU_ASSERT(runs > 50);
	CU_ASSERT_EQUAL(died, 0);
	CU_ASSERT_EQUAL(unclear, 0);
	CU_ASSERT_EQUAL(bad_after, 0);
}

static char bk_uri[800], first_uri[800];

static int whole_and_opens(void)
{
	/* the old set or the new, whole; the slot untouched; and the next run works */
	char args[900];
	snprintf(args, sizeof args, "-q --store oom.db verify '%s'", bk_uri);
	return cli(args) == 0 && slot_same(pth("oom-bk"));
}

static void first_reset(void)
{
	t_rmrf(pth("oom-first"));
}

static int first_clean_or_usable(void)
{
	/* nothing, or a slot that opens; a backup afterwards works and verifies */
	char args[900];
	snprintf(args, sizeof args, "-q --store oom.db backup --overwrite '%s'", first_uri);
	int ok = cli(args) == 0;
	snprintf(args, sizeof args, "-q --store oom.db verify '%s'", first_uri);
	return ok && cli(args) == 0;
}

static int store_all_or_nothing(void)
{
	int n = count_licenses("oom-target.db");
	int ok = n == 0 || n == 8;
	char *out = NULL;
	t_sh(&out, "cd '%s' && rm -f oom-target.db oom-target.db-wal oom-target.db-shm oom-bk/licvault-registry-* "
	           "oom-bk/licvault.lock", dir);
	free(out);
	return ok;
}

static void test_oom(void)
{
	if (getenv("LV_CRYPT_SKIP_OOM"))
		return; /* debugging the fault sweeps alone */
	T_SKIP_IF(T_SANITIZED, "the sweep preloads its own allocator, which cannot run beside a sanitizer's");
	char args[1024];
	snprintf(args, sizeof args, "-q --store oom.db store import '%s'/examples/licenses/*.lic", LV_TEST_SOURCE_DIR);
	CU_ASSERT_EQUAL_FATAL(cli(args), 0);
	snprintf(bk_uri, sizeof bk_uri, "crypt+file://%s", pth("oom-bk"));
	snprintf(first_uri, sizeof first_uri, "crypt+file://%s", pth("oom-first"));
	snprintf(args, sizeof args, "-q --store oom.db backup '%s'", bk_uri);
	CU_ASSERT_EQUAL_FATAL(cli(args), 0);
	CU_ASSERT_EQUAL_FATAL(load_slot(pth("oom-bk")), 0);
	snprintf(args, sizeof args, "-q --store oom.db backup '%s'", first_uri);
	sweep("first backup (initializes)", args, first_clean_or_usable, first_reset);
	snprintf(args, sizeof args, "-q --store oom.db backup --overwrite '%s'", bk_uri);
	sweep("backup", args, whole_and_opens, NULL);
	snprintf(args, sizeof args, "-q --store oom-target.db restore --individualize '%s'", bk_uri);
	sweep("restore", args, store_all_or_nothing, NULL);
}

/* ==== faults under crypt ======================================================================= */

static lv_context *ctx;
static char drvdir[700];
static unsigned long dig_t0, dig_old, dig_new;
static const char *const target_kids[] = {"own-1", "own-2", "kid-000001"};
static int failures, verbose;

typedef struct step {
	char op[32];
	char name[128];
} step;

static step bsteps[96], rsteps[96];
static int n_bsteps, n_rsteps, man_commit;

static const char *crypt_extra = ""; /* more [driver "crypt"] lines: "threads = no\n" */

static int load_conf(const char *body)
{
	char *p = pth("fault.conf");
	FILE *f = fopen(p, "w");
	if (!f)
		return -1;
	fprintf(f, "[service]\nrestores_per_day = 1000000\n[driver \"crypt\"]\nkdf_opslimit = 1\nkdf_memlimit = 8192\n%s%s",
	        crypt_extra, body ? body : "");
	fclose(f);
	return lv_context_load_config(ctx, p);
}

static int fault_conf(const char *op, int nth, const char *mode, const char *error, const char *when)
{
	char body[1024];
	snprintf(body, sizeof body, "[driver \"fault\"]\nop = %s\nnth = %d\nmode = %s\nerror = %s\nwhen = %s\n", op, nth,
	         mode, error, when);
	return load_conf(body);
}

static unsigned long restore_digest(const char *locdir, int *rc)
{
	char uri[800];
	snprintf(uri, sizeof uri, "crypt+file://%s", locdir);
	return t_restore_digest(ctx, pth("t0.db"), pth("check.db"), uri, rc);
}

static int trace_steps(int kind, step *steps, int max)
{
	char tp[800];
	snprintf(tp, sizeof tp, "%s", pth("trace")); /* pth's buffers rotate */
	unlink(tp);
	char body[900];
	snprintf(body, sizeof body, "[driver \"fault\"]\nop = any\nnth = 1000000\ntrace = %s\n", tp);
	load_conf(body);
	lv_store *s = NULL;
	char uri[800];
	snprintf(uri, sizeof uri, "crypt+fault+file://%s", pth("loc"));
	if (kind == 'b') {
		t_copy_dir(pth("pristine-old"), pth("loc"), 0);
		lv_store_open(&s, ctx, pth("new.db"), 0);
		CU_ASSERT_EQUAL(t_backup(ctx, s, uri, LV_BACKUP_OVERWRITE, NULL), 0);
	} else {
		t_copy_dir(pth("pristine-new"), pth("loc"), 0);
		t_copy_file(pth("t0.db"), pth("t.db"));
		lv_store_open(&s, ctx, pth("t.db"), 0);
		t_events ev;
		int rrc = t_restore(ctx, s, uri, LV_RESTORE_INDIVIDUALIZE, &ev);
		if (rrc)
			fprintf(stderr, "\n  restore trace: %s: %s", lv_error_name(rrc), ev.end_message);
		CU_ASSERT_EQUAL(rrc, 0);
	}
	lv_store_free(s);
	load_conf(NULL);
	FILE *f = fopen(tp, "r");
	int n = 0;
	char line[400];
	while (f && fgets(line, sizeof line, f)) {
		int no;
		char op[32], name[200];
		unsigned long k;
		if (sscanf(line, "%d %31s %lu %199s", &no, op, &k, name) == 4 && no == n + 1 && n + 1 < max) {
			n++;
			snprintf(steps[n].op, sizeof steps[n].op, "%s", op);
			snprintf(steps[n].name, sizeof steps[n].name, "%s", name);
		}
	}
	if (f)
		fclose(f);
	return n;
}

/* What the location holds: temporaries, licvault sets by generation. */
typedef struct loc_state {
	int temporaries, lock, n_gens, gens[8][2];
	char listing[2048];
} loc_state;

static void scan_dir(const char *d, loc_state *st)
{
	memset(st, 0, sizeof *st);
	DIR *dd = opendir(d);
	struct dirent *de;
	size_t off = 0;
	while (dd && (de = readdir(dd))) {
		const char *n = de->d_name;
		unsigned long long g;
		char ext[32];
		if (!strcmp(n, ".") || !strcmp(n, ".."))
			continue;
		if (off < sizeof st->listing - 200)
			off += (size_t)snprintf(st->listing + off, sizeof st->listing - off, "%s ", n);
		if (n[0] == '.')
			st->temporaries++;
		else if (!strcmp(n, "licvault.lock"))
			st->lock = 1;
		else if ((sscanf(n, "licvault-g%16llx.%31s", &g, ext) == 2 || sscanf(n, "licvault-%16llx.%31s", &g, ext) == 2) &&
		         strncmp(n, "licvault-registry", 17) && strncmp(n, "licvault-crypt", 14)) {
			int i, kind = !strcmp(ext, "pack") ? 1 : !strcmp(ext, "manifest") ? 2 : 4;
			for (i = 0; i < st->n_gens && st->gens[i][0] != (int)g; i++)
				;
			if (i == st->n_gens && i < 8) {
				st->gens[i][0] = (int)g;
				st->gens[i][1] = 0;
				st->n_gens++;
			}
			if (i < 8)
				st->gens[i][1] |= kind;
		}
	}
	if (dd)
		closedir(dd);
}

#define CHECK(cond, what) T_CHECK(failures, label, cond, what)

/* Is step gi the sync that makes the lock's removal durable (best effort: the backup is already whole)? */
static int after_lock_release(int gi)
{
	return gi > 0 && !strcmp(bsteps[gi].op, "sync") && !strcmp(bsteps[gi - 1].op, "remove") &&
	       !strcmp(bsteps[gi - 1].name, "licvault.lock");
}

static int faulty_run(int kind, const char *op, int n, const char *mode, const char *error, const char *when,
                      char *msg, size_t cap)
{
	fault_conf(op, n, mode, error, when);
	lv_store *s = NULL;
	lv_store_open(&s, ctx, kind == 'b' ? pth("new.db") : pth("t.db"), 0);
	lv_restorer *r = NULL;
	lv_restorer_new(&r, ctx, s);
	char uri[800];
	snprintf(uri, sizeof uri, "crypt+fault+file://%s", pth("loc"));
	lv_restorer_set_string(r, kind == 'b' ? LV_PROP_BACKUP_PATH : LV_PROP_RESTORE_PATH, uri);
	int rc = t_run(r, kind, kind == 'b' ? LV_BACKUP_OVERWRITE : 0, NULL);
	snprintf(msg, cap, "%s", lv_restorer_last_error(r));
	lv_restorer_free(r);
	lv_store_free(s);
	load_conf(NULL);
	return rc;
}

static void backup_case(int gi, const char *mode, const char *error, const char *when)
{
	const char *sop = bsteps[gi].op, *sname = bsteps[gi].name;
	char label[300], msg[1100];
	snprintf(label, sizeof label, "backup step %d (%s %s) %s %s %s", gi, sop, sname, mode, error, when);
	t_copy_dir(pth("pristine-old"), pth("loc"), 0);
	int rc = faulty_run('b', "any", gi, mode, error, when, msg, sizeof msg);
	if (verbose)
		fprintf(stderr, "\n  %s -> %s: %s", label, lv_error_name(rc), msg);
	if (rc)
		CHECK(msg[0] != '\0', "a failed run says why");
	else
		CHECK(!strcmp(sop, "remove") || !strcmp(sname, "licvault.lock") || !strcmp(sop, "abort") || after_lock_release(gi) ||
		      (!strcmp(sop, "list") && !strcmp(error, "NOT_FOUND")), "the run fails when a step it needs fails");
	CHECK(!strstr(msg, PASS), "no passphrase in the message");
	loc_state st;
	scan_dir(pth("loc"), &st);
	CHECK(st.temporaries == 0, "no temporaries left");
	CHECK(slot_same(pth("loc")), "the key slot is untouched");
	int rrc = 0;
	unsigned long d = restore_digest(pth("loc"), &rrc);
	CHECK(d == dig_old || d == dig_new, "the location restores the old set or the new set, whole");
	if (rc && gi < man_commit)
		CHECK(d == dig_old, "a backup that failed before its manifest was published leaves the old set");
	if (!rc)
		CHECK(d == dig_new, "a successful backup restores the new set");
	if (d != dig_old && d != dig_new)
		fprintf(stderr, "\n  [%s] restore: %s; listing: %s", label, lv_error_name(rrc), st.listing);
}

static void restore_case(int gi, const char *mode, const char *error, const char *when)
{
	const char *sop = rsteps[gi].op, *sname = rsteps[gi].name;
	char label[300], msg[1100];
	snprintf(label, sizeof label, "restore step %d (%s %s) %s %s %s", gi, sop, sname, mode, error, when);
	t_copy_dir(pth("pristine-new"), pth("loc"), 0);
	t_copy_file(pth("t0.db"), pth("t.db"));
	int rc = faulty_run('r', "any", gi, mode, error, when, msg, sizeof msg);
	unsigned long d = t_path_digest(ctx, pth("t.db"));
	if (verbose)
		fprintf(stderr, "\n  %s -> %s: %s", label, lv_error_name(rc), msg);
	if (rc) {
		CHECK(msg[0] != '\0', "a failed run says why");
		CHECK(d == dig_t0, "a failed restore leaves the store unchanged");
	} else {
		CHECK(d == dig_new, "a successful restore holds the whole set");
		/* a premature end of a sealed object is never its end (unless it hit the read
		 * that was the end anyway: the object's last) */
		int last_read = 1;
		for (int i = gi + 1; i <= n_rsteps; i++)
			if (!strcmp(rsteps[i].op, "read") && !strcmp(rsteps[i].name, sname))
				last_read = 0;
		CHECK(strcmp(mode, "short") || strcmp(sop, "read") || last_read || strstr(sname, "licvault-registry") ||
		      strstr(sname, "licvault.lock"), "a premature end of a sealed object fails the restore");
	}
	CHECK(!strstr(msg, PASS), "no passphrase in the message");
	loc_state st;
	scan_dir(pth("loc"), &st);
	CHECK(st.temporaries == 0, "no temporaries left");
	CHECK(slot_same(pth("loc")), "the key slot is untouched");
	CHECK(st.n_gens == 1 && st.gens[0][0] == 1 && st.gens[0][1] == 3, "the backup set is as it was");
	CHECK(restore_digest(pth("loc"), NULL) == dig_new, "the backup still restores whole");
}

static int faults_ready(void)
{
	if (n_bsteps)
		return 1;
	verbose = getenv("LV_TEST_VERBOSE") != NULL;
	snprintf(drvdir, sizeof drvdir, "%s/drv", dir);
	mkdir(drvdir, 0700);
	char *out = NULL;
	t_sh(&out, "cp '%s' '%s'/", LV_TEST_BUILD_DIR "/testdrivers/fault.so", drvdir);
	free(out);
	setenv("LICVAULT_PASSPHRASE", PASS, 1);
	if (lv_context_new(&ctx))
		return 0;
	lv_context_add_driver_dir(ctx, drvdir);
	lv_context_add_driver_dir(ctx, LV_TEST_DRIVER_DIR);
	lv_store *a = NULL, *b = NULL, *t = NULL;
	char uri[800];
	if (load_conf(NULL) || t_make_store(ctx, pth("old.db"), 6, &a) || t_make_store(ctx, pth("new.db"), 8, &b) ||
	    t_make_target(ctx, pth("t0.db"), target_kids, 3) || lv_store_open(&t, ctx, pth("t0.db"), 0))
		return 0;
	dig_t0 = t_store_digest(t);
	lv_store_free(t);
	/* one key for both sets: the new set is written over the old one's location */
	snprintf(uri, sizeof uri, "crypt+file://%s", pth("loc-old"));
	int rc = t_backup(ctx, a, uri, 0, NULL);
	t_copy_dir(pth("loc-old"), pth("loc-new"), 0);
	snprintf(uri, sizeof uri, "crypt+file://%s", pth("loc-new"));
	t_sh(NULL, "rm -f '%s'/licvault-g0*", pth("loc-new"));
	rc = rc ? rc : t_backup(ctx, b, uri, 0, NULL);
	lv_store_free(a);
	lv_store_free(b);
	if (rc || load_slot(pth("loc-old")))
		return 0;
	t_copy_dir(pth("loc-old"), pth("pristine-old"), 0);
	t_copy_dir(pth("loc-new"), pth("pristine-new"), 0);
	dig_old = restore_digest(pth("loc-old"), NULL);
	dig_new = restore_digest(pth("loc-new"), NULL);
	n_bsteps = trace_steps('b', bsteps, 96);
	for (int i = 1; i <= n_bsteps; i++)
		if (!strcmp(bsteps[i].op, "commit") && strstr(bsteps[i].name, ".manifest"))
			man_commit = i;
	n_rsteps = trace_steps('r', rsteps, 96);
	if (verbose) {
		fprintf(stderr, "\n  backup steps:");
		for (int i = 1; i <= n_bsteps; i++)
			fprintf(stderr, " %d:%s(%s)", i, bsteps[i].op, bsteps[i].name);
		fprintf(stderr, "\n  restore steps:");
		for (int i = 1; i <= n_rsteps; i++)
			fprintf(stderr, " %d:%s(%s)", i, rsteps[i].op, rsteps[i].name);
	}
	int ok = dig_old && dig_new && dig_old != dig_new && n_bsteps > 10 && man_commit && n_rsteps > 10;
	if (!ok)
		fprintf(stderr, "\n  fault sweep set-up: digests %lu %lu, %d backup steps (manifest commit %d), %d restore steps",
		        dig_old, dig_new, n_bsteps, man_commit, n_rsteps);
	return ok;
}

static void test_faults_backup(void)
{
	CU_ASSERT_FATAL(faults_ready());
	/* the unlock reads the key slot through the faulty location, then the set is written */
	int slot_reads = 0;
	for (int i = 1; i <= n_bsteps; i++)
		slot_reads += !strcmp(bsteps[i].op, "read_open") && !strcmp(bsteps[i].name, SLOT0);
	CU_ASSERT(slot_reads == 1);
	const char *errors[] = {"IO", "NO_SPACE", "EXISTS", "NOT_FOUND", "CANCELED", "NOMEM"};
	for (int e = 0; e < 6; e++)
		for (int w = 0; w < (e == 0 ? 2 : 1); w++)
			for (int n = 1; n <= n_bsteps; n++)
				backup_case(n, "fail", errors[e], w ? "after" : "before");
	for (int n = 1; n <= n_bsteps; n++)
		if (!strcmp(bsteps[n].op, "write"))
			backup_case(n, "short", "IO", "before");
}

static void test_faults_restore(void)
{
	CU_ASSERT_FATAL(faults_ready());
	const char *errors[] = {"IO", "NOT_FOUND", "CANCELED", "NOMEM"};
	for (int e = 0; e < 4; e++)
		for (int w = 0; w < (e == 0 ? 2 : 1); w++)
			for (int n = 1; n <= n_rsteps; n++)
				restore_case(n, "fail", errors[e], w ? "after" : "before");
	/* premature ends: every read of the restore, sealed objects and key slot included */
	for (int n = 1; n <= n_rsteps; n++)
		if (!strcmp(rsteps[n].op, "read"))
			restore_case(n, "short", "IO", "before");
}

static void test_faults_restore_no_threads(void)
{
	CU_ASSERT_FATAL(faults_ready());
	crypt_extra = "threads = no\n";
	n_rsteps = trace_steps('r', rsteps, 96);
	CU_ASSERT_FATAL(n_rsteps > 10);
	for (int w = 0; w < 2; w++)
		for (int n = 1; n <= n_rsteps; n++)
			restore_case(n, "fail", "IO", w ? "after" : "before");
	for (int n = 1; n <= n_rsteps; n++)
		if (!strcmp(rsteps[n].op, "read"))
			restore_case(n, "short", "IO", "before");
	crypt_extra = "";
}

/* One case of a listing that wrongly shows no key slot; `objects`: the set is there too. */
static void listing_case(int objects, const char *words)
{
	/* a location whose only slot has a random name (after passwd) */
	t_copy_dir(pth("pristine-old"), pth("loc"), 0);
	char *out = NULL, pw2[800], uri[800], msg[1100];
	if (!objects)
		t_sh(NULL, "rm -f '%s'/licvault-g0*", pth("loc"));
	snprintf(pw2, sizeof pw2, "%s/pw2", dir);
	t_write_file(pw2, "the second\n", 0600);
	snprintf(uri, sizeof uri, "crypt+file://%s", pth("loc"));
	CU_ASSERT_EQUAL_FATAL(t_sh(&out, "'%s' crypt --config '%s' passwd '%s' new_passphrase_file='%s'",
	                           T_CLI, pth("fault.conf"), uri, pw2), 0);
	free(out);
	setenv("LICVAULT_PASSPHRASE", "the second", 1);
	/* crypt's listing of the slots (the run's second list) says the location is empty */
	int rc = faulty_run('b', "list", 2, "fail", "NOT_FOUND", "before", msg, sizeof msg);
	CU_ASSERT_NOT_EQUAL(rc, 0);
	if (!strstr(msg, words))
		fprintf(stderr, "\n  listing case %d: %s", objects, msg);
	CU_ASSERT(strstr(msg, words) != NULL);
	out = NULL;
	t_sh(&out, "ls '%s' | grep -c licvault-crypt-key-", pth("loc"));
	CU_ASSERT(out && atoi(out) == 1);
	free(out);
	CU_ASSERT(t_file_size(t_path(dir, "loc/" SLOT0)) < 0);
	if (objects)
		CU_ASSERT_EQUAL(restore_digest(pth("loc"), NULL), dig_old);
	setenv("LICVAULT_PASSPHRASE", PASS, 1);
}

static void test_listing_never_initializes_twice(void)
{
	CU_ASSERT_FATAL(faults_ready());
	listing_case(1, "makes no new key");      /* refused before writing anything */
	listing_case(0, "was not initialized");   /* written, seen beside the other slot, taken back */
}

static void test_summary(void)
{
	t_sweep_summary("crypt faults", failures);
}

static int init(void)
{
	if (!(dir = t_tmpdir_fast("lvcrypt-slow")))
		return 1;
	snprintf(conf, sizeof conf, "%s/oom.conf", dir);
	char pwf[800], body[1200];
	snprintf(pwf, sizeof pwf, "%s/pw", dir);
	t_write_file(pwf, PASS "\n", 0600);
	snprintf(body, sizeof body, "[service]\nrestores_per_day = 1000000\n[driver \"crypt\"]\nkdf_opslimit = 1\n"
	                            "kdf_memlimit = 8192\npassphrase_file = %s\n", pwf);
	return t_write_file(conf, body, 0600);
}

static int clean(void)
{
	unsetenv("LICVAULT_PASSPHRASE");
	lv_context_free(ctx);
	free(dir);
	return 0;
}

LV_SUITE(crypt_slow, crypt_slow, init, clean,
         {"allocation failures: first backup, backup, restore over crypt+file://", test_oom},
         {"faults under crypt: every step of a backup", test_faults_backup},
         {"faults under crypt: every step of a restore, premature ends", test_faults_restore},
         {"faults under crypt: a restore with threads = no", test_faults_restore_no_threads},
         {"a failing listing never initializes a location twice", test_listing_never_initializes_twice},
         {"summary", test_summary})
