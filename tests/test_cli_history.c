/*
 * History through the real CLI (issue 18's commands): list [--verify], ls
 * [--generation], forget --keep | --generation [--dry-run] under the lock
 * (BUSY while another run holds it; a SIGINT stops it between two
 * generations, leaving only whole ones), unlock [--force], restore
 * --generation, verify --generation | --all, a damaged newest generation,
 * backup --allow-shrink; each with --json where it prints.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cliutil.h"
#include "testutil.h"

#define dir t_suite_dir
#define G(n) "licvault-g000000000000000" #n
#define CONF "hist.conf"

/* The CLI in the suite dir with hist.conf (keep = 100); *out gets stdout+stderr. */
#define cli(out, ...) t_cli(out, "LICVAULT_CONFIG=" CONF, __VA_ARGS__)

static int init(void)
{
	return t_cli_suite_init(CONF, "[licvault]\\nkeep = 100\\n");
}

/* Three generations at h: 8 licenses, then 7 (one removed from the store), then 7. */
static void make_history(void)
{
	char *out = NULL;
	CU_ASSERT_EQUAL_FATAL(cli(&out, "--store s.db -q backup h"), 0);
	free(out);
	CU_ASSERT_EQUAL_FATAL(cli(&out, "--store s.db -q store remove 1e398f10-830e-46b0-a2a3-5790c1d3fcff"), 0);
	free(out);
	for (int i = 0; i < 2; i++) {
		CU_ASSERT_EQUAL_FATAL(cli(&out, "--store s.db -q backup --overwrite h"), 0);
		free(out);
	}
}

static void test_list_and_ls(void)
{
	make_history();
	char *out = NULL;
	CU_ASSERT_EQUAL(cli(&out, "list h"), 0);
	HAS(out, "   GEN  WRITTEN (UTC)         HOST              MACHINE");
	CU_ASSERT_EQUAL(t_count_str(out, "unchecked\n"), 3);
	HAS(out, "\n     1  20");
	HAS(out, "\n     3  20");
	free(out);
	CU_ASSERT_EQUAL(cli(&out, "list --verify h --json"), 0);
	CU_ASSERT_EQUAL(t_count_str(out, "{\"type\":\"generation\","), 3);
	CU_ASSERT_EQUAL(t_count_str(out, "\"whole\":\"whole\",\"problem\":null}"), 3);
	HAS(out, "{\"type\":\"generation\",\"generation\":1,\"format\":2,\"created\":");
	HAS(out, "\"licenses\":8,\"restricted\":4,");
	HAS(out, "\"licenses\":7,\"restricted\":4,");
	free(out);
	/* ls: the newest by default, an older one with --generation */
	CU_ASSERT_EQUAL(cli(&out, "ls h"), 0);
	CU_ASSERT_EQUAL(t_count_str(out, "\n"), 7);
	HASNT(out, "1e398f10-830e-46b0-a2a3-5790c1d3fcff");
	HAS(out, "3836e865-bf26-4f3d-a181-e28a65f42986     play,copy,burn,backup  \"Jazz at Midnight\"\n");
	free(out);
	CU_ASSERT_EQUAL(cli(&out, "ls h --generation 1 --json"), 0);
	CU_ASSERT_EQUAL(t_count_str(out, "{\"type\":\"license\",\"kid\":"), 8);
	HAS(out, "\"kid\":\"1e398f10-830e-46b0-a2a3-5790c1d3fcff\",\"title\":\"The Long Road Home\"");
	free(out);
	CU_ASSERT_EQUAL(cli(&out, "ls h --generation newest"), 0);
	CU_ASSERT_EQUAL(t_count_str(out, "\n"), 7);
	free(out);
	/* mistakes: a bad generation (usage), one that is not there, an empty location */
	CU_ASSERT_EQUAL(cli(&out, "ls h --generation two"), 2);
	HAS(out, "--generation two: expected a generation number");
	free(out);
	CU_ASSERT_EQUAL(cli(&out, "ls h --generation 9"), 4);
	HAS(out, "licvault: error: NOT_FOUND: ");
	free(out);
	CU_ASSERT_EQUAL(cli(&out, "list nothing-here"), 4);
	HAS(out, "licvault: error: NOT_FOUND: nothing-here holds no backup");
	free(out);
}

