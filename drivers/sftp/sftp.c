/*
 * The sftp driver: a backup location in a directory on an SSH server.
 *   sftp://[user@]host[:port]/abs/dir      sftp://[user@]host[:port]/~/dir
 *
 * One SSH session per instance, reused for every object; libssh2 in
 * non-blocking mode with poll() (cancellation within a tick, timeouts,
 * keepalives: ssh.c).  Objects are written as ".NAME.tmp-RANDOM" in the
 * target directory, fsync'd with fsync@openssh.com when the server has it,
 * then renamed to NAME (SFTP v3 rename never replaces an existing file).
 * See docs/drivers/sftp.md.
 */
#include "sftp_int.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define NAME_MAX_LEN 230   /* so ".NAME.tmp-XXXXXXXXXXXX" stays within 255 bytes */

struct lv_writer {
	sftp_inst *c;
	LIBSSH2_SFTP_HANDLE *fh;
	unsigned gen;            /* session generation fh belongs to */
	char *name;
	char *path;              /* final remote path */
	char *tmp;               /* temporary remote path */
	uint64_t written;        /* bytes sent and acknowledged */
};

struct lv_reader {
	sftp_inst *c;
	LIBSSH2_SFTP_HANDLE *fh;
	unsigned gen;
	char *path;
	int eof;
};

/* ---- helpers --------------------------------------------------------------- */

static char *join(const char *dir, const char *name)
{
	char *p = NULL;
	if (asprintf(&p, "%s%s%s", dir, (dir[0] && dir[strlen(dir) - 1] == '/') ? "" : "/", name) < 0)
		return NULL;
	return p;
}

static void rand_hex(char *out, size_t bytes)
{
	unsigned char r[16];
	if (bytes > sizeof r)
		bytes = sizeof r;
	if (getrandom(r, bytes, 0) != (ssize_t)bytes) {
		struct timespec ts;
		clock_gettime(CLOCK_REALTIME, &ts);
		for (size_t i = 0; i < bytes; i++)
			r[i] = (unsigned char)((ts.tv_nsec >> (i % 4 * 8)) ^ (getpid() >> (i % 2 * 8)) ^ (int)i);
	}
	for (size_t i = 0; i < bytes; i++)
		sprintf(out + 2 * i, "%02x", r[i]);
}

static int check_name(sftp_inst *c, const char *name)
{
	if (!name || !*name || strchr(name, '/') || !strcmp(name, ".") || !strcmp(name, "..") ||
	    strlen(name) > NAME_MAX_LEN)
		return sftp_err(c, LV_E_INVALID_ARG, "sftp %s: invalid object name '%s' in %s", c->where,
		                name ? name : "(null)", c->dir ? c->dir : "");
	return 0;
}

/* ---- remote file system steps ---------------------------------------------- */

static int r_stat(sftp_inst *c, const char *path, LIBSSH2_SFTP_ATTRIBUTES *a, const char *step)
{
	sftp_op o;
	sftp_op_start(&o, c, step, path);
	int r;
	while ((r = libssh2_sftp_stat_ex(c->sftp, path, (unsigned)strlen(path), LIBSSH2_SFTP_LSTAT, a)) ==
	       LIBSSH2_ERROR_EAGAIN)
		if (sftp_op_wait(&o))
			return o.err;
	return r ? sftp_op_fail(&o, r) : 0;
}

/* Stat without describing "not found": 1 exists, 0 absent, < 0 error (described). */
static int r_exists(sftp_inst *c, const char *path, LIBSSH2_SFTP_ATTRIBUTES *a)
{
	sftp_op o;
	sftp_op_start(&o, c, "stat", path);
	int r;
	while ((r = libssh2_sftp_stat_ex(c->sftp, path, (unsigned)strlen(path), LIBSSH2_SFTP_LSTAT, a)) ==
	       LIBSSH2_ERROR_EAGAIN)
		if (sftp_op_wait(&o))
			return o.err;
	if (r == 0)
		return 1;
	if (r == LIBSSH2_ERROR_SFTP_PROTOCOL) {
		unsigned long st = libssh2_sftp_last_error(c->sftp);
		if (st == LIBSSH2_FX_NO_SUCH_FILE || st == LIBSSH2_FX_NO_SUCH_PATH)
			return 0;
	}
	return sftp_op_fail(&o, r);
}

static int r_unlink(sftp_inst *c, const char *path)
{
	sftp_op o;
	sftp_op_start(&o, c, "remove", path);
	int r;
	while ((r = libssh2_sftp_unlink_ex(c->sftp, path, (unsigned)strlen(path))) == LIBSSH2_ERROR_EAGAIN)
		if (sftp_op_wait(&o))
			return o.err;
	return r ? sftp_op_fail(&o, r) : 0;
}

static int r_rename(sftp_inst *c, const char *from, const char *to)
{
	sftp_op o;
	sftp_op_start(&o, c, "rename to", to);
	int r;
	while ((r = libssh2_sftp_rename_ex(c->sftp, from, (unsigned)strlen(from), to, (unsigned)strlen(to), 0)) ==
	       LIBSSH2_ERROR_EAGAIN)
		if (sftp_op_wait(&o))
			return o.err;
	return r ? sftp_op_fail(&o, r) : 0;
}

static int r_close(sftp_inst *c, LIBSSH2_SFTP_HANDLE *fh, const char *path)
{
	sftp_op o;
	sftp_op_start(&o, c, "close", path);
	int r;
	while ((r = libssh2_sftp_close_handle(fh)) == LIBSSH2_ERROR_EAGAIN)
		if (sftp_op_wait(&o))
			return o.err;
	return r ? sftp_op_fail(&o, r) : 0;
}

