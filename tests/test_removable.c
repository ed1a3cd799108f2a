/*
 * The removable driver on real filesystems: ext4 (kernel) and exFAT (FUSE,
 * fuseblk) on loop devices, mounted in this process's private mount
 * namespace (fixture_volume.c).  Loop devices count as fixed disks, so most
 * cases use a context whose config says [driver "removable"] allow_fixed = yes.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <unistd.h>

#include "conformance.h"
#include "fixture_volume.h"
#include "testutil.h"

/* localfs (built into the file and removable drivers) is compiled in here for its unit tests */
#include "localfs.h"

static const char *skip;        /* why volumes cannot be made here, or NULL */
static char *dir;
static char cfg_fixed[700], cfg_plain[700];
static lv_context *ctx_fixed;   /* allow_fixed = yes: loop devices may be used */
static lv_context *ctx_plain;   /* no config: only removable disks */
static lv_store *small;         /* 60 licenses, 48 with the backup right */
static char big_path[700];      /* ~1.8 MB store from licvault-gen */

static fx_volume vols[24];
static int nvols;

static fx_volume *vol(void)
{
	return nvols < (int)(sizeof vols / sizeof vols[0]) ? &vols[nvols++] : NULL;
}

static char *path(const char *fmt, ...)
{
	static char buf[8][800];
	static int k;
	k = (k + 1) % 8;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(buf[k], sizeof buf[k], fmt, ap);
	va_end(ap);
	return buf[k];
}

static int write_file(const char *p, const char *text)
{
	FILE *f = fopen(p, "w");
	if (!f)
		return -1;
	fputs(text, f);
	return fclose(f);
}

static int init(void)
{
	dir = t_tmpdir();
	if (!dir)
		return 1;
	snprintf(cfg_fixed, sizeof cfg_fixed, "%s/fixed.cfg", dir);
	snprintf(cfg_plain, sizeof cfg_plain, "%s/plain.cfg", dir);
	if (write_file(cfg_fixed, "[driver \"removable\"]\nallow_fixed = yes\n") ||
	    write_file(cfg_plain, "[driver \"removable\"]\n"))
		return 1;
	ctx_fixed = t_context();
	ctx_plain = t_context();
	if (!ctx_fixed || !ctx_plain || lv_context_load_config(ctx_fixed, cfg_fixed) != 0)
		return 1;
	if (t_make_store(ctx_fixed, path("%s/small.db", dir), 60, &small))
		return 1;
	snprintf(big_path, sizeof big_path, "%s/big.db", dir);
	char *out = NULL;
	int rc = t_sh(&out, "'%s' --store '%s' --count 500", T_GEN, big_path);
	if (rc)
		fprintf(stderr, "licvault-gen: %s\n", out);
	free(out);
	if (rc)
		return 1;
	skip = fx_namespace();
	if (skip)
		fprintf(stderr, "\nremovable: SKIPPING the cases that need volumes: %s\n", skip);
	return 0;
}

static int clean(void)
{
	fx_volume_destroy_all();
	lv_store_free(small);
	lv_context_free(ctx_fixed);
	lv_context_free(ctx_plain);
	free(dir);
	return 0;
}

/* Print why a case is skipped; non-zero when it is. */
static int skipped(const char *fstype)
{
	const char *why = skip ? skip : fx_volume_unavailable(fstype);
	if (!why)
		return 0;
	CU_pTest t = CU_get_current_test();
	fprintf(stderr, "\nSKIP removable/%s (%s): %s\n", t ? t->pName : "?", fstype, why);
	return 1;
}

/* ---- helpers ---------------------------------------------------------------- */

struct cmp {
	lv_store *src;
	int n, bad;
};

static int cmp_cb(const lv_license *l, void *ud)
{
	struct cmp *c = ud;
	lv_license *o = NULL;
	c->n++;
	if (lv_store_get(c->src, l->kid, &o) != 0) {
		c->bad++;
		return 0;
	}
	if (strcmp(o->title ? o->title : "", l->title ? l->title : "") || o->payload_len != l->payload_len ||
	    memcmp(o->payload, l->payload, l->payload_len) || o->issued != l->issued)
		c->bad++;
	lv_license_free(o);
	return 0;
}

/* Restore `uri` into a fresh store; the count of licenses restored that match src, or -1. */
static int restore_check(lv_context *ctx, const char *uri, lv_store *src, const char *name)
{
	lv_store *d = NULL;
	if (lv_store_open(&d, ctx, path("%s/%s.db", dir, name), LV_STORE_CREATE) != 0)
		return -1;
	t_events ev;
	int rc = t_restore(ctx, d, uri, LV_RESTORE_INDIVIDUALIZE, &ev);
	struct cmp c = {src, 0, 0};
	if (rc == 0)
		lv_store_foreach(d, cmp_cb, &c);
	lv_store_free(d);
	if (rc) {
		fprintf(stderr, "restore %s: %s: %s\n", uri, lv_error_name(rc), ev.end_message);
		return -1;
	}
	return c.bad ? -1 : c.n;
}

