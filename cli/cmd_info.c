/* identity, drivers, locations, config check|show, version: commands that only print. */
#include <stdlib.h>
#include <string.h>

#include "cli.h"

int cmd_identity(cli *c)
{
	lv_store *s = NULL;
	int rc = store_open(c, &s, LV_STORE_READONLY);
	if (rc)
		return out_error(rc, lv_context_last_error(c->ctx));
	lv_identity id;
	rc = lv_store_identity(s, &id);
	int ex = rc ? out_error(rc, lv_store_last_error(s)) : 0;
	if (!rc && c->json) {
		jw j;
		jw_begin(&j, "type", "identity");
		jw_str(&j, "machine_id", id.machine_id[0] ? id.machine_id : NULL);
		jw_bool(&j, "individualized", id.individualized);
		jw_bool(&j, "other_host", id.other_host);
		if (id.machine_id[0])
			jw_i64(&j, "since", id.since);
		else
			jw_null(&j, "since");
		jw_end(&j);
	} else if (!rc && !id.machine_id[0])
		out_human("machine: none (not individualized; a restore needs --individualize)\n");
	else if (!rc)
		out_human("machine: %s\nstate: %s\n", safe(id.machine_id),
		          id.individualized ? "individualized on this host"
		                            : "individualized on another host (copied store); a restore needs --individualize");
	lv_store_free(s);
	return ex;
}

/* "file sftp" -> ["file","sftp"] */
static void json_schemes(jw *j, const char *schemes)
{
	if (!schemes) {
		jw_null(j, "schemes");
		return;
	}
	jw_array_begin(j, "schemes");
	char *copy = strdup(schemes), *save = NULL;
	for (char *t = copy ? strtok_r(copy, " ", &save) : NULL; t; t = strtok_r(NULL, " ", &save))
		jw_array_str(j, t);
	free(copy);
	jw_close(j);
}

static void json_driver(jw *j, const lv_driver_info *i)
{
	jw_str(j, "path", i->path);
	jw_str(j, "name", i->name);
	jw_str(j, "version", i->version);
	if (i->refused)
		jw_null(j, "abi");
	else {
		char abi[32];
		snprintf(abi, sizeof abi, "%u.%u", i->abi_major, i->abi_minor);
		jw_str(j, "abi", abi);
	}
	json_schemes(j, i->refused ? NULL : i->schemes);
	jw_bool(j, "refused", i->refused);
	jw_str(j, "reason", i->reason);
}

static int drivers_cb(const lv_driver_info *i, void *ud)
{
	cli *c = ud;
	if (c->json) {
		jw j;
		jw_begin(&j, "type", "driver");
		json_driver(&j, i);
		jw_end(&j);
	} else if (i->refused)
		out_human("refused  %s: %s\n", safe(i->path), safe_or(i->reason, "?"));
	else {
		out_human("%-10s %-8s ABI %u.%u  schemes: %-18s %s\n", safe(i->name), safe(i->version), i->abi_major,
		          i->abi_minor, safe(i->schemes), safe(i->path));
		if (i->reason)
			out_human("  warning: %s\n", safe(i->reason));
	}
	return out_stdout_closed();
}

static int path_cb(const char *dir, const char *origin, void *ud)
{
	cli *c = ud;
	static int n;
	if (c->json) {
		jw j;
		jw_begin(&j, "type", "driver_dir");
		jw_str(&j, "dir", dir);
		jw_str(&j, "origin", origin);
		jw_end(&j);
	} else
		out_human("  %d. %s (%s)\n", ++n, safe(dir), safe(origin));
	return out_stdout_closed();
}

int cmd_drivers(cli *c)
{
	if (c->verbose) {
		if (!c->json)
			out_human("driver search path, in order:\n");
		lv_context_driver_path(c->ctx, path_cb, c);
	}
	int rc = lv_context_drivers(c->ctx, drivers_cb, c);
	if (out_stdout_closed())
		return CLI_EXIT_SIGPIPE;
	return rc ? out_error(rc, lv_context_last_error(c->ctx)) : 0;
}

static void json_bytes(jw *j, const char *key, uint64_t v)
{
	if (v == UINT64_MAX)
		jw_null(j, key);
	else
		jw_u64(j, key, v);
}

