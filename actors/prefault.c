/* SPDX-License-Identifier: Apache-2.0 */
/*
 * actors/prefault.c - the L1 prefault actor (see prefault.h).
 *
 * Its state (kvt->l1ahead) is the actor's own, but for `faulted`, which
 * tests read.  A crossing disarms the watch (slots_take()'s exchange) and
 * only the actor arms it again, so a frontier message per arming is in
 * flight at most, and prefault_follow() arms again in a row only while puts
 * cross half a window faster than it loops: the mailbox of PREFAULT_DEPTH
 * never fills, so the hook's actor_post() never blocks a put.
 */
#define _GNU_SOURCE
#include "actors/prefault.h"

#include <errno.h>
#include <string.h>
#include <sys/mman.h>

#include "core/instance.h"
#include "core/log.h"
#include "core/pagetouch.h"

#define PREFAULT_DEPTH 64

/* On the put path (a slot take): hand the frontier to the actor. */
static void prefault_on_frontier(void *arg, uint32_t slot)
{
	struct kvt *kvt = arg;
	struct actor_msg m = { .op = PREFAULT_FRONTIER, .u32 = slot };

	actor_post(&kvt->l1ahead_actor, &m);
}

/*
 * Move the target to frontier + l1.prefault_ahead and watch for the
 * frontier passing the middle of the window; when a take passed the new
 * watch before it was set, follow it again (a window a put crossed would
 * otherwise wait for the next put).
 */
static void prefault_follow(struct kvt *kvt)
{
	struct l1_ahead *a = &kvt->l1ahead;
	struct slots *s = &kvt->l1.slots;
	size_t ahead = kvt->cfg.l1_prefault_ahead, half = ahead / 2;
	uint32_t frontier = atomic_load_explicit(&s->frontier, memory_order_seq_cst);

	for (;;) {
		size_t want = (size_t)frontier * s->slot_bytes + ahead;
		uint32_t wake_at = SLOTS_NO_WATCH;

		want = want < s->map_bytes ? want : s->map_bytes;
		a->target = want > a->target ? want : a->target;
		if (!a->failed && a->target < s->map_bytes)
			wake_at = (uint32_t)((a->target > half ? a->target - half : 0) /
					     s->slot_bytes);
		frontier = slots_watch(s, wake_at);
		if (wake_at == SLOTS_NO_WATCH || frontier <= wake_at)
			return;
	}
}

static void prefault_on_start(void *ctx)
{
	prefault_follow(ctx);
}

static void prefault_handle(void *ctx, const struct actor_msg *m)
{
	struct kvt *kvt = ctx;

	ACTOR_ASSERT_SELF(&kvt->l1ahead_actor);
	if (m->op == PREFAULT_FRONTIER)
		prefault_follow(kvt);
	if (m->done)
		completion_signal(m->done, 0);
}

/* One step toward the target.  Return: 0 to run again, -1 to sleep. */
static int prefault_idle(void *ctx)
{
	struct kvt *kvt = ctx;
	struct l1_ahead *a = &kvt->l1ahead;
	char *base = kvt->l1.slots.base;
	size_t len;

	if (a->failed || a->done >= a->target)
		return -1;
	len = a->target - a->done < PREFAULT_STEP ? a->target - a->done : PREFAULT_STEP;
	if (madvise(base + a->done, len, MADV_POPULATE_WRITE) < 0) {
		if (errno == EINTR || errno == EAGAIN)
			return 0;
		/* EINVAL: a kernel before 5.14; ENOMEM: no memory left to fault
		 * in, which the puts will meet on their own */
		log_info("l1.prefault_ahead: stopped at %zu bytes: MADV_POPULATE_WRITE: %s",
			 a->done, strerror(errno));
		a->failed = true;
		return -1;
	}
	/* the guest's entries are made: take the hypervisor's fault too */
	page_touch_for_write(base + a->done, len);
	a->done += len;
	atomic_store_explicit(&a->faulted, a->done, memory_order_relaxed);
	return 0;
}

const struct actor_ops prefault_actor_ops = {
	.on_start = prefault_on_start,
	.handle = prefault_handle,
	.idle = prefault_idle,
};

int prefault_start(struct kvt *kvt)
{
	const struct kvt_config *cfg = &kvt->cfg;

	if (cfg->l1_prefault || !cfg->l1_prefault_ahead || !kvt->l1.slots.base)
		return 0;
	slots_set_watcher(&kvt->l1.slots, prefault_on_frontier, kvt);
	return actor_start(&kvt->l1ahead_actor, "l1prefault", &prefault_actor_ops, kvt, PREFAULT_DEPTH,
			   cfg->mailbox_wait_ms, cfg->l1_numa_node);
}

void prefault_stop(struct kvt *kvt)
{
	if (kvt->l1.slots.base)
		slots_watch(&kvt->l1.slots, SLOTS_NO_WATCH);
	actor_stop(&kvt->l1ahead_actor);
}
