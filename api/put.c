/* SPDX-License-Identifier: Apache-2.0 */
/*
 * api/put.c - kvt_put(): copy chunks into the primary tier's slots on the
 * calling thread, one INDEX_INSERT per window of keys, then write them
 * through to DAX in tiered mode (on this thread, or on the DAX writer actor
 * with dax.async_put).  The completion callback fires once the chunk is in
 * every tier it is written to.
 *
 * Duplicates: a key already present in any tier is skipped before any copy;
 * two puts racing on one key both copy, and the index actor keeps the first
 * and frees the second (result 1, no callback), so a key is stored and its
 * callback fired once.
 */
#include <errno.h>
#include <stdalign.h>
#include <string.h>

#include "actors/daxwriter.h"
#include "actors/index.h"
#include "core/instance.h"
#include "core/daxfmt.h"
#include "core/log.h"
#include "core/mem.h"

#define PUT_WINDOW 32

void kvt_free_reserved_slot(struct kvt *kvt, struct tier *t, uint32_t slot, uint64_t gen)
{
	struct actor_msg m = { .op = INDEX_SLOT_FREE, .u32 = slot, .u64 = { gen }, .ptr = { t } };

	/* synchronous: the slot is free again when this returns */
	while (actor_call(&kvt->index, &m) == -ETIMEDOUT)
		log_warn("put: index mailbox full, retrying a slot release");
}

static bool present_rcu(struct tier *t, const struct kvt_key *key)
{
	struct entry *e = tier_lookup_rcu(t, key);

	return e && !(atomic_load_explicit(&e->holds, memory_order_relaxed) & HOLD_DEAD);
}

/* Whether @key is in @t, or with @any_tier in any tier: a put of a key some
 * tier holds is a duplicate; a promotion or write-through asks @t only. */
static bool present(struct kvt *kvt, struct tier *t, const struct kvt_key *key, bool any_tier)
{
	bool hit = false;

	kvt_rcu_read_lock();
	if (any_tier) {
		for (uint32_t i = 0; i < kvt->ntiers && !hit; i++)
			hit = present_rcu(kvt->tiers[i], key);
	} else {
		hit = present_rcu(t, key);
	}
	kvt_rcu_read_unlock();
	return hit;
}

void kvt_free_entry_unpublished(struct entry *e)
{
	mem_free(e);
}

struct entry *kvt_new_entry(struct tier *t, const struct kvt_key *key, uint32_t slot,
			    uint64_t gen, size_t len)
{
	struct entry *e = mem_aligned_alloc(alignof(struct entry), sizeof(*e));

	if (!e)
		return NULL;
	cds_lfht_node_init(&e->node);
	e->tier = t;
	e->key = *key;
	e->gen = gen;
	e->slot = slot;
	e->len = (uint32_t)len;
	atomic_init(&e->holds, 0);
	atomic_init(&e->pin_stamp_ms, 0);
	atomic_init(&e->referenced, 1);
	atomic_init(&e->reads, 0);
	return e;
}

/* Reserve, copy and wrap one chunk.  Return: 0, 1 (present), or a per-key
 * error.  On a DAX tier the slot header goes WRITING before the copy and
 * VALID after it, so a crash in between leaves a torn slot, never a wrong one. */
static int stage_one(struct kvt *kvt, struct tier *t, const struct kvt_key *key,
		     const void *buf, size_t len, unsigned int wait_ms, bool any_tier,
		     struct entry **out)
{
	uint32_t slot;
	uint64_t gen;
	int ret;

	/* a length of 0 would read back as a hole (kvt_get's out_len 0) */
	if (!len)
		return -EINVAL;
	if (len > kvt->chunk_bytes)
		return -EMSGSIZE;
	if (present(kvt, t, key, any_tier))
		return 1;
	ret = slots_take(&t->slots, &slot, &gen, t->evict_low ? wait_ms : 0, kvt_kick_eviction,
			 t);
	if (ret)
		return ret;
	if (slots_free_count(&t->slots) < t->evict_low)
		kvt_kick_eviction(t);
	if (t->fmt)
		daxfmt_begin_write(t->fmt, slot, gen);
	memcpy(tier_slot_ptr(t, slot), buf, len);
	if (t->fmt)
		daxfmt_commit(t->fmt, slot, key, (uint32_t)len, gen);
	*out = kvt_new_entry(t, key, slot, gen, len);
	if (!*out) {
		kvt_free_reserved_slot(kvt, t, slot, gen);
		return -ENOMEM;
	}
	return 0;
}

