/* SPDX-License-Identifier: Apache-2.0 */
/*
 * tests/common/fixture.h - what the API tests share: set a knob or fail the
 * case naming it, read the counters, and the key of a test chunk id.
 */
#ifndef KVT_TESTS_FIXTURE_H
#define KVT_TESTS_FIXTURE_H

#include <string.h>

#include "kvtier.h"
#include "tests/common/harness.h"

static inline void cfg_set(struct kvt_config *cfg, const char *key, const char *val)
{
	char err[256];

	if (kvt_config_set(cfg, key, val, err, sizeof(err)))
		harness_fail(__FILE__, __LINE__, "%s", err);
}

/* A chunk of 16 tokens x 1 layer x 2 (K, V) x 1 head x @head_dim bf16
 * elements: 64 * @head_dim bytes (4 KiB at 64), so tests move little data. */
static inline void cfg_small_chunk(struct kvt_config *cfg, const char *head_dim)
{
	cfg_set(cfg, "chunk_size", "16");
	cfg_set(cfg, "kv_layers", "1");
	cfg_set(cfg, "kv_heads", "1");
	cfg_set(cfg, "head_dim", head_dim);
}

static inline struct kvt_stats stats_of(struct kvt *kvt)
{
	struct kvt_stats st;

	memset(&st, 0, sizeof(st));
	CHECK_EQ(kvt_stats(kvt, &st, sizeof(st)), (ssize_t)sizeof(st));
	return st;
}

/* Key of test chunk @id; key.hi is @id, so a callback can tell which it got. */
static inline struct kvt_key key_of(uint64_t id)
{
	struct kvt_key k = { id * 0x9E3779B97F4A7C15ull + 1, id };

	return k;
}

#endif /* KVT_TESTS_FIXTURE_H */
