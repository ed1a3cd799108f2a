/*
 * The s3 driver: a backup location under a prefix of an S3 bucket.
 *   s3://BUCKET[/prefix/path]          (docs/drivers/s3.md)
 * Objects are keys "prefix/NAME".  Requests go through libcurl (SigV4 by
 * CURLOPT_AWS_SIGV4) on one multi handle per instance: http.c, engine.c.
 * Writing: writer.c (one PUT with If-None-Match, or a multipart upload with
 * parts in parallel); reading: reader.c (ranged GETs in parallel).
 */
#include "s3_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* ---- open / close ---------------------------------------------------------- */

static int create_bucket(s3_inst *c)
{
	char doc[300] = "";
	if (strcmp(c->cfg.region, "us-east-1"))
		snprintf(doc, sizeof doc,
		         "<CreateBucketConfiguration><LocationConstraint>%s</LocationConstraint></CreateBucketConfiguration>",
		         c->cfg.region); /* a region name: [A-Za-z0-9._-] only (config.c), nothing to escape */
	s3_req r;
	int rc = s3_req_init(&r, c, "PUT", NULL, NULL, "create the bucket");
	if (rc)
		return rc;
	s3_req_body(&r, doc, strlen(doc));
	rc = s3_req_run(&r);
	if (rc && !strcmp(r.s3code, "BucketAlreadyOwnedByYou"))
		rc = 0;
	if (rc)
		rc = s3_req_fail(&r);
	else
		c->host->log(c->h, LV_LOG_INFO, "s3: created the bucket %s at %s (create_bucket = yes)", c->bucket,
		             c->cfg.endpoint);
	s3_req_free(&r);
	return rc;
}

/* One listing request: the bucket is there, the credentials work, the server answers. */
static int probe(s3_inst *c)
{
	s3_req r;
	int rc = s3_req_init(&r, c, "GET", NULL, s3_query("list-type", "2", "max-keys", "1", "prefix", c->prefix, NULL),
	                     "list");
	if (rc)
		return rc;
	rc = s3_req_run(&r);
	int missing = rc == LV_E_NOT_FOUND && (!strcmp(r.s3code, "NoSuchBucket") || !r.s3code[0]);
	if (missing && c->cfg.create_bucket && (c->flags & LV_OPEN_WRITE))
		rc = create_bucket(c);
	else if (missing)
		rc = s3_err(c, LV_E_NOT_FOUND,
		            "s3: the bucket %s does not exist at %s (HTTP %ld %s): create it, or set create_bucket = yes in "
		            "[driver \"s3\"] or the location's section",
		            c->bucket, c->cfg.endpoint, r.status, r.s3code[0] ? r.s3code : "NoSuchBucket");
	else if (rc)
		rc = s3_req_fail(&r);
	s3_req_free(&r);
	return rc;
}

static void inst_free(s3_inst *c)
{
	if (!c)
		return;
	/* the host released our writers and readers still open (track) before this */
	s3_http_free(c);
	s3_config_free(&c->cfg);
	s3_creds_free(&c->creds);
	free(c->bucket);
	free(c->prefix);
	free(c);
}

static int s3_drv_open(const lv_host *host, lv_host_ctx *h, const char *uri, unsigned flags, void **inst)
{
	s3_inst *c = calloc(1, sizeof *c);
	if (!c)
		return LV_E_NOMEM;
	c->host = host;
	c->h = h;
	c->flags = flags;
	int rc;
	if ((rc = s3_config_load(c)) || (rc = s3_uri_parse(c, uri)) || (rc = s3_creds_load(c)) ||
	    (rc = s3_http_init(c)) || (rc = probe(c))) {
		inst_free(c);
		return rc;
	}
	host->log(h, LV_LOG_DEBUG, "s3: %s, region %s, %s addressing, credentials from %s", c->where, c->cfg.region,
	          c->cfg.addressing ? "virtual" : "path", c->creds.source);
	*inst = c;
	return 0;
}

static void s3_drv_close(void *inst)
{
	inst_free(inst);
}

/* ---- list ------------------------------------------------------------------------ */

typedef struct entry {
	char name[S3_NAME_MAX + 1];
	uint64_t size;
	int64_t mtime;
} entry;

typedef struct page {
	s3_inst *c;
	entry *v;
	size_t n, cap;
	char key[1100], lastmod[64];
	char prev[1100];         /* the last key listed (pages included): keys come in byte order, each once */
	int long_key;            /* the key did not fit in key: no object of the location */
	uint64_t size;
	int truncated;
	char token[1100];
} page;

