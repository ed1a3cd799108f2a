/*
 * Checking and showing the config file against the core's keys and the
 * loaded drivers' declared keys.
 */
#include "location.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *core_keys_licvault[] = {"store", "driver_path", NULL};
static const char *core_keys_service[] = {"restores_per_day", "max_machines", "location", NULL};

static int check_value(lv_context *c, const lv_conf_entry *e, const lv_driver_key *k)
{
	const char *file = lv__config_file(c->config);
	switch (k->type) {
	case LV_KEY_BOOL:
		if (lv__parse_bool(e->value) < 0)
			return lv__ctx_error(c, LV_E_CONFIG, "%s:%d: %s = '%s': expected yes/no/true/false/1/0",
			                     file, e->line, e->key, e->value);
		break;
	case LV_KEY_INT: {
		char *end;
		errno = 0;
		long long v = strtoll(e->value, &end, 10);
		if (!*e->value || *end || errno)
			return lv__ctx_error(c, LV_E_CONFIG, "%s:%d: %s = '%s': expected a whole number",
			                     file, e->line, e->key, e->value);
		if ((k->min || k->max) && (v < k->min || v > k->max))
			return lv__ctx_error(c, LV_E_CONFIG, "%s:%d: %s = %lld: out of range %lld to %lld",
			                     file, e->line, e->key, v, (long long)k->min, (long long)k->max);
		break;
	}
	case LV_KEY_ENUM: {
		int ok = 0;
		if (k->choices) {
			char *copy = strdup(k->choices), *save = NULL;
			for (char *w = copy ? strtok_r(copy, "|", &save) : NULL; w; w = strtok_r(NULL, "|", &save))
				if (!strcmp(w, e->value))
					ok = 1;
			free(copy);
		}
		if (!ok)
			return lv__ctx_error(c, LV_E_CONFIG, "%s:%d: %s = '%s': expected one of %s",
			                     file, e->line, e->key, e->value, k->choices ? k->choices : "?");
		break;
	}
	default:
		break;
	}
	return 0;
}

int lv_context_check_config(lv_context *c)
{
	if (!c)
		return LV_E_INVALID_ARG;
	lv__drivers_load(c);
	lv_config *cfg = c->config;
	if (!cfg)
		return 0;
	const char *file = lv__config_file(cfg);
	for (size_t i = 0; i < lv__config_count(cfg); i++) {
		const lv_conf_entry *e = lv__config_at(cfg, i);
		const char **core = !strcmp(e->section, "licvault") ? core_keys_licvault
		                  : !strcmp(e->section, "service") ? core_keys_service : NULL;
		if (core) {
			int ok = 0;
			for (const char **k = core; *k; k++)
				if (!strcmp(*k, e->key))
					ok = 1;
			if (!ok)
				return lv__ctx_error(c, LV_E_CONFIG, "%s:%d: unknown key '%s' in [%s]", file, e->line,
				                     e->key, e->section);
			if (!strcmp(e->section, "service") &&
			    (!strcmp(e->key, "restores_per_day") || !strcmp(e->key, "max_machines"))) {
				lv_driver_key k = {e->key, LV_KEY_INT, NULL, NULL, 1,
				                   !strcmp(e->key, "max_machines") ? 64 : 1000000, NULL, 0};
				int rc = check_value(c, e, &k);
				if (rc)
					return rc;
			}
			continue;
		}
		const char *dname = NULL;
		if (!strncmp(e->section, "driver ", 7)) {
			dname = e->section + 7;
			if (!lv__driver_named(c, dname)) {
				lv__log(c, LV_LOG_WARN, "%s:%d: [driver \"%s\"]: no such driver is loaded", file,
				        lv__config_section_line(cfg, e->section), dname);
				continue;
			}
		} else if (!strncmp(e->section, "location ", 9)) {
			const char *lname = e->section + 9;
			if (lv__driver_for_scheme(c, lname))
				return lv__ctx_error(c, LV_E_CONFIG,
				                     "%s:%d: location \"%s\" has the name of a URI scheme served by a driver; rename it",
				                     file, lv__config_section_line(cfg, e->section), lname);
			if (!strcmp(e->key, "uri"))
				continue;
			char sec[128];
			snprintf(sec, sizeof sec, "location %s", lname);
			const char *uri = lv__config_get(cfg, sec, "uri", 0);
			char scheme[128];
			lv_loaded *d = uri ? lv__driver_for_uri(c, uri, scheme, sizeof scheme) : NULL;
			if (!d)
				continue;
			/* a key of a stacked location may belong to the outer or the inner driver */
			if (lv__driver_key(d->desc, e->key)) {
				int rc = check_value(c, e, lv__driver_key(d->desc, e->key));
				if (rc)
					return rc;
				continue;
			}
			dname = d->desc->name;
			char *plus = strchr(scheme, '+');
			if (plus) {
				lv_loaded *inner = lv__driver_for_uri(c, uri + (plus - scheme) + 1, scheme, sizeof scheme);
				if (inner && lv__driver_key(inner->desc, e->key)) {
					int rc = check_value(c, e, lv__driver_key(inner->desc, e->key));
					if (rc)
						return rc;
					continue;
				}
			}
		} else
			continue;
		lv_loaded *d = lv__driver_named(c, dname);
		if (!d)
			continue;
		const lv_driver_key *k = lv__driver_key(d->desc, e->key);
		if (!k) {
			if (d->desc->keys)
				return lv__ctx_error(c, LV_E_CONFIG, "%s:%d: unknown key '%s' for driver '%s'", file,
				                     e->line, e->key, dname);
			lv__log(c, LV_LOG_WARN, "%s:%d: key '%s': driver '%s' declares no keys", file, e->line,
			        e->key, dname);
			continue;
		}
		if (k->type != LV_KEY_LIST) {
			const lv_conf_entry *first = lv__config_entry(cfg, e->section, e->key, 0);
			if (first && first != e)
				return lv__ctx_error(c, LV_E_CONFIG, "%s:%d: '%s' given twice (first at line %d); only '%s' keys of type list may repeat",
				                     file, e->line, e->key, first->line, e->key);
		}
		int rc = check_value(c, e, k);
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

