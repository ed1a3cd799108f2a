/*
 * Power cuts below the page cache (issue 17).  The crash suite kills the CLI
 * at every step, but whatever the page cache holds survives a killed
 * process; a power cut loses it.  This suite runs the real CLI on lvpowercut
 * (tests/powercut/README.md), a FUSE file system that keeps every write and
 * every namespace change volatile until an fsync (of the file, or of the
 * directory for its entries) makes it durable, and counts those fsyncs: the
 * durability points.  For each case of the table below:
 *
 *  1. the start state is made (an earlier backup or restore, made durable)
 *     and saved;
 *  2. a whole run is counted (T points) and the power cut after it: it must
 *     lose nothing the run published or removed (else an fsync of a file or
 *     a directory is missing), but for the known gaps listed below;
 *  3. for every N in 0..T the run is made again from the start state with
 *     the durable state frozen after point N (the run still succeeds: the
 *     file system does not tell), then the power is cut: so a cut lands
 *     after every point and between any two.  Each N is cut twice: a strict
 *     cut (nothing that was not made durable survives) and a meta cut (all
 *     namespace changes up to point N + 1 survive, unsynced data does not).
 *
 * After every cut: no published object is torn (its name durable, its data
 * not); the location verifies and restores exactly the old set or the new
 * one (or, on a first backup, shows no set), never a mix, and once a cut
 * showed the new set no later cut shows the old one; the next backup (or
 * restore) succeeds.  The summary prints how many cuts were made.
 *
 * syncfs is no durability point here: the kernel sends FUSE no syncfs.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "testutil.h"

#define pth(name) t_path(dir, (name))

/* ---- the cases ---------------------------------------------------------- */

enum { BACKUP, RESTORE };
enum { START_NONE, START_OLD };            /* the location does not exist yet / holds the old set */
enum { REG_AT_BACKUP, REG_AT_SERVICE };    /* where the license service writes its registry */

typedef struct pc_case {
	const char *name;
	int op;              /* BACKUP or RESTORE */
	int bundle;          /* bundle+file:// instead of file:// */
	int start;           /* BACKUP: START_NONE or START_OLD; RESTORE: no registry yet, or generation 1 */
	int overwrite;       /* backup --overwrite */
	int refused;         /* the run ends with "a backup is already at" and changes nothing */
	int registry;        /* RESTORE: where the registry is written */
	unsigned keep;       /* history: generations kept ([licvault] keep; 0 means 1) */
} pc_case;

/*
 * One row per swept run.  History (`keep`) is one more column: keep 1 (the
 * old set pruned once the new one is whole) unless the row says 3 (the old
 * set stays beside the new one); the checks are the same: after every cut
 * the newest set restores, and it is the old one or the new one, whole.
 */
static const pc_case cases[] = {
	{"file://, first backup", BACKUP, .start = START_NONE},
	{"file://, --overwrite over the old set", BACKUP, .start = START_OLD, .overwrite = 1},
	{"file://, no --overwrite over the old set (refused)", BACKUP, .start = START_OLD, .refused = 1},
	{"bundle+file://, first backup", BACKUP, .bundle = 1, .start = START_NONE},
	{"bundle+file://, --overwrite over the old bundle", BACKUP, .bundle = 1, .start = START_OLD, .overwrite = 1},
	{"bundle+file://, no --overwrite over the old bundle (refused)", BACKUP, .bundle = 1, .start = START_OLD,
	 .refused = 1},
	{"file://, --overwrite, keep 3", BACKUP, .start = START_OLD, .overwrite = 1, .keep = 3},
	{"bundle+file://, --overwrite, keep 3", BACKUP, .bundle = 1, .start = START_OLD, .overwrite = 1, .keep = 3},
	{"restore, registry at the backup location (replaces generation 1)", RESTORE, .start = START_OLD,
	 .registry = REG_AT_BACKUP},
	{"restore, registry at [service] location (a new directory)", RESTORE, .start = START_NONE,
	 .registry = REG_AT_SERVICE},
	{"restore from bundle+file://, registry beside the bundle (replaces generation 1)", RESTORE, .bundle = 1,
	 .start = START_OLD, .registry = REG_AT_BACKUP},
};
#define NCASES (sizeof cases / sizeof cases[0])

