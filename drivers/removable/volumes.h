/*
 * Mounted volumes: the mount table (/proc/self/mountinfo), each mounted block
 * device identified by libblkid (label, UUID, filesystem), and whether sysfs
 * calls its disk removable or hot-pluggable.  No globals: each call reads the
 * system afresh into a table the caller frees.
 */
#ifndef LV_REMOVABLE_VOLUMES_H
#define LV_REMOVABLE_VOLUMES_H

#include <stddef.h>
#include <sys/types.h>

typedef struct rm_mount {
	int id;                /* mount ID (first field of mountinfo) */
	unsigned maj, min;     /* st_dev of the files on this mount */
	char *root;            /* the volume's directory mounted here ("/" for a whole volume) */
	char *mnt;             /* mount point, unescaped */
	char *mnt_esc;         /* mount point as mountinfo spells it */
	char *fstype;          /* as mounted: ext4, vfat, fuseblk... */
	char *source;
	int ro;                /* mounted read-only (this mount or its superblock) */

	int blk;               /* backed by a block device we could name */
	dev_t bdev;            /* that block device */
	char *devnode;         /* /dev/sdb1 */
	char *label, *uuid;    /* from libblkid, NULL when none */
	char *type;            /* filesystem type from libblkid (exfat under fuseblk), or NULL */
	int removable;         /* sysfs: removable or hot-pluggable disk */
} rm_mount;

typedef struct rm_table {
	rm_mount *m;
	size_t n;
} rm_table;

/* Read the mount table; 0 or -errno. */
int rm_table_read(rm_table *t);
/* Identify each block-device mount (libblkid, sysfs); each device is probed once. */
void rm_table_identify(rm_table *t);
void rm_table_free(rm_table *t);

/* Non-zero when mount `id` of device maj:min is still at mnt_esc in the mount table. */
int rm_mount_present(int id, unsigned maj, unsigned min, const char *mnt_esc);

/* The filesystem type to reason about: libblkid's, else the mount's. */
const char *rm_mount_fstype(const rm_mount *m);

/* Non-zero when sysfs says block device maj:min (or its disk, or all the
 * devices it is built on) is removable or hot-pluggable. */
int rm_dev_removable(unsigned maj, unsigned min);

#endif
