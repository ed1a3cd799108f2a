/*
 * backup, restore, verify: a run on the library's worker thread, its events
 * shown as they come (JSON lines, or the progress bar and human lines), and
 * the main thread waiting on the wake pipe for END, a signal or a closed
 * standard output (signals.c).
 *
 * With --json the output always starts with `begin` and ends with `end`,
 * even when the run could not start (docs/json.md).  The summary is the
 * library's (lv_restorer_result).
 */
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>


#include "cli.h"

typedef struct run_view {
	cli *c;
	int kind;                 /* 'b' backup, 'r' restore, 'v' verify */
	const char *what;         /* "backup" */
	const char *uri;
	unsigned flags;
	progress *prog;
	double t0;
	int began;                /* `begin` written */
	int result;
	char message[2048];
	int has_message;
	lv_run_result res;        /* the library's summary, once the run ended */
	int has_res;
} run_view;

/* What a run did; -1: not known, or not a field of this command. */
typedef struct run_summary {
	int64_t generation, licenses, written, restored, refused, restricted;
	uint64_t bytes;
	double seconds;
} run_summary;

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* The summary: the library's, with each count that is not a field of this command left out. */
static run_summary summary_of(const run_view *v)
{
	run_summary s = {-1, -1, -1, -1, -1, -1, 0, now() - v->t0};
	if (!v->has_res)
		return s;
	const lv_run_result *r = &v->res;
	s.generation = r->generation >= 0 ? r->generation : -1;
	s.licenses = (int64_t)r->licenses;
	s.bytes = r->bytes;
	s.seconds = (double)r->duration_ms / 1000.0;
	if (v->kind == 'b') {
		s.written = (int64_t)r->written;
		s.restricted = (int64_t)r->restricted;
	} else if (v->kind == 'r') {
		s.restored = (int64_t)r->restored;
		s.refused = (int64_t)r->refused;
	}
	return s;
}

static void json_begin(run_view *v)
{
	jw j;
	jw_begin(&j, "event", "begin");
	jw_u64(&j, "schema", CLI_JSON_SCHEMA);
	jw_str(&j, "command", v->what);
	jw_str(&j, "uri", uri_for_display(v->uri));
	jw_bool(&j, "dry_run", opt_has(v->c, OPT_DRY_RUN));
	jw_end(&j);
	v->began = 1;
}

static void json_count(jw *j, const char *key, int64_t n)
{
	if (n < 0)
		jw_null(j, key);
	else
		jw_i64(j, key, n);
}

static void json_end(run_view *v, int exit_code)
{
	run_summary s = summary_of(v);
	jw j;
	jw_begin(&j, "event", "end");
	jw_str(&j, "result", v->result ? lv_error_name(v->result) : "ok");
	jw_i64(&j, "exit_code", exit_code);
	jw_str(&j, "message", v->has_message ? v->message : NULL);
	json_count(&j, "generation", s.generation);
	json_count(&j, "licenses", s.licenses);
	json_count(&j, "written", s.written);
	json_count(&j, "restored", s.restored);
	json_count(&j, "refused", s.refused);
	json_count(&j, "restricted", s.restricted);
	jw_u64(&j, "bytes", s.bytes);
	jw_num(&j, "duration", s.seconds);
	jw_end(&j);
}

static void json_license_event(const char *event, const lv_value *val, int reason)
{
	jw j;
	jw_begin(&j, "event", event);
	jw_str(&j, "kid", val->u.license.kid);
	jw_str(&j, "title", val->u.license.title);
	if (reason)
		jw_str(&j, "reason", lv_error_name(reason));
	jw_end(&j);
}

static void json_event(run_view *v, int status, int result, const lv_value *val)
{
	jw j;
	switch (status) {
	case LV_STATUS_BEGIN: json_begin(v); return;
	case LV_STATUS_RESTRICTED_LICENSE: json_license_event("restricted_license", val, 0); return;
	case LV_STATUS_REFUSED_LICENSE: json_license_event("refused_license", val, result); return;
	case LV_STATUS_PROGRESS:
		jw_begin(&j, "event", "progress");
		jw_u64(&j, "done", val->u.progress.done);
		jw_u64(&j, "total", val->u.progress.total);
		jw_u64(&j, "bytes", val->u.progress.bytes);
		jw_end(&j);
		return;
	case LV_STATUS_INDIVIDUALIZE:
		jw_begin(&j, "event", "individualize");
		jw_str(&j, "machine_id", val->type == LV_TYPE_STRING ? val->u.str : NULL);
		jw_end(&j);
		return;
	case LV_STATUS_CONNECTING:
	case LV_STATUS_DISCONNECTING:
		jw_begin(&j, "event", lv_status_name(status));
		jw_end(&j);
		return;
	}
}

