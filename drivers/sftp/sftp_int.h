/*
 * The sftp driver's private header.
 *
 *   sftp.c      the driver's operations (objects: write, commit, read, list...)
 *   settings.c  the URI, licvault's keys (read in ONE function), and the
 *               precedence that gives the effective settings
 *   ssh.c       the SSH session: transport, handshake, authentication, SFTP start
 *   auth.c      authentication, a table of methods
 *   hostkeys.c  known_hosts: check, accept-new (hashed when HashKnownHosts)
 *   op.c        one non-blocking libssh2 operation: the wait loop, its errors
 *   proc.c      the proxy (ProxyJump, ProxyCommand): its command, the relay
 *   sshconfig.c OpenSSH's client configuration, asked of `ssh -G`
 *   child.c     child processes (`ssh -G`, the proxy): spawn, watch, stop, reap
 *   util.c      the clock, the host's error and log calls, base64, secrets
 *
 * Each file calls only the files below it in this list (sftp.c and
 * settings.c the rest as they need).
 *
 * Private names start with sftp_ (never lv_).
 */
#ifndef LV_DRIVERS_SFTP_INT_H
#define LV_DRIVERS_SFTP_INT_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>
#include <libssh2.h>
#include <libssh2_sftp.h>

#include "licvault/driver.h"

#define SFTP_TICK_MS 100          /* poll() tick: cancellation is seen within this */
#define SFTP_CLEANUP_BUDGET 3     /* seconds a cleanup after a cancel or a broken link may take */
#define SFTP_MAX_LIST 16          /* identity files, known_hosts files: at most this many each */

typedef struct sftp_inst sftp_inst;
typedef struct sftp_sshcfg sftp_sshcfg;   /* what `ssh -G` said (sshconfig.c) */

/* Where an effective setting came from (shown by -vv). */
typedef enum sftp_src {
	SFTP_SRC_DEFAULT = 0,     /* licvault's default */
	SFTP_SRC_URI,
	SFTP_SRC_KEY,             /* a key set in the location's section or [driver "sftp"] */
	SFTP_SRC_SSH_CONFIG       /* set by OpenSSH's client configuration */
} sftp_src;

/*
 * licvault's own keys, as SET in the location's section or [driver "sftp"]
 * (host->config_value, whose `set` tells a value from the declared default).
 * NULL or -1: not set.  Strings stay valid until the instance is closed (the
 * ABI's rule).
 */
typedef struct sftp_keys {
	const char *user;
	const char *known_hosts;
	int accept_new;                          /* strict_host_key_checking: 0 yes, 1 accept-new (the enum's index) */
	int use_agent;
	const char *identity[SFTP_MAX_LIST + 1]; /* NULL-terminated; identity[0] == NULL: not set */
	const char *identity_passphrase_file;
	const char *password_file;
	int timeout;
	int keepalive;
	int retries;
	int ssh_config;                          /* 0 no, 1 yes (ssh_config_file NULL) or FILE */
	const char *ssh_config_file;
	const char *ssh_command;
} sftp_keys;

/* A child process with pipes (child.c). */
typedef struct sftp_child {
	pid_t pid;               /* 0: none (or reaped) */
	int out_fd;              /* its stdout, when we read it; else -1 */
	int err_fd;              /* its stderr; -1 when closed */
	int status;              /* wait status once reaped */
	int reaped;
	char err[1024];          /* the tail of what it wrote to stderr */
	size_t err_len;
} sftp_child;

struct sftp_inst {
	const lv_host *host;
	lv_host_ctx *h;
	unsigned flags;          /* LV_OPEN_* */
	sftp_keys keys;          /* licvault's keys as set (settings.c: sftp_read_keys) */

	/* from the URI */
	char *uri_user;          /* NULL when the URI names none */
	char *uri_host;          /* decoded, without brackets: an address, a name, or a Host alias */
	int uri_port;            /* 0: not in the URI */
	int ip6;                 /* the URI's host is an IP literal in brackets */
	int home_relative;       /* sftp://host/~/dir */
	char *dirspec;           /* absolute path, or relative to the home directory */

