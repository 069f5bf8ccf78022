/* SPDX-License-Identifier: Apache-2.0 */
/*
 * core/kvt_metrics.h - the engine's latency histograms, kept only while
 * metrics.listen is set (struct kvt's metrics pointer is NULL otherwise,
 * and every recording site costs one predictable branch).
 *
 * Recording: a thread adds to its kvt_shard() index's cell of the
 * histogram (core/histo.h), so the lookup path takes no lock and writes no
 * line another shard writes; a scrape merges the cells.
 */
#ifndef KVT_CORE_KVT_METRICS_H
#define KVT_CORE_KVT_METRICS_H

#include "core/histo.h"
#include "kvtier/l2.h"

enum kvt_op {
	KVT_OP_PUT,		/* kvt_put, per call (a batch) */
	KVT_OP_CONTAINS,	/* kvt_contains, per call */
	KVT_OP_GET,		/* kvt_get and kvt_get_sink, per call */
	KVT_OP_PREFETCH,	/* kvt_prefetch: submit to completion (callback, event fd) */
	KVT_OP_COUNT,
};

struct metrics_http;

struct kvt_metrics {
	struct histo op[KVT_OP_COUNT];
	/* per L2 adapter, in priority order: a write window's submit to that
	 * adapter's completion; a fetch's load submit to its completion */
	struct histo l2_store[KVT_L2_MAX_ADAPTERS];
	struct histo l2_load[KVT_L2_MAX_ADAPTERS];
	struct metrics_http *http;
};

#endif /* KVT_CORE_KVT_METRICS_H */
