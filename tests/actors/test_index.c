/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Description: the index actor (actors/index.c) alone, driven by its own
 * messages on the smallest instance it runs in: one real L1 tier (slots,
 * map), the instance's call_rcu thread and the index actor, no other actor.
 * Inserts link every key of a batch and a duplicate keeps the first entry
 * (its slot freed, or kept reserved when asked); a copy of a removed source
 * is dropped; removes refuse pinned keys unless forced and keep a borrowed
 * slot until its last borrow leaves; stale slot frees change nothing; CLOCK
 * eviction stops at the high watermark, gives referenced entries a second
 * chance and never takes a pinned or borrowed one; idle eviction keeps the
 * low watermark free; racing producers, duplicates and readers leave every
 * key once and every slot accounted for.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <string.h>
#include <unistd.h>

#include "actors/index.h"
#include "core/instance.h"
#include "core/mem.h"
#include "tests/common/fixture.h"
#include "tests/common/harness.h"

#define SLOT_BYTES 64

/* The instance as kvt_open() builds it, but for the L1 tier and the index
 * actor only, with the watermarks set here; @low 0 turns idle eviction off. */
static struct kvt *ix_open(uint32_t nslots, uint32_t low, uint32_t high)
{
	struct kvt *kvt = mem_aligned_zalloc(64, sizeof(*kvt));
	struct tier *t;

	CHECK(kvt != NULL);
	t = &kvt->l1;
	t->name = "l1";
	t->owner = kvt;
	CHECK_EQ(slots_init(&t->slots, SLOT_BYTES, nslots, -1, false), 0);
	CHECK_EQ(tier_map_new(t), 0);
	t->evict_low = low;
	t->evict_high = high;
	kvt->tiers[kvt->ntiers++] = t;
	kvt->primary = t;
	kvt->crdp = create_call_rcu_data(0, -1);
	CHECK(kvt->crdp != NULL);
	CHECK_EQ(actor_start(&kvt->index, "index", &index_actor_ops, kvt, 64, 1000, -1), 0);
	return kvt;
}

/* kvt_close()'s order: stop, unlink the rest, let callbacks run, join. */
static void ix_close(struct kvt *kvt)
{
	pthread_t crt = get_call_rcu_thread(kvt->crdp);

	actor_stop(&kvt->index);
	index_destroy_all(kvt);
	rcu_barrier();
	call_rcu_data_free(kvt->crdp);
	pthread_join(crt, NULL);
	tier_map_destroy(&kvt->l1);
	slots_destroy(&kvt->l1.slots);
	mem_free(kvt);
}

static uint8_t byte_of(uint64_t id, size_t i)
{
	return (uint8_t)(id * 131 + i * 7 + 1);
}

/* A filled, RESERVED slot wrapped in an unpublished entry for key @id. */
static struct entry *stage(struct kvt *kvt, uint64_t id)
{
	struct tier *t = &kvt->l1;
	struct kvt_key k = key_of(id);
	uint32_t slot;
	uint64_t gen;
	uint8_t *p;
	struct entry *e;

	CHECK_EQ(slots_take(&t->slots, &slot, &gen, 2000, NULL, NULL), 0);
	p = tier_slot_ptr(t, slot);
	for (size_t i = 0; i < SLOT_BYTES; i++)
		p[i] = byte_of(id, i);
	e = kvt_new_entry(t, &k, slot, gen, SLOT_BYTES);
	CHECK(e != NULL);
	return e;
}

static int insert_batch(struct kvt *kvt, struct entry **es, size_t n, int *res, bool keep_dup,
			const struct entry *source)
{
	struct index_insert ins = { .entries = es, .n = n, .results = res,
				    .keep_dup_slot = keep_dup, .source = source };
	struct actor_msg m = { .op = INDEX_INSERT, .ptr = { &ins } };

	return actor_call(&kvt->index, &m);
}

