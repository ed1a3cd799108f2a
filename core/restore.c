/*
 * The restore and verify engines.  Restore reads the newest manifest,
 * checks it whole, asks the license service (CONNECTING ... DISCONNECTING),
 * then imports the pack in one store transaction while checking every
 * record's checksum and the whole pack's; the transaction commits only when
 * everything checked out, so a bad backup changes nothing.
 */
#include "internal.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#define READ_CHUNK (1u << 20)

typedef struct obj_src {
	lv_run *run;
	lv_location *loc;
	lv_reader *r;
	const char *name;
} obj_src;

static int src_read(void *p, void *buf, size_t cap, size_t *n)
{
	obj_src *s = p;
	if (lv__run_canceled(s->run))
		return LV_E_CANCELED;
	*n = 0;
	int rc = s->loc->ops->read(s->r, buf, cap, n);
	if (rc)
		return lv__drv_rc(s->run, s->loc, rc, "read", s->name);
	if (*n > cap)
		return lv__run_error(s->run, LV_E_DRIVER_ABI, "driver '%s' returned %zu bytes for a %zu-byte read of %s",
		                     lv__loaded_name(s->loc->drv), *n, cap, s->name);
	return 0;
}

static int open_obj(lv_run *run, lv_location *loc, const char *name, obj_src *s)
{
	s->run = run;
	s->loc = loc;
	s->name = name;
	s->r = NULL;
	int rc = loc->ops->read_open(loc->inst, name, &s->r);
	if (rc == LV_E_NOT_FOUND)
		return lv__run_error(run, LV_E_BACKUP_CORRUPT, "the backup at %s is missing %s", loc->uri, name);
	return lv__drv_rc(run, loc, rc, "open", name);
}

static void close_obj(obj_src *s)
{
	if (s->r)
		s->loc->ops->read_close(s->r);
	s->r = NULL;
}

static int corrupt(lv_run *run, lv_location *loc, const char *obj, const char *why)
{
	return lv__run_error(run, LV_E_BACKUP_CORRUPT, "backup at %s is corrupt: %s: %s", loc->uri, obj, why);
}

/* Open the newest manifest: *name gets its name, and it is checked whole once. */
typedef struct set_ctx {
	lv_run *run;
	lv_location *loc;
	char man_name[64];
	uint64_t man_size;
	lv_manifest_hdr hdr;
	FILE *spool;          /* a local copy of the manifest, read once from the location */
	lv_in *tee_from;      /* while copying: the remote input */
} set_ctx;

/* Read the local copy of the manifest. */
static int spool_read(void *p, void *buf, size_t cap, size_t *n)
{
	set_ctx *sc = p;
	if (lv__run_canceled(sc->run))
		return LV_E_CANCELED;
	*n = fread(buf, 1, cap, sc->spool);
	if (*n == 0 && ferror(sc->spool))
		return lv__run_error(sc->run, LV_E_IO, "cannot read the local copy of the manifest");
	return 0;
}

/* Read the remote manifest and keep a local copy of every byte. */
typedef struct tee_src {
	obj_src *remote;
	FILE *copy;
	int failed;
} tee_src;

static int tee_read(void *p, void *buf, size_t cap, size_t *n)
{
	tee_src *t = p;
	int rc = src_read(t->remote, buf, cap, n);
	if (!rc && *n && fwrite(buf, 1, *n, t->copy) != *n) {
		t->failed = 1;
		return lv__run_error(t->remote->run, LV_E_IO, "cannot write a local copy of the manifest: %s",
		                     strerror(errno));
	}
	return rc;
}

static int manifest_open(set_ctx *sc, lv_manifest_reader *m, obj_src *src)
{
	int rc;
	memset(src, 0, sizeof *src);
	if (sc->spool) {
		if (fseeko(sc->spool, 0, SEEK_SET) != 0)
			return lv__run_error(sc->run, LV_E_IO, "cannot rewind the local copy of the manifest");
		rc = lv__manifest_begin(m, spool_read, sc, sc->man_size);
	} else {
		rc = open_obj(sc->run, sc->loc, sc->man_name, src);
		if (rc)
			return rc;
		rc = lv__manifest_begin(m, src_read, src, sc->man_size);
	}
	if (rc) {
		if (rc == LV_E_BACKUP_CORRUPT && !m->in.failed)
			corrupt(sc->run, sc->loc, sc->man_name, m->why);
		lv__manifest_end(m);
		close_obj(src);
	}
	return rc;
}

