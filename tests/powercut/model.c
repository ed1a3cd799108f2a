/*
 * The power-cut file system's model: see model.h.
 */
#include "model.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#ifndef RENAME_NOREPLACE
#define RENAME_NOREPLACE (1 << 0)
#endif

#define PC_FILE_MAX (1ull << 30)  /* the largest file this test file system holds */
#define PC_NAME_MAX 255

/* ---- bytes and entries ------------------------------------------------- */

static int bytes_reserve(pc_bytes *b, size_t len)
{
	if (len <= b->cap)
		return 0;
	size_t cap = b->cap ? b->cap : 4096;
	while (cap < len)
		cap *= 2;
	unsigned char *p = realloc(b->p, cap);
	if (!p)
		return -ENOMEM;
	b->p = p;
	b->cap = cap;
	return 0;
}

static int bytes_copy(pc_bytes *dst, const pc_bytes *src)
{
	int rc = bytes_reserve(dst, src->len);
	if (rc)
		return rc;
	if (src->len)
		memcpy(dst->p, src->p, src->len);
	dst->len = src->len;
	return 0;
}

static int bytes_equal(const pc_bytes *a, const pc_bytes *b)
{
	return a->len == b->len && (!a->len || !memcmp(a->p, b->p, a->len));
}

static void ents_clear(pc_ents *e)
{
	for (size_t i = 0; i < e->n; i++)
		free(e->v[i].name);
	e->n = 0;
}

static void ents_free(pc_ents *e)
{
	ents_clear(e);
	free(e->v);
	e->v = NULL;
	e->cap = 0;
}

static long ents_find(const pc_ents *e, const char *name)
{
	for (size_t i = 0; i < e->n; i++)
		if (!strcmp(e->v[i].name, name))
			return (long)i;
	return -1;
}

static int ents_add(pc_ents *e, const char *name, uint64_t ino)
{
	if (e->n == e->cap) {
		size_t cap = e->cap ? e->cap * 2 : 8;
		pc_ent *v = realloc(e->v, cap * sizeof *v);
		if (!v)
			return -ENOMEM;
		e->v = v;
		e->cap = cap;
	}
	char *n = strdup(name);
	if (!n)
		return -ENOMEM;
	e->v[e->n].name = n;
	e->v[e->n].ino = ino;
	e->n++;
	return 0;
}

static void ents_del(pc_ents *e, size_t i)
{
	free(e->v[i].name);
	e->v[i] = e->v[--e->n];
}

static int ents_copy(pc_ents *dst, const pc_ents *src)
{
	ents_clear(dst);
	for (size_t i = 0; i < src->n; i++)
		if (ents_add(dst, src->v[i].name, src->v[i].ino))
			return -ENOMEM;
	return 0;
}

static void state_free(pc_state *s)
{
	free(s->data.p);
	ents_free(&s->ents);
	memset(s, 0, sizeof *s);
}

static int state_copy(pc_state *dst, const pc_state *src)
{
	dst->perm = src->perm;
	dst->mtime = src->mtime;
	int rc = bytes_copy(&dst->data, &src->data);
	return rc ? rc : ents_copy(&dst->ents, &src->ents);
}

static struct timespec now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return ts;
}

/* ---- the inode table --------------------------------------------------- */

static void node_free(pc_node *n)
{
	if (!n)
		return;
	state_free(&n->live);
	state_free(&n->dur);
	free(n);
}

static pc_node *node_put(pc_fs *fs, uint64_t ino, int dir)
{
	if (ino >= fs->cap) {
		size_t cap = fs->cap ? fs->cap : 64;
		while (cap <= ino)
			cap *= 2;
		pc_node **v = realloc(fs->node, cap * sizeof *v);
		if (!v)
			return NULL;
		memset(v + fs->cap, 0, (cap - fs->cap) * sizeof *v);
		fs->node = v;
		fs->cap = cap;
	}
	pc_node *n = calloc(1, sizeof *n);
	if (!n)
		return NULL;
	n->ino = ino;
	n->dir = dir;
	fs->node[ino] = n;
	return n;
}

pc_node *pc_get(const pc_fs *fs, uint64_t ino)
{
	return ino < fs->cap ? fs->node[ino] : NULL;
}

