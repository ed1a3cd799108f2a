/*
 * The default store's files on disk: where a new store lands, the private
 * file it is built in and published from, the read-only rescue copy, free
 * space (see store_file.h).
 */
#include "store_file.h"
#include "trust.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <dirent.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

static int errno_code(int e)
{
	return e == ENOSPC || e == EDQUOT ? LV_E_NO_SPACE : LV_E_IO;
}

/* The folder part of path into out ("." for a bare name). */
static void dir_of(const char *path, char *out, size_t cap)
{
	const char *slash = strrchr(path, '/');
	if (!slash)
		snprintf(out, cap, ".");
	else
		snprintf(out, cap, "%.*s", slash == path ? 1 : (int)(slash - path), path);
}

/*
 * The target of the symbolic link at `at` (lstat'd into st) into link (cap
 * bytes), once its owner is root or the caller; messages name the store's
 * path as given (path).
 */
static int trusted_link(const char *path, const char *at, const struct stat *st, char *link, size_t cap, lv_err *err)
{
	char why[LV_ERRMSG_MAX];
	link[0] = '\0';
	if (lv__trust_owner(at, st, why, sizeof why))
		return lv__err_set(err, LV_E_CONFIG, "store %s: the symbolic link %s (it could put the licenses anywhere)",
		                   path, why);
	ssize_t n = readlink(at, link, cap - 1);
	if (n < 0)
		return lv__err_set(err, LV_E_IO, "store %s: cannot read the symbolic link %s: %s", path, at, strerror(errno));
	link[n] = '\0';
	return 0;
}

/* Check the symbolic link at `at` (lstat'd into st), then put its target in place of it in `rest`. */
static int follow_folder_link(const char *path, const char *at, const struct stat *st, char *done, size_t *dlen,
                              char *rest, lv_err *err)
{
	char link[PATH_MAX], next[PATH_MAX];
	int rc = trusted_link(path, at, st, link, sizeof link, err);
	if (rc)
		return rc;
	if (link[0] == '/')
		*dlen = 0; /* from the root again */
	done[*dlen] = '\0';
	if (snprintf(next, sizeof next, "%s%s%s", link, rest[0] ? "/" : "", rest) >= (int)sizeof next)
		return lv__err_set(err, LV_E_INVALID_ARG, "store %s: a symbolic link's target is too long", path);
	memcpy(rest, next, strlen(next) + 1);
	return 0;
}

/*
 * Every symbolic link on the way to p's folder belongs to root or the
 * caller (another user's link to a folder of theirs would put the store
 * there): each component is looked at, links followed as the kernel does.
 * Messages name the store's path as given (path).
 */
static int check_folder_links(const char *path, const char *p, lv_err *err)
{
	char done[PATH_MAX], rest[PATH_MAX], at[PATH_MAX];
	const char *slash = strrchr(p, '/');
	if (!slash)
		return 0; /* a name in the current folder */
	size_t dlen = p[0] == '/' ? 0 : (size_t)snprintf(done, sizeof done, ".");
	if (snprintf(rest, sizeof rest, "%.*s", (int)(slash - p), p) >= (int)sizeof rest)
		return lv__err_set(err, LV_E_INVALID_ARG, "store %s: the path is too long", path);
	for (int hops = 0; rest[0];) {
		char *r = rest + strspn(rest, "/");
		size_t cl = strcspn(r, "/");
		if (!cl)
			break;
		if (snprintf(at, sizeof at, "%.*s/%.*s", (int)dlen, done, (int)cl, r) >= (int)sizeof at)
			return lv__err_set(err, LV_E_INVALID_ARG, "store %s: the path is too long", path);
		memmove(rest, r + cl, strlen(r + cl) + 1);
		struct stat st;
		if (lstat(at, &st) != 0)
			return 0; /* not there: making the store will say why */
		if (!S_ISLNK(st.st_mode)) {
			dlen = strlen(at);
			memcpy(done, at, dlen + 1);
			continue;
		}
		if (++hops > 40)
			return lv__err_set(err, LV_E_IO, "store %s: too many symbolic links", path);
		int rc = follow_folder_link(path, at, &st, done, &dlen, rest, err);
		if (rc)
			return rc;
	}
	return 0;
}

