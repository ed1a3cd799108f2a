/* Test driver: a descriptor smaller than the ABI 1.0 minimum. */
#include "licvault/driver.h"
static const lv_driver d = {LV_DRIVER_ABI_MAJOR, 0, 12, 0, "tiny", "1.0", NULL, NULL, NULL, NULL};
LV_DRIVER_ENTRY { return &d; }
