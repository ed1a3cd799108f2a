/*
 * Unit tests of the crypt driver's parts that need no core (ctest crypt_unit):
 *  - the object format: round trips at every chunk boundary, any write and
 *    read sizes; sizes computed from ciphertext sizes; every kind of
 *    tampering refused with "authentication failed";
 *  - an independent opener of objects and key slots, written from the
 *    layout in docs/drivers/crypt.md with libsodium calls only (not
 *    stream.c or slot.c), so the documented format is the one written;
 *  - key slots: wrong passphrase (AUTH) against damage and change (CORRUPT);
 *  - passphrase sources: file modes, first line, commands without a shell,
 *    their failures, the environment.
 */
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sodium.h>

#include "ahead.h"
#include "licvault/common.h"
#include "secret.h"
#include "slot.h"
#include "stream.h"

static int failures, checks;

#define CHECK(cond, ...)                                                              \
	do {                                                                              \
		checks++;                                                                     \
		if (!(cond)) {                                                                \
			failures++;                                                               \
			fprintf(stderr, "%s:%d: %s: ", __FILE__, __LINE__, #cond);                \
			fprintf(stderr, __VA_ARGS__);                                             \
			fprintf(stderr, "\n");                                                    \
		}                                                                             \
	} while (0)

/* ---- memory sink and source ---------------------------------------------------- */

typedef struct buf {
	unsigned char *p;
	size_t n, cap, pos, piece;
} buf;

static int sink(void *ud, const void *p, size_t len)
{
	buf *b = ud;
	if (!len)
		return 0; /* an empty chunk: b->p may still be NULL, which memcpy may not be given */
	if (b->n + len > b->cap) {
		unsigned char *np = realloc(b->p, (b->n + len) * 2);
		if (!np)
			return LV_E_NOMEM;
		b->p = np;
		b->cap = (b->n + len) * 2;
	}
	memcpy(b->p + b->n, p, len);
	b->n += len;
	return 0;
}

static int source(void *ud, void *p, size_t cap, size_t *n)
{
	buf *b = ud;
	size_t k = b->n - b->pos < cap ? b->n - b->pos : cap;
	if (b->piece && k > b->piece)
		k = b->piece;
	memcpy(p, b->p + b->pos, k);
	b->pos += k;
	*n = k;
	return 0;
}

static unsigned char *key;      /* sodium_malloc'd */
static lvc_key K;

static void fill(unsigned char *p, size_t n, unsigned seed)
{
	for (size_t i = 0; i < n; i++)
		p[i] = (unsigned char)((i * 131 + (size_t)seed * 7 + (i >> 9)) & 255);
}

static buf seal(const char *name, const unsigned char *pt, size_t n, size_t step, const lvc_key *k)
{
	buf b = {0};
	lvc_enc *e = NULL;
	if (lvc_enc_new(&e, k, name, sink, &b))
		abort();
	for (size_t off = 0; off < n;) {
		size_t s = n - off < step ? n - off : step;
		if (lvc_enc_write(e, pt + off, s))
			abort();
		off += s;
	}
	if (lvc_enc_finish(e))
		abort();
	lvc_enc_free(e);
	return b;
}

/* Open ciphertext b as `name` under k: 0 and the plaintext, or the error and why. */
static int open_all(buf *b, const char *name, const lvc_key *k, size_t cap, unsigned char **out, size_t *len,
                    char *why, size_t wcap)
{
	lvc_dec *d = NULL;
	b->pos = 0;
	if (lvc_dec_new(&d, k, name, source, b))
		abort();
	unsigned char *o = malloc(b->n + 1), *tmp = malloc(cap);
	size_t total = 0, n;
	int rc;
	while (!(rc = lvc_dec_read(d, tmp, cap, &n)) && n) {
		memcpy(o + total, tmp, n);
		total += n;
	}
	snprintf(why, wcap, "%s", lvc_dec_why(d));
	lvc_dec_free(d);
	free(tmp);
	*out = o;
	*len = total;
	return rc;
}

/* ---- the object format ---------------------------------------------------------- */

static void test_round_trips(void)
{
	const size_t C = LVC_CHUNK;
	const size_t sizes[] = {0, 1, 100, C - 1, C, C + 1, 2 * C, 2 * C + 17, 3 * C + 5, 16 * C, 17 * C + 3};
	const size_t steps[] = {1 << 20, 1, 7, C, C + 1};
	const size_t caps[] = {1 << 20, 1, 100, C, C - 1};
	unsigned char *pt = malloc(18 * C);
	fill(pt, 18 * C, 1);
	for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++)
		for (size_t j = 0; j < sizeof steps / sizeof steps[0]; j++) {
			if (steps[j] == 1 && sizes[i] > 3 * C)
				continue;
			buf b = seal("obj", pt, sizes[i], steps[j], &K);
			CHECK(b.n == lvc_cipher_size(sizes[i]), "size %zu: %zu bytes, expected %llu", sizes[i], b.n,
			      (unsigned long long)lvc_cipher_size(sizes[i]));
			CHECK(lvc_plain_size(b.n) == sizes[i], "plain size of %zu", b.n);
			size_t k = (i + j) % (sizeof caps / sizeof caps[0]);
			b.piece = (i % 3) ? 0 : 1000; /* short reads from the inner driver */
			unsigned char *o;
			size_t len;
			char why[400];
			int rc = open_all(&b, "obj", &K, caps[k], &o, &len, why, sizeof why);
			CHECK(rc == 0 && len == sizes[i] && !memcmp(o, pt, len), "size %zu step %zu cap %zu: %d %s", sizes[i],
			      steps[j], caps[k], rc, why);
			free(o);
			free(b.p);
		}
	free(pt);
	/* sizes no object has */
	CHECK(lvc_plain_size(LVC_HDR + 16) == UINT64_MAX, "shorter than one chunk");
	CHECK(lvc_plain_size(LVC_HDR + LVC_UNIT + 5) == UINT64_MAX, "a last chunk under 17 bytes");
	CHECK(lvc_plain_size(UINT64_MAX) == UINT64_MAX, "unknown");
}

