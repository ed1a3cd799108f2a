/*
 * libFuzzer target: the manifest reader (lv__manifest_begin/next), fed in
 * chunks whose sizes come from the input's first byte (short reads), with
 * the object size known or not.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "format.h"

typedef struct mem_src {
	const uint8_t *p;
	size_t n, off, chunk;
} mem_src;

static int mem_read(void *src, void *buf, size_t cap, size_t *n)
{
	mem_src *m = src;
	size_t k = m->n - m->off;
	if (k > cap)
		k = cap;
	if (m->chunk && k > m->chunk)
		k = m->chunk;
	memcpy(buf, m->p + m->off, k);
	m->off += k;
	*n = k;
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	unsigned ctl = data[0];
	mem_src m = {data + 1, size - 1, 0, ctl & 0x7f};
	lv_manifest_reader r;
	int rc = lv__manifest_begin(&r, mem_read, &m, (ctl & 0x80) ? UINT64_MAX : (uint64_t)(size - 1), 0);
	if (rc == 0) {
		lv_manifest_entry e;
		uint64_t k = 0;
		while ((rc = lv__manifest_next(&r, &e)) == 1) {
			/* what the reader promises of every entry */
			if (!lv__kid_valid(e.kid, strlen(e.kid)) || e.offset < LV_PACK_HEADER_LEN ||
			    e.offset + 4 + e.length > r.hdr.pack_size)
				abort();
			k++;
		}
		if (rc == 0 && k != r.hdr.count)
			abort();
	}
	lv__manifest_end(&r);
	return 0;
}
