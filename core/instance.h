/* SPDX-License-Identifier: Apache-2.0 */
/*
 * core/instance.h - struct kvt and what the api/ files share.
 *
 * Lifetime rule: every public call that touches the map, the slots or an
 * actor runs between kvt_enter() and kvt_exit(); so do outstanding
 * prefetches and leases.  kvt_close() sets closing, waits for the count of
 * those to reach zero, then stops the actors and frees.  Nothing is freed
 * while a call that could reach it is running.
 */
#ifndef KVT_CORE_INSTANCE_H
#define KVT_CORE_INSTANCE_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "core/actor.h"
#include "core/config.h"
#include "core/daxdev.h"
#include "core/daxfmt.h"
#include "core/entry.h"
#include "core/kvt_metrics.h"
#include "core/rcu.h"
#include "core/slots.h"
#include "core/tier.h"
#include "kvtier/l2.h"

#define KVT_MAX_PREFETCH_WORKERS 64
#define KVT_MAX_TIERS 2
#define KVT_MAX_RESTORE_WORKERS 64

/* The staging slab (api/slab.c): sets of 2 x restore_max_regions regions. */
#define SLAB_NO_SET UINT32_MAX

struct slab {
	char *base;
	size_t bytes;
	uint64_t region_bytes;
	uint32_t set_regions;
	uint32_t nsets;
	struct ck_ring free_sets;       /* [any thread] MPMC ring of set ids */
	struct slot_id *free_buf;
	/* [any thread] the set given back last, or SLAB_NO_SET: taken before the
	 * ring's, so one stream of batches keeps reusing memory it warmed */
	_Atomic uint32_t hot;
	_Atomic uint32_t locked;        /* mlock done (first slab_take_set()) */
	alignas(64) _Atomic uint32_t freed_seq;
	_Atomic uint32_t waiters;
};

/*
 * KVT_INSTANCE_COUNTERS(G, X) - the counters engine threads bump, each the
 * struct kvt_stats field of its name (kvt_stats() copies them by this list).
 * G starts a group on its own cache line, X goes on in it: a group is what
 * one kind of call bumps, so calls of different kinds do not share a line.
 */
#define KVT_INSTANCE_COUNTERS(G, X) \
	G(puts) X(put_duplicates) X(put_errors) X(removes) X(remove_refused) \
	G(pinned_entries) X(pins) X(unpins) X(unpin_underflows) X(pin_force_releases) \
	X(borrows_active) \
	G(prefetches) X(prefetch_hits) X(dax_write_errors) X(dax_write_dropped) \
	X(dax_promotions) \
	G(restore_waves) X(restore_regions) X(restore_spans_merged) X(restore_errors) X(errors) \
	G(l2_hits) X(l2_misses) X(l2_bytes_in) X(l2_bytes_out) X(l2_write_errors) \
	X(l2_write_dropped) X(l2_admissions) X(l2_promotions) X(staging_timeouts) \
	X(staging_inflight)

struct kvt_counters {
#define KVT_COUNTER_GROUP_(name) alignas(64) _Atomic uint64_t name;
#define KVT_COUNTER_(name) _Atomic uint64_t name;
	KVT_INSTANCE_COUNTERS(KVT_COUNTER_GROUP_, KVT_COUNTER_)
#undef KVT_COUNTER_GROUP_
#undef KVT_COUNTER_
};

/* One opened L2 adapter. */
struct l2_tier {
	const struct kvt_l2_ops *ops;
	struct kvt_l2_adapter *a;
};

struct l2_registry;
struct l2_conf_list;

/*
 * What every call touches lives in shards, one cache line each, so engine
 * threads calling kvt_contains() concurrently do not bounce a shared line.
 * A thread always uses the same shard; an operation may enter on one
 * thread and exit on another (a prefetch, a lease), so a shard's count can
 * wrap below zero: only the sum over shards means anything.
 */
#define KVT_SHARDS 16

struct kvt_shard {
	alignas(64) _Atomic uint64_t active; /* calls, prefetches, leases in flight */
	_Atomic uint64_t lookups;
	_Atomic uint64_t lookup_hits;
};

/* The prefault actor's state: its own but for @faulted. */
struct l1_ahead {
	size_t done;              /* bytes from the arena's start faulted in */
	size_t target;            /* where done is going */
	bool failed;              /* MADV_POPULATE_WRITE refused: do nothing */
	_Atomic uint64_t faulted; /* [atomic] done, for tests */
};

