/*
 * The bundle driver: a whole backup set as one gzip-compressed file written
 * through any other location (docs/drivers/bundle.md).
 *   bundle+INNER-URI     bundle+file:///tmp/x.lvb, bundle+sftp://h/dir/x.lvb
 *   bundle:///abs/x.lvb  the same as bundle+file:///abs/x.lvb
 *
 * Writing: the objects the core writes (pack, then manifest) are framed into
 * the container and compressed (on worker threads, see container.c) into
 * ONE inner object, written through the inner driver and committed in
 * sync(), at the end of a successful backup: a failed or canceled run
 * aborts the inner temporary and leaves the old bundle as it was.
 *
 * Side objects: the bundle holds the set's objects only (licvault-<16 hex>
 * .pack|.manifest).  Anything else the core keeps at a location (the lock
 * "licvault.lock", the license service's registry) is passed through to the
 * inner location as "<file>.<name>" beside the bundle, with the inner
 * driver's own semantics (a no-replace commit stays atomic).
 *
 * The pack comes first from the core but goes last into the bundle
 * (container version 2): it is compressed, while the store is read, into a
 * local unlinked temporary file; at sync the manifest is compressed into
 * the inner object, the pack's gzip member is copied after it, and an end
 * record closes the bundle.
 *
 * Reading: the first list/stat/read_open reads the bundle from its start
 * (the scan), keeps the manifest in an unlinked temporary file and stops
 * where the pack begins; the core then reads the pack from that same
 * stream, so a restore inflates (and transfers) the bundle once.  The pack's
 * reader reports its end only after the pack's size and CRC-32, the end
 * record, the gzip trailers and the end of the file were checked.  A
 * version 1 bundle (the pack first) is scanned whole and its pack read by
 * inflating it again.  Memory stays flat: one inflate window and a few
 * buffers per reader, and the read-ahead rings for the pack's.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "container.h"
#include "licvault/driver.h"

#define BUNDLE_DEFAULT_LEVEL 1
#define BUNDLE_SPOOL_MAX (256ull << 20)   /* temporary disk for the scan, at most */

typedef struct bobj {
	char name[LVB_NAME_MAX + 1];
	uint64_t size;             /* UINT64_MAX while unknown (a pack not read yet) */
	int spooled;
	uint64_t spool_off;
} bobj;

typedef struct bundle {
	const lv_host *host;
	lv_host_ctx *h;
	unsigned flags;
	char *uri;                /* for messages: a password in it masked */
	char *parent;             /* the inner location */
	char *file;               /* the bundle's object name in it */
	lv_location *loc;
	const lv_driver_ops *iops;
	void *iinst;
	int level, threaded;

	/* the existing bundle */
	int scanned, scan_rc, exists;
	char scan_why[700];
	int64_t mtime;
	unsigned nobj;
	bobj obj[LVB_MAX_OBJECTS];
	int spool_fd;
	uint64_t spool_len;
	struct lv_reader *stream;  /* the scan's stream, stopped where the pack begins */

	/* the new bundle */
	lvb_enc *enc;             /* header, manifest, end record: into the inner object */
	lvb_enc *penc;            /* the pack: into a local temporary file */
	int pfd;                  /* that file */
	uint64_t plen;            /* its compressed bytes */
	char pname[LVB_NAME_MAX + 1];
	uint64_t psize;           /* the pack's bytes, once committed */
	int pack_done;
	lv_writer *iw;            /* the inner object being written */
	struct lv_writer *open_w; /* our object writer: one at a time */
	int broken, published;
	unsigned nnew;
	char new_names[LVB_MAX_OBJECTS][LVB_NAME_MAX + 1];
	uint64_t new_sizes[LVB_MAX_OBJECTS];   /* bytes written to each new object */
} bundle;

struct lv_writer {
	bundle *b;
	lv_writer *side;          /* a side object: the inner writer */
	int pack;                 /* the pack, into the temporary file */
};

struct lv_reader {
	bundle *b;
	unsigned idx;
	/* from the spool */
	int spooled;
	uint64_t off, end;
	/* a side object, or inflating from the start: the inner reader */
	int side;
	lv_reader *ir;
	lvb_dec *dec;
	const unsigned char *pend;
	size_t pend_len;
	int obj_ended;            /* the object's end record was checked */
	uint64_t obj_size;        /* its size, then */
	int streaming;            /* the scan's stream: nothing may follow the pack */
	int done;
	struct ahead *ah;         /* the read-ahead thread, when there is one */
	int ah_started, ah_sync;
};

static int is_pack(const char *name)
{
	size_t l = strlen(name);
	return l > 5 && !strcmp(name + l - 5, ".pack");
}

/* ---- the URI --------------------------------------------------------------- */

/* Does the path of `uri` end with '/' (a URI without query or fragment)?  Then it names no file. */
static int ends_with_slash(const char *uri)
{
	size_t n = strlen(uri);
	return n && uri[n - 1] == '/' && !strpbrk(uri, "?#");
}

/* A copy of uri for messages: the password of a "scheme://user:password@host" in it masked. */
static char *masked(const char *uri)
{
	size_t n = strlen(uri);
	char *out = malloc(n + 4); /* "***" for a password of 1 byte at least */
	if (!out)
		return NULL;
	memcpy(out, uri, n + 1);
	char *auth = strstr(out, "://");
	if (!auth)
		return out;
	auth += 3;
	char *end = auth + strcspn(auth, "/?#");
	char *at = memchr(auth, '@', (size_t)(end - auth));
	char *colon = at ? memchr(auth, ':', (size_t)(at - auth)) : NULL;
	if (colon && at - colon > 1) {
		memmove(colon + 4, at, strlen(at) + 1);
		memcpy(colon + 1, "***", 3);
	}
	return out;
}

/* a followed by b, malloc'd */
static char *concat(const char *a, const char *b)
{
	size_t n = strlen(a) + strlen(b) + 1;
	char *p = malloc(n);
	if (p)
		snprintf(p, n, "%s%s", a, b);
	return p;
}

#define BUNDLE_FORM "bundle+INNER-URI (bundle+file:///dir/x.lvb, bundle+/dir/x.lvb) or bundle:///abs/x.lvb"

/*
 * The inner URI of the bundle URI `raw` (malloc'd): INNER of bundle+INNER,
 * or file:///abs/x.lvb for bundle:///abs/x.lvb.  Errors are described,
 * naming `uri` (raw with its password masked).
 */
static int inner_uri(bundle *b, const char *uri, const char *raw, char **out)
{
	lv_uri *u = NULL;
	if (ends_with_slash(raw))
		return b->host->set_error(b->h, LV_E_BAD_URI, "'%s' ends with '/': name the bundle file (bundle+file:///dir/backup.lvb)", uri);
	int rc = b->host->uri_parse(b->h, raw, &u);
	if (rc || !u)
		return rc ? rc : b->host->set_error(b->h, LV_E_IO, "the host's URI parser gave nothing for %s", uri);
	*out = NULL;
	if (strcmp(u->scheme, "bundle") != 0)
		rc = b->host->set_error(b->h, LV_E_BAD_URI, "'%s' is not a bundle URI: use " BUNDLE_FORM, uri);
	else if (u->inner && !u->inner[0])
		rc = b->host->set_error(b->h, LV_E_BAD_URI, "'%s': no inner URI after 'bundle+'", uri);
	else if (u->inner)
		*out = strdup(u->inner);
	else if (u->host || u->user || u->port || u->query || strchr(raw, '#') || u->path[0] != '/')
		rc = b->host->set_error(b->h, LV_E_BAD_URI, "'%s' is not a bundle URI: use " BUNDLE_FORM, uri);
	else /* the path as written, percent-escapes and all, after "bundle:" */
		*out = concat("file:", strchr(raw, ':') + 1);
	if (!rc && !*out)
		rc = b->host->set_error(b->h, LV_E_NOMEM, "out of memory opening %s", uri);
	b->host->uri_free(u);
	return rc;
}

