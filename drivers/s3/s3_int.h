/*
 * The s3 driver's private header: the instance, the configuration, the
 * credentials, and the requests (http.c, engine.c) the other files build on.
 *
 *   config.c     every config key read and checked (s3_config_load)
 *   uri.c        s3://BUCKET/prefix parsed (s3_uri_parse)
 *   creds.c      credentials in their documented order (s3_creds_load)
 *   http.c       one request: URL, canonical query, headers, payload hash,
 *                SigV4 signing (CURLOPT_AWS_SIGV4), libcurl callbacks
 *   engine.c     every request of an instance on one libcurl multi handle:
 *                retries with backoff and jitter, cancellation, errors
 *                described
 *   digest.c     MD5 / SHA-256 / base64 through OpenSSL's libcrypto
 *   xml.c        S3's XML answers read with expat
 *   multipart.c  CreateMultipartUpload, Complete, Abort, ListMultipartUploads
 *   writer.c     write_begin/write/commit/abort: one PUT or a multipart
 *                upload with parts in parallel
 *   reader.c     read_open/read/read_close: ranged GETs in parallel
 *   s3.c         open/close/list/remove/stat/cleanup and the descriptor
 */
#ifndef LV_DRIVERS_S3_INT_H
#define LV_DRIVERS_S3_INT_H

#include <stddef.h>
#include <stdint.h>
#include <curl/curl.h>

#include "licvault/driver.h"

#define S3_MIB ((size_t)1024 * 1024)
#define S3_TICK_MS 100              /* longest wait between two looks at the cancel flag */
#define S3_XML_MAX (8 * S3_MIB)      /* the largest XML answer kept (a listing of 1000 keys is ~300 KB) */
#define S3_CLEANUP_TIMEOUT 5        /* seconds a cleanup request (abort after a failure) may take */
#define S3_NAME_MAX 255
#define S3_LIST_PAGES_MAX 1000      /* pages one listing may take (a million keys at S3's 1000 a page) */

typedef struct s3_buf {
	char *p;
	size_t len, cap;
} s3_buf;

/* Append n bytes (kept NUL-terminated); 0 or -1 when out of memory or past max. */
int s3_buf_add(s3_buf *b, const void *data, size_t n, size_t max);
void s3_buf_free(s3_buf *b);

/* Every key of [driver "s3"] (and a location's overrides), checked. */
typedef struct s3_config {
	char *endpoint;          /* scheme://host[:port][/path], no trailing '/'; NULL: AWS for the region */
	char *region;            /* NULL until resolved (creds.c: config, environment, profile, us-east-1) */
	int addressing;          /* -1 unset (path with an endpoint, else virtual), 0 path, 1 virtual */
	char *access_key_id;
	char *secret_key_file;
	char *token_file;
	char *profile;
	char *ca_file;
	int verify_tls;
	char *storage_class;
	size_t part_size;        /* bytes */
	int parallel_parts;
	int create_bucket;
	int timeout;             /* seconds: connect, and a request without progress */
	int retries;             /* attempts after the first one of each request */
} s3_config;

/* Credentials: the secret and the token never reach a message or a log line. */
typedef struct s3_creds {
	char *access_key;
	char *secret;
	char *token;
	char source[512];        /* where they came from, for messages */
} s3_creds;

typedef struct s3_inst s3_inst;
typedef struct s3_req s3_req;

struct s3_inst {
	const lv_host *host;
	lv_host_ctx *h;
	unsigned flags;          /* LV_OPEN_* */
	s3_config cfg;
	s3_creds creds;

	char *bucket;
	char *prefix;            /* "" or "dir/sub/" (decoded) */
	char where[700];         /* "s3://bucket/prefix at https://endpoint" for messages */
	char sigv4[160];         /* "aws:amz:REGION:s3" */
	char *base_url;          /* scheme://host[:port][/path] requests go to (bucket in the host when virtual) */

	CURLM *multi;
	CURL **pool;             /* idle easy handles (their connections stay in the multi's cache) */
	int npool;
	s3_req *waiting;         /* requests waiting for their retry time */

	struct lv_writer *writers;   /* open writers (their uploads are not a dead run's); the host
	                                releases open writers and readers before close (track) */
};

