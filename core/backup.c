/*
 * The backup engine: streams the store's licenses (one snapshot, key ID
 * order) into a pack, then writes the manifest, the commit point.  Objects
 * are write-once generations: nothing is ever renamed over an existing
 * object, and the older generation is removed only after the new manifest
 * is published (docs/backup-format.md).
 */
#include "backup.h"

#include "confcheck.h"

#include "license.h"
#include "lock.h"
#include "set.h"

#include <stdio.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <zlib.h>

#define WRITE_CHUNK (1u << 20)   /* 1 MiB per driver write: large calls are fast over SFTP */

/*
 * The pack's writes run on a writer thread, so that encoding the next
 * megabyte overlaps the driver writing this one (over SFTP the two are of
 * the same order).  Two buffers: the one being filled and the one being
 * written.  The driver instance is used by one thread at a time: the
 * writer thread while the pack streams, then the run's thread again.
 */
typedef struct pipe_writer {
	lv_run *run;
	lv_location *loc;
	lv_writer *w;
	const char *name;
	pthread_t thread;
	int started;
	pthread_mutex_t m;
	pthread_cond_t cv;
	lv_buf pending;          /* handed to the thread */
	int has_pending, stop, rc;
} pipe_writer;

static void *pw_main(void *arg)
{
	pipe_writer *pw = arg;
	pthread_mutex_lock(&pw->m);
	for (;;) {
		while (!pw->has_pending && !pw->stop)
			pthread_cond_wait(&pw->cv, &pw->m);
		if (!pw->has_pending)
			break;
		pthread_mutex_unlock(&pw->m);
		int rc = pw->rc ? 0 : pw->loc->ops->write(pw->w, pw->pending.data, pw->pending.len);
		if (rc)
			rc = lv__drv_rc(pw->run, pw->loc, rc, "write", pw->name);
		else if (!pw->rc)
			rc = lv__lock_refresh(pw->run); /* this thread has the instance now */
		pthread_mutex_lock(&pw->m);
		if (rc && !pw->rc)
			pw->rc = rc;
		pw->pending.len = 0;
		pw->has_pending = 0;
		pthread_cond_broadcast(&pw->cv);
	}
	pthread_mutex_unlock(&pw->m);
	return NULL;
}

static int pw_start(pipe_writer *pw)
{
	pthread_mutex_init(&pw->m, NULL);
	pthread_cond_init(&pw->cv, NULL);
	if (pthread_create(&pw->thread, NULL, pw_main, pw) != 0)
		return lv__run_error(pw->run, LV_E_NOMEM, "cannot start the writer thread");
	pw->started = 1;
	return 0;
}

/* Hand *out to the writer; *out comes back empty (the buffer it wrote last). */
static int pw_submit(pipe_writer *pw, lv_buf *out)
{
	pthread_mutex_lock(&pw->m);
	while (pw->has_pending && !pw->rc)
		pthread_cond_wait(&pw->cv, &pw->m);
	int rc = pw->rc;
	if (!rc) {
		lv_buf t = pw->pending;
		pw->pending = *out;
		*out = t;
		out->len = 0;
		pw->has_pending = 1;
		pthread_cond_broadcast(&pw->cv);
	}
	pthread_mutex_unlock(&pw->m);
	return rc;
}

/* Wait for every write; the instance is the caller's again. */
static int pw_finish(pipe_writer *pw)
{
	if (!pw->started)
		return pw->rc;
	pthread_mutex_lock(&pw->m);
	pw->stop = 1;
	pthread_cond_broadcast(&pw->cv);
	pthread_mutex_unlock(&pw->m);
	pthread_join(pw->thread, NULL);
	pw->started = 0;
	pthread_mutex_destroy(&pw->m);
	pthread_cond_destroy(&pw->cv);
	lv__buf_free(&pw->pending);
	return pw->rc;
}