static int r_open(sftp_inst *c, const char *path, unsigned long fl, long mode, int type,
                  LIBSSH2_SFTP_HANDLE **out, const char *step)
{
	sftp_op o;
	sftp_op_start(&o, c, step, path);
	LIBSSH2_SFTP_HANDLE *fh;
	while (!(fh = libssh2_sftp_open_ex(c->sftp, path, (unsigned)strlen(path), fl, mode, type)) &&
	       libssh2_session_last_errno(c->s) == LIBSSH2_ERROR_EAGAIN)
		if (sftp_op_wait(&o))
			return o.err;
	if (!fh)
		return sftp_op_fail(&o, libssh2_session_last_errno(c->s));
	*out = fh;
	return 0;
}

static int r_statvfs(sftp_inst *c, const char *path, LIBSSH2_SFTP_STATVFS *st)
{
	sftp_op o;
	sftp_op_start(&o, c, "statvfs", path);
	int r;
	while ((r = libssh2_sftp_statvfs(c->sftp, path, strlen(path), st)) == LIBSSH2_ERROR_EAGAIN)
		if (sftp_op_wait(&o))
			return o.err;
	return r ? sftp_op_fail(&o, r) : 0;
}

/*
 * SFTP v3 has no "disk full" status: OpenSSH answers ENOSPC with FAILURE.
 * After a FAILURE while writing, ask statvfs@openssh.com whether the remote
 * filesystem is full, and say so.  Returns the lv code to use.
 */
static int explain_write_failure(sftp_inst *c, int code, const char *path, size_t need)
{
	if (code != LV_E_IO || c->broken || !c->sftp)
		return code;
	unsigned long st = libssh2_sftp_last_error(c->sftp);
	if (st != LIBSSH2_FX_FAILURE)
		return code;
	LIBSSH2_SFTP_STATVFS v;
	int saved = sftp_err_save(c);
	int r = r_statvfs(c, c->dir, &v);
	sftp_err_restore(c, saved); /* a probe: the write's own failure stands */
	if (r)
		return code;
	uint64_t avail = (uint64_t)v.f_bavail * v.f_frsize;
	if (avail < (uint64_t)need + 65536)
		return sftp_err(c, LV_E_NO_SPACE, "sftp %s: cannot write %s: the remote filesystem is full (%llu bytes free)",
		                c->where, path, (unsigned long long)avail);
	return code;
}

static int mkdirs(sftp_inst *c, const char *dir)
{
	LIBSSH2_SFTP_ATTRIBUTES a;
	int e = r_exists(c, dir, &a);
	if (e < 0)
		return e;
	if (e) {
		if ((a.flags & LIBSSH2_SFTP_ATTR_PERMISSIONS) && !LIBSSH2_SFTP_S_ISDIR(a.permissions))
			return sftp_err(c, LV_E_BAD_URI, "sftp %s: %s exists and is not a directory", c->where, dir);
		return 0;
	}
	char *p = strdup(dir);
	if (!p)
		return LV_E_NOMEM;
	int rc = 0;
	for (char *s = p + 1;; s++) {
		if (*s != '/' && *s)
			continue;
		char ch = *s;
		*s = '\0';
		e = r_exists(c, p, &a);
		if (e < 0) {
			rc = e;
			break;
		}
		if (!e) {
			sftp_op o;
			sftp_op_start(&o, c, "create directory", p);
			int r;
			while ((r = libssh2_sftp_mkdir_ex(c->sftp, p, (unsigned)strlen(p), 0700)) == LIBSSH2_ERROR_EAGAIN)
				if (sftp_op_wait(&o)) {
					free(p);
					return o.err;
				}
			if (r) {
				if (r != LIBSSH2_ERROR_SFTP_PROTOCOL) {
					rc = sftp_op_fail(&o, r);
					break;
				}
				unsigned long st = libssh2_sftp_last_error(c->sftp);
				int saved = sftp_err_save(c);
				int again = r_exists(c, p, &a); /* made by another run meanwhile? */
				sftp_err_restore(c, saved);
				if (again != 1) {
					int code;
					const char *txt = sftp_fx_text(st, &code);
					rc = sftp_err(c, code == LV_E_NO_SPACE ? code : LV_E_IO,
					              "sftp %s: cannot create directory %s: %s (SFTP status %lu)", c->where, p, txt, st);
					break;
				}
			}
		}
		*s = ch;
		if (!ch)
			break;
	}
	free(p);
	return rc;
}

/* ---- open / close ----------------------------------------------------------- */

static void inst_free(sftp_inst *c);

static int resolve_dir(sftp_inst *c)
{
	if (!c->home_relative) {
		c->dir = strdup(c->dirspec);
		return c->dir ? 0 : LV_E_NOMEM;
	}
	char home[4096];
	sftp_op o;
	sftp_op_start(&o, c, "find the home directory of", c->user);
	int r;
	while ((r = libssh2_sftp_symlink_ex(c->sftp, ".", 1, home, sizeof home - 1, LIBSSH2_SFTP_REALPATH)) ==
	       LIBSSH2_ERROR_EAGAIN)
		if (sftp_op_wait(&o))
			return o.err;
	if (r < 0)
		return sftp_op_fail(&o, r);
	home[r] = '\0';
	if (!*c->dirspec)
		c->dir = strdup(home);
	else
		c->dir = join(home, c->dirspec);
	return c->dir ? 0 : LV_E_NOMEM;
}

