/*
 * Trusting files: owner and mode as OpenSSH checks them, and a driver's ELF
 * header before dlopen (see trust.h).
 */
#include "trust.h"

#include <dlfcn.h>
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <link.h>
#include <pwd.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* A user's name, or "uid N". */
static void user_name(uid_t uid, char *out, size_t cap)
{
	struct passwd pw, *pp = NULL;
	char buf[4096];
	if (getpwuid_r(uid, &pw, buf, sizeof buf, &pp) == 0 && pp)
		snprintf(out, cap, "%s", pw.pw_name);
	else
		snprintf(out, cap, "uid %u", (unsigned)uid);
}

static void group_name(gid_t gid, char *out, size_t cap)
{
	struct group gr, *gp = NULL;
	char buf[4096];
	if (getgrgid_r(gid, &gr, buf, sizeof buf, &gp) == 0 && gp)
		snprintf(out, cap, "%s", gr.gr_name);
	else
		snprintf(out, cap, "gid %u", (unsigned)gid);
}

/* Is gid the private group of user uid: its primary group, of the same name, with no other member? */
static int private_group(uid_t uid, gid_t gid)
{
	struct passwd pw, *pp = NULL;
	struct group gr, *gp = NULL;
	char b1[4096], b2[4096];
	if (getpwuid_r(uid, &pw, b1, sizeof b1, &pp) != 0 || !pp || getgrgid_r(gid, &gr, b2, sizeof b2, &gp) != 0 || !gp)
		return 0;
	if (pw.pw_gid != gid || strcmp(gr.gr_name, pw.pw_name) != 0)
		return 0;
	for (char **m = gr.gr_mem; m && *m; m++)
		if (strcmp(*m, pw.pw_name) != 0)
			return 0;
	return 1;
}

int lv__trust_owner(const char *path, const struct stat *st, char *why, size_t cap)
{
	uid_t me = geteuid();
	if (st->st_uid == 0 || st->st_uid == me)
		return 0;
	char owner[64], self[64];
	user_name(st->st_uid, owner, sizeof owner);
	user_name(me, self, sizeof self);
	snprintf(why, cap, "%s: bad owner: it belongs to %s (uid %u), not to root or to %s, who runs this program; refused",
	         path, owner, (unsigned)st->st_uid, self);
	return LV_E_CONFIG;
}

int lv__trust_stat(const char *path, const struct stat *st, int ancestor, char *why, size_t cap)
{
	int rc = lv__trust_owner(path, st, why, cap);
	if (rc)
		return rc;
	mode_t m = st->st_mode;
	int sticky = ancestor && S_ISDIR(m) && (m & S_ISVTX); /* /tmp: others cannot rename what is ours */
	if ((m & S_IWOTH) && !sticky) {
		snprintf(why, cap, "%s: bad permissions: mode %04o lets any user change it; refused (chmod o-w '%s')", path,
		         (unsigned)(m & 07777), path);
		return LV_E_CONFIG;
	}
	if ((m & S_IWGRP) && !sticky && !private_group(st->st_uid, st->st_gid)) {
		char grp[64];
		group_name(st->st_gid, grp, sizeof grp);
		snprintf(why, cap, "%s: bad permissions: mode %04o lets group %s change it; refused (chmod g-w '%s')", path,
		         (unsigned)(m & 07777), grp, path);
		return LV_E_CONFIG;
	}
	return 0;
}

int lv__trust_dirs(const char *dir, int holds_file, char *why, size_t cap)
{
	if (dir[0] != '/') {
		snprintf(why, cap, "'%s' is not an absolute path (the current directory is never searched)", dir);
		return LV_E_CONFIG;
	}
	char real[PATH_MAX];
	if (!realpath(dir, real)) {
		int e = errno;
		snprintf(why, cap, "%s: %s", dir, strerror(e));
		return e == ENOENT || e == ENOTDIR ? LV_E_NOT_FOUND : LV_E_IO;
	}
	for (int ancestor = holds_file;; ancestor = 1) {
		struct stat st;
		if (lstat(real, &st) != 0) {
			snprintf(why, cap, "%s: %s", real, strerror(errno));
			return LV_E_IO;
		}
		int rc = lv__trust_stat(real, &st, ancestor, why, cap);
		if (rc)
			return rc;
		char *slash = strrchr(real, '/');
		if (!slash || !strcmp(real, "/"))
			return 0;
		slash[slash == real ? 1 : 0] = '\0';
	}
}

