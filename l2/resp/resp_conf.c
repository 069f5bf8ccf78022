/* SPDX-License-Identifier: Apache-2.0 */
/*
 * l2/resp/resp_conf.c - see resp_conf.h.  Every message that shows the URL
 * shows it with the password replaced by "***".
 */
#include "l2/resp/resp_conf.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "l2/fschunk.h"
#include "core/l2_params.h"
#include "kvtier/l2.h"

static const char *const resp_keys[] = {
	"url", "cluster", "username", "password", "timeout_ms", "max_inflight", "ttl_s",
	"max_value_bytes", "prefix", "hash_tag", "delete_corrupt", NULL,
};

/* The URL with whatever sits between ':' and '@' of the userinfo hidden. */
static void redact(const char *url, char *out, size_t outlen)
{
	const char *scheme = strstr(url, "://");
	const char *auth = scheme ? scheme + 3 : url;
	const char *at = strchr(auth, '@');
	const char *slash = strchr(auth, '/');
	const char *colon;

	if (!at || (slash && slash < at)) {
		snprintf(out, outlen, "%s", url);
		return;
	}
	colon = memchr(auth, ':', (size_t)(at - auth));
	if (!colon) {
		snprintf(out, outlen, "%s", url);
		return;
	}
	snprintf(out, outlen, "%.*s***%s", (int)(colon + 1 - url), url, at);
}

