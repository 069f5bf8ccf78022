/* SPDX-License-Identifier: Apache-2.0 */
/*
 * tools/kvtier-stress/tier_l2.c - what the L2 tiers of kvtier-stress (fs,
 * resp, pool) share: the adapter's status report, the end of the fault
 * thread of fs and resp and its counts, and the parts of their reports
 * that read alike.
 *
 * Threads: l2_status() and l2_injected() any; everything else main.
 */
#define _GNU_SOURCE
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tools/kvtier-stress/stress.h"
#include "kvtier/l2.h"

/* ---- the adapter's report ---- */

/* The value of "@key=N" in a status detail ("k=v k=v ..."), or 0. */
static uint64_t detail_u64(const char *detail, const char *key)
{
	size_t klen = strlen(key);

	for (const char *p = detail; (p = strstr(p, key)); p += klen) {
		if ((p == detail || p[-1] == ' ') && p[klen] == '=')
			return strtoull(p + klen + 1, NULL, 10);
	}
	return 0;
}

void l2_status(struct kvt *kvt, struct l2_status *out)
{
	struct kvt_l2_status st;
	const char *type;

	memset(out, 0, sizeof(*out));
	for (size_t i = 0; kvt_l2_report(kvt, i, &type, &st) == 0; i++) {
		if (strcmp(type, "fs") && strcmp(type, "resp") && strcmp(type, "pool"))
			continue;
		out->found = true;
		out->healthy = st.is_healthy;
		out->nodes = detail_u64(st.detail, "nodes");
		out->nodes_up = detail_u64(st.detail, "nodes_up");
		out->round_trips = detail_u64(st.detail, "round_trips");
		out->redirections = detail_u64(st.detail, "redirections");
		out->map_refreshes = detail_u64(st.detail, "map_refreshes");
		out->refused = detail_u64(st.detail, "refused");
		out->reconnects = detail_u64(st.detail, "reconnects");
		out->corrupt = detail_u64(st.detail, "corrupt");
		out->chunks = st.chunks;
		out->bytes_used = st.bytes_used;
		out->errors = st.errors;
		out->corrupt_removed = detail_u64(st.detail, "corrupt_removed");
		out->evictions = detail_u64(st.detail, "evictions");
		out->regions = detail_u64(st.detail, "regions");
		out->foreign_regions = detail_u64(st.detail, "foreign_regions");
		out->pages_used = detail_u64(st.detail, "pages_used");
		out->rpc_errors = detail_u64(st.detail, "rpc_errors");
		out->rm_errors = detail_u64(st.detail, "rm_errors");
		out->lost_races = detail_u64(st.detail, "lost_races");
		out->unknown = detail_u64(st.detail, "unknown_outcome");
		out->stores = detail_u64(st.detail, "stores");
		out->loads = detail_u64(st.detail, "loads");
		out->foreign_loads = detail_u64(st.detail, "foreign_loads");
		out->pins = detail_u64(st.detail, "pins");
		out->unpins = detail_u64(st.detail, "unpins");
		out->reclaimed = detail_u64(st.detail, "reclaimed");
		out->renewals = detail_u64(st.detail, "renewals");
		out->index_answers = detail_u64(st.detail, "index_answers");
		out->index_fallbacks = detail_u64(st.detail, "index_fallbacks");
		return;
	}
}

void l2_at_close(struct stress *s, struct reopen *r)
{
	l2_status(s->kvt, &r->l2_close);
}

void l2_scan_free(struct l2_scan *sc)
{
	free(sc->state);
	sc->state = NULL;
}

/* ---- the fault thread ---- */

void l2_fault_join(struct stress *s)
{
	if (!s->fault.running)
		return;
	pthread_join(s->fault.thread, NULL);
	s->fault.running = false;
}

uint64_t l2_injected(struct stress *s)
{
	uint64_t n = 0;

	for (int k = 0; k < CORRUPT_N; k++)
		n += atomic_load_explicit(&s->fault.injected[k], memory_order_relaxed);
	return n;
}

void l2_fault_free(struct stress *s)
{
	free(s->fault.marks);
	free(s->fault.buf);
	s->fault.marks = NULL;
	s->fault.buf = NULL;
}

/* ---- the report ---- */

static uint64_t injected(struct stress *s, enum corrupt_kind k)
{
	return atomic_load_explicit(&s->fault.injected[k], memory_order_relaxed);
}

void l2_report_corrupted(struct stress *s, const char *unit)
{
	printf("%" PRIu64 " %ss corrupted (%" PRIu64 " payload flips, %" PRIu64 " header flips, %"
	       PRIu64 " truncated, %" PRIu64 " replaced by garbage, %" PRIu64
	       " by another key's %s)",
	       l2_injected(s), unit, injected(s, CORRUPT_PAYLOAD), injected(s, CORRUPT_HEADER),
	       injected(s, CORRUPT_TRUNCATE), injected(s, CORRUPT_GARBAGE),
	       injected(s, CORRUPT_FOREIGN), unit);
}

void l2_json_corrupted(struct stress *s)
{
	printf("\"corrupted\":{\"payload\":%" PRIu64 ",\"header\":%" PRIu64 ",\"truncate\":%" PRIu64
	       ",\"garbage\":%" PRIu64 ",\"foreign\":%" PRIu64 "}", injected(s, CORRUPT_PAYLOAD),
	       injected(s, CORRUPT_HEADER), injected(s, CORRUPT_TRUNCATE),
	       injected(s, CORRUPT_GARBAGE), injected(s, CORRUPT_FOREIGN));
}

void l2_report_reopen(const struct reopen *r, const char *unit)
{
	if (!r->done)
		return;
	printf("reopen: %" PRIu64 " %ss (%" PRIu64 " intact, %" PRIu64 " corrupted, %" PRIu64
	       " of them shorter than a header), %" PRIu64 " read back, %" PRIu64
	       " intact not served, %" PRIu64 " corrupted served, %" PRIu64 " corrupt\n",
	       r->scan.files, unit, r->scan.intact, r->scan.corrupt,
	       r->scan.corrupt - r->scan.corrupt_seen, r->read, r->missed, r->served_bad,
	       r->corrupt);
}

void l2_json_reopen(const struct reopen *r, const char *unit)
{
	printf("\"reopen\":{\"%ss\":%" PRIu64 ",\"intact\":%" PRIu64 ",\"corrupted\":%" PRIu64
	       ",\"read\":%" PRIu64 ",\"missed\":%" PRIu64 ",\"served_corrupted\":%" PRIu64
	       ",\"corrupt\":%" PRIu64 "}", unit, r->scan.files, r->scan.intact, r->scan.corrupt,
	       r->read, r->missed, r->served_bad, r->corrupt);
}
