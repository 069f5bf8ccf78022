/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Description: core/restore_plan.c - planning a batched DAX restore.
 * Table-driven edge cases: sorting by device offset keeps each item's index
 * and the input order of equal offsets; full chunks with contiguous
 * sources (and, for host destinations, contiguous destinations) coalesce;
 * non-contiguous destinations, source gaps and partial chunks break a run
 * (a partial chunk may still end one); the slab packs items back to back and
 * closes a region when the next item would overflow it; oversized items are
 * -EMSGSIZE; waves hold at most max_regions regions.  Host regions balance
 * bytes and cut one long span across workers with pieces that cover it
 * exactly.  Executor simulations (1000 seeded rounds each, host and slab):
 * run the plan with memcpy from a fake device into destination buffers, the
 * slab poisoned between waves, and check every byte of every item lands
 * where it belongs and nothing else is written.
 */
#include "core/restore_plan.h"

#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "tests/common/harness.h"

#define S 4096u		/* slot size of the table rows */
#define MAXI 8
#define NODST (-1L)

static void *plan_buf;

/* Build a plan in a fresh buffer of exactly restore_plan_bytes(n, max_regions). */
static int build(const struct restore_plan_params *p, const struct restore_item *in, size_t n,
		 struct restore_plan **plan)
{
	size_t bytes = restore_plan_bytes(n, p->max_regions ? p->max_regions : 1);

	free(plan_buf);
	/* restore_plan_bytes() is a multiple of RESTORE_PLAN_ALIGN, as aligned_alloc wants */
	plan_buf = aligned_alloc(RESTORE_PLAN_ALIGN, bytes);
	CHECK(plan_buf);
	memset(plan_buf, 0xcd, bytes);	/* no reliance on a zeroed buffer */
	return restore_plan_build(p, in, n, plan_buf, bytes, plan);
}

struct span_exp {
	uint32_t first_item, nitems;
	uint64_t len;
};

struct row {
	const char *name;
	enum restore_dst kind;
	uint32_t max_regions;
	uint64_t region_bytes;
	uint32_t n;
	struct {
		uint64_t src, len;
		long dst;		/* offset in the row's destination buffer, or NODST */
	} in[MAXI];
	int ret;
	uint32_t order[MAXI];		/* input positions, in planned order */
	uint32_t nspans;
	struct span_exp spans[MAXI];
	uint32_t nregions, nwaves;
	uint32_t region_nitems[MAXI];
};

