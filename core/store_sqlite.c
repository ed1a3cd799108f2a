/*
 * The default license store: one SQLite file in WAL mode.  Every change is
 * a transaction; a backup reads one snapshot; a restore imports in one
 * transaction.
 */
#include "store_sqlite.h"
#include "store_file.h"

#include <stdio.h>
#include <errno.h>
#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <fcntl.h>
#include <unistd.h>

#define LV_APP_ID 0x4C564C54 /* 'LVLT' */
#define SCHEMA_VERSION 1
/* A new store's page size.  A record (a license of 1 to 4 KB and its columns) longer than a
 * page's local limit (4,086 bytes for 16 KiB pages, 8,198 for 32 KiB) spills its tail into an
 * overflow page of its own, mostly empty: with 16 KiB pages that was 23% of a restored store's
 * bytes, and a restore is bound by the bytes it writes (twice into a store that is open: WAL,
 * then checkpoint).  32 KiB pages: none overflow, 21% fewer bytes to write
 * (docs/performance.md, "Restore at scale").  An existing store keeps its own. */
#ifndef LV_PAGE_SIZE
#define LV_PAGE_SIZE 32768
#endif
/* Less free space than this where a store lies: an I/O error opening it for writing is a full filesystem */
#define FULL_BELOW LV_STORE_FILE_SLACK
#define LV_STR_(x) #x
#define LV_STR(x) LV_STR_(x)

typedef struct sq_store {
	sqlite3 *db;            /* NULL: the store has no file yet (LV_STORE_CREATE: its first write makes it) */
	char *path;             /* as given */
	char *target;           /* where the file is, or a new one lands (symbolic links followed) */
	lv_store_new tmp;       /* the private file this handle's first transaction fills (path NULL: none) */
	char *copy;             /* a private copy read instead of the store (read-only rescue), or NULL */
	char errmsg[LV_ERRMSG_MAX];
	int in_txn;
	unsigned flags;         /* LV_STORE_READONLY, LV_STORE_CREATE */
	sqlite3_stmt *put[2];   /* INSERT, INSERT OR REPLACE: prepared once, reused per license */
} sq_store;

static const char *sq_last_error(void *impl)
{
	return ((sq_store *)impl)->errmsg;
}

static int sq_err(sq_store *s, int src, const char *what)
{
	int ext = sqlite3_extended_errcode(s->db);
	int code = (src == SQLITE_BUSY || src == SQLITE_LOCKED) ? LV_E_BUSY
	         : src == SQLITE_FULL ? LV_E_NO_SPACE
	         : src == SQLITE_NOMEM ? LV_E_NOMEM
	         : src == SQLITE_CORRUPT || src == SQLITE_NOTADB ? LV_E_CORRUPT
	         : src == SQLITE_CONSTRAINT ? LV_E_EXISTS : LV_E_IO;
	if (code == LV_E_BUSY)
		lv__errf(s->errmsg, "store %s: %s: locked by another process or connection (%s)", s->path, what,
		         sqlite3_errmsg(s->db));
	else if (code == LV_E_NO_SPACE) {
		char room[64];
		lv__store_file_bytes(room, sizeof room, lv__store_file_free(s->tmp.path ? s->tmp.path : s->target));
		lv__errf(s->errmsg, "store %s: %s: its filesystem is full: %s free (SQLite error %d)", s->path, what, room,
		         ext);
	} else
		lv__errf(s->errmsg, "store %s: %s: %s (SQLite error %d)", s->path, what, sqlite3_errmsg(s->db), ext);
	return code;
}

static int exec(sq_store *s, const char *sql, const char *what)
{
	int rc = sqlite3_exec(s->db, sql, NULL, NULL, NULL);
	return rc == SQLITE_OK ? 0 : sq_err(s, rc, what);
}

/* Close the connection (the handle has no database until it opens or makes one again). */
static void close_db(sq_store *s)
{
	sqlite3_finalize(s->put[0]);
	sqlite3_finalize(s->put[1]);
	s->put[0] = s->put[1] = NULL;
	sqlite3_close_v2(s->db);
	s->db = NULL;
}

/* A new store this handle was making, not to be: its private file goes. */
static void discard_new(sq_store *s)
{
	if (!s->tmp.path)
		return;
	close_db(s);
	lv__store_file_discard(&s->tmp);
}

