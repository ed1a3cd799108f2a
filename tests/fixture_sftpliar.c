/* A misbehaving SFTP server, and the sweep over its requests (fixture_sftpliar.h). */
#include "fixture_sftpliar.h"
#include "testutil.h"

#include <dirent.h>
#include <stdatomic.h>
#include <time.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int t_liar_start(t_liar *l, char *why, size_t whylen)
{
	memset(l, 0, sizeof *l);
	if (t_sshd_start_subsystem(&l->s, LV_TEST_SFTPLIAR, why, whylen))
		return -1;
	snprintf(l->log, sizeof l->log, "%s/liar.log", l->s.dir);
	snprintf(l->once, sizeof l->once, "%s/liar.dropped", l->s.dir);
	snprintf(l->keys, sizeof l->keys, "identity_file = %s\nuse_agent = no\nssh_config = no\n", l->s.client_key);
	t_liar_set(l, "%s", "");
	return 0;
}

void t_liar_stop(t_liar *l)
{
	t_sshd_stop(&l->s);
}

void t_liar_set(t_liar *l, const char *fmt, ...)
{
	unlink(l->log);
	unlink(l->once);
	FILE *f = fopen(l->s.subsystem_conf, "w");
	if (!f)
		return;
	fprintf(f, "log %s\nonce %s\n", l->log, l->once);
	va_list ap;
	va_start(ap, fmt);
	vfprintf(f, fmt, ap);
	va_end(ap);
	fclose(f);
}

int t_liar_dropped(const t_liar *l)
{
	return access(l->once, F_OK) == 0;
}

/* Walk the first session of the log: cb(seq, type, rest-of-line) until it returns non-zero. */
static int walk_log(const t_liar *l, int (*cb)(int seq, const char *type, const char *line, void *ud), void *ud)
{
	FILE *f = fopen(l->log, "r");
	if (!f)
		return 0;
	char line[2600];
	int sessions = 0, rc = 0;
	while (!rc && fgets(line, sizeof line, f)) {
		line[strcspn(line, "\n")] = '\0';
		if (!strncmp(line, "session ", 8) && ++sessions > 1)
			break;
		int seq;
		char type[64];
		if (sscanf(line, "%d %63s", &seq, type) == 2)
			rc = cb(seq, type, line, ud);
	}
	fclose(f);
	return rc;
}

static int count_cb(int seq, const char *type, const char *line, void *ud)
{
	(void)type;
	(void)line;
	*(int *)ud = seq;
	return 0;
}

int t_liar_requests(const t_liar *l)
{
	int n = 0;
	walk_log(l, count_cb, &n);
	return n;
}

typedef struct find_ud {
	const char *type, *part;
	int k;
	char line[2600];
} find_ud;

static int find_cb(int seq, const char *type, const char *line, void *ud)
{
	find_ud *f = ud;
	const char *path = strchr(strchr(line, ' ') + 1, ' ');
	if ((f->type && *f->type && strcmp(type, f->type)) || (f->part && (!path || !strstr(path, f->part))))
		return 0;
	if (--f->k > 0)
		return 0;
	snprintf(f->line, sizeof f->line, "%s", line);
	return seq;
}

int t_liar_find(const t_liar *l, const char *type, const char *part, int k)
{
	find_ud f = {type, part, k, ""};
	return walk_log(l, find_cb, &f);
}

const char *t_liar_request(const t_liar *l, int seq)
{
	static char line[2600];
	char key[16];
	snprintf(key, sizeof key, "%d ", seq);
	find_ud f = {NULL, NULL, seq, ""};
	walk_log(l, find_cb, &f);
	snprintf(line, sizeof line, "%s", strncmp(f.line, key, strlen(key)) ? "" : f.line);
	return line;
}

/* ---- a context that keeps its log lines -------------------------------------------- */

static void keep_line(int level, const char *line, void *ud)
{
	t_liar *l = ud;
	snprintf(l->lines[l->n_lines++ % 64], sizeof l->lines[0], "[%d] %s", level, line);
	if (getenv("LV_TEST_VERBOSE") && level <= LV_LOG_WARN)
		fprintf(stderr, "    log: %s\n", line);
}

