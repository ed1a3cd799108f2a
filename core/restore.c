/*
 * The restore and verify engines.  Restore reads the newest manifest,
 * checks it whole, asks the license service (CONNECTING ... DISCONNECTING),
 * then imports the pack in one store transaction while checking every
 * record's checksum and the whole pack's; the transaction commits only when
 * everything checked out, so a bad backup changes nothing.
 */
#include "restore.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lock.h"
#include "service.h"
#include "set.h"

/* ---- verify -------------------------------------------------------------- */

static int verify_one(lv_run *run, lv_location *loc, uint64_t want, lv_set *set);

static int verify_cb(const lv_license *lic, uint64_t index, void *ud)
{
	lv_run *run = ud;
	(void)lic;
	run->done = index + 1;
	lv__run_progress(run, 0);
	return 0;
}

int lv__verify_generation(lv_run *run, lv_location *loc, uint64_t want, lv_manifest_hdr *hdr)
{
	lv_set set;
	int rc = verify_one(run, loc, want, &set);
	if (hdr)
		*hdr = set.hdr;
	return rc;
}

/* Check generation `want` (0: the newest) whole; set->hdr tells which was checked. */
static int verify_one(lv_run *run, lv_location *loc, uint64_t want, lv_set *set)
{
	*set = (lv_set){.run = run, .loc = loc, .want = want};
	run->done = 0;
	int rc = lv__set_open(set);
	if (!rc) {
		run->total = set->hdr.count;
		rc = lv__set_walk(set, verify_cb, run);
	}
	lv__set_close(set);
	return rc;
}

/*
 * The newest generation, read consistently: a backup publishing meanwhile
 * (verify takes no lock) may add a generation or prune the one being read.
 * When the newest changed under a failed check, the check runs again on
 * the new newest (a few times): a location is never called corrupt for a
 * generation that was replaced while it was read.
 */
static int verify_newest(lv_run *run, lv_location *loc, lv_set *set)
{
	for (int attempt = 0;; attempt++) {
		lv_err saved;
		lv__err_save(&run->err, &saved);
		int rc = verify_one(run, loc, 0, set);
		if (rc != LV_E_BACKUP_CORRUPT || attempt == 3)
			return rc;
		lv_set_scan scan;
		lv_err failure;
		lv__err_save(&run->err, &failure);
		int changed = 0;
		if (lv__set_scan(run, loc, &scan) == 0) {
			const lv_gen *g = lv__scan_newest(&scan);
			const lv_gen *same = lv__scan_find(&scan, set->want);
			changed = (g && g->gen != set->want) || !same || !same->has_manifest || !same->has_pack;
			lv__set_scan_free(&scan);
		}
		lv__err_restore(&run->err, changed ? &saved : &failure);
		if (!changed)
			return rc;
		lv__log(run->ctx, LV_LOG_INFO, "generation %llu at %s changed while it was read; reading the newest again",
		        (unsigned long long)set->want, loc->uri);
	}
}

/* Every generation, oldest first; the run fails (naming them) when any is damaged. */
static int verify_all(lv_run *run, lv_location *loc)
{
	lv_set_scan scan;
	int rc = lv__set_scan(run, loc, &scan);
	if (rc)
		return rc;
	lv_buf bad = {0}, good = {0};
	size_t n_bad = 0, n = 0;
	lv_err first = {0};
	for (size_t i = 0; i < scan.n_gens && !lv__run_canceled(run); i++) {
		if (!scan.gens[i].has_manifest)
			continue;
		n++;
		lv_err saved;
		lv__err_save(&run->err, &saved);
		lv_set set;
		int r = verify_one(run, loc, scan.gens[i].gen, &set);
		if (r && !n_bad++)
			lv__err_save(&run->err, &first);
		lv__err_restore(&run->err, &saved);
		lv__buf_printf(r ? &bad : &good, "%s%llu", (r ? bad.len : good.len) ? ", " : "",
		               (unsigned long long)scan.gens[i].gen);
	}
	lv__set_scan_free(&scan);
	lv__buf_put(&bad, "", 1);
	lv__buf_put(&good, "", 1);
	if (lv__run_canceled(run))
		rc = LV_E_CANCELED;
	else if (!n)
		rc = lv__run_error(run, LV_E_NOT_FOUND, "no backup at %s", loc->uri);
	else if (n_bad)
		rc = lv__run_error(run, first.code == LV_E_BACKUP_CORRUPT ? LV_E_BACKUP_CORRUPT : first.code,
		                   "%zu of %zu generations at %s are damaged (%s; whole: %s); the first: %s", n_bad, n,
		                   loc->uri, (char *)bad.data, good.len > 1 ? (char *)good.data : "none", first.msg);
	else
		lv__run_note(run, "all %zu generations at %s are whole (%s)", n, loc->uri, (char *)good.data);
	lv__buf_free(&bad);
	lv__buf_free(&good);
	return rc;
}