static int loc_cb(const lv_location_info *l, void *ud)
{
	cli *c = ud;
	if (c->json) {
		jw j;
		jw_begin(&j, "type", "location");
		jw_str(&j, "driver", l->driver);
		jw_str(&j, "uri", l->uri);
		jw_str(&j, "label", l->label);
		jw_str(&j, "id", l->id);
		jw_str(&j, "fstype", l->fstype);
		jw_str(&j, "where", l->where);
		json_bytes(&j, "free_bytes", l->free_bytes);
		json_bytes(&j, "total_bytes", l->total_bytes);
		jw_end(&j);
	} else {
		char fr[32] = "?";
		if (l->free_bytes != UINT64_MAX)
			format_bytes(fr, sizeof fr, l->free_bytes);
		out_human("%-30s %-10s %-36s %-8s %10s free  %s\n", safe(l->uri), safe_or(l->label, "-"), safe_or(l->id, "-"),
		          safe_or(l->fstype, "-"), fr, safe_or(l->where, "-"));
	}
	return out_stdout_closed();
}

int cmd_locations(cli *c)
{
	int rc = lv_context_locations(c->ctx, loc_cb, c);
	if (out_stdout_closed())
		return CLI_EXIT_SIGPIPE;
	return rc ? out_error(rc, lv_context_last_error(c->ctx)) : 0;
}

int cmd_config_check(cli *c)
{
	const char *f = lv_context_config_path(c->ctx);
	if (c->json) {
		jw j;
		jw_begin(&j, "type", "config_check");
		jw_str(&j, "file", f);
		jw_str(&j, "result", "ok");
		jw_end(&j);
	} else if (!c->quiet)
		out_human("config %s: ok\n", f ? safe(f) : "(none)");
	return 0;
}

/* lv_context_config_foreach's items, with a file line first and a header at each new section */
typedef struct cfg_walk {
	int (*cb)(const cfg_item *, void *);
	void *ud;
	char section[256];
	int section_default;
} cfg_walk;

static int cfg_one(const lv_config_item *li, void *ud)
{
	cfg_walk *w = ud;
	int rc = 0;
	if (strcmp(w->section, li->section) || w->section_default != li->is_default) {
		snprintf(w->section, sizeof w->section, "%s", li->section);
		w->section_default = li->is_default;
		cfg_item h = {.section = w->section, .is_default = li->is_default};
		rc = w->cb(&h, w->ud);
	}
	cfg_item it = {.section = li->section, .key = li->key, .value = li->value, .is_default = li->is_default,
	               .help = li->help, .choices = li->choices};
	return rc ? rc : w->cb(&it, w->ud);
}

int config_walk(cli *c, int (*cb)(const cfg_item *it, void *ud), void *ud)
{
	cfg_item file = {.file = lv_context_config_path(c->ctx)};
	int rc = cb(&file, ud);
	cfg_walk w = {cb, ud, "", 0};
	return rc ? rc : lv_context_config_foreach(c->ctx, cfg_one, &w);
}

static int config_item(const cfg_item *it, void *ud)
{
	cli *c = ud;
	if (c->json) {
		jw j;
		if (!it->section) {
			jw_begin(&j, "type", "config_file");
			jw_str(&j, "file", it->file);
		} else if (!it->key) {
			return 0;
		} else {
			jw_begin(&j, "type", "config");
			jw_str(&j, "section", it->section);
			jw_str(&j, "key", it->key);
			jw_str(&j, "value", it->value);
			jw_bool(&j, "default", it->is_default);
			jw_str(&j, "help", it->help);
			jw_str(&j, "choices", it->choices);
		}
		jw_end(&j);
	} else if (!it->section)
		out_human("# config file: %s\n", safe_or(it->file, "(none)"));
	else if (!it->key && it->is_default)
		out_human("# defaults of [%s]\n", safe(it->section));
	else if (!it->key) {
		const char *sp = strchr(it->section, ' ');
		if (sp)
			out_human("[%.*s \"%s\"]\n", (int)(sp - it->section), it->section, safe(sp + 1));
		else
			out_human("[%s]\n", safe(it->section));
	} else if (it->help || it->choices)
		out_human("%s%s = %s    ; %s%s%s%s%s\n", it->is_default ? "# " : "", safe(it->key), safe(it->value),
		          safe_or(it->help, ""), it->help && it->choices ? " " : "", it->choices ? "(one of: " : "",
		          it->choices ? safe(it->choices) : "", it->choices ? ")" : "");
	else
		out_human("%s%s = %s\n", it->is_default ? "# " : "", safe(it->key), safe(it->value));
	return out_stdout_closed();
}

int cmd_config_show(cli *c)
{
	int rc = config_walk(c, config_item, c);
	if (out_stdout_closed())
		return CLI_EXIT_SIGPIPE;
	return rc ? out_error(rc, lv_context_last_error(c->ctx)) : 0;
}
