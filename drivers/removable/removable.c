/*
 * The removable driver: a backup location on a mounted USB stick or SD card,
 * found by its filesystem label or UUID wherever it is mounted.
 *   removable://LABEL/sub/dir    removable://UUID/sub/dir
 *
 * Safety: the directory is reached from an fd on the volume's mount point
 * whose st_dev is checked, so a later unmount can never send a write to the
 * directory underneath; before each write, commit and remove the mount must
 * still be in the mount table (else the run fails); sync fsyncs the
 * directory and syncfs()s the volume before saying it is safe to remove.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "licvault/driver.h"
#include "localfs.h"
#include "volumes.h"

#define FAT_MAX_FILE 0xFFFFFFFFull /* FAT: 4 GiB - 1 */

typedef struct rm_inst {
	const lv_host *host;
	lv_host_ctx *h;
	lfs *fs;
	char *name;          /* the label or UUID, for messages */
	char *dir;           /* mount point + sub/dir */
	char *mnt;
	char *mnt_esc;
	int mount_id;
	unsigned maj, min;   /* st_dev of the volume's files */
	int gone;            /* the volume was found unmounted: refuse everything that writes */
} rm_inst;

/* ---- URI ---------------------------------------------------------------- */

#define RM_FORM "use removable://LABEL/sub/dir or removable://UUID/sub/dir"

typedef struct rm_uri {
	lv_uri *u;           /* from host->uri_parse: u->host is the label or UUID, decoded */
	char *path;          /* a copy of u->path, cut into the segments below */
	const char **seg;    /* sub/dir segments, decoded */
	size_t nseg;
} rm_uri;

static void uri_free(const lv_host *host, rm_uri *r)
{
	host->uri_free(r->u);
	free(r->path);
	free(r->seg);
	memset(r, 0, sizeof *r);
}

/* Cut r->path into its segments ("//" and a trailing '/' make none); each a plain name. */
static int split_path(const lv_host *host, lv_host_ctx *h, const char *uri, rm_uri *r)
{
	if (!(r->path = strdup(r->u->path)) || !(r->seg = calloc(strlen(r->path) / 2 + 1, sizeof *r->seg)))
		return host->set_error(h, LV_E_NOMEM, "out of memory opening %s", uri);
	char *save = NULL;
	for (char *s = strtok_r(r->path, "/", &save); s; s = strtok_r(NULL, "/", &save)) {
		if (!strcmp(s, ".") || !strcmp(s, "..") || strlen(s) > 255)
			return host->set_error(h, LV_E_BAD_URI,
			                       "'%s': each directory must be a plain name of 1 to 255 bytes (not '.' or '..')", uri);
		r->seg[r->nseg++] = s;
	}
	return 0;
}

/* removable://KEY/sub/dir, split and decoded by the host.  Errors are described. */
static int parse_uri(const lv_host *host, lv_host_ctx *h, const char *uri, rm_uri *out)
{
	memset(out, 0, sizeof *out);
	int rc = host->uri_parse(h, uri, &out->u);
	if (rc || !out->u)
		return rc ? rc : host->set_error(h, LV_E_IO, "the host's URI parser gave nothing for %s", uri);
	const lv_uri *u = out->u;
	if (strcmp(u->scheme, "removable") != 0 || u->inner)
		rc = host->set_error(h, LV_E_BAD_URI, "'%s' is not a removable URI: " RM_FORM, uri);
	else if (u->user || u->password || u->port || u->query || strchr(uri, '#'))
		/* the URI is not echoed: it may hold a password */
		rc = host->set_error(h, LV_E_BAD_URI, "a removable URI with a user, password, port, query or fragment: " RM_FORM);
	else if (!u->host || !u->host[0])
		rc = host->set_error(h, LV_E_BAD_URI, "'%s' names no volume: " RM_FORM, uri);
	else if (strcasestr(uri, "%2f"))
		/* decoded, it would split a name in two */
		rc = host->set_error(h, LV_E_BAD_URI, "'%s': an encoded '/' (%%2F) in a volume or directory name", uri);
	else
		rc = split_path(host, h, uri, out);
	if (rc)
		uri_free(host, out);
	return rc;
}