static void test_generation_restore_verify(void)
{
	char *out = NULL;
	CU_ASSERT_EQUAL(cli(&out, "verify h --generation 1"), 0);
	HAS(out, "verify: ok, 8 licenses checked in generation 1");
	free(out);
	CU_ASSERT_EQUAL(cli(&out, "verify h --all --json"), 0);
	HAS(out, "\"result\":\"ok\"");
	free(out);
	CU_ASSERT_EQUAL(cli(&out, "verify h --all --generation 1"), 2);
	HAS(out, "give --generation or --all, not both");
	free(out);
	CU_ASSERT_EQUAL(cli(&out, "--store r1.db restore --individualize --generation 1 h --json"), 0);
	HAS(out, "\"generation\":1,\"licenses\":8,\"written\":null,\"restored\":8,");
	free(out);
	CU_ASSERT_EQUAL(cli(&out, "--store r2.db restore --individualize h"), 0);
	HAS(out, "restore: ok, 7 licenses restored from generation 3");
	free(out);
	CU_ASSERT_EQUAL(cli(&out, "--store r3.db restore --dry-run --individualize h --json"), 0);
	HAS(out, "\"event\":\"begin\",\"schema\":1,\"command\":\"restore\",\"uri\":\"h\",\"dry_run\":true}");
	free(out);
	CU_ASSERT_EQUAL(t_sh(&out, "test -e '%s/r3.db'", dir), 1);   /* a dry run made no store */
	free(out);
	/* a damaged newest generation: verify and restore say which older one verifies; list --verify shows it */
	CU_ASSERT_EQUAL(t_sh(&out, "cd '%s' && cp -r h hd && printf X | dd of=hd/" G(3) ".pack bs=1 seek=200 conv=notrunc "
	                           "2>/dev/null", dir), 0);
	free(out);
	CU_ASSERT_EQUAL(cli(&out, "verify hd"), 6);
	HAS(out, "licvault: error: BACKUP_CORRUPT: ");
	HAS(out, G(3) ".pack: checksum mismatch");
	free(out);
	CU_ASSERT_EQUAL(cli(&out, "--store r4.db restore --individualize hd"), 6);
	HAS(out, "the newest older generation that verifies is 2: restore it with licvault restore --generation 2");
	free(out);
	CU_ASSERT_EQUAL(t_sh(&out, "test -e '%s/r4.db'", dir), 1);   /* a failed restore made no store */
	free(out);
	CU_ASSERT_EQUAL(cli(&out, "--store r4.db restore --individualize hd --generation 2"), 0);
	free(out);
	CU_ASSERT_EQUAL(cli(&out, "list --verify hd"), 6);
	CU_ASSERT_EQUAL(t_count_str(out, "  whole\n"), 2);
	CU_ASSERT_EQUAL(t_count_str(out, "  damaged\n"), 1);
	HAS(out, "licvault: error: BACKUP_CORRUPT: a generation at hd is damaged");
	free(out);
}

