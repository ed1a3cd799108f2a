/*
 * Writing a bundle location (bundle_int.h): the objects of one generation
 * G, which the core writes pack first, then manifest, become the bundle
 * file NAME.g<G>.EXT, published at sync with a no-replace commit of the
 * inner driver.  Nothing is ever replaced or set aside: a run that fails
 * before sync aborts the inner temporary, and one that finds the name
 * taken (another backup published G first) publishes nothing (EXISTS).
 *
 * The pack comes first from the core but goes last into the file
 * (container version 2): it is compressed, while the store is read, into a
 * local unlinked temporary file; the manifest is compressed straight into
 * the inner object, after the container header; at sync the pack's gzip
 * members are copied after it and an end record closes the file.
 *
 * Side objects (the lock, the registry: names not of a set) pass through to
 * the inner location as "<file>.<name>", with its semantics.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bundle_int.h"

/* The first member's compressed bytes, into the inner object (its errors are described by the inner driver). */
static int inner_write(void *ud, const void *buf, size_t len)
{
	bundle *b = ud;
	int rc = b->iops->write(b->nw.iw, buf, len);
	if (!rc)
		b->nw.iw_bytes += len;
	return rc;
}

/* The pack's compressed bytes, into the temporary file. */
static int temp_write(void *ud, const void *buf, size_t len)
{
	bundle *b = ud;
	int e = bundle_pwrite_all(b->nw.pfd, buf, len, &b->nw.plen);
	if (!e)
		return 0;
	return b->host->set_error(b->h, e == ENOSPC || e == EDQUOT ? LV_E_NO_SPACE : LV_E_IO,
	                          "bundle %s: writing the compressed pack to a temporary file in %s failed: %s", b->uri,
	                          bundle_tmp_dir(), strerror(e));
}

/*
 * Describe an encoder's failure.  When it passes on an error described
 * already (the inner driver's, temp_write's), that first description stands.
 */
static int enc_error(bundle *b, int rc, const char *what, const char *name)
{
	if (rc == LV_E_NOMEM)
		return b->host->set_error(b->h, rc, "bundle %s: out of memory %s %s", b->uri, what, name);
	if (rc == LV_E_IO || rc == LV_E_INVALID_ARG)
		return b->host->set_error(b->h, rc, "bundle %s: %s %s failed (%d)", b->uri, what, name, rc);
	return rc;
}

void bundle_new_free(bundle *b)
{
	bnew *nw = &b->nw;
	lvb_enc_free(nw->enc);
	lvb_enc_free(nw->penc);
	nw->enc = nw->penc = NULL;
	if (nw->pfd >= 0)
		close(nw->pfd);
	nw->pfd = -1;
	if (nw->iw)
		b->iops->abort(nw->iw); /* an unfinished generation file: the inner temporary goes */
	nw->iw = NULL;
}

/* The inner object (the generation file's temporary) and the encoder of its first member (header, manifest). */
static int main_begin(bundle *b, uint64_t size_hint)
{
	bnew *nw = &b->nw;
	if (nw->enc)
		return 0;
	int rc = b->iops->write_begin(b->iinst, nw->iname, nw->plen + size_hint, &nw->iw);
	if (rc) {
		nw->iw = NULL;
		return rc; /* described by the inner driver */
	}
	/* a small member: compressed on this thread */
	if ((rc = lvb_enc_new(&nw->enc, b->level, 0, 1, inner_write, b)))
		return enc_error(b, rc, "starting", nw->iname);
	return 0;
}

static void release_writer(void *w)
{
	bundle_abort(w);
}

/* Hand a writer out, tracked: the host aborts it if the run leaves it open. */
static int hand_out_writer(bundle *b, struct lv_writer *w, lv_writer **out)
{
	int rc = b->host->track(b->h, w, release_writer);
	if (rc) {
		bundle_abort(w);
		return rc;
	}
	*out = w;
	return 0;
}

