/*
 * store_file: the files of the default store on disk.  Where a new store
 * lands (its path, or the end of its chain of symbolic links, each link
 * owned by root or the caller); the private file a new store is built in,
 * mode 0600, and published by link(2) once its first transaction commits
 * (so a store whose first transaction fails leaves no file); the private
 * copy a read-only open reads when the store cannot be opened where it is
 * and its write-ahead log holds changes; the free space of its filesystem.
 * Above context.
 */
#ifndef LV_CORE_STORE_FILE_H
#define LV_CORE_STORE_FILE_H

#include <stddef.h>
#include <stdint.h>

#include "error.h"

/*
 * The file a store at path is: path itself, or where its chain of
 * symbolic links ends (it may not exist yet).  A link that belongs to
 * another user than root or the caller is refused (LV_E_CONFIG): it could
 * put the licenses anywhere.  *target is malloc'd.
 */
int lv__store_file_target(const char *path, char **target, lv_err *err);

/*
 * A new store's private file: its path, and a descriptor that holds an
 * flock(2) on it for as long as it lives (valid while path is set).
 */
typedef struct lv_store_new {
	char *path;
	int hold;
} lv_store_new;

/*
 * A new, empty private file beside target (".NAME.new-XXXXXX", mode 0600
 * whatever the umask), its missing parent folders made (0700).  Every step
 * is checked (LV_E_NO_SPACE for a full filesystem).  First, such files of
 * the same NAME that a crash left (no process holds them, untouched for a
 * minute, the caller's own regular files) are removed with their SQLite side
 * files.  out->path is malloc'd.
 */
int lv__store_file_create(const char *target, lv_store_new *out, lv_err *err);

/*
 * Publish n as target: link(2), which never replaces a file (LV_E_BUSY
 * when another connection created target meanwhile), then n's file removed
 * and the folder synced.  n is removed and released either way.
 */
int lv__store_file_publish(lv_store_new *n, const char *target, lv_err *err);

/* Remove n's file and side files, and release it (nothing when it has no path). */
void lv__store_file_discard(lv_store_new *n);

/* Remove a store file and its -journal, -wal and -shm (cleanup: errors ignored). */
void lv__store_file_remove(const char *path);

/* Does path have a -wal file that is not empty (changes not yet in the database file)? */
int lv__store_file_has_wal(const char *path);
/* Does path have a -shm file (SQLite's WAL index, made by the first connection)? */
int lv__store_file_has_shm(const char *path);
/*
 * The suffix ("-wal", "-shm", "-journal") of a companion file of path that
 * is there but no regular file (a link, a FIFO: SQLite would fail on it, or
 * unlink it at close), with what it is in *what; NULL when there is none.
 */
const char *lv__store_file_odd_companion(const char *path, const char **what);

/*
 * Copy the store at path and its -wal into a new private folder under
 * $TMPDIR (or /tmp): *copy gets the copy of the store, to open instead.
 * Free it with lv__store_file_copy_free.
 */
int lv__store_file_copy(const char *path, char **copy, lv_err *err);
void lv__store_file_copy_free(char *copy);

/*
 * Less free space than this where a store lies is a full filesystem: SQLite's -shm takes 32 KiB
 * and the first write to its -wal a page or two.  A restore needs this much besides its licenses.
 */
#define LV_STORE_FILE_SLACK ((uint64_t)256 * 1024)
/* Bytes free for the caller on the filesystem that holds, or would hold, path; UINT64_MAX when unknown. */
uint64_t lv__store_file_free(const char *path);

/* n bytes as text for people ("2.0 MiB (2097152 bytes)"). */
void lv__store_file_bytes(char *buf, size_t cap, uint64_t n);

#endif
