/*
 * The CLI and secrets (issue 20's CLI side), through the real CLI: the
 * drivers' commands (`licvault crypt VERB URI`) in help, "did you mean" and
 * completion; the passphrase asked on a pseudo-terminal with echo off, twice
 * for a new one (a mismatch asked again), Ctrl-C at the question (exit 130,
 * echo back on); no terminal: declined, saying which source to configure
 * (exit 2); core dumps off while a key is held (seen from the passphrase
 * command, a child of the CLI); -vv shows the crypt driver's debug lines and
 * no secret at any level (a passphrase from a file, a password in a URI).
 */
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

#include "cliutil.h"
#include "testutil.h"

#define dir t_suite_dir
#define TYPED "typed at the terminal, 7 words long"
#define FILEPASS "from a file: correct horse battery"
#define URIPASS "S3cr3tUriPw"

/* The CLI with crypt.conf (small KDF parameters) and no passphrase in the environment, without a terminal. */
#define cli(out, ...) t_cli(out, "LICVAULT_CONFIG=crypt.conf setsid -w", __VA_ARGS__)

static int init(void)
{
	unsetenv("LICVAULT_PASSPHRASE");
	return t_cli_suite_init("crypt.conf", "[driver \"crypt\"]\\nkdf_opslimit = 1\\nkdf_memlimit = 8192\\n");
}

static void test_driver_commands(void)
{
	char *out = NULL;
	CU_ASSERT_EQUAL(cli(&out, "help"), 0);
	HAS(out, "driver commands (licvault DRIVER VERB URI [ARGS], from the drivers found):\n");
	HAS(out, "  crypt keys URI             list the key slots (no passphrase needed)\n");
	free(out);
	CU_ASSERT_EQUAL(cli(&out, "crypt"), 2);
	HAS(out, "'crypt' needs a subcommand");
	HAS(out, "crypt export-key URI");
	free(out);
	CU_ASSERT_EQUAL(cli(&out, "crypt kyes x"), 2);
	HAS(out, "unknown command 'crypt kyes' (did you mean 'crypt keys'?)");
	free(out);
	CU_ASSERT_EQUAL(cli(&out, "cyrpt keys x"), 2);
	HAS(out, "unknown command 'cyrpt' (did you mean 'crypt'?)");
	free(out);
	CU_ASSERT_EQUAL(cli(&out, "crypt keys"), 2);
	HAS(out, "crypt keys: expected URI");
	free(out);
	CU_ASSERT_EQUAL(cli(&out, "crypt init --help"), 0);
	HAS(out, "usage: licvault crypt init URI [label=TEXT] [key_file=FILE]\n");
	HAS(out, "writes to the location");
	free(out);
	CU_ASSERT_EQUAL(cli(&out, "__complete subcommands crypt"), 0);
	CU_ASSERT_STRING_EQUAL(out, "init\npasswd\nadd-key\nremove-key\nkeys\nexport-key\n");
	free(out);
	CU_ASSERT_EQUAL(cli(&out, "__complete arg-kind crypt passwd"), 0);
	CU_ASSERT_STRING_EQUAL(out, "uri\n");
	free(out);
	/* a driver's command on a location without that layer */
	CU_ASSERT_EQUAL(cli(&out, "crypt keys file://%s/plain", dir), 4);
	HAS(out, "licvault: error: NOT_FOUND: ");
	HAS(out, "is not served through driver 'crypt'");
	free(out);
}

/* ---- the CLI on a pseudo-terminal ---- */

typedef struct tty {
	pid_t pid;
	int master, slave;        /* slave: our own handle, to read the terminal's settings */
	int exited, status;       /* the child was reaped: its wait status */
	char buf[16384];
	size_t len, seen;         /* read so far; where the next expect() looks from */
} tty;

static int tty_spawn(tty *t, const char *args)
{
	memset(t, 0, sizeof *t);
	t->pid = t_pty_fork(&t->master, &t->slave);
	if (t->pid == 0) {
		setenv("LICVAULT_CONFIG", "crypt.conf", 1);
		/* the shell ignores SIGINT (licvault sets its own handler); afterwards, its exit and the echo */
		char cmd[2048];
		snprintf(cmd, sizeof cmd, "trap '' INT; '%s' %s; echo \"exit=$?\"; stty -a | tr ' ;' '\\n\\n' | grep -x -- '-*echo'",
		         T_CLI, args);
		execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
		_exit(127);
	}
	return t->pid > 0 ? 0 : -1;
}

/*
 * Read what the terminal has: 1, or 0 once the child has exited and all it
 * wrote is read.  (Our own slave handle keeps the terminal open: no EIO at
 * the child's end, so its exit is what ends the reading.)
 */