/* ISO 8601 as S3 writes it ("2026-01-02T03:04:05.000Z"); 0 (unknown) for anything else. */
static int64_t parse_time(const char *s)
{
	struct tm tm;
	memset(&tm, 0, sizeof tm);
	const char *end = strptime(s, "%Y-%m-%dT%H:%M:%S", &tm);
	if (end && *end == '.')
		end += 1 + strspn(end + 1, "0123456789");
	return end && !strcmp(end, "Z") ? (int64_t)timegm(&tm) : 0;
}

/* A Size: decimal digits only, up to 2^64 - 2; UINT64_MAX (unknown) for anything else. */
static uint64_t parse_size(const char *s)
{
	uint64_t v = 0;
	if (!*s)
		return UINT64_MAX;
	for (; *s; s++) {
		if (*s < '0' || *s > '9' || v > (UINT64_MAX - 1 - (uint64_t)(*s - '0')) / 10)
			return UINT64_MAX;
		v = v * 10 + (uint64_t)(*s - '0');
	}
	return v;
}

static int page_one(void *ud, const char *path, const char *text)
{
	page *p = ud;
	if (!strcmp(path, "ListBucketResult/Contents/Key")) {
		snprintf(p->key, sizeof p->key, "%s", text);
		p->long_key = strlen(text) >= sizeof p->key - 1; /* S3 keys are at most 1024 bytes */
	} else if (!strcmp(path, "ListBucketResult/Contents/Size"))
		p->size = parse_size(text);
	else if (!strcmp(path, "ListBucketResult/Contents/LastModified"))
		snprintf(p->lastmod, sizeof p->lastmod, "%s", text);
	else if (!strcmp(path, "ListBucketResult/IsTruncated"))
		p->truncated = !strcmp(text, "true");
	else if (!strcmp(path, "ListBucketResult/NextContinuationToken"))
		snprintf(p->token, sizeof p->token, "%s", text);
	else if (!strcmp(path, "ListBucketResult/Contents")) {
		s3_inst *c = p->c;
		if (p->prev[0] && strcmp(p->key, p->prev) <= 0) {
			/* S3 lists keys once each, in byte order, across pages: a server that does not, lies */
			char show[1200], prev[1200];
			return s3_err(c, LV_E_IO,
			              "s3: list %s: the server lists %s after %s (a key again, or out of order): the listing "
			              "cannot be trusted",
			              c->where, s3_show(c, p->key, show, sizeof show), s3_show(c, p->prev, prev, sizeof prev));
		}
		snprintf(p->prev, sizeof p->prev, "%s", p->key);
		size_t pl = strlen(c->prefix);
		const char *name = p->key + pl;
		int ours = !p->long_key && !strncmp(p->key, c->prefix, pl) && *name && *name != '.' && !strchr(name, '/') &&
		           strlen(name) <= S3_NAME_MAX && strcmp(name, "..");
		if (ours) {
			if (p->n == p->cap) {
				size_t cap = p->cap ? 2 * p->cap : 64;
				entry *v = realloc(p->v, cap * sizeof *v);
				if (!v)
					return LV_E_NOMEM;
				p->v = v;
				p->cap = cap;
			}
			entry *e = &p->v[p->n++];
			snprintf(e->name, sizeof e->name, "%s", name);
			e->size = p->size;
			e->mtime = parse_time(p->lastmod);
		}
		p->key[0] = p->lastmod[0] = '\0';
		p->long_key = 0;
		p->size = UINT64_MAX;
	}
	return 0;
}

/* One page of ListObjectsV2 (delimiter '/': the objects right under the prefix). */
static int list_page(s3_inst *c, page *p, int first)
{
	char token[1100];
	snprintf(token, sizeof token, "%s", p->token);
	char *q = first ? s3_query("list-type", "2", "prefix", c->prefix, "delimiter", "/", NULL)
	                : s3_query("list-type", "2", "prefix", c->prefix, "delimiter", "/", "continuation-token", token,
	                           NULL);
	s3_req r;
	int rc = s3_req_init(&r, c, "GET", NULL, q, "list");
	if (rc)
		return rc;
	p->n = 0;
	p->truncated = 0;
	p->token[0] = '\0';
	p->size = UINT64_MAX;
	if (s3_req_run(&r))
		rc = s3_req_fail(&r); /* r.rc, described */
	else if ((rc = s3_xml_walk(r.resp.p, r.resp.len, page_one, p)) == -1)
		rc = s3_err(c, LV_E_IO, "s3: list %s: the answer is not valid XML", c->where);
	s3_req_free(&r);
	if (!rc && p->truncated && p->token[0] && !strcmp(p->token, token) && !first)
		rc = s3_err(c, LV_E_IO,
		            "s3: list %s: the server gives the same continuation token again: the listing would never end",
		            c->where);
	else if (!rc && p->truncated && !p->token[0]) /* the rest (later generations) would be left out unsaid */
		rc = s3_err(c, LV_E_IO, "s3: list %s: the server says the listing goes on but gives no continuation token",
		            c->where);
	return rc;
}

