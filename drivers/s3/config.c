/*
 * The s3 driver's configuration: every key read here, once, in
 * s3_config_load, through the host's typed getter.
 */
#include "s3_int.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* Every key through the host's typed getter: defaults and ranges are the declared
 * ones (s3_keys in s3.c); a value that does not parse is CONFIG, described by the
 * host with its file and line. */
static int get_str(s3_inst *c, const char *key, char **out)
{
	lv_config_value v;
	int rc = c->host->config_value(c->h, key, &v);
	*out = NULL;
	if (!rc && v.text && *v.text && !(*out = strdup(v.text)))
		return LV_E_NOMEM;
	return rc;
}

static int get_int(s3_inst *c, const char *key, long *out)
{
	lv_config_value v;
	int rc = c->host->config_value(c->h, key, &v);
	*out = (long)v.number;
	return rc;
}

/* endpoint = http(s)://host[:port][/path]: the scheme is checked, the rest is curl's to parse. */
static int check_endpoint(s3_inst *c)
{
	char *e = c->cfg.endpoint;
	if (!e)
		return 0;
	size_t n = strlen(e);
	while (n && e[n - 1] == '/')
		e[--n] = '\0';
	if (strncasecmp(e, "http://", 7) && strncasecmp(e, "https://", 8))
		return s3_err(c, LV_E_CONFIG, "s3: endpoint = '%s': expected http://HOST[:PORT] or https://HOST[:PORT]", e);
	const char *host = strstr(e, "://") + 3;
	if (!*host || *host == '/' || strchr(host, '@') || strchr(host, '?') || strchr(host, '#'))
		return s3_err(c, LV_E_CONFIG,
		              "s3: endpoint = '%s': expected http(s)://HOST[:PORT] with no user, query or fragment "
		              "(credentials go in access_key_id and secret_access_key_file)",
		              strchr(host, '@') ? "(not shown: it holds a user name)" : e);
	return 0;
}

/* addressing: -1 unset (chosen by the endpoint), else the index in "path|virtual". */
static int get_addressing(s3_inst *c, long *out)
{
	lv_config_value v;
	int rc = c->host->config_value(c->h, "addressing", &v);
	*out = !rc && v.text ? (long)v.number : -1;
	return rc;
}

int s3_config_load(s3_inst *c)
{
	s3_config *cfg = &c->cfg;
	long part_mib, parallel, timeout, retries;
	int rc;
	if ((rc = get_str(c, "endpoint", &cfg->endpoint)) || (rc = get_str(c, "region", &cfg->region)) ||
	    (rc = get_str(c, "access_key_id", &cfg->access_key_id)) ||
	    (rc = get_str(c, "secret_access_key_file", &cfg->secret_key_file)) ||
	    (rc = get_str(c, "session_token_file", &cfg->token_file)) || (rc = get_str(c, "profile", &cfg->profile)) ||
	    (rc = get_str(c, "ca_file", &cfg->ca_file)) || (rc = get_str(c, "storage_class", &cfg->storage_class)))
		return rc;
	long verify, create, addressing;
	if ((rc = check_endpoint(c)) || (rc = get_int(c, "verify_tls", &verify)) ||
	    (rc = get_int(c, "create_bucket", &create)) || (rc = get_int(c, "part_size", &part_mib)) ||
	    (rc = get_int(c, "parallel_parts", &parallel)) || (rc = get_int(c, "timeout", &timeout)) ||
	    (rc = get_int(c, "retries", &retries)) || (rc = get_addressing(c, &addressing)))
		return rc;
	cfg->verify_tls = verify != 0;
	cfg->create_bucket = create != 0;
	cfg->part_size = (size_t)part_mib * S3_MIB;
	cfg->parallel_parts = (int)parallel;
	cfg->timeout = (int)timeout;
	cfg->retries = (int)retries;
	cfg->addressing = (int)addressing;
	if (cfg->storage_class && strspn(cfg->storage_class, "ABCDEFGHIJKLMNOPQRSTUVWXYZ_0123456789") !=
	                              strlen(cfg->storage_class))
		return s3_err(c, LV_E_CONFIG, "s3: storage_class = '%s': expected a class such as STANDARD or STANDARD_IA",
		              cfg->storage_class);
	static const char region_chars[] = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-";
	if (cfg->region && strspn(cfg->region, region_chars) != strlen(cfg->region))
		return s3_err(c, LV_E_CONFIG, "s3: region = '%s': expected a region name such as us-east-1", cfg->region);
	if (!cfg->verify_tls)
		c->host->log(c->h, LV_LOG_WARN,
		             "s3: verify_tls = no: the server's certificate is not checked (anyone on the path can read and "
		             "change the backups); use ca_file instead");
	return 0;
}

void s3_config_free(s3_config *cfg)
{
	free(cfg->endpoint);
	free(cfg->region);
	free(cfg->access_key_id);
	free(cfg->secret_key_file);
	free(cfg->token_file);
	free(cfg->profile);
	free(cfg->ca_file);
	free(cfg->storage_class);
	memset(cfg, 0, sizeof *cfg);
}