/* Where chunk i starts in an object (size_t: the offsets index buffers). */
static size_t chunk_at(size_t i)
{
	return LVC_HDR + i * LVC_UNIT;
}

/* Expect ciphertext b to be refused as `name` under k, with words in why. */
static void refused(buf *b, const char *name, const lvc_key *k, const char *words, const char *what)
{
	unsigned char *o;
	size_t len;
	char why[400];
	int rc = open_all(b, name, k, 1 << 20, &o, &len, why, sizeof why);
	CHECK(rc == LV_E_BACKUP_CORRUPT, "%s: %d", what, rc);
	CHECK(!strncmp(why, "authentication failed", 21), "%s: '%s'", what, why);
	CHECK(strstr(why, words) != NULL, "%s: '%s' lacks '%s'", what, why, words);
	free(o);
}

static void test_tampering(void)
{
	const size_t C = LVC_CHUNK, n = 3 * C + 100; /* chunks 0, 1, 2 full; 3 final */
	unsigned char *pt = malloc(n);
	fill(pt, n, 2);
	buf good = seal("licvault-0000000000000002.pack", pt, n, 1 << 20, &K);
	const char *name = "licvault-0000000000000002.pack";
	buf b = {malloc(good.n + 64), good.n, good.n + 64, 0, 0};
	/* a flipped byte anywhere: header, each chunk's tag, body and MAC */
	const size_t at[] = {0, 9, 13, 20, 40, 50, LVC_HDR, LVC_HDR + 1, LVC_HDR + C, LVC_HDR + LVC_UNIT + 3,
	                     LVC_HDR + 3 * LVC_UNIT + 2, good.n - 1};
	for (size_t i = 0; i < sizeof at / sizeof at[0]; i++) {
		memcpy(b.p, good.p, good.n);
		b.n = good.n;
		b.p[at[i]] ^= 0x20;
		char what[64];
		snprintf(what, sizeof what, "flipped byte %zu", at[i]);
		refused(&b, name, &K, "", what);
	}
	/* truncated: inside the header, at and inside chunks; the final chunk dropped */
	const size_t cut[] = {0, 10, LVC_HDR, LVC_HDR + 5, LVC_HDR + LVC_UNIT, LVC_HDR + 2 * LVC_UNIT + 100,
	                      LVC_HDR + 3 * LVC_UNIT, good.n - 1};
	for (size_t i = 0; i < sizeof cut / sizeof cut[0]; i++) {
		memcpy(b.p, good.p, good.n);
		b.n = cut[i];
		char what[64];
		snprintf(what, sizeof what, "truncated at %zu", cut[i]);
		refused(&b, name, &K, cut[i] == LVC_HDR + 3 * LVC_UNIT ? "without its final chunk" : "", what);
	}
	/* chunks 1 and 2 swapped; chunk 1 dropped */
	memcpy(b.p, good.p, good.n);
	b.n = good.n;
	memcpy(b.p + chunk_at(1), good.p + chunk_at(2), LVC_UNIT);
	memcpy(b.p + chunk_at(2), good.p + chunk_at(1), LVC_UNIT);
	refused(&b, name, &K, "chunk 1 at byte", "chunks reordered");
	memcpy(b.p, good.p, chunk_at(1));
	memcpy(b.p + chunk_at(1), good.p + chunk_at(2), good.n - chunk_at(2));
	b.n = good.n - LVC_UNIT;
	refused(&b, name, &K, "chunk 1 at byte", "a chunk dropped");
	/* trailing bytes after the final chunk */
	memcpy(b.p, good.p, good.n);
	memcpy(b.p + good.n, "extra", 5);
	b.n = good.n + 5;
	refused(&b, name, &K, "bytes appended", "trailing data after a short final chunk");
	buf whole = seal(name, pt, 2 * C, 1 << 20, &K); /* its final chunk is a full one */
	memcpy(b.p, whole.p, whole.n);
	memcpy(b.p + whole.n, "extra", 5);
	b.n = whole.n + 5;
	refused(&b, name, &K, "follows the final chunk", "trailing data after a full final chunk");
	free(whole.p);
	/* another object's name (another generation), another location, another key */
	memcpy(b.p, good.p, good.n);
	b.n = good.n;
	refused(&b, "licvault-0000000000000003.pack", &K, "its first chunk", "swapped with another generation's");
	lvc_key other = K;
	other.loc_id[0] ^= 1;
	refused(&b, name, &other, "another location", "another location");
	unsigned char *k2 = sodium_malloc(LVC_KEYBYTES);
	crypto_secretstream_xchacha20poly1305_keygen(k2);
	lvc_key K2 = {k2, {0}, {0}};
	lvc_key_id(k2, K2.key_id);
	memcpy(K2.loc_id, K.loc_id, LVC_IDBYTES);
	refused(&b, name, &K2, "another key", "another key");
	/* a header rewritten to name this location, of an object of another: the first chunk */
	memcpy(b.p + 16, other.loc_id, LVC_IDBYTES);
	refused(&b, name, &other, "its first chunk", "location ID rewritten");
	/* a plaintext object */
	memcpy(b.p, "LVMANIF\n", 8);
	refused(&b, name, &K, "not a crypt object", "plaintext");
	sodium_free(k2);
	free(b.p);
	free(good.p);
	free(pt);
}