typedef struct backup_state {
	lv_run *run;
	lv_location *loc;
	lv_writer *w;
	pipe_writer pw;
	uint64_t gen;            /* the generation being written */
	char pack_name[64], man_name[64];
	int pack_committed;      /* the pack may be published: remove it if the set fails */
	lv_buf out;              /* pending pack bytes */
	lv_buf rec;              /* the record being encoded */
	uint64_t offset;         /* pack bytes so far */
	uint64_t man_bytes;      /* manifest bytes written */
	uint32_t pack_crc;
	FILE *spool;             /* manifest entries, written after the pack */
	uint64_t count, restricted;
	int rc;
	int manifest_maybe_published; /* its commit failed and it could not be taken back */
} backup_state;

static int flush_out(backup_state *b)
{
	return b->out.len ? pw_submit(&b->pw, &b->out) : 0;
}

/*
 * The start of each license of a backup or a dry run: 1 when the license
 * is restricted (named in an event, counted, not written), 0 to go on,
 * -1 when the run was canceled (b->rc says so).
 */
static int license_first(backup_state *b, const lv_license *lic)
{
	lv_run *run = b->run;
	if (lv__run_canceled(run)) {
		b->rc = LV_E_CANCELED;
		return -1;
	}
	run->done++;
	if (lic->rights & LV_RIGHT_BACKUP)
		return 0;
	lv_value v = {.type = LV_TYPE_LICENSE};
	v.u.license.kid = lic->kid;
	v.u.license.title = lic->title;
	lv__run_emit(run, LV_STATUS_RESTRICTED_LICENSE, 0, &v);
	b->restricted++;
	return 1;
}

static int backup_one(const lv_license *lic, void *ud)
{
	backup_state *b = ud;
	lv_run *run = b->run;
	int first = license_first(b, lic);
	if (first < 0)
		return b->rc;
	if (first) {
		lv__run_progress(run, 0);
		return 0;
	}
	const char *why;
	if (lv_license_validate(lic, &why)) {
		lv__run_error(run, LV_E_CORRUPT, "license %s in the store is invalid: %s", lic->kid ? lic->kid : "?", why);
		return b->rc = LV_E_CORRUPT;
	}
	b->rec.len = 0;
	int rc = lv__buf_put(&b->rec, "\0\0\0\0", 4);
	if (!rc)
		rc = lv__record_encode(&b->rec, lic);
	if (rc)
		return b->rc = lv__run_error(run, LV_E_NOMEM, "out of memory encoding license %s", lic->kid);
	uint32_t len = (uint32_t)(b->rec.len - 4);
	lv__put_u32(b->rec.data, len);
	lv_manifest_entry e;
	snprintf(e.kid, sizeof e.kid, "%s", lic->kid);
	e.offset = b->offset;
	e.length = len;
	e.crc = (uint32_t)crc32(0L, b->rec.data + 4, len);
	/* the record's CRC folded into the pack's: each byte is summed once */
	b->pack_crc = (uint32_t)crc32_combine(crc32(b->pack_crc, b->rec.data, 4), e.crc, (z_off_t)len);
	b->offset += b->rec.len;
	unsigned char ent[2 + LV_KID_MAX + 16];
	lv_buf eb = {ent, 0, sizeof ent};
	lv__manifest_put_entry(&eb, &e);
	if (fwrite(ent, 1, eb.len, b->spool) != eb.len)
		return b->rc = lv__run_error(run, errno == ENOSPC ? LV_E_NO_SPACE : LV_E_IO,
		                             "cannot write the manifest spool in the temporary directory: %s",
		                             strerror(errno));
	if (lv__buf_put(&b->out, b->rec.data, b->rec.len))
		return b->rc = lv__run_error(run, LV_E_NOMEM, "out of memory");
	if (b->out.len >= WRITE_CHUNK && (rc = flush_out(b)))
		return b->rc = rc;
	b->count++;
	run->bytes += b->rec.len;
	lv__run_progress(run, 0);
	return 0;
}

