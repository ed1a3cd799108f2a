/*
 * The file driver: a backup location in a local folder.
 *   file:///abs/dir   or a plain path (/abs/dir, ./rel, ~/dir)
 */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <uriparser/Uri.h>

#include "licvault/driver.h"
#include "localfs.h"

static char *uri_to_dir(const lv_host *host, lv_host_ctx *h, const char *uri, int *rc)
{
	*rc = 0;
	if (strncmp(uri, "file:", 5) != 0) {
		/* a plain path: absolute, ~, or relative to the current directory */
		if (uri[0] == '/')
			return strdup(uri);
		if (uri[0] == '~' && (uri[1] == '/' || !uri[1])) {
			const char *home = getenv("HOME");
			if (!home) {
				*rc = host->set_error(h, LV_E_BAD_URI, "'%s': no home directory to expand '~'", uri);
				return NULL;
			}
			size_t n = strlen(home) + strlen(uri) + 1;
			char *p = malloc(n);
			if (p)
				snprintf(p, n, "%s%s", home, uri + 1);
			return p;
		}
		char cwd[4096];
		if (!getcwd(cwd, sizeof cwd)) {
			*rc = host->set_error(h, LV_E_IO, "cannot find the current directory");
			return NULL;
		}
		size_t n = strlen(cwd) + strlen(uri) + 2;
		char *p = malloc(n);
		if (p)
			snprintf(p, n, "%s/%s", cwd, uri);
		return p;
	}
	UriUriA u;
	const char *err = NULL;
	if (uriParseSingleUriA(&u, uri, &err) != URI_SUCCESS) {
		*rc = host->set_error(h, LV_E_BAD_URI, "'%s' is not a valid URI (error at character %ld)", uri,
		                      err ? (long)(err - uri) + 1 : 0L);
		return NULL;
	}
	size_t hl = u.hostText.first ? (size_t)(u.hostText.afterLast - u.hostText.first) : 0;
	int bad_host = hl && !(hl == 9 && !strncmp(u.hostText.first, "localhost", 9));
	int extra = u.query.first || u.fragment.first || u.userInfo.first || u.portText.first;
	uriFreeUriMembersA(&u);
	if (bad_host || extra) {
		*rc = host->set_error(h, LV_E_BAD_URI,
		                      "'%s': a file URI names a local folder only: file:///abs/dir", uri);
		return NULL;
	}
	if (strstr(uri, "%00")) {
		*rc = host->set_error(h, LV_E_BAD_URI, "'%s': a path may not hold a NUL byte", uri);
		return NULL;
	}
	char *path = malloc(strlen(uri) + 1);
	if (!path) {
		*rc = LV_E_NOMEM;
		return NULL;
	}
	if (uriUriStringToUnixFilenameA(uri, path) != URI_SUCCESS || path[0] != '/') {
		free(path);
		*rc = host->set_error(h, LV_E_BAD_URI, "'%s': the path must be absolute: file:///abs/dir", uri);
		return NULL;
	}
	return path;
}

static int file_open(const lv_host *host, lv_host_ctx *h, const char *uri, unsigned flags, void **inst)
{
	int rc;
	char *dir = uri_to_dir(host, h, uri, &rc);
	if (!dir)
		return rc ? rc : LV_E_NOMEM;
	lv_localfs *fs = NULL;
	rc = lv_localfs_open(&fs, host, h, dir, flags, 0);
	free(dir);
	if (rc)
		return rc;
	*inst = fs;
	return 0;
}

static const lv_driver_ops file_ops = {
	.open = file_open,
	.close = lv_localfs_close,
	.write_begin = lv_localfs_write_begin,
	.write = lv_localfs_write,
	.commit = lv_localfs_commit,
	.abort = lv_localfs_abort,
	.read_open = lv_localfs_read_open,
	.read = lv_localfs_read,
	.read_close = lv_localfs_read_close,
	.list = lv_localfs_list,
	.remove = lv_localfs_remove,
	.stat = lv_localfs_stat,
	.sync = lv_localfs_sync,
	.space = lv_localfs_space,
	.cleanup = lv_localfs_cleanup,
	.enumerate = NULL,
};

static const char *const file_schemes[] = {"file", NULL};

static const lv_driver_key file_keys[] = {
	{NULL, 0, NULL, NULL, 0, 0, NULL, 0},
};

static const lv_driver file_driver = {
	LV_DRIVER_INIT_HEADER,
	.name = "file",
	.version = "1.0.0",
	.schemes = file_schemes,
	.ops = &file_ops,
	.keys = file_keys,
};

LV_DRIVER_ENTRY
{
	return &file_driver;
}
