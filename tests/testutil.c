#include "testutil.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <time.h>
#include <fcntl.h>
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <zlib.h>

static char **tmpdirs;
static size_t n_tmpdirs;

static void cleanup_tmp(void)
{
	if (getenv("LV_TEST_KEEP"))
		return;
	for (size_t i = 0; i < n_tmpdirs; i++) {
		t_rmrf(tmpdirs[i]);
		free(tmpdirs[i]);
	}
	free(tmpdirs);
}

/* A new directory BASE/PREFIX-XXXXXX, removed at exit (unless LV_TEST_KEEP). */
static char *scratch_in(const char *base, const char *prefix)
{
	char tmpl[512];
	snprintf(tmpl, sizeof tmpl, "%s/%s-XXXXXX", base, prefix);
	char *d = mkdtemp(tmpl);
	if (!d)
		return NULL;
	if (!tmpdirs)
		atexit(cleanup_tmp);
	tmpdirs = realloc(tmpdirs, (n_tmpdirs + 1) * sizeof *tmpdirs);
	tmpdirs[n_tmpdirs++] = strdup(d);
	return strdup(d);
}

char *t_tmpdir(void)
{
	const char *base = getenv("TMPDIR");
	return scratch_in(base && *base ? base : "/tmp", "lvtest");
}

char *t_tmpdir_fast(const char *prefix)
{
	char *d = getenv("LV_TEST_KEEP") ? NULL : scratch_in("/dev/shm", prefix);
	return d ? d : t_tmpdir();
}

char *t_suite_dir;

int t_suite_dir_init(void)
{
	t_suite_dir = t_tmpdir();
	return t_suite_dir ? 0 : 1;
}

int t_suite_dir_clean(void)
{
	free(t_suite_dir);
	t_suite_dir = NULL;
	return 0;
}

char *t_path(const char *dir, const char *name)
{
	static __thread char buf[8][700];
	static __thread int k;
	k = (k + 1) % 8;
	snprintf(buf[k], sizeof buf[k], "%s/%s", dir, name);
	return buf[k];
}

int t_copy_file(const char *from, const char *to)
{
	/* a store's WAL and shared memory left by a killed run belong to the file being replaced */
	static const char *const sides[] = {"-wal", "-shm", "-journal"};
	char side[1200];
	for (int i = 0; i < 3; i++) {
		snprintf(side, sizeof side, "%s%s", to, sides[i]);
		unlink(side);
	}
	int in = open(from, O_RDONLY | O_CLOEXEC);
	if (in < 0)
		return -1;
	int out = open(to, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (out < 0) {
		close(in);
		return -1;
	}
	char buf[65536];
	ssize_t n;
	int rc = 0;
	while ((n = read(in, buf, sizeof buf)) > 0)
		if (write(out, buf, (size_t)n) != n)
			rc = -1;
	if (n < 0)
		rc = -1;
	close(in);
	close(out);
	return rc;
}

void t_empty_dir(const char *d)
{
	mkdir(d, 0700);
	DIR *dd = opendir(d);
	if (!dd)
		return;
	struct dirent *de;
	char p[1200];
	while ((de = readdir(dd))) {
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		snprintf(p, sizeof p, "%s/%s", d, de->d_name);
		unlink(p);
	}
	closedir(dd);
}

void t_copy_dir(const char *from, const char *to, int hidden)
{
	t_empty_dir(to);
	DIR *dd = opendir(from);
	if (!dd)
		return;
	struct dirent *de;
	char a[1200], b[1200];
	while ((de = readdir(dd))) {
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, "..") || (!hidden && de->d_name[0] == '.'))
			continue;
		snprintf(a, sizeof a, "%s/%s", from, de->d_name);
		snprintf(b, sizeof b, "%s/%s", to, de->d_name);
		t_copy_file(a, b);
	}
	closedir(dd);
}

