/*
 * Reading an object ahead, on a second thread (readahead.h).
 */
#include "readahead.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "licvault/common.h"

struct ra {
	pthread_t th;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	int sync, started;           /* mu and cv made / the worker runs */
	ra_source_fn inner;          /* the run's thread's alone */
	void *inner_ud;
	ra_make_fn make;             /* the worker's alone once started */
	void *make_ud;
	unsigned nin, nout;
	size_t in_size, out_size;
	unsigned char *in[RA_MAX_BUFFERS];
	size_t in_len[RA_MAX_BUFFERS], in_off; /* in[in_head] is being consumed from in_off */
	unsigned in_head, in_n;
	int in_eof, in_err;          /* the inner object ended / failed */
	unsigned char *out[RA_MAX_BUFFERS];
	size_t out_len[RA_MAX_BUFFERS], out_off; /* out[out_head] is being handed out from out_off */
	unsigned out_head, out_n;
	int end, rc, quit;           /* the worker: the object checked out / failed / stop */
	char why[RA_WHY];
};

int ra_source(void *ud, void *buf, size_t cap, size_t *n)
{
	ra *a = ud;
	*n = 0;
	pthread_mutex_lock(&a->mu);
	for (;;) {
		if (a->quit) {
			pthread_mutex_unlock(&a->mu);
			return LV_E_CANCELED;
		}
		if (a->in_n) {
			size_t left = a->in_len[a->in_head] - a->in_off, k = left < cap ? left : cap;
			unsigned char *src = a->in[a->in_head] + a->in_off;
			pthread_mutex_unlock(&a->mu);
			memcpy(buf, src, k); /* the run's thread never writes a full buffer */
			pthread_mutex_lock(&a->mu);
			a->in_off += k;
			if (a->in_off == a->in_len[a->in_head]) {
				a->in_head = (a->in_head + 1) % a->nin;
				a->in_n--;
				a->in_off = 0;
				pthread_cond_broadcast(&a->cv);
			}
			pthread_mutex_unlock(&a->mu);
			*n = k;
			return 0;
		}
		if (a->in_err || a->in_eof) {
			int rc = a->in_err;
			pthread_mutex_unlock(&a->mu);
			return rc;
		}
		pthread_cond_wait(&a->cv, &a->mu);
	}
}

static void *worker(void *p)
{
	ra *a = p;
	for (;;) {
		pthread_mutex_lock(&a->mu);
		while (a->out_n == a->nout && !a->quit)
			pthread_cond_wait(&a->cv, &a->mu);
		unsigned slot = (a->out_head + a->out_n) % a->nout; /* free, and stays free until pushed */
		int quit = a->quit;
		pthread_mutex_unlock(&a->mu);
		if (quit)
			return NULL;
		size_t n = 0;
		char why[sizeof a->why] = "";
		int rc = a->make(a->make_ud, a->out[slot], a->out_size, &n, why, sizeof why);
		pthread_mutex_lock(&a->mu);
		if (n) {
			a->out_len[slot] = n;
			a->out_n++;
		}
		if (rc) {
			a->rc = rc;
			memcpy(a->why, why, sizeof a->why);
		} else if (!n)
			a->end = 1;
		pthread_cond_broadcast(&a->cv);
		pthread_mutex_unlock(&a->mu);
		if (rc || !n)
			return NULL;
	}
}

void ra_free(ra *a)
{
	if (!a)
		return;
	if (a->started) {
		pthread_mutex_lock(&a->mu);
		a->quit = 1;
		pthread_cond_broadcast(&a->cv);
		pthread_mutex_unlock(&a->mu);
		pthread_join(a->th, NULL);
	}
	if (a->sync) {
		pthread_mutex_destroy(&a->mu);
		pthread_cond_destroy(&a->cv);
	}
	for (unsigned i = 0; i < a->nin; i++)
		free(a->in[i]);
	for (unsigned i = 0; i < a->nout; i++)
		free(a->out[i]);
	free(a);
}

int ra_new(ra **out, unsigned nin, size_t in_size, unsigned nout, size_t out_size, ra_source_fn inner, void *ud)
{
	if (!nin || nin > RA_MAX_BUFFERS || !nout || nout > RA_MAX_BUFFERS || !in_size || !out_size)
		return LV_E_INVALID_ARG;
	ra *a = calloc(1, sizeof *a);
	if (!a)
		return LV_E_NOMEM;
	*a = (ra){.inner = inner, .inner_ud = ud, .nin = nin, .nout = nout, .in_size = in_size, .out_size = out_size};
	int ok = 1;
	for (unsigned i = 0; ok && i < nin; i++)
		ok = (a->in[i] = malloc(in_size)) != NULL;
	for (unsigned i = 0; ok && i < nout; i++)
		ok = (a->out[i] = malloc(out_size)) != NULL;
	if (ok && pthread_mutex_init(&a->mu, NULL) == 0) {
		if (pthread_cond_init(&a->cv, NULL) == 0)
			a->sync = 1;
		else
			pthread_mutex_destroy(&a->mu);
	}
	if (!a->sync) {
		ra_free(a);
		return LV_E_NOMEM;
	}
	*out = a;
	return 0;
}

int ra_start(ra *a, ra_make_fn make, void *ud)
{
	a->make = make;
	a->make_ud = ud;
	if (pthread_create(&a->th, NULL, worker, a) != 0)
		return LV_E_NOMEM;
	a->started = 1;
	return 0;
}

/* Fill free input buffers from the inner driver (the run's thread; a->mu held on entry and exit). */
static int top_up(ra *a)
{
	while (a->in_n < a->nin && !a->in_eof && !a->in_err && !a->end && !a->rc) {
		unsigned slot = (a->in_head + a->in_n) % a->nin; /* free until pushed */
		pthread_mutex_unlock(&a->mu);
		size_t got = 0;
		int rc = a->inner(a->inner_ud, a->in[slot], a->in_size, &got);
		if (!rc && got > a->in_size)
			rc = LV_E_IO;
		pthread_mutex_lock(&a->mu);
		if (rc)
			a->in_err = rc;
		else if (!got)
			a->in_eof = 1;
		else {
			a->in_len[slot] = got;
			a->in_n++;
		}
		pthread_cond_broadcast(&a->cv);
		if (rc)
			return rc;
	}
	return 0;
}

int ra_read(ra *a, void *buf, size_t cap, size_t *n, char *why, size_t whycap)
{
	*n = 0;
	if (whycap)
		why[0] = '\0';
	pthread_mutex_lock(&a->mu);
	for (;;) {
		int rc = top_up(a);
		if (a->out_n) {
			unsigned slot = a->out_head;
			size_t k = a->out_len[slot] - a->out_off < cap ? a->out_len[slot] - a->out_off : cap;
			memcpy(buf, a->out[slot] + a->out_off, k);
			a->out_off += k;
			if (a->out_off == a->out_len[slot]) {
				a->out_head = (a->out_head + 1) % a->nout;
				a->out_n--;
				a->out_off = 0;
				pthread_cond_broadcast(&a->cv);
			}
			pthread_mutex_unlock(&a->mu);
			*n = k;
			return 0;
		}
		if (rc || a->rc) {
			rc = rc ? rc : a->rc;
			if (whycap)
				snprintf(why, whycap, "%s", rc == a->rc ? a->why : "");
			pthread_mutex_unlock(&a->mu);
			return rc;
		}
		if (a->end) {
			pthread_mutex_unlock(&a->mu);
			return 0;
		}
		pthread_cond_wait(&a->cv, &a->mu);
	}
}
