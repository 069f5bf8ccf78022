/* SPDX-License-Identifier: Apache-2.0 */
/* tools/kvtier/remote.c - see remote.h. */
#include "tools/kvtier/remote.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "kvtier.h"
#include "tools/common/http_get.h"

int remote_scrape(const char *url, struct prom_samples *s, char **text)
{
	char err[512], *body;
	size_t len;
	int ret;

	ret = http_get(url, REMOTE_TIMEOUT_MS, &body, &len, err, sizeof(err));
	if (ret) {
		fprintf(stderr, "kvtier: %s\n", err);
		return ret;
	}
	ret = prom_parse(body, s, err, sizeof(err));
	if (ret) {
		fprintf(stderr, "kvtier: %s: %s\n", url, err);
		free(body);
		return ret;
	}
	if (text)
		*text = body;
	else
		free(body);
	return 0;
}

/* @labels of a bucket sample without its le, into @buf. */
static void strip_le(const char *labels, char *buf, size_t len, double *le)
{
	const char *p = labels;
	size_t n = 0;

	buf[0] = '\0';
	*le = NAN;
	while (*p) {
		size_t l = strcspn(p, ",");

		/* a label value holds no comma in kvtier's output */
		if (strncmp(p, "le=\"", 4) == 0)
			*le = strncmp(p + 4, "+Inf", 4) == 0 ? INFINITY : strtod(p + 4, NULL);
		else
			n += (size_t)snprintf(buf + n, n < len ? len - n : 0, "%s%.*s",
					      n ? "," : "", (int)l, p);
		p += l;
		p += *p == ',';
	}
}

bool remote_histo(const struct prom_samples *s, const char *name, const char *labels,
		  struct histo_snap *out)
{
	char bname[160], rest[256];
	double cum[HISTO_BUCKETS] = { 0 };
	bool found = false;

	memset(out, 0, sizeof(*out));
	snprintf(bname, sizeof(bname), "%s_bucket", name);
	for (size_t i = 0; i < s->n; i++) {
		double le;
		int b;

		if (strcmp(s->v[i].name, bname))
			continue;
		strip_le(s->v[i].labels, rest, sizeof(rest), &le);
		if (strcmp(rest, labels) || isnan(le))
			continue;
		/* kvtier's buckets: le = 2^b microseconds, then +Inf */
		b = isinf(le) ? HISTO_BUCKETS - 1 : (int)lround(log2(le / 1e-6));
		if (b < 0 || b >= HISTO_BUCKETS)
			continue;
		cum[b] = s->v[i].value;
		found = true;
	}
	for (int b = 0; b < HISTO_BUCKETS; b++) {
		double prev = b ? cum[b - 1] : 0;

		if (cum[b] < prev)
			cum[b] = prev;
		out->bucket[b] = (uint64_t)(cum[b] - prev);
		out->count += out->bucket[b];
	}
	snprintf(bname, sizeof(bname), "%s_sum", name);
	out->sum_ns = (uint64_t)(prom_value(s, bname, labels, NULL) * 1e9);
	return found;
}

static bool ends_with(const char *s, const char *suffix)
{
	size_t n = strlen(s), m = strlen(suffix);

	return n >= m && strcmp(s + n - m, suffix) == 0;
}

void remote_print(FILE *f, const struct prom_samples *s)
{
	for (size_t i = 0; i < s->n; i++) {
		const struct prom_sample *v = &s->v[i];
		char full[400], base[160];
		struct histo_snap h;

		if (ends_with(v->name, "_bucket") || ends_with(v->name, "_sum"))
			continue;
		snprintf(full, sizeof(full), "%s%s%s%s", v->name, v->labels[0] ? "{" : "",
			 v->labels, v->labels[0] ? "}" : "");
		if (ends_with(v->name, "_count")) {
			snprintf(base, sizeof(base), "%.*s", (int)(strlen(v->name) - 6), v->name);
			if (remote_histo(s, base, v->labels, &h)) {
				fprintf(f, "%-56s %14.0f  p50 %.3g s  p99 %.3g s  mean %.3g s\n", full,
					v->value, histo_quantile(&h, 0.5), histo_quantile(&h, 0.99),
					h.count ? (double)h.sum_ns / 1e9 / (double)h.count : 0.0);
				continue;
			}
		}
		fprintf(f, "%-56s %14.0f\n", full, v->value);
	}
}
