/*
 * The bundle files at the inner location (bundle_int.h): which there are,
 * what each holds, list, stat and remove.
 *
 * A listing of the inner location names the files: a generation file
 * NAME.g<G>.EXT holds generation G's manifest and pack, so it is listed by
 * its name alone, without reading it (licvault list then reads only the
 * manifests' headers).  The URI's own file NAME.EXT says what it holds only
 * when read: it is scanned at the first listing.
 *
 * The scan reads a file from its start: the gzip header, the container
 * header, the manifest, whose bytes go to an unlinked temporary file (the
 * spool), up to where the pack begins.  Its stream stays there, kept for
 * the pack's reader, so a restore (stat, then the manifest, then the pack)
 * inflates and transfers the file once.  One generation's manifest is
 * spooled at a time: a scan of another file starts the spool afresh.
 *
 * Removing either object of a generation removes its file (the core removes
 * the manifest first); the other one is then NOT_FOUND.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "bundle_int.h"

/* ---- the table of generation files ------------------------------------------- */

static bobj *obj_add(bgen *g, const char *name)
{
	if (g->nobj == g->capobj) {
		unsigned cap = g->capobj ? g->capobj * 2 : 2;
		bobj *n = realloc(g->obj, cap * sizeof *n);
		if (!n)
			return NULL;
		g->obj = n;
		g->capobj = cap;
	}
	bobj *o = &g->obj[g->nobj++];
	memset(o, 0, sizeof *o);
	snprintf(o->name, sizeof o->name, "%s", name);
	o->size = UINT64_MAX;
	return o;
}

/* A generation file holds its generation's manifest and pack, as far as its name tells. */
static int obj_implicit(bgen *g)
{
	char m[64], p[64];
	bundle_obj_name(g->gen, 0, m, sizeof m);
	bundle_obj_name(g->gen, 1, p, sizeof p);
	g->nobj = 0;
	return obj_add(g, m) && obj_add(g, p) ? 0 : LV_E_NOMEM;
}

/* What was read of g goes (the file went, or another one stands under its name). */
static void gen_reset(bgen *g)
{
	if (g->stream)
		bundle_reader_free(g->stream);
	g->stream = NULL;
	free(g->scan_why);
	g->scan_why = NULL;
	g->scanned = g->scan_rc = 0;
	if (g->own)
		g->nobj = 0;
	else
		obj_implicit(g); /* out of memory: it lists nothing until a scan */
}

static bgen *gen_find(bundle *b, uint64_t n)
{
	for (size_t i = 0; i < b->ngens; i++)
		if (b->gens[i]->gen == n)
			return b->gens[i];
	return NULL;
}

/* A generation file newly known, kept in ascending order of number; NULL when out of memory. */
static bgen *gen_add(bundle *b, uint64_t n, const char *iname)
{
	if (b->ngens == b->capgens) {
		size_t cap = b->capgens ? b->capgens * 2 : 8;
		bgen **a = realloc(b->gens, cap * sizeof *a); // NOLINT(bugprone-sizeof-expression): an array of pointers
		if (!a)
			return NULL;
		b->gens = a;
		b->capgens = cap;
	}
	bgen *g = calloc(1, sizeof *g);
	if (!g)
		return NULL;
	g->gen = n;
	snprintf(g->iname, sizeof g->iname, "%s", iname);
	if (obj_implicit(g)) {
		free(g);
		return NULL;
	}
	size_t at = b->ngens;
	while (at > 0 && b->gens[at - 1]->gen > n)
		at--;
	memmove(b->gens + at + 1, b->gens + at, (b->ngens - at) * sizeof *b->gens); // NOLINT(bugprone-sizeof-expression): an array of pointers
	b->gens[at] = g;
	b->ngens++;
	return g;
}

static void gen_free(bgen *g)
{
	gen_reset(g);
	free(g->obj);
	g->obj = NULL;
	g->nobj = g->capobj = 0;
}

void bundle_gens_free(bundle *b)
{
	for (size_t i = 0; i < b->ngens; i++) {
		gen_free(b->gens[i]);
		free(b->gens[i]);
	}
	free(b->gens);
	b->gens = NULL;
	b->ngens = b->capgens = 0;
	gen_free(&b->own);
}

