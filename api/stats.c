/* SPDX-License-Identifier: Apache-2.0 */
/*
 * api/stats.c - kvt_stats() and its Prometheus text form.  Every counter is
 * read with a relaxed atomic load; the set is not one snapshot.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "core/instance.h"
#include "core/mem.h"
#include "core/prom_text.h"
#include "l2/l2_registry.h"
#include "kvtier/l2.h"

#define LOAD(kvt, field) atomic_load_explicit(&(kvt)->c.field, memory_order_relaxed)
#define TLOAD(t, field) atomic_load_explicit(&(t)->c.field, memory_order_relaxed)

static void fill_stats(struct kvt *kvt, struct kvt_stats *out)
{
	struct actor_stats as;

	out->lookups = 0;
	out->lookup_hits = 0;
	for (int i = 0; i < KVT_SHARDS; i++) {
		out->lookups += atomic_load_explicit(&kvt->shards[i].lookups, memory_order_relaxed);
		out->lookup_hits += atomic_load_explicit(&kvt->shards[i].lookup_hits,
							 memory_order_relaxed);
	}
#define COPY(name) out->name = LOAD(kvt, name);
	KVT_INSTANCE_COUNTERS(COPY, COPY)
#undef COPY
	out->l1_hits = TLOAD(&kvt->l1, hits);
	out->l1_misses = TLOAD(&kvt->l1, misses);
	out->l1_bytes_in = TLOAD(&kvt->l1, bytes_in);
	out->l1_bytes_out = TLOAD(&kvt->l1, bytes_out);
	out->l1_entries = TLOAD(&kvt->l1, entries);
	out->l1_slots = kvt->l1.slots.nslots;
	out->l1_free_slots = kvt->l1.slots.nslots ? slots_free_count(&kvt->l1.slots) : 0;
	out->l1_evictions = TLOAD(&kvt->l1, evictions);
	out->dax_hits = TLOAD(&kvt->dax, hits);
	out->dax_misses = TLOAD(&kvt->dax, misses);
	out->dax_bytes_in = TLOAD(&kvt->dax, bytes_in);
	out->dax_bytes_out = TLOAD(&kvt->dax, bytes_out);
	out->dax_entries = TLOAD(&kvt->dax, entries);
	out->dax_slots = kvt->has_dax ? kvt->dax.slots.nslots : 0;
	out->dax_free_slots = kvt->has_dax ? slots_free_count(&kvt->dax.slots) : 0;
	out->dax_evictions = TLOAD(&kvt->dax, evictions);
	out->dax_recovered = kvt->dax_scan.recovered;
	out->dax_torn = kvt->dax_scan.torn;
	out->dax_numa_node = kvt->has_dax ? (uint64_t)(kvt->daxdev.numa_node + 1) : 0;
	actor_stats(&kvt->index, &as);
	out->index_queue_depth = as.depth;
	out->mailbox_full_waits = as.full_waits;
	out->mailbox_timeouts = as.timeouts;
	out->restore_queue_depth = 0;
	for (uint32_t i = 0; i < kvt->nprefetchers; i++) {
		actor_stats(&kvt->prefetchers[i], &as);
		out->restore_queue_depth += as.depth;
		out->mailbox_full_waits += as.full_waits;
		out->mailbox_timeouts += as.timeouts;
	}
	for (uint32_t i = 0; i < kvt->nrestorers; i++) {
		actor_stats(&kvt->restorers[i], &as);
		out->restore_queue_depth += as.depth;
		out->mailbox_full_waits += as.full_waits;
		out->mailbox_timeouts += as.timeouts;
	}
	out->l2_adapters = kvt->nl2;
	out->l2_unhealthy = 0;
	for (uint32_t i = 0; i < kvt->nl2; i++) {
		struct kvt_l2_status st = { .is_healthy = true };

		kvt->l2[i].ops->status(kvt->l2[i].a, &st);
		out->l2_unhealthy += !st.is_healthy;
	}
	out->l2_plugin_errors = kvt->l2reg ? kvt->l2reg->nerrors : 0;
	if (kvt->has_dax && kvt->primary == &kvt->l1) {
		actor_stats(&kvt->daxwriter, &as);
		out->restore_queue_depth += as.depth;
		out->mailbox_full_waits += as.full_waits;
		out->mailbox_timeouts += as.timeouts;
	}
}

ssize_t kvt_stats(struct kvt *kvt, struct kvt_stats *out, size_t size)
{
	struct kvt_stats all;

	if (!kvt || !out)
		return -EINVAL;
	fill_stats(kvt, &all);
	if (size > sizeof(all))
		size = sizeof(all);
	memcpy(out, &all, size);
	return (ssize_t)size;
}

struct stats_row {
	const char *name;
	const char *type;
	const char *help;
	size_t offset;
};

#define ROW(field, kind, help) { #field, #kind, help, offsetof(struct kvt_stats, field) },

static const struct stats_row stats_rows[] = { KVT_STATS_FIELDS(ROW) };

#define NROWS (sizeof(stats_rows) / sizeof(stats_rows[0]))

int kvt_stats_field(const struct kvt_stats *st, size_t i, const char **name,
		    const char **help, bool *gauge, uint64_t *value)
{
	const struct stats_row *r;

	if (i >= NROWS)
		return -ENOENT;
	r = &stats_rows[i];
	if (name)
		*name = r->name;
	if (help)
		*help = r->help;
	if (gauge)
		*gauge = r->type[0] == 'g';
	if (value && st)
		memcpy(value, (const char *)st + r->offset, sizeof(*value));
	return 0;
}

/*
 * Prometheus names: a counter is kvtier_<field>_total, a gauge
 * kvtier_<field>; the fields every tier has (l1_hits, dax_hits, l2_hits...)
 * are one family with a tier label instead.
 */