int lv__store_file_target(const char *path, char **target, lv_err *err)
{
	char cur[PATH_MAX], next[PATH_MAX];
	if (snprintf(cur, sizeof cur, "%s", path) >= (int)sizeof cur)
		return lv__err_set(err, LV_E_INVALID_ARG, "store %s: the path is too long", path);
	int rc = check_folder_links(path, path, err);
	if (rc)
		return rc;
	for (int hops = 0;; hops++) {
		struct stat st;
		if (lstat(cur, &st) != 0) {
			if (errno == ENOENT)
				break; /* not there yet: the store lands here */
			return lv__err_set(err, LV_E_IO, "store %s: %s: %s", path, cur, strerror(errno));
		}
		if (!S_ISLNK(st.st_mode))
			break;
		if (hops == 40)
			return lv__err_set(err, LV_E_IO, "store %s: too many symbolic links", path);
		char link[PATH_MAX];
		if ((rc = trusted_link(path, cur, &st, link, sizeof link, err)))
			return rc;
		char dir[PATH_MAX];
		dir_of(cur, dir, sizeof dir);
		int len = link[0] == '/' ? snprintf(next, sizeof next, "%s", link)
		                         : snprintf(next, sizeof next, "%s/%s", dir, link);
		if (len >= (int)sizeof next)
			return lv__err_set(err, LV_E_INVALID_ARG, "store %s: a symbolic link's target is too long", path);
		memcpy(cur, next, (size_t)len + 1);
		if ((rc = check_folder_links(path, cur, err)))
			return rc; /* the folders of where the link points */
	}
	*target = strdup(cur);
	return *target ? 0 : lv__err_set(err, LV_E_NOMEM, "store %s: out of memory", path);
}

