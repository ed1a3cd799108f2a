/*
 * The sftp driver and OpenSSH's client configuration (issue 21): Host
 * aliases read through `ssh -G`, the precedence of the URI and licvault's
 * keys over ssh_config, ProxyJump and ProxyCommand, hashed known_hosts, the
 * error mapping and the -vv lines.
 *
 * Real OpenSSH only, loopback only: one fixture (fixture_sshd.h, t_jump)
 * gives a jump host on 127.0.0.1 and a target on 127.0.0.2:22 inside a
 * network namespace of its own, reachable only through the jump host.
 * Tests that need a plain SFTP server use the jump host itself (it serves
 * SFTP too).  Each test writes its own ssh_config and passes it with the
 * driver's ssh_config = FILE key (OpenSSH then reads only that file: root's
 * own ~/.ssh/config and /etc/ssh/ssh_config play no part).
 */
#include "testutil.h"
#include "fixture_sshd.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <time.h>
#include <unistd.h>

static t_jump jf;
static int jf_up;
static char skip_why[1024];

static int suite_init(void)
{
	t_agent_hide();
	jf_up = t_jump_start(&jf, skip_why, sizeof skip_why) == 0;
	if (!jf_up)
		fprintf(stderr, "sshcfg: the jump fixture cannot start, the tests are skipped: %s\n", skip_why);
	else if (!jf.isolated)
		fprintf(stderr, "sshcfg: no network namespace (not root?): the target is not isolated from the test\n");
	return 0;
}

static int suite_clean(void)
{
	if (jf_up)
		t_jump_stop(&jf);
	t_agent_restore();
	return 0;
}

#define NEED_FIXTURE() T_NEED(jf_up, skip_why)

/* ---- helpers ------------------------------------------------------------------ */

static void write_text(const char *path, const char *text)
{
	CU_ASSERT_EQUAL_FATAL(t_write_file(path, text, 0644), 0);
}