static const struct row rows[] = {
	{ .name = "unsorted_sorted_stable", .kind = RESTORE_DST_HOST, .max_regions = 4, .n = 5,
	  .in = { { 2 * S, S, 0 }, { 0, S, 10 * S }, { 2 * S, S, 20 * S }, { S, S, 30 * S },
		  { 7 * S, 5, 40 * S } },
	  .order = { 1, 3, 0, 2, 4 }, .nspans = 5,
	  .spans = { { 0, 1, S }, { 1, 1, S }, { 2, 1, S }, { 3, 1, S }, { 4, 1, 5 } },
	  .nregions = 1, .nwaves = 1, .region_nitems = { 5 } },
	{ .name = "full_chunks_contiguous_dst_coalesce", .kind = RESTORE_DST_HOST,
	  .max_regions = 4, .n = 3,
	  .in = { { 2 * S, S, 2 * S }, { 0, S, 0 }, { S, S, S } },
	  .order = { 1, 2, 0 }, .nspans = 1, .spans = { { 0, 3, 3 * S } },
	  .nregions = 1, .nwaves = 1, .region_nitems = { 3 } },
	{ .name = "noncontiguous_dst_no_coalesce", .kind = RESTORE_DST_HOST,
	  .max_regions = 4, .n = 3,
	  .in = { { 0, S, 0 }, { S, S, 2 * S }, { 2 * S, S, S } },
	  .order = { 0, 1, 2 }, .nspans = 3,
	  .spans = { { 0, 1, S }, { 1, 1, S }, { 2, 1, S } },
	  .nregions = 1, .nwaves = 1, .region_nitems = { 3 } },
	{ .name = "partial_chunk_ends_run_then_breaks", .kind = RESTORE_DST_HOST,
	  .max_regions = 4, .n = 3,
	  .in = { { 0, S, 0 }, { S, 100, S }, { 2 * S, S, S + 100 } },
	  .order = { 0, 1, 2 }, .nspans = 2, .spans = { { 0, 2, S + 100 }, { 2, 1, S } },
	  .nregions = 1, .nwaves = 1, .region_nitems = { 3 } },
	{ .name = "partial_chunk_first_breaks", .kind = RESTORE_DST_HOST,
	  .max_regions = 4, .n = 2,
	  .in = { { 0, 100, 0 }, { S, S, 100 } },
	  .order = { 0, 1 }, .nspans = 2, .spans = { { 0, 1, 100 }, { 1, 1, S } },
	  .nregions = 1, .nwaves = 1, .region_nitems = { 2 } },
	{ .name = "source_gap_breaks", .kind = RESTORE_DST_HOST, .max_regions = 4, .n = 3,
	  .in = { { 0, S, 0 }, { 2 * S, S, S }, { 3 * S, S, 2 * S } },
	  .order = { 0, 1, 2 }, .nspans = 2, .spans = { { 0, 1, S }, { 1, 2, 2 * S } },
	  .nregions = 1, .nwaves = 1, .region_nitems = { 3 } },
	{ .name = "slab_packs_and_closes_on_overflow", .kind = RESTORE_DST_SLAB,
	  .max_regions = 2, .region_bytes = 10000, .n = 5,
	  .in = { { 4 * S, S, NODST }, { 3 * S, 100, NODST }, { 0, S, NODST },
		  { 2 * S, S, NODST }, { S, S, NODST } },
	  .order = { 2, 4, 3, 1, 0 }, .nspans = 3,
	  .spans = { { 0, 2, 2 * S }, { 2, 2, S + 100 }, { 4, 1, S } },
	  .nregions = 2, .nwaves = 1, .region_nitems = { 2, 3 } },
	{ .name = "slab_ignores_dst_contiguity", .kind = RESTORE_DST_SLAB,
	  .max_regions = 2, .region_bytes = 4 * S, .n = 3,
	  .in = { { 0, S, 5 * S }, { S, S, 0 }, { 2 * S, S, 9 * S } },
	  .order = { 0, 1, 2 }, .nspans = 1, .spans = { { 0, 3, 3 * S } },
	  .nregions = 1, .nwaves = 1, .region_nitems = { 3 } },
	{ .name = "slab_waves_of_max_regions", .kind = RESTORE_DST_SLAB,
	  .max_regions = 2, .region_bytes = S, .n = 5,
	  .in = { { 0, S, NODST }, { S, S, NODST }, { 2 * S, S, NODST }, { 3 * S, S, NODST },
		  { 4 * S, S, NODST } },
	  .order = { 0, 1, 2, 3, 4 }, .nspans = 5,
	  .spans = { { 0, 1, S }, { 1, 1, S }, { 2, 1, S }, { 3, 1, S }, { 4, 1, S } },
	  .nregions = 5, .nwaves = 3, .region_nitems = { 1, 1, 1, 1, 1 } },
	{ .name = "slab_item_larger_than_region", .kind = RESTORE_DST_SLAB,
	  .max_regions = 2, .region_bytes = 1000, .n = 2,
	  .in = { { 0, 500, NODST }, { S, 2000, NODST } }, .ret = -EMSGSIZE },
	{ .name = "item_larger_than_slot", .kind = RESTORE_DST_HOST, .max_regions = 2, .n = 1,
	  .in = { { 0, S + 1, 0 } }, .ret = -EMSGSIZE },
	{ .name = "zero_length_item", .kind = RESTORE_DST_HOST, .max_regions = 2, .n = 1,
	  .in = { { 0, 0, 0 } }, .ret = -EINVAL },
	{ .name = "host_item_without_dst", .kind = RESTORE_DST_HOST, .max_regions = 2, .n = 1,
	  .in = { { 0, S, NODST } }, .ret = -EINVAL },
	{ .name = "slab_without_region_bytes", .kind = RESTORE_DST_SLAB, .max_regions = 2,
	  .n = 1, .in = { { 0, S, NODST } }, .ret = -EINVAL },
	{ .name = "zero_max_regions", .kind = RESTORE_DST_HOST, .max_regions = 0, .n = 1,
	  .in = { { 0, S, 0 } }, .ret = -EINVAL },
	{ .name = "empty_batch", .kind = RESTORE_DST_HOST, .max_regions = 2, .n = 0 },
};

