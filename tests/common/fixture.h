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

static inline struct kvt_stats stats_of(struct kvt *kvt)
{
	struct kvt_stats st;

	memset(&st, 0, sizeof(st));
	CHECK_EQ(kvt_stats(kvt, &st), 0);
	return st;
}

/* Key of test chunk @id; key.hi is @id, so a callback can tell which it got. */
static inline struct kvt_key key_of(uint64_t id)
{
	struct kvt_key k = { id * 0x9E3779B97F4A7C15ull + 1, id };

	return k;
}

#endif /* KVT_TESTS_FIXTURE_H */