struct kvt {
	struct kvt_config cfg;
	struct kvt_key ns_seed;
	size_t chunk_bytes;
	struct tier l1;
	struct tier dax;
	bool has_dax;
	struct daxdev daxdev;
	struct daxfmt daxfmt;
	struct daxfmt_scan_stats dax_scan; /* what open recovered */
	struct tier *tiers[KVT_MAX_TIERS]; /* read order: fastest first */
	uint32_t ntiers;
	struct tier *primary;           /* where puts and leases land */
	struct call_rcu_data *crdp;     /* this instance's call_rcu thread */
	int event_fd;
	struct actor index;
	struct actor pinmon;
	struct actor l1ahead_actor;     /* l1.prefault_ahead (actors/prefault.h) */
	struct l1_ahead l1ahead;
	struct actor daxwriter;         /* tiered mode only */
	struct actor restorers[KVT_MAX_RESTORE_WORKERS]; /* DAX restore workers */
	uint32_t nrestorers;
	uint32_t restore_max_regions;   /* regions per restore wave */
	struct slab slab;               /* DAX tier only */
	struct l2_tier l2[KVT_L2_MAX_ADAPTERS]; /* priority order */
	uint32_t nl2;
	struct l2_registry *l2reg;
	struct l2_conf_list *l2conf;
	struct actor l2done;            /* finishes L2 write-throughs; when nl2 */
	alignas(64) _Atomic uint32_t l2_windows; /* write-through windows not finished */
	_Atomic uint32_t l2_finished_seq;        /* bumped by every finish, for kvt_flush() */
	bool staging;                   /* L1 slots only stage L2 writes (local_cpu false) */
	uint32_t l2_admit_hits;         /* l2.admit_after_hits with L2 tiers; 0: puts write through */
	struct actor prefetchers[KVT_MAX_PREFETCH_WORKERS];
	uint32_t nprefetchers;
	_Atomic uint64_t prefetch_ticket;
	alignas(64) _Atomic uint32_t closing;
	struct kvt_shard shards[KVT_SHARDS];
	struct kvt_metrics *metrics;    /* metrics.listen only; set before any call */
	alignas(64) _Atomic uint32_t drained_seq; /* bumped by every exit once closing */
	struct kvt_counters c;
};

/* kvt_exit() - end an operation admitted by kvt_enter().  Threads: any. */
void kvt_exit(struct kvt *kvt);

/* kvt_shard() - the calling thread's shard. */
struct kvt_shard *kvt_shard(struct kvt *kvt);

/* kvt_active() - operations in flight: the sum over shards. */
uint64_t kvt_active(struct kvt *kvt);

/*
 * kvt_enter() - admit one operation unless close has begun.
 * Return: true if admitted; pair with kvt_exit().
 * The seq_cst pair with kvt_close(): either close sees our increment, or we
 * see closing.
 */
static inline bool kvt_enter(struct kvt *kvt)
{
	atomic_fetch_add_explicit(&kvt_shard(kvt)->active, 1, memory_order_seq_cst);
	if (atomic_load_explicit(&kvt->closing, memory_order_seq_cst)) {
		kvt_exit(kvt);
		return false;
	}
	return true;
}

/* kvt_op_start() - a start time for kvt_op_done(), 0 with metrics off. */
static inline uint64_t kvt_op_start(const struct kvt *kvt)
{
	return kvt->metrics ? histo_now_ns() : 0;
}

/* kvt_op_done() - count the latency since @t0 in histogram @h of
 * kvt->metrics, in the calling thread's shard.  Threads: any. */
static inline void kvt_op_done(struct kvt *kvt, struct histo *h, uint64_t t0)
{
	histo_record(h, (unsigned int)(kvt_shard(kvt) - kvt->shards), histo_now_ns() - t0);
}

#define KVT_OP_DONE(kvt, which, t0) \
	do { \
		if ((kvt)->metrics) \
			kvt_op_done(kvt, &(kvt)->metrics->op[which], t0); \
	} while (0)

/* metrics_open() - with metrics.listen set, allocate the histograms and
 * start the endpoint; after everything else opened (a scrape reads it all).
 * metrics_close() stops and joins the endpoint, first thing at close;
 * metrics_free() frees the histograms once no operation can record. */
int metrics_open(struct kvt *kvt, char *err, size_t errlen);
void metrics_close(struct kvt *kvt);
void metrics_free(struct kvt *kvt);

struct prom_text;
/* stats_render() - the counters and histograms as Prometheus text. */
void stats_render(struct kvt *kvt, struct prom_text *t);

#define SHARD_COUNT(kvt, field, n) \
	atomic_fetch_add_explicit(&kvt_shard(kvt)->field, (uint64_t)(n), memory_order_relaxed)
#define COUNT(kvt, field, n) \
	atomic_fetch_add_explicit(&(kvt)->c.field, (uint64_t)(n), memory_order_relaxed)