/* Insert key @id; returns the result (0 linked, 1 duplicate), *@slot its slot. */
static int insert(struct kvt *kvt, uint64_t id, uint32_t *slot)
{
	struct entry *e = stage(kvt, id);
	int res = 99;

	if (slot)
		*slot = e->slot;
	CHECK_EQ(insert_batch(kvt, &e, 1, &res, false, NULL), 0);
	return res;
}

static ssize_t remove_keys(struct kvt *kvt, const uint64_t *ids, size_t n, bool force,
			   int *results)
{
	struct kvt_key keys[64];
	struct index_remove rm = { .keys = keys, .n = n, .force = force, .results = results };
	struct actor_msg m = { .op = INDEX_REMOVE, .ptr = { &rm } };

	CHECK(n <= 64);
	for (size_t i = 0; i < n; i++)
		keys[i] = key_of(ids[i]);
	CHECK_EQ(actor_call(&kvt->index, &m), 0);
	return (ssize_t)rm.removed;
}

static void call_op(struct kvt *kvt, uint32_t op, void *ptr, uint32_t u32, uint64_t u64)
{
	struct actor_msg m = { .op = op, .u32 = u32, .u64 = { u64 }, .ptr = { ptr } };

	CHECK_EQ(actor_call(&kvt->index, &m), 0);
}

/* The live entry of @id or NULL; with @borrow it comes back borrowed. */
static struct entry *lookup(struct kvt *kvt, uint64_t id, bool borrow)
{
	struct kvt_key k = key_of(id);
	struct entry *e;

	kvt_rcu_read_lock();
	e = tier_lookup_rcu(&kvt->l1, &k);
	if (e && (atomic_load(&e->holds) & HOLD_DEAD))
		e = NULL;
	if (e && borrow && !entry_try_borrow_rcu(e))
		e = NULL;
	kvt_rcu_read_unlock();
	return e;
}

static bool present(struct kvt *kvt, uint64_t id)
{
	return lookup(kvt, id, false) != NULL;
}

/* Pin @id as kvt_contains(KVT_PIN) does, counting a first pin. */
static void pin(struct kvt *kvt, uint64_t id)
{
	struct kvt_key k = key_of(id);
	struct entry *e;
	bool first = false;

	kvt_rcu_read_lock();
	e = tier_lookup_rcu(&kvt->l1, &k);
	CHECK(e && entry_try_pin_rcu(e, clock_now_ms(), &first));
	kvt_rcu_read_unlock();
	if (first)
		COUNT(kvt, pinned_entries, 1);
}

static bool bytes_ok(struct kvt *kvt, uint32_t slot, uint64_t id)
{
	const uint8_t *p = tier_slot_ptr(&kvt->l1, slot);

	for (size_t i = 0; i < SLOT_BYTES; i++)
		if (p[i] != byte_of(id, i))
			return false;
	return true;
}

static uint8_t state_of(struct kvt *kvt, uint32_t slot)
{
	return atomic_load(&kvt->l1.slots.state[slot]);
}

static uint64_t gen_of(struct kvt *kvt, uint32_t slot)
{
	return atomic_load(&kvt->l1.slots.gen[slot]);
}

static uint32_t free_slots(struct kvt *kvt)
{
	return slots_free_count(&kvt->l1.slots);
}

static uint64_t entries(struct kvt *kvt)
{
	return atomic_load(&kvt->l1.c.entries);
}

