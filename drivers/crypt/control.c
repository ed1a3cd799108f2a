/*
 * Key management verbs (crypt_int.h, lvc_control): what `licvault crypt
 * VERB URI [ARGS]` runs once ABI 1.1 gives drivers ops->control.
 *
 *   init        [label=TEXT] [key_file=FILE]   the first key slot; with key_file, the key
 *                                              export-key printed (recovery, or sharing a key)
 *   passwd      [label=] [new_passphrase_file=|new_passphrase_command=]
 *                                              a new slot, checked, then the old one removed
 *   add-key     [label=] [new_passphrase_...=] another slot for another passphrase
 *   remove-key  ID | slot=ID                   never the last, never the one the passphrase opens
 *   keys                                       the slots, without unlocking
 *   export-key                                 the data key, for a paper backup
 *
 * Arguments are never secrets (a passphrase comes from its sources), and
 * are never echoed in messages, in case one is.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sodium.h>

#include "crypt_int.h"

typedef struct ctl {
	lvc_inst *c;
	lvc_emit_fn emit;
	void *ud;
	const char *verb;
	/* the arguments */
	const char *label, *key_file, *new_file, *new_command, *slot;
} ctl;

enum { A_LABEL = 1, A_KEY_FILE = 2, A_NEW = 4, A_SLOT = 8 };

static void say(ctl *x, const char *fmt, ...) LV_PRINTF(2, 3);
static void say(ctl *x, const char *fmt, ...)
{
	char line[1024];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(line, sizeof line, fmt, ap);
	va_end(ap);
	if (x->emit)
		x->emit(line, x->ud);
}

static int parse_args(ctl *x, unsigned allowed, const char *const *args, size_t nargs)
{
	static const struct { const char *name; unsigned bit; size_t off; } known[] = {
		{"label=", A_LABEL, offsetof(ctl, label)},
		{"key_file=", A_KEY_FILE, offsetof(ctl, key_file)},
		{"new_passphrase_file=", A_NEW, offsetof(ctl, new_file)},
		{"new_passphrase_command=", A_NEW, offsetof(ctl, new_command)},
		{"slot=", A_SLOT, offsetof(ctl, slot)},
	};
	char takes[300] = "";
	for (size_t k = 0; k < sizeof known / sizeof known[0]; k++)
		if (allowed & known[k].bit)
			snprintf(takes + strlen(takes), sizeof takes - strlen(takes), "%s%s...", takes[0] ? ", " : "",
			         known[k].name);
	for (size_t i = 0; i < nargs; i++) {
		const char *a = args[i];
		size_t k;
		for (k = 0; k < sizeof known / sizeof known[0]; k++)
			if ((allowed & known[k].bit) && !strncmp(a, known[k].name, strlen(known[k].name))) {
				*(const char **)((char *)x + known[k].off) = a + strlen(known[k].name);
				break;
			}
		if (k < sizeof known / sizeof known[0])
			continue;
		if ((allowed & A_SLOT) && !strchr(a, '=') && !x->slot) {
			x->slot = a;
			continue;
		}
		/* never echo it: a user may have typed a passphrase there */
		return x->c->host->set_error(x->c->h, LV_E_INVALID_ARG, "crypt %s: argument %zu is not one this verb takes "
		                             "(%s); a passphrase is never an argument", x->verb, i + 1,
		                             takes[0] ? takes : "none");
	}
	if (x->new_file && x->new_command)
		return x->c->host->set_error(x->c->h, LV_E_INVALID_ARG, "crypt %s: give new_passphrase_file= or "
		                             "new_passphrase_command=, not both", x->verb);
	return 0;
}

/* ---- init, and importing an exported key --------------------------------------- */

