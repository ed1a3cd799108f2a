/*
 * The power-cut file system's model (README.md): an in-memory tree of
 * inodes, each with a live state (what the kernel is served) and a durable
 * state (what survives a power cut).
 *
 *  - a file's data (and size, mode, mtime) become durable when it is
 *    fsync'd or fdatasync'd (a durability point);
 *  - a directory's entries (names created, renamed in or out, removed)
 *    become durable when the directory is fsync'd (a durability point);
 *  - nothing else is a durability point: close, rename, syncfs (the kernel
 *    sends FUSE none) make nothing durable.
 *
 * The durable state is the tree reachable from the root through durable
 * entries, each file with its durable data.  The points are counted from the
 * last pc_arm(); after point `freeze_after` they are counted but change
 * nothing, so a power cut then loses all that came after that point.
 *
 * Two kinds of power cut bracket what a real file system may keep of what
 * was not made durable:
 *  - strict: it keeps none of it;
 *  - meta: it had written back every namespace change (as a journal commit
 *    would) but no data that was not fsync'd (ext4 data=writeback, XFS): at
 *    the first frozen point, or at the cut when none came, every directory's
 *    live entries become durable, and data stays as it was.
 *
 * Not thread-safe: the caller holds one lock around every call.
 */
#ifndef PC_MODEL_H
#define PC_MODEL_H

#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <time.h>

typedef struct pc_bytes {
	unsigned char *p;
	size_t len, cap;
} pc_bytes;

typedef struct pc_ent {
	char *name;
	uint64_t ino;
} pc_ent;

typedef struct pc_ents {
	pc_ent *v;
	size_t n, cap;
} pc_ents;

/* One state of an inode: what the kernel sees (live) or what survives (durable). */
typedef struct pc_state {
	mode_t perm;
	struct timespec mtime;
	pc_bytes data;            /* a file's contents */
	pc_ents ents;             /* a directory's entries */
} pc_state;

typedef struct pc_node {
	uint64_t ino;
	int dir;
	uint32_t nlink;           /* live names of a file */
	struct timespec ctime;
	pc_state live, dur;
} pc_node;

typedef struct pc_fs {
	pc_node **node;           /* by inode number; 1 is the root */
	size_t cap;
	uint64_t next_ino;
	uint64_t points;          /* durability points since pc_arm */
	int64_t freeze_after;     /* -1: never frozen */
	int meta;                 /* a meta power cut (see above) */
	int meta_done;            /* its namespace was made durable */
	/* the log of the points since pc_arm: "file PATH" / "dir PATH", one a line */
	char *log;
	size_t log_len, log_cap;
} pc_fs;

/* A new file system with an empty root directory (durable), or NULL. */
pc_fs *pc_fs_new(void);
void pc_fs_free(pc_fs *fs);
/*
 * A new file system holding only `fs`'s durable state, live = durable (a
 * power cut, a saved state, a state loaded back).  Inode numbers are kept.
 * NULL when out of memory.
 */
pc_fs *pc_fs_durable(const pc_fs *fs);

/*
 * Reset the point count and freeze after point `after` (-1: never), for a
 * strict or a meta power cut; the log is emptied.
 */
void pc_arm(pc_fs *fs, int64_t after, int meta);
/* Before a power cut: a meta cut makes the namespace durable now, if no frozen point did. */
void pc_cut_prepare(pc_fs *fs);
/* Make everything durable now (as a clean shutdown would); not a point. */
void pc_checkpoint(pc_fs *fs);
/*
 * What a power cut now would lose, one line each, into *out (malloc'd, NUL
 * terminated; *out NULL when out of memory); returns the number of lines:
 *   "lost create DIR/NAME"   an entry not durable in its directory
 *   "lost remove DIR/NAME"   a removal not durable (the name comes back)
 *   "lost data PATH"         a file whose durable data is not what was last
 *                            written (PATH is its name after the cut: torn)
 * DIR and PATH are durable paths ("/" the root).
 */
size_t pc_fs_losses(const pc_fs *fs, char **out);

pc_node *pc_get(const pc_fs *fs, uint64_t ino);
/* The inode at an absolute path (live), 0 or -errno. */
int pc_resolve(const pc_fs *fs, const char *path, uint64_t *ino);

/* The namespace (live, volatile); 0 or -errno as the syscalls define them. */
int pc_create(pc_fs *fs, const char *path, int dir, mode_t perm, uint64_t *ino);
int pc_remove(pc_fs *fs, const char *path, int dir);
int pc_rename(pc_fs *fs, const char *from, const char *to, unsigned flags);
int pc_link(pc_fs *fs, const char *from, const char *to);

/* Data (live, volatile). */
int pc_truncate(pc_fs *fs, uint64_t ino, off_t size);
int pc_write(pc_fs *fs, uint64_t ino, const void *buf, size_t len, off_t off);
/* Copy up to len bytes at off into buf: the count. */
size_t pc_read(const pc_fs *fs, uint64_t ino, void *buf, size_t len, off_t off);

/* Durability points: fsync of a file, fsync of a directory; `path` for the log. */
int pc_sync(pc_fs *fs, uint64_t ino, const char *path);

/* stat(2) fields of an inode (live). */
void pc_stat(const pc_fs *fs, const pc_node *n, struct stat *st);

#endif
