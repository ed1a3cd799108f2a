/*
 * Mounted volumes (see volumes.h).
 */
#include "volumes.h"

#include <blkid.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#define MOUNTINFO "/proc/self/mountinfo"

/* mountinfo escapes space, tab, newline and backslash as \ooo */
/* A decimal number that is the whole of s: 0 with *out, or -1. */
static int parse_uint(const char *s, char stop, unsigned long max, unsigned long *out)
{
	char *end;
	errno = 0;
	unsigned long v = strtoul(s, &end, 10);
	if (end == s || *end != stop || errno || v > max || *s == '-' || *s == '+')
		return -1;
	*out = v;
	return 0;
}

/* "MAJ:MIN" (mountinfo's field 3, sysfs's dev): 0, or -1. */
static int parse_devno(const char *s, unsigned *maj, unsigned *min)
{
	unsigned long a, b;
	const char *colon = strchr(s, ':');
	if (!colon || parse_uint(s, ':', UINT_MAX, &a) || parse_uint(colon + 1, '\0', UINT_MAX, &b))
		return -1;
	*maj = (unsigned)a;
	*min = (unsigned)b;
	return 0;
}

/* A mount ID (mountinfo's field 1): 0, or -1. */
static int parse_id(const char *s, int *id)
{
	unsigned long v;
	if (parse_uint(s, '\0', INT_MAX, &v))
		return -1;
	*id = (int)v;
	return 0;
}

static char *unescape(const char *s)
{
	char *out = malloc(strlen(s) + 1);
	if (!out)
		return NULL;
	char *o = out;
	while (*s) {
		if (s[0] == '\\' && s[1] >= '0' && s[1] <= '3' && s[2] >= '0' && s[2] <= '7' && s[3] >= '0' &&
		    s[3] <= '7') {
			*o++ = (char)((s[1] - '0') * 64 + (s[2] - '0') * 8 + (s[3] - '0'));
			s += 4;
		} else
			*o++ = *s++;
	}
	*o = '\0';
	return out;
}

static int has_opt(const char *opts, const char *opt)
{
	size_t n = strlen(opt);
	for (const char *p = opts; p && *p;) {
		const char *e = strchr(p, ',');
		size_t l = e ? (size_t)(e - p) : strlen(p);
		if (l == n && !strncmp(p, opt, n))
			return 1;
		p = e ? e + 1 : NULL;
	}
	return 0;
}

/* Split a mountinfo line into its fields (in place); returns the count. */
static int split(char *line, char **f, int cap)
{
	int n = 0;
	char *save = NULL;
	for (char *t = strtok_r(line, " \n", &save); t && n < cap; t = strtok_r(NULL, " \n", &save))
		f[n++] = t;
	return n;
}

/*
 * A mountinfo line: ID PARENT MAJ:MIN ROOT MOUNTPOINT OPTS [OPTIONAL...] - FSTYPE SOURCE SUPEROPTS
 * Returns 1 when parsed into *m (strings allocated), 0 when skipped.
 */
static int parse_line(char *line, rm_mount *m)
{
	char *f[64];
	int n = split(line, f, 64);
	if (n < 7)
		return 0;
	int dash = -1;
	for (int i = 6; i < n; i++)
		if (!strcmp(f[i], "-")) {
			dash = i;
			break;
		}
	if (dash < 0 || dash + 2 >= n)
		return 0;
	memset(m, 0, sizeof *m);
	if (parse_id(f[0], &m->id) || parse_devno(f[2], &m->maj, &m->min))
		return 0;
	m->root = unescape(f[3]);
	m->mnt = unescape(f[4]);
	m->mnt_esc = strdup(f[4]);
	m->fstype = strdup(f[dash + 1]);
	m->source = unescape(f[dash + 2]);
	m->ro = has_opt(f[5], "ro") || (dash + 3 < n && has_opt(f[dash + 3], "ro"));
	if (!m->root || !m->mnt || !m->mnt_esc || !m->fstype || !m->source) {
		free(m->root);
		free(m->mnt);
		free(m->mnt_esc);
		free(m->fstype);
		free(m->source);
		return 0;
	}
	return 1;
}

