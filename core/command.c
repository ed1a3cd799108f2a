/*
 * command: a driver's own commands on a location (lv_location_control,
 * `licvault DRIVER VERB URI`).  A command the driver flags LV_COMMAND_WRITE
 * runs under the location's lock, as a backup does, so it never runs
 * beside another run that writes there.  Above lock.
 */
#include <stdio.h>
#include <string.h>

#include "licvault/sys/location.h"
#include "error.h"
#include "loader.h"
#include "location.h"
#include "lock.h"
#include "run.h"

static const lv_driver_command *find_command(lv_location *layer, const char *verb)
{
	for (const lv_driver_command *c = lv__driver_commands(layer->drv); c && c->verb; c++)
		if (!strcmp(c->verb, verb))
			return c;
	return NULL;
}

int lv_location_control(lv_location *l, const char *driver, const char *verb, const char *const *args,
                        size_t nargs, lv_emit_cb emit, void *ud)
{
	if (!l || !driver || !verb || (nargs && !args))
		return LV_E_INVALID_ARG;
	lv_location *layer = l;
	while (layer && strcmp(lv__location_driver(layer), driver) != 0)
		layer = layer->inner;
	lv_run *run = l->hctx->run;
	if (!layer)
		return run ? lv__run_error(run, LV_E_NOT_FOUND, "%s is not served through driver '%s'", l->uri, driver)
		           : LV_E_NOT_FOUND;
	const lv_driver_command *cmd = find_command(layer, verb);
	if (!cmd || !layer->ops->control)
		return run ? lv__run_error(run, LV_E_UNSUPPORTED, "driver '%s' has no command '%s'", driver, verb)
		           : LV_E_UNSUPPORTED;
	int held = 0;
	if (cmd->flags & LV_COMMAND_WRITE) {
		if (!run)
			return LV_E_INVALID_ARG;
		char op[96];
		snprintf(op, sizeof op, "%s %s", driver, verb);
		int rc = lv__lock_take(run, l, op, &held);
		if (rc)
			return rc;
	}
	int rc = layer->ops->control(layer->inst, verb, args, nargs, emit, ud);
	if (!lv__err_valid(rc))
		rc = lv__run_error(run, LV_E_DRIVER_ABI, "driver '%s' returned an invalid code %d from %s", driver, rc, verb);
	else if (rc && run)
		lv__run_error(run, rc, "%s %s on %s: %s", driver, verb, l->uri, lv_strerror(rc));
	if (cmd->flags & LV_COMMAND_WRITE)
		lv__lock_release(run, l, held);
	return rc;
}