/* A side object: written to the inner location as "<file>.<name>". */
static int side_write_begin(bundle *b, const char *name, uint64_t size_hint, lv_writer **out)
{
	char *sn = bundle_side_name(b, name);
	struct lv_writer *w = sn ? calloc(1, sizeof *w) : NULL;
	if (!w) {
		free(sn);
		return b->host->set_error(b->h, LV_E_NOMEM, "bundle %s: out of memory writing %s", b->uri, name);
	}
	int rc = !bundle_side_object(b, sn)
	             ? b->host->set_error(b->h, LV_E_INVALID_ARG,
	                                  "bundle %s: an object named %s would stand as %s, a name kept for the bundle's own files",
	                                  b->uri, name, sn)
	             : b->iops->write_begin(b->iinst, sn, size_hint, &w->side);
	free(sn);
	if (rc) {
		free(w);
		return rc; /* described (by the inner driver, or above) */
	}
	w->b = b;
	return hand_out_writer(b, w, out);
}

/* The pack: compressed into a temporary file now, put after the manifest at sync. */
static int pack_begin(bundle *b, const char *name)
{
	bnew *nw = &b->nw;
	if ((nw->pfd = bundle_tmp_open()) < 0)
		return b->host->set_error(b->h, LV_E_IO, "bundle %s: cannot create a temporary file in %s for the compressed pack: %s",
		                          b->uri, bundle_tmp_dir(), strerror(errno));
	int rc = lvb_enc_new(&nw->penc, b->level, b->threaded, 0, temp_write, b);
	if (!rc)
		rc = lvb_enc_begin(nw->penc, name);
	if (rc) {
		/* no half-built pack: this generation is never published */
		lvb_enc_free(nw->penc);
		nw->penc = NULL;
		close(nw->pfd);
		nw->pfd = -1;
		nw->broken = 1;
		return enc_error(b, rc, "beginning", name);
	}
	return 0;
}

/*
 * Can the set's object `name` be begun now?  A run writes one generation,
 * in set format 2, one object at a time.  0 (the generation's file named
 * in b->nw), or the reason (described).
 */
static int set_write_ok(bundle *b, const char *name)
{
	bnew *nw = &b->nw;
	uint64_t g = 0;
	int format = 0;
	bundle_set_gen(name, &g, &format);
	if (!(b->flags & LV_OPEN_WRITE))
		return b->host->set_error(b->h, LV_E_INVALID_ARG, "bundle %s was opened for reading", b->uri);
	if (nw->open_w)
		return b->host->set_error(b->h, LV_E_UNSUPPORTED, "bundle %s is written one object at a time", b->uri);
	if (nw->published)
		return b->host->set_error(b->h, LV_E_INVALID_ARG, "bundle %s: generation %llu is published; a run writes one generation",
		                          b->uri, (unsigned long long)nw->gen);
	if (format != 2)
		return b->host->set_error(b->h, LV_E_INVALID_ARG, "bundle %s writes backup sets of format 2 (licvault-g<16 hex>.*), not %s",
		                          b->uri, name);
	if (nw->gen && g != nw->gen)
		return b->host->set_error(b->h, LV_E_INVALID_ARG,
		                          "bundle %s: %s is not of generation %llu, which this run writes (a bundle file holds one generation)",
		                          b->uri, name, (unsigned long long)nw->gen);
	if (bundle_new_index(b, name) >= 0)
		return b->host->set_error(b->h, LV_E_EXISTS, "bundle %s already holds %s", b->uri, name);
	if (!nw->gen && bundle_gen_file(b, g, nw->iname, sizeof nw->iname) != 0)
		return b->host->set_error(b->h, LV_E_INVALID_ARG, "bundle %s: the name of generation %llu's file is too long", b->uri,
		                          (unsigned long long)g);
	nw->gen = g;
	return 0;
}

