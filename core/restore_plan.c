/* SPDX-License-Identifier: Apache-2.0 */
/*
 * core/restore_plan.c - planning a batched DAX restore (see restore_plan.h
 * for the model and the executor contract).
 *
 * Follows the region/wave planner of LMCache PR #2904 (sort by device
 * offset, pack items into slab regions, coalesce within a region, waves of
 * restore_max_regions), and adds the host mode, where there is no slab to
 * share: one wave whose bytes are balanced over the regions, cutting spans
 * where needed so a batch that coalesced into one long span still uses
 * every worker.
 *
 * Buffer layout, each array aligned to RESTORE_PLAN_ALIGN, sized for the
 * worst case so planning cannot run out:
 *
 *   struct restore_plan
 *   items[n]                       the sorted items (or scratch, see below)
 *   scratch[n]                     merge-sort buffer; the sort ends in one
 *                                  of the two and plan->items points there
 *   spans[n]                       at most one span per item
 *   copies[n + max_regions]        host: spans + regions - 1 (each region
 *                                  boundary cuts at most one span); slab: spans
 *   regions[max(n, max_regions)]   host: max_regions; slab: one item at least
 *   waves[max(n, 1)]               host: 1; slab: at most one per region
 *
 * Invariants of a built plan:
 *   - items are sorted by src_off, equal offsets in input order;
 *   - spans, copies and regions list bytes in that same order, and the
 *     copies cover every item's bytes exactly once;
 *   - slab: a region's copies and items lie in [slab_off, slab_off +
 *     region_bytes), items back to back from slab_off; a wave's regions
 *     have slots 0, 1, ... < max_regions.
 *
 * Threads: any; a plan is written only by restore_plan_build() and read by
 * any number of workers afterwards.  Nothing here allocates.
 */
#include "core/restore_plan.h"

#include <assert.h>
#include <errno.h>
#include <stdbool.h>
#include <string.h>

#define SORT_RUN 16u	/* insertion-sorted run before the merge passes */

struct plan_layout {
	size_t items, scratch, spans, copies, regions, waves, end;
};

static size_t align_up(size_t v)
{
	return (v + RESTORE_PLAN_ALIGN - 1) & ~(size_t)(RESTORE_PLAN_ALIGN - 1);
}

static size_t max_size(size_t a, size_t b)
{
	return a > b ? a : b;
}

/* Offsets of every array; the bounds on n and max_regions rule out overflow. */
static void plan_layout(size_t n, uint32_t max_regions, struct plan_layout *l)
{
	size_t off = align_up(sizeof(struct restore_plan));

	l->items = off;
	off = align_up(off + n * sizeof(struct restore_item));
	l->scratch = off;
	off = align_up(off + n * sizeof(struct restore_item));
	l->spans = off;
	off = align_up(off + n * sizeof(struct restore_span));
	l->copies = off;
	off = align_up(off + (n + max_regions) * sizeof(struct restore_copy));
	l->regions = off;
	off = align_up(off + max_size(n, max_regions) * sizeof(struct restore_region));
	l->waves = off;
	off = align_up(off + max_size(n, 1) * sizeof(struct restore_wave));
	l->end = off;
}

size_t restore_plan_bytes(size_t n, uint32_t max_regions)
{
	struct plan_layout l;

	if (n > RESTORE_PLAN_MAX_ITEMS || max_regions == 0 ||
	    max_regions > RESTORE_PLAN_MAX_REGIONS)
		return 0;
	plan_layout(n, max_regions, &l);
	return l.end;
}

static void insertion_sort(struct restore_item *a, uint32_t n)
{
	for (uint32_t i = 1; i < n; i++) {
		struct restore_item t = a[i];
		uint32_t j = i;

		/* strict '>' keeps equal offsets in input order */
		while (j > 0 && a[j - 1].src_off > t.src_off) {
			a[j] = a[j - 1];
			j--;
		}
		a[j] = t;
	}
}

