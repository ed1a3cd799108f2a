/*
 * Key slots (docs/drivers/crypt.md, "Key slots"): the location's data key
 * wrapped by a key derived from a passphrase (Argon2id), one 256-byte
 * object per slot, written once.  Pure libsodium, no host.
 */
#ifndef LVC_SLOT_H
#define LVC_SLOT_H

#include <stddef.h>
#include <stdint.h>

#include "stream.h"

#define LVC_SLOT_MAGIC "LVCRKEY\n"
#define LVC_SLOT_SIZE 256u
#define LVC_SLOT_PREFIX "licvault-crypt-key-"          /* + 16 hex digits: the slot's name */
#define LVC_SLOT_NAME_LEN (sizeof LVC_SLOT_PREFIX - 1 + 16)
#define LVC_LABEL_MAX 64u

/* The KDF parameters a slot may carry (and config may choose). */
#define LVC_OPS_MIN 1ull
#define LVC_OPS_MAX 32ull
#define LVC_MEM_MIN 8192ull
#define LVC_MEM_MAX (1ull << 30)

/* What a slot says in plain (authenticated) text. */
typedef struct lvc_slot_info {
	uint64_t opslimit, memlimit;
	int64_t created;
	char label[LVC_LABEL_MAX + 1];
	unsigned char loc_id[LVC_IDBYTES];
} lvc_slot_info;

/* 1 when name is a key slot's name (LVC_SLOT_PREFIX + 16 lower-case hex). */
int lvc_slot_name_ok(const char *name);

/*
 * Check a slot object's checksum, magic, version and fields: 0 and *info,
 * or LV_E_BACKUP_CORRUPT with why.
 */
int lvc_slot_parse(const unsigned char *buf, size_t len, lvc_slot_info *info, char *why, size_t cap);

/*
 * Unwrap the data key of a parsed slot named `name` with a passphrase:
 * 0 (key_out: LVC_KEYBYTES), LV_E_AUTH (the passphrase is not this slot's),
 * LV_E_BACKUP_CORRUPT (the passphrase is this slot's but the wrapped key
 * does not verify: the slot was changed), LV_E_NOMEM (Argon2id's memory).
 */
int lvc_slot_open(const unsigned char *buf, const char *name, const unsigned char *pass, size_t plen,
                  unsigned char *key_out);

/* Make a slot named `name` wrapping `key` (LV_E_NOMEM, LV_E_INVALID_ARG for a bad label or limits). */
int lvc_slot_make(unsigned char out[LVC_SLOT_SIZE], const char *name, const unsigned char *key,
                  const unsigned char loc_id[LVC_IDBYTES], const unsigned char *pass, size_t plen,
                  uint64_t opslimit, uint64_t memlimit, int64_t created, const char *label);

/* 1 when a label may be stored: at most 64 printable ASCII characters. */
int lvc_label_ok(const char *label);

#endif