struct tier_family {
	const char *suffix;     /* the field after "l1_", "dax_" or "l2_" */
	const char *family;
	const char *help;
};

static const struct tier_family tier_families[] = {
	{ "hits", "kvtier_hits_total", "keys get, prefetch and borrow took from the tier" },
	{ "misses", "kvtier_misses_total", "keys get, prefetch and borrow did not find in the tier" },
	{ "bytes_in", "kvtier_written_bytes_total", "bytes written into the tier" },
	{ "bytes_out", "kvtier_read_bytes_total", "bytes restored from the tier" },
	{ "entries", "kvtier_entries", "chunks the tier holds" },
	{ "slots", "kvtier_slots", "slots of the tier" },
	{ "free_slots", "kvtier_free_slots", "slots of the tier free" },
	{ "evictions", "kvtier_evictions_total", "entries the tier evicted by CLOCK" },
};

#define NFAMILIES (sizeof(tier_families) / sizeof(tier_families[0]))

/* The tier family row @r belongs to and its tier, or NULL. */
static const struct tier_family *tier_family_of(const struct stats_row *r, const char **tier)
{
	static const char *const tiers[] = { "l1", "dax", "l2" };

	for (size_t t = 0; t < 3; t++) {
		size_t n = strlen(tiers[t]);

		if (strncmp(r->name, tiers[t], n) || r->name[n] != '_')
			continue;
		for (size_t f = 0; f < NFAMILIES; f++) {
			if (strcmp(r->name + n + 1, tier_families[f].suffix))
				continue;
			*tier = tiers[t];
			return &tier_families[f];
		}
	}
	return NULL;
}

static void render_tier_family(struct kvt *kvt, const struct kvt_stats *st,
			       const struct tier_family *tf, struct prom_text *t)
{
	bool header = false;

	for (size_t i = 0; i < NROWS; i++) {
		const char *tier = NULL;
		char label[32];
		uint64_t v;

		if (tier_family_of(&stats_rows[i], &tier) != tf)
			continue;
		if ((!kvt->has_dax && strcmp(tier, "dax") == 0) ||
		    (!kvt->nl2 && strcmp(tier, "l2") == 0))
			continue;
		if (!header)
			prom_family(t, tf->family, stats_rows[i].type, tf->help);
		header = true;
		kvt_stats_field(st, i, NULL, NULL, NULL, &v);
		snprintf(label, sizeof(label), "tier=\"%s\"", tier);
		prom_sample(t, tf->family, label, v);
	}
}

/* Each L2 adapter's label: its type, with its position when types repeat. */
static void l2_label(struct kvt *kvt, uint32_t a, char *buf, size_t len)
{
	bool repeated = false;

	for (uint32_t b = 0; b < kvt->nl2; b++)
		repeated |= b != a && strcmp(kvt->l2[b].ops->type, kvt->l2[a].ops->type) == 0;
	if (repeated)
		snprintf(buf, len, "tier=\"%s%u\"", kvt->l2[a].ops->type, a);
	else
		snprintf(buf, len, "tier=\"%s\"", kvt->l2[a].ops->type);
}

