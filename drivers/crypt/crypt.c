/*
 * The crypt driver: every object encrypted and authenticated (libsodium) on
 * its way to another location (docs/drivers/crypt.md).
 *   crypt+INNER-URI    crypt+file:///srv/lic, crypt+sftp://h/lic, bundle+crypt+file:///x/lic.lvb
 *
 * Each object is sealed in 64 KiB chunks by crypto_secretstream (stream.c)
 * under the location's data key, which key slots at the location wrap with
 * passphrase-derived keys (slot.c, keys.c).  The object's name and the
 * location's ID are associated data of every chunk.
 *
 * Pass-through: the lock ("licvault.lock") and the license service's
 * registry ("licvault-registry-*"), also under bundle's "<file>." prefix,
 * go to the inner location as they are, as bundle keeps them beside its
 * container.  Key slots ("licvault-crypt-key-<16 hex>") are the driver's
 * own: never listed, never reachable through the operations.
 *
 * The key is unlocked lazily, by the first operation that needs it (a
 * sealed object's write_begin or read_open), so the lock, list and stat
 * work without it and key management (lvc_control) can open a location
 * that has no key yet.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <sodium.h>

#include "ahead.h"
#include "crypt_int.h"

struct lv_writer {
	lvc_inst *c;
	lv_writer *iw;             /* the inner writer */
	lvc_enc *enc;              /* NULL: a pass-through object */
	char name[LVC_NAME_MAX + 1];
};

struct lv_reader {
	lvc_inst *c;
	lv_reader *ir;             /* the inner reader */
	lvc_dec *dec;              /* opening on this thread, or */
	lvc_ahead *ah;             /* on a worker (threads = yes); neither: a pass-through object */
	char name[LVC_NAME_MAX + 1];
};

/* ---- names ---------------------------------------------------------------- */

static int reserved(lvc_inst *c, const char *name)
{
	return c->host->set_error(c->h, LV_E_INVALID_ARG, "%s: the name %s is kept for the driver's key slots", c->uri,
	                          name);
}

/* ---- the URI and the config ------------------------------------------------- */

/* What crypt+ may not stack on; 0 when inner is fine.  BAD_URI with advice. */
static int check_inner(lvc_inst *c, const char *uri, const char *inner)
{
	const lv_host *host = c->host;
	if (!*inner)
		return host->set_error(c->h, LV_E_BAD_URI, "'%s': no inner URI after 'crypt+'", uri);
	if (!strncasecmp(inner, "bundle+", 7) || !strncasecmp(inner, "bundle:", 7))
		return host->set_error(c->h, LV_E_BAD_URI,
		                       "'%s': encrypting before compressing leaves nothing to compress (ciphertext does not "
		                       "shrink); write bundle+crypt+%s instead: compress, then encrypt",
		                       uri, inner + 7);
	if (!strncasecmp(inner, "crypt+", 6))
		return host->set_error(c->h, LV_E_BAD_URI, "'%s': a crypt location inside another one adds nothing; use one "
		                       "crypt+ prefix", uri);
	return 0;
}

/* Split crypt+INNER through the host's URI service (the stacking prefix is its to split). */
static int crypt_split_uri(lvc_inst *c, const char *uri)
{
	lv_uri *u = NULL;
	int rc = c->host->uri_parse(c->h, uri, &u);
	if (rc)
		return rc; /* described by the host */
	if (!u || strcmp(u->scheme, "crypt") || !u->inner) {
		c->host->uri_free(u);
		return c->host->set_error(c->h, LV_E_BAD_URI, "'%s': a crypt URI is crypt+INNER-URI (crypt+file:///srv/lic, "
		                          "crypt+sftp://host/dir)", uri);
	}
	rc = check_inner(c, uri, u->inner);
	if (!rc && (!(c->uri = strdup(uri)) || !(c->inner = strdup(u->inner))))
		rc = LV_E_NOMEM;
	c->host->uri_free(u);
	return rc;
}

/* A string key's value (valid until close), NULL when unset or empty. */
static int config_text(lvc_inst *c, const char *key, const char **out)
{
	lv_config_value v;
	int rc = c->host->config_value(c->h, key, &v);
	*out = !rc && v.text && *v.text ? v.text : NULL;
	return rc;
}

static int config_number(lvc_inst *c, const char *key, int64_t *out)
{
	lv_config_value v;
	int rc = c->host->config_value(c->h, key, &v);
	*out = v.number;
	return rc;
}

/* Every config read of the driver, through the host's typed getter: its ranges and
 * defaults are the declared ones (crypt_keys), its errors name the file and line. */
