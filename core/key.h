/* SPDX-License-Identifier: Apache-2.0 */
/*
 * core/key.h - the key derivations behind kvt_key_chain(),
 * kvt_namespace_seed() and kvt_key_of() (core/key.c).
 *
 * Threads: any; pure functions.
 */
#ifndef KVT_CORE_KEY_H
#define KVT_CORE_KEY_H

#include <stddef.h>

#include "kvtier.h"

/* key_of_id() - the key of an opaque id under namespace seed @seed:
 * XXH3-128(seed' || id), where seed' = XXH3-128(tag || seed), so that no id
 * key is a chunk key (those chain from @seed itself). */
void key_of_id(const struct kvt_key *seed, const void *id, size_t len, struct kvt_key *out);

#endif
