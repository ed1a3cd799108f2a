/*
 * The proxy that carries the SSH session for ProxyJump and ProxyCommand:
 * its command line (for ProxyJump `ssh -W`, with the relay beside the
 * driver for a single hop), started and stopped through child.c.
 */
#include "sftp_int.h"

#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/auxv.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

/* One ProxyJump hop: [user@]host[:port] or ssh://[user@]host[:port]; host may be [v6]. */
static int split_hop(char *hop, char **user, char **host, char **port)
{
	if (!strncmp(hop, "ssh://", 6))
		hop += 6;
	*user = NULL;
	*port = NULL;
	char *at = strrchr(hop, '@');
	if (at) {
		*at = '\0';
		*user = hop;
		hop = at + 1;
	}
	if (hop[0] == '[') {
		char *end = strchr(hop, ']');
		if (!end)
			return -1;
		*end = '\0';
		*host = hop + 1;
		if (end[1] == ':')
			*port = end + 2;
		else if (end[1])
			return -1;
	} else {
		*host = hop;
		char *colon = strchr(hop, ':');
		if (colon) {
			*colon = '\0';
			*port = colon + 1;
		}
	}
	if (!**host || (*user && !**user) || (*port && !**port) || **host == '-' || (*user && **user == '-'))
		return -1;
	return 0;
}

/*
 * licvault-sftp-relay (relay.c: why) beside this driver's own file, when it
 * is one no one else could have put there: 0 and its path, or -1.  The file
 * itself, never a symbolic link (lstat): what a link leads to lies in a
 * folder the loader never checked, so who may swap it is unknown, and the
 * loader refuses a driver that is a link for the same reason.
 */
static int relay_path(char *path, size_t cap)
{
	Dl_info info;
	if (!dladdr((void *)relay_path, &info) || !info.dli_fname)
		return -1;
	const char *slash = strrchr(info.dli_fname, '/');
	if (!slash || snprintf(path, cap, "%.*s/licvault-sftp-relay", (int)(slash - info.dli_fname), info.dli_fname) >=
	                  (int)cap)
		return -1;
	struct stat st;
	if (lstat(path, &st) || !S_ISREG(st.st_mode) || (st.st_uid != 0 && st.st_uid != geteuid()) ||
	    (st.st_mode & (S_IWGRP | S_IWOTH)) || !(st.st_mode & S_IXUSR))
		return -1;
	/* it goes into a ProxyCommand line: single-quoted for the shell, and ssh expands % */
	return strpbrk(path, "'%") ? -1 : 0;
}

/* Does this CPU have AES instructions (AES-GCM then outruns ChaCha20-Poly1305)? */
static int cpu_has_aes(void)
{
#if defined(__x86_64__) || defined(__i386__)
	return __builtin_cpu_supports("aes");
#elif defined(__aarch64__) && defined(HWCAP_AES)
	return (getauxval(AT_HWCAP) & HWCAP_AES) != 0;
#else
	return 0;
#endif
}

/*
 * Options for the `ssh -W` to a single ProxyJump hop, from the hop's own
 * configuration (ssh -G), into relay and ciphers (each "" when it does not
 * apply, with why in a debug line):
 *  - relay: -o ProxyCommand putting licvault-sftp-relay (relay.c: why)
 *    under the hop's TCP connection, unless the hop's configuration says
 *    how to reach it (ProxyCommand, ProxyJump: a command-line ProxyCommand
 *    would replace them) or from where (BindAddress, BindInterface, which
 *    the relay does not do); the hop's AddressFamily and ConnectTimeout go
 *    to the relay;
 *  - ciphers: AES-GCM first, on a CPU with AES instructions, when the
 *    user's configuration sets no Ciphers for the hop.  That session only
 *    carries the target's SSH session, already encrypted end to end, so
 *    its cipher is chosen for speed among OpenSSH's own defaults.
 */