/*
 * The newest generation is damaged: name the newest older one that
 * verifies, so the user can choose it (there is no silent fallback).
 */
static void suggest_older(lv_run *run, lv_location *loc, uint64_t damaged)
{
	lv_set_scan scan;
	lv_err failure;
	lv__err_save(&run->err, &failure);
	uint64_t found = 0;
	if (lv__set_scan(run, loc, &scan) == 0) {
		for (size_t i = scan.n_gens; i-- > 0 && !found && !lv__run_canceled(run);) {
			const lv_gen *g = &scan.gens[i];
			if (!g->has_manifest || (damaged && g->gen >= damaged))
				continue;
			lv__err_clear(&run->err);
			lv_set set;
			if (verify_one(run, loc, g->gen, &set) == 0)
				found = g->gen;
		}
		lv__set_scan_free(&scan);
	}
	lv__err_clear(&run->err);
	if (found)
		lv__run_error(run, failure.code,
		              "%s; the newest older generation that verifies is %llu: restore it with licvault restore --generation %llu",
		              failure.msg, (unsigned long long)found, (unsigned long long)found);
	else
		lv__err_restore(&run->err, &failure);
}

int lv__do_verify(lv_run *run, const char *uri)
{
	lv_location *loc = NULL;
	int rc = lv__location_open(run->ctx, run, NULL, uri, LV_OPEN_READ, &loc);
	if (rc)
		return rc;
	lv_set set = {0};
	if (run->all_generations)
		rc = verify_all(run, loc);
	else if (run->generation)
		rc = verify_one(run, loc, run->generation, &set);
	else if ((rc = verify_newest(run, loc, &set)) == LV_E_BACKUP_CORRUPT)
		suggest_older(run, loc, set.want);
	if (!rc && !run->all_generations) {
		lv__run_progress(run, 1);
		lv__run_note(run, "backup at %s is whole: %llu licenses, generation %llu", loc->uri,
		             (unsigned long long)set.hdr.count, (unsigned long long)set.hdr.generation);
		run->result.generation = (int64_t)set.hdr.generation;
	}
	run->result.licenses = set.hdr.count;
	run->result.bytes = run->bytes;
	lv__location_close(loc);
	return rc;
}

/* ---- restore ------------------------------------------------------------- */

typedef struct restore_state {
	lv_run *run;
	lv_store *store;           /* the run's handle */
	lv_location *loc;
	lv_set set;
	unsigned flags;
	const lv_service *svc;
	void *session;
	lv_service_call call;
	int connected, in_txn, service_open;
	char new_id[64];           /* a new machine identity, "" when the store keeps its own */
	char machine[64];          /* the identity licenses are bound to */
	unsigned char *decision;   /* per manifest index */
	uint64_t refused, imported;
} restore_state;

static const char *store_msg(restore_state *st, int rc, const char *what)
{
	static __thread char buf[256];
	return lv__store_why(st->store, rc, what, buf, sizeof buf);
}

/* The machine identity to restore under: the store's, or a new one with the flag. */
static int identify(restore_state *st)
{
	lv_run *run = st->run;
	lv_identity id;
	int rc = lv_store_identity(st->store, &id);
	if (rc)
		return lv__run_error(run, rc, "%s", lv_store_last_error(st->store));
	snprintf(st->machine, sizeof st->machine, "%s", id.machine_id);
	if (id.individualized)
		return 0;
	if (!(st->flags & LV_RESTORE_INDIVIDUALIZE))
		return lv__run_error(run, LV_E_NEEDS_INDIVIDUALIZATION, "%s",
		                     id.other_host ? "this store was individualized on another host; restoring here needs individualization (allow it with the individualize flag: licvault restore --individualize)"
		                                   : "this store has no machine identity yet; restoring needs individualization (allow it with the individualize flag: licvault restore --individualize)");
	if (lv__identity_new(st->new_id, sizeof st->new_id))
		return lv__run_error(run, LV_E_IO, "cannot make a machine identity: no random bytes");
	snprintf(st->machine, sizeof st->machine, "%s", st->new_id);
	if (st->flags & LV_RESTORE_DRY_RUN)
		return 0; /* the identity a real restore would make: no event, nothing kept */
	lv_value v = {.type = LV_TYPE_STRING};
	v.u.str = st->new_id;
	lv__run_emit(run, LV_STATUS_INDIVIDUALIZE, 0, &v);
	return 0;
}