static int hexval(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	c = tolower(c);
	return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

/* Copy @len bytes of URL userinfo, %XX-decoded, into @out.  Return: 0 or -1. */
static int decode(const char *s, size_t len, char *out, size_t outlen)
{
	size_t o = 0;

	for (size_t i = 0; i < len; i++) {
		int c = (unsigned char)s[i];

		if (c == '%') {
			int hi = i + 2 < len ? hexval(s[i + 1]) : -1;
			int lo = hi >= 0 ? hexval(s[i + 2]) : -1;

			if (hi < 0 || lo < 0)
				return -1;
			c = hi * 16 + lo;
			i += 2;
		}
		if (c == 0 || o + 1 >= outlen)
			return -1;
		out[o++] = (char)c;
	}
	out[o] = 0;
	return 0;
}

#define URL_FAIL(code, ...)                                                   \
	do {                                                                   \
		int off_ = snprintf(err, errlen, "resp: url: \"%s\": ", out->url_redacted); \
		if (off_ >= 0 && (size_t)off_ < errlen)                        \
			snprintf(err + off_, errlen - (size_t)off_, __VA_ARGS__); \
		return (code);                                                 \
	} while (0)

int resp_url_parse(const char *url, struct resp_conf *out, char *err, size_t errlen)
{
	const char *p, *at, *hostend, *portp = NULL;
	size_t hostlen;
	char *end;

	redact(url, out->url_redacted, sizeof(out->url_redacted));
	out->username[0] = out->password[0] = 0;
	out->port = 6379;
	out->db = 0;
	if (!strncmp(url, "rediss://", 9))
		URL_FAIL(-EPROTONOSUPPORT,
			 "TLS (rediss://) is not supported: this build has no TLS; use redis:// "
			 "on a trusted network or a TLS tunnel");
	if (strncmp(url, "redis://", 8))
		URL_FAIL(-EPROTONOSUPPORT, "must start with redis://");
	p = url + 8;
	at = strchr(p, '@');
	if (at && (!strchr(p, '/') || at < strchr(p, '/'))) {
		const char *colon = memchr(p, ':', (size_t)(at - p));
		size_t ulen = colon ? (size_t)(colon - p) : (size_t)(at - p);

		if (decode(p, ulen, out->username, sizeof(out->username)))
			URL_FAIL(-EINVAL, "bad user name");
		if (colon && decode(colon + 1, (size_t)(at - colon - 1), out->password,
				    sizeof(out->password)))
			URL_FAIL(-EINVAL, "bad password");
		p = at + 1;
	}
	if (*p == '[') {
		hostend = strchr(p, ']');
		if (!hostend)
			URL_FAIL(-EINVAL, "unterminated [IPv6 address]");
		hostlen = (size_t)(hostend - p - 1);
		memcpy(out->host, p + 1, hostlen < RESP_HOST_MAX ? hostlen : 0);
		p = hostend + 1;
	} else {
		hostlen = strcspn(p, ":/?#");
		if (hostlen < RESP_HOST_MAX)
			memcpy(out->host, p, hostlen);
		p += hostlen;
	}
	if (hostlen == 0 || hostlen >= RESP_HOST_MAX)
		URL_FAIL(-EINVAL, "no host, or a host name of %d or more characters",
			 RESP_HOST_MAX);
	out->host[hostlen] = 0;
	for (size_t i = 0; i < hostlen; i++)
		if (!isalnum((unsigned char)out->host[i]) && !strchr(".-_:", out->host[i]))
			URL_FAIL(-EINVAL, "bad host \"%s\"", out->host);
	if (*p == ':') {
		long v;

		portp = p + 1;
		errno = 0;
		v = strtol(portp, &end, 10);
		if (end == portp || errno || v < 1 || v > 65535 || (*end && *end != '/'))
			URL_FAIL(-EINVAL, "port: must be a number in 1..65535");
		out->port = (int)v;
		p = end;
	}
	if (*p == '/' && p[1]) {
		long v;

		errno = 0;
		v = strtol(p + 1, &end, 10);
		if (end == p + 1 || *end || errno || v < 0 || v > 1000000)
			URL_FAIL(-EINVAL, "database: \"%s\": must be a number >= 0", p + 1);
		out->db = (int)v;
		p = end;
	} else if (*p == '/') {
		p++;
	}
	if (*p)
		URL_FAIL(-EINVAL, "unexpected \"%s\" (query parameters are not supported: use "
				  "the adapter's JSON members)", p);
	return 0;
}

/* A tag must not contain braces: Redis hashes what lies between the
 * first '{' and the first '}' after it. */
static int tag_of(const struct kvt_l2_config *cfg, char *tag, char *err, size_t errlen)
{
	const char *v = l2_param(cfg, "hash_tag");
	size_t len;

	tag[0] = 0;
	if (!v || !*v)
		return 0;
	if (!strcmp(v, "namespace")) {
		char name[FSCHUNK_NAME_LEN + 1];
		struct kvt_key zero = { 0, 0 };

		fschunk_name(cfg->ns_seed ? cfg->ns_seed : &zero, name);
		snprintf(tag, RESP_TAG_MAX, "%.16s", name);
		return 0;
	}
	len = strlen(v);
	if (len >= RESP_TAG_MAX || strpbrk(v, "{}") || strpbrk(v, " \r\n")) {
		snprintf(err, errlen,
			 "resp: hash_tag: \"%s\": must be \"namespace\" or up to %d characters "
			 "without braces or spaces", v, RESP_TAG_MAX - 1);
		return -EINVAL;
	}
	memcpy(tag, v, len + 1);
	return 0;
}

int resp_conf_parse(const struct kvt_l2_config *cfg, struct resp_conf *out, char *err,
		    size_t errlen)
{
	char tag[RESP_TAG_MAX];
	const char *url, *v, *prefix;
	uint64_t timeout, inflight;
	int ret;

	memset(out, 0, sizeof(*out));
	ret = l2_params_known(cfg, resp_keys, err, errlen);
	if (ret)
		return ret;
	url = l2_param(cfg, "url");
	if (!url || !*url) {
		snprintf(err, errlen, "resp: url: required, e.g. \"redis://127.0.0.1:6379/0\"");
		return -EINVAL;
	}
	ret = resp_url_parse(url, out, err, errlen);
	if (ret)
		return ret;
	if ((ret = l2_param_bool(cfg, "cluster", false, &out->cluster, err, errlen)) ||
	    (ret = l2_param_bool(cfg, "delete_corrupt", true, &out->delete_corrupt, err,
				 errlen)) ||
	    (ret = l2_param_u64(cfg, "timeout_ms", 2000, 10, 600000, &timeout, err, errlen)) ||
	    (ret = l2_param_u64(cfg, "max_inflight", 1024, 1, 65536, &inflight, err, errlen)) ||
	    (ret = l2_param_u64(cfg, "ttl_s", 0, 0, 1ull << 40, &out->ttl_s, err, errlen)) ||
	    (ret = l2_param_u64(cfg, "max_value_bytes", 512ull << 20, FSCHUNK_HDR,
				512ull << 20, &out->max_value_bytes, err, errlen)))
		return ret;
	out->timeout_ms = (uint32_t)timeout;
	out->max_inflight = (uint32_t)inflight;
	if (out->cluster && out->db != 0) {
		snprintf(err, errlen, "resp: url: \"%s\": database %d: Redis Cluster has only "
				      "database 0", out->url_redacted, out->db);
		return -EINVAL;
	}
	v = l2_param(cfg, "username");
	if (v && snprintf(out->username, sizeof(out->username), "%s", v) >=
			 (int)sizeof(out->username)) {
		snprintf(err, errlen, "resp: username: longer than %d", RESP_SECRET_MAX - 1);
		return -EINVAL;
	}
	v = l2_param(cfg, "password");
	if (!v && !out->password[0])
		v = getenv(RESP_PASSWORD_ENV);
	if (v && snprintf(out->password, sizeof(out->password), "%s", v) >=
			 (int)sizeof(out->password)) {
		snprintf(err, errlen, "resp: password: longer than %d", RESP_SECRET_MAX - 1);
		return -EINVAL;
	}
	if (out->username[0] && !out->password[0]) {
		snprintf(err, errlen, "resp: username \"%s\" needs a password (member password, "
				      "the URL or %s)", out->username, RESP_PASSWORD_ENV);
		return -EINVAL;
	}
	prefix = l2_param(cfg, "prefix");
	if (!prefix)
		prefix = "kvt:";
	if (strlen(prefix) >= RESP_PREFIX_MAX || strpbrk(prefix, " \r\n")) {
		snprintf(err, errlen, "resp: prefix: \"%s\": up to %d characters, no spaces",
			 prefix, RESP_PREFIX_MAX - 1);
		return -EINVAL;
	}
	ret = tag_of(cfg, tag, err, errlen);
	if (ret)
		return ret;
	out->keyhead_len = (size_t)snprintf(out->keyhead, sizeof(out->keyhead), tag[0] ?
					    "%s{%s}" : "%s", prefix, tag);
	return 0;
}

int resp_conf_check(const struct kvt_l2_config *cfg, char *err, size_t errlen)
{
	struct resp_conf c;
	int ret = resp_conf_parse(cfg, &c, err, errlen);

	explicit_bzero(&c, sizeof(c));
	return ret;
}