int bundle_write_begin(void *inst, const char *name, uint64_t size_hint, lv_writer **out)
{
	bundle *b = inst;
	if (!bundle_is_set(name))
		return side_write_begin(b, name, size_hint, out);
	int rc = set_write_ok(b, name);
	if (rc)
		return rc;
	bnew *nw = &b->nw;
	int pack = bundle_is_pack(name);
	if (pack)
		rc = pack_begin(b, name);
	else if (!(rc = main_begin(b, size_hint)) && (rc = lvb_enc_begin(nw->enc, name)))
		rc = enc_error(b, rc, "beginning", name);
	if (rc)
		return rc;
	struct lv_writer *w = calloc(1, sizeof *w);
	if (!w) {
		nw->broken = 1;
		return b->host->set_error(b->h, LV_E_NOMEM, "bundle %s: out of memory writing %s", b->uri, name);
	}
	w->b = b;
	w->pack = pack;
	snprintf(nw->names[nw->n], sizeof nw->names[0], "%s", name);
	nw->sizes[nw->n] = 0;
	nw->open_w = w;
	return hand_out_writer(b, w, out);
}

int bundle_write(lv_writer *w, const void *buf, size_t len)
{
	bundle *b = w->b;
	if (w->side)
		return b->iops->write(w->side, buf, len);
	if (b->host->canceled(b->h))
		return LV_E_CANCELED;
	bnew *nw = &b->nw;
	int rc = lvb_enc_write(w->pack ? nw->penc : nw->enc, buf, len);
	if (rc) {
		nw->broken = 1;
		return enc_error(b, rc, "writing", nw->names[nw->n]);
	}
	nw->sizes[nw->n] += len;
	return 0;
}

int bundle_commit(lv_writer *w, unsigned flags)
{
	bundle *b = w->b;
	b->host->untrack(b->h, w);
	if (w->side) {
		lv_writer *side = w->side;
		free(w);
		return b->iops->commit(side, flags);
	}
	/* flags: names are unique in a generation (checked at write_begin); it is published at sync */
	bnew *nw = &b->nw;
	int pack = w->pack, rc;
	free(w);
	nw->open_w = NULL;
	if (pack) {
		/* the pack's gzip members, whole in the temporary file */
		if (!(rc = lvb_enc_end(nw->penc)) && !(rc = lvb_enc_member(nw->penc))) {
			nw->psize = lvb_enc_total_in(nw->penc);
			lvb_enc_free(nw->penc);
			nw->penc = NULL;
			nw->pack_done = 1;
		}
	} else
		rc = lvb_enc_end(nw->enc);
	if (rc) {
		nw->broken = 1;
		return enc_error(b, rc, "ending", nw->names[nw->n]);
	}
	nw->n++;
	return 0;
}

void bundle_abort(lv_writer *w)
{
	if (!w)
		return;
	bundle *b = w->b;
	b->host->untrack(b->h, w);
	if (w->side) {
		b->iops->abort(w->side);
		free(w);
		return;
	}
	b->nw.broken = 1; /* the object is in the stream: this generation is never published */
	b->nw.open_w = NULL;
	free(w);
}

/* ---- publishing -------------------------------------------------------------- */

/* Copy the pack's gzip members from the temporary file into the inner object. */
static int copy_pack(bundle *b)
{
	bnew *nw = &b->nw;
	size_t cap = 1u << 20;
	unsigned char *buf = malloc(cap);
	if (!buf)
		return b->host->set_error(b->h, LV_E_NOMEM, "bundle %s: out of memory copying the pack", b->uri);
	int rc = 0;
	for (uint64_t off = 0; off < nw->plen && !rc;) {
		if (b->host->canceled(b->h)) {
			rc = LV_E_CANCELED;
			break;
		}
		size_t want = nw->plen - off < cap ? (size_t)(nw->plen - off) : cap;
		ssize_t k = pread(nw->pfd, buf, want, (off_t)off);
		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0) {
			rc = b->host->set_error(b->h, LV_E_IO, "bundle %s: reading the compressed pack back from its temporary file failed: %s",
			                        b->uri, k < 0 ? strerror(errno) : "end of file");
			break;
		}
		rc = b->iops->write(nw->iw, buf, (size_t)k); /* its errors are described by the inner driver */
		if (!rc)
			nw->iw_bytes += (uint64_t)k;
		off += (uint64_t)k;
	}
	free(buf);
	return rc;
}

