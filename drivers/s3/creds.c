/*
 * Credentials, in this order (docs/drivers/s3.md), the first that gives a
 * key wins:
 *   1. access_key_id + secret_access_key_file (+ session_token_file) of the
 *      driver's or the location's section;
 *   2. profile = NAME: that profile of the AWS files, and nothing else;
 *   3. AWS_ACCESS_KEY_ID + AWS_SECRET_ACCESS_KEY (+ AWS_SESSION_TOKEN);
 *   4. the profile AWS_PROFILE names, else "default", of
 *      $AWS_SHARED_CREDENTIALS_FILE (~/.aws/credentials), then
 *      $AWS_CONFIG_FILE (~/.aws/config), as the AWS CLI reads them.
 * credential_process, SSO and roles are not supported: a profile that
 * needs them is refused, saying so.  The region, when `region` is not set:
 * AWS_REGION, AWS_DEFAULT_REGION, the profile's region, us-east-1.
 * The AWS files are INI files, read with inih.
 */
#include "s3_int.h"

#include <errno.h>
#include <fcntl.h>
#include <ini.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

typedef struct profile {
	const char *name;
	int in_config_file;      /* sections are "profile NAME" there (but "default") */
	char *key_id, *secret, *token, *region;
	int found;
	int read;
	char unsupported[64];
	char files[2100];        /* "CREDENTIALS-FILE and CONFIG-FILE", for messages */
} profile;

char *s3_read_secret(s3_inst *c, const char *key, const char *path, char *err, size_t errcap)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	struct stat st;
	if (fd < 0 || fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
		snprintf(err, errcap, "cannot read %s: %s", path, fd < 0 ? strerror(errno) : "not a regular file");
		if (fd >= 0)
			close(fd);
		return NULL;
	}
	if (st.st_mode & 077)
		c->host->log(c->h, LV_LOG_WARN, "s3: %s %s can be read by other users (mode %03o); chmod 600 it", key, path,
		             (unsigned)(st.st_mode & 0777));
	char *buf = calloc(1, 4097);
	size_t len = 0;
	ssize_t n = 0;
	while (buf && len < 4096 && ((n = read(fd, buf + len, 4096 - len)) > 0 || (n < 0 && errno == EINTR)))
		len += n > 0 ? (size_t)n : 0;
	close(fd);
	if (!buf) {
		snprintf(err, errcap, "out of memory");
		return NULL;
	}
	buf[strcspn(buf, "\r\n")] = '\0';
	size_t l = strlen(buf);
	while (l && (buf[l - 1] == ' ' || buf[l - 1] == '\t'))
		buf[--l] = '\0';
	if (!l) {
		snprintf(err, errcap, "%s is empty (its first line must hold the value)", path);
		free(buf);
		return NULL;
	}
	return buf;
}

void s3_free_secret(char *s)
{
	if (s) {
		explicit_bzero(s, strlen(s));
		free(s);
	}
}

void s3_creds_free(s3_creds *cr)
{
	free(cr->access_key);
	s3_free_secret(cr->secret);
	s3_free_secret(cr->token);
	memset(cr, 0, sizeof *cr);
}

static void home_path(const char *env, const char *rel, char *out, size_t cap)
{
	const char *v = secure_getenv(env);
	if (v && *v) {
		snprintf(out, cap, "%s", v);
		return;
	}
	const char *home = secure_getenv("HOME");
	struct passwd pw, *res = NULL;
	char buf[4096];
	if ((!home || !*home) && getpwuid_r(geteuid(), &pw, buf, sizeof buf, &res) == 0 && res)
		home = res->pw_dir;
	snprintf(out, cap, "%s/%s", home ? home : "", rel);
}