static int tty_read(tty *t)
{
	for (;;) {
		struct pollfd p = {.fd = t->master, .events = POLLIN};
		int ready = poll(&p, 1, t->exited ? 0 : 50);
		if (ready > 0 && t->len + 1 < sizeof t->buf) {
			ssize_t n = read(t->master, t->buf + t->len, sizeof t->buf - 1 - t->len);
			if (n > 0) {
				t->len += (size_t)n;
				t->buf[t->len] = '\0';
				return 1;
			}
		}
		if (t->exited)
			return 0;
		if (waitpid(t->pid, &t->status, WNOHANG) == t->pid)
			t->exited = 1;   /* read once more: what it wrote last */
	}
}

/* Read the terminal until `s` appears after what was expected before (1), or the child is gone (0). */
static int expect(tty *t, const char *s)
{
	for (;;) {
		t->buf[t->len] = '\0';
		char *p = strstr(t->buf + t->seen, s);
		if (p) {
			t->seen = (size_t)(p - t->buf) + strlen(s);
			return 1;
		}
		if (!tty_read(t))
			return 0;
	}
}

static void type(tty *t, const char *s)
{
	if (write(t->master, s, strlen(s)) < 0)
		CU_FAIL("cannot type on the terminal");
}

/* Read to the end; licvault's exit code (-1 when not seen); *echo: the terminal echoes again after it. */
static int tty_finish(tty *t, int *echo)
{
	while (tty_read(t))
		;
	close(t->master);
	close(t->slave);
	const char *e = strstr(t->buf + t->seen, "exit=");
	*echo = e && strstr(e, "\r\necho\r\n") != NULL;
	return e ? atoi(e + 5) : -1;
}

static void test_prompt_on_terminal(void)
{
	tty t;
	char args[1024];
	snprintf(args, sizeof args, "crypt init crypt+file://%s/tty", dir);
	CU_ASSERT_EQUAL_FATAL(tty_spawn(&t, args), 0);
	CU_ASSERT_FATAL(expect(&t, "licvault: passphrase for crypt+file://"));
	CU_ASSERT_FATAL(expect(&t, "/tty: "));
	struct termios tm;
	CU_ASSERT_EQUAL(tcgetattr(t.slave, &tm), 0);
	CU_ASSERT_EQUAL(tm.c_lflag & ECHO, 0);   /* echo is off while it asks */
	type(&t, TYPED "\n");
	CU_ASSERT_FATAL(expect(&t, "/tty (again): "));
	type(&t, "something else\n");     /* a mismatch: asked again */
	CU_ASSERT_FATAL(expect(&t, "licvault: the two answers differ; try again"));
	CU_ASSERT_FATAL(expect(&t, "/tty: "));
	type(&t, TYPED "\n");
	CU_ASSERT_FATAL(expect(&t, "/tty (again): "));
	type(&t, TYPED "\n");
	CU_ASSERT(expect(&t, "initialized crypt+file://"));
	int echo = 0;
	CU_ASSERT_EQUAL(tty_finish(&t, &echo), 0);
	CU_ASSERT(echo);                   /* echo back on */
	HASNT(t.buf, TYPED);               /* never echoed */
	HASNT(t.buf, "something else");
	/* the typed passphrase is the one the key slot takes */
	char *out = NULL;
	CU_ASSERT_EQUAL(t_sh(&out, "cd '%s' && LICVAULT_PASSPHRASE='" TYPED "' LICVAULT_CONFIG=crypt.conf '%s' crypt export-key "
	                           "crypt+file://%s/tty", dir, T_CLI, dir), 0);
	HAS(out, "licvault crypt key, version 1");
	free(out);
	CU_ASSERT_EQUAL(t_sh(&out, "cd '%s' && LICVAULT_PASSPHRASE='something else' LICVAULT_CONFIG=crypt.conf '%s' crypt "
	                           "export-key crypt+file://%s/tty", dir, T_CLI, dir), 7);
	free(out);
	/* a wrong passphrase is AUTH (7) for list and forget too, not a damaged generation (6) */
	for (int i = 0; i < 2; i++) { /* two generations: forget --keep 1 has one to verify */
		CU_ASSERT_EQUAL(t_sh(&out, "cd '%s' && LICVAULT_PASSPHRASE='" TYPED "' LICVAULT_CONFIG=crypt.conf '%s' -q "
		                           "--store s.db backup --overwrite crypt+file://%s/tty", dir, T_CLI, dir), 0);
		free(out);
	}
	const char *cmds[] = {"list", "list --verify", "forget --keep 1 -n"};
	for (size_t i = 0; i < sizeof cmds / sizeof *cmds; i++) {
		CU_ASSERT_EQUAL(t_sh(&out, "cd '%s' && LICVAULT_PASSPHRASE='something else' LICVAULT_CONFIG=crypt.conf '%s' %s "
		                           "crypt+file://%s/tty", dir, T_CLI, cmds[i], dir), 7);
		HAS(out, "AUTH: the passphrase does not open the key");
		HASNT(out, "damaged");
		free(out);
	}
}

