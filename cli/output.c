/*
 * Output: every text that reaches a person or a JSON reader goes through
 * here.  Text from licenses, drivers and messages is hostile: for a person
 * it is made safe (controls and invalid bytes as visible escapes), for JSON
 * it is always valid JSON (an invalid byte becomes U+FFFD).  UTF-8 is decoded
 * with the C library's mbrtowc under the C.UTF-8 locale, set per call with
 * uselocale so the rest of the program keeps its locale.
 *
 * The terminal lock (out_lock) orders the lines of standard error (notes,
 * the progress bar, the log file) of every thread.  Lines of standard output
 * have a lock of their own and are written without the terminal lock, since
 * standard output may block for as long as its reader pleases (a pipe nobody
 * reads): a note, and the "canceling..." of an interrupt, never wait for it.
 * The status line (the progress bar) is this file's too: see below.
 */
#include <errno.h>
#include <locale.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <wchar.h>

#include "cli.h"

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_mutex_t stdout_lock = PTHREAD_MUTEX_INITIALIZER;   /* taken before lock, never after */
static int stdout_busy;   /* under lock: a line of standard output is on its way (the status line stays off) */
static int stdout_closed;
static void (*closed_hook)(void);

void out_lock(void) { pthread_mutex_lock(&lock); }
void out_unlock(void) { pthread_mutex_unlock(&lock); }

/* ---- decoding ---- */

static locale_t the_locale;
static pthread_once_t locale_once = PTHREAD_ONCE_INIT;

static void locale_init(void)
{
	the_locale = newlocale(LC_CTYPE_MASK, "C.UTF-8", (locale_t)0);
}

/* C.UTF-8 (glibc always has it); without it every byte above 0x7f is escaped */
static locale_t utf8_locale(void)
{
	pthread_once(&locale_once, locale_init);
	return the_locale;
}

/*
 * The next character of s: its code point in *cp and its length, or 0 with
 * *cp = -1 for a byte that does not start a valid UTF-8 sequence.
 */
static size_t next_char(const unsigned char *s, size_t left, long *cp)
{
	if (*s < 0x80) {
		*cp = *s;
		return 1;
	}
	mbstate_t st;
	memset(&st, 0, sizeof st);
	wchar_t wc;
	size_t n = mbrtowc(&wc, (const char *)s, left, &st);
	if (n == (size_t)-1 || n == (size_t)-2 || n == 0 || (wc >= 0xd800 && wc <= 0xdfff)) {
		*cp = -1;
		return 1;
	}
	*cp = (long)wc;
	return n;
}

/* Controls a terminal or an editor acts on: C0, DEL, C1, bidirectional and line/paragraph separators. */
static int is_control(long cp)
{
	return cp < 0x20 || (cp >= 0x7f && cp <= 0x9f) || cp == 0x61c || cp == 0x200e || cp == 0x200f ||
	       (cp >= 0x2028 && cp <= 0x202e) || (cp >= 0x2066 && cp <= 0x2069);
}

/* Walk s: for each character call emit(ud, bytes, len, cp) with cp -1 for an invalid byte. */
static void walk(const char *s, void (*emit)(void *ud, const unsigned char *p, size_t n, long cp), void *ud)
{
	locale_t loc = utf8_locale();
	locale_t old = loc ? uselocale(loc) : (locale_t)0;
	const unsigned char *p = (const unsigned char *)s;
	size_t left = strlen(s);
	while (left) {
		long cp = -1;
		size_t n = loc || *p < 0x80 ? next_char(p, left, &cp) : 1;
		emit(ud, p, n, cp);
		p += n;
		left -= n;
	}
	if (loc)
		uselocale(old);
}

/* ---- safe text for a person ---- */

typedef struct sbuf {
	char *p;
	size_t len, cap;
	int cut;
} sbuf;

static void sb_put(sbuf *b, const char *s, size_t n)
{
	if (n + 4 > b->cap - b->len) {
		b->cut = 1;
		return;
	}
	memcpy(b->p + b->len, s, n);
	b->len += n;
}

/* One escape sequence (fmt takes an unsigned long). */
static void sb_escape(sbuf *b, const char *fmt, unsigned long v)
{
	char esc[16];
	int n = snprintf(esc, sizeof esc, fmt, v);
	if (n > 0 && (size_t)n < sizeof esc)
		sb_put(b, esc, (size_t)n);
}

