/*
 * The default store's files (issue 16 point 6, issue 15 points 3 and 10):
 * a new store is created 0600 wherever its path's symbolic links put it,
 * never through another user's link; a store is made only by a write that
 * commits, so a failed restore leaves none; a store on a read-only or full
 * filesystem is still listed, exported, backed up and verified (its WAL's
 * licenses included); a restore into a full filesystem says NO_SPACE with
 * the free and the needed space.  Real symbolic links, users, loop-mounted
 * ext4 volumes.
 */
#include <dirent.h>
#include <fcntl.h>
#include <pwd.h>
#include <sqlite3.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "fixture_volume.h"
#include "testutil.h"

#define dir t_suite_dir
#define USER "lvstore"

static lv_context *ctx;
static int have_user;
static char *kept[256];   /* the paths S and P made, freed at the end */
static int n_kept;

static int init(void)
{
	if (t_suite_dir_init() || !(ctx = t_context()))
		return 1;
	have_user = t_user_make(USER);
	return 0;
}

static int clean(void)
{
	if (have_user)
		t_user_remove(USER);
	lv_context_free(ctx);
	while (n_kept > 0)
		free(kept[--n_kept]);
	return t_suite_dir_clean();
}

static char *P(const char *folder, const char *name)
{
	char *p = NULL;
	if (asprintf(&p, "%s/%s", folder, name) < 0 || n_kept >= 256)
		abort();
	return kept[n_kept++] = p;
}

static char *S(const char *name)
{
	return P(dir, name);
}

