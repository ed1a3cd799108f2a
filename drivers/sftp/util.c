/*
 * What every file of the sftp driver uses: the clock, the host's error and
 * log services as the driver calls them, the broken-session mark, base64
 * (libcrypto) and secrets read from files.  It calls no other file of the
 * driver.
 */
#include "sftp_int.h"

#include <errno.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

int64_t sftp_now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int sftp_err_save(sftp_inst *c)
{
	return c->host->error_save(c->h);
}

void sftp_err_restore(sftp_inst *c, int saved)
{
	c->host->error_restore(c->h, saved);
}

void sftp_debug(sftp_inst *c, const char *fmt, ...)
{
	char msg[1600];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	c->host->log(c->h, LV_LOG_DEBUG, "sftp %s: %s", c->where, msg);
}

int sftp_canceled(sftp_inst *c)
{
	return !c->cleanup_mode && c->host->canceled(c->h);
}

void sftp_mark_broken(sftp_inst *c, const char *why)
{
	if (!c->broken)
		snprintf(c->broken_why, sizeof c->broken_why, "%s", why);
	c->broken = 1;
}

/* ---- base64 (libcrypto) and secrets -------------------------------------- */

size_t sftp_b64(char *out, size_t cap, const unsigned char *in, size_t n, int pad)
{
	size_t need = (n + 2) / 3 * 4 + 1;
	if (!cap)
		return 0;
	if (need > cap) {
		out[0] = '\0';
		return 0;
	}
	size_t len = (size_t)EVP_EncodeBlock((unsigned char *)out, in, (int)n);
	while (!pad && len && out[len - 1] == '=')
		out[--len] = '\0';
	return len;
}

long sftp_unb64(unsigned char *out, size_t cap, const char *in)
{
	size_t n = strlen(in);
	n -= n % 4; /* whole groups only (a partial line of a longer text) */
	if (!n || n / 4 * 3 > cap)
		return -1;
	int len = EVP_DecodeBlock(out, (const unsigned char *)in, (int)n);
	if (len < 0)
		return -1;
	for (size_t i = n; i > n - 2 && in[i - 1] == '='; i--)
		len--; /* EVP_DecodeBlock counts the padding as zero bytes */
	return len;
}

char *sftp_read_secret(const char *path, char *err, size_t errcap)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		snprintf(err, errcap, "cannot read %s: %s", path, strerror(errno));
		return NULL;
	}
	char *buf = calloc(1, 4097);
	if (!buf) {
		close(fd);
		snprintf(err, errcap, "out of memory");
		return NULL;
	}
	size_t len = 0;
	for (;;) {
		ssize_t n = read(fd, buf + len, 4096 - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		len += (size_t)n;
		if (len == 4096)
			break;
	}
	close(fd);
	buf[len] = '\0';
	buf[strcspn(buf, "\r\n")] = '\0';
	return buf;
}

void sftp_free_secret(char *s)
{
	if (s) {
		explicit_bzero(s, strlen(s));
		free(s);
	}
}
