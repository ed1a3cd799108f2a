/*
 * The host services of driver ABI 1.1 as a driver meets them: the test
 * driver tests/drivers/hostprobe.c calls one service per command, run
 * here through lv_location_open + lv_location_control: the typed config
 * getter, the URI parser, the object name check, tracked writers released
 * before close, asking for a secret, debug logging, error_save/restore.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "testutil.h"

#define dir t_suite_dir

static char cfg[700];

/* The config: [driver "hostprobe"] count = 7 (line 2), locations overriding keys. */
static int host_init(void)
{
	if (t_suite_dir_init())
		return -1;
	snprintf(cfg, sizeof cfg, "%s/host.conf", dir);
	FILE *f = fopen(cfg, "w");
	if (!f)
		return -1;
	fprintf(f, "[driver \"hostprobe\"]\n"          /* 1 */
	           "count = 7\n"                       /* 2 */
	           "[location \"a\"]\n"                /* 3 */
	           "uri = hostprobe://a\n"             /* 4 */
	           "flag = on\n"                       /* 5 */
	           "mode = SAFE\n"                     /* 6 */
	           "[location \"b\"]\n"                /* 7 */
	           "uri = hostprobe://b\n"             /* 8 */
	           "flag = yes\n"                      /* 9 */
	           "[location \"c\"]\n"                /* 10 */
	           "uri = hostprobe://c\n"             /* 11 */
	           "flag = off\n"                      /* 12 */
	           "count = 11\n"                      /* 13 */
	           "mode = slow\n");                   /* 14 */
	return fclose(f) ? -1 : 0;
}

static lv_context *probe_context(void)
{
	lv_context *ctx = t_context();
	lv_context_add_driver_dir(ctx, LV_TEST_BUILD_DIR "/testdrivers");
	if (lv_context_load_config(ctx, cfg))
		fprintf(stderr, "\n  %s\n", lv_context_last_error(ctx));
	return ctx;
}

static void collect(const char *line, void *ud)
{
	char *out = ud;
	size_t n = strlen(out);
	snprintf(out + n, 4096 - n, "%s%s", n ? "\n" : "", line);
}

/* Run `verb ARGS...` on an open location: its result; its output in out (4096 bytes). */
static int ctl(lv_location *l, char *out, const char *verb, const char *a0, const char *a1)
{
	const char *args[2] = {a0, a1};
	out[0] = '\0';
	lv_location_clear_error(l);
	return lv_location_control(l, "hostprobe", verb, args, a1 ? 2 : a0 ? 1 : 0, collect, out);
}

/* Open uri, run one command, close: its result, output in out, the location's error in err (1024). */
static int ctl1(lv_context *ctx, const char *uri, char *out, char *err, const char *verb, const char *a0, const char *a1)
{
	lv_location *l = NULL;
	int rc = lv_location_open(&l, ctx, uri, LV_OPEN_READ);
	CU_ASSERT_EQUAL_FATAL(rc, 0);
	rc = ctl(l, out, verb, a0, a1);
	if (err)
		snprintf(err, 1024, "%s", lv_location_last_error(l));
	lv_location_close(l);
	return rc;
}

#define WHERE(line) (snprintf(where, sizeof where, "where=%s:%d", cfg, (line)), where)