/*
 * The parent of `inner` (raw: INNER without its last path segment, keeping
 * the root '/' and a query) and where its last segment begins.  The decoded
 * path `path` (the host's) tells where the segments are; *slash gets the
 * index of its last '/', or -1 when it has none.
 */
static char *parent_of(const char *inner, int is_uri, const char *path, long *slash)
{
	const char *ls = strrchr(path, '/');
	*slash = ls ? (long)(ls - path) : -1;
	if (!ls)
		return is_uri ? NULL : strdup("."); /* a relative "x.lvb": the current directory */
	size_t end = is_uri ? strcspn(inner, "?#") : strlen(inner);
	size_t cut = end;
	while (cut > 0 && inner[cut - 1] != '/')
		cut--;
	if (cut == 0) {
		*slash = -1; /* the '/' came from an escape: no segment to split off */
		return NULL;
	}
	size_t keep = *slash == 0 ? cut : cut - 1; /* the root keeps its '/' */
	size_t n = keep + strlen(inner + end) + 1;
	char *p = malloc(n);
	if (p)
		snprintf(p, n, "%.*s%s", (int)keep, inner, inner + end);
	return p;
}

/*
 * Does `parent` decode to path[0..len), the decoded path before the file
 * name?  Not when the name held an encoded '/' (%2F): then the raw split
 * was elsewhere.  Trailing slashes are compared without (see ends_with_slash).
 */
static int check_parent(bundle *b, const char *uri, const char *parent_in, const char *path, size_t len)
{
	char *parent = strdup(parent_in);
	if (!parent)
		return b->host->set_error(b->h, LV_E_NOMEM, "out of memory opening %s", uri);
	size_t n = strlen(parent);
	while (n > 0 && parent[n - 1] == '/' && !strpbrk(parent, "?#"))
		parent[--n] = '\0';
	while (len > 0 && path[len - 1] == '/')
		len--;
	lv_uri *pu = NULL;
	int rc = b->host->uri_parse(b->h, parent, &pu);
	if (!rc && pu && (strlen(pu->path) != len || strncmp(pu->path, path, len) != 0))
		rc = b->host->set_error(b->h, LV_E_BAD_URI, "'%s': the bundle's file name may not hold an encoded '/' (%%2F)", uri);
	b->host->uri_free(pu);
	free(parent);
	return rc;
}

/*
 * The innermost URI of a stack (INNER of "crypt+INNER", itself maybe a
 * stack): *base gets where it begins in `inner`; the layers before it are
 * kept as they are.  A bundle in the stack is refused.  Errors are described.
 */
static int stack_base(bundle *b, const char *uri, const char *inner, const char **base)
{
	*base = inner;
	for (;;) {
		lv_uri *u = NULL;
		if (ends_with_slash(*base))
			return b->host->set_error(b->h, LV_E_BAD_URI, "'%s' ends with '/': name the bundle file (bundle+file:///dir/backup.lvb)", uri);
		int rc = b->host->uri_parse(b->h, *base, &u);
		if (rc || !u)
			return rc ? rc : b->host->set_error(b->h, LV_E_IO, "the host's URI parser gave nothing for %s", uri);
		if (!strcmp(u->scheme, "bundle"))
			rc = b->host->set_error(b->h, LV_E_BAD_URI, "'%s': a bundle cannot hold a bundle", uri);
		else if (u->inner) /* "A+" and then INNER as given: skip the layer */
			*base += strlen(*base) - strlen(u->inner);
		int layer = u->inner != NULL;
		b->host->uri_free(u);
		if (rc || !layer)
			return rc;
	}
}

/*
 * Split INNER into b->parent, the inner location, and b->file, the bundle's
 * object name there: the last path segment of the innermost URI of the
 * stack (percent-decoded by the host; a plain path is taken as written);
 * the layers of a stack stay in the parent (bundle+crypt+sftp://h/d/x.lvb:
 * crypt+sftp://h/d and x.lvb).  The parent is checked to decode to the path
 * before the name: an encoded '/' (%2F) in the name is refused.
 */
static int split_inner(bundle *b, const char *uri, const char *inner)
{
	const char *base = inner;
	if (!inner)
		return b->host->set_error(b->h, LV_E_NOMEM, "out of memory opening %s", uri);
	int rc = stack_base(b, uri, inner, &base);
	lv_uri *iu = NULL;
	if (rc || (rc = b->host->uri_parse(b->h, base, &iu)) || !iu)
		return rc ? rc : b->host->set_error(b->h, LV_E_IO, "the host's URI parser gave nothing for %s", uri);
	long slash = -1;
	char *parent = parent_of(base, iu->scheme[0] != '\0', iu->path, &slash);
	if (!parent)
		rc = slash < 0 ? b->host->set_error(b->h, LV_E_BAD_URI, "'%s' names no file: bundle+sftp://host/dir/backup.lvb", uri)
		               : b->host->set_error(b->h, LV_E_NOMEM, "out of memory opening %s", uri);
	else if (!(b->file = strdup(iu->path + slash + 1)) || !(b->parent = malloc(strlen(inner) + strlen(parent) + 1)))
		rc = b->host->set_error(b->h, LV_E_NOMEM, "out of memory opening %s", uri);
	else if (!b->file[0])
		rc = b->host->set_error(b->h, LV_E_BAD_URI, "'%s' ends with '/': name the bundle file (bundle+file:///dir/backup.lvb)", uri);
	else if (!b->host->name_valid(b->h, b->file) || b->file[0] == '.')
		rc = b->host->set_error(b->h, LV_E_BAD_URI, "'%s': the bundle's file name must be 1 to 255 bytes and not start with '.'", uri);
	else {
		/* the stack's layers, then the parent */
		snprintf(b->parent, strlen(inner) + strlen(parent) + 1, "%.*s%s", (int)(base - inner), inner, parent);
		if (slash > 0 && iu->scheme[0])
			rc = check_parent(b, uri, parent, iu->path, (size_t)slash);
	}
	free(parent);
	b->host->uri_free(iu);
	return rc;
}

/* ---- config ----------------------------------------------------------------- */

static int read_config(bundle *b)
{
	lv_config_value v;
	int rc = b->host->config_value(b->h, "level", &v);
	b->level = (int)v.number;
	if (!rc)
		rc = b->host->config_value(b->h, "threads", &v);
	b->threaded = v.number != 0;
	return rc; /* LV_E_CONFIG, described by the host (file, line, key, what was expected) */
}

/* ---- open, close ------------------------------------------------------------ */

static void reader_free(struct lv_reader *r);
static void ahead_free(struct lv_reader *r);
static void ahead_start(struct lv_reader *r);

