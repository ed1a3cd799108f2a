/*
 * skeleton: a small, complete licvault driver, to copy from.
 *
 *   URI:     skel://NAME/        a backup location called NAME
 *   config:  [driver "skeleton"]
 *            base = /srv/licvault-skel   (required: where locations live)
 *
 * Each object is a file base/NAME/OBJECT.  Writes go to a temporary
 * (".OBJECT.tmp-PID-INSTANCE-N", a name list never shows), are fsync'd,
 * then published with link(2), which never replaces an existing name (or
 * rename(2) when asked to replace), and the directory is fsync'd.
 *
 * It uses the host services of driver ABI 1.1 (checked once, in open):
 * uri_parse for its URI, config_value for its key, name_valid for object
 * names, track/untrack for its writers and readers (the host aborts the
 * writers and closes the readers still open before close).  Every error it
 * returns is described with set_error, NOT_FOUND too.
 * See docs/writing-a-driver.md.
 */
#define _POSIX_C_SOURCE 200809L /* O_CLOEXEC, openat, fdopendir with -std=c11 as well */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <licvault/driver.h>

typedef struct skel {
	const lv_host *host;
	lv_host_ctx *h;
	char dir[4096];
	unsigned tmp_seq;
} skel;

struct lv_writer {
	skel *s;
	int fd;
	char tmp[4400], path[4400];
};

struct lv_reader {
	skel *s;
	int fd;
};

static int code_of(int e)
{
	return e == ENOENT ? LV_E_NOT_FOUND : e == EEXIST ? LV_E_EXISTS : e == ENOSPC ? LV_E_NO_SPACE : LV_E_IO;
}

/* An object name (the host's rules), and not one of our temporaries (a leading '.'). */
static int check_name(skel *s, const char *name)
{
	if (s->host->name_valid(s->h, name) && name[0] != '.')
		return 0;
	return s->host->set_error(s->h, LV_E_INVALID_ARG, "skeleton: invalid object name '%.255s' in %s",
	                          name ? name : "", s->dir);
}

/* base/NAME for skel://NAME/: *dir gets it.  Errors are described. */
static int location_dir(const lv_host *host, lv_host_ctx *h, const char *uri, char *dir, size_t cap)
{
	lv_config_value base;
	int rc = host->config_value(h, "base", &base);
	if (rc)
		return rc; /* described by the host: file, line, what was expected */
	if (!base.text || !base.text[0])
		return host->set_error(h, LV_E_CONFIG, "skeleton: set 'base' in [driver \"skeleton\"] (where locations live)");
	lv_uri *u = NULL;
	if ((rc = host->uri_parse(h, uri, &u)))
		return rc; /* BAD_URI, described by the host */
	const char *name = u->host;
	if (u->user || u->password) /* not echoed: the URI may hold a password */
		rc = host->set_error(h, LV_E_BAD_URI, "a skel URI with a user or password: expected skel://NAME/");
	else if (strcmp(u->scheme, "skel") != 0 || u->inner || u->port || u->query || !name ||
	         (u->path[0] && strcmp(u->path, "/") != 0) || !host->name_valid(h, name) || name[0] == '.')
		rc = host->set_error(h, LV_E_BAD_URI, "'%s': expected skel://NAME/ (NAME: a plain name)", uri);
	else if ((size_t)snprintf(dir, cap, "%s/%s", base.text, name) >= cap)
		rc = host->set_error(h, LV_E_BAD_URI, "'%s': the path %s/%s is too long", uri, base.text, name);
	host->uri_free(u);
	return rc;
}

static int sk_open(const lv_host *host, lv_host_ctx *h, const char *uri, unsigned flags, void **inst)
{
	/* the services below came with ABI 1.1: an older licvault cannot run this driver */
	if (!LV_HOST_HAS(host, protected_file))
		return host->set_error(h, LV_E_UNSUPPORTED, "skeleton needs licvault's driver ABI 1.1 (this one has 1.%u)",
		                       (unsigned)host->abi_minor);
	skel *s = calloc(1, sizeof *s);
	if (!s)
		return host->set_error(h, LV_E_NOMEM, "skeleton: out of memory opening %s", uri);
	s->host = host;
	s->h = h;
	int rc = location_dir(host, h, uri, s->dir, sizeof s->dir);
	if (!rc && (flags & LV_OPEN_WRITE) && mkdir(s->dir, 0700) < 0 && errno != EEXIST)
		rc = host->set_error(h, code_of(errno), "skeleton: cannot create %s: %s", s->dir, strerror(errno));
	if (rc) {
		free(s);
		return rc;
	}
	*inst = s;
	return 0;
}

