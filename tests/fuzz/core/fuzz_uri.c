/*
 * libFuzzer target: URI handling: the core's scheme and validity checks,
 * the split and percent-decoding every driver gets (lv__uri_parse, the host's
 * uri_parse), and named-location resolution through a context
 * (lv_context_resolve).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "uri.h"
#include "context.h"

static lv_context *ctx;

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
	lv_uri *u = NULL;
	if (lv__uri_parse(uri, &u, why, sizeof why) == 0) {
		/* every part a NUL-terminated string inside the URI's length; the path never NULL */
		if (!u || !u->scheme || !u->path || strlen(u->path) > size || (u->port && (u->port < 1 || u->port > 65535)))
			abort();
		if (u->host && strlen(u->host) > size)
			abort();
		lv__uri_free(u);
	}
	char *out = NULL;
	const char *drv = NULL;
	if (lv_context_resolve(ctx, uri, &out, &drv) == 0)
		free(out);
	free(uri);
	return 0;
}