/* Count entries of dir whose name holds `part`. */
static int count_named(const char *d, const char *part)
{
	char *out = NULL;
	t_sh(&out, "ls -A '%s' 2>/dev/null | grep -c -F -e '%s'", d, part);
	if (getenv("LV_TEST_VERBOSE")) {
		char *l = NULL;
		t_sh(&l, "ls -A '%s'", d);
		fprintf(stderr, "[%s] %s", d, l);
		free(l);
	}
	int n = atoi(out);
	free(out);
	return n;
}

/* A backup run whose status callback acts once, at the first progress event
 * (the pack is open for writing then, and nothing of it is written yet). */
struct mid {
	void (*act)(struct mid *);
	fx_volume *v;
	int done;
	int act_rc;
	int vol_fd;     /* act_unmount: the volume's root, still reachable once detached */
	char end[1024];
};

static void mid_cb(int status, int result, const lv_value *v, void *ud)
{
	struct mid *m = ud;
	if (status == LV_STATUS_PROGRESS && !m->done) {
		m->done = 1;
		m->act(m);
	}
	if (status == LV_STATUS_END && v->type == LV_TYPE_STRING && v->u.str)
		snprintf(m->end, sizeof m->end, "%s", v->u.str);
	(void)result;
}

static int backup_with(lv_context *ctx, lv_store *s, const char *uri, unsigned flags, struct mid *m)
{
	lv_restorer *r = NULL;
	if (lv_restorer_new(&r, ctx, s))
		return LV_E_NOMEM;
	lv_restorer_set_string(r, LV_PROP_BACKUP_PATH, uri);
	int rc = lv_restorer_backup(r, flags, mid_cb, m);
	if (!rc)
		lv_restorer_wait(r, &rc);
	lv_restorer_free(r);
	return rc;
}

