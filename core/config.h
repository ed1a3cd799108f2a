/*
 * config: the INI config file (inih), its sections and keys.  Above util.
 */
#ifndef LV_CORE_CONFIG_H
#define LV_CORE_CONFIG_H

#include <stddef.h>

#include "licvault/driver.h"

typedef struct lv_config lv_config;
typedef struct lv_conf_entry {
	char *section;   /* "licvault", "driver sftp", "location nas", "service" */
	char *key;
	char *value;     /* expanded */
	int line;
} lv_conf_entry;

int lv__config_load(lv_config **out, const char *path, char *err);
void lv__config_free(lv_config *c);
const char *lv__config_get(const lv_config *c, const char *section, const char *key, unsigned idx);
const lv_conf_entry *lv__config_entry(const lv_config *c, const char *section, const char *key,
                                      unsigned idx);
size_t lv__config_count(const lv_config *c);
const lv_conf_entry *lv__config_at(const lv_config *c, size_t i);
int lv__config_has_section(const lv_config *c, const char *section);
int lv__config_section_line(const lv_config *c, const char *section);
const char *lv__config_file(const lv_config *c);
/* Parse a boolean; -1 when not one. */
int lv__parse_bool(const char *v);
/*
 * Parse text as declared by k (lv_host.config_value's rules: booleans
 * yes/no true/false on/off 1/0, integers in min..max, enum choices; ASCII
 * case ignored).  *number gets the value (bool 0/1, int, enum index);
 * *canon and *canon_len the spelling to report (an enum's declared
 * choice).  LV_E_CONFIG with why ("expected ...") when it does not parse.
 */
int lv__config_parse(const lv_driver_key *k, const char *text, int64_t *number, size_t *canon_len,
                     const char **canon, char *why, size_t cap);

#endif