static void human_event(run_view *v, int status, int result, const lv_value *val)
{
	cli *c = v->c;
	switch (status) {
	case LV_STATUS_RESTRICTED_LICENSE:
		if (c->verbose && !c->quiet)
			out_human("%s: not backed up (no backup right): %s %s\n", v->what, safe(val->u.license.kid),
			          quoted(val->u.license.title));
		break;
	case LV_STATUS_REFUSED_LICENSE:
		if (c->verbose && !c->quiet)
			out_human("%s: refused (%s): %s %s\n", v->what, lv_error_name(result), safe(val->u.license.kid),
			          quoted(val->u.license.title));
		break;
	case LV_STATUS_CONNECTING:
		if (!c->quiet)
			out_human("%s: connecting to the license service\n", v->what);
		break;
	case LV_STATUS_DISCONNECTING:
		if (!c->quiet)
			out_human("%s: disconnecting from the license service\n", v->what);
		break;
	case LV_STATUS_INDIVIDUALIZE:
		if (!c->quiet)
			out_human("%s: store individualized: machine %s\n", v->what,
			          safe(val->type == LV_TYPE_STRING ? val->u.str : NULL));
		break;
	}
}

/* The status callback, on the worker thread. */
static void on_status(int status, int result, const lv_value *val, void *ud)
{
	run_view *v = ud;
	if (status == LV_STATUS_PROGRESS)
		progress_update(v->prog, val->u.progress.done, val->u.progress.total, val->u.progress.bytes);
	else if (status == LV_STATUS_END) {
		v->result = result;
		v->has_message = val && val->type == LV_TYPE_STRING && val->u.str;
		snprintf(v->message, sizeof v->message, "%s", v->has_message ? val->u.str : "");
		wake('E');
		return;
	}
	if (v->c->json)
		json_event(v, status, result, val);
	else
		human_event(v, status, result, val);
}

/* Append ", item" (": item" the first time) to the summary line. */
static int add(char *line, size_t cap, int n, const char *fmt, ...) __attribute__((format(printf, 4, 5)));
static int add(char *line, size_t cap, int n, const char *fmt, ...)
{
	if ((size_t)n >= cap)
		return n;
	n += snprintf(line + n, cap - (size_t)n, "%s", strchr(line, ':') ? ", " : ": ");
	va_list ap;
	va_start(ap, fmt);
	if ((size_t)n < cap)
		n += vsnprintf(line + n, cap - (size_t)n, fmt, ap);
	va_end(ap);
	return n;
}

/* "backup: ok: 8 licenses written, 4 restricted (no backup right; -v lists them), 1.2 MiB in 0.3 s" */
static void human_summary(run_view *v)
{
	run_summary s = summary_of(v);
	char line[4096], b[32], gen[48] = "";
	size_t cap = sizeof line;
	int dry = opt_has(v->c, OPT_DRY_RUN);
	if (s.generation > 0)
		snprintf(gen, sizeof gen, " %s generation %lld", v->kind == 'b' ? "to" : v->kind == 'r' ? "from" : "in",
		         (long long)s.generation);
	int n = snprintf(line, cap, "%s%s", v->what, dry ? " (dry run)" : "");
	n = v->result ? add(line, cap, n, "failed (%s)", lv_error_name(v->result)) : add(line, cap, n, "ok");
	if (s.written > 0)
		n = add(line, cap, n, "%lld licenses %s%s", (long long)s.written, dry ? "would be written" : "written",
		        v->result ? "" : gen);
	if (s.restored > 0)
		n = add(line, cap, n, "%lld licenses %s%s", (long long)s.restored, dry ? "would be restored" : "restored",
		        v->result ? "" : gen);
	if (v->kind == 'v' && !v->result && s.licenses >= 0)
		n = add(line, cap, n, "%lld licenses checked%s", (long long)s.licenses, gen);
	if (s.restricted > 0)
		n = add(line, cap, n, "%lld restricted (no backup right%s)", (long long)s.restricted,
		        v->c->verbose ? "" : "; -v lists them");
	if (s.refused > 0)
		n = add(line, cap, n, "%lld refused by the license service%s", (long long)s.refused,
		        v->c->verbose ? "" : " (-v lists them)");
	format_bytes(b, sizeof b, s.bytes);
	n = add(line, cap, n, "%s in %.1f s", b, s.seconds);
	if (v->result == 0 && v->has_message && v->message[0] && (size_t)n < cap)
		snprintf(line + n, cap - (size_t)n, " (%s)", safe(v->message));
	out_human("%s\n", line);
}

/* The run could not start (store, restorer, property): begin and end all the same. */
static int not_started(run_view *v, int rc, const char *msg)
{
	v->result = rc;
	v->has_message = msg && *msg;
	snprintf(v->message, sizeof v->message, "%s", msg ? msg : "");
	int ex = out_error(rc, msg);
	if (v->c->json) {
		if (!v->began)
			json_begin(v);
		json_end(v, ex);
	}
	return ex;
}

static void cancel_run(void *r)
{
	lv_restorer_cancel(r);
}

static int start(run_view *v, lv_restorer *r)
{
	if (v->kind == 'b')
		return lv_restorer_backup(r, v->flags, on_status, v);
	if (v->kind == 'r')
		return lv_restorer_restore(r, v->flags, on_status, v);
	return lv_restorer_verify(r, on_status, v);
}

