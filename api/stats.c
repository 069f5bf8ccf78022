/* SPDX-License-Identifier: Apache-2.0 */
/*
 * api/stats.c - kvt_stats() and its Prometheus text form.  Every counter is
 * read with a relaxed atomic load; the set is not one snapshot.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "core/instance.h"
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

ssize_t kvt_stats_prometheus(struct kvt *kvt, char *buf, size_t len)
{
	struct kvt_stats st;
	size_t used = 0;

	if (!kvt || (!buf && len))
		return -EINVAL;
	fill_stats(kvt, &st);
	if (len)
		buf[0] = '\0';
	for (size_t i = 0; i < NROWS; i++) {
		const struct stats_row *r = &stats_rows[i];
		uint64_t v;

		kvt_stats_field(&st, i, NULL, NULL, NULL, &v);
		int n = snprintf(buf + used, len > used ? len - used : 0,
				 "# HELP kvtier_%s %s\n# TYPE kvtier_%s %s\nkvtier_%s %llu\n",
				 r->name, r->help, r->name, r->type, r->name,
				 (unsigned long long)v);

		if (n < 0 || used + (size_t)n >= len)
			return -ENOSPC;
		used += (size_t)n;
	}
	return (ssize_t)used;
}
