#include "cliutil.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

int t_cli(char **out, const char *env, const char *fmt, ...)
{
	/* fmt goes into the command's format as it is: the suite dir, env and the CLI's path hold no '%' */
	char *cmd = NULL;
	if (asprintf(&cmd, "cd '%s' && %s '%s' %s", t_suite_dir, env, T_CLI, fmt) < 0)
		return -1;
	va_list ap;
	va_start(ap, fmt);
	int st = t_vsh(out, cmd, ap);
	va_end(ap);
	free(cmd);
	return st;
}

int t_count_str(const char *s, const char *needle)
{
	int n = 0;
	for (const char *p = s; (p = strstr(p, needle)); p += strlen(needle))
		n++;
	return n;
}

int t_cli_suite_init(const char *conf, const char *text)
{
	if (t_suite_dir_init())
		return 1;
	char *out = NULL;
	int rc = t_sh(&out, "cd '%s' && printf '%s' > '%s' && LICVAULT_CONFIG='%s' '%s' -q --store s.db store import "
	                    "'%s'/examples/licenses/*.lic",
	              t_suite_dir, text, conf, conf, T_CLI, LV_TEST_SOURCE_DIR);
	free(out);
	return rc != 0;
}

int t_cli_big_store(void)
{
	char *out = NULL;
	int st = t_sh(&out, "cd '%s' && test -f big.db || '%s' --store big.db --count 1500 --restricted 50 --seed 7",
	              t_suite_dir, T_GEN);
	free(out);
	return st;
}

void t_cli_exec(const char *conf, const char *args)
{
	char cmd[2048];
	snprintf(cmd, sizeof cmd, "exec '%s' %s", T_CLI, args);
	setenv("LICVAULT_CONFIG", conf, 1);
	execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
	_exit(127);
}

int t_cli_spawn(t_child *ch, const char *conf, const char *args, int close_stdout)
{
	int o[2], e[2];
	if (pipe2(o, O_CLOEXEC) || pipe2(e, O_CLOEXEC))
		return -1;
	fcntl(o[1], F_SETPIPE_SZ, 4096);
	ch->pid = fork();
	if (ch->pid == 0) {
		dup2(o[1], 1);
		dup2(e[1], 2);
		if (chdir(t_suite_dir) != 0)
			_exit(126);
		t_cli_exec(conf, args);
	}
	close(o[1]);
	close(e[1]);
	ch->out = o[0];
	ch->err = e[0];
	if (close_stdout) {
		close(ch->out);
		ch->out = -1;
	}
	return ch->pid > 0 ? 0 : -1;
}

/* All that is left to read on fd (none when fd is -1), as a malloc'd string; fd is closed. */
static char *drain(int fd)
{
	size_t cap = 1 << 16, len = 0;
	char *b = malloc(cap);
	ssize_t n;
	while (fd >= 0 && ((n = read(fd, b + len, cap - 1 - len)) > 0 || (n < 0 && errno == EINTR)))
		if (n > 0 && (len += (size_t)n) + 1024 > cap)
			b = realloc(b, cap *= 2);
	b[len] = '\0';
	if (fd >= 0)
		close(fd);
	return b;
}

int t_cli_finish(t_child *ch, char **out, char **err)
{
	*out = drain(ch->out);
	char *e = drain(ch->err);
	if (err)
		*err = e;
	else
		free(e);
	int st = 0;
	waitpid(ch->pid, &st, 0);
	return WIFEXITED(st) ? WEXITSTATUS(st) : -WTERMSIG(st);
}

int t_read_until(int fd, char *buf, size_t cap, size_t *len, const char *needle)
{
	for (;;) {
		buf[*len] = '\0';
		if (strstr(buf, needle))
			return 1;
		if (*len + 1 >= cap)
			*len = 0;   /* keep reading; the needle is near the end */
		ssize_t n = read(fd, buf + *len, cap - 1 - *len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return 0;
		*len += (size_t)n;
	}
}

pid_t t_pty_fork(int *master, int *slave)
{
	int m = posix_openpt(O_RDWR | O_NOCTTY);
	if (m < 0 || grantpt(m) || unlockpt(m))
		return -1;
	const char *name = ptsname(m);
	if (slave)
		*slave = open(name, O_RDWR | O_NOCTTY);
	pid_t pid = fork();
	if (pid == 0) {
		setsid();
		int s = open(name, O_RDWR);   /* the session's controlling terminal: /dev/tty */
		dup2(s, 0);
		dup2(s, 1);
		dup2(s, 2);
		if (chdir(t_suite_dir) != 0)
			_exit(126);
		return 0;
	}
	*master = m;
	return pid;
}
