/* A target that must crash on its seed: run.sh's self-check (LV_FUZZ_CANARY=1). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size >= 2 && !memcmp(data, "LV", 2))
		abort();
	return 0;
}
