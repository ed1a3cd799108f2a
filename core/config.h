/*
 * config: the INI config file (inih), its sections and keys.  Above util.
 */
#ifndef LV_CORE_CONFIG_H
#define LV_CORE_CONFIG_H

#include <stddef.h>

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

#endif
