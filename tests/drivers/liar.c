/*
 * Test driver "liar": a wrapper serving liar+INNER URIs that forwards every
 * operation to INNER (through the host, as fault.c does) except one lie,
 * chosen by its config section, that breaks the driver ABI:
 *
 *   [driver "liar"]
 *   lie = read_too_much | read_huge | read_positive | read_out_of_range | read_endless |
 *         list_positive | list_out_of_range | list_bad_names | list_null_name | list_null_info |
 *         write_positive | commit_out_of_range | open_positive | open_out_of_range |
 *         stat_tiny | stat_positive (list gives no sizes, stat returns 5) | set_error_null_fmt | set_error_positive | log_null_fmt | log_bad_level |
 *         config_get_null | open_uri_bad_args | drop_writes (a pack's bytes past its header
 *         are acknowledged, not stored: a server that lies)
 *
 * The core must end the run with an error (DRIVER_ABI where it can tell),
 * never crash, and never trust the lie.  For tests only.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "licvault/driver.h"

typedef struct liar {
	const lv_host *host;
	lv_host_ctx *h;
	lv_location *loc;
	const lv_driver_ops *ops;
	void *in;
	char lie[64];
} liar;

struct lv_writer {
	liar *l;
	lv_writer *w;
	int pack;                /* a pack: "drop_writes" stores only its first 16 bytes */
	uint64_t seen;
};

struct lv_reader {
	liar *l;
	lv_reader *r;
	int endless;
};

static int is(const liar *l, const char *what)
{
	return !strcmp(l->lie, what);
}

static int l_open(const lv_host *host, lv_host_ctx *h, const char *uri, unsigned flags, void **inst)
{
	const char *in = strchr(uri, '+');
	if (!in || !in[1])
		return host->set_error(h, LV_E_BAD_URI, "'%s': the liar driver serves liar+INNER-URI", uri);
	const char *lie = host->config_get(h, "lie", 0);
	if (lie && !strcmp(lie, "open_positive"))
		return 42;
	if (lie && !strcmp(lie, "open_out_of_range"))
		return -4242;
	liar *l = calloc(1, sizeof *l);
	if (!l)
		return LV_E_NOMEM;
	l->host = host;
	l->h = h;
	snprintf(l->lie, sizeof l->lie, "%s", lie ? lie : "");
	if (is(l, "log_null_fmt"))
		host->log(h, LV_LOG_WARN, NULL);
	if (is(l, "log_bad_level")) {
		host->log(h, -7, "a log line of level -7");
		host->log(h, 1000, "a log line of level 1000");
	}
	if (is(l, "config_get_null")) {
		if (host->config_get(h, NULL, 0) || host->config_get(h, "no-such-key", 4000000000u) ||
		    host->config_get(h, "", 0))
			host->log(h, LV_LOG_WARN, "config_get answered a bad question");
	}
	if (is(l, "open_uri_bad_args")) {
		lv_location *x = NULL;
		host->open_uri(h, NULL, flags, &x);
		host->open_uri(h, in + 1, flags, NULL);
		host->open_uri(h, "", flags, &x);
		host->open_uri(h, "nosuchscheme://x/y", flags, &x);
		host->location_close(x);
		(void)host->location_ops(NULL);
		(void)host->location_instance(NULL);
		host->location_close(NULL);
	}
	int rc = host->open_uri(h, in + 1, flags, &l->loc);
	if (rc) {
		free(l);
		return rc;
	}
	l->ops = host->location_ops(l->loc);
	l->in = host->location_instance(l->loc);
	*inst = l;
	return 0;
}

static void l_close(void *inst)
{
	liar *l = inst;
	l->host->location_close(l->loc);
	free(l);
}

static int l_write_begin(void *inst, const char *name, uint64_t hint, lv_writer **out)
{
	liar *l = inst;
	lv_writer *w = calloc(1, sizeof *w);
	if (!w)
		return LV_E_NOMEM;
	w->l = l;
	size_t nl = strlen(name);
	w->pack = nl > 5 && !strcmp(name + nl - 5, ".pack");
	int rc = l->ops->write_begin(l->in, name, hint, &w->w);
	if (rc) {
		free(w);
		return rc;
	}
	*out = w;
	return 0;
}

static int l_write(lv_writer *w, const void *buf, size_t len)
{
	liar *l = w->l;
	if (is(l, "write_positive"))
		return 3;
	if (is(l, "set_error_null_fmt"))
		return l->host->set_error(l->h, LV_E_IO, NULL);
	if (is(l, "set_error_positive"))
		return l->host->set_error(l->h, 5, "a positive error code from the liar");
	if (is(l, "drop_writes") && w->pack) {
		/* a server that acknowledges writes it does not store: all but the pack's header vanish */
		size_t keep = w->seen >= 16 ? 0 : (size_t)(16 - w->seen) < len ? (size_t)(16 - w->seen) : len;
		w->seen += len;
		return keep ? l->ops->write(w->w, buf, keep) : 0;
	}
	return l->ops->write(w->w, buf, len);
}

