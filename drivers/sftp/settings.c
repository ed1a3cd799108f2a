/*
 * The sftp driver's settings: the URI, licvault's keys and OpenSSH's client
 * configuration, and the one precedence that combines them:
 *
 *   1. the URI (user, host, port);
 *   2. keys SET in the location's section or [driver "sftp"] (a key the
 *      config does not hold is not set: its declared default does not count);
 *   3. what OpenSSH's configuration SET for the host (`ssh -G`, sshconfig.c);
 *   4. licvault's defaults.
 *
 * sftp_read_keys is the only function that reads the config (through the
 * host's typed getter, config_value); sftp_parse_uri (and the steps it
 * calls) the only code that reads the URI (split and decoded by the host,
 * uri_parse).
 */
#include "sftp_int.h"

#include <errno.h>
#include <limits.h>
#include <netdb.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/auxv.h>
#include <unistd.h>

#define DEFAULT_TIMEOUT 30
#define DEFAULT_KEEPALIVE 30
#define DEFAULT_RETRIES 2

/* ---- licvault's keys: the one place config is read ------------------------ */

/*
 * A key's value through the host's typed getter (one parser for every
 * driver: the host checks the type and range it was declared with, and
 * describes a bad value with its file and line).  *v->text is NULL when the
 * key is not SET (its declared default does not count here: see the
 * precedence above).
 */
static int key_value(sftp_inst *c, const char *key, lv_config_value *v)
{
	int rc = c->host->config_value(c->h, key, v);
	if (!rc && !v->set)
		v->text = NULL;
	return rc;
}

static int key_number(sftp_inst *c, const char *key, int *out)
{
	lv_config_value v;
	int rc = key_value(c, key, &v);
	*out = !rc && v.text ? (int)v.number : -1;
	return rc;
}

static int key_text(sftp_inst *c, const char *key, const char **out)
{
	lv_config_value v;
	int rc = key_value(c, key, &v);
	*out = !rc && v.text && *v.text ? v.text : NULL;
	return rc;
}

/* ssh_config: yes, no (as booleans are written), or the absolute path of a file. */
static int key_ssh_config(sftp_inst *c)
{
	sftp_keys *k = &c->keys;
	const char *v;
	int rc = key_text(c, "ssh_config", &v);
	k->ssh_config = 1;
	if (rc || !v)
		return rc;
	if (!strcasecmp(v, "no") || !strcasecmp(v, "false") || !strcmp(v, "0") || !strcasecmp(v, "off"))
		k->ssh_config = 0;
	else if (strcasecmp(v, "yes") && strcasecmp(v, "true") && strcmp(v, "1") && strcasecmp(v, "on")) {
		if (v[0] != '/')
			return sftp_err(c, LV_E_CONFIG, "sftp: ssh_config = '%s': expected yes, no, or the absolute path of a file",
			                v);
		k->ssh_config_file = v;
	}
	return 0;
}

int sftp_read_keys(sftp_inst *c)
{
	sftp_keys *k = &c->keys;
	int rc;
	if ((rc = key_number(c, "timeout", &k->timeout)) || (rc = key_number(c, "keepalive_interval", &k->keepalive)) ||
	    (rc = key_number(c, "connect_retries", &k->retries)) || (rc = key_number(c, "use_agent", &k->use_agent)) ||
	    (rc = key_number(c, "strict_host_key_checking", &k->accept_new)) || (rc = key_text(c, "user", &k->user)) ||
	    (rc = key_text(c, "known_hosts", &k->known_hosts)) ||
	    (rc = key_text(c, "identity_passphrase_file", &k->identity_passphrase_file)) ||
	    (rc = key_text(c, "password_file", &k->password_file)) || (rc = key_ssh_config(c)))
		return rc;
	lv_config_value v;
	if ((rc = key_value(c, "ssh_command", &v)))
		return rc;
	k->ssh_command = v.text;
	if (k->ssh_command && !*k->ssh_command)
		return sftp_err(c, LV_E_CONFIG, "sftp: ssh_command is empty: name the ssh program, or set ssh_config = no");
	/* a key given several times: the typed getter gives one value, config_get each */
	for (unsigned i = 0; i < SFTP_MAX_LIST && (k->identity[i] = c->host->config_get(c->h, "identity_file", i)); i++)
		;
	return 0;
}