/* The CLI arguments of a history setting: none (keep is a config key: write_conf). */
static const char *keep_args(const pc_case *c)
{
	(void)c;
	return "";
}

/* ---- the suite's state ---------------------------------------------------- */

static char *dir;            /* scratch, not on the mount: stores, configs, the daemon's log */
static char mnt[700];
static pid_t fs_pid = -1;
static FILE *ctl_in, *ctl_out;
static const char *skip_why;
static lv_context *ctx;
static lv_store *verify_store;   /* the store a verify runs with (it reads none of it) */
static unsigned long dig_old, dig_new;
static int verbose, failures;
static unsigned cuts[NCASES];
static double case_secs[NCASES];

static const char *const target_kids[] = {"own-1", "own-2", "kid-000001"};

/* Assert cond (evaluated once); when it fails, say what broke where. */
#define CHECK(cond, ...)                                                          \
	do {                                                                          \
		int ok_ = !!(cond);                                                       \
		if (!ok_) {                                                               \
			fprintf(stderr, "\n  [%s] ", label);                                  \
			fprintf(stderr, __VA_ARGS__);                                         \
			fprintf(stderr, " (%s)\n", #cond);                                    \
			failures++;                                                           \
		}                                                                         \
		CU_assertImplementation(ok_, __LINE__, #cond, __FILE__, "", CU_FALSE);    \
	} while (0)

/* ---- the file system: start, control, stop -------------------------------- */

/*
 * Send one command to lvpowercut; 0 when its answer ends with "ok".  *out
 * (when given) gets every line of the answer.
 */
static int fs_cmd(char **out, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int fs_cmd(char **out, const char *fmt, ...)
{
	char cmd[900];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(cmd, sizeof cmd, fmt, ap);
	va_end(ap);
	if (out)
		*out = NULL;
	if (!ctl_out || fprintf(ctl_out, "%s\n", cmd) < 0 || fflush(ctl_out))
		return -1;
	char *all = NULL, *line = NULL;
	size_t len = 0, cap = 0;
	FILE *mem = open_memstream(&all, &len);
	int rc = -1;
	while (mem && getline(&line, &cap, ctl_in) > 0) {
		fputs(line, mem);
		if (!strncmp(line, "ok", 2) || !strncmp(line, "error", 5)) {
			rc = line[0] == 'o' ? 0 : 1;
			break;
		}
	}
	free(line);
	if (mem)
		fclose(mem);
	if (rc && verbose)
		fprintf(stderr, "\n  [lvpowercut] %s -> %s", cmd, all ? all : "(no answer)\n");
	if (out)
		*out = all;
	else
		free(all);
	return rc;
}

/* A number after "key=" in an answer, or -1. */
static long answer_num(const char *ans, const char *key)
{
	const char *p = ans ? strstr(ans, key) : NULL;
	return p ? strtol(p + strlen(key), NULL, 10) : -1;
}

static int fs_connect(const char *path)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	snprintf(sa.sun_path, sizeof sa.sun_path, "%s", path);
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof sa) < 0) {
		fprintf(stderr, "\n  powercut: cannot connect to %s: %s\n", path, strerror(errno));
		if (fd >= 0)
			close(fd);
		return -1;
	}
	int fd2 = dup(fd);
	ctl_in = fdopen(fd, "r");
	ctl_out = fd2 >= 0 ? fdopen(fd2, "w") : NULL;
	return ctl_in && ctl_out ? 0 : -1;
}

/* Start lvpowercut on mnt; 0 once it is mounted (it says "ready"), else -1 with its log printed. */
static int fs_start(void)
{
	snprintf(mnt, sizeof mnt, "%s/mnt", dir);
	mkdir(mnt, 0700);
	int p[2];
	if (pipe2(p, O_CLOEXEC) < 0)
		return -1;
	pid_t parent = getpid();
	fs_pid = fork();
	if (fs_pid == 0) {
		/* it unmounts and ends when this runner dies, whatever kills it */
		prctl(PR_SET_PDEATHSIG, SIGTERM);
		if (getppid() != parent)
			_exit(1);
		int log = open(pth("lvpowercut.log"), O_WRONLY | O_CREAT | O_TRUNC, 0600);
		if (log >= 0) {
			dup2(log, 1);
			dup2(log, 2);
		}
		dup2(p[1], 3);
		execl(LV_TEST_POWERCUT, LV_TEST_POWERCUT, mnt, "--control", pth("ctl"), "--ready-fd", "3", (char *)NULL);
		_exit(127);
	}
	close(p[1]);
	char buf[16] = "";
	ssize_t n = fs_pid > 0 ? read(p[0], buf, sizeof buf - 1) : -1;
	close(p[0]);
	if (n == 6 && !strncmp(buf, "ready\n", 6) && fs_connect(pth("ctl")) == 0)
		return 0;
	char *log = NULL;
	t_sh(&log, "cat '%s'", pth("lvpowercut.log"));
	fprintf(stderr, "\n  powercut: %s did not mount %s: %s\n", LV_TEST_POWERCUT, mnt, log ? log : "");
	free(log);
	return -1;
}

