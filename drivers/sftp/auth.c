/*
 * Authentication: a table of methods tried in order (as OpenSSH's
 * authmethods[] in sshconnect2.c), each skipped when the server does not
 * offer what it needs.  Every method says what it tried and why it failed,
 * so the final error lists it all.
 */
#include "sftp_int.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

typedef struct auth_run {
	sftp_inst *c;
	const char *user;
	unsigned ulen;
	char offered[256];       /* the methods the server offered */
	char tried[2000];        /* what was tried, and why it failed */
	int rsa_note;            /* an RSA key met OpenSSH >= 8.8 with libssh2 < 1.11 */
} auth_run;

/* 1 authenticated, 0 not (the reason added to tried), < 0 an lv error (described). */
typedef int (*auth_fn)(auth_run *a);

static void tried_add(auth_run *a, const char *fmt, ...) LV_PRINTF(2, 3);
static void tried_add(auth_run *a, const char *fmt, ...)
{
	size_t cap = sizeof a->tried, l = strlen(a->tried);
	if (l && l + 2 < cap) {
		memcpy(a->tried + l, "; ", 3);
		l += 2;
	}
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(a->tried + l, cap - l, fmt, ap);
	va_end(ap);
	sftp_debug(a->c, "auth: %s", a->tried + l);
}

static int is_socket_error(int r)
{
	return r == LIBSSH2_ERROR_SOCKET_RECV || r == LIBSSH2_ERROR_SOCKET_SEND || r == LIBSSH2_ERROR_SOCKET_DISCONNECT ||
	       r == LIBSSH2_ERROR_TIMEOUT;
}

/* "MAJOR.MINOR", then anything ("8.8p1"): 1 and both numbers, or 0. */
static int major_minor(const char *v, long *maj, long *min)
{
	char *end;
	errno = 0;
	*maj = strtol(v, &end, 10);
	if (end == v || *end != '.' || errno)
		return 0;
	const char *m = end + 1;
	*min = strtol(m, &end, 10);
	return end != m && !errno;
}

/* OpenSSH >= 8.8 refuses ssh-rsa (SHA-1) signatures, the only RSA ones libssh2 < 1.11 makes. */
static int rsa_sha1_refused(sftp_inst *c)
{
	const char *v = libssh2_version(0);
	long maj, min;
	if (v && major_minor(v, &maj, &min) && (maj > 1 || (maj == 1 && min >= 11)))
		return 0;
	const char *b = libssh2_session_banner_get(c->s);
	const char *o = b ? strstr(b, "OpenSSH_") : NULL;
	if (!o || !major_minor(o + 8, &maj, &min))
		return 0;
	return maj > 8 || (maj == 8 && min >= 8);
}

/* ---- key files ------------------------------------------------------------- */

/* Secrets (password, passphrase) in a file others can read: a warning. */
static void warn_if_open_perms(sftp_inst *c, const char *key, const char *path)
{
	struct stat st;
	if (stat(path, &st) == 0 && (st.st_mode & 077))
		c->host->log(c->h, LV_LOG_WARN, "%s %s can be read by other users (mode %03o); chmod 600 it", key, path,
		             (unsigned)(st.st_mode & 0777));
}

/* The public key blob of KEY.pub (its base64 field decoded): length, or -1. */
static long pub_blob(const char *path, unsigned char *out, size_t cap, char *type, size_t tcap)
{
	char pub[1100], b64[8192];
	snprintf(pub, sizeof pub, "%s.pub", path);
	FILE *f = fopen(pub, "re");
	if (!f)
		return -1;
	char fmt[32];
	snprintf(fmt, sizeof fmt, "%%%zus %%8191s", tcap - 1);
	int ok = fscanf(f, fmt, type, b64) == 2;
	fclose(f);
	return ok ? sftp_unb64(out, cap, b64) : -1;
}