static void test_forget(void)
{
	char *out = NULL;
	CU_ASSERT_EQUAL(t_sh(&out, "cd '%s' && cp -r h f", dir), 0);
	free(out);
	CU_ASSERT_EQUAL(cli(&out, "forget f"), 2);
	HAS(out, "give --keep N or --generation G");
	free(out);
	CU_ASSERT_EQUAL(cli(&out, "forget f --keep 0"), 2);
	free(out);
	CU_ASSERT_EQUAL(cli(&out, "forget f --keep 1 --dry-run"), 0);
	HAS(out, "forget: would remove generation 1 (written ");
	HAS(out, "forget: would remove generation 2 (written ");
	HAS(out, "forget: 2 generations would be removed");
	free(out);
	CU_ASSERT_EQUAL(t_sh(&out, "ls '%s/f' | grep -c manifest", dir), 0);
	CU_ASSERT_EQUAL(atoi(out), 3);   /* nothing removed */
	free(out);
	CU_ASSERT_EQUAL(cli(&out, "forget f --generation 2 --json"), 0);
	CU_ASSERT_STRING_EQUAL(strstr(out, "{\"type\":\"forgotten\",\"generation\":2,\"dry_run\":false,\"format\":2,") ? "y" : out,
	                       "y");
	CU_ASSERT_EQUAL(t_count_str(out, "\n"), 1);
	free(out);
	CU_ASSERT_EQUAL(cli(&out, "forget f --generation 2"), 4);
	free(out);
	CU_ASSERT_EQUAL(cli(&out, "forget f --keep 1"), 0);
	HAS(out, "forget: removed generation 1 ");
	HAS(out, "forget: 1 generation removed");
	free(out);
	CU_ASSERT_EQUAL(cli(&out, "forget f --keep 1"), 0);
	HAS(out, "forget: nothing to remove at f");
	free(out);
	CU_ASSERT_EQUAL(cli(&out, "forget f --generation 3"), 2);   /* never the last generation that verifies */
	HAS(out, "licvault: error: INVALID_ARG: ");
	free(out);
	CU_ASSERT_EQUAL(cli(&out, "--json list f"), 0);
	CU_ASSERT_EQUAL(t_count_str(out, "\"type\":\"generation\""), 1);
	HAS(out, "\"generation\":3,");
	free(out);
}

static int manifests(const char *loc)
{
	char *out = NULL;
	t_sh(&out, "ls '%s/%s' | grep -c '\\.manifest$'", dir, loc);
	int n = atoi(out);
	free(out);
	return n;
}

/* A backup of a big store that blocks writing its events: it holds the lock at `loc`. */
static void hold_lock(t_child *ch, const char *loc)
{
	char args[512];
	CU_ASSERT_EQUAL_FATAL(t_cli_big_store(), 0);
	snprintf(args, sizeof args, "--store big.db --json backup --overwrite %s", loc);
	CU_ASSERT_EQUAL_FATAL(t_cli_spawn(ch, CONF, args, 0), 0);
	char buf[8192];
	size_t len = 0;
	t_read_until(ch->out, buf, sizeof buf, &len, "restricted_license");   /* its first one: the lock is taken */
}

static void test_busy_and_unlock(void)
{
	char *out = NULL, *err = NULL;
	t_child ch;
	CU_ASSERT_EQUAL(t_sh(&out, "cd '%s' && cp -r h u", dir), 0);
	free(out);
	hold_lock(&ch, "u");
	CU_ASSERT_EQUAL(cli(&out, "forget u --keep 1"), 5);
	HAS(out, "licvault: error: BUSY: ");
	free(out);
	CU_ASSERT_EQUAL(cli(&out, "unlock u"), 5);
	HAS(out, "lock at u: held by a backup of pid ");
	HAS(out, "(this machine)");
	HAS(out, "; live\n");
	HAS(out, "remove the lock with --force");
	free(out);
	CU_ASSERT_EQUAL(manifests("u"), 3);   /* forget removed nothing */
	/* killed: its lock stays, stale; unlock shows it, removes it only with --force */
	kill(ch.pid, SIGKILL);
	t_cli_finish(&ch, &out, &err);
	free(out);
	free(err);
	CU_ASSERT_EQUAL(cli(&out, "unlock u --json"), 5);
	HAS(out, "{\"type\":\"lock\",\"host\":\"");
	HAS(out, "\"op\":\"backup\",\"pid\":");
	HAS(out, "\"here\":true,\"stale\":true,\"removed\":false}");
	free(out);
	CU_ASSERT_EQUAL(t_sh(&out, "test -f '%s/u/licvault.lock'", dir), 0);
	free(out);
	CU_ASSERT_EQUAL(cli(&out, "unlock --force u"), 0);
	HAS(out, "stale: the next run takes it over");
	HAS(out, "unlock: the lock is removed");
	free(out);
	CU_ASSERT_EQUAL(t_sh(&out, "test -f '%s/u/licvault.lock'", dir), 1);
	free(out);
	CU_ASSERT_EQUAL(cli(&out, "unlock u"), 4);
	HAS(out, "licvault: error: NOT_FOUND: ");
	free(out);
}

