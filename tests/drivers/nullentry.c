/* Test driver: the entry symbol returns NULL. */
#include "licvault/driver.h"
LV_DRIVER_ENTRY { return NULL; }
