/* SPDX-License-Identifier: Apache-2.0 */
/*
 * core/slots.c - the L1 slot arena (see slots.h).
 *
 * The mapping is anonymous and lazily faulted, so a large
 * max_local_cpu_size costs memory only as slots fill (unless l1.prefault
 * asks for steady put latency instead); transparent huge
 * pages are requested because restores stream whole slots.  When a NUMA
 * node is named the range is bound to it with libnuma.
 */
#define _GNU_SOURCE
#include "core/slots.h"

#include <errno.h>
#include <numa.h>
#include <string.h>
#include <sys/mman.h>

#include "core/log.h"
#include "core/mem.h"
#include "core/rcu.h"
#include "core/waitword.h"

CK_RING_PROTOTYPE(slot_id, slot_id)

static unsigned int ring_size_for(uint32_t nslots)
{
	unsigned int size = 4;

	/* a ck_ring of size N holds N - 1 */
	while (size <= nslots)
		size <<= 1;
	return size;
}

/* The free ring and the per-slot tables for s->nslots slots at s->base. */
static int slots_setup(struct slots *s, const uint64_t *live_gens)
{
	unsigned int ring_size = ring_size_for(s->nslots);

	s->free_buf = mem_aligned_zalloc(64, sizeof(*s->free_buf) * ring_size);
	if (!s->free_buf)
		return -ENOMEM;
	s->gen = mem_zalloc(sizeof(*s->gen) * s->nslots);
	if (!s->gen)
		goto err_free_ring;
	s->state = mem_zalloc(sizeof(*s->state) * s->nslots);
	if (!s->state)
		goto err_free_gen;
	s->owner = mem_zalloc(sizeof(*s->owner) * s->nslots);
	if (!s->owner)
		goto err_free_state;
	atomic_init(&s->wake_at, SLOTS_NO_WATCH);
	ck_ring_init(&s->free_ring, ring_size);
	for (uint32_t i = 0; i < s->nslots; i++) {
		struct slot_id id = { i };

		if (live_gens && live_gens[i]) {
			atomic_init(&s->gen[i], live_gens[i]);
			atomic_init(&s->state[i], SLOT_LIVE);
			continue;
		}
		atomic_init(&s->gen[i], 1);
		ck_ring_enqueue_spmc_slot_id(&s->free_ring, s->free_buf, &id);
	}
	return 0;

err_free_state:
	mem_free((void *)s->state);
err_free_gen:
	mem_free((void *)s->gen);
err_free_ring:
	mem_free(s->free_buf);
	return -ENOMEM;
}

#define HUGE_BYTES (2ul << 20)

/* An anonymous mapping of @bytes starting on a huge page boundary, so
 * every 2 MiB of it can be one transparent huge page.  Return: NULL when
 * it cannot be mapped. */
