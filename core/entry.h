/* SPDX-License-Identifier: Apache-2.0 */
/*
 * core/entry.h - one cached chunk in the index, and the atomic word that
 * decides who may use it.
 *
 * holds packs three facts into one 64-bit word so a single CAS orders them:
 *   bits  0..27  borrows: readers copying or leasing the slot right now
 *   bits 28..59  pins: counted pins (kvt_contains(KVT_PIN))
 *   bit  63      DEAD: unlinked or being unlinked; no new borrow or pin
 * Eviction claims an entry with CAS 0 -> DEAD, so it only ever takes an
 * entry nobody pins or reads; a reader's borrow CAS fails once DEAD is set.
 * A removed entry with borrows left stays allocated, and its slot stays
 * taken, until the last borrow is released (entry_put_borrow returns true to
 * that releaser, who tells the index actor).
 *
 * Fields other than holds, pin_stamp_ms and referenced are written once,
 * before the entry is published, and read-only afterwards.
 */
#ifndef KVT_CORE_ENTRY_H
#define KVT_CORE_ENTRY_H

#include <stdalign.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdbool.h>
#include <stdint.h>

#include <errno.h>

#include "core/rcu.h"
#include "kvtier.h"

#define HOLD_BORROW 1ull
#define HOLD_BORROW_MASK ((1ull << 28) - 1)
#define HOLD_PIN (1ull << 28)
#define HOLD_PIN_MASK (((1ull << 32) - 1) << 28)
#define HOLD_DEAD (1ull << 63)

struct tier;

/* 64-byte aligned; a lookup, pin or borrow touches only the first line */
struct entry {
	struct cds_lfht_node node;      /* [rcu] linked by the index actor */
	struct kvt_key key;
	_Atomic uint64_t holds;         /* [atomic] see above */
	struct tier *tier;              /* the tier whose slot it fills */
	uint32_t slot;
	uint32_t len;                   /* real chunk length */
	_Atomic uint8_t referenced;     /* [atomic] CLOCK bit, set by readers */
	_Atomic uint32_t reads;         /* [atomic] reads served, for l2.admit_after_hits */
	alignas(64) uint64_t gen;       /* generation of the slot it fills */
	_Atomic uint64_t pin_stamp_ms;  /* [atomic] last pin, for the lease */
	struct rcu_head rcu;
};
_Static_assert(offsetof(struct entry, reads) < 64, "hot fields share one cache line");

static inline unsigned long entry_hash(const struct kvt_key *key)
{
	/* keys are XXH3 output already: any 64 bits are a good hash */
	return (unsigned long)key->lo;
}

static inline uint32_t holds_pins(uint64_t h)
{
	return (uint32_t)((h & HOLD_PIN_MASK) >> 28);
}

static inline uint32_t holds_borrows(uint64_t h)
{
	return (uint32_t)(h & HOLD_BORROW_MASK);
}

/* Mark recently used; a plain load first keeps hot entries' lines shared. */
static inline void entry_touch(struct entry *e)
{
	if (!atomic_load_explicit(&e->referenced, memory_order_relaxed))
		atomic_store_explicit(&e->referenced, 1, memory_order_relaxed);
}

/*
 * entry_try_borrow_rcu() - take a borrow unless the entry is dead.
 * Call with rcu_read_lock held (the entry may be freed after a grace period
 * otherwise); once it returns true the borrow keeps the entry alive.
 */
static inline bool entry_try_borrow_rcu(struct entry *e)
{
	uint64_t old = atomic_load_explicit(&e->holds, memory_order_relaxed);

	do {
		if ((old & HOLD_DEAD) || holds_borrows(old) == HOLD_BORROW_MASK)
			return false;
		/* acquire: the slot bytes written before publication are visible;
		 * pairs with the release CAS in entry_claim_evict / entry_kill */
	} while (!atomic_compare_exchange_weak_explicit(&e->holds, &old, old + HOLD_BORROW,
							memory_order_acquire,
							memory_order_relaxed));
	return true;
}

