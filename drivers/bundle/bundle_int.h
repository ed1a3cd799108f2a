/*
 * The bundle driver's own parts (docs/drivers/bundle.md), shared by its
 * files, each of which calls only those after it in this list:
 *   bundle.c  the URI, open and close, the operations table
 *   read.c    reading: which file, stream or spool serves an object
 *   write.c   writing a generation and publishing it at sync
 *   gens.c    the bundle files at the inner location: listing, the scan,
 *             which file holds an object, stat, remove
 *   reader.c  a reader of a bundle file: decoding, inflating, the
 *             read-ahead thread
 *   names.c   names of objects and files, look-ups, temporary files
 *   container.c  the container format (container.h)
 *
 * A bundle location bundle+INNER/dir/NAME.EXT is a set of bundle files in
 * INNER/dir, each a whole bundle (container.h) of one generation, written
 * once and never replaced:
 *
 *   NAME.g<16 hex>.EXT     generation G (NAME.g<16 hex> for a NAME without .EXT)
 *   NAME.EXT               the URI's own file, read when it exists (a bundle of
 *                          an earlier licvault, or a generation file copied
 *                          away); never written
 *   NAME.EXT.<object>      the core's other objects (lock, registry), passed through
 */
#ifndef LV_BUNDLE_INT_H
#define LV_BUNDLE_INT_H

#include <stddef.h>
#include <stdint.h>

#include "container.h"
#include "licvault/driver.h"

#define BUNDLE_SPOOL_MAX (256ull << 20) /* temporary disk for a scanned manifest, at most */
#define BUNDLE_WHY 700                  /* a reason, with the URI in it */
#define BUNDLE_GEN_TAG 18u              /* ".g" + 16 hex digits */
/* A file name a backup writes to: its generation files (+18) and the
 * registry beside it (".licvault-registry-<16 hex>.reg", +40) stay within
 * the 255 bytes of an object name. */
#define BUNDLE_WRITE_NAME_MAX 215u

/* An object a bundle file holds. */
typedef struct bobj {
	char name[LVB_NAME_MAX + 1];
	uint64_t size;             /* UINT64_MAX while unknown (a pack not read yet) */
	int spooled;               /* its bytes are in the instance's spool, at spool_off */
	uint64_t spool_off;
} bobj;

/* A bundle file at the inner location. */
typedef struct bgen {
	char iname[LVB_NAME_MAX + 1]; /* its name there */
	uint64_t gen;              /* a generation file's number, from its name; 0 for the URI's own file */
	int own;                   /* the URI's own file, NAME.EXT */
	int present;               /* there, as far as this instance knows (listed, or published by it) */
	int64_t mtime;
	int scanned, scan_rc;      /* read from its start up to the pack (the scan) */
	char *scan_why;            /* a failed scan's message, for the calls after it */
	bobj *obj;                 /* what it holds: from the scan, else the two names of its generation */
	unsigned nobj, capobj;
	struct lv_reader *stream;  /* a stream stopped where the pack begins, kept for the pack's reader */
} bgen;

/* The generation this instance writes (one per instance). */
typedef struct bnew {
	uint64_t gen;              /* 0 until its first object begins */
	char iname[LVB_NAME_MAX + 1];
	lvb_enc *enc;              /* header, manifest, end record: into the inner object */
	lvb_enc *penc;             /* the pack: into a local temporary file */
	int pfd;                   /* that file */
	uint64_t plen;             /* its compressed bytes */
	uint64_t psize;            /* the pack's bytes, once committed */
	int pack_done;
	lv_writer *iw;             /* the inner object being written */
	uint64_t iw_bytes;         /* bytes handed to it */
	struct lv_writer *open_w;  /* our object writer: one at a time */
	int broken, published;
	unsigned n;                /* objects begun (committed: n, or n - 1 while open_w) */
	char names[2][LVB_NAME_MAX + 1];
	uint64_t sizes[2];         /* bytes written to each */
} bnew;

typedef struct bundle {
	const lv_host *host;
	lv_host_ctx *h;
	unsigned flags;
	char *uri;                 /* for messages: a password in it masked */
	char *parent;              /* the inner location */
	char *file;                /* the URI's file name there: NAME.EXT */
	size_t stem;               /* NAME's length: where .EXT begins (strlen(file) when none) */
	lv_location *loc;
	const lv_driver_ops *iops;
	void *iinst;
	int level, threaded;

	bgen own;                  /* NAME.EXT */
	bgen **gens;               /* the generation files known, each allocated once (readers point at them) */
	size_t ngens, capgens;
	int listed;                /* the inner location was listed once */

	int spool_fd;              /* the scanned manifest's bytes */
	uint64_t spool_len;
	unsigned spool_users;      /* open readers of the spool */

	bnew nw;
} bundle;

struct lv_writer {
	bundle *b;
	lv_writer *side;           /* a side object: the inner writer */
	int pack;                  /* the pack, into the temporary file */
};

struct ra;

