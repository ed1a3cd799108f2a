/*
 * The request engine's loop: transfers driven on the instance's multi
 * handle, finished requests classified (done, retried after a backoff with
 * jitter, or failed with a description), and the instance's HTTP set-up.
 */
#include "s3_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>



static int curl_retryable(CURLcode cc)
{
	switch (cc) {
	case CURLE_COULDNT_CONNECT:
	case CURLE_SEND_ERROR:
	case CURLE_RECV_ERROR:
	case CURLE_GOT_NOTHING:
	case CURLE_PARTIAL_FILE:
	case CURLE_OPERATION_TIMEDOUT:
	case CURLE_HTTP2:
	case CURLE_HTTP2_STREAM:
	case CURLE_SSL_CONNECT_ERROR:
	case CURLE_WEIRD_SERVER_REPLY:
		return 1;
	default:
		return 0;
	}
}

static int curl_untrusted(CURLcode cc)
{
	return cc == CURLE_PEER_FAILED_VERIFICATION || cc == CURLE_SSL_CACERT_BADFILE || cc == CURLE_SSL_CERTPROBLEM ||
	       cc == CURLE_SSL_ISSUER_ERROR;
}

static int http_retryable(long status, const char *code)
{
	return status >= 500 || status == 429 || !strcmp(code, "SlowDown") || !strcmp(code, "RequestTimeout") ||
	       !strcmp(code, "InternalError");
}

static int is_one_of(const char *code, const char *const *list)
{
	for (; *list; list++)
		if (!strcmp(code, *list))
			return 1;
	return 0;
}

static int lv_code_of(long status, const char *code)
{
	static const char *const auth[] = {"SignatureDoesNotMatch", "InvalidAccessKeyId", "AccessDenied", "InvalidToken",
	                                   "ExpiredToken", "TokenRefreshRequired", "RequestTimeTooSkewed",
	                                   "InvalidSecurity", "AccountProblem", NULL};
	static const char *const space[] = {"QuotaExceeded", "EntityTooLarge", "InsufficientStorage", "TooManyBuckets",
	                                    NULL};
	static const char *const config[] = {"PermanentRedirect", "AuthorizationHeaderMalformed",
	                                     "IllegalLocationConstraintException", "InvalidBucketName",
	                                     "InvalidStorageClass", NULL};
	if (is_one_of(code, space) || status == 507)
		return LV_E_NO_SPACE;
	if (is_one_of(code, auth) || status == 401 || (status == 403 && !code[0]))
		return LV_E_AUTH;
	if (is_one_of(code, config) || (status >= 300 && status < 400))
		return LV_E_CONFIG;
	if (status == 404)
		return LV_E_NOT_FOUND;
	if (status == 412 || !strcmp(code, "ConditionalRequestConflict")) /* AWS: 409 when two create at once */
		return LV_E_EXISTS;
	return LV_E_IO;
}

static void hint(s3_inst *c, const char *code, const char *region, char *buf, size_t cap)
{
	const char *src = c->creds.source;
	buf[0] = '\0';
	if (!strcmp(code, "SignatureDoesNotMatch"))
		snprintf(buf, cap, ": the secret access key does not match key id %s (credentials from %s)",
		         c->creds.access_key, src);
	else if (!strcmp(code, "InvalidAccessKeyId"))
		snprintf(buf, cap, ": the server knows no key id %s (credentials from %s)", c->creds.access_key, src);
	else if (!strcmp(code, "AccessDenied"))
		snprintf(buf, cap, ": key id %s may not do this (credentials from %s)", c->creds.access_key, src);
	else if (!strcmp(code, "NoSuchBucket"))
		snprintf(buf, cap, ": the bucket %s does not exist (create it, or set create_bucket = yes)", c->bucket);
	else if (!strcmp(code, "RequestTimeTooSkewed"))
		snprintf(buf, cap, ": this machine's clock differs too much from the server's");
	else if (!strcmp(code, "QuotaExceeded"))
		snprintf(buf, cap, ": the quota of the bucket or of key id %s is used up", c->creds.access_key);
	else if (region[0])
		snprintf(buf, cap, ": the bucket is in region %s (set region = %s)", region, region);
	else if (!strcmp(code, "PermanentRedirect") || !strcmp(code, "AuthorizationHeaderMalformed"))
		snprintf(buf, cap, ": the bucket is in another region than %s (set region)", c->cfg.region);
}

