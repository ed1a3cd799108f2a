/*
 * Writing an object.  Bytes gather in a part-sized buffer; an object that
 * ends within one part is one PUT, with If-None-Match: * unless it may
 * replace (atomic: the lock relies on it).  A larger object becomes a
 * multipart upload on its final key (invisible until completed): each full
 * part is sent, with its MD5 and SHA-256, while the next one fills, up to
 * parallel_parts at once.  commit sends the last part, waits for every part
 * (each ETag checked against its MD5), looks (HEAD) for an object of that
 * name unless it may replace, completes, and compares the stored size and
 * ETag (HEAD) with what was sent before it reports success.
 */
#include "s3_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FIRST_BUF ((size_t)64 * 1024)

typedef struct s3_slot {
	unsigned char *buf;
	size_t len, cap;
	int busy;                /* its part is under way */
	int number;              /* the part number it carries */
	s3_req req;
} s3_slot;

struct lv_writer {
	s3_inst *c;
	struct lv_writer *next;
	char *name, *key;
	s3_slot *slots;
	int nslots, fill;        /* the slot being filled */
	char *upload_id;
	s3_part *parts;
	size_t nparts, capparts;
	uint64_t total;
	int failed;              /* an error already described: every later call returns it */
};

int s3_check_name(s3_inst *c, const char *name)
{
	if (!name || !*name || strchr(name, '/') || !strcmp(name, ".") || !strcmp(name, "..") ||
	    strlen(name) > S3_NAME_MAX)
		return s3_err(c, LV_E_INVALID_ARG, "s3 %s: invalid object name '%s'", c->where, name ? name : "(null)");
	return 0;
}

static void release_writer(void *w)
{
	s3_abort(w);
}

int s3_write_begin(void *inst, const char *name, uint64_t size_hint, lv_writer **out)
{
	(void)size_hint;
	s3_inst *c = inst;
	int rc = s3_check_name(c, name);
	if (rc)
		return rc;
	lv_writer *w = calloc(1, sizeof *w);
	if (!w || !(w->slots = calloc((size_t)c->cfg.parallel_parts + 1, sizeof *w->slots)) ||
	    !(w->name = strdup(name)) || !(w->key = s3_key(c, name))) {
		if (w) {
			free(w->slots);
			free(w->name);
		}
		free(w);
		return LV_E_NOMEM;
	}
	w->c = c;
	w->nslots = c->cfg.parallel_parts + 1; /* parts under way, and one filling */
	w->next = c->writers; /* kept for s3_writer_owns: cleanup leaves this instance's uploads */
	c->writers = w;
	if ((rc = c->host->track(c->h, w, release_writer))) { /* the host aborts it if the run leaves it open */
		s3_abort(w);
		return rc;
	}
	*out = w;
	return 0;
}

int s3_writer_owns(s3_inst *c, const char *upload_id)
{
	for (lv_writer *w = c->writers; w; w = w->next)
		if (w->upload_id && !strcmp(w->upload_id, upload_id))
			return 1;
	return 0;
}

static int slot_room(lv_writer *w, s3_slot *s, size_t need)
{
	size_t part = w->c->cfg.part_size;
	if (need <= s->cap)
		return 0;
	size_t cap = s->cap ? s->cap : (w->nparts ? part : FIRST_BUF);
	while (cap < need)
		cap = cap * 2 < part ? cap * 2 : part;
	unsigned char *p = realloc(s->buf, cap);
	if (!p)
		return LV_E_NOMEM;
	s->buf = p;
	s->cap = cap;
	return 0;
}

/* Check the parts that ended: their ETag must be the MD5 of what was sent. */
static int collect_parts(lv_writer *w)
{
	s3_inst *c = w->c;
	for (int i = 0; i < w->nslots && !w->failed; i++) {
		s3_slot *s = &w->slots[i];
		if (!s->busy || !s->req.done)
			continue;
		s->busy = 0;
		if (s->req.rc) {
			w->failed = s3_req_fail(&s->req);
		} else {
			char hex[33], show[1200];
			s3_hex(w->parts[s->number - 1].md5, 16, hex);
			if (!s->req.etag_not_md5 && strcmp(s->req.etag, hex))
				w->failed = s3_err(c, LV_E_IO,
				                   "s3: upload part %d of %s at %s: the server stored ETag '%s' for MD5 %s",
				                   s->number, s3_show(c, w->key, show, sizeof show), c->cfg.endpoint, s->req.etag,
				                   hex);
		}
		s3_req_free(&s->req);
	}
	return w->failed;
}