/* With LV_OPEN_WRITE: can we create files here?  A probe file, created and removed. */
static int probe_write(sftp_inst *c)
{
	char hex[17];
	rand_hex(hex, 8);
	char name[64];
	snprintf(name, sizeof name, ".lvprobe-%s", hex);
	char *p = join(c->dir, name);
	if (!p)
		return LV_E_NOMEM;
	LIBSSH2_SFTP_HANDLE *fh = NULL;
	int rc = r_open(c, p, LIBSSH2_FXF_WRITE | LIBSSH2_FXF_CREAT | LIBSSH2_FXF_EXCL, 0600, LIBSSH2_SFTP_OPENFILE, &fh,
	                "create a file in");
	if (!rc) {
		rc = r_close(c, fh, p);
		int r2 = r_unlink(c, p);
		if (!rc)
			rc = r2;
	} else if (rc == LV_E_NOT_FOUND)
		rc = LV_E_IO;
	free(p);
	return rc;
}

/* The services of ABI 1.1 this driver uses; a host without them is refused at open. */
static int host_ok(const lv_host *host, lv_host_ctx *h)
{
	if (LV_HOST_HAS(host, error_save) && LV_HOST_HAS(host, error_restore) && LV_HOST_HAS(host, config_value) &&
	    LV_HOST_HAS(host, uri_parse) && LV_HOST_HAS(host, uri_free) && LV_HOST_HAS(host, track) &&
	    LV_HOST_HAS(host, untrack))
		return 0;
	return host->set_error(h, LV_E_UNSUPPORTED,
	                       "sftp: this licvault (driver ABI 1.%u) lacks host services the sftp driver needs (ABI 1.1)",
	                       (unsigned)host->abi_minor);
}

static int sftp_drv_open(const lv_host *host, lv_host_ctx *h, const char *uri, unsigned flags, void **inst)
{
	int rc = host_ok(host, h);
	if (rc)
		return rc;
	sftp_inst *c = calloc(1, sizeof *c);
	if (!c)
		return LV_E_NOMEM;
	c->host = host;
	c->h = h;
	c->flags = flags;
	c->sock = -1;
	c->proxy.err_fd = c->proxy.out_fd = -1;
	if ((rc = sftp_read_keys(c)) || (rc = sftp_parse_uri(c, uri)) || (rc = sftp_resolve(c)) ||
	    (rc = sftp_connect(c)) || (rc = resolve_dir(c)))
		goto fail;
	if (flags & LV_OPEN_WRITE) {
		if ((rc = mkdirs(c, c->dir)) || (rc = probe_write(c)))
			goto fail;
		c->dir_exists = 1;
	} else {
		LIBSSH2_SFTP_ATTRIBUTES a;
		int e = r_exists(c, c->dir, &a);
		if (e < 0) {
			rc = e;
			goto fail;
		}
		c->dir_exists = e;
	}
	host->log(h, LV_LOG_DEBUG, "sftp %s: connected, directory %s", c->where, c->dir);
	*inst = c;
	return 0;
fail:
	inst_free(c);
	return rc;
}

/* Forget a writer: untracked (a no-op when it never was), freed. */
static void writer_free(lv_writer *w)
{
	w->c->host->untrack(w->c->h, w);
	free(w->name);
	free(w->path);
	free(w->tmp);
	free(w);
}

/*
 * Close the handle (if its session is alive) and remove the temporary,
 * through a new connection when the old one is gone.  A failure here is
 * handled (a later run's cleanup removes what is left), so it is taken back:
 * the run's own error, when there is one, stays.
 */
static void writer_drop(lv_writer *w)
{
	sftp_inst *c = w->c;
	int saved = sftp_err_save(c);
	int was_cleanup = c->cleanup_mode;
	if (sftp_cleanup_session(c) == 0) {
		if (w->fh && w->gen == c->gen)
			r_close(c, w->fh, w->tmp);
		w->fh = NULL;
		int rc = r_unlink(c, w->tmp);
		if (rc && rc != LV_E_NOT_FOUND && !c->broken)
			c->host->log(c->h, LV_LOG_WARN, "sftp %s: could not remove the temporary %s; a later run's cleanup removes it",
			             c->where, w->tmp);
	} else
		c->host->log(c->h, LV_LOG_WARN,
		             "sftp %s: the server cannot be reached to remove the temporary %s; a later run's cleanup removes it",
		             c->where, w->tmp);
	if (!was_cleanup)
		sftp_cleanup_end(c);
	sftp_err_restore(c, saved);
	writer_free(w);
}

static void reader_free(lv_reader *r)
{
	r->c->host->untrack(r->c->h, r);
	free(r->path);
	free(r);
}

/* Everything of the instance; its writers and readers were released by the host before. */
static void inst_free(sftp_inst *c)
{
	if (!c)
		return;
	sftp_disconnect(c);
	sftp_settings_free(c);
	free(c->dir);
	free(c);
}

static void sftp_drv_close(void *inst)
{
	inst_free(inst);
}

/* ---- writing ------------------------------------------------------------------ */

static void sftp_drv_abort(lv_writer *w);
static void release_writer(void *w) { sftp_drv_abort(w); }