static int manifest_fail(set_ctx *sc, lv_manifest_reader *m, int rc)
{
	if (rc == LV_E_BACKUP_CORRUPT && !m->in.failed) /* else the driver described it */
		corrupt(sc->run, sc->loc, sc->man_name, m->why);
	return rc;
}

static int set_open(set_ctx *sc)
{
	lv_run *run = sc->run;
	lv_location *loc = sc->loc;
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
	lv__gen_name(sc->man_name, sizeof sc->man_name, scan.newest_manifest, "manifest");
	lv__set_scan_free(&scan);
	sc->man_size = UINT64_MAX;
	if (loc->ops->stat) {
		lv_object_info info = {0};
		if (loc->ops->stat(loc->inst, sc->man_name, &info) == 0)
			sc->man_size = info.size;
	}
	/* pass 1: the whole manifest, its structure and its checksum, read once from the
	 * location into a local temporary file that the later passes read */
	lv_manifest_reader m;
	obj_src src;
	if ((rc = open_obj(run, loc, sc->man_name, &src)))
		return rc;
	tee_src tee = {&src, tmpfile(), 0};
	if (!tee.copy) {
		close_obj(&src);
		return lv__run_error(run, LV_E_IO, "cannot create a temporary file for the manifest: %s", strerror(errno));
	}
	rc = lv__manifest_begin(&m, tee_read, &tee, sc->man_size);
	lv_manifest_entry e;
	if (!rc)
		while ((rc = lv__manifest_next(&m, &e)) == 1)
			;
	if (rc && !tee.failed)
		rc = manifest_fail(sc, &m, rc);
	sc->hdr = m.hdr;
	lv__manifest_end(&m);
	close_obj(&src);
	if (rc) {
		fclose(tee.copy);
		return rc;
	}
	sc->spool = tee.copy;
	char expect[64];
	lv__gen_name(expect, sizeof expect, sc->hdr.generation, "pack");
	char man_expect[64];
	lv__gen_name(man_expect, sizeof man_expect, sc->hdr.generation, "manifest");
	if (strcmp(sc->hdr.pack_name, expect) != 0 || strcmp(man_expect, sc->man_name) != 0)
		return corrupt(run, loc, sc->man_name, "the manifest names a pack that is not of its own generation");
	return 0;
}

/*
 * Read the pack in step with the manifest (pass 2): every record's length,
 * checksum and key ID, then the whole pack's size and checksum.  cb gets
 * each decoded license and its index.
 */
typedef int (*record_cb)(const lv_license *lic, uint64_t index, void *ud);

