/* SPDX-License-Identifier: Apache-2.0 */
/*
 * poold/pool_pinmon.c - kvtier-poold's pin-monitor (see pool.h).
 *
 * Pins are leases.  Every pin_ttl_ms / 4 this actor posts SWEEP to the index
 * actor, the only writer of pin state, which drops every pin record whose
 * newest pin is older than pin_ttl_ms and counts them in force_unpins
 * (upstream Maru removed its monitor and leaked pins forever).  With
 * pin_ttl_ms = 0 it sleeps until stopped.
 */
#include "poold/pool.h"

#include <errno.h>

static void pinmon_handle(void *ctx, const struct actor_msg *m)
{
	struct pool *p = ctx;

	ACTOR_ASSERT_SELF(&p->pinmon);
	if (m->done)
		completion_signal(m->done, 0);
}

static int pinmon_idle(void *ctx)
{
	struct pool *p = ctx;
	struct actor_msg m = { .op = POOL_IDX_SWEEP };
	uint32_t period;

	if (!p->opts.pin_ttl_ms)
		return -1;
	/* a full index mailbox only delays the sweep to the next period */
	(void)actor_post(&p->index, &m);
	period = p->opts.pin_ttl_ms / 4;
	return period ? (int)period : 1;
}

const struct actor_ops pool_pinmon_ops = {
	.handle = pinmon_handle,
	.idle = pinmon_idle,
};