static lv_writer *writer_new(sftp_inst *c, const char *name)
{
	lv_writer *w = calloc(1, sizeof *w);
	if (!w)
		return NULL;
	w->c = c;
	char hex[13];
	rand_hex(hex, 6);
	char tmpname[300];
	snprintf(tmpname, sizeof tmpname, ".%s.tmp-%s", name, hex);
	w->name = strdup(name);
	w->path = join(c->dir, name);
	w->tmp = join(c->dir, tmpname);
	if (!w->name || !w->path || !w->tmp) {
		writer_free(w);
		return NULL;
	}
	return w;
}

static int sftp_drv_write_begin(void *inst, const char *name, uint64_t size_hint, lv_writer **out)
{
	sftp_inst *c = inst;
	(void)size_hint;
	int rc = check_name(c, name);
	if (rc || (rc = sftp_usable(c, "create", name)))
		return rc;
	lv_writer *w = writer_new(c, name);
	if (!w)
		return LV_E_NOMEM;
	rc = r_open(c, w->tmp, LIBSSH2_FXF_WRITE | LIBSSH2_FXF_CREAT | LIBSSH2_FXF_EXCL, 0600, LIBSSH2_SFTP_OPENFILE,
	            &w->fh, "create");
	if (rc) {
		if (rc == LV_E_NOT_FOUND)
			rc = sftp_err(c, LV_E_IO, "sftp %s: cannot create %s: the directory %s is gone", c->where, w->tmp, c->dir);
		writer_free(w);
		return rc;
	}
	w->gen = c->gen;
	if ((rc = c->host->track(c->h, w, release_writer))) {
		writer_drop(w);
		return rc;
	}
	*out = w;
	return 0;
}

static int writer_ok(lv_writer *w, const char *step)
{
	sftp_inst *c = w->c;
	int rc = sftp_usable(c, step, w->tmp);
	if (rc)
		return rc;
	if (!w->fh || w->gen != c->gen)
		return sftp_err(c, LV_E_IO, "sftp %s: cannot %s %s: its handle was lost with an earlier connection", c->where,
		                step, w->tmp);
	return 0;
}

static int sftp_drv_write(lv_writer *w, const void *buf, size_t len)
{
	sftp_inst *c = w->c;
	int rc = writer_ok(w, "write");
	if (rc)
		return rc;
	sftp_op o;
	sftp_op_start(&o, c, "write", w->tmp);
	const char *p = buf;
	size_t total = len;
	while (len) {
		ssize_t n = libssh2_sftp_write(w->fh, p, len);
		if (n == LIBSSH2_ERROR_EAGAIN) {
			if (sftp_op_wait(&o))
				return o.err;
			continue;
		}
		if (n < 0)
			return explain_write_failure(c, sftp_op_fail(&o, (int)n), w->tmp, total);
		if (n == 0)
			continue;
		p += n;
		len -= (size_t)n;
		w->written += (uint64_t)n;
		sftp_op_progress(&o);
		c->host->progress(c->h, (uint64_t)n);
	}
	return 0;
}

/* fsync@openssh.com before the rename (a directory cannot be fsync'd over SFTP) */
static int commit_fsync(lv_writer *w)
{
	sftp_inst *c = w->c;
	if (c->no_fsync)
		return 0;
	sftp_op o;
	sftp_op_start(&o, c, "fsync", w->tmp);
	int r;
	while ((r = libssh2_sftp_fsync(w->fh)) == LIBSSH2_ERROR_EAGAIN)
		if (sftp_op_wait(&o))
			return o.err;
	if (r == LIBSSH2_ERROR_SFTP_PROTOCOL && libssh2_sftp_last_error(c->sftp) == LIBSSH2_FX_OP_UNSUPPORTED) {
		c->no_fsync = 1;
		c->host->log(c->h, LV_LOG_WARN,
		             "sftp %s: the server has no fsync@openssh.com: objects are renamed into place without being "
		             "flushed to its disk first",
		             c->where);
		return 0;
	}
	return r ? explain_write_failure(c, sftp_op_fail(&o, r), w->tmp, 0) : 0;
}

/*
 * The server must hold every byte sent before the object is published: a
 * server that acknowledges writes without storing them (or a filesystem that
 * loses them) is caught here, and the old objects stay.
 */
static int commit_check_size(lv_writer *w)
{
	sftp_inst *c = w->c;
	LIBSSH2_SFTP_ATTRIBUTES a;
	sftp_op o;
	sftp_op_start(&o, c, "check the size of", w->tmp);
	int r;
	while ((r = libssh2_sftp_fstat_ex(w->fh, &a, 0)) == LIBSSH2_ERROR_EAGAIN)
		if (sftp_op_wait(&o))
			return o.err;
	if (r)
		return sftp_op_fail(&o, r);
	if (!(a.flags & LIBSSH2_SFTP_ATTR_SIZE)) {
		sftp_debug(c, "the server gives no size for %s: its size is not checked before publishing", w->tmp);
		return 0;
	}
	if (a.filesize != w->written)
		return sftp_err(c, LV_E_IO,
		                "sftp %s: not publishing %s: the server holds %llu bytes of %s where %llu were sent and "
		                "acknowledged (a server or disk that loses writes)",
		                c->where, w->name, (unsigned long long)a.filesize, w->tmp, (unsigned long long)w->written);
	return 0;
}

/* The name exists (another run published it first)?  1, 0, or < 0; a probe, taken back. */
static int probe_exists(sftp_inst *c, const char *path)
{
	LIBSSH2_SFTP_ATTRIBUTES a;
	int saved = sftp_err_save(c);
	int e = c->broken ? 0 : r_exists(c, path, &a);
	sftp_err_restore(c, saved);
	return e;
}