static void bundle_close(void *inst)
{
	bundle *b = inst;
	if (!b)
		return;
	/* the host released our writers and readers still open (track) before this */
	if (b->stream)
		reader_free(b->stream);
	lvb_enc_free(b->enc);
	lvb_enc_free(b->penc);
	if (b->pfd >= 0)
		close(b->pfd);
	if (b->iw)
		b->iops->abort(b->iw); /* an unfinished bundle: the inner temporary goes, the old bundle stays */
	if (b->spool_fd >= 0)
		close(b->spool_fd);
	if (b->loc)
		b->host->location_close(b->loc);
	free(b->uri);
	free(b->parent);
	free(b->file);
	free(b);
}

/* 1 when the bundle's file is at the inner location, 0 when not (that NOT_FOUND is handled), or an error. */
static int inner_exists(bundle *b)
{
	int saved = b->host->error_save(b->h);
	if (b->iops->stat) {
		lv_object_info info = {0};
		int rc = b->iops->stat(b->iinst, b->file, &info);
		if (rc == 0) {
			b->mtime = info.mtime;
			return 1;
		}
		if (rc == LV_E_NOT_FOUND)
			b->host->error_restore(b->h, saved);
		return rc == LV_E_NOT_FOUND ? 0 : rc;
	}
	lv_reader *r = NULL;
	int rc = b->iops->read_open(b->iinst, b->file, &r);
	if (rc == 0) {
		b->iops->read_close(r);
		return 1;
	}
	if (rc == LV_E_NOT_FOUND)
		b->host->error_restore(b->h, saved);
	return rc == LV_E_NOT_FOUND ? 0 : rc;
}

static int bundle_open(const lv_host *host, lv_host_ctx *h, const char *uri, unsigned flags, void **inst)
{
	bundle *b = calloc(1, sizeof *b);
	if (!b)
		return host->set_error(h, LV_E_NOMEM, "out of memory opening %s", uri);
	b->host = host;
	b->h = h;
	b->flags = flags;
	b->spool_fd = -1;
	b->pfd = -1;
	int rc;
	char *inner = NULL;
	if (!(b->uri = masked(uri))) {
		rc = host->set_error(h, LV_E_NOMEM, "out of memory opening %s", uri);
		goto fail;
	}
	if (!(rc = inner_uri(b, b->uri, uri, &inner)))
		rc = split_inner(b, b->uri, inner);
	free(inner);
	if (rc || (rc = read_config(b)))
		goto fail;
	if ((rc = host->open_uri(h, b->parent, flags, &b->loc)))
		goto fail; /* described by the inner driver */
	b->iops = host->location_ops(b->loc);
	b->iinst = host->location_instance(b->loc);
	if (flags & LV_OPEN_WRITE) {
		rc = inner_exists(b);
		if (rc < 0)
			goto fail;
		b->exists = rc;
	}
	*inst = b;
	return 0;
fail:
	bundle_close(b);
	return rc;
}

/* ---- the scan: read the whole bundle once, check it, keep the later objects --- */

static int inner_read(void *ud, void *buf, size_t cap, size_t *n)
{
	struct lv_reader *r = ud;
	return r->b->iops->read(r->ir, buf, cap, n);
}

static const char *tmp_dir(void)
{
	const char *dir = getenv("TMPDIR");
	return dir && *dir ? dir : "/tmp";
}

/* An unlinked temporary file in $TMPDIR, or -1 with errno. */
static int tmp_open(void)
{
	const char *dir = tmp_dir();
	int fd = open(dir, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
	if (fd < 0) {
		char p[4096];
		snprintf(p, sizeof p, "%s/.lvbundle-XXXXXX", dir);
		fd = mkostemp(p, O_CLOEXEC);
		if (fd >= 0)
			unlink(p);
	}
	return fd;
}

static int spool_open(bundle *b)
{
	if (b->spool_fd >= 0)
		return 0;
	int fd = tmp_open();
	if (fd < 0)
		return -1;
	b->spool_fd = fd;
	return 0;
}

/* Append n bytes at *off of a temporary file: 0, or an errno (ENOSPC for a write of 0). */
static int pwrite_all(int fd, const void *buf, size_t n, uint64_t *off)
{
	const unsigned char *p = buf;
	while (n) {
		ssize_t k = pwrite(fd, p, n, (off_t)*off);
		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0)
			return k < 0 ? errno : ENOSPC;
		p += k;
		n -= (size_t)k;
		*off += (uint64_t)k;
	}
	return 0;
}

static int spool_write(bundle *b, const unsigned char *p, size_t n)
{
	if (b->spool_len + n > BUNDLE_SPOOL_MAX)
		return -1;
	return pwrite_all(b->spool_fd, p, n, &b->spool_len) ? -1 : 0;
}

static int corrupt_error(bundle *b, int rc, lvb_dec *d)
{
	if (rc == LV_E_BACKUP_CORRUPT)
		return b->host->set_error(b->h, rc, "bundle %s is corrupt: %s", b->uri, lvb_dec_why(d));
	if (rc == LV_E_NOMEM)
		return b->host->set_error(b->h, rc, "bundle %s: %s", b->uri, lvb_dec_why(d));
	return rc; /* the inner driver's error, already described */
}

/*
 * The scan's first step: open the bundle's file at the inner location and a
 * decoder on it.  The reader, or NULL with *rc: 1 when there is no bundle
 * (the inner NOT_FOUND is taken back: an answer, not a failure), or an
 * error (described).
 */
static struct lv_reader *scan_open(bundle *b, int saved, int *rc)
{
	struct lv_reader *r = calloc(1, sizeof *r);
	if (!r) {
		*rc = b->host->set_error(b->h, LV_E_NOMEM, "bundle %s: out of memory", b->uri);
		return NULL;
	}
	r->b = b;
	if ((*rc = b->iops->read_open(b->iinst, b->file, &r->ir))) {
		free(r);
		if (*rc == LV_E_NOT_FOUND) {
			b->host->error_restore(b->h, saved);
			*rc = 1;
		}
		return NULL; /* else described by the inner driver */
	}
	if (!b->mtime && b->iops->stat) {
		lv_object_info info = {0};
		if (b->iops->stat(b->iinst, b->file, &info) == 0)
			b->mtime = info.mtime;
		b->host->error_restore(b->h, saved); /* the time is a nicety */
	}
	if ((*rc = lvb_dec_new(&r->dec, inner_read, r))) {
		reader_free(r);
		*rc = b->host->set_error(b->h, *rc, "bundle %s: out of memory for a decoder", b->uri);
		return NULL;
	}
	return r;
}

/*
 * Read the bundle's events into b->obj up to the pack of a version 2
 * bundle (r then streams it) or the end; the manifest goes to the spool
 * when reading.  0 or an error (described; a corrupt bundle's reason is
 * kept in b->scan_why too).
 */