TEST(batched_inserts_link_every_key_and_lookups_find_their_bytes)
{
	struct kvt *kvt = ix_open(256, 0, 0);
	struct entry *es[50];
	int res[50];

	for (uint64_t base = 0; base < 200; base += 50) {
		for (size_t i = 0; i < 50; i++)
			es[i] = stage(kvt, base + i);
		CHECK_EQ(insert_batch(kvt, es, 50, res, false, NULL), 0);
		for (size_t i = 0; i < 50; i++)
			CHECK_ROW(i, res[i] == 0 && es[i] != NULL);
	}
	CHECK_EQ(entries(kvt), 200);
	CHECK_EQ(free_slots(kvt), 56);
	for (uint64_t id = 0; id < 200; id++) {
		struct entry *e = lookup(kvt, id, false);

		CHECK_ROW(id, e != NULL);
		CHECK_ROW(id, e->key.hi == id);
		/* the slot names its entry, LIVE, and holds the key's bytes */
		CHECK_ROW(id, atomic_load(&kvt->l1.slots.owner[e->slot]) == e);
		CHECK_ROW(id, state_of(kvt, e->slot) == SLOT_LIVE);
		CHECK_ROW(id, bytes_ok(kvt, e->slot, id));
	}
	CHECK(!present(kvt, 200));
	CHECK(!present(kvt, 1000000));
	ix_close(kvt);
}

TEST(duplicate_insert_keeps_the_first_entry_and_frees_the_second_slot)
{
	struct kvt *kvt = ix_open(16, 0, 0);
	struct entry *first, *es[2];
	uint32_t slot, dup_slot;
	uint64_t dup_gen;
	int res[2];

	CHECK_EQ(insert(kvt, 7, &slot), 0);
	first = lookup(kvt, 7, false);
	/* a second put of the key, one message later */
	CHECK_EQ(insert(kvt, 7, &dup_slot), 1);
	CHECK(dup_slot != slot);
	CHECK(lookup(kvt, 7, false) == first);
	CHECK_EQ(state_of(kvt, dup_slot), SLOT_FREE);
	CHECK_EQ(entries(kvt), 1);
	CHECK_EQ(free_slots(kvt), 15);

	/* two entries of one key in one batch: the first wins */
	es[0] = stage(kvt, 8);
	es[1] = stage(kvt, 8);
	slot = es[0]->slot;
	dup_slot = es[1]->slot;
	CHECK_EQ(insert_batch(kvt, es, 2, res, false, NULL), 0);
	CHECK_EQ(res[0], 0);
	CHECK_EQ(res[1], 1);
	CHECK(es[1] == NULL);
	CHECK_EQ(lookup(kvt, 8, false)->slot, slot);
	CHECK_EQ(state_of(kvt, dup_slot), SLOT_FREE);
	CHECK_EQ(entries(kvt), 2);
	CHECK_EQ(free_slots(kvt), 14);

	/* keep_dup_slot (kvt_commit): the loser's slot stays the caller's */
	es[0] = stage(kvt, 7);
	dup_slot = es[0]->slot;
	dup_gen = es[0]->gen;
	CHECK_EQ(insert_batch(kvt, es, 1, res, true, NULL), 0);
	CHECK_EQ(res[0], 1);
	CHECK_EQ(state_of(kvt, dup_slot), SLOT_RESERVED);
	CHECK_EQ(free_slots(kvt), 13);
	call_op(kvt, INDEX_SLOT_FREE, &kvt->l1, dup_slot, dup_gen);
	CHECK_EQ(state_of(kvt, dup_slot), SLOT_FREE);
	CHECK_EQ(gen_of(kvt, dup_slot), dup_gen + 1);
	CHECK_EQ(free_slots(kvt), 14);
	CHECK_EQ(atomic_load(&kvt->c.errors), 0);
	ix_close(kvt);
}