static void sq_close(void *impl)
{
	sq_store *s = impl;
	if (!s)
		return;
	if (s->in_txn)
		sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
	discard_new(s);
	close_db(s);
	lv__store_file_copy_free(s->copy);
	free(s->path);
	free(s->target);
	free(s);
}

/* Open file (a path or an SQLite URI) with oflags as the handle's connection; err says why not. */
static int connect_db(sq_store *s, const char *file, int oflags, lv_err *err)
{
	if (sqlite3_open_v2(file, &s->db, oflags | SQLITE_OPEN_NOMUTEX, NULL) != SQLITE_OK) {
		lv__err_set(err, LV_E_IO, "store %s: cannot open: %s", s->path, s->db ? sqlite3_errmsg(s->db) : "out of memory");
		close_db(s);
		return LV_E_IO;
	}
	sqlite3_busy_timeout(s->db, 5000);
	sqlite3_extended_result_codes(s->db, 1);
	return 0;
}

/* One integer from a one-row query; *out untouched when there is no row. */
static int query_int(sq_store *s, const char *sql, int *out)
{
	sqlite3_stmt *q = NULL;
	int rc = sqlite3_prepare_v2(s->db, sql, -1, &q, NULL);
	if (rc == SQLITE_OK) {
		rc = sqlite3_step(q);
		if (rc == SQLITE_ROW) {
			*out = sqlite3_column_int(q, 0);
			rc = SQLITE_OK;
		} else if (rc == SQLITE_DONE)
			rc = SQLITE_OK;
	}
	sqlite3_finalize(q);
	return rc;
}

static const char schema_sql[] =
	"BEGIN IMMEDIATE;"
	"PRAGMA application_id=" "1280724052" ";"
	"PRAGMA user_version=1;"
	"CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value TEXT NOT NULL);"
	"CREATE TABLE IF NOT EXISTS licenses("
	" kid TEXT NOT NULL PRIMARY KEY, content_id TEXT, title TEXT,"
	" issuer TEXT, issued INTEGER NOT NULL, expires INTEGER NOT NULL, rights INTEGER NOT NULL,"
	" play_count INTEGER NOT NULL, plays_left INTEGER NOT NULL, machine TEXT, payload BLOB)"
	" WITHOUT ROWID;"
	"COMMIT;";

/* Is the open file a licvault store (or an empty one, given its schema now)? */
static int check_schema(sq_store *s, unsigned flags, lv_err *err)
{
	int app = 0, ver = 0, ntables = -1;
	int rc = query_int(s, "PRAGMA application_id", &app);
	if (rc == SQLITE_OK)
		rc = query_int(s, "SELECT count(*) FROM sqlite_master", &ntables);
	if (rc != SQLITE_OK) {
		int code = sq_err(s, rc, "cannot read");
		if (rc == SQLITE_NOTADB)
			return lv__err_set(err, LV_E_CORRUPT, "store %s is not a licvault store (not an SQLite database)", s->path);
		return lv__err_set(err, code, "%s", s->errmsg);
	}
	if (app != LV_APP_ID && ntables != 0)
		return lv__err_set(err, LV_E_CORRUPT, "store %s is an SQLite database but not a licvault store", s->path);
	int writable = !(flags & LV_STORE_READONLY);
	/* licenses are 1 to 4 KB: large pages keep them out of overflow pages (LV_PAGE_SIZE);
	 * only possible before the first table */
	if (ntables == 0 && writable)
		exec(s, "PRAGMA page_size=" LV_STR(LV_PAGE_SIZE), "set the page size");
	if (writable && ((rc = exec(s, "PRAGMA journal_mode=WAL", "set WAL mode")) ||
	                 (rc = exec(s, "PRAGMA synchronous=FULL", "set synchronous"))))
		return lv__err_set(err, rc, "%s", s->errmsg);
	if (ntables == 0 && writable) {
		if ((rc = exec(s, schema_sql, "create the schema"))) {
			sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
			return lv__err_set(err, rc, "%s", s->errmsg);
		}
		return 0;
	}
	query_int(s, "PRAGMA user_version", &ver);
	if (ver != SCHEMA_VERSION)
		return lv__err_set(err, LV_E_CORRUPT, "store %s has schema version %d, this licvault knows version %d",
		                   s->path, ver, SCHEMA_VERSION);
	return 0;
}

