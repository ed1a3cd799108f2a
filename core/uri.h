/*
 * uri: URIs, parsed with uriparser (RFC 3986).  Above util.
 */
#ifndef LV_CORE_URI_H
#define LV_CORE_URI_H

#include <stddef.h>

/* The scheme of a URI ("file", "bundle+file", "nas"), or "" for a plain path. */
int lv__uri_scheme(const char *uri, char *scheme, size_t cap);
/* Is it a syntactically valid URI by RFC 3986 (uriparser)? */
int lv__uri_valid(const char *uri, char *why, size_t cap);

#endif