static int pack_walk(set_ctx *sc, record_cb cb, void *ud)
{
	lv_run *run = sc->run;
	lv_location *loc = sc->loc;
	lv_manifest_reader m;
	obj_src msrc, psrc = {0};
	lv_in pin = {0};
	lv_buf rec = {0}, scratch = {0};
	int rc = manifest_open(sc, &m, &msrc);
	if (rc)
		return rc;
	const char *pname = sc->hdr.pack_name;
	if ((rc = open_obj(run, loc, pname, &psrc)))
		goto out;
	if ((rc = lv__in_init(&pin, src_read, &psrc, READ_CHUNK)))
		goto out;
	unsigned char hdr[LV_PACK_HEADER_LEN];
	if ((rc = lv__in_read(&pin, hdr, sizeof hdr))) {
		if (rc == LV_E_BACKUP_CORRUPT && !pin.failed) /* not a container driver's own finding */
			corrupt(run, loc, pname, "truncated in its header");
		goto out;
	}
	if (memcmp(hdr, LV_PACK_MAGIC, 8) != 0 || lv__get_u32(hdr + 8) != LV_FORMAT_VERSION) {
		rc = corrupt(run, loc, pname, "not a licvault pack of format version 1");
		goto out;
	}
	lv_manifest_entry e;
	uint64_t index = 0;
	char why[512];
	while ((rc = lv__manifest_next(&m, &e)) == 1) {
		unsigned char lb[4];
		if ((rc = lv__in_read(&pin, lb, 4)))
			goto trunc;
		uint32_t len = lv__get_u32(lb);
		if (len != e.length) {
			snprintf(why, sizeof why, "record of %s at offset %llu is %u bytes, the manifest says %u",
			         e.kid, (unsigned long long)e.offset, len, e.length);
			rc = corrupt(run, loc, pname, why);
			goto out;
		}
		rec.len = 0;
		if ((rc = lv__buf_grow(&rec, len))) {
			rc = lv__run_error(run, LV_E_NOMEM, "out of memory reading a %u-byte record", len);
			goto out;
		}
		uint32_t rcrc;
		if ((rc = lv__in_read_crc(&pin, rec.data, len, &rcrc)))
			goto trunc;
		rec.len = len;
		if (rcrc != e.crc) {
			snprintf(why, sizeof why, "checksum mismatch in the record of %s at offset %llu", e.kid,
			         (unsigned long long)e.offset);
			rc = corrupt(run, loc, pname, why);
			goto out;
		}
		lv_license lic;
		const char *dwhy = NULL;
		if ((rc = lv__record_decode(rec.data, len, &lic, &scratch, &dwhy))) {
			snprintf(why, sizeof why, "record of %s at offset %llu: %s", e.kid,
			         (unsigned long long)e.offset, dwhy ? dwhy : lv_strerror(rc));
			rc = rc == LV_E_NOMEM ? lv__run_error(run, rc, "out of memory") : corrupt(run, loc, pname, why);
			goto out;
		}
		if (strcmp(lic.kid, e.kid) != 0) {
			snprintf(why, sizeof why, "record at offset %llu holds key ID %s, the manifest says %s",
			         (unsigned long long)e.offset, lic.kid, e.kid);
			rc = corrupt(run, loc, pname, why);
			goto out;
		}
		run->bytes += 4 + len;
		if ((rc = cb(&lic, index++, ud)))
			goto out;
	}
	if (rc) {
		rc = manifest_fail(sc, &m, rc);
		goto out;
	}
	if ((rc = lv__in_at_end(&pin)) < 0)
		goto out;
	if (rc == 0) {
		snprintf(why, sizeof why, "trailing data after byte %llu", (unsigned long long)pin.offset);
		rc = corrupt(run, loc, pname, why);
		goto out;
	}
	if (pin.offset != sc->hdr.pack_size || pin.crc != sc->hdr.pack_crc) {
		snprintf(why, sizeof why, "whole-pack checksum or size mismatch (%llu bytes, CRC-32 %08x; expected %llu, %08x)",
		         (unsigned long long)pin.offset, pin.crc, (unsigned long long)sc->hdr.pack_size,
		         sc->hdr.pack_crc);
		rc = corrupt(run, loc, pname, why);
		goto out;
	}
	rc = 0;
	goto out;
trunc:
	if (rc == LV_E_BACKUP_CORRUPT && !pin.failed) {
		snprintf(why, sizeof why, "truncated at byte %llu (record of %s)", (unsigned long long)pin.offset, e.kid);
		corrupt(run, loc, pname, why);
	}
out:
	lv__buf_free(&rec);
	lv__buf_free(&scratch);
	lv__in_free(&pin);
	close_obj(&psrc);
	lv__manifest_end(&m);
	close_obj(&msrc);
	return rc;
}

/* ---- verify -------------------------------------------------------------- */

static int verify_cb(const lv_license *lic, uint64_t index, void *ud)
{
	lv_run *run = ud;
	(void)lic;
	run->done = index + 1;
	lv__run_progress(run, 0);
	return 0;
}

int lv__do_verify(lv_run *run, const char *uri)
{
	lv_location *loc = NULL;
	int rc = lv__location_open(run->ctx, run, uri, LV_OPEN_READ, &loc);
	if (rc)
		return rc;
	set_ctx sc = {.run = run, .loc = loc};
	if (!(rc = set_open(&sc))) {
		run->total = sc.hdr.count;
		rc = pack_walk(&sc, verify_cb, run);
	}
	if (!rc) {
		lv__run_progress(run, 1);
		lv__run_error(run, 0, "backup at %s is whole: %llu licenses, generation %llu",
		              loc->uri, (unsigned long long)sc.hdr.count, (unsigned long long)sc.hdr.generation);
	}
	if (sc.spool)
		fclose(sc.spool);
	lv__location_close(loc);
	return rc;
}

/* ---- restore ------------------------------------------------------------- */

