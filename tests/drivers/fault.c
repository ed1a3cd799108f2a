/*
 * Test driver "fault": a wrapper that serves fault+INNER URIs.  It opens
 * INNER through the host (host->open_uri) and forwards every operation to
 * it, failing one step according to its config section:
 *
 *   [driver "fault"]
 *   op       = any | open | list | stat | write_begin | write | commit | publish |
 *              rename | abort | read_open | read | remove | sync     (none: pass through)
 *   nth      = N      the Nth counted call fails (1-based; default 1)
 *   count    = K      K calls fail from the Nth on (default 1; 0 = every call from the Nth on)
 *   mode     = fail | short | delay | crash                            (default fail)
 *   error    = IO     an lv_error short name (IO, NO_SPACE, EXISTS...) or a number (default IO)
 *   delay_ms = 100    for mode = delay: sleep that long, then forward the call
 *   when     = before | after   fail or crash before forwarding the call or after it (default before)
 *   match    = TEXT   count only calls on objects whose name contains TEXT (list, sync, open: never)
 *   trace    = FILE   append one line per call: "STEP OP OPSTEP NAME" (for tests to learn the steps)
 *
 * Counting (deterministic): every instance (one per open location, so one per
 * run) counts its own calls from 1, in the order the core makes them: one
 * counter per operation and one for every operation together ("any"); open is
 * step 1 of every instance.  Calls on writers and readers count on the
 * instance that made them.  close is never counted.
 *
 * Modes:
 *   fail   return `error` (described through set_error, naming op, step and object);
 *          for commit the inner writer is aborted (nothing is published);
 *   short  write: pass the first half of the buffer to the inner writer, then
 *          return `error`, as a real short write surfaces; read: a premature
 *          end (0 bytes, no error); other operations: as fail;
 *   delay  sleep delay_ms, then forward;
 *   crash  raise(SIGKILL) (for crash-consistency tests of the CLI).
 * op = publish (or rename) is commit with when = after: the object IS
 * published, then the error is returned (a rename that went through whose
 * reply or directory fsync failed).
 *
 * Built only for tests (tests/drivers): never installed.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <fcntl.h>
#include <unistd.h>

#include "licvault/driver.h"

enum { OP_NONE = 0, OP_ANY, OP_OPEN, OP_LIST, OP_STAT, OP_WRITE_BEGIN, OP_WRITE, OP_COMMIT,
       OP_PUBLISH, OP_ABORT, OP_READ_OPEN, OP_READ, OP_REMOVE, OP_SYNC, OP__N };
static const char *const op_names[OP__N] = {"none", "any", "open", "list", "stat", "write_begin",
                                            "write", "commit", "publish", "abort", "read_open",
                                            "read", "remove", "sync"};
enum { MODE_FAIL = 0, MODE_SHORT, MODE_DELAY, MODE_CRASH };

typedef struct fault_inst {
	const lv_host *host;
	lv_host_ctx *h;
	lv_location *loc;
	const lv_driver_ops *ops;
	void *in;
	/* config */
	int op;
	unsigned long nth, count, delay_ms;
	int mode, after, error;
	const char *match;
	const char *trace;
	/* counters */
	unsigned long steps;
	unsigned long per_op[OP__N];
} fault_inst;

struct lv_writer {
	fault_inst *fi;
	lv_writer *w;
	char name[256];
};

struct lv_reader {
	fault_inst *fi;
	lv_reader *r;
	char name[256];
};

static const struct { const char *name; int code; } errs[] = {
	{"OK", 0}, {"BACKUP_EXISTS", -1}, {"BACKUP_CORRUPT", -2}, {"BUSY", -3}, {"CANCELED", -4},
	{"RESTORE_LIMIT", -5}, {"DAILY_LIMIT", -6}, {"SERVICE_UNAVAILABLE", -7},
	{"NEEDS_INDIVIDUALIZATION", -8}, {"NOT_ALL_STORED", -9}, {"NO_PATH", -10}, {"NO_DRIVER", -11},
	{"DRIVER_ABI", -12}, {"BAD_URI", -13}, {"CONFIG", -14}, {"AUTH", -15}, {"HOST_KEY", -16},
	{"NOT_FOUND", -17}, {"NO_SPACE", -18}, {"IO", -19}, {"UNSUPPORTED", -20}, {"INVALID_ARG", -21},
	{"NOMEM", -22}, {"EXISTS", -23}, {"CORRUPT", -24},
};

