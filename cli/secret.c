/*
 * Secrets: the CLI's lv_secret_cb, and no core dumps while a key is held.
 *
 * A driver that needs a secret no configured source gives (the crypt
 * driver's passphrase) asks the application; licvault asks on /dev/tty, as
 * ssh and gpg do, with echo off (termios), twice for a new secret
 * (LV_SECRET_CONFIRM; three tries when the answers differ).  Without a
 * terminal it declines (LV_E_CANCELED) and says which source to configure;
 * the run then exits 2 (config), not 130.  The answer goes straight into the
 * driver's buffer: never printed, logged or kept.
 *
 * The question runs on the worker's thread while the main thread waits for
 * signals: the first SIGINT cancels the run and the question (secret_cancel
 * wakes its poll); a second one exits at once, the terminal put back first
 * (secret_restore_tty).
 *
 * Core dumps: a process holding a key must not dump it to disk.  The library
 * must not change that (it is process-wide); the CLI does, for a run on a
 * crypt+ location and for the drivers' commands, and leaves it so until it
 * exits.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <termios.h>
#include <unistd.h>

#include "cli.h"

#define TRIES 3

static int cancel_fd[2] = {-1, -1};
static int tty_fd = -1;             /* the terminal while its echo is off */
static struct termios saved;
static volatile sig_atomic_t echo_off;
static int declined;                /* the exit code after licvault declined to ask */

/* ---- the terminal ---------------------------------------------------------------------------------- */

void secret_cancel(void)
{
	if (cancel_fd[1] >= 0 && write(cancel_fd[1], "x", 1) < 0) {
		/* full: a cancel is pending already */
	}
}

void secret_restore_tty(void)
{
	if (echo_off && tty_fd >= 0)
		tcsetattr(tty_fd, TCSANOW, &saved);
	echo_off = 0;
}

int secret_declined(void)
{
	return declined;
}

