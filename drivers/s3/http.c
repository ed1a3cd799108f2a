/*
 * The request engine: every S3 request of an instance runs on one libcurl
 * multi handle (its connections are reused), driven from the thread of the
 * operation, so the host's services are called from that thread only.
 *
 * Signing is libcurl's (CURLOPT_AWS_SIGV4).  libcurl 7.88 neither hashes
 * the payload nor sorts the query for the signature, so the driver sends
 * x-amz-content-sha256 itself (curl signs with it) and builds canonical
 * query strings (s3_query: percent-encoded by curl_easy_escape, sorted).
 *
 * Failures: 5xx, 429, SlowDown, RequestTimeout, resets, refused connections
 * and stalls (no byte for `timeout` seconds) are retried up to `retries`
 * times with exponential backoff and jitter; anything else ends the request
 * with a description naming the bucket, key, HTTP status and S3 error code.
 * A cancel (the host's canceled()) stops transfers from the progress
 * callback within S3_TICK_MS.
 */
#include "s3_int.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

int64_t s3_now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int s3_buf_add(s3_buf *b, const void *data, size_t n, size_t max)
{
	if (b->len + n + 1 > max)
		return -1;
	if (b->len + n + 1 > b->cap) {
		size_t cap = b->cap ? b->cap : 4096;
		while (cap < b->len + n + 1)
			cap *= 2;
		char *p = realloc(b->p, cap);
		if (!p)
			return -1;
		b->p = p;
		b->cap = cap;
	}
	memcpy(b->p + b->len, data, n);
	b->len += n;
	b->p[b->len] = '\0';
	return 0;
}

void s3_buf_free(s3_buf *b)
{
	free(b->p);
	memset(b, 0, sizeof *b);
}

char *s3_key(s3_inst *c, const char *name)
{
	char *k = NULL;
	return asprintf(&k, "%s%s", c->prefix, name) < 0 ? NULL : k;
}

const char *s3_show(s3_inst *c, const char *key, char *buf, size_t cap)
{
	snprintf(buf, cap, "s3://%s/%s", c->bucket, key ? key : c->prefix); /* no key: the location */
	/* a key may come from the server (a listing): no control character reaches a message (C0, DEL, C1) */
	for (unsigned char *p = (unsigned char *)buf; *p; p++)
		if (*p < 0x20 || *p == 0x7f)
			*p = '?';
		else if (*p == 0xc2 && p[1] >= 0x80 && p[1] <= 0x9f)
			p[0] = p[1] = '?';
	return buf;
}

/* ---- canonical query strings ------------------------------------------------ */

typedef struct qpair {
	char *name, *value;
} qpair;

static int qpair_cmp(const void *a, const void *b)
{
	const qpair *x = a, *y = b;
	int d = strcmp(x->name, y->name);
	return d ? d : strcmp(x->value, y->value);
}

char *s3_query(const char *name, ...)
{
	qpair q[8];
	size_t n = 0, len = 1;
	int ok = 1;
	va_list ap;
	va_start(ap, name);
	for (const char *k = name; k && n < 8; k = va_arg(ap, const char *)) {
		const char *v = va_arg(ap, const char *);
		q[n].name = curl_easy_escape(NULL, k, 0);
		q[n].value = curl_easy_escape(NULL, v ? v : "", 0);
		ok &= q[n].name && q[n].value;
		len += (q[n].name ? strlen(q[n].name) : 0) + (q[n].value ? strlen(q[n].value) : 0) + 2;
		n++;
	}
	va_end(ap);
	char *out = ok ? malloc(len) : NULL;
	if (out) {
		qsort(q, n, sizeof q[0], qpair_cmp);
		size_t at = 0;
		for (size_t i = 0; i < n; i++)
			at += (size_t)snprintf(out + at, len - at, "%s%s=%s", i ? "&" : "", q[i].name, q[i].value);
	}
	for (size_t i = 0; i < n; i++) {
		curl_free(q[i].name);
		curl_free(q[i].value);
	}
	return out;
}

/* ---- requests -------------------------------------------------------------------- */

int s3_req_init(s3_req *r, s3_inst *c, const char *method, const char *key, char *query, const char *what)
{
	memset(r, 0, sizeof *r);
	r->c = c;
	r->method = method;
	r->query = query;
	r->what = what;
	r->length = UINT64_MAX;
	r->range_first = r->range_last = r->range_total = UINT64_MAX;
	s3_sha256_hex("", 0, r->sha256);
	if (key && !(r->key = strdup(key)))
		return LV_E_NOMEM;
	return 0;
}

void s3_req_body(s3_req *r, const void *body, size_t len)
{
	r->body = body;
	r->body_len = len;
	s3_sha256_hex(body ? body : "", len, r->sha256);
	s3_md5(body ? body : "", len, r->md5);
}

