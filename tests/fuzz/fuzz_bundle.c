/*
 * libFuzzer target for the bundle container reader (drivers/bundle/container.c),
 * built without the core:
 *   clang -g -O1 -fsanitize=fuzzer,address,undefined -I include -I drivers/bundle \
 *         tests/fuzz/fuzz_bundle.c drivers/bundle/container.c -lz -lpthread
 * The input is a bundle file; the first byte also picks how the reader is fed
 * (whole buffers or small pieces), as inner drivers return short reads.
 * Every input must end in END or in an error with a reason; nothing may
 * crash, leak or read out of bounds, and the output must stay within what
 * the records declared.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "container.h"
#include "licvault/driver.h"

typedef struct src {
	const uint8_t *p;
	size_t n, pos, piece;
} src;

static int mem_read(void *ud, void *buf, size_t cap, size_t *n)
{
	src *s = ud;
	size_t k = s->n - s->pos;
	if (k > cap)
		k = cap;
	if (s->piece && k > s->piece)
		k = s->piece;
	memcpy(buf, s->p + s->pos, k);
	s->pos += k;
	*n = k;
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const size_t pieces[4] = {0, 1, 7, 4096};
	src s = {data, size, 0, size ? pieces[data[0] & 3] : 0};
	lvb_dec *d = NULL;
	if (lvb_dec_new(&d, mem_read, &s))
		return 0;
	uint64_t data_bytes = 0;
	for (;;) {
		lvb_event ev;
		int rc = lvb_dec_next(d, &ev);
		if (rc) {
			if (rc == LV_E_BACKUP_CORRUPT && !lvb_dec_why(d)[0])
				abort(); /* a refusal must say why */
			break;
		}
		if (ev.type == LVB_EV_DATA) {
			if (ev.len == 0 || ev.len > LVB_CHUNK_MAX)
				abort();
			data_bytes += ev.len;
		}
		if (ev.type == LVB_EV_OBJECT && !lvb_name_ok(ev.name, strlen(ev.name)))
			abort();
		if (ev.type == LVB_EV_END) {
			if (ev.size != data_bytes || s.pos != s.n)
				abort(); /* END means all of the input, and sizes agree */
			break;
		}
	}
	lvb_dec_free(d);
	return 0;
}
