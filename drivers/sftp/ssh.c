/*
 * The SSH layer of the sftp driver: the transport (a TCP connection, or a
 * socketpair to the proxy process for ProxyJump and ProxyCommand), the SSH
 * handshake, the host key check (hostkeys.c), authentication (auth.c), SFTP
 * start, and the non-blocking wait loop every libssh2 call goes through
 * (poll() on the socket, and on the proxy's stderr, with a short tick:
 * cancellation, timeouts and keepalives are handled there).
 */
#include "sftp_int.h"

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/evp.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

/* libssh2_init is not thread-safe: run it once (two runs may open at once). */
static pthread_once_t ssh_once = PTHREAD_ONCE_INIT;
static int ssh_init_rc;
static void ssh_init(void) { ssh_init_rc = libssh2_init(0); }

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

/* ---- one non-blocking operation ------------------------------------------ */

void sftp_op_start(sftp_op *o, sftp_inst *c, const char *step, const char *path)
{
	o->c = c;
	o->step = step;
	o->path = path;
	o->err = 0;
	o->limit = c->timeout;
	o->deadline = sftp_now_ms() + (int64_t)c->timeout * 1000;
}

/* The connect phase (handshake) is bounded by the connect timeout. */
static void op_start_connect(sftp_op *o, sftp_inst *c, const char *step)
{
	sftp_op_start(o, c, step, NULL);
	o->limit = c->connect_timeout;
	o->deadline = sftp_now_ms() + (int64_t)c->connect_timeout * 1000;
}

void sftp_op_progress(sftp_op *o)
{
	o->deadline = sftp_now_ms() + (int64_t)o->c->timeout * 1000;
	o->limit = o->c->timeout;
}

int sftp_op_wait(sftp_op *o)
{
	sftp_inst *c = o->c;
	const char *sp = o->path ? " " : "";
	const char *p = o->path ? o->path : "";
	if (sftp_canceled(c)) {
		/* libssh2 is in the middle of this call: the session is not reusable */
		sftp_mark_broken(c, "a call was interrupted by a cancel");
		o->err = sftp_err(c, LV_E_CANCELED, "sftp %s: %s%s%s canceled", c->where, o->step, sp, p);
		return o->err;
	}
	if (c->sftp) {
		/*
		 * libssh2 1.10 answers EAGAIN for ever on an SFTP channel the server
		 * closed (its sftp-server ended, the link stays): data sent before
		 * the EOF is read first (libssh2_channel_eof says 0 while some is
		 * left), so once it says EOF no answer can come.
		 */
		LIBSSH2_CHANNEL *ch = libssh2_sftp_get_channel(c->sftp);
		if (ch && libssh2_channel_eof(ch)) {
			sftp_mark_broken(c, "the server closed the SFTP channel (its sftp-server ended)");
			o->err = sftp_err(c, LV_E_IO, "sftp %s: connection lost while trying to %s%s%s: %s", c->where, o->step, sp,
			                  p, c->broken_why);
			return o->err;
		}
	}
	int64_t now = sftp_now_ms();
	int64_t dl = o->deadline;
	if (c->cleanup_mode && c->cleanup_deadline < dl)
		dl = c->cleanup_deadline;
	if (now >= dl) {
		char px[900];
		sftp_proxy_explain(c, px, sizeof px);
		sftp_mark_broken(c, "the server stopped answering");
		o->err = sftp_err(c, LV_E_IO, "sftp %s: %s%s%s: no answer from the server for %d seconds (timeout)%s",
		                  c->where, o->step, sp, p, c->cleanup_mode ? SFTP_CLEANUP_BUDGET : o->limit, px);
		return o->err;
	}
	int dirs = LIBSSH2_SESSION_BLOCK_INBOUND;
	if (c->s) {
		if (c->keepalive > 0 && c->ready) {
			int next = 0;
			(void)libssh2_keepalive_send(c->s, &next); /* may be busy with a partial packet: fine */
		}
		dirs = libssh2_session_block_directions(c->s);
	}
	struct pollfd pfd[2] = {{c->sock, 0, 0}, {c->proxy.err_fd, POLLIN, 0}};
	if (dirs & LIBSSH2_SESSION_BLOCK_INBOUND)
		pfd[0].events |= POLLIN;
	if (dirs & LIBSSH2_SESSION_BLOCK_OUTBOUND)
		pfd[0].events |= POLLOUT;
	if (!pfd[0].events)
		pfd[0].events = POLLIN;
	int64_t wait = dl - now;
	if (wait > SFTP_TICK_MS)
		wait = SFTP_TICK_MS;
	poll(pfd, c->proxy.err_fd >= 0 ? 2 : 1, (int)wait);
	if (c->proxy.err_fd >= 0 && pfd[1].revents)
		sftp_child_drain(c, &c->proxy, "proxy");
	return 0;
}

