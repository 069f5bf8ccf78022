/* SPDX-License-Identifier: Apache-2.0 */
/*
 * api/slab.c - the staging slab for restores into memory the restore
 * workers cannot write (GPU memory): workers copy device -> slab regions,
 * the caller's sink drains each region to its destination.
 *
 * The slab is bound to the device's NUMA node and mlocked on first use.  It is cut into
 * sets of 2 x restore_max_regions regions; a batch takes one whole set, so
 * it can fill one half while its sink drains the other (double buffering),
 * and concurrent batches never share a region.  Free set ids sit in a
 * Concurrency Kit MPMC ring: taking and giving back a set takes no lock.
 * The set given back last waits apart (slab.hot) and goes out first: an
 * engine's batches, one after the other, reuse one set whose pages are in
 * its TLB and caches, where the ring alone would cycle them through every
 * set.  On this PVM guest the first user write into each page costs a
 * hypervisor fault even after mlock populated it: a 64 MiB GPU sink batch
 * that met a new set each time took 50-75 ms against 3-9 ms once warm.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <numa.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>

#include "core/instance.h"
#include "core/log.h"
#include "core/mem.h"

CK_RING_PROTOTYPE(slab_set, slot_id)

#define SLAB_REGION_MIN (16u << 20)
#define SLAB_DEFAULT_BYTES (256ull << 20)

int slab_open(struct kvt *kvt, char *err, size_t errlen)
{
	struct slab *sb = &kvt->slab;
	uint64_t slot = kvt->dax.slots.slot_bytes;
	uint64_t region = slot > SLAB_REGION_MIN ? slot : SLAB_REGION_MIN;
	uint64_t set_regions = 2ull * kvt->restore_max_regions;
	uint64_t bytes = kvt->cfg.dax_retrieve_staging_slab_bytes;
	unsigned int ring_size = 4;

	if (!bytes)
		bytes = SLAB_DEFAULT_BYTES > set_regions * region ? SLAB_DEFAULT_BYTES
								   : set_regions * region;
	if (bytes < set_regions * slot) {
		snprintf(err, errlen,
			 "dax.retrieve_staging_slab_bytes: \"%llu\": must be at least 2 x dax.restore_max_regions (%u) x slot (%llu) = %llu",
			 (unsigned long long)bytes, kvt->restore_max_regions,
			 (unsigned long long)slot, (unsigned long long)(set_regions * slot));
		return -EINVAL;
	}
	/* large regions where the slab allows, never below one slot */
	if (bytes < set_regions * region)
		region = bytes / set_regions / 64 * 64;
	sb->region_bytes = region;
	sb->set_regions = (uint32_t)set_regions;
	sb->nsets = (uint32_t)(bytes / (set_regions * region));
	sb->bytes = (size_t)sb->nsets * set_regions * region;
	sb->base = mmap(NULL, sb->bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
			-1, 0);
	if (sb->base == MAP_FAILED) {
		sb->base = NULL;
		snprintf(err, errlen, "dax.retrieve_staging_slab_bytes: cannot map %zu bytes",
			 sb->bytes);
		return -ENOMEM;
	}
	if (kvt->daxdev.numa_node >= 0 && numa_available() >= 0)
		numa_tonode_memory(sb->base, sb->bytes, kvt->daxdev.numa_node);
	while (ring_size <= sb->nsets)
		ring_size <<= 1;
	sb->free_buf = mem_aligned_zalloc(64, sizeof(*sb->free_buf) * ring_size);
	if (!sb->free_buf) {
		munmap(sb->base, sb->bytes);
		sb->base = NULL;
		return -ENOMEM;
	}
	ck_ring_init(&sb->free_sets, ring_size);
	atomic_init(&sb->hot, SLAB_NO_SET);
	for (uint32_t i = 0; i < sb->nsets; i++) {
		struct slot_id id = { i };

		ck_ring_enqueue_mpmc_slab_set(&sb->free_sets, sb->free_buf, &id);
	}
	return 0;
}

void slab_close(struct kvt *kvt)
{
	struct slab *sb = &kvt->slab;

	if (!sb->base)
		return;
	munmap(sb->base, sb->bytes);
	mem_free(sb->free_buf);
	sb->base = NULL;
}

int slab_take_set(struct kvt *kvt, char **regions)
{
	struct slab *sb = &kvt->slab;
	uint64_t deadline = clock_now_ms() + kvt->cfg.mailbox_wait_ms;
	struct slot_id id;

	/* pinned on first use, so instances that never sink cost no memory;
	 * pinned pages are what a GPU sink can DMA from, so warn without them */
	if (!atomic_exchange_explicit(&sb->locked, 1, memory_order_relaxed) &&
	    mlock(sb->base, sb->bytes) < 0)
		log_warn("staging slab: mlock of %zu bytes failed (%s); raise RLIMIT_MEMLOCK",
			 sb->bytes, strerror(errno));
	for (;;) {
		uint32_t seq = atomic_load_explicit(&sb->freed_seq, memory_order_seq_cst);
		uint64_t now;
		bool got;

		id.id = atomic_exchange_explicit(&sb->hot, SLAB_NO_SET, memory_order_acquire);
		if (id.id != SLAB_NO_SET)
			break;
		tsan_ring_copy_begin();
		got = ck_ring_dequeue_mpmc_slab_set(&sb->free_sets, sb->free_buf, &id);
		tsan_ring_copy_end();
		if (got) {
			/* TSan only: the set's regions; pairs with the release in
			 * slab_give_set() */
			tsan_acquire(&sb->free_sets);
			break;
		}
		now = clock_now_ms();
		if (now >= deadline)
			return -ETIMEDOUT;
		/* the waiters/freed_seq pair with slab_give_set(): either we see
		 * its set in the ring, or it sees us waiting and wakes us */
		atomic_fetch_add_explicit(&sb->waiters, 1, memory_order_seq_cst);
		if (!ck_ring_size(&sb->free_sets) &&
		    atomic_load_explicit(&sb->hot, memory_order_seq_cst) == SLAB_NO_SET)
			waitword_wait(&sb->freed_seq, seq, (int)(deadline - now));
		atomic_fetch_sub_explicit(&sb->waiters, 1, memory_order_relaxed);
	}
	for (uint32_t r = 0; r < sb->set_regions; r++)
		regions[r] = sb->base + ((size_t)id.id * sb->set_regions + r) * sb->region_bytes;
	return (int)id.id;
}

void slab_give_set(struct kvt *kvt, int set)
{
	struct slab *sb = &kvt->slab;
	struct slot_id id = { (uint32_t)set };
	uint32_t none = SLAB_NO_SET;

	/* release: the batch's last reads of the set before the next taker's
	 * writes; an older hot set stays hot, this one joins the ring */
	if (!atomic_compare_exchange_strong_explicit(&sb->hot, &none, id.id, memory_order_seq_cst,
						     memory_order_relaxed)) {
		tsan_release(&sb->free_sets);
		tsan_ring_copy_begin();
		ck_ring_enqueue_mpmc_slab_set(&sb->free_sets, sb->free_buf, &id);
		tsan_ring_copy_end();
	}
	atomic_fetch_add_explicit(&sb->freed_seq, 1, memory_order_seq_cst);
	if (atomic_load_explicit(&sb->waiters, memory_order_seq_cst))
		waitword_wake(&sb->freed_seq);
}