/* ---- config.c, uri.c, creds.c ----------------------------------------------- */

int s3_config_load(s3_inst *c);
void s3_config_free(s3_config *cfg);
int s3_uri_parse(s3_inst *c, const char *uri);
int s3_creds_load(s3_inst *c);
void s3_creds_free(s3_creds *cr);
/* The first line of a file holding a secret (warns when others may read it); NULL with err set. */
char *s3_read_secret(s3_inst *c, const char *key, const char *path, char *err, size_t errcap);
void s3_free_secret(char *s);

/* ---- digest.c ------------------------------------------------------------------ */

void s3_sha256_hex(const void *data, size_t n, char out[65]);
void s3_md5(const void *data, size_t n, unsigned char out[16]);
void s3_hex(const unsigned char *in, size_t n, char *out);
void s3_base64(const unsigned char *in, size_t n, char *out, size_t cap);
/* A random number in [0, n). */
uint64_t s3_random(uint64_t n);

/* ---- xml.c ---------------------------------------------------------------------- */

/*
 * Walk an XML document: cb gets the path of every element that ends
 * ("ListBucketResult/Contents/Key") and its text (bounded, NUL-terminated).
 * A non-zero cb stops the walk and is returned; malformed XML is -1, a
 * document type declaration (entities) is refused as malformed.
 */
typedef int (*s3_xml_cb)(void *ud, const char *path, const char *text);
int s3_xml_walk(const char *xml, size_t len, s3_xml_cb cb, void *ud);
/* The Code, Message and Region of an S3 <Error> document ("" when absent). */
void s3_xml_error(const char *xml, size_t len, char *code, size_t ccap, char *msg, size_t mcap, char *region,
                  size_t rcap);

/* ---- http.c, engine.c: requests --------------------------------------------------- */

#define S3_REQ_MD5 0x1u           /* send Content-MD5 of the body */
#define S3_REQ_IF_NONE_MATCH 0x2u /* If-None-Match: * (never replace) */
#define S3_REQ_STORAGE_CLASS 0x4u /* x-amz-storage-class from the config */
#define S3_REQ_CLEANUP 0x8u       /* a cleanup: ignores the cancel flag, short timeout, one retry */

struct s3_req {
	/* the request (s3_req_init, then the fields) */
	s3_inst *c;
	const char *method;        /* GET PUT POST DELETE HEAD */
	char *key;                 /* the object key, or NULL for the bucket */
	char *query;               /* canonical query string (s3_query), or NULL */
	const unsigned char *body;
	size_t body_len;
	char sha256[65];           /* x-amz-content-sha256 */
	unsigned char md5[16];     /* the body's MD5 */
	unsigned flags;            /* S3_REQ_* */
	char if_match[100];        /* If-Match, or "" */
	char range[64];            /* "FIRST-LAST" of a ranged GET, or "" */
	unsigned char *sink;       /* a GET's body goes here (at most sink_cap bytes) instead of resp */
	size_t sink_cap;
	const char *what;          /* what the request does, for messages ("upload", "list") */

	/* the answer */
	long status;
	char etag[100];            /* ETag without quotes */
	int etag_not_md5;          /* SSE-KMS or SSE-C: the ETag is no MD5 of the bytes */
	uint64_t length;           /* Content-Length, UINT64_MAX when absent or no number */
	uint64_t range_first, range_last, range_total; /* Content-Range "bytes F-L/T"; UINT64_MAX when absent */
	int64_t mtime;             /* Last-Modified, 0 when absent */
	s3_buf resp;               /* the body (XML), when there is no sink */
	size_t got;                /* bytes received into sink */
	int sink_over;             /* the server sent more than sink_cap bytes (the transfer was stopped) */
	int resp_over;             /* the answer was larger than S3_XML_MAX (the transfer was stopped) */
	char s3code[64];           /* the S3 error code of a failed request */
	char location[300];        /* where a 3xx answer points (never followed) */
	int rc;                    /* 0 or the lv code, once done */
	char err[900];             /* the description of a failure (s3_req_fail reports it) */
	int done;

	/* the engine's */
	CURL *easy;
	struct curl_slist *hdrs;
	char errbuf[CURL_ERROR_SIZE];
	size_t up_pos;
	int attempt;
	int in_multi;
	int64_t retry_at;          /* ms, monotonic */
	uint64_t up_seen, down_seen;
	s3_req *next_waiting;
};