int bundle_gen_published(bundle *b)
{
	bgen *g = gen_find(b, b->nw.gen);
	if (!g && !(g = gen_add(b, b->nw.gen, b->nw.iname)))
		return b->host->set_error(b->h, LV_E_NOMEM, "bundle %s: out of memory", b->uri);
	gen_reset(g);
	g->present = 1;
	g->mtime = (int64_t)time(NULL);
	for (unsigned i = 0; i < b->nw.n; i++) {
		bobj *o = bundle_find_obj(g, b->nw.names[i]);
		if (o)
			o->size = b->nw.sizes[i];
	}
	return 0;
}

/* ---- listing the inner location ------------------------------------------------ */

typedef struct side {
	char *name;                /* the object's name (without "<file>.") */
	uint64_t size;
	int64_t mtime;
} side;

typedef struct refresh_st {
	bundle *b;
	side *sides;               /* NULL: not wanted */
	size_t nsides, capsides;
	int want_sides;
	int own_seen;
	int64_t own_mtime;
	int rc;
} refresh_st;

static int add_side(refresh_st *st, const char *obj, const lv_object_info *info)
{
	if (st->nsides == st->capsides) {
		size_t cap = st->capsides ? st->capsides * 2 : 8;
		side *n = realloc(st->sides, cap * sizeof *n);
		if (!n)
			return LV_E_NOMEM;
		st->sides = n;
		st->capsides = cap;
	}
	side *s = &st->sides[st->nsides];
	if (!(s->name = strdup(obj)))
		return LV_E_NOMEM;
	s->size = info->size;
	s->mtime = info->mtime;
	st->nsides++;
	return 0;
}

static int refresh_cb(const lv_object_info *info, void *ud)
{
	refresh_st *st = ud;
	bundle *b = st->b;
	uint64_t n;
	if (!info || !info->name)
		return 0;
	if (!strcmp(info->name, b->file)) {
		st->own_seen = 1;
		st->own_mtime = info->mtime;
		return 0;
	}
	if (bundle_parse_gen_file(b, info->name, &n)) {
		bgen *g = gen_find(b, n);
		if (!g && !(g = gen_add(b, n, info->name)))
			return st->rc = LV_E_NOMEM;
		if (!g->present)
			gen_reset(g); /* not there before: whatever is known of it is of another file */
		g->present = 2;   /* seen now */
		g->mtime = info->mtime;
		return 0;
	}
	const char *obj = st->want_sides ? bundle_side_object(b, info->name) : NULL;
	if (obj && add_side(st, obj, info))
		return st->rc = LV_E_NOMEM;
	return 0;
}

static void sides_free(refresh_st *st)
{
	for (size_t i = 0; i < st->nsides; i++)
		free(st->sides[i].name);
	free(st->sides);
}

/*
 * List the inner location: which generation files are there, whether the
 * URI's own file is, and (want_sides) the side objects.  A location that
 * does not exist yet holds nothing.  0 or the error (described).
 */
static int refresh(bundle *b, refresh_st *st)
{
	st->b = b;
	int saved = b->host->error_save(b->h);
	int rc = b->iops->list(b->iinst, refresh_cb, st);
	if (st->rc)
		return b->host->set_error(b->h, st->rc, "bundle %s: out of memory listing %s", b->uri, b->parent);
	if (rc == LV_E_NOT_FOUND) {
		b->host->error_restore(b->h, saved); /* no location yet: nothing there */
		rc = 0;
	}
	for (size_t i = 0; rc && i < b->ngens; i++)
		b->gens[i]->present = b->gens[i]->present != 0; /* a listing cut short tells nothing */
	if (rc)
		return rc; /* described by the inner driver */
	for (size_t i = 0; i < b->ngens; i++) {
		bgen *g = b->gens[i];
		if (g->present == 1)
			gen_reset(g); /* gone */
		g->present = g->present == 2;
	}
	if (!st->own_seen || !b->own.present)
		gen_reset(&b->own); /* gone, or newly there: what was read of it is of no file there now */
	b->own.present = st->own_seen;
	b->own.mtime = st->own_mtime;
	b->listed = 1;
	return 0;
}

