/*
 * Concurrency (issue 8):
 *  - two `licvault backup` processes started together on one location, many
 *    rounds: one wins and the other is BUSY naming the holder (pid, host), or
 *    both succeed one after the other; never an interleaved set (verify
 *    passes after every round and restores exactly one of the two sets);
 *  - a lock left by a killed backup is stale: the next run says so and goes on;
 *  - backups while the application writes (a writer thread changing every
 *    license in one transaction per round): each backup is one snapshot;
 *  - one context shared by 4 threads, each with its own store and restorer,
 *    backing up, verifying and restoring in parallel; and one store with two
 *    runs in flight at once.  The sanitizer script runs this suite under
 *    ThreadSanitizer.
 */
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "testutil.h"

#define pth(name) t_path(dir, (name))
#define copy_file t_copy_file

static char *dir;
static char drvdir[600];
static lv_context *ctx;
static int verbose;

static int init(void)
{
	verbose = getenv("LV_TEST_VERBOSE") != NULL;
	dir = t_tmpdir();
	if (!dir)
		return 1;
	if (t_driver_dir(dir, "fault", drvdir, sizeof drvdir))
		return 1;
	FILE *f = fopen(pth("cli.conf"), "w");
	if (!f)
		return 1;
	/* keep = 1: one set at a time, as the races below check */
	fprintf(f, "[licvault]\ndriver_path = %s\nkeep = 1\n[service]\nrestores_per_day = 1000000\n", drvdir);
	fclose(f);
	ctx = t_context();
	if (!ctx || lv_context_load_config(ctx, pth("cli.conf")))
		return 1;
	/* an empty target store with an identity: every restore goes into a copy of it */
	lv_store *t = NULL;
	if (lv_store_open(&t, ctx, pth("t0.db"), LV_STORE_CREATE))
		return 1;
	int changed;
	lv_store_individualize(t, &changed);
	lv_store_free(t);
	return 0;
}

static int clean(void)
{
	lv_context_free(ctx);
	free(dir);
	return 0;
}

/* Restore `uri` into a fresh copy of the target store `copy`: digest, 0 on failure. */
#define restore_digest(uri, copy, rc_out) t_restore_digest(ctx, pth("t0.db"), (copy), (uri), (rc_out))

static char *slurp(const char *p)
{
	FILE *f = fopen(p, "r");
	if (!f)
		return strdup("");
	char *b = calloc(1, 65536);
	size_t n = fread(b, 1, 65535, f);
	b[n] = '\0';
	fclose(f);
	return b;
}

/* Fork a CLI backup that waits for `go` (a pipe) before it starts; stderr to errpath. */
static pid_t spawn_backup(int go_fd, int go_wr, const char *store, const char *uri, const char *errpath)
{
	pid_t pid = fork();
	if (pid == 0) {
		close(go_wr); /* else the end of file never comes */
		char c;
		if (read(go_fd, &c, 1) < 0)
			_exit(126);
		int fd = open(errpath, O_WRONLY | O_CREAT | O_TRUNC, 0600);
		int nul = open("/dev/null", O_WRONLY);
		if (fd >= 0)
			dup2(fd, 2);
		if (nul >= 0)
			dup2(nul, 1);
		execl(T_CLI, T_CLI, "--config", pth("cli.conf"), "--store", store, "-q", "backup", "--overwrite", uri,
		      (char *)NULL);
		_exit(127);
	}
	return pid;
}

