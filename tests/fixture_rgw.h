/*
 * A test S3 server: Ceph's RADOS Gateway from Debian 12 (radosgw, ceph-mon,
 * ceph-osd) as a throwaway single-node cluster on 127.0.0.1, everything
 * under a temporary directory and configured by one ceph.conf passed with
 * -c (nothing in /etc/ceph or /var/lib/ceph, no systemd): one monitor, one
 * OSD on memstore (every stored byte in memory), auth none, pools of size 1,
 * the gateway's beast frontend on a plain port and a TLS port (a self-signed
 * certificate for 127.0.0.1 made with the openssl CLI).  Start it once per
 * suite (about 3 s); it is stopped by PID (gateway, OSD, monitor, in that
 * order), also when the test process dies (PR_SET_PDEATHSIG).
 *
 *   t_rgw g;
 *   char why[1024];
 *   if (t_rgw_start(&g, why, sizeof why)) { printf("skipped: %s\n", why); return; }
 *   ... s3://BUCKET/... with lv_context_load_config(ctx, g.config_path) ...
 *   t_rgw_stop(&g);
 *
 * The S3 user's secret is random, kept in a mode-600 file; tools the tests
 * run (the AWS CLI, boto3) get it through their environment, never argv.
 */
#ifndef LV_FIXTURE_RGW_H
#define LV_FIXTURE_RGW_H

#include <stddef.h>

typedef struct t_rgw {
	char dir[256];             /* temporary directory holding everything */
	char conf[512];            /* ceph.conf */
	int mon_port, port, tls_port;
	int mon_pid, osd_pid, rgw_pid;
	char endpoint[64];         /* http://127.0.0.1:PORT */
	char tls_endpoint[64];     /* https://127.0.0.1:TLS_PORT */
	char ca_file[512];         /* the gateway's self-signed certificate (PEM) */
	char key_file[512];        /* its private key */
	char access_key[32];
	char secret_key[48];
	char secret_file[512];     /* the secret, mode 600 */
	char config_path[512];     /* licvault config: [driver "s3"] endpoint, access_key_id, secret_access_key_file... */
	char rgw_log[512];         /* the gateway's log */
	int tls;                   /* the TLS port is served */
} t_rgw;

/* Start the cluster and the gateway: 0, or -1 with the reason (the caller skips, printing why). */
int t_rgw_start(t_rgw *g, char *why, size_t whylen);
/* Stop the gateway, the OSD and the monitor, in that order, and wait for them. */
void t_rgw_stop(t_rgw *g);
/* SIGKILL the gateway only (the cluster stays): a crashed server. */
void t_rgw_kill_gateway(t_rgw *g);
/* Start the gateway again (same ports, same cluster) after t_rgw_kill_gateway. */
int t_rgw_restart_gateway(t_rgw *g, char *why, size_t whylen);
/*
 * Write a licvault config at path: [driver "s3"] with the fixture's endpoint,
 * access_key_id, secret_access_key_file, timeout = 10, retries = 2, then
 * `extra` (lines), verbatim.  A key in extra replaces the fixture's.
 */
int t_rgw_write_config(const t_rgw *g, const char *path, const char *extra);
/* Run a shell command with the gateway's credentials and endpoint in its environment (AWS_*, LV_S3_ENDPOINT). */
int t_rgw_sh(const t_rgw *g, char **out, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* Make buckets (space-separated names) with boto3 under /usr/bin/python3: 0 or -1. */
int t_rgw_make_buckets(const t_rgw *g, const char *names);
/* radosgw-admin ARGS against the cluster: its exit status, output in *out. */
int t_rgw_admin(const t_rgw *g, char **out, const char *args);

/*
 * A TCP proxy on 127.0.0.1 in front of the gateway, for faults and counts:
 * the next `stall` connections are accepted and never answered, the next
 * `reset` connections are reset (RST) after `reset_after` request bytes, and
 * every connection's request bytes may be slowed to `rate` bytes/s.  It
 * counts connections, request bytes forwarded and the most connections
 * sending a request at once (parts in parallel).
 */
typedef struct t_proxy t_proxy;
t_proxy *t_proxy_start(int target_port);
void t_proxy_stop(t_proxy *p);
int t_proxy_port(const t_proxy *p);
void t_proxy_faults(t_proxy *p, int stall, int reset, long long reset_after);
void t_proxy_rate(t_proxy *p, long long bytes_per_s);
long long t_proxy_up_bytes(const t_proxy *p);
int t_proxy_connections(const t_proxy *p);
int t_proxy_max_busy(const t_proxy *p);
/* Stalled and reset connections so far. */
int t_proxy_stalled(const t_proxy *p);
int t_proxy_reset(const t_proxy *p);

/* ---- helpers of the s3 suites (test_s3.c, test_s3_slow.c), over the suite's gateway ---- */

#include <stdint.h>
#include <stdio.h>
#include "licvault/licvault.h"
#include "licvault/driver.h"
#include "testutil.h"

/* The suite's gateway (each suite starts its own). */
extern t_rgw s3t_rgw;
extern int s3t_up;
extern char s3t_why[1024];

#define S3T_NEED() T_NEED(s3t_up, s3t_why)

/* A config in the fixture dir: the gateway's keys, then the extra lines. Static path (8 in rotation). */
char *s3t_config(const char *name, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* The path of a 10,000-license store made by licvault-gen (made once), or NULL. */
const char *s3t_store10k(void);
/* The names listed at uri, "a;b;" (4096 bytes). */
int s3t_list(lv_context *ctx, const char *uri, char names[4096]);
/* Multipart uploads under way in a bucket, as boto3 lists them (-1 on error). */
int s3t_uploads(const char *bucket);
/* Write an object of size bytes through the location; read one back. */
int s3t_put(struct lv_location *l, const char *name, uint64_t size, unsigned flags, unsigned long *crc);
long long s3t_get(struct lv_location *l, const char *name, unsigned long *crc);

#endif