static int parse_error(const char *v)
{
	if (!v || !*v)
		return LV_E_IO;
	for (size_t i = 0; i < sizeof errs / sizeof errs[0]; i++)
		if (!strcmp(errs[i].name, v))
			return errs[i].code;
	char *end;
	long n = strtol(v, &end, 10);
	return *end ? LV_E_IO : (int)n;
}

static const char *error_name(int code)
{
	for (size_t i = 0; i < sizeof errs / sizeof errs[0]; i++)
		if (errs[i].code == code)
			return errs[i].name;
	return "UNKNOWN";
}

static unsigned long cfg_ulong(const lv_host *host, lv_host_ctx *h, const char *key, unsigned long def)
{
	const char *v = host->config_get(h, key, 0);
	if (!v || !*v)
		return def;
	char *end;
	unsigned long n = strtoul(v, &end, 10);
	return *end ? def : n;
}

static void sleep_ms(unsigned long ms)
{
	struct timespec ts = {(time_t)(ms / 1000), (long)(ms % 1000) * 1000000L};
	while (nanosleep(&ts, &ts) != 0)
		;
}

static void trace(fault_inst *fi, int op, const char *name)
{
	if (!fi->trace)
		return;
	int fd = open(fi->trace, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
	if (fd < 0)
		return;
	char line[400];
	int n = snprintf(line, sizeof line, "%lu %s %lu %s\n", fi->steps, op_names[op], fi->per_op[op],
	                 name && *name ? name : "-");
	if (n > 0 && write(fd, line, (size_t)n) < 0) {
		/* nothing to do: the trace is best effort */
	}
	close(fd);
}

/*
 * Count a call of `op` on `name`; 1 when this call is the one to fault.
 * publish is counted as a commit (and "any" as a commit step).
 */
static int hit(fault_inst *fi, int op, const char *name)
{
	int cop = op == OP_PUBLISH ? OP_COMMIT : op;
	if (fi->match && (!name || !strstr(name, fi->match)))
		return 0;
	fi->steps++;
	fi->per_op[cop]++;
	trace(fi, cop, name);
	int want = fi->op;
	unsigned long n;
	if (want == OP_ANY)
		n = fi->steps;
	else if (want == cop || (want == OP_PUBLISH && cop == OP_COMMIT))
		n = fi->per_op[cop];
	else
		return 0;
	if (n < fi->nth)
		return 0;
	return fi->count == 0 || n < fi->nth + fi->count;
}

static int inject(fault_inst *fi, int op, const char *name)
{
	if (fi->mode == MODE_CRASH) {
		raise(SIGKILL);
		pause();
	}
	return fi->host->set_error(fi->h, fi->error, "fault driver: injected %s on %s call %lu (step %lu)%s%s",
	                           error_name(fi->error), op_names[op],
	                           fi->per_op[op == OP_PUBLISH ? OP_COMMIT : op], fi->steps,
	                           name ? " of " : "", name ? name : "");
}

/*
 * The common shape of an operation: decide, maybe delay, maybe fail before,
 * forward (the caller does), maybe fail after.  Returns 1 when the call faults
 * (*rc set for a fault before forwarding), 0 to forward.
 */
#define BEFORE(fi, op, name)                                                          \
	int faulted_ = hit(fi, op, name);                                                 \
	if (faulted_ && fi->mode == MODE_DELAY) {                                         \
		sleep_ms(fi->delay_ms);                                                       \
		faulted_ = 0;                                                                 \
	}                                                                                 \
	if (faulted_ && !fi->after)                                                       \
		return inject(fi, op, name)

#define AFTER(fi, op, name, rc)                                                       \
	do {                                                                              \
		if (faulted_ && (rc) == 0)                                                    \
			return inject(fi, op, name);                                              \
	} while (0)

static const char *inner_uri(const char *uri)
{
	const char *p = strchr(uri, '+');
	return p && p[1] ? p + 1 : NULL;
}

static int f_open(const lv_host *host, lv_host_ctx *h, const char *uri, unsigned flags, void **inst)
{
	const char *in = inner_uri(uri);
	if (!in || strncmp(uri, "fault+", 6) != 0)
		return host->set_error(h, LV_E_BAD_URI, "'%s': the fault driver serves fault+INNER-URI", uri);
	fault_inst *fi = calloc(1, sizeof *fi);
	if (!fi)
		return LV_E_NOMEM;
	fi->host = host;
	fi->h = h;
	fi->op = OP_NONE;
	const char *v = host->config_get(h, "op", 0);
	if (v) {
		if (!strcmp(v, "rename"))
			v = "publish";
		for (int i = 0; i < OP__N; i++)
			if (!strcmp(v, op_names[i]))
				fi->op = i;
	}
	fi->nth = cfg_ulong(host, h, "nth", 1);
	fi->count = cfg_ulong(host, h, "count", 1);
	fi->delay_ms = cfg_ulong(host, h, "delay_ms", 100);
	v = host->config_get(h, "mode", 0);
	fi->mode = !v ? MODE_FAIL : !strcmp(v, "short") ? MODE_SHORT : !strcmp(v, "delay") ? MODE_DELAY
	         : !strcmp(v, "crash") ? MODE_CRASH : MODE_FAIL;
	v = host->config_get(h, "when", 0);
	fi->after = (v && !strcmp(v, "after")) || fi->op == OP_PUBLISH;
	fi->error = parse_error(host->config_get(h, "error", 0));
	fi->match = host->config_get(h, "match", 0);
	fi->trace = host->config_get(h, "trace", 0);

	int faulted_ = hit(fi, OP_OPEN, NULL);
	if (faulted_ && fi->mode == MODE_DELAY) {
		sleep_ms(fi->delay_ms);
		faulted_ = 0;
	}
	if (faulted_ && !fi->after) {
		int rc = inject(fi, OP_OPEN, NULL);
		free(fi);
		return rc;
	}
	int rc = host->open_uri(h, in, flags, &fi->loc);
	if (rc) {
		free(fi);
		return rc;
	}
	fi->ops = host->location_ops(fi->loc);
	fi->in = host->location_instance(fi->loc);
	if (faulted_) {
		rc = inject(fi, OP_OPEN, NULL);
		host->location_close(fi->loc);
		free(fi);
		return rc;
	}
	*inst = fi;
	return 0;
}

static void f_close(void *inst)
{
	fault_inst *fi = inst;
	if (!fi)
		return;
	fi->host->location_close(fi->loc);
	free(fi);
}

static int f_write_begin(void *inst, const char *name, uint64_t hint, lv_writer **out)
{
	fault_inst *fi = inst;
	BEFORE(fi, OP_WRITE_BEGIN, name);
	lv_writer *w = calloc(1, sizeof *w);
	if (!w)
		return LV_E_NOMEM;
	w->fi = fi;
	snprintf(w->name, sizeof w->name, "%s", name ? name : "");
	int rc = fi->ops->write_begin(fi->in, name, hint, &w->w);
	if (rc) {
		free(w);
		return rc;
	}
	if (faulted_) {
		fi->ops->abort(w->w);
		free(w);
		return inject(fi, OP_WRITE_BEGIN, name);
	}
	*out = w;
	return 0;
}

static int f_write(lv_writer *w, const void *buf, size_t len)
{
	fault_inst *fi = w->fi;
	int faulted_ = hit(fi, OP_WRITE, w->name);
	if (faulted_ && fi->mode == MODE_DELAY) {
		sleep_ms(fi->delay_ms);
		faulted_ = 0;
	}
	if (faulted_ && fi->mode == MODE_SHORT) {
		/* a short write: part of the buffer reaches the object, then the error */
		if (len / 2)
			fi->ops->write(w->w, buf, len / 2);
		return fi->host->set_error(fi->h, fi->error,
		                           "fault driver: short write of %s: %zu of %zu bytes written (%s)",
		                           w->name, len / 2, len, error_name(fi->error));
	}
	if (faulted_ && !fi->after)
		return inject(fi, OP_WRITE, w->name);
	int rc = fi->ops->write(w->w, buf, len);
	AFTER(fi, OP_WRITE, w->name, rc);
	return rc;
}

static int f_commit(lv_writer *w, unsigned flags)
{
	fault_inst *fi = w->fi;
	char name[256];
	snprintf(name, sizeof name, "%s", w->name);
	int faulted_ = hit(fi, OP_COMMIT, name);
	if (faulted_ && fi->mode == MODE_DELAY) {
		sleep_ms(fi->delay_ms);
		faulted_ = 0;
	}
	if (faulted_ && !fi->after) {
		if (fi->mode == MODE_CRASH)
			inject(fi, OP_COMMIT, name);
		fi->ops->abort(w->w); /* commit frees w whatever the result: nothing is published */
		free(w);
		return inject(fi, OP_COMMIT, name);
	}
	int rc = fi->ops->commit(w->w, flags);
	free(w);
	if (faulted_ && rc == 0)
		return inject(fi, fi->op == OP_PUBLISH ? OP_PUBLISH : OP_COMMIT, name);
	return rc;
}

static void f_abort(lv_writer *w)
{
	if (!w)
		return;
	fault_inst *fi = w->fi;
	/* abort cannot fail: a fault here can only delay or crash */
	int faulted_ = hit(fi, OP_ABORT, w->name);
	if (faulted_ && fi->mode == MODE_DELAY)
		sleep_ms(fi->delay_ms);
	else if (faulted_ && fi->mode == MODE_CRASH && !fi->after)
		inject(fi, OP_ABORT, w->name);
	fi->ops->abort(w->w);
	if (faulted_ && fi->mode == MODE_CRASH)
		inject(fi, OP_ABORT, w->name);
	free(w);
}

static int f_read_open(void *inst, const char *name, lv_reader **out)
{
	fault_inst *fi = inst;
	BEFORE(fi, OP_READ_OPEN, name);
	lv_reader *r = calloc(1, sizeof *r);
	if (!r)
		return LV_E_NOMEM;
	r->fi = fi;
	snprintf(r->name, sizeof r->name, "%s", name ? name : "");
	int rc = fi->ops->read_open(fi->in, name, &r->r);
	if (rc) {
		free(r);
		return rc;
	}
	if (faulted_) {
		fi->ops->read_close(r->r);
		free(r);
		return inject(fi, OP_READ_OPEN, name);
	}
	*out = r;
	return 0;
}

static int f_read(lv_reader *r, void *buf, size_t cap, size_t *n)
{
	fault_inst *fi = r->fi;
	int faulted_ = hit(fi, OP_READ, r->name);
	if (faulted_ && fi->mode == MODE_DELAY) {
		sleep_ms(fi->delay_ms);
		faulted_ = 0;
	}
	if (faulted_ && fi->mode == MODE_SHORT) {
		*n = 0; /* a premature end */
		return 0;
	}
	if (faulted_ && !fi->after)
		return inject(fi, OP_READ, r->name);
	int rc = fi->ops->read(r->r, buf, cap, n);
	AFTER(fi, OP_READ, r->name, rc);
	return rc;
}

static void f_read_close(lv_reader *r)
{
	if (!r)
		return;
	r->fi->ops->read_close(r->r);
	free(r);
}

static int f_list(void *inst, lv_list_cb cb, void *ud)
{
	fault_inst *fi = inst;
	BEFORE(fi, OP_LIST, NULL);
	int rc = fi->ops->list(fi->in, cb, ud);
	AFTER(fi, OP_LIST, NULL, rc);
	return rc;
}

static int f_remove(void *inst, const char *name)
{
	fault_inst *fi = inst;
	if (!fi->ops->remove)
		return LV_E_UNSUPPORTED;
	BEFORE(fi, OP_REMOVE, name);
	int rc = fi->ops->remove(fi->in, name);
	AFTER(fi, OP_REMOVE, name, rc);
	return rc;
}

static int f_stat(void *inst, const char *name, lv_object_info *info)
{
	fault_inst *fi = inst;
	if (!fi->ops->stat)
		return LV_E_UNSUPPORTED;
	BEFORE(fi, OP_STAT, name);
	int rc = fi->ops->stat(fi->in, name, info);
	AFTER(fi, OP_STAT, name, rc);
	return rc;
}

static int f_sync(void *inst)
{
	fault_inst *fi = inst;
	BEFORE(fi, OP_SYNC, NULL);
	int rc = fi->ops->sync ? fi->ops->sync(fi->in) : 0;
	AFTER(fi, OP_SYNC, NULL, rc);
	return rc;
}

static int f_space(void *inst, uint64_t *free_bytes, uint64_t *total_bytes)
{
	fault_inst *fi = inst;
	return fi->ops->space ? fi->ops->space(fi->in, free_bytes, total_bytes) : LV_E_UNSUPPORTED;
}

static int f_cleanup(void *inst)
{
	fault_inst *fi = inst;
	return fi->ops->cleanup ? fi->ops->cleanup(fi->in) : 0;
}

static const lv_driver_ops fault_ops = {
	.open = f_open,
	.close = f_close,
	.write_begin = f_write_begin,
	.write = f_write,
	.commit = f_commit,
	.abort = f_abort,
	.read_open = f_read_open,
	.read = f_read,
	.read_close = f_read_close,
	.list = f_list,
	.remove = f_remove,
	.stat = f_stat,
	.sync = f_sync,
	.space = f_space,
	.cleanup = f_cleanup,
	.enumerate = NULL,
};

static const char *const fault_schemes[] = {"fault", NULL};

static const lv_driver_key fault_keys[] = {
	{"op", LV_KEY_ENUM, NULL, "the operation to fault",
	 0, 0, "any|open|list|stat|write_begin|write|commit|publish|rename|abort|read_open|read|remove|sync", 0},
	{"nth", LV_KEY_INT, "1", "the Nth counted call faults", 1, 1000000000, NULL, 0},
	{"count", LV_KEY_INT, "1", "how many calls fault from the Nth on (0: all)", 0, 1000000000, NULL, 0},
	{"mode", LV_KEY_ENUM, "fail", "what the fault does", 0, 0, "fail|short|delay|crash", 0},
	{"error", LV_KEY_STRING, "IO", "the error to return (an lv_error short name)", 0, 0, NULL, 0},
	{"delay_ms", LV_KEY_INT, "100", "delay of mode = delay, milliseconds", 0, 600000, NULL, 0},
	{"when", LV_KEY_ENUM, "before", "fault before or after forwarding the call", 0, 0, "before|after", 0},
	{"match", LV_KEY_STRING, NULL, "count only calls on objects whose name contains this", 0, 0, NULL, 0},
	{"trace", LV_KEY_PATH, NULL, "append one line per call to this file", 0, 0, NULL, 0},
	{NULL, 0, NULL, NULL, 0, 0, NULL, 0},
};

static const lv_driver fault_driver = {
	LV_DRIVER_INIT_HEADER,
	.name = "fault",
	.version = "1.0.0",
	.schemes = fault_schemes,
	.ops = &fault_ops,
	.keys = fault_keys,
};

LV_DRIVER_ENTRY
{
	return &fault_driver;
}