int rm_table_read(rm_table *t)
{
	t->m = NULL;
	t->n = 0;
	FILE *f = fopen(MOUNTINFO, "re");
	if (!f)
		return -errno;
	char *line = NULL;
	size_t cap = 0;
	int rc = 0;
	while (getline(&line, &cap, f) > 0) {
		rm_mount m;
		if (!parse_line(line, &m))
			continue;
		rm_mount *nm = realloc(t->m, (t->n + 1) * sizeof *nm);
		if (!nm) {
			rc = -ENOMEM;
			free(m.root);
			free(m.mnt);
			free(m.mnt_esc);
			free(m.fstype);
			free(m.source);
			break;
		}
		t->m = nm;
		t->m[t->n++] = m;
	}
	free(line);
	fclose(f);
	if (rc)
		rm_table_free(t);
	return rc;
}

void rm_table_free(rm_table *t)
{
	for (size_t i = 0; i < t->n; i++) {
		rm_mount *m = &t->m[i];
		free(m->root);
		free(m->mnt);
		free(m->mnt_esc);
		free(m->fstype);
		free(m->source);
		free(m->devnode);
		free(m->label);
		free(m->uuid);
		free(m->type);
	}
	free(t->m);
	t->m = NULL;
	t->n = 0;
}

int rm_mount_present(int id, unsigned maj, unsigned min, const char *mnt_esc)
{
	FILE *f = fopen(MOUNTINFO, "re");
	if (!f)
		return 0;
	char *line = NULL;
	size_t cap = 0;
	int found = 0;
	while (!found && getline(&line, &cap, f) > 0) {
		char *fl[6];
		if (split(line, fl, 6) < 5)
			continue;
		int i;
		unsigned a, b;
		if (!parse_id(fl[0], &i) && i == id && !parse_devno(fl[2], &a, &b) && a == maj && b == min &&
		    !strcmp(fl[4], mnt_esc))
			found = 1;
	}
	free(line);
	fclose(f);
	return found;
}

const char *rm_mount_fstype(const rm_mount *m)
{
	return m->type ? m->type : m->fstype;
}

/* ---- sysfs ---------------------------------------------------------------- */

static int read_small(const char *path, char *buf, size_t cap)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	ssize_t n = read(fd, buf, cap - 1);
	close(fd);
	if (n < 0)
		return -1;
	buf[n] = '\0';
	while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == ' '))
		buf[--n] = '\0';
	return 0;
}

static int attr_is(const char *dir, const char *attr, const char *want)
{
	char p[PATH_MAX + 64], v[64];
	snprintf(p, sizeof p, "%s/%s", dir, attr);
	return read_small(p, v, sizeof v) == 0 && !strcmp(v, want);
}

static int removable_depth(unsigned maj, unsigned min, int depth)
{
	char link[64], real[PATH_MAX];
	snprintf(link, sizeof link, "/sys/dev/block/%u:%u", maj, min);
	if (depth > 8 || !realpath(link, real))
		return 0;
	/* hot-pluggable buses: the device sits under a USB, FireWire or Memory Stick host */
	if (strstr(real, "/usb") || strstr(real, "/firewire") || strstr(real, "/ieee1394") ||
	    strstr(real, "/memstick"))
		return 1;
	char disk[PATH_MAX];
	snprintf(disk, sizeof disk, "%s", real);
	char p[PATH_MAX + 32];
	snprintf(p, sizeof p, "%s/partition", real);
	if (access(p, F_OK) == 0) {
		char *slash = strrchr(disk, '/');
		if (slash)
			*slash = '\0'; /* a partition: its disk is the parent directory */
	}
	if (attr_is(real, "removable", "1") || attr_is(disk, "removable", "1"))
		return 1;
	/* an SD card (not eMMC) in an MMC slot */
	if (strstr(real, "/mmc") && attr_is(disk, "device/type", "SD"))
		return 1;
	/* device-mapper, md: removable when every device under it is */
	snprintf(p, sizeof p, "%s/slaves", real);
	DIR *d = opendir(p);
	if (!d)
		return 0;
	int n = 0, all = 1;
	struct dirent *de;
	while ((de = readdir(d))) {
		if (de->d_name[0] == '.')
			continue;
		char dp[PATH_MAX], v[32];
		unsigned a, b;
		snprintf(dp, sizeof dp, "/sys/class/block/%s/dev", de->d_name);
		n++;
		if (read_small(dp, v, sizeof v) || parse_devno(v, &a, &b) ||
		    !removable_depth(a, b, depth + 1))
			all = 0;
	}
	closedir(d);
	return n > 0 && all;
}

