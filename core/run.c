/*
 * A run: events, progress, cancellation, the first error and the note.
 */
#include "run.h"

#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

void lv__run_init(lv_run *run, lv_context *ctx, lv_status_cb cb, void *ud)
{
	memset(run, 0, sizeof *run);
	run->ctx = ctx;
	run->cb = cb;
	run->ud = ud;
	run->result.generation = -1;
}

int lv__run_verror(lv_run *run, int code, const char *fmt, va_list ap)
{
	return lv__err_vset(&run->err, code, fmt, ap);
}

int lv__run_error(lv_run *run, int code, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	lv__run_verror(run, code, fmt, ap);
	va_end(ap);
	return code;
}

int lv__run_failed(const lv_run *run)
{
	return run->err.code;
}

void lv__run_vnote(lv_run *run, const char *fmt, va_list ap)
{
	vsnprintf(run->note, sizeof run->note, fmt, ap);
}

void lv__run_note(lv_run *run, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	lv__run_vnote(run, fmt, ap);
	va_end(ap);
}

void lv__run_protect(lv_run *run, const char *path)
{
	struct stat st;
	if (!path || stat(path, &st) != 0 || run->n_protected >= sizeof run->protected / sizeof *run->protected)
		return;
	run->protected[run->n_protected].dev = (uint64_t)st.st_dev;
	run->protected[run->n_protected++].ino = (uint64_t)st.st_ino;
}

void lv__run_protect_store(lv_run *run, lv_store *store)
{
	const char *p = store->ops.path ? store->ops.path(store->impl) : NULL;
	if (!p)
		return;
	static const char *const suffix[] = {"", "-wal", "-journal"};
	for (size_t i = 0; i < sizeof suffix / sizeof *suffix; i++) {
		char f[4096];
		snprintf(f, sizeof f, "%s%s", p, suffix[i]);
		lv__run_protect(run, f);
	}
}

void lv__run_emit(lv_run *run, int status, int result, const lv_value *v)
{
	static const lv_value none = {LV_TYPE_NONE, {0}};
	if (run->cb)
		run->cb(status, result, v ? v : &none, run->ud);
}

int lv__run_canceled(lv_run *run)
{
	return atomic_load_explicit(&run->canceled, memory_order_relaxed);
}

void lv__run_progress(lv_run *run, int force)
{
	struct timespec now;
	clock_gettime(CLOCK_MONOTONIC, &now);
	if (!force) {
		long ms = (now.tv_sec - run->last_emit.tv_sec) * 1000 +
		          (now.tv_nsec - run->last_emit.tv_nsec) / 1000000;
		if (ms < 200)
			return;
	}
	run->last_emit = now;
	lv_value v = {.type = LV_TYPE_PROGRESS};
	v.u.progress.done = run->done;
	v.u.progress.total = run->total;
	v.u.progress.bytes = run->bytes;
	lv__run_emit(run, LV_STATUS_PROGRESS, 0, &v);
}
