/*
 * License records: copy, validation, and the license file format
 * (docs/license-format.md).
 */
#include "license.h"
#include "util.h"

#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <fcntl.h>
#include <unistd.h>

int lv__kid_valid(const char *kid, size_t len)
{
	if (len == 0 || len > LV_KID_MAX)
		return 0;
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)kid[i];
		if (c < 0x21 || c > 0x7e || c == '/' || c == '\\')
			return 0;
	}
	return 1;
}

static int text_ok(const char *s)
{
	if (!s)
		return 1;
	size_t n = strnlen(s, LV_TEXT_MAX + 1);
	if (n > LV_TEXT_MAX)
		return 0;
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
			return 0;
	return 1;
}

int lv_license_validate(const lv_license *lic, const char **why)
{
	const char *dummy;
	if (!why)
		why = &dummy;
	if (!lic) {
		*why = "no license";
		return LV_E_INVALID_ARG;
	}
	if (!lic->kid || !lv__kid_valid(lic->kid, strnlen(lic->kid, LV_KID_MAX + 1))) {
		*why = "key ID must be 1 to 128 printable ASCII characters without spaces, '/' or '\\'";
		return LV_E_INVALID_ARG;
	}
	if (!text_ok(lic->content_id) || !text_ok(lic->title) || !text_ok(lic->issuer) ||
	    !text_ok(lic->machine)) {
		*why = "a text field is longer than 1024 bytes or holds a control character";
		return LV_E_INVALID_ARG;
	}
	if (lic->payload_len > LV_PAYLOAD_MAX) {
		*why = "payload larger than 16 MiB";
		return LV_E_INVALID_ARG;
	}
	if (lic->payload_len && !lic->payload) {
		*why = "payload length without payload";
		return LV_E_INVALID_ARG;
	}
	return 0;
}

size_t lv__license_size(const lv_license *lic)
{
	size_t n = sizeof(lv_license) + lic->payload_len + 8;
	const char *s[] = {lic->kid, lic->content_id, lic->title, lic->issuer, lic->machine};
	for (size_t i = 0; i < 5; i++)
		if (s[i])
			n += strlen(s[i]) + 1;
	return n;
}

int lv_license_dup(lv_license **out, const lv_license *src)
{
	if (!out || !src)
		return LV_E_INVALID_ARG;
	lv_license *d = malloc(lv__license_size(src));
	if (!d)
		return LV_E_NOMEM;
	*d = *src;
	char *p = (char *)(d + 1);
	if (src->payload_len) {
		memcpy(p, src->payload, src->payload_len);
		d->payload = p;
		p += src->payload_len;
	} else {
		d->payload = NULL;
	}
#define COPY(f)                               \
	if (src->f) {                             \
		size_t n = strlen(src->f) + 1;        \
		memcpy(p, src->f, n);                 \
		d->f = p;                             \
		p += n;                               \
	}
	COPY(kid) COPY(content_id) COPY(title) COPY(issuer) COPY(machine)
#undef COPY
	*out = d;
	return 0;
}

void lv_license_free(lv_license *lic)
{
	free(lic);
}

/* ---- base64 (RFC 4648) for the payload line ---- */

static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

static int b64_encode(lv_buf *b, const unsigned char *p, size_t n)
{
	int rc = lv__buf_grow(b, (n + 2) / 3 * 4 + 1);
	if (rc)
		return rc;
	char *o = (char *)b->data + b->len;
	size_t i = 0;
	for (; i + 2 < n; i += 3) {
		uint32_t v = (uint32_t)p[i] << 16 | (uint32_t)p[i + 1] << 8 | p[i + 2];
		*o++ = b64[v >> 18]; *o++ = b64[(v >> 12) & 63]; *o++ = b64[(v >> 6) & 63]; *o++ = b64[v & 63];
	}
	if (i < n) {
		uint32_t v = (uint32_t)p[i] << 16 | (i + 1 < n ? (uint32_t)p[i + 1] << 8 : 0);
		*o++ = b64[v >> 18];
		*o++ = b64[(v >> 12) & 63];
		*o++ = i + 1 < n ? b64[(v >> 6) & 63] : '=';
		*o++ = '=';
	}
	b->len = (size_t)(o - (char *)b->data);
	return 0;
}

