/*
 * libFuzzer target: the license file parser (lv_license_parse_file), through
 * a file in /dev/shm (it takes a path); a parsed license is written back and
 * parsed again, and must come back the same.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "license.h"

static char path[64], path2[64];

static void setup(void)
{
	if (path[0])
		return;
	const char *d = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp";
	snprintf(path, sizeof path, "%s/lvfuzz-lic-%ld", d, (long)getpid());
	snprintf(path2, sizeof path2, "%s/lvfuzz-lic2-%ld", d, (long)getpid());
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	setup();
	FILE *f = fopen(path, "wb");
	if (!f)
		return 0;
	fwrite(data, 1, size, f);
	fclose(f);
	lv_license *l = NULL;
	char err[512] = "";
	int rc = lv_license_parse_file(&l, path, err, sizeof err);
	if (rc == 0) {
		char err2[512];
		if (lv_license_write_file(l, path2, err2, sizeof err2) == 0) {
			lv_license *l2 = NULL;
			if (lv_license_parse_file(&l2, path2, err2, sizeof err2) != 0)
				abort(); /* what licvault writes, it reads */
			if (strcmp(l->kid, l2->kid) || l->payload_len != l2->payload_len ||
			    (l->payload_len && memcmp(l->payload, l2->payload, l->payload_len)) ||
			    l->rights != l2->rights || l->play_count != l2->play_count)
				abort();
			lv_license_free(l2);
		}
		lv_license_free(l);
	} else if (!err[0])
		abort(); /* every refusal names the problem */
	unlink(path); /* nothing left in /dev/shm when the run ends */
	unlink(path2);
	return 0;
}
