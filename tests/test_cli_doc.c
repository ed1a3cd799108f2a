/*
 * What ships with the CLI: the man pages render without a warning, and
 * licvault(1) and docs/cli.md name every command, option and exit code the
 * CLI has (asked from the CLI itself, so a new command without its docs
 * fails here); the bash completion, driven through its function, completes
 * commands, subcommands, options, config locations and URI schemes.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cliutil.h"
#include "testutil.h"

#define dir t_suite_dir
#define MAN_DIR LV_TEST_BUILD_DIR "/man"
#define RENDER "MANROFFOPT=-rHY=0 MANWIDTH=100 man --warnings -l"

static const char *const pages[] = {"licvault.1", "licvault.conf.5", "licvault-gen.1", "lvconform.1", "liblicvault.3"};

static int have_man(void)
{
	char *out = NULL;
	int missing = t_sh(&out, "command -v scdoc && command -v man") != 0;
	free(out);
	if (missing)
		fprintf(stderr, "\n  skipped: scdoc or man is not installed (apt-get install scdoc man-db) ");
	return !missing;
}

static void test_man_pages_render(void)
{
	if (!have_man())
		return;
	for (size_t i = 0; i < sizeof pages / sizeof pages[0]; i++) {
		char *out = NULL;
		/* the page to PAGE.txt (read by the next test): what is left is groff's and man's warnings */
		int st = t_sh(&out, "test -s '%s/%s' && " RENDER " '%s/%s' 2>&1 >'%s/%s.txt'", MAN_DIR, pages[i], MAN_DIR, pages[i],
		              dir, pages[i]);
		if (st || *out)
			fprintf(stderr, "\n  %s: exit %d: %s", pages[i], st, out);
		CU_ASSERT_EQUAL(st, 0);
		CU_ASSERT_STRING_EQUAL(out, "");
		free(out);
	}
}