static int part_start(lv_writer *w)
{
	s3_inst *c = w->c;
	s3_slot *s = &w->slots[w->fill];
	int rc;
	if (!w->upload_id && (rc = s3_mpu_create(c, w->key, &w->upload_id)))
		return rc;
	if (w->nparts == w->capparts) {
		size_t cap = w->capparts ? 2 * w->capparts : 64;
		s3_part *p = realloc(w->parts, cap * sizeof *p);
		if (!p)
			return LV_E_NOMEM;
		w->parts = p;
		w->capparts = cap;
	}
	if (w->nparts >= 10000)
		return s3_err(c, LV_E_NO_SPACE, "s3: %s needs more than 10,000 parts of %zu MiB: raise part_size", w->key,
		              c->cfg.part_size / S3_MIB);
	s->number = (int)++w->nparts;
	char num[16];
	snprintf(num, sizeof num, "%d", s->number);
	if ((rc = s3_req_init(&s->req, c, "PUT", w->key, s3_query("partNumber", num, "uploadId", w->upload_id, NULL),
	                      "upload a part of")))
		return rc;
	s3_req_body(&s->req, s->buf, s->len);
	memcpy(w->parts[s->number - 1].md5, s->req.md5, 16);
	w->parts[s->number - 1].number = s->number;
	s->req.flags = S3_REQ_MD5;
	if ((rc = s3_req_start(&s->req))) {
		s3_req_free(&s->req);
		return rc;
	}
	s->busy = 1;
	return 0;
}

/* Make a free slot the one being filled, waiting for a part to end if need be. */
static int next_slot(lv_writer *w)
{
	s3_inst *c = w->c;
	for (;;) {
		if (collect_parts(w))
			return w->failed;
		for (int i = 0; i < w->nslots; i++)
			if (!w->slots[i].busy) {
				w->fill = i;
				w->slots[i].len = 0;
				return 0;
			}
		s3_pump(c, S3_TICK_MS);
	}
}

static int canceled(lv_writer *w)
{
	s3_inst *c = w->c;
	char show[1200];
	if (!w->failed && c->host->canceled(c->h))
		w->failed = s3_err(c, LV_E_CANCELED, "s3: upload of %s canceled", s3_show(c, w->key, show, sizeof show));
	return w->failed;
}

int s3_write(lv_writer *w, const void *buf, size_t len)
{
	s3_inst *c = w->c;
	const unsigned char *p = buf;
	if (w->failed || canceled(w))
		return w->failed;
	while (len) {
		s3_slot *s = &w->slots[w->fill];
		if (s->len == c->cfg.part_size) {
			int rc = part_start(w);
			if (rc || (rc = next_slot(w)))
				return w->failed = w->failed ? w->failed : rc;
			continue;
		}
		size_t n = c->cfg.part_size - s->len;
		if (n > len)
			n = len;
		if (slot_room(w, s, s->len + n))
			return w->failed = LV_E_NOMEM;
		memcpy(s->buf + s->len, p, n);
		s->len += n;
		w->total += n;
		p += n;
		len -= n;
	}
	if (w->nparts) {
		s3_pump(c, 0);
		return collect_parts(w);
	}
	return 0;
}

/* Release the writer; with abort_upload, abort its multipart upload (a failure there is logged, not the run's). */
static void writer_release(lv_writer *w, int abort_upload)
{
	s3_inst *c = w->c;
	for (int i = 0; i < w->nslots; i++) {
		s3_req_free(&w->slots[i].req);
		free(w->slots[i].buf);
	}
	if (w->upload_id && abort_upload) {
		int saved = c->host->error_save(c->h); /* a cleanup: its failure is not the run's */
		s3_mpu_abort(c, w->key, w->upload_id);
		c->host->error_restore(c->h, saved);
	}
	c->host->untrack(c->h, w); /* a no-op for one not handed out */
	for (lv_writer **pp = &c->writers; *pp; pp = &(*pp)->next)
		if (*pp == w) {
			*pp = w->next;
			break;
		}
	free(w->slots);
	free(w->parts);
	free(w->upload_id);
	free(w->name);
	free(w->key);
	free(w);
}

void s3_abort(lv_writer *w)
{
	if (w)
		writer_release(w, 1);
}

/* After a retried conditional PUT answered 412: is the object there the one we sent? */
static int ours_already(lv_writer *w, const s3_slot *s, const s3_req *r)
{
	uint64_t size = 0;
	char etag[100], hex[33];
	s3_hex(r->md5, 16, hex);
	if (!r->attempt || s3_head(w->c, w->key, &size, etag, sizeof etag, NULL))
		return 0;
	return size == s->len && (!strcmp(etag, hex) || !strcmp(etag, "*"));
}

