/*
 * The driver conformance suite (see conformance.h).  Each check opens the
 * location afresh, as a run would, and calls the driver's operations the
 * way the core does; an error the core handles (an expected NOT_FOUND, the
 * EXISTS of a lock taken by another run) is taken back afterwards, as the
 * core takes it back (lv_location_clear_error), so the next failure is
 * described by its own message.
 */
#include "conformance.h"

#include <inttypes.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "licvault/sys/location.h"

/* Every object the suite writes begins with this, so that it removes only its own. */
#define MARK "lvconform: "
#define LOCK_NAME "licvault.lock"
#define NAMES_MAX 256
#define LOCK_ROUNDS 32 /* two runs race for the lock this many times */

static const struct {
	const char *name, *title;
} checks[LVC__N] = {
	[LVC_PREFLIGHT] = {"preflight", "the location holds no licvault object the suite did not write"},
	[LVC_WRITE_READ] = {"write-read", "write, commit, read back, visible from a new instance"},
	[LVC_ABORT] = {"abort", "nothing visible before commit, abort leaves nothing"},
	[LVC_NO_REPLACE] = {"no-replace", "commit never replaces unless asked; replace is atomic"},
	[LVC_LIST_REMOVE] = {"list-remove", "list (never a temporary), remove, NOT_FOUND for an absent object, sync"},
	[LVC_CLOSE] = {"close", "close with a writer and a reader still open publishes nothing"},
	[LVC_LOCK] = {"lock", "two runs race for the lock object at once, one wins; read, refresh, remove as the core does"},
	[LVC_HISTORY] = {"history", "backup generations written, listed, read back, older ones removed"},
	[LVC_REGISTRY] = {"registry", "a restore's registry object, written through an instance opened for reading"},
	[LVC_CANCEL] = {"cancel", "a canceled write fails by commit at the latest and publishes nothing"},
	[LVC_LARGE] = {"large", "a large object, written in 1 MiB chunks and read back with its CRC"},
};

const char *lvc_check_name(int check)
{
	return check >= 0 && check < LVC__N ? checks[check].name : check == LVC__N ? "cleanup" : "?";
}

const char *lvc_check_title(int check)
{
	return check >= 0 && check < LVC__N ? checks[check].title : "?";
}

typedef struct cx {
	lv_context *ctx;
	const char *uri;
	char shown[1024]; /* the URI as printed: a password masked */
	char driver[64];  /* the name of the driver serving uri, for messages */
	char why[600];    /* why the last read (get, read_some) failed */
	char said[700];   /* what get() gave, as gave() says it */
	lvc_options o;
	int check;        /* the check running */
	int check_failed;
	lvc_result res;
} cx;

