/* SPDX-License-Identifier: Apache-2.0 */
/*
 * actors/restore.h - DAX restore workers: persistent threads, near the
 * device's NUMA node, that run the regions of a restore plan
 * (core/restore_plan.h).  kvt_get() and prefetches hand each region of a
 * wave to a worker, then wait for the whole wave.
 */
#ifndef KVT_ACTORS_RESTORE_H
#define KVT_ACTORS_RESTORE_H

#include <stdatomic.h>
#include <stdint.h>

#include "core/actor.h"
#include "core/restore_plan.h"
#include "core/waitword.h"

enum restore_op {
	RESTORE_REGION = 1, /* ptr[0] struct restore_wave_run *, u32 region index */
};

/*
 * One wave in flight, on the waiting caller's stack.  Every worker
 * decrements @remaining after its last touch of the plan or the buffers;
 * the one that reaches zero signals @done, so when the caller wakes no
 * worker is still copying (the wave is joined, even on failure).
 */
struct restore_wave_run {
	const struct restore_plan *plan;
	const char *arena;           /* device byte 0 of the plan's src_off */
	char *const *slab_regions;   /* slab plans: region slot -> its slab memory */
	_Atomic uint32_t remaining;
	_Atomic int first_error;     /* 0, or the first region's error: later regions skip */
	struct completion done;
};

extern const struct actor_ops restore_actor_ops;

struct kvt;

/*
 * restore_post_wave() - hand every region of wave @w to the restore
 * workers (api/restore.c).  A region that cannot be posted counts as run
 * and failed (-ETIMEDOUT), so waiting on @run->done still completes.
 * Threads: any but a restore worker.
 */
void restore_post_wave(struct kvt *kvt, struct restore_wave_run *run,
		       const struct restore_wave *w);

/* Test hook: when > 0, counts regions down; the region that takes it to 0
 * fails with -EIO after half its copies.  Never set outside tests. */
extern _Atomic int restore_fail_countdown;

#endif /* KVT_ACTORS_RESTORE_H */
