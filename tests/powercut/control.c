/*
 * The control socket (README.md, "Control"): one command a line, each
 * answered by lines of detail and a last line that starts with "ok" or
 * "error".  A power cut (cut, load, quit) is asked of the mount loop
 * (main.c): this thread unmounts the file system, the loop then serves the
 * new state and mounts again, and this thread answers once it has.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "server.h"

static pc_saved *find_saved(pc_server *s, const char *name)
{
	for (unsigned i = 0; i < s->nsaved; i++)
		if (!strcmp(s->saved[i].name, name))
			return &s->saved[i];
	return NULL;
}

/*
 * Ask the mount loop for a remount (what = PC_CUT, PC_LOAD with `next`, or
 * PC_QUIT) and wait until it is done.  0, or -1 with the reason in why.
 */
static int remount(pc_server *s, int what, pc_fs *next, char *why, size_t cap)
{
	pthread_mutex_lock(&s->lock);
	if (s->ended) {
		snprintf(why, cap, "the file system is no longer mounted: %s", s->why);
		pthread_mutex_unlock(&s->lock);
		pc_fs_free(next);
		return -1;
	}
	unsigned long seen = s->mounts;
	s->pending = what;
	s->pending_fs = next;
	/* the releases of the handles closed last are on their way: let them in (a few seconds at most) */
	struct timespec until;
	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += 5;
	while (s->handles && pthread_cond_timedwait(&s->cond, &s->lock, &until) == 0)
		;
	pthread_mutex_unlock(&s->lock);
	/* the power goes: the kernel forgets the mount, its caches and its open files */
	int r = umount2(s->mnt, 0);
	if (r < 0 && errno == EBUSY && what == PC_QUIT)
		r = umount2(s->mnt, MNT_DETACH);
	if (r < 0) {
		int e = errno;
		pthread_mutex_lock(&s->lock);
		s->pending = PC_NONE;
		s->pending_fs = NULL;
		pthread_mutex_unlock(&s->lock);
		pc_fs_free(next);
		snprintf(why, cap, "cannot unmount %s: %s%s", s->mnt, strerror(e),
		         e == EBUSY ? " (a process still has a file or directory open there, or its cwd)" : "");
		return -1;
	}
	if (what == PC_QUIT)
		return 0;
	pthread_mutex_lock(&s->lock);
	while (s->mounts == seen && !s->ended)
		pthread_cond_wait(&s->cond, &s->lock);
	int rc = s->mounts == seen ? -1 : 0;
	if (rc)
		snprintf(why, cap, "mounting %s again failed: %s", s->mnt, s->why);
	pthread_mutex_unlock(&s->lock);
	return rc;
}

static void cmd_cut(pc_server *s, FILE *out)
{
	char why[400];
	if (remount(s, PC_CUT, NULL, why, sizeof why)) {
		fprintf(out, "error %s\n", why);
		return;
	}
	pthread_mutex_lock(&s->lock);
	fputs(s->report ? s->report : "", out);
	fprintf(out, "ok cut lost=%zu mounts=%lu\n", s->report_lines, s->mounts);
	free(s->report);
	s->report = NULL;
	pthread_mutex_unlock(&s->lock);
}

static void cmd_save(pc_server *s, const char *name, FILE *out)
{
	pthread_mutex_lock(&s->lock);
	pc_saved *sv = find_saved(s, name);
	if (!sv && s->nsaved < PC_MAX_SAVED) {
		sv = &s->saved[s->nsaved++];
		snprintf(sv->name, sizeof sv->name, "%s", name);
		sv->fs = NULL;
	}
	pc_fs *copy = sv ? pc_fs_durable(s->fs) : NULL;
	if (copy) {
		pc_fs_free(sv->fs);
		sv->fs = copy;
	}
	pthread_mutex_unlock(&s->lock);
	if (!sv)
		fprintf(out, "error cannot save '%s': %d states are saved already\n", name, PC_MAX_SAVED);
	else if (!copy)
		fprintf(out, "error cannot save '%s': out of memory\n", name);
	else
		fprintf(out, "ok saved %s\n", name);
}

static void cmd_load(pc_server *s, const char *name, FILE *out)
{
	pthread_mutex_lock(&s->lock);
	pc_saved *sv = find_saved(s, name);
	pc_fs *copy = sv ? pc_fs_durable(sv->fs) : NULL;
	pthread_mutex_unlock(&s->lock);
	char why[400];
	if (!sv)
		fprintf(out, "error no saved state named '%s'\n", name);
	else if (!copy)
		fprintf(out, "error cannot load '%s': out of memory\n", name);
	else if (remount(s, PC_LOAD, copy, why, sizeof why))
		fprintf(out, "error %s\n", why);
	else
		fprintf(out, "ok loaded %s\n", name);
}