/* The hex digits of the line starting with `label` into out[n]; 0 or -1. */
static int hex_field(const unsigned char *t, size_t len, const char *label, unsigned char *out, size_t n)
{
	size_t ll = strlen(label);
	for (size_t i = 0; i < len; i++) {
		if ((i && t[i - 1] != '\n') || len - i < ll || memcmp(t + i, label, ll))
			continue;
		size_t k = 0;
		for (i += ll; i < len && t[i] != '\n' && t[i] != '\r'; i++) {
			int c = t[i], v = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10
			                  : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
			if (v < 0 && (c == ' ' || c == '\t' || c == '-'))
				continue;
			if (v < 0 || k >= 2 * n)
				return -1;
			out[k / 2] = (unsigned char)(k % 2 ? out[k / 2] | v : v << 4);
			k++;
		}
		return k == 2 * n ? 0 : -1;
	}
	return -1;
}

/* The first LVC_HDR bytes of an inner object (*len fewer: it is shorter). */
static int read_head(lvc_inst *c, const char *name, unsigned char *hdr, size_t *len)
{
	lv_reader *r = NULL;
	int rc = c->iops->read_open(c->iinst, name, &r);
	size_t n = 1;
	for (*len = 0; !rc && *len < LVC_HDR && n;) {
		if (!(rc = c->iops->read(r, hdr + *len, LVC_HDR - *len, &n)))
			*len += n <= LVC_HDR - *len ? n : 0;
	}
	if (r)
		c->iops->read_close(r);
	return rc;
}

static int source_inner(void *ud, void *buf, size_t cap, size_t *n)
{
	lvc_inst *c = ((void **)ud)[0];
	return c->iops->read(((void **)ud)[1], buf, cap, n);
}

/* The first chunk of a sealed object opens under k: 0, or BACKUP_CORRUPT with why. */
static int object_opens(lvc_inst *c, const char *name, const lvc_key *k, char *why, size_t cap)
{
	lv_reader *r = NULL;
	lvc_dec *d = NULL;
	int rc = c->iops->read_open(c->iinst, name, &r);
	void *src[2] = {c, r};
	if (!rc)
		rc = lvc_dec_new(&d, k, name, source_inner, src);
	unsigned char one;
	size_t n = 0;
	if (!rc && (rc = lvc_dec_read(d, &one, 1, &n)) == LV_E_BACKUP_CORRUPT)
		snprintf(why, cap, "%s", lvc_dec_why(d));
	sodium_memzero(&one, 1);
	lvc_dec_free(d);
	if (r)
		c->iops->read_close(r);
	return rc;
}

/* The location ID carried by this location's objects sealed under `key` (*have = 0: none). */
static int find_location(ctl *x, const unsigned char *key, unsigned char loc[LVC_IDBYTES], int *have)
{
	lvc_inst *c = x->c;
	lvc_names ns;
	int rc = lvc_list_names(c, 0, &ns);
	if (rc)
		return rc;
	lvc_key k = {key, {0}, {0}};
	lvc_key_id(key, k.key_id);
	const char *from = NULL;
	char why[400], a[33], b[33];
	*have = 0;
	for (unsigned i = 0; !rc && i < ns.n; i++) {
		unsigned char hdr[LVC_HDR], l[LVC_IDBYTES], kid[LVC_IDBYTES];
		size_t len = 0;
		if (read_head(c, ns.v[i], hdr, &len) || len < LVC_HDR || lvc_header_parse(hdr, l, kid, why, sizeof why) ||
		    memcmp(kid, k.key_id, LVC_IDBYTES))
			continue; /* not sealed under this key */
		if (!*have) {
			memcpy(loc, l, LVC_IDBYTES);
			from = ns.v[i];
			*have = 1;
		} else if (memcmp(loc, l, LVC_IDBYTES)) {
			lvc_hex(loc, LVC_IDBYTES, a);
			lvc_hex(l, LVC_IDBYTES, b);
			rc = c->host->set_error(c->h, LV_E_BACKUP_CORRUPT, "%s: objects %s (location %s) and %s (location %s) are "
			                        "sealed under this key for different locations; remove the stray one first",
			                        c->uri, from, a, ns.v[i], b);
		}
	}
	if (!rc && *have) {
		memcpy(k.loc_id, loc, LVC_IDBYTES);
		if ((rc = object_opens(c, from, &k, why, sizeof why)) == LV_E_BACKUP_CORRUPT)
			rc = c->host->set_error(c->h, rc, "object %s at %s names this key but does not open with it: %s", from,
			                        c->uri, why);
		lvc_hex(loc, LVC_IDBYTES, a);
		if (!rc)
			say(x, "location ID %s (from %s, which opens with this key)", a, from);
	}
	free(ns.v);
	return rc;
}

