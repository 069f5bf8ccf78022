/* SPDX-License-Identifier: Apache-2.0 */
/*
 * core/config.c - the knob table and the one path that sets a knob.
 *
 * Every kvtier knob is one row of config_knobs[] below: key, type, range, default
 * (as text), field offset and a one-line doc.  kvt_config_new() feeds each
 * row's default through config_set_one(); kvt_config_set(),
 * kvt_config_apply_env() and kvt_config_load_yaml() (core/config_yaml.c) do
 * the same with their own text, so parsing and range checks live in one
 * place.  The KVT_* name of a knob is derived from its key (upper case, '.'
 * becomes '_'), so it cannot drift from the table.
 *
 * LMCache keys that kvtier does not use are a second table, config_lmcache_keys[]:
 * they are accepted with any value and recorded in cfg->ignored.  Any other
 * key is an error naming it.
 *
 * Invariants: config_set_one() writes @cfg only after the value parsed and
 * passed every check, so a failed set leaves the config unchanged.
 *
 * Threads: none of its own; a config has one owner, who serializes calls.
 */
#define _GNU_SOURCE
#include "core/config.h"
#include "core/config_knobs.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "core/l2_conf.h"
#include "core/mem.h"
#include "core/metrics_http.h"
#include "kvtier.h"

extern char **environ;

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

/* Longest value quoted in an error message. */
#define ERR_VALUE_MAX 64

