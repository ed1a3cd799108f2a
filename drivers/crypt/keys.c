/*
 * Key management of a crypt location (crypt_int.h): unlocking the data key
 * with a passphrase, and the control verbs.
 *
 * A location's key slots are objects "licvault-crypt-key-<16 hex>" at the
 * inner location (slot.c), each written once.  The first is always
 * "...-0000000000000000", so two runs initializing one location at once
 * cannot both succeed (the second commit is EXISTS).  Every slot carries
 * the location's ID; slots that disagree are refused as corrupt.
 *
 * Passphrases come from, in order: passphrase_file, passphrase_command,
 * $LICVAULT_PASSPHRASE (new ones, for add-key and passwd: the verb's
 * new_passphrase_file= or new_passphrase_command= argument, then
 * $LICVAULT_NEW_PASSPHRASE), then, with ABI 1.1, the application asks its
 * user (host->ask_secret; twice for a new key slot).
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sodium.h>

#include "crypt_int.h"

#define FIRST_SLOT LVC_SLOT_PREFIX "0000000000000000"

/* Where a passphrase comes from. */
typedef struct pass_src {
	const char *file, *command;   /* or NULL */
	const char *file_key, *command_key, *env;
	const char *what;             /* "the passphrase", "the new passphrase" */
	const char *hint;             /* what to set when there is none */
	int confirm;                  /* asking the user: twice (a new key slot) */
	int is_new;
} pass_src;

static int fail_unlock(lvc_inst *c, int code, const char *fmt, ...) LV_PRINTF(3, 4);
static int fail_unlock(lvc_inst *c, int code, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(c->unlock_why, sizeof c->unlock_why, fmt, ap);
	va_end(ap);
	c->unlock_rc = code; /* said again by later attempts, without another KDF */
	return c->host->set_error(c->h, code, "%s", c->unlock_why);
}

void lvc_keyring_free(lvc_keyring *kr)
{
	if (!kr)
		return;
	sodium_free(kr->key); /* wipes */
	free(kr);
}

static int keyring_set(lvc_inst *c, const unsigned char *key, const unsigned char loc[LVC_IDBYTES], const char *slot)
{
	lvc_keyring *kr = calloc(1, sizeof *kr);
	if (!kr || !(kr->key = sodium_malloc(LVC_KEYBYTES))) {
		free(kr);
		return LV_E_NOMEM;
	}
	memcpy(kr->key, key, LVC_KEYBYTES);
	kr->k.key = kr->key;
	lvc_key_id(key, kr->k.key_id);
	memcpy(kr->k.loc_id, loc, LVC_IDBYTES);
	snprintf(kr->slot, sizeof kr->slot, "%s", slot);
	sodium_mprotect_readonly(kr->key);
	lvc_keyring_free(c->kr);
	c->kr = kr;
	return 0;
}

/* ---- small objects at the inner location ------------------------------------ */

/* Read a whole object of at most cap bytes (*len = cap + 1: it is longer). */
int lvc_inner_get(lvc_inst *c, const char *name, unsigned char *buf, size_t cap, size_t *len)
{
	lv_reader *r = NULL;
	int rc = c->iops->read_open(c->iinst, name, &r);
	*len = 0;
	while (!rc) {
		unsigned char tmp[512];
		size_t n = 0, want = cap - *len < sizeof tmp ? cap - *len + 1 : sizeof tmp;
		if ((rc = c->iops->read(r, tmp, want, &n)) || !n)
			break;
		if (n > want || *len + n > cap) {
			*len = cap + 1;
			break;
		}
		memcpy(buf + *len, tmp, n);
		*len += n;
	}
	if (r)
		c->iops->read_close(r);
	return rc;
}

/* Write a new object (never replacing one). */
int lvc_inner_put(lvc_inst *c, const char *name, const void *buf, size_t len)
{
	lv_writer *w = NULL;
	int rc = c->iops->write_begin(c->iinst, name, len, &w);
	if (rc)
		return rc;
	if ((rc = c->iops->write(w, buf, len))) {
		c->iops->abort(w);
		return rc;
	}
	return c->iops->commit(w, 0);
}

static int names_cb(const lv_object_info *info, void *ud)
{
	lvc_names *ns = ud;
	int is_slot = lvc_slot_name_ok(info->name);
	if (ns->n < ns->max && (ns->slots ? is_slot : !is_slot && !lvc_passthrough(info->name)))
		snprintf(ns->v[ns->n++], sizeof ns->v[0], "%s", info->name);
	return 0;
}

static int cmp_name(const void *a, const void *b)
{
	return strcmp(a, b);
}

