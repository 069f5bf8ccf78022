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
	out->l1_hits = TLOAD(&kvt->l1, hits);
	out->l1_misses = TLOAD(&kvt->l1, misses);
	out->l1_bytes_in = TLOAD(&kvt->l1, bytes_in);
	out->l1_bytes_out = TLOAD(&kvt->l1, bytes_out);
	out->l1_entries = TLOAD(&kvt->l1, entries);
	out->l1_slots = kvt->l1.slots.nslots;
	out->l1_free_slots = kvt->l1.slots.nslots ? slots_free_count(&kvt->l1.slots) : 0;
	out->l1_evictions = TLOAD(&kvt->l1, evictions);
	out->puts = LOAD(kvt, puts);
	out->put_duplicates = LOAD(kvt, put_duplicates);
	out->put_errors = LOAD(kvt, put_errors);
	out->removes = LOAD(kvt, removes);
	out->remove_refused = LOAD(kvt, remove_refused);
	out->pinned_entries = LOAD(kvt, pinned_entries);
	out->pins = LOAD(kvt, pins);
	out->unpins = LOAD(kvt, unpins);
	out->unpin_underflows = LOAD(kvt, unpin_underflows);
	out->pin_force_releases = LOAD(kvt, pin_force_releases);
	out->borrows_active = LOAD(kvt, borrows_active);
	out->prefetches = LOAD(kvt, prefetches);
	out->prefetch_hits = LOAD(kvt, prefetch_hits);
	out->errors = LOAD(kvt, errors);
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
	out->dax_write_errors = LOAD(kvt, dax_write_errors);
	out->dax_write_dropped = LOAD(kvt, dax_write_dropped);
	out->restore_waves = LOAD(kvt, restore_waves);
	out->restore_regions = LOAD(kvt, restore_regions);
	out->restore_spans_merged = LOAD(kvt, restore_spans_merged);
	out->restore_errors = LOAD(kvt, restore_errors);
	out->dax_promotions = LOAD(kvt, dax_promotions);
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
	out->l2_hits = LOAD(kvt, l2_hits);
	out->l2_misses = LOAD(kvt, l2_misses);
	out->l2_bytes_in = LOAD(kvt, l2_bytes_in);
	out->l2_bytes_out = LOAD(kvt, l2_bytes_out);
	out->l2_write_errors = LOAD(kvt, l2_write_errors);
	out->l2_write_dropped = LOAD(kvt, l2_write_dropped);
	out->l2_admissions = LOAD(kvt, l2_admissions);
	out->l2_promotions = LOAD(kvt, l2_promotions);
	out->staging_inflight = LOAD(kvt, staging_inflight);
	out->staging_timeouts = LOAD(kvt, staging_timeouts);
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

#define ROW(field, type, help) { #field, type, help, offsetof(struct kvt_stats, field) }

