/*
 * Opening a sealed object ahead, on a worker thread (ahead.h): the decoder
 * (stream.c) as the step of the shared read-ahead rings
 * (drivers/common/readahead.c).
 */
#include "ahead.h"

#include <stdio.h>
#include <stdlib.h>

#include "licvault/common.h"
#include "readahead.h"

#define NIN 4
#define IN_SIZE (1u << 20)
#define NOUT 4
#define OUT_SIZE (1u << 20)

struct lvc_ahead {
	ra *ra;
	lvc_dec *dec;                /* the worker's alone once started */
};

/* The worker's step: plaintext opened from the ring's ciphertext. */
static int open_step(void *ud, void *buf, size_t cap, size_t *n, char *why, size_t whycap)
{
	lvc_dec *dec = ud;
	int rc = lvc_dec_read(dec, buf, cap, n);
	if (rc) {
		*n = 0;
		snprintf(why, whycap, "%s", lvc_dec_why(dec));
	}
	return rc;
}

void lvc_ahead_free(lvc_ahead *a)
{
	if (!a)
		return;
	ra_free(a->ra); /* stops the worker before its decoder goes */
	lvc_dec_free(a->dec);
	free(a);
}

int lvc_ahead_new(lvc_ahead **out, const lvc_key *k, const char *name, lvc_source_fn inner, void *ud)
{
	lvc_ahead *a = calloc(1, sizeof *a);
	if (!a)
		return LV_E_NOMEM;
	if (ra_new(&a->ra, NIN, IN_SIZE, NOUT, OUT_SIZE, inner, ud) ||
	    lvc_dec_new(&a->dec, k, name, ra_source, a->ra) || ra_start(a->ra, open_step, a->dec)) {
		lvc_ahead_free(a);
		return LV_E_NOMEM;
	}
	*out = a;
	return 0;
}

int lvc_ahead_read(lvc_ahead *a, void *buf, size_t cap, size_t *n, char *why, size_t whycap)
{
	return ra_read(a->ra, buf, cap, n, why, whycap);
}
