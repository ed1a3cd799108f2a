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
	/* the names of a backup set: licvault-<16 lowercase hex>.pack or .manifest */
	static const char prefix[] = "licvault-";
	if (len < 9 + 16 + 5 || memcmp(name, prefix, 9) != 0)
		return 0;
	for (size_t i = 9; i < 9 + 16; i++)
		if (!((name[i] >= '0' && name[i] <= '9') || (name[i] >= 'a' && name[i] <= 'f')))
			return 0;
	const char *ext = name + 9 + 16;
	size_t el = len - 9 - 16;
	return (el == 5 && !memcmp(ext, ".pack", 5)) || (el == 9 && !memcmp(ext, ".manifest", 9));
}

/* ======================================================================== */
/* Decoder                                                                  */

#define DEC_IN (64u * 1024u)
#define DEC_OUT (256u * 1024u)

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
	int member_ok;             /* a gzip member may end here (version 2, between records) */
	unsigned members;          /* gzip members begun */
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
	/* presence of the optional fields: zlib sets a pointer to NULL when its field is absent */
	d->head.extra = d->hextra;
	d->head.extra_max = 1;
	d->head.name = d->hname;
	d->head.name_max = 1;
	d->head.comment = d->hcomm;
	d->head.comm_max = 1;
	inflateGetHeader(&d->z, &d->head);
	d->members = 1;
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
	if (d->members >= LVB_MAX_MEMBERS)
		return corrupt(d, "more than %u gzip members (one begins at compressed byte %llu)", LVB_MAX_MEMBERS,
		               (unsigned long long)lvb_dec_zoffset(d));
	if (check_pad(d))
		return d->err;
	if (inflateReset(&d->z) != Z_OK)
		return corrupt(d, "internal: inflateReset failed");
	memset(&d->head, 0, sizeof d->head);
	d->head.extra = d->hextra;
	d->head.extra_max = 1;
	d->head.name = d->hname;
	d->head.name_max = 1;
	d->head.comment = d->hcomm;
	d->head.comm_max = 1;
	inflateGetHeader(&d->z, &d->head);
	d->head_checked = 0;
	d->zend = 0;
	d->pad_kind = PAD_NONE;
	d->member_at = lvb_dec_zoffset(d);
	d->members++;
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