/* Stop lvpowercut (by its PID when it does not quit) and make sure nothing stays mounted. */
static void fs_stop(void)
{
	if (fs_pid > 0) {
		if (fs_cmd(NULL, "quit"))
			kill(fs_pid, SIGKILL);
		int st;
		waitpid(fs_pid, &st, 0);
		fs_pid = -1;
	}
	if (ctl_in)
		fclose(ctl_in);
	if (ctl_out)
		fclose(ctl_out);
	ctl_in = ctl_out = NULL;
	if (mnt[0] && umount2(mnt, MNT_DETACH) == 0)
		fprintf(stderr, "\n  powercut: %s was still mounted after lvpowercut ended; unmounted\n", mnt);
}

/* ---- the CLI and the stores --------------------------------------------------- */

/* The CLI's config for a case: the registry's place, no daily limit. */
static const char *write_conf(const pc_case *c)
{
	const char *p = pth("cli.conf");
	FILE *f = fopen(p, "w");
	if (!f)
		return p;
	fprintf(f, "[licvault]\nkeep = %u\n[service]\nrestores_per_day = 1000000\n", c && c->keep ? c->keep : 1);
	if (c && c->op == RESTORE && c->registry == REG_AT_SERVICE)
		fprintf(f, "location = file://%s/svc/reg\n", mnt);
	fclose(f);
	return p;
}

/* Run the CLI; its exit status, its output in *out when asked. */
static int cli(char **out, const char *store, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int cli(char **out, const char *store, const char *fmt, ...)
{
	char args[1500];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(args, sizeof args, fmt, ap);
	va_end(ap);
	char *o = NULL;
	int st = t_sh(&o, "'%s' --config '%s' --store '%s' -q %s 2>&1", T_CLI, pth("cli.conf"), store, args);
	if (out)
		*out = o;
	else
		free(o);
	return st;
}

static int init_failed(const char *what)
{
	fprintf(stderr, "\n  powercut: setting up the suite failed: %s\n", what);
	return 1;
}

static int init(void)
{
	verbose = getenv("LV_TEST_VERBOSE") != NULL;
	if (geteuid() != 0)
		skip_why = "not root: mounting and unmounting FUSE needs root here";
	else if (access("/dev/fuse", R_OK | W_OK) != 0)
		skip_why = "no usable /dev/fuse";
	if (skip_why)
		return 0;
	if (!(dir = t_tmpdir_fast("lvpowercut")))
		return init_failed("no scratch directory");
	setenv("LICVAULT_CONFIG", "/nonexistent-licvault-config", 0);
	if (!(ctx = t_context()))
		return init_failed("no context");
	/* the checks' own restores keep their registry off the mount */
	FILE *f = fopen(pth("check.conf"), "w");
	if (!f)
		return init_failed("cannot write check.conf");
	fprintf(f, "[service]\nrestores_per_day = 1000000\nlocation = file://%s/checkreg\n", dir);
	fclose(f);
	if (lv_context_load_config(ctx, pth("check.conf")))
		return init_failed("cannot load check.conf");
	lv_store *a = NULL, *b = NULL;
	if (t_make_store(ctx, pth("old.db"), 6, &a) || t_make_store(ctx, pth("new.db"), 8, &b))
		return init_failed("cannot make the stores");
	lv_store_free(a);
	lv_store_free(b);
	if (lv_store_open(&verify_store, ctx, pth("verify.db"), LV_STORE_CREATE))
		return init_failed("cannot make verify.db");
	if (t_make_target(ctx, pth("t0.db"), target_kids, 3) || t_make_target(ctx, pth("tA.db"), target_kids, 3) ||
	    t_make_target(ctx, pth("tB.db"), target_kids, 3))
		return init_failed("cannot make the restore targets");
	/* the two sets, off the mount */
	write_conf(NULL);
	char uri[800];
	snprintf(uri, sizeof uri, "file://%s", pth("set-old"));
	if (cli(NULL, pth("old.db"), "backup '%s'", uri))
		return init_failed("the CLI cannot back up the old set");
	dig_old = t_restore_digest(ctx, pth("t0.db"), pth("check.db"), uri, NULL);
	snprintf(uri, sizeof uri, "file://%s", pth("set-new"));
	if (cli(NULL, pth("new.db"), "backup '%s'", uri))
		return init_failed("the CLI cannot back up the new set");
	dig_new = t_restore_digest(ctx, pth("t0.db"), pth("check.db"), uri, NULL);
	if (!dig_old || !dig_new || dig_old == dig_new)
		return init_failed("the old and the new set do not restore as two different sets");
	if (fs_start() || fs_cmd(NULL, "save empty")) {
		fs_stop();
		return init_failed("lvpowercut did not start (its log is above)");
	}
	return 0;
}

static int clean(void)
{
	fs_stop();
	lv_store_free(verify_store);
	lv_context_free(ctx);
	free(dir);
	return 0;
}

/* ---- the file system on its own --------------------------------------------- */

static int write_file(const char *path, const char *text, int do_fsync)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0)
		return -1;
	int rc = write(fd, text, strlen(text)) == (ssize_t)strlen(text) ? 0 : -1;
	if (do_fsync && fsync(fd) < 0)
		rc = -1;
	return close(fd) < 0 ? -1 : rc;
}