lv_context *t_liar_context(t_liar *l, const char *name, const char *extra)
{
	char path[700], text[3000];
	snprintf(path, sizeof path, "%s/%s.conf", l->s.dir, name);
	snprintf(text, sizeof text, "%s%s", l->keys, extra ? extra : "");
	lv_context *ctx = t_context();
	if (!ctx || t_sshd_write_config(&l->s, path, text) || lv_context_load_config(ctx, path)) {
		fprintf(stderr, "config %s: %s\n", path, ctx ? lv_context_last_error(ctx) : "no context");
		lv_context_free(ctx);
		return NULL;
	}
	lv_context_set_log(ctx, LV_LOG_INFO, keep_line, l);
	return ctx;
}

int t_liar_logged(const t_liar *l, const char *part, const char **line)
{
	int n = 0;
	if (line)
		*line = NULL;
	for (int i = l->n_lines > 64 ? l->n_lines - 64 : 0; i < l->n_lines; i++)
		if (strstr(l->lines[i % 64], part)) {
			n++;
			if (line)
				*line = l->lines[i % 64];
		}
	return n;
}

void t_liar_lines_clear(t_liar *l)
{
	l->n_lines = 0;
}

/* ---- the sweep ------------------------------------------------------------------------- */

typedef struct sweep_ctx {
	t_liar *l;
	const t_sweep *sw;
	lv_context *ctx;
	lv_store *s_new;
	char dir[600], pristine[600], snap[600], target[600], scratch[600];
	char uri[900], snap_uri[900];
	unsigned long dig_old, dig_new;
	int64_t gen_old, gen_new;
	char clean_log[700];       /* the wrapper's log of the clean run */
	int seqs[4096];            /* where to drop: the k-th request passing the filters */
	int n_seqs;
} sweep_ctx;

static void sh(const char *fmt, const char *a, const char *b)
{
	char *out = NULL;
	t_sh(&out, fmt, a, b);
	free(out);
}

static int backup_msg(lv_context *ctx, lv_store *s, const char *uri, unsigned flags, char *msg, size_t cap)
{
	lv_restorer *r = NULL;
	if (lv_restorer_new(&r, ctx, s))
		return LV_E_NOMEM;
	lv_restorer_set_string(r, LV_PROP_BACKUP_PATH, uri);
	int rc = t_run(r, 'b', flags, NULL);
	snprintf(msg, cap, "%s", lv_restorer_last_error(r) ? lv_restorer_last_error(r) : "");
	lv_restorer_free(r);
	return rc;
}

typedef struct newest_acc {
	int64_t gen;
	int damaged;               /* generations listed that a check found damaged */
} newest_acc;

static int newest_cb(const lv_generation_info *g, void *ud)
{
	newest_acc *n = ud;
	if (g->generation > n->gen)
		n->gen = g->generation;
	n->damaged += g->whole == LV_GEN_DAMAGED;
	return 0;
}

/* The newest generation listed (-1 when the listing fails); with verify, -2 when one is damaged. */
static int64_t newest_generation(lv_context *ctx, const char *uri, int verify)
{
	newest_acc n = {0, 0};
	if (lv_generations_list(ctx, uri, verify ? LV_LIST_VERIFY : 0, newest_cb, &n))
		return -1;
	return n.damaged ? -2 : n.gen;
}

/*
 * The digest of what the location restores: from a copy (snap), so the location itself stays as it is,
 * read through file:// (what the server holds, without one more SSH session per check).
 */
static unsigned long snapshot_digest(sweep_ctx *x, int *rc)
{
	t_rmrf(x->snap);
	sh("cp -a '%s' '%s'", x->dir, x->snap);
	return t_restore_digest(x->ctx, x->target, x->scratch, x->snap_uri, rc);
}

/* What a drop left at the location: the driver's dot files, packs without a manifest above the newest. */
typedef struct leftovers {
	int dots, orphans, locks;
	char listing[1500];
} leftovers;