/* ---- opening ahead, on a worker thread ------------------------------------------------ */

static int failing_source(void *ud, void *p, size_t cap, size_t *n)
{
	buf *b = ud;
	if (b->pos >= b->n / 2)
		return LV_E_IO; /* the inner driver fails half way */
	return source(ud, p, cap, n);
}

static int ahead_all(buf *b, const char *name, size_t cap, lvc_source_fn src, unsigned char **out, size_t *len,
                     char *why, size_t wcap)
{
	lvc_ahead *a = NULL;
	b->pos = 0;
	if (lvc_ahead_new(&a, &K, name, src, b))
		abort();
	unsigned char *o = malloc(b->n + 1), *tmp = malloc(cap);
	size_t total = 0, n;
	int rc;
	why[0] = '\0';
	while (!(rc = lvc_ahead_read(a, tmp, cap, &n, why, wcap)) && n) {
		memcpy(o + total, tmp, n);
		total += n;
	}
	lvc_ahead_free(a);
	free(tmp);
	*out = o;
	*len = total;
	return rc;
}

static void test_ahead(void)
{
	const size_t C = LVC_CHUNK, n = 70 * C + 333; /* more than both rings hold */
	unsigned char *pt = malloc(n), *o;
	size_t len;
	char why[400];
	fill(pt, n, 4);
	buf b = seal("obj", pt, n, 1 << 20, &K);
	const size_t caps[] = {1 << 20, 7, C + 3};
	for (size_t i = 0; i < 3; i++) {
		b.piece = i == 1 ? 5000 : 0;
		int rc = ahead_all(&b, "obj", caps[i], source, &o, &len, why, sizeof why);
		CHECK(rc == 0 && len == n && !memcmp(o, pt, n), "ahead, cap %zu: %d %s", caps[i], rc, why);
		free(o);
	}
	b.piece = 0;
	/* a changed byte late in the object: what came before it is handed out first */
	b.p[LVC_HDR + 60 * LVC_UNIT + 9] ^= 4;
	int rc = ahead_all(&b, "obj", 1 << 20, source, &o, &len, why, sizeof why);
	CHECK(rc == LV_E_BACKUP_CORRUPT && !strncmp(why, "authentication failed", 21) && strstr(why, "chunk 60"),
	      "ahead: changed byte: %d %s", rc, why);
	CHECK(len == 60 * C && !memcmp(o, pt, len), "ahead: the 60 chunks before it, %zu bytes", len);
	free(o);
	b.p[LVC_HDR + 60 * LVC_UNIT + 9] ^= 4;
	/* the inner driver's error comes back as it is */
	rc = ahead_all(&b, "obj", 1 << 20, failing_source, &o, &len, why, sizeof why);
	CHECK(rc == LV_E_IO && !why[0] && len < n, "ahead: inner error: %d '%s'", rc, why);
	free(o);
	/* truncated, and freed while the worker is busy */
	b.n -= 100;
	rc = ahead_all(&b, "obj", 1 << 20, source, &o, &len, why, sizeof why);
	CHECK(rc == LV_E_BACKUP_CORRUPT, "ahead: truncated: %d", rc);
	free(o);
	lvc_ahead *a = NULL;
	b.pos = 0;
	CHECK(lvc_ahead_new(&a, &K, "obj", source, &b) == 0, "new");
	unsigned char one;
	CHECK(lvc_ahead_read(a, &one, 1, &len, why, sizeof why) == 0 && len == 1 && one == pt[0], "one byte");
	lvc_ahead_free(a);
	free(b.p);
	free(pt);
}

