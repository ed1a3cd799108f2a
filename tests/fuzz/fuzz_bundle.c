/*
 * libFuzzer target for the bundle container reader (drivers/bundle/container.c),
 * built without the core:
 *   clang -g -O1 -fsanitize=fuzzer,address,undefined -I include -I drivers/bundle \
 *         tests/fuzz/fuzz_bundle.c drivers/bundle/container.c -lz -lpthread
 * The input is a bundle file; its first byte also picks how the reader is fed
 * (whole buffers or small pieces), as inner drivers return short reads.  When
 * that byte has bit 7 set (a bundle starts with 0x1f, so it never does), the
 * rest is an uncompressed container that is gzipped here first, so mutations
 * reach the record parser instead of breaking the deflate stream; with bit 6
 * set too, it is cut into gzip members every 2^(2 + bits 2-5) bytes (a
 * version 2 bundle is a series of members that may end only between two
 * records), so the member boundaries meet records at every place.
 * Every input must end in END or in an error with a reason; nothing may
 * crash, leak or read out of bounds, and the output must stay within what
 * the records declared.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <zlib.h>

#include "container.h"
#include "licvault/driver.h"

typedef struct src {
	const uint8_t *p;
	size_t n, pos, piece;
} src;

static int mem_read(void *ud, void *buf, size_t cap, size_t *n)
{
	src *s = ud;
	size_t k = s->n - s->pos;
	if (k > cap)
		k = cap;
	if (s->piece && k > s->piece)
		k = s->piece;
	memcpy(buf, s->p + s->pos, k);
	s->pos += k;
	*n = k;
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
/* gzip as licvault writes it (header CRC); NULL when zlib fails. */
static uint8_t *gzip_it(const uint8_t *p, size_t n, size_t *out_len)
{
	z_stream z;
	memset(&z, 0, sizeof z);
	if (deflateInit2(&z, 1, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK)
		return NULL;
	gz_header h;
	memset(&h, 0, sizeof h);
	h.os = LVB_GZIP_OS;
	h.hcrc = 1;
	deflateSetHeader(&z, &h);
	size_t cap = deflateBound(&z, (uLong)n) + 64;
	uint8_t *o = malloc(cap);
	if (!o) {
		deflateEnd(&z);
		return NULL;
	}
	z.next_in = (uint8_t *)p;
	z.avail_in = (uInt)n;
	z.next_out = o;
	z.avail_out = (uInt)cap;
	int r = deflate(&z, Z_FINISH);
	*out_len = cap - z.avail_out;
	deflateEnd(&z);
	if (r != Z_STREAM_END) {
		free(o);
		return NULL;
	}
	return o;
}

/* The container as gzip members of `stride` bytes each, end to end. */
static uint8_t *gzip_members(const uint8_t *p, size_t n, size_t stride, size_t *out_len)
{
	uint8_t *all = NULL;
	size_t len = 0;
	for (size_t off = 0; off < n || off == 0; off += stride) {
		size_t k = n - off < stride ? n - off : stride;
		size_t m = 0;
		uint8_t *one = gzip_it(p + off, k, &m);
		uint8_t *grown = one ? realloc(all, len + m) : NULL;
		if (!grown) {
			free(one);
			free(all);
			return NULL;
		}
		all = grown;
		memcpy(all + len, one, m);
		len += m;
		free(one);
		if (!n)
			break;
	}
	*out_len = len;
	return all;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const size_t pieces[4] = {0, 1, 7, 4096};
	uint8_t *own = NULL;
	size_t piece = size ? pieces[data[0] & 3] : 0;
	if (size && (data[0] & 0x80)) {
		size_t n = 0;
		size_t stride = (size_t)4 << ((data[0] >> 2) & 15);
		own = data[0] & 0x40 ? gzip_members(data + 1, size - 1, stride, &n) : gzip_it(data + 1, size - 1, &n);
		if (!own)
			return 0;
		data = own;
		size = n;
	}
	src s = {data, size, 0, piece};
	lvb_dec *d = NULL;
	if (lvb_dec_new(&d, mem_read, &s)) {
		free(own);
		return 0;
	}
	uint64_t data_bytes = 0;
	for (;;) {
		lvb_event ev;
		int rc = lvb_dec_next(d, &ev);
		if (rc) {
			if (rc == LV_E_BACKUP_CORRUPT && !lvb_dec_why(d)[0])
				abort(); /* a refusal must say why */
			break;
		}
		if (ev.type == LVB_EV_DATA) {
			if (ev.len == 0 || ev.len > LVB_CHUNK_MAX)
				abort();
			data_bytes += ev.len;
		}
		if (ev.type == LVB_EV_OBJECT && !lvb_name_ok(ev.name, strlen(ev.name)))
			abort();
		if (ev.type == LVB_EV_END) {
			if (ev.size != data_bytes || s.pos != s.n)
				abort(); /* END means all of the input, and sizes agree */
			break;
		}
	}
	lvb_dec_free(d);
	free(own);
	return 0;
}
