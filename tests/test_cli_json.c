/*
 * The CLI's output contract over hostile data (issue 16 point 2, issue 19):
 * every command's --json output is valid JSON, valid UTF-8, parsed strictly
 * (no duplicate keys, no NaN) and valid against docs/json-schema.json with
 * Debian's python3-jsonschema; every human output is valid UTF-8 without a
 * control character; escape sequences, C1 controls, bidi overrides and
 * invalid bytes in titles, key IDs, messages, config values and URIs show
 * as visible escapes (\x1b, \u009b) or, in JSON, as \u escapes and U+FFFD.
 */
#include <signal.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cliutil.h"
#include "testutil.h"

#define dir t_suite_dir
#define PY "/usr/bin/python3"
/* the config a check's CLI reads: $CONF, or none */
#define CONF_ENV "LICVAULT_CONFIG=${CONF:-/dev/null}"

/*
 * check.py SCHEMA SPEC...: each SPEC is json:KINDS:FILE (JSON lines of those kinds) or human:FILE
 * (safe text); exit 0 when every output holds to the contract.  One Python for all the outputs.
 */
static const char checker[] =
	"import json, sys\n"
	"from jsonschema import Draft202012Validator\n"
	"schema = json.load(open(sys.argv[1]))\n"
	"Draft202012Validator.check_schema(schema)\n"
	"v = Draft202012Validator(schema)\n"
	"def pairs(kv):\n"
	"    keys = [k for k, _ in kv]\n"
	"    if len(keys) != len(set(keys)):\n"
	"        raise ValueError('duplicate key in %r' % keys)\n"
	"    return dict(kv)\n"
	"def no_const(c):\n"
	"    raise ValueError('not JSON: ' + c)\n"
	"def check(spec):\n"
	"    mode, rest = spec.split(':', 1)\n"
	"    kinds, path = rest.rsplit(':', 1) if mode == 'json' else ('', rest)\n"
	"    raw = open(path, 'rb').read()\n"
	"    try:\n"
	"        text = raw.decode('utf-8', 'strict')\n"
	"    except UnicodeDecodeError as e:\n"
	"        return 'not UTF-8: %s' % e\n"
	"    bad = [c for c in text if (ord(c) < 32 and c != '\\n') or 0x7f <= ord(c) <= 0x9f\n"
	"           or ord(c) in (0x61c, 0x200e, 0x200f) or 0x2028 <= ord(c) <= 0x202e or 0x2066 <= ord(c) <= 0x2069]\n"
	"    if bad:\n"
	"        return 'control characters in the output: %r' % bad[:5]\n"
	"    if mode == 'human':\n"
	"        return None\n"
	"    lines = text.split('\\n')\n"
	"    if lines[-1] != '':\n"
	"        return 'the output does not end with a newline'\n"
	"    for n, line in enumerate(lines[:-1], 1):\n"
	"        try:\n"
	"            o = json.loads(line, object_pairs_hook=pairs, parse_constant=no_const)\n"
	"        except ValueError as e:\n"
	"            return 'line %d: %s: %s' % (n, line, e)\n"
	"        errs = list(v.iter_errors(o))\n"
	"        if errs:\n"
	"            return 'line %d: %s: %s' % (n, line, errs[0].message)\n"
	"        kind = o.get('event', o.get('type'))\n"
	"        if kind not in kinds.split(','):\n"
	"            return 'line %d: %r is not one of %s' % (n, kind, kinds)\n"
	"    return None\n"
	"failed = 0\n"
	"for spec in sys.argv[2:]:\n"
	"    why = check(spec)\n"
	"    if why:\n"
	"        failed += 1\n"
	"        print('%s: %s' % (spec, why))\n"
	"print('%d outputs checked, %d failed' % (len(sys.argv) - 2, failed))\n"
	"sys.exit(1 if failed else 0)\n";

static char specs[16384];   /* the outputs to check, with what each must hold */
static char labels[16384];  /* which command made each */

static int init(void)
{
	if (t_suite_dir_init())
		return 1;
	FILE *f = fopen(t_path(dir, "check.py"), "w");
	if (!f)
		return 1;
	fputs(checker, f);
	fclose(f);
	return 0;
}

static void add_spec(const char *fmt, const char *a, int n, const char *args)
{
	size_t l = strlen(specs);
	snprintf(specs + l, sizeof specs - l, fmt, a, n);
	l = strlen(labels);
	snprintf(labels + l, sizeof labels - l, "  %d: licvault %s\n", n, args);
}