/* The key type of a private key file: from KEY.pub, or the file's own header. NULL when unknown. */
static const char *key_file_type(const char *path, char *buf, size_t cap)
{
	unsigned char blob[4096];
	if (pub_blob(path, blob, sizeof blob, buf, cap) >= 0)
		return buf;
	FILE *f = fopen(path, "re");
	if (!f)
		return NULL;
	char line[200] = "", b64[400] = "";
	if (!fgets(line, sizeof line, f))
		line[0] = '\0';
	/* "openssh-key-v1\0", cipher, kdf...: the public key's type is in clear within the first lines */
	for (int i = 0; i < 4 && strstr(line, "OPENSSH PRIVATE KEY"); i++) {
		char more[120];
		if (!fgets(more, sizeof more, f))
			break;
		more[strcspn(more, "\r\n")] = '\0';
		strncat(b64, more, sizeof b64 - strlen(b64) - 1);
	}
	fclose(f);
	if (b64[0]) {
		unsigned char raw[320];
		long n = sftp_unb64(raw, sizeof raw, b64);
		const char *names[] = {"sk-ssh-ed25519@openssh.com", "sk-ecdsa-sha2-nistp256@openssh.com", "ssh-rsa",
		                       "ssh-ed25519", "ecdsa-sha2-nistp256", "ecdsa-sha2-nistp384", "ecdsa-sha2-nistp521",
		                       "ssh-dss"};
		for (size_t i = 0; n > 0 && i < sizeof names / sizeof names[0]; i++)
			if (memmem(raw, (size_t)n, names[i], strlen(names[i])))
				return snprintf(buf, cap, "%s", names[i]), buf;
		return NULL;
	}
	if (strstr(line, "RSA PRIVATE KEY"))
		return snprintf(buf, cap, "ssh-rsa"), buf;
	if (strstr(line, "EC PRIVATE KEY"))
		return snprintf(buf, cap, "ecdsa"), buf;
	return NULL;
}

/*
 * Whether a key file can be tried: 1 yes; 0 skipped, saying why (missing,
 * unprotected as OpenSSH refuses it, a security key or a certificate).
 */
static int keyfile_usable(auth_run *a, const char *path, int *found)
{
	sftp_inst *c = a->c;
	int named = c->identity_src != SFTP_SRC_DEFAULT;
	struct stat st;
	if (stat(path, &st) != 0 || access(path, R_OK) != 0) {
		if (named)
			tried_add(a, "key %s (cannot read it: %s)", path, strerror(errno));
		return 0;
	}
	(*found)++;
	if ((st.st_uid == geteuid() || st.st_uid == getuid()) && (st.st_mode & 077)) {
		c->host->log(c->h, LV_LOG_WARN, "sftp %s: unprotected private key file %s (mode %04o): ignored, as OpenSSH does",
		             c->where, path, (unsigned)(st.st_mode & 07777));
		tried_add(a,
		          "key %s (unprotected private key file: mode %04o lets group or others at it; OpenSSH refuses it too: "
		          "chmod 600 it)",
		          path, (unsigned)(st.st_mode & 07777));
		return 0;
	}
	size_t pl = strlen(path);
	char tb[64];
	const char *kt = key_file_type(path, tb, sizeof tb);
	if ((kt && !strncmp(kt, "sk-", 3)) || (pl > 3 && !strcmp(path + pl - 3, "_sk"))) {
		tried_add(a, "key %s (a security key%s%s: libssh2 %s cannot use it)", path, kt ? ", " : "", kt ? kt : "",
		          libssh2_version(0));
		return 0;
	}
	if ((kt && strstr(kt, "-cert-v01@")) || (pl > 9 && !strcmp(path + pl - 9, "-cert.pub"))) {
		tried_add(a, "key %s (a certificate: libssh2 %s has none)", path, libssh2_version(0));
		return 0;
	}
	return 1;
}

/* Try one key file: 1 authenticated, 0 refused (noted), < 0 error. */
static int keyfile_try(auth_run *a, const char *path, const char *passphrase)
{
	sftp_inst *c = a->c;
	sftp_op o;
	sftp_op_start(&o, c, "authenticate with a key as", a->user);
	int r;
	while ((r = libssh2_userauth_publickey_fromfile_ex(c->s, a->user, a->ulen, NULL, path, passphrase)) ==
	       LIBSSH2_ERROR_EAGAIN)
		if (sftp_op_wait(&o))
			return o.err;
	if (r == 0) {
		sftp_debug(c, "auth: authenticated as %s with %s", a->user, path);
		return 1;
	}
	if (is_socket_error(r))
		return sftp_op_fail(&o, r);
	char tb[64];
	const char *kt = key_file_type(path, tb, sizeof tb);
	int rsa = kt && !strcmp(kt, "ssh-rsa") && rsa_sha1_refused(c);
	if (r == LIBSSH2_ERROR_FILE)
		tried_add(a, "key %s (cannot load it: %s)", path,
		          passphrase ? "wrong passphrase or unsupported format"
		                     : "encrypted without identity_passphrase_file, or unsupported format");
	else if (r == LIBSSH2_ERROR_AUTHENTICATION_FAILED || r == LIBSSH2_ERROR_PUBLICKEY_UNVERIFIED) {
		tried_add(a, "key %s%s%s%s (refused by the server)", path, kt ? " (" : "", kt ? kt : "", kt ? ")" : "");
		a->rsa_note |= rsa;
	} else {
		char *m = NULL;
		libssh2_session_last_error(c->s, &m, NULL, 0);
		tried_add(a, "key %s (%s)", path, m ? m : "failed");
		a->rsa_note |= rsa;
	}
	return 0;
}

