/*
 * Reading an object ahead, on a second thread (readahead.h).
 */
#include "readahead.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "licvault/common.h"

/* A ring of count buffers of size bytes: n full ones from head, the head's read from off. */
typedef struct ring {
	unsigned char *buf[RA_MAX_BUFFERS];
	size_t len[RA_MAX_BUFFERS], size, off;
	unsigned count, head, n;
} ring;

static int ring_alloc(ring *r, unsigned count, size_t size)
{
	*r = (ring){.count = count, .size = size};
	for (unsigned i = 0; i < count; i++)
		if (!(r->buf[i] = malloc(size)))
			return -1;
	return 0;
}

static void ring_free(ring *r)
{
	for (unsigned i = 0; i < r->count; i++)
		free(r->buf[i]);
}

/* The buffer to fill next (free, and it stays free until pushed). */
static unsigned ring_slot(const ring *r)
{
	return (r->head + r->n) % r->count;
}

static void ring_push(ring *r, unsigned slot, size_t len)
{
	r->len[slot] = len;
	r->n++;
}

/* The head's unread bytes (n > 0): up to cap of them, their count in *k. */
static unsigned char *ring_peek(const ring *r, size_t cap, size_t *k)
{
	size_t left = r->len[r->head] - r->off;
	*k = left < cap ? left : cap;
	return r->buf[r->head] + r->off;
}

/* k bytes of the head were read: 1 when that emptied it (a buffer is free again). */
static int ring_took(ring *r, size_t k)
{
	r->off += k;
	if (r->off < r->len[r->head])
		return 0;
	r->head = (r->head + 1) % r->count;
	r->n--;
	r->off = 0;
	return 1;
}

struct ra {
	pthread_t th;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	int sync, started;           /* mu and cv made / the worker runs */
	ra_source_fn inner;          /* the run's thread's alone */
	void *inner_ud;
	ra_make_fn make;             /* the worker's alone once started */
	void *make_ud;
	ring in, out;                /* the inner object's bytes; the step's output */
	int in_eof, in_err;          /* the inner object ended / failed */
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
		if (a->in.n) {
			size_t k;
			unsigned char *src = ring_peek(&a->in, cap, &k);
			pthread_mutex_unlock(&a->mu);
			memcpy(buf, src, k); /* the run's thread never writes a full buffer */
			pthread_mutex_lock(&a->mu);
			if (ring_took(&a->in, k))
				pthread_cond_broadcast(&a->cv);
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
		while (a->out.n == a->out.count && !a->quit)
			pthread_cond_wait(&a->cv, &a->mu);
		unsigned slot = ring_slot(&a->out);
		int quit = a->quit;
		pthread_mutex_unlock(&a->mu);
		if (quit)
			return NULL;
		size_t n = 0;
		char why[sizeof a->why] = "";
		int rc = a->make(a->make_ud, a->out.buf[slot], a->out.size, &n, why, sizeof why);
		pthread_mutex_lock(&a->mu);
		if (n)
			ring_push(&a->out, slot, n);
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
	ring_free(&a->in);
	ring_free(&a->out);
	free(a);
}

int ra_new(ra **out, unsigned nin, size_t in_size, unsigned nout, size_t out_size, ra_source_fn inner, void *ud)
{
	if (!nin || nin > RA_MAX_BUFFERS || !nout || nout > RA_MAX_BUFFERS || !in_size || !out_size)
		return LV_E_INVALID_ARG;
	ra *a = calloc(1, sizeof *a);
	if (!a)
		return LV_E_NOMEM;
	*a = (ra){.inner = inner, .inner_ud = ud};
	int ok = ring_alloc(&a->in, nin, in_size) == 0 && ring_alloc(&a->out, nout, out_size) == 0;
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
	while (a->in.n < a->in.count && !a->in_eof && !a->in_err && !a->end && !a->rc) {
		unsigned slot = ring_slot(&a->in);
		pthread_mutex_unlock(&a->mu);
		size_t got = 0;
		int rc = a->inner(a->inner_ud, a->in.buf[slot], a->in.size, &got);
		if (!rc && got > a->in.size)
			rc = LV_E_IO;
		pthread_mutex_lock(&a->mu);
		if (rc)
			a->in_err = rc;
		else if (!got)
			a->in_eof = 1;
		else
			ring_push(&a->in, slot, got);
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
		if (a->out.n) {
			size_t k;
			const unsigned char *src = ring_peek(&a->out, cap, &k);
			memcpy(buf, src, k);
			if (ring_took(&a->out, k))
				pthread_cond_broadcast(&a->cv);
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