/* Each line of `cmd` (run in the suite dir) must appear in each of the n docs. */
static int all_in(const char *const *docs, const char *const *names, int n, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
static int all_in(const char *const *docs, const char *const *names, int n, const char *fmt, ...)
{
	char cmd[2048];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(cmd, sizeof cmd, fmt, ap);
	va_end(ap);
	char *words = NULL;
	t_sh(&words, "cd '%s' && export LICVAULT_CONFIG=/dev/null && %s", dir, cmd);
	int count = 0, missing = 0;
	char *save = NULL;
	for (char *w = strtok_r(words, "\n", &save); w; w = strtok_r(NULL, "\n", &save), count++) {
		for (int d = 0; d < n; d++) {
			if (docs[d] && !strstr(docs[d], w)) {
				fprintf(stderr, "\n  %s does not name '%s'", names[d], w);
				missing++;
			}
		}
	}
	free(words);
	CU_ASSERT(count > 0);
	return missing;
}

static void test_docs_name_everything(void)
{
	char *man = NULL, *md = NULL;
	if (have_man())
		CU_ASSERT_EQUAL_FATAL(t_sh(&man, "cat '%s/licvault.1.txt'", dir), 0);
	CU_ASSERT_EQUAL_FATAL(t_sh(&md, "cat '%s/docs/cli.md'", LV_TEST_SOURCE_DIR), 0);
	const char *docs[2] = {man, md};
	const char *names[2] = {"licvault(1)", "docs/cli.md"};
	/* every command, from the CLI's own lists; every option of every command's help */
	CU_ASSERT_EQUAL(all_in(docs, names, 2, "'%s' __complete commands", T_CLI), 0);
	CU_ASSERT_EQUAL(all_in(docs, names, 2,
	                       "for g in $('%s' __complete commands); do for s in $('%s' __complete subcommands $g); do "
	                       "echo \"$g $s\"; done; done", T_CLI, T_CLI), 0);
	CU_ASSERT_EQUAL(all_in(docs, names, 2,
	                       "for c in $('%s' __complete commands); do '%s' help $c; for s in $('%s' __complete "
	                       "subcommands $c); do '%s' help $c $s; done; done | grep -o -- '--[a-z][a-z-]*' | sort -u",
	                       T_CLI, T_CLI, T_CLI, T_CLI), 0);
	/* every exit code and every error name */
	CU_ASSERT_EQUAL(all_in(docs, names, 2, "'%s' help exit-codes | awk '/^  / {print $1}' | sort -u", T_CLI), 0);
	/* licvault.conf(5): every key a loaded driver declares with a default */
	char *conf = NULL;
	if (man && t_sh(&conf, "cat '%s/licvault.conf.5.txt'", dir) == 0) {
		const char *cd[1] = {conf};
		const char *cn[1] = {"licvault.conf(5)"};
		CU_ASSERT_EQUAL(all_in(cd, cn, 1, "'%s' config show | sed -n 's/^# \\([a-z_]*\\) = .*/\\1/p' | sort -u", T_CLI), 0);
	}
	free(conf);
	free(man);
	free(md);
}

/*
 * `licvault help __complete` names the lists cmd_complete.c serves: every
 * list it names is served (exit 0), and every list served is named.  (It
 * named a global-options-with-arg that was never served, and no
 * subcommands, options-with-arg or kids.)
 */
static void test_complete_help(void)
{
	char *out = NULL;
	/* the help's lines joined: a list's words may be wrapped apart */
	CU_ASSERT_EQUAL(t_cli(&out, "LICVAULT_CONFIG=/dev/null", "help __complete | tr '\\n' ' ' | tr -s ' '"), 0);
	static const char *const served[] = {"commands", "subcommands GROUP", "options [CMD...]", "options-with-arg",
	                                     "arg-kind CMD...", "arg-kind -- --OPTION", "locations", "schemes", "kids"};
	for (size_t i = 0; i < sizeof served / sizeof served[0]; i++) {
		if (!strstr(out, served[i]))
			fprintf(stderr, "\n  help __complete does not name '%s'", served[i]);
		HAS(out, served[i]);
	}
	free(out);
	/* the lists the help names (the paragraph after the usage line, split at '|'): each one served */
	CU_ASSERT_EQUAL(t_cli(&out, "LICVAULT_CONFIG=/dev/null",
	                      "help __complete | sed -n '3,/^$/p' | tr '|' '\\n' | awk 'NF {print $1}' > lists && "
	                      "n=0 && while read -r w; do n=$((n + 1)); '%s' __complete \"$w\" >/dev/null 2>&1 || "
	                      "echo \"not served: $w\"; done < lists && echo \"lists: $n\"", T_CLI), 0);
	HASNT(out, "not served");
	HASNT(out, "lists: 0\n");
	free(out);
}

/* Complete `line` (words split at spaces; a trailing space starts a new word) with the installed function. */
static char *complete(const char *line)
{
	char *out = NULL;
	t_sh(&out,
	     "cd '%s' && LICVAULT_CONFIG=comp.conf bash -c 'source /usr/share/bash-completion/bash_completion; "
	     "source \"%s/cli/completion/licvault.bash\"; COMP_LINE=\"$1\"; COMP_POINT=${#COMP_LINE}; "
	     "read -ra COMP_WORDS <<< \"$1\"; [[ $1 == *\" \" ]] && COMP_WORDS+=(\"\"); "
	     "COMP_CWORD=$((${#COMP_WORDS[@]} - 1)); _licvault; printf \"%%s\\n\" \"${COMPREPLY[@]}\"' _ '%s %s'",
	     dir, LV_TEST_SOURCE_DIR, T_CLI, line);
	return out;
}

static void test_bash_completion(void)
{
	char *out = NULL;
	if (t_sh(&out, "test -r /usr/share/bash-completion/bash_completion")) {
		fprintf(stderr, "\n  skipped: bash-completion is not installed ");
		free(out);
		return;
	}
	free(out);
	CU_ASSERT_EQUAL_FATAL(t_sh(&out, "cd '%s' && printf '[location \"nas\"]\\nuri = file:///tmp/x\\n' > comp.conf", dir), 0);
	free(out);
	out = complete("ba");
	CU_ASSERT_STRING_EQUAL(out, "backup\n");
	free(out);
	out = complete("");
	CU_ASSERT_PTR_NOT_NULL(strstr(out, "restore\n"));
	CU_ASSERT_PTR_NOT_NULL(strstr(out, "store\n"));
	CU_ASSERT_PTR_NULL(strstr(out, "__complete"));
	free(out);
	out = complete("store ");
	CU_ASSERT_STRING_EQUAL(out, "list\nimport\nexport\nremove\n");
	free(out);
	out = complete("backup --ov");
	CU_ASSERT_STRING_EQUAL(out, "--overwrite\n");
	free(out);
	out = complete("--json restore --ind");    /* global option first, then the command's own */
	CU_ASSERT_STRING_EQUAL(out, "--individualize\n");
	free(out);
	out = complete("backup n");
	CU_ASSERT_PTR_NOT_NULL(strstr(out, "nas:\n"));
	free(out);
	out = complete("verify fi");
	CU_ASSERT_PTR_NOT_NULL(strstr(out, "file://\n"));
	free(out);
	out = complete("help exit");
	CU_ASSERT_STRING_EQUAL(out, "exit-codes\n");
	free(out);
	/* the history commands and their options; a driver's commands, from the drivers found */
	out = complete("fo");
	CU_ASSERT_STRING_EQUAL(out, "forget\n");
	free(out);
	out = complete("forget --k");
	CU_ASSERT_STRING_EQUAL(out, "--keep\n");
	free(out);
	out = complete("restore --gen");
	CU_ASSERT_STRING_EQUAL(out, "--generation\n");
	free(out);
	out = complete("cry");
	CU_ASSERT_STRING_EQUAL(out, "crypt\n");
	free(out);
	out = complete("crypt ");
	CU_ASSERT_STRING_EQUAL(out, "init\npasswd\nadd-key\nremove-key\nkeys\nexport-key\n");
	free(out);
	out = complete("crypt keys n");
	CU_ASSERT_PTR_NOT_NULL(strstr(out, "nas:\n"));
	free(out);
	/* a stacking driver is a prefix (a bare crypt:// is always BAD_URI), completed past */
	out = complete("verify cr");
	HAS(out, "crypt+\n");
	HASNT(out, "crypt://");
	free(out);
	out = complete("backup bu");
	HAS(out, "bundle+\n");
	HASNT(out, "bundle://");
	free(out);
	out = complete("backup crypt+fi");
	HAS(out, "crypt+file://\n");
	free(out);
	out = complete("backup bundle+crypt+n");
	HAS(out, "bundle+crypt+nas:\n");
	free(out);
	/* an option's argument: file names only where it is a file */
	CU_ASSERT_EQUAL_FATAL(t_sh(&out, "cd '%s' && mkdir -p cdir && touch cdir/one cdir/two", dir), 0);
	free(out);
	out = complete("backup crypt+cd");     /* a plain path after a prefix: a directory */
	HAS(out, "crypt+cdir/\n");
	free(out);
	out = complete("forget --keep cdir/");
	CU_ASSERT_STRING_EQUAL(out, "\n");    /* no word: printf prints its format once */
	free(out);
	out = complete("verify --generation cdir/");
	CU_ASSERT_STRING_EQUAL(out, "\n");
	free(out);
	out = complete("--store cdir/o");
	CU_ASSERT_STRING_EQUAL(out, "cdir/one\n");
	free(out);
	out = complete("backup --log-file cdir/t");
	CU_ASSERT_STRING_EQUAL(out, "cdir/two\n");
	free(out);
}

/* The lists behind the completion, asked directly. */
static void test_complete_lists(void)
{
	char *out = NULL;
	CU_ASSERT_EQUAL(t_cli(&out, "LICVAULT_CONFIG=/dev/null", "__complete schemes"), 0);
	HAS(out, "file://\n");
	HAS(out, "sftp://\n");
	HAS(out, "crypt+\n");
	HAS(out, "bundle+\n");
	HASNT(out, "crypt://");
	HASNT(out, "bundle://");
	free(out);
	/* what each option's argument is */
	static const char *const kinds[][2] = {{"--config", "file\n"}, {"--store", "file\n"}, {"--log-file", "file\n"},
	                                       {"--keep", "number\n"}, {"--generation", "generation\n"}, {"--json", ""},
	                                       {"--nonesuch", ""}};
	for (size_t i = 0; i < sizeof kinds / sizeof kinds[0]; i++) {
		CU_ASSERT_EQUAL(t_cli(&out, "LICVAULT_CONFIG=/dev/null", "__complete arg-kind -- %s", kinds[i][0]), 0);
		if (strcmp(out, kinds[i][1]))
			fprintf(stderr, "\n  arg-kind %s: '%s'", kinds[i][0], out);
		CU_ASSERT_STRING_EQUAL(out, kinds[i][1]);
		free(out);
	}
	/* every option that takes an argument has a kind */
	CU_ASSERT_EQUAL(t_cli(&out, "LICVAULT_CONFIG=/dev/null",
	                      "__complete options-with-arg | while read -r o; do k=$('%s' __complete arg-kind -- $o); "
	                      "test -n \"$k\" || echo \"no kind: $o\"; done", T_CLI), 0);
	CU_ASSERT_STRING_EQUAL(out, "");
	free(out);
}

LV_SUITE(cli_doc, cli_doc, t_suite_dir_init, t_suite_dir_clean,
         {"man pages render without warnings", test_man_pages_render},
         {"licvault(1) and docs/cli.md name every command, option and exit code", test_docs_name_everything},
         {"help __complete names the lists it serves", test_complete_help},
         {"bash completion", test_bash_completion},
         {"the completion's lists: stacking schemes, option arguments", test_complete_lists})