typedef struct import_state {
	lv_run *run;
	lv_store *store;
	unsigned char *decision;   /* per manifest index */
	const char *machine_id;
	uint64_t imported;
} import_state;

static int import_cb(const lv_license *lic, uint64_t index, void *ud)
{
	import_state *st = ud;
	lv_run *run = st->run;
	run->done = index + 1;
	int d = st->decision[index];
	if (d == LV_DECIDE_REFUSE) {
		lv__run_progress(run, 0);
		return 0;
	}
	lv_license l = *lic;
	l.plays_left = l.play_count;  /* a restore resets counted plays */
	if (d == LV_DECIDE_REBIND || !l.machine || !*l.machine)
		l.machine = st->machine_id;
	int rc = st->store->ops->put(st->store->impl, &l, LV_PUT_REPLACE);
	if (rc) {
		if (st->store->is_sqlite)
			lv__run_error(run, LV_E_NOT_ALL_STORED, "license %s could not be stored, nothing was restored: %s",
			              lic->kid, lv__sqlite_store_errmsg(st->store->impl));
		else
			lv__run_error(run, LV_E_NOT_ALL_STORED, "license %s could not be stored (%s), nothing was restored",
			              lic->kid, lv_error_name(rc));
		return LV_E_NOT_ALL_STORED;
	}
	st->imported++;
	lv__run_progress(run, 0);
	return 0;
}

