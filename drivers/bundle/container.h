/*
 * The bundle container (docs/drivers/bundle.md): a gzip stream (RFC 1952)
 * holding a small record format of named objects.  This file and
 * container.c use only zlib, pthreads and licvault/driver.h (for the error
 * codes), so the fuzz target (tests/fuzz/) builds them without the core.
 *
 * Uncompressed container, all integers big-endian:
 *
 *   header  "LVBUNDL\n" u32 version (1 or 2) u32 flags (0)
 *   'O' u8 name_len name          an object begins (name: licvault-g<16 hex>.pack or .manifest; format 1 without the g)
 *   'D' u32 len bytes[len]        object data, 1 <= len <= LVB_CHUNK_MAX
 *   'E' u64 size u32 crc32        the object ends: its size and the CRC-32 of its bytes
 *   'Z' u32 objects u64 bytes     the container ends: object count and total object bytes
 *
 * Records at the top level are 'O' or 'Z'; inside an object 'D' or 'E'.
 * After 'Z' the gzip stream ends, and after the gzip stream, the file ends.
 *
 * Version 1 is one gzip member.  Version 2 is a series of gzip members
 * (RFC 1952 allows a series; gzip -t and gzip -dc read them as one
 * stream), each ending between two records: the writer cuts a member every
 * MiB of container, so members compress in parallel, and puts the pack,
 * compressed while the store is read, after the manifest, so that a reader
 * meets the manifest first and streams the pack in one pass.
 */
#ifndef LV_BUNDLE_CONTAINER_H
#define LV_BUNDLE_CONTAINER_H

#include <stddef.h>
#include <stdint.h>

#define LVB_MAGIC "LVBUNDL\n"
#define LVB_VERSION 2u             /* written; 1 and 2 are read */
#define LVB_HEADER_LEN 16u
#define LVB_CHUNK_MAX (1u << 20)   /* largest 'D' record */
#define LVB_MAX_OBJECTS 64u        /* a backup set has two */
#define LVB_NAME_MAX 255u
#define LVB_GZIP_OS 3              /* Unix, in the gzip header */

/* A source of compressed bytes: 0 with *n (0 at the end), or a negative lv_error. */
typedef int (*lvb_read_fn)(void *ud, void *buf, size_t cap, size_t *n);
/* A sink of compressed bytes: 0 or a negative lv_error. */
typedef int (*lvb_write_fn)(void *ud, const void *buf, size_t len);

/* 1 when name (len bytes) is a backup set's object name: licvault-g<16 hex>.pack|.manifest (or, format 1, without the g). */
int lvb_name_ok(const char *name, size_t len);

/* ---- decoder ------------------------------------------------------------ */

typedef struct lvb_dec lvb_dec;

enum {
	LVB_EV_OBJECT = 1,     /* an object begins: name, index */
	LVB_EV_DATA = 2,       /* data of the current object: data, len (valid until the next call) */
	LVB_EV_OBJECT_END = 3, /* the object ended and its size and CRC-32 matched: size, crc */
	LVB_EV_END = 4         /* the container, the gzip stream and the input ended, all checked */
};

typedef struct lvb_event {
	int type;
	const char *name;            /* current object (OBJECT, DATA, OBJECT_END) */
	unsigned index;              /* its index, 0-based */
	const unsigned char *data;   /* DATA */
	size_t len;                  /* DATA */
	uint64_t size;               /* OBJECT_END: object bytes; END: all object bytes */
	uint32_t crc;                /* OBJECT_END */
} lvb_event;

/* A decoder reading compressed bytes from fn (called only from lvb_dec_next). */
int lvb_dec_new(lvb_dec **out, lvb_read_fn fn, void *ud);
void lvb_dec_free(lvb_dec *d);
/* Read the rest from another source (what was read and not inflated yet stays). */
void lvb_dec_set_source(lvb_dec *d, lvb_read_fn fn, void *ud);
/*
 * The next event: 0 with *ev, LV_E_BACKUP_CORRUPT (lvb_dec_why says where
 * and why), LV_E_NOMEM, or the read function's error.  After an error or
 * END every call returns the same result.
 */
int lvb_dec_next(lvb_dec *d, lvb_event *ev);
/* The reason of the last LV_E_BACKUP_CORRUPT: names the offset and object. */
const char *lvb_dec_why(const lvb_dec *d);
/* Compressed bytes consumed so far / container bytes consumed so far. */
uint64_t lvb_dec_zoffset(const lvb_dec *d);
uint64_t lvb_dec_offset(const lvb_dec *d);
/* The container's version, once its header was read (0 before). */
uint32_t lvb_dec_version(const lvb_dec *d);

/* ---- encoder ------------------------------------------------------------ */

typedef struct lvb_enc lvb_enc;

/*
 * An encoder writing gzip members at `level` (0..9) to fn, one per MiB of
 * container.  threaded: compress them on worker threads (one per CPU, at
 * most 4), several at once; fn is still called only on the caller's thread,
 * from the calls below, in order.
 * header: begin with the container header; 0 for a part of a bundle whose
 * header another encoder writes (see lvb_enc_external).
 */
int lvb_enc_new(lvb_enc **out, int level, int threaded, int header, lvb_write_fn fn, void *ud);
/* Free (stops the worker threads; nothing more is written). NULL is a no-op. */
void lvb_enc_free(lvb_enc *e);
int lvb_enc_begin(lvb_enc *e, const char *name);
int lvb_enc_write(lvb_enc *e, const void *buf, size_t len);
int lvb_enc_end(lvb_enc *e);
/*
 * End the current gzip member and hand every byte so far to fn; the next
 * record begins a new member.  A no-op when nothing is pending.
 */
int lvb_enc_member(lvb_enc *e);
/*
 * Count an object that another encoder wrote (whose members the caller
 * puts into the output here, after lvb_enc_member): its name for the
 * duplicate check, its size for the end record.
 */
int lvb_enc_external(lvb_enc *e, const char *name, uint64_t size);
/* Write 'Z', finish the gzip stream and hand every byte to fn. */
int lvb_enc_finish(lvb_enc *e);
/* Object bytes and objects so far; compressed bytes handed to fn. */
uint64_t lvb_enc_total_in(const lvb_enc *e);
uint64_t lvb_enc_total_out(const lvb_enc *e);

#endif