/* A redirect, never followed (the next host would get the signed request): where it points, printable. */
static void redirect_hint(const char *location, char *buf, size_t cap)
{
	char to[200];
	size_t n = 0;
	for (const char *p = location; *p && n + 1 < sizeof to; p++)
		to[n++] = *p < 0x21 || *p > 0x7e ? '?' : *p;
	to[n] = '\0';
	snprintf(buf, cap, ": the server redirects to %s%s; redirects are not followed: set endpoint (and region) to the "
	         "bucket's",
	         to[0] ? to : "(no Location)", location[n] ? "..." : "");
}

static void describe_http(s3_req *r)
{
	s3_inst *c = r->c;
	char code[64], msg[300], region[64], h[900], what[1200];
	s3_xml_error(r->resp.p, r->resp.len, code, sizeof code, msg, sizeof msg, region, sizeof region);
	snprintf(r->s3code, sizeof r->s3code, "%s", code);
	r->rc = lv_code_of(r->status, code);
	hint(c, code, region, h, sizeof h);
	if (!h[0] && r->status >= 300 && r->status < 400) {
		redirect_hint(r->location, h, sizeof h);
		if (!code[0])
			snprintf(code, sizeof code, "(a redirect)");
	}
	if (!code[0] && r->status == 404)
		snprintf(code, sizeof code, "(no such %s)", r->key ? "key" : "bucket");
	char attempts[64] = "";
	if (r->attempt)
		snprintf(attempts, sizeof attempts, " (after %d attempts)", r->attempt + 1);
	snprintf(r->err, sizeof r->err, "s3: %s %s at %s: HTTP %ld %s%s%s%s%s", r->what,
	         s3_show(c, r->key, what, sizeof what), c->cfg.endpoint, r->status, code, msg[0] ? " (" : "", msg,
	         msg[0] ? ")" : "", h[0] ? h : attempts);
}

static void describe_curl(s3_req *r, CURLcode cc)
{
	s3_inst *c = r->c;
	char what[1200], attempts[64] = "";
	char slow[200];
	const char *detail = r->errbuf[0] ? r->errbuf : curl_easy_strerror(cc);
	if (cc == CURLE_OPERATION_TIMEDOUT && strstr(detail, "too slow")) {
		int t = (r->flags & S3_REQ_CLEANUP) && c->cfg.timeout > S3_CLEANUP_TIMEOUT ? S3_CLEANUP_TIMEOUT : c->cfg.timeout;
		snprintf(slow, sizeof slow, "the server sent nothing for %d s (timeout = %d)", t, c->cfg.timeout);
		detail = slow;
	}
	if (r->attempt)
		snprintf(attempts, sizeof attempts, " (after %d attempts)", r->attempt + 1);
	s3_show(c, r->key, what, sizeof what);
	if (cc == CURLE_WRITE_ERROR && r->sink_over) {
		snprintf(slow, sizeof slow, "the server sent more than the %zu bytes asked for (HTTP %ld)", r->sink_cap,
		         r->status);
		detail = slow;
	} else if (cc == CURLE_WRITE_ERROR && r->resp_over) {
		snprintf(slow, sizeof slow, "the answer (HTTP %ld) is larger than %zu MiB, more than any S3 answer", r->status,
		         S3_XML_MAX / S3_MIB);
		detail = slow;
	}
	if (cc == CURLE_ABORTED_BY_CALLBACK) {
		r->rc = LV_E_CANCELED;
		snprintf(r->err, sizeof r->err, "s3: %s %s canceled", r->what, what);
	} else if (curl_untrusted(cc)) {
		r->rc = LV_E_HOST_KEY;
		snprintf(r->err, sizeof r->err,
		         "s3: %s %s at %s: the server's TLS certificate cannot be trusted: %s (name the certificate of the "
		         "authority that signed it with ca_file)",
		         r->what, what, c->cfg.endpoint, detail);
	} else {
		r->rc = LV_E_IO;
		snprintf(r->err, sizeof r->err, "s3: %s %s at %s: %s%s", r->what, what, c->cfg.endpoint, detail, attempts);
	}
}