void t_rmrf(const char *path)
{
	char *out = NULL;
	t_sh(&out, "rm -rf '%s'", path);
	free(out);
}

int t_sh(char **out, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int st = t_vsh(out, fmt, ap);
	va_end(ap);
	return st;
}

int t_vsh(char **out, const char *fmt, va_list ap)
{
	char *cmd = NULL;
	if (vasprintf(&cmd, fmt, ap) < 0)
		return -1;
	char *full = NULL;
	if (asprintf(&full, "( %s ) 2>&1", cmd) < 0)
		full = NULL;
	free(cmd);
	FILE *p = popen(full, "r");
	free(full);
	if (!p)
		return -1;
	size_t cap = 4096, len = 0;
	char *buf = malloc(cap);
	size_t n;
	while ((n = fread(buf + len, 1, cap - len - 1, p)) > 0) {
		len += n;
		if (cap - len < 1024)
			buf = realloc(buf, cap *= 2);
	}
	buf[len] = '\0';
	int st = pclose(p);
	if (out)
		*out = buf;
	else
		free(buf);
	if (getenv("LV_TEST_SHOW_SH"))
		fprintf(stderr, "[sh] -> %d\n%s\n", WIFEXITED(st) ? WEXITSTATUS(st) : -1, buf);
	return WIFEXITED(st) ? WEXITSTATUS(st) : 255;
}

lv_context *t_context(void)
{
	lv_context *ctx = NULL;
	setenv("LICVAULT_CONFIG", "/nonexistent-licvault-config", 0);
	if (lv_context_new(&ctx))
		return NULL;
	lv_context_add_driver_dir(ctx, LV_TEST_DRIVER_DIR);
	return ctx;
}

int t_driver_dir(const char *dir, const char *name, char *drvdir, size_t cap)
{
	snprintf(drvdir, cap, "%s/drv", dir);
	mkdir(drvdir, 0700);
	char from[800], to[800];
	snprintf(from, sizeof from, "%s/testdrivers/%s.so", LV_TEST_BUILD_DIR, name);
	snprintf(to, sizeof to, "%s/%s.so", drvdir, name);
	return t_copy_file(from, to);
}

lv_context *t_context_with(const char *config)
{
	lv_context *ctx = t_context();
	CU_ASSERT_PTR_NOT_NULL_FATAL(ctx);
	int rc = lv_context_load_config(ctx, config);
	if (rc)
		fprintf(stderr, "config %s: %s\n", config, lv_context_last_error(ctx));
	CU_ASSERT_EQUAL_FATAL(rc, 0);
	rc = lv_context_check_config(ctx); /* the driver declares every key it reads */
	if (rc)
		fprintf(stderr, "config check %s: %s\n", config, lv_context_last_error(ctx));
	CU_ASSERT_EQUAL(rc, 0);
	return ctx;
}

lv_store *t_new_store(lv_context *ctx, const char *dir, const char *tag, int n)
{
	static int k;
	char path[700];
	snprintf(path, sizeof path, "%s/%s-%d.db", dir, tag, k++);
	lv_store *s = NULL;
	CU_ASSERT_EQUAL_FATAL(t_make_store(ctx, path, n, &s), 0);
	return s;
}

unsigned char *t_read_file(const char *path, size_t *len)
{
	*len = 0;
	FILE *f = fopen(path, "rb");
	if (!f)
		return NULL;
	fseek(f, 0, SEEK_END);
	long n = ftell(f);
	fseek(f, 0, SEEK_SET);
	unsigned char *b = n >= 0 ? malloc((size_t)n + 1) : NULL;
	if (b && fread(b, 1, (size_t)n, f) != (size_t)n) {
		free(b);
		b = NULL;
	}
	fclose(f);
	if (b) {
		b[n] = 0;
		*len = (size_t)n;
	}
	return b;
}

