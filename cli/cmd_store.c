/* store list | import | export | remove, and finding the store. */
#include <pwd.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"

/* The effective user's home: $HOME (ignored by a set-user-ID program), else the password database's. */
static const char *home_dir(void)
{
	const char *home = secure_getenv("HOME");
	if (home && *home)
		return home;
	struct passwd *pw = getpwuid(geteuid());
	return pw && pw->pw_dir && *pw->pw_dir ? pw->pw_dir : NULL;
}

/*
 * The environment is read with secure_getenv: a set-user-ID licvault never
 * opens a store the user who started it names (only --store, which that
 * program's own caller decides).
 */
char *store_path(cli *c)
{
	if (c->val[OPT_STORE])
		return strdup(c->val[OPT_STORE]);
	const char *e = secure_getenv("LICVAULT_STORE");
	if (e && *e)
		return strdup(e);
	const char *conf = lv_context_config_get(c->ctx, "licvault", "store");
	if (conf)
		return strdup(conf);
	const char *xdg = secure_getenv("XDG_DATA_HOME");
	const char *home = home_dir();
	char *p = NULL;
	int n = xdg && *xdg ? asprintf(&p, "%s/licvault/store.db", xdg)
	      : home        ? asprintf(&p, "%s/.local/share/licvault/store.db", home)
	                    : -1;
	return n < 0 ? NULL : p;
}

int store_open(cli *c, lv_store **out, unsigned flags)
{
	char *p = store_path(c);
	if (!p) {
		cli_log(LV_LOG_ERROR, "no store: no home directory to find the default store in (give --store FILE)");
		return LV_E_CONFIG;
	}
	cli_log(LV_LOG_INFO, "store: %s", p);
	int rc = lv_store_open(out, c->ctx, p, flags);
	free(p);
	return rc;
}

void json_license(const lv_license *l)
{
	jw j;
	jw_begin(&j, "type", "license");
	jw_str(&j, "kid", l->kid);
	jw_str(&j, "title", l->title);
	jw_str(&j, "content_id", l->content_id);
	jw_str(&j, "issuer", l->issuer);
	jw_bool(&j, "backup_allowed", (l->rights & LV_RIGHT_BACKUP) != 0);
	jw_u64(&j, "rights", l->rights);
	jw_array_begin(&j, "rights_names");
	static const struct { unsigned bit; const char *name; } rights[] = {
		{LV_RIGHT_PLAY, "play"}, {LV_RIGHT_COPY, "copy"}, {LV_RIGHT_BURN, "burn"}, {LV_RIGHT_BACKUP, "backup"}};
	for (size_t i = 0; i < 4; i++)
		if (l->rights & rights[i].bit)
			jw_array_str(&j, rights[i].name);
	jw_close(&j);
	jw_u64(&j, "play_count", l->play_count);
	jw_u64(&j, "plays_left", l->plays_left);
	jw_i64(&j, "issued", l->issued);
	if (l->expires)
		jw_i64(&j, "expires", l->expires);
	else
		jw_null(&j, "expires");
	jw_str(&j, "machine", l->machine);
	jw_u64(&j, "payload_bytes", l->payload_len);
	jw_end(&j);
}

static int list_cb(const lv_license *l, void *ud)
{
	cli *c = ud;
	if (c->json)
		json_license(l);
	else
		out_human("%-40s %-7s %s\n", safe(l->kid), (l->rights & LV_RIGHT_BACKUP) ? "backup" : "-", quoted(l->title));
	return out_stdout_closed() ? LV_E_CANCELED : 0;
}

static int stdout_gone(void)
{
	return out_stdout_closed() ? CLI_EXIT_SIGPIPE : -1;
}

int cmd_store_list(cli *c)
{
	lv_store *s = NULL;
	/* read-only: licenses can be listed from a read-only or full filesystem */
	int rc = store_open(c, &s, LV_STORE_READONLY);
	if (rc)
		return out_error(rc, lv_context_last_error(c->ctx));
	out_flush_each_line(0);   /* one write per buffer, not per license */
	rc = lv_store_foreach(s, list_cb, c);
	int ex = stdout_gone();
	if (ex < 0)
		ex = rc ? out_error(rc, lv_store_last_error(s)) : 0;
	lv_store_free(s);
	return ex;
}

int cmd_store_import(cli *c)
{
	lv_store *s = NULL;
	int rc = store_open(c, &s, LV_STORE_CREATE);
	if (rc)
		return out_error(rc, lv_context_last_error(c->ctx));
	rc = lv_store_import_files(s, (const char *const *)c->args, (size_t)c->nargs, LV_PUT_REPLACE);
	int ex = rc ? out_error(rc, lv_store_last_error(s)) : 0;
	if (!rc && c->json) {
		jw j;
		jw_begin(&j, "type", "imported");
		jw_u64(&j, "count", (uint64_t)c->nargs);
		jw_array_begin(&j, "files");
		for (int i = 0; i < c->nargs; i++)
			jw_array_str(&j, c->args[i]);
		jw_close(&j);
		jw_end(&j);
	} else if (!rc && !c->quiet)
		out_human("imported %d license%s\n", c->nargs, c->nargs == 1 ? "" : "s");
	lv_store_free(s);
	return ex;
}

int cmd_store_export(cli *c)
{
	lv_store *s = NULL;
	int rc = store_open(c, &s, LV_STORE_READONLY);
	if (rc)
		return out_error(rc, lv_context_last_error(c->ctx));
	lv_license *l = NULL;
	int ex = 0;
	rc = lv_store_get(s, c->args[0], &l);
	if (rc)
		ex = out_error(rc, lv_store_last_error(s));
	else {
		char *path = NULL, err[1024] = "";
		if (asprintf(&path, "%s/%s.lic", c->args[1], c->args[0]) < 0)
			path = NULL;
		rc = path ? lv_license_write_file(l, path, err, sizeof err) : LV_E_NOMEM;
		if (rc)
			ex = out_error(rc, err);
		else if (c->json) {
			jw j;
			jw_begin(&j, "type", "exported");
			jw_str(&j, "kid", c->args[0]);
			jw_str(&j, "path", path);
			jw_end(&j);
		} else if (!c->quiet)
			out_human("%s\n", safe(path));
		free(path);
	}
	lv_license_free(l);
	lv_store_free(s);
	return ex;
}

int cmd_store_remove(cli *c)
{
	lv_store *s = NULL;
	int rc = store_open(c, &s, 0);
	if (rc)
		return out_error(rc, lv_context_last_error(c->ctx));
	rc = lv_store_remove(s, c->args[0]);
	int ex = rc ? out_error(rc, lv_store_last_error(s)) : 0;
	if (!rc && c->json) {
		jw j;
		jw_begin(&j, "type", "removed");
		jw_str(&j, "kid", c->args[0]);
		jw_end(&j);
	} else if (!rc && !c->quiet)
		out_human("removed %s\n", safe(c->args[0]));
	lv_store_free(s);
	return ex;
}
