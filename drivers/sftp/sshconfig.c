/*
 * OpenSSH's client configuration, as OpenSSH itself reads it: the driver
 * runs `ssh -G [-F FILE] [-l USER] [-p PORT] -- HOST` (every option with its
 * value, defaults filled in: Include, Host patterns and negation, Match,
 * are all OpenSSH's own work, so licvault never disagrees with `ssh`), and
 * at the same time the same query under `-F /dev/null`, OpenSSH's defaults
 * alone.  A keyword whose values differ between the two answers is one the
 * user's configuration SET; the others are defaults, which licvault's own
 * defaults replace (see settings.c for the precedence).
 */
#include "sftp_int.h"

#include <ctype.h>
#include <errno.h>
#include <poll.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define SSHCFG_MAX_OUT (1 << 20)   /* `ssh -G` prints about 5 KB */

typedef struct kv {
	char *key;                     /* lower case */
	char *val;
} kv;

typedef struct kvlist {
	kv *v;
	size_t n;
	char *text;                    /* the raw output; key and val point into it */
	size_t len;
} kvlist;

struct sftp_sshcfg {
	kvlist user;                   /* with the user's configuration */
	kvlist dflt;                   /* with -F /dev/null */
};

/* ---- one query's output -------------------------------------------------- */

static int kv_parse(kvlist *l)
{
	size_t cap = 0;
	char *save = NULL;
	for (char *line = strtok_r(l->text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		char *sp = strchr(line, ' ');
		if (!sp)
			continue;
		*sp = '\0';
		for (char *p = line; *p; p++)
			*p = (char)tolower((unsigned char)*p);
		if (l->n == cap) {
			cap = cap ? cap * 2 : 128;
			kv *nv = realloc(l->v, cap * sizeof *nv);
			if (!nv)
				return LV_E_NOMEM;
			l->v = nv;
		}
		l->v[l->n].key = line;
		l->v[l->n++].val = sp + 1;
	}
	return 0;
}

static const char *kv_get(const kvlist *l, const char *key, unsigned i)
{
	for (size_t k = 0; k < l->n; k++)
		if (!strcmp(l->v[k].key, key) && i-- == 0)
			return l->v[k].val;
	return NULL;
}

static int kv_same(const kvlist *a, const kvlist *b, const char *key)
{
	for (unsigned i = 0;; i++) {
		const char *x = kv_get(a, key, i), *y = kv_get(b, key, i);
		if (!x || !y)
			return x == y;
		if (strcmp(x, y))
			return 0;
	}
}

const char *sftp_sshcfg_set(const sftp_sshcfg *g, const char *key, unsigned i)
{
	if (!g || kv_same(&g->user, &g->dflt, key))
		return NULL;
	return kv_get(&g->user, key, i);
}

const char *sftp_sshcfg_any(const sftp_sshcfg *g, const char *key, unsigned i)
{
	return g ? kv_get(&g->user, key, i) : NULL;
}

void sftp_sshcfg_free(sftp_sshcfg *g)
{
	if (!g)
		return;
	free(g->user.v);
	free(g->user.text);
	free(g->dflt.v);
	free(g->dflt.text);
	free(g);
}

/* ---- running the two queries ------------------------------------------- */

typedef struct query {
	sftp_child ch;
	kvlist *out;
	int started;
} query;

static int read_out(query *q)
{
	for (;;) {
		if (q->out->len + 4097 > SSHCFG_MAX_OUT) {
			close(q->ch.out_fd);
			q->ch.out_fd = -1;
			return 0;
		}
		char *t = realloc(q->out->text, q->out->len + 4097);
		if (!t)
			return LV_E_NOMEM;
		q->out->text = t;
		ssize_t n = read(q->ch.out_fd, t + q->out->len, 4096);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return 0; /* EAGAIN: later */
		if (n == 0) {
			close(q->ch.out_fd);
			q->ch.out_fd = -1;
			return 0;
		}
		q->out->len += (size_t)n;
		t[q->out->len] = '\0';
	}
}

/* Read both children's output until both end: 0, or an lv code (described). */
static int pump(sftp_inst *c, query q[2], int limit)
{
	int64_t deadline = sftp_now_ms() + (int64_t)limit * 1000;
	for (;;) {
		struct pollfd p[4];
		int np = 0;
		for (int i = 0; i < 2; i++) {
			if (q[i].ch.out_fd >= 0)
				p[np++] = (struct pollfd){q[i].ch.out_fd, POLLIN, 0};
			if (q[i].ch.err_fd >= 0)
				p[np++] = (struct pollfd){q[i].ch.err_fd, POLLIN, 0};
		}
		if (!np)
			return 0;
		if (sftp_canceled(c))
			return sftp_err(c, LV_E_CANCELED, "sftp %s: canceled while reading OpenSSH's configuration", c->where);
		if (sftp_now_ms() >= deadline)
			return sftp_err(c, LV_E_CONFIG, "sftp %s: '%s -G' did not answer within %d seconds (a slow Match exec?)",
			                c->where, c->ssh_cmd, limit);
		poll(p, (nfds_t)np, SFTP_TICK_MS);
		for (int i = 0; i < 2; i++) {
			if (q[i].ch.out_fd >= 0) {
				int rc = read_out(&q[i]);
				if (rc)
					return rc;
			}
			sftp_child_drain(NULL, &q[i].ch, NULL);
		}
	}
}

static void reap_both(query q[2])
{
	for (int i = 0; i < 2; i++) {
		if (!q[i].started)
			continue;
		/* both closed their output: they are exiting */
		for (int k = 0; k < 200 && !sftp_child_ended(&q[i].ch); k++)
			poll(NULL, 0, 5);
		sftp_child_stop(&q[i].ch);
	}
}

/* argv for one query: ssh -G -T [-F file] [-l user] [-p port] -- host */
static void query_argv(sftp_inst *c, const char *file, const char *host, const char *user, const char *port,
                       char *argv[16])
{
	int n = 0;
	argv[n++] = c->ssh_cmd;
	argv[n++] = "-G";
	argv[n++] = "-T";
	if (file) {
		argv[n++] = "-F";
		argv[n++] = (char *)file;
	}
	if (user) {
		argv[n++] = "-l";
		argv[n++] = (char *)user;
	}
	if (port) {
		argv[n++] = "-p";
		argv[n++] = (char *)port;
	}
	argv[n++] = "--";
	argv[n++] = (char *)host;
	argv[n] = NULL;
}

/* ssh cannot be started: the documented fallback, or an error when a FILE was named. */
static int cannot_run(sftp_inst *c, int e)
{
	if (c->keys.ssh_config_file)
		return sftp_err(c, LV_E_CONFIG, "sftp %s: ssh_config = %s, but ssh_command '%s' cannot be run: %s", c->where,
		                c->keys.ssh_config_file, c->ssh_cmd, strerror(e));
	c->host->log(c->h, LV_LOG_WARN,
	             "sftp %s: ssh_command '%s' cannot be run (%s): OpenSSH's client configuration is not read, so Host "
	             "aliases, ProxyJump and the like do not apply (set ssh_config = no to say that is intended)",
	             c->where, c->ssh_cmd, strerror(e));
	snprintf(c->cfg_note, sizeof c->cfg_note, "OpenSSH's configuration was not read: ssh_command '%s' cannot be run (%s)",
	         c->ssh_cmd, strerror(e));
	free(c->ssh_cmd);
	c->ssh_cmd = NULL;
	return 0;
}

static int failed(sftp_inst *c, const char *host, query q[2])
{
	for (int i = 0; i < 2; i++) {
		sftp_child *ch = &q[i].ch;
		if (WIFEXITED(ch->status) && WEXITSTATUS(ch->status) == 0)
			continue;
		char st[120], said[700];
		sftp_child_status_text(ch, st, sizeof st);
		snprintf(said, sizeof said, "%s", ch->err);
		for (char *p = said; *p; p++)
			if (*p == '\n' || *p == '\r')
				*p = ' ';
		const char *which = i == 1 ? "with -F /dev/null"
		                  : c->keys.ssh_config_file ? c->keys.ssh_config_file : "~/.ssh/config and /etc/ssh/ssh_config";
		return sftp_err(c, LV_E_CONFIG, "sftp %s: OpenSSH rejects its configuration for host '%s' (%s -G, %s) %s: %s",
		                c->where, host, c->ssh_cmd, which, st, said[0] ? said : "(it said nothing)");
	}
	return 0;
}

/*
 * The two queries for host (user, port: NULL when not given).  When ssh
 * cannot be run, the documented fallback applies to the URI's host (hop 0),
 * and a hop's query just fails (ssh_cmd stays: the caller still runs it).
 */
static int query_host(sftp_inst *c, const char *host, const char *user, const char *port, int hop, sftp_sshcfg **out)
{
	*out = NULL;
	sftp_sshcfg *g = calloc(1, sizeof *g);
	if (!g)
		return LV_E_NOMEM;
	char *argv[2][16];
	query_argv(c, c->keys.ssh_config_file, host, user, port, argv[0]);
	query_argv(c, "/dev/null", host, user, port, argv[1]);
	query q[2] = {{.out = &g->user}, {.out = &g->dflt}};
	int search = !strchr(c->ssh_cmd, '/');
	int rc = 0;
	for (int i = 0; i < 2 && !rc; i++) {
		int e = sftp_spawn(&q[i].ch, argv[i], search, -1);
		if (e) {
			reap_both(q);
			sftp_sshcfg_free(g);
			return hop ? sftp_err(c, LV_E_IO, "sftp %s: cannot run %s -G for %s: %s", c->where, c->ssh_cmd, host,
			                      strerror(e))
			           : cannot_run(c, e);
		}
		q[i].started = 1;
	}
	sftp_debug(c, "ssh_config: %s -G%s%s -- %s, and the same with -F /dev/null (OpenSSH's defaults)", c->ssh_cmd,
	           c->keys.ssh_config_file ? " -F " : "", c->keys.ssh_config_file ? c->keys.ssh_config_file : "", host);
	rc = pump(c, q, c->keys.timeout > 0 ? c->keys.timeout : 30);
	if (rc) {
		for (int i = 0; i < 2; i++)
			sftp_child_stop(&q[i].ch);
		sftp_sshcfg_free(g);
		return rc;
	}
	reap_both(q);
	if ((rc = failed(c, host, q)) || (rc = kv_parse(&g->user)) || (rc = kv_parse(&g->dflt))) {
		sftp_sshcfg_free(g);
		return rc;
	}
	*out = g;
	return 0;
}

int sftp_sshcfg_query(sftp_inst *c, sftp_sshcfg **out)
{
	char port[16];
	if (c->uri_port)
		snprintf(port, sizeof port, "%d", c->uri_port);
	return query_host(c, c->uri_host, c->uri_user ? c->uri_user : c->keys.user, c->uri_port ? port : NULL, 0, out);
}

int sftp_sshcfg_query_hop(sftp_inst *c, const char *host, const char *user, const char *port, sftp_sshcfg **out)
{
	return query_host(c, host, user, port, 1, out);
}

/* ---- %-tokens and ~ ------------------------------------------------------ */

/* The local user is the real one (getuid), as OpenSSH has it, also in a set-user-ID process. */

static int home_of(const char *name, size_t len, char *buf, size_t cap)
{
	struct passwd pw, *res = NULL;
	char pwbuf[4096], who[256];
	if (len >= sizeof who)
		return -1;
	memcpy(who, name, len);
	who[len] = '\0';
	int r = len ? getpwnam_r(who, &pw, pwbuf, sizeof pwbuf, &res) : getpwuid_r(getuid(), &pw, pwbuf, sizeof pwbuf, &res);
	if (r || !res)
		return -1;
	snprintf(buf, cap, "%s", pw.pw_dir);
	return 0;
}

static const char *token(sftp_inst *c, char t, char *buf, size_t cap)
{
	struct passwd pw, *res = NULL;
	char pwbuf[4096];
	switch (t) {
	case '%': return "%";
	case 'h': return c->hostname;
	case 'n': return c->uri_host;
	case 'r': return c->user;
	case 'p': snprintf(buf, cap, "%d", c->port); return buf;
	case 'i': snprintf(buf, cap, "%u", (unsigned)getuid()); return buf;
	case 'u':
	case 'd':
		if (getpwuid_r(getuid(), &pw, pwbuf, sizeof pwbuf, &res) || !res)
			return NULL;
		snprintf(buf, cap, "%s", t == 'u' ? pw.pw_name : pw.pw_dir);
		return buf;
	case 'l':
	case 'L':
		if (gethostname(buf, cap - 1))
			return NULL;
		buf[cap - 1] = '\0';
		if (t == 'L')
			buf[strcspn(buf, ".")] = '\0';
		return buf;
	default: return NULL;
	}
}

char *sftp_expand_tokens(sftp_inst *c, const char *in, int *bad)
{
	*bad = 0;
	size_t cap = strlen(in) + 1024, len = 0;
	char *out = malloc(cap);
	if (!out)
		return NULL;
	const char *p = in;
	if (p[0] == '~') {
		size_t nl = strcspn(p + 1, "/");
		if (home_of(p + 1, nl, out, cap)) {
			*bad = '~';
			free(out);
			return NULL;
		}
		len = strlen(out);
		p += 1 + nl;
	}
	for (; *p; p++) {
		char tb[512];
		const char *v = NULL;
		size_t vl = 1;
		if (*p == '%') {
			if (!(v = token(c, p[1], tb, sizeof tb))) {
				*bad = p[1] ? p[1] : '%';
				free(out);
				return NULL;
			}
			vl = strlen(v);
			p++;
		} else
			v = p;
		if (len + vl + 1 > cap) {
			cap = (len + vl + 1) * 2;
			char *n = realloc(out, cap);
			if (!n) {
				free(out);
				return NULL;
			}
			out = n;
		}
		memcpy(out + len, v, vl);
		len += vl;
	}
	out[len] = '\0';
	return out;
}