/* ---- the URI: split and decoded by the host (uri_parse) ---------------------- */

static int uri_user(sftp_inst *c, const char *uri, const lv_uri *u)
{
	if (u->password)
		/* never echo the URI: it holds a password */
		return sftp_err(c, LV_E_BAD_URI,
		                "an sftp URI may not hold a password (user:password@host): it would end up in shell history, "
		                "process lists and logs. Use ssh-agent or a key (identity_file), or put the password in a file "
		                "readable only by you and name it with password_file in [driver \"sftp\"] or the location's section");
	if (!u->user)
		return 0;
	if (!*u->user)
		return sftp_err(c, LV_E_BAD_URI, "'%s': empty user name before '@'", uri);
	if (u->user[0] == '-' || strpbrk(u->user, " \t\r\n'\"`$\\;&<>|(){}"))
		return sftp_err(c, LV_E_BAD_URI, "'%s': the user name '%s' begins with '-' or holds a character OpenSSH refuses",
		                uri, u->user);
	return (c->uri_user = strdup(u->user)) ? 0 : LV_E_NOMEM;
}

static int uri_host(sftp_inst *c, const char *uri, const lv_uri *u)
{
	if (!u->host || !*u->host)
		return sftp_err(c, LV_E_BAD_URI, "'%s': no host: sftp://[user@]host[:port]/abs/dir or sftp://host/~/dir", uri);
	if (!(c->uri_host = strdup(u->host)))
		return LV_E_NOMEM;
	c->ip6 = strchr(u->host, ':') != NULL; /* an IP literal, given in brackets */
	/* the host goes to `ssh -G -- HOST`; "--" already ends the options, and OpenSSH refuses these too */
	if (c->uri_host[0] == '-')
		return sftp_err(c, LV_E_BAD_URI, "'%s': the host '%s' begins with '-': refused (ssh would read it as an option)",
		                uri, c->uri_host);
	if (strpbrk(c->uri_host, " \t\r\n'\"`$\\;&<>|(){}*?!,"))
		return sftp_err(c, LV_E_BAD_URI, "'%s': the host '%s' holds a character a host name cannot hold", uri,
		                c->uri_host);
	c->uri_port = u->port;
	return 0;
}

/* The decoded path, without empty segments; a first segment "~" means the home directory. */
static int uri_path(sftp_inst *c, const char *uri, const lv_uri *u)
{
	size_t len = 0;
	char *path = malloc(strlen(u->path) + 2);
	char *copy = strdup(u->path);
	if (!path || !copy) {
		free(path);
		free(copy);
		return LV_E_NOMEM;
	}
	path[0] = '\0';
	char *save = NULL;
	int first = 1;
	for (char *seg = strtok_r(copy, "/", &save); seg; seg = strtok_r(NULL, "/", &save), first = 0) {
		if (first && u->path[0] == '/' && !strcmp(seg, "~"))
			c->home_relative = 1;
		else
			len += (size_t)sprintf(path + len, "%s%s", (len || !c->home_relative) ? "/" : "", seg);
	}
	free(copy);
	if (!c->home_relative && !len) {
		free(path);
		return sftp_err(c, LV_E_BAD_URI,
		                "'%s': name a directory: sftp://[user@]host[:port]/abs/dir, or sftp://host/~/dir under the home "
		                "directory",
		                uri);
	}
	c->dirspec = path;
	return 0;
}