static int fsync_dir(const char *path)
{
	int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	int rc = fd >= 0 && fsync(fd) == 0 ? 0 : -1;
	if (fd >= 0)
		close(fd);
	return rc;
}

static long file_len(const char *path)
{
	struct stat st;
	return stat(path, &st) == 0 ? (long)st.st_size : -1;
}

/* What lvpowercut promises, through the kernel: only fsync'd data and fsync'd entries survive a cut. */
static void test_filesystem(void)
{
	if (skip_why) {
		fprintf(stderr, "\n  (powercut suite skipped: %s)\n", skip_why);
		return;
	}
	const char *label = "lvpowercut";
	char a[800], b[800], d[800], *ans = NULL;
	snprintf(d, sizeof d, "%s/self", mnt);
	snprintf(a, sizeof a, "%s/self/a", mnt);
	snprintf(b, sizeof b, "%s/self/b", mnt);
	CU_ASSERT_EQUAL_FATAL(fs_cmd(NULL, "load empty"), 0);
	CU_ASSERT_EQUAL_FATAL(mkdir(d, 0700), 0);
	CHECK(fsync_dir(mnt) == 0 && write_file(a, "durable", 1) == 0 && fsync_dir(d) == 0, "set up");
	CHECK(write_file(b, "volatile", 1) == 0, "a file fsync'd, its directory not");
	CHECK(rename(a, b) == 0, "a rename over it, its directory not fsync'd: %s", strerror(errno));
	CHECK(fs_cmd(&ans, "cut") == 0 && answer_num(ans, "lost=") == 2, "the cut reports the two lost entries: %s", ans);
	free(ans);
	CHECK(file_len(a) == 7 && file_len(b) == -1, "after the cut: the durable name, the rename undone");
	/* a name made durable before its data: it survives, empty, and the cut says so */
	CHECK(write_file(b, "torn", 0) == 0 && fsync_dir(d) == 0, "name durable, data not");
	CHECK(fs_cmd(&ans, "cut") == 0 && strstr(ans, "lost data /self/b") != NULL, "the cut names the torn file: %s", ans);
	free(ans);
	CHECK(file_len(b) == 0, "the torn file is empty after the cut");
	/* frozen after point 1: point 2 is counted, not kept */
	CHECK(fs_cmd(NULL, "arm 1") == 0 && write_file(a, "first", 1) == 0 && write_file(b, "second", 1) == 0,
	      "two fsyncs");
	CHECK(fs_cmd(&ans, "status") == 0 && answer_num(ans, "points=") == 2, "two points counted: %s", ans);
	free(ans);
	CHECK(fs_cmd(NULL, "cut") == 0 && file_len(a) == 5 && file_len(b) == 0, "only point 1 survives the cut: %ld and %ld bytes",
	      file_len(a), file_len(b));
	CHECK(fs_cmd(&ans, "status") == 0 && answer_num(ans, "freeze_after=") == -1, "a cut disarms: %s", ans);
	free(ans);
	/* a meta cut: the namespace as it was at the first frozen point survives, unsynced data does not */
	char m[800];
	snprintf(m, sizeof m, "%s/self/m", mnt);
	CHECK(fs_cmd(NULL, "arm 0 meta") == 0 && write_file(m, "meta", 0) == 0 && write_file(a, "x", 1) == 0,
	      "a new file, then a frozen point");
	CHECK(fs_cmd(NULL, "cut") == 0 && file_len(m) == 0 && file_len(a) == 5,
	      "after a meta cut: the new name without its data (%ld bytes), the old data (%ld bytes)", file_len(m),
	      file_len(a));
}