/* Write the manifest object: header, the spooled entries, the trailer. */
static int write_manifest(backup_state *b, const char *name, const lv_manifest_hdr *h)
{
	lv_run *run = b->run;
	lv_location *loc = b->loc;
	uint64_t spool_len = (uint64_t)ftello(b->spool);
	lv_writer *w = NULL;
	int rc = loc->ops->write_begin(loc->inst, name, spool_len + 512, &w);
	if (rc)
		return lv__drv_rc(run, loc, rc, "begin writing", name);
	lv_buf buf = {0};
	uint32_t crc = (uint32_t)crc32(0L, Z_NULL, 0);
	rc = lv__manifest_put_header(&buf, h);
	if (rc)
		goto nomem;
	if (fflush(b->spool) != 0 || fseeko(b->spool, 0, SEEK_SET) != 0) {
		rc = lv__run_error(run, LV_E_IO, "cannot read back the manifest spool: %s", strerror(errno));
		goto fail;
	}
	for (;;) {
		if (lv__buf_grow(&buf, WRITE_CHUNK))
			goto nomem;
		size_t n = fread(buf.data + buf.len, 1, WRITE_CHUNK, b->spool);
		buf.len += n;
		if (n == 0 || buf.len >= WRITE_CHUNK) {
			if (n == 0) {
				if (ferror(b->spool)) {
					rc = lv__run_error(run, LV_E_IO, "cannot read back the manifest spool");
					goto fail;
				}
				crc = (uint32_t)crc32(crc, buf.data, (uInt)buf.len);
				if (lv__manifest_put_trailer(&buf, crc))
					goto nomem;
			} else
				crc = (uint32_t)crc32(crc, buf.data, (uInt)buf.len);
			b->man_bytes += buf.len;
			if (buf.len && (rc = loc->ops->write(w, buf.data, buf.len))) {
				rc = lv__drv_rc(run, loc, rc, "write", name);
				goto fail;
			}
			buf.len = 0;
			if (n == 0)
				break;
		}
		if (lv__run_canceled(run)) {
			rc = LV_E_CANCELED;
			goto fail;
		}
	}
	lv__buf_free(&buf);
	rc = loc->ops->commit(w, 0);
	if (rc == LV_E_EXISTS) {
		lv__err_clear(&run->err); /* the driver's "exists" is a race with another backup */
		return lv__run_error(run, LV_E_BUSY,
		                     "another backup to %s published %s first; run again", loc->uri, name);
	}
	if (rc) {
		/* a failed commit may still have published (the rename went through, its directory
		 * fsync or the server's reply failed): take the manifest back, or the set stands */
		rc = lv__drv_rc(run, loc, rc, "commit", name);
		int r = loc->ops->remove ? loc->ops->remove(loc->inst, name) : LV_E_UNSUPPORTED;
		if (r && r != LV_E_NOT_FOUND)
			b->manifest_maybe_published = 1;
	}
	return rc;
nomem:
	rc = lv__run_error(run, LV_E_NOMEM, "out of memory writing the manifest");
fail:
	lv__buf_free(&buf);
	loc->ops->abort(w);
	return rc;
}

/* A set object whose generation is out of range: never a base for the next number. */
static int check_strays(lv_run *run, lv_location *loc, const lv_set_scan *scan)
{
	if (!scan->n_strays)
		return 0;
	return lv__run_error(run, LV_E_BACKUP_CORRUPT,
	                     "%s at %s looks like a backup object but its generation number is out of range (1 to %llu); licvault never writes such a name: remove it, then back up again",
	                     scan->strays[0], loc->uri, (unsigned long long)LV_GEN_MAX);
}