int sftp_parse_uri(sftp_inst *c, const char *uri)
{
	lv_uri *u = NULL;
	int rc = c->host->uri_parse(c->h, uri, &u);
	if (rc)
		return rc; /* described by the host */
	if (u->query)
		rc = sftp_err(c, LV_E_BAD_URI, "'%s': an sftp URI has no query: sftp://[user@]host[:port]/dir", uri);
	if (!rc && !(rc = uri_user(c, uri, u)) && !(rc = uri_host(c, uri, u)))
		rc = uri_path(c, uri, u);
	c->host->uri_free(u);
	if (!rc)
		snprintf(c->where, sizeof c->where, "%s%s%s", c->uri_user ? c->uri_user : "", c->uri_user ? "@" : "",
		         c->uri_host);
	return rc;
}

/* ---- the effective settings ----------------------------------------------- */

static const char *src_text(sftp_src s)
{
	switch (s) {
	case SFTP_SRC_URI: return "the URI";
	case SFTP_SRC_KEY: return "licvault's config";
	case SFTP_SRC_SSH_CONFIG: return "ssh_config";
	default: return "licvault's default";
	}
}

static void show(sftp_inst *c, const char *name, const char *value, sftp_src src)
{
	sftp_debug(c, "%s = %s (%s)", name, value, src_text(src));
}

static void show_int(sftp_inst *c, const char *name, int value, sftp_src src)
{
	char b[32];
	snprintf(b, sizeof b, "%d", value);
	show(c, name, b, src);
}

static int yesno(const char *v)
{
	return v && (!strcasecmp(v, "yes") || !strcasecmp(v, "true"));
}

/* The ssh program: ssh_command, else "ssh" from PATH; only an absolute path when set-user-ID. */
static int pick_ssh(sftp_inst *c)
{
	int secure = getauxval(AT_SECURE) != 0;
	const char *cmd = c->keys.ssh_command;
	if (!cmd)
		cmd = secure ? "/usr/bin/ssh" : "ssh";
	else if (secure && cmd[0] != '/')
		return sftp_err(c, LV_E_CONFIG,
		                "sftp %s: ssh_command = '%s': this process runs set-user-ID, so ssh_command must be an absolute "
		                "path (PATH is not searched)",
		                c->where, cmd);
	return (c->ssh_cmd = strdup(cmd)) ? 0 : LV_E_NOMEM;
}

static int local_user(sftp_inst *c, char **out)
{
	struct passwd pw, *res = NULL;
	char buf[4096];
	const char *env = secure_getenv("USER");
	if (getpwuid_r(getuid(), &pw, buf, sizeof buf, &res) == 0 && res)
		*out = strdup(pw.pw_name);
	else if (env)
		*out = strdup(env);
	else
		return sftp_err(c, LV_E_CONFIG, "sftp %s: no user in the URI or the config, and the local user name is unknown",
		                c->where);
	return *out ? 0 : LV_E_NOMEM;
}

/*
 * A number `ssh -G` printed, when it lies in [lo, hi] (lo >= 0), else -1.
 * ssh has checked the user's configuration already; what is not a number
 * here is one of its words for "unset" ("none"), and is not used.
 */
static long ssh_number(const char *v, long lo, long hi)
{
	if (!v)
		return -1;
	char *end;
	errno = 0;
	long n = strtol(v, &end, 10);
	return end == v || *end || errno || n < lo || n > hi ? -1 : n;
}

/* user, hostname, port */
static int resolve_target(sftp_inst *c, const sftp_sshcfg *g)
{
	const char *v;
	long port;
	sftp_src src;
	if (c->uri_user)
		c->user = strdup(c->uri_user), src = SFTP_SRC_URI;
	else if (c->keys.user)
		c->user = strdup(c->keys.user), src = SFTP_SRC_KEY;
	else if ((v = sftp_sshcfg_set(g, "user", 0)))
		c->user = strdup(v), src = SFTP_SRC_SSH_CONFIG;
	else {
		int rc = local_user(c, &c->user);
		if (rc)
			return rc;
		src = SFTP_SRC_DEFAULT;
	}
	if (!c->user)
		return LV_E_NOMEM;
	show(c, "user", c->user, src);
	v = sftp_sshcfg_set(g, "hostname", 0);
	c->cfg_hostname = v != NULL;
	if (!(c->hostname = strdup(v ? v : c->uri_host)))
		return LV_E_NOMEM;
	show(c, "hostname", c->hostname, v ? SFTP_SRC_SSH_CONFIG : SFTP_SRC_URI);
	c->port = 22;
	src = SFTP_SRC_DEFAULT;
	if (c->uri_port)
		c->port = c->uri_port, src = SFTP_SRC_URI;
	else if ((port = ssh_number(sftp_sshcfg_set(g, "port", 0), 1, 65535)) > 0)
		c->port = (int)port, src = SFTP_SRC_SSH_CONFIG;
	show_int(c, "port", c->port, src);
	return 0;
}

