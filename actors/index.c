/* SPDX-License-Identifier: Apache-2.0 */
/*
 * actors/index.c - the index actor (see index.h).
 *
 * Owns: every add and delete on each tier's map, slot ownership
 * (slots.owner), each tier's CLOCK hand, and giving slots back to the free
 * rings (and, for a DAX tier, marking their device headers FREE).  Engine
 * threads look entries up lock-free and take pins and borrows with CASes on
 * entry->holds; this actor only ever claims an entry with the CAS that a pin
 * or borrow would make fail (entry_claim_evict, entry_kill), so it never
 * takes an entry away from a reader.
 *
 * Freeing: an unlinked entry is freed by call_rcu() (readers may still hold
 * it inside a read section); its slot goes back to the free ring at once if
 * nobody borrows it, else when the last borrower posts INDEX_DEAD_FREE.
 * call_rcu() runs on this instance's own call_rcu thread (kvt->crdp), set
 * in on_start, so close can stop and join it.
 */
#define _GNU_SOURCE
#include "actors/index.h"

#include <errno.h>

#include "core/instance.h"
#include "core/daxfmt.h"
#include "core/log.h"
#include "core/mem.h"

static void entry_free_rcu(struct rcu_head *head)
{
	struct entry *e = caa_container_of(head, struct entry, rcu);

	kvt_rcu_grace_begin();
	mem_free(e);
}

static void index_on_start(void *ctx)
{
	struct kvt *kvt = ctx;

	set_thread_call_rcu_data(kvt->crdp);
}

/* A slot's last user is gone: its device header (if any) says FREE first,
 * so a crash never leaves a VALID header over a reused slot. */
static void give_back(struct tier *t, uint32_t slot)
{
	if (t->fmt)
		daxfmt_free(t->fmt, slot);
	slots_give_back(&t->slots, slot);
}

/* Unlink @e; free it after a grace period; free its slot unless borrowed.
 * Caller holds rcu_read_lock; @before is the holds word entry_kill or the
 * evict claim replaced. */
static void unlink_entry(struct kvt *kvt, struct entry *e, uint64_t before)
{
	struct tier *t = e->tier;
	int ret = cds_lfht_del(t->map, &e->node);

	if (ret) {
		log_error("index: %s entry of slot %u was not linked (%d)", t->name, e->slot, ret);
		COUNT(kvt, errors, 1);
	}
	TIER_UNCOUNT(t, entries, 1);
	if (holds_pins(before))
		UNCOUNT(kvt, pinned_entries, 1);
	/* gone from the device now: a crash while it is still borrowed must not
	 * bring a removed key back (the borrower's bytes stay untouched) */
	if (t->fmt)
		daxfmt_free(t->fmt, e->slot);
	if (holds_borrows(before))
		return; /* the last borrower posts INDEX_DEAD_FREE */
	give_back(t, e->slot);
	kvt_call_rcu(&e->rcu, entry_free_rcu);
}

static void index_on_insert(struct kvt *kvt, struct index_insert *ins)
{
	kvt_rcu_read_lock();
	for (size_t i = 0; i < ins->n; i++) {
		struct entry *e = ins->entries[i];
		struct tier *t = e->tier;
		struct cds_lfht_node *got;

		/* the copied entry was removed after the copy began: removals run
		 * on this thread too, so this check cannot race one */
		if (ins->source &&
		    (atomic_load_explicit(&ins->source->holds, memory_order_relaxed) & HOLD_DEAD)) {
			ins->results[i] = -ENOENT;
			give_back(t, e->slot);
			mem_free(e);
			ins->entries[i] = NULL;
			continue;
		}

		/* lost to a racing put of the same key: never published.  Checked
		 * before the slot names the entry, since readers of owner[] (the
		 * pin-monitor, lease release) may touch it once it is there; this
		 * thread is the map's only writer, so nothing can link the key
		 * between this lookup and the add below. */
		if (tier_lookup_rcu(t, &e->key)) {
			ins->results[i] = 1;
			if (!ins->keep_dup_slot)
				give_back(t, e->slot);
			mem_free(e);
			ins->entries[i] = NULL;
			continue;
		}
		/* the slot names its owner before a reader can find the entry, so a
		 * borrow taken right after linking can be released by slot */
		atomic_store_explicit(&t->slots.state[e->slot], SLOT_LIVE, memory_order_relaxed);
		atomic_store_explicit(&t->slots.owner[e->slot], e, memory_order_release);
		/* TSan only: publishes the entry's fields; pairs with tier_match */
		tsan_release(e);
		got = cds_lfht_add_unique(t->map, entry_hash(&e->key), tier_match, &e->key,
					  &e->node);
		if (got != &e->node) {
			/* cannot happen (checked above); a reader may hold @e by
			 * now, so it is left, not freed */
			log_error("index: %s slot %u: key already linked", t->name, e->slot);
			COUNT(kvt, errors, 1);
			ins->results[i] = 1;
			ins->entries[i] = NULL;
			continue;
		}
		TIER_COUNT(t, entries, 1);
		ins->results[i] = 0;
	}
	kvt_rcu_read_unlock();
}

/* Remove one key from every tier; refused as a whole when a non-forced
 * remove finds a pin in any tier.  Caller holds rcu_read_lock. */
