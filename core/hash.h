/* SPDX-License-Identifier: Apache-2.0 */
/*
 * core/hash.h - XXH3-64 (seed 0) of big payloads, at the speed of the CPU.
 *
 * Debian's libxxhash is built for baseline x86-64 (SSE2): about 16 GB/s
 * here, slower than the copies that move a payload, so verifying a loaded
 * chunk cost more than loading it.  The same XXH3, from xxhash's own header
 * compiled with -mavx2, runs at 35-60 GB/s on a 256 KiB piece in L2, and
 * with -mavx512f at 50-70.  All three are built (core/hash_sse2.c,
 * core/hash_avx2.c, core/hash_avx512.c, each of the latter alone with its
 * flag: configure.py FILE_CFLAGS) and hash64() picks the widest the CPU
 * (and the OS, for the vector registers' state) has, as xxhash's own
 * x86 dispatcher does, so the library still runs on any x86-64.  Every way
 * gives the same value as libxxhash's XXH3_64bits(): sums already on disk
 * or on a device stay valid, and a streaming hash equals the one-shot one
 * whatever the pieces it was fed in.
 *
 * Threads: any; no shared state (a struct hash64_state belongs to its
 * caller).
 */
#ifndef KVT_CORE_HASH_H
#define KVT_CORE_HASH_H

#include <stdalign.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* XXH3's streaming state, opaque here so this header needs no xxhash
 * (the implementations check that it fits) */
struct hash64_state {
	alignas(64) unsigned char opaque[640];
};

/* One implementation of the functions below. */
struct hash64_impl {
	const char *name;
	uint64_t (*oneshot)(const void *p, size_t len);
	void (*reset)(struct hash64_state *st);
	void (*update)(struct hash64_state *st, const void *p, size_t len);
	uint64_t (*digest)(const struct hash64_state *st);
};

/* Baseline x86-64 (core/hash_sse2.c), AVX2 (core/hash_avx2.c) only when
 * hash64_avx2_usable(), AVX-512 (core/hash_avx512.c) only when
 * hash64_avx512_usable(). */
extern const struct hash64_impl hash64_sse2;
extern const struct hash64_impl hash64_avx2;
extern const struct hash64_impl hash64_avx512;

/* True when this CPU and OS run AVX2 code, AVX-512 F code. */
bool hash64_avx2_usable(void);
bool hash64_avx512_usable(void);

/* XXH3-64 of @len bytes at @p. */
uint64_t hash64(const void *p, size_t len);

/*
 * A hash fed in pieces: hash64_reset(), then hash64_update() for each
 * piece in order, then hash64_digest(), which equals hash64() of the
 * pieces' concatenation.  Nothing is allocated; @st may be reused after a
 * reset.
 */
void hash64_reset(struct hash64_state *st);
void hash64_update(struct hash64_state *st, const void *p, size_t len);
uint64_t hash64_digest(const struct hash64_state *st);

#endif