static void test_config_value(void)
{
	lv_context *ctx = probe_context();
	char out[4096], err[1024], where[800];
	/* bool: on, yes, off; where names the file and line of the location's override */
	CU_ASSERT_EQUAL(ctl1(ctx, "a:", out, NULL, "config", "flag", NULL), 0);
	CU_ASSERT_PTR_NOT_NULL(strstr(out, "set=1 number=1 text=on "));
	CU_ASSERT_PTR_NOT_NULL(strstr(out, WHERE(5)));
	CU_ASSERT_EQUAL(ctl1(ctx, "b:", out, NULL, "config", "flag", NULL), 0);
	CU_ASSERT_PTR_NOT_NULL(strstr(out, "set=1 number=1 text=yes"));
	/* bool: off (the bundle's own parser once refused "on", which config check accepted) */
	lv_location *l = NULL;
	CU_ASSERT_EQUAL_FATAL(lv_location_open(&l, ctx, "c:", LV_OPEN_READ), 0);
	CU_ASSERT_EQUAL(ctl(l, out, "config", "flag", NULL), 0);
	CU_ASSERT_PTR_NOT_NULL(strstr(out, "set=1 number=0 text=off"));
	/* int out of its range, enum not a choice: CONFIG naming file:line, the key and what was expected */
	CU_ASSERT_EQUAL(ctl(l, out, "config", "count", NULL), LV_E_CONFIG);
	snprintf(err, sizeof err, "%s", lv_location_last_error(l));
	CU_ASSERT_PTR_NOT_NULL(strstr(err, WHERE(13) + 6));
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "count = '11'"));
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "1 to 10"));
	CU_ASSERT_EQUAL(ctl(l, out, "config", "mode", NULL), LV_E_CONFIG);
	CU_ASSERT_PTR_NOT_NULL(strstr(lv_location_last_error(l), "fast|Safe|paranoid"));
	lv_location_close(l);
	/* int: the driver section's value, set, when the location does not override it */
	CU_ASSERT_EQUAL(ctl1(ctx, "a:", out, NULL, "config", "count", NULL), 0);
	CU_ASSERT_PTR_NOT_NULL(strstr(out, "set=1 number=7 text=7 "));
	CU_ASSERT_PTR_NOT_NULL(strstr(out, WHERE(2)));
	/* enum: matched without regard to case, given in the declared spelling with its index */
	CU_ASSERT_EQUAL(ctl1(ctx, "a:", out, NULL, "config", "mode", NULL), 0);
	CU_ASSERT_PTR_NOT_NULL(strstr(out, "set=1 number=1 text=Safe "));
	/* unset: the declared default, set=0, where=default; no default: no text */
	CU_ASSERT_EQUAL(ctl1(ctx, "hostprobe://plain", out, NULL, "config", "flag", NULL), 0);
	CU_ASSERT_STRING_EQUAL(out, "set=0 number=0 text=no where=default");
	CU_ASSERT_EQUAL(ctl1(ctx, "hostprobe://plain", out, NULL, "config", "mode", NULL), 0);
	CU_ASSERT_STRING_EQUAL(out, "set=0 number=0 text=fast where=default");
	CU_ASSERT_EQUAL(ctl1(ctx, "hostprobe://plain", out, NULL, "config", "label", NULL), 0);
	CU_ASSERT_STRING_EQUAL(out, "set=0 number=0 text=- where=default");
	/* a key the driver did not declare */
	CU_ASSERT_EQUAL(ctl1(ctx, "hostprobe://plain", out, err, "config", "nokey", NULL), LV_E_INVALID_ARG);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "nokey"));
	lv_context_free(ctx);
}

static void expect_uri(lv_location *l, const char *uri, const char *want)
{
	char out[4096];
	int rc = ctl(l, out, "uri", uri, NULL);
	if (rc || strcmp(out, want))
		fprintf(stderr, "\n  uri_parse(%s): %s\n    %s\n  expected\n    %s\n", uri, lv_error_name(rc), out, want);
	CU_ASSERT_EQUAL(rc, 0);
	CU_ASSERT_STRING_EQUAL(out, want);
}

static void test_uri_parse(void)
{
	lv_context *ctx = probe_context();
	lv_location *l = NULL;
	CU_ASSERT_EQUAL_FATAL(lv_location_open(&l, ctx, "hostprobe://x", LV_OPEN_READ), 0);
	/* user, password, port, path decoded; the query as written; the scheme in lower case */
	expect_uri(l, "SFTP://us%65r:p%40ss%3Aw@nas.example:2222/srv/a%20b/c?x=%41",
	           "scheme=sftp inner=- user=user password=p@ss:w host=nas.example port=2222 path=/srv/a b/c query=x=%41");
	/* an IPv6 literal without its brackets, no port */
	expect_uri(l, "sftp://[2001:db8::1]/x", "scheme=sftp inner=- user=- password=- host=2001:db8::1 port=0 path=/x query=-");
	expect_uri(l, "sftp://u@[::1]:22/~/d", "scheme=sftp inner=- user=u password=- host=::1 port=22 path=/~/d query=-");
	/* a host as written (a removable volume's label keeps its case) */
	expect_uri(l, "removable://My%20Stick/a", "scheme=removable inner=- user=- password=- host=My Stick port=0 path=/a query=-");
	/* no host: file:///abs; an encoded '/' decodes into the path */
	expect_uri(l, "file:///tmp/a%2Fb", "scheme=file inner=- user=- password=- host=- port=0 path=/tmp/a/b query=-");
	/* a plain path, as written (not decoded) */
	expect_uri(l, "/abs/dir%20x", "scheme= inner=- user=- password=- host=- port=0 path=/abs/dir%20x query=-");
	expect_uri(l, "rel/x.lvb", "scheme= inner=- user=- password=- host=- port=0 path=rel/x.lvb query=-");
	/* stacking: the prefix in lower case, INNER as given */
	expect_uri(l, "BUNDLE+sftp://h/x%20y.lvb", "scheme=bundle inner=sftp://h/x%20y.lvb user=- password=- host=- port=0 path= query=-");
	expect_uri(l, "bundle+/abs/x.lvb", "scheme=bundle inner=/abs/x.lvb user=- password=- host=- port=0 path= query=-");
	/* refused: a NUL byte, a port out of range, not a URI */
	char out[4096];
	const char *bad[] = {"sftp://h/a%00b", "sftp://h:70000/x", "sftp://h:0/x", "sftp://h:x/y", "sftp://a b/c", ""};
	for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
		int rc = ctl(l, out, "uri", bad[i], NULL);
		if (rc != LV_E_BAD_URI)
			fprintf(stderr, "\n  uri_parse(%s) gave %s: %s\n", bad[i], lv_error_name(rc), out);
		CU_ASSERT_EQUAL(rc, LV_E_BAD_URI);
		CU_ASSERT(lv_location_last_error(l)[0] != '\0');
	}
	lv_location_close(l);
	lv_context_free(ctx);
}