/*
 * entry_put_borrow() - drop a borrow.
 * Return: true when this was the last borrow of a dead entry: the caller
 * must hand the slot back through the index actor.
 */
static inline bool entry_put_borrow(struct entry *e)
{
	/* release: our reads of the slot happen before any reuse of it */
	uint64_t old = atomic_fetch_sub_explicit(&e->holds, HOLD_BORROW, memory_order_acq_rel);

	return (old & HOLD_DEAD) && holds_borrows(old) == 1;
}

/*
 * entry_try_pin_rcu() - add one pin unless dead.  Call with rcu_read_lock held.
 * @first: set true when this pin took the count from 0 to 1.
 */
static inline bool entry_try_pin_rcu(struct entry *e, uint64_t now_ms, bool *first)
{
	uint64_t old = atomic_load_explicit(&e->holds, memory_order_relaxed);

	do {
		if ((old & HOLD_DEAD) || holds_pins(old) == UINT32_MAX)
			return false;
	} while (!atomic_compare_exchange_weak_explicit(&e->holds, &old, old + HOLD_PIN,
							memory_order_acq_rel,
							memory_order_relaxed));
	atomic_store_explicit(&e->pin_stamp_ms, now_ms, memory_order_relaxed);
	*first = holds_pins(old) == 0;
	return true;
}

/*
 * entry_unpin() - drop one pin.
 * Return: 1 if the count reached 0, 0 if pins remain, -1 if none was held
 *         or the entry is dead.
 */
static inline int entry_unpin(struct entry *e)
{
	uint64_t old = atomic_load_explicit(&e->holds, memory_order_relaxed);

	do {
		/* a dead entry's pins were dropped (and uncounted) by its removal */
		if (holds_pins(old) == 0 || (old & HOLD_DEAD))
			return -1;
	} while (!atomic_compare_exchange_weak_explicit(&e->holds, &old, old - HOLD_PIN,
							memory_order_acq_rel,
							memory_order_relaxed));
	return holds_pins(old) == 1;
}

/*
 * entry_drop_pins_if_stale() - the pin-monitor's lease: drop every pin when
 * the last pin is older than @cutoff_ms.
 * Return: the number of pins dropped (0 if none or not stale).
 */
static inline uint32_t entry_drop_pins_if_stale(struct entry *e, uint64_t cutoff_ms)
{
	uint64_t old = atomic_load_explicit(&e->holds, memory_order_relaxed);

	do {
		if (holds_pins(old) == 0 || (old & HOLD_DEAD))
			return 0;
		if (atomic_load_explicit(&e->pin_stamp_ms, memory_order_relaxed) > cutoff_ms)
			return 0;
	} while (!atomic_compare_exchange_weak_explicit(&e->holds, &old, old & ~HOLD_PIN_MASK,
							memory_order_acq_rel,
							memory_order_relaxed));
	return holds_pins(old);
}

/*
 * entry_claim_evict() - CAS 0 -> DEAD: succeeds only for an entry nobody
 * pins or borrows.  Index actor only.
 */
static inline bool entry_claim_evict(struct entry *e)
{
	uint64_t expected = 0;

	return atomic_compare_exchange_strong_explicit(&e->holds, &expected, HOLD_DEAD,
						       memory_order_acq_rel,
						       memory_order_relaxed);
}

/*
 * entry_kill() - mark dead for kvt_remove().  Index actor only.
 * @force: ignore pins.
 * Return: 0 and *@before = the holds word it replaced (borrows left, pins
 *         dropped); -EBUSY pinned (not forced); -ENOENT already dead.
 */
static inline int entry_kill(struct entry *e, bool force, uint64_t *before)
{
	uint64_t old = atomic_load_explicit(&e->holds, memory_order_relaxed);

	do {
		if (old & HOLD_DEAD)
			return -ENOENT;
		if (!force && holds_pins(old))
			return -EBUSY;
	} while (!atomic_compare_exchange_weak_explicit(&e->holds, &old, old | HOLD_DEAD,
							memory_order_acq_rel,
							memory_order_relaxed));
	*before = old;
	return 0;
}

#endif /* KVT_CORE_ENTRY_H */
