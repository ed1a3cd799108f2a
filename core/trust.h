/*
 * trust: which files the library trusts to configure it or to run their
 * code, judged as OpenSSH judges its config files (StrictModes): owned by
 * root or by the caller, writable by no one else; and, for a driver, an ELF
 * shared object of this process's kind, checked before dlopen.  Above error.
 *
 * "The caller" is the effective user (in a set-user-ID program, the user the
 * program runs as, never the one who started it).
 */
#ifndef LV_CORE_TRUST_H
#define LV_CORE_TRUST_H

#include <stddef.h>
#include <sys/stat.h>

#include "error.h"

/* Owned by root or the caller?  0, or LV_E_CONFIG with why naming path and its owner. */
int lv__trust_owner(const char *path, const struct stat *st, char *why, size_t cap);

/*
 * May the caller trust a file or directory with this status?  Owned by root
 * or the caller; not writable by others; writable by its group only when
 * the group is the owner's own private group (same name, no other member).
 * `ancestor`: a directory above the one that matters, which may also be
 * writable by others when sticky (/tmp).  0, or LV_E_CONFIG with why naming
 * path, its owner or mode, and the fix.
 */
int lv__trust_stat(const char *path, const struct stat *st, int ancestor, char *why, size_t cap);

/*
 * dir (absolute; symbolic links are resolved first) and every directory
 * above it, up to "/", by lv__trust_stat.  holds_file: dir is where a file
 * that matters lies (a config file), not the folder whose every entry
 * matters (a driver folder), so dir itself may be sticky and writable by
 * others (/tmp: nobody else can rename or replace what is ours there).  0,
 * or LV_E_CONFIG with why naming the first one refused.
 */
int lv__trust_dirs(const char *dir, int holds_file, char *why, size_t cap);

/*
 * A config file: a regular file (or /dev/null, an empty config), trusted,
 * in trusted directories (both the directory it is named in and the one
 * it lies in, when it is a symbolic link).  0, LV_E_NOT_FOUND, or
 * LV_E_CONFIG, with why.
 */
int lv__trust_config_file(const char *path, char *why, size_t cap);

/*
 * A driver file, before anything of it runs: opened without following a
 * final symbolic link and without blocking; a regular file; trusted; and
 * an ELF shared object of this process's class, byte order and machine,
 * whose program headers and loadable segments lie inside the file (dlopen
 * maps the segments: a truncated file would raise SIGBUS).  Its directory
 * is checked by the caller (lv__trust_dirs).  0, or an error with why.
 */
int lv__trust_driver_file(const char *path, char *why, size_t cap);

#endif