static void hop_options(sftp_inst *c, const char *user, const char *host, const char *port, char *relay,
                        size_t relay_cap, char *ciphers, size_t ciphers_cap)
{
	relay[0] = ciphers[0] = '\0';
	sftp_sshcfg *g = NULL;
	int saved = sftp_err_save(c);
	int rc = sftp_sshcfg_query_hop(c, host, user, port, &g);
	sftp_err_restore(c, saved);
	if (rc || !g) {
		sftp_debug(c, "ProxyJump: the hop %s: its configuration cannot be read: ssh connects to it as it is", host);
		return;
	}
	char path[1024];
	const char *why = relay_path(path, sizeof path)                  ? "no usable licvault-sftp-relay beside the driver"
	                  : sftp_sshcfg_any(g, "proxycommand", 0)         ? "it has a ProxyCommand of its own"
	                  : sftp_sshcfg_any(g, "proxyjump", 0)            ? "it has a ProxyJump of its own"
	                  : sftp_sshcfg_any(g, "bindaddress", 0)          ? "it has a BindAddress"
	                  : sftp_sshcfg_any(g, "bindinterface", 0)        ? "it has a BindInterface"
	                                                                  : NULL;
	if (why)
		sftp_debug(c, "ProxyJump: the hop %s: ssh connects to it itself (%s)", host, why);
	else {
		const char *fam = sftp_sshcfg_any(g, "addressfamily", 0), *ct = sftp_sshcfg_any(g, "connecttimeout", 0);
		char t[32] = "";
		if (ct && *ct && strspn(ct, "0123456789") == strlen(ct))
			snprintf(t, sizeof t, " -t %s", ct);
		/* "--": a HostName beginning with '-' is a host to the relay, never one of its options */
		int n = snprintf(relay, relay_cap, "ProxyCommand='%s'%s%s -- %%h %%p", path,
		                 fam && !strcmp(fam, "inet") ? " -4" : fam && !strcmp(fam, "inet6") ? " -6" : "", t);
		if (n < 0 || (size_t)n >= relay_cap)
			relay[0] = '\0';
	}
	if (!sftp_sshcfg_set(g, "ciphers", 0) && cpu_has_aes())
		snprintf(ciphers, ciphers_cap, "Ciphers=^aes128-gcm@openssh.com,aes256-gcm@openssh.com");
	sftp_sshcfg_free(g);
}

/*
 * argv of `ssh -W host:port` through the last hop of ProxyJump, the others
 * given to it as -J, as OpenSSH builds its own ProxyJump command.
 * buf holds the strings; 0 or -1 (a hop that cannot be read).
 */
static int jump_argv(sftp_inst *c, char *buf, size_t cap, char *opts, size_t opts_cap, char *argv[], size_t maxargs)
{
	size_t n = 0;
	char *jump = buf;
	snprintf(jump, cap / 2, "%s", c->proxy_jump);
	char *target = buf + cap / 2;
	if (strchr(c->hostname, ':'))
		snprintf(target, cap / 2, "[%s]:%d", c->hostname, c->port);
	else
		snprintf(target, cap / 2, "%s:%d", c->hostname, c->port);
	char *last = strrchr(jump, ',');
	char *hop = last ? last + 1 : jump;
	if (last)
		*last = '\0';
	char *user, *host, *port;
	if (split_hop(hop, &user, &host, &port))
		return -1;
	argv[n++] = c->ssh_cmd;
	if (c->keys.ssh_config_file) {
		argv[n++] = "-F";
		argv[n++] = (char *)c->keys.ssh_config_file;
	}
	argv[n++] = "-o";
	argv[n++] = "BatchMode=yes";
	argv[n++] = "-o";
	argv[n++] = "ClearAllForwardings=yes";
	if (last) {
		argv[n++] = "-J";
		argv[n++] = jump;
	}
	if (user) {
		argv[n++] = "-l";
		argv[n++] = user;
	}
	if (port) {
		argv[n++] = "-p";
		argv[n++] = port;
	}
	if (!last) { /* one hop: its connection is this ssh's own */
		char *relay = opts, *ciphers = opts + opts_cap / 2;
		hop_options(c, user, host, port, relay, opts_cap / 2, ciphers, opts_cap / 2);
		if (*relay) {
			argv[n++] = "-o";
			argv[n++] = relay;
		}
		if (*ciphers) {
			argv[n++] = "-o";
			argv[n++] = ciphers;
		}
	}
	argv[n++] = "-W";
	argv[n++] = target;
	argv[n++] = "--";
	argv[n++] = host;
	argv[n] = NULL;
	return n < maxargs ? 0 : -1;
}