static void look(const char *dir, int64_t newest, leftovers *o)
{
	memset(o, 0, sizeof *o);
	DIR *d = opendir(dir);
	struct dirent *de;
	size_t off = 0;
	while (d && (de = readdir(d))) {
		const char *n = de->d_name;
		if (!strcmp(n, ".") || !strcmp(n, ".."))
			continue;
		if (off < sizeof o->listing - 300)
			off += (size_t)snprintf(o->listing + off, sizeof o->listing - off, "%s ", n);
		unsigned long long g;
		if (n[0] == '.')
			o->dots++;
		else if (strstr(n, "licvault.lock"))
			o->locks++;
		else if (sscanf(n, "licvault-g%16llx.pack", &g) == 1 && (int64_t)g > newest)
			o->orphans++; /* above the newest generation: it has no manifest */
	}
	if (d)
		closedir(d);
}

/* The location as it was before the drop: the old set only. */
static void reset_location(sweep_ctx *x)
{
	t_rmrf(x->dir);
	sh("cp -a '%s' '%s'", x->pristine, x->dir);
}

static const char *put_right_line = "put right what an interrupted run left";

/*
 * After a drop: the location holds the old set or the new one, whole.
 * reached: the new manifest's rename reached the server before the drop.  Returns the newest generation.
 */
static int64_t check_one_of_two(sweep_ctx *x, int reached, int rc)
{
	int rrc = -1;
	unsigned long d = snapshot_digest(x, &rrc);
	int64_t newest = newest_generation(x->ctx, x->snap_uri, 1); /* every generation checked whole */
	CU_ASSERT(newest > 0);
	CU_ASSERT_EQUAL(rrc, 0);
	CU_ASSERT((d == x->dig_old && newest == x->gen_old) || (d == x->dig_new && newest == x->gen_new));
	if (rc == 0)
		CU_ASSERT_EQUAL(d, x->dig_new); /* said ok: the new set is there */
	if (x->sw->kind == 's' && !reached)
		CU_ASSERT_EQUAL(d, x->dig_old); /* the new manifest never got its name */
	return newest;
}

/* The next backup puts right what the drop left, says so in one line, and leaves nothing behind. */
static void check_next_backup(sweep_ctx *x, const leftovers *before)
{
	t_liar_lines_clear(x->l);
	char msg[1024];
	int rc = backup_msg(x->ctx, x->s_new, x->uri, LV_BACKUP_OVERWRITE, msg, sizeof msg);
	CU_ASSERT_EQUAL(rc, 0);
	if (rc)
		fprintf(stderr, "\n    the next backup: %s: %s\n", lv_error_name(rc), msg);
	const char *line = NULL;
	int said = t_liar_logged(x->l, put_right_line, &line);
	if (before->dots || before->orphans) {
		CU_ASSERT_EQUAL(said, 1);
		char count[64];
		snprintf(count, sizeof count, "%d object%s of the driver's", before->dots, before->dots == 1 ? "" : "s");
		CU_ASSERT(line && strstr(line, count));
		if (line && !strstr(line, count))
			fprintf(stderr, "\n    expected '%s' in: %s\n", count, line);
	} else if (x->sw->kind == 's') {
		CU_ASSERT_EQUAL(said, 0);
	} else {
		CU_ASSERT(said <= 1);
	}
	leftovers after;
	look(x->dir, INT64_MAX, &after);
	CU_ASSERT_EQUAL(after.dots, 0);
	CU_ASSERT_EQUAL(after.locks, 0);
}

/* A request's log line without its random parts (tmp-HEX, old-HEX, lvprobe-HEX), to compare runs. */
static const char *unrandom(const char *line, char *out, size_t cap)
{
	size_t o = 0;
	for (const char *p = line; *p && o + 1 < cap; p++) {
		out[o++] = *p;
		if (*p == '-' && p >= line + 3 && (!strncmp(p - 3, "tmp", 3) || !strncmp(p - 3, "old", 3) ||
		                                   !strncmp(p - 3, "obe", 3)))
			while (p[1] && strchr("0123456789abcdef", p[1]))
				p++;
	}
	while (o && (out[o - 1] == '\n' || out[o - 1] == ' '))
		o--;
	out[o] = '\0';
	return out;
}

