/*
 * The bundle container: encoder and decoder (see container.h and
 * docs/drivers/bundle.md).  The decoder treats every byte as hostile: it
 * inflates only as far as the records it has read account for, so a stream
 * that expands beyond its declared records is refused after at most one
 * buffer of output, whatever its compressed size.
 */
#include "container.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

#include "licvault/driver.h"

static void put_u32(unsigned char *p, uint32_t v)
{
	p[0] = (unsigned char)(v >> 24);
	p[1] = (unsigned char)(v >> 16);
	p[2] = (unsigned char)(v >> 8);
	p[3] = (unsigned char)v;
}

static void put_u64(unsigned char *p, uint64_t v)
{
	put_u32(p, (uint32_t)(v >> 32));
	put_u32(p + 4, (uint32_t)v);
}

static uint32_t get_u32(const unsigned char *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static uint64_t get_u64(const unsigned char *p)
{
	return (uint64_t)get_u32(p) << 32 | get_u32(p + 4);
}

int lvb_name_ok(const char *name, size_t len)
{
	/* the names of a backup set: licvault-g<16 lowercase hex>.pack or .manifest (set
	 * format 2), or licvault-<16 lowercase hex>.pack or .manifest (format 1) */
	static const char prefix[] = "licvault-";
	if (len < 9 + 16 + 5 || memcmp(name, prefix, 9) != 0)
		return 0;
	size_t p = 9 + (name[9] == 'g');
	if (len < p + 16 + 5)
		return 0;
	for (size_t i = p; i < p + 16; i++)
		if (!((name[i] >= '0' && name[i] <= '9') || (name[i] >= 'a' && name[i] <= 'f')))
			return 0;
	const char *ext = name + p + 16;
	size_t el = len - p - 16;
	return (el == 5 && !memcmp(ext, ".pack", 5)) || (el == 9 && !memcmp(ext, ".manifest", 9));
}

/* ======================================================================== */
/* Decoder                                                                  */

#define DEC_IN ((size_t)64 * 1024)
#define DEC_OUT ((size_t)256 * 1024)

enum { S_HEADER, S_TOP, S_OBJ, S_DATA, S_DONE };
enum { PAD_NONE, PAD_BLOCK, PAD_FINAL };

struct lvb_dec {
	lvb_read_fn fn;
	void *ud;
	z_stream z;
	int zinit;
	gz_header head;
	unsigned char hextra[1], hname[1], hcomm[1];
	int head_checked;
	int in_eof, zend;
	uint32_t version;          /* of the container header, once read */
	int member_ok;             /* a gzip member may end here (version 2, between two records) */
	uint64_t member_at;        /* compressed offset where the current member begins */
	uint64_t zread;            /* compressed bytes read from fn */
	uint64_t zbase;            /* offset of in[0] in the compressed input */
	size_t inlen;              /* bytes in in[] */
	unsigned char tail[8];     /* the last bytes of the previous in[] */
	unsigned tail_n;
	int pad_kind;              /* a padding check waiting for its bytes: PAD_* */
	uint64_t pad_bit;          /* at this bit of the compressed input */
	uint64_t coff;             /* container bytes consumed by the parser */
	size_t opos, olen;
	int state;
	int err;
	char why[512];
	char names[LVB_MAX_OBJECTS][LVB_NAME_MAX + 1];
	unsigned nobj;             /* objects begun */
	uint64_t cur_size;
	uint32_t cur_crc;
	uint32_t chunk_left;
	uint64_t total;
	unsigned char in[DEC_IN];
	unsigned char out[DEC_OUT];
};

static int corrupt(lvb_dec *d, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int corrupt(lvb_dec *d, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(d->why, sizeof d->why, fmt, ap);
	va_end(ap);
	return d->err = LV_E_BACKUP_CORRUPT;
}

/* Have zlib fill in the next gzip header; it sets a pointer to NULL when its field is absent. */
static void arm_header(lvb_dec *d)
{
	memset(&d->head, 0, sizeof d->head);
	d->head.extra = d->hextra;
	d->head.extra_max = 1;
	d->head.name = d->hname;
	d->head.name_max = 1;
	d->head.comment = d->hcomm;
	d->head.comm_max = 1;
	inflateGetHeader(&d->z, &d->head);
}

int lvb_dec_new(lvb_dec **out, lvb_read_fn fn, void *ud)
{
	lvb_dec *d = calloc(1, sizeof *d);
	if (!d)
		return LV_E_NOMEM;
	d->fn = fn;
	d->ud = ud;
	if (inflateInit2(&d->z, 15 + 16) != Z_OK) { /* gzip only */
		free(d);
		return LV_E_NOMEM;
	}
	d->zinit = 1;
	arm_header(d);
	*out = d;
	return 0;
}

void lvb_dec_free(lvb_dec *d)
{
	if (!d)
		return;
	if (d->zinit)
		inflateEnd(&d->z);
	free(d);
}

void lvb_dec_set_source(lvb_dec *d, lvb_read_fn fn, void *ud)
{
	d->fn = fn;
	d->ud = ud;
}

const char *lvb_dec_why(const lvb_dec *d) { return d->why; }
uint64_t lvb_dec_zoffset(const lvb_dec *d) { return d->zread - d->z.avail_in; }
uint64_t lvb_dec_offset(const lvb_dec *d) { return d->coff; }
uint32_t lvb_dec_version(const lvb_dec *d) { return d->version; }

static int read_in(lvb_dec *d)
{
	size_t n = 0;
	int rc = d->fn(d->ud, d->in, DEC_IN, &n);
	if (rc) {
		snprintf(d->why, sizeof d->why, "reading compressed byte %llu failed", (unsigned long long)d->zread);
		return d->err = rc < 0 ? rc : LV_E_IO;
	}
	if (n > DEC_IN) {
		snprintf(d->why, sizeof d->why, "the inner driver returned more than asked");
		return d->err = LV_E_IO;
	}
	if (n == 0)
		d->in_eof = 1;
	/* keep the last bytes: a padding check may look a few bytes back */
	if (d->inlen >= sizeof d->tail) {
		memcpy(d->tail, d->in + d->inlen - sizeof d->tail, sizeof d->tail);
		d->tail_n = sizeof d->tail;
	} else if (d->inlen) {
		size_t keep = d->tail_n + d->inlen > sizeof d->tail ? sizeof d->tail - d->inlen : d->tail_n;
		memmove(d->tail, d->tail + d->tail_n - keep, keep);
		memcpy(d->tail + keep, d->in, d->inlen);
		d->tail_n = (unsigned)(keep + d->inlen);
	}
	d->zbase += d->inlen;
	d->inlen = n;
	d->z.next_in = d->in;
	d->z.avail_in = (uInt)n;
	d->zread += n;
	return 0;
}

static int check_head(lvb_dec *d)
{
	d->head_checked = 1;
	if (!d->head.hcrc)
		return corrupt(d, "gzip header at byte %llu has no header CRC (FHCRC): not a licvault bundle",
		               (unsigned long long)d->member_at);
	if (d->head.extra || d->head.name || d->head.comment)
		return corrupt(d, "gzip header at byte %llu has extra, name or comment fields: not a licvault bundle",
		               (unsigned long long)d->member_at);
	return 0;
}

/* The compressed byte at off, when it has been read and is still at hand. */
static int zbyte(const lvb_dec *d, uint64_t off, unsigned char *c)
{
	if (off >= d->zbase && off < d->zbase + d->inlen) {
		*c = d->in[off - d->zbase];
		return 1;
	}
	if (off < d->zbase && d->zbase - off <= d->tail_n) {
		*c = d->tail[d->tail_n - (d->zbase - off)];
		return 1;
	}
	return 0;
}

/*
 * Deflate has slack that neither zlib nor gzip's CRC sees: the bits that pad
 * a stored block's header and the end of the last block to a byte boundary.
 * zlib writes them as zeros; a flipped bit there is refused here.  Called
 * whenever inflate stopped at a block boundary (Z_BLOCK) or read more input.
 */
static int check_pad(lvb_dec *d)
{
	if (d->pad_kind == PAD_NONE)
		return 0;
	uint64_t p = d->pad_bit;
	unsigned char a, b;
	if (d->pad_kind == PAD_BLOCK) {
		/* BFINAL, then BTYPE (2 bits, first bit lowest) */
		if (!zbyte(d, (p + 1) / 8, &a) || !zbyte(d, (p + 2) / 8, &b))
			return 0; /* not read yet */
		unsigned t = ((a >> ((p + 1) % 8)) & 1u) | (((b >> ((p + 2) % 8)) & 1u) << 1);
		if (t != 0 || (p + 3) % 8 == 0) {
			d->pad_kind = PAD_NONE; /* not a stored block, or no padding */
			return 0;
		}
		p += 3;
	} else if (p % 8 == 0) {
		d->pad_kind = PAD_NONE;
		return 0;
	}
	if (!zbyte(d, p / 8, &a))
		return 0;
	d->pad_kind = PAD_NONE;
	if (a >> (p % 8))
		return corrupt(d, "bad gzip data at compressed byte %llu: padding bits %s are not zero",
		               (unsigned long long)(p / 8), p == d->pad_bit + 3 ? "of a stored block's header" : "after the last block");
	return 0;
}

/* Inflate more output after out[olen]; 0 when some came or the stream ended. */
static int inflate_more(lvb_dec *d)
{
	for (;;) {
		if (d->z.avail_in == 0 && !d->in_eof) {
			int rc = read_in(d);
			if (!rc)
				rc = check_pad(d);
			if (rc)
				return rc;
		}
		d->z.next_out = d->out + d->olen;
		d->z.avail_out = (uInt)(DEC_OUT - d->olen);
		uInt before = d->z.avail_out;
		int r = inflate(&d->z, Z_BLOCK);
		size_t got = before - d->z.avail_out;
		d->olen += got;
		if (!d->head_checked && d->head.done == 1 && check_head(d))
			return d->err;
		if (r == Z_OK && (d->z.data_type & 128) && d->head_checked) {
			/* at a block boundary: where the next header (or the last block's padding) begins */
			uint64_t bit = (d->zbase + (uint64_t)(d->z.next_in - d->in)) * 8 - (unsigned)(d->z.data_type & 63);
			if (d->pad_kind != PAD_NONE && check_pad(d))
				return d->err;
			d->pad_kind = (d->z.data_type & 64) ? PAD_FINAL : PAD_BLOCK;
			d->pad_bit = bit;
			if (check_pad(d))
				return d->err;
		}
		switch (r) {
		case Z_STREAM_END:
			d->zend = 1;
			return 0;
		case Z_OK:
			if (got)
				return 0;
			break;
		case Z_BUF_ERROR:
			if (d->in_eof && d->z.avail_in == 0)
				return corrupt(d, "truncated: the compressed data ends at byte %llu, inside the gzip stream",
				               (unsigned long long)d->zread);
			if (d->z.avail_out == 0)
				return corrupt(d, "internal: no room to inflate"); /* cannot happen: callers compact first */
			break;
		case Z_MEM_ERROR:
			snprintf(d->why, sizeof d->why, "out of memory inflating");
			return d->err = LV_E_NOMEM;
		default:
			return corrupt(d, "bad gzip data at compressed byte %llu: %s",
			               (unsigned long long)lvb_dec_zoffset(d), d->z.msg ? d->z.msg : "inflate error");
		}
	}
}

/*
 * A gzip member ended where a record may begin (version 2): start inflating
 * the next member, if one follows.  0 when one began, 1 when the input
 * ended, or an error.
 */
static int next_member(lvb_dec *d)
{
	int rc;
	if (d->z.avail_in == 0 && !d->in_eof && (rc = read_in(d)))
		return rc;
	if (d->z.avail_in == 0)
		return 1;
	if (check_pad(d))
		return d->err;
	if (inflateReset(&d->z) != Z_OK)
		return corrupt(d, "internal: inflateReset failed");
	arm_header(d);
	d->head_checked = 0;
	d->zend = 0;
	d->pad_kind = PAD_NONE;
	d->member_at = lvb_dec_zoffset(d);
	return 0;
}

/* Have at least need container bytes at out[opos]: 0, 1 when the gzip stream ended first, or an error. */
static int fill(lvb_dec *d, size_t need)
{
	while (d->olen - d->opos < need) {
		if (d->zend) {
			int rc = 1;
			if (d->member_ok && d->olen == d->opos && (rc = next_member(d)) == 0)
				continue;
			return rc;
		}
		if (d->opos) {
			memmove(d->out, d->out + d->opos, d->olen - d->opos);
			d->olen -= d->opos;
			d->opos = 0;
		}
		int rc = inflate_more(d);
		if (rc)
			return rc;
	}
	return 0;
}

static void consume(lvb_dec *d, size_t n)
{
	d->opos += n;
	d->coff += n;
}

/* After 'Z': nothing more in the gzip stream, nothing after it. */
static int check_end(lvb_dec *d)
{
	uint64_t at = d->coff;
	int rc = fill(d, 1);
	if (rc < 0)
		return rc;
	if (rc == 0)
		return corrupt(d, "trailing data after the container's end record at byte %llu (the gzip stream goes on)",
		               (unsigned long long)at);
	uint64_t zend = lvb_dec_zoffset(d);
	if (d->z.avail_in == 0 && !d->in_eof && (rc = read_in(d)))
		return rc;
	if (d->z.avail_in)
		return corrupt(d, "trailing data after the gzip stream at compressed byte %llu", (unsigned long long)zend);
	return 0;
}

/* fill(d, need) for a record beginning at container byte `at`: 0, or the error (a truncation: what it cut). */
static int fill_record(lvb_dec *d, size_t need, const char *in, uint64_t at)
{
	int rc = fill(d, need);
	if (rc <= 0)
		return rc;
	return corrupt(d, "truncated: the gzip stream ends %s at byte %llu", in, (unsigned long long)at);
}

/* S_HEADER: "LVBUNDL\n", the version, the flags. */
static int dec_header(lvb_dec *d)
{
	int rc = fill(d, LVB_HEADER_LEN);
	if (rc)
		return rc < 0 ? rc : corrupt(d, "truncated: the gzip stream ends in the container header");
	const unsigned char *p = d->out + d->opos;
	if (memcmp(p, LVB_MAGIC, 8) != 0)
		return corrupt(d, "not a licvault bundle (bad magic at byte 0 of the container)");
	d->version = get_u32(p + 8);
	if (d->version < 1 || d->version > LVB_VERSION)
		return corrupt(d, "container version %u, this licvault reads versions 1 to %u", d->version, LVB_VERSION);
	if (get_u32(p + 12) != 0)
		return corrupt(d, "unknown container flags %08x at byte 12", get_u32(p + 12));
	consume(d, LVB_HEADER_LEN);
	d->state = S_TOP;
	return 0;
}

/* 'O' u8 len name at container byte `at`: a new object, checked (a set's name, once, at most 64). */
static int dec_object_record(lvb_dec *d, lvb_event *ev, uint64_t at)
{
	int rc = fill_record(d, 2, "in the object record", at);
	size_t n = rc ? 0 : d->out[d->opos + 1];
	if (rc || (rc = fill_record(d, 2 + n, "in the object record", at)))
		return rc;
	const char *name = (const char *)d->out + d->opos + 2;
	if (!lvb_name_ok(name, n)) {
		char shown[64];
		size_t k = 0;
		for (size_t i = 0; i < n && k + 5 < sizeof shown; i++) {
			unsigned char c = (unsigned char)name[i];
			k += (size_t)snprintf(shown + k, sizeof shown - k, c >= 0x20 && c < 0x7f && c != '\\' ? "%c" : "\\x%02x", c);
		}
		return corrupt(d, "object name '%s%s' at byte %llu is not one of a backup set (licvault-g<16 hex>.pack or .manifest)",
		               shown, n > 40 ? "..." : "", (unsigned long long)at);
	}
	for (unsigned i = 0; i < d->nobj; i++)
		if (strlen(d->names[i]) == n && !memcmp(d->names[i], name, n))
			return corrupt(d, "object %.*s at byte %llu appears twice", (int)n, name, (unsigned long long)at);
	if (d->nobj >= LVB_MAX_OBJECTS)
		return corrupt(d, "more than %u objects (at byte %llu)", LVB_MAX_OBJECTS, (unsigned long long)at);
	memcpy(d->names[d->nobj], name, n);
	d->names[d->nobj][n] = '\0';
	consume(d, 2 + n);
	d->cur_size = 0;
	d->cur_crc = (uint32_t)crc32(0L, Z_NULL, 0);
	d->state = S_OBJ;
	ev->type = LVB_EV_OBJECT;
	ev->name = d->names[d->nobj];
	ev->index = d->nobj++;
	return 0;
}

/* 'Z' u32 objects u64 bytes at container byte `at`: they must match, and nothing may follow. */
static int dec_end_record(lvb_dec *d, uint64_t at)
{
	int rc = fill_record(d, 13, "in the end record", at);
	if (rc)
		return rc;
	uint32_t count = get_u32(d->out + d->opos + 1);
	uint64_t total = get_u64(d->out + d->opos + 5);
	if (count != d->nobj || total != d->total)
		return corrupt(d, "the end record at byte %llu declares %u objects of %llu bytes, the bundle holds %u of %llu",
		               (unsigned long long)at, count, (unsigned long long)total, d->nobj, (unsigned long long)d->total);
	consume(d, 13);
	if ((rc = check_end(d)))
		return rc;
	d->state = S_DONE;
	return 0;
}

/* The tag of the next record (version 2: a gzip member may end before it): 0 with *tag, 1 at the stream's end, or an error. */
static int next_tag(lvb_dec *d, unsigned char *tag)
{
	d->member_ok = d->version >= 2;
	int rc = fill(d, 1);
	d->member_ok = 0;
	if (!rc)
		*tag = d->out[d->opos];
	return rc;
}

/* S_TOP: an object begins ('O') or the container ends ('Z'). */
static int dec_top(lvb_dec *d, lvb_event *ev)
{
	uint64_t at = d->coff;
	unsigned char tag = 0;
	int rc = next_tag(d, &tag);
	if (rc)
		return rc < 0 ? rc
		              : corrupt(d, "truncated: the gzip stream ends at container byte %llu, before the end record",
		                        (unsigned long long)at);
	if (tag == 'O')
		return dec_object_record(d, ev, at);
	if (tag == 'Z')
		return dec_end_record(d, at);
	return corrupt(d, "unknown record 0x%02x at container byte %llu", tag, (unsigned long long)at);
}

/* 'E' u64 size u32 crc at container byte `at`: the object ends; its size and CRC-32 must match. */
static int dec_object_end(lvb_dec *d, lvb_event *ev, const char *name, uint64_t at)
{
	int rc = fill(d, 13);
	if (rc)
		return rc < 0 ? rc
		              : corrupt(d, "truncated: the gzip stream ends inside object %s at byte %llu", name,
		                        (unsigned long long)at);
	uint64_t size = get_u64(d->out + d->opos + 1);
	uint32_t crc = get_u32(d->out + d->opos + 9);
	if (size != d->cur_size)
		return corrupt(d, "object %s holds %llu bytes, its end record at byte %llu declares %llu", name,
		               (unsigned long long)d->cur_size, (unsigned long long)at, (unsigned long long)size);
	if (crc != d->cur_crc)
		return corrupt(d, "object %s: checksum mismatch (CRC-32 %08x, its end record at byte %llu declares %08x)", name,
		               d->cur_crc, (unsigned long long)at, crc);
	consume(d, 13);
	d->total += size;
	d->state = S_TOP;
	ev->type = LVB_EV_OBJECT_END;
	ev->name = name;
	ev->index = d->nobj - 1;
	ev->size = size;
	ev->crc = crc;
	return 0;
}

/* S_OBJ: inside an object, a data record ('D') or its end ('E'). */
static int dec_obj(lvb_dec *d, lvb_event *ev)
{
	uint64_t at = d->coff;
	const char *name = d->names[d->nobj - 1];
	unsigned char tag = 0;
	int rc = next_tag(d, &tag);
	if (!rc && tag == 'D')
		rc = fill(d, 5);
	if (rc)
		return rc < 0 ? rc
		              : corrupt(d, "truncated: the gzip stream ends inside object %s at byte %llu", name,
		                        (unsigned long long)at);
	if (tag == 'E')
		return dec_object_end(d, ev, name, at);
	if (tag != 'D')
		return corrupt(d, "object %s: unexpected record 0x%02x at container byte %llu", name, tag, (unsigned long long)at);
	uint32_t len = get_u32(d->out + d->opos + 1);
	if (len == 0 || len > LVB_CHUNK_MAX)
		return corrupt(d, "object %s: a data record of %u bytes at byte %llu (1 to %u allowed)", name, len,
		               (unsigned long long)at, LVB_CHUNK_MAX);
	consume(d, 5);
	d->chunk_left = len;
	d->state = S_DATA;
	return 0;
}

/* S_DATA: the bytes of a data record, as far as they are inflated. */
static int dec_data(lvb_dec *d, lvb_event *ev)
{
	if (d->chunk_left == 0) {
		d->state = S_OBJ;
		return 0;
	}
	const char *name = d->names[d->nobj - 1];
	int rc = fill(d, 1);
	if (rc)
		return rc < 0 ? rc
		              : corrupt(d, "truncated: the gzip stream ends inside object %s at byte %llu", name,
		                        (unsigned long long)d->coff);
	size_t n = d->olen - d->opos;
	if (n > d->chunk_left)
		n = d->chunk_left;
	ev->type = LVB_EV_DATA;
	ev->name = name;
	ev->index = d->nobj - 1;
	ev->data = d->out + d->opos;
	ev->len = n;
	d->cur_crc = (uint32_t)crc32(d->cur_crc, ev->data, (uInt)n);
	d->cur_size += n;
	d->chunk_left -= (uint32_t)n;
	consume(d, n);
	return 0;
}

int lvb_dec_next(lvb_dec *d, lvb_event *ev)
{
	if (d->err)
		return d->err;
	memset(ev, 0, sizeof *ev);
	while (!ev->type) {
		int rc;
		switch (d->state) {
		case S_HEADER: rc = dec_header(d); break;
		case S_TOP: rc = dec_top(d, ev); break;
		case S_OBJ: rc = dec_obj(d, ev); break;
		case S_DATA: rc = dec_data(d, ev); break;
		default:
			ev->type = LVB_EV_END;
			ev->size = d->total;
			rc = 0;
		}
		if (rc)
			return rc;
	}
	return 0;
}

/* ======================================================================== */
/* Encoder                                                                  */

/*
 * Each 1 MiB of container becomes a gzip member of its own, cut between two
 * records, so members compress independently: on worker threads in
 * parallel (pigz's idea, without its hand-written framing: zlib writes each
 * member whole), or one after another on the caller's thread.  The caller
 * alone calls fn, in the members' order.
 */
#define ENC_IN (1u << 20)      /* the container bytes of one member */
#define ENC_JOBS_MAX 6         /* members in flight */
#define ENC_WORKERS_MAX 4

enum { J_FREE, J_FILLING, J_READY, J_BUSY, J_DONE };

typedef struct enc_job {
	unsigned char *in, *out;
	size_t inlen, outlen;
	int state, err;
} enc_job;

struct lvb_enc {
	lvb_write_fn fn;
	void *ud;
	int level;
	gz_header gzh;
	size_t outcap;                 /* deflateBound of ENC_IN with the header */
	z_stream z;                    /* the caller's, when it compresses */
	int zinit;
	unsigned njobs, nworkers;
	enc_job jobs[ENC_JOBS_MAX];
	uint64_t head, tail;           /* members: the oldest not handed to fn, the one being filled */
	pthread_t th[ENC_WORKERS_MAX];
	unsigned started;
	pthread_mutex_t mu;
	pthread_cond_t to_worker, to_caller;
	int sync_init, quit;
	/* caller state */
	int in_obj, finished, err;
	uint64_t obj_size, total, zout;
	uint32_t obj_crc;
	unsigned nobj;
	char names[LVB_MAX_OBJECTS][LVB_NAME_MAX + 1];
};

static enc_job *job_at(lvb_enc *e, uint64_t seq)
{
	return &e->jobs[seq % e->njobs];
}

static int zinit(lvb_enc *e, z_stream *z)
{
	memset(z, 0, sizeof *z);
	if (deflateInit2(z, e->level, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK)
		return LV_E_NOMEM;
	return 0;
}

/* Compress one member: header (with its CRC), deflate, trailer. */
static int compress_job(lvb_enc *e, z_stream *z, enc_job *j)
{
	if (deflateReset(z) != Z_OK || deflateSetHeader(z, &e->gzh) != Z_OK)
		return LV_E_IO;
	z->next_in = j->in;
	z->avail_in = (uInt)j->inlen;
	z->next_out = j->out;
	z->avail_out = (uInt)e->outcap;
	if (deflate(z, Z_FINISH) != Z_STREAM_END)
		return LV_E_IO; /* cannot happen: the output holds deflateBound */
	j->outlen = e->outcap - z->avail_out;
	return 0;
}

static void *worker(void *p)
{
	lvb_enc *e = p;
	z_stream z;
	int zrc = zinit(e, &z);
	pthread_mutex_lock(&e->mu);
	while (!e->quit) { /* quit: the encoder is freed; what is queued is dropped */
		enc_job *j = NULL;
		for (uint64_t q = e->head; q < e->tail && !j; q++)
			if (job_at(e, q)->state == J_READY)
				j = job_at(e, q);
		if (!j) {
			pthread_cond_wait(&e->to_worker, &e->mu);
			continue;
		}
		j->state = J_BUSY;
		pthread_mutex_unlock(&e->mu);
		int rc = zrc ? zrc : compress_job(e, &z, j);
		pthread_mutex_lock(&e->mu);
		j->err = rc;
		j->state = J_DONE;
		pthread_cond_broadcast(&e->to_caller);
	}
	pthread_mutex_unlock(&e->mu);
	if (!zrc)
		deflateEnd(&z);
	return NULL;
}

static void stop_workers(lvb_enc *e)
{
	if (!e->started)
		return;
	pthread_mutex_lock(&e->mu);
	e->quit = 1;
	pthread_cond_broadcast(&e->to_worker);
	pthread_mutex_unlock(&e->mu);
	for (unsigned i = 0; i < e->started; i++)
		pthread_join(e->th[i], NULL);
	e->started = 0;
}

/*
 * Hand the finished members at the head to fn, in order; with all, wait
 * for every member submitted.  Called with mu held when threaded (released
 * around fn and while waiting).
 */
static int drain(lvb_enc *e, int all, int need_free)
{
	while (e->head < e->tail) {
		enc_job *j = job_at(e, e->head);
		if (j->state != J_DONE) {
			int must = all || (need_free && e->tail - e->head == e->njobs);
			if (!must)
				return 0;
			pthread_cond_wait(&e->to_caller, &e->mu);
			continue;
		}
		if (j->err)
			return e->err = j->err;
		int rc = 0;
		if (j->outlen) {
			if (e->nworkers)
				pthread_mutex_unlock(&e->mu);
			rc = e->fn(e->ud, j->out, j->outlen);
			if (e->nworkers)
				pthread_mutex_lock(&e->mu);
		}
		if (rc)
			return e->err = rc < 0 ? rc : LV_E_IO;
		e->zout += j->outlen;
		j->state = J_FREE;
		e->head++;
	}
	return 0;
}

/* The member being filled is complete: compress it (here, or on a worker). */
static int submit(lvb_enc *e)
{
	enc_job *j = job_at(e, e->tail);
	if (j->state != J_FILLING || !j->inlen)
		return 0;
	if (!e->nworkers) {
		int rc = compress_job(e, &e->z, j);
		if (rc)
			return e->err = rc;
		j->state = J_DONE;
		e->tail++;
		return drain(e, 1, 0);
	}
	pthread_mutex_lock(&e->mu);
	j->state = J_READY;
	e->tail++;
	pthread_cond_signal(&e->to_worker);
	int rc = drain(e, 0, 1); /* what is done goes out; wait only for a free slot */
	pthread_mutex_unlock(&e->mu);
	return rc;
}

/* Every member submitted, compressed and handed to fn. */
static int flush_all(lvb_enc *e)
{
	int rc = submit(e);
	if (rc || !e->nworkers)
		return rc;
	pthread_mutex_lock(&e->mu);
	rc = drain(e, 1, 0);
	pthread_mutex_unlock(&e->mu);
	return rc;
}

/* Room for a record of need bytes in the member being filled (a record never straddles two). */
static int reserve(lvb_enc *e, size_t need)
{
	enc_job *j = job_at(e, e->tail);
	if (j->state == J_FILLING) {
		if (ENC_IN - j->inlen >= need)
			return 0;
		if (!j->inlen)
			return e->err = LV_E_INVALID_ARG; /* a record larger than a member: cannot happen */
		int rc = submit(e);
		if (rc)
			return rc;
		j = job_at(e, e->tail);
	}
	if (j->state != J_FREE)
		return e->err = LV_E_IO; /* cannot happen: submit waited for a free slot */
	if (!j->in && (!(j->in = malloc(ENC_IN)) || !(j->out = malloc(e->outcap))))
		return e->err = LV_E_NOMEM;
	j->inlen = 0;
	j->outlen = 0;
	j->err = 0;
	j->state = J_FILLING;
	return 0;
}

/* Append a whole record (header, then optional data) to the member being filled. */
static int put_record(lvb_enc *e, const void *h, size_t hn, const void *data, size_t dn)
{
	int rc = reserve(e, hn + dn);
	if (rc)
		return rc;
	enc_job *j = job_at(e, e->tail);
	memcpy(j->in + j->inlen, h, hn);
	if (dn)
		memcpy(j->in + j->inlen + hn, data, dn);
	j->inlen += hn + dn;
	return 0;
}

static unsigned default_workers(void)
{
	long n = sysconf(_SC_NPROCESSORS_ONLN);
	if (n < 2)
		return 1;
	return n > ENC_WORKERS_MAX ? ENC_WORKERS_MAX : (unsigned)n;
}

int lvb_enc_new(lvb_enc **out, int level, int threaded, int header, lvb_write_fn fn, void *ud)
{
	if (level < 0 || level > 9)
		return LV_E_INVALID_ARG;
	lvb_enc *e = calloc(1, sizeof *e);
	if (!e)
		return LV_E_NOMEM;
	e->fn = fn;
	e->ud = ud;
	e->level = level;
	e->gzh.time = 0;
	e->gzh.os = LVB_GZIP_OS;
	e->gzh.hcrc = 1; /* the header CRC: a flipped byte in the header is detected too */
	if (zinit(e, &e->z))
		goto nomem;
	e->zinit = 1;
	if (deflateSetHeader(&e->z, &e->gzh) != Z_OK)
		goto nomem;
	e->outcap = deflateBound(&e->z, ENC_IN) + 64;
	e->njobs = 1;
	if (threaded) {
		if (pthread_mutex_init(&e->mu, NULL))
			goto nomem;
		if (pthread_cond_init(&e->to_worker, NULL) || pthread_cond_init(&e->to_caller, NULL)) {
			pthread_mutex_destroy(&e->mu);
			goto nomem;
		}
		e->sync_init = 1;
		unsigned want = default_workers();
		for (unsigned i = 0; i < want; i++)
			if (pthread_create(&e->th[e->started], NULL, worker, e) == 0)
				e->started++;
		if (e->started) {
			/* no more workers than started; two members more in flight keep them busy */
			e->nworkers = e->started;
			e->njobs = e->nworkers + 2;
		}
	}
	if (header) {
		unsigned char h[LVB_HEADER_LEN];
		memcpy(h, LVB_MAGIC, 8);
		put_u32(h + 8, LVB_VERSION);
		put_u32(h + 12, 0);
		int rc = put_record(e, h, sizeof h, NULL, 0);
		if (rc) {
			lvb_enc_free(e);
			return rc;
		}
	}
	*out = e;
	return 0;
nomem:
	lvb_enc_free(e);
	return LV_E_NOMEM;
}

void lvb_enc_free(lvb_enc *e)
{
	if (!e)
		return;
	stop_workers(e);
	if (e->sync_init) {
		pthread_mutex_destroy(&e->mu);
		pthread_cond_destroy(&e->to_worker);
		pthread_cond_destroy(&e->to_caller);
	}
	if (e->zinit)
		deflateEnd(&e->z);
	for (unsigned i = 0; i < ENC_JOBS_MAX; i++) {
		free(e->jobs[i].in);
		free(e->jobs[i].out);
	}
	free(e);
}

/* May an object of this name come next?  0, or why not. */
static int name_free(const lvb_enc *e, const char *name)
{
	if (e->err)
		return e->err;
	if (e->in_obj || e->finished || !lvb_name_ok(name, strlen(name)))
		return LV_E_INVALID_ARG;
	for (unsigned i = 0; i < e->nobj; i++)
		if (!strcmp(e->names[i], name))
			return LV_E_EXISTS;
	return e->nobj >= LVB_MAX_OBJECTS ? LV_E_NO_SPACE : 0;
}

int lvb_enc_begin(lvb_enc *e, const char *name)
{
	int rc = name_free(e, name);
	if (rc)
		return rc;
	size_t n = strlen(name);
	unsigned char h[2];
	h[0] = 'O';
	h[1] = (unsigned char)n;
	if ((rc = put_record(e, h, 2, name, n)))
		return rc;
	memcpy(e->names[e->nobj++], name, n + 1);
	e->in_obj = 1;
	e->obj_size = 0;
	e->obj_crc = (uint32_t)crc32(0L, Z_NULL, 0);
	return 0;
}

int lvb_enc_write(lvb_enc *e, const void *buf, size_t len)
{
	if (e->err)
		return e->err;
	if (!e->in_obj)
		return LV_E_INVALID_ARG;
	const unsigned char *p = buf;
	while (len) {
		/* a data record fits the member being filled, or begins the next one */
		enc_job *j = job_at(e, e->tail);
		size_t room = j->state == J_FILLING ? ENC_IN - j->inlen : 0;
		if (room < 5 + 4096 && room < 5 + len) {
			int rc = reserve(e, ENC_IN);
			if (rc)
				return rc;
			room = ENC_IN;
		}
		size_t k = len < LVB_CHUNK_MAX ? len : LVB_CHUNK_MAX;
		if (k > room - 5)
			k = room - 5;
		unsigned char h[5];
		h[0] = 'D';
		put_u32(h + 1, (uint32_t)k);
		int rc = put_record(e, h, 5, p, k);
		if (rc)
			return rc;
		e->obj_crc = (uint32_t)crc32(e->obj_crc, p, (uInt)k);
		e->obj_size += k;
		p += k;
		len -= k;
	}
	return 0;
}

int lvb_enc_end(lvb_enc *e)
{
	if (e->err)
		return e->err;
	if (!e->in_obj)
		return LV_E_INVALID_ARG;
	unsigned char h[13];
	h[0] = 'E';
	put_u64(h + 1, e->obj_size);
	put_u32(h + 9, e->obj_crc);
	int rc = put_record(e, h, sizeof h, NULL, 0);
	if (rc)
		return rc;
	e->total += e->obj_size;
	e->in_obj = 0;
	return 0;
}

int lvb_enc_member(lvb_enc *e)
{
	if (e->err)
		return e->err;
	if (e->in_obj || e->finished)
		return LV_E_INVALID_ARG;
	return flush_all(e);
}

int lvb_enc_external(lvb_enc *e, const char *name, uint64_t size)
{
	int rc = name_free(e, name);
	if (rc)
		return rc;
	memcpy(e->names[e->nobj++], name, strlen(name) + 1);
	e->total += size;
	return 0;
}

int lvb_enc_finish(lvb_enc *e)
{
	if (e->err)
		return e->err;
	if (e->in_obj || e->finished)
		return LV_E_INVALID_ARG;
	unsigned char h[13];
	h[0] = 'Z';
	put_u32(h + 1, e->nobj);
	put_u64(h + 5, e->total);
	int rc = put_record(e, h, sizeof h, NULL, 0);
	if (!rc)
		rc = flush_all(e);
	if (rc)
		return rc;
	e->finished = 1;
	stop_workers(e);
	return 0;
}

uint64_t lvb_enc_total_in(const lvb_enc *e) { return e->total; }
uint64_t lvb_enc_total_out(const lvb_enc *e) { return e->zout; }
