/*
 * The backup set at a location: scanning a location's objects for
 * generations, and reading one set (docs/backup-format.md).  Restore reads
 * the manifest once from the location into a local copy, checked whole;
 * then the pack in step with that copy, checking every record, so a
 * damaged backup is found before the store changes.
 */
#include "set.h"

#include "host.h"
#include "lock.h"

#include <stdio.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#define READ_CHUNK (1u << 20)

/* ---- scanning ----------------------------------------------------------- */

struct scan_state {
	lv_set_scan *s;
	int bad;
};

static lv_gen *gen_slot(lv_set_scan *s, uint64_t g, int format)
{
	for (size_t i = 0; i < s->n_gens; i++)
		if (s->gens[i].gen == g && s->gens[i].format == format)
			return &s->gens[i];
	lv_gen *n = realloc(s->gens, (s->n_gens + 1) * sizeof *n);
	if (!n)
		return NULL;
	s->gens = n;
	lv_gen *e = &n[s->n_gens++];
	memset(e, 0, sizeof *e);
	e->gen = g;
	e->format = format;
	e->manifest_size = e->pack_size = UINT64_MAX;
	return e;
}

static int add_name(char ***list, size_t *n, const char *name)
{
	char **l = realloc(*list, (*n + 1) * sizeof *l);
	if (!l)
		return LV_E_NOMEM;
	*list = l;
	if (!(l[*n] = strdup(name)))
		return LV_E_NOMEM;
	(*n)++;
	return 0;
}

static int scan_cb(const lv_object_info *info, void *ud)
{
	struct scan_state *st = ud;
	lv_set_scan *s = st->s;
	if (!info || !info->name || !lv__object_name_valid(info->name)) {
		st->bad = 1;
		return 1;
	}
	uint64_t g;
	const char *ext;
	int format;
	int k = lv__gen_parse(info->name, &g, &ext, &format);
	if (k == 0)
		return 0;
	s->n_objects++;
	if (k < 0)
		return add_name(&s->strays, &s->n_strays, info->name);
	if (g > s->newest_any)
		s->newest_any = g;
	lv_gen *e = gen_slot(s, g, format);
	if (!e)
		return LV_E_NOMEM;
	if (!strcmp(ext, "manifest")) {
		e->has_manifest = 1;
		e->manifest_size = info->size;
	} else if (!strcmp(ext, "pack")) {
		e->has_pack = 1;
		e->pack_size = info->size;
	} else
		return add_name(&e->others, &e->n_others, info->name);
	return 0;
}

static int gen_cmp(const void *a, const void *b)
{
	const lv_gen *x = a, *y = b;
	return x->gen < y->gen ? -1 : x->gen > y->gen ? 1 : x->format - y->format;
}

int lv__set_scan(lv_run *run, lv_location *loc, lv_set_scan *out)
{
	memset(out, 0, sizeof *out);
	struct scan_state st = {out, 0};
	lv_err saved;
	lv__err_save(&run->err, &saved);
	int rc = loc->ops->list(loc->inst, scan_cb, &st);
	if (st.bad)
		rc = lv__run_error(run, LV_E_DRIVER_ABI, "driver '%s' listed an invalid object name at %s",
		                   lv__location_driver(loc), loc->uri);
	else if (rc == LV_E_NOMEM)
		rc = lv__run_error(run, rc, "out of memory listing %s", loc->uri);
	else if (rc == LV_E_NOT_FOUND) {
		lv__err_restore(&run->err, &saved);
		rc = 0; /* the location does not exist yet: empty */
	} else
		rc = lv__drv_rc(run, loc, rc, "list", "objects");
	if (rc)
		lv__set_scan_free(out);
	else if (out->n_gens > 1)
		qsort(out->gens, out->n_gens, sizeof *out->gens, gen_cmp);
	return rc;
}

