/*
 * Checking and showing the config file against the core's keys and the
 * loaded drivers' declared keys.
 */
#include "confcheck.h"
#include "uri.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The core's own keys, declared as drivers declare theirs. */
static const lv_driver_key core_keys_licvault[] = {
	{"store", LV_KEY_PATH, NULL, "the license store file", 0, 0, NULL, 0},
	{"driver_path", LV_KEY_LIST, NULL, "directories searched for drivers first (':'-separated)", 0, 0, NULL, 0},
	{"keep", LV_KEY_INT, "3", "generations (whole backups) a location keeps; older ones are pruned after a backup",
	 1, 1000, NULL, 0},
	{"verify_after_backup", LV_KEY_BOOL, "no",
	 "read the new backup back and check every checksum before older generations are pruned", 0, 0, NULL, 0},
	{"lock_stale_after", LV_KEY_INT, "900",
	 "seconds after which a lock its holder stopped refreshing (another machine or container) counts as stale",
	 60, 604800, NULL, 0},
	{NULL, 0, NULL, NULL, 0, 0, NULL, 0}};
/* The core's keys a [location "NAME"] may set for itself. */
static const char *const core_location_keys[] = {"keep", "verify_after_backup", "lock_stale_after", NULL};
static const lv_driver_key core_keys_service[] = {
	{"restores_per_day", LV_KEY_INT, "4", "restores one machine may make per UTC day", 1, 1000000, NULL, 0},
	{"max_machines", LV_KEY_INT, "4", "distinct machines a license may be restored on", 1, 64, NULL, 0},
	{"location", LV_KEY_STRING, NULL, "where the registry that counts machines is kept (a URI)", 0, 0, NULL, 0},
	{NULL, 0, NULL, NULL, 0, 0, NULL, 0}};

static const lv_driver_key *find_key(const lv_driver_key *keys, const char *name)
{
	for (const lv_driver_key *k = keys; k && k->name; k++)
		if (!strcmp(k->name, name))
			return k;
	return NULL;
}

/* Is the key's value a secret, never shown: declared so, or named like a password (not a file of one)? */
static int is_secret(const lv_driver_key *k, const char *name)
{
	return (k && (k->flags & LV_KEY_SECRET)) || (strstr(name, "password") && !strstr(name, "_file"));
}

/* One value against its declaration; a repeated key only when it is a list. */
static int check_value(lv_context *c, const lv_conf_entry *e, const lv_driver_key *k)
{
	const char *file = lv__config_file(c->config);
	if (k->type != LV_KEY_LIST) {
		const lv_conf_entry *first = lv__config_entry(c->config, e->section, e->key, 0);
		if (first && first != e)
			return lv__ctx_error(c, LV_E_CONFIG, "%s:%d: '%s' given twice (first at line %d); it is not a list, and only keys of type list may repeat",
			                     file, e->line, e->key, first->line);
	}
	int64_t n;
	size_t cl;
	const char *canon;
	char why[256];
	if (lv__config_parse(k, e->value, &n, &cl, &canon, why, sizeof why))
		return lv__ctx_error(c, LV_E_CONFIG, "%s:%d: %s = '%s': %s", file, e->line, e->key,
		                     is_secret(k, e->key) ? "********" : e->value, why);
	return 0;
}

static int check_core(lv_context *c, const lv_conf_entry *e, const lv_driver_key *keys)
{
	const lv_driver_key *k = find_key(keys, e->key);
	if (!k)
		return lv__ctx_error(c, LV_E_CONFIG, "%s:%d: unknown key '%s' in [%s]", lv__config_file(c->config), e->line,
		                     e->key, e->section);
	return check_value(c, e, k);
}

/* A key of [driver "NAME"]: the driver's declaration, when it declares keys. */
static int check_driver_key(lv_context *c, const lv_conf_entry *e, const lv_loaded *d)
{
	const char *file = lv__config_file(c->config);
	const lv_driver_key *k = lv__driver_key(d->desc, e->key);
	if (k)
		return check_value(c, e, k);
	if (d->desc->keys)
		return lv__ctx_error(c, LV_E_CONFIG, "%s:%d: unknown key '%s' for driver '%s'", file, e->line, e->key,
		                     d->desc->name);
	lv__log(c, LV_LOG_WARN, "%s:%d: key '%s': driver '%s' declares no keys", file, e->line, e->key, d->desc->name);
	return 0;
}

/*
 * A key of [location "NAME"]: its uri, or an override of a key of one of
 * the drivers its URI stacks (outer first: bundle+crypt+sftp://...).
 */