/* One decision per license of the manifest, in key ID order. */
static int decide_all(restore_state *st)
{
	lv_run *run = st->run;
	lv_manifest_reader m;
	int rc = lv__set_manifest_open(&st->set, &m);
	if (rc)
		return rc;
	lv_manifest_entry e;
	uint64_t i = 0;
	while ((rc = lv__manifest_next(&m, &e)) == 1) {
		int d = LV_DECIDE_REBIND;
		if ((rc = st->svc->decide(st->session, &st->call, e.kid, &d))) {
			lv__run_error(run, rc, "the license service failed on %s: %s", e.kid, lv_strerror(rc));
			break;
		}
		if (d != LV_DECIDE_KEEP && d != LV_DECIDE_REBIND && d != LV_DECIDE_REFUSE)
			d = LV_DECIDE_REFUSE;
		st->decision[i++] = (unsigned char)d;
		if (d == LV_DECIDE_REFUSE) {
			st->refused++;
			lv_value v = {.type = LV_TYPE_LICENSE};
			v.u.license.kid = e.kid;
			v.u.license.title = NULL;
			lv__run_emit(run, LV_STATUS_REFUSED_LICENSE, LV_E_RESTORE_LIMIT, &v);
		}
	}
	if (rc < 0)
		lv__set_manifest_fail(&st->set, &m, rc);
	lv__manifest_end(&m);
	return rc;
}

/* The license service decides, between CONNECTING and DISCONNECTING. */
static int ask_service(restore_state *st)
{
	lv_run *run = st->run;
	lv__run_emit(run, LV_STATUS_CONNECTING, 0, NULL);
	st->connected = 1;
	int rc = identify(st);
	if (rc)
		return rc;
	uint64_t n = st->set.hdr.count;
	if (!(st->decision = calloc(n ? n : 1, 1)))
		return lv__run_error(run, LV_E_NOMEM, "out of memory for %llu decisions", (unsigned long long)n);
	st->call = (lv_service_call){.run = run, .store = st->store, .loc = st->loc, .machine_id = st->machine,
	                             .backup_machine_id = st->set.hdr.machine_id,
	                             .backup_id = st->set.hdr.backup_id, .count = n, .flags = st->flags};
	rc = st->svc->begin(run->ctx->service_ud, &st->call, &st->session);
	st->service_open = st->session != NULL; /* end(commit = 0) releases what a failed begin made */
	if (rc)
		return lv__run_error(run, rc, "the license service refused the restore: %s", lv_strerror(rc));
	if ((rc = decide_all(st)))
		return rc;
	/* the decision is made: the service is left (DISCONNECTING) and the licenses are
	 * imported; the service records its decision only once the import has checked out */
	lv__run_emit(run, LV_STATUS_DISCONNECTING, 0, NULL);
	st->connected = 0;
	return 0;
}

/* The code of a store failure during the import: a full filesystem stays NO_SPACE, the rest is NOT_ALL_STORED. */
static int import_code(int rc)
{
	return rc == LV_E_NO_SPACE || rc == LV_E_BUSY ? rc : LV_E_NOT_ALL_STORED;
}

static int import_cb(const lv_license *lic, uint64_t index, void *ud)
{
	restore_state *st = ud;
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
		l.machine = st->machine;
	int rc = st->store->ops.put(st->store->impl, &l, LV_PUT_REPLACE);
	if (rc)
		return lv__run_error(run, import_code(rc), "license %s could not be stored, nothing was restored: %s",
		                     lic->kid, store_msg(st, rc, "put"));
	st->imported++;
	lv__run_progress(run, 0);
	return 0;
}

/* The import: one transaction, committed only when every check passed. */
static int import(restore_state *st)
{
	lv_run *run = st->run;
	lv_store *store = st->store;
	int rc = store->ops.begin(store->impl);
	if (rc)
		return lv__run_error(run, import_code(rc), "cannot write the store: %s",
		                     store_msg(st, rc, "begin"));
	st->in_txn = 1;
	if (st->new_id[0] && lv__store_set_identity(store, st->new_id))
		return lv__run_error(run, LV_E_NOT_ALL_STORED, "cannot write the machine identity: %s",
		                     lv_store_last_error(store));
	run->done = 0;
	run->bytes = 0;
	if ((rc = lv__set_walk(&st->set, import_cb, st)))
		return rc;
	if (lv__run_canceled(run))
		return LV_E_CANCELED;
	/* every record checked out: the service records the restore (a failed restore is never
	 * counted); what it writes to the store joins the import's transaction */
	st->service_open = 0;
	if ((rc = st->svc->end(st->session, &st->call, 1)))
		return lv__run_error(run, rc, "the license service could not record the restore: %s", lv_strerror(rc));
	st->in_txn = 0;
	if ((rc = store->ops.commit(store->impl)))
		return lv__run_error(run, import_code(rc), "cannot commit the restore, nothing was stored: %s",
		                     store_msg(st, rc, "commit"));
	return 0;
}

