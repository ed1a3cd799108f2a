/*
 * Passphrase sources (secret.h).
 */
#include "secret.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <sodium.h>

#include "licvault/common.h"

extern char **environ;

void lvc_secret_free(lvc_secret *s)
{
	if (s && s->p)
		sodium_free(s->p); /* wipes */
	if (s) {
		s->p = NULL;
		s->len = 0;
	}
}

int lvc_secret_alloc(lvc_secret *s)
{
	s->len = 0;
	s->p = sodium_malloc(LVC_SECRET_MAX + 1);
	return s->p ? 0 : LV_E_NOMEM;
}

/* Keep the first line of what a source gave (n bytes in s->p): 0, or LV_E_CONFIG when it is empty. */
static int first_line(lvc_secret *s, size_t n)
{
	size_t k = 0;
	while (k < n && s->p[k] != '\n')
		k++;
	if (k && s->p[k - 1] == '\r')
		k--;
	sodium_memzero(s->p + k, LVC_SECRET_MAX + 1 - k);
	s->len = k;
	return k ? 0 : LV_E_CONFIG;
}

int lvc_secret_from_file(const char *path, int whole, lvc_secret *out, char *why, size_t cap)
{
	out->p = NULL;
	out->len = 0;
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	if (fd < 0) {
		snprintf(why, cap, "cannot open %s: %s", path, strerror(errno));
		return LV_E_CONFIG;
	}
	struct stat st;
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
		snprintf(why, cap, "%s is not a regular file", path);
		close(fd);
		return LV_E_CONFIG;
	}
	if (st.st_mode & 077) {
		snprintf(why, cap, "%s has mode %04o: a passphrase or key file must not be accessible by group or others "
		                   "(chmod 600 %s)", path, (unsigned)(st.st_mode & 07777), path);
		close(fd);
		return LV_E_CONFIG;
	}
	int rc = lvc_secret_alloc(out);
	size_t n = 0;
	while (!rc && n <= LVC_SECRET_MAX) {
		ssize_t k = read(fd, out->p + n, LVC_SECRET_MAX + 1 - n);
		if (k < 0 && errno == EINTR)
			continue;
		if (k < 0) {
			snprintf(why, cap, "cannot read %s: %s", path, strerror(errno));
			rc = LV_E_CONFIG;
		}
		if (k <= 0)
			break;
		n += (size_t)k;
	}
	close(fd);
	if (!rc && n > LVC_SECRET_MAX) {
		snprintf(why, cap, "%s is longer than %u bytes: not a passphrase file", path, LVC_SECRET_MAX);
		rc = LV_E_CONFIG;
	}
	if (!rc && whole)
		out->len = n;
	else if (!rc && (rc = first_line(out, n)))
		snprintf(why, cap, "%s is empty (its first line is the passphrase)", path);
	if (rc)
		lvc_secret_free(out);
	return rc;
}

int lvc_secret_from_env(const char *name, lvc_secret *out, char *why, size_t cap)
{
	out->p = NULL;
	out->len = 0;
	const char *v = secure_getenv(name);
	if (!v)
		return LV_E_NOT_FOUND;
	size_t n = strlen(v);
	if (!n || n > LVC_SECRET_MAX) {
		snprintf(why, cap, "$%s is %s", name, n ? "longer than 4096 bytes" : "empty");
		return LV_E_CONFIG;
	}
	if (lvc_secret_alloc(out))
		return LV_E_NOMEM;
	memcpy(out->p, v, n);
	if (first_line(out, n)) {
		snprintf(why, cap, "$%s begins with an empty line", name);
		lvc_secret_free(out);
		return LV_E_CONFIG;
	}
	return 0;
}

/* ---- running a command ---------------------------------------------------- */

void lvc_argv_free(char **argv)
{
	if (!argv)
		return;
	for (char **p = argv; *p; p++)
		free(*p);
	free(argv);
}

/* The next word of s at *pos into w (room for strlen(s) + 1): 1, 0 at the end, -1 on an open quote. */
static int next_word(const char *s, size_t *pos, char *w)
{
	size_t i = *pos, k = 0;
	while (s[i] == ' ' || s[i] == '\t' || s[i] == '\n')
		i++;
	if (!s[i]) {
		*pos = i;
		return 0;
	}
	while (s[i] && s[i] != ' ' && s[i] != '\t' && s[i] != '\n') {
		if (s[i] == '\'') {
			const char *e = strchr(s + i + 1, '\'');
			if (!e)
				return -1;
			memcpy(w + k, s + i + 1, (size_t)(e - s - i - 1));
			k += (size_t)(e - s - i - 1);
			i = (size_t)(e - s) + 1;
		} else if (s[i] == '"') {
			for (i++; s[i] && s[i] != '"'; i++) {
				if (s[i] == '\\' && (s[i + 1] == '"' || s[i + 1] == '\\'))
					i++;
				w[k++] = s[i];
			}
			if (!s[i])
				return -1;
			i++;
		} else {
			if (s[i] == '\\' && s[i + 1])
				i++;
			w[k++] = s[i++];
		}
	}
	w[k] = '\0';
	*pos = i;
	return 1;
}

