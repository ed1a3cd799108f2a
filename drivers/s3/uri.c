/*
 * s3://BUCKET[/prefix/path]: parsed with uriparser, once, in s3_uri_parse
 * (ABI 1.1's URI service replaces it).  The bucket is the host part; the
 * path, percent-decoded segment by segment, is the prefix of every key.
 */
#include "s3_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uriparser/Uri.h>

static char *range_dup(const UriTextRangeA *r, int decode)
{
	size_t n = r->first ? (size_t)(r->afterLast - r->first) : 0;
	char *s = malloc(n + 1);
	if (!s)
		return NULL;
	if (n)
		memcpy(s, r->first, n);
	s[n] = '\0';
	if (decode)
		*(char *)uriUnescapeInPlaceA(s) = '\0';
	return s;
}

/* Bucket names: 3 to 255 of [A-Za-z0-9._-] (S3 allows fewer; the server says which). */
static int bucket_ok(const char *b)
{
	size_t n = strlen(b);
	return n >= 3 && n <= 255 &&
	       strspn(b, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-") == n;
}

/* The decoded path segments joined with '/', a '/' after the last: "" or "a/b/". */
static int build_prefix(s3_inst *c, const UriUriA *u, const char *uri)
{
	size_t cap = strlen(uri) + 2, len = 0;
	char *p = malloc(cap);
	if (!p)
		return LV_E_NOMEM;
	p[0] = '\0';
	for (const UriPathSegmentA *seg = u->pathHead; seg; seg = seg->next) {
		char *s = range_dup(&seg->text, 1);
		if (!s) {
			free(p);
			return LV_E_NOMEM;
		}
		int bad = !strcmp(s, ".") || !strcmp(s, "..") || strchr(s, '\\');
		for (const char *q = s; *q && !bad; q++)
			bad = (unsigned char)*q < 0x20 || *q == 0x7f;
		if (bad) {
			free(s);
			free(p);
			return s3_err(c, LV_E_BAD_URI,
			              "'%s': a path segment of an s3 URI may not be '.' or '..', nor hold '\\' or a control character",
			              uri);
		}
		if (*s)
			len += (size_t)snprintf(p + len, cap - len, "%s/", s);
		free(s);
	}
	if (len > 900) {
		free(p);
		return s3_err(c, LV_E_BAD_URI, "'%s': the prefix is too long (at most 900 bytes, S3 keys are 1024)", uri);
	}
	c->prefix = p;
	return 0;
}

int s3_uri_parse(s3_inst *c, const char *uri)
{
	UriUriA u;
	const char *errpos = NULL;
	if (strstr(uri, "%00") || strstr(uri, "%2f") || strstr(uri, "%2F"))
		return s3_err(c, LV_E_BAD_URI, "'%s': an s3 URI may not hold an encoded NUL or '/'", uri);
	if (uriParseSingleUriA(&u, uri, &errpos) != URI_SUCCESS)
		return s3_err(c, LV_E_BAD_URI, "'%s' is not a valid URI (error at character %ld)", uri,
		              errpos ? (long)(errpos - uri) + 1 : 0L);
	int rc = 0;
	if (u.userInfo.first) {
		/* never echo it: it may hold a secret */
		rc = s3_err(c, LV_E_BAD_URI,
		            "an s3 URI may not hold credentials (s3://KEY:SECRET@bucket/...): they would end up in shell "
		            "history, process lists and logs. Use access_key_id and secret_access_key_file in [driver \"s3\"], "
		            "the AWS_* environment variables or a profile of ~/.aws/credentials");
		goto out;
	}
	if (u.query.first || u.fragment.first || u.portText.first) {
		rc = s3_err(c, LV_E_BAD_URI,
		            "'%s': an s3 URI is s3://BUCKET/prefix, without port, query or fragment (the server is the "
		            "endpoint key)",
		            uri);
		goto out;
	}
	if (!u.hostText.first || !(c->bucket = range_dup(&u.hostText, 1)) || !bucket_ok(c->bucket)) {
		rc = c->bucket || !u.hostText.first
		         ? s3_err(c, LV_E_BAD_URI, "'%s': expected s3://BUCKET/prefix with a bucket name of 3 to 255 "
		                                   "letters, digits, '.', '-' or '_'",
		                  uri)
		         : LV_E_NOMEM;
		goto out;
	}
	if (!(rc = build_prefix(c, &u, uri)))
		snprintf(c->where, sizeof c->where, "s3://%s/%s", c->bucket, c->prefix);
out:
	uriFreeUriMembersA(&u);
	return rc;
}
