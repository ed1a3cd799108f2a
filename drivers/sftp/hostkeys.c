/*
 * Host keys: the server's key is checked against OpenSSH's known_hosts
 * files (the user's, then the global ones) before any authentication.
 * accept-new adds an unknown host to the first user file, hashed as
 * OpenSSH writes it when HashKnownHosts is yes: |1|base64(salt)|base64(
 * HMAC-SHA1(salt, host)), with libcrypto's HMAC and base64.
 */
#include "sftp_int.h"

#include <errno.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

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

typedef struct kh_where {
	int file;          /* index into paths */
	int line;
} kh_where;

struct sftp_kh {
	LIBSSH2_KNOWNHOSTS *kh;
	const char *paths[2 * SFTP_MAX_LIST + 1];
	int missing[2 * SFTP_MAX_LIST + 1];
	size_t n_paths;
	struct libssh2_knownhost **nodes;
	kh_where *node_at;
	size_t n_nodes;
	char **revoked;        /* base64 key blobs of @revoked lines */
	kh_where *revoked_at;
	size_t n_revoked;
	unsigned known;        /* key types known_hosts holds for the host (bit i = key_types[i]) */
};

void sftp_kh_free(sftp_kh *k)
{
	if (!k)
		return;
	if (k->kh)
		libssh2_knownhost_free(k->kh);
	free(k->nodes);
	free(k->node_at);
	for (size_t i = 0; i < k->n_revoked; i++)
		free(k->revoked[i]);
	free(k->revoked);
	free(k->revoked_at);
	free(k);
}

/* ---- reading ------------------------------------------------------------- */

/* "@revoked HOSTS TYPE KEY": remember KEY. */
static void kh_revoked(sftp_kh *k, char *rest, kh_where at)
{
	char *save = NULL, *tok = strtok_r(rest, " \t", &save);
	tok = tok ? strtok_r(NULL, " \t", &save) : NULL;
	tok = tok ? strtok_r(NULL, " \t", &save) : NULL;
	if (!tok)
		return;
	char **nr = realloc(k->revoked, (k->n_revoked + 1) * sizeof *nr);
	if (!nr)
		return;
	k->revoked = nr;
	kh_where *na = realloc(k->revoked_at, (k->n_revoked + 1) * sizeof *na);
	if (!na)
		return;
	k->revoked_at = na;
	if ((k->revoked[k->n_revoked] = strdup(tok)))
		k->revoked_at[k->n_revoked++] = at;
}

/* Remember where the entries libssh2 just added came from. */
static void kh_note_nodes(sftp_kh *k, kh_where at)
{
	struct libssh2_knownhost *n, *last = k->n_nodes ? k->nodes[k->n_nodes - 1] : NULL;
	while (libssh2_knownhost_get(k->kh, &n, last) == 0) {
		struct libssh2_knownhost **nn = realloc(k->nodes, (k->n_nodes + 1) * sizeof *nn); // NOLINT(bugprone-sizeof-expression): an array of pointers
		if (!nn)
			return;
		k->nodes = nn;
		kh_where *na = realloc(k->node_at, (k->n_nodes + 1) * sizeof *na);
		if (!na)
			return;
		k->node_at = na;
		k->nodes[k->n_nodes] = n;
		k->node_at[k->n_nodes++] = at;
		last = n;
	}
}

/*
 * Read one file line by line (so one line libssh2 does not understand, such
 * as @cert-authority or a security-key type, does not hide the others).
 */