/* ---- the scan ------------------------------------------------------------------------ */

static int spool_open(bundle *b)
{
	if (b->spool_fd >= 0)
		return 0;
	int fd = bundle_tmp_open();
	if (fd < 0)
		return -1;
	b->spool_fd = fd;
	return 0;
}

/* A new scan: the spool starts afresh, unless a reader reads from it. */
static void spool_reset(bundle *b)
{
	if (b->spool_users || b->spool_fd < 0)
		return;
	if (ftruncate(b->spool_fd, 0) != 0)
		return; /* keep what is there: the offsets stay valid */
	b->spool_len = 0;
	for (unsigned i = 0; i < b->own.nobj; i++)
		b->own.obj[i].spooled = 0;
	for (size_t k = 0; k < b->ngens; k++)
		for (unsigned i = 0; i < b->gens[k]->nobj; i++)
			b->gens[k]->obj[i].spooled = 0;
}

static int spool_write(bundle *b, const unsigned char *p, size_t n)
{
	if (b->spool_len + n > BUNDLE_SPOOL_MAX)
		return -1;
	return bundle_pwrite_all(b->spool_fd, p, n, &b->spool_len) ? -1 : 0;
}

/* "bundle URI is corrupt: [FILE: ]why" for file g into out. */
static void corrupt_text(bundle *b, bgen *g, const char *why, char *out, size_t cap)
{
	if (g->own)
		snprintf(out, cap, "bundle %s is corrupt: %s", b->uri, why);
	else
		snprintf(out, cap, "bundle %s is corrupt: %s: %s", b->uri, g->iname, why);
}

/*
 * A manifest (docs/backup-format.md) begins with its magic, and its header's
 * count bounds its size: the header and its four strings at most 551 bytes,
 * an entry at most 146, the trailer 12.  The scan checks both as the bytes
 * come, so that a file whose "manifest" is gigabytes of anything is refused
 * at once instead of after inflating it all.
 */
#define MANIFEST_MAGIC "LVMANIF\n"
#define MANIFEST_COUNT_AT 28
typedef struct man_check {
	unsigned char head[MANIFEST_COUNT_AT + 8];
	uint64_t seen, limit;      /* bytes so far; the most its count allows (0: not known yet) */
} man_check;

/* The next n bytes of a manifest object: NULL, or why it is none. */
static const char *man_check_add(man_check *m, const unsigned char *p, size_t n)
{
	const size_t ml = sizeof MANIFEST_MAGIC - 1;
	for (size_t i = 0; m->seen + i < sizeof m->head && i < n; i++) {
		m->head[m->seen + i] = p[i];
		if (m->seen + i < ml && p[i] != (unsigned char)MANIFEST_MAGIC[m->seen + i])
			return "is not a licvault manifest (bad magic)";
	}
	m->seen += n;
	if (!m->limit && m->seen >= sizeof m->head) {
		uint64_t count = 0;
		for (int i = 7; i >= 0; i--) /* little-endian u64 */
			count = count << 8 | m->head[MANIFEST_COUNT_AT + i];
		m->limit = count > (UINT64_MAX - 563) / 146 ? UINT64_MAX : 563 + count * 146;
	}
	return m->limit && m->seen > m->limit ? "is longer than its header's count of licenses allows" : NULL;
}

/*
 * Read g's events into g->obj up to the pack of a version 2 bundle (r then
 * stays there, for the pack's reader) or the end; the manifest goes to the
 * spool.  0 or an error (described; a corrupt file's reason in *why too).
 */