static void human_char(void *ud, const unsigned char *p, size_t n, long cp)
{
	sbuf *b = ud;
	if (cp < 0)
		sb_escape(b, "\\x%02lx", *p);
	else if (cp == '\\')
		sb_put(b, "\\\\", 2);
	else if (cp < 0x80 && is_control(cp))
		sb_escape(b, "\\x%02lx", (unsigned long)cp);
	else if (is_control(cp))
		sb_escape(b, "\\u%04lx", (unsigned long)cp);
	else
		sb_put(b, (const char *)p, n);
}

#define RING 8
#define RING_CAP 8192

static char *ring_next(void)
{
	static __thread char ring[RING][RING_CAP];
	static __thread int k;
	k = (k + 1) % RING;
	return ring[k];
}

const char *safe_or(const char *s, const char *absent)
{
	if (!s)
		return absent;
	sbuf b = {ring_next(), 0, RING_CAP, 0};
	walk(s, human_char, &b);
	if (b.cut)
		sb_put(&b, "...", 3);
	b.p[b.len] = '\0';
	return b.p;
}

const char *safe(const char *s) { return safe_or(s, ""); }

const char *quoted(const char *s)
{
	if (!s)
		return "-";
	sbuf b = {ring_next(), 0, RING_CAP, 0};
	sb_put(&b, "\"", 1);
	walk(s, human_char, &b);
	if (b.cut)
		sb_put(&b, "...", 3);
	b.p[b.len++] = '"';
	b.p[b.len] = '\0';
	return b.p;
}

const char *uri_for_display(const char *uri)
{
	char *r = ring_next();
	snprintf(r, RING_CAP, "%s", uri ? uri : "");
	char *scheme_end = strstr(r, "://");
	if (!scheme_end)
		return r;
	char *auth = scheme_end + 3;
	size_t alen = strcspn(auth, "/?#");
	char *at = memrchr(auth, '@', alen);
	char *colon = at ? memchr(auth, ':', (size_t)(at - auth)) : NULL;
	if (colon) {
		char rest[RING_CAP];
		snprintf(rest, sizeof rest, "%s", at);
		snprintf(colon + 1, RING_CAP - (size_t)(colon + 1 - r), "********%s", rest);
	}
	return r;
}

/* ---- JSON ---- */

static void json_char(void *ud, const unsigned char *p, size_t n, long cp)
{
	FILE *f = ud;
	if (cp < 0)
		fputs("\\ufffd", f);
	else if (cp == '"')
		fputs("\\\"", f);
	else if (cp == '\\')
		fputs("\\\\", f);
	else if (cp == '\n')
		fputs("\\n", f);
	else if (cp == '\t')
		fputs("\\t", f);
	else if (cp == '\r')
		fputs("\\r", f);
	else if (is_control(cp))
		fprintf(f, "\\u%04lx", cp);
	else
		fwrite(p, 1, n, f);
}

void json_string(FILE *f, const char *s)
{
	fputc('"', f);
	walk(s ? s : "", json_char, f);
	fputc('"', f);
}

static void jw_key(jw *j, const char *key)
{
	if (!j->f)
		return;
	if (j->n++)
		fputc(',', j->f);
	if (key) {
		json_string(j->f, key);
		fputc(':', j->f);
	}
}

void jw_begin(jw *j, const char *kind_key, const char *kind)
{
	memset(j, 0, sizeof *j);
	/* out of memory: the line is dropped, and said so (jw_end) */
	j->f = open_memstream(&j->buf, &j->len);
	if (!j->f)
		j->f = fopen("/dev/null", "we");
	else
		j->ok = 1;
	if (!j->f)
		return;
	fputc('{', j->f);
	jw_str(j, kind_key, kind);
}

void jw_str(jw *j, const char *key, const char *val)
{
	if (!j->f)
		return;
	jw_key(j, key);
	if (val)
		json_string(j->f, val);
	else
		fputs("null", j->f);
}

void jw_u64(jw *j, const char *key, uint64_t v)
{
	if (!j->f)
		return;
	jw_key(j, key);
	fprintf(j->f, "%llu", (unsigned long long)v);
}