static int scan_events(bundle *b, struct lv_reader *r)
{
	int writing = (b->flags & LV_OPEN_WRITE) != 0;
	lvb_dec *d = r->dec;
	bobj *cur = NULL;
	for (unsigned events = 1;; events++) {
		lvb_event ev;
		if ((events & 255) == 0 && b->host->canceled(b->h))
			return LV_E_CANCELED;
		int rc = lvb_dec_next(d, &ev);
		if (rc) {
			if (rc == LV_E_BACKUP_CORRUPT)
				snprintf(b->scan_why, sizeof b->scan_why, "bundle %s is corrupt: %s", b->uri, lvb_dec_why(d));
			return corrupt_error(b, rc, d);
		}
		if (ev.type == LVB_EV_END)
			return 0;
		if (ev.type == LVB_EV_OBJECT) {
			cur = &b->obj[b->nobj++];
			memset(cur, 0, sizeof *cur);
			snprintf(cur->name, sizeof cur->name, "%s", ev.name);
			cur->size = UINT64_MAX;
			if (is_pack(ev.name) && lvb_dec_version(d) >= 2) {
				/* version 2: the pack is the last object; stop here, and
				 * let the pack's reader go on with this stream */
				r->idx = ev.index;
				r->streaming = 1;
				return 0;
			}
			/* version 1 puts the pack first: read later by inflating again.  The
			 * manifest is read before the pack and more than once: keep it */
			if (!is_pack(ev.name) && !writing && spool_open(b) == 0) {
				cur->spooled = 1;
				cur->spool_off = b->spool_len;
			}
		} else if (cur && ev.type == LVB_EV_DATA) {
			if (cur->spooled && spool_write(b, ev.data, ev.len) != 0)
				cur->spooled = 0; /* no room: read it by inflating again */
		} else if (cur && ev.type == LVB_EV_OBJECT_END) {
			cur->size = ev.size;
		}
	}
}

/*
 * A backup found a file that is not a whole licvault bundle (a document, a
 * damaged bundle): it is never written over, whatever the flags.  What the
 * scan described is taken back for this message.
 */
static int scan_not_ours(bundle *b, struct lv_reader *r, int saved)
{
	const char *why = lvb_dec_why(r->dec);
	b->host->error_restore(b->h, saved);
	snprintf(b->scan_why, sizeof b->scan_why,
	         "%s exists and is not a whole licvault bundle (%s); licvault never writes over it: remove it or name another file",
	         b->uri, why[0] ? why : "it cannot be read");
	b->host->set_error(b->h, LV_E_BACKUP_EXISTS, "%s", b->scan_why);
	return LV_E_BACKUP_EXISTS;
}

/*
 * Read the existing bundle from its start, once (the first list, stat or
 * read_open): its objects into b->obj; reading, the manifest into the
 * spool and the stream kept for the pack's reader.  The result is
 * remembered (but out of memory, which a later call may try again).
 */
static int scan(bundle *b)
{
	if (b->scanned) {
		if (b->scan_rc && b->scan_why[0])
			b->host->set_error(b->h, b->scan_rc, "%s", b->scan_why);
		return b->scan_rc;
	}
	int writing = (b->flags & LV_OPEN_WRITE) != 0;
	int saved = b->host->error_save(b->h);
	int rc = 0;
	struct lv_reader *r = scan_open(b, saved, &rc);
	if (rc == LV_E_NOMEM)
		return rc; /* not remembered */
	b->scanned = 1;
	b->exists = r != NULL;
	if (!r)
		return b->scan_rc = rc == 1 ? LV_E_NOT_FOUND : rc;
	rc = scan_events(b, r);
	if (rc && writing && rc != LV_E_CANCELED && rc != LV_E_NOMEM)
		rc = scan_not_ours(b, r, saved);
	if (!rc && r->streaming && !writing)
		b->stream = r;
	else
		reader_free(r);
	if (rc)
		b->nobj = 0;
	return b->scan_rc = rc;
}

static bobj *find_obj(bundle *b, const char *name)
{
	for (unsigned i = 0; i < b->nobj; i++)
		if (!strcmp(b->obj[i].name, name))
			return &b->obj[i];
	return NULL;
}

static int is_set(const char *name)
{
	return name && lvb_name_ok(name, strlen(name));
}

/* The inner name of a side object: "<file>.<name>". */
static char *side_name(bundle *b, const char *name)
{
	size_t n = strlen(b->file) + strlen(name) + 2;
	char *p = malloc(n);
	if (p)
		snprintf(p, n, "%s.%s", b->file, name);
	return p;
}

/* ---- list, stat, remove ---------------------------------------------------- */

typedef struct side_list {
	bundle *b;
	lv_list_cb cb;
	void *ud;
	size_t pl;
} side_list;

static int side_list_cb(const lv_object_info *info, void *p)
{
	side_list *sl = p;
	bundle *b = sl->b;
	if (!info || !info->name || strncmp(info->name, b->file, sl->pl - 1) != 0 || info->name[sl->pl - 1] != '.' ||
	    !info->name[sl->pl] || is_set(info->name + sl->pl))
		return 0;
	lv_object_info i2 = *info;
	i2.name = info->name + sl->pl;
	return sl->cb(&i2, sl->ud);
}

static int bundle_list(void *inst, lv_list_cb cb, void *ud)
{
	bundle *b = inst;
	int rc = scan(b);
	if (rc && rc != LV_E_NOT_FOUND)
		return rc;
	for (unsigned i = 0; !rc && i < b->nobj; i++) {
		lv_object_info info = {b->obj[i].name, b->obj[i].size, b->mtime};
		if ((rc = cb(&info, ud)))
			return rc;
	}
	/* the side objects beside the bundle */
	side_list sl = {b, cb, ud, strlen(b->file) + 1};
	rc = b->iops->list(b->iinst, side_list_cb, &sl);
	return rc == LV_E_NOT_FOUND ? 0 : rc;
}

static int bundle_stat(void *inst, const char *name, lv_object_info *info)
{
	bundle *b = inst;
	if (!is_set(name)) {
		char *sn = side_name(b, name);
		if (!sn)
			return LV_E_NOMEM;
		int rc = b->iops->stat ? b->iops->stat(b->iinst, sn, info) : LV_E_UNSUPPORTED;
		free(sn);
		info->name = name;
		return rc;
	}
	for (unsigned i = 0; i < b->nnew; i++)
		if (!strcmp(b->new_names[i], name)) { /* written by this instance */
			info->name = name;
			info->size = b->new_sizes[i];
			info->mtime = 0;
			return 0;
		}
	int rc = scan(b);
	if (rc == LV_E_NOT_FOUND)
		return b->host->set_error(b->h, LV_E_NOT_FOUND, "no bundle at %s", b->uri);
	if (rc)
		return rc;
	bobj *o = find_obj(b, name);
	if (!o)
		return b->host->set_error(b->h, LV_E_NOT_FOUND, "bundle %s holds no %s", b->uri, name);
	info->name = name;
	info->size = o->size;
	info->mtime = b->mtime;
	return 0;
}

static int bundle_remove(void *inst, const char *name)
{
	bundle *b = inst;
	if (!is_set(name)) {
		char *sn = side_name(b, name);
		if (!sn)
			return b->host->set_error(b->h, LV_E_NOMEM, "bundle %s: out of memory removing %s", b->uri, name);
		int rc = b->iops->remove(b->iinst, sn); /* NOT_FOUND or not, the inner driver's answer */
		free(sn);
		return rc;
	}
	if (!(b->flags & LV_OPEN_WRITE))
		return b->host->set_error(b->h, LV_E_UNSUPPORTED, "bundle %s was opened for reading", b->uri);
	for (unsigned i = 0; i < b->nnew; i++)
		if (!strcmp(b->new_names[i], name)) {
			/* it is in the stream already: this bundle must never be published */
			b->broken = 1;
			return 0;
		}
	int rc = scan(b);
	if (rc && rc != LV_E_NOT_FOUND)
		return rc;
	if (!rc && find_obj(b, name))
		return 0; /* an object of the old bundle: simply not carried into the new one */
	return b->host->set_error(b->h, LV_E_NOT_FOUND, "bundle %s holds no %s", b->uri, name);
}

