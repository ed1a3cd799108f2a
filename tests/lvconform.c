/*
 * lvconform: run the driver conformance suite (conformance.c) against a
 * location.  Installed with licvault, for driver authors.
 *   lvconform [--config FILE] [--driver-dir DIR] [--large MIB] [-v] URI
 * Exit 0 when every check passes, 1 when one fails (a URI it cannot open
 * fails preflight), 2 for a usage or config error.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conformance.h"

#define USAGE "usage: lvconform [--config FILE] [--driver-dir DIR] [--large MIB] [-v] URI\n"

static void help(void)
{
	printf(USAGE "\n"
	       "Check the driver serving URI's scheme against licvault's driver contract\n"
	       "(docs/writing-a-driver.md), the way the core uses a location.  URI must be a\n"
	       "location of its own: the suite writes and removes objects there (conf-*,\n"
	       "licvault.lock, licvault-g<16 hex>.pack|.manifest, licvault-registry-*), and\n"
	       "refuses a location holding licvault objects it did not write.\n\n"
	       "  --config FILE      the licvault config file (driver sections, named locations);\n"
	       "                     it is checked first\n"
	       "  --driver-dir DIR   search DIR for drivers too (a driver being built)\n"
	       "  --large MIB        size of the large-object check (default 32; 0 skips it)\n"
	       "  -v, --verbose      a line for every check, not only for failures\n"
	       "  -h, --help         this text\n\n"
	       "The checks, in order:\n");
	for (int i = 0; i < LVC__N; i++)
		printf("  %-12s %s\n", lvc_check_name(i), lvc_check_title(i));
	printf("\nExit status: 0 when every check passes; 1 when one fails, a URI it cannot open\n"
	       "included (it fails preflight, with NO_DRIVER for a scheme no driver serves);\n"
	       "2 for a usage or config error.\n");
}

/* A whole number from 0 to 65536, or -1. */
static long mib_arg(const char *s)
{
	char *end;
	long v = strtol(s, &end, 10);
	return *s && !*end && v >= 0 && v <= 65536 ? v : -1;
}

int main(int argc, char **argv)
{
	const char *config = NULL;
	lvc_options opt = {32, 0, stderr};
	lv_context *ctx = NULL;
	if (lv_context_new(&ctx)) {
		fprintf(stderr, "lvconform: out of memory\n");
		return 2;
	}
	static const struct option lo[] = {{"config", 1, NULL, 'c'}, {"driver-dir", 1, NULL, 'd'}, {"large", 1, NULL, 'l'},
	                                   {"verbose", 0, NULL, 'v'}, {"help", 0, NULL, 'h'},     {NULL, 0, NULL, 0}};
	int c, status = -1;
	while (status < 0 && (c = getopt_long(argc, argv, "vh", lo, NULL)) != -1) {
		switch (c) {
		case 'c': config = optarg; break;
		case 'd':
			if (lv_context_add_driver_dir(ctx, optarg)) {
				fprintf(stderr, "lvconform: --driver-dir %s: %s\n", optarg, lv_context_last_error(ctx));
				status = 2;
			}
			break;
		case 'l':
			if (mib_arg(optarg) < 0) {
				fprintf(stderr, "lvconform: --large %s: expected a size in MiB from 0 to 65536\n", optarg);
				status = 2;
			}
			opt.large_mib = (unsigned)mib_arg(optarg);
			break;
		case 'v': opt.verbose = 1; break;
		case 'h': help(); status = 0; break;
		default: fputs(USAGE, stderr); status = 2;
		}
	}
	if (status < 0 && optind != argc - 1) {
		fputs(USAGE "lvconform --help says more\n", stderr);
		status = 2;
	}
	if (status < 0 && (lv_context_load_config(ctx, config) || lv_context_check_config(ctx))) {
		fprintf(stderr, "lvconform: %s\n", lv_context_last_error(ctx));
		status = 2;
	}
	if (status < 0) {
		lvc_result res;
		lvc_run(ctx, argv[optind], &opt, &res);
		printf("%d passed, %d failed\n", res.ran - res.failed, res.failed);
		status = res.failed ? 1 : 0;
	}
	lv_context_free(ctx);
	return status;
}
