/*
 * Key slots (slot.h).  Layout, 256 bytes, integers little-endian:
 *
 *     0  magic "LVCRKEY\n"                 8  u32 version = 1
 *    12  u32 KDF = 2 (Argon2id 1.3)       16  u64 opslimit      24  u64 memlimit
 *    32  salt (16)                        48  location ID (16)
 *    64  i64 created (seconds)            72  label (64, NUL-padded printable ASCII)
 *   136  check (16): BLAKE2b-128 keyed by the KEK of "licvault-crypt passphrase check"
 *   152  nonce (24)
 *   176  wrapped data key (48): XChaCha20-Poly1305-IETF under the KEK,
 *        associated data = bytes 0..175 || the slot's object name
 *   224  checksum (32): BLAKE2b-256 of bytes 0..223
 *
 * KEK = Argon2id(passphrase, salt, opslimit, memlimit), 32 bytes.
 *
 * The checksum tells damage from a wrong passphrase; the check tells a
 * wrong passphrase from a slot that was changed (its wrapped key or any
 * field then fails authentication with the right passphrase).
 */
#include "slot.h"

#include <stdio.h>
#include <string.h>

#include <sodium.h>

#include "licvault/common.h"

#define OFF_VERSION 8
#define OFF_KDF 12
#define OFF_OPS 16
#define OFF_MEM 24
#define OFF_SALT 32
#define OFF_LOC 48
#define OFF_CREATED 64
#define OFF_LABEL 72
#define OFF_CHECK 136
#define OFF_NONCE 152
#define OFF_WRAPPED 176
#define OFF_SUM 224
#define WRAPPED_LEN (LVC_KEYBYTES + crypto_aead_xchacha20poly1305_ietf_ABYTES)
#define CHECK_LEN 16u

_Static_assert(OFF_SUM + 32 == LVC_SLOT_SIZE, "slot size");
_Static_assert(OFF_WRAPPED + WRAPPED_LEN == OFF_SUM, "wrapped key");
_Static_assert(crypto_pwhash_argon2id_SALTBYTES == 16, "salt");
_Static_assert(crypto_aead_xchacha20poly1305_ietf_NPUBBYTES == 24, "nonce");

static const char check_context[] = "licvault-crypt passphrase check";

static void put_u64(unsigned char *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (unsigned char)(v >> (8 * i));
}

static void put_u32(unsigned char *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (unsigned char)(v >> (8 * i));
}

