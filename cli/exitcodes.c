/*
 * The exit code of every error name.  A new error code in the library is one
 * line in by_name[] (tests/test_cli.c fails while an lv_error has no line),
 * plus its line in licvault(1)'s EXIT STATUS and docs/cli.md.
 */
#include <string.h>

#include "cli.h"

static const struct {
	int code;
	const char *meaning;
} codes[] = {
	{CLI_EXIT_OK, "success"},
	{CLI_EXIT_FAILED, "failed (any error without a code of its own)"},
	{CLI_EXIT_USAGE, "usage or config: bad command line, config file, URI or argument"},
	{CLI_EXIT_EXISTS, "a backup is already at the location (or a shrinking backup was refused)"},
	{CLI_EXIT_NOT_FOUND, "not found: no backup at the location, no such license or volume"},
	{CLI_EXIT_LOCKED, "locked: another run holds the location or the store"},
	{CLI_EXIT_CORRUPT, "the backup is corrupt, incomplete or truncated"},
	{CLI_EXIT_AUTH, "authentication failed, or the server's host key is unknown or changed"},
	{CLI_EXIT_REFUSED, "the license service refused the restore (limits, individualization)"},
	{CLI_EXIT_NO_SPACE, "no space left"},
	{CLI_EXIT_IO, "input/output or network failure, or the license service is unreachable"},
	{CLI_EXIT_SIGINT, "canceled by SIGINT (Ctrl-C)"},
	{CLI_EXIT_SIGPIPE, "standard output was closed (SIGPIPE/EPIPE)"},
	{CLI_EXIT_SIGTERM, "canceled by SIGTERM"},
};

/* One line per error name (lv_error_name), in the order of common.h. */
static const struct {
	const char *name;
	int code;
} by_name[] = {
	{"OK", CLI_EXIT_OK},
	{"BACKUP_EXISTS", CLI_EXIT_EXISTS},
	{"BACKUP_CORRUPT", CLI_EXIT_CORRUPT},
	{"BUSY", CLI_EXIT_LOCKED},
	{"CANCELED", CLI_EXIT_SIGINT},
	{"RESTORE_LIMIT", CLI_EXIT_REFUSED},
	{"DAILY_LIMIT", CLI_EXIT_REFUSED},
	{"SERVICE_UNAVAILABLE", CLI_EXIT_IO},
	{"NEEDS_INDIVIDUALIZATION", CLI_EXIT_REFUSED},
	{"NOT_ALL_STORED", CLI_EXIT_FAILED},
	{"NO_PATH", CLI_EXIT_USAGE},
	{"NO_DRIVER", CLI_EXIT_USAGE},
	{"DRIVER_ABI", CLI_EXIT_FAILED},
	{"BAD_URI", CLI_EXIT_USAGE},
	{"CONFIG", CLI_EXIT_USAGE},
	{"AUTH", CLI_EXIT_AUTH},
	{"HOST_KEY", CLI_EXIT_AUTH},
	{"NOT_FOUND", CLI_EXIT_NOT_FOUND},
	{"NO_SPACE", CLI_EXIT_NO_SPACE},
	{"IO", CLI_EXIT_IO},
	{"UNSUPPORTED", CLI_EXIT_FAILED},
	{"INVALID_ARG", CLI_EXIT_USAGE},
	{"NOMEM", CLI_EXIT_FAILED},
	{"EXISTS", CLI_EXIT_FAILED},
	{"CORRUPT", CLI_EXIT_FAILED},
	/* announced by issue 15 (the library does not have it yet) */
	{"BACKUP_SHRINK", CLI_EXIT_EXISTS},
};

int exit_code_by_name(const char *name)
{
	for (size_t i = 0; name && i < sizeof by_name / sizeof by_name[0]; i++)
		if (!strcmp(by_name[i].name, name))
			return by_name[i].code;
	return -1;
}

int exit_code_of(int code)
{
	if (code == 0)
		return CLI_EXIT_OK;
	int ex = exit_code_by_name(lv_error_name(code));
	return ex < 0 ? CLI_EXIT_FAILED : ex;
}

void exit_codes_foreach(void (*code_cb)(int, const char *, void *), void (*name_cb)(const char *, int, void *),
                        void *ud)
{
	for (size_t i = 0; code_cb && i < sizeof codes / sizeof codes[0]; i++)
		code_cb(codes[i].code, codes[i].meaning, ud);
	for (size_t i = 0; name_cb && i < sizeof by_name / sizeof by_name[0]; i++)
		name_cb(by_name[i].name, by_name[i].code, ud);
}