/* Is name ".BASE.new-XXXXXX" (what lv__store_file_create makes for base)? */
static int is_new_of(const char *name, const char *base)
{
	size_t bl = strlen(base);
	if (name[0] != '.' || strncmp(name + 1, base, bl) != 0 || strncmp(name + 1 + bl, ".new-", 5) != 0)
		return 0;
	const char *x = name + 1 + bl + 5;
	return strlen(x) == 6 && strspn(x, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789") == 6;
}

/*
 * Remove the private files of base in dir that a crash left: each builder
 * holds an flock on its file while it lives, so a file whose lock can be
 * taken, untouched for a minute (the moment between its creation and its
 * lock), and a regular file of ours (never a link, a FIFO or another
 * user's), has no builder.  Best effort: a folder that cannot be read is
 * left as it is.
 */
static void sweep_stale(const char *dir, const char *base)
{
	DIR *d = opendir(dir);
	if (!d)
		return;
	time_t now = time(NULL);
	for (struct dirent *de; (de = readdir(d));) {
		if (!is_new_of(de->d_name, base))
			continue;
		char *p = lv__asprintf("%s/%s", dir, de->d_name);
		struct stat st;
		/* looked at before it is opened: a live build's file, often recent, is seldom opened here */
		if (p && lstat(p, &st) == 0 && S_ISREG(st.st_mode) && st.st_uid == geteuid() && st.st_mtime < now - 60) {
			int fd = open(p, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
			struct stat st2;
			if (fd >= 0 && fstat(fd, &st2) == 0 && st2.st_ino == st.st_ino && st2.st_dev == st.st_dev &&
			    flock(fd, LOCK_EX | LOCK_NB) == 0)
				lv__store_file_remove(p); /* with the lock held: no builder can take it meanwhile */
			if (fd >= 0)
				close(fd);
		}
		free(p);
	}
	closedir(d);
}

int lv__store_file_create(const char *target, lv_store_new *out, lv_err *err)
{
	char dir[PATH_MAX], why[256];
	dir_of(target, dir, sizeof dir);
	int rc = lv__mkdirs(dir, why, sizeof why);
	if (rc)
		return lv__err_set(err, rc, "store %s: %s", target, why);
	const char *base = strrchr(target, '/');
	base = base ? base + 1 : target;
	sweep_stale(dir, base);
	char *t = lv__asprintf("%s/.%s.new-XXXXXX", dir, base);
	if (!t)
		return lv__err_set(err, LV_E_NOMEM, "store %s: out of memory", target);
	/* licenses are private: the store (and SQLite's side files, which copy its mode) is its owner's only */
	int fd = mkostemp(t, O_CLOEXEC);
	if (fd < 0) {
		int e = errno;
		free(t);
		return lv__err_set(err, errno_code(e), "store %s: cannot create a file in %s: %s", target, dir, strerror(e));
	}
	/* held until the file is published or removed (a filesystem without flock: never swept) */
	(void)flock(fd, LOCK_EX | LOCK_NB);
	if (fchmod(fd, 0600) != 0) {
		int e = errno;
		close(fd);
		unlink(t);
		lv__err_set(err, errno_code(e), "store %s: cannot set the mode 0600 of %s: %s", target, t, strerror(e));
		free(t);
		return err->code;
	}
	out->path = t;
	out->hold = fd;
	return 0;
}

void lv__store_file_discard(lv_store_new *n)
{
	if (!n->path)
		return;
	lv__store_file_remove(n->path);
	close(n->hold); /* after the removal: the lock kept sweepers off until then */
	free(n->path);
	n->path = NULL;
}

int lv__store_file_publish(lv_store_new *n, const char *target, lv_err *err)
{
	int rc = 0;
	if (link(n->path, target) != 0) {
		int e = errno;
		rc = e == EEXIST
		         ? lv__err_set(err, LV_E_BUSY,
		                       "store %s was created by another connection meanwhile; nothing of this transaction "
		                       "was stored (try again)",
		                       target)
		         : lv__err_set(err, errno_code(e), "store %s: cannot put the new store in place: %s", target,
		                       strerror(e));
	}
	lv__store_file_discard(n);
	if (rc)
		return rc;
	char dir[PATH_MAX];
	dir_of(target, dir, sizeof dir);
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0 || fsync(fd) != 0) {
		int e = errno;
		if (fd >= 0)
			close(fd);
		unlink(target); /* not durable: as if it never was */
		return lv__err_set(err, LV_E_IO, "store %s: cannot sync its folder %s: %s", target, dir, strerror(e));
	}
	close(fd);
	return 0;
}

void lv__store_file_remove(const char *path)
{
	static const char *const sides[] = {"", "-journal", "-wal", "-shm"};
	for (size_t i = 0; i < sizeof sides / sizeof *sides; i++) {
		char *p = lv__asprintf("%s%s", path, sides[i]);
		if (p)
			unlink(p);
		free(p);
	}
}

/* lstat path+suffix: never through a link (a link or a FIFO there is no file of SQLite's) */
static int companion(const char *path, const char *suffix, struct stat *st)
{
	char *c = lv__asprintf("%s%s", path, suffix);
	int rc = c ? lstat(c, st) : -1;
	free(c);
	return rc;
}

int lv__store_file_has_wal(const char *path)
{
	struct stat st;
	return companion(path, "-wal", &st) == 0 && S_ISREG(st.st_mode) && st.st_size > 0;
}

int lv__store_file_has_shm(const char *path)
{
	struct stat st;
	return companion(path, "-shm", &st) == 0 && S_ISREG(st.st_mode);
}

const char *lv__store_file_odd_companion(const char *path, const char **what)
{
	static const char *const suffix[] = {"-wal", "-shm", "-journal"};
	for (size_t i = 0; i < sizeof suffix / sizeof *suffix; i++) {
		struct stat st;
		if (companion(path, suffix[i], &st) == 0 && !S_ISREG(st.st_mode)) {
			*what = S_ISLNK(st.st_mode)    ? "a symbolic link"
			        : S_ISFIFO(st.st_mode) ? "a FIFO"
			        : S_ISDIR(st.st_mode)  ? "a folder"
			                               : "not a regular file";
			return suffix[i];
		}
	}
	return NULL;
}

/* Copy from to a new file to (mode 0600).  0, or errno. */
static int copy_file(const char *from, const char *to)
{
	int in = open(from, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (in < 0)
		return errno;
	int out = open(to, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (out < 0) {
		int e = errno;
		close(in);
		return e;
	}
	char buf[65536];
	ssize_t n;
	int e = 0;
	while (!e && (n = read(in, buf, sizeof buf)) != 0) {
		if (n < 0)
			e = errno == EINTR ? 0 : errno;
		else
			for (ssize_t off = 0; !e && off < n;) {
				ssize_t w = write(out, buf + off, (size_t)(n - off));
				if (w < 0 && errno != EINTR)
					e = errno;
				off += w > 0 ? w : 0;
			}
	}
	close(in);
	if (close(out) != 0 && !e)
		e = errno;
	return e;
}

int lv__store_file_copy(const char *path, char **copy, lv_err *err)
{
	const char *tmp = secure_getenv("TMPDIR");
	char *dir = lv__asprintf("%s/licvault-store-XXXXXX", tmp && *tmp ? tmp : "/tmp");
	if (!dir || !mkdtemp(dir)) {
		int e = errno;
		lv__err_set(err, errno_code(e), "cannot make a private folder for a copy of the store: %s", strerror(e));
		free(dir);
		return err->code;
	}
	char *db = lv__asprintf("%s/store.db", dir), *wal = lv__asprintf("%s-wal", path);
	char *dbwal = lv__asprintf("%s/store.db-wal", dir);
	int e = db && wal && dbwal ? copy_file(path, db) : ENOMEM;
	const char *what = path;
	if (!e) {
		e = copy_file(wal, dbwal);
		what = wal;
	}
	if (e) {
		lv__err_set(err, e == ENOMEM ? LV_E_NOMEM : errno_code(e), "cannot copy %s to a private folder: %s", what,
		            strerror(e));
		lv__store_file_copy_free(db);
	} else
		*copy = db;
	free(wal);
	free(dbwal);
	free(dir);
	return e ? err->code : 0;
}

void lv__store_file_copy_free(char *copy)
{
	if (!copy)
		return;
	lv__store_file_remove(copy);
	char *slash = strrchr(copy, '/');
	if (slash) {
		*slash = '\0';
		rmdir(copy);
	}
	free(copy);
}

uint64_t lv__store_file_free(const char *path)
{
	char dir[PATH_MAX];
	dir_of(path, dir, sizeof dir);
	for (;;) {
		struct statvfs v;
		if (statvfs(dir, &v) == 0)
			return (uint64_t)v.f_bavail * (uint64_t)v.f_frsize;
		char *slash = strrchr(dir, '/');
		if (errno != ENOENT || !slash || slash == dir)
			return UINT64_MAX;
		*slash = '\0'; /* not made yet: the folder it would be made in */
	}
}

void lv__store_file_bytes(char *buf, size_t cap, uint64_t n)
{
	if (n == UINT64_MAX)
		snprintf(buf, cap, "an unknown amount");
	else if (n >= (uint64_t)1024 * 1024)
		snprintf(buf, cap, "%.1f MiB (%llu bytes)", (double)n / (1024.0 * 1024.0), (unsigned long long)n);
	else
		snprintf(buf, cap, "%llu bytes", (unsigned long long)n);
}
