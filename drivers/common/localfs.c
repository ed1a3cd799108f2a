/*
 * lfs: objects in a local directory (see localfs.h).
 *
 * Write: a temporary ".NAME.tmp-RANDOM" in the target directory (NAME cut
 * to 200 bytes, so a name of 255 bytes has a temporary too), written,
 * fsync'd, then published with renameat2(RENAME_NOREPLACE) so an existing
 * object is never replaced by accident (fallback for filesystems without it:
 * link/unlink; and where there are no hard links either, such as exFAT and
 * FAT, a claim: see publish_claimed), then the directory is fsync'd so the
 * new name is durable.
 */
#include "localfs.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>


#ifndef RENAME_NOREPLACE
#define RENAME_NOREPLACE (1 << 0)
#endif

struct lfs {
	const lv_host *host;
	lv_host_ctx *h;
	char *dir;
	int dirfd;           /* -1 when the directory does not exist (read side) */
	int fat_names;
	lfs_guard_fn guard;
	void *guard_ud;
	int space_check;     /* write_begin: refuse a size_hint above the free space */
	uint64_t max_size;   /* largest object the filesystem takes, 0 = no limit */
	const char *max_why; /* whose limit it is ("FAT"), static */
};

struct lv_writer {
	lfs *fs;
	int fd;
	int hold;                /* from commit to publication: a dup of fd, keeping its flock */
	char *name;
	uint64_t written;
	uint64_t flushed;        /* bytes handed to writeback so far */
	char tmp[300];
};

/* Start writeback every 8 MiB, so the final fsync has little left to wait for
 * and the disk works while the run goes on (rsync and dd do the same). */
#define WRITEBACK_STEP (8u << 20)

struct lv_reader {
	lfs *fs;
	int fd;
	char *name;
};

static void drop(lv_writer *w);

static int err_code(int e)
{
	switch (e) {
	case ENOSPC: case EDQUOT: case EFBIG: return LV_E_NO_SPACE;
	case ENOENT: case ENOTDIR: return LV_E_NOT_FOUND;
	case EEXIST: return LV_E_EXISTS;
	case ENOMEM: return LV_E_NOMEM;
	default: return LV_E_IO;
	}
}

static int fail(lfs *fs, int e, const char *what, const char *name)
{
	int code = err_code(e);
	return fs->host->set_error(fs->h, code, "%s %s/%s: %s", what, fs->dir, name ? name : "", strerror(e));
}

int lfs_fat_name_ok(const char *name, const char **why)
{
	size_t n = strlen(name);
	if (n == 0 || n > 255) {
		*why = "FAT names are 1 to 255 characters";
		return LV_E_INVALID_ARG;
	}
	for (const unsigned char *p = (const unsigned char *)name; *p; p++)
		if (*p < 0x20 || strchr("\"*/:<>?\\|", *p)) {
			*why = "FAT names may not hold control characters or any of \" * / : < > ? \\ |";
			return LV_E_INVALID_ARG;
		}
	if (name[n - 1] == '.' || name[n - 1] == ' ') {
		*why = "FAT names may not end with '.' or a space";
		return LV_E_INVALID_ARG;
	}
	return 0;
}

/* An object name: the host's rules (driver.h, OBJECTS), and never one of our temporaries'. */
static int check_name(lfs *fs, const char *name)
{
	if (!fs->host->name_valid(fs->h, name))
		return fs->host->set_error(fs->h, LV_E_INVALID_ARG,
		                           "invalid object name '%.255s' in %s (1 to 255 bytes, no '/', not '.' or '..')",
		                           name ? name : "", fs->dir);
	if (name[0] == '.')
		return fs->host->set_error(fs->h, LV_E_INVALID_ARG,
		                           "object name '%s' in %s: names starting with '.' are the driver's temporaries",
		                           name, fs->dir);
	const char *why;
	if (fs->fat_names && lfs_fat_name_ok(name, &why))
		return fs->host->set_error(fs->h, LV_E_INVALID_ARG, "object name '%s' in %s: %s", name, fs->dir, why);
	return 0;
}