const char *sftp_fx_text(unsigned long st, int *code)
{
	*code = LV_E_IO;
	switch (st) {
	case LIBSSH2_FX_EOF: return "end of file";
	case LIBSSH2_FX_NO_SUCH_FILE: *code = LV_E_NOT_FOUND; return "no such file or directory";
	case LIBSSH2_FX_PERMISSION_DENIED: return "permission denied";
	case LIBSSH2_FX_FAILURE: return "the server reported a failure";
	case LIBSSH2_FX_BAD_MESSAGE: return "bad message";
	case LIBSSH2_FX_NO_CONNECTION: return "no connection";
	case LIBSSH2_FX_CONNECTION_LOST: return "connection lost";
	case LIBSSH2_FX_OP_UNSUPPORTED: *code = LV_E_UNSUPPORTED; return "operation not supported by the server";
	case LIBSSH2_FX_INVALID_HANDLE: return "invalid handle";
	case LIBSSH2_FX_NO_SUCH_PATH: *code = LV_E_NOT_FOUND; return "no such path";
	case LIBSSH2_FX_FILE_ALREADY_EXISTS: *code = LV_E_EXISTS; return "already exists";
	case LIBSSH2_FX_WRITE_PROTECT: return "write-protected";
	case LIBSSH2_FX_NO_MEDIA: return "no media";
	case LIBSSH2_FX_NO_SPACE_ON_FILESYSTEM: *code = LV_E_NO_SPACE; return "no space left on the remote filesystem";
	case LIBSSH2_FX_QUOTA_EXCEEDED: *code = LV_E_NO_SPACE; return "disk quota exceeded";
	case LIBSSH2_FX_DIR_NOT_EMPTY: return "directory not empty";
	case LIBSSH2_FX_NOT_A_DIRECTORY: return "not a directory";
	case LIBSSH2_FX_INVALID_FILENAME: return "invalid file name";
	case LIBSSH2_FX_LINK_LOOP: return "too many levels of symbolic links";
	default: return "SFTP error";
	}
}

int sftp_op_fail(sftp_op *o, int rc)
{
	sftp_inst *c = o->c;
	const char *sp = o->path ? " " : "";
	const char *p = o->path ? o->path : "";
	if (rc == LIBSSH2_ERROR_SFTP_PROTOCOL && c->sftp) {
		unsigned long st = libssh2_sftp_last_error(c->sftp);
		int code;
		const char *txt = sftp_fx_text(st, &code);
		return sftp_err(c, code, "sftp %s: cannot %s%s%s: %s (SFTP status %lu)", c->where, o->step, sp, p,
		                txt, st);
	}
	char *msg = NULL;
	if (c->s)
		libssh2_session_last_error(c->s, &msg, NULL, 0);
	char why[1200], px[900];
	sftp_proxy_explain(c, px, sizeof px);
	snprintf(why, sizeof why, "%s (libssh2 error %d)%s", msg && *msg ? msg : "connection error", rc, px);
	sftp_mark_broken(c, why);
	return sftp_err(c, LV_E_IO, "sftp %s: connection lost while trying to %s%s%s: %s", c->where, o->step,
	                sp, p, why);
}