/* ---- an independent opener, from docs/drivers/crypt.md only ------------------------ */

static uint32_t le32(const unsigned char *p) { return p[0] | p[1] << 8 | p[2] << 16 | (uint32_t)p[3] << 24; }
static uint64_t le64(const unsigned char *p) { return le32(p) | (uint64_t)le32(p + 4) << 32; }

/* The documented object layout: header, then chunks of 65536 + 17 bytes, AD = header || name. */
static int doc_open(const unsigned char *obj, size_t n, const char *name, const unsigned char *k, buf *out)
{
	if (n < 72 || memcmp(obj, "LVCRYPT\n", 8) || le32(obj + 8) != 1 || le32(obj + 12) != 65536)
		return -1;
	crypto_secretstream_xchacha20poly1305_state st;
	if (crypto_secretstream_xchacha20poly1305_init_pull(&st, obj + 48, k))
		return -1;
	unsigned char ad[72 + 255], m[65536];
	memcpy(ad, obj, 72);
	memcpy(ad + 72, name, strlen(name));
	size_t off = 72;
	for (;;) {
		size_t clen = n - off < 65536 + 17 ? n - off : 65536 + 17;
		unsigned long long mlen;
		unsigned char tag;
		if (crypto_secretstream_xchacha20poly1305_pull(&st, m, &mlen, &tag, obj + off, clen, ad, 72 + strlen(name)))
			return -1;
		sink(out, m, (size_t)mlen);
		off += clen;
		if (tag == crypto_secretstream_xchacha20poly1305_TAG_FINAL)
			return off == n ? 0 : -1;
	}
}

