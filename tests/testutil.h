/* Test helpers: suite registration, temp dirs, stores, running the CLI. */
#ifndef LV_TESTUTIL_H
#define LV_TESTUTIL_H

#include <CUnit/CUnit.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <sys/types.h>
#include "licvault/licvault.h"
#include "licvault/sys/location.h"
#include "licvault/sys/service.h"
#include "licvault/sys/store.h"

/* T_ASAN: 1 in a build with AddressSanitizer; T_SANITIZED: with ASan or ThreadSanitizer (.ci/sanitize) */
#if defined(__SANITIZE_ADDRESS__)
#define T_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define T_ASAN 1
#endif
#endif
#ifndef T_ASAN
#define T_ASAN 0
#endif
#if defined(__SANITIZE_THREAD__)
#define T_SANITIZED 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define T_SANITIZED 1
#endif
#endif
#ifndef T_SANITIZED
#define T_SANITIZED T_ASAN
#endif
/* A test that cannot run beside a sanitizer, or that runs programs sanitized anyway, returns at once
 * when `cond` (T_ASAN or T_SANITIZED) holds, saying why; it runs in the normal build. */
#define T_SKIP_IF(cond, why)                                                                        \
	do {                                                                                        \
		if (cond) {                                                                         \
			fprintf(stderr, "\n  skipped: %s; it runs in the normal build ", why);     \
			return;                                                                     \
		}                                                                                   \
	} while (0)

/* A case that needs a fixture (sshd, a gateway) returns at once when `up` is 0, saying `why` it could not start. */
#define T_NEED(up, why)                                                                     \
	do {                                                                                \
		if (!(up)) {                                                                \
			fprintf(stderr, "  skipped %s: %s\n", __func__, why);                     \
			return;                                                             \
		}                                                                           \
	} while (0)

typedef struct lv_test_case {
	const char *name;
	void (*fn)(void);
} lv_test_case;

typedef struct lv_test_suite {
	const char *file;          /* the ctest name: test_NAME.c -> NAME */
	const char *name;
	int (*init)(void);
	int (*clean)(void);
	const lv_test_case *cases;
	struct lv_test_suite *next;
} lv_test_suite;

void lv_test_register(lv_test_suite *s);

/* LV_SUITE(file, name, init, clean, {"case", fn}, ...) */
#define LV_SUITE(file_, name_, init_, clean_, ...)                                         \
	static const lv_test_case name_##_cases[] = {__VA_ARGS__, {NULL, NULL}};             \
	static lv_test_suite name_##_suite = {#file_, #name_, init_, clean_, name_##_cases, NULL}; \
	__attribute__((constructor)) static void name_##_reg(void) { lv_test_register(&name_##_suite); }

/* A fresh temporary directory under $TMPDIR (removed at exit unless LV_TEST_KEEP). */
char *t_tmpdir(void);
/*
 * A scratch directory on tmpfs (/dev/shm/PREFIX-XXXXXX) for suites whose
 * sweeps fsync at every step, or t_tmpdir() when there is none or with
 * LV_TEST_KEEP (kept, to look at); removed at exit otherwise.
 */
char *t_tmpdir_fast(const char *prefix);
/* A suite's scratch directory: LV_SUITE(..., t_suite_dir_init, t_suite_dir_clean, ...). */
extern char *t_suite_dir;
int t_suite_dir_init(void);
int t_suite_dir_clean(void);
/* dir/name in one of 8 rotating thread-local buffers. */
char *t_path(const char *dir, const char *name);
/*
 * A driver folder of the suite's own, DIR/drv, holding a copy of the test
 * driver NAME.so (tests/drivers), for a driver_path or
 * lv_context_add_driver_dir that loads no other test driver.  Its path
 * into drvdir.  0, or -1.
 */
