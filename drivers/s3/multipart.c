/*
 * Multipart uploads: create, complete, abort, list.  A multipart upload is
 * invisible under its key until CompleteMultipartUpload publishes it whole.
 */
#include "s3_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int upload_id_of(void *ud, const char *path, const char *text)
{
	char **id = ud;
	if (!strcmp(path, "InitiateMultipartUploadResult/UploadId") && !*id && *text)
		*id = strdup(text);
	return 0;
}

int s3_mpu_create(s3_inst *c, const char *key, char **upload_id)
{
	s3_req r;
	*upload_id = NULL;
	int rc = s3_req_init(&r, c, "POST", key, s3_query("uploads", "", NULL), "start a multipart upload of");
	if (rc)
		return rc;
	r.flags = S3_REQ_STORAGE_CLASS;
	if ((rc = s3_req_run(&r))) {
		rc = s3_req_fail(&r);
	} else if (s3_xml_walk(r.resp.p, r.resp.len, upload_id_of, upload_id) || !*upload_id ||
	           strspn(*upload_id, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._~-+/=") !=
	               strlen(*upload_id)) {
		char show[1200];
		rc = s3_err(c, LV_E_IO, "s3: start a multipart upload of %s at %s: the answer holds no usable UploadId",
		            s3_show(c, key, show, sizeof show), c->cfg.endpoint);
		free(*upload_id);
		*upload_id = NULL;
	}
	s3_req_free(&r);
	return rc;
}

/*
 * The CompleteMultipartUpload document.  It holds part numbers and hex
 * digests only, so it is written with snprintf: nothing in it needs escaping.
 */
static char *complete_doc(const s3_part *parts, size_t n, size_t *len)
{
	size_t cap = 64 + n * 100, at = 0;
	char *doc = malloc(cap);
	if (!doc)
		return NULL;
	at += (size_t)snprintf(doc, cap, "<CompleteMultipartUpload>");
	for (size_t i = 0; i < n; i++) {
		char hex[33];
		s3_hex(parts[i].md5, 16, hex);
		at += (size_t)snprintf(doc + at, cap - at, "<Part><PartNumber>%d</PartNumber><ETag>\"%s\"</ETag></Part>",
		                       parts[i].number, hex);
	}
	at += (size_t)snprintf(doc + at, cap - at, "</CompleteMultipartUpload>");
	*len = at;
	return doc;
}

int s3_mpu_complete(s3_inst *c, const char *key, const char *upload_id, const s3_part *parts, size_t n)
{
	size_t len = 0;
	char *doc = complete_doc(parts, n, &len);
	if (!doc)
		return LV_E_NOMEM;
	s3_req r;
	int rc = s3_req_init(&r, c, "POST", key, s3_query("uploadId", upload_id, NULL), "complete the upload of");
	if (!rc) {
		s3_req_body(&r, doc, len);
		r.flags = S3_REQ_MD5;
		rc = s3_req_run(&r);
		/* S3 may answer 200 and put an <Error> in the body of a CompleteMultipartUpload */
		char code[64] = "", msg[300], region[8];
		if (!rc && r.resp.len)
			s3_xml_error(r.resp.p, r.resp.len, code, sizeof code, msg, sizeof msg, region, sizeof region);
		if (code[0]) {
			r.status = 500;
			r.rc = LV_E_IO;
			char show[1200];
			snprintf(r.err, sizeof r.err, "s3: complete the upload of %s at %s: the server answered HTTP 200 with "
			         "the error %s%s%s%s",
			         s3_show(c, key, show, sizeof show), c->cfg.endpoint, code, msg[0] ? " (" : "", msg,
			         msg[0] ? ")" : "");
			rc = r.rc;
		}
		if (rc == LV_E_NOT_FOUND && r.attempt && !strcmp(r.s3code, "NoSuchUpload"))
			rc = 0; /* a retried completion whose first attempt completed it: the caller's HEAD tells */
		if (rc)
			rc = s3_req_fail(&r);
		s3_req_free(&r);
	}
	free(doc);
	return rc;
}

int s3_mpu_abort(s3_inst *c, const char *key, const char *upload_id)
{
	s3_req r;
	int rc = s3_req_init(&r, c, "DELETE", key, s3_query("uploadId", upload_id, NULL), "abort the upload of");
	if (rc)
		return rc;
	r.flags = S3_REQ_CLEANUP;
	rc = s3_req_run(&r);
	if (rc == LV_E_NOT_FOUND)
		rc = 0; /* gone already */
	if (rc)
		c->host->log(c->h, LV_LOG_WARN, "%s; the next run's cleanup aborts it", r.err);
	s3_req_free(&r);
	return rc;
}

void s3_mpu_etag(const s3_part *parts, size_t n, char *out, size_t cap)
{
	unsigned char *all = malloc(n ? n * 16 : 1), md5[16];
	if (!all) {
		snprintf(out, cap, "?");
		return;
	}
	for (size_t i = 0; i < n; i++)
		memcpy(all + 16 * i, parts[i].md5, 16);
	s3_md5(all, n * 16, md5);
	free(all);
	char hex[33];
	s3_hex(md5, 16, hex);
	snprintf(out, cap, "%s-%zu", hex, n);
}

typedef struct list_ud {
	s3_upload_cb cb;
	void *ud;
	char key[1100], id[300], initiated[64];
	char next_key[1100], next_id[300];
	int truncated;
	int stop;
} list_ud;

static int upload_one(void *p, const char *path, const char *text)
{
	list_ud *l = p;
	if (!strcmp(path, "ListMultipartUploadsResult/Upload/Key"))
		snprintf(l->key, sizeof l->key, "%s", text);
	else if (!strcmp(path, "ListMultipartUploadsResult/Upload/UploadId"))
		snprintf(l->id, sizeof l->id, "%s", text);
	else if (!strcmp(path, "ListMultipartUploadsResult/Upload/Initiated"))
		snprintf(l->initiated, sizeof l->initiated, "%s", text);
	else if (!strcmp(path, "ListMultipartUploadsResult/Upload")) {
		if (l->key[0] && l->id[0] && (l->stop = l->cb(l->ud, l->key, l->id, l->initiated)))
			return l->stop;
		l->key[0] = l->id[0] = l->initiated[0] = '\0';
	} else if (!strcmp(path, "ListMultipartUploadsResult/IsTruncated"))
		l->truncated = !strcmp(text, "true");
	else if (!strcmp(path, "ListMultipartUploadsResult/NextKeyMarker"))
		snprintf(l->next_key, sizeof l->next_key, "%s", text);
	else if (!strcmp(path, "ListMultipartUploadsResult/NextUploadIdMarker"))
		snprintf(l->next_id, sizeof l->next_id, "%s", text);
	return 0;
}

int s3_mpu_list(s3_inst *c, s3_upload_cb cb, void *ud)
{
	list_ud l;
	memset(&l, 0, sizeof l);
	l.cb = cb;
	l.ud = ud;
	char last_key[1100] = "", last_id[300] = "";
	for (int page = 0; page < S3_LIST_PAGES_MAX; page++) {
		char *q = page ? s3_query("uploads", "", "prefix", c->prefix, "key-marker", l.next_key, "upload-id-marker",
		                          l.next_id, NULL)
		               : s3_query("uploads", "", "prefix", c->prefix, NULL);
		s3_req r;
		int rc = s3_req_init(&r, c, "GET", NULL, q, "list the multipart uploads in");
		if (rc)
			return rc;
		if ((rc = s3_req_run(&r)))
			rc = s3_req_fail(&r);
		l.truncated = 0;
		l.next_key[0] = l.next_id[0] = '\0';
		if (!rc && (rc = s3_xml_walk(r.resp.p, r.resp.len, upload_one, &l)) < 0)
			rc = s3_err(c, LV_E_IO, "s3: list the multipart uploads in %s: the answer is not valid XML", c->where);
		s3_req_free(&r);
		if (rc || !l.truncated)
			return rc;
		if (!l.next_key[0]) /* the uploads after this page would be left, unsaid */
			return s3_err(c, LV_E_IO,
			              "s3: list the multipart uploads in %s: the server says the listing goes on but gives no "
			              "NextKeyMarker",
			              c->where);
		if (!strcmp(l.next_key, last_key) && !strcmp(l.next_id, last_id))
			return s3_err(c, LV_E_IO,
			              "s3: list the multipart uploads in %s: the server gives the same markers again: the listing "
			              "would never end",
			              c->where);
		snprintf(last_key, sizeof last_key, "%s", l.next_key);
		snprintf(last_id, sizeof last_id, "%s", l.next_id);
	}
	return s3_err(c, LV_E_IO, "s3: list the multipart uploads in %s: more than %d pages: the listing does not end",
	              c->where, S3_LIST_PAGES_MAX);
}