/*
 * store_window() - stage and insert keys [0, n) into @t.
 * @borrowed: when not NULL, receives per key the inserted entry with one
 *            borrow already held (taken before it was findable, so nothing
 *            evicts it first), or NULL.
 * @any_tier: a key held by any tier is a duplicate (kvt_put), not just @t.
 * @source:   when copying another tier's entry (n == 1), that entry: if it
 *            is removed before the index links the copy, the copy is
 *            dropped (result -ENOENT) instead of bringing the key back.
 * n <= window_for(@t).
 * Windows bound how many slots one put holds RESERVED (invisible to
 * eviction), so a batch larger than the tier still makes progress.
 */
static void store_window(struct kvt *kvt, struct tier *t, const struct kvt_key *keys,
			 const void *const *bufs, const size_t *lens, size_t n, int *res,
			 unsigned int wait_ms, bool any_tier, struct entry **borrowed,
			 const struct entry *source)
{
	struct entry *staged[PUT_WINDOW];
	size_t where[PUT_WINDOW], nstaged = 0;
	int inserted[PUT_WINDOW];
	struct index_insert ins = { .entries = staged, .results = inserted, .source = source };
	struct actor_msg m = { .op = INDEX_INSERT, .ptr = { &ins } };
	int ret;

	for (size_t i = 0; i < n; i++) {
		if (borrowed)
			borrowed[i] = NULL;
		res[i] = stage_one(kvt, t, &keys[i], bufs[i], lens[i], wait_ms, any_tier,
				   &staged[nstaged]);
		if (res[i] == 0) {
			if (borrowed)
				atomic_store_explicit(&staged[nstaged]->holds, HOLD_BORROW,
						      memory_order_relaxed);
			/* a copy of another tier's entry carries its read count; a
			 * fill that is no put (a promotion from L2) is there already */
			if (source || !any_tier)
				atomic_store_explicit(&staged[nstaged]->reads,
						      source ? atomic_load_explicit(
								       &source->reads,
								       memory_order_relaxed) :
							       L2_READS_ADMITTED,
						      memory_order_relaxed);
			where[nstaged++] = i;
		}
	}
	if (!nstaged)
		return;
	ins.n = nstaged;
	ret = actor_call(&kvt->index, &m);
	for (size_t j = 0; j < nstaged; j++) {
		if (ret) {
			/* never posted: the entries were never published */
			kvt_free_reserved_slot(kvt, t, staged[j]->slot, staged[j]->gen);
			kvt_free_entry_unpublished(staged[j]);
			res[where[j]] = ret;
			continue;
		}
		res[where[j]] = inserted[j];
		if (borrowed && inserted[j] == 0)
			borrowed[where[j]] = staged[j];
		if (inserted[j] == 0)
			TIER_COUNT(t, bytes_in, lens[where[j]]);
	}
}

/* Keys per window: a window's reservations are not evictable, so in a tier
 * of few slots a window takes at most half of what eviction can free. */
static size_t window_for(const struct tier *t)
{
	size_t w = (t->slots.nslots - t->evict_low) / 2;

	return w < 1 ? 1 : w > PUT_WINDOW ? PUT_WINDOW : w;
}

int kvt_copy_entry(struct kvt *kvt, struct tier *t, const struct entry *src,
		   const void *bytes, unsigned int wait_ms)
{
	size_t len = src->len;
	int res;

	store_window(kvt, t, &src->key, &bytes, &len, 1, &res, wait_ms, false, NULL, src);
	return res;
}

void kvt_promote(struct kvt *kvt, struct entry *e)
{
	struct actor_msg m = { .op = DAXW_PROMOTE, .ptr = { e } };

	if (e->tier != &kvt->dax || kvt->primary != &kvt->l1 || !kvt->cfg.dax_promote)
		return;
	/* the caller's borrow keeps @e alive: one more is safe without RCU,
	 * and lets the copy run after the caller releases its own */
	atomic_fetch_add_explicit(&e->holds, HOLD_BORROW, memory_order_relaxed);
	atomic_fetch_add_explicit(&kvt_shard(kvt)->active, 1, memory_order_relaxed);
	if (!actor_post(&kvt->daxwriter, &m))
		return;
	kvt_put_entry(kvt, e);
	kvt_exit(kvt);
}