static int l_commit(lv_writer *w, unsigned flags)
{
	liar *l = w->l;
	if (is(l, "commit_out_of_range")) {
		l->ops->abort(w->w);
		free(w);
		return -999;
	}
	int rc = l->ops->commit(w->w, flags);
	free(w);
	return rc;
}

static void l_abort(lv_writer *w)
{
	if (!w)
		return;
	w->l->ops->abort(w->w);
	free(w);
}

static int l_read_open(void *inst, const char *name, lv_reader **out)
{
	liar *l = inst;
	lv_reader *r = calloc(1, sizeof *r);
	if (!r)
		return LV_E_NOMEM;
	r->l = l;
	int rc = l->ops->read_open(l->in, name, &r->r);
	if (rc) {
		free(r);
		return rc;
	}
	*out = r;
	return 0;
}

static int l_read(lv_reader *r, void *buf, size_t cap, size_t *n)
{
	liar *l = r->l;
	if (is(l, "read_positive"))
		return 1;
	if (is(l, "read_out_of_range"))
		return -77;
	int rc = l->ops->read(r->r, buf, cap, n);
	if (rc)
		return rc;
	if (is(l, "read_too_much") && *n)
		*n = cap + 1000;       /* more than asked: the bytes past cap were never written */
	else if (is(l, "read_huge") && *n)
		*n = (size_t)-1;
	else if (is(l, "read_endless") && *n == 0) {
		/* never an end: the object's bytes again and again (as garbage) */
		memset(buf, 'x', cap);
		*n = cap;
	}
	return 0;
}

static void l_read_close(lv_reader *r)
{
	if (!r)
		return;
	r->l->ops->read_close(r->r);
	free(r);
}

typedef struct list_tramp {
	liar *l;
	lv_list_cb cb;
	void *ud;
	int sent;
} list_tramp;

static int list_cb(const lv_object_info *info, void *ud)
{
	list_tramp *t = ud;
	liar *l = t->l;
	if (!t->sent) {
		t->sent = 1;
		if (is(l, "list_bad_names")) {
			static char longname[400];
			memset(longname, 'n', sizeof longname - 1);
			const char *bad[] = {"../../etc/passwd", "", "..", ".", "a/b", longname};
			for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
				lv_object_info b = {bad[i], 10, 0};
				int rc = t->cb(&b, t->ud);
				if (rc)
					return rc;
			}
		} else if (is(l, "list_null_name")) {
			lv_object_info b = {NULL, 10, 0};
			int rc = t->cb(&b, t->ud);
			if (rc)
				return rc;
		} else if (is(l, "list_null_info")) {
			int rc = t->cb(NULL, t->ud);
			if (rc)
				return rc;
		}
	}
	if (is(l, "stat_positive") && info) {
		lv_object_info unsized = *info;
		unsized.size = UINT64_MAX; /* unknown: the core asks stat */
		return t->cb(&unsized, t->ud);
	}
	return t->cb(info, t->ud);
}

static int l_list(void *inst, lv_list_cb cb, void *ud)
{
	liar *l = inst;
	if (is(l, "list_positive"))
		return 5;
	if (is(l, "list_out_of_range"))
		return -1000;
	list_tramp t = {l, cb, ud, 0};
	int rc = l->ops->list(l->in, list_cb, &t);
	if (!rc && !t.sent) {
		/* an empty location: lie anyway */
		lv_object_info dummy = {"licvault-lie", 1, 0};
		t.cb = cb;
		rc = list_cb(&dummy, &t);
	}
	return rc;
}

static int l_remove(void *inst, const char *name)
{
	liar *l = inst;
	return l->ops->remove ? l->ops->remove(l->in, name) : LV_E_UNSUPPORTED;
}

static int l_stat(void *inst, const char *name, lv_object_info *info)
{
	liar *l = inst;
	if (!l->ops->stat)
		return LV_E_UNSUPPORTED;
	if (is(l, "stat_positive"))
		return 5;
	int rc = l->ops->stat(l->in, name, info);
	if (!rc && is(l, "stat_tiny"))
		info->size = 1;
	return rc;
}

static int l_sync(void *inst)
{
	liar *l = inst;
	return l->ops->sync ? l->ops->sync(l->in) : 0;
}

static const lv_driver_ops liar_ops = {
	.open = l_open,
	.close = l_close,
	.write_begin = l_write_begin,
	.write = l_write,
	.commit = l_commit,
	.abort = l_abort,
	.read_open = l_read_open,
	.read = l_read,
	.read_close = l_read_close,
	.list = l_list,
	.remove = l_remove,
	.stat = l_stat,
	.sync = l_sync,
};

static const char *const liar_schemes[] = {"liar", NULL};

static const lv_driver_key liar_keys[] = {
	{"lie", LV_KEY_STRING, NULL, "the lie to tell", 0, 0, NULL, 0},
	{NULL, 0, NULL, NULL, 0, 0, NULL, 0},
};

static const lv_driver liar_driver = {
	LV_DRIVER_INIT_HEADER,
	.name = "liar",
	.version = "1.0.0",
	.schemes = liar_schemes,
	.ops = &liar_ops,
	.keys = liar_keys,
};

LV_DRIVER_ENTRY
{
	return &liar_driver;
}