static int kh_read_file(sftp_inst *c, sftp_kh *k, int fi)
{
	const char *path = k->paths[fi];
	FILE *fp = fopen(path, "re");
	if (!fp) {
		if (errno == ENOENT || errno == ENOTDIR) {
			k->missing[fi] = 1;
			return 0;
		}
		return sftp_err(c, LV_E_IO, "sftp %s: cannot read known_hosts %s: %s", c->where, path, strerror(errno));
	}
	char *line = NULL;
	size_t cap = 0;
	ssize_t len;
	kh_where at = {fi, 0};
	while ((len = getline(&line, &cap, fp)) >= 0) {
		at.line++;
		while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r'))
			line[--len] = '\0';
		char *p = line + strspn(line, " \t");
		if (!*p || *p == '#')
			continue;
		if (*p == '@') {
			if (!strncmp(p, "@revoked", 8) && (p[8] == ' ' || p[8] == '\t'))
				kh_revoked(k, p + 8, at);
			continue; /* @cert-authority: libssh2 has no certificates */
		}
		if (libssh2_knownhost_readline(k->kh, p, (size_t)(len - (p - line)), LIBSSH2_KNOWNHOST_FILE_OPENSSH)) {
			sftp_debug(c, "%s line %d: not understood by libssh2, skipped", path, at.line);
			continue;
		}
		kh_note_nodes(k, at);
	}
	free(line);
	fclose(fp);
	return 0;
}

/* Which key types known_hosts holds for this host. */
static unsigned kh_types_for_host(sftp_inst *c, sftp_kh *k)
{
	unsigned m = 0;
	for (size_t i = 0; i < N_KEY_TYPES; i++) {
		/* a one-byte key never matches: MISMATCH means an entry of this type exists */
		int r = libssh2_knownhost_checkp(k->kh, c->hostpat, -1, "\x01", 1,
		                                 LIBSSH2_KNOWNHOST_TYPE_PLAIN | LIBSSH2_KNOWNHOST_KEYENC_RAW |
		                                     key_types[i].kh,
		                                 NULL);
		if (r == LIBSSH2_KNOWNHOST_CHECK_MISMATCH || r == LIBSSH2_KNOWNHOST_CHECK_MATCH)
			m |= 1u << i;
	}
	return m;
}

int sftp_kh_load(sftp_inst *c, sftp_kh **out)
{
	*out = NULL;
	sftp_kh *k = calloc(1, sizeof *k);
	if (!k || !(k->kh = libssh2_knownhost_init(c->s))) {
		free(k);
		return sftp_err(c, LV_E_NOMEM, "sftp %s: out of memory for known_hosts", c->where);
	}
	for (size_t i = 0; c->kh_user[i]; i++)
		k->paths[k->n_paths++] = c->kh_user[i];
	for (size_t i = 0; c->kh_global[i]; i++)
		k->paths[k->n_paths++] = c->kh_global[i];
	for (size_t i = 0; i < k->n_paths; i++) {
		int rc = kh_read_file(c, k, (int)i);
		if (rc) {
			sftp_kh_free(k);
			return rc;
		}
	}
	k->known = kh_types_for_host(c, k);
	*out = k;
	return 0;
}

/* Prefer the host key types known_hosts already has for this host (as OpenSSH does). */
void sftp_kh_prefer(sftp_inst *c, sftp_kh *k)
{
	if (!k->known)
		return;
	char pref[300] = "";
	for (int pass = 0; pass < 2; pass++)
		for (size_t i = 0; i < N_KEY_TYPES; i++) {
			if (!!(k->known & (1u << i)) != (pass == 0))
				continue;
			if (pref[0])
				strncat(pref, ",", sizeof pref - strlen(pref) - 1);
			strncat(pref, key_types[i].name, sizeof pref - strlen(pref) - 1);
		}
	if (libssh2_session_method_pref(c->s, LIBSSH2_METHOD_HOSTKEY, pref) != 0)
		sftp_debug(c, "host key preference '%s' not accepted by libssh2", pref);
}

/* ---- writing (accept-new) ------------------------------------------------- */

/* The host field of a new line: the plain pattern, or |1|salt|hash. */
static int kh_host_field(sftp_inst *c, char *out, size_t cap)
{
	if (!c->hash_known_hosts) {
		snprintf(out, cap, "%s", c->hostpat);
		return 0;
	}
	unsigned char salt[20], mac[EVP_MAX_MD_SIZE];
	unsigned int maclen = 0;
	if (RAND_bytes(salt, sizeof salt) != 1 ||
	    !HMAC(EVP_sha1(), salt, sizeof salt, (const unsigned char *)c->hostpat, strlen(c->hostpat), mac, &maclen) ||
	    maclen != 20)
		return sftp_err(c, LV_E_IO, "sftp %s: cannot hash the host name for known_hosts (libcrypto's HMAC-SHA1 failed)",
		                c->where);
	char s64[64], h64[64];
	sftp_b64(s64, sizeof s64, salt, sizeof salt, 1);
	sftp_b64(h64, sizeof h64, mac, maclen, 1);
	snprintf(out, cap, "|1|%s|%s", s64, h64);
	return 0;
}