	/* the effective settings (settings.c: sftp_resolve) */
	char *user;
	char *hostname;          /* what is connected to (ssh_config's HostName, else the URI's host) */
	int port;
	char where[400];         /* "user@host:port (alias, via ...)" for messages */
	char hostpat[300];       /* "host" (port 22) or "[host]:port": known_hosts form (HostKeyAlias too) */
	char *identity[SFTP_MAX_LIST + 1];
	sftp_src identity_src;
	int identities_only;     /* IdentitiesOnly yes: agent keys only when they match an identity file */
	int use_agent;
	char *agent_path;        /* IdentityAgent path; NULL: $SSH_AUTH_SOCK */
	char *kh_user[SFTP_MAX_LIST + 1];   /* known_hosts files read; accept-new writes to the first */
	char *kh_global[SFTP_MAX_LIST + 1]; /* read only */
	int accept_new;
	int hash_known_hosts;    /* write accept-new entries hashed (|1|salt|hash) */
	int timeout;             /* seconds: an operation without progress */
	int connect_timeout;     /* seconds: connect and handshake */
	int keepalive;           /* seconds, 0 = off */
	int retries;             /* connect retries */
	char *proxy_jump;        /* ProxyJump as ssh_config gives it, or NULL */
	char *proxy_command;     /* ProxyCommand with its %-tokens expanded, or NULL */
	char *ssh_cmd;           /* the ssh program (ssh_command), or NULL when it cannot be run */
	char cfg_note[400];      /* why OpenSSH's Host entries were not read, or "" */
	int cfg_hostname;        /* ssh_config gave a HostName */

	/* the connection */
	int sock;                /* a TCP socket, or our end of the proxy's socketpair */
	sftp_child proxy;        /* the proxy process, when there is one */
	LIBSSH2_SESSION *s;
	LIBSSH2_SFTP *sftp;
	unsigned gen;            /* bumped at every (re)connect: handles of older sessions are gone */
	int ready;               /* handshake and auth done: keepalives may be sent */
	int broken;              /* the session cannot be used any more (lost, timed out, canceled mid-call) */
	char broken_why[600];
	int cleanup_mode;        /* in a cleanup: ignore the cancel flag, short deadline */
	int64_t cleanup_deadline; /* ms, monotonic */
	int no_fsync;            /* the server has no fsync@openssh.com */
	char *password;          /* only while authenticating (keyboard-interactive callback) */

	/* the location */
	char *dir;               /* absolute remote directory, no trailing '/' */
	int dir_exists;
	/* open writers and readers are tracked by the host (host->track), which releases them before close */
};

/* ---- settings.c --------------------------------------------------------- */

/* Read every key of the driver's section into c->keys: the one place config is read. */
int sftp_read_keys(sftp_inst *c);
/* Parse an sftp:// URI into c->uri_*, c->dirspec. */
int sftp_parse_uri(sftp_inst *c, const char *uri);
/* The effective settings: the URI, then licvault's keys, then ssh_config, then defaults. */
int sftp_resolve(sftp_inst *c);
void sftp_settings_free(sftp_inst *c);

/* ---- sshconfig.c -------------------------------------------------------- */

/*
 * Ask `ssh -G` about the URI's host (twice at once: with the user's
 * configuration and with -F /dev/null, OpenSSH's defaults).  0 and *out, or
 * an lv code (described); *out == NULL without error when ssh cannot be run
 * and the documented fallback applies (c->cfg_note says so).
 */
int sftp_sshcfg_query(sftp_inst *c, sftp_sshcfg **out);
/* The same about a ProxyJump hop (user, port: NULL when the hop names none). */
int sftp_sshcfg_query_hop(sftp_inst *c, const char *host, const char *user, const char *port, sftp_sshcfg **out);
/* The i-th value of a keyword (lower case) when the user's configuration SET it, else NULL. */
const char *sftp_sshcfg_set(const sftp_sshcfg *g, const char *key, unsigned i);
/* The i-th value of a keyword, set or OpenSSH's default. */
const char *sftp_sshcfg_any(const sftp_sshcfg *g, const char *key, unsigned i);
void sftp_sshcfg_free(sftp_sshcfg *g);
/*
 * Expand a leading ~ and OpenSSH's %-tokens (%% %h %p %r %n %u %d %l %i %k)
 * for c.  malloc'd, or NULL with *bad set to the offending token (0: out of memory).
 */
char *sftp_expand_tokens(sftp_inst *c, const char *in, int *bad);

/* ---- child.c ------------------------------------------------------------ */

