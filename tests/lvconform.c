/*
 * lvconform: run the driver conformance suite against a location.
 *   lvconform [--config FILE] [--driver-dir DIR] [--large MIB] [-v] URI
 * Exit 0 when every check passes.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>

#include "conformance.h"

int main(int argc, char **argv)
{
	const char *config = NULL;
	unsigned large = 32;
	int verbose = 0, c;
	lv_context *ctx = NULL;
	if (lv_context_new(&ctx))
		return 2;
	static const struct option lo[] = {{"config", 1, NULL, 'c'}, {"driver-dir", 1, NULL, 'd'},
	                                   {"large", 1, NULL, 'l'}, {NULL, 0, NULL, 0}};
	while ((c = getopt_long(argc, argv, "v", lo, NULL)) != -1) {
		switch (c) {
		case 'c': config = optarg; break;
		case 'd': lv_context_add_driver_dir(ctx, optarg); break;
		case 'l': large = (unsigned)atoi(optarg); break;
		case 'v': verbose = 1; break;
		default: return 2;
		}
	}
	if (optind != argc - 1) {
		fprintf(stderr, "usage: lvconform [--config FILE] [--driver-dir DIR] [--large MIB] [-v] URI\n");
		return 2;
	}
	if (lv_context_load_config(ctx, config) || lv_context_check_config(ctx)) {
		fprintf(stderr, "lvconform: %s\n", lv_context_last_error(ctx));
		return 2;
	}
	int ran = 0;
	int failed = lv_conformance_run(ctx, argv[optind], large, verbose, &ran);
	printf("%d passed, %d failed\n", ran - failed, failed);
	lv_context_free(ctx);
	return failed ? 1 : 0;
}