static int auth_keyfiles(auth_run *a)
{
	sftp_inst *c = a->c;
	char *passphrase = NULL;
	const char *pp_file = c->keys.identity_passphrase_file;
	if (pp_file) {
		char err[600];
		if (!(passphrase = sftp_read_secret(pp_file, err, sizeof err)))
			return sftp_err(c, LV_E_CONFIG, "sftp %s: identity_passphrase_file: %s", c->where, err);
		warn_if_open_perms(c, "identity_passphrase_file", pp_file);
	}
	int found = 0, r = 0;
	for (size_t i = 0; c->identity[i] && r == 0; i++)
		if (keyfile_usable(a, c->identity[i], &found))
			r = keyfile_try(a, c->identity[i], passphrase);
	sftp_free_secret(passphrase);
	if (r == 0 && c->identity_src == SFTP_SRC_DEFAULT && !found)
		tried_add(a, "keys (none named in identity_file or ssh_config, none of ~/.ssh/id_ed25519, id_ecdsa, id_rsa "
		             "exists)");
	return r;
}

/* ---- the agent --------------------------------------------------------------- */

/* With IdentitiesOnly: is this agent key one of the identity files' (their .pub)? */
static int agent_key_allowed(sftp_inst *c, const struct libssh2_agent_publickey *id)
{
	if (!c->identities_only)
		return 1;
	for (size_t i = 0; c->identity[i]; i++) {
		unsigned char blob[4096];
		char type[128];
		long n = pub_blob(c->identity[i], blob, sizeof blob, type, sizeof type);
		if (n > 0 && (size_t)n == id->blob_len && !memcmp(blob, id->blob, (size_t)n))
			return 1;
	}
	return 0;
}

/* Each key of a connected agent: 1, 0, or < 0. */
static int agent_try_keys(auth_run *a, LIBSSH2_AGENT *ag)
{
	sftp_inst *c = a->c;
	struct libssh2_agent_publickey *id = NULL, *prev = NULL;
	int n = 0, skipped = 0, r;
	while (libssh2_agent_get_identity(ag, &id, prev) == 0) {
		prev = id;
		if (!agent_key_allowed(c, id)) {
			skipped++;
			continue;
		}
		n++;
		sftp_op o;
		sftp_op_start(&o, c, "authenticate with the agent as", a->user);
		while ((r = libssh2_agent_userauth(ag, a->user, id)) == LIBSSH2_ERROR_EAGAIN)
			if (sftp_op_wait(&o))
				return o.err;
		if (r == 0) {
			sftp_debug(c, "auth: authenticated as %s with a key from ssh-agent (%s)", a->user,
			           id->comment ? id->comment : "");
			return 1;
		}
		if (id->blob_len > 11 && !memcmp(id->blob + 4, "ssh-rsa", 7) && rsa_sha1_refused(c))
			a->rsa_note = 1;
		if (is_socket_error(r) && libssh2_session_last_errno(c->s) < 0)
			return sftp_op_fail(&o, r);
	}
	tried_add(a, "ssh-agent (%d key%s, none accepted%s)", n, n == 1 ? "" : "s",
	          skipped ? "; others skipped: IdentitiesOnly yes" : "");
	return 0;
}

static int auth_agent(auth_run *a)
{
	sftp_inst *c = a->c;
	const char *sock = c->agent_path ? c->agent_path : secure_getenv("SSH_AUTH_SOCK");
	if (!c->use_agent) {
		tried_add(a, "ssh-agent (use_agent = no, or IdentityAgent none)");
		return 0;
	}
	if (!sock || !*sock) {
		tried_add(a, "ssh-agent (SSH_AUTH_SOCK is not set)");
		return 0;
	}
	LIBSSH2_AGENT *ag = libssh2_agent_init(c->s);
	int r = 0;
	if (ag && c->agent_path)
		libssh2_agent_set_identity_path(ag, c->agent_path);
	if (!ag || libssh2_agent_connect(ag) != 0)
		tried_add(a, "ssh-agent (cannot connect to %s)", sock);
	else if (libssh2_agent_list_identities(ag) != 0)
		tried_add(a, "ssh-agent (cannot list its keys)");
	else
		r = agent_try_keys(a, ag);
	if (ag) {
		libssh2_agent_disconnect(ag);
		libssh2_agent_free(ag);
	}
	return r;
}

/* ---- password ---------------------------------------------------------------- */

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

