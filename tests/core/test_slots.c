/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Description: the L1 slot arena (core/slots.c): every slot is taken once
 * before -ENOSPC, a give-back bumps the slot's generation and returns it to
 * the free ring, a waiting take is kicked for eviction and woken by a
 * give-back, slots recovered as LIVE stay out of the ring, many takers
 * against one giver never share a slot, never-used slots are taken in id
 * order and the frontier watch fires once per arming.
 */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <string.h>
#include <unistd.h>

#include "core/slots.h"
#include "tests/common/harness.h"

#define NSLOTS 64u
#define SLOT_BYTES 4096u

TEST(every_slot_once_then_enospc)
{
	struct slots s;
	uint8_t seen[NSLOTS] = { 0 };
	uint32_t slot;
	uint64_t gen;

	CHECK_EQ(slots_init(&s, SLOT_BYTES, NSLOTS, -1, false), 0);
	CHECK_EQ(slots_free_count(&s), NSLOTS);
	for (uint32_t i = 0; i < NSLOTS; i++) {
		CHECK_ROW(i, slots_take(&s, &slot, &gen, 0, NULL, NULL) == 0);
		CHECK_ROW(i, slot < NSLOTS && !seen[slot]);
		seen[slot] = 1;
		memset(slots_ptr(&s, slot), (int)slot, SLOT_BYTES); /* the whole slot is ours */
	}
	CHECK_EQ(slots_take(&s, &slot, &gen, 0, NULL, NULL), -ENOSPC);
	slots_destroy(&s);
}

TEST(give_back_bumps_the_generation)
{
	struct slots s;
	uint32_t slot, again;
	uint64_t gen, gen2;

	CHECK_EQ(slots_init(&s, SLOT_BYTES, 1, -1, false), 0);
	CHECK_EQ(slots_take(&s, &slot, &gen, 0, NULL, NULL), 0);
	CHECK_EQ(slots_free_count(&s), 0);
	slots_give_back(&s, slot);
	CHECK_EQ(slots_free_count(&s), 1);
	CHECK_EQ(slots_take(&s, &again, &gen2, 0, NULL, NULL), 0);
	CHECK_EQ(again, slot);
	CHECK_EQ(gen2, gen + 1); /* a lease on the old generation is stale */
	slots_destroy(&s);
}

struct kicker {
	struct slots *s;
	uint32_t slot;
	atomic_int kicks;
};

/* eviction, as the index actor would do it: free the one slot on the first kick */
static void kick(void *arg)
{
	struct kicker *k = arg;

	if (atomic_fetch_add(&k->kicks, 1) == 0)
		slots_give_back(k->s, k->slot);
}

TEST(a_waiting_take_kicks_eviction_and_wakes_on_give_back)
{
	struct slots s;
	struct kicker k = { .s = &s };
	uint32_t slot;
	uint64_t gen;

	CHECK_EQ(slots_init(&s, SLOT_BYTES, 1, -1, false), 0);
	CHECK_EQ(slots_take(&s, &k.slot, &gen, 0, NULL, NULL), 0);
	CHECK_EQ(slots_take(&s, &slot, &gen, 2000, kick, &k), 0);
	CHECK_EQ(slot, k.slot);
	CHECK(atomic_load(&k.kicks) >= 1);
	atomic_store(&k.kicks, 1); /* no more give-backs: the next wait times out */
	CHECK_EQ(slots_take(&s, &slot, &gen, 10 * SLOTS_KICK_EVERY_MS, kick, &k), -ENOSPC);
	CHECK(atomic_load(&k.kicks) >= 3); /* kicked again while it waited */
	slots_destroy(&s);
}

TEST(recovered_live_slots_stay_out_of_the_ring)
{
	static uint8_t mem[4 * SLOT_BYTES];
	uint64_t live[4] = { 0, 7, 0, 9 };
	struct slots s;
	uint32_t a, b;
	uint64_t gen;

	CHECK_EQ(slots_init_on(&s, mem, SLOT_BYTES, 4, live), 0);
	CHECK_EQ(slots_free_count(&s), 2);
	CHECK_EQ(slots_take(&s, &a, &gen, 0, NULL, NULL), 0);
	CHECK_EQ(slots_take(&s, &b, &gen, 0, NULL, NULL), 0);
	CHECK((a == 0 && b == 2) || (a == 2 && b == 0));
	CHECK_EQ(slots_take(&s, &a, &gen, 0, NULL, NULL), -ENOSPC);
	slots_give_back(&s, 3);
	CHECK_EQ(slots_take(&s, &a, &gen, 0, NULL, NULL), 0);
	CHECK_EQ(a, 3);
	CHECK_EQ(gen, 10); /* its recovered generation, bumped */
	slots_destroy(&s);
}