void s3_req_free(s3_req *r)
{
	if (!r)
		return;
	s3_req_stop(r);
	curl_slist_free_all(r->hdrs);
	r->hdrs = NULL;
	free(r->key);
	free(r->query);
	s3_buf_free(&r->resp);
	r->key = r->query = NULL;
}

static char *encode_key(const char *key)
{
	size_t cap = 3 * strlen(key) + 1, at = 0;
	char *out = malloc(cap);
	if (!out)
		return NULL;
	out[0] = '\0';
	for (const char *seg = key;; ) {
		size_t n = strcspn(seg, "/");
		char *e = curl_easy_escape(NULL, seg, (int)n);
		if (!e && n) {
			free(out);
			return NULL;
		}
		at += (size_t)snprintf(out + at, cap - at, "%s%s", e ? e : "", seg[n] == '/' ? "/" : "");
		curl_free(e);
		if (!seg[n])
			break;
		seg += n + 1;
	}
	return out;
}

static char *build_url(s3_req *r)
{
	s3_inst *c = r->c;
	char *ek = r->key ? encode_key(r->key) : NULL, *url = NULL;
	if (r->key && !ek)
		return NULL;
	int virt = c->cfg.addressing == 1;
	if (asprintf(&url, "%s%s%s%s%s", c->base_url, r->key ? "/" : (virt ? "/" : ""), ek ? ek : "",
	             r->query ? "?" : "", r->query ? r->query : "") < 0)
		url = NULL;
	free(ek);
	return url;
}

static size_t on_read(char *buf, size_t size, size_t nitems, void *ud)
{
	s3_req *r = ud;
	size_t n = size * nitems, left = r->body_len - r->up_pos;
	if (n > left)
		n = left;
	if (n)
		memcpy(buf, r->body + r->up_pos, n);
	r->up_pos += n;
	return n;
}

static int on_seek(void *ud, curl_off_t off, int origin)
{
	s3_req *r = ud;
	if (origin != SEEK_SET || off < 0 || (uint64_t)off > r->body_len)
		return CURL_SEEKFUNC_CANTSEEK;
	r->up_pos = (size_t)off;
	return CURL_SEEKFUNC_OK;
}

static size_t on_write(char *p, size_t size, size_t n, void *ud)
{
	s3_req *r = ud;
	size_t len = size * n;
	if (!r->status)
		curl_easy_getinfo(r->easy, CURLINFO_RESPONSE_CODE, &r->status);
	if (r->sink && r->status >= 200 && r->status < 300) {
		if (len > r->sink_cap - r->got) {
			r->sink_over = 1; /* more than asked for: the server misbehaves */
			return 0;
		}
		memcpy(r->sink + r->got, p, len);
		r->got += len;
		return len;
	}
	if (r->resp.len + len + 1 > S3_XML_MAX) {
		r->resp_over = 1;
		return 0;
	}
	return s3_buf_add(&r->resp, p, len, S3_XML_MAX) ? 0 : len;
}

/* A decimal number and nothing else (but blanks around it); UINT64_MAX when it is none or too big. */
static uint64_t header_number(const char *s, const char **end)
{
	s += strspn(s, " \t");
	if (*s < '0' || *s > '9')
		return UINT64_MAX;
	uint64_t v = 0;
	for (; *s >= '0' && *s <= '9'; s++) {
		if (v > (UINT64_MAX - 1 - (uint64_t)(*s - '0')) / 10)
			return UINT64_MAX;
		v = v * 10 + (uint64_t)(*s - '0');
	}
	if (end)
		*end = s;
	else if (s[strspn(s, " \t")])
		return UINT64_MAX;
	return v;
}

/* Content-Range: bytes FIRST-LAST/TOTAL (TOTAL may be '*'); fields UINT64_MAX when it is not that. */
static void content_range(s3_req *r, const char *v)
{
	const char *p = v + strspn(v, " \t");
	uint64_t f = UINT64_MAX, l = UINT64_MAX, t = UINT64_MAX;
	if (!strncasecmp(p, "bytes ", 6) && (f = header_number(p + 6, &p)) != UINT64_MAX && *p == '-' &&
	    (l = header_number(p + 1, &p)) != UINT64_MAX && *p == '/')
		t = header_number(p + 1, NULL);
	if (f == UINT64_MAX || l == UINT64_MAX || t == UINT64_MAX)
		f = l = t = UINT64_MAX;
	r->range_first = f;
	r->range_last = l;
	r->range_total = t;
}