/*
 * One drop, then every check: at the k-th request that passes the sweep's
 * filters (the wrapper counts them: exact whatever libssh2's read-ahead
 * adds), or without filters at request k.
 */
static void sweep_one(sweep_ctx *x, int k, int after)
{
	const t_sweep *sw = x->sw;
	unsigned failures = CU_get_number_of_failures();
	reset_location(x);
	t_liar_set(x->l, "type %s\nmatch %s\ndrop %d\nwhen %s\n%s", sw->only_type ? sw->only_type : "",
	           sw->only_part ? sw->only_part : "", k, after ? "after" : "before",
	           sw->refuse ? "refuse-after-drop\n" : "");
	char msg[1024];
	int rc = backup_msg(x->ctx, x->s_new, x->uri, LV_BACKUP_OVERWRITE, msg, sizeof msg);
	int n = t_liar_requests(x->l); /* the dropped one is the last the server saw */
	char request[600];
	snprintf(request, sizeof request, "%s", t_liar_request(x->l, n));
	int man = t_liar_find(x->l, "rename", ".manifest", 1);
	int reached = man && (man < n || (after && man == n));
	/* unfiltered, the last request or two of a clean run may not come (libssh2's read-ahead varies):
	 * then the run went through whole */
	CU_ASSERT(t_liar_dropped(x->l) || (!sw->only_type && !sw->only_part && rc == 0));
	if (rc)
		CU_ASSERT(msg[0] != '\0'); /* a failure says what, where and why */
	t_liar_set(x->l, "%s", "");
	int64_t newest = check_one_of_two(x, reached, rc);
	leftovers left;
	look(x->dir, newest, &left);
	check_next_backup(x, &left);
	if (getenv("LV_TEST_VERBOSE")) {
		char *out = NULL;
		t_sh(&out, "grep -m1 '^%d ' '%s'", n, x->clean_log);
		char a[600], b[600];
		if (out && strcmp(unrandom(out, a, sizeof a), unrandom(request, b, sizeof b)))
			fprintf(stderr, "\n  (the clean run's request %d was: %s)", n, out);
		free(out);
	}
	if (getenv("LV_TEST_VERBOSE") || CU_get_number_of_failures() != failures)
		fprintf(stderr, "\n  drop %s at %s (%s): %s%s%s; left: %s\n", after ? "after" : "before", request,
		        sw->refuse ? "then unreachable" : "reachable", rc ? lv_error_name(rc) : "ok", rc ? ": " : "",
		        rc ? msg : "", left.listing);
}