/* ---- a case's location and what it holds ------------------------------------- */

/* Where a case's objects lie on the mount (the backup's, or the registry's for a restore). */
static void case_dir(const pc_case *c, int registry, char *buf, size_t cap)
{
	if (c->op == RESTORE)
		snprintf(buf, cap, "%s/%s", mnt, registry && c->registry == REG_AT_SERVICE ? "svc/reg" : "rloc");
	else
		snprintf(buf, cap, "%s/%s", mnt, c->start == START_NONE ? "fresh/new" : "loc");
}

static void case_uri(const pc_case *c, char *buf, size_t cap)
{
	char d[800];
	case_dir(c, 0, d, sizeof d);
	snprintf(buf, cap, c->bundle ? "bundle+file://%s/lic.lvb" : "file://%s", d);
}

/*
 * The newest non-hidden object of `dir` whose name ends with `suffix`
 * (names of one length: the highest sorts last); its bytes in *data when
 * asked.  1 when there is one, 0 when not.
 */
static int newest(const char *d, const char *suffix, char *name, size_t cap, char **data, size_t *len)
{
	DIR *dd = opendir(d);
	name[0] = '\0';
	if (!dd)
		return 0;
	struct dirent *de;
	size_t sl = strlen(suffix);
	while ((de = readdir(dd))) {
		size_t l = strlen(de->d_name);
		if (de->d_name[0] != '.' && l >= sl && !strcmp(de->d_name + l - sl, suffix) && strcmp(de->d_name, name) > 0)
			snprintf(name, cap, "%s", de->d_name);
	}
	closedir(dd);
	if (!name[0])
		return 0;
	if (data) {
		char p[1200];
		snprintf(p, sizeof p, "%s/%s", d, name);
		FILE *f = fopen(p, "re");
		*data = NULL;
		*len = 0;
		FILE *m = open_memstream(data, len);
		int ch;
		while (f && m && (ch = getc(f)) != EOF)
			putc(ch, m);
		if (f)
			fclose(f);
		if (m)
			fclose(m);
	}
	return 1;
}

enum { ST_NONE, ST_OLD, ST_NEW, ST_BAD };
static const char *const st_name[] = {"no set", "the old set", "the new set", "neither set"};

/* A backup location after a cut: no set, the old set, the new set, or neither (reported). */
static int backup_state(const pc_case *c, const char *label)
{
	char d[800], uri[900], name[300];
	case_dir(c, 0, d, sizeof d);
	case_uri(c, uri, sizeof uri);
	if (!newest(d, c->bundle ? ".lvb" : ".manifest", name, sizeof name, NULL, NULL)) /* lic.g<16 hex>.lvb */
		return ST_NONE;
	t_events ev;
	int rc = t_verify(ctx, verify_store, uri, &ev);
	CHECK(rc == 0, "the location verifies after the cut: %s: %s", lv_error_name(rc), ev.end_message);
	unsigned long dg = t_restore_digest(ctx, pth("t0.db"), pth("check.db"), uri, &rc);
	if (dg == dig_old)
		return ST_OLD;
	if (dg == dig_new)
		return ST_NEW;
	char *ls = NULL;
	t_sh(&ls, "ls -la '%s'", d);
	fprintf(stderr, "\n  [%s] the restore gives neither set (%s); the location holds:\n%s", label, lv_error_name(rc), ls);
	free(ls);
	return ST_BAD;
}