/* The key an export-key output in x->key_file holds. */
static int import_key(ctl *x, unsigned char *key)
{
	lvc_inst *c = x->c;
	lvc_secret t = {0};
	char why[700];
	unsigned char kid[LVC_IDBYTES], want[LVC_IDBYTES];
	int rc = lvc_secret_from_file(x->key_file, 1, &t, why, sizeof why);
	if (rc)
		return c->host->set_error(c->h, rc, "crypt init %s: key_file: %s", c->uri, why);
	if (hex_field(t.p, t.len, "key:", key, LVC_KEYBYTES) || hex_field(t.p, t.len, "key id:", want, LVC_IDBYTES))
		rc = c->host->set_error(c->h, LV_E_CONFIG, "crypt init %s: %s has no 'key:' line of 64 hex digits and 'key "
		                        "id:' line of 32 (what export-key prints)", c->uri, x->key_file);
	lvc_secret_free(&t);
	if (rc)
		return rc;
	lvc_key_id(key, kid);
	if (sodium_memcmp(kid, want, LVC_IDBYTES))
		return c->host->set_error(c->h, LV_E_CONFIG, "crypt init %s: the key in %s does not match its 'key id:' line "
		                          "(a typing error?)", c->uri, x->key_file);
	return 0;
}

static int v_init(ctl *x)
{
	lvc_inst *c = x->c;
	lvc_slot_set *set = NULL;
	int rc = lvc_slots_load(c, &set);
	if (rc)
		return rc;
	unsigned n = set->n;
	free(set);
	if (n)
		return c->host->set_error(c->h, LV_E_EXISTS, "%s is initialized already (%u key slot%s): use add-key or passwd",
		                          c->uri, n, n == 1 ? "" : "s");
	unsigned char *key = NULL, loc[LVC_IDBYTES];
	int have_loc = 0;
	if (x->key_file) {
		if (!(key = sodium_malloc(LVC_KEYBYTES)))
			return LV_E_NOMEM;
		if (!(rc = import_key(x, key)))
			rc = find_location(x, key, loc, &have_loc);
	}
	if (!rc)
		rc = lvc_init_location(c, key, have_loc ? loc : NULL, x->label ? x->label : "");
	sodium_free(key);
	if (rc == LV_E_EXISTS)
		return c->host->set_error(c->h, rc, "%s was initialized by another run meanwhile", c->uri);
	if (rc)
		return rc;
	char a[33], b[33];
	lvc_hex(c->kr->k.loc_id, LVC_IDBYTES, a);
	lvc_hex(c->kr->k.key_id, LVC_IDBYTES, b);
	say(x, "initialized %s: key slot %s, location ID %s, key ID %s, Argon2id opslimit %llu memlimit %llu", c->uri,
	    c->kr->slot, a, b, (unsigned long long)c->cfg.opslimit, (unsigned long long)c->cfg.memlimit);
	return 0;
}

/* ---- add-key, passwd, remove-key ---------------------------------------------- */

/* A new slot for a new passphrase, wrapping the unlocked key; its name in name. */
static int add_slot(ctl *x, const char *label, char name[LVC_SLOT_NAME_LEN + 1])
{
	lvc_inst *c = x->c;
	lvc_secret pass = {0};
	int rc = lvc_passphrase(c, LVC_PASS_NEW, x->new_file, x->new_command, &pass);
	if (rc)
		return rc;
	lvc_slot_new_name(name);
	rc = lvc_slot_write(c, name, c->kr->key, c->kr->k.loc_id, &pass, label);
	lvc_secret_free(&pass);
	return rc;
}