/* The old set at the location (kept as `pristine`), the new set's clean run (its requests numbered). */
static int sweep_setup(sweep_ctx *x, lv_store *s_old)
{
	static const char *const kids[] = {"own-1", "own-2", "kid-000001"};
	static int k;
	t_liar *l = x->l;
	int n = k++;
	snprintf(x->dir, sizeof x->dir, "%s/sweep%d", l->s.data, n);
	snprintf(x->pristine, sizeof x->pristine, "%s/sweep%d-pristine", l->s.data, n);
	snprintf(x->snap, sizeof x->snap, "%s/sweep%d-snap", l->s.data, n);
	snprintf(x->target, sizeof x->target, "%s/sweep%d-target.db", l->s.dir, n);
	snprintf(x->scratch, sizeof x->scratch, "%s/sweep%d-scratch.db", l->s.dir, n);
	const char *file = x->sw->kind == 'b' ? "/lic.lvb" : "";
	snprintf(x->uri, sizeof x->uri, "%ssftp://127.0.0.1:%d%s%s", file[0] ? "bundle+" : "", l->s.port, x->dir, file);
	snprintf(x->snap_uri, sizeof x->snap_uri, "%sfile://%s%s", file[0] ? "bundle+" : "", x->snap, file);
	if (t_make_target(x->ctx, x->target, kids, 3))
		return -1;
	char msg[1024];
	int rc, rrc = -1;
	t_liar_set(l, "%s", "");
	if ((rc = backup_msg(x->ctx, s_old, x->uri, 0, msg, sizeof msg))) {
		fprintf(stderr, "sweep: the old set: %s: %s\n", lv_error_name(rc), msg);
		return -1;
	}
	x->gen_old = newest_generation(x->ctx, x->uri, 0);
	x->dig_old = snapshot_digest(x, &rrc);
	sh("cp -a '%s' '%s'", x->dir, x->pristine);
	t_liar_set(l, "%s", "");
	if (rrc || (rc = backup_msg(x->ctx, x->s_new, x->uri, LV_BACKUP_OVERWRITE, msg, sizeof msg))) {
		fprintf(stderr, "sweep: the new set: %s: %s\n", lv_error_name(rc ? rc : rrc), msg);
		return -1;
	}
	x->gen_new = newest_generation(x->ctx, x->uri, 0);
	snprintf(x->clean_log, sizeof x->clean_log, "%s.log", x->pristine);
	sh("cp '%s' '%s'", l->log, x->clean_log);
	int total = t_liar_requests(l);
	const t_sweep *sw = x->sw;
	int filtered = sw->only_type || sw->only_part;
	for (int i = 1; x->n_seqs < 4096; i++) {
		if ((filtered && !t_liar_find(l, sw->only_type, sw->only_part, i)) || (!filtered && i > total) ||
		    (sw->to && i > sw->to))
			break;
		if (i >= sw->from && (i - sw->from) % (sw->step > 0 ? sw->step : 1) == 0)
			x->seqs[x->n_seqs++] = i;
	}
	x->dig_new = snapshot_digest(x, &rrc);
	return rrc || x->dig_new == x->dig_old || x->gen_new <= x->gen_old ? -1 : 0;
}

int t_liar_sweep(t_liar *l, const t_sweep *sw)
{
	sweep_ctx *x = calloc(1, sizeof *x);
	CU_ASSERT_PTR_NOT_NULL_FATAL(x);
	x->l = l;
	x->sw = sw;
	x->ctx = t_liar_context(l, sw->kind == 'b' ? "sweep-b" : "sweep-s",
	                        "[licvault]\nkeep = 1\n[service]\nrestores_per_day = 1000000\n");
	CU_ASSERT_PTR_NOT_NULL_FATAL(x->ctx);
	char p[700];
	lv_store *s_old = NULL;
	static int stores;
	snprintf(p, sizeof p, "%s/sweep-old-%d.db", l->s.dir, ++stores);
	int rc = t_make_store(x->ctx, p, 6, &s_old);
	snprintf(p, sizeof p, "%s/sweep-new-%d.db", l->s.dir, stores);
	if (!rc)
		rc = t_make_store(x->ctx, p, 9, &x->s_new);
	CU_ASSERT_EQUAL(rc, 0);
	if (!rc)
		CU_ASSERT_EQUAL(rc = sweep_setup(x, s_old), 0);
	int made = 0;
	for (int i = 0; !rc && i < x->n_seqs; i++)
		for (int after = sw->after == 1; after <= (sw->after != 0); after++, made++)
			sweep_one(x, x->seqs[i], after);
	lv_store_free(s_old);
	lv_store_free(x->s_new);
	lv_context_free(x->ctx);
	free(x);
	return made;
}

/* ---- helpers of the suites ------------------------------------------------------------ */

void t_liar_location(const t_liar *l, char *dir, size_t dcap, char *uri, size_t ucap, const char *tag)
{
	static int n;
	snprintf(dir, dcap, "%s/%s-%d", l->s.data, tag, n++);
	snprintf(uri, ucap, "sftp://127.0.0.1:%d%s", l->s.port, dir);
}

int t_liar_run(lv_context *ctx, lv_store *s, const char *uri, int kind, unsigned flags, char *msg, size_t cap)
{
	int rc = t_run_uri(ctx, s, uri, kind, flags, msg, cap);
	if (getenv("LV_TEST_VERBOSE"))
		fprintf(stderr, "\n  [%c] %s: %s", kind, lv_error_name(rc), msg);
	return rc;
}