/* Ctrl-C at the question: the run or command is canceled (130), the terminal's echo back on, nothing written. */
static void test_prompt_interrupted(void)
{
	static const char *const how[] = {"--store s.db backup", "crypt init"};
	for (int i = 0; i < 2; i++) {
		tty t;
		char args[1024];
		snprintf(args, sizeof args, "%s crypt+file://%s/ctrlc", how[i], dir);
		CU_ASSERT_EQUAL_FATAL(tty_spawn(&t, args), 0);
		CU_ASSERT_FATAL(expect(&t, "/ctrlc: "));
		type(&t, "\x03");                  /* the terminal sends SIGINT */
		CU_ASSERT(expect(&t, "\r\nlicvault: canceling..."));   /* on a line of its own, not after the prompt */
		int echo = 0;
		CU_ASSERT_EQUAL(tty_finish(&t, &echo), 130);
		CU_ASSERT(echo);
		char *out = NULL;
		CU_ASSERT_EQUAL(t_sh(&out, "ls -A '%s/ctrlc' 2>/dev/null | grep -c licvault-", dir), 1);   /* none */
		free(out);
	}
}

static void test_no_terminal(void)
{
	char *out = NULL;
	CU_ASSERT_EQUAL(cli(&out, "crypt init crypt+file://%s/nott", dir), 2);
	HAS(out, "licvault: cannot ask for the passphrase for crypt+file://");
	HAS(out, "no terminal to ask on");
	HAS(out, "passphrase_file or passphrase_command in [driver \"crypt\"]");
	HAS(out, "$LICVAULT_PASSPHRASE");
	free(out);
	CU_ASSERT_EQUAL(t_sh(&out, "ls -A '%s/nott' 2>/dev/null | grep -c licvault-crypt-key", dir), 1);
	free(out);
	CU_ASSERT_EQUAL(cli(&out, "--store s.db --json backup crypt+file://%s/nott", dir), 2);
	HAS(out, "\"result\":\"CANCELED\",\"exit_code\":2,");
	free(out);
	/* another driver's question (the test driver hostprobe's): declined the same, without the crypt driver's sources */
	CU_ASSERT_EQUAL(t_sh(&out, "cd '%s' && LICVAULT_CONFIG=/dev/null LICVAULT_DRIVER_PATH='%s/testdrivers' setsid -w '%s' "
	                           "hostprobe secret hostprobe://x 'token for hostprobe://x' 2>&1 </dev/null",
	                     dir, LV_TEST_BUILD_DIR, T_CLI),
	                2);
	HAS(out, "licvault: cannot ask for the token for hostprobe://x: no terminal to ask on");
	HAS(out, "in the driver's section or the location's");
	CU_ASSERT_PTR_NULL(strstr(out, "crypt"));
	free(out);
}

/*
 * Core dumps off while a key is held: the passphrase command, a child of the
 * CLI, reads the CLI's limits and who owns its /proc/PID/status (root, for
 * a process that is not dumpable, whoever runs it: so the CLI runs as nobody).
 */
static void test_no_core_dumps(void)
{
	if (geteuid() != 0) {
		fprintf(stderr, "\n  skipped: needs root to run the CLI as another user ");
		return;
	}
	char *out = NULL;
	CU_ASSERT_EQUAL_FATAL(t_sh(&out, "cd '%s' && mkdir -p nb && chmod 777 nb && chmod 755 . && printf '%%s\\n' "
	                                 "'[driver \"crypt\"]' 'kdf_opslimit = 1' 'kdf_memlimit = 8192' "
	                                 "'passphrase_command = sh -c \"cat /proc/$PPID/limits > nb/limits; stat -c %%U "
	                                 "/proc/$PPID/status > nb/owner; echo pw\"' > nb.conf && chmod 644 nb.conf",
	                           dir), 0);
	free(out);
	int rc = t_sh(&out, "cd '%s' && HOME=/tmp LICVAULT_CONFIG=nb.conf setpriv --reuid=nobody --regid=nogroup "
	                    "--clear-groups '%s' crypt init crypt+file://%s/nb/loc", dir, T_CLI, dir);
	if (rc)
		fprintf(stderr, "\n  %s", out);
	CU_ASSERT_EQUAL(rc, 0);
	free(out);
	CU_ASSERT_EQUAL(t_sh(&out, "cat '%s/nb/owner'", dir), 0);
	CU_ASSERT_STRING_EQUAL(out, "root\n");
	free(out);
	CU_ASSERT_EQUAL(t_sh(&out, "awk '/^Max core file size/ {print $5, $6}' '%s/nb/limits'", dir), 0);
	CU_ASSERT_STRING_EQUAL(out, "0 0\n");   /* soft and hard */
	free(out);
	/* a plain location holds no key: its runs keep the usual limits */
	CU_ASSERT_EQUAL(t_sh(&out, "cd '%s' && ulimit -c unlimited && LICVAULT_CONFIG=/dev/null '%s' -vv --store s.db backup plain",
	                     dir, T_CLI), 0);
	HASNT(out, "core dumps off");
	free(out);
}