int lv__do_restore(lv_run *run, lv_store *store_in, const char *uri, unsigned flags)
{
	lv_store *store = NULL;
	lv_location *loc = NULL;
	unsigned char *decision = NULL;
	void *session = NULL;
	int connected = 0, in_txn = 0, service_open = 0, locked = 0;
	const lv_service *svc = run->ctx->service;
	lv_service_call call = {0};
	uint64_t refused = 0;
	char new_id[64] = "";
	int rc = lv__store_for_run(store_in, &store, run->errmsg);
	if (rc) {
		run->errcode = rc;
		return rc;
	}
	set_ctx sc = {.run = run};
	if ((rc = lv__location_open(run->ctx, run, uri, LV_OPEN_READ, &loc)))
		goto out;
	sc.loc = loc;
	if ((rc = lv__lock_take(run, loc, "restore", &locked)))
		goto out;
	if ((rc = set_open(&sc)))
		goto out;
	run->total = sc.hdr.count;

	/* the license service decides, between CONNECTING and DISCONNECTING */
	lv__run_emit(run, LV_STATUS_CONNECTING, 0, NULL);
	connected = 1;
	lv_identity id;
	if ((rc = lv_store_identity(store, &id))) {
		rc = lv__run_error(run, rc, "%s", store->errmsg);
		goto out;
	}
	const char *machine = id.machine_id;
	if (!id.individualized) {
		if (!(flags & LV_RESTORE_INDIVIDUALIZE)) {
			rc = lv__run_error(run, LV_E_NEEDS_INDIVIDUALIZATION,
			                   id.other_host ? "this store was individualized on another host; restoring here needs individualization (allow it with the individualize flag: licvault restore --individualize)"
			                                 : "this store has no machine identity yet; restoring needs individualization (allow it with the individualize flag: licvault restore --individualize)");
			goto out;
		}
		if ((rc = lv__identity_new(store, new_id, sizeof new_id))) {
			rc = lv__run_error(run, LV_E_IO, "cannot make a machine identity: no random bytes");
			goto out;
		}
		machine = new_id;
		lv_value v = {.type = LV_TYPE_STRING};
		v.u.str = new_id;
		lv__run_emit(run, LV_STATUS_INDIVIDUALIZE, 0, &v);
	}
	decision = calloc(sc.hdr.count ? sc.hdr.count : 1, 1);
	if (!decision) {
		rc = lv__run_error(run, LV_E_NOMEM, "out of memory for %llu decisions", (unsigned long long)sc.hdr.count);
		goto out;
	}
	call.run = run;
	call.store = store;
	call.loc = loc;
	call.machine_id = machine;
	call.backup_machine_id = sc.hdr.machine_id;
	call.backup_id = sc.hdr.backup_id;
	call.count = sc.hdr.count;
	call.flags = flags;
	run->errcode = 0;
	rc = svc->begin(run->ctx->service_ud, &call, &session);
	service_open = session != NULL; /* end(commit = 0) releases what a failed begin made */
	if (rc) {
		if (!run->errcode)
			lv__run_error(run, rc, "the license service refused the restore: %s", lv_strerror(rc));
		goto out;
	}
	{
		lv_manifest_reader m;
		obj_src msrc;
		if ((rc = manifest_open(&sc, &m, &msrc)))
			goto out;
		lv_manifest_entry e;
		uint64_t i = 0;
		while ((rc = lv__manifest_next(&m, &e)) == 1) {
			int d = LV_DECIDE_REBIND;
			if ((rc = svc->decide(session, &call, e.kid, &d))) {
				if (!run->errcode)
					lv__run_error(run, rc, "the license service failed on %s: %s", e.kid, lv_strerror(rc));
				break;
			}
			if (d != LV_DECIDE_KEEP && d != LV_DECIDE_REBIND && d != LV_DECIDE_REFUSE)
				d = LV_DECIDE_REFUSE;
			decision[i++] = (unsigned char)d;
			if (d == LV_DECIDE_REFUSE) {
				refused++;
				lv_value v = {.type = LV_TYPE_LICENSE};
				v.u.license.kid = e.kid;
				v.u.license.title = NULL;
				lv__run_emit(run, LV_STATUS_REFUSED_LICENSE, LV_E_RESTORE_LIMIT, &v);
			}
		}
		if (rc < 0)
			rc = rc == LV_E_BACKUP_CORRUPT ? manifest_fail(&sc, &m, rc) : rc;
		lv__manifest_end(&m);
		close_obj(&msrc);
		if (rc)
			goto out;
	}
	/* the decision is made: the service is left (DISCONNECTING) and the licenses are
	 * imported; the service records its decision only once the import has checked out */
	lv__run_emit(run, LV_STATUS_DISCONNECTING, 0, NULL);
	connected = 0;

	/* the import: one transaction, committed only when every check passed */
	if ((rc = store->ops->begin(store->impl))) {
		rc = lv__run_error(run, rc == LV_E_BUSY ? LV_E_BUSY : LV_E_NOT_ALL_STORED, "cannot write the store: %s",
		                   store->is_sqlite ? lv__sqlite_store_errmsg(store->impl) : lv_strerror(rc));
		goto out;
	}
	in_txn = 1;
	if (new_id[0] && (rc = lv__store_set_identity(store, new_id))) {
		rc = lv__run_error(run, LV_E_NOT_ALL_STORED, "cannot write the machine identity: %s", store->errmsg);
		goto out;
	}
	import_state st = {run, store, decision, machine, 0};
	run->done = 0;
	run->bytes = 0;
	if ((rc = pack_walk(&sc, import_cb, &st)))
		goto out;
	if (lv__run_canceled(run)) {
		rc = LV_E_CANCELED;
		goto out;
	}
	/* every record checked out: the service records the restore (a failed restore is never
	 * counted); what it writes to the store joins the import's transaction */
	run->errcode = 0;
	rc = svc->end(session, &call, 1);
	service_open = 0;
	if (rc) {
		if (!run->errcode)
			lv__run_error(run, rc, "the license service could not record the restore: %s", lv_strerror(rc));
		goto out;
	}
	if ((rc = store->ops->commit(store->impl))) {
		in_txn = 0;
		rc = lv__run_error(run, LV_E_NOT_ALL_STORED, "cannot commit the restore, nothing was stored: %s",
		                   store->is_sqlite ? lv__sqlite_store_errmsg(store->impl) : lv_strerror(rc));
		goto out;
	}
	in_txn = 0;
	lv__run_progress(run, 1);
	if (refused)
		rc = lv__run_error(run, LV_E_RESTORE_LIMIT,
		                   "%llu of %llu licenses were refused by the license service (restored on too many machines); the other %llu were restored",
		                   (unsigned long long)refused, (unsigned long long)sc.hdr.count,
		                   (unsigned long long)st.imported);
	else
		run->errmsg[0] = '\0';
out:
	if (in_txn)
		store->ops->rollback(store->impl);
	if (service_open)
		svc->end(session, &call, 0);
	if (connected)
		lv__run_emit(run, LV_STATUS_DISCONNECTING, 0, NULL);
	free(decision);
	if (sc.spool)
		fclose(sc.spool);
	lv__lock_release(run, loc, locked);
	lv__location_close(loc);
	lv__store_run_release(store_in, store);
	return rc;
}
