/*
 * The backup set's format: pack records and the manifest
 * (docs/backup-format.md).  Every reader treats its input as hostile.
 */
#include "format.h"
#include "license.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

/* ---- records ---------------------------------------------------------- */

static int put_field(lv_buf *b, unsigned tag, const void *p, size_t n)
{
	unsigned char h[5];
	h[0] = (unsigned char)tag;
	lv__put_u32(h + 1, (uint32_t)n);
	int rc = lv__buf_put(b, h, 5);
	return rc ? rc : lv__buf_put(b, p, n);
}

static int put_str(lv_buf *b, unsigned tag, const char *s)
{
	return s ? put_field(b, tag, s, strlen(s)) : 0;
}

static int put_num(lv_buf *b, unsigned tag, uint64_t v)
{
	unsigned char n[8];
	lv__put_u64(n, v);
	return put_field(b, tag, n, 8);
}

int lv__record_encode(lv_buf *b, const lv_license *lic)
{
	int rc;
	if ((rc = put_str(b, LV_TAG_KID, lic->kid)) ||
	    (rc = put_str(b, LV_TAG_CONTENT_ID, lic->content_id)) ||
	    (rc = put_str(b, LV_TAG_TITLE, lic->title)) ||
	    (rc = put_str(b, LV_TAG_ISSUER, lic->issuer)) ||
	    (rc = put_num(b, LV_TAG_ISSUED, (uint64_t)lic->issued)) ||
	    (rc = put_num(b, LV_TAG_EXPIRES, (uint64_t)lic->expires)) ||
	    (rc = put_num(b, LV_TAG_RIGHTS, lic->rights)) ||
	    (rc = put_num(b, LV_TAG_PLAY_COUNT, lic->play_count)) ||
	    (rc = put_num(b, LV_TAG_PLAYS_LEFT, lic->plays_left)) ||
	    (rc = put_str(b, LV_TAG_MACHINE, lic->machine)) ||
	    (rc = put_field(b, LV_TAG_PAYLOAD, lic->payload ? lic->payload : "", lic->payload_len)))
		return rc;
	return 0;
}

int lv__record_decode(const unsigned char *p, size_t n, lv_license *out, lv_buf *scratch,
                      const char **why)
{
	/* Copy into scratch with a NUL after every field so strings can point into it. */
	memset(out, 0, sizeof *out);
	scratch->len = 0;
	if (lv__buf_grow(scratch, n + 16))
		return LV_E_NOMEM;
	size_t offs[12] = {0}, lens[12] = {0};
	unsigned seen = 0;
	size_t i = 0;
	while (i < n) {
		if (n - i < 5) {
			*why = "record field header truncated";
			return LV_E_BACKUP_CORRUPT;
		}
		unsigned tag = p[i];
		uint32_t len = lv__get_u32(p + i + 1);
		i += 5;
		if (len > n - i) {
			*why = "record field length runs past the record";
			return LV_E_BACKUP_CORRUPT;
		}
		if (tag >= 1 && tag <= 11) {
			if (seen & (1u << tag)) {
				*why = "record field repeated";
				return LV_E_BACKUP_CORRUPT;
			}
			seen |= 1u << tag;
			offs[tag] = scratch->len;
			lens[tag] = len;
			memcpy(scratch->data + scratch->len, p + i, len);
			scratch->len += len;
			scratch->data[scratch->len++] = '\0';
			if (lv__buf_grow(scratch, 1))
				return LV_E_NOMEM;
		} /* unknown tags (a later minor version) are skipped */
		i += len;
	}
	if (!(seen & (1u << LV_TAG_KID))) {
		*why = "record has no key ID";
		return LV_E_BACKUP_CORRUPT;
	}
	char *base = (char *)scratch->data;
#define STR(tag, field)                                                           \
	if (seen & (1u << (tag))) {                                                 \
		if (memchr(base + offs[tag], '\0', lens[tag])) {                        \
			*why = "text field contains a NUL byte";                            \
			return LV_E_BACKUP_CORRUPT;                                         \
		}                                                                       \
		out->field = base + offs[tag];                                          \
	}
	STR(LV_TAG_KID, kid)
	STR(LV_TAG_CONTENT_ID, content_id)
	STR(LV_TAG_TITLE, title)
	STR(LV_TAG_ISSUER, issuer)
	STR(LV_TAG_MACHINE, machine)
#undef STR
#define NUM(tag, field, type)                                                     \
	if (seen & (1u << (tag))) {                                                 \
		if (lens[tag] != 8) {                                                   \
			*why = "number field of wrong size";                                \
			return LV_E_BACKUP_CORRUPT;                                         \
		}                                                                       \
		out->field = (type)lv__get_u64((unsigned char *)base + offs[tag]);     \
	}
	NUM(LV_TAG_ISSUED, issued, int64_t)
	NUM(LV_TAG_EXPIRES, expires, int64_t)
	NUM(LV_TAG_RIGHTS, rights, uint32_t)
	NUM(LV_TAG_PLAY_COUNT, play_count, uint32_t)
	NUM(LV_TAG_PLAYS_LEFT, plays_left, uint32_t)
#undef NUM
	if (seen & (1u << LV_TAG_PAYLOAD)) {
		out->payload = base + offs[LV_TAG_PAYLOAD];
		out->payload_len = lens[LV_TAG_PAYLOAD];
	}
	if (lv_license_validate(out, why))
		return LV_E_BACKUP_CORRUPT;
	return 0;
}

