/* URIs, parsed with uriparser (RFC 3986). */
#include "uri.h"
#include "util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <uriparser/Uri.h>

static int is_plain_path(const char *uri)
{
	if (uri[0] == '/' || uri[0] == '.' || uri[0] == '~')
		return 1;
	const char *colon = strchr(uri, ':');
	const char *slash = strchr(uri, '/');
	return !colon || (slash && slash < colon);
}

int lv__uri_valid(const char *uri, char *why, size_t cap)
{
	UriUriA u;
	const char *err = NULL;
	if (uriParseSingleUriA(&u, uri, &err) != URI_SUCCESS) {
		snprintf(why, cap, "'%s' is not a valid URI (error at character %ld)", uri,
		         err ? (long)(err - uri) + 1 : 0L);
		return 0;
	}
	uriFreeUriMembersA(&u);
	return 1;
}

int lv__uri_scheme(const char *uri, char *scheme, size_t cap)
{
	scheme[0] = '\0';
	if (!uri || !*uri)
		return LV_E_BAD_URI;
	if (is_plain_path(uri))
		return 0;
	UriUriA u;
	const char *err = NULL;
	if (uriParseSingleUriA(&u, uri, &err) != URI_SUCCESS)
		return LV_E_BAD_URI;
	int rc = 0;
	size_t n = (size_t)(u.scheme.afterLast - u.scheme.first);
	if (!u.scheme.first || n == 0 || n >= cap)
		rc = LV_E_BAD_URI;
	else {
		for (size_t i = 0; i < n; i++)
			scheme[i] = (char)((u.scheme.first[i] >= 'A' && u.scheme.first[i] <= 'Z')
			                       ? u.scheme.first[i] + 32 : u.scheme.first[i]);
		scheme[n] = '\0';
	}
	uriFreeUriMembersA(&u);
	return rc;
}

/* ---- splitting and decoding (lv_host.uri_parse) -------------------------- */

/* Append range [a, b) decoded, NUL-terminated, to buf; *out points at it.  -1 when it held a NUL. */
static int put_decoded(lv_buf *buf, size_t *off, const char *a, const char *b)
{
	*off = buf->len;
	if (lv__buf_put(buf, a, (size_t)(b - a)) || lv__buf_put(buf, "", 1))
		return LV_E_NOMEM;
	char *s = (char *)buf->data + *off;
	const char *end = uriUnescapeInPlaceExA(s, URI_FALSE, URI_BR_DONT_TOUCH);
	if ((size_t)(end - s) != strlen(s))
		return -1;
	buf->len = *off + (size_t)(end - s) + 1;
	return 0;
}

/* Offsets of the parts in the string block, SIZE_MAX when absent. */
typedef struct uri_parts {
	size_t scheme, inner, user, password, host, path, query;
	int port;
} uri_parts;

static int split_rfc3986(const char *uri, lv_buf *buf, uri_parts *o, char *why, size_t cap)
{
	UriUriA u;
	const char *err = NULL;
	if (uriParseSingleUriA(&u, uri, &err) != URI_SUCCESS) {
		snprintf(why, cap, "'%s' is not a valid URI (error at character %ld)", uri, err ? (long)(err - uri) + 1 : 0L);
		return LV_E_BAD_URI;
	}
	int rc = 0;
	size_t n = (size_t)(u.scheme.afterLast - u.scheme.first);
	o->scheme = buf->len;
	for (size_t i = 0; !rc && i < n; i++) {
		char ch = (char)(u.scheme.first[i] >= 'A' && u.scheme.first[i] <= 'Z' ? u.scheme.first[i] + 32 : u.scheme.first[i]);
		rc = lv__buf_put(buf, &ch, 1);
	}
	rc = rc ? rc : lv__buf_put(buf, "", 1);
	if (!rc && u.userInfo.first) {
		const char *colon = memchr(u.userInfo.first, ':', (size_t)(u.userInfo.afterLast - u.userInfo.first));
		rc = put_decoded(buf, &o->user, u.userInfo.first, colon ? colon : u.userInfo.afterLast);
		if (!rc && colon)
			rc = put_decoded(buf, &o->password, colon + 1, u.userInfo.afterLast);
	}
	if (!rc && u.hostText.first && u.hostText.afterLast > u.hostText.first)
		rc = put_decoded(buf, &o->host, u.hostText.first, u.hostText.afterLast);
	if (!rc && u.portText.first) {
		char p[8] = "";
		size_t pl = (size_t)(u.portText.afterLast - u.portText.first);
		if (pl)
			snprintf(p, sizeof p, "%.*s", (int)(pl < 7 ? pl : 7), u.portText.first);
		char *end;
		long v = strtol(p, &end, 10);
		if (pl == 0 || pl > 5 || *end || v < 1 || v > 65535) {
			snprintf(why, cap, "'%s': the port must be a number from 1 to 65535", uri);
			rc = LV_E_BAD_URI;
		}
		o->port = (int)v;
	}
	/* the path, taken from the string itself (uriparser points an empty last segment, as in
	 * a trailing '/', at a static): after the scheme and the authority, up to '?' or '#' */
	const char *ps = uri + n + 1; /* after "scheme:" */
	if (ps[0] == '/' && ps[1] == '/')
		ps += 2 + strcspn(ps + 2, "/?#");
	const char *pe = ps + strcspn(ps, "?#");
	if (!rc)
		rc = put_decoded(buf, &o->path, ps, pe);
	if (!rc && u.fragment.first) {
		snprintf(why, cap, "'%s': a location URI has no fragment ('#...')", uri);
		rc = LV_E_BAD_URI;
	}
	if (!rc && u.query.first) {
		o->query = buf->len;
		rc = lv__buf_printf(buf, "%.*s", (int)(u.query.afterLast - u.query.first), u.query.first) ||
		     lv__buf_put(buf, "", 1) ? LV_E_NOMEM : 0;
	}
	uriFreeUriMembersA(&u);
	if (rc == -1) {
		snprintf(why, cap, "'%s': a percent-escape decodes to a NUL byte", uri);
		rc = LV_E_BAD_URI;
	}
	return rc;
}