int t_write_bytes(const char *path, const void *b, size_t n)
{
	FILE *f = fopen(path, "wb");
	if (!f)
		return -1;
	size_t w = fwrite(b, 1, n, f);
	return fclose(f) == 0 && w == n ? 0 : -1;
}

int t_write_file(const char *path, const char *text, mode_t mode)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
	if (fd < 0)
		return -1;
	size_t n = strlen(text);
	int ok = write(fd, text, n) == (ssize_t)n;
	fchmod(fd, mode);   /* the mode whatever the umask, and on a file that was there */
	return close(fd) == 0 && ok ? 0 : -1;
}

void t_sleep_ms(int ms)
{
	struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
	nanosleep(&ts, NULL);
}

/* 127.0.0.1:port as a socket address (port 0: any). */
static struct sockaddr_in loopback(int port)
{
	struct sockaddr_in a = {0};
	a.sin_family = AF_INET;
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	a.sin_port = htons((uint16_t)port);
	return a;
}

int t_free_port(void)
{
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	struct sockaddr_in a = loopback(0);
	socklen_t l = sizeof a;
	int port = -1;
	if (bind(fd, (struct sockaddr *)&a, sizeof a) == 0 && getsockname(fd, (struct sockaddr *)&a, &l) == 0)
		port = ntohs(a.sin_port);
	close(fd);
	return port;
}

int t_port_open(int port)
{
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return 0;
	struct sockaddr_in a = loopback(port);
	int ok = connect(fd, (struct sockaddr *)&a, sizeof a) == 0;
	close(fd);
	return ok;
}

static char *saved_agent_sock;

void t_agent_hide(void)
{
	const char *a = getenv("SSH_AUTH_SOCK");
	free(saved_agent_sock);
	saved_agent_sock = a ? strdup(a) : NULL;
	unsetenv("SSH_AUTH_SOCK");
}

void t_agent_restore(void)
{
	if (saved_agent_sock) {
		setenv("SSH_AUTH_SOCK", saved_agent_sock, 1);
		free(saved_agent_sock);
		saved_agent_sock = NULL;
	}
}

void t_license(lv_license *l, int i, char *kid, size_t kidcap, unsigned char *payload, size_t plen)
{
	static char titles[8][64];
	memset(l, 0, sizeof *l);
	snprintf(kid, kidcap, "kid-%06d", i);
	snprintf(titles[i % 8], sizeof titles[0], "Title %d", i);
	for (size_t k = 0; k < plen; k++)
		payload[k] = (unsigned char)(i * 31 + k * 7);
	l->kid = kid;
	l->title = titles[i % 8];
	l->content_id = "content";
	l->issuer = "Test Issuer";
	l->issued = 1700000000 + i;
	l->rights = LV_RIGHT_PLAY | (i % 5 == 4 ? 0 : LV_RIGHT_BACKUP);
	l->play_count = (uint32_t)(i % 3 ? 10 : 0);
	l->plays_left = l->play_count;
	l->payload = payload;
	l->payload_len = plen;
}

int t_make_store(lv_context *ctx, const char *path, int n, lv_store **out)
{
	lv_store *s = NULL;
	int rc = lv_store_open(&s, ctx, path, LV_STORE_CREATE);
	if (rc)
		return rc;
	for (int i = 0; i < n; i++) {
		lv_license l;
		char kid[32];
		unsigned char payload[300];
		t_license(&l, i, kid, sizeof kid, payload, 100 + (size_t)(i % 200));
		if ((rc = lv_store_add(s, &l, 0))) {
			lv_store_free(s);
			return rc;
		}
	}
	*out = s;
	return 0;
}

typedef struct {
	t_events *ev;
	pthread_mutex_t m;
} ev_box;

