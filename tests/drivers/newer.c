/* Test driver: built against a newer minor ABI, with an operations table
 * and a descriptor larger than this host knows.  The host accepts it and
 * ignores the slots it does not know. */
#include "licvault/driver.h"
static int o_open(const lv_host *host, lv_host_ctx *h, const char *uri, unsigned flags, void **inst)
{
	(void)flags; (void)uri; (void)host; (void)h;
	*inst = (void *)1;
	return 0;
}
static void o_close(void *i) { (void)i; }
static int o_wb(void *i, const char *n, uint64_t s, lv_writer **w) { (void)i; (void)n; (void)s; (void)w; return LV_E_IO; }
static int o_w(lv_writer *w, const void *b, size_t l) { (void)w; (void)b; (void)l; return LV_E_IO; }
static int o_c(lv_writer *w, unsigned f) { (void)w; (void)f; return LV_E_IO; }
static void o_a(lv_writer *w) { (void)w; }
static int o_ro(void *i, const char *n, lv_reader **r) { (void)i; (void)n; (void)r; return LV_E_NOT_FOUND; }
static int o_r(lv_reader *r, void *b, size_t c, size_t *n) { (void)r; (void)b; (void)c; (void)n; return LV_E_IO; }
static void o_rc(lv_reader *r) { (void)r; }
static int o_l(void *i, lv_list_cb cb, void *ud) { (void)i; (void)cb; (void)ud; return 0; }
static int o_rm(void *i, const char *n) { (void)i; (void)n; return LV_E_NOT_FOUND; }
static int o_future(void *i) { (void)i; return 0; }
static const struct {
	lv_driver_ops ops;
	int (*future_op1)(void *);
	int (*future_op2)(void *);
} ops = {
	{.open = o_open, .close = o_close, .write_begin = o_wb, .write = o_w, .commit = o_c, .abort = o_a,
	 .read_open = o_ro, .read = o_r, .read_close = o_rc, .list = o_l, .remove = o_rm},
	o_future, o_future,
};
static const char *const schemes[] = {"newer", NULL};
static const struct {
	lv_driver d;
	const char *future_field;
} d = {{LV_DRIVER_ABI_MAJOR, LV_DRIVER_ABI_MINOR + 7, sizeof(d), sizeof(ops), "newer", "9.0", schemes,
        &ops.ops, NULL, NULL}, "future"};
LV_DRIVER_ENTRY { return &d.d; }