static void *map_aligned(size_t bytes)
{
	char *m = mmap(NULL, bytes + HUGE_BYTES, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	uintptr_t head;

	if (m == MAP_FAILED)
		return NULL;
	head = (HUGE_BYTES - ((uintptr_t)m & (HUGE_BYTES - 1))) & (HUGE_BYTES - 1);
	if (head)
		munmap(m, head);
	munmap(m + head + bytes, HUGE_BYTES - head);
	return m + head;
}

int slots_init(struct slots *s, size_t slot_bytes, uint32_t nslots, int numa_node,
	       bool prefault)
{
	int ret = -ENOMEM;

	memset(s, 0, sizeof(*s));
	if (!slot_bytes || !nslots || nslots > (1u << 30))
		return -EINVAL;
	s->slot_bytes = slot_bytes;
	s->nslots = nslots;
	s->map_bytes = slot_bytes * nslots;
	s->base = map_aligned(s->map_bytes);
	if (!s->base)
		return -ENOMEM;
	s->owns_map = true;
	/* where the kernel gives huge pages, a fault fills 2 MiB; where it
	 * does not, the advice fails and 4 KiB pages serve */
	madvise(s->base, s->map_bytes, MADV_HUGEPAGE);
	if (numa_node >= 0) {
		if (numa_available() < 0 || numa_node > numa_max_node()) {
			ret = -EINVAL;
			log_error("l1.numa_node: \"%d\": no such NUMA node", numa_node);
			goto err_unmap;
		}
		numa_tonode_memory(s->base, s->map_bytes, numa_node);
	}
	/* after the NUMA binding, so the pages land on the node */
	if (prefault && madvise(s->base, s->map_bytes, MADV_POPULATE_WRITE) < 0) {
		ret = -errno;
		log_error("l1.prefault: cannot populate %zu bytes: %s", s->map_bytes,
			  strerror(errno));
		goto err_unmap;
	}
	ret = slots_setup(s, NULL);
	if (ret)
		goto err_unmap;
	return 0;

err_unmap:
	munmap(s->base, s->map_bytes);
	s->base = NULL;
	return ret;
}

int slots_init_on(struct slots *s, void *base, size_t slot_bytes, uint32_t nslots,
		  const uint64_t *live_gens)
{
	int ret;

	memset(s, 0, sizeof(*s));
	if (!base || !slot_bytes || !nslots || nslots > (1u << 30))
		return -EINVAL;
	s->base = base;
	s->slot_bytes = slot_bytes;
	s->nslots = nslots;
	s->map_bytes = slot_bytes * nslots;
	ret = slots_setup(s, live_gens);
	if (ret)
		s->base = NULL;
	return ret;
}

void slots_destroy(struct slots *s)
{
	if (!s->base)
		return;
	mem_free((void *)s->owner);
	mem_free((void *)s->state);
	mem_free((void *)s->gen);
	mem_free(s->free_buf);
	if (s->owns_map)
		munmap(s->base, s->map_bytes);
	s->base = NULL;
}

static bool try_take(struct slots *s, uint32_t *slot, uint64_t *gen)
{
	struct slot_id id;
	uint8_t expected = SLOT_FREE;
	uint32_t frontier;
	bool got;

	tsan_ring_copy_begin();
	got = ck_ring_dequeue_spmc_slot_id(&s->free_ring, s->free_buf, &id);
	tsan_ring_copy_end();
	if (!got)
		return false;
	/* we own the id now: no one else can move it out of FREE */
	if (!atomic_compare_exchange_strong_explicit(&s->state[id.id], &expected, SLOT_RESERVED,
						     memory_order_acquire, memory_order_relaxed)) {
		log_error("slot %u taken from the free ring in state %u", id.id, expected);
		return false;
	}
	*slot = id.id;
	*gen = atomic_load_explicit(&s->gen[id.id], memory_order_relaxed);
	/* a never-used slot moves the frontier: one CAS on the first take of
	 * each slot, none after.  Then a crossing of the watch calls the
	 * watcher once, however many takers cross together (the Dekker pair
	 * with slots_watch() is why both are seq_cst). */
	frontier = atomic_load_explicit(&s->frontier, memory_order_relaxed);
	while (id.id >= frontier &&
	       !atomic_compare_exchange_weak_explicit(&s->frontier, &frontier, id.id + 1,
						      memory_order_seq_cst, memory_order_relaxed))
		;
	if (id.id >= atomic_load_explicit(&s->wake_at, memory_order_seq_cst) &&
	    atomic_exchange_explicit(&s->wake_at, SLOTS_NO_WATCH, memory_order_relaxed) !=
		    SLOTS_NO_WATCH)
		s->on_frontier(s->frontier_arg, id.id);
	return true;
}

int slots_take(struct slots *s, uint32_t *slot, uint64_t *gen, unsigned int wait_ms,
	       void (*kick)(void *arg), void *arg)
{
	uint64_t deadline;

	if (try_take(s, slot, gen))
		return 0;
	deadline = clock_now_ms() + wait_ms;
	for (;;) {
		uint32_t seq = atomic_load_explicit(&s->freed_seq, memory_order_seq_cst);
		uint64_t now;

		atomic_fetch_add_explicit(&s->waiters, 1, memory_order_seq_cst);
		if (try_take(s, slot, gen)) {
			atomic_fetch_sub_explicit(&s->waiters, 1, memory_order_relaxed);
			return 0;
		}
		if (kick)
			kick(arg);
		now = clock_now_ms();
		if (now >= deadline) {
			atomic_fetch_sub_explicit(&s->waiters, 1, memory_order_relaxed);
			return -ENOSPC;
		}
		/* wake up now and then to kick again: what blocked eviction
		 * (borrows, pins, writes to lower tiers) may be gone without any
		 * slot having been freed, so no give-back would wake us */
		waitword_wait(&s->freed_seq, seq,
			      (int)(deadline - now < SLOTS_KICK_EVERY_MS ? deadline - now :
									   SLOTS_KICK_EVERY_MS));
		atomic_fetch_sub_explicit(&s->waiters, 1, memory_order_relaxed);
	}
}

void slots_give_back(struct slots *s, uint32_t slot)
{
	struct slot_id id = { slot }, *free_slot;

	atomic_store_explicit(&s->owner[slot], NULL, memory_order_release);
	atomic_fetch_add_explicit(&s->gen[slot], 1, memory_order_relaxed);
	/* release: the slot's new state and generation are visible to the next taker */
	atomic_store_explicit(&s->state[slot], SLOT_FREE, memory_order_release);
	free_slot = ck_ring_enqueue_reserve_spmc_slot_id(&s->free_ring, s->free_buf);
	if (!free_slot) {
		log_error("slot %u: free ring full (a slot was given back twice)", slot);
		return;
	}
	tsan_ring_copy_begin();
	*free_slot = id;
	tsan_ring_copy_end();
	ck_ring_enqueue_commit_spmc(&s->free_ring);
	atomic_fetch_add_explicit(&s->freed_seq, 1, memory_order_seq_cst);
	if (atomic_load_explicit(&s->waiters, memory_order_seq_cst))
		waitword_wake(&s->freed_seq);
}