/* ---- buffered input -------------------------------------------------- */

int lv__in_init(lv_in *in, lv_read_fn fn, void *src, size_t cap)
{
	memset(in, 0, sizeof *in);
	in->buf = malloc(cap);
	if (!in->buf)
		return LV_E_NOMEM;
	in->fn = fn;
	in->src = src;
	in->cap = cap;
	in->crc = (uint32_t)crc32(0L, Z_NULL, 0);
	return 0;
}

void lv__in_free(lv_in *in)
{
	free(in->buf);
	in->buf = NULL;
}

static int in_fill(lv_in *in)
{
	if (in->pos < in->len || in->eof)
		return 0;
	size_t n = 0;
	int rc = in->fn(in->src, in->buf, in->cap, &n);
	if (rc) {
		in->failed = 1;
		return rc;
	}
	if (n > in->cap)
		return LV_E_DRIVER_ABI; /* a driver returned more than asked */
	in->pos = 0;
	in->len = n;
	if (n == 0)
		in->eof = 1;
	return 0;
}

static int in_read(lv_in *in, void *p, size_t n, int with_crc)
{
	unsigned char *d = p;
	while (n) {
		int rc = in_fill(in);
		if (rc)
			return rc;
		if (in->eof)
			return LV_E_BACKUP_CORRUPT;
		size_t k = in->len - in->pos;
		if (k > n)
			k = n;
		memcpy(d, in->buf + in->pos, k);
		if (with_crc)
			in->crc = (uint32_t)crc32(in->crc, in->buf + in->pos, (uInt)k);
		in->pos += k;
		in->offset += k;
		d += k;
		n -= k;
	}
	return 0;
}

int lv__in_read(lv_in *in, void *p, size_t n)
{
	return in_read(in, p, n, 1);
}

int lv__in_read_crc(lv_in *in, void *p, size_t n, uint32_t *crc)
{
	int rc = in_read(in, p, n, 0);
	if (rc)
		return rc;
	/* one pass over the bytes: the record's CRC, folded into the running one */
	*crc = (uint32_t)crc32(0L, p, (uInt)n);
	in->crc = (uint32_t)crc32_combine(in->crc, *crc, (z_off_t)n);
	return 0;
}

int lv__in_at_end(lv_in *in)
{
	int rc = in_fill(in);
	if (rc)
		return rc;
	return in->eof ? 1 : 0;
}

/* ---- manifest ------------------------------------------------------- */

static int put_short_str(lv_buf *b, const char *s)
{
	unsigned char h[2];
	size_t n = strlen(s);
	lv__put_u16(h, (uint16_t)n);
	int rc = lv__buf_put(b, h, 2);
	return rc ? rc : lv__buf_put(b, s, n);
}

int lv__manifest_put_header(lv_buf *b, const lv_manifest_hdr *h)
{
	unsigned char f[8 + 4 + 8 * 6 + 4];
	memcpy(f, LV_MANIFEST_MAGIC, 8);
	lv__put_u32(f + 8, LV_MANIFEST_VERSION);
	lv__put_u64(f + 12, h->generation);
	lv__put_u64(f + 20, (uint64_t)h->created);
	lv__put_u64(f + 28, h->count);
	lv__put_u64(f + 36, h->restricted);
	lv__put_u64(f + 44, h->pack_size);
	lv__put_u64(f + 52, 0); /* reserved */
	lv__put_u32(f + 60, h->pack_crc);
	int rc = lv__buf_put(b, f, sizeof f);
	if (!rc)
		rc = put_short_str(b, h->backup_id);
	if (!rc)
		rc = put_short_str(b, h->machine_id);
	if (!rc)
		rc = put_short_str(b, h->pack_name);
	if (!rc)
		rc = put_short_str(b, h->host);
	return rc;
}

int lv__manifest_put_entry(lv_buf *b, const lv_manifest_entry *e)
{
	unsigned char f[2 + LV_KID_MAX + 16];
	size_t n = strlen(e->kid);
	lv__put_u16(f, (uint16_t)n);
	memcpy(f + 2, e->kid, n);
	lv__put_u64(f + 2 + n, e->offset);
	lv__put_u32(f + 10 + n, e->length);
	lv__put_u32(f + 14 + n, e->crc);
	return lv__buf_put(b, f, 18 + n);
}

