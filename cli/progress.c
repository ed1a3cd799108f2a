/*
 * Progress: on a terminal, one bar (percent, count, bytes, rate, ETA) as
 * the status line of standard error (output.c redraws it in place and takes
 * it off around any other line, so nothing scrolls it away); not on a
 * terminal, with --progress, a line every few seconds.  Called from the
 * run's event callback.
 */
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"

#define LINE_INTERVAL 5.0   /* seconds between --progress lines */

struct progress {
	int mode;                 /* 'b' bar, 'l' lines */
	const char *what;
	double start, last_line;
	uint64_t done, total, bytes;
};

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

void format_bytes(char *buf, size_t cap, uint64_t n)
{
	static const char *const units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
	double v = (double)n;
	int u = 0;
	while (v >= 1024 && u < 4) {
		v /= 1024;
		u++;
	}
	if (u == 0)
		snprintf(buf, cap, "%llu B", (unsigned long long)n);
	else
		snprintf(buf, cap, "%.1f %s", v, units[u]);
}

static void format_eta(char *buf, size_t cap, double secs)
{
	if (secs < 0 || secs > 359999)
		snprintf(buf, cap, "--:--");
	else if (secs >= 3600)
		snprintf(buf, cap, "%d:%02d:%02d", (int)secs / 3600, (int)secs / 60 % 60, (int)secs % 60);
	else
		snprintf(buf, cap, "%d:%02d", (int)secs / 60, (int)secs % 60);
}

/* "42% 420/1000 licenses, 1.2 MiB, 3.4 MiB/s, ETA 0:03" */
static void describe(const progress *p, char *buf, size_t cap)
{
	double el = now() - p->start;
	char b[32], rate[32], eta[32];
	format_bytes(b, sizeof b, p->bytes);
	if (el > 0.05) {
		format_bytes(rate, sizeof rate, (uint64_t)((double)p->bytes / el));
		strcat(rate, "/s");
	} else
		snprintf(rate, sizeof rate, "-- B/s");
	double left = p->done && p->total >= p->done ? el * (double)(p->total - p->done) / (double)p->done : -1;
	format_eta(eta, sizeof eta, left);
	int pct = p->total ? (int)(p->done * 100 / p->total) : 0;
	snprintf(buf, cap, "%3d%% %llu/%llu licenses, %s, %s, ETA %s", pct, (unsigned long long)p->done,
	         (unsigned long long)p->total, b, rate, eta);
}

static int columns(void)
{
	struct winsize ws;
	if (ioctl(STDERR_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col >= 20)
		return ws.ws_col;
	return 80;
}

static void draw(progress *p)
{
	char text[200], line[512];
	describe(p, text, sizeof text);
	int cols = columns() - 1;   /* never the last column: no wrap */
	int tl = (int)strlen(text);
	int bar = cols - tl - 3;
	if (bar > 40)
		bar = 40;
	int n = 0;
	if (bar >= 10) {
		int fill = p->total ? (int)((uint64_t)bar * p->done / p->total) : 0;
		line[n++] = '[';
		for (int i = 0; i < bar; i++)
			line[n++] = i < fill ? '#' : '-';
		line[n++] = ']';
		line[n++] = ' ';
	}
	snprintf(line + n, sizeof line - (size_t)n, "%.*s", cols - n > 0 ? cols - n : 0, text);
	out_status(line);
}

progress *progress_new(int mode, const char *what)
{
	progress *p = calloc(1, sizeof *p);
	if (!p)
		return NULL;
	p->mode = mode;
	p->what = what;
	p->start = now();
	p->last_line = -1e9;
	return p;
}

void progress_update(progress *p, uint64_t done, uint64_t total, uint64_t bytes)
{
	if (!p)
		return;
	p->done = done;
	p->total = total;
	p->bytes = bytes;
	if (p->mode == 'b') {
		draw(p);
	} else if (p->mode == 'l' && now() - p->last_line >= LINE_INTERVAL) {
		char text[200];
		describe(p, text, sizeof text);
		p->last_line = now();
		out_note("%s: progress: %s", p->what, text);
	}
}

void progress_free(progress *p)
{
	if (!p)
		return;
	if (p->mode == 'b')
		out_status(NULL);
	free(p);
}
