/*
 * Passphrases and their sources (docs/drivers/crypt.md, "Passphrase
 * sources"): a file that only its owner may read, a command run without a
 * shell whose standard output is read, an environment variable.  The
 * secret lives in sodium_malloc'd memory (guarded, locked, wiped when
 * freed).  No host here: each function says why it failed in `why`, which
 * never holds the secret; the caller describes the error.
 */
#ifndef LVC_SECRET_H
#define LVC_SECRET_H

#include <stddef.h>

#define LVC_SECRET_MAX 4096u     /* bytes a source may give; the secret is its first line */

typedef struct lvc_secret {
	unsigned char *p;            /* sodium_malloc'd, LVC_SECRET_MAX + 1 bytes; NULL when empty */
	size_t len;
} lvc_secret;

/* Room for a secret (LVC_SECRET_MAX + 1 bytes, len 0): 0 or LV_E_NOMEM. */
int lvc_secret_alloc(lvc_secret *s);
/* Wipe and free; an empty secret is fine. */
void lvc_secret_free(lvc_secret *s);

/*
 * The first line (whole: all of it) of a regular file that neither group
 * nor others may access (mode & 077 == 0).  LV_E_CONFIG (missing, too
 * open, empty, too long), LV_E_NOMEM.
 */
int lvc_secret_from_file(const char *path, int whole, lvc_secret *out, char *why, size_t cap);

/*
 * Split `command` into words (whitespace; '...' literal; "..." with \" and
 * \\; \c outside quotes) and run it with posix_spawnp: no shell, stdin
 * /dev/null, stdout read (at most LVC_SECRET_MAX bytes), stderr inherited,
 * the environment without LICVAULT_PASSPHRASE and LICVAULT_NEW_PASSPHRASE.
 * The child is always reaped; `canceled` (may be NULL) is polled while it
 * runs and kills it.  LV_E_CONFIG (cannot run, fails, prints nothing),
 * LV_E_CANCELED, LV_E_NOMEM.
 */
int lvc_secret_from_command(const char *command, int (*canceled)(void *), void *cud, lvc_secret *out, char *why,
                            size_t cap);

/* The value of environment variable `name` (secure_getenv): 0, LV_E_NOT_FOUND when unset, LV_E_CONFIG when empty. */
int lvc_secret_from_env(const char *name, lvc_secret *out, char *why, size_t cap);

/* Split a command line into a NULL-terminated argv (malloc'd, lvc_argv_free).  LV_E_CONFIG with why, LV_E_NOMEM. */
int lvc_argv_split(const char *command, char ***argv, char *why, size_t cap);
void lvc_argv_free(char **argv);

#endif
