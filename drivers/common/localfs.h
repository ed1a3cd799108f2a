/*
 * Objects in a local directory, shared by the file and removable drivers:
 * temp + fsync + rename (no-replace unless asked) + directory fsync.
 * Built into each driver (a static library), so drivers stay self-contained.
 */
#ifndef LV_DRIVERS_LOCALFS_H
#define LV_DRIVERS_LOCALFS_H

#include "licvault/driver.h"

typedef struct lv_localfs lv_localfs;

/* Hook called before every write/commit: the removable driver checks the volume is still mounted. */
typedef int (*lv_localfs_guard)(void *ud);

/*
 * Open directory `dir` (absolute).  With LV_OPEN_WRITE it is created (and its
 * parents) when missing; with `fat_names` names are checked against FAT's rules.
 */
int lv_localfs_open(lv_localfs **out, const lv_host *host, lv_host_ctx *h, const char *dir,
                    unsigned flags, int fat_names);
/*
 * Adopt an open directory `dirfd` (closed by lv_localfs_close; -1: the
 * directory does not exist, reads find nothing); `dir` names it in messages.
 * For drivers that resolve the directory themselves (removable).
 */
int lv_localfs_open_fd(lv_localfs **out, const lv_host *host, lv_host_ctx *h, int dirfd,
                       const char *dir, int fat_names);
void lv_localfs_set_guard(lv_localfs *fs, lv_localfs_guard guard, void *ud);
/* write_begin: a size_hint above the free space (fstatvfs) is LV_E_NO_SPACE.  Off by default. */
void lv_localfs_set_space_check(lv_localfs *fs, int on);
/* Objects larger than max bytes (FAT: 4 GiB - 1) are LV_E_NO_SPACE, naming `why` (static). 0: none. */
void lv_localfs_set_max_size(lv_localfs *fs, uint64_t max, const char *why);
const char *lv_localfs_dir(const lv_localfs *fs);
int lv_localfs_dirfd(const lv_localfs *fs);
/* Check a name against FAT/exFAT rules: 0 or LV_E_INVALID_ARG with a reason. */
int lv_localfs_fat_name_ok(const char *name, const char **why);

/* The operations, with an lv_localfs as instance. */
void lv_localfs_close(void *inst);
int lv_localfs_write_begin(void *inst, const char *name, uint64_t size_hint, lv_writer **w);
int lv_localfs_write(lv_writer *w, const void *buf, size_t len);
int lv_localfs_commit(lv_writer *w, unsigned flags);
void lv_localfs_abort(lv_writer *w);
int lv_localfs_read_open(void *inst, const char *name, lv_reader **r);
int lv_localfs_read(lv_reader *r, void *buf, size_t cap, size_t *n);
void lv_localfs_read_close(lv_reader *r);
int lv_localfs_list(void *inst, lv_list_cb cb, void *ud);
int lv_localfs_remove(void *inst, const char *name);
int lv_localfs_stat(void *inst, const char *name, lv_object_info *info);
int lv_localfs_sync(void *inst);
int lv_localfs_space(void *inst, uint64_t *free_bytes, uint64_t *total_bytes);
int lv_localfs_cleanup(void *inst);

#endif
