#include "testutil.h"
static void t_nothing(void) { CU_ASSERT(1); }
LV_SUITE(smoke, smoke, NULL, NULL, {"nothing", t_nothing})
