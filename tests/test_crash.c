/*
 * Crash consistency (issue 8): the CLI (`licvault backup`, `licvault
 * restore`) is killed with SIGKILL at every step of a real run, through the
 * fault driver's crash mode (fault+file://, and bundle+fault+file:// when the
 * bundle driver is built), before and after each step reaches the file
 * driver; and a few times at timed points.  Afterwards:
 *  - backup: `licvault verify` passes and what restores is exactly the old
 *    license set or the new one, never a mix, a subset or nothing; the next
 *    backup works (the dead run's lock is stale, its temporaries ignored);
 *  - restore: the store is exactly as before or fully restored (the SQLite
 *    transaction), and the next restore works.
 * The stores are small: every kill is a process start.
 */
#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "testutil.h"

#define pth(name) t_path(dir, (name))
#define make_target(p) t_make_target(ctx, (p), target_kids, 3)
#define restore_digest(uri, rc) t_restore_digest(ctx, pth("t0.db"), pth("check.db"), (uri), (rc))
static const char *const target_kids[] = {"own-1", "own-2", "kid-000001"};
#define copy_file t_copy_file
#define empty_dir t_empty_dir
#define copy_dir(from, to) t_copy_dir((from), (to), 1)

static char *dir;
static char drvdir[600];
static lv_context *ctx;
static unsigned long dig_t0, dig_old, dig_new;
static int verbose;
static int failures;

/* The CLI's config: the fault driver's directory first, then [driver "fault"] from `fault`. */
static void write_conf(const char *fault)
{
	FILE *f = fopen(pth("cli.conf"), "w");
	if (!f)
		return;
	/* keep = 1: a backup prunes the older generation, so kills during the prune are swept too */
	fprintf(f, "[licvault]\ndriver_path = %s\nkeep = 1\n[service]\nrestores_per_day = 1000000\n", drvdir);
	if (fault)
		fprintf(f, "[driver \"fault\"]\n%s", fault);
	fclose(f);
}

/* Run the CLI with the suite's config; its exit status (137 when killed by SIGKILL). */
static int cli(char **out, const char *store, const char *args)
{
	char *o = NULL;
	/* the shell's own "Killed" notice goes to /dev/null, the CLI's messages to *out */
	int st = t_sh(&o, "exec 2>/dev/null; '%s' --config '%s' --store '%s' -q %s 2>&1; exit $?", T_CLI, pth("cli.conf"),
	              store, args);
	if (verbose && st && st != 137)
		fprintf(stderr, "\n  [cli %s] -> %d: %s", args, st, o);
	if (out)
		*out = o;
	else
		free(o);
	return st;
}

#define store_digest(p) t_path_digest(ctx, (p))

static int bundle_built(void)
{
	return access(LV_TEST_DRIVER_DIR "/lv_bundle.so", F_OK) == 0;
}

static int init(void)
{
	verbose = getenv("LV_TEST_VERBOSE") != NULL;
	dir = t_tmpdir_fast("lvcrash");
	if (!dir)
		return 1;
	if (t_driver_dir(dir, "fault", drvdir, sizeof drvdir))
		return 1;
	setenv("LICVAULT_CONFIG", "/nonexistent-licvault-config", 0);
	if (lv_context_new(&ctx))
		return 1;
	lv_context_add_driver_dir(ctx, drvdir);
	lv_context_add_driver_dir(ctx, LV_TEST_DRIVER_DIR);
	write_conf(NULL);
	if (lv_context_load_config(ctx, pth("cli.conf")))
		return 1;
	lv_store *a = NULL, *b = NULL;
	if (t_make_store(ctx, pth("old.db"), 6, &a) || t_make_store(ctx, pth("new.db"), 8, &b))
		return 1;
	lv_store_free(a);
	lv_store_free(b);
	if (make_target(pth("t0.db")))
		return 1;
	dig_t0 = store_digest(pth("t0.db"));
	/* the pristine locations: the old set (file:// and bundle), the new set */
	char args[1200];
	snprintf(args, sizeof args, "backup 'file://%s'", pth("pristine-old"));
	if (cli(NULL, pth("old.db"), args))
		return 1;
	snprintf(args, sizeof args, "backup 'file://%s'", pth("pristine-new"));
	if (cli(NULL, pth("new.db"), args))
		return 1;
	if (bundle_built()) {
		mkdir(pth("pristine-bundle"), 0700);
		snprintf(args, sizeof args, "backup 'bundle+file://%s/lic.lvb'", pth("pristine-bundle"));
		if (cli(NULL, pth("old.db"), args))
			return 1;
	}
	char uri[800];
	copy_dir(pth("pristine-old"), pth("loc"));
	snprintf(uri, sizeof uri, "file://%s", pth("loc"));
	dig_old = restore_digest(uri, NULL);
	copy_dir(pth("pristine-new"), pth("loc"));
	dig_new = restore_digest(uri, NULL);
	return dig_old && dig_new && dig_old != dig_new && dig_t0 != dig_old ? 0 : 1;
}

