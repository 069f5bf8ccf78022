/* SPDX-License-Identifier: Apache-2.0 */
/*
 * core/hash_impl.h - the body of one struct hash64_impl named HASH64_IMPL,
 * included once by each of core/hash_sse2.c and core/hash_avx2.c: xxhash's
 * header, inlined (XXH_INLINE_ALL: every symbol static, so the two copies
 * never clash), picks its vector code from the flags the including file is
 * compiled with.
 */
#ifndef HASH64_IMPL
#error "define HASH64_IMPL before including core/hash_impl.h"
#endif

#include "core/hash.h"

#define XXH_INLINE_ALL
#include <xxhash.h>

_Static_assert(sizeof(XXH3_state_t) <= sizeof(struct hash64_state), "hash64_state too small");
_Static_assert(alignof(XXH3_state_t) <= alignof(struct hash64_state), "hash64_state misaligned");

static uint64_t impl_oneshot(const void *p, size_t len)
{
	return XXH3_64bits(p, len);
}

static void impl_reset(struct hash64_state *st)
{
	XXH3_64bits_reset((XXH3_state_t *)st->opaque);
}

static void impl_update(struct hash64_state *st, const void *p, size_t len)
{
	XXH3_64bits_update((XXH3_state_t *)st->opaque, p, len);
}

static uint64_t impl_digest(const struct hash64_state *st)
{
	return XXH3_64bits_digest((const XXH3_state_t *)st->opaque);
}

const struct hash64_impl HASH64_IMPL = {
	.name = HASH64_NAME,
	.oneshot = impl_oneshot,
	.reset = impl_reset,
	.update = impl_update,
	.digest = impl_digest,
};