static int guard(lfs *fs)
{
	return fs->guard ? fs->guard(fs->guard_ud) : 0;
}

/* The host calls these for a writer or reader still open when the instance closes. */
static void release_writer(void *w)
{
	lfs_abort(w);
}

static void release_reader(void *r)
{
	lfs_read_close(r);
}

/* Would replacing or removing `name` destroy what the run reads or writes (its license store)? */
static int protected_name(lfs *fs, const char *name)
{
	struct stat st;
	if (fs->dirfd < 0 || fstatat(fs->dirfd, name, &st, AT_SYMLINK_NOFOLLOW) != 0)
		return 0;
	if (!fs->host->protected_file(fs->h, (uint64_t)st.st_dev, (uint64_t)st.st_ino))
		return 0;
	return fs->host->set_error(fs->h, LV_E_INVALID_ARG,
	                           "%s/%s is the license store this run uses (or one of its journal files): "
	                           "it is never replaced or removed",
	                           fs->dir, name);
}

/*
 * fsync the directory that holds the directory p just made, so its name
 * there is durable.  `slash` is the '/' before that name in p.
 */
static int fsync_parent(lfs *fs, char *p, char *slash)
{
	char *cut = slash == p ? slash + 1 : slash; /* the root keeps its "/" */
	char c = *cut;
	*cut = '\0';
	int fd = open(p, O_RDONLY | O_DIRECTORY | O_CLOEXEC), e = 0;
	if (fd < 0 || (fsync(fd) < 0 && errno != EINVAL))
		e = errno;
	if (fd >= 0)
		close(fd);
	int rc = e ? fs->host->set_error(fs->h, LV_E_IO, "cannot fsync directory %s: %s", p, strerror(e)) : 0;
	*cut = c;
	return rc;
}

static int mkdirs(lfs *fs, const char *path)
{
	char *p = strdup(path);
	if (!p)
		return LV_E_NOMEM;
	char *parent_end = p; /* the '/' before the name being made */
	for (char *s = p + 1;; s++) {
		if (*s == '/' || *s == '\0') {
			char c = *s;
			*s = '\0';
			int made = mkdir(p, 0700) == 0;
			if (!made && errno != EEXIST) {
				int e = errno;
				int rc = fs->host->set_error(fs->h, err_code(e) == LV_E_NOT_FOUND ? LV_E_IO : err_code(e),
				                             "cannot create directory %s: %s", p, strerror(e));
				free(p);
				return rc;
			}
			/* a new directory is durable only once the directory holding it is fsync'd */
			int rc = made ? fsync_parent(fs, p, parent_end) : 0;
			if (rc) {
				free(p);
				return rc;
			}
			parent_end = s;
			*s = c;
			if (!c)
				break;
		}
	}
	free(p);
	return 0;
}

int lfs_open(lfs **out, const lv_host *host, lv_host_ctx *h, const char *dir,
                    unsigned flags, int fat_names)
{
	if (!dir || dir[0] != '/')
		return host->set_error(h, LV_E_BAD_URI, "'%s' is not an absolute directory", dir ? dir : "");
	lfs *fs = calloc(1, sizeof *fs);
	if (!fs)
		return LV_E_NOMEM;
	fs->host = host;
	fs->h = h;
	fs->fat_names = fat_names;
	fs->dir = strdup(dir);
	if (!fs->dir) {
		free(fs);
		return LV_E_NOMEM;
	}
	size_t n = strlen(fs->dir);
	while (n > 1 && fs->dir[n - 1] == '/')
		fs->dir[--n] = '\0';
	if (flags & LV_OPEN_WRITE) {
		int rc = mkdirs(fs, fs->dir);
		if (rc) {
			lfs_close(fs);
			return rc;
		}
	}
	fs->dirfd = open(fs->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fs->dirfd < 0) {
		int e = errno;
		if (!(flags & LV_OPEN_WRITE) && e == ENOENT) {
			*out = fs; /* reads find nothing */
			return 0;
		}
		int rc = host->set_error(h, e == ENOTDIR ? LV_E_BAD_URI : err_code(e),
		                         "cannot open directory %s: %s", fs->dir, strerror(e));
		lfs_close(fs);
		return rc;
	}
	if ((flags & LV_OPEN_WRITE) && faccessat(fs->dirfd, ".", W_OK, AT_EACCESS) < 0) {
		int e = errno;
		int rc = host->set_error(h, LV_E_IO, "cannot write in %s: %s", fs->dir, strerror(e));
		lfs_close(fs);
		return rc;
	}
	*out = fs;
	return 0;
}