/*
 * Every page of the listing, at most S3_LIST_PAGES_MAX of them.  A page's
 * entries go to cb only once the page is read whole and checked.
 */
static int s3_drv_list(void *inst, lv_list_cb cb, void *ud)
{
	s3_inst *c = inst;
	page p;
	memset(&p, 0, sizeof p);
	p.c = c;
	int rc = 0, pages = 0;
	for (int first = 1; !rc; first = 0) {
		if (++pages > S3_LIST_PAGES_MAX) {
			rc = s3_err(c, LV_E_IO, "s3: list %s: the server is still not done after %d pages: the listing does not end",
			            c->where, S3_LIST_PAGES_MAX);
			break;
		}
		if ((rc = list_page(c, &p, first)))
			break;
		for (size_t i = 0; i < p.n && !rc; i++) {
			lv_object_info info = {p.v[i].name, p.v[i].size, p.v[i].mtime};
			rc = cb(&info, ud);
		}
		if (!p.truncated)
			break;
	}
	free(p.v);
	return rc;
}

/* ---- remove, stat ------------------------------------------------------------------- */

static int s3_drv_remove(void *inst, const char *name)
{
	s3_inst *c = inst;
	int rc = s3_check_name(c, name);
	char *key = rc ? NULL : s3_key(c, name);
	if (rc || !key)
		return rc ? rc : LV_E_NOMEM;
	char show[1200];
	/* DELETE answers 204 for a missing key too: look first, for LV_E_NOT_FOUND */
	rc = s3_head(c, key, NULL, NULL, 0, NULL);
	if (rc == LV_E_NOT_FOUND)
		rc = s3_err(c, rc, "s3: remove %s at %s: no such object", s3_show(c, key, show, sizeof show), c->cfg.endpoint);
	s3_req r;
	if (!rc && !(rc = s3_req_init(&r, c, "DELETE", key, NULL, "remove"))) {
		if (c->host->canceled(c->h))
			r.flags |= S3_REQ_CLEANUP; /* the cleanup of a canceled run (its lock) */
		if ((rc = s3_req_run(&r)))
			rc = s3_req_fail(&r);
		s3_req_free(&r);
	}
	free(key);
	return rc;
}

static int s3_drv_stat(void *inst, const char *name, lv_object_info *info)
{
	s3_inst *c = inst;
	int rc = s3_check_name(c, name);
	char *key = rc ? NULL : s3_key(c, name);
	if (rc || !key)
		return rc ? rc : LV_E_NOMEM;
	char show[1200];
	uint64_t size = 0;
	int64_t mtime = 0;
	rc = s3_head(c, key, &size, NULL, 0, &mtime);
	if (rc == LV_E_NOT_FOUND)
		rc = s3_err(c, rc, "s3: look at %s at %s: no such object", s3_show(c, key, show, sizeof show), c->cfg.endpoint);
	if (!rc) {
		info->name = name;
		info->size = size;
		info->mtime = mtime;
	}
	free(key);
	return rc;
}

/* ---- cleanup: multipart uploads left by dead runs ------------------------------------ */

typedef struct dead {
	s3_inst *c;
	char (*keys)[1100];
	char (*ids)[300];
	size_t n, cap;
} dead;

static int dead_one(void *ud, const char *key, const char *upload_id, const char *initiated)
{
	dead *d = ud;
	s3_inst *c = d->c;
	size_t pl = strlen(c->prefix);
	const char *name = key + pl;
	if (strncmp(key, c->prefix, pl) || !*name || strchr(name, '/') || !strcmp(name, ".") || !strcmp(name, "..") ||
	    s3_writer_owns(c, upload_id))
		return 0; /* no object name of the location (deeper, "..": someone else's, or a lie), or this instance's */
	if (d->n == d->cap) {
		size_t cap = d->cap ? 2 * d->cap : 16;
		void *k = realloc(d->keys, cap * sizeof *d->keys), *i = k ? realloc(d->ids, cap * sizeof *d->ids) : NULL;
		if (k)
			d->keys = k;
		if (!i)
			return 0;
		d->ids = i;
		d->cap = cap;
	}
	snprintf(d->keys[d->n], sizeof d->keys[0], "%s", key);
	snprintf(d->ids[d->n], sizeof d->ids[0], "%s", upload_id);
	d->n++;
	c->host->log(c->h, LV_LOG_WARN, "s3: aborting the multipart upload of s3://%s/%s begun %s by a run that did not end",
	             c->bucket, key, initiated[0] ? initiated : "at an unknown time");
	return 0;
}

