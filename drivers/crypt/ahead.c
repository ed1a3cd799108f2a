/*
 * Opening a sealed object ahead, on a worker thread (ahead.h).
 */
#include "ahead.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "licvault/common.h"

#define NIN 4
#define IN_SIZE (1u << 20)
#define NOUT 4
#define OUT_SIZE (1u << 20)

struct lvc_ahead {
	pthread_t th;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	int started;
	lvc_dec *dec;                /* the worker's alone once started */
	lvc_source_fn inner;         /* the run's thread's alone */
	void *inner_ud;
	unsigned char *in[NIN];
	size_t in_len[NIN], in_off; /* in[in_head] is being consumed from in_off */
	unsigned in_head, in_n;
	int in_eof, in_err;          /* the inner object ended / failed */
	unsigned char *out[NOUT];
	size_t out_len[NOUT], out_off;
	unsigned out_head, out_n;
	int end, rc, quit;           /* the worker: the object checked out / failed / stop */
	char why[400];
};

/* The worker's source: ciphertext from the input ring. */
static int ring_source(void *ud, void *buf, size_t cap, size_t *n)
{
	lvc_ahead *a = ud;
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
				a->in_head = (a->in_head + 1) % NIN;
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
	lvc_ahead *a = p;
	for (;;) {
		pthread_mutex_lock(&a->mu);
		while (a->out_n == NOUT && !a->quit)
			pthread_cond_wait(&a->cv, &a->mu);
		unsigned slot = (a->out_head + a->out_n) % NOUT; /* free, and stays free until pushed */
		int quit = a->quit;
		pthread_mutex_unlock(&a->mu);
		if (quit)
			return NULL;
		size_t n = 0;
		int rc = lvc_dec_read(a->dec, a->out[slot], OUT_SIZE, &n);
		pthread_mutex_lock(&a->mu);
		if (rc) {
			a->rc = rc;
			snprintf(a->why, sizeof a->why, "%s", lvc_dec_why(a->dec));
		} else if (!n)
			a->end = 1;
		else {
			a->out_len[slot] = n;
			a->out_n++;
		}
		pthread_cond_broadcast(&a->cv);
		pthread_mutex_unlock(&a->mu);
		if (rc || !n)
			return NULL;
	}
}

void lvc_ahead_free(lvc_ahead *a)
{
	if (!a)
		return;
	if (a->started) {
		pthread_mutex_lock(&a->mu);
		a->quit = 1;
		pthread_cond_broadcast(&a->cv);
		pthread_mutex_unlock(&a->mu);
		pthread_join(a->th, NULL);
		pthread_mutex_destroy(&a->mu);
		pthread_cond_destroy(&a->cv);
	}
	lvc_dec_free(a->dec);
	for (int i = 0; i < NIN; i++)
		free(a->in[i]);
	for (int i = 0; i < NOUT; i++)
		free(a->out[i]);
	free(a);
}

int lvc_ahead_new(lvc_ahead **out, const lvc_key *k, const char *name, lvc_source_fn inner, void *ud)
{
	lvc_ahead *a = calloc(1, sizeof *a);
	if (!a)
		return LV_E_NOMEM;
	a->inner = inner;
	a->inner_ud = ud;
	int ok = lvc_dec_new(&a->dec, k, name, ring_source, a) == 0;
	for (int i = 0; ok && i < NIN; i++)
		ok = (a->in[i] = malloc(IN_SIZE)) != NULL;
	for (int i = 0; ok && i < NOUT; i++)
		ok = (a->out[i] = malloc(OUT_SIZE)) != NULL;
	if (ok && pthread_mutex_init(&a->mu, NULL) == 0) {
		if (pthread_cond_init(&a->cv, NULL) != 0)
			pthread_mutex_destroy(&a->mu);
		else if (pthread_create(&a->th, NULL, worker, a) != 0) {
			pthread_cond_destroy(&a->cv);
			pthread_mutex_destroy(&a->mu);
		} else
			a->started = 1;
	}
	if (!a->started) {
		lvc_ahead_free(a);
		return LV_E_NOMEM;
	}
	*out = a;
	return 0;
}

/* Fill free input buffers from the inner driver (the run's thread; a->mu held on entry and exit). */
static int top_up(lvc_ahead *a)
{
	while (a->in_n < NIN && !a->in_eof && !a->in_err && !a->end && !a->rc) {
		unsigned slot = (a->in_head + a->in_n) % NIN; /* free until pushed */
		pthread_mutex_unlock(&a->mu);
		size_t got = 0;
		int rc = a->inner(a->inner_ud, a->in[slot], IN_SIZE, &got);
		if (!rc && got > IN_SIZE)
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

int lvc_ahead_read(lvc_ahead *a, void *buf, size_t cap, size_t *n, char *why, size_t whycap)
{
	*n = 0;
	pthread_mutex_lock(&a->mu);
	for (;;) {
		int rc = top_up(a);
		if (a->out_n) {
			unsigned slot = a->out_head;
			size_t k = a->out_len[slot] - a->out_off < cap ? a->out_len[slot] - a->out_off : cap;
			memcpy(buf, a->out[slot] + a->out_off, k);
			a->out_off += k;
			if (a->out_off == a->out_len[slot]) {
				a->out_head = (a->out_head + 1) % NOUT;
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