static void sk_close(void *inst)
{
	/* writers and readers still open were released by the host (track) before this */
	free(inst);
}

static void sk_abort(lv_writer *w)
{
	w->s->host->untrack(w->s->h, w);
	if (w->fd >= 0)
		close(w->fd);
	unlink(w->tmp);
	free(w);
}

static void release_writer(void *w)
{
	sk_abort(w);
}

static int sk_write_begin(void *inst, const char *name, uint64_t size_hint, lv_writer **out)
{
	skel *s = inst;
	(void)size_hint;
	int rc = check_name(s, name);
	if (rc)
		return rc;
	lv_writer *w = calloc(1, sizeof *w);
	if (!w)
		return s->host->set_error(s->h, LV_E_NOMEM, "skeleton: out of memory writing %s", name);
	w->s = s;
	snprintf(w->path, sizeof w->path, "%s/%s", s->dir, name);
	/* unique among processes, and among this process's instances (two runs at once) */
	snprintf(w->tmp, sizeof w->tmp, "%s/.%.200s.tmp-%d-%lx-%u", s->dir, name, (int)getpid(),
	         (unsigned long)(uintptr_t)s, s->tmp_seq++);
	w->fd = open(w->tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (w->fd < 0) {
		rc = s->host->set_error(s->h, code_of(errno), "skeleton: cannot create %s: %s", w->tmp, strerror(errno));
		free(w);
		return rc;
	}
	if ((rc = s->host->track(s->h, w, release_writer))) {
		sk_abort(w);
		return rc;
	}
	*out = w;
	return 0;
}

static int sk_write(lv_writer *w, const void *buf, size_t len)
{
	if (w->s->host->canceled(w->s->h))
		return LV_E_CANCELED;
	const char *p = buf;
	while (len) {
		ssize_t n = write(w->fd, p, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return w->s->host->set_error(w->s->h, code_of(errno), "skeleton: write %s: %s", w->tmp, strerror(errno));
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

static int sk_commit(lv_writer *w, unsigned flags)
{
	skel *s = w->s;
	int rc = 0;
	if (s->host->canceled(s->h))
		rc = LV_E_CANCELED;
	else if (fsync(w->fd) < 0)
		rc = s->host->set_error(s->h, code_of(errno), "skeleton: fsync %s: %s", w->tmp, strerror(errno));
	else if (close(w->fd) < 0) {
		w->fd = -1;
		rc = s->host->set_error(s->h, code_of(errno), "skeleton: close %s: %s", w->tmp, strerror(errno));
	} else {
		w->fd = -1;
		/* link() never replaces: an existing name is EEXIST; rename() replaces atomically */
		int r = (flags & LV_COMMIT_REPLACE) ? rename(w->tmp, w->path) : link(w->tmp, w->path);
		if (r < 0)
			rc = errno == EEXIST ? s->host->set_error(s->h, LV_E_EXISTS, "skeleton: %s exists", w->path)
			                     : s->host->set_error(s->h, code_of(errno), "skeleton: publish %s: %s", w->path,
			                                          strerror(errno));
	}
	if (!rc) {
		int dfd = open(s->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (dfd < 0 || fsync(dfd) < 0)
			rc = s->host->set_error(s->h, LV_E_IO, "skeleton: fsync %s: %s", s->dir, strerror(errno));
		if (dfd >= 0)
			close(dfd);
	}
	sk_abort(w); /* untracks, closes if needed, removes the temporary (after link, or on failure), frees */
	return rc;
}

static void sk_read_close(lv_reader *r)
{
	r->s->host->untrack(r->s->h, r);
	close(r->fd);
	free(r);
}

static void release_reader(void *r)
{
	sk_read_close(r);
}

static int sk_read_open(void *inst, const char *name, lv_reader **out)
{
	skel *s = inst;
	int rc = check_name(s, name);
	if (rc)
		return rc;
	char p[4400];
	snprintf(p, sizeof p, "%s/%s", s->dir, name);
	int fd = open(p, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0) /* NOT_FOUND is described too: the core takes it back when it expected it */
		return s->host->set_error(s->h, code_of(errno), "skeleton: cannot open %s: %s", p, strerror(errno));
	lv_reader *r = malloc(sizeof *r);
	if (!r) {
		close(fd);
		return s->host->set_error(s->h, LV_E_NOMEM, "skeleton: out of memory reading %s", p);
	}
	r->s = s;
	r->fd = fd;
	if ((rc = s->host->track(s->h, r, release_reader))) {
		close(fd);
		free(r);
		return rc;
	}
	*out = r;
	return 0;
}

static int sk_read(lv_reader *r, void *buf, size_t cap, size_t *n)
{
	if (r->s->host->canceled(r->s->h))
		return LV_E_CANCELED;
	ssize_t k;
	do
		k = read(r->fd, buf, cap);
	while (k < 0 && errno == EINTR);
	if (k < 0)
		return r->s->host->set_error(r->s->h, LV_E_IO, "skeleton: read in %s: %s", r->s->dir, strerror(errno));
	*n = (size_t)k;
	return 0;
}

static int sk_list(void *inst, lv_list_cb cb, void *ud)
{
	skel *s = inst;
	DIR *d = opendir(s->dir);
	if (!d)
		return s->host->set_error(s->h, code_of(errno), "skeleton: cannot list %s: %s", s->dir, strerror(errno));
	struct dirent *de;
	int rc = 0;
	while (!rc && (de = readdir(d))) {
		if (de->d_name[0] == '.')
			continue; /* ".", "..", temporaries */
		char p[4400];
		struct stat st;
		snprintf(p, sizeof p, "%s/%s", s->dir, de->d_name);
		if (lstat(p, &st) == 0 && S_ISREG(st.st_mode)) {
			lv_object_info info = {de->d_name, (uint64_t)st.st_size, (int64_t)st.st_mtime};
			rc = cb(&info, ud);
		}
	}
	closedir(d);
	return rc;
}

static int sk_remove(void *inst, const char *name)
{
	skel *s = inst;
	int rc = check_name(s, name);
	if (rc)
		return rc;
	char p[4400];
	snprintf(p, sizeof p, "%s/%s", s->dir, name);
	if (unlink(p) < 0)
		return s->host->set_error(s->h, code_of(errno), "skeleton: cannot remove %s: %s", p, strerror(errno));
	return 0;
}

static int sk_stat(void *inst, const char *name, lv_object_info *info)
{
	skel *s = inst;
	int rc = check_name(s, name);
	if (rc)
		return rc;
	char p[4400];
	struct stat st;
	snprintf(p, sizeof p, "%s/%s", s->dir, name);
	if (lstat(p, &st) < 0)
		return s->host->set_error(s->h, code_of(errno), "skeleton: cannot stat %s: %s", p, strerror(errno));
	if (!S_ISREG(st.st_mode))
		return s->host->set_error(s->h, LV_E_NOT_FOUND, "skeleton: %s is not an object", p);
	info->name = name;
	info->size = (uint64_t)st.st_size;
	info->mtime = (int64_t)st.st_mtime;
	return 0;
}

static int sk_sync(void *inst)
{
	skel *s = inst;
	int fd = open(s->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0 && errno == ENOENT)
		return 0; /* nothing was written */
	int rc = 0;
	if (fd < 0 || fsync(fd) < 0)
		rc = s->host->set_error(s->h, LV_E_IO, "skeleton: fsync %s: %s", s->dir, strerror(errno));
	if (fd >= 0)
		close(fd);
	return rc;
}

static const lv_driver_ops skel_ops = {
	.open = sk_open,
	.close = sk_close,
	.write_begin = sk_write_begin,
	.write = sk_write,
	.commit = sk_commit,
	.abort = sk_abort,
	.read_open = sk_read_open,
	.read = sk_read,
	.read_close = sk_read_close,
	.list = sk_list,
	.remove = sk_remove,
	.stat = sk_stat,
	.sync = sk_sync,
	/* space, cleanup, enumerate, control: not supported (NULL) */
};

static const char *const skel_schemes[] = {"skel", NULL};

static const lv_driver_key skel_keys[] = {
	{"base", LV_KEY_PATH, NULL, "directory holding one folder per location", 0, 0, NULL, 0},
	{NULL, 0, NULL, NULL, 0, 0, NULL, 0},
};

static const lv_driver skel_driver = {
	LV_DRIVER_INIT_HEADER,
	.name = "skeleton",
	.version = "1.1.0",
	.schemes = skel_schemes,
	.ops = &skel_ops,
	.keys = skel_keys,
};

LV_DRIVER_ENTRY
{
	return &skel_driver;
}
