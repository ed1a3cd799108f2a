/*
 * failmalloc.so: an LD_PRELOAD allocator for the out-of-memory test
 * (tests/test_oom.c).  LV_FAIL_ALLOC=N makes the Nth malloc/calloc/realloc
 * of the process fail (once, with errno ENOMEM), as SQLite's own OOM tests
 * do; LV_FAIL_ALLOC_COUNT=1 prints how many allocations the process made.
 */

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

extern void *__libc_malloc(size_t);
extern void *__libc_calloc(size_t, size_t);
extern void *__libc_realloc(void *, size_t);

static long count, fail_at = -2;

static int fail_now(void)
{
	if (fail_at == -2) {
		const char *e = getenv("LV_FAIL_ALLOC");
		fail_at = e ? atol(e) : -1;
	}
	if (__atomic_add_fetch(&count, 1, __ATOMIC_RELAXED) != fail_at)
		return 0;
	errno = ENOMEM;
	return 1;
}

void *malloc(size_t n) { return fail_now() ? NULL : __libc_malloc(n); }
void *calloc(size_t a, size_t b) { return fail_now() ? NULL : __libc_calloc(a, b); }
void *realloc(void *p, size_t n) { return fail_now() ? NULL : __libc_realloc(p, n); }

__attribute__((destructor)) static void report(void)
{
	if (getenv("LV_FAIL_ALLOC_COUNT")) {
		char b[64];
		int k = snprintf(b, sizeof b, "allocations: %ld\n", count);
		if (write(2, b, (size_t)k) < 0)
			return;
	}
}
