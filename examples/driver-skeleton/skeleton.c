/*
 * skeleton: a small, complete licvault driver, to copy from.
 *
 *   URI:     skel://NAME/        a backup location called NAME
 *   config:  [driver "skeleton"]
 *            base = /srv/licvault-skel   (required: where locations live)
 *
 * Each object is a file base/NAME/OBJECT.  Writes go to a temporary
 * (".OBJECT.tmp-PID-N"), are fsync'd, then published with link(2), which
 * never replaces an existing name (or rename(2) when asked to replace), and
 * the directory is fsync'd.  See docs/writing-a-driver.md.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
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
	char tmp[4352], path[4352];
};

struct lv_reader {
	skel *s;
	int fd;
};

static int code_of(int e)
{
	return e == ENOENT ? LV_E_NOT_FOUND : e == EEXIST ? LV_E_EXISTS : e == ENOSPC ? LV_E_NO_SPACE : LV_E_IO;
}

static int valid_name(const char *n)
{
	return n && *n && *n != '.' && !strchr(n, '/') && strlen(n) < 200;
}

static int sk_open(const lv_host *host, lv_host_ctx *h, const char *uri, unsigned flags, void **inst)
{
	const char *base = host->config_get(h, "base", 0);
	if (!base)
		return host->set_error(h, LV_E_CONFIG, "skeleton: set 'base' in [driver \"skeleton\"]");
	const char *name = uri + strlen("skel://");
	size_t n = strcspn(name, "/");
	if (strncmp(uri, "skel://", 7) != 0 || n == 0 || n > 64 || strstr(name, ".."))
		return host->set_error(h, LV_E_BAD_URI, "'%s': expected skel://NAME/", uri);
	skel *s = calloc(1, sizeof *s);
	if (!s)
		return LV_E_NOMEM;
	s->host = host;
	s->h = h;
	snprintf(s->dir, sizeof s->dir, "%s/%.*s", base, (int)n, name);
	if ((flags & LV_OPEN_WRITE) && mkdir(s->dir, 0700) < 0 && errno != EEXIST) {
		int rc = host->set_error(h, code_of(errno), "skeleton: cannot create %s: %s", s->dir, strerror(errno));
		free(s);
		return rc;
	}
	*inst = s;
	return 0;
}

static void sk_close(void *inst)
{
	free(inst);
}

static int sk_write_begin(void *inst, const char *name, uint64_t size_hint, lv_writer **out)
{
	skel *s = inst;
	(void)size_hint;
	if (!valid_name(name))
		return s->host->set_error(s->h, LV_E_INVALID_ARG, "skeleton: bad object name");
	lv_writer *w = calloc(1, sizeof *w);
	if (!w)
		return LV_E_NOMEM;
	w->s = s;
	snprintf(w->path, sizeof w->path, "%s/%s", s->dir, name);
	snprintf(w->tmp, sizeof w->tmp, "%s/.%s.tmp-%d-%u", s->dir, name, (int)getpid(), s->tmp_seq++);
	w->fd = open(w->tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (w->fd < 0) {
		int rc = s->host->set_error(s->h, code_of(errno), "skeleton: cannot create %s: %s", w->tmp, strerror(errno));
		free(w);
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

static void sk_abort(lv_writer *w)
{
	if (w->fd >= 0)
		close(w->fd);
	unlink(w->tmp);
	free(w);
}

static int sk_commit(lv_writer *w, unsigned flags)
{
	skel *s = w->s;
	int rc = 0;
	if (s->host->canceled(s->h))
		rc = LV_E_CANCELED;
	else if (fsync(w->fd) < 0 || close(w->fd) < 0)
		rc = s->host->set_error(s->h, code_of(errno), "skeleton: fsync %s: %s", w->tmp, strerror(errno));
	else {
		w->fd = -1;
		/* link() never replaces: an existing name is EEXIST; rename() replaces atomically */
		int r = (flags & LV_COMMIT_REPLACE) ? rename(w->tmp, w->path) : link(w->tmp, w->path);
		if (r < 0)
			rc = errno == EEXIST ? s->host->set_error(s->h, LV_E_EXISTS, "skeleton: %s exists", w->path)
			                     : s->host->set_error(s->h, code_of(errno), "skeleton: publish %s: %s", w->path,
			                                          strerror(errno));
	}
	if (!rc) {
		int dfd = open(s->dir, O_RDONLY | O_DIRECTORY);
		if (dfd >= 0) {
			fsync(dfd);
			close(dfd);
		}
	}
	sk_abort(w); /* closes if needed, removes the temporary (after link, or on failure), frees */
	return rc;
}

