/*
 * The FUSE operations (libfuse3's path API) over the model: every change is
 * live only until fsync / fsyncdir makes it durable (model.h).  Open files
 * and directories carry their inode number in fi->fh, so an fsync reaches
 * the inode that was opened whatever happened to its name since.
 */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/statvfs.h>

#include "server.h"

static pc_server *srv(void)
{
	return fuse_get_context()->private_data;
}

/* Return expr, evaluated under the server's lock; expr may use s (the server) and fs (its state). */
#define LOCKED(expr)                                    \
	do {                                                \
		pc_server *s = srv();                           \
		pthread_mutex_lock(&s->lock);                   \
		pc_fs *fs = s->fs;                              \
		int rc_ = (expr);                               \
		pthread_mutex_unlock(&s->lock);                 \
		(void)fs;                                       \
		return rc_;                                     \
	} while (0)

/* The inode of an open file (fi) or else of the path: 0 or -errno. */
static int inode_of(pc_fs *fs, const char *path, struct fuse_file_info *fi, pc_node **out)
{
	uint64_t ino = fi ? fi->fh : 0;
	int rc = fi ? 0 : pc_resolve(fs, path, &ino);
	if (rc)
		return rc;
	*out = pc_get(fs, ino);
	return *out ? 0 : -ESTALE;
}

static void *op_init(struct fuse_conn_info *conn, struct fuse_config *cfg)
{
	(void)conn;
	cfg->use_ino = 1;          /* st_ino is the model's */
	cfg->hard_remove = 1;      /* an unlinked open file is the model's business, no .fuse_hidden */
	cfg->nullpath_ok = 0;      /* paths for the log; NULL for an unlinked file (we use fi) */
	cfg->entry_timeout = 0;    /* every lookup asks the model */
	cfg->attr_timeout = 0;
	cfg->negative_timeout = 0;
	return fuse_get_context()->private_data;
}

static int do_getattr(pc_fs *fs, const char *path, struct stat *st, struct fuse_file_info *fi)
{
	pc_node *n;
	int rc = inode_of(fs, path, fi, &n);
	if (!rc)
		pc_stat(fs, n, st);
	return rc;
}

static int op_getattr(const char *path, struct stat *st, struct fuse_file_info *fi)
{
	LOCKED(do_getattr(fs, path, st, fi));
}

static int op_mkdir(const char *path, mode_t mode)
{
	uint64_t ino;
	LOCKED(pc_create(fs, path, 1, mode, &ino));
}

static int op_unlink(const char *path)
{
	LOCKED(pc_remove(fs, path, 0));
}

static int op_rmdir(const char *path)
{
	LOCKED(pc_remove(fs, path, 1));
}

static int op_rename(const char *from, const char *to, unsigned flags)
{
	LOCKED(pc_rename(fs, from, to, flags));
}

static int op_link(const char *from, const char *to)
{
	LOCKED(pc_link(fs, from, to));
}

static int do_chmod(pc_fs *fs, const char *path, mode_t mode, struct fuse_file_info *fi)
{
	pc_node *n;
	int rc = inode_of(fs, path, fi, &n);
	if (!rc) {
		n->live.perm = mode & 07777;
		clock_gettime(CLOCK_REALTIME, &n->ctime);
	}
	return rc;
}

static int op_chmod(const char *path, mode_t mode, struct fuse_file_info *fi)
{
	LOCKED(do_chmod(fs, path, mode, fi));
}

static int do_truncate(pc_fs *fs, const char *path, off_t size, struct fuse_file_info *fi)
{
	pc_node *n;
	int rc = inode_of(fs, path, fi, &n);
	return rc ? rc : pc_truncate(fs, n->ino, size);
}

static int op_truncate(const char *path, off_t size, struct fuse_file_info *fi)
{
	LOCKED(do_truncate(fs, path, size, fi));
}

static int do_utimens(pc_fs *fs, const char *path, const struct timespec tv[2], struct fuse_file_info *fi)
{
	pc_node *n;
	int rc = inode_of(fs, path, fi, &n);
	if (rc || tv[1].tv_nsec == UTIME_OMIT)
		return rc;
	if (tv[1].tv_nsec == UTIME_NOW)
		clock_gettime(CLOCK_REALTIME, &n->live.mtime);
	else
		n->live.mtime = tv[1];
	return 0;
}

static int op_utimens(const char *path, const struct timespec tv[2], struct fuse_file_info *fi)
{
	LOCKED(do_utimens(fs, path, tv, fi));
}

/*
 * Open handles are counted: the kernel releases a handle after close,
 * asynchronously, and a cut waits for the releases (libfuse frees its own
 * state of a handle only then).
 */
static int opened(pc_server *s, int rc)
{
	if (!rc)
		s->handles++;
	return rc;
}