/*
 * In a set-user-ID process, a file ssh_config names is used only when the
 * real user could use it (access() checks with the real IDs): the user's
 * configuration must not reach files that only the set-user-ID owner may read.
 */
static int real_user_may(sftp_inst *c, const char *key, const char *path, int mode)
{
	if (!getauxval(AT_SECURE) || access(path, mode) == 0)
		return 1;
	if (errno == ENOENT && mode != W_OK)
		return 1; /* nothing to read: skipped later, as any missing file */
	if (errno == ENOENT) {
		/* a file to create: its directory */
		char dir[1024];
		snprintf(dir, sizeof dir, "%s", path);
		char *slash = strrchr(dir, '/');
		if (slash)
			*slash = '\0';
		if (slash && dir[0] && access(dir, W_OK) == 0)
			return 1;
	}
	sftp_debug(c, "ssh_config %s %s: skipped: this process runs set-user-ID and the real user may not %s it", key, path,
	           mode == W_OK ? "write" : "read");
	return 0;
}

/* A list of paths from ssh_config, expanded; unusable ones skipped with a debug line. */
static int expand_list(sftp_inst *c, const sftp_sshcfg *g, const char *key, int set_only, char **out)
{
	size_t n = 0;
	for (unsigned i = 0; n < SFTP_MAX_LIST; i++) {
		const char *v = set_only ? sftp_sshcfg_set(g, key, i) : sftp_sshcfg_any(g, key, i);
		if (!v)
			break;
		/* userknownhostsfile and globalknownhostsfile print several paths on one line */
		char *copy = strdup(v), *save = NULL;
		if (!copy)
			return LV_E_NOMEM;
		for (char *w = strtok_r(copy, " ", &save); w && n < SFTP_MAX_LIST; w = strtok_r(NULL, " ", &save)) {
			int bad;
			char *e = sftp_expand_tokens(c, w, &bad);
			if (e && !real_user_may(c, key, e, R_OK))
				free(e);
			else if (e)
				out[n++] = e;
			else if (bad)
				sftp_debug(c, "ssh_config %s %s: skipped (cannot expand %%%c)", key, w, bad);
			else {
				free(copy);
				return LV_E_NOMEM;
			}
		}
		free(copy);
	}
	out[n] = NULL;
	return 0;
}

/*
 * rel under the home folder: $HOME, which a set-user-ID process does not read
 * (secure_getenv), else the real user's in the password database (such a
 * process runs ssh as the real user, whose ~/.ssh this is).
 */
static int home_path(const char *rel, char **out)
{
	const char *home = secure_getenv("HOME");
	struct passwd pw, *res = NULL;
	char buf[4096];
	if (!home && getpwuid_r(getuid(), &pw, buf, sizeof buf, &res) == 0 && res)
		home = res->pw_dir;
	return asprintf(out, "%s/%s", home ? home : "", rel) < 0 ? LV_E_NOMEM : 0;
}