static void config_err(char *err, size_t errlen, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void config_err(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (!err || !errlen)
		return;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}

/* "@key: "@value": @why", the value cut to ERR_VALUE_MAX bytes. */
static int value_err(char *err, size_t errlen, const char *key,
		     const char *value, const char *why)
{
	int n = (int)strlen(value);

	if (n > ERR_VALUE_MAX)
		config_err(err, errlen, "%s: \"%.*s...\": %s", key,
			   ERR_VALUE_MAX, value, why);
	else
		config_err(err, errlen, "%s: \"%s\": %s", key, value, why);
	return -EINVAL;
}

static const struct knob *knob_find(const char *key)
{
	for (size_t i = 0; i < config_nknobs; i++)
		if (strcmp(config_knobs[i].key, key) == 0)
			return &config_knobs[i];
	return NULL;
}

static bool lmcache_key(const char *key)
{
	/* printable ASCII only, as every LMCache key is: kvt_config_dump()
	 * lists ignored keys in comments, where a newline (or NEL, LS, PS)
	 * would start a live line, and the 63-byte copy must not split a
	 * UTF-8 sequence */
	for (const char *p = key; *p; p++)
		if ((unsigned char)*p < 0x20 || (unsigned char)*p >= 0x7f)
			return false;
	for (size_t i = 0; i < config_nlmcache_keys; i++) {
		const char *k = config_lmcache_keys[i];
		size_t n = strlen(k);

		if (k[n - 1] == '*') {
			if (strncmp(key, k, n - 1) == 0)
				return true;
		} else if (strcmp(key, k) == 0) {
			return true;
		}
	}
	return false;
}

/**
 * config_is_section() - whether @prefix names a group of dotted keys.
 * @prefix: "l1", "actors", "storage_plugin", ...
 *
 * A YAML map under such a key is read as nested keys ("l1: {evict_low: x}"
 * is "l1.evict_low: x").
 *
 * Threads: any.  Blocks: never.
 * Return: true if some knob or LMCache key starts with "@prefix.".
 */
bool config_is_section(const char *prefix)
{
	size_t n = strlen(prefix);

	if (!n)
		return false;
	for (size_t i = 0; i < config_nknobs; i++)
		if (strncmp(config_knobs[i].key, prefix, n) == 0 &&
		    config_knobs[i].key[n] == '.')
			return true;
	for (size_t i = 0; i < config_nlmcache_keys; i++) {
		const char *k = config_lmcache_keys[i];

		if (strncmp(k, prefix, n) == 0 && k[n] == '.')
			return true;
	}
	return false;
}

static void ignored_add(struct kvt_config *cfg, const char *key)
{
	for (size_t i = 0; i < cfg->nignored; i++)
		if (strncmp(cfg->ignored[i], key, sizeof(cfg->ignored[i]) - 1) == 0)
			return;
	/* the list is informational: past CONFIG_IGNORED_MAX keys drop off */
	if (cfg->nignored == CONFIG_IGNORED_MAX)
		return;
	snprintf(cfg->ignored[cfg->nignored], sizeof(cfg->ignored[0]), "%s", key);
	cfg->nignored++;
}

/* Decimal digits only: no sign, no space, no "0x". */
static int parse_ull(const char *s, unsigned long long *out)
{
	char *end;

	if (*s < '0' || *s > '9')
		return -EINVAL;
	errno = 0;
	*out = strtoull(s, &end, 10);
	if (*end)
		return -EINVAL;
	return errno == ERANGE ? -ERANGE : 0;
}

/* An optional '-', then decimal digits. */
static int parse_ll(const char *s, long long *out)
{
	const char *d = *s == '-' ? s + 1 : s;
	char *end;

	if (*d < '0' || *d > '9')
		return -EINVAL;
	errno = 0;
	*out = strtoll(s, &end, 10);
	if (*end)
		return -EINVAL;
	return errno == ERANGE ? -ERANGE : 0;
}

/* A finite decimal number; "nan", "inf", hex and spaces are refused. */
static int parse_double(const char *s, double *out)
{
	char *end;

	if (!*s || strspn(s, "0123456789+-.eE") != strlen(s))
		return -EINVAL;
	errno = 0;
	*out = strtod(s, &end);
	if (end == s || *end)
		return -EINVAL;
	if (errno == ERANGE || !isfinite(*out))
		return -ERANGE;
	return 0;
}

static int parse_bool(const char *s, bool *out)
{
	static const char *const yes[] = { "true", "yes", "on", "1" };
	static const char *const no[] = { "false", "no", "off", "0" };

	for (size_t i = 0; i < ARRAY_SIZE(yes); i++) {
		if (strcasecmp(s, yes[i]) == 0) {
			*out = true;
			return 0;
		}
		if (strcasecmp(s, no[i]) == 0) {
			*out = false;
			return 0;
		}
	}
	return -EINVAL;
}

static void fmt_double(double v, char *buf, size_t len)
{
	/* the shortest of %.15g..%.17g that reads back as @v */
	for (int prec = 15; prec <= 17; prec++) {
		snprintf(buf, len, "%.*g", prec, v);
		if (strtod(buf, NULL) == v)
			return;
	}
}

static int range_err(const struct knob *k, const char *value, char *err,
		     size_t errlen)
{
	const char *fmt = k->type == KNOB_DOUBLE ? "%g" : "%.0f";
	char lo[32], hi[32], why[128];

	snprintf(lo, sizeof(lo), fmt, k->min);
	snprintf(hi, sizeof(hi), fmt, k->max);
	if (k->flags & KNOB_MIN_OPEN)
		snprintf(why, sizeof(why), "must be greater than %s and at most %s",
			 lo, hi);
	else
		snprintf(why, sizeof(why), "must be between %s and %s", lo, hi);
	return value_err(err, errlen, k->key, value, why);
}

static bool in_range(const struct knob *k, double v)
{
	if (k->flags & KNOB_MIN_OPEN ? v <= k->min : v < k->min)
		return false;
	return v <= k->max;
}

/* Parse @value for @k into @out (a buffer of k->size bytes). */
/* The adapter list must parse now, so a bad one is refused where it was
 * set rather than at kvt_open(); whether each type exists is only known
 * once plugins load, at kvt_open(). */
static int l2_json_check(const char *value, char *err, size_t errlen)
{
	struct l2_conf_list *l = mem_alloc(sizeof(*l));
	char why[224];
	int ret;

	if (!l) {
		config_err(err, errlen, "l2_adapters: out of memory");
		return -ENOMEM;
	}
	ret = l2_conf_parse(value, l, why, sizeof(why));
	l2_conf_free(l);
	mem_free(l);
	if (ret)
		config_err(err, errlen, "%s", why);
	/* running out of memory is not a bad value */
	return ret == -ENOMEM ? ret : ret ? -EINVAL : 0;
}

static int knob_parse(const struct knob *k, const char *value, void *out,
		      char *err, size_t errlen)
{
	unsigned long long u;
	long long s;
	double d;
	bool b;
	int ret;

	switch (k->type) {
	case KNOB_UINT32:
		ret = parse_ull(value, &u);
		if (ret == -EINVAL)
			return value_err(err, errlen, k->key, value,
					 "not an unsigned integer");
		if (ret || !in_range(k, (double)u))
			return range_err(k, value, err, errlen);
		if ((k->flags & KNOB_POW2) && (u & (u - 1)))
			return value_err(err, errlen, k->key, value,
					 "must be a power of two");
		*(uint32_t *)out = (uint32_t)u;
		return 0;
	case KNOB_UINT64:
		ret = parse_ull(value, &u);
		if (ret == -EINVAL)
			return value_err(err, errlen, k->key, value,
					 "not an unsigned integer");
		if (ret || !in_range(k, (double)u))
			return range_err(k, value, err, errlen);
		*(uint64_t *)out = (uint64_t)u;
		return 0;
	case KNOB_INT32:
		ret = parse_ll(value, &s);
		if (ret == -EINVAL)
			return value_err(err, errlen, k->key, value,
					 "not an integer");
		if (ret || !in_range(k, (double)s))
			return range_err(k, value, err, errlen);
		*(int32_t *)out = (int32_t)s;
		return 0;
	case KNOB_DOUBLE:
		ret = parse_double(value, &d);
		if (ret == -EINVAL)
			return value_err(err, errlen, k->key, value,
					 "not a number");
		if (ret || !in_range(k, d))
			return range_err(k, value, err, errlen);
		*(double *)out = d;
		return 0;
	case KNOB_BOOL:
		if (parse_bool(value, &b))
			return value_err(err, errlen, k->key, value,
					 "not a boolean (true/false, yes/no, on/off, 1/0)");
		*(bool *)out = b;
		return 0;
	case KNOB_ENUM:
		for (const char *const *c = k->choices; *c; c++) {
			if (strcmp(value, *c) == 0) {
				memset(out, 0, k->size);
				memcpy(out, value, strlen(value));
				return 0;
			}
		}
		{
			char why[160] = "must be one of";
			size_t n = strlen(why);

			for (const char *const *c = k->choices; *c; c++)
				n += snprintf(why + n, sizeof(why) - n, "%s %s",
					      c == k->choices ? "" : ",", *c);
			return value_err(err, errlen, k->key, value, why);
		}
	case KNOB_STRING:
	case KNOB_L2_JSON:
	case KNOB_LISTEN:
		if (strlen(value) >= k->size) {
			char why[64];

			snprintf(why, sizeof(why), "longer than %zu bytes",
				 k->size - 1);
			return value_err(err, errlen, k->key, value, why);
		}
		for (const char *p = value; *p; p++)
			if ((unsigned char)*p < 0x20 || *p == 0x7f)
				return value_err(err, errlen, k->key, value,
						 "contains a control character");
		if (k->type == KNOB_L2_JSON) {
			ret = l2_json_check(value, err, errlen);
			if (ret)
				return ret;
		}
		if (k->type == KNOB_LISTEN && value[0]) {
			char why[160];

			if (metrics_addr_parse(value, NULL, NULL, why, sizeof(why)))
				return value_err(err, errlen, k->key, value, why);
		}
		memset(out, 0, k->size);
		memcpy(out, value, strlen(value));
		return 0;
	}
	config_err(err, errlen, "%s: bad knob type %d", k->key, (int)k->type);
	return -EINVAL;
}

/**
 * config_set_one() - set one knob, or record one ignored LMCache key.
 * @cfg:   config to update; unchanged on error.
 * @key:   full dotted key ("chunk_size", "l1.evict_low").
 * @value: the value as text; for a YAML sequence or map, a short rendering
 *         of it used only in messages.
 * @shape: CONFIG_SCALAR, or the YAML shape @value came from.
 * @err:   receives a message naming the key and value (may be NULL).
 *
 * The one path YAML, KVT_* variables, kvt_config_set() and the defaults
 * take.  An LMCache key kvtier does not use is accepted with any value.
 *
 * Threads: the config's owner.  Blocks: never.  Allocates: nothing.
 * Return: 0, or -EINVAL.
 */
int config_set_one(struct kvt_config *cfg, const char *key, const char *value,
		   enum config_shape shape, char *err, size_t errlen)
{
	const struct knob *k = knob_find(key);
	union {
		uint32_t u;
		int32_t i;
		double d;
		bool b;
		char s[CONFIG_L2_MAX];
	} v;
	int ret;

	if (!k) {
		if (!lmcache_key(key)) {
			config_err(err, errlen, "unknown key '%s'", key);
			return -EINVAL;
		}
		ignored_add(cfg, key);
		return 0;
	}
	if (shape != CONFIG_SCALAR)
		return value_err(err, errlen, key, value,
				 shape == CONFIG_SEQUENCE ?
				 "a sequence where a scalar is expected" :
				 "a map where a scalar is expected");
	if (k->size > sizeof(v)) {
		config_err(err, errlen, "%s: field too large", key);
		return -EINVAL;
	}
	ret = knob_parse(k, value, &v, err, errlen);
	if (ret)
		return ret;
	memcpy((char *)cfg + k->off, &v, k->size);
	return 0;
}

int kvt_config_new(struct kvt_config **out)
{
	struct kvt_config *cfg;
	int ret;

	if (!out)
		return -EINVAL;
	cfg = calloc(1, sizeof(*cfg));
	if (!cfg)
		return -ENOMEM;
	for (size_t i = 0; i < config_nknobs; i++) {
		ret = config_set_one(cfg, config_knobs[i].key, config_knobs[i].def,
				     CONFIG_SCALAR, NULL, 0);
		if (ret)
			goto err_free;		/* a bad row in config_knobs[] */
	}
	*out = cfg;
	return 0;
err_free:
	free(cfg);
	return ret;
}

void kvt_config_free(struct kvt_config *cfg)
{
	free(cfg);
}

int config_err_end(int ret, char *err, size_t errlen, const char *what)
{
	if (ret && err && errlen && !err[0])
		snprintf(err, errlen, "%s: %s", what, kvt_strerror(ret));
	return ret;
}

int kvt_config_set(struct kvt_config *cfg, const char *key, const char *value,
		   char *err, size_t errlen)
{
	config_err_begin(err, errlen);
	if (!cfg || !key || !value) {
		config_err(err, errlen, "kvt_config_set: NULL argument");
		return -EINVAL;
	}
	return config_err_end(config_set_one(cfg, key, value, CONFIG_SCALAR, err, errlen), err,
			      errlen, key);
}

/* Whether @name (not NUL-terminated, @n bytes) is KVT_ + @key transformed. */
static bool env_matches(const char *name, size_t n, const char *key)
{
	size_t klen = strlen(key);

	if (n != 4 + klen || strncmp(name, "KVT_", 4) != 0)
		return false;
	for (size_t i = 0; i < klen; i++) {
		char c = key[i] == '.' ? '_' : key[i];

		if (c >= 'a' && c <= 'z')
			c = (char)(c - 'a' + 'A');
		if (name[4 + i] != c)
			return false;
	}
	return true;
}

static bool env_allowed_name(const char *name, size_t n)
{
	for (size_t i = 0; i < config_nenv_allowed; i++)
		if (strlen(config_env_allowed[i]) == n &&
		    strncmp(config_env_allowed[i], name, n) == 0)
			return true;
	return false;
}

/*
 * Applies every variable to a copy first, so a bad variable leaves @cfg
 * as it was.
 */
static int apply_env(struct kvt_config *cfg, char *err, size_t errlen)
{
	struct kvt_config tmp;
	char msg[256];

	if (!cfg)
		return -EINVAL;
	tmp = *cfg;

	for (char **e = environ; e && *e; e++) {
		const char *var = *e, *eq = strchr(var, '=');
		const struct knob *k = NULL;
		size_t n;
		int ret;

		if (strncmp(var, "KVT_", 4) != 0 || !eq)
			continue;
		n = (size_t)(eq - var);
		for (size_t i = 0; i < config_nknobs && !k; i++)
			if (env_matches(var, n, config_knobs[i].key))
				k = &config_knobs[i];
		if (!k) {
			if (env_allowed_name(var, n))
				continue;
			config_err(err, errlen,
				   "unknown environment variable %.*s",
				   (int)n, var);
			return -EINVAL;
		}
		ret = config_set_one(&tmp, k->key, eq + 1, CONFIG_SCALAR, msg,
				     sizeof(msg));
		if (ret) {
			config_err(err, errlen, "%.*s: %s", (int)n, var, msg);
			return ret;
		}
	}
	*cfg = tmp;
	return 0;
}

static void knob_format(const struct kvt_config *cfg, const struct knob *k,
			char *buf, size_t len)
{
	const void *p = (const char *)cfg + k->off;

	switch (k->type) {
	case KNOB_UINT32:
		snprintf(buf, len, "%u", *(const uint32_t *)p);
		break;
	case KNOB_UINT64:
		snprintf(buf, len, "%llu", (unsigned long long)*(const uint64_t *)p);
		break;
	case KNOB_INT32:
		snprintf(buf, len, "%d", *(const int32_t *)p);
		break;
	case KNOB_DOUBLE:
		fmt_double(*(const double *)p, buf, len);
		break;
	case KNOB_BOOL:
		snprintf(buf, len, "%s", *(const bool *)p ? "true" : "false");
		break;
	case KNOB_STRING:
	case KNOB_L2_JSON:
	case KNOB_LISTEN:
	case KNOB_ENUM:
		snprintf(buf, len, "%.*s", (int)k->size, (const char *)p);
		break;
	}
}

ssize_t kvt_config_get(const struct kvt_config *cfg, const char *key, char *buf,
		       size_t len)
{
	const struct knob *k;
	char tmp[CONFIG_L2_MAX + 8];
	size_t n;

	if (!cfg || !key || (!buf && len))
		return -EINVAL;
	k = knob_find(key);
	if (!k)
		return -ENOENT;
	knob_format(cfg, k, tmp, sizeof(tmp));
	n = strlen(tmp);
	if (!buf || n >= len)
		return -ENOSPC;
	memcpy(buf, tmp, n + 1);
	return (ssize_t)n;
}

int kvt_config_ignored(const struct kvt_config *cfg, size_t i, const char **key)
{
	if (!cfg || !key)
		return -EINVAL;
	if (i >= cfg->nignored)
		return -ENOENT;
	*key = cfg->ignored[i];
	return 0;
}

static int write_all(int fd, const char *buf, size_t len)
{
	while (len) {
		ssize_t n = write(fd, buf, len);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		buf += n;
		len -= (size_t)n;
	}
	return 0;
}

/* @s as a YAML double-quoted scalar. */
static void yaml_quote(const char *s, char *buf, size_t len)
{
	size_t n = 0;

	buf[n++] = '"';
	for (; *s && n + 6 < len; s++) {
		unsigned char c = (unsigned char)*s;

		if (c == '"' || c == '\\')
			n += snprintf(buf + n, len - n, "\\%c", c);
		/* NEL, LS and PS are line breaks inside a YAML scalar and would
		 * load back folded: their escapes \N, \L, \P */
		else if (c == 0xc2 && (unsigned char)s[1] == 0x85) {
			n += snprintf(buf + n, len - n, "\\N");
			s++;
		} else if (c == 0xe2 && (unsigned char)s[1] == 0x80 &&
			   ((unsigned char)s[2] == 0xa8 || (unsigned char)s[2] == 0xa9)) {
			n += snprintf(buf + n, len - n, "\\%c", (unsigned char)s[2] == 0xa8 ? 'L' : 'P');
			s += 2;
		}
		else if (c < 0x20 || c == 0x7f)
			n += snprintf(buf + n, len - n, "\\x%02x", c);
		else
			buf[n++] = (char)c;
	}
	buf[n++] = '"';
	buf[n] = '\0';
}

/*
 * Every knob as "key: value  # doc", then the ignored LMCache keys as
 * comments; the output loads back with kvt_config_load_yaml().
 */
int kvt_config_dump(const struct kvt_config *cfg, int fd)
{
	/* a JSON value quotes every quote: twice its length at most */
	char val[CONFIG_L2_MAX + 8], quoted[2 * CONFIG_L2_MAX + 8];
	char line[2 * CONFIG_L2_MAX + 512];
	int ret;

	if (!cfg)
		return -EINVAL;
	for (size_t i = 0; i < config_nknobs; i++) {
		const struct knob *k = &config_knobs[i];
		const char *v = val;

		knob_format(cfg, k, val, sizeof(val));
		if (k->type == KNOB_STRING || k->type == KNOB_ENUM || k->type == KNOB_L2_JSON ||
		    k->type == KNOB_LISTEN) {
			yaml_quote(val, quoted, sizeof(quoted));
			v = quoted;
		}
		/* what "auto" comes to is what a reader of the dump wants to know */
		if (!strcmp(k->key, "dax.mode") && !strcmp(cfg->dax_mode, "auto") &&
		    cfg->dax_device_path[0])
			snprintf(line, sizeof(line), "%s: %s  # here: %s, from local_cpu; %s\n", k->key,
				 v, config_dax_mode(cfg), k->doc);
		else
			snprintf(line, sizeof(line), "%s: %s  # %s\n", k->key, v, k->doc);
		ret = write_all(fd, line, strlen(line));
		if (ret)
			return ret;
	}
	for (size_t i = 0; i < cfg->nignored; i++) {
		snprintf(line, sizeof(line), "# ignored LMCache key: %s\n",
			 cfg->ignored[i]);
		ret = write_all(fd, line, strlen(line));
		if (ret)
			return ret;
	}
	return 0;
}

size_t config_dtype_bytes(const char *kv_dtype)
{
	static const struct {
		const char *name;
		size_t bytes;
	} sizes[] = {
		{ "bfloat16", 2 }, { "float16", 2 }, { "float32", 4 },
		{ "fp8_e4m3", 1 }, { "fp8_e5m2", 1 }, { "int8", 1 },
	};

	if (!kv_dtype)
		return 0;
	for (size_t i = 0; i < ARRAY_SIZE(sizes); i++)
		if (strcmp(kv_dtype, sizes[i].name) == 0)
			return sizes[i].bytes;
	return 0;
}

/* Saturates at SIZE_MAX rather than wrapping. */
size_t config_chunk_bytes(const struct kvt_config *cfg)
{
	size_t f[] = {
		cfg->use_mla ? 1 : 2, cfg->kv_layers, cfg->chunk_size,
		cfg->kv_heads, cfg->head_dim, config_dtype_bytes(cfg->kv_dtype),
	};
	size_t bytes = 1;

	for (size_t i = 0; i < ARRAY_SIZE(f); i++)
		if (__builtin_mul_overflow(bytes, f[i], &bytes))
			return SIZE_MAX;
	return bytes;
}

const char *config_dax_mode(const struct kvt_config *cfg)
{
	if (strcmp(cfg->dax_mode, "auto") != 0)
		return cfg->dax_mode;
	return cfg->local_cpu ? "tiered" : "primary";
}

#define CHUNK_BYTES_MAX (4ull << 30)

int config_check(const struct kvt_config *cfg, char *err, size_t errlen)
{
	size_t chunk = config_chunk_bytes(cfg);

	if (!config_dtype_bytes(cfg->kv_dtype)) {
		config_err(err, errlen, "kv_dtype: \"%.32s\": unknown dtype",
			   cfg->kv_dtype);
		return -EINVAL;
	}
	if (!(cfg->l1_evict_low < cfg->l1_evict_high)) {
		config_err(err, errlen,
			   "l1.evict_low (%g) must be below l1.evict_high (%g)",
			   cfg->l1_evict_low, cfg->l1_evict_high);
		return -EINVAL;
	}
	if (cfg->worker_id >= cfg->world_size) {
		config_err(err, errlen,
			   "worker_id (%u) must be below world_size (%u)",
			   cfg->worker_id, cfg->world_size);
		return -EINVAL;
	}
	if (!chunk || chunk >= CHUNK_BYTES_MAX) {
		config_err(err, errlen,
			   "chunk of %zu bytes (chunk_size %u x kv_layers %u x kv_heads %u x head_dim %u x %s%s) must be below 4 GiB",
			   chunk, cfg->chunk_size, cfg->kv_layers,
			   cfg->kv_heads, cfg->head_dim, cfg->kv_dtype,
			   cfg->use_mla ? ", use_mla" : " x 2");
		return -EINVAL;
	}
	if (cfg->use_only_staging_buffer && cfg->local_cpu) {
		config_err(err, errlen,
			   "use_only_staging_buffer: true requires local_cpu: false");
		return -EINVAL;
	}
	if (cfg->local_cpu &&
	    cfg->max_local_cpu_size * (double)(1u << 30) < 2.0 * (double)chunk) {
		config_err(err, errlen,
			   "max_local_cpu_size (%g GB) holds fewer than 2 chunks of %zu bytes (chunk_size %u)",
			   cfg->max_local_cpu_size, chunk, cfg->chunk_size);
		return -EINVAL;
	}
	return 0;
}

static int add_l2_adapter(struct kvt_config *cfg, const char *json, char *err, size_t errlen)
{
	char *buf;
	int ret;

	if (!cfg || !json)
		return -EINVAL;
	buf = mem_alloc(CONFIG_L2_MAX);
	if (!buf) {
		config_err(err, errlen, "l2_adapters: out of memory");
		return -ENOMEM;
	}
	ret = l2_conf_append(cfg->l2_adapters, json, buf, CONFIG_L2_MAX, err, errlen);
	if (!ret)
		ret = config_set_one(cfg, "l2_adapters", buf, CONFIG_SCALAR, err, errlen);
	mem_free(buf);
	return ret == -ENAMETOOLONG ? -E2BIG : ret;
}

int kvt_config_apply_env(struct kvt_config *cfg, char *err, size_t errlen)
{
	config_err_begin(err, errlen);
	return config_err_end(apply_env(cfg, err, errlen), err, errlen, "kvt_config_apply_env");
}

int kvt_config_add_l2_adapter(struct kvt_config *cfg, const char *json, char *err,
			      size_t errlen)
{
	config_err_begin(err, errlen);
	return config_err_end(add_l2_adapter(cfg, json, err, errlen), err, errlen,
			      "kvt_config_add_l2_adapter");
}