TEST(remove_refuses_a_pinned_key_unless_forced)
{
	struct kvt *kvt = ix_open(16, 0, 0);
	uint64_t ids[4] = { 0, 1, 2, 99 };
	uint32_t slots[3];
	int results[4];

	for (uint64_t id = 0; id < 3; id++)
		CHECK_EQ(insert(kvt, id, &slots[id]), 0);
	pin(kvt, 1);
	pin(kvt, 1);
	CHECK_EQ(atomic_load(&kvt->c.pinned_entries), 1);
	CHECK_EQ(remove_keys(kvt, ids, 4, false, results), 2);
	CHECK_EQ(results[0], 0);
	CHECK_EQ(results[1], -EBUSY);
	CHECK_EQ(results[2], 0);
	CHECK_EQ(results[3], -ENOENT);
	CHECK_EQ(atomic_load(&kvt->c.removes), 2);
	CHECK_EQ(atomic_load(&kvt->c.remove_refused), 1);
	CHECK(!present(kvt, 0) && present(kvt, 1) && !present(kvt, 2));
	CHECK_EQ(state_of(kvt, slots[0]), SLOT_FREE);
	CHECK_EQ(state_of(kvt, slots[1]), SLOT_LIVE);
	CHECK_EQ(entries(kvt), 1);

	/* forced: the pins go with the entry, and the pinned count with them */
	CHECK_EQ(remove_keys(kvt, &ids[1], 1, true, results), 1);
	CHECK_EQ(results[0], 0);
	CHECK(!present(kvt, 1));
	CHECK_EQ(state_of(kvt, slots[1]), SLOT_FREE);
	CHECK_EQ(atomic_load(&kvt->c.pinned_entries), 0);
	CHECK_EQ(entries(kvt), 0);
	CHECK_EQ(free_slots(kvt), 16);
	/* gone is gone: a second remove finds nothing */
	CHECK_EQ(remove_keys(kvt, &ids[1], 1, true, results), 0);
	CHECK_EQ(results[0], -ENOENT);
	ix_close(kvt);
}

TEST(a_removed_borrowed_entry_keeps_its_slot_until_the_last_borrow_leaves)
{
	struct kvt *kvt = ix_open(8, 0, 0);
	uint64_t id = 5;
	struct entry *e1, *e2;
	uint32_t slot;
	uint64_t gen;
	int res;

	CHECK_EQ(insert(kvt, id, &slot), 0);
	gen = gen_of(kvt, slot);
	e1 = lookup(kvt, id, true);
	e2 = lookup(kvt, id, true);
	CHECK(e1 && e1 == e2);
	CHECK_EQ(remove_keys(kvt, &id, 1, false, &res), 1);
	CHECK(!present(kvt, id));
	CHECK(lookup(kvt, id, true) == NULL);
	/* the readers' bytes stay: the slot is neither freed nor reused */
	CHECK_EQ(state_of(kvt, slot), SLOT_LIVE);
	CHECK_EQ(free_slots(kvt), 7);
	CHECK(bytes_ok(kvt, slot, id));
	CHECK(!entry_put_borrow(e1));
	CHECK_EQ(free_slots(kvt), 7);
	/* the last borrower hands the slot back */
	CHECK(entry_put_borrow(e2));
	call_op(kvt, INDEX_DEAD_FREE, e2, 0, 0);
	CHECK_EQ(state_of(kvt, slot), SLOT_FREE);
	CHECK_EQ(gen_of(kvt, slot), gen + 1);
	CHECK_EQ(free_slots(kvt), 8);
	CHECK_EQ(entries(kvt), 0);
	ix_close(kvt);
}

TEST(a_copy_of_a_source_removed_meanwhile_is_dropped)
{
	struct kvt *kvt = ix_open(8, 0, 0);
	uint64_t id = 3;
	struct entry *src, *copy;
	uint32_t copy_slot;
	int res = 99;

	CHECK_EQ(insert(kvt, id, NULL), 0);
	src = lookup(kvt, id, true); /* the copier's borrow keeps it allocated */
	CHECK(src != NULL);
	CHECK_EQ(remove_keys(kvt, &id, 1, false, &res), 1);
	/* the copy was made before the removal; linking it would undo it */
	copy = stage(kvt, id);
	copy_slot = copy->slot;
	CHECK_EQ(insert_batch(kvt, &copy, 1, &res, false, src), 0);
	CHECK_EQ(res, -ENOENT);
	CHECK(copy == NULL);
	CHECK(!present(kvt, id));
	CHECK_EQ(state_of(kvt, copy_slot), SLOT_FREE);
	CHECK_EQ(entries(kvt), 0);
	CHECK(entry_put_borrow(src));
	call_op(kvt, INDEX_DEAD_FREE, src, 0, 0);
	CHECK_EQ(free_slots(kvt), 8);

	/* a live source does not stop the copy */
	CHECK_EQ(insert(kvt, 4, NULL), 0);
	src = lookup(kvt, 4, true);
	copy = stage(kvt, 40);
	CHECK_EQ(insert_batch(kvt, &copy, 1, &res, false, src), 0);
	CHECK_EQ(res, 0);
	CHECK(present(kvt, 40));
	CHECK(!entry_put_borrow(src));
	ix_close(kvt);
}