static void sh_ok(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void sh_ok(const char *fmt, ...)
{
	char cmd[4096], *out = NULL;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(cmd, sizeof cmd, fmt, ap);
	va_end(ap);
	int rc = t_sh(&out, "%s", cmd);
	if (rc)
		fprintf(stderr, "\n  [%s] -> %d: %s\n", cmd, rc, out ? out : "");
	CU_ASSERT_EQUAL(rc, 0);
	free(out);
}

#define HAS(msg, needle)                                                        \
	do {                                                                      \
		if (!strstr(msg, needle)) {                                           \
			fprintf(stderr, "\n  '%s' lacks '%s'\n", msg, needle);              \
			CU_FAIL("message");                                               \
		}                                                                     \
	} while (0)

static int exists(const char *p)
{
	struct stat st;
	return lstat(p, &st) == 0;
}

static int add_one(lv_store *s, int i)
{
	lv_license l;
	char kid[32];
	unsigned char payload[64];
	t_license(&l, i, kid, sizeof kid, payload, sizeof payload);
	return lv_store_add(s, &l, 0);
}

/* ---- creating a store ------------------------------------------------------------ */

/* A store path that is a dangling symbolic link: the store is made at its end, mode 0600 whatever the umask. */
static void test_dangling_link_made_0600(void)
{
	char *link = S("link.db"), *target = S("land/store.db");
	sh_ok("mkdir -p '%s' && ln -s '%s' '%s'", S("land"), target, link);
	mode_t old = umask(0);
	lv_store *s = NULL;
	CU_ASSERT_EQUAL_FATAL(lv_store_open(&s, ctx, link, LV_STORE_CREATE), 0);
	CU_ASSERT_EQUAL(add_one(s, 1), 0);
	umask(old);
	struct stat st;
	CU_ASSERT_EQUAL_FATAL(stat(target, &st), 0);
	CU_ASSERT_EQUAL(st.st_mode & 07777, 0600);
	CU_ASSERT_EQUAL(lstat(link, &st), 0);
	CU_ASSERT(S_ISLNK(st.st_mode));
	CU_ASSERT_EQUAL(t_count(s), 1);
	lv_store_free(s);
	/* nothing else is left beside it (no private file of the making) */
	CU_ASSERT_EQUAL(fx_dir_entries(S("land")), 1);
	/* a link into folders that do not exist yet: they are made (0700), the store 0600 */
	char *far = S("far/deep/s2.db"), *link2 = S("link2.db");
	sh_ok("ln -s '%s' '%s'", far, link2);
	CU_ASSERT_EQUAL_FATAL(lv_store_open(&s, ctx, link2, LV_STORE_CREATE), 0);
	CU_ASSERT_EQUAL(add_one(s, 2), 0);
	lv_store_free(s);
	CU_ASSERT_EQUAL_FATAL(stat(far, &st), 0);
	CU_ASSERT_EQUAL(st.st_mode & 07777, 0600);
	CU_ASSERT_EQUAL_FATAL(stat(S("far/deep"), &st), 0);
	CU_ASSERT_EQUAL(st.st_mode & 07777, 0700);
}

/* A symbolic link of another user on the store path is refused, before anything is made or read. */
static void test_foreign_link_refused(void)
{
	if (!have_user) {
		fprintf(stderr, "\n  skipped: no user " USER " (needs root) ");
		return;
	}
	char *link = S("theirs.db"), *target = S("their-dir/s.db");
	sh_ok("ln -s '%s' '%s' && chown -h " USER " '%s'", target, link, link);
	lv_store *s = NULL;
	CU_ASSERT_EQUAL(lv_store_open(&s, ctx, link, LV_STORE_CREATE), LV_E_CONFIG);
	HAS(lv_context_last_error(ctx), "theirs.db: bad owner: it belongs to " USER);
	CU_ASSERT_FALSE(exists(S("their-dir")));
	/* to a store that exists: refused too */
	lv_store *real = NULL;
	CU_ASSERT_EQUAL_FATAL(t_make_store(ctx, S("real.db"), 2, &real), 0);
	lv_store_free(real);
	char *link2 = S("theirs2.db");
	sh_ok("ln -s '%s' '%s' && chown -h " USER " '%s'", S("real.db"), link2, link2);
	CU_ASSERT_EQUAL(lv_store_open(&s, ctx, link2, LV_STORE_READONLY), LV_E_CONFIG);
	HAS(lv_context_last_error(ctx), "bad owner");
	/* their link as a folder on the way, and as the folder where a link of ours points: refused too */
	sh_ok("mkdir -p '%s' && ln -s '%s' '%s' && chown -h " USER " '%s'", S("their-folder"), S("their-folder"),
	      S("odir"), S("odir"));
	CU_ASSERT_EQUAL(lv_store_open(&s, ctx, P(S("odir"), "sub/../new.db"), LV_STORE_CREATE), LV_E_CONFIG);
	HAS(lv_context_last_error(ctx), "odir: bad owner: it belongs to " USER);
	sh_ok("ln -s '%s' '%s'", P(S("odir"), "ours.db"), S("mine.db"));
	CU_ASSERT_EQUAL(lv_store_open(&s, ctx, S("mine.db"), LV_STORE_CREATE), LV_E_CONFIG);
	HAS(lv_context_last_error(ctx), "odir: bad owner");
	CU_ASSERT_FALSE(exists(P(S("their-folder"), "new.db")));
}

/*
 * A -wal, -shm or -journal that is no regular file (a FIFO, a link someone
 * put there): a write is refused naming it, and it is left as it is (SQLite
 * failed on it with "unable to open database file", or unlinked a FIFO -wal
 * at close); a read-only open still reads the store alone.
 */
static void test_odd_companion_refused(void)
{
	lv_store *s = NULL;
	CU_ASSERT_EQUAL_FATAL(t_make_store(ctx, S("odd.db"), 2, &s), 0);
	lv_store_free(s);
	static const char *const make[] = {"mkfifo '%s-wal'", "ln -s /nowhere '%s-shm'", "ln -s /nowhere '%s-journal'"};
	static const char *const said[] = {"odd.db-wal is a FIFO", "odd.db-shm is a symbolic link",
	                                   "odd.db-journal is a symbolic link"};
	static const char *const left[] = {"odd.db-wal", "odd.db-shm", "odd.db-journal"};
	for (int i = 0; i < 3; i++) {
		sh_ok(make[i], S("odd.db"));
		s = NULL;
		CU_ASSERT_EQUAL(lv_store_open(&s, ctx, S("odd.db"), LV_STORE_CREATE), LV_E_IO);
		HAS(lv_context_last_error(ctx), said[i]);
		CU_ASSERT_PTR_NULL(s);
		CU_ASSERT_TRUE(exists(S(left[i])));
		uint64_t n = 0;
		CU_ASSERT_EQUAL_FATAL(lv_store_open(&s, ctx, S("odd.db"), LV_STORE_READONLY), 0);
		CU_ASSERT_EQUAL(lv_store_count(s, &n), 0);
		CU_ASSERT_EQUAL(n, 2);
		lv_store_free(s);
		CU_ASSERT_TRUE(exists(S(left[i])));
		unlink(S(left[i]));
	}
}

/* Every error of making the file is checked and named. */
static void test_create_errors_named(void)
{
	char *afile = S("afile");
	sh_ok("echo x > '%s'", afile);
	lv_store *s = NULL;
	int rc = lv_store_open(&s, ctx, P(afile, "s.db"), LV_STORE_CREATE);
	const char *msg = lv_context_last_error(ctx);
	if (!rc) {
		rc = add_one(s, 1);
		msg = lv_store_last_error(s);
	}
	CU_ASSERT_EQUAL(rc, LV_E_IO);
	HAS(msg, "afile");
	HAS(msg, "Not a directory");
	lv_store_free(s);
}

/* ---- no store from a failed restore ------------------------------------------------ */

/* A license service that fails when asked to record the restore: after the licenses went in. */
static int fs_begin(void *ud, lv_service_call *call, void **session)
{
	(void)ud;
	(void)call;
	*session = (void *)1;
	return 0;
}
static int fs_decide(void *session, lv_service_call *call, const char *kid, int *d)
{
	(void)session;
	(void)call;
	(void)kid;
	*d = LV_DECIDE_REBIND;
	return 0;
}
static int fs_end(void *session, lv_service_call *call, int commit)
{
	(void)session;
	return commit ? lv_call_set_error(call, LV_E_IO, "the test service cannot record this restore") : 0;
}
static const lv_service failing_service = {LV_SERVICE_VERSION, fs_begin, fs_decide, fs_end, NULL};

static int fail_txn(lv_store *s, void *ud)
{
	(void)ud;
	add_one(s, 7);
	return LV_E_CANCELED;
}

static void test_failed_restore_makes_no_store(void)
{
	lv_store *src = NULL;
	CU_ASSERT_EQUAL_FATAL(t_make_store(ctx, S("src.db"), 6, &src), 0);
	CU_ASSERT_EQUAL_FATAL(t_backup(ctx, src, S("bk"), 0, NULL), 0);
	lv_store_free(src);
	char *fresh_dir = S("fresh"), *fresh = S("fresh/new.db");
	lv_store *s = NULL;
	CU_ASSERT_EQUAL_FATAL(lv_store_open(&s, ctx, fresh, LV_STORE_CREATE), 0);
	CU_ASSERT_FALSE(exists(fresh_dir)); /* opening makes nothing */
	CU_ASSERT_EQUAL(t_count(s), 0);
	CU_ASSERT_EQUAL(t_restore(ctx, s, S("nothing-here"), 0, NULL), LV_E_NOT_FOUND);
	CU_ASSERT_EQUAL(t_restore(ctx, s, S("bk"), 0, NULL), LV_E_NEEDS_INDIVIDUALIZATION);
	CU_ASSERT_FALSE(exists(fresh_dir));
	/* failing after the licenses went into the new store: the run's handle had made it, and removes it */
	lv_context *c2 = t_context();
	CU_ASSERT_EQUAL(lv_context_set_service(c2, &failing_service, NULL), 0);
	lv_store *s2 = NULL;
	CU_ASSERT_EQUAL_FATAL(lv_store_open(&s2, c2, fresh, LV_STORE_CREATE), 0);
	t_events ev;
	CU_ASSERT_EQUAL(t_restore(c2, s2, S("bk"), LV_RESTORE_INDIVIDUALIZE, &ev), LV_E_IO);
	HAS(ev.end_message, "cannot record this restore");
	CU_ASSERT_FALSE(exists(fresh));
	CU_ASSERT_EQUAL(fx_dir_entries(fresh_dir), 0); /* its folder was made, nothing is left in it */
	lv_store_free(s2);
	lv_context_free(c2);
	/* an application's transaction that fails: no store either */
	CU_ASSERT_EQUAL(lv_store_transaction(s, fail_txn, NULL), LV_E_CANCELED);
	CU_ASSERT_FALSE(exists(fresh));
	/* a restore that succeeds makes it (0600), and the application's own handle sees it */
	CU_ASSERT_EQUAL(t_restore(ctx, s, S("bk"), LV_RESTORE_INDIVIDUALIZE, NULL), 0);
	struct stat st;
	CU_ASSERT_EQUAL_FATAL(stat(fresh, &st), 0);
	CU_ASSERT_EQUAL(st.st_mode & 07777, 0600);
	CU_ASSERT_EQUAL(t_count(s), 5);
	lv_store_free(s);
	/* the CLI the same: a restore that fails leaves no store */
	char *out = NULL;
	CU_ASSERT_EQUAL(t_sh(&out, "cd '%s' && LICVAULT_CONFIG=/dev/null '%s' --store cli/new.db restore nothing-here",
	                     dir, T_CLI),
	                4);
	free(out);
	CU_ASSERT_EQUAL(t_sh(&out, "cd '%s' && LICVAULT_CONFIG=/dev/null '%s' --store cli/new.db restore bk", dir, T_CLI),
	                8);
	HAS(out, "NEEDS_INDIVIDUALIZATION");
	free(out);
	CU_ASSERT_FALSE(exists(S("cli/new.db")));
}

/* ---- what a crash leaves while a store is made ------------------------------------------ */

static int crash_txn(lv_store *s, void *ud)
{
	(void)ud;
	add_one(s, 3);
	_exit(0); /* killed in the middle of the store's first transaction */
}

/* The one name in folder that begins with prefix and is exactly len long, or NULL. */
static char *find_in(const char *folder, const char *prefix, size_t len)
{
	DIR *d = opendir(folder);
	char *found = NULL;
	for (struct dirent *de; d && (de = readdir(d));)
		if (!strncmp(de->d_name, prefix, strlen(prefix)) && strlen(de->d_name) == len && !found)
			found = P(folder, de->d_name);
	if (d)
		closedir(d);
	return found;
}

/* Set path's times (the link's own for a symbolic link) an hour back. */
static void age(const char *path)
{
	struct timespec t[2] = {{time(NULL) - 3600, 0}, {time(NULL) - 3600, 0}};
	CU_ASSERT_EQUAL(utimensat(AT_FDCWD, path, t, AT_SYMLINK_NOFOLLOW), 0);
}

static void test_crash_leftover_removed(void)
{
	char *folder = S("crashed"), *db = S("crashed/new.db");
	pid_t pid = fork();
	if (pid == 0) {
		lv_context *c = t_context();
		lv_store *s = NULL;
		if (!c || lv_store_open(&s, c, db, LV_STORE_CREATE))
			_exit(1);
		lv_store_transaction(s, crash_txn, NULL);
		_exit(2);
	}
	int status = 0;
	CU_ASSERT_EQUAL_FATAL(waitpid(pid, &status, 0), pid);
	CU_ASSERT_EQUAL_FATAL(WIFEXITED(status) ? WEXITSTATUS(status) : -1, 0);
	/* the crash left the private file (and its rollback journal), and no store */
	char *left = find_in(folder, ".new.db.new-", strlen(".new.db.new-XXXXXX"));
	CU_ASSERT_PTR_NOT_NULL_FATAL(left);
	CU_ASSERT_PTR_NOT_NULL(find_in(folder, ".new.db.new-", strlen(".new.db.new-XXXXXX-journal")));
	CU_ASSERT_FALSE(exists(db));
	age(left);
	/* beside it, what the sweep must leave: */
	char *recent = P(folder, ".new.db.new-Recent");   /* made less than a minute ago: a build starting */
	sh_ok("echo x > '%s'", recent);
	char *held = P(folder, ".new.db.new-HeldBy");     /* a live build's (it holds the lock) */
	sh_ok("echo x > '%s'", held);
	age(held);
	int hfd = open(held, O_RDONLY | O_CLOEXEC);
	CU_ASSERT_FATAL(hfd >= 0 && flock(hfd, LOCK_EX | LOCK_NB) == 0);
	char *outside = S("outside"), *link = P(folder, ".new.db.new-Linked"), *fifo = P(folder, ".new.db.new-AFifo");
	sh_ok("echo keep > '%s' && ln -s '%s' '%s' && mkfifo '%s'", outside, outside, link, fifo);
	age(link);
	age(fifo);
	char *other = P(folder, ".old.db.new-Other1"), *longer = P(folder, ".new.db.new-Longer7");
	sh_ok("echo x > '%s' && echo x > '%s'", other, longer);
	age(other);
	age(longer);
	/* the next store made there commits, and removes only what the crash left */
	lv_store *s = NULL;
	CU_ASSERT_EQUAL_FATAL(lv_store_open(&s, ctx, db, LV_STORE_CREATE), 0);
	CU_ASSERT_EQUAL(add_one(s, 4), 0);
	CU_ASSERT_EQUAL(t_count(s), 1);
	lv_store_free(s);
	CU_ASSERT_FALSE(exists(left));
	CU_ASSERT_PTR_NULL(find_in(folder, ".new.db.new-", strlen(".new.db.new-XXXXXX-journal")));
	CU_ASSERT(exists(recent) && exists(held) && exists(link) && exists(fifo) && exists(other) && exists(longer));
	CU_ASSERT(exists(outside));
	close(hfd);
}

/* ---- read-only and full filesystems ---------------------------------------------------- */

static const char *no_volume(void)
{
	const char *why = fx_namespace();
	return why ? why : fx_volume_unavailable("ext4");
}

/* Rows a naive immutable=1 open sees: what the WAL case would lose without the copy. */
static int naive_rows(const char *path)
{
	char uri[1200];
	snprintf(uri, sizeof uri, "file:%s?immutable=1", path);
	sqlite3 *db = NULL;
	int n = -1;
	sqlite3_stmt *q = NULL;
	if (sqlite3_open_v2(uri, &db, SQLITE_OPEN_READONLY | SQLITE_OPEN_URI, NULL) == SQLITE_OK &&
	    sqlite3_prepare_v2(db, "SELECT count(*) FROM licenses", -1, &q, NULL) == SQLITE_OK &&
	    sqlite3_step(q) == SQLITE_ROW)
		n = sqlite3_column_int(q, 0);
	else
		n = 0; /* not even the table */
	sqlite3_finalize(q);
	sqlite3_close(db);
	return n;
}

/*
 * Two stores of 7 licenses on the volume's root: clean/s.db (no WAL) and
 * wal/s.db, whose licenses are still in its -wal (copied while the store was
 * open).
 */
static void put_stores(const char *mnt, const char *name)
{
	lv_store *st = NULL;
	char *src = S(name);
	CU_ASSERT_EQUAL_FATAL(t_make_store(ctx, src, 7, &st), 0);
	sh_ok("mkdir -p '%s/wal' '%s/clean' && cp '%s' '%s/wal/s.db' && cp '%s-wal' '%s/wal/s.db-wal'", mnt, mnt, src, mnt,
	      src, mnt);
	lv_store_free(st);
	sh_ok("cp '%s' '%s/clean/s.db'", src, mnt);
	/* the test is worth something only if the WAL holds licenses the file alone lacks */
	CU_ASSERT_FATAL(naive_rows(P(mnt, "wal/s.db")) < 7);
}

/* List, export, back up and verify each store on mnt through the CLI; every license each time. */
static void rescue_all(const char *mnt, const char *tag)
{
	static const char *const which[] = {"clean", "wal"};
	char *tmp = S(tag);
	sh_ok("mkdir -p '%s'", tmp);
	for (int i = 0; i < 2; i++) {
		char *store = P(mnt, which[i]), *out = NULL;
		int rc = t_sh(&out, "cd '%s' && export TMPDIR='%s' LICVAULT_CONFIG=/dev/null && '%s' --store '%s/s.db' store "
		                    "list | grep -c '^kid-'",
		              dir, tmp, T_CLI, store);
		CU_ASSERT_EQUAL(rc, 0);
		CU_ASSERT_EQUAL(atoi(out), 7);
		if (atoi(out) != 7)
			fprintf(stderr, "\n  %s %s: %s\n", tag, which[i], out);
		free(out);
		rc = t_sh(&out, "cd '%s' && export TMPDIR='%s' LICVAULT_CONFIG=/dev/null && mkdir -p ex-%s-%s && '%s' --store "
		                "'%s/s.db' store export kid-000006 ex-%s-%s && test -s ex-%s-%s/kid-000006.lic && '%s' "
		                "--store '%s/s.db' backup bk-%s-%s && '%s' verify bk-%s-%s",
		          dir, tmp, tag, which[i], T_CLI, store, tag, which[i], tag, which[i], T_CLI, store, tag, which[i],
		          T_CLI, tag, which[i]);
		if (rc)
			fprintf(stderr, "\n  %s %s: %s\n", tag, which[i], out);
		CU_ASSERT_EQUAL(rc, 0);
		HAS(out, "6 licenses written"); /* 7, but for the one without the backup right */
		free(out);
		lv_store *s = NULL;
		CU_ASSERT_EQUAL(lv_store_open(&s, ctx, P(store, "s.db"), LV_STORE_READONLY), 0);
		CU_ASSERT_EQUAL(t_count(s), 7);
		lv_store_free(s);
	}
	/* the private copies of the WAL case are gone */
	CU_ASSERT_EQUAL(fx_dir_entries(tmp), 0);
}

static void test_read_only_filesystem(void)
{
	const char *why = no_volume();
	if (why) {
		fprintf(stderr, "\n  skipped: %s ", why);
		return;
	}
	fx_volume v;
	CU_ASSERT_EQUAL_FATAL(fx_volume_make(&v, dir, "ext4", "LVSTRO", 16, NULL), 0);
	put_stores(v.mnt, "ro-src.db");
	CU_ASSERT_EQUAL_FATAL(fx_volume_remount_ro(&v), 0);
	rescue_all(v.mnt, "ro");
	fx_volume_destroy(&v);
}

static void test_full_filesystem(void)
{
	const char *why = no_volume();
	if (why) {
		fprintf(stderr, "\n  skipped: %s ", why);
		return;
	}
	fx_volume v;
	CU_ASSERT_EQUAL_FATAL(fx_volume_make(&v, dir, "ext4", "LVSTFULL", 16, NULL), 0);
	put_stores(v.mnt, "full-src.db");
	/* a restore target on it, and a backup elsewhere to restore */
	static const char *const own[] = {"own-1", "own-2"};
	CU_ASSERT_EQUAL_FATAL(t_make_target(ctx, P(v.mnt, "target.db"), own, 2), 0);
	lv_store *src = NULL;
	CU_ASSERT_EQUAL_FATAL(t_make_store(ctx, S("full-bk-src.db"), 40, &src), 0);
	CU_ASSERT_EQUAL_FATAL(t_backup(ctx, src, S("full-bk"), 0, NULL), 0);
	lv_store_free(src);
	char *out = NULL;
	t_sh(&out, "dd if=/dev/zero of='%s/fill' bs=64k 2>&1; sync; df -B1 '%s' | tail -1", v.mnt, v.mnt);
	free(out);
	rescue_all(v.mnt, "full");
	/* a restore into it: NO_SPACE, naming the free and the needed space; the target unchanged */
	lv_store *t = NULL;
	CU_ASSERT_EQUAL_FATAL(lv_store_open(&t, ctx, P(v.mnt, "target.db"), LV_STORE_READONLY), 0);
	unsigned long before = t_store_digest(t);
	t_events ev;
	CU_ASSERT_EQUAL(t_restore(ctx, t, S("full-bk"), 0, &ev), LV_E_NO_SPACE);
	HAS(ev.end_message, "free, the restore needs at least");
	HAS(ev.end_message, "target.db");
	CU_ASSERT_EQUAL(t_store_digest(t), before);
	lv_store_free(t);
	CU_ASSERT_EQUAL(t_sh(&out, "cd '%s' && LICVAULT_CONFIG=/dev/null '%s' --store '%s/target.db' restore full-bk", dir,
	                     T_CLI, v.mnt),
	                9);
	HAS(out, "licvault: error: NO_SPACE: ");
	free(out);
	fx_volume_destroy(&v);
}

LV_SUITE(store, store, init, clean,
         {"a dangling link: the store made at its end, 0600", test_dangling_link_made_0600},
         {"another user's link on the store path is refused", test_foreign_link_refused},
         {"errors of making the store file are named", test_create_errors_named},
         {"a -wal, -shm or -journal that is no file: writes refused, left as it is", test_odd_companion_refused},
         {"a failed restore makes no store", test_failed_restore_makes_no_store},
         {"what a crash left while a store was made is removed, and nothing else", test_crash_leftover_removed},
         {"a store on a read-only filesystem is listed, exported, backed up", test_read_only_filesystem},
         {"a full filesystem: the store rescued, a restore says NO_SPACE", test_full_filesystem})
