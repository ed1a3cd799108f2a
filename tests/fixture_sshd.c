/* The test sshd (fixture_sshd.h). */
#include "fixture_sshd.h"
#include "testutil.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <net/if.h>
#include <sched.h>
#include <sys/file.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define SSHD "/usr/sbin/sshd"
#define PW_USER "lvtest"
#define PW_DIR "/var/lib/lvtest"

static char *read_text(const char *path)
{
	FILE *f = fopen(path, "re");
	if (!f)
		return NULL;
	char *buf = calloc(1, 65536);
	size_t n = buf ? fread(buf, 1, 65535, f) : 0;
	(void)n;
	fclose(f);
	return buf;
}

/* Every descendant of pid (children first found by walking /proc). */
static size_t descendants(int pid, int *out, size_t cap)
{
	size_t n = 0;
	int parents[256];
	size_t np = 0;
	parents[np++] = pid;
	for (size_t scan = 0; scan < np && n < cap; scan++) {
		DIR *d = opendir("/proc");
		if (!d)
			return n;
		struct dirent *de;
		while ((de = readdir(d)) && n < cap) {
			int p = atoi(de->d_name);
			if (p <= 0)
				continue;
			char path[64], buf[512];
			snprintf(path, sizeof path, "/proc/%d/stat", p);
			int fd = open(path, O_RDONLY | O_CLOEXEC);
			if (fd < 0)
				continue;
			ssize_t k = read(fd, buf, sizeof buf - 1);
			close(fd);
			if (k <= 0)
				continue;
			buf[k] = '\0';
			char *rp = strrchr(buf, ')');
			int ppid = 0;
			char st;
			if (!rp || sscanf(rp + 1, " %c %d", &st, &ppid) != 2)
				continue;
			if (ppid == parents[scan]) {
				out[n++] = p;
				if (np < sizeof parents / sizeof parents[0])
					parents[np++] = p;
			}
		}
		closedir(d);
	}
	return n;
}

