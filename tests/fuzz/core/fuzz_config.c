/*
 * libFuzzer target: the config file parser (lv__config_load, inih), through a
 * file in /dev/shm; every entry read back, and the public lookups on a
 * context that loaded it.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "context.h"

static char path[64];

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (!path[0]) {
		const char *d = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp";
		snprintf(path, sizeof path, "%s/lvfuzz-conf-%ld", d, (long)getpid());
		setenv("LVFUZZ_VAR", "value", 1);
	}
	FILE *f = fopen(path, "wb");
	if (!f)
		return 0;
	fwrite(data, 1, size, f);
	fclose(f);
	lv_config *c = NULL;
	char err[LV_ERRMSG_MAX] = "";
	int rc = lv__config_load(&c, path, err);
	if (rc == 0 && c) {
		size_t n = lv__config_count(c);
		for (size_t i = 0; i < n; i++) {
			const lv_conf_entry *e = lv__config_at(c, i);
			if (!e || !e->section || !e->key || !e->value)
				abort();
			if (!lv__config_get(c, e->section, e->key, 0))
				abort();
			lv__config_has_section(c, e->section);
			lv__parse_bool(e->value);
		}
		lv__config_free(c);
	} else if (rc && !err[0])
		abort();
	/* the same file through a context: lookups, check and show */
	lv_context *ctx = NULL;
	if (lv_context_new(&ctx) == 0) {
		if (lv_context_load_config(ctx, path) == 0) {
			lv_context_config_get(ctx, "licvault", "store");
			lv_context_config_get(ctx, "location nas", "uri");
		}
		lv_context_free(ctx);
	}
	unlink(path); /* nothing left in /dev/shm when the run ends */
	return 0;
}
