/*
 * Reading an object ahead, on a second thread, for a driver that turns what
 * its inner driver reads into something else (bundle inflates, crypt
 * opens), so that the work overlaps the core's (a restore's inserts).
 *
 * The contract: the run's thread alone calls the inner driver (`inner`,
 * from ra_read: it tops up a ring of input buffers); the worker runs the
 * driver's `make` step, which reads its input from that ring through
 * ra_source and leaves its output in a ring of output buffers.  The worker
 * calls nothing of the host's or the inner driver's.  Memory: the rings'
 * buffers, allocated by ra_new.
 */
#ifndef LV_READAHEAD_H
#define LV_READAHEAD_H

#include <stddef.h>

#define RA_MAX_BUFFERS 8u
#define RA_WHY 1024u        /* the longest reason kept from the step */

typedef struct ra ra;

/* A source of bytes: up to cap into buf, *n = 0 at the end; 0 or a negative lv_error. */
typedef int (*ra_source_fn)(void *ud, void *buf, size_t cap, size_t *n);
/*
 * The worker's step: up to cap bytes of output into buf, *n = 0 (with 0)
 * at the end, checked.  With an error, the *n bytes made before it are
 * still handed out first; why gets its reason ("" for none).
 */
typedef int (*ra_make_fn)(void *ud, void *buf, size_t cap, size_t *n, char *why, size_t whycap);

/*
 * Rings of nin input buffers of in_size bytes and nout output buffers of
 * out_size (at most RA_MAX_BUFFERS each), the input read from inner(ud).
 * No thread yet: give the step its source (ra_source, a) then ra_start.
 * LV_E_NOMEM or 0.
 */
int ra_new(ra **out, unsigned nin, size_t in_size, unsigned nout, size_t out_size, ra_source_fn inner, void *ud);

/* The step's input, from the input ring (ud: the ra).  LV_E_CANCELED once ra_free stops the worker. */
int ra_source(void *ud, void *buf, size_t cap, size_t *n);

/* Start the worker running make(ud) again and again until the end or an error.  LV_E_NOMEM (no thread) or 0. */
int ra_start(ra *a, ra_make_fn make, void *ud);

/*
 * Up to cap bytes of output (*n = 0: the end).  Everything made before an
 * error is handed out first; then the error: the inner driver's as it
 * returned it (described by it), or the step's, with its reason in why.
 */
int ra_read(ra *a, void *buf, size_t cap, size_t *n, char *why, size_t whycap);

/* Stop the worker and free everything; NULL is a no-op. */
void ra_free(ra *a);

#endif
