/*
 * The driver conformance suite (see conformance.h).  Each check opens the
 * location afresh, as a run would.
 */
#include "conformance.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "licvault/sys/location.h"

typedef struct cx {
	lv_context *ctx;
	const char *uri;
	int verbose;
	int failed, ran;
	const char *check;
	int check_failed;
} cx;

#define EXPECT(c, cond, ...)                                                       \
	do {                                                                           \
		if (!(cond)) {                                                             \
			fprintf(stderr, "conformance: %s: %s: ", (c)->uri, (c)->check);        \
			fprintf(stderr, __VA_ARGS__);                                          \
			fprintf(stderr, " (%s:%d)\n", __FILE__, __LINE__);                     \
			(c)->check_failed = 1;                                                 \
		}                                                                          \
	} while (0)

static struct lv_location *open_loc(cx *c, unsigned flags)
{
	struct lv_location *l = NULL;
	int rc = lv_location_open(&l, c->ctx, c->uri, flags);
	EXPECT(c, rc == 0, "open failed: %s: %s", lv_error_name(rc), lv_context_last_error(c->ctx));
	return rc ? NULL : l;
}

#define OPS(l) lv_location_driver_ops(l)
#define INST(l) lv_location_driver_instance(l)

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

/* Read a whole object (up to cap); returns its length or a negative error. */
static long get(struct lv_location *l, const char *name, char *buf, size_t cap)
{
	lv_reader *r = NULL;
	int rc = OPS(l)->read_open(INST(l), name, &r);
	if (rc)
		return rc;
	size_t total = 0;
	for (;;) {
		size_t n = 0;
		rc = OPS(l)->read(r, buf + total, cap - total, &n);
		if (rc || n == 0 || n > cap - total)
			break;
		total += n;
		if (total == cap)
			break;
	}
	OPS(l)->read_close(r);
	return rc ? rc : (long)total;
}

typedef struct names {
	int n;
	char v[64][256];
} names;

static int list_cb(const lv_object_info *info, void *ud)
{
	names *ns = ud;
	if (ns->n < 64)
		snprintf(ns->v[ns->n++], sizeof ns->v[0], "%s", info->name);
	return 0;
}

static int listed(struct lv_location *l, names *ns)
{
	memset(ns, 0, sizeof *ns);
	int rc = OPS(l)->list(INST(l), list_cb, ns);
	return rc == LV_E_NOT_FOUND ? 0 : rc;
}

static int has(names *ns, const char *name)
{
	for (int i = 0; i < ns->n; i++)
		if (!strcmp(ns->v[i], name))
			return 1;
	return 0;
}

static void begin(cx *c, const char *check)
{
	c->check = check;
	c->check_failed = 0;
	c->ran++;
}

static void end(cx *c)
{
	if (c->check_failed)
		c->failed++;
	if (c->verbose)
		fprintf(stderr, "conformance: %s: %s: %s\n", c->uri, c->check, c->check_failed ? "FAILED" : "ok");
}

static void clear(cx *c)
{
	struct lv_location *l = open_loc(c, LV_OPEN_WRITE);
	if (!l)
		return;
	names ns;
	if (listed(l, &ns) == 0 && OPS(l)->remove)
		for (int i = 0; i < ns.n; i++)
			if (!strncmp(ns.v[i], "conf-", 5))
				OPS(l)->remove(INST(l), ns.v[i]);
	lv_location_close(l);
}

static void check_write_read(cx *c)
{
	begin(c, "write, commit, read back");
	struct lv_location *l = open_loc(c, LV_OPEN_WRITE);
	if (l) {
		const char *text = "hello, licvault driver";
		int rc = put(l, "conf-a.obj", text, strlen(text), 0);
		EXPECT(c, rc == 0, "commit: %s: %s", lv_error_name(rc), lv_location_last_error(l));
		char buf[256];
		long n = get(l, "conf-a.obj", buf, sizeof buf);
		EXPECT(c, n == (long)strlen(text) && !memcmp(buf, text, (size_t)n), "read back %ld bytes, wrong content", n);
		rc = put(l, "conf-empty.obj", "", 0, 0);
		EXPECT(c, rc == 0, "an empty object: %s", lv_error_name(rc));
		n = get(l, "conf-empty.obj", buf, sizeof buf);
		EXPECT(c, n == 0, "an empty object read back as %ld", n);
		if (OPS(l)->stat) {
			lv_object_info info = {0};
			rc = OPS(l)->stat(INST(l), "conf-a.obj", &info);
			EXPECT(c, rc == 0 && info.size == strlen(text), "stat: %s, size %llu", lv_error_name(rc),
			       (unsigned long long)info.size);
		}
		lv_location_close(l);
	}
	/* a new instance sees it (the commit was a real publish) */
	l = open_loc(c, LV_OPEN_READ);
	if (l) {
		char buf[64];
		EXPECT(c, get(l, "conf-a.obj", buf, sizeof buf) > 0, "not visible from a new instance");
		lv_location_close(l);
	}
	end(c);
}