/*
 * SIGINT during forget: its records fill a 4 KiB pipe nobody reads, so it
 * blocks in its callback after removing about a dozen of 24 generations; a
 * SIGINT then, and the pipe read: it stops before the next generation.
 */
static void test_forget_interrupted(void)
{
	char *out = NULL, *err = NULL;
	for (int i = 0; i < 25; i++) {
		CU_ASSERT_EQUAL_FATAL(cli(&out, "--store s.db -q backup --overwrite many"), 0);
		free(out);
	}
	t_child ch;
	CU_ASSERT_EQUAL_FATAL(t_cli_spawn(&ch, CONF, "--json forget many --keep 1", 0), 0);
	int st = 0;
	while (manifests("many") > 25 - 8 && waitpid(ch.pid, &st, WNOHANG) == 0)
		usleep(10000);   /* until it is under way (8 records fit in the pipe, whatever their size) */
	kill(ch.pid, SIGINT);
	st = t_cli_finish(&ch, &out, &err);
	CU_ASSERT_EQUAL(st, 130);
	HAS(err, "licvault: stopping after the generation being removed...");
	HAS(err, "forget: stopped after ");
	int removed = t_count_str(out, "{\"type\":\"forgotten\",");
	int left = manifests("many");
	CU_ASSERT(removed >= 8 && removed < 24);
	CU_ASSERT_EQUAL(left, 25 - removed);
	free(out);
	free(err);
	/* only whole generations: each pack has its manifest, every one verifies, the lock is gone */
	CU_ASSERT_EQUAL(t_sh(&out, "cd '%s/many' && ls | grep -c '\\.pack$'", dir), 0);
	CU_ASSERT_EQUAL(atoi(out), left);
	free(out);
	CU_ASSERT_EQUAL(cli(&out, "list --verify many"), 0);
	CU_ASSERT_EQUAL(t_count_str(out, "  whole\n"), left);
	free(out);
	CU_ASSERT_EQUAL(t_sh(&out, "test -e '%s/many/licvault.lock'", dir), 1);
	free(out);
}

static void test_allow_shrink(void)
{
	char *out = NULL;
	/* two licenses, where the newest generation holds 7 */
	CU_ASSERT_EQUAL(cli(&out, "--store small.db -q store import '%s'/examples/licenses/0[12]-*.lic", LV_TEST_SOURCE_DIR), 0);
	free(out);
	CU_ASSERT_EQUAL(t_sh(&out, "cd '%s' && cp -r h sh", dir), 0);
	free(out);
	CU_ASSERT_EQUAL(cli(&out, "--store small.db backup --overwrite sh"), 3);
	HAS(out, "licvault: error: BACKUP_SHRINK: ");
	free(out);
	CU_ASSERT_EQUAL(manifests("sh"), 3);
	CU_ASSERT_EQUAL(cli(&out, "--store small.db backup --overwrite --allow-shrink sh"), 0);
	HAS(out, "backup: ok, ");
	free(out);
	CU_ASSERT_EQUAL(manifests("sh"), 4);
}

LV_SUITE(cli_history, cli_history, init, t_suite_dir_clean,
         {"list and ls, --verify, --generation, --json", test_list_and_ls},
         {"restore and verify --generation, --all, a damaged newest", test_generation_restore_verify},
         {"forget --keep, --generation, --dry-run", test_forget},
         {"forget while another run holds the lock (BUSY); unlock", test_busy_and_unlock},
         {"SIGINT during forget stops between generations", test_forget_interrupted},
         {"backup --allow-shrink", test_allow_shrink})
