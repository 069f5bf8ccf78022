/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Description: every XXH3 implementation of core/hash.h (baseline, AVX2 and
 * AVX-512 when the CPU has them, and the one hash64() picks) gives libxxhash's
 * XXH3_64bits() for lengths across XXH3's size classes (0-16, 17-128,
 * 129-240, then stripes, blocks and their tails) and every start alignment
 * of a vector load, one-shot and fed in pieces of awkward sizes: sums on
 * disk and on DAX devices were made by libxxhash and must still verify.
 */
#include <stdint.h>
#include <stdlib.h>

#include <xxhash.h>

#include "core/hash.h"
#include "tests/common/harness.h"

#define MAX_LEN (300u * 1024 + 77)
#define ALIGNS 64

static uint8_t *make_bytes(void)
{
	uint8_t *b = malloc(MAX_LEN + ALIGNS);
	uint64_t x = 0x9e3779b97f4a7c15ull;

	CHECK(b);
	for (size_t i = 0; i < MAX_LEN + ALIGNS; i++) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		b[i] = (uint8_t)x;
	}
	return b;
}

static const size_t lens[] = { 0, 1, 3, 4, 8, 9, 16, 17, 64, 127, 128, 129, 200, 239, 240, 241,
			       255, 256, 257, 511, 1023, 1024, 1025, 4095, 4096, 4097, 65536,
			       131071, 131072, 131073, 262144 + 4096 + 1, MAX_LEN };

/* @impl's one-shot and pieced sums against libxxhash, for every length and
 * alignment above; pieces cut at sizes that straddle XXH3's 256-byte
 * buffer and 1024-byte block. */
static void check_impl(const struct hash64_impl *impl)
{
	static const size_t cuts[] = { 1, 7, 255, 256, 257, 1000, 1024, 4099, 131072 };
	uint8_t *b = make_bytes();
	struct hash64_state st;

	for (size_t l = 0; l < sizeof(lens) / sizeof(lens[0]); l++) {
		for (size_t a = 0; a < ALIGNS; a += (lens[l] > 4096 ? 13 : 1)) {
			const uint8_t *p = b + a;
			uint64_t want = XXH3_64bits(p, lens[l]);

			CHECK_ROW(l * 100 + a, impl->oneshot(p, lens[l]) == want);
			for (size_t c = 0; c < sizeof(cuts) / sizeof(cuts[0]); c++) {
				size_t off = 0;

				impl->reset(&st);
				while (off < lens[l]) {
					size_t n = lens[l] - off < cuts[c] ? lens[l] - off : cuts[c];

					impl->update(&st, p + off, n);
					off += n;
				}
				CHECK_ROW(l * 100 + a, impl->digest(&st) == want);
			}
		}
	}
	free(b);
}

TEST(baseline_equals_libxxhash)
{
	check_impl(&hash64_sse2);
}

TEST(avx2_equals_libxxhash)
{
	if (!hash64_avx2_usable())
		SKIP("this CPU has no AVX2");
	check_impl(&hash64_avx2);
}

TEST(avx512_equals_libxxhash)
{
	if (!hash64_avx512_usable())
		SKIP("this CPU has no AVX-512 F");
	check_impl(&hash64_avx512);
}

TEST(chosen_equals_libxxhash)
{
	uint8_t *b = make_bytes();
	struct hash64_state st;

	for (size_t l = 0; l < sizeof(lens) / sizeof(lens[0]); l++) {
		uint64_t want = XXH3_64bits(b + 3, lens[l]);

		CHECK_ROW(l, hash64(b + 3, lens[l]) == want);
		hash64_reset(&st);
		hash64_update(&st, b + 3, lens[l] / 3);
		hash64_update(&st, b + 3 + lens[l] / 3, lens[l] - lens[l] / 3);
		CHECK_ROW(l, hash64_digest(&st) == want);
	}
	free(b);
}
