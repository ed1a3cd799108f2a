/*
 * abi10dir: a small but complete driver built against the driver ABI 1.0
 * SDK alone (tests/abi10/licvault/driver.h, a copy of licvault 0.1's
 * include/licvault/driver.h at 04f0767, with its common.h), so that a
 * driver written before ABI 1.1 keeps loading and passing the conformance
 * suite in this host (tests/test_conformance.c builds it with
 * -I tests/abi10 and nothing else).
 *
 *   URI: abi10:///abs/dir   (a directory of files, one per object)
 *
 * ABI 1.0 has no host services beyond set_error, log, config_get and
 * canceled: this driver parses its URI, checks names and keeps its open
 * writers and readers itself (close aborts and closes them).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "licvault/driver.h"

#if LV_DRIVER_ABI_MAJOR != 1 || LV_DRIVER_ABI_MINOR != 0
#error "abi10dir is built against the ABI 1.0 header (tests/abi10) only"
#endif

typedef struct a10 {
	const lv_host *host;
	lv_host_ctx *h;
	char dir[4096];
	unsigned seq;
	struct lv_writer *writers;
	struct lv_reader *readers;
} a10;

struct lv_writer {
	a10 *a;
	int fd;
	char tmp[4400], path[4400];
	struct lv_writer *next;
};

struct lv_reader {
	a10 *a;
	int fd;
	struct lv_reader *next;
};

static int code_of(int e)
{
	return e == ENOENT ? LV_E_NOT_FOUND : e == EEXIST ? LV_E_EXISTS : e == ENOSPC ? LV_E_NO_SPACE : LV_E_IO;
}

/* An object name (1 to 255 bytes, no '/', not . or ..), and not a temporary's (a leading '.'). */
static int name_ok(a10 *a, const char *name)
{
	if (name && name[0] && name[0] != '.' && strlen(name) < 256 && !strchr(name, '/'))
		return 0;
	return a->host->set_error(a->h, LV_E_INVALID_ARG, "abi10dir: invalid object name '%.255s' in %s",
	                          name ? name : "", a->dir);
}

static int a_open(const lv_host *host, lv_host_ctx *h, const char *uri, unsigned flags, void **inst)
{
	const char *p = strncmp(uri, "abi10://", 8) == 0 ? uri + 8 : NULL;
	if (!p || p[0] != '/' || strpbrk(p, "%?#") || strlen(p) >= 4096)
		return host->set_error(h, LV_E_BAD_URI, "'%s': expected abi10:///abs/dir (no escapes, query or fragment)", uri);
	a10 *a = calloc(1, sizeof *a);
	if (!a)
		return host->set_error(h, LV_E_NOMEM, "abi10dir: out of memory opening %s", uri);
	a->host = host;
	a->h = h;
	snprintf(a->dir, sizeof a->dir, "%s", p);
	if ((flags & LV_OPEN_WRITE) && mkdir(a->dir, 0700) != 0 && errno != EEXIST) {
		int rc = host->set_error(h, code_of(errno), "abi10dir: cannot create %s: %s", a->dir, strerror(errno));
		free(a);
		return rc;
	}
	*inst = a;
	return 0;
}

static void a_abort(lv_writer *w);
static void a_read_close(lv_reader *r);

static void a_close(void *inst)
{
	a10 *a = inst;
	while (a->writers)
		a_abort(a->writers);
	while (a->readers)
		a_read_close(a->readers);
	free(a);
}