static void check_abort(cx *c)
{
	begin(c, "abort leaves nothing");
	struct lv_location *l = open_loc(c, LV_OPEN_WRITE);
	if (l) {
		lv_writer *w = NULL;
		int rc = OPS(l)->write_begin(INST(l), "conf-aborted.obj", 10, &w);
		EXPECT(c, rc == 0, "write_begin: %s", lv_error_name(rc));
		if (!rc) {
			OPS(l)->write(w, "0123456789", 10);
			/* not visible before commit */
			names ns;
			listed(l, &ns);
			EXPECT(c, !has(&ns, "conf-aborted.obj"), "visible before commit");
			for (int i = 0; i < ns.n; i++)
				EXPECT(c, ns.v[i][0] != '.', "a temporary is listed: %s", ns.v[i]);
			OPS(l)->abort(w);
		}
		names ns;
		listed(l, &ns);
		EXPECT(c, !has(&ns, "conf-aborted.obj"), "visible after abort");
		char buf[16];
		EXPECT(c, get(l, "conf-aborted.obj", buf, sizeof buf) == LV_E_NOT_FOUND, "readable after abort");
		lv_location_close(l);
	}
	end(c);
}

static void check_exists_and_replace(cx *c)
{
	begin(c, "commit never replaces unless asked; replace is atomic");
	struct lv_location *l = open_loc(c, LV_OPEN_WRITE);
	if (l) {
		put(l, "conf-r.obj", "old", 3, 0);
		int rc = put(l, "conf-r.obj", "new!", 4, 0);
		EXPECT(c, rc == LV_E_EXISTS, "a second commit without REPLACE gave %s, not EXISTS", lv_error_name(rc));
		char buf[16];
		long n = get(l, "conf-r.obj", buf, sizeof buf);
		EXPECT(c, n == 3 && !memcmp(buf, "old", 3), "the old object changed");
		rc = put(l, "conf-r.obj", "new!", 4, LV_COMMIT_REPLACE);
		EXPECT(c, rc == 0 || rc == LV_E_UNSUPPORTED, "commit with REPLACE: %s", lv_error_name(rc));
		if (rc == 0) {
			n = get(l, "conf-r.obj", buf, sizeof buf);
			EXPECT(c, n == 4 && !memcmp(buf, "new!", 4), "not replaced");
		}
		names ns;
		listed(l, &ns);
		int count = 0;
		for (int i = 0; i < ns.n; i++)
			count += !strcmp(ns.v[i], "conf-r.obj");
		EXPECT(c, count == 1, "listed %d times", count);
		lv_location_close(l);
	}
	end(c);
}