/* The documented slot layout: Argon2id KEK, XChaCha20-Poly1305-IETF with AD = bytes 0..175 || name. */
static int doc_slot(const unsigned char *s, const char *name, const char *pass, unsigned char *k_out)
{
	unsigned char sum[32], kek[32], ad[176 + 255];
	crypto_generichash(sum, 32, s, 224, NULL, 0);
	if (memcmp(sum, s + 224, 32) || memcmp(s, "LVCRKEY\n", 8) || le32(s + 8) != 1 || le32(s + 12) != 2)
		return -1;
	if (crypto_pwhash(kek, 32, pass, strlen(pass), s + 32, le64(s + 16), (size_t)le64(s + 24),
	                  crypto_pwhash_ALG_ARGON2ID13))
		return -1;
	memcpy(ad, s, 176);
	memcpy(ad + 176, name, strlen(name));
	unsigned long long klen;
	return crypto_aead_xchacha20poly1305_ietf_decrypt(k_out, &klen, NULL, s + 176, 48, ad, 176 + strlen(name),
	                                                  s + 152, kek);
}

static void test_documented_layout(void)
{
	size_t n = 2 * LVC_CHUNK + 999;
	unsigned char *pt = malloc(n);
	fill(pt, n, 3);
	buf b = seal("licvault-0000000000000001.manifest", pt, n, 4096, &K);
	buf o = {0};
	CHECK(doc_open(b.p, b.n, "licvault-0000000000000001.manifest", key, &o) == 0, "the documented layout opens it");
	CHECK(o.n == n && !memcmp(o.p, pt, n), "same bytes");
	CHECK(!memcmp(b.p + 16, K.loc_id, 16) && !memcmp(b.p + 32, K.key_id, 16), "IDs at 16 and 32");
	unsigned char id[16];
	crypto_generichash(id, 16, (const unsigned char *)"licvault-crypt key id", 21, key, 32);
	CHECK(!memcmp(id, K.key_id, 16), "key ID = BLAKE2b-128 keyed by the key");
	free(o.p);
	free(b.p);
	free(pt);

	unsigned char slot[LVC_SLOT_SIZE], k2[32];
	const char *sn = "licvault-crypt-key-00000000000000ab";
	CHECK(lvc_slot_make(slot, sn, key, K.loc_id, (const unsigned char *)"pw", 2, 1, 8192, 1700000000, "lab") == 0,
	      "make");
	CHECK(doc_slot(slot, sn, "pw", k2) == 0 && !memcmp(k2, key, 32), "the documented slot layout opens it");
	CHECK(le64(slot + 64) == 1700000000 && !strcmp((char *)slot + 72, "lab") && !memcmp(slot + 48, K.loc_id, 16),
	      "created, label, location ID where documented");
}

/* ---- key slots ------------------------------------------------------------------------------ */