struct lv_reader {
	bundle *b;
	bgen *g;                   /* the file read (NULL for a side object) */
	char name[LVB_NAME_MAX + 1];
	/* from the spool */
	int spooled;
	uint64_t off, end;
	/* a side object, or inflating: the inner reader */
	int side;
	lv_reader *ir;
	lvb_dec *dec;
	const unsigned char *pend;
	size_t pend_len;
	int found;                 /* the object's 'O' record was read */
	int obj_ended;             /* its end record was checked */
	uint64_t obj_size;         /* its size, then */
	int streaming;             /* a version 2 pack: nothing may follow it */
	int stop_at_end;           /* a manifest on its own: it ends at its end record, the stream stays for the pack */
	int done;
	struct ra *ah;             /* the read-ahead thread, when there is one */
};

/* ---- names.c: names, look-ups, temporary files ------------------------------- */

int bundle_is_pack(const char *name);
/* 1 when name is a backup set's object (container.h's lvb_name_ok). */
int bundle_is_set(const char *name);
/* A set object's generation and set format (1 or 2): 1, or 0 when name is none. */
int bundle_set_gen(const char *name, uint64_t *gen, int *format);
/* The object names of generation g (set format 2). */
void bundle_obj_name(uint64_t g, int pack, char *out, size_t cap);
/* Where .EXT begins in a file name (at its last '.', unless that is its first or last byte: then its length). */
size_t bundle_stem_of(const char *file);
/* Has the file name the shape of a generation file, X.g<16 hex>.EXT or X.g<16 hex>?  Then 1, with X's length and .EXT. */
int bundle_gen_shaped(const char *file, size_t *base_len, const char **ext);
/* The name of generation g's file: NAME.g<16 hex>.EXT; 0, or -1 when it does not fit. */
int bundle_gen_file(const bundle *b, uint64_t g, char *out, size_t cap);
/* Is `name` (at the inner location) a generation file of this bundle?  1 with *g, else 0. */
int bundle_parse_gen_file(const bundle *b, const char *name, uint64_t *g);
/* The inner name of a side object: "<file>.<name>", malloc'd. */
char *bundle_side_name(const bundle *b, const char *name);
/* Is `name` a side object's inner name (<file>.<object>, not a generation file)?  The object, or NULL. */
const char *bundle_side_object(const bundle *b, const char *name);
const char *bundle_tmp_dir(void);
/* An unlinked temporary file in $TMPDIR, or -1 with errno. */
int bundle_tmp_open(void);
/* Write n bytes at *off of a file, advancing it: 0, or an errno (ENOSPC for a write of 0). */
int bundle_pwrite_all(int fd, const void *buf, size_t n, uint64_t *off);
/* The object `name` of file g, as far as it is known, or NULL. */
bobj *bundle_find_obj(bgen *g, const char *name);
/* Is name an object of the new generation, begun by this instance?  Its index, or -1. */
int bundle_new_index(const bundle *b, const char *name);

/* ---- gens.c: the bundle files ------------------------------------------------ */

int bundle_list(void *inst, lv_list_cb cb, void *ud);
int bundle_stat(void *inst, const char *name, lv_object_info *info);
int bundle_remove(void *inst, const char *name);
/*
 * The file that holds set object `name`: 0 with *out, LV_E_NOT_FOUND (not
 * described: the caller says it), or an error (described).
 */
int bundle_holder(bundle *b, const char *name, bgen **out);
/* Read g from its start up to the pack, once (see gens.c); 0 or the error (described). */
int bundle_scan(bundle *b, bgen *g);
/* A generation file published by this instance: known from now on, with the objects written. */
int bundle_gen_published(bundle *b);
void bundle_gens_free(bundle *b);

/* ---- read.c ------------------------------------------------------------------- */

int bundle_read_open(void *inst, const char *name, lv_reader **out);
void bundle_read_close(lv_reader *r);

/* ---- reader.c ------------------------------------------------------------------- */

int bundle_read(lv_reader *r, void *buf, size_t cap, size_t *n);
/* Free a reader (handed out, kept or the scan's): its thread, decoder and inner reader. */
void bundle_reader_free(struct lv_reader *r);
/* A reader of file g from its start (not handed out): a decoder on the inner object. */
int bundle_reader_new(bundle *b, bgen *g, const char *name, struct lv_reader **out);
/* Describe a decoder's failure (corrupt, out of memory); an inner driver's error stands as described. */
int bundle_dec_error(bundle *b, int rc, lvb_dec *d);
/* Inflate r's object on a second thread (2 MiB in, 4 MiB out); without one, it stays on this one. */
void bundle_ahead_start(struct lv_reader *r);

/* ---- write.c ------------------------------------------------------------------ */

int bundle_write_begin(void *inst, const char *name, uint64_t size_hint, lv_writer **out);
int bundle_write(lv_writer *w, const void *buf, size_t len);
int bundle_commit(lv_writer *w, unsigned flags);
void bundle_abort(lv_writer *w);
int bundle_sync(void *inst);
void bundle_new_free(bundle *b);

#endif
