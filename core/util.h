/*
 * util: the lowest layer of the core.  Growable buffers, formatted strings,
 * random bytes, hex, path expansion, directories, little-endian integers.
 * Depends on nothing else in the core.
 */
#ifndef LV_CORE_UTIL_H
#define LV_CORE_UTIL_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include "licvault/common.h"

/* The size of every detailed message buffer in the core. */
#define LV_ERRMSG_MAX 1024

/* A growable byte buffer. */
typedef struct lv_buf {
	unsigned char *data;
	size_t len, cap;
} lv_buf;

int lv__buf_grow(lv_buf *b, size_t extra);
int lv__buf_put(lv_buf *b, const void *p, size_t n);
int lv__buf_printf(lv_buf *b, const char *fmt, ...) LV_PRINTF(2, 3);
void lv__buf_free(lv_buf *b);

char *lv__asprintf(const char *fmt, ...) LV_PRINTF(1, 2);
/* Write fmt into a fixed buffer of LV_ERRMSG_MAX bytes. */
void lv__errf(char *buf, const char *fmt, ...) LV_PRINTF(2, 3);
void lv__verrf(char *buf, const char *fmt, va_list ap);
/* Write exactly n random bytes (getrandom). */
int lv__random(void *p, size_t n);
void lv__hex(char *out, const unsigned char *in, size_t n);
/* Expand ~ and ${VAR} in a path value. NULL on error (unset var: *err says which). */
char *lv__expand(const char *in, char *err, size_t errlen);
/* Make a directory and its parents (mode 0700 for new ones). */
int lv__mkdirs(const char *path, char *err, size_t errlen);
/* Little-endian encoding. */
void lv__put_u16(unsigned char *p, uint16_t v);
void lv__put_u32(unsigned char *p, uint32_t v);
void lv__put_u64(unsigned char *p, uint64_t v);
uint16_t lv__get_u16(const unsigned char *p);
uint32_t lv__get_u32(const unsigned char *p);
uint64_t lv__get_u64(const unsigned char *p);

#endif
