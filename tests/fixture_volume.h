/*
 * A test fixture: real filesystems on loop devices, mounted in a private
 * mount namespace so no mount the tests make is seen outside the test
 * process.
 *
 *   fx_namespace()            enter the private namespace (once; needs root)
 *   fx_volume_make(...)       image file -> loop device -> mkfs -L -> mount
 *   fx_volume_destroy(v)      unmount, detach the loop device, remove the image
 *
 * Loop devices are global: each one is marked to detach itself when its
 * filesystem is unmounted (losetup -d on a busy device), and every volume
 * still known is torn down by fx_volume_destroy_all(), which also runs at
 * exit and on a fatal signal.  A loop device is only ever detached after
 * checking that it is still backed by our image file.
 */
#ifndef LV_FIXTURE_VOLUME_H
#define LV_FIXTURE_VOLUME_H

typedef struct fx_volume {
	char fstype[16];    /* "ext4" or "exfat" (mounted through FUSE: fuseblk) */
	char label[64];
	char uuid[64];      /* as blkid reports it */
	char img[512];      /* the image file */
	char dev[64];       /* /dev/loopN */
	char mnt[512];      /* the mount point */
	int attached;       /* the loop device is ours until it detaches itself */
	int mounted;
} fx_volume;

/* Enter a private mount namespace (the first call does it).  NULL, or why it cannot be done. */
const char *fx_namespace(void);

/* NULL when volumes of fstype can be made here, else why not (a fixed string). */
const char *fx_volume_unavailable(const char *fstype);

/*
 * Make a volume of `mib` MiB formatted `fstype` ("ext4" or "exfat") with
 * `label`, its image and mount point under `dir`, mounted with `opts`
 * ("ro", or NULL).  0, or -1 with the reason printed on stderr (and nothing
 * left behind).
 */
int fx_volume_make(fx_volume *v, const char *dir, const char *fstype, const char *label, unsigned mib,
                   const char *opts);

/* Unmount (lazily with `lazy`): the loop device then detaches itself.  0 or -1. */
int fx_volume_umount(fx_volume *v, int lazy);

/* Remount read-only (ext4).  0 or -1. */
int fx_volume_remount_ro(fx_volume *v);

/* Unmount, wait for the loop device to go (detach it if it did not), remove the image. */
void fx_volume_destroy(fx_volume *v);

/* Destroy every volume made and not yet destroyed. */
void fx_volume_destroy_all(void);

/* Number of entries (hidden ones too) in a directory; -1 when it cannot be read. */
int fx_dir_entries(const char *dir);

#endif
