/*
 * Checking and showing the config file against the core's keys and the
 * loaded drivers' declared keys.
 */
#include "location.h"
#include "uri.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The core's own keys, declared as drivers declare theirs. */
static const lv_driver_key core_keys_licvault[] = {
	{"store", LV_KEY_PATH, NULL, "the license store file", 0, 0, NULL, 0},
	{"driver_path", LV_KEY_LIST, NULL, "directories searched for drivers first (':'-separated)", 0, 0, NULL, 0},
	{NULL, 0, NULL, NULL, 0, 0, NULL, 0}};
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

/* One value against its declaration; a repeated key only when it is a list. */
static int check_value(lv_context *c, const lv_conf_entry *e, const lv_driver_key *k)
{
	const char *file = lv__config_file(c->config);
	if (k->type != LV_KEY_LIST) {
		const lv_conf_entry *first = lv__config_entry(c->config, e->section, e->key, 0);
		if (first && first != e)
			return lv__ctx_error(c, LV_E_CONFIG, "%s:%d: '%s' given twice (first at line %d); only '%s' keys of type list may repeat",
			                     file, e->line, e->key, first->line, e->key);
	}
	int64_t n;
	size_t cl;
	const char *canon;
	char why[256];
	if (lv__config_parse(k, e->value, &n, &cl, &canon, why, sizeof why))
		return lv__ctx_error(c, LV_E_CONFIG, "%s:%d: %s = '%s': %s", file, e->line, e->key, e->value, why);
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
	if (!strcmp(e->key, "uri"))
		return 0;
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
	lv__drivers_load(c);
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

int lv_context_show_config(lv_context *c, void (*emit)(const char *, void *), void *ud)
{
	if (!c || !emit)
		return LV_E_INVALID_ARG;
	lv__drivers_load(c);
	lv_config *cfg = c->config;
	char line[LV_ERRMSG_MAX];
	snprintf(line, sizeof line, "# config file: %s", cfg ? lv__config_file(cfg) : "(none)");
	emit(line, ud);
	const char *last = "";
	for (size_t i = 0; i < lv__config_count(cfg); i++) {
		const lv_conf_entry *e = lv__config_at(cfg, i);
		if (strcmp(last, e->section)) {
			const char *sp = strchr(e->section, ' ');
			if (sp)
				snprintf(line, sizeof line, "[%.*s \"%s\"]", (int)(sp - e->section), e->section, sp + 1);
			else
				snprintf(line, sizeof line, "[%s]", e->section);
			emit(line, ud);
			last = e->section;
		}
		int secret = 0;
		if (!strncmp(e->section, "driver ", 7)) {
			lv_loaded *d = lv__driver_named(c, e->section + 7);
			const lv_driver_key *k = d ? lv__driver_key(d->desc, e->key) : NULL;
			secret = k && (k->flags & LV_KEY_SECRET);
		} else if (!strncmp(e->section, "location ", 9)) {
			/* an override: secret when any driver declares the key secret */
			for (size_t k = 0; k < lv__driver_count(c); k++) {
				const lv_driver_key *dk = lv__driver_key(lv__driver_at(c, k)->desc, e->key);
				if (dk && (dk->flags & LV_KEY_SECRET))
					secret = 1;
			}
		}
		if (strstr(e->key, "password") && !strstr(e->key, "_file"))
			secret = 1;
		snprintf(line, sizeof line, "%s = %s", e->key, secret ? "********" : e->value);
		emit(line, ud);
	}
	/* defaults of each loaded driver's declared keys not set in the file */
	for (size_t i = 0; i < lv__driver_count(c); i++) {
		const lv_driver *d = lv__driver_at(c, i)->desc;
		if (!d->keys)
			continue;
		char sec[128];
		snprintf(sec, sizeof sec, "driver %s", d->name);
		int header = 0;
		for (const lv_driver_key *k = d->keys; k->name; k++) {
			if (!k->def || lv__config_get(cfg, sec, k->name, 0))
				continue;
			if (!header) {
				snprintf(line, sizeof line, "# defaults of driver \"%s\"", d->name);
				emit(line, ud);
				header = 1;
			}
			snprintf(line, sizeof line, "# %s = %s", k->name, (k->flags & LV_KEY_SECRET) ? "********" : k->def);
			emit(line, ud);
		}
	}
	return 0;
}