TEST(plan_table)
{
	static char dst[64 * S];

	for (size_t k = 0; k < sizeof(rows) / sizeof(rows[0]); k++) {
		const struct row *row = &rows[k];
		struct restore_plan_params p = { .dst_kind = row->kind, .slot_bytes = S,
						 .max_regions = row->max_regions,
						 .region_bytes = row->region_bytes };
		struct restore_item in[MAXI];
		struct restore_plan *plan = NULL;
		int ret;

		for (uint32_t i = 0; i < row->n; i++)
			in[i] = (struct restore_item){
				.src_off = row->in[i].src, .len = row->in[i].len,
				.dst = row->in[i].dst == NODST ? NULL : dst + row->in[i].dst,
				.index = 100 + i,
			};
		ret = build(&p, in, row->n, &plan);
		CHECK_ROW(row, ret == row->ret);
		if (ret) {
			CHECK_ROW(row, plan == NULL);
			continue;
		}
		CHECK_ROW(row, plan == plan_buf);
		CHECK_ROW(row, plan->nitems == row->n);
		for (uint32_t i = 0; i < row->n; i++)
			CHECK_ROW(row, plan->items[i].index == 100 + row->order[i]);
		CHECK_ROW(row, plan->nspans == row->nspans);
		for (uint32_t i = 0; i < row->nspans; i++) {
			const struct restore_span *s = &plan->spans[i];

			CHECK_ROW(row, s->first_item == row->spans[i].first_item);
			CHECK_ROW(row, s->nitems == row->spans[i].nitems);
			CHECK_ROW(row, s->len == row->spans[i].len);
			CHECK_ROW(row, s->src_off == plan->items[s->first_item].src_off);
		}
		CHECK_ROW(row, plan->nregions == row->nregions);
		CHECK_ROW(row, plan->nwaves == row->nwaves);
		for (uint32_t i = 0; i < row->nregions; i++)
			CHECK_ROW(row, plan->regions[i].nitems == row->region_nitems[i]);
		CHECK_ROW(row, plan->stats.spans_merged == row->n - row->nspans);
		CHECK_ROW(row, plan->stats.regions == row->nregions);
		CHECK_ROW(row, plan->stats.waves == row->nwaves);
	}
}

/* Slab rows in detail: slab offsets back to back, region slots reused per wave. */
TEST(slab_offsets_and_slots)
{
	struct restore_plan_params p = { .dst_kind = RESTORE_DST_SLAB, .slot_bytes = S,
					 .max_regions = 2, .region_bytes = 10000 };
	struct restore_item in[7];
	struct restore_plan *plan;
	/* lengths in offset order: region 0 {S, S}, region 1 {S, 100, S}, wave 2 {S, 300} */
	static const uint64_t lens[7] = { S, S, S, 100, S, S, 300 };
	static const uint64_t slab[7] = { 0, S, 10000, 10000 + S, 10000 + S + 100, 0, S };
	static const uint32_t region[7] = { 0, 0, 1, 1, 1, 2, 2 };

	for (uint32_t i = 0; i < 7; i++)
		in[i] = (struct restore_item){ .src_off = (uint64_t)(6 - i) * S, .len = lens[6 - i],
					       .index = i };
	CHECK_EQ(build(&p, in, 7, &plan), 0);
	CHECK_EQ(plan->nregions, 3);
	CHECK_EQ(plan->nwaves, 2);
	for (uint32_t i = 0; i < 7; i++) {
		CHECK_EQ(plan->items[i].index, 6 - i);
		CHECK_EQ(plan->items[i].slab_off, slab[i]);
		CHECK_EQ(plan->items[i].region, region[i]);
	}
	CHECK_EQ(plan->regions[0].slot, 0);
	CHECK_EQ(plan->regions[1].slot, 1);
	CHECK_EQ(plan->regions[2].slot, 0);
	CHECK_EQ(plan->regions[2].slab_off, 0);
	CHECK_EQ(plan->regions[2].wave, 1);
	CHECK_EQ(plan->waves[0].nregions, 2);
	CHECK_EQ(plan->waves[1].first_region, 2);
	CHECK_EQ(plan->waves[1].nregions, 1);
	CHECK_EQ(plan->waves[1].bytes, S + 300);
	/* spans: {0,1} | {2,3} {4} | {5,6}: 4 copies, one per span, in slab order */
	CHECK_EQ(plan->nspans, 4);
	CHECK_EQ(plan->ncopies, 4);
	for (uint32_t i = 0; i < 4; i++) {
		CHECK_EQ(plan->copies[i].src_off, plan->spans[i].src_off);
		CHECK_EQ(plan->copies[i].slab_off, plan->spans[i].slab_off);
		CHECK_EQ(plan->copies[i].len, plan->spans[i].len);
	}
	CHECK_EQ(plan->regions[1].first_copy, 1);
	CHECK_EQ(plan->regions[1].ncopies, 2);
}

