/*
 * The sftp driver against a real OpenSSH sshd on loopback (fixture_sshd.c).
 * Every case skips, saying why, only when sshd cannot start.
 */
#include "conformance.h"
#include "testutil.h"
#include "fixture_sshd.h"
#include "licvault/driver.h"

#include <dirent.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <dlfcn.h>
#include <pthread.h>
#include <pwd.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static t_sshd sshd;
static int sshd_up;
static char skip_why[1024];

static int suite_init(void)
{
	t_agent_hide(); /* the tests decide which agent exists */
	sshd_up = t_sshd_start(&sshd, skip_why, sizeof skip_why) == 0;
	if (!sshd_up)
		fprintf(stderr, "sftp: sshd cannot start, the sftp tests are skipped: %s\n", skip_why);
	return 0;
}

static int suite_clean(void)
{
	if (sshd_up)
		t_sshd_stop(&sshd);
	t_agent_restore();
	return 0;
}

#define NEED_SSHD() T_NEED(sshd_up, skip_why)

/* ---- helpers -------------------------------------------------------------- */

/* A config in the fixture dir with extra lines. Returns a static path (one per name). */
static char *config_with(const char *name, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static char *config_with(const char *name, const char *fmt, ...)
{
	static char path[8][600];
	static int next;
	char *p = path[next++ % 8];
	snprintf(p, 600, "%s/%s.conf", sshd.dir, name);
	char extra[2048];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(extra, sizeof extra, fmt, ap);
	va_end(ap);
	CU_ASSERT_EQUAL(t_sshd_write_config(&sshd, p, extra), 0);
	return p;
}

static void uri_for(char *buf, size_t cap, const char *user, const char *path)
{
	snprintf(buf, cap, "sftp://%s%s127.0.0.1:%d%s", user ? user : "", user ? "@" : "", sshd.port, path);
}

/* A unique directory name under the fixture's data directory (not created). */
static void data_dir(char *buf, size_t cap, const char *tag)
{
	static int n;
	snprintf(buf, cap, "%s/%s-%d", sshd.data, tag, n++);
}

/* ---- round trip ---------------------------------------------------------- */

static void t_roundtrip_10k(void)
{
	NEED_SSHD();
	lv_context *ctx = t_context_with(sshd.config_path);
	char store[600], out[600];
	snprintf(store, sizeof store, "%s/gen10k.db", sshd.dir);
	char *o = NULL;
	int rc = t_sh(&o, "'%s' --store '%s' --count 10000", T_GEN, store);
	if (rc)
		fprintf(stderr, "licvault-gen: %s\n", o ? o : "");
	free(o);
	CU_ASSERT_EQUAL_FATAL(rc, 0);
	lv_store *s = NULL;
	CU_ASSERT_EQUAL_FATAL(lv_store_open(&s, ctx, store, 0), 0);

	char dir[600], uri[800];
	data_dir(dir, sizeof dir, "rt/deeper"); /* missing directories are made */
	uri_for(uri, sizeof uri, NULL, dir);
	char msg[1024];
	rc = t_run_uri(ctx, s, uri, 'b', 0, msg, sizeof msg);
	CU_ASSERT_EQUAL(rc, 0);
	/* the location holds the set and nothing else: no temporary left */
	CU_ASSERT_EQUAL(t_count_entries(dir, NULL, 0), 2);
	CU_ASSERT_EQUAL(t_count_entries(dir, NULL, 1), 0);

	/* the same store through the file driver: both restores must give the same licenses */
	snprintf(out, sizeof out, "%s/rt-file-%d", sshd.dir, getpid());
	CU_ASSERT_EQUAL(t_backup(ctx, s, out, 0, NULL), 0);
	unsigned long d_sftp = 0, d_file = 0;
	long n_sftp = t_restore_count(ctx, sshd.dir, uri, &d_sftp);
	long n_file = t_restore_count(ctx, sshd.dir, out, &d_file);
	CU_ASSERT(n_sftp > 5000);
	CU_ASSERT_EQUAL(n_sftp, n_file);
	CU_ASSERT_EQUAL(d_sftp, d_file);
	/* and the pack bytes are the same as the file driver's */
	char *p1 = t_find(dir, ".pack"), *p2 = t_find(out, ".pack");
	CU_ASSERT_PTR_NOT_NULL(p1);
	CU_ASSERT_PTR_NOT_NULL(p2);
	if (p1 && p2) {
		rc = t_sh(NULL, "cmp -s '%s' '%s'", p1, p2);
		CU_ASSERT_EQUAL(rc, 0);
	}
	free(p1);
	free(p2);
	t_events ev;
	CU_ASSERT_EQUAL(t_verify(ctx, s, uri, &ev), 0);
	lv_store_free(s);
	lv_context_free(ctx);
}

/* ---- a second run reusing the location ------------------------------------- */

static void t_reuse_location(void)
{
	NEED_SSHD();
	lv_context *ctx = t_context_with(sshd.config_path);
	lv_store *s = t_new_store(ctx, sshd.dir, "reuse", 300);
	char dir[600], uri[800], msg[1024];
	data_dir(dir, sizeof dir, "reuse");
	uri_for(uri, sizeof uri, NULL, dir);
	CU_ASSERT_EQUAL(t_run_uri(ctx, s, uri, 'b', 0, msg, sizeof msg), 0);
	/* without overwrite: the backup that is there stays */
	CU_ASSERT_EQUAL(t_run_uri(ctx, s, uri, 'b', 0, msg, sizeof msg), LV_E_BACKUP_EXISTS);
	CU_ASSERT_EQUAL(t_run_uri(ctx, s, uri, 'b', LV_BACKUP_OVERWRITE, msg, sizeof msg), 0);
	/* change the store, then overwrite again: the restore gets the new content */
	lv_license l;
	char kid[32];
	unsigned char payload[64];
	t_license(&l, 5000, kid, sizeof kid, payload, sizeof payload);
	l.rights |= LV_RIGHT_BACKUP;
	CU_ASSERT_EQUAL(lv_store_add(s, &l, 0), 0);
	CU_ASSERT_EQUAL(t_run_uri(ctx, s, uri, 'b', LV_BACKUP_OVERWRITE, msg, sizeof msg), 0);
	CU_ASSERT_EQUAL(t_count_entries(dir, NULL, 0), 6);        /* three generations (keep = 3) */
	CU_ASSERT_EQUAL(t_count_entries(dir, "manifest", 0), 3);
	CU_ASSERT_EQUAL(t_count_entries(dir, ".tmp-", 0), 0);
	CU_ASSERT_EQUAL(t_restore_count(ctx, sshd.dir, uri, NULL), 241);   /* 300 - 60 restricted + 1 */
	lv_store_free(s);
	lv_context_free(ctx);
}

/* ---- authentication -------------------------------------------------------- */

static void t_auth_keyfile(void)
{
	NEED_SSHD();
	lv_context *ctx = t_context_with(sshd.config_path);
	lv_store *s = t_new_store(ctx, sshd.dir, "key", 50);
	char dir[600], uri[800], msg[1024];
	data_dir(dir, sizeof dir, "key");
	uri_for(uri, sizeof uri, sshd.user, dir);
	CU_ASSERT_EQUAL(t_run_uri(ctx, s, uri, 'b', 0, msg, sizeof msg), 0);
	CU_ASSERT_EQUAL(t_restore_count(ctx, sshd.dir, uri, NULL), 40);
	/* several identity files: a missing one and a refused one first, then the right one */
	char *cfg = config_with("multikey", "use_agent = no\nidentity_file = %s/nope\nidentity_file = %s\nidentity_file = %s\n",
	                        sshd.dir, sshd.wrong_key, sshd.client_key);
	lv_context *ctx2 = t_context_with(cfg);
	CU_ASSERT_EQUAL(t_restore_count(ctx2, sshd.dir, uri, NULL), 40);
	lv_context_free(ctx2);
	lv_store_free(s);
	lv_context_free(ctx);
}

/* An identity file that group or others can read is refused, as OpenSSH does ("unprotected private key file"). */
static void t_auth_unprotected_key(void)
{
	NEED_SSHD();
	char key[600];
	snprintf(key, sizeof key, "%s/id_unprotected", sshd.dir);
	CU_ASSERT_EQUAL_FATAL(t_sh(NULL, "cp '%s' '%s' && cp '%s.pub' '%s.pub'", sshd.client_key, key, sshd.client_key, key), 0);
	char *cfg = config_with("unprotected", "use_agent = no\nidentity_file = %s\n", key);
	lv_context *ctx = t_context_with(cfg);
	lv_store *s = t_new_store(ctx, sshd.dir, "unprotected", 10);
	char dir[600], uri[800], msg[1024];
	data_dir(dir, sizeof dir, "unprotected");
	uri_for(uri, sizeof uri, NULL, dir);
	const unsigned modes[] = {0644, 0640, 0604};
	for (size_t i = 0; i < 3; i++) {
		CU_ASSERT_EQUAL(chmod(key, modes[i]), 0);
		CU_ASSERT_EQUAL(t_run_uri(ctx, s, uri, 'b', 0, msg, sizeof msg), LV_E_AUTH);
		char mode[16];
		snprintf(mode, sizeof mode, "mode %04o", modes[i]);
		CU_ASSERT_PTR_NOT_NULL(strstr(msg, "unprotected private key file"));
		CU_ASSERT_PTR_NOT_NULL(strstr(msg, key));
		CU_ASSERT_PTR_NOT_NULL(strstr(msg, mode));
		if (!strstr(msg, mode))
			fprintf(stderr, "message: %s\n", msg);
	}
	CU_ASSERT_EQUAL(t_count_entries(dir, NULL, 0), -1);
	/* control: the same key, mode 600, is used */
	CU_ASSERT_EQUAL(chmod(key, 0600), 0);
	CU_ASSERT_EQUAL(t_run_uri(ctx, s, uri, 'b', 0, msg, sizeof msg), 0);
	lv_store_free(s);
	lv_context_free(ctx);
}

static void t_auth_wrong_key(void)
{
	NEED_SSHD();
	char *cfg = config_with("wrongkey", "use_agent = no\nidentity_file = %s\n", sshd.wrong_key);
	lv_context *ctx = t_context_with(cfg);
	lv_store *s = t_new_store(ctx, sshd.dir, "wrong", 10);
	char dir[600], uri[800], msg[1024];
	data_dir(dir, sizeof dir, "wrong");
	uri_for(uri, sizeof uri, NULL, dir);
	CU_ASSERT_EQUAL(t_run_uri(ctx, s, uri, 'b', 0, msg, sizeof msg), LV_E_AUTH);
	/* the methods the server offered, and what was tried */
	CU_ASSERT_PTR_NOT_NULL(strstr(msg, "offered publickey"));
	CU_ASSERT_PTR_NOT_NULL(strstr(msg, "password"));
	CU_ASSERT_PTR_NOT_NULL(strstr(msg, "wrong_ed25519"));
	CU_ASSERT_PTR_NOT_NULL(strstr(msg, "refused"));
	CU_ASSERT_PTR_NOT_NULL(strstr(msg, "ssh-agent"));
	if (!strstr(msg, "offered publickey"))
		fprintf(stderr, "message: %s\n", msg);
	CU_ASSERT_EQUAL(t_count_entries(dir, NULL, 0), -1); /* nothing was made */
	lv_store_free(s);
	lv_context_free(ctx);
}

/* An authorized RSA key: libssh2 1.10 signs with ssh-rsa (SHA-1), which OpenSSH >= 8.8 refuses: say so. */
static void t_auth_rsa_note(void)
{
	NEED_SSHD();
	char key[600], *out = NULL;
	snprintf(key, sizeof key, "%s/id_rsa_test", sshd.dir);
	int rc = t_sh(&out, "ssh-keygen -q -t rsa -b 2048 -N '' -C lvtest-rsa -f '%s' && cat '%s.pub' >> '%s'", key, key,
	              sshd.authorized_keys);
	free(out);
	CU_ASSERT_EQUAL_FATAL(rc, 0);
	char *cfg = config_with("rsa", "use_agent = no\nidentity_file = %s\n", key);
	lv_context *ctx = t_context_with(cfg);
	lv_store *s = t_new_store(ctx, sshd.dir, "rsa", 10);
	char dir[600], uri[800], msg[1024];
	data_dir(dir, sizeof dir, "rsa");
	uri_for(uri, sizeof uri, NULL, dir);
	rc = t_run_uri(ctx, s, uri, 'b', 0, msg, sizeof msg);
	if (rc == 0) {
		/* a libssh2 that signs with rsa-sha2 (1.11 and later): nothing to explain */
		fprintf(stderr, "  note: this libssh2 authenticates with RSA keys; the 1.10 diagnosis is not exercised\n");
	} else {
		CU_ASSERT_EQUAL(rc, LV_E_AUTH);
		CU_ASSERT_PTR_NOT_NULL(strstr(msg, "RSA"));
		CU_ASSERT_PTR_NOT_NULL(strstr(msg, "ed25519"));
		CU_ASSERT_PTR_NOT_NULL(strstr(msg, "OpenSSH 8.8"));
	}
	lv_store_free(s);
	lv_context_free(ctx);
}

static void t_auth_agent(void)
{
	NEED_SSHD();
	char sock[600], *out = NULL;
	snprintf(sock, sizeof sock, "%s/agent.sock", sshd.dir);
	unlink(sock);
	int rc = t_sh(&out, "ssh-agent -a '%s' -s", sock);
	int agent_pid = 0;
	char *p = out ? strstr(out, "SSH_AGENT_PID=") : NULL;
	if (p)
		agent_pid = atoi(p + 14);
	free(out);
	CU_ASSERT_EQUAL_FATAL(rc, 0);
	CU_ASSERT_FATAL(agent_pid > 0);
	out = NULL;
	rc = t_sh(&out, "SSH_AUTH_SOCK='%s' ssh-add '%s'", sock, sshd.client_key);
	CU_ASSERT_EQUAL(rc, 0);
	free(out);

	/* no usable key file: only the agent can authenticate */
	char *cfg = config_with("agent", "identity_file = %s/no-such-key\n", sshd.dir);
	lv_context *ctx = t_context_with(cfg);
	lv_store *s = t_new_store(ctx, sshd.dir, "agent", 25);
	char dir[600], uri[800], msg[1024];
	data_dir(dir, sizeof dir, "agent");
	uri_for(uri, sizeof uri, NULL, dir);
	setenv("SSH_AUTH_SOCK", sock, 1);
	CU_ASSERT_EQUAL(t_run_uri(ctx, s, uri, 'b', 0, msg, sizeof msg), 0);
	CU_ASSERT_EQUAL(t_restore_count(ctx, sshd.dir, uri, NULL), 20);
	/* control: the same without the agent fails */
	char *cfg2 = config_with("agent-off", "use_agent = no\nidentity_file = %s/no-such-key\n", sshd.dir);
	lv_context *ctx2 = t_context_with(cfg2);
	CU_ASSERT_EQUAL(t_run_uri(ctx2, s, uri, 'b', LV_BACKUP_OVERWRITE, msg, sizeof msg), LV_E_AUTH);
	CU_ASSERT_PTR_NOT_NULL(strstr(msg, "use_agent = no"));
	lv_context_free(ctx2);
	unsetenv("SSH_AUTH_SOCK");
	kill(agent_pid, SIGTERM);
	lv_store_free(s);
	lv_context_free(ctx);
}

static void t_auth_password(void)
{
	NEED_SSHD();
	if (!sshd.pw_user[0]) {
		fprintf(stderr, "  skipped %s: password authentication needs the local user lvtest, which only root can make\n",
		        __func__);
		return;
	}
	char *cfg = config_with("password", "use_agent = no\nidentity_file = %s/no-such-key\npassword_file = %s\n", sshd.dir,
	                        sshd.pw_file);
	lv_context *ctx = t_context_with(cfg);
	lv_store *s = t_new_store(ctx, sshd.dir, "pw", 30);
	char dir[600], uri[800], msg[1024];
	data_dir(dir, sizeof dir, "pw");
	uri_for(uri, sizeof uri, sshd.pw_user, dir);
	CU_ASSERT_EQUAL(t_run_uri(ctx, s, uri, 'b', 0, msg, sizeof msg), 0);
	CU_ASSERT_EQUAL(t_restore_count(ctx, sshd.dir, uri, NULL), 24);
	struct stat st;
	CU_ASSERT_EQUAL(stat(dir, &st), 0);
	struct passwd *pw = getpwnam(sshd.pw_user); /* the files belong to the user who logged in */
	CU_ASSERT(pw && st.st_uid == pw->pw_uid);

	/* a wrong password: refused, and never shown */
	char bad[600];
	snprintf(bad, sizeof bad, "%s/bad-password", sshd.dir);
	FILE *f = fopen(bad, "w");
	CU_ASSERT_PTR_NOT_NULL_FATAL(f);
	fputs("Wr0ng-Secret-4711\n", f);
	fclose(f);
	chmod(bad, 0600);
	char *cfg2 = config_with("badpw", "use_agent = no\nidentity_file = %s/no-such-key\npassword_file = %s\n", sshd.dir,
	                         bad);
	lv_context *ctx2 = t_context_with(cfg2);
	CU_ASSERT_EQUAL(t_run_uri(ctx2, s, uri, 'b', LV_BACKUP_OVERWRITE, msg, sizeof msg), LV_E_AUTH);
	CU_ASSERT_PTR_NULL(strstr(msg, "Wr0ng-Secret-4711"));
	CU_ASSERT_PTR_NOT_NULL(strstr(msg, "password"));
	lv_context_free(ctx2);
	lv_store_free(s);
	lv_context_free(ctx);
}

/* ---- host keys ------------------------------------------------------------- */

static void t_hostkey_unknown(void)
{
	NEED_SSHD();
	char kh[600];
	snprintf(kh, sizeof kh, "%s/kh-empty", sshd.dir);
	FILE *f = fopen(kh, "w");
	CU_ASSERT_PTR_NOT_NULL_FATAL(f);
	fputs("# nothing known\n", f);
	fclose(f);
	char *cfg = config_with("unknown", "known_hosts = %s\nuse_agent = no\nidentity_file = %s\n", kh, sshd.client_key);
	lv_context *ctx = t_context_with(cfg);
	lv_store *s = t_new_store(ctx, sshd.dir, "unknown", 10);
	char dir[600], uri[800], msg[1024];
	data_dir(dir, sizeof dir, "unknown");
	uri_for(uri, sizeof uri, NULL, dir);
	CU_ASSERT_EQUAL(t_run_uri(ctx, s, uri, 'b', 0, msg, sizeof msg), LV_E_HOST_KEY);
	CU_ASSERT_PTR_NOT_NULL(strstr(msg, "not in known_hosts"));
	CU_ASSERT(sshd.host_fp[0] && strstr(msg, sshd.host_fp));
	CU_ASSERT_PTR_NOT_NULL(strstr(msg, "ssh-ed25519"));
	CU_ASSERT_EQUAL(t_count_entries(dir, NULL, 0), -1); /* refused before anything was written */
	/* the file was not changed */
	CU_ASSERT_EQUAL(t_sh(NULL, "grep -q 127.0.0.1 '%s'", kh), 1);
	lv_store_free(s);
	lv_context_free(ctx);
}

static void t_hostkey_accept_new(void)
{
	NEED_SSHD();
	char kh[600];
	snprintf(kh, sizeof kh, "%s/acceptnew/.ssh/known_hosts", sshd.dir); /* not there yet */
	mkdir(strcat(strcpy((char[600]){0}, sshd.dir), "/acceptnew"), 0700);
	char *cfg = config_with("acceptnew", "known_hosts = %s\nstrict_host_key_checking = accept-new\nuse_agent = no\nidentity_file = %s\n",
	                        kh, sshd.client_key);
	lv_context *ctx = t_context_with(cfg);
	lv_store *s = t_new_store(ctx, sshd.dir, "acceptnew", 10);
	char dir[600], uri[800], msg[1024];
	data_dir(dir, sizeof dir, "acceptnew");
	uri_for(uri, sizeof uri, NULL, dir);
	CU_ASSERT_EQUAL(t_run_uri(ctx, s, uri, 'b', 0, msg, sizeof msg), 0);
	/* added as OpenSSH would: ssh-keygen finds it under [127.0.0.1]:PORT */
	char *out = NULL;
	int rc = t_sh(&out, "ssh-keygen -F '[127.0.0.1]:%d' -f '%s' | grep -c ssh-ed25519", sshd.port, kh);
	CU_ASSERT_EQUAL(rc, 0);
	CU_ASSERT(out && atoi(out) == 1);
	free(out);
	/* now strict checking accepts it */
	char *cfg2 = config_with("acceptnew2", "known_hosts = %s\nuse_agent = no\nidentity_file = %s\n", kh, sshd.client_key);
	lv_context *ctx2 = t_context_with(cfg2);
	CU_ASSERT_EQUAL(t_restore_count(ctx2, sshd.dir, uri, NULL), 8);
	/* and hashed entries work too */
	out = NULL;
	CU_ASSERT_EQUAL(t_sh(&out, "ssh-keygen -H -f '%s' && ! grep -q 127.0.0.1 '%s'", kh, kh), 0);
	free(out);
	CU_ASSERT_EQUAL(t_restore_count(ctx2, sshd.dir, uri, NULL), 8);
	/* a second accept-new run does not add the key again */
	CU_ASSERT_EQUAL(t_run_uri(ctx, s, uri, 'b', LV_BACKUP_OVERWRITE, msg, sizeof msg), 0);
	out = NULL;
	CU_ASSERT_EQUAL(t_sh(&out, "grep -c . '%s'", kh), 0);
	CU_ASSERT(out && atoi(out) == 1);
	free(out);
	lv_context_free(ctx2);
	lv_store_free(s);
	lv_context_free(ctx);
}

static void t_hostkey_changed(void)
{
	NEED_SSHD();
	/* known_hosts holds another ed25519 key for [127.0.0.1]:PORT */
	char kh[600], line[1500];
	snprintf(kh, sizeof kh, "%s/kh-changed", sshd.dir);
	char *out = NULL;
	CU_ASSERT_EQUAL_FATAL(t_sh(&out, "cat '%s.pub'", sshd.wrong_key), 0);
	char type[64], key[1024];
	CU_ASSERT_FATAL(out && sscanf(out, "%63s %1023s", type, key) == 2);
	free(out);
	snprintf(line, sizeof line, "# line 1\n[127.0.0.1]:%d %s %s\n", sshd.port, type, key);
	FILE *f = fopen(kh, "w");
	CU_ASSERT_PTR_NOT_NULL_FATAL(f);
	fputs(line, f);
	fclose(f);
	for (int mode = 0; mode < 2; mode++) {
		char *cfg = config_with(mode ? "changed-an" : "changed", "known_hosts = %s\n%suse_agent = no\nidentity_file = %s\n",
		                        kh, mode ? "strict_host_key_checking = accept-new\n" : "", sshd.client_key);
		lv_context *ctx = t_context_with(cfg);
		lv_store *s = t_new_store(ctx, sshd.dir, "changed", 10);
		char dir[600], uri[800], msg[1024];
		data_dir(dir, sizeof dir, "changed");
		uri_for(uri, sizeof uri, NULL, dir);
		CU_ASSERT_EQUAL(t_run_uri(ctx, s, uri, 'b', 0, msg, sizeof msg), LV_E_HOST_KEY);
		CU_ASSERT(sshd.host_fp[0] && strstr(msg, sshd.host_fp));
		CU_ASSERT_PTR_NOT_NULL(strstr(msg, "CHANGED"));
		CU_ASSERT_PTR_NOT_NULL(strstr(msg, "ssh-ed25519"));
		CU_ASSERT_PTR_NOT_NULL(strstr(msg, "line 2"));
		if (!strstr(msg, "CHANGED"))
			fprintf(stderr, "message: %s\n", msg);
		CU_ASSERT_EQUAL(t_count_entries(dir, NULL, 0), -1);
		lv_store_free(s);
		lv_context_free(ctx);
	}
	/* accept-new did not touch the file */
	out = NULL;
	CU_ASSERT_EQUAL(t_sh(&out, "grep -c '%s' '%s'", key, kh), 0);
	CU_ASSERT(out && atoi(out) == 1);
	free(out);
}

/* ---- URIs ------------------------------------------------------------------- */

static void t_uri_forms(void)
{
	NEED_SSHD();
	lv_context *ctx = t_context_with(sshd.config_path);
	lv_store *s = t_new_store(ctx, sshd.dir, "uri", 10);
	char uri[800], msg[1024];
	/* a password in the URI: refused with advice, and never echoed */
	snprintf(uri, sizeof uri, "sftp://%s:Pa55-Secret@127.0.0.1:%d%s/pw-in-uri", sshd.user, sshd.port, sshd.data);
	CU_ASSERT_EQUAL(t_run_uri(ctx, s, uri, 'b', 0, msg, sizeof msg), LV_E_BAD_URI);
	CU_ASSERT_PTR_NOT_NULL(strstr(msg, "password_file"));
	CU_ASSERT_PTR_NULL(strstr(msg, "Pa55-Secret"));
	/* percent-decoding: a space in the directory */
	char dir[600];
	snprintf(dir, sizeof dir, "%s/with space", sshd.data);
	snprintf(uri, sizeof uri, "sftp://127.0.0.1:%d%s/with%%20space", sshd.port, sshd.data);
	CU_ASSERT_EQUAL(t_run_uri(ctx, s, uri, 'b', 0, msg, sizeof msg), 0);
	CU_ASSERT_EQUAL(t_count_entries(dir, NULL, 0), 2);
	/* an IPv6 literal (nothing listens on [::1] here: the error names it) */
	snprintf(uri, sizeof uri, "sftp://[::1]:%d/tmp/x", sshd.port);
	int rc = t_run_uri(ctx, s, uri, 'b', 0, msg, sizeof msg);
	CU_ASSERT(rc == LV_E_IO || rc == 0);
	if (rc)
		CU_ASSERT_PTR_NOT_NULL(strstr(msg, "[::1]"));
	/* no directory */
	snprintf(uri, sizeof uri, "sftp://127.0.0.1:%d", sshd.port);
	CU_ASSERT_EQUAL(t_run_uri(ctx, s, uri, 'b', 0, msg, sizeof msg), LV_E_BAD_URI);
	/* a bad port */
	snprintf(uri, sizeof uri, "sftp://127.0.0.1:99999/x");
	CU_ASSERT_EQUAL(t_run_uri(ctx, s, uri, 'b', 0, msg, sizeof msg), LV_E_BAD_URI);
	lv_store_free(s);
	lv_context_free(ctx);
}

static void t_home_paths(void)
{
	NEED_SSHD();
	/* as lvtest (home in /var/lib/lvtest) when root; else as ourselves in our own home */
	const char *user = sshd.pw_user[0] ? sshd.pw_user : sshd.user;
	const char *home = sshd.pw_user[0] ? sshd.pw_home : getenv("HOME");
	CU_ASSERT_PTR_NOT_NULL_FATAL(home);
	char sub[64], uri[800], msg[1024], local[800];
	snprintf(sub, sizeof sub, "lvtest-tilde-%d", getpid());
	snprintf(uri, sizeof uri, "sftp://%s@127.0.0.1:%d/~/%s/set", user, sshd.port, sub);
	snprintf(local, sizeof local, "%s/%s", home, sub);
	lv_context *ctx = t_context_with(sshd.config_path);
	lv_store *s = t_new_store(ctx, sshd.dir, "tilde", 20);
	CU_ASSERT_EQUAL(t_run_uri(ctx, s, uri, 'b', 0, msg, sizeof msg), 0);
	char set[900];
	snprintf(set, sizeof set, "%s/set", local);
	CU_ASSERT_EQUAL(t_count_entries(set, NULL, 0), 2);
	CU_ASSERT_EQUAL(t_restore_count(ctx, sshd.dir, uri, NULL), 16);
	t_rmrf(local);
	lv_store_free(s);
	lv_context_free(ctx);
}

static void t_no_permission(void)
{
	NEED_SSHD();
	/* root may write anywhere: use lvtest then; otherwise a read-only directory of ours */
	const char *user = sshd.pw_user[0] ? sshd.pw_user : sshd.user;
	char locked[600];
	snprintf(locked, sizeof locked, "%s/locked-%d", sshd.dir, getpid());
	CU_ASSERT_EQUAL_FATAL(mkdir(locked, 0755), 0);
	if (!sshd.pw_user[0])
		chmod(locked, 0555);
	lv_context *ctx = t_context_with(sshd.config_path);
	lv_store *s = t_new_store(ctx, sshd.dir, "perm", 10);
	char uri[800], msg[1024];
	/* a directory that cannot be made */
	snprintf(uri, sizeof uri, "sftp://%s@127.0.0.1:%d%s/sub", user, sshd.port, locked);
	CU_ASSERT_EQUAL(t_run_uri(ctx, s, uri, 'b', 0, msg, sizeof msg), LV_E_IO);
	CU_ASSERT_PTR_NOT_NULL(strstr(msg, locked));
	CU_ASSERT_PTR_NOT_NULL(strstr(msg, "permission denied"));
	/* a directory that exists but where no file can be made */
	snprintf(uri, sizeof uri, "sftp://%s@127.0.0.1:%d%s", user, sshd.port, locked);
	CU_ASSERT_EQUAL(t_run_uri(ctx, s, uri, 'b', 0, msg, sizeof msg), LV_E_IO);
	CU_ASSERT_PTR_NOT_NULL(strstr(msg, locked));
	CU_ASSERT_PTR_NOT_NULL(strstr(msg, "permission denied"));
	if (!strstr(msg, "permission denied"))
		fprintf(stderr, "message: %s\n", msg);
	/* restore from a missing location: no backup */
	snprintf(uri, sizeof uri, "sftp://127.0.0.1:%d%s/none-here", sshd.port, sshd.data);
	lv_store *r = t_new_store(ctx, sshd.dir, "perm-r", 0);
	CU_ASSERT_EQUAL(t_run_uri(ctx, r, uri, 'r', LV_RESTORE_INDIVIDUALIZE, msg, sizeof msg), LV_E_NOT_FOUND);
	lv_store_free(r);
	chmod(locked, 0755);
	lv_store_free(s);
	lv_context_free(ctx);
}

/* ---- a server that dies, a cancel ------------------------------------------- */

/* A store whose pack is large (2,000 licenses of 16 KiB: 32 MiB), so its upload takes a while. */
static lv_store *big_store(lv_context *ctx, const char *tag)
{
	lv_store *s = t_new_store(ctx, sshd.dir, tag, 0);
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
	CU_ASSERT_EQUAL(t_count(s), 2000);
	return s;
}

/*
 * Watch the location (a local directory behind the server) for the pack's
 * temporary; once 1 MiB of it arrived, freeze the session processes
 * (SIGSTOP: the upload is then surely under way and cannot finish), then act.
 */
typedef struct watch {
	char dir[600];
	int action;                /* 1 kill the sessions, 2 kill the whole server, 3 leave them frozen */
	atomic_int fired;
	atomic_int stop;
} watch;

static void *watch_main(void *p)
{
	watch *w = p;
	for (int i = 0; i < 60000 && !atomic_load(&w->stop); i++) {
		int hit = t_file_grown(w->dir, "pack.tmp-", 1 << 20);
		if (hit) {
			t_sshd_signal_sessions(&sshd, SIGSTOP);
			if (w->action == 1)
				t_sshd_signal_sessions(&sshd, SIGKILL);
			else if (w->action == 2)
				t_sshd_kill(&sshd);
			atomic_store(&w->fired, 1);
			return NULL;
		}
		t_sleep_ms(1);
	}
	return NULL;
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

static int backup_watched(lv_context *ctx, lv_store *s, const char *uri, const char *dir, int action, int cancel,
                          char *msg, size_t cap, int *fired)
{
	watch w = {.action = action};
	snprintf(w.dir, sizeof w.dir, "%s", dir);
	pthread_t th;
	CU_ASSERT_EQUAL_FATAL(pthread_create(&th, NULL, watch_main, &w), 0);
	lv_restorer *r = NULL;
	CU_ASSERT_EQUAL_FATAL(lv_restorer_new(&r, ctx, s), 0);
	lv_restorer_set_string(r, LV_PROP_BACKUP_PATH, uri);
	ended e = {0};
	CU_ASSERT_EQUAL_FATAL(lv_restorer_backup(r, LV_BACKUP_OVERWRITE, end_cb, &e), 0);
	if (cancel) {
		for (int i = 0; i < 6000 && !atomic_load(&w.fired) && !atomic_load(&e.ended); i++)
			t_sleep_ms(10);
		t_sleep_ms(300); /* the transfer now waits on the frozen server */
		lv_restorer_cancel(r);
		/* the cancel must end the run while the server is still frozen */
		int i;
		for (i = 0; i < 6000 && !atomic_load(&e.ended); i++)
			t_sleep_ms(10);
		CU_ASSERT(atomic_load(&e.ended));
		if (!atomic_load(&e.ended))
			fprintf(stderr, "the cancel did not end the blocked transfer within 60 s\n");
	}
	int result = 0;
	lv_restorer_wait(r, &result);
	atomic_store(&w.stop, 1);
	pthread_join(th, NULL);
	if (cancel)
		t_sshd_signal_sessions(&sshd, SIGCONT);
	*fired = atomic_load(&w.fired);
	snprintf(msg, cap, "%s", lv_restorer_last_error(r) ? lv_restorer_last_error(r) : "");
	if (getenv("LV_TEST_VERBOSE"))
		fprintf(stderr, "[watched backup %s] %s: %s\n", uri, lv_error_name(result), msg);
	lv_restorer_free(r);
	return result;
}

static void t_server_killed(void)
{
	NEED_SSHD();
	lv_context *ctx = t_context_with(sshd.config_path);
	lv_store *small = t_new_store(ctx, sshd.dir, "killed-old", 100);
	lv_store *big = big_store(ctx, "killed-new");
	char dir[600], uri[800], msg[1024];
	data_dir(dir, sizeof dir, "killed");
	uri_for(uri, sizeof uri, NULL, dir);
	CU_ASSERT_EQUAL_FATAL(t_run_uri(ctx, small, uri, 'b', 0, msg, sizeof msg), 0);

	/* 1. the connection dies, the server stays: clear error, old backup whole, no temporary left */
	int fired = 0;
	int rc = backup_watched(ctx, big, uri, dir, 1, 0, msg, sizeof msg, &fired);
	CU_ASSERT(fired);
	CU_ASSERT_EQUAL(rc, LV_E_IO);
	CU_ASSERT_PTR_NOT_NULL(strstr(msg, "127.0.0.1:"));
	CU_ASSERT_PTR_NOT_NULL(strstr(msg, "lost"));
	CU_ASSERT_PTR_NOT_NULL(strstr(msg, ".pack.tmp-")); /* the step and the remote file */
	CU_ASSERT_EQUAL(t_count_entries(dir, ".tmp-", 0), 0);
	CU_ASSERT_EQUAL(t_count_entries(dir, NULL, 0), 2);
	CU_ASSERT_EQUAL(t_restore_count(ctx, sshd.dir, uri, NULL), 80);

	/* 2. the whole server dies: clear error; once it is back the old backup restores */
	rc = backup_watched(ctx, big, uri, dir, 2, 0, msg, sizeof msg, &fired);
	CU_ASSERT(fired);
	CU_ASSERT_EQUAL(rc, LV_E_IO);
	CU_ASSERT_PTR_NOT_NULL(strstr(msg, "127.0.0.1:"));
	CU_ASSERT_PTR_NOT_NULL(strstr(msg, "lost"));
	char why[512];
	CU_ASSERT_EQUAL_FATAL(t_sshd_restart(&sshd, why, sizeof why), 0);
	CU_ASSERT_EQUAL(t_count_entries(dir, "manifest", 0), 1);
	/*
	 * The run's lock could not be removed from a dead server.  It names this
	 * (still living) process, but no live run holds its token: the next run
	 * finds it stale and takes it over.
	 */
	char lock[800];
	snprintf(lock, sizeof lock, "%s/licvault.lock", dir);
	CU_ASSERT_EQUAL(access(lock, F_OK), 0);
	CU_ASSERT_EQUAL(t_restore_count(ctx, sshd.dir, uri, NULL), 80);
	/* a later backup over it works, and cleans nothing it should keep */
	CU_ASSERT_EQUAL(t_run_uri(ctx, big, uri, 'b', LV_BACKUP_OVERWRITE, msg, sizeof msg), 0);
	CU_ASSERT_EQUAL(t_restore_count(ctx, sshd.dir, uri, NULL), 2000);
	lv_store_free(small);
	lv_store_free(big);
	lv_context_free(ctx);
}

static void t_cancel_blocked(void)
{
	NEED_SSHD();
	/* a long timeout: only the cancel can end the frozen transfer */
	char *cfg = config_with("cancel", "timeout = 600\nuse_agent = no\nidentity_file = %s\n", sshd.client_key);
	lv_context *ctx = t_context_with(cfg);
	lv_store *small = t_new_store(ctx, sshd.dir, "cancel-old", 50);
	lv_store *big = big_store(ctx, "cancel-new");
	char dir[600], uri[800], msg[1024];
	data_dir(dir, sizeof dir, "cancel");
	uri_for(uri, sizeof uri, NULL, dir);
	CU_ASSERT_EQUAL_FATAL(t_run_uri(ctx, small, uri, 'b', 0, msg, sizeof msg), 0);
	int fired = 0;
	int rc = backup_watched(ctx, big, uri, dir, 3, 1, msg, sizeof msg, &fired);
	CU_ASSERT(fired);
	CU_ASSERT_EQUAL(rc, LV_E_CANCELED);
	/* the server was still reachable: the temporary was removed through a new connection */
	CU_ASSERT_EQUAL(t_count_entries(dir, ".tmp-", 0), 0);
	CU_ASSERT_EQUAL(t_count_entries(dir, "manifest", 0), 1);
	CU_ASSERT_EQUAL(t_restore_count(ctx, sshd.dir, uri, NULL), 40);
	lv_store_free(small);
	lv_store_free(big);
	lv_context_free(ctx);
}

/* ---- the driver's own operations (commit flags, abort, list) -------------- */

static int list_names(const lv_object_info *info, void *ud)
{
	char *buf = ud;
	strcat(buf, info->name);
	strcat(buf, ";");
	return 0;
}

/*
 * The sftp driver's operations called directly, on the real host
 * (lv_location_open): what the driver describes is read with msg().
 */
typedef struct drv {
	lv_context *ctx;
	lv_location *loc;
	const lv_driver_ops *ops;
	void *inst;
} drv;

static int drv_open(drv *d, const char *uri)
{
	memset(d, 0, sizeof *d);
	d->ctx = t_context_with(sshd.config_path);
	int rc = lv_location_open(&d->loc, d->ctx, uri, LV_OPEN_WRITE);
	if (rc) {
		fprintf(stderr, "open %s: %s\n", uri, lv_context_last_error(d->ctx));
		return rc;
	}
	d->ops = lv_location_driver_ops(d->loc);
	d->inst = lv_location_driver_instance(d->loc);
	return 0;
}

/* The location's recorded failure, then forgotten (the first failure wins until cleared). */
static const char *drv_msg(drv *d)
{
	static char m[2048];
	snprintf(m, sizeof m, "%s", lv_location_last_error(d->loc) ? lv_location_last_error(d->loc) : "");
	lv_location_clear_error(d->loc);
	return m;
}

static void drv_close(drv *d)
{
	lv_location_close(d->loc);
	lv_context_free(d->ctx);
}

static void t_driver_ops(void)
{
	NEED_SSHD();
	drv d;
	char dir[600], uri[800];
	data_dir(dir, sizeof dir, "ops");
	uri_for(uri, sizeof uri, NULL, dir);
	CU_ASSERT_EQUAL_FATAL(drv_open(&d, uri), 0);
	const lv_driver_ops *ops = d.ops;
	void *inst = d.inst;

	/* write, commit: visible; the temporary is gone */
	lv_writer *w = NULL;
	CU_ASSERT_EQUAL_FATAL(ops->write_begin(inst, "a.obj", 5, &w), 0);
	CU_ASSERT_EQUAL(t_count_entries(dir, ".tmp-", 1), 1);
	CU_ASSERT_EQUAL(t_count_entries(dir, "a.obj", 0), 1); /* only the temporary so far */
	CU_ASSERT_EQUAL(ops->write(w, "first", 5), 0);
	CU_ASSERT_EQUAL(ops->commit(w, 0), 0);
	CU_ASSERT_EQUAL(t_count_entries(dir, ".tmp-", 0), 0);
	lv_object_info info;
	CU_ASSERT_EQUAL(ops->stat(inst, "a.obj", &info), 0);
	CU_ASSERT_EQUAL(info.size, 5);

	/* the same name without REPLACE: EXISTS, the old content stays, no temporary */
	CU_ASSERT_EQUAL_FATAL(ops->write_begin(inst, "a.obj", 6, &w), 0);
	CU_ASSERT_EQUAL(ops->write(w, "second", 6), 0);
	CU_ASSERT_EQUAL(ops->commit(w, 0), LV_E_EXISTS);
	CU_ASSERT_EQUAL(ops->stat(inst, "a.obj", &info), 0);
	CU_ASSERT_EQUAL(info.size, 5);
	CU_ASSERT_EQUAL(t_count_entries(dir, NULL, 1), 0);

	/* with REPLACE: the new content, and nothing left aside */
	CU_ASSERT_EQUAL_FATAL(ops->write_begin(inst, "a.obj", 6, &w), 0);
	CU_ASSERT_EQUAL(ops->write(w, "second", 6), 0);
	CU_ASSERT_EQUAL(ops->commit(w, LV_COMMIT_REPLACE), 0);
	CU_ASSERT_EQUAL(ops->stat(inst, "a.obj", &info), 0);
	CU_ASSERT_EQUAL(info.size, 6);
	CU_ASSERT_EQUAL(t_count_entries(dir, NULL, 1), 0);

	/* abort: nothing published, nothing left */
	CU_ASSERT_EQUAL_FATAL(ops->write_begin(inst, "b.obj", 3, &w), 0);
	CU_ASSERT_EQUAL(ops->write(w, "abc", 3), 0);
	ops->abort(w);
	CU_ASSERT_EQUAL(t_count_entries(dir, NULL, 0), 1);
	CU_ASSERT_EQUAL(ops->stat(inst, "b.obj", &info), LV_E_NOT_FOUND);

	/* list hides our dot files; read gives the bytes back */
	char junk[800];
	snprintf(junk, sizeof junk, "%s/.x.tmp-000000000000", dir);
	FILE *jf = fopen(junk, "w");
	if (jf)
		fclose(jf);
	char names[1024] = "";
	CU_ASSERT_EQUAL(ops->list(inst, list_names, names), 0);
	CU_ASSERT_STRING_EQUAL(names, "a.obj;");
	lv_reader *r = NULL;
	CU_ASSERT_EQUAL_FATAL(ops->read_open(inst, "a.obj", &r), 0);
	char buf[64];
	size_t n = 0;
	CU_ASSERT_EQUAL(ops->read(r, buf, sizeof buf, &n), 0);
	CU_ASSERT_EQUAL(n, 6);
	CU_ASSERT(n == 6 && !memcmp(buf, "second", 6));
	CU_ASSERT_EQUAL(ops->read(r, buf, sizeof buf, &n), 0);
	CU_ASSERT_EQUAL(n, 0);
	ops->read_close(r);
	CU_ASSERT_EQUAL(ops->read_open(inst, "nope", &r), LV_E_NOT_FOUND);
	CU_ASSERT_EQUAL(ops->remove(inst, "nope"), LV_E_NOT_FOUND);
	uint64_t fr = 0, tot = 0;
	CU_ASSERT_EQUAL(ops->space(inst, &fr, &tot), 0);
	CU_ASSERT(tot > 0 && fr <= tot);
	CU_ASSERT_EQUAL(ops->sync(inst), 0);
	/* a writer left open at close is aborted (the host releases what the driver tracks) */
	CU_ASSERT_EQUAL_FATAL(ops->write_begin(inst, "c.obj", 3, &w), 0);
	CU_ASSERT_EQUAL(ops->write(w, "abc", 3), 0);
	CU_ASSERT_EQUAL(ops->read_open(inst, "a.obj", &r), 0);
	drv_close(&d);
	CU_ASSERT_EQUAL(t_count_entries(dir, "c.obj", 0), 0);
	CU_ASSERT_EQUAL(t_count_entries(dir, NULL, 1), 1); /* the test's own junk only */
}

/*
 * Before it publishes, commit checks that the server holds every byte sent
 * (a server or disk that loses writes): here the temporary is cut short
 * behind the server's back.  IO naming the object and both sizes; nothing
 * published, no temporary left.
 */
static void t_commit_checks_size(void)
{
	NEED_SSHD();
	drv d;
	char dir[600], uri[800];
	data_dir(dir, sizeof dir, "size");
	uri_for(uri, sizeof uri, NULL, dir);
	CU_ASSERT_EQUAL_FATAL(drv_open(&d, uri), 0);
	lv_writer *w = NULL;
	CU_ASSERT_EQUAL_FATAL(d.ops->write_begin(d.inst, "sz.obj", 100, &w), 0);
	char buf[100];
	memset(buf, 'x', sizeof buf);
	CU_ASSERT_EQUAL(d.ops->write(w, buf, sizeof buf), 0);
	char tmp[1200] = "";
	DIR *dd = opendir(dir);
	struct dirent *de;
	while (dd && (de = readdir(dd)))
		if (strstr(de->d_name, ".sz.obj.tmp-"))
			snprintf(tmp, sizeof tmp, "%s/%s", dir, de->d_name);
	if (dd)
		closedir(dd);
	CU_ASSERT_FATAL(tmp[0] != '\0');
	/* the bytes are on their way (the driver keeps writes in flight): wait for them to land, then cut */
	for (int i = 0; i < 1000 && t_file_size(tmp) != 100; i++)
		t_sleep_ms(10);
	CU_ASSERT_EQUAL(t_file_size(tmp), 100);
	CU_ASSERT_EQUAL(t_truncate(tmp, 10), 0);
	CU_ASSERT_EQUAL(d.ops->commit(w, 0), LV_E_IO);
	const char *m = drv_msg(&d);
	CU_ASSERT_PTR_NOT_NULL(strstr(m, "sz.obj"));
	CU_ASSERT_PTR_NOT_NULL(strstr(m, "holds 10 bytes"));
	CU_ASSERT_PTR_NOT_NULL(strstr(m, "100 were sent"));
	lv_object_info info;
	CU_ASSERT_EQUAL(d.ops->stat(d.inst, "sz.obj", &info), LV_E_NOT_FOUND);
	CU_ASSERT_EQUAL(t_count_entries(dir, NULL, 0), 0);
	/* control: the same without the cut is published */
	CU_ASSERT_EQUAL_FATAL(d.ops->write_begin(d.inst, "sz.obj", 100, &w), 0);
	CU_ASSERT_EQUAL(d.ops->write(w, buf, sizeof buf), 0);
	CU_ASSERT_EQUAL(d.ops->commit(w, 0), 0);
	CU_ASSERT_EQUAL(d.ops->stat(d.inst, "sz.obj", &info), 0);
	CU_ASSERT_EQUAL(info.size, 100);
	drv_close(&d);
}

/* ---- retention (issue 18) ------------------------------------------------------ */

/* keep + 1 backups over sftp: the newest `keep` generations stay, the older one went, oldest first. */
static void retention(int keep)
{
	char *cfg = config_with("keep", "ssh_config = no\nuse_agent = no\nidentity_file = %s\n[licvault]\nkeep = %d\n",
	                        sshd.client_key, keep);
	lv_context *ctx = t_context_with(cfg);
	lv_store *s = t_new_store(ctx, sshd.dir, "keep", 10);
	char dir[600], uri[800], msg[1024];
	data_dir(dir, sizeof dir, "keep");
	uri_for(uri, sizeof uri, NULL, dir);
	int backups = keep + 1;
	for (int i = 0; i < backups; i++)
		CU_ASSERT_EQUAL(t_run_uri(ctx, s, uri, 'b', i ? LV_BACKUP_OVERWRITE : 0, msg, sizeof msg), 0);
	CU_ASSERT_EQUAL(t_count_entries(dir, ".manifest", 0), keep);
	CU_ASSERT_EQUAL(t_count_entries(dir, ".pack", 0), keep);
	CU_ASSERT_EQUAL(t_count_entries(dir, NULL, 1), 0); /* no temporary */
	CU_ASSERT_EQUAL(t_count_entries(dir, "licvault.lock", 0), 0);
	t_gens v = {0};
	CU_ASSERT_EQUAL(lv_generations_list(ctx, uri, 0, t_collect_gen, &v), 0);
	CU_ASSERT_EQUAL(v.n, keep);
	CU_ASSERT_EQUAL(v.gen[0], 2);               /* generation 1 was pruned */
	CU_ASSERT_EQUAL(v.gen[keep - 1], backups);  /* the newest stays */
	CU_ASSERT_EQUAL(t_restore_count(ctx, sshd.dir, uri, NULL), 8);
	lv_store_free(s);
	lv_context_free(ctx);
}

static void t_retention(void)
{
	NEED_SSHD();
	retention(1);
	retention(3);
	retention(20);
}

/* licvault's driver conformance suite, over a real SFTP server */
static void t_conformance(void)
{
	NEED_SSHD();
	lv_context *ctx = t_context_with(sshd.config_path);
	char dir[600], uri[800];
	data_dir(dir, sizeof dir, "conf");
	uri_for(uri, sizeof uri, NULL, dir);
	int ran = 0;
	CU_ASSERT_EQUAL(lv_conformance_run(ctx, uri, 16, getenv("LV_TEST_VERBOSE") != NULL, &ran), 0);
	CU_ASSERT(ran >= 6);
	lv_context_free(ctx);
}

/*
 * A server that drops or stalls the connection before authentication ends:
 * a listener on 127.0.0.1 that (drop) reads the client's banner and closes,
 * or (stall) accepts and never answers.  Each run ends, bounded by
 * `timeout`, with a clear IO error, and nothing is written anywhere.
 */
typedef struct fake_server {
	int fd;
	int stall;
	pthread_t t;
	int port;
} fake_server;

static void *fake_main(void *p)
{
	fake_server *f = p;
	for (int i = 0; i < 8; i++) { /* the driver may retry: serve each attempt the same way */
		int c = accept(f->fd, NULL, NULL);
		if (c < 0)
			return NULL;
		if (f->stall) {
			char buf[512];
			while (read(c, buf, sizeof buf) > 0)
				; /* never answers; until the client gives up (its timeout) */
		} else {
			const char banner[] = "SSH-2.0-OpenSSH_9.2p1 Debian-2\r\n";
			if (write(c, banner, sizeof banner - 1) < 0)
				break;
			char buf[512];
			if (read(c, buf, sizeof buf) < 0)
				break; /* the client's banner and first packet, then hang up mid-handshake */
		}
		close(c);
	}
	return NULL;
}

static int fake_start(fake_server *f, int stall)
{
	memset(f, 0, sizeof *f);
	f->stall = stall;
	f->fd = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t l = sizeof a;
	if (f->fd < 0 || bind(f->fd, (struct sockaddr *)&a, sizeof a) < 0 || listen(f->fd, 8) < 0 ||
	    getsockname(f->fd, (struct sockaddr *)&a, &l) < 0)
		return -1;
	f->port = ntohs(a.sin_port);
	return pthread_create(&f->t, NULL, fake_main, f);
}

static void fake_stop(fake_server *f)
{
	shutdown(f->fd, SHUT_RDWR);
	close(f->fd);
	pthread_join(f->t, NULL);
}

static void t_server_drops_or_stalls(void)
{
	NEED_SSHD();
	char *cfg = config_with("drop", "timeout = 1\nconnect_retries = 0\n");
	lv_context *ctx = t_context_with(cfg);
	lv_store *s = t_new_store(ctx, sshd.dir, "drop", 20);
	for (int stall = 0; stall <= 1; stall++) {
		fake_server f;
		CU_ASSERT_EQUAL_FATAL(fake_start(&f, stall), 0);
		char uri[200], msg[1024];
		snprintf(uri, sizeof uri, "sftp://127.0.0.1:%d/never/written", f.port);
		int rc = t_run_uri(ctx, s, uri, 'b', 0, msg, sizeof msg);
		CU_ASSERT(rc == LV_E_IO || rc == LV_E_AUTH);
		CU_ASSERT_PTR_NOT_NULL(strstr(msg, "127.0.0.1"));
		if (getenv("LV_TEST_VERBOSE"))
			fprintf(stderr, "\n  %s: %s: %s", stall ? "stall" : "drop", lv_error_name(rc), msg);
		rc = t_run_uri(ctx, s, uri, 'r', LV_RESTORE_INDIVIDUALIZE, msg, sizeof msg);
		CU_ASSERT(rc == LV_E_IO || rc == LV_E_AUTH);
		fake_stop(&f);
	}
	lv_store_free(s);
	lv_context_free(ctx);
}

LV_SUITE(sftp, sftp, suite_init, suite_clean,
         {"driver operations", t_driver_ops},
         {"commit checks the size at the server", t_commit_checks_size},
         {"conformance suite", t_conformance},
         {"round trip of 10,000 licenses", t_roundtrip_10k},
         {"second run reusing a location", t_reuse_location},
         {"retention: keep 1, 3 and 20", t_retention},
         {"key file auth", t_auth_keyfile},
         {"an unprotected key file is refused", t_auth_unprotected_key},
         {"wrong key refused, methods named", t_auth_wrong_key},
         {"RSA key with libssh2 1.10 explained", t_auth_rsa_note},
         {"agent auth", t_auth_agent},
         {"password auth", t_auth_password},
         {"unknown host refused", t_hostkey_unknown},
         {"accept-new adds the host", t_hostkey_accept_new},
         {"changed host key refused", t_hostkey_changed},
         {"URI forms", t_uri_forms},
         {"~ paths", t_home_paths},
         {"no permission", t_no_permission},
         {"server killed mid-upload", t_server_killed},
         {"cancel a blocked transfer", t_cancel_blocked},
         {"a server that drops or stalls the handshake", t_server_drops_or_stalls})
