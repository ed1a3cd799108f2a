/*
 * The s3 driver's configuration: every key read here, once, in
 * s3_config_load (ABI 1.1's typed getter replaces the parsers below).
 */
#include "s3_int.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static const char *get(s3_inst *c, const char *key)
{
	const char *v = c->host->config_get(c->h, key, 0);
	return v && *v ? v : NULL;
}

static int get_str(s3_inst *c, const char *key, char **out)
{
	const char *v = get(c, key);
	*out = NULL;
	if (v && !(*out = strdup(v)))
		return LV_E_NOMEM;
	return 0;
}

static int get_int(s3_inst *c, const char *key, long def, long min, long max, long *out)
{
	const char *v = get(c, key);
	if (!v) {
		*out = def;
		return 0;
	}
	char *end;
	errno = 0;
	long n = strtol(v, &end, 10);
	if (*end || errno || n < min || n > max)
		return s3_err(c, LV_E_CONFIG, "s3: %s = '%s': expected a whole number from %ld to %ld", key, v, min, max);
	*out = n;
	return 0;
}

static int get_bool(s3_inst *c, const char *key, int def, int *out)
{
	const char *v = get(c, key);
	*out = def;
	if (!v)
		return 0;
	static const char *const yes[] = {"yes", "true", "on", "1"}, *const no[] = {"no", "false", "off", "0"};
	for (int i = 0; i < 4; i++) {
		if (!strcasecmp(v, yes[i]))
			return (*out = 1), 0;
		if (!strcasecmp(v, no[i]))
			return (*out = 0), 0;
	}
	return s3_err(c, LV_E_CONFIG, "s3: %s = '%s': expected yes or no", key, v);
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
	if ((rc = check_endpoint(c)) || (rc = get_bool(c, "verify_tls", 1, &cfg->verify_tls)) ||
	    (rc = get_bool(c, "create_bucket", 0, &cfg->create_bucket)) ||
	    (rc = get_int(c, "part_size", 5, 5, 5120, &part_mib)) ||
	    (rc = get_int(c, "parallel_parts", 4, 1, 32, &parallel)) ||
	    (rc = get_int(c, "timeout", 30, 1, 3600, &timeout)) || (rc = get_int(c, "retries", 5, 0, 20, &retries)))
		return rc;
	cfg->part_size = (size_t)part_mib * S3_MIB;
	cfg->parallel_parts = (int)parallel;
	cfg->timeout = (int)timeout;
	cfg->retries = (int)retries;
	const char *a = get(c, "addressing");
	cfg->addressing = -1;
	if (a && !strcmp(a, "path"))
		cfg->addressing = 0;
	else if (a && !strcmp(a, "virtual"))
		cfg->addressing = 1;
	else if (a)
		return s3_err(c, LV_E_CONFIG, "s3: addressing = '%s': expected path or virtual", a);
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
