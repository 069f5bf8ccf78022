/* SPDX-License-Identifier: Apache-2.0 */
/*
 * api/lookup.c - kvt_contains(), kvt_unpin(), kvt_remove() and the borrow
 * helpers the read paths share.
 *
 * Lookups and pins never take a lock: one RCU read section per batch, a CAS
 * on entry->holds per pin.  A key may have a copy in several tiers; a pin
 * pins every copy, so no tier evicts it.  Removal goes through the index
 * actor, the maps' only writer.
 */
#include <errno.h>

#include "actors/index.h"
#include "core/instance.h"
#include "core/log.h"
#include "core/mem.h"

struct entry *kvt_borrow_key(struct kvt *kvt, const struct kvt_key *key)
{
	struct entry *e = NULL;
	uint32_t i;

	kvt_rcu_read_lock();
	for (i = 0; i < kvt->ntiers && !e; i++) {
		e = tier_lookup_rcu(kvt->tiers[i], key);
		if (e && !entry_try_borrow_rcu(e))
			e = NULL;
		if (!e)
			TIER_COUNT(kvt->tiers[i], misses, 1);
	}
	kvt_rcu_read_unlock();
	if (!e)
		return NULL;
	/* the caller counts the hit once it has served the chunk */
	entry_touch(e);
	return e;
}

void kvt_put_entry(struct kvt *kvt, struct entry *e)
{
	struct actor_msg m = { .op = INDEX_DEAD_FREE, .ptr = { e } };

	if (!entry_put_borrow(e))
		return;
	/* last reader of a removed entry: its slot must not leak, and it is
	 * free again when this returns, so a put right after finds it */
	while (actor_call(&kvt->index, &m) == -ETIMEDOUT)
		log_warn("index mailbox full, retrying the release of %s slot %u", e->tier->name,
			 e->slot);
}

/* Look @key up in every tier (pinning each live copy when @now).
 * Return: whether some tier holds it.  Caller holds rcu_read_lock. */
static bool contains_one_rcu(struct kvt *kvt, const struct kvt_key *key, bool pin,
			     uint64_t now, size_t *first_pins, size_t *pins)
{
	bool hit = false;

	for (uint32_t i = 0; i < kvt->ntiers; i++) {
		struct entry *e = tier_lookup_rcu(kvt->tiers[i], key);
		bool first;

		if (!e)
			continue;
		if (pin) {
			if (!entry_try_pin_rcu(e, now, &first))
				continue;
			*first_pins += first;
			(*pins)++;
		} else if (atomic_load_explicit(&e->holds, memory_order_relaxed) & HOLD_DEAD) {
			continue;
		}
		entry_touch(e);
		hit = true;
	}
	return hit;
}

ssize_t kvt_contains(struct kvt *kvt, const struct kvt_key *keys, size_t n,
		     unsigned int flags)
{
	bool pin = flags & KVT_PIN;
	uint64_t now = pin ? clock_now_ms() : 0;
	size_t hits = 0, first_pins = 0, pins = 0;
	uint64_t t0;

	if (!kvt || (n && !keys) || (flags & ~KVT_PIN))
		return -EINVAL;
	if (!n)
		return 0;
	if (!kvt_enter(kvt))
		return -ESHUTDOWN;
	t0 = kvt_op_start(kvt);
	/* the prefix runs through whichever tier holds each key: L1/DAX, then
	 * L2 where they miss, then L1/DAX again where L2 misses (a key whose
	 * L2 write failed or was evicted there).
	 *
	 * With KVT_PIN it ends where L1/DAX end, L2 unasked: L2 copies cannot
	 * be pinned (L2 tiers lock only between a lookup and its load), and a
	 * caller must be able to kvt_unpin(keys, hits) exactly.  Every key of
	 * [0, hits) then holds a pin of this call on each live L1/DAX copy
	 * (contains_one_rcu() is true only when one took a pin), so that unpin
	 * finds a pin on every key: no underflow, and no pin of another caller
	 * dropped for a key this call never pinned (an L2 hit promoted into L1
	 * since, which someone else pinned there). */
	for (;;) {
		size_t more;

		kvt_rcu_read_lock();
		while (hits < n &&
		       contains_one_rcu(kvt, &keys[hits], pin, now, &first_pins, &pins))
			hits++;
		kvt_rcu_read_unlock();
		if (hits == n || !kvt->nl2 || pin)
			break;
		more = l2_contains_prefix(kvt, keys + hits, n - hits);
		if (!more)
			break;
		hits += more;
	}
	SHARD_COUNT(kvt, lookups, n);
	SHARD_COUNT(kvt, lookup_hits, hits);
	if (pin) {
		COUNT(kvt, pins, pins);
		COUNT(kvt, pinned_entries, first_pins);
	}
	KVT_OP_DONE(kvt, KVT_OP_CONTAINS, t0);
	kvt_exit(kvt);
	return (ssize_t)hits;
}

