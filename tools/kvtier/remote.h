/* SPDX-License-Identifier: Apache-2.0 */
/*
 * tools/kvtier/remote.h - reading a running engine's or kvtier-poold's
 * /metrics endpoint: `kvtier stats --url` and `kvtier top`.
 *
 * Threads: the tool's main thread.
 */
#ifndef KVT_TOOLS_KVTIER_REMOTE_H
#define KVT_TOOLS_KVTIER_REMOTE_H

#include <stdio.h>

#include "core/histo.h"
#include "tools/common/prom_parse.h"

#define REMOTE_TIMEOUT_MS 5000

/* remote_scrape() - GET and parse @url; @text (may be NULL) receives the
 * raw text (free() it).  Prints why to stderr on failure.  Return: 0 or a
 * negative code. */
int remote_scrape(const char *url, struct prom_samples *s, char **text);

/* remote_histo() - histogram @name{@labels} (labels without le) of @s as
 * per-bucket counts.  Return: true when it exists. */
bool remote_histo(const struct prom_samples *s, const char *name, const char *labels,
		  struct histo_snap *out);

/* remote_print() - every sample as a table, each histogram as its count
 * and p50/p99 instead of its buckets. */
void remote_print(FILE *f, const struct prom_samples *s);

/* `kvtier top ...`; @argv[0] is "top".  Return: an exit code. */
int top_main(int argc, char **argv);

#endif
