/*
 * Loop-mounted test volumes (see fixture_volume.h).
 */
#include "fixture_volume.h"
#include "testutil.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/loop.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include "testutil.h"

#define FX_MAX 32

static fx_volume *made[FX_MAX];
static int hooks_set;

static void trim(char *s)
{
	size_t n = strlen(s);
	while (n && (s[n - 1] == '\n' || s[n - 1] == ' ' || s[n - 1] == '\r'))
		s[--n] = '\0';
}

static int have(const char *prog)
{
	char *out = NULL;
	int rc = t_sh(&out, "command -v %s", prog);
	free(out);
	return rc == 0;
}

const char *fx_namespace(void)
{
	static int state; /* 0: not tried, 1: in it, 2: failed */
	static char why[256];
	if (state == 1)
		return NULL;
	if (state == 2)
		return why;
	state = 2;
	if (geteuid() != 0) {
		snprintf(why, sizeof why, "not root: cannot make loop devices or mounts");
		return why;
	}
	if (unshare(CLONE_NEWNS) != 0) {
		snprintf(why, sizeof why, "unshare(CLONE_NEWNS): %s", strerror(errno));
		return why;
	}
	if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) != 0) {
		snprintf(why, sizeof why, "making / private in the new mount namespace: %s", strerror(errno));
		return why;
	}
	state = 1;
	return NULL;
}

const char *fx_volume_unavailable(const char *fstype)
{
	if (!have("losetup"))
		return "no losetup (util-linux)";
	if (access("/dev/loop-control", F_OK) != 0)
		return "no /dev/loop-control: loop devices cannot be made here";
	if (!strcmp(fstype, "ext4"))
		return have("mkfs.ext4") ? NULL : "no mkfs.ext4 (e2fsprogs)";
	if (!strcmp(fstype, "exfat")) {
		if (!have("mkfs.exfat"))
			return "no mkfs.exfat (exfatprogs)";
		if (!have("mount.exfat-fuse"))
			return "no mount.exfat-fuse (exfat-fuse)";
		if (access("/dev/fuse", R_OK | W_OK) != 0)
			return "no usable /dev/fuse: FUSE mounts cannot be made here";
		return NULL;
	}
	return "unknown filesystem type";
}

