/*
 * sftpliar: a test-only SFTP subsystem that misbehaves on purpose.  It sits
 * between sshd and OpenSSH's own sftp-server, reads the SFTP packets both
 * ways (uint32 length, byte type, uint32 id, ...) and, as its configuration
 * file says, drops the connection at a chosen request, acknowledges writes
 * without storing them, stores only the first bytes of a file, or lies
 * about a file's size.  Everything else is passed through unchanged.
 *
 *   sshd_config:  Subsystem sftp /path/to/sftpliar /path/to/liar.conf
 *
 * The file is read when a session starts (so a test rewrites it between
 * runs); one directive a line, '#' starts a comment:
 *
 *   server PATH      the real server (default /usr/lib/openssh/sftp-server)
 *   log PATH         append "session PID" at start, then "SEQ TYPE PATH[ PATH2]"
 *                    for every request and "drop SEQ" when dropping
 *   type NAME        filter: requests of this type (open, close, read, write,
 *                    lstat, fstat, setstat, fsetstat, opendir, readdir, remove,
 *                    mkdir, rmdir, realpath, stat, rename, readlink, symlink,
 *                    extended, or an extension's name: fsync@openssh.com ...)
 *   match STR        filter: requests on a path (or a handle of a file) whose
 *                    path contains STR
 *   drop K           drop the connection at the K-th request that passes the
 *                    filters, counted from 1 in each session (every request
 *                    counts when there is no filter)
 *   when before|after  before (default): the request never reaches the server;
 *                    after: the server carries it out, its answer is withheld
 *   once PATH        drop only while PATH does not exist; create it on dropping
 *   refuse-after-drop  while the `once` file exists, end every new connection at
 *                    once (a server that stays unreachable after the drop)
 *   truncate N       writes to matching files: the server stores only their
 *                    first N bytes; the wrapper acknowledges the rest itself
 *   ack-writes       the same as truncate 0: every write acknowledged, none stored
 *   lie-fstat        fstat of a matching file's handle answers the size the
 *                    client wrote, not what the server holds
 *
 * Dropping closes both pipes to the server, waits for it to end, and exits
 * without sending anything more: the client sees the channel close.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define MAX_PACKET (1u << 20)
#define MAX_HANDLES 256

enum { FXP_INIT = 1, FXP_OPEN = 3, FXP_CLOSE = 4, FXP_WRITE = 6, FXP_FSTAT = 8, FXP_OPENDIR = 11,
       FXP_RENAME = 18, FXP_SYMLINK = 20, FXP_STATUS = 101, FXP_HANDLE = 102, FXP_ATTRS = 105,
       FXP_EXTENDED = 200 };

static const char *const type_names[] = {
	[1] = "init", [3] = "open", [4] = "close", [5] = "read", [6] = "write", [7] = "lstat", [8] = "fstat",
	[9] = "setstat", [10] = "fsetstat", [11] = "opendir", [12] = "readdir", [13] = "remove", [14] = "mkdir",
	[15] = "rmdir", [16] = "realpath", [17] = "stat", [18] = "rename", [19] = "readlink", [20] = "symlink",
};

typedef struct conf {
	char server[512], log[512], type[64], match[512], once[512];
	long drop;             /* 0: never */
	int after;
	int refuse;
	long long truncate;    /* -1: off */
	int lie_fstat;
} conf;

typedef struct handle {
	char h[256];
	size_t hlen;
	char path[1024];
	uint64_t sent;         /* the highest offset + length the client wrote */
} handle;

typedef struct buf {
	unsigned char *p;
	size_t len, cap;
} buf;

static conf cf = {.server = "/usr/lib/openssh/sftp-server", .truncate = -1};
static handle handles[MAX_HANDLES];
static struct { uint32_t id; char path[1024]; int used; } opening[64]; /* OPEN/OPENDIR awaiting a HANDLE */
static FILE *logfile;
static long seq, passed;
static uint32_t withheld_id;
static int withholding;
static pid_t child;
static int to_srv = -1, from_srv = -1;

static void die(const char *what)
{
	fprintf(stderr, "sftpliar: %s: %s\n", what, strerror(errno));
	exit(2);
}

/* ---- configuration ----------------------------------------------------------- */