/* ---- reading ------------------------------------------------------------------ */

/* Free a reader (handed out or the scan's): its read-ahead thread, decoder and inner reader. */
static void reader_free(struct lv_reader *r)
{
	if (!r)
		return;
	bundle *b = r->b;
	b->host->untrack(b->h, r); /* a no-op for one not handed out */
	ahead_free(r);             /* stops the thread before its decoder goes */
	lvb_dec_free(r->dec);
	if (r->ir)
		b->iops->read_close(r->ir);
	free(r);
}

static void release_reader(void *r)
{
	reader_free(r);
}

/* Hand a reader out, tracked: the host closes it if the run leaves it open. */
static int hand_out(bundle *b, struct lv_reader *r, lv_reader **out)
{
	int rc = b->host->track(b->h, r, release_reader);
	if (rc) {
		reader_free(r);
		return rc;
	}
	*out = r;
	return 0;
}

/* A side object: the inner location's "<file>.<name>". */
static int side_read_open(bundle *b, const char *name, lv_reader **out)
{
	char *sn = side_name(b, name);
	struct lv_reader *r = sn ? calloc(1, sizeof *r) : NULL;
	if (!r) {
		free(sn);
		return b->host->set_error(b->h, LV_E_NOMEM, "bundle %s: out of memory opening %s", b->uri, name);
	}
	int rc = b->iops->read_open(b->iinst, sn, &r->ir);
	free(sn);
	if (rc) {
		free(r);
		return rc; /* described by the inner driver */
	}
	r->b = b;
	r->side = 1;
	return hand_out(b, r, out);
}

/* An object of the set not streamed by the scan: from the spool, or by inflating the bundle again. */
static int set_reader(bundle *b, bobj *o, lv_reader **out)
{
	struct lv_reader *r = calloc(1, sizeof *r);
	if (!r)
		return b->host->set_error(b->h, LV_E_NOMEM, "bundle %s: out of memory opening %s", b->uri, o->name);
	r->b = b;
	r->idx = (unsigned)(o - b->obj);
	if (o->spooled) {
		r->spooled = 1;
		r->off = o->spool_off;
		r->end = o->spool_off + o->size;
		return hand_out(b, r, out);
	}
	int rc = b->iops->read_open(b->iinst, b->file, &r->ir);
	if (rc) {
		free(r);
		return rc; /* described by the inner driver */
	}
	if ((rc = lvb_dec_new(&r->dec, inner_read, r))) {
		reader_free(r);
		return b->host->set_error(b->h, rc, "bundle %s: out of memory for a decoder", b->uri);
	}
	if (b->threaded)
		ahead_start(r);
	return hand_out(b, r, out);
}

static int bundle_read_open(void *inst, const char *name, lv_reader **out)
{
	bundle *b = inst;
	if (!is_set(name))
		return side_read_open(b, name, out);
	int rc = scan(b);
	if (rc == LV_E_NOT_FOUND)
		return b->host->set_error(b->h, LV_E_NOT_FOUND, "no bundle at %s", b->uri);
	if (rc)
		return rc;
	bobj *o = find_obj(b, name);
	if (!o)
		return b->host->set_error(b->h, LV_E_NOT_FOUND, "bundle %s holds no %s", b->uri, name);
	if (b->stream && b->stream->idx == (unsigned)(o - b->obj)) {
		/* the pack of a version 2 bundle: go on with the scan's stream */
		struct lv_reader *r = b->stream;
		b->stream = NULL;
		if (b->threaded)
			ahead_start(r);
		return hand_out(b, r, out);
	}
	return set_reader(b, o, out);
}

/*
 * The next event of an object's reader (inflating): data of the object at
 * r->pend, or r->done once the object and the rest of the bundle checked
 * out.  Calls no host service (the read-ahead thread runs it): an error is
 * described in why (empty for an inner driver's error, described already).
 */
static int next_chunk(struct lv_reader *r, char *why, size_t cap)
{
	bundle *b = r->b;
	const char *name = b->obj[r->idx].name;
	lvb_event ev;
	int rc = lvb_dec_next(r->dec, &ev);
	if (rc) {
		if (rc == LV_E_BACKUP_CORRUPT)
			snprintf(why, cap, "bundle %s is corrupt: %s", b->uri, lvb_dec_why(r->dec));
		else if (rc == LV_E_NOMEM)
			snprintf(why, cap, "bundle %s: %s", b->uri, lvb_dec_why(r->dec));
		return rc;
	}
	if (r->obj_ended) {
		/* the object is whole; its end is reported once the rest of the
		 * bundle (end record, gzip trailers, end of file) checked out */
		if (ev.type == LVB_EV_END)
			r->done = 1;
		else if (r->streaming && ev.type == LVB_EV_OBJECT) {
			/* the offset of its 'O' record, which the decoder has consumed */
			uint64_t at = lvb_dec_offset(r->dec) - 2 - strlen(ev.name);
			snprintf(why, cap, "bundle %s is corrupt: object %s at container byte %llu follows the pack %s, "
			                   "which ends a version 2 bundle",
			         b->uri, ev.name, (unsigned long long)at, name);
			return LV_E_BACKUP_CORRUPT;
		}
		return 0;
	}
	if (ev.type == LVB_EV_END || (ev.type == LVB_EV_OBJECT && ev.index > r->idx)) {
		snprintf(why, cap, "bundle %s is corrupt: object %s is gone (the file changed?)", b->uri, name);
		return LV_E_BACKUP_CORRUPT;
	}
	if (ev.index != r->idx)
		return 0;
	if (ev.type == LVB_EV_OBJECT && strcmp(ev.name, name) != 0) {
		snprintf(why, cap, "bundle %s is corrupt: object %u is %s, it was %s (the file changed?)", b->uri, r->idx, ev.name, name);
		return LV_E_BACKUP_CORRUPT;
	}
	if (ev.type == LVB_EV_DATA) {
		r->pend = ev.data;
		r->pend_len = ev.len;
	} else if (ev.type == LVB_EV_OBJECT_END) {
		r->obj_ended = 1; /* its size and CRC-32 checked */
		r->obj_size = ev.size;
	}
	return 0;
}

/* ---- inflating ahead ----------------------------------------------------------
 *
 * A reader that inflates (the pack) does it on a second thread when threads
 * are on, so that inflating overlaps the core's import.  The run's thread
 * alone calls the inner driver: at each read it tops up a ring of
 * compressed buffers, which the inflating thread consumes; inflated bytes
 * come back in a ring of output buffers.  Memory: 2 MiB in, 4 MiB out.
 */

#define AH_NIN 8
#define AH_IN_SIZE ((size_t)256 * 1024)
#define AH_NOUT 4
#define AH_OUT_SIZE ((size_t)1 << 20)

typedef struct ahead {
	pthread_t th;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	unsigned char *in[AH_NIN];
	size_t in_len[AH_NIN];
	unsigned in_head, in_n;    /* full input buffers; in[in_head] is being inflated */
	size_t in_off;             /* bytes of in[in_head] taken */
	int in_eof, in_err;        /* the inner object ended / failed (the run's thread) */
	unsigned char *out[AH_NOUT];
	size_t out_len[AH_NOUT];
	unsigned out_head, out_n;  /* full output buffers; out[out_head] is being handed out */
	size_t out_off;            /* bytes of out[out_head] handed out */
	int end, rc, quit;         /* the thread: the object and the bundle checked / failed / stop */
	char why[700];
} ahead;

