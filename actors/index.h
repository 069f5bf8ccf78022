/* SPDX-License-Identifier: Apache-2.0 */
/*
 * actors/index.h - the index actor: the single writer of every tier's key ->
 * entry map and slot table.  It inserts committed entries, removes keys,
 * evicts with CLOCK between the L1 watermarks, and gives slots back.
 * Everyone else reads the map lock-free under RCU.
 */
#ifndef KVT_ACTORS_INDEX_H
#define KVT_ACTORS_INDEX_H

#include <stddef.h>
#include <stdint.h>

#include "core/actor.h"
#include "kvtier.h"

struct kvt;
struct tier;
struct entry;

enum index_op {
	INDEX_INSERT = 1, /* ptr[0] struct index_insert *; done */
	INDEX_REMOVE,     /* ptr[0] struct index_remove *; done */
	INDEX_SLOT_FREE,  /* ptr[0] tier, u32 slot, u64[0] gen: an uncommitted reservation */
	INDEX_DEAD_FREE,  /* ptr[0] entry whose last borrow left after removal */
	INDEX_EVICT,      /* ptr[0] tier: evict up to its high watermark */
	INDEX_BARRIER,    /* done: everything posted before has been handled */
};

/* On the caller's stack while it waits for the completion. */
struct index_insert {
	struct entry **entries; /* n entries; a duplicate's entry is freed here */
	size_t n;
	int *results;           /* per entry: 0 inserted, 1 duplicate */
	bool keep_dup_slot;     /* a duplicate's slot stays RESERVED (kvt_commit) */
	const struct entry *source; /* n == 1: the entry copied; dead -> -ENOENT */
};

struct index_remove {
	const struct kvt_key *keys;
	size_t n;
	bool force;
	int *results;           /* optional: 0, -EBUSY, -ENOENT */
	size_t removed;
};

extern const struct actor_ops index_actor_ops;

/* Remove and free every entry; only after every actor has stopped (or
 * before any started). */
void index_destroy_all(struct kvt *kvt);
void index_destroy_tier(struct tier *t);

#endif /* KVT_ACTORS_INDEX_H */