static int crypt_read_config(lvc_inst *c)
{
	lvc_config *cfg = &c->cfg;
	int64_t ops = LVC_DEFAULT_OPS, mem = LVC_DEFAULT_MEM, threads = 1;
	int rc = config_text(c, "passphrase_file", &cfg->passphrase_file);
	if (!rc)
		rc = config_text(c, "passphrase_command", &cfg->passphrase_command);
	if (!rc)
		rc = config_number(c, "kdf_opslimit", &ops);
	if (!rc)
		rc = config_number(c, "kdf_memlimit", &mem);
	if (!rc)
		rc = config_number(c, "threads", &threads);
	cfg->opslimit = (uint64_t)ops;
	cfg->memlimit = (uint64_t)mem;
	cfg->threads = threads != 0;
	return rc; /* LV_E_CONFIG, described by the host */
}

/* ---- open, close ---------------------------------------------------------------- */

static void writer_free(struct lv_writer *w);
static void reader_free(struct lv_reader *r);
static void crypt_abort(lv_writer *w);

static void release_writer(void *w)
{
	crypt_abort(w);
}

static void release_reader(void *r)
{
	reader_free(r);
}

static void crypt_close(void *inst)
{
	lvc_inst *c = inst;
	if (!c)
		return;
	/* the host released our writers and readers still open (track) before this */
	lvc_keyring_free(c->kr);
	if (c->loc)
		c->host->location_close(c->loc);
	free(c->uri);
	free(c->inner);
	free(c);
}

static int crypt_open(const lv_host *host, lv_host_ctx *h, const char *uri, unsigned flags, void **inst)
{
	if (!LV_HOST_HAS(host, location_close))
		return host->set_error(h, LV_E_UNSUPPORTED, "this licvault cannot open inner locations for crypt");
	if (sodium_init() < 0)
		return host->set_error(h, LV_E_IO, "%s: libsodium cannot initialize", uri);
	lvc_inst *c = calloc(1, sizeof *c);
	if (!c)
		return LV_E_NOMEM;
	c->host = host;
	c->h = h;
	c->flags = flags;
	int rc = crypt_split_uri(c, uri);
	if (!rc)
		rc = crypt_read_config(c);
	if (!rc)
		rc = host->open_uri(h, c->inner, flags, &c->loc); /* described by the inner driver */
	if (rc) {
		crypt_close(c);
		return rc;
	}
	c->iops = host->location_ops(c->loc);
	c->iinst = host->location_instance(c->loc);
	*inst = c;
	return 0;
}

/* ---- writing ------------------------------------------------------------------------ */

static void writer_free(struct lv_writer *w)
{
	w->c->host->untrack(w->c->h, w); /* a no-op for one not handed out */
	lvc_enc_free(w->enc);
	free(w);
}

static int sink_inner(void *ud, const void *buf, size_t len)
{
	struct lv_writer *w = ud;
	return w->c->iops->write(w->iw, buf, len);
}

static int crypt_write_begin(void *inst, const char *name, uint64_t size_hint, lv_writer **out)
{
	lvc_inst *c = inst;
	int side = lvc_passthrough(name), rc;
	if (lvc_slot_name_ok(name))
		return reserved(c, name);
	if (!side && (rc = lvc_unlock(c, 1)))
		return rc;
	struct lv_writer *w = calloc(1, sizeof *w);
	if (!w)
		return LV_E_NOMEM;
	w->c = c;
	snprintf(w->name, sizeof w->name, "%s", name);
	uint64_t hint = side || size_hint == UINT64_MAX ? size_hint : lvc_cipher_size(size_hint);
	if ((rc = c->iops->write_begin(c->iinst, name, hint, &w->iw))) {
		free(w);
		return rc;
	}
	if (!side && (rc = lvc_enc_new(&w->enc, &c->kr->k, name, sink_inner, w))) {
		c->iops->abort(w->iw);
		free(w);
		return c->host->set_error(c->h, rc, "%s: out of memory to begin %s", c->uri, name);
	}
	if ((rc = c->host->track(c->h, w, release_writer))) { /* the host aborts it if the run leaves it open */
		crypt_abort(w);
		return rc;
	}
	*out = w;
	return 0;
}

static int crypt_write(lv_writer *w, const void *buf, size_t len)
{
	lvc_inst *c = w->c;
	if (c->host->canceled(c->h))
		return LV_E_CANCELED;
	if (!w->enc)
		return c->iops->write(w->iw, buf, len);
	return lvc_enc_write(w->enc, buf, len); /* only the inner driver's errors: described */
}