/* The inflating thread's source of compressed bytes: the input ring. */
static int ahead_read(void *ud, void *buf, size_t cap, size_t *n)
{
	ahead *a = ud;
	*n = 0;
	pthread_mutex_lock(&a->mu);
	for (;;) {
		if (a->quit) {
			pthread_mutex_unlock(&a->mu);
			return LV_E_CANCELED;
		}
		if (a->in_n) {
			size_t left = a->in_len[a->in_head] - a->in_off;
			if (left) {
				unsigned char *src = a->in[a->in_head] + a->in_off;
				size_t k = left < cap ? left : cap;
				a->in_off += k;
				pthread_mutex_unlock(&a->mu);
				memcpy(buf, src, k); /* the run's thread never writes a full buffer */
				*n = k;
				return 0;
			}
			a->in_head = (a->in_head + 1) % AH_NIN;
			a->in_n--;
			a->in_off = 0;
			pthread_cond_broadcast(&a->cv);
			continue;
		}
		if (a->in_err) {
			int rc = a->in_err;
			pthread_mutex_unlock(&a->mu);
			return rc;
		}
		if (a->in_eof) {
			pthread_mutex_unlock(&a->mu);
			return 0;
		}
		pthread_cond_wait(&a->cv, &a->mu);
	}
}

static void *ahead_main(void *p)
{
	struct lv_reader *r = p;
	ahead *a = r->ah;
	int ob = -1;
	size_t olen = 0;
	int rc = 0;
	char why[700] = "";
	while (!r->done) {
		if ((rc = next_chunk(r, why, sizeof why)))
			break;
		while (r->pend_len || (r->done && ob >= 0)) {
			if (ob < 0) {
				pthread_mutex_lock(&a->mu);
				while (a->out_n == AH_NOUT && !a->quit)
					pthread_cond_wait(&a->cv, &a->mu);
				int quit = a->quit;
				ob = (int)((a->out_head + a->out_n) % AH_NOUT); /* free, and stays free until pushed */
				pthread_mutex_unlock(&a->mu);
				if (quit)
					return NULL;
				olen = 0;
			}
			size_t k = AH_OUT_SIZE - olen < r->pend_len ? AH_OUT_SIZE - olen : r->pend_len;
			memcpy(a->out[ob] + olen, r->pend, k);
			olen += k;
			r->pend += k;
			r->pend_len -= k;
			if (olen == AH_OUT_SIZE || (r->done && !r->pend_len)) {
				pthread_mutex_lock(&a->mu);
				a->out_len[ob] = olen;
				a->out_n++;
				pthread_cond_broadcast(&a->cv);
				pthread_mutex_unlock(&a->mu);
				ob = -1;
			}
		}
	}
	if (ob >= 0 && olen) {
		/* what was inflated before an error goes out first, as without the thread */
		pthread_mutex_lock(&a->mu);
		a->out_len[ob] = olen;
		a->out_n++;
		pthread_mutex_unlock(&a->mu);
	}
	pthread_mutex_lock(&a->mu);
	if (rc) {
		a->rc = rc;
		memcpy(a->why, why, sizeof a->why);
	} else
		a->end = 1;
	pthread_cond_broadcast(&a->cv);
	pthread_mutex_unlock(&a->mu);
	return NULL;
}

static void ahead_free(struct lv_reader *r)
{
	ahead *a = r->ah;
	if (!a)
		return;
	if (r->ah_started) {
		pthread_mutex_lock(&a->mu);
		a->quit = 1;
		pthread_cond_broadcast(&a->cv);
		pthread_mutex_unlock(&a->mu);
		pthread_join(a->th, NULL);
	}
	if (r->ah_sync) {
		pthread_mutex_destroy(&a->mu);
		pthread_cond_destroy(&a->cv);
	}
	for (int i = 0; i < AH_NIN; i++)
		free(a->in[i]);
	for (int i = 0; i < AH_NOUT; i++)
		free(a->out[i]);
	free(a);
	r->ah = NULL;
}

/* Inflate this reader's object on a second thread; without one, stay on this one. */
static void ahead_start(struct lv_reader *r)
{
	ahead *a = calloc(1, sizeof *a);
	if (!a)
		return;
	r->ah = a;
	for (int i = 0; i < AH_NIN; i++)
		if (!(a->in[i] = malloc(AH_IN_SIZE)))
			goto no;
	for (int i = 0; i < AH_NOUT; i++)
		if (!(a->out[i] = malloc(AH_OUT_SIZE)))
			goto no;
	if (pthread_mutex_init(&a->mu, NULL))
		goto no;
	if (pthread_cond_init(&a->cv, NULL)) {
		pthread_mutex_destroy(&a->mu);
		goto no;
	}
	r->ah_sync = 1;
	/* the decoder keeps what it buffered and reads the rest from the ring */
	lvb_dec_set_source(r->dec, ahead_read, a);
	if (pthread_create(&a->th, NULL, ahead_main, r) != 0) {
		lvb_dec_set_source(r->dec, inner_read, r);
		goto no;
	}
	r->ah_started = 1;
	return;
no:
	ahead_free(r);
}

/* bundle_read with a read-ahead thread: feed it compressed bytes, take inflated ones. */
static int ahead_take(struct lv_reader *r, void *buf, size_t cap, size_t *n)
{
	bundle *b = r->b;
	ahead *a = r->ah;
	pthread_mutex_lock(&a->mu);
	for (;;) {
		/* keep the input ring full: the thread inflates while the core works */
		while (a->in_n < AH_NIN && !a->in_eof && !a->in_err && !a->end && !a->rc) {
			unsigned slot = (a->in_head + a->in_n) % AH_NIN; /* free until pushed */
			pthread_mutex_unlock(&a->mu);
			size_t got = 0;
			int rc = b->iops->read(r->ir, a->in[slot], AH_IN_SIZE, &got);
			if (!rc && got > AH_IN_SIZE)
				rc = b->host->set_error(b->h, LV_E_IO, "bundle %s: the inner driver returned more than asked", b->uri);
			pthread_mutex_lock(&a->mu);
			if (rc)
				a->in_err = rc;
			else if (!got)
				a->in_eof = 1;
			else {
				a->in_len[slot] = got;
				a->in_n++;
			}
			pthread_cond_broadcast(&a->cv);
			if (rc) {
				pthread_mutex_unlock(&a->mu);
				return rc; /* described by the inner driver */
			}
		}
		if (a->out_n) {
			unsigned ob = a->out_head;
			size_t k = a->out_len[ob] - a->out_off;
			if (k > cap)
				k = cap;
			memcpy(buf, a->out[ob] + a->out_off, k);
			a->out_off += k;
			if (a->out_off == a->out_len[ob]) {
				a->out_head = (a->out_head + 1) % AH_NOUT;
				a->out_n--;
				a->out_off = 0;
				pthread_cond_broadcast(&a->cv);
			}
			pthread_mutex_unlock(&a->mu);
			*n = k;
			return 0;
		}
		if (a->rc) {
			int rc = a->rc;
			char why[700];
			memcpy(why, a->why, sizeof why);
			pthread_mutex_unlock(&a->mu);
			return why[0] ? b->host->set_error(b->h, rc, "%s", why) : rc;
		}
		if (a->end) {
			pthread_mutex_unlock(&a->mu);
			b->obj[r->idx].size = r->obj_size;
			return 0;
		}
		pthread_cond_wait(&a->cv, &a->mu);
	}
}