int t_driver_dir(const char *dir, const char *name, char *drvdir, size_t cap);
/* Copy a file (replacing; a store's -wal/-shm/-journal at `to` are removed first). 0 or -1. */
int t_copy_file(const char *from, const char *to);
/* Create d if needed and remove every file in it. */
void t_empty_dir(const char *d);
/* Copy the files of a flat directory into `to` (emptied first); hidden: also names starting with '.'. */
void t_copy_dir(const char *from, const char *to, int hidden);
/* Remove a directory tree. */
void t_rmrf(const char *path);
/* A whole file, malloc'd with a NUL after it, its size in *len; NULL (and *len 0) when it cannot be read. */
unsigned char *t_read_file(const char *path, size_t *len);
/* Write n bytes to path (replacing it). 0 or -1. */
int t_write_bytes(const char *path, const void *b, size_t n);
/* Write text to path (replacing it) with the given mode. 0 or -1. */
int t_write_file(const char *path, const char *text, mode_t mode);
void t_sleep_ms(int ms);
/* A TCP port on 127.0.0.1 that was free a moment ago, or -1. */
int t_free_port(void);
/* 1 when something accepts connections on 127.0.0.1:port. */
int t_port_open(int port);
/* For suites that decide which ssh agent exists: unset SSH_AUTH_SOCK, and put it back. */
void t_agent_hide(void);
void t_agent_restore(void);
/* Run a shell command; returns its exit status (0..255) and captures stdout+stderr into *out. */
int t_sh(char **out, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* t_sh with its arguments in a va_list. */
int t_vsh(char **out, const char *fmt, va_list ap) __attribute__((format(printf, 2, 0)));
/* A context with the build tree's drivers and no config file. */
lv_context *t_context(void);
/* The same with `config` loaded and checked (every key declared by a driver); asserts both. */
lv_context *t_context_with(const char *config);
/* A store at dir/TAG-N.db (N unique in the run) with n synthetic licenses; asserts it is made. */
lv_store *t_new_store(lv_context *ctx, const char *dir, const char *tag, int n);
/* Make a store at path with n synthetic licenses (every 5th without the backup right). */
int t_make_store(lv_context *ctx, const char *path, int n, lv_store **out);
/* Fill a license with deterministic content for index i. */
void t_license(lv_license *l, int i, char *kid, size_t kidcap, unsigned char *payload, size_t plen);

/* Run a backup/restore/verify synchronously; collect events. */
/* A status callback that ignores every event (a run needs one). */
void t_ignore_status(int status, int result, const lv_value *value, void *ud);

typedef struct t_events {
	int begin, end, restricted, refused, connecting, disconnecting, progress, individualize;
	int result;
	int order[64];         /* first 64 statuses in order, 0 after */
	int norder;
	char last_restricted[200];
	char end_message[1024];
} t_events;

/* A local user `name` for a suite's tests (made with useradd when root): 1 when it exists. */
int t_user_make(const char *name);
/* Remove the user t_user_make made (userdel). */
void t_user_remove(const char *name);

int t_run(lv_restorer *r, int kind, unsigned flags, t_events *ev);  /* kind: 'b', 'r', 'v' */
/*
 * Verify with r (set to a location holding generations 1 and 2) generation
 * `one`, then all, then 7, which is not there: asserts each result and what
 * the run's end message names.
 */
void t_verify_generations(lv_restorer *r, const char *one);
/*
 * One run of store s (backup or restore) at uri; the run's last message into
 * msg (when not NULL), and to stderr with LV_TEST_VERBOSE when it failed.
 */
int t_run_uri(lv_context *ctx, lv_store *s, const char *uri, int kind, unsigned flags, char *msg, size_t cap);
/*
 * Restore uri (individualizing) into a new store in dir: the number of
 * licenses restored, or -1 (saying why); *digest (when not NULL): the store's digest.
 */
long t_restore_count(lv_context *ctx, const char *dir, const char *uri, unsigned long *digest);
int t_backup(lv_context *ctx, lv_store *s, const char *uri, unsigned flags, t_events *ev);
int t_restore(lv_context *ctx, lv_store *s, const char *uri, unsigned flags, t_events *ev);
int t_verify(lv_context *ctx, lv_store *s, const char *uri, t_events *ev);

/*
 * A restore target: an individualized store holding licenses of the given key
 * IDs (title "the target's own"), so a test can see a failed restore left it alone.
 */
int t_make_target(lv_context *ctx, const char *path, const char *const *kids, int n);
/*
 * Copy the store `pristine` to `scratch`, restore `uri` into the copy and
 * return its digest (0 when the restore failed; *rc_out gets its result).
 */
unsigned long t_restore_digest(lv_context *ctx, const char *pristine, const char *scratch, const char *uri,
                               int *rc_out);

/*
 * Sweeps (a kill, a power cut, a fault at every step of a run) test every
 * step.  LV_TEST_SWEEP_STRIDE=N (.ci/sanitize sets it for the sanitizer
 * passes, whose processes run several times slower) tests the first and the
 * last step and every Nth between them, the sample shifted by `salt` so that
 * the sweeps of one suite do not all pick the same steps.
 */
int t_sweep_step(long step, long first, long last, unsigned salt);
/*
 * An invariant of a sweep's case: asserted and, when it does not hold,
 * printed with the case's label and counted in `failures` (the suite's),
 * so that the suite's last case sums them up (t_sweep_summary).
 */
#define T_CHECK(failures, label, cond, what)                                                \
	do {                                                                                \
		if (!(cond)) {                                                              \
			fprintf(stderr, "\n  [%s] %s: %s\n", label, what, #cond);           \
			(failures)++;                                                       \
		}                                                                           \
		CU_ASSERT(cond);                                                            \
	} while (0)
/* The last case of a sweeping suite: no invariant was broken (else says how many, as `what`). */
void t_sweep_summary(const char *what, int failures);

/* A marker file's content, as the ctor.so test driver leaves it ("" when absent); malloc'd. */
char *t_marker(const char *path);

/* The generations a list or a forget reported, in order: the first 64 (n counts them all). */
typedef struct t_gens {
	int n;
	int64_t gen[64];
	int format[64], whole[64];
	uint64_t licenses[64];
	char problem[1024];   /* the first problem reported, "" when none */
} t_gens;
/* The lv_generations_list / lv_generations_forget callback that fills a t_gens (ud). */
int t_collect_gen(const lv_generation_info *g, void *ud);

/* Count licenses in a store. */
uint64_t t_count(lv_store *s);
/* Read a whole file; flip the byte at offset; truncate. */
long t_file_size(const char *path);
int t_flip_byte(const char *path, long offset);
int t_truncate(const char *path, long size);
/*
 * The entries of dir (not . and ..) whose name holds `part` (all when NULL),
 * only the hidden ones with dot_only; -1 when dir cannot be read.
 */
int t_count_entries(const char *dir, const char *part, int dot_only);
/* 1 when a file of dir whose name holds `part` has size bytes or more (a transfer got that far). */
int t_file_grown(const char *dir, const char *part, long size);
/* Find a file in dir whose name ends with suffix; returns malloc'd full path or NULL. */
char *t_find(const char *dir, const char *suffix);
/* Content digest of a store (kid, title, payload, plays, machine) in key order. */
unsigned long t_store_digest(lv_store *s);
/* The same of the store at path (0 when it cannot be opened; an empty store's is 0 too). */
unsigned long t_path_digest(lv_context *ctx, const char *path);

#define T_CLI LV_TEST_CLI
#define T_GEN LV_TEST_GEN

#endif
