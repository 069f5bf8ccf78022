/* SPDX-License-Identifier: Apache-2.0 */
/*
 * api/lease.c - zero copy: kvt_reserve() -> write -> kvt_commit(), and
 * kvt_borrow() -> read -> kvt_release().
 *
 * Reservations come from the primary tier (L1, or DAX in primary mode);
 * borrows from whichever tier holds the key.  A lease carries (tier, slot,
 * generation).  A slot's generation changes only when the slot is freed,
 * and a slot is freed only after its last lease ends, so a lease whose
 * generation no longer matches is stale and is refused without touching the
 * slot.  Each live lease counts as one kvt_enter() operation, so close waits
 * for leases too.
 *
 * In staging-buffer mode a reservation is an L1 staging buffer: L1 is not
 * a readable tier, and a commit hands the buffer to the L2 adapters, which
 * free it once they stored it.
 */
#include <errno.h>

#include "actors/index.h"
#include "core/instance.h"
#include "core/daxfmt.h"

/* lease->kind: the kind in the low 16 bits, the tier's index above */
enum lease_kind { LEASE_NONE = 0, LEASE_RESERVED = 0x5245, LEASE_BORROWED = 0x424f };

static uint32_t lease_kind(uint32_t kind, uint32_t tier)
{
	return kind | tier << 16;
}

/* The tier index of a staging buffer's lease: not one of kvt->tiers. */
#define LEASE_STAGING KVT_MAX_TIERS

static struct tier *lease_tier(struct kvt *kvt, const struct kvt_lease *lease)
{
	uint32_t i = lease->kind >> 16;

	if (i == LEASE_STAGING)
		return kvt->staging ? &kvt->l1 : NULL;
	return i < kvt->ntiers ? kvt->tiers[i] : NULL;
}

static uint32_t tier_index(struct kvt *kvt, const struct tier *t)
{
	uint32_t i = 0;

	if (kvt->staging && t == &kvt->l1)
		return LEASE_STAGING;
	while (kvt->tiers[i] != t)
		i++;
	return i;
}

int kvt_reserve(struct kvt *kvt, struct kvt_lease *lease)
{
	struct tier *t;
	uint32_t slot;
	uint64_t gen;
	int ret;

	if (!kvt || !lease)
		return -EINVAL;
	t = kvt->primary;
	if (!kvt_enter(kvt))
		return -ESHUTDOWN;
	if (kvt->staging)
		ret = slots_take(&t->slots, &slot, &gen, kvt->cfg.staging_wait_ms, NULL, NULL) ?
			      -ETIMEDOUT : 0;
	else
		ret = slots_take(&t->slots, &slot, &gen, kvt->cfg.put_wait_ms, kvt_kick_eviction,
				 t);
	if (ret) {
		kvt_exit(kvt);
		return ret;
	}
	if (t->fmt)
		daxfmt_begin_write(t->fmt, slot, gen);
	lease->data = tier_slot_ptr(t, slot);
	lease->len = t->slots.slot_bytes;
	lease->gen = gen;
	lease->slot = slot;
	lease->kind = lease_kind(LEASE_RESERVED, tier_index(kvt, t));
	return 0;
}

static struct tier *reservation_tier(struct kvt *kvt, const struct kvt_lease *lease)
{
	struct tier *t = lease_tier(kvt, lease);

	if ((lease->kind & 0xffff) != LEASE_RESERVED || !t || lease->slot >= t->slots.nslots ||
	    atomic_load_explicit(&t->slots.gen[lease->slot], memory_order_relaxed) != lease->gen ||
	    atomic_load_explicit(&t->slots.state[lease->slot], memory_order_acquire) !=
		    SLOT_RESERVED)
		return NULL;
	return t;
}

/* Staging-buffer mode: the L2 adapters take the buffer, and free it. */
static int commit_staged(struct kvt *kvt, struct kvt_lease *lease, const struct kvt_key *key,
			 size_t len)
{
	const void *data = lease->data;
	size_t idx = 0;

	COUNT(kvt, staging_inflight, 1);
	l2_write_through(kvt, key, &data, &len, 1, NULL, &lease->slot, &lease->gen, NULL, NULL,
			 &idx);
	lease->kind = LEASE_NONE;
	COUNT(kvt, puts, 1);
	kvt_exit(kvt);
	return 0;
}