/* max_regions bounds every wave; waves = ceil(regions / max_regions). */
TEST(slab_waves_count)
{
	static const struct {
		uint32_t n, max_regions, per_region, regions, waves;
	} cases[] = {
		{ 1, 1, 1, 1, 1 }, { 8, 1, 1, 8, 8 }, { 8, 4, 1, 8, 2 }, { 9, 4, 1, 9, 3 },
		{ 9, 4, 3, 3, 1 }, { 10, 2, 3, 4, 2 }, { 64, 7, 2, 32, 5 },
	};

	for (size_t k = 0; k < sizeof(cases) / sizeof(cases[0]); k++) {
		struct restore_plan_params p = { .dst_kind = RESTORE_DST_SLAB, .slot_bytes = S,
						 .max_regions = cases[k].max_regions,
						 .region_bytes = (uint64_t)cases[k].per_region * S };
		struct restore_item in[64];
		struct restore_plan *plan;

		for (uint32_t i = 0; i < cases[k].n; i++)
			in[i] = (struct restore_item){ .src_off = (uint64_t)i * 2 * S, .len = S,
						       .index = i };
		CHECK_EQ(build(&p, in, cases[k].n, &plan), 0);
		CHECK_EQ(plan->nregions, cases[k].regions);
		CHECK_EQ(plan->nwaves, cases[k].waves);
		for (uint32_t w = 0; w < plan->nwaves; w++) {
			const struct restore_wave *wv = &plan->waves[w];

			CHECK(wv->nregions >= 1 && wv->nregions <= cases[k].max_regions);
			for (uint32_t r = 0; r < wv->nregions; r++) {
				CHECK_EQ(plan->regions[wv->first_region + r].slot, r);
				CHECK_EQ(plan->regions[wv->first_region + r].wave, w);
			}
		}
	}
}

/* One long coalesced span is cut across regions; the pieces tile it exactly. */
TEST(host_single_span_split)
{
	static const struct {
		uint32_t nitems;
		uint64_t len;		/* per item */
		uint32_t max_regions, regions;
	} cases[] = {
		{ 8, S, 3, 3 }, { 8, S, 4, 4 }, { 8, S, 16, 16 }, { 1, S, 5, 5 },
		{ 1, 1000001, 4, 4 }, { 1, 100, 4, 1 }, { 3, 64, 8, 3 }, { 1, 130, 8, 2 },
	};
	static char dst[8 * 1000001];

	for (size_t k = 0; k < sizeof(cases) / sizeof(cases[0]); k++) {
		struct restore_plan_params p = { .dst_kind = RESTORE_DST_HOST,
						 .slot_bytes = cases[k].len,
						 .max_regions = cases[k].max_regions,
						 .min_region_bytes = 1 };
		uint64_t total = cases[k].nitems * cases[k].len, pos = 0, lo = UINT64_MAX, hi = 0;
		struct restore_item in[8];
		struct restore_plan *plan;

		for (uint32_t i = 0; i < cases[k].nitems; i++)
			in[i] = (struct restore_item){ .src_off = 3 * S + i * cases[k].len,
						       .len = cases[k].len,
						       .dst = dst + i * cases[k].len, .index = i };
		CHECK_EQ(build(&p, in, cases[k].nitems, &plan), 0);
		CHECK_EQ(plan->nspans, 1);
		CHECK_EQ(plan->spans[0].len, total);
		CHECK_EQ(plan->nwaves, 1);
		CHECK_EQ(plan->nregions, cases[k].regions);
		CHECK_EQ(plan->waves[0].nregions, cases[k].regions);
		for (uint32_t r = 0; r < plan->nregions; r++) {
			const struct restore_region *rg = &plan->regions[r];
			uint64_t bytes = 0;

			CHECK_EQ(rg->slot, r);
			CHECK(rg->ncopies >= 1);
			for (uint32_t c = rg->first_copy; c < rg->first_copy + rg->ncopies; c++) {
				const struct restore_copy *cp = &plan->copies[c];

				CHECK_EQ(cp->src_off, 3 * S + pos);	/* no gap, no overlap */
				CHECK(cp->dst == dst + pos);
				CHECK(cp->len > 0);
				if (pos + cp->len < total)
					CHECK_EQ(cp->len % RESTORE_PLAN_SPLIT_ALIGN, 0);
				pos += cp->len;
				bytes += cp->len;
			}
			CHECK_EQ(bytes, rg->bytes);
			CHECK_EQ(rg->first_item, (pos - bytes) / cases[k].len);
			CHECK_EQ(rg->first_item + rg->nitems - 1, (pos - 1) / cases[k].len);
			lo = rg->bytes < lo ? rg->bytes : lo;
			hi = rg->bytes > hi ? rg->bytes : hi;
		}
		CHECK_EQ(pos, total);
		CHECK(hi - lo <= RESTORE_PLAN_SPLIT_ALIGN * plan->nregions);
	}
}