static void read_conf(const char *path)
{
	FILE *f = fopen(path, "re");
	if (!f)
		return; /* no file: a plain relay */
	char line[1200], key[64], val[1024];
	while (fgets(line, sizeof line, f)) {
		line[strcspn(line, "#\r\n")] = '\0';
		val[0] = '\0';
		if (sscanf(line, "%63s %1023[^\n]", key, val) < 1)
			continue;
		if (!strcmp(key, "server")) snprintf(cf.server, sizeof cf.server, "%s", val);
		else if (!strcmp(key, "log")) snprintf(cf.log, sizeof cf.log, "%s", val);
		else if (!strcmp(key, "type")) snprintf(cf.type, sizeof cf.type, "%s", val);
		else if (!strcmp(key, "match")) snprintf(cf.match, sizeof cf.match, "%s", val);
		else if (!strcmp(key, "once")) snprintf(cf.once, sizeof cf.once, "%s", val);
		else if (!strcmp(key, "drop")) cf.drop = atol(val);
		else if (!strcmp(key, "when")) cf.after = !strcmp(val, "after");
		else if (!strcmp(key, "refuse-after-drop")) cf.refuse = 1;
		else if (!strcmp(key, "truncate")) cf.truncate = atoll(val);
		else if (!strcmp(key, "ack-writes")) cf.truncate = 0;
		else if (!strcmp(key, "lie-fstat")) cf.lie_fstat = 1;
		else {
			fprintf(stderr, "sftpliar: %s: unknown directive '%s'\n", path, key);
			exit(2);
		}
	}
	fclose(f);
}

/* ---- packets ------------------------------------------------------------------- */

static uint32_t get32(const unsigned char *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}
static uint64_t get64(const unsigned char *p) { return (uint64_t)get32(p) << 32 | get32(p + 4); }
static void put32(unsigned char *p, uint32_t v)
{
	p[0] = (unsigned char)(v >> 24);
	p[1] = (unsigned char)(v >> 16);
	p[2] = (unsigned char)(v >> 8);
	p[3] = (unsigned char)v;
}
static void put64(unsigned char *p, uint64_t v) { put32(p, (uint32_t)(v >> 32)); put32(p + 4, (uint32_t)v); }

/* An SFTP string at *off within [p, p+n): its bytes and length, or NULL. */
static const unsigned char *get_str(const unsigned char *p, size_t n, size_t *off, size_t *len)
{
	if (*off + 4 > n || get32(p + *off) > n - *off - 4)
		return NULL;
	*len = get32(p + *off);
	const unsigned char *s = p + *off + 4;
	*off += 4 + *len;
	return s;
}

static void put_buf(buf *b, const void *d, size_t n)
{
	if (b->len + n > b->cap) {
		b->cap = (b->len + n) * 2;
		if (!(b->p = realloc(b->p, b->cap)))
			die("realloc");
	}
	memcpy(b->p + b->len, d, n);
	b->len += n;
}

static handle *find_handle(const unsigned char *h, size_t n)
{
	for (int i = 0; i < MAX_HANDLES; i++)
		if (handles[i].hlen == n && !memcmp(handles[i].h, h, n))
			return &handles[i];
	return NULL;
}

/* What a request is about: its type name and its path(s) (a handle's file). */
typedef struct req {
	int type;
	uint32_t id;
	char name[64];
	char path[1024], path2[1024];
	handle *h;
	size_t after_handle;    /* offset just past the handle string */
} req;

static void copy_str(char *out, size_t cap, const unsigned char *s, size_t n)
{
	snprintf(out, cap, "%.*s", (int)(n < cap ? n : cap - 1), (const char *)s);
}

