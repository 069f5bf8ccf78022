/* SPDX-License-Identifier: Apache-2.0 */
/*
 * actors/pinmon.h - the pin-monitor actor: pins are leases.  Every
 * pin_ttl_ms / 4 it walks the slot table and drops every pin of an entry
 * whose newest pin is older than pin_ttl_ms, counting each dropped pin in
 * pin_force_releases, so a crashed or buggy caller cannot pin memory
 * forever.  With pin_ttl_ms = 0 it sleeps until stopped.
 */
#ifndef KVT_ACTORS_PINMON_H
#define KVT_ACTORS_PINMON_H

#include "core/actor.h"

extern const struct actor_ops pinmon_actor_ops;

#endif /* KVT_ACTORS_PINMON_H */
