/* SPDX-License-Identifier: Apache-2.0 */
/*
 * api/put.c - kvt_put(): copy chunks into L1 slots on the calling thread,
 * then one INDEX_INSERT per window of PUT_WINDOW keys.
 *
 * Duplicates: a key already present is skipped before any copy; two puts
 * racing on one key both copy, and the index actor keeps the first and
 * frees the second (result 1, no callback), so a key is stored and its
 * callback fired once.
 */
#include <errno.h>
#include <string.h>

#include "actors/index.h"
#include "api/internal.h"
#include "core/log.h"
#include "core/mem.h"

#define PUT_WINDOW 32

void kvt_free_reserved_slot(struct kvt *kvt, struct tier *t, uint32_t slot, uint64_t gen)
{
	struct actor_msg m = { .op = INDEX_SLOT_FREE, .u32 = slot, .u64 = { gen }, .ptr = { t } };

	while (actor_post(&kvt->index, &m))
		log_warn("put: index mailbox full, retrying a slot release");
}

static bool present(struct tier *t, const struct kvt_key *key)
{
	struct entry *e;
	bool hit;

	kvt_rcu_read_lock();
	e = tier_lookup_rcu(t, key);
	hit = e && !(atomic_load_explicit(&e->holds, memory_order_relaxed) & HOLD_DEAD);
	kvt_rcu_read_unlock();
	return hit;
}

struct entry *kvt_new_entry(struct tier *t, const struct kvt_key *key, uint32_t slot,
			    uint64_t gen, size_t len)
{
	struct entry *e = mem_alloc(sizeof(*e));

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
	return e;
}

void kvt_free_entry_unpublished(struct entry *e)
{
	mem_free(e);
}

/* Reserve, copy and wrap one chunk.  Return: 0, or a per-key error. */
static int stage_one(struct kvt *kvt, const struct kvt_key *key, const void *buf,
		     size_t len, struct entry **out)
{
	struct tier *t = kvt->primary;
	uint32_t slot;
	uint64_t gen;
	int ret;

	if (len > kvt->chunk_bytes)
		return -EMSGSIZE;
	if (present(t, key))
		return 1;
	ret = slots_take(&t->slots, &slot, &gen, kvt->cfg.put_wait_ms, kvt_kick_eviction, t);
	if (ret)
		return ret;
	if (slots_free_count(&t->slots) < t->evict_low)
		kvt_kick_eviction(t);
	memcpy(tier_slot_ptr(t, slot), buf, len);
	*out = kvt_new_entry(t, key, slot, gen, len);
	if (!*out) {
		kvt_free_reserved_slot(kvt, t, slot, gen);
		return -ENOMEM;
	}
	return 0;
}

/*
 * put_window() - stage and insert keys [0, n) of a window; fills @res.
 * Windows bound how many slots one put holds RESERVED (invisible to
 * eviction), so a batch larger than L1 still makes progress.
 */
static void put_window(struct kvt *kvt, const struct kvt_key *keys, const void *const *bufs,
		       const size_t *lens, size_t n, int *res)
{
	struct entry *staged[PUT_WINDOW];
	size_t where[PUT_WINDOW], nstaged = 0;
	int inserted[PUT_WINDOW];
	struct index_insert ins = { .entries = staged, .results = inserted };
	struct actor_msg m = { .op = INDEX_INSERT, .ptr = { &ins } };
	int ret;

	for (size_t i = 0; i < n; i++) {
		res[i] = stage_one(kvt, &keys[i], bufs[i], lens[i], &staged[nstaged]);
		if (res[i] == 0)
			where[nstaged++] = i;
	}
	if (!nstaged)
		return;
	ins.n = nstaged;
	ret = actor_call(&kvt->index, &m);
	for (size_t j = 0; j < nstaged; j++) {
		if (ret) {
			/* never posted: the entries were never published */
			kvt_free_reserved_slot(kvt, staged[j]->tier, staged[j]->slot,
					       staged[j]->gen);
			kvt_free_entry_unpublished(staged[j]);
			res[where[j]] = ret;
			continue;
		}
		res[where[j]] = inserted[j];
	}
}

ssize_t kvt_put(struct kvt *kvt, const struct kvt_key *keys, const void *const *bufs,
		const size_t *lens, size_t n, int *results, kvt_put_cb cb, void *cb_arg)
{
	ssize_t stored = 0;
	uint64_t bytes = 0;

	if (n && (!keys || !bufs || !lens))
		return -EINVAL;
	if (!kvt_enter(kvt))
		return -ESHUTDOWN;
	for (size_t base = 0; base < n; base += PUT_WINDOW) {
		size_t w = n - base < PUT_WINDOW ? n - base : PUT_WINDOW;
		int res[PUT_WINDOW];

		put_window(kvt, keys + base, bufs + base, lens + base, w, res);
		for (size_t i = 0; i < w; i++) {
			if (res[i] == 0) {
				stored++;
				bytes += lens[base + i];
				if (cb)
					cb(cb_arg, &keys[base + i], base + i);
			} else if (res[i] == 1) {
				COUNT(kvt, put_duplicates, 1);
			} else {
				COUNT(kvt, put_errors, 1);
			}
			if (results)
				results[base + i] = res[i];
		}
	}
	COUNT(kvt, puts, stored);
	TIER_COUNT(kvt->primary, bytes_in, bytes);
	kvt_exit(kvt);
	return stored;
}
