/* SPDX-License-Identifier: Apache-2.0 */
/*
 * core/key.c - chunk keys: XXH3-128 chained over token ids, seeded by the
 * namespace.  Threads: any; pure functions.
 */
#include <string.h>
#define XXH_STATIC_LINKING_ONLY
#include <xxhash.h>

#include "kvtier.h"

void kvt_key_chain(const struct kvt_key *prev, const uint32_t *tokens,
		   size_t ntokens, struct kvt_key *out)
{
	XXH3_state_t st;
	XXH128_hash_t h;
	uint64_t p[2] = { prev->lo, prev->hi };

	XXH3_128bits_reset(&st);
	XXH3_128bits_update(&st, p, sizeof(p));
	XXH3_128bits_update(&st, tokens, ntokens * sizeof(*tokens));
	h = XXH3_128bits_digest(&st);
	out->lo = h.low64;
	out->hi = h.high64;
}

static void hash_str(XXH3_state_t *st, const char *s)
{
	uint32_t len;

	s = s ? s : "";
	len = (uint32_t)strlen(s);
	/* length-prefixed, so ("ab","c") and ("a","bc") differ */
	XXH3_128bits_update(st, &len, sizeof(len));
	XXH3_128bits_update(st, s, len);
}

void kvt_namespace_seed(const char *model, uint32_t world_size,
			uint32_t worker_id, const char *kv_dtype,
			const char *layout, const char *tenant_salt,
			struct kvt_key *out)
{
	static const char tag[] = "kvtier-namespace-v1";
	XXH3_state_t st;
	XXH128_hash_t h;

	XXH3_128bits_reset(&st);
	XXH3_128bits_update(&st, tag, sizeof(tag));
	hash_str(&st, model);
	XXH3_128bits_update(&st, &world_size, sizeof(world_size));
	XXH3_128bits_update(&st, &worker_id, sizeof(worker_id));
	hash_str(&st, kv_dtype);
	hash_str(&st, layout);
	hash_str(&st, tenant_salt);
	h = XXH3_128bits_digest(&st);
	out->lo = h.low64;
	out->hi = h.high64;
}