/*
 * Start argv (argv[0] absolute, or searched in PATH when search) in a
 * process group of its own, without a shell.  io_fd >= 0: its stdin and
 * stdout; else stdin is /dev/null and stdout a pipe (ch->out_fd).  stderr is
 * always a pipe (ch->err_fd).  0, or an errno value (nothing started).
 */
int sftp_spawn(sftp_child *ch, char *const argv[], int search, int io_fd);
/* Read what is there on the child's stderr (non-blocking): keep the tail, log lines at debug. */
void sftp_child_drain(sftp_inst *c, sftp_child *ch, const char *tag);
/* Reap the child if it has ended (non-blocking): 1 when it has. */
int sftp_child_ended(sftp_child *ch);
/* Stop the child's process group (TERM, then KILL after 1 s) and reap it.  No-op without one. */
void sftp_child_stop(sftp_child *ch);
/* "exited with status 255", "killed by signal 9" */
void sftp_child_status_text(const sftp_child *ch, char *buf, size_t cap);

/* ---- proc.c ------------------------------------------------------------- */

/* Start the proxy (ProxyJump or ProxyCommand) on a socketpair: 0 and c->sock set, or an lv code. */
int sftp_proxy_start(sftp_inst *c);
/* Stop and reap the proxy. */
void sftp_proxy_stop(sftp_inst *c);
/* A sentence about the proxy for error messages ("" when there is none): its state and stderr. */
void sftp_proxy_explain(sftp_inst *c, char *buf, size_t cap);

/* ---- op.c --------------------------------------------------------------- */

/* One libssh2 operation in non-blocking mode: deadline, step and path for messages. */
typedef struct sftp_op {
	sftp_inst *c;
	int64_t deadline;        /* ms, monotonic */
	int limit;               /* seconds the deadline stands for (messages) */
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

/* ---- ssh.c -------------------------------------------------------------- */

/* Connect, check the host key, authenticate, start SFTP (with retries). */
int sftp_connect(sftp_inst *c);
/* Drop the session (politely when it is healthy) and stop the proxy. */
void sftp_disconnect(sftp_inst *c);
/*
 * For cleanups after a cancel or a lost connection: make sure a healthy session
 * exists, reconnecting once within SFTP_CLEANUP_BUDGET seconds. 0 or an lv code.
 */
int sftp_cleanup_session(sftp_inst *c);
void sftp_cleanup_end(sftp_inst *c);

/* ---- util.c ------------------------------------------------------------- */

/* The session cannot be used again (why: for messages); the first reason stays. */
void sftp_mark_broken(sftp_inst *c, const char *why);
/* Base64 (libcrypto's EVP_EncodeBlock), with or without '=' padding; returns the length. */
size_t sftp_b64(char *out, size_t cap, const unsigned char *in, size_t n, int pad);
/* Decode base64 (libcrypto): the byte count, or -1. */
long sftp_unb64(unsigned char *out, size_t cap, const char *in);
/* Read the first line of a (secret) file: malloc'd, or NULL with *err set. */
char *sftp_read_secret(const char *path, char *err, size_t errcap);
void sftp_free_secret(char *s);
/* Describe an error (host->set_error: the run's first error wins); returns code. */
#define sftp_err(c, code, ...) ((c)->host->set_error((c)->h, (code), __VA_ARGS__))
/* Take back what is described while handling a failure ourselves (host->error_save/error_restore). */
int sftp_err_save(sftp_inst *c);
void sftp_err_restore(sftp_inst *c, int saved);
void sftp_debug(sftp_inst *c, const char *fmt, ...) LV_PRINTF(2, 3);
int64_t sftp_now_ms(void);
int sftp_canceled(sftp_inst *c);

/* ---- hostkeys.c --------------------------------------------------------- */

typedef struct sftp_kh sftp_kh;
/* Load every known_hosts file (c->kh_user, c->kh_global). */
int sftp_kh_load(sftp_inst *c, sftp_kh **out);
void sftp_kh_free(sftp_kh *k);
/* Before the handshake: prefer the host key types known_hosts has for the host. */
void sftp_kh_prefer(sftp_inst *c, sftp_kh *k);
/* After the handshake: check the server's key (accept-new may add it). */
int sftp_kh_check(sftp_inst *c, sftp_kh *k);

/* ---- auth.c ------------------------------------------------------------- */

int sftp_authenticate(sftp_inst *c);

#endif
