/*
 * The bundle driver's names and look-ups (bundle_int.h), which every other
 * file of it uses and which use none of them: the names of set objects,
 * generation files and side objects, an object of a bundle file or of the
 * new generation by name, and temporary files.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bundle_int.h"

/* ---- names ------------------------------------------------------------------ */

int bundle_is_pack(const char *name)
{
	size_t l = strlen(name);
	return l > 5 && !strcmp(name + l - 5, ".pack");
}

int bundle_is_set(const char *name)
{
	return name && lvb_name_ok(name, strlen(name));
}

/* 16 lower-case hex digits at p: 1 with *v, else 0. */
static int hex16(const char *p, uint64_t *v)
{
	uint64_t x = 0;
	for (int i = 0; i < 16; i++) {
		char c = p[i];
		if (c >= '0' && c <= '9')
			x = x * 16 + (uint64_t)(c - '0');
		else if (c >= 'a' && c <= 'f')
			x = x * 16 + (uint64_t)(c - 'a' + 10);
		else
			return 0;
	}
	*v = x;
	return 1;
}

int bundle_set_gen(const char *name, uint64_t *gen, int *format)
{
	if (!bundle_is_set(name))
		return 0;
	*format = name[9] == 'g' ? 2 : 1;
	return hex16(name + 9 + (*format == 2), gen);
}

void bundle_obj_name(uint64_t g, int pack, char *out, size_t cap)
{
	snprintf(out, cap, "licvault-g%016llx.%s", (unsigned long long)g, pack ? "pack" : "manifest");
}

int bundle_gen_file(const bundle *b, uint64_t g, char *out, size_t cap)
{
	int n = snprintf(out, cap, "%.*s.g%016llx%s", (int)b->stem, b->file, (unsigned long long)g, b->file + b->stem);
	return n > 0 && (size_t)n < cap && (size_t)n <= LVB_NAME_MAX ? 0 : -1;
}

int bundle_parse_gen_file(const bundle *b, const char *name, uint64_t *g)
{
	size_t fl = strlen(b->file), nl = strlen(name);
	if (nl != fl + BUNDLE_GEN_TAG || strncmp(name, b->file, b->stem) != 0)
		return 0;
	const char *p = name + b->stem;
	return p[0] == '.' && p[1] == 'g' && hex16(p + 2, g) && !strcmp(p + BUNDLE_GEN_TAG, b->file + b->stem);
}

char *bundle_side_name(const bundle *b, const char *name)
{
	size_t n = strlen(b->file) + strlen(name) + 2;
	char *p = malloc(n);
	if (p)
		snprintf(p, n, "%s.%s", b->file, name);
	return p;
}

const char *bundle_side_object(const bundle *b, const char *name)
{
	size_t fl = strlen(b->file);
	uint64_t g;
	if (strncmp(name, b->file, fl) != 0 || name[fl] != '.' || !name[fl + 1] || bundle_parse_gen_file(b, name, &g) ||
	    bundle_is_set(name + fl + 1))
		return NULL;
	return name + fl + 1;
}

/*
 * Where .EXT begins in a file name: at its last '.', unless that is its
 * first or last byte (then the name has no extension: its length).
 */
size_t bundle_stem_of(const char *file)
{
	const char *dot = strrchr(file, '.');
	size_t n = strlen(file);
	return dot && dot != file && dot[1] ? (size_t)(dot - file) : n;
}

/*
 * Does the file name have the shape of a generation file, X.g<16 hex>.EXT
 * or X.g<16 hex>?  Then *base_len gets the length of X and *ext its .EXT
 * ("" for none).
 */
int bundle_gen_shaped(const char *file, size_t *base_len, const char **ext)
{
	size_t n = strlen(file), s = bundle_stem_of(file);
	uint64_t g;
	size_t ends[2] = {s, n}; /* X.g<hex> before .EXT, or the whole name */
	for (int i = 0; i < 2; i++)
		if (ends[i] > BUNDLE_GEN_TAG && file[ends[i] - BUNDLE_GEN_TAG] == '.' && file[ends[i] - BUNDLE_GEN_TAG + 1] == 'g' &&
		    hex16(file + ends[i] - 16, &g)) {
			*base_len = ends[i] - BUNDLE_GEN_TAG;
			*ext = file + ends[i];
			return 1;
		}
	return 0;
}

/* ---- temporary files ---------------------------------------------------------- */

const char *bundle_tmp_dir(void)
{
	const char *dir = secure_getenv("TMPDIR"); /* never a set-user-ID process's caller's */
	return dir && *dir ? dir : "/tmp";
}

int bundle_tmp_open(void)
{
	const char *dir = bundle_tmp_dir();
	int fd = open(dir, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
	if (fd < 0) {
		char p[4096];
		snprintf(p, sizeof p, "%s/.lvbundle-XXXXXX", dir);
		fd = mkostemp(p, O_CLOEXEC);
		if (fd >= 0)
			unlink(p);
	}
	return fd;
}

int bundle_pwrite_all(int fd, const void *buf, size_t n, uint64_t *off)
{
	const unsigned char *p = buf;
	while (n) {
		ssize_t k = pwrite(fd, p, n, (off_t)*off);
		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0)
			return k < 0 ? errno : ENOSPC;
		p += k;
		n -= (size_t)k;
		*off += (uint64_t)k;
	}
	return 0;
}

/* ---- look-ups ---------------------------------------------------------------- */

bobj *bundle_find_obj(bgen *g, const char *name)
{
	for (unsigned i = 0; i < g->nobj; i++)
		if (!strcmp(g->obj[i].name, name))
			return &g->obj[i];
	return NULL;
}

/* Room for one more object: it, zeroed, or NULL. */

int bundle_new_index(const bundle *b, const char *name)
{
	unsigned begun = b->nw.n + (b->nw.open_w != NULL);
	for (unsigned i = 0; i < begun && i < 2; i++)
		if (!strcmp(b->nw.names[i], name))
			return (int)i;
	return -1;
}