/* Lock the location, put right what a dead run left, look at what it holds, name the new generation. */
static int backup_prepare(backup_state *b, lv_set_scan *scan, unsigned flags, int *locked)
{
	lv_run *run = b->run;
	lv_location *loc = b->loc;
	int rc = lv__lock_take(run, loc, "backup", locked);
	if (!rc)
		rc = lv__set_scan(run, loc, scan);
	if (rc || (rc = check_strays(run, loc, scan)))
		return rc;
	lv__set_tidy(run, loc, scan);
	const lv_gen *newest = lv__scan_newest(scan);
	if (newest && !(flags & LV_BACKUP_OVERWRITE))
		return lv__run_error(run, LV_E_BACKUP_EXISTS,
		                     "a backup is already at %s (generation %llu); add a new generation with the overwrite flag (licvault backup --overwrite)",
		                     loc->uri, (unsigned long long)newest->gen);
	b->gen = scan->newest_any + 1;
	if (b->gen > LV_GEN_MAX)
		return lv__run_error(run, LV_E_BACKUP_CORRUPT, "%s: the generation numbers are used up (%llu)", loc->uri,
		                     (unsigned long long)scan->newest_any);
	lv__gen_name(b->pack_name, sizeof b->pack_name, b->gen, "pack", 2);
	lv__gen_name(b->man_name, sizeof b->man_name, b->gen, "manifest", 2);
	return 0;
}

/*
 * BACKUP_SHRINK: a backup of no license, or of fewer than half the licenses
 * of the newest generation there, replaces good backups with a worse one
 * (an emptied or damaged store): only when the caller says so.
 */
static int check_shrink(backup_state *b, const lv_set_scan *scan, unsigned flags)
{
	if (flags & LV_BACKUP_ALLOW_SHRINK)
		return 0;
	lv_run *run = b->run;
	const lv_gen *newest = lv__scan_newest(scan);
	lv_manifest_hdr h = {0};
	if (newest) {
		lv_err saved;
		lv__err_save(&run->err, &saved);
		int rc = lv__set_read_header(run, b->loc, newest, &h);
		if (rc == LV_E_BACKUP_CORRUPT) {
			h.count = 0; /* a damaged newest generation is no measure */
			lv__err_restore(&run->err, &saved);
		} else if (rc)
			return rc; /* the newest cannot be read: no measure, so no backup over it */
	}
	if (b->count && b->count * 2 >= h.count)
		return 0;
	if (!b->count)
		return lv__run_error(run, LV_E_BACKUP_SHRINK,
		                     "the store has no license to back up%s%s; nothing was written (back it up anyway with the allow-shrink flag: licvault backup --allow-shrink)",
		                     newest ? ", and the newest backup at the location holds " : "",
		                     newest ? "licenses" : "");
	return lv__run_error(run, LV_E_BACKUP_SHRINK,
	                     "this backup would hold %llu licenses, fewer than half of the %llu of generation %llu at %s; nothing was written (back it up anyway with the allow-shrink flag: licvault backup --allow-shrink)",
	                     (unsigned long long)b->count, (unsigned long long)h.count,
	                     (unsigned long long)newest->gen, b->loc->uri);
}

