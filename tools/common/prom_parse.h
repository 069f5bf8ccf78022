/* SPDX-License-Identifier: Apache-2.0 */
/*
 * tools/common/prom_parse.h - reading Prometheus text exposition back
 * (kvtier stats --url, kvtier top, the tests): one sample per line, comments
 * skipped.  Labels are kept as written between the braces.
 *
 * Threads: one owner per struct prom_samples.
 */
#ifndef KVT_TOOLS_COMMON_PROM_PARSE_H
#define KVT_TOOLS_COMMON_PROM_PARSE_H

#include <stdbool.h>
#include <stddef.h>

struct prom_sample {
	char name[128];
	char labels[256];	/* `tier="l1",le="0.001"`, or "" */
	double value;
};

struct prom_samples {
	struct prom_sample *v;
	size_t n;
};

/* prom_parse() - parse @text into @out (prom_samples_free() it).
 * Return: 0, -ENOMEM, or -EINVAL with @err naming the bad line. */
int prom_parse(const char *text, struct prom_samples *out, char *err, size_t errlen);

void prom_samples_free(struct prom_samples *s);

/* prom_value() - the sample @name{@labels} (labels exactly as written, ""
 * for none); @found (may be NULL) says whether it exists.  Return: its
 * value, or 0. */
double prom_value(const struct prom_samples *s, const char *name, const char *labels,
		  bool *found);

/* prom_label() - the value of label @key in @labels into @buf ("" when
 * absent). */
void prom_label(const char *labels, const char *key, char *buf, size_t len);

#endif