static void check_list_remove_notfound(cx *c)
{
	begin(c, "list, remove, not found");
	struct lv_location *l = open_loc(c, LV_OPEN_WRITE);
	if (l) {
		put(l, "conf-l1.obj", "1", 1, 0);
		put(l, "conf-l2.obj", "22", 2, 0);
		names ns;
		int rc = listed(l, &ns);
		EXPECT(c, rc == 0 && has(&ns, "conf-l1.obj") && has(&ns, "conf-l2.obj"), "list: %s", lv_error_name(rc));
		if (OPS(l)->remove) {
			rc = OPS(l)->remove(INST(l), "conf-l1.obj");
			EXPECT(c, rc == 0, "remove: %s", lv_error_name(rc));
			listed(l, &ns);
			EXPECT(c, !has(&ns, "conf-l1.obj") && has(&ns, "conf-l2.obj"), "removed the wrong object");
			rc = OPS(l)->remove(INST(l), "conf-l1.obj");
			EXPECT(c, rc == LV_E_NOT_FOUND, "remove of a missing object gave %s", lv_error_name(rc));
		}
		char buf[8];
		EXPECT(c, get(l, "conf-missing.obj", buf, sizeof buf) == LV_E_NOT_FOUND, "read_open of a missing object");
		if (OPS(l)->stat) {
			lv_object_info info;
			rc = OPS(l)->stat(INST(l), "conf-missing.obj", &info);
			EXPECT(c, rc == LV_E_NOT_FOUND, "stat of a missing object gave %s", lv_error_name(rc));
		}
		if (OPS(l)->sync) {
			rc = OPS(l)->sync(INST(l));
			EXPECT(c, rc == 0, "sync: %s", lv_error_name(rc));
		}
		lv_location_close(l);
	}
	end(c);
}

static void check_cancel(cx *c)
{
	begin(c, "cancellation");
	struct lv_location *l = open_loc(c, LV_OPEN_WRITE);
	if (l) {
		lv_writer *w = NULL;
		int rc = OPS(l)->write_begin(INST(l), "conf-cancel.obj", 1 << 20, &w);
		EXPECT(c, rc == 0, "write_begin: %s", lv_error_name(rc));
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
			EXPECT(c, got == LV_E_CANCELED, "a canceled run gave %s, not CANCELED", lv_error_name(got));
			lv_location_set_canceled(l, 0);
			names ns;
			listed(l, &ns);
			EXPECT(c, !has(&ns, "conf-cancel.obj"), "a canceled object was published");
		}
		lv_location_close(l);
	}
	end(c);
}

static void check_large(cx *c, unsigned mib)
{
	begin(c, "large object");
	struct lv_location *l = open_loc(c, LV_OPEN_WRITE);
	if (l) {
		size_t chunk = 1 << 20;
		unsigned char *buf = malloc(chunk);
		uLong crc = crc32(0L, Z_NULL, 0);
		lv_writer *w = NULL;
		int rc = OPS(l)->write_begin(INST(l), "conf-large.obj", (uint64_t)mib << 20, &w);
		EXPECT(c, rc == 0, "write_begin: %s", lv_error_name(rc));
		for (unsigned i = 0; !rc && i < mib; i++) {
			for (size_t k = 0; k < chunk; k++)
				buf[k] = (unsigned char)(k * 13 + i * 7 + (k >> 11));
			crc = crc32(crc, buf, (uInt)chunk);
			rc = OPS(l)->write(w, buf, chunk);
		}
		if (!rc)
			rc = OPS(l)->commit(w, 0);
		else
			OPS(l)->abort(w);
		EXPECT(c, rc == 0, "writing %u MiB: %s: %s", mib, lv_error_name(rc), lv_location_last_error(l));
		lv_reader *r = NULL;
		uint64_t total = 0;
		uLong back = crc32(0L, Z_NULL, 0);
		if (!rc && !(rc = OPS(l)->read_open(INST(l), "conf-large.obj", &r))) {
			size_t n;
			while (!(rc = OPS(l)->read(r, buf, chunk, &n)) && n) {
				back = crc32(back, buf, (uInt)n);
				total += n;
			}
			OPS(l)->read_close(r);
		}
		EXPECT(c, rc == 0 && total == ((uint64_t)mib << 20) && back == crc, "read back %llu bytes, CRC %s",
		       (unsigned long long)total, back == crc ? "ok" : "wrong");
		if (OPS(l)->remove)
			OPS(l)->remove(INST(l), "conf-large.obj");
		free(buf);
		lv_location_close(l);
	}
	end(c);
}

int lv_conformance_run(lv_context *ctx, const char *uri, unsigned large_mib, int verbose, int *ran)
{
	cx c = {ctx, uri, verbose, 0, 0, NULL, 0};
	clear(&c);
	check_write_read(&c);
	check_abort(&c);
	check_exists_and_replace(&c);
	check_list_remove_notfound(&c);
	check_cancel(&c);
	if (large_mib)
		check_large(&c, large_mib);
	clear(&c);
	if (ran)
		*ran = c.ran;
	return c.failed;
}
