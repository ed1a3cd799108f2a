/* Small helpers: buffers, strings, random bytes, paths, byte order. */
#include "util.h"

#include <stdio.h>
#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <pwd.h>
#include <unistd.h>

int lv__buf_grow(lv_buf *b, size_t extra)
{
	if (extra > SIZE_MAX / 2 - b->len)
		return LV_E_NOMEM;
	size_t need = b->len + extra;
	if (need <= b->cap)
		return 0;
	size_t cap = b->cap ? b->cap : 256;
	while (cap < need)
		cap *= 2;
	unsigned char *p = realloc(b->data, cap);
	if (!p)
		return LV_E_NOMEM;
	b->data = p;
	b->cap = cap;
	return 0;
}

int lv__buf_put(lv_buf *b, const void *p, size_t n)
{
	int rc = lv__buf_grow(b, n);
	if (rc)
		return rc;
	if (n)
		memcpy(b->data + b->len, p, n);
	b->len += n;
	return 0;
}

int lv__buf_printf(lv_buf *b, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0)
		return LV_E_INVALID_ARG;
	int rc = lv__buf_grow(b, (size_t)n + 1);
	if (rc)
		return rc;
	va_start(ap, fmt);
	vsnprintf((char *)b->data + b->len, (size_t)n + 1, fmt, ap);
	va_end(ap);
	b->len += (size_t)n;
	return 0;
}

void lv__buf_free(lv_buf *b)
{
	free(b->data);
	b->data = NULL;
	b->len = b->cap = 0;
}

char *lv__asprintf(const char *fmt, ...)
{
	va_list ap;
	char *p = NULL;
	va_start(ap, fmt);
	if (vasprintf(&p, fmt, ap) < 0)
		p = NULL;
	va_end(ap);
	return p;
}

void lv__verrf(char *buf, const char *fmt, va_list ap)
{
	vsnprintf(buf, LV_ERRMSG_MAX, fmt, ap);
}

void lv__errf(char *buf, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	lv__verrf(buf, fmt, ap);
	va_end(ap);
}

int lv__random(void *p, size_t n)
{
	unsigned char *c = p;
	while (n) {
		ssize_t r = getrandom(c, n, 0);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			return LV_E_IO;
		}
		c += r;
		n -= (size_t)r;
	}
	return 0;
}

void lv__hex(char *out, const unsigned char *in, size_t n)
{
	static const char digits[] = "0123456789abcdef";
	for (size_t i = 0; i < n; i++) {
		out[2 * i] = digits[in[i] >> 4];
		out[2 * i + 1] = digits[in[i] & 15];
	}
	out[2 * n] = '\0';
}

static const char *home_dir(void)
{
	/* secure_getenv, and the effective user's home: a set-user-ID process expands no path the user
	 * who started it chose */
	const char *h = secure_getenv("HOME");
	if (h && *h)
		return h;
	struct passwd *pw = getpwuid(geteuid());
	return pw ? pw->pw_dir : NULL;
}

char *lv__expand(const char *in, char *err, size_t errlen)
{
	lv_buf b = {0};
	const char *p = in;
	if (p[0] == '~' && (p[1] == '/' || p[1] == '\0')) {
		const char *h = home_dir();
		if (!h) {
			snprintf(err, errlen, "cannot expand '~': no home directory");
			return NULL;
		}
		if (lv__buf_put(&b, h, strlen(h)))
			goto nomem;
		p++;
	}
	while (*p) {
		if (p[0] == '$' && p[1] == '{') {
			const char *end = strchr(p + 2, '}');
			if (!end) {
				snprintf(err, errlen, "unterminated '${' in '%s'", in);
				goto fail;
			}
			char name[128];
			size_t n = (size_t)(end - p - 2);
			if (n == 0 || n >= sizeof name) {
				snprintf(err, errlen, "bad variable name in '%s'", in);
				goto fail;
			}
			memcpy(name, p + 2, n);
			name[n] = '\0';
			const char *v = secure_getenv(name);
			if (!v) {
				snprintf(err, errlen, "variable ${%s} is not set", name);
				goto fail;
			}
			if (lv__buf_put(&b, v, strlen(v)))
				goto nomem;
			p = end + 1;
		} else {
			if (lv__buf_put(&b, p, 1))
				goto nomem;
			p++;
		}
	}
	if (lv__buf_put(&b, "", 1))
		goto nomem;
	return (char *)b.data;
nomem:
	snprintf(err, errlen, "out of memory");
fail:
	lv__buf_free(&b);
	return NULL;
}

int lv__mkdirs(const char *path, char *err, size_t errlen)
{
	char *p = strdup(path);
	if (!p)
		return LV_E_NOMEM;
	size_t n = strlen(p);
	while (n > 1 && p[n - 1] == '/')
		p[--n] = '\0';
	for (char *s = p + 1;; s++) {
		if (*s == '/' || *s == '\0') {
			char c = *s;
			*s = '\0';
			if (mkdir(p, 0700) < 0 && errno != EEXIST) {
				int e = errno;
				snprintf(err, errlen, "cannot create directory %s: %s", p, strerror(e));
				free(p);
				return e == ENOSPC ? LV_E_NO_SPACE : LV_E_IO;
			}
			*s = c;
			if (!c)
				break;
		}
	}
	free(p);
	return 0;
}

void lv__put_u16(unsigned char *p, uint16_t v) { p[0] = (unsigned char)v; p[1] = (unsigned char)(v >> 8); }
void lv__put_u32(unsigned char *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (unsigned char)(v >> (8 * i));
}
void lv__put_u64(unsigned char *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (unsigned char)(v >> (8 * i));
}
uint16_t lv__get_u16(const unsigned char *p) { return (uint16_t)(p[0] | (p[1] << 8)); }
uint32_t lv__get_u32(const unsigned char *p)
{
	return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) | ((uint32_t)p[3] << 24);
}
uint64_t lv__get_u64(const unsigned char *p)
{
	return (uint64_t)lv__get_u32(p) | ((uint64_t)lv__get_u32(p + 4) << 32);
}

int lv__utf8_valid(const char *p, size_t n)
{
	const unsigned char *s = (const unsigned char *)p, *end = s + n;
	while (s < end) {
		unsigned c = *s++;
		if (c < 0x80)
			continue;
		int more = c >= 0xf0 ? 3 : c >= 0xe0 ? 2 : c >= 0xc2 ? 1 : -1;
		if (more < 0 || c > 0xf4 || end - s < more)
			return 0;
		unsigned cp = c & (0x3fu >> more);
		for (int i = 0; i < more; i++) {
			if ((s[i] & 0xc0) != 0x80)
				return 0;
			cp = cp << 6 | (s[i] & 0x3fu);
		}
		s += more;
		if ((more == 2 && cp < 0x800) || (more == 3 && (cp < 0x10000 || cp > 0x10ffff)) ||
		    (cp >= 0xd800 && cp <= 0xdfff))
			return 0;
	}
	return 1;
}