static int crypt_commit(lv_writer *w, unsigned flags)
{
	lvc_inst *c = w->c;
	lv_writer *iw = w->iw;
	int rc = 0;
	if (w->enc && c->host->canceled(c->h))
		rc = LV_E_CANCELED;
	else if (w->enc)
		rc = lvc_enc_finish(w->enc);
	writer_free(w);
	if (rc) {
		c->iops->abort(iw);
		return rc;
	}
	return c->iops->commit(iw, flags);
}

static void crypt_abort(lv_writer *w)
{
	if (!w)
		return;
	w->c->iops->abort(w->iw);
	writer_free(w);
}

/* ---- reading --------------------------------------------------------------------------- */

static void reader_free(struct lv_reader *r)
{
	lvc_inst *c = r->c;
	c->host->untrack(c->h, r); /* a no-op for one not handed out */
	lvc_ahead_free(r->ah); /* stops the worker before the inner reader goes */
	lvc_dec_free(r->dec);
	if (r->ir)
		c->iops->read_close(r->ir);
	free(r);
}

static int source_inner(void *ud, void *buf, size_t cap, size_t *n)
{
	struct lv_reader *r = ud;
	return r->c->iops->read(r->ir, buf, cap, n);
}

static int crypt_read_open(void *inst, const char *name, lv_reader **out)
{
	lvc_inst *c = inst;
	int side = lvc_passthrough(name), rc;
	if (lvc_slot_name_ok(name))
		return reserved(c, name);
	struct lv_reader *r = calloc(1, sizeof *r);
	if (!r)
		return LV_E_NOMEM;
	r->c = c;
	snprintf(r->name, sizeof r->name, "%s", name);
	/* the inner object first: a missing one is NOT_FOUND, whatever the key */
	if ((rc = c->iops->read_open(c->iinst, name, &r->ir))) {
		free(r);
		return rc;
	}
	if ((rc = c->host->track(c->h, r, release_reader))) { /* the host closes it if the run leaves it open */
		reader_free(r);
		return rc;
	}
	if (!side && (rc = lvc_unlock(c, 0))) {
		reader_free(r);
		return rc;
	}
	if (!side && c->cfg.threads && lvc_ahead_new(&r->ah, &c->kr->k, name, source_inner, r))
		c->host->log(c->h, LV_LOG_DEBUG, "%s: no worker thread to open %s: opening it on this one", c->uri, name);
	if (!side && !r->ah && (rc = lvc_dec_new(&r->dec, &c->kr->k, name, source_inner, r))) {
		reader_free(r);
		return c->host->set_error(c->h, rc, "%s: out of memory to open %s", c->uri, name);
	}
	*out = r;
	return 0;
}

static int crypt_read(lv_reader *r, void *buf, size_t cap, size_t *n)
{
	lvc_inst *c = r->c;
	*n = 0;
	if (c->host->canceled(c->h))
		return LV_E_CANCELED;
	if (!r->dec && !r->ah)
		return c->iops->read(r->ir, buf, cap, n);
	char why[400] = "";
	int rc = r->ah ? lvc_ahead_read(r->ah, buf, cap, n, why, sizeof why) : lvc_dec_read(r->dec, buf, cap, n);
	if (rc == LV_E_BACKUP_CORRUPT && r->dec)
		snprintf(why, sizeof why, "%s", lvc_dec_why(r->dec));
	if (rc == LV_E_BACKUP_CORRUPT && strstr(why, "another key"))
		return c->host->set_error(c->h, rc, "object %s at %s: %s; the key in use came from key slot %s (replaced?)",
		                          r->name, c->uri, why, c->kr->slot);
	if (rc == LV_E_BACKUP_CORRUPT)
		return c->host->set_error(c->h, rc, "object %s at %s: %s", r->name, c->uri, why);
	return rc; /* the inner driver's, described */
}

static void crypt_read_close(lv_reader *r)
{
	if (r)
		reader_free(r);
}

/* ---- list, stat, remove, and the rest ------------------------------------------------- */

typedef struct list_ctx {
	lv_list_cb cb;
	void *ud;
} list_ctx;

static int list_filter(const lv_object_info *info, void *ud)
{
	list_ctx *lc = ud;
	if (lvc_slot_name_ok(info->name))
		return 0;
	lv_object_info mine = *info;
	if (!lvc_passthrough(info->name))
		mine.size = lvc_plain_size(info->size); /* UINT64_MAX when unknown or not a whole object */
	return lc->cb(&mine, lc->ud);
}

static int crypt_list(void *inst, lv_list_cb cb, void *ud)
{
	lvc_inst *c = inst;
	list_ctx lc = {cb, ud};
	return c->iops->list(c->iinst, list_filter, &lc);
}