/* The restorer with its properties: the location, and which generation a restore or verify reads. */
static int restorer_for(run_view *v, lv_store *store, lv_restorer **out)
{
	cli *c = v->c;
	int rc = lv_restorer_new(out, c->ctx, store);
	if (!rc)
		rc = lv_restorer_set_string(*out, v->kind == 'b' ? LV_PROP_BACKUP_PATH : LV_PROP_RESTORE_PATH, v->uri);
	if (!rc && opt_has(c, OPT_ALL))
		rc = lv_restorer_set_string(*out, LV_PROP_GENERATION, "all");
	else if (!rc && opt_has(c, OPT_GENERATION))
		rc = lv_restorer_set_string(*out, LV_PROP_GENERATION, c->val[OPT_GENERATION]);
	return rc;
}

/* The exit code of a run that ended: an interruption's, licvault's own refusal to ask, or the result's. */
static int run_exit_code(const run_view *v, int override)
{
	/* a signal that came too late to cancel (the run had ended, or passed its point of no
	 * return) does not say "canceled": the run's own result does */
	if (override && (override == CLI_EXIT_SIGPIPE || v->result == LV_E_CANCELED))
		return override;
	if (v->result == LV_E_CANCELED && secret_declined())
		return secret_declined();
	return exit_code_of(v->result);
}

static int run_with(run_view *v, lv_store *store)
{
	cli *c = v->c;
	lv_restorer *r = NULL;
	int rc = restorer_for(v, store, &r);
	if (rc) {
		int ex = not_started(v, rc, r ? lv_restorer_last_error(r) : lv_context_last_error(c->ctx));
		lv_restorer_free(r);
		return ex;
	}
	int mode = c->quiet || c->json ? 0 : c->tty ? 'b' : opt_has(c, OPT_PROGRESS) ? 'l' : 0;
	v->prog = mode ? progress_new(mode, v->what) : NULL;
	signals_begin();
	v->t0 = now();
	rc = start(v, r);
	int override = rc ? 0 : wait_end(cancel_run, r, "canceling...");
	if (!rc)
		lv_restorer_wait(r, NULL);
	signals_end();
	progress_free(v->prog);
	v->prog = NULL;
	if (rc) {
		int ex = not_started(v, rc, lv_restorer_last_error(r));
		lv_restorer_free(r);
		return ex;
	}
	v->has_res = lv_restorer_result(r, &v->res) == 0;
	int ex = run_exit_code(v, override);
	if (c->json)
		json_end(v, ex);
	else if (!c->quiet)
		human_summary(v);
	if (v->result)
		out_error(v->result, lv_restorer_last_error(r));
	lv_restorer_free(r);
	return ex;
}

/* --generation and --all: checked here, so that a mistake is a usage error naming the option. */
static int check_generation_options(cli *c)
{
	if (opt_has(c, OPT_ALL) && opt_has(c, OPT_GENERATION))
		return usage_error(c, "give --generation or --all, not both");
	if (opt_has(c, OPT_GENERATION) && parse_generation(c->val[OPT_GENERATION], 1) < 0)
		return usage_error(c, "--generation %s: expected a generation number (1, 2, ...) or 'newest'",
		                   c->val[OPT_GENERATION]);
	return -1;
}

static int run_command(cli *c, int kind, const char *what, unsigned flags)
{
	int ex = check_generation_options(c);
	if (ex >= 0)
		return ex;
	run_view v = {.c = c, .kind = kind, .what = what, .uri = c->args[0], .flags = flags, .t0 = now()};
	if (opt_has(c, OPT_DRY_RUN))
		v.flags |= kind == 'b' ? LV_BACKUP_DRY_RUN : LV_RESTORE_DRY_RUN;
	char *resolved = NULL;
	const char *driver = NULL;
	if (lv_context_resolve(c->ctx, v.uri, &resolved, &driver) == 0)
		cli_log(LV_LOG_DEBUG, "%s: %s is %s, served by the %s driver", what, uri_for_display(v.uri),
		        uri_for_display(resolved), driver ? driver : "?");
	free(resolved);
	keys_guard(c, v.uri, 0);
	lv_store *store = NULL;
	/* a backup only reads the store (read-only: it can be rescued from a read-only or full filesystem);
	 * a restore into a store that does not exist makes it only when it commits */
	int rc = kind == 'v' ? 0 : store_open(c, &store, kind == 'r' ? LV_STORE_CREATE : LV_STORE_READONLY);
	ex = rc ? not_started(&v, rc, lv_context_last_error(c->ctx)) : run_with(&v, store);
	lv_store_free(store);
	return ex;
}

int cmd_backup(cli *c)
{
	unsigned f = (opt_has(c, OPT_OVERWRITE) ? LV_BACKUP_OVERWRITE : 0) |
	             (opt_has(c, OPT_ALLOW_SHRINK) ? LV_BACKUP_ALLOW_SHRINK : 0);
	return run_command(c, 'b', "backup", f);
}

int cmd_restore(cli *c)
{
	return run_command(c, 'r', "restore", opt_has(c, OPT_INDIVIDUALIZE) ? LV_RESTORE_INDIVIDUALIZE : 0);
}

int cmd_verify(cli *c)
{
	return run_command(c, 'v', "verify", 0);
}