/* Check every output collected so far, with one Python. */
static void check_all(void)
{
	char *out = NULL;
	int st = t_sh(&out, "cd '%s' && %s check.py '%s/docs/json-schema.json' %s", dir, PY, LV_TEST_SOURCE_DIR, specs);
	if (st)
		fprintf(stderr, "\n%s\n%s", out, labels);
	CU_ASSERT_EQUAL(st, 0);
	CU_ASSERT_PTR_NOT_NULL(strstr(out, " outputs checked, 0 failed"));
	free(out);
	specs[0] = labels[0] = '\0';
}

static int n_out;

/* Run the CLI with --json, stdout to out.N, stderr to err.N (checked later); check its exit status. */
static void check_json(const char *kinds, const char *args, int want_exit)
{
	char *out = NULL;
	int n = ++n_out;
	int st = t_cli(&out, CONF_ENV, "--json %s > out.%d 2> err.%d; echo $?", args, n, n);
	int ex = out ? atoi(out) : -1;
	free(out);
	if (st || ex != want_exit)
		fprintf(stderr, "\n  licvault --json %s: exit %d, expected %d", args, ex, want_exit);
	CU_ASSERT_EQUAL(ex, want_exit);
	add_spec(" 'json:%s:out.%d'", kinds, n, args);
	add_spec(" 'human:%serr.%d'", "", n, args);
}

/* Human output (stdout and stderr together), checked later; returned for more checks. */
static char *check_human(const char *args, int want_exit)
{
	char *out = NULL;
	int n = ++n_out;
	t_cli(&out, CONF_ENV, "%s > h.%d 2>&1; echo $?", args, n);
	int ex = out ? atoi(out) : -1;
	free(out);
	CU_ASSERT_EQUAL(ex, want_exit);
	add_spec(" 'human:%sh.%d'", "", n, args);
	t_sh(&out, "cat '%s/h.%d'", dir, n);
	return out;
}

/* Licenses no import would take (a store written by an older licvault, or by hand), straight into SQLite. */
static int add_raw(const char *db, const char *kid, const char *title, int rights, const char *issuer)
{
	sqlite3 *s = NULL;
	if (sqlite3_open(db, &s) != SQLITE_OK)
		return -1;
	sqlite3_stmt *st = NULL;
	int rc = sqlite3_prepare_v2(s,
	                            "INSERT INTO licenses(kid, content_id, title, issuer, issued, expires, rights, play_count,"
	                            " plays_left, machine, payload) VALUES(?, NULL, ?, ?, 1700000000, 0, ?, 0, 0,"
	                            " NULL, x'00')",
	                            -1, &st, NULL);
	if (rc == SQLITE_OK) {
		sqlite3_bind_text(st, 1, kid, -1, SQLITE_STATIC);
		if (title)
			sqlite3_bind_text(st, 2, title, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 3, issuer, -1, SQLITE_STATIC);
		sqlite3_bind_int(st, 4, rights);
		rc = sqlite3_step(st) == SQLITE_DONE ? 0 : -1;
	}
	sqlite3_finalize(st);
	sqlite3_close(s);
	return rc;
}

#define EVIL_KID "evil\x1b[31mkid\xc2\x9b"
#define EVIL_TITLE "T\x1b]0;pwned\x07 \xff\xfe \xc2\x9b" "31m \xe2\x80\xae" "gnp.exe \\ \"q\""
#define BAD_UTF8_TITLE "over\xc0\xaf sur\xed\xa0\x80 cut\xe2\x82"

static void make_hostile_store(void)
{
	char *out = NULL;
	CU_ASSERT_EQUAL_FATAL(t_cli(&out, "LICVAULT_CONFIG=/dev/null", "-q --store h.db store import '%s'/examples/licenses/0*.lic",
	                            LV_TEST_SOURCE_DIR), 0);
	free(out);
	const char *db = t_path(dir, "h.db");
	CU_ASSERT_EQUAL_FATAL(add_raw(db, EVIL_KID, EVIL_TITLE, 0, "Issuer \x1b[5m"), 0);              /* restricted */
	CU_ASSERT_EQUAL_FATAL(add_raw(db, "k-bad-utf8", BAD_UTF8_TITLE, LV_RIGHT_BACKUP, "Issuer"), 0);
	CU_ASSERT_EQUAL_FATAL(add_raw(db, "k-empty-title", "", LV_RIGHT_BACKUP, "Issuer"), 0);
	CU_ASSERT_EQUAL_FATAL(add_raw(db, "k-no-title", NULL, LV_RIGHT_BACKUP, "Issuer"), 0);
}