static void test_two_backups_at_once(void)
{
	lv_store *a = NULL, *b = NULL;
	CU_ASSERT_EQUAL_FATAL(t_make_store(ctx, pth("a.db"), 30, &a), 0);
	CU_ASSERT_EQUAL_FATAL(t_make_store(ctx, pth("b.db"), 41, &b), 0);
	char uri[800];
	snprintf(uri, sizeof uri, "file://%s", pth("race"));
	/* the digests of the two sets */
	CU_ASSERT_EQUAL_FATAL(t_backup(ctx, a, uri, LV_BACKUP_OVERWRITE, NULL), 0);
	unsigned long da = restore_digest(uri, pth("chk.db"), NULL);
	CU_ASSERT_EQUAL_FATAL(t_backup(ctx, b, uri, LV_BACKUP_OVERWRITE, NULL), 0);
	unsigned long db = restore_digest(uri, pth("chk.db"), NULL);
	lv_store_free(a);
	lv_store_free(b);
	CU_ASSERT_FATAL(da && db && da != db);
	int both = 0, one = 0, holder_named = 0;
	const int rounds = 20;
	for (int round = 0; round < rounds; round++) {
		int go[2];
		CU_ASSERT_EQUAL_FATAL(pipe(go), 0);
		pid_t pa = spawn_backup(go[0], go[1], pth("a.db"), uri, pth("a.err"));
		pid_t pb = spawn_backup(go[0], go[1], pth("b.db"), uri, pth("b.err"));
		close(go[0]);
		close(go[1]); /* both start now */
		int sa = 0, sb = 0;
		waitpid(pa, &sa, 0);
		waitpid(pb, &sb, 0);
		int ea = WIFEXITED(sa) ? WEXITSTATUS(sa) : 255, eb = WIFEXITED(sb) ? WEXITSTATUS(sb) : 255;
		char *ma = slurp(pth("a.err")), *mb = slurp(pth("b.err"));
		if (verbose)
			fprintf(stderr, "\n  round %d: a=%d %s  b=%d %s", round, ea, ma, eb, mb);
		CU_ASSERT(ea == 0 || eb == 0);          /* one wins */
		if (ea == 0 && eb == 0)
			both++;
		else {
			one++;
			const char *lm = ea ? ma : mb;
			CU_ASSERT(ea == 5 || eb == 5); /* BUSY: exit 5 (docs/cli.md) */
			CU_ASSERT(strstr(lm, "BUSY") != NULL);
			if (!strstr(lm, "BUSY"))
				fprintf(stderr, "\n  round %d: the loser said: %s", round, lm);
			/* the holder: its pid and host */
			if (strstr(lm, "pid ") && strstr(lm, "host "))
				holder_named++;
			else
				fprintf(stderr, "\n  round %d: BUSY without the holder: %s", round, lm);
		}
		free(ma);
		free(mb);
		/* never an interleaved set */
		lv_store *s = NULL;
		CU_ASSERT_EQUAL_FATAL(lv_store_open(&s, ctx, pth("a.db"), 0), 0);
		t_events ev;
		int vrc = t_verify(ctx, s, uri, &ev);
		lv_store_free(s);
		CU_ASSERT_EQUAL(vrc, 0);
		unsigned long d = restore_digest(uri, pth("chk.db"), NULL);
		CU_ASSERT(d == da || d == db);
		if (ea == 0 && eb != 0)
			CU_ASSERT_EQUAL(d, da);
		if (eb == 0 && ea != 0)
			CU_ASSERT_EQUAL(d, db);
		/* nothing left behind but the set and the registry */
		char *out = NULL;
		t_sh(&out, "ls -A '%s' | grep -v -e '^licvault-registry-' | wc -l", pth("race"));
		CU_ASSERT_EQUAL(atoi(out), 2);
		free(out);
	}
	if (verbose)
		fprintf(stderr, "\n  %d rounds: both succeeded %d, one BUSY %d (holder named %d)\n", rounds, both, one,
		        holder_named);
	CU_ASSERT_EQUAL(holder_named, one);
}

static int log_stale;
static void stale_log(int level, const char *line, void *ud)
{
	(void)level;
	(void)ud;
	if (strstr(line, "stale"))
		log_stale++;
}