int lvc_argv_split(const char *command, char ***argv_out, char *why, size_t cap)
{
	size_t n = strlen(command), pos = 0, argc = 0;
	char **argv = calloc(n / 2 + 2, sizeof *argv);
	char *w = malloc(n + 1);
	int rc = argv && w ? 0 : LV_E_NOMEM, r;
	while (!rc && (r = next_word(command, &pos, w)) != 0) {
		if (r < 0) {
			snprintf(why, cap, "a quote is not closed");
			rc = LV_E_CONFIG;
		} else if (!(argv[argc++] = strdup(w)))
			rc = LV_E_NOMEM;
	}
	free(w);
	if (!rc && !argc) {
		snprintf(why, cap, "the command is empty");
		rc = LV_E_CONFIG;
	}
	if (rc) {
		lvc_argv_free(argv);
		return rc;
	}
	*argv_out = argv;
	return 0;
}

/* The environment for the child: ours without the passphrase variables. */
static char **child_env(void)
{
	size_t n = 0;
	while (environ && environ[n])
		n++;
	char **env = calloc(n + 1, sizeof *env);
	if (!env)
		return NULL;
	size_t k = 0;
	for (size_t i = 0; i < n; i++)
		if (strncmp(environ[i], "LICVAULT_PASSPHRASE=", 20) && strncmp(environ[i], "LICVAULT_NEW_PASSPHRASE=", 24))
			env[k++] = environ[i];
	return env;
}

static int spawn(char **argv, int out_fd, int pipe_rd, pid_t *pid, char *why, size_t cap)
{
	posix_spawn_file_actions_t fa;
	if (posix_spawn_file_actions_init(&fa))
		return LV_E_NOMEM;
	char **env = child_env();
	int e = env ? 0 : ENOMEM;
	if (!e)
		e = posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
	if (!e)
		e = posix_spawn_file_actions_adddup2(&fa, out_fd, 1);
	if (!e)
		e = posix_spawn_file_actions_addclose(&fa, pipe_rd);
	if (!e)
		e = posix_spawnp(pid, argv[0], &fa, NULL, argv, env);
	posix_spawn_file_actions_destroy(&fa);
	free(env);
	if (e) {
		snprintf(why, cap, "cannot run '%s': %s", argv[0], strerror(e));
		return e == ENOMEM ? LV_E_NOMEM : LV_E_CONFIG;
	}
	return 0;
}

/* Read the child's stdout into out until it closes it; 0, LV_E_CANCELED, or LV_E_CONFIG (too much). */
static int drain(int fd, lvc_secret *out, size_t *n, int (*canceled)(void *), void *cud, char *why, size_t cap)
{
	for (;;) {
		struct pollfd p = {fd, POLLIN, 0};
		int r = poll(&p, 1, 200);
		if (r < 0 && errno != EINTR) {
			snprintf(why, cap, "poll: %s", strerror(errno));
			return LV_E_CONFIG;
		}
		if (canceled && canceled(cud))
			return LV_E_CANCELED;
		if (r <= 0)
			continue;
		ssize_t k = read(fd, out->p + *n, LVC_SECRET_MAX + 1 - *n);
		if (k < 0 && (errno == EINTR || errno == EAGAIN))
			continue;
		if (k <= 0)
			return 0;
		*n += (size_t)k;
		if (*n > LVC_SECRET_MAX) {
			snprintf(why, cap, "it printed more than %u bytes", LVC_SECRET_MAX);
			return LV_E_CONFIG;
		}
	}
}

static int reap(pid_t pid, int kill_it, const char *prog, char *why, size_t cap)
{
	if (kill_it)
		kill(pid, SIGKILL);
	int st = 0;
	while (waitpid(pid, &st, 0) < 0)
		if (errno != EINTR)
			return 0;
	if (kill_it)
		return 0;
	if (WIFEXITED(st) && WEXITSTATUS(st) == 0)
		return 0;
	if (WIFEXITED(st))
		snprintf(why, cap, "'%s' exited with status %d", prog, WEXITSTATUS(st));
	else
		snprintf(why, cap, "'%s' was killed by signal %d", prog, WTERMSIG(st));
	return LV_E_CONFIG;
}

int lvc_secret_from_command(const char *command, int (*canceled)(void *), void *cud, lvc_secret *out, char *why,
                            size_t cap)
{
	out->p = NULL;
	out->len = 0;
	char **argv = NULL;
	int rc = lvc_argv_split(command, &argv, why, cap);
	if (rc)
		return rc;
	int fds[2];
	if ((rc = lvc_secret_alloc(out)) || pipe2(fds, O_CLOEXEC) != 0) {
		if (!rc)
			snprintf(why, cap, "pipe: %s", strerror(errno));
		rc = rc ? rc : LV_E_CONFIG;
		goto out;
	}
	pid_t pid;
	rc = spawn(argv, fds[1], fds[0], &pid, why, cap);
	close(fds[1]);
	size_t n = 0;
	if (!rc) {
		rc = drain(fds[0], out, &n, canceled, cud, why, cap);
		close(fds[0]); /* before reaping: a child still writing gets EPIPE */
		int rrc = reap(pid, rc != 0, argv[0], why, cap);
		if (!rc && rrc)
			rc = rrc;
		if (!rc && first_line(out, n)) {
			snprintf(why, cap, "'%s' printed no passphrase (its first line is empty)", argv[0]);
			rc = LV_E_CONFIG;
		}
	} else
		close(fds[0]);
out:
	if (rc)
		lvc_secret_free(out);
	lvc_argv_free(argv);
	return rc;
}