void lv__set_scan_free(lv_set_scan *s)
{
	for (size_t i = 0; i < s->n_gens; i++) {
		for (size_t k = 0; k < s->gens[i].n_others; k++)
			free(s->gens[i].others[k]);
		free(s->gens[i].others);
	}
	free(s->gens);
	for (size_t i = 0; i < s->n_strays; i++)
		free(s->strays[i]);
	free(s->strays);
	memset(s, 0, sizeof *s);
}

const lv_gen *lv__scan_newest(const lv_set_scan *s)
{
	for (size_t i = s->n_gens; i-- > 0;)
		if (s->gens[i].has_manifest)
			return &s->gens[i];
	return NULL;
}

const lv_gen *lv__scan_find(const lv_set_scan *s, uint64_t g)
{
	const lv_gen *found = NULL;
	for (size_t i = 0; i < s->n_gens; i++)
		if (s->gens[i].gen == g && (!found || s->gens[i].has_manifest))
			found = &s->gens[i];
	return found;
}

size_t lv__scan_count(const lv_set_scan *s)
{
	size_t n = 0;
	for (size_t i = 0; i < s->n_gens; i++)
		n += s->gens[i].has_manifest != 0;
	return n;
}

/* ---- putting things right -------------------------------------------------- */

/* Remove name, the run's record untouched; 0 or the driver's code (NOT_FOUND is 0). */
static int remove_quietly(lv_run *run, lv_location *loc, const char *name, char *why, size_t cap)
{
	lv_err saved;
	lv__err_save(&run->err, &saved);
	lv__err_clear(&run->err);
	int rc = loc->ops->remove(loc->inst, name);
	if (rc == LV_E_NOT_FOUND)
		rc = 0;
	if (rc)
		snprintf(why, cap, "%s", run->err.msg[0] ? run->err.msg : lv_strerror(rc));
	lv__err_restore(&run->err, &saved);
	return rc;
}

int lv__set_remove_gen(lv_run *run, lv_location *loc, const lv_gen *g)
{
	char name[64], why[LV_ERRMSG_MAX];
	static const char *const ext[] = {"manifest", "pack"};
	for (int i = 0; i < 2; i++) {
		if (!(i ? g->has_pack : g->has_manifest))
			continue;
		lv__gen_name(name, sizeof name, g->gen, ext[i], g->format);
		int rc = remove_quietly(run, loc, name, why, sizeof why);
		if (rc)
			return lv__run_error(run, rc, "cannot remove %s at %s: %s", name, loc->uri, why);
	}
	return 0;
}

void lv__set_tidy(lv_run *run, lv_location *loc, lv_set_scan *scan)
{
	int drv = 0;
	lv_buf names = {0};
	if (loc->ops->cleanup) {
		lv_err saved;
		lv__err_save(&run->err, &saved);
		drv = loc->ops->cleanup(loc->inst); /* ABI 1.1: how many it put right */
		if (drv < 0)
			lv__log(run->ctx, LV_LOG_WARN, "cleaning up %s: %s", loc->uri,
			        run->err.msg[0] && !saved.code ? run->err.msg : lv_error_name(drv));
		lv__err_restore(&run->err, &saved);
	}
	size_t removed = 0;
	const lv_gen *newest = lv__scan_newest(scan);
	for (size_t i = 0; i < scan->n_gens; i++) {
		lv_gen *g = &scan->gens[i];
		/* a pack above the newest manifest: a backup that never published (a pack below
		 * it may be what is left of a damaged generation: the prune decides on it) */
		if (g->has_manifest || !g->has_pack || !newest || g->gen < newest->gen)
			continue;
		char name[64], why[LV_ERRMSG_MAX];
		lv__gen_name(name, sizeof name, g->gen, "pack", g->format);
		if (remove_quietly(run, loc, name, why, sizeof why)) {
			lv__log(run->ctx, LV_LOG_WARN, "could not remove %s, left by an interrupted run at %s: %s", name,
			        loc->uri, why);
			continue;
		}
		g->has_pack = 0;
		lv__buf_printf(&names, "%s%s", removed++ ? ", " : "", name);
	}
	lv__buf_put(&names, "", 1);
	if (removed || drv > 0)
		lv__log(run->ctx, LV_LOG_WARN, "put right what an interrupted run left at %s: %s%s%s%d object%s of the driver's",
		        loc->uri, removed ? "removed " : "", removed ? (char *)names.data : "", removed ? "; " : "",
		        drv > 0 ? drv : 0, drv == 1 ? "" : "s");
	lv__buf_free(&names);
}