static int crypt_stat(void *inst, const char *name, lv_object_info *info)
{
	lvc_inst *c = inst;
	if (lvc_slot_name_ok(name))
		return reserved(c, name);
	if (!c->iops->stat)
		return LV_E_UNSUPPORTED;
	int rc = c->iops->stat(c->iinst, name, info);
	if (!rc && !lvc_passthrough(name))
		info->size = lvc_plain_size(info->size);
	return rc;
}

static int crypt_remove(void *inst, const char *name)
{
	lvc_inst *c = inst;
	if (lvc_slot_name_ok(name))
		return reserved(c, name);
	return c->iops->remove ? c->iops->remove(c->iinst, name) : LV_E_UNSUPPORTED;
}

static int crypt_sync(void *inst)
{
	lvc_inst *c = inst;
	return c->iops->sync ? c->iops->sync(c->iinst) : 0;
}

static int crypt_space(void *inst, uint64_t *free_bytes, uint64_t *total_bytes)
{
	lvc_inst *c = inst;
	return c->iops->space ? c->iops->space(c->iinst, free_bytes, total_bytes) : LV_E_UNSUPPORTED;
}

static int crypt_cleanup(void *inst)
{
	lvc_inst *c = inst;
	return c->iops->cleanup ? c->iops->cleanup(c->iinst) : 0;
}

static const lv_driver_ops crypt_ops = {
	.open = crypt_open,
	.close = crypt_close,
	.write_begin = crypt_write_begin,
	.write = crypt_write,
	.commit = crypt_commit,
	.abort = crypt_abort,
	.read_open = crypt_read_open,
	.read = crypt_read,
	.read_close = crypt_read_close,
	.list = crypt_list,
	.remove = crypt_remove,
	.stat = crypt_stat,
	.sync = crypt_sync,
	.space = crypt_space,
	.cleanup = crypt_cleanup,
	.enumerate = NULL,
#if LV_DRIVER_ABI_MINOR >= 1
	.control = lvc_control,
#endif
};

#if LV_DRIVER_ABI_MINOR >= 1
static const lv_driver_command crypt_commands[] = {
	{"init", "[label=TEXT] [key_file=FILE]", "make the location's key and its first key slot (key_file: an exported key)",
	 LV_COMMAND_WRITE},
	{"passwd", "[label=TEXT] [new_passphrase_file=FILE|new_passphrase_command=CMD]",
	 "change the passphrase: a new key slot, checked, then the old one removed", LV_COMMAND_WRITE},
	{"add-key", "[label=TEXT] [new_passphrase_file=FILE|new_passphrase_command=CMD]",
	 "another key slot, for another passphrase", LV_COMMAND_WRITE},
	{"remove-key", "ID", "remove a key slot (never the last, never the one the passphrase opens)", LV_COMMAND_WRITE},
	{"keys", "", "list the key slots (no passphrase needed)", 0},
	{"export-key", "", "print the location's data key, for a paper backup", 0},
	{NULL, NULL, NULL, 0},
};
#endif

static const char *const crypt_schemes[] = {"crypt", NULL};

static const lv_driver_key crypt_keys[] = {
	{"passphrase_file", LV_KEY_PATH, NULL,
	 "file whose first line is the passphrase; refused when group or others may access it", 0, 0, NULL, 0},
	{"passphrase_command", LV_KEY_STRING, NULL,
	 "command printing the passphrase on its standard output, run without a shell", 0, 0, NULL, 0},
	{"kdf_opslimit", LV_KEY_INT, "2", "Argon2id passes for new key slots (2: libsodium's interactive class)",
	 (int64_t)LVC_OPS_MIN, (int64_t)LVC_OPS_MAX, NULL, 0},
	{"kdf_memlimit", LV_KEY_INT, "67108864",
	 "Argon2id memory in bytes for new key slots (64 MiB: libsodium's interactive class)", (int64_t)LVC_MEM_MIN,
	 (int64_t)LVC_MEM_MAX, NULL, 0},
	{"threads", LV_KEY_BOOL, "yes", "open sealed objects (restore, verify) on a second thread, ahead of the reads", 0, 0,
	 NULL, 0},
	{NULL, 0, NULL, NULL, 0, 0, NULL, 0},
};

static const lv_driver crypt_driver = {
	LV_DRIVER_INIT_HEADER,
	.name = "crypt",
	.version = "1.0.0",
	.schemes = crypt_schemes,
	.ops = &crypt_ops,
	.keys = crypt_keys,
#if LV_DRIVER_ABI_MINOR >= 1
	.commands = crypt_commands,
#endif
};

LV_DRIVER_ENTRY
{
	return &crypt_driver;
}