int sftp_usable(sftp_inst *c, const char *step, const char *path)
{
	if (sftp_canceled(c))
		return sftp_err(c, LV_E_CANCELED, "sftp %s: %s %s canceled", c->where, step, path ? path : "");
	if (c->broken || !c->sftp)
		return sftp_err(c, LV_E_IO, "sftp %s: cannot %s %s: the connection is unusable (%s)", c->where, step,
		                path ? path : "", c->broken ? c->broken_why : "not connected");
	return 0;
}

/* ---- TCP ------------------------------------------------------------------ */

/* A name that does not resolve is a network failure (IO), never a malformed URI. */
static int resolve_failed(sftp_inst *c, int g, int *transient)
{
	*transient = g == EAI_AGAIN;
	char note[500] = "";
	if (!c->cfg_hostname && c->cfg_note[0])
		snprintf(note, sizeof note, " (%s)", c->cfg_note);
	else if (c->cfg_hostname)
		snprintf(note, sizeof note, " (the HostName ssh_config gives for '%s')", c->uri_host);
	return sftp_err(c, LV_E_IO, "sftp %s: cannot resolve host '%s': %s%s", c->where, c->hostname, gai_strerror(g),
	                note);
}

/* Wait for a non-blocking connect: 0 connected, 1 refused etc. (*last), < 0 an lv error. */
static int connect_wait(sftp_inst *c, int fd, int64_t deadline, int *last, int *transient)
{
	for (;;) {
		if (sftp_canceled(c))
			return sftp_err(c, LV_E_CANCELED, "sftp %s: connect canceled", c->where);
		int64_t now = sftp_now_ms();
		if (now >= deadline) {
			*transient = 1;
			return sftp_err(c, LV_E_IO, "sftp %s: cannot connect: no answer within %d seconds (timeout)", c->where,
			                c->connect_timeout);
		}
		struct pollfd pfd = {fd, POLLOUT, 0};
		int64_t w = deadline - now < SFTP_TICK_MS ? deadline - now : SFTP_TICK_MS;
		if (poll(&pfd, 1, (int)w) > 0) {
			int e = 0;
			socklen_t el = sizeof e;
			getsockopt(fd, SOL_SOCKET, SO_ERROR, &e, &el);
			*last = e;
			return e ? 1 : 0;
		}
	}
}

/* 0 and c->sock set, or an lv code (described); *transient when a retry may help. */
static int tcp_connect(sftp_inst *c, int *transient)
{
	*transient = 0;
	char port[16];
	snprintf(port, sizeof port, "%d", c->port);
	struct addrinfo hints = {0}, *res = NULL;
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_NUMERICSERV;
	int g = getaddrinfo(c->hostname, port, &hints, &res);
	if (g)
		return resolve_failed(c, g, transient);
	int64_t deadline = sftp_now_ms() + (int64_t)c->connect_timeout * 1000;
	int last = 0;
	for (struct addrinfo *ai = res; ai; ai = ai->ai_next) {
		int fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, ai->ai_protocol);
		if (fd < 0) {
			last = errno;
			continue;
		}
		int one = 1;
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
		int r = connect(fd, ai->ai_addr, ai->ai_addrlen) == 0 ? 0 : errno != EINPROGRESS ? (last = errno, 1)
		                                                         : connect_wait(c, fd, deadline, &last, transient);
		if (r == 0) {
			c->sock = fd;
			freeaddrinfo(res);
			return 0;
		}
		close(fd);
		if (r < 0) {
			freeaddrinfo(res);
			return r;
		}
	}
	freeaddrinfo(res);
	*transient = last == ECONNREFUSED || last == ETIMEDOUT || last == ENETUNREACH || last == EHOSTUNREACH ||
	             last == ECONNRESET;
	return sftp_err(c, LV_E_IO, "sftp %s: cannot connect: %s", c->where, last ? strerror(last) : "no address");
}

/* ---- connect -------------------------------------------------------------- */