TEST(a_stale_slot_free_changes_nothing)
{
	struct kvt *kvt = ix_open(8, 0, 0);
	struct tier *t = &kvt->l1;
	uint32_t slot, again;
	uint64_t gen, gen2;

	CHECK_EQ(slots_take(&t->slots, &slot, &gen, 0, NULL, NULL), 0);
	/* a lease of an older life of the slot */
	call_op(kvt, INDEX_SLOT_FREE, t, slot, gen - 1);
	CHECK_EQ(state_of(kvt, slot), SLOT_RESERVED);
	CHECK_EQ(free_slots(kvt), 7);
	CHECK_EQ(atomic_load(&kvt->c.errors), 1);
	call_op(kvt, INDEX_SLOT_FREE, t, slot, gen);
	CHECK_EQ(state_of(kvt, slot), SLOT_FREE);
	CHECK_EQ(free_slots(kvt), 8);
	/* freed twice: the second is refused, so the slot is in the ring once */
	call_op(kvt, INDEX_SLOT_FREE, t, slot, gen);
	call_op(kvt, INDEX_SLOT_FREE, t, 1000, gen);
	CHECK_EQ(atomic_load(&kvt->c.errors), 3);
	CHECK_EQ(free_slots(kvt), 8);
	/* a committed slot is the entry's: freeing it as a reservation is refused */
	CHECK_EQ(insert(kvt, 1, &slot), 0);
	call_op(kvt, INDEX_SLOT_FREE, t, slot, gen_of(kvt, slot));
	CHECK_EQ(atomic_load(&kvt->c.errors), 4);
	CHECK_EQ(state_of(kvt, slot), SLOT_LIVE);
	CHECK(present(kvt, 1));
	CHECK_EQ(free_slots(kvt), 7);
	CHECK_EQ(remove_keys(kvt, (uint64_t[]){ 1 }, 1, false, NULL), 1);
	for (int i = 0; i < 8; i++) {
		CHECK_EQ(slots_take(&t->slots, &again, &gen2, 0, NULL, NULL), 0);
		CHECK_ROW(i, state_of(kvt, again) == SLOT_RESERVED);
	}
	CHECK_EQ(slots_take(&t->slots, &again, &gen2, 0, NULL, NULL), -ENOSPC);
	ix_close(kvt);
}