/* The names of the key slots (slots = 1) or sealed objects (0), sorted. */
int lvc_list_names(lvc_inst *c, int slots, lvc_names *ns)
{
	ns->n = 0;
	ns->max = LVC_MAX_SLOTS;
	ns->slots = slots;
	if (!(ns->v = calloc(ns->max, sizeof *ns->v)))
		return LV_E_NOMEM;
	int saved = c->host->error_save(c->h);
	int rc = c->iops->list(c->iinst, names_cb, ns);
	if (rc == LV_E_NOT_FOUND) {
		c->host->error_restore(c->h, saved); /* no location yet: nothing there */
		rc = 0;
	}
	if (rc) {
		free(ns->v);
		return rc;
	}
	qsort(ns->v, ns->n, sizeof *ns->v, cmp_name);
	return 0;
}

/* Read and check every key slot at the location. */
int lvc_slots_load(lvc_inst *c, lvc_slot_set **out)
{
	lvc_names ns;
	int rc = lvc_list_names(c, 1, &ns);
	if (rc)
		return rc;
	lvc_slot_set *set = calloc(1, sizeof *set);
	if (!set) {
		free(ns.v);
		return LV_E_NOMEM;
	}
	for (unsigned i = 0; i < ns.n && !rc; i++) {
		lvc_slot_ent *e = &set->e[set->n];
		size_t len = 0;
		snprintf(e->name, sizeof e->name, "%s", ns.v[i]);
		/* a listed slot that cannot be read is an error (NOT_FOUND too): never taken
		 * for an uninitialized location, which a first backup would initialize */
		rc = lvc_inner_get(c, e->name, e->buf, sizeof e->buf, &len);
		if (!rc)
			e->rc = lvc_slot_parse(e->buf, len, &e->info, e->why, sizeof e->why);
		set->n++;
	}
	free(ns.v);
	if (rc) {
		free(set);
		return rc;
	}
	*out = set;
	return 0;
}

lvc_slot_ent *lvc_slot_find(lvc_slot_set *set, const char *id)
{
	for (unsigned i = 0; i < set->n; i++) {
		const char *n = set->e[i].name;
		if (!strcmp(n, id) || !strcmp(n + sizeof LVC_SLOT_PREFIX - 1, id))
			return &set->e[i];
	}
	return NULL;
}

/* Every readable slot names the same location. */
static int slots_agree(lvc_inst *c, lvc_slot_set *set)
{
	const lvc_slot_ent *first = NULL;
	for (unsigned i = 0; i < set->n; i++) {
		const lvc_slot_ent *e = &set->e[i];
		if (e->rc)
			continue;
		if (!first) {
			first = e;
			continue;
		}
		if (memcmp(first->info.loc_id, e->info.loc_id, LVC_IDBYTES)) {
			char a[33], b[33];
			lvc_hex(first->info.loc_id, LVC_IDBYTES, a);
			lvc_hex(e->info.loc_id, LVC_IDBYTES, b);
			return fail_unlock(c, LV_E_BACKUP_CORRUPT,
			                   "key slot %s at %s: authentication failed: it names location %s, key slot %s names %s "
			                   "(a slot was copied from another location)", e->name, c->uri, b, first->name, a);
		}
	}
	return 0;
}

/* ---- passphrases ---------------------------------------------------------------- */

static int canceled_cb(void *ud)
{
	lvc_inst *c = ud;
	return c->host->canceled(c->h);
}

static void current_src(lvc_inst *c, pass_src *s)
{
	memset(s, 0, sizeof *s);
	s->file = c->cfg.passphrase_file;
	s->command = c->cfg.passphrase_command;
	s->file_key = "passphrase_file";
	s->command_key = "passphrase_command";
	s->env = "LICVAULT_PASSPHRASE";
	s->what = "the passphrase";
	s->hint = "set passphrase_file or passphrase_command in [driver \"crypt\"] (or the location's section), "
	          "or $LICVAULT_PASSPHRASE";
}

/*
 * The last source: the application asks its user (ABI 1.1's ask_secret; the
 * CLI prompts with echo off), into the secret's own locked memory.
 * LV_E_UNSUPPORTED when the host cannot ask.
 */