static void on_status(int status, int result, const lv_value *v, void *ud)
{
	t_events *ev = ud;
	if (ev->norder < 64 && status != LV_STATUS_PROGRESS)
		ev->order[ev->norder++] = status;
	switch (status) {
	case LV_STATUS_BEGIN: ev->begin++; break;
	case LV_STATUS_END:
		ev->end++;
		ev->result = result;
		if (v->type == LV_TYPE_STRING && v->u.str)
			snprintf(ev->end_message, sizeof ev->end_message, "%s", v->u.str);
		break;
	case LV_STATUS_RESTRICTED_LICENSE:
		ev->restricted++;
		snprintf(ev->last_restricted, sizeof ev->last_restricted, "%s|%s", v->u.license.kid,
		         v->u.license.title ? v->u.license.title : "");
		break;
	case LV_STATUS_REFUSED_LICENSE: ev->refused++; break;
	case LV_STATUS_CONNECTING: ev->connecting++; break;
	case LV_STATUS_DISCONNECTING: ev->disconnecting++; break;
	case LV_STATUS_PROGRESS: ev->progress++; break;
	case LV_STATUS_INDIVIDUALIZE: ev->individualize++; break;
	}
}

int t_user_make(const char *name)
{
	if (geteuid() == 0 && !getpwnam(name)) {
		char *out = NULL;
		if (t_sh(&out, "useradd -M -r -s /usr/sbin/nologin '%s'", name) != 0)
			fprintf(stderr, "useradd %s failed: %s\n", name, out ? out : "");
		free(out);
	}
	return getpwnam(name) != NULL;
}

void t_user_remove(const char *name)
{
	char *out = NULL;
	t_sh(&out, "userdel '%s'", name);
	free(out);
}

int t_run(lv_restorer *r, int kind, unsigned flags, t_events *ev)
{
	static t_events dummy;
	if (!ev)
		ev = &dummy;
	memset(ev, 0, sizeof *ev);
	int rc = kind == 'b' ? lv_restorer_backup(r, flags, on_status, ev)
	       : kind == 'r' ? lv_restorer_restore(r, flags, on_status, ev)
	                     : lv_restorer_verify(r, on_status, ev);
	if (rc)
		return rc;
	int result = 0;
	lv_restorer_wait(r, &result);
	return result;
}

void t_verify_generations(lv_restorer *r, const char *one)
{
	char want[64];
	snprintf(want, sizeof want, "generation %s", one);
	lv_restorer_set_string(r, LV_PROP_GENERATION, one);
	t_events ev;
	CU_ASSERT_EQUAL(t_run(r, 'v', 0, &ev), 0);
	CU_ASSERT_PTR_NOT_NULL(strstr(ev.end_message, want));
	lv_restorer_set_string(r, LV_PROP_GENERATION, "all");
	CU_ASSERT_EQUAL(t_run(r, 'v', 0, &ev), 0);
	CU_ASSERT_PTR_NOT_NULL(strstr(ev.end_message, "all 2 generations"));
	lv_restorer_set_string(r, LV_PROP_GENERATION, "7");
	CU_ASSERT_EQUAL(t_run(r, 'v', 0, &ev), LV_E_NOT_FOUND);
	CU_ASSERT_PTR_NOT_NULL(strstr(ev.end_message, "holds no generation 7 (it holds 1 and 2)"));
}

int t_run_uri(lv_context *ctx, lv_store *s, const char *uri, int kind, unsigned flags, char *msg, size_t cap)
{
	lv_restorer *r = NULL;
	if (lv_restorer_new(&r, ctx, s))
		return LV_E_NOMEM;
	lv_restorer_set_string(r, kind == 'b' ? LV_PROP_BACKUP_PATH : LV_PROP_RESTORE_PATH, uri);
	int rc = t_run(r, kind, flags, NULL);
	const char *last = lv_restorer_last_error(r) ? lv_restorer_last_error(r) : "";
	if (msg)
		snprintf(msg, cap, "%s", last);
	if (rc && getenv("LV_TEST_VERBOSE"))
		fprintf(stderr, "[%c %s] %s: %s\n", kind, uri, lv_error_name(rc), last);
	lv_restorer_free(r);
	return rc;
}