int lfs_open_fd(lfs **out, const lv_host *host, lv_host_ctx *h, int dirfd,
                       const char *dir, int fat_names)
{
	lfs *fs = calloc(1, sizeof *fs);
	if (fs)
		fs->dir = strdup(dir ? dir : "");
	if (!fs || !fs->dir) {
		if (dirfd >= 0)
			close(dirfd);
		free(fs);
		return LV_E_NOMEM;
	}
	fs->host = host;
	fs->h = h;
	fs->fat_names = fat_names;
	fs->dirfd = dirfd;
	*out = fs;
	return 0;
}

void lfs_set_guard(lfs *fs, lfs_guard_fn g, void *ud)
{
	fs->guard = g;
	fs->guard_ud = ud;
}

void lfs_set_space_check(lfs *fs, int on)
{
	fs->space_check = on;
}

void lfs_set_max_size(lfs *fs, uint64_t max, const char *why)
{
	fs->max_size = max;
	fs->max_why = why;
}

const char *lfs_dir(const lfs *fs) { return fs->dir; }
int lfs_dirfd(const lfs *fs) { return fs->dirfd; }

void lfs_close(void *inst)
{
	lfs *fs = inst;
	if (!fs)
		return;
	if (fs->dirfd >= 0)
		close(fs->dirfd);
	free(fs->dir);
	free(fs);
}

/* How much of name goes into a temporary's or a claim's name: at most 200 bytes, cut between two UTF-8 characters. */
static size_t name_part(const char *name)
{
	size_t cut = strlen(name);
	if (cut > 200)
		for (cut = 200; cut > 0 && ((unsigned char)name[cut] & 0xC0) == 0x80; cut--)
			;
	return cut;
}