/* KEY percent-encoded: everything but RFC 3986's unreserved characters. */
static char *encode(const char *key)
{
	static const char hex[] = "0123456789ABCDEF";
	char *out = malloc(strlen(key) * 3 + 1), *o = out;
	for (const unsigned char *p = (const unsigned char *)key; out && *p; p++) {
		if ((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || strchr("-._~", *p))
			*o++ = (char)*p;
		else {
			*o++ = '%';
			*o++ = hex[*p >> 4];
			*o++ = hex[*p & 15];
		}
	}
	if (out)
		*o = '\0';
	return out;
}

/* The URI of a volume: removable://KEY/ (its label when that names it alone, else its UUID). */
static char *volume_uri(const char *key)
{
	char *esc = encode(key);
	char *out = esc ? malloc(strlen(esc) + 16) : NULL;
	if (out)
		sprintf(out, "removable://%s/", esc);
	free(esc);
	return out;
}

/* ---- config -------------------------------------------------------------- */

static int get_allow_fixed(const lv_host *host, lv_host_ctx *h, int *out)
{
	lv_config_value v;
	int rc = host->config_value(h, "allow_fixed", &v);
	*out = !rc && v.number;
	return rc;
}

/* ---- choosing the volume ------------------------------------------------ */

static int whole(const rm_mount *m)
{
	return m->blk && !strcmp(m->root, "/");
}

static int eligible(const rm_mount *m, int allow_fixed)
{
	return whole(m) && (m->label || m->uuid) && (m->removable || allow_fixed);
}

/* The mount of m's volume to use: the first writable one, else the first. */
static const rm_mount *best_mount(const rm_table *t, const rm_mount *m)
{
	const rm_mount *first = NULL;
	for (size_t i = 0; i < t->n; i++) {
		const rm_mount *o = &t->m[i];
		if (!whole(o) || o->bdev != m->bdev)
			continue;
		if (!o->ro)
			return o;
		if (!first)
			first = o;
	}
	return first ? first : m;
}

/* Is m the first mount of its volume in the table (to list each volume once)? */
static int first_of_volume(const rm_table *t, size_t i)
{
	for (size_t j = 0; j < i; j++)
		if (whole(&t->m[j]) && t->m[j].bdev == t->m[i].bdev)
			return 0;
	return 1;
}

/* "A (exfat at /media/A), B (ext4 at /mnt/b)" or "none". */
static char *describe_volumes(const rm_table *t, int allow_fixed)
{
	size_t cap = 64, len = 0;
	char *s = malloc(cap);
	if (!s)
		return NULL;
	s[0] = '\0';
	for (size_t i = 0; i < t->n; i++) {
		const rm_mount *m = &t->m[i];
		if (!eligible(m, allow_fixed) || !first_of_volume(t, i))
			continue;
		const rm_mount *b = best_mount(t, m);
		size_t need = strlen(m->label ? m->label : m->uuid) + strlen(rm_mount_fstype(m)) + strlen(b->mnt) + 16;
		if (len + need >= cap) {
			char *ns = realloc(s, cap = (len + need) * 2);
			if (!ns) {
				free(s);
				return NULL;
			}
			s = ns;
		}
		len += (size_t)sprintf(s + len, "%s%s (%s at %s)", len ? ", " : "", m->label ? m->label : m->uuid,
		                       rm_mount_fstype(m), b->mnt);
	}
	if (!len) {
		free(s);
		return strdup("none");
	}
	return s;
}

static int matches(const rm_mount *m, const char *key, int how)
{
	switch (how) {
	case 0: return m->label && !strcmp(m->label, key);
	case 1: return m->uuid && !strcasecmp(m->uuid, key);
	default: return m->label && !strcasecmp(m->label, key);
	}
}

/*
 * Find the volume `key` names (label, then UUID, then label ignoring case)
 * and the mount to use.  Errors are described.
 */
static int choose(const lv_host *host, lv_host_ctx *h, const rm_table *t, const char *key, int allow_fixed,
                  unsigned flags, const rm_mount **out)
{
	for (int how = 0; how < 3; how++) {
		const rm_mount *found = NULL, *fixed = NULL, *other = NULL;
		for (size_t i = 0; i < t->n; i++) {
			const rm_mount *m = &t->m[i];
			if (!whole(m) || !matches(m, key, how))
				continue;
			if (!eligible(m, allow_fixed)) {
				if (!fixed)
					fixed = m;
				continue;
			}
			if (!found)
				found = m;
			else if (m->bdev != found->bdev && !other)
				other = m;
		}
		if (other)
			return host->set_error(h, LV_E_BAD_URI,
			                       "two mounted volumes are named '%s': %s (UUID %s at %s) and %s (UUID %s at %s); "
			                       "name one by its UUID: removable://UUID/...",
			                       key, found->devnode, found->uuid ? found->uuid : "none", found->mnt,
			                       other->devnode, other->uuid ? other->uuid : "none", other->mnt);
		if (found) {
			const rm_mount *b = best_mount(t, found);
			if ((flags & LV_OPEN_WRITE) && b->ro)
				return host->set_error(h, LV_E_IO,
				                       "volume '%s' (%s) is mounted read-only at %s; remount it read-write to back up to it",
				                       key, b->devnode, b->mnt);
			*out = b;
			return 0;
		}
		if (fixed)
			return host->set_error(h, LV_E_BAD_URI,
			                       "volume '%s' (%s at %s) is on a fixed disk, not a removable one; "
			                       "set [driver \"removable\"] allow_fixed = yes to use it anyway, or use a file:// URI",
			                       key, fixed->devnode, fixed->mnt);
	}
	char *list = describe_volumes(t, allow_fixed);
	int rc = host->set_error(h, LV_E_NOT_FOUND,
	                         "no volume labelled '%s' (or with that UUID) is mounted; mounted removable volumes: %s",
	                         key, list ? list : "?");
	free(list);
	return rc;
}

/* ---- the instance ----------------------------------------------------------- */

static int rm_guard(void *ud)
{
	rm_inst *r = ud;
	if (!r->gone) {
		struct stat st;
		int fd = r->fs ? lfs_dirfd(r->fs) : -1;
		if (!rm_mount_present(r->mount_id, r->maj, r->min, r->mnt_esc) ||
		    (fd >= 0 && (fstat(fd, &st) != 0 || st.st_dev != makedev(r->maj, r->min))))
			r->gone = 1;
	}
	if (r->gone)
		return r->host->set_error(r->h, LV_E_IO,
		                          "volume '%s' is no longer mounted at %s (unplugged or unmounted during the run); "
		                          "nothing more was written",
		                          r->name, r->mnt);
	return 0;
}

static void rm_close(void *inst)
{
	rm_inst *r = inst;
	if (!r)
		return;
	lfs_close(r->fs);
	free(r->name);
	free(r->dir);
	free(r->mnt);
	free(r->mnt_esc);
	free(r);
}

static int is_fat(const char *type)
{
	return !strcmp(type, "vfat") || !strcmp(type, "msdos") || !strcmp(type, "fat");
}

static int fat_names_for(const char *type)
{
	/* names a FAT, exFAT or NTFS stick takes, so Windows and cameras read it too */
	return is_fat(type) || !strcmp(type, "exfat") || !strcmp(type, "ntfs") || !strcmp(type, "ntfs3");
}

static int errno_code(int e)
{
	return e == ENOSPC || e == EDQUOT ? LV_E_NO_SPACE : e == ENOMEM ? LV_E_NOMEM : LV_E_IO;
}

/*
 * Walk from the mount point to sub/dir by fds (creating with LV_OPEN_WRITE),
 * each step checked to stay on the volume.  *dirfd gets the directory, or -1
 * when it does not exist (reading).
 */
static int walk(rm_inst *r, const rm_uri *u, const rm_mount *m, unsigned flags, int *dirfd)
{
	const lv_host *host = r->host;
	lv_host_ctx *h = r->h;
	dev_t dev = makedev(m->maj, m->min);
	struct stat st;
	*dirfd = -1;
	int fd = open(m->mnt, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return host->set_error(h, LV_E_IO, "cannot open the mount point %s of volume '%s': %s", m->mnt, r->name,
		                       strerror(errno));
	if (fstat(fd, &st) != 0 || st.st_dev != dev || !rm_mount_present(m->id, m->maj, m->min, m->mnt_esc)) {
		close(fd);
		return host->set_error(h, LV_E_IO, "volume '%s' is no longer mounted at %s (or another mount covers it)",
		                       r->name, m->mnt);
	}
	for (size_t i = 0; i < u->nseg && u->seg[i]; i++) {
		const char *seg = u->seg[i];
		if ((flags & LV_OPEN_WRITE) && mkdirat(fd, seg, 0700) != 0 && errno != EEXIST) {
			int e = errno;
			close(fd);
			return host->set_error(h, errno_code(e), "cannot create directory %s in %s on volume '%s': %s", seg,
			                       m->mnt, r->name, strerror(e));
		}
		int nfd = openat(fd, seg, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (nfd < 0) {
			int e = errno;
			close(fd);
			if (e == ENOENT && !(flags & LV_OPEN_WRITE))
				return 0; /* nothing there yet: reads find nothing */
			return host->set_error(h, e == ENOTDIR || e == ELOOP ? LV_E_BAD_URI : errno_code(e),
			                       "cannot open directory %s on volume '%s' (under %s): %s", seg, r->name, m->mnt,
			                       e == ELOOP ? "it is a symbolic link" : strerror(e));
		}
		close(fd);
		fd = nfd;
		if (fstat(fd, &st) != 0 || st.st_dev != dev) {
			close(fd);
			return host->set_error(h, LV_E_BAD_URI, "directory %s under %s is on another filesystem than volume '%s'",
			                       seg, m->mnt, r->name);
		}
	}
	if ((flags & LV_OPEN_WRITE) && faccessat(fd, ".", W_OK, AT_EACCESS) != 0) {
		int e = errno;
		close(fd);
		return host->set_error(h, LV_E_IO, "cannot write in %s on volume '%s': %s", r->dir, r->name, strerror(e));
	}
	*dirfd = fd;
	return 0;
}

/* The mount point and the decoded sub/dir path: "/media/STICK/a/b" (one '/' between the parts). */
static char *join_dir(const char *mnt, const char *path)
{
	size_t ml = strlen(mnt), n = ml + strlen(path) + 2;
	char *s = malloc(n);
	if (!s)
		return NULL;
	memcpy(s, mnt, ml + 1);
	for (const char *p = path;;) {
		p += strspn(p, "/");
		size_t k = strcspn(p, "/");
		if (!k)
			break;
		if (ml == 0 || s[ml - 1] != '/')
			s[ml++] = '/';
		memcpy(s + ml, p, k);
		ml += k;
		p += k;
	}
	s[ml] = '\0';
	return s;
}

static int rm_open(const lv_host *host, lv_host_ctx *h, const char *uri, unsigned flags, void **inst)
{
	rm_uri u;
	int rc = parse_uri(host, h, uri, &u);
	if (rc || !u.u)
		return rc ? rc : LV_E_IO; /* never 0 without a URI */
	int allow_fixed = 0;
	rm_table t = {0};
	rm_inst *r = NULL;
	if ((rc = get_allow_fixed(host, h, &allow_fixed)))
		goto out;
	if ((rc = rm_table_read(&t))) {
		rc = host->set_error(h, LV_E_IO, "cannot read the mount table /proc/self/mountinfo: %s", strerror(-rc));
		goto out;
	}
	rm_table_identify(&t);
	const rm_mount *m = NULL;
	if ((rc = choose(host, h, &t, u.u->host, allow_fixed, flags, &m)) || !m) {
		if (!rc)
			rc = host->set_error(h, LV_E_IO, "no mount chosen for volume '%s'", u.u->host);
		goto out;
	}
	const char *type = rm_mount_fstype(m);
	int fat = fat_names_for(type);
	const char *why;
	for (size_t i = 0; fat && i < u.nseg && u.seg[i]; i++)
		if (lfs_fat_name_ok(u.seg[i], &why)) {
			rc = host->set_error(h, LV_E_BAD_URI, "directory '%s' on %s volume '%s': %s", u.seg[i], type, u.u->host, why);
			goto out;
		}
	if (!(r = calloc(1, sizeof *r))) {
		rc = LV_E_NOMEM;
		goto out;
	}
	r->host = host;
	r->h = h;
	r->mount_id = m->id;
	r->maj = m->maj;
	r->min = m->min;
	r->name = strdup(u.u->host);
	r->mnt = strdup(m->mnt);
	r->mnt_esc = strdup(m->mnt_esc);
	r->dir = join_dir(m->mnt, u.u->path);
	if (!r->name || !r->mnt || !r->mnt_esc || !r->dir) {
		rc = LV_E_NOMEM;
		goto out;
	}
	int dirfd = -1;
	if ((rc = walk(r, &u, m, flags, &dirfd)))
		goto out;
	if ((rc = lfs_open_fd(&r->fs, host, h, dirfd, r->dir, fat)))
		goto out;
	lfs_set_guard(r->fs, rm_guard, r);
	lfs_set_space_check(r->fs, 1);
	if (is_fat(type))
		lfs_set_max_size(r->fs, FAT_MAX_FILE, "FAT");
	host->log(h, LV_LOG_DEBUG, "%s: volume %s (%s, %s) mounted at %s", uri, m->devnode, type,
	          m->uuid ? m->uuid : "no UUID", m->mnt);
	*inst = r;
	r = NULL;
out:
	rm_close(r);
	rm_table_free(&t);
	uri_free(host, &u);
	return rc;
}

/* ---- the operations ------------------------------------------------------------ */

static int rm_write_begin(void *inst, const char *name, uint64_t size_hint, lv_writer **w)
{
	return lfs_write_begin(((rm_inst *)inst)->fs, name, size_hint, w);
}

static int rm_read_open(void *inst, const char *name, lv_reader **rd)
{
	return lfs_read_open(((rm_inst *)inst)->fs, name, rd);
}

static int rm_list(void *inst, lv_list_cb cb, void *ud)
{
	return lfs_list(((rm_inst *)inst)->fs, cb, ud);
}

static int rm_remove(void *inst, const char *name)
{
	return lfs_remove(((rm_inst *)inst)->fs, name);
}

static int rm_stat(void *inst, const char *name, lv_object_info *info)
{
	return lfs_stat(((rm_inst *)inst)->fs, name, info);
}

static int rm_space(void *inst, uint64_t *free_bytes, uint64_t *total_bytes)
{
	return lfs_space(((rm_inst *)inst)->fs, free_bytes, total_bytes);
}

static int rm_cleanup(void *inst)
{
	rm_inst *r = inst;
	if (rm_guard(r))
		return LV_E_IO;
	return lfs_cleanup(r->fs);
}

static int rm_sync(void *inst)
{
	rm_inst *r = inst;
	int fd = lfs_dirfd(r->fs);
	int rc = rm_guard(r);
	if (rc)
		return rc;
	if ((rc = lfs_sync(r->fs)))
		return rc;
	if (fd >= 0 && syncfs(fd) != 0)
		return r->host->set_error(r->h, LV_E_IO, "cannot flush volume '%s' (%s) to the device: %s", r->name, r->mnt,
		                          strerror(errno));
	if ((rc = rm_guard(r)))
		return rc;
	/* a note for the END event: the backup is on the device itself */
	r->host->note(r->h, "everything written to volume '%s' (%s) is flushed to the device: safe to remove it", r->name,
	              r->dir);
	return 0;
}

static int rm_enumerate(const lv_host *host, lv_host_ctx *h, lv_candidate_cb cb, void *ud)
{
	int allow_fixed = 0;
	int rc = get_allow_fixed(host, h, &allow_fixed);
	if (rc)
		return rc;
	rm_table t;
	if ((rc = rm_table_read(&t)))
		return host->set_error(h, LV_E_IO, "cannot read the mount table /proc/self/mountinfo: %s", strerror(-rc));
	rm_table_identify(&t);
	for (size_t i = 0; i < t.n && !rc; i++) {
		const rm_mount *m = &t.m[i];
		if (!eligible(m, allow_fixed) || !first_of_volume(&t, i))
			continue;
		/* the label names it when no other volume listed has that label */
		int label_ok = m->label != NULL;
		for (size_t j = 0; label_ok && j < t.n; j++)
			if (eligible(&t.m[j], allow_fixed) && t.m[j].bdev != m->bdev && t.m[j].label &&
			    !strcmp(t.m[j].label, m->label))
				label_ok = 0;
		if (!label_ok && !m->uuid)
			continue;
		const rm_mount *b = best_mount(&t, m);
		char *uri = volume_uri(label_ok ? m->label : m->uuid);
		if (!uri) {
			rc = LV_E_NOMEM;
			break;
		}
		struct statvfs sv;
		lv_candidate c = {uri, m->label, m->uuid, rm_mount_fstype(m), b->mnt, UINT64_MAX, UINT64_MAX};
		if (statvfs(b->mnt, &sv) == 0) {
			c.free_bytes = (uint64_t)sv.f_bavail * sv.f_frsize;
			c.total_bytes = (uint64_t)sv.f_blocks * sv.f_frsize;
		}
		rc = cb(&c, ud);
		free(uri);
	}
	rm_table_free(&t);
	return rc > 0 ? 0 : rc;
}

static const lv_driver_ops rm_ops = {
	.open = rm_open,
	.close = rm_close,
	.write_begin = rm_write_begin,
	.write = lfs_write,
	.commit = lfs_commit,
	.abort = lfs_abort,
	.read_open = rm_read_open,
	.read = lfs_read,
	.read_close = lfs_read_close,
	.list = rm_list,
	.remove = rm_remove,
	.stat = rm_stat,
	.sync = rm_sync,
	.space = rm_space,
	.cleanup = rm_cleanup,
	.enumerate = rm_enumerate,
};

static const char *const rm_schemes[] = {"removable", NULL};

static const lv_driver_key rm_keys[] = {
	{"allow_fixed", LV_KEY_BOOL, "no",
	 "also accept volumes on fixed (non-removable) disks, such as loop devices", 0, 0, NULL, 0},
	{NULL, 0, NULL, NULL, 0, 0, NULL, 0},
};

static const lv_driver rm_driver = {
	LV_DRIVER_INIT_HEADER,
	.name = "removable",
	.version = "1.1.0",
	.schemes = rm_schemes,
	.ops = &rm_ops,
	.keys = rm_keys,
};

LV_DRIVER_ENTRY
{
	return &rm_driver;
}