long t_restore_count(lv_context *ctx, const char *dir, const char *uri, unsigned long *digest)
{
	lv_store *s = t_new_store(ctx, dir, "restore", 0);
	char msg[2048];
	int rc = t_run_uri(ctx, s, uri, 'r', LV_RESTORE_INDIVIDUALIZE, msg, sizeof msg);
	if (rc)
		fprintf(stderr, "restore %s: %s: %s\n", uri, lv_error_name(rc), msg);
	long n = rc ? -1 : (long)t_count(s);
	if (digest)
		*digest = t_store_digest(s);
	lv_store_free(s);
	return n;
}

static int run_simple(lv_context *ctx, lv_store *s, const char *uri, int kind, unsigned flags, t_events *ev)
{
	lv_restorer *r = NULL;
	if (lv_restorer_new(&r, ctx, s))
		return LV_E_NOMEM;
	lv_restorer_set_string(r, kind == 'b' ? LV_PROP_BACKUP_PATH : LV_PROP_RESTORE_PATH, uri);
	int rc = t_run(r, kind, flags, ev);
	if (rc && getenv("LV_TEST_VERBOSE"))
		fprintf(stderr, "[run %c %s] %s: %s\n", kind, uri, lv_error_name(rc), lv_restorer_last_error(r));
	lv_restorer_free(r);
	return rc;
}

int t_backup(lv_context *ctx, lv_store *s, const char *uri, unsigned flags, t_events *ev)
{
	return run_simple(ctx, s, uri, 'b', flags, ev);
}

int t_restore(lv_context *ctx, lv_store *s, const char *uri, unsigned flags, t_events *ev)
{
	return run_simple(ctx, s, uri, 'r', flags, ev);
}

int t_verify(lv_context *ctx, lv_store *s, const char *uri, t_events *ev)
{
	return run_simple(ctx, s, uri, 'v', 0, ev);
}

int t_make_target(lv_context *ctx, const char *path, const char *const *kids, int n)
{
	lv_store *s = NULL;
	int rc = lv_store_open(&s, ctx, path, LV_STORE_CREATE);
	if (rc)
		return rc;
	int changed;
	lv_store_individualize(s, &changed);
	for (int i = 0; i < n && !rc; i++) {
		lv_license l;
		char kid[32];
		unsigned char payload[40];
		t_license(&l, 900 + i, kid, sizeof kid, payload, sizeof payload);
		l.kid = kids[i];
		l.title = "the target's own";
		rc = lv_store_add(s, &l, LV_PUT_REPLACE);
	}
	lv_store_free(s);
	return rc;
}

unsigned long t_restore_digest(lv_context *ctx, const char *pristine, const char *scratch, const char *uri,
                               int *rc_out)
{
	t_copy_file(pristine, scratch);
	lv_store *s = NULL;
	if (lv_store_open(&s, ctx, scratch, 0))
		return 0;
	int rc = t_restore(ctx, s, uri, 0, NULL);
	unsigned long d = rc ? 0 : t_store_digest(s);
	lv_store_free(s);
	if (rc_out)
		*rc_out = rc;
	return d;
}

int t_collect_gen(const lv_generation_info *g, void *ud)
{
	t_gens *l = ud;
	if (l->n < 64) {
		l->gen[l->n] = g->generation;
		l->format[l->n] = g->format;
		l->whole[l->n] = g->whole;
		l->licenses[l->n] = g->licenses;
	}
	if (g->problem && !l->problem[0])
		snprintf(l->problem, sizeof l->problem, "%s", g->problem);
	l->n++;
	return 0;
}

uint64_t t_count(lv_store *s)
{
	uint64_t n = 0;
	if (lv_store_count(s, &n))
		return UINT64_MAX;
	return n;
}

long t_file_size(const char *path)
{
	struct stat st;
	return stat(path, &st) == 0 ? (long)st.st_size : -1;
}