int lfs_write_begin(void *inst, const char *name, uint64_t size_hint, lv_writer **out)
{
	lfs *fs = inst;
	int rc = check_name(fs, name);
	if (rc)
		return rc;
	if ((rc = guard(fs)))
		return rc;
	if (fs->dirfd < 0)
		return fs->host->set_error(fs->h, LV_E_NOT_FOUND, "directory %s does not exist", fs->dir);
	if (fs->max_size && size_hint != UINT64_MAX && size_hint > fs->max_size)
		return fs->host->set_error(fs->h, LV_E_NO_SPACE,
		                           "%s/%s may need %llu bytes, more than the largest file %s takes (%llu bytes)",
		                           fs->dir, name, (unsigned long long)size_hint,
		                           fs->max_why ? fs->max_why : "this filesystem",
		                           (unsigned long long)fs->max_size);
	if (fs->space_check && size_hint != UINT64_MAX) {
		struct statvfs sv;
		if (fstatvfs(fs->dirfd, &sv) == 0) {
			uint64_t avail = (uint64_t)sv.f_bavail * sv.f_frsize;
			if (size_hint > avail)
				return fs->host->set_error(fs->h, LV_E_NO_SPACE,
				                           "%s/%s may need %llu bytes but only %llu bytes are free in %s",
				                           fs->dir, name, (unsigned long long)size_hint,
				                           (unsigned long long)avail, fs->dir);
		}
	}
	lv_writer *w = calloc(1, sizeof *w);
	if (!w)
		return LV_E_NOMEM;
	w->fs = fs;
	w->name = strdup(name);
	if (!w->name) {
		free(w);
		return LV_E_NOMEM;
	}
	unsigned char r[6];
	if (getrandom(r, sizeof r, 0) != (ssize_t)sizeof r)
		memset(r, 0, sizeof r);
	size_t cut = name_part(name);
	snprintf(w->tmp, sizeof w->tmp, ".%.*s.tmp-%02x%02x%02x%02x%02x%02x", (int)cut, name, r[0], r[1], r[2], r[3],
	         r[4], r[5]);
	w->fd = openat(fs->dirfd, w->tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (w->fd < 0) {
		rc = fail(fs, errno, "cannot create", w->tmp);
		free(w->name);
		free(w);
		return rc;
	}
	/* held until the temporary is published or removed: a cleanup under the lock leaves it
	 * (another run's try for the lock); best effort, as flock may not work on every filesystem */
	w->hold = -1;
	flock(w->fd, LOCK_EX | LOCK_NB);
	if ((rc = fs->host->track(fs->h, w, release_writer))) {
		drop(w);
		return rc;
	}
	*out = w;
	return 0;
}

int lfs_write(lv_writer *w, const void *buf, size_t len)
{
	lfs *fs = w->fs;
	if (fs->host->canceled(fs->h))
		return LV_E_CANCELED;
	int rc = guard(fs);
	if (rc)
		return rc;
	if (fs->max_size && (len > fs->max_size || w->written > fs->max_size - len))
		return fs->host->set_error(fs->h, LV_E_NO_SPACE,
		                           "%s/%s would grow past %llu bytes, the largest file %s takes",
		                           fs->dir, w->name, (unsigned long long)fs->max_size,
		                           fs->max_why ? fs->max_why : "this filesystem");
	w->written += len;
	const char *p = buf;
	while (len) {
		ssize_t n = write(w->fd, p, len);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return fail(fs, errno, "cannot write", w->tmp);
		}
		p += n;
		len -= (size_t)n;
	}
	if (w->written - w->flushed >= WRITEBACK_STEP) {
		/* a hint only: a filesystem without it simply leaves the work to fsync */
		sync_file_range(w->fd, (off_t)w->flushed, (off_t)(w->written - w->flushed), SYNC_FILE_RANGE_WRITE);
		w->flushed = w->written;
	}
	return 0;
}

/* Forget a writer: untracked, freed (its temporary is gone or published). */
static void writer_free(lv_writer *w)
{
	w->fs->host->untrack(w->fs->h, w);
	free(w->name);
	free(w);
}

/* Drop a writer: close and remove its temporary, then forget it. */
static void drop(lv_writer *w)
{
	if (w->fd >= 0)
		close(w->fd);
	unlinkat(w->fs->dirfd, w->tmp, 0);
	if (w->hold >= 0)
		close(w->hold);
	writer_free(w);
}

/*
 * A no-replace publish found the name taken: EXISTS when by a regular file
 * (the caller's to judge: another run's object), else IO naming what is
 * there, which no run will ever remove (a FIFO, a socket, a link, a folder).
 */
static int exists_error(lfs *fs, const char *name)
{
	struct stat st;
	if (fstatat(fs->dirfd, name, &st, AT_SYMLINK_NOFOLLOW) != 0 || S_ISREG(st.st_mode))
		return fs->host->set_error(fs->h, LV_E_EXISTS, "%s/%s already exists", fs->dir, name);
	const char *what = S_ISFIFO(st.st_mode)   ? "a FIFO"
	                   : S_ISSOCK(st.st_mode) ? "a socket"
	                   : S_ISLNK(st.st_mode)  ? "a symbolic link"
	                   : S_ISDIR(st.st_mode)  ? "a folder"
	                                          : "a device";
	return fs->host->set_error(fs->h, LV_E_IO, "cannot publish %s/%s: %s is in its place, not a regular file (remove it)",
	                           fs->dir, name, what);
}