static int commit_single(lv_writer *w, unsigned flags)
{
	s3_inst *c = w->c;
	s3_slot *s = &w->slots[w->fill];
	s3_req r;
	char show[1200], hex[33];
	int rc = s3_req_init(&r, c, "PUT", w->key, NULL, "write");
	if (rc)
		return rc;
	s3_req_body(&r, s->buf, s->len);
	r.flags = S3_REQ_MD5 | S3_REQ_STORAGE_CLASS | ((flags & LV_COMMIT_REPLACE) ? 0 : S3_REQ_IF_NONE_MATCH);
	rc = s3_req_run(&r);
	s3_hex(r.md5, 16, hex);
	if (rc == LV_E_EXISTS && !(flags & LV_COMMIT_REPLACE)) {
		int saved = c->host->error_save(c->h); /* a probe: the answer below says what failed */
		int ours = ours_already(w, s, &r);
		c->host->error_restore(c->h, saved);
		rc = ours ? 0
		          : s3_err(c, LV_E_EXISTS, "s3: write %s at %s: it already exists (HTTP %ld %s to If-None-Match: *)",
		                   s3_show(c, w->key, show, sizeof show), c->cfg.endpoint, r.status,
		                   r.s3code[0] ? r.s3code : "PreconditionFailed");
	} else if (rc) {
		rc = s3_req_fail(&r);
	} else if (!r.etag_not_md5 && strcmp(r.etag, hex)) {
		rc = s3_err(c, LV_E_IO, "s3: write %s at %s: the server stored ETag '%s' for %zu bytes of MD5 %s",
		            s3_show(c, w->key, show, sizeof show), c->cfg.endpoint, r.etag, s->len, hex);
	}
	s3_req_free(&r);
	return rc;
}

/* The stored object against what was sent: size and ETag (HEAD). */
static int verify_stored(lv_writer *w)
{
	s3_inst *c = w->c;
	char want[64], etag[100], show[1200];
	uint64_t size = 0;
	s3_mpu_etag(w->parts, w->nparts, want, sizeof want);
	int rc = s3_head(c, w->key, &size, etag, sizeof etag, NULL);
	if (rc == LV_E_NOT_FOUND)
		return s3_err(c, LV_E_IO, "s3: complete the upload of %s at %s: the object is not there afterwards",
		              s3_show(c, w->key, show, sizeof show), c->cfg.endpoint);
	if (rc)
		return rc;
	if (size != w->total || (strcmp(etag, want) && strcmp(etag, "*")))
		return s3_err(c, LV_E_IO,
		              "s3: complete the upload of %s at %s: the server stored %llu bytes with ETag '%s'; %llu bytes "
		              "with ETag '%s' were sent",
		              s3_show(c, w->key, show, sizeof show), c->cfg.endpoint, (unsigned long long)size, etag,
		              (unsigned long long)w->total, want);
	return 0;
}

static int commit_multipart(lv_writer *w, unsigned flags)
{
	s3_inst *c = w->c;
	char show[1200];
	int rc = 0;
	if (w->slots[w->fill].len && (rc = part_start(w)))
		return rc;
	for (;;) { /* every part ended and checked */
		if (collect_parts(w))
			return w->failed;
		int busy = 0;
		for (int i = 0; i < w->nslots; i++)
			busy |= w->slots[i].busy;
		if (!busy)
			break;
		s3_pump(c, S3_TICK_MS);
	}
	if (canceled(w))
		return w->failed;
	if (!(flags & LV_COMMIT_REPLACE)) {
		/* S3 completes over an existing key: look first (the window that remains: docs/drivers/s3.md) */
		rc = s3_head(c, w->key, NULL, NULL, 0, NULL);
		if (rc == 0)
			return s3_err(c, LV_E_EXISTS, "s3: complete the upload of %s at %s: it already exists",
			              s3_show(c, w->key, show, sizeof show), c->cfg.endpoint);
		if (rc != LV_E_NOT_FOUND)
			return rc;
	}
	if ((rc = s3_mpu_complete(c, w->key, w->upload_id, w->parts, w->nparts)))
		return rc;
	return verify_stored(w);
}

int s3_commit(lv_writer *w, unsigned flags)
{
	int rc = w->failed;
	if (!rc)
		rc = canceled(w);
	if (!rc)
		rc = w->upload_id ? commit_multipart(w, flags) : commit_single(w, flags);
	if (!rc)
		w->c->host->log(w->c->h, LV_LOG_DEBUG, "s3: published %s%s (%llu bytes, %zu parts)", w->c->prefix, w->name,
		                (unsigned long long)w->total, w->nparts ? w->nparts : (size_t)1);
	writer_release(w, rc != 0);
	return rc;
}
