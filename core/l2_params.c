/* SPDX-License-Identifier: Apache-2.0 */
/*
 * core/l2_params.c - see l2_params.h.  Values arrive as the text of JSON
 * scalars; booleans are JSON's true/false only, numbers must parse whole.
 */
#include "core/l2_params.h"
#include "kvtier/l2.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *l2_param(const struct kvt_l2_config *cfg, const char *key)
{
	for (size_t i = 0; i < cfg->nparams; i++)
		if (!strcmp(cfg->params[i].key, key))
			return cfg->params[i].value;
	return NULL;
}

int l2_params_known(const struct kvt_l2_config *cfg, const char *const *known, char *err,
		    size_t errlen)
{
	for (size_t i = 0; i < cfg->nparams; i++) {
		const char *k = cfg->params[i].key;
		bool ok = !strcmp(k, "type");
		size_t off;

		for (const char *const *p = known; *p && !ok; p++)
			ok = !strcmp(k, *p);
		if (ok)
			continue;
		off = (size_t)snprintf(err, errlen, "%s: unknown key \"%s\" (known:", cfg->type, k);
		for (const char *const *p = known; *p && off < errlen; p++)
			off += (size_t)snprintf(err + off, errlen - off, " %s", *p);
		if (off < errlen)
			snprintf(err + off, errlen - off, ")");
		return -EINVAL;
	}
	return 0;
}

static int bad(const struct kvt_l2_config *cfg, const char *key, const char *v,
	       const char *want, char *err, size_t errlen)
{
	snprintf(err, errlen, "%s: %s: \"%s\": %s", cfg->type, key, v, want);
	return -EINVAL;
}

int l2_param_bool(const struct kvt_l2_config *cfg, const char *key, bool def, bool *out,
		  char *err, size_t errlen)
{
	const char *v = l2_param(cfg, key);

	if (!v) {
		*out = def;
		return 0;
	}
	if (!strcmp(v, "true") || !strcmp(v, "false")) {
		*out = v[0] == 't';
		return 0;
	}
	return bad(cfg, key, v, "must be true or false", err, errlen);
}

int l2_param_u64(const struct kvt_l2_config *cfg, const char *key, uint64_t def,
		 uint64_t lo, uint64_t hi, uint64_t *out, char *err, size_t errlen)
{
	const char *v = l2_param(cfg, key);
	char *end, want[96];
	unsigned long long x;

	if (!v) {
		*out = def;
		return 0;
	}
	snprintf(want, sizeof(want), "must be an integer in [%llu, %llu]",
		 (unsigned long long)lo, (unsigned long long)hi);
	if (!*v || *v == '-' || *v == '+')
		return bad(cfg, key, v, want, err, errlen);
	errno = 0;
	x = strtoull(v, &end, 10);
	if (errno || *end || x < lo || x > hi)
		return bad(cfg, key, v, want, err, errlen);
	*out = x;
	return 0;
}

int l2_param_double(const struct kvt_l2_config *cfg, const char *key, double def,
		    double lo, double hi, double *out, char *err, size_t errlen)
{
	const char *v = l2_param(cfg, key);
	char *end, want[96];
	double x;

	if (!v) {
		*out = def;
		return 0;
	}
	snprintf(want, sizeof(want), "must be a number in [%g, %g]", lo, hi);
	if (!*v)
		return bad(cfg, key, v, want, err, errlen);
	errno = 0;
	x = strtod(v, &end);
	if (errno || *end || !isfinite(x) || x < lo || x > hi)
		return bad(cfg, key, v, want, err, errlen);
	*out = x;
	return 0;
}