/* A claim older than this was left by a killed publisher (a publish takes microseconds). */
#define CLAIM_STALE_S 30
/* How long a publisher waits for another one's claim on the same name: about 2 s in 1 ms steps. */
#define CLAIM_TRIES 2000

/* Publish w->tmp as w->name without replacing, holding the claim on the name: 0, or -1 with errno. */
static int publish_under_claim(lfs *fs, lv_writer *w, const char *claim)
{
	for (int i = 0; mkdirat(fs->dirfd, claim, 0700) != 0; i++) {
		struct stat st;
		if (errno != EEXIST)
			return -1;
		if (fstatat(fs->dirfd, claim, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISDIR(st.st_mode) &&
		    time(NULL) - st.st_mtime > CLAIM_STALE_S)
			unlinkat(fs->dirfd, claim, AT_REMOVEDIR); /* a killed publisher's */
		else if (i >= CLAIM_TRIES) {
			errno = EBUSY;
			return -1;
		} else
			nanosleep(&(struct timespec){0, 1000000}, NULL);
	}
	struct stat st;
	int r = -1;
	if (fstatat(fs->dirfd, w->name, &st, AT_SYMLINK_NOFOLLOW) == 0)
		errno = EEXIST;
	else if (errno == ENOENT)
		r = renameat(fs->dirfd, w->tmp, fs->dirfd, w->name);
	int e = errno;
	unlinkat(fs->dirfd, claim, AT_REMOVEDIR);
	errno = e;
	return r;
}

/*
 * Where neither RENAME_NOREPLACE nor hard links exist (exFAT, FAT), a
 * check-then-rename would let two publishers of one name both succeed (two
 * runs would both take licvault.lock).  mkdir is atomic on every
 * filesystem: the directory ".NAME.claim" admits one publisher of NAME at a
 * time, which checks that NAME is absent, renames, and removes its claim.
 * Names starting with '.' are never listed.
 */
static int publish_claimed(lfs *fs, lv_writer *w)
{
	char claim[256];
	snprintf(claim, sizeof claim, ".%.*s.claim", (int)name_part(w->name), w->name);
	return publish_under_claim(fs, w, claim);
}

int lfs_commit(lv_writer *w, unsigned flags)
{
	lfs *fs = w->fs;
	int rc = guard(fs);
	if (rc) {
		drop(w);
		return rc;
	}
	if (fsync(w->fd) < 0) {
		rc = fail(fs, errno, "cannot fsync", w->tmp);
		drop(w);
		return rc;
	}
	w->hold = fcntl(w->fd, F_DUPFD_CLOEXEC, 0); /* the flock stays with the file until it is published (not in a child) */
	if (close(w->fd) < 0) {
		w->fd = -1;
		rc = fail(fs, errno, "cannot close", w->tmp);
		drop(w);
		return rc;
	}
	w->fd = -1;
	int r;
	if (flags & LV_COMMIT_REPLACE) {
		if ((rc = protected_name(fs, w->name))) {
			drop(w);
			return rc;
		}
		/* rename(2) replaces atomically: the old object stays until the new one is in place */
		r = renameat(fs->dirfd, w->tmp, fs->dirfd, w->name);
	} else {
		r = (int)syscall(SYS_renameat2, fs->dirfd, w->tmp, fs->dirfd, w->name, RENAME_NOREPLACE);
		if (r < 0 && (errno == EINVAL || errno == ENOSYS || errno == EOPNOTSUPP)) { /* EOPNOTSUPP is ENOTSUP here */
			/* no RENAME_NOREPLACE here: link() never replaces */
			r = linkat(fs->dirfd, w->tmp, fs->dirfd, w->name, 0);
			if (r == 0)
				unlinkat(fs->dirfd, w->tmp, 0);
			else if (errno == EPERM || errno == EOPNOTSUPP || errno == EMLINK)
				r = publish_claimed(fs, w); /* no hard links (exFAT, FAT) */
		}
	}
	if (r < 0) {
		rc = errno == EEXIST ? exists_error(fs, w->name) : fail(fs, errno, "cannot publish", w->name);
		drop(w);
		return rc;
	}
	if (w->hold >= 0)
		close(w->hold);
	rc = fsync(fs->dirfd) < 0 && errno != EINVAL ? fail(fs, errno, "cannot fsync directory", "") : 0;
	writer_free(w);
	return rc;
}

void lfs_abort(lv_writer *w)
{
	if (w)
		drop(w);
}

int lfs_read_open(void *inst, const char *name, lv_reader **out)
{
	lfs *fs = inst;
	int rc = check_name(fs, name);
	if (rc)
		return rc;
	if (fs->dirfd < 0)
		return fs->host->set_error(fs->h, LV_E_NOT_FOUND, "%s does not exist", fs->dir);
	/* a regular file only: O_NONBLOCK so that a FIFO does not block the open, no symbolic link */
	int fd = openat(fs->dirfd, name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
	if (fd < 0)
		return fail(fs, errno == ELOOP ? ENOENT : errno, "cannot open", name);
	struct stat st;
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || fcntl(fd, F_SETFL, 0) != 0) {
		close(fd);
		return fs->host->set_error(fs->h, LV_E_IO, "cannot read %s/%s: not a regular file", fs->dir, name);
	}
	lv_reader *r = calloc(1, sizeof *r);
	if (!r || !(r->name = strdup(name))) {
		free(r);
		close(fd);
		return fs->host->set_error(fs->h, LV_E_NOMEM, "out of memory opening %s/%s", fs->dir, name);
	}
	posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL);
	r->fs = fs;
	r->fd = fd;
	if ((rc = fs->host->track(fs->h, r, release_reader))) {
		close(fd);
		free(r->name);
		free(r);
		return rc;
	}
	*out = r;
	return 0;
}