/* Undo what a failed restore began: the transaction, the service's session. */
static void restore_cleanup(restore_state *st)
{
	if (st->in_txn)
		st->store->ops.rollback(st->store->impl);
	if (st->service_open)
		st->svc->end(st->session, &st->call, 0);
	if (st->connected)
		lv__run_emit(st->run, LV_STATUS_DISCONNECTING, 0, NULL);
}

/*
 * LV_RESTORE_DRY_RUN, once the service decided: the backup is checked whole
 * (nothing imported), and the service is told the restore did not happen
 * (end with commit 0, by the cleanup), so it records nothing.
 */
static int dry_cb(const lv_license *lic, uint64_t index, void *ud)
{
	restore_state *st = ud;
	(void)lic;
	st->run->done = index + 1;
	if (st->decision[index] != LV_DECIDE_REFUSE)
		st->imported++;
	lv__run_progress(st->run, 0);
	return 0;
}

static int restore_dry_run(restore_state *st)
{
	lv_run *run = st->run;
	run->done = 0;
	run->bytes = 0;
	int rc = lv__set_walk(&st->set, dry_cb, st);
	if (rc)
		return rc;
	lv__run_note(run, "dry run: would restore %llu of %llu licenses of generation %llu from %s (%llu refused by the license service)%s; nothing was changed or counted",
	             (unsigned long long)st->imported, (unsigned long long)st->set.hdr.count,
	             (unsigned long long)st->set.hdr.generation, st->loc->uri, (unsigned long long)st->refused,
	             st->new_id[0] ? "; the store would be individualized" : "");
	return 0;
}

int lv__do_restore(lv_run *run, lv_store *store_in, const char *uri, unsigned flags)
{
	restore_state st = {.run = run, .flags = flags};
	st.svc = run->ctx->service ? run->ctx->service : &lv__builtin_service;
	int locked = 0;
	int rc = lv__location_open(run->ctx, run, NULL, uri, LV_OPEN_READ, &st.loc);
	if (rc)
		goto out;
	st.set = (lv_set){.run = run, .loc = st.loc, .want = run->generation};
	if (!(flags & LV_RESTORE_DRY_RUN) && (rc = lv__lock_take(run, st.loc, "restore", &locked)))
		goto out;
	st.set.tidy = locked;
	if ((rc = lv__set_open(&st.set)))
		goto out;
	run->total = st.set.hdr.count;
	/* room where the store lies for the backup's licenses, before the store is opened for writing
	 * (on a full filesystem that fails) or the service is asked: NO_SPACE, free and needed */
	if (!(flags & LV_RESTORE_DRY_RUN) && (rc = lv__store_room(store_in, st.set.hdr.pack_size, &run->err)))
		goto out;
	if ((rc = lv__store_for_run(store_in, &st.store, &run->err)))
		goto out;
	if ((rc = ask_service(&st)))
		goto out;
	if (flags & LV_RESTORE_DRY_RUN) {
		rc = restore_dry_run(&st);
		goto out;
	}
	if ((rc = import(&st)))
		goto out;
	run->committed = 1; /* stored: a cancel from now on is too late */
	lv__run_progress(run, 1);
	if (st.refused)
		rc = lv__run_error(run, LV_E_RESTORE_LIMIT,
		                   "%llu of %llu licenses were refused by the license service (restored on too many machines); the other %llu were restored",
		                   (unsigned long long)st.refused, (unsigned long long)st.set.hdr.count,
		                   (unsigned long long)st.imported);
out:
	run->result.licenses = st.set.hdr.count;
	run->result.refused = st.refused;
	/* what the store holds from this run: nothing after a failure, which rolled the import back */
	run->result.restored = !rc || rc == LV_E_RESTORE_LIMIT ? st.imported : 0;
	run->result.bytes = run->bytes;
	if (!rc || rc == LV_E_RESTORE_LIMIT)
		run->result.generation = (int64_t)st.set.hdr.generation;
	restore_cleanup(&st);
	if (rc == LV_E_BACKUP_CORRUPT && !run->generation && st.loc)
		suggest_older(run, st.loc, st.set.want);
	free(st.decision);
	lv__set_close(&st.set);
	lv__lock_release(run, st.loc, locked);
	lv__location_close(st.loc);
	lv__store_run_release(store_in, st.store);
	return rc;
}
