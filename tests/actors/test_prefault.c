/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Description: the L1 prefault actor (actors/prefault.c): with
 * l1.prefault false it faults in the first l1.prefault_ahead bytes of the
 * arena and no more, follows the puts' frontier, never changes a byte a put
 * wrote, faults nothing and runs no thread with l1.prefault_ahead 0, and
 * close stops it.  Residency is read back with mincore().
 */
#define _GNU_SOURCE
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

#include "core/instance.h"
#include "kvtier.h"
#include "tests/common/fixture.h"
#include "tests/common/harness.h"

#define CHUNK (256u << 10) /* chunk_size 256 x 1 layer x 2 x 1 head x 256 dim x 2 B */
#define MIB (1u << 20)
#define L1_SLOTS 256u      /* 64 MiB */
#define AHEAD (8u * MIB)

static struct kvt *open_l1(const char *ahead)
{
	struct kvt_config *cfg;
	struct kvt *kvt;
	char gb[64];

	CHECK_EQ(kvt_config_new(&cfg), 0);
	snprintf(gb, sizeof(gb), "%.12f", (double)L1_SLOTS * CHUNK / 1073741824.0 + 1e-9);
	cfg_set(cfg, "chunk_size", "256");
	cfg_set(cfg, "kv_layers", "1");
	cfg_set(cfg, "kv_heads", "1");
	cfg_set(cfg, "head_dim", "256");
	cfg_set(cfg, "max_local_cpu_size", gb);
	cfg_set(cfg, "l1.prefault", "false");
	cfg_set(cfg, "l1.prefault_ahead", ahead);
	CHECK_EQ(kvt_open(cfg, &kvt, NULL, 0), 0);
	kvt_config_free(cfg);
	CHECK_EQ(kvt_chunk_bytes(kvt), CHUNK);
	CHECK_EQ(kvt->l1.slots.nslots, L1_SLOTS);
	return kvt;
}

/* Resident pages of L1 bytes [from, to). */
static size_t resident(struct kvt *kvt, size_t from, size_t to)
{
	size_t page = (size_t)sysconf(_SC_PAGESIZE), n = (to - from) / page, count = 0;
	unsigned char *vec = malloc(n);

	CHECK(vec != NULL);
	CHECK_EQ(mincore((char *)kvt->l1.slots.base + from, to - from, vec), 0);
	for (size_t i = 0; i < n; i++)
		count += vec[i] & 1;
	free(vec);
	return count * page;
}

static uint64_t faulted(struct kvt *kvt)
{
	return atomic_load_explicit(&kvt->l1ahead.faulted, memory_order_relaxed);
}

/* Wait (10 s at most) until the actor has faulted in @bytes. */
static void wait_faulted(struct kvt *kvt, uint64_t bytes)
{
	for (int i = 0; i < 1000 && faulted(kvt) < bytes; i++)
		usleep(10000);
	CHECK_EQ(faulted(kvt), bytes);
}

static void put_chunk(struct kvt *kvt, uint64_t id, uint8_t *buf)
{
	struct kvt_key k = key_of(id);
	const void *b = buf;
	size_t len = CHUNK;
	int res = 99;

	for (size_t i = 0; i < CHUNK; i++)
		buf[i] = (uint8_t)(id * 13 + i * 7 + 1);
	CHECK_EQ(kvt_put(kvt, &k, &b, &len, 1, &res, NULL, NULL), 1);
	CHECK_EQ(res, 0);
}

static void check_chunk(struct kvt *kvt, uint64_t id, uint8_t *buf)
{
	struct kvt_key k = key_of(id);
	void *b = buf;
	size_t cap = CHUNK, len = 0;

	CHECK_EQ(kvt_get(kvt, &k, 1, &b, &cap, &len), 1);
	CHECK_EQ(len, CHUNK);
	for (size_t i = 0; i < CHUNK; i++)
		if (buf[i] != (uint8_t)(id * 13 + i * 7 + 1))
			harness_fail(__FILE__, __LINE__, "chunk %llu byte %zu changed",
				     (unsigned long long)id, i);
}

TEST(faults_the_window_ahead_then_follows_the_puts)
{
	struct kvt *kvt = open_l1("8388608");
	uint8_t *buf = malloc(CHUNK);
	uint64_t done;

	CHECK(buf != NULL);
	wait_faulted(kvt, AHEAD);
	CHECK_EQ(resident(kvt, 0, AHEAD), AHEAD);
	/* ahead of the window, nothing: the open did not pay for the arena */
	CHECK_EQ(resident(kvt, AHEAD, (size_t)L1_SLOTS * CHUNK), 0);
	/* 48 puts (12 MiB) pass the middle of the window: it follows them, at
	 * least half a window and at most a window ahead of the last put */
	for (uint64_t id = 0; id < 48; id++)
		put_chunk(kvt, id, buf);
	for (int i = 0; i < 1000 && faulted(kvt) < 48ull * CHUNK + AHEAD / 2; i++)
		usleep(10000);
	done = faulted(kvt);
	CHECK(done >= 48ull * CHUNK + AHEAD / 2);
	CHECK_EQ(resident(kvt, 0, done), done);
	CHECK_EQ(resident(kvt, 48 * CHUNK + AHEAD, (size_t)L1_SLOTS * CHUNK), 0);
	for (uint64_t id = 0; id < 48; id++)
		check_chunk(kvt, id, buf);
	kvt_close(kvt);
	free(buf);
}

TEST(a_window_past_the_arena_stops_at_its_end)
{
	struct kvt *kvt = open_l1("1099511627776");
	uint8_t *buf = malloc(CHUNK);

	CHECK(buf != NULL);
	wait_faulted(kvt, (uint64_t)L1_SLOTS * CHUNK);
	CHECK_EQ(resident(kvt, 0, (size_t)L1_SLOTS * CHUNK), (size_t)L1_SLOTS * CHUNK);
	put_chunk(kvt, 7, buf);
	check_chunk(kvt, 7, buf);
	kvt_close(kvt);
	free(buf);
}

TEST(ahead_zero_faults_nothing_and_runs_no_thread)
{
	struct kvt *kvt;
	uint8_t *buf = malloc(CHUNK);
	int without, with;

	CHECK(buf != NULL);
	kvt = open_l1("0");
	without = harness_count_threads();
	put_chunk(kvt, 1, buf);
	usleep(50000);
	CHECK_EQ(faulted(kvt), 0);
	/* the put touched its own slot's page, 2 MiB where it is a huge one,
	 * nothing else */
	CHECK_EQ(resident(kvt, 2 * MIB, (size_t)L1_SLOTS * CHUNK), 0);
	kvt_close(kvt);
	kvt = open_l1("8388608");
	with = harness_count_threads();
	CHECK_EQ(with, without + 1);
	kvt_close(kvt);
	free(buf);
}

TEST(close_stops_the_actor_mid_window_and_leaks_nothing)
{
	struct kvt *kvt = open_l1("8388608");
	int threads, fds;

	kvt_close(kvt); /* liburcu's process-wide state comes with the first open */
	threads = harness_count_threads();
	fds = harness_count_fds();
	for (int i = 0; i < 5; i++) {
		kvt = open_l1("1099511627776");
		CHECK(harness_count_threads() > threads);
		kvt_close(kvt); /* often before the actor reached the arena's end */
	}
	for (int i = 0; i < 100 && harness_count_threads() != threads; i++)
		usleep(10000);
	CHECK_EQ(harness_count_threads(), threads);
	CHECK_EQ(harness_count_fds(), fds);
}