/* "file:PATH?immutable=1", PATH percent-encoded where a URI needs it; malloc'd. */
static char *immutable_uri(const char *path)
{
	lv_buf b = {0};
	lv__buf_put(&b, "file:", 5);
	for (const unsigned char *p = (const unsigned char *)path; *p; p++) {
		if (*p == '%' || *p == '?' || *p == '#' || *p <= 0x20 || *p >= 0x7f)
			lv__buf_printf(&b, "%%%02X", *p);
		else
			lv__buf_put(&b, p, 1);
	}
	if (lv__buf_printf(&b, "?immutable=1") || lv__buf_put(&b, "", 1)) {
		lv__buf_free(&b);
		return NULL;
	}
	return (char *)b.data;
}

/*
 * A read-only store SQLite cannot open where it is (a read-only or full
 * filesystem: no -shm can be made): with no changes in a -wal, the file
 * read as immutable (no lock, no -shm); with changes in a -wal, which
 * immutable would silently drop, a private copy of both.  first: why the
 * open where it is failed.
 */
static int open_rescue(sq_store *s, const lv_err *first, lv_err *err)
{
	lv_err e = {0};
	int rc;
	if (!lv__store_file_has_wal(s->path)) {
		char *uri = immutable_uri(s->path);
		rc = uri ? connect_db(s, uri, SQLITE_OPEN_READONLY | SQLITE_OPEN_URI, &e) : LV_E_NOMEM;
		free(uri);
		if (!rc && (rc = check_schema(s, LV_STORE_READONLY, &e)))
			close_db(s);
		if (rc)
			lv__err_set(err, rc, "%s; read as an unchanging file: %s", first->msg, e.msg);
		return rc;
	}
	if ((rc = lv__store_file_copy(s->path, &s->copy, &e)))
		return lv__err_set(err, rc,
		                   "%s; its write-ahead log %s-wal holds changes not yet in it, so it is not read alone (that "
		                   "would lose licenses), and %s. Copy %s and %s-wal to a writable place and use that copy",
		                   first->msg, s->path, e.msg, s->path, s->path);
	if (!(rc = connect_db(s, s->copy, SQLITE_OPEN_READONLY, &e)) && (rc = check_schema(s, LV_STORE_READONLY, &e)))
		close_db(s);
	if (rc)
		lv__err_set(err, rc, "%s; a private copy of it and its write-ahead log: %s", first->msg, e.msg);
	return rc;
}

/*
 * Would opening the store where it lies risk SIGBUS?  SQLite makes a
 * missing -shm by writing one byte per 4 KiB page and then uses it through
 * a mapping; on a full filesystem of 1 KiB blocks the rest of each page is
 * a hole that cannot be filled, and the first touch kills the process.
 * (How much room the files leave decided whether tests/test_store.c's full
 * filesystem hit it.)
 */
static int shm_risky(sq_store *s)
{
	return !lv__store_file_has_shm(s->path) && lv__store_file_free(s->target) < FULL_BELOW;
}

/* The store's file, which exists: opened read-write, or read-only (with the rescue when it must). */
static int open_existing(sq_store *s, lv_err *err)
{
	lv_err first = {0};
	int ro = (s->flags & LV_STORE_READONLY) != 0;
	const char *what, *odd = lv__store_file_odd_companion(s->target, &what);
	if (odd) { /* SQLite would fail on it, or open a FIFO and unlink it at close */
		lv__err_set(&first, LV_E_IO,
		            "store %s: %s%s is %s, not a file of SQLite's, so the store cannot be written; it was left "
		            "as it is: remove it if no program made it on purpose",
		            s->path, s->target, odd, what);
		return ro ? open_rescue(s, &first, err) : lv__err_set(err, LV_E_IO, "%s", first.msg);
	}
	if (shm_risky(s)) {
		char f[64];
		lv__store_file_bytes(f, sizeof f, lv__store_file_free(s->target));
		lv__err_set(&first, LV_E_NO_SPACE, "store %s: its filesystem is full (%s free)", s->path, f);
		return ro ? open_rescue(s, &first, err) : lv__err_set(err, LV_E_NO_SPACE, "%s", first.msg);
	}
	int rc = connect_db(s, s->path, ro ? SQLITE_OPEN_READONLY : SQLITE_OPEN_READWRITE, &first);
	if (!rc && (rc = check_schema(s, s->flags, &first)))
		close_db(s);
	if (!rc)
		return 0;
	if (ro && (rc == LV_E_IO || rc == LV_E_NO_SPACE))
		return open_rescue(s, &first, err);
	uint64_t room = lv__store_file_free(s->target);
	if (rc == LV_E_IO && room < FULL_BELOW) { /* SQLite could not make its -wal or -shm: say why */
		char f[64];
		lv__store_file_bytes(f, sizeof f, room);
		return lv__err_set(err, LV_E_NO_SPACE, "%s: its filesystem is full (%s free)", first.msg, f);
	}
	return lv__err_set(err, rc, "%s", first.msg);
}

