/*
 * list, ls, forget, unlock: what a location holds, without a store
 * (lv_generations_list, lv_generation_licenses, lv_generations_forget,
 * lv_unlock).
 *
 * Each runs on a thread of its own while the main thread waits for signals
 * (run_in_background): the first SIGINT, SIGTERM or a closed standard output
 * makes the next callback stop the call.  For forget that is between two
 * generations (the library removes each one manifest first, then calls back),
 * so a forget cut short leaves only whole generations; a second SIGINT exits
 * at once.
 */
#include <errno.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli.h"

void format_time(char *buf, size_t cap, int64_t t)
{
	struct tm tm;
	time_t tt = (time_t)t;
	if (t <= 0 || !gmtime_r(&tt, &tm) || !strftime(buf, cap, "%Y-%m-%dT%H:%M:%SZ", &tm))
		snprintf(buf, cap, "-");
}

int64_t parse_generation(const char *s, int newest_ok)
{
	if (newest_ok && !strcmp(s, "newest"))
		return 0;
	char *end;
	errno = 0;
	long long g = strtoll(s, &end, 10);
	return s[0] >= '0' && s[0] <= '9' && !*end && !errno && g >= 1 ? g : -1;
}

typedef struct hist {
	cli *c;
	const char *uri;
	atomic_int stop;           /* set by the main thread on a signal */
	uint64_t n;                /* generations or licenses shown, generations forgotten */
	int damaged;               /* list: a generation is damaged */
	char msg[2048];            /* the library's message on failure */
} hist;

static void stop_hist(void *ud)
{
	hist *h = ud;
	atomic_store(&h->stop, 1);
}

/* A callback's answer: go on (0), or stop (LV_E_CANCELED) after a signal or a closed standard output. */
static int go_on(hist *h)
{
	return atomic_load(&h->stop) || out_stdout_closed() ? LV_E_CANCELED : 0;
}

/* The exit code of a call that ended: the interruption's, or the error's (said on standard error). */
static int hist_exit(hist *h, int override, int rc)
{
	if (override)
		return override;
	if (out_stdout_closed())
		return CLI_EXIT_SIGPIPE;
	if (!rc)
		return 0;
	int ex = out_error(rc, h->msg);
	return rc == LV_E_CANCELED && secret_declined() ? secret_declined() : ex;
}

/* ---- list ------------------------------------------------------------------------------------------ */

static const char *whole_word(int whole)
{
	return whole == LV_GEN_WHOLE ? "whole" : whole == LV_GEN_DAMAGED ? "damaged" : "unchecked";
}

static void json_generation(const lv_generation_info *g, const char *type, int dry_run)
{
	jw j;
	jw_begin(&j, "type", type);
	if (g->generation < 0)
		jw_null(&j, "generation");
	else
		jw_i64(&j, "generation", g->generation);
	if (dry_run >= 0)
		jw_bool(&j, "dry_run", dry_run);
	jw_i64(&j, "format", g->format);
	if (g->created > 0)
		jw_i64(&j, "created", g->created);
	else
		jw_null(&j, "created");
	jw_str(&j, "host", g->host && *g->host ? g->host : NULL);
	jw_str(&j, "machine_id", g->machine_id && *g->machine_id ? g->machine_id : NULL);
	jw_str(&j, "backup_id", g->backup_id && *g->backup_id ? g->backup_id : NULL);
	jw_u64(&j, "licenses", g->licenses);
	jw_u64(&j, "restricted", g->restricted);
	if (g->bytes == UINT64_MAX)
		jw_null(&j, "bytes");
	else
		jw_u64(&j, "bytes", g->bytes);
	jw_str(&j, "whole", whole_word(g->whole));
	jw_str(&j, "problem", g->problem);
	jw_end(&j);
}

/* "   3  2026-11-30T14:02:11Z  host  machine  12 licenses  3.6 KiB" */
static void human_generation(const lv_generation_info *g, char *line, size_t cap)
{
	char when[40], size[32] = "?", gen[24] = "?";
	format_time(when, sizeof when, g->created);
	if (g->bytes != UINT64_MAX)
		format_bytes(size, sizeof size, g->bytes);
	if (g->generation >= 0)
		snprintf(gen, sizeof gen, "%lld", (long long)g->generation);
	snprintf(line, cap, "%6s  %-20s  %-16s  %-32s  %8llu  %10s", gen, when, safe_or(*g->host ? g->host : NULL, "-"),
	         safe_or(*g->machine_id ? g->machine_id : NULL, "-"), (unsigned long long)g->licenses, size);
}

static int list_cb(const lv_generation_info *g, void *ud)
{
	hist *h = ud;
	h->n++;
	h->damaged |= g->whole == LV_GEN_DAMAGED;
	if (h->c->json)
		json_generation(g, "generation", -1);
	else {
		char line[1024];
		human_generation(g, line, sizeof line);
		if (h->n == 1)
			out_human("%6s  %-20s  %-16s  %-32s  %8s  %10s  %s\n", "GEN", "WRITTEN (UTC)", "HOST", "MACHINE",
			          "LICENSES", "SIZE", "STATE");
		out_human("%s  %s\n", line, whole_word(g->whole));
		if (g->problem)
			out_human("        %s\n", safe(g->problem));
	}
	return go_on(h);
}