static int profile_line(void *ud, const char *section, const char *name, const char *value)
{
	profile *p = ud;
	char want[300];
	if (p->in_config_file && strcmp(p->name, "default"))
		snprintf(want, sizeof want, "profile %s", p->name);
	else
		snprintf(want, sizeof want, "%s", p->name);
	int is_default_alias = p->in_config_file && !strcmp(p->name, "default") && !strcmp(section, "profile default");
	if (strcmp(section, want) && !is_default_alias)
		return 1;
	p->found = 1;
	char **slot = !strcmp(name, "aws_access_key_id")       ? &p->key_id
	              : !strcmp(name, "aws_secret_access_key") ? &p->secret
	              : !strcmp(name, "aws_session_token")     ? &p->token
	              : !strcmp(name, "region")                ? &p->region
	                                                       : NULL;
	if (slot && !*slot && *value)
		*slot = strdup(value);
	static const char *const unsupported[] = {"credential_process", "sso_start_url", "sso_session", "role_arn",
	                                          "web_identity_token_file", "credential_source"};
	for (size_t i = 0; i < sizeof unsupported / sizeof unsupported[0]; i++)
		if (!strcmp(name, unsupported[i]) && !p->unsupported[0])
			snprintf(p->unsupported, sizeof p->unsupported, "%s", name);
	return 1;
}

/* Read profile p->name from the credentials file, then the config file (the first value of a key wins). */
static void profile_read(profile *p)
{
	char cred[1024], conf[1024];
	if (p->read)
		return;
	p->read = 1;
	home_path("AWS_SHARED_CREDENTIALS_FILE", ".aws/credentials", cred, sizeof cred);
	home_path("AWS_CONFIG_FILE", ".aws/config", conf, sizeof conf);
	p->in_config_file = 0;
	ini_parse(cred, profile_line, p);
	p->in_config_file = 1;
	ini_parse(conf, profile_line, p);
	snprintf(p->files, sizeof p->files, "%s and %s", cred, conf);
}

static void profile_free(profile *p)
{
	free(p->key_id);
	s3_free_secret(p->secret);
	s3_free_secret(p->token);
	free(p->region);
}

static int from_config(s3_inst *c)
{
	s3_config *cfg = &c->cfg;
	s3_creds *cr = &c->creds;
	char err[700];
	if (!cfg->access_key_id || !cfg->secret_key_file)
		return s3_err(c, LV_E_CONFIG, "s3: %s is set but %s is not: set both (or neither, to use the environment or a "
		                              "profile of ~/.aws/credentials)",
		              cfg->access_key_id ? "access_key_id" : "secret_access_key_file",
		              cfg->access_key_id ? "secret_access_key_file" : "access_key_id");
	if (!(cr->access_key = strdup(cfg->access_key_id)))
		return LV_E_NOMEM;
	if (!(cr->secret = s3_read_secret(c, "secret_access_key_file", cfg->secret_key_file, err, sizeof err)))
		return s3_err(c, LV_E_CONFIG, "s3: secret_access_key_file: %s", err);
	if (cfg->token_file && !(cr->token = s3_read_secret(c, "session_token_file", cfg->token_file, err, sizeof err)))
		return s3_err(c, LV_E_CONFIG, "s3: session_token_file: %s", err);
	snprintf(cr->source, sizeof cr->source, "access_key_id %s and secret_access_key_file %s of the config",
	         cr->access_key, cfg->secret_key_file);
	return 0;
}

/* 1 when the environment holds keys (taken), 0 when not, < 0 on error. */
static int from_env(s3_inst *c)
{
	const char *id = secure_getenv("AWS_ACCESS_KEY_ID"), *secret = secure_getenv("AWS_SECRET_ACCESS_KEY");
	const char *token = secure_getenv("AWS_SESSION_TOKEN");
	if ((!id || !*id) && (!secret || !*secret))
		return 0;
	if (!id || !*id || !secret || !*secret)
		return s3_err(c, LV_E_CONFIG, "s3: %s is set in the environment but %s is not: set both, or neither",
		              id && *id ? "AWS_ACCESS_KEY_ID" : "AWS_SECRET_ACCESS_KEY",
		              id && *id ? "AWS_SECRET_ACCESS_KEY" : "AWS_ACCESS_KEY_ID");
	s3_creds *cr = &c->creds;
	if (!(cr->access_key = strdup(id)) || !(cr->secret = strdup(secret)) ||
	    (token && *token && !(cr->token = strdup(token))))
		return LV_E_NOMEM;
	snprintf(cr->source, sizeof cr->source, "the environment (AWS_ACCESS_KEY_ID %s%s)", cr->access_key,
	         cr->token ? ", AWS_SESSION_TOKEN" : "");
	return 1;
}

