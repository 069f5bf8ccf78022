/* SPDX-License-Identifier: Apache-2.0 */
/*
 * core/restore_plan.h - the planning step of a batched DAX restore: which
 * bytes each restore worker copies, and in which wave.  Pure computation:
 * no threads, no I/O, and no allocation (the plan lives in one buffer the
 * caller owns, sized by restore_plan_bytes()).
 *
 * Input: n items, each one chunk to restore {src_off in the device arena,
 * real length, destination, index in the caller's batch}.  Output, all in
 * the caller's buffer:
 *
 *   items    the input sorted by src_off (stable), each keeping its index;
 *   spans    maximal runs of items that one memcpy can read: source bytes
 *            contiguous (prev.src_off + prev.len == src_off, so a partial
 *            chunk ends a run) and, for host destinations, destination bytes
 *            contiguous too (prev.dst + prev.len == dst);
 *   copies   the (src, dst, len) memcpys of the device read, grouped by
 *            region: a span cut at region boundaries (host) or a span as is
 *            (slab);
 *   regions  the unit of work handed to one worker;
 *   waves    groups of at most max_regions regions; see the contract below.
 *
 * Two destination kinds, one per plan:
 *
 *   RESTORE_DST_HOST  every dst is host memory the workers may write.  One
 *       wave; its bytes are balanced over up to max_regions regions (at
 *       least min_region_bytes each), and a span is cut at any 64-byte
 *       boundary inside it, so even one huge coalesced span is copied by
 *       several workers in parallel.
 *   RESTORE_DST_SLAB  destinations the workers cannot write (device memory;
 *       dst is opaque here and never dereferenced): bytes go through the
 *       staging slab.  Region r of a wave owns slab bytes
 *       [r * region_bytes, (r + 1) * region_bytes); items are packed back to
 *       back in offset order at their real lengths, a region closes when the
 *       next item would overflow it, and after max_regions regions a new
 *       wave starts, reusing the same slab ranges.  An item longer than
 *       region_bytes is -EMSGSIZE.  Spans never cross a region.
 *
 * Executor contract (the restore workers, next to this module):
 *
 *   for each wave w, in order:
 *     hand every region of w to a worker (by pointer or index; the plan is
 *     read-only from restore_plan_build()'s return until the batch is over,
 *     so workers may share it without locks);
 *     a worker copies each of its copies: dst = copy->dst (host) or
 *     slab + copy->slab_off (slab), src = arena + copy->src_off;
 *     in slab mode it then drains each of its items from
 *     slab + item->slab_off (item->len bytes) to the destination of
 *     item->index (the engine's sink);
 *     JOIN EVERY REGION OF w (wait-all, not "until the first error") before
 *     looking at any result.  Slab mode needs this because the next wave
 *     reuses the slab; both modes need it for failure handling:
 *   on a failure in any region of w: record the first error (a cancel flag
 *   may let regions that have not started skip their copies), still join
 *   every region of w, start no later wave, and only then free the outputs
 *   and release the borrows of the whole batch.  Outputs, borrows and
 *   mappings are never released while any copy into or out of them may
 *   still run.  (LMCache PR #2904 returned on the first failed future and
 *   freed outputs that other workers were still writing: use after free.)
 *
 * Threads: any; nothing is shared between calls, the caller serializes use
 * of one buffer.  Blocks: never.  Allocates: nothing.
 */
#ifndef KVT_CORE_RESTORE_PLAN_H
#define KVT_CORE_RESTORE_PLAN_H

#include <stdalign.h>
#include <stddef.h>
#include <stdint.h>

/* Bounds that keep restore_plan_bytes() far from overflow. */
#define RESTORE_PLAN_MAX_ITEMS (1u << 24)
#define RESTORE_PLAN_MAX_REGIONS 4096u		/* = dax.restore_max_regions max */
/* Host mode: default least bytes per region (a region is one worker hop: a
 * lone chunk of up to 1 MiB is copied by one worker), and where a span may
 * be cut. */
#define RESTORE_PLAN_MIN_REGION_BYTES (1u << 20)
#define RESTORE_PLAN_SPLIT_ALIGN 64u
/* The buffer handed to restore_plan_build() is aligned to this. */
#define RESTORE_PLAN_ALIGN alignof(max_align_t)

enum restore_dst {
	RESTORE_DST_HOST = 0,	/* workers copy device -> dst directly */
	RESTORE_DST_SLAB = 1,	/* device -> staging slab -> sink */
};

/* One chunk to restore.  The planner fills region and slab_off. */
struct restore_item {
	uint64_t src_off;	/* chunk's byte offset in the device arena */
	uint64_t len;		/* real length, 1..slot_bytes */
	void *dst;		/* host: destination; slab: opaque, passed along */
	uint32_t index;		/* position in the caller's batch */
	uint32_t region;	/* out: region staging it (slab) / copying its first byte (host) */
	uint64_t slab_off;	/* out, slab only: where it lands in the slab */
};

/* A maximal run of sorted items one memcpy can read (see the file head). */
struct restore_span {
	uint64_t src_off;
	void *dst;		/* host: destination of the first byte; slab: NULL */
	uint64_t slab_off;	/* slab: slab offset of the first byte; host: 0 */
	uint64_t len;
	uint32_t first_item;	/* into plan->items */
	uint32_t nitems;
};