/* identity files, agent */
static int resolve_identities(sftp_inst *c, const sftp_sshcfg *g)
{
	int rc;
	if (c->keys.identity[0]) {
		c->identity_src = SFTP_SRC_KEY;
		for (size_t i = 0; c->keys.identity[i]; i++)
			if (!(c->identity[i] = strdup(c->keys.identity[i])))
				return LV_E_NOMEM;
	} else if (sftp_sshcfg_set(g, "identityfile", 0)) {
		c->identity_src = SFTP_SRC_SSH_CONFIG;
		if ((rc = expand_list(c, g, "identityfile", 1, c->identity)))
			return rc;
	} else {
		const char *names[] = {".ssh/id_ed25519", ".ssh/id_ecdsa", ".ssh/id_rsa"};
		for (size_t i = 0; i < 3; i++)
			if ((rc = home_path(names[i], &c->identity[i])))
				return rc;
	}
	for (size_t i = 0; c->identity[i]; i++)
		show(c, "identity_file", c->identity[i], c->identity_src);
	c->identities_only = yesno(sftp_sshcfg_set(g, "identitiesonly", 0));
	const char *cert = sftp_sshcfg_set(g, "certificatefile", 0);
	if (cert)
		sftp_debug(c, "CertificateFile %s: ignored: libssh2 %s has no OpenSSH certificates", cert, libssh2_version(0));
	const char *agent = sftp_sshcfg_set(g, "identityagent", 0);
	c->use_agent = 1;
	sftp_src src = SFTP_SRC_DEFAULT;
	if (c->keys.use_agent >= 0)
		c->use_agent = c->keys.use_agent, src = SFTP_SRC_KEY;
	else if (agent && !strcmp(agent, "none"))
		c->use_agent = 0, src = SFTP_SRC_SSH_CONFIG;
	if (agent && strcmp(agent, "none") && strcmp(agent, "SSH_AUTH_SOCK")) {
		int bad;
		char var[256] = "";
		if (agent[0] == '$') /* $VAR or ${VAR}: from the environment */
			snprintf(var, sizeof var, "%.*s", (int)strcspn(agent + 1 + (agent[1] == '{'), "}"),
			         agent + 1 + (agent[1] == '{'));
		const char *env = var[0] ? secure_getenv(var) : NULL;
		c->agent_path = env ? strdup(env) : sftp_expand_tokens(c, agent, &bad);
		if (c->agent_path && !real_user_may(c, "identityagent", c->agent_path, R_OK | W_OK)) {
			free(c->agent_path);
			c->agent_path = NULL;
			c->use_agent = c->keys.use_agent == 1;
		}
	}
	show(c, "use_agent", c->use_agent ? (c->agent_path ? c->agent_path : "yes ($SSH_AUTH_SOCK)") : "no", src);
	return 0;
}