int t_count_dots(const char *dir, const char *part)
{
	DIR *d = opendir(dir);
	int n = 0;
	struct dirent *de;
	while (d && (de = readdir(d)))
		if (de->d_name[0] == '.' && strcmp(de->d_name, ".") && strcmp(de->d_name, "..") &&
		    (!part || strstr(de->d_name, part)))
			n++;
	if (d)
		closedir(d);
	return n;
}

static int gens_cb(const lv_generation_info *g, void *ud)
{
	char *s = ud;
	sprintf(s + strlen(s), "%lld;", (long long)g->generation);
	return 0;
}


const char *t_liar_gens(lv_context *ctx, const char *uri)
{
	static char s[512];
	s[0] = '\0';
	if (lv_generations_list(ctx, uri, 0, gens_cb, s))
		snprintf(s, sizeof s, "(cannot list: %s)", lv_context_last_error(ctx));
	return s;
}

unsigned long t_liar_digest(const t_liar *l, lv_context *ctx, const char *uri)
{
	static int n;
	char db[700];
	snprintf(db, sizeof db, "%s/digest-%d.db", l->s.dir, n++);
	lv_store *s = NULL;
	if (t_make_store(ctx, db, 0, &s))
		return 0;
	int rc = t_restore(ctx, s, uri, LV_RESTORE_INDIVIDUALIZE, NULL);
	unsigned long d = rc ? 0 : t_store_digest(s);
	lv_store_free(s);
	return d;
}


lv_store *t_liar_store(const t_liar *l, lv_context *ctx, const char *tag, int n)
{
	return t_new_store(ctx, l->s.dir, tag, n);
}

/* ---- a replacing commit cut between its renames ----------------------------------------- */

typedef struct loc {
	lv_location *l;
	const lv_driver_ops *ops;
	void *inst;
} loc;

static int loc_open(lv_context *ctx, const char *uri, loc *o)
{
	memset(o, 0, sizeof *o);
	int rc = lv_location_open(&o->l, ctx, uri, LV_OPEN_WRITE);
	if (rc) {
		fprintf(stderr, "\n  open %s: %s\n", uri, lv_context_last_error(ctx));
		return rc;
	}
	o->ops = lv_location_driver_ops(o->l);
	o->inst = lv_location_driver_instance(o->l);
	return 0;
}

static int put_object(loc *o, const char *name, const char *text, unsigned flags)
{
	lv_writer *w = NULL;
	int rc = o->ops->write_begin(o->inst, name, strlen(text), &w);
	if (!rc && (rc = o->ops->write(w, text, strlen(text))))
		o->ops->abort(w);
	else if (!rc)
		rc = o->ops->commit(w, flags);
	return rc;
}

static void file_text(const char *dir, const char *name, char *out, size_t cap)
{
	char p[800];
	snprintf(p, sizeof p, "%s/%s", dir, name);
	FILE *f = fopen(p, "r");
	size_t n = f ? fread(out, 1, cap - 1, f) : 0;
	out[n] = '\0';
	if (f)
		fclose(f);
	else
		snprintf(out, cap, "(absent)");
}

/*
 * The lock's refresh is a replacing commit of licvault.lock; on SFTP v3 two
 * renames (NAME aside, the new one in).  Cut at rename k (before or after
 * the server did it), the server reachable again at once (the driver settles
 * it) or only for the next run (its cleanup does, and counts it): the name
 * then holds the old object or the new one, never nothing, and nothing of
 * the driver's is left.
 */