void write_fully(int fd, const char *s, size_t n)
{
	while (n) {
		ssize_t w = write(fd, s, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return;
		s += w;
		n -= (size_t)w;
	}
}

static void tty_write(int fd, const char *s)
{
	write_fully(fd, s, strlen(s));
}

/* One line from the terminal into buf (cap bytes, NUL-terminated); 0, LV_E_CANCELED, or another error. */
static int read_line(int fd, char *buf, size_t cap)
{
	size_t n = 0;
	int too_long = 0;
	for (;;) {
		struct pollfd p[2] = {{.fd = fd, .events = POLLIN}, {.fd = cancel_fd[0], .events = POLLIN}};
		if (poll(p, cancel_fd[0] >= 0 ? 2 : 1, -1) < 0) {
			if (errno == EINTR)
				continue;
			return LV_E_IO;
		}
		if (cancel_fd[0] >= 0 && p[1].revents)
			return LV_E_CANCELED;
		char ch;
		ssize_t r = read(fd, &ch, 1);
		if (r < 0 && (errno == EINTR || errno == EAGAIN))
			continue;
		if (r <= 0)
			return LV_E_CANCELED;   /* end of input (Ctrl-D) or the terminal gone: not answered */
		if (ch == '\n' || ch == '\r')
			break;
		if (n + 1 < cap)
			buf[n++] = ch;
		else
			too_long = 1;
	}
	buf[n] = '\0';
	if (too_long) {
		explicit_bzero(buf, cap);
		return LV_E_INVALID_ARG;
	}
	return 0;
}

/* Ask once, echo off: "licvault: PROMPT: ". */
static int ask_once(int fd, const char *prompt, char *buf, size_t cap)
{
	struct termios t;
	if (tcgetattr(fd, &saved) != 0)
		return LV_E_IO;
	t = saved;
	t.c_lflag &= ~(tcflag_t)(ECHO | ECHOE | ECHOK);
	t.c_lflag |= ECHONL;   /* the Enter still moves to the next line */
	tty_fd = fd;
	echo_off = 1;
	tcsetattr(fd, TCSAFLUSH, &t);
	char line[1200];
	snprintf(line, sizeof line, "licvault: %s: ", prompt);
	tty_write(fd, line);
	int rc = read_line(fd, buf, cap);
	secret_restore_tty();
	tty_fd = -1;
	if (rc == LV_E_INVALID_ARG) {
		snprintf(line, sizeof line, "licvault: the answer is longer than %zu bytes\n", cap - 1);
		tty_write(fd, line);
	}
	return rc;
}

/* Ask twice until both answers match (TRIES times at most). */
static int ask_confirmed(int fd, const char *prompt, char *buf, size_t cap)
{
	char *again = malloc(cap);
	if (!again)
		return LV_E_NOMEM;
	char second[1100];
	snprintf(second, sizeof second, "%s (again)", prompt);
	int rc = LV_E_CANCELED;
	for (int i = 0; i < TRIES; i++) {
		if ((rc = ask_once(fd, prompt, buf, cap)) || (rc = ask_once(fd, second, again, cap)))
			break;
		if (!strcmp(buf, again))
			break;
		explicit_bzero(buf, cap);
		rc = LV_E_CANCELED;
		if (i + 1 < TRIES)
			tty_write(fd, "licvault: the two answers differ; try again\n");
		else
			declined = CLI_EXIT_USAGE;
	}
	explicit_bzero(again, cap);
	free(again);
	if (declined)
		out_note("the two answers for the %s differed %d times: not given", prompt, TRIES);
	return rc;
}

/*
 * licvault will not ask: say why and what to configure (the crypt driver's sources when
 * the question is about a crypt location); the run ends CANCELED, licvault exits 2.
 */
static int decline(const char *prompt, const char *why)
{
	declined = CLI_EXIT_USAGE;
	if (strstr(prompt, "crypt+"))
		out_note("cannot ask for the %s: %s; configure where it comes from: for the crypt driver passphrase_file "
		         "or passphrase_command in [driver \"crypt\"] or the location's section, or $LICVAULT_PASSPHRASE "
		         "(licvault.conf(5))", prompt, why);
	else
		out_note("cannot ask for the %s: %s; configure where it comes from in the driver's section or the "
		         "location's (licvault.conf(5), and the driver's documentation)", prompt, why);
	return LV_E_CANCELED;
}

static int ask(const char *prompt, unsigned flags, char *buf, size_t cap, void *ud)
{
	(void)ud;
	const char *shown = safe(uri_for_display(prompt));
	int fd = open("/dev/tty", O_RDWR | O_NOCTTY | O_CLOEXEC);
	if (fd < 0)
		return decline(shown, "no terminal to ask on (licvault asks only on /dev/tty)");
	out_status_pause(1);
	int rc = (flags & LV_SECRET_CONFIRM) ? ask_confirmed(fd, shown, buf, cap) : ask_once(fd, shown, buf, cap);
	close(fd);
	out_status_pause(0);
	return rc;
}

void secret_setup(cli *c)
{
	if (cancel_fd[0] < 0 && pipe2(cancel_fd, O_CLOEXEC | O_NONBLOCK) != 0)
		cancel_fd[0] = cancel_fd[1] = -1;
	lv_context_set_secret_cb(c->ctx, ask, c);
}

/* ---- core dumps ------------------------------------------------------------------------------------ */

/* Does the URI's scheme stack hold a crypt layer ("crypt+...", "bundle+crypt+...")? */
static int holds_key(const char *uri)
{
	size_t n = uri ? strcspn(uri, ":") : 0;
	if (!n || !uri[n] || n >= 256 || strspn(uri, "abcdefghijklmnopqrstuvwxyz0123456789+.-") < n)
		return 0;   /* no scheme: a plain path */
	char scheme[256], *save = NULL;
	snprintf(scheme, sizeof scheme, "%.*s", (int)n, uri);
	for (char *t = strtok_r(scheme, "+", &save); t; t = strtok_r(NULL, "+", &save))
		if (!strcmp(t, "crypt"))
			return 1;
	return 0;
}

void keys_guard(cli *c, const char *uri, int always)
{
	static int done;
	if (done)
		return;
	if (!always) {
		char *resolved = NULL;   /* a named location ("nas:") may be a crypt+ one */
		const char *driver = NULL;
		int key = holds_key(uri) || (lv_context_resolve(c->ctx, uri, &resolved, &driver) == 0 && holds_key(resolved));
		free(resolved);
		if (!key)
			return;
	}
	done = 1;
	struct rlimit none = {0, 0};
	int a = prctl(PR_SET_DUMPABLE, 0, 0, 0, 0), b = setrlimit(RLIMIT_CORE, &none);
	cli_log(a || b ? LV_LOG_WARN : LV_LOG_DEBUG, "core dumps %s while a key may be held (%s)",
	        a || b ? "could not be turned off" : "off", a || b ? strerror(errno) : "until licvault exits");
}