static char *reg_old, *reg_new;     /* the registry before and after the swept restore */
static size_t reg_old_len, reg_new_len;

/* A registry after a cut: none, the old one, the new one, or another (reported). */
static int registry_state(const pc_case *c, const char *label)
{
	char d[800], name[300], *data = NULL;
	size_t len = 0;
	case_dir(c, 1, d, sizeof d);
	if (!newest(d, ".reg", name, sizeof name, &data, &len))
		return ST_NONE;
	int st = ST_BAD;
	if (reg_old && len == reg_old_len && !memcmp(data, reg_old, len))
		st = ST_OLD;
	else if (reg_new && len == reg_new_len && !memcmp(data, reg_new, len))
		st = ST_NEW;
	else
		fprintf(stderr, "\n  [%s] the newest registry %s/%s (%zu bytes) is neither the old one nor the new one\n",
		        label, d, name, len);
	free(data);
	return st;
}

/* ---- the sweep ---------------------------------------------------------------- */

/* The case's start state, made durable and saved as "start-IDX"; 0 when made. */
static int make_start(const pc_case *c, size_t idx)
{
	const char *label = c->name;
	char uri[900], *out = NULL;
	case_uri(c, uri, sizeof uri);
	write_conf(c);
	int rc = fs_cmd(NULL, "load empty");
	if (!rc && c->op == BACKUP && c->start == START_OLD)
		rc = cli(&out, pth("old.db"), "backup '%s'", uri);
	if (!rc && c->op == RESTORE) {
		rc = cli(&out, pth("new.db"), "backup '%s'", uri);
		if (!rc && c->start == START_OLD) {
			free(out);
			t_copy_file(pth("tA.db"), pth("tA-run.db"));
			rc = cli(&out, pth("tA-run.db"), "restore '%s'", uri);
		}
	}
	CHECK(rc == 0, "making the start state: %s", out ? out : "(lvpowercut failed)");
	free(out);
	if (rc || fs_cmd(NULL, "checkpoint") || fs_cmd(NULL, "save start-%zu", idx))
		return -1;
	free(reg_old);
	reg_old = NULL;
	reg_old_len = 0;
	if (c->op == RESTORE) {
		char d[800], name[300];
		case_dir(c, 1, d, sizeof d);
		newest(d, ".reg", name, sizeof name, &reg_old, &reg_old_len);
	}
	return 0;
}

/* The swept run; 0 when it ended as the case expects. */
static int run_op(const pc_case *c, const char *label)
{
	char uri[900], *out = NULL;
	case_uri(c, uri, sizeof uri);
	int st;
	if (c->op == BACKUP)
		st = cli(&out, pth("new.db"), "backup %s%s'%s'", c->overwrite ? "--overwrite " : "", keep_args(c), uri);
	else {
		t_copy_file(pth("tB.db"), pth("tB-run.db"));
		st = cli(&out, pth("tB-run.db"), "restore %s'%s'", keep_args(c), uri);
	}
	int ok = c->refused ? st == 3 && strstr(out, "already") != NULL : st == 0; /* 3: BACKUP_EXISTS (docs/cli.md) */
	CHECK(ok, "the run %s (exit %d): %s", c->refused ? "is refused" : "succeeds", st, out);
	free(out);
	return ok ? 0 : -1;
}

/* After a cut: the next backup (or restore) works, and gives the new set. */
static void check_next(const pc_case *c, const char *label)
{
	char uri[900], *out = NULL;
	case_uri(c, uri, sizeof uri);
	int st;
	if (c->op == BACKUP) {
		st = cli(&out, pth("new.db"), "backup --overwrite %s'%s'", keep_args(c), uri);
		CHECK(st == 0, "the next backup succeeds: %s", out);
		if (!st)
			CHECK(t_restore_digest(ctx, pth("t0.db"), pth("check.db"), uri, NULL) == dig_new,
			      "and restores the new set");
	} else {
		t_events ev;
		st = t_verify(ctx, verify_store, uri, &ev);
		CHECK(st == 0, "the backup still verifies: %s: %s", lv_error_name(st), ev.end_message);
		t_copy_file(pth("tB.db"), pth("tB-next.db"));
		st = cli(&out, pth("tB-next.db"), "restore '%s'", uri);
		CHECK(st == 0, "the next restore succeeds (the registry is whole): %s", out);
	}
	free(out);
}