int lv__manifest_put_trailer(lv_buf *b, uint32_t crc)
{
	unsigned char f[12];
	lv__put_u32(f, crc);
	memcpy(f + 4, LV_MANIFEST_END, 8);
	return lv__buf_put(b, f, 12);
}

/* A string of the header: bytes 0x21..0x7E without '/' (spaces too when `spaces`). */
static int read_short_str_ex(lv_manifest_reader *m, char *out, size_t cap, const char *what, int spaces)
{
	unsigned char h[2];
	int rc = lv__in_read(&m->in, h, 2);
	if (rc)
		return rc;
	size_t n = lv__get_u16(h);
	if (n >= cap) {
		snprintf(m->why, sizeof m->why, "manifest %s too long (%zu bytes)", what, n);
		return LV_E_BACKUP_CORRUPT;
	}
	if ((rc = lv__in_read(&m->in, out, n)))
		return rc;
	out[n] = '\0';
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)out[i] < (spaces ? 0x20 : 0x21) || (unsigned char)out[i] > 0x7e || out[i] == '/') {
			snprintf(m->why, sizeof m->why, "manifest %s has a forbidden character", what);
			return LV_E_BACKUP_CORRUPT;
		}
	return 0;
}

static int read_short_str(lv_manifest_reader *m, char *out, size_t cap, const char *what)
{
	return read_short_str_ex(m, out, cap, what, 0);
}

static int truncated(lv_manifest_reader *m, int rc)
{
	if (rc == LV_E_BACKUP_CORRUPT && !m->why[0] && !m->in.failed)
		snprintf(m->why, sizeof m->why, "manifest truncated at byte %llu",
		         (unsigned long long)m->in.offset);
	return rc;
}

int lv__manifest_begin(lv_manifest_reader *m, lv_read_fn fn, void *src, uint64_t object_size, size_t chunk)
{
	memset(m, 0, sizeof *m);
	int rc = lv__in_init(&m->in, fn, src, chunk ? chunk : (size_t)256 * 1024);
	if (rc)
		return rc;
	unsigned char f[64];
	if ((rc = lv__in_read(&m->in, f, sizeof f)))
		return truncated(m, rc);
	if (memcmp(f, LV_MANIFEST_MAGIC, 8) != 0) {
		snprintf(m->why, sizeof m->why, "not a licvault manifest (bad magic)");
		return LV_E_BACKUP_CORRUPT;
	}
	uint32_t version = lv__get_u32(f + 8);
	if (version != 1 && version != LV_MANIFEST_VERSION) {
		snprintf(m->why, sizeof m->why, "manifest format version %u, this licvault reads 1 and %u",
		         version, LV_MANIFEST_VERSION);
		return LV_E_BACKUP_CORRUPT;
	}
	lv_manifest_hdr *h = &m->hdr;
	h->version = version;
	h->generation = lv__get_u64(f + 12);
	h->created = (int64_t)lv__get_u64(f + 20);
	h->count = lv__get_u64(f + 28);
	h->restricted = lv__get_u64(f + 36);
	h->pack_size = lv__get_u64(f + 44);
	h->pack_crc = lv__get_u32(f + 60);
	if ((rc = read_short_str(m, h->backup_id, sizeof h->backup_id, "backup id")) ||
	    (rc = read_short_str(m, h->machine_id, sizeof h->machine_id, "machine id")) ||
	    (rc = read_short_str(m, h->pack_name, sizeof h->pack_name, "pack name")) ||
	    (version >= 2 && (rc = read_short_str_ex(m, h->host, sizeof h->host, "host", 1))))
		return truncated(m, rc);
	/* Each entry takes at least 19 bytes: a count the object cannot hold is a lie. */
	if (object_size != UINT64_MAX && h->count > object_size / 19) {
		snprintf(m->why, sizeof m->why, "manifest declares %llu licenses, more than its %llu bytes can hold",
		         (unsigned long long)h->count, (unsigned long long)object_size);
		return LV_E_BACKUP_CORRUPT;
	}
	if (h->pack_size < LV_PACK_HEADER_LEN) {
		snprintf(m->why, sizeof m->why, "manifest declares a pack of %llu bytes, too small",
		         (unsigned long long)h->pack_size);
		return LV_E_BACKUP_CORRUPT;
	}
	m->next_offset = LV_PACK_HEADER_LEN;
	return 0;
}

