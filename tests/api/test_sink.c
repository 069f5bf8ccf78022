/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Description: kvt_get_sink(), the staged DAX restore for destinations the
 * restore workers cannot write: chunks go device -> staging-slab region ->
 * the caller's sink, double-buffered over waves.  Checks every byte, waves
 * beyond one slab half, a failing sink, concurrent batches, batches in a
 * row reusing one slab set, and the error without a DAX tier.  The sink
 * here is host memcpy; a GPU sink differs only in what it calls.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kvtier.h"
#include "tests/common/fixture.h"
#include "tests/common/harness.h"

#define CHUNK 65536 /* chunk_size 16 x 1 layer x 2 x 1 head x 1024 dim x 2 bytes */
#define NKEYS 48

/* Primary mode on a /dev/shm device; @slab_bytes 0 for the default. */
static struct kvt *open_dax(const char *slab_bytes)
{
	static int seq;
	struct kvt_config *cfg;
	struct kvt *kvt;
	char path[512];

	snprintf(path, sizeof(path), "%s/sink-%d.img", harness_tmpdir(1), seq++);
	CHECK_EQ(kvt_config_new(&cfg), 0);
	cfg_small_chunk(cfg, "1024");
	cfg_set(cfg, "local_cpu", "false");
	cfg_set(cfg, "dax.mode", "primary");
	cfg_set(cfg, "dax.device_path", path);
	cfg_set(cfg, "dax.allow_file_backing", "true");
	cfg_set(cfg, "dax.max_dax_size", "0.01");
	cfg_set(cfg, "dax.restore_workers", "2");
	if (slab_bytes)
		cfg_set(cfg, "dax.retrieve_staging_slab_bytes", slab_bytes);
	CHECK_EQ(kvt_open(cfg, &kvt, NULL, 0), 0);
	kvt_config_free(cfg);
	CHECK_EQ(kvt_chunk_bytes(kvt), CHUNK);
	return kvt;
}

static size_t len_of(uint64_t id)
{
	return id % 5 == 3 ? CHUNK / 3 : CHUNK; /* some partial chunks */
}

static void fill(uint8_t *b, size_t len, uint64_t id)
{
	for (size_t i = 0; i < len; i++)
		b[i] = (uint8_t)(id * 13 + i * 7 + (i >> 9));
}

static int same(const uint8_t *b, size_t len, uint64_t id)
{
	for (size_t i = 0; i < len; i++)
		if (b[i] != (uint8_t)(id * 13 + i * 7 + (i >> 9)))
			return 0;
	return 1;
}

static void put_keys(struct kvt *kvt, uint64_t first, size_t n)
{
	static uint8_t buf[CHUNK];

	for (uint64_t id = first; id < first + n; id++) {
		struct kvt_key k = key_of(id);
		const void *b = buf;
		size_t len = len_of(id);
		int res;

		fill(buf, len, id);
		CHECK_EQ(kvt_put(kvt, &k, &b, &len, 1, &res, NULL, NULL), 1);
	}
}

struct host_sink {
	uint8_t (*dst)[CHUNK];
	_Atomic int calls;
	int fail_at;    /* the call that fails with -EIO, or -1 */
};

static int host_sink(void *arg, size_t index, const void *src, size_t len)
{
	struct host_sink *s = arg;
	int call = atomic_fetch_add(&s->calls, 1);

	if (call == s->fail_at)
		return -EIO;
	memcpy(s->dst[index], src, len);
	return 0;
}

static void get_and_check(struct kvt *kvt, const uint64_t *ids, size_t n)
{
	struct kvt_key keys[NKEYS] = { { 0 } };
	size_t out[NKEYS];
	struct host_sink s = { .dst = calloc(n, CHUNK), .fail_at = -1 };

	CHECK(n <= NKEYS);
	for (size_t i = 0; i < n; i++)
		keys[i] = key_of(ids[i]);
	CHECK_EQ(kvt_get_sink(kvt, keys, n, host_sink, &s, out), n);
	for (size_t i = 0; i < n; i++) {
		CHECK_EQ(out[i], len_of(ids[i]));
		CHECK(same(s.dst[i], out[i], ids[i]));
	}
	free(s.dst);
}

TEST(sink_gets_every_byte_in_batch_order)
{
	struct kvt *kvt = open_dax(NULL);
	uint64_t ids[NKEYS];
	struct kvt_stats st;

	put_keys(kvt, 0, NKEYS);
	for (size_t i = 0; i < NKEYS; i++)
		ids[i] = (i * 7) % NKEYS; /* not device order */
	get_and_check(kvt, ids, NKEYS);
	kvt_stats(kvt, &st, sizeof(st));
	CHECK(st.restore_waves >= 1);
	CHECK(st.restore_spans_merged > 0);
	kvt_close(kvt);
}

TEST(small_slab_runs_many_double_buffered_waves)
{
	/* 2 x 2 regions of one chunk each: a wave holds at most 2 chunks */
	struct kvt *kvt = open_dax("262144");
	uint64_t ids[NKEYS];
	struct kvt_stats st;

	put_keys(kvt, 0, NKEYS);
	for (size_t i = 0; i < NKEYS; i++)
		ids[i] = i;
	get_and_check(kvt, ids, NKEYS);
	kvt_stats(kvt, &st, sizeof(st));
	CHECK(st.restore_waves >= NKEYS / 2);
	kvt_close(kvt);
}