/* Every published object whose data the cut lost (torn): a "lost data" line of a name without a leading '.'. */
static void check_torn(const char *report, const char *label)
{
	for (const char *p = report; p && (p = strstr(p, "lost data ")); p++) {
		const char *path = p + 10, *end = path + strcspn(path, "\n");
		const char *base = memrchr(path, '/', (size_t)(end - path));
		base = base ? base + 1 : path;
		CHECK(*base == '.', "%.*s is published, but the cut lost its data (torn: no fsync before its name was made durable)",
		      (int)(end - path), path);
	}
}

static void check_whole_run(const char *report, const char *label)
{
	for (const char *line = report, *eol; line && *line; line = *eol ? eol + 1 : eol) {
		eol = line + strcspn(line, "\n");
		if (strncmp(line, "lost ", 5) != 0)
			continue;
		const char *path = memchr(line + 5, ' ', (size_t)(eol - line - 5));
		const char *base = path ? memrchr(path, '/', (size_t)(eol - path)) : NULL;
		if (!base || base[1] == '.')
			continue; /* a driver's temporary */
		CHECK(0, "the whole run succeeded, but a power cut after it loses this (a missing fsync): %.*s",
		      (int)(eol - line), line);
	}
}

/* What point n is, from the `points` answer: "file PATH" or "dir PATH". */
static void point_name(const char *points, long n, char *buf, size_t cap)
{
	char key[32];
	snprintf(key, sizeof key, "point %ld ", n);
	const char *p = n > 0 && points ? strstr(points, key) : NULL;
	if (!p)
		snprintf(buf, cap, "%s", n ? "?" : "before the first point");
	else
		snprintf(buf, cap, "after fsync of %.*s", (int)strcspn(p + strlen(key), "\n"), p + strlen(key));
}

static const char *const cut_kind[] = {"strict", "meta"};

/* Cut the power; check what the location holds; the state it is in. */
static int cut_and_check(const pc_case *c, long n, long total, const char *points, int meta)
{
	char label[700], what[400], *report = NULL;
	point_name(points, n, what, sizeof what);
	snprintf(label, sizeof label, "%s: %s cut after point %ld of %ld (%s)", c->name, cut_kind[meta], n, total, what);
	if (fs_cmd(&report, "cut")) {
		CHECK(0, "the power cut: %s", report ? report : "(no answer)");
		free(report);
		return ST_BAD;
	}
	check_torn(report, label);
	if (n == total && !meta)
		check_whole_run(report, label);
	int st = c->op == BACKUP ? backup_state(c, label) : registry_state(c, label);
	int old_ok = c->start == START_OLD ? st == ST_OLD : st == ST_NONE;
	if (c->refused)
		CHECK(st == ST_OLD, "the refused run left the old set: the location holds %s", st_name[st]);
	else if (n == total)
		CHECK(st == ST_NEW, "the whole run is durable: the location holds %s", st_name[st]);
	else
		CHECK(st == ST_NEW || old_ok, "the location holds the old state or the new one: it holds %s", st_name[st]);
	if (verbose && report && strstr(report, "lost "))
		fprintf(stderr, "\n  [%s] the cut lost:\n%s", label, report);
	free(report);
	check_next(c, label);
	return st;
}

