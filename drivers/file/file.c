/*
 * The file driver: a backup location in a local folder.
 *   file:///abs/dir, file://localhost/abs/dir, or a plain path (/abs/dir, ./rel, ~/dir)
 * The URI is split and percent-decoded by the host (host->uri_parse); the
 * objects are the shared local-folder code's (drivers/common/localfs.c).
 */
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "licvault/driver.h"
#include "localfs.h"

#define FILE_FORM "file:///abs/dir (or a plain path)"

/* dir/rest, malloc'd; NULL when out of memory. */
static char *join(const char *dir, const char *rest)
{
	size_t n = strlen(dir) + strlen(rest) + 2;
	char *p = malloc(n);
	if (p)
		snprintf(p, n, "%s/%s", dir, rest);
	return p;
}

/*
 * The home folder for '~': $HOME, which a set-user-ID process does not read
 * (secure_getenv), else the effective user's in the password database, as
 * the core does.  NULL when neither is known.
 */
static const char *home_dir(char *buf, size_t cap)
{
	const char *home = secure_getenv("HOME");
	struct passwd pw, *res = NULL;
	if (!home && getpwuid_r(geteuid(), &pw, buf, cap, &res) == 0 && res)
		home = res->pw_dir;
	return home;
}

/* A plain path, as given: absolute, ~ or ~/x, or relative to the current directory. */
static int plain_dir(const lv_host *host, lv_host_ctx *h, const char *path, char **out)
{
	if (path[0] == '/')
		*out = strdup(path);
	else if (path[0] == '~' && (path[1] == '/' || !path[1])) {
		char pwbuf[4096];
		const char *home = home_dir(pwbuf, sizeof pwbuf);
		if (!home || home[0] != '/')
			return host->set_error(h, LV_E_BAD_URI, "'%s': no home directory ($HOME) to expand '~'", path);
		*out = join(home, path[1] ? path + 2 : "");
	} else {
		char cwd[4096];
		if (!getcwd(cwd, sizeof cwd))
			return host->set_error(h, LV_E_IO, "'%s': cannot find the current directory", path);
		*out = join(cwd, path);
	}
	return *out ? 0 : host->set_error(h, LV_E_NOMEM, "out of memory opening %s", path);
}

/* The local directory a URI names: *out malloc'd.  Errors are described. */
static int uri_dir(const lv_host *host, lv_host_ctx *h, const char *uri, char **out)
{
	lv_uri *u = NULL;
	int rc = host->uri_parse(h, uri, &u);
	if (rc || !u)
		return rc ? rc : host->set_error(h, LV_E_IO, "the host's URI parser gave nothing for %s", uri);
	*out = NULL;
	if (!u->scheme[0])
		rc = plain_dir(host, h, u->path, out);
	else if (u->inner)
		rc = host->set_error(h, LV_E_BAD_URI, "'%s': the file driver stacks on nothing: use " FILE_FORM, uri);
	else if (u->user || u->password || u->port || u->query || strchr(uri, '#'))
		/* the URI is not echoed: it may hold a password */
		rc = host->set_error(h, LV_E_BAD_URI,
		                     "a file URI with a user, password, port, query or fragment: a file URI names a "
		                     "local folder only: " FILE_FORM);
	else if (u->host && strcasecmp(u->host, "localhost") != 0)
		rc = host->set_error(h, LV_E_BAD_URI, "'%s' names host '%s': a file URI names a local folder only: " FILE_FORM,
		                     uri, u->host);
	else if (u->path[0] != '/')
		rc = host->set_error(h, LV_E_BAD_URI, "'%s': the path must be absolute: " FILE_FORM, uri);
	else if (!(*out = strdup(u->path)))
		rc = host->set_error(h, LV_E_NOMEM, "out of memory opening %s", uri);
	host->uri_free(u);
	return rc;
}

static int file_open(const lv_host *host, lv_host_ctx *h, const char *uri, unsigned flags, void **inst)
{
	char *dir = NULL;
	int rc = uri_dir(host, h, uri, &dir);
	if (rc)
		return rc;
	lfs *fs = NULL;
	rc = lfs_open(&fs, host, h, dir, flags, 0);
	free(dir);
	if (rc)
		return rc;
	*inst = fs;
	return 0;
}

static const lv_driver_ops file_ops = {
	.open = file_open,
	.close = lfs_close,
	.write_begin = lfs_write_begin,
	.write = lfs_write,
	.commit = lfs_commit,
	.abort = lfs_abort,
	.read_open = lfs_read_open,
	.read = lfs_read,
	.read_close = lfs_read_close,
	.list = lfs_list,
	.remove = lfs_remove,
	.stat = lfs_stat,
	.sync = lfs_sync,
	.space = lfs_space,
	.cleanup = lfs_cleanup,
	.enumerate = NULL,
};

static const char *const file_schemes[] = {"file", NULL};

static const lv_driver_key file_keys[] = {
	{NULL, 0, NULL, NULL, 0, 0, NULL, 0},
};

static const lv_driver file_driver = {
	LV_DRIVER_INIT_HEADER,
	.name = "file",
	.version = "1.1.0",
	.schemes = file_schemes,
	.ops = &file_ops,
	.keys = file_keys,
};

LV_DRIVER_ENTRY
{
	return &file_driver;
}