void t_liar_cut_replace(t_liar *l, lv_context *ctx, int k, int after, int refuse)
{
	char dir[600], uri[800], text[256], dots_before[64];
	t_liar_location(l, dir, sizeof dir, uri, sizeof uri, "replace");
	loc o;
	t_liar_set(l, "%s", "");
	CU_ASSERT_EQUAL_FATAL(loc_open(ctx, uri, &o), 0);
	CU_ASSERT_EQUAL(put_object(&o, "licvault.lock", "the old lock\n", 0), 0);
	lv_location_close(o.l);
	t_liar_set(l, "type rename\nmatch licvault.lock\ndrop %d\nwhen %s\n%s", k, after ? "after" : "before",
	           refuse ? "refuse-after-drop\n" : "");
	CU_ASSERT_EQUAL_FATAL(loc_open(ctx, uri, &o), 0);
	CU_ASSERT_EQUAL(put_object(&o, "licvault.lock", "the new lock\n", LV_COMMIT_REPLACE), LV_E_IO);
	CU_ASSERT(t_liar_dropped(l));
	lv_location_close(o.l);
	int aside = t_count_dots(dir, ".licvault.lock.old-"), dots = t_count_dots(dir, NULL);
	file_text(dir, "licvault.lock", text, sizeof text);
	int gone = !strcmp(text, "(absent)");
	snprintf(dots_before, sizeof dots_before, "%d", dots);
	if (!refuse) {
		/* the driver settled it through a new connection: the old one back, or the new one kept */
		CU_ASSERT_FALSE(gone);
		CU_ASSERT_EQUAL(dots, 0);
	} else if ((k == 1 && after) || (k == 2 && !after)) {
		CU_ASSERT(gone && aside == 1); /* NAME absent, the old one set aside: what cleanup must undo */
	}
	t_liar_set(l, "%s", "");
	CU_ASSERT_EQUAL_FATAL(loc_open(ctx, uri, &o), 0);
	CU_ASSERT_EQUAL(o.ops->cleanup(o.inst), dots); /* how many it put right */
	lv_location_close(o.l);
	file_text(dir, "licvault.lock", text, sizeof text);
	CU_ASSERT_STRING_EQUAL(text, k == 2 && after ? "the new lock\n" : "the old lock\n");
	CU_ASSERT_EQUAL(t_count_dots(dir, NULL), 0);
	if (getenv("LV_TEST_VERBOSE"))
		fprintf(stderr, "\n  replace cut at rename %d %s (%s): %d left, now: %s", k, after ? "after" : "before",
		        refuse ? "then unreachable" : "reachable", dots, text);
}

/* A status callback that holds the run once, at its first progress, past the lock's refresh interval. */
typedef struct holder {
	double seconds;
	atomic_int held;
} holder;

static void hold_once(int status, int result, const lv_value *v, void *ud)
{
	(void)result;
	(void)v;
	holder *h = ud;
	if (status != LV_STATUS_PROGRESS || atomic_exchange(&h->held, 1))
		return;
	struct timespec ts = {(time_t)h->seconds, (long)((h->seconds - (time_t)h->seconds) * 1e9)};
	nanosleep(&ts, NULL); /* the next write refreshes the lock (lock_stale_after = 60: every 4 s) */
}

static int backup_held(lv_context *ctx, lv_store *s, const char *uri, char *msg, size_t cap)
{
	lv_restorer *r = NULL;
	CU_ASSERT_EQUAL_FATAL(lv_restorer_new(&r, ctx, s), 0);
	lv_restorer_set_string(r, LV_PROP_BACKUP_PATH, uri);
	holder h = {4.2, 0};
	int rc = lv_restorer_backup(r, LV_BACKUP_OVERWRITE, hold_once, &h);
	int result = rc;
	if (!rc)
		lv_restorer_wait(r, &result);
	snprintf(msg, cap, "%s", lv_restorer_last_error(r) ? lv_restorer_last_error(r) : "");
	lv_restorer_free(r);
	return result;
}

/*
 * Through the core: a backup whose lock refresh (the third rename of
 * licvault.lock in its session: taken, then set aside, then the new one in)
 * loses the connection between its two renames.  With the server
 * unreachable after it (refuse), the location holds no lock but the old one
 * set aside; the next backup takes the lock, puts right what was left (one
 * line, with the driver's count).  Reachable, the driver puts the old lock
 * back at once and the run releases it.  Nothing is lost either way.
 */
