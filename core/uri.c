/* URIs, parsed with uriparser (RFC 3986). */
#include "internal.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <uriparser/Uri.h>

static int is_plain_path(const char *uri)
{
	if (uri[0] == '/' || uri[0] == '.' || uri[0] == '~')
		return 1;
	const char *colon = strchr(uri, ':');
	const char *slash = strchr(uri, '/');
	return !colon || (slash && slash < colon);
}

int lv__uri_valid(const char *uri, char *why, size_t cap)
{
	UriUriA u;
	const char *err = NULL;
	if (uriParseSingleUriA(&u, uri, &err) != URI_SUCCESS) {
		snprintf(why, cap, "'%s' is not a valid URI (error at character %ld)", uri,
		         err ? (long)(err - uri) + 1 : 0L);
		return 0;
	}
	uriFreeUriMembersA(&u);
	return 1;
}

int lv__uri_scheme(const char *uri, char *scheme, size_t cap)
{
	scheme[0] = '\0';
	if (!uri || !*uri)
		return LV_E_BAD_URI;
	if (is_plain_path(uri))
		return 0;
	UriUriA u;
	const char *err = NULL;
	if (uriParseSingleUriA(&u, uri, &err) != URI_SUCCESS)
		return LV_E_BAD_URI;
	int rc = 0;
	size_t n = (size_t)(u.scheme.afterLast - u.scheme.first);
	if (!u.scheme.first || n == 0 || n >= cap)
		rc = LV_E_BAD_URI;
	else {
		for (size_t i = 0; i < n; i++)
			scheme[i] = (char)((u.scheme.first[i] >= 'A' && u.scheme.first[i] <= 'Z')
			                       ? u.scheme.first[i] + 32 : u.scheme.first[i]);
		scheme[n] = '\0';
	}
	uriFreeUriMembersA(&u);
	return rc;
}

char *lv__uri_file_path(const char *uri, char *why, size_t cap)
{
	if (is_plain_path(uri)) {
		if (uri[0] == '/')
			return strdup(uri);
		if (uri[0] == '~') {
			if (uri[1] && uri[1] != '/') {
				snprintf(why, cap, "'%s': only ~ and ~/ are expanded", uri);
				return NULL;
			}
			char err[256];
			char *p = lv__expand(uri, err, sizeof err);
			if (!p)
				snprintf(why, cap, "%s", err);
			return p;
		}
		char cwd[4096];
		if (!getcwd(cwd, sizeof cwd)) {
			snprintf(why, cap, "cannot find the current directory");
			return NULL;
		}
		return lv__asprintf("%s/%s", cwd, uri);
	}
	UriUriA u;
	const char *err = NULL;
	if (uriParseSingleUriA(&u, uri, &err) != URI_SUCCESS) {
		snprintf(why, cap, "'%s' is not a valid URI (error at character %ld)", uri,
		         err ? (long)(err - uri) + 1 : 0L);
		return NULL;
	}
	char *out = NULL;
	size_t hl = u.hostText.first ? (size_t)(u.hostText.afterLast - u.hostText.first) : 0;
	if (hl && !(hl == 9 && !strncmp(u.hostText.first, "localhost", 9))) {
		snprintf(why, cap, "'%s': a file URI names no host (use file:///abs/dir)", uri);
		goto done;
	}
	if (u.query.first || u.fragment.first) {
		snprintf(why, cap, "'%s': a file URI has no query or fragment", uri);
		goto done;
	}
	if (!u.absolutePath && !hl && !u.pathHead && !u.hostText.first) {
		snprintf(why, cap, "'%s': use file:///abs/dir", uri);
		goto done;
	}
	if (strstr(uri, "%00")) {
		snprintf(why, cap, "'%s': a path may not hold a NUL byte (%%00)", uri);
		goto done;
	}
	out = malloc(strlen(uri) + 1);
	if (!out)
		goto done;
	if (uriUriStringToUnixFilenameA(uri, out) != URI_SUCCESS) {
		snprintf(why, cap, "'%s' cannot be turned into a path", uri);
		free(out);
		out = NULL;
		goto done;
	}
	if (out[0] != '/') {
		snprintf(why, cap, "'%s': the path must be absolute (file:///abs/dir)", uri);
		free(out);
		out = NULL;
	}
done:
	uriFreeUriMembersA(&u);
	return out;
}
