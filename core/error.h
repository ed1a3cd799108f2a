/*
 * error: error names, and the one error record every object of the core
 * keeps (a run, a store, the context's per-thread record).
 *
 * The first error wins, as curl's error buffer: once a record holds a
 * failure, later failures (typically of cleanup after it) do not replace
 * its code or message.  The rare place that tries something whose failure
 * it then ignores keeps the record aside and puts it back (lv__err_save /
 * lv__err_restore, as libgit2's git_error_save/git_error_restore).
 */
#ifndef LV_CORE_ERROR_H
#define LV_CORE_ERROR_H

#include <stdarg.h>

#include "util.h"

typedef struct lv_err {
	int code;                  /* 0: nothing recorded */
	char msg[LV_ERRMSG_MAX];   /* "" when nothing recorded */
} lv_err;

/* Record code and message unless a failure is recorded already; returns code. */
int lv__err_set(lv_err *e, int code, const char *fmt, ...) LV_PRINTF(3, 4);
int lv__err_vset(lv_err *e, int code, const char *fmt, va_list ap);
/* Forget what is recorded (a new public call begins). */
void lv__err_clear(lv_err *e);
/* Keep the record aside / put it back. */
void lv__err_save(const lv_err *e, lv_err *saved);
void lv__err_restore(lv_err *e, const lv_err *saved);
/* Is code one of the public lv_error codes (0 included)? */
int lv__err_valid(int code);

#endif