static void render_l2_status(struct kvt *kvt, struct prom_text *t)
{
	static const struct { const char *name, *help; size_t off; } g[] = {
		{ "kvtier_l2_used_bytes", "bytes an L2 adapter holds",
		  offsetof(struct kvt_l2_status, bytes_used) },
		{ "kvtier_l2_capacity_bytes", "capacity of an L2 adapter (0: unbounded)",
		  offsetof(struct kvt_l2_status, capacity_bytes) },
		{ "kvtier_l2_chunks", "chunks an L2 adapter holds, where it knows",
		  offsetof(struct kvt_l2_status, chunks) },
		{ "kvtier_l2_healthy", "1 while an L2 adapter reports is_healthy",
		  offsetof(struct kvt_l2_status, is_healthy) },
	};
	struct kvt_l2_status st[KVT_L2_MAX_ADAPTERS];
	char label[64];

	if (!kvt->nl2)
		return;
	for (uint32_t a = 0; a < kvt->nl2; a++) {
		memset(&st[a], 0, sizeof(st[a]));
		st[a].is_healthy = true;
		kvt->l2[a].ops->status(kvt->l2[a].a, &st[a]);
	}
	for (size_t k = 0; k < sizeof(g) / sizeof(g[0]); k++) {
		prom_family(t, g[k].name, "gauge", g[k].help);
		for (uint32_t a = 0; a < kvt->nl2; a++) {
			const char *f = (const char *)&st[a] + g[k].off;
			uint64_t v;

			if (g[k].off == offsetof(struct kvt_l2_status, is_healthy))
				v = st[a].is_healthy;
			else
				memcpy(&v, f, sizeof(v));
			l2_label(kvt, a, label, sizeof(label));
			prom_sample(t, g[k].name, label, v);
		}
	}
}

static void render_histograms(struct kvt *kvt, struct prom_text *t)
{
	static const char *const names[KVT_OP_COUNT][2] = {
		[KVT_OP_PUT] = { "kvtier_put_seconds", "kvt_put latency per call (a batch)" },
		[KVT_OP_CONTAINS] = { "kvtier_contains_seconds", "kvt_contains latency per call" },
		[KVT_OP_GET] = { "kvtier_get_seconds",
				 "kvt_get and kvt_get_sink latency per call (a batch restore)" },
		[KVT_OP_PREFETCH] = { "kvtier_prefetch_seconds",
				      "kvt_prefetch submit to completion" },
	};
	struct histo_snap s;
	char label[64];

	for (int op = 0; op < KVT_OP_COUNT; op++) {
		histo_read(&kvt->metrics->op[op], &s);
		prom_family(t, names[op][0], "histogram", names[op][1]);
		prom_histo(t, names[op][0], "", &s);
	}
	if (!kvt->nl2)
		return;
	prom_family(t, "kvtier_l2_store_seconds", "histogram",
		    "an L2 adapter's store of a write window, submit to completion");
	for (uint32_t a = 0; a < kvt->nl2; a++) {
		histo_read(&kvt->metrics->l2_store[a], &s);
		l2_label(kvt, a, label, sizeof(label));
		prom_histo(t, "kvtier_l2_store_seconds", label, &s);
	}
	prom_family(t, "kvtier_l2_load_seconds", "histogram",
		    "an L2 adapter's load of a get's or prefetch's keys, submit to completion");
	for (uint32_t a = 0; a < kvt->nl2; a++) {
		histo_read(&kvt->metrics->l2_load[a], &s);
		l2_label(kvt, a, label, sizeof(label));
		prom_histo(t, "kvtier_l2_load_seconds", label, &s);
	}
}

void stats_render(struct kvt *kvt, struct prom_text *t)
{
	bool done[NFAMILIES] = { false };
	struct kvt_stats st;
	char name[96];

	fill_stats(kvt, &st);
	for (size_t i = 0; i < NROWS; i++) {
		const struct stats_row *r = &stats_rows[i];
		const struct tier_family *tf;
		const char *tier;
		bool gauge;
		uint64_t v;

		tf = tier_family_of(r, &tier);
		if (tf) {
			if (!done[tf - tier_families])
				render_tier_family(kvt, &st, tf, t);
			done[tf - tier_families] = true;
			continue;
		}
		kvt_stats_field(&st, i, NULL, NULL, &gauge, &v);
		snprintf(name, sizeof(name), "kvtier_%s%s", r->name, gauge ? "" : "_total");
		prom_family(t, name, r->type, r->help);
		prom_sample(t, name, "", v);
	}
	render_l2_status(kvt, t);
	if (kvt->metrics)
		render_histograms(kvt, t);
}

ssize_t kvt_stats_prometheus(struct kvt *kvt, char *buf, size_t len)
{
	struct prom_text t = { 0 };
	ssize_t ret;

	if (!kvt || (!buf && len))
		return -EINVAL;
	stats_render(kvt, &t);
	if (t.err)
		ret = t.err;
	else if (t.len >= len)
		ret = -ENOSPC;
	else
		ret = (ssize_t)t.len;
	if (len)
		buf[0] = '\0';
	if (ret > 0)
		memcpy(buf, t.buf, t.len + 1);
	mem_free(t.buf);
	return ret;
}