#define UNCOUNT(kvt, field, n) \
	atomic_fetch_sub_explicit(&(kvt)->c.field, (uint64_t)(n), memory_order_relaxed)

/*
 * kvt_borrow_key() - borrow @key from the first tier (in read order) that
 * holds it, counting a miss in each tier that does not (the caller counts
 * the hit once the chunk is served).
 * Return: the borrowed entry, or NULL on a miss.  Pair with kvt_put_entry().
 * Threads: any, inside kvt_enter().
 */
struct entry *kvt_borrow_key(struct kvt *kvt, const struct kvt_key *key);

/* kvt_put_entry() - drop a borrow; the last borrow of a removed entry frees
 * its slot (waiting for the index actor).  Threads: any but the index actor. */
void kvt_put_entry(struct kvt *kvt, struct entry *e);

/* kvt_free_reserved_slot() - hand a RESERVED slot of @t back through the
 * index actor and wait until it is free; a slot must never leak, so it keeps
 * posting.  Threads: any but the index actor. */
void kvt_free_reserved_slot(struct kvt *kvt, struct tier *t, uint32_t slot, uint64_t gen);

/* kvt_new_entry() - an unpublished entry for a filled slot (allocates). */
struct entry *kvt_new_entry(struct tier *t, const struct kvt_key *key, uint32_t slot,
			    uint64_t gen, size_t len);

/* kvt_free_entry_unpublished() - free an entry the index never linked. */
void kvt_free_entry_unpublished(struct entry *e);

/*
 * kvt_copy_entry() - copy the chunk of @src (another tier's entry, held by
 * the caller; its bytes at @bytes) into tier @t, waiting at most @wait_ms
 * for a slot.  If @src is removed before the copy is linked, the copy is
 * dropped, so a removal is never undone.  No callback, no write-through.
 * Threads: any but the index actor, inside kvt_enter().
 * Return: 0 stored, 1 already in @t, or a negative code.
 */
int kvt_copy_entry(struct kvt *kvt, struct tier *t, const struct entry *src,
		   const void *bytes, unsigned int wait_ms);

/*
 * kvt_write_through() - tiered mode: write the L1 entry @e, borrowed by the
 * caller, through to DAX, on the DAX writer (dax.async_put; it fires @cb
 * and drops the borrow) or on this thread (then fires @cb itself).  The
 * borrow is always consumed.  Threads: any, inside kvt_enter().
 * Return: 0 written or queued; a negative code when it failed (the chunk
 * stays in L1 only, counted in dax_write_errors, no callback).
 */
int kvt_write_through(struct kvt *kvt, struct entry *e, kvt_put_cb cb, void *cb_arg,
		      size_t index);

/* kvt_promote() - tiered mode with dax.promote: queue a copy of the DAX
 * entry @e (borrowed by the caller) into L1 on the DAX writer, so the read
 * that found it in DAX does not wait for the fill.  Threads: any, inside
 * kvt_enter(). */
void kvt_promote(struct kvt *kvt, struct entry *e);

/*
 * kvt_restore_dax() - batched restore of @n borrowed DAX entries into host
 * destinations @dsts (each large enough for its entry) on the restore
 * workers; returns once every copy has finished or been skipped.  The
 * caller keeps the borrows until then and releases them afterwards.
 * Threads: any but a restore worker.  Blocks: until the batch is copied.
 * Allocates: the plan.
 * Return: 0, or the first error (a failed region; the other regions of its
 * wave still finished, no later wave ran).
 */
int kvt_restore_dax(struct kvt *kvt, struct entry *const *ents, void *const *dsts, size_t n);

/*
 * kvt_restore_plan_buf() - allocate a plan buffer of @plan_bytes followed by
 * the @n restore items of the borrowed DAX entries @ents (destinations
 * @dsts, or NULL for slab staging), and fill the items.
 * Return: the buffer (mem_free() it), or NULL without memory.
 */
struct restore_item;
void *kvt_restore_plan_buf(struct kvt *kvt, struct entry *const *ents, void *const *dsts,
			   size_t n, size_t plan_bytes, struct restore_item **items);

/*
 * kvt_copy_out() - copy borrowed entries (NULL: a hole) into @dsts, each
 * large enough: L1 chunks on this thread, DAX chunks as one batched restore;
 * set @out_lens (0 for holes and for DAX chunks of a failed restore),
 * promote DAX hits, and release every borrow once no copy runs.
 * Threads: any but a restore worker.
 * Return: chunks copied, or the restore's first error.
 */
ssize_t kvt_copy_out(struct kvt *kvt, struct entry **ents, void *const *dsts, size_t n,
		     size_t *out_lens);

