/*
 * The crypt driver's instance and the internal API between its files:
 *   crypt.c   the driver: URI, config, the operations (objects through the inner location)
 *   keys.c    unlocking the key; key slots and passphrases (the primitives of key management)
 *   control.c key management: the verbs init, passwd, add-key, remove-key, keys, export-key
 *             behind one entry point, lvc_control (ABI 1.1's ops->control)
 *   secret.c  passphrase sources (host-free)
 *   slot.c    the key slot format (host-free)
 *   stream.c  the object format (host-free)
 *   ahead.c   opening a sealed object on a worker thread, ahead of the reads
 */
#ifndef LVC_CRYPT_INT_H
#define LVC_CRYPT_INT_H

#include <stddef.h>
#include <stdint.h>

#include "licvault/driver.h"
#include "secret.h"
#include "slot.h"
#include "stream.h"

/* Defaults of new key slots: libsodium's interactive class (crypto_pwhash_*_INTERACTIVE). */
#define LVC_DEFAULT_OPS 2ull
#define LVC_DEFAULT_MEM (64ull << 20)

/* Everything the driver reads from its config (crypt_read_config, the one place that does). */
typedef struct lvc_config {
	const char *passphrase_file;     /* valid until close, or NULL */
	const char *passphrase_command;
	uint64_t opslimit, memlimit;     /* Argon2id limits for new key slots */
	int threads;                     /* open sealed objects on a worker thread (ahead.c) */
} lvc_config;

/* The unlocked key of a location. */
typedef struct lvc_keyring {
	unsigned char *key;              /* LVC_KEYBYTES, sodium_malloc'd, read-only once set */
	lvc_key k;                       /* k.key == key; its key ID; the location's ID */
	char slot[LVC_SLOT_NAME_LEN + 1];/* the slot the passphrase opened */
} lvc_keyring;

typedef struct lvc_inst {
	const lv_host *host;
	lv_host_ctx *h;
	unsigned flags;
	char *uri;                       /* the whole URI, for messages */
	char *inner;                     /* the inner location's URI */
	lv_location *loc;
	const lv_driver_ops *iops;
	void *iinst;
	lvc_config cfg;
	lvc_keyring *kr;                 /* NULL until unlocked */
	int unlock_rc;                   /* a failed unlock, said again on each later attempt */
	char unlock_why[700];
} lvc_inst;

/* Result lines of a control verb (the future ops->control's emit). */
typedef void (*lvc_emit_fn)(const char *line, void *ud);

/* ---- keys.c: unlocking, and the primitives of key management ---- */

#define LVC_MAX_SLOTS 64u           /* key slots considered at a location (the first, by name) */

typedef struct lvc_slot_ent {
	char name[LVC_SLOT_NAME_LEN + 1];
	unsigned char buf[LVC_SLOT_SIZE];
	lvc_slot_info info;
	int rc;                          /* 0, or LV_E_BACKUP_CORRUPT: damaged (why) */
	char why[300];
} lvc_slot_ent;

typedef struct lvc_slot_set {
	unsigned n;
	lvc_slot_ent e[LVC_MAX_SLOTS];
} lvc_slot_set;

/* Names at the inner location, sorted: key slots (slots = 1) or sealed objects (0). */
typedef struct lvc_names {
	unsigned n, max;
	char (*v)[LVC_NAME_MAX + 1];    /* malloc'd: free(ns.v) */
	int slots;
} lvc_names;
int lvc_list_names(lvc_inst *c, int slots, lvc_names *ns);

/* A whole small object of the inner location (at most cap bytes; *len = cap + 1: longer); a new one. */
int lvc_inner_get(lvc_inst *c, const char *name, unsigned char *buf, size_t cap, size_t *len);
int lvc_inner_put(lvc_inst *c, const char *name, const void *buf, size_t len);

/* Read and parse every key slot (a damaged one has rc set); free(*out). */
int lvc_slots_load(lvc_inst *c, lvc_slot_set **out);
/* A slot by name or by its 16 hex digits. */
lvc_slot_ent *lvc_slot_find(lvc_slot_set *set, const char *id);

/*
 * A passphrase, described errors.  LVC_PASS_CURRENT: the location's
 * (passphrase_file, passphrase_command, $LICVAULT_PASSPHRASE, then asking
 * the user); LVC_PASS_INIT: the same for a first key slot (asked twice);
 * LVC_PASS_NEW: a new one (new_file, new_command, $LICVAULT_NEW_PASSPHRASE,
 * then asking twice).
 */
enum { LVC_PASS_CURRENT = 0, LVC_PASS_INIT = 1, LVC_PASS_NEW = 2 };
int lvc_passphrase(lvc_inst *c, int which, const char *new_file, const char *new_command, lvc_secret *out);

/* Write slot `name` wrapping key for pass (the config's KDF limits), read it back, check it opens. */
int lvc_slot_write(lvc_inst *c, const char *name, const unsigned char *key, const unsigned char *loc,
                   const lvc_secret *pass, const char *label);
/* A random slot name (never the first slot's). */
void lvc_slot_new_name(char out[LVC_SLOT_NAME_LEN + 1]);

/*
 * Initialize a location without key slots: its first slot for the
 * location's passphrase, wrapping `key` (NULL: a new random key) with
 * location ID `loc` (NULL: a new one); the keyring is set.  LV_E_EXISTS when
 * another run wrote the first slot meanwhile.
 */
int lvc_init_location(lvc_inst *c, const unsigned char *key, const unsigned char *loc, const char *label);

/*
 * Have the location's key: open a key slot with the passphrase (once per
 * instance).  may_init: a location without key slots is initialized (a
 * first backup).  Errors are described: AUTH (wrong passphrase), CONFIG
 * (no passphrase source), BACKUP_CORRUPT (slots damaged, changed, missing,
 * or disagreeing), the inner driver's.
 */
int lvc_unlock(lvc_inst *c, int may_init);
void lvc_keyring_free(lvc_keyring *kr);

/* ---- control.c: the key management verbs ---- */

/*
 * Key management, shaped as ABI 1.1's ops->control: run `verb` with string
 * arguments ("name=value"; remove-key also takes a bare slot ID) on an open
 * instance, emitting result lines.  Verbs: init, passwd, add-key,
 * remove-key, keys, export-key (docs/drivers/crypt.md, "Key management").
 * 0 or a described error; on error nothing more is emitted.
 */
int lvc_control(void *inst, const char *verb, const char *const *args, size_t nargs, lvc_emit_fn emit, void *ud);

#endif
