/*
 * Reading a bundle location (bundle_int.h): which file, stream or spool
 * serves an object, and the readers handed out (reader.c reads).
 *
 * An object is read from the spool (a manifest the scan kept), from a
 * stream the scan or a manifest's reader left where the pack begins, or by
 * inflating its file from the start.  A manifest read on its own (licvault
 * list reads its header only) is inflated straight from the file and ends
 * at its own end record; read whole, its stream is kept for the pack's
 * reader, so the file is inflated once.  The pack's reader returns the end
 * of the pack only after the pack's size and CRC-32, the end record, the
 * gzip trailers and the end of the file were checked.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bundle_int.h"

/* ---- opening and closing -------------------------------------------------------- */

static void release_reader(void *r)
{
	bundle_reader_free(r);
}

/* Hand a reader out, tracked: the host closes it if the run leaves it open. */
static int hand_out(bundle *b, struct lv_reader *r, lv_reader **out)
{
	int rc = b->host->track(b->h, r, release_reader);
	if (rc) {
		bundle_reader_free(r);
		return rc;
	}
	*out = r;
	return 0;
}

/* A side object: the inner location's "<file>.<name>". */
static int side_read_open(bundle *b, const char *name, lv_reader **out)
{
	char *sn = bundle_side_name(b, name);
	struct lv_reader *r = sn ? calloc(1, sizeof *r) : NULL;
	if (!r) {
		free(sn);
		return b->host->set_error(b->h, LV_E_NOMEM, "bundle %s: out of memory opening %s", b->uri, name);
	}
	int rc = b->iops->read_open(b->iinst, sn, &r->ir);
	free(sn);
	if (rc) {
		free(r);
		return rc; /* described by the inner driver */
	}
	r->b = b;
	r->side = 1;
	return hand_out(b, r, out);
}

/* An object the scan kept in the spool. */
static int spool_reader(bundle *b, bgen *g, bobj *o, lv_reader **out)
{
	struct lv_reader *r = calloc(1, sizeof *r);
	if (!r)
		return b->host->set_error(b->h, LV_E_NOMEM, "bundle %s: out of memory opening %s", b->uri, o->name);
	r->b = b;
	r->g = g;
	snprintf(r->name, sizeof r->name, "%s", o->name);
	r->spooled = 1;
	r->off = o->spool_off;
	r->end = o->spool_off + o->size;
	b->spool_users++;
	return hand_out(b, r, out);
}

/*
 * The stream kept in g for the pack `name`: taken, or NULL when there is
 * none or it is at another object (it stays).
 */
static struct lv_reader *take_stream(bgen *g, const char *name)
{
	struct lv_reader *s = g->stream;
	if (!s || !bundle_is_pack(name) || (s->found && strcmp(s->name, name) != 0))
		return NULL;
	if (!s->found)
		snprintf(s->name, sizeof s->name, "%s", name); /* a manifest's reader left it before the pack's record */
	g->stream = NULL;
	return s;
}

/*
 * A manifest's reader that read its object whole, in a version 2 file:
 * its stream stands before the pack and is kept for the pack's reader.
 */
static int keep_stream(struct lv_reader *r)
{
	bgen *g = r->g;
	if (!r->stop_at_end || !r->done || r->ah || !r->dec || lvb_dec_version(r->dec) < 2 || !g || !g->present || g->stream)
		return 0;
	r->b->host->untrack(r->b->h, r);
	r->found = r->obj_ended = r->done = r->stop_at_end = 0;
	r->pend_len = 0;
	r->name[0] = '\0';
	g->stream = r;
	return 1;
}

/* A handed-out reader of object `name` of file g, which holds it (as far as is known). */
static int file_reader(bundle *b, bgen *g, const char *name, lv_reader **out)
{
	struct lv_reader *r = take_stream(g, name);
	if (r) {
		if (b->threaded)
			bundle_ahead_start(r);
		return hand_out(b, r, out);
	}
	if (g->scanned) {
		bobj *o = bundle_find_obj(g, name);
		if (!o)
			return b->host->set_error(b->h, LV_E_NOT_FOUND, "bundle %s: %s holds no %s", b->uri, g->iname, name);
		if (o->spooled)
			return spool_reader(b, g, o, out);
	}
	int saved = b->host->error_save(b->h);
	int rc = bundle_reader_new(b, g, name, &r);
	if (rc == LV_E_NOT_FOUND) {
		b->host->error_restore(b->h, saved);
		return b->host->set_error(b->h, rc, "bundle %s holds no %s: its file %s is gone", b->uri, name, g->iname);
	}
	if (rc)
		return rc;
	if (!bundle_is_pack(name))
		r->stop_at_end = 1; /* small: on this thread, and it ends at its own end record */
	else if (b->threaded)
		bundle_ahead_start(r);
	return hand_out(b, r, out);
}

int bundle_read_open(void *inst, const char *name, lv_reader **out)
{
	bundle *b = inst;
	if (!bundle_is_set(name))
		return side_read_open(b, name, out);
	bgen *g = NULL;
	int rc = bundle_holder(b, name, &g);
	if (rc == LV_E_NOT_FOUND) {
		int any = b->own.present;
		for (size_t i = 0; i < b->ngens && !any; i++)
			any = b->gens[i]->present;
		return any ? b->host->set_error(b->h, rc, "bundle %s holds no %s", b->uri, name)
		           : b->host->set_error(b->h, rc, "no bundle at %s", b->uri);
	}
	if (rc)
		return rc;
	if (g->scanned && g->scan_rc)
		return bundle_scan(b, g); /* its failure, described again */
	return file_reader(b, g, name, out);
}

void bundle_read_close(lv_reader *r)
{
	if (r && !keep_stream(r))
		bundle_reader_free(r);
}