/*
 * kvt_fill_tier() - copy chunks from the caller's buffers into tier @t, in
 * windows, waiting at most @wait_ms per slot for eviction: a cache fill, no
 * write-through, no callback.  @res (n) receives 0 stored, 1 present, or a
 * negative code.
 * Threads: any but the index actor, inside kvt_enter().
 */
void kvt_fill_tier(struct kvt *kvt, struct tier *t, const struct kvt_key *keys,
		   const void *const *bufs, const size_t *lens, size_t n, int *res,
		   unsigned int wait_ms);

/* L2 tiers (api/l2.c). */
int l2_open(struct kvt *kvt, char *err, size_t errlen);
int l2_start(struct kvt *kvt);  /* the l2done actor; after l2_open */
void l2_stop(struct kvt *kvt);  /* after every operation drained */
void l2_close(struct kvt *kvt);

/* Whether a put writes its chunks through to the L2 tiers; otherwise a
 * chunk goes there on its l2.admit_after_hits-th read (l2_note_read()). */
static inline bool l2_on_put(const struct kvt *kvt)
{
	return kvt->nl2 && !kvt->l2_admit_hits;
}

/* entry->reads of a chunk that needs no admission: it came from L2 (a
 * promotion), and 2^31 reads bring it nowhere near the trigger again. */
#define L2_READS_ADMITTED (1u << 31)

/*
 * l2_note_read() - a read of @e was served.  With l2.admit_after_hits N
 * the Nth read queues @e to every L2 adapter from its slot, under a borrow
 * of its own.  Never waits: when every write window is busy the write is
 * left to the next read.
 * Threads: any, inside kvt_enter(), holding a borrow on @e.
 */
void l2_note_read(struct kvt *kvt, struct entry *e);

/*
 * l2_write_through() - queue chunk i (@keys[i], bytes at @bufs[i], @lens[i])
 * to every L2 adapter.  The chunk's memory is held until every adapter is
 * done with it: an L1 borrow in @ents[i] (dropped then), or in staging
 * mode the RESERVED L1 slot @slots[i]/@gens[i] (freed then).  @cb fires per
 * key stored in every adapter, with index @idx[i], on the l2done actor.
 * Always consumes the borrows or slots.  n <= 64.
 * Threads: any, inside kvt_enter().  Blocks: at most mailbox_wait_ms per
 * adapter whose queue is full (backpressure).
 */
void l2_write_through(struct kvt *kvt, const struct kvt_key *keys, const void *const *bufs,
		      const size_t *lens, size_t n, struct entry *const *ents,
		      const uint32_t *slots, const uint64_t *gens, kvt_put_cb cb, void *cb_arg,
		      const size_t *idx);

/*
 * l2_fetch() - fill @bufs from the L2 tiers: each key from the first
 * adapter (priority order) holding it.  @prefix: only the consecutive hits
 * from key 0 count (async prefetch); otherwise positional with holes.
 * Sets @out_lens (0 for a miss); promotes what it loaded into L1 when L1
 * is a cache (local_cpu true).
 * Threads: any, inside kvt_enter().  Blocks: until the adapters answer.
 * Return: keys loaded (the prefix length with @prefix).
 */
ssize_t l2_fetch(struct kvt *kvt, const struct kvt_key *keys, size_t n, void *const *bufs,
		 const size_t *buf_lens, size_t *out_lens, bool prefix);

/* l2_flush() - wait until every write-through queued so far finished.
 * Threads: any but the l2done actor and adapter threads. */
void l2_flush(struct kvt *kvt);

/* l2_contains_prefix() - consecutive keys from key 0 some adapter holds
 * (looked up, then unlocked).  Threads: any, inside kvt_enter(). */
size_t l2_contains_prefix(struct kvt *kvt, const struct kvt_key *keys, size_t n);

/* Staging slab (api/slab.c).  slab_take_set() waits at most
 * actors.mailbox_wait_ms for a free set; it fills @regions (2 x
 * restore_max_regions pointers) and returns the set id, or -ETIMEDOUT. */
int slab_open(struct kvt *kvt, char *err, size_t errlen);
void slab_close(struct kvt *kvt);
int slab_take_set(struct kvt *kvt, char **regions);
void slab_give_set(struct kvt *kvt, int set);

/* DAX tier (api/dax.c): open validates, maps, formats or recovers. */
int dax_open(struct kvt *kvt, char *err, size_t errlen);
void dax_close(struct kvt *kvt);

/* kvt_kick_eviction() - ask the index actor to evict from tier @t, once
 * until it runs.  Threads: any. */
void kvt_kick_eviction(void *t);

#endif /* KVT_CORE_INSTANCE_H */