static pc_fs *fs_alloc(void)
{
	pc_fs *fs = calloc(1, sizeof *fs);
	if (!fs)
		return NULL;
	fs->freeze_after = -1;
	fs->next_ino = 2;
	return fs;
}

pc_fs *pc_fs_new(void)
{
	pc_fs *fs = fs_alloc();
	pc_node *root = fs ? node_put(fs, 1, 1) : NULL;
	if (!root) {
		pc_fs_free(fs);
		return NULL;
	}
	root->live.perm = root->dur.perm = 0755;
	root->live.mtime = root->dur.mtime = root->ctime = now();
	return fs;
}

void pc_fs_free(pc_fs *fs)
{
	if (!fs)
		return;
	for (size_t i = 0; i < fs->cap; i++)
		node_free(fs->node[i]);
	free(fs->node);
	free(fs->log);
	free(fs);
}

/* ---- the durable copy (a power cut) ------------------------------------ */

/* Copy the durable subtree under `ino` of src into dst (nodes not copied yet). */
static int copy_durable(const pc_fs *src, pc_fs *dst, uint64_t ino)
{
	const pc_node *s = pc_get(src, ino);
	pc_node *d = node_put(dst, ino, s->dir);
	if (!d)
		return -ENOMEM;
	d->ctime = s->ctime;
	d->nlink = s->dir ? 0 : 1;
	d->dur.perm = s->dur.perm;
	d->dur.mtime = s->dur.mtime;
	if (bytes_copy(&d->dur.data, &s->dur.data))
		return -ENOMEM;
	for (size_t i = 0; i < s->dur.ents.n; i++) {
		const pc_ent *e = &s->dur.ents.v[i];
		const pc_node *c = pc_get(src, e->ino);
		pc_node *have = pc_get(dst, e->ino);
		/* a directory reached twice (a cycle of partly durable renames) keeps its first name */
		if (!c || (have && have->dir))
			continue;
		if (ents_add(&d->dur.ents, e->name, e->ino))
			return -ENOMEM;
		if (have)
			have->nlink++; /* a second name of a file */
		else if (copy_durable(src, dst, e->ino))
			return -ENOMEM;
	}
	return state_copy(&d->live, &d->dur);
}

pc_fs *pc_fs_durable(const pc_fs *fs)
{
	pc_fs *d = fs_alloc();
	if (!d)
		return NULL;
	d->next_ino = fs->next_ino;
	if (copy_durable(fs, d, 1)) {
		pc_fs_free(d);
		return NULL;
	}
	return d;
}

void pc_arm(pc_fs *fs, int64_t after, int meta)
{
	fs->points = 0;
	fs->freeze_after = after;
	fs->meta = meta && after >= 0;
	fs->meta_done = 0;
	fs->log_len = 0;
	if (fs->log)
		fs->log[0] = '\0';
}

/* Every directory's live entries become durable (a journal commit); data stays as it is. */
static void commit_namespace(pc_fs *fs)
{
	for (size_t i = 0; i < fs->cap; i++)
		if (fs->node[i] && fs->node[i]->dir)
			ents_copy(&fs->node[i]->dur.ents, &fs->node[i]->live.ents);
	fs->meta_done = 1;
}

void pc_cut_prepare(pc_fs *fs)
{
	if (fs->meta && !fs->meta_done)
		commit_namespace(fs);
}

void pc_checkpoint(pc_fs *fs)
{
	for (size_t i = 0; i < fs->cap; i++)
		if (fs->node[i])
			state_copy(&fs->node[i]->dur, &fs->node[i]->live);
}

/* ---- what a cut would lose ---------------------------------------------- */

typedef struct walk {
	const pc_fs *fs;
	FILE *out;
	size_t lines;
	unsigned char *seen;      /* by inode number */
} walk;

static void lose(walk *w, const char *what, const char *dir, const char *name)
{
	fprintf(w->out, "lost %s %s%s%s\n", what, dir, dir[strlen(dir) - 1] == '/' ? "" : "/", name);
	w->lines++;
}

