/*
 * licvault-gen: fill a store with realistic synthetic licenses, for demos,
 * tests and benchmarks.  Deterministic from the seed.
 *   licvault-gen --store FILE --count N [--restricted PERCENT] [--seed S]
 */
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "licvault/licvault.h"

static uint64_t rng_state;

static uint64_t rnd(void)
{
	/* splitmix64 */
	uint64_t z = (rng_state += 0x9e3779b97f4a7c15ULL);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

static const char *words[] = {"Blue", "Night", "River", "Echo", "Glass", "Summer", "Shadow", "Gold",
                              "Silent", "Wild", "Paper", "Electric", "Morning", "Stone", "Velvet", "Fire"};
static const char *kinds[] = {"Song", "Album", "Film", "Episode", "Audiobook"};
static const char *issuers[] = {"Contoso Music", "Fabrikam Films", "Northwind Audio", "Tailspin Media"};

typedef struct gen {
	uint64_t count;
	unsigned restricted_pct;
} gen;

static int fill(lv_store *s, void *ud)
{
	gen *g = ud;
	unsigned char *payload = malloc(4096);
	char title[128], kid[64], content[64];
	int rc = 0;
	for (uint64_t i = 0; i < g->count && !rc; i++) {
		uint64_t a = rnd(), b = rnd();
		snprintf(kid, sizeof kid, "%08" PRIx64 "-%04" PRIx64 "-%04" PRIx64 "-%04" PRIx64 "-%012" PRIx64,
		         a >> 32, (a >> 16) & 0xffff, a & 0xffff, b >> 48, (uint64_t)(b & 0xffffffffffffULL));
		snprintf(content, sizeof content, "urn:content:%016" PRIx64, rnd());
		snprintf(title, sizeof title, "%s %s %s #%" PRIu64, words[rnd() % 16], words[rnd() % 16],
		         kinds[rnd() % 5], i + 1);
		/* 1 to 4 KB: a readable header (as license XML would be) then key material */
		size_t len = 1024 + (size_t)(rnd() % 3073);
		int hl = snprintf((char *)payload, len, "<license kid=\"%s\" content=\"%s\" policy=\"standard\">",
		                  kid, content);
		for (size_t k = (size_t)hl; k < len; k += 8) {
			uint64_t r = rnd();
			memcpy(payload + k, &r, len - k < 8 ? len - k : 8);
		}
		lv_license l = {0};
		l.kid = kid;
		l.content_id = content;
		l.title = title;
		l.issuer = issuers[rnd() % 4];
		l.issued = 1600000000 + (int64_t)(rnd() % 100000000);
		l.expires = rnd() % 4 ? 0 : l.issued + 365 * 86400;
		l.rights = LV_RIGHT_PLAY | (rnd() % 2 ? LV_RIGHT_COPY : 0) | (rnd() % 3 ? 0 : LV_RIGHT_BURN);
		if (rnd() % 100 >= g->restricted_pct)
			l.rights |= LV_RIGHT_BACKUP;
		l.play_count = rnd() % 4 ? 0 : (uint32_t)(5 + rnd() % 20);
		l.plays_left = l.play_count ? (uint32_t)(rnd() % (l.play_count + 1)) : 0;
		l.payload = payload;
		l.payload_len = len;
		rc = lv_store_add(s, &l, LV_PUT_REPLACE);
	}
	free(payload);
	return rc;
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{"store", required_argument, NULL, 's'},
		{"count", required_argument, NULL, 'n'},
		{"restricted", required_argument, NULL, 'r'},
		{"seed", required_argument, NULL, 'S'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	const char *store = NULL;
	gen g = {0, 10};
	uint64_t seed = 1;
	int c;
	char *end;
	while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
		switch (c) {
		case 's': store = optarg; break;
		case 'n':
			g.count = strtoull(optarg, &end, 10);
			if (*end || !*optarg) {
				fprintf(stderr, "licvault-gen: --count: '%s' is not a number\n", optarg);
				return 2;
			}
			break;
		case 'r': {
			unsigned long v = strtoul(optarg, &end, 10);
			if (*end || !*optarg || v > 100) {
				fprintf(stderr, "licvault-gen: --restricted: expected 0 to 100, got '%s'\n", optarg);
				return 2;
			}
			g.restricted_pct = (unsigned)v;
			break;
		}
		case 'S':
			seed = strtoull(optarg, &end, 10);
			if (*end || !*optarg) {
				fprintf(stderr, "licvault-gen: --seed: '%s' is not a number\n", optarg);
				return 2;
			}
			break;
		case 'h':
			printf("usage: licvault-gen --store FILE --count N [--restricted PERCENT] [--seed S]\n");
			return 0;
		default:
			return 2;
		}
	}
	if (!store || optind != argc) {
		fprintf(stderr, "usage: licvault-gen --store FILE --count N [--restricted PERCENT] [--seed S]\n");
		return 2;
	}
	rng_state = seed;
	lv_context *ctx = NULL;
	lv_store *s = NULL;
	if (lv_context_new(&ctx))
		return 1;
	int rc = lv_store_open(&s, ctx, store, LV_STORE_CREATE);
	if (rc) {
		fprintf(stderr, "licvault-gen: error: %s: %s\n", lv_error_name(rc), lv_context_last_error(ctx));
		lv_context_free(ctx);
		return 1;
	}
	rc = lv_store_transaction(s, fill, &g);
	if (rc)
		fprintf(stderr, "licvault-gen: error: %s: %s\n", lv_error_name(rc), lv_store_last_error(s));
	else
		printf("added %" PRIu64 " licenses to %s\n", g.count, store);
	lv_store_free(s);
	lv_context_free(ctx);
	return rc ? 1 : 0;
}
