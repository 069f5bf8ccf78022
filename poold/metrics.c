/* SPDX-License-Identifier: Apache-2.0 */
/* poold/metrics.c - see metrics.h. */
#include "poold/metrics.h"

#include <errno.h>
#include <stdio.h>

#include "core/mem.h"
#include "core/metrics_http.h"
#include "core/prom_text.h"

static const struct {
	uint32_t type;
	const char *name;
} rpc_kinds[POOLD_RPC_KINDS - 1] = {
	{ MARU_REQUEST_ALLOC, "request_alloc" },
	{ MARU_RETURN_ALLOC, "return_alloc" },
	{ MARU_LIST_ALLOCATIONS, "list_allocations" },
	{ MARU_REGISTER_KV, "register_kv" },
	{ MARU_LOOKUP_KV, "lookup_kv" },
	{ MARU_EXISTS_KV, "exists_kv" },
	{ MARU_DELETE_KV, "delete_kv" },
	{ MARU_PIN_KV, "pin_kv" },
	{ MARU_UNPIN_KV, "unpin_kv" },
	{ MARU_BATCH_REGISTER_KV, "batch_register_kv" },
	{ MARU_BATCH_LOOKUP_KV, "batch_lookup_kv" },
	{ MARU_BATCH_EXISTS_KV, "batch_exists_kv" },
	{ MARU_BATCH_PIN_KV, "batch_pin_kv" },
	{ MARU_BATCH_UNPIN_KV, "batch_unpin_kv" },
	{ MARU_GET_STATS, "get_stats" },
	{ MARU_HEARTBEAT, "heartbeat" },
	{ MARU_REPORT_STATS, "report_stats" },
	{ MARU_GET_USAGE, "get_usage" },
	{ MARU_HANDSHAKE, "handshake" },
	{ MARU_SHUTDOWN, "shutdown" },
};

#define OTHER_KIND (POOLD_RPC_KINDS - 1)

void poold_metrics_rpc(struct pool *p, uint32_t type, uint64_t t0)
{
	uint32_t k = OTHER_KIND;

	for (uint32_t i = 0; i < OTHER_KIND; i++)
		if (rpc_kinds[i].type == type)
			k = i;
	/* one RPC thread: its shard is 0 */
	histo_record(&p->metrics->rpc[k], 0, histo_now_ns() - t0);
}

#define CTR(p, f) atomic_load_explicit(&(p)->ctr.f, memory_order_relaxed)

