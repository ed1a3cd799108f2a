/*
 * A misbehaving SFTP server for the tests (issue 15): the test sshd
 * (fixture_sshd.h) whose `Subsystem sftp` is tests/sftpliar, a wrapper in
 * front of OpenSSH's own sftp-server that drops the connection at a chosen
 * request, acknowledges writes without storing them, truncates, or lies
 * about a file's size, as the test configures it (t_liar_set; the
 * directives are in tests/sftpliar/sftpliar.c).
 *
 *   t_liar l;
 *   if (t_liar_start(&l, why, sizeof why)) { skip }
 *   t_liar_set(&l, "type rename\nmatch .pack\ndrop 1\nwhen after\n");
 *   ... a run over l.uri_base ...
 *   t_liar_stop(&l);
 *
 * And the sweep both suites share: a backup over sftp:// or bundle+sftp://
 * whose connection is dropped at each request of a clean run in turn,
 * each followed by the checks of nothing lost (t_liar_sweep).
 */
#ifndef LV_FIXTURE_SFTPLIAR_H
#define LV_FIXTURE_SFTPLIAR_H

#include <stddef.h>

#include "fixture_sshd.h"
#include "licvault/licvault.h"
#include "testutil.h"

typedef struct t_liar {
	t_sshd s;
	char log[600];             /* the wrapper's log: "session PID", then "SEQ TYPE PATH [PATH2]" per request */
	char once[600];            /* the file whose existence says the drop happened */
	char keys[1200];           /* [driver "sftp"] lines for a licvault config: this server, no ssh_config */
	char lines[64][1024];      /* the last log lines of a context made by t_liar_context (a ring) */
	int n_lines;
} t_liar;

/* 0, or -1 with the reason (the caller skips, printing it). */
int t_liar_start(t_liar *l, char *why, size_t whylen);
/* Stop sshd and every session (wrappers, sftp-servers) by PID, and wait for them. */
void t_liar_stop(t_liar *l);

/*
 * (Re)write the wrapper's configuration: `log` and `once` always, then the
 * directives (printf-style; "" for a plain relay).  The log and the once
 * file are removed first, so each run starts counting from 1.
 */
void t_liar_set(t_liar *l, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* 1 when the wrapper dropped a connection since t_liar_set. */
int t_liar_dropped(const t_liar *l);
/* Requests in the log's first session. */
int t_liar_requests(const t_liar *l);
/* The number of the k-th request (from 1) of `type` ("" any) whose path holds `part` in the first session, or 0. */
int t_liar_find(const t_liar *l, const char *type, const char *part, int k);
/* The log line of request `seq` of the first session ("" when none), for messages. */
const char *t_liar_request(const t_liar *l, int seq);

/* A context with this server's keys and `extra` config text (other sections); it logs into l->lines. */
lv_context *t_liar_context(t_liar *l, const char *name, const char *extra);
/* How many lines logged since t_liar_lines_clear hold `part`; *line gets the last (may be NULL). */
int t_liar_logged(const t_liar *l, const char *part, const char **line);
void t_liar_lines_clear(t_liar *l);

/*
 * The sweep: a backup of a store that changed (the "new" set) over a location
 * holding the "old" one, with the connection dropped at request n, for each
 * n from `from` to `to` (0: the last request of a clean run) by `step`.
 * After each drop:
 *  - the location verifies (every generation it lists is whole), and
 *    restores the old set or the new one (never
 *    neither), the one of the newest generation it lists; the old one when
 *    the drop came before the new manifest's rename reached the server; the
 *    new one when the backup said ok;
 *  - the next backup succeeds, and when the drop left anything (a driver's
 *    temporary or set-aside object, a pack without a manifest) it says in
 *    one line what it put right, with the driver's count; after it nothing
 *    of the kind, and no lock, is left.
 * kind: 's' sftp://DIR, 'b' bundle+sftp://DIR/lic.lvb.  after: the server
 * carries the request out and its answer is lost.  refuse: the server stays
 * unreachable until the next run (the dead run cannot clean up).
 */
typedef struct t_sweep {
	int kind;
	int after;                 /* 0 before, 1 after, 2 both (each request twice) */
	int refuse;
	int from, to, step;
	const char *only_type;     /* NULL: every request; else only requests of this type... */
	const char *only_part;     /* ...whose path holds this */
} t_sweep;

/* Returns the number of drops made (each checked with CUnit assertions). */
int t_liar_sweep(t_liar *l, const t_sweep *sw);

/*
 * A replacing commit (LV_COMMIT_REPLACE) of licvault.lock, through the
 * driver's operations, cut at its rename k (1: NAME set aside, 2: the new
 * one in), before or after the server did it, the server reachable again at
 * once or only for the next run (refuse): the name holds the old object or
 * the new one, never nothing; cleanup puts right what was left and says how
 * many; nothing of the driver's is left.
 */
void t_liar_cut_replace(t_liar *l, lv_context *ctx, int k, int after, int refuse);
/*
 * The same through the core: a backup's lock refresh (held past the refresh
 * interval by its status callback) cut between its renames; the next backup
 * succeeds and says in one line what it put right.  About 6 s.
 */
void t_liar_cut_refresh(t_liar *l, int refuse);

/* ---- helpers of the suites ---- */
/* A fresh directory under the server's data directory, and its sftp:// URI. */
void t_liar_location(const t_liar *l, char *dir, size_t dcap, char *uri, size_t ucap, const char *tag);
/* A backup ('b') or restore ('r') with its message. */
int t_liar_run(lv_context *ctx, lv_store *s, const char *uri, int kind, unsigned flags, char *msg, size_t cap);
/* Names starting with '.' in dir (holding part, when given). */
int t_count_dots(const char *dir, const char *part);
/* The generations uri lists: "1;2;". */
const char *t_liar_gens(lv_context *ctx, const char *uri);
/* The digest of what uri restores into a new store (0 when it fails). */
unsigned long t_liar_digest(const t_liar *l, lv_context *ctx, const char *uri);
/* A store of n synthetic licenses in the fixture's directory. */
lv_store *t_liar_store(const t_liar *l, lv_context *ctx, const char *tag, int n);

/*
 * A suite's set-up and tear-down (CUnit's init and clean): one test sshd
 * with the wrapper; t_liar_suite() is it, NULL when it could not start
 * (T_NEED_LIAR() then skips the case, saying why).
 */
int t_liar_suite_init(void);
int t_liar_suite_clean(void);
t_liar *t_liar_suite(void);
const char *t_liar_suite_why(void);

#define T_NEED_LIAR() T_NEED(t_liar_suite(), t_liar_suite_why())

#endif
