/*
 * service: the license service interface a restore calls (lv_call_*,
 * licvault/sys/service.h) and the built-in service (docs/restore-rules.md).
 * Above location and format.
 */
#ifndef LV_CORE_SERVICE_H
#define LV_CORE_SERVICE_H

#include "licvault/sys/service.h"
#include "location.h"
#include "store.h"

extern const lv_service lv__builtin_service;

struct lv_service_call {
	lv_run *run;
	lv_store *store;
	lv_location *loc;
	const char *machine_id;
	const char *backup_machine_id;
	const char *backup_id;
	uint64_t count;
	unsigned flags;
};

#endif
