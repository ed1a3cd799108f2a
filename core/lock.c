/*
 * The location lock: one run writes a location at a time, and a second one
 * is told who holds it.  The lock is an object published with a no-replace
 * commit, so taking it is atomic on every driver that honours the commit
 * contract.  The backup's write-once generations keep sets whole even
 * without it; the lock makes a concurrent run fail early and clearly.
 *
 * Its holder is named so that machines, containers and clones differ:
 * host name, boot ID, PID namespace, pid and process start time, and a
 * random token.  On the holder's own machine and namespace, a lock whose
 * process is gone is stale at once.  From anywhere else its liveness cannot
 * be seen, so the holder rewrites ("refreshes") the lock while it runs, and
 * the lock is stale only when it was not refreshed for lock_stale_after
 * seconds (or claims a refresh further ahead than that of our clock).  Release removes only a lock that carries this run's token.
 */
#include "lock.h"

#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "confcheck.h"

/* ---- who we are ---------------------------------------------------------- */

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

typedef struct holder {
	int version;
	char host[256];
	char boot[64];                /* /proc/sys/kernel/random/boot_id */
	unsigned long long pidns;     /* inode of /proc/self/ns/pid */
	long pid;
	unsigned long long start;
	long long time, refreshed;
	char op[32];
	char token[33];
} holder;

