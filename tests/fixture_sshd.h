/*
 * A test sshd: OpenSSH's own sshd on 127.0.0.1 and a free high port, with
 * host and client keys made in a temporary directory, for the sftp driver's
 * tests and anything stacked on it (bundle+sftp, benchmarks).
 *
 *   t_sshd s;
 *   char why[512];
 *   if (t_sshd_start(&s, why, sizeof why)) { printf("skipped: %s\n", why); return; }
 *   ... sftp://127.0.0.1:PORT/... with lv_context_load_config(ctx, s.config_path) ...
 *   t_sshd_stop(&s);
 *
 * Loopback only.  No system ssh service or config is touched.  When run as
 * root, a dedicated local user `lvtest` is made (once) for the password and
 * permission tests; its random password lives in /var/lib/lvtest/password
 * (mode 600) so parallel test runs agree on it.
 */
#ifndef LV_FIXTURE_SSHD_H
#define LV_FIXTURE_SSHD_H

#include <stddef.h>

typedef struct t_sshd {
	int port;
	int pid;                   /* the listening sshd */
	char dir[256];             /* temporary directory holding everything */
	char known_hosts[512];     /* "[127.0.0.1]:PORT KEY" for the host key */
	char client_key[512];      /* ed25519 private key, authorized for user and pw_user */
	char user[64];             /* the local user (the default user of sftp URIs) */
	char config_path[512];     /* licvault config: [driver "sftp"] known_hosts, identity_file, ... */
	char host_pub[512];        /* the host public key file */
	/* extensions */
	char host_key[512];        /* the host private key */
	char host_fp[128];         /* its fingerprint as OpenSSH prints it: "SHA256:..." */
	char wrong_key[512];       /* an ed25519 key the server does not accept */
	char authorized_keys[512];
	char sshd_config[512];
	char log[512];             /* sshd's stderr */
	char pw_user[64];          /* "lvtest" when available, else "" */
	char pw_file[512];         /* file holding pw_user's password */
	char pw_home[512];         /* pw_user's home directory */
	char data[512];            /* a directory inside dir, writable by user and pw_user */
	char subsystem[512];       /* the program serving `Subsystem sftp`, "" for internal-sftp */
	char subsystem_conf[512];  /* the file its one argument names (dir/subsystem.conf), for the test to write */
} t_sshd;

/* 0, or -1 with the reason (the caller skips, printing why). */
int t_sshd_start(t_sshd *s, char *why, size_t whylen);
/*
 * The same with `Subsystem sftp PROGRAM DIR/subsystem.conf`: PROGRAM serves
 * SFTP in place of internal-sftp (tests/sftpliar, a misbehaving server in
 * front of OpenSSH's sftp-server), and reads its configuration from the file
 * s->subsystem_conf names, which the test writes (and rewrites) at will.
 */
int t_sshd_start_subsystem(t_sshd *s, const char *program, char *why, size_t whylen);
/* Stop sshd and every session process it started, and wait for them. */
void t_sshd_stop(t_sshd *s);
/* SIGKILL sshd and its session processes at once (a crashed server). */
void t_sshd_kill(t_sshd *s);
/* Start sshd again after t_sshd_kill/t_sshd_stop: same port, keys and config. */
int t_sshd_restart(t_sshd *s, char *why, size_t whylen);
/* Send sig to the session processes only (not the listener): SIGSTOP freezes transfers. */
int t_sshd_signal_sessions(t_sshd *s, int sig);
/*
 * Write a licvault config at path: [driver "sftp"] with known_hosts and
 * timeout, then `extra` (lines such as "identity_file = ...\n"), verbatim.
 */
int t_sshd_write_config(const t_sshd *s, const char *path, const char *extra);
/* Write the fixture's known_hosts line for the host key into path (replacing it). */
int t_sshd_write_known_hosts(const t_sshd *s, const char *path);

/*
 * A target reachable only through a jump host (tests/test_sshcfg.c):
 *
 *   test --TCP--> 127.0.0.1:s.port, the jump host: a listener in the test's
 *                 network namespace; each connection is served by `sshd -i`
 *                 started INSIDE the target's namespace
 *        --ssh -W--> 127.0.0.2:22, the target: `sshd -D` in that namespace
 *
 * As root the fixture makes a network namespace with only a loopback
 * (unshare(CLONE_NEWNET)): the target listens there and the jump host's
 * sessions run there, so the target is reachable through the jump host and
 * from nowhere else (`isolated` = 1; the test's 127.0.0.2:22 is another
 * address space).  Without the right to make one, the target listens on
 * 127.0.0.2 and a free port in the test's own namespace, `isolated` is 0 and
 * tests skip the assertion that it cannot be reached directly.  The jump host
 * allows forwarding to the target only (PermitOpen).  Both use the host and
 * client keys of `s`; `s.data` is writable on the target (one filesystem).
 * One keeper process holds the listener and the namespace and starts every
 * sshd; t_jump_stop stops them all by PID (the keeper and its descendants)
 * and waits for them.  Every process of the fixture also dies with the test
 * process (PR_SET_PDEATHSIG).
 */
typedef struct t_jump {
	t_sshd s;                  /* keys and paths; s.port: the jump host's port; s.pid: the keeper */
	int isolated;
	char target_host[32];      /* "127.0.0.2" */
	int target_port;           /* 22 when isolated */
	char target_config[512];   /* the target's sshd_config */
	char jump_config[512];     /* the jump host's sshd_config (sshd -i) */
	char target_log[512];
	char jump_log[512];
	char known_hosts_both[512]; /* the host key for [127.0.0.1]:s.port and for the target */
} t_jump;

/* 0, or -1 with the reason (the caller skips, printing why). */
int t_jump_start(t_jump *j, char *why, size_t whylen);
void t_jump_stop(t_jump *j);

#endif
