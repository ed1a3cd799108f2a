/* Test driver: declares config keys; its open fails with a message that
 * echoes what the host's config lookup gives it (a driver sees its own
 * section, with a location's overrides, and nothing else). */
#include <stdio.h>
#include <string.h>
#include "licvault/driver.h"
static int o_open(const lv_host *host, lv_host_ctx *h, const char *uri, unsigned flags, void **inst)
{
	(void)flags; (void)inst;
	char msg[1024];
	size_t n = (size_t)snprintf(msg, sizeof msg, "uri=%s", uri);
	const char *keys[] = {"alpha", "beta", "flag", "mode", "list", "gamma", "store", NULL};
	for (int k = 0; keys[k]; k++)
		for (unsigned i = 0;; i++) {
			const char *v = host->config_get(h, keys[k], i);
			if (!v)
				break;
			n += (size_t)snprintf(msg + n, sizeof msg - n, " %s=%s", keys[k], v);
		}
	return host->set_error(h, LV_E_IO, "%s", msg);
}
static void o_close(void *i) { (void)i; }
static int o_wb(void *i, const char *n, uint64_t s, lv_writer **w) { (void)i; (void)n; (void)s; (void)w; return LV_E_IO; }
static int o_w(lv_writer *w, const void *b, size_t l) { (void)w; (void)b; (void)l; return LV_E_IO; }
static int o_c(lv_writer *w, unsigned f) { (void)w; (void)f; return LV_E_IO; }
static void o_a(lv_writer *w) { (void)w; }
static int o_ro(void *i, const char *n, lv_reader **r) { (void)i; (void)n; (void)r; return LV_E_IO; }
static int o_r(lv_reader *r, void *b, size_t c, size_t *n) { (void)r; (void)b; (void)c; (void)n; return LV_E_IO; }
static void o_rc(lv_reader *r) { (void)r; }
static int o_l(void *i, lv_list_cb cb, void *ud) { (void)i; (void)cb; (void)ud; return LV_E_IO; }
static int o_rm(void *i, const char *n) { (void)i; (void)n; return LV_E_NOT_FOUND; }
static const lv_driver_ops ops = {
	.open = o_open, .close = o_close, .write_begin = o_wb, .write = o_w, .commit = o_c, .abort = o_a,
	.read_open = o_ro, .read = o_r, .read_close = o_rc, .list = o_l, .remove = o_rm,
};
static const lv_driver_key keys[] = {
	{"alpha", LV_KEY_STRING, NULL, "a string", 0, 0, NULL, 0},
	{"beta", LV_KEY_INT, "5", "a number from 1 to 10", 1, 10, NULL, 0},
	{"flag", LV_KEY_BOOL, "no", "a boolean", 0, 0, NULL, 0},
	{"mode", LV_KEY_ENUM, "a", "a or b", 0, 0, "a|b", 0},
	{"list", LV_KEY_LIST, NULL, "several values", 0, 0, NULL, 0},
	{"gamma", LV_KEY_PATH, NULL, "a path", 0, 0, NULL, 0},
	{"token", LV_KEY_STRING, NULL, "a secret", 0, 0, NULL, LV_KEY_SECRET},
	{NULL, 0, NULL, NULL, 0, 0, NULL, 0},
};
static const char *const schemes[] = {"cfgecho", NULL};
static const lv_driver d = {LV_DRIVER_INIT_HEADER, .name = "cfgecho", .version = "0.1", .schemes = schemes,
                            .ops = &ops, .keys = keys};
LV_DRIVER_ENTRY { return &d; }