static int scan_events(bundle *b, bgen *g, struct lv_reader *r, char *why, size_t cap)
{
	lvb_dec *d = r->dec;
	bobj *cur = NULL;
	man_check mc = {0};
	for (unsigned events = 1;; events++) {
		lvb_event ev;
		if ((events & 255) == 0 && b->host->canceled(b->h))
			return LV_E_CANCELED;
		int rc = lvb_dec_next(d, &ev);
		if (rc) {
			if (rc == LV_E_BACKUP_CORRUPT)
				corrupt_text(b, g, lvb_dec_why(d), why, cap);
			return rc == LV_E_BACKUP_CORRUPT ? b->host->set_error(b->h, rc, "%s", why) : bundle_dec_error(b, rc, d);
		}
		if (ev.type == LVB_EV_END)
			return 0;
		if (ev.type == LVB_EV_OBJECT) {
			if (!(cur = obj_add(g, ev.name)))
				return b->host->set_error(b->h, LV_E_NOMEM, "bundle %s: out of memory reading %s", b->uri, g->iname);
			mc = (man_check){0};
			if (bundle_is_pack(ev.name) && lvb_dec_version(d) >= 2) {
				/* version 2: the pack is the last object; stop here, and
				 * let the pack's reader go on with this stream */
				snprintf(r->name, sizeof r->name, "%s", ev.name);
				r->found = 1;
				r->streaming = 1;
				return 0;
			}
			/* the manifest is read before the pack, and by more than one reader: keep it.
			 * (Version 1 puts the pack first: it is read later by inflating again.) */
			if (!bundle_is_pack(ev.name) && spool_open(b) == 0) {
				cur->spooled = 1;
				cur->spool_off = b->spool_len;
			}
		} else if (cur && ev.type == LVB_EV_DATA) {
			const char *bad = bundle_is_pack(cur->name) ? NULL : man_check_add(&mc, ev.data, ev.len);
			if (bad) {
				corrupt_text(b, g, "", why, cap);
				snprintf(why + strlen(why), cap - strlen(why), "object %s %s", cur->name, bad);
				return b->host->set_error(b->h, LV_E_BACKUP_CORRUPT, "%s", why);
			}
			if (cur->spooled && spool_write(b, ev.data, ev.len) != 0)
				cur->spooled = 0; /* no room: read it by inflating again */
		} else if (cur && ev.type == LVB_EV_OBJECT_END) {
			cur->size = ev.size;
		}
	}
}

/*
 * A backup found, under the URI's own name, a file that is not a whole
 * licvault bundle (a document, a damaged bundle): it is never written over,
 * whatever the flags.  What the scan described is taken back for this message.
 */
static int scan_not_ours(bundle *b, struct lv_reader *r, int saved, char *why, size_t cap)
{
	char dec[BUNDLE_WHY];
	snprintf(dec, sizeof dec, "%s", lvb_dec_why(r->dec));
	b->host->error_restore(b->h, saved);
	snprintf(why, cap,
	         "%s exists and is not a whole licvault bundle (%s); licvault never writes over it: remove it or name another file",
	         b->uri, dec[0] ? dec : "it cannot be read");
	return b->host->set_error(b->h, LV_E_BACKUP_EXISTS, "%s", why);
}

/* The scan's result, remembered (with its message) for the calls after it. */
static int scan_done(bundle *b, bgen *g, int rc, const char *why)
{
	if (rc && rc != LV_E_BACKUP_CORRUPT && rc != LV_E_BACKUP_EXISTS)
		return rc; /* not the file's fault (canceled, memory, the inner driver): a later call tries again */
	g->scanned = 1;
	g->scan_rc = rc;
	if (rc && why[0])
		g->scan_why = strdup(why);
	return rc;
}

