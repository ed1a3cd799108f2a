/*
 * The crypt driver's object format (docs/drivers/crypt.md, "Objects"):
 * a 72-byte header, then the object's bytes in 64 KiB chunks, each sealed
 * by crypto_secretstream_xchacha20poly1305 with the header and the object's
 * name as associated data; the last chunk carries TAG_FINAL.
 *
 * Pure libsodium: no host, no driver state, so the fuzz target
 * (tests/fuzz/fuzz_crypt.c) and the unit test build it alone.  Errors are
 * lv_error codes; LV_E_BACKUP_CORRUPT comes with a reason (lvc_dec_why)
 * that begins "authentication failed".  A source's or sink's own error is
 * passed through unchanged (described by whoever returned it).
 */
#ifndef LVC_STREAM_H
#define LVC_STREAM_H

#include <stddef.h>
#include <stdint.h>

#define LVC_MAGIC "LVCRYPT\n"
#define LVC_VERSION 1u
#define LVC_CHUNK 65536u                    /* plaintext bytes per chunk, version 1 */
#define LVC_ABYTES 17u                      /* crypto_secretstream_xchacha20poly1305_ABYTES */
#define LVC_UNIT (LVC_CHUNK + LVC_ABYTES)   /* ciphertext bytes of a full chunk */
#define LVC_HDR 72u                         /* header bytes */
#define LVC_KEYBYTES 32u
#define LVC_IDBYTES 16u                     /* location ID, key ID */
#define LVC_NAME_MAX 255u

/* 1 for the objects stored as they are, never sealed: the lock and the license registry
 * (docs/drivers/crypt.md); bundle+crypt+ names them "<file>.<name>". */
int lvc_passthrough(const char *name);

/* Where the encoder's bytes go; where the decoder's come from (*n = 0: the end). */
typedef int (*lvc_sink_fn)(void *ud, const void *buf, size_t len);
typedef int (*lvc_source_fn)(void *ud, void *buf, size_t cap, size_t *n);

/* The key an object is sealed under: the data key, its ID, the location's ID. */
typedef struct lvc_key {
	const unsigned char *key;               /* LVC_KEYBYTES, in sodium_malloc'd memory */
	unsigned char key_id[LVC_IDBYTES];
	unsigned char loc_id[LVC_IDBYTES];
} lvc_key;

/* The key ID of a data key: BLAKE2b-128 keyed by the key, of "licvault-crypt key id". */
void lvc_key_id(const unsigned char *key, unsigned char out[LVC_IDBYTES]);

/* Ciphertext bytes of an object of n plaintext bytes, and back (UINT64_MAX: no valid object has that size). */
uint64_t lvc_cipher_size(uint64_t n);
uint64_t lvc_plain_size(uint64_t n);

typedef struct lvc_enc lvc_enc;

/* A new object `name` under `k`, its bytes to sink.  LV_E_NOMEM or 0. */
int lvc_enc_new(lvc_enc **out, const lvc_key *k, const char *name, lvc_sink_fn sink, void *ud);
/* Seal len more bytes (whole chunks go to the sink as they fill). */
int lvc_enc_write(lvc_enc *e, const void *buf, size_t len);
/* Seal the final chunk and hand out what is left.  After it, only lvc_enc_free. */
int lvc_enc_finish(lvc_enc *e);
/* Free (and wipe the stream state); NULL is a no-op. */
void lvc_enc_free(lvc_enc *e);

typedef struct lvc_dec lvc_dec;

/* A reader of object `name` under `k` from source.  LV_E_NOMEM or 0. */
int lvc_dec_new(lvc_dec **out, const lvc_key *k, const char *name, lvc_source_fn source, void *ud);
/*
 * Up to cap bytes of the object, each from a chunk that authenticated; *n = 0
 * only once the final chunk authenticated and nothing follows it.
 * LV_E_BACKUP_CORRUPT with lvc_dec_why, or the source's error.
 */
int lvc_dec_read(lvc_dec *d, void *buf, size_t cap, size_t *n);
/* Why the last LV_E_BACKUP_CORRUPT ("authentication failed: ..."), "" otherwise. */
const char *lvc_dec_why(const lvc_dec *d);
void lvc_dec_free(lvc_dec *d);

/*
 * Parse an object's header (LVC_HDR bytes): 0 and the IDs it names, or
 * LV_E_BACKUP_CORRUPT with why (bad magic, version, chunk size).
 */
int lvc_header_parse(const unsigned char *hdr, unsigned char loc_id[LVC_IDBYTES],
                     unsigned char key_id[LVC_IDBYTES], char *why, size_t cap);

/* Lower-case hex of n bytes into out (2n + 1 bytes). */
void lvc_hex(const unsigned char *p, size_t n, char *out);

#endif