static int clean(void)
{
	lv_context_free(ctx);
	free(dir);
	return 0;
}

#define CHECK(cond, what) T_CHECK(failures, label, cond, what)

/* Steps of a clean CLI run through the fault driver (its trace). */
static int count_steps(const char *store, const char *args)
{
	char *tp = pth("trace");
	unlink(tp);
	char fault[800];
	snprintf(fault, sizeof fault, "trace = %s\n", tp);
	write_conf(fault);
	int st = cli(NULL, store, args);
	CU_ASSERT_EQUAL(st, 0);
	FILE *f = fopen(tp, "r");
	int n = 0;
	char line[400];
	while (f && fgets(line, sizeof line, f))
		n++;
	if (f)
		fclose(f);
	if (verbose) {
		char *o = NULL;
		t_sh(&o, "cat '%s'", tp);
		fprintf(stderr, "\n  steps of `%s`:\n%s", args, o);
		free(o);
	}
	write_conf(NULL);
	return n;
}

/*
 * Kill a backup of the new set over the old one at step n (before or after it
 * reaches the inner driver); check the location.  `kind`: "file" or "bundle".
 */
static void backup_crash(const char *kind, int n, const char *when)
{
	int bundle = !strcmp(kind, "bundle");
	char label[200];
	snprintf(label, sizeof label, "backup %s killed at step %d %s", kind, n, when);
	copy_dir(pth(bundle ? "pristine-bundle" : "pristine-old"), pth("loc"));
	char fault[200];
	snprintf(fault, sizeof fault, "op = any\nnth = %d\nmode = crash\nwhen = %s\n", n, when);
	write_conf(fault);
	char args[1200], plain[1000];
	if (bundle) {
		snprintf(args, sizeof args, "backup --overwrite 'bundle+fault+file://%s/lic.lvb'", pth("loc"));
		snprintf(plain, sizeof plain, "bundle+file://%s/lic.lvb", pth("loc"));
	} else {
		snprintf(args, sizeof args, "backup --overwrite 'fault+file://%s'", pth("loc"));
		snprintf(plain, sizeof plain, "file://%s", pth("loc"));
	}
	int st = cli(NULL, pth("new.db"), args);
	write_conf(NULL);
	CHECK(st == 137, "the run was killed at that step");
	/* licvault verify passes */
	snprintf(args, sizeof args, "verify '%s'", plain);
	char *out = NULL;
	int vst = cli(&out, pth("verify.db"), args);
	CHECK(vst == 0, "licvault verify passes after the crash");
	if (vst)
		fprintf(stderr, "  [%s] verify: %s\n", label, out);
	free(out);
	/* what restores is exactly the old or the new set */
	int rrc = 0;
	unsigned long d = restore_digest(plain, &rrc);
	CHECK(d == dig_old || d == dig_new, "the old set or the new set restores, whole");
	if (d != dig_old && d != dig_new) {
		char *o = NULL;
		t_sh(&o, "ls -la '%s'", pth("loc"));
		fprintf(stderr, "  [%s] restore: %s\n%s\n", label, lv_error_name(rrc), o);
		free(o);
	}
	/* the next backup is not blocked by what the dead run left (stale lock, temporaries) */
	snprintf(args, sizeof args, "backup --overwrite '%s'", plain);
	st = cli(&out, pth("new.db"), args);
	CHECK(st == 0, "the next backup works");
	if (st)
		fprintf(stderr, "  [%s] next backup: %s\n", label, out);
	free(out);
	CHECK(restore_digest(plain, NULL) == dig_new, "and restores the new set");
}