static int v_add(ctl *x)
{
	lvc_inst *c = x->c;
	char name[LVC_SLOT_NAME_LEN + 1];
	int rc = lvc_unlock(c, 0);
	if (!rc)
		rc = add_slot(x, x->label ? x->label : "", name);
	if (!rc)
		say(x, "added key slot %s to %s (Argon2id opslimit %llu memlimit %llu)", name, c->uri,
		    (unsigned long long)c->cfg.opslimit, (unsigned long long)c->cfg.memlimit);
	return rc;
}

static int v_passwd(ctl *x)
{
	lvc_inst *c = x->c;
	lvc_slot_set *set = NULL;
	int rc = lvc_unlock(c, 0);
	if (!rc)
		rc = lvc_slots_load(c, &set);
	if (rc)
		return rc;
	char old[LVC_SLOT_NAME_LEN + 1], name[LVC_SLOT_NAME_LEN + 1], label[LVC_LABEL_MAX + 1];
	snprintf(old, sizeof old, "%s", c->kr->slot);
	const lvc_slot_ent *e = lvc_slot_find(set, old);
	snprintf(label, sizeof label, "%s", x->label ? x->label : e ? e->info.label : "");
	free(set);
	if ((rc = add_slot(x, label, name)))
		return rc;
	/* the new slot opens the key (checked by lvc_slot_write): only now the old one goes */
	snprintf(c->kr->slot, sizeof c->kr->slot, "%s", name);
	rc = c->iops->remove ? c->iops->remove(c->iinst, old) : LV_E_UNSUPPORTED;
	if (rc)
		return c->host->set_error(c->h, rc, "%s: the new key slot %s opens the key, but removing the old key slot %s "
		                          "failed (error %d): remove it with crypt remove-key", c->uri, name, old, rc);
	say(x, "changed the passphrase of %s: key slot %s replaces %s", c->uri, name, old);
	return 0;
}

static int v_remove(ctl *x)
{
	lvc_inst *c = x->c;
	if (!x->slot)
		return c->host->set_error(c->h, LV_E_INVALID_ARG, "crypt remove-key %s: name the key slot (its 16 hex digits, "
		                          "as crypt keys shows them)", c->uri);
	char full[LVC_SLOT_NAME_LEN + 2];
	snprintf(full, sizeof full, "%s%s", strlen(x->slot) == 16 ? LVC_SLOT_PREFIX : "", x->slot);
	if (!lvc_slot_name_ok(full)) /* not echoed: it may be anything */
		return c->host->set_error(c->h, LV_E_INVALID_ARG, "crypt remove-key %s: the argument is not a key slot ID "
		                          "(16 hex digits, as crypt keys shows them)", c->uri);
	lvc_slot_set *set = NULL;
	int rc = lvc_unlock(c, 0);
	if (!rc)
		rc = lvc_slots_load(c, &set);
	if (rc)
		return rc;
	lvc_slot_ent *e = lvc_slot_find(set, full);
	char name[LVC_SLOT_NAME_LEN + 1];
	snprintf(name, sizeof name, "%s", e ? e->name : "");
	unsigned n = set->n;
	free(set);
	if (!e)
		return c->host->set_error(c->h, LV_E_NOT_FOUND, "%s has no key slot %s (crypt keys lists them)", c->uri,
		                          x->slot);
	if (n <= 1)
		return c->host->set_error(c->h, LV_E_INVALID_ARG, "%s: key slot %s is the last one: removing it would lose "
		                          "every backup there", c->uri, name);
	if (!strcmp(name, c->kr->slot))
		return c->host->set_error(c->h, LV_E_INVALID_ARG, "%s: key slot %s is the one this passphrase opens: remove "
		                          "it with another slot's passphrase, or change it with passwd", c->uri, name);
	if (!c->iops->remove)
		return c->host->set_error(c->h, LV_E_UNSUPPORTED, "%s: the inner location cannot remove objects", c->uri);
	if ((rc = c->iops->remove(c->iinst, name)))
		return rc;
	say(x, "removed key slot %s from %s", name, c->uri);
	return 0;
}

