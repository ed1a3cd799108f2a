/*
 * The backup-restorer object: properties, and runs on a worker thread that
 * report through one status callback.
 */
#include "backup.h"
#include "format.h"
#include "restore.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>


enum { KIND_BACKUP = 1, KIND_RESTORE, KIND_VERIFY };
enum { ST_IDLE = 0, ST_RUNNING, ST_DONE };

struct lv_restorer {
	lv_context *ctx;
	lv_store *store;
	pthread_mutex_t lock;
	char **names, **values;
	size_t n_props;
	/* the run */
	int state;
	int joinable;
	pthread_t thread;
	lv_run run;
	int kind;
	unsigned flags;
	char *uri;
	int result;
	int has_result;          /* a run ended: run.result is its lv_restorer_result */
	struct timespec began;
	char errmsg[LV_ERRMSG_MAX];
};

static const char *kind_name(int kind)
{
	return kind == KIND_BACKUP ? "backup" : kind == KIND_RESTORE ? "restore" : "verify";
}

/*
 * The run's result: the first recorded failure's code, or the cancel when
 * it came before the run's point of no return (after it, the run's own).
 */
static int run_result(lv_restorer *r, int rc)
{
	lv_run *run = &r->run;
	if (!lv__err_valid(rc))
		rc = LV_E_IO;
	if (rc && lv__run_failed(run))
		rc = lv__run_failed(run);
	if (rc && lv__run_canceled(run) && !run->committed) {
		/* a driver interrupted by the cancel may report IO: the cause is the cancel */
		lv__err_clear(&run->err);
		rc = lv__run_error(run, LV_E_CANCELED, "%s of %s canceled; nothing was changed",
		                   kind_name(r->kind), r->uri);
	}
	if (rc)
		lv__run_error(run, rc, "%s", lv_strerror(rc)); /* when nothing described it */
	return rc;
}

static void *worker(void *arg)
{
	lv_restorer *r = arg;
	lv_run *run = &r->run;
	clock_gettime(CLOCK_MONOTONIC, &r->began);
	lv__run_emit(run, LV_STATUS_BEGIN, 0, NULL);
	int rc;
	switch (r->kind) {
	case KIND_BACKUP: rc = lv__do_backup(run, r->store, r->uri, r->flags); break;
	case KIND_RESTORE: rc = lv__do_restore(run, r->store, r->uri, r->flags); break;
	default: rc = lv__do_verify(run, r->uri); break;
	}
	rc = run_result(r, rc);
	const char *msg = rc ? run->err.msg : run->note;
	struct timespec now;
	clock_gettime(CLOCK_MONOTONIC, &now);
	pthread_mutex_lock(&r->lock);
	r->result = rc;
	run->result.result = rc;
	run->result.duration_ms = (now.tv_sec - r->began.tv_sec) * 1000 + (now.tv_nsec - r->began.tv_nsec) / 1000000;
	r->has_result = 1;
	snprintf(r->errmsg, sizeof r->errmsg, "%s", rc ? msg : "");
	pthread_mutex_unlock(&r->lock);
	/* END carries the message: the error's, or the note on success */
	lv_value v = {.type = LV_TYPE_STRING};
	v.u.str = msg;
	lv__run_emit(run, LV_STATUS_END, rc, msg[0] ? &v : NULL);
	pthread_mutex_lock(&r->lock);
	r->state = ST_DONE;
	pthread_mutex_unlock(&r->lock);
	return NULL;
}

int lv_restorer_new(lv_restorer **out, lv_context *ctx, lv_store *store)
{
	if (!out || !ctx)
		return LV_E_INVALID_ARG;
	lv_restorer *r = calloc(1, sizeof *r);
	if (!r)
		return LV_E_NOMEM;
	r->ctx = ctx;
	r->store = store;
	pthread_mutex_init(&r->lock, NULL);
	*out = r;
	return 0;
}

static void join(lv_restorer *r)
{
	if (r->joinable) {
		pthread_join(r->thread, NULL);
		r->joinable = 0;
	}
}

void lv_restorer_free(lv_restorer *r)
{
	if (!r)
		return;
	lv_restorer_cancel(r);
	join(r);
	lv_restorer_remove_all_props(r);
	free(r->uri);
	pthread_mutex_destroy(&r->lock);
	free(r);
}

/* Why a run cannot start; 0 when it can. */
static int check_start(lv_restorer *r, int kind, unsigned flags, lv_status_cb cb)
{
	unsigned allowed = kind == KIND_BACKUP ? LV_BACKUP_OVERWRITE | LV_BACKUP_DRY_RUN | LV_BACKUP_ALLOW_SHRINK
	                 : kind == KIND_RESTORE ? LV_RESTORE_INDIVIDUALIZE | LV_RESTORE_DRY_RUN : 0;
	if (!cb)
		snprintf(r->errmsg, sizeof r->errmsg, "a run needs a status callback");
	else if (kind != KIND_VERIFY && !r->store)
		snprintf(r->errmsg, sizeof r->errmsg, "this backup-restorer has no store: it can only verify");
	else if (flags & ~allowed)
		snprintf(r->errmsg, sizeof r->errmsg, "flags 0x%x are not valid for this run", flags & ~allowed);
	else
		return 0;
	return LV_E_INVALID_ARG;
}