static void losses_in(walk *w, uint64_t ino, const char *path)
{
	const pc_node *n = pc_get(w->fs, ino);
	w->seen[ino] = 1;
	if (!n->dir) {
		if (!bytes_equal(&n->live.data, &n->dur.data)) {
			fprintf(w->out, "lost data %s\n", path);
			w->lines++;
		}
		return;
	}
	for (size_t i = 0; i < n->live.ents.n; i++) {
		long j = ents_find(&n->dur.ents, n->live.ents.v[i].name);
		if (j < 0)
			lose(w, "create", path, n->live.ents.v[i].name);
	}
	for (size_t i = 0; i < n->dur.ents.n; i++) {
		const pc_ent *e = &n->dur.ents.v[i];
		long j = ents_find(&n->live.ents, e->name);
		if (j < 0)
			lose(w, "remove", path, e->name);
		else if (n->live.ents.v[j].ino != e->ino)
			lose(w, "replace", path, e->name);
	}
	for (size_t i = 0; i < n->dur.ents.n; i++) {
		const pc_ent *e = &n->dur.ents.v[i];
		if (!pc_get(w->fs, e->ino) || w->seen[e->ino])
			continue;
		size_t pl = strlen(path);
		char *child = malloc(pl + strlen(e->name) + 2);
		if (!child)
			continue;
		sprintf(child, "%s%s%s", path, path[pl - 1] == '/' ? "" : "/", e->name);
		losses_in(w, e->ino, child);
		free(child);
	}
}

size_t pc_fs_losses(const pc_fs *fs, char **out)
{
	size_t len = 0;
	walk w = {fs, open_memstream(out, &len), 0, calloc(fs->cap, 1)};
	if (!w.out || !w.seen) {
		if (w.out)
			fclose(w.out);
		free(w.seen);
		free(*out);
		*out = NULL;
		return 0;
	}
	losses_in(&w, 1, "/");
	fclose(w.out);
	free(w.seen);
	return w.lines;
}

/* ---- paths -------------------------------------------------------------- */

int pc_resolve(const pc_fs *fs, const char *path, uint64_t *ino)
{
	if (!path || path[0] != '/')
		return -EINVAL;
	uint64_t cur = 1;
	const char *p = path;
	while (*p) {
		while (*p == '/')
			p++;
		if (!*p)
			break;
		size_t l = strcspn(p, "/");
		if (l > PC_NAME_MAX)
			return -ENAMETOOLONG;
		char name[PC_NAME_MAX + 1];
		memcpy(name, p, l);
		name[l] = '\0';
		const pc_node *n = pc_get(fs, cur);
		if (!n->dir)
			return -ENOTDIR;
		long i = ents_find(&n->live.ents, name);
		if (i < 0)
			return -ENOENT;
		cur = n->live.ents.v[i].ino;
		p += l;
	}
	*ino = cur;
	return 0;
}

/* The parent directory of `path` (live) and the last name in it. */
static int parent_of(const pc_fs *fs, const char *path, pc_node **parent, const char **name)
{
	const char *slash = path ? strrchr(path, '/') : NULL;
	if (!slash || !slash[1])
		return -EINVAL;
	if (strlen(slash + 1) > PC_NAME_MAX)
		return -ENAMETOOLONG;
	size_t pl = slash == path ? 1 : (size_t)(slash - path);
	char *pp = strndup(path, pl);
	if (!pp)
		return -ENOMEM;
	uint64_t pino;
	int rc = pc_resolve(fs, pp, &pino);
	free(pp);
	if (rc)
		return rc;
	*parent = pc_get(fs, pino);
	if (!(*parent)->dir)
		return -ENOTDIR;
	*name = slash + 1;
	return 0;
}

/* ---- the namespace ------------------------------------------------------ */

int pc_create(pc_fs *fs, const char *path, int dir, mode_t perm, uint64_t *ino)
{
	pc_node *p;
	const char *name;
	int rc = parent_of(fs, path, &p, &name);
	if (rc)
		return rc;
	if (ents_find(&p->live.ents, name) >= 0)
		return -EEXIST;
	pc_node *n = node_put(fs, fs->next_ino, dir);
	if (!n)
		return -ENOMEM;
	fs->next_ino++;
	n->nlink = dir ? 0 : 1;
	n->live.perm = n->dur.perm = perm & 07777;
	n->live.mtime = n->dur.mtime = n->ctime = now();
	if (ents_add(&p->live.ents, name, n->ino))
		return -ENOMEM;
	p->live.mtime = n->ctime;
	*ino = n->ino;
	return 0;
}

