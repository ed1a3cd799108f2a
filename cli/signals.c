/*
 * Signals during a run, through a self-pipe: the handler only writes one
 * byte ('I' SIGINT, 'T' SIGTERM); the run's worker writes 'E' after END and
 * the output writes 'P' when standard output is found closed.  The main
 * thread reads the bytes (wake_wait) and does the work: cancel, say
 * "canceling...", exit.  SIGPIPE is ignored for the whole program, so a
 * closed pipe is an EPIPE the output notices.
 *
 * A SIGINT after a first SIGINT or SIGTERM exits at once, from the handler
 * itself (restore the terminal, one line on standard error, _exit: each
 * async-signal-safe), so that it works whatever the main thread waits for.
 *
 * The library's calls that are not runs (list, ls, forget, a driver's
 * command) run on a thread of their own (run_in_background), so that the
 * main thread waits the same way and their callbacks can stop them.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"

static int wake_fd[2] = {-1, -1};
static struct sigaction old_int, old_term;
static volatile sig_atomic_t interrupted;   /* a SIGINT or SIGTERM came since signals_begin */
static int err_is_tty;                      /* standard error is a terminal (a progress bar to clear) */

/*
 * Write s to standard error if it can take it now, else drop it: the second
 * interrupt must not wait for a reader (standard error a full pipe nobody
 * reads, also the pipe standard output fills with 2>&1: the handler blocked
 * in write and licvault never exited).  A pipe or FIFO is written through a
 * description of its own opened non-blocking (setting O_NONBLOCK on the one
 * licvault shares with its parent would change the parent's too), a socket
 * with MSG_DONTWAIT, anything else (a terminal, a file) when poll says it
 * takes bytes now.  Async-signal-safe (fstat, open, send, poll, write, close).
 */
static void write_now(const char *s, size_t n)
{
	struct stat st;
	if (fstat(STDERR_FILENO, &st) != 0)
		return;
	if (S_ISSOCK(st.st_mode)) {
		if (send(STDERR_FILENO, s, n, MSG_DONTWAIT | MSG_NOSIGNAL) < 0) {
			/* full or gone: dropped */
		}
		return;
	}
	if (S_ISFIFO(st.st_mode)) {
		int fd = open("/proc/self/fd/2", O_WRONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
		if (fd >= 0) {
			if (write(fd, s, n) < 0) {
				/* EAGAIN: full, dropped (n <= PIPE_BUF: all or nothing) */
			}
			close(fd);
			return;
		}
		/* no /proc: poll below (a race with another writer could still block) */
	}
	struct pollfd p = {STDERR_FILENO, POLLOUT, 0};
	if (poll(&p, 1, 0) == 1 && (p.revents & POLLOUT))
		write_fully(STDERR_FILENO, s, n);
}

/* The second interrupt: async-signal-safe only. */
static _Noreturn void exit_now(void)
{
	static const char note[] = "\r\033[Klicvault: interrupted again: exiting now; the next run puts the location right\n";
	secret_restore_tty();   /* tcsetattr */
	/* one write: the progress bar's line cleared (a terminal) and the note, or neither */
	if (err_is_tty)
		write_now(note, sizeof note - 1);
	else
		write_now(note + 4, sizeof note - 5);
	_exit(CLI_EXIT_SIGINT);
}

static void stdout_closed(void)
{
	interrupted = 1;   /* a cancel is under way: the next SIGINT exits */
	wake('P');
}

static void on_signal(int sig)
{
	int saved = errno;
	if (sig == SIGINT && interrupted)
		exit_now();
	interrupted = 1;
	char c = sig == SIGINT ? 'I' : 'T';
	if (write(wake_fd[1], &c, 1) < 0) {
		/* the pipe is full: the main thread has plenty to read already */
	}
	errno = saved;
}

void signals_ignore_sigpipe(void)
{
	signal(SIGPIPE, SIG_IGN);
}

int signals_begin(void)
{
	if (pipe2(wake_fd, O_CLOEXEC) != 0)
		return -1;
	interrupted = 0;
	err_is_tty = isatty(STDERR_FILENO);
	fcntl(wake_fd[1], F_SETFL, O_NONBLOCK);
	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	sa.sa_flags = SA_RESTART;
	sigaction(SIGINT, &sa, &old_int);
	sigaction(SIGTERM, &sa, &old_term);
	out_on_stdout_closed(stdout_closed);
	if (out_stdout_closed())
		wake('P');
	return 0;
}

void signals_end(void)
{
	out_on_stdout_closed(NULL);
	sigaction(SIGINT, &old_int, NULL);
	sigaction(SIGTERM, &old_term, NULL);
	close(wake_fd[0]);
	close(wake_fd[1]);
	wake_fd[0] = wake_fd[1] = -1;
}

void wake(char why)
{
	if (wake_fd[1] >= 0 && write(wake_fd[1], &why, 1) < 0) {
		/* full: see on_signal */
	}
}

char wake_wait(void)
{
	char c;
	for (;;) {
		ssize_t n = read(wake_fd[0], &c, 1);
		if (n == 1)
			return c;
		if (n < 0 && errno == EINTR)
			continue;
		return 'E';   /* cannot happen with the write end open; do not spin */
	}
}

int wait_end(void (*cancel)(void *ud), void *ud, const char *note)
{
	int override = 0;
	for (;;) {
		char why = wake_wait();
		if (why == 'E')
			break;
		int code = why == 'I' ? CLI_EXIT_SIGINT : why == 'T' ? CLI_EXIT_SIGTERM : CLI_EXIT_SIGPIPE;
		if (!override) {   /* a second SIGINT exits in the handler (exit_now) */
			override = code;
			/* the cancel first: the note may wait for a standard error nobody reads */
			secret_cancel();
			cancel(ud);
			out_note("%s", note);
		}
	}
	return override;
}

typedef struct bg {
	int (*fn)(void *);
	void *ud;
	int rc;
} bg;

static void *bg_main(void *p)
{
	bg *b = p;
	b->rc = b->fn(b->ud);
	wake('E');
	return NULL;
}

int run_in_background(int (*fn)(void *ud), void (*cancel)(void *ud), void *ud, const char *note, int *rc)
{
	bg b = {fn, ud, 0};
	pthread_t t;
	if (signals_begin() != 0) {
		*rc = fn(ud);   /* no pipe: run it here, with the default signal actions */
		return 0;
	}
	if (pthread_create(&t, NULL, bg_main, &b) != 0) {
		signals_end();
		*rc = fn(ud);
		return 0;
	}
	int override = wait_end(cancel, ud, note);
	pthread_join(t, NULL);
	signals_end();
	*rc = b.rc;
	return override;
}