static int check_location_key(lv_context *c, const lv_conf_entry *e, const char *lname)
{
	const char *file = lv__config_file(c->config);
	if (lv__driver_for_scheme(c, lname))
		return lv__ctx_error(c, LV_E_CONFIG,
		                     "%s:%d: location \"%s\" has the name of a URI scheme served by a driver; rename it", file,
		                     lv__config_section_line(c->config, e->section), lname);
	if (!strcmp(e->key, "uri")) {
		if (lv__uri_holds_password(e->value)) /* as a run refuses it; never quoted */
			return lv__ctx_error(c, LV_E_CONFIG, "%s:%d: location \"%s\": uri: %s", file, e->line, lname,
			                     lv__password_advice);
		char scheme[128];
		if (lv__uri_scheme(e->value, scheme, sizeof scheme))
			return lv__ctx_error(c, LV_E_CONFIG, "%s:%d: location \"%s\": uri '%s' is not a valid URI (RFC 3986: a "
			                     "space or another character that must be percent-encoded?)",
			                     file, e->line, lname, e->value);
		return 0;
	}
	for (const char *const *k = core_location_keys; *k; k++)
		if (!strcmp(*k, e->key))
			return check_value(c, e, find_key(core_keys_licvault, *k));
	const char *uri = lv__config_get(c->config, e->section, "uri", 0);
	lv_loaded *outer = NULL;
	for (const char *u = uri; u && *u;) {
		char scheme[128];
		lv_loaded *d = lv__driver_for_uri(c, u, scheme, sizeof scheme);
		if (!d)
			break;
		if (!outer)
			outer = d;
		const lv_driver_key *k = lv__driver_key(d->desc, e->key);
		if (k)
			return check_value(c, e, k);
		size_t pl = lv__uri_stack_prefix(u);
		u = pl ? u + pl : NULL;
	}
	return outer ? check_driver_key(c, e, outer) : 0;
}

int lv_context_check_config(lv_context *c)
{
	if (!c)
		return LV_E_INVALID_ARG;
	lv__ctx_clear();
	/* the drivers a section names or a location's URI stacks are loaded as they are looked up */
	lv_config *cfg = c->config;
	for (size_t i = 0; cfg && i < lv__config_count(cfg); i++) {
		const lv_conf_entry *e = lv__config_at(cfg, i);
		int rc = 0;
		if (!strcmp(e->section, "licvault"))
			rc = check_core(c, e, core_keys_licvault);
		else if (!strcmp(e->section, "service"))
			rc = check_core(c, e, core_keys_service);
		else if (!strncmp(e->section, "location ", 9))
			rc = check_location_key(c, e, e->section + 9);
		else if (!strncmp(e->section, "driver ", 7)) {
			lv_loaded *d = lv__driver_named(c, e->section + 7);
			if (d)
				rc = check_driver_key(c, e, d);
			else
				lv__log(c, LV_LOG_WARN, "%s:%d: [driver \"%s\"]: no such driver is loaded", lv__config_file(cfg),
				        lv__config_section_line(cfg, e->section), e->section + 7);
		}
		if (rc)
			return rc;
	}
	return 0;
}

/* ---- the core's own values -------------------------------------------------- */

int lv__core_value(lv_context *c, const char *location, const char *key, lv_config_value *out, lv_err *err)
{
	memset(out, 0, sizeof *out);
	const lv_driver_key *k = find_key(core_keys_licvault, key);
	if (!k)
		return lv__err_set(err, LV_E_INVALID_ARG, "no core key '%s'", key);
	const lv_conf_entry *e = NULL;
	char sec[160];
	if (location) {
		snprintf(sec, sizeof sec, "location %s", location);
		e = lv__config_entry(c->config, sec, key, 0);
	}
	if (!e)
		e = lv__config_entry(c->config, "licvault", key, 0);
	out->set = e != NULL;
	out->text = e ? e->value : k->def;
	out->where = e ? lv__config_file(c->config) : "default";
	size_t cl;
	const char *canon;
	char why[256];
	if (out->text && lv__config_parse(k, out->text, &out->number, &cl, &canon, why, sizeof why))
		return lv__err_set(err, LV_E_CONFIG, "%s:%d: %s = '%s': %s", lv__config_file(c->config), e ? e->line : 0,
		                   key, out->text, why);
	return 0;
}

/* ---- the effective configuration ------------------------------------------ */

/* The declaration of a key of section sec (core, driver, or a location's drivers), or NULL. */
static const lv_driver_key *declared(lv_context *c, const char *sec, const char *key)
{
	if (!strcmp(sec, "licvault"))
		return find_key(core_keys_licvault, key);
	if (!strcmp(sec, "service"))
		return find_key(core_keys_service, key);
	if (!strncmp(sec, "driver ", 7)) {
		lv_loaded *d = lv__driver_named(c, sec + 7);
		return d ? lv__driver_key(d->desc, key) : NULL;
	}
	if (strncmp(sec, "location ", 9) != 0)
		return NULL;
	const char *uri = lv__config_get(c->config, sec, "uri", 0);
	for (const char *u = uri; u && *u;) {
		char scheme[128];
		lv_loaded *d = lv__driver_for_uri(c, u, scheme, sizeof scheme);
		const lv_driver_key *k = d ? lv__driver_key(d->desc, key) : NULL;
		if (k || !d)
			return k;
		size_t pl = lv__uri_stack_prefix(u);
		u = pl ? u + pl : NULL;
	}
	return NULL;
}

