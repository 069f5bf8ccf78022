/* SPDX-License-Identifier: Apache-2.0 */
/*
 * api/lease.c - zero copy: kvt_reserve() -> write -> kvt_commit(), and
 * kvt_borrow() -> read -> kvt_release().
 *
 * A lease carries (slot, generation).  A slot's generation changes only
 * when the slot is freed, and a slot is freed only after its last lease
 * ends, so a lease whose generation no longer matches is stale and is
 * refused without touching the slot.  Each live lease counts as one
 * kvt_enter() operation, so close waits for leases too.
 */
#include <errno.h>

#include "actors/index.h"
#include "api/internal.h"

enum lease_kind { LEASE_NONE = 0, LEASE_RESERVED = 0x5245, LEASE_BORROWED = 0x424f };

int kvt_reserve(struct kvt *kvt, struct kvt_lease *lease)
{
	uint32_t slot;
	uint64_t gen;
	int ret;

	if (!lease)
		return -EINVAL;
	if (!kvt_enter(kvt))
		return -ESHUTDOWN;
	ret = slots_take(&kvt->l1, &slot, &gen, kvt->cfg.put_wait_ms, kvt_kick_eviction, kvt);
	if (ret) {
		kvt_exit(kvt);
		return ret;
	}
	lease->data = slots_ptr(&kvt->l1, slot);
	lease->len = kvt->l1.slot_bytes;
	lease->gen = gen;
	lease->slot = slot;
	lease->kind = LEASE_RESERVED;
	return 0;
}

static bool reservation_live(struct kvt *kvt, const struct kvt_lease *lease)
{
	return lease->kind == LEASE_RESERVED && lease->slot < kvt->l1.nslots &&
	       atomic_load_explicit(&kvt->l1.gen[lease->slot], memory_order_relaxed) ==
		       lease->gen &&
	       atomic_load_explicit(&kvt->l1.state[lease->slot], memory_order_acquire) ==
		       SLOT_RESERVED;
}

int kvt_commit(struct kvt *kvt, struct kvt_lease *lease, const struct kvt_key *key,
	       size_t len)
{
	struct index_insert ins = { .n = 1, .keep_dup_slot = true };
	struct actor_msg m = { .op = INDEX_INSERT, .ptr = { &ins } };
	struct entry *e;
	int result, ret;

	if (!lease || !key)
		return -EINVAL;
	if (!reservation_live(kvt, lease))
		return -ESTALE;
	if (len > kvt->l1.slot_bytes)
		return -EMSGSIZE;
	if (atomic_load_explicit(&kvt->closing, memory_order_relaxed))
		return -ESHUTDOWN;
	e = kvt_new_entry(key, lease->slot, lease->gen, len);
	if (!e)
		return -ENOMEM;
	ins.entries = &e;
	ins.results = &result;
	ret = actor_call(&kvt->index, &m);
	if (ret) {
		kvt_free_entry_unpublished(e);
		return ret;
	}
	if (result == 1)
		return 1; /* duplicate: the index freed the entry, the slot stays ours */
	lease->kind = LEASE_NONE;
	COUNT(kvt, puts, 1);
	COUNT(kvt, l1_bytes_in, len);
	kvt_exit(kvt);
	return 0;
}

int kvt_borrow(struct kvt *kvt, const struct kvt_key *key, struct kvt_lease *lease)
{
	struct entry *e;

	if (!key || !lease)
		return -EINVAL;
	if (!kvt_enter(kvt))
		return -ESHUTDOWN;
	e = kvt_borrow_key(kvt, key);
	if (!e) {
		COUNT(kvt, l1_misses, 1);
		kvt_exit(kvt);
		return -ENOENT;
	}
	COUNT(kvt, l1_hits, 1);
	COUNT(kvt, borrows_active, 1);
	lease->data = slots_ptr(&kvt->l1, e->slot);
	lease->len = e->len;
	lease->gen = e->gen;
	lease->slot = e->slot;
	lease->kind = LEASE_BORROWED;
	return 0;
}

static int release_borrow(struct kvt *kvt, struct kvt_lease *lease)
{
	struct entry *e = NULL;

	if (lease->slot >= kvt->l1.nslots)
		return -ESTALE;
	/* a stale lease may name an entry being freed: read it under RCU */
	kvt_rcu_read_lock();
	e = atomic_load_explicit(&kvt->l1.owner[lease->slot], memory_order_acquire);
	if (e && e->gen != lease->gen)
		e = NULL;
	kvt_rcu_read_unlock();
	if (!e)
		return -ESTALE;
	/* our borrow keeps e alive past the read section */
	kvt_put_entry(kvt, e);
	UNCOUNT(kvt, borrows_active, 1);
	return 0;
}

int kvt_release(struct kvt *kvt, struct kvt_lease *lease)
{
	int ret;

	if (!lease)
		return -EINVAL;
	if (lease->kind == LEASE_RESERVED) {
		if (!reservation_live(kvt, lease))
			return -ESTALE;
		kvt_free_reserved_slot(kvt, lease->slot, lease->gen);
		ret = 0;
	} else if (lease->kind == LEASE_BORROWED) {
		ret = release_borrow(kvt, lease);
		if (ret)
			return ret;
	} else {
		return -ESTALE;
	}
	lease->kind = LEASE_NONE;
	kvt_exit(kvt);
	return 0;
}
