/*
 * S3's XML answers (listings, errors, multipart replies), read with expat.
 * The answer is hostile input: a document type declaration (and with it any
 * entity) is refused, paths and texts are bounded.
 */
#include "s3_int.h"

#include <expat.h>
#include <stdio.h>
#include <string.h>

#define XML_PATH_MAX 512
#define XML_TEXT_MAX 2048

typedef struct walk {
	XML_Parser p;
	s3_xml_cb cb;
	void *ud;
	char path[XML_PATH_MAX];
	size_t plen;
	size_t depth_over;       /* elements past the path's room: ignored */
	char text[XML_TEXT_MAX];
	size_t tlen;
	int rc;
} walk;

static void on_start(void *ud, const XML_Char *name, const XML_Char **atts)
{
	(void)atts;
	walk *w = ud;
	size_t n = strlen(name);
	if (w->depth_over || w->plen + n + 2 > sizeof w->path) {
		w->depth_over++;
		return;
	}
	if (w->plen)
		w->path[w->plen++] = '/';
	memcpy(w->path + w->plen, name, n + 1);
	w->plen += n;
	w->tlen = 0;
	w->text[0] = '\0';
}

static void on_end(void *ud, const XML_Char *name)
{
	(void)name;
	walk *w = ud;
	if (w->depth_over) {
		w->depth_over--;
		return;
	}
	if (!w->rc && w->cb) {
		w->text[w->tlen] = '\0';
		w->rc = w->cb(w->ud, w->path, w->text);
		if (w->rc)
			XML_StopParser(w->p, XML_FALSE);
	}
	char *slash = strrchr(w->path, '/');
	w->plen = slash ? (size_t)(slash - w->path) : 0;
	w->path[w->plen] = '\0';
	w->tlen = 0;
	w->text[0] = '\0';
}

static void on_text(void *ud, const XML_Char *s, int len)
{
	walk *w = ud;
	if (w->depth_over || len <= 0)
		return;
	size_t room = sizeof w->text - 1 - w->tlen;
	size_t n = (size_t)len < room ? (size_t)len : room;
	memcpy(w->text + w->tlen, s, n);
	w->tlen += n;
}

static void on_doctype(void *ud, const XML_Char *name, const XML_Char *sysid, const XML_Char *pubid, int internal)
{
	(void)name;
	(void)sysid;
	(void)pubid;
	(void)internal;
	walk *w = ud;
	w->rc = -1;
	XML_StopParser(w->p, XML_FALSE);
}

int s3_xml_walk(const char *xml, size_t len, s3_xml_cb cb, void *ud)
{
	walk w;
	memset(&w, 0, sizeof w);
	w.cb = cb;
	w.ud = ud;
	if (!(w.p = XML_ParserCreate("UTF-8")))
		return -1;
	XML_SetUserData(w.p, &w);
	XML_SetElementHandler(w.p, on_start, on_end);
	XML_SetCharacterDataHandler(w.p, on_text);
	XML_SetStartDoctypeDeclHandler(w.p, on_doctype);
	enum XML_Status st = len > (size_t)INT32_MAX ? XML_STATUS_ERROR : XML_Parse(w.p, xml, (int)len, XML_TRUE);
	int rc = w.rc;
	if (!rc && st != XML_STATUS_OK)
		rc = -1;
	XML_ParserFree(w.p);
	return rc;
}

typedef struct err_ud {
	char *code, *msg, *region;
	size_t ccap, mcap, rcap;
} err_ud;

static int error_one(void *ud, const char *path, const char *text)
{
	err_ud *e = ud;
	if (!strcmp(path, "Error/Code"))
		snprintf(e->code, e->ccap, "%s", text);
	else if (!strcmp(path, "Error/Message"))
		snprintf(e->msg, e->mcap, "%s", text);
	else if (!strcmp(path, "Error/Region"))
		snprintf(e->region, e->rcap, "%s", text);
	return 0;
}

void s3_xml_error(const char *xml, size_t len, char *code, size_t ccap, char *msg, size_t mcap, char *region,
                  size_t rcap)
{
	code[0] = msg[0] = region[0] = '\0';
	if (!xml || !len)
		return;
	err_ud e = {code, msg, region, ccap, mcap, rcap};
	s3_xml_walk(xml, len, error_one, &e);
	/* only printable ASCII of the server's words reaches a message */
	for (char *s = code; *s; s++)
		if (*s < 0x21 || *s > 0x7e)
			*s = '?';
	for (char *s = msg; *s; s++)
		if (*s < 0x20 || *s > 0x7e)
			*s = ' ';
	for (char *s = region; *s; s++)
		if (*s < 0x21 || *s > 0x7e)
			*s = '?';
}
