/* version (and --version): licvault, its library, the driver ABI, the libraries it runs with, the drivers. */
#include <dlfcn.h>
#include <string.h>

#include "cli.h"

static const char *const components[][2] = {
	{"sqlite", "SQLite"},
	{"zlib", "zlib"},
	{"libssh2", "libssh2"},
};
#define N_COMPONENTS (sizeof components / sizeof components[0])

/*
 * The library reports the libraries it links (lv_component_version); a
 * driver's own, such as the sftp driver's libssh2, are asked of the copy this
 * process has loaded (RTLD_NOLOAD: never load one just to ask), once the
 * drivers are.
 */
static const char *component_version(const char *name)
{
	const char *v = lv_component_version(name);
	if (v || strcmp(name, "libssh2"))
		return v;
	void *h = dlopen("libssh2.so.1", RTLD_LAZY | RTLD_NOLOAD);
	if (!h)
		return NULL;
	const char *(*fn)(int) = (const char *(*)(int))dlsym(h, "libssh2_version");
	v = fn ? fn(0) : NULL;
	dlclose(h);   /* the driver still holds it: v stays valid */
	return v;
}

static int driver_line(const lv_driver_info *i, void *ud)
{
	(void)ud;
	if (i->refused)
		out_human("  refused  %s: %s\n", safe(i->path), safe_or(i->reason, "?"));
	else
		out_human("  %-10s %-8s ABI %u.%u  %s\n", safe(i->name), safe(i->version), i->abi_major, i->abi_minor,
		          safe(i->path));
	return out_stdout_closed();
}

static int driver_nop(const lv_driver_info *i, void *ud)
{
	(void)i;
	(void)ud;
	return 0;
}

static int driver_json(const lv_driver_info *i, void *ud)
{
	jw *j = ud;
	jw_object_begin(j, NULL);
	jw_str(j, "name", i->name);
	jw_str(j, "version", i->version);
	jw_str(j, "path", i->path);
	jw_bool(j, "refused", i->refused);
	jw_close(j);
	return 0;
}

int cmd_version(cli *c)
{
	unsigned maj, min;
	lv_driver_abi(&maj, &min);
	char abi[32];
	snprintf(abi, sizeof abi, "%u.%u", maj, min);
	/* load the drivers first: the sftp driver brings libssh2 in */
	int have_ctx = c->ctx && lv_context_drivers(c->ctx, driver_nop, NULL) == 0;
	if (c->json) {
		jw j;
		jw_begin(&j, "type", "version");
		jw_str(&j, "licvault", LV_VERSION_STRING);
		jw_str(&j, "library", lv_version());
		jw_str(&j, "driver_abi", abi);
		jw_u64(&j, "json_schema", CLI_JSON_SCHEMA);
		for (size_t i = 0; i < N_COMPONENTS; i++)
			jw_str(&j, components[i][0], component_version(components[i][0]));
		jw_array_begin(&j, "drivers");
		if (have_ctx)
			lv_context_drivers(c->ctx, driver_json, &j);
		jw_close(&j);
		jw_end(&j);
		return out_stdout_closed() ? CLI_EXIT_SIGPIPE : 0;
	}
	out_human("licvault %s\nliblicvault %s (driver ABI %s)\n", LV_VERSION_STRING, safe(lv_version()), abi);
	for (size_t i = 0; i < N_COMPONENTS; i++) {
		const char *v = component_version(components[i][0]);
		out_human("%s %s\n", components[i][1], v ? safe(v) : "(not loaded: no driver uses it)");
	}
	if (have_ctx) {
		out_human("drivers:\n");
		lv_context_drivers(c->ctx, driver_line, c);
	}
	return out_stdout_closed() ? CLI_EXIT_SIGPIPE : 0;
}