/* The Generation property: unset or "newest" (0), a number, or for verify "all". */
static int generation_prop(lv_restorer *r, int kind, uint64_t *gen, int *all)
{
	lv_value v;
	*gen = 0;
	*all = 0;
	if (kind == KIND_BACKUP || lv_restorer_get_prop(r, LV_PROP_GENERATION, &v) || !strcmp(v.u.str, "newest"))
		return 0;
	if (kind == KIND_VERIFY && !strcmp(v.u.str, "all")) {
		*all = 1;
		return 0;
	}
	char *end;
	errno = 0;
	unsigned long long g = strtoull(v.u.str, &end, 10);
	if (!isdigit((unsigned char)v.u.str[0]) || *end || errno || g == 0 || g > LV_GEN_MAX) {
		snprintf(r->errmsg, sizeof r->errmsg,
		         "Generation = '%s': expected a generation number, \"newest\"%s", v.u.str,
		         kind == KIND_VERIFY ? " or \"all\"" : "");
		return LV_E_INVALID_ARG;
	}
	*gen = g;
	return 0;
}

/*
 * Check a run's arguments and properties and keep its URI, kind and flags,
 * with *gen and *all from the Generation property; 0, or why it cannot
 * start (in errmsg).  No run is in progress.
 */
static int prepare(lv_restorer *r, int kind, unsigned flags, const char *prop, lv_status_cb cb, uint64_t *gen,
                   int *all)
{
	if (check_start(r, kind, flags, cb))
		return LV_E_INVALID_ARG;
	lv_value v;
	int rc = lv_restorer_get_prop(r, prop, &v);
	if (rc && kind == KIND_VERIFY)
		rc = lv_restorer_get_prop(r, LV_PROP_BACKUP_PATH, &v);
	if (rc || !v.u.str[0]) {
		snprintf(r->errmsg, sizeof r->errmsg, "the %s property is not set", prop);
		return LV_E_NO_PATH;
	}
	if ((rc = generation_prop(r, kind, gen, all)))
		return rc;
	char *uri = strdup(v.u.str);
	if (!uri) {
		snprintf(r->errmsg, sizeof r->errmsg, "out of memory");
		return LV_E_NOMEM;
	}
	free(r->uri);
	r->uri = uri;
	r->kind = kind;
	r->flags = flags;
	return 0;
}

/* Is a run in progress? */
static int busy(lv_restorer *r)
{
	pthread_mutex_lock(&r->lock);
	int b = r->state == ST_RUNNING;
	pthread_mutex_unlock(&r->lock);
	return b;
}

static int start(lv_restorer *r, int kind, unsigned flags, const char *prop, lv_status_cb cb, void *ud)
{
	if (!r)
		return LV_E_INVALID_ARG;
	if (busy(r))
		return LV_E_BUSY; /* nothing of the run's touched: its worker writes errmsg */
	join(r);
	r->result = 0; /* a start that fails started nothing: wait says 0 */
	uint64_t gen = 0;
	int all = 0;
	int rc = prepare(r, kind, flags, prop, cb, &gen, &all);
	if (rc)
		return rc; /* lv_restorer_result still gives the last run that ended */
	lv__run_init(&r->run, r->ctx, cb, ud);
	r->run.generation = gen;
	r->run.all_generations = all;
	r->has_result = 0;
	r->errmsg[0] = '\0';
	r->state = ST_RUNNING;
	if (pthread_create(&r->thread, NULL, worker, r) != 0) {
		r->state = ST_IDLE;
		snprintf(r->errmsg, sizeof r->errmsg, "cannot start a worker thread");
		return LV_E_NOMEM;
	}
	r->joinable = 1;
	return 0;
}

int lv_restorer_backup(lv_restorer *r, unsigned flags, lv_status_cb cb, void *ud)
{
	return start(r, KIND_BACKUP, flags, LV_PROP_BACKUP_PATH, cb, ud);
}

int lv_restorer_restore(lv_restorer *r, unsigned flags, lv_status_cb cb, void *ud)
{
	return start(r, KIND_RESTORE, flags, LV_PROP_RESTORE_PATH, cb, ud);
}

int lv_restorer_verify(lv_restorer *r, lv_status_cb cb, void *ud)
{
	return start(r, KIND_VERIFY, 0, LV_PROP_RESTORE_PATH, cb, ud);
}

int lv_restorer_cancel(lv_restorer *r)
{
	if (!r)
		return LV_E_INVALID_ARG;
	atomic_store(&r->run.canceled, 1);
	return 0;
}

