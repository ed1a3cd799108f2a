/*
 * Child processes of the sftp driver: `ssh -G` (sshconfig.c) and the proxy
 * that carries the SSH session for ProxyJump and ProxyCommand (proc.c).
 *
 * Every child is started with posix_spawn, never through a shell of ours
 * (a ProxyCommand is a shell line by definition: /bin/sh -c "exec LINE", as
 * OpenSSH runs it), in a process group of its own so that stopping it stops
 * whatever it started, with only the descriptors it needs.  Every child is
 * reaped: on success, on error and on cancel (sftp_child_stop).
 */
#include "sftp_int.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

/* ---- spawning ------------------------------------------------------------ */

static int spawn_actions(posix_spawn_file_actions_t *fa, int io_fd, int out_w, int err_w)
{
	int e = 0;
	if (io_fd >= 0) {
		e = e ? e : posix_spawn_file_actions_adddup2(fa, io_fd, 0);
		e = e ? e : posix_spawn_file_actions_adddup2(fa, io_fd, 1);
	} else {
		e = e ? e : posix_spawn_file_actions_addopen(fa, 0, "/dev/null", O_RDONLY, 0);
		e = e ? e : posix_spawn_file_actions_adddup2(fa, out_w, 1);
	}
	e = e ? e : posix_spawn_file_actions_adddup2(fa, err_w, 2);
	/* nothing else of this process leaks into the child (another run's sockets...) */
	e = e ? e : posix_spawn_file_actions_addclosefrom_np(fa, 3);
	return e;
}

static int spawn_attrs(posix_spawnattr_t *at)
{
	sigset_t none, dfl;
	sigemptyset(&none);
	sigemptyset(&dfl);
	int sigs[] = {SIGPIPE, SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGCHLD, SIGUSR1, SIGUSR2, SIGALRM};
	for (size_t i = 0; i < sizeof sigs / sizeof sigs[0]; i++)
		sigaddset(&dfl, sigs[i]);
	/*
	 * RESETIDS: in a set-user-ID process the child runs as the real user, so
	 * what the user's own ssh_config makes it do (Match exec, ProxyCommand,
	 * the jump host's keys) happens with the user's own rights.
	 */
	int e = posix_spawnattr_setflags(at, POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF |
	                                         POSIX_SPAWN_RESETIDS);
	e = e ? e : posix_spawnattr_setpgroup(at, 0);
	e = e ? e : posix_spawnattr_setsigmask(at, &none);
	e = e ? e : posix_spawnattr_setsigdefault(at, &dfl);
	return e;
}

int sftp_spawn(sftp_child *ch, char *const argv[], int search, int io_fd)
{
	memset(ch, 0, sizeof *ch);
	ch->out_fd = ch->err_fd = -1;
	int outp[2] = {-1, -1}, errp[2] = {-1, -1};
	if (pipe2(errp, O_CLOEXEC) < 0 || (io_fd < 0 && pipe2(outp, O_CLOEXEC) < 0)) {
		int e = errno;
		for (int i = 0; i < 2; i++) {
			if (errp[i] >= 0)
				close(errp[i]);
			if (outp[i] >= 0)
				close(outp[i]);
		}
		return e;
	}
	posix_spawn_file_actions_t fa;
	posix_spawnattr_t at;
	posix_spawn_file_actions_init(&fa);
	posix_spawnattr_init(&at);
	int e = spawn_actions(&fa, io_fd, outp[1], errp[1]);
	e = e ? e : spawn_attrs(&at);
	pid_t pid = 0;
	if (!e)
		e = search ? posix_spawnp(&pid, argv[0], &fa, &at, argv, environ)
		           : posix_spawn(&pid, argv[0], &fa, &at, argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	posix_spawnattr_destroy(&at);
	close(errp[1]);
	if (outp[1] >= 0)
		close(outp[1]);
	if (e) {
		close(errp[0]);
		if (outp[0] >= 0)
			close(outp[0]);
		return e;
	}
	ch->pid = pid;
	ch->err_fd = errp[0];
	ch->out_fd = outp[0];
	fcntl(ch->err_fd, F_SETFL, O_NONBLOCK);
	if (ch->out_fd >= 0)
		fcntl(ch->out_fd, F_SETFL, O_NONBLOCK);
	return 0;
}

/* ---- watching and stopping --------------------------------------------- */

static void keep_tail(sftp_child *ch, const char *buf, size_t n)
{
	size_t cap = sizeof ch->err - 1;
	if (n >= cap) {
		memcpy(ch->err, buf + n - cap, cap);
		ch->err_len = cap;
	} else {
		if (ch->err_len + n > cap) {
			size_t drop = ch->err_len + n - cap;
			memmove(ch->err, ch->err + drop, ch->err_len - drop);
			ch->err_len -= drop;
		}
		memcpy(ch->err + ch->err_len, buf, n);
		ch->err_len += n;
	}
	ch->err[ch->err_len] = '\0';
}

void sftp_child_drain(sftp_inst *c, sftp_child *ch, const char *tag)
{
	while (ch->err_fd >= 0) {
		char buf[2048];
		ssize_t n = read(ch->err_fd, buf, sizeof buf - 1);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return;
		if (n <= 0) {
			close(ch->err_fd);
			ch->err_fd = -1;
			return;
		}
		keep_tail(ch, buf, (size_t)n);
		if (c) {
			buf[n] = '\0';
			char *save = NULL;
			for (char *l = strtok_r(buf, "\r\n", &save); l; l = strtok_r(NULL, "\r\n", &save))
				sftp_debug(c, "%s: %s", tag, l);
		}
	}
}

int sftp_child_ended(sftp_child *ch)
{
	if (ch->reaped)
		return 1;
	if (ch->pid <= 0)
		return 0;
	int st = 0;
	pid_t r = waitpid(ch->pid, &st, WNOHANG);
	if (r == ch->pid || (r < 0 && errno == ECHILD)) {
		/* ECHILD: the application reaps children itself (SIGCHLD ignored) */
		ch->status = r == ch->pid ? st : 0;
		ch->reaped = 1;
		return 1;
	}
	return 0;
}

void sftp_child_stop(sftp_child *ch)
{
	if (ch->pid > 0 && !sftp_child_ended(ch)) {
		kill(-ch->pid, SIGTERM);
		for (int i = 0; i < 100 && !sftp_child_ended(ch); i++)
			poll(NULL, 0, 10);
		if (!sftp_child_ended(ch)) {
			kill(-ch->pid, SIGKILL);
			int st = 0;
			while (waitpid(ch->pid, &st, 0) < 0 && errno == EINTR)
				;
			ch->status = st;
			ch->reaped = 1;
		}
	}
	/* what the group left (a ProxyCommand's own children) goes with it */
	if (ch->pid > 0)
		kill(-ch->pid, SIGKILL);
	if (ch->err_fd >= 0)
		close(ch->err_fd);
	if (ch->out_fd >= 0)
		close(ch->out_fd);
	ch->err_fd = ch->out_fd = -1;
	ch->pid = 0;
}

void sftp_child_status_text(const sftp_child *ch, char *buf, size_t cap)
{
	if (!ch->reaped)
		snprintf(buf, cap, "still running");
	else if (WIFEXITED(ch->status))
		snprintf(buf, cap, "exited with status %d", WEXITSTATUS(ch->status));
	else if (WIFSIGNALED(ch->status))
		snprintf(buf, cap, "was killed by signal %d (%s)", WTERMSIG(ch->status), strsignal(WTERMSIG(ch->status)));
	else
		snprintf(buf, cap, "ended");
}
