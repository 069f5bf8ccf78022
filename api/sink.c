/* SPDX-License-Identifier: Apache-2.0 */
/*
 * api/sink.c - kvt_get_sink(): restores into destinations only the engine
 * can write (GPU memory) through the staging slab, double-buffered.
 *
 * The batch takes one slab set: 2 x restore_max_regions regions, halves A
 * and B.  Wave w is copied by the restore workers into half w % 2 while the
 * calling thread's sink drains wave w - 1 from the other half:
 *
 *   post(0); for w: wait(w); post(w + 1); drain(w)
 *
 * A wave is always joined (every region reported) before its half is
 * drained or reused, and on any error the wave in flight is joined before
 * the set and the borrows are released.
 */
#include <errno.h>

#include "actors/restore.h"
#include "core/instance.h"
#include "core/mem.h"

struct sink_batch {
	struct kvt *kvt;
	struct restore_plan *plan;
	char **regions;               /* the set: 2 x max_regions region pointers */
	struct restore_wave_run run[2];
	const size_t *orig;           /* plan item index -> position in the batch */
	kvt_sink_fn sink;
	void *sink_arg;
	size_t *out_lens;
};

static void post(struct sink_batch *b, uint32_t w)
{
	struct restore_wave_run *run = &b->run[w & 1];

	run->plan = b->plan;
	run->arena = b->kvt->dax.slots.base;
	run->slab_regions = b->regions + (w & 1) * b->kvt->restore_max_regions;
	atomic_init(&run->remaining, b->plan->waves[w].nregions);
	atomic_init(&run->first_error, 0);
	completion_init(&run->done);
	restore_post_wave(b->kvt, run, &b->plan->waves[w]);
}

static int join(struct sink_batch *b, uint32_t w)
{
	struct restore_wave_run *run = &b->run[w & 1];

	completion_wait(&run->done);
	return atomic_load_explicit(&run->first_error, memory_order_relaxed);
}

/* Hand every item of wave @w to the sink.  Return: 0 or its first error. */
static int drain(struct sink_batch *b, uint32_t w, ssize_t *drained)
{
	const struct restore_plan *plan = b->plan;
	const struct restore_wave *wave = &plan->waves[w];
	char *const *slab = b->regions + (w & 1) * b->kvt->restore_max_regions;

	for (uint32_t r = wave->first_region; r < wave->first_region + wave->nregions; r++) {
		const struct restore_region *reg = &plan->regions[r];

		for (uint32_t i = reg->first_item; i < reg->first_item + reg->nitems; i++) {
			const struct restore_item *it = &plan->items[i];
			size_t pos = b->orig[it->index];
			int ret = b->sink(b->sink_arg, pos,
					  slab[reg->slot] + (it->slab_off - reg->slab_off), it->len);

			if (ret)
				return ret;
			b->out_lens[pos] = it->len;
			(*drained)++;
		}
	}
	return 0;
}

static int run_waves(struct sink_batch *b, ssize_t *drained)
{
	uint32_t nwaves = b->plan->nwaves;
	int ret = 0;

	if (!nwaves)
		return 0;
	post(b, 0);
	for (uint32_t w = 0; w < nwaves; w++) {
		ret = join(b, w);
		if (ret)
			break;
		if (w + 1 < nwaves)
			post(b, w + 1);
		ret = drain(b, w, drained);
		if (ret) {
			if (w + 1 < nwaves)
				join(b, w + 1);
			break;
		}
	}
	COUNT(b->kvt, restore_waves, nwaves);
	COUNT(b->kvt, restore_regions, b->plan->nregions);
	COUNT(b->kvt, restore_spans_merged, b->plan->stats.spans_merged);
	return ret;
}