/* known_hosts files, strict checking, hashing */
static int resolve_host_keys(sftp_inst *c, const sftp_sshcfg *g)
{
	int rc;
	sftp_src src;
	if (c->keys.known_hosts) {
		src = SFTP_SRC_KEY;
		if (!(c->kh_user[0] = strdup(c->keys.known_hosts)))
			return LV_E_NOMEM;
	} else if (sftp_sshcfg_set(g, "userknownhostsfile", 0)) {
		src = SFTP_SRC_SSH_CONFIG;
		if ((rc = expand_list(c, g, "userknownhostsfile", 1, c->kh_user)))
			return rc;
	} else {
		src = SFTP_SRC_DEFAULT;
		if ((rc = home_path(".ssh/known_hosts", &c->kh_user[0])))
			return rc;
	}
	if (src == SFTP_SRC_SSH_CONFIG && c->kh_user[0] && !real_user_may(c, "userknownhostsfile", c->kh_user[0], W_OK))
		return sftp_err(c, LV_E_CONFIG, "sftp %s: UserKnownHostsFile %s: this process runs set-user-ID and the real "
		                "user may not write that file", c->where, c->kh_user[0]);
	if (!c->kh_user[0] && (rc = home_path(".ssh/known_hosts", &c->kh_user[0])))
		return rc;
	for (size_t i = 0; c->kh_user[i]; i++)
		show(c, "known_hosts", c->kh_user[i], src);
	/* the global files: OpenSSH's, set or default, whenever ssh_config is read (read only) */
	if ((rc = expand_list(c, g, "globalknownhostsfile", 0, c->kh_global)))
		return rc;
	for (size_t i = 0; c->kh_global[i]; i++)
		show(c, "global known_hosts", c->kh_global[i], SFTP_SRC_SSH_CONFIG);
	const char *v = sftp_sshcfg_set(g, "stricthostkeychecking", 0);
	src = SFTP_SRC_DEFAULT;
	c->accept_new = 0;
	if (c->keys.accept_new >= 0)
		c->accept_new = c->keys.accept_new, src = SFTP_SRC_KEY;
	else if (v) {
		/* yes and ask mean yes; no, off and accept-new mean accept-new: a changed key is always refused */
		c->accept_new = !strcmp(v, "no") || !strcmp(v, "off") || !strcmp(v, "accept-new") || !strcmp(v, "false");
		src = SFTP_SRC_SSH_CONFIG;
	}
	show(c, "strict_host_key_checking", c->accept_new ? "accept-new" : "yes", src);
	v = sftp_sshcfg_set(g, "hashknownhosts", 0);
	c->hash_known_hosts = yesno(v);
	show(c, "HashKnownHosts", c->hash_known_hosts ? "yes" : "no", v ? SFTP_SRC_SSH_CONFIG : SFTP_SRC_DEFAULT);
	const char *alias = sftp_sshcfg_set(g, "hostkeyalias", 0);
	const char *kn = alias ? alias : c->hostname;
	if (c->port == 22)
		snprintf(c->hostpat, sizeof c->hostpat, "%s", kn);
	else
		snprintf(c->hostpat, sizeof c->hostpat, "[%s]:%d", kn, c->port);
	if (alias)
		show(c, "HostKeyAlias", alias, SFTP_SRC_SSH_CONFIG);
	return 0;
}

static int resolve_times(sftp_inst *c, const sftp_sshcfg *g)
{
	long ct = ssh_number(sftp_sshcfg_set(g, "connecttimeout", 0), 1, INT_MAX);
	long ai = ssh_number(sftp_sshcfg_set(g, "serveraliveinterval", 0), 0, 3600);
	const char *ac = sftp_sshcfg_any(g, "serveralivecountmax", 0);
	long ca = ssh_number(sftp_sshcfg_set(g, "connectionattempts", 0), 1, 21);
	c->timeout = c->keys.timeout > 0 ? c->keys.timeout : DEFAULT_TIMEOUT;
	show_int(c, "timeout", c->timeout, c->keys.timeout > 0 ? SFTP_SRC_KEY : SFTP_SRC_DEFAULT);
	c->connect_timeout = c->timeout;
	sftp_src src = c->keys.timeout > 0 ? SFTP_SRC_KEY : SFTP_SRC_DEFAULT;
	if (c->keys.timeout < 0 && ct > 0)
		c->connect_timeout = (int)ct, src = SFTP_SRC_SSH_CONFIG;
	show_int(c, "connect timeout", c->connect_timeout, src);
	c->keepalive = DEFAULT_KEEPALIVE;
	src = SFTP_SRC_DEFAULT;
	if (c->keys.keepalive >= 0)
		c->keepalive = c->keys.keepalive, src = SFTP_SRC_KEY;
	else if (ai >= 0) {
		c->keepalive = (int)ai, src = SFTP_SRC_SSH_CONFIG;
		/* OpenSSH gives up after ServerAliveCountMax unanswered keepalives */
		long long count = ac ? ssh_number(ac, 1, INT_MAX) : 3;
		if (c->keys.timeout < 0 && c->keepalive > 0 && count > 0 && c->keepalive * count < c->timeout) {
			c->timeout = (int)(c->keepalive * count);
			show_int(c, "timeout (ServerAliveInterval x ServerAliveCountMax)", c->timeout, SFTP_SRC_SSH_CONFIG);
		}
	}
	show_int(c, "keepalive_interval", c->keepalive, src);
	c->retries = DEFAULT_RETRIES;
	src = SFTP_SRC_DEFAULT;
	if (c->keys.retries >= 0)
		c->retries = c->keys.retries, src = SFTP_SRC_KEY;
	else if (ca > 0)
		c->retries = (int)ca - 1, src = SFTP_SRC_SSH_CONFIG;
	show_int(c, "connect_retries", c->retries, src);
	return 0;
}