/* Takers hold a slot, stamp it with their id, check the stamp survives a
 * yield, and hand it to the giver (the index actor's role) over a queue. */
#define TAKERS 3
#define ROUNDS 20000

struct race {
	struct slots s;
	_Atomic uint32_t handoff[NSLOTS]; /* slot + 1, or 0 */
	atomic_int done;
	atomic_int clashes;
};

static void *taker(void *arg)
{
	struct race *r = arg;
	uint32_t me = (uint32_t)atomic_fetch_add(&r->done, 0x10000) >> 16;

	for (int i = 0; i < ROUNDS; i++) {
		uint32_t slot;
		uint64_t gen;
		uint32_t *stamp;

		if (slots_take(&r->s, &slot, &gen, 2000, NULL, NULL))
			continue;
		stamp = slots_ptr(&r->s, slot);
		*stamp = me;
		sched_yield();
		if (*stamp != me)
			atomic_fetch_add(&r->clashes, 1);
		for (;;) {
			uint32_t empty = 0;

			if (atomic_compare_exchange_strong(&r->handoff[slot], &empty, slot + 1))
				break;
			sched_yield();
		}
	}
	atomic_fetch_add(&r->done, 1);
	return NULL;
}

TEST(many_takers_one_giver_never_share_a_slot)
{
	static struct race r;
	pthread_t t[TAKERS];

	CHECK_EQ(slots_init(&r.s, SLOT_BYTES, NSLOTS, -1, false), 0);
	for (int i = 0; i < TAKERS; i++)
		CHECK_EQ(pthread_create(&t[i], NULL, taker, &r), 0);
	while ((atomic_load(&r.done) & 0xffff) < TAKERS || slots_free_count(&r.s) < NSLOTS) {
		bool gave = false;

		for (uint32_t i = 0; i < NSLOTS; i++) {
			uint32_t v = atomic_exchange(&r.handoff[i], 0);

			if (v) {
				slots_give_back(&r.s, v - 1);
				gave = true;
			}
		}
		if (!gave)
			sched_yield();
	}
	for (int i = 0; i < TAKERS; i++)
		pthread_join(t[i], NULL);
	CHECK_EQ(atomic_load(&r.clashes), 0);
	CHECK_EQ(slots_free_count(&r.s), NSLOTS);
	slots_destroy(&r.s);
}

struct watch_log {
	uint32_t calls;
	uint32_t last;
};

static void on_frontier(void *arg, uint32_t slot)
{
	struct watch_log *w = arg;

	w->calls++;
	w->last = slot;
}

TEST(never_used_slots_go_in_id_order_and_the_watch_fires_once_per_arming)
{
	struct watch_log w = { 0, 0 };
	struct slots s;
	uint32_t slot;
	uint64_t gen;

	CHECK_EQ(slots_init(&s, SLOT_BYTES, NSLOTS, -1, false), 0);
	CHECK_EQ((uintptr_t)s.base % (2u << 20), 0); /* huge-page aligned arena */
	slots_set_watcher(&s, on_frontier, &w);
	slots_watch(&s, 10);
	for (uint32_t i = 0; i < 20; i++) {
		CHECK_ROW(i, slots_take(&s, &slot, &gen, 0, NULL, NULL) == 0);
		CHECK_ROW(i, slot == i); /* the frontier is the highest id taken */
	}
	CHECK_EQ(w.calls, 1);
	CHECK_EQ(w.last, 10);
	/* a given-back slot queues behind the never-used ones */
	slots_give_back(&s, 3);
	slots_watch(&s, 25);
	for (uint32_t i = 20; i < NSLOTS; i++) {
		CHECK_ROW(i, slots_take(&s, &slot, &gen, 0, NULL, NULL) == 0);
		CHECK_ROW(i, slot == i);
	}
	CHECK_EQ(slots_take(&s, &slot, &gen, 0, NULL, NULL), 0);
	CHECK_EQ(slot, 3);
	CHECK_EQ(w.calls, 2);
	CHECK_EQ(w.last, 25);
	slots_destroy(&s);
}