/* 1 when the profile gave keys (taken), 0 when it has none (and need not), < 0 on error. */
static int from_profile(s3_inst *c, profile *p, int required)
{
	profile_read(p);
	const char *files = p->files;
	if (p->key_id && p->secret) {
		s3_creds *cr = &c->creds;
		cr->access_key = p->key_id;
		cr->secret = p->secret;
		cr->token = p->token;
		p->key_id = p->secret = p->token = NULL;
		snprintf(cr->source, sizeof cr->source, "profile '%s' of %s (aws_access_key_id %s)", p->name, files,
		         cr->access_key);
		return 1;
	}
	if (p->unsupported[0])
		return s3_err(c, LV_E_CONFIG,
		              "s3: profile '%s' of %s gets its keys through %s, which the s3 driver does not support "
		              "(credential_process, SSO and roles are out of scope): give it aws_access_key_id and "
		              "aws_secret_access_key, or use access_key_id and secret_access_key_file",
		              p->name, files, p->unsupported);
	if (p->found && (p->key_id || p->secret))
		return s3_err(c, LV_E_CONFIG, "s3: profile '%s' of %s has %s but not %s", p->name, files,
		              p->key_id ? "aws_access_key_id" : "aws_secret_access_key",
		              p->key_id ? "aws_secret_access_key" : "aws_access_key_id");
	if (required)
		return s3_err(c, p->found ? LV_E_AUTH : LV_E_CONFIG, "s3: profile '%s' %s %s", p->name,
		              p->found ? "holds no aws_access_key_id and aws_secret_access_key in" : "is in neither of", files);
	return 0;
}

static int region_resolve(s3_inst *c, const char *profile_region)
{
	if (c->cfg.region)
		return 0;
	const char *r = secure_getenv("AWS_REGION");
	if (!r || !*r)
		r = secure_getenv("AWS_DEFAULT_REGION");
	if (!r || !*r)
		r = profile_region;
	if (!r || !*r)
		r = "us-east-1";
	if (strspn(r, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-") != strlen(r))
		return s3_err(c, LV_E_CONFIG, "s3: the region '%s' (from the environment or the profile) is not a region name",
		              r);
	return (c->cfg.region = strdup(r)) ? 0 : LV_E_NOMEM;
}

int s3_creds_load(s3_inst *c)
{
	s3_config *cfg = &c->cfg;
	const char *env_profile = secure_getenv("AWS_PROFILE");
	profile p = {0};
	p.name = cfg->profile ? cfg->profile : env_profile && *env_profile ? env_profile : "default";
	int rc = 0;
	if (cfg->access_key_id || cfg->secret_key_file)
		rc = from_config(c);
	else if (cfg->profile)
		rc = from_profile(c, &p, 1);
	else if ((rc = from_env(c)) == 0)
		rc = from_profile(c, &p, env_profile && *env_profile);
	profile_read(&p); /* for the region, wherever the keys came from */
	if (rc >= 0 && !c->creds.access_key)
		rc = s3_err(c, LV_E_AUTH,
		            "s3: no credentials for %s: tried access_key_id and secret_access_key_file of the config, "
		            "AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY of the environment, and profile '%s' of %s",
		            c->where, p.name, p.files);
	if (rc >= 0)
		rc = region_resolve(c, p.region);
	profile_free(&p);
	return rc < 0 ? rc : 0;
}