static int password_send(auth_run *a, const char *pw, int kbd, sftp_op *o)
{
	sftp_inst *c = a->c;
	int r;
	if (!kbd) {
		while ((r = libssh2_userauth_password_ex(c->s, a->user, a->ulen, pw, (unsigned)strlen(pw), NULL)) ==
		       LIBSSH2_ERROR_EAGAIN)
			if (sftp_op_wait(o))
				return o->err;
		return r;
	}
	c->password = (char *)pw;
	while ((r = libssh2_userauth_keyboard_interactive_ex(c->s, a->user, a->ulen, kbd_cb)) == LIBSSH2_ERROR_EAGAIN)
		if (sftp_op_wait(o)) {
			r = o->err;
			break;
		}
	c->password = NULL;
	return r;
}

static int auth_password(auth_run *a)
{
	sftp_inst *c = a->c;
	const char *pw_file = c->keys.password_file;
	int has_pw = strstr(a->offered, "password") != NULL;
	int has_kbd = strstr(a->offered, "keyboard-interactive") != NULL;
	if (!pw_file) {
		tried_add(a, "password (no password_file set)");
		return 0;
	}
	if (!has_pw && !has_kbd) {
		tried_add(a, "password (not offered by the server)");
		return 0;
	}
	char err[600];
	char *pw = sftp_read_secret(pw_file, err, sizeof err);
	if (!pw)
		return sftp_err(c, LV_E_CONFIG, "sftp %s: password_file: %s", c->where, err);
	warn_if_open_perms(c, "password_file", pw_file);
	sftp_op o;
	sftp_op_start(&o, c, "authenticate with a password as", a->user);
	int r = password_send(a, pw, !has_pw, &o);
	sftp_free_secret(pw);
	if (r == 0) {
		sftp_debug(c, "auth: authenticated as %s with the password from %s", a->user, pw_file);
		return 1;
	}
	if (r < 0 && o.err == r)
		return r; /* canceled or timed out: described */
	if (is_socket_error(r))
		return sftp_op_fail(&o, r);
	tried_add(a, "%s from %s (refused)", has_pw ? "password" : "keyboard-interactive password", pw_file);
	return 0;
}

/* ---- the table --------------------------------------------------------------- */

static const struct auth_method {
	const char *name;        /* in messages and -vv */
	const char *needs;       /* the server must offer this (NULL: the method decides) */
	auth_fn run;
} auth_methods[] = {
	{"ssh-agent", "publickey", auth_agent},
	{"keys", "publickey", auth_keyfiles},
	{"password", NULL, auth_password},
};

/* The methods the server offers ("none" may already have been accepted: 1). */
static int auth_list(auth_run *a)
{
	sftp_inst *c = a->c;
	sftp_op o;
	sftp_op_start(&o, c, "authenticate as", a->user);
	char *methods;
	while (!(methods = libssh2_userauth_list(c->s, a->user, a->ulen)) &&
	       libssh2_session_last_errno(c->s) == LIBSSH2_ERROR_EAGAIN)
		if (sftp_op_wait(&o))
			return o.err;
	if (!methods) {
		if (libssh2_userauth_authenticated(c->s))
			return 1;
		return sftp_op_fail(&o, libssh2_session_last_errno(c->s));
	}
	snprintf(a->offered, sizeof a->offered, "%s", methods);
	sftp_debug(c, "auth: the server offers %s", a->offered);
	return 0;
}

int sftp_authenticate(sftp_inst *c)
{
	auth_run a = {.c = c, .user = c->user, .ulen = (unsigned)strlen(c->user)};
	int r = auth_list(&a);
	if (r)
		return r < 0 ? r : 0;
	for (size_t i = 0; i < sizeof auth_methods / sizeof auth_methods[0]; i++) {
		const struct auth_method *m = &auth_methods[i];
		if (m->needs && !strstr(a.offered, m->needs)) {
			tried_add(&a, "%s (skipped: the server does not offer %s)", m->name, m->needs);
			continue;
		}
		sftp_debug(c, "auth: trying %s", m->name);
		if ((r = m->run(&a)))
			return r < 0 ? r : 0;
	}
	return sftp_err(c, LV_E_AUTH, "sftp %s: authentication as '%s' failed: the server offered %s; tried: %s%s%s%s",
	                c->where, c->user, a.offered, a.tried,
	                a.rsa_note ? ". Note: an RSA key cannot work here: this libssh2 (" : "",
	                a.rsa_note ? libssh2_version(0) : "",
	                a.rsa_note ? ") signs only with ssh-rsa (SHA-1), which OpenSSH 8.8 and later refuse; "
	                             "use an ed25519 or ECDSA key"
	                           : "");
}
