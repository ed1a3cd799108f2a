/* Test driver: built for another major ABI. */
#include "licvault/driver.h"
static const char *const schemes[] = {"abitwo", NULL};
static const lv_driver d = {2, 0, sizeof(lv_driver), sizeof(lv_driver_ops), "abitwo", "1.0", schemes, NULL, NULL, NULL};
LV_DRIVER_ENTRY { return &d; }