ssize_t kvt_unpin(struct kvt *kvt, const struct kvt_key *keys, size_t n)
{
	size_t unpinned = 0, underflows = 0, dropped = 0, last = 0;

	if (!kvt || (n && !keys))
		return -EINVAL;
	if (!n)
		return 0;
	if (!kvt_enter(kvt))
		return -ESHUTDOWN;
	kvt_rcu_read_lock();
	for (size_t i = 0; i < n; i++) {
		size_t copies = 0;

		for (uint32_t j = 0; j < kvt->ntiers; j++) {
			struct entry *e = tier_lookup_rcu(kvt->tiers[j], &keys[i]);
			int r = e ? entry_unpin(e) : -1;

			if (r < 0)
				continue;
			copies++;
			last += (size_t)r;
		}
		if (copies) {
			unpinned++;
			dropped += copies;
		} else {
			underflows++;
		}
	}
	kvt_rcu_read_unlock();
	COUNT(kvt, unpins, dropped);
	COUNT(kvt, unpin_underflows, underflows);
	UNCOUNT(kvt, pinned_entries, last);
	kvt_exit(kvt);
	return (ssize_t)unpinned;
}

/*
 * Delete from every L2 tier the keys @results does not say are pinned, and
 * fold the outcome in: a key is removed (0) when no copy is left anywhere,
 * -EAGAIN when an L2 copy stays, locked by a load (every other copy is
 * gone), -ENOENT when there was none.  Keys refused as pinned (-EBUSY) are
 * not touched.  Counts the keys only L2 held in removes.
 */
static void remove_l2(struct kvt *kvt, const struct kvt_key *keys, size_t n, int *results)
{
	struct kvt_key ks[64];
	size_t idx[64];
	int res[64];

	for (size_t base = 0; base < n; base += 64) {
		size_t w = n - base < 64 ? n - base : 64, k = 0;

		for (size_t i = base; i < base + w; i++) {
			if (results[i] == -EBUSY)
				continue;
			ks[k] = keys[i];
			idx[k++] = i;
		}
		for (uint32_t a = 0; k && a < kvt->nl2; a++) {
			kvt->l2[a].ops->remove(kvt->l2[a].a, ks, k, res);
			for (size_t j = 0; j < k; j++) {
				int *r = &results[idx[j]];

				if (res[j] == -EBUSY) {
					*r = -EAGAIN;
				} else if (res[j] == 0 && *r == -ENOENT) {
					*r = 0;
					COUNT(kvt, removes, 1);
				}
			}
		}
	}
}

ssize_t kvt_remove(struct kvt *kvt, const struct kvt_key *keys, size_t n,
		   unsigned int flags, int *results)
{
	struct index_remove rm = {
		.keys = keys, .n = n, .force = flags & KVT_FORCE, .results = results,
	};
	struct actor_msg m = { .op = INDEX_REMOVE, .ptr = { &rm } };
	int *own = NULL;
	int ret;

	if (!kvt || (n && !keys) || (flags & ~KVT_FORCE))
		return -EINVAL;
	if (!kvt_enter(kvt))
		return -ESHUTDOWN;
	if (kvt->nl2 && !results && n) {
		own = mem_alloc(n * sizeof(*own));
		if (!own) {
			kvt_exit(kvt);
			return -ENOMEM;
		}
		rm.results = own;
	}
	ret = n ? actor_call(&kvt->index, &m) : 0;
	if (!ret && kvt->nl2 && n) {
		remove_l2(kvt, keys, n, rm.results);
		rm.removed = 0;
		for (size_t i = 0; i < n; i++)
			rm.removed += rm.results[i] == 0;
	}
	mem_free(own);
	kvt_exit(kvt);
	return ret ? ret : (ssize_t)rm.removed;
}
