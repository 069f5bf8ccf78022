/* SPDX-License-Identifier: Apache-2.0 */
/*
 * core/ntcopy.c - streaming copies (see ntcopy.h).
 *
 * SSE2 is part of x86-64 itself, so no CPU dispatch: 16-byte streaming
 * stores write whole lines through the write-combining buffers, and wider
 * ones would not move memory any faster.  Elsewhere it is memcpy(), and so
 * it is under ASan and TSan, which do not see stores made by intrinsics:
 * the restore tests rely on them catching a copy into freed memory.
 */
#include "core/ntcopy.h"

#include <stdint.h>
#include <string.h>

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define NTCOPY_SANITIZED 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
#define NTCOPY_SANITIZED 1
#endif
#endif

/* tests/core/test_ntcopy.c builds the streaming path under ASan too, to
 * check its bytes (its own guards stand in for the sanitizer) */
#if defined(__SSE2__) && (!defined(NTCOPY_SANITIZED) || defined(NTCOPY_STREAM_ALWAYS))
#include <emmintrin.h>

void nt_copy(void *dst, const void *src, size_t len)
{
	uint8_t *d = dst;
	const uint8_t *s = src;
	size_t head;

	if (len < NTCOPY_MIN) {
		memcpy(dst, src, len);
		return;
	}
	/* streaming stores need an aligned destination; the source may be
	 * anywhere */
	head = (16 - ((uintptr_t)d & 15)) & 15;
	memcpy(d, s, head);
	d += head;
	s += head;
	len -= head;
	for (; len >= 64; len -= 64, d += 64, s += 64) {
		__m128i a = _mm_loadu_si128((const __m128i *)s);
		__m128i b = _mm_loadu_si128((const __m128i *)(s + 16));
		__m128i c = _mm_loadu_si128((const __m128i *)(s + 32));
		__m128i e = _mm_loadu_si128((const __m128i *)(s + 48));

		_mm_stream_si128((__m128i *)d, a);
		_mm_stream_si128((__m128i *)(d + 16), b);
		_mm_stream_si128((__m128i *)(d + 32), c);
		_mm_stream_si128((__m128i *)(d + 48), e);
	}
	memcpy(d, s, len);
	/* streaming stores are weakly ordered: the caller's release must not
	 * pass them */
	_mm_sfence();
}

#else

void nt_copy(void *dst, const void *src, size_t len)
{
	memcpy(dst, src, len);
}

#endif