static size_t on_header(char *p, size_t size, size_t n, void *ud)
{
	s3_req *r = ud;
	size_t len = size * n;
	char line[512];
	snprintf(line, sizeof line, "%.*s", (int)(len < sizeof line - 1 ? len : sizeof line - 1), p);
	line[strcspn(line, "\r\n")] = '\0';
	if (!strncmp(line, "HTTP/", 5)) { /* a new answer (after a 100 Continue): forget the last */
		r->etag[0] = '\0';
		r->etag_not_md5 = 0;
		r->length = UINT64_MAX;
		r->range_first = r->range_last = r->range_total = UINT64_MAX;
		r->status = 0;
	} else if ((!strncasecmp(line, "x-amz-server-side-encryption:", 29) && strstr(line + 29, "kms")) ||
	           !strncasecmp(line, "x-amz-server-side-encryption-customer-algorithm:", 48)) {
		r->etag_not_md5 = 1;
	} else if (!strncasecmp(line, "etag:", 5)) {
		const char *v = line + 5 + strspn(line + 5, " \t\"");
		snprintf(r->etag, sizeof r->etag, "%.*s", (int)strcspn(v, "\" \t"), v);
		for (char *s = r->etag; *s; s++) /* it may reach a message: printable ASCII only */
			if (*s < 0x21 || *s > 0x7e)
				*s = '?';
	} else if (!strncasecmp(line, "content-length:", 15)) {
		r->length = header_number(line + 15, NULL);
	} else if (!strncasecmp(line, "content-range:", 14)) {
		content_range(r, line + 14);
	}
	return len;
}

static int on_progress(void *ud, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal, curl_off_t ulnow)
{
	(void)dltotal;
	(void)ultotal;
	s3_req *r = ud;
	s3_inst *c = r->c;
	uint64_t moved = 0;
	if ((uint64_t)ulnow > r->up_seen)
		moved += (uint64_t)ulnow - r->up_seen, r->up_seen = (uint64_t)ulnow;
	if ((uint64_t)dlnow > r->down_seen)
		moved += (uint64_t)dlnow - r->down_seen, r->down_seen = (uint64_t)dlnow;
	if (moved && (r->sink || r->body_len))
		c->host->progress(c->h, moved);
	return !(r->flags & S3_REQ_CLEANUP) && c->host->canceled(c->h);
}

static int add_header(s3_req *r, const char *fmt, ...) LV_PRINTF(2, 3);
static int add_header(s3_req *r, const char *fmt, ...)
{
	char h[2300];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(h, sizeof h, fmt, ap);
	va_end(ap);
	struct curl_slist *l = curl_slist_append(r->hdrs, h);
	explicit_bzero(h, sizeof h); /* it may hold the session token */
	if (!l)
		return -1;
	r->hdrs = l;
	return 0;
}

static int build_headers(s3_req *r)
{
	s3_inst *c = r->c;
	char md5[32];
	int bad = add_header(r, "x-amz-content-sha256: %s", r->sha256);
	if (!bad && (r->flags & S3_REQ_MD5)) {
		s3_base64(r->md5, 16, md5, sizeof md5);
		bad = add_header(r, "Content-MD5: %s", md5);
	}
	if (!bad && (r->flags & S3_REQ_IF_NONE_MATCH))
		bad = add_header(r, "If-None-Match: *");
	if (!bad && r->if_match[0])
		bad = add_header(r, "If-Match: \"%s\"", r->if_match);
	if (!bad && r->range[0])
		bad = add_header(r, "Range: bytes=%s", r->range);
	if (!bad && (r->flags & S3_REQ_STORAGE_CLASS) && c->cfg.storage_class)
		bad = add_header(r, "x-amz-storage-class: %s", c->cfg.storage_class);
	if (!bad && c->creds.token)
		bad = add_header(r, "x-amz-security-token: %s", c->creds.token);
	if (!bad && !strcmp(r->method, "POST"))
		bad = add_header(r, "Content-Type: application/xml");
	return bad ? LV_E_NOMEM : 0;
}

static void set_method(s3_req *r, CURL *e)
{
	if (!strcmp(r->method, "HEAD")) {
		curl_easy_setopt(e, CURLOPT_NOBODY, 1L);
	} else if (!strcmp(r->method, "PUT") || !strcmp(r->method, "POST")) {
		if (!strcmp(r->method, "PUT")) {
			curl_easy_setopt(e, CURLOPT_UPLOAD, 1L);
			curl_easy_setopt(e, CURLOPT_INFILESIZE_LARGE, (curl_off_t)r->body_len);
		} else {
			curl_easy_setopt(e, CURLOPT_POST, 1L);
			curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)r->body_len);
		}
		curl_easy_setopt(e, CURLOPT_READFUNCTION, on_read);
		curl_easy_setopt(e, CURLOPT_READDATA, r);
		curl_easy_setopt(e, CURLOPT_SEEKFUNCTION, on_seek);
		curl_easy_setopt(e, CURLOPT_SEEKDATA, r);
	} else if (strcmp(r->method, "GET")) {
		curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, r->method);
	}
}

