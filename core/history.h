/*
 * history: what a location holds without a store (lv_generations_list,
 * lv_generation_licenses, lv_generations_forget).  Above restore.
 */
#ifndef LV_CORE_HISTORY_H
#define LV_CORE_HISTORY_H

#include "run.h"

#endif