/* dir/name.ssh_config with fmt; returns a path in one of 8 rotating buffers. */
static char *ssh_config(const char *name, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static char *ssh_config(const char *name, const char *fmt, ...)
{
	static char path[8][600];
	static int next;
	char *p = path[next++ % 8];
	snprintf(p, 600, "%s/%s.ssh_config", jf.s.dir, name);
	char text[4096];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(text, sizeof text, fmt, ap);
	va_end(ap);
	write_text(p, text);
	return p;
}

/* The lines every test's ssh_config ends with: how OpenSSH (the jump hop) and the driver find keys. */
static const char *common_tail(void)
{
	static char t[1500];
	snprintf(t, sizeof t,
	         "Host *\n"
	         "  User root\n"
	         "  IdentityFile %s\n"
	         "  IdentitiesOnly yes\n"
	         "  UserKnownHostsFile %s\n"
	         "  GlobalKnownHostsFile /dev/null\n"
	         "  StrictHostKeyChecking yes\n",
	         jf.s.client_key, jf.known_hosts_both);
	return t;
}

/* A licvault config: [driver "sftp"] with ssh_config = FILE, no agent, no retries, and extra lines. */
static char *lv_config(const char *name, const char *sshcfg, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static char *lv_config(const char *name, const char *sshcfg, const char *fmt, ...)
{
	static char path[8][600];
	static int next;
	char *p = path[next++ % 8];
	snprintf(p, 600, "%s/%s.conf", jf.s.dir, name);
	char extra[2048] = "";
	if (fmt) {
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(extra, sizeof extra, fmt, ap);
		va_end(ap);
	}
	char text[4096];
	snprintf(text, sizeof text, "[driver \"sftp\"]\n%s%s%suse_agent = no\nconnect_retries = 0\n%s%s",
	         sshcfg ? "ssh_config = " : "", sshcfg ? sshcfg : "", sshcfg ? "\n" : "", strstr(extra, "timeout") ? "" : "timeout = 20\n",
	         extra);
	write_text(p, text);
	return p;
}

/* Log lines a context produced (debug included), for the -vv assertions. */
typedef struct logbuf {
	pthread_mutex_t mu;
	char text[65536];
	size_t len;
} logbuf;

static logbuf logs = {PTHREAD_MUTEX_INITIALIZER, "", 0};

static void log_cb(int level, const char *line, void *ud)
{
	logbuf *b = ud;
	pthread_mutex_lock(&b->mu);
	int n = snprintf(b->text + b->len, sizeof b->text - b->len, "[%d] %s\n", level, line);
	if (n > 0 && b->len + (size_t)n < sizeof b->text)
		b->len += (size_t)n;
	pthread_mutex_unlock(&b->mu);
	if (getenv("LV_TEST_VERBOSE"))
		fprintf(stderr, "  log[%d] %s\n", level, line);
}

static void logs_clear(void)
{
	pthread_mutex_lock(&logs.mu);
	logs.len = 0;
	logs.text[0] = '\0';
	pthread_mutex_unlock(&logs.mu);
}

static int logs_have(const char *needle)
{
	pthread_mutex_lock(&logs.mu);
	int ok = strstr(logs.text, needle) != NULL;
	pthread_mutex_unlock(&logs.mu);
	if (!ok)
		fprintf(stderr, "\n  no log line holds \"%s\"", needle);
	return ok;
}

/* A context with the config, its log lines (debug included) into `logs`. */
static lv_context *ctx_with(const char *config)
{
	lv_context *ctx = t_context_with(config);
	lv_context_set_log(ctx, LV_LOG_DEBUG, log_cb, &logs);
	return ctx;
}

/* A unique directory under the fixture's data directory (not created). */
static void data_dir(char *buf, size_t cap, const char *tag)
{
	static int n;
	snprintf(buf, cap, "%s/%s-%d", jf.s.data, tag, n++);
}

/*
 * This process's children: how many are zombies, and how many are running
 * `comm` (the proxy is "ssh", a ProxyCommand's "nc").  The fixture's keeper
 * is a child too, but neither a zombie nor named so.
 */
static int children(const char *comm, int *zombies)
{
	DIR *d = opendir("/proc");
	int n = 0;
	*zombies = 0;
	struct dirent *de;
	while (d && (de = readdir(d))) {
		int pid = atoi(de->d_name);
		if (pid <= 0)
			continue;
		char path[64], buf[512];
		snprintf(path, sizeof path, "/proc/%d/stat", pid);
		FILE *f = fopen(path, "re");
		if (!f)
			continue;
		size_t k = fread(buf, 1, sizeof buf - 1, f);
		fclose(f);
		buf[k] = '\0';
		char *l = strchr(buf, '('), *r = strrchr(buf, ')');
		char st = 0;
		int ppid = 0;
		if (!l || !r || sscanf(r + 1, " %c %d", &st, &ppid) != 2 || ppid != getpid())
			continue;
		*r = '\0';
		if (st == 'Z')
			(*zombies)++;
		else if (comm && !strcmp(l + 1, comm))
			n++;
	}
	if (d)
		closedir(d);
	return n;
}

/* No proxy left running, no child left unreaped. */
/* Processes anywhere named licvault-sftp-relay (ssh's child, so never ours: only this suite runs it). */
static int relays(void)
{
	DIR *d = opendir("/proc");
	int n = 0;
	struct dirent *de;
	while (d && (de = readdir(d))) {
		char path[300], comm[64] = "";
		snprintf(path, sizeof path, "/proc/%s/comm", de->d_name);
		FILE *f = atoi(de->d_name) > 0 ? fopen(path, "re") : NULL;
		if (!f)
			continue;
		if (fgets(comm, sizeof comm, f) && !strncmp(comm, "licvault-sftp-r", 15))
			n++;
		fclose(f);
	}
	if (d)
		closedir(d);
	return n;
}

static void assert_no_proxy_left(void)
{
	int z = 0;
	int n = children("ssh", &z) + children("nc", &z);
	CU_ASSERT_EQUAL(n, 0);
	CU_ASSERT_EQUAL(z, 0);
	if (n || z)
		fprintf(stderr, "\n  %d proxy processes and %d zombies left", n, z);
	/* the relay under ssh ends with it (its parent-death signal comes a moment later) */
	int r = relays();
	for (int i = 0; i < 300 && r; i++) {
		t_sleep_ms(10);
		r = relays();
	}
	CU_ASSERT_EQUAL(r, 0);
	if (r)
		fprintf(stderr, "\n  %d licvault-sftp-relay processes left", r);
}

static void uri_on(char *buf, size_t cap, const char *host, const char *dir)
{
	snprintf(buf, cap, "sftp://%s%s", host, dir);
}

/* ---- Host aliases: HostName, Port, User, IdentityFile; patterns, negation, Include, Match -- */

static void t_alias(void)
{
	NEED_FIXTURE();
	char *sc = ssh_config("alias", "Host nas\n  HostName 127.0.0.1\n  Port %d\n  User %s\n  IdentityFile %s\n%s",
	                      jf.s.port, jf.s.user, jf.s.client_key, common_tail());
	lv_context *ctx = ctx_with(lv_config("alias", sc, NULL));
	lv_store *s = t_new_store(ctx, jf.s.dir, "alias", 50);
	char dir[600], uri[800], msg[2048];
	data_dir(dir, sizeof dir, "alias");
	uri_on(uri, sizeof uri, "nas", dir);
	logs_clear();
	CU_ASSERT_EQUAL(t_run_uri(ctx, s, uri, 'b', 0, msg, sizeof msg), 0);
	CU_ASSERT_EQUAL(t_count_entries(dir, NULL, 0), 2); /* the set landed behind the alias */
	CU_ASSERT_EQUAL(t_restore_count(ctx, jf.s.dir, uri, NULL), 40);
	/* -vv: what came from where, what was negotiated, how it authenticated */
	char line[200];
	snprintf(line, sizeof line, "port = %d (ssh_config)", jf.s.port);
	CU_ASSERT(logs_have(line));
	CU_ASSERT(logs_have("hostname = 127.0.0.1 (ssh_config)"));
	snprintf(line, sizeof line, "identity_file = %s (ssh_config)", jf.s.client_key);
	CU_ASSERT(logs_have(line));
	CU_ASSERT(logs_have("timeout = 20 (licvault's config)"));
	CU_ASSERT(logs_have("negotiated: kex "));
	CU_ASSERT(logs_have("auth: trying keys"));
	lv_store_free(s);
	lv_context_free(ctx);
}

static void t_patterns_include_match(void)
{
	NEED_FIXTURE();
	char inc[600];
	snprintf(inc, sizeof inc, "%s/included.conf", jf.s.dir);
	char text[300];
	snprintf(text, sizeof text, "Host inc-*\n  HostName 127.0.0.1\n  Port %d\n", jf.s.port);
	write_text(inc, text);
	char *sc = ssh_config("patterns",
	                      "Include %s\n"
	                      "Host *.invalid !bad.invalid\n  HostName 127.0.0.1\n  Port %d\n"
	                      "Match originalhost m-* exec /bin/true\n  HostName 127.0.0.1\n  Port %d\n%s",
	                      inc, jf.s.port, jf.s.port, common_tail());
	lv_context *ctx = ctx_with(lv_config("patterns", sc, NULL));
	lv_store *s = t_new_store(ctx, jf.s.dir, "patterns", 10);
	const char *hosts[] = {"box.invalid", "inc-1", "m-1"};
	for (size_t i = 0; i < 3; i++) {
		char dir[600], uri[800], msg[2048];
		data_dir(dir, sizeof dir, "pattern");
		uri_on(uri, sizeof uri, hosts[i], dir);
		CU_ASSERT_EQUAL(t_run_uri(ctx, s, uri, 'b', 0, msg, sizeof msg), 0);
		CU_ASSERT_EQUAL(t_count_entries(dir, NULL, 0), 2);
	}
	/* negation: bad.invalid gets no HostName, and a name that does not resolve is IO, never BAD_URI */
	char dir[600], uri[800], msg[2048];
	data_dir(dir, sizeof dir, "pattern");
	uri_on(uri, sizeof uri, "bad.invalid", dir);
	CU_ASSERT_EQUAL(t_run_uri(ctx, s, uri, 'b', 0, msg, sizeof msg), LV_E_IO);
	CU_ASSERT_PTR_NOT_NULL(strstr(msg, "cannot resolve host 'bad.invalid'"));
	CU_ASSERT_PTR_NOT_NULL(strstr(msg, "no HostName for it in"));
	CU_ASSERT_PTR_NOT_NULL(strstr(msg, sc));
	lv_store_free(s);
	lv_context_free(ctx);
}

/* ---- precedence: the URI, then licvault's keys, then ssh_config, then defaults ---------- */

static void t_precedence(void)
{
	NEED_FIXTURE();
	/* ssh_config says everything wrong: port 1, an unknown user, the wrong key, no host key, accept-new */
	char kh_empty[600];
	snprintf(kh_empty, sizeof kh_empty, "%s/kh-prec-empty", jf.s.dir);
	write_text(kh_empty, "# nothing\n");
	char *sc = ssh_config("prec",
	                      "Host prec\n  HostName 127.0.0.1\n  Port 1\n  User nosuchuser\n  IdentityFile %s\n"
	                      "  UserKnownHostsFile %s\n  StrictHostKeyChecking no\n",
	                      jf.s.wrong_key, jf.known_hosts_both);
	char dir[600], uri[800], msg[2048];
	data_dir(dir, sizeof dir, "prec");
	lv_store *s = NULL;
	/* 1. the URI's user and port, licvault's identity_file: they win */
	lv_context *ctx = ctx_with(lv_config("prec1", sc, "identity_file = %s\n", jf.s.client_key));
	s = t_new_store(ctx, jf.s.dir, "prec", 10);
	snprintf(uri, sizeof uri, "sftp://%s@prec:%d%s", jf.s.user, jf.s.port, dir);
	logs_clear();
	CU_ASSERT_EQUAL(t_run_uri(ctx, s, uri, 'b', 0, msg, sizeof msg), 0);
	char line[300];
	snprintf(line, sizeof line, "port = %d (the URI)", jf.s.port);
	CU_ASSERT(logs_have(line));
	snprintf(line, sizeof line, "user = %s (the URI)", jf.s.user);
	CU_ASSERT(logs_have(line));
	snprintf(line, sizeof line, "identity_file = %s (licvault's config)", jf.s.client_key);
	CU_ASSERT(logs_have(line));
	lv_context_free(ctx);
	/* 2. licvault's user key over ssh_config's User */
	ctx = ctx_with(lv_config("prec2", sc, "identity_file = %s\nuser = %s\n", jf.s.client_key, jf.s.user));
	snprintf(uri, sizeof uri, "sftp://prec:%d%s", jf.s.port, dir);
	CU_ASSERT_EQUAL(t_run_uri(ctx, s, uri, 'b', LV_BACKUP_OVERWRITE, msg, sizeof msg), 0);
	lv_context_free(ctx);
	/* 3. without licvault's identity_file, ssh_config's (wrong) key is the one tried */
	ctx = ctx_with(lv_config("prec3", sc, NULL));
	snprintf(uri, sizeof uri, "sftp://%s@prec:%d%s", jf.s.user, jf.s.port, dir);
	CU_ASSERT_EQUAL(t_run_uri(ctx, s, uri, 'b', LV_BACKUP_OVERWRITE, msg, sizeof msg), LV_E_AUTH);
	CU_ASSERT_PTR_NOT_NULL(strstr(msg, jf.s.wrong_key));
	/* 4. without the URI's port, ssh_config's Port 1 is used */
	snprintf(uri, sizeof uri, "sftp://%s@prec%s", jf.s.user, dir);
	CU_ASSERT_EQUAL(t_run_uri(ctx, s, uri, 'b', LV_BACKUP_OVERWRITE, msg, sizeof msg), LV_E_IO);
	CU_ASSERT_PTR_NOT_NULL(strstr(msg, "127.0.0.1:1"));
	lv_context_free(ctx);
	/* 5. licvault's known_hosts and strict checking over ssh_config's file and "no" */
	ctx = ctx_with(lv_config("prec5", sc, "identity_file = %s\nknown_hosts = %s\nstrict_host_key_checking = yes\n",
	                         jf.s.client_key, kh_empty));
	snprintf(uri, sizeof uri, "sftp://%s@prec:%d%s", jf.s.user, jf.s.port, dir);
	CU_ASSERT_EQUAL(t_run_uri(ctx, s, uri, 'b', LV_BACKUP_OVERWRITE, msg, sizeof msg), LV_E_HOST_KEY);
	CU_ASSERT_PTR_NOT_NULL(strstr(msg, kh_empty));
	CU_ASSERT_EQUAL(t_sh(NULL, "grep -q ssh-ed25519 '%s'", kh_empty), 1); /* not added */
	lv_context_free(ctx);
	/* 6. ssh_config's StrictHostKeyChecking no means accept-new: the empty file gets the key */
	ctx = ctx_with(lv_config("prec6", sc, "identity_file = %s\nknown_hosts = %s\n", jf.s.client_key, kh_empty));
	CU_ASSERT_EQUAL(t_run_uri(ctx, s, uri, 'b', LV_BACKUP_OVERWRITE, msg, sizeof msg), 0);
	CU_ASSERT_EQUAL(t_sh(NULL, "grep -q ssh-ed25519 '%s'", kh_empty), 0);
	lv_context_free(ctx);
	lv_store_free(s);
}

/* ---- ProxyJump ------------------------------------------------------------------------- */

/* The target's HostName value, and its Port line when it is not 22, for a Host block. */
static void target_lines(char *tgt, size_t cap)
{
	if (jf.target_port == 22)
		snprintf(tgt, cap, "%s", jf.target_host);
	else
		snprintf(tgt, cap, "%s\n  Port %d", jf.target_host, jf.target_port);
}

static char *jump_config(const char *name, int jump_port)
{
	char tgt[64];
	target_lines(tgt, sizeof tgt);
	return ssh_config(name, "Host target\n  HostName %s\n  ProxyJump %s@127.0.0.1:%d\n%s", tgt, jf.s.user, jump_port,
	                  common_tail());
}

static void t_jump_roundtrip(void)
{
	NEED_FIXTURE();
	char *sc = jump_config("jump", jf.s.port);
	lv_context *ctx = ctx_with(lv_config("jump", sc, NULL));
	lv_store *s = t_new_store(ctx, jf.s.dir, "jump", 500);
	char dir[600], uri[800], msg[2048];
	data_dir(dir, sizeof dir, "jump");
	uri_on(uri, sizeof uri, "target", dir);
	logs_clear();
	CU_ASSERT_EQUAL(t_run_uri(ctx, s, uri, 'b', 0, msg, sizeof msg), 0);
	CU_ASSERT_EQUAL(t_count_entries(dir, NULL, 0), 2);
	CU_ASSERT(logs_have("ProxyJump: running "));
	CU_ASSERT(logs_have("BatchMode=yes"));
	CU_ASSERT(logs_have(" -W "));
	/* the hop's TCP connection through the relay beside the driver (relay.c: why) */
	CU_ASSERT(logs_have("ProxyCommand='" LV_TEST_DRIVER_DIR "/licvault-sftp-relay' -- %h %p"));
#if defined(__x86_64__)
	/* the hop's session carries ciphertext only: AES-GCM first where the CPU has AES instructions */
	if (__builtin_cpu_supports("aes"))
		CU_ASSERT(logs_have("-o Ciphers=^aes128-gcm@openssh.com,aes256-gcm@openssh.com -W "));
#endif
	CU_ASSERT_EQUAL(t_restore_count(ctx, jf.s.dir, uri, NULL), 400);
	t_events ev;
	CU_ASSERT_EQUAL(t_verify(ctx, s, uri, &ev), 0);
	assert_no_proxy_left();
	/* the target cannot be reached but through the jump host */
	if (jf.isolated) {
		char direct[800];
		snprintf(direct, sizeof direct, "sftp://%s:%d%s", jf.target_host, jf.target_port, dir);
		char *plain = lv_config("jump-direct", "no", "identity_file = %s\nknown_hosts = %s\n", jf.s.client_key,
		                        jf.known_hosts_both);
		lv_context *c2 = ctx_with(plain);
		CU_ASSERT_EQUAL(t_restore_count(c2, jf.s.dir, direct, NULL), -1);
		lv_context_free(c2);
	}
	lv_store_free(s);
	lv_context_free(ctx);
}

/*
 * A hop whose own configuration says how to reach it (here a ProxyCommand)
 * keeps it: the relay is not put under it (a command-line ProxyCommand
 * would replace the user's), and the run goes through the user's command;
 * its own Ciphers are not reordered either.
 */
static void t_jump_hop_own_proxy(void)
{
	NEED_FIXTURE();
	const char *nc = access("/usr/bin/nc", X_OK) == 0 ? "/usr/bin/nc" : access("/bin/nc", X_OK) == 0 ? "/bin/nc" : NULL;
	if (!nc) {
		fprintf(stderr, "  skipped %s: no nc (apt-get install netcat-openbsd)\n", __func__);
		return;
	}
	char tgt[64];
	target_lines(tgt, sizeof tgt);
	char *sc = ssh_config("hopproxy",
	                      "Host target\n  HostName %s\n  ProxyJump %s@hop\n"
	                      "Host hop\n  HostName 127.0.0.1\n  Port %d\n  ProxyCommand %s %%h %%p\n  Ciphers aes256-ctr\n%s",
	                      tgt, jf.s.user, jf.s.port, nc, common_tail());
	lv_context *ctx = ctx_with(lv_config("hopproxy", sc, NULL));
	lv_store *s = t_new_store(ctx, jf.s.dir, "hopproxy", 20);
	char dir[600], uri[800], msg[2048];
	data_dir(dir, sizeof dir, "hopproxy");
	uri_on(uri, sizeof uri, "target", dir);
	logs_clear();
	CU_ASSERT_EQUAL(t_run_uri(ctx, s, uri, 'b', 0, msg, sizeof msg), 0);
	CU_ASSERT_EQUAL(t_count_entries(dir, NULL, 0), 2);
	CU_ASSERT(logs_have("ProxyJump: the hop hop: ssh connects to it itself (it has a ProxyCommand of its own)"));
	CU_ASSERT_FALSE(strstr(logs.text, "licvault-sftp-relay'") != NULL);
	CU_ASSERT_FALSE(strstr(logs.text, "Ciphers=^") != NULL); /* the hop's own Ciphers stand */
	assert_no_proxy_left();
	lv_store_free(s);
	lv_context_free(ctx);
}

/*
 * A relay beside the driver that is not the file itself or that someone else could change is not used: ssh
 * connects to the hop itself.  Each case is a copy of the driver in a folder of its own beside: a relay of mode
 * 0777 (others may write it), 0775 (its group may), one of another user's (nobody), and a symbolic link to the
 * real relay (which the driver followed: the file a link leads to, and who may swap the link's target, are not
 * what was checked).
 */
static void t_jump_relay_untrusted(void)
{
	NEED_FIXTURE();
	const char *setups[] = {
	    "cp '%s/licvault-sftp-relay' '%s/' && chmod 777 '%s/licvault-sftp-relay'",
	    "cp '%s/licvault-sftp-relay' '%s/' && chmod 775 '%s/licvault-sftp-relay'",
	    "cp '%s/licvault-sftp-relay' '%s/' && chown nobody '%s/licvault-sftp-relay'",
	    "ln -s '%s/licvault-sftp-relay' '%s/' && test -L '%s/licvault-sftp-relay'",
	};
	for (size_t i = 0; i < sizeof setups / sizeof setups[0]; i++) {
		if (i == 2 && geteuid() != 0) {
			fprintf(stderr, "  skipped another user's relay: not root\n");
			continue;
		}
		char drv[700], setup[3000];
		snprintf(drv, sizeof drv, "%s/relay-drv-%zu", jf.s.dir, i);
		snprintf(setup, sizeof setup, setups[i], LV_TEST_DRIVER_DIR, drv, drv);
		char *out = NULL;
		t_sh(&out, "rm -rf '%s' && mkdir -m 755 '%s' && cp '%s/lv_sftp.so' '%s/' && %s && echo ok", drv, drv,
		     LV_TEST_DRIVER_DIR, drv, setup);
		CU_ASSERT_PTR_NOT_NULL_FATAL(out);
		CU_ASSERT_PTR_NOT_NULL(strstr(out, "ok"));
		free(out);
		char *sc = jump_config("relayuntrusted", jf.s.port);
		lv_context *ctx = ctx_with(lv_config("relayuntrusted", sc, "[licvault]\ndriver_path = %s\n", drv));
		lv_store *s = t_new_store(ctx, jf.s.dir, "relayuntrusted", 10);
		char dir[600], uri[800], msg[2048];
		data_dir(dir, sizeof dir, "relayuntrusted");
		uri_on(uri, sizeof uri, "target", dir);
		logs_clear();
		CU_ASSERT_EQUAL(t_run_uri(ctx, s, uri, 'b', 0, msg, sizeof msg), 0);
		CU_ASSERT(logs_have("(no usable licvault-sftp-relay beside the driver)"));
		CU_ASSERT_FALSE(strstr(logs.text, "licvault-sftp-relay'") != NULL);
		if (strstr(logs.text, "licvault-sftp-relay'"))
			fprintf(stderr, "\n  case %zu: the relay was used", i);
		assert_no_proxy_left();
		lv_store_free(s);
		lv_context_free(ctx);
	}
}

/*
 * A hop whose HostName begins with '-' (from the user's ssh_config, which ssh does not check): the relay takes it
 * for a host name that does not resolve, never for one of its options (it printed its usage: "-6" was an option).
 */
static void t_jump_hop_dash(void)
{
	NEED_FIXTURE();
	char tgt[64];
	target_lines(tgt, sizeof tgt);
	char *sc = ssh_config("hopdash", "Host target\n  HostName %s\n  ProxyJump %s@hop\nHost hop\n  HostName -6\n  Port %d\n%s",
	                      tgt, jf.s.user, jf.s.port, common_tail());
	lv_context *ctx = ctx_with(lv_config("hopdash", sc, NULL));
	lv_store *s = t_new_store(ctx, jf.s.dir, "hopdash", 10);
	char dir[600], uri[800], msg[2048], want[100];
	data_dir(dir, sizeof dir, "hopdash");
	uri_on(uri, sizeof uri, "target", dir);
	logs_clear();
	CU_ASSERT_EQUAL(t_run_uri(ctx, s, uri, 'b', 0, msg, sizeof msg), LV_E_IO);
	CU_ASSERT(logs_have("licvault-sftp-relay' -- %h %p"));
	snprintf(want, sizeof want, "licvault-sftp-relay: cannot resolve -6 port %d", jf.s.port);
	CU_ASSERT_PTR_NOT_NULL(strstr(msg, want));
	CU_ASSERT_PTR_NULL(strstr(msg, "usage:"));
	if (!strstr(msg, want))
		fprintf(stderr, "\n  message: %s", msg);
	CU_ASSERT_EQUAL(t_count_entries(dir, NULL, 0), -1);
	assert_no_proxy_left();
	lv_store_free(s);
	lv_context_free(ctx);
}

/*
 * The hop's ConnectTimeout reaches the relay (-t), whatever value ssh takes: the relay refused more than a day
 * (its usage, and the hop could not be reached), where ssh without it connects.
 */
static void t_jump_hop_timeout(void)
{
	NEED_FIXTURE();
	const char *timeouts[] = {"30", "100000"};
	for (size_t i = 0; i < 2; i++) {
		char tgt[64];
		target_lines(tgt, sizeof tgt);
		char *sc = ssh_config("hoptimeout",
		                      "Host target\n  HostName %s\n  ProxyJump %s@hop\n"
		                      "Host hop\n  HostName 127.0.0.1\n  Port %d\n  ConnectTimeout %s\n%s",
		                      tgt, jf.s.user, jf.s.port, timeouts[i], common_tail());
		lv_context *ctx = ctx_with(lv_config("hoptimeout", sc, NULL));
		lv_store *s = t_new_store(ctx, jf.s.dir, "hoptimeout", 10);
		char dir[600], uri[800], msg[2048], want[100];
		data_dir(dir, sizeof dir, "hoptimeout");
		uri_on(uri, sizeof uri, "target", dir);
		logs_clear();
		CU_ASSERT_EQUAL(t_run_uri(ctx, s, uri, 'b', 0, msg, sizeof msg), 0);
		snprintf(want, sizeof want, "licvault-sftp-relay' -t %s -- %%h %%p", timeouts[i]);
		CU_ASSERT(logs_have(want));
		CU_ASSERT_EQUAL(t_count_entries(dir, NULL, 0), 2);
		if (t_count_entries(dir, NULL, 0) != 2)
			fprintf(stderr, "\n  ConnectTimeout %s: %s", timeouts[i], msg);
		assert_no_proxy_left();
		lv_store_free(s);
		lv_context_free(ctx);
	}
}

static void t_jump_down(void)
{
	NEED_FIXTURE();
	/* a jump host whose sshd is not running: nothing listens on its port */
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t l = sizeof a;
	CU_ASSERT_FATAL(fd >= 0 && bind(fd, (struct sockaddr *)&a, sizeof a) == 0 &&
	                getsockname(fd, (struct sockaddr *)&a, &l) == 0);
	int dead_port = ntohs(a.sin_port);
	close(fd);
	char *sc = jump_config("jumpdown", dead_port);
	lv_context *ctx = ctx_with(lv_config("jumpdown", sc, NULL));
	lv_store *s = t_new_store(ctx, jf.s.dir, "jumpdown", 10);
	char dir[600], uri[800], msg[2048];
	data_dir(dir, sizeof dir, "jumpdown");
	uri_on(uri, sizeof uri, "target", dir);
	CU_ASSERT_EQUAL(t_run_uri(ctx, s, uri, 'b', 0, msg, sizeof msg), LV_E_IO);
	/* which hop failed and why: OpenSSH's own words, through the proxy's stderr */
	char hop[100];
	snprintf(hop, sizeof hop, "port %d", dead_port);
	CU_ASSERT_PTR_NOT_NULL(strstr(msg, "ProxyJump"));
	CU_ASSERT_PTR_NOT_NULL(strstr(msg, hop));
	CU_ASSERT_PTR_NOT_NULL(strstr(msg, "Connection refused"));
	CU_ASSERT_PTR_NOT_NULL(strstr(msg, "exited with status 255"));
	snprintf(hop, sizeof hop, "licvault-sftp-relay: cannot connect to 127.0.0.1 port %d: Connection refused", dead_port);
	CU_ASSERT_PTR_NOT_NULL(strstr(msg, hop));
	if (!strstr(msg, "Connection refused"))
		fprintf(stderr, "\n  message: %s", msg);
	CU_ASSERT_EQUAL(t_count_entries(dir, NULL, 0), -1);
	assert_no_proxy_left();
	lv_store_free(s);
	lv_context_free(ctx);
}

/* 2,000 licenses of 16 KiB: a 32 MiB pack, so its upload takes a while. */
static lv_store *big_store(lv_context *ctx, const char *tag)
{
	lv_store *s = t_new_store(ctx, jf.s.dir, tag, 0);
	static unsigned char payload[16384];
	for (int i = 0; i < 2000; i++) {
		lv_license l;
		char kid[32];
		t_license(&l, i, kid, sizeof kid, payload, sizeof payload);
		payload[i % sizeof payload] ^= (unsigned char)i;
		l.rights |= LV_RIGHT_BACKUP;
		if (lv_store_add(s, &l, 0))
			break;
	}
	return s;
}

/* Does process pid run with the argument arg? */
static int has_arg(int pid, const char *arg)
{
	char path[64], buf[4096];
	snprintf(path, sizeof path, "/proc/%d/cmdline", pid);
	FILE *f = fopen(path, "re");
	if (!f)
		return 0;
	size_t k = fread(buf, 1, sizeof buf - 1, f);
	fclose(f);
	buf[k] = '\0';
	for (size_t i = 0; i < k; i += strlen(buf + i) + 1)
		if (!strcmp(buf + i, arg))
			return 1;
	return 0;
}

/* A live child of parent whose command name is comm (as /proc shows it: 15 bytes at most), with arg among its arguments when arg is given; or 0. */
static int child_of(int parent, const char *comm, const char *arg)
{
	DIR *d = opendir("/proc");
	int found = 0;
	struct dirent *de;
	while (d && !found && (de = readdir(d))) {
		int pid = atoi(de->d_name);
		char path[64], buf[512];
		snprintf(path, sizeof path, "/proc/%d/stat", pid);
		FILE *f = pid > 0 ? fopen(path, "re") : NULL;
		if (!f)
			continue;
		size_t k = fread(buf, 1, sizeof buf - 1, f);
		fclose(f);
		buf[k] = '\0';
		char *l = strchr(buf, '('), *r = strrchr(buf, ')');
		char st = 0;
		int ppid = 0;
		if (l && r && sscanf(r + 1, " %c %d", &st, &ppid) == 2 && ppid == parent && st != 'Z') {
			*r = '\0';
			if (!strcmp(l + 1, comm) && (!arg || has_arg(pid, arg)))
				found = pid;
		}
	}
	if (d)
		closedir(d);
	return found;
}

/* This process's live child running ssh with -W (the ProxyJump proxy, not the `ssh -G` the driver runs before it), or 0. */
static int proxy_child(void)
{
	return child_of(getpid(), "ssh", "-W");
}

/* Once 1 MiB of the pack's temporary arrived at the target, freeze the victim (the proxy, the relay), then kill it. */
typedef struct killer {
	char dir[600];
	int (*victim)(void);      /* its pid, or 0 */
	atomic_int fired;
	atomic_int stop;
} killer;

static void *killer_main(void *p)
{
	killer *k = p;
	for (int i = 0; i < 60000 && !atomic_load(&k->stop); i++) {
		int hit = t_file_grown(k->dir, "pack.tmp-", 1 << 20);
		int pid = hit ? k->victim() : 0;
		if (pid) {
			kill(pid, SIGSTOP); /* the upload cannot finish now */
			kill(pid, SIGKILL);
			atomic_store(&k->fired, 1);
			return NULL;
		}
		t_sleep_ms(1);
	}
	return NULL;
}

/*
 * A backup of 100 licenses through ProxyJump, then one of the big store that
 * victim() is killed under once 1 MiB of its pack arrived: that run's code,
 * its message in msg; the context, stores and location for the checks after.
 */
typedef struct killed_run {
	lv_context *ctx;
	lv_store *small, *big;
	char dir[600], uri[800];
} killed_run;

static int run_killed(killed_run *r, const char *name, int (*victim)(void), char *msg, size_t cap)
{
	char n[64];
	char *sc = jump_config(name, jf.s.port);
	r->ctx = ctx_with(lv_config(name, sc, NULL));
	snprintf(n, sizeof n, "%s-old", name);
	r->small = t_new_store(r->ctx, jf.s.dir, n, 100);
	snprintf(n, sizeof n, "%s-new", name);
	r->big = big_store(r->ctx, n);
	data_dir(r->dir, sizeof r->dir, name);
	uri_on(r->uri, sizeof r->uri, "target", r->dir);
	CU_ASSERT_EQUAL_FATAL(t_run_uri(r->ctx, r->small, r->uri, 'b', 0, msg, cap), 0);
	killer k = {.victim = victim, .fired = 0};
	snprintf(k.dir, sizeof k.dir, "%s", r->dir);
	pthread_t th;
	CU_ASSERT_EQUAL_FATAL(pthread_create(&th, NULL, killer_main, &k), 0);
	int rc = t_run_uri(r->ctx, r->big, r->uri, 'b', LV_BACKUP_OVERWRITE, msg, cap);
	atomic_store(&k.stop, 1);
	pthread_join(th, NULL);
	CU_ASSERT(atomic_load(&k.fired));
	/* nothing lost: the old set is whole; the temporary was removed through a new proxy */
	CU_ASSERT_EQUAL(t_count_entries(r->dir, ".tmp-", 0), 0);
	CU_ASSERT_EQUAL(t_count_entries(r->dir, "manifest", 0), 1);
	CU_ASSERT_EQUAL(t_restore_count(r->ctx, jf.s.dir, r->uri, NULL), 80);
	assert_no_proxy_left();
	return rc;
}

static void killed_run_free(killed_run *r)
{
	lv_store_free(r->small);
	lv_store_free(r->big);
	lv_context_free(r->ctx);
}

static void t_proxy_killed(void)
{
	NEED_FIXTURE();
	killed_run r;
	char msg[2048];
	int rc = run_killed(&r, "killed", proxy_child, msg, sizeof msg);
	CU_ASSERT_EQUAL(rc, LV_E_IO);
	CU_ASSERT_PTR_NOT_NULL(strstr(msg, "lost"));
	CU_ASSERT_PTR_NOT_NULL(strstr(msg, "killed by signal 9"));
	CU_ASSERT_PTR_NOT_NULL(strstr(msg, ".pack.tmp-"));
	if (!strstr(msg, "killed by signal 9"))
		fprintf(stderr, "\n  message: %s", msg);
	killed_run_free(&r);
}

/* The relay under this process's ProxyJump ssh (its child), or 0. */
static int relay_child(void)
{
	int ssh = proxy_child();
	return ssh ? child_of(ssh, "licvault-sftp-r", NULL) : 0;
}

static void t_relay_killed(void)
{
	NEED_FIXTURE();
	killed_run r;
	char msg[2048];
	int rc = run_killed(&r, "relaykilled", relay_child, msg, sizeof msg);
	CU_ASSERT_EQUAL(rc, LV_E_IO);
	CU_ASSERT_PTR_NOT_NULL(strstr(msg, "lost"));
	if (!strstr(msg, "lost"))
		fprintf(stderr, "\n  message: %s", msg);
	t_events ev;
	CU_ASSERT_EQUAL(t_verify(r.ctx, r.small, r.uri, &ev), 0);
	killed_run_free(&r);
}

typedef struct ended {
	atomic_int ended;
} ended;

static void end_cb(int status, int result, const lv_value *v, void *ud)
{
	(void)result;
	(void)v;
	if (status == LV_STATUS_END)
		atomic_store(&((ended *)ud)->ended, 1);
}

static void t_cancel_connecting(void)
{
	NEED_FIXTURE();
	/* a jump host that accepts the TCP connection and never says a word */
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t l = sizeof a;
	CU_ASSERT_FATAL(fd >= 0 && bind(fd, (struct sockaddr *)&a, sizeof a) == 0 && listen(fd, 8) == 0 &&
	                getsockname(fd, (struct sockaddr *)&a, &l) == 0);
	char *sc = jump_config("stall", ntohs(a.sin_port));
	/* a long timeout: only the cancel can end the connect */
	lv_context *ctx = ctx_with(lv_config("stall", sc, "timeout = 600\n"));
	lv_store *s = t_new_store(ctx, jf.s.dir, "stall", 10);
	char dir[600], uri[800];
	data_dir(dir, sizeof dir, "stall");
	uri_on(uri, sizeof uri, "target", dir);
	lv_restorer *r = NULL;
	CU_ASSERT_EQUAL_FATAL(lv_restorer_new(&r, ctx, s), 0);
	lv_restorer_set_string(r, LV_PROP_BACKUP_PATH, uri);
	ended e = {0};
	CU_ASSERT_EQUAL_FATAL(lv_restorer_backup(r, 0, end_cb, &e), 0);
	/* the proxy is running: the run is connecting through it */
	int i;
	for (i = 0; i < 3000 && !proxy_child() && !atomic_load(&e.ended); i++)
		t_sleep_ms(10);
	CU_ASSERT(proxy_child() > 0);
	t_sleep_ms(200); /* let ssh reach the silent jump host */
	lv_restorer_cancel(r);
	int result = 0;
	lv_restorer_wait(r, &result);
	CU_ASSERT(atomic_load(&e.ended));
	CU_ASSERT_EQUAL(result, LV_E_CANCELED);
	assert_no_proxy_left();
	lv_restorer_free(r);
	close(fd);
	lv_store_free(s);
	lv_context_free(ctx);
}

/* ---- ProxyCommand --------------------------------------------------------------------- */

static void t_proxycommand(void)
{
	NEED_FIXTURE();
	const char *nc = access("/usr/bin/nc", X_OK) == 0 ? "/usr/bin/nc" : access("/bin/nc", X_OK) == 0 ? "/bin/nc" : NULL;
	if (!nc) {
		fprintf(stderr, "  skipped %s: no nc (apt-get install netcat-openbsd)\n", __func__);
		return;
	}
	char *sc = ssh_config("pc",
	                      "Host via-nc\n  HostName 127.0.0.1\n  Port %d\n  ProxyCommand %s %%h %%p\n"
	                      "Host broken\n  HostName 127.0.0.1\n  Port %d\n  ProxyCommand sh -c 'echo proxy-says-no-%%p >&2; exit 3'\n%s",
	                      jf.s.port, nc, jf.s.port, common_tail());
	lv_context *ctx = ctx_with(lv_config("pc", sc, NULL));
	lv_store *s = t_new_store(ctx, jf.s.dir, "pc", 30);
	char dir[600], uri[800], msg[2048];
	data_dir(dir, sizeof dir, "pc");
	uri_on(uri, sizeof uri, "via-nc", dir);
	logs_clear();
	CU_ASSERT_EQUAL(t_run_uri(ctx, s, uri, 'b', 0, msg, sizeof msg), 0);
	CU_ASSERT_EQUAL(t_count_entries(dir, NULL, 0), 2);
	char line[700];
	snprintf(line, sizeof line, "ProxyCommand = %s 127.0.0.1 %d (ssh_config)", nc, jf.s.port); /* tokens expanded */
	CU_ASSERT(logs_have(line));
	CU_ASSERT_EQUAL(t_restore_count(ctx, jf.s.dir, uri, NULL), 24);
	assert_no_proxy_left();
	/* a ProxyCommand that fails: its status and its words in the message */
	uri_on(uri, sizeof uri, "broken", dir);
	CU_ASSERT_EQUAL(t_run_uri(ctx, s, uri, 'b', LV_BACKUP_OVERWRITE, msg, sizeof msg), LV_E_IO);
	snprintf(line, sizeof line, "proxy-says-no-%d", jf.s.port);
	CU_ASSERT_PTR_NOT_NULL(strstr(msg, line));
	CU_ASSERT_PTR_NOT_NULL(strstr(msg, "exited with status 3"));
	if (!strstr(msg, "exited with status 3"))
		fprintf(stderr, "\n  message: %s", msg);
	assert_no_proxy_left();
	lv_store_free(s);
	lv_context_free(ctx);
}

/* ---- hashed known_hosts ---------------------------------------------------------------- */

static void t_hashed_known_hosts(void)
{
	NEED_FIXTURE();
	char kh[600];
	snprintf(kh, sizeof kh, "%s/hashed/known_hosts", jf.s.dir); /* not there yet */
	char *sc = ssh_config("hashed",
	                      "Host nas\n  HostName 127.0.0.1\n  Port %d\n  User %s\n  IdentityFile %s\n"
	                      "  UserKnownHostsFile %s\n  GlobalKnownHostsFile /dev/null\n"
	                      "  StrictHostKeyChecking accept-new\n  HashKnownHosts yes\n",
	                      jf.s.port, jf.s.user, jf.s.client_key, kh);
	lv_context *ctx = ctx_with(lv_config("hashed", sc, NULL));
	lv_store *s = t_new_store(ctx, jf.s.dir, "hashed", 10);
	char dir[600], uri[800], msg[2048];
	data_dir(dir, sizeof dir, "hashed");
	uri_on(uri, sizeof uri, "nas", dir);
	CU_ASSERT_EQUAL(t_run_uri(ctx, s, uri, 'b', 0, msg, sizeof msg), 0);
	/* one hashed line, no host name in clear */
	char *out = NULL;
	CU_ASSERT_EQUAL(t_sh(&out, "grep -c '^|1|[A-Za-z0-9+/=]*|[A-Za-z0-9+/=]* ssh-ed25519 ' '%s'", kh), 0);
	CU_ASSERT(out && atoi(out) == 1);
	free(out);
	CU_ASSERT_EQUAL(t_sh(NULL, "grep -q 127.0.0.1 '%s'", kh), 1);
	/* OpenSSH finds it, and accepts it with strict checking: its sftp client connects */
	CU_ASSERT_EQUAL(t_sh(NULL, "ssh-keygen -F '[127.0.0.1]:%d' -f '%s' | grep -q ssh-ed25519", jf.s.port, kh), 0);
	out = NULL;
	int rc = t_sh(&out,
	              "echo pwd | sftp -b - -F '%s' -o StrictHostKeyChecking=yes -o BatchMode=yes nas </dev/null", sc);
	CU_ASSERT_EQUAL(rc, 0);
	if (rc)
		fprintf(stderr, "\n  sftp: %s", out ? out : "");
	free(out);
	/* and a second licvault run, strict now, reads it back */
	char *sc2 = ssh_config("hashed2", "Host nas\n  HostName 127.0.0.1\n  Port %d\n  User %s\n  IdentityFile %s\n"
	                                  "  UserKnownHostsFile %s\n  StrictHostKeyChecking yes\n",
	                       jf.s.port, jf.s.user, jf.s.client_key, kh);
	lv_context *ctx2 = ctx_with(lv_config("hashed2", sc2, NULL));
	CU_ASSERT_EQUAL(t_restore_count(ctx2, jf.s.dir, uri, NULL), 8);
	CU_ASSERT_EQUAL(t_sh(NULL, "test $(grep -c . '%s') = 1", kh), 0); /* nothing added */
	lv_context_free(ctx2);
	lv_store_free(s);
	lv_context_free(ctx);
}

/* ---- what is refused, and the fallback ------------------------------------------------ */

static void t_host_dash_refused(void)
{
	NEED_FIXTURE();
	char mark[600];
	snprintf(mark, sizeof mark, "%s/dash-mark", jf.s.dir);
	lv_context *ctx = ctx_with(lv_config("dash", NULL, NULL));
	lv_store *s = t_new_store(ctx, jf.s.dir, "dash", 5);
	char uri[1200], msg[2048];
	snprintf(uri, sizeof uri, "sftp://-oProxyCommand=touch%%20%s/x", mark);
	CU_ASSERT_EQUAL(t_run_uri(ctx, s, uri, 'b', 0, msg, sizeof msg), LV_E_BAD_URI);
	CU_ASSERT_PTR_NOT_NULL(strstr(msg, "begins with '-'"));
	CU_ASSERT_EQUAL(access(mark, F_OK), -1); /* nothing ran */
	lv_store_free(s);
	lv_context_free(ctx);
}

static void t_ssh_command_missing(void)
{
	NEED_FIXTURE();
	char *sc = ssh_config("nocmd", "Host nas\n  HostName 127.0.0.1\n  Port %d\n%s", jf.s.port, common_tail());
	/* ssh_config left at its default (yes): the documented fallback is to go on without it, saying so */
	lv_context *ctx = ctx_with(lv_config("nocmd", NULL, "ssh_command = %s/no-such-ssh\nidentity_file = %s\nknown_hosts = %s\n",
	                                     jf.s.dir, jf.s.client_key, jf.known_hosts_both));
	lv_store *s = t_new_store(ctx, jf.s.dir, "nocmd", 10);
	char dir[600], uri[800], msg[2048];
	data_dir(dir, sizeof dir, "nocmd");
	snprintf(uri, sizeof uri, "sftp://127.0.0.1:%d%s", jf.s.port, dir);
	logs_clear();
	CU_ASSERT_EQUAL(t_run_uri(ctx, s, uri, 'b', 0, msg, sizeof msg), 0);
	CU_ASSERT(logs_have("no-such-ssh' cannot be run"));
	CU_ASSERT(logs_have("[1] ")); /* a warning */
	/* an alias then cannot resolve, and the message says why */
	uri_on(uri, sizeof uri, "nas", dir);
	CU_ASSERT_EQUAL(t_run_uri(ctx, s, uri, 'b', LV_BACKUP_OVERWRITE, msg, sizeof msg), LV_E_IO);
	CU_ASSERT_PTR_NOT_NULL(strstr(msg, "cannot resolve host 'nas'"));
	CU_ASSERT_PTR_NOT_NULL(strstr(msg, "no-such-ssh' cannot be run"));
	lv_context_free(ctx);
	/* an ssh_config FILE named explicitly cannot be read without ssh: CONFIG */
	ctx = ctx_with(lv_config("nocmd2", sc, "ssh_command = %s/no-such-ssh\n", jf.s.dir));
	CU_ASSERT_EQUAL(t_run_uri(ctx, s, uri, 'b', LV_BACKUP_OVERWRITE, msg, sizeof msg), LV_E_CONFIG);
	CU_ASSERT_PTR_NOT_NULL(strstr(msg, "cannot be run"));
	lv_context_free(ctx);
	lv_store_free(s);
}

static void t_bad_ssh_config(void)
{
	NEED_FIXTURE();
	char *sc = ssh_config("bad", "Hots nas\n  Port 2\n");
	lv_context *ctx = ctx_with(lv_config("bad", sc, NULL));
	lv_store *s = t_new_store(ctx, jf.s.dir, "badcfg", 5);
	char uri[800], msg[2048];
	snprintf(uri, sizeof uri, "sftp://nas/%s/never", jf.s.data);
	CU_ASSERT_EQUAL(t_run_uri(ctx, s, uri, 'b', 0, msg, sizeof msg), LV_E_CONFIG);
	CU_ASSERT_PTR_NOT_NULL(strstr(msg, "Bad configuration option")); /* OpenSSH's own words */
	CU_ASSERT_PTR_NOT_NULL(strstr(msg, sc));
	lv_store_free(s);
	lv_context_free(ctx);
}

/*
 * In a set-user-ID process (a set-user-ID root copy of the CLI run by
 * `nobody`): ssh_command must be an absolute path, and what the user's
 * ssh_config makes ssh do runs with the real user's rights (a Match exec
 * writes the uid it runs as).
 */
static void t_setuid(void)
{
	NEED_FIXTURE();
	struct statvfs vfs;
	if (geteuid() != 0 || access("/usr/sbin/runuser", X_OK) != 0 || statvfs(jf.s.dir, &vfs) != 0 ||
	    (vfs.f_flag & ST_NOSUID)) {
		fprintf(stderr, "  skipped %s: needs root, runuser and a temporary directory not mounted nosuid\n",
		        __func__);
		return;
	}
	char cli[600], store[600], uidfile[600], drivers[600];
	snprintf(cli, sizeof cli, "%s/licvault-suid", jf.s.dir);
	snprintf(store, sizeof store, "%s/suid.db", jf.s.dir);
	snprintf(uidfile, sizeof uidfile, "%s/suid-uid", jf.s.data);
	snprintf(drivers, sizeof drivers, "%s", LV_TEST_DRIVER_DIR);
	CU_ASSERT_EQUAL_FATAL(t_sh(NULL, "cp '%s' '%s' && chown root '%s' && chmod 4755 '%s'", T_CLI, cli, cli, cli), 0);
	char *sc = ssh_config("suid", "Match exec \"id -u > %s\"\n  Port 1\n", uidfile);
	chmod(sc, 0644);
	const char *cases[2][2] = {{"ssh_command = ssh\n", "must be an absolute path"}, {"", NULL}};
	for (int i = 0; i < 2; i++) {
		char cfg[600], text[1500];
		snprintf(cfg, sizeof cfg, "%s/suid-%d.conf", jf.s.dir, i);
		snprintf(text, sizeof text, "[licvault]\ndriver_path = %s\n[driver \"sftp\"]\nssh_config = %s\n%sconnect_retries = 0\n",
		         drivers, sc, cases[i][0]);
		write_text(cfg, text);
		chmod(cfg, 0644);
		unlink(uidfile);
		char *out = NULL;
		int rc = t_sh(&out, "cd / && runuser -u nobody -- '%s' --config '%s' --store '%s' verify sftp://suid-host/x 2>&1", cli,
		              cfg, store);
		CU_ASSERT(rc != 0);
		if (cases[i][1]) {
			CU_ASSERT(out && strstr(out, cases[i][1]));
			CU_ASSERT_EQUAL(access(uidfile, F_OK), -1); /* ssh was never run */
		} else {
			/* ssh -G ran, as nobody: the Match exec says so; and ssh_config's Port 1 was used */
			char *uid = NULL;
			CU_ASSERT_EQUAL(t_sh(&uid, "cat '%s'", uidfile), 0);
			CU_ASSERT(uid && atoi(uid) != 0); /* not root */
			char *nob = NULL;
			CU_ASSERT_EQUAL(t_sh(&nob, "id -u nobody"), 0);
			CU_ASSERT(uid && nob && atoi(uid) == atoi(nob));
			free(nob);
			free(uid);
			CU_ASSERT(out && strstr(out, "nobody@suid-host:1")); /* the real user's name */
		}
		if (getenv("LV_TEST_VERBOSE") || !out)
			fprintf(stderr, "\n  set-user-ID case %d: %s", i, out ? out : "(no output)");
		free(out);
	}
	unlink(cli);
}

LV_SUITE(sshcfg, sshcfg, suite_init, suite_clean,
         {"Host alias: HostName, Port, User, IdentityFile; -vv lines", t_alias},
         {"Host patterns, negation, Include, Match", t_patterns_include_match},
         {"precedence: URI, licvault keys, ssh_config, defaults", t_precedence},
         {"ProxyJump: backup, restore, verify", t_jump_roundtrip},
         {"ProxyJump: the jump host down", t_jump_down},
         {"ProxyJump: the hop's ConnectTimeout goes to the relay, any ssh takes", t_jump_hop_timeout},
         {"ProxyJump: a hop's HostName beginning with '-' is no option of the relay", t_jump_hop_dash},
         {"ProxyJump: a hop with a ProxyCommand of its own keeps it", t_jump_hop_own_proxy},
         {"ProxyJump: a relay others may write, another user's or a link is not used", t_jump_relay_untrusted},
         {"ProxyJump: the proxy killed mid-transfer", t_proxy_killed},
         {"ProxyJump: cancel while connecting", t_cancel_connecting},
         {"ProxyJump: the relay killed mid-transfer", t_relay_killed},
         {"ProxyCommand with nc, and a failing one", t_proxycommand},
         {"hashed known_hosts written, then read by OpenSSH", t_hashed_known_hosts},
         {"a host beginning with '-' is refused", t_host_dash_refused},
         {"ssh_command pointing at no program", t_ssh_command_missing},
         {"an ssh_config OpenSSH rejects", t_bad_ssh_config},
         {"set-user-ID: ssh_command absolute, ssh as the real user", t_setuid})
