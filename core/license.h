/*
 * license: license records (validation, copies) and license files.  Above util.
 */
#ifndef LV_CORE_LICENSE_H
#define LV_CORE_LICENSE_H

#include "licvault/licvault.h"

size_t lv__license_size(const lv_license *lic);
int lv__kid_valid(const char *kid, size_t len);

#endif
