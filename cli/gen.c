/*
 * licvault-gen: fill a store with realistic synthetic licenses, for demos,
 * tests and benchmarks.  Deterministic from the seed.
 *   licvault-gen --store FILE --count N [--restricted PERCENT] [--seed S]
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdint.h>
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

#define USAGE "usage: licvault-gen --store FILE --count N [--restricted PERCENT] [--seed S]\n"

/* A usage error: "licvault-gen: " and the message, then the usage line; returns exit status 2. */
static int usage_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int usage_error(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	fputs("licvault-gen: ", stderr);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputs("\n" USAGE, stderr);
	return 2;
}

/*
 * arg as a decimal number from 0 to max: 0, or 2 (a usage error, said).
 * Digits only, because strtoull alone takes " 5" and "+5", reads "-5" as
 * 2^64-5 (a run that never ends) and an overflowing number as its largest.
 */
static int number(const char *opt, const char *arg, uint64_t max, uint64_t *out)
{
	char *end = NULL;
	errno = 0;
	unsigned long long v = arg[0] >= '0' && arg[0] <= '9' ? strtoull(arg, &end, 10) : 0;
	if (!end || *end || errno == ERANGE || v > max)
		return usage_error("--%s: expected a number from 0 to %" PRIu64 ", got '%s'", opt, max, arg);
	*out = v;
	return 0;
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
	uint64_t seed = 1, pct = g.restricted_pct;
	int c, rc = 0, counted = 0;
	opterr = 0;   /* getopt's own messages would name the program by its path: ours say licvault-gen */
	while (!rc && (c = getopt_long(argc, argv, ":h", longopts, NULL)) != -1) {
		switch (c) {
		case 's': store = optarg; break;
		case 'n':
			rc = number("count", optarg, UINT64_MAX, &g.count);
			counted = 1;
			break;
		case 'r': rc = number("restricted", optarg, 100, &pct); break;
		case 'S': rc = number("seed", optarg, UINT64_MAX, &seed); break;
		case 'h':
			fputs(USAGE, stdout);
			return 0;
		case ':': return usage_error("%s needs an argument", argv[optind - 1]); /* only long options take one */
		default:
			/* optopt: 0 for an unknown long option (argv[optind - 1] is it); the letter of an unknown
			 * short one, whose argument may hold more letters after it (optind has not moved on);
			 * 'h' for --help=VALUE (-h is known) */
			if (optopt == 'h')
				return usage_error("--help takes no argument");
			if (optopt)
				return usage_error("unknown option '-%c'", optopt);
			return usage_error("unknown option '%s'", argv[optind - 1]);
		}
	}
	if (rc)
		return rc;
	/* no default count: a run that adds nothing would look like one that worked */
	if (!store || !counted)
		return usage_error("%s is required", !store ? "--store FILE" : "--count N");
	if (optind != argc)
		return usage_error("unexpected argument '%s'", argv[optind]);
	g.restricted_pct = (unsigned)pct;
	rng_state = seed;
	lv_context *ctx = NULL;
	lv_store *s = NULL;
	if (lv_context_new(&ctx))
		return 1;
	rc = lv_store_open(&s, ctx, store, LV_STORE_CREATE);
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