static int b64_val(int c)
{
	const char *p = c ? strchr(b64, c) : NULL;
	return p ? (int)(p - b64) : -1;
}

static int b64_decode(lv_buf *out, const char *s, size_t n)
{
	if (n % 4)
		return LV_E_CORRUPT;
	if (lv__buf_grow(out, n / 4 * 3))
		return LV_E_NOMEM;
	for (size_t i = 0; i < n; i += 4) {
		int v[4];
		for (int k = 0; k < 4; k++) {
			v[k] = s[i + k] == '=' && i + 4 == n && k >= 2 ? 0 : b64_val(s[i + k]);
			if (v[k] < 0)
				return LV_E_CORRUPT;
		}
		if (s[i + 2] == '=' && s[i + 3] != '=')
			return LV_E_CORRUPT;
		uint32_t x = (uint32_t)v[0] << 18 | (uint32_t)v[1] << 12 | (uint32_t)v[2] << 6 | (uint32_t)v[3];
		out->data[out->len++] = (unsigned char)(x >> 16);
		if (s[i + 2] != '=')
			out->data[out->len++] = (unsigned char)(x >> 8);
		if (s[i + 3] != '=')
			out->data[out->len++] = (unsigned char)x;
	}
	return 0;
}

/* ---- dates ---- */

/* What the text form can write: 0000-01-01T00:00:00Z to 9999-12-31T23:59:59Z. */
#define DATE_MIN INT64_C(-62167219200)
#define DATE_MAX INT64_C(253402300799)

/* Is s exactly YYYY-MM-DD or YYYY-MM-DDTHH:MM:SSZ in shape (digits where digits go)? */
static int date_shape(const char *s)
{
	static const char full[] = "dddd-dd-ddTdd:dd:ddZ";
	size_t n = strlen(s);
	if (n != 10 && n != sizeof full - 1)
		return 0;
	for (size_t i = 0; i < n; i++)
		if (full[i] == 'd' ? !isdigit((unsigned char)s[i]) : s[i] != full[i])
			return 0;
	return 1;
}

static int parse_date(const char *s, int64_t *out)
{
	if (!date_shape(s))
		return -1; /* strptime alone takes 24-1-5 and 2024- 01-01 */
	struct tm tm = {0};
	const char *end = strptime(s, "%Y-%m-%dT%H:%M:%SZ", &tm);
	if (!end || *end) {
		memset(&tm, 0, sizeof tm);
		end = strptime(s, "%Y-%m-%d", &tm);
		if (!end || *end)
			return -1;
	}
	struct tm want = tm;
	time_t t = timegm(&tm);
	struct tm back;
	/* strict: 2024-02-30 is not a date (timegm would roll it into March) */
	if (!gmtime_r(&t, &back) || back.tm_year != want.tm_year || back.tm_mon != want.tm_mon ||
	    back.tm_mday != want.tm_mday || back.tm_hour != want.tm_hour || back.tm_min != want.tm_min ||
	    back.tm_sec != want.tm_sec)
		return -1;
	*out = (int64_t)t;
	return 0;
}

/* t in the long form, with a four-digit year (write_file keeps t inside the years 0000 to 9999). */
static void format_date(char *out, size_t cap, int64_t t)
{
	time_t tt = (time_t)t;
	struct tm tm;
	gmtime_r(&tt, &tm);
	snprintf(out, cap, "%04d-%02d-%02dT%02d:%02d:%02dZ", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
	         tm.tm_min, tm.tm_sec);
}

/* ---- license files ---- */

#define LINE_MAX_BYTES ((size_t)LV_PAYLOAD_MAX / 3 * 4 + 64)

/* What a license file's lines fill in, and where the parse is. */
typedef struct lf_parse {
	const char *path;
	char *err;
	size_t errlen;
	int lineno;
	int have_header, have_issued, have_plays_left, have_payload, kid_line;
	unsigned seen;         /* the numeric and date keys, each at most once */
	char *strs[5];         /* kid content_id title issuer machine */
	lv_buf payload;
	lv_license lic;
} lf_parse;

