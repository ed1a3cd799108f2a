/*
 * The SSH layer of the sftp driver: TCP connect, SSH handshake, host key
 * check against known_hosts, authentication, SFTP start, and the
 * non-blocking wait loop every libssh2 call goes through (poll() on the
 * socket with a short tick: cancellation, timeouts and keepalives are
 * handled there).
 */
#include "sftp_int.h"

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
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

int sftp_err(sftp_inst *c, int code, const char *fmt, ...)
{
	char msg[1536];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	if (c->quiet) {
		c->host->log(c->h, LV_LOG_DEBUG, "%s", msg);
		return code;
	}
	return c->host->set_error(c->h, code, "%s", msg);
}

int sftp_canceled(sftp_inst *c)
{
	return !c->cleanup_mode && c->host->canceled(c->h);
}

static void mark_broken(sftp_inst *c, const char *why)
{
	if (!c->broken)
		snprintf(c->broken_why, sizeof c->broken_why, "%s", why);
	c->broken = 1;
}

/* ---- base64 and secrets --------------------------------------------------- */

size_t sftp_b64(char *out, size_t cap, const unsigned char *in, size_t n, int pad)
{
	static const char tab[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	size_t o = 0;
	for (size_t i = 0; i < n; i += 3) {
		uint32_t v = (uint32_t)in[i] << 16;
		size_t k = n - i;
		if (k > 1)
			v |= (uint32_t)in[i + 1] << 8;
		if (k > 2)
			v |= in[i + 2];
		char q[4] = {tab[(v >> 18) & 63], tab[(v >> 12) & 63], k > 1 ? tab[(v >> 6) & 63] : '=',
		             k > 2 ? tab[v & 63] : '='};
		for (int j = 0; j < 4; j++) {
			if (q[j] == '=' && !pad)
				break;
			if (o + 1 < cap)
				out[o++] = q[j];
		}
	}
	if (cap)
		out[o < cap ? o : cap - 1] = '\0';
	return o;
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

static void warn_if_open_perms(sftp_inst *c, const char *key, const char *path)
{
	struct stat st;
	if (stat(path, &st) == 0 && (st.st_mode & 077))
		c->host->log(c->h, LV_LOG_WARN, "%s %s can be read by other users (mode %03o); chmod 600 it",
		             key, path, (unsigned)(st.st_mode & 0777));
}

/* ---- one non-blocking operation ------------------------------------------ */

void sftp_op_start(sftp_op *o, sftp_inst *c, const char *step, const char *path)
{
	o->c = c;
	o->step = step;
	o->path = path;
	o->err = 0;
	o->deadline = sftp_now_ms() + (int64_t)c->timeout * 1000;
}

void sftp_op_progress(sftp_op *o)
{
	o->deadline = sftp_now_ms() + (int64_t)o->c->timeout * 1000;
}

int sftp_op_wait(sftp_op *o)
{
	sftp_inst *c = o->c;
	const char *sp = o->path ? " " : "";
	const char *p = o->path ? o->path : "";
	if (sftp_canceled(c)) {
		/* libssh2 is in the middle of this call: the session is not reusable */
		mark_broken(c, "a call was interrupted by a cancel");
		o->err = sftp_err(c, LV_E_CANCELED, "sftp %s: %s%s%s canceled", c->where, o->step, sp, p);
		return o->err;
	}
	int64_t now = sftp_now_ms();
	int64_t dl = o->deadline;
	if (c->cleanup_mode && c->cleanup_deadline < dl)
		dl = c->cleanup_deadline;
	if (now >= dl) {
		mark_broken(c, "the server stopped answering");
		o->err = sftp_err(c, LV_E_IO, "sftp %s: %s%s%s: no answer from the server for %d seconds (timeout)",
		                  c->where, o->step, sp, p, c->cleanup_mode ? SFTP_CLEANUP_BUDGET : c->timeout);
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
	struct pollfd pfd = {c->sock, 0, 0};
	if (dirs & LIBSSH2_SESSION_BLOCK_INBOUND)
		pfd.events |= POLLIN;
	if (dirs & LIBSSH2_SESSION_BLOCK_OUTBOUND)
		pfd.events |= POLLOUT;
	if (!pfd.events)
		pfd.events = POLLIN;
	int64_t wait = dl - now;
	if (wait > SFTP_TICK_MS)
		wait = SFTP_TICK_MS;
	poll(&pfd, 1, (int)wait);
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
	char why[300];
	snprintf(why, sizeof why, "%s (libssh2 error %d)", msg && *msg ? msg : "connection error", rc);
	mark_broken(c, why);
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
	if (g) {
		*transient = g == EAI_AGAIN;
		return sftp_err(c, g == EAI_AGAIN ? LV_E_IO : LV_E_BAD_URI, "sftp %s: cannot resolve host '%s': %s",
		                c->where, c->hostname, gai_strerror(g));
	}
	int64_t deadline = sftp_now_ms() + (int64_t)c->timeout * 1000;
	int last = 0;
	int rc = LV_E_IO;
	for (struct addrinfo *ai = res; ai; ai = ai->ai_next) {
		int fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, ai->ai_protocol);
		if (fd < 0) {
			last = errno;
			continue;
		}
		int one = 1;
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
		if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0) {
			c->sock = fd;
			freeaddrinfo(res);
			return 0;
		}
		if (errno != EINPROGRESS) {
			last = errno;
			close(fd);
			continue;
		}
		for (;;) {
			if (sftp_canceled(c)) {
				close(fd);
				freeaddrinfo(res);
				return sftp_err(c, LV_E_CANCELED, "sftp %s: connect canceled", c->where);
			}
			int64_t now = sftp_now_ms();
			if (now >= deadline) {
				close(fd);
				freeaddrinfo(res);
				*transient = 1;
				return sftp_err(c, LV_E_IO, "sftp %s: cannot connect: no answer within %d seconds (timeout)",
				                c->where, c->timeout);
			}
			struct pollfd pfd = {fd, POLLOUT, 0};
			int64_t w = deadline - now < SFTP_TICK_MS ? deadline - now : SFTP_TICK_MS;
			if (poll(&pfd, 1, (int)w) > 0) {
				int e = 0;
				socklen_t el = sizeof e;
				getsockopt(fd, SOL_SOCKET, SO_ERROR, &e, &el);
				if (e == 0) {
					c->sock = fd;
					freeaddrinfo(res);
					return 0;
				}
				last = e;
				close(fd);
				break;
			}
		}
	}
	freeaddrinfo(res);
	*transient = last == ECONNREFUSED || last == ETIMEDOUT || last == ENETUNREACH || last == EHOSTUNREACH ||
	             last == ECONNRESET;
	rc = sftp_err(c, LV_E_IO, "sftp %s: cannot connect: %s", c->where, last ? strerror(last) : "no address");
	return rc;
}

/* ---- host keys ------------------------------------------------------------ */

static const struct {
	int hk;            /* LIBSSH2_HOSTKEY_TYPE_* */
	int kh;            /* LIBSSH2_KNOWNHOST_KEY_* */
	const char *name;  /* the SSH name, as in known_hosts */
} key_types[] = {
	{LIBSSH2_HOSTKEY_TYPE_ED25519, LIBSSH2_KNOWNHOST_KEY_ED25519, "ssh-ed25519"},
	{LIBSSH2_HOSTKEY_TYPE_ECDSA_256, LIBSSH2_KNOWNHOST_KEY_ECDSA_256, "ecdsa-sha2-nistp256"},
	{LIBSSH2_HOSTKEY_TYPE_ECDSA_384, LIBSSH2_KNOWNHOST_KEY_ECDSA_384, "ecdsa-sha2-nistp384"},
	{LIBSSH2_HOSTKEY_TYPE_ECDSA_521, LIBSSH2_KNOWNHOST_KEY_ECDSA_521, "ecdsa-sha2-nistp521"},
	{LIBSSH2_HOSTKEY_TYPE_RSA, LIBSSH2_KNOWNHOST_KEY_SSHRSA, "ssh-rsa"},
	{LIBSSH2_HOSTKEY_TYPE_DSS, LIBSSH2_KNOWNHOST_KEY_SSHDSS, "ssh-dss"},
};
#define N_KEY_TYPES (sizeof key_types / sizeof key_types[0])

typedef struct kh_node {
	struct libssh2_knownhost *node;
	int line;
} kh_node;

typedef struct kh_file {
	LIBSSH2_KNOWNHOSTS *kh;
	const char *path;
	int missing;
	kh_node *nodes;
	size_t n_nodes;
	char **revoked;        /* base64 key blobs of @revoked lines */
	int *revoked_line;
	size_t n_revoked;
} kh_file;

static void kh_free(kh_file *f)
{
	if (f->kh)
		libssh2_knownhost_free(f->kh);
	free(f->nodes);
	for (size_t i = 0; i < f->n_revoked; i++)
		free(f->revoked[i]);
	free(f->revoked);
	free(f->revoked_line);
	memset(f, 0, sizeof *f);
}

/*
 * Read known_hosts line by line (so one line libssh2 does not understand,
 * such as @cert-authority or a security-key type, does not hide the others),
 * remembering each entry's line for messages, and the @revoked keys.
 */
static int kh_load(sftp_inst *c, kh_file *f, const char *path)
{
	f->path = path;
	f->kh = libssh2_knownhost_init(c->s);
	if (!f->kh)
		return sftp_err(c, LV_E_NOMEM, "sftp %s: out of memory for known_hosts", c->where);
	FILE *fp = fopen(path, "re");
	if (!fp) {
		if (errno == ENOENT) {
			f->missing = 1;
			return 0;
		}
		return sftp_err(c, LV_E_IO, "sftp %s: cannot read known_hosts %s: %s", c->where, path, strerror(errno));
	}
	char *line = NULL;
	size_t cap = 0;
	ssize_t len;
	int lineno = 0;
	struct libssh2_knownhost *last = NULL;
	while ((len = getline(&line, &cap, fp)) >= 0) {
		lineno++;
		while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r'))
			line[--len] = '\0';
		char *p = line;
		while (*p == ' ' || *p == '\t')
			p++;
		if (!*p || *p == '#')
			continue;
		if (*p == '@') {
			if (!strncmp(p, "@revoked", 8) && (p[8] == ' ' || p[8] == '\t')) {
				/* @revoked HOSTS TYPE KEY */
				char *save = NULL, *tok = strtok_r(p + 8, " \t", &save);
				tok = tok ? strtok_r(NULL, " \t", &save) : NULL;
				tok = tok ? strtok_r(NULL, " \t", &save) : NULL;
				if (tok) {
					char **nr = realloc(f->revoked, (f->n_revoked + 1) * sizeof *nr);
					int *nl = nr ? realloc(f->revoked_line, (f->n_revoked + 1) * sizeof *nl) : NULL;
					if (nr)
						f->revoked = nr;
					if (nl) {
						f->revoked_line = nl;
						f->revoked[f->n_revoked] = strdup(tok);
						f->revoked_line[f->n_revoked++] = lineno;
					}
				}
			}
			continue; /* @cert-authority: libssh2 has no certificates */
		}
		if (libssh2_knownhost_readline(f->kh, p, (size_t)(len - (p - line)), LIBSSH2_KNOWNHOST_FILE_OPENSSH)) {
			c->host->log(c->h, LV_LOG_DEBUG, "%s line %d: not understood by libssh2, skipped", path, lineno);
			continue;
		}
		struct libssh2_knownhost *n;
		while (libssh2_knownhost_get(f->kh, &n, last) == 0) {
			kh_node *nn = realloc(f->nodes, (f->n_nodes + 1) * sizeof *nn);
			if (!nn)
				break;
			f->nodes = nn;
			f->nodes[f->n_nodes].node = n;
			f->nodes[f->n_nodes++].line = lineno;
			last = n;
		}
	}
	free(line);
	fclose(fp);
	return 0;
}

static int kh_line_of(const kh_file *f, const struct libssh2_knownhost *n)
{
	for (size_t i = 0; i < f->n_nodes; i++)
		if (f->nodes[i].node == n)
			return f->nodes[i].line;
	return 0;
}

/* Which key types known_hosts holds for this host (bit i = key_types[i]). */
static unsigned kh_types_for_host(sftp_inst *c, kh_file *f)
{
	unsigned m = 0;
	for (size_t i = 0; i < N_KEY_TYPES; i++) {
		/* a one-byte key never matches: MISMATCH means an entry of this type exists */
		int r = libssh2_knownhost_checkp(f->kh, c->hostpat, -1, "\x01", 1,
		                                 LIBSSH2_KNOWNHOST_TYPE_PLAIN | LIBSSH2_KNOWNHOST_KEYENC_RAW |
		                                     key_types[i].kh,
		                                 NULL);
		if (r == LIBSSH2_KNOWNHOST_CHECK_MISMATCH || r == LIBSSH2_KNOWNHOST_CHECK_MATCH)
			m |= 1u << i;
	}
	return m;
}

/* Prefer the host key types known_hosts already has for this host (as OpenSSH does). */
static void prefer_known_types(sftp_inst *c, unsigned known)
{
	if (!known)
		return;
	char pref[300] = "";
	for (int pass = 0; pass < 2; pass++)
		for (size_t i = 0; i < N_KEY_TYPES; i++) {
			if (!!(known & (1u << i)) != (pass == 0))
				continue;
			if (pref[0])
				strncat(pref, ",", sizeof pref - strlen(pref) - 1);
			strncat(pref, key_types[i].name, sizeof pref - strlen(pref) - 1);
		}
	if (libssh2_session_method_pref(c->s, LIBSSH2_METHOD_HOSTKEY, pref) != 0)
		c->host->log(c->h, LV_LOG_DEBUG, "host key preference '%s' not accepted by libssh2", pref);
}

static int kh_append(sftp_inst *c, const char *path, const char *type, const char *b64)
{
	char dir[1024];
	snprintf(dir, sizeof dir, "%s", path);
	char *slash = strrchr(dir, '/');
	if (slash && slash != dir) {
		*slash = '\0';
		if (mkdir(dir, 0700) < 0 && errno != EEXIST)
			return sftp_err(c, LV_E_IO, "sftp %s: cannot create %s for known_hosts: %s", c->where, dir,
			                strerror(errno));
	}
	int fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
	if (fd < 0)
		return sftp_err(c, LV_E_IO, "sftp %s: cannot add the host key to %s: %s", c->where, path, strerror(errno));
	int need_nl = 0;
	struct stat st;
	if (fstat(fd, &st) == 0 && st.st_size > 0) {
		char last;
		int rfd = open(path, O_RDONLY | O_CLOEXEC);
		if (rfd >= 0) {
			if (pread(rfd, &last, 1, st.st_size - 1) == 1 && last != '\n')
				need_nl = 1;
			close(rfd);
		}
	}
	char *line = NULL;
	int n = asprintf(&line, "%s%s %s %s\n", need_nl ? "\n" : "", c->hostpat, type, b64);
	int rc = 0;
	if (n < 0)
		rc = LV_E_NOMEM;
	else if (write(fd, line, (size_t)n) != n || fsync(fd) < 0)
		rc = sftp_err(c, LV_E_IO, "sftp %s: cannot add the host key to %s: %s", c->where, path, strerror(errno));
	free(line);
	close(fd);
	return rc;
}

static int check_host_key(sftp_inst *c, kh_file *f, const char *khpath, unsigned known_types)
{
	size_t klen = 0;
	int ktype = 0;
	const char *key = libssh2_session_hostkey(c->s, &klen, &ktype);
	if (!key || !klen)
		return sftp_err(c, LV_E_HOST_KEY, "sftp %s: the server sent no host key", c->where);
	size_t ti = N_KEY_TYPES;
	for (size_t i = 0; i < N_KEY_TYPES; i++)
		if (key_types[i].hk == ktype)
			ti = i;
	if (ti == N_KEY_TYPES)
		return sftp_err(c, LV_E_HOST_KEY, "sftp %s: the server's host key is of a type libssh2 does not know (%d)",
		                c->where, ktype);
	const char *tname = key_types[ti].name;
	char fp[80] = "SHA256:";
	const char *digest = libssh2_hostkey_hash(c->s, LIBSSH2_HOSTKEY_HASH_SHA256);
	if (digest)
		sftp_b64(fp + 7, sizeof fp - 7, (const unsigned char *)digest, 32, 0);
	else
		snprintf(fp, sizeof fp, "(no SHA256 fingerprint)");
	size_t blen = (klen + 2) / 3 * 4 + 1;
	char *b64 = malloc(blen);
	if (!b64)
		return LV_E_NOMEM;
	sftp_b64(b64, blen, (const unsigned char *)key, klen, 1);
	int rc = 0;
	for (size_t i = 0; i < f->n_revoked; i++)
		if (!strcmp(f->revoked[i], b64)) {
			rc = sftp_err(c, LV_E_HOST_KEY,
			              "sftp %s: the server's %s host key %s is marked @revoked in %s line %d; refusing to connect",
			              c->where, tname, fp, khpath, f->revoked_line[i]);
			goto out;
		}
	struct libssh2_knownhost *found = NULL;
	int r = libssh2_knownhost_checkp(f->kh, c->hostpat, -1, key, klen,
	                                 LIBSSH2_KNOWNHOST_TYPE_PLAIN | LIBSSH2_KNOWNHOST_KEYENC_RAW | key_types[ti].kh,
	                                 &found);
	switch (r) {
	case LIBSSH2_KNOWNHOST_CHECK_MATCH:
		break;
	case LIBSSH2_KNOWNHOST_CHECK_MISMATCH: {
		int line = found ? kh_line_of(f, found) : 0;
		char at[64] = "";
		if (line)
			snprintf(at, sizeof at, " line %d", line);
		rc = sftp_err(c, LV_E_HOST_KEY,
		              "sftp %s: HOST KEY CHANGED for %s: the server offers the %s key %s, but %s%s holds another %s key. "
		              "Someone may be intercepting the connection, or the server was reinstalled. "
		              "Refusing to connect. If you have checked with the server's administrator that the new key is right, "
		              "remove the old entry (ssh-keygen -R '%s' -f %s) and connect again",
		              c->where, c->hostpat, tname, fp, khpath, at, tname, c->hostpat, khpath);
		break;
	}
	case LIBSSH2_KNOWNHOST_CHECK_NOTFOUND:
		if (known_types) {
			char kn[200] = "";
			for (size_t i = 0; i < N_KEY_TYPES; i++)
				if (known_types & (1u << i)) {
					if (kn[0])
						strncat(kn, ", ", sizeof kn - strlen(kn) - 1);
					strncat(kn, key_types[i].name, sizeof kn - strlen(kn) - 1);
				}
			rc = sftp_err(c, LV_E_HOST_KEY,
			              "sftp %s: %s holds a %s key for %s, but the server offered only a %s key (%s); "
			              "refusing to connect (a changed key type is treated as a changed key)",
			              c->where, khpath, kn, c->hostpat, tname, fp);
			break;
		}
		if (!c->accept_new) {
			rc = sftp_err(c, LV_E_HOST_KEY,
			              "sftp %s: host %s is not in known_hosts %s%s; the server's %s key is %s. "
			              "Check this fingerprint with the server's administrator (ssh-keygen -lf /etc/ssh/ssh_host_*_key.pub "
			              "on the server), then add it (ssh-keyscan -p %d %s >> %s) or set strict_host_key_checking = accept-new",
			              c->where, c->hostpat, khpath, f->missing ? " (the file does not exist)" : "", tname, fp,
			              c->port, c->hostname, khpath);
			break;
		}
		if ((rc = kh_append(c, khpath, tname, b64)))
			break;
		c->host->log(c->h, LV_LOG_WARN, "added the %s host key %s of %s to %s (strict_host_key_checking = accept-new)",
		             tname, fp, c->hostpat, khpath);
		break;
	default:
		rc = sftp_err(c, LV_E_HOST_KEY, "sftp %s: cannot check the host key against %s", c->where, khpath);
	}
out:
	free(b64);
	return rc;
}

/* ---- authentication ------------------------------------------------------- */

static void tried_add(char *tried, size_t cap, const char *fmt, ...) LV_PRINTF(3, 4);
static void tried_add(char *tried, size_t cap, const char *fmt, ...)
{
	size_t l = strlen(tried);
	if (l && l + 2 < cap) {
		memcpy(tried + l, "; ", 3);
		l += 2;
	}
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(tried + l, cap - l, fmt, ap);
	va_end(ap);
}

/* The key type of a private key file: from KEY.pub, or the PEM header. NULL when unknown. */
static const char *key_file_type(const char *path, char *buf, size_t cap)
{
	char pub[1100];
	snprintf(pub, sizeof pub, "%s.pub", path);
	FILE *f = fopen(pub, "re");
	if (f) {
		int ok = fscanf(f, "%63s", buf) == 1;
		fclose(f);
		if (ok)
			return buf;
	}
	f = fopen(path, "re");
	if (!f)
		return NULL;
	char line[200] = "";
	if (!fgets(line, sizeof line, f))
		line[0] = '\0';
	char b64line[200] = "";
	if (strstr(line, "OPENSSH PRIVATE KEY") && fgets(b64line, sizeof b64line, f)) {
		/* "openssh-key-v1\0" ... the public key's type appears in clear in the first bytes */
		fclose(f);
		static const char tab[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
		unsigned char raw[150];
		size_t n = 0;
		uint32_t acc = 0;
		int bits = 0;
		for (char *p = b64line; *p && n < sizeof raw; p++) {
			const char *q = strchr(tab, *p);
			if (!q || !*p)
				break;
			acc = (acc << 6) | (uint32_t)(q - tab);
			bits += 6;
			if (bits >= 8) {
				bits -= 8;
				raw[n++] = (unsigned char)(acc >> bits);
			}
		}
		const char *names[] = {"ssh-rsa", "ssh-ed25519", "ecdsa-sha2-nistp256", "ecdsa-sha2-nistp384",
		                       "ecdsa-sha2-nistp521", "ssh-dss"};
		for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
			if (memmem(raw, n, names[i], strlen(names[i]))) {
				snprintf(buf, cap, "%s", names[i]);
				return buf;
			}
		return NULL;
	}
	fclose(f);
	if (strstr(line, "RSA PRIVATE KEY"))
		return snprintf(buf, cap, "ssh-rsa"), buf;
	if (strstr(line, "EC PRIVATE KEY"))
		return snprintf(buf, cap, "ecdsa"), buf;
	return NULL;
}

/* OpenSSH >= 8.8 refuses ssh-rsa (SHA-1) signatures, the only RSA ones libssh2 < 1.11 makes. */
static int rsa_sha1_refused(sftp_inst *c)
{
	const char *v = libssh2_version(0);
	int maj = 0, min = 0;
	if (v && sscanf(v, "%d.%d", &maj, &min) == 2 && (maj > 1 || (maj == 1 && min >= 11)))
		return 0;
	const char *b = libssh2_session_banner_get(c->s);
	const char *o = b ? strstr(b, "OpenSSH_") : NULL;
	int smaj = 0, smin = 0;
	if (!o || sscanf(o + 8, "%d.%d", &smaj, &smin) != 2)
		return 0;
	return smaj > 8 || (smaj == 8 && smin >= 8);
}

static LIBSSH2_USERAUTH_KBDINT_RESPONSE_FUNC(kbd_cb)
{
	(void)name;
	(void)name_len;
	(void)instruction;
	(void)instruction_len;
	sftp_inst *c = *abstract;
	for (int i = 0; i < num_prompts; i++) {
		responses[i].text = NULL;
		responses[i].length = 0;
		if (c && c->password && !prompts[i].echo) {
			responses[i].text = strdup(c->password);
			responses[i].length = responses[i].text ? (unsigned)strlen(c->password) : 0;
		}
	}
}

static int authenticate(sftp_inst *c)
{
	const char *user = c->user;
	unsigned ulen = (unsigned)strlen(user);
	sftp_op o;
	sftp_op_start(&o, c, "authenticate as", user);
	char *methods;
	while (!(methods = libssh2_userauth_list(c->s, user, ulen)) &&
	       libssh2_session_last_errno(c->s) == LIBSSH2_ERROR_EAGAIN)
		if (sftp_op_wait(&o))
			return o.err;
	if (!methods) {
		if (libssh2_userauth_authenticated(c->s))
			return 0; /* "none" was accepted */
		return sftp_op_fail(&o, libssh2_session_last_errno(c->s));
	}
	char offered[256];
	snprintf(offered, sizeof offered, "%s", methods);
	char tried[1500] = "";
	int rsa_note = 0;
	int r;
	int has_pk = strstr(offered, "publickey") != NULL;

	/* 1. ssh-agent */
	const char *sock = getenv("SSH_AUTH_SOCK");
	if (!c->use_agent)
		tried_add(tried, sizeof tried, "ssh-agent (use_agent = no)");
	else if (!sock || !*sock)
		tried_add(tried, sizeof tried, "ssh-agent (SSH_AUTH_SOCK is not set)");
	else if (!has_pk)
		tried_add(tried, sizeof tried, "ssh-agent (skipped: no publickey)");
	else {
		LIBSSH2_AGENT *ag = libssh2_agent_init(c->s);
		int n = 0, ok = 0;
		if (!ag || libssh2_agent_connect(ag) != 0)
			tried_add(tried, sizeof tried, "ssh-agent (cannot connect to %s)", sock);
		else if (libssh2_agent_list_identities(ag) != 0)
			tried_add(tried, sizeof tried, "ssh-agent (cannot list its keys)");
		else {
			struct libssh2_agent_publickey *id = NULL, *prev = NULL;
			while (!ok && libssh2_agent_get_identity(ag, &id, prev) == 0) {
				prev = id;
				n++;
				sftp_op_start(&o, c, "authenticate with the agent as", user);
				while ((r = libssh2_agent_userauth(ag, user, id)) == LIBSSH2_ERROR_EAGAIN)
					if (sftp_op_wait(&o)) {
						libssh2_agent_disconnect(ag);
						libssh2_agent_free(ag);
						return o.err;
					}
				if (r == 0)
					ok = 1;
				else if (id->blob_len > 11 && !memcmp(id->blob + 4, "ssh-rsa", 7) && rsa_sha1_refused(c))
					rsa_note = 1;
				if (r && r != LIBSSH2_ERROR_AUTHENTICATION_FAILED && r != LIBSSH2_ERROR_PUBLICKEY_UNVERIFIED &&
				    r != LIBSSH2_ERROR_AGENT_PROTOCOL && libssh2_session_last_errno(c->s) < 0 &&
				    (r == LIBSSH2_ERROR_SOCKET_RECV || r == LIBSSH2_ERROR_SOCKET_SEND ||
				     r == LIBSSH2_ERROR_SOCKET_DISCONNECT)) {
					libssh2_agent_disconnect(ag);
					libssh2_agent_free(ag);
					return sftp_op_fail(&o, r);
				}
			}
			if (!ok)
				tried_add(tried, sizeof tried, "ssh-agent (%d key%s, none accepted)", n, n == 1 ? "" : "s");
		}
		if (ag) {
			libssh2_agent_disconnect(ag);
			libssh2_agent_free(ag);
		}
		if (ok) {
			c->host->log(c->h, LV_LOG_DEBUG, "authenticated as %s with a key from ssh-agent", user);
			return 0;
		}
	}

	/* 2. identity files */
	const char *named = c->host->config_get(c->h, "identity_file", 0);
	const char *pp_file = c->host->config_get(c->h, "identity_passphrase_file", 0);
	char *passphrase = NULL;
	if (pp_file) {
		char err[600];
		if (!(passphrase = sftp_read_secret(pp_file, err, sizeof err)))
			return sftp_err(c, LV_E_CONFIG, "sftp %s: identity_passphrase_file: %s", c->where, err);
		warn_if_open_perms(c, "identity_passphrase_file", pp_file);
	}
	char defaults[3][1100];
	const char *home = getenv("HOME");
	const char *defnames[3] = {"id_ed25519", "id_ecdsa", "id_rsa"};
	for (int i = 0; i < 3; i++)
		snprintf(defaults[i], sizeof defaults[i], "%s/.ssh/%s", home ? home : "", defnames[i]);
	int n_default_found = 0;
	for (unsigned i = 0;; i++) {
		const char *path = named ? c->host->config_get(c->h, "identity_file", i) : (i < 3 ? defaults[i] : NULL);
		if (!path)
			break;
		if (!has_pk)
			break;
		if (access(path, R_OK) != 0) {
			if (named)
				tried_add(tried, sizeof tried, "key %s (cannot read it: %s)", path, strerror(errno));
			continue;
		}
		if (!named)
			n_default_found++;
		sftp_op_start(&o, c, "authenticate with a key as", user);
		while ((r = libssh2_userauth_publickey_fromfile_ex(c->s, user, ulen, NULL, path, passphrase)) ==
		       LIBSSH2_ERROR_EAGAIN)
			if (sftp_op_wait(&o)) {
				sftp_free_secret(passphrase);
				return o.err;
			}
		if (r == 0) {
			sftp_free_secret(passphrase);
			c->host->log(c->h, LV_LOG_DEBUG, "authenticated as %s with %s", user, path);
			return 0;
		}
		char tb[64];
		const char *kt = key_file_type(path, tb, sizeof tb);
		if (r == LIBSSH2_ERROR_FILE)
			tried_add(tried, sizeof tried, "key %s (cannot load it: %s)", path,
			          passphrase ? "wrong passphrase or unsupported format"
			                     : "encrypted without identity_passphrase_file, or unsupported format");
		else if (r == LIBSSH2_ERROR_AUTHENTICATION_FAILED || r == LIBSSH2_ERROR_PUBLICKEY_UNVERIFIED) {
			tried_add(tried, sizeof tried, "key %s%s%s%s (refused by the server)", path, kt ? " (" : "", kt ? kt : "",
			          kt ? ")" : "");
			if (kt && !strcmp(kt, "ssh-rsa") && rsa_sha1_refused(c))
				rsa_note = 1;
		} else if (r == LIBSSH2_ERROR_SOCKET_RECV || r == LIBSSH2_ERROR_SOCKET_SEND ||
		           r == LIBSSH2_ERROR_SOCKET_DISCONNECT || r == LIBSSH2_ERROR_TIMEOUT) {
			sftp_free_secret(passphrase);
			return sftp_op_fail(&o, r);
		} else {
			char *m = NULL;
			libssh2_session_last_error(c->s, &m, NULL, 0);
			tried_add(tried, sizeof tried, "key %s (%s)", path, m ? m : "failed");
			if (kt && !strcmp(kt, "ssh-rsa") && rsa_sha1_refused(c))
				rsa_note = 1;
		}
	}
	sftp_free_secret(passphrase);
	if (has_pk && !named && !n_default_found)
		tried_add(tried, sizeof tried, "keys (none named in identity_file, none of ~/.ssh/id_ed25519, id_ecdsa, id_rsa exists)");

	/* 3. password from password_file */
	const char *pw_file = c->host->config_get(c->h, "password_file", 0);
	int has_pw = strstr(offered, "password") != NULL;
	int has_kbd = strstr(offered, "keyboard-interactive") != NULL;
	if (!pw_file)
		tried_add(tried, sizeof tried, "password (no password_file set)");
	else if (!has_pw && !has_kbd)
		tried_add(tried, sizeof tried, "password (not offered by the server)");
	else {
		char err[600];
		char *pw = sftp_read_secret(pw_file, err, sizeof err);
		if (!pw)
			return sftp_err(c, LV_E_CONFIG, "sftp %s: password_file: %s", c->where, err);
		warn_if_open_perms(c, "password_file", pw_file);
		sftp_op_start(&o, c, "authenticate with a password as", user);
		if (has_pw) {
			while ((r = libssh2_userauth_password_ex(c->s, user, ulen, pw, (unsigned)strlen(pw), NULL)) ==
			       LIBSSH2_ERROR_EAGAIN)
				if (sftp_op_wait(&o)) {
					sftp_free_secret(pw);
					return o.err;
				}
		} else {
			c->password = pw;
			while ((r = libssh2_userauth_keyboard_interactive_ex(c->s, user, ulen, kbd_cb)) == LIBSSH2_ERROR_EAGAIN)
				if (sftp_op_wait(&o)) {
					c->password = NULL;
					sftp_free_secret(pw);
					return o.err;
				}
			c->password = NULL;
		}
		sftp_free_secret(pw);
		if (r == 0) {
			c->host->log(c->h, LV_LOG_DEBUG, "authenticated as %s with the password from %s", user, pw_file);
			return 0;
		}
		if (r == LIBSSH2_ERROR_SOCKET_RECV || r == LIBSSH2_ERROR_SOCKET_SEND || r == LIBSSH2_ERROR_SOCKET_DISCONNECT)
			return sftp_op_fail(&o, r);
		tried_add(tried, sizeof tried, "%s from %s (refused)", has_pw ? "password" : "keyboard-interactive password",
		          pw_file);
	}
	return sftp_err(c, LV_E_AUTH,
	                "sftp %s: authentication as '%s' failed: the server offered %s; tried: %s%s%s%s",
	                c->where, user, offered, tried,
	                rsa_note ? ". Note: an RSA key cannot work here: this libssh2 (" : "",
	                rsa_note ? libssh2_version(0) : "",
	                rsa_note ? ") signs only with ssh-rsa (SHA-1), which OpenSSH 8.8 and later refuse; "
	                           "use an ed25519 or ECDSA key"
	                         : "");
}

/* ---- connect -------------------------------------------------------------- */

static int connect_once(sftp_inst *c, int *transient)
{
	*transient = 0;
	int rc = tcp_connect(c, transient);
	if (rc)
		return rc;
	c->s = libssh2_session_init_ex(NULL, NULL, NULL, c);
	if (!c->s)
		return sftp_err(c, LV_E_NOMEM, "sftp %s: cannot create an SSH session", c->where);
	libssh2_session_set_blocking(c->s, 0);
	if (c->keepalive > 0)
		libssh2_keepalive_config(c->s, 1, (unsigned)c->keepalive);

	const char *khpath = c->host->config_get(c->h, "known_hosts", 0);
	char khdef[1100];
	if (!khpath) {
		const char *home = getenv("HOME");
		snprintf(khdef, sizeof khdef, "%s/.ssh/known_hosts", home ? home : "");
		khpath = khdef;
	}
	kh_file kh = {0};
	if ((rc = kh_load(c, &kh, khpath))) {
		kh_free(&kh);
		return rc;
	}
	unsigned known = kh_types_for_host(c, &kh);
	prefer_known_types(c, known);

	sftp_op o;
	sftp_op_start(&o, c, "complete the SSH handshake", NULL);
	int r;
	while ((r = libssh2_session_handshake(c->s, c->sock)) == LIBSSH2_ERROR_EAGAIN)
		if (sftp_op_wait(&o)) {
			kh_free(&kh);
			*transient = o.err == LV_E_IO;
			return o.err;
		}
	if (r) {
		char *m = NULL;
		libssh2_session_last_error(c->s, &m, NULL, 0);
		kh_free(&kh);
		*transient = r == LIBSSH2_ERROR_SOCKET_RECV || r == LIBSSH2_ERROR_SOCKET_DISCONNECT ||
		             r == LIBSSH2_ERROR_SOCKET_SEND || r == LIBSSH2_ERROR_TIMEOUT || r == LIBSSH2_ERROR_BANNER_RECV;
		mark_broken(c, "the handshake failed");
		if (r == LIBSSH2_ERROR_KEX_FAILURE || r == LIBSSH2_ERROR_KEY_EXCHANGE_FAILURE || r == LIBSSH2_ERROR_METHOD_NONE)
			return sftp_err(c, LV_E_IO,
			                "sftp %s: SSH handshake failed: %s (libssh2 error %d). If the server and libssh2 %s share no "
			                "key exchange, cipher or host key algorithm: libssh2 before 1.11 cannot verify an RSA host key "
			                "with rsa-sha2, which OpenSSH 8.8 and later require, so such a server needs an ed25519 or ECDSA "
			                "host key",
			                c->where, m ? m : "no common algorithm", r, libssh2_version(0));
		return sftp_err(c, LV_E_IO, "sftp %s: SSH handshake failed: %s (libssh2 error %d)", c->where,
		                m ? m : "error", r);
	}
	rc = check_host_key(c, &kh, khpath, known);
	kh_free(&kh);
	if (rc)
		return rc;
	if ((rc = authenticate(c)))
		return rc;
	sftp_op_start(&o, c, "start the SFTP subsystem", NULL);
	while (!(c->sftp = libssh2_sftp_init(c->s)) && libssh2_session_last_errno(c->s) == LIBSSH2_ERROR_EAGAIN)
		if (sftp_op_wait(&o))
			return o.err;
	if (!c->sftp) {
		char *m = NULL;
		libssh2_session_last_error(c->s, &m, NULL, 0);
		mark_broken(c, "no SFTP subsystem");
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
		c->quiet = 1;
		c->cleanup_deadline = sftp_now_ms() + SFTP_CLEANUP_BUDGET * 1000;
	}
	if (c->s && c->sftp && !c->broken)
		return 0;
	if (sftp_now_ms() >= c->cleanup_deadline)
		return LV_E_IO;
	sftp_disconnect(c);
	int saved = c->timeout;
	c->timeout = SFTP_CLEANUP_BUDGET;
	int rc = sftp_connect(c);
	c->timeout = saved;
	if (rc)
		c->host->log(c->h, LV_LOG_DEBUG, "sftp %s: could not reconnect to clean up", c->where);
	return rc;
}

void sftp_cleanup_end(sftp_inst *c)
{
	c->cleanup_mode = 0;
	c->quiet = 0;
}