static void log_methods(sftp_inst *c)
{
	const char *kex = libssh2_session_methods(c->s, LIBSSH2_METHOD_KEX);
	const char *hk = libssh2_session_methods(c->s, LIBSSH2_METHOD_HOSTKEY);
	const char *cs = libssh2_session_methods(c->s, LIBSSH2_METHOD_CRYPT_CS);
	const char *mac = libssh2_session_methods(c->s, LIBSSH2_METHOD_MAC_CS);
	const char *banner = libssh2_session_banner_get(c->s);
	sftp_debug(c, "negotiated: kex %s, host key %s, cipher %s, MAC %s (server %s, libssh2 %s)", kex ? kex : "?",
	           hk ? hk : "?", cs ? cs : "?", mac ? mac : "?", banner ? banner : "?", libssh2_version(0));
}

static int handshake_failed(sftp_inst *c, int r, int *transient)
{
	char *m = NULL, px[900];
	libssh2_session_last_error(c->s, &m, NULL, 0);
	*transient = r == LIBSSH2_ERROR_SOCKET_RECV || r == LIBSSH2_ERROR_SOCKET_DISCONNECT ||
	             r == LIBSSH2_ERROR_SOCKET_SEND || r == LIBSSH2_ERROR_TIMEOUT || r == LIBSSH2_ERROR_BANNER_RECV;
	sftp_proxy_explain(c, px, sizeof px);
	sftp_mark_broken(c, "the handshake failed");
	if (r == LIBSSH2_ERROR_KEX_FAILURE || r == LIBSSH2_ERROR_KEY_EXCHANGE_FAILURE || r == LIBSSH2_ERROR_METHOD_NONE)
		return sftp_err(c, LV_E_IO,
		                "sftp %s: SSH handshake failed: %s (libssh2 error %d). If the server and libssh2 %s share no "
		                "key exchange, cipher or host key algorithm: libssh2 before 1.11 cannot verify an RSA host key "
		                "with rsa-sha2, which OpenSSH 8.8 and later require, so such a server needs an ed25519 or ECDSA "
		                "host key%s",
		                c->where, m ? m : "no common algorithm", r, libssh2_version(0), px);
	if (px[0])
		return sftp_err(c, LV_E_IO, "sftp %s: cannot reach the server through the proxy: SSH handshake failed: %s "
		                            "(libssh2 error %d)%s",
		                c->where, m ? m : "error", r, px);
	return sftp_err(c, LV_E_IO, "sftp %s: SSH handshake failed: %s (libssh2 error %d)", c->where, m ? m : "error", r);
}

/* TCP or proxy, a session, known_hosts, the handshake and the host key check. */
static int connect_transport(sftp_inst *c, int *transient)
{
	int rc = (c->proxy_jump || c->proxy_command) ? sftp_proxy_start(c) : tcp_connect(c, transient);
	if (rc)
		return rc;
	c->s = libssh2_session_init_ex(NULL, NULL, NULL, c);
	if (!c->s)
		return sftp_err(c, LV_E_NOMEM, "sftp %s: cannot create an SSH session", c->where);
	libssh2_session_set_blocking(c->s, 0);
	if (c->keepalive > 0)
		libssh2_keepalive_config(c->s, 1, (unsigned)c->keepalive);
	sftp_kh *kh = NULL;
	if ((rc = sftp_kh_load(c, &kh)))
		return rc;
	sftp_kh_prefer(c, kh);
	sftp_op o;
	op_start_connect(&o, c, "complete the SSH handshake");
	int r;
	while ((r = libssh2_session_handshake(c->s, c->sock)) == LIBSSH2_ERROR_EAGAIN)
		if (sftp_op_wait(&o)) {
			sftp_kh_free(kh);
			*transient = o.err == LV_E_IO;
			return o.err;
		}
	if (r) {
		sftp_kh_free(kh);
		return handshake_failed(c, r, transient);
	}
	log_methods(c);
	rc = sftp_kh_check(c, kh);
	sftp_kh_free(kh);
	return rc;
}