static int bundle_read(lv_reader *r, void *buf, size_t cap, size_t *n)
{
	bundle *b = r->b;
	*n = 0;
	if (r->side)
		return b->iops->read(r->ir, buf, cap, n);
	if (b->host->canceled(b->h))
		return LV_E_CANCELED;
	if (r->spooled) {
		uint64_t left = r->end - r->off;
		if (cap > left)
			cap = (size_t)left;
		while (cap) {
			ssize_t k = pread(b->spool_fd, buf, cap, (off_t)r->off);
			if (k < 0 && errno == EINTR)
				continue;
			if (k <= 0)
				return b->host->set_error(b->h, LV_E_IO, "bundle %s: reading the temporary copy of %s failed: %s",
				                          b->uri, b->obj[r->idx].name, k < 0 ? strerror(errno) : "end of file");
			r->off += (uint64_t)k;
			*n = (size_t)k;
			break;
		}
		return 0;
	}
	if (r->ah)
		return ahead_take(r, buf, cap, n);
	unsigned events = 0;
	while (!r->pend_len) {
		if (r->done) {
			b->obj[r->idx].size = r->obj_size;
			return 0;
		}
		if ((++events & 255) == 0 && b->host->canceled(b->h))
			return LV_E_CANCELED;
		char why[700] = "";
		int rc = next_chunk(r, why, sizeof why);
		if (rc)
			return why[0] ? b->host->set_error(b->h, rc, "%s", why) : rc;
	}
	size_t k = r->pend_len < cap ? r->pend_len : cap;
	memcpy(buf, r->pend, k);
	r->pend += k;
	r->pend_len -= k;
	*n = k;
	return 0;
}

static void bundle_read_close(lv_reader *r)
{
	if (r)
		reader_free(r);
}

/* ---- writing ---------------------------------------------------------------- */

/* The first member's compressed bytes, into the inner object (its errors are described by the inner driver). */
static int inner_write(void *ud, const void *buf, size_t len)
{
	bundle *b = ud;
	return b->iops->write(b->iw, buf, len);
}

/* The pack's compressed bytes, into the temporary file. */
static int temp_write(void *ud, const void *buf, size_t len)
{
	bundle *b = ud;
	int e = pwrite_all(b->pfd, buf, len, &b->plen);
	if (!e)
		return 0;
	return b->host->set_error(b->h, e == ENOSPC || e == EDQUOT ? LV_E_NO_SPACE : LV_E_IO,
	                          "bundle %s: writing the compressed pack to a temporary file in %s failed: %s",
	                          b->uri, tmp_dir(), strerror(e));
}

/*
 * Describe an encoder's failure.  When it passes on an error described
 * already (the inner driver's, temp_write's), that first description stands.
 */
static int enc_error(bundle *b, int rc, const char *what, const char *name)
{
	if (rc == LV_E_NOMEM)
		return b->host->set_error(b->h, rc, "bundle %s: out of memory %s %s", b->uri, what, name);
	if (rc == LV_E_IO || rc == LV_E_INVALID_ARG)
		return b->host->set_error(b->h, rc, "bundle %s: %s %s failed (%d)", b->uri, what, name, rc);
	return rc;
}

/* The inner object and the encoder of its first member (header, manifest). */
static int main_begin(bundle *b, uint64_t size_hint)
{
	if (b->enc)
		return 0;
	int rc = b->iops->write_begin(b->iinst, b->file, b->plen + size_hint, &b->iw);
	if (rc) {
		b->iw = NULL;
		return rc;
	}
	/* a small member: compressed on this thread */
	if ((rc = lvb_enc_new(&b->enc, b->level, 0, 1, inner_write, b)))
		return enc_error(b, rc, "starting", b->file);
	return 0;
}

static void bundle_abort(lv_writer *w);

static void release_writer(void *w)
{
	bundle_abort(w);
}

/* Hand a writer out, tracked: the host aborts it if the run leaves it open. */
static int hand_out_writer(bundle *b, struct lv_writer *w, lv_writer **out)
{
	int rc = b->host->track(b->h, w, release_writer);
	if (rc) {
		bundle_abort(w);
		return rc;
	}
	*out = w;
	return 0;
}

/* A side object: written to the inner location as "<file>.<name>". */
static int side_write_begin(bundle *b, const char *name, uint64_t size_hint, lv_writer **out)
{
	char *sn = side_name(b, name);
	struct lv_writer *w = sn ? calloc(1, sizeof *w) : NULL;
	if (!w) {
		free(sn);
		return b->host->set_error(b->h, LV_E_NOMEM, "bundle %s: out of memory writing %s", b->uri, name);
	}
	int rc = b->iops->write_begin(b->iinst, sn, size_hint, &w->side);
	free(sn);
	if (rc) {
		free(w);
		return rc; /* described by the inner driver */
	}
	w->b = b;
	return hand_out_writer(b, w, out);
}

/* The pack: compressed into a temporary file now, put after the manifest at sync. */
static int pack_begin(bundle *b, const char *name)
{
	if ((b->pfd = tmp_open()) < 0)
		return b->host->set_error(b->h, LV_E_IO,
		                          "bundle %s: cannot create a temporary file in %s for the compressed pack: %s",
		                          b->uri, tmp_dir(), strerror(errno));
	int rc = lvb_enc_new(&b->penc, b->level, b->threaded, 0, temp_write, b);
	if (!rc)
		rc = lvb_enc_begin(b->penc, name);
	if (rc) {
		/* no half-built pack: this bundle is never published */
		lvb_enc_free(b->penc);
		b->penc = NULL;
		close(b->pfd);
		b->pfd = -1;
		b->broken = 1;
		return enc_error(b, rc, "beginning", name);
	}
	snprintf(b->pname, sizeof b->pname, "%s", name);
	return 0;
}

/* Can the set's object `name` be begun now?  0, or the reason (described). */
static int set_write_ok(bundle *b, const char *name)
{
	if (!(b->flags & LV_OPEN_WRITE))
		return b->host->set_error(b->h, LV_E_INVALID_ARG, "bundle %s was opened for reading", b->uri);
	if (b->open_w)
		return b->host->set_error(b->h, LV_E_UNSUPPORTED, "bundle %s is written one object at a time", b->uri);
	if (b->published)
		return b->host->set_error(b->h, LV_E_INVALID_ARG, "bundle %s is already published", b->uri);
	for (unsigned i = 0; i < b->nnew; i++)
		if (!strcmp(b->new_names[i], name))
			return b->host->set_error(b->h, LV_E_EXISTS, "bundle %s already holds %s", b->uri, name);
	if (b->nnew >= LVB_MAX_OBJECTS)
		return b->host->set_error(b->h, LV_E_NO_SPACE, "bundle %s holds at most %u objects", b->uri, LVB_MAX_OBJECTS);
	return 0;
}

