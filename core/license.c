/*
 * License records: copy, validation, and the license file format
 * (docs/license-format.md).
 */
#include "license.h"
#include "util.h"

#include <stdio.h>
#include <errno.h>
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

static int parse_date(const char *s, int64_t *out)
{
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

static void format_date(char *out, size_t cap, int64_t t)
{
	time_t tt = (time_t)t;
	struct tm tm;
	gmtime_r(&tt, &tm);
	strftime(out, cap, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

/* ---- license files ---- */

#define FIELD(s) (strcmp(key, s) == 0)
#define LINE_MAX_BYTES ((size_t)LV_PAYLOAD_MAX / 3 * 4 + 64)

int lv_license_parse_file(lv_license **out, const char *path, char *err, size_t errlen)
{
	FILE *f = fopen(path, "re");
	if (!f) {
		int e = errno;
		snprintf(err, errlen, "%s: cannot open: %s", path, strerror(e));
		return e == ENOENT ? LV_E_NOT_FOUND : LV_E_IO;
	}
	char *line = NULL;
	size_t cap = 0;
	ssize_t n;
	int lineno = 0, rc = LV_E_CORRUPT, have_header = 0;
	char *strs[5] = {0};   /* kid content_id title issuer machine */
	const char *names[5] = {"kid", "content-id", "title", "issuer", "machine"};
	lv_buf payload = {0};
	int have_payload = 0, have_plays_left = 0, have_issued = 0, kid_line = 0;
	unsigned seen = 0;   /* the other keys, each at most once */
	static const char *const once[] = {"issued", "expires", "rights", "play-count", "plays-left", NULL};
	lv_license lic = {0};

	while ((n = getline(&line, &cap, f)) >= 0) {
		lineno++;
		if ((size_t)n > LINE_MAX_BYTES) {
			snprintf(err, errlen, "%s:%d: line too long (%zd bytes)", path, lineno, n);
			goto done;
		}
		if (memchr(line, '\0', (size_t)n)) {
			snprintf(err, errlen, "%s:%d: NUL byte in a license file (binary file?)", path, lineno);
			goto done;
		}
		while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r'))
			line[--n] = '\0';
		char *p = line;
		while (*p == ' ' || *p == '\t')
			p++;
		if (*p == '\0' || *p == '#')
			continue;
		char *colon = strchr(p, ':');
		if (!colon) {
			snprintf(err, errlen, "%s:%d: expected 'key: value'", path, lineno);
			goto done;
		}
		*colon = '\0';
		char *key = p, *val = colon + 1;
		char *ke = colon;
		while (ke > key && (ke[-1] == ' ' || ke[-1] == '\t'))
			*--ke = '\0';
		while (*val == ' ' || *val == '\t')
			val++;
		char *ve = val + strlen(val);
		while (ve > val && (ve[-1] == ' ' || ve[-1] == '\t'))
			*--ve = '\0';
		if (!have_header) {
			if (!FIELD("licvault-license")) {
				snprintf(err, errlen, "%s:%d: not a license file: the first line must be 'licvault-license: 1'",
				         path, lineno);
				goto done;
			}
			if (strcmp(val, "1") != 0) {
				snprintf(err, errlen, "%s:%d: license file version %s, this licvault reads version 1",
				         path, lineno, val);
				goto done;
			}
			have_header = 1;
			continue;
		}
		for (int i = 0; once[i]; i++)
			if (FIELD(once[i])) {
				if (seen & (1u << i)) {
					snprintf(err, errlen, "%s:%d: '%s' given twice", path, lineno, key);
					goto done;
				}
				seen |= 1u << i;
			}
		int idx = -1;
		for (int i = 0; i < 5; i++)
			if (FIELD(names[i]))
				idx = i;
		if (idx == 0)
			kid_line = lineno;
		if (idx >= 0) {
			if (strs[idx]) {
				snprintf(err, errlen, "%s:%d: '%s' given twice", path, lineno, key);
				goto done;
			}
			/* checked where it is read, so the message names its line */
			if (idx == 0 ? !lv__kid_valid(val, strlen(val)) : !text_ok(val)) {
				snprintf(err, errlen, "%s:%d: %s", path, lineno,
				         idx == 0 ? "key ID must be 1 to 128 printable ASCII characters without spaces, '/' or '\\'"
				                  : "a text field is longer than 1024 bytes or holds a control character");
				goto done;
			}
			if (!(strs[idx] = strdup(val))) {
				rc = LV_E_NOMEM;
				goto done;
			}
		} else if (FIELD("issued") || FIELD("expires")) {
			int64_t t = 0;
			if (FIELD("expires") && strcmp(val, "never") == 0)
				t = 0;
			else if (parse_date(val, &t) < 0) {
				snprintf(err, errlen, "%s:%d: bad date '%s' for '%s' (use YYYY-MM-DDTHH:MM:SSZ%s)",
				         path, lineno, val, key, FIELD("expires") ? " or never" : "");
				goto done;
			}
			if (FIELD("issued")) {
				lic.issued = t;
				have_issued = 1;
			} else
				lic.expires = t;
		} else if (FIELD("rights")) {
			lic.rights = 0;
			char *save = NULL;
			for (char *w = strtok_r(val, " ,", &save); w; w = strtok_r(NULL, " ,", &save)) {
				if (!strcmp(w, "play")) lic.rights |= LV_RIGHT_PLAY;
				else if (!strcmp(w, "copy")) lic.rights |= LV_RIGHT_COPY;
				else if (!strcmp(w, "burn")) lic.rights |= LV_RIGHT_BURN;
				else if (!strcmp(w, "backup")) lic.rights |= LV_RIGHT_BACKUP;
				else if (!strcmp(w, "none")) ;
				else {
					snprintf(err, errlen, "%s:%d: unknown right '%s' (play, copy, burn, backup)",
					         path, lineno, w);
					goto done;
				}
			}
		} else if (FIELD("play-count") || FIELD("plays-left")) {
			char *end;
			errno = 0;
			unsigned long v = strtoul(val, &end, 10);
			if (!*val || *end || errno || v > UINT32_MAX || val[0] == '-') {
				snprintf(err, errlen, "%s:%d: '%s' must be a number from 0 to 4294967295",
				         path, lineno, key);
				goto done;
			}
			if (FIELD("play-count"))
				lic.play_count = (uint32_t)v;
			else {
				lic.plays_left = (uint32_t)v;
				have_plays_left = 1;
			}
		} else if (FIELD("payload")) {
			if (have_payload) {
				snprintf(err, errlen, "%s:%d: 'payload' given twice", path, lineno);
				goto done;
			}
			have_payload = 1;
			int r = b64_decode(&payload, val, strlen(val));
			if (r) {
				snprintf(err, errlen, "%s:%d: payload is not valid base64", path, lineno);
				rc = r == LV_E_NOMEM ? r : LV_E_CORRUPT;
				goto done;
			}
		} else {
			snprintf(err, errlen, "%s:%d: unknown key '%s'", path, lineno, key);
			goto done;
		}
	}
	if (ferror(f)) {
		snprintf(err, errlen, "%s: read error: %s", path, strerror(errno));
		rc = LV_E_IO;
		goto done;
	}
	if (!have_header) {
		snprintf(err, errlen, "%s:%d: empty file, not a license file", path, lineno);
		goto done;
	}
	if (!strs[0]) {
		snprintf(err, errlen, "%s:%d: no 'kid' (key ID)", path, lineno);
		goto done;
	}
	if (!have_issued) {
		snprintf(err, errlen, "%s:%d: no 'issued' date", path, lineno);
		goto done;
	}
	lic.kid = strs[0];
	lic.content_id = strs[1];
	lic.title = strs[2];
	lic.issuer = strs[3];
	lic.machine = strs[4];
	if (!have_plays_left)
		lic.plays_left = lic.play_count;
	lic.payload = payload.data;
	lic.payload_len = payload.len;
	const char *why;
	if (lv_license_validate(&lic, &why)) {
		snprintf(err, errlen, "%s:%d: %s", path, kid_line, why);
		goto done;
	}
	if (lic.play_count && lic.plays_left > lic.play_count) {
		snprintf(err, errlen, "%s:%d: plays-left %u is more than play-count %u", path, lineno, lic.plays_left,
		         lic.play_count);
		goto done;
	}
	rc = lv_license_dup(out, &lic);
done:
	for (int i = 0; i < 5; i++)
		free(strs[i]);
	lv__buf_free(&payload);
	free(line);
	fclose(f);
	return rc;
}

int lv_license_write_file(const lv_license *lic, const char *path, char *err, size_t errlen)
{
	const char *why;
	if (lv_license_validate(lic, &why)) {
		snprintf(err, errlen, "%s: %s", lic && lic->kid ? lic->kid : "license", why);
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