static int emit_entry(lv_context *c, const lv_conf_entry *e, int (*cb)(const lv_config_item *, void *), void *ud)
{
	const lv_driver_key *k = declared(c, e->section, e->key);
	int secret = is_secret(k, e->key);
	char *masked = !strcmp(e->key, "uri") ? lv__uri_mask(e->value, "********") : NULL;
	lv_config_item it = {e->section, e->key, secret ? "********" : masked ? masked : e->value,
	                     lv__config_file(c->config), e->line, 0, secret, k ? k->help : NULL,
	                     k && k->type == LV_KEY_ENUM ? k->choices : NULL, k ? k->type : -1};
	int rc = cb(&it, ud);
	free(masked);
	return rc;
}

/* The declared keys of one section that the file does not set and that have a default. */
static int emit_defaults(lv_context *c, const char *sec, const lv_driver_key *keys,
                         int (*cb)(const lv_config_item *, void *), void *ud)
{
	for (const lv_driver_key *k = keys; k && k->name; k++) {
		if (!k->def || lv__config_get(c->config, sec, k->name, 0))
			continue;
		lv_config_item it = {sec, k->name, (k->flags & LV_KEY_SECRET) ? "********" : k->def, NULL, 0, 1,
		                     (k->flags & LV_KEY_SECRET) != 0, k->help, k->type == LV_KEY_ENUM ? k->choices : NULL,
		                     k->type};
		int rc = cb(&it, ud);
		if (rc)
			return rc;
	}
	return 0;
}

int lv_context_config_foreach(lv_context *c, int (*cb)(const lv_config_item *, void *), void *ud)
{
	if (!c || !cb)
		return LV_E_INVALID_ARG;
	lv__drivers_load(c);
	int rc = 0;
	for (size_t i = 0; !rc && i < lv__config_count(c->config); i++)
		rc = emit_entry(c, lv__config_at(c->config, i), cb, ud);
	if (!rc)
		rc = emit_defaults(c, "licvault", core_keys_licvault, cb, ud);
	if (!rc)
		rc = emit_defaults(c, "service", core_keys_service, cb, ud);
	for (size_t i = 0; !rc && i < lv__driver_count(c); i++) {
		const lv_driver *d = lv__driver_at(c, i)->desc;
		char sec[128];
		snprintf(sec, sizeof sec, "driver %s", d->name);
		rc = emit_defaults(c, sec, d->keys, cb, ud);
	}
	return rc;
}

typedef struct show_state {
	void (*emit)(const char *, void *);
	void *ud;
	char last[160];          /* the section of the last line ("" before the first) */
	int last_default;
} show_state;

static int show_item(const lv_config_item *it, void *p)
{
	show_state *st = p;
	char line[LV_ERRMSG_MAX];
	if (strcmp(st->last, it->section) || st->last_default != it->is_default) {
		const char *sp = strchr(it->section, ' ');
		if (it->is_default)
			snprintf(line, sizeof line, "# defaults of [%s]", it->section);
		else if (sp)
			snprintf(line, sizeof line, "[%.*s \"%s\"]", (int)(sp - it->section), it->section, sp + 1);
		else
			snprintf(line, sizeof line, "[%s]", it->section);
		st->emit(line, st->ud);
		snprintf(st->last, sizeof st->last, "%s", it->section);
		st->last_default = it->is_default;
	}
	char extra[600] = "";
	if (it->help || it->choices)
		snprintf(extra, sizeof extra, "    ; %s%s%s%s", it->help ? it->help : "", it->help && it->choices ? " " : "",
		         it->choices ? "(one of: " : "", it->choices ? it->choices : "");
	if (it->choices)
		strncat(extra, ")", sizeof extra - strlen(extra) - 1);
	snprintf(line, sizeof line, "%s%s = %s%s", it->is_default ? "# " : "", it->key, it->value, extra);
	st->emit(line, st->ud);
	return 0;
}

int lv_context_show_config(lv_context *c, void (*emit)(const char *, void *), void *ud)
{
	if (!c || !emit)
		return LV_E_INVALID_ARG;
	char line[LV_ERRMSG_MAX];
	snprintf(line, sizeof line, "# config file: %s", c->config ? lv__config_file(c->config) : "(none)");
	emit(line, ud);
	show_state st = {emit, ud, "", 0};
	return lv_context_config_foreach(c, show_item, &st);
}
