/* Test driver: serves "failing" and "dupfile" (claims "file" too, which the real file driver owns).
 * Opening always fails with a message. */
#include "licvault/driver.h"
static int o_open(const lv_host *host, lv_host_ctx *h, const char *uri, unsigned flags, void **inst)
{
	(void)flags; (void)inst;
	return host->set_error(h, LV_E_IO, "openfail driver: cannot reach %s: the test says no", uri);
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
static const char *const schemes[] = {"failing", "file", NULL};
static const lv_driver d = {LV_DRIVER_INIT_HEADER, .name = "openfail", .version = "0.1", .schemes = schemes, .ops = &ops};
LV_DRIVER_ENTRY { return &d; }