static int list_job(void *ud)
{
	hist *h = ud;
	int rc = lv_generations_list(h->c->ctx, h->uri, opt_has(h->c, OPT_VERIFY) ? LV_LIST_VERIFY : 0, list_cb, h);
	snprintf(h->msg, sizeof h->msg, "%s", lv_context_last_error(h->c->ctx));
	return rc;
}

int cmd_list(cli *c)
{
	hist h = {.c = c, .uri = c->args[0]};
	keys_guard(c, h.uri, 0);
	int rc = 0;
	int override = run_in_background(list_job, stop_hist, &h, "canceling...", &rc);
	if (!rc && !override && h.n == 0) {
		snprintf(h.msg, sizeof h.msg, "%s holds no backup", uri_for_display(h.uri));
		rc = LV_E_NOT_FOUND;
	}
	if (!rc && !override && h.damaged) {
		snprintf(h.msg, sizeof h.msg, "a generation at %s is damaged (see above)", uri_for_display(h.uri));
		rc = LV_E_BACKUP_CORRUPT;
	}
	return hist_exit(&h, override, rc);
}

/* ---- ls -------------------------------------------------------------------------------------------- */

static const struct {
	unsigned bit;
	const char *name;
} rights[] = {{LV_RIGHT_PLAY, "play"}, {LV_RIGHT_COPY, "copy"}, {LV_RIGHT_BURN, "burn"}, {LV_RIGHT_BACKUP, "backup"}};

/* "play,copy,backup", or "-" */
static void rights_text(uint32_t r, char *buf, size_t cap)
{
	size_t n = 0;
	buf[0] = '\0';
	for (size_t i = 0; i < sizeof rights / sizeof rights[0]; i++)
		if ((r & rights[i].bit) && n < cap)
			n += (size_t)snprintf(buf + n, cap - n, "%s%s", n ? "," : "", rights[i].name);
	if (!n)
		snprintf(buf, cap, "-");
}

static int ls_cb(const lv_license *l, void *ud)
{
	hist *h = ud;
	h->n++;
	if (h->c->json)
		json_license(l);
	else {
		char r[64];
		rights_text(l->rights, r, sizeof r);
		out_human("%-40s %-22s %s\n", safe(l->kid), r, quoted(l->title));
	}
	return go_on(h);
}

typedef struct ls_job_args {
	hist h;
	int64_t generation;
} ls_job_args;

static int ls_job(void *ud)
{
	ls_job_args *a = ud;
	int rc = lv_generation_licenses(a->h.c->ctx, a->h.uri, a->generation, ls_cb, &a->h);
	snprintf(a->h.msg, sizeof a->h.msg, "%s", lv_context_last_error(a->h.c->ctx));
	return rc;
}

int cmd_ls(cli *c)
{
	ls_job_args a = {.h = {.c = c, .uri = c->args[0]}};
	if (opt_has(c, OPT_GENERATION) && (a.generation = parse_generation(c->val[OPT_GENERATION], 1)) < 0)
		return usage_error(c, "--generation %s: expected a generation number (1, 2, ...) or 'newest'",
		                   c->val[OPT_GENERATION]);
	keys_guard(c, a.h.uri, 0);
	out_flush_each_line(0);   /* one write per buffer, not per license */
	int rc = 0;
	int override = run_in_background(ls_job, stop_hist, &a.h, "canceling...", &rc);
	return hist_exit(&a.h, override, rc);
}

/* ---- forget ---------------------------------------------------------------------------------------- */

typedef struct forget_args {
	hist h;
	unsigned keep;
	int64_t generation;
	int dry;
} forget_args;

static int forget_cb(const lv_generation_info *g, void *ud)
{
	forget_args *a = ud;
	a->h.n++;
	if (a->h.c->json)
		json_generation(g, "forgotten", a->dry);
	else if (!a->h.c->quiet) {
		char when[40], size[32] = "?";
		format_time(when, sizeof when, g->created);
		if (g->bytes != UINT64_MAX)
			format_bytes(size, sizeof size, g->bytes);
		out_human("forget: %s generation %lld (written %s on %s, %llu licenses, %s)\n",
		          a->dry ? "would remove" : "removed", (long long)g->generation, when,
		          safe_or(*g->host ? g->host : NULL, "-"), (unsigned long long)g->licenses, size);
	}
	return go_on(&a->h) ? 1 : 0;   /* stop between two generations: the library ends the call there */
}

static int forget_job(void *ud)
{
	forget_args *a = ud;
	int rc = lv_generations_forget(a->h.c->ctx, a->h.uri, a->keep, a->generation, a->dry ? LV_FORGET_DRY_RUN : 0,
	                               forget_cb, a);
	snprintf(a->h.msg, sizeof a->h.msg, "%s", lv_context_last_error(a->h.c->ctx));
	return rc;
}