void t_sweep_summary(const char *what, int failures)
{
	if (failures)
		fprintf(stderr, "\n  %s: %d invariant(s) broken, listed above\n", what, failures);
	CU_ASSERT_EQUAL(failures, 0);
}

char *t_marker(const char *path)
{
	char *out = NULL;
	t_sh(&out, "cat '%s' 2>/dev/null; true", path);
	return out;
}

static long sweep_stride(void)
{
	const char *v = getenv("LV_TEST_SWEEP_STRIDE");
	if (!v || !*v)
		return 1;
	char *end = NULL;
	long n = strtol(v, &end, 10);
	return *end || n < 1 || n > 1000 ? 1 : n;
}

int t_sweep_step(long step, long first, long last, unsigned salt)
{
	long stride = sweep_stride();
	return stride == 1 || step == first || step == last || (step - first + (long)salt) % stride == 0;
}

int t_flip_byte(const char *path, long offset)
{
	FILE *f = fopen(path, "r+b");
	if (!f)
		return -1;
	fseek(f, offset, SEEK_SET);
	int c = fgetc(f);
	fseek(f, offset, SEEK_SET);
	fputc(c ^ 0x5a, f);
	fclose(f);
	return 0;
}

int t_truncate(const char *path, long size)
{
	return truncate(path, size);
}

char *t_find(const char *dir, const char *suffix)
{
	DIR *d = opendir(dir);
	if (!d)
		return NULL;
	struct dirent *de;
	char *found = NULL;
	size_t sl = strlen(suffix);
	while ((de = readdir(d))) {
		size_t l = strlen(de->d_name);
		if (de->d_name[0] != '.' && l >= sl && !strcmp(de->d_name + l - sl, suffix)) {
			if (asprintf(&found, "%s/%s", dir, de->d_name) < 0)
				found = NULL;
			break;
		}
	}
	closedir(d);
	return found;
}

static int digest_cb(const lv_license *l, void *ud)
{
	unsigned long *c = ud;
	*c = crc32(*c, (const Bytef *)l->kid, (uInt)strlen(l->kid));
	if (l->title)
		*c = crc32(*c, (const Bytef *)l->title, (uInt)strlen(l->title));
	*c = crc32(*c, l->payload ? l->payload : (const Bytef *)"", (uInt)l->payload_len);
	uint32_t n[3] = {l->rights, l->play_count, l->plays_left};
	*c = crc32(*c, (const Bytef *)n, sizeof n);
	return 0;
}

unsigned long t_store_digest(lv_store *s)
{
	unsigned long c = crc32(0L, Z_NULL, 0);
	lv_store_foreach(s, digest_cb, &c);
	return c;
}

int t_count_entries(const char *dir, const char *part, int dot_only)
{
	DIR *d = opendir(dir);
	if (!d)
		return -1;
	int n = 0;
	struct dirent *de;
	while ((de = readdir(d))) {
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		if (dot_only && de->d_name[0] != '.')
			continue;
		if (!part || strstr(de->d_name, part))
			n++;
	}
	closedir(d);
	return n;
}

int t_file_grown(const char *dir, const char *part, long size)
{
	DIR *d = opendir(dir);
	if (!d)
		return 0;
	int hit = 0;
	struct dirent *de;
	while (!hit && (de = readdir(d)))
		if (strstr(de->d_name, part))
			hit = t_file_size(t_path(dir, de->d_name)) >= size;
	closedir(d);
	return hit;
}

unsigned long t_path_digest(lv_context *ctx, const char *path)
{
	lv_store *s = NULL;
	if (lv_store_open(&s, ctx, path, 0))
		return 0;
	unsigned long d = t_store_digest(s);
	lv_store_free(s);
	return d;
}

void t_ignore_status(int status, int result, const lv_value *value, void *ud)
{
	(void)status;
	(void)result;
	(void)value;
	(void)ud;
}
