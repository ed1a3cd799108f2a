/* The test RADOS Gateway (fixture_rgw.h). */
#include "fixture_rgw.h"
#include "testutil.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <zlib.h>

#define BIN_MON "/usr/bin/ceph-mon"
#define BIN_OSD "/usr/bin/ceph-osd"
#define BIN_RGW "/usr/bin/radosgw"

static void tail_of(const char *path, char *out, size_t cap)
{
	out[0] = '\0';
	FILE *f = fopen(path, "re");
	if (!f)
		return;
	char buf[8192];
	fseek(f, 0, SEEK_END);
	long size = ftell(f), from = size > (long)sizeof buf - 1 ? size - (long)sizeof buf + 1 : 0;
	fseek(f, from, SEEK_SET);
	size_t n = fread(buf, 1, sizeof buf - 1, f);
	fclose(f);
	buf[n] = '\0';
	const char *s = n > cap - 1 ? buf + n - (cap - 1) : buf;
	snprintf(out, cap, "%s", s);
}

/* fork + exec a daemon in the foreground, its output in log; dies with the test process. */
static int spawn(const char *log, char *const argv[])
{
	pid_t parent = getpid();
	pid_t pid = fork();
	if (pid != 0)
		return (int)pid;
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	if (getppid() != parent)
		_exit(127);
	int fd = open(log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
	int nul = open("/dev/null", O_RDONLY | O_CLOEXEC);
	if (fd >= 0) {
		dup2(fd, 1);
		dup2(fd, 2);
	}
	if (nul >= 0)
		dup2(nul, 0);
	setpgid(0, 0);
	execv(argv[0], argv);
	_exit(127);
}

/* Stop pid: sig, up to 10 s, then SIGKILL; wait for it. */
static void stop_pid(int *pid, int sig)
{
	if (*pid <= 0)
		return;
	kill(*pid, sig);
	for (int i = 0; i < 500; i++) {
		if (waitpid(*pid, NULL, WNOHANG) == *pid) {
			*pid = 0;
			return;
		}
		t_sleep_ms(20);
	}
	kill(*pid, SIGKILL);
	waitpid(*pid, NULL, 0);
	*pid = 0;
}

/* Wait until port answers; -1 when pid exits first or after ms. */
static int wait_port(int *pid, int port, int ms)
{
	for (int t = 0; t < ms; t += 50) {
		int st;
		if (waitpid(*pid, &st, WNOHANG) == *pid) {
			*pid = 0;
			return -1;
		}
		if (t_port_open(port))
			return 0;
		t_sleep_ms(50);
	}
	return -1;
}

static void uuid(char *out, size_t cap)
{
	unsigned char r[16];
	if (getrandom(r, sizeof r, 0) != (ssize_t)sizeof r)
		memset(r, 0x5a, sizeof r);
	r[6] = (unsigned char)((r[6] & 0x0f) | 0x40);
	r[8] = (unsigned char)((r[8] & 0x3f) | 0x80);
	snprintf(out, cap, "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", r[0], r[1], r[2], r[3],
	         r[4], r[5], r[6], r[7], r[8], r[9], r[10], r[11], r[12], r[13], r[14], r[15]);
}

static void random_text(char *out, size_t n, const char *alphabet)
{
	unsigned char r[64];
	size_t al = strlen(alphabet);
	if (n > sizeof r)
		n = sizeof r;
	if (getrandom(r, n, 0) != (ssize_t)n)
		memset(r, 7, n);
	for (size_t i = 0; i < n; i++)
		out[i] = alphabet[r[i] % al];
	out[n] = '\0';
}

static int write_ceph_conf(t_rgw *g, const char *fsid)
{
	char fe[1400];
	if (g->tls)
		snprintf(fe, sizeof fe,
		         "beast endpoint=127.0.0.1:%d ssl_endpoint=127.0.0.1:%d ssl_certificate=%s ssl_private_key=%s",
		         g->port, g->tls_port, g->ca_file, g->key_file);
	else
		snprintf(fe, sizeof fe, "beast endpoint=127.0.0.1:%d", g->port);
	char text[6000];
	snprintf(text, sizeof text,
	         "# licvault test cluster: loopback only, everything under %s\n"
	         "[global]\n"
	         "fsid = %s\n"
	         "mon host = v1:127.0.0.1:%d\n"
	         "mon initial members = a\n"
	         "public addr = 127.0.0.1\n"
	         "ms bind msgr2 = false\n"
	         "ms mon client mode = crc\n"
	         "auth cluster required = none\n"
	         "auth service required = none\n"
	         "auth client required = none\n"
	         "keyring = /dev/null\n"
	         "osd pool default size = 1\n"
	         "osd pool default min size = 1\n"
	         "osd pool default pg num = 8\n"
	         "osd pool default pgp num = 8\n"
	         "osd pool default pg autoscale mode = off\n"
	         "mon max pg per osd = 1000\n"
	         "mon allow pool size one = true\n"
	         "osd crush chooseleaf type = 0\n"
	         "osd crush update on start = false\n"
	         "osd class update on start = false\n"
	         "osd objectstore = memstore\n"
	         "memstore device bytes = 8589934592\n"
	         "paxos propose interval = 0.05\n"
	         "run dir = %s/run\n"
	         "admin socket = %s/run/$name.asok\n"
	         "log file = %s/$name.log\n"
	         "mon data = %s/mon\n"
	         "osd data = %s/osd\n"
	         "[client.rgw]\n"
	         "rgw frontends = %s\n"
	         "rgw gc obj min wait = 5\n"
	         "rgw gc processor period = 5\n"
	         "rgw dynamic resharding = false\n",
	         g->dir, fsid, g->mon_port, g->dir, g->dir, g->dir, g->dir, g->dir, fe);
	return t_write_file(g->conf, text, 0644);
}

static int make_cert(t_rgw *g, char *why, size_t whylen)
{
	snprintf(g->ca_file, sizeof g->ca_file, "%s/gateway.pem", g->dir);
	snprintf(g->key_file, sizeof g->key_file, "%s/gateway.key", g->dir);
	char *out = NULL;
	int rc = t_sh(&out,
	              "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 "
	              "-subj /CN=127.0.0.1 -addext subjectAltName=IP:127.0.0.1 -keyout '%s' -out '%s'",
	              g->key_file, g->ca_file);
	if (rc)
		snprintf(why, whylen, "openssl cannot make the gateway's certificate: %.300s", out ? out : "");
	free(out);
	return rc ? -1 : 0;
}

/*
 * A daemon (`name`, *pid) that did not answer on its port: killed, and why
 * says so with the end of its log.  1 when the port was taken (the caller
 * picks others), else -1.
 */
static int did_not_answer(int *pid, const char *name, int port, const char *log, char *why, size_t whylen)
{
	char t[400];
	tail_of(log, t, sizeof t);
	stop_pid(pid, SIGKILL);
	snprintf(why, whylen, "%s did not answer on 127.0.0.1:%d: %s", name, port, t);
	return strstr(t, "bind") || strstr(t, "in use") ? 1 : -1;
}

/* The monitor: mkfs, then the daemon, up when its port answers.  1: the port was taken (try others). */
static int start_mon(t_rgw *g, const char *fsid, char *why, size_t whylen)
{
	char *out = NULL, log[600];
	int rc = t_sh(&out, "rm -rf '%s/mon' && mkdir -p '%s/mon' '%s/run' && monmaptool --create --addv a '[v1:127.0.0.1:%d]' "
	                    "--fsid %s '%s/monmap' && ceph-mon -c '%s' --mkfs -i a --monmap '%s/monmap'",
	              g->dir, g->dir, g->dir, g->mon_port, fsid, g->dir, g->conf, g->dir);
	if (rc) {
		snprintf(why, whylen, "ceph-mon --mkfs failed: %.400s", out ? out : "");
		free(out);
		return -1;
	}
	free(out);
	snprintf(log, sizeof log, "%s/mon.out", g->dir);
	char *argv[] = {BIN_MON, "-c", g->conf, "-i", "a", "-f", NULL};
	g->mon_pid = spawn(log, argv);
	if (wait_port(&g->mon_pid, g->mon_port, 20000) == 0)
		return 0;
	snprintf(log, sizeof log, "%s/mon.a.log", g->dir);
	return did_not_answer(&g->mon_pid, "ceph-mon", g->mon_port, log, why, whylen);
}

/* The OSD: registered and placed in the CRUSH map by hand (no race with its boot), mkfs, daemon. */
static int start_osd(t_rgw *g, char *why, size_t whylen)
{
	char id[40], *out = NULL, log[600];
	uuid(id, sizeof id);
	/* one ceph CLI for both commands (it reads them from stdin): each start of it costs about a second */
	int rc = t_sh(&out, "printf 'osd new %s\\nosd crush add osd.0 1 root=default host=local\\n' | "
	                    "timeout 60 ceph -c '%s' --connect-timeout 30 2>&1 | grep -q 'add item id 0' && "
	                    "rm -rf '%s/osd' && mkdir -p '%s/osd' && ceph-osd -c '%s' -i 0 --mkfs --osd-uuid %s",
	              id, g->conf, g->dir, g->dir, g->conf, id);
	if (rc) {
		snprintf(why, whylen, "making the OSD failed: %.400s", out ? out : "");
		free(out);
		return -1;
	}
	free(out);
	snprintf(log, sizeof log, "%s/osd.out", g->dir);
	char *argv[] = {BIN_OSD, "-c", g->conf, "-i", "0", "-f", NULL};
	g->osd_pid = spawn(log, argv);
	return 0;
}

/* The S3 user, made before the gateway starts (radosgw-admin waits for the OSD); it makes the secret. */
static int make_user(t_rgw *g, char *why, size_t whylen)
{
	snprintf(g->access_key, sizeof g->access_key, "LVTEST");
	random_text(g->access_key + 6, 14, "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789");
	char *out = NULL;
	int rc = t_sh(&out, "timeout 90 radosgw-admin -c '%s' user create --uid=lvtest --display-name=lvtest "
	                    "--access-key=%s --gen-secret 2>/dev/null",
	              g->conf, g->access_key);
	const char *s = out ? strstr(out, "\"secret_key\": \"") : NULL;
	if (rc || !s || sscanf(s + 15, "%40[A-Za-z0-9]", g->secret_key) != 1) {
		snprintf(why, whylen, "radosgw-admin user create failed (%d): %.400s", rc, out ? out : "");
		free(out);
		return -1;
	}
	free(out);
	snprintf(g->secret_file, sizeof g->secret_file, "%s/secret", g->dir);
	char line[64];
	snprintf(line, sizeof line, "%s\n", g->secret_key);
	if (t_write_file(g->secret_file, line, 0600)) {
		snprintf(why, whylen, "cannot write %s", g->secret_file);
		return -1;
	}
	return 0;
}

/* The gateway; 1: a port was taken (the caller picks others). */
static int start_gateway(t_rgw *g, char *why, size_t whylen)
{
	char log[600];
	snprintf(log, sizeof log, "%s/rgw.out", g->dir);
	char *argv[] = {BIN_RGW, "-c", g->conf, "-n", "client.rgw", "-f", NULL};
	g->rgw_pid = spawn(log, argv);
	if (wait_port(&g->rgw_pid, g->port, 60000) == 0 && (!g->tls || wait_port(&g->rgw_pid, g->tls_port, 10000) == 0))
		return 0;
	return did_not_answer(&g->rgw_pid, "radosgw", g->port, g->rgw_log, why, whylen);
}

static void pick_ports(t_rgw *g)
{
	g->mon_port = t_free_port();
	do
		g->port = t_free_port();
	while (g->port == g->mon_port);
	do
		g->tls_port = t_free_port();
	while (g->tls_port == g->mon_port || g->tls_port == g->port);
	snprintf(g->endpoint, sizeof g->endpoint, "http://127.0.0.1:%d", g->port);
	snprintf(g->tls_endpoint, sizeof g->tls_endpoint, "https://127.0.0.1:%d", g->tls_port);
}

static int have_binaries(char *why, size_t whylen)
{
	static const char *const bins[] = {BIN_MON, BIN_OSD, BIN_RGW, "/usr/bin/radosgw-admin", "/usr/bin/ceph",
	                                   "/usr/bin/monmaptool"};
	for (size_t i = 0; i < sizeof bins / sizeof bins[0]; i++)
		if (access(bins[i], X_OK) != 0) {
			snprintf(why, whylen, "%s is not installed (apt-get install --no-install-recommends radosgw ceph-mon ceph-osd)",
			         bins[i]);
			return -1;
		}
	return 0;
}

int t_rgw_start(t_rgw *g, char *why, size_t whylen)
{
	memset(g, 0, sizeof *g);
	if (have_binaries(why, whylen))
		return -1;
	char *d = t_tmpdir();
	if (!d) {
		snprintf(why, whylen, "cannot make a temporary directory: %s", strerror(errno));
		return -1;
	}
	snprintf(g->dir, sizeof g->dir, "%s", d);
	free(d);
	snprintf(g->conf, sizeof g->conf, "%s/ceph.conf", g->dir);
	snprintf(g->rgw_log, sizeof g->rgw_log, "%s/client.rgw.log", g->dir);
	snprintf(g->config_path, sizeof g->config_path, "%s/licvault.conf", g->dir);
	g->tls = make_cert(g, why, whylen) == 0;
	char fsid[40];
	uuid(fsid, sizeof fsid);
	int rc = 1;
	for (int attempt = 0; attempt < 5 && rc == 1; attempt++) { /* a port taken meanwhile: other ports */
		pick_ports(g);
		if (write_ceph_conf(g, fsid)) {
			snprintf(why, whylen, "cannot write %s", g->conf);
			return -1;
		}
		rc = start_mon(g, fsid, why, whylen);
	}
	if (rc || start_osd(g, why, whylen) || make_user(g, why, whylen)) {
		t_rgw_stop(g);
		return -1;
	}
	for (int attempt = 0; attempt < 5 && (rc = start_gateway(g, why, whylen)) == 1; attempt++) {
		int mon = g->mon_port;
		pick_ports(g);
		g->mon_port = mon; /* the monitor stays where it is */
		write_ceph_conf(g, fsid);
	}
	if (rc || t_rgw_write_config(g, g->config_path, NULL)) {
		if (!rc)
			snprintf(why, whylen, "cannot write %s", g->config_path);
		t_rgw_stop(g);
		return -1;
	}
	return 0;
}

void t_rgw_stop(t_rgw *g)
{
	stop_pid(&g->rgw_pid, SIGTERM);
	stop_pid(&g->osd_pid, SIGTERM);
	stop_pid(&g->mon_pid, SIGTERM);
}

void t_rgw_kill_gateway(t_rgw *g)
{
	stop_pid(&g->rgw_pid, SIGKILL);
}

int t_rgw_restart_gateway(t_rgw *g, char *why, size_t whylen)
{
	if (g->rgw_pid > 0)
		stop_pid(&g->rgw_pid, SIGTERM);
	for (int i = 0; i < 50; i++) { /* the old listener's port may linger a moment */
		int rc = start_gateway(g, why, whylen);
		if (rc != 1)
			return rc;
		t_sleep_ms(200);
	}
	return -1;
}

int t_rgw_write_config(const t_rgw *g, const char *path, const char *extra)
{
	char text[8192];
	size_t n = (size_t)snprintf(text, sizeof text, "[driver \"s3\"]\n");
	static const char *const keys[] = {"endpoint", "access_key_id", "secret_access_key_file", "timeout", "retries"};
	char vals[5][600];
	snprintf(vals[0], sizeof vals[0], "%s", g->endpoint);
	snprintf(vals[1], sizeof vals[1], "%s", g->access_key);
	snprintf(vals[2], sizeof vals[2], "%s", g->secret_file);
	snprintf(vals[3], sizeof vals[3], "10");
	snprintf(vals[4], sizeof vals[4], "2");
	for (int i = 0; i < 5; i++) {
		char k[64], nk[64];
		snprintf(k, sizeof k, "%s =", keys[i]);
		snprintf(nk, sizeof nk, "\n%s =", keys[i]);
		int set_by_extra = extra && (!strncmp(extra, k, strlen(k)) || strstr(extra, nk));
		if (!set_by_extra)
			n += (size_t)snprintf(text + n, sizeof text - n, "%s = %s\n", keys[i], vals[i]);
	}
	snprintf(text + n, sizeof text - n, "%s", extra ? extra : "");
	return t_write_file(path, text, 0644);
}

typedef struct saved_env {
	const char *name;
	char *value;
} saved_env;

int t_rgw_sh(const t_rgw *g, char **out, const char *fmt, ...)
{
	char cfg[600], cred[600], *cmd = NULL;
	snprintf(cfg, sizeof cfg, "%s/aws-config-none", g->dir);
	snprintf(cred, sizeof cred, "%s/aws-credentials-none", g->dir);
	saved_env env[] = {{"AWS_ACCESS_KEY_ID", NULL},      {"AWS_SECRET_ACCESS_KEY", NULL},
	                   {"AWS_DEFAULT_REGION", NULL},     {"AWS_CONFIG_FILE", NULL},
	                   {"AWS_SHARED_CREDENTIALS_FILE", NULL}, {"AWS_EC2_METADATA_DISABLED", NULL},
	                   {"AWS_CA_BUNDLE", NULL},          {"LV_S3_ENDPOINT", NULL}};
	const char *vals[] = {g->access_key, g->secret_key, "us-east-1", cfg, cred, "true", g->ca_file, g->endpoint};
	size_t n = sizeof env / sizeof env[0];
	for (size_t i = 0; i < n; i++) {
		const char *old = getenv(env[i].name);
		env[i].value = old ? strdup(old) : NULL;
		setenv(env[i].name, vals[i], 1);
	}
	va_list ap;
	va_start(ap, fmt);
	int rc = vasprintf(&cmd, fmt, ap) < 0 ? -1 : t_sh(out, "%s", cmd);
	va_end(ap);
	free(cmd);
	for (size_t i = 0; i < n; i++) {
		if (env[i].value)
			setenv(env[i].name, env[i].value, 1);
		else
			unsetenv(env[i].name);
		free(env[i].value);
	}
	return rc;
}

int t_rgw_make_buckets(const t_rgw *g, const char *names)
{
	char *out = NULL;
	int rc = t_rgw_sh(g, &out,
	                  "/usr/bin/python3 -c 'import boto3, os, sys\n"
	                  "s3 = boto3.client(\"s3\", endpoint_url=os.environ[\"LV_S3_ENDPOINT\"])\n"
	                  "for b in sys.argv[1:]: s3.create_bucket(Bucket=b)' %s",
	                  names);
	if (rc)
		fprintf(stderr, "fixture_rgw: making buckets %s failed: %s\n", names, out ? out : "");
	free(out);
	return rc ? -1 : 0;
}

int t_rgw_admin(const t_rgw *g, char **out, const char *args)
{
	return t_sh(out, "timeout 60 radosgw-admin -c '%s' %s", g->conf, args);
}

/* ---- the proxy ------------------------------------------------------------------ */

#define PROXY_MAX 1024

typedef struct pconn {
	struct t_proxy *p;
	int c, s;                 /* client and server sockets */
	int mode;                 /* 0 forward, 1 stall, 2 reset after reset_after bytes */
	long long reset_after;
	atomic_int busy;          /* a request is being sent */
	pthread_t up, down;
	int started;
} pconn;

struct t_proxy {
	int fd, port, target;
	pthread_t acceptor;
	atomic_int stop;
	atomic_int stall_next, reset_next;
	atomic_llong reset_after, rate;
	atomic_llong up_bytes;
	atomic_int connections, stalled, resets, busy, max_busy;
	pthread_mutex_t m;
	pconn *conns[PROXY_MAX];
	int nconns;
};

static void set_busy(pconn *k, int on)
{
	t_proxy *p = k->p;
	if (atomic_exchange(&k->busy, on) == on)
		return;
	if (on) {
		int now = atomic_fetch_add(&p->busy, 1) + 1;
		int max = atomic_load(&p->max_busy);
		while (now > max && !atomic_compare_exchange_weak(&p->max_busy, &max, now))
			;
	} else {
		atomic_fetch_sub(&p->busy, 1);
	}
}

static void rst_close(int fd)
{
	struct linger l = {1, 0};
	setsockopt(fd, SOL_SOCKET, SO_LINGER, &l, sizeof l);
	shutdown(fd, SHUT_RDWR);
}

static void *pump_up(void *arg)
{
	pconn *k = arg;
	t_proxy *p = k->p;
	char buf[65536];
	long long sent = 0;
	if (k->mode == 1) { /* stalled: hold the connection, answer nothing */
		struct pollfd pf = {k->c, POLLRDHUP, 0};
		while (!atomic_load(&p->stop) && !(poll(&pf, 1, 100) > 0 && (pf.revents & (POLLRDHUP | POLLHUP | POLLERR))))
			;
		shutdown(k->c, SHUT_RDWR);
		return NULL;
	}
	for (;;) {
		ssize_t n = read(k->c, buf, sizeof buf);
		if (n <= 0)
			break;
		if (k->mode == 2 && sent + n > k->reset_after) {
			rst_close(k->c);
			rst_close(k->s);
			break;
		}
		set_busy(k, 1);
		if (send(k->s, buf, (size_t)n, MSG_NOSIGNAL) != n)
			break;
		sent += n;
		atomic_fetch_add(&p->up_bytes, n);
		long long rate = atomic_load(&p->rate);
		if (rate > 0) {
			long long us = (long long)n * 1000000 / rate;
			struct timespec ts = {us / 1000000, (us % 1000000) * 1000};
			nanosleep(&ts, NULL);
		}
	}
	shutdown(k->s, SHUT_WR);
	set_busy(k, 0);
	return NULL;
}

static void *pump_down(void *arg)
{
	pconn *k = arg;
	char buf[65536];
	if (k->mode == 1)
		return NULL;
	for (;;) {
		ssize_t n = read(k->s, buf, sizeof buf);
		if (n <= 0)
			break;
		set_busy(k, 0);
		if (send(k->c, buf, (size_t)n, MSG_NOSIGNAL) != n)
			break;
	}
	shutdown(k->c, SHUT_WR);
	return NULL;
}

static int connect_target(int port)
{
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	struct sockaddr_in a = {0};
	a.sin_family = AF_INET;
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	a.sin_port = htons((uint16_t)port);
	if (fd >= 0 && connect(fd, (struct sockaddr *)&a, sizeof a) != 0) {
		close(fd);
		return -1;
	}
	return fd;
}

static void proxy_accept_one(t_proxy *p, int c)
{
	pconn *k = calloc(1, sizeof *k);
	if (!k) {
		close(c);
		return;
	}
	k->p = p;
	k->c = c;
	k->s = -1;
	atomic_fetch_add(&p->connections, 1);
	if (atomic_load(&p->stall_next) > 0) {
		atomic_fetch_sub(&p->stall_next, 1);
		atomic_fetch_add(&p->stalled, 1);
		k->mode = 1;
	} else {
		if (atomic_load(&p->reset_next) > 0) {
			atomic_fetch_sub(&p->reset_next, 1);
			atomic_fetch_add(&p->resets, 1);
			k->mode = 2;
			k->reset_after = atomic_load(&p->reset_after);
		}
		k->s = connect_target(p->target);
	}
	pthread_mutex_lock(&p->m);
	if (p->nconns == PROXY_MAX || (k->mode != 1 && k->s < 0)) {
		pthread_mutex_unlock(&p->m);
		rst_close(c);
		close(c);
		if (k->s >= 0)
			close(k->s);
		free(k);
		return;
	}
	p->conns[p->nconns++] = k;
	k->started = pthread_create(&k->up, NULL, pump_up, k) == 0;
	if (k->started && pthread_create(&k->down, NULL, pump_down, k) != 0)
		k->started = 1; /* down never started: only up is joined */
	else if (k->started)
		k->started = 2;
	pthread_mutex_unlock(&p->m);
}

static void *proxy_main(void *arg)
{
	t_proxy *p = arg;
	while (!atomic_load(&p->stop)) {
		struct pollfd pf = {p->fd, POLLIN, 0};
		if (poll(&pf, 1, 100) <= 0)
			continue;
		int c = accept4(p->fd, NULL, NULL, SOCK_CLOEXEC);
		if (c >= 0)
			proxy_accept_one(p, c);
	}
	return NULL;
}

t_proxy *t_proxy_start(int target_port)
{
	t_proxy *p = calloc(1, sizeof *p);
	if (!p)
		return NULL;
	pthread_mutex_init(&p->m, NULL);
	p->target = target_port;
	p->fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	struct sockaddr_in a = {0};
	a.sin_family = AF_INET;
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	socklen_t l = sizeof a;
	if (p->fd < 0 || bind(p->fd, (struct sockaddr *)&a, sizeof a) || listen(p->fd, 64) ||
	    getsockname(p->fd, (struct sockaddr *)&a, &l) || pthread_create(&p->acceptor, NULL, proxy_main, p)) {
		if (p->fd >= 0)
			close(p->fd);
		free(p);
		return NULL;
	}
	p->port = ntohs(a.sin_port);
	return p;
}

void t_proxy_stop(t_proxy *p)
{
	if (!p)
		return;
	atomic_store(&p->stop, 1);
	pthread_join(p->acceptor, NULL);
	close(p->fd);
	for (int i = 0; i < p->nconns; i++) {
		pconn *k = p->conns[i];
		shutdown(k->c, SHUT_RDWR);
		if (k->s >= 0)
			shutdown(k->s, SHUT_RDWR);
		if (k->started >= 1)
			pthread_join(k->up, NULL);
		if (k->started == 2)
			pthread_join(k->down, NULL);
		close(k->c);
		if (k->s >= 0)
			close(k->s);
		free(k);
	}
	pthread_mutex_destroy(&p->m);
	free(p);
}

int t_proxy_port(const t_proxy *p) { return p->port; }
void t_proxy_faults(t_proxy *p, int stall, int reset, long long reset_after)
{
	atomic_store(&p->reset_after, reset_after);
	atomic_store(&p->stall_next, stall);
	atomic_store(&p->reset_next, reset);
}
void t_proxy_rate(t_proxy *p, long long bytes_per_s) { atomic_store(&p->rate, bytes_per_s); }
long long t_proxy_up_bytes(const t_proxy *p) { return atomic_load(&p->up_bytes); }
int t_proxy_connections(const t_proxy *p) { return atomic_load(&p->connections); }
int t_proxy_max_busy(const t_proxy *p) { return atomic_load(&p->max_busy); }
int t_proxy_stalled(const t_proxy *p) { return atomic_load(&p->stalled); }
int t_proxy_reset(const t_proxy *p) { return atomic_load(&p->resets); }

/* ---- helpers of the s3 suites ------------------------------------------------------ */

t_rgw s3t_rgw;
int s3t_up;
char s3t_why[1024];


char *s3t_config(const char *name, const char *fmt, ...)
{
	static char path[8][600];
	static int next;
	char *p = path[next++ % 8];
	snprintf(p, 600, "%s/%s.conf", s3t_rgw.dir, name);
	char extra[4096] = "";
	if (fmt) {
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(extra, sizeof extra, fmt, ap);
		va_end(ap);
	}
	CU_ASSERT_EQUAL(t_rgw_write_config(&s3t_rgw, p, extra), 0);
	return p;
}

const char *s3t_store10k(void)
{
	static char path[600];
	if (!path[0]) {
		snprintf(path, sizeof path, "%s/gen10k.db", s3t_rgw.dir);
		char *o = NULL;
		int rc = t_sh(&o, "'%s' --store '%s' --count 10000", T_GEN, path);
		if (rc)
			fprintf(stderr, "licvault-gen: %s\n", o ? o : "");
		free(o);
		if (rc)
			path[0] = '\0';
	}
	return path[0] ? path : NULL;
}

static int names_cb(const lv_object_info *info, void *ud)
{
	char *buf = ud;
	size_t n = strlen(buf);
	snprintf(buf + n, 4096 - n, "%s;", info->name);
	return 0;
}

int s3t_list(lv_context *ctx, const char *uri, char names[4096])
{
	names[0] = '\0';
	struct lv_location *l = NULL;
	int rc = lv_location_open(&l, ctx, uri, LV_OPEN_READ);
	if (!rc) {
		rc = lv_location_driver_ops(l)->list(lv_location_driver_instance(l), names_cb, names);
		lv_location_close(l);
	}
	return rc;
}

int s3t_uploads(const char *bucket)
{
	char *out = NULL;
	int rc = t_rgw_sh(&s3t_rgw, &out,
	                  "/usr/bin/python3 -c 'import boto3, os, sys\n"
	                  "s3 = boto3.client(\"s3\", endpoint_url=os.environ[\"LV_S3_ENDPOINT\"])\n"
	                  "print(\"uploads\", len(s3.list_multipart_uploads(Bucket=sys.argv[1]).get(\"Uploads\", [])))' %s",
	                  bucket);
	const char *p = out ? strstr(out, "uploads ") : NULL;
	int n = rc == 0 && p ? atoi(p + 8) : -1;
	if (n < 0)
		fprintf(stderr, "listing the multipart uploads of %s failed: %s\n", bucket, out ? out : "");
	free(out);
	return n;
}

/* Write an object of `size` bytes (a pattern) through a location; its CRC in *crc. */
int s3t_put(struct lv_location *l, const char *name, uint64_t size, unsigned flags, unsigned long *crc)
{
	const lv_driver_ops *ops = lv_location_driver_ops(l);
	void *inst = lv_location_driver_instance(l);
	lv_writer *w = NULL;
	int rc = ops->write_begin(inst, name, size, &w);
	if (rc)
		return rc;
	size_t chunk = 1 << 20;
	unsigned char *buf = malloc(chunk);
	unsigned long c = crc32(0L, Z_NULL, 0);
	for (uint64_t done = 0; !rc && done < size;) {
		size_t n = size - done < chunk ? (size_t)(size - done) : chunk;
		for (size_t k = 0; k < n; k++)
			buf[k] = (unsigned char)((done + k) * 131 + ((done + k) >> 13));
		c = crc32(c, buf, (uInt)n);
		rc = ops->write(w, buf, n);
		done += n;
	}
	free(buf);
	if (rc) {
		ops->abort(w);
		return rc;
	}
	if (crc)
		*crc = c;
	return ops->commit(w, flags);
}

/* Read an object back: its length, CRC in *crc; < 0 on error. */
long long s3t_get(struct lv_location *l, const char *name, unsigned long *crc)
{
	const lv_driver_ops *ops = lv_location_driver_ops(l);
	void *inst = lv_location_driver_instance(l);
	lv_reader *r = NULL;
	int rc = ops->read_open(inst, name, &r);
	if (rc)
		return rc;
	size_t cap = 1 << 20, n = 0;
	unsigned char *buf = malloc(cap);
	unsigned long c = crc32(0L, Z_NULL, 0);
	long long total = 0;
	while (!(rc = ops->read(r, buf, cap, &n)) && n) {
		c = crc32(c, buf, (uInt)n);
		total += (long long)n;
	}
	ops->read_close(r);
	free(buf);
	if (crc)
		*crc = c;
	return rc ? rc : total;
}