TEST(holes_stay_zero)
{
	struct kvt *kvt = open_dax(NULL);
	struct kvt_key keys[3] = { key_of(1), key_of(999), key_of(3) };
	size_t out[3];
	struct host_sink s = { .dst = calloc(3, CHUNK), .fail_at = -1 };

	put_keys(kvt, 0, 5);
	CHECK_EQ(kvt_get_sink(kvt, keys, 3, host_sink, &s, out), 2);
	CHECK_EQ(out[1], 0);
	CHECK(same(s.dst[0], out[0], 1) && same(s.dst[2], out[2], 3));
	free(s.dst);
	kvt_close(kvt);
}

TEST(failing_sink_stops_batch_and_keeps_entries)
{
	struct kvt *kvt = open_dax("262144");
	struct kvt_key keys[NKEYS];
	size_t out[NKEYS];
	struct host_sink s = { .dst = calloc(NKEYS, CHUNK), .fail_at = 5 };
	struct kvt_stats st;
	uint64_t ids[NKEYS];

	put_keys(kvt, 0, NKEYS);
	for (size_t i = 0; i < NKEYS; i++) {
		keys[i] = key_of(i);
		ids[i] = i;
	}
	CHECK_EQ(kvt_get_sink(kvt, keys, NKEYS, host_sink, &s, out), -EIO);
	kvt_stats(kvt, &st, sizeof(st));
	CHECK_EQ(st.restore_errors, 1);
	CHECK_EQ(st.borrows_active, 0);
	free(s.dst);
	/* nothing was lost: every chunk is still there, byte for byte */
	get_and_check(kvt, ids, NKEYS);
	CHECK_EQ(kvt_remove(kvt, keys, NKEYS, 0, NULL), NKEYS);
	kvt_close(kvt);
}

struct worker {
	struct kvt *kvt;
	unsigned int seed;
};

static void *batch_loop(void *arg)
{
	struct worker *w = arg;

	for (int round = 0; round < 40; round++) {
		uint64_t ids[16];

		for (size_t i = 0; i < 16; i++)
			ids[i] = (uint64_t)rand_r(&w->seed) % NKEYS;
		get_and_check(w->kvt, ids, 16);
	}
	return NULL;
}

TEST(concurrent_batches_never_share_slab_regions)
{
	/* room for two sets: two batches at once, the third waits for a set */
	struct kvt *kvt = open_dax("1048576");
	struct worker w[3] = { { kvt, 1 }, { kvt, 2 }, { kvt, 3 } };
	pthread_t t[3];

	put_keys(kvt, 0, NKEYS);
	for (int i = 0; i < 3; i++)
		CHECK_EQ(pthread_create(&t[i], NULL, batch_loop, &w[i]), 0);
	for (int i = 0; i < 3; i++)
		pthread_join(t[i], NULL);
	kvt_close(kvt);
}

/* The lowest staging address a batch drained from. */
static int lowest_src_sink(void *arg, size_t index, const void *src, size_t len)
{
	const void **lowest = arg;

	if (!*lowest || src < *lowest)
		*lowest = src;
	return 0;
}

TEST(batches_one_after_another_reuse_the_set_they_warmed)
{
	/* the default slab holds several sets: a ring alone would hand each
	 * batch the next one */
	struct kvt *kvt = open_dax(NULL);
	struct kvt_key keys[NKEYS];
	size_t out[NKEYS];
	const void *first = NULL;

	put_keys(kvt, 0, NKEYS);
	for (size_t i = 0; i < NKEYS; i++)
		keys[i] = key_of(i);
	for (int round = 0; round < 6; round++) {
		const void *lowest = NULL;

		CHECK_EQ(kvt_get_sink(kvt, keys, NKEYS, lowest_src_sink, &lowest, out), NKEYS);
		CHECK(lowest != NULL);
		if (!first)
			first = lowest;
		CHECK_ROW(round, lowest == first);
	}
	kvt_close(kvt);
}

TEST(too_small_slab_refused)
{
	struct kvt_config *cfg;
	struct kvt *kvt = NULL;
	char path[512];

	snprintf(path, sizeof(path), "%s/small-slab.img", harness_tmpdir(1));
	CHECK_EQ(kvt_config_new(&cfg), 0);
	cfg_small_chunk(cfg, "1024");
	cfg_set(cfg, "local_cpu", "false");
	cfg_set(cfg, "dax.mode", "primary");
	cfg_set(cfg, "dax.device_path", path);
	cfg_set(cfg, "dax.allow_file_backing", "true");
	cfg_set(cfg, "dax.max_dax_size", "0.01");
	cfg_set(cfg, "dax.retrieve_staging_slab_bytes", "65536");
	CHECK_EQ(kvt_open(cfg, &kvt, NULL, 0), -EINVAL);
	CHECK(kvt == NULL);
	kvt_config_free(cfg);
}

TEST(no_dax_tier_is_enodev)
{
	struct kvt_config *cfg;
	struct kvt *kvt;
	struct kvt_key k = key_of(1);
	size_t out;
	struct host_sink s = { .fail_at = -1 };

	CHECK_EQ(kvt_config_new(&cfg), 0);
	cfg_set(cfg, "max_local_cpu_size", "0.01");
	CHECK_EQ(kvt_open(cfg, &kvt, NULL, 0), 0);
	kvt_config_free(cfg);
	CHECK_EQ(kvt_get_sink(kvt, &k, 1, host_sink, &s, &out), -ENODEV);
	kvt_close(kvt);
}