static int connect_once(sftp_inst *c, int *transient)
{
	*transient = 0;
	int rc = connect_transport(c, transient);
	if (rc || (rc = sftp_authenticate(c)))
		return rc;
	sftp_op o;
	sftp_op_start(&o, c, "start the SFTP subsystem", NULL);
	while (!(c->sftp = libssh2_sftp_init(c->s)) && libssh2_session_last_errno(c->s) == LIBSSH2_ERROR_EAGAIN)
		if (sftp_op_wait(&o))
			return o.err;
	if (!c->sftp) {
		char *m = NULL;
		libssh2_session_last_error(c->s, &m, NULL, 0);
		sftp_mark_broken(c, "no SFTP subsystem");
		return sftp_err(c, LV_E_IO,
		                "sftp %s: cannot start the SFTP subsystem: %s (is 'Subsystem sftp' set in the server's sshd_config?)",
		                c->where, m ? m : "error");
	}
	return 0;
}

int sftp_connect(sftp_inst *c)
{
	pthread_once(&ssh_once, ssh_init);
	if (ssh_init_rc)
		return sftp_err(c, LV_E_IO, "sftp: libssh2 could not be initialized");
	int retries = c->cleanup_mode ? 0 : c->retries;
	int delay = 1;
	for (int attempt = 0;; attempt++) {
		int transient = 0;
		c->broken = 0;
		c->broken_why[0] = '\0';
		int rc = connect_once(c, &transient);
		if (!rc) {
			c->ready = 1;
			c->gen++;
			return 0;
		}
		sftp_disconnect(c);
		if (!transient || attempt >= retries || rc == LV_E_CANCELED)
			return rc;
		c->host->log(c->h, LV_LOG_WARN, "sftp %s: connect attempt %d of %d failed; trying again in %d s", c->where,
		             attempt + 1, retries + 1, delay);
		int64_t until = sftp_now_ms() + (int64_t)delay * 1000;
		while (sftp_now_ms() < until) {
			if (sftp_canceled(c))
				return sftp_err(c, LV_E_CANCELED, "sftp %s: connect canceled", c->where);
			poll(NULL, 0, SFTP_TICK_MS);
		}
		delay = delay >= 8 ? 10 : delay * 2;
	}
}

void sftp_disconnect(sftp_inst *c)
{
	if (c->s) {
		if (c->broken && c->sock >= 0)
			shutdown(c->sock, SHUT_RDWR); /* libssh2 must not wait on a dead link */
		libssh2_session_set_blocking(c->s, 1);
		libssh2_session_set_timeout(c->s, c->broken ? 500 : 3000);
		if (c->sftp)
			libssh2_sftp_shutdown(c->sftp);
		if (!c->broken)
			libssh2_session_disconnect(c->s, "licvault: done");
		libssh2_session_free(c->s);
	}
	if (c->sock >= 0)
		close(c->sock);
	sftp_proxy_stop(c); /* its socket closed: it ends; stopped and reaped in any case */
	c->sock = -1;
	c->s = NULL;
	c->sftp = NULL;
	c->ready = 0;
	c->gen++;
}

int sftp_cleanup_session(sftp_inst *c)
{
	if (!c->cleanup_mode) {
		c->cleanup_mode = 1;
		c->cleanup_deadline = sftp_now_ms() + (int64_t)SFTP_CLEANUP_BUDGET * 1000;
	}
	if (c->s && c->sftp && !c->broken)
		return 0;
	if (sftp_now_ms() >= c->cleanup_deadline)
		return LV_E_IO;
	sftp_disconnect(c);
	int saved = c->timeout, saved_ct = c->connect_timeout;
	c->timeout = c->connect_timeout = SFTP_CLEANUP_BUDGET;
	int rc = sftp_connect(c);
	c->timeout = saved;
	c->connect_timeout = saved_ct;
	if (rc)
		sftp_debug(c, "could not reconnect to clean up");
	return rc;
}

void sftp_cleanup_end(sftp_inst *c)
{
	c->cleanup_mode = 0;
}