void jw_i64(jw *j, const char *key, int64_t v)
{
	if (!j->f)
		return;
	jw_key(j, key);
	fprintf(j->f, "%lld", (long long)v);
}

void jw_num(jw *j, const char *key, double v)
{
	if (!j->f)
		return;
	jw_key(j, key);
	fprintf(j->f, "%.3f", v);
}

void jw_bool(jw *j, const char *key, int v)
{
	if (!j->f)
		return;
	jw_key(j, key);
	fputs(v ? "true" : "false", j->f);
}

void jw_null(jw *j, const char *key)
{
	if (!j->f)
		return;
	jw_key(j, key);
	fputs("null", j->f);
}

void jw_array_begin(jw *j, const char *key)
{
	if (!j->f)
		return;
	jw_key(j, key);
	fputc('[', j->f);
	j->n = 0;
	j->depth = j->depth * 2 + 1;
}

void jw_array_str(jw *j, const char *val) { jw_str(j, NULL, val); }

void jw_object_begin(jw *j, const char *key)
{
	if (!j->f)
		return;
	jw_key(j, key);
	fputc('{', j->f);
	j->n = 0;
	j->depth = j->depth * 2;
}

void jw_close(jw *j)
{
	if (!j->f)
		return;
	fputc(j->depth & 1 ? ']' : '}', j->f);
	j->depth /= 2;
	j->n = 1;
}

static int flush_each = 1;

void out_flush_each_line(int on) { flush_each = on; }

/* Write a whole line to standard output (flushed at once unless told otherwise); notice a closed pipe.
 * Under stdout_lock, without the terminal lock (see the top). */
static void line_out(const char *s, size_t n)
{
	if (stdout_closed)
		return;
	if (fwrite(s, 1, n, stdout) != n || (flush_each && fflush(stdout) != 0)) {
		if (errno == EPIPE) {
			stdout_closed = 1;
			if (closed_hook)
				closed_hook();
		}
		clearerr(stdout);
	}
}

/* ---- the status line (the progress bar) ---- */

/*
 * One line at the bottom of standard error that other lines push aside: it
 * is taken off the screen around each of them and put back after, kept off
 * while a line of standard output is on its way (stdout_busy) or a question
 * is asked on the terminal (paused).  Everything under the terminal lock.
 */
static char status_text[512];
static int status_on;      /* there is a status line */
static int status_shown;   /* it is on the screen */
static int status_paused;
static int prompt_open;    /* a question began: its prompt's line is open (out_status_pause) */

static void status_hide(void)
{
	if (status_shown) {
		fputs("\r\033[K", stderr);
		fflush(stderr);
		status_shown = 0;
	}
}

static void status_show(void)
{
	if (status_on && !status_shown && !stdout_busy && !status_paused) {
		fprintf(stderr, "\r%s\033[K", status_text);
		fflush(stderr);
		status_shown = 1;
	}
}

void out_status(const char *line)
{
	out_lock();
	if (line) {
		snprintf(status_text, sizeof status_text, "%s", line);
		status_on = 1;
		status_shown = 0;   /* drawn again in place (status_show begins with \r and ends clearing the rest) */
		status_show();
	} else {
		status_hide();
		status_on = 0;
	}
	out_unlock();
}

void out_status_pause(int on)
{
	out_lock();
	status_paused = on;
	prompt_open = on;
	if (on)
		status_hide();
	else
		status_show();
	out_unlock();
}

/* A line to standard output with the status line off the screen meanwhile. */
static void stdout_line(const char *s, size_t n)
{
	pthread_mutex_lock(&stdout_lock);
	out_lock();
	status_hide();
	stdout_busy = 1;
	out_unlock();
	line_out(s, n);
	out_lock();
	stdout_busy = 0;
	status_show();
	out_unlock();
	pthread_mutex_unlock(&stdout_lock);
}

int out_finish(void)
{
	if (stdout_closed)
		return CLI_EXIT_SIGPIPE;
	if (fflush(stdout) == 0)
		return 0;
	if (errno == EPIPE) {
		stdout_closed = 1;
		return CLI_EXIT_SIGPIPE;
	}
	out_note("error: IO: cannot write standard output: %s", strerror(errno));
	return CLI_EXIT_IO;
}