/*
 * Called by the core once it holds the location's lock: every multipart
 * upload under the prefix but this instance's own was left by a dead run.
 */
static int s3_drv_cleanup(void *inst)
{
	s3_inst *c = inst;
	dead d;
	memset(&d, 0, sizeof d);
	d.c = c;
	int rc = s3_mpu_list(c, dead_one, &d);
	for (size_t i = 0; i < d.n && !rc; i++)
		rc = s3_mpu_abort(c, d.keys[i], d.ids[i]);
	free(d.keys);
	free(d.ids);
	return rc < 0 ? rc : 0;
}

/* ---- the descriptor ------------------------------------------------------------------- */

static const lv_driver_ops s3_ops = {
	.open = s3_drv_open,
	.close = s3_drv_close,
	.write_begin = s3_write_begin,
	.write = s3_write,
	.commit = s3_commit,
	.abort = s3_abort,
	.read_open = s3_read_open,
	.read = s3_read,
	.read_close = s3_read_close,
	.list = s3_drv_list,
	.remove = s3_drv_remove,
	.stat = s3_drv_stat,
	.sync = NULL,      /* a PUT or a completed upload is durable once answered */
	.space = NULL,     /* S3 has no free space to tell */
	.cleanup = s3_drv_cleanup,
	.enumerate = NULL,
};

static const char *const s3_schemes[] = {"s3", NULL};

static const lv_driver_key s3_keys[] = {
	{"endpoint", LV_KEY_STRING, NULL,
	 "http(s)://HOST[:PORT] of the S3 service (default: AWS, https://s3.REGION.amazonaws.com)", 0, 0, NULL, 0},
	{"region", LV_KEY_STRING, NULL,
	 "region signed into requests (default: AWS_REGION, AWS_DEFAULT_REGION, the profile's, us-east-1)", 0, 0, NULL,
	 0},
	{"addressing", LV_KEY_ENUM, NULL,
	 "path (https://host/BUCKET/key) or virtual (https://BUCKET.host/key); default: path with an endpoint, else "
	 "virtual",
	 0, 0, "path|virtual", 0},
	{"access_key_id", LV_KEY_STRING, NULL, "access key id (with secret_access_key_file); wins over environment and profile",
	 0, 0, NULL, 0},
	{"secret_access_key_file", LV_KEY_PATH, NULL, "file whose first line is the secret access key", 0, 0, NULL, 0},
	{"session_token_file", LV_KEY_PATH, NULL, "file whose first line is a session token (temporary credentials)", 0,
	 0, NULL, 0},
	{"profile", LV_KEY_STRING, NULL,
	 "profile of ~/.aws/credentials and ~/.aws/config to take the keys from (default: AWS_PROFILE, then default)", 0,
	 0, NULL, 0},
	{"ca_file", LV_KEY_PATH, NULL, "PEM file of the certificate authorities to trust (default: the system's)", 0, 0,
	 NULL, 0},
	{"verify_tls", LV_KEY_BOOL, "yes", "check the server's TLS certificate and name (no: anyone on the path may read "
	                                   "and change the backups)",
	 0, 0, NULL, 0},
	{"storage_class", LV_KEY_STRING, NULL, "x-amz-storage-class of the objects written (default: the bucket's)", 0, 0,
	 NULL, 0},
	{"part_size", LV_KEY_INT, "5", "MiB per part of a multipart upload and per ranged read; smaller objects are one PUT",
	 5, 5120, NULL, 0},
	{"parallel_parts", LV_KEY_INT, "4", "parts sent (or ranges read) at once; memory is about (this + 1) x part_size",
	 1, 32, NULL, 0},
	{"create_bucket", LV_KEY_BOOL, "no", "create the bucket when a backup finds it missing", 0, 0, NULL, 0},
	{"timeout", LV_KEY_INT, "30", "seconds to connect, and seconds a request may go without a byte moving", 1, 3600,
	 NULL, 0},
	{"retries", LV_KEY_INT, "5", "retries of a request after a 5xx, 429/SlowDown, a reset or a timeout (backoff with "
	                             "jitter)",
	 0, 20, NULL, 0},
	{NULL, 0, NULL, NULL, 0, 0, NULL, 0},
};

static const lv_driver s3_driver = {
	LV_DRIVER_INIT_HEADER,
	.name = "s3",
	.version = "1.0.0",
	.schemes = s3_schemes,
	.ops = &s3_ops,
	.keys = s3_keys,
};

LV_DRIVER_ENTRY
{
	return &s3_driver;
}