static void schedule_retry(s3_req *r, const char *why)
{
	s3_inst *c = r->c;
	int64_t cap = (int64_t)c->cfg.timeout * 1000;
	if (cap > 10000)
		cap = 10000;
	int64_t span = (int64_t)100 << (r->attempt < 16 ? r->attempt : 16);
	if (span > cap)
		span = cap;
	int64_t delay = span / 2 + (int64_t)s3_random((uint64_t)span / 2 + 1); /* backoff with jitter */
	r->attempt++;
	r->retry_at = s3_now_ms() + delay;
	r->next_waiting = c->waiting;
	c->waiting = r;
	char what[1200];
	c->host->log(c->h, LV_LOG_INFO, "s3: %s %s: %s; retry %d of %d in %.1f s", r->what,
	             s3_show(c, r->key, what, sizeof what), why, r->attempt,
	             (r->flags & S3_REQ_CLEANUP) ? 1 : c->cfg.retries, (double)delay / 1000);
}

static void req_finished(s3_req *r, CURLcode cc)
{
	s3_inst *c = r->c;
	curl_multi_remove_handle(c->multi, r->easy);
	r->in_multi = 0;
	curl_easy_getinfo(r->easy, CURLINFO_RESPONSE_CODE, &r->status);
	char *loc = NULL;
	r->location[0] = '\0';
	if (curl_easy_getinfo(r->easy, CURLINFO_REDIRECT_URL, &loc) == CURLE_OK && loc)
		snprintf(r->location, sizeof r->location, "%s", loc);
	curl_off_t ft = -1;
	if (curl_easy_getinfo(r->easy, CURLINFO_FILETIME_T, &ft) == CURLE_OK && ft > 0)
		r->mtime = (int64_t)ft;
	curl_easy_cleanup(r->easy);
	r->easy = NULL;
	int max_retries = (r->flags & S3_REQ_CLEANUP) ? (c->cfg.retries ? 1 : 0) : c->cfg.retries;
	char why[400] = "";
	if (cc == CURLE_OK && r->status >= 200 && r->status < 300) {
		r->rc = 0;
	} else if (cc != CURLE_OK) {
		if (curl_retryable(cc) && r->attempt < max_retries) {
			snprintf(why, sizeof why, "%s", r->errbuf[0] ? r->errbuf : curl_easy_strerror(cc));
			schedule_retry(r, why);
			return;
		}
		describe_curl(r, cc);
	} else {
		char code[64], msg[8], region[8];
		s3_xml_error(r->resp.p, r->resp.len, code, sizeof code, msg, sizeof msg, region, sizeof region);
		if (http_retryable(r->status, code) && r->attempt < max_retries) {
			snprintf(why, sizeof why, "HTTP %ld %s", r->status, code);
			schedule_retry(r, why);
			return;
		}
		describe_http(r);
	}
	char what[1200];
	c->host->log(c->h, LV_LOG_DEBUG, "s3: %s %s%s%s: HTTP %ld%s%s%s", r->method, s3_show(c, r->key, what, sizeof what),
	             r->query ? "?" : "", r->query ? r->query : "", r->status, r->s3code[0] ? " " : "", r->s3code,
	             r->rc ? " (failed)" : "");
	r->done = 1;
}

/* Start the requests whose retry time has come; cancel those waiting when the run is canceled. */
static int64_t start_due(s3_inst *c)
{
	int64_t now = s3_now_ms(), next = INT64_MAX;
	int canceled = c->host->canceled(c->h);
	for (s3_req *r = c->waiting, *nx; r; r = nx) {
		nx = r->next_waiting;
		if (canceled && !(r->flags & S3_REQ_CLEANUP)) {
			s3_waiting_remove(r);
			describe_curl(r, CURLE_ABORTED_BY_CALLBACK);
			r->done = 1;
		} else if (r->retry_at <= now) {
			s3_waiting_remove(r);
			int attempt = r->attempt;
			int rc = s3_req_start(r);
			r->attempt = attempt;
			if (rc) {
				r->rc = rc;
				snprintf(r->err, sizeof r->err, "s3: %s: out of memory", r->what);
				r->done = 1;
			}
		} else if (r->retry_at < next) {
			next = r->retry_at;
		}
	}
	return next;
}