/* ---- objects ------------------------------------------------------------ */

int lv__obj_read(void *p, void *buf, size_t cap, size_t *n)
{
	lv_obj_src *s = p;
	if (lv__run_canceled(s->run))
		return LV_E_CANCELED;
	int rc = lv__lock_refresh(s->run);
	if (rc)
		return rc;
	*n = 0;
	rc = s->loc->ops->read(s->r, buf, cap, n);
	if (rc)
		return lv__drv_rc(s->run, s->loc, rc, "read", s->name);
	if (*n > cap)
		return lv__run_error(s->run, LV_E_DRIVER_ABI, "driver '%s' returned %zu bytes for a %zu-byte read of %s",
		                     lv__location_driver(s->loc), *n, cap, s->name);
	return 0;
}

int lv__obj_open(lv_run *run, lv_location *loc, const char *name, lv_obj_src *s)
{
	s->run = run;
	s->loc = loc;
	s->name = name;
	s->r = NULL;
	lv_err saved;
	lv__err_save(&run->err, &saved);
	int rc = loc->ops->read_open(loc->inst, name, &s->r);
	if (rc == LV_E_NOT_FOUND) {
		lv__err_restore(&run->err, &saved); /* the driver's "not found" becomes ours */
		return lv__run_error(run, LV_E_BACKUP_CORRUPT, "the backup at %s is missing %s", loc->uri, name);
	}
	return lv__drv_rc(run, loc, rc, "open", name);
}

void lv__obj_close(lv_obj_src *s)
{
	if (s->r)
		s->loc->ops->read_close(s->r);
	s->r = NULL;
}

int lv__set_corrupt(lv_run *run, lv_location *loc, const char *obj, const char *why)
{
	return lv__run_error(run, LV_E_BACKUP_CORRUPT, "backup at %s is corrupt: %s: %s", loc->uri, obj, why);
}

/* ---- the manifest -------------------------------------------------------- */

/* Read the local copy of the manifest. */
static int spool_read(void *p, void *buf, size_t cap, size_t *n)
{
	lv_set *set = p;
	if (lv__run_canceled(set->run))
		return LV_E_CANCELED;
	*n = fread(buf, 1, cap, set->spool);
	if (*n == 0 && ferror(set->spool))
		return lv__run_error(set->run, LV_E_IO, "cannot read the local copy of the manifest");
	return 0;
}

/* Read the remote manifest and keep a local copy of every byte. */
typedef struct tee_src {
	lv_obj_src *remote;
	FILE *copy;
	int failed;
} tee_src;

static int tee_read(void *p, void *buf, size_t cap, size_t *n)
{
	tee_src *t = p;
	int rc = lv__obj_read(t->remote, buf, cap, n);
	if (!rc && *n && fwrite(buf, 1, *n, t->copy) != *n) {
		t->failed = 1;
		return lv__run_error(t->remote->run, LV_E_IO, "cannot write a local copy of the manifest: %s",
		                     strerror(errno));
	}
	return rc;
}

int lv__set_manifest_open(lv_set *set, lv_manifest_reader *m)
{
	if (fseeko(set->spool, 0, SEEK_SET) != 0)
		return lv__run_error(set->run, LV_E_IO, "cannot rewind the local copy of the manifest");
	int rc = lv__manifest_begin(m, spool_read, set, set->man_size, 0);
	if (rc) {
		lv__set_manifest_fail(set, m, rc);
		lv__manifest_end(m);
	}
	return rc;
}