static void test_slots(void)
{
	const char *sn = "licvault-crypt-key-0000000000000000";
	unsigned char s[LVC_SLOT_SIZE], t[LVC_SLOT_SIZE], *k2 = sodium_malloc(32);
	const unsigned char *pw = (const unsigned char *)"correct horse";
	CHECK(lvc_slot_make(s, sn, key, K.loc_id, pw, 13, 1, 8192, 1, "") == 0, "make");
	lvc_slot_info info;
	char why[300];
	CHECK(lvc_slot_parse(s, sizeof s, &info, why, sizeof why) == 0 && info.opslimit == 1 && info.memlimit == 8192,
	      "parse: %s", why);
	CHECK(lvc_slot_open(s, sn, pw, 13, k2) == 0 && !memcmp(k2, key, 32), "open");
	CHECK(lvc_slot_open(s, sn, (const unsigned char *)"wrong horse", 11, k2) == LV_E_AUTH, "wrong passphrase: AUTH");
	/* every byte: a flip is damage, seen by the checksum */
	for (size_t i = 0; i < sizeof s; i += 7) {
		memcpy(t, s, sizeof s);
		t[i] ^= 1;
		CHECK(lvc_slot_parse(t, sizeof t, &info, why, sizeof why) == LV_E_BACKUP_CORRUPT, "flip %zu", i);
	}
	CHECK(lvc_slot_parse(s, sizeof s - 1, &info, why, sizeof why) == LV_E_BACKUP_CORRUPT, "truncated");
	/* a changed field with a recomputed checksum: the right passphrase says CORRUPT, not AUTH */
	memcpy(t, s, sizeof s);
	memcpy(t + 72, "evil", 4);
	crypto_generichash(t + 224, 32, t, 224, NULL, 0);
	CHECK(lvc_slot_parse(t, sizeof t, &info, why, sizeof why) == 0, "still parses");
	CHECK(lvc_slot_open(t, sn, pw, 13, k2) == LV_E_BACKUP_CORRUPT, "changed label: CORRUPT");
	/* the same bytes under another slot's name: CORRUPT */
	CHECK(lvc_slot_open(s, "licvault-crypt-key-0000000000000001", pw, 13, k2) == LV_E_BACKUP_CORRUPT,
	      "renamed slot: CORRUPT");
	/* hostile KDF limits are refused before any KDF runs */
	memcpy(t, s, sizeof s);
	t[24 + 4] = 0x10; /* memlimit 64 GiB */
	crypto_generichash(t + 224, 32, t, 224, NULL, 0);
	CHECK(lvc_slot_parse(t, sizeof t, &info, why, sizeof why) == LV_E_BACKUP_CORRUPT && strstr(why, "memlimit"),
	      "huge memlimit: %s", why);
	CHECK(lvc_slot_make(t, sn, key, K.loc_id, pw, 13, 1, 8192, 1, "tab\there") == LV_E_INVALID_ARG, "label");
	CHECK(lvc_slot_name_ok(sn) && !lvc_slot_name_ok("licvault-crypt-key-000000000000000G") &&
	      !lvc_slot_name_ok("licvault-crypt-key-0"), "names");
	sodium_free(k2);
}

/* ---- passphrase sources ---------------------------------------------------------------------- */

static char dir[] = "/tmp/lvcrypt-unit-XXXXXX";

static const char *put_file(const char *name, const char *text, mode_t mode)
{
	static char p[8][300];
	static int k;
	k = (k + 1) % 8;
	snprintf(p[k], sizeof p[k], "%s/%s", dir, name);
	FILE *f = fopen(p[k], "w");
	fputs(text, f);
	fclose(f);
	chmod(p[k], mode);
	return p[k];
}

static int remove_one(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
	(void)st;
	(void)type;
	(void)ftw;
	return remove(path);
}

/* Remove dir and the files put in it (depth first, links not followed). */
static void remove_dir(void)
{
	if (nftw(dir, remove_one, 8, FTW_DEPTH | FTW_PHYS))
		fprintf(stderr, "crypt_unit: could not remove %s\n", dir);
}

static int canceled_yes(void *ud) { (void)ud; return 1; }

static void expect_secret(int rc, lvc_secret *s, const char *want, const char *why, const char *what)
{
	CHECK(rc == 0 && s->len == strlen(want) && !memcmp(s->p, want, s->len), "%s: rc %d: %s", what, rc, why);
	lvc_secret_free(s);
}

