/* SPDX-License-Identifier: Apache-2.0 */
/*
 * core/prom_text.h - building Prometheus text exposition (format 0.0.4):
 * a growing buffer, family headers, samples and histograms.  Shared by the
 * engine's endpoint and kvtier-poold's.
 *
 * A family's samples must follow its header with no other family between;
 * the caller orders them.  Threads: one owner per buffer.
 */
#ifndef KVT_CORE_PROM_TEXT_H
#define KVT_CORE_PROM_TEXT_H

#include <stddef.h>
#include <stdint.h>

#include "core/histo.h"

struct prom_text {
	char *buf;	/* NUL-terminated; mem_free() it */
	size_t len, cap;
	int err;	/* -ENOMEM once an append failed: the text is incomplete */
};

/* prom_printf() - append formatted text. */
void prom_printf(struct prom_text *t, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* prom_family() - "# HELP" and "# TYPE" lines; @type counter, gauge or histogram. */
void prom_family(struct prom_text *t, const char *name, const char *type, const char *help);

/* prom_sample() - "name{labels} value"; @labels like `tier="l1"`, or "". */
void prom_sample(struct prom_text *t, const char *name, const char *labels, uint64_t value);

/* prom_histo() - the _bucket (cumulative, le in seconds), _sum (seconds)
 * and _count series of @s under family @name. */
void prom_histo(struct prom_text *t, const char *name, const char *labels,
		const struct histo_snap *s);

#endif /* KVT_CORE_PROM_TEXT_H */