static void restore_crash(int n, const char *when)
{
	char label[200];
	snprintf(label, sizeof label, "restore killed at step %d %s", n, when);
	copy_dir(pth("pristine-new"), pth("loc"));
	copy_file(pth("t0.db"), pth("t.db"));
	char fault[200];
	snprintf(fault, sizeof fault, "op = any\nnth = %d\nmode = crash\nwhen = %s\n", n, when);
	write_conf(fault);
	char args[1200];
	snprintf(args, sizeof args, "restore 'fault+file://%s'", pth("loc"));
	int st = cli(NULL, pth("t.db"), args);
	write_conf(NULL);
	CHECK(st == 137, "the run was killed at that step");
	/* the store: as before, or whole */
	unsigned long d = store_digest(pth("t.db"));
	CHECK(d == dig_t0 || d == dig_new, "the store is as before or fully restored");
	/* the backup is intact and the next restore works */
	snprintf(args, sizeof args, "verify 'file://%s'", pth("loc"));
	CHECK(cli(NULL, pth("verify.db"), args) == 0, "the backup still verifies");
	snprintf(args, sizeof args, "restore 'file://%s'", pth("loc"));
	char *out = NULL;
	st = cli(&out, pth("t.db"), args);
	CHECK(st == 0, "the next restore works");
	if (st)
		fprintf(stderr, "  [%s] next restore: %s\n", label, out);
	free(out);
	CHECK(store_digest(pth("t.db")) == dig_new, "and holds the whole set");
}

/*
 * Kill the CLI's run (args, on store) at each of its steps that the sweep
 * picks, before and after the step, and check what it left: kind "file" or
 * "bundle" (a backup, backup_crash) or "restore" (restore_crash).  The run
 * has at least min_steps steps.
 */
static void kill_at_every_step(const char *kind, const char *store, const char *args, int min_steps)
{
	int n = count_steps(store, args);
	CU_ASSERT(n >= min_steps);
	int restore = !strcmp(kind, "restore");
	for (int i = 1; i <= n; i++) {
		for (int after = 0; after <= 1; after++) {
			if (!t_sweep_step(i, 1, n, after ? 2 : 0))
				continue;
			if (restore)
				restore_crash(i, after ? "after" : "before");
			else
				backup_crash(kind, i, after ? "after" : "before");
		}
	}
}

static void test_backup_killed_at_every_step(void)
{
	copy_dir(pth("pristine-old"), pth("loc"));
	char args[1200];
	snprintf(args, sizeof args, "backup --overwrite 'fault+file://%s'", pth("loc"));
	kill_at_every_step("file", pth("new.db"), args, 10);
}

static void test_bundle_backup_killed_at_every_step(void)
{
	if (!bundle_built()) {
		fprintf(stderr, "\n  (no bundle driver in %s: bundle+ crash sweep skipped)\n", LV_TEST_DRIVER_DIR);
		return;
	}
	copy_dir(pth("pristine-bundle"), pth("loc"));
	char args[1200];
	snprintf(args, sizeof args, "backup --overwrite 'bundle+fault+file://%s/lic.lvb'", pth("loc"));
	kill_at_every_step("bundle", pth("new.db"), args, 5);
}

static void test_restore_killed_at_every_step(void)
{
	copy_dir(pth("pristine-new"), pth("loc"));
	copy_file(pth("t0.db"), pth("t.db"));
	char args[1200];
	snprintf(args, sizeof args, "restore 'fault+file://%s'", pth("loc"));
	kill_at_every_step("restore", pth("t.db"), args, 10);
}

/*
 * Start the CLI's `cmd` of store at uri (a backup with --overwrite), SIGKILL
 * it after `ms` milliseconds (or let it finish first); its wait status.
 */
static int run_and_kill(const char *store, const char *cmd, const char *uri, long ms)
{
	pid_t pid = fork();
	if (pid == 0) {
		int fd = open("/dev/null", O_WRONLY);
		if (fd >= 0) {
			dup2(fd, 1);
			dup2(fd, 2);
		}
		if (!strcmp(cmd, "backup"))
			execl(T_CLI, T_CLI, "--config", pth("cli.conf"), "--store", store, "-q", cmd, "--overwrite", uri,
			      (char *)NULL);
		else
			execl(T_CLI, T_CLI, "--config", pth("cli.conf"), "--store", store, "-q", cmd, uri, (char *)NULL);
		_exit(127);
	}
	struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
	nanosleep(&ts, NULL);
	kill(pid, SIGKILL);
	int st = 0;
	waitpid(pid, &st, 0);
	return st;
}