/* ---- keys, export-key ----------------------------------------------------------------- */

static int v_keys(ctl *x)
{
	lvc_inst *c = x->c;
	lvc_slot_set *set = NULL;
	int rc = lvc_slots_load(c, &set);
	if (rc)
		return rc;
	if (!set->n) {
		free(set);
		return c->host->set_error(c->h, LV_E_NOT_FOUND, "%s has no key slot: it is not initialized (crypt init)",
		                          c->uri);
	}
	for (unsigned i = 0; i < set->n; i++) {
		const lvc_slot_ent *e = &set->e[i];
		const char *id = e->name + sizeof LVC_SLOT_PREFIX - 1;
		if (e->rc) {
			say(x, "%s  DAMAGED: %s", id, e->why);
			continue;
		}
		char when[32] = "?", loc[33];
		time_t t = (time_t)e->info.created;
		struct tm tm;
		if (gmtime_r(&t, &tm))
			strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%SZ", &tm);
		lvc_hex(e->info.loc_id, LVC_IDBYTES, loc);
		say(x, "%s  created %s  Argon2id opslimit %llu memlimit %llu  location %s  label '%s'", id, when,
		    (unsigned long long)e->info.opslimit, (unsigned long long)e->info.memlimit, loc, e->info.label);
	}
	free(set);
	return 0;
}

static int v_export(ctl *x)
{
	lvc_inst *c = x->c;
	int rc = lvc_unlock(c, 0);
	if (rc)
		return rc;
	char loc[33], kid[33], hex[2 * LVC_KEYBYTES + 1], line[2 * LVC_KEYBYTES + 16];
	lvc_hex(c->kr->k.loc_id, LVC_IDBYTES, loc);
	lvc_hex(c->kr->k.key_id, LVC_IDBYTES, kid);
	say(x, "licvault crypt key, version 1");
	say(x, "location: %s", c->uri);
	say(x, "location id: %s", loc);
	say(x, "key id: %s", kid);
	/* the one place a key is output: what this verb is for */
	lvc_hex(c->kr->key, LVC_KEYBYTES, hex);
	size_t k = (size_t)snprintf(line, sizeof line, "key:");
	for (size_t g = 0; g < 8; g++)
		k += (size_t)snprintf(line + k, sizeof line - k, " %.8s", hex + 8 * g);
	if (x->emit)
		x->emit(line, x->ud);
	sodium_memzero(hex, sizeof hex);
	sodium_memzero(line, sizeof line);
	return 0;
}

/* ---- the entry point -------------------------------------------------------------------- */

int lvc_control(void *inst, const char *verb, const char *const *args, size_t nargs, lvc_emit_fn emit, void *ud)
{
	static const struct { const char *name; unsigned args; int (*fn)(ctl *); } verbs[] = {
		{"init", A_LABEL | A_KEY_FILE, v_init},
		{"passwd", A_LABEL | A_NEW, v_passwd},
		{"add-key", A_LABEL | A_NEW, v_add},
		{"remove-key", A_SLOT, v_remove},
		{"keys", 0, v_keys},
		{"export-key", 0, v_export},
	};
	lvc_inst *c = inst;
	ctl x = {.c = c, .emit = emit, .ud = ud, .verb = verb ? verb : ""};
	for (size_t i = 0; i < sizeof verbs / sizeof verbs[0]; i++) {
		if (strcmp(x.verb, verbs[i].name))
			continue;
		int rc = parse_args(&x, verbs[i].args, args, nargs);
		return rc ? rc : verbs[i].fn(&x);
	}
	return c->host->set_error(c->h, LV_E_UNSUPPORTED, "crypt: no verb '%s' (init, passwd, add-key, remove-key, keys, "
	                          "export-key)", x.verb);
}