static void test_sources(void)
{
	lvc_secret s;
	char why[700];
	expect_secret(lvc_secret_from_file(put_file("a", "pass word\nsecond\n", 0600), 0, &s, why, sizeof why), &s,
	              "pass word", why, "first line");
	expect_secret(lvc_secret_from_file(put_file("b", "crlf\r\n", 0400), 0, &s, why, sizeof why), &s, "crlf", why,
	              "CRLF");
	const char *p = put_file("c", "x\n", 0640);
	CHECK(lvc_secret_from_file(p, 0, &s, why, sizeof why) == LV_E_CONFIG && strstr(why, "0640") && strstr(why, p),
	      "group-readable: %s", why);
	CHECK(lvc_secret_from_file(put_file("d", "x\n", 0604), 0, &s, why, sizeof why) == LV_E_CONFIG &&
	      strstr(why, "0604"), "others-readable: %s", why);
	CHECK(lvc_secret_from_file(put_file("e", "\nx\n", 0600), 0, &s, why, sizeof why) == LV_E_CONFIG &&
	      strstr(why, "empty"), "empty first line: %s", why);
	CHECK(lvc_secret_from_file("/nonexistent/pw", 0, &s, why, sizeof why) == LV_E_CONFIG, "missing");
	CHECK(lvc_secret_from_file(dir, 0, &s, why, sizeof why) == LV_E_CONFIG, "a directory");

	expect_secret(lvc_secret_from_command("printf '%s\\n' 'two words'", NULL, NULL, &s, why, sizeof why), &s,
	              "two words", why, "quoted argument, no shell");
	expect_secret(lvc_secret_from_command("echo a;b", NULL, NULL, &s, why, sizeof why), &s, "a;b", why,
	              "no shell: ; is text");
	setenv("LICVAULT_PASSPHRASE", "leak", 1);
	expect_secret(lvc_secret_from_command("sh -c 'echo \"[$LICVAULT_PASSPHRASE]\"'", NULL, NULL, &s, why,
	                                      sizeof why), &s, "[]", why, "the child's environment has no passphrase");
	CHECK(lvc_secret_from_command("sh -c 'exit 3'", NULL, NULL, &s, why, sizeof why) == LV_E_CONFIG &&
	      strstr(why, "status 3"), "exit status: %s", why);
	CHECK(lvc_secret_from_command("/nonexistent/prog x", NULL, NULL, &s, why, sizeof why) == LV_E_CONFIG &&
	      strstr(why, "cannot run"), "missing program: %s", why);
	CHECK(lvc_secret_from_command("head -c 10000 /dev/zero", NULL, NULL, &s, why, sizeof why) == LV_E_CONFIG &&
	      strstr(why, "more than"), "too much output: %s", why);
	CHECK(lvc_secret_from_command("true", NULL, NULL, &s, why, sizeof why) == LV_E_CONFIG, "no output");
	CHECK(lvc_secret_from_command("'open quote", NULL, NULL, &s, why, sizeof why) == LV_E_CONFIG, "open quote");
	CHECK(lvc_secret_from_command("sleep 30", canceled_yes, NULL, &s, why, sizeof why) == LV_E_CANCELED, "canceled");

	expect_secret(lvc_secret_from_env("LICVAULT_PASSPHRASE", &s, why, sizeof why), &s, "leak", why, "env");
	unsetenv("LICVAULT_PASSPHRASE");
	CHECK(lvc_secret_from_env("LICVAULT_PASSPHRASE", &s, why, sizeof why) == LV_E_NOT_FOUND, "unset");
	setenv("LICVAULT_PASSPHRASE", "", 1);
	CHECK(lvc_secret_from_env("LICVAULT_PASSPHRASE", &s, why, sizeof why) == LV_E_CONFIG, "empty");
	unsetenv("LICVAULT_PASSPHRASE");
}

int main(void)
{
	if (sodium_init() < 0 || !mkdtemp(dir))
		return 2;
	key = sodium_malloc(LVC_KEYBYTES);
	crypto_secretstream_xchacha20poly1305_keygen(key);
	K.key = key;
	lvc_key_id(key, K.key_id);
	randombytes_buf(K.loc_id, sizeof K.loc_id);
	test_round_trips();
	test_tampering();
	test_ahead();
	test_documented_layout();
	test_slots();
	test_sources();
	remove_dir();
	sodium_free(key);
	printf("crypt_unit: %d checks, %d failed\n", checks, failures);
	return failures ? 1 : 0;
}