int lv__set_manifest_fail(lv_set *set, lv_manifest_reader *m, int rc)
{
	if (rc == LV_E_BACKUP_CORRUPT && !m->in.failed) /* else the driver described it */
		lv__set_corrupt(set->run, set->loc, set->man_name, m->why);
	return rc;
}

/* "1, 4 and 7" (the generations that have a manifest), for messages. */
static void gens_text(const lv_set_scan *s, char *out, size_t cap)
{
	size_t n = 0, k = lv__scan_count(s), seen = 0;
	out[0] = '\0';
	for (size_t i = 0; i < s->n_gens && n + 24 < cap; i++) {
		if (!s->gens[i].has_manifest)
			continue;
		seen++;
		n += (size_t)snprintf(out + n, cap - n, "%s%llu", seen == 1 ? "" : seen == k ? " and " : ", ",
		                      (unsigned long long)s->gens[i].gen);
	}
}

/* The wanted set's manifest name, format and size (UINT64_MAX when the driver cannot tell). */
static int find_set(lv_set *set)
{
	lv_run *run = set->run;
	lv_location *loc = set->loc;
	lv_set_scan scan;
	int rc = lv__set_scan(run, loc, &scan);
	if (rc)
		return rc;
	if (set->tidy)
		lv__set_tidy(run, loc, &scan);
	const lv_gen *g = set->want ? lv__scan_find(&scan, set->want) : lv__scan_newest(&scan);
	if (!g || !g->has_manifest) {
		char have[256];
		gens_text(&scan, have, sizeof have);
		if (set->want)
			rc = lv__run_error(run, LV_E_NOT_FOUND, "%s holds no generation %llu%s%s%s", loc->uri,
			                   (unsigned long long)set->want, have[0] ? " (it holds " : "", have,
			                   have[0] ? ")" : "");
		else if (scan.n_objects)
			rc = lv__run_error(run, LV_E_BACKUP_CORRUPT,
			                   "the backup at %s has no manifest (%d object%s of an interrupted or damaged backup)",
			                   loc->uri, scan.n_objects, scan.n_objects == 1 ? "" : "s");
		else
			rc = lv__run_error(run, LV_E_NOT_FOUND, "no backup at %s", loc->uri);
		lv__set_scan_free(&scan);
		return rc;
	}
	set->format = g->format;
	set->want = g->gen;
	lv__gen_name(set->man_name, sizeof set->man_name, g->gen, "manifest", g->format);
	set->man_size = g->manifest_size;
	lv__set_scan_free(&scan);
	if (set->man_size == UINT64_MAX && loc->ops->stat) {
		lv_object_info info = {0};
		lv_err saved;
		lv__err_save(&run->err, &saved);
		int src = loc->ops->stat(loc->inst, set->man_name, &info);
		if (src == 0)
			set->man_size = info.size;
		lv__err_restore(&run->err, &saved); /* the size is a hint: read it when it cannot be had */
		if (src && !lv__err_valid(src))
			return lv__drv_rc(run, loc, src, "stat", set->man_name); /* a broken driver is no hint */
	}
	return 0;
}

/* The manifest is of its own generation, and names its pack by the same rule. */
static int check_names(lv_set *set, const lv_manifest_hdr *h)
{
	char expect[64], man_expect[64];
	lv__gen_name(expect, sizeof expect, h->generation, "pack", set->format);
	lv__gen_name(man_expect, sizeof man_expect, h->generation, "manifest", set->format);
	if (strcmp(h->pack_name, expect) != 0 || strcmp(man_expect, set->man_name) != 0)
		return lv__set_corrupt(set->run, set->loc, set->man_name,
		                       "the manifest names a pack that is not of its own generation");
	if ((set->format == 2) != (h->version >= 2))
		return lv__set_corrupt(set->run, set->loc, set->man_name,
		                       "the manifest's format version does not match its name");
	return 0;
}