int bundle_scan(bundle *b, bgen *g)
{
	if (g->scanned) {
		if (g->scan_rc && g->scan_why)
			b->host->set_error(b->h, g->scan_rc, "%s", g->scan_why);
		return g->scan_rc;
	}
	int saved = b->host->error_save(b->h);
	struct lv_reader *r = NULL;
	int rc = bundle_reader_new(b, g, "", &r);
	if (rc == LV_E_NOT_FOUND) {
		b->host->error_restore(b->h, saved); /* an answer: it is not there (the caller says so) */
		g->present = 0;
		gen_reset(g);
		return rc;
	}
	if (rc)
		return rc; /* described: the inner driver's error, or out of memory */
	if (g->stream)
		bundle_reader_free(g->stream);
	g->stream = NULL;
	spool_reset(b);
	g->nobj = 0;
	char why[BUNDLE_WHY] = "";
	rc = scan_events(b, g, r, why, sizeof why);
	if (rc && g->own && (b->flags & LV_OPEN_WRITE) && rc != LV_E_CANCELED && rc != LV_E_NOMEM)
		rc = scan_not_ours(b, r, saved, why, sizeof why);
	if (!rc && r->streaming)
		g->stream = r; /* stopped where the pack begins */
	else
		bundle_reader_free(r);
	if (rc && !g->own)
		obj_implicit(g);
	else if (rc)
		g->nobj = 0;
	return scan_done(b, g, rc, why);
}

/* The URI's own file, scanned once when it is there: 0, or its scan's error. */
static int own_ready(bundle *b)
{
	if (!b->own.present)
		return 0;
	int rc = bundle_scan(b, &b->own);
	return rc == LV_E_NOT_FOUND ? 0 : rc; /* gone since the listing: not there */
}

/* ---- which file holds an object ---------------------------------------------------- */

int bundle_holder(bundle *b, const char *name, bgen **out)
{
	uint64_t n;
	int format, rc, fresh = 0;
	if (!bundle_set_gen(name, &n, &format))
		return LV_E_NOT_FOUND;
	for (int look = 0;; look++) {
		refresh_st st = {0};
		if (!b->listed || look) {
			if ((rc = refresh(b, &st)))
				return rc;
			fresh = 1;
		}
		bgen *g = format == 2 ? gen_find(b, n) : NULL;
		if (g && g->present) {
			*out = g;
			return 0;
		}
		if ((rc = own_ready(b)))
			return rc;
		if (b->own.present && bundle_find_obj(&b->own, name)) {
			*out = &b->own;
			return 0;
		}
		if (g || fresh)
			return LV_E_NOT_FOUND; /* known and gone, or not there now */
		/* not known: published since the listing?  Look again, once */
	}
}

/* NOT_FOUND for set object `name`, described. */
static int not_here(bundle *b, const char *name)
{
	int any = b->own.present;
	for (size_t i = 0; i < b->ngens && !any; i++)
		any = b->gens[i]->present;
	if (!any)
		return b->host->set_error(b->h, LV_E_NOT_FOUND, "no bundle at %s", b->uri);
	return b->host->set_error(b->h, LV_E_NOT_FOUND, "bundle %s holds no %s", b->uri, name);
}

/* ---- list, stat, remove ---------------------------------------------------------------- */

/* Is `name`, held by the URI's own file, also held by a generation file (listed for that one)? */
static int shadowed(bundle *b, const char *name)
{
	uint64_t n;
	int format;
	bgen *g = bundle_set_gen(name, &n, &format) && format == 2 ? gen_find(b, n) : NULL;
	return g && g->present;
}

/* The size of a generation file's object: what this instance wrote to it, what a read found, or unknown. */
static uint64_t gen_obj_size(bundle *b, bgen *g, const char *name)
{
	int i = bundle_new_index(b, name);
	if (i >= 0 && b->nw.published && (unsigned)i < b->nw.n && g->gen == b->nw.gen)
		return b->nw.sizes[i];
	bobj *o = bundle_find_obj(g, name);
	return o ? o->size : UINT64_MAX;
}

static int list_files(bundle *b, lv_list_cb cb, void *ud)
{
	int rc = 0;
	for (unsigned i = 0; !rc && b->own.present && i < b->own.nobj; i++) {
		lv_object_info info = {b->own.obj[i].name, b->own.obj[i].size, b->own.mtime};
		if (!shadowed(b, info.name))
			rc = cb(&info, ud);
	}
	for (size_t k = 0; !rc && k < b->ngens; k++) {
		bgen *g = b->gens[k];
		for (int pack = 0; !rc && g->present && pack < 2; pack++) {
			char name[64];
			bundle_obj_name(g->gen, pack, name, sizeof name);
			lv_object_info info = {name, gen_obj_size(b, g, name), g->mtime};
			rc = cb(&info, ud);
		}
	}
	return rc;
}

