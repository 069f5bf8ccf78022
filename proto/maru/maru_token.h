/* SPDX-License-Identifier: Apache-2.0 */
/*
 * proto/maru/maru_token.h - region auth tokens: XXH3-64 keyed with a 192-byte
 * secret from getrandom(), over the handle fields and a per-region nonce.
 * Unguessable without the secret; compared in constant time.
 * Threads: any (the secret is read-only after maru_token_init()).
 */
#ifndef KVT_PROTO_MARU_MARU_TOKEN_H
#define KVT_PROTO_MARU_MARU_TOKEN_H

#include <stdbool.h>
#include <stdint.h>

#define MARU_TOKEN_SECRET 192

struct maru_token_key {
	uint8_t secret[MARU_TOKEN_SECRET];
};

/* Fills @k from getrandom().  Return: 0 or -errno. */
int maru_token_init(struct maru_token_key *k);
/* A fresh random nonce (getrandom; never fails once init succeeded). */
uint64_t maru_token_nonce(void);
uint64_t maru_token(const struct maru_token_key *k, uint64_t region_id, uint64_t offset,
		    uint64_t length, uint64_t nonce);
/* Constant-time equality of two tokens. */
bool maru_token_eq(uint64_t a, uint64_t b);

#endif /* KVT_PROTO_MARU_MARU_TOKEN_H */