/* Stream every license into the pack through the writer thread, then commit the pack. */
static int write_pack(backup_state *b, lv_store *store)
{
	lv_run *run = b->run;
	lv_location *loc = b->loc;
	if (store->ops.count(store->impl, &run->total))
		run->total = 0;
	if (!(b->spool = tmpfile()))
		return lv__run_error(run, LV_E_IO, "cannot create a temporary file for the manifest: %s", strerror(errno));
	/* the space the pack will need, at most: the store's own size is a fair bound */
	int rc = loc->ops->write_begin(loc->inst, b->pack_name, lv__store_size(store), &b->w);
	if (rc) {
		b->w = NULL;
		return lv__drv_rc(run, loc, rc, "begin writing", b->pack_name);
	}
	b->pw = (pipe_writer){.run = run, .loc = loc, .w = b->w, .name = b->pack_name};
	if ((rc = pw_start(&b->pw)))
		return rc;
	unsigned char hdr[LV_PACK_HEADER_LEN];
	memcpy(hdr, LV_PACK_MAGIC, 8);
	lv__put_u32(hdr + 8, LV_FORMAT_VERSION);
	lv__put_u32(hdr + 12, 0);
	b->pack_crc = (uint32_t)crc32(0L, hdr, sizeof hdr);
	b->offset = sizeof hdr;
	if (lv__buf_put(&b->out, hdr, sizeof hdr))
		return lv__run_error(run, LV_E_NOMEM, "out of memory");
	lv__run_progress(run, 1);
	rc = store->ops.foreach(store->impl, backup_one, b);
	if (!rc)
		rc = flush_out(b);
	int wrc = pw_finish(&b->pw); /* every write done: the instance is ours again */
	if (!rc)
		rc = wrc;
	if (rc) {
		/* ours or the writer's are described; the store's message when it failed */
		char why[256];
		return lv__run_error(run, lv__err_valid(rc) ? rc : LV_E_IO, "%s",
		                     lv__store_why(store, rc, "reading the store failed", why, sizeof why));
	}
	if (lv__run_canceled(run))
		return LV_E_CANCELED;
	lv_writer *w = b->w;
	b->w = NULL;
	rc = loc->ops->commit(w, 0);
	if (rc == LV_E_EXISTS) {
		lv__err_clear(&run->err); /* the driver's "exists" is a race with another backup */
		return lv__run_error(run, LV_E_BUSY, "another backup to %s is writing generation %llu; run again",
		                     loc->uri, (unsigned long long)b->gen);
	}
	b->pack_committed = 1; /* even when the commit failed: it may have published; removed on failure */
	return lv__drv_rc(run, loc, rc, "commit", b->pack_name);
}

/* Write the manifest: the set is published. */
static int publish(backup_state *b, lv_store *store)
{
	lv_manifest_hdr h = {0};
	h.generation = b->gen;
	h.created = (int64_t)time(NULL);
	h.count = b->count;
	h.restricted = b->restricted;
	h.pack_size = b->offset;
	h.pack_crc = b->pack_crc;
	unsigned char rnd[16];
	if (lv__random(rnd, sizeof rnd))
		return lv__run_error(b->run, LV_E_IO, "no random bytes for the backup id");
	lv__hex(h.backup_id, rnd, sizeof rnd);
	lv_identity id;
	if (lv_store_identity(store, &id) == 0)
		snprintf(h.machine_id, sizeof h.machine_id, "%s", id.machine_id);
	snprintf(h.pack_name, sizeof h.pack_name, "%s", b->pack_name);
	if (gethostname(h.host, sizeof h.host - 1) != 0)
		h.host[0] = '\0';
	for (char *p = h.host; *p; p++) /* the manifest's rule for its strings */
		if ((unsigned char)*p < 0x20 || (unsigned char)*p > 0x7e || *p == '/')
			*p = '?';
	int rc = write_manifest(b, b->man_name, &h);
	if (rc && b->manifest_maybe_published)
		b->pack_committed = 0; /* the manifest may stand: its pack must too */
	if (!rc)
		b->pack_committed = 0; /* the set is published: keep it */
	return rc;
}

/*
 * The size of object name at the location (stat, else a listing): 0 when
 * it is absent, UINT64_MAX when the driver cannot tell.  A failure of the
 * driver fails the check (described).
 */
static int stored_size(backup_state *b, const char *name, uint64_t *size)
{
	lv_run *run = b->run;
	lv_location *loc = b->loc;
	lv_object_info info = {0};
	*size = UINT64_MAX;
	if (loc->ops->stat) {
		lv_err saved;
		lv__err_save(&run->err, &saved);
		int rc = loc->ops->stat(loc->inst, name, &info);
		if (rc == LV_E_NOT_FOUND || rc == LV_E_UNSUPPORTED)
			lv__err_restore(&run->err, &saved);
		if (!rc) {
			*size = info.size;
			return 0;
		}
		if (rc == LV_E_NOT_FOUND) {
			*size = 0;
			return 0;
		}
		if (rc != LV_E_UNSUPPORTED)
			return lv__drv_rc(run, loc, rc, "stat", name);
	}
	lv_set_scan scan;
	int rc = lv__set_scan(run, loc, &scan);
	if (rc)
		return rc;
	const lv_gen *g = lv__scan_find(&scan, b->gen);
	int pack = strstr(name, ".pack") != NULL;
	*size = !g || !(pack ? g->has_pack : g->has_manifest) ? 0 : pack ? g->pack_size : g->manifest_size;
	lv__set_scan_free(&scan);
	return 0;
}