int lv__set_open(lv_set *set)
{
	lv_run *run = set->run;
	lv_location *loc = set->loc;
	int rc = find_set(set);
	if (rc)
		return rc;
	/* pass 1: the whole manifest, its structure and its checksum, read once from the
	 * location into a local temporary file that the later passes read */
	lv_manifest_reader m;
	lv_obj_src src;
	if ((rc = lv__obj_open(run, loc, set->man_name, &src)))
		return rc;
	tee_src tee = {&src, tmpfile(), 0};
	if (!tee.copy) {
		lv__obj_close(&src);
		return lv__run_error(run, LV_E_IO, "cannot create a temporary file for the manifest: %s", strerror(errno));
	}
	rc = lv__manifest_begin(&m, tee_read, &tee, set->man_size, 0);
	lv_manifest_entry e;
	if (!rc)
		while ((rc = lv__manifest_next(&m, &e)) == 1)
			;
	if (rc && !tee.failed)
		rc = lv__set_manifest_fail(set, &m, rc);
	set->hdr = m.hdr;
	lv__manifest_end(&m);
	lv__obj_close(&src);
	if (rc) {
		fclose(tee.copy);
		return rc;
	}
	set->spool = tee.copy;
	return check_names(set, &set->hdr);
}

int lv__set_read_header(lv_run *run, lv_location *loc, const lv_gen *g, lv_manifest_hdr *out)
{
	lv_set set = {.run = run, .loc = loc, .want = g->gen, .format = g->format, .man_size = g->manifest_size};
	lv__gen_name(set.man_name, sizeof set.man_name, g->gen, "manifest", g->format);
	lv_obj_src src = {run, loc, NULL, set.man_name};
	int rc = loc->ops->read_open(loc->inst, set.man_name, &src.r);
	if (rc) /* NOT_FOUND: it went away since the listing (not damage) */
		return lv__drv_rc(run, loc, rc, "open", set.man_name);
	lv_manifest_reader m;
	rc = lv__manifest_begin(&m, lv__obj_read, &src, set.man_size, 4096); /* the header only */
	if (rc)
		lv__set_manifest_fail(&set, &m, rc);
	*out = m.hdr;
	lv__manifest_end(&m);
	lv__obj_close(&src);
	return rc ? rc : check_names(&set, out);
}

void lv__set_close(lv_set *set)
{
	if (set->spool)
		fclose(set->spool);
	set->spool = NULL;
}

/* ---- the pack ------------------------------------------------------------- */

typedef struct walk {
	lv_set *set;
	const char *pname;
	lv_obj_src psrc;
	lv_in pin;
	lv_buf rec, scratch;
	char why[512];
} walk;

static int walk_corrupt(walk *w)
{
	return lv__set_corrupt(w->set->run, w->set->loc, w->pname, w->why);
}

/* Open the pack and check its header. */
static int walk_open(walk *w)
{
	lv_set *set = w->set;
	int rc = lv__obj_open(set->run, set->loc, w->pname, &w->psrc);
	if (!rc)
		rc = lv__in_init(&w->pin, lv__obj_read, &w->psrc, READ_CHUNK);
	if (rc)
		return rc;
	unsigned char hdr[LV_PACK_HEADER_LEN];
	if ((rc = lv__in_read(&w->pin, hdr, sizeof hdr))) {
		if (rc == LV_E_BACKUP_CORRUPT && !w->pin.failed) /* not a container driver's own finding */
			lv__set_corrupt(set->run, set->loc, w->pname, "truncated in its header");
		return rc;
	}
	if (memcmp(hdr, LV_PACK_MAGIC, 8) != 0 || lv__get_u32(hdr + 8) != LV_FORMAT_VERSION)
		return lv__set_corrupt(set->run, set->loc, w->pname, "not a licvault pack of format version 1");
	return 0;
}

static int walk_truncated(walk *w, int rc, const lv_manifest_entry *e)
{
	if (rc == LV_E_BACKUP_CORRUPT && !w->pin.failed) {
		snprintf(w->why, sizeof w->why, "truncated at byte %llu (record of %s)",
		         (unsigned long long)w->pin.offset, e->kid);
		walk_corrupt(w);
	}
	return rc;
}

