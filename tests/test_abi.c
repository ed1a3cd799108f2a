/*
 * The driver ABI, pinned: the size and offset of every member of the
 * public driver structs (as libfuse's test/test_abi.c does).  A change
 * here breaks drivers already built: it needs a new major ABI.
 * Numbers are for LP64 (x86_64, aarch64).
 */
#include <stddef.h>
#include "testutil.h"
#include "licvault/driver.h"

#define OFF(type, member, value) CU_ASSERT_EQUAL(offsetof(type, member), value)

static void test_versions(void)
{
	CU_ASSERT_EQUAL(LV_DRIVER_ABI_MAJOR, 1);
	CU_ASSERT(LV_DRIVER_ABI_MINOR >= 0);
	CU_ASSERT_STRING_EQUAL(LV_DRIVER_ENTRY_SYMBOL, "lv_driver_entry");
	CU_ASSERT_EQUAL(LV_OPEN_READ, 1);
	CU_ASSERT_EQUAL(LV_OPEN_WRITE, 2);
	CU_ASSERT_EQUAL(LV_COMMIT_REPLACE, 1);
	CU_ASSERT_EQUAL(LV_KEY_SECRET, 1);
}

static void test_error_codes(void)
{
	/* error values cross the ABI: they never change */
	CU_ASSERT_EQUAL(LV_E_BACKUP_EXISTS, -1);
	CU_ASSERT_EQUAL(LV_E_BACKUP_CORRUPT, -2);
	CU_ASSERT_EQUAL(LV_E_CANCELED, -4);
	CU_ASSERT_EQUAL(LV_E_AUTH, -15);
	CU_ASSERT_EQUAL(LV_E_HOST_KEY, -16);
	CU_ASSERT_EQUAL(LV_E_NOT_FOUND, -17);
	CU_ASSERT_EQUAL(LV_E_NO_SPACE, -18);
	CU_ASSERT_EQUAL(LV_E_IO, -19);
	CU_ASSERT_EQUAL(LV_E_UNSUPPORTED, -20);
	CU_ASSERT_EQUAL(LV_E_INVALID_ARG, -21);
	CU_ASSERT_EQUAL(LV_E_NOMEM, -22);
	CU_ASSERT_EQUAL(LV_E_EXISTS, -23);
	CU_ASSERT_EQUAL(LV_E_CORRUPT, -24);
	CU_ASSERT_EQUAL(LV_KEY_STRING, 0);
	CU_ASSERT_EQUAL(LV_KEY_LIST, 5);
	CU_ASSERT_EQUAL(LV_LOG_DEBUG, 3);
}

static void test_driver_struct(void)
{
	CU_ASSERT_EQUAL(sizeof(lv_driver), 56);
	OFF(lv_driver, abi_major, 0);
	OFF(lv_driver, abi_minor, 4);
	OFF(lv_driver, size, 8);
	OFF(lv_driver, ops_size, 12);
	OFF(lv_driver, name, 16);
	OFF(lv_driver, version, 24);
	OFF(lv_driver, schemes, 32);
	OFF(lv_driver, ops, 40);
	OFF(lv_driver, keys, 48);
	CU_ASSERT_EQUAL(LV_DRIVER_MIN_SIZE, 56);
}

static void test_ops_struct(void)
{
	CU_ASSERT_EQUAL(sizeof(lv_driver_ops), 16 * 8);
	OFF(lv_driver_ops, open, 0);
	OFF(lv_driver_ops, close, 8);
	OFF(lv_driver_ops, write_begin, 16);
	OFF(lv_driver_ops, write, 24);
	OFF(lv_driver_ops, commit, 32);
	OFF(lv_driver_ops, abort, 40);
	OFF(lv_driver_ops, read_open, 48);
	OFF(lv_driver_ops, read, 56);
	OFF(lv_driver_ops, read_close, 64);
	OFF(lv_driver_ops, list, 72);
	OFF(lv_driver_ops, remove, 80);
	OFF(lv_driver_ops, stat, 88);
	OFF(lv_driver_ops, sync, 96);
	OFF(lv_driver_ops, space, 104);
	OFF(lv_driver_ops, cleanup, 112);
	OFF(lv_driver_ops, enumerate, 120);
	CU_ASSERT_EQUAL(LV_DRIVER_OPS_MIN_SIZE, 128);
}

static void test_host_struct(void)
{
	CU_ASSERT_EQUAL(sizeof(lv_host), 104);
	OFF(lv_host, size, 0);
	OFF(lv_host, abi_minor, 4);
	OFF(lv_host, log, 8);
	OFF(lv_host, config_get, 16);
	OFF(lv_host, canceled, 24);
	OFF(lv_host, progress, 32);
	OFF(lv_host, set_error, 40);
	OFF(lv_host, open_uri, 48);
	OFF(lv_host, location_ops, 56);
	OFF(lv_host, location_instance, 64);
	OFF(lv_host, location_close, 72);
	/* ABI 1.1 */
	OFF(lv_host, note, 80);
	OFF(lv_host, error_save, 88);
	OFF(lv_host, error_restore, 96);
}

static void test_data_structs(void)
{
	CU_ASSERT_EQUAL(sizeof(lv_object_info), 24);
	OFF(lv_object_info, name, 0);
	OFF(lv_object_info, size, 8);
	OFF(lv_object_info, mtime, 16);
	CU_ASSERT_EQUAL(sizeof(lv_candidate), 56);
	OFF(lv_candidate, uri, 0);
	OFF(lv_candidate, label, 8);
	OFF(lv_candidate, id, 16);
	OFF(lv_candidate, fstype, 24);
	OFF(lv_candidate, where, 32);
	OFF(lv_candidate, free_bytes, 40);
	OFF(lv_candidate, total_bytes, 48);
	CU_ASSERT_EQUAL(sizeof(lv_driver_key), 64);
	OFF(lv_driver_key, name, 0);
	OFF(lv_driver_key, type, 8);
	OFF(lv_driver_key, def, 16);
	OFF(lv_driver_key, help, 24);
	OFF(lv_driver_key, min, 32);
	OFF(lv_driver_key, max, 40);
	OFF(lv_driver_key, choices, 48);
	OFF(lv_driver_key, flags, 56);
}

LV_SUITE(abi, abi, NULL, NULL,
         {"versions and constants", test_versions},
         {"error codes", test_error_codes},
         {"lv_driver", test_driver_struct},
         {"lv_driver_ops", test_ops_struct},
         {"lv_host", test_host_struct},
         {"lv_object_info, lv_candidate, lv_driver_key", test_data_structs})