static int remove_key(struct kvt *kvt, const struct kvt_key *key, bool force)
{
	struct entry *found[KVT_MAX_TIERS];
	int ret = -ENOENT;

	for (uint32_t i = 0; i < kvt->ntiers; i++) {
		uint64_t h;

		found[i] = tier_lookup_rcu(kvt->tiers[i], key);
		if (!found[i])
			continue;
		h = atomic_load_explicit(&found[i]->holds, memory_order_relaxed);
		if (!force && holds_pins(h) && !(h & HOLD_DEAD))
			return -EBUSY;
	}
	for (uint32_t i = 0; i < kvt->ntiers; i++) {
		uint64_t before;

		if (!found[i] || entry_kill(found[i], force, &before))
			continue;
		unlink_entry(kvt, found[i], before);
		ret = 0;
	}
	return ret;
}

static void index_on_remove(struct kvt *kvt, struct index_remove *rm)
{
	rm->removed = 0;
	kvt_rcu_read_lock();
	for (size_t i = 0; i < rm->n; i++) {
		int ret = remove_key(kvt, &rm->keys[i], rm->force);

		if (ret == 0) {
			rm->removed++;
			COUNT(kvt, removes, 1);
		} else if (ret == -EBUSY) {
			COUNT(kvt, remove_refused, 1);
		}
		if (rm->results)
			rm->results[i] = ret;
	}
	kvt_rcu_read_unlock();
}

static void index_on_slot_free(struct kvt *kvt, struct tier *t, uint32_t slot, uint64_t gen)
{
	struct slots *s = &t->slots;

	if (slot >= s->nslots ||
	    atomic_load_explicit(&s->gen[slot], memory_order_relaxed) != gen ||
	    atomic_load_explicit(&s->state[slot], memory_order_relaxed) != SLOT_RESERVED) {
		log_error("index: stale free of %s slot %u gen %llu", t->name, slot,
			  (unsigned long long)gen);
		COUNT(kvt, errors, 1);
		return;
	}
	give_back(t, slot);
}

static void index_on_dead_free(struct entry *e)
{
	give_back(e->tier, e->slot);
	kvt_call_rcu(&e->rcu, entry_free_rcu);
}

/*
 * evict_to() - CLOCK: walk @t's slots from the hand; a referenced entry gets
 * a second chance, an idle one (no pins, borrows) is claimed and unlinked.
 * Reserved slots have no owner and are skipped: in-flight writes are never
 * evicted.  Stops at @target free slots or after two turns.
 */
static void evict_to(struct kvt *kvt, struct tier *t, uint32_t target)
{
	struct slots *s = &t->slots;
	uint64_t budget = 2ull * s->nslots;

	kvt_rcu_read_lock();
	while (slots_free_count(s) < target && budget--) {
		uint32_t slot = t->clock_hand;
		struct entry *e;

		t->clock_hand = slot + 1 == s->nslots ? 0 : slot + 1;
		e = atomic_load_explicit(&s->owner[slot], memory_order_relaxed);
		if (!e)
			continue;
		if (atomic_load_explicit(&e->referenced, memory_order_relaxed)) {
			atomic_store_explicit(&e->referenced, 0, memory_order_relaxed);
			continue;
		}
		if (!entry_claim_evict(e))
			continue;
		unlink_entry(kvt, e, 0);
		TIER_COUNT(t, evictions, 1);
	}
	kvt_rcu_read_unlock();
}

static void index_handle(void *ctx, const struct actor_msg *m)
{
	struct kvt *kvt = ctx;
	int result = 0;

	ACTOR_ASSERT_SELF(&kvt->index);
	switch (m->op) {
	case INDEX_INSERT:
		index_on_insert(kvt, m->ptr[0]);
		break;
	case INDEX_REMOVE:
		index_on_remove(kvt, m->ptr[0]);
		break;
	case INDEX_SLOT_FREE:
		index_on_slot_free(kvt, m->ptr[0], m->u32, m->u64[0]);
		break;
	case INDEX_DEAD_FREE:
		index_on_dead_free(m->ptr[0]);
		break;
	case INDEX_EVICT: {
		struct tier *t = m->ptr[0];

		atomic_store_explicit(&t->evict_kicked, 0, memory_order_relaxed);
		evict_to(kvt, t, t->evict_high);
		break;
	}
	case INDEX_BARRIER:
		break;
	default:
		log_error("index: unknown op %u", m->op);
		COUNT(kvt, errors, 1);
		result = -EINVAL;
	}
	if (m->done)
		completion_signal(m->done, result);
}

/* Background eviction: keep at least the low watermark free, so puts rarely
 * wait for a slot. */
static int index_idle(void *ctx)
{
	struct kvt *kvt = ctx;

	for (uint32_t i = 0; i < kvt->ntiers; i++) {
		struct tier *t = kvt->tiers[i];

		if (t->evict_low && slots_free_count(&t->slots) < t->evict_low)
			evict_to(kvt, t, t->evict_high);
	}
	return -1;
}

const struct actor_ops index_actor_ops = {
	.on_start = index_on_start,
	.handle = index_handle,
	.idle = index_idle,
};

void index_destroy_tier(struct tier *t)
{
	struct cds_lfht_iter it;
	struct cds_lfht_node *node;

	kvt_rcu_read_lock();
	cds_lfht_first(t->map, &it);
	while ((node = cds_lfht_iter_get_node(&it))) {
		struct entry *e = caa_container_of(node, struct entry, node);

		cds_lfht_next(t->map, &it);
		cds_lfht_del(t->map, node);
		mem_free(e);
	}
	kvt_rcu_read_unlock();
}

void index_destroy_all(struct kvt *kvt)
{
	for (uint32_t i = 0; i < kvt->ntiers; i++)
		index_destroy_tier(kvt->tiers[i]);
}
