/*
 * Opening a sealed object on a second thread, ahead of the core's reads,
 * so that decrypting overlaps the core's work (a restore's inserts).
 *
 * The contract: the run's thread alone calls the inner driver (`inner`,
 * from lvc_ahead_read: it tops up a ring of ciphertext buffers); the worker
 * runs the decoder (stream.c) over that ring and leaves opened plaintext in
 * a ring of output buffers.  The worker calls nothing of the host's or the
 * inner driver's.  Memory: 4 MiB in, 4 MiB out, and the decoder's.
 */
#ifndef LVC_AHEAD_H
#define LVC_AHEAD_H

#include <stddef.h>

#include "stream.h"

typedef struct lvc_ahead lvc_ahead;

/* Start opening `name` under k, its ciphertext from inner(ud, ...).  LV_E_NOMEM or 0 (no thread: LV_E_NOMEM). */
int lvc_ahead_new(lvc_ahead **out, const lvc_key *k, const char *name, lvc_source_fn inner, void *ud);

/*
 * As lvc_dec_read: up to cap bytes (*n = 0: the end, checked).  On
 * LV_E_BACKUP_CORRUPT, why gets the decoder's reason; the inner driver's
 * errors come back as they are (described).  Everything opened before an
 * error is handed out first.
 */
int lvc_ahead_read(lvc_ahead *a, void *buf, size_t cap, size_t *n, char *why, size_t whycap);

/* Stop the worker and free everything; NULL is a no-op. */
void lvc_ahead_free(lvc_ahead *a);

#endif