/* Is /dev/loopN still backed by our image? (async-signal-safe: open/read/close) */
static int loop_is_ours(const fx_volume *v)
{
	const char *name = strrchr(v->dev, '/');
	if (!name)
		return 0;
	char p[128];
	snprintf(p, sizeof p, "/sys/block/%s/loop/backing_file", name + 1);
	int fd = open(p, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return 0;
	char buf[600];
	ssize_t n = read(fd, buf, sizeof buf - 1);
	close(fd);
	if (n <= 0)
		return 0;
	buf[n] = '\0';
	size_t l = strlen(v->img);
	return !strncmp(buf, v->img, l) && (buf[l] == '\n' || buf[l] == ' ' || buf[l] == '\0');
}

static void loop_detach(fx_volume *v)
{
	if (!v->attached || !loop_is_ours(v))
		return;
	int fd = open(v->dev, O_RDONLY | O_CLOEXEC);
	if (fd >= 0) {
		ioctl(fd, LOOP_CLR_FD, 0); /* busy: the kernel detaches it on its last close */
		close(fd);
	}
}

static void forget(fx_volume *v)
{
	for (int i = 0; i < FX_MAX; i++)
		if (made[i] == v)
			made[i] = NULL;
}

/* Teardown with plain system calls only, for exit and fatal signals. */
static void teardown(fx_volume *v, int wait)
{
	if (v->mounted) {
		if (umount2(v->mnt, 0) != 0)
			umount2(v->mnt, MNT_DETACH);
		v->mounted = 0;
	}
	/* the loop device detaches itself once its filesystem is gone (a FUSE daemon may take a moment) */
	for (int i = 0; wait && i < 100 && v->attached && loop_is_ours(v); i++)
		usleep(50 * 1000);
	loop_detach(v);
	v->attached = 0;
	unlink(v->img);
	rmdir(v->mnt);
}

void fx_volume_destroy_all(void)
{
	for (int i = 0; i < FX_MAX; i++)
		if (made[i]) {
			fx_volume *v = made[i];
			made[i] = NULL;
			teardown(v, 1);
		}
}

static void on_fatal(int sig)
{
	for (int i = 0; i < FX_MAX; i++)
		if (made[i]) {
			teardown(made[i], 0);
			made[i] = NULL;
		}
	signal(sig, SIG_DFL);
	raise(sig);
}

static void set_hooks(void)
{
	if (hooks_set)
		return;
	hooks_set = 1;
	atexit(fx_volume_destroy_all);
	int sigs[] = {SIGSEGV, SIGABRT, SIGBUS, SIGINT, SIGTERM, SIGFPE};
	for (size_t i = 0; i < sizeof sigs / sizeof sigs[0]; i++)
		signal(sigs[i], on_fatal);
}

static int remember(fx_volume *v)
{
	for (int i = 0; i < FX_MAX; i++)
		if (!made[i]) {
			made[i] = v;
			return 0;
		}
	return -1;
}

int fx_volume_make(fx_volume *v, const char *dir, const char *fstype, const char *label, unsigned mib,
                   const char *opts)
{
	memset(v, 0, sizeof *v);
	set_hooks();
	snprintf(v->fstype, sizeof v->fstype, "%s", fstype);
	snprintf(v->label, sizeof v->label, "%s", label);
	snprintf(v->img, sizeof v->img, "%s/%s.img", dir, label);
	snprintf(v->mnt, sizeof v->mnt, "%s/mnt-%s", dir, label);
	if (remember(v)) {
		fprintf(stderr, "fixture: too many volumes\n");
		return -1;
	}
	char *out = NULL;
	int rc = t_sh(&out, "truncate -s %uM '%s' && mkdir -p '%s'", mib, v->img, v->mnt);
	if (rc) {
		fprintf(stderr, "fixture: cannot make %s: %s\n", v->img, out);
		goto fail;
	}
	free(out);
	rc = t_sh(&out, "losetup -f --show '%s'", v->img);
	if (rc || strncmp(out, "/dev/loop", 9) != 0) {
		fprintf(stderr, "fixture: losetup -f --show %s: %s\n", v->img, out);
		goto fail;
	}
	trim(out);
	snprintf(v->dev, sizeof v->dev, "%s", out);
	v->attached = 1;
	free(out);
	if (!strcmp(fstype, "ext4"))
		rc = t_sh(&out, "mkfs.ext4 -q -F -m 0 -L '%s' '%s'", label, v->dev);
	else
		rc = t_sh(&out, "mkfs.exfat -L '%s' '%s'", label, v->dev);
	if (rc) {
		fprintf(stderr, "fixture: mkfs %s on %s: %s\n", fstype, v->dev, out);
		goto fail;
	}
	free(out);
	rc = t_sh(&out, "blkid -p -o value -s UUID '%s'", v->dev);
	trim(out);
	snprintf(v->uuid, sizeof v->uuid, "%s", out);
	free(out);
	if (!strcmp(fstype, "ext4"))
		rc = t_sh(&out, "mount -t ext4 %s%s '%s' '%s'", opts ? "-o " : "", opts ? opts : "", v->dev, v->mnt);
	else
		rc = t_sh(&out, "mount.exfat-fuse %s%s '%s' '%s' </dev/null", opts ? "-o " : "", opts ? opts : "",
		          v->dev, v->mnt);
	if (rc) {
		fprintf(stderr, "fixture: mount %s %s on %s: %s\n", fstype, v->dev, v->mnt, out);
		goto fail;
	}
	free(out);
	v->mounted = 1;
	/* from now on the loop device goes away by itself when the filesystem is unmounted,
	 * even if this process dies (its mount namespace dies with it) */
	rc = t_sh(&out, "losetup -d '%s'", v->dev);
	free(out);
	out = NULL;
	return 0;
fail:
	free(out);
	forget(v);
	teardown(v, 0);
	return -1;
}

int fx_volume_umount(fx_volume *v, int lazy)
{
	if (!v->mounted)
		return 0;
	if (umount2(v->mnt, lazy ? MNT_DETACH : 0) != 0) {
		fprintf(stderr, "fixture: umount %s: %s\n", v->mnt, strerror(errno));
		return -1;
	}
	v->mounted = 0;
	return 0;
}

int fx_volume_remount_ro(fx_volume *v)
{
	char *out = NULL;
	int rc = t_sh(&out, "mount -o remount,ro '%s'", v->mnt);
	if (rc)
		fprintf(stderr, "fixture: remount,ro %s: %s\n", v->mnt, out);
	free(out);
	return rc ? -1 : 0;
}

void fx_volume_destroy(fx_volume *v)
{
	forget(v);
	teardown(v, 1);
}

int fx_dir_entries(const char *dir)
{
	return t_count_entries(dir, NULL, 0);
}