static void whoami(holder *me)
{
	memset(me, 0, sizeof *me);
	gethostname(me->host, sizeof me->host - 1);
	FILE *f = fopen("/proc/sys/kernel/random/boot_id", "re");
	if (f) {
		if (fgets(me->boot, sizeof me->boot, f))
			me->boot[strcspn(me->boot, "\r\n")] = '\0';
		fclose(f);
	}
	struct stat st;
	if (stat("/proc/self/ns/pid", &st) == 0)
		me->pidns = (unsigned long long)st.st_ino;
	me->pid = (long)getpid();
	me->start = proc_start(me->pid);
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

/* ---- the lock object --------------------------------------------------------- */

static int format_lock(const holder *h, char *text, size_t cap)
{
	return snprintf(text, cap,
	                "licvault-lock 2\nhost %s\nboot %s\npidns %llu\npid %ld\nstart %llu\nop %s\ntime %lld\n"
	                "refreshed %lld\ntoken %s\n",
	                h->host, h->boot, h->pidns, h->pid, h->start, h->op, h->time, h->refreshed, h->token);
}

/* Write the lock object: a no-replace commit (taking) or a replacing one (refreshing). */
static int write_lock(lv_location *loc, const holder *h, unsigned flags)
{
	char text[1024];
	int n = format_lock(h, text, sizeof text);
	lv_writer *w = NULL;
	int rc = loc->ops->write_begin(loc->inst, LV_LOCK_NAME, (uint64_t)n, &w);
	if (rc)
		return rc;
	if ((rc = loc->ops->write(w, text, (size_t)n))) {
		loc->ops->abort(w);
		return rc;
	}
	return loc->ops->commit(w, flags);
}

/* The lock's format version; one that is not a number counts as 0, and is
 * then compared by host alone, as a version-1 lock is. */
static int parse_version(const char *text)
{
	char *end;
	errno = 0;
	long v = strtol(text, &end, 10);
	return end == text || errno || v < 0 || v > INT_MAX ? 0 : (int)v;
}

static void parse_line(holder *h, const char *line)
{
	static const struct { const char *key; size_t off, cap; } strs[] = {
		{"host ", offsetof(holder, host), sizeof((holder *)0)->host},
		{"boot ", offsetof(holder, boot), sizeof((holder *)0)->boot},
		{"op ", offsetof(holder, op), sizeof((holder *)0)->op},
		{"token ", offsetof(holder, token), sizeof((holder *)0)->token},
	};
	for (size_t i = 0; i < sizeof strs / sizeof *strs; i++)
		if (!strncmp(line, strs[i].key, strlen(strs[i].key))) {
			snprintf((char *)h + strs[i].off, strs[i].cap, "%s", line + strlen(strs[i].key));
			return;
		}
	if (!strncmp(line, "licvault-lock ", 14))
		h->version = parse_version(line + 14);
	else if (!strncmp(line, "pidns ", 6))
		h->pidns = strtoull(line + 6, NULL, 10);
	else if (!strncmp(line, "pid ", 4))
		h->pid = strtol(line + 4, NULL, 10);
	else if (!strncmp(line, "start ", 6))
		h->start = strtoull(line + 6, NULL, 10);
	else if (!strncmp(line, "time ", 5))
		h->time = strtoll(line + 5, NULL, 10);
	else if (!strncmp(line, "refreshed ", 10))
		h->refreshed = strtoll(line + 10, NULL, 10);
}

/* Read the lock object (version 1 or 2); a version-1 lock's refresh time is its time. */
static int read_lock(lv_location *loc, holder *h)
{
	memset(h, 0, sizeof *h);
	lv_reader *r = NULL;
	int rc = loc->ops->read_open(loc->inst, LV_LOCK_NAME, &r);
	if (rc)
		return rc;
	char buf[2048];
	size_t len = 0, n = 0;
	while (len < sizeof buf - 1 && !(rc = loc->ops->read(r, buf + len, sizeof buf - 1 - len, &n)) && n) {
		if (n > sizeof buf - 1 - len) {
			rc = LV_E_DRIVER_ABI; /* more than asked: nothing it says can be trusted */
			break;
		}
		len += n;
	}
	loc->ops->read_close(r);
	if (rc)
		return rc;
	buf[len] = '\0';
	char *save = NULL;
	for (char *line = strtok_r(buf, "\n", &save); line; line = strtok_r(NULL, "\n", &save))
		parse_line(h, line);
	if (!h->refreshed)
		h->refreshed = h->time;
	return 0;
}

/* Read the lock, the run's record untouched: 0, NOT_FOUND, or another error (*why). */
static int peek_lock(lv_run *run, lv_location *loc, holder *h, char *why, size_t cap)
{
	lv_err saved;
	lv__err_save(&run->err, &saved);
	lv__err_clear(&run->err);
	int rc = read_lock(loc, h);
	if (rc)
		snprintf(why, cap, "%s", run->err.msg[0] ? run->err.msg : lv_error_name(rc));
	lv__err_restore(&run->err, &saved);
	return rc;
}

/* ---- liveness ------------------------------------------------------------- */

/* The holder runs on this machine (same boot) in this PID namespace: its process can be seen. */
static int here(const holder *h, const holder *me)
{
	if (h->version < 2)
		return !strcmp(h->host, me->host); /* version 1 named no boot or namespace */
	return !strcmp(h->host, me->host) && !strcmp(h->boot, me->boot) && h->pidns == me->pidns;
}

static long long stale_after(lv_run *run, lv_location *loc)
{
	lv_config_value v;
	lv_err err = {0};
	if (lv__core_value(run->ctx, loc->hctx->location_name, "lock_stale_after", &v, &err) || v.number <= 0)
		return 900;
	return v.number;
}

/* Why the lock is stale, or NULL when its holder may still run. */
static const char *stale_reason(lv_run *run, lv_location *loc, const holder *h, const holder *me)
{
	if (here(h, me)) {
		if (h->pid == me->pid && !held_by_us(h->token))
			return "this process holds no such lock (a run that could not remove it)";
		if (h->pid != me->pid && kill((pid_t)h->pid, 0) < 0 && errno == ESRCH)
			return "its process is gone";
		if (h->start && proc_start(h->pid) != h->start)
			return "its process is gone (the pid was reused)";
		return NULL;
	}
	if (h->version >= 2 && !strcmp(h->host, me->host) && h->pidns == me->pidns && strcmp(h->boot, me->boot))
		return "its machine was restarted since";
	/* bounds, not an age: a hostile "refreshed" near LLONG_MIN must not overflow */
	long long now = (long long)time(NULL), limit = stale_after(run, loc);
	if (h->refreshed < now - limit)
		return "it was not refreshed for longer than lock_stale_after";
	/* no clock that agrees with ours (as the format asks) writes that: a crashed
	 * holder's wrong clock, or a forged lock, would otherwise hold the location forever */
	return h->refreshed > now + limit ? "its refresh time lies further ahead of this machine's clock than lock_stale_after"
	                                  : NULL;
}

/* ---- taking, refreshing, releasing ------------------------------------------- */

static int busy(lv_run *run, lv_location *loc, const holder *h, const holder *me)
{
	char when[64] = "?";
	time_t t = (time_t)h->time;
	struct tm tm;
	if (gmtime_r(&t, &tm))
		strftime(when, sizeof when, "%Y-%m-%d %H:%M:%S UTC", &tm);
	return lv__run_error(run, LV_E_BUSY,
	                     "%s is busy: a %s by pid %ld on host %s holds it since %s%s", loc->uri,
	                     h->op[0] ? h->op : "run", h->pid, h->host, when,
	                     here(h, me) ? "" : " (if that run is gone: licvault unlock --force shows and removes its lock)");
}

/* Remove a stale lock, if it is still the one that was read. */
static void take_over(lv_run *run, lv_location *loc, const holder *h, const char *why)
{
	holder again;
	char err[LV_ERRMSG_MAX];
	if (peek_lock(run, loc, &again, err, sizeof err) || strcmp(again.token, h->token))
		return; /* gone, or another run's now: try to take it again */
	lv__log(run->ctx, LV_LOG_WARN, "stale lock at %s: %s of pid %ld on %s (taken %lld): %s; taking the lock over",
	        loc->uri, h->op, h->pid, h->host, h->time, why);
	lv_err saved;
	lv__err_save(&run->err, &saved);
	loc->ops->remove(loc->inst, LV_LOCK_NAME);
	lv__err_restore(&run->err, &saved);
}

int lv__lock_take(lv_run *run, lv_location *loc, const char *op, int *held)
{
	*held = 0;
	holder me, h;
	whoami(&me);
	snprintf(me.op, sizeof me.op, "%s", op);
	unsigned char rnd[16];
	if (lv__random(rnd, sizeof rnd))
		return lv__run_error(run, LV_E_IO, "no random bytes for the lock's token");
	lv__hex(me.token, rnd, sizeof rnd);
	lv_err saved;
	lv__err_save(&run->err, &saved);
	/* held before it is written: another run of this process that reads it meanwhile sees it live */
	held_set(me.token, 1);
	for (int attempt = 0; attempt < 3; attempt++) {
		me.time = me.refreshed = (long long)time(NULL);
		int rc = write_lock(loc, &me, 0);
		if (rc && lv__err_valid(rc) && (rc == LV_E_EXISTS || rc == LV_E_NOT_FOUND || !strcmp(op, "restore")))
			lv__err_restore(&run->err, &saved); /* handled below */
		if (rc == 0) {
			*held = 1;
			snprintf(run->lock_token, sizeof run->lock_token, "%s", me.token);
			clock_gettime(CLOCK_MONOTONIC, &run->lock_refreshed);
			run->lock_loc = loc;
			return 0;
		}
		if (rc == LV_E_CANCELED)
			break;
		if (rc == LV_E_NOT_FOUND && (strcmp(op, "restore") != 0 || attempt < 2))
			continue; /* its temporary went (another run putting things right): write it again; a
			           * restore that keeps meeting NOT_FOUND reads a location with nothing there */
		if (rc != LV_E_EXISTS) {
			held_set(me.token, 0);
			if (strcmp(op, "restore") != 0 || !lv__err_valid(rc)) /* a run that writes must hold the lock */
				return lv__drv_rc(run, loc, rc, "take the lock", LV_LOCK_NAME);
			/* a location a restore cannot write (read-only medium) is read without one */
			lv__log(run->ctx, LV_LOG_DEBUG, "no lock at %s (%s); going on without it", loc->uri, lv_error_name(rc));
			return 0;
		}
		char why[LV_ERRMSG_MAX];
		if ((rc = peek_lock(run, loc, &h, why, sizeof why)) == LV_E_DRIVER_ABI || rc == LV_E_CANCELED) {
			held_set(me.token, 0);
			return lv__run_error(run, rc, "cannot read the lock %s at %s: %s", LV_LOCK_NAME, loc->uri, why);
		}
		if (rc || !h.pid) {
			if (rc == LV_E_NOT_FOUND || attempt == 0)
				continue; /* the holder just released it, or wrote it half: try again */
			held_set(me.token, 0);
			return lv__run_error(run, LV_E_BUSY, "%s is locked by another run (its lock object %s cannot be read: %s)",
			                     loc->uri, LV_LOCK_NAME, rc ? why : "no holder in it");
		}
		const char *reason = stale_reason(run, loc, &h, &me);
		if (!reason) {
			held_set(me.token, 0);
			return busy(run, loc, &h, &me);
		}
		take_over(run, loc, &h, reason);
	}
	held_set(me.token, 0);
	if (lv__run_canceled(run))
		return LV_E_CANCELED;
	return lv__run_error(run, LV_E_BUSY, "%s is locked by another run", loc->uri);
}

/* Seconds between refreshes of a held lock: often enough that no reader with this stale time sees it stale. */
static long long refresh_every(lv_run *run, lv_location *loc)
{
	long long s = stale_after(run, loc) / 15;
	return s < 4 ? 4 : s;
}

int lv__lock_refresh(lv_run *run)
{
	lv_location *loc = run->lock_loc;
	if (!loc || !run->lock_token[0])
		return 0;
	struct timespec now;
	clock_gettime(CLOCK_MONOTONIC, &now);
	if (now.tv_sec - run->lock_refreshed.tv_sec < refresh_every(run, loc))
		return 0;
	run->lock_refreshed = now;
	holder h;
	char why[LV_ERRMSG_MAX];
	int rc = peek_lock(run, loc, &h, why, sizeof why);
	if (!rc && strcmp(h.token, run->lock_token))
		return lv__run_error(run, LV_E_BUSY,
		                     "the lock at %s was taken over by a %s of pid %ld on host %s while this run held it; this run stops",
		                     loc->uri, h.op[0] ? h.op : "run", h.pid, h.host);
	if (rc) {
		lv__log(run->ctx, LV_LOG_WARN, "could not read the lock at %s to refresh it: %s", loc->uri, why);
		return 0;
	}
	h.refreshed = (long long)time(NULL);
	lv_err saved;
	lv__err_save(&run->err, &saved);
	rc = write_lock(loc, &h, LV_COMMIT_REPLACE);
	lv__err_restore(&run->err, &saved);
	if (rc)
		lv__log(run->ctx, LV_LOG_WARN, "could not refresh the lock at %s (%s)", loc->uri, lv_error_name(rc));
	return 0;
}

void lv__lock_release(lv_run *run, lv_location *loc, int held)
{
	if (!held || !loc)
		return;
	held_set(run->lock_token, 0);
	run->lock_loc = NULL;
	holder h;
	char why[LV_ERRMSG_MAX];
	int rc = peek_lock(run, loc, &h, why, sizeof why);
	if (!rc && strcmp(h.token, run->lock_token)) {
		lv__log(run->ctx, LV_LOG_WARN, "the lock at %s is no longer this run's (a %s by pid %ld on %s holds it): left in place",
		        loc->uri, h.op, h.pid, h.host);
		return;
	}
	if (rc == LV_E_NOT_FOUND)
		return;
	lv_err saved;
	lv__err_save(&run->err, &saved);
	lv__err_clear(&run->err);
	rc = loc->ops->remove(loc->inst, LV_LOCK_NAME);
	if (rc && rc != LV_E_NOT_FOUND)
		lv__log(run->ctx, LV_LOG_WARN, "could not remove the lock %s at %s: %s", LV_LOCK_NAME, loc->uri,
		        run->err.msg[0] ? run->err.msg : lv_error_name(rc));
	/* the removal made durable, or a power cut brings the lock back (found by tests/test_powercut.c) */
	else if (!rc && loc->ops->sync && (rc = loc->ops->sync(loc->inst)))
		lv__log(run->ctx, LV_LOG_WARN, "could not make the removal of the lock %s at %s durable: %s", LV_LOCK_NAME,
		        loc->uri, run->err.msg[0] ? run->err.msg : lv_error_name(rc));
	lv__err_restore(&run->err, &saved);
}

/* ---- licvault unlock ------------------------------------------------------- */

int lv_unlock(lv_context *ctx, const char *uri, unsigned flags, int (*cb)(const lv_lock_info *, void *), void *ud)
{
	if (!ctx || !uri)
		return LV_E_INVALID_ARG;
	lv__ctx_clear();
	if (flags & ~LV_UNLOCK_FORCE)
		return lv__err_set(lv__ctx_err(), LV_E_INVALID_ARG, "unlock %s: flags 0x%x are not valid", uri,
		                   flags & ~LV_UNLOCK_FORCE);
	lv_run run;
	lv__run_init(&run, ctx, NULL, NULL);
	lv_location *loc = NULL;
	int rc = lv__location_open(ctx, &run, NULL, uri, LV_OPEN_READ | ((flags & LV_UNLOCK_FORCE) ? LV_OPEN_WRITE : 0),
	                           &loc);
	holder h, me;
	char why[LV_ERRMSG_MAX];
	if (!rc && (rc = peek_lock(&run, loc, &h, why, sizeof why)))
		lv__run_error(&run, rc, rc == LV_E_NOT_FOUND ? "%s holds no lock" : "cannot read the lock at %s: %s", loc->uri,
		              why);
	if (!rc) {
		whoami(&me);
		const char *reason = stale_reason(&run, loc, &h, &me);
		lv_lock_info li = {h.host, h.op, h.pid, h.time, h.refreshed, here(&h, &me), reason != NULL};
		if (cb && (rc = cb(&li, ud)))
			goto out;
		if (!(flags & LV_UNLOCK_FORCE))
			rc = lv__run_error(&run, LV_E_BUSY, "%s is locked by a %s of pid %ld on %s%s; remove the lock with --force",
			                   loc->uri, h.op, h.pid, h.host, reason ? " (stale: the next run takes it over)" : "");
		else if ((rc = loc->ops->remove(loc->inst, LV_LOCK_NAME)) == 0 && loc->ops->sync)
			rc = loc->ops->sync(loc->inst);
		if (rc)
			rc = lv__drv_rc(&run, loc, rc, "remove", LV_LOCK_NAME);
	}
out:
	if (rc)
		lv__err_set(lv__ctx_err(), run.err.code ? run.err.code : rc, "%s", run.err.msg[0] ? run.err.msg : lv_strerror(rc));
	lv__location_close(loc);
	return rc;
}
