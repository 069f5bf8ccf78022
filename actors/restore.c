/* SPDX-License-Identifier: Apache-2.0 */
/*
 * actors/restore.c - the DAX restore worker (see restore.h).
 *
 * A worker owns nothing between messages: the plan, the arena and the
 * destinations belong to the batch, which the caller keeps alive (and its
 * borrows held) until every region of the wave has reported, so no copy
 * ever runs into freed or reused memory.  (LMCache PR #2904 stopped waiting
 * at the first failed region and freed buffers other workers still wrote.)
 */
#include "actors/restore.h"

#include <errno.h>
#include <string.h>

#include "core/instance.h"
#include "core/ntcopy.h"

_Atomic int restore_fail_countdown;

static int injected_failure(void)
{
	int left = atomic_load_explicit(&restore_fail_countdown, memory_order_relaxed);

	while (left > 0) {
		if (atomic_compare_exchange_weak_explicit(&restore_fail_countdown, &left, left - 1,
							  memory_order_relaxed,
							  memory_order_relaxed))
			return left == 1;
	}
	return 0;
}

static void restore_region(struct restore_wave_run *run, uint32_t index)
{
	const struct restore_plan *plan = run->plan;
	const struct restore_region *r = &plan->regions[index];
	bool fail = injected_failure();
	int err = 0;

	for (uint32_t i = 0; i < r->ncopies; i++) {
		const struct restore_copy *c = &plan->copies[r->first_copy + i];

		/* a region that failed first makes the rest of the wave skip */
		if (atomic_load_explicit(&run->first_error, memory_order_relaxed))
			break;
		if (fail && i >= r->ncopies / 2) {
			err = -EIO;
			break;
		}
		nt_copy(plan->dst_kind == RESTORE_DST_SLAB ?
				run->slab_regions[r->slot] + (c->slab_off - r->slab_off) : c->dst,
			run->arena + c->src_off, c->len);
	}
	if (err) {
		int expected = 0;

		atomic_compare_exchange_strong_explicit(&run->first_error, &expected, err,
							memory_order_relaxed, memory_order_relaxed);
	}
	/* acq_rel: our copies happen before the caller, woken by the last
	 * decrement, releases anything; nothing of @run is touched after it
	 * except by the thread that signals */
	if (atomic_fetch_sub_explicit(&run->remaining, 1, memory_order_acq_rel) == 1)
		completion_signal(&run->done, 0);
}

static void restore_handle(void *ctx, const struct actor_msg *m)
{
	(void)ctx;
	if (m->op == RESTORE_REGION)
		restore_region(m->ptr[0], m->u32);
	if (m->done)
		completion_signal(m->done, 0);
}

const struct actor_ops restore_actor_ops = {
	.handle = restore_handle,
};
