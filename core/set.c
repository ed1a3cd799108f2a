/*
 * The backup set at a location: scanning a location's objects for
 * generations, and reading one set (docs/backup-format.md).  Restore reads
 * the manifest once from the location into a local copy, checked whole;
 * then the pack in step with that copy, checking every record, so a
 * damaged backup is found before the store changes.
 */
#include "set.h"

#include <stdio.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#define READ_CHUNK (1u << 20)

/* ---- scanning ----------------------------------------------------------- */

static int valid_object_name(const char *n)
{
	size_t l = strnlen(n, 256);
	return l > 0 && l < 256 && !strchr(n, '/') && strcmp(n, ".") && strcmp(n, "..");
}

struct scan_state {
	lv_set_scan *s;
	int bad;
};

static int scan_cb(const lv_object_info *info, void *ud)
{
	struct scan_state *st = ud;
	lv_set_scan *s = st->s;
	if (!info || !info->name || !valid_object_name(info->name)) {
		st->bad = 1;
		return 1;
	}
	uint64_t gen;
	const char *ext;
	if (!lv__gen_parse(info->name, &gen, &ext))
		return 0;
	s->n_objects++;
	if (gen > s->newest_any)
		s->newest_any = gen;
	if (!strcmp(ext, "manifest") && gen >= s->newest_manifest) {
		s->newest_manifest = gen;
		s->has_manifest = 1;
	}
	char **n = realloc(s->old, (s->n_old + 1) * sizeof *n);
	if (!n)
		return LV_E_NOMEM;
	s->old = n;
	if (!(n[s->n_old] = strdup(info->name)))
		return LV_E_NOMEM;
	s->n_old++;
	return 0;
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
	}
	else
		rc = lv__drv_rc(run, loc, rc, "list", "objects");
	if (rc)
		lv__set_scan_free(out);
	return rc;
}

void lv__set_scan_free(lv_set_scan *s)
{
	for (size_t i = 0; i < s->n_old; i++)
		free(s->old[i]);
	free(s->old);
	memset(s, 0, sizeof *s);
}


/* ---- objects ------------------------------------------------------------ */

int lv__obj_read(void *p, void *buf, size_t cap, size_t *n)
{
	lv_obj_src *s = p;
	if (lv__run_canceled(s->run))
		return LV_E_CANCELED;
	*n = 0;
	int rc = s->loc->ops->read(s->r, buf, cap, n);
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
	int rc = lv__manifest_begin(m, spool_read, set, set->man_size);
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

/* The newest manifest's name and size (UINT64_MAX when the driver cannot tell). */
static int find_newest(lv_set *set)
{
	lv_run *run = set->run;
	lv_location *loc = set->loc;
	lv_set_scan scan;
	int rc = lv__set_scan(run, loc, &scan);
	if (rc)
		return rc;
	if (!scan.has_manifest) {
		rc = scan.n_objects
		         ? lv__run_error(run, LV_E_BACKUP_CORRUPT,
		                         "the backup at %s has no manifest (%d object%s of an interrupted or damaged backup)",
		                         loc->uri, scan.n_objects, scan.n_objects == 1 ? "" : "s")
		         : lv__run_error(run, LV_E_NOT_FOUND, "no backup at %s", loc->uri);
		lv__set_scan_free(&scan);
		return rc;
	}
	lv__gen_name(set->man_name, sizeof set->man_name, scan.newest_manifest, "manifest");
	lv__set_scan_free(&scan);
	set->man_size = UINT64_MAX;
	lv_object_info info = {0};
	lv_err saved;
	lv__err_save(&run->err, &saved);
	if (loc->ops->stat && loc->ops->stat(loc->inst, set->man_name, &info) == 0)
		set->man_size = info.size;
	lv__err_restore(&run->err, &saved); /* the size is a hint: read it when it cannot be had */
	return 0;
}

int lv__set_open(lv_set *set)
{
	lv_run *run = set->run;
	lv_location *loc = set->loc;
	int rc = find_newest(set);
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
	rc = lv__manifest_begin(&m, tee_read, &tee, set->man_size);
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
	char expect[64], man_expect[64];
	lv__gen_name(expect, sizeof expect, set->hdr.generation, "pack");
	lv__gen_name(man_expect, sizeof man_expect, set->hdr.generation, "manifest");
	if (strcmp(set->hdr.pack_name, expect) != 0 || strcmp(man_expect, set->man_name) != 0)
		return lv__set_corrupt(run, loc, set->man_name, "the manifest names a pack that is not of its own generation");
	return 0;
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