static uint32_t get_u32(const unsigned char *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint64_t get_u64(const unsigned char *p)
{
	uint64_t v = 0;
	for (int i = 7; i >= 0; i--)
		v = v << 8 | p[i];
	return v;
}

int lvc_slot_name_ok(const char *name)
{
	size_t pl = sizeof LVC_SLOT_PREFIX - 1;
	if (strlen(name) != LVC_SLOT_NAME_LEN || strncmp(name, LVC_SLOT_PREFIX, pl) != 0)
		return 0;
	for (size_t i = pl; name[i]; i++)
		if (!((name[i] >= '0' && name[i] <= '9') || (name[i] >= 'a' && name[i] <= 'f')))
			return 0;
	return 1;
}

int lvc_label_ok(const char *label)
{
	size_t n = strlen(label);
	if (n > LVC_LABEL_MAX)
		return 0;
	for (size_t i = 0; i < n; i++)
		if (label[i] < 0x20 || label[i] > 0x7e)
			return 0;
	return 1;
}

int lvc_slot_parse(const unsigned char *buf, size_t len, lvc_slot_info *info, char *why, size_t cap)
{
	unsigned char sum[32];
	if (len != LVC_SLOT_SIZE) {
		snprintf(why, cap, "authentication failed: it is %zu bytes, a key slot is %u", len, LVC_SLOT_SIZE);
		return LV_E_BACKUP_CORRUPT;
	}
	crypto_generichash(sum, sizeof sum, buf, OFF_SUM, NULL, 0);
	if (sodium_memcmp(sum, buf + OFF_SUM, sizeof sum) != 0) {
		snprintf(why, cap, "authentication failed: its checksum does not match (the slot is damaged or was changed)");
		return LV_E_BACKUP_CORRUPT;
	}
	uint32_t version = get_u32(buf + OFF_VERSION), kdf = get_u32(buf + OFF_KDF);
	if (memcmp(buf, LVC_SLOT_MAGIC, 8) != 0 || version != 1) {
		snprintf(why, cap, "authentication failed: not a version 1 key slot (magic or version)");
		return LV_E_BACKUP_CORRUPT;
	}
	memset(info, 0, sizeof *info);
	info->opslimit = get_u64(buf + OFF_OPS);
	info->memlimit = get_u64(buf + OFF_MEM);
	if (kdf != crypto_pwhash_ALG_ARGON2ID13 || info->opslimit < LVC_OPS_MIN || info->opslimit > LVC_OPS_MAX ||
	    info->memlimit < LVC_MEM_MIN || info->memlimit > LVC_MEM_MAX) {
		snprintf(why, cap, "authentication failed: KDF %u opslimit %llu memlimit %llu is not Argon2id within "
		                   "opslimit %llu..%llu and memlimit %llu..%llu", kdf, (unsigned long long)info->opslimit,
		         (unsigned long long)info->memlimit, LVC_OPS_MIN, LVC_OPS_MAX, LVC_MEM_MIN, LVC_MEM_MAX);
		return LV_E_BACKUP_CORRUPT;
	}
	info->created = (int64_t)get_u64(buf + OFF_CREATED);
	memcpy(info->label, buf + OFF_LABEL, LVC_LABEL_MAX);
	info->label[LVC_LABEL_MAX] = '\0';
	size_t ll = strlen(info->label);
	for (size_t i = ll; i < LVC_LABEL_MAX; i++)
		if (buf[OFF_LABEL + i]) {
			ll = (size_t)-1;
			break;
		}
	if (ll == (size_t)-1 || !lvc_label_ok(info->label)) {
		snprintf(why, cap, "authentication failed: its label is not NUL-padded printable text");
		return LV_E_BACKUP_CORRUPT;
	}
	memcpy(info->loc_id, buf + OFF_LOC, LVC_IDBYTES);
	return 0;
}

/* The KEK and the check of a passphrase for a slot's salt and limits. */
static int derive(unsigned char *kek, unsigned char check[CHECK_LEN], const unsigned char *salt, uint64_t ops,
                  uint64_t mem, const unsigned char *pass, size_t plen)
{
	if (crypto_pwhash(kek, LVC_KEYBYTES, (const char *)pass, plen, salt, ops, (size_t)mem,
	                  crypto_pwhash_ALG_ARGON2ID13) != 0)
		return LV_E_NOMEM; /* the parameters are checked: only memory can fail */
	crypto_generichash(check, CHECK_LEN, (const unsigned char *)check_context, sizeof check_context - 1, kek,
	                   LVC_KEYBYTES);
	return 0;
}

/* Associated data of the wrapped key: bytes 0..175 || name. */
static size_t wrap_ad(unsigned char *ad, const unsigned char *buf, const char *name)
{
	size_t nl = strlen(name);
	if (nl > LVC_NAME_MAX)
		nl = LVC_NAME_MAX;
	memcpy(ad, buf, OFF_WRAPPED);
	memcpy(ad + OFF_WRAPPED, name, nl);
	return OFF_WRAPPED + nl;
}

int lvc_slot_open(const unsigned char *buf, const char *name, const unsigned char *pass, size_t plen,
                  unsigned char *key_out)
{
	unsigned char *kek = sodium_malloc(LVC_KEYBYTES);
	if (!kek)
		return LV_E_NOMEM;
	unsigned char check[CHECK_LEN];
	int rc = derive(kek, check, buf + OFF_SALT, get_u64(buf + OFF_OPS), get_u64(buf + OFF_MEM), pass, plen);
	if (!rc && sodium_memcmp(check, buf + OFF_CHECK, CHECK_LEN) != 0)
		rc = LV_E_AUTH;
	if (!rc) {
		unsigned char ad[OFF_WRAPPED + LVC_NAME_MAX];
		size_t adlen = wrap_ad(ad, buf, name);
		unsigned long long klen = 0;
		if (crypto_aead_xchacha20poly1305_ietf_decrypt(key_out, &klen, NULL, buf + OFF_WRAPPED, WRAPPED_LEN, ad,
		                                               adlen, buf + OFF_NONCE, kek) != 0 ||
		    klen != LVC_KEYBYTES)
			rc = LV_E_BACKUP_CORRUPT;
	}
	sodium_memzero(check, sizeof check);
	sodium_free(kek);
	return rc;
}

int lvc_slot_make(unsigned char out[LVC_SLOT_SIZE], const char *name, const unsigned char *key,
                  const unsigned char loc_id[LVC_IDBYTES], const unsigned char *pass, size_t plen,
                  uint64_t opslimit, uint64_t memlimit, int64_t created, const char *label)
{
	if (!lvc_label_ok(label) || opslimit < LVC_OPS_MIN || opslimit > LVC_OPS_MAX || memlimit < LVC_MEM_MIN ||
	    memlimit > LVC_MEM_MAX)
		return LV_E_INVALID_ARG;
	memset(out, 0, LVC_SLOT_SIZE);
	memcpy(out, LVC_SLOT_MAGIC, 8);
	put_u32(out + OFF_VERSION, 1);
	put_u32(out + OFF_KDF, crypto_pwhash_ALG_ARGON2ID13);
	put_u64(out + OFF_OPS, opslimit);
	put_u64(out + OFF_MEM, memlimit);
	randombytes_buf(out + OFF_SALT, 16);
	memcpy(out + OFF_LOC, loc_id, LVC_IDBYTES);
	put_u64(out + OFF_CREATED, (uint64_t)created);
	memcpy(out + OFF_LABEL, label, strlen(label));
	unsigned char *kek = sodium_malloc(LVC_KEYBYTES);
	if (!kek)
		return LV_E_NOMEM;
	int rc = derive(kek, out + OFF_CHECK, out + OFF_SALT, opslimit, memlimit, pass, plen);
	if (!rc) {
		randombytes_buf(out + OFF_NONCE, 24);
		unsigned char ad[OFF_WRAPPED + LVC_NAME_MAX];
		size_t adlen = wrap_ad(ad, out, name);
		unsigned long long clen = 0;
		crypto_aead_xchacha20poly1305_ietf_encrypt(out + OFF_WRAPPED, &clen, key, LVC_KEYBYTES, ad, adlen, NULL,
		                                           out + OFF_NONCE, kek);
		crypto_generichash(out + OFF_SUM, 32, out, OFF_SUM, NULL, 0);
	}
	sodium_free(kek);
	return rc;
}