static int op_release(const char *path, struct fuse_file_info *fi)
{
	(void)path;
	(void)fi;
	pc_server *s = srv();
	pthread_mutex_lock(&s->lock);
	if (s->handles)
		s->handles--;
	pthread_cond_broadcast(&s->cond);
	pthread_mutex_unlock(&s->lock);
	return 0;
}

static int do_create(pc_fs *fs, const char *path, mode_t mode, struct fuse_file_info *fi)
{
	uint64_t ino;
	int rc = pc_create(fs, path, 0, mode, &ino);
	if (!rc)
		fi->fh = ino;
	return rc;
}

static int op_create(const char *path, mode_t mode, struct fuse_file_info *fi)
{
	LOCKED(opened(s, do_create(fs, path, mode, fi)));
}

static int do_open(pc_fs *fs, const char *path, struct fuse_file_info *fi, int dir)
{
	uint64_t ino;
	int rc = pc_resolve(fs, path, &ino);
	if (rc)
		return rc;
	if (pc_get(fs, ino)->dir != dir)
		return dir ? -ENOTDIR : -EISDIR;
	/* libfuse asks the kernel for atomic O_TRUNC: the truncation comes with the open */
	if (!dir && (fi->flags & O_TRUNC) && (fi->flags & O_ACCMODE) != O_RDONLY && (rc = pc_truncate(fs, ino, 0)))
		return rc;
	fi->fh = ino;
	return 0;
}

static int op_open(const char *path, struct fuse_file_info *fi)
{
	LOCKED(opened(s, do_open(fs, path, fi, 0)));
}

static int op_opendir(const char *path, struct fuse_file_info *fi)
{
	LOCKED(opened(s, do_open(fs, path, fi, 1)));
}

static int op_read(const char *path, char *buf, size_t size, off_t off, struct fuse_file_info *fi)
{
	(void)path;
	LOCKED((int)pc_read(fs, fi->fh, buf, size, off));
}

static int do_write(pc_fs *fs, const char *buf, size_t size, off_t off, struct fuse_file_info *fi)
{
	if (size > INT32_MAX)
		size = INT32_MAX;
	int rc = pc_write(fs, fi->fh, buf, size, off);
	return rc ? rc : (int)size;
}

static int op_write(const char *path, const char *buf, size_t size, off_t off, struct fuse_file_info *fi)
{
	(void)path;
	LOCKED(do_write(fs, buf, size, off, fi));
}

static int op_fsync(const char *path, int datasync, struct fuse_file_info *fi)
{
	(void)datasync; /* fdatasync makes the data durable too, and data is all a file has here */
	LOCKED(pc_sync(fs, fi->fh, path));
}

static int op_fsyncdir(const char *path, int datasync, struct fuse_file_info *fi)
{
	(void)datasync;
	LOCKED(pc_sync(fs, fi->fh, path));
}

static int do_readdir(pc_fs *fs, void *buf, fuse_fill_dir_t filler, struct fuse_file_info *fi)
{
	pc_node *n = pc_get(fs, fi->fh);
	if (!n || !n->dir)
		return -ENOTDIR;
	filler(buf, ".", NULL, 0, 0);
	filler(buf, "..", NULL, 0, 0);
	for (size_t i = 0; i < n->live.ents.n; i++)
		if (filler(buf, n->live.ents.v[i].name, NULL, 0, 0))
			return -ENOMEM;
	return 0;
}

static int op_readdir(const char *path, void *buf, fuse_fill_dir_t filler, off_t off, struct fuse_file_info *fi,
                      enum fuse_readdir_flags flags)
{
	(void)path;
	(void)off;
	(void)flags;
	LOCKED(do_readdir(fs, buf, filler, fi));
}

static int op_statfs(const char *path, struct statvfs *sv)
{
	(void)path;
	memset(sv, 0, sizeof *sv);
	sv->f_bsize = sv->f_frsize = 4096;
	sv->f_blocks = sv->f_bfree = sv->f_bavail = 1u << 20; /* 4 GiB: memory permitting */
	sv->f_files = sv->f_ffree = sv->f_favail = 1u << 20;
	sv->f_namemax = 255;
	return 0;
}

const struct fuse_operations pc_ops = {
	.init = op_init,
	.getattr = op_getattr,
	.mkdir = op_mkdir,
	.unlink = op_unlink,
	.rmdir = op_rmdir,
	.rename = op_rename,
	.link = op_link,
	.chmod = op_chmod,
	.truncate = op_truncate,
	.utimens = op_utimens,
	.create = op_create,
	.open = op_open,
	.read = op_read,
	.write = op_write,
	.fsync = op_fsync,
	.release = op_release,
	.opendir = op_opendir,
	.readdir = op_readdir,
	.releasedir = op_release,
	.fsyncdir = op_fsyncdir,
	.statfs = op_statfs,
};
