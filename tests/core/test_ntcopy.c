/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Description: the streaming copy (core/ntcopy.c) copies every byte and
 * nothing past either end, for lengths around its threshold and its 64-byte
 * loop, destinations at every alignment of a 16-byte store and unaligned
 * sources.  The streaming path is built in even under the sanitizers
 * (which cannot see its stores), so guard bytes check its bounds.
 */
#define NTCOPY_STREAM_ALWAYS 1
#include "core/ntcopy.c"

#include <stdlib.h>

#include "tests/common/harness.h"

#define GUARD 64
#define GUARD_BYTE 0xee

static uint8_t pattern(size_t i)
{
	return (uint8_t)(i * 131 + (i >> 9) + 7);
}

/* Copies @len bytes from @src_off into @dst_off of guarded buffers.
 * Return: 0, or 1 + the first wrong offset (guards counted from -GUARD). */
static size_t copy_checked(size_t len, size_t dst_off, size_t src_off)
{
	size_t total = len + dst_off + 2 * GUARD;
	uint8_t *src = malloc(len + src_off + 1);
	uint8_t *dst = aligned_alloc(64, (total + 63) & ~(size_t)63);
	uint8_t *d = dst + GUARD + dst_off;
	size_t bad = 0;

	CHECK(src && dst);
	for (size_t i = 0; i < len; i++)
		src[src_off + i] = pattern(i);
	memset(dst, GUARD_BYTE, total);
	nt_copy(d, src + src_off, len);
	for (size_t i = 0; i < len && !bad; i++)
		if (d[i] != pattern(i))
			bad = 1 + GUARD + i;
	for (size_t i = 0; i < GUARD + dst_off && !bad; i++)
		if (dst[i] != GUARD_BYTE)
			bad = 1 + i;
	for (size_t i = 0; i < GUARD && !bad; i++)
		if (d[len + i] != GUARD_BYTE)
			bad = 1 + GUARD + len + i;
	free(src);
	free(dst);
	return bad;
}

TEST(every_byte_and_nothing_past_the_ends)
{
	const size_t lens[] = { 0, 1, 15, 16, 63, 64, 65, NTCOPY_MIN - 1, NTCOPY_MIN,
				NTCOPY_MIN + 1, NTCOPY_MIN + 15, NTCOPY_MIN + 63, NTCOPY_MIN + 64,
				(1u << 20) + 13 };

	for (size_t l = 0; l < sizeof(lens) / sizeof(lens[0]); l++)
		for (size_t dst_off = 0; dst_off < 17; dst_off++)
			for (size_t src_off = 0; src_off < 4; src_off += 3)
				CHECK_ROW(lens[l] * 100 + dst_off * 10 + src_off,
					  copy_checked(lens[l], dst_off, src_off) == 0);
}

TEST(large_copies_match_memcpy)
{
	size_t len = (8u << 20) + 4097;
	uint8_t *src = malloc(len), *a = malloc(len), *b = malloc(len);

	CHECK(src && a && b);
	for (size_t i = 0; i < len; i++)
		src[i] = pattern(i * 3);
	memcpy(a, src, len);
	nt_copy(b, src, len);
	CHECK(memcmp(a, b, len) == 0);
	free(src);
	free(a);
	free(b);
}