static void collect(s3_inst *c)
{
	CURLMsg *m;
	int left;
	while ((m = curl_multi_info_read(c->multi, &left)))
		if (m->msg == CURLMSG_DONE) {
			s3_req *r = NULL;
			curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, (char **)&r);
			if (r)
				req_finished(r, m->data.result);
		}
}

int s3_pump(s3_inst *c, int wait_ms)
{
	int running = 0;
	int64_t next = start_due(c);
	curl_multi_perform(c->multi, &running);
	collect(c);
	if (wait_ms <= 0)
		return 0;
	int64_t now = s3_now_ms();
	int64_t t = next == INT64_MAX ? wait_ms : next - now;
	if (t > wait_ms)
		t = wait_ms;
	if (t < 0)
		t = 0;
	curl_multi_poll(c->multi, NULL, 0, (int)t, NULL);
	start_due(c);
	curl_multi_perform(c->multi, &running);
	collect(c);
	return 0;
}

int s3_req_wait(s3_req *r)
{
	while (!r->done)
		s3_pump(r->c, S3_TICK_MS);
	return r->rc;
}

int s3_req_run(s3_req *r)
{
	int rc = s3_req_start(r);
	if (rc) {
		snprintf(r->err, sizeof r->err, "s3: %s: out of memory", r->what);
		return r->rc = rc;
	}
	return s3_req_wait(r);
}

int s3_http_init(s3_inst *c)
{
	s3_config *cfg = &c->cfg;
	if (cfg->addressing < 0)
		cfg->addressing = cfg->endpoint ? 0 : 1;
	if (!cfg->endpoint && asprintf(&cfg->endpoint, "https://s3.%s.amazonaws.com", cfg->region) < 0)
		return cfg->endpoint = NULL, LV_E_NOMEM;
	snprintf(c->sigv4, sizeof c->sigv4, "aws:amz:%s:s3", cfg->region);
	const char *host = strstr(cfg->endpoint, "://") + 3;
	int n = cfg->addressing ? asprintf(&c->base_url, "%.*s%s.%s", (int)(host - cfg->endpoint), cfg->endpoint, c->bucket,
	                                   host)
	                        : asprintf(&c->base_url, "%s/%s", cfg->endpoint, c->bucket);
	if (n < 0)
		return c->base_url = NULL, LV_E_NOMEM;
	snprintf(c->where, sizeof c->where, "s3://%s/%s at %s", c->bucket, c->prefix, cfg->endpoint);
	/* thread-safe in libcurl >= 7.84 (CURL_VERSION_THREADSAFE); counted, never undone (the driver keeps no state) */
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
		return s3_err(c, LV_E_IO, "s3: libcurl cannot be initialized");
	if (!(c->multi = curl_multi_init()))
		return LV_E_NOMEM;
	curl_multi_setopt(c->multi, CURLMOPT_MAXCONNECTS, (long)cfg->parallel_parts + 2);
	return 0;
}

void s3_http_free(s3_inst *c)
{
	while (c->waiting)
		s3_waiting_remove(c->waiting);
	if (c->multi)
		curl_multi_cleanup(c->multi);
	c->multi = NULL;
	free(c->base_url);
	c->base_url = NULL;
}

/* ---- HEAD (s3_int.h) ---- */

int s3_head(s3_inst *c, const char *key, uint64_t *size, char *etag, size_t etag_cap, int64_t *mtime)
{
	s3_req r;
	int rc = s3_req_init(&r, c, "HEAD", key, NULL, "look at");
	if (rc)
		return rc;
	if (c->host->canceled(c->h))
		r.flags |= S3_REQ_CLEANUP; /* after a cancel: a cleanup's look (remove) */
	rc = s3_req_run(&r);
	if (!rc) {
		if (size)
			*size = r.length;
		if (etag)
			snprintf(etag, etag_cap, "%s", r.etag_not_md5 ? "*" : r.etag);
		if (mtime)
			*mtime = r.mtime;
		if (size && r.length == UINT64_MAX) {
			char show[1200];
			rc = s3_err(c, LV_E_IO, "s3: look at %s at %s: the answer gives no Content-Length",
			            s3_show(c, key, show, sizeof show), c->cfg.endpoint);
		}
	} else if (rc != LV_E_NOT_FOUND) {
		rc = s3_req_fail(&r);
	}
	s3_req_free(&r);
	return rc;
}