static void parse_request(const unsigned char *p, size_t n, req *r)
{
	memset(r, 0, sizeof *r);
	r->type = p[0];
	r->id = n >= 5 ? get32(p + 1) : 0;
	snprintf(r->name, sizeof r->name, "%s",
	         r->type < (int)(sizeof type_names / sizeof *type_names) && type_names[r->type] ? type_names[r->type]
	         : r->type == FXP_EXTENDED                                                       ? "extended"
	                                                                                        : "unknown");
	size_t off = 5, len = 0;
	const unsigned char *s = get_str(p, n, &off, &len);
	if (!s)
		return;
	if (r->type == FXP_EXTENDED) {
		copy_str(r->name, sizeof r->name, s, len);
		if (!(s = get_str(p, n, &off, &len)))
			return;
	}
	int by_handle = r->type == 4 || r->type == 5 || r->type == 6 || r->type == 8 || r->type == 10 ||
	                r->type == 12 || !strcmp(r->name, "fsync@openssh.com");
	if (by_handle) {
		r->h = find_handle(s, len);
		r->after_handle = off;
		if (r->h)
			snprintf(r->path, sizeof r->path, "%s", r->h->path);
		return;
	}
	copy_str(r->path, sizeof r->path, s, len);
	if ((r->type == FXP_RENAME || r->type == FXP_SYMLINK || strstr(r->name, "rename@") || strstr(r->name, "hardlink@")) &&
	    (s = get_str(p, n, &off, &len)))
		copy_str(r->path2, sizeof r->path2, s, len);
}

static int matches(const req *r)
{
	return !cf.match[0] || strstr(r->path, cf.match) || (r->path2[0] && strstr(r->path2, cf.match));
}

static int passes(const req *r)
{
	int type_ok = !cf.type[0] || !strcmp(cf.type, r->name) || (!strcmp(cf.type, "extended") && r->type == FXP_EXTENDED);
	return type_ok && matches(r);
}

/* ---- acting ------------------------------------------------------------------------ */