int kvt_commit(struct kvt *kvt, struct kvt_lease *lease, const struct kvt_key *key,
	       size_t len)
{
	struct index_insert ins = { .n = 1, .keep_dup_slot = true };
	struct actor_msg m = { .op = INDEX_INSERT, .ptr = { &ins } };
	bool tiered;
	struct tier *t;
	struct entry *e;
	int result, ret;

	if (!kvt || !lease || !key)
		return -EINVAL;
	tiered = kvt->has_dax && kvt->primary == &kvt->l1;
	t = reservation_tier(kvt, lease);
	if (!t)
		return -ESTALE;
	if (len > kvt->chunk_bytes)
		return -EMSGSIZE;
	/* 0 bytes would read back as a hole; the lease stays the caller's */
	if (!len)
		return -EINVAL;
	if (atomic_load_explicit(&kvt->closing, memory_order_relaxed))
		return -ESHUTDOWN;
	if (kvt->staging)
		return commit_staged(kvt, lease, key, len);
	e = kvt_new_entry(t, key, lease->slot, lease->gen, len);
	if (!e)
		return -ENOMEM;
	/* borrowed before it is findable, one borrow per write-through */
	if (tiered || l2_on_put(kvt))
		atomic_store_explicit(&e->holds, HOLD_BORROW * ((uint64_t)tiered + l2_on_put(kvt)),
				      memory_order_relaxed);
	/* the device header says VALID before any reader can find the entry */
	if (t->fmt)
		daxfmt_commit(t->fmt, lease->slot, key, (uint32_t)len, lease->gen);
	ins.entries = &e;
	ins.results = &result;
	ret = actor_call(&kvt->index, &m);
	if (ret) {
		kvt_free_entry_unpublished(e);
		return ret;
	}
	if (result == 1) {
		/* duplicate: the index freed the entry and the slot stays ours;
		 * its device header must not stay VALID beside the kept copy */
		if (t->fmt)
			daxfmt_begin_write(t->fmt, lease->slot, lease->gen);
		return 1;
	}
	lease->kind = LEASE_NONE;
	COUNT(kvt, puts, 1);
	TIER_COUNT(t, bytes_in, len);
	if (tiered)
		kvt_write_through(kvt, e, NULL, NULL, 0);
	if (l2_on_put(kvt)) {
		const void *data = entry_data(e);
		size_t idx = 0;

		l2_write_through(kvt, key, &data, &len, 1, &e, NULL, NULL, NULL, NULL, &idx);
	}
	kvt_exit(kvt);
	return 0;
}

int kvt_borrow(struct kvt *kvt, const struct kvt_key *key, struct kvt_lease *lease)
{
	struct entry *e;

	if (!kvt || !key || !lease)
		return -EINVAL;
	if (!kvt_enter(kvt))
		return -ESHUTDOWN;
	e = kvt_borrow_key(kvt, key);
	if (!e) {
		kvt_exit(kvt);
		return -ENOENT;
	}
	COUNT(kvt, borrows_active, 1);
	TIER_COUNT(e->tier, hits, 1);
	l2_note_read(kvt, e);
	lease->data = entry_data(e);
	lease->len = e->len;
	lease->gen = e->gen;
	lease->slot = e->slot;
	lease->kind = lease_kind(LEASE_BORROWED, tier_index(kvt, e->tier));
	return 0;
}

static int release_borrow(struct kvt *kvt, struct kvt_lease *lease)
{
	struct tier *t = lease_tier(kvt, lease);
	struct entry *e = NULL;

	if (!t || lease->slot >= t->slots.nslots)
		return -ESTALE;
	/* a stale lease may name an entry being freed: read it under RCU */
	kvt_rcu_read_lock();
	e = atomic_load_explicit(&t->slots.owner[lease->slot], memory_order_acquire);
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
	struct tier *t;
	int ret;

	if (!kvt || !lease)
		return -EINVAL;
	switch (lease->kind & 0xffff) {
	case LEASE_RESERVED:
		t = reservation_tier(kvt, lease);
		if (!t)
			return -ESTALE;
		kvt_free_reserved_slot(kvt, t, lease->slot, lease->gen);
		break;
	case LEASE_BORROWED:
		ret = release_borrow(kvt, lease);
		if (ret)
			return ret;
		break;
	default:
		return -ESTALE;
	}
	lease->kind = LEASE_NONE;
	kvt_exit(kvt);
	return 0;
}