static void failf(cx *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void failf(cx *c, const char *fmt, ...)
{
	fprintf(c->o.out, "conformance: %s: %s: ", c->shown, lvc_check_name(c->check));
	va_list ap;
	va_start(ap, fmt);
	vfprintf(c->o.out, fmt, ap);
	va_end(ap);
	fputc('\n', c->o.out);
	c->check_failed = 1;
}

#define EXPECT(c, cond, ...)        \
	do {                            \
		if (!(cond))                \
			failf((c), __VA_ARGS__); \
	} while (0)

/* The URI with the password of scheme://user:password@host masked. */
static void mask_uri(const char *uri, char *out, size_t cap)
{
	snprintf(out, cap, "%s", uri);
	char *auth = strstr(out, "://");
	if (!auth)
		return;
	auth += 3;
	char *end = auth + strcspn(auth, "/?#");
	char *at = memchr(auth, '@', (size_t)(end - auth));
	char *colon = at ? memchr(auth, ':', (size_t)(at - auth)) : NULL;
	if (colon && at - colon > 1) {
		char rest[1024];
		snprintf(rest, sizeof rest, "%s", at);
		snprintf(colon + 1, cap - (size_t)(colon + 1 - out), "********%s", rest);
	}
}

/* ---- the operations, as the core calls them ----------------------------------- */

#define OPS(l) lv_location_driver_ops(l)
#define INST(l) lv_location_driver_instance(l)

static struct lv_location *open_loc(cx *c, unsigned flags)
{
	struct lv_location *l = NULL;
	int rc = lv_location_open(&l, c->ctx, c->uri, flags);
	EXPECT(c, rc == 0, "open (%s) failed: %s: %s", flags & LV_OPEN_WRITE ? "write" : "read", lv_error_name(rc),
	       lv_context_last_error(c->ctx));
	return rc ? NULL : l;
}

/* Forget an error the core would handle here (an expected NOT_FOUND or EXISTS). */
static void handled(struct lv_location *l)
{
	lv_location_clear_error(l);
}

static int put(struct lv_location *l, const char *name, const void *data, size_t len, unsigned flags)
{
	lv_writer *w = NULL;
	int rc = OPS(l)->write_begin(INST(l), name, len, &w);
	if (rc)
		return rc;
	if (len && (rc = OPS(l)->write(w, data, len))) {
		OPS(l)->abort(w);
		return rc;
	}
	return OPS(l)->commit(w, flags);
}

/*
 * rc, what a read operation (`op`) on object `name` returned, checked as
 * the core checks it: a code that is neither 0 nor an LV_E_ code is
 * DRIVER_ABI.  A failure's message goes to c->why.
 */
static int read_rc(cx *c, struct lv_location *l, int rc, const char *op, const char *name)
{
	if (rc > 0 || rc <= LV_E__LAST) {
		snprintf(c->why, sizeof c->why, "driver '%s' returned %d from %s of %s, neither 0 nor an LV_E_ code", c->driver,
		         rc, op, name);
		return LV_E_DRIVER_ABI;
	}
	if (rc) {
		const char *msg = lv_location_last_error(l);
		snprintf(c->why, sizeof c->why, "%s", msg && *msg ? msg : "(the driver gave no message)");
	}
	return rc;
}

/*
 * Every read of the suite: at most cap bytes of object `name` into buf; 0
 * and *n, or the error (c->why says why).  A driver that says it gave more
 * than cap bytes is DRIVER_ABI: its *n is never used.
 */
static int read_some(cx *c, struct lv_location *l, lv_reader *r, const char *name, void *buf, size_t cap, size_t *n)
{
	*n = 0;
	int rc = read_rc(c, l, OPS(l)->read(r, buf, cap, n), "read", name);
	if (!rc && *n > cap) {
		snprintf(c->why, sizeof c->why, "driver '%s' returned %zu bytes for a %zu-byte read of %s", c->driver, *n, cap,
		         name);
		rc = LV_E_DRIVER_ABI;
	}
	if (rc)
		*n = 0;
	return rc;
}

/* Read a whole object (up to cap); returns its length or a negative error (c->why says why). */
static long get(cx *c, struct lv_location *l, const char *name, char *buf, size_t cap)
{
	lv_reader *r = NULL;
	int rc = read_rc(c, l, OPS(l)->read_open(INST(l), name, &r), "read_open", name);
	if (rc)
		return rc;
	size_t total = 0, n = 1;
	while (!rc && n && total < cap) {
		rc = read_some(c, l, r, name, buf + total, cap - total, &n);
		total += n;
	}
	OPS(l)->read_close(r);
	return rc ? rc : (long)total;
}

/* What get() gave, for a message: "an object of n bytes", or the error and why. */
static const char *gave(cx *c, long n)
{
	if (n >= 0)
		snprintf(c->said, sizeof c->said, "an object of %ld bytes", n);
	else
		snprintf(c->said, sizeof c->said, "%s (%s)", lv_error_name((int)n), c->why);
	return c->said;
}

/*
 * Does object `name` read back through l as the len bytes of want?  Else a
 * failure: the read's error and why, or what came back.  `when` ("" or
 * " after ...") says at which step.
 */
static int expect_bytes(cx *c, struct lv_location *l, const char *name, const void *want, size_t len, const char *when)
{
	char *got = malloc(len + 1);
	long n = got ? get(c, l, name, got, len + 1) : LV_E_NOMEM;
	int same = n >= 0 && (size_t)n == len && !memcmp(got, want, len);
	if (n < 0)
		failf(c, "%s cannot be read back%s: %s: %s", name, when, lv_error_name((int)n), got ? c->why : "out of memory");
	else if (!same)
		failf(c, "%s reads back%s as %ld bytes%s, not the %zu written", name, when, n,
		      n == (long)len ? " of other content" : "", len);
	handled(l);
	free(got);
	return same;
}

typedef struct names {
	int n, total;
	char v[NAMES_MAX][256];
} names;

static int list_cb(const lv_object_info *info, void *ud)
{
	names *ns = ud;
	ns->total++;
	if (ns->n < NAMES_MAX)
		snprintf(ns->v[ns->n++], sizeof ns->v[0], "%s", info && info->name ? info->name : "");
	return 0;
}

/* List into ns: 0, or the driver's error (a location that does not exist yet lists empty). */
static int listed(struct lv_location *l, names *ns)
{
	memset(ns, 0, sizeof *ns);
	int rc = OPS(l)->list(INST(l), list_cb, ns);
	if (rc == LV_E_NOT_FOUND) {
		handled(l);
		return 0;
	}
	return rc;
}

static int has(const names *ns, const char *name)
{
	for (int i = 0; i < ns->n; i++)
		if (!strcmp(ns->v[i], name))
			return 1;
	return 0;
}

/* name = licvault-<16 hex><suffix>: its generation, else 0. */
static uint64_t generation(const char *name, const char *prefix, const char *suffix)
{
	size_t pl = strlen(prefix), sl = strlen(suffix);
	if (strncmp(name, prefix, pl) != 0 || strlen(name) != pl + 16 + sl || strcmp(name + pl + 16, suffix) != 0)
		return 0;
	uint64_t g = 0;
	for (size_t i = pl; i < pl + 16; i++) {
		char ch = name[i];
		if (!((ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'f')))
			return 0;
		g = g * 16 + (uint64_t)(ch <= '9' ? ch - '0' : ch - 'a' + 10);
	}
	return g;
}

/* A backup set's object (licvault-g<16 hex>.pack or .manifest; format 1 without the g): its generation, else 0. */
static uint64_t set_generation(const char *name)
{
	static const char *const forms[][2] = {{"licvault-g", ".pack"}, {"licvault-g", ".manifest"},
	                                       {"licvault-", ".pack"},  {"licvault-", ".manifest"}};
	uint64_t g = 0;
	for (size_t i = 0; i < 4 && !g; i++)
		g = generation(name, forms[i][0], forms[i][1]);
	return g;
}

/* The names of generation g's objects, as the core writes them (set format 2). */
static void set_names(uint64_t g, char *pack, char *man, size_t cap)
{
	snprintf(pack, cap, "licvault-g%016" PRIx64 ".pack", g);
	snprintf(man, cap, "licvault-g%016" PRIx64 ".manifest", g);
}

static uint64_t registry_generation(const char *name)
{
	return generation(name, "licvault-registry-", ".reg");
}

/* Deterministic content: MARK, a label, then n pseudo-random bytes from seed. */
static char *content(const char *label, uint64_t seed, size_t n, size_t *len)
{
	char head[128];
	int hl = snprintf(head, sizeof head, MARK "%s %" PRIu64 "\n", label, seed);
	char *p = malloc((size_t)hl + n);
	if (!p)
		return NULL;
	memcpy(p, head, (size_t)hl);
	uint64_t x = seed * 0x9E3779B97F4A7C15ull + 1;
	for (size_t i = 0; i < n; i++) {
		x ^= x << 13, x ^= x >> 7, x ^= x << 17;
		p[(size_t)hl + i] = (char)(x >> 24);
	}
	*len = (size_t)hl + n;
	return p;
}

/* Is object `name` at l one the suite wrote (it begins with MARK)?  1 or 0, or the read's error (c->why). */
static long ours(cx *c, struct lv_location *l, const char *name)
{
	char buf[sizeof MARK];
	long n = get(c, l, name, buf, sizeof buf - 1);
	handled(l);
	return n < 0 ? n : n == (long)strlen(MARK) && !memcmp(buf, MARK, strlen(MARK));
}

static void begin(cx *c, int check)
{
	c->check = check;
	c->check_failed = 0;
	c->res.ran++;
}

static void end(cx *c)
{
	if (c->check_failed) {
		c->res.failed++;
		c->res.failed_mask |= 1u << c->check;
	}
	if (c->o.verbose)
		fprintf(c->o.out, "conformance: %s: %s (%s): %s\n", c->shown, lvc_check_name(c->check),
		        lvc_check_title(c->check), c->check_failed ? "FAILED" : "ok");
}

/* ---- the checks ------------------------------------------------------------------- */

/* Remove what the suite left (conf-*, its own licvault objects); refuse a location holding someone else's. */
static void clear(cx *c, int refuse)
{
	struct lv_location *l = open_loc(c, LV_OPEN_WRITE);
	if (!l)
		return;
	names ns;
	int rc = listed(l, &ns);
	EXPECT(c, rc == 0, "list: %s: %s", lv_error_name(rc), lv_location_last_error(l));
	for (int i = 0; !rc && i < ns.n; i++) {
		const char *n = ns.v[i];
		long mine = strncmp(n, "licvault", 8) ? 1 : ours(c, l, n);
		if (mine == LV_E_NOT_FOUND)
			continue; /* gone since it was listed (a container drops a set's objects together) */
		if (mine < 0) {
			failf(c, "cannot tell whether %s is the suite's: its read failed: %s: %s", n, lv_error_name((int)mine), c->why);
			continue;
		}
		int theirs = !mine;
		if (theirs && refuse) {
			failf(c, "the location holds %s, which the suite did not write (a backup?): run the suite on a "
			         "location of its own", n);
			continue;
		}
		if (!theirs && (!strncmp(n, "conf-", 5) || !strncmp(n, "licvault", 8)) && OPS(l)->remove &&
		    OPS(l)->remove(INST(l), n) != 0)
			handled(l); /* the checks say what does not work */
	}
	if (OPS(l)->sync && OPS(l)->sync(INST(l)) != 0)
		handled(l);
	lv_location_close(l);
}

static void check_write_read(cx *c)
{
	begin(c, LVC_WRITE_READ);
	struct lv_location *l = open_loc(c, LV_OPEN_WRITE);
	if (l) {
		const char *text = "hello, licvault driver";
		int rc = put(l, "conf-a.obj", text, strlen(text), 0);
		EXPECT(c, rc == 0, "commit of conf-a.obj: %s: %s", lv_error_name(rc), lv_location_last_error(l));
		expect_bytes(c, l, "conf-a.obj", text, strlen(text), "");
		rc = put(l, "conf-empty.obj", "", 0, 0);
		EXPECT(c, rc == 0, "an empty object: %s: %s", lv_error_name(rc), lv_location_last_error(l));
		expect_bytes(c, l, "conf-empty.obj", "", 0, "");
		if (OPS(l)->stat) {
			lv_object_info info = {0};
			rc = OPS(l)->stat(INST(l), "conf-a.obj", &info);
			EXPECT(c, rc == 0 && info.size == strlen(text), "stat of conf-a.obj: %s, size %" PRIu64, lv_error_name(rc),
			       info.size);
		}
		lv_location_close(l);
	}
	/* a new instance sees it (the commit was a real publish) */
	l = open_loc(c, LV_OPEN_READ);
	if (l) {
		char buf[64];
		long n = get(c, l, "conf-a.obj", buf, sizeof buf);
		EXPECT(c, n > 0, "conf-a.obj, read from a new instance, gave %s", gave(c, n));
		handled(l);
		lv_location_close(l);
	}
	end(c);
}

static void check_abort(cx *c)
{
	begin(c, LVC_ABORT);
	struct lv_location *l = open_loc(c, LV_OPEN_WRITE);
	if (l) {
		lv_writer *w = NULL;
		int rc = OPS(l)->write_begin(INST(l), "conf-aborted.obj", 10, &w);
		EXPECT(c, rc == 0, "write_begin: %s: %s", lv_error_name(rc), lv_location_last_error(l));
		names ns;
		if (!rc) {
			rc = OPS(l)->write(w, "0123456789", 10);
			EXPECT(c, rc == 0, "write: %s: %s", lv_error_name(rc), lv_location_last_error(l));
			listed(l, &ns);
			EXPECT(c, !has(&ns, "conf-aborted.obj"), "conf-aborted.obj is listed before its commit");
			for (int i = 0; i < ns.n; i++)
				EXPECT(c, ns.v[i][0] != '.', "list shows %s, a temporary", ns.v[i]);
			OPS(l)->abort(w);
		}
		listed(l, &ns);
		EXPECT(c, !has(&ns, "conf-aborted.obj"), "conf-aborted.obj is listed after abort");
		char buf[16];
		long n = get(c, l, "conf-aborted.obj", buf, sizeof buf);
		EXPECT(c, n == LV_E_NOT_FOUND, "reading conf-aborted.obj after abort gave %s, not NOT_FOUND", gave(c, n));
		handled(l);
		lv_location_close(l);
	}
	end(c);
}

static void check_no_replace(cx *c)
{
	begin(c, LVC_NO_REPLACE);
	struct lv_location *l = open_loc(c, LV_OPEN_WRITE);
	if (l) {
		int rc = put(l, "conf-r.obj", "old", 3, 0);
		EXPECT(c, rc == 0, "commit of conf-r.obj: %s: %s", lv_error_name(rc), lv_location_last_error(l));
		rc = put(l, "conf-r.obj", "new!", 4, 0);
		EXPECT(c, rc == LV_E_EXISTS, "a second commit without LV_COMMIT_REPLACE gave %s, not EXISTS", lv_error_name(rc));
		handled(l);
		expect_bytes(c, l, "conf-r.obj", "old", 3, " after a refused commit (one that must not change it)");
		rc = put(l, "conf-r.obj", "new!", 4, LV_COMMIT_REPLACE);
		EXPECT(c, rc == 0 || rc == LV_E_UNSUPPORTED, "commit with LV_COMMIT_REPLACE: %s: %s", lv_error_name(rc),
		       lv_location_last_error(l));
		handled(l);
		if (rc == 0)
			expect_bytes(c, l, "conf-r.obj", "new!", 4, " after a commit with LV_COMMIT_REPLACE");
		names ns;
		listed(l, &ns);
		int count = 0;
		for (int i = 0; i < ns.n; i++)
			count += !strcmp(ns.v[i], "conf-r.obj");
		EXPECT(c, count == 1, "conf-r.obj is listed %d times", count);
		lv_location_close(l);
	}
	end(c);
}

/* Every name listed is an object name (driver.h, OBJECTS) and none a temporary. */
static void check_names(cx *c, const names *ns)
{
	for (int i = 0; i < ns->n; i++) {
		const char *n = ns->v[i];
		EXPECT(c, n[0] && strlen(n) < 256 && !strchr(n, '/') && strcmp(n, ".") && strcmp(n, ".."),
		       "list shows '%s', not an object name", n);
		EXPECT(c, n[0] != '.', "list shows %s: a name starting with '.' is a temporary, which list never shows", n);
	}
}

static void check_list_remove(cx *c)
{
	begin(c, LVC_LIST_REMOVE);
	struct lv_location *l = open_loc(c, LV_OPEN_WRITE);
	if (l) {
		put(l, "conf-l1.obj", "1", 1, 0);
		put(l, "conf-l2.obj", "22", 2, 0);
		names ns;
		int rc = listed(l, &ns);
		EXPECT(c, rc == 0 && has(&ns, "conf-l1.obj") && has(&ns, "conf-l2.obj"), "list: %s, conf-l1.obj %s, conf-l2.obj %s",
		       lv_error_name(rc), has(&ns, "conf-l1.obj") ? "listed" : "missing", has(&ns, "conf-l2.obj") ? "listed" : "missing");
		check_names(c, &ns);
		if (!OPS(l)->remove)
			failf(c, "no remove operation: the core cannot remove its lock or older generations");
		else {
			rc = OPS(l)->remove(INST(l), "conf-l1.obj");
			EXPECT(c, rc == 0, "remove of conf-l1.obj: %s: %s", lv_error_name(rc), lv_location_last_error(l));
			listed(l, &ns);
			EXPECT(c, !has(&ns, "conf-l1.obj") && has(&ns, "conf-l2.obj"), "after remove of conf-l1.obj, list shows %s",
			       has(&ns, "conf-l1.obj") ? "it still" : "conf-l2.obj gone");
			rc = OPS(l)->remove(INST(l), "conf-l1.obj");
			EXPECT(c, rc == LV_E_NOT_FOUND, "remove of an absent object gave %s, not NOT_FOUND", lv_error_name(rc));
			handled(l);
		}
		char buf[8];
		long n = get(c, l, "conf-missing.obj", buf, sizeof buf);
		EXPECT(c, n == LV_E_NOT_FOUND, "reading an absent object gave %s, not NOT_FOUND", gave(c, n));
		handled(l);
		if (OPS(l)->stat) {
			lv_object_info info;
			rc = OPS(l)->stat(INST(l), "conf-missing.obj", &info);
			EXPECT(c, rc == LV_E_NOT_FOUND, "stat of an absent object gave %s, not NOT_FOUND", lv_error_name(rc));
			handled(l);
		}
		if (OPS(l)->sync) {
			rc = OPS(l)->sync(INST(l));
			EXPECT(c, rc == 0, "sync: %s: %s", lv_error_name(rc), lv_location_last_error(l));
		}
		lv_location_close(l);
	}
	end(c);
}

static void check_close(cx *c)
{
	begin(c, LVC_CLOSE);
	struct lv_location *l = open_loc(c, LV_OPEN_WRITE);
	if (l) {
		int rc = put(l, "conf-held.obj", "held", 4, 0);
		EXPECT(c, rc == 0, "commit of conf-held.obj: %s: %s", lv_error_name(rc), lv_location_last_error(l));
		lv_reader *r = NULL;
		lv_writer *w = NULL;
		rc = OPS(l)->read_open(INST(l), "conf-held.obj", &r);
		EXPECT(c, rc == 0, "read_open of conf-held.obj: %s: %s", lv_error_name(rc), lv_location_last_error(l));
		rc = OPS(l)->write_begin(INST(l), "conf-left.obj", 5, &w);
		EXPECT(c, rc == 0, "write_begin of conf-left.obj: %s: %s", lv_error_name(rc), lv_location_last_error(l));
		if (!rc)
			OPS(l)->write(w, "left!", 5);
		lv_location_close(l); /* with both still open: close aborts the writer */
	}
	l = open_loc(c, LV_OPEN_READ);
	if (l) {
		char buf[8];
		long n = get(c, l, "conf-left.obj", buf, sizeof buf);
		EXPECT(c, n == LV_E_NOT_FOUND, "reading conf-left.obj, whose writer was left open at close, gave %s, not NOT_FOUND",
		       gave(c, n));
		handled(l);
		lv_location_close(l);
	}
	end(c);
}

static int del(struct lv_location *l, const char *name)
{
	return OPS(l)->remove ? OPS(l)->remove(INST(l), name) : LV_E_UNSUPPORTED;
}

/* One run's side of the race for the lock. */
typedef struct racer {
	const char *who;            /* "the backup", "the restore" */
	struct lv_location *l;      /* its own instance */
	char *text;                 /* its lock's content */
	size_t len;
	pthread_barrier_t *go;      /* releases both runs' commits together */
	const char *step;           /* the operation that gave rc */
	int rc;
} racer;

/* A run taking the lock, on its own thread: write_begin, write, wait for the other run, commit without replace. */
static void *race_commit(void *p)
{
	racer *r = p;
	lv_writer *w = NULL;
	r->step = "write_begin";
	r->rc = OPS(r->l)->write_begin(INST(r->l), LOCK_NAME, r->len, &w);
	if (!r->rc && (r->rc = OPS(r->l)->write(w, r->text, r->len)) != 0) {
		r->step = "write";
		OPS(r->l)->abort(w);
	}
	pthread_barrier_wait(r->go);
	if (!r->rc) {
		r->step = "commit";
		r->rc = OPS(r->l)->commit(w, 0);
	}
	return NULL;
}

/* Exactly one run took the lock, the other got EXISTS and reads the winner's lock: the winner, else -1. */
static int race_outcome(cx *c, racer r[2], int round)
{
	for (int i = 0; i < 2; i++)
		if (r[i].rc && strcmp(r[i].step, "commit")) {
			failf(c, "%s's %s of %s: %s: %s", r[i].who, r[i].step, LOCK_NAME, lv_error_name(r[i].rc),
			      lv_location_last_error(r[i].l));
			return -1;
		}
	if (!r[0].rc && !r[1].rc) {
		failf(c, "%s and %s both took %s, committing it without LV_COMMIT_REPLACE at the same moment (round %d of %d): "
		         "two runs would write the location at once; publish with one step that refuses an existing name "
		         "(a check, then a rename, is two)", r[0].who, r[1].who, LOCK_NAME, round, LOCK_ROUNDS);
		return -1;
	}
	if (r[0].rc && r[1].rc) {
		failf(c, "neither run took the free %s: %s's commit gave %s (%s), %s's gave %s (%s)", LOCK_NAME, r[0].who,
		      lv_error_name(r[0].rc), lv_location_last_error(r[0].l), r[1].who, lv_error_name(r[1].rc),
		      lv_location_last_error(r[1].l));
		return -1;
	}
	int win = r[0].rc ? 1 : 0;
	racer *lost = &r[!win];
	if (lost->rc != LV_E_EXISTS) {
		failf(c, "%s's commit of %s, taken by %s at the same moment, gave %s, not EXISTS: %s", lost->who, LOCK_NAME,
		      r[win].who, lv_error_name(lost->rc), lv_location_last_error(lost->l));
		return -1;
	}
	handled(lost->l);
	char when[64];
	snprintf(when, sizeof when, " by %s (which lost the race for it)", lost->who);
	return expect_bytes(c, lost->l, LOCK_NAME, r[win].text, r[win].len, when) ? win : -1;
}

/* Both runs commit the lock at once, each on its own thread (two instances may be used at once: driver.h). */
static int race_round(cx *c, racer r[2], int round)
{
	pthread_barrier_t go;
	pthread_t t;
	if (pthread_barrier_init(&go, NULL, 2) != 0) {
		failf(c, "cannot make a barrier for the race for %s", LOCK_NAME);
		return -1;
	}
	r[0].go = r[1].go = &go;
	int err = pthread_create(&t, NULL, race_commit, &r[1]);
	if (err) {
		failf(c, "cannot start a thread for the race for %s: %s", LOCK_NAME, strerror(err));
		pthread_barrier_destroy(&go);
		return -1;
	}
	race_commit(&r[0]);
	pthread_join(t, NULL);
	pthread_barrier_destroy(&go);
	return race_outcome(c, r, round);
}

/* LOCK_ROUNDS races, each winner but the last releasing the lock: the last winner, who holds it, or -1. */
static int lock_race(cx *c, racer r[2])
{
	for (int round = 1;; round++) {
		int win = race_round(c, r, round);
		if (win < 0 || round == LOCK_ROUNDS)
			return win;
		int rc = del(r[win].l, LOCK_NAME);
		if (rc) {
			failf(c, "%s's remove of %s, which it took: %s: %s", r[win].who, LOCK_NAME, lv_error_name(rc),
			      lv_location_last_error(r[win].l));
			return -1;
		}
	}
}

/*
 * The holder h refreshes the lock (a replacing commit, or UNSUPPORTED),
 * reads it back, removes it and syncs; a remove of the absent lock is
 * NOT_FOUND; then the other run o takes it, and removes it.
 */
static void lock_hand_over(cx *c, racer *h, racer *o)
{
	int rc = put(h->l, LOCK_NAME, o->text, o->len, LV_COMMIT_REPLACE);
	EXPECT(c, rc == 0 || rc == LV_E_UNSUPPORTED, "%s's refresh of %s (a replacing commit): %s: %s", h->who, LOCK_NAME,
	       lv_error_name(rc), lv_location_last_error(h->l));
	handled(h->l);
	/* read before its release, as the core does */
	expect_bytes(c, h->l, LOCK_NAME, rc ? h->text : o->text, rc ? h->len : o->len,
	             rc ? " by its holder" : " by its holder (which refreshed it)");
	rc = del(h->l, LOCK_NAME);
	EXPECT(c, rc == 0, "%s's remove of %s, its lock: %s: %s", h->who, LOCK_NAME, lv_error_name(rc),
	       lv_location_last_error(h->l));
	rc = OPS(h->l)->sync ? OPS(h->l)->sync(INST(h->l)) : 0;
	EXPECT(c, rc == 0, "sync after the lock's removal: %s: %s", lv_error_name(rc), lv_location_last_error(h->l));
	rc = del(o->l, LOCK_NAME);
	EXPECT(c, rc == LV_E_NOT_FOUND, "remove of the lock, removed already, gave %s, not NOT_FOUND", lv_error_name(rc));
	handled(o->l);
	rc = put(o->l, LOCK_NAME, o->text, o->len, 0);
	EXPECT(c, rc == 0, "%s taking %s once it was released: %s: %s", o->who, LOCK_NAME, lv_error_name(rc),
	       lv_location_last_error(o->l));
	expect_bytes(c, h->l, LOCK_NAME, o->text, o->len, " once the other run took it");
	rc = del(o->l, LOCK_NAME);
	EXPECT(c, rc == 0, "%s's remove of %s: %s: %s", o->who, LOCK_NAME, lv_error_name(rc), lv_location_last_error(o->l));
}

/*
 * The lock as core/lock.c takes it: two runs (a backup and a restore, whose
 * instance is opened for reading) race for it, on two threads, with a
 * no-replace commit: one wins, the other gets EXISTS and reads who holds
 * it; LOCK_ROUNDS times, so that a commit that checks, then publishes, is
 * caught.  Then the holder hands it over (lock_hand_over).
 */
static void check_lock(cx *c)
{
	begin(c, LVC_LOCK);
	racer r[2] = {{.who = "the backup", .l = open_loc(c, LV_OPEN_WRITE)},
	              {.who = "the restore", .l = open_loc(c, LV_OPEN_READ)}};
	r[0].text = content("lock of run A", 1, 0, &r[0].len);
	r[1].text = content("lock of run B", 2, 0, &r[1].len);
	int win = r[0].l && r[1].l && r[0].text && r[1].text ? lock_race(c, r) : -1;
	if (win >= 0)
		lock_hand_over(c, &r[win], &r[!win]);
	for (int i = 0; i < 2; i++) {
		free(r[i].text);
		lv_location_close(r[i].l);
	}
	end(c);
}

/* The generations listed (each once, newest first, at most n), and whether each is whole. */
static int listed_gens(const names *ns, uint64_t *gens, int *whole, int n)
{
	int k = 0;
	for (int i = 0; i < ns->n; i++) {
		uint64_t g = set_generation(ns->v[i]);
		int j = 0;
		while (g && j < k && gens[j] != g)
			j++;
		if (!g || j < k || k == n)
			continue;
		while (j > 0 && gens[j - 1] < g) { /* insert, newest first */
			gens[j] = gens[j - 1];
			j--;
		}
		gens[j] = g;
		k++;
	}
	for (int i = 0; i < k; i++) {
		char p[64], m[64];
		set_names(gens[i], p, m, sizeof p);
		whole[i] = has(ns, p) && has(ns, m);
	}
	return k;
}

/* Write and commit object `name` of `label` and `size` bytes (seed g), as the core writes a set's object. */
static int put_set_object(cx *c, struct lv_location *l, const char *name, const char *label, uint64_t g, size_t size)
{
	size_t len;
	char *data = content(label, g, size, &len);
	int rc = data ? put(l, name, data, len, 0) : LV_E_NOMEM;
	EXPECT(c, rc == 0, "commit of %s: %s: %s", name, lv_error_name(rc), lv_location_last_error(l));
	free(data);
	return rc;
}

/* Does object `name` read back as what put_set_object wrote? */
static void expect_set_object(cx *c, struct lv_location *l, const char *name, const char *label, uint64_t g, size_t size)
{
	size_t len;
	char *want = content(label, g, size, &len);
	if (want)
		expect_bytes(c, l, name, want, len, "");
	else
		failf(c, "out of memory making the content of %s", name);
	free(want);
}

#define PACK_BYTES 300000
#define MANIFEST_BYTES 900
#define KEEP 2 /* generations a backup keeps (the core's `keep`, 2 here) */

/* Once published (after sync), the core checks each new object's size with stat (or list). */
static void expect_stored_size(cx *c, struct lv_location *l, const char *name, const char *label, uint64_t g, size_t size)
{
	size_t len;
	free(content(label, g, size, &len));
	lv_object_info info = {0};
	int rc = OPS(l)->stat ? OPS(l)->stat(INST(l), name, &info) : LV_E_UNSUPPORTED;
	if (rc == LV_E_UNSUPPORTED) {
		handled(l);
		return; /* the core then lists: history_restore checks the listing */
	}
	EXPECT(c, rc == 0 && (info.size == len || info.size == UINT64_MAX),
	       "stat of %s, just published, gave %s, %" PRIu64 " bytes, not the %zu written: the core keeps the older "
	       "generations of a location that does not store what it acknowledged", name, lv_error_name(rc), info.size, len);
	handled(l);
}

/*
 * One backup as core/backup.c makes it: generation G = the newest listed
 * + 1; pack, then manifest; sync (a container publishes here); the new
 * objects' sizes checked; the generations beyond the newest KEEP removed,
 * oldest first, each manifest before its pack (an absent one is fine); sync.
 */
static uint64_t history_backup(cx *c, struct lv_location *l)
{
	names ns;
	uint64_t gens[NAMES_MAX];
	int whole[NAMES_MAX], rc = listed(l, &ns);
	EXPECT(c, rc == 0, "list: %s: %s", lv_error_name(rc), lv_location_last_error(l));
	int k = listed_gens(&ns, gens, whole, NAMES_MAX);
	uint64_t g = (k ? gens[0] : 0) + 1;
	char pack[64], man[64];
	set_names(g, pack, man, sizeof pack);
	if (rc || put_set_object(c, l, pack, "pack", g, PACK_BYTES) || put_set_object(c, l, man, "manifest", g, MANIFEST_BYTES))
		return 0;
	rc = OPS(l)->sync ? OPS(l)->sync(INST(l)) : 0;
	EXPECT(c, rc == 0, "sync after the new generation's commits: %s: %s", lv_error_name(rc), lv_location_last_error(l));
	expect_stored_size(c, l, man, "manifest", g, MANIFEST_BYTES);
	expect_stored_size(c, l, pack, "pack", g, PACK_BYTES);
	for (int i = k - 1; i >= KEEP - 1; i--) { /* with the new one, KEEP are left */
		char op[64], om[64];
		set_names(gens[i], op, om, sizeof op);
		const char *each[2] = {om, op};
		for (int j = 0; j < 2; j++) {
			rc = has(&ns, each[j]) ? OPS(l)->remove(INST(l), each[j]) : 0;
			EXPECT(c, rc == 0 || rc == LV_E_NOT_FOUND, "remove of the older %s: %s: %s", each[j], lv_error_name(rc),
			       lv_location_last_error(l));
			handled(l);
		}
	}
	rc = OPS(l)->sync ? OPS(l)->sync(INST(l)) : 0;
	EXPECT(c, rc == 0, "sync at the end of a backup: %s: %s", lv_error_name(rc), lv_location_last_error(l));
	return c->check_failed ? 0 : g;
}

/*
 * What a restore then sees: generation g the newest, whole and as written;
 * no generation the backup removed; every older one kept, whole and
 * readable (a container holding the newest generation alone is fine).
 */
static void history_restore(cx *c, struct lv_location *l, uint64_t g)
{
	names ns;
	uint64_t gens[NAMES_MAX];
	int whole[NAMES_MAX], rc = listed(l, &ns);
	EXPECT(c, rc == 0, "list: %s: %s", lv_error_name(rc), lv_location_last_error(l));
	int k = listed_gens(&ns, gens, whole, NAMES_MAX);
	EXPECT(c, k > 0 && gens[0] == g && whole[0], "after backup %" PRIu64 " the newest generation listed is %" PRIu64 "%s",
	       g, k ? gens[0] : 0, k && !whole[0] ? " (incomplete)" : "");
	EXPECT(c, k <= KEEP, "%d generations are listed after a backup that kept %d: a removed one is still listed", k, KEEP);
	for (int i = 0; i < k && i < KEEP; i++) {
		char pack[64], man[64];
		set_names(gens[i], pack, man, sizeof pack);
		EXPECT(c, whole[i], "generation %" PRIu64 " is listed incomplete", gens[i]);
		expect_set_object(c, l, man, "manifest", gens[i], MANIFEST_BYTES);
		expect_set_object(c, l, pack, "pack", gens[i], PACK_BYTES);
	}
}

static void check_history(cx *c)
{
	begin(c, LVC_HISTORY);
	for (int round = 0; round < 3 && !c->check_failed; round++) {
		struct lv_location *l = open_loc(c, LV_OPEN_WRITE);
		uint64_t g = l ? history_backup(c, l) : 0;
		lv_location_close(l);
		if (!g)
			break;
		if ((l = open_loc(c, LV_OPEN_READ)))
			history_restore(c, l, g);
		lv_location_close(l);
	}
	end(c);
}

/* The built-in license service: its registry's next generation, written through the restore's read-only instance. */
static void check_registry(cx *c)
{
	begin(c, LVC_REGISTRY);
	struct lv_location *l = open_loc(c, LV_OPEN_READ);
	uint64_t g = 0;
	if (l) {
		names ns;
		int rc = listed(l, &ns);
		EXPECT(c, rc == 0, "list: %s: %s", lv_error_name(rc), lv_location_last_error(l));
		for (int i = 0; i < ns.n; i++)
			g = registry_generation(ns.v[i]) > g ? registry_generation(ns.v[i]) : g;
		char name[64], old[64];
		snprintf(old, sizeof old, "licvault-registry-%016" PRIx64 ".reg", g);
		snprintf(name, sizeof name, "licvault-registry-%016" PRIx64 ".reg", ++g);
		if (!put_set_object(c, l, name, "registry", g, 200)) {
			expect_set_object(c, l, name, "registry", g, 200);
			if (g > 1 && (rc = OPS(l)->remove(INST(l), old)) != 0) {
				EXPECT(c, rc == LV_E_NOT_FOUND, "remove of the older %s: %s: %s", old, lv_error_name(rc), lv_location_last_error(l));
				handled(l);
			}
			rc = OPS(l)->sync ? OPS(l)->sync(INST(l)) : 0;
			EXPECT(c, rc == 0, "sync after the registry was written: %s: %s", lv_error_name(rc), lv_location_last_error(l));
		}
		lv_location_close(l);
	}
	if (!c->check_failed && (l = open_loc(c, LV_OPEN_READ))) {
		char name[64];
		snprintf(name, sizeof name, "licvault-registry-%016" PRIx64 ".reg", g);
		expect_set_object(c, l, name, "registry", g, 200);
		lv_location_close(l);
	}
	end(c);
}

static void check_cancel(cx *c)
{
	begin(c, LVC_CANCEL);
	struct lv_location *l = open_loc(c, LV_OPEN_WRITE);
	if (l) {
		lv_writer *w = NULL;
		int rc = OPS(l)->write_begin(INST(l), "conf-cancel.obj", 1 << 20, &w);
		EXPECT(c, rc == 0, "write_begin: %s: %s", lv_error_name(rc), lv_location_last_error(l));
		if (!rc) {
			static char chunk[64 * 1024];
			lv_location_set_canceled(l, 1);
			int got = 0;
			for (int i = 0; i < 64 && !got; i++)
				got = OPS(l)->write(w, chunk, sizeof chunk);
			/* a driver may buffer; the cancel must surface by commit at the latest */
			if (!got)
				got = OPS(l)->commit(w, 0);
			else
				OPS(l)->abort(w);
			EXPECT(c, got == LV_E_CANCELED, "a canceled run's write or commit gave %s, not CANCELED", lv_error_name(got));
			lv_location_set_canceled(l, 0);
			handled(l);
			names ns;
			listed(l, &ns);
			EXPECT(c, !has(&ns, "conf-cancel.obj"), "a canceled object was published");
		}
		lv_location_close(l);
	}
	end(c);
}

/* Write mib MiB in 1 MiB chunks (CRC in *crc): 0 or the error. */
static int put_large(struct lv_location *l, unsigned mib, unsigned char *buf, uLong *crc)
{
	size_t chunk = 1u << 20;
	lv_writer *w = NULL;
	int rc = OPS(l)->write_begin(INST(l), "conf-large.obj", (uint64_t)mib << 20, &w);
	for (unsigned i = 0; !rc && i < mib; i++) {
		for (size_t k = 0; k < chunk; k++)
			buf[k] = (unsigned char)(k * 13 + i * 7 + (k >> 11));
		*crc = crc32(*crc, buf, (uInt)chunk);
		if ((rc = OPS(l)->write(w, buf, chunk)))
			OPS(l)->abort(w);
	}
	return w && !rc ? OPS(l)->commit(w, 0) : rc;
}

/*
 * Read conf-large.obj back in 1 MiB reads, into *crc: its length, or the
 * error (c->why).  It stops past `size` bytes (a driver that never ends).
 */
static long long get_large(cx *c, struct lv_location *l, uint64_t size, unsigned char *buf, uLong *crc)
{
	const char *name = "conf-large.obj";
	lv_reader *r = NULL;
	int rc = read_rc(c, l, OPS(l)->read_open(INST(l), name, &r), "read_open", name);
	if (rc)
		return rc;
	uint64_t total = 0;
	size_t n = 1;
	while (!rc && n && total <= size) {
		rc = read_some(c, l, r, name, buf, 1u << 20, &n);
		*crc = crc32(*crc, buf, (uInt)n);
		total += n;
	}
	OPS(l)->read_close(r);
	return rc ? rc : (long long)total;
}

static void check_large(cx *c, unsigned mib)
{
	begin(c, LVC_LARGE);
	struct lv_location *l = open_loc(c, LV_OPEN_WRITE);
	unsigned char *buf = malloc(1u << 20);
	if (l && buf) {
		uLong crc = crc32(0L, Z_NULL, 0), back = crc;
		uint64_t size = (uint64_t)mib << 20;
		int rc = put_large(l, mib, buf, &crc);
		EXPECT(c, rc == 0, "writing %u MiB: %s: %s", mib, lv_error_name(rc), lv_location_last_error(l));
		long long n = rc ? 0 : get_large(c, l, size, buf, &back);
		if (n < 0)
			failf(c, "conf-large.obj cannot be read back: %s: %s", lv_error_name((int)n), c->why);
		else if (!rc)
			EXPECT(c, n == (long long)size && back == crc, "conf-large.obj reads back as %s%lld bytes, CRC %s, not the %"
			       PRIu64 " written", n > (long long)size ? "more than " : "", n, back == crc ? "right" : "wrong", size);
		handled(l);
		if (OPS(l)->remove)
			OPS(l)->remove(INST(l), "conf-large.obj");
	}
	free(buf);
	lv_location_close(l);
	end(c);
}

/* c->driver: the name of the driver serving c->uri ("?" when none: opening it fails preflight). */
static void name_driver(cx *c)
{
	char *resolved = NULL;
	const char *name = NULL;
	if (lv_context_resolve(c->ctx, c->uri, &resolved, &name) != 0 || !name)
		name = "?";
	snprintf(c->driver, sizeof c->driver, "%s", name);
	free(resolved);
}

int lvc_run(lv_context *ctx, const char *uri, const lvc_options *opt, lvc_result *res)
{
	cx c;
	memset(&c, 0, sizeof c);
	c.ctx = ctx;
	c.uri = uri;
	if (opt)
		c.o = *opt;
	if (!c.o.out)
		c.o.out = stderr;
	mask_uri(uri, c.shown, sizeof c.shown);
	name_driver(&c);
	begin(&c, LVC_PREFLIGHT);
	clear(&c, 1);
	end(&c);
	if (!c.check_failed) {
		void (*const order[])(cx *) = {check_write_read, check_abort, check_no_replace, check_list_remove, check_close,
		                               check_lock, check_history, check_registry, check_cancel};
		for (size_t i = 0; i < sizeof order / sizeof *order; i++)
			order[i](&c);
		if (c.o.large_mib)
			check_large(&c, c.o.large_mib);
		c.check = LVC__N; /* cleaning up: not a check */
		int failed = c.check_failed;
		clear(&c, 0);
		c.check_failed = failed;
	}
	if (res)
		*res = c.res;
	return c.res.failed;
}