int rm_dev_removable(unsigned maj, unsigned min)
{
	return removable_depth(maj, min, 0);
}

/* ---- identification --------------------------------------------------------- */

/* The device node of block device maj:min: /dev/NAME from sysfs's uevent. */
static char *devnode_of(unsigned maj, unsigned min)
{
	char p[96], buf[1024];
	snprintf(p, sizeof p, "/sys/dev/block/%u:%u/uevent", maj, min);
	if (read_small(p, buf, sizeof buf))
		return NULL;
	for (char *l = buf; l && *l;) {
		char *e = strchr(l, '\n');
		if (e)
			*e = '\0';
		if (!strncmp(l, "DEVNAME=", 8)) {
			char *out = malloc(strlen(l + 8) + 6);
			if (out)
				sprintf(out, "/dev/%s", l + 8);
			return out;
		}
		l = e ? e + 1 : NULL;
	}
	return NULL;
}

static char *dup_value(blkid_probe pr, const char *name)
{
	const char *v = NULL;
	if (blkid_probe_lookup_value(pr, name, &v, NULL) == 0 && v && *v)
		return strdup(v);
	return NULL;
}

static void probe(rm_mount *m)
{
	blkid_probe pr = blkid_new_probe_from_filename(m->devnode);
	if (pr) {
		blkid_probe_enable_superblocks(pr, 1);
		blkid_probe_set_superblocks_flags(pr, BLKID_SUBLKS_LABEL | BLKID_SUBLKS_UUID | BLKID_SUBLKS_TYPE);
		if (blkid_do_safeprobe(pr) == 0) {
			m->label = dup_value(pr, "LABEL");
			m->uuid = dup_value(pr, "UUID");
			m->type = dup_value(pr, "TYPE");
		}
		blkid_free_probe(pr);
		return;
	}
	/* no read access to the device (not root): what the blkid cache knows of it */
	blkid_cache cache = NULL;
	if (blkid_get_cache(&cache, NULL) < 0)
		return;
	m->label = blkid_get_tag_value(cache, "LABEL", m->devnode);
	m->uuid = blkid_get_tag_value(cache, "UUID", m->devnode);
	m->type = blkid_get_tag_value(cache, "TYPE", m->devnode);
	blkid_put_cache(cache);
}

static char *xdup(const char *s)
{
	return s ? strdup(s) : NULL;
}

void rm_table_identify(rm_table *t)
{
	for (size_t i = 0; i < t->n; i++) {
		rm_mount *m = &t->m[i];
		struct stat st;
		char sys[64];
		/* the block device: the source when it is one, else what maj:min names */
		if (!strncmp(m->source, "/dev/", 5) && stat(m->source, &st) == 0 && S_ISBLK(st.st_mode)) {
			m->bdev = st.st_rdev;
			m->devnode = strdup(m->source);
		} else {
			snprintf(sys, sizeof sys, "/sys/dev/block/%u:%u", m->maj, m->min);
			if (m->maj == 0 || access(sys, F_OK) != 0)
				continue;
			char *node = devnode_of(m->maj, m->min);
			if (!node || stat(node, &st) != 0 || !S_ISBLK(st.st_mode) ||
			    st.st_rdev != makedev(m->maj, m->min)) {
				free(node);
				continue;
			}
			m->bdev = st.st_rdev;
			m->devnode = node;
		}
		if (!m->devnode)
			continue;
		m->blk = 1;
		/* probe each device once */
		const rm_mount *prev = NULL;
		for (size_t j = 0; j < i && !prev; j++)
			if (t->m[j].blk && t->m[j].bdev == m->bdev)
				prev = &t->m[j];
		if (prev) {
			m->label = xdup(prev->label);
			m->uuid = xdup(prev->uuid);
			m->type = xdup(prev->type);
			m->removable = prev->removable;
			continue;
		}
		probe(m);
		m->removable = rm_dev_removable(major(m->bdev), minor(m->bdev));
	}
}
