/* SPDX-License-Identifier: Apache-2.0 */
/*
 * actors/prefault.h - the L1 prefault actor (l1.prefault false,
 * l1.prefault_ahead > 0): it faults L1 pages in ahead of the puts, so a put
 * into never-used L1 copies at warm speed instead of paying the first touch
 * of every page (0.07-0.6 GB/s in a VM against 8-16 GB/s warm), without
 * faulting the whole arena at open.
 *
 * At start it faults in the first l1.prefault_ahead bytes; then, whenever
 * the puts' frontier (the highest slot id taken, core/slots.h) passes half
 * of that window, slots_take() posts the frontier and it faults in up to
 * frontier + l1.prefault_ahead.  It works in PREFAULT_STEP steps from its
 * idle hook, so a message (and close's stop) waits for one step at most.
 * MADV_POPULATE_WRITE (Linux 5.14) faults pages in without writing their
 * bytes, and a locked OR of 0 into each page then takes a hypervisor's own
 * first-write fault (prefault.c); neither changes a byte, so both race
 * safely with a put copying into the same page.  On a kernel without
 * MADV_POPULATE_WRITE the actor logs once and does nothing.
 */
#ifndef KVT_ACTORS_PREFAULT_H
#define KVT_ACTORS_PREFAULT_H

#include "core/actor.h"

enum prefault_op {
	PREFAULT_FRONTIER = 1, /* the frontier passed the watch (u32: the slot) */
};

/* Bytes faulted in per idle call: a bounded wait for messages and stop. */
#define PREFAULT_STEP (4u << 20)

extern const struct actor_ops prefault_actor_ops;

struct kvt;

/* prefault_start() - start kvt->l1ahead on the L1 arena; a no-op (0) when
 * l1.prefault or l1.prefault_ahead 0 leaves nothing to do.  Open only.
 * Return: 0 or a negative errno from actor_start(). */
int prefault_start(struct kvt *kvt);

/* prefault_stop() - disarm the frontier watch and stop the actor.  Close
 * only, after every thread that takes L1 slots stopped (prefetch workers,
 * restore workers, L2 promotion), so no take posts to a stopped actor. */
void prefault_stop(struct kvt *kvt);

#endif /* KVT_ACTORS_PREFAULT_H */