/* min_region_bytes keeps small batches on few workers. */
TEST(host_min_region_bytes)
{
	static char dst[16 * S];
	struct restore_plan_params p = { .dst_kind = RESTORE_DST_HOST, .slot_bytes = S,
					 .max_regions = 8 };
	struct restore_item in[16];
	struct restore_plan *plan;

	for (uint32_t i = 0; i < 16; i++)
		in[i] = (struct restore_item){ .src_off = (uint64_t)i * S, .len = S,
					       .dst = dst + (uint64_t)i * S, .index = i };
	CHECK_EQ(build(&p, in, 16, &plan), 0);	/* 64 KiB total, below the default minimum */
	CHECK_EQ(plan->nregions, 1);
	p.min_region_bytes = 4 * S;
	CHECK_EQ(build(&p, in, 16, &plan), 0);
	CHECK_EQ(plan->nregions, 4);
	p.min_region_bytes = 3 * S;		/* floor(16 / 3) = 5 regions */
	CHECK_EQ(build(&p, in, 16, &plan), 0);
	CHECK_EQ(plan->nregions, 5);
}

TEST(buffer_checks)
{
	struct restore_plan_params p = { .dst_kind = RESTORE_DST_HOST, .slot_bytes = S,
					 .max_regions = 4 };
	static char dst[S];
	struct restore_item in = { .src_off = 0, .len = S, .dst = dst };
	struct restore_plan *plan = NULL;
	size_t bytes = restore_plan_bytes(1, 4);
	char *buf = aligned_alloc(RESTORE_PLAN_ALIGN, bytes + RESTORE_PLAN_ALIGN);

	CHECK(buf);
	CHECK(bytes > 0);
	CHECK_EQ(restore_plan_bytes(1, 0), 0);
	CHECK_EQ(restore_plan_bytes(1, RESTORE_PLAN_MAX_REGIONS + 1), 0);
	CHECK_EQ(restore_plan_bytes(RESTORE_PLAN_MAX_ITEMS + 1ul, 4), 0);
	CHECK(restore_plan_bytes(100, 4) >= restore_plan_bytes(10, 4));
	CHECK_EQ(restore_plan_build(&p, &in, 1, buf, bytes - 1, &plan), -EINVAL);
	CHECK_EQ(restore_plan_build(&p, &in, 1, buf + 1, bytes, &plan), -EINVAL);
	CHECK(plan == NULL);
	/* a buffer sized for more items and regions serves a smaller batch */
	CHECK_EQ(restore_plan_build(&p, &in, 1, buf, bytes + RESTORE_PLAN_ALIGN, &plan), 0);
	CHECK(plan == (void *)buf);
	free(buf);
}

/* ---- executor simulations ---- */

static uint64_t rng_state;