int lv__uri_parse(const char *uri, lv_uri **out, char *why, size_t cap)
{
	*out = NULL;
	why[0] = '\0';
	if (!uri || !*uri) {
		snprintf(why, cap, "an empty URI");
		return LV_E_BAD_URI;
	}
	lv_buf buf = {0};
	uri_parts o = {SIZE_MAX, SIZE_MAX, SIZE_MAX, SIZE_MAX, SIZE_MAX, SIZE_MAX, SIZE_MAX, 0};
	int rc = 0;
	size_t pl = lv__uri_stack_prefix(uri);
	if (pl) {
		o.scheme = 0;
		for (size_t i = 0; !rc && i + 1 < pl; i++) {
			char ch = (char)(uri[i] >= 'A' && uri[i] <= 'Z' ? uri[i] + 32 : uri[i]);
			rc = lv__buf_put(&buf, &ch, 1);
		}
		o.inner = buf.len + 1;
		rc = rc || lv__buf_put(&buf, "", 1) || lv__buf_put(&buf, uri + pl, strlen(uri + pl) + 1) ? LV_E_NOMEM : 0;
		o.path = buf.len - 1;
	} else if (is_plain_path(uri)) {
		o.scheme = 0;
		o.path = 1;
		rc = lv__buf_put(&buf, "", 1) || lv__buf_put(&buf, uri, strlen(uri) + 1) ? LV_E_NOMEM : 0;
	} else
		rc = split_rfc3986(uri, &buf, &o, why, cap);
	if (rc) {
		if (rc == LV_E_NOMEM)
			snprintf(why, cap, "out of memory parsing a URI");
		lv__buf_free(&buf);
		return rc;
	}
	lv_uri *u = calloc(1, sizeof *u + buf.len);
	if (!u) {
		lv__buf_free(&buf);
		snprintf(why, cap, "out of memory parsing a URI");
		return LV_E_NOMEM;
	}
	char *s = (char *)(u + 1);
	memcpy(s, buf.data, buf.len);
	lv__buf_free(&buf);
#define AT(off) ((off) == SIZE_MAX ? NULL : s + (off))
	u->scheme = AT(o.scheme);
	u->inner = AT(o.inner);
	u->user = AT(o.user);
	u->password = AT(o.password);
	u->host = AT(o.host);
	u->path = AT(o.path);
	u->query = AT(o.query);
	u->port = o.port;
#undef AT
	*out = u;
	return 0;
}

void lv__uri_free(lv_uri *u)
{
	free(u);
}

size_t lv__uri_stack_prefix(const char *uri)
{
	if (!((uri[0] >= 'a' && uri[0] <= 'z') || (uri[0] >= 'A' && uri[0] <= 'Z')))
		return 0;
	for (size_t i = 1; uri[i] && i < 64; i++) {
		char ch = uri[i];
		if (ch == '+')
			return i + 1;
		if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') || ch == '-' ||
		      ch == '.'))
			return 0;
	}
	return 0;
}