static void render(void *arg, struct prom_text *t)
{
	struct pool *p = arg;
	struct histo_snap s;
	char label[64];

	prom_family(t, "kvtier_poold_requests_total", "counter", "RPC requests received");
	prom_sample(t, "kvtier_poold_requests_total", "", CTR(p, requests));
	prom_family(t, "kvtier_poold_errors_total", "counter",
		    "RPC requests refused as malformed, by reason");
	prom_sample(t, "kvtier_poold_errors_total", "reason=\"bad_header\"", CTR(p, bad_header));
	prom_sample(t, "kvtier_poold_errors_total", "reason=\"bad_payload\"", CTR(p, bad_payload));
	prom_sample(t, "kvtier_poold_errors_total", "reason=\"oversized\"", CTR(p, oversized));
	prom_sample(t, "kvtier_poold_errors_total", "reason=\"unknown_type\"",
		    CTR(p, unknown_type));
	prom_family(t, "kvtier_poold_rm_requests_total", "counter",
		    "resource-manager requests received");
	prom_sample(t, "kvtier_poold_rm_requests_total", "", CTR(p, rm_requests));
	prom_family(t, "kvtier_poold_rm_errors_total", "counter",
		    "resource-manager requests refused, by reason");
	prom_sample(t, "kvtier_poold_rm_errors_total", "reason=\"malformed\"", CTR(p, rm_bad));
	prom_sample(t, "kvtier_poold_rm_errors_total", "reason=\"bad_token\"",
		    CTR(p, rm_bad_token));
	prom_sample(t, "kvtier_poold_rm_errors_total", "reason=\"bad_peer\"", CTR(p, rm_bad_peer));
	prom_family(t, "kvtier_poold_clients", "gauge", "live RPC connections");
	prom_sample(t, "kvtier_poold_clients", "", CTR(p, clients));
	prom_family(t, "kvtier_poold_clients_gone_total", "counter",
		    "clients gone (closed, SHUTDOWN or lease expired)");
	prom_sample(t, "kvtier_poold_clients_gone_total", "", CTR(p, clients_gone));
	prom_family(t, "kvtier_poold_leases_expired_total", "counter",
		    "clients dropped for missing heartbeats");
	prom_sample(t, "kvtier_poold_leases_expired_total", "", CTR(p, leases_expired));
	prom_family(t, "kvtier_poold_pool_bytes", "gauge", "size of each pool");
	for (uint32_t i = 0; i < p->ndevs; i++) {
		snprintf(label, sizeof(label), "pool=\"%u\"", i);
		prom_sample(t, "kvtier_poold_pool_bytes", label, p->devs[i].size);
	}
	prom_family(t, "kvtier_poold_pool_free_bytes", "gauge",
		    "bytes of each pool no region holds");
	for (uint32_t i = 0; i < p->ndevs; i++) {
		snprintf(label, sizeof(label), "pool=\"%u\"", i);
		prom_sample(t, "kvtier_poold_pool_free_bytes", label,
			    atomic_load_explicit(&p->devs[i].free_bytes, memory_order_relaxed));
	}
	if (p->shidx.hdr) {
		/* the header's counters are atomics the index actor stores:
		 * a relaxed load is a whole value, perhaps a moment old */
		const struct shidx_hdr *h = p->shidx.hdr;

		prom_family(t, "kvtier_poold_shared_index_slots", "gauge",
			    "slots of the shared index");
		prom_sample(t, "kvtier_poold_shared_index_slots", "", h->nslots);
		prom_family(t, "kvtier_poold_shared_index_keys", "gauge",
			    "keys the shared index holds, and tombstones of deleted ones");
		prom_sample(t, "kvtier_poold_shared_index_keys", "state=\"live\"",
			    atomic_load_explicit(&h->live, memory_order_relaxed));
		prom_sample(t, "kvtier_poold_shared_index_keys", "state=\"tombstone\"",
			    atomic_load_explicit(&h->tombs, memory_order_relaxed));
		prom_family(t, "kvtier_poold_shared_index_incomplete", "gauge",
			    "1 while a key the index could not take is live: readers ask the RPC");
		prom_sample(t, "kvtier_poold_shared_index_incomplete", "",
			    !!(atomic_load_explicit(&h->flags, memory_order_relaxed) &
			       SHIDX_INCOMPLETE));
		prom_family(t, "kvtier_poold_shared_index_refused_total", "counter",
			    "keys the shared index could not take (full)");
		prom_sample(t, "kvtier_poold_shared_index_refused_total", "",
			    atomic_load_explicit(&h->refused, memory_order_relaxed));
		prom_family(t, "kvtier_poold_shared_index_rebuilds_total", "counter",
			    "rebuilds that cleared the shared index's tombstones");
		prom_sample(t, "kvtier_poold_shared_index_rebuilds_total", "",
			    atomic_load_explicit(&h->rebuilds, memory_order_relaxed));
	}
	prom_family(t, "kvtier_poold_rpc_seconds", "histogram",
		    "RPC latency by request type, receipt to reply ready to send");
	for (uint32_t k = 0; k < POOLD_RPC_KINDS; k++) {
		histo_read(&p->metrics->rpc[k], &s);
		snprintf(label, sizeof(label), "type=\"%s\"",
			 k < OTHER_KIND ? rpc_kinds[k].name : "other");
		prom_histo(t, "kvtier_poold_rpc_seconds", label, &s);
	}
}

int poold_metrics_start(struct pool *p, const char *addr, char *err, size_t errlen)
{
	struct poold_metrics *m = mem_aligned_zalloc(64, sizeof(*m));
	int ret;

	if (!m)
		return -ENOMEM;
	p->metrics = m;
	ret = metrics_http_start(addr, render, p, &m->http, err, errlen);
	if (ret) {
		p->metrics = NULL;
		mem_free(m);
	}
	return ret;
}

void poold_metrics_stop(struct pool *p)
{
	if (!p->metrics)
		return;
	metrics_http_stop(p->metrics->http);
	mem_free(p->metrics);
	p->metrics = NULL;
}