static void test_stale_lock_of_a_killed_backup(void)
{
	/* kill a CLI backup right after it took the lock (the fault driver's crash mode) */
	lv_store *a = NULL;
	CU_ASSERT_EQUAL_FATAL(t_make_store(ctx, pth("stale.db"), 10, &a), 0);
	FILE *f = fopen(pth("crash.conf"), "w");
	CU_ASSERT_PTR_NOT_NULL_FATAL(f);
	fprintf(f, "[licvault]\ndriver_path = %s\n[driver \"fault\"]\nop = commit\nnth = 1\nmode = crash\nwhen = after\n"
	           "match = licvault.lock\n", drvdir);
	fclose(f);
	char *out = NULL;
	int st = t_sh(&out, "exec 2>/dev/null; '%s' --config '%s' --store '%s' -q backup 'fault+file://%s' 2>&1; exit $?", T_CLI,
	              pth("crash.conf"), pth("stale.db"), pth("stale"));
	free(out);
	CU_ASSERT_EQUAL(st, 137);
	char lockp[800];
	snprintf(lockp, sizeof lockp, "%s/licvault.lock", pth("stale"));
	CU_ASSERT_EQUAL(access(lockp, F_OK), 0);  /* the dead run's lock */
	/* the next run: the lock is stale, it says so and goes on */
	lv_context *c = t_context();
	lv_context_set_log(c, LV_LOG_WARN, stale_log, NULL);
	char uri[800];
	snprintf(uri, sizeof uri, "file://%s", pth("stale"));
	log_stale = 0;
	CU_ASSERT_EQUAL(t_backup(c, a, uri, 0, NULL), 0);
	CU_ASSERT(log_stale >= 1);
	CU_ASSERT_NOT_EQUAL(access(lockp, F_OK), 0);
	lv_context_free(c);
	lv_store_free(a);
}

/* ---- backups while the application writes --------------------------------- */

#define WK 40                   /* licenses the writer rewrites per round */

typedef struct writer_state {
	atomic_int stop;
	atomic_int rounds;
	int failed;
} writer_state;

static int write_round(lv_store *s, void *ud)
{
	int round = *(int *)ud;
	char title[64];
	snprintf(title, sizeof title, "round %d", round);
	for (int i = 0; i < WK; i++) {
		lv_license l;
		char kid[32];
		unsigned char payload[200];
		t_license(&l, i, kid, sizeof kid, payload, 50 + (size_t)(round % 100));
		l.rights = LV_RIGHT_PLAY | LV_RIGHT_BACKUP;
		l.title = title;
		int rc = lv_store_add(s, &l, LV_PUT_REPLACE);
		if (rc)
			return rc;
	}
	/* a pair that exists together or not at all */
	for (int k = 0; k < 2; k++) {
		const char *kid = k ? "pair-b" : "pair-a";
		if (round % 2) {
			lv_license l;
			char kbuf[32];
			unsigned char payload[8];
			t_license(&l, 500 + k, kbuf, sizeof kbuf, payload, sizeof payload);
			l.kid = kid;
			l.rights = LV_RIGHT_PLAY | LV_RIGHT_BACKUP;
			l.title = title;
			int rc = lv_store_add(s, &l, LV_PUT_REPLACE);
			if (rc)
				return rc;
		} else {
			int rc = lv_store_remove(s, kid);
			if (rc && rc != LV_E_NOT_FOUND)
				return rc;
		}
	}
	return 0;
}

static void *writer(void *arg)
{
	writer_state *ws = arg;
	lv_store *s = NULL;
	if (lv_store_open(&s, ctx, pth("app.db"), 0)) {
		ws->failed = 1;
		return NULL;
	}
	int round = 1;
	while (!atomic_load(&ws->stop)) {
		int rc = lv_store_transaction(s, write_round, &round);
		if (rc && rc != LV_E_BUSY)
			ws->failed = 1;
		if (!rc)
			atomic_fetch_add(&ws->rounds, 1);
		round++;
	}
	lv_store_free(s);
	return NULL;
}

typedef struct snap_check {
	char title[64];
	int n, mixed, pair;
} snap_check;

static int snap_cb(const lv_license *l, void *ud)
{
	snap_check *c = ud;
	if (!strncmp(l->kid, "pair-", 5)) {
		c->pair++;
		return 0;
	}
	if (!c->title[0])
		snprintf(c->title, sizeof c->title, "%s", l->title ? l->title : "");
	else if (!l->title || strcmp(c->title, l->title))
		c->mixed++;
	c->n++;
	return 0;
}

