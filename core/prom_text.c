/* SPDX-License-Identifier: Apache-2.0 */
/* core/prom_text.c - see prom_text.h. */
#include "core/prom_text.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>

#include "core/mem.h"

void prom_printf(struct prom_text *t, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (t->err)
		return;
	for (;;) {
		size_t room = t->cap - t->len;

		va_start(ap, fmt);
		n = vsnprintf(t->buf ? t->buf + t->len : NULL, room, fmt, ap);
		va_end(ap);
		if (n < 0) {
			t->err = -EINVAL;
			return;
		}
		if ((size_t)n < room) {
			t->len += (size_t)n;
			return;
		}
		size_t cap = t->cap ? t->cap * 2 : 16384;

		while (cap - t->len <= (size_t)n)
			cap *= 2;
		char *p = mem_realloc(t->buf, cap);

		if (!p) {
			t->err = -ENOMEM;
			return;
		}
		t->buf = p;
		t->cap = cap;
	}
}

void prom_family(struct prom_text *t, const char *name, const char *type, const char *help)
{
	prom_printf(t, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

void prom_sample(struct prom_text *t, const char *name, const char *labels, uint64_t value)
{
	if (labels[0])
		prom_printf(t, "%s{%s} %llu\n", name, labels, (unsigned long long)value);
	else
		prom_printf(t, "%s %llu\n", name, (unsigned long long)value);
}

void prom_histo(struct prom_text *t, const char *name, const char *labels,
		const struct histo_snap *s)
{
	const char *sep = labels[0] ? "," : "";
	uint64_t cum = 0;

	for (unsigned int i = 0; i < HISTO_BUCKETS - 1; i++) {
		cum += s->bucket[i];
		prom_printf(t, "%s_bucket{%s%sle=\"%.9g\"} %llu\n", name, labels, sep,
			    histo_bound_s(i), (unsigned long long)cum);
	}
	prom_printf(t, "%s_bucket{%s%sle=\"+Inf\"} %llu\n", name, labels, sep,
		    (unsigned long long)s->count);
	if (labels[0]) {
		prom_printf(t, "%s_sum{%s} %.9f\n%s_count{%s} %llu\n", name, labels,
			    (double)s->sum_ns / 1e9, name, labels, (unsigned long long)s->count);
	} else {
		prom_printf(t, "%s_sum %.9f\n%s_count %llu\n", name, (double)s->sum_ns / 1e9,
			    name, (unsigned long long)s->count);
	}
}