TEST(clock_eviction_stops_at_high_second_chance_spares_pins_and_borrows)
{
	struct kvt *kvt = ix_open(32, 0, 8);
	uint32_t slot_of[32];
	struct entry *borrowed;

	/* a fresh free ring hands slots out in order: key i fills slot i */
	for (uint64_t id = 0; id < 32; id++) {
		CHECK_EQ(insert(kvt, id, &slot_of[id]), 0);
		CHECK_EQ(slot_of[id], id);
	}
	CHECK_EQ(free_slots(kvt), 0);
	pin(kvt, 0);
	borrowed = lookup(kvt, 1, true);
	/* every new entry is referenced: one turn clears the bits, the next
	 * evicts from the hand (slot 0) on, passing the pinned and the borrowed */
	call_op(kvt, INDEX_EVICT, &kvt->l1, 0, 0);
	CHECK_EQ(free_slots(kvt), 8);
	CHECK_EQ(atomic_load(&kvt->l1.c.evictions), 8);
	CHECK_EQ(entries(kvt), 24);
	for (uint64_t id = 0; id < 32; id++) {
		bool gone = slot_of[id] >= 2 && slot_of[id] < 10;

		CHECK_ROW(id, present(kvt, id) == !gone);
		CHECK_ROW(id, state_of(kvt, slot_of[id]) == (gone ? SLOT_FREE : SLOT_LIVE));
	}

	/* the hand is at slot 10 now; entries read since get a second chance */
	kvt->l1.evict_high = 12;
	for (uint64_t id = 0; id < 32; id++)
		if (slot_of[id] >= 10 && slot_of[id] < 14)
			entry_touch(lookup(kvt, id, false));
	call_op(kvt, INDEX_EVICT, &kvt->l1, 0, 0);
	CHECK_EQ(free_slots(kvt), 12);
	for (uint64_t id = 0; id < 32; id++) {
		bool gone = slot_of[id] >= 2 && slot_of[id] < 10;

		gone |= slot_of[id] >= 14 && slot_of[id] < 18;
		CHECK_ROW(id, present(kvt, id) == !gone);
	}
	/* asked for every slot: all else goes, the pinned and the borrowed entry
	 * stay, and the walk gives up after two turns */
	kvt->l1.evict_high = 32;
	call_op(kvt, INDEX_EVICT, &kvt->l1, 0, 0);
	CHECK_EQ(free_slots(kvt), 30);
	CHECK(present(kvt, 0) && present(kvt, 1));
	CHECK(bytes_ok(kvt, slot_of[1], 1));
	CHECK(!entry_put_borrow(borrowed));
	ix_close(kvt);
}

/* Wait until the idle pass that the last insert started is over. */
static uint32_t settle(struct kvt *kvt, uint32_t low)
{
	for (int i = 0; i < 2000 && free_slots(kvt) < low; i++)
		usleep(1000);
	/* idle runs on the actor: a message after it waits for the whole pass */
	call_op(kvt, INDEX_BARRIER, NULL, 0, 0);
	return free_slots(kvt);
}

TEST(idle_eviction_refills_from_below_low_to_high)
{
	struct kvt *kvt = ix_open(32, 4, 8);
	uint64_t evictions;
	uint32_t free_now;

	CHECK_EQ(insert(kvt, 0, NULL), 0);
	pin(kvt, 0);
	/* 4 slots free is not below the low mark: nothing evicted */
	for (uint64_t id = 1; id < 28; id++)
		CHECK_ROW(id, insert(kvt, id, NULL) == 0);
	CHECK_EQ(settle(kvt, 4), 4);
	CHECK_EQ(atomic_load(&kvt->l1.c.evictions), 0);
	/* 3 free: the actor evicts on its own, up to the high mark exactly */
	CHECK_EQ(insert(kvt, 28, NULL), 0);
	CHECK_EQ(settle(kvt, 4), 8);
	CHECK_EQ(atomic_load(&kvt->l1.c.evictions), 5);

	/* and keeps doing so under a stream of inserts */
	for (uint64_t id = 29; id < 200; id++)
		CHECK_ROW(id, insert(kvt, id, NULL) == 0);
	free_now = settle(kvt, 4);
	evictions = atomic_load(&kvt->l1.c.evictions);
	CHECK(free_now >= 4 && free_now <= 8);
	CHECK(evictions >= 200 - 32);
	/* every slot is free or holds a linked entry: none leaked */
	CHECK_EQ(entries(kvt) + free_slots(kvt), 32);
	CHECK_EQ(entries(kvt), 200 - evictions);
	CHECK(present(kvt, 0));
	CHECK(present(kvt, 199));
	ix_close(kvt);
}

#define PRODUCERS 4
#define PER_PRODUCER 400
#define BATCH 8

struct producer {
	struct kvt *kvt;
	uint64_t first;
	_Atomic int *stop;
	int linked, dups;
};