int lv__manifest_next(lv_manifest_reader *m, lv_manifest_entry *e)
{
	int rc;
	if (m->seen == m->hdr.count) {
		/* trailer: CRC of everything before it, the end magic, then nothing */
		uint32_t crc = m->in.crc;
		unsigned char f[12];
		if ((rc = lv__in_read(&m->in, f, 12)))
			return truncated(m, rc);
		if (lv__get_u32(f) != crc) {
			snprintf(m->why, sizeof m->why, "manifest checksum mismatch (CRC-32 %08x, expected %08x)",
			         crc, lv__get_u32(f));
			return LV_E_BACKUP_CORRUPT;
		}
		if (memcmp(f + 4, LV_MANIFEST_END, 8) != 0) {
			snprintf(m->why, sizeof m->why, "manifest end marker missing");
			return LV_E_BACKUP_CORRUPT;
		}
		if ((rc = lv__in_at_end(&m->in)) < 0)
			return rc;
		if (rc == 0) {
			snprintf(m->why, sizeof m->why, "trailing data after the manifest at byte %llu",
			         (unsigned long long)m->in.offset);
			return LV_E_BACKUP_CORRUPT;
		}
		if (m->next_offset != m->hdr.pack_size) {
			snprintf(m->why, sizeof m->why, "manifest entries cover %llu bytes of a %llu-byte pack",
			         (unsigned long long)m->next_offset, (unsigned long long)m->hdr.pack_size);
			return LV_E_BACKUP_CORRUPT;
		}
		return 0;
	}
	unsigned char h[2];
	if ((rc = lv__in_read(&m->in, h, 2)))
		return truncated(m, rc);
	size_t n = lv__get_u16(h);
	if (n == 0 || n > LV_KID_MAX) {
		snprintf(m->why, sizeof m->why, "manifest entry %llu: key ID length %zu out of range",
		         (unsigned long long)m->seen, n);
		return LV_E_BACKUP_CORRUPT;
	}
	unsigned char f[LV_KID_MAX + 16];
	if ((rc = lv__in_read(&m->in, f, n + 16)))
		return truncated(m, rc);
	memcpy(e->kid, f, n);
	e->kid[n] = '\0';
	if (!lv__kid_valid(e->kid, n)) {
		snprintf(m->why, sizeof m->why, "manifest entry %llu: key ID has a forbidden character",
		         (unsigned long long)m->seen);
		return LV_E_BACKUP_CORRUPT;
	}
	e->offset = lv__get_u64(f + n);
	e->length = lv__get_u32(f + n + 8);
	e->crc = lv__get_u32(f + n + 12);
	if (m->seen > 0 && strcmp(m->prev_kid, e->kid) >= 0) {
		snprintf(m->why, sizeof m->why,
		         strcmp(m->prev_kid, e->kid) == 0 ? "duplicate key ID %s in the manifest"
		                                          : "manifest not in key ID order at %s",
		         e->kid);
		return LV_E_BACKUP_CORRUPT;
	}
	if (e->offset != m->next_offset || e->length > LV_RECORD_MAX ||
	    e->offset + 4 + e->length > m->hdr.pack_size) {
		snprintf(m->why, sizeof m->why, "manifest entry %s points outside the pack (offset %llu, length %u)",
		         e->kid, (unsigned long long)e->offset, e->length);
		return LV_E_BACKUP_CORRUPT;
	}
	m->next_offset = e->offset + 4 + e->length;
	memcpy(m->prev_kid, e->kid, n + 1);
	m->seen++;
	return 1;
}

void lv__manifest_end(lv_manifest_reader *m)
{
	lv__in_free(&m->in);
}

/* ---- names ------------------------------------------------------------- */

void lv__gen_name(char *out, size_t cap, uint64_t gen, const char *ext, int format)
{
	snprintf(out, cap, "%s%016llx.%s", format == 1 ? LV_OBJ_PREFIX : LV_OBJ_PREFIX2, (unsigned long long)gen, ext);
}

int lv__gen_parse(const char *name, uint64_t *gen, const char **ext, int *format)
{
	int f = !strncmp(name, LV_OBJ_PREFIX2, strlen(LV_OBJ_PREFIX2)) ? 2
	      : !strncmp(name, LV_OBJ_PREFIX, strlen(LV_OBJ_PREFIX)) ? 1 : 0;
	if (!f)
		return 0;
	const char *p = name + strlen(f == 2 ? LV_OBJ_PREFIX2 : LV_OBJ_PREFIX);
	uint64_t g = 0;
	for (int i = 0; i < LV_GEN_DIGITS; i++) {
		char c = p[i];
		int d;
		if (c >= '0' && c <= '9') d = c - '0';
		else if (c >= 'a' && c <= 'f') d = c - 'a' + 10;
		else return 0;
		g = (g << 4) | (uint64_t)d;
	}
	if (p[LV_GEN_DIGITS] != '.' || !p[LV_GEN_DIGITS + 1])
		return 0;
	*gen = g;
	*ext = p + LV_GEN_DIGITS + 1;
	if (format)
		*format = f;
	return g == 0 || g > LV_GEN_MAX ? -1 : 1;
}