/* Read the record the manifest entry e describes and check it; *lic points into w. */
static int walk_record(walk *w, const lv_manifest_entry *e, lv_license *lic)
{
	lv_run *run = w->set->run;
	unsigned char lb[4];
	int rc = lv__in_read(&w->pin, lb, 4);
	if (rc)
		return walk_truncated(w, rc, e);
	uint32_t len = lv__get_u32(lb);
	if (len != e->length) {
		snprintf(w->why, sizeof w->why, "record of %s at offset %llu is %u bytes, the manifest says %u", e->kid,
		         (unsigned long long)e->offset, len, e->length);
		return walk_corrupt(w);
	}
	w->rec.len = 0;
	if (lv__buf_grow(&w->rec, len))
		return lv__run_error(run, LV_E_NOMEM, "out of memory reading a %u-byte record", len);
	uint32_t rcrc;
	if ((rc = lv__in_read_crc(&w->pin, w->rec.data, len, &rcrc)))
		return walk_truncated(w, rc, e);
	w->rec.len = len;
	if (rcrc != e->crc) {
		snprintf(w->why, sizeof w->why, "checksum mismatch in the record of %s at offset %llu", e->kid,
		         (unsigned long long)e->offset);
		return walk_corrupt(w);
	}
	const char *dwhy = NULL;
	if ((rc = lv__record_decode(w->rec.data, len, lic, &w->scratch, &dwhy))) {
		if (rc == LV_E_NOMEM)
			return lv__run_error(run, rc, "out of memory");
		snprintf(w->why, sizeof w->why, "record of %s at offset %llu: %s", e->kid, (unsigned long long)e->offset,
		         dwhy ? dwhy : lv_strerror(rc));
		return walk_corrupt(w);
	}
	if (strcmp(lic->kid, e->kid) != 0) {
		snprintf(w->why, sizeof w->why, "record at offset %llu holds key ID %s, the manifest says %s",
		         (unsigned long long)e->offset, lic->kid, e->kid);
		return walk_corrupt(w);
	}
	run->bytes += 4 + len;
	return 0;
}

/* After the last record: nothing more, and the whole pack's size and checksum. */
static int walk_end(walk *w)
{
	int rc = lv__in_at_end(&w->pin);
	if (rc < 0)
		return rc;
	if (rc == 0) {
		snprintf(w->why, sizeof w->why, "trailing data after byte %llu", (unsigned long long)w->pin.offset);
		return walk_corrupt(w);
	}
	const lv_manifest_hdr *h = &w->set->hdr;
	if (w->pin.offset != h->pack_size || w->pin.crc != h->pack_crc) {
		snprintf(w->why, sizeof w->why,
		         "whole-pack checksum or size mismatch (%llu bytes, CRC-32 %08x; expected %llu, %08x)",
		         (unsigned long long)w->pin.offset, w->pin.crc, (unsigned long long)h->pack_size, h->pack_crc);
		return walk_corrupt(w);
	}
	return 0;
}

int lv__set_walk(lv_set *set, lv_record_cb cb, void *ud)
{
	walk w = {.set = set, .pname = set->hdr.pack_name};
	lv_manifest_reader m;
	int rc = lv__set_manifest_open(set, &m);
	if (rc)
		return rc;
	if (!(rc = walk_open(&w))) {
		lv_manifest_entry e;
		uint64_t index = 0;
		lv_license lic;
		for (;;) {
			rc = lv__manifest_next(&m, &e);
			if (rc <= 0) {
				if (rc)
					lv__set_manifest_fail(set, &m, rc);
				break;
			}
			if ((rc = walk_record(&w, &e, &lic)) || (rc = cb(&lic, index++, ud)))
				break;
		}
		if (!rc)
			rc = walk_end(&w);
	}
	lv__buf_free(&w.rec);
	lv__buf_free(&w.scratch);
	lv__in_free(&w.pin);
	lv__obj_close(&w.psrc);
	lv__manifest_end(&m);
	return rc;
}