static int kh_needs_newline(const char *path, int fd)
{
	struct stat st;
	char last = '\n';
	if (fstat(fd, &st) != 0 || st.st_size == 0)
		return 0;
	int rfd = open(path, O_RDONLY | O_CLOEXEC);
	if (rfd >= 0) {
		if (pread(rfd, &last, 1, st.st_size - 1) != 1)
			last = '\n';
		close(rfd);
	}
	return last != '\n';
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
	char field[400];
	int rc = kh_host_field(c, field, sizeof field);
	if (rc)
		return rc;
	int fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
	if (fd < 0)
		return sftp_err(c, LV_E_IO, "sftp %s: cannot add the host key to %s: %s", c->where, path, strerror(errno));
	char *line = NULL;
	int n = asprintf(&line, "%s%s %s %s\n", kh_needs_newline(path, fd) ? "\n" : "", field, type, b64);
	if (n < 0)
		rc = LV_E_NOMEM;
	else if (write(fd, line, (size_t)n) != n || fsync(fd) < 0)
		rc = sftp_err(c, LV_E_IO, "sftp %s: cannot add the host key to %s: %s", c->where, path, strerror(errno));
	free(line);
	close(fd);
	return rc;
}

/* ---- checking -------------------------------------------------------------- */

typedef struct server_key {
	const char *key;
	size_t len;
	size_t ti;             /* index into key_types */
	char fp[80];           /* SHA256:... as OpenSSH prints it */
	char *b64;
} server_key;

static int server_key_get(sftp_inst *c, server_key *sk)
{
	int ktype = 0;
	sk->key = libssh2_session_hostkey(c->s, &sk->len, &ktype);
	if (!sk->key || !sk->len)
		return sftp_err(c, LV_E_HOST_KEY, "sftp %s: the server sent no host key", c->where);
	sk->ti = N_KEY_TYPES;
	for (size_t i = 0; i < N_KEY_TYPES; i++)
		if (key_types[i].hk == ktype)
			sk->ti = i;
	if (sk->ti == N_KEY_TYPES)
		return sftp_err(c, LV_E_HOST_KEY, "sftp %s: the server's host key is of a type libssh2 does not know (%d)",
		                c->where, ktype);
	const char *digest = libssh2_hostkey_hash(c->s, LIBSSH2_HOSTKEY_HASH_SHA256);
	snprintf(sk->fp, sizeof sk->fp, "SHA256:");
	if (digest)
		sftp_b64(sk->fp + 7, sizeof sk->fp - 7, (const unsigned char *)digest, 32, 0);
	else
		snprintf(sk->fp, sizeof sk->fp, "(no SHA256 fingerprint)");
	size_t blen = (sk->len + 2) / 3 * 4 + 1;
	if (!(sk->b64 = malloc(blen)))
		return LV_E_NOMEM;
	sftp_b64(sk->b64, blen, (const unsigned char *)sk->key, sk->len, 1);
	return 0;
}

/* "FILE, FILE (the file does not exist)" */
static void kh_files_text(sftp_kh *k, char *buf, size_t cap)
{
	size_t l = 0;
	buf[0] = '\0';
	for (size_t i = 0; i < k->n_paths && l + 1 < cap; i++) {
		l += (size_t)snprintf(buf + l, cap - l, "%s%s%s", i ? ", " : "", k->paths[i],
		                      k->missing[i] ? " (the file does not exist)" : "");
	}
}