/* Commands that only look at or change the state served: under the lock. */
static int cmd_state(pc_server *s, const char *cmd, const char *arg, const char *arg2, FILE *out)
{
	pc_fs *fs = s->fs;
	if (!strcmp(cmd, "status")) {
		fprintf(out, "ok points=%llu freeze_after=%lld cut=%s mounts=%lu\n", (unsigned long long)fs->points,
		        (long long)fs->freeze_after, fs->meta ? "meta" : "strict", s->mounts);
	} else if (!strcmp(cmd, "arm")) {
		char *end = NULL;
		long long n = arg && strcmp(arg, "never") ? strtoll(arg, &end, 10) : -1;
		int meta = arg2 && !strcmp(arg2, "meta");
		if (!arg || (end && (*end || n < 0)) || (arg2 && !meta && strcmp(arg2, "strict"))) {
			fprintf(out, "error arm takes a point number (0 or more) or 'never', then 'strict' (the default) or 'meta'\n");
			return 1;
		}
		pc_arm(fs, n, meta);
		fprintf(out, "ok armed %s %s\n", arg, fs->meta ? "meta" : "strict");
	} else if (!strcmp(cmd, "points")) {
		unsigned long long k = 0;
		for (const char *p = fs->log ? fs->log : ""; *p; p = strchr(p, '\n') + 1)
			fprintf(out, "point %llu %.*s\n", ++k, (int)strcspn(p, "\n"), p);
		fprintf(out, "ok points=%llu\n", (unsigned long long)fs->points);
	} else if (!strcmp(cmd, "checkpoint")) {
		pc_checkpoint(fs);
		fprintf(out, "ok checkpoint\n");
	} else if (!strcmp(cmd, "losses")) {
		char *rep = NULL;
		size_t n = pc_fs_losses(fs, &rep);
		fprintf(out, "%sok lost=%zu\n", rep ? rep : "", n);
		free(rep);
	} else
		return 0;
	return 1;
}

static int serve_line(pc_server *s, char *line, FILE *out)
{
	line[strcspn(line, "\r\n")] = '\0';
	char *save = NULL;
	char *cmd = strtok_r(line, " \t", &save);
	char *arg = cmd ? strtok_r(NULL, " \t", &save) : NULL;
	char *arg2 = arg ? strtok_r(NULL, " \t", &save) : NULL;
	if (!cmd)
		return 0;
	pthread_mutex_lock(&s->lock);
	int done = cmd_state(s, cmd, arg, arg2, out);
	pthread_mutex_unlock(&s->lock);
	if (done)
		;
	else if (!strcmp(cmd, "cut"))
		cmd_cut(s, out);
	else if (!strcmp(cmd, "save") && arg)
		cmd_save(s, arg, out);
	else if (!strcmp(cmd, "load") && arg)
		cmd_load(s, arg, out);
	else if (!strcmp(cmd, "quit")) {
		char why[400];
		if (remount(s, PC_QUIT, NULL, why, sizeof why))
			fprintf(out, "error %s\n", why);
		else
			fprintf(out, "ok quit\n");
		fflush(out);
		return 1;
	} else
		fprintf(out, "error unknown command '%s' (status, arm N|never [strict|meta], points, checkpoint, losses, cut, "
		        "save NAME, load NAME, quit)\n", cmd);
	fflush(out);
	return 0;
}

void *pc_control_main(void *p)
{
	pc_control_arg *a = p;
	for (;;) {
		int c = accept(a->fd, NULL, NULL);
		if (c < 0) {
			if (errno == EINTR || errno == ECONNABORTED)
				continue;
			break;
		}
		int c2 = dup(c);
		FILE *in = fdopen(c, "r"), *out = c2 >= 0 ? fdopen(c2, "w") : NULL;
		char *line = NULL;
		size_t cap = 0;
		int quit = 0;
		while (in && out && !quit && getline(&line, &cap, in) > 0)
			quit = serve_line(a->s, line, out);
		free(line);
		if (in)
			fclose(in);
		else
			close(c);
		if (out)
			fclose(out);
		else if (c2 >= 0)
			close(c2);
		if (quit)
			break;
	}
	return NULL;
}

int pc_client(const char *path, int argc, char **argv)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	if (strlen(path) >= sizeof sa.sun_path) {
		fprintf(stderr, "lvpowercut: control socket path too long: %s\n", path);
		return 2;
	}
	strcpy(sa.sun_path, path);
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof sa) < 0) {
		fprintf(stderr, "lvpowercut: cannot connect to %s: %s\n", path, strerror(errno));
		if (fd >= 0)
			close(fd);
		return 2;
	}
	FILE *io = fdopen(fd, "r+");
	for (int i = 0; i < argc; i++)
		fprintf(io, "%s%s", i ? " " : "", argv[i]);
	fputc('\n', io);
	fflush(io);
	char *line = NULL;
	size_t cap = 0;
	int rc = 1;
	while (getline(&line, &cap, io) > 0) {
		fputs(line, stdout);
		if (!strncmp(line, "ok", 2) || !strncmp(line, "error", 5)) {
			rc = line[0] == 'o' ? 0 : 1;
			break;
		}
	}
	free(line);
	fclose(io);
	return rc;
}