/*
 * After a replace that stopped between its two renames (or whose answers
 * were lost with the connection): NAME holds the new object or nothing, and
 * the old one may be set aside.  Through a new connection if need be, put
 * the old one back when NAME is empty, or drop it when the new one made it.
 * What cannot be done now is left to cleanup (the next run that holds the
 * lock does the same).  Handled: taken back.
 */
static void settle_aside(sftp_inst *c, const char *path, const char *aside)
{
	int saved = sftp_err_save(c);
	int was_cleanup = c->cleanup_mode;
	LIBSSH2_SFTP_ATTRIBUTES a;
	int rc = sftp_cleanup_session(c), there = 0;
	if (!rc && (there = r_exists(c, path, &a)) == 0) {
		rc = r_rename(c, aside, path);
		if (!rc)
			c->host->log(c->h, LV_LOG_WARN, "sftp %s: the replace of %s failed part-way: the old object is back",
			             c->where, path);
	} else if (!rc && there == 1) {
		rc = r_unlink(c, aside);
		rc = rc == LV_E_NOT_FOUND ? 0 : rc; /* the first rename never happened */
	} else if (!rc)
		rc = there;
	if (rc && rc != LV_E_NOT_FOUND)
		c->host->log(c->h, LV_LOG_WARN,
		             "sftp %s: the replace of %s failed part-way and the server cannot be reached to settle it: the "
		             "old object waits as %s, and the next run's cleanup puts it back",
		             c->where, path, aside);
	if (!was_cleanup)
		sftp_cleanup_end(c);
	sftp_err_restore(c, saved);
}

/*
 * Replace, keeping the old object until the new one is in place (SFTP v3's
 * rename never replaces, libssh2 1.10 has no posix-rename@openssh.com):
 * NAME -> .NAME.old-RANDOM, temporary -> NAME, then the old one removed.
 * Between the two renames NAME is absent: an interruption there is settled
 * at once when the server can be reached (settle_aside), else by cleanup.
 */
static int publish_replace(lv_writer *w)
{
	sftp_inst *c = w->c;
	char hex[13], oldname[300];
	rand_hex(hex, 6);
	snprintf(oldname, sizeof oldname, ".%s.old-%s", w->name, hex);
	char *aside = join(c->dir, oldname);
	if (!aside)
		return LV_E_NOMEM;
	int rc = r_rename(c, w->path, aside);
	if (!rc)
		rc = r_rename(c, w->tmp, w->path);
	if (rc)
		settle_aside(c, w->path, aside);
	else {
		int saved = sftp_err_save(c);
		if (r_unlink(c, aside))
			c->host->log(c->h, LV_LOG_WARN, "sftp %s: could not remove the replaced %s; the next run's cleanup does",
			             c->where, aside);
		sftp_err_restore(c, saved);
	}
	free(aside);
	return rc;
}

static int sftp_drv_commit(lv_writer *w, unsigned flags)
{
	sftp_inst *c = w->c;
	int rc = writer_ok(w, "publish");
	/* 1. durable, 2. whole at the server, 3. closed: the server reports late write errors here */
	if (rc || (rc = commit_fsync(w)) || (rc = commit_check_size(w)))
		goto fail;
	LIBSSH2_SFTP_HANDLE *fh = w->fh;
	w->fh = NULL;
	if ((rc = r_close(c, fh, w->tmp))) {
		rc = explain_write_failure(c, rc, w->tmp, 0);
		goto fail;
	}
	/* 4. publish */
	LIBSSH2_SFTP_ATTRIBUTES a;
	int e = r_exists(c, w->path, &a);
	if (e < 0) {
		rc = e;
		goto fail;
	}
	if (e && !(flags & LV_COMMIT_REPLACE)) {
		rc = sftp_err(c, LV_E_EXISTS, "sftp %s: %s already exists", c->where, w->path);
		goto fail;
	}
	if (e)
		rc = publish_replace(w);
	else if ((rc = r_rename(c, w->tmp, w->path)) && probe_exists(c, w->path) == 1)
		/* SFTP v3: a rename onto an existing name fails (another run published first) */
		rc = sftp_err(c, LV_E_EXISTS, "sftp %s: %s already exists", c->where, w->path);
	if (rc)
		goto fail;
	writer_free(w);
	return 0;
fail:
	writer_drop(w);
	return rc;
}

static void sftp_drv_abort(lv_writer *w)
{
	if (w)
		writer_drop(w);
}

/* ---- reading ------------------------------------------------------------------ */

static void sftp_drv_read_close(lv_reader *r);
static void release_reader(void *r) { sftp_drv_read_close(r); }

static int sftp_drv_read_open(void *inst, const char *name, lv_reader **out)
{
	sftp_inst *c = inst;
	int rc = check_name(c, name);
	if (rc)
		return rc;
	lv_reader *r = calloc(1, sizeof *r);
	if (!r || !(r->path = join(c->dir, name))) {
		free(r);
		return LV_E_NOMEM;
	}
	r->c = c;
	if ((rc = sftp_usable(c, "open", r->path)) ||
	    (rc = r_open(c, r->path, LIBSSH2_FXF_READ, 0, LIBSSH2_SFTP_OPENFILE, &r->fh, "open"))) {
		reader_free(r);
		return rc;
	}
	r->gen = c->gen;
	if ((rc = c->host->track(c->h, r, release_reader))) {
		sftp_drv_read_close(r);
		return rc;
	}
	*out = r;
	return 0;
}