static int kh_changed(sftp_inst *c, sftp_kh *k, const server_key *sk, struct libssh2_knownhost *found)
{
	const char *tname = key_types[sk->ti].name;
	char at[1200] = "known_hosts";
	for (size_t i = 0; found && i < k->n_nodes; i++)
		if (k->nodes[i] == found)
			snprintf(at, sizeof at, "%s line %d", k->paths[k->node_at[i].file], k->node_at[i].line);
	return sftp_err(c, LV_E_HOST_KEY,
	                "sftp %s: HOST KEY CHANGED for %s: the server offers the %s key %s, but %s holds another %s key. "
	                "Someone may be intercepting the connection, or the server was reinstalled. "
	                "Refusing to connect. If you have checked with the server's administrator that the new key is right, "
	                "remove the old entry (ssh-keygen -R '%s' -f %s) and connect again",
	                c->where, c->hostpat, tname, sk->fp, at, tname, c->hostpat, c->kh_user[0]);
}

static int kh_unknown(sftp_inst *c, sftp_kh *k, const server_key *sk)
{
	const char *tname = key_types[sk->ti].name;
	if (k->known) {
		char kn[200] = "";
		for (size_t i = 0; i < N_KEY_TYPES; i++)
			if (k->known & (1u << i)) {
				if (kn[0])
					strncat(kn, ", ", sizeof kn - strlen(kn) - 1);
				strncat(kn, key_types[i].name, sizeof kn - strlen(kn) - 1);
			}
		return sftp_err(c, LV_E_HOST_KEY,
		                "sftp %s: known_hosts holds a %s key for %s, but the server offered only a %s key (%s); "
		                "refusing to connect (a changed key type is treated as a changed key)",
		                c->where, kn, c->hostpat, tname, sk->fp);
	}
	if (!c->accept_new) {
		char files[1500];
		kh_files_text(k, files, sizeof files);
		return sftp_err(c, LV_E_HOST_KEY,
		                "sftp %s: host %s is not in known_hosts %s; the server's %s key is %s. "
		                "Check this fingerprint with the server's administrator (ssh-keygen -lf /etc/ssh/ssh_host_*_key.pub "
		                "on the server), then add it (ssh-keyscan -p %d %s >> %s) or set strict_host_key_checking = accept-new",
		                c->where, c->hostpat, files, tname, sk->fp, c->port, c->hostname, c->kh_user[0]);
	}
	int rc = kh_append(c, c->kh_user[0], tname, sk->b64);
	if (!rc)
		c->host->log(c->h, LV_LOG_WARN, "added the %s host key %s of %s to %s%s (strict_host_key_checking = accept-new)",
		             tname, sk->fp, c->hostpat, c->kh_user[0], c->hash_known_hosts ? ", hashed" : "");
	return rc;
}

int sftp_kh_check(sftp_inst *c, sftp_kh *k)
{
	server_key sk = {0};
	int rc = server_key_get(c, &sk);
	if (rc) {
		free(sk.b64);
		return rc;
	}
	for (size_t i = 0; i < k->n_revoked; i++)
		if (!strcmp(k->revoked[i], sk.b64)) {
			rc = sftp_err(c, LV_E_HOST_KEY,
			              "sftp %s: the server's %s host key %s is marked @revoked in %s line %d; refusing to connect",
			              c->where, key_types[sk.ti].name, sk.fp, k->paths[k->revoked_at[i].file],
			              k->revoked_at[i].line);
			free(sk.b64);
			return rc;
		}
	struct libssh2_knownhost *found = NULL;
	int r = libssh2_knownhost_checkp(k->kh, c->hostpat, -1, sk.key, sk.len,
	                                 LIBSSH2_KNOWNHOST_TYPE_PLAIN | LIBSSH2_KNOWNHOST_KEYENC_RAW |
	                                     key_types[sk.ti].kh,
	                                 &found);
	if (r == LIBSSH2_KNOWNHOST_CHECK_MATCH)
		sftp_debug(c, "host key %s %s of %s found in known_hosts", key_types[sk.ti].name, sk.fp, c->hostpat);
	else if (r == LIBSSH2_KNOWNHOST_CHECK_MISMATCH)
		rc = kh_changed(c, k, &sk, found);
	else if (r == LIBSSH2_KNOWNHOST_CHECK_NOTFOUND)
		rc = kh_unknown(c, k, &sk);
	else
		rc = sftp_err(c, LV_E_HOST_KEY, "sftp %s: cannot check the host key against known_hosts", c->where);
	free(sk.b64);
	return rc;
}
