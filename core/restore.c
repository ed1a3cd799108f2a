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
	int rc = lv__location_open(run->ctx, run, NULL, uri, LV_OPEN_READ, &loc);
	if (rc)
		return rc;
	lv_set set = {.run = run, .loc = loc};
	if (!(rc = lv__set_open(&set))) {
		run->total = set.hdr.count;
		rc = lv__set_walk(&set, verify_cb, run);
	}
	if (!rc) {
		lv__run_progress(run, 1);
		lv__run_note(run, "backup at %s is whole: %llu licenses, generation %llu", loc->uri,
		             (unsigned long long)set.hdr.count, (unsigned long long)set.hdr.generation);
		run->result.generation = (int64_t)set.hdr.generation;
	}
	run->result.licenses = set.hdr.count;
	run->result.bytes = run->bytes;
	lv__set_close(&set);
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
		return lv__run_error(run, LV_E_NOT_ALL_STORED, "license %s could not be stored, nothing was restored: %s",
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
		return lv__run_error(run, rc == LV_E_BUSY ? LV_E_BUSY : LV_E_NOT_ALL_STORED, "cannot write the store: %s",
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
		return lv__run_error(run, LV_E_NOT_ALL_STORED, "cannot commit the restore, nothing was stored: %s",
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
	int rc = lv__store_for_run(store_in, &st.store, &run->err);
	if (rc)
		return rc;
	if ((rc = lv__location_open(run->ctx, run, NULL, uri, LV_OPEN_READ, &st.loc)))
		goto out;
	st.set = (lv_set){.run = run, .loc = st.loc};
	if (!(flags & LV_RESTORE_DRY_RUN) && (rc = lv__lock_take(run, st.loc, "restore", &locked)))
		goto out;
	if ((rc = lv__set_open(&st.set)))
		goto out;
	run->total = st.set.hdr.count;
	if ((rc = ask_service(&st)))
		goto out;
	if (flags & LV_RESTORE_DRY_RUN) {
		rc = restore_dry_run(&st);
		goto out;
	}
	if ((rc = import(&st)))
		goto out;
	lv__run_progress(run, 1);
	if (st.refused)
		rc = lv__run_error(run, LV_E_RESTORE_LIMIT,
		                   "%llu of %llu licenses were refused by the license service (restored on too many machines); the other %llu were restored",
		                   (unsigned long long)st.refused, (unsigned long long)st.set.hdr.count,
		                   (unsigned long long)st.imported);
out:
	run->result.licenses = st.set.hdr.count;
	run->result.refused = st.refused;
	run->result.restored = st.imported;
	run->result.bytes = run->bytes;
	if (!rc || rc == LV_E_RESTORE_LIMIT)
		run->result.generation = (int64_t)st.set.hdr.generation;
	restore_cleanup(&st);
	free(st.decision);
	lv__set_close(&st.set);
	lv__lock_release(run, st.loc, locked);
	lv__location_close(st.loc);
	lv__store_run_release(store_in, st.store);
	return rc;
}
