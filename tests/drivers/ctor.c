/* Test driver: a constructor that leaves a mark.  Its constructor runs as
 * soon as the file is dlopen'ed, before the host sees its descriptor: it
 * appends the path it was loaded from to the file named by
 * $LV_TEST_CTOR_MARKER, so a test can tell
 * whether the loader ran any code of a file it should have refused
 * (tests/test_trust.c).  Otherwise a valid driver of the scheme "ctor". */
#include <dlfcn.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "licvault/driver.h"

__attribute__((constructor)) static void leave_mark(void)
{
	const char *m = getenv("LV_TEST_CTOR_MARKER");
	Dl_info info;
	if (!m || !*m || !dladdr((void *)&leave_mark, &info) || !info.dli_fname)
		return;
	int fd = open(m, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
	if (fd >= 0) {
		(void)!write(fd, info.dli_fname, strlen(info.dli_fname));
		(void)!write(fd, "\n", 1);
		close(fd);
	}
}

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
static const lv_driver_ops ops = {.open = o_open, .close = o_close, .write_begin = o_wb, .write = o_w, .commit = o_c,
                                  .abort = o_a, .read_open = o_ro, .read = o_r, .read_close = o_rc, .list = o_l,
                                  .remove = o_rm};
static const char *const schemes[] = {"ctor", NULL};
static const lv_driver d = {LV_DRIVER_ABI_MAJOR, LV_DRIVER_ABI_MINOR, sizeof(d), sizeof(ops), "ctor", "1.0", schemes,
                            &ops, NULL, NULL};
LV_DRIVER_ENTRY { return &d; }