static int req_setup(s3_req *r)
{
	s3_inst *c = r->c;
	int cleanup = (r->flags & S3_REQ_CLEANUP) != 0;
	char *url = build_url(r);
	CURL *e = url ? curl_easy_init() : NULL;
	if (!e || (!r->hdrs && build_headers(r))) {
		free(url);
		if (e)
			curl_easy_cleanup(e);
		return LV_E_NOMEM;
	}
	long timeout = cleanup && c->cfg.timeout > S3_CLEANUP_TIMEOUT ? S3_CLEANUP_TIMEOUT : c->cfg.timeout;
	curl_easy_setopt(e, CURLOPT_URL, url);
	free(url);
	curl_easy_setopt(e, CURLOPT_PATH_AS_IS, 1L);
	curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(e, CURLOPT_USERAGENT, "licvault-s3/1.0");
	curl_easy_setopt(e, CURLOPT_AWS_SIGV4, c->sigv4);
	curl_easy_setopt(e, CURLOPT_USERNAME, c->creds.access_key);
	curl_easy_setopt(e, CURLOPT_PASSWORD, c->creds.secret);
	curl_easy_setopt(e, CURLOPT_HTTPHEADER, r->hdrs);
	curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT, timeout);
	curl_easy_setopt(e, CURLOPT_LOW_SPEED_LIMIT, 1L);
	curl_easy_setopt(e, CURLOPT_LOW_SPEED_TIME, timeout);
	curl_easy_setopt(e, CURLOPT_TCP_KEEPALIVE, 1L);
	/* no wait for "100 Continue" (an empty Expect header would be signed but not sent) */
	curl_easy_setopt(e, CURLOPT_EXPECT_100_TIMEOUT_MS, 0L);
	curl_easy_setopt(e, CURLOPT_ERRORBUFFER, r->errbuf);
	curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_write);
	curl_easy_setopt(e, CURLOPT_WRITEDATA, r);
	curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(e, CURLOPT_HEADERDATA, r);
	curl_easy_setopt(e, CURLOPT_NOPROGRESS, 0L);
	curl_easy_setopt(e, CURLOPT_XFERINFOFUNCTION, on_progress);
	curl_easy_setopt(e, CURLOPT_XFERINFODATA, r);
	curl_easy_setopt(e, CURLOPT_FILETIME, 1L);
	curl_easy_setopt(e, CURLOPT_PRIVATE, r);
	if (c->cfg.ca_file)
		curl_easy_setopt(e, CURLOPT_CAINFO, c->cfg.ca_file);
	curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, c->cfg.verify_tls ? 1L : 0L);
	curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, c->cfg.verify_tls ? 2L : 0L);
	set_method(r, e);
	r->easy = e;
	return 0;
}

int s3_req_start(s3_req *r)
{
	s3_inst *c = r->c;
	r->done = 0;
	r->rc = 0;
	r->status = 0;
	r->etag[0] = r->s3code[0] = r->errbuf[0] = '\0';
	r->etag_not_md5 = 0;
	r->length = UINT64_MAX;
	r->range_first = r->range_last = r->range_total = UINT64_MAX;
	r->mtime = 0;
	r->resp.len = 0;
	r->got = r->up_pos = 0;
	r->sink_over = r->resp_over = 0;
	r->up_seen = r->down_seen = 0;
	int rc = req_setup(r);
	if (rc)
		return rc;
	if (curl_multi_add_handle(c->multi, r->easy) != CURLM_OK) {
		curl_easy_cleanup(r->easy);
		r->easy = NULL;
		return LV_E_NOMEM;
	}
	r->in_multi = 1;
	return 0;
}

void s3_waiting_remove(s3_req *r)
{
	for (s3_req **pp = &r->c->waiting; *pp; pp = &(*pp)->next_waiting)
		if (*pp == r) {
			*pp = r->next_waiting;
			break;
		}
	r->next_waiting = NULL;
	r->retry_at = 0;
}

void s3_req_stop(s3_req *r)
{
	if (r->in_multi)
		curl_multi_remove_handle(r->c->multi, r->easy);
	r->in_multi = 0;
	if (r->easy)
		curl_easy_cleanup(r->easy);
	r->easy = NULL;
	if (r->retry_at)
		s3_waiting_remove(r);
}

int s3_req_fail(s3_req *r)
{
	return r->rc ? s3_err(r->c, r->rc, "%s", r->err) : 0;
}
