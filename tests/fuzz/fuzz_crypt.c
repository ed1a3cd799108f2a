/*
 * libFuzzer target for the crypt driver's decrypting reader
 * (drivers/crypt/stream.c), built without the core:
 *   clang -g -O1 -fsanitize=fuzzer,address,undefined -D_GNU_SOURCE \
 *         -DFUZZING_BUILD_MODE_UNSAFE_FOR_PRODUCTION -I include -I drivers/crypt \
 *         tests/fuzz/fuzz_crypt.c drivers/crypt/stream.c -lsodium
 * (the macro puts the stream state on the heap: see stream.c)
 * A fixed key, location and name.  The first byte picks how the reader is
 * fed (whole buffers or small pieces, as inner drivers return short reads)
 * and the mode:
 *  - bit 7 clear: the rest is an object's ciphertext, read as it is (the
 *    seeds are real objects under the fixed key, so mutations hit MACs,
 *    tags, lengths and the header);
 *  - bit 7 set: the rest is a program the target compiles into ciphertext
 *    with its own crypto_secretstream calls: chunks of any tag and length,
 *    raw bytes between them, header fields changed afterwards.  The
 *    reader's verdict must match the program's: a well-formed object
 *    (full TAG_MESSAGE chunks, one TAG_FINAL chunk last, nothing after,
 *    the header as written) is read whole and exactly; anything else is
 *    refused with a reason.
 * In both modes: bytes handed out are authenticated plaintext (in program
 * mode, a prefix of what was sealed), a refusal says "authentication
 * failed: ...", nothing crashes, leaks or reads out of bounds.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "licvault/common.h"
#include "stream.h"

#define NAME "licvault-0000000000000001.pack"
#define MAX_CHUNKS 4
#define MAX_OUT (1u << 20)

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

static unsigned char *key;
static lvc_key K;

static void setup(void)
{
	if (key)
		return;
	if (sodium_init() < 0)
		abort();
	key = sodium_malloc(LVC_KEYBYTES);
	for (unsigned i = 0; i < LVC_KEYBYTES; i++)
		key[i] = (unsigned char)(0x42 + i);
	K.key = key;
	lvc_key_id(key, K.key_id);
	memset(K.loc_id, 0x17, sizeof K.loc_id);
}

typedef struct prog {
	uint8_t *ct;           /* the ciphertext built */
	size_t n, cap;
	uint8_t *pt;           /* the plaintext sealed, in order */
	size_t ptn;
	int valid;             /* a well-formed object */
} prog;

/* Buffers kept from run to run: a fresh large allocation per run costs mmap and page faults. */
static uint8_t *ct_keep, *pt_keep;
static size_t ct_cap, pt_cap;

static void put(prog *g, const void *p, size_t n)
{
	if (g->n + n > ct_cap) {
		ct_cap = (g->n + n) * 2;
		ct_keep = realloc(ct_keep, ct_cap);
	}
	g->ct = ct_keep;
	memcpy(g->ct + g->n, p, n);
	g->n += n;
}