static int sftp_drv_read(lv_reader *r, void *buf, size_t cap, size_t *n)
{
	sftp_inst *c = r->c;
	*n = 0;
	int rc = sftp_usable(c, "read", r->path);
	if (rc)
		return rc;
	if (!r->fh || r->gen != c->gen)
		return sftp_err(c, LV_E_IO, "sftp %s: cannot read %s: its handle was lost with an earlier connection", c->where,
		                r->path);
	sftp_op o;
	sftp_op_start(&o, c, "read", r->path);
	size_t got = 0;
	char *p = buf;
	while (got < cap && !r->eof) {
		ssize_t k = libssh2_sftp_read(r->fh, p + got, cap - got);
		if (k == LIBSSH2_ERROR_EAGAIN) {
			if (sftp_op_wait(&o))
				return o.err;
			continue;
		}
		if (k < 0)
			return sftp_op_fail(&o, (int)k);
		if (k == 0)
			r->eof = 1;
		got += (size_t)k;
		if (k > 0) {
			sftp_op_progress(&o);
			c->host->progress(c->h, (uint64_t)k);
		}
	}
	*n = got;
	return 0;
}

/* Close the handle when its session lives (a failure is handled: taken back), then free. */
static void sftp_drv_read_close(lv_reader *r)
{
	if (!r)
		return;
	sftp_inst *c = r->c;
	if (r->fh && r->gen == c->gen && !c->broken) {
		int saved = sftp_err_save(c);
		int was = c->cleanup_mode;
		c->cleanup_mode = 1;
		c->cleanup_deadline = sftp_now_ms() + (int64_t)SFTP_CLEANUP_BUDGET * 1000;
		r_close(c, r->fh, r->path);
		if (!was)
			sftp_cleanup_end(c);
		sftp_err_restore(c, saved);
	}
	reader_free(r);
}

/* ---- listing and the rest ------------------------------------------------------ */

typedef int (*dir_cb)(sftp_inst *c, const char *name, const LIBSSH2_SFTP_ATTRIBUTES *a, void *ud);

static int walk_dir(sftp_inst *c, dir_cb cb, void *ud)
{
	LIBSSH2_SFTP_HANDLE *dh = NULL;
	int rc = r_open(c, c->dir, 0, 0, LIBSSH2_SFTP_OPENDIR, &dh, "list");
	if (rc)
		return rc;
	char name[1024];
	LIBSSH2_SFTP_ATTRIBUTES a;
	sftp_op o;
	sftp_op_start(&o, c, "list", c->dir);
	int stop = 0;
	for (;;) {
		int r = libssh2_sftp_readdir_ex(dh, name, sizeof name, NULL, 0, &a);
		if (r == LIBSSH2_ERROR_EAGAIN) {
			if (sftp_op_wait(&o)) {
				rc = o.err;
				break;
			}
			continue;
		}
		if (r < 0) {
			rc = sftp_op_fail(&o, r);
			break;
		}
		if (r == 0)
			break;
		sftp_op_progress(&o);
		name[r < (int)sizeof name ? r : (int)sizeof name - 1] = '\0';
		if ((stop = cb(c, name, &a, ud))) {
			rc = stop;
			break;
		}
	}
	if (!c->broken) {
		int saved = sftp_err_save(c);
		r_close(c, dh, c->dir); /* after the listing: its failure changes nothing */
		sftp_err_restore(c, saved);
	}
	return rc;
}

typedef struct list_ud {
	lv_list_cb cb;
	void *ud;
} list_ud;

static int list_one(sftp_inst *c, const char *name, const LIBSSH2_SFTP_ATTRIBUTES *a, void *p)
{
	(void)c;
	list_ud *l = p;
	if (name[0] == '.' || strlen(name) > 255)
		return 0; /* ours (temporaries), or not an object */
	if ((a->flags & LIBSSH2_SFTP_ATTR_PERMISSIONS) && !LIBSSH2_SFTP_S_ISREG(a->permissions))
		return 0;
	lv_object_info info = {name, (a->flags & LIBSSH2_SFTP_ATTR_SIZE) ? a->filesize : UINT64_MAX,
	                       (a->flags & LIBSSH2_SFTP_ATTR_ACMODTIME) ? (int64_t)a->mtime : 0};
	return l->cb(&info, l->ud);
}

static int sftp_drv_list(void *inst, lv_list_cb cb, void *ud)
{
	sftp_inst *c = inst;
	int rc = sftp_usable(c, "list", c->dir);
	if (rc)
		return rc;
	if (!c->dir_exists) {
		/* the directory may have been made since open */
		LIBSSH2_SFTP_ATTRIBUTES a;
		int e = r_exists(c, c->dir, &a);
		if (e < 0)
			return e;
		if (!e)
			return sftp_err(c, LV_E_NOT_FOUND, "sftp %s: the directory %s does not exist", c->where, c->dir);
		c->dir_exists = 1;
	}
	list_ud l = {cb, ud};
	return walk_dir(c, list_one, &l);
}

static int sftp_drv_remove(void *inst, const char *name)
{
	sftp_inst *c = inst;
	int rc = check_name(c, name);
	if (rc)
		return rc;
	char *path = join(c->dir, name);
	if (!path)
		return LV_E_NOMEM;
	if (c->broken || c->host->canceled(c->h)) {
		/*
		 * A removal after a cancel or a lost connection is a cleanup (the
		 * run's lock, an orphan pack): through a new connection if need
		 * be, within SFTP_CLEANUP_BUDGET seconds.
		 */
		int was = c->cleanup_mode;
		rc = sftp_cleanup_session(c);
		if (!rc)
			rc = r_unlink(c, path);
		if (!was)
			sftp_cleanup_end(c);
	} else if (!(rc = sftp_usable(c, "remove", path)))
		rc = r_unlink(c, path);
	free(path);
	return rc;
}