static int ask_user(lvc_inst *c, const pass_src *s, lvc_secret *out)
{
#if LV_DRIVER_ABI_MINOR >= 1
	if (!LV_HOST_HAS(c->host, ask_secret))
		return LV_E_UNSUPPORTED;
	char prompt[900];
	snprintf(prompt, sizeof prompt, "%s for %s", s->is_new ? "new passphrase" : "passphrase", c->uri);
	int rc = lvc_secret_alloc(out);
	size_t len = 0;
	if (!rc)
		rc = c->host->ask_secret(c->h, prompt, s->confirm ? LV_SECRET_CONFIRM : 0, (char *)out->p,
		                         LVC_SECRET_MAX + 1, &len);
	if (!rc && (!len || len > LVC_SECRET_MAX))
		rc = c->host->set_error(c->h, LV_E_CONFIG, "%s of %s: an empty passphrase", s->what, c->uri);
	if (rc) {
		lvc_secret_free(out);
		return rc;
	}
	out->len = len;
	c->host->log(c->h, LV_LOG_DEBUG, "%s of %s: asked for", s->what, c->uri);
	return 0;
#else
	(void)c;
	(void)s;
	(void)out;
	return LV_E_UNSUPPORTED;
#endif
}

/* A passphrase from the first source that is set; described errors. */
static int get_secret(lvc_inst *c, const pass_src *s, lvc_secret *out)
{
	char why[700] = "";
	int rc;
	if (s->file) {
		if ((rc = lvc_secret_from_file(s->file, 0, out, why, sizeof why)))
			return c->host->set_error(c->h, rc, "%s of %s: %s: %s", s->what, c->uri, s->file_key, why);
		c->host->log(c->h, LV_LOG_DEBUG, "%s of %s: from %s %s", s->what, c->uri, s->file_key, s->file);
		return 0;
	}
	if (s->command) {
		if ((rc = lvc_secret_from_command(s->command, canceled_cb, c, out, why, sizeof why)))
			return rc == LV_E_CANCELED ? rc
			                           : c->host->set_error(c->h, rc, "%s of %s: %s: %s", s->what, c->uri,
			                                                s->command_key, why);
		c->host->log(c->h, LV_LOG_DEBUG, "%s of %s: from %s", s->what, c->uri, s->command_key);
		return 0;
	}
	rc = lvc_secret_from_env(s->env, out, why, sizeof why);
	if (!rc) {
		c->host->log(c->h, LV_LOG_DEBUG, "%s of %s: from $%s (the least safe source)", s->what, c->uri, s->env);
		return 0;
	}
	if (rc != LV_E_NOT_FOUND)
		return c->host->set_error(c->h, rc, "%s of %s: %s", s->what, c->uri, why);
	if ((rc = ask_user(c, s, out)) != LV_E_UNSUPPORTED)
		return rc;
	return c->host->set_error(c->h, LV_E_CONFIG, "no source for %s of %s: %s", s->what, c->uri, s->hint);
}

int lvc_passphrase(lvc_inst *c, int which, const char *new_file, const char *new_command, lvc_secret *out)
{
	pass_src s;
	current_src(c, &s);
	s.confirm = which != LVC_PASS_CURRENT;
	s.is_new = which == LVC_PASS_NEW;
	if (s.is_new) {
		s.file = new_file;
		s.command = new_command;
		s.file_key = "new_passphrase_file=";
		s.command_key = "new_passphrase_command=";
		s.env = "LICVAULT_NEW_PASSPHRASE";
		s.what = "the new passphrase";
		s.hint = "give new_passphrase_file=FILE or new_passphrase_command=COMMAND, or set $LICVAULT_NEW_PASSPHRASE";
	}
	return get_secret(c, &s, out);
}

/* ---- unlocking ------------------------------------------------------------------ */

/* Order to try slots in: cheapest KDF first (a planted costly slot is tried last). */
static double slot_cost(const lvc_slot_ent *e)
{
	return (double)e->info.opslimit * (double)e->info.memlimit;
}

static unsigned next_slot(const lvc_slot_set *set, const unsigned char *tried)
{
	unsigned best = set->n;
	for (unsigned i = 0; i < set->n; i++)
		if (!set->e[i].rc && !tried[i] && (best == set->n || slot_cost(&set->e[i]) < slot_cost(&set->e[best])))
			best = i;
	return best;
}

