/* Digests, base64 and random numbers, all from OpenSSL's libcrypto. */
#include "s3_int.h"

#include <string.h>
#include <time.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

void s3_hex(const unsigned char *in, size_t n, char *out)
{
	static const char digits[] = "0123456789abcdef";
	for (size_t i = 0; i < n; i++) {
		out[2 * i] = digits[in[i] >> 4];
		out[2 * i + 1] = digits[in[i] & 15];
	}
	out[2 * n] = '\0';
}

void s3_sha256_hex(const void *data, size_t n, char out[65])
{
	unsigned char d[32];
	unsigned int len = 0;
	if (!EVP_Digest(data, n, d, &len, EVP_sha256(), NULL) || len != 32)
		memset(d, 0, sizeof d); /* a wrong hash is refused by the server, never trusted */
	s3_hex(d, 32, out);
}

void s3_md5(const void *data, size_t n, unsigned char out[16])
{
	unsigned int len = 0;
	if (!EVP_Digest(data, n, out, &len, EVP_md5(), NULL) || len != 16)
		memset(out, 0, 16);
}

void s3_base64(const unsigned char *in, size_t n, char *out, size_t cap)
{
	if (cap < 4 * ((n + 2) / 3) + 1) {
		if (cap)
			out[0] = '\0';
		return;
	}
	EVP_EncodeBlock((unsigned char *)out, in, (int)n);
}

uint64_t s3_random(uint64_t n)
{
	uint64_t r = 0;
	if (n <= 1)
		return 0;
	if (RAND_bytes((unsigned char *)&r, sizeof r) != 1) {   /* jitter only: the clock will do */
		struct timespec ts;
		clock_gettime(CLOCK_MONOTONIC, &ts);
		r = (uint64_t)ts.tv_nsec * 6364136223846793005ULL + 1442695040888963407ULL;
	}
	return r % n;
}
