/* SPDX-License-Identifier: Apache-2.0 */
/*
 * poold/index_internal.h - what the daemon's index actor files share
 * (pool_index.c: maps, instances, connections, regions, pins, registry;
 * index_rpc.c: the RPC and RM handlers).  Index actor only, except the
 * lock-free lookups pool.h describes.
 */
#ifndef KVT_POOLD_INDEX_INTERNAL_H
#define KVT_POOLD_INDEX_INTERNAL_H

#include "poold/pool.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <xxhash.h>

#include "core/log.h"
#include "core/mem.h"
#include "core/waitword.h"

/* Buckets the key map starts with: about one per key of a large pool. */
#define POOL_KEY_BUCKETS (1ul << 20)

struct pool_instance {
	struct pool_instance *next;
	struct pool_region *regions;
	uint32_t live_conns;
	bool connected;
	uint32_t len;
	char id[MARU_ID_MAX + 1];
};

/* A connection owns the regions of every instance it named: Maru's own
 * benchmark allocates and registers for several instances over one. */
struct pool_conn {
	struct pool_conn *next;
	uint64_t cid;
	struct pool_instance **insts;
	uint32_t ninsts, capinsts;
	struct pool_pin *pins;
};

struct pool_pin {
	struct pool_entry *e;
	struct pool_conn *c;
	uint32_t count;
	uint64_t last_ms;
	struct pool_pin *e_next;              /* in e->pins */
	struct pool_pin *c_next, *c_prev;     /* in c->pins */
};

struct pool_index {
	struct pool_instance *instances;
	struct pool_conn *conns;
	struct pool_entry *pinned;            /* entries with pin_count > 0 */
	uint64_t next_region_id;
	/* stats, index actor only; read through GET_STATS */
	uint64_t entries, total_size, pinned_entries, total_pins;
	uint64_t force_unpins, refused_deletes, unpin_underflows, pin_cap_refusals;
	uint64_t refused_registers, num_allocations, total_allocated;
	uint64_t regions_freed, deferred_frees;
};

enum del_result { DEL_DELETED, DEL_PINNED, DEL_NOT_FOUND };

/* ---- pool_index.c ---- */
int conn_bind(struct pool_conn *c, struct pool_instance *in);
struct pool_conn *conn_get(struct pool_index *x, uint64_t cid, bool create);
enum del_result delete_one(struct pool *p, const struct maru_key *k);
struct pool_instance *instance_get(struct pool_index *x, const char *id, uint32_t len, bool create);
int pin_one(struct pool *p, struct pool_conn *c, const struct maru_key *k, uint64_t now);
int region_create(struct pool *p, struct pool_instance *in, uint64_t size, uint32_t pool_id,
	struct pool_region **out);
void region_release(struct pool *p, struct pool_region *r);
int register_one(struct pool *p, struct pool_conn *c, const struct maru_kv_entry *kv);
int unpin_one(struct pool *p, struct pool_conn *c, const struct maru_key *k);

/* ---- index_rpc.c ---- */
int on_rm_alloc(struct pool *p, const struct actor_msg *m);
int on_rm_free(struct pool *p, const struct actor_msg *m);
void on_rpc(struct pool *p, const struct actor_msg *m);

#endif /* KVT_POOLD_INDEX_INTERNAL_H */