int s3_http_init(s3_inst *c);
void s3_http_free(s3_inst *c);
/* A canonical query string from name, value pairs ending with NULL: sorted, percent-encoded. */
char *s3_query(const char *name, ...);
/* Prepare r (zeroed) for method on key (NULL: the bucket) with a query (s3_query's, taken over). */
int s3_req_init(s3_req *r, s3_inst *c, const char *method, const char *key, char *query, const char *what);
/* Set the body (not copied: it must outlive the request) and its digests. */
void s3_req_body(s3_req *r, const void *body, size_t len);
void s3_req_free(s3_req *r);
/* Start r (in the background of the instance's multi handle).  0 or an lv code. */
int s3_req_start(s3_req *r);
/* Drive every transfer for up to wait_ms (0: do what can be done now). 0 or LV_E_CANCELED. */
int s3_pump(s3_inst *c, int wait_ms);
/* Wait for r to end; returns r->rc. */
int s3_req_wait(s3_req *r);
/* Start and wait. */
int s3_req_run(s3_req *r);
/* Take r off the instance's list of requests waiting for a retry. */
void s3_waiting_remove(s3_req *r);
/* Stop r if it is under way (no description). */
void s3_req_stop(s3_req *r);
/* Report r's failure with set_error and return r->rc. */
int s3_req_fail(s3_req *r);
/*
 * HEAD key: 0 (info filled), LV_E_NOT_FOUND (not described), or another code
 * (described).  etag is "*" when it is no MD5 of the bytes (SSE-KMS, SSE-C).
 */
int s3_head(s3_inst *c, const char *key, uint64_t *size, char *etag, size_t etag_cap, int64_t *mtime);
/* Describe an error and return code (the run's first error wins; a failure handled here is
 * taken back with host->error_save/error_restore). */
#define s3_err(c, code, ...) ((c)->host->set_error((c)->h, (code), __VA_ARGS__))
int64_t s3_now_ms(void);
/* The key of an object name at the location (prefix + name); malloc'd. */
char *s3_key(s3_inst *c, const char *name);
/* "s3://bucket/key" for messages, into buf (no key: the location, "s3://bucket/prefix"). */
const char *s3_show(s3_inst *c, const char *key, char *buf, size_t cap);

/* ---- multipart.c -------------------------------------------------------------------- */

/* One part sent: its number and its MD5 (the ETag the server must give back). */
typedef struct s3_part {
	int number;
	unsigned char md5[16];
} s3_part;

int s3_mpu_create(s3_inst *c, const char *key, char **upload_id);
/* Complete; the server's answer is checked by the caller (HEAD). */
int s3_mpu_complete(s3_inst *c, const char *key, const char *upload_id, const s3_part *parts, size_t n);
/* Abort quietly (a cleanup); 0 or an lv code, never described. */
int s3_mpu_abort(s3_inst *c, const char *key, const char *upload_id);
/* The ETag S3 gives a multipart object: MD5 of the parts' MD5s, "-N". */
void s3_mpu_etag(const s3_part *parts, size_t n, char *out, size_t cap);
typedef int (*s3_upload_cb)(void *ud, const char *key, const char *upload_id, const char *initiated);
/* Every multipart upload under the location's prefix. */
int s3_mpu_list(s3_inst *c, s3_upload_cb cb, void *ud);

/* ---- writer.c, reader.c (the lv_writer / lv_reader operations) ------------------------ */

int s3_write_begin(void *inst, const char *name, uint64_t size_hint, lv_writer **w);
int s3_write(lv_writer *w, const void *buf, size_t len);
int s3_commit(lv_writer *w, unsigned flags);
void s3_abort(lv_writer *w);
int s3_writer_owns(s3_inst *c, const char *upload_id);
int s3_read_open(void *inst, const char *name, lv_reader **r);
int s3_read(lv_reader *r, void *buf, size_t cap, size_t *n);
void s3_read_close(lv_reader *r);
/* Check an object name: 0, or LV_E_INVALID_ARG described. */
int s3_check_name(s3_inst *c, const char *name);

#endif