int pc_remove(pc_fs *fs, const char *path, int dir)
{
	pc_node *p;
	const char *name;
	int rc = parent_of(fs, path, &p, &name);
	if (rc)
		return rc == -EINVAL ? -EBUSY : rc;
	long i = ents_find(&p->live.ents, name);
	if (i < 0)
		return -ENOENT;
	pc_node *n = pc_get(fs, p->live.ents.v[i].ino);
	if (dir && !n->dir)
		return -ENOTDIR;
	if (!dir && n->dir)
		return -EISDIR;
	if (dir && n->live.ents.n)
		return -ENOTEMPTY;
	ents_del(&p->live.ents, (size_t)i);
	if (!dir)
		n->nlink--;
	p->live.mtime = n->ctime = now();
	return 0;
}

int pc_rename(pc_fs *fs, const char *from, const char *to, unsigned flags)
{
	if (flags & ~(unsigned)RENAME_NOREPLACE)
		return -EINVAL; /* RENAME_EXCHANGE, RENAME_WHITEOUT: not modelled */
	pc_node *sp, *tp;
	const char *sname, *tname;
	int rc = parent_of(fs, from, &sp, &sname);
	if (!rc)
		rc = parent_of(fs, to, &tp, &tname);
	if (rc)
		return rc;
	long si = ents_find(&sp->live.ents, sname);
	if (si < 0)
		return -ENOENT;
	uint64_t ino = sp->live.ents.v[si].ino;
	pc_node *n = pc_get(fs, ino);
	size_t fl = strlen(from);
	if (n->dir && !strncmp(to, from, fl) && to[fl] == '/')
		return -EINVAL; /* into itself */
	long ti = ents_find(&tp->live.ents, tname);
	if (ti >= 0) {
		pc_node *t = pc_get(fs, tp->live.ents.v[ti].ino);
		if (flags & RENAME_NOREPLACE)
			return -EEXIST;
		if (t == n)
			return 0;
		if (n->dir && !t->dir)
			return -ENOTDIR;
		if (!n->dir && t->dir)
			return -EISDIR;
		if (t->dir && t->live.ents.n)
			return -ENOTEMPTY;
		if (!t->dir)
			t->nlink--;
		t->ctime = now();
		ents_del(&tp->live.ents, (size_t)ti);
	}
	/* by name again: the removal above may have moved the source's slot */
	ents_del(&sp->live.ents, (size_t)ents_find(&sp->live.ents, sname));
	if (ents_add(&tp->live.ents, tname, ino))
		return -ENOMEM;
	sp->live.mtime = tp->live.mtime = n->ctime = now();
	return 0;
}

int pc_link(pc_fs *fs, const char *from, const char *to)
{
	uint64_t ino;
	int rc = pc_resolve(fs, from, &ino);
	if (rc)
		return rc;
	pc_node *n = pc_get(fs, ino), *tp;
	if (n->dir)
		return -EPERM;
	const char *tname;
	if ((rc = parent_of(fs, to, &tp, &tname)))
		return rc;
	if (ents_find(&tp->live.ents, tname) >= 0)
		return -EEXIST;
	if (ents_add(&tp->live.ents, tname, ino))
		return -ENOMEM;
	n->nlink++;
	tp->live.mtime = n->ctime = now();
	return 0;
}

/* ---- data --------------------------------------------------------------- */

int pc_truncate(pc_fs *fs, uint64_t ino, off_t size)
{
	pc_node *n = pc_get(fs, ino);
	if (!n)
		return -ENOENT;
	if (n->dir)
		return -EISDIR;
	if (size < 0)
		return -EINVAL;
	if ((uint64_t)size > PC_FILE_MAX)
		return -EFBIG;
	if (bytes_reserve(&n->live.data, (size_t)size))
		return -ENOSPC;
	if ((size_t)size > n->live.data.len)
		memset(n->live.data.p + n->live.data.len, 0, (size_t)size - n->live.data.len);
	n->live.data.len = (size_t)size;
	n->live.mtime = n->ctime = now();
	return 0;
}