/*
 * The first write to a store that has no file: a new store in a private
 * file beside where it lands (rollback journal, for this one transaction),
 * published by the commit; a rollback or a close removes it.
 */
static int begin_new(sq_store *s, lv_err *err)
{
	lv_err e = {0};
	int rc = lv__store_file_create(s->target, &s->tmp, &e);
	if (!rc)
		rc = connect_db(s, s->tmp.path, SQLITE_OPEN_READWRITE, &e);
	/* licenses are 1 to 4 KB: large pages keep them out of overflow pages (LV_PAGE_SIZE) */
	if (!rc && ((rc = exec(s, "PRAGMA page_size=" LV_STR(LV_PAGE_SIZE), "set the page size")) ||
	            (rc = exec(s, "PRAGMA synchronous=FULL", "set synchronous")) ||
	            (rc = exec(s, schema_sql, "create the schema"))))
		lv__err_set(&e, rc, "%s", s->errmsg);
	if (rc) {
		discard_new(s);
		close_db(s);
		return lv__err_set(err, rc, "%s", e.msg);
	}
	return 0;
}

/*
 * The handle's database, before an operation: open the file when another
 * connection made it since; for a write (write = 1), begin a new store.
 * 0: ready; 1: no file (a read sees an empty store); else an error (in
 * errmsg).
 */
static int ready(sq_store *s, int write)
{
	if (s->db)
		return 0;
	lv_err e = {0};
	struct stat st;
	int rc;
	if (stat(s->path, &st) == 0)
		rc = open_existing(s, &e);
	else if (!write)
		return 1;
	else if (s->flags & LV_STORE_READONLY)
		rc = lv__err_set(&e, LV_E_NOT_FOUND, "store %s does not exist", s->path);
	else
		rc = begin_new(s, &e);
	if (rc)
		lv__errf(s->errmsg, "%s", e.msg);
	return rc;
}

int lv__sqlite_store_open(const char *path, unsigned flags, void **impl, lv_err *err)
{
	sq_store *s = calloc(1, sizeof *s);
	if (!s || !(s->path = strdup(path))) {
		free(s);
		return lv__err_set(err, LV_E_NOMEM, "store %s: out of memory", path);
	}
	s->flags = flags & (LV_STORE_READONLY | LV_STORE_CREATE);
	struct stat st;
	int rc = lv__store_file_target(path, &s->target, err);
	if (rc)
		;
	else if (stat(path, &st) == 0)
		rc = open_existing(s, err);
	else if (errno != ENOENT)
		rc = lv__err_set(err, LV_E_IO, "store %s: %s", path, strerror(errno));
	else if ((flags & LV_STORE_READONLY) || !(flags & LV_STORE_CREATE))
		rc = lv__err_set(err, LV_E_NOT_FOUND,
		                 "store %s does not exist (importing licenses or restoring creates it)", path);
	/* else: no file until the first write commits (a failed restore leaves none) */
	if (rc) {
		sq_close(s);
		return rc;
	}
	*impl = s;
	return 0;
}

static int sq_count(void *impl, uint64_t *out)
{
	sq_store *s = impl;
	int rc = ready(s, 0);
	if (rc == 1)
		*out = 0;
	if (rc)
		return rc == 1 ? 0 : rc;
	sqlite3_stmt *q;
	rc = sqlite3_prepare_v2(s->db, "SELECT count(*) FROM licenses", -1, &q, NULL);
	if (rc != SQLITE_OK)
		return sq_err(s, rc, "count licenses");
	rc = sqlite3_step(q);
	if (rc == SQLITE_ROW)
		*out = (uint64_t)sqlite3_column_int64(q, 0);
	sqlite3_finalize(q);
	return rc == SQLITE_ROW ? 0 : sq_err(s, rc, "count licenses");
}

