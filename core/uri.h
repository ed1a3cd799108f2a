/*
 * uri: URIs, parsed with uriparser (RFC 3986).  Above util.
 */
#ifndef LV_CORE_URI_H
#define LV_CORE_URI_H

#include <stddef.h>

#include "licvault/driver.h"

/* The scheme of a URI ("file", "bundle+file", "nas"), or "" for a plain path. */
int lv__uri_scheme(const char *uri, char *scheme, size_t cap);
/* Is it a syntactically valid URI by RFC 3986 (uriparser)? */
int lv__uri_valid(const char *uri, char *why, size_t cap);

/*
 * A stacking prefix "A+" (bundle+, crypt+): a scheme-like word followed by
 * '+', whatever follows (a URI or a plain path: "bundle+/abs/x.lvb").
 * Returns its length including the '+', or 0.
 */
size_t lv__uri_stack_prefix(const char *uri);
/*
 * Split and percent-decode (lv_host.uri_parse's rules, driver.h URIS): one
 * allocation, freed with lv__uri_free.  LV_E_BAD_URI with why.
 */
int lv__uri_parse(const char *uri, lv_uri **out, char *why, size_t cap);
void lv__uri_free(lv_uri *u);

#endif