static int sftp_drv_stat(void *inst, const char *name, lv_object_info *info)
{
	sftp_inst *c = inst;
	int rc = check_name(c, name);
	if (rc)
		return rc;
	char *path = join(c->dir, name);
	if (!path)
		return LV_E_NOMEM;
	LIBSSH2_SFTP_ATTRIBUTES a;
	if (!(rc = sftp_usable(c, "stat", path)) && !(rc = r_stat(c, path, &a, "stat"))) {
		info->name = name;
		info->size = (a.flags & LIBSSH2_SFTP_ATTR_SIZE) ? a.filesize : UINT64_MAX;
		info->mtime = (a.flags & LIBSSH2_SFTP_ATTR_ACMODTIME) ? (int64_t)a.mtime : 0;
	}
	free(path);
	return rc;
}

static int sftp_drv_sync(void *inst)
{
	/*
	 * Every object was fsync'd (fsync@openssh.com) before its rename, and every
	 * rename was answered before commit returned.  A directory cannot be
	 * fsync'd over SFTP; one last round trip checks the server is still there.
	 */
	sftp_inst *c = inst;
	int rc = sftp_usable(c, "sync", c->dir);
	if (rc)
		return rc;
	LIBSSH2_SFTP_ATTRIBUTES a;
	return r_stat(c, c->dir, &a, "sync");
}

static int sftp_drv_space(void *inst, uint64_t *free_bytes, uint64_t *total_bytes)
{
	sftp_inst *c = inst;
	int rc = sftp_usable(c, "statvfs", c->dir);
	if (rc)
		return rc;
	LIBSSH2_SFTP_STATVFS v;
	if ((rc = r_statvfs(c, c->dir, &v)))
		return rc;
	if (free_bytes)
		*free_bytes = (uint64_t)v.f_bavail * v.f_frsize;
	if (total_bytes)
		*total_bytes = (uint64_t)v.f_blocks * v.f_frsize;
	return 0;
}

/*
 * Cleanup.  The driver's own names at the location: temporaries
 * ".NAME.tmp-RANDOM" (a write not committed), probes ".lvprobe-RANDOM" (a
 * write check at open) and set-aside objects ".NAME.old-RANDOM" (a replace
 * between its two renames).  Since ABI 1.1 the core calls cleanup only while
 * it holds the location's lock, so each of them is a dead run's.
 */
typedef struct leftover {
	char *name;
	int64_t mtime;
	int aside;               /* .NAME.old-RANDOM */
} leftover;

typedef struct cleanup_ud {
	leftover *v;
	size_t n;
	int all;                 /* the host calls under the lock (ABI 1.1): every temporary is dead */
	int nomem;
} cleanup_ud;

static int collect_ours(sftp_inst *c, const char *name, const LIBSSH2_SFTP_ATTRIBUTES *a, void *p)
{
	(void)c;
	cleanup_ud *u = p;
	int aside = name[0] == '.' && strstr(name + 1, ".old-") && name[1] != '.';
	int tmp = name[0] == '.' && (strstr(name + 1, ".tmp-") || !strncmp(name, ".lvprobe-", 9));
	if ((!aside && !tmp) || ((a->flags & LIBSSH2_SFTP_ATTR_PERMISSIONS) && !LIBSSH2_SFTP_S_ISREG(a->permissions)))
		return 0;
	int64_t mtime = (a->flags & LIBSSH2_SFTP_ATTR_ACMODTIME) ? (int64_t)a->mtime : 0;
	if (!aside && !u->all && (int64_t)time(NULL) - mtime <= 86400)
		return 0; /* an ABI 1.0 host: a temporary may be a live run's unless it is old */
	leftover *nv = realloc(u->v, (u->n + 1) * sizeof *nv);
	char *s = nv ? strdup(name) : NULL;
	if (nv)
		u->v = nv;
	if (!s) {
		u->nomem = 1;
		return 0;
	}
	u->v[u->n++] = (leftover){s, mtime, aside};
	return 0;
}

/* Temporaries first, then set-aside objects, newest first (the newest old version is the one put back). */
static int leftover_order(const void *x, const void *y)
{
	const leftover *a = x, *b = y;
	if (a->aside != b->aside)
		return a->aside - b->aside;
	return a->mtime < b->mtime ? 1 : a->mtime > b->mtime ? -1 : strcmp(a->name, b->name);
}