static void test_every_command_json(void)
{
	make_hostile_store();
	check_json("license", "--store h.db store list", 0);
	check_json("begin,progress,restricted_license,end", "--store h.db backup hb", 0);
	check_json("begin,progress,restricted_license,end", "--store h.db backup hb", 3);    /* failed: still begin..end */
	check_json("begin,progress,end", "verify hb", 0);
	check_json("begin,progress,end", "verify 'no\x1b[2Jsuch\xff'", 4);
	check_json("begin,progress,connecting,disconnecting,end", "--store r.db restore hb", 8);
	check_json("begin,progress,connecting,disconnecting,individualize,end", "--store r.db restore --individualize hb", 0);
	check_json("license", "--store r.db store list", 0);
	check_json("begin,end", "--store /nonexistent/dir/s.db backup hb", 4);                  /* never started */
	check_json("identity", "--store r.db identity", 0);
	check_json("", "--store fresh.db identity", 4);
	check_json("driver,driver_dir", "drivers -v", 0);
	check_json("location", "locations", 0);
	check_json("config_check", "config check", 0);
	check_json("config_file,config", "config show", 0);
	check_json("version", "version", 0);
	check_json("exported", "--store h.db store export k-no-title .", 0);
	check_json("imported", "--store h2.db store import k-no-title.lic", 0);
	check_json("removed", "--store h2.db store remove k-no-title", 0);
	check_json("", "--store h.db store import nonexistent.lic", 4);   /* nothing on stdout, the error on stderr */
	/* absent and empty told apart */
	char *out = NULL;
	t_cli(&out, "LICVAULT_CONFIG=/dev/null", "--json --store h.db store list");
	HAS(out, "\"kid\":\"k-empty-title\",\"title\":\"\",");
	HAS(out, "\"kid\":\"k-no-title\",\"title\":null,");
	/* hostile text as \u escapes, invalid bytes as U+FFFD */
	HAS(out, "\"kid\":\"evil\\u001b[31mkid\\u009b\"");
	HAS(out, "T\\u001b]0;pwned\\u0007 \\ufffd\\ufffd \\u009b31m \\u202egnp.exe \\\\ \\\"q\\\"");
	HAS(out, "over\\ufffd\\ufffd sur\\ufffd\\ufffd\\ufffd cut\\ufffd\\ufffd");
	free(out);
	check_all();
}

static void test_every_command_human(void)
{
	char *out = check_human("--store h.db store list", 0);
	HAS(out, "evil\\x1b[31mkid\\u009b");
	HAS(out, "\"T\\x1b]0;pwned\\x07 \\xff\\xfe \\u009b31m \\u202egnp.exe \\\\ \"q\"\"");
	HAS(out, "\"over\\xc0\\xaf sur\\xed\\xa0\\x80 cut\\xe2\\x82\"");
	HAS(out, "k-empty-title                            backup  \"\"\n");
	HAS(out, "k-no-title                               backup  -\n");
	free(out);
	out = check_human("--store h.db backup --overwrite -v hb", 0);
	HAS(out, "backup: not backed up (no backup right): evil\\x1b[31mkid\\u009b \"T\\x1b]0;pwned");
	free(out);
	free(check_human("verify hb", 0));
	out = check_human("verify 'no\x1b[2Jsuch\xff'", 4);
	HAS(out, "no\\x1b[2Jsuch\\xff");
	free(out);
	free(check_human("--store h.db identity", 0));
	free(check_human("drivers -v", 0));
	free(check_human("locations", 0));
	free(check_human("--version", 0));
	free(check_human("--store h.db -v store export k-bad-utf8 .", 0));
	/* a message that echoes a license file's bytes */
	char *sh = NULL;
	CU_ASSERT_EQUAL(t_sh(&sh, "cd '%s' && printf 'licvault-license: 1\\n\\033[2Jti\\233tle\\377: x\\n' > evil.lic", dir), 0);
	free(sh);
	out = check_human("--store h3.db store import evil.lic", 1);
	HAS(out, "evil.lic:2");
	HASNT(out, "\x1b");
	free(out);
	/* config values */
	/* a plain path may hold any byte: shown escaped */
	CU_ASSERT_EQUAL(t_sh(&sh, "cd '%s' && printf '[location \"evil\"]\\nuri = /tmp/\\033[31mred\\377\\n' > evil.conf", dir), 0);
	free(sh);
	setenv("CONF", "evil.conf", 1);
	out = check_human("config show", 0);
	HAS(out, "uri = /tmp/\\x1b[31mred\\xff");
	free(out);
	check_json("config_file,config", "config show", 0);
	/* a URI may not (RFC 3986): the config error quotes it escaped */
	CU_ASSERT_EQUAL(t_sh(&sh, "cd '%s' && printf '[location \"evil\"]\\nuri = file:///tmp/\\033[31mred\\377\\n' > evil.conf", dir), 0);
	free(sh);
	out = check_human("config show", 2);
	HAS(out, "uri 'file:///tmp/\\x1b[31mred\\xff' is not a valid URI");
	free(out);
	unsetenv("CONF");
	check_all();
}