static int spawn_sshd(t_sshd *s, char *why, size_t whylen)
{
	pid_t pid = fork();
	if (pid < 0) {
		snprintf(why, whylen, "fork: %s", strerror(errno));
		return -1;
	}
	if (pid == 0) {
		int log = open(s->log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
		int nul = open("/dev/null", O_RDONLY | O_CLOEXEC);
		if (log >= 0) {
			dup2(log, 1);
			dup2(log, 2);
		}
		if (nul >= 0)
			dup2(nul, 0);
		execl(SSHD, SSHD, "-r", "-f", s->sshd_config, "-D", "-e", (char *)NULL);
		_exit(127);
	}
	s->pid = (int)pid;
	for (int i = 0; i < 200; i++) {
		int st;
		if (waitpid(pid, &st, WNOHANG) == pid) {
			char *log = read_text(s->log);
			snprintf(why, whylen, "%s exited (status %d) at start: %.300s", SSHD,
			         WIFEXITED(st) ? WEXITSTATUS(st) : -1, log ? log : "");
			free(log);
			s->pid = 0;
			return -1;
		}
		if (t_port_open(s->port))
			return 0;
		t_sleep_ms(50);
	}
	snprintf(why, whylen, "%s did not accept connections on 127.0.0.1:%d within 10 s", SSHD, s->port);
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
	s->pid = 0;
	return -1;
}

/* lvtest: a dedicated local user (made once) with a random password kept in PW_DIR/password. */
static void setup_pw_user(t_sshd *s)
{
	s->pw_user[0] = '\0';
	if (geteuid() != 0)
		return;
	mkdir(PW_DIR, 0755);
	int lock = open(PW_DIR "/lock", O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (lock >= 0)
		flock(lock, LOCK_EX);
	char *out = NULL;
	snprintf(s->pw_home, sizeof s->pw_home, "%s/home", PW_DIR);
	snprintf(s->pw_file, sizeof s->pw_file, "%s/password", PW_DIR);
	int ok = 1;
	if (!getpwnam(PW_USER)) {
		if (t_sh(&out, "useradd -M -d %s -s /bin/sh %s", s->pw_home, PW_USER) != 0) {
			fprintf(stderr, "fixture_sshd: useradd %s failed: %s\n", PW_USER, out ? out : "");
			ok = 0;
		}
		free(out);
		out = NULL;
		unlink(s->pw_file);
	}
	if (ok && access(s->pw_file, R_OK) != 0) {
		unsigned char r[16];
		char pw[40];
		if (getrandom(r, sizeof r, 0) != (ssize_t)sizeof r)
			ok = 0;
		for (size_t i = 0; i < sizeof r; i++)
			sprintf(pw + 2 * i, "%02x", r[i]);
		FILE *p = ok ? popen("chpasswd", "w") : NULL;
		if (p) {
			fprintf(p, "%s:%s\n", PW_USER, pw);
			ok = pclose(p) == 0;
		} else
			ok = 0;
		if (ok) {
			char line[64];
			snprintf(line, sizeof line, "%s\n", pw);
			ok = t_write_file(s->pw_file, line, 0600) == 0;
		}
		explicit_bzero(pw, sizeof pw);
	}
	if (ok) {
		struct passwd *pwd = getpwnam(PW_USER);
		mkdir(s->pw_home, 0755);
		if (pwd && chown(s->pw_home, pwd->pw_uid, pwd->pw_gid) == 0)
			snprintf(s->pw_user, sizeof s->pw_user, "%s", PW_USER);
	}
	if (lock >= 0) {
		flock(lock, LOCK_UN);
		close(lock);
	}
}

int t_sshd_write_known_hosts(const t_sshd *s, const char *path)
{
	char *pub = read_text(s->host_pub);
	if (!pub)
		return -1;
	char type[64], key[1024];
	int ok = sscanf(pub, "%63s %1023s", type, key) == 2;
	free(pub);
	if (!ok)
		return -1;
	char line[1200];
	snprintf(line, sizeof line, "[127.0.0.1]:%d %s %s\n", s->port, type, key);
	return t_write_file(path, line, 0644);
}

int t_sshd_write_config(const t_sshd *s, const char *path, const char *extra)
{
	/* the fixture's defaults, unless extra sets them (the first value of a key wins) */
	char text[4096];
	size_t n = (size_t)snprintf(text, sizeof text, "[driver \"sftp\"]\n");
	if (!extra || !strstr(extra, "known_hosts"))
		n += (size_t)snprintf(text + n, sizeof text - n, "known_hosts = %s\n", s->known_hosts);
	if (!extra || !strstr(extra, "timeout"))
		n += (size_t)snprintf(text + n, sizeof text - n, "timeout = 20\n");
	if (!extra || !strstr(extra, "connect_retries"))
		n += (size_t)snprintf(text + n, sizeof text - n, "connect_retries = 0\n");
	snprintf(text + n, sizeof text - n, "%s", extra ? extra : "");
	return t_write_file(path, text, 0644);
}

/* An sshd_config: `listen` (Port and ListenAddress lines, or "" for sshd -i) and `extra` lines. */
static void sshd_config_text(const t_sshd *s, char *cfg, size_t cap, const char *listen, const char *extra)
{
	snprintf(cfg, cap,
	         "# licvault test sshd: loopback only\n"
	         "%s"
	         "AddressFamily inet\n"
	         "HostKey %s\n"
	         "PidFile none\n"
	         "UsePAM no\n"
	         "StrictModes no\n"
	         "PermitRootLogin prohibit-password\n"
	         "AuthorizedKeysFile %s\n"
	         "PubkeyAuthentication yes\n"
	         "PasswordAuthentication yes\n"
	         "KbdInteractiveAuthentication no\n"
	         "PermitEmptyPasswords no\n"
	         "MaxAuthTries 30\n"
	         "MaxStartups 100\n"
	         "MaxSessions 100\n"
	         "UseDNS no\n"
	         "X11Forwarding no\n"
	         "PrintMotd no\n"
	         "LogLevel VERBOSE\n"
	         "AllowUsers %s%s%s\n"
	         /* a session's command (a Subsystem program) runs under the user's shell: SHLVL=1 keeps bash from
	            reading ~/.bashrc, as it does when run by sshd (slow or noisy on a developer's machine) */
	         "SetEnv SHLVL=1\n"
	         "Subsystem sftp %s%s%s\n"
	         "%s",
	         listen, s->host_key, s->authorized_keys, s->user, s->pw_user[0] ? " " : "", s->pw_user,
	         s->subsystem[0] ? s->subsystem : "internal-sftp", s->subsystem[0] ? " " : "",
	         s->subsystem[0] ? s->subsystem_conf : "", extra);
}

/* The temporary directory, the paths, the host and client keys: common to t_sshd_start and t_jump_start. */
static int prepare(t_sshd *s, char *why, size_t whylen)
{
	memset(s, 0, sizeof *s);
	if (access(SSHD, X_OK) != 0) {
		snprintf(why, whylen, "%s is not installed (apt-get install openssh-server)", SSHD);
		return -1;
	}
	if (access("/usr/bin/ssh-keygen", X_OK) != 0) {
		snprintf(why, whylen, "/usr/bin/ssh-keygen is not installed (apt-get install openssh-client)");
		return -1;
	}
	char *d = t_tmpdir();
	if (!d) {
		snprintf(why, whylen, "cannot make a temporary directory: %s", strerror(errno));
		return -1;
	}
	snprintf(s->dir, sizeof s->dir, "%s", d);
	free(d);
	chmod(s->dir, 0755); /* lvtest reads its authorized_keys here */
	struct passwd *me = getpwuid(geteuid());
	snprintf(s->user, sizeof s->user, "%s", me ? me->pw_name : "root");
	if (geteuid() == 0)
		mkdir("/run/sshd", 0755); /* sshd's privilege separation directory */

	snprintf(s->host_key, sizeof s->host_key, "%s/host_ed25519", s->dir);
	snprintf(s->host_pub, sizeof s->host_pub, "%s/host_ed25519.pub", s->dir);
	snprintf(s->client_key, sizeof s->client_key, "%s/id_ed25519", s->dir);
	snprintf(s->wrong_key, sizeof s->wrong_key, "%s/wrong_ed25519", s->dir);
	snprintf(s->authorized_keys, sizeof s->authorized_keys, "%s/authorized_keys", s->dir);
	snprintf(s->known_hosts, sizeof s->known_hosts, "%s/known_hosts", s->dir);
	snprintf(s->sshd_config, sizeof s->sshd_config, "%s/sshd_config", s->dir);
	snprintf(s->config_path, sizeof s->config_path, "%s/licvault.conf", s->dir);
	snprintf(s->log, sizeof s->log, "%s/sshd.log", s->dir);
	snprintf(s->data, sizeof s->data, "%s/data", s->dir);
	char *out = NULL;
	if (t_sh(&out, "ssh-keygen -q -t ed25519 -N '' -C lvtest-host -f '%s' && ssh-keygen -q -t ed25519 -N '' -C lvtest-client -f '%s' && "
	               "ssh-keygen -q -t ed25519 -N '' -C lvtest-wrong -f '%s' && cp '%s.pub' '%s' && chmod 644 '%s' '%s.pub'",
	         s->host_key, s->client_key, s->wrong_key, s->client_key, s->authorized_keys, s->authorized_keys,
	         s->client_key) != 0) {
		snprintf(why, whylen, "ssh-keygen failed: %.300s", out ? out : "");
		free(out);
		return -1;
	}
	free(out);
	out = NULL;
	if (t_sh(&out, "ssh-keygen -lf '%s'", s->host_pub) == 0 && out)
		sscanf(out, "%*d %127s", s->host_fp);
	free(out);
	mkdir(s->data, 0777);
	chmod(s->data, 01777); /* both users write here; sticky like /tmp */
	return 0;
}

int t_sshd_start(t_sshd *s, char *why, size_t whylen)
{
	return t_sshd_start_subsystem(s, NULL, why, whylen);
}

int t_sshd_start_subsystem(t_sshd *s, const char *program, char *why, size_t whylen)
{
	if (prepare(s, why, whylen))
		return -1;
	if (program) {
		if (access(program, X_OK) != 0) {
			snprintf(why, whylen, "the SFTP subsystem %s cannot be run: %s", program, strerror(errno));
			return -1;
		}
		snprintf(s->subsystem, sizeof s->subsystem, "%s", program);
		snprintf(s->subsystem_conf, sizeof s->subsystem_conf, "%s/subsystem.conf", s->dir);
	}
	setup_pw_user(s);
	for (int attempt = 0; attempt < 5; attempt++) {
		s->port = t_free_port();
		if (s->port <= 0) {
			snprintf(why, whylen, "no free port on 127.0.0.1");
			return -1;
		}
		char cfg[4096], listen[64];
		snprintf(listen, sizeof listen, "Port %d\nListenAddress 127.0.0.1\n", s->port);
		sshd_config_text(s, cfg, sizeof cfg, listen, "AllowTcpForwarding no\n");
		if (t_write_file(s->sshd_config, cfg, 0644)) {
			snprintf(why, whylen, "cannot write %s: %s", s->sshd_config, strerror(errno));
			return -1;
		}
		if (t_sshd_write_known_hosts(s, s->known_hosts)) {
			snprintf(why, whylen, "cannot write %s", s->known_hosts);
			return -1;
		}
		char extra[1024];
		snprintf(extra, sizeof extra, "identity_file = %s\nuse_agent = no\n", s->client_key);
		if (t_sshd_write_config(s, s->config_path, extra)) {
			snprintf(why, whylen, "cannot write %s", s->config_path);
			return -1;
		}
		if (spawn_sshd(s, why, whylen) == 0)
			return 0;
		if (!strstr(why, "Address already in use"))
			return -1;
	}
	return -1;
}

int t_sshd_signal_sessions(t_sshd *s, int sig)
{
	if (s->pid <= 0)
		return 0;
	int kids[256];
	size_t n = descendants(s->pid, kids, 256);
	for (size_t i = 0; i < n; i++)
		kill(kids[i], sig);
	return (int)n;
}

static void reap(t_sshd *s, int sig)
{
	if (s->pid <= 0)
		return;
	/*
	 * The listener first stops, so that it accepts no connection and forks
	 * no session while its sessions are signalled (a client reconnecting
	 * at once would otherwise get a session nobody stops), then goes too.
	 */
	kill(s->pid, SIGSTOP);
	t_sshd_signal_sessions(s, sig);
	kill(s->pid, sig);
	kill(s->pid, SIGCONT);
	for (int i = 0; i < 100; i++) {
		if (waitpid(s->pid, NULL, WNOHANG) == s->pid) {
			s->pid = 0;
			return;
		}
		t_sleep_ms(20);
	}
	t_sshd_signal_sessions(s, SIGKILL);
	kill(s->pid, SIGKILL);
	waitpid(s->pid, NULL, 0);
	s->pid = 0;
}

void t_sshd_kill(t_sshd *s)
{
	t_sshd_signal_sessions(s, SIGCONT);
	reap(s, SIGKILL);
}

void t_sshd_stop(t_sshd *s)
{
	t_sshd_signal_sessions(s, SIGCONT);
	reap(s, SIGTERM);
}

int t_sshd_restart(t_sshd *s, char *why, size_t whylen)
{
	if (s->pid > 0)
		t_sshd_stop(s);
	for (int i = 0; i < 50; i++) {
		if (spawn_sshd(s, why, whylen) == 0)
			return 0;
		if (!strstr(why, "Address already in use"))
			return -1;
		t_sleep_ms(100);
	}
	return -1;
}

/* ---- a target reachable only through a jump host ----------------------------- */

/* Bring up the loopback of a new network namespace (127.0.0.0/8 comes with it). */
static int lo_up(void)
{
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	struct ifreq ifr;
	memset(&ifr, 0, sizeof ifr);
	memcpy(ifr.ifr_name, "lo", 3);
	int rc = ioctl(fd, SIOCGIFFLAGS, &ifr);
	if (rc == 0) {
		ifr.ifr_flags |= IFF_UP | IFF_RUNNING;
		rc = ioctl(fd, SIOCSIFFLAGS, &ifr);
	}
	close(fd);
	return rc;
}

/* Can this process make a network namespace?  (A throwaway child tries.) */
static int can_unshare_net(void)
{
	if (geteuid() != 0)
		return 0;
	pid_t p = fork();
	if (p == 0)
		_exit(unshare(CLONE_NEWNET) == 0 && lo_up() == 0 ? 0 : 1);
	int st = 0;
	return p > 0 && waitpid(p, &st, 0) == p && WIFEXITED(st) && WEXITSTATUS(st) == 0;
}

typedef struct keeper_args {
	int listen_fd;             /* 127.0.0.1:jump port, in the test's namespace */
	int ready_w;               /* one byte when the target listens: 'I' isolated, 'N' not, 'E' failed */
	int isolate;
	char *const *target_argv;
	char *const *jump_argv;
	int target_log, jump_log;  /* open log files */
	struct sockaddr_in target; /* where the target listens */
} keeper_args;

static void keeper_exec(int in, int out, int log, char *const *argv)
{
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	dup2(in, 0);
	dup2(out, 1);
	dup2(log, 2);
	execv(SSHD, argv);
	_exit(127);
}

/*
 * The keeper (a forked child; only system calls from here on): makes the
 * namespace, starts the target in it, then serves each connection on the
 * listener with `sshd -i` inside the namespace.
 */
static void keeper_main(const keeper_args *k) __attribute__((noreturn));
static void keeper_main(const keeper_args *k)
{
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	char st = 'N';
	if (k->isolate)
		st = unshare(CLONE_NEWNET) == 0 && lo_up() == 0 ? 'I' : 'E';
	int nul = open("/dev/null", O_RDWR | O_CLOEXEC);
	pid_t t = st == 'E' ? -1 : fork();
	if (t == 0)
		keeper_exec(nul, k->target_log, k->target_log, k->target_argv);
	for (int i = 0; t > 0; i++) {
		int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
		int ok = fd >= 0 && connect(fd, (const struct sockaddr *)&k->target, sizeof k->target) == 0;
		if (fd >= 0)
			close(fd);
		if (ok)
			break;
		if (i == 200 || waitpid(t, NULL, WNOHANG) == t) {
			st = 'E';
			break;
		}
		struct timespec ts = {0, 50000000L};
		nanosleep(&ts, NULL);
	}
	if (t < 0)
		st = 'E';
	if (write(k->ready_w, &st, 1) != 1 || st == 'E')
		_exit(1);
	close(k->ready_w);
	for (;;) {
		struct pollfd p = {k->listen_fd, POLLIN, 0};
		poll(&p, 1, 200);
		while (waitpid(-1, NULL, WNOHANG) > 0)
			; /* ended sessions */
		if (!(p.revents & POLLIN))
			continue;
		int c = accept4(k->listen_fd, NULL, NULL, SOCK_CLOEXEC);
		if (c < 0)
			continue;
		if (fork() == 0)
			keeper_exec(c, c, k->jump_log, k->jump_argv);
		close(c);
	}
}

static int listen_on(int port)
{
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	int one = 1;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (bind(fd, (struct sockaddr *)&a, sizeof a) < 0 || listen(fd, 64) < 0) {
		close(fd);
		return -1;
	}
	return fd;
}

static int jump_configs(t_jump *j, char *why, size_t whylen)
{
	t_sshd *s = &j->s;
	char cfg[4096], listen[96], extra[200], key[1200], kh[3000];
	snprintf(listen, sizeof listen, "Port %d\nListenAddress %s\n", j->target_port, j->target_host);
	sshd_config_text(s, cfg, sizeof cfg, listen, "AllowTcpForwarding no\n");
	if (t_write_file(j->target_config, cfg, 0644))
		goto fail;
	snprintf(extra, sizeof extra, "AllowTcpForwarding yes\nPermitOpen %s:%d\n", j->target_host, j->target_port);
	sshd_config_text(s, cfg, sizeof cfg, "", extra);
	if (t_write_file(j->jump_config, cfg, 0644))
		goto fail;
	char *pub = read_text(s->host_pub);
	int ok = pub && sscanf(pub, "%1199[^\n]", key) == 1;
	free(pub);
	if (!ok)
		goto fail;
	key[strcspn(key, "\n")] = '\0';
	char *comment = strrchr(key, ' ');
	if (comment && comment != strchr(key, ' '))
		*comment = '\0'; /* "type base64" */
	if (j->target_port == 22)
		snprintf(kh, sizeof kh, "[127.0.0.1]:%d %s\n%s %s\n", s->port, key, j->target_host, key);
	else
		snprintf(kh, sizeof kh, "[127.0.0.1]:%d %s\n[%s]:%d %s\n", s->port, key, j->target_host, j->target_port, key);
	if (t_write_file(j->known_hosts_both, kh, 0644) == 0)
		return 0;
fail:
	snprintf(why, whylen, "cannot write the jump fixture's files in %s: %s", s->dir, strerror(errno));
	return -1;
}

/* Fork the keeper and wait for its word. */
static int start_keeper(t_jump *j, int lfd, char *why, size_t whylen)
{
	t_sshd *s = &j->s;
	char *targv[] = {SSHD, "-f", j->target_config, "-D", "-e", NULL};
	char *jargv[] = {SSHD, "-i", "-e", "-f", j->jump_config, NULL};
	int rp[2];
	if (pipe2(rp, O_CLOEXEC) < 0) {
		snprintf(why, whylen, "pipe: %s", strerror(errno));
		return -1;
	}
	keeper_args k = {lfd, rp[1], j->isolated, targv, jargv,
	                 open(j->target_log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644),
	                 open(j->jump_log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644),
	                 {.sin_family = AF_INET, .sin_port = htons((uint16_t)j->target_port)}};
	inet_pton(AF_INET, j->target_host, &k.target.sin_addr);
	pid_t pid = fork();
	if (pid == 0)
		keeper_main(&k);
	close(rp[1]);
	close(k.target_log);
	close(k.jump_log);
	s->pid = pid > 0 ? (int)pid : 0;
	char st = 0;
	struct pollfd p = {rp[0], POLLIN, 0};
	if (pid > 0 && poll(&p, 1, 15000) > 0 && read(rp[0], &st, 1) == 1 && (st == 'I' || st == 'N')) {
		close(rp[0]);
		return 0;
	}
	close(rp[0]);
	char *log = read_text(j->target_log);
	snprintf(why, whylen, "the jump fixture's target sshd did not start (%c): %.300s", st ? st : '?', log ? log : "");
	free(log);
	t_jump_stop(j);
	return -1;
}

int t_jump_start(t_jump *j, char *why, size_t whylen)
{
	memset(j, 0, sizeof *j);
	t_sshd *s = &j->s;
	if (prepare(s, why, whylen))
		return -1;
	j->isolated = can_unshare_net();
	snprintf(j->target_host, sizeof j->target_host, "127.0.0.2");
	j->target_port = j->isolated ? 22 : t_free_port();
	snprintf(j->target_config, sizeof j->target_config, "%s/sshd_target_config", s->dir);
	snprintf(j->jump_config, sizeof j->jump_config, "%s/sshd_jump_config", s->dir);
	snprintf(j->target_log, sizeof j->target_log, "%s/sshd_target.log", s->dir);
	snprintf(j->jump_log, sizeof j->jump_log, "%s/sshd_jump.log", s->dir);
	snprintf(j->known_hosts_both, sizeof j->known_hosts_both, "%s/known_hosts_both", s->dir);
	int lfd = -1;
	for (int i = 0; i < 5 && lfd < 0; i++)
		if ((s->port = t_free_port()) > 0)
			lfd = listen_on(s->port);
	if (lfd < 0) {
		snprintf(why, whylen, "cannot listen on 127.0.0.1: %s", strerror(errno));
		return -1;
	}
	int rc = jump_configs(j, why, whylen);
	if (!rc)
		rc = start_keeper(j, lfd, why, whylen);
	close(lfd);
	return rc;
}

void t_jump_stop(t_jump *j)
{
	t_sshd_stop(&j->s);
}