/* One memcpy of the device read: arena + src_off -> dst or slab + slab_off. */
struct restore_copy {
	uint64_t src_off;
	void *dst;		/* host only */
	uint64_t slab_off;	/* slab only */
	uint64_t len;
};

/* The work of one worker. */
struct restore_region {
	uint32_t first_copy;	/* plan->copies[first_copy, first_copy + ncopies) */
	uint32_t ncopies;
	/* slab: the items staged here, to drain.  host: the items this region
	 * writes into; the first and last may be shared with the neighbour
	 * regions when a span was cut inside them. */
	uint32_t first_item;
	uint32_t nitems;
	uint32_t wave;
	uint32_t slot;		/* position in its wave, 0..max_regions-1 */
	uint64_t slab_off;	/* slab: slot * region_bytes; host: 0 */
	uint64_t bytes;		/* sum of its copies' len */
};

/* Regions [first_region, first_region + nregions), run together then joined. */
struct restore_wave {
	uint32_t first_region;
	uint32_t nregions;
	uint64_t bytes;
};

struct restore_plan_params {
	enum restore_dst dst_kind;
	uint64_t slot_bytes;	/* an item longer than this is -EMSGSIZE */
	uint32_t max_regions;	/* regions per wave, 1..RESTORE_PLAN_MAX_REGIONS */
	uint64_t region_bytes;	/* slab only: slab_bytes / max_regions, > 0 */
	uint64_t min_region_bytes; /* host only: 0 means RESTORE_PLAN_MIN_REGION_BYTES */
};

struct restore_plan_stats {
	uint32_t spans_merged;	/* items - spans: memcpys saved by coalescing */
	uint32_t regions;
	uint32_t waves;
};

/*
 * The plan, at the start of the caller's buffer; every array points into
 * the same buffer, so the plan needs no teardown and dies with the buffer.
 */
struct restore_plan {
	enum restore_dst dst_kind;
	uint32_t max_regions;
	uint64_t region_bytes;	/* slab only */
	uint64_t total_bytes;	/* sum of item lengths */
	uint32_t nitems, nspans, ncopies, nregions, nwaves;
	struct restore_item *items;	/* nitems, sorted by src_off, stable */
	struct restore_span *spans;	/* nspans, in source order */
	struct restore_copy *copies;	/* ncopies, region by region */
	struct restore_region *regions;	/* nregions, wave by wave */
	struct restore_wave *waves;	/* nwaves */
	struct restore_plan_stats stats;
};

/**
 * restore_plan_bytes() - size of a plan buffer for a batch.
 * @n:           most items the buffer will plan.
 * @max_regions: the max_regions it will be planned with.
 *
 * A buffer sized for (n, max_regions) serves any batch of at most @n items
 * with at most @max_regions regions per wave, so one buffer allocated at
 * open can be reused for every batch.
 *
 * Threads: any.  Blocks: never.  Allocates: nothing.
 * Return: bytes, or 0 when @n exceeds RESTORE_PLAN_MAX_ITEMS or
 * @max_regions is 0 or exceeds RESTORE_PLAN_MAX_REGIONS.
 */
size_t restore_plan_bytes(size_t n, uint32_t max_regions);

/**
 * restore_plan_build() - plan the copies of a batched restore.
 * @p:         destination kind, slot size and limits; only read.
 * @in:        @n items in any order; only read during the call (dst is
 *             copied, never dereferenced).
 * @n:         number of items; 0 gives an empty plan (no wave).
 * @buf:       caller's buffer, aligned to RESTORE_PLAN_ALIGN; the plan is
 *             written there and stays valid until the buffer is reused or
 *             freed.
 * @buf_bytes: at least restore_plan_bytes(@n, @p->max_regions).
 * @out:       set to the plan (== @buf) on success.
 *
 * Threads: any; the caller serializes use of @buf.  Blocks: never.
 * Allocates: nothing.  O(n log n).
 * Return: 0 with *@out set; on error *@out is untouched and @buf holds
 * garbage:
 *   -EINVAL   bad @p (max_regions out of range, slot_bytes 0, slab mode
 *             with region_bytes 0), @n above RESTORE_PLAN_MAX_ITEMS, @buf
 *             too small or misaligned, an item of length 0, a host item with
 *             a NULL dst, or an item whose source or destination range wraps;
 *   -EMSGSIZE an item longer than slot_bytes, or (slab) than region_bytes.
 */
int restore_plan_build(const struct restore_plan_params *p, const struct restore_item *in,
		       size_t n, void *buf, size_t buf_bytes, struct restore_plan **out);

/* restore_copy_dst() - where @c writes: its host dst, or @slab + its slab offset. */
static inline void *restore_copy_dst(const struct restore_plan *plan,
				     const struct restore_copy *c, void *slab)
{
	return plan->dst_kind == RESTORE_DST_HOST ? c->dst : (char *)slab + c->slab_off;
}

#endif /* KVT_CORE_RESTORE_PLAN_H */
