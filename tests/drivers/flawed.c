/*
 * Test driver "flawed": serves flawed+INNER URIs, forwarding every
 * operation to INNER (opened through the host) with one flaw of a driver
 * the core cannot use, chosen by its config (a location may override it):
 *
 *   [driver "flawed"]
 *   flaw = none | replaces | lists_temporaries | remove_absent_ok | remove_forgets |
 *          close_publishes | hides_manifests | read_only_refuses | check_then_rename |
 *          read_overrun
 *
 *   replaces           commit without LV_COMMIT_REPLACE replaces (the lock is not atomic)
 *   lists_temporaries  list shows a temporary too
 *   remove_absent_ok   remove of an absent object answers 0, not NOT_FOUND
 *   remove_forgets     remove answers 0 and removes nothing
 *   close_publishes    close commits the writers left open instead of aborting them
 *   hides_manifests    list leaves out every .manifest
 *   read_only_refuses  write_begin refuses an instance opened without LV_OPEN_WRITE
 *   check_then_rename  commit without LV_COMMIT_REPLACE checks that the name is free,
 *                      waits 2 ms, then replaces (access(), then rename(): not atomic,
 *                      so two runs committing the lock at once both take it)
 *   read_overrun       read says it gave 64 times the bytes asked (more than the buffer)
 *
 * The conformance suite (tests/conformance.c) must fail each flaw in the
 * check that covers it, and pass "none".  It keeps its own list of open
 * writers (no host tracking, as a driver of ABI 1.0 does: its close deals
 * with them); its readers are tracked.  For tests only.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "licvault/driver.h"

enum { F_NONE, F_REPLACES, F_LISTS_TEMPORARIES, F_REMOVE_ABSENT_OK, F_REMOVE_FORGETS, F_CLOSE_PUBLISHES,
       F_HIDES_MANIFESTS, F_READ_ONLY_REFUSES, F_CHECK_THEN_RENAME, F_READ_OVERRUN };

typedef struct flawed {
	const lv_host *host;
	lv_host_ctx *h;
	lv_location *loc;
	const lv_driver_ops *ops;
	void *in;
	unsigned flags;
	int flaw;
	struct lv_writer *writers; /* open, for close */
} flawed;

struct lv_writer {
	flawed *f;
	lv_writer *w;
	struct lv_writer *next;
	char name[256];
};

static int f_open(const lv_host *host, lv_host_ctx *h, const char *uri, unsigned flags, void **inst)
{
	lv_uri *u = NULL;
	int rc = host->uri_parse(h, uri, &u);
	if (!rc && !u->inner)
		rc = host->set_error(h, LV_E_BAD_URI, "'%s': the flawed driver serves flawed+INNER-URI", uri);
	lv_config_value v;
	if (!rc)
		rc = host->config_value(h, "flaw", &v);
	flawed *f = rc ? NULL : calloc(1, sizeof *f);
	if (!rc && !f)
		rc = host->set_error(h, LV_E_NOMEM, "out of memory opening %s", uri);
	if (!rc && !(rc = host->open_uri(h, u->inner, flags, &f->loc))) {
		f->host = host;
		f->h = h;
		f->flags = flags;
		f->flaw = (int)v.number;
		f->ops = host->location_ops(f->loc);
		f->in = host->location_instance(f->loc);
		*inst = f;
		f = NULL;
	}
	free(f);
	host->uri_free(u);
	return rc;
}

static void unlink_writer(struct lv_writer *w)
{
	for (struct lv_writer **p = &w->f->writers; *p; p = &(*p)->next)
		if (*p == w) {
			*p = w->next;
			return;
		}
}

static void f_close(void *inst)
{
	flawed *f = inst;
	while (f->writers) {
		struct lv_writer *w = f->writers;
		f->writers = w->next;
		if (f->flaw == F_CLOSE_PUBLISHES)
			f->ops->commit(w->w, 0);
		else
			f->ops->abort(w->w);
		free(w);
	}
	f->host->location_close(f->loc);
	free(f);
}

static int f_write_begin(void *inst, const char *name, uint64_t hint, lv_writer **out)
{
	flawed *f = inst;
	if (f->flaw == F_READ_ONLY_REFUSES && !(f->flags & LV_OPEN_WRITE))
		return f->host->set_error(f->h, LV_E_UNSUPPORTED, "flawed: %s was opened for reading: no writes", name);
	struct lv_writer *w = calloc(1, sizeof *w);
	if (!w)
		return f->host->set_error(f->h, LV_E_NOMEM, "flawed: out of memory writing %s", name);
	int rc = f->ops->write_begin(f->in, name, hint, &w->w);
	if (rc) {
		free(w);
		return rc;
	}
	w->f = f;
	snprintf(w->name, sizeof w->name, "%s", name);
	w->next = f->writers;
	f->writers = w;
	*out = w;
	return 0;
}

static int f_write(lv_writer *w, const void *buf, size_t len)
{
	return w->f->ops->write(w->w, buf, len);
}