/* Merge sorted a[0, na) and b[0, nb) into out; on ties a goes first. */
static void merge(const struct restore_item *a, uint32_t na, const struct restore_item *b,
		  uint32_t nb, struct restore_item *out)
{
	uint32_t i = 0, j = 0, k = 0;

	while (i < na && j < nb)
		out[k++] = b[j].src_off < a[i].src_off ? b[j++] : a[i++];
	while (i < na)
		out[k++] = a[i++];
	while (j < nb)
		out[k++] = b[j++];
}

/*
 * Stable bottom-up merge sort of @a by src_off, with @tmp as the other
 * buffer.  Return: whichever of the two holds the result.
 */
static struct restore_item *sort_items(struct restore_item *a, struct restore_item *tmp,
				       uint32_t n)
{
	uint32_t i;

	for (i = 1; i < n && a[i - 1].src_off <= a[i].src_off; i++)
		;
	if (i >= n)
		return a;	/* already sorted: keys often come in slot order */
	for (uint32_t lo = 0; lo < n; lo += SORT_RUN)
		insertion_sort(a + lo, n - lo < SORT_RUN ? n - lo : SORT_RUN);
	for (uint32_t width = SORT_RUN; width < n; width *= 2) {
		struct restore_item *t;

		for (uint32_t lo = 0; lo < n; lo += 2 * width) {
			uint32_t mid = n - lo < width ? n : lo + width;
			uint32_t hi = n - lo < 2 * width ? n : lo + 2 * width;

			merge(a + lo, mid - lo, a + mid, hi - mid, tmp + lo);
		}
		t = a;
		a = tmp;
		tmp = t;
	}
	return a;
}

/* Copy and check the input; returns the total bytes through @total. */
static int check_items(const struct restore_plan_params *p, const struct restore_item *in,
		       uint32_t n, struct restore_item *items, uint64_t *total)
{
	uint64_t sum = 0;

	for (uint32_t i = 0; i < n; i++) {
		const struct restore_item *it = &in[i];

		if (it->len == 0 || it->src_off + it->len < it->src_off)
			return -EINVAL;
		if (it->len > p->slot_bytes)
			return -EMSGSIZE;
		if (p->dst_kind == RESTORE_DST_HOST) {
			if (!it->dst || (uintptr_t)it->dst + it->len < (uintptr_t)it->dst)
				return -EINVAL;
		} else if (it->len > p->region_bytes) {
			return -EMSGSIZE;
		}
		if (sum + it->len < sum)
			return -EINVAL;
		sum += it->len;
		items[i] = *it;
		items[i].region = 0;
		items[i].slab_off = 0;
	}
	*total = sum;
	return 0;
}

/* Host: can @it extend span @s (source and destination both contiguous)? */
static bool host_contiguous(const struct restore_span *s, const struct restore_item *it)
{
	return s->src_off + s->len == it->src_off &&
	       (uintptr_t)s->dst + s->len == (uintptr_t)it->dst;
}

static void plan_host_spans(struct restore_plan *plan)
{
	struct restore_span *s = NULL;

	for (uint32_t i = 0; i < plan->nitems; i++) {
		struct restore_item *it = &plan->items[i];

		if (s && host_contiguous(s, it)) {
			s->len += it->len;
			s->nitems++;
			continue;
		}
		s = &plan->spans[plan->nspans++];
		*s = (struct restore_span){ .src_off = it->src_off, .dst = it->dst,
					    .len = it->len, .first_item = i, .nitems = 1 };
	}
}

/* Host regions: the byte cursor over the sorted items, to name what each touches. */
struct item_cursor {
	uint32_t it;		/* item holding the next byte */
	uint64_t off;		/* offset of that byte in the item */
};

static void cursor_advance(struct restore_plan *plan, struct item_cursor *c, uint64_t bytes,
			   uint32_t region)
{
	while (bytes) {
		struct restore_item *it = &plan->items[c->it];
		uint64_t step = it->len - c->off;

		if (c->off == 0)
			it->region = region;
		if (step > bytes)
			step = bytes;
		c->off += step;
		bytes -= step;
		if (c->off == it->len) {
			c->it++;
			c->off = 0;
		}
	}
}