static int leaks(const char *s)
{
	int bad = strstr(s, FILEPASS) || strstr(s, URIPASS) || strstr(s, TYPED);
	if (bad)
		fprintf(stderr, "\n  a secret in: %s", s);
	return bad;
}

static void test_debug_log_no_secret(void)
{
	char *out = NULL;
	CU_ASSERT_EQUAL_FATAL(t_sh(&out, "cd '%s' && printf '%%s\\n' '" FILEPASS "' > pass && chmod 600 pass && "
	                                 "printf '[driver \"crypt\"]\\nkdf_opslimit = 1\\nkdf_memlimit = 8192\\npassphrase_file = "
	                                 "%s/pass\\n' > file.conf", dir, dir), 0);
	free(out);
	CU_ASSERT_EQUAL(t_sh(&out, "cd '%s' && LICVAULT_CONFIG=file.conf '%s' -vv --log-file dbg.log --store s.db backup "
	                           "crypt+file://%s/dbg", dir, T_CLI, dir), 0);
	HAS(out, "licvault: debug: crypt: the passphrase of crypt+file://");   /* a driver's debug line */
	HAS(out, ": from passphrase_file ");
	HAS(out, "licvault: debug: core dumps off while a key may be held");
	CU_ASSERT(!leaks(out));
	free(out);
	CU_ASSERT_EQUAL(t_sh(&out, "cd '%s' && LICVAULT_CONFIG=file.conf '%s' -vv --store r.db restore --individualize "
	                           "crypt+file://%s/dbg && LICVAULT_CONFIG=file.conf '%s' -vv crypt keys crypt+file://%s/dbg",
	                     dir, T_CLI, dir, T_CLI, dir), 0);
	HAS(out, "unlocked with key slot");
	CU_ASSERT(!leaks(out));
	free(out);
	/* a password in a URI, at debug level: masked everywhere, with the one mask (the library's
	 * messages said *** where the CLI and config show say ********) */
	CU_ASSERT_NOT_EQUAL(t_sh(&out, "cd '%s' && LICVAULT_CONFIG=file.conf '%s' -vv --log-file dbg.log --store s.db backup "
	                               "'crypt+sftp://u:" URIPASS "@127.0.0.1:1/x'", dir, T_CLI), 0);
	HAS(out, "crypt+sftp://u:********@127.0.0.1:1/x");
	HASNT(out, ":***@");
	CU_ASSERT(!leaks(out));
	free(out);
	/* the JSON begin (the CLI's mask) and end (the library's message) mask it alike */
	CU_ASSERT_NOT_EQUAL(t_cli(&out, "LICVAULT_CONFIG=file.conf", "--json --store s.db backup "
	                                "'crypt+sftp://u:" URIPASS "@127.0.0.1:1/x' 2>/dev/null"), 0);
	CU_ASSERT_EQUAL(t_count_str(out, "sftp://u:********@127.0.0.1:1/x"), 2);
	HASNT(out, ":***@");
	CU_ASSERT(!leaks(out));
	free(out);
	CU_ASSERT_EQUAL(t_sh(&out, "cat '%s/dbg.log'", dir), 0);
	HAS(out, ": debug: crypt: ");
	CU_ASSERT(!leaks(out));
	free(out);
}

LV_SUITE(cli_crypt, cli_crypt, init, t_suite_dir_clean,
         {"driver commands: help, did you mean, completion", test_driver_commands},
         {"the passphrase asked on a terminal, echo off, twice", test_prompt_on_terminal},
         {"Ctrl-C at the question", test_prompt_interrupted},
         {"no terminal: declined, saying what to configure", test_no_terminal},
         {"no core dumps while a key is held", test_no_core_dumps},
         {"-vv: the crypt driver's debug lines, no secret", test_debug_log_no_secret})