static int sk_read_open(void *inst, const char *name, lv_reader **out)
{
	skel *s = inst;
	if (!valid_name(name))
		return s->host->set_error(s->h, LV_E_INVALID_ARG, "skeleton: bad object name");
	char p[4352];
	snprintf(p, sizeof p, "%s/%s", s->dir, name);
	int fd = open(p, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return errno == ENOENT ? LV_E_NOT_FOUND
		                       : s->host->set_error(s->h, code_of(errno), "skeleton: open %s: %s", p, strerror(errno));
	lv_reader *r = malloc(sizeof *r);
	if (!r) {
		close(fd);
		return LV_E_NOMEM;
	}
	r->s = s;
	r->fd = fd;
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
		return r->s->host->set_error(r->s->h, LV_E_IO, "skeleton: read: %s", strerror(errno));
	*n = (size_t)k;
	return 0;
}

static void sk_read_close(lv_reader *r)
{
	close(r->fd);
	free(r);
}

static int sk_list(void *inst, lv_list_cb cb, void *ud)
{
	skel *s = inst;
	DIR *d = opendir(s->dir);
	if (!d)
		return errno == ENOENT ? LV_E_NOT_FOUND : s->host->set_error(s->h, LV_E_IO, "skeleton: list %s", s->dir);
	struct dirent *de;
	int rc = 0;
	while (!rc && (de = readdir(d))) {
		if (de->d_name[0] == '.')
			continue; /* ".", "..", temporaries */
		char p[4352];
		struct stat st;
		snprintf(p, sizeof p, "%s/%s", s->dir, de->d_name);
		if (stat(p, &st) == 0 && S_ISREG(st.st_mode)) {
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
	if (!valid_name(name))
		return s->host->set_error(s->h, LV_E_INVALID_ARG, "skeleton: bad object name");
	char p[4352];
	snprintf(p, sizeof p, "%s/%s", s->dir, name);
	if (unlink(p) < 0)
		return errno == ENOENT ? LV_E_NOT_FOUND
		                       : s->host->set_error(s->h, code_of(errno), "skeleton: remove %s: %s", p, strerror(errno));
	return 0;
}

static int sk_stat(void *inst, const char *name, lv_object_info *info)
{
	skel *s = inst;
	char p[4352];
	struct stat st;
	snprintf(p, sizeof p, "%s/%s", s->dir, name);
	if (!valid_name(name) || stat(p, &st) < 0)
		return LV_E_NOT_FOUND;
	info->name = name;
	info->size = (uint64_t)st.st_size;
	info->mtime = (int64_t)st.st_mtime;
	return 0;
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
	/* sync, space, cleanup, enumerate: not supported (NULL) */
};

static const char *const skel_schemes[] = {"skel", NULL};

static const lv_driver_key skel_keys[] = {
	{"base", LV_KEY_PATH, NULL, "directory holding one folder per location", 0, 0, NULL, 0},
	{NULL, 0, NULL, NULL, 0, 0, NULL, 0},
};

static const lv_driver skel_driver = {
	LV_DRIVER_INIT_HEADER,
	.name = "skeleton",
	.version = "1.0.0",
	.schemes = skel_schemes,
	.ops = &skel_ops,
	.keys = skel_keys,
};

LV_DRIVER_ENTRY
{
	return &skel_driver;
}