static void host_close_region(struct restore_plan *plan, struct restore_region *r,
			      const struct item_cursor *c)
{
	uint32_t last = c->off ? c->it : c->it - 1;

	r->ncopies = plan->ncopies - r->first_copy;
	r->nitems = last - r->first_item + 1;
}

/*
 * Host: one wave of up to max_regions regions of about total / nregions
 * bytes each.  Regions fill greedily in source order; a span that does not
 * fit is cut at a RESTORE_PLAN_SPLIT_ALIGN multiple of its own offset, and
 * the last region takes whatever rounding left over.
 */
static void plan_host_regions(struct restore_plan *plan, uint64_t min_region_bytes)
{
	struct item_cursor c = { 0, 0 };
	struct restore_region *r = NULL;
	uint64_t nreg, target, room = 0;

	if (plan->nitems == 0)
		return;
	if (min_region_bytes < RESTORE_PLAN_SPLIT_ALIGN)
		min_region_bytes = RESTORE_PLAN_SPLIT_ALIGN;
	nreg = plan->total_bytes / min_region_bytes;
	if (nreg > plan->max_regions)
		nreg = plan->max_regions;
	if (nreg == 0)
		nreg = 1;
	target = plan->total_bytes / nreg + (plan->total_bytes % nreg != 0);
	if (target <= UINT64_MAX - (RESTORE_PLAN_SPLIT_ALIGN - 1))
		target = (target + RESTORE_PLAN_SPLIT_ALIGN - 1) &
			 ~(uint64_t)(RESTORE_PLAN_SPLIT_ALIGN - 1);

	for (uint32_t si = 0; si < plan->nspans; si++) {
		const struct restore_span *s = &plan->spans[si];
		uint64_t pos = 0;

		while (pos < s->len) {
			uint64_t take = s->len - pos;

			if (r && take > room)	/* cut: pos stays a SPLIT_ALIGN multiple */
				take = room & ~(uint64_t)(RESTORE_PLAN_SPLIT_ALIGN - 1);
			if (!r || take == 0) {
				if (r)
					host_close_region(plan, r, &c);
				r = &plan->regions[plan->nregions];
				*r = (struct restore_region){ .first_copy = plan->ncopies,
							      .first_item = c.it,
							      .slot = plan->nregions };
				plan->nregions++;
				room = plan->nregions == nreg ? UINT64_MAX : target;
				continue;
			}
			plan->copies[plan->ncopies++] = (struct restore_copy){
				.src_off = s->src_off + pos,
				.dst = (char *)s->dst + pos,
				.len = take,
			};
			cursor_advance(plan, &c, take, plan->nregions - 1);
			r->bytes += take;
			room -= take;
			pos += take;
		}
	}
	host_close_region(plan, r, &c);
	plan->waves[0] = (struct restore_wave){ .first_region = 0, .nregions = plan->nregions,
						.bytes = plan->total_bytes };
	plan->nwaves = 1;
}

static void slab_close_region(struct restore_plan *plan, struct restore_region *r,
			      uint32_t next_item)
{
	r->ncopies = plan->ncopies - r->first_copy;
	r->nitems = next_item - r->first_item;
	plan->waves[plan->nwaves - 1].nregions++;
	plan->waves[plan->nwaves - 1].bytes += r->bytes;
}

/*
 * Slab: pack items back to back into regions of region_bytes, greedily in
 * source order, max_regions regions a wave; coalesce within a region only
 * (slab contiguity holds there by construction), so each span is one copy.
 */