int lfs_read(lv_reader *r, void *buf, size_t cap, size_t *n)
{
	if (r->fs->host->canceled(r->fs->h))
		return LV_E_CANCELED;
	for (;;) {
		ssize_t k = read(r->fd, buf, cap);
		if (k < 0 && errno == EINTR)
			continue;
		if (k < 0)
			return fail(r->fs, errno, "cannot read", r->name);
		*n = (size_t)k;
		return 0;
	}
}

void lfs_read_close(lv_reader *r)
{
	if (!r)
		return;
	r->fs->host->untrack(r->fs->h, r);
	close(r->fd);
	free(r->name);
	free(r);
}

int lfs_list(void *inst, lv_list_cb cb, void *ud)
{
	lfs *fs = inst;
	if (fs->dirfd < 0)
		return LV_E_NOT_FOUND;
	int fd = dup(fs->dirfd);
	DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
	if (!d) {
		if (fd >= 0)
			close(fd);
		return fail(fs, errno, "cannot list", "");
	}
	rewinddir(d);
	struct dirent *de;
	int rc = 0;
	errno = 0;
	while ((de = readdir(d))) {
		if (de->d_name[0] == '.')
			continue;
		struct stat st;
		if (fstatat(fs->dirfd, de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0 || !S_ISREG(st.st_mode))
			continue;
		lv_object_info info = {de->d_name, (uint64_t)st.st_size, (int64_t)st.st_mtime};
		if ((rc = cb(&info, ud)))
			break;
		errno = 0;
	}
	if (!rc && errno)
		rc = fail(fs, errno, "cannot list", "");
	closedir(d);
	return rc;
}

int lfs_remove(void *inst, const char *name)
{
	lfs *fs = inst;
	int rc = check_name(fs, name);
	if (rc)
		return rc;
	if ((rc = guard(fs)) || (rc = protected_name(fs, name)))
		return rc;
	struct stat st;
	if (fs->dirfd < 0 || fstatat(fs->dirfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
		return fail(fs, fs->dirfd < 0 ? ENOENT : errno, "cannot remove", name);
	/* objects are regular files (as list and read_open see them): anything else is not ours to remove */
	if (!S_ISREG(st.st_mode))
		return fs->host->set_error(fs->h, LV_E_IO, "cannot remove %s/%s: not a regular file, so no object of the "
		                           "location (left as it is)", fs->dir, name);
	if (unlinkat(fs->dirfd, name, 0) < 0)
		return fail(fs, errno, "cannot remove", name);
	return 0;
}

int lfs_stat(void *inst, const char *name, lv_object_info *info)
{
	lfs *fs = inst;
	int rc = check_name(fs, name);
	if (rc)
		return rc;
	struct stat st;
	if (fs->dirfd < 0 || fstatat(fs->dirfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
		return fail(fs, fs->dirfd < 0 ? ENOENT : errno, "cannot stat", name);
	if (!S_ISREG(st.st_mode)) /* as list sees it: no object */
		return fs->host->set_error(fs->h, LV_E_NOT_FOUND, "%s/%s is not a regular file", fs->dir, name);
	info->name = name;
	info->size = (uint64_t)st.st_size;
	info->mtime = (int64_t)st.st_mtime;
	return 0;
}

int lfs_sync(void *inst)
{
	lfs *fs = inst;
	if (fs->dirfd >= 0 && fsync(fs->dirfd) < 0 && errno != EINVAL)
		return fail(fs, errno, "cannot fsync directory", "");
	return 0;
}

int lfs_space(void *inst, uint64_t *free_bytes, uint64_t *total_bytes)
{
	lfs *fs = inst;
	struct statvfs sv;
	if (fs->dirfd < 0 || fstatvfs(fs->dirfd, &sv) < 0)
		return fail(fs, fs->dirfd < 0 ? ENOENT : errno, "cannot statvfs", "");
	if (free_bytes)
		*free_bytes = (uint64_t)sv.f_bavail * sv.f_frsize;
	if (total_bytes)
		*total_bytes = (uint64_t)sv.f_blocks * sv.f_frsize;
	return 0;
}

int lfs_cleanup(void *inst)
{
	/* temporaries of killed runs, ".NAME.tmp-XXXXXXXXXXXX": the core calls this only while it
	 * holds the location's lock (ABI 1.1), so each one is a dead run's, but for one another run
	 * is writing to try for the lock: its writer holds an flock on it (lfs_write_begin); a dead
	 * run's lock died with it; returns how many went */
	lfs *fs = inst;
	if (fs->dirfd < 0)
		return 0;
	int fd = dup(fs->dirfd);
	DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
	if (!d) {
		if (fd >= 0)
			close(fd);
		return 0;
	}
	rewinddir(d);
	int removed = 0;
	struct dirent *de;
	while ((de = readdir(d))) {
		if (de->d_name[0] != '.' || !strstr(de->d_name, ".tmp-"))
			continue;
		int t = openat(fs->dirfd, de->d_name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
		struct stat st;
		if (t < 0)
			continue;
		/* live: its writer's flock (EWOULDBLOCK); where flock fails otherwise (ENOLCK), as before */
		if (fstat(t, &st) == 0 && S_ISREG(st.st_mode) &&
		    !(flock(t, LOCK_EX | LOCK_NB) < 0 && errno == EWOULDBLOCK) && unlinkat(fs->dirfd, de->d_name, 0) == 0)
			removed++;
		close(t);
	}
	closedir(d);
	if (removed)
		fsync(fs->dirfd);
	return removed;
}
