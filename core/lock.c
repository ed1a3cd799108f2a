/*
 * The location lock: one run writes a location at a time, and a second one
 * is told who holds it.  The lock is an object published with a no-replace
 * commit, so taking it is atomic on every driver that honours the commit
 * contract.  The backup's write-once generations keep sets whole even
 * without it; the lock makes a concurrent run fail early and clearly.
 */
#include "lock.h"

#include <stdio.h>
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* The start time of a process (clock ticks since boot), to tell a reused pid. */
static unsigned long long proc_start(long pid)
{
	char p[64], buf[1024];
	snprintf(p, sizeof p, "/proc/%ld/stat", pid);
	FILE *f = fopen(p, "re");
	if (!f)
		return 0;
	size_t n = fread(buf, 1, sizeof buf - 1, f);
	fclose(f);
	buf[n] = '\0';
	char *s = strrchr(buf, ')');
	if (!s)
		return 0;
	/* after "pid (comm)": state is field 3; starttime is field 22 */
	int field = 2;
	for (char *q = s + 1; *q; q++)
		if (*q == ' ' && ++field == 22)
			return strtoull(q + 1, NULL, 10);
	return 0;
}

/*
 * The locks this process holds now, by their random token: a lock naming
 * this very process but a token no live run holds was left by a run that
 * could not remove it (the server went away): it is stale too.
 */
#define MAX_HELD 64
static pthread_mutex_t held_lock = PTHREAD_MUTEX_INITIALIZER;
static char held_tokens[MAX_HELD][33];

static void held_set(const char *token, int on)
{
	pthread_mutex_lock(&held_lock);
	for (int i = 0; i < MAX_HELD; i++) {
		if (on && !held_tokens[i][0]) {
			snprintf(held_tokens[i], sizeof held_tokens[i], "%s", token);
			break;
		}
		if (!on && !strcmp(held_tokens[i], token)) {
			held_tokens[i][0] = '\0';
			break;
		}
	}
	pthread_mutex_unlock(&held_lock);
}

static int held_by_us(const char *token)
{
	int found = 0;
	pthread_mutex_lock(&held_lock);
	for (int i = 0; i < MAX_HELD && !found; i++)
		found = token[0] && !strcmp(held_tokens[i], token);
	pthread_mutex_unlock(&held_lock);
	return found;
}

static int write_lock(lv_run *run, lv_location *loc, const char *op)
{
	char host[256] = "?";
	gethostname(host, sizeof host - 1);
	char text[512];
	long pid = (long)getpid();
	unsigned char rnd[16];
	if (lv__random(rnd, sizeof rnd))
		return LV_E_IO;
	lv__hex(run->lock_token, rnd, sizeof rnd);
	int n = snprintf(text, sizeof text, "licvault-lock 1\nhost %s\npid %ld\nstart %llu\ntime %lld\nop %s\ntoken %s\n",
	                 host, pid, proc_start(pid), (long long)time(NULL), op, run->lock_token);
	lv_writer *w = NULL;
	int rc = loc->ops->write_begin(loc->inst, LV_LOCK_NAME, (uint64_t)n, &w);
	if (rc)
		return rc;
	if ((rc = loc->ops->write(w, text, (size_t)n))) {
		loc->ops->abort(w);
		return rc;
	}
	return loc->ops->commit(w, 0);
}

typedef struct holder {
	char host[256];
	long pid;
	unsigned long long start;
	long long time;
	char op[32];
	char token[33];
} holder;