static uint64_t rnd(void)
{
	/* splitmix64: fixed seed, same rounds on every run */
	uint64_t z = (rng_state += 0x9e3779b97f4a7c15ull);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

#define SIM_ROUNDS 1000
#define SIM_MAX_ITEMS 96
#define SIM_MAX_SLOT 5000
#define SIM_SLOTS (2 * SIM_MAX_ITEMS)
#define SIM_DST_BYTES (SIM_MAX_ITEMS * (SIM_MAX_SLOT + 256) + 64)
#define SENTINEL 0xee

struct sim {
	uint8_t *dev;			/* the fake device arena */
	uint8_t *dst;			/* the destinations, SENTINEL where no item */
	uint8_t *cover;			/* per destination byte: times written */
	struct restore_item in[SIM_MAX_ITEMS];
	uint32_t n;
	uint64_t slot_bytes, total;
	size_t dst_used;		/* destination bytes this round spans */
};

/*
 * A random batch: distinct slots (a few read twice), half the items full,
 * destinations laid out in source order and mostly back to back (so runs
 * coalesce), with random gaps, then shuffled.
 */
static void sim_batch(struct sim *s)
{
	uint32_t slots[SIM_SLOTS];
	uint64_t cursor = 0;

	s->slot_bytes = 1 + rnd() % SIM_MAX_SLOT;
	s->n = 1 + rnd() % SIM_MAX_ITEMS;
	for (uint32_t i = 0; i < SIM_SLOTS; i++)
		slots[i] = i;
	for (uint32_t i = SIM_SLOTS - 1; i > 0; i--) {
		uint32_t j = rnd() % (i + 1), t = slots[i];

		slots[i] = slots[j];
		slots[j] = t;
	}
	/* mostly runs of neighbouring slots */
	for (uint32_t i = 1; i < s->n; i++)
		if (rnd() % 3)
			slots[i] = (slots[i - 1] + 1) % SIM_SLOTS;
	/* sort the chosen slots so destinations can follow source order */
	for (uint32_t i = 1; i < s->n; i++)
		for (uint32_t j = i; j > 0 && slots[j - 1] > slots[j]; j--) {
			uint32_t t = slots[j];

			slots[j] = slots[j - 1];
			slots[j - 1] = t;
		}
	s->total = 0;
	for (uint32_t i = 0; i < s->n; i++) {
		uint64_t len = rnd() % 2 ? s->slot_bytes : 1 + rnd() % s->slot_bytes;

		if (rnd() % 4 == 0)
			cursor += rnd() % 256;	/* a gap: destinations not contiguous */
		s->in[i] = (struct restore_item){ .src_off = (uint64_t)slots[i] * s->slot_bytes,
						  .len = len, .dst = s->dst + cursor, .index = i };
		cursor += len;
		s->total += len;
	}
	for (uint32_t i = s->n - 1; i > 0; i--) {
		uint32_t j = rnd() % (i + 1);
		struct restore_item t = s->in[i];

		s->in[i] = s->in[j];
		s->in[j] = t;
	}
	for (uint32_t i = 0; i < s->n; i++)
		s->in[i].index = i;	/* the caller's batch is the shuffled order */
	for (size_t i = 0; i < SIM_SLOTS * s->slot_bytes; i += 8) {
		uint64_t v = rnd();

		memcpy(s->dev + i, &v, 8);
	}
	s->dst_used = cursor + 64;	/* a margin that must stay untouched */
	memset(s->dst, SENTINEL, s->dst_used);
	memset(s->cover, 0, s->dst_used);
}

/* Every item holds its device bytes, written exactly once; nothing else written. */
static void sim_verify(const struct sim *s)
{
	uint8_t *expect_cover = calloc(1, s->dst_used);

	CHECK(expect_cover);
	for (uint32_t i = 0; i < s->n; i++) {
		const struct restore_item *it = &s->in[i];
		size_t off = (size_t)((uint8_t *)it->dst - s->dst);

		CHECK(memcmp(it->dst, s->dev + it->src_off, it->len) == 0);
		memset(expect_cover + off, 1, it->len);
	}
	for (size_t i = 0; i < s->dst_used; i++) {
		if (s->cover[i] != expect_cover[i])
			harness_fail(__FILE__, __LINE__, "dst byte %zu written %u times, want %u", i,
				     s->cover[i], expect_cover[i]);
		if (!expect_cover[i])
			CHECK_EQ(s->dst[i], SENTINEL);
	}
	free(expect_cover);
}

/* Invariants shared by both modes: sorted, stable, a permutation, stats. */
static void sim_check_common(const struct sim *s, const struct restore_plan *plan)
{
	bool seen[SIM_MAX_ITEMS] = { false };
	uint64_t bytes = 0;

	CHECK_EQ(plan->nitems, s->n);
	CHECK_EQ(plan->total_bytes, s->total);
	for (uint32_t i = 0; i < plan->nitems; i++) {
		const struct restore_item *it = &plan->items[i];

		CHECK(it->index < s->n && !seen[it->index]);
		seen[it->index] = true;
		CHECK(it->src_off == s->in[it->index].src_off && it->dst == s->in[it->index].dst);
		if (i > 0) {
			const struct restore_item *prev = &plan->items[i - 1];

			CHECK(prev->src_off <= it->src_off);
			if (prev->src_off == it->src_off)	/* stable: input positions */
				CHECK(prev->index < it->index);
		}
	}
	for (uint32_t i = 0, next = 0; i < plan->nspans; i++) {
		CHECK_EQ(plan->spans[i].first_item, next);
		next += plan->spans[i].nitems;
		bytes += plan->spans[i].len;
	}
	CHECK_EQ(bytes, s->total);
	CHECK_EQ(plan->stats.spans_merged, s->n - plan->nspans);
	CHECK_EQ(plan->stats.regions, plan->nregions);
	CHECK_EQ(plan->stats.waves, plan->nwaves);
	for (uint32_t w = 0, next = 0; w < plan->nwaves; w++) {
		CHECK_EQ(plan->waves[w].first_region, next);
		CHECK(plan->waves[w].nregions >= 1 && plan->waves[w].nregions <= plan->max_regions);
		next += plan->waves[w].nregions;
		if (w == plan->nwaves - 1)
			CHECK_EQ(next, plan->nregions);
	}
}

static void sim_alloc(struct sim *s)
{
	s->dev = malloc((size_t)SIM_SLOTS * SIM_MAX_SLOT + 8);
	s->dst = malloc(SIM_DST_BYTES);
	s->cover = malloc(SIM_DST_BYTES);
	CHECK(s->dev && s->dst && s->cover);
}

static void sim_free(struct sim *s)
{
	free(s->dev);
	free(s->dst);
	free(s->cover);
}

TEST(sim_host)
{
	struct sim s;
	uint64_t merged = 0, split = 0;

	sim_alloc(&s);
	rng_state = 0x6b767469657201ull;
	for (int round = 0; round < SIM_ROUNDS; round++) {
		struct restore_plan_params p = { .dst_kind = RESTORE_DST_HOST,
						 .max_regions = 1 + rnd() % 8 };
		struct restore_plan *plan;

		sim_batch(&s);
		p.slot_bytes = s.slot_bytes;
		p.min_region_bytes = rnd() % 4 ? 1 + rnd() % s.total : 0;
		CHECK_EQ(build(&p, s.in, s.n, &plan), 0);
		sim_check_common(&s, plan);
		CHECK_EQ(plan->nwaves, 1);
		CHECK(plan->nregions >= 1 && plan->nregions <= p.max_regions);
		/* maximal spans: no two neighbours could merge */
		for (uint32_t i = 1; i < plan->nspans; i++) {
			const struct restore_span *a = &plan->spans[i - 1], *b = &plan->spans[i];

			CHECK(a->src_off + a->len != b->src_off ||
			      (uintptr_t)a->dst + a->len != (uintptr_t)b->dst);
		}
		/* copies tile the spans in order; cuts only at 64-byte offsets into a span */
		for (uint32_t c = 0, si = 0, pos = 0; c < plan->ncopies; c++) {
			const struct restore_copy *cp = &plan->copies[c];
			const struct restore_span *sp = &plan->spans[si];

			CHECK(si < plan->nspans);
			CHECK_EQ(pos % RESTORE_PLAN_SPLIT_ALIGN, 0);
			CHECK(cp->src_off == sp->src_off + pos && cp->dst == (char *)sp->dst + pos);
			CHECK(cp->len > 0 && pos + cp->len <= sp->len);
			pos += cp->len;
			if (pos == sp->len) {
				si++;
				pos = 0;
			}
		}
		merged += plan->stats.spans_merged;
		split += plan->ncopies - plan->nspans;
		/* the executor: one wave, every region, memcpy device -> dst */
		for (uint32_t r = 0; r < plan->nregions; r++) {
			const struct restore_region *rg = &plan->regions[r];
			uint64_t bytes = 0;

			CHECK_EQ(rg->wave, 0);
			for (uint32_t c = rg->first_copy; c < rg->first_copy + rg->ncopies; c++) {
				const struct restore_copy *cp = &plan->copies[c];
				uint8_t *d = restore_copy_dst(plan, cp, NULL);
				size_t off = (size_t)(d - s.dst);

				CHECK(d >= s.dst && off + cp->len <= s.dst_used);
				memcpy(d, s.dev + cp->src_off, cp->len);
				for (size_t b = 0; b < cp->len; b++)
					s.cover[off + b]++;
				bytes += cp->len;
			}
			CHECK_EQ(bytes, rg->bytes);
		}
		sim_verify(&s);
	}
	CHECK(merged > 0 && split > 0);		/* both paths were exercised */
	sim_free(&s);
}

TEST(sim_slab)
{
	struct sim s;
	uint8_t *slab = malloc(8 * 3 * SIM_MAX_SLOT);
	uint64_t merged = 0, waves = 0;

	CHECK(slab);
	sim_alloc(&s);
	rng_state = 0x736c616201ull;
	for (int round = 0; round < SIM_ROUNDS; round++) {
		struct restore_plan_params p = { .dst_kind = RESTORE_DST_SLAB,
						 .max_regions = 1 + rnd() % 8 };
		struct restore_plan *plan;
		uint64_t maxlen = 0;

		sim_batch(&s);
		for (uint32_t i = 0; i < s.n; i++)
			maxlen = s.in[i].len > maxlen ? s.in[i].len : maxlen;
		p.slot_bytes = s.slot_bytes;
		p.region_bytes = maxlen + rnd() % (2 * s.slot_bytes);
		CHECK_EQ(build(&p, s.in, s.n, &plan), 0);
		sim_check_common(&s, plan);
		merged += plan->stats.spans_merged;
		waves += plan->nwaves;
		for (uint32_t w = 0; w < plan->nwaves; w++) {
			const struct restore_wave *wv = &plan->waves[w];

			/* the previous wave's bytes are gone: only this wave's copies count */
			memset(slab, 0xa5, p.max_regions * p.region_bytes);
			for (uint32_t k = 0; k < wv->nregions; k++) {
				uint32_t r = wv->first_region + k;
				const struct restore_region *rg = &plan->regions[r];
				uint64_t used = 0;

				CHECK_EQ(rg->wave, w);
				CHECK_EQ(rg->slot, k);
				CHECK_EQ(rg->slab_off, rg->slot * p.region_bytes);
				CHECK(rg->bytes <= p.region_bytes);
				/* greedy: the next item would not have fit */
				if (r + 1 < plan->nregions)
					CHECK(rg->bytes + plan->items[rg->first_item + rg->nitems].len >
					      p.region_bytes);
				/* (a) device -> slab, one copy per span, inside the region */
				for (uint32_t c = rg->first_copy; c < rg->first_copy + rg->ncopies;
				     c++) {
					const struct restore_copy *cp = &plan->copies[c];

					CHECK(cp->slab_off >= rg->slab_off &&
					      cp->slab_off + cp->len <= rg->slab_off + rg->bytes);
					memcpy(restore_copy_dst(plan, cp, slab), s.dev + cp->src_off,
					       cp->len);
				}
				/* (b) slab -> each item's destination (the sink) */
				for (uint32_t i = rg->first_item; i < rg->first_item + rg->nitems;
				     i++) {
					const struct restore_item *it = &plan->items[i];
					size_t off = (size_t)((uint8_t *)it->dst - s.dst);

					CHECK_EQ(it->region, r);
					/* back to back */
					CHECK_EQ(it->slab_off, rg->slab_off + used);
					memcpy(it->dst, slab + it->slab_off, it->len);
					for (size_t b = 0; b < it->len; b++)
						s.cover[off + b]++;
					used += it->len;
				}
				CHECK_EQ(used, rg->bytes);
			}
		}
		sim_verify(&s);
	}
	CHECK(merged > 0 && waves > SIM_ROUNDS);
	free(slab);
	sim_free(&s);
}
