/*
 * The bundle driver: backups as gzip-compressed bundle files written through
 * any other location (docs/drivers/bundle.md).
 *   bundle+INNER-URI     bundle+file:///tmp/lic.lvb, bundle+sftp://h/dir/lic.lvb
 *   bundle:///abs/x.lvb  the same as bundle+file:///abs/x.lvb
 *
 * Each generation is a bundle file of its own, written once and never
 * replaced: for the URI's file NAME.EXT, generation G is NAME.g<16 hex>.EXT
 * beside it, published at sync with a no-replace commit of the inner driver.
 * The URI's own file NAME.EXT, when it exists, is read as a bundle too (one
 * written by an earlier licvault, or a generation file copied away), and
 * never written.  The lock and the registry pass through to the inner
 * location as NAME.EXT.<object>.  See bundle_int.h for the parts.
 *
 * This file: the URI, open and close, and the operations table.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bundle_int.h"

/* ---- the URI --------------------------------------------------------------- */

/* Does the path of `uri` end with '/' (a URI without query or fragment)?  Then it names no file. */
static int ends_with_slash(const char *uri)
{
	size_t n = strlen(uri);
	return n && uri[n - 1] == '/' && !strpbrk(uri, "?#");
}

/*
 * A copy of uri for messages: the password of a "scheme://user:password@host"
 * in it masked with ******** (the mask the core, config show and the CLI use).
 */
static char *masked(const char *uri)
{
	size_t n = strlen(uri);
	char *out = malloc(n + 9); /* "********" for a password of 1 byte at least */
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
		memmove(colon + 9, at, strlen(at) + 1);
		memcpy(colon + 1, "********", 8);
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

static void bundle_close(void *inst)
{
	bundle *b = inst;
	if (!b)
		return;
	/* the host released our writers and readers still open (track) before this */
	bundle_new_free(b);  /* an unfinished generation: the inner temporary goes */
	bundle_gens_free(b); /* the streams kept for a pack's reader */
	if (b->spool_fd >= 0)
		close(b->spool_fd);
	if (b->loc)
		b->host->location_close(b->loc);
	free(b->uri);
	free(b->parent);
	free(b->file);
	free(b);
}

/*
 * The file name, once split off: its stem, and for a backup (or forget) a
 * name that leaves room for its generation files and is not one itself.
 */
static int check_file(bundle *b)
{
	/* split_inner set it or failed; the analyzer cannot see that host->set_error returns its code */
	if (!b->file)
		return LV_E_IO;
	b->stem = bundle_stem_of(b->file);
	snprintf(b->own.iname, sizeof b->own.iname, "%s", b->file);
	b->own.own = 1;
	if (!(b->flags & LV_OPEN_WRITE))
		return 0;
	size_t base = 0;
	const char *ext = "";
	if (bundle_gen_shaped(b->file, &base, &ext))
		return b->host->set_error(b->h, LV_E_BAD_URI,
		                          "'%s' names a generation file of the bundle '%.*s%s' (a bundle file of one generation): "
		                          "read it (restore, verify, list) through this URI, but back up to the bundle's own URI, "
		                          "beside which each backup writes a generation file of its own",
		                          b->uri, (int)base, b->file, ext);
	if (strlen(b->file) > BUNDLE_WRITE_NAME_MAX)
		return b->host->set_error(b->h, LV_E_BAD_URI,
		                          "'%s': a bundle's file name may be at most %u bytes, so that its generation files "
		                          "(NAME.g<16 hex>.EXT) and the registry beside it fit the 255 bytes of a name",
		                          b->uri, BUNDLE_WRITE_NAME_MAX);
	return 0;
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
	b->nw.pfd = -1;
	int rc;
	char *inner = NULL;
	if (!(b->uri = masked(uri))) {
		rc = host->set_error(h, LV_E_NOMEM, "out of memory opening %s", uri);
		goto fail;
	}
	if (!(rc = inner_uri(b, b->uri, uri, &inner)))
		rc = split_inner(b, b->uri, inner);
	free(inner);
	if (rc || (rc = check_file(b)) || (rc = read_config(b)))
		goto fail;
	if ((rc = host->open_uri(h, b->parent, flags, &b->loc)))
		goto fail; /* described by the inner driver */
	b->iops = host->location_ops(b->loc);
	b->iinst = host->location_instance(b->loc);
	*inst = b;
	return 0;
fail:
	bundle_close(b);
	return rc;
}

/* ---- the rest ----------------------------------------------------------------- */

static int bundle_space(void *inst, uint64_t *free_bytes, uint64_t *total_bytes)
{
	bundle *b = inst;
	if (!b->iops->space)
		return LV_E_UNSUPPORTED;
	return b->iops->space(b->iinst, free_bytes, total_bytes);
}

/*
 * What a dead run left: the inner driver's temporaries (an unfinished
 * generation file among them).  The bundle sets nothing aside and keeps its
 * own temporaries in unlinked files, gone with the process.
 */
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
	.version = "2.0.0",
	.schemes = bundle_schemes,
	.ops = &bundle_ops,
	.keys = bundle_keys,
};

LV_DRIVER_ENTRY
{
	return &bundle_driver;
}