int pc_write(pc_fs *fs, uint64_t ino, const void *buf, size_t len, off_t off)
{
	pc_node *n = pc_get(fs, ino);
	if (!n)
		return -ENOENT;
	if (n->dir)
		return -EISDIR;
	if (off < 0)
		return -EINVAL;
	if ((uint64_t)off + len > PC_FILE_MAX)
		return -EFBIG;
	size_t end = (size_t)off + len;
	if (bytes_reserve(&n->live.data, end))
		return -ENOSPC;
	if ((size_t)off > n->live.data.len)
		memset(n->live.data.p + n->live.data.len, 0, (size_t)off - n->live.data.len);
	memcpy(n->live.data.p + off, buf, len);
	if (end > n->live.data.len)
		n->live.data.len = end;
	n->live.mtime = now();
	return 0;
}

size_t pc_read(const pc_fs *fs, uint64_t ino, void *buf, size_t len, off_t off)
{
	const pc_node *n = pc_get(fs, ino);
	if (!n || n->dir || off < 0 || (size_t)off >= n->live.data.len)
		return 0;
	size_t k = n->live.data.len - (size_t)off;
	if (k > len)
		k = len;
	memcpy(buf, n->live.data.p + off, k);
	return k;
}

/* ---- durability points -------------------------------------------------- */

static void log_point(pc_fs *fs, const pc_node *n, const char *path, int frozen)
{
	char line[600];
	int k = snprintf(line, sizeof line, "%s %s%s\n", n->dir ? "dir" : "file", path ? path : "(unlinked)",
	                 frozen ? " (frozen: not made durable)" : "");
	if (k < 0)
		return;
	size_t l = (size_t)k < sizeof line ? (size_t)k : sizeof line - 1;
	if (fs->log_len + l + 1 > fs->log_cap) {
		size_t cap = fs->log_cap ? fs->log_cap * 2 : 4096;
		while (cap < fs->log_len + l + 1)
			cap *= 2;
		char *p = realloc(fs->log, cap);
		if (!p)
			return;
		fs->log = p;
		fs->log_cap = cap;
	}
	memcpy(fs->log + fs->log_len, line, l);
	fs->log_len += l;
	fs->log[fs->log_len] = '\0';
}

int pc_sync(pc_fs *fs, uint64_t ino, const char *path)
{
	pc_node *n = pc_get(fs, ino);
	if (!n)
		return -ENOENT;
	fs->points++;
	int frozen = fs->freeze_after >= 0 && fs->points > (uint64_t)fs->freeze_after;
	if (frozen && fs->meta && !fs->meta_done)
		commit_namespace(fs); /* the namespace as it was just before this point */
	log_point(fs, n, path, frozen);
	if (frozen)
		return 0; /* the application is told it is durable: the cut will say otherwise */
	n->dur.perm = n->live.perm;
	n->dur.mtime = n->live.mtime;
	int rc = n->dir ? ents_copy(&n->dur.ents, &n->live.ents) : bytes_copy(&n->dur.data, &n->live.data);
	return rc ? -EIO : 0;
}

void pc_stat(const pc_fs *fs, const pc_node *n, struct stat *st)
{
	memset(st, 0, sizeof *st);
	st->st_ino = n->ino;
	st->st_mode = (n->dir ? S_IFDIR : S_IFREG) | n->live.perm;
	if (n->dir) {
		st->st_nlink = 2;
		for (size_t i = 0; i < n->live.ents.n; i++) {
			const pc_node *c = pc_get(fs, n->live.ents.v[i].ino);
			st->st_nlink += c && c->dir;
		}
	} else
		st->st_nlink = n->nlink;
	st->st_uid = getuid();
	st->st_gid = getgid();
	st->st_size = (off_t)n->live.data.len;
	st->st_blksize = 4096;
	st->st_blocks = (blkcnt_t)((n->live.data.len + 511) / 512);
	st->st_mtim = st->st_atim = n->live.mtime;
	st->st_ctim = n->ctime;
}