int kvt_write_through(struct kvt *kvt, struct entry *e, kvt_put_cb cb, void *cb_arg,
		      size_t index)
{
	int res;

	if (kvt->cfg.dax_async_put) {
		struct actor_msg m = {
			.op = DAXW_WRITE, .u64 = { index }, .ptr = { e, cb_arg, (void *)cb },
		};

		/* the queued write is an operation of its own: close waits for it */
		atomic_fetch_add_explicit(&kvt_shard(kvt)->active, 1, memory_order_relaxed);
		if (!actor_post(&kvt->daxwriter, &m))
			return 0;
		kvt_put_entry(kvt, e);
		kvt_exit(kvt);
		COUNT(kvt, dax_write_errors, 1);
		return -ETIMEDOUT;
	}
	res = kvt_copy_entry(kvt, &kvt->dax, e, entry_data(e), kvt->cfg.put_wait_ms);
	kvt_put_entry(kvt, e);
	if (res < 0) {
		/* -ENOENT: removed meanwhile, nothing to write, not a failure */
		if (res == -ENOENT)
			COUNT(kvt, dax_write_dropped, 1);
		else
			COUNT(kvt, dax_write_errors, 1);
		return res;
	}
	if (cb)
		cb(cb_arg, &e->key, index);
	return 0;
}

void kvt_fill_tier(struct kvt *kvt, struct tier *t, const struct kvt_key *keys,
		   const void *const *bufs, const size_t *lens, size_t n, int *res,
		   unsigned int wait_ms)
{
	size_t window = window_for(t);

	for (size_t base = 0; base < n; base += window) {
		size_t w = n - base < window ? n - base : window;

		store_window(kvt, t, keys + base, bufs + base, lens + base, w, res + base,
			     wait_ms, false, NULL, NULL);
	}
}

/* Count a put's per-key outcome and record it. */
static void put_result(struct kvt *kvt, int res, int *results, size_t i)
{
	if (res == 1)
		COUNT(kvt, put_duplicates, 1);
	else if (res < 0)
		COUNT(kvt, put_errors, 1);
	if (results)
		results[i] = res;
}

/*
 * Staging-buffer mode: copy each chunk into a free L1 slot that is never
 * linked, so no lookup sees it and nothing evicts it, and hand the window
 * to the L2 adapters; the slot is freed once every adapter answered.  A
 * full staging area is waited for at most staging_wait_ms.
 */
static ssize_t staging_put(struct kvt *kvt, const struct kvt_key *keys,
			   const void *const *bufs, const size_t *lens, size_t n, int *results,
			   kvt_put_cb cb, void *cb_arg)
{
	struct tier *t = &kvt->l1;
	ssize_t queued = 0;

	for (size_t base = 0; base < n; base += PUT_WINDOW) {
		size_t w = n - base < PUT_WINDOW ? n - base : PUT_WINDOW, k = 0;
		struct kvt_key ks[PUT_WINDOW];
		const void *ptrs[PUT_WINDOW];
		size_t ls[PUT_WINDOW], idx[PUT_WINDOW];
		uint32_t slots[PUT_WINDOW];
		uint64_t gens[PUT_WINDOW];

		for (size_t i = base; i < base + w; i++) {
			int res = 0;

			if (!lens[i])
				res = -EINVAL;
			else if (lens[i] > kvt->chunk_bytes)
				res = -EMSGSIZE;
			else if (slots_take(&t->slots, &slots[k], &gens[k], kvt->cfg.staging_wait_ms,
					    NULL, NULL))
				res = -ETIMEDOUT;
			if (res == -ETIMEDOUT) {
				COUNT(kvt, staging_timeouts, 1);
				log_warn("put: staging area full: no L1 staging buffer freed within staging_wait_ms=%u (%u buffers, all waiting on L2 writes)",
					 kvt->cfg.staging_wait_ms, t->slots.nslots);
			}
			put_result(kvt, res, results, i);
			if (res)
				continue;
			memcpy(tier_slot_ptr(t, slots[k]), bufs[i], lens[i]);
			COUNT(kvt, staging_inflight, 1);
			ks[k] = keys[i];
			ptrs[k] = tier_slot_ptr(t, slots[k]);
			ls[k] = lens[i];
			idx[k++] = i;
		}
		if (k)
			l2_write_through(kvt, ks, ptrs, ls, k, NULL, slots, gens, cb, cb_arg, idx);
		queued += (ssize_t)k;
	}
	return queued;
}

