/*
 * The sftp driver's private header: the instance and the SSH layer (ssh.c)
 * that sftp.c builds on.
 */
#ifndef LV_DRIVERS_SFTP_INT_H
#define LV_DRIVERS_SFTP_INT_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>
#include <libssh2.h>
#include <libssh2_sftp.h>

#include "licvault/driver.h"

#define SFTP_TICK_MS 100          /* poll() tick: cancellation is seen within this */
#define SFTP_CLEANUP_BUDGET 3     /* seconds a cleanup after a cancel or a broken link may take */

typedef struct sftp_inst sftp_inst;

struct sftp_inst {
	const lv_host *host;
	lv_host_ctx *h;
	unsigned flags;          /* LV_OPEN_* */

	/* from the URI */
	char *user;
	char *hostname;          /* decoded, without brackets */
	int port;
	int home_relative;       /* sftp://host/~/dir */
	char *dirspec;           /* absolute path, or relative to the home directory */
	char where[400];         /* "user@host:port" for messages */
	char hostpat[300];       /* "host" (port 22) or "[host]:port": known_hosts form */

	/* config */
	int timeout;             /* seconds: connect, and an operation without progress */
	int keepalive;           /* seconds, 0 = off */
	int retries;             /* connect retries */
	int accept_new;          /* strict_host_key_checking = accept-new */
	int use_agent;

	/* the connection */
	int sock;
	LIBSSH2_SESSION *s;
	LIBSSH2_SFTP *sftp;
	unsigned gen;            /* bumped at every (re)connect: handles of older sessions are gone */
	int ready;               /* handshake and auth done: keepalives may be sent */
	int broken;              /* the session cannot be used any more (lost, timed out, canceled mid-call) */
	char broken_why[300];
	int cleanup_mode;        /* in a cleanup: ignore the cancel flag, short deadline */
	int64_t cleanup_deadline; /* ms, monotonic */
	int quiet;               /* cleanups: do not overwrite the run's error message */
	int no_fsync;            /* the server has no fsync@openssh.com */
	char *password;          /* only while authenticating (keyboard-interactive callback) */

	/* the location */
	char *dir;               /* absolute remote directory, no trailing '/' */
	int dir_exists;

	/* open writers and readers, freed at close */
	struct lv_writer *writers;
	struct lv_reader *readers;
};

/* One libssh2 operation in non-blocking mode: deadline, step and path for messages. */
typedef struct sftp_op {
	sftp_inst *c;
	int64_t deadline;        /* ms, monotonic */
	const char *step;        /* "creating", "writing", ... */
	const char *path;        /* remote path or NULL */
	int err;                 /* the lv error when op_wait gave up */
} sftp_op;

void sftp_op_start(sftp_op *o, sftp_inst *c, const char *step, const char *path);
/* After EAGAIN: wait for the socket (one tick).  0 = call again; else o->err (described). */
int sftp_op_wait(sftp_op *o);
/* Progress was made: push the deadline back. */
void sftp_op_progress(sftp_op *o);
/* Describe a libssh2 failure rc (< 0) of the operation and return the lv code. */
int sftp_op_fail(sftp_op *o, int rc);
/* Text and lv code of an SFTP status. */
const char *sftp_fx_text(unsigned long st, int *code);
/* The usable-session check at the start of an operation: 0 or LV_E_IO/LV_E_CANCELED (described). */
int sftp_usable(sftp_inst *c, const char *step, const char *path);

/* Connect, check the host key, authenticate, start SFTP (with retries). */
int sftp_connect(sftp_inst *c);
/* Drop the session (politely when it is healthy). */
void sftp_disconnect(sftp_inst *c);
/*
 * For cleanups after a cancel or a lost connection: make sure a healthy session
 * exists, reconnecting once within SFTP_CLEANUP_BUDGET seconds. 0 or an lv code.
 */
int sftp_cleanup_session(sftp_inst *c);
void sftp_cleanup_end(sftp_inst *c);

/* Base64 (standard alphabet), with or without '=' padding; returns the length. */
size_t sftp_b64(char *out, size_t cap, const unsigned char *in, size_t n, int pad);
/* Read the first line of a (secret) file: malloc'd, or NULL with *err set. */
char *sftp_read_secret(const char *path, char *err, size_t errcap);
void sftp_free_secret(char *s);
/* Error reporting that respects c->quiet; returns code. */
int sftp_err(sftp_inst *c, int code, const char *fmt, ...) LV_PRINTF(3, 4);
int64_t sftp_now_ms(void);
int sftp_canceled(sftp_inst *c);

#endif