static const struct stats_row stats_rows[] = {
	ROW(lookups, "counter", "keys asked of contains"),
	ROW(lookup_hits, "counter", "keys in the cached prefixes contains returned"),
	ROW(l1_hits, "counter", "keys served from L1 by get, prefetch and borrow"),
	ROW(l1_misses, "counter", "keys get, prefetch and borrow did not find in L1"),
	ROW(l1_bytes_in, "counter", "bytes stored into L1"),
	ROW(l1_bytes_out, "counter", "bytes restored from L1"),
	ROW(l1_entries, "gauge", "chunks held in L1"),
	ROW(l1_slots, "gauge", "L1 slots"),
	ROW(l1_free_slots, "gauge", "L1 slots free"),
	ROW(l1_evictions, "counter", "L1 entries evicted by CLOCK"),
	ROW(puts, "counter", "chunks stored"),
	ROW(put_duplicates, "counter", "puts of keys already present or in flight"),
	ROW(put_errors, "counter", "puts refused (oversized, no slot, shutdown)"),
	ROW(removes, "counter", "keys removed"),
	ROW(remove_refused, "counter", "non-forced removes refused because pinned"),
	ROW(pinned_entries, "gauge", "entries with at least one pin"),
	ROW(pins, "counter", "pins taken"),
	ROW(unpins, "counter", "pins dropped by unpin"),
	ROW(unpin_underflows, "counter", "unpins of keys not pinned or absent"),
	ROW(pin_force_releases, "counter", "pins dropped by the pin-monitor after pin_ttl_ms"),
	ROW(borrows_active, "gauge", "zero-copy borrow leases held"),
	ROW(prefetches, "counter", "prefetch requests"),
	ROW(prefetch_hits, "counter", "chunks restored by prefetch"),
	ROW(dax_hits, "counter", "keys served from DAX by get, prefetch and borrow"),
	ROW(dax_misses, "counter", "keys get, prefetch and borrow did not find in DAX"),
	ROW(dax_bytes_in, "counter", "bytes written into DAX"),
	ROW(dax_bytes_out, "counter", "bytes restored from DAX"),
	ROW(dax_entries, "gauge", "chunks held in DAX"),
	ROW(dax_slots, "gauge", "DAX slots"),
	ROW(dax_free_slots, "gauge", "DAX slots free"),
	ROW(dax_evictions, "counter", "DAX entries evicted by CLOCK"),
	ROW(dax_recovered, "gauge", "chunks rebuilt from the device's slot headers at open"),
	ROW(dax_torn, "gauge", "torn or checksum-failing slots discarded at open"),
	ROW(dax_write_errors, "counter", "write-throughs to DAX that failed (chunk kept in L1 only)"),
	ROW(dax_write_dropped, "counter", "write-throughs skipped because the key was removed while queued"),
	ROW(dax_promotions, "counter", "DAX hits copied into L1"),
	ROW(dax_numa_node, "gauge", "NUMA node of the DAX device plus one (0: unknown or no DAX)"),
	ROW(restore_waves, "counter", "batched DAX restore waves run"),
	ROW(restore_regions, "counter", "batched DAX restore regions copied by the restore workers"),
	ROW(restore_spans_merged, "counter", "chunks restored in a neighbour's copy (coalesced spans)"),
	ROW(restore_errors, "counter", "batched DAX restores that failed"),
	ROW(mailbox_full_waits, "counter", "posts that found an actor mailbox full"),
	ROW(mailbox_timeouts, "counter", "posts that gave up on a full mailbox"),
	ROW(index_queue_depth, "gauge", "messages queued for the index actor"),
	ROW(restore_queue_depth, "gauge", "messages queued for restore workers"),
	ROW(errors, "counter", "internal errors"),
	ROW(l2_adapters, "gauge", "L2 adapters open"),
	ROW(l2_unhealthy, "gauge", "L2 adapters reporting is_healthy false"),
	ROW(l2_plugin_errors, "gauge", "L2 plugins skipped at open"),
	ROW(l2_hits, "counter", "keys get and prefetch loaded from L2 tiers"),
	ROW(l2_misses, "counter", "keys get and prefetch did not find in any L2 tier"),
	ROW(l2_bytes_in, "counter", "bytes written to L2 tiers"),
	ROW(l2_bytes_out, "counter", "bytes loaded from L2 tiers"),
	ROW(l2_write_errors, "counter", "chunks some L2 adapter failed to store"),
	ROW(l2_write_dropped, "counter", "L2 copies deleted again: the key was removed while its write ran"),
	ROW(l2_admissions, "counter", "chunks written to the L2 tiers on their l2.admit_after_hits-th read"),
	ROW(l2_promotions, "counter", "L2 hits copied into L1"),
	ROW(staging_inflight, "gauge", "L1 staging buffers waiting on L2 writes"),
	ROW(staging_timeouts, "counter", "puts that found no staging buffer within staging_wait_ms"),
};

#define NROWS (sizeof(stats_rows) / sizeof(stats_rows[0]))
_Static_assert(NROWS * sizeof(uint64_t) == sizeof(struct kvt_stats),
	       "stats_rows[] must describe every kvt_stats field");

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
