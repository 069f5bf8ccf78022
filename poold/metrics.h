/* SPDX-License-Identifier: Apache-2.0 */
/*
 * poold/metrics.h - kvtier-poold's /metrics endpoint (--metrics ADDR):
 * RPC latency histograms by request type, request and error counters,
 * clients, and each pool's size and free bytes, served by
 * core/metrics_http.c.
 */
#ifndef KVT_POOLD_METRICS_H
#define KVT_POOLD_METRICS_H

#include <stdint.h>

#include "core/histo.h"
#include "poold/pool.h"

#define POOLD_RPC_KINDS 21	/* the Maru request types, then "other" */

struct metrics_http;

struct poold_metrics {
	struct histo rpc[POOLD_RPC_KINDS];	/* receipt to reply ready */
	struct metrics_http *http;
};

/*
 * poold_metrics_start() - allocate the histograms, publish them in
 * p->metrics and serve @addr.  Before the front ends start.
 * Return: 0, or a negative code with @err naming @addr.
 */
int poold_metrics_start(struct pool *p, const char *addr, char *err, size_t errlen);

/* poold_metrics_stop() - stop serving and free; after the front ends stopped. */
void poold_metrics_stop(struct pool *p);

/* poold_metrics_rpc() - one request of Maru type @type took since @t0.
 * Threads: the RPC front end. */
void poold_metrics_rpc(struct pool *p, uint32_t type, uint64_t t0);

#endif /* KVT_POOLD_METRICS_H */
