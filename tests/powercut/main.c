/*
 * lvpowercut: a FUSE file system that loses, at a power cut, all that was
 * not made durable (README.md).
 *
 *   lvpowercut MOUNTPOINT --control SOCKET [--ready-fd N] [-d]
 *   lvpowercut ctl SOCKET COMMAND [ARG]
 *
 * The mount loop: mount, serve until the file system is unmounted; if the
 * control thread asked for a power cut (or a saved state), serve the new
 * state and mount again, else end.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "server.h"

static void usage(void)
{
	fprintf(stderr, "usage: lvpowercut MOUNTPOINT --control SOCKET [--ready-fd N] [-d]\n"
	                "       lvpowercut ctl SOCKET COMMAND [ARG]   (see tests/powercut/README.md)\n");
}

static int listen_on(const char *path)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	if (strlen(path) >= sizeof sa.sun_path) {
		fprintf(stderr, "lvpowercut: control socket path too long (%zu bytes at most): %s\n",
		        sizeof sa.sun_path - 1, path);
		return -1;
	}
	strcpy(sa.sun_path, path);
	unlink(path);
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof sa) < 0 || listen(fd, 4) < 0) {
		fprintf(stderr, "lvpowercut: cannot listen on %s: %s\n", path, strerror(errno));
		if (fd >= 0)
			close(fd);
		return -1;
	}
	return fd;
}

/* Mount, serve until unmounted or signalled.  0, or -1 when the mount failed. */
static int serve_once(pc_server *s, int debug, int *ready_fd)
{
	char *argv[] = {"lvpowercut", "-o", "fsname=lvpowercut,subtype=lvpowercut", debug ? "-d" : NULL, NULL};
	struct fuse_args args = FUSE_ARGS_INIT(debug ? 4 : 3, argv);
	struct fuse *f = fuse_new(&args, &pc_ops, sizeof pc_ops, s);
	if (!f || fuse_mount(f, s->mnt) != 0) {
		snprintf(s->why, sizeof s->why, "cannot mount a FUSE file system on %s (libfuse said why above)", s->mnt);
		if (f)
			fuse_destroy(f);
		fuse_opt_free_args(&args);
		return -1;
	}
	struct fuse_session *se = fuse_get_session(f);
	fuse_set_signal_handlers(se);
	pthread_mutex_lock(&s->lock);
	s->mounts++;
	pthread_cond_broadcast(&s->cond);
	pthread_mutex_unlock(&s->lock);
	if (*ready_fd >= 0) {
		if (write(*ready_fd, "ready\n", 6) != 6)
			fprintf(stderr, "lvpowercut: cannot tell that the mount is ready: %s\n", strerror(errno));
		close(*ready_fd);
		*ready_fd = -1;
	}
	fuse_loop(f);
	fuse_remove_signal_handlers(se);
	fuse_unmount(f);
	fuse_destroy(f);
	fuse_opt_free_args(&args);
	return 0;
}

/*
 * After an unmount: the remount the control thread asked for.  1 to mount
 * again, 0 to end; *quit: the control thread asked to end.
 */
static int next_state(pc_server *s, int *quit)
{
	pthread_mutex_lock(&s->lock);
	int what = s->pending, again = 0;
	*quit = what == PC_QUIT;
	s->pending = PC_NONE;
	pc_fs *next = NULL;
	if (what == PC_CUT) {
		pc_cut_prepare(s->fs);
		s->report_lines = pc_fs_losses(s->fs, &s->report);
		next = pc_fs_durable(s->fs);
	} else if (what == PC_LOAD) {
		next = s->pending_fs;
		s->pending_fs = NULL;
	}
	if (next) {
		pc_fs_free(s->fs);
		s->fs = next;
		s->handles = 0; /* the kernel forgot them with the mount */
		again = 1;
	} else if (what == PC_CUT || what == PC_LOAD)
		snprintf(s->why, sizeof s->why, "out of memory building the durable state");
	else
		snprintf(s->why, sizeof s->why, "unmounted by someone else, or signalled");
	pthread_mutex_unlock(&s->lock);
	return again;
}

static int run(pc_server *s, const char *ctl, int ready_fd, int debug)
{
	int lfd = listen_on(ctl);
	if (lfd < 0)
		return 1;
	/* signals go to the mount loop (libfuse's handlers end it), never to the control thread */
	sigset_t block, old;
	sigemptyset(&block);
	sigaddset(&block, SIGINT);
	sigaddset(&block, SIGTERM);
	sigaddset(&block, SIGHUP);
	pthread_sigmask(SIG_BLOCK, &block, &old);
	pc_control_arg arg = {s, lfd};
	pthread_t th;
	int e = pthread_create(&th, NULL, pc_control_main, &arg);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (e) {
		fprintf(stderr, "lvpowercut: cannot start the control thread: %s\n", strerror(e));
		return 1;
	}
	int rc = 0, quit = 0;
	for (;;) {
		if (serve_once(s, debug, &ready_fd)) {
			fprintf(stderr, "lvpowercut: %s\n", s->why);
			rc = 1;
			break;
		}
		if (!next_state(s, &quit))
			break;
	}
	pthread_mutex_lock(&s->lock);
	s->ended = 1;
	pthread_cond_broadcast(&s->cond);
	pthread_mutex_unlock(&s->lock);
	unlink(ctl);
	if (!quit)
		return rc; /* the control thread may be answering still: the state stays until exit */
	pthread_join(th, NULL); /* it answers "ok quit", then ends */
	close(lfd);
	pc_fs_free(s->fs);
	s->fs = NULL;
	for (unsigned i = 0; i < s->nsaved; i++)
		pc_fs_free(s->saved[i].fs);
	s->nsaved = 0;
	free(s->report);
	s->report = NULL;
	return rc;
}

int main(int argc, char **argv)
{
	if (argc >= 4 && !strcmp(argv[1], "ctl"))
		return pc_client(argv[2], argc - 3, argv + 3);
	const char *mnt = NULL, *ctl = NULL;
	int ready_fd = -1, debug = 0;
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--control") && i + 1 < argc)
			ctl = argv[++i];
		else if (!strcmp(argv[i], "--ready-fd") && i + 1 < argc)
			ready_fd = atoi(argv[++i]);
		else if (!strcmp(argv[i], "-d"))
			debug = 1;
		else if (argv[i][0] != '-' && !mnt)
			mnt = argv[i];
		else {
			usage();
			return 2;
		}
	}
	if (!mnt || !ctl) {
		usage();
		return 2;
	}
	if (ready_fd >= 0 && fcntl(ready_fd, F_SETFD, FD_CLOEXEC) < 0) {
		fprintf(stderr, "lvpowercut: --ready-fd %d is not open\n", ready_fd);
		return 2;
	}
	/* static: the control thread may outlive main's frame when a signal ends the loop */
	static pc_server s = {.lock = PTHREAD_MUTEX_INITIALIZER, .cond = PTHREAD_COND_INITIALIZER};
	s.mnt = mnt;
	if (!(s.fs = pc_fs_new())) {
		fprintf(stderr, "lvpowercut: out of memory\n");
		return 1;
	}
	return run(&s, ctl, ready_fd, debug);
}