static int verify_cb(const lv_license *lic, uint64_t index, void *ud)
{
	(void)lic;
	(void)index;
	return lv__run_canceled(ud) ? LV_E_CANCELED : 0;
}

/*
 * Before any older generation goes: the new set is whole at the location.
 * Its objects hold the bytes sent (a server may acknowledge writes it did
 * not store); with verify_after_backup, every checksum read back.
 */
static int check_new_set(backup_state *b, int verify)
{
	lv_run *run = b->run;
	const char *names[2] = {b->man_name, b->pack_name};
	uint64_t sent[2] = {b->man_bytes, b->offset};
	for (int i = 0; i < 2; i++) {
		uint64_t got;
		int rc = stored_size(b, names[i], &got);
		if (rc)
			return rc;
		if (got != UINT64_MAX && got != sent[i])
			return lv__run_error(run, LV_E_IO,
			                     "%s at %s holds %llu bytes, %llu were written: the location did not store what it acknowledged; the older generations are kept",
			                     names[i], b->loc->uri, (unsigned long long)got, (unsigned long long)sent[i]);
	}
	if (!verify)
		return 0;
	lv_set set = {.run = run, .loc = b->loc, .want = b->gen};
	uint64_t bytes = run->bytes;
	int rc = lv__set_open(&set);
	if (!rc)
		rc = lv__set_walk(&set, verify_cb, run);
	lv__set_close(&set);
	run->bytes = bytes;
	return rc;
}

/* After a failed check: the new generation goes, so the newest at the location is a whole one. */
static void drop_new_set(backup_state *b)
{
	lv_gen g = {.gen = b->gen, .format = 2, .has_manifest = 1, .has_pack = 1};
	lv_err saved;
	lv__err_save(&b->run->err, &saved);
	lv__set_remove_gen(b->run, b->loc, &g);
	lv__err_restore(&b->run->err, &saved);
}

/*
 * Packs without a manifest older than the oldest generation left (a prune
 * cut short, or a first backup that never published) go with the prune.
 */
static void prune_orphans(backup_state *b, const lv_set_scan *scan, uint64_t oldest)
{
	for (size_t i = 0; i < scan->n_gens; i++) {
		const lv_gen *g = &scan->gens[i];
		if (g->has_manifest || !g->has_pack || g->gen >= oldest)
			continue;
		lv_err saved;
		lv__err_save(&b->run->err, &saved);
		lv__err_clear(&b->run->err);
		if (lv__set_remove_gen(b->run, b->loc, g) == 0) {
			lv__log(b->run->ctx, LV_LOG_INFO, "removed the pack of generation %llu at %s, which had no manifest",
			        (unsigned long long)g->gen, b->loc->uri);
		} else {
			char why[LV_ERRMSG_MAX];
			snprintf(why, sizeof why, "%s", b->run->err.msg);
			lv__run_note(b->run, "backed up as generation %llu; the pack of generation %llu (it has no manifest) was left: %s",
			             (unsigned long long)b->gen, (unsigned long long)g->gen, why);
			lv__log(b->run->ctx, LV_LOG_WARN, "%s", b->run->note);
		}
		lv__err_restore(&b->run->err, &saved);
	}
}

/*
 * The new set is whole: keep the newest `keep` generations (the new one
 * among them), remove the older ones, oldest first, each manifest before its
 * pack.  A removal that fails stops the prune: what is left is said.
 */
