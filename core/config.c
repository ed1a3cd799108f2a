/*
 * The config file (docs/config.md), read with inih.  Sections:
 *   [licvault]  [service]  [driver "NAME"]  [location "NAME"]
 * Values expand a leading ~ and ${VAR}.  Errors name the file and the line.
 */
#include "config.h"
#include "util.h"

#include <stdio.h>
#include <ctype.h>
#include <errno.h>
#include <ini.h>
#include <stdlib.h>
#include <string.h>

struct lv_config {
	char *file;
	lv_conf_entry *e;
	size_t n, cap;
	/* sections in order of appearance, with their header line */
	char **sections;
	int *section_lines;
	size_t n_sections;
};

typedef struct parse_state {
	lv_config *c;
	FILE *f;
	int line;            /* line number of the line inih is parsing */
	char *err;           /* LV_ERRMSG_MAX */
	int failed;
	char cur_section[256];
} parse_state;

static int fail(parse_state *st, const char *fmt, ...) LV_PRINTF(2, 3);
static int fail(parse_state *st, const char *fmt, ...)
{
	if (st->failed)
		return 0;
	st->failed = 1;
	char msg[LV_ERRMSG_MAX];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	snprintf(st->err, LV_ERRMSG_MAX, "%s:%d: %s", st->c->file, st->line, msg);
	return 0;
}

/* Normalize a section header: `driver "sftp"` -> "driver sftp". */
static int normalize_section(parse_state *st, const char *raw, char *out, size_t cap)
{
	if (!strcmp(raw, "licvault") || !strcmp(raw, "service")) {
		snprintf(out, cap, "%s", raw);
		return 1;
	}
	const char *kinds[] = {"driver", "location"};
	for (int i = 0; i < 2; i++) {
		size_t kl = strlen(kinds[i]);
		if (strncmp(raw, kinds[i], kl) != 0 || !isspace((unsigned char)raw[kl]))
			continue;
		const char *p = raw + kl;
		while (isspace((unsigned char)*p))
			p++;
		if (*p != '"') {
			fail(st, "section [%s]: the name must be quoted: [%s \"NAME\"]", raw, kinds[i]);
			return 0;
		}
		const char *q = strchr(p + 1, '"');
		if (!q || q[1] != '\0') {
			fail(st, "section [%s]: unterminated or trailing text after the quoted name", raw);
			return 0;
		}
		size_t n = (size_t)(q - p - 1);
		if (n == 0 || n > 64) {
			fail(st, "section [%s]: the name must be 1 to 64 characters", raw);
			return 0;
		}
		if (i == 1) {
			/* a location is used as a URI scheme (NAME:sub/dir): lower case, starting with a letter */
			if (!(p[1] >= 'a' && p[1] <= 'z')) {
				fail(st, "section [%s]: a location name starts with a lower-case letter", raw);
				return 0;
			}
			for (const char *c = p + 1; c < q; c++)
				if (!((*c >= 'a' && *c <= 'z') || (*c >= '0' && *c <= '9') || *c == '-' || *c == '.')) {
					fail(st, "section [%s]: a location name may hold a-z, 0-9, '-' and '.' only (it is used as NAME:)", raw);
					return 0;
				}
		} else
			for (const char *c = p + 1; c < q; c++)
				if (!isalnum((unsigned char)*c) && *c != '_' && *c != '-' && *c != '.') {
					fail(st, "section [%s]: the name may hold letters, digits, '_', '-' and '.' only", raw);
					return 0;
				}
		snprintf(out, cap, "%s %.*s", kinds[i], (int)n, p + 1);
		return 1;
	}
	fail(st, "unknown section [%s] (known: [licvault], [service], [driver \"NAME\"], [location \"NAME\"])",
	     raw);
	return 0;
}

/* The reader inih calls for each line: counts lines, catches section headers. */
static char *reader(char *str, int num, void *stream)
{
	parse_state *st = stream;
	char *r = fgets(str, num, st->f);
	if (!r)
		return NULL;
	st->line++;
	size_t n = strlen(str);
	if (n == (size_t)num - 1 && str[n - 1] != '\n' && !feof(st->f)) {
		fail(st, "line longer than %d characters", num - 2);
		/* swallow the rest of the line so inih stays in step */
		int c;
		while ((c = fgetc(st->f)) != EOF && c != '\n')
			;
		str[0] = '\0';
		return str;
	}
	const char *p = str;
	if (st->line == 1 && (unsigned char)p[0] == 0xEF && (unsigned char)p[1] == 0xBB &&
	    (unsigned char)p[2] == 0xBF)
		p += 3;
	while (isspace((unsigned char)*p))
		p++;
	if (*p == '[') {
		const char *end = strchr(p, ']');
		if (!end) {
			fail(st, "section header without ']'");
			return r;
		}
		char raw[256];
		size_t len = (size_t)(end - p - 1);
		if (len >= sizeof raw) {
			fail(st, "section header too long");
			return r;
		}
		memcpy(raw, p + 1, len);
		raw[len] = '\0';
		char norm[256];
		if (!normalize_section(st, raw, norm, sizeof norm))
			return r;
		lv_config *c = st->c;
		for (size_t i = 0; i < c->n_sections; i++)
			if (!strcmp(c->sections[i], norm)) {
				if (!strncmp(norm, "location ", 9))
					fail(st, "duplicate location \"%s\" (first defined at line %d)", norm + 9,
					     c->section_lines[i]);
				else
					fail(st, "section [%s] given twice (first at line %d)", raw, c->section_lines[i]);
				return r;
			}
		char **ns = realloc(c->sections, (c->n_sections + 1) * sizeof *ns);
		int *nl = ns ? realloc(c->section_lines, (c->n_sections + 1) * sizeof *nl) : NULL;
		if (ns)
			c->sections = ns;
		if (!nl) {
			fail(st, "out of memory");
			return r;
		}
		c->section_lines = nl;
		if (!(c->sections[c->n_sections] = strdup(norm))) {
			fail(st, "out of memory");
			return r;
		}
		c->section_lines[c->n_sections++] = st->line;
		snprintf(st->cur_section, sizeof st->cur_section, "%s", norm);
	}
	return r;
}

