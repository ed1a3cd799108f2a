/*
 * A lying S3 server for the tests: tests/s3liar/s3liar.py under
 * /usr/bin/python3, on 127.0.0.1, from memory, started once per suite and
 * stopped by PID (it dies with the test process too).  It serves enough of
 * S3 for the s3 driver, honestly, until t_s3liar_mode tells it to lie (the
 * modes are listed at the top of s3liar.py).  Every request is logged, one
 * line each: "METHOD PATH?QUERY auth=0|1 conn=CLIENTPORT".
 *
 *   t_s3liar x;
 *   if (t_s3liar_start(&x, why, sizeof why)) { skip }
 *   t_s3liar_mode(&x, "list same-token\n");
 *   ... s3://BUCKET/... with t_s3liar_config(&x, "name", "extra = lines\n") ...
 *   t_s3liar_stop(&x);
 */
#ifndef LV_FIXTURE_S3LIAR_H
#define LV_FIXTURE_S3LIAR_H

#include <stddef.h>

typedef struct t_s3liar {
	char *dir;                 /* the server's directory: port, mode, log, the secret, configs */
	int pid;
	int port;
	char endpoint[64];         /* http://127.0.0.1:PORT */
} t_s3liar;

/* 0, or -1 with the reason (the caller skips, printing it). */
int t_s3liar_start(t_s3liar *x, char *why, size_t whylen);
/* Stop the server (SIGTERM, then SIGKILL) and wait for it. */
void t_s3liar_stop(t_s3liar *x);
/* Replace the server's mode ("" is honest) and empty its request log. */
void t_s3liar_mode(t_s3liar *x, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Write a file in the server's directory; its path (static, 4 in rotation). */
const char *t_s3liar_file(t_s3liar *x, const char *name, const void *data, size_t len);
/* A licvault config for the server: endpoint, keys, timeout = 5, retries = 2, then extra; its path (static). */
const char *t_s3liar_config(t_s3liar *x, const char *name, const char *extra);
/* Requests logged since the last t_s3liar_mode whose line holds part (NULL: all). */
int t_s3liar_count(const t_s3liar *x, const char *part);

#endif