static void test_backup_while_the_app_writes(void)
{
	lv_store *app = NULL;
	CU_ASSERT_EQUAL_FATAL(lv_store_open(&app, ctx, pth("app.db"), LV_STORE_CREATE), 0);
	int zero = 0;
	CU_ASSERT_EQUAL_FATAL(lv_store_transaction(app, write_round, &zero), 0);
	writer_state ws = {0};
	pthread_t th;
	CU_ASSERT_EQUAL_FATAL(pthread_create(&th, NULL, writer, &ws), 0);
	char uri[800];
	snprintf(uri, sizeof uri, "file://%s", pth("snap"));
	int backups = 0;
	for (int i = 0; i < 12; i++) {
		int rc = t_backup(ctx, app, uri, LV_BACKUP_OVERWRITE, NULL);
		CU_ASSERT_EQUAL(rc, 0);
		if (rc)
			continue;
		backups++;
		copy_file(pth("t0.db"), pth("snapchk.db"));
		lv_store *s = NULL;
		CU_ASSERT_EQUAL_FATAL(lv_store_open(&s, ctx, pth("snapchk.db"), 0), 0);
		CU_ASSERT_EQUAL(t_restore(ctx, s, uri, 0, NULL), 0);
		snap_check c = {"", 0, 0, 0};
		lv_store_foreach(s, snap_cb, &c);
		lv_store_free(s);
		if (verbose)
			fprintf(stderr, "\n  backup %d: %d licenses of '%s', pair %d, mixed %d", i, c.n, c.title, c.pair, c.mixed);
		CU_ASSERT_EQUAL(c.n, WK);       /* every license of the snapshot */
		CU_ASSERT_EQUAL(c.mixed, 0);    /* all of one round */
		CU_ASSERT(c.pair == 0 || c.pair == 2);
	}
	atomic_store(&ws.stop, 1);
	pthread_join(th, NULL);
	CU_ASSERT_FALSE(ws.failed);
	if (verbose)
		fprintf(stderr, "\n  %d backups while the writer committed %d rounds\n", backups, atomic_load(&ws.rounds));
	lv_store_free(app);
}

/* ---- one context, several threads ------------------------------------------- */

typedef struct worker_arg {
	int id;
	int rounds;
	int errors;
	unsigned long want;
} worker_arg;

static void *worker(void *p)
{
	worker_arg *w = p;
	char name[64], uri[800], target[64];
	snprintf(name, sizeof name, "w%d.db", w->id);
	snprintf(target, sizeof target, "w%d-t.db", w->id);
	snprintf(uri, sizeof uri, "file://%s/w%d-loc", dir, w->id);
	lv_store *s = NULL;
	if (lv_store_open(&s, ctx, pth(name), 0)) {
		w->errors++;
		return NULL;
	}
	lv_restorer *r = NULL;
	lv_restorer_new(&r, ctx, s);
	lv_restorer_set_string(r, LV_PROP_BACKUP_PATH, uri);
	lv_restorer_set_string(r, LV_PROP_RESTORE_PATH, uri);
	for (int i = 0; i < w->rounds; i++) {
		t_events ev;
		if (t_run(r, 'b', LV_BACKUP_OVERWRITE, &ev))
			w->errors++;
		if (t_run(r, 'v', 0, &ev))
			w->errors++;
		copy_file(pth("t0.db"), pth(target));
		lv_store *t = NULL;
		if (lv_store_open(&t, ctx, pth(target), 0)) {
			w->errors++;
			continue;
		}
		lv_restorer *rr = NULL;
		lv_restorer_new(&rr, ctx, t);
		lv_restorer_set_string(rr, LV_PROP_RESTORE_PATH, uri);
		if (t_run(rr, 'r', 0, &ev))
			w->errors++;
		unsigned long d = t_store_digest(t);
		if (i == 0)
			w->want = d;
		else if (d != w->want)
			w->errors++;
		lv_restorer_free(rr);
		lv_store_free(t);
	}
	lv_restorer_free(r);
	lv_store_free(s);
	return NULL;
}