/* The inner location's sync: makes durable what changed there (a file published or removed, side objects). */
static int inner_sync(bundle *b)
{
	return b->iops->sync ? b->iops->sync(b->iinst) : 0;
}

/*
 * The published file holds the bytes sent (a server may acknowledge writes
 * it did not store): its size at the inner location, when the inner driver
 * can tell.  0 or IO (described).
 */
static int check_stored(bundle *b)
{
	bnew *nw = &b->nw;
	if (!b->iops->stat)
		return 0;
	lv_object_info info = {0};
	int saved = b->host->error_save(b->h);
	int rc = b->iops->stat(b->iinst, nw->iname, &info);
	if (rc == LV_E_UNSUPPORTED) {
		b->host->error_restore(b->h, saved);
		return 0;
	}
	if (rc == LV_E_NOT_FOUND) {
		b->host->error_restore(b->h, saved);
		return b->host->set_error(b->h, LV_E_IO, "bundle %s: %s was published but is not there: the location did not store it",
		                          b->uri, nw->iname);
	}
	if (rc)
		return rc; /* described by the inner driver */
	if (info.size != UINT64_MAX && info.size != nw->iw_bytes)
		return b->host->set_error(b->h, LV_E_IO,
		                          "bundle %s: %s holds %llu bytes, %llu were written: the location did not store what it acknowledged",
		                          b->uri, nw->iname, (unsigned long long)info.size, (unsigned long long)nw->iw_bytes);
	return 0;
}

/* Finish the generation's file: the manifest's member ends, the pack's members follow, then the end record. */
static int finish_file(bundle *b)
{
	bnew *nw = &b->nw;
	int rc = main_begin(b, 0);
	if (rc)
		return rc;
	char pname[64];
	bundle_obj_name(nw->gen, 1, pname, sizeof pname);
	if (!(rc = lvb_enc_member(nw->enc)) && nw->pack_done && !(rc = copy_pack(b)))
		rc = lvb_enc_external(nw->enc, pname, nw->psize);
	if (!rc)
		rc = lvb_enc_finish(nw->enc);
	if (rc) {
		nw->broken = 1;
		return enc_error(b, rc, "finishing", nw->iname);
	}
	return 0;
}

/*
 * At the end of a successful backup: publish the generation's file, never
 * over another (a no-replace commit), check it holds what was sent, and make
 * it durable.  Later calls (after the prune) make the removals durable.
 */
int bundle_sync(void *inst)
{
	bundle *b = inst;
	bnew *nw = &b->nw;
	if (!(b->flags & LV_OPEN_WRITE) || nw->published || (!nw->enc && !nw->pack_done && !nw->penc))
		return inner_sync(b); /* nothing of ours to publish; side objects or removals may have changed */
	if (nw->broken || nw->open_w || nw->penc)
		return b->host->set_error(b->h, LV_E_IO, "bundle %s: an object of generation %llu was not completed; %s is not published",
		                          b->uri, (unsigned long long)nw->gen, nw->iname);
	int rc = finish_file(b);
	if (rc)
		return rc;
	lv_writer *iw = nw->iw;
	nw->iw = NULL;
	int saved = b->host->error_save(b->h);
	rc = b->iops->commit(iw, 0);
	if (rc == LV_E_EXISTS) {
		b->host->error_restore(b->h, saved);
		return b->host->set_error(b->h, LV_E_EXISTS,
		                          "bundle %s: %s appeared while this backup was written (another backup published generation %llu); "
		                          "nothing was replaced: run again",
		                          b->uri, nw->iname, (unsigned long long)nw->gen);
	}
	nw->published = 1; /* a failed commit may have published too: the core's removal then finds it */
	if (rc)
		return rc; /* described by the inner driver */
	if ((rc = bundle_gen_published(b)) || (rc = check_stored(b)))
		return rc;
	return inner_sync(b);
}