/* Plan and run the DAX entries @ents (batch positions @orig) through a slab set. */
static int restore_via_slab(struct kvt *kvt, struct entry *const *ents, const size_t *orig,
			    size_t n, kvt_sink_fn sink, void *sink_arg, size_t *out_lens,
			    ssize_t *drained)
{
	struct restore_plan_params p = {
		.dst_kind = RESTORE_DST_SLAB,
		.slot_bytes = kvt->dax.slots.slot_bytes,
		.max_regions = kvt->restore_max_regions,
		.region_bytes = kvt->slab.region_bytes,
	};
	size_t plan_bytes = restore_plan_bytes(n, p.max_regions);
	char *regions[2 * KVT_MAX_RESTORE_WORKERS];
	struct sink_batch b = {
		.kvt = kvt, .regions = regions, .orig = orig, .sink = sink,
		.sink_arg = sink_arg, .out_lens = out_lens,
	};
	struct restore_item *items;
	void *buf;
	int set, ret;

	if (!plan_bytes || p.max_regions > KVT_MAX_RESTORE_WORKERS)
		return -EINVAL;
	buf = kvt_restore_plan_buf(kvt, ents, NULL, n, plan_bytes, &items);
	if (!buf)
		return -ENOMEM;
	ret = restore_plan_build(&p, items, n, buf, plan_bytes, &b.plan);
	if (ret)
		goto out_free;
	set = slab_take_set(kvt, regions);
	if (set < 0) {
		ret = set;
		goto out_free;
	}
	ret = run_waves(&b, drained);
	slab_give_set(kvt, set);
	if (ret)
		COUNT(kvt, restore_errors, 1);
out_free:
	mem_free(buf);
	return ret;
}

ssize_t kvt_get_sink(struct kvt *kvt, const struct kvt_key *keys, size_t n, kvt_sink_fn sink,
		     void *sink_arg, size_t *out_lens)
{
	struct entry **ents;
	size_t *orig, ndax = 0;
	ssize_t drained = 0;
	uint64_t t0;
	int ret = 0;

	if (!kvt || (n && (!keys || !sink || !out_lens)))
		return -EINVAL;
	for (size_t i = 0; i < n; i++)
		out_lens[i] = 0;
	if (!kvt->has_dax)
		return -ENODEV;
	if (!n || !kvt_enter(kvt))
		return 0;
	t0 = kvt_op_start(kvt);
	ents = mem_alloc(n * (sizeof(*ents) + sizeof(*orig)));
	if (!ents) {
		kvt_exit(kvt);
		return -ENOMEM;
	}
	orig = (size_t *)(ents + n);
	/* L1 chunks drain straight from their slots; DAX ones are batched */
	for (size_t i = 0; i < n && !ret; i++) {
		struct entry *e = kvt_borrow_key(kvt, &keys[i]);

		if (!e)
			continue;
		if (e->tier == &kvt->dax) {
			orig[ndax] = i;
			ents[ndax++] = e;
			continue;
		}
		ret = sink(sink_arg, i, entry_data(e), e->len);
		if (!ret) {
			out_lens[i] = e->len;
			TIER_COUNT(e->tier, hits, 1);
			TIER_COUNT(e->tier, bytes_out, e->len);
			l2_note_read(kvt, e);
			drained++;
		}
		kvt_put_entry(kvt, e);
	}
	if (!ret && ndax)
		ret = restore_via_slab(kvt, ents, orig, ndax, sink, sink_arg, out_lens, &drained);
	/* every wave is joined: now the borrows may go */
	for (size_t j = 0; j < ndax; j++) {
		if (out_lens[orig[j]]) {
			TIER_COUNT(&kvt->dax, hits, 1);
			TIER_COUNT(&kvt->dax, bytes_out, out_lens[orig[j]]);
			l2_note_read(kvt, ents[j]);
		}
		kvt_put_entry(kvt, ents[j]);
	}
	mem_free(ents);
	KVT_OP_DONE(kvt, KVT_OP_GET, t0);
	kvt_exit(kvt);
	return ret ? ret : drained;
}