#define COLS "kid, content_id, title, issuer, issued, expires, rights, play_count, plays_left, machine, payload"

static void row_to_license(sqlite3_stmt *q, lv_license *l)
{
	memset(l, 0, sizeof *l);
	l->kid = (const char *)sqlite3_column_text(q, 0);
	l->content_id = (const char *)sqlite3_column_text(q, 1);
	l->title = (const char *)sqlite3_column_text(q, 2);
	l->issuer = (const char *)sqlite3_column_text(q, 3);
	l->issued = sqlite3_column_int64(q, 4);
	l->expires = sqlite3_column_int64(q, 5);
	l->rights = (uint32_t)sqlite3_column_int64(q, 6);
	l->play_count = (uint32_t)sqlite3_column_int64(q, 7);
	l->plays_left = (uint32_t)sqlite3_column_int64(q, 8);
	l->machine = (const char *)sqlite3_column_text(q, 9);
	l->payload = sqlite3_column_blob(q, 10);
	l->payload_len = (size_t)sqlite3_column_bytes(q, 10);
}

static int sq_get(void *impl, const char *kid, lv_license **out)
{
	sq_store *s = impl;
	int rc = ready(s, 0);
	if (rc == 1)
		lv__errf(s->errmsg, "store %s: no license with key ID %s (the store has none yet)", s->path, kid);
	if (rc)
		return rc == 1 ? LV_E_NOT_FOUND : rc;
	sqlite3_stmt *q;
	rc = sqlite3_prepare_v2(s->db, "SELECT " COLS " FROM licenses WHERE kid = ?", -1, &q, NULL);
	if (rc != SQLITE_OK)
		return sq_err(s, rc, "read a license");
	sqlite3_bind_text(q, 1, kid, -1, SQLITE_STATIC);
	rc = sqlite3_step(q);
	int ret;
	if (rc == SQLITE_ROW) {
		lv_license l;
		row_to_license(q, &l);
		ret = lv_license_dup(out, &l);
	} else if (rc == SQLITE_DONE) {
		lv__errf(s->errmsg, "store %s: no license with key ID %s", s->path, kid);
		ret = LV_E_NOT_FOUND;
	} else
		ret = sq_err(s, rc, "read a license");
	sqlite3_finalize(q);
	return ret;
}

static int sq_begin(void *impl);
static int sq_commit(void *impl);
static int sq_rollback(void *impl);
static int put_row(sq_store *s, const lv_license *l, unsigned flags);

/* After a failed write in a transaction of its own: roll it back, keeping the failure's message. */
static void undo(sq_store *s)
{
	char msg[LV_ERRMSG_MAX];
	memcpy(msg, s->errmsg, sizeof msg);
	sq_rollback(s);
	memcpy(s->errmsg, msg, sizeof msg);
}

static int sq_put(void *impl, const lv_license *l, unsigned flags)
{
	sq_store *s = impl;
	if (s->db || s->in_txn)
		return put_row(s, l, flags);
	/* a store with no file yet: a transaction of its own makes it */
	int rc = sq_begin(s);
	if (!rc && !(rc = put_row(s, l, flags)))
		return sq_commit(s);
	undo(s);
	return rc;
}

