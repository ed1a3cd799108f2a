/*
 * What the CLI needs and the library does not offer yet, one small function
 * each, so that switching to the API is a few lines here:
 *
 *  - verify without a store          -> interim_verify_store
 *  - --dry-run flags                 -> interim_dry_run_flag
 *  - SQLite/zlib/libssh2 versions    -> interim_component_version
 *  - the library's driver ABI        -> interim_driver_abi
 *  - the effective config as items   -> interim_config_foreach
 *  (the structured run result is counted from the events: cmd_run.c, summary_of)
 */
#include <dlfcn.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "licvault/driver.h"

/*
 * The restorer wants a store even for verify: the default store read-only
 * when it opens, else a throwaway store in a private temporary directory
 * (removed at once: SQLite keeps the open file).  Returns an lv_error;
 * lv_context_last_error says why.
 */
int interim_verify_store(cli *c, lv_store **out)
{
	char *p = store_path(c);
	int rc = lv_store_open(out, c->ctx, p, LV_STORE_READONLY);
	free(p);
	if (rc == 0)
		return 0;
	const char *tmp = secure_getenv("TMPDIR");
	char dir[4096];
	snprintf(dir, sizeof dir, "%s/licvault-verify-XXXXXX", tmp && *tmp ? tmp : "/tmp");
	if (!mkdtemp(dir))
		snprintf(dir, sizeof dir, "/tmp");
	char sp[4200], side[4300];
	snprintf(sp, sizeof sp, "%s/s.db", dir);
	rc = lv_store_open(out, c->ctx, sp, LV_STORE_CREATE);
	static const char *const sides[] = {"", "-wal", "-shm", "-journal"};
	for (int i = 0; i < 4; i++) {
		snprintf(side, sizeof side, "%s%s", sp, sides[i]);
		unlink(side);
	}
	if (strcmp(dir, "/tmp"))
		rmdir(dir);
	return rc;
}

unsigned interim_dry_run_flag(int kind)
{
#if defined(LV_BACKUP_DRY_RUN) && defined(LV_RESTORE_DRY_RUN)
	return kind == 'b' ? LV_BACKUP_DRY_RUN : LV_RESTORE_DRY_RUN;
#else
	(void)kind;
	return 0;
#endif
}

/*
 * The library and the drivers load these; ask the copy this process runs
 * with (RTLD_NOLOAD: never load one just to ask).  libssh2 is there once the
 * sftp driver is loaded.
 */
const char *interim_component_version(const char *name)
{
	static const struct {
		const char *name, *soname, *symbol;
		int takes_int;
	} libs[] = {
		{"sqlite", "libsqlite3.so.0", "sqlite3_libversion", 0},
		{"zlib", "libz.so.1", "zlibVersion", 0},
		{"libssh2", "libssh2.so.1", "libssh2_version", 1},
	};
	for (size_t i = 0; i < sizeof libs / sizeof libs[0]; i++) {
		if (strcmp(libs[i].name, name))
			continue;
		void *h = dlopen(libs[i].soname, RTLD_LAZY | RTLD_NOLOAD);
		if (!h)
			return NULL;
		void *sym = dlsym(h, libs[i].symbol);
		const char *v = NULL;
		if (sym && libs[i].takes_int)
			v = ((const char *(*)(int))sym)(0);
		else if (sym)
			v = ((const char *(*)(void))sym)();
		dlclose(h);
		return v;
	}
	return NULL;
}

void interim_driver_abi(unsigned *major, unsigned *minor)
{
	*major = LV_DRIVER_ABI_MAJOR;
	*minor = LV_DRIVER_ABI_MINOR;
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

int interim_config_foreach(cli *c, int (*cb)(const cfg_item *it, void *ud), void *ud)
{
	cfg_item file = {.file = lv_context_config_path(c->ctx)};
	int rc = cb(&file, ud);
	cfg_walk w = {cb, ud, "", 0};
	return rc ? rc : lv_context_config_foreach(c->ctx, cfg_one, &w);
}
