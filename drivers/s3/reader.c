/*
 * Reading an object: a HEAD for its size and ETag, then ranged GETs of up
 * to part_size bytes, parallel_parts of them under way at once, each with
 * If-Match on the ETag (an object replaced while it is read is an error,
 * never a mix of two).  A range that fails is retried alone.
 */
#include "s3_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct s3_rslot {
	unsigned char *buf;
	size_t cap;
	uint64_t start;          /* the range it holds */
	size_t len;
	size_t off;              /* bytes of it handed out */
	int busy;                /* its GET is under way, or its bytes wait */
	s3_req req;
} s3_rslot;

struct lv_reader {
	s3_inst *c;
	char *key;
	char etag[100];
	uint64_t size, next_start, pos;
	size_t chunk;
	int nslots, head;        /* slots form a ring; head holds the next bytes */
	s3_rslot *slots;
	int failed;
};

static void release_reader(void *r)
{
	s3_read_close(r);
}

int s3_read_open(void *inst, const char *name, lv_reader **out)
{
	s3_inst *c = inst;
	int rc = s3_check_name(c, name);
	if (rc)
		return rc;
	lv_reader *r = calloc(1, sizeof *r);
	if (!r || !(r->key = s3_key(c, name)) || !(r->slots = calloc((size_t)c->cfg.parallel_parts, sizeof *r->slots))) {
		if (r)
			free(r->key);
		free(r);
		return LV_E_NOMEM;
	}
	r->c = c;
	rc = s3_head(c, r->key, &r->size, r->etag, sizeof r->etag, NULL);
	if (rc) {
		char show[1200];
		if (rc == LV_E_NOT_FOUND)
			s3_err(c, rc, "s3: read %s at %s: no such object", s3_show(c, r->key, show, sizeof show), c->cfg.endpoint);
		free(r->slots);
		free(r->key);
		free(r);
		return rc;
	}
	r->nslots = c->cfg.parallel_parts;
	r->chunk = c->cfg.part_size;
	if ((rc = c->host->track(c->h, r, release_reader))) { /* the host closes it if the run leaves it open */
		s3_read_close(r);
		return rc;
	}
	*out = r;
	return 0;
}

static int range_start(lv_reader *r, s3_rslot *s)
{
	s3_inst *c = r->c;
	uint64_t left = r->size - r->next_start;
	s->start = r->next_start;
	s->len = left < r->chunk ? (size_t)left : r->chunk;
	s->off = 0;
	if (s->cap < s->len) {
		unsigned char *p = realloc(s->buf, s->len);
		if (!p)
			return LV_E_NOMEM;
		s->buf = p;
		s->cap = s->len;
	}
	int rc = s3_req_init(&s->req, c, "GET", r->key, NULL, "read");
	if (rc)
		return rc;
	snprintf(s->req.range, sizeof s->req.range, "%llu-%llu", (unsigned long long)s->start,
	         (unsigned long long)(s->start + s->len - 1));
	snprintf(s->req.if_match, sizeof s->req.if_match, "%s", r->etag);
	s->req.sink = s->buf;
	s->req.sink_cap = s->len;
	if ((rc = s3_req_start(&s->req))) {
		s3_req_free(&s->req);
		return rc;
	}
	s->busy = 1;
	r->next_start += s->len;
	return 0;
}

/* Keep every slot busy with the next ranges, in ring order from head. */
static int fill_window(lv_reader *r)
{
	for (int k = 0; k < r->nslots && r->next_start < r->size; k++) {
		s3_rslot *s = &r->slots[(r->head + k) % r->nslots];
		if (s->busy)
			continue;
		int rc = range_start(r, s);
		if (rc)
			return rc;
	}
	return 0;
}

/* The head range, once its GET ended: checked whole. */
static int head_ready(lv_reader *r, s3_rslot *s)
{
	s3_inst *c = r->c;
	char show[1200];
	while (!s->req.done)
		s3_pump(c, S3_TICK_MS);
	if (s->req.rc == LV_E_EXISTS) /* 412 to If-Match */
		return s3_err(c, LV_E_IO, "s3: read %s at %s: the object was replaced while it was read (ETag no longer %s)",
		              s3_show(c, r->key, show, sizeof show), c->cfg.endpoint, r->etag);
	if (s->req.rc)
		return s3_req_fail(&s->req);
	int whole = s->start == 0 && s->len == r->size;
	unsigned long long first = s->start, last = s->start + s->len - 1;
	if ((s->req.status != 206 && !(whole && s->req.status == 200)) || s->req.got != s->len)
		return s3_err(c, LV_E_IO, "s3: read %s at %s: bytes %llu-%llu came back as %zu bytes (HTTP %ld)",
		              s3_show(c, r->key, show, sizeof show), c->cfg.endpoint, first, last, s->req.got,
		              s->req.status);
	/* a 206 says which bytes it holds, of how many: the ones asked for, of the object HEAD described */
	const s3_req *q = &s->req;
	if (q->status == 206 && q->range_first == UINT64_MAX)
		return s3_err(c, LV_E_IO, "s3: read %s at %s: the answer to bytes %llu-%llu (HTTP 206) has no valid Content-Range",
		              s3_show(c, r->key, show, sizeof show), c->cfg.endpoint, first, last);
	if (q->status == 206 && (q->range_first != first || q->range_last != last || q->range_total != r->size))
		return s3_err(c, LV_E_IO,
		              "s3: read %s at %s: asked for bytes %llu-%llu of %llu, the server sent Content-Range bytes "
		              "%llu-%llu/%llu (the object is not the one HEAD described, or the server misbehaves)",
		              s3_show(c, r->key, show, sizeof show), c->cfg.endpoint, first, last,
		              (unsigned long long)r->size, (unsigned long long)q->range_first,
		              (unsigned long long)q->range_last, (unsigned long long)q->range_total);
	return 0;
}

int s3_read(lv_reader *r, void *buf, size_t cap, size_t *n)
{
	s3_inst *c = r->c;
	*n = 0;
	if (r->failed)
		return r->failed;
	if (r->pos >= r->size || !cap)
		return 0;
	s3_rslot *s = &r->slots[r->head];
	int rc = fill_window(r);
	if (!rc && !s->req.done && c->host->canceled(c->h)) {
		char show[1200];
		rc = s3_err(c, LV_E_CANCELED, "s3: read %s canceled", s3_show(c, r->key, show, sizeof show));
	}
	if (rc || (s->off == 0 && (rc = head_ready(r, s))))
		return r->failed = rc;
	size_t k = s->len - s->off < cap ? s->len - s->off : cap;
	memcpy(buf, s->buf + s->off, k);
	s->off += k;
	r->pos += k;
	*n = k;
	if (s->off == s->len) {
		s3_req_free(&s->req);
		s->busy = 0;
		r->head = (r->head + 1) % r->nslots;
		if ((rc = fill_window(r)))
			return r->failed = rc;
	}
	s3_pump(c, 0); /* the ranges under way move on while the caller works */
	return 0;
}

void s3_read_close(lv_reader *r)
{
	if (!r)
		return;
	s3_inst *c = r->c;
	for (int i = 0; i < r->nslots; i++) {
		s3_req_free(&r->slots[i].req);
		free(r->slots[i].buf);
	}
	c->host->untrack(c->h, r); /* a no-op for one not handed out */
	free(r->slots);
	free(r->key);
	free(r);
}