/* Open one of the slots with the passphrase; on success the keyring is set. */
static int try_slots(lvc_inst *c, lvc_slot_set *set, const lvc_secret *pass)
{
	unsigned char tried[LVC_MAX_SLOTS] = {0}, *key = sodium_malloc(LVC_KEYBYTES);
	unsigned valid = 0, i;
	if (!key)
		return LV_E_NOMEM;
	int rc = LV_E_AUTH;
	while (rc == LV_E_AUTH && (i = next_slot(set, tried)) < set->n) {
		lvc_slot_ent *e = &set->e[i];
		tried[i] = 1;
		valid++;
		rc = lvc_slot_open(e->buf, e->name, pass->p, pass->len, key);
		if (!rc)
			rc = keyring_set(c, key, e->info.loc_id, e->name);
		else if (rc == LV_E_BACKUP_CORRUPT)
			rc = fail_unlock(c, rc, "key slot %s at %s: authentication failed: the passphrase is this slot's, but its "
			                 "wrapped key does not verify (the slot was changed or replaced)", e->name, c->uri);
		else if (rc == LV_E_NOMEM)
			rc = c->host->set_error(c->h, rc, "key slot %s at %s: out of memory for Argon2id (memlimit %llu bytes)",
			                        e->name, c->uri, (unsigned long long)e->info.memlimit);
	}
	sodium_free(key);
	if (rc != LV_E_AUTH)
		return rc;
	for (i = 0; i < set->n; i++)
		if (set->e[i].rc && valid)
			return fail_unlock(c, LV_E_BACKUP_CORRUPT, "key slot %s at %s: %s; the passphrase opens none of the other "
			                   "%u key slot%s", set->e[i].name, c->uri, set->e[i].why, valid, valid == 1 ? "" : "s");
		else if (set->e[i].rc)
			return fail_unlock(c, LV_E_BACKUP_CORRUPT, "key slot %s at %s: %s; there is no other key slot",
			                   set->e[i].name, c->uri, set->e[i].why);
	return fail_unlock(c, LV_E_AUTH, "the passphrase does not open the key at %s (%u key slot%s tried)", c->uri, valid,
	                   valid == 1 ? "" : "s");
}

static int unlock_with(lvc_inst *c, lvc_slot_set *set)
{
	int rc = slots_agree(c, set);
	if (rc)
		return rc;
	lvc_secret pass = {0};
	if ((rc = lvc_passphrase(c, LVC_PASS_CURRENT, NULL, NULL, &pass)))
		return rc;
	rc = try_slots(c, set, &pass);
	lvc_secret_free(&pass);
	if (!rc)
		c->host->log(c->h, LV_LOG_DEBUG, "%s: unlocked with key slot %s", c->uri, c->kr->slot);
	return rc;
}

/*
 * A first backup makes a key only where there is nothing yet: objects
 * without a key slot mean the slots were lost (or the folder holds another
 * kind of backup), and a new key over them would only hide that.
 */
static int no_objects(lvc_inst *c)
{
	lvc_names ns;
	int rc = lvc_list_names(c, 0, &ns);
	if (rc)
		return rc;
	unsigned n = ns.n;
	char first[LVC_NAME_MAX + 1] = "";
	if (n)
		snprintf(first, sizeof first, "%s", ns.v[0]);
	free(ns.v);
	if (!n)
		return 0;
	return c->host->set_error(c->h, LV_E_BACKUP_CORRUPT,
	                          "%s has no key slot (" LVC_SLOT_PREFIX "*) but holds %u object%s (%s%s): its key slots "
	                          "were lost, or it holds another kind of backup; a backup makes no new key over them "
	                          "(restore the slots, run crypt init with key_file= and the exported key, or crypt init "
	                          "to start a new key here)", c->uri, n, n == 1 ? "" : "s", first, n > 1 ? ", ..." : "");
}

/*
 * After a first backup initialized the location: its slots must be the one
 * just written.  Another slot means the listing that showed none was wrong
 * (a failing inner driver): the new slot is taken back rather than leave two
 * keys at one location.
 */
static int init_recheck(lvc_inst *c)
{
	lvc_slot_set *set = NULL;
	int rc = lvc_slots_load(c, &set);
	unsigned n = set ? set->n : 0;
	free(set);
	if (!rc && n == 1)
		return 0;
	lvc_keyring_free(c->kr);
	c->kr = NULL;
	if (rc)
		return rc;
	int rrc = c->iops->remove ? c->iops->remove(c->iinst, FIRST_SLOT) : LV_E_UNSUPPORTED;
	return c->host->set_error(c->h, LV_E_IO, "%s: its listing showed no key slot, but after the first was written "
	                          "it shows %u: the location was not initialized%s; run again", c->uri, n,
	                          rrc ? " (and removing the new slot failed: remove " FIRST_SLOT " by hand)" : "");
}