static double now_secs(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/* Count the points of a whole run from the start state (no cut yet); its point log in *points.  -1 on failure. */
static long count_points(const pc_case *c, size_t idx, char **points)
{
	const char *label = c->name;
	*points = NULL;
	if (fs_cmd(NULL, "load start-%zu", idx) || fs_cmd(NULL, "arm never") || run_op(c, label))
		return -1;
	char *ans = NULL;
	fs_cmd(points, "points");
	long total = fs_cmd(&ans, "status") ? -1 : answer_num(ans, "points=");
	free(ans);
	if (c->op == RESTORE) {
		/* the new registry, as the run left it (before any cut) */
		char d[800], name[300];
		case_dir(c, 1, d, sizeof d);
		free(reg_new);
		reg_new = NULL;
		reg_new_len = 0;
		newest(d, ".reg", name, sizeof name, &reg_new, &reg_new_len);
	}
	if (verbose)
		fprintf(stderr, "\n  [%s] %ld durability points:\n%s", label, total, *points ? *points : "");
	return total;
}

/* The run again from the start state, frozen after point n; then the cut and its checks. */
static int frozen_run(const pc_case *c, size_t idx, long n, long total, const char *points, int meta)
{
	char label[600];
	snprintf(label, sizeof label, "%s: %s cut after point %ld of %ld", c->name, cut_kind[meta], n, total);
	if (fs_cmd(NULL, "load start-%zu", idx) || fs_cmd(NULL, "arm %ld %s", n, cut_kind[meta]) || run_op(c, label)) {
		CHECK(0, "the run from the start state");
		return ST_BAD;
	}
	char *ans = NULL;
	long again = fs_cmd(&ans, "status") ? -1 : answer_num(ans, "points=");
	free(ans);
	CHECK(again == total, "the run makes the same points each time: %ld, then %ld", total, again);
	cuts[idx]++;
	return cut_and_check(c, n, total, points, meta);
}

#define MAX_POINTS 200

static void sweep(size_t idx)
{
	const pc_case *c = &cases[idx];
	const char *label = c->name;
	double t0 = now_secs();
	char *points = NULL;
	if (make_start(c, idx))
		return;
	long total = count_points(c, idx, &points);
	CHECK(total >= (c->refused ? 1 : 4) && total <= MAX_POINTS,
	      "the run makes durability points (a lock; a pack, a manifest and their directory): %ld", total);
	if (total < 0 || total > MAX_POINTS) {
		free(points);
		return;
	}
	/* the counting run, cut after its last point */
	int last_strict = cut_and_check(c, total, total, points, 0);
	cuts[idx]++;
	for (int meta = 0; meta < 2; meta++) {
		int states[MAX_POINTS + 1];
		for (long n = 0; n <= total; n++)
			states[n] = n == total && !meta ? last_strict
			            : t_sweep_step(n, 0, total, (unsigned)meta) ? frozen_run(c, idx, n, total, points, meta)
			                                                          : -1; /* not in the sample */
		/* durable means for good: once a cut showed the new set, no later cut shows the old one */
		for (long n = 1, prev = 0; n <= total; n++) {
			if (states[n] < 0)
				continue;
			CHECK(!(states[prev] == ST_NEW && states[n] != ST_NEW),
			      "a %s cut after point %ld showed the new set, one after point %ld %s", cut_kind[meta], prev, n,
			      st_name[states[n]]);
			prev = n;
		}
	}
	free(points);
	case_secs[idx] = now_secs() - t0;
}

static void sweep_kind(int op, int bundle)
{
	if (skip_why) {
		fprintf(stderr, "\n  (powercut sweep skipped: %s)\n", skip_why);
		return;
	}
	for (size_t i = 0; i < NCASES; i++)
		if (cases[i].op == op && cases[i].bundle == bundle)
			sweep(i);
}

static void test_backup_file(void) { sweep_kind(BACKUP, 0); }
static void test_backup_bundle(void) { sweep_kind(BACKUP, 1); }
static void test_restore(void)
{
	sweep_kind(RESTORE, 0);
	sweep_kind(RESTORE, 1);
}

static void test_summary(void)
{
	if (skip_why)
		return;
	unsigned total = 0;
	double secs = 0;
	fprintf(stderr, "\n  powercut: power cuts swept, one after every durability point:\n");
	for (size_t i = 0; i < NCASES; i++) {
		fprintf(stderr, "    %3u cuts  %5.1f s  %s\n", cuts[i], case_secs[i], cases[i].name);
		total += cuts[i];
		secs += case_secs[i];
	}
	fprintf(stderr, "    %3u cuts  %5.1f s  in all%s\n", total, secs,
	        failures ? "; invariants broken, listed above" : "");
	CU_ASSERT(total > 0);
	CU_ASSERT_EQUAL(failures, 0);
}

LV_SUITE(powercut, powercut, init, clean,
         {"lvpowercut keeps only what was made durable", test_filesystem},
         {"power cut at every point of a backup to file://", test_backup_file},
         {"power cut at every point of a backup to bundle+file://", test_backup_bundle},
         {"power cut at every point of a restore writing the registry", test_restore},
         {"summary", test_summary})
