/* SPDX-License-Identifier: Apache-2.0 */
/*
 * core/key.c - chunk keys: XXH3-128 chained over token ids, seeded by the
 * namespace; keys of an engine's opaque ids.  Threads: any; pure functions.
 */
#include <errno.h>
#include <string.h>
#define XXH_STATIC_LINKING_ONLY
#include <xxhash.h>

#include "core/key.h"
#include "kvtier.h"

int kvt_key_chain(const struct kvt_key *prev, const uint32_t *tokens,
		  size_t ntokens, struct kvt_key *out)
{
	XXH3_state_t st;
	XXH128_hash_t h;
	uint64_t p[2];

	if (!prev || !out || (!tokens && ntokens))
		return -EINVAL;
	p[0] = prev->lo;
	p[1] = prev->hi;
	XXH3_128bits_reset(&st);
	XXH3_128bits_update(&st, p, sizeof(p));
	XXH3_128bits_update(&st, tokens, ntokens * sizeof(*tokens));
	h = XXH3_128bits_digest(&st);
	out->lo = h.low64;
	out->hi = h.high64;
	return 0;
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

int kvt_namespace_seed(const struct kvt_namespace *ns, struct kvt_key *out)
{
	static const char tag[] = "kvtier-namespace-v1";
	XXH3_state_t st;
	XXH128_hash_t h;

	if (!ns || !out)
		return -EINVAL;
	XXH3_128bits_reset(&st);
	XXH3_128bits_update(&st, tag, sizeof(tag));
	hash_str(&st, ns->model);
	XXH3_128bits_update(&st, &ns->world_size, sizeof(ns->world_size));
	XXH3_128bits_update(&st, &ns->worker_id, sizeof(ns->worker_id));
	hash_str(&st, ns->kv_dtype);
	hash_str(&st, ns->layout);
	hash_str(&st, ns->tenant_salt);
	h = XXH3_128bits_digest(&st);
	out->lo = h.low64;
	out->hi = h.high64;
	return 0;
}

void key_of_id(const struct kvt_key *seed, const void *id, size_t len, struct kvt_key *out)
{
	static const char tag[] = "kvtier-opaque-id-v1";
	uint64_t p[2] = { seed->lo, seed->hi };
	XXH3_state_t st;
	XXH128_hash_t h;

	XXH3_128bits_reset(&st);
	XXH3_128bits_update(&st, tag, sizeof(tag));
	XXH3_128bits_update(&st, p, sizeof(p));
	h = XXH3_128bits_digest(&st);
	p[0] = h.low64;
	p[1] = h.high64;
	XXH3_128bits_reset(&st);
	XXH3_128bits_update(&st, p, sizeof(p));
	XXH3_128bits_update(&st, id, len);
	h = XXH3_128bits_digest(&st);
	out->lo = h.low64;
	out->hi = h.high64;
}
