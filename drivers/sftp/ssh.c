/*
 * The SSH layer of the sftp driver: the transport (a TCP connection, or a
 * socketpair to the proxy process for ProxyJump and ProxyCommand), the SSH
 * handshake, the host key check (hostkeys.c), authentication (auth.c) and
 * SFTP start, each libssh2 call waited for by op.c's loop.
 */
#include "sftp_int.h"

#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
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

/* The connect phase (handshake) is bounded by the connect timeout. */
static void op_start_connect(sftp_op *o, sftp_inst *c, const char *step)
{
	sftp_op_start(o, c, step, NULL);
	o->limit = c->connect_timeout;
	o->deadline = sftp_now_ms() + (int64_t)c->connect_timeout * 1000;
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