/* Put one leftover right: 1 when done, 0 when it could not be (logged; handled). */
static int put_right(sftp_inst *c, const leftover *l)
{
	char *path = join(c->dir, l->name), *orig = NULL, *opath = NULL;
	int rc = path ? 0 : LV_E_NOMEM, restored = 0;
	int saved = sftp_err_save(c);
	if (!rc && l->aside) {
		/* ".NAME.old-RANDOM": NAME is what was replaced */
		const char *cut = strstr(l->name + 1, ".old-");
		orig = strndup(l->name + 1, (size_t)(cut - l->name - 1));
		opath = orig ? join(c->dir, orig) : NULL;
		LIBSSH2_SFTP_ATTRIBUTES a;
		int e = opath ? r_exists(c, opath, &a) : LV_E_NOMEM;
		if (e == 0 && !(rc = r_rename(c, path, opath)))
			restored = 1;
		else if (e == 1)
			rc = r_unlink(c, path); /* the new object made it: the old one goes */
		else if (e < 0)
			rc = e;
	} else if (!rc)
		rc = r_unlink(c, path);
	if (rc == LV_E_NOT_FOUND)
		rc = 0; /* gone meanwhile */
	if (rc)
		c->host->log(c->h, LV_LOG_WARN, "sftp %s: cleanup could not %s %s (%s); the next run's cleanup tries again",
		             c->where, l->aside ? "put back or remove" : "remove", path ? path : l->name,
		             rc == LV_E_CANCELED ? "canceled" : rc == LV_E_NOMEM ? "out of memory" : "an I/O error");
	else
		sftp_debug(c, "cleanup: %s %s%s%s", restored ? "put back" : "removed", l->name,
		           restored ? " as " : "", restored ? orig : "");
	sftp_err_restore(c, saved);
	free(path);
	free(orig);
	free(opath);
	return rc == 0;
}

static int sftp_drv_cleanup(void *inst)
{
	sftp_inst *c = inst;
	int rc = sftp_usable(c, "clean up", c->dir);
	if (rc)
		return rc;
	if (!c->dir_exists)
		return 0;
	cleanup_ud u = {.all = c->host->abi_minor >= 1};
	if (!(rc = walk_dir(c, collect_ours, &u)) && u.nomem)
		rc = sftp_err(c, LV_E_NOMEM, "sftp %s: out of memory listing %s for cleanup", c->where, c->dir);
	if (!rc && u.n) /* nothing found: u.v is NULL, which qsort may not be given */
		qsort(u.v, u.n, sizeof *u.v, leftover_order);
	int done = 0;
	for (size_t i = 0; !rc && i < u.n; i++)
		done += put_right(c, &u.v[i]);
	for (size_t i = 0; i < u.n; i++)
		free(u.v[i].name);
	free(u.v);
	return rc ? rc : done;
}

/* ---- the descriptor ------------------------------------------------------------ */

static const lv_driver_ops sftp_ops = {
	.open = sftp_drv_open,
	.close = sftp_drv_close,
	.write_begin = sftp_drv_write_begin,
	.write = sftp_drv_write,
	.commit = sftp_drv_commit,
	.abort = sftp_drv_abort,
	.read_open = sftp_drv_read_open,
	.read = sftp_drv_read,
	.read_close = sftp_drv_read_close,
	.list = sftp_drv_list,
	.remove = sftp_drv_remove,
	.stat = sftp_drv_stat,
	.sync = sftp_drv_sync,
	.space = sftp_drv_space,
	.cleanup = sftp_drv_cleanup,
	.enumerate = NULL,
};

static const char *const sftp_schemes[] = {"sftp", NULL};

static const lv_driver_key sftp_key_decls[] = {
	{"user", LV_KEY_STRING, NULL, "user name when the URI names none (default: ssh_config's User, else the local user)",
	 0, 0, NULL, 0},
	{"known_hosts", LV_KEY_PATH, "~/.ssh/known_hosts", "OpenSSH known_hosts file the server's host key is checked against",
	 0, 0, NULL, 0},
	{"strict_host_key_checking", LV_KEY_ENUM, "yes",
	 "yes: refuse a host not in known_hosts; accept-new: add it on first use (a changed key is always refused)", 0, 0,
	 "yes|accept-new", 0},
	{"use_agent", LV_KEY_BOOL, "yes", "try the keys of ssh-agent (SSH_AUTH_SOCK) first", 0, 0, NULL, 0},
	{"identity_file", LV_KEY_LIST, NULL,
	 "private key file, may be given several times (default: ~/.ssh/id_ed25519, id_ecdsa, id_rsa)", 0, 0, NULL, 0},
	{"identity_passphrase_file", LV_KEY_PATH, NULL, "file whose first line is the passphrase of the identity files", 0, 0,
	 NULL, 0},
	{"password_file", LV_KEY_PATH, NULL, "file whose first line is the password, tried after the keys", 0, 0, NULL, 0},
	{"timeout", LV_KEY_INT, "30", "seconds to connect, and seconds an operation may go without progress", 1, 3600, NULL,
	 0},
	{"keepalive_interval", LV_KEY_INT, "30", "seconds between SSH keepalives while waiting (0 = off)", 0, 3600, NULL, 0},
	{"connect_retries", LV_KEY_INT, "2", "connection attempts after the first one fails (backoff 1, 2, 4... s)", 0, 20,
	 NULL, 0},
	{"ssh_config", LV_KEY_STRING, "yes",
	 "read OpenSSH's client configuration for the host with `ssh -G`: yes, no, or an absolute FILE (passed as -F)", 0, 0,
	 NULL, 0},
	{"ssh_command", LV_KEY_PATH, "ssh",
	 "the ssh program for ssh_config and ProxyJump (default: ssh from PATH; an absolute path when set-user-ID)", 0, 0,
	 NULL, 0},
	{NULL, 0, NULL, NULL, 0, 0, NULL, 0},
};

static const lv_driver sftp_driver = {
	LV_DRIVER_INIT_HEADER,
	.name = "sftp",
	.version = "1.0.0",
	.schemes = sftp_schemes,
	.ops = &sftp_ops,
	.keys = sftp_key_decls,
};

LV_DRIVER_ENTRY
{
	return &sftp_driver;
}
