/* SPDX-License-Identifier: Apache-2.0 */
/*
 * core/tier.h - one storage tier: a slot arena and the map of the keys it
 * holds.  L1 DRAM and the Device-DAX arena are both tiers; a key may live in
 * several at once (tiered mode keeps every chunk in DAX and the hot ones in
 * L1), each copy with its own entry, pins and borrows.
 *
 * Threads: tier_lookup_rcu() any thread inside a read section; everything
 * that links, unlinks or frees is the index actor's (actors/index.c).
 */
#ifndef KVT_CORE_TIER_H
#define KVT_CORE_TIER_H

#include <stdalign.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "core/entry.h"
#include "core/rcu.h"
#include "core/slots.h"

struct daxfmt;

/* Per-tier counters, bumped by any thread (relaxed). */
struct tier_counters {
	alignas(64) _Atomic uint64_t hits;
	_Atomic uint64_t misses;
	_Atomic uint64_t bytes_in;
	_Atomic uint64_t bytes_out;
	alignas(64) _Atomic uint64_t entries;
	_Atomic uint64_t evictions;
};

struct tier {
	const char *name;               /* "l1", "dax" */
	struct slots slots;
	struct cds_lfht *map;           /* [rcu] linked by the index actor only */
	uint32_t clock_hand;            /* index actor only */
	uint32_t evict_low;             /* free slots below which eviction runs; 0: never */
	uint32_t evict_high;            /* free slots eviction stops at */
	struct daxfmt *fmt;             /* slot headers kept on the device, or NULL */
	void *owner;                    /* the struct kvt, for eviction kicks */
	_Atomic uint32_t evict_kicked;  /* an INDEX_EVICT is in flight */
	struct tier_counters c;
};

#define TIER_COUNT(t, field, n) \
	atomic_fetch_add_explicit(&(t)->c.field, (uint64_t)(n), memory_order_relaxed)
#define TIER_UNCOUNT(t, field, n) \
	atomic_fetch_sub_explicit(&(t)->c.field, (uint64_t)(n), memory_order_relaxed)

/*
 * tier_map_new() - the tier's map, sized for every slot: a fixed-size table
 * (no auto-resize; a resizing table looked keys up 2-8x slower here).
 * Return: 0 or -ENOMEM.
 */
int tier_map_new(struct tier *t);
void tier_map_destroy(struct tier *t);

/*
 * tier_lookup_rcu() - the entry of @key in @t (possibly dead), or NULL.
 * Call with rcu_read_lock held; the entry stays valid until the unlock
 * unless a borrow or pin is taken on it.
 */
struct entry *tier_lookup_rcu(struct tier *t, const struct kvt_key *key);

/* tier_match() - cds_lfht match function on entry keys. */
int tier_match(struct cds_lfht_node *node, const void *key);

static inline void *tier_slot_ptr(const struct tier *t, uint32_t slot)
{
	return slots_ptr(&t->slots, slot);
}

static inline void *entry_data(const struct entry *e)
{
	return slots_ptr(&e->tier->slots, e->slot);
}

#endif /* KVT_CORE_TIER_H */