static int read_lock(lv_location *loc, holder *h)
{
	memset(h, 0, sizeof *h);
	lv_reader *r = NULL;
	int rc = loc->ops->read_open(loc->inst, LV_LOCK_NAME, &r);
	if (rc)
		return rc;
	char buf[1024];
	size_t len = 0, n = 0;
	while (len < sizeof buf - 1 && !(rc = loc->ops->read(r, buf + len, sizeof buf - 1 - len, &n)) && n &&
	       n <= sizeof buf - 1 - len)
		len += n;
	loc->ops->read_close(r);
	if (rc)
		return rc;
	buf[len] = '\0';
	char *save = NULL;
	for (char *line = strtok_r(buf, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		if (!strncmp(line, "host ", 5))
			snprintf(h->host, sizeof h->host, "%s", line + 5);
		else if (!strncmp(line, "pid ", 4))
			h->pid = strtol(line + 4, NULL, 10);
		else if (!strncmp(line, "start ", 6))
			h->start = strtoull(line + 6, NULL, 10);
		else if (!strncmp(line, "time ", 5))
			h->time = strtoll(line + 5, NULL, 10);
		else if (!strncmp(line, "op ", 3))
			snprintf(h->op, sizeof h->op, "%s", line + 3);
		else if (!strncmp(line, "token ", 6))
			snprintf(h->token, sizeof h->token, "%s", line + 6);
	}
	return 0;
}

int lv__lock_take(lv_run *run, lv_location *loc, const char *op, int *held)
{
	*held = 0;
	lv_err saved;
	lv__err_save(&run->err, &saved);
	for (int attempt = 0; attempt < 2; attempt++) {
		int rc = write_lock(run, loc, op);
		if (rc == 0) {
			*held = 1;
			held_set(run->lock_token, 1);
			return 0;
		}
		/* EXISTS (or a location that cannot hold a lock) is handled here */
		lv__err_restore(&run->err, &saved);
		if (rc == LV_E_CANCELED)
			return rc;
		if (rc != LV_E_EXISTS) {
			/* a location that cannot hold a lock (read-only) is used without one */
			lv__log(run->ctx, LV_LOG_DEBUG, "no lock at %s (%s); going on without it", loc->uri, lv_error_name(rc));
			return 0;
		}
		holder h;
		int rr = read_lock(loc, &h);
		lv__err_restore(&run->err, &saved);
		if (rr != 0 || !h.pid) {
			/* the holder just released it, or wrote it half: try once more */
			if (attempt == 0)
				continue;
			return lv__run_error(run, LV_E_BUSY, "%s is locked by another run (its lock object %s cannot be read)",
			                     loc->uri, LV_LOCK_NAME);
		}
		char host[256] = "?";
		gethostname(host, sizeof host - 1);
		int same_host = !strcmp(h.host, host);
		int dead = same_host && ((kill((pid_t)h.pid, 0) < 0 && errno == ESRCH) ||
		                         (h.start && proc_start(h.pid) != h.start) ||
		                         (h.pid == (long)getpid() && !held_by_us(h.token)));
		if (dead && attempt == 0) {
			lv__log(run->ctx, LV_LOG_WARN,
			        "stale lock at %s: %s of pid %ld on %s (started %lld) is gone; taking the lock over",
			        loc->uri, h.op, h.pid, h.host, h.time);
			if (loc->ops->remove)
				loc->ops->remove(loc->inst, LV_LOCK_NAME);
			lv__err_restore(&run->err, &saved);
			continue;
		}
		char when[64] = "?";
		time_t t = (time_t)h.time;
		struct tm tm;
		if (gmtime_r(&t, &tm))
			strftime(when, sizeof when, "%Y-%m-%d %H:%M:%S UTC", &tm);
		return lv__run_error(run, LV_E_BUSY,
		                     "%s is busy: a %s by pid %ld on host %s holds it since %s%s", loc->uri,
		                     h.op[0] ? h.op : "run", h.pid, h.host, when,
		                     same_host ? "" : " (if that host is gone, remove " LV_LOCK_NAME " there)");
	}
	return lv__run_error(run, LV_E_BUSY, "%s is locked by another run", loc->uri);
}

void lv__lock_release(lv_run *run, lv_location *loc, int held)
{
	if (!held || !loc)
		return;
	held_set(run->lock_token, 0);
	if (!loc->ops->remove)
		return;
	lv_err saved;
	lv__err_save(&run->err, &saved);
	lv__err_clear(&run->err);
	int rc = loc->ops->remove(loc->inst, LV_LOCK_NAME);
	if (rc && rc != LV_E_NOT_FOUND)
		lv__log(run->ctx, LV_LOG_WARN, "could not remove the lock %s at %s: %s", LV_LOCK_NAME, loc->uri,
		        run->err.msg[0] ? run->err.msg : lv_error_name(rc));
	/* the removal made durable, or a power cut brings the lock back (found by tests/test_powercut.c) */
	else if (!rc && loc->ops->sync && (rc = loc->ops->sync(loc->inst)))
		lv__log(run->ctx, LV_LOG_WARN, "could not make the removal of the lock %s at %s durable: %s", LV_LOCK_NAME,
		        loc->uri, run->err.msg[0] ? run->err.msg : lv_error_name(rc));
	lv__err_restore(&run->err, &saved);
}