static int handler(void *user, const char *section, const char *name, const char *value)
{
	parse_state *st = user;
	if (st->failed)
		return 1;
	if (!section[0])
		return fail(st, "'%s' outside of any section (start with [licvault])", name);
	if (!st->cur_section[0])
		return fail(st, "key '%s' before any valid section", name);
	lv_config *c = st->c;
	char err[256];
	char *v = lv__expand(value, err, sizeof err);
	if (!v)
		return fail(st, "%s: %s", name, err);
	if (c->n == c->cap) {
		size_t ncap = c->cap ? c->cap * 2 : 32;
		lv_conf_entry *ne = realloc(c->e, ncap * sizeof *ne);
		if (!ne) {
			free(v);
			return fail(st, "out of memory");
		}
		c->e = ne;
		c->cap = ncap;
	}
	lv_conf_entry *e = &c->e[c->n++];
	e->section = strdup(st->cur_section);
	e->key = strdup(name);
	e->value = v;
	e->line = st->line;
	if (!e->section || !e->key)
		return fail(st, "out of memory");
	return 1;
}

void lv__config_free(lv_config *c)
{
	if (!c)
		return;
	for (size_t i = 0; i < c->n; i++) {
		free(c->e[i].section);
		free(c->e[i].key);
		free(c->e[i].value);
	}
	for (size_t i = 0; i < c->n_sections; i++)
		free(c->sections[i]);
	free(c->sections);
	free(c->section_lines);
	free(c->e);
	free(c->file);
	free(c);
}

int lv__config_load(lv_config **out, const char *path, char *err)
{
	lv_config *c = calloc(1, sizeof *c);
	if (!c)
		return LV_E_NOMEM;
	c->file = strdup(path);
	if (!c->file) {
		free(c);
		return LV_E_NOMEM;
	}
	FILE *f = fopen(path, "re");
	if (!f) {
		lv__errf(err, "%s: cannot read the config file: %s", path, strerror(errno));
		lv__config_free(c);
		return LV_E_CONFIG;
	}
	parse_state st = {.c = c, .f = f, .err = err};
	int r = ini_parse_stream(reader, &st, handler, &st);
	fclose(f);
	if (st.failed) {
		lv__config_free(c);
		return LV_E_CONFIG;
	}
	if (r != 0) {
		lv__errf(err, "%s:%d: syntax error (expected 'key = value' or [section])", path,
		         r > 0 ? r : st.line);
		lv__config_free(c);
		return LV_E_CONFIG;
	}
	*out = c;
	return 0;
}

const lv_conf_entry *lv__config_entry(const lv_config *c, const char *section, const char *key,
                                      unsigned idx)
{
	if (!c)
		return NULL;
	for (size_t i = 0; i < c->n; i++)
		if (!strcmp(c->e[i].section, section) && !strcmp(c->e[i].key, key) && idx-- == 0)
			return &c->e[i];
	return NULL;
}

const char *lv__config_get(const lv_config *c, const char *section, const char *key, unsigned idx)
{
	const lv_conf_entry *e = lv__config_entry(c, section, key, idx);
	return e ? e->value : NULL;
}

size_t lv__config_count(const lv_config *c) { return c ? c->n : 0; }
const lv_conf_entry *lv__config_at(const lv_config *c, size_t i) { return &c->e[i]; }
const char *lv__config_file(const lv_config *c) { return c ? c->file : NULL; }

int lv__config_has_section(const lv_config *c, const char *section)
{
	return lv__config_section_line(c, section) > 0;
}

int lv__config_section_line(const lv_config *c, const char *section)
{
	if (!c)
		return 0;
	for (size_t i = 0; i < c->n_sections; i++)
		if (!strcmp(c->sections[i], section))
			return c->section_lines[i];
	return 0;
}

int lv__parse_bool(const char *v)
{
	if (!v)
		return -1;
	if (!strcasecmp(v, "yes") || !strcasecmp(v, "true") || !strcmp(v, "1") || !strcasecmp(v, "on"))
		return 1;
	if (!strcasecmp(v, "no") || !strcasecmp(v, "false") || !strcmp(v, "0") || !strcasecmp(v, "off"))
		return 0;
	return -1;
}
