/*
 * A reader of a bundle file (bundle_int.h): the decoder on the inner
 * object, inflating up to and through the reader's object with every check
 * of the container, and the read-ahead thread that inflates a pack while
 * the core imports it.  read.c decides which file, stream or spool serves
 * an object; the scan (gens.c) reads with these readers too.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bundle_int.h"
#include "readahead.h"

static void ahead_free(struct lv_reader *r);

/* ---- readers ------------------------------------------------------------------- */

/* The inner object's bytes (on the run's thread alone). */
static int inner_read(void *ud, void *buf, size_t cap, size_t *n)
{
	struct lv_reader *r = ud;
	bundle *b = r->b;
	int rc = b->iops->read(r->ir, buf, cap, n);
	if (!rc && *n > cap)
		return b->host->set_error(b->h, LV_E_IO, "bundle %s: the inner driver returned %zu bytes for a read of %zu", b->uri,
		                          *n, cap);
	return rc;
}

int bundle_dec_error(bundle *b, int rc, lvb_dec *d)
{
	if (rc == LV_E_BACKUP_CORRUPT)
		return b->host->set_error(b->h, rc, "bundle %s is corrupt: %s", b->uri, lvb_dec_why(d));
	if (rc == LV_E_NOMEM)
		return b->host->set_error(b->h, rc, "bundle %s: %s", b->uri, lvb_dec_why(d));
	return rc; /* the inner driver's error, already described */
}

void bundle_reader_free(struct lv_reader *r)
{
	if (!r)
		return;
	bundle *b = r->b;
	b->host->untrack(b->h, r); /* a no-op for one not handed out */
	ahead_free(r);             /* stops the thread before its decoder goes */
	lvb_dec_free(r->dec);
	if (r->ir)
		b->iops->read_close(r->ir);
	if (r->spooled && b->spool_users)
		b->spool_users--;
	free(r);
}

int bundle_reader_new(bundle *b, bgen *g, const char *name, struct lv_reader **out)
{
	struct lv_reader *r = calloc(1, sizeof *r);
	if (!r)
		return b->host->set_error(b->h, LV_E_NOMEM, "bundle %s: out of memory opening %s", b->uri, g->iname);
	r->b = b;
	r->g = g;
	snprintf(r->name, sizeof r->name, "%s", name);
	int rc = b->iops->read_open(b->iinst, g->iname, &r->ir);
	if (rc) {
		free(r);
		return rc; /* described by the inner driver */
	}
	if ((rc = lvb_dec_new(&r->dec, inner_read, r))) {
		bundle_reader_free(r);
		return b->host->set_error(b->h, rc, "bundle %s: out of memory for a decoder", b->uri);
	}
	*out = r;
	return 0;
}

/* ---- inflating ------------------------------------------------------------------ */

/* "bundle URI is corrupt: [FILE: ]" then the rest, into why. */
static void corrupt_why(struct lv_reader *r, char *why, size_t cap, const char *fmt, ...) __attribute__((format(printf, 4, 5)));
static void corrupt_why(struct lv_reader *r, char *why, size_t cap, const char *fmt, ...)
{
	int n = r->g->own ? snprintf(why, cap, "bundle %s is corrupt: ", r->b->uri)
	                  : snprintf(why, cap, "bundle %s is corrupt: %s: ", r->b->uri, r->g->iname);
	if (n < 0 || (size_t)n >= cap)
		return;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(why + n, cap - (size_t)n, fmt, ap);
	va_end(ap);
}

/* Before the reader's object: skip the others, find it, or say it is not there. */
static int seek_object(struct lv_reader *r, const lvb_event *ev, char *why, size_t cap)
{
	if (ev->type == LVB_EV_END) {
		corrupt_why(r, why, cap, "it holds no %s", r->name);
		return LV_E_BACKUP_CORRUPT;
	}
	if (ev->type != LVB_EV_OBJECT)
		return 0; /* another object's data */
	if (!strcmp(ev->name, r->name)) {
		r->found = 1;
		r->streaming = bundle_is_pack(r->name) && lvb_dec_version(r->dec) >= 2;
		return 0;
	}
	if (bundle_is_pack(ev->name) && lvb_dec_version(r->dec) >= 2) {
		corrupt_why(r, why, cap, "it holds no %s before its pack %s, which ends a version 2 bundle", r->name, ev->name);
		return LV_E_BACKUP_CORRUPT;
	}
	return 0;
}

/*
 * The next event of an object's reader (inflating): data of the object at
 * r->pend, or r->done once the object (and for all but a manifest on its
 * own, the rest of the file: end record, gzip trailers, end of file)
 * checked out.  Calls no host service (the read-ahead thread runs it): an
 * error is described in why (empty for an inner driver's error, described
 * already).
 */