static void test_one_context_four_threads(void)
{
	enum { NT = 4 };
	pthread_t th[NT];
	worker_arg args[NT];
	for (int i = 0; i < NT; i++) {
		/* the stores are made here: t_license (testutil) is not thread-safe */
		char name[64];
		snprintf(name, sizeof name, "w%d.db", i);
		lv_store *s = NULL;
		CU_ASSERT_EQUAL_FATAL(t_make_store(ctx, pth(name), 20 + i * 7, &s), 0);
		lv_store_free(s);
	}
	for (int i = 0; i < NT; i++) {
		args[i] = (worker_arg){i, 5, 0, 0};
		CU_ASSERT_EQUAL_FATAL(pthread_create(&th[i], NULL, worker, &args[i]), 0);
	}
	for (int i = 0; i < NT; i++) {
		pthread_join(th[i], NULL);
		if (args[i].errors)
			fprintf(stderr, "\n  thread %d: %d errors\n", i, args[i].errors);
		CU_ASSERT_EQUAL(args[i].errors, 0);
		CU_ASSERT(args[i].want != 0);
	}
}

/* Status callback for runs in flight at once: count ENDs under a mutex. */
typedef struct flight {
	pthread_mutex_t m;
	int ends;
} flight;

static void flight_cb(int status, int result, const lv_value *v, void *ud)
{
	(void)result;
	(void)v;
	flight *f = ud;
	if (status == LV_STATUS_END) {
		pthread_mutex_lock(&f->m);
		f->ends++;
		pthread_mutex_unlock(&f->m);
	}
}

static void test_one_store_two_runs_in_flight(void)
{
	lv_store *s = NULL;
	CU_ASSERT_EQUAL_FATAL(t_make_store(ctx, pth("flight.db"), 60, &s), 0);
	lv_restorer *r1 = NULL, *r2 = NULL, *r3 = NULL;
	lv_restorer_new(&r1, ctx, s);
	lv_restorer_new(&r2, ctx, s);
	lv_restorer_new(&r3, ctx, s);
	char u1[800], u2[800];
	snprintf(u1, sizeof u1, "file://%s", pth("flight-1"));
	snprintf(u2, sizeof u2, "file://%s", pth("flight-2"));
	lv_restorer_set_string(r1, LV_PROP_BACKUP_PATH, u1);
	lv_restorer_set_string(r2, LV_PROP_BACKUP_PATH, u2);
	lv_restorer_set_string(r3, LV_PROP_BACKUP_PATH, u1);  /* the same location as r1: one is BUSY or both pass */
	flight f = {PTHREAD_MUTEX_INITIALIZER, 0};
	CU_ASSERT_EQUAL(lv_restorer_backup(r1, LV_BACKUP_OVERWRITE, flight_cb, &f), 0);
	CU_ASSERT_EQUAL(lv_restorer_backup(r2, LV_BACKUP_OVERWRITE, flight_cb, &f), 0);
	CU_ASSERT_EQUAL(lv_restorer_backup(r3, LV_BACKUP_OVERWRITE, flight_cb, &f), 0);
	int a = -1, b = -1, c = -1;
	lv_restorer_wait(r1, &a);
	lv_restorer_wait(r2, &b);
	lv_restorer_wait(r3, &c);
	CU_ASSERT_EQUAL(b, 0);
	CU_ASSERT(a == 0 || c == 0);
	CU_ASSERT((a == 0 || a == LV_E_BUSY) && (c == 0 || c == LV_E_BUSY));
	CU_ASSERT_EQUAL(f.ends, 3);
	lv_restorer_free(r1);
	lv_restorer_free(r2);
	lv_restorer_free(r3);
	unsigned long d1 = restore_digest(u1, pth("f1.db"), NULL), d2 = restore_digest(u2, pth("f2.db"), NULL);
	CU_ASSERT(d1 != 0 && d1 == d2);
	lv_store_free(s);
}

LV_SUITE(concurrency, concurrency, init, clean,
         {"two backups at once (CLI processes)", test_two_backups_at_once},
         {"stale lock of a killed backup", test_stale_lock_of_a_killed_backup},
         {"backups while the application writes", test_backup_while_the_app_writes},
         {"one context, four threads", test_one_context_four_threads},
         {"one store, runs in flight at once", test_one_store_two_runs_in_flight})
