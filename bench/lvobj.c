/*
 * lvobj: move one large object through a licvault driver, for bench/run's
 * single-large-object case (issue 5: MB/s against OpenSSH sftp put/get).
 *
 *   lvobj [--config FILE] [--chunk KIB] put SRC_FILE URI NAME   write NAME at URI from SRC_FILE, commit, sync
 *   lvobj [--config FILE] [--chunk KIB] get URI NAME DST_FILE   read NAME at URI into DST_FILE, fsync it
 *   lvobj [--config FILE] rm URI NAME                           remove NAME (not timed by the bench)
 *
 * Uses the public location API only (lv_location_open,
 * lv_location_driver_ops), as an application or a driver test would.  The
 * whole program is timed by the bench, connection included, as the
 * OpenSSH sftp client is.  Prints "bytes seconds MB/s" for the transfer
 * itself (after the connection is set up) on stderr.
 */
#define _POSIX_C_SOURCE 200809L
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "licvault/licvault.h"
#include "licvault/sys/location.h"

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int die(struct lv_location *loc, const char *what, int rc)
{
	fprintf(stderr, "lvobj: %s: %s: %s\n", what, lv_error_name(rc),
	        loc ? lv_location_last_error(loc) : "");
	return 1;
}

int main(int argc, char **argv)
{
	const char *config = NULL;
	size_t chunk = 1u << 20;
	int i = 1;
	for (; i < argc && argv[i][0] == '-'; i++) {
		if (!strcmp(argv[i], "--config") && i + 1 < argc)
			config = argv[++i];
		else if (!strcmp(argv[i], "--chunk") && i + 1 < argc)
			chunk = (size_t)strtoul(argv[++i], NULL, 10) << 10;
		else
			break;
	}
	if (i >= argc || chunk == 0) {
	usage:
		fprintf(stderr, "usage: lvobj [--config FILE] [--chunk KIB] put SRC URI NAME | get URI NAME DST | rm URI NAME\n");
		return 2;
	}
	const char *cmd = argv[i++];
	int put = !strcmp(cmd, "put"), get = !strcmp(cmd, "get"), rm = !strcmp(cmd, "rm");
	if ((put || get) ? argc - i != 3 : rm ? argc - i != 2 : 1)
		goto usage;
	const char *uri = put ? argv[i + 1] : argv[i];
	const char *name = put ? argv[i + 2] : argv[i + 1];
	const char *file = put ? argv[i] : get ? argv[i + 2] : NULL;

	lv_context *ctx;
	if (lv_context_new(&ctx))
		return 1;
	int rc = lv_context_load_config(ctx, config);
	if (rc) {
		fprintf(stderr, "lvobj: config: %s\n", lv_error_name(rc));
		return 1;
	}
	struct lv_location *loc = NULL;
	rc = lv_location_open(&loc, ctx, uri, put ? LV_OPEN_WRITE : LV_OPEN_READ);
	if (rc)
		return die(loc, "open", rc);
	const lv_driver_ops *ops = lv_location_driver_ops(loc);
	void *inst = lv_location_driver_instance(loc);
	if (rm) {
		rc = ops->remove ? ops->remove(inst, name) : LV_E_UNSUPPORTED;
		lv_location_close(loc);
		return rc && rc != LV_E_NOT_FOUND;
	}
	char *buf = malloc(chunk);
	if (!buf)
		return 1;
	unsigned long long total = 0;
	double t0 = now();
	if (put) {
		int fd = open(file, O_RDONLY | O_CLOEXEC);
		if (fd < 0) {
			perror(file);
			return 1;
		}
		lv_writer *w;
		off_t size = lseek(fd, 0, SEEK_END);
		lseek(fd, 0, SEEK_SET);
		if ((rc = ops->write_begin(inst, name, (uint64_t)size, &w)))
			return die(loc, "write_begin", rc);
		for (;;) {
			ssize_t n = read(fd, buf, chunk);
			if (n < 0) {
				perror(file);
				ops->abort(w);
				return 1;
			}
			if (n == 0)
				break;
			if ((rc = ops->write(w, buf, (size_t)n))) {
				ops->abort(w);
				return die(loc, "write", rc);
			}
			total += (unsigned long long)n;
		}
		close(fd);
		if ((rc = ops->commit(w, LV_COMMIT_REPLACE)))
			return die(loc, "commit", rc);
		if (ops->sync && (rc = ops->sync(inst)))
			return die(loc, "sync", rc);
	} else {
		int fd = open(file, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
		if (fd < 0) {
			perror(file);
			return 1;
		}
		lv_reader *r;
		if ((rc = ops->read_open(inst, name, &r)))
			return die(loc, "read_open", rc);
		for (;;) {
			size_t n = 0;
			if ((rc = ops->read(r, buf, chunk, &n))) {
				ops->read_close(r);
				return die(loc, "read", rc);
			}
			if (n == 0)
				break;
			if (write(fd, buf, n) != (ssize_t)n) {
				perror(file);
				return 1;
			}
			total += n;
		}
		ops->read_close(r);
		if (fsync(fd) || close(fd)) {
			perror(file);
			return 1;
		}
	}
	double dt = now() - t0;
	fprintf(stderr, "%llu %.3f %.1f\n", total, dt, dt > 0 ? (double)total / dt / 1e6 : 0.0);
	free(buf);
	lv_location_close(loc);
	lv_context_free(ctx);
	return 0;
}