static const char *file_type(mode_t m)
{
	return S_ISDIR(m) ? "a directory" : S_ISFIFO(m) ? "a FIFO" : S_ISSOCK(m) ? "a socket"
	     : S_ISCHR(m) ? "a character device" : S_ISBLK(m) ? "a block device" : "not a regular file";
}

/* The directory part of path, resolved ("." for a bare name); NULL when it cannot be resolved. */
static char *real_dir_of(const char *path, char *out)
{
	char d[PATH_MAX];
	const char *slash = strrchr(path, '/');
	if (!slash)
		snprintf(d, sizeof d, ".");
	else
		snprintf(d, sizeof d, "%.*s", slash == path ? 1 : (int)(slash - path), path);
	return realpath(d, out);
}

int lv__trust_config_file(const char *path, char *why, size_t cap)
{
	if (!strcmp(path, "/dev/null"))
		return 0; /* an empty config, as `ssh -F /dev/null` */
	int fd = open(path, O_RDONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
	if (fd < 0) {
		int e = errno;
		snprintf(why, cap, "%s: %s", path, strerror(e));
		return e == ENOENT || e == ENOTDIR ? LV_E_NOT_FOUND : LV_E_CONFIG;
	}
	struct stat st;
	int rc = fstat(fd, &st) != 0 ? LV_E_IO : 0;
	close(fd);
	if (rc)
		snprintf(why, cap, "%s: %s", path, strerror(errno));
	else if (!S_ISREG(st.st_mode)) {
		snprintf(why, cap, "%s: %s, not a regular file", path, file_type(st.st_mode));
		rc = LV_E_CONFIG;
	} else
		rc = lv__trust_stat(path, &st, 0, why, cap);
	char named[PATH_MAX], lies[PATH_MAX], real[PATH_MAX];
	if (!rc && real_dir_of(path, named))
		rc = lv__trust_dirs(named, 1, why, cap);
	if (!rc && realpath(path, real) && real_dir_of(real, lies) && strcmp(lies, named) != 0)
		rc = lv__trust_dirs(lies, 1, why, cap);
	return rc;
}

/* ---- drivers ------------------------------------------------------------ */

/* This library's own ELF header (mapped at its load address), or NULL. */
static const ElfW(Ehdr) *own_header(void)
{
	Dl_info info;
	if (!dladdr((void *)&lv__trust_driver_file, &info) || !info.dli_fbase)
		return NULL;
	const ElfW(Ehdr) *h = info.dli_fbase;
	return memcmp(h->e_ident, ELFMAG, SELFMAG) == 0 ? h : NULL;
}

static int elf_refuse(const char *path, char *why, size_t cap, const char *what)
{
	snprintf(why, cap, "%s: not a loadable shared object: %s; never loaded", path, what);
	return LV_E_DRIVER_ABI;
}

/* The most program headers a driver file may have (a shared object has about ten). */
#define ELF_MAX_PHNUM 256

/* Where the span of len bytes at off ends, UINT64_MAX when that overflows. */
static uint64_t span_end(uint64_t off, uint64_t len)
{
	return len > UINT64_MAX - off ? UINT64_MAX : off + len;
}

/* The program header table: entries of this process's Phdr, not absurdly many, all inside the file. */
static int elf_phdr_table(const ElfW(Ehdr) *h, uint64_t size, const char *path, char *why, size_t cap)
{
	uint64_t end = span_end(h->e_phoff, (uint64_t)h->e_phnum * sizeof(ElfW(Phdr)));
	char m[160];
	if (h->e_phentsize != sizeof(ElfW(Phdr)))
		snprintf(m, sizeof m, "a malformed ELF header: program header entries of %u bytes, not %zu",
		         (unsigned)h->e_phentsize, sizeof(ElfW(Phdr)));
	else if (h->e_phnum > ELF_MAX_PHNUM)
		snprintf(m, sizeof m, "a malformed ELF header: %u program headers, more than the %d a driver may have",
		         (unsigned)h->e_phnum, ELF_MAX_PHNUM);
	else if (end > size)
		snprintf(m, sizeof m, "a truncated ELF file: its program headers end at byte %llu, the file has %llu bytes",
		         (unsigned long long)end, (unsigned long long)size);
	else
		return 0;
	return elf_refuse(path, why, cap, m);
}

/* Every loadable segment's bytes are in the file: dlopen maps them, and a page past the end raises SIGBUS. */
static int elf_segments(int fd, const ElfW(Ehdr) *h, uint64_t size, const char *path, char *why, size_t cap)
{
	for (unsigned i = 0; i < h->e_phnum; i++) {
		ElfW(Phdr) ph;
		ssize_t n = pread(fd, &ph, sizeof ph, (off_t)(h->e_phoff + (uint64_t)i * sizeof ph));
		if (n != (ssize_t)sizeof ph) {
			snprintf(why, cap, "%s: cannot read program header %u: %s", path, i,
			         n < 0 ? strerror(errno) : "the file is shorter than when it was opened");
			return LV_E_IO;
		}
		uint64_t end = span_end(ph.p_offset, ph.p_filesz);
		if (ph.p_type == PT_LOAD && end > size) {
			char m[160];
			snprintf(m, sizeof m, "a truncated ELF file: a loadable segment ends at byte %llu, the file has %llu bytes",
			         (unsigned long long)end, (unsigned long long)size);
			return elf_refuse(path, why, cap, m);
		}
	}
	return 0;
}

/*
 * An ELF shared object this process could load: class, byte order, type,
 * machine; its program headers and loadable segments inside its size bytes.
 */
static int elf_check(int fd, uint64_t size, const char *path, char *why, size_t cap)
{
	ElfW(Ehdr) h;
	memset(&h, 0, sizeof h);
	ssize_t n = pread(fd, &h, sizeof h, 0);
	if (n < SELFMAG || memcmp(h.e_ident, ELFMAG, SELFMAG) != 0)
		return elf_refuse(path, why, cap, "not an ELF file (no ELF magic number)");
	unsigned char cls = sizeof(void *) == 8 ? ELFCLASS64 : ELFCLASS32;
	if (n < EI_NIDENT || h.e_ident[EI_CLASS] != cls)
		return elf_refuse(path, why, cap, cls == ELFCLASS64 ? "not a 64-bit ELF file, as this process is"
		                                                    : "not a 32-bit ELF file, as this process is");
	unsigned char data = __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__ ? ELFDATA2LSB : ELFDATA2MSB;
	if (h.e_ident[EI_DATA] != data)
		return elf_refuse(path, why, cap, "an ELF file of the other byte order");
	if (n < (ssize_t)sizeof h)
		return elf_refuse(path, why, cap, "a truncated ELF header");
	if (h.e_type != ET_DYN)
		return elf_refuse(path, why, cap, "an ELF file that is not a shared object (type ET_DYN)");
	const ElfW(Ehdr) *self = own_header();
	if (self && h.e_machine != self->e_machine) {
		char m[96];
		snprintf(m, sizeof m, "built for ELF machine %u, this process runs on machine %u", (unsigned)h.e_machine,
		         (unsigned)self->e_machine);
		return elf_refuse(path, why, cap, m);
	}
	int rc = elf_phdr_table(&h, size, path, why, cap);
	return rc ? rc : elf_segments(fd, &h, size, path, why, cap);
}

int lv__trust_driver_file(const char *path, char *why, size_t cap)
{
	int fd = open(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
	if (fd < 0) {
		int e = errno;
		if (e == ELOOP)
			snprintf(why, cap, "%s: a symbolic link; a driver is loaded from the file itself, never through a link",
			         path);
		else
			snprintf(why, cap, "%s: cannot open: %s", path, strerror(e));
		return e == ELOOP ? LV_E_CONFIG : LV_E_IO;
	}
	struct stat st;
	int rc = 0;
	if (fstat(fd, &st) != 0) {
		snprintf(why, cap, "%s: %s", path, strerror(errno));
		rc = LV_E_IO;
	} else if (!S_ISREG(st.st_mode)) {
		snprintf(why, cap, "%s: %s, not a regular file", path, file_type(st.st_mode));
		rc = LV_E_CONFIG;
	} else if (!(rc = lv__trust_stat(path, &st, 0, why, cap)))
		rc = elf_check(fd, (uint64_t)st.st_size, path, why, cap);
	close(fd);
	return rc;
}