static void argv_text(char *const argv[], char *buf, size_t cap)
{
	size_t l = 0;
	buf[0] = '\0';
	for (size_t i = 0; argv[i] && l + 1 < cap; i++)
		l += (size_t)snprintf(buf + l, cap - l, "%s%s", i ? " " : "", argv[i]);
}

int sftp_proxy_start(sftp_inst *c)
{
	char buf[2048], opts[2400], *line = NULL;
	char *argv[32];
	const char *what;
	if (c->proxy_jump) {
		what = "ProxyJump";
		if (!c->ssh_cmd)
			return sftp_err(c, LV_E_CONFIG, "sftp %s: ProxyJump %s needs ssh, and %s", c->where, c->proxy_jump,
			                c->cfg_note);
		if (jump_argv(c, buf, sizeof buf, opts, sizeof opts, argv, sizeof argv / sizeof argv[0]))
			return sftp_err(c, LV_E_CONFIG, "sftp %s: ProxyJump '%s': cannot read a hop as [user@]host[:port]",
			                c->where, c->proxy_jump);
	} else {
		what = "ProxyCommand";
		if (asprintf(&line, "exec %s", c->proxy_command) < 0)
			return LV_E_NOMEM;
		argv[0] = "/bin/sh";
		argv[1] = "-c";
		argv[2] = line;
		argv[3] = NULL;
	}
	char shown[1200];
	argv_text(argv, shown, sizeof shown);
	sftp_debug(c, "%s: running %s", what, shown);
	int sp[2];
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sp) < 0) {
		free(line);
		return sftp_err(c, LV_E_IO, "sftp %s: cannot make a socket pair for the %s: %s", c->where, what,
		                strerror(errno));
	}
	int e = sftp_spawn(&c->proxy, argv, !strchr(argv[0], '/'), sp[1]);
	free(line);
	close(sp[1]);
	if (e) {
		close(sp[0]);
		return sftp_err(c, LV_E_IO, "sftp %s: cannot run the %s (%s): %s", c->where, what, shown, strerror(e));
	}
	fcntl(sp[0], F_SETFL, O_NONBLOCK);
	c->sock = sp[0];
	return 0;
}

void sftp_proxy_stop(sftp_inst *c)
{
	if (c->proxy.pid <= 0 && c->proxy.err_fd < 0)
		return;
	sftp_child_drain(c, &c->proxy, "proxy");
	sftp_child_stop(&c->proxy);
}

void sftp_proxy_explain(sftp_inst *c, char *buf, size_t cap)
{
	buf[0] = '\0';
	if (!c->proxy_jump && !c->proxy_command)
		return;
	if (c->proxy.pid <= 0 && !c->proxy.reaped && !c->proxy.err_len)
		return;
	sftp_child_drain(c, &c->proxy, "proxy");
	/* a dying proxy needs a moment to be reapable: its socket closed first */
	for (int i = 0; i < 20 && c->proxy.pid > 0 && !sftp_child_ended(&c->proxy); i++)
		poll(NULL, 0, 5);
	sftp_child_drain(c, &c->proxy, "proxy");
	char st[120];
	sftp_child_status_text(&c->proxy, st, sizeof st);
	/* its last lines, on one line */
	char said[600];
	size_t n = 0;
	for (const char *p = c->proxy.err; *p && n + 1 < sizeof said; p++)
		said[n++] = (*p == '\n' || *p == '\r') ? ' ' : *p;
	while (n && said[n - 1] == ' ')
		n--;
	said[n] = '\0';
	snprintf(buf, cap, "; the proxy (%s %s) %s%s%s", c->proxy_jump ? "ProxyJump" : "ProxyCommand",
	         c->proxy_jump ? c->proxy_jump : c->proxy_command, st, n ? ": " : "", said);
}