static int resolve_proxy(sftp_inst *c, const sftp_sshcfg *g)
{
	const char *j = sftp_sshcfg_set(g, "proxyjump", 0);
	const char *p = sftp_sshcfg_set(g, "proxycommand", 0);
	if (j && strcmp(j, "none")) {
		if (!(c->proxy_jump = strdup(j)))
			return LV_E_NOMEM;
		show(c, "ProxyJump", j, SFTP_SRC_SSH_CONFIG);
	} else if (p && strcmp(p, "none")) {
		int bad;
		if (!strcmp(p, "-"))
			return sftp_err(c, LV_E_CONFIG, "sftp %s: ProxyCommand - (an already connected stdin) is not supported",
			                c->where);
		if (!(c->proxy_command = sftp_expand_tokens(c, p, &bad)))
			return bad ? sftp_err(c, LV_E_CONFIG, "sftp %s: ProxyCommand '%s': unknown token %%%c", c->where, p, bad)
			           : LV_E_NOMEM;
		show(c, "ProxyCommand", c->proxy_command, SFTP_SRC_SSH_CONFIG);
	}
	return 0;
}

static void make_where(sftp_inst *c)
{
	int n = c->ip6 || strchr(c->hostname, ':')
	            ? snprintf(c->where, sizeof c->where, "%s@[%s]:%d", c->user, c->hostname, c->port)
	            : snprintf(c->where, sizeof c->where, "%s@%s:%d", c->user, c->hostname, c->port);
	size_t l = n < 0 ? 0 : (size_t)n;
	if (strcmp(c->uri_host, c->hostname) && l < sizeof c->where)
		l += (size_t)snprintf(c->where + l, sizeof c->where - l, " (Host %s)", c->uri_host);
	if (c->proxy_jump && l < sizeof c->where)
		snprintf(c->where + l, sizeof c->where - l, " via ProxyJump %s", c->proxy_jump);
	else if (c->proxy_command && l < sizeof c->where)
		snprintf(c->where + l, sizeof c->where - l, " via ProxyCommand");
}

int sftp_resolve(sftp_inst *c)
{
	sftp_sshcfg *g = NULL;
	int rc = 0;
	if (!c->keys.ssh_config)
		snprintf(c->cfg_note, sizeof c->cfg_note, "ssh_config = no: OpenSSH's Host entries were not read");
	else if (!(rc = pick_ssh(c)))
		rc = sftp_sshcfg_query(c, &g);
	if (!rc && g)
		snprintf(c->cfg_note, sizeof c->cfg_note, "no HostName for it in %s either",
		         c->keys.ssh_config_file ? c->keys.ssh_config_file : "~/.ssh/config or /etc/ssh/ssh_config");
	if (!rc)
		rc = resolve_target(c, g);
	if (!rc && !(rc = resolve_identities(c, g)) && !(rc = resolve_host_keys(c, g)) && !(rc = resolve_times(c, g)))
		rc = resolve_proxy(c, g);
	sftp_sshcfg_free(g);
	if (!rc)
		make_where(c);
	return rc;
}

static void free_list(char **l)
{
	for (size_t i = 0; l[i]; i++) {
		free(l[i]);
		l[i] = NULL;
	}
}

void sftp_settings_free(sftp_inst *c)
{
	free(c->uri_user);
	free(c->uri_host);
	free(c->dirspec);
	free(c->user);
	free(c->hostname);
	free(c->agent_path);
	free(c->proxy_jump);
	free(c->proxy_command);
	free(c->ssh_cmd);
	free_list(c->identity);
	free_list(c->kh_user);
	free_list(c->kh_global);
}