static void prune(backup_state *b, const lv_set_scan *scan, int64_t keep)
{
	lv_run *run = b->run;
	size_t have = lv__scan_count(scan) + 1; /* the older generations and the new one */
	uint64_t oldest = b->gen;
	for (size_t i = 0; i < scan->n_gens; i++) {
		const lv_gen *g = &scan->gens[i];
		if (!g->has_manifest || g->gen >= b->gen)
			continue;
		if ((int64_t)have <= keep) {
			oldest = g->gen < oldest ? g->gen : oldest;
			continue;
		}
		lv_err saved;
		lv__err_save(&run->err, &saved);
		lv__err_clear(&run->err);
		int rc = lv__set_remove_gen(run, b->loc, g);
		char why[LV_ERRMSG_MAX];
		snprintf(why, sizeof why, "%s", run->err.msg);
		lv__err_restore(&run->err, &saved);
		if (rc) {
			lv__run_note(run, "backed up as generation %llu; pruning stopped: %s; %zu generations are left at %s (keep = %lld)",
			             (unsigned long long)b->gen, why, have, b->loc->uri, (long long)keep);
			lv__log(run->ctx, LV_LOG_WARN, "%s", run->note);
			return;
		}
		lv__log(run->ctx, LV_LOG_INFO, "pruned generation %llu at %s (keep = %lld)", (unsigned long long)g->gen,
		        b->loc->uri, (long long)keep);
		have--;
	}
	prune_orphans(b, scan, oldest);
}

/* The core's values for this location: keep, verify_after_backup. */
static int backup_settings(backup_state *b, int64_t *keep, int *verify)
{
	lv_config_value v;
	const char *lname = b->loc->hctx->location_name;
	int rc = lv__core_value(b->run->ctx, lname, "keep", &v, &b->run->err);
	*keep = v.number;
	if (!rc)
		rc = lv__core_value(b->run->ctx, lname, "verify_after_backup", &v, &b->run->err);
	*verify = (int)v.number;
	return rc;
}

/* After a failure: drop what was begun, without touching the recorded failure. */
static void backup_cleanup(backup_state *b)
{
	lv_location *loc = b->loc;
	lv_err saved;
	lv__err_save(&b->run->err, &saved);
	pw_finish(&b->pw);
	if (b->w)
		loc->ops->abort(b->w);
	if (b->pack_committed && loc->ops->remove)
		loc->ops->remove(loc->inst, b->pack_name); /* an orphan pack: not part of any set */
	lv__err_restore(&b->run->err, &saved);
}

/* Count what a backup would write, without writing: the store's licenses, the restricted named. */
static int dry_one(const lv_license *lic, void *ud)
{
	backup_state *b = ud;
	lv_run *run = b->run;
	int first = license_first(b, lic);
	if (first < 0)
		return b->rc;
	if (!first) {
		b->count++;
		run->bytes += 4 + lv__license_size(lic);
	}
	lv__run_progress(run, 0);
	return 0;
}

/* LV_BACKUP_DRY_RUN: read the location and the store, write nothing, take no lock. */
static int backup_dry_run(backup_state *b, lv_store *store, unsigned flags)
{
	lv_run *run = b->run;
	lv_set_scan scan;
	int rc = lv__set_scan(run, b->loc, &scan);
	if (rc)
		return rc;
	const lv_gen *ng = lv__scan_newest(&scan);
	uint64_t newest = ng ? ng->gen : 0, next = scan.newest_any + 1;
	int exists = ng != NULL;
	if (exists && !(flags & LV_BACKUP_OVERWRITE))
		rc = lv__run_error(run, LV_E_BACKUP_EXISTS,
		                   "a backup is already at %s (generation %llu); add a new generation with the overwrite flag (licvault backup --overwrite)",
		                   b->loc->uri, (unsigned long long)newest);
	if (!rc && store->ops.count(store->impl, &run->total))
		run->total = 0;
	if (!rc && (rc = store->ops.foreach(store->impl, dry_one, b))) {
		char why[256];
		rc = lv__run_error(run, lv__err_valid(rc) ? rc : LV_E_IO, "%s",
		                   lv__store_why(store, rc, "reading the store failed", why, sizeof why));
	}
	if (!rc)
		rc = check_shrink(b, &scan, flags); /* refused as the real run would be */
	lv__set_scan_free(&scan);
	if (rc)
		return rc;
	lv__run_progress(run, 1);
	b->gen = next;
	char holds[96];
	if (exists)
		snprintf(holds, sizeof holds, "generation %llu", (unsigned long long)newest);
	lv__run_note(run, "dry run: would write generation %llu to %s: %llu licenses (%llu restricted left out), about %llu bytes; it holds %s now",
	             (unsigned long long)next, b->loc->uri, (unsigned long long)b->count,
	             (unsigned long long)b->restricted, (unsigned long long)run->bytes, exists ? holds : "no backup");
	return 0;
}

