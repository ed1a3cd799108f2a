/*
 * licvault-sftp-relay [-4|-6] [-t SECONDS] [--] HOST PORT: the TCP connection to
 * a ProxyJump hop, for the `ssh -W` the sftp driver runs (its ProxyCommand).
 *
 * Why it exists: a jump host's sshd does not set TCP_NODELAY on the
 * connection of a `-W` channel (OpenSSH sets it for interactive sessions
 * only), so Nagle's algorithm holds its small segments (SFTP status
 * replies, window adjustments) until the previous one is acknowledged,
 * and the client's kernel delays that acknowledgement by up to 40 ms when
 * it has nothing to send back.  libssh2 drains its writes now and then, so
 * an upload through a jump host waited 40 ms again and again (3.8 x the
 * direct upload on loopback).  This relay connects with TCP_NODELAY and
 * asks for an immediate acknowledgement (TCP_QUICKACK, which Linux forgets
 * after each receive, so it is asked again after every read): the hop's
 * held segment leaves at once.  It copies bytes both ways and nothing else;
 * it never sees a byte in clear (the outer SSH session runs through it).
 *
 * It ends when either side ends, when ssh (its parent) dies, or after
 * SECONDS when the connection cannot be made.  Its errors go to stderr,
 * which ssh passes on to the driver's message.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define RELAY_BUF (256 * 1024)

static const char *host_, *port_;

static void usage(void)
{
	fprintf(stderr, "usage: licvault-sftp-relay [-4|-6] [-t SECONDS] [--] HOST PORT\n");
	exit(2);
}

static void die(const char *what, int e)
{
	fprintf(stderr, "licvault-sftp-relay: %s %s port %s: %s\n", what, host_, port_, strerror(e));
	exit(255);
}

static long long now_ms(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (long long)t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

/* Connect to one address within the time left (ms; < 0: no limit): the socket, or -1 with errno. */
static int connect_one(const struct addrinfo *a, long long left)
{
	int s = socket(a->ai_family, a->ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK, a->ai_protocol);
	if (s < 0)
		return -1;
	if (connect(s, a->ai_addr, a->ai_addrlen) == 0)
		return s;
	if (errno != EINPROGRESS) {
		int e = errno;
		close(s);
		errno = e;
		return -1;
	}
	struct pollfd p = {s, POLLOUT, 0};
	int n;
	int wait = left < 0 ? -1 : left > INT_MAX ? INT_MAX : left > 0 ? (int)left : 1;
	while ((n = poll(&p, 1, wait)) < 0 && errno == EINTR)
		;
	int e = ETIMEDOUT;
	socklen_t l = sizeof e;
	if (n == 1 && getsockopt(s, SOL_SOCKET, SO_ERROR, &e, &l) == 0 && e == 0)
		return s;
	close(s);
	errno = e ? e : ETIMEDOUT;
	return -1;
}

/* Write all of buf to fd (blocking); 0 or -1. */
static int put(int fd, const char *buf, size_t n)
{
	while (n) {
		ssize_t w = write(fd, buf, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0 && errno == EAGAIN) {
			struct pollfd p = {fd, POLLOUT, 0};
			poll(&p, 1, -1);
			continue;
		}
		if (w <= 0)
			return -1;
		buf += w;
		n -= (size_t)w;
	}
	return 0;
}

int main(int argc, char **argv)
{
	int family = AF_UNSPEC, opt;
	long timeout = 0;
	while ((opt = getopt(argc, argv, "46t:")) != -1) {
		if (opt == '4')
			family = AF_INET;
		else if (opt == '6')
			family = AF_INET6;
		else if (opt == 't') {
			char *end;
			timeout = strtol(optarg, &end, 10);
			/* any ConnectTimeout ssh takes (up to INT_MAX seconds): the relay must not refuse a hop ssh would try */
			if (*end || end == optarg || timeout < 0 || timeout > INT_MAX)
				usage();
		} else
			usage();
	}
	if (argc - optind != 2)
		usage();
	host_ = argv[optind];
	port_ = argv[optind + 1];
	/* ssh gone (killed with the driver's session): no relay left behind */
	prctl(PR_SET_PDEATHSIG, SIGTERM);
	if (getppid() == 1)
		return 255;
	signal(SIGPIPE, SIG_IGN);

	struct addrinfo hints, *ai = NULL;
	memset(&hints, 0, sizeof hints);
	hints.ai_family = family;
	hints.ai_socktype = SOCK_STREAM;
	int g = getaddrinfo(host_, port_, &hints, &ai);
	if (g) {
		fprintf(stderr, "licvault-sftp-relay: cannot resolve %s port %s: %s\n", host_, port_, gai_strerror(g));
		return 255;
	}
	long long deadline = timeout ? now_ms() + (long long)timeout * 1000 : -1;
	int s = -1, e = 0;
	for (const struct addrinfo *a = ai; a && s < 0; a = a->ai_next) {
		long long left = deadline < 0 ? -1 : deadline - now_ms();
		if (deadline >= 0 && left <= 0) {
			e = ETIMEDOUT;
			break;
		}
		if ((s = connect_one(a, left)) < 0)
			e = errno;
	}
	freeaddrinfo(ai);
	if (s < 0)
		die("cannot connect to", e);
	int one = 1;
	setsockopt(s, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
	setsockopt(s, SOL_SOCKET, SO_KEEPALIVE, &one, sizeof one); /* as ssh's TCPKeepAlive yes */
	fcntl(s, F_SETFL, fcntl(s, F_GETFL) & ~O_NONBLOCK);

	static char buf[RELAY_BUF];
	struct pollfd p[2] = {{STDIN_FILENO, POLLIN, 0}, {s, POLLIN, 0}};
	for (;;) {
		if (poll(p, 2, -1) < 0) {
			if (errno == EINTR)
				continue;
			die("poll on the connection to", errno);
		}
		if (p[0].revents) {
			ssize_t n = read(STDIN_FILENO, buf, sizeof buf);
			if (n < 0 && (errno == EINTR || errno == EAGAIN))
				continue;
			if (n <= 0)
				return 0; /* ssh ended the session: nothing more to carry */
			if (put(s, buf, (size_t)n))
				die("cannot write to", errno);
		}
		if (p[1].revents) {
			ssize_t n = read(s, buf, sizeof buf);
			if (n < 0 && (errno == EINTR || errno == EAGAIN))
				continue;
			if (n < 0)
				die("cannot read from", errno);
			if (n == 0)
				return 0;
			/* acknowledge at once: the hop's next small segment waits for this */
			setsockopt(s, IPPROTO_TCP, TCP_QUICKACK, &one, sizeof one);
			if (put(STDOUT_FILENO, buf, (size_t)n))
				return 0; /* ssh is gone */
		}
	}
}
