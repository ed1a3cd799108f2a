/*
 * format: the backup set's on-disk format (docs/backup-format.md): pack
 * records and the manifest.  Writers encode into buffers; readers decode from a buffered
 * input and treat every byte as hostile.  Above util and license.
 */
#ifndef LV_CORE_FORMAT_H
#define LV_CORE_FORMAT_H

#include "licvault/licvault.h"
#include "util.h"

#define LV_PACK_MAGIC "LVPACK\r\n"
#define LV_MANIFEST_MAGIC "LVMANIF\n"
#define LV_MANIFEST_END "LVMEND\r\n"
#define LV_FORMAT_VERSION 1u          /* of the pack */
#define LV_MANIFEST_VERSION 2u        /* written; version 1 manifests are read too */
#define LV_PACK_HEADER_LEN 16u
#define LV_RECORD_MAX (LV_PAYLOAD_MAX + 64u * 1024u)
#define LV_OBJ_PREFIX "licvault-"     /* set format 1: licvault-<16 hex>.<ext> */
#define LV_OBJ_PREFIX2 "licvault-g"   /* set format 2: licvault-g<16 hex>.<ext> */
#define LV_GEN_DIGITS 16
/* The largest generation number: G + 1 never wraps, and G fits an int64. */
#define LV_GEN_MAX ((uint64_t)1 << 62)

/* Record field tags. */
enum {
	LV_TAG_KID = 1, LV_TAG_CONTENT_ID = 2, LV_TAG_TITLE = 3, LV_TAG_ISSUER = 4,
	LV_TAG_ISSUED = 5, LV_TAG_EXPIRES = 6, LV_TAG_RIGHTS = 7, LV_TAG_PLAY_COUNT = 8,
	LV_TAG_PLAYS_LEFT = 9, LV_TAG_MACHINE = 10, LV_TAG_PAYLOAD = 11
};

/* Encode a license as a record body (without its u32 length). */
int lv__record_encode(struct lv_buf *b, const lv_license *lic);
/*
 * Decode a record body; strings in *out point into a copy kept in `scratch`
 * (NUL-terminated).  LV_E_BACKUP_CORRUPT with *why set on bad input.
 */
int lv__record_decode(const unsigned char *p, size_t n, lv_license *out, struct lv_buf *scratch,
                      const char **why);

/* Buffered input over a driver reader (or any read function). */
typedef int (*lv_read_fn)(void *src, void *buf, size_t cap, size_t *n);
typedef struct lv_in {
	lv_read_fn fn;
	void *src;
	unsigned char *buf;
	size_t cap, pos, len;
	uint64_t offset;     /* bytes consumed so far */
	int eof;
	int failed;          /* the source returned an error (described by it) */
	uint32_t crc;        /* running CRC-32 of consumed bytes */
} lv_in;

int lv__in_init(lv_in *in, lv_read_fn fn, void *src, size_t cap);
void lv__in_free(lv_in *in);
/* Read exactly n bytes: LV_E_BACKUP_CORRUPT ("truncated") at a premature end. */
int lv__in_read(lv_in *in, void *p, size_t n);
/* Read exactly n bytes and give their own CRC-32 too (each byte summed once). */
int lv__in_read_crc(lv_in *in, void *p, size_t n, uint32_t *crc);
/* 1 when at end of input, 0 otherwise, <0 on error. */
int lv__in_at_end(lv_in *in);

/* Manifest header. */
typedef struct lv_manifest_hdr {
	uint64_t generation;
	int64_t created;
	uint64_t count;          /* licenses in the pack */
	uint64_t restricted;     /* licenses left out (no backup right) */
	uint64_t pack_size;
	uint32_t pack_crc;
	char backup_id[33];      /* 128-bit random, hex */
	char machine_id[65];     /* the backing-up store's identity */
	char pack_name[129];
	uint32_t version;        /* of the manifest: 1 or 2 */
	char host[256];          /* version 2: the host name of the writer ("" in version 1) */
} lv_manifest_hdr;

typedef struct lv_manifest_entry {
	char kid[LV_KID_MAX + 1];
	uint64_t offset;         /* of the record's length prefix in the pack */
	uint32_t length;         /* of the record body */
	uint32_t crc;            /* CRC-32 of the record body */
} lv_manifest_entry;

/* Encode the header / an entry / the trailer (crc is the CRC of all bytes before). */
int lv__manifest_put_header(struct lv_buf *b, const lv_manifest_hdr *h);
int lv__manifest_put_entry(struct lv_buf *b, const lv_manifest_entry *e);
int lv__manifest_put_trailer(struct lv_buf *b, uint32_t crc);

/*
 * Streaming manifest reader: header, then `count` entries (checked: key ID
 * syntax, strictly ascending, contiguous offsets), then the trailer
 * (CRC and end magic, nothing after).  why: a static or in-reader message.
 */
typedef struct lv_manifest_reader {
	lv_in in;
	lv_manifest_hdr hdr;
	uint64_t seen;
	uint64_t next_offset;
	char prev_kid[LV_KID_MAX + 1];
	char why[256];
} lv_manifest_reader;

/*
 * Read a manifest's header from fn.  chunk: bytes asked of fn at a time (0:
 * 256 KiB, for a whole manifest; a header alone is read in small chunks, so
 * a driver that reads ahead (SFTP, S3) fetches little beyond it).
 */
int lv__manifest_begin(lv_manifest_reader *m, lv_read_fn fn, void *src, uint64_t object_size, size_t chunk);
/* 1 with *e filled, 0 at the end (trailer verified), <0 error (why set). */
int lv__manifest_next(lv_manifest_reader *m, lv_manifest_entry *e);
void lv__manifest_end(lv_manifest_reader *m);

/* Object names of generation g, in set format 2 (licvault-g<16 hex>.<ext>) or 1. */
void lv__gen_name(char *out, size_t cap, uint64_t gen, const char *ext, int format);
/*
 * Parse a set object's name, "licvault-g<16 hex>.<ext>" (format 2) or
 * "licvault-<16 hex>.<ext>" (format 1): 1 and *gen, *ext, *format when it is
 * one; -1 when it is one but its generation is out of range (0, or above
 * LV_GEN_MAX); 0 when it is not a set object.
 */
int lv__gen_parse(const char *name, uint64_t *gen, const char **ext, int *format);

#endif