int lvc_unlock(lvc_inst *c, int may_init)
{
	if (c->kr)
		return 0;
	if (c->unlock_rc)
		return c->host->set_error(c->h, c->unlock_rc, "%s", c->unlock_why);
	lvc_slot_set *set = NULL;
	int rc = lvc_slots_load(c, &set);
	if (!rc && !set->n) {
		free(set);
		set = NULL;
		if (!may_init)
			return c->host->set_error(c->h, LV_E_BACKUP_CORRUPT,
			                          "%s has no key slot (" LVC_SLOT_PREFIX "*): it was never initialized, or its key "
			                          "slots were removed (restore them, or run crypt init with the exported key)",
			                          c->uri);
		if ((rc = no_objects(c)))
			return rc;
		rc = lvc_init_location(c, NULL, NULL, "");
		if (!rc)
			return init_recheck(c);
		if (rc != LV_E_EXISTS)
			return rc;
		/* another run initialized it first: use its key */
		rc = lvc_slots_load(c, &set);
	}
	if (!rc)
		rc = unlock_with(c, set);
	free(set);
	return rc;
}

/* ---- writing slots ----------------------------------------------------------------- */

/*
 * Write slot `name` wrapping `key` for `pass`, read it back and check that
 * it opens to the same key.
 */
int lvc_slot_write(lvc_inst *c, const char *name, const unsigned char *key, const unsigned char *loc,
                      const lvc_secret *pass, const char *label)
{
	unsigned char buf[LVC_SLOT_SIZE], back[LVC_SLOT_SIZE + 1];
	int rc = lvc_slot_make(buf, name, key, loc, pass->p, pass->len, c->cfg.opslimit, c->cfg.memlimit,
	                       (int64_t)time(NULL), label);
	if (rc == LV_E_NOMEM)
		return c->host->set_error(c->h, rc, "%s: out of memory for Argon2id (kdf_memlimit %llu bytes)", c->uri,
		                          (unsigned long long)c->cfg.memlimit);
	if (rc)
		return c->host->set_error(c->h, rc, "%s: key slot label '%s': at most %u printable ASCII characters", c->uri,
		                          label, LVC_LABEL_MAX);
	if ((rc = lvc_inner_put(c, name, buf, sizeof buf)))
		return rc; /* described by the inner driver */
	size_t len = 0;
	lvc_slot_info info;
	char why[300];
	unsigned char *got = sodium_malloc(LVC_KEYBYTES);
	if (!got)
		return LV_E_NOMEM;
	if (!(rc = lvc_inner_get(c, name, back, LVC_SLOT_SIZE, &len))) {
		if (len != LVC_SLOT_SIZE || memcmp(back, buf, LVC_SLOT_SIZE) || lvc_slot_parse(back, len, &info, why, sizeof why) ||
		    lvc_slot_open(back, name, pass->p, pass->len, got) || sodium_memcmp(got, key, LVC_KEYBYTES))
			rc = c->host->set_error(c->h, LV_E_IO, "key slot %s at %s does not read back as written: the location "
			                        "does not keep what is written to it", name, c->uri);
	}
	sodium_free(got);
	c->host->log(c->h, LV_LOG_INFO, "%s: wrote key slot %s (Argon2id opslimit %llu memlimit %llu)", c->uri, name,
	             (unsigned long long)c->cfg.opslimit, (unsigned long long)c->cfg.memlimit);
	return rc;
}

/* The first slot of a location: a new key (or the given one) under the configured passphrase. */
int lvc_init_location(lvc_inst *c, const unsigned char *key, const unsigned char *loc, const char *label)
{
	lvc_secret pass = {0};
	int rc = lvc_passphrase(c, LVC_PASS_INIT, NULL, NULL, &pass);
	if (rc)
		return rc;
	unsigned char *k = sodium_malloc(LVC_KEYBYTES), id[LVC_IDBYTES];
	if (!k) {
		lvc_secret_free(&pass);
		return LV_E_NOMEM;
	}
	if (key)
		memcpy(k, key, LVC_KEYBYTES);
	else
		crypto_secretstream_xchacha20poly1305_keygen(k);
	if (loc)
		memcpy(id, loc, LVC_IDBYTES);
	else
		randombytes_buf(id, sizeof id);
	rc = lvc_slot_write(c, FIRST_SLOT, k, id, &pass, label);
	if (!rc)
		rc = keyring_set(c, k, id, FIRST_SLOT);
	sodium_free(k);
	lvc_secret_free(&pass);
	if (!rc)
		c->host->log(c->h, LV_LOG_INFO, "%s: initialized (key slot %s)", c->uri, FIRST_SLOT);
	return rc;
}

/* A new slot name: 16 random hex digits, never the first slot's. */
void lvc_slot_new_name(char out[LVC_SLOT_NAME_LEN + 1])
{
	unsigned char r[8];
	do
		randombytes_buf(r, sizeof r);
	while (sodium_is_zero(r, sizeof r));
	char hex[17];
	lvc_hex(r, sizeof r, hex);
	snprintf(out, LVC_SLOT_NAME_LEN + 1, "%s%s", LVC_SLOT_PREFIX, hex);
}