void jw_end(jw *j)
{
	if (j->f) {
		fputs("}\n", j->f);
		if (fclose(j->f) != 0)
			j->ok = 0;
	}
	if (j->ok && j->buf)
		stdout_line(j->buf, j->len);
	else
		out_note("error: NOMEM: out of memory writing a JSON line");
	free(j->buf);
}

int out_stdout_closed(void) { return stdout_closed; }
void out_on_stdout_closed(void (*fn)(void))
{
	pthread_mutex_lock(&stdout_lock);   /* line_out reads it under this lock, on the worker's thread */
	closed_hook = fn;
	pthread_mutex_unlock(&stdout_lock);
}

/* ---- human lines ---- */

void out_human(const char *fmt, ...)
{
	char *s = NULL;
	va_list ap;
	va_start(ap, fmt);
	int n = vasprintf(&s, fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	stdout_line(s, (size_t)n);
	free(s);
}

static void note_locked(const char *line)
{
	status_hide();
	/* a question on the terminal (prompt_open) has left its prompt's line open: a note from
	 * another thread ("canceling..." at a Ctrl-C) begins on a line of its own */
	if (prompt_open && isatty(STDERR_FILENO))
		fputc('\n', stderr);
	prompt_open = 0;
	fputs(line, stderr);
	fflush(stderr);
	status_show();
}

void out_note(const char *fmt, ...)
{
	char msg[2048];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	char line[2100];
	snprintf(line, sizeof line, "licvault: %s\n", msg);
	out_lock();
	note_locked(line);
	out_unlock();
}

static void log_to_file(int level, const char *text);

int out_error(int code, const char *message)
{
	if (!message || !*message)
		message = lv_strerror(code);
	out_note("error: %s: %s", lv_error_name(code), safe(message));
	char line[2112];
	snprintf(line, sizeof line, "%s: %s", lv_error_name(code), message);
	log_to_file(LV_LOG_ERROR, line); /* a cron job's log says why it failed */
	cli_log(LV_LOG_DEBUG, "exit code %d for %s", exit_code_of(code), lv_error_name(code));
	return exit_code_of(code);
}

/* ---- logging ---- */

static int stderr_level = LV_LOG_WARN;
static int file_level = -1;
static FILE *log_file;
static const char *const level_names[] = {"error", "warning", "info", "debug"};

/* One line of the --log-file, when there is one and it takes level. */
static void log_to_file(int level, const char *text)
{
	if (log_file && level <= file_level) {
		char when[40];
		time_t t = time(NULL);
		struct tm tm;
		strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%SZ", gmtime_r(&t, &tm));
		out_lock();
		fprintf(log_file, "%s licvault[%ld]: %s: %s\n", when, (long)getpid(), level_names[level], safe(text));
		fflush(log_file);
		out_unlock();
	}
}

static void log_line(int level, const char *text)
{
	level &= 3;
	if (level <= stderr_level)
		out_note("%s: %s", level_names[level], safe(text));
	log_to_file(level, text);
}

static void lib_log(int level, const char *line, void *ud)
{
	(void)ud;
	log_line(level, line);
}

void cli_log(int level, const char *fmt, ...)
{
	if (level > stderr_level && (!log_file || level > file_level))
		return;
	char msg[2048];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	log_line(level, msg);
}

int log_setup(cli *c)
{
	stderr_level = c->quiet ? LV_LOG_ERROR : c->verbose >= 2 ? LV_LOG_DEBUG : c->verbose ? LV_LOG_INFO : LV_LOG_WARN;
	int max = stderr_level;
	if (c->val[OPT_LOG_FILE]) {
		log_file = fopen(c->val[OPT_LOG_FILE], "ae");
		if (!log_file) {
			out_note("error: cannot open the log file %s: %s", safe(c->val[OPT_LOG_FILE]), strerror(errno));
			return CLI_EXIT_USAGE;
		}
		file_level = c->verbose >= 2 ? LV_LOG_DEBUG : LV_LOG_INFO;
		if (file_level > max)
			max = file_level;
	}
	lv_context_set_log(c->ctx, max, lib_log, NULL);
	return 0;
}

void log_close(void)
{
	if (log_file)
		fclose(log_file);
	log_file = NULL;
}