static void act_unmount(struct mid *m)
{
	m->vol_fd = open(m->v->mnt, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	m->act_rc = fx_volume_umount(m->v, 1);
}

/* Objects of a backup set (packs, manifests) in directory `sub` of the directory open at fd; -1 when unreadable. */
static int published_at(int fd, const char *sub)
{
	int dfd = openat(fd, sub, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	DIR *d = dfd >= 0 ? fdopendir(dfd) : NULL;
	if (!d) {
		if (dfd >= 0)
			close(dfd);
		return -1;
	}
	int n = 0;
	struct dirent *de;
	while ((de = readdir(d)))
		if (de->d_name[0] != '.' && (strstr(de->d_name, ".pack") || strstr(de->d_name, ".manifest"))) {
			n++;
			if (getenv("LV_TEST_VERBOSE"))
				fprintf(stderr, "published: %s\n", de->d_name);
		}
	closedir(d);
	return n;
}

/* Take all the space left on the volume, as another program writing to the stick would. */
static void act_fill(struct mid *m)
{
	int fd = open(path("%s/filler", m->v->mnt), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0) {
		m->act_rc = -1;
		return;
	}
	static char buf[64 * 1024];
	memset(buf, 0x5a, sizeof buf);
	size_t chunk = sizeof buf;
	for (;;) {
		ssize_t n = write(fd, buf, chunk);
		if (n < 0 && errno == ENOSPC) {
			if (chunk == 512)
				break;
			chunk /= 2; /* fill the last blocks too */
			continue;
		}
		if (n <= 0)
			break;
	}
	fsync(fd);
	close(fd);
	m->act_rc = 0;
}

/* ---- FAT rules and localfs on their own --------------------------------------- */

static char fh_msg[1024];
static int fh_code;

static void fh_log(lv_host_ctx *h, int level, const char *fmt, ...)
{
	(void)h;
	(void)level;
	(void)fmt;
}

static const char *fh_config_get(lv_host_ctx *h, const char *key, unsigned index)
{
	(void)h;
	(void)key;
	(void)index;
	return NULL;
}

static int fh_canceled(lv_host_ctx *h)
{
	(void)h;
	return 0;
}

static void fh_progress(lv_host_ctx *h, uint64_t bytes)
{
	(void)h;
	(void)bytes;
}

static int fh_set_error(lv_host_ctx *h, int code, const char *fmt, ...)
{
	(void)h;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(fh_msg, sizeof fh_msg, fmt, ap);
	va_end(ap);
	fh_code = code;
	return code;
}

static int fh_name_valid(lv_host_ctx *h, const char *name)
{
	(void)h;
	return name && *name && strlen(name) < 256 && !strchr(name, '/') && strcmp(name, ".") && strcmp(name, "..");
}

static int fh_tracked; /* writers and readers localfs has open (track minus untrack) */

static int fh_track(lv_host_ctx *h, void *handle, void (*release)(void *handle))
{
	(void)h;
	(void)handle;
	(void)release;
	fh_tracked++;
	return 0;
}

static void fh_untrack(lv_host_ctx *h, void *handle)
{
	(void)h;
	(void)handle;
	fh_tracked--;
}

static int fh_protected_file(lv_host_ctx *h, uint64_t dev, uint64_t ino)
{
	(void)h;
	(void)dev;
	(void)ino;
	return 0;
}

static const lv_host fake_host = {
	.size = sizeof(lv_host),
	.abi_minor = LV_DRIVER_ABI_MINOR,
	.log = fh_log,
	.config_get = fh_config_get,
	.canceled = fh_canceled,
	.progress = fh_progress,
	.set_error = fh_set_error,
	.name_valid = fh_name_valid,
	.track = fh_track,
	.untrack = fh_untrack,
	.protected_file = fh_protected_file,
};

static void test_fat_names(void)
{
	const char *why = NULL;
	const char *good[] = {"licvault-0000000000000001.pack", "a b", "x.y.z", "UPPER", "émoji-ü", "a+b=c,d;e[f]",
	                      "'quoted'"};
	for (size_t i = 0; i < sizeof good / sizeof *good; i++)
		CU_ASSERT_EQUAL(lfs_fat_name_ok(good[i], &why), 0);
	const char *bad[] = {"a:b", "a*b", "a?b", "a\"b", "a<b", "a>b", "a|b", "a\\b", "a/b", "tab\there", "dot.",
	                     "space ", ""};
	for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
		why = NULL;
		CU_ASSERT_EQUAL(lfs_fat_name_ok(bad[i], &why), LV_E_INVALID_ARG);
		CU_ASSERT_PTR_NOT_NULL(why);
	}
	char longname[300];
	memset(longname, 'a', 256);
	longname[256] = '\0';
	CU_ASSERT_EQUAL(lfs_fat_name_ok(longname, &why), LV_E_INVALID_ARG);
	longname[255] = '\0';
	CU_ASSERT_EQUAL(lfs_fat_name_ok(longname, &why), 0);

	/* a localfs with FAT names refuses such a name before writing anything */
	char *d = t_tmpdir();
	lfs *fs = NULL;
	CU_ASSERT_EQUAL_FATAL(lfs_open(&fs, &fake_host, NULL, d, LV_OPEN_WRITE, 1), 0);
	lv_writer *w = NULL;
	CU_ASSERT_EQUAL(lfs_write_begin(fs, "bad:name", 10, &w), LV_E_INVALID_ARG);
	CU_ASSERT_PTR_NOT_NULL(strstr(fh_msg, "bad:name"));
	CU_ASSERT_EQUAL(fx_dir_entries(d), 0);
	lfs_close(fs);
	/* without FAT names (the file driver) the same name is fine */
	CU_ASSERT_EQUAL_FATAL(lfs_open(&fs, &fake_host, NULL, d, LV_OPEN_WRITE, 0), 0);
	CU_ASSERT_EQUAL_FATAL(lfs_write_begin(fs, "ok:name", 10, &w), 0);
	CU_ASSERT_EQUAL(fh_tracked, 1); /* the writer is tracked until it is committed */
	CU_ASSERT_EQUAL(lfs_write(w, "x", 1), 0);
	CU_ASSERT_EQUAL(lfs_commit(w, 0), 0);
	CU_ASSERT_EQUAL(fh_tracked, 0);
	lv_reader *r = NULL;
	CU_ASSERT_EQUAL_FATAL(lfs_read_open(fs, "ok:name", &r), 0);
	CU_ASSERT_EQUAL(fh_tracked, 1);
	lfs_read_close(r);
	CU_ASSERT_EQUAL(fh_tracked, 0);
	/* a name of 255 bytes has a temporary too; one starting with '.' is a temporary's */
	char name255[256];
	memset(name255, 'n', 255);
	name255[255] = '\0';
	CU_ASSERT_EQUAL_FATAL(lfs_write_begin(fs, name255, 1, &w), 0);
	CU_ASSERT_EQUAL(lfs_commit(w, 0), 0);
	CU_ASSERT_EQUAL(lfs_write_begin(fs, ".hidden", 1, &w), LV_E_INVALID_ARG);
	CU_ASSERT_PTR_NOT_NULL(strstr(fh_msg, "temporaries"));
	CU_ASSERT_EQUAL(fx_dir_entries(d), 2);
	CU_ASSERT_EQUAL(fh_tracked, 0);
	lfs_close(fs);
	free(d);
}

static void test_localfs_limits(void)
{
	char *d = t_tmpdir();
	lfs *fs = NULL;
	int fd = open(d, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	CU_ASSERT_FATAL(fd >= 0);
	CU_ASSERT_EQUAL_FATAL(lfs_open_fd(&fs, &fake_host, NULL, fd, d, 1), 0);
	CU_ASSERT_EQUAL(lfs_dirfd(fs), fd);
	/* the largest object: a bigger size_hint, or writes past it, are NO_SPACE naming the limit */
	lfs_set_max_size(fs, 100, "FAT");
	lv_writer *w = NULL;
	CU_ASSERT_EQUAL(lfs_write_begin(fs, "big", 101, &w), LV_E_NO_SPACE);
	CU_ASSERT_PTR_NOT_NULL(strstr(fh_msg, "FAT"));
	CU_ASSERT_EQUAL_FATAL(lfs_write_begin(fs, "grows", UINT64_MAX, &w), 0);
	char buf[60] = {0};
	CU_ASSERT_EQUAL(lfs_write(w, buf, 60), 0);
	CU_ASSERT_EQUAL(lfs_write(w, buf, 40), 0); /* exactly the limit */
	CU_ASSERT_EQUAL(lfs_write(w, buf, 1), LV_E_NO_SPACE);
	CU_ASSERT_PTR_NOT_NULL(strstr(fh_msg, "100 bytes"));
	lfs_abort(w);
	lfs_set_max_size(fs, 0, NULL);
	/* the space check: a hint above the free space is refused up front, naming both */
	lfs_set_space_check(fs, 1);
	CU_ASSERT_EQUAL(lfs_write_begin(fs, "huge", UINT64_MAX - 1, &w), LV_E_NO_SPACE);
	CU_ASSERT_PTR_NOT_NULL(strstr(fh_msg, "18446744073709551614"));
	CU_ASSERT_PTR_NOT_NULL(strstr(fh_msg, "free"));
	CU_ASSERT_EQUAL_FATAL(lfs_write_begin(fs, "fits", 10, &w), 0);
	CU_ASSERT_EQUAL(lfs_commit(w, 0), 0);
	CU_ASSERT_EQUAL(fx_dir_entries(d), 1); /* no temporaries left */
	lfs_close(fs);
	free(d);
}

static void test_uri_errors(void)
{
	lv_store *s = small;
	t_events ev;
	const char *bad[] = {"removable:///dir", "removable://STICK/a/../b", "removable://STICK:80/x",
	                     "removable://user@STICK/x", "removable://STICK/x?q=1", "removable://STICK/a%2Fb",
	                     "removable://ST%00ICK/x", "removable://STICK/x#frag", "removable+file:///x",
	                     "removable://STICK/a/%2E%2E/b"};
	for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
		CU_ASSERT_EQUAL(t_backup(ctx_fixed, s, bad[i], 0, &ev), LV_E_BAD_URI);
		CU_ASSERT(ev.end_message[0] != '\0');
	}
	/* a label nobody has: NOT_FOUND naming it */
	CU_ASSERT_EQUAL(t_backup(ctx_fixed, s, "removable://NO-SUCH-STICK-7/x", 0, &ev), LV_E_NOT_FOUND);
	CU_ASSERT_PTR_NOT_NULL(strstr(ev.end_message, "NO-SUCH-STICK-7"));
	CU_ASSERT_PTR_NOT_NULL(strstr(ev.end_message, "mounted removable volumes"));
}

/* ---- round trips ---------------------------------------------------------------- */

static void round_trip(const char *fstype, const char *label)
{
	if (skipped(fstype))
		return;
	fx_volume *v = vol();
	CU_ASSERT_EQUAL_FATAL(fx_volume_make(v, dir, fstype, label, 16, NULL), 0);
	CU_ASSERT_FATAL(v->uuid[0] != '\0');
	t_events ev;
	/* by label */
	char uri[200];
	snprintf(uri, sizeof uri, "removable://%s/licenses/by-label", label);
	CU_ASSERT_EQUAL_FATAL(t_backup(ctx_fixed, small, uri, 0, &ev), 0);
	CU_ASSERT_EQUAL(ev.result, 0);
	CU_ASSERT_PTR_NOT_NULL(strstr(ev.end_message, "safe to remove"));
	char where[800];
	snprintf(where, sizeof where, "%s/licenses/by-label", v->mnt);
	CU_ASSERT_EQUAL(count_named(where, ".manifest"), 1);
	CU_ASSERT_EQUAL(count_named(where, ".pack"), 1);
	CU_ASSERT_EQUAL(count_named(where, ".tmp-"), 0);
	CU_ASSERT_EQUAL(restore_check(ctx_fixed, uri, small, path("rt-%s-label", fstype)), 48);
	/* by UUID, in upper or lower case */
	snprintf(uri, sizeof uri, "removable://%s/by-uuid", v->uuid);
	CU_ASSERT_EQUAL_FATAL(t_backup(ctx_fixed, small, uri, 0, &ev), 0);
	CU_ASSERT_EQUAL(count_named(path("%s/by-uuid", v->mnt), ".manifest"), 1);
	CU_ASSERT_EQUAL(restore_check(ctx_fixed, uri, small, path("rt-%s-uuid", fstype)), 48);
	char lower[64];
	snprintf(lower, sizeof lower, "%s", v->uuid);
	for (char *p = lower; *p; p++)
		if (*p >= 'A' && *p <= 'Z')
			*p = (char)(*p + 32);
	CU_ASSERT_EQUAL(t_verify(ctx_fixed, small, path("removable://%s/by-uuid", lower), &ev), 0);
	/* a second backup adds a generation only when asked; the first stays (keep = 3) */
	snprintf(uri, sizeof uri, "removable://%s/licenses/by-label", label);
	CU_ASSERT_EQUAL(t_backup(ctx_fixed, small, uri, 0, &ev), LV_E_BACKUP_EXISTS);
	CU_ASSERT_EQUAL(t_backup(ctx_fixed, small, uri, LV_BACKUP_OVERWRITE, &ev), 0);
	CU_ASSERT_EQUAL(count_named(where, ".manifest"), 2);
	CU_ASSERT_EQUAL(count_named(where, "0000000000000002.pack"), 1);
	if (!strcmp(fstype, "exfat")) {
		/* a directory name exFAT cannot hold is refused, not mangled */
		CU_ASSERT_EQUAL(t_backup(ctx_fixed, small, path("removable://%s/a:b", label), 0, &ev), LV_E_BAD_URI);
		CU_ASSERT_PTR_NOT_NULL(strstr(ev.end_message, "a:b"));
		CU_ASSERT_EQUAL(fx_dir_entries(path("%s/a:b", v->mnt)), -1);
	}
	fx_volume_destroy(v);
}

static void test_round_trip_ext4(void) { round_trip("ext4", "LVEXT4"); }
static void test_round_trip_exfat(void) { round_trip("exfat", "LVEXFAT"); }

static void test_two_volumes(void)
{
	if (skipped("ext4"))
		return;
	fx_volume *a = vol(), *b = vol();
	CU_ASSERT_EQUAL_FATAL(fx_volume_make(a, dir, "ext4", "ALPHA", 8, NULL), 0);
	/* a label with a space: percent-encoded in the URI, \040 in the mount table */
	CU_ASSERT_EQUAL_FATAL(fx_volume_make(b, dir, "ext4", "BRAVO TWO", 8, NULL), 0);
	lv_store *s2 = NULL;
	CU_ASSERT_EQUAL_FATAL(t_make_store(ctx_fixed, path("%s/two.db", dir), 10, &s2), 0); /* 8 backed up */
	CU_ASSERT_EQUAL(t_backup(ctx_fixed, small, "removable://ALPHA/lv", 0, NULL), 0);
	CU_ASSERT_EQUAL(t_backup(ctx_fixed, s2, "removable://BRAVO%20TWO/lv", 0, NULL), 0);
	CU_ASSERT_EQUAL(count_named(path("%s/lv", a->mnt), ".manifest"), 1);
	CU_ASSERT_EQUAL(count_named(path("%s/lv", b->mnt), ".manifest"), 1);
	CU_ASSERT_EQUAL(restore_check(ctx_fixed, "removable://ALPHA/lv", small, "two-a"), 48);
	CU_ASSERT_EQUAL(restore_check(ctx_fixed, "removable://BRAVO%20TWO/lv", s2, "two-b"), 8);
	/* neither volume got the other's set */
	CU_ASSERT_EQUAL(count_named(path("%s/lv", a->mnt), "0000000000000002"), 0);
	CU_ASSERT_EQUAL(count_named(path("%s/lv", b->mnt), "0000000000000002"), 0);
	char *pa = t_find(path("%s/lv", a->mnt), ".pack"), *pb = t_find(path("%s/lv", b->mnt), ".pack");
	CU_ASSERT_PTR_NOT_NULL(pa);
	CU_ASSERT_PTR_NOT_NULL(pb);
	CU_ASSERT_NOT_EQUAL(pa ? t_file_size(pa) : -1, pb ? t_file_size(pb) : -2);
	free(pa);
	free(pb);
	lv_store_free(s2);
	fx_volume_destroy(a);
	fx_volume_destroy(b);
}

/* One volume mounted twice, the first mount read-only: the writable one is used. */
static void test_first_writable_mount(void)
{
	if (skipped("ext4"))
		return;
	fx_volume *v = vol();
	CU_ASSERT_EQUAL_FATAL(fx_volume_make(v, dir, "ext4", "TWICE", 8, NULL), 0);
	char second[800];
	snprintf(second, sizeof second, "%s/second-mount", dir);
	char *out = NULL;
	int rc = t_sh(&out, "mkdir -p '%s' && mount --bind '%s' '%s' && mount -o remount,bind,ro '%s'", second, v->mnt,
	              second, v->mnt);
	if (rc)
		fprintf(stderr, "bind mounts: %s\n", out);
	free(out);
	CU_ASSERT_EQUAL_FATAL(rc, 0);
	t_events ev;
	CU_ASSERT_EQUAL(t_backup(ctx_fixed, small, "removable://TWICE/d", 0, &ev), 0);
	CU_ASSERT_PTR_NOT_NULL(strstr(ev.end_message, second));
	CU_ASSERT_EQUAL(count_named(path("%s/d", second), ".manifest"), 1);
	umount2(second, 0);
	fx_volume_destroy(v);
}

/* ---- never the wrong place ---------------------------------------------------- */

static void test_not_mounted(void)
{
	if (skipped("ext4"))
		return;
	fx_volume *gone = vol(), *present = vol();
	CU_ASSERT_EQUAL_FATAL(fx_volume_make(gone, dir, "ext4", "GONE", 8, NULL), 0);
	CU_ASSERT_EQUAL_FATAL(fx_volume_make(present, dir, "ext4", "PRESENT", 8, NULL), 0);
	CU_ASSERT_EQUAL_FATAL(fx_volume_umount(gone, 0), 0);
	CU_ASSERT_EQUAL(fx_dir_entries(gone->mnt), 0);
	t_events ev;
	CU_ASSERT_EQUAL(t_backup(ctx_fixed, small, "removable://GONE/lv", 0, &ev), LV_E_NOT_FOUND);
	CU_ASSERT_PTR_NOT_NULL(strstr(ev.end_message, "'GONE'"));
	/* the message lists what is mounted */
	CU_ASSERT_PTR_NOT_NULL(strstr(ev.end_message, "PRESENT (ext4 at "));
	/* nothing under the empty mount point, nothing anywhere else */
	CU_ASSERT_EQUAL(fx_dir_entries(gone->mnt), 0);
	CU_ASSERT_EQUAL(fx_dir_entries(present->mnt), 1); /* lost+found */
	CU_ASSERT_EQUAL(t_restore(ctx_fixed, small, "removable://GONE/lv", 0, &ev), LV_E_NOT_FOUND);
	fx_volume_destroy(gone);
	fx_volume_destroy(present);
}

static void unmounted_mid_run(const char *fstype, const char *label)
{
	if (skipped(fstype))
		return;
	fx_volume *v = vol();
	CU_ASSERT_EQUAL_FATAL(fx_volume_make(v, dir, fstype, label, 16, NULL), 0);
	struct mid m = {act_unmount, v, 0, -1, -1, ""};
	lv_store *big = NULL;
	CU_ASSERT_EQUAL_FATAL(lv_store_open(&big, ctx_fixed, big_path, 0), 0);
	int rc = backup_with(ctx_fixed, big, path("removable://%s/lv", label), 0, &m);
	lv_store_free(big);
	CU_ASSERT_EQUAL(m.done, 1);
	CU_ASSERT_EQUAL(m.act_rc, 0);
	CU_ASSERT_EQUAL(rc, LV_E_IO);
	CU_ASSERT_PTR_NOT_NULL(strstr(m.end, "no longer mounted"));
	/* the directory the volume was mounted on got nothing */
	CU_ASSERT_EQUAL(fx_dir_entries(v->mnt), 0);
	/* and nothing more was published on the volume itself once it was unmounted */
	CU_ASSERT(m.vol_fd >= 0);
	CU_ASSERT_EQUAL(published_at(m.vol_fd, "lv"), 0);
	if (m.vol_fd >= 0)
		close(m.vol_fd);
	fx_volume_destroy(v);
}

static void test_unmounted_mid_run_ext4(void) { unmounted_mid_run("ext4", "PULLED4"); }
static void test_unmounted_mid_run_exfat(void) { unmounted_mid_run("exfat", "PULLEDX"); }

static void test_read_only(void)
{
	if (skipped("ext4"))
		return;
	fx_volume *v = vol();
	CU_ASSERT_EQUAL_FATAL(fx_volume_make(v, dir, "ext4", "ROVOL", 8, NULL), 0);
	CU_ASSERT_EQUAL_FATAL(t_backup(ctx_fixed, small, "removable://ROVOL/lv", 0, NULL), 0);
	CU_ASSERT_EQUAL_FATAL(fx_volume_remount_ro(v), 0);
	t_events ev;
	CU_ASSERT_EQUAL(t_backup(ctx_fixed, small, "removable://ROVOL/lv", LV_BACKUP_OVERWRITE, &ev), LV_E_IO);
	CU_ASSERT_PTR_NOT_NULL(strstr(ev.end_message, "read-only"));
	CU_ASSERT_EQUAL(t_backup(ctx_fixed, small, "removable://ROVOL/other", 0, &ev), LV_E_IO);
	CU_ASSERT_EQUAL(fx_dir_entries(v->mnt), 2); /* lost+found, lv */
	CU_ASSERT_EQUAL(fx_dir_entries(path("%s/lv", v->mnt)), 2);
	/* reading still works */
	CU_ASSERT_EQUAL(t_verify(ctx_fixed, small, "removable://ROVOL/lv", &ev), 0);
	fx_volume_destroy(v);
}

static void test_fixed_refused(void)
{
	if (skipped("ext4"))
		return;
	fx_volume *v = vol();
	CU_ASSERT_EQUAL_FATAL(fx_volume_make(v, dir, "ext4", "FIXEDDISK", 8, NULL), 0);
	t_events ev;
	CU_ASSERT_EQUAL(t_backup(ctx_plain, small, "removable://FIXEDDISK/lv", 0, &ev), LV_E_BAD_URI);
	CU_ASSERT_PTR_NOT_NULL(strstr(ev.end_message, "fixed disk"));
	CU_ASSERT_PTR_NOT_NULL(strstr(ev.end_message, "allow_fixed"));
	CU_ASSERT_EQUAL(fx_dir_entries(v->mnt), 1); /* lost+found only */
	/* the same volume by UUID is refused too; with allow_fixed it is used */
	CU_ASSERT_EQUAL(t_backup(ctx_plain, small, path("removable://%s/lv", v->uuid), 0, &ev), LV_E_BAD_URI);
	CU_ASSERT_EQUAL(t_backup(ctx_fixed, small, "removable://FIXEDDISK/lv", 0, &ev), 0);
	fx_volume_destroy(v);
}

/* ---- space ---------------------------------------------------------------------- */

static void test_too_small(void)
{
	if (skipped("ext4"))
		return;
	fx_volume *v = vol();
	CU_ASSERT_EQUAL_FATAL(fx_volume_make(v, dir, "ext4", "TINY", 2, NULL), 0);
	lv_store *big = NULL;
	CU_ASSERT_EQUAL_FATAL(lv_store_open(&big, ctx_fixed, big_path, 0), 0);
	t_events ev;
	CU_ASSERT_EQUAL(t_backup(ctx_fixed, big, "removable://TINY/lv", 0, &ev), LV_E_NO_SPACE);
	/* the message names what is needed and what is free */
	char need[32];
	snprintf(need, sizeof need, "%ld bytes", t_file_size(big_path));
	CU_ASSERT_PTR_NOT_NULL(strstr(ev.end_message, need));
	CU_ASSERT_PTR_NOT_NULL(strstr(ev.end_message, "free"));
	CU_ASSERT_EQUAL(fx_dir_entries(path("%s/lv", v->mnt)), 0);
	lv_store_free(big);
	fx_volume_destroy(v);
}

static void fills_mid_run(const char *fstype, const char *label)
{
	if (skipped(fstype))
		return;
	fx_volume *v = vol();
	CU_ASSERT_EQUAL_FATAL(fx_volume_make(v, dir, fstype, label, 8, NULL), 0);
	char uri[200];
	snprintf(uri, sizeof uri, "removable://%s/lv", label);
	CU_ASSERT_EQUAL_FATAL(t_backup(ctx_fixed, small, uri, 0, NULL), 0);
	lv_store *big = NULL;
	CU_ASSERT_EQUAL_FATAL(lv_store_open(&big, ctx_fixed, big_path, 0), 0);
	struct mid m = {act_fill, v, 0, -1, -1, ""};
	int rc = backup_with(ctx_fixed, big, uri, LV_BACKUP_OVERWRITE, &m);
	lv_store_free(big);
	CU_ASSERT_EQUAL(m.act_rc, 0);
	CU_ASSERT_EQUAL(rc, LV_E_NO_SPACE);
	/* the old set is whole and alone: no temporaries, no part of generation 2 */
	char where[800];
	snprintf(where, sizeof where, "%s/lv", v->mnt);
	CU_ASSERT_EQUAL(count_named(where, ".tmp-"), 0);
	CU_ASSERT_EQUAL(count_named(where, "0000000000000002"), 0);
	CU_ASSERT_EQUAL(count_named(where, "0000000000000001.manifest"), 1);
	t_events ev;
	CU_ASSERT_EQUAL(t_verify(ctx_fixed, small, uri, &ev), 0);
	/* with room again (the registry of a restore is written there), the old backup restores */
	CU_ASSERT_EQUAL(unlink(path("%s/filler", v->mnt)), 0);
	CU_ASSERT_EQUAL(restore_check(ctx_fixed, uri, small, path("fill-%s", fstype)), 48);
	fx_volume_destroy(v);
}

static void test_fills_mid_run_ext4(void) { fills_mid_run("ext4", "FULL4"); }
static void test_fills_mid_run_exfat(void) { fills_mid_run("exfat", "FULLX"); }

/* ---- the driver contract ------------------------------------------------------ */

static void conformance(const char *fstype, const char *label)
{
	if (skipped(fstype))
		return;
	fx_volume *v = vol();
	CU_ASSERT_EQUAL_FATAL(fx_volume_make(v, dir, fstype, label, 32, NULL), 0);
	lvc_options o = {8, getenv("LV_TEST_VERBOSE") != NULL, NULL};
	lvc_result res;
	CU_ASSERT_EQUAL(lvc_run(ctx_fixed, path("removable://%s/conf", label), &o, &res), 0);
	CU_ASSERT_EQUAL(res.ran, LVC__N);
	fx_volume_destroy(v);
}

static void test_conformance_ext4(void) { conformance("ext4", "CONF4"); }
static void test_conformance_exfat(void) { conformance("exfat", "CONFX"); }

/* ---- enumeration -------------------------------------------------------------- */

static void test_locations(void)
{
	if (skipped("ext4"))
		return;
	int exfat = !fx_volume_unavailable("exfat");
	fx_volume *a = vol(), *b = exfat ? vol() : NULL;
	CU_ASSERT_EQUAL_FATAL(fx_volume_make(a, dir, "ext4", "LOC A", 8, NULL), 0);
	if (b)
		CU_ASSERT_EQUAL_FATAL(fx_volume_make(b, dir, "exfat", "LOCB", 8, NULL), 0);
	char *out = NULL;
	CU_ASSERT_EQUAL(t_sh(&out, "'%s' --config '%s' locations", T_CLI, cfg_fixed), 0);
	CU_ASSERT_PTR_NOT_NULL(strstr(out, "removable://LOC%20A/"));
	CU_ASSERT_PTR_NOT_NULL(strstr(out, a->uuid));
	CU_ASSERT_PTR_NOT_NULL(strstr(out, a->mnt));
	if (b) {
		CU_ASSERT_PTR_NOT_NULL(strstr(out, "removable://LOCB/"));
		CU_ASSERT_PTR_NOT_NULL(strstr(out, b->uuid));
		CU_ASSERT_PTR_NOT_NULL(strstr(out, "exfat"));
	}
	if (getenv("LV_TEST_VERBOSE"))
		fprintf(stderr, "\n%s", out);
	free(out);
	/* without allow_fixed, loop devices are no candidates */
	CU_ASSERT_EQUAL(t_sh(&out, "'%s' --config '%s' locations", T_CLI, cfg_plain), 0);
	CU_ASSERT_PTR_NULL(strstr(out, "LOC%20A"));
	CU_ASSERT_PTR_NULL(strstr(out, a->uuid));
	free(out);
	fx_volume_destroy(a);
	if (b)
		fx_volume_destroy(b);
}

LV_SUITE(removable, removable, init, clean,
         {"FAT name rules", test_fat_names},
         {"localfs size limit and space check", test_localfs_limits},
         {"bad URIs, unknown label", test_uri_errors},
         {"round trip ext4 by label and UUID", test_round_trip_ext4},
         {"round trip exFAT (FUSE) by label and UUID", test_round_trip_exfat},
         {"two volumes", test_two_volumes},
         {"first writable mount", test_first_writable_mount},
         {"label not mounted", test_not_mounted},
         {"unmounted mid-run ext4", test_unmounted_mid_run_ext4},
         {"unmounted mid-run exFAT", test_unmounted_mid_run_exfat},
         {"read-only mount", test_read_only},
         {"fixed disk refused", test_fixed_refused},
         {"volume too small", test_too_small},
         {"volume fills mid-run ext4", test_fills_mid_run_ext4},
         {"volume fills mid-run exFAT", test_fills_mid_run_exfat},
         {"driver conformance ext4", test_conformance_ext4},
         {"driver conformance exFAT", test_conformance_exfat},
         {"licvault locations", test_locations})
