/* SPDX-License-Identifier: Apache-2.0 */
/*
 * api/restore.c - the batched DAX restore: plan the copies of a batch of
 * borrowed DAX chunks (sorted by device offset, coalesced into spans, cut
 * into regions; core/restore_plan.c), run each wave's regions on the
 * restore workers, and join every region of a wave before the next wave,
 * before looking at errors and before the caller releases anything.
 *
 * The calling thread only plans and waits; it never copies DAX bytes and
 * holds no lock, so lookups and other batches run on meanwhile.  Each batch
 * has its own plan and wave state, so concurrent batches share nothing.
 */
#include <errno.h>
#include <string.h>

#include "actors/restore.h"
#include "core/instance.h"
#include "core/log.h"
#include "core/mem.h"

void restore_post_wave(struct kvt *kvt, struct restore_wave_run *run,
		       const struct restore_wave *w)
{
	for (uint32_t r = 0; r < w->nregions; r++) {
		uint32_t region = w->first_region + r;
		struct actor_msg m = { .op = RESTORE_REGION, .u32 = region, .ptr = { run } };
		int expected = 0;

		if (!actor_post(&kvt->restorers[r % kvt->nrestorers], &m))
			continue;
		atomic_compare_exchange_strong_explicit(&run->first_error, &expected, -ETIMEDOUT,
							memory_order_relaxed, memory_order_relaxed);
		if (atomic_fetch_sub_explicit(&run->remaining, 1, memory_order_acq_rel) == 1)
			completion_signal(&run->done, 0);
	}
}

void *kvt_restore_plan_buf(struct kvt *kvt, struct entry *const *ents, void *const *dsts,
			   size_t n, size_t plan_bytes, struct restore_item **items)
{
	const char *arena = kvt->dax.slots.base;
	void *buf = mem_aligned_alloc(RESTORE_PLAN_ALIGN, plan_bytes + n * sizeof(**items));

	if (!buf)
		return NULL;
	*items = (struct restore_item *)((char *)buf + plan_bytes);
	for (size_t i = 0; i < n; i++) {
		(*items)[i].src_off = (uint64_t)((const char *)entry_data(ents[i]) - arena);
		(*items)[i].len = ents[i]->len;
		(*items)[i].dst = dsts ? dsts[i] : NULL;
		(*items)[i].index = (uint32_t)i;
	}
	return buf;
}

int kvt_restore_dax(struct kvt *kvt, struct entry *const *ents, void *const *dsts, size_t n)
{
	struct restore_plan_params p = {
		.dst_kind = RESTORE_DST_HOST,
		.slot_bytes = kvt->dax.slots.slot_bytes,
		.max_regions = kvt->restore_max_regions,
	};
	size_t plan_bytes = restore_plan_bytes(n, p.max_regions);
	struct restore_item *items;
	struct restore_plan *plan;
	void *buf;
	int ret;

	if (!plan_bytes)
		return -EINVAL;
	buf = kvt_restore_plan_buf(kvt, ents, dsts, n, plan_bytes, &items);
	if (!buf)
		return -ENOMEM;
	ret = restore_plan_build(&p, items, n, buf, plan_bytes, &plan);
	if (ret)
		goto out_free;
	for (uint32_t w = 0; w < plan->nwaves && !ret; w++) {
		struct restore_wave_run run = { .plan = plan, .arena = kvt->dax.slots.base };

		atomic_init(&run.remaining, plan->waves[w].nregions);
		atomic_init(&run.first_error, 0);
		completion_init(&run.done);
		restore_post_wave(kvt, &run, &plan->waves[w]);
		/* the join: every region of the wave has reported */
		completion_wait(&run.done);
		ret = atomic_load_explicit(&run.first_error, memory_order_relaxed);
	}
	COUNT(kvt, restore_waves, plan->nwaves);
	COUNT(kvt, restore_regions, plan->nregions);
	COUNT(kvt, restore_spans_merged, plan->stats.spans_merged);
	if (ret)
		COUNT(kvt, restore_errors, 1);
out_free:
	mem_free(buf);
	return ret;
}

ssize_t kvt_copy_out(struct kvt *kvt, struct entry **ents, void *const *dsts, size_t n,
		     size_t *out_lens)
{
	struct entry **dax = NULL;
	void **dax_dsts = NULL;
	size_t ndax = 0, hits = 0;
	int ret = 0;

	for (size_t i = 0; i < n; i++) {
		struct entry *e = ents[i];

		if (!e)
			continue;
		if (e->tier != &kvt->dax || !kvt->nrestorers) {
			memcpy(dsts[i], entry_data(e), e->len);
			continue;
		}
		if (!dax) {
			dax = mem_alloc(n * (sizeof(*dax) + sizeof(*dax_dsts)));
			if (!dax) {
				ret = -ENOMEM;
				break;
			}
			dax_dsts = (void **)(dax + n);
		}
		dax[ndax] = e;
		dax_dsts[ndax++] = dsts[i];
	}
	if (!ret && ndax)
		ret = kvt_restore_dax(kvt, dax, dax_dsts, ndax);
	/* every copy has finished: now, and only now, release the borrows */
	for (size_t i = 0; i < n; i++) {
		struct entry *e = ents[i];

		if (!e)
			continue;
		if (ret && e->tier == &kvt->dax) {
			out_lens[i] = 0;
		} else {
			out_lens[i] = e->len;
			TIER_COUNT(e->tier, hits, 1);
			TIER_COUNT(e->tier, bytes_out, e->len);
			kvt_promote(kvt, e);
			l2_note_read(kvt, e);
			hits++;
		}
		kvt_put_entry(kvt, e);
	}
	mem_free(dax);
	return ret ? ret : (ssize_t)hits;
}