int lvb_dec_next(lvb_dec *d, lvb_event *ev)
{
	if (d->err)
		return d->err;
	memset(ev, 0, sizeof *ev);
	int rc;
	for (;;) {
		switch (d->state) {
		case S_HEADER:
			if ((rc = fill(d, LVB_HEADER_LEN)))
				return rc < 0 ? rc : corrupt(d, "truncated: the gzip stream ends in the container header");
			if (memcmp(d->out + d->opos, LVB_MAGIC, 8) != 0)
				return corrupt(d, "not a licvault bundle (bad magic at byte 0 of the container)");
			d->version = get_u32(d->out + d->opos + 8);
			if (d->version < 1 || d->version > LVB_VERSION)
				return corrupt(d, "container version %u, this licvault reads versions 1 to %u", d->version, LVB_VERSION);
			if (get_u32(d->out + d->opos + 12) != 0)
				return corrupt(d, "unknown container flags %08x at byte 12", get_u32(d->out + d->opos + 12));
			consume(d, LVB_HEADER_LEN);
			d->state = S_TOP;
			break;
		case S_TOP: {
			uint64_t at = d->coff;
			/* version 2: a gzip member may end between top-level records */
			d->member_ok = d->version >= 2;
			rc = fill(d, 1);
			d->member_ok = 0;
			if (rc)
				return rc < 0 ? rc
				              : corrupt(d, "truncated: the gzip stream ends at container byte %llu, before the end record",
				                        (unsigned long long)at);
			unsigned char tag = d->out[d->opos];
			if (tag == 'O') {
				if ((rc = fill(d, 2)))
					return rc < 0 ? rc : corrupt(d, "truncated: the gzip stream ends in the object record at byte %llu", (unsigned long long)at);
				size_t n = d->out[d->opos + 1];
				if ((rc = fill(d, 2 + n)))
					return rc < 0 ? rc : corrupt(d, "truncated: the gzip stream ends in the object record at byte %llu", (unsigned long long)at);
				const char *name = (const char *)d->out + d->opos + 2;
				if (!lvb_name_ok(name, n)) {
					char shown[64];
					size_t k = 0;
					for (size_t i = 0; i < n && k + 5 < sizeof shown; i++) {
						unsigned char c = (unsigned char)name[i];
						k += (size_t)snprintf(shown + k, sizeof shown - k, c >= 0x20 && c < 0x7f && c != '\\' ? "%c" : "\\x%02x", c);
					}
					return corrupt(d, "object name '%s%s' at byte %llu is not one of a backup set (licvault-<16 hex>.pack or .manifest)",
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
			if (tag == 'Z') {
				if ((rc = fill(d, 13)))
					return rc < 0 ? rc : corrupt(d, "truncated: the gzip stream ends in the end record at byte %llu", (unsigned long long)at);
				uint32_t count = get_u32(d->out + d->opos + 1);
				uint64_t total = get_u64(d->out + d->opos + 5);
				if (count != d->nobj || total != d->total)
					return corrupt(d, "the end record at byte %llu declares %u objects of %llu bytes, the bundle holds %u of %llu",
					               (unsigned long long)at, count, (unsigned long long)total, d->nobj,
					               (unsigned long long)d->total);
				consume(d, 13);
				if ((rc = check_end(d)))
					return rc;
				d->state = S_DONE;
				continue;
			}
			return corrupt(d, "unknown record 0x%02x at container byte %llu", tag, (unsigned long long)at);
		}
		case S_OBJ: {
			uint64_t at = d->coff;
			const char *name = d->names[d->nobj - 1];
			if ((rc = fill(d, 1)))
				return rc < 0 ? rc : corrupt(d, "truncated: the gzip stream ends inside object %s at byte %llu", name, (unsigned long long)at);
			unsigned char tag = d->out[d->opos];
			if (tag == 'D') {
				if ((rc = fill(d, 5)))
					return rc < 0 ? rc : corrupt(d, "truncated: the gzip stream ends inside object %s at byte %llu", name, (unsigned long long)at);
				uint32_t len = get_u32(d->out + d->opos + 1);
				if (len == 0 || len > LVB_CHUNK_MAX)
					return corrupt(d, "object %s: a data record of %u bytes at byte %llu (1 to %u allowed)", name, len,
					               (unsigned long long)at, LVB_CHUNK_MAX);
				consume(d, 5);
				d->chunk_left = len;
				d->state = S_DATA;
				break;
			}
			if (tag == 'E') {
				if ((rc = fill(d, 13)))
					return rc < 0 ? rc : corrupt(d, "truncated: the gzip stream ends inside object %s at byte %llu", name, (unsigned long long)at);
				uint64_t size = get_u64(d->out + d->opos + 1);
				uint32_t crc = get_u32(d->out + d->opos + 9);
				if (size != d->cur_size)
					return corrupt(d, "object %s holds %llu bytes, its end record at byte %llu declares %llu", name,
					               (unsigned long long)d->cur_size, (unsigned long long)at, (unsigned long long)size);
				if (crc != d->cur_crc)
					return corrupt(d, "object %s: checksum mismatch (CRC-32 %08x, its end record at byte %llu declares %08x)",
					               name, d->cur_crc, (unsigned long long)at, crc);
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
			return corrupt(d, "object %s: unexpected record 0x%02x at container byte %llu", name, tag, (unsigned long long)at);
		}
		case S_DATA: {
			if (d->chunk_left == 0) {
				d->state = S_OBJ;
				break;
			}
			const char *name = d->names[d->nobj - 1];
			if ((rc = fill(d, 1)))
				return rc < 0 ? rc : corrupt(d, "truncated: the gzip stream ends inside object %s at byte %llu", name, (unsigned long long)d->coff);
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
		case S_DONE:
			ev->type = LVB_EV_END;
			ev->size = d->total;
			return 0;
		}
	}
}

/* ======================================================================== */
/* Encoder                                                                  */

#define ENC_IN (1u << 20)      /* an input buffer */
#define ENC_NIN 3              /* input buffers: one filling, two queued */
#define ENC_OUT (256u * 1024u) /* an output buffer */
#define ENC_NOUT 8

typedef struct ring {
	int v[8];
	unsigned head, n;
} ring;

static void ring_push(ring *r, int x)
{
	r->v[(r->head + r->n++) % 8] = x;
}

static int ring_pop(ring *r)
{
	int x = r->v[r->head];
	r->head = (r->head + 1) % 8;
	r->n--;
	return x;
}

struct lvb_enc {
	lvb_write_fn fn;
	void *ud;
	z_stream z;
	int zinit;
	gz_header gzh;
	int threaded;
	unsigned char *in[ENC_NIN];
	size_t inlen[ENC_NIN];
	int final[ENC_NIN];
	unsigned char *out[ENC_NOUT];
	size_t outlen[ENC_NOUT];
	int cur;                       /* input buffer being filled */
	/* queues, under mu when threaded */
	ring in_ready, in_free, out_ready, out_free;
	pthread_t th;
	pthread_mutex_t mu;
	pthread_cond_t to_worker, to_caller;
	int started, quit, worker_done, worker_err;
	int sync_init;                 /* mu and the conditions exist */
	uint64_t member_in;            /* bytes put into the current gzip member */
	/* caller state */
	int in_obj, finished, err;
	uint64_t obj_size, total, zout;
	uint32_t obj_crc;
	unsigned nobj;
	char names[LVB_MAX_OBJECTS][LVB_NAME_MAX + 1];
};

static int emit(lvb_enc *e, const unsigned char *p, size_t n)
{
	if (!n)
		return 0;
	int rc = e->fn(e->ud, p, n);
	if (rc)
		return e->err = rc < 0 ? rc : LV_E_IO;
	e->zout += n;
	return 0;
}

/* Single-threaded: deflate one input buffer on the caller's thread. */
static int deflate_here(lvb_enc *e, const unsigned char *p, size_t n, int final)
{
	e->z.next_in = (unsigned char *)p;
	e->z.avail_in = (uInt)n;
	for (;;) {
		e->z.next_out = e->out[0];
		e->z.avail_out = ENC_OUT;
		int r = deflate(&e->z, final ? Z_FINISH : Z_NO_FLUSH);
		if (r == Z_STREAM_ERROR)
			return e->err = LV_E_IO;
		int rc = emit(e, e->out[0], ENC_OUT - e->z.avail_out);
		if (rc)
			return rc;
		if (final ? r == Z_STREAM_END : (e->z.avail_in == 0 && e->z.avail_out != 0))
			return 0;
	}
}

static void *worker(void *p)
{
	lvb_enc *e = p;
	int ob = -1;
	pthread_mutex_lock(&e->mu);
	for (;;) {
		while (!e->in_ready.n && !e->quit)
			pthread_cond_wait(&e->to_worker, &e->mu);
		if (e->quit)
			break;
		int ib = ring_pop(&e->in_ready);
		int final = e->final[ib];
		pthread_mutex_unlock(&e->mu);
		e->z.next_in = e->in[ib];
		e->z.avail_in = (uInt)e->inlen[ib];
		int r = Z_OK;
		for (;;) {
			if (ob < 0) {
				pthread_mutex_lock(&e->mu);
				while (!e->out_free.n && !e->quit)
					pthread_cond_wait(&e->to_worker, &e->mu);
				if (e->quit)
					goto out;
				ob = ring_pop(&e->out_free);
				pthread_mutex_unlock(&e->mu);
				e->z.next_out = e->out[ob];
				e->z.avail_out = ENC_OUT;
			}
			r = deflate(&e->z, final ? Z_FINISH : Z_NO_FLUSH);
			if (r == Z_STREAM_ERROR) {
				pthread_mutex_lock(&e->mu);
				e->worker_err = 1;
				pthread_cond_signal(&e->to_caller);
				goto out;
			}
			if (e->z.avail_out == 0 || r == Z_STREAM_END) {
				pthread_mutex_lock(&e->mu);
				e->outlen[ob] = ENC_OUT - e->z.avail_out;
				ring_push(&e->out_ready, ob);
				pthread_cond_signal(&e->to_caller);
				pthread_mutex_unlock(&e->mu);
				ob = -1;
			}
			if (final ? r == Z_STREAM_END : e->z.avail_in == 0)
				break;
		}
		pthread_mutex_lock(&e->mu);
		ring_push(&e->in_free, ib);
		if (final)
			e->worker_done = 1;
		pthread_cond_signal(&e->to_caller);
		if (final)
			break;
	}
out:
	pthread_mutex_unlock(&e->mu);
	return NULL;
}

/* Called with mu held: hand the compressed buffers ready to fn (mu released meanwhile). */
static int drain_locked(lvb_enc *e)
{
	while (e->out_ready.n) {
		int ob = ring_pop(&e->out_ready);
		pthread_mutex_unlock(&e->mu);
		int rc = emit(e, e->out[ob], e->outlen[ob]);
		pthread_mutex_lock(&e->mu);
		ring_push(&e->out_free, ob);
		pthread_cond_signal(&e->to_worker);
		if (rc)
			return rc;
	}
	return 0;
}

static void stop_worker(lvb_enc *e)
{
	if (!e->started)
		return;
	pthread_mutex_lock(&e->mu);
	e->quit = 1;
	pthread_cond_broadcast(&e->to_worker);
	pthread_mutex_unlock(&e->mu);
	pthread_join(e->th, NULL);
	e->started = 0;
}

/* The current input buffer is complete: compress it (or queue it), get the next. */
static int submit(lvb_enc *e, int final)
{
	int ib = e->cur;
	e->final[ib] = final;
	if (!e->threaded) {
		int rc = deflate_here(e, e->in[ib], e->inlen[ib], final);
		e->inlen[ib] = 0;
		return rc;
	}
	int rc = 0;
	pthread_mutex_lock(&e->mu);
	ring_push(&e->in_ready, ib);
	pthread_cond_signal(&e->to_worker);
	e->cur = -1;
	for (;;) {
		if ((rc = drain_locked(e)))
			break;
		if (e->worker_err) {
			rc = e->err = LV_E_IO;
			break;
		}
		if (final ? (e->worker_done && !e->out_ready.n) : e->in_free.n > 0)
			break;
		pthread_cond_wait(&e->to_caller, &e->mu);
	}
	if (!rc && !final) {
		e->cur = ring_pop(&e->in_free);
		e->inlen[e->cur] = 0;
	}
	pthread_mutex_unlock(&e->mu);
	if (rc)
		stop_worker(e);
	return rc;
}

static int put(lvb_enc *e, const void *p, size_t n)
{
	const unsigned char *s = p;
	e->member_in += n;
	while (n) {
		size_t room = ENC_IN - e->inlen[e->cur];
		size_t k = n < room ? n : room;
		memcpy(e->in[e->cur] + e->inlen[e->cur], s, k);
		e->inlen[e->cur] += k;
		s += k;
		n -= k;
		if (e->inlen[e->cur] == ENC_IN) {
			int rc = submit(e, 0);
			if (rc)
				return rc;
		}
	}
	return 0;
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
	e->threaded = threaded;
	int nin = threaded ? ENC_NIN : 1, nout = threaded ? ENC_NOUT : 1;
	for (int i = 0; i < nin; i++)
		if (!(e->in[i] = malloc(ENC_IN)))
			goto nomem;
	for (int i = 0; i < nout; i++)
		if (!(e->out[i] = malloc(ENC_OUT)))
			goto nomem;
	if (deflateInit2(&e->z, level, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK)
		goto nomem;
	e->zinit = 1;
	e->gzh.time = 0;
	e->gzh.os = LVB_GZIP_OS;
	e->gzh.hcrc = 1; /* the header CRC: a flipped byte in the header is detected too */
	if (deflateSetHeader(&e->z, &e->gzh) != Z_OK)
		goto nomem;
	e->cur = 0;
	if (threaded) {
		for (int i = 1; i < nin; i++)
			ring_push(&e->in_free, i);
		for (int i = 0; i < nout; i++)
			ring_push(&e->out_free, i);
		if (pthread_mutex_init(&e->mu, NULL) || pthread_cond_init(&e->to_worker, NULL) ||
		    pthread_cond_init(&e->to_caller, NULL))
			goto nomem;
		e->sync_init = 1;
		if (pthread_create(&e->th, NULL, worker, e) != 0) {
			/* no second thread: compress here */
			e->threaded = 0;
		} else
			e->started = 1;
	}
	if (header) {
		unsigned char h[LVB_HEADER_LEN];
		memcpy(h, LVB_MAGIC, 8);
		put_u32(h + 8, LVB_VERSION);
		put_u32(h + 12, 0);
		int rc = put(e, h, sizeof h);
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
	stop_worker(e);
	if (e->sync_init) {
		pthread_mutex_destroy(&e->mu);
		pthread_cond_destroy(&e->to_worker);
		pthread_cond_destroy(&e->to_caller);
	}
	if (e->zinit)
		deflateEnd(&e->z);
	for (int i = 0; i < ENC_NIN; i++)
		free(e->in[i]);
	for (int i = 0; i < ENC_NOUT; i++)
		free(e->out[i]);
	free(e);
}

int lvb_enc_begin(lvb_enc *e, const char *name)
{
	if (e->err)
		return e->err;
	size_t n = strlen(name);
	if (e->in_obj || e->finished || !lvb_name_ok(name, n))
		return LV_E_INVALID_ARG;
	for (unsigned i = 0; i < e->nobj; i++)
		if (!strcmp(e->names[i], name))
			return LV_E_EXISTS;
	if (e->nobj >= LVB_MAX_OBJECTS)
		return LV_E_NO_SPACE;
	unsigned char h[2 + LVB_NAME_MAX];
	h[0] = 'O';
	h[1] = (unsigned char)n;
	memcpy(h + 2, name, n);
	int rc = put(e, h, 2 + n);
	if (rc)
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
		size_t k = len < LVB_CHUNK_MAX ? len : LVB_CHUNK_MAX;
		unsigned char h[5];
		h[0] = 'D';
		put_u32(h + 1, (uint32_t)k);
		int rc = put(e, h, 5);
		if (!rc)
			rc = put(e, p, k);
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
	int rc = put(e, h, sizeof h);
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
	if (!e->member_in)
		return 0;
	int rc = submit(e, 1);
	if (rc)
		return rc;
	if (e->threaded) {
		/* the worker ended with the member; the next members are small (a
		 * manifest, the end record): compress them here */
		stop_worker(e);
		e->threaded = 0;
		e->cur = 0;
		e->inlen[0] = 0;
	}
	if (deflateReset(&e->z) != Z_OK || deflateSetHeader(&e->z, &e->gzh) != Z_OK)
		return e->err = LV_E_IO;
	e->member_in = 0;
	return 0;
}

int lvb_enc_external(lvb_enc *e, const char *name, uint64_t size)
{
	if (e->err)
		return e->err;
	size_t n = strlen(name);
	if (e->in_obj || e->finished || !lvb_name_ok(name, n))
		return LV_E_INVALID_ARG;
	for (unsigned i = 0; i < e->nobj; i++)
		if (!strcmp(e->names[i], name))
			return LV_E_EXISTS;
	if (e->nobj >= LVB_MAX_OBJECTS)
		return LV_E_NO_SPACE;
	memcpy(e->names[e->nobj++], name, n + 1);
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
	int rc = put(e, h, sizeof h);
	if (!rc)
		rc = submit(e, 1);
	if (rc)
		return rc;
	e->finished = 1;
	stop_worker(e);
	return 0;
}

uint64_t lvb_enc_total_in(const lvb_enc *e) { return e->total; }
uint64_t lvb_enc_total_out(const lvb_enc *e) { return e->zout; }