/*
 * A path ending with '/': in a child process, since the host's uri_parse
 * of main fd89448 reads out of bounds there (uriparser's empty last
 * segment): a crash is a failed assertion, not the end of the runner.
 */
static void test_uri_trailing_slash(void)
{
	const char *uris[] = {"file:///tmp/dir/", "sftp://h/", "file:///"};
	const char *paths[] = {"/tmp/dir/", "/", "/"};
	for (size_t i = 0; i < sizeof uris / sizeof *uris; i++) {
		fflush(NULL);
		pid_t pid = fork();
		CU_ASSERT_FATAL(pid >= 0);
		if (pid == 0) {
			lv_context *ctx = probe_context();
			lv_location *l = NULL;
			char out[4096], want[256];
			snprintf(want, sizeof want, "path=%s query", paths[i]);
			int rc = lv_location_open(&l, ctx, "hostprobe://x", LV_OPEN_READ);
			if (!rc && !(rc = ctl(l, out, "uri", uris[i], NULL)) && strstr(out, want))
				_exit(0);
			fprintf(stderr, "\n  uri_parse(%s): %s: %s\n", uris[i], lv_error_name(rc),
			        rc ? lv_location_last_error(l) : out);
			_exit(1);
		}
		int st = 0;
		waitpid(pid, &st, 0);
		if (WIFSIGNALED(st))
			fprintf(stderr, "\n  uri_parse(%s): the host crashed (core/uri.c: an empty last path segment)\n", uris[i]);
		CU_ASSERT(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	}
}

static void test_name_valid(void)
{
	lv_context *ctx = probe_context();
	lv_location *l = NULL;
	CU_ASSERT_EQUAL_FATAL(lv_location_open(&l, ctx, "hostprobe://x", LV_OPEN_READ), 0);
	char out[4096], n255[256], n256[257];
	memset(n255, 'a', 255);
	n255[255] = '\0';
	memset(n256, 'a', 256);
	n256[256] = '\0';
	const char *valid[] = {"licvault.lock", "licvault-0000000000000001.pack", "x.lvb.licvault.lock", ".tmp", "é", n255};
	const char *invalid[] = {"", ".", "..", "a/b", "/", n256};
	for (size_t i = 0; i < sizeof valid / sizeof *valid; i++) {
		CU_ASSERT_EQUAL(ctl(l, out, "name", valid[i], NULL), 0);
		CU_ASSERT_STRING_EQUAL(out, "valid");
	}
	for (size_t i = 0; i < sizeof invalid / sizeof *invalid; i++) {
		CU_ASSERT_EQUAL(ctl(l, out, "name", invalid[i], NULL), 0);
		CU_ASSERT_STRING_EQUAL(out, "invalid");
	}
	lv_location_close(l);
	lv_context_free(ctx);
}

static void test_track(void)
{
	lv_context *ctx = probe_context();
	char file[800], out[4096], *text = NULL;
	snprintf(file, sizeof file, "%s/track.txt", dir);
	/* three writers left open, the newest untracked (its driver took it back): the other two
	 * are released, newest first, before the driver's close */
	lv_location *l = NULL;
	CU_ASSERT_EQUAL_FATAL(lv_location_open(&l, ctx, "hostprobe://t", LV_OPEN_WRITE), 0);
	CU_ASSERT_EQUAL(ctl(l, out, "leave-open", file, NULL), 0);
	CU_ASSERT_EQUAL(ctl(l, out, "leave-open", file, NULL), 0);
	CU_ASSERT_EQUAL(ctl(l, out, "leave-open", file, NULL), 0);
	CU_ASSERT_EQUAL(ctl(l, out, "untrack", NULL, NULL), 0);
	CU_ASSERT_STRING_EQUAL(out, "untracked 3");
	lv_location_close(l);
	CU_ASSERT_EQUAL(t_sh(&text, "cat '%s'", file), 0);
	CU_ASSERT_STRING_EQUAL(text, "released 2\nreleased 1\nclosed\n");
	free(text);
	lv_context_free(ctx);
}

typedef struct asked {
	int calls;
	unsigned flags;
	char prompt[256];
	int answer; /* 0: give the secret; else this error */
} asked;

static int secret_cb(const char *prompt, unsigned flags, char *buf, size_t cap, void *ud)
{
	asked *a = ud;
	a->calls++;
	a->flags = flags;
	snprintf(a->prompt, sizeof a->prompt, "%s", prompt);
	if (a->answer)
		return a->answer;
	snprintf(buf, cap, "s3cret");
	return 0;
}

static void test_ask_secret(void)
{
	lv_context *ctx = probe_context();
	char out[4096], err[1024];
	/* no way to ask: UNSUPPORTED, not described by the host: the driver's own message stands */
	CU_ASSERT_EQUAL(ctl1(ctx, "hostprobe://s", out, err, "secret", "passphrase for hostprobe://s", NULL), LV_E_UNSUPPORTED);
	CU_ASSERT_STRING_EQUAL(err, "hostprobe: passphrase for hostprobe://s is needed, and there is no way to ask for it");
	asked a = {0, 0, "", 0};
	lv_context_set_secret_cb(ctx, secret_cb, &a);
	CU_ASSERT_EQUAL(ctl1(ctx, "hostprobe://s", out, err, "secret", "passphrase for hostprobe://s", "confirm"), 0);
	CU_ASSERT_STRING_EQUAL(out, "got 6:s3cret");
	CU_ASSERT_EQUAL(a.calls, 1);
	CU_ASSERT_EQUAL(a.flags, LV_SECRET_CONFIRM);
	CU_ASSERT_STRING_EQUAL(a.prompt, "passphrase for hostprobe://s");
	/* the user declined: CANCELED, and the message holds no secret */
	a.answer = LV_E_CANCELED;
	CU_ASSERT_EQUAL(ctl1(ctx, "hostprobe://s", out, err, "secret", "passphrase for hostprobe://s", NULL), LV_E_CANCELED);
	CU_ASSERT_EQUAL(a.flags, 0);
	CU_ASSERT_PTR_NULL(strstr(err, "s3cret"));
	lv_context_set_secret_cb(ctx, NULL, NULL);
	lv_context_free(ctx);
}

typedef struct logged {
	int debug;
	char line[512];
} logged;

static void log_cb(int level, const char *line, void *ud)
{
	logged *g = ud;
	if (level == LV_LOG_DEBUG && strstr(line, "probe debug line")) {
		g->debug++;
		snprintf(g->line, sizeof g->line, "%s", line);
	}
}

static void test_log_and_errors(void)
{
	lv_context *ctx = probe_context();
	char out[4096], err[1024];
	/* a driver's debug line reaches the application at LV_LOG_DEBUG (licvault -vv), with its name */
	logged g = {0, ""};
	lv_context_set_log(ctx, LV_LOG_INFO, log_cb, &g);
	CU_ASSERT_EQUAL(ctl1(ctx, "hostprobe://l", out, NULL, "log", "3", "probe debug line"), 0);
	CU_ASSERT_EQUAL(g.debug, 0);
	lv_context_set_log(ctx, LV_LOG_DEBUG, log_cb, &g);
	CU_ASSERT_EQUAL(ctl1(ctx, "hostprobe://l", out, NULL, "log", "3", "probe debug line"), 0);
	CU_ASSERT_EQUAL(g.debug, 1);
	CU_ASSERT_PTR_NOT_NULL(strstr(g.line, "hostprobe: probe debug line"));
	lv_context_set_log(ctx, LV_LOG_ERROR, NULL, NULL);
	/* the first error wins; a failure taken back with error_save/error_restore does not stand */
	CU_ASSERT_EQUAL(ctl1(ctx, "hostprobe://e", out, err, "errors", "first", NULL), LV_E_NO_SPACE);
	CU_ASSERT_STRING_EQUAL(err, "hostprobe: the first failure");
	CU_ASSERT_EQUAL(ctl1(ctx, "hostprobe://e", out, err, "errors", "handled", NULL), LV_E_IO);
	CU_ASSERT_STRING_EQUAL(err, "hostprobe: the real failure");
	lv_context_free(ctx);
}

LV_SUITE(host, host, host_init, t_suite_dir_clean,
         {"config_value: bool, int range, enum case, set or default, CONFIG with file:line", test_config_value},
         {"uri_parse: decoding, IPv6, port, user and password, plain paths, stacking, refusals", test_uri_parse},
         {"uri_parse: a path ending with '/'", test_uri_trailing_slash},
         {"name_valid", test_name_valid},
         {"track: writers left open are released, newest first, before close", test_track},
         {"ask_secret through lv_context_set_secret_cb", test_ask_secret},
         {"debug log lines, the first error wins, error_save/error_restore", test_log_and_errors})
