/*
 * licvault/sys/location.h: the location API for tools (the conformance suite, lvconform):
 * open a location and call its driver's operations directly.
 */
#ifndef LICVAULT_SYS_LOCATION_H
#define LICVAULT_SYS_LOCATION_H

#include "../licvault.h"
#include "../driver.h"

#ifdef __cplusplus
extern "C" {
#endif

/**
 * Open a location through its driver, outside any backup or restore: for
 * tools, and for testing a driver against the conformance suite
 * (tests/conformance.c).  flags are LV_OPEN_READ / LV_OPEN_WRITE from
 * driver.h.  Call the driver's operations through lv_location_driver_ops()
 * with lv_location_driver_instance() as the instance.
 *
 * Errors: a failed lv_location_open describes itself in the context's
 * record (lv_context_last_error, of the calling thread).  Afterwards what
 * the driver describes (host->set_error) goes to the location's record,
 * read with lv_location_last_error().  The first failure wins, as in a run:
 * a tool that checks operations one by one clears the record between them
 * with lv_location_clear_error().
 */
LV_EXTERN int lv_location_open(lv_location **out, lv_context *ctx, const char *uri,
                               unsigned flags);
LV_EXTERN const lv_driver_ops *lv_location_driver_ops(lv_location *loc);
LV_EXTERN void *lv_location_driver_instance(lv_location *loc);
/** The URI after named locations were resolved. */
LV_EXTERN const char *lv_location_uri(const lv_location *loc);
LV_EXTERN const char *lv_location_last_error(const lv_location *loc);
/**
 * Run a driver's own command (lv_driver_ops.control, e.g. the crypt
 * driver's key management) on the layer of loc's stack that the driver
 * named `driver` serves, the outer layer first ("bundle+crypt+sftp://...",
 * driver "crypt": the crypt layer).  Output lines go through emit.
 * LV_E_NOT_FOUND when no layer is served by that driver, LV_E_UNSUPPORTED
 * when it has no such command; the driver's errors as it returns them,
 * described in lv_location_last_error().  A command flagged
 * LV_COMMAND_WRITE runs under the location's lock (taken on loc, the outer
 * layer, and released before this returns): LV_E_BUSY, naming the holder,
 * while another run writes there.
 */
LV_EXTERN int lv_location_control(lv_location *loc, const char *driver, const char *verb,
                                  const char *const *args, size_t nargs, lv_emit_cb emit, void *ud);

/** The commands of the driver named `driver` ({NULL}-terminated), or NULL when it has none. */
LV_EXTERN const lv_driver_command *lv_context_driver_commands(lv_context *ctx, const char *driver);

/** Forget the recorded failure (and note) of the location. */
LV_EXTERN void lv_location_clear_error(lv_location *loc);
/** Make the driver's canceled() service answer yes (or no again). */
LV_EXTERN void lv_location_set_canceled(lv_location *loc, int canceled);
LV_EXTERN void lv_location_close(lv_location *loc);


#ifdef __cplusplus
}
#endif
#endif /* LICVAULT_SYS_LOCATION_H */
