/* URIs, parsed with uriparser (RFC 3986). */
#include "uri.h"
#include "util.h"

#include <stdio.h>
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
