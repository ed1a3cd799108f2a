/*
 * libFuzzer target: URI handling: the core's scheme and validity checks and
 * file-path mapping (core/uri.c), named-location resolution through a
 * context (lv_context_resolve), and the file driver's own URI parsing
 * (uri_to_dir in drivers/file/file.c, compiled in).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "uri.h"
#include "context.h"
#include "../../../drivers/file/file.c"

static lv_context *ctx;

static int fz_set_error(lv_host_ctx *h, int code, const char *fmt, ...)
{
	(void)h;
	(void)fmt;
	return code;
}

static const lv_host fz_host = {.size = sizeof(lv_host), .set_error = fz_set_error};

static void setup(void)
{
	if (ctx)
		return;
	char path[64];
	snprintf(path, sizeof path, "/tmp/lvfuzz-uri-%ld.conf", (long)getpid());
	FILE *f = fopen(path, "w");
	if (f) {
		fputs("[location \"nas\"]\nuri = file:///srv/licenses\n[location \"deep\"]\nuri = bundle+file:///x/y.lvb\n", f);
		fclose(f);
	}
	setenv("LICVAULT_DRIVER_PATH", "/nonexistent", 1);
	lv_context_new(&ctx);
	lv_context_load_config(ctx, path);
	unlink(path);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	setup();
	char *uri = malloc(size + 1);
	if (!uri)
		return 0;
	memcpy(uri, data, size);
	uri[size] = '\0';
	char scheme[128], why[512];
	if (lv__uri_scheme(uri, scheme, sizeof scheme) == 0 && strlen(scheme) >= sizeof scheme)
		abort();
	lv__uri_valid(uri, why, sizeof why);
	int rc = 0;
	char *d = uri_to_dir(&fz_host, NULL, uri, &rc);
	if (d && !strncmp(uri, "file:", 5) && d[0] != '/')
		abort();
	free(d);
	char *out = NULL;
	const char *drv = NULL;
	if (lv_context_resolve(ctx, uri, &out, &drv) == 0)
		free(out);
	free(uri);
	return 0;
}