static int bundle_write_begin(void *inst, const char *name, uint64_t size_hint, lv_writer **out)
{
	bundle *b = inst;
	if (!is_set(name))
		return side_write_begin(b, name, size_hint, out);
	int rc = set_write_ok(b, name);
	if (rc)
		return rc;
	int pack = is_pack(name) && !b->penc && !b->pack_done;
	if (pack)
		rc = pack_begin(b, name);
	else if (!(rc = main_begin(b, size_hint)) && (rc = lvb_enc_begin(b->enc, name)))
		rc = enc_error(b, rc, "beginning", name);
	if (rc)
		return rc;
	struct lv_writer *w = calloc(1, sizeof *w);
	if (!w) {
		b->broken = 1;
		return b->host->set_error(b->h, LV_E_NOMEM, "bundle %s: out of memory writing %s", b->uri, name);
	}
	w->b = b;
	w->pack = pack;
	snprintf(b->new_names[b->nnew], sizeof b->new_names[0], "%s", name);
	b->open_w = w;
	return hand_out_writer(b, w, out);
}

static int bundle_write(lv_writer *w, const void *buf, size_t len)
{
	bundle *b = w->b;
	if (w->side)
		return b->iops->write(w->side, buf, len);
	if (b->host->canceled(b->h))
		return LV_E_CANCELED;
	int rc = lvb_enc_write(w->pack ? b->penc : b->enc, buf, len);
	if (rc) {
		b->broken = 1;
		return enc_error(b, rc, "writing", b->new_names[b->nnew]);
	}
	b->new_sizes[b->nnew] += len;
	return 0;
}

static int bundle_commit(lv_writer *w, unsigned flags)
{
	bundle *b = w->b;
	b->host->untrack(b->h, w);
	if (w->side) {
		lv_writer *side = w->side;
		free(w);
		return b->iops->commit(side, flags);
	}
	/* flags: names are unique in a bundle (checked at write_begin) */
	int pack = w->pack;
	free(w);
	b->open_w = NULL;
	int rc;
	if (pack) {
		/* the pack's gzip member, whole in the temporary file */
		if (!(rc = lvb_enc_end(b->penc)) && !(rc = lvb_enc_member(b->penc))) {
			b->psize = lvb_enc_total_in(b->penc);
			lvb_enc_free(b->penc);
			b->penc = NULL;
			b->pack_done = 1;
		}
	} else
		rc = lvb_enc_end(b->enc);
	if (rc) {
		b->broken = 1;
		return enc_error(b, rc, "ending", b->new_names[b->nnew]);
	}
	b->nnew++;
	return 0;
}

static void bundle_abort(lv_writer *w)
{
	if (!w)
		return;
	bundle *b = w->b;
	b->host->untrack(b->h, w);
	if (w->side) {
		b->iops->abort(w->side);
		free(w);
		return;
	}
	b->broken = 1; /* the object is in the stream: this bundle is never published */
	b->open_w = NULL;
	free(w);
}

/* Copy the pack's gzip member from the temporary file into the inner object. */
static int copy_pack(bundle *b)
{
	size_t cap = 1u << 20;
	unsigned char *buf = malloc(cap);
	if (!buf)
		return b->host->set_error(b->h, LV_E_NOMEM, "bundle %s: out of memory copying the pack", b->uri);
	int rc = 0;
	for (uint64_t off = 0; off < b->plen && !rc;) {
		if (b->host->canceled(b->h)) {
			rc = LV_E_CANCELED;
			break;
		}
		size_t want = b->plen - off < cap ? (size_t)(b->plen - off) : cap;
		ssize_t k = pread(b->pfd, buf, want, (off_t)off);
		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0) {
			rc = b->host->set_error(b->h, LV_E_IO, "bundle %s: reading the compressed pack back from its temporary file failed: %s",
			                        b->uri, k < 0 ? strerror(errno) : "end of file");
			break;
		}
		rc = b->iops->write(b->iw, buf, (size_t)k); /* its errors are described by the inner driver */
		off += (uint64_t)k;
	}
	free(buf);
	return rc;
}

/* The inner location's sync: makes durable what changed beside the bundle (side objects removed or committed). */
static int inner_sync(bundle *b)
{
	return b->iops->sync ? b->iops->sync(b->iinst) : 0;
}

static int bundle_sync(void *inst)
{
	bundle *b = inst;
	/* nothing of ours to publish; the license service's registry beside the bundle may have changed */
	if (!(b->flags & LV_OPEN_WRITE) || b->published)
		return inner_sync(b);
	if (!b->enc && !b->pack_done && !b->penc)
		return inner_sync(b); /* nothing written: nothing to publish */
	if (b->broken || b->open_w || b->penc)
		return b->host->set_error(b->h, LV_E_IO, "bundle %s: an object was not completed; the bundle is not published", b->uri);
	int rc = main_begin(b, 0);
	if (rc)
		return rc;
	/* member 1 (header, manifest) ends; the pack's member follows, then the end record */
	if (!(rc = lvb_enc_member(b->enc)) && b->pack_done && !(rc = copy_pack(b)))
		rc = lvb_enc_external(b->enc, b->pname, b->psize);
	if (!rc)
		rc = lvb_enc_finish(b->enc);
	if (rc) {
		b->broken = 1;
		return enc_error(b, rc, "finishing", b->file);
	}
	lv_writer *iw = b->iw;
	b->iw = NULL;
	/* the atomic publish: replace only a bundle that was there when we looked */
	rc = b->iops->commit(iw, b->exists ? LV_COMMIT_REPLACE : 0);
	if (rc == LV_E_EXISTS)
		return b->host->set_error(b->h, LV_E_EXISTS, "bundle %s appeared while this backup was written; run again", b->uri);
	if (rc)
		return rc;
	b->published = 1;
	return inner_sync(b);
}

static int bundle_space(void *inst, uint64_t *free_bytes, uint64_t *total_bytes)
{
	bundle *b = inst;
	if (!b->iops->space)
		return LV_E_UNSUPPORTED;
	return b->iops->space(b->iinst, free_bytes, total_bytes);
}

static int bundle_cleanup(void *inst)
{
	bundle *b = inst;
	return b->iops->cleanup ? b->iops->cleanup(b->iinst) : 0;
}

static const lv_driver_ops bundle_ops = {
	.open = bundle_open,
	.close = bundle_close,
	.write_begin = bundle_write_begin,
	.write = bundle_write,
	.commit = bundle_commit,
	.abort = bundle_abort,
	.read_open = bundle_read_open,
	.read = bundle_read,
	.read_close = bundle_read_close,
	.list = bundle_list,
	.remove = bundle_remove,
	.stat = bundle_stat,
	.sync = bundle_sync,
	.space = bundle_space,
	.cleanup = bundle_cleanup,
	.enumerate = NULL,
};

static const char *const bundle_schemes[] = {"bundle", NULL};

static const lv_driver_key bundle_keys[] = {
	{"level", LV_KEY_INT, "1", "gzip compression level, 0 (store) to 9 (smallest)", 0, 9, NULL, 0},
	{"threads", LV_KEY_BOOL, "yes", "compress (backup) on worker threads, inflate (restore, verify) on a second thread", 0, 0, NULL, 0},
	{NULL, 0, NULL, NULL, 0, 0, NULL, 0},
};

static const lv_driver bundle_driver = {
	LV_DRIVER_INIT_HEADER,
	.name = "bundle",
	.version = "1.1.0",
	.schemes = bundle_schemes,
	.ops = &bundle_ops,
	.keys = bundle_keys,
};

LV_DRIVER_ENTRY
{
	return &bundle_driver;
}