static void test_timed_kills(void)
{
	/* a slowed-down run (every step delayed 15 ms), killed at spread-out moments */
	char label[200];
	char uri[800], plain[800];
	snprintf(uri, sizeof uri, "fault+file://%s", pth("loc"));
	snprintf(plain, sizeof plain, "file://%s", pth("loc"));
	int killed = 0;
	for (long ms = 5; ms <= 400; ms += 35) {
		if (!t_sweep_step((ms - 5) / 35, 0, 11, 1))
			continue;
		snprintf(label, sizeof label, "backup killed after %ld ms", ms);
		copy_dir(pth("pristine-old"), pth("loc"));
		write_conf("op = any\ncount = 0\nmode = delay\ndelay_ms = 15\n");
		int st = run_and_kill(pth("new.db"), "backup", uri, ms);
		write_conf(NULL);
		killed += WIFSIGNALED(st);
		unsigned long d = restore_digest(plain, NULL);
		CHECK(d == dig_old || d == dig_new, "the old set or the new set restores, whole");
		if (WIFEXITED(st) && WEXITSTATUS(st) == 0)
			CHECK(d == dig_new, "a backup that finished restores the new set");
	}
	if (verbose)
		fprintf(stderr, "\n  timed kills: %d of 12 runs were killed before they ended\n", killed);
	/* a larger store at full speed (no fault driver), killed while it streams */
	lv_store *big = NULL;
	CU_ASSERT_EQUAL_FATAL(t_make_store(ctx, pth("big.db"), 1500, &big), 0);
	lv_store_free(big);
	copy_dir(pth("pristine-new"), pth("loc"));
	CU_ASSERT_EQUAL_FATAL(cli(NULL, pth("big.db"), (snprintf(label, sizeof label, "backup --overwrite '%s'", plain), label)), 0);
	unsigned long dig_big = restore_digest(plain, NULL);
	CU_ASSERT(dig_big != 0 && dig_big != dig_new);
	copy_dir(pth("loc"), pth("big-set"));
	for (long ms = 2; ms <= 120; ms += 13) {
		if (!t_sweep_step((ms - 2) / 13, 0, 9, 2))
			continue;
		snprintf(label, sizeof label, "large backup killed after %ld ms", ms);
		copy_dir(pth("pristine-new"), pth("loc"));
		int st = run_and_kill(pth("big.db"), "backup", plain, ms);
		unsigned long d = restore_digest(plain, NULL);
		CHECK(d == dig_new || d == dig_big, "the old set or the new set restores, whole");
		if (WIFEXITED(st) && WEXITSTATUS(st) == 0)
			CHECK(d == dig_big, "a backup that finished restores the new set");
	}
	/* restores of the large set, killed while they import */
	int restores_done = 0;
	char rl[800];
	for (long ms = 2; ms <= 120; ms += 13) {
		if (!t_sweep_step((ms - 2) / 13, 0, 9, 3))
			continue;
		snprintf(label, sizeof label, "large restore killed after %ld ms", ms);
		copy_dir(pth("big-set"), pth("loc"));
		copy_file(pth("t0.db"), pth("t.db"));
		snprintf(rl, sizeof rl, "file://%s", pth("loc"));
		int st = run_and_kill(pth("t.db"), "restore", rl, ms);
		unsigned long d = store_digest(pth("t.db"));
		CHECK(d == dig_t0 || d == dig_big, "the store is as before or fully restored");
		restores_done += WIFEXITED(st) && WEXITSTATUS(st) == 0;
		if (WIFEXITED(st) && WEXITSTATUS(st) == 0)
			CHECK(d == dig_big, "a restore that finished holds the whole set");
	}
	if (verbose)
		fprintf(stderr, "\n  large restores: %d of 10 finished before the kill\n", restores_done);
}

static void test_summary(void)
{
	t_sweep_summary("crash", failures);
}

LV_SUITE(crash, crash, init, clean,
         {"backup killed at every step (file://)", test_backup_killed_at_every_step},
         {"backup killed at every step (bundle+file://)", test_bundle_backup_killed_at_every_step},
         {"restore killed at every step", test_restore_killed_at_every_step},
         {"timed kills", test_timed_kills},
         {"summary", test_summary})