static int next_chunk(struct lv_reader *r, char *why, size_t cap)
{
	lvb_event ev;
	int rc = lvb_dec_next(r->dec, &ev);
	if (rc) {
		if (rc == LV_E_BACKUP_CORRUPT)
			corrupt_why(r, why, cap, "%s", lvb_dec_why(r->dec));
		else if (rc == LV_E_NOMEM)
			snprintf(why, cap, "bundle %s: %s", r->b->uri, lvb_dec_why(r->dec));
		return rc;
	}
	if (r->obj_ended) {
		/* the object is whole; its end is reported once the rest of the
		 * file (end record, gzip trailers, end of file) checked out */
		if (ev.type == LVB_EV_END)
			r->done = 1;
		else if (r->streaming && ev.type == LVB_EV_OBJECT) {
			/* the offset of its 'O' record, which the decoder has consumed */
			uint64_t at = lvb_dec_offset(r->dec) - 2 - strlen(ev.name);
			corrupt_why(r, why, cap, "object %s at container byte %llu follows the pack %s, which ends a version 2 bundle",
			            ev.name, (unsigned long long)at, r->name);
			return LV_E_BACKUP_CORRUPT;
		}
		return 0;
	}
	if (!r->found)
		return seek_object(r, &ev, why, cap);
	if (ev.type == LVB_EV_DATA) {
		r->pend = ev.data;
		r->pend_len = ev.len;
	} else if (ev.type == LVB_EV_OBJECT_END) {
		r->obj_ended = 1; /* its size and CRC-32 checked */
		r->obj_size = ev.size;
		r->done = r->stop_at_end;
	}
	return 0;
}

/* The object was read whole: its size is known from now on. */
static void obj_done(struct lv_reader *r)
{
	bobj *o = r->g ? bundle_find_obj(r->g, r->name) : NULL;
	if (o)
		o->size = r->obj_size;
}

static int spool_read(struct lv_reader *r, void *buf, size_t cap, size_t *n)
{
	bundle *b = r->b;
	uint64_t left = r->end - r->off;
	if (cap > left)
		cap = (size_t)left;
	while (cap) {
		ssize_t k = pread(b->spool_fd, buf, cap, (off_t)r->off);
		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0)
			return b->host->set_error(b->h, LV_E_IO, "bundle %s: reading the temporary copy of %s failed: %s", b->uri,
			                          r->name, k < 0 ? strerror(errno) : "end of file");
		r->off += (uint64_t)k;
		*n = (size_t)k;
		break;
	}
	return 0;
}

static int ahead_take(struct lv_reader *r, void *buf, size_t cap, size_t *n);

int bundle_read(lv_reader *r, void *buf, size_t cap, size_t *n)
{
	bundle *b = r->b;
	*n = 0;
	if (r->side)
		return b->iops->read(r->ir, buf, cap, n);
	if (b->host->canceled(b->h))
		return LV_E_CANCELED;
	if (r->spooled)
		return spool_read(r, buf, cap, n);
	if (r->ah)
		return ahead_take(r, buf, cap, n);
	unsigned events = 0;
	while (!r->pend_len) {
		if (r->done) {
			obj_done(r);
			return 0;
		}
		if ((++events & 255) == 0 && b->host->canceled(b->h))
			return LV_E_CANCELED;
		char why[BUNDLE_WHY] = "";
		int rc = next_chunk(r, why, sizeof why);
		if (rc)
			return why[0] ? b->host->set_error(b->h, rc, "%s", why) : rc;
	}
	size_t k = r->pend_len < cap ? r->pend_len : cap;
	memcpy(buf, r->pend, k);
	r->pend += k;
	r->pend_len -= k;
	*n = k;
	return 0;
}

/* ---- inflating ahead ----------------------------------------------------------
 *
 * A reader that inflates (the pack) does it on a second thread when threads
 * are on, so that inflating overlaps the core's import: the decoder is the
 * step of the shared read-ahead rings (drivers/common/readahead.h), and the
 * run's thread alone calls the inner driver.  Memory: 2 MiB in, 4 MiB out.
 */

#define AH_NIN 8
#define AH_IN_SIZE ((size_t)256 * 1024)
#define AH_NOUT 4
#define AH_OUT_SIZE ((size_t)1 << 20)

/* The worker's step: up to cap inflated bytes of the object, *n = 0 once it and the file checked out. */
static int inflate_step(void *ud, void *buf, size_t cap, size_t *n, char *why, size_t whycap)
{
	struct lv_reader *r = ud;
	unsigned char *out = buf;
	size_t len = 0;
	int rc = 0;
	while (len < cap && !rc) {
		if (r->pend_len) {
			size_t k = cap - len < r->pend_len ? cap - len : r->pend_len;
			memcpy(out + len, r->pend, k);
			len += k;
			r->pend += k;
			r->pend_len -= k;
		} else if (r->done)
			break;
		else
			rc = next_chunk(r, why, whycap);
	}
	*n = len; /* what was inflated before an error goes out first, as without the thread */
	return rc;
}

static void ahead_free(struct lv_reader *r)
{
	ra_free(r->ah);
	r->ah = NULL;
}

void bundle_ahead_start(struct lv_reader *r)
{
	if (ra_new(&r->ah, AH_NIN, AH_IN_SIZE, AH_NOUT, AH_OUT_SIZE, inner_read, r))
		return;
	/* the decoder keeps what it buffered and reads the rest from the ring */
	lvb_dec_set_source(r->dec, ra_source, r->ah);
	if (ra_start(r->ah, inflate_step, r)) {
		lvb_dec_set_source(r->dec, inner_read, r);
		ahead_free(r);
	}
}

/* bundle_read with a read-ahead thread: it reads the inner object, the thread inflates. */
static int ahead_take(struct lv_reader *r, void *buf, size_t cap, size_t *n)
{
	bundle *b = r->b;
	char why[RA_WHY];
	int rc = ra_read(r->ah, buf, cap, n, why, sizeof why);
	if (rc)
		return why[0] ? b->host->set_error(b->h, rc, "%s", why) : rc; /* else the inner driver's, described */
	if (!*n)
		obj_done(r);
	return 0;
}