static int a_write_begin(void *inst, const char *name, uint64_t hint, lv_writer **out)
{
	a10 *a = inst;
	(void)hint;
	int rc = name_ok(a, name);
	if (rc)
		return rc;
	lv_writer *w = calloc(1, sizeof *w);
	if (!w)
		return a->host->set_error(a->h, LV_E_NOMEM, "abi10dir: out of memory writing %s", name);
	w->a = a;
	snprintf(w->path, sizeof w->path, "%s/%s", a->dir, name);
	/* unique among this process's instances (two runs at once) and processes */
	snprintf(w->tmp, sizeof w->tmp, "%s/.%.200s.tmp-%d-%lx-%u", a->dir, name, (int)getpid(),
	         (unsigned long)(uintptr_t)a, a->seq++);
	w->fd = open(w->tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (w->fd < 0) {
		rc = a->host->set_error(a->h, code_of(errno), "abi10dir: cannot create %s: %s", w->tmp, strerror(errno));
		free(w);
		return rc;
	}
	w->next = a->writers;
	a->writers = w;
	*out = w;
	return 0;
}

static int a_write(lv_writer *w, const void *buf, size_t len)
{
	a10 *a = w->a;
	if (a->host->canceled(a->h))
		return LV_E_CANCELED;
	for (const char *p = buf; len;) {
		ssize_t n = write(w->fd, p, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return a->host->set_error(a->h, code_of(errno), "abi10dir: write %s: %s", w->tmp, strerror(errno));
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

/* Forget w: off the instance's list, its temporary removed (after a link, or a failure), freed. */
static void a_abort(lv_writer *w)
{
	for (lv_writer **p = &w->a->writers; *p; p = &(*p)->next)
		if (*p == w) {
			*p = w->next;
			break;
		}
	if (w->fd >= 0)
		close(w->fd);
	unlink(w->tmp);
	free(w);
}

static int a_commit(lv_writer *w, unsigned flags)
{
	a10 *a = w->a;
	int rc = 0;
	if (a->host->canceled(a->h))
		rc = LV_E_CANCELED;
	else if (fsync(w->fd) != 0 || close(w->fd) != 0)
		rc = a->host->set_error(a->h, LV_E_IO, "abi10dir: fsync %s: %s", w->tmp, strerror(errno));
	else {
		w->fd = -1;
		/* link() never replaces an existing name; rename() replaces atomically */
		int r = (flags & LV_COMMIT_REPLACE) ? rename(w->tmp, w->path) : link(w->tmp, w->path);
		if (r != 0)
			rc = a->host->set_error(a->h, code_of(errno), "abi10dir: cannot publish %s: %s", w->path,
			                        errno == EEXIST ? "it exists" : strerror(errno));
		int dfd = r == 0 ? open(a->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC) : -1;
		if (dfd >= 0 && fsync(dfd) != 0)
			rc = a->host->set_error(a->h, LV_E_IO, "abi10dir: fsync %s: %s", a->dir, strerror(errno));
		if (dfd >= 0)
			close(dfd);
	}
	a_abort(w);
	return rc;
}

static int a_read_open(void *inst, const char *name, lv_reader **out)
{
	a10 *a = inst;
	int rc = name_ok(a, name);
	if (rc)
		return rc;
	char p[4400];
	snprintf(p, sizeof p, "%s/%s", a->dir, name);
	int fd = open(p, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0)
		return a->host->set_error(a->h, code_of(errno), "abi10dir: cannot open %s: %s", p, strerror(errno));
	lv_reader *r = calloc(1, sizeof *r);
	if (!r) {
		close(fd);
		return a->host->set_error(a->h, LV_E_NOMEM, "abi10dir: out of memory reading %s", p);
	}
	r->a = a;
	r->fd = fd;
	r->next = a->readers;
	a->readers = r;
	*out = r;
	return 0;
}

static int a_read(lv_reader *r, void *buf, size_t cap, size_t *n)
{
	if (r->a->host->canceled(r->a->h))
		return LV_E_CANCELED;
	ssize_t k;
	do
		k = read(r->fd, buf, cap);
	while (k < 0 && errno == EINTR);
	if (k < 0)
		return r->a->host->set_error(r->a->h, LV_E_IO, "abi10dir: read in %s: %s", r->a->dir, strerror(errno));
	*n = (size_t)k;
	return 0;
}

static void a_read_close(lv_reader *r)
{
	for (lv_reader **p = &r->a->readers; *p; p = &(*p)->next)
		if (*p == r) {
			*p = r->next;
			break;
		}
	close(r->fd);
	free(r);
}

static int a_list(void *inst, lv_list_cb cb, void *ud)
{
	a10 *a = inst;
	DIR *d = opendir(a->dir);
	if (!d)
		return a->host->set_error(a->h, code_of(errno), "abi10dir: cannot list %s: %s", a->dir, strerror(errno));
	int rc = 0;
	for (struct dirent *de; !rc && (de = readdir(d));) {
		char p[4400];
		struct stat st;
		snprintf(p, sizeof p, "%s/%s", a->dir, de->d_name);
		if (de->d_name[0] != '.' && lstat(p, &st) == 0 && S_ISREG(st.st_mode)) {
			lv_object_info info = {de->d_name, (uint64_t)st.st_size, (int64_t)st.st_mtime};
			rc = cb(&info, ud);
		}
	}
	closedir(d);
	return rc;
}

static int a_remove(void *inst, const char *name)
{
	a10 *a = inst;
	int rc = name_ok(a, name);
	if (rc)
		return rc;
	char p[4400];
	snprintf(p, sizeof p, "%s/%s", a->dir, name);
	if (unlink(p) != 0)
		return a->host->set_error(a->h, code_of(errno), "abi10dir: cannot remove %s: %s", p, strerror(errno));
	return 0;
}

static int a_stat(void *inst, const char *name, lv_object_info *info)
{
	a10 *a = inst;
	int rc = name_ok(a, name);
	if (rc)
		return rc;
	char p[4400];
	struct stat st;
	snprintf(p, sizeof p, "%s/%s", a->dir, name);
	if (lstat(p, &st) != 0 || !S_ISREG(st.st_mode))
		return a->host->set_error(a->h, LV_E_NOT_FOUND, "abi10dir: no object %s in %s", name, a->dir);
	info->name = name;
	info->size = (uint64_t)st.st_size;
	info->mtime = (int64_t)st.st_mtime;
	return 0;
}

static int a_sync(void *inst)
{
	a10 *a = inst;
	int fd = open(a->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0 && errno == ENOENT)
		return 0; /* nothing written */
	int rc = fd < 0 || fsync(fd) != 0
	             ? a->host->set_error(a->h, LV_E_IO, "abi10dir: fsync %s: %s", a->dir, strerror(errno))
	             : 0;
	if (fd >= 0)
		close(fd);
	return rc;
}

static const lv_driver_ops a_ops = {
	.open = a_open,
	.close = a_close,
	.write_begin = a_write_begin,
	.write = a_write,
	.commit = a_commit,
	.abort = a_abort,
	.read_open = a_read_open,
	.read = a_read,
	.read_close = a_read_close,
	.list = a_list,
	.remove = a_remove,
	.stat = a_stat,
	.sync = a_sync,
};

static const char *const a_schemes[] = {"abi10", NULL};

static const lv_driver a_driver = {
	LV_DRIVER_INIT_HEADER,
	.name = "abi10dir",
	.version = "1.0.0",
	.schemes = a_schemes,
	.ops = &a_ops,
	.keys = NULL,
};

LV_DRIVER_ENTRY
{
	return &a_driver;
}
