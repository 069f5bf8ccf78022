/* SPDX-License-Identifier: Apache-2.0 */
/*
 * proto/maru/maru_token.c - region auth tokens (see maru_token.h).  Upstream Maru
 * persists its secret; this daemon keeps no state across restarts, so a
 * fresh secret per run invalidates every old token by design.
 */
#include "proto/maru/maru_token.h"

#include <errno.h>
#include <string.h>
#include <sys/random.h>
#include <xxhash.h>

static int fill_random(void *buf, size_t len)
{
	uint8_t *p = buf;

	while (len) {
		ssize_t n = getrandom(p, len, 0);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

int maru_token_init(struct maru_token_key *k)
{
	return fill_random(k->secret, sizeof(k->secret));
}

uint64_t maru_token_nonce(void)
{
	uint64_t v = 0;

	(void)fill_random(&v, sizeof(v));
	return v;
}

uint64_t maru_token(const struct maru_token_key *k, uint64_t region_id, uint64_t offset,
		    uint64_t length, uint64_t nonce)
{
	uint64_t in[4] = { region_id, offset, length, nonce };
	uint64_t t = XXH3_64bits_withSecret(in, sizeof(in), k->secret, sizeof(k->secret));

	return t ? t : 1; /* 0 reads as "no token" in clients */
}

bool maru_token_eq(uint64_t a, uint64_t b)
{
	volatile uint64_t d = a ^ b;

	return d == 0;
}