static void put_u32(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

/*
 * The program: a flags byte (header changes), then records: op 0xFF, count,
 * bytes: raw bytes; otherwise a chunk of tag (op & 3) and length
 * (u16 | bit 2 of op << 16, at most 65536 + 64) filled from a seed byte.
 */
static void compile(prog *g, const uint8_t *d, size_t n)
{
	crypto_secretstream_xchacha20poly1305_state st;
	uint8_t hdr[LVC_HDR], ad[LVC_HDR + sizeof NAME];
	uint8_t flags = n ? d[0] : 0;
	memcpy(hdr, LVC_MAGIC, 8);
	put_u32(hdr + 8, LVC_VERSION);
	put_u32(hdr + 12, LVC_CHUNK);
	memcpy(hdr + 16, K.loc_id, LVC_IDBYTES);
	memcpy(hdr + 32, K.key_id, LVC_IDBYTES);
	crypto_secretstream_xchacha20poly1305_init_push(&st, hdr + 48, key);
	memcpy(ad, hdr, LVC_HDR);
	memcpy(ad + LVC_HDR, NAME, sizeof NAME - 1);
	put(g, hdr, LVC_HDR);
	int chunks = 0, final = 0, ok = 1;
	static uint8_t m[LVC_CHUNK + 64], c[LVC_CHUNK + 64 + LVC_ABYTES];
	for (size_t i = 1; i < n && chunks < MAX_CHUNKS && g->ptn < MAX_OUT;) {
		uint8_t op = d[i++];
		if (op == 0xFF) {
			size_t k = i < n ? d[i++] : 0;
			if (k > n - i)
				k = n - i;
			put(g, d + i, k);
			i += k;
			ok &= k == 0;
			continue;
		}
		size_t len = (i < n ? d[i] : 0) | (size_t)(i + 1 < n ? d[i + 1] : 0) << 8 | (size_t)((op >> 2) & 1) << 16;
		uint8_t fillb = i + 2 < n ? d[i + 2] : 0;
		i += 3;
		if (len > LVC_CHUNK + 64)
			len = LVC_CHUNK + 64;
		unsigned char tag = (unsigned char)(op & 3);
		for (size_t k = 0; k < len; k++)
			m[k] = (uint8_t)(fillb + k);
		unsigned long long clen = 0;
		crypto_secretstream_xchacha20poly1305_push(&st, c, &clen, m, len, ad, LVC_HDR + sizeof NAME - 1, tag);
		put(g, c, (size_t)clen);
		if (g->ptn + len + 1 > pt_cap) {
			pt_cap = (g->ptn + len + 1) * 2;
			pt_keep = realloc(pt_keep, pt_cap);
		}
		g->pt = pt_keep;
		memcpy(g->pt + g->ptn, m, len);
		g->ptn += len;
		chunks++;
		/* well-formed: full MESSAGE chunks, then one FINAL of at most a chunk, then nothing */
		if (final || (tag != crypto_secretstream_xchacha20poly1305_TAG_FINAL &&
		              (tag != crypto_secretstream_xchacha20poly1305_TAG_MESSAGE || len != LVC_CHUNK)) ||
		    len > LVC_CHUNK)
			ok = 0;
		final |= tag == crypto_secretstream_xchacha20poly1305_TAG_FINAL;
	}
	/* header fields changed after sealing: each must be refused */
	if (flags & 1) g->ct[0] ^= 1;
	if (flags & 2) g->ct[8] ^= 2;
	if (flags & 4) g->ct[13] ^= 1;
	if (flags & 8) g->ct[20] ^= 1;
	if (flags & 16) g->ct[40] ^= 1;
	if (flags & 32) g->ct[50] ^= 1;
	g->valid = ok && final && !(flags & 63);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const size_t pieces[4] = {0, 1, 7, 4096};
	static const size_t caps[4] = {1 << 20, 1, 100, LVC_CHUNK};
	setup();
	if (!size)
		return 0;
	prog g = {0};
	int program = data[0] & 0x80;
	if (program)
		compile(&g, data + 1, size - 1);
	src s = {program ? g.ct : data + 1, program ? g.n : size - 1, 0, pieces[data[0] & 3]};
	size_t cap = caps[(data[0] >> 2) & 3];
	lvc_dec *d = NULL;
	if (lvc_dec_new(&d, &K, NAME, mem_read, &s))
		abort();
	static uint8_t bufs[1 << 20];
	uint8_t *buf = bufs;
	size_t got = 0, n = 0;
	int rc;
	while (!(rc = lvc_dec_read(d, buf, cap, &n)) && n) {
		if (n > cap)
			abort();
		if (program && (got + n > g.ptn || memcmp(buf, g.pt + got, n)))
			abort(); /* only what was sealed, in order */
		got += n;
	}
	if (rc && (rc != LV_E_BACKUP_CORRUPT || strncmp(lvc_dec_why(d), "authentication failed: ", 23)))
		abort(); /* a refusal says why */
	if (program && (rc == 0) != g.valid)
		abort(); /* the verdict matches the program's */
	if (program && !rc && got != g.ptn)
		abort();
	if (!rc && s.pos != s.n)
		abort(); /* the end means all of the input */
	lvc_dec_free(d);
	return 0;
}
