/* SPDX-License-Identifier: Apache-2.0 */
/*
 * api/lookup.c - kvt_contains(), kvt_unpin(), kvt_remove() and the borrow
 * helpers the read paths share.
 *
 * Lookups and pins never take a lock: one RCU read section per batch, a CAS
 * on entry->holds per pin.  Removal goes through the index actor, the map's
 * only writer.
 */
#include <errno.h>

#include "actors/index.h"
#include "api/internal.h"
#include "core/log.h"

struct entry *kvt_borrow_key(struct kvt *kvt, const struct kvt_key *key)
{
	struct entry *e;

	kvt_rcu_read_lock();
	e = kvt_lookup_rcu(kvt, key);
	if (e && !entry_try_borrow_rcu(e))
		e = NULL;
	kvt_rcu_read_unlock();
	if (e)
		entry_touch(e);
	return e;
}

void kvt_put_entry(struct kvt *kvt, struct entry *e)
{
	struct actor_msg m = { .op = INDEX_DEAD_FREE, .ptr = { e } };

	if (!entry_put_borrow(e))
		return;
	/* last reader of a removed entry: its slot must not leak */
	while (actor_post(&kvt->index, &m))
		log_warn("index mailbox full, retrying the release of slot %u", e->slot);
}

ssize_t kvt_contains(struct kvt *kvt, const struct kvt_key *keys, size_t n,
		     unsigned int flags)
{
	uint64_t now = (flags & KVT_PIN) ? clock_now_ms() : 0;
	size_t hits = 0, first_pins = 0;

	if (!n || !kvt_enter(kvt))
		return 0;
	kvt_rcu_read_lock();
	for (; hits < n; hits++) {
		struct entry *e = kvt_lookup_rcu(kvt, &keys[hits]);
		bool first;

		if (!e)
			break;
		if (flags & KVT_PIN) {
			if (!entry_try_pin_rcu(e, now, &first))
				break;
			first_pins += first;
		} else if (atomic_load_explicit(&e->holds, memory_order_relaxed) & HOLD_DEAD) {
			break;
		}
		entry_touch(e);
	}
	kvt_rcu_read_unlock();
	COUNT(kvt, lookups, n);
	COUNT(kvt, lookup_hits, hits);
	if (flags & KVT_PIN) {
		COUNT(kvt, pins, hits);
		COUNT(kvt, pinned_entries, first_pins);
	}
	kvt_exit(kvt);
	return (ssize_t)hits;
}

ssize_t kvt_unpin(struct kvt *kvt, const struct kvt_key *keys, size_t n)
{
	size_t unpinned = 0, underflows = 0, last = 0;

	if (!n || !kvt_enter(kvt))
		return 0;
	kvt_rcu_read_lock();
	for (size_t i = 0; i < n; i++) {
		struct entry *e = kvt_lookup_rcu(kvt, &keys[i]);
		int r = e ? entry_unpin(e) : -1;

		if (r < 0) {
			underflows++;
			continue;
		}
		unpinned++;
		last += (size_t)r;
	}
	kvt_rcu_read_unlock();
	COUNT(kvt, unpins, unpinned);
	COUNT(kvt, unpin_underflows, underflows);
	UNCOUNT(kvt, pinned_entries, last);
	kvt_exit(kvt);
	return (ssize_t)unpinned;
}

ssize_t kvt_remove(struct kvt *kvt, const struct kvt_key *keys, size_t n,
		   unsigned int flags, int *results)
{
	struct index_remove rm = {
		.keys = keys, .n = n, .force = flags & KVT_FORCE, .results = results,
	};
	struct actor_msg m = { .op = INDEX_REMOVE, .ptr = { &rm } };
	int ret;

	if (n && !keys)
		return -EINVAL;
	if (!kvt_enter(kvt))
		return -ESHUTDOWN;
	ret = n ? actor_call(&kvt->index, &m) : 0;
	kvt_exit(kvt);
	return ret ? ret : (ssize_t)rm.removed;
}
