/*
 * s3://BUCKET[/prefix/path]: split and percent-decoded by the host's URI
 * service (host->uri_parse), once, in s3_uri_parse.  The bucket is the host
 * part; the decoded path's segments are the prefix of every key.
 */
#include "s3_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Bucket names: 3 to 255 of [A-Za-z0-9._-] (S3 allows fewer; the server says which). */
static int bucket_ok(const char *b)
{
	size_t n = strlen(b);
	return n >= 3 && n <= 255 &&
	       strspn(b, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-") == n;
}

/* The decoded path's segments joined with '/', a '/' after the last: "" or "a/b/". */
static int build_prefix(s3_inst *c, const char *path, const char *uri)
{
	size_t cap = strlen(path) + 2, len = 0;
	char *p = malloc(cap), *copy = strdup(path);
	if (!p || !copy) {
		free(p);
		free(copy);
		return LV_E_NOMEM;
	}
	p[0] = '\0';
	int bad = 0;
	char *save = NULL;
	for (char *seg = strtok_r(copy, "/", &save); seg && !bad; seg = strtok_r(NULL, "/", &save)) {
		bad = !strcmp(seg, ".") || !strcmp(seg, "..") || strchr(seg, '\\');
		for (const char *q = seg; *q && !bad; q++)
			bad = (unsigned char)*q < 0x20 || *q == 0x7f;
		if (!bad)
			len += (size_t)snprintf(p + len, cap - len, "%s/", seg);
	}
	free(copy);
	if (bad || len > 900) {
		free(p);
		return bad ? s3_err(c, LV_E_BAD_URI, "'%s': a path segment of an s3 URI may not be '.' or '..', nor hold "
		                                     "'\\' or a control character", uri)
		           : s3_err(c, LV_E_BAD_URI, "'%s': the prefix is too long (at most 900 bytes, S3 keys are 1024)", uri);
	}
	c->prefix = p;
	return 0;
}

/* What an s3 URI may not hold; 0 when it is s3://BUCKET/prefix. */
static int check_parts(s3_inst *c, const lv_uri *u, const char *uri)
{
	if (u->user || u->password) /* never echoed: it may hold a secret */
		return s3_err(c, LV_E_BAD_URI,
		              "an s3 URI may not hold credentials (s3://KEY:SECRET@bucket/...): they would end up in shell "
		              "history, process lists and logs. Use access_key_id and secret_access_key_file in [driver \"s3\"], "
		              "the AWS_* environment variables or a profile of ~/.aws/credentials");
	if (u->inner || u->query || u->port)
		return s3_err(c, LV_E_BAD_URI,
		              "'%s': an s3 URI is s3://BUCKET/prefix, without port, query or fragment (the server is the "
		              "endpoint key)", uri);
	if (!u->host || !bucket_ok(u->host))
		return s3_err(c, LV_E_BAD_URI, "'%s': expected s3://BUCKET/prefix with a bucket name of 3 to 255 letters, "
		                               "digits, '.', '-' or '_'", uri);
	return 0;
}

int s3_uri_parse(s3_inst *c, const char *uri)
{
	/* the decoded path is one string: an encoded '/' would move a segment boundary */
	if (strstr(uri, "%00") || strstr(uri, "%2f") || strstr(uri, "%2F"))
		return s3_err(c, LV_E_BAD_URI, "'%s': an s3 URI may not hold an encoded NUL or '/'", uri);
	lv_uri *u = NULL;
	int rc = c->host->uri_parse(c->h, uri, &u); /* BAD_URI described by the host */
	if (!rc && !u)
		rc = s3_err(c, LV_E_IO, "the host's URI parser gave nothing for %s", uri);
	if (!rc)
		rc = check_parts(c, u, uri);
	if (!rc && !(c->bucket = strdup(u->host)))
		rc = LV_E_NOMEM;
	if (!rc && !(rc = build_prefix(c, u->path, uri)))
		snprintf(c->where, sizeof c->where, "s3://%s/%s", c->bucket, c->prefix);
	c->host->uri_free(u);
	return rc;
}