/* A backup killed while it holds the lock at loc (its events fill a pipe nobody reads): a stale lock. */
static void stale_lock(const char *loc)
{
	char *out = NULL, args[300], lock[600];
	CU_ASSERT_EQUAL_FATAL(t_cli_big_store(), 0);
	snprintf(args, sizeof args, "--store big.db --json -q backup %s", loc);
	t_child ch;
	CU_ASSERT_EQUAL_FATAL(t_cli_spawn(&ch, "/dev/null", args, 0), 0);
	snprintf(lock, sizeof lock, "%s/%s/licvault.lock", dir, loc);
	int st = 0;
	while (access(lock, F_OK) != 0 && waitpid(ch.pid, &st, WNOHANG) == 0)
		usleep(10000);
	kill(ch.pid, SIGKILL);
	t_cli_finish(&ch, &out, NULL);
	free(out);
	CU_ASSERT_EQUAL(access(lock, F_OK), 0);
}

/* The history commands and a driver's commands: their records against the schema. */
static void test_history_and_driver_json(void)
{
	check_json("begin,progress,restricted_license,end", "--store h.db backup --overwrite hb", 0);
	check_json("generation", "list hb", 0);
	check_json("generation", "list --verify hb", 0);
	check_json("license", "ls hb", 0);
	check_json("license", "ls --generation 1 hb", 0);
	check_json("forgotten", "forget --keep 1 --dry-run hb", 0);
	check_json("forgotten", "forget --generation 1 hb", 0);
	check_json("begin,progress,end", "verify --all hb", 0);
	check_json("begin,progress,connecting,disconnecting,individualize,end",
	           "--store r2.db restore --individualize --generation newest hb", 0);
	check_json("", "list nothing-here", 4);
	stale_lock("lk");
	check_json("lock", "unlock lk", 5);
	check_json("lock", "unlock --force lk", 0);
	/* a driver's commands: each line a record */
	char *sh = NULL;
	CU_ASSERT_EQUAL(t_sh(&sh, "cd '%s' && printf '[driver \"crypt\"]\nkdf_opslimit = 1\nkdf_memlimit = 8192\n' > crypt.conf",
	                     dir), 0);
	free(sh);
	setenv("CONF", "crypt.conf", 1);
	setenv("LICVAULT_PASSPHRASE", "json test passphrase", 1);
	char args[1200];
	snprintf(args, sizeof args, "crypt init 'crypt+file://%s/cj' 'label=a \"b\" \\\\c'", dir);
	check_json("driver_output", args, 0);
	snprintf(args, sizeof args, "crypt keys 'crypt+file://%s/cj'", dir);
	check_json("driver_output", args, 0);
	snprintf(args, sizeof args, "--store h.db backup 'crypt+file://%s/cj'", dir);
	check_json("begin,progress,restricted_license,end", args, 0);
	snprintf(args, sizeof args, "list 'crypt+file://%s/cj'", dir);
	check_json("generation", args, 0);
	unsetenv("LICVAULT_PASSPHRASE");
	unsetenv("CONF");
	char *out = NULL;
	t_sh(&out, "cd '%s' && cat out.%d", dir, n_out - 2);   /* crypt keys */
	HAS(out, "{\"type\":\"driver_output\",\"driver\":\"crypt\",\"verb\":\"keys\",\"line\":\"0000000000000000  created ");
	free(out);
	check_all();
}

LV_SUITE(cli_json, cli_json, init, t_suite_dir_clean,
         {"every command's JSON: strict, UTF-8, valid against the schema", test_every_command_json},
         {"every command's human output: safe text", test_every_command_human},
         {"history and driver commands' JSON", test_history_and_driver_json})