static void *produce(void *arg)
{
	struct producer *p = arg;

	for (uint64_t i = 0; i < PER_PRODUCER; i += BATCH) {
		struct entry *es[BATCH];
		int res[BATCH];

		for (size_t j = 0; j < BATCH; j++)
			es[j] = stage(p->kvt, p->first + i + j);
		CHECK_EQ(insert_batch(p->kvt, es, BATCH, res, false, NULL), 0);
		for (size_t j = 0; j < BATCH; j++) {
			p->linked += res[j] == 0;
			p->dups += res[j] == 1;
		}
	}
	return NULL;
}

/* Readers borrow what they find and check its bytes, as kvt_get does. */
static void *read_all(void *arg)
{
	struct producer *p = arg;

	while (!atomic_load(p->stop)) {
		for (uint64_t id = 0; id < PRODUCERS * PER_PRODUCER; id += 7) {
			struct entry *e = lookup(p->kvt, id, true);

			if (!e)
				continue;
			CHECK_ROW(id, e->key.hi == id && bytes_ok(p->kvt, e->slot, id));
			/* removed while read: this reader hands the slot back */
			if (entry_put_borrow(e))
				call_op(p->kvt, INDEX_DEAD_FREE, e, 0, 0);
		}
	}
	return NULL;
}

static void *remove_half(void *arg)
{
	struct producer *p = arg;

	for (uint64_t i = 0; i < PRODUCERS * PER_PRODUCER / 2; i += 50) {
		uint64_t ids[50];

		for (size_t j = 0; j < 50; j++)
			ids[j] = p->first + i + j;
		p->linked += (int)remove_keys(p->kvt, ids, 50, false, NULL);
	}
	return NULL;
}

TEST(racing_producers_duplicates_and_readers_leave_every_key_once)
{
	struct kvt *kvt = ix_open(4096, 0, 0);
	struct producer p[PRODUCERS + 2], rd = { .kvt = kvt };
	pthread_t th[PRODUCERS + 2], reader;
	_Atomic int stop = 0;
	int linked = 0, dups = 0;
	uint64_t n = PRODUCERS * PER_PRODUCER;

	rd.stop = &stop;
	CHECK_EQ(pthread_create(&reader, NULL, read_all, &rd), 0);
	/* two more producers put the keys of producers 0 and 1 again */
	for (int i = 0; i < PRODUCERS + 2; i++) {
		p[i] = (struct producer){ .kvt = kvt, .first = (uint64_t)(i % PRODUCERS) * PER_PRODUCER };
		CHECK_EQ(pthread_create(&th[i], NULL, produce, &p[i]), 0);
	}
	for (int i = 0; i < PRODUCERS + 2; i++) {
		pthread_join(th[i], NULL);
		linked += p[i].linked;
		dups += p[i].dups;
	}
	CHECK_EQ(linked, n);
	CHECK_EQ(dups, 2 * PER_PRODUCER);
	CHECK_EQ(entries(kvt), n);
	CHECK_EQ(free_slots(kvt), 4096 - n);
	for (uint64_t id = 0; id < n; id++) {
		struct entry *e = lookup(kvt, id, false);

		CHECK_ROW(id, e && bytes_ok(kvt, e->slot, id));
	}

	/* two removers take the keys while the reader still reads */
	for (int i = 0; i < 2; i++) {
		p[i] = (struct producer){ .kvt = kvt, .first = (uint64_t)i * n / 2 };
		CHECK_EQ(pthread_create(&th[i], NULL, remove_half, &p[i]), 0);
	}
	for (int i = 0; i < 2; i++)
		pthread_join(th[i], NULL);
	atomic_store(&stop, 1);
	pthread_join(reader, NULL);
	CHECK_EQ(p[0].linked + p[1].linked, n);
	CHECK_EQ(entries(kvt), 0);
	CHECK_EQ(free_slots(kvt), 4096);
	CHECK_EQ(atomic_load(&kvt->c.errors), 0);
	ix_close(kvt);
}
