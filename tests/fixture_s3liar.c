/* A lying S3 server (fixture_s3liar.h). */
#include "fixture_s3liar.h"
#include "testutil.h"

#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <fcntl.h>
#include <unistd.h>

#define S3LIAR_SCRIPT LV_TEST_SOURCE_DIR "/tests/s3liar/s3liar.py"

int t_s3liar_start(t_s3liar *x, char *why, size_t whylen)
{
	memset(x, 0, sizeof *x);
	if (access("/usr/bin/python3", X_OK)) {
		snprintf(why, whylen, "/usr/bin/python3 is missing");
		return -1;
	}
	if (!(x->dir = t_tmpdir())) {
		snprintf(why, whylen, "no temporary directory");
		return -1;
	}
	char log[700], port[700];
	snprintf(log, sizeof log, "%s/server.out", x->dir);
	snprintf(port, sizeof port, "%s/port", x->dir);
	pid_t parent = getpid();
	pid_t pid = fork();
	if (pid < 0) {
		snprintf(why, whylen, "fork failed");
		return -1;
	}
	if (pid == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (getppid() != parent)
			_exit(127);
		int fd = open(log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
		if (fd >= 0) {
			dup2(fd, 1);
			dup2(fd, 2);
		}
		execl("/usr/bin/python3", "python3", S3LIAR_SCRIPT, x->dir, (char *)NULL);
		_exit(127);
	}
	x->pid = (int)pid;
	for (int t = 0; t < 10000; t += 20) {
		FILE *f = fopen(port, "r");
		if (f) {
			if (fscanf(f, "%d", &x->port) != 1)
				x->port = 0;
			fclose(f);
		}
		if (x->port > 0)
			break;
		if (waitpid(pid, NULL, WNOHANG) == pid) {
			x->pid = 0;
			break;
		}
		t_sleep_ms(20);
	}
	if (x->port <= 0) {
		snprintf(why, whylen, "s3liar.py did not start (see %s)", log);
		t_s3liar_stop(x);
		return -1;
	}
	snprintf(x->endpoint, sizeof x->endpoint, "http://127.0.0.1:%d", x->port);
	t_s3liar_file(x, "secret", "liarsecretliarsecretliarsecret00\n", 33);
	char p[700];
	snprintf(p, sizeof p, "%s/secret", x->dir);
	chmod(p, 0600);
	t_s3liar_mode(x, "%s", "");
	return 0;
}

void t_s3liar_stop(t_s3liar *x)
{
	if (x->pid > 0) {
		kill(x->pid, SIGTERM);
		int i;
		for (i = 0; i < 250 && waitpid(x->pid, NULL, WNOHANG) != x->pid; i++)
			t_sleep_ms(20);
		if (i == 250) {
			kill(x->pid, SIGKILL);
			waitpid(x->pid, NULL, 0);
		}
	}
	x->pid = 0;
}

const char *t_s3liar_file(t_s3liar *x, const char *name, const void *data, size_t len)
{
	static char path[4][700];
	static int next;
	char *p = path[next++ % 4];
	snprintf(p, sizeof path[0], "%s/%s", x->dir, name);
	if (t_write_bytes(p, data, len))
		fprintf(stderr, "s3liar: cannot write %s\n", p);
	return p;
}

void t_s3liar_mode(t_s3liar *x, const char *fmt, ...)
{
	char text[4096], log[700], tmp[700], mode[700];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(text, sizeof text, fmt, ap);
	va_end(ap);
	snprintf(log, sizeof log, "%s/log", x->dir);
	snprintf(tmp, sizeof tmp, "%s/mode.tmp", x->dir);
	snprintf(mode, sizeof mode, "%s/mode", x->dir);
	unlink(log);
	if (t_write_bytes(tmp, text, strlen(text)) || rename(tmp, mode))
		fprintf(stderr, "s3liar: cannot write %s\n", mode);
}

const char *t_s3liar_config(t_s3liar *x, const char *name, const char *extra)
{
	static char path[700];
	char text[4096];
	snprintf(path, sizeof path, "%s/%s.conf", x->dir, name);
	snprintf(text, sizeof text,
	         "[driver \"s3\"]\nendpoint = %s\naccess_key_id = LIARKEYID\nsecret_access_key_file = %s/secret\n"
	         "timeout = 5\nretries = 2\n%s",
	         x->endpoint, x->dir, extra ? extra : "");
	if (t_write_bytes(path, text, strlen(text)))
		fprintf(stderr, "s3liar: cannot write %s\n", path);
	return path;
}

int t_s3liar_count(const t_s3liar *x, const char *part)
{
	char log[700], line[4096];
	snprintf(log, sizeof log, "%s/log", x->dir);
	FILE *f = fopen(log, "r");
	if (!f)
		return 0;
	int n = 0;
	while (fgets(line, sizeof line, f))
		n += !part || strstr(line, part) != NULL;
	fclose(f);
	return n;
}
