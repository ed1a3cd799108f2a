/*
 * The crypt object format: sealing and opening one object as a stream of
 * 64 KiB chunks (stream.h; the layout is in docs/drivers/crypt.md).
 *
 * Header (72 bytes, all of it associated data of every chunk):
 *   0  magic "LVCRYPT\n"     8  u32 LE version = 1    12  u32 LE chunk size = 65536
 *   16 location ID (16)      32 key ID (16)           48  secretstream header (24)
 * Chunks: crypto_secretstream_xchacha20poly1305_push of 65536 plaintext
 * bytes (17 more in ciphertext), TAG_MESSAGE, then one last chunk of 0 to
 * 65536 bytes with TAG_FINAL.  Associated data of each: header || name.
 *
 * Memory: the stream state lives in sodium_malloc'd memory (it holds a
 * key derived from the data key); a writer keeps one chunk of plaintext
 * and ~1 MiB of ciphertext, a reader ~1 MiB of ciphertext and one chunk.
 */
#include "stream.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "licvault/common.h"

#define SS_STATE crypto_secretstream_xchacha20poly1305_state
#define TAG_MESSAGE crypto_secretstream_xchacha20poly1305_TAG_MESSAGE
#define TAG_FINAL crypto_secretstream_xchacha20poly1305_TAG_FINAL
#ifndef FUZZING_BUILD_MODE_UNSAFE_FOR_PRODUCTION
#define BATCH 16u   /* chunks per write to, or read from, the inner driver (~1 MiB) */
#else
#define BATCH 1u    /* fuzz builds: buffers a sanitizer's allocator keeps (no mmap per run) */
#endif

_Static_assert(LVC_ABYTES == crypto_secretstream_xchacha20poly1305_ABYTES, "ABYTES");
_Static_assert(LVC_KEYBYTES == crypto_secretstream_xchacha20poly1305_KEYBYTES, "KEYBYTES");
_Static_assert(LVC_HDR == 48 + crypto_secretstream_xchacha20poly1305_HEADERBYTES, "header");

static const char key_id_context[] = "licvault-crypt key id";

/*
 * The stream state holds a key derived from the data key: guarded, locked
 * memory, wiped when freed.  Fuzz builds (the standard libFuzzer macro) use
 * the heap instead, still wiped: sodium_malloc's mmap, mprotect and mlock
 * per object would dominate every run.
 */
static SS_STATE *state_new(void)
{
#ifdef FUZZING_BUILD_MODE_UNSAFE_FOR_PRODUCTION
	return calloc(1, sizeof(SS_STATE));
#else
	return sodium_malloc(sizeof(SS_STATE));
#endif
}

static void state_free(SS_STATE *st)
{
	if (!st)
		return;
#ifdef FUZZING_BUILD_MODE_UNSAFE_FOR_PRODUCTION
	sodium_memzero(st, sizeof *st);
	free(st);
#else
	sodium_free(st); /* wipes */
#endif
}

void lvc_key_id(const unsigned char *key, unsigned char out[LVC_IDBYTES])
{
	crypto_generichash(out, LVC_IDBYTES, (const unsigned char *)key_id_context, sizeof key_id_context - 1, key,
	                   LVC_KEYBYTES);
}

