// SPDX-License-Identifier: Apache-2.0
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tools/common/opts.h"

static int bad_value(const char *prog, const char *opt, const char *s, const char *why, ...)
	__attribute__((format(printf, 4, 5)));

static int bad_value(const char *prog, const char *opt, const char *s, const char *why, ...)
{
	va_list ap;

	fprintf(stderr, "%s: --%s: \"%s\": ", prog, opt + strspn(opt, "-"), s);
	va_start(ap, why);
	vfprintf(stderr, why, ap);
	va_end(ap);
	fputc('\n', stderr);
	return -EINVAL;
}

int opt_parse_u64(const char *prog, const char *opt, const char *s, uint64_t min,
		  uint64_t max, uint64_t *out)
{
	const char *digits = "0123456789";
	unsigned long long v;
	int base = 10;
	char *end;

	if (!s)
		s = "";
	if (s[0] == '0' && (s[1] == 'x' || s[1] == 'X') && s[2]) {
		digits = "0123456789abcdefABCDEF";
		base = 16;
	}
	if (!*s || strspn(s + (base == 16 ? 2 : 0), digits) != strlen(s + (base == 16 ? 2 : 0)))
		return bad_value(prog, opt, s, "not an integer");
	errno = 0;
	v = strtoull(s, &end, base);
	if (errno == ERANGE || v < min || v > max)
		return bad_value(prog, opt, s, "must be between %llu and %llu",
				 (unsigned long long)min, (unsigned long long)max);
	*out = v;
	return 0;
}

int opt_parse_u64_list(const char *prog, const char *opt, const char *s, uint64_t min,
		       uint64_t max, uint64_t *out, size_t cap, size_t *n)
{
	char buf[256], *save = NULL, *tok;
	size_t got = 0;

	if (!s || strlen(s) >= sizeof(buf))
		return bad_value(prog, opt, s ? s : "", "not a list of values");
	snprintf(buf, sizeof(buf), "%s", s);
	for (tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		if (got == cap)
			return bad_value(prog, opt, s, "at most %zu values", cap);
		if (opt_parse_u64(prog, opt, tok, min, max, &out[got]))
			return -EINVAL;
		got++;
	}
	if (!got)
		return bad_value(prog, opt, s, "no value");
	*n = got;
	return 0;
}

int opt_parse_uint(const char *prog, const char *opt, const char *s, unsigned int min,
		   unsigned int max, unsigned int *out)
{
	uint64_t v;
	int ret = opt_parse_u64(prog, opt, s, min, max, &v);

	if (!ret)
		*out = (unsigned int)v;
	return ret;
}

int opt_parse_double(const char *prog, const char *opt, const char *s, double min,
		     double max, double *out)
{
	char *end;
	double v;

	if (!s || !*s || strspn(s, "0123456789.") != strlen(s))
		return bad_value(prog, opt, s ? s : "", "not a decimal number");
	errno = 0;
	v = strtod(s, &end);
	if (*end || errno == ERANGE || !isfinite(v))
		return bad_value(prog, opt, s, "not a decimal number");
	if (!(v > min && v <= max))
		return bad_value(prog, opt, s, "must be above %g and at most %g", min, max);
	*out = v;
	return 0;
}