void t_liar_cut_refresh(t_liar *l, int refuse)
{
	lv_context *ctx = t_liar_context(l, "refresh", "[licvault]\nlock_stale_after = 60\n[service]\nrestores_per_day = 1000000\n");
	CU_ASSERT_PTR_NOT_NULL_FATAL(ctx);
	lv_store *old = t_liar_store(l, ctx, "refresh-old", 10), *cur = t_liar_store(l, ctx, "refresh-new", 12);
	char dir[600], uri[800], msg[1024];
	t_liar_location(l, dir, sizeof dir, uri, sizeof uri, "refresh");
	t_liar_set(l, "%s", "");
	CU_ASSERT_EQUAL_FATAL(t_liar_run(ctx, old, uri, 'b', 0, msg, sizeof msg), 0);
	t_liar_set(l, "type rename\nmatch licvault.lock\ndrop 3\n%s", refuse ? "refuse-after-drop\n" : "");
	CU_ASSERT_EQUAL(backup_held(ctx, cur, uri, msg, sizeof msg), LV_E_IO);
	/* the refresh did happen, and the cut fell between its renames */
	int n = t_liar_requests(l);
	CU_ASSERT(t_liar_dropped(l));
	CU_ASSERT(t_liar_find(l, "rename", ".licvault.lock.old-", 1) > 0);
	CU_ASSERT_PTR_NOT_NULL(strstr(t_liar_request(l, n), "/.licvault.lock.tmp-"));
	char text[256];
	file_text(dir, "licvault.lock", text, sizeof text);
	int dots = t_count_dots(dir, NULL);
	if (refuse) {
		/* no lock but the old one set aside, for the next run to find */
		CU_ASSERT_STRING_EQUAL(text, "(absent)");
		CU_ASSERT_EQUAL(t_count_dots(dir, ".licvault.lock.old-"), 1);
	} else {
		/* the driver put the old lock back at once, and the run released it */
		CU_ASSERT_STRING_EQUAL(text, "(absent)");
		CU_ASSERT_EQUAL(dots, 0);
	}
	t_liar_set(l, "%s", "");
	t_liar_lines_clear(l);
	CU_ASSERT_EQUAL(t_liar_run(ctx, cur, uri, 'b', LV_BACKUP_OVERWRITE, msg, sizeof msg), 0);
	const char *line = NULL;
	CU_ASSERT_EQUAL(t_liar_logged(l, "put right what an interrupted run left", &line), dots ? 1 : 0);
	char count[64];
	snprintf(count, sizeof count, "%d object%s of the driver's", dots, dots == 1 ? "" : "s");
	CU_ASSERT(!dots || (line && strstr(line, count)));
	CU_ASSERT_EQUAL(t_count_dots(dir, NULL), 0);
	file_text(dir, "licvault.lock", text, sizeof text);
	CU_ASSERT_STRING_EQUAL(text, "(absent)"); /* released */
	CU_ASSERT_STRING_EQUAL(t_liar_gens(ctx, uri), "1;2;");
	/* and it restores the new set, as a clean backup of the same store does */
	char ref_dir[600], ref[800];
	t_liar_location(l, ref_dir, sizeof ref_dir, ref, sizeof ref, "refresh-ref");
	CU_ASSERT_EQUAL(t_liar_run(ctx, cur, ref, 'b', 0, msg, sizeof msg), 0);
	unsigned long want = t_liar_digest(l, ctx, ref);
	CU_ASSERT(want != 0);
	CU_ASSERT_EQUAL(t_liar_digest(l, ctx, uri), want);
	lv_store_free(old);
	lv_store_free(cur);
	lv_context_free(ctx);
}

/* ---- the suites' shared set-up (one sshd with the wrapper per suite) ------------------------ */

static t_liar suite_liar;
static int suite_up;
static char suite_why[1024];

int t_liar_suite_init(void)
{
	suite_up = t_liar_start(&suite_liar, suite_why, sizeof suite_why) == 0;
	if (!suite_up)
		fprintf(stderr, "sftpliar: the test sshd cannot start, the cases are skipped: %s\n", suite_why);
	return 0;
}

int t_liar_suite_clean(void)
{
	if (suite_up)
		t_liar_stop(&suite_liar);
	suite_up = 0;
	return 0;
}

t_liar *t_liar_suite(void)
{
	return suite_up ? &suite_liar : NULL;
}

const char *t_liar_suite_why(void)
{
	return suite_why;
}
