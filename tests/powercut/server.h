/*
 * The power-cut file system's daemon (README.md): the state the FUSE
 * operations (ops.c) and the control socket (control.c) share, and the
 * mount loop (main.c) that serves it.
 */
#ifndef PC_SERVER_H
#define PC_SERVER_H

#define FUSE_USE_VERSION 31
#include <fuse.h>
#include <pthread.h>

#include "model.h"

#define PC_MAX_SAVED 32

enum { PC_NONE, PC_CUT, PC_LOAD, PC_QUIT };

typedef struct pc_saved {
	char name[64];
	pc_fs *fs;
} pc_saved;

typedef struct pc_server {
	pthread_mutex_t lock;     /* held around every use of fs */
	pthread_cond_t cond;      /* mounts or handles changed, or the mount loop ended */
	pc_fs *fs;                /* the state served now */
	const char *mnt;
	int verbose;
	/* a remount the control thread asked for, done by the mount loop */
	int pending;              /* PC_CUT, PC_LOAD, PC_QUIT */
	pc_fs *pending_fs;        /* PC_LOAD: the state to serve */
	char *report;             /* PC_CUT: what it lost (pc_fs_losses) */
	size_t report_lines;
	unsigned long mounts;     /* mounts made so far */
	unsigned long handles;    /* files and directories open (the kernel releases them after close) */
	int ended;                /* the mount loop has ended */
	char why[300];            /* why it ended, when it failed */
	pc_saved saved[PC_MAX_SAVED];
	unsigned nsaved;
} pc_server;

/* The FUSE operations; each finds its pc_server in fuse_get_context()->private_data. */
extern const struct fuse_operations pc_ops;

/* Serve the control socket listening on `fd`, forever (a thread's body). */
void *pc_control_main(void *server_and_fd);

typedef struct pc_control_arg {
	pc_server *s;
	int fd;
} pc_control_arg;

/* The client: send one command to the socket at `path`, print the reply; the exit status. */
int pc_client(const char *path, int argc, char **argv);

#endif