static const char *const lf_text_keys[5] = {"kid", "content-id", "title", "issuer", "machine"};
static const char *const lf_once_keys[] = {"issued", "expires", "rights", "play-count", "plays-left", NULL};

static int lf_fail(lf_parse *p, int line, const char *fmt, ...) LV_PRINTF(3, 4);
static int lf_fail(lf_parse *p, int line, const char *fmt, ...)
{
	char msg[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	snprintf(p->err, p->errlen, "%s:%d: %s", p->path, line, msg);
	return LV_E_CORRUPT;
}

/* Text a person will read: valid UTF-8 without C0 or C1 controls (docs/license-format.md). */
static int lf_text_ok(const char *v)
{
	if (!text_ok(v) || !lv__utf8_valid(v, strlen(v)))
		return 0;
	for (const unsigned char *q = (const unsigned char *)v; *q; q++)
		if (q[0] == 0xc2 && q[1] >= 0x80 && q[1] <= 0x9f) /* U+0080..U+009F */
			return 0;
	return 1;
}

static int lf_text(lf_parse *p, int idx, const char *key, const char *val)
{
	if (p->strs[idx])
		return lf_fail(p, p->lineno, "'%s' given twice", key);
	if (idx == 0 && !lv__kid_valid(val, strlen(val)))
		return lf_fail(p, p->lineno, "key ID must be 1 to 128 printable ASCII characters without spaces, '/' or '\\'");
	if (idx == 0)
		p->kid_line = p->lineno;
	else if (!lf_text_ok(val))
		return lf_fail(p, p->lineno,
		               "'%s' is longer than 1024 bytes, is not valid UTF-8, or holds a control character", key);
	return (p->strs[idx] = strdup(val)) ? 0 : LV_E_NOMEM;
}

static int lf_date(lf_parse *p, const char *key, const char *val)
{
	int expires = !strcmp(key, "expires");
	int64_t t = 0;
	if (!(expires && !strcmp(val, "never")) && parse_date(val, &t) < 0)
		return lf_fail(p, p->lineno, "bad date '%s' for '%s' (use YYYY-MM-DDTHH:MM:SSZ%s)", val, key,
		               expires ? " or never" : "");
	if (expires)
		p->lic.expires = t;
	else {
		p->lic.issued = t;
		p->have_issued = 1;
	}
	return 0;
}

static int lf_rights(lf_parse *p, char *val)
{
	static const struct { const char *w; uint32_t bit; } words[] = {
		{"play", LV_RIGHT_PLAY}, {"copy", LV_RIGHT_COPY}, {"burn", LV_RIGHT_BURN},
		{"backup", LV_RIGHT_BACKUP}, {"none", 0}};
	p->lic.rights = 0;
	char *save = NULL;
	for (char *w = strtok_r(val, " ,", &save); w; w = strtok_r(NULL, " ,", &save)) {
		size_t i = 0;
		while (i < sizeof words / sizeof *words && strcmp(w, words[i].w))
			i++;
		if (i == sizeof words / sizeof *words)
			return lf_fail(p, p->lineno, "unknown right '%s' (play, copy, burn, backup)", w);
		p->lic.rights |= words[i].bit;
	}
	return 0;
}

static int lf_count(lf_parse *p, const char *key, const char *val)
{
	char *end;
	errno = 0;
	unsigned long v = strtoul(val, &end, 10);
	if (!*val || *end || errno || v > UINT32_MAX || val[0] == '-')
		return lf_fail(p, p->lineno, "'%s' must be a number from 0 to 4294967295", key);
	if (!strcmp(key, "play-count"))
		p->lic.play_count = (uint32_t)v;
	else {
		p->lic.plays_left = (uint32_t)v;
		p->have_plays_left = 1;
	}
	return 0;
}

static int lf_payload(lf_parse *p, const char *val)
{
	if (p->have_payload)
		return lf_fail(p, p->lineno, "'payload' given twice");
	p->have_payload = 1;
	int r = b64_decode(&p->payload, val, strlen(val));
	if (r == LV_E_NOMEM)
		return r;
	return r ? lf_fail(p, p->lineno, "payload is not valid base64") : 0;
}

/* One 'key: value' line after the header. */
static int lf_field(lf_parse *p, const char *key, char *val)
{
	for (int i = 0; lf_once_keys[i]; i++)
		if (!strcmp(key, lf_once_keys[i])) {
			if (p->seen & (1u << i))
				return lf_fail(p, p->lineno, "'%s' given twice", key);
			p->seen |= 1u << i;
		}
	for (int i = 0; i < 5; i++)
		if (!strcmp(key, lf_text_keys[i]))
			return lf_text(p, i, key, val);
	if (!strcmp(key, "issued") || !strcmp(key, "expires"))
		return lf_date(p, key, val);
	if (!strcmp(key, "rights"))
		return lf_rights(p, val);
	if (!strcmp(key, "play-count") || !strcmp(key, "plays-left"))
		return lf_count(p, key, val);
	if (!strcmp(key, "payload"))
		return lf_payload(p, val);
	return lf_fail(p, p->lineno, "unknown key '%s'", key);
}

static char *trim(char *s, char *end)
{
	while (*s == ' ' || *s == '\t')
		s++;
	while (end > s && (end[-1] == ' ' || end[-1] == '\t'))
		*--end = '\0';
	return s;
}

/* One raw line (n bytes, NUL-terminated). */
static int lf_line(lf_parse *p, char *line, size_t n)
{
	if (n > LINE_MAX_BYTES)
		return lf_fail(p, p->lineno, "line too long (%zu bytes)", n);
	if (memchr(line, '\0', n))
		return lf_fail(p, p->lineno, "NUL byte in a license file (binary file?)");
	while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r'))
		line[--n] = '\0';
	char *q = trim(line, line + n);
	if (*q == '\0' || *q == '#')
		return 0;
	char *colon = strchr(q, ':');
	if (!colon)
		return lf_fail(p, p->lineno, "expected 'key: value'");
	*colon = '\0';
	char *key = trim(q, colon), *val = trim(colon + 1, colon + 1 + strlen(colon + 1));
	if (p->have_header)
		return lf_field(p, key, val);
	if (strcmp(key, "licvault-license") != 0)
		return lf_fail(p, p->lineno, "not a license file: the first line must be 'licvault-license: 1'");
	if (strcmp(val, "1") != 0)
		return lf_fail(p, p->lineno, "license file version %s, this licvault reads version 1", val);
	p->have_header = 1;
	return 0;
}

/* After the last line: what must be there, and the record as a whole. */
static int lf_finish(lf_parse *p, lv_license **out)
{
	if (!p->have_header)
		return lf_fail(p, p->lineno, "empty file, not a license file");
	if (!p->strs[0])
		return lf_fail(p, p->lineno, "no 'kid' (key ID)");
	if (!p->have_issued)
		return lf_fail(p, p->lineno, "no 'issued' date");
	lv_license *l = &p->lic;
	l->kid = p->strs[0];
	l->content_id = p->strs[1];
	l->title = p->strs[2];
	l->issuer = p->strs[3];
	l->machine = p->strs[4];
	if (!p->have_plays_left)
		l->plays_left = l->play_count;
	l->payload = p->payload.data;
	l->payload_len = p->payload.len;
	const char *why;
	if (lv_license_validate(l, &why))
		return lf_fail(p, p->kid_line, "%s", why);
	if (l->play_count && l->plays_left > l->play_count)
		return lf_fail(p, p->lineno, "plays-left %u is more than play-count %u", l->plays_left, l->play_count);
	return lv_license_dup(out, l);
}

int lv_license_parse_file(lv_license **out, const char *path, char *err, size_t errlen)
{
	if (!out || !path) {
		snprintf(err, errlen, "parse a license file: %s is NULL", !out ? "out" : "path");
		return LV_E_INVALID_ARG;
	}
	FILE *f = fopen(path, "re");
	if (!f) {
		int e = errno;
		snprintf(err, errlen, "%s: cannot open: %s", path, strerror(e));
		return e == ENOENT ? LV_E_NOT_FOUND : LV_E_IO;
	}
	lf_parse p = {.path = path, .err = err, .errlen = errlen};
	char *line = NULL;
	size_t cap = 0;
	ssize_t n;
	int rc = 0;
	while (!rc && (n = getline(&line, &cap, f)) >= 0) {
		p.lineno++;
		rc = lf_line(&p, line, (size_t)n);
	}
	if (!rc && ferror(f)) {
		snprintf(err, errlen, "%s: read error: %s", path, strerror(errno));
		rc = LV_E_IO;
	}
	if (!rc)
		rc = lf_finish(&p, out);
	for (int i = 0; i < 5; i++)
		free(p.strs[i]);
	lv__buf_free(&p.payload);
	free(line);
	fclose(f);
	return rc;
}

int lv_license_write_file(const lv_license *lic, const char *path, char *err, size_t errlen)
{
	if (!path) {
		snprintf(err, errlen, "write a license file: path is NULL");
		return LV_E_INVALID_ARG;
	}
	const char *why;
	if (lv_license_validate(lic, &why)) {
		snprintf(err, errlen, "%s: %s", lic && lic->kid ? lic->kid : "license", why);
		return LV_E_INVALID_ARG;
	}
	if (lic->issued < DATE_MIN || lic->issued > DATE_MAX || lic->expires < DATE_MIN || lic->expires > DATE_MAX) {
		snprintf(err, errlen, "%s: a date outside the years 0000 to 9999, which a license file cannot hold", lic->kid);
		return LV_E_INVALID_ARG;
	}
	lv_buf b = {0};
	char issued[32], expires[32] = "never";
	format_date(issued, sizeof issued, lic->issued);
	if (lic->expires)
		format_date(expires, sizeof expires, lic->expires);
	int rc = lv__buf_printf(&b, "licvault-license: 1\nkid: %s\n", lic->kid);
	if (!rc && lic->content_id) rc = lv__buf_printf(&b, "content-id: %s\n", lic->content_id);
	if (!rc && lic->title) rc = lv__buf_printf(&b, "title: %s\n", lic->title);
	if (!rc && lic->issuer) rc = lv__buf_printf(&b, "issuer: %s\n", lic->issuer);
	if (!rc)
		rc = lv__buf_printf(&b, "issued: %s\nexpires: %s\nrights:%s%s%s%s%s\nplay-count: %u\nplays-left: %u\n",
		                    issued, expires, lic->rights & LV_RIGHT_PLAY ? " play" : "",
		                    lic->rights & LV_RIGHT_COPY ? " copy" : "",
		                    lic->rights & LV_RIGHT_BURN ? " burn" : "",
		                    lic->rights & LV_RIGHT_BACKUP ? " backup" : "",
		                    lic->rights & 0xf ? "" : " none", lic->play_count, lic->plays_left);
	if (!rc && lic->machine) rc = lv__buf_printf(&b, "machine: %s\n", lic->machine);
	if (!rc) rc = lv__buf_printf(&b, "payload: ");
	if (!rc) rc = b64_encode(&b, lic->payload, lic->payload_len);
	if (!rc) rc = lv__buf_put(&b, "\n", 1);
	if (rc) {
		lv__buf_free(&b);
		snprintf(err, errlen, "out of memory");
		return rc;
	}
	/* temp + fsync + rename, so a crash never leaves half a file */
	char *tmp = lv__asprintf("%s.tmp-XXXXXX", path);
	int fd = tmp ? mkstemp(tmp) : -1;
	if (fd < 0) {
		snprintf(err, errlen, "cannot create %s: %s", path, strerror(errno));
		free(tmp);
		lv__buf_free(&b);
		return errno == ENOSPC ? LV_E_NO_SPACE : LV_E_IO;
	}
	size_t off = 0;
	while (off < b.len) {
		ssize_t w = write(fd, b.data + off, b.len - off);
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0)
			break;
		off += (size_t)w;
	}
	int e = off < b.len ? errno : 0;
	if (!e && fsync(fd) < 0)
		e = errno;
	close(fd);
	if (!e && rename(tmp, path) < 0)
		e = errno;
	if (e) {
		unlink(tmp);
		snprintf(err, errlen, "cannot write %s: %s", path, strerror(e));
		rc = e == ENOSPC ? LV_E_NO_SPACE : LV_E_IO;
	}
	free(tmp);
	lv__buf_free(&b);
	return rc;
}