/* --keep N or --generation G, exactly one. */
static int forget_options(cli *c, forget_args *a)
{
	if (opt_has(c, OPT_KEEP) == opt_has(c, OPT_GENERATION))
		return usage_error(c, "give --keep N or --generation G (one of them)");
	if (opt_has(c, OPT_GENERATION) && (a->generation = parse_generation(c->val[OPT_GENERATION], 0)) < 0)
		return usage_error(c, "--generation %s: expected a generation number (1, 2, ...)", c->val[OPT_GENERATION]);
	if (opt_has(c, OPT_KEEP)) {
		int64_t k = parse_generation(c->val[OPT_KEEP], 0);
		if (k < 1 || k > 1000)
			return usage_error(c, "--keep %s: expected a number of generations from 1 to 1000", c->val[OPT_KEEP]);
		a->keep = (unsigned)k;
	}
	return -1;
}

int cmd_forget(cli *c)
{
	forget_args a = {.h = {.c = c, .uri = c->args[0]}, .dry = opt_has(c, OPT_DRY_RUN)};
	int ex = forget_options(c, &a);
	if (ex >= 0)
		return ex;
	keys_guard(c, a.h.uri, 0);
	int rc = 0;
	int override = run_in_background(forget_job, stop_hist, &a, "stopping after the generation being removed...", &rc);
	const char *verb = a.dry ? "would be removed" : "removed";
	if (override && !a.dry)
		out_note("forget: stopped after %llu generation%s removed; the location holds only whole generations",
		         (unsigned long long)a.h.n, a.h.n == 1 ? "" : "s");
	else if (!rc && !c->json && !c->quiet && a.h.n == 0)
		out_human("forget: nothing to remove at %s\n", safe(uri_for_display(a.h.uri)));
	else if (!rc && !c->json && !c->quiet)
		out_human("forget: %llu generation%s %s\n", (unsigned long long)a.h.n, a.h.n == 1 ? "" : "s", verb);
	return hist_exit(&a.h, override, rc);
}

/* ---- unlock ---------------------------------------------------------------------------------------- */

typedef struct unlock_args {
	hist h;
	int seen;
	char host[256], op[32];
	lv_lock_info info;        /* host and op point into the copies above */
} unlock_args;

static int unlock_cb(const lv_lock_info *l, void *ud)
{
	unlock_args *a = ud;
	a->info = *l;
	snprintf(a->host, sizeof a->host, "%s", l->host ? l->host : "");
	snprintf(a->op, sizeof a->op, "%s", l->op ? l->op : "");
	a->info.host = a->host;
	a->info.op = a->op;
	a->seen = 1;
	return go_on(&a->h);   /* a signal before the removal: the lock stays */
}

static int unlock_job(void *ud)
{
	unlock_args *a = ud;
	int rc = lv_unlock(a->h.c->ctx, a->h.uri, opt_has(a->h.c, OPT_FORCE) ? LV_UNLOCK_FORCE : 0, unlock_cb, a);
	snprintf(a->h.msg, sizeof a->h.msg, "%s", lv_context_last_error(a->h.c->ctx));
	return rc;
}

static void show_lock(const unlock_args *a, int removed)
{
	const lv_lock_info *l = &a->info;
	if (a->h.c->json) {
		jw j;
		jw_begin(&j, "type", "lock");
		jw_str(&j, "host", l->host);
		jw_str(&j, "op", l->op);
		jw_i64(&j, "pid", l->pid);
		jw_i64(&j, "since", l->since);
		jw_i64(&j, "refreshed", l->refreshed);
		jw_bool(&j, "here", l->here);
		jw_bool(&j, "stale", l->stale);
		jw_bool(&j, "removed", removed);
		jw_end(&j);
		return;
	}
	char since[40], refreshed[40];
	format_time(since, sizeof since, l->since);
	format_time(refreshed, sizeof refreshed, l->refreshed);
	out_human("lock at %s: held by a %s of pid %lld on %s (%s), since %s, refreshed %s; %s\n",
	          safe(uri_for_display(a->h.uri)), safe(l->op), (long long)l->pid, safe(l->host),
	          l->here ? "this machine" : "another machine or PID namespace", since, refreshed,
	          l->stale ? "stale: the next run takes it over" : "live");
	if (removed && !a->h.c->quiet)
		out_human("unlock: the lock is removed\n");
}

int cmd_unlock(cli *c)
{
	unlock_args a = {.h = {.c = c, .uri = c->args[0]}};
	keys_guard(c, a.h.uri, 0);
	int rc = 0;
	int override = run_in_background(unlock_job, stop_hist, &a, "canceling...", &rc);
	if (a.seen)
		show_lock(&a, !rc && !override && opt_has(c, OPT_FORCE));
	return hist_exit(&a.h, override, rc);
}
