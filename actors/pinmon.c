/* SPDX-License-Identifier: Apache-2.0 */
/*
 * actors/pinmon.c - the pin-monitor (see pinmon.h).
 *
 * It reads slots.owner under short RCU read sections (a few thousand slots
 * each, so grace periods are not held back) and only ever changes an entry
 * through entry_drop_pins_if_stale(), a CAS that races safely with pins,
 * unpins and removal.
 */
#include "actors/pinmon.h"

#include "core/instance.h"
#include "core/log.h"

#define PINMON_SLOTS_PER_SECTION 4096

static void pinmon_scan_tier(struct kvt *kvt, struct tier *t, uint64_t cutoff)
{
	struct slots *s = &t->slots;

	for (uint32_t base = 0; base < s->nslots; base += PINMON_SLOTS_PER_SECTION) {
		uint32_t end = base + PINMON_SLOTS_PER_SECTION;

		if (end > s->nslots)
			end = s->nslots;
		kvt_rcu_read_lock();
		for (uint32_t slot = base; slot < end; slot++) {
			struct entry *e = atomic_load_explicit(&s->owner[slot],
							       memory_order_acquire);
			uint32_t dropped;

			if (!e)
				continue;
			dropped = entry_drop_pins_if_stale(e, cutoff);
			if (!dropped)
				continue;
			COUNT(kvt, pin_force_releases, dropped);
			UNCOUNT(kvt, pinned_entries, 1);
			log_warn("pin-monitor: released %u pin(s) held over pin_ttl_ms=%u ms",
				 dropped, kvt->cfg.pin_ttl_ms);
		}
		kvt_rcu_read_unlock();
	}
}

static void pinmon_scan(struct kvt *kvt)
{
	uint64_t cutoff = clock_now_ms() - kvt->cfg.pin_ttl_ms;

	for (uint32_t i = 0; i < kvt->ntiers; i++)
		pinmon_scan_tier(kvt, kvt->tiers[i], cutoff);
}

static void pinmon_handle(void *ctx, const struct actor_msg *m)
{
	struct kvt *kvt = ctx;

	ACTOR_ASSERT_SELF(&kvt->pinmon);
	if (m->done)
		completion_signal(m->done, 0);
}

static int pinmon_idle(void *ctx)
{
	struct kvt *kvt = ctx;
	uint32_t period;

	if (!kvt->cfg.pin_ttl_ms)
		return -1;
	pinmon_scan(kvt);
	period = kvt->cfg.pin_ttl_ms / 4;
	return period ? (int)period : 1;
}

const struct actor_ops pinmon_actor_ops = {
	.handle = pinmon_handle,
	.idle = pinmon_idle,
};