static void drop(void)
{
	if (logfile)
		fprintf(logfile, "drop %ld\n", seq), fflush(logfile);
	if (cf.once[0]) {
		int fd = open(cf.once, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
		if (fd >= 0)
			close(fd);
	}
	close(to_srv);
	close(from_srv); /* a server blocked writing to us sees EPIPE */
	waitpid(child, NULL, 0);
	_exit(0);
}

static void reply_status_ok(buf *to_cli, uint32_t id)
{
	unsigned char m[28];
	put32(m, 24);
	m[4] = FXP_STATUS;
	put32(m + 5, id);
	put32(m + 9, 0);                /* SSH_FX_OK */
	put32(m + 13, 7);
	memcpy(m + 17, "Success", 7);
	put32(m + 24, 0);               /* language tag */
	put_buf(to_cli, m, sizeof m);
}

static void reply_attrs_size(buf *to_cli, uint32_t id, uint64_t size)
{
	unsigned char m[21];
	put32(m, 17);
	m[4] = FXP_ATTRS;
	put32(m + 5, id);
	put32(m + 9, 0x1);              /* SSH_FILEXFER_ATTR_SIZE */
	put64(m + 13, size);
	put_buf(to_cli, m, sizeof m);
}

/* A write to a matching file under `truncate`: the part below the limit goes on, the rest is acknowledged here. */
static void write_truncated(const unsigned char *p, size_t n, const req *r, buf *to_srv_b, buf *to_cli)
{
	size_t off = r->after_handle, len = 0;
	if (off + 8 > n) {
		put_buf(to_srv_b, p - 4, n + 4);
		return;
	}
	uint64_t at = get64(p + off);
	off += 8;
	if (!get_str(p, n, &off, &len)) {
		put_buf(to_srv_b, p - 4, n + 4);
		return;
	}
	uint64_t limit = (uint64_t)cf.truncate;
	if (at >= limit) {
		reply_status_ok(to_cli, r->id);
		return;
	}
	if (at + len <= limit) {
		put_buf(to_srv_b, p - 4, n + 4);
		return;
	}
	uint32_t keep = (uint32_t)(limit - at);
	size_t data_at = r->after_handle + 8; /* the data's length field */
	unsigned char hdr[4];
	put32(hdr, (uint32_t)(data_at + 4 + keep));
	put_buf(to_srv_b, hdr, 4);
	size_t start = to_srv_b->len;
	put_buf(to_srv_b, p, data_at + 4 + keep);
	put32(to_srv_b->p + start + data_at, keep);
}

/* One request from the client (p: type onwards, n bytes). */
static void from_client(const unsigned char *p, size_t n, buf *to_srv_b, buf *to_cli)
{
	if (p[0] == FXP_INIT) {
		put_buf(to_srv_b, p - 4, n + 4);
		return;
	}
	req r;
	parse_request(p, n, &r);
	seq++;
	if (logfile)
		fprintf(logfile, "%ld %s %s%s%s\n", seq, r.name, r.path, r.path2[0] ? " " : "", r.path2), fflush(logfile);
	int fire = cf.drop > 0 && passes(&r) && ++passed == cf.drop && !(cf.once[0] && access(cf.once, F_OK) == 0);
	if (fire && !cf.after)
		drop();
	if (fire) {
		withholding = 1;
		withheld_id = r.id;
	}
	if ((r.type == FXP_OPEN || r.type == FXP_OPENDIR)) {
		for (int i = 0; i < 64; i++)
			if (!opening[i].used) {
				opening[i].used = 1;
				opening[i].id = r.id;
				snprintf(opening[i].path, sizeof opening[i].path, "%s", r.path);
				break;
			}
	}
	if (r.h && r.type == FXP_WRITE && r.after_handle + 12 <= n) {
		uint64_t end = get64(p + r.after_handle) + get32(p + r.after_handle + 8);
		if (end > r.h->sent)
			r.h->sent = end;
	}
	if (r.h && r.type == FXP_WRITE && cf.truncate >= 0 && matches(&r))
		write_truncated(p, n, &r, to_srv_b, to_cli);
	else if (r.h && r.type == FXP_FSTAT && cf.lie_fstat && matches(&r))
		reply_attrs_size(to_cli, r.id, r.h->sent);
	else
		put_buf(to_srv_b, p - 4, n + 4);
	if (r.h && r.type == FXP_CLOSE)
		r.h->hlen = 0;
}

/* One answer from the server: note new handles; withhold the answer to the dropped request. */
static void from_server(const unsigned char *p, size_t n, buf *to_cli)
{
	uint32_t id = n >= 5 ? get32(p + 1) : 0;
	if (withholding && p[0] != 2 && id == withheld_id)
		drop();
	if (p[0] == FXP_HANDLE || p[0] == FXP_STATUS)
		for (int i = 0; i < 64; i++)
			if (opening[i].used && opening[i].id == id) {
				opening[i].used = 0;
				size_t off = 5, len = 0;
				const unsigned char *h = p[0] == FXP_HANDLE ? get_str(p, n, &off, &len) : NULL;
				for (int k = 0; h && len <= sizeof handles[k].h && k < MAX_HANDLES; k++)
					if (!handles[k].hlen) {
						memcpy(handles[k].h, h, len);
						handles[k].hlen = len;
						handles[k].sent = 0;
						snprintf(handles[k].path, sizeof handles[k].path, "%s", opening[i].path);
						break;
					}
			}
	put_buf(to_cli, p - 4, n + 4);
}

/* Take the complete packets off the front of in, passing each to fn. */
static void packets(buf *in, void (*fn)(const unsigned char *, size_t, void *), void *ud)
{
	size_t at = 0;
	while (in->len - at >= 4) {
		uint32_t n = get32(in->p + at);
		if (n < 1 || n > MAX_PACKET) {
			fprintf(stderr, "sftpliar: a packet of %u bytes: not SFTP\n", n);
			exit(2);
		}
		if (in->len - at - 4 < n)
			break;
		fn(in->p + at + 4, n, ud);
		at += 4 + n;
	}
	memmove(in->p, in->p + at, in->len - at);
	in->len -= at;
}

/* ---- the relay --------------------------------------------------------------------------- */

typedef struct relay {
	buf cin, sin;          /* read from the client, from the server */
	buf to_cli, to_srv;
} relay;

static void cli_packet(const unsigned char *p, size_t n, void *ud)
{
	relay *r = ud;
	from_client(p, n, &r->to_srv, &r->to_cli);
}

static void srv_packet(const unsigned char *p, size_t n, void *ud)
{
	relay *r = ud;
	from_server(p, n, &r->to_cli);
}

static void start_server(void)
{
	int a[2], b[2];
	if (pipe2(a, O_CLOEXEC) || pipe2(b, O_CLOEXEC))
		die("pipe");
	child = fork();
	if (child < 0)
		die("fork");
	if (child == 0) {
		dup2(a[0], 0);
		dup2(b[1], 1);
		execl(cf.server, cf.server, (char *)NULL);
		_exit(127);
	}
	close(a[0]);
	close(b[1]);
	to_srv = a[1];
	from_srv = b[0];
}

/* Read what fd has into b: 0 at the end of input. */
static int fill(int fd, buf *b)
{
	unsigned char tmp[65536];
	ssize_t k = read(fd, tmp, sizeof tmp);
	if (k < 0 && (errno == EINTR || errno == EAGAIN))
		return 1;
	if (k <= 0)
		return 0;
	put_buf(b, tmp, (size_t)k);
	return 1;
}

static void flush(int fd, buf *b)
{
	ssize_t k = write(fd, b->p, b->len);
	if (k < 0 && errno != EAGAIN && errno != EINTR)
		exit(0); /* the other side is gone */
	if (k > 0) {
		memmove(b->p, b->p + k, b->len - (size_t)k);
		b->len -= (size_t)k;
	}
}

/*
 * refuse-after-drop: end the whole SSH connection (the sshd process that
 * serves it is the nearest sshd above us), so the client fails at once, as
 * with a server that cannot be reached.  An SFTP subsystem that merely
 * exits at its start leaves libssh2 1.10 waiting in libssh2_sftp_init.
 */
static void hang_up(void) __attribute__((noreturn));
static void hang_up(void)
{
	if (logfile)
		fprintf(logfile, "refused\n"), fflush(logfile);
	pid_t p = getppid();
	for (int depth = 0; depth < 4 && p > 1; depth++) {
		char path[64], comm[64] = "", stat[512] = "";
		snprintf(path, sizeof path, "/proc/%ld/comm", (long)p);
		FILE *f = fopen(path, "re");
		if (f && fgets(comm, sizeof comm, f) && !strncmp(comm, "sshd", 4)) {
			fclose(f);
			kill(p, SIGKILL);
			_exit(1);
		}
		if (f)
			fclose(f);
		snprintf(path, sizeof path, "/proc/%ld/stat", (long)p);
		f = fopen(path, "re");
		char *rp = f && fgets(stat, sizeof stat, f) ? strrchr(stat, ')') : NULL;
		if (f)
			fclose(f);
		long pp = 0;
		char st;
		p = rp && sscanf(rp + 1, " %c %ld", &st, &pp) == 2 ? (pid_t)pp : 0;
	}
	_exit(1);
}

int main(int argc, char **argv)
{
	signal(SIGPIPE, SIG_IGN);
	if (argc > 1)
		read_conf(argv[1]);
	if (cf.log[0] && (logfile = fopen(cf.log, "ae")))
		fprintf(logfile, "session %ld\n", (long)getpid()), fflush(logfile);
	if (cf.refuse && cf.once[0] && access(cf.once, F_OK) == 0)
		hang_up();
	start_server();
	for (int fd = 0; fd < 2; fd++)
		fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
	fcntl(to_srv, F_SETFL, O_NONBLOCK);
	fcntl(from_srv, F_SETFL, O_NONBLOCK);
	relay r = {0};
	int cli_open = 1;
	for (;;) {
		struct pollfd pf[4] = {{cli_open ? 0 : -1, POLLIN, 0}, {from_srv, POLLIN, 0},
		                       {r.to_cli.len ? 1 : -1, POLLOUT, 0}, {r.to_srv.len ? to_srv : -1, POLLOUT, 0}};
		if (poll(pf, 4, -1) < 0 && errno != EINTR)
			die("poll");
		if (pf[0].revents && !fill(0, &r.cin))
			cli_open = 0;
		packets(&r.cin, cli_packet, &r);
		if (pf[1].revents && !fill(from_srv, &r.sin)) {
			while (r.to_cli.len)
				flush(1, &r.to_cli), poll(&(struct pollfd){1, POLLOUT, 0}, 1, 1000);
			break;
		}
		packets(&r.sin, srv_packet, &r);
		if (r.to_cli.len)
			flush(1, &r.to_cli);
		if (r.to_srv.len)
			flush(to_srv, &r.to_srv);
		if (!cli_open && !r.to_srv.len && to_srv >= 0) {
			close(to_srv); /* the client is done: the server ends when it has answered */
			to_srv = -1;
		}
	}
	waitpid(child, NULL, 0);
	return 0;
}
