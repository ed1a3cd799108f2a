/* libFuzzer target: the pack record decoder (lv__record_decode). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "format.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	lv_buf scratch = {0};
	lv_license lic;
	const char *why = NULL;
	int rc = lv__record_decode(data, size, &lic, &scratch, &why);
	if (rc == 0) {
		/* a decoded record is a valid license: copy it as the store would */
		const char *w2;
		if (lv_license_validate(&lic, &w2))
			abort();
		lv_license *d = NULL;
		if (lv_license_dup(&d, &lic) == 0) {
			if (strcmp(d->kid, lic.kid) || d->payload_len != lic.payload_len)
				abort();
			lv_license_free(d);
		}
	} else if (rc == LV_E_BACKUP_CORRUPT && !why)
		abort(); /* every refusal says why */
	lv__buf_free(&scratch);
	return 0;
}
