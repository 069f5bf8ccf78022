/* SPDX-License-Identifier: Apache-2.0 */
/*
 * core/slots.h - the L1 DRAM arena: fixed-size chunk slots in one mapping.
 *
 * Free slot ids sit in a Concurrency Kit SPMC ring: only the index actor
 * gives slots back (single producer); any engine thread takes one (many
 * consumers).  Each slot has a state (FREE, RESERVED, LIVE), a generation
 * bumped every time it is freed, so a stale lease never touches a reused
 * slot, and the entry that owns it while LIVE.
 *
 * Threads: slots_take(), slots_*_of() any; slots_give_back() and
 * slots_set_owner() index actor only (or before the actor starts).
 */
#ifndef KVT_CORE_SLOTS_H
#define KVT_CORE_SLOTS_H

#include <ck_ring.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct entry;

enum slot_state { SLOT_FREE = 0, SLOT_RESERVED = 1, SLOT_LIVE = 2 };

struct slot_id {
	uint32_t id;
};

struct slots {
	void *base;
	bool owns_map;                      /* base was mapped by slots_init() */
	size_t slot_bytes;
	size_t map_bytes;
	uint32_t nslots;
	struct ck_ring free_ring;
	struct slot_id *free_buf;
	_Atomic uint64_t *gen;              /* [atomic] */
	_Atomic uint8_t *state;             /* [atomic] */
	struct entry *_Atomic *owner;       /* [rcu] LIVE slot -> its entry */
	/*
	 * The prefault frontier: 1 + the highest slot id ever taken.  The free
	 * ring starts as ids 0..nslots-1 in order and given-back ids queue
	 * behind them, so never-used slots are taken in id order and the
	 * frontier is the edge of the memory puts have touched.  A take that
	 * moves it past wake_at (slots_watch()) swaps wake_at to SLOTS_NO_WATCH
	 * and calls on_frontier(arg, id) once (set before any take, then only
	 * read).
	 */
	_Atomic uint32_t frontier;
	_Atomic uint32_t wake_at;
	void (*on_frontier)(void *arg, uint32_t slot);
	void *frontier_arg;
	_Atomic uint32_t freed_seq;         /* bumped after every give-back */
	_Atomic uint32_t waiters;           /* threads sleeping on freed_seq */
};

/*
 * slots_init() - map @nslots slots of @slot_bytes on @numa_node (-1: local);
 * @prefault touches every page now instead of on first put.
 * Return: 0, -ENOMEM, -EINVAL; on error nothing is left mapped.
 */
int slots_init(struct slots *s, size_t slot_bytes, uint32_t nslots, int numa_node,
	       bool prefault);

/*
 * slots_init_on() - slots over memory the caller mapped (a DAX partition).
 * @live_gens: NULL (every slot free), or per slot 0 for free and otherwise
 *             the generation of a slot recovered as LIVE: it stays out of the
 *             free ring until the index actor gives it back.
 * Return: 0, -ENOMEM, -EINVAL.
 */
int slots_init_on(struct slots *s, void *base, size_t slot_bytes, uint32_t nslots,
		  const uint64_t *live_gens);
void slots_destroy(struct slots *s);

#define SLOTS_NO_WATCH UINT32_MAX

/*
 * slots_set_watcher() - the frontier hook: @fn(@arg, id) runs on a taking
 * thread and must not block (a put waits on it).  Before any take (open).
 */
static inline void slots_set_watcher(struct slots *s, void (*fn)(void *, uint32_t), void *arg)
{
	s->on_frontier = fn;
	s->frontier_arg = arg;
}

/*
 * slots_watch() - the next take of a slot id >= @wake_at (SLOTS_NO_WATCH:
 * none) calls the watcher, once.  Return: the frontier after the watch is
 * set; when it is past @wake_at, a take crossed before it could see the
 * watch (it may or may not have called the watcher), so the watcher looks
 * again.  Seq_cst on both sides: a take stores the frontier then loads
 * wake_at, this stores wake_at then loads the frontier, so one of the two
 * sees the other.  Threads: the watcher's owner, one at a time.
 */
static inline uint32_t slots_watch(struct slots *s, uint32_t wake_at)
{
	atomic_store_explicit(&s->wake_at, wake_at, memory_order_seq_cst);
	return atomic_load_explicit(&s->frontier, memory_order_seq_cst);
}

/* How often a waiting slots_take() asks for eviction again. */
#define SLOTS_KICK_EVERY_MS 20

/*
 * slots_take() - take a free slot, waiting at most @wait_ms for one.
 * @kick: called (with @arg) when the ring is empty, to ask for eviction,
 *        and again every SLOTS_KICK_EVERY_MS while it waits.
 * Return: 0 with *@slot and *@gen set (slot RESERVED), or -ENOSPC.
 */
int slots_take(struct slots *s, uint32_t *slot, uint64_t *gen, unsigned int wait_ms,
	       void (*kick)(void *arg), void *arg);

/* slots_give_back() - FREE a slot and bump its generation.  Index actor only. */
void slots_give_back(struct slots *s, uint32_t slot);

static inline void *slots_ptr(const struct slots *s, uint32_t slot)
{
	return (char *)s->base + (size_t)slot * s->slot_bytes;
}

static inline uint32_t slots_free_count(struct slots *s)
{
	return ck_ring_size(&s->free_ring);
}

#endif /* KVT_CORE_SLOTS_H */