void lvc_hex(const unsigned char *p, size_t n, char *out)
{
	static const char digits[] = "0123456789abcdef";
	for (size_t i = 0; i < n; i++) {
		out[2 * i] = digits[p[i] >> 4];
		out[2 * i + 1] = digits[p[i] & 15];
	}
	out[2 * n] = '\0';
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

uint64_t lvc_cipher_size(uint64_t n)
{
	if (n > (UINT64_MAX >> 1))
		return UINT64_MAX;
	uint64_t chunks = n / LVC_CHUNK + (n % LVC_CHUNK != 0);
	if (!chunks)
		chunks = 1;
	return LVC_HDR + n + LVC_ABYTES * chunks;
}

uint64_t lvc_plain_size(uint64_t n)
{
	if (n == UINT64_MAX || n < LVC_HDR + LVC_ABYTES)
		return UINT64_MAX;
	uint64_t m = n - LVC_HDR;
	uint64_t chunks = m / LVC_UNIT + (m % LVC_UNIT != 0);
	uint64_t last = m - (chunks - 1) * LVC_UNIT;
	if (last < LVC_ABYTES)
		return UINT64_MAX;
	return m - LVC_ABYTES * chunks;
}

/* The associated data: header || name. */
static size_t make_ad(unsigned char *ad, const unsigned char *hdr, const char *name)
{
	size_t nl = strlen(name);
	if (nl > LVC_NAME_MAX)
		nl = LVC_NAME_MAX;
	memcpy(ad, hdr, LVC_HDR);
	memcpy(ad + LVC_HDR, name, nl);
	return LVC_HDR + nl;
}

int lvc_header_parse(const unsigned char *hdr, unsigned char loc_id[LVC_IDBYTES], unsigned char key_id[LVC_IDBYTES],
                     char *why, size_t cap)
{
	if (memcmp(hdr, LVC_MAGIC, 8) != 0) {
		snprintf(why, cap, "authentication failed: not a crypt object (bad magic at byte 0; a plaintext object?)");
		return LV_E_BACKUP_CORRUPT;
	}
	if (get_u32(hdr + 8) != LVC_VERSION) {
		snprintf(why, cap, "authentication failed: format version %u, this driver reads version %u", get_u32(hdr + 8),
		         LVC_VERSION);
		return LV_E_BACKUP_CORRUPT;
	}
	if (get_u32(hdr + 12) != LVC_CHUNK) {
		snprintf(why, cap, "authentication failed: chunk size %u in the header, version 1 has %u", get_u32(hdr + 12),
		         LVC_CHUNK);
		return LV_E_BACKUP_CORRUPT;
	}
	memcpy(loc_id, hdr + 16, LVC_IDBYTES);
	memcpy(key_id, hdr + 32, LVC_IDBYTES);
	return 0;
}

/* ---- sealing ------------------------------------------------------------ */

struct lvc_enc {
	SS_STATE *st;                /* sodium_malloc'd */
	unsigned char *pt;           /* the chunk being filled */
	size_t ptlen;
	unsigned char *out;          /* sealed chunks waiting for the sink */
	size_t outlen;
	unsigned char ad[LVC_HDR + LVC_NAME_MAX];
	size_t adlen;
	lvc_sink_fn sink;
	void *ud;
	int rc;                      /* sticky: the first failure */
};

#define OUT_CAP (LVC_HDR + (size_t)BATCH * LVC_UNIT)

int lvc_enc_new(lvc_enc **out, const lvc_key *k, const char *name, lvc_sink_fn sink, void *ud)
{
	lvc_enc *e = calloc(1, sizeof *e);
	if (!e)
		return LV_E_NOMEM;
	e->st = state_new();
	e->pt = malloc(LVC_CHUNK);
	e->out = malloc(OUT_CAP);
	if (!e->st || !e->pt || !e->out) {
		lvc_enc_free(e);
		return LV_E_NOMEM;
	}
	unsigned char *hdr = e->out;
	memcpy(hdr, LVC_MAGIC, 8);
	put_u32(hdr + 8, LVC_VERSION);
	put_u32(hdr + 12, LVC_CHUNK);
	memcpy(hdr + 16, k->loc_id, LVC_IDBYTES);
	memcpy(hdr + 32, k->key_id, LVC_IDBYTES);
	crypto_secretstream_xchacha20poly1305_init_push(e->st, hdr + 48, k->key);
	e->outlen = LVC_HDR;
	e->adlen = make_ad(e->ad, hdr, name);
	e->sink = sink;
	e->ud = ud;
	*out = e;
	return 0;
}

static int flush(lvc_enc *e)
{
	if (!e->outlen)
		return 0;
	int rc = e->sink(e->ud, e->out, e->outlen);
	e->outlen = 0;
	return rc;
}

static int seal(lvc_enc *e, const unsigned char *m, size_t len, unsigned char tag)
{
	if (e->outlen + len + LVC_ABYTES > OUT_CAP && (e->rc = flush(e)))
		return e->rc;
	unsigned long long clen = 0;
	crypto_secretstream_xchacha20poly1305_push(e->st, e->out + e->outlen, &clen, m, len, e->ad, e->adlen, tag);
	e->outlen += (size_t)clen;
	return 0;
}

int lvc_enc_write(lvc_enc *e, const void *buf, size_t len)
{
	const unsigned char *p = buf;
	if (e->rc)
		return e->rc;
	while (len) {
		/* a full chunk is sealed only once more bytes show it is not the last */
		if (e->ptlen == LVC_CHUNK) {
			if (seal(e, e->pt, LVC_CHUNK, TAG_MESSAGE))
				return e->rc;
			e->ptlen = 0;
		}
		if (!e->ptlen && len > LVC_CHUNK) {
			if (seal(e, p, LVC_CHUNK, TAG_MESSAGE))
				return e->rc;
			p += LVC_CHUNK;
			len -= LVC_CHUNK;
			continue;
		}
		size_t k = LVC_CHUNK - e->ptlen < len ? LVC_CHUNK - e->ptlen : len;
		memcpy(e->pt + e->ptlen, p, k);
		e->ptlen += k;
		p += k;
		len -= k;
	}
	return 0;
}

int lvc_enc_finish(lvc_enc *e)
{
	if (e->rc)
		return e->rc;
	if (seal(e, e->pt, e->ptlen, TAG_FINAL))
		return e->rc;
	e->ptlen = 0;
	e->rc = flush(e);
	return e->rc;
}

void lvc_enc_free(lvc_enc *e)
{
	if (!e)
		return;
	state_free(e->st);
	if (e->pt)
		sodium_memzero(e->pt, LVC_CHUNK);
	free(e->pt);
	free(e->out);
	free(e);
}

/* ---- opening ------------------------------------------------------------- */

struct lvc_dec {
	SS_STATE *st;                /* sodium_malloc'd */
	lvc_key key;
	unsigned char *in;           /* ciphertext read ahead */
	size_t inpos, inlen;
	int eof;                     /* the source said so */
	unsigned char *pt;           /* a chunk opened for a small read */
	size_t ptpos, ptlen;
	unsigned char ad[LVC_HDR + LVC_NAME_MAX];
	size_t adlen;
	char name[LVC_NAME_MAX + 1];
	lvc_source_fn source;
	void *ud;
	int phase;                   /* 0: header next, 1: chunks, 2: ended (final chunk and end checked) */
	uint64_t chunk;              /* chunks opened */
	uint64_t offset;             /* ciphertext offset of in[inpos] */
	int rc;                      /* sticky */
	char why[400];
};

#define IN_CAP ((size_t)BATCH * LVC_UNIT)

int lvc_dec_new(lvc_dec **out, const lvc_key *k, const char *name, lvc_source_fn source, void *ud)
{
	lvc_dec *d = calloc(1, sizeof *d);
	if (!d)
		return LV_E_NOMEM;
	d->st = state_new();
	d->in = malloc(IN_CAP);
	d->pt = malloc(LVC_CHUNK);
	if (!d->st || !d->in || !d->pt) {
		lvc_dec_free(d);
		return LV_E_NOMEM;
	}
	d->key = *k;
	snprintf(d->name, sizeof d->name, "%s", name);
	d->source = source;
	d->ud = ud;
	*out = d;
	return 0;
}

void lvc_dec_free(lvc_dec *d)
{
	if (!d)
		return;
	state_free(d->st);
	if (d->pt)
		sodium_memzero(d->pt, LVC_CHUNK);
	free(d->pt);
	free(d->in);
	free(d);
}

const char *lvc_dec_why(const lvc_dec *d)
{
	return d->rc == LV_E_BACKUP_CORRUPT ? d->why : "";
}

static int corrupt(lvc_dec *d, const char *fmt, ...) LV_PRINTF(2, 3);
static int corrupt(lvc_dec *d, const char *fmt, ...)
{
	int k = snprintf(d->why, sizeof d->why, "authentication failed: ");
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(d->why + k, sizeof d->why - (size_t)k, fmt, ap);
	va_end(ap);
	return d->rc = LV_E_BACKUP_CORRUPT;
}

/* Have at least `want` bytes at in[inpos] unless the source ends first. */
static int fill(lvc_dec *d, size_t want)
{
	if (d->inlen - d->inpos >= want || d->eof)
		return 0;
	memmove(d->in, d->in + d->inpos, d->inlen - d->inpos);
	d->inlen -= d->inpos;
	d->inpos = 0;
	while (d->inlen < want && !d->eof) {
		size_t n = 0;
		int rc = d->source(d->ud, d->in + d->inlen, IN_CAP - d->inlen, &n);
		if (rc)
			return d->rc = rc;
		if (n > IN_CAP - d->inlen)
			return corrupt(d, "the inner driver returned more bytes than asked");
		if (!n)
			d->eof = 1;
		d->inlen += n;
	}
	return 0;
}

static int read_header(lvc_dec *d)
{
	int rc = fill(d, LVC_HDR);
	if (rc)
		return rc;
	size_t have = d->inlen - d->inpos;
	if (have < LVC_HDR)
		return corrupt(d, "truncated: the object is %zu bytes, shorter than its %u-byte header", have, LVC_HDR);
	const unsigned char *hdr = d->in + d->inpos;
	unsigned char loc[LVC_IDBYTES], kid[LVC_IDBYTES];
	if ((rc = lvc_header_parse(hdr, loc, kid, d->why, sizeof d->why)))
		return d->rc = rc;
	char a[2 * LVC_IDBYTES + 1], b[2 * LVC_IDBYTES + 1];
	if (memcmp(kid, d->key.key_id, LVC_IDBYTES)) {
		lvc_hex(kid, LVC_IDBYTES, a);
		lvc_hex(d->key.key_id, LVC_IDBYTES, b);
		return corrupt(d, "it was sealed under another key (key ID %s; this location's key is %s)", a, b);
	}
	if (memcmp(loc, d->key.loc_id, LVC_IDBYTES)) {
		lvc_hex(loc, LVC_IDBYTES, a);
		lvc_hex(d->key.loc_id, LVC_IDBYTES, b);
		return corrupt(d, "it belongs to another location under the same key (location ID %s; this location is %s)",
		               a, b);
	}
	crypto_secretstream_xchacha20poly1305_init_pull(d->st, hdr + 48, d->key.key);
	d->adlen = make_ad(d->ad, hdr, d->name);
	d->inpos += LVC_HDR;
	d->offset = LVC_HDR;
	d->phase = 1;
	return 0;
}

/* After the final chunk: nothing may follow. */
static int check_end(lvc_dec *d)
{
	int rc = fill(d, 1);
	if (rc)
		return rc;
	if (d->inlen > d->inpos)
		return corrupt(d, "data follows the final chunk at byte %llu", (unsigned long long)d->offset);
	d->phase = 2;
	return 0;
}

/* Open the next chunk into dst (room for LVC_CHUNK bytes); *len gets its size. */
static int open_chunk(lvc_dec *d, unsigned char *dst, size_t *len)
{
	int rc = fill(d, LVC_UNIT);
	if (rc)
		return rc;
	size_t have = d->inlen - d->inpos, ulen = have < LVC_UNIT ? have : LVC_UNIT;
	unsigned long long at = d->offset, no = d->chunk;
	if (!have)
		return corrupt(d, "truncated: it ends at byte %llu after chunk %llu, without its final chunk", at, no);
	if (have < LVC_ABYTES)
		return corrupt(d, "truncated: chunk %llu at byte %llu is %zu bytes, less than a chunk's 17", no, at, have);
	unsigned long long mlen = 0;
	unsigned char tag = 0;
	if (crypto_secretstream_xchacha20poly1305_pull(d->st, dst, &mlen, &tag, d->in + d->inpos, ulen, d->ad,
	                                               d->adlen) != 0) {
		if (no == 0)
			return corrupt(d, "its first chunk (byte %llu) does not verify: the object was changed, or it is "
			                  "another object (its name, location and key are authenticated)", at);
		if (ulen < LVC_UNIT)
			return corrupt(d, "its last chunk (%llu, at byte %llu) does not verify: changed, truncated, bytes "
			                  "appended, or chunks dropped", no, at);
		return corrupt(d, "chunk %llu at byte %llu does not verify: changed, or chunks reordered or dropped", no, at);
	}
	d->inpos += ulen;
	d->offset += ulen;
	d->chunk++;
	*len = (size_t)mlen;
	if (tag == TAG_FINAL)
		return check_end(d);
	if (tag != TAG_MESSAGE)
		return corrupt(d, "chunk %llu at byte %llu carries tag %u, which this format never writes", no, at, tag);
	if (ulen < LVC_UNIT)
		return corrupt(d, "chunk %llu at byte %llu is shorter than a full chunk but not the final one", no, at);
	return 0;
}

int lvc_dec_read(lvc_dec *d, void *buf, size_t cap, size_t *n)
{
	unsigned char *p = buf;
	*n = 0;
	if (d->rc)
		return d->rc;
	if (!cap)
		return 0;
	if (d->ptpos < d->ptlen) {
		size_t k = d->ptlen - d->ptpos < cap ? d->ptlen - d->ptpos : cap;
		memcpy(p, d->pt + d->ptpos, k);
		d->ptpos += k;
		*n = k;
		return 0;
	}
	int rc;
	if (d->phase == 0 && (rc = read_header(d)))
		return rc;
	size_t got = 0;
	while (d->phase == 1 && (got == 0 || cap - got >= LVC_CHUNK)) {
		size_t len = 0;
		if (cap - got >= LVC_CHUNK) {
			/* straight into the caller's buffer; what opened before a failure goes out first */
			if ((rc = open_chunk(d, p + got, &len)) && !got)
				return rc;
			if (rc)
				break; /* d->rc is set: the next call returns it */
			got += len;
			continue;
		}
		if ((rc = open_chunk(d, d->pt, &len)))
			return rc;
		d->ptlen = len;
		d->ptpos = len < cap ? len : cap;
		memcpy(p, d->pt, d->ptpos);
		got = d->ptpos;
		break;
	}
	*n = got;
	return 0;
}

/* ---- names (stream.h) ---- */

static int ends_with(const char *s, const char *tail)
{
	size_t n = strlen(s), t = strlen(tail);
	return n >= t && !strcmp(s + n - t, tail);
}

int lvc_passthrough(const char *name)
{
	/* bundle+crypt+...: bundle keeps them as "<file>.<name>" */
	return !strcmp(name, "licvault.lock") || ends_with(name, ".licvault.lock") ||
	       !strncmp(name, "licvault-registry-", 18) || strstr(name, ".licvault-registry-") != NULL;
}