/* Queue the chunks @res says were stored to every L2 adapter, from their
 * borrowed L1 (or DAX primary) copies. */
static void put_to_l2(struct kvt *kvt, const struct kvt_key *keys, const size_t *lens,
		      struct entry **borrowed, const int *res, size_t w, size_t base,
		      kvt_put_cb cb, void *cb_arg)
{
	struct kvt_key ks[PUT_WINDOW];
	const void *ptrs[PUT_WINDOW];
	struct entry *ents[PUT_WINDOW];
	size_t ls[PUT_WINDOW], idx[PUT_WINDOW], k = 0;

	for (size_t i = 0; i < w; i++) {
		if (res[i] != 0)
			continue;
		ks[k] = keys[i];
		ptrs[k] = entry_data(borrowed[i]);
		ls[k] = lens[i];
		ents[k] = borrowed[i];
		idx[k++] = base + i;
	}
	if (k)
		l2_write_through(kvt, ks, ptrs, ls, k, ents, NULL, NULL, cb, cb_arg, idx);
}

ssize_t kvt_put(struct kvt *kvt, const struct kvt_key *keys, const void *const *bufs,
		const size_t *lens, size_t n, int *results, kvt_put_cb cb, void *cb_arg)
{
	bool tiered, l2;
	size_t window;
	ssize_t stored = 0;
	uint64_t t0;

	if (!kvt || (n && (!keys || !bufs || !lens)))
		return -EINVAL;
	for (size_t i = 0; i < n; i++)
		if (!bufs[i] && lens[i])
			return -EINVAL;
	tiered = kvt->has_dax && kvt->primary == &kvt->l1;
	l2 = l2_on_put(kvt);
	window = window_for(kvt->primary);
	if (!kvt_enter(kvt))
		return -ESHUTDOWN;
	t0 = kvt_op_start(kvt);
	if (kvt->staging) {
		stored = staging_put(kvt, keys, bufs, lens, n, results, cb, cb_arg);
		COUNT(kvt, puts, stored);
		KVT_OP_DONE(kvt, KVT_OP_PUT, t0);
		kvt_exit(kvt);
		return stored;
	}
	for (size_t base = 0; base < n; base += window) {
		size_t w = n - base < window ? n - base : window;
		struct entry *borrowed[PUT_WINDOW];
		int res[PUT_WINDOW];

		store_window(kvt, kvt->primary, keys + base, bufs + base, lens + base, w, res,
			     kvt->cfg.put_wait_ms, true, tiered || l2 ? borrowed : NULL, NULL);
		for (size_t i = 0; i < w; i++) {
			if (res[i] == 0) {
				stored++;
				/* with L2 tiers the callback waits for them; the DAX
				 * write-through then gets a borrow of its own */
				if (tiered && l2)
					atomic_fetch_add_explicit(&borrowed[i]->holds, HOLD_BORROW,
								  memory_order_relaxed);
				/* a failed write-through leaves the chunk in L1 only:
				 * stored, counted in dax_write_errors, no callback */
				if (tiered)
					kvt_write_through(kvt, borrowed[i], l2 ? NULL : cb, cb_arg,
							  base + i);
				else if (cb && !l2)
					cb(cb_arg, &keys[base + i], base + i);
			}
			put_result(kvt, res[i], results, base + i);
		}
		if (l2)
			put_to_l2(kvt, keys + base, lens + base, borrowed, res, w, base, cb, cb_arg);
	}
	COUNT(kvt, puts, stored);
	KVT_OP_DONE(kvt, KVT_OP_PUT, t0);
	kvt_exit(kvt);
	return stored;
}
