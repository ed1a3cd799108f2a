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
#include <sys/file.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define SSHD "/usr/sbin/sshd"
#define PW_USER "lvtest"
#define PW_DIR "/var/lib/lvtest"

static void sleep_ms(int ms)
{
	struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
	nanosleep(&ts, NULL);
}

static int free_port(void)
{
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	struct sockaddr_in a = {0};
	a.sin_family = AF_INET;
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	a.sin_port = 0;
	socklen_t l = sizeof a;
	int port = -1;
	if (bind(fd, (struct sockaddr *)&a, sizeof a) == 0 && getsockname(fd, (struct sockaddr *)&a, &l) == 0)
		port = ntohs(a.sin_port);
	close(fd);
	return port;
}

static int port_open(int port)
{
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return 0;
	struct sockaddr_in a = {0};
	a.sin_family = AF_INET;
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	a.sin_port = htons((uint16_t)port);
	int ok = connect(fd, (struct sockaddr *)&a, sizeof a) == 0;
	close(fd);
	return ok;
}

static int write_file(const char *path, const char *text, mode_t mode)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
	if (fd < 0)
		return -1;
	size_t n = strlen(text);
	int ok = write(fd, text, n) == (ssize_t)n;
	fchmod(fd, mode);
	close(fd);
	return ok ? 0 : -1;
}

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
		execl(SSHD, SSHD, "-f", s->sshd_config, "-D", "-e", (char *)NULL);
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
		if (port_open(s->port))
			return 0;
		sleep_ms(50);
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
			ok = write_file(s->pw_file, line, 0600) == 0;
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
	return write_file(path, line, 0644);
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
	return write_file(path, text, 0644);
}

int t_sshd_start(t_sshd *s, char *why, size_t whylen)
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
	setup_pw_user(s);

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

	for (int attempt = 0; attempt < 5; attempt++) {
		s->port = free_port();
		if (s->port <= 0) {
			snprintf(why, whylen, "no free port on 127.0.0.1");
			return -1;
		}
		char cfg[4096];
		snprintf(cfg, sizeof cfg,
		         "# licvault test sshd: loopback only\n"
		         "Port %d\n"
		         "ListenAddress 127.0.0.1\n"
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
		         "AllowTcpForwarding no\n"
		         "PrintMotd no\n"
		         "LogLevel VERBOSE\n"
		         "AllowUsers %s%s%s\n"
		         "Subsystem sftp internal-sftp\n",
		         s->port, s->host_key, s->authorized_keys, s->user, s->pw_user[0] ? " " : "", s->pw_user);
		if (write_file(s->sshd_config, cfg, 0644)) {
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
	t_sshd_signal_sessions(s, sig);
	kill(s->pid, sig);
	for (int i = 0; i < 100; i++) {
		if (waitpid(s->pid, NULL, WNOHANG) == s->pid) {
			s->pid = 0;
			return;
		}
		sleep_ms(20);
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
		sleep_ms(100);
	}
	return -1;
}