int lv_restorer_wait(lv_restorer *r, int *result)
{
	if (!r)
		return LV_E_INVALID_ARG;
	join(r);
	pthread_mutex_lock(&r->lock);
	if (r->state == ST_DONE)
		r->state = ST_IDLE;
	if (result)
		*result = r->result;
	pthread_mutex_unlock(&r->lock);
	return 0;
}

int lv_restorer_result(const lv_restorer *r, lv_run_result *out)
{
	if (!r || !out)
		return LV_E_INVALID_ARG;
	lv_restorer *w = (lv_restorer *)r;
	pthread_mutex_lock(&w->lock);
	int rc = w->has_result ? 0 : w->state == ST_RUNNING ? LV_E_BUSY : LV_E_NOT_FOUND;
	if (!rc)
		*out = w->run.result;
	pthread_mutex_unlock(&w->lock);
	return rc;
}

const char *lv_restorer_last_error(const lv_restorer *r)
{
	return r ? r->errmsg : "";
}

/* ---- properties -------------------------------------------------------- */

static ssize_t find_prop(const lv_restorer *r, const char *name)
{
	for (size_t i = 0; i < r->n_props; i++)
		if (!strcmp(r->names[i], name))
			return (ssize_t)i;
	return -1;
}

int lv_restorer_set_prop(lv_restorer *r, const char *name, const lv_value *value)
{
	if (!r || !name || !*name || !value)
		return LV_E_INVALID_ARG;
	if (busy(r))
		return LV_E_BUSY; /* before errmsg is touched: the run's worker writes it */
	if (value->type != LV_TYPE_STRING || !value->u.str) {
		snprintf(r->errmsg, sizeof r->errmsg, "property %s: only string values are accepted", name);
		return LV_E_INVALID_ARG;
	}
	char *v = strdup(value->u.str);
	if (!v)
		return LV_E_NOMEM;
	ssize_t i = find_prop(r, name);
	if (i >= 0) {
		free(r->values[i]);
		r->values[i] = v;
		return 0;
	}
	char *n = strdup(name);
	char **nn = realloc(r->names, (r->n_props + 1) * sizeof *nn);
	if (nn)
		r->names = nn;
	char **nv = nn ? realloc(r->values, (r->n_props + 1) * sizeof *nv) : NULL;
	if (nv)
		r->values = nv;
	if (!n || !nn || !nv) {
		free(n);
		free(v);
		return LV_E_NOMEM;
	}
	r->names[r->n_props] = n;
	r->values[r->n_props++] = v;
	return 0;
}

int lv_restorer_set_string(lv_restorer *r, const char *name, const char *value)
{
	lv_value v = {.type = LV_TYPE_STRING};
	v.u.str = value;
	return lv_restorer_set_prop(r, name, &v);
}

int lv_restorer_get_prop(const lv_restorer *r, const char *name, lv_value *value)
{
	if (!r || !name || !value)
		return LV_E_INVALID_ARG;
	ssize_t i = find_prop(r, name);
	if (i < 0)
		return LV_E_NOT_FOUND;
	value->type = LV_TYPE_STRING;
	value->u.str = r->values[i];
	return 0;
}

int lv_restorer_prop_count(const lv_restorer *r, size_t *count)
{
	if (!r || !count)
		return LV_E_INVALID_ARG;
	*count = r->n_props;
	return 0;
}

int lv_restorer_get_prop_at(const lv_restorer *r, size_t index, const char **name, lv_value *value)
{
	if (!r)
		return LV_E_INVALID_ARG;
	if (index >= r->n_props)
		return LV_E_NOT_FOUND;
	if (name)
		*name = r->names[index];
	if (value) {
		value->type = LV_TYPE_STRING;
		value->u.str = r->values[index];
	}
	return 0;
}

int lv_restorer_remove_prop(lv_restorer *r, const char *name)
{
	if (!r || !name)
		return LV_E_INVALID_ARG;
	if (busy(r))
		return LV_E_BUSY;
	ssize_t i = find_prop(r, name);
	if (i < 0)
		return LV_E_NOT_FOUND;
	free(r->names[i]);
	free(r->values[i]);
	memmove(&r->names[i], &r->names[i + 1], (r->n_props - (size_t)i - 1) * sizeof *r->names);
	memmove(&r->values[i], &r->values[i + 1], (r->n_props - (size_t)i - 1) * sizeof *r->values);
	r->n_props--;
	return 0;
}

int lv_restorer_remove_all_props(lv_restorer *r)
{
	if (!r)
		return LV_E_INVALID_ARG;
	if (busy(r))
		return LV_E_BUSY;
	for (size_t i = 0; i < r->n_props; i++) {
		free(r->names[i]);
		free(r->values[i]);
	}
	free(r->names);
	free(r->values);
	r->names = r->values = NULL;
	r->n_props = 0;
	return 0;
}
