/* SPDX-License-Identifier: Apache-2.0 */
/*
 * core/hash.c - the choice between XXH3's implementations (see hash.h).
 *
 * __builtin_cpu_supports() reads what libgcc's constructor found once
 * (including whether the OS saves the ymm and zmm registers), so asking on
 * every call costs a load and a test, and no thread ever sees a half-made
 * choice.
 */
#include "core/hash.h"

bool hash64_avx2_usable(void)
{
#if defined(__x86_64__)
	return __builtin_cpu_supports("avx2");
#else
	return false;
#endif
}

bool hash64_avx512_usable(void)
{
#if defined(__x86_64__)
	return __builtin_cpu_supports("avx512f");
#else
	return false;
#endif
}

static const struct hash64_impl *best(void)
{
	if (hash64_avx512_usable())
		return &hash64_avx512;
	return hash64_avx2_usable() ? &hash64_avx2 : &hash64_sse2;
}

uint64_t hash64(const void *p, size_t len)
{
	return best()->oneshot(p, len);
}

void hash64_reset(struct hash64_state *st)
{
	best()->reset(st);
}

void hash64_update(struct hash64_state *st, const void *p, size_t len)
{
	best()->update(st, p, len);
}

uint64_t hash64_digest(const struct hash64_state *st)
{
	return best()->digest(st);
}