static void plan_slab(struct restore_plan *plan)
{
	struct restore_region *r = NULL;
	struct restore_span *s = NULL;

	for (uint32_t i = 0; i < plan->nitems; i++) {
		struct restore_item *it = &plan->items[i];

		if (r && r->bytes + it->len > plan->region_bytes) {
			slab_close_region(plan, r, i);
			r = NULL;
		}
		if (!r) {
			uint32_t slot = 0;

			if (plan->nregions && plan->regions[plan->nregions - 1].slot + 1 <
						      plan->max_regions)
				slot = plan->regions[plan->nregions - 1].slot + 1;
			if (slot == 0)
				plan->waves[plan->nwaves++] = (struct restore_wave){
					.first_region = plan->nregions
				};
			r = &plan->regions[plan->nregions++];
			*r = (struct restore_region){ .first_copy = plan->ncopies,
						      .first_item = i,
						      .wave = plan->nwaves - 1,
						      .slot = slot,
						      .slab_off = slot * plan->region_bytes };
			s = NULL;	/* spans never cross a region */
		}
		it->region = plan->nregions - 1;
		it->slab_off = r->slab_off + r->bytes;
		r->bytes += it->len;
		if (s && s->src_off + s->len == it->src_off) {
			s->len += it->len;
			s->nitems++;
			plan->copies[plan->ncopies - 1].len += it->len;
			continue;
		}
		s = &plan->spans[plan->nspans++];
		*s = (struct restore_span){ .src_off = it->src_off, .slab_off = it->slab_off,
					    .len = it->len, .first_item = i, .nitems = 1 };
		plan->copies[plan->ncopies++] = (struct restore_copy){
			.src_off = it->src_off, .slab_off = it->slab_off, .len = it->len
		};
	}
	if (r)
		slab_close_region(plan, r, plan->nitems);
}

int restore_plan_build(const struct restore_plan_params *p, const struct restore_item *in,
		       size_t n, void *buf, size_t buf_bytes, struct restore_plan **out)
{
	struct restore_plan *plan = buf;
	struct plan_layout l;
	char *base = buf;
	size_t need;
	uint64_t total;
	int ret;

	if (!p || (n && !in) || !buf || !out || (uintptr_t)buf % RESTORE_PLAN_ALIGN)
		return -EINVAL;
	if (p->dst_kind != RESTORE_DST_HOST && p->dst_kind != RESTORE_DST_SLAB)
		return -EINVAL;
	need = restore_plan_bytes(n, p->max_regions);
	if (p->slot_bytes == 0 || need == 0 || buf_bytes < need)
		return -EINVAL;
	if (p->dst_kind == RESTORE_DST_SLAB &&
	    (p->region_bytes == 0 || p->region_bytes > UINT64_MAX / p->max_regions))
		return -EINVAL;
	plan_layout(n, p->max_regions, &l);

	memset(plan, 0, sizeof(*plan));
	plan->dst_kind = p->dst_kind;
	plan->max_regions = p->max_regions;
	plan->region_bytes = p->dst_kind == RESTORE_DST_SLAB ? p->region_bytes : 0;
	plan->nitems = (uint32_t)n;
	plan->items = (struct restore_item *)(void *)(base + l.items);
	plan->spans = (struct restore_span *)(void *)(base + l.spans);
	plan->copies = (struct restore_copy *)(void *)(base + l.copies);
	plan->regions = (struct restore_region *)(void *)(base + l.regions);
	plan->waves = (struct restore_wave *)(void *)(base + l.waves);

	ret = check_items(p, in, plan->nitems, plan->items, &total);
	if (ret)
		return ret;
	plan->total_bytes = total;
	plan->items = sort_items(plan->items, (struct restore_item *)(void *)(base + l.scratch),
				 plan->nitems);

	if (p->dst_kind == RESTORE_DST_HOST) {
		plan_host_spans(plan);
		plan_host_regions(plan, p->min_region_bytes ? p->min_region_bytes
							    : RESTORE_PLAN_MIN_REGION_BYTES);
	} else {
		plan_slab(plan);
	}
	assert(plan->nspans <= n && plan->ncopies <= n + p->max_regions);
	assert(plan->nregions <= max_size(n, p->max_regions) && plan->nwaves <= max_size(n, 1));

	plan->stats.spans_merged = plan->nitems - plan->nspans;
	plan->stats.regions = plan->nregions;
	plan->stats.waves = plan->nwaves;
	*out = plan;
	return 0;
}