/* The check of check_then_rename: EXISTS when w's name is taken (as access() would tell), else 0. */
static int name_taken(flawed *f, struct lv_writer *w)
{
	int saved = f->host->error_save(f->h);
	lv_reader *r = NULL;
	int rc = f->ops->read_open(f->in, w->name, &r);
	if (rc == LV_E_NOT_FOUND) {
		f->host->error_restore(f->h, saved);
		return 0;
	}
	if (rc)
		return rc;
	f->ops->read_close(r);
	return f->host->set_error(f->h, LV_E_EXISTS, "flawed: %s exists", w->name);
}

static int f_commit(lv_writer *w, unsigned flags)
{
	flawed *f = w->f;
	unlink_writer(w);
	int rc = 0;
	if (f->flaw == F_CHECK_THEN_RENAME && !(flags & LV_COMMIT_REPLACE)) {
		struct timespec gap = {0, 2000000};
		if (!(rc = name_taken(f, w)))
			nanosleep(&gap, NULL); /* another run comes in between */
		flags |= LV_COMMIT_REPLACE;
	}
	if (rc)
		f->ops->abort(w->w);
	else
		rc = f->ops->commit(w->w, f->flaw == F_REPLACES ? flags | LV_COMMIT_REPLACE : flags);
	free(w);
	return rc;
}

static void f_abort(lv_writer *w)
{
	unlink_writer(w);
	w->f->ops->abort(w->w);
	free(w);
}

struct lv_reader {
	flawed *f;
	lv_reader *r;
};

static void f_read_close(lv_reader *r);

static void release_reader(void *r)
{
	f_read_close(r);
}

static int f_read_open(void *inst, const char *name, lv_reader **out)
{
	flawed *f = inst;
	struct lv_reader *r = calloc(1, sizeof *r);
	if (!r)
		return f->host->set_error(f->h, LV_E_NOMEM, "flawed: out of memory reading %s", name);
	int rc = f->ops->read_open(f->in, name, &r->r);
	if (rc) {
		free(r);
		return rc;
	}
	r->f = f;
	if ((rc = f->host->track(f->h, r, release_reader))) {
		f_read_close(r);
		return rc;
	}
	*out = r;
	return 0;
}

static int f_read(lv_reader *r, void *buf, size_t cap, size_t *n)
{
	int rc = r->f->ops->read(r->r, buf, cap, n);
	if (!rc && *n && r->f->flaw == F_READ_OVERRUN)
		*n = cap * 64;
	return rc;
}

static void f_read_close(lv_reader *r)
{
	r->f->host->untrack(r->f->h, r);
	r->f->ops->read_close(r->r);
	free(r);
}

typedef struct list_ud {
	flawed *f;
	lv_list_cb cb;
	void *ud;
} list_ud;

static int f_list_cb(const lv_object_info *info, void *p)
{
	list_ud *l = p;
	size_t n = strlen(info->name);
	if (l->f->flaw == F_HIDES_MANIFESTS && n > 9 && !strcmp(info->name + n - 9, ".manifest"))
		return 0;
	return l->cb(info, l->ud);
}

static int f_list(void *inst, lv_list_cb cb, void *ud)
{
	flawed *f = inst;
	list_ud l = {f, cb, ud};
	int rc = f->ops->list(f->in, f_list_cb, &l);
	if (!rc && f->flaw == F_LISTS_TEMPORARIES) {
		lv_object_info tmp = {".conf-a.obj.tmp-0001", 10, 0};
		rc = cb(&tmp, ud);
	}
	return rc;
}

static int f_remove(void *inst, const char *name)
{
	flawed *f = inst;
	if (f->flaw == F_REMOVE_FORGETS)
		return 0;
	int saved = f->host->error_save(f->h);
	int rc = f->ops->remove(f->in, name);
	if (rc == LV_E_NOT_FOUND && f->flaw == F_REMOVE_ABSENT_OK) {
		f->host->error_restore(f->h, saved);
		return 0;
	}
	return rc;
}

static int f_stat(void *inst, const char *name, lv_object_info *info)
{
	flawed *f = inst;
	return f->ops->stat ? f->ops->stat(f->in, name, info) : LV_E_UNSUPPORTED;
}

static int f_sync(void *inst)
{
	flawed *f = inst;
	return f->ops->sync ? f->ops->sync(f->in) : 0;
}

static const lv_driver_ops f_ops = {
	.open = f_open,
	.close = f_close,
	.write_begin = f_write_begin,
	.write = f_write,
	.commit = f_commit,
	.abort = f_abort,
	.read_open = f_read_open,
	.read = f_read,
	.read_close = f_read_close,
	.list = f_list,
	.remove = f_remove,
	.stat = f_stat,
	.sync = f_sync,
};

static const char *const f_schemes[] = {"flawed", NULL};

static const lv_driver_key f_keys[] = {
	{"flaw", LV_KEY_ENUM, "none", "the flaw to have", 0, 0,
	 "none|replaces|lists_temporaries|remove_absent_ok|remove_forgets|close_publishes|hides_manifests|read_only_refuses|"
	 "check_then_rename|read_overrun", 0},
	{NULL, 0, NULL, NULL, 0, 0, NULL, 0},
};

static const lv_driver f_driver = {
	LV_DRIVER_INIT_HEADER,
	.name = "flawed",
	.version = "1.0.0",
	.schemes = f_schemes,
	.ops = &f_ops,
	.keys = f_keys,
};

LV_DRIVER_ENTRY
{
	return &f_driver;
}