static int sync_location(backup_state *b)
{
	lv_location *loc = b->loc;
	int rc = loc->ops->sync ? loc->ops->sync(loc->inst) : 0;
	return rc ? lv__drv_rc(b->run, loc, rc, "sync", "") : 0;
}

int lv__do_backup(lv_run *run, lv_store *store_in, const char *uri, unsigned flags)
{
	lv_store *store = NULL;
	lv_set_scan scan = {0};
	backup_state b = {.run = run};
	int locked = 0;
	int rc = lv__store_for_run(store_in, &store, &run->err);
	if (rc)
		return rc;
	int dry = (flags & LV_BACKUP_DRY_RUN) != 0;
	lv__run_protect_store(run, store);
	if ((rc = lv__location_open(run->ctx, run, NULL, uri, dry ? LV_OPEN_READ : LV_OPEN_WRITE, &b.loc)))
		goto out;
	if (dry) {
		rc = backup_dry_run(&b, store, flags);
		goto out;
	}
	int64_t keep;
	int verify;
	if ((rc = backup_settings(&b, &keep, &verify)) || (rc = backup_prepare(&b, &scan, flags, &locked)))
		goto out;
	uint64_t in_store = 1;
	if (!(flags & LV_BACKUP_ALLOW_SHRINK) && store->ops.count(store->impl, &in_store) == 0 && !in_store &&
	    (rc = check_shrink(&b, &scan, flags)))
		goto out; /* an empty store: said before anything is written */
	if ((rc = write_pack(&b, store)) || (rc = check_shrink(&b, &scan, flags)) || (rc = publish(&b, store)))
		goto out;
	/* durable (a bundle is published here), then checked whole, before anything older goes */
	if ((rc = sync_location(&b)) || (rc = check_new_set(&b, verify))) {
		drop_new_set(&b); /* not known whole (or canceled): the newest left is a whole one */
		goto out;
	}
	run->committed = 1; /* the new generation stays: a cancel from now on is too late */
	prune(&b, &scan, keep);
	if ((rc = sync_location(&b)))
		goto out;
	lv__run_progress(run, 1);
	lv__log(run->ctx, LV_LOG_INFO, "backed up %llu licenses (%llu restricted) to %s as %s",
	        (unsigned long long)b.count, (unsigned long long)b.restricted, b.loc->uri, b.man_name);
out:
	run->result.licenses = run->total;
	run->result.written = rc ? 0 : b.count; /* a failed run made no generation */
	run->result.restricted = b.restricted;
	run->result.bytes = run->bytes;
	if (!rc)
		run->result.generation = (int64_t)b.gen;
	if (b.loc) {
		backup_cleanup(&b);
		lv__lock_release(run, b.loc, locked);
	}
	if (b.spool)
		fclose(b.spool);
	lv__buf_free(&b.out);
	lv__buf_free(&b.rec);
	lv__set_scan_free(&scan);
	lv__location_close(b.loc);
	lv__store_run_release(store_in, store);
	return rc;
}