static int put_row(sq_store *s, const lv_license *l, unsigned flags)
{
	int which = (flags & LV_PUT_REPLACE) ? 1 : 0;
	int rc;
	if (!s->put[which]) {
		const char *sql = which ? "INSERT OR REPLACE INTO licenses(" COLS ") VALUES(?,?,?,?,?,?,?,?,?,?,?)"
		                        : "INSERT INTO licenses(" COLS ") VALUES(?,?,?,?,?,?,?,?,?,?,?)";
		rc = sqlite3_prepare_v3(s->db, sql, -1, SQLITE_PREPARE_PERSISTENT, &s->put[which], NULL);
		if (rc != SQLITE_OK)
			return sq_err(s, rc, "add a license");
	}
	sqlite3_stmt *q = s->put[which];
	sqlite3_bind_text(q, 1, l->kid, -1, SQLITE_STATIC);
	sqlite3_bind_text(q, 2, l->content_id, -1, SQLITE_STATIC);
	sqlite3_bind_text(q, 3, l->title, -1, SQLITE_STATIC);
	sqlite3_bind_text(q, 4, l->issuer, -1, SQLITE_STATIC);
	sqlite3_bind_int64(q, 5, l->issued);
	sqlite3_bind_int64(q, 6, l->expires);
	sqlite3_bind_int64(q, 7, l->rights);
	sqlite3_bind_int64(q, 8, l->play_count);
	sqlite3_bind_int64(q, 9, l->plays_left);
	sqlite3_bind_text(q, 10, l->machine, -1, SQLITE_STATIC);
	sqlite3_bind_blob64(q, 11, l->payload ? l->payload : "", l->payload_len, SQLITE_STATIC);
	rc = sqlite3_step(q);
	sqlite3_reset(q);
	sqlite3_clear_bindings(q);
	if (rc == SQLITE_DONE)
		return 0;
	if ((rc & 0xff) == SQLITE_CONSTRAINT) {
		lv__errf(s->errmsg, "store %s: a license with key ID %s is already there", s->path, l->kid);
		return LV_E_EXISTS;
	}
	return sq_err(s, rc, "add a license");
}

static int sq_remove(void *impl, const char *kid)
{
	sq_store *s = impl;
	int rc = ready(s, 0);
	if (rc == 1)
		lv__errf(s->errmsg, "store %s: no license with key ID %s (the store has none yet)", s->path, kid);
	if (rc)
		return rc == 1 ? LV_E_NOT_FOUND : rc;
	sqlite3_stmt *q;
	rc = sqlite3_prepare_v2(s->db, "DELETE FROM licenses WHERE kid = ?", -1, &q, NULL);
	if (rc != SQLITE_OK)
		return sq_err(s, rc, "remove a license");
	sqlite3_bind_text(q, 1, kid, -1, SQLITE_STATIC);
	rc = sqlite3_step(q);
	sqlite3_finalize(q);
	if (rc != SQLITE_DONE)
		return sq_err(s, rc, "remove a license");
	if (sqlite3_changes(s->db) == 0) {
		lv__errf(s->errmsg, "store %s: no license with key ID %s", s->path, kid);
		return LV_E_NOT_FOUND;
	}
	return 0;
}

static int sq_foreach(void *impl, lv_license_cb cb, void *ud)
{
	sq_store *s = impl;
	int own = !s->in_txn;
	int rc = ready(s, 0);
	if (rc)
		return rc == 1 ? 0 : rc;
	/* one read transaction: a WAL snapshot, whatever other connections write */
	if (own && (rc = exec(s, "BEGIN", "begin a read")))
		return rc;
	sqlite3_stmt *q;
	rc = sqlite3_prepare_v2(s->db, "SELECT " COLS " FROM licenses ORDER BY kid", -1, &q, NULL);
	if (rc != SQLITE_OK) {
		rc = sq_err(s, rc, "list licenses");
		goto out;
	}
	int r;
	rc = 0;
	while ((r = sqlite3_step(q)) == SQLITE_ROW) {
		lv_license l;
		row_to_license(q, &l);
		if ((rc = cb(&l, ud)))
			break;
	}
	if (!rc && r != SQLITE_DONE)
		rc = sq_err(s, r, "list licenses");
	sqlite3_finalize(q);
out:
	if (own)
		sqlite3_exec(s->db, "COMMIT", NULL, NULL, NULL);
	return rc;
}

static int sq_begin(void *impl)
{
	sq_store *s = impl;
	int rc = ready(s, 1);
	if (!rc && (rc = exec(s, "BEGIN IMMEDIATE", "begin a transaction")))
		discard_new(s);
	if (!rc)
		s->in_txn = 1;
	return rc;
}

/* The first commit of a new store: its private file becomes the store (a later call opens it). */
static int publish(sq_store *s)
{
	/* published in WAL mode, as every store is (best effort: the next writable open sets it anyway) */
	sqlite3_exec(s->db, "PRAGMA journal_mode=WAL", NULL, NULL, NULL);
	close_db(s);
	lv_err e = {0};
	int rc = lv__store_file_publish(&s->tmp, s->target, &e);
	if (rc)
		lv__errf(s->errmsg, "%s", e.msg);
	return rc;
}

