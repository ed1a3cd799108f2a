/*
 * lfs: objects in a local directory, shared by the file and removable
 * drivers: temp + fsync + rename (no-replace unless asked) + directory fsync.
 * Built into each driver (a static library), so drivers stay self-contained.
 *
 * It uses the host services of driver ABI 1.1 (the drivers ship with this
 * host): name_valid for object names, track/untrack for every writer and
 * reader it hands out (the host aborts writers and closes readers left open
 * before the driver's close), protected_file before replacing or removing.
 */
#ifndef LV_DRIVERS_LOCALFS_H
#define LV_DRIVERS_LOCALFS_H

#include "licvault/driver.h"

typedef struct lfs lfs;

/* Hook called before every write/commit/remove: the removable driver checks the volume is still mounted. */
typedef int (*lfs_guard_fn)(void *ud);

/*
 * Open directory `dir` (absolute).  With LV_OPEN_WRITE it is created (and its
 * parents) when missing; with `fat_names` names are checked against FAT's rules.
 */
int lfs_open(lfs **out, const lv_host *host, lv_host_ctx *h, const char *dir, unsigned flags, int fat_names);
/*
 * Adopt an open directory `dirfd` (closed by lfs_close; -1: the
 * directory does not exist, reads find nothing); `dir` names it in messages.
 * For drivers that resolve the directory themselves (removable).
 */
int lfs_open_fd(lfs **out, const lv_host *host, lv_host_ctx *h, int dirfd, const char *dir, int fat_names);
void lfs_set_guard(lfs *fs, lfs_guard_fn guard, void *ud);
/* write_begin: a size_hint above the free space (fstatvfs) is LV_E_NO_SPACE.  Off by default. */
void lfs_set_space_check(lfs *fs, int on);
/* Objects larger than max bytes (FAT: 4 GiB - 1) are LV_E_NO_SPACE, naming `why` (static). 0: none. */
void lfs_set_max_size(lfs *fs, uint64_t max, const char *why);
const char *lfs_dir(const lfs *fs);
int lfs_dirfd(const lfs *fs);
/* Check a name against FAT/exFAT rules: 0 or LV_E_INVALID_ARG with a reason. */
int lfs_fat_name_ok(const char *name, const char **why);

/* The operations, with an lfs as instance. */
void lfs_close(void *inst);
int lfs_write_begin(void *inst, const char *name, uint64_t size_hint, lv_writer **w);
int lfs_write(lv_writer *w, const void *buf, size_t len);
int lfs_commit(lv_writer *w, unsigned flags);
void lfs_abort(lv_writer *w);
int lfs_read_open(void *inst, const char *name, lv_reader **r);
int lfs_read(lv_reader *r, void *buf, size_t cap, size_t *n);
void lfs_read_close(lv_reader *r);
int lfs_list(void *inst, lv_list_cb cb, void *ud);
int lfs_remove(void *inst, const char *name);
int lfs_stat(void *inst, const char *name, lv_object_info *info);
int lfs_sync(void *inst);
int lfs_space(void *inst, uint64_t *free_bytes, uint64_t *total_bytes);
int lfs_cleanup(void *inst);

#endif