int bundle_list(void *inst, lv_list_cb cb, void *ud)
{
	bundle *b = inst;
	refresh_st st = {.want_sides = 1};
	int rc = refresh(b, &st);
	if (!rc)
		rc = own_ready(b);
	if (!rc)
		rc = list_files(b, cb, ud);
	/* the side objects beside the files */
	for (size_t i = 0; !rc && i < st.nsides; i++) {
		lv_object_info info = {st.sides[i].name, st.sides[i].size, st.sides[i].mtime};
		rc = cb(&info, ud);
	}
	sides_free(&st);
	return rc;
}

static int side_stat(bundle *b, const char *name, lv_object_info *info)
{
	char *sn = bundle_side_name(b, name);
	if (!sn)
		return b->host->set_error(b->h, LV_E_NOMEM, "bundle %s: out of memory", b->uri);
	int rc = b->iops->stat ? b->iops->stat(b->iinst, sn, info) : LV_E_UNSUPPORTED;
	free(sn);
	info->name = name;
	return rc;
}

int bundle_stat(void *inst, const char *name, lv_object_info *info)
{
	bundle *b = inst;
	if (!bundle_is_set(name))
		return side_stat(b, name, info);
	int i = bundle_new_index(b, name);
	bgen *pub = b->nw.published ? gen_find(b, b->nw.gen) : NULL;
	if (i >= 0 && (unsigned)i < b->nw.n && !b->nw.broken && (!b->nw.published || (pub && pub->present))) {
		/* written by this instance: the bytes written (the core compares them with its own count) */
		info->name = name;
		info->size = b->nw.sizes[i];
		info->mtime = pub ? pub->mtime : 0;
		return 0;
	}
	bgen *g = NULL;
	int rc = bundle_holder(b, name, &g);
	if (rc == LV_E_NOT_FOUND)
		return not_here(b, name);
	bobj *o = rc ? NULL : bundle_find_obj(g, name);
	if (!rc && (!o || o->size == UINT64_MAX) && (rc = bundle_scan(b, g)) == LV_E_NOT_FOUND)
		return b->host->set_error(b->h, LV_E_NOT_FOUND, "bundle %s holds no %s: its file %s is gone", b->uri, name, g->iname);
	if (rc)
		return rc;
	if (!(o = bundle_find_obj(g, name)))
		return b->host->set_error(b->h, LV_E_NOT_FOUND, "bundle %s: %s holds no %s", b->uri, g->iname, name);
	info->name = name;
	info->size = o->size;
	info->mtime = g->mtime;
	return 0;
}

int bundle_remove(void *inst, const char *name)
{
	bundle *b = inst;
	if (!bundle_is_set(name)) {
		char *sn = bundle_side_name(b, name);
		if (!sn)
			return b->host->set_error(b->h, LV_E_NOMEM, "bundle %s: out of memory removing %s", b->uri, name);
		int rc = b->iops->remove(b->iinst, sn); /* NOT_FOUND or not, the inner driver's answer */
		free(sn);
		return rc;
	}
	if (!(b->flags & LV_OPEN_WRITE))
		return b->host->set_error(b->h, LV_E_UNSUPPORTED, "bundle %s was opened for reading", b->uri);
	if (bundle_new_index(b, name) >= 0 && !b->nw.published) {
		b->nw.broken = 1; /* it is in the stream already: this generation is never published */
		return 0;
	}
	bgen *g = NULL;
	int rc = bundle_holder(b, name, &g);
	if (rc == LV_E_NOT_FOUND)
		return b->host->set_error(b->h, LV_E_NOT_FOUND, "bundle %s holds no %s", b->uri, name);
	if (rc)
		return rc;
	/* the generation's file goes whole: a generation is never half there */
	rc = b->iops->remove(b->iinst, g->iname);
	if (rc == 0 || rc == LV_E_NOT_FOUND) {
		g->present = 0;
		gen_reset(g);
	}
	return rc; /* NOT_FOUND and other errors: described by the inner driver */
}