static int sq_commit(void *impl)
{
	sq_store *s = impl;
	int rc = exec(s, "COMMIT", "commit");
	if (rc)
		sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
	s->in_txn = 0;
	if (rc)
		discard_new(s);
	else if (s->tmp.path)
		rc = publish(s);
	return rc;
}

static int sq_rollback(void *impl)
{
	sq_store *s = impl;
	int rc = s->in_txn ? exec(s, "ROLLBACK", "roll back") : 0;
	s->in_txn = 0;
	discard_new(s); /* a store this transaction was making is not made */
	return rc;
}

static int sq_meta_get(void *impl, const char *key, char *buf, size_t cap)
{
	sq_store *s = impl;
	int rc = ready(s, 0);
	if (rc)
		return rc == 1 ? LV_E_NOT_FOUND : rc;
	sqlite3_stmt *q;
	rc = sqlite3_prepare_v2(s->db, "SELECT value FROM meta WHERE key = ?", -1, &q, NULL);
	if (rc != SQLITE_OK)
		return sq_err(s, rc, "read store metadata");
	sqlite3_bind_text(q, 1, key, -1, SQLITE_STATIC);
	rc = sqlite3_step(q);
	int ret = 0;
	if (rc == SQLITE_ROW)
		snprintf(buf, cap, "%s", (const char *)sqlite3_column_text(q, 0));
	else if (rc == SQLITE_DONE)
		ret = LV_E_NOT_FOUND;
	else
		ret = sq_err(s, rc, "read store metadata");
	sqlite3_finalize(q);
	return ret;
}

static int meta_write(sq_store *s, const char *key, const char *value);

static int sq_meta_set(void *impl, const char *key, const char *value)
{
	sq_store *s = impl;
	if (s->db || s->in_txn)
		return meta_write(s, key, value);
	int rc = ready(s, 0);
	if (rc != 1)
		return rc ? rc : meta_write(s, key, value);
	if (!value)
		return 0; /* nothing to remove from a store with no file */
	/* a transaction of its own makes the file */
	if (!(rc = sq_begin(s)) && !(rc = meta_write(s, key, value)))
		return sq_commit(s);
	undo(s);
	return rc;
}

static int meta_write(sq_store *s, const char *key, const char *value)
{
	sqlite3_stmt *q;
	int rc = sqlite3_prepare_v2(s->db, value ? "INSERT OR REPLACE INTO meta(key, value) VALUES(?, ?)"
	                                         : "DELETE FROM meta WHERE key = ?", -1, &q, NULL);
	if (rc != SQLITE_OK)
		return sq_err(s, rc, "write store metadata");
	sqlite3_bind_text(q, 1, key, -1, SQLITE_STATIC);
	if (value)
		sqlite3_bind_text(q, 2, value, -1, SQLITE_STATIC);
	rc = sqlite3_step(q);
	sqlite3_finalize(q);
	return rc == SQLITE_DONE ? 0 : sq_err(s, rc, "write store metadata");
}

/* A second connection to the same file: a run's snapshot or transaction. */
static int sq_open_run(void *impl, void **run_impl)
{
	sq_store *s = impl;
	lv_err err = {0};
	int rc = lv__sqlite_store_open(s->path, s->flags, run_impl, &err);
	if (rc)
		lv__errf(s->errmsg, "%s", err.msg);
	return rc;
}

static const char *sq_path(void *impl)
{
	return ((sq_store *)impl)->path;
}

static int sq_size(void *impl, uint64_t *bytes)
{
	sq_store *s = impl;
	struct stat st;
	if (stat(s->path, &st) != 0) {
		*bytes = 0;
		return s->db ? LV_E_IO : 0; /* no file yet: empty */
	}
	*bytes = (uint64_t)st.st_size;
	return 0;
}

const lv_store_ops lv__sqlite_store_ops = {
	.version = LV_STORE_OPS_VERSION,
	.count = sq_count,
	.get = sq_get,
	.put = sq_put,
	.remove = sq_remove,
	.foreach = sq_foreach,
	.begin = sq_begin,
	.commit = sq_commit,
	.rollback = sq_rollback,
	.meta_get = sq_meta_get,
	.meta_set = sq_meta_set,
	.close = sq_close,
	.last_error = sq_last_error,
	.open_run = sq_open_run,
	.size = sq_size,
	.path = sq_path,
};
