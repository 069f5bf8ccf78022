/* SPDX-License-Identifier: Apache-2.0 */
/*
 * tools/common/prng.h - the tools' one pseudo-random generator: xorshift64*
 * for streams, splitmix64 for seeds and for spreading ids.  Deterministic
 * across runs and processes, so a writer and a verifier (or two processes)
 * derive the same bytes from the same seed.  Not for anything secret.
 *
 * Threads: state is the caller's; one state per thread.
 */
#ifndef KVT_TOOLS_COMMON_PRNG_H
#define KVT_TOOLS_COMMON_PRNG_H

#include <stdint.h>

/* xorshift64*: the next value of the stream in @state, which must not be 0. */
static inline uint64_t prng_next(uint64_t *state)
{
	uint64_t x = *state;

	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	*state = x;
	return x * 0x2545f4914f6cdd1dull;
}

/* A uniform value in [0, @range) without a division (Lemire). */
static inline uint64_t prng_below(uint64_t *state, uint64_t range)
{
	return (uint64_t)(((unsigned __int128)prng_next(state) * range) >> 64);
}

/* splitmix64's finalizer: a bijection that spreads every input bit. */
static inline uint64_t prng_fmix64(uint64_t x)
{
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
	x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
	return x ^ (x >> 31);
}

/* splitmix64 as a hash: the golden-ratio step, then the finalizer. */
static inline uint64_t prng_mix64(uint64_t x)
{
	return prng_fmix64(x + 0x9e3779b97f4a7c15ull);
}

/* splitmix64 as a generator: steps @x and returns the next value, good as a
 * xorshift seed once or-ed with 1. */
static inline uint64_t prng_splitmix(uint64_t *x)
{
	*x += 0x9e3779b97f4a7c15ull;
	return prng_fmix64(*x);
}

#endif
